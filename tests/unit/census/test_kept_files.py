"""Kept census files at rest (issue 17, finding 1): encrypted under the SSN key with its key id,
readable only through Upload.content, deleted once decided for the retention period; and the
key rotation that re-encrypts every SSN and file under a new key."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from billing_core import security
from billing_core.census.kept import decided_at, purge_cutoff, purge_kept_files
from billing_core.config import DEV_SSN_KEY, Settings
from billing_core.errors import ConfigurationError, KeptFilePurged
from billing_core.keys import rotate_batch
from billing_core.models import AuditLog, Dependent, Member, Upload
from billing_core.models.enums import Role, UploadFormat, UploadKind, UploadStatus
from billing_core.security import SsnVault, configure_vault, key_id, vault
from tests.factories import (
    cover_dependent,
    enroll,
    make_dental_plan,
    make_group,
    make_member,
    make_user,
    receive_upload,
)

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
SSN = "287-65-4321"
FILE = (
    f"Employee ID,First Name,Last Name,Date of Birth,SSN\nE9001,Nora,Newhire,03/17/1984,{SSN}\n"
).encode()


@pytest.fixture
def restore_vault():
    """Tests here configure other keys; the process-wide vault is put back afterwards."""
    saved = security._vault, security._configured
    yield
    security._vault, security._configured = saved


# ------------------------------------------------------------------------------ the vault


def test_a_file_is_sealed_under_the_current_key_and_names_it():
    vault_a = SsnVault(KEY_A)
    kid, sealed = vault_a.seal_file(FILE)
    assert kid == key_id(KEY_A) == vault_a.key_id and len(kid) == 16
    assert len(sealed) == len(FILE) + 29
    assert b"287-65-4321" not in sealed and b"03/17/1984" not in sealed
    assert vault_a.open_file(bytes(sealed), kid) == FILE
    assert vault_a.seal_file(FILE)[1] != sealed  # a fresh nonce each time


def test_a_sealed_file_does_not_open_altered_or_under_another_key():
    vault_a = SsnVault(KEY_A)
    kid, sealed = vault_a.seal_file(FILE)
    sealed[40] ^= 1
    with pytest.raises(ConfigurationError, match="does not open"):
        vault_a.open_file(bytes(sealed), kid)
    kid, sealed = vault_a.seal_file(FILE)
    with pytest.raises(ConfigurationError, match=f"key {kid}, which is not configured"):
        SsnVault(KEY_B).open_file(bytes(sealed), kid)
    # With the former key among the old keys, it opens.
    assert SsnVault(KEY_B, (KEY_A,)).open_file(bytes(sealed), kid) == FILE


def test_an_ssn_token_carries_its_key_id_and_old_tokens_still_read():
    vault_a = SsnVault(KEY_A)
    token = vault_a.encrypt(SSN)
    assert token.startswith(vault_a.key_id + ":") and "287654321" not in token
    assert vault_a.decrypt(token) == "287654321"
    legacy = Fernet(KEY_A.encode()).encrypt(b"287654321").decode()  # before key ids
    rotated = SsnVault(KEY_B, (KEY_A,))
    assert rotated.decrypt(legacy) == rotated.decrypt(token) == "287654321"
    assert not rotated.is_current(token) and rotated.is_current(rotated.encrypt(SSN))
    with pytest.raises(ConfigurationError, match="not configured"):
        SsnVault(KEY_B).decrypt(token)
    with pytest.raises(ConfigurationError, match="could not be decrypted"):
        SsnVault(KEY_B).decrypt(legacy)


def test_between_a_change_of_key_and_the_rotation_files_still_match_by_ssn():
    stored = {SsnVault(KEY_A).digest(SSN)}
    rotated = SsnVault(KEY_B, (KEY_A,))
    assert rotated.digests_as_stored([SSN, "219-09-1111", None], stored) == [
        SsnVault(KEY_A).digest(SSN),
        rotated.digest("219-09-1111"),
        None,
    ]
    assert SsnVault(KEY_B).digests_as_stored([SSN], stored) == [SsnVault(KEY_B).digest(SSN)]


def test_keys_come_from_the_environment_and_bad_ones_refuse_to_start(restore_vault):
    settings = Settings.from_env(
        {"SSN_ENCRYPTION_KEY": KEY_B, "SSN_ENCRYPTION_OLD_KEYS": f" {KEY_A} , {DEV_SSN_KEY},"}
    )
    assert settings.ssn_encryption_old_keys == (KEY_A, DEV_SSN_KEY)
    assert settings.census_retention_days == 90
    configured = configure_vault(settings.ssn_encryption_key, settings.ssn_encryption_old_keys)
    assert configured.key_ids == (key_id(KEY_B), key_id(KEY_A), key_id(DEV_SSN_KEY))
    assert KEY_A not in repr(settings)
    with pytest.raises(ConfigurationError, match="SSN_ENCRYPTION_OLD_KEYS must be 32"):
        configure_vault(KEY_B, ["not-a-key"])
    with pytest.raises(ConfigurationError, match="SSN_ENCRYPTION_KEY must be 32"):
        configure_vault("short")
    # Production still refuses to start without its key.
    with pytest.raises(ConfigurationError, match="SSN_ENCRYPTION_KEY"):
        Settings.from_env(
            {"APP_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "sqlite://"}
        )


@pytest.mark.parametrize("days", ["0", "-3", "ninety", "1.5"])
def test_the_retention_is_whole_days_at_least_one(days):
    with pytest.raises(ConfigurationError, match="CENSUS_RETENTION_DAYS"):
        Settings.from_env({"CENSUS_RETENTION_DAYS": days})
    assert Settings.from_env({"CENSUS_RETENTION_DAYS": "30"}).census_retention_days == 30


# ------------------------------------------------------------------------- kept files


def _upload(session, group, user, data=FILE, status=UploadStatus.RECEIVED, **extra) -> Upload:
    upload = Upload(
        group_id=group.id,
        uploaded_by_id=user.id,
        original_filename="census.csv",
        file_format=UploadFormat.CSV,
        file_kind=UploadKind.CHANGE,
        content=data,
        size_bytes=len(data),
        sha256=f"{len(extra)}{status.value}{data[-9:].hex()}".ljust(64, "0")[:64],
        status=status,
        **extra,
    )
    session.add(upload)
    session.flush()
    return upload


def test_the_file_is_stored_encrypted_and_read_back_through_content(session):
    group = make_group(session)
    user = make_user(session, Role.EMPLOYER, groups=[group])
    upload = _upload(session, group, user)
    raw, kid = session.execute(
        text("SELECT content, content_key_id FROM upload WHERE id = :id"), {"id": upload.id}
    ).one()
    assert kid == vault().key_id
    assert b"287-65-4321" not in raw and b"287654321" not in raw and b"03/17/1984" not in raw
    session.expire_all()
    assert session.get(Upload, upload.id).content == FILE


def test_a_file_kept_before_encryption_still_reads(session):
    group = make_group(session)
    user = make_user(session, Role.EMPLOYER, groups=[group])
    upload = _upload(session, group, user)
    session.execute(
        text("UPDATE upload SET content = :data, content_key_id = NULL WHERE id = :id"),
        {"data": FILE, "id": upload.id},
    )
    session.expire_all()
    assert session.get(Upload, upload.id).content == FILE


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 15, tzinfo=UTC)


def test_what_is_decided_is_purged_after_the_retention_and_nothing_else(session):
    group = make_group(session)
    user = make_user(session, Role.EMPLOYER, groups=[group])
    decided = date(2027, 1, 10)
    when = _at(decided)
    approved = _upload(
        session, group, user, b"a", UploadStatus.APPROVED, reviewed_at=when, created_at=when
    )
    returned = _upload(session, group, user, b"b", UploadStatus.RETURNED, reviewed_at=when)
    refused = _upload(session, group, user, b"c", UploadStatus.REJECTED, created_at=when)
    put_away = _upload(session, group, user, b"d", UploadStatus.RECEIVED, discarded_at=when)
    waiting = _upload(session, group, user, b"e", UploadStatus.SUBMITTED, created_at=when)
    unsent = _upload(session, group, user, b"f", UploadStatus.RECEIVED, created_at=when)
    later = _upload(
        session, group, user, b"g", UploadStatus.APPROVED, reviewed_at=when + timedelta(days=1)
    )
    assert [decided_at(u) for u in (approved, refused, put_away, waiting, unsent)] == [
        when,
        when,
        when,
        None,
        None,
    ]
    assert purge_cutoff(date(2027, 4, 10), 90) == datetime(2027, 1, 11, tzinfo=UTC)

    early = purge_kept_files(session, as_of=date(2027, 4, 9), retention_days=90, actor_email="t")
    assert early.uploads == []  # 89 days after
    purge = purge_kept_files(session, as_of=date(2027, 4, 10), retention_days=90, actor_email="t")
    assert {u.id for u in purge.uploads} == {approved.id, returned.id, refused.id, put_away.id}
    session.expire_all()
    for upload in (approved, returned, refused, put_away):
        upload = session.get(Upload, upload.id)
        assert upload.content_purged and upload.content_sealed is None
        assert upload.content_key_id is None
        with pytest.raises(KeptFilePurged, match="no longer kept"):
            _ = upload.content
    for upload, data in ((waiting, b"e"), (unsent, b"f"), (later, b"g")):
        assert session.get(Upload, upload.id).content == data
    # The upload row stays; each purge is audited under the upload and its group.
    logged = session.scalars(select(AuditLog).where(AuditLog.action == "upload.file_purged")).all()
    assert sorted(a.target_id for a in logged) == sorted(u.id for u in purge.uploads)
    assert {a.group_id for a in logged} == {group.id}
    assert logged[0].detail["retention_days"] == 90 and logged[0].actor_email == "t"
    # A second run the same day changes nothing; the next day takes the later one.
    again = purge_kept_files(session, as_of=date(2027, 4, 10), retention_days=90, actor_email="t")
    assert again.uploads == []
    next_day = purge_kept_files(
        session, as_of=date(2027, 4, 11), retention_days=90, actor_email="t"
    )
    assert [u.id for u in next_day.uploads] == [later.id]


def test_a_purged_file_sent_again_is_a_new_upload(session):
    group = make_group(session)
    plan = make_dental_plan(session, group)
    enroll(session, make_member(session, group, ssn="219-09-5555"), plan, "EE")
    user = make_user(session, Role.BILLING_SPECIALIST)
    first = receive_upload(
        session, group, FILE, "census.csv", uploaded_by=user, as_of=date(2027, 1, 10)
    ).upload
    first.status, first.reviewed_at = UploadStatus.RETURNED, _at(date(2027, 1, 10))
    assert receive_upload(
        session, group, FILE, "census.csv", uploaded_by=user, as_of=date(2027, 1, 10)
    ).duplicate
    purge_kept_files(session, as_of=date(2027, 6, 1), retention_days=90, actor_email="t")
    again = receive_upload(
        session, group, FILE, "census.csv", uploaded_by=user, as_of=date(2027, 6, 1)
    )
    assert not again.duplicate and again.upload.id != first.id
    assert again.upload.content == FILE


# --------------------------------------------------------------------------- rotation


def _rotate_all(session) -> dict:
    total = {"members": 0, "dependents": 0, "uploads": 0, "batches": 0}
    while (batch := rotate_batch(session)).changed:
        total["members"] += batch.members
        total["dependents"] += batch.dependents
        total["uploads"] += batch.uploads
        total["batches"] += 1
    return total


def test_rotation_re_encrypts_everything_and_the_old_key_can_go(session, restore_vault):
    configure_vault(KEY_A)
    group = make_group(session)
    plan = make_dental_plan(session, group)
    user = make_user(session, Role.EMPLOYER, groups=[group])
    members = [make_member(session, group, ssn=f"219-09-{n:04d}") for n in range(1, 4)]
    coverage = enroll(session, members[0], plan, "ES")
    spouse = cover_dependent(session, coverage, "spouse", date(1985, 5, 5))
    spouse.set_ssn("219-08-0001")
    placeholder = make_member(session, group, ssn="123-45-6789")  # kept, never matched on
    legacy = make_member(session, group)
    legacy.ssn_encrypted = Fernet(KEY_A.encode()).encrypt(b"219095555").decode()  # no key id
    upload = _upload(session, group, user)
    session.flush()

    configure_vault(KEY_B, [KEY_A])
    first = _rotate_all(session)
    assert first == {"members": 5, "dependents": 1, "uploads": 1, "batches": 1}
    assert _rotate_all(session)["batches"] == 0  # a second run changes nothing

    configure_vault(KEY_B)  # the old key removed from the configuration
    session.expire_all()
    kid = key_id(KEY_B)
    for member, digits in zip(members, ("219090001", "219090002", "219090003"), strict=True):
        member = session.get(Member, member.id)
        assert member.ssn_encrypted.startswith(kid + ":")
        assert vault().decrypt(member.ssn_encrypted) == digits
        assert member.ssn_digest == vault().digest(digits)  # files match by SSN again
    assert vault().decrypt(session.get(Member, legacy.id).ssn_encrypted) == "219095555"
    assert session.get(Member, placeholder.id).ssn_digest is None
    spouse = session.get(Dependent, spouse.id)
    assert vault().decrypt(spouse.ssn_encrypted) == "219080001"
    assert spouse.ssn_digest == vault().digest("219080001")
    upload = session.get(Upload, upload.id)
    assert upload.content_key_id == kid and upload.content == FILE


# -------------------------------------------------------------------------- migration

PLAIN = FILE * 400  # spills into overflow pages, as any real file does


def test_the_migration_encrypts_the_files_kept_so_far_and_leaves_no_plaintext(tmp_path):
    """A database with plain files kept (the schema before): after the upgrade each is sealed
    under the app's key and the database file holds no SSN or birth date in plaintext (SQLite
    overwrote the freed pages); the downgrade opens them again."""
    import sqlite3
    from contextlib import closing

    from alembic import command

    from billing_core import migrate
    from billing_core.db import make_engine

    path = tmp_path / "before.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine, "d4e5f6a7b8c9")
    with closing(sqlite3.connect(path)) as plain, plain:
        plain.execute(
            "INSERT INTO employer_group (id, group_number, name, tax_id, "
            "original_effective_date, renewal_month, created_at) VALUES (1, 'G1', 'G', "
            "'123456789', '2024-01-01', 1, '2026-01-01')"
        )
        plain.execute(
            "INSERT INTO user_account (id, email, full_name, password_hash, role, is_active, "
            "failed_login_count, password_changed_at, created_at) VALUES (1, 'hr@example.com', "
            "'HR', '-', 'employer', 1, 0, '2026-01-01', '2026-01-01')"
        )
        for n in (1, 2):
            plain.execute(
                "INSERT INTO upload (id, group_id, uploaded_by_id, original_filename, "
                "file_format, file_kind, size_bytes, sha256, status, row_count, error_count, "
                "created_at, content) VALUES (?, 1, 1, 'census.csv', 'csv', 'change', ?, ?, "
                "'approved', 1, 0, '2026-01-01', ?)",
                (n, len(PLAIN), str(n) * 64, PLAIN),
            )
        plain.execute(
            "INSERT INTO member (id, group_id, member_key, first_name, last_name, birth_date, "
            "gender, status, created_at, ssn_encrypted) VALUES (1, 1, 'M1', 'Nora', 'Newhire', "
            "'1984-03-17', 'F', 'active', '2026-01-01', ?)",
            (vault().encrypt(SSN),),
        )
    assert b"287-65-4321" in _database_bytes(tmp_path)  # (the file and its WAL, if any)

    migrate.upgrade(engine, "e1f2a3b4c5d6")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT content, content_key_id FROM upload")).all()
    assert [kid for _, kid in rows] == [vault().key_id] * 2
    assert [vault().open_file(sealed, kid) for sealed, kid in rows] == [PLAIN, PLAIN]
    engine.dispose()  # the last connection closed: the WAL, if any, is checkpointed
    data = _database_bytes(tmp_path)
    assert b"287-65-4321" not in data and b"03/17/1984" not in data

    with engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "d4e5f6a7b8c9")
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT content FROM upload WHERE id = 1")) == PLAIN
        token = connection.scalar(text("SELECT ssn_encrypted FROM member"))
    assert ":" not in token and Fernet(DEV_SSN_KEY.encode()).decrypt(token.encode()) == b"287654321"
    engine.dispose()


def _database_bytes(folder) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.glob("before.sqlite*")))

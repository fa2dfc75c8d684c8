"""Rotating the encryption key: every SSN (members, dependents), every payee's bank account
number and every kept census file is re-encrypted under the current SSN_ENCRYPTION_KEY, and
every SSN's matching digest is taken again under it. Until it has run, the former keys must
stay in SSN_ENCRYPTION_OLD_KEYS; afterwards they can go. It works in batches the caller
commits one by one, so a large book neither holds one long transaction nor more than a few
files in memory, and a run that stops half-way is simply run again: what is already under the
current key is not touched."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, undefer

from billing_core.models import Dependent, Member, Upload
from billing_core.security import vault

SSN_BATCH = 1_000
FILE_BATCH_BYTES = 64 * 1024 * 1024  # a batch of files: at least one, else about this much


@dataclass
class Rotated:
    """How many ciphertexts a rotation (or one batch of it) re-encrypted, by kind."""

    key_id: str
    members: int = 0
    dependents: int = 0
    uploads: int = 0
    upload_bytes: int = 0
    bank_accounts: int = 0  # payee account numbers and ACH files (billing_core.commissions)

    @property
    def changed(self) -> int:
        return self.members + self.dependents + self.uploads + self.bank_accounts

    def add(self, other: Rotated) -> None:
        self.members += other.members
        self.dependents += other.dependents
        self.uploads += other.uploads
        self.upload_bytes += other.upload_bytes
        self.bank_accounts += other.bank_accounts

    def as_dict(self) -> dict:
        return {
            "key_id": self.key_id,
            "members": self.members,
            "dependents": self.dependents,
            "uploads": self.uploads,
            "upload_bytes": self.upload_bytes,
            "bank_accounts": self.bank_accounts,
        }


def rotate_batch(session: Session) -> Rotated:
    """Re-encrypt one batch under the current key: up to SSN_BATCH member SSNs, as many
    dependents', and kept files up to FILE_BATCH_BYTES (at least one). Returns what changed;
    nothing when everything is under the current key. Flushes; the caller commits each batch
    and calls again until `changed` is 0. A ciphertext under a key no longer configured raises
    ConfigurationError naming its key id."""
    current = vault()
    done = Rotated(current.key_id)
    done.members = _rotate_ssns(session, Member)
    done.dependents = _rotate_ssns(session, Dependent)
    done.uploads, done.upload_bytes = _rotate_files(session, current.key_id)
    done.bank_accounts = _rotate_bank_accounts(session)
    return done


def _rotate_bank_accounts(session: Session) -> int:
    """Payee account numbers (kept forever: history of bank details) and the ACH files that
    hold them encrypted again."""
    from billing_core.models.commissions import AchFile, PayeeAccount

    prefix = vault().key_id + ":"
    accounts = list(
        session.scalars(
            select(PayeeAccount)
            .where(~PayeeAccount.account_number_encrypted.startswith(prefix))
            .order_by(PayeeAccount.id)
            .limit(SSN_BATCH)
        )
    )
    for account in accounts:
        plain = vault().decrypt(account.account_number_encrypted)
        account.account_number_encrypted = vault().encrypt_text(plain)
    files = list(
        session.scalars(
            select(AchFile)
            .where(~AchFile.content.startswith(prefix))
            .order_by(AchFile.id)
            .limit(50)
        )
    )
    for file in files:  # ACH files hold whole account numbers too
        file.content = vault().encrypt_text(vault().decrypt(file.content))
    session.flush()
    return len(accounts) + len(files)


def _rotate_ssns(session: Session, model) -> int:
    """The SSN encrypted again (with its key id) and its digest taken again: the digest is keyed
    by the current key too (a digest under a leaked key could be reversed by trying every
    SSN)."""
    prefix = vault().key_id + ":"
    holders = list(
        session.scalars(
            select(model)
            .where(model.ssn_encrypted.is_not(None), ~model.ssn_encrypted.startswith(prefix))
            .order_by(model.id)
            .limit(SSN_BATCH)
        )
    )
    for holder in holders:
        holder.set_ssn(vault().decrypt(holder.ssn_encrypted))
    session.flush()
    return len(holders)


def _rotate_files(session: Session, key_id: str) -> tuple[int, int]:
    candidates = session.execute(
        select(Upload.id, Upload.size_bytes)
        .where(
            Upload.content_sealed.is_not(None),
            or_(Upload.content_key_id.is_(None), Upload.content_key_id != key_id),
        )
        .order_by(Upload.id)
        .limit(200)
    ).all()
    chosen, total = [], 0
    for upload_id, size in candidates:
        if chosen and total + size > FILE_BATCH_BYTES:
            break
        chosen.append(upload_id)
        total += size
    for upload_id in chosen:
        upload = session.scalar(
            select(Upload).where(Upload.id == upload_id).options(undefer(Upload.content_sealed))
        )
        upload.content = upload.content  # decrypted under its key, sealed under the current one
        session.flush()
        session.expire(upload, ["content_sealed"])  # the ciphertext is not kept in memory
    return len(chosen), total

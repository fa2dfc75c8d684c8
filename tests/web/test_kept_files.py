"""`flask keys rotate`: with a new SSN_ENCRYPTION_KEY and the former key among
SSN_ENCRYPTION_OLD_KEYS, every SSN and kept census file is re-encrypted under the new key;
afterwards the former key can go and everything still reads (pages included). A second run
changes nothing."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from billing_core import security
from billing_core.config import DEV_SSN_KEY, Settings
from billing_core.models import AuditLog, Member, Upload
from billing_core.security import key_id, vault
from portal import create_app
from tests.web.conftest import csrf_token, log_in

NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def restore_vault():
    """Apps made here configure other keys; the process-wide vault is put back afterwards."""
    saved = security._vault, security._configured
    yield
    security._vault, security._configured = saved


def _app(session_factory, key: str, old_keys: tuple[str, ...] = ()):
    settings = Settings().with_overrides(ssn_encryption_key=key, ssn_encryption_old_keys=old_keys)
    return create_app(
        {
            "TESTING": True,
            "SETTINGS": settings,
            "SESSION_FACTORY": session_factory,
            "SERVER_NAME": "portal.test",
        }
    )


def test_rotation_re_encrypts_everything_and_the_former_key_can_go(
    client, cast, login_as, session, session_factory
):
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    login_as(cast.users["employer_a"])
    text = (
        "Employee ID,First Name,Last Name,Date of Birth,SSN\n"
        f"{cast.member_west.employee_id},{cast.member_west.first_name},"
        f"{cast.member_west.last_name},{cast.member_west.birth_date:%m/%d/%Y},219-09-8888\n"
    )
    client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "kind": "change",
            "census_file": (io.BytesIO(text.encode()), "changes.csv"),
        },
        content_type="multipart/form-data",
    )
    upload = session.scalar(select(Upload))
    assert upload.content_key_id == key_id(DEV_SSN_KEY)

    rotating = _app(session_factory, NEW_KEY, (DEV_SSN_KEY,)).test_cli_runner()
    first = rotating.invoke(args=["keys", "rotate", "--json"])
    assert first.exit_code == 0, first.output
    done = json.loads(first.output)
    members = session.scalar(select(func.count()).select_from(Member))
    assert (done["key_id"], done["members"], done["uploads"]) == (key_id(NEW_KEY), members, 1)
    again = json.loads(rotating.invoke(args=["keys", "rotate", "--json"]).output)
    assert (again["members"], again["dependents"], again["uploads"]) == (0, 0, 0)
    assert session.scalar(select(func.count()).where(AuditLog.action == "keys.rotated")) == 1

    # The former key removed: every SSN and the file still read, the page included.
    app = _app(session_factory, NEW_KEY)
    session.expire_all()
    west = session.get(Member, cast.member_west.id)
    assert west.ssn_encrypted.startswith(key_id(NEW_KEY) + ":")
    assert vault().decrypt(west.ssn_encrypted) == "219098888"
    assert west.ssn_digest == vault().digest("219098888")
    assert session.get(Upload, upload.id).content == text.encode()
    client = app.test_client()
    assert log_in(client, cast.users["employer_a"].email).status_code == 303
    page = client.get(f"{url}/{upload.id}")
    assert page.status_code == 200
    assert "The file matches enrollment: nothing would change." in page.get_data(as_text=True)


def test_a_key_still_needed_cannot_be_dropped_unnoticed(cast, session, session_factory):
    """Rotating without the former key configured stops, naming the key the data is under."""
    runner = _app(session_factory, NEW_KEY).test_cli_runner()
    result = runner.invoke(args=["keys", "rotate", "--json"])
    assert result.exit_code == 1
    error = json.loads(result.output)["error"]
    assert key_id(DEV_SSN_KEY) in error and "SSN_ENCRYPTION_OLD_KEYS" in error

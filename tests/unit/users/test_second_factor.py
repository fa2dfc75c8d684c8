"""The second factor's rules without the web: a code within one step of now, once; recovery
codes once, kept as digests; secrets encrypted and rotatable (issue 17, item 7)."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from cryptography.fernet import Fernet

from billing_core.errors import ValidationFailed
from billing_core.models.enums import Role
from billing_core.users import second_factor
from tests.factories import RECOVERY_CODE, TOTP_SECRET, make_group, make_user

NOW = datetime(2027, 1, 20, 9, 0, 15, tzinfo=UTC)


def code_at(moment):
    return pyotp.TOTP(TOTP_SECRET).at(moment)


def test_a_code_from_one_step_either_side_is_accepted_once(session):
    user = make_user(session, Role.SUPERVISOR)
    assert second_factor.verify(session, user, code_at(NOW - timedelta(seconds=30)), now=NOW)
    with pytest.raises(ValidationFailed):  # the same code again
        second_factor.verify(session, user, code_at(NOW - timedelta(seconds=30)), now=NOW)
    assert second_factor.verify(session, user, code_at(NOW), now=NOW) == "authenticator"
    with pytest.raises(ValidationFailed):  # an older step than the last one used
        second_factor.verify(session, user, code_at(NOW - timedelta(seconds=30)), now=NOW)
    with pytest.raises(ValidationFailed):  # two steps ahead: outside the window
        second_factor.verify(session, user, code_at(NOW + timedelta(seconds=61)), now=NOW)


def test_a_recovery_code_works_once_and_only_its_digest_is_kept(session):
    user = make_user(session, Role.ADMIN)
    assert RECOVERY_CODE not in str(user.recovery_code_hashes)
    assert second_factor.verify(session, user, " ABCDE 23456 ", now=NOW) == "recovery code"
    with pytest.raises(ValidationFailed):
        second_factor.verify(session, user, RECOVERY_CODE, now=NOW)


def test_enrolment_keeps_the_secret_encrypted_and_gives_ten_codes(session):
    user = make_user(session, Role.BILLING_SPECIALIST, second_factor=False)
    secret = second_factor.start_enrolment(user)
    assert secret not in user.totp_secret_encrypted
    assert second_factor.start_enrolment(user) == secret  # the same until confirmed
    with pytest.raises(ValidationFailed):
        second_factor.confirm_enrolment(session, user, "000000", now=NOW)
    codes = second_factor.confirm_enrolment(session, user, pyotp.TOTP(secret).at(NOW), now=NOW)
    assert len(set(codes)) == 10 and user.second_factor_enrolled
    assert second_factor.verify(session, user, codes[0], now=NOW) == "recovery code"
    assert "otpauth://totp/" in second_factor.provisioning_uri(user, secret)
    assert second_factor.qr_code_data_uri("otpauth://x").startswith("data:image/svg+xml")


def test_a_rotated_key_still_decrypts_secrets_made_under_the_old_one(session, monkeypatch):
    monkeypatch.setattr(second_factor, "_cipher", second_factor._cipher)
    user = make_user(session, Role.SUPERVISOR)  # under the development key
    new = Fernet.generate_key().decode()
    second_factor.configure([new, second_factor.DEV_TOTP_ENCRYPTION_KEY])
    assert second_factor.verify(session, user, code_at(NOW), now=NOW)
    second_factor.configure([new])
    with pytest.raises(Exception, match="could not be decrypted"):
        second_factor.verify(session, user, code_at(NOW + timedelta(seconds=30)), now=NOW)


def test_who_must_use_it(session):
    group = make_group(session)
    employer = make_user(session, Role.EMPLOYER, groups=[group])
    broker = make_user(session, Role.BROKER)
    assert second_factor.required_for(session, make_user(session, Role.BILLING_SPECIALIST))
    assert not second_factor.required_for(session, employer)
    assert not second_factor.required_for(session, broker)
    group.require_second_factor = True
    session.flush()
    assert second_factor.required_for(session, employer)

"""The second factor at login: a TOTP authenticator app (RFC 6238: six digits, 30-second steps)
and ten one-time recovery codes. Staff must use it; an employer user must when a group they
can see requires it (EmployerGroup.require_second_factor); anyone else may enrol.

Secrets are kept encrypted under TOTP_ENCRYPTION_KEY (the first key encrypts, every key listed
decrypts, so a key can be rotated). A code is accepted within one step either side of now and
only once: the last step used is kept, so a code seen over a shoulder cannot be replayed.
Recovery codes carry 50 random bits each and are kept as SHA-256 digests (a slow password hash
adds nothing to a random code); each works once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session, aliased

from billing_core import audit
from billing_core.config import DEV_TOTP_ENCRYPTION_KEY
from billing_core.db import built_once
from billing_core.errors import ConfigurationError, ValidationFailed
from billing_core.models import EmployerGroup, GroupDelinquency, User, UserGroupAccess
from billing_core.models.enums import STAFF_ROLES, Role

ISSUER = "Premium Billing"
STEP_SECONDS = 30
DIGITS = 6
VALID_WINDOW = 1  # steps either side of now: clocks drift and people type slowly
RECOVERY_CODE_COUNT = 10
# Crockford-like: no 0/O, 1/I/L, so a code read off paper is typed right.
_RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_RECOVERY_LENGTH = 10
WRONG_CODE = "That code is not right. Enter the current code from your authenticator app."


def _cipher_for(keys: Sequence[str]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            "TOTP_ENCRYPTION_KEY must be one or more Fernet keys (32 url-safe base64-encoded "
            "bytes each, comma-separated, the current one first)"
        ) from exc


_cipher = _cipher_for([DEV_TOTP_ENCRYPTION_KEY])


def configure(keys: Sequence[str]) -> None:
    """Called once at start-up with Settings.totp_encryption_keys."""
    global _cipher
    if not keys:
        raise ConfigurationError("TOTP_ENCRYPTION_KEY is empty")
    _cipher = _cipher_for(keys)


def encrypt_secret(secret: str, keys: Sequence[str] | None = None) -> str:
    """`secret` encrypted under the configured keys (or under `keys`)."""
    cipher = _cipher if keys is None else _cipher_for(keys)
    return cipher.encrypt(secret.encode()).decode()


def recovery_digest(code: str) -> str:
    """What is kept of a recovery code."""
    return _digest(code)


def _secret(user: User) -> str:
    try:
        return _cipher.decrypt(user.totp_secret_encrypted.encode()).decode()
    except InvalidToken as exc:
        raise ConfigurationError(
            "a second-factor secret could not be decrypted with TOTP_ENCRYPTION_KEY"
        ) from exc


# session.info key: {user id: whether a group of theirs requires a second factor}, read with
# the user by `load_user` so the check every request makes costs no statement of its own.
_GROUPS_REQUIRE = "second_factor_required_by_groups"
_GROUP_DELINQUENCY = "second_factor.group_delinquency_read_with_the_user"


def _groups_require(user_id) -> object:
    """Whether any group `user_id` has access to requires a second factor (a SQL EXISTS)."""
    return exists().where(
        UserGroupAccess.user_id == user_id,
        UserGroupAccess.group_id == EmployerGroup.id,
        EmployerGroup.require_second_factor.is_(True),
    )


@built_once
def _user_with_flags(with_grants: bool = False, with_delinquency: bool = False):
    """`load_user`'s statement (built once: every request runs it); `with_grants`: with the
    user's grants of the group `group_id`, a row per grant (none: one row, NULLs), for
    `access.group_scope`; `with_delinquency`: and the group's delinquency row."""
    # Imported here: invitations imports accounts, which imports this module.
    from billing_core.users import invitations

    statement = select(
        User, _groups_require(User.id), invitations.administers_any_clause(User.id)
    ).where(User.id == bindparam("user_id"))
    if with_grants:
        # Aliased: the flags' EXISTS read the same tables, and would correlate to them.
        grant, group = aliased(UserGroupAccess), aliased(EmployerGroup)
        statement = (
            statement.add_columns(group, grant.subgroup_id)
            .outerjoin(
                grant, (grant.user_id == User.id) & (grant.group_id == bindparam("group_id"))
            )
            .outerjoin(group, group.id == grant.group_id)
        )
        if with_delinquency:
            statement = statement.add_columns(GroupDelinquency).outerjoin(
                GroupDelinquency, GroupDelinquency.group_id == group.id
            )
    return statement


def load_user(
    session: Session, user_id: int, group_id: int | None = None, *, reading: bool = False
) -> User | None:
    """The user `user_id` (the login session's, on every request), with what every page asks
    about them read in the same statement and remembered for this session: whether a group of
    theirs requires a second factor (`required_for` then asks nothing more) and whether they
    administer any group's users (`invitations.administers_any`: the top bar's Team link).
    With `group_id` (the page is a group's), an employer's grants of that group too, handed to
    `access.group_scope` (`access.remember_grants`): every employer page reads them. A
    `reading` request (GET: it changes nothing) also brings the group's delinquency row into
    the session, where the delinquency clock of the dashboard and invoice pages finds it
    (`employer_clock`'s `session.get`); not for a request that may write, which locks and
    reads that row afresh."""
    from billing_core import access
    from billing_core.users import invitations  # see _user_with_flags

    with_grants = group_id is not None
    values = {"user_id": user_id, "group_id": group_id} if with_grants else {"user_id": user_id}
    rows = session.execute(_user_with_flags(with_grants, with_grants and reading), values).all()
    if not rows:
        return None
    user, groups_require, administers = rows[0][:3]
    session.info.setdefault(_GROUPS_REQUIRE, {})[user.id] = bool(groups_require)
    invitations.remember_administers_any(session, user.id, bool(administers))
    if with_grants and user.role is Role.EMPLOYER:
        grants = [(row[3], row[4]) for row in rows if row[3] is not None]
        access.remember_grants(session, user.id, group_id, grants)
        if reading:
            # Held: the session's identity map keeps only objects referenced elsewhere.
            session.info[_GROUP_DELINQUENCY] = rows[0][5]
    return user


def required_for(session: Session, user: User) -> bool:
    """Staff always; an employer user when any group they have access to requires it (as
    read with the user by `load_user` in this session, else asked now)."""
    if user.role.is_staff:
        return True
    if user.role is not Role.EMPLOYER:
        return False
    known = session.info.get(_GROUPS_REQUIRE, {}).get(user.id)
    if known is not None:
        return known
    return bool(session.scalar(select(_groups_require(user.id))))


def start_enrolment(user: User, *, again: bool = False) -> str:
    """The secret to put in the authenticator: the one already waiting for its first code, or
    a new one (always new with `again`). Refused once enrolment is confirmed."""
    if user.second_factor_enrolled:
        raise ValidationFailed("A second factor is already set up for this account.")
    if user.totp_secret_encrypted and not again:
        return _secret(user)
    secret = pyotp.random_base32()
    user.totp_secret_encrypted = encrypt_secret(secret)
    user.totp_last_step = None
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// address the QR code carries (account name: the e-mail)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=ISSUER
    )


def qr_code_data_uri(text: str) -> str:
    """`text` as a QR code, an SVG data: URI for an <img> (the page's CSP allows data: images)."""
    return segno.make(text, error="m").svg_data_uri(scale=5, border=2)


def _matching_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step whose code is `code` (within VALID_WINDOW of `at`), None if none is or the
    step is not after the last one used."""
    digits = "".join(code.split())
    if len(digits) != DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now_step = int(at.timestamp()) // STEP_SECONDS
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), digits):
            return step
    return None


def _digest(code: str) -> str:
    return hashlib.sha256(_normal_recovery(code).encode()).hexdigest()


def _normal_recovery(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def new_recovery_codes(user: User) -> list[str]:
    """Ten new one-time recovery codes for `user` (only their digests are kept), as shown."""
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    shown = [f"{code[:5]}-{code[5:]}" for code in codes]
    user.recovery_code_hashes = [_digest(code) for code in codes]
    return shown


def confirm_enrolment(
    session: Session, user: User, code: str, *, now: datetime, ip_address: str | None = None
) -> list[str]:
    """Finish enrolment with the first code the authenticator shows; returns the ten recovery
    codes, shown once (only their digests are kept). ValidationFailed for a wrong code."""
    if user.second_factor_enrolled:
        raise ValidationFailed("A second factor is already set up for this account.")
    if not user.totp_secret_encrypted:
        raise ValidationFailed("Start again: scan the new QR code.")
    step = _matching_step(_secret(user), code, now, None)
    if step is None:
        raise ValidationFailed(WRONG_CODE)
    user.totp_last_step = step
    user.totp_confirmed_at = now
    codes = new_recovery_codes(user)
    audit.record(session, "second_factor.enrolled", actor=user, target=user, ip_address=ip_address)
    return codes


def verify(session: Session, user: User, code: str, *, now: datetime) -> str:
    """Check a login's second factor: a current authenticator code (once) or an unused
    recovery code (then spent). Returns "authenticator" or "recovery code"; ValidationFailed
    otherwise. The caller counts failures (billing_core.users.accounts)."""
    if not user.second_factor_enrolled:
        raise ValidationFailed(WRONG_CODE)
    step = _matching_step(_secret(user), code, now, user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        return "authenticator"
    digest = _digest(code)
    remaining = list(user.recovery_code_hashes or [])
    if len(_normal_recovery(code)) == _RECOVERY_LENGTH and digest in remaining:
        remaining.remove(digest)
        user.recovery_code_hashes = remaining  # a new list, so the JSON column is updated
        audit.record(
            session, "second_factor.recovery_code_used", actor=user, detail={"left": len(remaining)}
        )
        return "recovery code"
    raise ValidationFailed(WRONG_CODE)


def recovery_codes_left(user: User) -> int:
    return len(user.recovery_code_hashes or [])


def renew_recovery_codes(
    session: Session, user: User, code: str, *, now: datetime, ip_address: str | None = None
) -> list[str]:
    """New recovery codes (the old ones stop working), after a current authenticator code."""
    if not user.second_factor_enrolled:
        raise ValidationFailed("Set up the authenticator first.")
    step = _matching_step(_secret(user), code, now, user.totp_last_step)
    if step is None:
        raise ValidationFailed(WRONG_CODE)
    user.totp_last_step = step
    codes = new_recovery_codes(user)
    audit.record(session, "second_factor.recovery_codes_renewed", actor=user, ip_address=ip_address)
    return codes


def _clear(user: User) -> None:
    user.totp_secret_encrypted = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    user.recovery_code_hashes = None
    user.session_version = (user.session_version or 0) + 1  # its sessions end


def turn_off(
    session: Session, user: User, code: str, *, now: datetime, ip_address: str | None = None
) -> None:
    """The user removes their own second factor (with a current code); refused where it is
    required (staff, groups that require it). Their other sessions end."""
    if required_for(session, user):
        raise ValidationFailed("Your account must use a second factor.")
    if not user.second_factor_enrolled:
        raise ValidationFailed("No second factor is set up.")
    if _matching_step(_secret(user), code, now, user.totp_last_step) is None:
        raise ValidationFailed(WRONG_CODE)
    _clear(user)
    audit.record(
        session, "second_factor.turned_off", actor=user, target=user, ip_address=ip_address
    )


def may_reset(actor: User, user: User) -> bool:
    """Whether `actor` may clear `user`'s second factor: an admin another staff member's; a
    supervisor or an admin an employer user's (a lost phone, called in to the billing team).
    Nobody their own."""
    if actor.id == user.id:
        return False
    if user.role.is_staff:
        return actor.role is Role.ADMIN
    return user.role is Role.EMPLOYER and actor.role in (Role.SUPERVISOR, Role.ADMIN)


def reset(session: Session, user: User, *, actor: User, ip_address: str | None = None) -> None:
    """Clear `user`'s enrolment (a lost phone): their sessions end and they enrol again at their
    next login (at once where it is required, staff and groups requiring it). An admin resets
    another staff member's, a supervisor or an admin an employer user's (`may_reset`).
    Audited; nobody resets their own."""
    if actor.id == user.id:
        raise ValidationFailed(
            "You cannot reset your own second factor: ask another administrator."
        )
    if not may_reset(actor, user):
        if user.role.is_staff:
            raise ValidationFailed(
                "Only an administrator can reset a staff member's second factor."
            )
        if user.role is not Role.EMPLOYER:
            raise ValidationFailed("Only staff and employer accounts are reset here.")
        raise ValidationFailed("Only a supervisor or an administrator can reset a second factor.")
    was_enrolled = user.second_factor_enrolled
    _clear(user)
    audit.record(
        session,
        "second_factor.reset",
        actor=actor,
        target=user,
        ip_address=ip_address,
        detail={
            "user_email": user.email,
            "was_enrolled": was_enrolled,
            "before": {"second factor": "enrolled" if was_enrolled else "not enrolled"},
            "after": {"second factor": "not enrolled"},
        },
    )


def require_for_group(
    session: Session,
    group: EmployerGroup,
    required: bool,
    *,
    actor: User,
    ip_address: str | None = None,
) -> None:
    """An admin requires (or makes optional again) a second factor of the group's employer
    users; those without one set it up at their next page. Audited."""
    if actor.role is not Role.ADMIN:
        raise ValidationFailed("Only an administrator can change a group's login security.")
    group.require_second_factor = required
    audit.record(
        session,
        "group.second_factor_required" if required else "group.second_factor_optional",
        actor=actor,
        target=group,
        group_id=group.id,
        ip_address=ip_address,
    )


def staff_users(session: Session) -> list[User]:
    """Every staff account, by name (the admin's staff page)."""
    return list(
        session.scalars(
            select(User).where(User.role.in_(STAFF_ROLES)).order_by(User.full_name, User.id)
        )
    )

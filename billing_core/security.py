"""SSN encryption and masking, password hashing, and the audit helper.

SSNs are encrypted at rest with Fernet (AES-128-CBC + HMAC) under SSN_ENCRYPTION_KEY; a keyed
HMAC digest lets uploads match a member by SSN without decrypting; screens only ever get the
masked form built from the last four digits."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from cryptography.fernet import Fernet, InvalidToken
from werkzeug.security import check_password_hash, generate_password_hash

from billing_core.config import DEV_SSN_KEY
from billing_core.errors import ConfigurationError

SSN_DIGITS = re.compile(r"^[0-9]{9}$")  # ASCII digits only: \d takes any script's
# Anything that looks like a full SSN, with or without dashes or spaces.
SSN_LIKE = re.compile(r"(?<!\d)(\d{3})[- ]?(\d{2})[- ]?(\d{4})(?!\d)")


_SSN_SEPARATORS = re.compile(r"[\s-]")


_DASHES_AND_BLANKS = str.maketrans("", "", "- ")


def nine_digits(raw: str) -> str:
    """The nine digits of `123-45-6789`, `123 45 6789` or `123456789`, issued or not;
    ValueError for anything else."""
    # The common forms first (a census has 100,000 of them): ASCII digits with dashes or
    # blanks; anything else goes through the pattern.
    digits = (raw or "").translate(_DASHES_AND_BLANKS)
    if not (len(digits) == 9 and digits.isascii() and digits.isdigit()):
        digits = _SSN_SEPARATORS.sub("", raw or "")
        if not SSN_DIGITS.match(digits):
            raise ValueError("an SSN has nine digits, e.g. 123-45-6789")
    return digits


def is_issued(digits: str) -> bool:
    """Whether nine digits can be an issued SSN (area 000, 666 and 9xx, group 00 and serial
    0000 are never issued; test feeds and placeholders use them, ITINs start with 9)."""
    return not (
        digits.startswith(("000", "666", "9")) or digits[3:5] == "00" or digits[5:] == "0000"
    )


# Numbers whose area, group and serial could be issued but that stand for nobody: the SSA's own
# example cards and the placeholders test feeds and forms use. Never used to match a person.
PLACEHOLDER_SSNS = frozenset(("123456789", "078051120", *(str(d) * 9 for d in range(1, 10))))


def matches_people(digits: str) -> bool:
    """Whether nine digits may identify a person when matching files to members: an issued
    number that is not a known placeholder."""
    return is_issued(digits) and digits not in PLACEHOLDER_SSNS


def normalize_ssn(raw: str) -> str:
    """Nine digits of an issued SSN (see nine_digits, is_issued); ValueError otherwise."""
    digits = nine_digits(raw)
    if not is_issued(digits):
        raise ValueError("not a valid SSN (area, group or serial number is not issued)")
    return digits


def mask_ssn(last4: str | None) -> str:
    """The only form an SSN is ever shown in."""
    return f"***-**-{last4}" if last4 else ""


@dataclass(frozen=True)
class SsnVault:
    key: str

    def _fernet(self) -> Fernet:
        try:
            return Fernet(self._fernet_key())
        except ValueError as exc:
            raise ConfigurationError(
                "SSN_ENCRYPTION_KEY must be 32 url-safe base64-encoded bytes "
                "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            ) from exc

    def _fernet_key(self) -> bytes:
        raw = base64.urlsafe_b64decode(self.key.encode())
        if len(raw) != 32:
            raise ValueError("bad key length")
        return base64.urlsafe_b64encode(raw)

    def encrypt(self, ssn: str) -> str:
        """The nine digits encrypted, issued or not (a file's placeholder is kept as sent)."""
        return self._fernet().encrypt(nine_digits(ssn).encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet().decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigurationError("an SSN could not be decrypted with this key") from exc

    @cached_property
    def _digest_pads(self) -> tuple:
        """HMAC-SHA256 (RFC 2104) under the key, with the keyed inner and outer hashes started
        once: a census diff takes a digest per member, and the one-shot `hmac.digest` set the
        key up again each time (three times slower). The same digest (tested against hmac)."""
        key = self._fernet_key().ljust(64, b"\0")  # 32 bytes: within SHA-256's block
        inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
        outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))
        return inner.copy, outer.copy

    def digest(self, ssn: str) -> str:
        """Keyed digest for matching; not reversible without the key."""
        return self._digest(normalize_ssn(ssn))

    def digests(self, ssns: Iterable[str | None]) -> list[str | None]:
        """The matching digest of each SSN: None for a blank, one that is not a valid SSN or
        a known placeholder (matches_people; a census diff takes 100,000 at once, and the
        readers have reported these)."""
        result: list[str | None] = []
        append, digest = result.append, self._digest
        for ssn in ssns:
            if ssn:
                try:
                    ssn = normalize_ssn(ssn)
                except ValueError:
                    ssn = None
                if ssn in PLACEHOLDER_SSNS:
                    ssn = None
            append(digest(ssn) if ssn else None)
        return result

    def _digest(self, digits: str) -> str:
        inner, outer = self._digest_pads
        digest = inner()
        digest.update(digits.encode())
        result = outer()
        result.update(digest.digest())
        return result.hexdigest()


_vault = SsnVault(DEV_SSN_KEY)


def configure_vault(key: str) -> SsnVault:
    """Called once at start-up with Settings.ssn_encryption_key."""
    global _vault
    vault = SsnVault(key)
    vault._fernet()  # fail at start-up, not at the first member
    _vault = vault
    return vault


def vault() -> SsnVault:
    return _vault


def redact_ssns(text: str) -> str:
    return SSN_LIKE.sub(lambda m: f"***-**-{m.group(3)}", text)


def install_log_redaction() -> None:
    """Mask anything shaped like an SSN in every log record of every logger, as a last line of
    defence (a record factory sees records before any handler or propagation)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_ssns", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        message = record.getMessage()
        if SSN_LIKE.search(message):
            record.msg = redact_ssns(message)
            record.args = ()
        return record

    factory.redacts_ssns = True
    logging.setLogRecordFactory(factory)


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    return bool(password_hash) and check_password_hash(password_hash, password)


PASSWORD_MIN_LENGTH = 10


def password_problems(password: str) -> list[str]:
    """Plain-words reasons a new password is refused (empty list: acceptable)."""
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(f"use at least {PASSWORD_MIN_LENGTH} characters")
    if password.isdigit() or password.isalpha():
        problems.append("mix letters with digits or symbols")
    return problems

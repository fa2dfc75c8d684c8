"""SSN encryption and masking, password hashing, and the audit helper.

SSNs are encrypted at rest with Fernet (AES-128-CBC + HMAC) under SSN_ENCRYPTION_KEY; a keyed
HMAC digest lets uploads match a member by SSN without decrypting; screens only ever get the
masked form built from the last four digits. Kept census files are encrypted under the same key
(AES-256-GCM with a subkey derived from it, see `seal_file`).

Keys rotate: SSN_ENCRYPTION_KEY encrypts everything new, and the keys in
SSN_ENCRYPTION_OLD_KEYS still decrypt what was written under them until `flask keys rotate` has
re-encrypted it (billing_core.keys). Every ciphertext names its key by a key id, a fingerprint
of the key (`key_id`): an SSN as `<key id>:<Fernet token>`, a kept file in
`upload.content_key_id`. An SSN token written before key ids (no prefix) is tried under every
configured key; Fernet's MAC tells which one is right."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from werkzeug.security import check_password_hash, generate_password_hash

from billing_core.config import DEV_SSN_KEY
from billing_core.errors import ConfigurationError, KeyNotConfigured

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


def plain_matchable(text: str) -> bool:
    """Whether `text` is, as it stands, nine ASCII digits that may identify a person
    (matches_people): the form the census readers hand over, checked without normalising
    (a census takes 100,000 at once; anything else goes through normalize_ssn). One pattern
    for is_issued's rules: a third less time than the calls."""
    return _ISSUED_DIGITS.fullmatch(text) is not None and text not in PLACEHOLDER_SSNS


# Nine ASCII digits of an issued number (is_issued: area not 000, 666 or 9xx, group not 00,
# serial not 0000).
_ISSUED_DIGITS = re.compile(r"(?!000|666|9)[0-9]{3}(?!00)[0-9]{2}(?!0000)[0-9]{4}")


def normalize_ssn(raw: str) -> str:
    """Nine digits of an issued SSN (see nine_digits, is_issued); ValueError otherwise."""
    digits = nine_digits(raw)
    if not is_issued(digits):
        raise ValueError("not a valid SSN (area, group or serial number is not issued)")
    return digits


def mask_ssn(last4: str | None) -> str:
    """The only form an SSN is ever shown in."""
    return f"***-**-{last4}" if last4 else ""


KEY_HELP = (
    "32 url-safe base64-encoded bytes (python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())')"
)
# Kept files: format byte, then the 96-bit nonce, then AES-256-GCM ciphertext and its tag.
_FILE_FORMAT = b"\x01"
_NONCE_BYTES = 12
_FILE_HEADER = len(_FILE_FORMAT) + _NONCE_BYTES
_FILE_SUBKEY_INFO = b"premium-billing kept census files v1"


def _raw_key(key: str, name: str = "SSN_ENCRYPTION_KEY") -> bytes:
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigurationError(f"{name} must be {KEY_HELP}")
    return raw


def key_id(key: str) -> str:
    """The key's id stored with every ciphertext: 16 hex digits of a SHA-256 fingerprint (names
    the key without revealing it; the same key always has the same id)."""
    return _key_id(_raw_key(key))


def _key_id(raw: bytes) -> str:
    return hashlib.sha256(b"premium-billing key id\0" + raw).hexdigest()[:16]


@dataclass(frozen=True)
class SsnVault:
    """`key` encrypts (and keys the matching digest); `old_keys` only decrypt, until
    `flask keys rotate` has re-encrypted everything under `key`."""

    key: str
    old_keys: tuple[str, ...] = ()

    def _fernet(self) -> Fernet:
        return Fernet(self._fernet_key())

    def _fernet_key(self) -> bytes:
        return base64.urlsafe_b64encode(_raw_key(self.key))

    @cached_property
    def key_id(self) -> str:
        """The current key's id (see `key_id`)."""
        return key_id(self.key)

    @cached_property
    def _keys_by_id(self) -> dict[str, bytes]:
        """Every configured key's raw bytes by its id, the current one first."""
        keys = {self.key_id: _raw_key(self.key)}
        for old in self.old_keys:
            raw = _raw_key(old, "SSN_ENCRYPTION_OLD_KEYS")
            keys.setdefault(_key_id(raw), raw)
        return keys

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys_by_id)

    def _raw(self, kid: str, what: str) -> bytes:
        try:
            return self._keys_by_id[kid]
        except KeyError:
            raise KeyNotConfigured(
                f"{what} was encrypted under key {kid}, which is not configured: put that key "
                "back in SSN_ENCRYPTION_OLD_KEYS (then run `flask keys rotate`)"
            ) from None

    def encrypt(self, ssn: str) -> str:
        """The nine digits encrypted under the current key, as `<key id>:<Fernet token>`, issued
        or not (a file's placeholder is kept as sent)."""
        token = self._fernet().encrypt(nine_digits(ssn).encode()).decode()
        return f"{self.key_id}:{token}"

    def encrypt_text(self, text: str) -> str:
        """Any short secret (a bank account number) encrypted like an SSN, under the current
        key as `<key id>:<Fernet token>`; `decrypt` reads it back."""
        token = self._fernet().encrypt(text.encode()).decode()
        return f"{self.key_id}:{token}"

    def decrypt(self, token: str) -> str:
        """The nine digits of an SSN `encrypt` wrote, under any configured key; a token without
        a key id (written before key ids) is tried under each."""
        kid, sep, fernet_token = token.partition(":")
        if sep:
            fernet = Fernet(base64.urlsafe_b64encode(self._raw(kid, "an SSN")))
        else:
            fernet_token = token
            fernet = MultiFernet(
                [Fernet(base64.urlsafe_b64encode(raw)) for raw in self._keys_by_id.values()]
            )
        try:
            return fernet.decrypt(fernet_token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigurationError(
                "an SSN could not be decrypted with the keys configured"
            ) from exc

    def is_current(self, token: str) -> bool:
        """Whether an SSN token is under the current key (and names it)."""
        return token.startswith(self.key_id + ":")

    def seal_file(self, data: bytes) -> tuple[str, bytearray]:
        """A kept file encrypted under the current key: (key id, sealed bytes). AES-256-GCM
        under a subkey derived from the key (HKDF-SHA256), a random 96-bit nonce, the key id
        as associated data. One buffer of len(data) + 29 bytes is written: no other copy of a
        file of up to 50 MB."""
        kid = self.key_id
        nonce = os.urandom(_NONCE_BYTES)
        sealed = bytearray(_FILE_HEADER + len(data) + 16)
        sealed[:_FILE_HEADER] = _FILE_FORMAT + nonce
        self._file_cipher(kid).encrypt_into(
            nonce, data, kid.encode(), memoryview(sealed)[_FILE_HEADER:]
        )
        return kid, sealed

    def open_file(self, sealed: bytes, kid: str) -> bytes:
        """The bytes `seal_file` sealed under key `kid` (any configured key)."""
        view = memoryview(sealed)
        if view[:1] != _FILE_FORMAT or len(view) < _FILE_HEADER + 16:
            raise ConfigurationError("a kept file is not in the sealed format")
        try:
            return self._file_cipher(kid).decrypt(
                view[1:_FILE_HEADER], view[_FILE_HEADER:], kid.encode()
            )
        except InvalidTag as exc:
            raise ConfigurationError(f"a kept file does not open under key {kid}") from exc

    def _file_cipher(self, kid: str) -> AESGCM:
        raw = self._raw(kid, "a kept file")
        subkey = HKDF(hashes.SHA256(), length=32, salt=None, info=_FILE_SUBKEY_INFO).derive(raw)
        return AESGCM(subkey)

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
        inner, outer = self._digest_pads
        for ssn in ssns:
            if ssn and plain_matchable(ssn):
                # What a reader hands over: nine digits of an issued number (the digest
                # below inline, without a call per SSN: half the time).
                hashed = inner()
                hashed.update(ssn.encode())
                keyed = outer()
                keyed.update(hashed.digest())
                append(keyed.hexdigest())
                continue
            if ssn:
                try:
                    ssn = normalize_ssn(ssn)
                except ValueError:
                    ssn = None
                if ssn in PLACEHOLDER_SSNS:
                    ssn = None
            append(digest(ssn) if ssn else None)
        return result

    def digests_as_stored(self, ssns: list[str | None], stored: Container[str]) -> list[str | None]:
        """`digests(ssns)`, except that an SSN whose digest under an old key is in `stored` (a
        member not yet re-keyed by `flask keys rotate`) gets that digest: a file still matches
        people by SSN between a change of key and the rotation."""
        digests = self.digests(ssns)
        for old in self.old_keys:
            for i, legacy in enumerate(SsnVault(old).digests(ssns)):
                if legacy is not None and legacy in stored and digests[i] not in stored:
                    digests[i] = legacy
        return digests

    def _digest(self, digits: str) -> str:
        inner, outer = self._digest_pads
        digest = inner()
        digest.update(digits.encode())
        result = outer()
        result.update(digest.digest())
        return result.hexdigest()


_vault = SsnVault(DEV_SSN_KEY)
_configured = False


def configure_vault(key: str, old_keys: Iterable[str] = ()) -> SsnVault:
    """Called once at start-up with Settings.ssn_encryption_key and
    Settings.ssn_encryption_old_keys; a bad key refuses to start (ConfigurationError)."""
    global _vault, _configured
    vault = SsnVault(key, tuple(k for k in old_keys if k))
    _ = vault.key_ids  # fail at start-up, not at the first member
    _vault, _configured = vault, True
    return vault


def vault() -> SsnVault:
    return _vault


def app_vault() -> SsnVault:
    """The vault start-up configured; else (a migration run by the alembic command, with no
    app) one from the environment's settings, so nothing is encrypted under the development
    key by mistake."""
    if _configured:
        return _vault
    from billing_core.config import Settings

    settings = Settings.from_env()
    return configure_vault(settings.ssn_encryption_key, settings.ssn_encryption_old_keys)


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

"""Settings from environment variables, with development defaults. Production refuses to start
without its secrets: no generated or fallback secrets there.

Remittance (REMIT_*): where a payer sends a check, and the bank account for wires and ACH
credits, printed on every invoice (page and PDF) and on the pay page whenever an amount cannot
be paid online. Decision: the receiving account number is shown in full everywhere. It is not a
secret (a carrier prints it on every invoice so payers can push money into it; it allows
credits only) and a masked number cannot be paid to. In development, when no REMIT_* variable
is set, clearly marked sample values are used (Stripe's test routing number 110000000); in
production nothing is invented: what is not set is not printed. A routing number that is set
must pass the ABA checksum, or the app refuses to start.

Online limits: a card payment is offered up to ONLINE_CARD_LIMIT (at most Stripe's ceiling
for one card payment, 999,999.99), a bank-account (ACH Direct Debit) payment up to
ONLINE_ACH_LIMIT. Stripe sets each account's ACH Direct Debit limit (new accounts start at a
few thousand dollars and are raised on request): set ONLINE_ACH_LIMIT to the per-payment
limit on the carrier's Stripe account; the default is a development value."""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from billing_core.errors import ConfigurationError
from billing_core.money import D

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A fixed key for development and tests only; production must set SSN_ENCRYPTION_KEY.
DEV_SSN_KEY = "ZGV2LW9ubHktc3NuLWtleS1ub3QtZm9yLXByb2QhISE="
DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"  # nosec B105 # refused in production
# Signs the local test checkout's webhook events (development and tests only): with no Stripe
# keys the portal pays through a local page that feeds signed events to the webhook code path.
DEV_STRIPE_WEBHOOK_SECRET = "whsec_dev_only_local_test_checkout"  # nosec B105 # development only
# Encrypts second-factor (TOTP) secrets at rest in development and tests only.
DEV_TOTP_ENCRYPTION_KEY = "ZGV2LW9ubHktdG90cC1rZXktbm90LWZvci1wcm9kISE="
PRODUCTION_SECRETS = ("SECRET_KEY", "SSN_ENCRYPTION_KEY", "TOTP_ENCRYPTION_KEY", "DATABASE_URL")
# Production refuses these anywhere a secret goes: the development values above (published in
# this source) and the placeholders people paste from examples.
KNOWN_SECRETS = frozenset(
    {
        DEV_SECRET_KEY,
        DEV_SSN_KEY,
        DEV_STRIPE_WEBHOOK_SECRET,
        DEV_TOTP_ENCRYPTION_KEY,
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "dev",
        "development",
        "password",
        "test",
    }
)
SECRET_KEY_MIN_LENGTH = 32
SECRET_KEY_MIN_DISTINCT = 8

# Stripe's ceiling for one card payment in USD (amounts carry at most eight digits of cents).
STRIPE_CARD_MAX = Decimal("999999.99")
DEFAULT_ACH_LIMIT = Decimal("10000000.00")
DEFAULT_REMIT_REFERENCE = "Group {group_number}, invoice {invoice_number}"
REFERENCE_FIELDS = frozenset({"group_number", "invoice_number"})
# Development only, and only when no REMIT_* variable is set: obviously sample values, marked as
# such wherever they are shown. 110000000 is Stripe's test routing number (a valid checksum).
SAMPLE_REMIT = {
    "REMIT_TO_NAME": "Premium Billing (SAMPLE payee)",
    "REMIT_TO_ADDRESS": "PO Box 00000 (sample)\nSampletown, ST 00000",
    "REMIT_BANK_NAME": "Sample Bank, N.A.",
    "REMIT_ABA_ROUTING": "110000000",
    "REMIT_ACCOUNT_NUMBER": "000123456789",
}
REMIT_VARIABLES = (*SAMPLE_REMIT, "REMIT_REFERENCE")
# The first two digits of an ABA routing number: 00 (U.S. Government), 01-12 (Federal Reserve
# banks), 21-32 (thrifts), 61-72 (electronic), 80 (traveller's cheques).
ABA_PREFIXES = frozenset(
    ["00", "80"] + [f"{n:02d}" for n in (*range(1, 13), *range(21, 33), *range(61, 73))]
)


def aba_routing_is_valid(number: str) -> bool:
    """Nine digits, a Federal Reserve routing prefix, and the ABA checksum:
    3*(d1+d4+d7) + 7*(d2+d5+d8) + (d3+d6+d9) is a multiple of 10."""
    if len(number) != 9 or not number.isascii() or not number.isdigit():
        return False
    if number[:2] not in ABA_PREFIXES or number == "000000000":
        return False
    digits = [int(c) for c in number]
    weighted = sum(d * w for d, w in zip(digits, (3, 7, 1) * 3, strict=True))
    return weighted % 10 == 0


@dataclass(frozen=True)
class RemitInstructions:
    """How to pay other than online: a check to `payee` at `address` (lines), a wire or ACH
    credit to `bank_name`, routing `aba_routing`, account `account_number` (shown in full, see
    the module docstring), quoting `reference(...)`. `sample` marks development sample values."""

    payee: str
    address: tuple[str, ...]
    bank_name: str
    aba_routing: str
    account_number: str
    reference_format: str = DEFAULT_REMIT_REFERENCE
    sample: bool = False

    @property
    def by_mail(self) -> bool:
        return bool(self.payee and self.address)

    @property
    def by_bank(self) -> bool:
        return bool(self.bank_name and self.aba_routing and self.account_number)

    @property
    def configured(self) -> bool:
        return self.by_mail or self.by_bank

    def reference(self, group_number: str, invoice_number: str | None = None) -> str:
        """What the payer quotes (check memo, wire or ACH credit reference): the configured
        format with the group and invoice numbers; a payment on account (no invoice) quotes
        the group number alone."""
        if not invoice_number:
            return f"Group {group_number}"
        return self.reference_format.format(
            group_number=group_number, invoice_number=invoice_number
        )


def _default_authority_limit() -> Decimal:
    # Imported here: authority needs the models, whose security module needs this one.
    from billing_core.authority import DEFAULT_AUTHORITY_LIMIT

    return DEFAULT_AUTHORITY_LIMIT


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'instance' / 'portal.sqlite'}"
    secret_key: str = DEV_SECRET_KEY
    ssn_encryption_key: str = DEV_SSN_KEY
    # Former keys, for decrypting only until `flask keys rotate` has re-encrypted everything
    # under ssn_encryption_key (billing_core.keys).
    ssn_encryption_old_keys: tuple[str, ...] = field(default=(), repr=False)
    # A decided census upload's file is deleted this many days after its decision
    # (billing_core.census.kept; `flask census purge`).
    census_retention_days: int = 90
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = DEV_STRIPE_WEBHOOK_SECRET
    stripe_api_base: str = ""
    redis_url: str = ""
    login_max_failures: int = 5
    lockout_minutes: int = 15
    upload_max_bytes: int = 50 * 1024 * 1024
    # A census file larger than this is read by a background job (billing_core.jobs), with a
    # progress bar in the page, rather than during the upload request.
    census_inline_max_bytes: int = 2 * 1024 * 1024
    # So is any file for a group with more enrolled members than this: pricing its premium
    # impact rates the whole group (seconds for tens of thousands), however small the file.
    census_inline_max_members: int = 5_000
    # Load safety (issue 17). A census file of more rows than this (members, for an 834) is
    # refused before it is read, with the limit in words.
    census_max_rows: int = 200_000
    # Pricing an upload's premium impact runs the billing run for the group twice and reprices
    # each late change one member at a time, holding SQLite's write lock throughout: above
    # either bound it is not priced (the page says so and why); the billing run prices it.
    census_pricing_max_member_months: int = 100_000
    census_pricing_max_retro_members: int = 250
    # Background jobs without REDIS_URL: "thread" (a runner thread in the web process, see
    # billing_core.jobs.LocalRunner) or "inline" (in the caller: scripts, tests).
    job_runner: str = "thread"
    # Groups per chunk of a billing run, each chunk its own transaction (billing.run).
    billing_run_chunk_groups: int = 100
    # Seconds SQLite waits for another connection's write lock (billing_core.db).
    sqlite_busy_timeout: float = 15.0
    # Adjustments above this (absolute dollars) need a supervisor who did not request them;
    # the default is the four-eyes rule's own (authority.DEFAULT_AUTHORITY_LIMIT).
    adjustment_authority_limit: Decimal = field(default_factory=_default_authority_limit)
    # Paying online: a card up to this, a bank account (ACH Direct Debit) up to the other; above
    # both, the pay page shows the remittance instructions (see the module docstring).
    online_card_limit: Decimal = STRIPE_CARD_MAX
    online_ach_limit: Decimal = DEFAULT_ACH_LIMIT
    # Remittance instructions (see the module docstring); the address holds line breaks.
    remit_to_name: str = SAMPLE_REMIT["REMIT_TO_NAME"]
    remit_to_address: str = SAMPLE_REMIT["REMIT_TO_ADDRESS"]
    remit_bank_name: str = SAMPLE_REMIT["REMIT_BANK_NAME"]
    remit_aba_routing: str = SAMPLE_REMIT["REMIT_ABA_ROUTING"]
    remit_account_number: str = SAMPLE_REMIT["REMIT_ACCOUNT_NUMBER"]
    remit_reference: str = DEFAULT_REMIT_REFERENCE
    remit_sample: bool = True
    # Mail (billing_core.mail): the outbox is delivered through this SMTP server; without
    # SMTP_HOST it is only kept in the outbox table and logged. SMTP_TLS: starttls, ssl (SMTPS)
    # or none (a local relay); SMTP_PORT defaults to 587, 465 or 25 accordingly. PORTAL_URL
    # goes in front of the links in messages.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_tls: str = "starttls"
    mail_from: str = "Premium Billing <billing@localhost>"
    portal_url: str = "http://127.0.0.1:5000"
    # Fernet keys for second-factor secrets at rest: the first encrypts, all decrypt (rotation).
    totp_encryption_keys: tuple[str, ...] = field(default=(DEV_TOTP_ENCRYPTION_KEY,), repr=False)
    extra: dict = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def remit_instructions(self) -> RemitInstructions:
        return RemitInstructions(
            payee=self.remit_to_name,
            address=tuple(
                line.strip() for line in self.remit_to_address.splitlines() if line.strip()
            ),
            bank_name=self.remit_bank_name,
            aba_routing=self.remit_aba_routing,
            account_number=self.remit_account_number,
            reference_format=self.remit_reference,
            sample=self.remit_sample,
        )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read APP_ENV, DATABASE_URL, SECRET_KEY, SSN_ENCRYPTION_KEY, SSN_ENCRYPTION_OLD_KEYS
        (comma-separated), STRIPE_*, REDIS_URL, CENSUS_RETENTION_DAYS,
        CENSUS_INLINE_MAX_BYTES, CENSUS_INLINE_MAX_MEMBERS, ADJUSTMENT_AUTHORITY_LIMIT,
        CENSUS_MAX_ROWS, CENSUS_PRICING_MAX_MEMBER_MONTHS, CENSUS_PRICING_MAX_RETRO_MEMBERS,
        JOB_RUNNER, SQLITE_BUSY_TIMEOUT (see _load_limits),
        ONLINE_CARD_LIMIT, ONLINE_ACH_LIMIT (dollars) and REMIT_* (see the module docstring).

        In production every secret in PRODUCTION_SECRETS must be set explicitly. In any
        environment a bad routing number, account number, reference format or online limit
        refuses to start (ConfigurationError)."""
        env = os.environ if environ is None else environ
        app_env = env.get("APP_ENV", "development")
        if app_env == "production":
            missing = [name for name in PRODUCTION_SECRETS if not env.get(name)]
            if missing:
                raise ConfigurationError(
                    "refusing to start in production without " + ", ".join(missing)
                )
            _refuse_known_and_weak_secrets(env)
            if env.get("STRIPE_SECRET_KEY") and not env.get("STRIPE_WEBHOOK_SECRET"):
                raise ConfigurationError(
                    "refusing to start in production with STRIPE_SECRET_KEY but without "
                    "STRIPE_WEBHOOK_SECRET: online payments are recorded from signed webhooks"
                )
        defaults = cls()
        return cls(
            env=app_env,
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            secret_key=env.get("SECRET_KEY") or defaults.secret_key,
            ssn_encryption_key=env.get("SSN_ENCRYPTION_KEY") or defaults.ssn_encryption_key,
            ssn_encryption_old_keys=tuple(
                key.strip()
                for key in env.get("SSN_ENCRYPTION_OLD_KEYS", "").split(",")
                if key.strip()
            ),
            census_retention_days=_positive_days(
                env, "CENSUS_RETENTION_DAYS", defaults.census_retention_days
            ),
            stripe_secret_key=env.get("STRIPE_SECRET_KEY", ""),
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET")
            or ("" if app_env == "production" else DEV_STRIPE_WEBHOOK_SECRET),
            stripe_api_base=env.get("STRIPE_API_BASE", ""),
            redis_url=env.get("REDIS_URL", ""),
            login_max_failures=int(env.get("LOGIN_MAX_FAILURES", defaults.login_max_failures)),
            lockout_minutes=int(env.get("LOCKOUT_MINUTES", defaults.lockout_minutes)),
            upload_max_bytes=int(env.get("UPLOAD_MAX_BYTES", defaults.upload_max_bytes)),
            census_inline_max_bytes=int(
                env.get("CENSUS_INLINE_MAX_BYTES", defaults.census_inline_max_bytes)
            ),
            census_inline_max_members=int(
                env.get("CENSUS_INLINE_MAX_MEMBERS", defaults.census_inline_max_members)
            ),
            **_load_limits(env, defaults),
            adjustment_authority_limit=D(
                env.get("ADJUSTMENT_AUTHORITY_LIMIT") or defaults.adjustment_authority_limit
            ),
            **_online_limits(env, defaults),
            **_remittance(env, production=app_env == "production"),
            **_mail(env, defaults, production=app_env == "production"),
            totp_encryption_keys=_key_list(env.get("TOTP_ENCRYPTION_KEY"))
            or defaults.totp_encryption_keys,
        )

    @property
    def mail_configured(self) -> bool:
        return bool(self.smtp_host)

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)


def _key_list(text: str | None) -> tuple[str, ...]:
    return tuple(key.strip() for key in (text or "").split(",") if key.strip())


def _refuse_known_and_weak_secrets(env) -> None:
    """Production: no secret may be a development value published in this source or a known
    placeholder, and SECRET_KEY (it signs sessions, CSRF and reset tokens) must be long and
    varied: at least SECRET_KEY_MIN_LENGTH characters, SECRET_KEY_MIN_DISTINCT different."""
    secrets = {
        "SECRET_KEY": [env.get("SECRET_KEY", "")],
        "SSN_ENCRYPTION_KEY": [env.get("SSN_ENCRYPTION_KEY", "")],
        "SSN_ENCRYPTION_OLD_KEYS": list(_key_list(env.get("SSN_ENCRYPTION_OLD_KEYS"))),
        "TOTP_ENCRYPTION_KEY": list(_key_list(env.get("TOTP_ENCRYPTION_KEY"))),
        "STRIPE_WEBHOOK_SECRET": [env.get("STRIPE_WEBHOOK_SECRET", "")],
    }
    for name, values in secrets.items():
        if any(
            value.strip().lower() in KNOWN_SECRETS or value in KNOWN_SECRETS
            for value in values
            if value
        ):
            raise ConfigurationError(
                f"refusing to start in production with a published development or placeholder "
                f"value in {name}: generate a new secret"
            )
    key = env.get("SECRET_KEY", "")
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        raise ConfigurationError(
            f"refusing to start in production with a weak SECRET_KEY: use at least "
            f"{SECRET_KEY_MIN_LENGTH} random characters, e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'"
        )


def _positive_days(env, name: str, default: int) -> int:
    text = (env.get(name) or str(default)).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ConfigurationError(f"{name} must be a whole number of days, at least 1; got {text!r}")
    return int(text)


JOB_RUNNERS = ("thread", "inline")


def _load_limits(env, defaults: Settings) -> dict:
    """CENSUS_MAX_ROWS, CENSUS_PRICING_MAX_MEMBER_MONTHS, CENSUS_PRICING_MAX_RETRO_MEMBERS,
    BILLING_RUN_CHUNK_GROUPS (whole numbers above zero), JOB_RUNNER (thread or inline) and
    SQLITE_BUSY_TIMEOUT (seconds above zero)."""
    limits = {}
    for name in (
        "CENSUS_MAX_ROWS",
        "CENSUS_PRICING_MAX_MEMBER_MONTHS",
        "CENSUS_PRICING_MAX_RETRO_MEMBERS",
        "BILLING_RUN_CHUNK_GROUPS",
    ):
        text = (env.get(name) or str(getattr(defaults, name.lower()))).strip().replace("_", "")
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise ConfigurationError(f"{name} must be a whole number above zero; got {text!r}")
        limits[name.lower()] = int(text)
    runner = (env.get("JOB_RUNNER") or defaults.job_runner).strip().lower()
    if runner not in JOB_RUNNERS:
        raise ConfigurationError(f"JOB_RUNNER must be one of {', '.join(JOB_RUNNERS)}")
    try:
        timeout = float(env.get("SQLITE_BUSY_TIMEOUT") or defaults.sqlite_busy_timeout)
    except ValueError:
        timeout = 0.0
    if not 0 < timeout <= 600:
        raise ConfigurationError("SQLITE_BUSY_TIMEOUT must be seconds, above 0 and at most 600")
    return {**limits, "job_runner": runner, "sqlite_busy_timeout": timeout}


def _online_limits(env, defaults: Settings) -> dict:
    limits = {}
    for name, default in (
        ("ONLINE_CARD_LIMIT", defaults.online_card_limit),
        ("ONLINE_ACH_LIMIT", defaults.online_ach_limit),
    ):
        try:
            value = D(env.get(name) or default)
        except ValueError:
            raise ConfigurationError(
                f"{name} must be an amount in dollars, e.g. 250000.00"
            ) from None
        if value <= 0 or value != value.quantize(Decimal("0.01")):
            raise ConfigurationError(f"{name} must be above zero, in dollars and cents")
        limits[name.lower()] = value
    if limits["online_card_limit"] > STRIPE_CARD_MAX:
        raise ConfigurationError(
            f"ONLINE_CARD_LIMIT cannot exceed Stripe's card maximum of {STRIPE_CARD_MAX:,}"
        )
    return limits


def _remittance(env, *, production: bool) -> dict:
    """The REMIT_* settings. Development with none of them set gets the marked sample values;
    otherwise only what is set (so production never prints an invented bank account)."""
    given = {name: (env.get(name) or "").strip() for name in REMIT_VARIABLES}
    sample = not production and not any(given.values())
    values = dict(SAMPLE_REMIT) if sample else {name: given[name] for name in SAMPLE_REMIT}
    address = values["REMIT_TO_ADDRESS"].replace("\\n", "\n")
    routing = values["REMIT_ABA_ROUTING"].replace(" ", "")
    account = values["REMIT_ACCOUNT_NUMBER"].replace(" ", "").replace("-", "")
    reference = given["REMIT_REFERENCE"] or DEFAULT_REMIT_REFERENCE
    if routing and not aba_routing_is_valid(routing):
        raise ConfigurationError(
            f"REMIT_ABA_ROUTING {routing!r} is not a valid ABA routing number (nine digits "
            "that pass the ABA checksum); refusing to print it on invoices"
        )
    if account and not (account.isascii() and account.isdigit() and 4 <= len(account) <= 17):
        raise ConfigurationError("REMIT_ACCOUNT_NUMBER must be 4 to 17 digits")
    bank = {
        "REMIT_BANK_NAME": values["REMIT_BANK_NAME"],
        "REMIT_ABA_ROUTING": routing,
        "REMIT_ACCOUNT_NUMBER": account,
    }
    if any(bank.values()) and not all(bank.values()):
        missing = [name for name, value in bank.items() if not value]
        raise ConfigurationError(
            "wire and ACH credit instructions need REMIT_BANK_NAME, REMIT_ABA_ROUTING and "
            "REMIT_ACCOUNT_NUMBER together; missing " + ", ".join(missing)
        )
    if bool(values["REMIT_TO_NAME"]) != bool(address.strip()):
        raise ConfigurationError("a check address needs both REMIT_TO_NAME and REMIT_TO_ADDRESS")
    _check_reference_format(reference)
    return {
        "remit_to_name": values["REMIT_TO_NAME"],
        "remit_to_address": address,
        "remit_bank_name": values["REMIT_BANK_NAME"],
        "remit_aba_routing": routing,
        "remit_account_number": account,
        "remit_reference": reference,
        "remit_sample": sample,
    }


def _check_reference_format(reference: str) -> None:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(reference) if name is not None}
    except ValueError:
        fields = {"?"}
    if not fields or not fields <= REFERENCE_FIELDS:
        raise ConfigurationError(
            "REMIT_REFERENCE must use {group_number} and/or {invoice_number} and nothing else, "
            f"e.g. {DEFAULT_REMIT_REFERENCE!r}"
        )


SMTP_TLS_MODES = {"starttls": 587, "ssl": 465, "none": 25}


def _mail(env, defaults: Settings, *, production: bool) -> dict:
    """SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_TLS, MAIL_FROM and PORTAL_URL. A
    user without a password, a password sent without TLS, an unknown TLS mode or a bad port
    refuses to start; so does production sending mail without MAIL_FROM and PORTAL_URL."""
    host = (env.get("SMTP_HOST") or "").strip()
    tls = (env.get("SMTP_TLS") or defaults.smtp_tls).strip().lower()
    if tls not in SMTP_TLS_MODES:
        raise ConfigurationError(
            f"SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}, got {tls!r}"
        )
    port_text = (env.get("SMTP_PORT") or str(SMTP_TLS_MODES[tls])).strip()
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigurationError(f"SMTP_PORT must be a port number, got {port_text!r}")
    user, password = env.get("SMTP_USER", ""), env.get("SMTP_PASSWORD", "")
    if user and not password:
        raise ConfigurationError("SMTP_USER is set without SMTP_PASSWORD")
    if host and user and tls == "none":
        raise ConfigurationError(
            "refusing to send the SMTP password without TLS: set SMTP_TLS to starttls or ssl"
        )
    if production and host:
        missing = [name for name in ("MAIL_FROM", "PORTAL_URL") if not env.get(name)]
        if missing:
            raise ConfigurationError(
                "refusing to send mail in production without " + ", ".join(missing)
            )
    return {
        "smtp_host": host,
        "smtp_port": int(port_text),
        "smtp_user": user,
        "smtp_password": password,
        "smtp_tls": tls,
        "mail_from": env.get("MAIL_FROM") or defaults.mail_from,
        "portal_url": (env.get("PORTAL_URL") or defaults.portal_url).rstrip("/"),
    }

"""Settings from environment variables, with development defaults. Production refuses to start
without its secrets: no generated or fallback secrets there."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from billing_core.errors import ConfigurationError
from billing_core.money import D

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A fixed key for development and tests only; production must set SSN_ENCRYPTION_KEY.
DEV_SSN_KEY = "ZGV2LW9ubHktc3NuLWtleS1ub3QtZm9yLXByb2QhISE="
DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"
# Signs the local test checkout's webhook events (development and tests only): with no Stripe
# keys the portal pays through a local page that feeds signed events to the webhook code path.
DEV_STRIPE_WEBHOOK_SECRET = "whsec_dev_only_local_test_checkout"
PRODUCTION_SECRETS = ("SECRET_KEY", "SSN_ENCRYPTION_KEY", "DATABASE_URL")


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'instance' / 'portal.sqlite'}"
    secret_key: str = DEV_SECRET_KEY
    ssn_encryption_key: str = DEV_SSN_KEY
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
    # Adjustments above this (absolute dollars) need a supervisor who did not request them.
    adjustment_authority_limit: Decimal = Decimal("500.00")
    extra: dict = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read APP_ENV, DATABASE_URL, SECRET_KEY, SSN_ENCRYPTION_KEY, STRIPE_*, REDIS_URL,
        CENSUS_INLINE_MAX_BYTES, CENSUS_INLINE_MAX_MEMBERS, ADJUSTMENT_AUTHORITY_LIMIT.

        In production every secret in PRODUCTION_SECRETS must be set explicitly."""
        env = os.environ if environ is None else environ
        app_env = env.get("APP_ENV", "development")
        if app_env == "production":
            missing = [name for name in PRODUCTION_SECRETS if not env.get(name)]
            if missing:
                raise ConfigurationError(
                    "refusing to start in production without " + ", ".join(missing)
                )
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
            adjustment_authority_limit=D(
                env.get("ADJUSTMENT_AUTHORITY_LIMIT") or defaults.adjustment_authority_limit
            ),
        )

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)

"""Production refuses to start with a weak SECRET_KEY or with any development key published in
the source (issue 17, finding 6); development keeps its fixed keys."""

import pytest

from billing_core.config import (
    DEV_SECRET_KEY,
    DEV_SSN_KEY,
    DEV_STRIPE_WEBHOOK_SECRET,
    DEV_TOTP_ENCRYPTION_KEY,
    Settings,
)
from billing_core.errors import ConfigurationError
from tests.factories import PRODUCTION_ENV


def test_strong_production_secrets_start():
    settings = Settings.from_env(PRODUCTION_ENV)
    assert settings.is_production
    assert settings.totp_encryption_keys == (PRODUCTION_ENV["TOTP_ENCRYPTION_KEY"],)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"SECRET_KEY": DEV_SECRET_KEY},
            "published development or placeholder value in SECRET_KEY",
        ),
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short-but-random-9f3k"}, "weak SECRET_KEY"),
        ({"SECRET_KEY": "s" * 64}, "weak SECRET_KEY"),
        ({"SSN_ENCRYPTION_KEY": DEV_SSN_KEY}, "value in SSN_ENCRYPTION_KEY"),
        ({"SSN_ENCRYPTION_OLD_KEYS": f"x,{DEV_SSN_KEY}"}, "SSN_ENCRYPTION_OLD_KEYS"),
        ({"TOTP_ENCRYPTION_KEY": DEV_TOTP_ENCRYPTION_KEY}, "value in TOTP_ENCRYPTION_KEY"),
        ({"TOTP_ENCRYPTION_KEY": ""}, "without TOTP_ENCRYPTION_KEY"),
        (
            {"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": DEV_STRIPE_WEBHOOK_SECRET},
            "STRIPE_WEBHOOK_SECRET",
        ),
    ],
)
def test_production_refuses_known_and_weak_secrets(changes, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**PRODUCTION_ENV, **changes})


def test_development_keeps_its_published_keys():
    settings = Settings.from_env({})
    assert settings.secret_key == DEV_SECRET_KEY
    assert settings.totp_encryption_keys == (DEV_TOTP_ENCRYPTION_KEY,)


def test_totp_keys_rotate_the_first_encrypts_all_decrypt():
    settings = Settings.from_env({"TOTP_ENCRYPTION_KEY": "new-key , old-key"})
    assert settings.totp_encryption_keys == ("new-key", "old-key")

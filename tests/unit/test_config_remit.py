"""Remittance instructions and online limits from the environment (billing_core.config): sample
values only in development with nothing set, the ABA checksum, all-or-nothing bank details,
the reference format, and the limits each online method takes."""

from __future__ import annotations

import pytest

from billing_core.config import Settings, aba_routing_is_valid
from billing_core.errors import ConfigurationError
from billing_core.models.enums import PaymentMethod
from billing_core.money import D
from billing_core.payments.online import OnlineLimits
from tests.factories import PRODUCTION_ENV

PRODUCTION = PRODUCTION_ENV
BANK = {
    "REMIT_BANK_NAME": "First Harbor Trust Bank",
    "REMIT_ABA_ROUTING": "021000021",
    "REMIT_ACCOUNT_NUMBER": "7512906634",
}


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("021000021", True),
        ("011000015", True),
        ("110000000", True),  # Stripe's test routing number
        ("021000022", False),  # one digit off: the checksum catches it
        ("123456789", False),
        ("000000000", False),
        ("991000001", False),  # no such Federal Reserve prefix
        ("02100002", False),
        ("0210000211", False),
        ("02100002a", False),
        ("０２１００００２１", False),  # full-width digits are not digits here
    ],
)
def test_aba_routing_checksum(number, valid):
    assert aba_routing_is_valid(number) is valid


def test_development_with_nothing_set_uses_marked_sample_values():
    remit = Settings.from_env({}).remit_instructions
    assert remit.sample and remit.by_bank and remit.by_mail
    assert remit.aba_routing == "110000000" and "SAMPLE" in remit.payee
    assert remit.reference("G-1008", "G-1008-202701") == "Group G-1008, invoice G-1008-202701"
    assert remit.reference("G-1008") == "Group G-1008"


def test_configured_values_are_used_as_given_and_never_mixed_with_samples():
    remit = Settings.from_env(
        {
            **BANK,
            "REMIT_TO_NAME": "Evergreen Mutual Life",
            "REMIT_TO_ADDRESS": "PO Box 4417\\nHartford, CT 06101",
            "REMIT_REFERENCE": "{invoice_number} / {group_number}",
        }
    ).remit_instructions
    assert not remit.sample
    assert remit.address == ("PO Box 4417", "Hartford, CT 06101")
    assert remit.account_number == "7512906634"
    assert remit.reference("G-7", "G-7-202701") == "G-7-202701 / G-7"
    only_bank = Settings.from_env(BANK).remit_instructions
    assert only_bank.by_bank and not only_bank.by_mail and not only_bank.sample


def test_production_prints_nothing_it_was_not_given():
    remit = Settings.from_env(PRODUCTION).remit_instructions
    assert not remit.configured and not remit.sample
    assert Settings.from_env({**PRODUCTION, **BANK}).remit_instructions.by_bank


def test_production_refuses_to_start_with_a_bad_routing_number():
    with pytest.raises(ConfigurationError, match="REMIT_ABA_ROUTING '021000022' is not a valid"):
        Settings.from_env({**PRODUCTION, **BANK, "REMIT_ABA_ROUTING": "021000022"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"REMIT_ABA_ROUTING": ""}, "missing REMIT_ABA_ROUTING"),
        ({"REMIT_ACCOUNT_NUMBER": "12AB"}, "4 to 17 digits"),
        ({"REMIT_TO_NAME": "Evergreen Mutual Life"}, "both REMIT_TO_NAME and REMIT_TO_ADDRESS"),
        ({"REMIT_REFERENCE": "{policy_id}"}, "REMIT_REFERENCE must use"),
        ({"REMIT_REFERENCE": "no placeholder"}, "REMIT_REFERENCE must use"),
        ({"ONLINE_CARD_LIMIT": "1000000.00"}, "cannot exceed Stripe's card maximum"),
        ({"ONLINE_ACH_LIMIT": "-5"}, "ONLINE_ACH_LIMIT must be above zero"),
        ({"ONLINE_ACH_LIMIT": "lots"}, "ONLINE_ACH_LIMIT must be an amount"),
    ],
)
def test_settings_that_would_mislead_a_payer_refuse_to_start(changes, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**PRODUCTION, **BANK, **changes})


def test_ach_is_offered_above_the_card_limit_up_to_its_own():
    settings = Settings.from_env({"ONLINE_CARD_LIMIT": "25000", "ONLINE_ACH_LIMIT": "2000000"})
    limits = OnlineLimits.from_settings(settings)
    both = (PaymentMethod.CARD, PaymentMethod.ACH_DEBIT)
    assert limits.methods_for(D("25000.00")) == both
    assert limits.methods_for(D("25000.01")) == (PaymentMethod.ACH_DEBIT,)
    assert limits.methods_for(D("2000000.00")) == (PaymentMethod.ACH_DEBIT,)
    assert limits.methods_for(D("2000000.01")) == ()
    assert limits.refusal(D("1500000.00"), PaymentMethod.ACH_DEBIT) is None
    assert "from a US bank account (ACH debit), which takes up to $2,000,000.00" in limits.refusal(
        D("1500000.00"), PaymentMethod.CARD
    )
    defaults = OnlineLimits.from_settings(Settings.from_env({}))
    assert defaults.ach > defaults.card == D("999999.99")

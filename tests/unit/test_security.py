"""The SSN digest members are matched on: HMAC-SHA256 under the key, whatever way it is
computed, the same for every way of writing the SSN, and refusing what is not an SSN."""

import hashlib
import hmac

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_core import security
from billing_core.security import SsnVault, normalize_ssn


def test_the_ssn_digest_is_hmac_sha256_of_the_nine_digits_under_the_key():
    key = Fernet.generate_key().decode()
    vault = SsnVault(key)
    raw_key = vault._fernet_key()
    for ssn in ("123456789", "078051120", "772-11-0001"):
        digits = ssn.replace("-", "")
        expected = hmac.digest(raw_key, digits.encode(), hashlib.sha256).hex()
        assert vault.digest(ssn) == expected
    assert vault.digest("123-45-6789") == vault.digest("123 45 6789") == vault.digest("123456789")
    assert SsnVault(Fernet.generate_key().decode()).digest("123456789") != vault.digest("123456789")


@pytest.mark.parametrize("bad", ["12345678", "1234567890", "000123456", "666123456", "12a456789"])
def test_what_is_not_an_ssn_has_no_digest(bad):
    with pytest.raises(ValueError):
        SsnVault(Fernet.generate_key().decode()).digest(bad)


def test_digests_of_many_match_one_by_one_and_skip_what_is_not_an_ssn():
    # Placeholders (123-45-6789, the SSA's 078-05-1120) are never matched on (issue 15): many
    # people share them in test feeds and forms.
    vault = SsnVault(Fernet.generate_key().decode())
    assert vault.digests(["219-09-1234", None, "", "000123456", "078051120", "123456789"]) == [
        vault.digest("219091234"),
        None,
        None,
        None,
        None,
        None,
    ]


def test_digests_of_nine_digits_agree_with_one_by_one():
    # The nine-digit fast path (what readers hand over) decides issued numbers as
    # normalize_ssn does: ITINs, area 000/666, group 00, serial 0000, other scripts' digits.
    vault = SsnVault(Fernet.generate_key().decode())
    ssns = ["219091234", "900123456", "666123456", "000123456", "219001234", "219090000",
            "１２３４５６７８９", "21909123", "2190912345", "987654321", "111111111"]  # fmt: skip
    expected = []
    for ssn in ssns:
        try:
            expected.append(None if ssn == "111111111" else vault.digest(ssn))
        except ValueError:
            expected.append(None)
    assert expected[0] is not None and expected.count(None) == len(ssns) - 1
    assert vault.digests(ssns) == expected


@pytest.mark.parametrize(
    "written", ["123-45-6789", "123 45 6789", "123456789", " 123-45-6789 ", "123\t45\t6789"]
)
def test_an_ssn_is_nine_digits_however_it_is_written(written):
    assert normalize_ssn(written) == "123456789"


@pytest.mark.parametrize("bad", ["١٢٣٤٥٦٧٨٩", "123-45-678", "123--456789x", "", "9876543210"])
def test_what_is_not_nine_digits_is_refused(bad):
    with pytest.raises(ValueError):
        normalize_ssn(bad)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="0123456789", min_size=8, max_size=10),
        st.sampled_from(["000123456", "666123456", "900123456", "123001234", "123450000"]),
        st.sampled_from(sorted(security.PLACEHOLDER_SSNS)),
        st.text(alphabet="0123456789-٣１ a", max_size=11),
    )
)
def test_plain_matchable_is_nine_ascii_digits_of_a_number_that_matches_people(text):
    """The census's fast check (one pattern) says what the rules say, one by one."""
    by_the_rules = (
        len(text) == 9 and text.isdigit() and text.isascii() and security.matches_people(text)
    )
    assert security.plain_matchable(text) is by_the_rules

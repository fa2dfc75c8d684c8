"""The common readings of the parsers of nearly-distinct columns (census.tabular.values: a
column's texts in the form nearly every cell has, read together) give exactly what the parser
gives, and leave every other text to the parser."""

from decimal import Decimal

import pytest

from billing_core.census.tabular.values import parse_money, parse_postal, parse_ssn

MONEY = ["55000", "055000", "0", "000", "999999999999999", "1234567890123456", "12.5", "1,000",
         "$55,000.00", "-5", "(5)", "", " 55000", "٣٣", "55000.00", "5e3", "91564.50", "0.05",
         ".50", "1.5", "1.505", "1.5٣", "55000.0a", "1234567890123456.00", "1e3.00"]  # fmt: skip
SSNS = ["123-45-6789", "078-05-1120", "219-09-9999", "123456789", "000-12-3456", "666-12-3456",
        "900-12-3456", "123-00-4567", "123-45-0000", "12-345-6789", "123 45 6789", "12345678",
        "", "١٢٣-٤٥-٦٧٨٩", "312-64-1234"]  # fmt: skip
POSTAL = ["02134", "2134", "12345", "12345-6789", "123456789", "١٢٣٤٥", "SW1A 1AA", "", "0213"]


def _parsed(parse, text):
    try:
        return parse(text)
    except ValueError as exc:
        return exc


@pytest.mark.parametrize(
    "parse",
    [
        parse_money("an annual salary"),
        parse_money("a pay rate", to_cent=False),
        parse_ssn,
        parse_postal,
    ],
)
def test_common_reading_is_the_parsers(parse):
    texts = MONEY + SSNS + POSTAL
    common = parse.common(texts)
    assert len(common) == len(texts)
    for text, value in zip(texts, common, strict=True):
        if value is None:
            continue  # left to the parser
        expected = _parsed(parse, text)
        assert value == expected, text
        assert type(value) is type(expected), text
        if isinstance(value, Decimal):
            assert value.as_tuple() == expected.as_tuple(), text  # same digits and places


def test_common_reading_takes_the_usual_forms():
    assert parse_money("x").common(["55000"]) == [Decimal("55000.00")]
    assert str(parse_money("x").common(["055000"])[0]) == "55000.00"
    assert parse_money("x", to_cent=False).common(["25"]) == [Decimal("25")]
    assert str(parse_money("x").common(["91564.50"])[0]) == "91564.50"
    assert parse_ssn.common(["312-64-1234", "312641234"]) == ["312641234", "312641234"]
    assert parse_postal.common(["02134"]) == ["02134"]
    # Never issued, a placeholder, blank or another form: the parser says or notes it.
    assert parse_ssn.common(["000-12-3456", "123-45-6789", "312-64-1234x", ""]) == [None] * 4
    assert parse_postal.common(["2134", "12345-6789"]) == [None, None]
    assert parse_money("x").common(["1,000", "12.5", "1.505", ""]) == [None] * 4

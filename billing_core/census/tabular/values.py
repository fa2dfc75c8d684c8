"""Census cell values: each parser takes the cleaned text of a non-blank cell and returns the
value, raises ValueError saying what was expected, or returns `Noted(value, note)` when the value
is read but a person should look (an SSN that is never issued, a foreign postcode).

The tabular reader calls a parser once per distinct text of a column, never once per cell.
A parser of a column whose texts are nearly all distinct (salaries, SSNs, ZIP codes) also has a
`common` reading: the texts in the form nearly every cell has (55000, 123-45-6789, 02134) read
together in one pass, the same values the parser returns, None for a text it leaves to the
parser (which then says what is wrong, or notes it).
Dates: YYYY-MM-DD, MM/DD/YYYY or DD/MM/YYYY (see DateParser), M/D/YY, YYYYMMDD, 15-Jan-2024,
Jan 15 2024, a trailing time, and five-digit Excel serials.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from billing_core.census.tabular.vocabulary import (
    BLANK_WORDS,
    TIER_FILLER,
    TIERS,
    WAIVE,
    token,
)
from billing_core.money import D, cents
from billing_core.security import matches_people, nine_digits, plain_matchable


class Noted:
    """A value read as written, with what a person should check about it (a warning)."""

    __slots__ = ("note", "value")

    def __init__(self, value: object, note: str):
        self.value = value
        self.note = note


_INNER_BREAKS = re.compile(r"[\t\r\n\v\f]+")


def clean_texts(texts: list[str]) -> list[str]:
    """The distinct texts of a column as read: surrounding white space dropped, tabs and line
    breaks inside a value (a quoted cell with an embedded CRLF) read as one space, and an
    export's null (`nil`, `NULL`) read as blank. Checks run over the joined texts first, so a
    clean column costs one pass in C."""
    stripped = [text.strip() for text in texts]
    joined = "\x00".join(stripped)
    if "\t" in joined or "\n" in joined or "\r" in joined or "\v" in joined or "\f" in joined:
        stripped = [_INNER_BREAKS.sub(" ", text) for text in stripped]
    nulls = BLANK_WORDS.intersection(stripped)
    if nulls:
        stripped = ["" if text in nulls else text for text in stripped]
    return stripped


def lookup(table: dict[str, object], expected: str) -> Callable[[str], object]:
    def parse(text: str) -> object:
        try:
            return table[token(text)]
        except KeyError:
            raise ValueError(expected) from None

    return parse


def parse_tier(text: str) -> object:
    found = TIERS.get(token(TIER_FILLER.sub(" ", text.lower())))
    if found is None:
        found = TIERS.get(token(text))
    if found is None:
        if re.fullmatch(r"(?i)\s*(ee|emp|employee)\s*\+\s*(1|one)\s*", text):
            raise ValueError(
                "EE+1 does not say spouse or child; expected ES (employee + spouse) or "
                "EC (employee + child(ren))"
            )
        raise ValueError("expected a coverage level: EE, ES, EC, FAM or Waive")
    return found


def tier_word(text: str) -> object:
    """The tier (or WAIVE) a plan cell's text names, else None."""
    return TIERS.get(token(TIER_FILLER.sub(" ", text.lower())))


def parse_plan(text: str) -> object:
    return WAIVE if TIERS.get(token(text)) is WAIVE else text


def parse_text(text: str) -> str:
    return text


_PLAIN_AMOUNT = re.compile(r"\d{1,15}(?:\.\d{1,9})?")


def parse_money(what: str, *, to_cent: bool = True) -> Callable[[str], Decimal]:
    """Dollars: '$1,234.00', '1234', '1,234.5'; negative amounts ('-5', '(1,234.00)') are
    refused. Rounded half-up to the cent unless `to_cent` is False (a rate that is multiplied
    first: 25.125 an hour)."""

    def parse(text: str) -> Decimal:
        if _whole_dollars(text):  # most salaries: 55000
            return cents(Decimal(text)) if to_cent else Decimal(text)
        try:
            if _PLAIN_AMOUNT.fullmatch(text):
                amount = Decimal(text)
            else:
                amount = D(text.replace("USD", "").replace(" ", ""))
        except ValueError:
            raise ValueError(f"expected {what} in dollars, e.g. 55000 or $55,000.00") from None
        if amount < 0:
            raise ValueError(f"{what} cannot be negative; expected an amount of 0 or more")
        return cents(amount) if to_cent else amount

    places = ".00" if to_cent else ""

    def common(texts: list[str]) -> list[Decimal | None]:
        # Whole dollars ("55000.00" read is the cent-rounded 55000: same digits and places)
        # and dollars and cents (91564.50: already to the cent).
        return [
            Decimal(text + places)
            if _whole_dollars(text)
            else Decimal(text)
            if _dollars_and_cents(text)
            else None
            for text in texts
        ]

    parse.common = common
    return parse


def _whole_dollars(text: str) -> bool:
    return len(text) <= 15 and text.isascii() and text.isdigit()


def _dollars_and_cents(text: str) -> bool:
    cents_part = text[-2:]
    return (
        text[-3:-2] == "."
        and _whole_dollars(text[:-3])
        and cents_part.isascii()
        and cents_part.isdigit()
    )


def parse_whole(what: str, low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            number = Decimal(text)
        except ArithmeticError:
            raise ValueError(f"expected {what}: a whole number from {low} to {high}") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError(f"expected {what}: a whole number from {low} to {high}")
        if not low <= number <= high:
            raise ValueError(f"expected {what} from {low} to {high}")
        return int(number)

    return parse


def parse_hours(text: str) -> Decimal:
    try:
        hours = Decimal(text)
    except ArithmeticError:
        hours = Decimal(-1)
    if not hours.is_finite() or not 0 < hours <= 168:
        raise ValueError("expected hours per week: a number above 0 and at most 168")
    return hours


_ZIP5 = re.compile(r"\d{3,5}")
_ZIP9 = re.compile(r"(\d{5})-?(\d{4})")
_ZIP9_AS_NUMBER = re.compile(r"\d{7,8}")
# A postcode of another country: letters and digits, at least one digit (SW1A 1AA, K1A 0B1,
# 121111), at most the 10 characters a postal code column holds.
_FOREIGN_POSTCODE = re.compile(r"(?=[^\d]*\d)[A-Za-z0-9][A-Za-z0-9 -]{2,9}")


def _common_postal(texts: list[str]) -> list[str | None]:
    """Five ASCII digits: the ZIP code as written (what `parse_postal` returns for them)."""
    return [
        text if len(text) == 5 and text.isascii() and text.isdigit() else None for text in texts
    ]


def parse_postal(text: str) -> object:
    digits = text.replace(" ", "")
    if _ZIP5.fullmatch(digits):
        # Spreadsheets drop the leading zeros of New England ZIP codes (02134 -> 2134).
        return digits.zfill(5)
    match = _ZIP9.fullmatch(digits)
    if match:
        return f"{match.group(1)}-{match.group(2)}"
    if _ZIP9_AS_NUMBER.fullmatch(digits):  # a ZIP+4 stored as a number: 021341234 -> 21341234
        nine = digits.zfill(9)
        return f"{nine[:5]}-{nine[5:]}"
    if _FOREIGN_POSTCODE.fullmatch(text):
        return Noted(text, "not a US ZIP code (a foreign postcode?); kept as written")
    raise ValueError("expected a 5-digit ZIP code or ZIP+4, e.g. 02134 or 02134-1234")


NOT_ISSUED = (
    "not an issued SSN (area 000, 666 or 9xx, group 00, serial 0000, or a placeholder such as "
    "123-45-6789); read as sent: check it"
)


def parse_ssn(text: str) -> object:
    """Nine digits, with or without dashes or spaces; a number never issued or a known
    placeholder (security.matches_people) is read with a note: test feeds use them, and an SSN that is never
    issued is never the member key."""
    digits = text.replace("-", "")
    if plain_matchable(digits):
        return digits  # what nearly every cell is
    try:
        digits = nine_digits(text)
    except ValueError as exc:
        hint = ""
        if 7 <= len(re.sub(r"\D", "", text)) <= 8 and not re.search(r"[^\d\s-]", text):
            hint = "; if a spreadsheet dropped leading zeros, format the SSN column as text"
        raise ValueError(f"{exc}{hint}") from None
    if not matches_people(digits):
        return Noted(digits, NOT_ISSUED)
    return digits


def _common_ssns(texts: list[str]) -> list[str | None]:
    """An issued number's nine digits, with or without dashes (what `parse_ssn` returns)."""
    found = [text.replace("-", "") for text in texts]
    return [digits if plain_matchable(digits) else None for digits in found]


parse_postal.common = _common_postal
parse_ssn.common = _common_ssns


# Dates -------------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_TIME_SUFFIX = re.compile(r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp][Mm])?)$")
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_NUMERIC = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SERIAL = re.compile(r"(\d{5})(?:\.\d+)?")
_DAY_MONTH = re.compile(r"(\d{1,2})[- ]([A-Za-z]{3,9})\.?[- ,]+(\d{4}|\d{2})")
_MONTH_DAY = re.compile(r"([A-Za-z]{3,9})\.?[ -](\d{1,2})(?:st|nd|rd|th)?,?[ -]+(\d{4}|\d{2})")
_EXCEL_EPOCH = date(1899, 12, 30)
DATE_EXAMPLES = "a date such as 2026-01-15, 01/15/2026 or 1/15/26"

TwoDigitYear = Callable[[int, int, int], int]


def century_latest(reference: date) -> TwoDigitYear:
    """Two-digit years for birth dates: the latest year not after `reference`."""

    def resolve(yy: int, month: int, day: int) -> int:
        year = reference.year // 100 * 100 + yy
        if (year, month, day) > (reference.year, reference.month, reference.day):
            year -= 100
        return year

    return resolve


def century_nearest(reference: date) -> TwoDigitYear:
    """Two-digit years for every other date: the year nearest to `reference`."""

    def resolve(yy: int, month: int, day: int) -> int:
        base = reference.year // 100 * 100
        return min(
            (base - 100 + yy, base + yy, base + 100 + yy), key=lambda y: abs(y - reference.year)
        )

    return resolve


# What the last date read said about the order of day and month (DateParser.order_seen).
MONTH_FIRST, DAY_FIRST, EITHER = "month first", "day first", "either"


class DateParser:
    """Dates of one column between `earliest` and `latest`.

    A numeric date n/n/yyyy (also with '-' or '.') is month first unless the first number
    cannot be a month (18/10/1980: day first). Each call leaves in `order_seen` what the text
    said: MONTH_FIRST, DAY_FIRST, EITHER (both numbers 12 or less: 05/04/1990) or None. The
    reader looks at the whole column: when no text was month first and some day first, the
    EITHER ones are read again with `day_first` set (see columns.settle_day_first)."""

    def __init__(self, what: str, two_digit: TwoDigitYear, earliest: date, latest: date):
        self.what = what
        self.two_digit = two_digit
        self.earliest = earliest
        self.latest = latest
        self.day_first = False
        self.order_seen: str | None = None

    def __call__(self, text: str) -> date:
        value = self.to_date(text)
        if value > self.latest:
            raise ValueError(f"{self.what} cannot be after {self.latest.isoformat()}")
        if value < self.earliest:
            raise ValueError(f"{self.what} cannot be before {self.earliest.isoformat()}")
        return value

    def to_date(self, text: str) -> date:
        self.order_seen = None
        two_digit = self.two_digit
        value = _TIME_SUFFIX.sub("", text.strip()) if ":" in text else text.strip()
        if (m := _ISO.fullmatch(value)) is not None:
            year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        elif (m := _NUMERIC.fullmatch(value)) is not None:
            first, second, written = int(m.group(1)), int(m.group(2)), m.group(3)
            if first > 12 >= second:
                self.order_seen = DAY_FIRST
                day, month = first, second
            elif second > 12 >= first:
                self.order_seen = MONTH_FIRST
                month, day = first, second
            else:
                if first <= 12 and first != second:
                    self.order_seen = EITHER
                day, month = (first, second) if self.day_first else (second, first)
            year = int(written) if len(written) == 4 else two_digit(int(written), month, day)
        elif (m := _COMPACT.fullmatch(value)) is not None and value[:2] in ("19", "20"):
            year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        elif (m := _SERIAL.fullmatch(value)) is not None:
            # Excel's day count (a date cell formatted as a number, or exported as one).
            return _EXCEL_EPOCH + timedelta(days=int(m.group(1)))
        elif (m := _DAY_MONTH.fullmatch(value)) is not None and m.group(2).lower() in _MONTHS:
            day, month, year = int(m.group(1)), _MONTHS[m.group(2).lower()], m.group(3)
            year = int(year) if len(year) == 4 else two_digit(int(year), month, day)
        elif (m := _MONTH_DAY.fullmatch(value)) is not None and m.group(1).lower() in _MONTHS:
            month, day, year = _MONTHS[m.group(1).lower()], int(m.group(2)), m.group(3)
            year = int(year) if len(year) == 4 else two_digit(int(year), month, day)
        else:
            raise ValueError(f"expected {DATE_EXAMPLES}")
        try:
            return date(year, month, day)
        except ValueError:
            raise ValueError(f"not a real date; expected {DATE_EXAMPLES}") from None


def years_after(on: date, years: int) -> date:
    try:
        return on.replace(year=on.year + years)
    except ValueError:  # 29 February
        return on.replace(year=on.year + years, day=28)

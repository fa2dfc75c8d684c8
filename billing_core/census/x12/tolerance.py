"""What real 834 senders write that the implementation guide does not allow, read the way they
meant it. Pure functions over element lists and values: the reader (census.x12.members) turns
what they return into warnings (the file is applied as read, a person should look), never into
errors.

Kept apart from the reader so its per-segment path stays short: each helper is called only on
the segments it concerns (an INS, an NM1's SSN, a value holding `;`).
"""

from __future__ import annotations

from datetime import date

from billing_core.census.x12.codes import BENEFIT_STATUS, EMPLOYMENT_STATUS

# An end date this far out is a sender's "no end" (22991231, 99991231), not a date to bill to.
OPEN_ENDED_YEAR = 2200

_NOTHING: tuple = ()

# An INS with every element it can carry: INS01..INS15 (the death date may be one late, INS13).
INS_ELEMENTS = 16


def open_ended(day: date | None) -> date | None:
    """`day`, or None when it is a sender's "no end" (a year of 2200 or later)."""
    if day is not None and day.year >= OPEN_ENDED_YEAR:
        return None
    return day


def read_ins_statuses(el: list[str]) -> tuple[str, str, str | None, str, tuple | list]:
    """Benefit status (INS05), employment status (INS08), the date of death as sent (INS12 in
    D8, else None) and the element it was in, and the deviations read through, as (column,
    message, value) for warnings. `el` has INS_ELEMENTS elements.

    Shifts seen in state feeds: the codes one element late (INS08 empty, an employment status
    in INS09, and so the death date format in INS12 and the date in INS13); INS05 left blank
    with the benefit status in INS06 and everything after it one late too; only the death date
    one late (INS12 D8, date in INS13). A blank INS05 otherwise reads as A (active)."""
    benefit, employment = el[5], el[8]
    notes: tuple | list = _NOTHING
    death_at = 12
    if not employment and el[9] in EMPLOYMENT_STATUS:
        employment, death_at = el[9], 13
        if not benefit and el[6] in BENEFIT_STATUS:
            benefit = el[6]
            notes = [
                (
                    "INS05",
                    f"INS05 is blank and the INS codes sit one element late (benefit status "
                    f"{benefit} in INS06, employment status {employment} in INS09): read as "
                    "if in their places",
                    benefit,
                )
            ]
        else:
            notes = [
                (
                    "INS08",
                    f"the INS codes sit one element late (employment status {employment} in "
                    "INS09, INS08 empty): read as if in their places",
                    employment,
                )
            ]
    if not benefit:
        benefit = "A"
        notes = [*notes, ("INS05", "INS05 (benefit status) is blank: read as A (active)", "")]
    death = None
    death_column = f"INS{death_at:02d}"
    if el[death_at - 1] == "D8" and el[death_at]:
        death = el[death_at]
    elif el[death_at] == "D8" and el[death_at + 1]:
        death, death_column = el[death_at + 1], f"INS{death_at + 1:02d}"
        notes = [
            *notes,
            (
                death_column,
                f"the date of death sits one element late (D8 in INS{death_at:02d}, the date "
                f"in {death_column}): read as the date of death",
                el[death_at + 1],
            ),
        ]
    return benefit, employment, death, death_column, notes


def first_packed(value: str) -> str:
    """The first of the `;`-packed values a sender put in one element (`123;01` -> `123`)."""
    return value.split(";", 1)[0].strip()


# ITIN group numbers (the middle two digits) under a 9xx area: 50-65, 70-88, 90-92, 94-99.
_ITIN_GROUPS = frozenset(
    f"{n:02d}" for n in (*range(50, 66), *range(70, 89), *range(90, 93), *range(94, 100))
)


def ssn_problem(digits: str) -> str | None:
    """What is wrong with nine digits sent as an SSN, in words; None for a number that could
    have been issued. Test and de-identified feeds use numbers never issued, real feeds carry
    ITINs: the member key is REF*0F, so each is a warning and the digits are kept as sent."""
    if digits == "123456789":
        return "123-45-6789 is a placeholder, never issued as an SSN"
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area.startswith("9"):
        if group in _ITIN_GROUPS:
            return "an ITIN (a taxpayer number for people without an SSN), not an SSN"
        return "area 9xx is never issued as an SSN"
    if area in ("000", "666"):
        return f"area {area} is never issued as an SSN"
    if group == "00":
        return "group 00 is never issued as an SSN"
    if serial == "0000":
        return "serial 0000 is never issued as an SSN"
    return None

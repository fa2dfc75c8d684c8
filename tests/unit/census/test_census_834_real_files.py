"""The seven real 834 files of ../shared/real-files/x12 (provenance and quirks in its
SOURCES.md), read as they are: every one is read, with the warnings a person should see.
They are not copied into the project (their licences are not ours): the tests skip when the
folder is absent."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from billing_core.census.rows import Maintenance
from billing_core.census.x12 import acknowledgement_999, read_834, segments
from billing_core.models.enums import Gender, LineOfCoverage, MemberStatus, UploadKind

REAL = Path(__file__).resolve().parents[4] / "shared" / "real-files" / "x12"
if not REAL.is_dir():  # the working tree may sit elsewhere: the machine's shared folder
    REAL = Path("/work/shared/real-files/x12")

pytestmark = pytest.mark.skipif(
    not REAL.is_dir(), reason=f"the real 834 files are not on this machine ({REAL})"
)

MEDICAL = LineOfCoverage.MEDICAL
MASSHEALTH_ID = "100000000999"
DHCS_ID = "91234567S"


def read(name: str):
    return read_834((REAL / name).read_bytes(), name)


def warned(census) -> list[tuple[str | None, str]]:
    """(column, first words of the message) per warning, in order."""
    return [(w.column, w.message) for w in census.warnings]


def has(census, column: str, words: str) -> bool:
    return any(w.column == column and words in w.message for w in census.warnings)


def rows(census) -> list[tuple]:
    return [
        (
            m.employee_id,
            m.last_name,
            m.first_name,
            m.birth_date,
            m.status,
            m.maintenance,
            m.maintenance_date,
            [(c.line, c.plan_code, c.tier, c.effective_from, c.effective_to) for c in m.coverages],
        )
        for m in census.members
    ]


ARIEA_ADD = (
    MASSHEALTH_ID,
    "LEBB",
    "ARIEA",
    date(1979, 10, 6),
    MemberStatus.ACTIVE,
    Maintenance.ADD,
    date(2019, 7, 1),
    [(MEDICAL, "ACCS1", None, date(2019, 7, 1), None)],  # 22991231: no end
)
ALEX_TERM = (
    MASSHEALTH_ID,
    "DEL GARDE ALEX",  # the whole name in NM103, read as sent
    "J",
    date(1976, 3, 16),
    MemberStatus.TERMINATED,
    Maintenance.TERM,
    date(2019, 6, 12),
    [(MEDICAL, "BHCP", None, date(2018, 7, 1), date(2019, 6, 12))],
)


def test_masshealth_reenrollment_is_an_add_with_no_end():
    census = read("masshealth-acp-reenrollment.834")

    assert census.errors == []
    assert (census.kind, census.as_of) == (UploadKind.CHANGE, date(2019, 6, 12))
    assert rows(census) == [ARIEA_ADD]
    (member,) = census.members
    assert (member.ssn, member.subgroup_code, member.postal_code) == (
        "019999971",
        "58555RVATTU0",  # REF*DX
        "015010000",
    )
    assert member.dependents == [] and not member.dependents_only
    # U+2028 between ST, BGN and DTP are line breaks: BGN is read (the file is a change file)
    assert warned(census) == [
        ("SE01", "the trailer counts 34 segments but 33 were read: read as sent")
    ]


def test_masshealth_disenrollment_splits_the_dmg_that_lost_its_terminator():
    census = read("masshealth-acp-disenrollment.834")

    assert census.errors == []
    assert rows(census) == [ALEX_TERM]
    assert census.members[0].gender is Gender.MALE
    assert [w.column for w in census.warnings] == ["DMG", "SE01"]
    assert census.warnings[0].row == "line 17 of the file"
    assert has(census, "DMG", "ends at the line break without its terminator")
    assert has(census, "SE01", "counts 21 segments but 20 were read")


def test_masshealth_combined_file_reads_add_term_add_in_order():
    census = read("masshealth-acp-combined-add-term-missing-terminator.834")

    assert census.errors == []
    assert rows(census) == [ARIEA_ADD, ALEX_TERM, ARIEA_ADD]
    assert [m.source_row for m in census.members] == [
        "ST 4001, INS #1",
        "ST 4001, INS #2",
        "ST 4001, INS #3",
    ]
    assert [w.column for w in census.warnings] == ["DMG", "INS", "INS", "SE01"]
    assert census.warnings[0].row == "line 44 of the file"
    assert has(census, "INS", "is listed more than once (first at ST 4001, INS #1)")
    assert has(census, "INS", "is sent again exactly as at ST 4001, INS #1")
    assert has(census, "SE01", "counts 75 segments but 74 were read")


def test_masshealth_name_change_is_a_change_keyed_by_ref_0f():
    census = read("masshealth-acp-change-name.834")

    assert census.errors == []
    ((employee_id, last, first, *_rest, maintenance, on, lines),) = rows(census)
    assert (employee_id, last, first) == (MASSHEALTH_ID, "LEBB", "ARIEL")
    assert (maintenance, on) == (Maintenance.CHANGE, date(2019, 7, 1))
    assert lines == [(MEDICAL, "ACCS1", None, date(2019, 7, 1), None)]
    assert [w.column for w in census.warnings] == ["SE01"]


def test_masshealth_start_date_change_names_the_disagreeing_dates():
    census = read("masshealth-acp-change-start-date.834")

    assert census.errors == []
    (member,) = census.members
    assert (member.maintenance, member.maintenance_date) == (Maintenance.CHANGE, date(2019, 7, 1))
    assert [(c.effective_from, c.effective_to) for c in member.coverages] == [
        (date(2019, 7, 1), None)
    ]
    assert [w.column for w in census.warnings] == ["DTP", "SE01"]
    assert has(
        census,
        "DTP",
        "the HMO coverage begins (2019-07-01) before the member's eligibility begins "
        "(DTP*356 2019-07-02)",
    )


def test_dhcs_change_reads_through_the_shifted_codes_and_packed_values():
    census = read("oopfactory-dhcs-change-packed-ref-indented-bom.834")

    assert census.errors == []
    assert (census.kind, census.as_of) == (UploadKind.CHANGE, date(2011, 8, 15))
    assert rows(census) == [
        (
            DHCS_ID,
            "JOHN",  # last and first swapped by the sender: read as sent
            "DOE",
            date(1945, 2, 6),
            MemberStatus.ACTIVE,  # AC, one element late
            Maintenance.CHANGE,
            date(2011, 8, 1),
            [(MEDICAL, "123", None, date(2011, 8, 1), date(2011, 8, 31))],  # HD04 123;01
        )
    ]
    (member,) = census.members
    assert (member.subgroup_code, member.postal_code, member.ssn) == ("201208", "958142384", None)
    assert [w.column for w in census.warnings] == ["BGN08", "INS08", "HD04"]
    assert has(census, "BGN08", "the action code sits in BGN07")
    assert has(census, "INS08", "employment status AC in INS09")
    assert has(census, "HD04", "';'-packed values: the first (123) is read")
    assert census.control_totals.employees is None  # QTY*TO only
    assert census.detail["control_total_members"] == 1


def test_dhcs_death_sent_as_a_change_is_a_termination_at_the_date_of_death():
    census = read("oopfactory-dhcs-term-ins12-death-indented-bom.834")

    assert census.errors == []
    (member,) = census.members
    assert (member.maintenance, member.maintenance_date, member.status) == (
        Maintenance.TERM,
        date(2011, 5, 15),
        MemberStatus.TERMINATED,
    )
    # the line would begin after the death: ended before it began, nothing billed
    assert [(c.effective_from, c.effective_to) for c in member.coverages] == [
        (date(2011, 8, 1), date(2011, 5, 15))
    ]
    assert [w.column for w in census.warnings] == ["BGN08", "INS08", "HD04", "INS03", "DTP"]
    assert has(census, "INS03", "a death on 2011-05-15 sent as a change (001)")
    assert has(census, "DTP", "begins (2011-08-01) after the date of death (2011-05-15)")


@pytest.mark.parametrize(
    "name, ik5",
    [
        ("masshealth-acp-reenrollment.834", ["IK5", "E", "4"]),
        ("oopfactory-dhcs-change-packed-ref-indented-bom.834", ["IK5", "E"]),
    ],
)
def test_every_real_file_is_accepted_in_its_999_with_its_deviations_noted(name, ik5):
    data = (REAL / name).read_bytes()
    ack = segments(acknowledgement_999(read_834(data, name), data))

    assert ik5 in ack
    assert any(s[0] == "AK9" and s[1] == "E" for s in ack)


def test_every_real_file_is_read():
    names = sorted(p.name for p in REAL.iterdir() if p.suffix == ".834")

    assert len(names) == 7
    for name in names:
        census = read(name)
        assert census.errors == [], (name, [str(e) for e in census.errors])
        assert census.members, name

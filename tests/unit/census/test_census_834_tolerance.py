"""The 834 reader on what real senders write (DOMAIN.md "Real files", issue 15 point 2): what
is read with a warning, what is refused and why, per-person and per-line maintenance, and that
no bytes ever make it raise. Inline texts built with the helpers of test_census_834."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_core.census.rows import Maintenance
from billing_core.census.x12 import acknowledgement_999, read_834, segments
from billing_core.models.enums import LineOfCoverage, MemberStatus, Relationship, UploadKind
from tests.unit.census.test_census_834 import (
    NOW,
    dependent,
    interchange,
    position,
    read,
    subscriber,
    transaction,
)

MEDICAL, DENTAL, VISION = LineOfCoverage.MEDICAL, LineOfCoverage.DENTAL, LineOfCoverage.VISION


def messages(problems) -> list[str]:
    return [str(p) for p in problems]


def one_warning(census, words: str):
    found = [w for w in census.warnings if words in w.message]
    assert len(found) == 1, messages(census.warnings)
    return found[0]


# --- dependent-only maintenance ----------------------------------------------------------------


def test_a_dependent_sent_without_its_subscriber_is_dependent_only_maintenance():
    spouse = dependent("E1001", "01", name="WORKER01*SAM", dob="19820201")
    census = read(interchange(transaction(spouse)))

    assert census.errors == [] and census.warnings == []
    (row,) = census.members
    assert (row.employee_id, row.dependents_only, row.source_row) == (
        "E1001",
        True,
        "ST 0001, INS #1",
    )
    assert (row.first_name, row.maintenance, row.coverages) == ("", None, [])
    (added,) = row.dependents
    assert (added.first_name, added.relationship) == ("SAM", Relationship.SPOUSE)
    assert (added.maintenance, added.maintenance_date) == (Maintenance.ADD, date(2026, 2, 1))
    assert added.lines == {MEDICAL}


def test_dependent_only_loops_are_grouped_per_subscriber_and_keep_their_own_maintenance():
    ended = ["INS*N*19*024*07*A", "REF*0F*E1001", "NM1*IL*1*WORKER01*KIM"]
    ended += ["HD*024**HLT*MED-PPO*FAM", "DTP*348*D8*20240101", "DTP*349*D8*20261231"]
    changed = ["INS*N*01*001*AI*A", "REF*0F*E1001", "DTP*303*D8*20270101"]
    changed += ["NM1*IL*1*WORKER01*SAMANTHA", "DMG*D8*19820201*F"]
    other = dependent("E1002", "19", name="WORKER02*JO", dob="20260915")
    census = read(interchange(transaction(ended, changed, other)))

    assert census.errors == []
    first, second = census.members
    assert [(m.employee_id, m.dependents_only) for m in census.members] == [
        ("E1001", True),
        ("E1002", True),
    ]
    kim, sam = first.dependents
    assert (kim.maintenance, kim.maintenance_date, kim.effective_to) == (
        Maintenance.TERM,
        date(2026, 12, 31),
        date(2026, 12, 31),
    )
    assert (sam.first_name, sam.maintenance, sam.maintenance_date) == (
        "SAMANTHA",
        Maintenance.CHANGE,
        date(2027, 1, 1),
    )
    assert [d.maintenance for d in second.dependents] == [Maintenance.ADD]


def test_a_dependent_term_with_only_an_eligibility_end_is_read():
    ended = ["INS*N*19*024*07*A", "REF*0F*E1001", "DTP*357*D8*20261231", "NM1*IL*1*WORKER01*KIM"]
    census = read(interchange(transaction(ended)))

    assert census.errors == []
    (kim,) = census.members[0].dependents
    assert (kim.maintenance, kim.effective_to, kim.maintenance_date) == (
        Maintenance.TERM,
        date(2026, 12, 31),
        date(2026, 12, 31),
    )


def test_a_dependent_in_a_later_set_than_its_subscriber_joins_its_row():
    first = transaction(subscriber("E1001"), control="0001")
    second = transaction(dependent("E1001", "01", name="WORKER01*SAM"), control="0002")
    census = read(interchange(first, second))

    assert census.errors == []
    (row,) = census.members
    assert not row.dependents_only
    assert [d.first_name for d in row.dependents] == ["SAM"]


def test_a_dependent_only_loop_needs_the_subscribers_id():
    orphan = ["INS*N*19*021*28*A", "NM1*IL*1*WORKER01*KIM", "HD*021**HLT*P*FAM"]
    orphan.append("DTP*348*D8*20270101")
    census = read(interchange(transaction(orphan)))

    (error,) = census.errors
    assert error.column == "REF" and "needs REF*0F" in error.message
    assert census.members == []


def test_a_full_file_lists_every_dependent_under_its_subscriber():
    orphan = dependent("E1001", "01")
    orphan[0] = "INS*N*01*030*XN*A"
    census = read(interchange(transaction(orphan, kind="4")))

    (error,) = census.errors
    assert (error.column, error.value) == ("INS01", "N")
    assert "full file" in error.message


def test_a_dependent_before_its_subscriber_in_the_same_set_is_still_an_error():
    segs = transaction(dependent("E1", "19"), subscriber("E1"))
    census = read(interchange(segs))

    (error,) = census.errors
    assert error.row == f"ST 0001, INS #1, segment {position(segs, 'INS')}"
    assert "before any subscriber" in error.message
    assert [m.employee_id for m in census.members] == ["E1"]
    assert census.members[0].dependents == []


def test_a_dependent_whose_id_differs_after_a_subscriber_is_linked_by_order():
    census = read(interchange(transaction(subscriber("E1"), dependent("X-99", "01"))))

    assert census.errors == []
    one_warning(census, "linked to that subscriber by order")
    assert len(census.members) == 1 and len(census.members[0].dependents) == 1


# --- coverage lines: HD01 per line, end dates, cancels, deaths ---------------------------------


def test_one_member_loop_adds_changes_ends_and_deletes_lines():
    member = ["INS*Y*18*001*AI*A***FT", "REF*0F*E1003", "NM1*IL*1*WORKER03*PAT"]
    member += ["HD*021**VIS*VIS-1*EMP", "DTP*348*D8*20270101"]
    member += ["HD*001**HLT*MED-PPO*ESP", "DTP*303*D8*20270101", "DTP*348*D8*20240101"]
    member += ["HD*024**DEN*DEN-PPO*EMP", "DTP*348*D8*20240101", "DTP*349*D8*20261231"]
    member += ["HD*002**LIF*BLIFE*EMP", "DTP*348*D8*20240101", "DTP*349*D8*20261130"]
    census = read(interchange(transaction(member)))

    assert census.errors == [] and census.warnings == []
    (row,) = census.members
    assert [(c.line, c.effective_from, c.effective_to) for c in row.coverages] == [
        (VISION, date(2027, 1, 1), None),
        (MEDICAL, date(2027, 1, 1), None),
        (DENTAL, date(2024, 1, 1), date(2026, 12, 31)),
        (LineOfCoverage.BASIC_LIFE, date(2024, 1, 1), date(2026, 11, 30)),
    ]
    assert row.maintenance_date == date(2027, 1, 1)


def test_a_deleted_line_needs_its_end_like_an_ended_one():
    member = ["INS*Y*18*001*AI*A***FT", "REF*0F*E1003", "NM1*IL*1*WORKER03*PAT"]
    member += ["HD*002**DEN*DEN-PPO*EMP", "DTP*348*D8*20240101"]
    census = read(interchange(transaction(member)))

    assert [e.column for e in census.errors] == ["DTP"]
    assert "no DTP*349" in census.errors[0].message


def test_an_unknown_hd01_skips_that_line_only_and_names_it():
    member = ["INS*Y*18*001*AI*A***FT", "REF*0F*E1004", "NM1*IL*1*WORKER04*PAT"]
    member += ["HD*099**DEN*DEN-PPO*EMP", "DTP*348*D8*20270101"]
    member += ["HD*021**VIS*VIS-1*EMP", "DTP*348*D8*20270101"]
    census = read(interchange(transaction(member)))

    assert census.errors == []
    warning = one_warning(census, "unknown coverage maintenance code 099")
    assert (warning.column, warning.value) == ("HD01", "099")
    assert "the DEN line (plan DEN-PPO) is skipped" in warning.message
    assert [c.line for c in census.members[0].coverages] == [VISION]


@pytest.mark.parametrize("where", ["2000", "2000-after-hd-less-term"])
def test_a_termination_with_only_an_eligibility_end_ends_every_line(where):
    member = ["INS*Y*18*024*07*A***TE", "REF*0F*E1005", "DTP*357*D8*20261231"]
    member += ["NM1*IL*1*WORKER05*PAT"]
    if where == "2000":
        member += ["HD*024**HLT*MED-PPO*EMP", "HD*024**DEN*DEN-PPO*EMP"]
    census = read(interchange(transaction(member)))

    assert census.errors == [] and census.warnings == []
    (row,) = census.members
    assert (row.maintenance, row.maintenance_date) == (Maintenance.TERM, date(2026, 12, 31))
    assert {c.effective_to for c in row.coverages} <= {date(2026, 12, 31)}


def test_a_349_misplaced_in_loop_2000_ends_the_lines_with_a_warning():
    member = ["INS*Y*18*024*07*A***TE", "REF*0F*E1006", "DTP*349*D8*20261130"]
    member += ["NM1*IL*1*WORKER06*PAT", "HD*024**HLT*MED-PPO*EMP"]
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert one_warning(census, "in the member's loop 2000").column == "DTP01"
    (row,) = census.members
    assert [c.effective_to for c in row.coverages] == [date(2026, 11, 30)]
    assert row.maintenance_date == date(2026, 11, 30)


def test_a_357_in_a_coverage_loop_is_read_as_its_end_with_a_warning():
    member = ["INS*Y*18*024*07*A***TE", "REF*0F*E1006", "NM1*IL*1*WORKER06*PAT"]
    member += ["HD*024**HLT*MED-PPO*EMP", "DTP*348*D8*20240101", "DTP*357*D8*20261130"]
    census = read(interchange(transaction(member)))

    assert census.errors == []
    one_warning(census, "DTP*357 (eligibility end) in a coverage loop")
    assert [c.effective_to for c in census.members[0].coverages] == [date(2026, 11, 30)]


def test_22991231_is_no_end():
    member = subscriber("E1007", start="20270101")
    member[1:1] = ["DTP*357*D8*22991231"]
    member += ["DTP*349*D8*22991231"]
    census = read(interchange(transaction(member)))

    assert census.errors == [] and census.warnings == []
    assert [c.effective_to for c in census.members[0].coverages] == [None]


def test_a_cancel_from_inception_ends_the_line_the_day_before_it_began():
    member = ["INS*Y*18*024*07*A***TE", "REF*0F*E1008", "NM1*IL*1*WORKER08*PAT"]
    member += ["HD*024**HLT*MED-PPO*EMP", "DTP*348*D8*20270101", "DTP*349*D8*20270101"]
    census = read(interchange(transaction(member)))

    assert census.errors == []
    warning = one_warning(census, "cancelled from inception")
    assert "nothing billed" in warning.message
    (row,) = census.members
    (line,) = row.coverages
    assert (line.effective_from, line.effective_to) == (date(2027, 1, 1), date(2026, 12, 31))
    assert row.maintenance_date == date(2026, 12, 31)


@pytest.mark.parametrize(
    "ins",
    [
        "INS*Y*18*001*AI*A***TE***D8*20261215",  # the guide's places: INS11 D8, INS12 the date
        "INS*Y*18*001*03*A***AC****D8*20261215",  # only the date one late
        "INS*Y*18*001*AI*A****TE***D8*20261215",  # every code one late (a state feed)
    ],
    ids=["ins12", "ins13", "shifted"],
)
def test_a_death_sent_as_a_change_is_a_termination_at_the_date_of_death(ins):
    member = subscriber("E1009", ins=ins, hd_maintenance="001", start="20240101")
    member += ["HD*021**DEN*DEN-PPO*EMP", "DTP*348*D8*20270101"]
    census = read(interchange(transaction(member)))

    assert census.errors == []
    one_warning(census, "a death on 2026-12-15 sent as a change (001)")
    (row,) = census.members
    assert (row.maintenance, row.maintenance_date) == (Maintenance.TERM, date(2026, 12, 15))
    assert [c.effective_to for c in row.coverages] == [date(2026, 12, 15)] * 2
    one_warning(census, "after the date of death")  # the dental line never began


def test_a_death_reason_without_a_date_is_a_termination_dated_by_its_lines():
    member = subscriber("E1009", ins="INS*Y*18*001*03*A***TE", hd_maintenance="024")
    member += ["DTP*349*D8*20261215"]
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert census.members[0].maintenance is Maintenance.TERM
    assert census.members[0].maintenance_date == date(2026, 12, 15)


def test_a_death_date_that_is_not_a_date_is_an_error():
    census = read(interchange(transaction(subscriber(ins="INS*Y*18*024*03*A***TE***D8*2026"))))

    assert ("INS12", "2026") in [(e.column, e.value) for e in census.errors]


# --- INS, REF and BGN deviations ---------------------------------------------------------------


def test_a_blank_ins05_reads_as_active():
    census = read(interchange(transaction(subscriber(ins="INS*Y*18*021*28****FT"))))

    assert census.errors == []
    assert one_warning(census, "INS05 (benefit status) is blank").column == "INS05"
    assert census.members[0].status is MemberStatus.ACTIVE


def test_a_blank_ins05_with_the_codes_one_late_is_read_shifted():
    census = read(interchange(transaction(subscriber(ins="INS*Y*18*021*28**C***TE"))))

    assert census.errors == []
    one_warning(census, "INS05 is blank and the INS codes sit one element late")
    assert census.members[0].status is MemberStatus.COBRA


def test_ref_of_is_read_as_ref_0f():
    member = subscriber("E1010")
    member[1] = "REF*OF*E1010"
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert one_warning(census, "REF*OF").column == "REF01"
    assert census.members[0].employee_id == "E1010"


def test_a_subscriber_that_is_not_self_is_a_child_only_policy():
    census = read(interchange(transaction(subscriber("E1011", ins="INS*Y*19*021*28*A"))))

    assert census.errors == []
    warning = one_warning(census, "child-only policy")
    assert (warning.column, warning.value) == ("INS02", "19")
    assert census.members[0].employee_id == "E1011"


def test_packed_values_are_read_by_their_first_part():
    member = subscriber("E1012;X", hds=(("HLT", "MED-PPO;01", "EMP"),))
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert {w.column for w in census.warnings} == {"REF02", "HD04"}
    assert census.members[0].employee_id == "E1012"
    assert census.members[0].coverages[0].plan_code == "MED-PPO"


def test_the_bgn_action_code_in_bgn07_is_read_with_a_warning():
    segs = transaction(subscriber("E1"))
    segs[1] = "BGN*00*REF1*20260115*0930***2"
    census = read(interchange(segs))

    assert census.errors == []
    assert census.kind is UploadKind.CHANGE
    assert one_warning(census, "BGN07").column == "BGN08"


def test_the_same_member_twice_in_a_change_file_is_read_in_order_with_warnings():
    added = subscriber("E1013", start="20270101")
    ended = subscriber("E1013", ins="INS*Y*18*024*07*A***TE", hd_maintenance="024")
    ended += ["DTP*349*D8*20270131"]
    census = read(interchange(transaction(added, ended, added)))

    assert census.errors == []
    assert [m.maintenance for m in census.members] == [
        Maintenance.ADD,
        Maintenance.TERM,
        Maintenance.ADD,
    ]
    again = one_warning(census, "listed more than once (first at ST 0001, INS #1)")
    assert again.row.startswith("ST 0001, INS #2 (employee E1013)")
    exact = one_warning(census, "sent again exactly as at ST 0001, INS #1")
    assert exact.row.startswith("ST 0001, INS #3 (employee E1013)")


def test_the_premium_a_sender_states_is_kept_as_advisory():
    member = subscriber("E1014", demographics=("DMG*D8*19800114*F", "AMT*P3*648.20"))
    member += ["AMT*P3*38.20"]
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert [(p["employee_id"], p["line"], p["amount"]) for p in census.detail[
        "reported_premiums"
    ]] == [("E1014", None, "648.20"), ("E1014", "medical", "38.20")]  # fmt: skip
    assert "686.40 in all" in one_warning(census, "AMT*P3").message
    assert isinstance(Decimal(census.detail["reported_premiums"][0]["amount"]), Decimal)


# --- refused -----------------------------------------------------------------------------------


def test_the_exchange_834_is_refused():
    text = interchange(transaction(subscriber())).decode().replace("005010X220A1", "005010X307")
    census = read(text.encode())

    assert {e.column for e in census.errors} == {"GS08", "ST03"}
    assert all("exchange (marketplace) 834" in e.message for e in census.errors)


def test_a_gs08_naming_another_guide_is_read_when_st01_says_834():
    text = interchange(transaction(subscriber())).decode()
    census = read(text.replace("*X*005010X220A1~", "*X*005010X218~").encode())

    assert census.errors == []
    warning = one_warning(census, "GS08 names 005010X218")
    assert warning.row == "segment 2 of the file"
    assert len(census.members) == 1


@pytest.mark.parametrize(
    "drop, words",
    [
        ("BGN*", "no BGN beginning segment"),
        ("N1*P5*", "no sponsor loop (N1*P5)"),
        ("N1*IN*", "no payer loop (N1*IN)"),
    ],
)
def test_a_set_without_bgn_sponsor_or_payer_is_refused(drop, words):
    segs = [s for s in transaction(subscriber()) if not s.startswith(drop)]
    segs[-1] = f"SE*{len(segs)}*0001"
    census = read(interchange(segs))

    assert words in " ".join(e.message for e in census.errors)


def test_a_full_file_of_adds_is_refused_and_a_full_file_with_one_add_is_read():
    adds = transaction(subscriber("E1"), subscriber("E2"), kind="4")
    census = read(interchange(adds))

    (error,) = census.errors
    assert (error.row, error.column) == ("ST 0001, segment 2", "BGN08")
    assert "every subscriber is an add" in error.message
    assert census.detail["transaction_sets"][0]["accepted"] is False

    audit = subscriber("E1", ins="INS*Y*18*030*XN*A***FT", hd_maintenance="030")
    assert read(interchange(transaction(audit, subscriber("E2"), kind="4"))).errors == []


@pytest.mark.parametrize(
    "data",
    [
        b"ISA*00*",
        b"ISA*00*          *00*          *ZZ*ACME",
        b"\xef\xbb\xbfISA",
        b"ISA**00**",
        "ISA*00*\u00e9\u00e9*".encode(),
        b"\x00\x01\x02ISA",
        b"GS*BE*A*B~ST*834*1~",
    ],
)
def test_a_broken_envelope_is_refused_without_members(data):
    census = read(data)

    assert census.errors and census.members == []


# --- the text: separators, line breaks, terminators --------------------------------------------


def test_a_file_without_members_changes_nothing_and_says_so():
    census = read(interchange(transaction()))

    assert census.errors == [] and census.members == []
    assert one_warning(census, "lists no members").row is None


def test_a_segment_whose_terminator_was_lost_before_its_line_break_is_split_there():
    text = interchange(transaction(subscriber("E1")), suffix="\n").decode()
    text = text.replace("DMG*D8*19860412*F~\n", "DMG*D8*19860412*F\n")
    census = read(text.encode())

    assert census.errors == []
    warning = one_warning(census, "without its terminator")
    assert (warning.row, warning.column) == ("line 10 of the file", "DMG")
    assert census.members[0].birth_date == date(1986, 4, 12)


def test_unicode_line_separators_between_segments_are_line_breaks():
    text = interchange(transaction(subscriber("E1")), suffix="\u2028").decode()
    census = read(text.encode())

    assert census.errors == [] and census.warnings == []
    assert census.members[0].employee_id == "E1"


def test_an_isa_that_is_not_fixed_width_is_read_with_a_warning():
    census = read(interchange(transaction(subscriber("E1")), fixed=False))

    assert census.errors == []
    assert one_warning(census, "not fixed width").row == "segment 1 of the file"


def test_an_old_isa12_before_a_5010_group_and_odd_separators_are_read():
    text = interchange(transaction(subscriber("E1")), comp="\\").decode()
    text = text.replace("*^*00501*", "*!*00200*", 1)
    census = read(text.encode())

    assert census.errors == []
    assert one_warning(census, "00200 does not match").column == "ISA12"
    assert census.detail["separators"]["component"] == "\\"


# --- the 999 -----------------------------------------------------------------------------------


def test_a_set_read_with_deviations_is_accepted_with_notes():
    segs = transaction(subscriber("E1", ins="INS*Y*18*021*28****FT"))
    data = interchange(segs)
    ack = segments(acknowledgement_999(read(data), data, now=NOW))

    assert ["IK3", "INS", str(position(segs, "INS")), "2000", "8"] in ack
    assert ["IK4", "5", "", "7"] in ack
    assert ["IK5", "E"] in ack
    assert ["AK9", "E", "1", "1", "1"] in ack


def test_warnings_that_are_not_the_senders_syntax_leave_the_999_accepting():
    data = interchange(transaction(subscriber("E1", name="A*B****34*123456789")))
    census = read(data)
    ack = segments(acknowledgement_999(census, data, now=NOW))

    assert census.warnings and census.errors == []
    assert ["IK5", "A"] in ack and ["AK9", "A", "1", "1", "1"] in ack


# --- never a traceback -------------------------------------------------------------------------

_SAMPLE = interchange(
    transaction(
        subscriber("E1", extra=("DTP*357*D8*20261231",)),
        dependent("E1", "01"),
        dependent("E9", "19", ins_maintenance="024"),
    ),
    transaction(dependent("E2", "01"), control="0002"),
    suffix="\n",
).decode()


def _unreadable(census) -> bool:
    return any("could not be read past this point" in e.message for e in census.errors)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data):
    census = read_834(data, "random.834")

    assert census.errors or census.members
    assert not _unreadable(census)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(_SAMPLE)),
            st.integers(min_value=0, max_value=40),
            st.sampled_from(
                [
                    "",
                    "*",
                    "~",
                    "\n",
                    ":",
                    "^",
                    "INS*N*19*001",
                    "HD*",
                    "DTP*349*D8*",
                    "SE*",
                    "ISA",
                    "0",
                    " ",
                ]
            ),  # noqa: E501
        ),
        max_size=6,
    )
)
def test_mutated_834s_never_raise(edits):
    text = _SAMPLE
    for at, length, insert in edits:
        text = text[:at] + insert + text[at + length :]
    census = read_834(text.encode(), "mutated.834")

    assert census.errors or census.members or census.warnings
    assert not _unreadable(census)
    if census.detail.get("transaction_sets") is not None:
        try:
            acknowledgement_999(census, text.encode(), now=NOW)
        except Exception as exc:  # only a file without an ISA may be unanswerable
            assert "cannot acknowledge" in str(exc)

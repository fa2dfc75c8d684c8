"""The X12 834 reader and its 999 acknowledgment, on inline 834 texts written the way senders
write them (and two files under tests/data/census)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from billing_core.census.rows import Maintenance
from billing_core.census.x12 import acknowledgement_999, read_834, segments
from billing_core.errors import ValidationFailed
from billing_core.models.enums import (
    Gender,
    LineOfCoverage,
    MemberStatus,
    Relationship,
    Tier,
    UploadFormat,
    UploadKind,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "census"
V5010 = "005010X220A1"
V4010 = "004010X095A1"
NOW = datetime(2026, 1, 15, 10, 30)


def isa(sep="*", comp=":", rep="^", version="00501", control="000000905", fixed=True) -> str:
    fields = ["00", " " * 10, "00", " " * 10, "ZZ", "ACMEPAYROLL    ", "ZZ", "PREMIUMBILL    "]
    fields += ["260115", "0930", rep, version, control, "0", "P", comp]
    if not fixed:
        fields = [f.strip() for f in fields]
    return sep.join(["ISA", *fields])


def transaction(
    *members: list[str], control="0001", kind="2", version=V5010, qty: dict | None = None
) -> list[str]:
    """ST..SE around member segments, with the SE count right."""
    segs = [f"ST*834*{control}*{version}" if version == V5010 else f"ST*834*{control}"]
    segs.append(f"BGN*00*REF{control}*20260115*0930****{kind}")
    segs += [f"QTY*{q}*{n}" for q, n in (qty or {}).items()]
    segs += ["N1*P5*ACME WIDGETS INC*FI*361234567", "N1*IN*GREAT LAKES MUTUAL*FI*391112222"]
    for member in members:
        segs += member
    segs.append(f"SE*{len(segs) + 1}*{control}")
    return segs


def interchange(
    *sets: list[str],
    version=V5010,
    sep="*",
    comp=":",
    term="~",
    suffix="",
    fixed=True,
    bom=False,
    gs_control="905",
) -> bytes:
    head = isa(sep, comp, "^" if version == V5010 else "U", version[:5], fixed=fixed)
    body = [f"GS*BE*ACMEPAYROLL*PREMIUMBILL*20260115*0930*{gs_control}*X*{version}"]
    body += [seg for s in sets for seg in s]
    body += [f"GE*{len(sets)}*{gs_control}", "IEA*1*000000905"]
    text = (term + suffix).join([head] + [seg.replace("*", sep) for seg in body])
    return (("\ufeff" if bom else "") + text + term + suffix).encode()


def subscriber(
    employee_id="E1001",
    *,
    ins="INS*Y*18*021*28*A***FT",
    name="OKAFOR*AMARA",
    extra=(),
    demographics=("DMG*D8*19860412*F",),
    hds=(("HLT", "PPO500", "EMP"),),
    hd_maintenance="021",
    start="20260201",
) -> list[str]:
    segs = [ins, f"REF*0F*{employee_id}", *extra, f"NM1*IL*1*{name}", *demographics]
    for line, plan, level in hds:
        segs += [f"HD*{hd_maintenance}**{line}*{plan}*{level}", f"DTP*348*D8*{start}"]
    return segs


def dependent(
    employee_id="E1001",
    relation="19",
    *,
    name="OKAFOR*ADA",
    dob="20150322",
    hds=(("HLT", "PPO500", "FAM"),),
    ins_maintenance="021",
) -> list[str]:
    segs = [f"INS*N*{relation}*{ins_maintenance}*28*A", f"REF*0F*{employee_id}"]
    segs += [f"NM1*IL*1*{name}", f"DMG*D8*{dob}*F"]
    for line, plan, level in hds:
        segs += [f"HD*021**{line}*{plan}*{level}", "DTP*348*D8*20260201"]
    return segs


def read(data: bytes, source="enroll.834"):
    return read_834(data, source)


def position(segs: list[str], prefix: str, nth: int = 1) -> int:
    """The 1-based position (as SE01 counts) of the nth segment starting with `prefix`."""
    hits = [i for i, seg in enumerate(segs, start=1) if seg.startswith(prefix)]
    return hits[nth - 1]


# --- a whole file ------------------------------------------------------------------------------


def test_an_add_with_spouse_and_child_on_several_lines():
    census = read((DATA / "add_family_5010.edi").read_bytes(), "acme-0115.edi")

    assert census.errors == []
    assert census.file_format is UploadFormat.X12_834
    assert census.kind is UploadKind.CHANGE
    assert census.as_of == date(2026, 1, 15)
    assert (census.control_totals.employees, census.control_totals.dependents) == (1, 2)
    (member,) = census.members
    assert member.employee_id == "E10045"
    assert (member.first_name, member.last_name) == ("AMARA", "OKAFOR")
    assert member.ssn == "123456789"
    assert member.birth_date == date(1986, 4, 12)
    assert member.gender is Gender.FEMALE
    assert member.hire_date == date(2026, 1, 5)
    assert member.annual_salary == Decimal("50000.08")  # 1,923.08 bi-weekly x 26
    assert member.subgroup_code == "OHIO-PLANT"
    assert member.postal_code == "04321"
    assert member.status is MemberStatus.ACTIVE
    assert member.maintenance is Maintenance.ADD
    assert member.maintenance_date == date(2026, 2, 1)
    assert member.source_row == "ST 0001, INS #1"
    assert [(c.line, c.plan_code, c.tier, c.elected_volume) for c in member.coverages] == [
        (LineOfCoverage.MEDICAL, "PPO500", Tier.FAM, None),
        (LineOfCoverage.DENTAL, "DENHIGH", Tier.FAM, None),
        (LineOfCoverage.VISION, "VIS1", Tier.ES, None),
        (LineOfCoverage.BASIC_LIFE, "BLIFE", Tier.EE, Decimal("50000")),
    ]
    assert {c.effective_from for c in member.coverages} == {date(2026, 2, 1)}
    assert {c.effective_to for c in member.coverages} == {None}
    spouse, child = member.dependents
    assert (spouse.first_name, spouse.relationship, spouse.gender) == (
        "CHIDI",
        Relationship.SPOUSE,
        Gender.MALE,
    )
    assert spouse.birth_date == date(1984, 9, 1)
    assert spouse.lines == {LineOfCoverage.MEDICAL, LineOfCoverage.DENTAL, LineOfCoverage.VISION}
    assert (child.first_name, child.relationship) == ("ADA", Relationship.CHILD)
    assert child.lines == {LineOfCoverage.MEDICAL, LineOfCoverage.DENTAL}
    assert child.effective_from == date(2026, 2, 1)


def test_the_envelope_is_recorded_in_detail():
    census = read((DATA / "add_family_5010.edi").read_bytes())

    detail = census.detail
    assert detail["interchange_control"] == "000004211"
    assert (detail["sender_id"], detail["receiver_id"]) == ("ACMEPAYROLL", "PREMIUMBILL")
    assert detail["version"] == V5010
    assert detail["group_control"] == "4211"
    assert [g["control"] for g in detail["functional_groups"]] == ["4211"]
    assert [(s["control"], s["accepted"], s["errors"]) for s in detail["transaction_sets"]] == [
        ("0001", True, 0)
    ]
    assert detail["group_policy_numbers"] == ["GRP-77001"]
    assert detail["master_policy_numbers"] == ["GRP-77001"]
    assert detail["sponsor"]["name"] == "ACME WIDGETS INC"
    assert detail["file_effective_date"] == "2026-02-01"
    assert detail["control_total_members"] == 3
    assert json.loads(json.dumps(census.as_dict()))["detail"]["interchange_control"] == "000004211"


# --- maintenance types -------------------------------------------------------------------------


def test_a_4010_termination_with_newline_terminators():
    census = read((DATA / "term_4010.834").read_bytes())

    assert census.errors == []
    assert census.detail["version"] == V4010
    assert census.detail["separators"]["segment"] == "\n"
    (member,) = census.members
    assert member.maintenance is Maintenance.TERM
    assert member.maintenance_date == date(2026, 1, 31)  # DTP*349, the last covered day
    assert member.status is MemberStatus.TERMINATED  # INS08 TE
    assert member.ssn == "487654321"
    assert [(c.line, c.effective_from, c.effective_to) for c in member.coverages] == [
        (LineOfCoverage.MEDICAL, date(2020, 1, 1), date(2026, 1, 31)),
        (LineOfCoverage.DENTAL, date(2020, 1, 1), date(2026, 1, 31)),
    ]


def test_a_change_ends_one_plan_starts_another_and_changes_a_tier_on_the_303_date():
    member = [
        "INS*Y*18*001*AI*A***FT",
        "REF*0F*E3003",
        "DTP*303*D8*20260301",
        "NM1*IL*1*NGUYEN*MAI",
        "HD*001**HLT*PPO500*ESP",
        "DTP*348*D8*20240101",
        "HD*024**DEN*DENLOW*EMP",
        "DTP*348*D8*20240101",
        "DTP*349*D8*20260228",
        "HD*021**DEN*DENHIGH*ESP",
        "DTP*348*D8*20260301",
    ]
    spouse = dependent("E3003", "01", name="NGUYEN*BAO", hds=[("HLT", "PPO500", "ESP")])
    census = read(interchange(transaction(member, spouse)))

    assert census.errors == []
    (row,) = census.members
    assert row.maintenance is Maintenance.CHANGE
    assert row.maintenance_date == date(2026, 3, 1)
    medical, old_dental, new_dental = row.coverages
    assert (medical.tier, medical.effective_from) == (Tier.ES, date(2026, 3, 1))
    assert (old_dental.plan_code, old_dental.effective_to) == ("DENLOW", date(2026, 2, 28))
    assert (new_dental.plan_code, new_dental.effective_from) == ("DENHIGH", date(2026, 3, 1))
    assert row.dependents[0].lines == {LineOfCoverage.MEDICAL}


def test_a_coverage_change_takes_effect_on_its_own_303():
    member = [
        "INS*Y*18*001*AI*A***FT",
        "REF*0F*E3004",
        "NM1*IL*1*NGUYEN*MAI",
        "HD*001**LIF*BLIFE*EMP",
        "DTP*303*D8*20260401",
        "DTP*348*D8*20240101",
        "AMT*FK*75000",
    ]
    census = read(interchange(transaction(member)))

    assert census.errors == []
    (coverage,) = census.members[0].coverages
    assert coverage.effective_from == date(2026, 4, 1)
    assert coverage.elected_volume == Decimal("75000")
    assert census.members[0].maintenance_date == date(2026, 4, 1)


def test_a_303_on_an_added_coverage_does_not_move_its_benefit_begin():
    member = subscriber("E5", hds=[])
    member += ["HD*021**DEN*D*EMP", "DTP*303*D8*20260110", "DTP*348*D8*20260201"]
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert census.members[0].coverages[0].effective_from == date(2026, 2, 1)


def test_a_dependent_dropped_in_a_change_ends_on_its_349():
    member = subscriber("E6", ins="INS*Y*18*001*AI*A***FT", hds=[("HLT", "P", "EMP")])
    member[-2:] = ["HD*001**HLT*P*EMP", "DTP*348*D8*20240101"]
    spouse = ["INS*N*01*024*01*A", "REF*0F*E6", "NM1*IL*1*OKAFOR*CHIDI"]
    spouse += ["HD*024**HLT*P*ESP", "DTP*348*D8*20240101", "DTP*349*D8*20260228"]
    census = read(interchange(transaction(member, spouse)))

    assert census.errors == []
    (dropped,) = census.members[0].dependents
    assert (dropped.effective_from, dropped.effective_to) == (date(2024, 1, 1), date(2026, 2, 28))
    assert dropped.lines == {LineOfCoverage.MEDICAL}


def test_a_reinstatement_dates_from_its_benefit_begin():
    member = subscriber(
        "E4004", ins="INS*Y*18*025*41*A***FT", hd_maintenance="025", start="20260115"
    )
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert census.members[0].maintenance is Maintenance.REINSTATE
    assert census.members[0].maintenance_date == date(2026, 1, 15)


def test_a_full_file_is_a_snapshot_of_audit_rows_with_statuses():
    active = subscriber("E1", ins="INS*Y*18*030*XN*A***FT", hd_maintenance="030")
    cobra = subscriber("E2", ins="INS*Y*18*030*XN*C***TE", hd_maintenance="030")
    retiree = subscriber("E3", ins="INS*Y*18*030*XN*A***RT", hd_maintenance="030")
    census = read(interchange(transaction(active, cobra, retiree, kind="4")))

    assert census.errors == []
    assert census.kind is UploadKind.SNAPSHOT
    assert [m.maintenance for m in census.members] == [Maintenance.AUDIT] * 3
    assert [m.maintenance_date for m in census.members] == [None] * 3
    assert [m.status for m in census.members] == [
        MemberStatus.ACTIVE,
        MemberStatus.COBRA,
        MemberStatus.RETIREE,
    ]


def test_an_employee_listed_twice_in_a_full_file_is_an_error():
    rows = [subscriber(e, ins="INS*Y*18*030*XN*A", hd_maintenance="030") for e in ("E1", "E1")]
    census = read(interchange(transaction(*rows, kind="4")))

    (error,) = census.errors
    assert (error.column, error.value) == ("REF02", "E1")
    assert "listed twice" in error.message and "ST 0001, INS #1" in error.message


def test_a_termination_in_a_full_file_is_an_error():
    termed = subscriber("E9", ins="INS*Y*18*024*07*A***TE", hd_maintenance="024")
    termed.append("DTP*349*D8*20260131")
    census = read(interchange(transaction(termed, kind="4")))

    (error,) = census.errors
    assert (error.column, error.value) == ("INS03", "024")
    assert "send terminations (024) in a change file" in error.message


def test_a_termination_without_an_end_date_is_an_error():
    segs = transaction(subscriber("E9", ins="INS*Y*18*024*07*A***TE", hd_maintenance="024"))
    census = read(interchange(segs))

    assert {e.column for e in census.errors} == {"DTP", "INS03"}
    assert all("ST 0001, INS #1 (employee E9)" in e.row for e in census.errors)


def test_files_that_mix_full_and_change_sets_are_refused():
    census = read(
        interchange(
            transaction(subscriber("E1"), control="0001", kind="2"),
            transaction(subscriber("E2", ins="INS*Y*18*030*XN*A"), control="0002", kind="4"),
        )
    )

    assert census.kind is UploadKind.CHANGE
    assert [(e.row, e.column) for e in census.errors] == [("ST 0002, segment 2", "BGN08")]


# --- what real senders send --------------------------------------------------------------------


FAMILY = transaction(
    subscriber(
        "E1001",
        extra=["REF*DX*PLANT-7", "DTP*336*D8*20190603"],
        demographics=["N4*AKRON*OH*04401", "DMG*D8*19860412*F", "ICM*4*5000"],
        hds=[("HLT", "PPO500", "FAM"), ("DEN", "DENHIGH", "FAM")],
    ),
    dependent("E1001", "01", name="OKAFOR*CHIDI", dob="19840901"),
    dependent("E1001", "19", name="OKAFOR*ADA"),
    qty={"ET": 1, "DT": 2, "TO": 3},
)


@pytest.mark.parametrize(
    "options",
    [
        {"term": "~"},
        {"term": "~", "suffix": "\n"},
        {"term": "~", "suffix": "\r\n"},
        {"term": "\n"},
        {"term": "\r", "suffix": "\n"},
        {"bom": True, "suffix": "\n"},
        {"fixed": False},
        {"sep": "|", "comp": ">"},
        {"sep": "^", "comp": ">", "version": V4010},
        {"comp": "^", "version": V4010, "suffix": "\n"},
        {"version": V4010, "term": "\n"},
    ],
    ids=[
        "tilde-one-line",
        "tilde-newline",
        "tilde-crlf",
        "newline-only",
        "crlf-only",
        "utf8-bom",
        "isa-not-fixed-width",
        "pipe-and-angle",
        "caret-elements-4010",
        "caret-components-4010",
        "4010-newline",
    ],
)
def test_every_way_of_writing_the_file_reads_the_same(options):
    version = options.pop("version", V5010)
    segs = FAMILY if version == V5010 else [s.replace(f"*{V5010}", "") for s in FAMILY]
    census = read(interchange(segs, version=version, **options))

    assert census.errors == []
    assert census.detail["version"] == version
    (member,) = census.members
    assert (member.employee_id, member.last_name, member.first_name) == ("E1001", "OKAFOR", "AMARA")
    assert (member.subgroup_code, member.postal_code) == ("PLANT-7", "04401")
    assert member.hire_date == date(2019, 6, 3)
    assert member.annual_salary == Decimal("60000.00")
    assert [c.line for c in member.coverages] == [LineOfCoverage.MEDICAL, LineOfCoverage.DENTAL]
    assert [d.relationship for d in member.dependents] == [Relationship.SPOUSE, Relationship.CHILD]
    assert census.detail["transaction_sets"][0]["accepted"] is True


def test_blanks_around_separators_and_lines_wrapped_at_80_columns_are_read_through():
    text = interchange(FAMILY).decode()
    padded = text.replace("*OKAFOR*", "*OKAFOR   *").replace("~", "  ~ ")
    wrapped = "\n".join(padded[i : i + 80] for i in range(0, len(padded), 80))
    census = read(wrapped.encode())

    assert census.errors == []
    assert census.members[0].last_name == "OKAFOR"
    assert census.members[0].dependents[1].first_name == "ADA"


def test_several_transaction_sets_and_functional_groups_are_all_read():
    first = transaction(subscriber("E1"), control="0001")
    second = transaction(subscriber("E2"), subscriber("E3"), control="0002")
    group_one = interchange(first, second).decode().split("~")
    third = transaction(subscriber("E4"), control="0003")
    extra = ["GS*BE*ACMEPAYROLL*PREMIUMBILL*20260115*0930*906*X*005010X220A1", *third, "GE*1*906"]
    text = "~".join(group_one[:-2] + extra + group_one[-2:]).replace("IEA*1*", "IEA*2*")
    census = read(text.encode())

    assert census.errors == []
    assert [m.employee_id for m in census.members] == ["E1", "E2", "E3", "E4"]
    assert [(s["control"], s["group"]) for s in census.detail["transaction_sets"]] == [
        ("0001", "905"),
        ("0002", "905"),
        ("0003", "906"),
    ]


# --- fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "icm, salary",
    [
        ("ICM*1*1000", "52000.00"),
        ("ICM*2*1923.08*40", "50000.08"),
        ("ICM*3*2500", "60000.00"),
        ("ICM*4*5000", "60000.00"),
        ("ICM*6*200", "52000.00"),
        ("ICM*7*61500.50", "61500.50"),
        ("ICM*8*10000", "60000.00"),
        ("ICM*Q*15000", "60000.00"),
        ("ICM*H*25.50*30", "39780.00"),
        ("ICM*H*20", "41600.00"),
    ],
)
def test_income_is_annualised_in_decimal(icm, salary):
    member = subscriber(demographics=["DMG*D8*19860412*F", icm])
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert census.members[0].annual_salary == Decimal(salary)
    assert isinstance(census.members[0].annual_salary, Decimal)


def test_income_that_cannot_be_annualised_is_an_error():
    census = read(interchange(transaction(subscriber(demographics=["ICM*B*48000"]))))

    assert [(e.column, e.value) for e in census.errors] == [("ICM01", "B")]
    assert census.members[0].annual_salary is None


def test_an_ssn_in_nm109_is_kept_as_nine_digits_and_a_bad_one_is_a_warning_masked():
    # was an error: the member key is REF*0F, so a typo in the SSN never refuses the file
    good = subscriber("E1", name="OKAFOR*AMARA****34*219-09-1001")
    bad = subscriber("E2", name="ROSSI*GIULIA****34*12345678")
    census = read(interchange(transaction(good, bad)))

    assert census.errors == []
    assert census.members[0].ssn == "219091001"
    (warning,) = census.warnings
    assert (warning.column, warning.value) == ("NM109", "***-**-5678")
    assert warning.row.startswith("ST 0001, INS #2 (employee E2)")
    assert "nine-digit SSN" in warning.message
    assert census.members[1].ssn is None


@pytest.mark.parametrize(
    "ssn, words",
    [
        ("123-00-6789", "group 00"),
        ("123-45-0000", "serial 0000"),
        ("666-45-6789", "area 666"),
        ("000-45-6789", "area 000"),
        ("912-45-6789", "area 9xx"),
        ("912-70-6789", "ITIN"),
        ("123-45-6789", "placeholder"),
    ],
)
def test_an_ssn_never_issued_is_a_warning_naming_the_segment_and_is_kept(ssn, words):
    # was an error (and the SSN dropped): test feeds use unissued numbers and real feeds carry
    # ITINs; the member key is REF*0F, so the file is read and a person looks at the warning
    good = subscriber("E1", name="OKAFOR*AMARA****34*219-09-1001")
    unissued = subscriber("E2", name=f"ROSSI*GIULIA****34*{ssn}")
    census = read(interchange(transaction(good, unissued)))

    assert census.errors == []
    (warning,) = census.warnings
    assert (warning.source, warning.column, warning.value) == (
        "enroll.834",
        "NM109",
        f"***-**-{ssn[-4:]}",
    )
    assert warning.row.startswith("ST 0001, INS #2 (employee E2)")
    assert words in warning.message and "kept as sent" in warning.message
    assert [m.ssn for m in census.members] == ["219091001", ssn.replace("-", "")]


def test_a_placeholder_ssn_is_no_ssn_and_repeated_race_composites_are_read_through():
    member = subscriber(
        name="OKAFOR*AMARA****34*000000000",
        demographics=["DMG*D8*19860412*F*M*:RET:2106-3^:RET:2135-2"],
    )
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert census.members[0].ssn is None
    assert census.members[0].birth_date == date(1986, 4, 12)


def test_coverage_levels_that_do_not_say_who_is_covered_are_read_from_the_dependents():
    with_spouse = [
        *subscriber("E1", hds=[("HLT", "PPO500", "E1D"), ("DEN", "DEN1", "E1D")]),
        *dependent("E1", "01", name="A*SPOUSE", hds=[("HLT", "PPO500", "E1D")]),
    ]
    with_child = [
        *subscriber("E2", hds=[("HLT", "PPO500", "TWO")]),
        *dependent("E2", "19", hds=[("HLT", "PPO500", "TWO")]),
    ]
    with_both = [
        *subscriber("E3", hds=[("HLT", "PPO500", "E2D")]),
        *dependent("E3", "53", name="A*PARTNER", hds=[("HLT", "PPO500", "E2D")]),
        *dependent("E3", "17", name="A*STEPCHILD", hds=[("HLT", "PPO500", "E2D")]),
    ]
    census = read(interchange(transaction(with_spouse, with_child, with_both)))

    assert census.errors == []
    first, second, third = census.members
    # dental E1D names no dependent on dental: the tier is not stated, never guessed
    assert [c.tier for c in first.coverages] == [Tier.ES, None]
    assert [c.tier for c in second.coverages] == [Tier.EC]
    assert [c.tier for c in third.coverages] == [Tier.FAM]
    assert [d.relationship for d in third.dependents] == [
        Relationship.DOMESTIC_PARTNER,
        Relationship.CHILD,
    ]


@pytest.mark.parametrize(
    "code, line",
    [
        ("HLT", LineOfCoverage.MEDICAL),
        ("MM", LineOfCoverage.MEDICAL),
        ("HMO", LineOfCoverage.MEDICAL),
        ("EPO", LineOfCoverage.MEDICAL),
        ("POS", LineOfCoverage.MEDICAL),
        ("DEN", LineOfCoverage.DENTAL),
        ("VIS", LineOfCoverage.VISION),
        ("STD", LineOfCoverage.STD),
        ("LTD", LineOfCoverage.LTD),
        ("LIF", LineOfCoverage.BASIC_LIFE),
        ("OPL", LineOfCoverage.SUPPLEMENTAL_LIFE),
        ("ADD", LineOfCoverage.ADD),
        ("PDG", LineOfCoverage.MEDICAL),
    ],
)
def test_insurance_line_codes(code, line):
    census = read(interchange(transaction(subscriber(hds=[(code, "P1", "EMP")]))))

    assert census.errors == []
    assert [c.line for c in census.members[0].coverages] == [line]


def test_a_drug_rider_folds_into_the_medical_coverage():
    member = subscriber(hds=[("PDG", "RX1", "EMP"), ("HLT", "PPO500", "EMP"), ("DEN", "D", "EMP")])
    census = read(interchange(transaction(member)))

    assert [(c.line, c.plan_code) for c in census.members[0].coverages] == [
        (LineOfCoverage.MEDICAL, "PPO500"),
        (LineOfCoverage.DENTAL, "D"),
    ]


def test_life_volume_comes_from_amt_fk_on_life_lines_only():
    member = subscriber(hds=[("LIF", "BLIFE", "EMP"), ("DEN", "D", "EMP")])
    member.insert(position(member, "HD*021**DEN") - 1, "AMT*FK*25000")  # in the LIF loop
    member.append("AMT*FK*999")  # on the dental loop: not a volume
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert [c.elected_volume for c in census.members[0].coverages] == [Decimal("25000"), None]


def test_a_348_range_gives_the_coverage_both_ends():
    member = subscriber(hds=[("DEN", "D", "EMP")])
    member[-1] = "DTP*348*RD8*20260101-20261231"
    census = read(interchange(transaction(member)))

    assert census.errors == []
    (coverage,) = census.members[0].coverages
    assert (coverage.effective_from, coverage.effective_to) == (
        date(2026, 1, 1),
        date(2026, 12, 31),
    )


def test_ref_17_is_the_subgroup_when_there_is_no_ref_dx_and_reporting_categories_give_a_class():
    member = subscriber("E1", extra=["REF*17*EAST"])
    member += ["LS*2700", "LX*1", "N1*75*BENEFIT CLASS", "REF*ZZ*HOURLY", "LE*2700"]
    member += ["LX*2", "N1*75*LOCATION", "REF*ZZ*IGNORED-HAS-REF17"]
    census = read(interchange(transaction(member)))

    assert census.errors == []
    assert (census.members[0].subgroup_code, census.members[0].class_code) == ("EAST", "HOURLY")


def test_names_and_dates_of_other_name_loops_are_not_the_members():
    member = subscriber("E1", name="OKAFOR*AMARA")
    member += ["NM1*31*1", "N4*BOX*OH*99999", "NM1*70*1*OLDNAME*AMY", "DMG*D8*19000101*M"]
    census = read(interchange(transaction(member)))

    row = census.members[0]
    assert (row.last_name, row.birth_date, row.gender) == (
        "OKAFOR",
        date(1986, 4, 12),
        Gender.FEMALE,
    )
    assert row.postal_code is None


# --- dependents --------------------------------------------------------------------------------


def test_dependents_belong_to_the_subscriber_before_them():
    census = read(
        interchange(
            transaction(
                subscriber("E1"),
                dependent("E1", "01", name="A*ONE"),
                subscriber("E2", name="B*TWO"),
                dependent("E2", "19", name="B*KID1"),
                dependent("E2", "09", name="B*KID2"),
            )
        )
    )

    assert census.errors == []
    assert [[d.first_name for d in m.dependents] for m in census.members] == [
        ["ONE"],
        ["KID1", "KID2"],
    ]
    assert census.dependent_count == 3


def test_a_dependent_whose_subscriber_id_differs_is_linked_by_order_with_a_warning():
    # was an error: de-identified feeds scramble the dependent's REF*0F, and the dependent
    # belongs to the subscriber loop it follows
    segs = transaction(subscriber("E1"), dependent("E2", "01"))
    census = read(interchange(segs))

    assert census.errors == []
    (warning,) = census.warnings
    assert warning.row == f"ST 0001, INS #2 (employee E1), segment {position(segs, 'REF*0F', 2)}"
    assert (warning.column, warning.value) == ("REF02", "E2")
    assert "differs from the subscriber loop before it" in warning.message
    assert [d.first_name for d in census.members[0].dependents] == ["ADA"]


def test_a_dependent_before_any_subscriber_is_an_error():
    segs = transaction(dependent("E1", "19"), subscriber("E1"))
    census = read(interchange(segs))

    (error,) = census.errors
    assert error.row == f"ST 0001, INS #1, segment {position(segs, 'INS')}"
    assert (error.column, error.value) == ("INS01", "N")
    assert "before any subscriber" in error.message
    assert census.members[0].dependents == []


@pytest.mark.parametrize("code, words", [("99", "unknown relationship"), ("03", "parent")])
def test_a_relationship_without_a_tier_is_an_error(code, words):
    segs = transaction(subscriber("E1"), dependent("E1", code))
    census = read(interchange(segs))

    (error,) = census.errors
    assert (error.column, error.value) == ("INS02", code)
    assert words in error.message
    assert error.row == f"ST 0001, INS #2 (employee E1), segment {position(segs, 'INS', 2)}"


# --- errors ------------------------------------------------------------------------------------


def test_a_bad_birth_date_names_the_place_the_element_and_the_value():
    segs = transaction(subscriber("E1", demographics=["DMG*D8*19861341*F"]))
    census = read(interchange(segs), "acme.834")

    (error,) = census.errors
    assert error.source == "acme.834"
    assert error.row == f"ST 0001, INS #1 (employee E1), segment {position(segs, 'DMG')}"
    assert (error.column, error.value) == ("DMG02", "19861341")
    assert "CCYYMMDD" in error.message
    assert census.detail["transaction_sets"][0]["accepted"] is False
    assert not census.ok


def test_an_unknown_insurance_line_is_an_error_naming_the_segment():
    segs = transaction(subscriber("E1", hds=[("HLT", "P", "EMP"), ("AH", "X", "EMP")]))
    census = read(interchange(segs))

    (error,) = census.errors
    assert (error.column, error.value) == ("HD03", "AH")
    assert error.row.endswith(f"segment {position(segs, 'HD', 2)}")
    assert [c.line for c in census.members[0].coverages] == [LineOfCoverage.MEDICAL]


def test_bad_codes_are_errors():
    member = subscriber("E1", ins="INS*Y*18*099*28*Z***XX", hds=[("HLT", "P", "BIG")])
    member.append("DMG*D8*19860412*Q")
    census = read(interchange(transaction(member)))

    assert {(e.column, e.value) for e in census.errors} == {
        ("INS03", "099"),
        ("INS05", "Z"),
        ("INS08", "XX"),
        ("HD05", "BIG"),
    }


def test_a_missing_subscriber_id_and_name_are_errors():
    census = read(interchange(transaction(["INS*Y*18*021*28*A***FT", "HD*021**HLT*P*EMP"])))

    assert {e.column for e in census.errors} == {"REF", "NM1", "DTP"}


def test_a_set_whose_se_count_is_wrong_is_read_with_a_warning():
    # was an error: real senders' counts are off by one or two; a file cut short has no SE
    text = (DATA / "add_family_5010.edi").read_text()
    without_phone = text.replace("PER*IP**HP*6145550101~\n", "")
    census = read(without_phone.encode())

    assert census.errors == []
    (warning,) = [w for w in census.warnings if w.column == "SE01"]
    assert warning.value == "48"
    assert "47 were read" in warning.message
    assert census.detail["transaction_sets"][0]["accepted"] is True
    assert census.detail["transaction_sets"][0]["set_warnings"] == ["4"]


def test_a_file_cut_off_midway_reports_the_missing_trailers_and_control_totals():
    text = (DATA / "add_family_5010.edi").read_text()
    cut = text[: text.index("INS*N*19")]
    census = read(cut.encode())

    columns = [e.column for e in census.errors]
    assert "SE" in columns and "GE" in columns and "IEA" in columns
    qty = [e for e in census.errors if e.column == "QTY02"]
    assert [e.value for e in qty] == ["2", "3"]  # DT 2 and TO 3 stated; 1 and 2 read
    assert [e.row for e in qty] == ["ST 0001, segment 6", "ST 0001, segment 7"]


def test_a_control_total_that_does_not_match_is_an_error():
    segs = transaction(subscriber("E1"), subscriber("E2"), qty={"ET": 3})
    census = read(interchange(segs))

    (error,) = census.errors
    assert (error.row, error.column, error.value) == ("ST 0001, segment 3", "QTY02", "3")
    assert "states 3 subscribers but the set has 2" in error.message
    assert census.control_totals.employees == 3


def test_trailer_control_numbers_and_counts_are_checked():
    text = interchange(transaction(subscriber("E1"))).decode()
    text = text.replace("SE*11*0001", "SE*11*0002").replace("GE*1*905", "GE*2*904")
    text = text.replace("IEA*1*000000905", "IEA*1*000000906")
    census = read(text.encode())

    assert [e.column for e in census.errors] == ["SE02", "GE01", "GE02", "IEA02"]


@pytest.mark.parametrize(
    "data, column",
    [
        (b"", "ISA"),
        (b"NAME,SSN\nAMARA,123456789\n", "ISA"),
        (b"ISA*00*          *00*", "ISA16"),
        (b"ISA*00*  *00*  *ZZ*A*ZZ*B*260115*0930*^*00501*000000905*0*P", "ISA16"),
    ],
)
def test_a_broken_envelope_is_a_file_level_error(data, column):
    census = read(data)

    (error,) = census.errors
    assert (error.row, error.column) == (None, column)
    assert census.members == []


def test_a_set_that_is_not_an_834_or_not_5010_or_4010_is_refused():
    text = interchange(transaction(subscriber("E1"))).decode()
    census = read(text.replace("ST*834*", "ST*820*").replace("X*005010X220A1", "X*005010X218"))

    assert [(e.column, e.value) for e in census.errors] == [
        ("GS08", "005010X218"),
        ("ST01", "820"),
    ]
    assert census.errors[0].row == "segment 2 of the file"


def test_a_bgn08_that_is_neither_full_nor_change_is_an_error():
    text = interchange(transaction(subscriber("E1"))).decode().replace("****2~", "****9~")
    census = read(text.encode())

    assert [(e.row, e.column, e.value) for e in census.errors] == [
        ("ST 0001, segment 2", "BGN08", "9")
    ]
    assert census.kind is None


def test_a_file_without_its_iea_is_refused():
    text = interchange(transaction(subscriber("E1"))).decode()
    census = read(text[: text.index("IEA")].encode())

    assert [(e.row, e.column) for e in census.errors] == [(None, "IEA")]


def test_content_after_the_iea_is_an_error():
    data = interchange(transaction(subscriber("E1")))
    census = read(data + interchange(transaction(subscriber("E2"))))

    assert [e.column for e in census.errors] == ["ISA"]
    assert "second interchange" in census.errors[0].message
    assert [m.employee_id for m in census.members] == ["E1"]


# --- the 999 -----------------------------------------------------------------------------------


def ack(data: bytes, **kwargs) -> list[list[str]]:
    census = read(data)
    return segments(acknowledgement_999(census, data, now=NOW, **kwargs))


def test_an_accepted_interchange_is_answered_with_an_accepting_999():
    data = (DATA / "add_family_5010.edi").read_bytes()
    segs = ack(data)

    assert segs[0] == [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        "PREMIUMBILL    ",
        "ZZ",
        "ACMEPAYROLL    ",
        "260115",
        "1030",
        "^",
        "00501",
        "000004211",
        "0",
        "P",
        ":",
    ]
    assert segs[1:] == [
        ["GS", "FA", "PREMIUMBILL", "ACMEPAYROLL", "20260115", "1030", "4211", "X", "005010X231A1"],
        ["ST", "999", "0001", "005010X231A1"],
        ["AK1", "BE", "4211", V5010],
        ["AK2", "834", "0001", V5010],
        ["IK5", "A"],
        ["AK9", "A", "1", "1", "1"],
        ["SE", "6", "0001"],
        ["GE", "1", "4211"],
        ["IEA", "1", "000004211"],
    ]


def test_a_partly_rejected_group_gets_ik3_ik4_per_error_and_ak9_p():
    good = transaction(subscriber("E1"), control="0001")
    bad = transaction(subscriber("E2", demographics=["DMG*D8*19861341*F"]), control="0002")
    segs = ack(interchange(good, bad))

    ids = [s[0] for s in segs]
    assert ids == ["ISA", "GS", "ST", "AK1", "AK2", "IK5", "AK2", "IK3", "IK4", "IK5", "AK9"] + [
        "SE",
        "GE",
        "IEA",
    ]
    assert segs[4:11] == [
        ["AK2", "834", "0001", V5010],
        ["IK5", "A"],
        ["AK2", "834", "0002", V5010],
        ["IK3", "DMG", str(position(bad, "DMG")), "2100A", "8"],
        ["IK4", "2", "", "8"],
        ["IK5", "R", "5"],
        ["AK9", "P", "2", "2", "1"],
    ]
    assert segs[11] == ["SE", "10", "0001"]


def test_a_set_whose_se_count_is_off_is_accepted_with_the_count_noted():
    # was IK5 R / AK9 R: an SE count that is off is a warning, the set is accepted with it
    # noted (IK5 E, "accepted, but errors were noted") and so is the group (AK9 E)
    text = (DATA / "add_family_5010.edi").read_text().replace("PER*IP**HP*6145550101~\n", "")
    segs = ack(text.encode())

    assert ["IK5", "E", "4"] in segs
    assert ["AK9", "E", "1", "1", "1"] in segs
    assert not any(s[0] == "IK3" for s in segs)


def test_a_group_count_mismatch_is_reported_in_ak9():
    text = interchange(transaction(subscriber("E1"))).decode().replace("GE*1*905", "GE*2*905")
    segs = ack(text.encode())

    assert ["IK5", "A"] in segs
    assert ["AK9", "R", "2", "1", "1", "5"] in segs


def test_an_unsupported_set_or_version_is_rejected_in_the_999():
    text = interchange(transaction(subscriber("E1"))).decode()
    segs = ack(
        text.replace("ST*834*", "ST*820*").replace("X*005010X220A1", "X*005010X218").encode()
    )

    assert ["IK5", "R", "1"] in segs
    assert ["AK9", "R", "1", "1", "0", "2"] in segs


def test_each_functional_group_gets_its_own_999_set():
    one = interchange(transaction(subscriber("E1"))).decode().split("~")
    bad = transaction(subscriber("E2", demographics=["DMG*D8*2026*F"]), control="0001")
    extra = ["GS*BE*ACMEPAYROLL*PREMIUMBILL*20260115*0930*906*X*005010X220A1", *bad, "GE*1*906"]
    text = "~".join(one[:-2] + extra + one[-2:]).replace("IEA*1*", "IEA*2*")
    segs = ack(text.encode())

    assert [s for s in segs if s[0] in ("ST", "AK1", "IK5", "AK9", "SE", "GE")] == [
        ["ST", "999", "0001", "005010X231A1"],
        ["AK1", "BE", "905", V5010],
        ["IK5", "A"],
        ["AK9", "A", "1", "1", "1"],
        ["SE", "6", "0001"],
        ["ST", "999", "0002", "005010X231A1"],
        ["AK1", "BE", "906", V5010],
        ["IK5", "R", "5"],
        ["AK9", "R", "1", "1", "0"],
        ["SE", "8", "0002"],
        ["GE", "2", "905"],
    ]


def test_the_999_answers_a_4010_file_in_5010_and_in_the_files_separators():
    data = (DATA / "term_4010.834").read_bytes()
    text = acknowledgement_999(read(data), data, now=NOW, control_number=42)
    segs = segments(text)

    assert text.endswith("IEA*1*000000042\n")  # newline terminators, as received
    assert (segs[0][11], segs[0][12], segs[0][13], segs[0][16]) == ("^", "00501", "000000042", ">")
    assert ["AK1", "BE", "77", V4010] in segs
    assert ["AK2", "834", "0077"] in segs  # 4010 sets carry no ST03 to quote
    assert ["GE", "1", "42"] in segs and segs[1][6] == "42"


def test_the_999_keeps_pipe_separators_and_line_breaks():
    data = interchange(FAMILY, sep="|", comp=">", suffix="\r\n")
    text = acknowledgement_999(read(data), data, now=NOW)

    assert text.startswith("ISA|00|")
    assert text.count("~\r\n") == len(segments(text)) == 10
    assert ["AK9", "A", "1", "1", "1"] in segments(text)


def test_a_file_without_an_interchange_header_cannot_be_acknowledged():
    census = read(b"not x12")

    with pytest.raises(ValidationFailed, match="cannot acknowledge"):
        acknowledgement_999(census, b"not x12")


# --- the reader's shortcut for repeated HD and DTP*348 segments ---------------------------------


def _repeats_file(sep: str, term: str) -> bytes:
    """Copies of the same HD and DTP*348 segments where their shortcut applies and where it
    must not: a change dated by its DTP*303, a DTP*348 outside an HD loop, a bad date and an
    unknown line repeated, reporting categories after the coverages."""
    first = subscriber(
        "E1",
        extra=("DTP*348*D8*20260201",),  # in loop 2000: not a coverage date
        hds=(("HLT", "PPO500", "EMP"), ("DEN", "DENHIGH", "EMP")),
    )
    first += ["HD*001**VIS*VIS1*EMP", "DTP*303*D8*20260301", "DTP*348*D8*20260201"]
    first += ["HD*021**LIF*BLIFE*EMP", "DTP*348*D8*20260201", "AMT*FK*50000"]
    first += ["LS*2700", "LX*1", "N1*75*CLASS", "REF*ZZ*HOURLY", "DTP*348*D8*20260201", "LE*2700"]
    second = subscriber("E2", hds=(("HLT", "PPO500", "EMP"), ("DEN", "DENHIGH", "EMP")))
    second += ["HD*001**VIS*VIS1*EMP", "DTP*348*D8*20260201", "DTP*303*D8*20260301"]
    second += ["HD*021**LIF*BLIFE*EMP", "DTP*348*D8*20260201", "AMT*FK*50000"]
    second += ["HD*021**XYZ*ODD*EMP", "DTP*348*D8*20261399", "AMT*FK*-5"]
    third = subscriber("E3", hds=(("HLT", "PPO500", "ESP"),), start="20261399")
    third += ["HD*021**XYZ*ODD*EMP", "DTP*348*D8*20261399", "AMT*FK*-5"]
    third += dependent("E3", "01", hds=(("HLT", "PPO500", "ESP"),))
    return interchange(transaction(first, second, third), sep=sep, term=term)


def _read_with_and_without_shortcut(monkeypatch, data: bytes):
    """`data` read as usual and with the repeated-segment shortcut (`fast_spec`) off: members,
    errors, envelope detail and the 999 must be the same. Returns the usual read."""
    import billing_core.census.x12.reader as x12

    census = read(data)
    monkeypatch.setattr(x12._Reader, "fast_spec", lambda self, el: None)
    plain = read(data)
    assert [m.as_dict() for m in census.members] == [m.as_dict() for m in plain.members]
    assert [str(e) for e in census.errors] == [str(e) for e in plain.errors]
    assert census.detail == plain.detail
    assert acknowledgement_999(census, data, now=NOW) == acknowledgement_999(plain, data, now=NOW)
    return census


@pytest.mark.parametrize(("sep", "term"), [("*", "~"), ("|", "\n"), ("!", "~")])
def test_repeated_segments_read_exactly_as_the_first_copy(monkeypatch, sep, term):
    census = _read_with_and_without_shortcut(monkeypatch, _repeats_file(sep, term))
    first, second, third = census.members
    vision = [c for c in first.coverages + second.coverages if c.line is LineOfCoverage.VISION]
    assert [c.effective_from for c in vision] == [date(2026, 3, 1), date(2026, 3, 1)]
    assert [c.elected_volume for c in first.coverages if c.elected_volume] == [Decimal(50000)]
    assert sum("20261399" in str(e) for e in census.errors) == 3  # every copy reported
    assert sum("column HD03" in str(e) for e in census.errors) == 2
    assert sum("-5" in str(e) for e in census.errors) == 0  # no volume line: AMT not read
    assert third.dependents[0].lines == {LineOfCoverage.MEDICAL}


# --- the envelope's padding check, plain amounts and the paused collector ----------------------


def _padding_by_search(text: str, start: int, sep: str, term: str) -> bool:
    """The padding check as it was: a search of the text per pair."""
    padded = (" " + sep, sep + " ", " " + term, term + " ", "\t")
    return any(text.find(blank, start) >= 0 for blank in padded)


@pytest.mark.parametrize(
    "text",
    [
        "ISA*A B~NM1*IL*1*VAN DER BERG*ANN~N3*1 MAIN ST~",
        "ISA*A B~NM1*IL*1*OKAFOR *ANN~",
        "ISA*A B~NM1*IL*1* OKAFOR*ANN~",
        "ISA*A B~N3*1 MAIN ST ~",
        "ISA*A B~ N3*1 MAIN ST~",
        "ISA*A B~N3*1\tMAIN ST~",
        "ISA*A B~N3*1  MAIN ST~ ",
        "ISA*A * ~N3*1 MAIN~",  # padding inside the ISA is its own
        "ISA*A *~ N3*1 MAIN~",
        " *~",
        "",
        "ISA*~ ",
        "ISA*A B*~N3*1 2 3 4~N4*A B*C D*1 2~",
    ],
)
def test_the_padding_check_finds_what_a_search_per_pair_finds(text):
    from billing_core.x12_envelope import _padded

    for sep, term in (("*", "~"), ("|", "\n")):
        case = text.replace("*", sep).replace("~", term)
        for start in {0, case.find(term) + 1, 1, len(case)}:
            assert _padded(case, start, sep, term) == _padding_by_search(case, start, sep, term)


@pytest.mark.parametrize(
    "value",
    ["3119.59", "1923.08", "50000", "0", "007.50", "1.", ".5", "1,000.00", "$25", " 12.5",
     "(3.00)", "-5", "1.2.3", "", ".", "1e5", "NaN", "\u0663\u0661", "\u00b2"],
)  # fmt: skip
def test_plain_amounts_are_read_as_the_money_rules_read_them(value):
    from billing_core.census.x12.reader import _Reader
    from billing_core.money import D

    reader = _Reader("test")
    got = reader.amount("ICM02", value)
    try:
        expected = D(value)
    except (ValueError, TypeError):
        expected = None
    if expected is not None and expected < 0:
        expected = None
    assert str(got) == str(expected)
    assert bool(reader.errors) == (expected is None)


def test_what_a_paused_read_builds_is_handed_to_the_oldest_generation():
    import gc

    from billing_core.census.rows import collector_paused

    gc.collect()
    with collector_paused():
        built = [[i] for i in range(1000)]
        assert not gc.isenabled()
    assert gc.isenabled()
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(item) in oldest for item in built)
    assert gc.get_freeze_count() == 0

    kept = [[i] for i in range(3)]
    gc.freeze()  # a pre-fork server's frozen objects stay frozen
    try:
        with collector_paused():
            built = [[i] for i in range(10)]
        assert gc.get_freeze_count() > 0
        tracked = {id(o) for o in gc.get_objects()}  # every generation, not the frozen
        assert not any(id(item) in tracked for item in kept)
        assert all(id(item) in tracked for item in built)
    finally:
        gc.unfreeze()


def _more_repeats_file(sep: str, term: str) -> bytes:
    """Copies of REF*1L, REF*DX, AMT*FK, N4, DMG and PER segments in every loop they can meet:
    the member's own name loop and another name loop, a dependent, a coverage, a reporting
    category, and bad dates, genders and volumes repeated."""
    life = ("LIF", "BLIFE", "EMP")
    first = subscriber(
        "E1",
        extra=("REF*1L*GRP1", "REF*DX*DIV1"),
        demographics=("PER*IP**HP*6145550101", "N4*COLUMBUS*OH*43001", "DMG*D8*19860412*F"),
        hds=(("HLT", "PPO500", "EMP"),),
    )
    first += ["AMT*FK*50000", "REF*1L*GRP1", "HD*021**LIF*BLIFE*EMP", "AMT*FK*50000"]
    first += ["LS*2700", "LX*1", "N1*75*DIVISION", "REF*DX*DIV1", "REF*1L*GRP1"]
    first += ["REF*1L*GRP2", "LE*2700"]
    first += ["INS*N*19*021*28*A", "REF*0F*E1", "REF*DX*DIV1", "REF*1L*GRP1"]
    first += ["NM1*IL*1*OKAFOR*ADA", "N4*COLUMBUS*OH*43001", "DMG*D8*19860412*F"]
    first += ["HD*021**HLT*PPO500*FAM", "DTP*348*D8*20260201", "AMT*FK*50000"]
    second = subscriber(
        "E2",
        extra=("AMT*FK*50000", "REF*1L*GRP1"),
        demographics=("DMG*D8*19861399*F", "PER*IP**HP*6145550101"),
        hds=(("HLT", "PPO500", "EMP"), life),
    )
    second += ["AMT*FK*-5", "REF*DX*DIV1", "NM1*31*1", "N4*COLUMBUS*OH*43001"]
    second += ["DMG*D8*19860412*F", "REF*DX*DIV1"]
    third = subscriber(
        "E3",
        extra=("REF*DX*DIV1",),
        demographics=("N4*COLUMBUS*OH", "DMG*D8*19860412*X", "DMG*D8*19861399*F"),
        hds=(("DEN", "DENHIGH", "EMP"), life),
    )
    third += ["AMT*FK*-5", "AMT*FK*50000", "LS*2700", "LX*1", "N1*75*CLASS", "REF*DX*DIV1"]
    third += ["REF*1L*GRP2", "LE*2700", "INS*N*01*021*28*A", "REF*0F*E3", "NM1*IL*1*OKAFOR*ABE"]
    third += ["DMG*D8*19860412*X", "DMG*D8*19860412*F", "HD*021**DEN*DENHIGH*FAM"]
    third += ["DTP*348*D8*20260201"]
    fourth = subscriber("E4", demographics=("N4*COLUMBUS*OH*43001", "DMG*D8*19860412*F"))
    return interchange(transaction(first, second, third, fourth), sep=sep, term=term)


@pytest.mark.parametrize(("sep", "term"), [("*", "~"), ("|", "\n"), ("!", "~")])
def test_other_repeated_segments_read_exactly_as_the_first_copy(monkeypatch, sep, term):
    census = _read_with_and_without_shortcut(monkeypatch, _more_repeats_file(sep, term))
    first, second, third, fourth = census.members
    assert [m.subgroup_code for m in census.members] == ["DIV1", None, "DIV1", None]
    assert [m.postal_code for m in census.members] == ["43001", None, None, "43001"]
    assert [m.birth_date for m in census.members] == [date(1986, 4, 12), None, None] + [
        date(1986, 4, 12)
    ]
    assert [c.elected_volume for c in first.coverages] == [None, Decimal(50000)]
    assert [c.elected_volume for c in second.coverages] == [None, None]
    assert [c.elected_volume for c in third.coverages] == [None, Decimal(50000)]
    assert census.detail["group_policy_numbers"] == ["GRP1"]
    assert third.class_code == "GRP2"  # a reporting category's REF, whatever its qualifier
    assert third.dependents == []  # its bad gender makes it a row error
    assert (first.dependents[0].birth_date, first.dependents[0].gender) == (
        date(1986, 4, 12),
        Gender.FEMALE,
    )
    assert sum("19861399" in str(e) for e in census.errors) == 2
    assert sum("column DMG03" in str(e) for e in census.errors) == 2
    assert sum("column AMT02" in str(e) for e in census.errors) == 2

"""ANSI X12 834 benefit enrollment files (005010X220A1, and the older 004010X095A1) read into
the normalised census (`rows`). This module reads the member loops; the interchange, its
groups and sets are census.x12_sets, deviations read through census.x12_tolerance, and the 999
that answers a file census.x12_ack.

The tokenizer (billing_core.x12_envelope, shared with the 820 reader) takes the separators
the ISA declares (element = ISA byte 3, component = ISA16, segment terminator = the character
after ISA16, repetition = ISA11 in 5010) and copes with what real senders send: a UTF-8 BOM,
an ISA that is not fixed width, `~`, `~\\n`, `~\\r\\n` or newline-only terminators, lines
wrapped mid-segment, indentation, Unicode line separators, a terminator lost before a line
break, several GS and ST/SE sets. Bad content never raises.

Problems come in two kinds (CensusFile.errors, .warnings). An error means the file cannot be
applied as sent: a date that is not a date, a code that says nothing known, an envelope that
cannot be trusted (no IEA, counts of sets that do not add up), a file that is not an employer
group's benefit enrollment (the exchange 834 005010X307, no BGN, no sponsor or payer loop, a
full file that only adds). A warning is a deviation real senders make that is read the way
they meant it (see census.x12_tolerance): an SE01 count that is off, INS05 blank, INS codes or
the BGN action code one element late, REF*OF for REF*0F, a subscriber that is not self (a
child-only policy), an unknown HD01 on one line (that line is skipped), `;`-packed values, a
GS08 naming another guide while ST01 says 834, an SSN never issued, a member sent twice. Each
names the place ("ST 0001, INS #12 (employee 1001), segment 145"), the element ("DMG02") and
the value.

What a change file asks for is carried per person and per line. A dependent loop with no
subscriber loop before it in its transaction set is dependent-only maintenance: it becomes a
`dependents_only` row naming the subscriber by the dependent's REF*0F (or joins that
subscriber's row when its loop came in an earlier set of the file: one ST per person); a
dependent loop after a subscriber loop belongs to it by order, even when its REF*0F differs
(de-identified feeds scramble it: a warning). Whether the named subscriber is enrolled is the
diff's question. HD01 is read per line: an added line has its begin date, a changed one its DTP*303 date, an ended
(024) or deleted (002) one its end date. A line's end is its DTP*349, else the member's
DTP*357 (eligibility end) or a DTP*349 misplaced in loop 2000; `22991231` and later are "no
end". A cancel from inception (DTP*348 = DTP*349) is kept as a line ended the day before it
began (decision: dropping the line would leave an enrolled coverage billed; ending it before
its start reaches the diff and bills nothing), with a warning. A death (INS12, INS04 03) ends
every line at the date of death and makes the row a termination whatever INS03 says.

The code mappings (which INS02 is a child, which HD03 is which line, which HD05 which tier,
how ICM01 annualises...) are decisions, written down beside their tables below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

from billing_core.census.rows import (
    TEXT_LIMITS,
    CensusCoverage,
    CensusDependent,
    CensusFile,
    CensusMember,
    ControlTotals,
    Maintenance,
    clipped,
    collector_paused,
    length_problem,
    share_equal_coverages,
)
from billing_core.census.x12_ack import ACK_VERSION, acknowledgement_999
from billing_core.census.x12_sets import (
    EXCHANGE_834,
    VERSION_4010,
    VERSION_5010,
    InterchangeReader,
)
from billing_core.census.x12_tolerance import (
    BENEFIT_STATUS,
    EMPLOYMENT_STATUS,
    INS_ELEMENTS,
    open_ended,
    read_ins_statuses,
    ssn_problem,
)
from billing_core.errors import RowError
from billing_core.models.enums import (
    Gender,
    LineOfCoverage,
    MemberStatus,
    Relationship,
    Tier,
    UploadFormat,
    UploadKind,
)
from billing_core.money import D, cents
from billing_core.security import mask_ssn
from billing_core.x12_envelope import EnvelopeError as _EnvelopeError
from billing_core.x12_envelope import Separators, read_isa
from billing_core.x12_envelope import chunks as _chunks
from billing_core.x12_envelope import decode as _decode
from billing_core.x12_envelope import normalise_with_repairs as _normalise
from billing_core.x12_envelope import split_interchange as _split_interchange

__all__ = [
    "ACK_VERSION",
    "EXCHANGE_834",
    "VERSION_4010",
    "VERSION_5010",
    "Separators",
    "acknowledgement_999",
    "read_834",
    "segments",
    "split_interchange",
]

_log = logging.getLogger(__name__)

# --- code tables -----------------------------------------------------------------------------
# The guide's code lists are the 5010 ones; 4010 uses the same codes for everything read here.

# INS03 (see census.x12_sets for BGN08, full file or change file).
_MAINTENANCE = {
    "021": Maintenance.ADD,
    "024": Maintenance.TERM,
    "001": Maintenance.CHANGE,
    "025": Maintenance.REINSTATE,
    "030": Maintenance.AUDIT,
}
_HD_MAINTENANCE = {"001", "002", "021", "024", "025", "026", "030", "032"}
_HD_ENDING = ("024", "002")  # a line ended (024) or deleted (002): both need their last day
_INS03_WORDS = {"021": "an add", "001": "a change", "025": "a reinstatement", "030": "an audit"}

# INS02 of a dependent. Children in all but name (adopted, foster, ward, stepchild, grandchild,
# nephew/niece under guardianship, a minor dependent's child) bill as children; parents,
# siblings, in-laws, an ex-spouse, sponsored or collateral dependents have no tier: row error.
# A subscriber (INS01 Y) should be 18 (self); another code is a policy held by the dependent
# alone (a child-only policy): read as the subscriber, with a warning.
_RELATIONSHIP = {
    "01": Relationship.SPOUSE,
    "53": Relationship.DOMESTIC_PARTNER,
    "19": Relationship.CHILD,
    "09": Relationship.CHILD,  # adopted child
    "10": Relationship.CHILD,  # foster child
    "15": Relationship.CHILD,  # ward
    "17": Relationship.CHILD,  # stepchild
    "05": Relationship.CHILD,  # grandchild
    "07": Relationship.CHILD,  # nephew or niece
    "24": Relationship.CHILD,  # dependent of a minor dependent
}
_RELATIONSHIP_WORDS = {
    "03": "parent",
    "04": "grandparent",
    "06": "uncle or aunt",
    "08": "cousin",
    "11": "son- or daughter-in-law",
    "12": "brother- or sister-in-law",
    "13": "parent-in-law",
    "14": "brother or sister",
    "16": "stepparent",
    "23": "sponsored dependent",
    "25": "ex-spouse",
    "26": "guardian",
    "31": "court-appointed guardian",
    "38": "collateral dependent",
    "60": "annuitant",
    "D2": "trustee",
    "G8": "other relationship",
    "G9": "other relative",
}

# Status: INS05 C -> COBRA; else INS08 RT -> retiree, TE -> terminated; else active (INS05
# A/S/T, INS08 AC/AO/AU/FT/PT/L1).
_BENEFIT_STATUS = BENEFIT_STATUS
_EMPLOYMENT_STATUS = EMPLOYMENT_STATUS

# HD03 lines. The medical riders (drug, mail-order drug, mental health, wellness, facility,
# practitioner, utilization review) are medical only when the member has no other medical HD
# loop, else they fold into it. Life is not in the guide's list, so the codes life carriers'
# companion guides use are accepted (LIF basic, SLF/OPL/VLF supplemental, ADD). AH is "24 hour
# care" in the guide, not life: like HE (hearing) and LTC it is no line billed here: row error.
_MEDICAL = LineOfCoverage.MEDICAL
_LINES = {
    "HLT": _MEDICAL,
    "MM": _MEDICAL,
    "HMO": _MEDICAL,
    "PPO": _MEDICAL,
    "EPO": _MEDICAL,
    "POS": _MEDICAL,
    "AJ": _MEDICAL,
    "DEN": LineOfCoverage.DENTAL,
    "DCP": LineOfCoverage.DENTAL,
    "VIS": LineOfCoverage.VISION,
    "STD": LineOfCoverage.STD,
    "LTD": LineOfCoverage.LTD,
    "LIF": LineOfCoverage.BASIC_LIFE,
    "LIFE": LineOfCoverage.BASIC_LIFE,
    "BLF": LineOfCoverage.BASIC_LIFE,
    "BL": LineOfCoverage.BASIC_LIFE,
    "SLF": LineOfCoverage.SUPPLEMENTAL_LIFE,
    "OPL": LineOfCoverage.SUPPLEMENTAL_LIFE,
    "VLF": LineOfCoverage.SUPPLEMENTAL_LIFE,
    "SUP": LineOfCoverage.SUPPLEMENTAL_LIFE,
    "SL": LineOfCoverage.SUPPLEMENTAL_LIFE,
    "ADD": LineOfCoverage.ADD,
    "ADND": LineOfCoverage.ADD,
    "AD": LineOfCoverage.ADD,
}
_MEDICAL_RIDERS = {"PDG", "MOD", "AK", "AG", "FAC", "PRA", "UR"}
_LINE_WORDS = {"AH": "24-hour care", "HE": "hearing", "LTC": "long-term care"}
_VOLUME_LINES = {LineOfCoverage.BASIC_LIFE, LineOfCoverage.SUPPLEMENTAL_LIFE, LineOfCoverage.ADD}

# HD05 tiers: one person covered (EMP, IND, SPO) bills EE; SPC (spouse and children) FAM.
# E1D..E9D, TWO and DEP do not say who the dependents are: the tier is read from the dependents
# the same INS group lists on that line (partner and children FAM, partner ES, children EC)
# and left None ("not stated", the enrolled tier stands) when none are listed.
_TIERS = {
    "EMP": Tier.EE,
    "IND": Tier.EE,
    "SPO": Tier.EE,
    "ESP": Tier.ES,
    "ECH": Tier.EC,
    "CHD": Tier.EC,
    "FAM": Tier.FAM,
    "SPC": Tier.FAM,
}
_TIER_FROM_DEPENDENTS = {"E1D", "E2D", "E3D", "E5D", "E6D", "E7D", "E8D", "E9D", "TWO", "DEP"}

# ICM01 pay periods a year; ICM02 is the wage per period. Hourly (H) is ICM02 x ICM03 weekly
# hours (40 when absent) x 52; daily is 5 days x 52 weeks. 9 lump sum, B year to date, C single
# and U unknown cannot be annualised: row error. The result is rounded half-up to the cent.
_PERIODS_PER_YEAR = {
    "1": 52,
    "2": 26,
    "3": 24,
    "4": 12,
    "6": 260,
    "7": 1,
    "8": 6,
    "Q": 4,
    "S": 2,
}
_DEFAULT_WEEKLY_HOURS = Decimal(40)

# Life volume: AMT*FK (other unlisted amount) in the HD loop of a life or AD&D line, in dollars.
# AMT*P3 (premium), in the member's or a coverage's loop, is advisory: the portal bills from its
# own rates; the figures go to CensusFile.detail["reported_premiums"] for the review to compare.
# Dates: D8 and RD8 ranges. A coverage starts on DTP*348 (an RD8 348 gives its end too), ends
# on DTP*349 (inclusive), else on the member's DTP*357 (eligibility end; a 357 in the HD loop
# or a 349 in loop 2000 is read too, with a warning); a change (HD01 001) takes effect on its
# DTP*303 (the loop's, else the member's). An end in 2200 or later (22991231) is no end. A
# person's maintenance_date is DTP*303, else the date of death, else the last end of a term
# (357 as fallback), the first 348 of an add or reinstatement (356 as fallback).

_GENDER = {"F": Gender.FEMALE, "M": Gender.MALE, "U": Gender.UNKNOWN}

# NM1 entity codes of loop 2000's name loops (2100A member, B incorrect name, C mailing...)
_NM1_LOOPS = {"IL": "2100A", "74": "2100A", "70": "2100B", "31": "2100C", "36": "2100D"}
_NM1_LOOPS |= {"M8": "2100E", "S3": "2100F", "45": "2100H"}

# REF*0F is the employee id (a dependent's is its subscriber's: when it differs, de-identified
# feeds scramble it, and the dependent belongs to the subscriber loop it follows, with a
# warning); REF*DX, else REF*17, the subgroup; a loop 2750 reporting category (N1*75 name, then
# REF) named like CLASS gives the class, one named like DIVISION/LOCATION/DEPARTMENT/SUBGROUP/
# BILLING the subgroup when no REF did. REF*1L and REF*38 policy numbers go to
# CensusFile.detail. Decision on REF*17: some senders put the member's own id or a reporting
# period there rather than a category, and the reader cannot know the group's subgroups: it
# stays the subgroup_code candidate, and the diff uses a code only when it is one of the
# group's subgroups (the diff's job, not the reader's).
_CLASS_WORDS = ("CLASS",)
_SUBGROUP_WORDS = ("DIVISION", "LOCATION", "DEPARTMENT", "DEPT", "SUBGROUP", "BILLING")

# Enum members looked up once: attribute access on an Enum class is slow in Python 3.11 and
# the reader does it per segment.
_ADD, _TERM, _CHANGE = Maintenance.ADD, Maintenance.TERM, Maintenance.CHANGE
_REINSTATE, _AUDIT = Maintenance.REINSTATE, Maintenance.AUDIT
_COBRA, _RETIREE = MemberStatus.COBRA, MemberStatus.RETIREE
_TERMINATED = MemberStatus.TERMINATED
_SNAPSHOT, _CHILD = UploadKind.SNAPSHOT, Relationship.CHILD
_FAM, _ES, _EC = Tier.FAM, Tier.ES, Tier.EC

# --- tokenizer: billing_core.x12_envelope, with the 834's words in its messages ---------------


def _read_isa(text: str) -> tuple[Separators, list[str]]:
    return read_isa(text, "X12 834")


def split_interchange(data: bytes | str) -> tuple[Separators, Iterator[list[str]]]:
    """The interchange's separators and its segments as element lists (ISA first). Raises
    ValueError when there is no usable ISA header."""
    return _split_interchange(data, "X12 834")


def segments(data: bytes | str) -> list[list[str]]:
    """Every segment of an interchange as its list of elements (element 0 is the segment id)."""
    return list(split_interchange(data)[1])


# --- reader ----------------------------------------------------------------------------------


def _relationship_problem(code: str) -> str:
    if code == "18":
        return "a dependent (INS01 N) cannot be self (18)"
    if code in _RELATIONSHIP_WORDS:
        return (
            f"relationship {code} ({_RELATIONSHIP_WORDS[code]}) has no tier here: expected 01 "
            "spouse, 53 domestic partner or 19 child (09, 10, 15, 17, 05, 07, 24 count as "
            "children)"
        )
    return "unknown relationship code: expected 01 spouse, 53 domestic partner or 19 child"


# An HD loop while it is read is a list (cheaper than an object at 700,000 loops a file):
# [the CensusCoverage it becomes, HD01, HD03, HD05, segment position, is a medical rider,
#  its DTP*303 date]
_COV, _HD01, _HD03, _HD05, _POS, _RIDER, _D303 = range(7)

_UNREADABLE = (
    "the file could not be read past this point: its structure is not an 834 this reader "
    "understands (the problem was logged for the support team)"
)


class _Person:
    """One INS loop while it is read: the row it becomes and what is only known at its end."""

    __slots__ = ("row", "subscriber", "maintenance", "where", "pos", "named", "employee_id")
    __slots__ += ("dates", "coverages", "dependents", "valid", "family", "medical", "open_tier")
    __slots__ += ("code", "death", "deceased")

    def __init__(self, row, subscriber, where, pos):
        self.row = row
        self.subscriber = subscriber
        self.where = where
        self.pos = pos
        self.maintenance = None
        self.named = False
        self.employee_id = None
        self.dates = {}
        self.coverages = []
        self.dependents = []  # the dependents' _Person, for a subscriber
        self.valid = True
        self.family = None  # the subscriber's _Person, for a dependent
        self.medical = False  # has a medical HD loop other than a rider
        self.open_tier = False  # has an HD05 whose tier depends on the dependents
        self.code = ""  # INS03 as sent
        self.death = None  # the date of death (INS12)
        self.deceased = False  # a date of death, or INS04 03 (deceased)


def _ignore(el: list[str]) -> None:
    """Segments the census does not need (PER, N3, LUI, COB details...)."""


class _Dispatch(dict):
    """Segment id -> handler; a segment id without one is ignored from then on."""

    def __missing__(self, key: str):
        self[key] = _ignore
        return _ignore


def _as_sent(row: CensusMember) -> dict:
    """A subscriber row as the file said it, without where it was said (to find exact
    repeats of the same member)."""
    sent = row.as_dict()
    del sent["source_row"]
    for dependent in sent["dependents"]:
        del dependent["source_row"]
    return sent


class _Reader(InterchangeReader):
    """The member loops (INS and what follows it) on top of the envelope's handlers."""

    def __init__(self, source: str):
        super().__init__(source)
        self.handlers = _Dispatch(
            {
                "ISA": self.on_isa,
                "GS": self.on_gs,
                "ST": self.on_st,
                "BGN": self.on_bgn,
                "QTY": self.on_qty,
                "N1": self.on_n1,
                "INS": self.on_ins,
                "REF": self.on_ref,
                "DTP": self.on_dtp,
                "NM1": self.on_nm1,
                "N4": self.on_n4,
                "DMG": self.on_dmg,
                "ICM": self.on_icm,
                "HD": self.on_hd,
                "AMT": self.on_amt,
                "DSB": self.on_loop("2200"),
                "LX": self.on_loop("2310"),
                "COB": self.on_loop("2320"),
                "LS": self.on_ls,
                "LE": self.on_loop("2000"),
                "SE": self.on_se,
                "GE": self.on_ge,
                "IEA": self.on_iea,
            }
        )

    # -- member level -------------------------------------------------------------------------

    def on_ins(self, el: list[str]) -> None:
        st = self.st
        if st is None:
            self.file_error("INS", "a member (INS) outside any ST transaction set")
            return
        if self.person is not None:
            self.close_person()
        self.ins_no += 1
        self.loop = "2000"
        pos = self.seg_no - self.st_base
        if not st["first_ins"]:
            st["first_ins"] = pos
        where = f"ST {st['control']}, INS #{self.ins_no}"
        if 5 < len(el) < 10 and el[5]:  # the common INS: nothing after INS08 to read through
            benefit, employment, death, death_column, deviations = el[5], "", None, "", ()
            if len(el) == 9:
                employment = el[8]
        else:
            if len(el) < INS_ELEMENTS:
                el = el + [""] * (INS_ELEMENTS - len(el))
            benefit, employment, death, death_column, deviations = read_ins_statuses(el)
        indicator, relation, code = el[1], el[2], el[3]
        maintenance = _MAINTENANCE.get(code)
        if indicator == "Y":
            if self.subscriber is not None:
                self.close_family()
            st["subscribers"] += 1
            if maintenance is _ADD:
                st["adds"] += 1
            row = CensusMember(where, "", "", "", None)
            row.maintenance = maintenance
            person = _Person(row, True, where, pos)
            self.person = self.subscriber = person
            self.census.members.append(row)
            if benefit == "C":
                row.status = _COBRA
            elif employment == "RT":
                row.status = _RETIREE
            elif employment == "TE":
                row.status = _TERMINATED
            if employment and employment not in _EMPLOYMENT_STATUS:
                self.error(
                    "INS08",
                    "expected employment status AC, FT, PT, L1, AO, AU (active), RT retired or "
                    "TE terminated",
                    employment,
                )
            if relation != "18":
                relationship = _RELATIONSHIP.get(relation)
                words = f" ({relationship.value})" if relationship else ""
                self.warning(
                    "INS02",
                    f"the subscriber's relationship is {relation or '(blank)'}{words}, not 18 "
                    "(self): read as the subscriber of a policy in that person's own name (a "
                    "child-only policy)",
                    relation,
                    ik3="8",
                )
        elif indicator == "N":
            st["dependents"] += 1
            relationship = _RELATIONSHIP.get(relation)
            row = CensusDependent(where, "", "", None, relationship or _CHILD)
            row.maintenance = maintenance
            person = _Person(row, False, where, pos)
            self.person = person
            subscriber = self.subscriber
            if subscriber is not None:  # else dependent-only maintenance: see hold
                person.family = subscriber
                person.employee_id = subscriber.employee_id
                subscriber.dependents.append(person)
            if relationship is None:
                self.error("INS02", _relationship_problem(relation), relation)
        else:
            self.person = None
            self.error("INS01", "expected Y (subscriber) or N (dependent)", indicator)
            return
        person.maintenance = maintenance
        person.code = code
        for column, message, value in deviations:
            self.warning(column, message, value, ik3="8")
        if benefit not in _BENEFIT_STATUS:
            self.error(
                "INS05",
                "expected benefit status A active, C COBRA, S surviving or T TEFRA",
                benefit,
            )
        if maintenance is None:
            self.error(
                "INS03",
                "expected maintenance type 021 add, 024 term, 001 change, 025 reinstate or "
                "030 audit",
                code,
            )
        elif maintenance is _TERM and self.census.kind is _SNAPSHOT:
            self.error(
                "INS03",
                "a full file (BGN08 4) lists who is covered: send terminations (024) in a "
                "change file",
                code,
            )
        if el[4] == "03":  # INS04: deceased
            person.deceased = True
        if death is not None:
            day = self.date(death_column, death)
            if day is not None:
                person.death = day
                person.deceased = True

    def on_ref(self, el: list[str]) -> None:
        qualifier = el[1] if len(el) > 1 else ""
        value = el[2] if len(el) > 2 else ""
        loop = self.loop
        person = self.person
        if loop == "2000" and person is not None:
            if qualifier == "0F" or qualifier == "OF":
                if qualifier == "OF":
                    self.warning(
                        "REF01",
                        "REF*OF (the letter O) read as REF*0F (zero F), the subscriber identifier",
                        qualifier,
                        ik3="8",
                    )
                if ";" in value:
                    value = self.unpacked("REF02", value)
                if not value:
                    self.error("REF02", "the subscriber identifier is empty", value, ik4="1")
                    return
                value = self.fitting("REF02", "employee_id", value)
                if person.subscriber:
                    self.subscriber_id(person, value)
                elif person.family is not None:
                    if value != person.family.employee_id:
                        self.warning(
                            "REF02",
                            f"the dependent's subscriber identifier differs from the "
                            f"subscriber loop before it ({person.family.employee_id or 'none'})"
                            ": linked to that subscriber by order",
                            value,
                        )
                else:
                    person.employee_id = value
            elif qualifier == "1L":
                self.policy_numbers.add(value)
            elif person.subscriber and qualifier == "DX" and value:
                if ";" in value:
                    value = self.unpacked("REF02", value)
                person.row.subgroup_code = self.fitting("REF02", "subgroup_code", value) or None
            elif person.subscriber and qualifier == "17" and value:
                if not person.row.subgroup_code:
                    if ";" in value:
                        value = self.unpacked("REF02", value)
                    value = self.fitting("REF02", "subgroup_code", value)
                    person.row.subgroup_code = value or None
        elif loop == "2300":
            if qualifier == "1L":
                self.policy_numbers.add(value)
        elif loop == "2750" and person is not None and person.subscriber and value:
            name = self.category
            if any(word in name for word in _CLASS_WORDS):
                person.row.class_code = self.fitting("REF02", "class_code", value)
            elif any(word in name for word in _SUBGROUP_WORDS) and not person.row.subgroup_code:
                person.row.subgroup_code = self.fitting("REF02", "subgroup_code", value)
        elif loop == "HEADER" and qualifier == "38":
            self.master_policies.add(value)

    def subscriber_id(self, person: _Person, value: str) -> None:
        """The subscriber's REF*0F: its row's key, its dependents' too; a repeat in a full file
        is an error (one row per member), in a change file rows apply in order (close_family
        warns); a dependent held earlier in this set for the same subscriber came before it."""
        person.employee_id = value
        row = person.row
        row.employee_id = value
        for dependent in person.dependents:  # a dependent before its REF*0F
            dependent.employee_id = value
        rows = self.rows_by_id.get(value)
        if rows is None:
            self.rows_by_id[value] = [row]
        elif rows[-1] is not row:
            if self.census.kind is _SNAPSHOT:
                self.error(
                    "REF02",
                    f"employee {value} is listed twice in a full file (first at "
                    f"{rows[0].source_row})",
                    value,
                    ik4="I12",
                )
            rows.append(row)
        if self.held:
            held = self.held.pop(value, None)
            if held is not None:
                holder, where, pos = held
                self.census.members.remove(holder)
                self.error(
                    "INS01",
                    "a dependent comes before any subscriber in this transaction set, and its "
                    "subscriber's loop follows: dependents follow their subscriber's INS loop",
                    "N",
                    at=f"{where}, segment {pos}",
                    pos=pos,
                    segment="INS",
                    loop="2000",
                    ik3="2",
                    ik4=None,
                )

    def on_dtp(self, el: list[str]) -> None:
        loop = self.loop
        if loop == "2300":
            hd, cov = self.hd, self.cov
            if len(el) == 4 and el[1] == "348" and el[2] == "D8":  # the common case, kept short
                start = self.dates.get(el[3]) or self.date("DTP03", el[3])
                if hd[_D303] is None or hd[_HD01] != "001":  # a change dates from its 303
                    cov.effective_from = start
                return
            qualifier = el[1] if len(el) > 1 else ""
            if qualifier == "348":
                start, end = self.period("DTP", el)
                if el[2:3] == ["RD8"]:
                    cov.effective_to = open_ended(end)
                if hd[_D303] is None or hd[_HD01] != "001":
                    cov.effective_from = start
            elif qualifier == "349":
                cov.effective_to = open_ended(self.period("DTP", el)[1])
            elif qualifier == "303":
                day = hd[_D303] = self.period("DTP", el)[0]
                if hd[_HD01] == "001" and day is not None:
                    cov.effective_from = day  # a change takes effect on its 303
            elif qualifier == "357":
                end = open_ended(self.period("DTP", el)[1])
                if cov.effective_to is None:
                    cov.effective_to = end
                self.warning(
                    "DTP01",
                    "DTP*357 (eligibility end) in a coverage loop: read as the coverage's end "
                    "unless its DTP*349 says otherwise",
                    qualifier,
                    ik3="8",
                )
            return
        qualifier = el[1] if len(el) > 1 else ""
        person = self.person
        if loop == "2000":
            if person is None:
                return
            if qualifier in ("303", "336", "356", "357"):
                start, end = self.period("DTP", el)
                day = open_ended(end) if qualifier == "357" else start
                person.dates[qualifier] = day
                if qualifier == "336" and person.subscriber:
                    person.row.hire_date = day
            elif qualifier in ("348", "349"):
                start, end = self.period("DTP", el)
                person.dates[qualifier] = start if qualifier == "348" else open_ended(end)
                words = "begin" if qualifier == "348" else "end"
                self.warning(
                    "DTP01",
                    f"DTP*{qualifier} (benefit {words}) in the member's loop 2000 rather than a "
                    f"coverage loop: read as the {words} of every coverage that gives none",
                    qualifier,
                    ik3="8",
                )
        elif loop == "HEADER" and qualifier == "007":
            self.census.detail["file_effective_date"] = _iso(self.period("DTP", el)[0])

    def on_nm1(self, el: list[str]) -> None:
        code = el[1] if len(el) > 1 else ""
        loop = self.loop
        if loop in ("2320", "2330"):
            self.loop = "2330"
            return
        if loop == "2310":
            return
        self.loop = _NM1_LOOPS.get(code, "2100G")
        person = self.person
        if self.loop != "2100A" or person is None:
            return
        row = person.row
        row.last_name = self.fitting("NM103", "last_name", el[3] if len(el) > 3 else "")
        row.first_name = self.fitting("NM104", "first_name", el[4] if len(el) > 4 else "")
        person.named = True
        if not row.last_name:
            self.error("NM103", "the member's last name is missing", "", ik4="1")
        if len(el) > 9 and el[9] and el[8] == "34":
            self.read_ssn(row, el[9])

    def check_isa(self, isa: list[str]) -> None:
        """The interchange header's own values: a nine-digit control number (ISA13), a date
        and time (ISA09 YYMMDD, ISA10 HHMM), who sends it to whom (ISA05-ISA08), production
        or test data (ISA15 P or T). A header that fails is not an interchange to apply."""
        isa = ["".join(value.split()) for value in isa]  # a line wrapped inside an element
        problems = []
        if not (len(isa[13]) == 9 and isa[13].isascii() and isa[13].isdigit()):
            problems.append(("ISA13", "the interchange control number must be nine digits"))
        stamp = isa[9] + isa[10]
        try:
            if len(isa[9]) != 6 or len(isa[10]) != 4 or not (stamp.isascii() and stamp.isdigit()):
                raise ValueError(stamp)
            date(2000 + int(stamp[:2]), int(stamp[2:4]), int(stamp[4:6]))
            if int(stamp[6:8]) > 23 or int(stamp[8:]) > 59:
                raise ValueError(stamp)
        except ValueError:
            problems.append(("ISA09", "the interchange date and time must be YYMMDD and HHMM"))
        for column, what in (("ISA06", "sender"), ("ISA08", "receiver")):
            index = int(column[3:])
            if not isa[index] or not isa[index - 1]:
                problems.append((column, f"the interchange {what} and its qualifier are missing"))
        if isa[15] not in ("P", "T"):
            problems.append(("ISA15", "the usage indicator must be P (production) or T (test)"))
        for column, message in problems:
            value = isa[int(column[3:])]
            self.file_error(column, message, clipped(value), at=1)

    def fitting(self, column: str, field: str, value: str) -> str:
        """`value`, or (longer than the database keeps `field`) an error at `column` naming the
        limit and the value cut short (rows.length_problem)."""
        problem = length_problem(field, value)
        if problem is None:
            return value
        self.error(column, problem, clipped(value), ik4="5")
        return value[: TEXT_LIMITS[field]]

    def read_ssn(self, row: CensusMember | CensusDependent, sent: str) -> None:
        """NM109 under NM108 34. The member key is REF*0F, so an SSN is never a reason to
        refuse a file: nine digits are kept as sent (a number never issued or an ITIN with a
        warning: test feeds and real feeds carry both); anything else is dropped with a
        warning; all zeros is a sender's "not known" and means no SSN."""
        ssn = sent.replace("-", "").replace(" ", "")
        if ssn == "000000000":
            return
        if len(ssn) == 9 and ssn.isascii() and ssn.isdigit():
            row.ssn = ssn
            if ssn[0] in "069" or ssn[3:5] == "00" or ssn[5:] == "0000" or ssn == "123456789":
                problem = ssn_problem(ssn)  # the only numbers it finds a problem with
            else:
                problem = None
            if problem is not None:
                self.warning(
                    "NM109",
                    f"{problem}: kept as sent (the member is known by REF*0F)",
                    mask_ssn(ssn[-4:]),
                )
            return
        self.warning(
            "NM109",
            "expected a nine-digit SSN (NM108 34): not kept (the member is known by REF*0F)",
            mask_ssn(ssn[-4:]) if len(ssn) >= 4 else sent,
        )

    def on_n4(self, el: list[str]) -> None:
        person = self.person
        if self.loop == "2100A" and person is not None and person.subscriber and len(el) > 3:
            person.row.postal_code = self.fitting("N403", "postal_code", el[3]) or None

    def on_dmg(self, el: list[str]) -> None:
        person = self.person
        if self.loop != "2100A" or person is None:
            return
        row = person.row
        if len(el) > 2 and el[2]:
            if el[1] != "D8":
                self.error("DMG01", "expected the date format D8 for the birth date", el[1])
            else:
                row.birth_date = self.dates.get(el[2]) or self.date("DMG02", el[2])
        if len(el) > 3 and el[3]:
            gender = _GENDER.get(el[3])
            if gender is None:
                self.error("DMG03", "expected gender F, M or U", el[3])
            else:
                row.gender = gender

    def on_icm(self, el: list[str]) -> None:
        person = self.person
        if self.loop != "2100A" or person is None or not person.subscriber:
            return
        frequency = el[1] if len(el) > 1 else ""
        amount = self.amount("ICM02", el[2] if len(el) > 2 else "")
        if amount is None:
            return
        if frequency == "H":
            hours = _DEFAULT_WEEKLY_HOURS
            if len(el) > 3 and el[3]:
                hours = self.amount("ICM03", el[3])
                if hours is None:
                    return
            person.row.annual_salary = cents(amount * hours * 52)
            return
        periods = _PERIODS_PER_YEAR.get(frequency)
        if periods is None:
            self.error(
                "ICM01",
                "expected a pay frequency that gives an annual salary: 1 weekly, 2 bi-weekly, "
                "3 semi-monthly, 4 monthly, 6 daily, 7 annual, 8 bi-monthly, Q quarterly, "
                "S semi-annual or H hourly",
                frequency,
            )
            return
        person.row.annual_salary = cents(amount * periods)

    def amount(self, column: str, value: str) -> Decimal | None:
        result = self.amounts.get(value)  # life volumes repeat: each read once
        if result is not None:
            return result
        if value.isascii() and value.replace(".", "", 1).isdigit():
            # ASCII digits with at most one point: what D reads as Decimal(value), and never
            # negative (the common case, without D's clean-up of signs, commas and $)
            self.amounts[value] = result = Decimal(value)
            return result
        try:
            result = D(value)
        except (ValueError, TypeError):
            self.error(column, "expected an amount such as 1923.08", value, ik4="6")
            return None
        if result < 0:
            self.error(column, "expected an amount that is not negative", value, ik4="6")
            return None
        self.amounts[value] = result
        return result

    def on_hd(self, el: list[str]) -> None:
        self.loop = "2300"
        try:
            maint, code, plan, level = el[1], el[3], el[4], el[5]
        except IndexError:
            el = el + [""] * 6
            maint, code, plan, level = el[1], el[3], el[4], el[5]
        line = _LINES.get(code)
        self.cov = cov = CensusCoverage(line, plan or None, _TIERS.get(level))
        self.hd = hd = [cov, maint, code, level, self.seg_no - self.st_base, False, None]
        person = self.person
        if person is not None:
            person.coverages.append(hd)
            if line is None or maint not in _HD_MAINTENANCE or level not in _TIERS or ";" in plan:
                if not self.check_hd(person, hd):
                    return
            if line is _MEDICAL:
                person.medical = True

    def check_hd(self, person: _Person, hd: list) -> bool:
        """The unusual HD loops: riders, open coverage levels, `;`-packed plans and bad codes.
        False when the line is skipped: an unknown HD01 says nothing known about that line, so
        it is left out (and named in a warning) while the member's other lines are read."""
        cov, maint, code, level = hd[_COV], hd[_HD01], hd[_HD03], hd[_HD05]
        if maint not in _HD_MAINTENANCE:
            person.coverages.pop()
            plan = f" (plan {cov.plan_code})" if cov.plan_code else ""
            self.warning(
                "HD01",
                f"unknown coverage maintenance code {maint or '(blank)'}: the "
                f"{code or 'unnamed'} line{plan} is skipped (expected 021 add, 024 term, 002 "
                "delete, 001 change, 025 reinstate, 026 correction or 030 audit)",
                maint,
                ik3="8",
            )
            return False
        if cov.plan_code and ";" in cov.plan_code:
            cov.plan_code = self.unpacked("HD04", cov.plan_code) or None
        if cov.line is None:
            if code in _MEDICAL_RIDERS:
                cov.line, hd[_RIDER] = _MEDICAL, True
            else:
                if code in _LINE_WORDS:
                    message = (
                        f"insurance line {code} ({_LINE_WORDS[code]}) is not a line of coverage "
                        "billed here"
                    )
                else:
                    message = (
                        "unknown insurance line code: expected HLT/MM/HMO/PPO/EPO/POS "
                        "(medical), DEN, VIS, STD, LTD, LIF (basic life), SLF/OPL "
                        "(supplemental life) or ADD"
                    )
                self.error("HD03", message, code, ik4="1" if not code else "7")
        if level not in _TIERS:
            if level in _TIER_FROM_DEPENDENTS:
                person.open_tier = True
            elif level:
                self.error(
                    "HD05",
                    "expected coverage level EMP, ESP, ECH, FAM (or CHD, SPO, SPC, IND, TWO, "
                    "E1D..E9D, DEP)",
                    level,
                )
        return True

    def on_amt(self, el: list[str]) -> None:
        qualifier = el[1] if len(el) > 1 else ""
        if qualifier == "P3":
            self.reported_premium(el[2] if len(el) > 2 else "")
            return
        if self.loop != "2300" or self.cov is None:
            return
        if qualifier == "FK" and self.cov.line in _VOLUME_LINES:
            self.cov.elected_volume = self.amount("AMT02", el[2] if len(el) > 2 else "")

    def reported_premium(self, value: str) -> None:
        """AMT*P3: the premium the sender computed, for the member (loop 2100A) or a line
        (2300). Advisory: kept in detail for the review to compare with the portal's rating;
        a figure that is not an amount is a warning, never a reason to refuse the file."""
        person = self.person
        if person is None:
            return
        try:
            amount = D(value)
        except (ValueError, TypeError):
            self.warning("AMT02", "the premium (AMT*P3) is not an amount: left out", value)
            return
        cov = self.cov if self.loop == "2300" else None
        self.premiums.append(
            {
                "row": self.where(),
                "employee_id": person.employee_id or "",
                "dependent": not person.subscriber,
                "line": cov.line.value if cov is not None and cov.line is not None else None,
                "amount": str(amount),
            }
        )

    # -- closing a member ---------------------------------------------------------------------

    def close_person(self) -> None:
        """End the INS loop being read: checks that need the whole loop, then its row."""
        person = self.person
        if person is None:
            return
        if not person.named:
            self.missing("NM1", "the member has no NM1*IL name segment", person.pos, "2000")
        if person.deceased:
            self.read_death(person)
        if "356" in person.dates and person.maintenance is not _AUDIT:
            self.check_eligibility(person)
        if person.subscriber:
            if not person.employee_id:
                self.missing(
                    "REF",
                    "the subscriber has no REF*0F subscriber identifier (the employee id)",
                    person.pos,
                    "2000",
                )
            self.close_subscriber_row(person)
        else:
            self.close_dependent_row(person)
        self.person = None

    def missing(self, segment: str, message: str, pos: int, loop: str) -> None:
        self.error(segment, message, pos=pos, segment=segment, loop=loop, ik3="3", ik4=None)

    def read_death(self, person: _Person) -> None:
        """A death (a date in INS12, or INS04 03) ends the person's coverage whatever INS03
        says: senders send it as a change (001) with the date, and it must not read as an
        active change. The row becomes a termination at the date of death (its lines end
        then: see settle_line); without a date, the usual term dates must give one."""
        if person.maintenance is _TERM or person.maintenance is None:
            return
        death = person.death
        when = f" on {death.isoformat()}" if death is not None else ""
        what = _INS03_WORDS.get(person.code, "")
        self.warning(
            "INS03",
            f"a death{when} sent as {what} ({person.code}): read as a termination at the date "
            "of death",
            person.code,
            pos=person.pos,
        )
        person.maintenance = _TERM
        person.row.maintenance = _TERM

    def check_eligibility(self, person: _Person) -> None:
        """A coverage cannot begin before the member is eligible (DTP*356): when a change
        moves one date and not the other (the member's 356 against the line's 348), the file
        is read as sent and a person looks at which is right."""
        eligible = person.dates["356"]
        if eligible is None:
            return
        for hd in person.coverages:
            began = hd[_COV].effective_from
            if began is not None and began < eligible and hd[_HD01] not in _HD_ENDING:
                self.warning(
                    "DTP",
                    f"the {hd[_HD03]} coverage begins ({began.isoformat()}) before the member's "
                    f"eligibility begins (DTP*356 {eligible.isoformat()}): read as sent",
                    began.strftime("%Y%m%d"),
                    pos=hd[_POS],
                )
                return

    def check_dates(self, hd: list) -> None:
        """An added coverage needs its begin date, an ended (or deleted) one its end date."""
        cov, maint = hd[_COV], hd[_HD01]
        if maint in ("021", "025") and cov.effective_from is None:
            self.missing(
                "DTP",
                f"the {hd[_HD03]} coverage added has no DTP*348 benefit begin",
                hd[_POS],
                "2300",
            )
        elif maint in _HD_ENDING and cov.effective_to is None:
            self.missing(
                "DTP",
                f"the {hd[_HD03]} coverage ended has no DTP*349 benefit end (nor has the "
                "member a DTP*357 eligibility end)",
                hd[_POS],
                "2300",
            )

    def member_dates(self, person: _Person) -> tuple | None:
        """What the member's loop says for every line that does not say it itself: (begin,
        end, date of death), or None when it says nothing (the common case)."""
        dates = person.dates
        death = person.death
        if not dates and death is None:
            return None
        start = dates.get("348")
        end = dates.get("349") or dates.get("357")
        if start is None and end is None and death is None:
            return None
        return start, end, death

    def settle_line(self, hd: list, fill: tuple | None) -> None:
        """A line's dates once its loop is read: the member's begin and end where the line
        gives none; a cancel from inception (its end is its begin, DTP*348 = DTP*349) ended
        the day before it began, so nothing is billed; a death ends it at the date of death
        (a line that would begin later is then ended before it began: nothing billed)."""
        cov = hd[_COV]
        death = None
        if fill is not None:
            start, end, death = fill
            if cov.effective_from is None and start is not None:
                cov.effective_from = start
            if cov.effective_to is None and end is not None:
                cov.effective_to = end
        ends = cov.effective_to
        if ends is not None and ends == cov.effective_from:
            cov.effective_to = ends - timedelta(days=1)
            self.warning(
                "DTP",
                f"the {hd[_HD03]} coverage is cancelled from inception (it ends the day it "
                f"begins, {ends.isoformat()}): nothing billed; read as ended the day before it "
                "began",
                ends.strftime("%Y%m%d"),
                pos=hd[_POS],
            )
        if death is not None:
            if cov.effective_to is None or cov.effective_to > death:
                cov.effective_to = death
            if cov.effective_from is not None and cov.effective_from > death:
                self.warning(
                    "DTP",
                    f"the {hd[_HD03]} coverage begins ({cov.effective_from.isoformat()}) after "
                    f"the date of death ({death.isoformat()}): nothing billed",
                    cov.effective_from.strftime("%Y%m%d"),
                    pos=hd[_POS],
                )

    def close_dependent_row(self, person: _Person) -> None:
        row: CensusDependent = person.row
        lines = row.lines
        start = end = None
        all_ended = bool(person.coverages)
        fill = self.member_dates(person)
        for hd in person.coverages:
            cov = hd[_COV]
            if fill is not None or (
                cov.effective_to is not None and cov.effective_to == cov.effective_from
            ):
                self.settle_line(hd, fill)
            if hd[_HD01] != "030":
                self.check_dates(hd)
            if cov.line is not None:
                lines.add(cov.line)
            begins, ends = cov.effective_from, cov.effective_to
            if begins is not None and (start is None or begins < start):
                start = begins
            if ends is None:
                all_ended = False
            elif end is None or ends > end:
                end = ends
        dates = person.dates
        row.effective_from = start or dates.get("356") or dates.get("348")
        if all_ended:
            row.effective_to = end
        elif person.maintenance is _TERM:
            row.effective_to = (
                person.death or dates.get("303") or dates.get("349") or dates.get("357")
            )
            if row.effective_to is None:
                self.error(
                    "INS03",
                    "a dependent's termination needs its last covered day (DTP*349, DTP*357 or "
                    "DTP*303)",
                    "024",
                    pos=person.pos,
                    segment="INS",
                    loop="2000",
                    ik4="I12",
                )
        row.maintenance = person.maintenance
        row.maintenance_date = self.maintenance_date(person, report=False)
        family = person.family
        person.family = None
        if not person.valid:
            return
        if family is not None:
            family.row.dependents.append(row)
        else:
            self.hold(person, row)

    def hold(self, person: _Person, row: CensusDependent) -> None:
        """A dependent loop with no subscriber loop before it in its transaction set: a
        change file's dependent-only maintenance (a dependent added, changed or ended while
        the subscriber is not). It joins the subscriber's row when that loop came in an
        earlier set of the file (one ST per person), else a `dependents_only` row naming the
        subscriber by the dependent's REF*0F (whether that subscriber is enrolled is the
        diff's question). A full file lists every dependent under its subscriber."""
        employee_id = person.employee_id
        if not employee_id:
            self.error(
                "REF",
                "a dependent sent without its subscriber's INS loop needs REF*0F with the "
                "subscriber's identifier",
                pos=person.pos,
                segment="REF",
                loop="2000",
                ik3="3",
                ik4=None,
            )
            return
        if self.census.kind is _SNAPSHOT:
            self.error(
                "INS01",
                "a dependent comes before any subscriber in this transaction set: a full file "
                "(BGN08 4) lists each dependent under its subscriber's INS loop",
                "N",
                pos=person.pos,
                segment="INS",
                loop="2000",
                ik3="2",
                ik4=None,
            )
            return
        rows = self.rows_by_id.get(employee_id)
        if rows:
            rows[-1].dependents.append(row)
            return
        held = self.held.get(employee_id)
        if held is None:
            holder = CensusMember(person.where, employee_id, "", "", None, dependents_only=True)
            self.census.members.append(holder)
            self.held[employee_id] = (holder, person.where, person.pos)
        else:
            holder = held[0]
        holder.dependents.append(row)

    def close_subscriber_row(self, person: _Person) -> None:
        row: CensusMember = person.row
        medical = person.medical
        d303 = person.dates.get("303")
        fill = self.member_dates(person)
        append = row.coverages.append
        for hd in person.coverages:
            cov = hd[_COV]
            maint = hd[_HD01]
            if fill is not None or (
                cov.effective_to is not None and cov.effective_to == cov.effective_from
            ):
                self.settle_line(hd, fill)
            if maint != "030":
                self.check_dates(hd)
                if maint == "001" and d303 and hd[_D303] is None:
                    cov.effective_from = d303  # the member's change date speaks for the line
            if cov.line is None:
                continue
            if hd[_RIDER]:
                if medical:
                    hd[_COV] = None
                    continue  # folded into the member's medical coverage
                medical = True  # one rider stands in for medical, the others fold into it
            append(cov)
        if person.maintenance is _AUDIT:
            row.maintenance_date = d303
        else:
            row.maintenance_date = self.maintenance_date(person)

    def maintenance_date(self, person: _Person, *, report: bool = True) -> date | None:
        dates = person.dates
        if person.death is not None:
            return person.death
        if dates.get("303"):
            return dates["303"]
        maintenance = person.maintenance
        if maintenance is _AUDIT or maintenance is None:
            return None
        coverages = [hd for hd in person.coverages if hd[_COV] is not None]
        if maintenance is _TERM:
            ends = [hd[_COV].effective_to for hd in coverages if hd[_COV].effective_to]
            day = max(ends) if ends else (dates.get("349") or dates.get("357"))
            if day is None and report:
                self.error(
                    "INS03",
                    "a termination needs its last covered day (DTP*349 on the coverage, "
                    "DTP*357 or DTP*303)",
                    person.code,
                    pos=person.pos,
                    segment="INS",
                    loop="2000",
                    ik4="I12",
                )
            return day
        if maintenance in (_ADD, _REINSTATE):
            starts = [
                hd[_COV].effective_from
                for hd in coverages
                if hd[_COV].effective_from and hd[_HD01] not in _HD_ENDING
            ]
            return min(starts) if starts else (dates.get("356") or dates.get("348"))
        if maintenance is _CHANGE:
            changed = [hd for hd in coverages if hd[_HD01] != "030"]
            days = [hd[_COV].effective_from for hd in changed if hd[_HD01] not in _HD_ENDING]
            days = [d for d in days if d]
            if days:
                return min(days)
            ended = [hd[_COV].effective_to for hd in changed if hd[_HD01] in _HD_ENDING]
            ended = [d for d in ended if d]
            return max(ended) if ended else None
        return None

    def close_family(self) -> None:
        """End a subscriber's group of INS loops: a member sent again in a change file is
        named (rows apply in the order sent; an exact repeat changes nothing new), and tiers
        the coverage level leaves open (E1D, TWO...) are read from the dependents listed on
        each line."""
        self.close_person()
        subscriber = self.subscriber
        if subscriber is None:
            return
        self.subscriber = None
        dependents = subscriber.dependents
        subscriber.dependents = None  # no cycles: the reader's scaffolding is freed at once
        employee_id = subscriber.employee_id
        if employee_id and self.census.kind is not _SNAPSHOT:
            rows = self.rows_by_id.get(employee_id)
            if rows is not None and len(rows) > 1 and rows[-1] is subscriber.row:
                self.repeated(subscriber, rows)
        if not subscriber.open_tier:
            return
        for hd in subscriber.coverages:
            cov = hd[_COV]
            if hd[_HD05] not in _TIER_FROM_DEPENDENTS or cov is None or cov.line is None:
                continue
            partner = children = False
            for dependent in dependents:
                row = dependent.row
                if dependent.valid and cov.line in row.lines and row.effective_to is None:
                    if row.relationship is _CHILD:
                        children = True
                    else:
                        partner = True
            if partner:
                cov.tier = _FAM if children else _ES
            elif children:
                cov.tier = _EC

    def repeated(self, subscriber: _Person, rows: list[CensusMember]) -> None:
        """The same member again in a change file (an add, a term, the add again): each row
        applies in the order sent, and a person should see it."""
        employee_id = subscriber.employee_id
        at = f"{subscriber.where} (employee {employee_id}), segment {subscriber.pos}"
        sent = _as_sent(rows[-1])
        for earlier in rows[:-1]:
            if _as_sent(earlier) == sent:
                self.warning(
                    "INS",
                    f"employee {employee_id} is sent again exactly as at {earlier.source_row}: "
                    "rows are applied in the order sent",
                    employee_id,
                    at=at,
                )
                return
        self.warning(
            "INS",
            f"employee {employee_id} is listed more than once (first at {rows[0].source_row}): "
            "rows are applied in the order sent",
            employee_id,
            at=at,
        )

    # -- the run ------------------------------------------------------------------------------

    def fast_spec(self, el: list[str]) -> tuple | date | None:
        """What `run` may apply to later copies of this segment without reading it again: for
        an HD whose codes are all known, the coverage's fields; for a DTP*348*D8 (and nothing
        after) the begin date once it is known valid; None for any other segment."""
        if el[0] == "HD":
            if len(el) < 6:
                return None
            maint, code, plan, level = el[1], el[3], el[4], el[5]
            line = _LINES.get(code)
            tier = _TIERS.get(level)
            if line is None or tier is None or maint not in _HD_MAINTENANCE or ";" in plan:
                return None
            return (line, plan or None, tier, maint, code, level)
        if len(el) == 4 and el[1] == "348" and el[2] == "D8":
            return self.dates.get(el[3])  # None until parsed, and for a date that is not valid
        return None

    def run(self, data: bytes) -> CensusFile:
        text = _decode(data)
        try:
            separators, isa = _read_isa(text)
        except _EnvelopeError as exc:
            self.file_error(exc.column, exc.message, exc.value, located=False)
            return self.census
        width = len(separators.element.join(isa))
        self.isa = isa = [value.strip() for value in isa]
        self.check_isa(isa)
        if width != _ISA_WIDTH:
            self.file_warning(
                "ISA",
                f"the ISA header is not fixed width ({width} characters before its "
                f"terminator, the standard's {_ISA_WIDTH}): read by its separators",
                str(width),
                row="segment 1 of the file",
            )
        detail = self.census.detail
        detail.update(
            {
                "interchange_control": isa[13],
                "sender_qualifier": isa[5],
                "sender_id": isa[6],
                "receiver_qualifier": isa[7],
                "receiver_id": isa[8],
                "usage": isa[15],
                "separators": {
                    "element": separators.element,
                    "component": separators.component,
                    "segment": separators.segment,
                    "repetition": separators.repetition,
                },
            }
        )
        body, term, repaired = _normalise(text, separators)
        for line_no, segment in repaired:
            self.file_warning(
                segment[:3],
                f"the {segment[:3]} segment ends at the line break without its terminator "
                f"{separators.segment!r}: read as ended there",
                row=f"line {line_no} of the file",
            )
        sep = separators.element
        handlers = self.handlers
        count = 0
        # The two segments that make up half a file, an HD with nothing to check and a
        # DTP*348*D8 with a valid date, are the same few strings over and over: each distinct
        # one is read once (`fast_spec`) and its later copies are applied here without a split
        # or a handler, doing exactly what on_hd / on_dtp would. Anything else, and any copy
        # met where its shortcut does not apply (a DTP outside an HD loop), goes to its handler.
        fast: dict[str, object] = {}
        fast_get = fast.get
        hd_tag, dtp_tag = "HD", "DTP"
        for chunk in _chunks(body, term):
            for seg in chunk:
                count += 1
                spec = fast_get(seg)
                if spec is not None:
                    if spec.__class__ is tuple:  # HD: see on_hd
                        line, plan, tier, maint, code, level = spec
                        self.cov = cov = CensusCoverage(line, plan, tier)
                        self.hd = hd = [cov, maint, code, level, count - self.st_base, False, None]
                        self.loop = "2300"
                        person = self.person
                        if person is not None:
                            person.coverages.append(hd)
                            if line is _MEDICAL:
                                person.medical = True
                        continue
                    if self.loop == "2300":  # DTP*348*D8: see on_dtp
                        hd = self.hd
                        if hd[_D303] is None or hd[_HD01] != "001":
                            self.cov.effective_from = spec
                        continue
                el = seg.split(sep)
                self.seg_no = count
                if handlers[el[0]](el):
                    break  # IEA: the interchange ends here
                if spec is None and (el[0] == hd_tag or el[0] == dtp_tag):
                    spec = self.fast_spec(el)
                    if spec is not None:
                        fast[seg] = spec
            else:
                continue
            break
        self.seg_no = count
        if self.ended:
            start = body.find(term + "IEA" + sep)
            end = body.find(term, start + 1) if start >= 0 else -1
            rest = body[end + 1 :].strip() if end >= 0 else ""
            if rest:
                self.seg_no += 1
                self.after_end(rest.split(term, 1)[0].split(sep))
        if self.st is not None:
            self.close_set(missing_se=True)
        if self.group is not None:
            self.close_group(missing_ge=True)
        if not self.ended:
            self.file_error(
                "IEA", "the interchange has no IEA trailer: the file is truncated", located=False
            )
        self.finish()
        return self.census

    def finish(self) -> None:
        census, detail = self.census, self.census.detail
        self.check_full_file_of_adds()
        versions = [g["version"] for g in self.groups if g["version"]]
        detail["version"] = versions[0] if versions else None
        detail["group_control"] = self.groups[0]["control"] if self.groups else None
        detail["functional_groups"] = [
            {k: v for k, v in group.items() if k not in ("position", "guide_unknown")}
            for group in self.groups
        ]
        detail["transaction_sets"] = [
            {key: st[key] for key in ("control", "group", "group_index", "implementation", "kind")}
            | {
                "accepted": st["accepted"],
                "errors": st["errors"],
                "warned": st["warned"],
                "subscribers": st["subscribers"],
                "dependents": st["dependents"],
                "set_errors": st["set_errors"],
                "set_warnings": st["set_warnings"],
                "notes": st["notes"],
            }
            for st in self.sets
        ]
        detail["group_policy_numbers"] = sorted(self.policy_numbers - {""})
        detail["master_policy_numbers"] = sorted(self.master_policies - {""})
        if self.premiums:
            detail["reported_premiums"] = self.premiums
            total = sum((D(p["amount"]) for p in self.premiums), Decimal(0))
            self.file_warning(
                "AMT",
                f"the file states premiums (AMT*P3: {len(self.premiums)} figures, {total} in "
                "all): advisory, the portal bills from its own rates and the review compares "
                "them",
                row=None,
            )
        share_equal_coverages(census.members)
        if not self.sets:
            self.file_error("ST", "the file has no 834 transaction set", located=False)
        elif not census.members and not self.errors:  # a period with no changes: legitimate
            self.file_warning("INS", "the file lists no members: it changes nothing", row=None)
        totals = [st["qty"] for st in self.sets]
        if totals and any(totals):

            def summed(qualifier: str) -> int | None:
                if all(qualifier in qty for qty in totals):
                    return sum(qty[qualifier][0] for qty in totals)
                return None

            census.control_totals = ControlTotals(employees=summed("ET"), dependents=summed("DT"))
            detail["control_total_members"] = summed("TO")


_ISA_WIDTH = 105  # "ISA" and 16 fixed-width elements with their separators, before the terminator


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def read_834(data: bytes, source: str) -> CensusFile:
    """Read an 834 (005010X220A1 or 004010X095A1) into the normalised census.

    `kind` is SNAPSHOT for a full file (BGN08 4 or RX) and CHANGE for a change file (BGN08 2);
    `as_of` is the first transaction set's creation date (BGN03). Salaries are annual dollars
    (Decimal, half-up to the cent), life volumes dollars, coverage end dates inclusive (a line
    cancelled from inception ends the day before it begins). Never raises for any bytes:
    every problem is in `errors` (the file changes nothing) or `warnings` (read as the sender
    meant it), and `detail["transaction_sets"]` says per ST02 whether the set was accepted
    (with the notes a 999 reports)."""
    # The reader builds millions of small objects and frees none until the end: the cyclic
    # collector would rescan them again and again (a quarter of the time on 100,000
    # subscribers) to find nothing, so it is paused for the read (and what it built is then
    # handed to the oldest generation: see collector_paused).
    with collector_paused():
        reader = _Reader(source)
        try:
            return reader.run(data)
        except Exception:  # a file must never stop an upload: refuse it, and log the cause
            _log.exception("the 834 reader stopped at segment %s of %s", reader.seg_no, source)
            census = CensusFile(source=source, file_format=UploadFormat.X12_834)
            census.errors.append(
                RowError(f"segment {reader.seg_no} of the file", None, _UNREADABLE, source)
            )
            return census

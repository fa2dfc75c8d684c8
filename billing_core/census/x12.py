"""ANSI X12 834 benefit enrollment files (005010X220A1, and the older 004010X095A1) read into
the normalised census (`rows`), and the 999 implementation acknowledgment that answers them.

The tokenizer (billing_core.x12_envelope, shared with the 820 reader) takes the separators
the ISA declares (element = ISA byte 3, component = ISA16, segment terminator = the character
after ISA16, repetition = ISA11 in 5010) and copes with what real senders send: a UTF-8 BOM, an ISA that is not fixed width, `~`, `~\\n`, `~\\r\\n`
or newline-only terminators, lines wrapped mid-segment, blanks around separators, several
GS and ST/SE sets. Bad content never raises: every problem is a `RowError` naming the place
("ST 0001, INS #12 (employee 1001), segment 145"), the element ("DMG02") and the value.

The code mappings (which INS02 is a child, which HD03 is which line, which HD05 which tier,
how ICM01 annualises...) are decisions, written down beside their tables below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from billing_core.census.rows import (
    CensusCoverage,
    CensusDependent,
    CensusFile,
    CensusMember,
    ControlTotals,
    Maintenance,
    collector_paused,
    share_equal_coverages,
)
from billing_core.errors import RowError, ValidationFailed
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
from billing_core.security import mask_ssn, normalize_ssn
from billing_core.x12_envelope import EnvelopeError as _EnvelopeError
from billing_core.x12_envelope import Separators, read_isa
from billing_core.x12_envelope import chunks as _chunks
from billing_core.x12_envelope import decode as _decode
from billing_core.x12_envelope import normalise as _normalise
from billing_core.x12_envelope import split_interchange as _split_interchange

__all__ = ["Separators", "acknowledgement_999", "read_834", "segments", "split_interchange"]

VERSION_5010 = "005010X220A1"
VERSION_4010 = "004010X095A1"
ACK_VERSION = "005010X231A1"

# --- code tables -----------------------------------------------------------------------------
# The guide's code lists are the 5010 ones; 4010 uses the same codes for everything read here.

# BGN08: 2 change; 4 verify and RX replace are both full files. In a full file a termination
# (INS03 024) is an error: a full file lists who is covered, terms belong in a change file. An
# audit row (030) in a change file is accepted and means "as is".
_KIND = {"2": UploadKind.CHANGE, "4": UploadKind.SNAPSHOT, "RX": UploadKind.SNAPSHOT}

_MAINTENANCE = {
    "021": Maintenance.ADD,
    "024": Maintenance.TERM,
    "001": Maintenance.CHANGE,
    "025": Maintenance.REINSTATE,
    "030": Maintenance.AUDIT,
}
_HD_MAINTENANCE = {"001", "002", "021", "024", "025", "026", "030", "032"}

# INS02 of a dependent. Children in all but name (adopted, foster, ward, stepchild, grandchild,
# nephew/niece under guardianship, a minor dependent's child) bill as children; parents,
# siblings, in-laws, an ex-spouse, sponsored or collateral dependents have no tier: row error.
# A subscriber (INS01 Y) must be 18 (self).
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
_BENEFIT_STATUS = {"A", "C", "S", "T"}
_EMPLOYMENT_STATUS = {"AC", "AO", "AU", "FT", "PT", "L1", "RT", "TE"}

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
# Dates: D8 and RD8 ranges. A coverage starts on DTP*348 (an RD8 348 gives its end too), ends
# on DTP*349 (inclusive); a change (HD01 001) takes effect on its DTP*303 (the loop's, else the
# member's). The subscriber's maintenance_date is DTP*303, else the last 349 of a term (357
# eligibility end as fallback), the first 348 of an add or reinstatement (356 as fallback).

_GENDER = {"F": Gender.FEMALE, "M": Gender.MALE, "U": Gender.UNKNOWN}

# NM1 entity codes of loop 2000's name loops (2100A member, B incorrect name, C mailing...)
_NM1_LOOPS = {"IL": "2100A", "74": "2100A", "70": "2100B", "31": "2100C", "36": "2100D"}
_NM1_LOOPS |= {"M8": "2100E", "S3": "2100F", "45": "2100H"}
_N1_LOOPS = {"P5": "1000A", "IN": "1000B", "BO": "1000C", "TV": "1000C", "75": "2750"}

# REF*0F is the employee id (a dependent's must be its subscriber's); REF*DX, else REF*17, the
# subgroup; a loop 2750 reporting category (N1*75 name, then REF) named like CLASS gives the
# class, one named like DIVISION/LOCATION/DEPARTMENT/SUBGROUP/BILLING the subgroup when no REF
# did. REF*1L and REF*38 policy numbers go to CensusFile.detail.
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


class _Person:
    """One INS loop while it is read: the row it becomes and what is only known at its end."""

    __slots__ = ("row", "subscriber", "maintenance", "where", "pos", "named", "employee_id")
    __slots__ += ("dates", "coverages", "dependents", "valid", "family", "medical", "open_tier")

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


def _ignore(el: list[str]) -> None:
    """Segments the census does not need (PER, N3, LUI, COB details...)."""


class _Dispatch(dict):
    """Segment id -> handler; a segment id without one is ignored from then on."""

    def __missing__(self, key: str):
        self[key] = _ignore
        return _ignore


class _Reader:
    def __init__(self, source: str):
        self.source = source
        self.census = CensusFile(source=source, file_format=UploadFormat.X12_834)
        self.errors = self.census.errors
        self.dates: dict[str, date | None] = {}
        self.amounts: dict[str, Decimal] = {}  # valid amounts only: a bad one is reported each time
        self.seg_no = 0  # ordinal in the file
        self.st_base = 0  # segments before the current ST
        self.loop = ""
        self.isa: list[str] = []
        self.interchanges = 0
        self.ended = False  # IEA seen
        self.group: dict | None = None
        self.groups: list[dict] = []
        self.st: dict | None = None
        self.sets: list[dict] = []
        self.ins_no = 0
        self.person: _Person | None = None
        self.subscriber: _Person | None = None
        self.hd: list | None = None  # the HD loop being read (see _COV)
        self.cov: CensusCoverage | None = None  # its coverage
        self.category: str = ""
        self.seen_ids: dict[str, str] = {}
        self.policy_numbers: set[str] = set()
        self.master_policies: set[str] = set()
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

    @property
    def pos(self) -> int:
        """Position in the transaction set (ST = 1), as SE01 and the 999's IK302 count."""
        return self.seg_no - self.st_base

    # -- errors -------------------------------------------------------------------------------

    def where(self, pos: int | None = None) -> str:
        if self.st is None:
            return f"segment {self.seg_no} of the file"
        at = f"ST {self.st['control']}"
        person = self.person
        if person is not None:
            at = person.where
            if person.employee_id:
                at += f" (employee {person.employee_id})"
        return f"{at}, segment {self.pos if pos is None else pos}"

    def error(
        self,
        column: str | None,
        message: str,
        value: str | None = None,
        *,
        ik4: str | None = "7",
        ik3: str | None = "8",
        pos: int | None = None,
        segment: str | None = None,
        loop: str | None = None,
    ) -> None:
        """Record a problem at the current segment (or `pos`). `ik3`/`ik4` are the 999's
        segment and element error codes (8 data element errors; 7 invalid code, 8 invalid
        date, 1 missing, 6 invalid character, I12 pattern); `ik3` None for trailer problems,
        which the 999 reports in IK5 rather than as a segment note."""
        self.errors.append(RowError(self.where(pos), column, message, self.source, value))
        if self.person is not None:
            self.person.valid = False
        st = self.st
        if st is None:
            return
        st["errors"] += 1
        if ik3 is None:
            return
        element = None
        if column and segment is None:
            match = re.match(r"([A-Z][A-Z0-9]{1,2}?)(\d\d)$", column)
            if match:
                segment, element = match.group(1), int(match.group(2))
        elif column and segment and column.startswith(segment) and column[len(segment) :].isdigit():
            element = int(column[len(segment) :])
        note = {
            "segment": segment or (column or "")[:3],
            "position": pos if pos is not None else self.pos,
            "loop": loop if loop is not None else self.loop,
            "code": ik3,
        }
        if element is not None and ik4:
            note["element"] = element
            note["element_code"] = ik4
        st["notes"].append(note)

    def file_error(
        self, column: str | None, message: str, value: str | None = None, *, located=True
    ) -> None:
        """An envelope problem: at this segment of the file, or (not `located`) the whole file."""
        row = f"segment {self.seg_no} of the file" if located else None
        self.errors.append(RowError(row, column, message, self.source, value))

    def date(self, column: str, value: str) -> date | None:
        """A D8 date (CCYYMMDD); files repeat the same few dates, so parses are cached."""
        parsed = self.dates.get(value)
        if parsed is not None:
            return parsed
        if len(value) == 8 and value.isdigit():
            try:
                parsed = date(int(value[:4]), int(value[4:6]), int(value[6:]))
            except ValueError:
                parsed = None
        self.dates[value] = parsed
        if parsed is None:
            self.error(column, "expected a date as CCYYMMDD", value, ik4="8")
        return parsed

    def period(self, segment: str, el: list[str]) -> tuple[date | None, date | None]:
        """DTP02/DTP03 (or DMG01/02): a D8 date or an RD8 range; (start, end)."""
        fmt = el[2] if len(el) > 2 else ""
        value = el[3] if len(el) > 3 else ""
        if fmt == "D8":
            day = self.dates.get(value) or self.date(segment + "03", value)
            return day, day
        if fmt == "RD8":
            first, _, last = value.partition("-")
            if not last:
                self.error(segment + "03", "expected a range as CCYYMMDD-CCYYMMDD", value, ik4="8")
                return None, None
            return self.date(segment + "03", first), self.date(segment + "03", last)
        self.error(segment + "02", "expected the date format D8 or RD8", fmt)
        return None, None

    # -- envelope -----------------------------------------------------------------------------

    def on_isa(self, el: list[str]) -> None:
        self.interchanges += 1
        if self.interchanges > 1:
            self.file_error("ISA", "a second ISA inside the interchange: the file is damaged")

    def after_end(self, el: list[str]) -> None:
        if el[0] == "ISA":
            message = "a second interchange follows the IEA: send one ISA/IEA interchange per file"
        else:
            message = "segments follow the IEA interchange trailer"
        self.file_error(el[0][:3], message)

    def on_gs(self, el: list[str]) -> None:
        if self.st is not None:
            self.close_set(missing_se=True)
        if self.group is not None:
            self.close_group(missing_ge=True)
        version = el[8] if len(el) > 8 else ""
        control = el[6] if len(el) > 6 else ""
        group = {
            "control": control,
            "version": version,
            "sender": el[2] if len(el) > 2 else "",
            "receiver": el[3] if len(el) > 3 else "",
            "declared_sets": None,
            "sets": 0,
            "group_errors": [],
        }
        self.group = group
        self.groups.append(group)
        if (el[1] if len(el) > 1 else "") != "BE":
            self.file_error(
                "GS01",
                f"functional group {control} is not benefit enrollment (expected BE)",
                el[1] if len(el) > 1 else "",
            )
            group["group_errors"].append("1")
        if not (version.startswith("005010X220") or version.startswith("004010X095")):
            self.file_error(
                "GS08",
                f"functional group {control}: expected version {VERSION_5010} or {VERSION_4010}",
                version,
            )
            group["group_errors"].append("2")

    def on_st(self, el: list[str]) -> None:
        if self.st is not None:
            self.close_set(missing_se=True)
        control = el[2] if len(el) > 2 else ""
        self.st_base = self.seg_no - 1
        self.loop = "HEADER"
        self.ins_no = 0
        self.person = self.subscriber = None
        self.hd = self.cov = None
        st = {
            "control": control,
            "group": self.group["control"] if self.group else None,
            "group_index": len(self.groups) - 1 if self.group else None,
            "implementation": el[3] if len(el) > 3 else None,
            "kind": None,
            "accepted": False,
            "errors": 0,
            "notes": [],
            "set_errors": [],
            "subscribers": 0,
            "dependents": 0,
            "qty": {},
        }
        self.st = st
        self.sets.append(st)
        if self.group is None:
            self.error("ST", "the transaction set is not inside a GS functional group", ik4=None)
        else:
            self.group["sets"] += 1
        if (el[1] if len(el) > 1 else "") != "834":
            self.error(
                "ST01", "expected transaction set 834 (benefit enrollment)", "".join(el[1:2])
            )
            st["set_errors"].append("1")

    def on_bgn(self, el: list[str]) -> None:
        created = self.date("BGN03", el[3] if len(el) > 3 else "")
        if created is not None and self.census.as_of is None:
            self.census.as_of = created
        code = el[8] if len(el) > 8 else ""
        kind = _KIND.get(code)
        if kind is None:
            self.error(
                "BGN08",
                "expected 2 (a change file) or 4 / RX (a full file)",
                code,
                ik4="1" if not code else "7",
            )
            return
        self.st["kind"] = kind.value
        if self.census.kind is None:
            self.census.kind = kind
        elif self.census.kind is not kind:
            self.error(
                "BGN08",
                f"this transaction set is a {kind.value} but an earlier one is a "
                f"{self.census.kind.value}: one file is either a full file or a change file",
                code,
            )

    def on_qty(self, el: list[str]) -> None:
        if self.st is None or self.ins_no:
            return
        qualifier = el[1] if len(el) > 1 else ""
        value = el[2] if len(el) > 2 else ""
        if qualifier not in ("TO", "ET", "DT"):
            self.error("QTY01", "expected a control total TO, ET or DT", qualifier)
            return
        if not value.isdigit():
            self.error("QTY02", "expected a whole number of members", value, ik4="6")
            return
        self.st["qty"][qualifier] = (int(value), self.pos)

    def on_n1(self, el: list[str]) -> None:
        code = el[1] if len(el) > 1 else ""
        self.loop = _N1_LOOPS.get(code, self.loop)
        if code == "75":
            self.category = (el[2] if len(el) > 2 else "").upper()
            return
        if self.ins_no == 0 and code in ("P5", "IN", "BO", "TV"):
            key = {"P5": "sponsor", "IN": "payer", "BO": "broker", "TV": "administrator"}[code]
            self.census.detail.setdefault(
                key,
                {
                    "name": el[2] if len(el) > 2 else "",
                    "id_qualifier": el[3] if len(el) > 3 else "",
                    "id": el[4] if len(el) > 4 else "",
                },
            )

    def on_loop(self, loop: str):
        def enter(el: list[str]) -> None:
            self.loop = loop

        return enter

    def on_ls(self, el: list[str]) -> None:
        self.loop = "2700"
        self.category = ""

    def on_se(self, el: list[str]) -> None:
        if self.st is None:
            self.file_error("SE", "an SE trailer without its ST header")
            return
        declared = el[1] if len(el) > 1 else ""
        control = el[2] if len(el) > 2 else ""
        st = self.st
        self.close_family()
        self.check_totals()
        if not declared.isdigit():
            self.error("SE01", "expected the number of segments in the set", declared, ik3=None)
            st["set_errors"].append("4")
        elif int(declared) != self.pos:
            self.error(
                "SE01",
                f"the trailer counts {int(declared)} segments but {self.pos} were read: "
                "the file is truncated or was edited",
                declared,
                ik3=None,
            )
            st["set_errors"].append("4")
        if control != st["control"]:
            self.error(
                "SE02",
                f"the trailer's control number should repeat ST02 {st['control']}",
                control,
                ik3=None,
            )
            st["set_errors"].append("3")
        self.close_set()

    def on_ge(self, el: list[str]) -> None:
        if self.st is not None:
            self.close_set(missing_se=True)
        group = self.group
        if group is None:
            self.file_error("GE", "a GE trailer without its GS header")
            return
        declared = el[1] if len(el) > 1 else ""
        control = el[2] if len(el) > 2 else ""
        if not declared.isdigit() or int(declared) != group["sets"]:
            self.file_error(
                "GE01",
                f"functional group {group['control']} declares {declared or 'no'} transaction "
                f"sets but has {group['sets']}: the file is truncated or was edited",
                declared,
            )
            group["group_errors"].append("5")
        if declared.isdigit():
            group["declared_sets"] = int(declared)
        if control != group["control"]:
            self.file_error(
                "GE02",
                f"the group trailer's control number should repeat GS06 {group['control']}",
                control,
            )
            group["group_errors"].append("4")
        self.group = None

    def on_iea(self, el: list[str]) -> bool:
        if self.st is not None:
            self.close_set(missing_se=True)
        if self.group is not None:
            self.close_group(missing_ge=True)
        declared = el[1] if len(el) > 1 else ""
        control = el[2] if len(el) > 2 else ""
        if not declared.isdigit() or int(declared) != len(self.groups):
            self.file_error(
                "IEA01",
                f"the interchange declares {declared or 'no'} functional groups but has "
                f"{len(self.groups)}",
                declared,
            )
        if control != self.isa[13]:
            self.file_error(
                "IEA02",
                f"the interchange trailer's control number should repeat ISA13 {self.isa[13]}",
                control,
            )
        self.ended = True
        return True

    def close_set(self, *, missing_se: bool = False) -> None:
        st = self.st
        if missing_se:
            self.close_family()
            self.check_totals()
            self.error(
                "SE",
                f"transaction set {st['control']} has no SE trailer: the file is truncated",
                ik3=None,
            )
            st["set_errors"].append("2")
        if st["errors"] and not st["set_errors"]:
            st["set_errors"].append("5")
        st["accepted"] = st["errors"] == 0
        self.st = None
        self.person = self.subscriber = None
        self.hd = self.cov = None
        self.loop = ""

    def close_group(self, *, missing_ge: bool) -> None:
        if missing_ge:
            self.file_error(
                "GE",
                f"functional group {self.group['control']} has no GE trailer: the file is "
                "truncated",
            )
            self.group["group_errors"].append("3")
        self.group = None

    def check_totals(self) -> None:
        st = self.st
        read = {
            "ET": st["subscribers"],
            "DT": st["dependents"],
            "TO": st["subscribers"] + st["dependents"],
        }
        words = {"ET": "subscribers", "DT": "dependents", "TO": "members"}
        for qualifier, (stated, pos) in st["qty"].items():
            if stated != read[qualifier]:
                self.error(
                    "QTY02",
                    f"the control total QTY*{qualifier} states {stated} {words[qualifier]} but "
                    f"the set has {read[qualifier]}: the file is truncated or incomplete",
                    str(stated),
                    pos=pos,
                    segment="QTY",
                    loop="HEADER",
                    ik4="I12",
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
        where = f"ST {st['control']}, INS #{self.ins_no}"
        try:
            indicator, relation, code, benefit = el[1], el[2], el[3], el[5]
        except IndexError:
            el = el + [""] * 6
            indicator, relation, code, benefit = el[1], el[2], el[3], el[5]
        maintenance = _MAINTENANCE.get(code)
        if indicator == "Y":
            if self.subscriber is not None:
                self.close_family()
            st["subscribers"] += 1
            row = CensusMember(where, "", "", "", None)
            row.maintenance = maintenance
            person = _Person(row, True, where, self.seg_no - self.st_base)
            self.person = self.subscriber = person
            self.census.members.append(row)
            employment = el[8] if len(el) > 8 else ""
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
                self.error("INS02", "a subscriber (INS01 Y) must be self (18)", relation)
        elif indicator == "N":
            st["dependents"] += 1
            relationship = _RELATIONSHIP.get(relation)
            row = CensusDependent(where, "", "", None, relationship or _CHILD)
            person = _Person(row, False, where, self.seg_no - self.st_base)
            self.person = person
            subscriber = self.subscriber
            if subscriber is None:
                self.error(
                    "INS01",
                    "a dependent comes before any subscriber in this transaction set: "
                    "dependents follow their subscriber's INS loop",
                    indicator,
                    ik3="2",
                    ik4=None,
                )
            else:
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

    def on_ref(self, el: list[str]) -> None:
        qualifier = el[1] if len(el) > 1 else ""
        value = el[2] if len(el) > 2 else ""
        loop = self.loop
        person = self.person
        if loop == "2000" and person is not None:
            if qualifier == "0F":
                if not value:
                    self.error("REF02", "the subscriber identifier is empty", value, ik4="1")
                    return
                if person.subscriber:
                    person.employee_id = value
                    person.row.employee_id = value
                    for dependent in person.dependents:  # a dependent before its REF*0F
                        dependent.employee_id = value
                    if self.census.kind is _SNAPSHOT:
                        first = self.seen_ids.get(value)
                        if first is not None:
                            self.error(
                                "REF02",
                                f"employee {value} is listed twice in a full file (first at "
                                f"{first})",
                                value,
                                ik4="I12",
                            )
                        else:
                            self.seen_ids[value] = person.where
                elif person.family is not None and value != person.family.employee_id:
                    self.error(
                        "REF02",
                        f"the dependent's subscriber identifier differs from the subscriber "
                        f"before it ({person.family.employee_id or 'none'}): dependents follow "
                        "their own subscriber",
                        value,
                        ik4="I12",
                    )
                else:
                    person.employee_id = value
            elif qualifier == "1L":
                self.policy_numbers.add(value)
            elif person.subscriber and qualifier == "DX" and value:
                person.row.subgroup_code = value
            elif person.subscriber and qualifier == "17" and value:
                if not person.row.subgroup_code:
                    person.row.subgroup_code = value
        elif loop == "2300":
            if qualifier == "1L":
                self.policy_numbers.add(value)
        elif loop == "2750" and person is not None and person.subscriber and value:
            name = self.category
            if any(word in name for word in _CLASS_WORDS):
                person.row.class_code = value
            elif any(word in name for word in _SUBGROUP_WORDS) and not person.row.subgroup_code:
                person.row.subgroup_code = value
        elif loop == "HEADER" and qualifier == "38":
            self.master_policies.add(value)

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
                    cov.effective_to = end
                if hd[_D303] is None or hd[_HD01] != "001":
                    cov.effective_from = start
            elif qualifier == "349":
                cov.effective_to = self.period("DTP", el)[1]
            elif qualifier == "303":
                day = hd[_D303] = self.period("DTP", el)[0]
                if hd[_HD01] == "001" and day is not None:
                    cov.effective_from = day  # a change takes effect on its 303
            return
        qualifier = el[1] if len(el) > 1 else ""
        person = self.person
        if loop == "2000":
            if qualifier in ("303", "336", "356", "357") and person is not None:
                start, end = self.period("DTP", el)
                day = end if qualifier == "357" else start
                person.dates[qualifier] = day
                if qualifier == "336" and person.subscriber:
                    person.row.hire_date = day
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
        row.last_name = el[3] if len(el) > 3 else ""
        row.first_name = el[4] if len(el) > 4 else ""
        person.named = True
        if not row.last_name:
            self.error("NM103", "the member's last name is missing", "", ik4="1")
        if len(el) > 9 and el[9]:
            if el[8] == "34":
                ssn = el[9].replace("-", "").replace(" ", "")
                if ssn == "000000000":
                    pass  # senders' placeholder for "not known"
                elif len(ssn) == 9 and ssn.isdigit():
                    try:
                        row.ssn = normalize_ssn(ssn)
                    except ValueError:  # nine digits, but a number never issued
                        self.error(
                            "NM109",
                            "not a valid SSN (its area, group or serial number is never "
                            "issued); expected the member's own SSN (NM108 34)",
                            mask_ssn(ssn[-4:]),
                            ik4="7",
                        )
                else:
                    self.error(
                        "NM109",
                        "expected a nine-digit SSN (NM108 34)",
                        mask_ssn(ssn[-4:]) if ssn else el[9],
                        ik4="I12",
                    )

    def on_n4(self, el: list[str]) -> None:
        person = self.person
        if self.loop == "2100A" and person is not None and person.subscriber and len(el) > 3:
            person.row.postal_code = el[3] or None

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
            if line is _MEDICAL:
                person.medical = True
            if line is None or maint not in _HD_MAINTENANCE or level not in _TIERS:
                self.check_hd(person, hd)

    def check_hd(self, person: _Person, hd: list) -> None:
        """The unusual HD loops: riders, open coverage levels and bad codes."""
        cov, maint, code, level = hd[_COV], hd[_HD01], hd[_HD03], hd[_HD05]
        if maint not in _HD_MAINTENANCE:
            self.error(
                "HD01",
                "expected coverage maintenance 021 add, 024 term, 001 change, 025 reinstate, "
                "026 correction or 030 audit",
                maint,
            )
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

    def on_amt(self, el: list[str]) -> None:
        if self.loop != "2300" or self.cov is None:
            return
        if (el[1] if len(el) > 1 else "") == "FK" and self.cov.line in _VOLUME_LINES:
            self.cov.elected_volume = self.amount("AMT02", el[2] if len(el) > 2 else "")

    # -- closing a member ---------------------------------------------------------------------

    def close_person(self) -> None:
        """End the INS loop being read: checks that need the whole loop, then its row."""
        person = self.person
        if person is None:
            return
        if not person.named:
            self.missing("NM1", "the member has no NM1*IL name segment", person.pos, "2000")
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

    def check_dates(self, hd: list) -> None:
        """An added coverage needs its begin date, an ended one its end date."""
        cov, maint = hd[_COV], hd[_HD01]
        if maint in ("021", "025") and cov.effective_from is None:
            self.missing(
                "DTP",
                f"the {hd[_HD03]} coverage added has no DTP*348 benefit begin",
                hd[_POS],
                "2300",
            )
        elif maint == "024" and cov.effective_to is None:
            self.missing(
                "DTP",
                f"the {hd[_HD03]} coverage ended has no DTP*349 benefit end",
                hd[_POS],
                "2300",
            )

    def close_dependent_row(self, person: _Person) -> None:
        row: CensusDependent = person.row
        lines = row.lines
        start = end = None
        all_ended = bool(person.coverages)
        for hd in person.coverages:
            if hd[_HD01] != "030":
                self.check_dates(hd)
            cov = hd[_COV]
            if cov.line is not None:
                lines.add(cov.line)
            begins, ends = cov.effective_from, cov.effective_to
            if begins is not None and (start is None or begins < start):
                start = begins
            if ends is None:
                all_ended = False
            elif end is None or ends > end:
                end = ends
        row.effective_from = start or person.dates.get("356")
        if all_ended:
            row.effective_to = end
        elif person.maintenance is _TERM:
            row.effective_to = person.dates.get("303") or person.dates.get("357")
            if row.effective_to is None:
                self.error(
                    "INS03",
                    "a dependent's termination needs its last covered day (DTP*349 or DTP*303)",
                    "024",
                    pos=person.pos,
                    segment="INS",
                    loop="2000",
                    ik4="I12",
                )
        if person.valid and person.family is not None:
            person.family.row.dependents.append(row)
        person.family = None

    def close_subscriber_row(self, person: _Person) -> None:
        row: CensusMember = person.row
        medical = person.medical
        d303 = person.dates.get("303")
        append = row.coverages.append
        for hd in person.coverages:
            cov = hd[_COV]
            maint = hd[_HD01]
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

    def maintenance_date(self, person: _Person) -> date | None:
        dates = person.dates
        if dates.get("303"):
            return dates["303"]
        maintenance = person.maintenance
        coverages = [hd for hd in person.coverages if hd[_COV] is not None]
        if maintenance is _TERM:
            ends = [hd[_COV].effective_to for hd in coverages if hd[_COV].effective_to]
            day = max(ends) if ends else dates.get("357")
            if day is None:
                self.error(
                    "INS03",
                    "a termination needs its last covered day (DTP*349 on the coverage, or "
                    "DTP*303)",
                    "024",
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
                if hd[_COV].effective_from and hd[_HD01] != "024"
            ]
            return min(starts) if starts else dates.get("356")
        if maintenance is _CHANGE:
            changed = [hd for hd in coverages if hd[_HD01] != "030"]
            days = [hd[_COV].effective_from for hd in changed if hd[_HD01] != "024"]
            days = [d for d in days if d]
            if days:
                return min(days)
            ended = [hd[_COV].effective_to for hd in changed if hd[_HD01] == "024"]
            ended = [d for d in ended if d]
            return max(ended) if ended else None
        return None

    def close_family(self) -> None:
        """End a subscriber's group of INS loops: tiers the coverage level leaves open (E1D,
        TWO...) are read from the dependents listed on each line."""
        self.close_person()
        subscriber = self.subscriber
        if subscriber is None:
            return
        self.subscriber = None
        dependents = subscriber.dependents
        subscriber.dependents = None  # no cycles: the reader's scaffolding is freed at once
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
            if line is None or tier is None or maint not in _HD_MAINTENANCE:
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
        self.isa = isa = [value.strip() for value in isa]
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
        body, term = _normalise(text, separators)
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
        versions = [g["version"] for g in self.groups if g["version"]]
        detail["version"] = versions[0] if versions else None
        detail["group_control"] = self.groups[0]["control"] if self.groups else None
        detail["functional_groups"] = self.groups
        detail["transaction_sets"] = [
            {key: st[key] for key in ("control", "group", "group_index", "implementation", "kind")}
            | {
                "accepted": st["accepted"],
                "errors": st["errors"],
                "subscribers": st["subscribers"],
                "dependents": st["dependents"],
                "set_errors": st["set_errors"],
                "notes": st["notes"],
            }
            for st in self.sets
        ]
        detail["group_policy_numbers"] = sorted(self.policy_numbers - {""})
        detail["master_policy_numbers"] = sorted(self.master_policies - {""})
        share_equal_coverages(census.members)
        if not self.sets:
            self.file_error("ST", "the file has no 834 transaction set", located=False)
        totals = [st["qty"] for st in self.sets]
        if totals and any(totals):

            def summed(qualifier: str) -> int | None:
                if all(qualifier in qty for qty in totals):
                    return sum(qty[qualifier][0] for qty in totals)
                return None

            census.control_totals = ControlTotals(employees=summed("ET"), dependents=summed("DT"))
            detail["control_total_members"] = summed("TO")


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def read_834(data: bytes, source: str) -> CensusFile:
    """Read an 834 (005010X220A1 or 004010X095A1) into the normalised census.

    `kind` is SNAPSHOT for a full file (BGN08 4 or RX) and CHANGE for a change file (BGN08 2);
    `as_of` is the first transaction set's creation date (BGN03). Salaries are annual dollars
    (Decimal, half-up to the cent), life volumes dollars, coverage end dates inclusive. Never
    raises for bad content: every problem is in `errors`, and `detail["transaction_sets"]`
    says per ST02 whether the set was accepted (with the notes a 999 reports)."""
    # The reader builds millions of small objects and frees none until the end: the cyclic
    # collector would rescan them again and again (a quarter of the time on 100,000
    # subscribers) to find nothing, so it is paused for the read (and what it built is then
    # handed to the oldest generation: see collector_paused).
    with collector_paused():
        return _Reader(source).run(data)


# --- 999 acknowledgment ----------------------------------------------------------------------


def acknowledgement_999(
    census_file: CensusFile,
    data: bytes,
    *,
    control_number: int | None = None,
    now: datetime | None = None,
) -> str:
    """The 999 implementation acknowledgment (005010X231A1) answering the interchange `data`
    that `census_file` was read from: one ST*999 per functional group, with AK2/IK5 per 834
    transaction set (A accepted, R rejected), IK3/IK4 for each located error and AK9 (A, P
    partially accepted, R). Written with the received file's separators and line breaks.

    A 4010 file is answered with a 999 too (decision: one acknowledgment format to maintain;
    AK1 quotes the 4010 version and AK2 has no AK203 since 4010 sets carry no ST03). The
    interchange and group control numbers default to the received ISA13 (the answer travels
    the other way, so it does not collide with the sender's numbering); pass `control_number`
    to use our own sequence. Raises ValidationFailed when `data` has no usable ISA header."""
    text = _decode(data)
    try:
        separators, isa = _read_isa(text)
    except _EnvelopeError as exc:
        raise ValidationFailed(f"cannot acknowledge this file: {exc.message}") from None
    isa = [value.strip() for value in isa]
    e, c = separators.element, separators.component
    terminator = separators.segment + separators.suffix
    repetition = separators.repetition or next(
        ch for ch in "^!|{}" if ch not in (e, c, separators.segment)
    )
    now = now or datetime.now()
    if control_number is None:
        control_number = int(isa[13]) if isa[13].isdigit() else 1
    detail = census_file.detail
    sets = detail.get("transaction_sets", [])
    out: list[list[str]] = [
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            isa[7] or "ZZ",
            isa[8].ljust(15)[:15],
            isa[5] or "ZZ",
            isa[6].ljust(15)[:15],
            now.strftime("%y%m%d"),
            now.strftime("%H%M"),
            repetition,
            "00501",
            f"{control_number:09d}",
            "0",
            isa[15] if isa[15] in ("P", "T") else "P",
            c,
        ],
        [
            "GS",
            "FA",
            "",
            "",
            now.strftime("%Y%m%d"),
            now.strftime("%H%M"),
            str(control_number),
            "X",
            ACK_VERSION,
        ],
    ]
    groups = detail.get("functional_groups", [])
    if groups:
        out[1][2], out[1][3] = groups[0]["receiver"], groups[0]["sender"]
    for index, group in enumerate(groups):
        st_control = f"{index + 1:04d}"
        body = [
            ["ST", "999", st_control, ACK_VERSION],
            ["AK1", "BE", group["control"], group["version"]],
        ]
        members = [st for st in sets if st["group_index"] == index]
        accepted = 0
        for st in members:
            ak2 = ["AK2", "834", st["control"]]
            if st.get("implementation"):
                ak2.append(st["implementation"])
            body.append(ak2)
            for note in st["notes"]:
                loop = "" if note["loop"] in ("", "HEADER") else note["loop"]
                body.append(["IK3", note["segment"], str(note["position"]), loop, note["code"]])
                if "element" in note:
                    body.append(["IK4", str(note["element"]), "", note["element_code"]])
            if st["accepted"]:
                accepted += 1
                body.append(["IK5", "A"])
            else:
                body.append(["IK5", "R", *(st["set_errors"] or ["5"])[:5]])
        group_errors = group["group_errors"]
        received = len(members)
        if group_errors or accepted == 0:
            code = "R"
        elif accepted == received:
            code = "A"
        else:
            code = "P"
        declared = group["declared_sets"] if group["declared_sets"] is not None else received
        body.append(["AK9", code, str(declared), str(received), str(accepted), *group_errors[:5]])
        body.append(["SE", str(len(body) + 1), st_control])
        out.extend(body)
    out.append(["GE", str(len(groups)), str(control_number)])
    out.append(["IEA", "1", f"{control_number:09d}"])
    return "".join(_trim(segment, e) + terminator for segment in out)


def _trim(elements: list[str], sep: str) -> str:
    """A segment without trailing empty elements (X12 forbids trailing separators)."""
    while len(elements) > 1 and elements[-1] == "":
        elements = elements[:-1]
    return sep.join(elements)

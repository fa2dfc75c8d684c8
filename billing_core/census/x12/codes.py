"""The 834's code lists as the member loops read them, each a decision written down beside
its table: which INS03 is which maintenance, which INS02 is a child, which HD03 is which line
of coverage, which HD05 which tier, how ICM01 annualises a salary. The guide's code lists are
the 5010 ones; 4010 uses the same codes for everything read here. BGN08 (full file or change
file) is census.x12.interchange's."""

from __future__ import annotations

from decimal import Decimal

from billing_core.census.rows import Maintenance
from billing_core.models.enums import (
    Gender,
    LineOfCoverage,
    MemberStatus,
    Relationship,
    Tier,
    UploadKind,
)

# INS03 is census.rows.MAINTENANCE_CODES (a tabular change file's action column reads them too).
HD_MAINTENANCE = {"001", "002", "021", "024", "025", "026", "030", "032"}
HD_ENDING = ("024", "002")  # a line ended (024) or deleted (002): both need their last day
INS03_WORDS = {"021": "an add", "001": "a change", "025": "a reinstatement", "030": "an audit"}

# INS02 of a dependent. Children in all but name (adopted, foster, ward, stepchild, grandchild,
# nephew/niece under guardianship, a minor dependent's child) bill as children; parents,
# siblings, in-laws, an ex-spouse, sponsored or collateral dependents have no tier: row error.
# A subscriber (INS01 Y) should be 18 (self); another code is a policy held by the dependent
# alone (a child-only policy): read as the subscriber, with a warning.
RELATIONSHIPS = {
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
RELATIONSHIP_WORDS = {
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
# A/S/T, INS08 AC/AO/AU/FT/PT/L1). The codes also tell a shifted INS apart (census.x12.tolerance).
EMPLOYMENT_STATUS = frozenset({"AC", "AO", "AU", "FT", "PT", "L1", "RT", "TE"})
BENEFIT_STATUS = frozenset({"A", "C", "S", "T"})

# HD03 lines. The medical riders (drug, mail-order drug, mental health, wellness, facility,
# practitioner, utilization review) are medical only when the member has no other medical HD
# loop, else they fold into it. Life is not in the guide's list, so the codes life carriers'
# companion guides use are accepted (LIF basic, SLF/OPL/VLF supplemental, ADD). AH is "24 hour
# care" in the guide, not life: like HE (hearing) and LTC it is no line billed here: row error.
MEDICAL = LineOfCoverage.MEDICAL
LINES = {
    "HLT": MEDICAL,
    "MM": MEDICAL,
    "HMO": MEDICAL,
    "PPO": MEDICAL,
    "EPO": MEDICAL,
    "POS": MEDICAL,
    "AJ": MEDICAL,
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
MEDICAL_RIDERS = {"PDG", "MOD", "AK", "AG", "FAC", "PRA", "UR"}
LINE_WORDS = {"AH": "24-hour care", "HE": "hearing", "LTC": "long-term care"}
VOLUME_LINES = {LineOfCoverage.BASIC_LIFE, LineOfCoverage.SUPPLEMENTAL_LIFE, LineOfCoverage.ADD}

# HD05 tiers: one person covered (EMP, IND, SPO) bills EE; SPC (spouse and children) FAM.
# E1D..E9D, TWO and DEP do not say who the dependents are: the tier is read from the dependents
# the same INS group lists on that line (partner and children FAM, partner ES, children EC)
# and left None ("not stated", the enrolled tier stands) when none are listed.
TIERS = {
    "EMP": Tier.EE,
    "IND": Tier.EE,
    "SPO": Tier.EE,
    "ESP": Tier.ES,
    "ECH": Tier.EC,
    "CHD": Tier.EC,
    "FAM": Tier.FAM,
    "SPC": Tier.FAM,
}
TIER_FROM_DEPENDENTS = {"E1D", "E2D", "E3D", "E5D", "E6D", "E7D", "E8D", "E9D", "TWO", "DEP"}

# ICM01 pay periods a year; ICM02 is the wage per period. Hourly (H) is ICM02 x ICM03 weekly
# hours (40 when absent) x 52; daily is 5 days x 52 weeks. 9 lump sum, B year to date, C single
# and U unknown cannot be annualised: row error. The result is rounded half-up to the cent.
PERIODS_PER_YEAR = {
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
DEFAULT_WEEKLY_HOURS = Decimal(40)

# Life volume: AMT*FK (other unlisted amount) in the HD loop of a life or AD&D line, in dollars.
# AMT*P3 (premium), in the member's or a coverage's loop, is advisory: the portal bills from its
# own rates; the figures go to CensusFile.detail["reported_premiums"] for the review to compare.
# Dates: D8 and RD8 ranges. A coverage starts on DTP*348 (an RD8 348 gives its end too), ends
# on DTP*349 (inclusive), else on the member's DTP*357 (eligibility end; a 357 in the HD loop
# or a 349 in loop 2000 is read too, with a warning); a change (HD01 001) takes effect on its
# DTP*303 (the loop's, else the member's). An end in 2200 or later (22991231) is no end. A
# person's maintenance_date is DTP*303, else the date of death, else the last end of a term
# (357 as fallback), the first 348 of an add or reinstatement (356 as fallback).

GENDERS = {"F": Gender.FEMALE, "M": Gender.MALE, "U": Gender.UNKNOWN}

# NM1 entity codes of loop 2000's name loops (2100A member, B incorrect name, C mailing...)
NM1_LOOPS = {"IL": "2100A", "74": "2100A", "70": "2100B", "31": "2100C", "36": "2100D"}
NM1_LOOPS |= {"M8": "2100E", "S3": "2100F", "45": "2100H"}

# REF*0F is the employee id (a dependent's is its subscriber's: when it differs, de-identified
# feeds scramble it, and the dependent belongs to the subscriber loop it follows, with a
# warning); REF*DX, else REF*17, the subgroup; a loop 2750 reporting category (N1*75 name, then
# REF) named like CLASS gives the class, one named like DIVISION/LOCATION/DEPARTMENT/SUBGROUP/
# BILLING the subgroup when no REF did. REF*1L and REF*38 policy numbers go to
# CensusFile.detail. Decision on REF*17: some senders put the member's own id or a reporting
# period there rather than a category, and the reader cannot know the group's subgroups: it
# stays the subgroup_code candidate, and the diff uses a code only when it is one of the
# group's subgroups (the diff's job, not the reader's).
CLASS_WORDS = ("CLASS",)
SUBGROUP_WORDS = ("DIVISION", "LOCATION", "DEPARTMENT", "DEPT", "SUBGROUP", "BILLING")

# Enum members looked up once: attribute access on an Enum class is slow in Python 3.11 and
# the reader does it per segment.
ADD, TERM, CHANGE = Maintenance.ADD, Maintenance.TERM, Maintenance.CHANGE
REINSTATE, AUDIT = Maintenance.REINSTATE, Maintenance.AUDIT
COBRA, RETIREE = MemberStatus.COBRA, MemberStatus.RETIREE
TERMINATED = MemberStatus.TERMINATED
SNAPSHOT, CHILD = UploadKind.SNAPSHOT, Relationship.CHILD
FAM, ES, EC = Tier.FAM, Tier.ES, Tier.EC


def relationship_problem(code: str) -> str:
    """Why a dependent's INS02 is refused, in words."""
    if code == "18":
        return "a dependent (INS01 N) cannot be self (18)"
    if code in RELATIONSHIP_WORDS:
        return (
            f"relationship {code} ({RELATIONSHIP_WORDS[code]}) has no tier here: expected 01 "
            "spouse, 53 domestic partner or 19 child (09, 10, 15, 17, 05, 07, 24 count as "
            "children)"
        )
    return "unknown relationship code: expected 01 spouse, 53 domestic partner or 19 child"

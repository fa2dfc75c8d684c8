"""CSV and XLSX census and change files: the header vocabulary (`FIELDS`, `suggest_mapping`,
`missing_fields`), the checks a file must pass before anything reads it (size, type, encoding,
zip bombs), and `read_tabular`, which turns one into the normalised `CensusFile` of `rows.py`.

Every cell is read as text (pandas `dtype=str` for CSV; python-calamine's cells turned into the
text Excel shows, for XLSX), so ids, SSNs and ZIP codes keep their leading zeros. Cleaning runs
once per distinct value of a column (pandas factorize), never once per cell.

Rules a reader of a file can rely on:

* The header is the first row naming three known fields (title rows above it are skipped); row
  numbers are the spreadsheet's. One row per person: a subscriber (employee, COBRA participant,
  retiree) unless the relationship says spouse, domestic partner or child (blank: subscriber).
* Families: a dependent row with an employee id joins the subscriber row with that id, wherever
  it is. A dependent row with a blank id joins the nearest subscriber row above it (the "row
  order" layout of many HRIS exports). A blank dependent last name is the subscriber's.
* Tier of a medical/dental/vision line, first that applies: the line's tier column
  (`medical_tier`), the row's tier column (`tier`), spouse Y/N plus child count (a row error if
  given with a tier that disagrees). A plan column whose values are all tiers (a "Medical"
  column of EE/FAM) is the line's tier column. A file with no tier anywhere but a relationship
  column gets the tier of the dependent rows (spouse/partner ES, children EC, both FAM, none
  EE) on snapshot rows and adds; otherwise None (not stated). A bare tier in a file with no
  line columns applies to `tier_lines`.
* A dependent is on the subscriber's tiered lines whose tier covers it (spouse or domestic
  partner: ES, FAM; child: EC, FAM), never on life or disability lines; its coverage ends when
  the subscriber's does unless its own row ends it sooner.
* Dates: YYYY-MM-DD, MM/DD/YYYY, M/D/YY, YYYYMMDD, 15-Jan-2024, Jan 15 2024, a trailing time
  ("2024-01-15 00:00:00", "1/15/2024 0:00") and five-digit Excel serials. Month before day.
  Two-digit years: a birth date takes the latest year not after the reference date (max of
  `as_of` and today: 1/15/24 is 2024, 7/4/51 is 1951); any other date the year nearest `as_of`
  (3/1/98 -> 1998). Windows: birth 1900..reference; hire 1940..as_of+1y; termination, and an
  effective date in a change file, as_of-2y..as_of+1y; coverage start 1950..as_of+1y.
* A termination date is every coverage's last day (`effective_to`); in a change file it also
  makes the row a TERM (maintenance_date: termination date, else effective date).
* Kind guess when the caller gives none: an action column holding a value, or any termination
  date, makes a CHANGE file; otherwise a SNAPSHOT. `kind` stays None.
* ZIP codes of 3-4 digits are zero-padded (spreadsheets drop them); an SSN from a numeric Excel
  cell is zero-padded to nine digits (a number cannot hold them), never one from text. An SSN
  in an error is masked to its last four.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from itertools import repeat

import numpy as np
import pandas as pd
import python_calamine

from billing_core.census.rows import (
    CensusCoverage,
    CensusDependent,
    CensusFile,
    CensusMember,
    Maintenance,
    collector_paused,
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
from billing_core.security import mask_ssn, normalize_ssn

__all__ = [
    "FIELDS",
    "MAX_BYTES",
    "CensusField",
    "header_key",
    "missing_fields",
    "read_tabular",
    "suggest_mapping",
]

MAX_BYTES = 50 * 1024 * 1024
# An XLSX is a zip: its central directory is checked before any XML is inflated. A genuine
# 100,000-row census inflates to about 55 MB at a ratio near 10.
XLSX_MAX_UNCOMPRESSED = 512 * 1024 * 1024
XLSX_MAX_RATIO = 100  # per entry, for entries over XLSX_RATIO_FLOOR bytes
XLSX_RATIO_FLOOR = 1024 * 1024
XLSX_MAX_ENTRIES = 10_000
HEADER_SCAN_ROWS = 20  # a header may sit under a few title rows


# ---------------------------------------------------------------------------------------------
# The vocabulary: which census field a column can hold, and the headers that name it.


@dataclass(frozen=True)
class CensusField:
    """A field a file's column can be mapped to. `synonyms` are header texts seen in real files;
    they are compared after `header_key` (case, spaces and punctuation ignored)."""

    name: str
    label: str
    description: str
    synonyms: tuple[str, ...] = ()


def _f(name: str, label: str, description: str, *synonyms: str) -> CensusField:
    return CensusField(name, label, description, synonyms)


_FIELD_LIST = (
    # Who
    _f(
        "employee_id",
        "Employee ID",
        "The employer's id for the employee; the key a family is matched on. Required on "
        "subscriber rows; on a dependent row it names the subscriber (or is left blank).",
        "emp_id", "EE ID", "EEID", "Emp #", "Emp ID", "Empl ID", "EmplID", "Employee Number",
        "Employee No", "Emp No", "Emp Num", "EE #", "EE Number", "EE No", "Employee Num",
        "Subscriber ID", "Subscriber Number", "Payroll ID", "Payroll Number", "File Number",
        "Badge Number", "Badge", "Associate ID", "Worker ID", "Personnel Number", "ID",
    ),
    _f(
        "member_key",
        "Member ID",
        "The sender's id for the person on the row (member id, dependent sequence). Checked for "
        "duplicates; kept in CensusFile.detail['member_keys'].",
        "Member Key", "Member Number", "Member No", "Person ID", "Dependent ID", "Dep ID",
        "Dependent Number", "Dep Seq", "Dependent Sequence", "Member Seq", "Member Sequence",
        "Unique ID",
    ),
    _f(
        "relationship",
        "Relationship",
        "EE/Self/Employee/Subscriber/18 for the subscriber; SP/Spouse/01; CH/Child/Son/"
        "Daughter/19; DP/Domestic Partner/53. Blank means the subscriber.",
        "Rel", "Relation", "Relation Code", "Relationship Code", "Rel Code", "Rel Cd",
        "Relationship to Employee", "Relationship to Subscriber", "Relationship to Insured",
        "Member Relationship", "Member Type", "Dependent Type", "Person Type", "Dependent Relationship",
    ),
    _f(
        "first_name",
        "First name",
        "Required on every row.",
        "First", "FName", "First Nm", "Given Name", "Legal First Name", "Forename",
    ),
    _f(
        "last_name",
        "Last name",
        "Required on subscriber rows; a dependent row left blank takes the subscriber's.",
        "Last", "LName", "Last Nm", "Surname", "Family Name", "Legal Last Name",
    ),
    _f(
        "birth_date",
        "Date of birth",
        "Required on every row except a termination (or give an age instead). Never after the "
        "reference date.",
        "DOB", "Date of Birth", "Birth Date", "Birthdate", "Birthday", "Birth Dt", "BDate",
        "D.O.B.", "Date Birth",
    ),
    _f(
        "age",
        "Age",
        "Whole years, 0-120; accepted when a file has no dates of birth. Kept in "
        "CensusFile.detail['age_by_row'] (rows.py has no age).",
        "Current Age", "Member Age", "Age at Renewal", "Age Years",
    ),
    _f(
        "gender",
        "Gender",
        "M/Male, F/Female, U/Unknown (blank is unknown).",
        "Sex", "Gender Code", "Sex Code", "M/F",
    ),
    _f(
        "ssn",
        "SSN",
        "Nine digits, with or without dashes; never an unissued number (000/666/9xx area, 00 "
        "group, 0000 serial). A numeric Excel cell that lost leading zeros is padded.",
        "Social Security Number", "SS#", "SS #", "SS No", "SS Number", "Social", "Soc Sec",
        "Soc Sec No", "Soc Sec Number", "Social Security", "Social Security No",
        "Social Security #", "SSN/TIN", "Social Security Num",
    ),
    # Employment
    _f(
        "hire_date",
        "Hire date",
        "Between 1940 and one year after as_of.",
        "Date of Hire", "DOH", "Hire Dt", "Original Hire Date", "Most Recent Hire Date",
        "Rehire Date", "Employment Date", "Date Hired", "Hired",
    ),
    _f(
        "annual_salary",
        "Annual salary",
        "Dollars a year; $ and commas allowed, negative amounts refused; rounded to the cent.",
        "Salary", "Annual Earnings", "Annual Comp", "Annual Compensation", "Base Salary",
        "Annual Base Salary", "Annual Pay", "Yearly Salary", "Benefit Salary", "Insured Salary",
        "Annual Income", "Annual Wage", "Annual Wages", "Earnings", "Compensation",
        "Covered Salary", "Annual Base Pay",
    ),
    _f(
        "pay_rate",
        "Pay per pay period",
        "Pay for one pay period; annual salary = pay rate x periods of `pay_frequency` (x "
        "`hours_per_week` x 52 when the frequency is hourly). Used when no annual salary.",
        "Pay Rate", "Rate of Pay", "Pay Period Salary", "Salary per Pay Period",
        "Pay per Period", "Per Period Pay", "Period Pay", "Pay Period Amount",
    ),
    _f(
        "pay_frequency",
        "Pay frequency",
        "Weekly (52), bi-weekly (26), semi-monthly (24), monthly (12), annual (1) or hourly.",
        "Pay Freq", "Pay Cycle", "Payroll Frequency", "Pay Frequency Code", "Pay Period",
        "Pay Schedule", "Frequency",
    ),
    _f(
        "hourly_rate",
        "Hourly rate",
        "Dollars an hour; annual salary = hourly rate x hours_per_week x 52 when no annual "
        "salary or pay rate is given.",
        "Hourly Wage", "Hourly Pay", "Hourly Pay Rate", "Rate per Hour", "Wage Rate",
    ),
    _f(
        "hours_per_week",
        "Hours per week",
        "Scheduled hours a week, more than 0 and at most 168.",
        "Hours", "Weekly Hours", "Scheduled Hours", "Std Hours", "Standard Hours",
        "Hours Worked per Week", "Work Hours",
    ),
    _f(
        "status",
        "Status",
        "Active/A, COBRA/C, Retiree/R, Terminated/T (leave of absence counts as active); blank "
        "is active.",
        "Employment Status", "Emp Status", "Employee Status", "EE Status", "Member Status",
        "Coverage Status", "Enrollment Status", "Status Code",
    ),
    _f(
        "subgroup_code",
        "Location / division",
        "The billing subgroup code (location, division, department).",
        "Location", "Location Code", "Division", "Division Code", "Department", "Dept",
        "Dept Code", "Subgroup", "Sub Group", "Billing Group", "Bill Group", "Billing Location",
        "Billing Unit", "Bill Unit", "Branch", "Work Location", "Site",
    ),
    _f(
        "class_code",
        "Class",
        "The benefit class code (eligibility class, union/non-union).",
        "Employee Class", "Benefit Class", "Class Code", "Eligibility Class", "Benefit Group",
        "Job Class", "Coverage Class", "Class ID",
    ),
    _f(
        "postal_code",
        "ZIP code",
        "Five digits or ZIP+4; a ZIP that lost its leading zeros (3 or 4 digits) is padded.",
        "Zip", "Zip Code", "Zipcode", "Postal", "Postal Code", "ZIP5", "Home Zip", "Mailing Zip",
        "Residence Zip", "Zip+4",
    ),
    # What the row asks for
    _f(
        "action",
        "Action",
        "Change files: add (A/New/021), term (T/Terminate/Cancel/Delete/024), change "
        "(C/Update/001), reinstate (R/025); 'No change'/030 is an audit row.",
        "Action Code", "Transaction", "Transaction Type", "Transaction Code", "Change Type",
        "Change Code", "Maintenance Type", "Maint Type", "Maintenance Code", "Add/Term",
        "Add/Change/Term", "Activity", "Record Type",
    ),
    _f(
        "effective_date",
        "Effective date",
        "When the row's change takes effect (an add's start, a change's date). In a change file "
        "within 2 years before to 1 year after as_of; in a snapshot it is read as coverage start.",
        "Eff Date", "Effective", "Effective Dt", "Eff Dt", "Change Effective Date", "Change Date",
        "Event Date", "Transaction Effective Date", "Action Date", "Qualifying Event Date",
    ),
    _f(
        "coverage_effective_date",
        "Coverage effective date",
        "First day of the row's coverages (defaults to the effective date); 1950 to one year "
        "after as_of.",
        "Coverage Start Date", "Coverage Start", "Coverage Begin Date", "Coverage Eff Date",
        "Cov Eff Date", "Cov Effective Date", "Benefit Begin Date", "Benefit Effective Date",
        "Benefit Start Date", "Plan Effective Date", "Enrollment Date", "Original Effective Date",
    ),
    _f(
        "termination_date",
        "Termination date",
        "Last day of coverage: every coverage of the row ends on it, and in a change file the "
        "row is a termination. Within 2 years before to 1 year after as_of.",
        "Term Date", "Term Dt", "Date of Termination", "Termination Dt", "Coverage End Date",
        "Coverage Term Date", "Cov End Date", "Benefit End Date", "End Date", "Cancel Date",
        "Cancellation Date", "Termed Date", "Coverage Termination Date",
    ),
    # Coverage
    _f(
        "tier",
        "Coverage level",
        "EE, ES (employee + spouse), EC (employee + child(ren)), FAM, or Waive; applies to each "
        "medical/dental/vision line the row elects that has no tier column of its own.",
        "Cov Level", "Coverage Tier", "Coverage Level", "Cov Tier", "Tier Code", "Coverage Code",
        "Level", "Enrollment Tier", "Coverage Type", "Family Status", "Rate Tier",
    ),
    _f(
        "spouse",
        "Spouse covered (Y/N)",
        "Y/N; with child_count gives the tier when no tier column does.",
        "Spouse Y/N", "Spouse Covered", "Has Spouse", "Covered Spouse", "Spouse Coverage",
        "Spouse Flag", "Spouse Enrolled",
    ),
    _f(
        "child_count",
        "Children covered",
        "A whole number of covered children; with spouse gives the tier.",
        "Child Count", "Children", "Number of Children", "Num Children", "No of Children",
        "# Children", "# of Children", "Covered Children", "Dependent Children", "Kids",
        "Children Count", "Nbr Children",
    ),
    _f(
        "medical_plan",
        "Medical plan",
        "The group's medical plan code; blank or Waive means no medical coverage.",
        "Med Plan", "Medical", "Health Plan", "Medical Plan Code", "Medical Election",
        "Medical Option", "Med", "Health", "Medical Plan Name", "Medical Coverage",
    ),
    _f(
        "medical_tier",
        "Medical coverage level",
        "The medical line's tier (see `tier`).",
        "Med Tier", "Medical Coverage Level", "Medical Cov Level", "Medical Level", "Med Cov",
        "Medical Coverage Tier", "Health Tier", "Med Level", "Med Cov Level",
    ),
    _f(
        "dental_plan",
        "Dental plan",
        "The group's dental plan code; blank or Waive means no dental coverage.",
        "Den Plan", "Dental", "Dental Plan Code", "Dental Election", "Dental Option", "Dent Plan",
        "Dental Plan Name", "DEN", "Dental Coverage",
    ),
    _f(
        "dental_tier",
        "Dental coverage level",
        "The dental line's tier (see `tier`).",
        "Den Tier", "Dental Coverage Level", "Dental Cov Level", "Dental Level", "Den Cov",
        "Dental Coverage Tier", "Den Level", "Dent Tier",
    ),
    _f(
        "vision_plan",
        "Vision plan",
        "The group's vision plan code; blank or Waive means no vision coverage.",
        "Vis Plan", "Vision", "Vision Plan Code", "Vision Election", "Vision Option", "VIS",
        "Vision Plan Name", "Vision Coverage",
    ),
    _f(
        "vision_tier",
        "Vision coverage level",
        "The vision line's tier (see `tier`).",
        "Vis Tier", "Vision Coverage Level", "Vision Cov Level", "Vision Level", "Vis Cov",
        "Vision Coverage Tier", "Vis Level",
    ),
    _f(
        "life_volume",
        "Supplemental life amount",
        "Elected supplemental (voluntary) life in dollars; above zero adds the supplemental "
        "life line with that volume.",
        "Supp Life", "Supp Life Volume", "Supp Life Amount", "Supp Life Amt", "Supplemental Life",
        "Supplemental Life Amount", "Supplemental Life Volume", "Voluntary Life", "Vol Life",
        "Vol Life Amount", "Optional Life", "Additional Life", "Elected Life Volume",
        "Life Volume", "Elected Life Amount",
    ),
    _f(
        "basic_life",
        "Basic life (Y/N)",
        "Y/N: enrolled in basic life (its volume comes from the plan and salary).",
        "Basic Life Y/N", "Life", "Group Life", "Basic Life Coverage", "Life Y/N",
        "Basic Term Life", "Employer Paid Life",
    ),
    _f(
        "ad_and_d",
        "AD&D (Y/N)",
        "Y/N: enrolled in accidental death & dismemberment.",
        "AD&D", "ADD", "AD and D", "Basic AD&D", "AD&D Y/N", "Accidental Death",
        "Accidental Death and Dismemberment",
    ),
    _f(
        "std",
        "Short-term disability (Y/N)",
        "Y/N: enrolled in STD.",
        "STD", "STD Y/N", "Short Term Disability", "Short-Term Disability", "STD Coverage",
        "Short Term Disability Coverage",
    ),
    _f(
        "ltd",
        "Long-term disability (Y/N)",
        "Y/N: enrolled in LTD.",
        "LTD", "LTD Y/N", "Long Term Disability", "Long-Term Disability", "LTD Coverage",
        "Long Term Disability Coverage",
    ),
)  # fmt: skip

FIELDS: dict[str, CensusField] = {f.name: f for f in _FIELD_LIST}

# Coverages are built positionally for speed; this fails at import if rows.py reorders them.
assert [f.name for f in fields(CensusCoverage)] == [
    "line",
    "plan_code",
    "tier",
    "elected_volume",
    "effective_from",
    "effective_to",
], "CensusCoverage fields changed: update read_tabular's coverage builder"

# Lines with a tier: (line, plan field, tier field).
TIERED_LINES = (
    (LineOfCoverage.MEDICAL, "medical_plan", "medical_tier"),
    (LineOfCoverage.DENTAL, "dental_plan", "dental_tier"),
    (LineOfCoverage.VISION, "vision_plan", "vision_tier"),
)
# Y/N elections of employee-only lines.
FLAG_LINES = {
    "basic_life": LineOfCoverage.BASIC_LIFE,
    "ad_and_d": LineOfCoverage.ADD,
    "std": LineOfCoverage.STD,
    "ltd": LineOfCoverage.LTD,
}
REQUIRED_FIELDS = ("employee_id", "first_name", "last_name", "birth_date")
# A field that may stand in for a required one, and fields that need a companion.
ALTERNATIVES = {"birth_date": ("age",)}
COMPANIONS = {"pay_rate": "pay_frequency", "hourly_rate": "hours_per_week"}

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Qualifiers that real headers put around a field's name ("Employee SSN", "Relationship Code").
_HEADER_PREFIXES = ("employee", "empl", "emp", "ee", "member", "mbr", "subscriber", "insured")
_HEADER_SUFFIXES = ("code", "cd", "yn", "flag", "indicator")


def header_key(text: object) -> str:
    """A header reduced for matching: lower case, '#' read as 'number', '&' as 'and', and every
    space and punctuation mark dropped ('Emp #' -> 'empnumber', 'Date of Birth' ->
    'dateofbirth')."""
    lowered = str(text).lower().replace("#", " number ").replace("&", " and ")
    return _NON_ALNUM.sub("", lowered)


def _build_synonyms() -> dict[str, str]:
    table: dict[str, str] = {}
    for spec in _FIELD_LIST:
        for text in (spec.name, spec.label, *spec.synonyms):
            key = header_key(text)
            if table.setdefault(key, spec.name) != spec.name:
                raise AssertionError(f"header {text!r} names both {table[key]} and {spec.name}")
    return table


_SYNONYMS = _build_synonyms()


def _field_for_header(header: str) -> str | None:
    key = header_key(header)
    if not key:
        return None
    candidates = [key]
    for prefix in _HEADER_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            candidates.append(key[len(prefix) :])
    for stem in list(candidates):
        for suffix in _HEADER_SUFFIXES:
            if stem.endswith(suffix) and len(stem) > len(suffix):
                candidates.append(stem[: -len(suffix)])
    for candidate in candidates:
        found = _SYNONYMS.get(candidate)
        if found:
            return found
    return None


def suggest_mapping(headers: Sequence[str]) -> dict[str, str | None]:
    """Header text -> census field name, or None for a header no field is known by. Each header
    is judged alone: two headers naming one field both map to it (read_tabular then refuses the
    file and asks for one of them to be unmapped)."""
    return {str(header): _field_for_header(header) for header in headers}


def missing_fields(mapping: dict[str, str | None]) -> list[str]:
    """Field names a file needs but `mapping` does not provide, in FIELDS order. `birth_date`
    is satisfied by `age`; `pay_rate` needs `pay_frequency` and `hourly_rate` needs
    `hours_per_week` when they are mapped."""
    mapped = {name for name in mapping.values() if name}
    missing = [
        name
        for name in REQUIRED_FIELDS
        if name not in mapped and not any(alt in mapped for alt in ALTERNATIVES.get(name, ()))
    ]
    missing += [need for have, need in COMPANIONS.items() if have in mapped and need not in mapped]
    return missing


def _describe_missing(name: str) -> str:
    spec = FIELDS[name]
    examples = ", ".join(repr(s) for s in (spec.label, *spec.synonyms[:3]))
    also = ""
    if name in ALTERNATIVES:
        also = " (or " + ", ".join(FIELDS[a].label for a in ALTERNATIVES[name]) + ")"
    return f"no column for {spec.label}{also}; expected a header such as {examples}"


# ---------------------------------------------------------------------------------------------
# Cell values. Each parser takes the stripped text of a non-blank cell and returns the value,
# or raises ValueError saying what was expected.


class _Waive:
    """A plan or tier cell that says the line is waived."""

    def __repr__(self) -> str:
        return "WAIVE"


WAIVE = _Waive()
_SUBSCRIBER = "subscriber"


def _token(text: str) -> str:
    return _NON_ALNUM.sub("", text.lower())


def _vocabulary(table: dict[object, tuple[str, ...]]) -> dict[str, object]:
    return {_token(word): value for value, words in table.items() for word in words}


_RELATIONSHIPS = _vocabulary(
    {
        _SUBSCRIBER: (
            "EE", "E", "Self", "Employee", "Subscriber", "18", "Sub", "Member", "Emp",
            "Insured", "Primary", "Retiree", "COBRA",
        ),
        Relationship.SPOUSE: ("SP", "S", "Spouse", "01", "1", "Husband", "Wife", "SPS"),
        Relationship.CHILD: (
            "CH", "C", "Child", "Son", "Daughter", "19", "Dependent Child", "Stepchild",
            "Step Child", "Stepson", "Stepdaughter", "Adopted Child", "Foster Child", "17",
            "Children", "Dependent", "Dep", "DC", "Ward",
        ),
        Relationship.DOMESTIC_PARTNER: (
            "DP", "Domestic Partner", "53", "Partner", "Civil Union Partner", "Civil Union",
        ),
    }
)  # fmt: skip
_STATUSES = _vocabulary(
    {
        MemberStatus.ACTIVE: (
            "Active", "A", "Act", "AC", "Full Time", "FT", "Part Time", "PT",
            "Leave", "Leave of Absence", "LOA", "L",
        ),
        MemberStatus.COBRA: ("COBRA", "C", "COBRA Participant", "Continuation", "State Continuation"),
        MemberStatus.RETIREE: ("Retiree", "R", "Retired", "Ret"),
        MemberStatus.TERMINATED: ("Terminated", "T", "Term", "Termed"),
    }
)  # fmt: skip
_GENDERS = _vocabulary(
    {
        Gender.MALE: ("M", "Male", "Man"),
        Gender.FEMALE: ("F", "Female", "Woman"),
        Gender.UNKNOWN: ("U", "Unknown", "X", "Other", "Non-binary", "Not Specified", "Undisclosed"),
    }
)  # fmt: skip
# Tier words after the filler ('and', 'plus', 'only', '+', '&') is dropped.
_TIERS = _vocabulary(
    {
        Tier.EE: (
            "EE", "E", "EMP", "Employee", "Single", "Individual", "IND", "EO", "Self",
            "Subscriber", "EE Only", "Employee Only", "Subscriber Only", "Self Only",
        ),
        Tier.ES: (
            "ES", "ESP", "EE SP", "EE Spouse", "Employee Spouse", "E S", "EE SPS", "Employee SP",
            "Emp Spouse", "EE+Spouse", "Employee + Spouse",
        ),
        Tier.EC: (
            "EC", "ECH", "EE CH", "EE Child", "EE Children", "EE Child(ren)", "Employee Child",
            "Employee Children", "Employee Child(ren)", "E C", "EE Kids", "Emp Child",
            "Emp Children", "Parent Child", "Parent Children", "EE DEP", "EE Dependents",
        ),
        Tier.FAM: (
            "FAM", "F", "Family", "EE Family", "EE FAM", "Employee Family", "EF", "ESC",
            "EE Spouse Children", "Employee Spouse Children", "Emp Family", "EE SP CH",
            "EE Spouse Child",
        ),
        WAIVE: (
            "Waive", "Waived", "W", "WV", "Declined", "Decline", "None", "N", "No", "NA",
            "No Coverage", "Not Covered", "Not Enrolled", "Opt Out", "Opted Out",
        ),
    }
)  # fmt: skip
_TIER_FILLER = re.compile(r"\b(and|plus|only|with)\b|[+&/]")
_FLAGS = _vocabulary(
    {
        True: ("Y", "Yes", "True", "T", "1", "X", "Covered", "Enrolled", "Elected"),
        False: (
            "N", "No", "False", "F", "0", "Waive", "Waived", "Declined", "None", "NA",
            "Not Covered", "Not Enrolled",
        ),
    }
)  # fmt: skip
_ACTIONS = _vocabulary(
    {
        Maintenance.ADD: (
            "Add", "A", "New", "New Hire", "Addition", "Enroll", "Enrollment",
            "New Enrollment", "021", "21",
        ),
        Maintenance.TERM: (
            "Term", "T", "Terminate", "Termination", "Terminated", "Cancel", "Cancellation",
            "Delete", "D", "Drop", "024", "24",
        ),
        Maintenance.CHANGE: ("Change", "C", "Chg", "Update", "U", "Modify", "M", "Changes", "001", "1"),
        Maintenance.REINSTATE: ("Reinstate", "R", "Reinstatement", "Reinstated", "025", "25"),
        Maintenance.AUDIT: ("Audit", "No Change", "030", "30", "As Is"),
    }
)  # fmt: skip
_PAY_PERIODS = _vocabulary(
    {
        52: ("Weekly", "W", "WK", "52"),
        26: ("Bi-Weekly", "Biweekly", "BW", "B", "26", "Every Other Week", "Fortnightly"),
        24: ("Semi-Monthly", "Semimonthly", "SM", "S", "24", "Twice Monthly", "Twice a Month"),
        12: ("Monthly", "M", "MO", "12"),
        1: ("Annual", "Annually", "Yearly", "A", "Y", "1", "Salary", "Salaried"),
        0: ("Hourly", "H", "HR"),  # 0: the pay rate is an hourly rate (x hours_per_week x 52)
    }
)  # fmt: skip


def _lookup(table: dict[str, object], expected: str) -> Callable[[str], object]:
    def parse(text: str) -> object:
        try:
            return table[_token(text)]
        except KeyError:
            raise ValueError(expected) from None

    return parse


def _parse_tier(text: str) -> object:
    found = _TIERS.get(_token(_TIER_FILLER.sub(" ", text.lower())))
    if found is None:
        found = _TIERS.get(_token(text))
    if found is None:
        if re.fullmatch(r"(?i)\s*(ee|emp|employee)\s*\+\s*(1|one)\s*", text):
            raise ValueError(
                "EE+1 does not say spouse or child; expected ES (employee + spouse) or "
                "EC (employee + child(ren))"
            )
        raise ValueError("expected a coverage level: EE, ES, EC, FAM or Waive")
    return found


def _parse_plan(text: str) -> object:
    return WAIVE if _TIERS.get(_token(text)) is WAIVE else text


def _parse_text(text: str) -> str:
    return text


_PLAIN_AMOUNT = re.compile(r"\d{1,15}(?:\.\d{1,9})?")


def _parse_money(what: str, *, to_cent: bool = True) -> Callable[[str], Decimal]:
    """Dollars: '$1,234.00', '1234', '1,234.5'; negative amounts ('-5', '(1,234.00)') are
    refused. Rounded half-up to the cent unless `to_cent` is False (a rate that is multiplied
    first: 25.125 an hour)."""

    def parse(text: str) -> Decimal:
        if len(text) <= 15 and text.isascii() and text.isdigit():  # most salaries: 55000
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

    return parse


def _parse_whole(what: str, low: int, high: int) -> Callable[[str], int]:
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


def _parse_hours(text: str) -> Decimal:
    try:
        hours = Decimal(text)
    except ArithmeticError:
        hours = Decimal(-1)
    if not hours.is_finite() or not 0 < hours <= 168:
        raise ValueError("expected hours per week: a number above 0 and at most 168")
    return hours


_ZIP5 = re.compile(r"\d{3,5}")
_ZIP9 = re.compile(r"(\d{5})-?(\d{4})")


def _parse_postal(text: str) -> str:
    digits = text.replace(" ", "")
    if _ZIP5.fullmatch(digits):
        # Spreadsheets drop the leading zeros of New England ZIP codes (02134 -> 2134).
        return digits.zfill(5)
    match = _ZIP9.fullmatch(digits)
    if match:
        return f"{match.group(1)}-{match.group(2)}"
    raise ValueError("expected a 5-digit ZIP code or ZIP+4, e.g. 02134 or 02134-1234")


def _parse_ssn(text: str) -> str:
    try:
        return normalize_ssn(text)
    except ValueError as exc:
        digits = re.sub(r"\D", "", text)
        hint = ""
        if 7 <= len(digits) <= 8 and digits == re.sub(r"[\s-]", "", text):
            hint = "; if a spreadsheet dropped leading zeros, format the SSN column as text"
        raise ValueError(f"{exc}{hint}") from None


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
_US = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SERIAL = re.compile(r"(\d{5})(?:\.\d+)?")
_DAY_MONTH = re.compile(r"(\d{1,2})[- ]([A-Za-z]{3,9})\.?[- ,]+(\d{4}|\d{2})")
_MONTH_DAY = re.compile(r"([A-Za-z]{3,9})\.?[ -](\d{1,2})(?:st|nd|rd|th)?,?[ -]+(\d{4}|\d{2})")
_EXCEL_EPOCH = date(1899, 12, 30)
DATE_EXAMPLES = "a date such as 2026-01-15, 01/15/2026 or 1/15/26"


def _century_latest(reference: date) -> Callable[[int, int, int], int]:
    """Two-digit years for birth dates: the latest year not after `reference`."""

    def resolve(yy: int, month: int, day: int) -> int:
        year = reference.year // 100 * 100 + yy
        if (year, month, day) > (reference.year, reference.month, reference.day):
            year -= 100
        return year

    return resolve


def _century_nearest(reference: date) -> Callable[[int, int, int], int]:
    """Two-digit years for every other date: the year nearest to `reference`."""

    def resolve(yy: int, month: int, day: int) -> int:
        base = reference.year // 100 * 100
        return min(
            (base - 100 + yy, base + yy, base + 100 + yy), key=lambda y: abs(y - reference.year)
        )

    return resolve


def _to_date(text: str, two_digit: Callable[[int, int, int], int]) -> date:
    value = _TIME_SUFFIX.sub("", text.strip()) if ":" in text else text.strip()
    if (m := _ISO.fullmatch(value)) is not None:
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif (m := _US.fullmatch(value)) is not None:
        month, day, year = int(m.group(1)), int(m.group(2)), m.group(3)
        year = int(year) if len(year) == 4 else two_digit(int(year), month, day)
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


def _parse_date(
    what: str,
    two_digit: Callable[[int, int, int], int],
    earliest: date,
    latest: date,
) -> Callable[[str], date]:
    def parse(text: str) -> date:
        value = _to_date(text, two_digit)
        if value > latest:
            raise ValueError(f"{what} cannot be after {latest.isoformat()}")
        if value < earliest:
            raise ValueError(f"{what} cannot be before {earliest.isoformat()}")
        return value

    return parse


def _years(on: date, years: int) -> date:
    try:
        return on.replace(year=on.year + years)
    except ValueError:  # 29 February
        return on.replace(year=on.year + years, day=28)


# ---------------------------------------------------------------------------------------------
# Bytes to a grid of cells, with the file-level checks.


class _FileProblem(Exception):
    """A file-level problem: the file cannot be read at all."""


class _Grid:
    """Cells as read. CSV keeps pandas' columns (no per-row lists); XLSX keeps calamine's rows."""

    def __init__(
        self,
        file_format: UploadFormat,
        detail: dict,
        *,
        rows: list[list] | None = None,
        frame: pd.DataFrame | None = None,
    ):
        self.file_format = file_format
        self.detail = detail
        self.rows = rows
        self.frame = frame
        self.matrix: np.ndarray | None = None
        self.height = len(frame) if frame is not None else len(rows or [])

    def head(self, count: int) -> list[list]:
        if self.frame is not None:
            return self.frame.iloc[:count].to_numpy(dtype=object).tolist()
        return (self.rows or [])[:count]

    def column(self, index: int, start: int) -> np.ndarray:
        if self.frame is not None:
            return self.frame.iloc[start:, index].to_numpy(dtype=object)
        if self.matrix is None:
            rows = self.rows or []
            widths = set(map(len, rows))
            if len(widths) > 1:  # ragged: the csv module's fallback
                width = max(widths)
                rows = [row + [""] * (width - len(row)) for row in rows]
            # One 2-D object array: far cheaper than a list per column out of 100,000 rows.
            self.matrix = np.array(rows, dtype=object) if rows else np.empty((0, 0), object)
        return self.matrix[start:, index]


_SIGNATURES = (
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", None),  # OLE2: handled below
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"{\\rtf", "a Rich Text document"),
)
_EXPECTED = "expected a CSV file or an Excel workbook (.xlsx); export the census as one of those"


def _load(data: bytes, file_format: UploadFormat | None, max_bytes: int) -> _Grid:
    if file_format is UploadFormat.X12_834:
        raise _FileProblem("this reader takes CSV and XLSX files; an 834 has its own reader")
    if len(data) > max_bytes:
        raise _FileProblem(
            f"the file is {_size(len(data))}; the limit is {_size(max_bytes)} (split it, or "
            "send a change file instead of a full census)"
        )
    if not data.strip(b" \t\r\n\x00") or data.strip() in (b"\xef\xbb\xbf",):
        raise _FileProblem("the file is empty; expected a header row and one row per person")
    head = data[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _load_xlsx(data)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise _FileProblem(
            "this is an Excel 97-2003 (.xls) workbook or a password-protected file; "
            "save it as an Excel Workbook (.xlsx) without a password, or as CSV"
        )
    for signature, what in _SIGNATURES:
        if what and head.startswith(signature):
            raise _FileProblem(f"this is {what}, not a census; {_EXPECTED}")
    return _load_csv(data)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / 1048576:,.1f} MB".replace(".0 MB", " MB")


def _check_zip(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _FileProblem(
            "this looks like an Excel workbook but it is damaged (not a readable zip); "
            "open it in Excel and save it again"
        ) from None
    with archive:
        entries = archive.infolist()
        names = {entry.filename for entry in entries}
        if len(entries) > XLSX_MAX_ENTRIES:
            raise _FileProblem(
                f"the workbook holds {len(entries):,} parts, more than a census needs "
                f"(at most {XLSX_MAX_ENTRIES:,}); it was refused unopened"
            )
        total = sum(entry.file_size for entry in entries)
        if total > XLSX_MAX_UNCOMPRESSED:
            raise _FileProblem(
                f"the workbook would expand to {_size(total)}, more than the "
                f"{_size(XLSX_MAX_UNCOMPRESSED)} a census may; it was refused unopened"
            )
        for entry in entries:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if entry.file_size > XLSX_RATIO_FLOOR and ratio > XLSX_MAX_RATIO:
                raise _FileProblem(
                    f"the workbook part {entry.filename} expands {ratio:,.0f} times (a zip bomb?); "
                    f"a genuine workbook expands at most {XLSX_MAX_RATIO} times; it was refused "
                    "unopened"
                )
            if entry.flag_bits & 0x1:
                raise _FileProblem("the workbook is encrypted; save it without a password")
    if "xl/workbook.xml" not in names:
        if "word/document.xml" in names:
            what = "a Word document"
        elif any(name.startswith("ppt/") for name in names):
            what = "a PowerPoint presentation"
        elif "content.xml" in names and "mimetype" in names:
            what = "an OpenDocument file (save it as .xlsx or CSV)"
        else:
            what = "a zip archive that is not an Excel workbook"
        raise _FileProblem(f"this is {what}; {_EXPECTED}")


def _load_xlsx(data: bytes) -> _Grid:
    _check_zip(data)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet_names = [
            meta.name
            for meta in workbook.sheets_metadata
            if meta.visible == python_calamine.SheetVisibleEnum.Visible
            and meta.typ == python_calamine.SheetTypeEnum.WorkSheet
        ] or list(workbook.sheet_names)
        for name in sheet_names:
            sheet = workbook.get_sheet_by_name(name)
            if sheet.start is None:  # no cell holds anything
                continue
            # skip_empty_area=False keeps row 1 as row 1, so row numbers match Excel's.
            rows = sheet.to_python(skip_empty_area=False)
            return _Grid(UploadFormat.XLSX, {"sheet": name}, rows=rows)
    except Exception as exc:  # calamine raises its own types, ValueError and zip errors
        raise _FileProblem(
            f"the Excel workbook could not be read ({type(exc).__name__}: {str(exc)[:120]}); "
            "open it in Excel and save it again as .xlsx"
        ) from None
    raise _FileProblem(
        "the workbook is empty (no sheet has rows); expected a header row and one row per person"
    )


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _FileProblem(
            "the file is UTF-16 text (Excel's 'Unicode Text'); expected UTF-8 or Windows-1252 "
            "text: save it as 'CSV UTF-8 (Comma delimited)'"
        )
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        if _UTF8_SEQUENCE.search(data):
            # Mostly UTF-8 (accented letters encoded as UTF-8) with a stray byte: reading it as
            # Windows-1252 would garble every accented name, so say where the bad byte is.
            line = data.count(b"\n", 0, exc.start) + 1
            raise _FileProblem(
                f"the file is UTF-8 text with a byte that is not UTF-8 on line {line} (mixed "
                "encodings); expected a CSV saved once as 'CSV UTF-8 (Comma delimited)'"
            ) from None
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise _FileProblem(
            "the file is not UTF-8 or Windows-1252 text (wrong encoding, or not a CSV at all); "
            "expected a CSV saved as 'CSV UTF-8 (Comma delimited)'"
        ) from None
    return text, "cp1252"


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _load_csv(data: bytes) -> _Grid:
    text, encoding = _decode(data)
    sample = text[:65536]
    if _CONTROL.search(sample):
        raise _FileProblem(f"this is a binary file, not a census; {_EXPECTED}")
    opening = sample.lstrip()[:200].lower()
    if opening.startswith(("<html", "<!doctype", "<table", "<?xml")):
        raise _FileProblem(f"this is an HTML or XML document, not a census; {_EXPECTED}")
    if opening.startswith("isa") and ("*" in opening[:10] or "|" in opening[:10]):
        raise _FileProblem("this is an X12 834 file; upload it as an 834, not as CSV/XLSX")
    delimiter = _sniff_delimiter(sample)
    detail = {"encoding": encoding, "delimiter": delimiter}
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            dtype=str,
            na_filter=False,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        return _Grid(UploadFormat.CSV, detail, rows=[])
    except (pd.errors.ParserError, ValueError):
        # Rows with more cells than the first, or a stray quote: the csv module says where.
        return _Grid(UploadFormat.CSV, detail, rows=_csv_rows(text, delimiter))
    return _Grid(UploadFormat.CSV, detail, frame=frame)


def _csv_rows(text: str, delimiter: str) -> list[list]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    rows: list[list] = []
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as exc:
        raise _FileProblem(
            f"the CSV is malformed near line {reader.line_num} ({exc}); check for a quote "
            'character (") that is opened but never closed'
        ) from None
    return rows


def _sniff_delimiter(sample: str) -> str:
    """Comma, semicolon (European Excel), tab or pipe: the one a line of the first twenty
    non-blank lines uses most (a title line above the header may use none)."""
    lines = [line for line in sample.splitlines() if line.strip()][:HEADER_SCAN_ROWS]
    counts = {d: max((line.count(d) for line in lines), default=0) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cell_text(value: object) -> str:
    """An XLSX cell as the text a person sees (dates as ISO dates, 123.0 as 123)."""
    if isinstance(value, str):
        return value
    if value is None or value != value:  # an empty cell (None) or NaN
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        value = round(value, 9)  # 0.1 + 0.2 style residue of spreadsheet formulas
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time_of_day(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------------------------------------
# Reading.


@dataclass
class _Column:
    """A mapped column, parsed once per distinct cell: `codes[i]` indexes row i's cell in
    `parsed` (None when blank or unreadable) and `texts`."""

    header: str
    index: int  # position in the file, for ordering errors
    codes: np.ndarray
    parsed: np.ndarray
    texts: list[str]
    blank: np.ndarray  # bool per data row

    def __post_init__(self) -> None:
        self.values = self.parsed[self.codes]


def read_tabular(
    data: bytes,
    source: str,
    *,
    file_format: UploadFormat | None = None,
    kind: UploadKind | None = None,
    mapping: dict[str, str | None] | None = None,
    as_of: date | None = None,
    max_bytes: int = MAX_BYTES,
    tier_lines: Iterable[LineOfCoverage] = (LineOfCoverage.MEDICAL,),
) -> CensusFile:
    """Read a CSV or XLSX census (`kind` SNAPSHOT) or change file (CHANGE) into a CensusFile.

    `file_format` is what the upload claimed; the content decides (a CSV named .xlsx is read as
    CSV). `mapping` is header text -> field name (None: ignore the column) and, when given, is
    the whole mapping; without it `suggest_mapping` is used. `as_of` (default today) is the
    date the file describes: effective and termination dates must fall near it and two-digit
    years resolve around it. `tier_lines` are the lines a bare tier column applies to when the
    file has no medical/dental/vision plan or tier column (a one-line census).

    Never raises for bad input: every problem is a RowError in `errors` (row None for the file
    as a whole) with the file name, the spreadsheet row (the header row is row 1 when it is the
    first row), the column's header text, the value (an SSN masked to its last 4) and what was
    expected. Salaries and volumes are Decimal dollars rounded half-up to the cent; coverage
    `effective_from` is the coverage effective date (else the effective date), `effective_to`
    the termination date (inclusive)."""
    today = date.today()
    on = as_of or today
    census = CensusFile(
        source=source,
        file_format=file_format or _format_from_name(source),
        kind=kind,
        as_of=as_of,
    )
    with collector_paused():
        try:
            grid = _load(data, file_format, max_bytes)
        except _FileProblem as problem:
            census.errors.append(RowError(None, None, str(problem), source))
            return census
        census.file_format = grid.file_format
        census.detail.update(grid.detail)
        _Reader(census, grid, mapping, on, max(on, today), tuple(tier_lines)).run()
    return census


def _format_from_name(source: str) -> UploadFormat:
    return UploadFormat.XLSX if source.lower().endswith((".xlsx", ".xlsm")) else UploadFormat.CSV


class _Reader:
    """One read of one file: header, mapping, columns, then members and their families."""

    def __init__(
        self,
        census: CensusFile,
        grid: _Grid,
        mapping: dict[str, str | None] | None,
        as_of: date,
        birth_limit: date,
        tier_lines: tuple[LineOfCoverage, ...],
    ):
        self.census = census
        self.grid = grid
        self.source = census.source
        self.given_mapping = mapping
        self.as_of = as_of
        self.birth_limit = birth_limit
        self.tier_lines = tier_lines
        self.errors: list[tuple[int, int, RowError]] = []  # (row, column position, error)
        self.columns: dict[str, _Column] = {}
        self.unreadable: dict[str, set[int]] = {}  # field -> rows whose value was refused
        self.first_data_row = 2
        self.n = 0

    # -- errors

    def file_error(self, message: str, column: str | None = None) -> None:
        self.census.errors.append(RowError(None, column, message, self.source))

    def row_error(self, i: int, name: str, message: str, value: str | None = None) -> None:
        """An error on data row i (0-based) in field `name`'s column; `value` defaults to the
        cell's text."""
        i = int(i)
        column = self.columns.get(name)
        header = column.header if column else FIELDS[name].label
        if value is None and column is not None:
            value = column.texts[column.codes[i]]
        error = RowError(self.first_data_row + i, header, message, self.source, value)
        self.errors.append((i, column.index if column else -1, error))

    def bad(self, i: int, *names: str) -> bool:
        """Row i held an unreadable value in one of `names` (already reported)."""
        return any(i in self.unreadable.get(name, ()) for name in names)

    # -- header and mapping

    def find_header(self) -> tuple[int, list[str], dict[str, str | None]] | None:
        """The first row that names at least three known fields (or, with a mapping given, any
        of its headers) among the first non-blank rows; else the one naming the most."""
        best = first = None
        scanned = 0
        for position, row in enumerate(self.grid.head(HEADER_SCAN_ROWS * 5)):
            cells = [_cell_text(cell).strip() for cell in row]
            if not any(cells):
                continue
            scanned += 1
            first = first or cells
            if self.given_mapping is not None:
                if any(cell in self.given_mapping for cell in cells if cell):
                    return position, cells, dict(self.given_mapping)
            else:
                mapping = suggest_mapping([cell for cell in cells if cell])
                known = sum(1 for name in mapping.values() if name)
                if known >= 3:
                    return position, cells, mapping
                if known and (best is None or known > best[0]):
                    best = (known, position, cells, mapping)
            if scanned >= HEADER_SCAN_ROWS:
                break
        self.seen_anything = scanned > 0
        if best is not None:
            return best[1:]
        if first is not None:  # what a person mapping the columns by hand would start from
            self.census.detail["headers"] = [cell for cell in first if cell]
        return None

    def run(self) -> None:
        found = self.find_header()
        if found is None:
            if not self.seen_anything:
                self.file_error("the file is empty; expected a header row and one row per person")
            elif self.given_mapping is not None:
                self.file_error(
                    "no row of the file has the column headers of the mapping given; expected "
                    "the header row the mapping was made from"
                )
            else:
                self.file_error(
                    "no header row: the first row should name the columns (e.g. Employee ID, "
                    "First Name, Last Name, Date of Birth, Relationship, Coverage Tier)"
                )
            return
        position, headers, mapping = found
        self.first_data_row = position + 2
        self.census.detail["header_row"] = position + 1
        self.census.detail["headers"] = [header for header in headers if header]
        if not self.check_mapping(headers, mapping):
            return
        self.n = self.grid.height - position - 1
        self.convert_columns(position + 1)
        if not self.n or self.all_blank.all():
            self.file_error(
                "the file has a header row but no member rows; expected one row per person"
            )
            return
        self.check_ragged(position, len(headers))
        self.build()
        self.errors.sort(key=lambda item: (item[0], item[1]))
        self.census.errors.extend(error for _, _, error in self.errors)

    def check_mapping(self, headers: list[str], mapping: dict[str, str | None]) -> bool:
        """Refuse unknown field names, repeated headers, two columns for one field and missing
        required fields; keep (field -> header, position) for the rest."""
        ok = True
        positions: dict[str, list[int]] = {}
        for index, header in enumerate(headers):
            if header:
                positions.setdefault(header, []).append(index)
        used: dict[str, list[str]] = {}
        refused: dict[str, str] = {}
        self.positions: dict[str, tuple[str, int]] = {}
        for header, name in mapping.items():
            if not name or header not in positions:
                continue
            if name not in FIELDS:
                self.file_error(
                    f"{name!r} is not a census field; expected a field name such as "
                    "employee_id, birth_date or medical_tier",
                    header,
                )
                ok = False
                continue
            if len(positions[header]) > 1:
                self.file_error(
                    f"the header {header!r} appears {len(positions[header])} times; rename "
                    "the copies or map them to nothing",
                    header,
                )
                refused[header] = name  # named, so not also "missing"
                ok = False
                continue
            used.setdefault(name, []).append(header)
            self.positions[name] = (header, positions[header][0])
        for name, mapped in used.items():
            if len(mapped) > 1:
                listed = " and ".join(repr(h) for h in mapped)
                self.file_error(
                    f"columns {listed} both map to {FIELDS[name].label}; expected one column "
                    "per field: map the others to nothing or remove them",
                    mapped[1],
                )
                ok = False
        self.census.column_mapping = {h: name for name, hs in used.items() for h in hs}
        for name in missing_fields({**self.census.column_mapping, **refused}):
            self.file_error(_describe_missing(name))
            ok = False
        return ok

    def check_ragged(self, position: int, width: int) -> None:
        """Rows with more cells than the header (only the csv module's fallback keeps them)."""
        if self.grid.rows is None or self.grid.file_format is not UploadFormat.CSV:
            return
        for i, row in enumerate(self.grid.rows[position + 1 :]):
            extra = [cell for cell in row[width:] if cell.strip()]
            if extra:
                self.errors.append(
                    (
                        i,
                        width,
                        RowError(
                            self.first_data_row + i,
                            None,
                            f"the row has {len(row)} values but the header names {width} "
                            "columns; expected no values beyond the last header",
                            self.source,
                            ",".join(extra),
                        ),
                    )
                )

    # -- columns

    def convert_columns(self, start: int) -> None:
        on = self.as_of
        census = self.census
        xlsx = self.grid.file_format is UploadFormat.XLSX
        raw = {name: self.grid.column(index, start) for name, (_, index) in self.positions.items()}

        # The kind first: an effective date's window depends on it.
        def has_values(name: str) -> bool:
            return name in raw and any(_cell_text(v).strip() for v in pd.unique(raw[name]))

        if census.kind is None:
            census.kind_guess = (
                UploadKind.CHANGE
                if has_values("action") or has_values("termination_date")
                else UploadKind.SNAPSHOT
            )
        self.is_change = (census.kind or census.kind_guess) is UploadKind.CHANGE

        nearest = _century_nearest(on)
        change_window = (_years(on, -2), _years(on, 1))
        flag = _lookup(_FLAGS, "expected Y or N")
        parsers: dict[str, Callable[[str], object]] = {
            "employee_id": _parse_text,
            "member_key": _parse_text,
            "first_name": _parse_text,
            "last_name": _parse_text,
            "subgroup_code": _parse_text,
            "class_code": _parse_text,
            "relationship": _lookup(
                _RELATIONSHIPS,
                "expected a relationship: EE/Self/Employee, SP/Spouse, CH/Child or "
                "DP/Domestic Partner",
            ),
            "birth_date": _parse_date(
                "a date of birth",
                _century_latest(self.birth_limit),
                date(1900, 1, 1),
                self.birth_limit,
            ),
            "age": _parse_whole("an age", 0, 120),
            "gender": _lookup(_GENDERS, "expected a gender: M/Male, F/Female or U/Unknown"),
            "ssn": _parse_ssn,
            "hire_date": _parse_date("a hire date", nearest, date(1940, 1, 1), _years(on, 1)),
            "annual_salary": _parse_money("an annual salary"),
            "pay_rate": _parse_money("a pay rate", to_cent=False),
            "pay_frequency": _lookup(
                _PAY_PERIODS,
                "expected a pay frequency: weekly, bi-weekly, semi-monthly, monthly, annual "
                "or hourly",
            ),
            "hourly_rate": _parse_money("an hourly rate", to_cent=False),
            "hours_per_week": _parse_hours,
            "status": _lookup(
                _STATUSES, "expected a status: Active/A, COBRA/C, Retiree/R or Terminated/T"
            ),
            "postal_code": _parse_postal,
            "action": _lookup(
                _ACTIONS, "expected an action: Add/A, Term/T, Change/C or Reinstate/R"
            ),
            "effective_date": _parse_date(
                "an effective date",
                nearest,
                *(change_window if self.is_change else (date(1950, 1, 1), _years(on, 1))),
            ),
            "coverage_effective_date": _parse_date(
                "a coverage effective date", nearest, date(1950, 1, 1), _years(on, 1)
            ),
            "termination_date": _parse_date("a termination date", nearest, *change_window),
            "tier": _parse_tier,
            "spouse": flag,
            "child_count": _parse_whole("a number of children", 0, 30),
            "life_volume": _parse_money("a supplemental life amount"),
        }
        for _line, plan, tier in TIERED_LINES:
            parsers[plan] = _parse_plan
            parsers[tier] = _parse_tier
        for name in FLAG_LINES:
            parsers[name] = flag

        all_blank = np.ones(self.n, dtype=bool)
        for name, (header, index) in self.positions.items():
            all_blank &= self.convert(name, header, index, raw[name], parsers[name], xlsx).blank
        self.all_blank = all_blank
        for _line, plan, tier in TIERED_LINES:
            if plan in self.columns and tier not in self.columns:
                self.read_plan_as_tier(plan, tier)

    def convert(
        self,
        name: str,
        header: str,
        index: int,
        raw: np.ndarray,
        parse: Callable[[str], object],
        xlsx: bool,
    ) -> _Column:
        """Parse each distinct cell of a column once and spread the results back over the rows
        (factorize codes), reporting every row holding an unreadable value."""
        codes, uniques = pd.factorize(raw)
        if len(codes) and codes.min() < 0:  # None/NaN cells (code -1): one more, blank, value
            codes = np.where(codes < 0, len(uniques), codes)
            uniques = np.append(uniques.astype(object), "")
        if xlsx:
            texts = [value if type(value) is str else _cell_text(value) for value in uniques]
            if name == "ssn":
                # A numeric cell cannot hold leading zeros: Excel dropped them from the SSN.
                texts = [
                    text.zfill(9) if isinstance(value, int | float) and text.isdigit() else text
                    for value, text in zip(uniques, texts, strict=True)
                ]
        else:
            texts = uniques.tolist()
        parsed = np.empty(len(texts), dtype=object)
        problems: dict[int, str] = {}
        if parse is _parse_text:  # names and codes: nothing to check, so no loop with a try
            stripped = [text.strip() for text in texts]
            parsed[:] = [text or None for text in stripped]
            blank_codes = [code for code, text in enumerate(stripped) if not text]
        else:
            blank_codes = []
            for code, text in enumerate(texts):
                text = text.strip()
                if not text:
                    blank_codes.append(code)
                    continue
                try:
                    parsed[code] = parse(text)
                except ValueError as exc:
                    problems[code] = str(exc)
        column = _Column(header, index, codes, parsed, texts, np.isin(codes, blank_codes))
        self.columns[name] = column
        if problems:
            rows = np.flatnonzero(np.isin(codes, list(problems))).tolist()
            self.unreadable[name] = set(rows)
            for i in rows:
                text = texts[codes[i]]
                self.row_error(i, name, problems[codes[i]], _mask(text) if name == "ssn" else text)
        return column

    def read_plan_as_tier(self, plan: str, tier: str) -> None:
        """A plan column holding nothing but coverage levels (a 'Medical' column of EE/FAM) is
        that line's tier column."""
        column = self.columns[plan]
        named = {v for v in column.parsed if isinstance(v, str)}
        tiers = {v: _TIERS.get(_token(_TIER_FILLER.sub(" ", v.lower()))) for v in named}
        if not tiers or not all(isinstance(t, Tier) for t in tiers.values()):
            return
        parsed = np.empty(len(column.parsed), dtype=object)
        parsed[:] = [tiers.get(v, v) if isinstance(v, str) else v for v in column.parsed]
        del self.columns[plan]
        self.columns[tier] = _Column(
            column.header, column.index, column.codes, parsed, column.texts, column.blank
        )
        self.census.column_mapping[column.header] = tier
        self.census.detail.setdefault("plan_columns_read_as_tier", []).append(column.header)

    # -- vectorised helpers: one entry per data row

    def col(self, name: str) -> np.ndarray:
        """Parsed values of a field (None where blank or unreadable, or the column is absent)."""
        column = self.columns.get(name)
        return column.values if column is not None else np.full(self.n, None, dtype=object)

    def blank(self, name: str) -> np.ndarray:
        column = self.columns.get(name)
        return column.blank if column is not None else np.ones(self.n, dtype=bool)

    def mask(self, name: str, predicate: Callable[[object], bool]) -> np.ndarray:
        """predicate(value) per row, evaluated once per distinct value."""
        column = self.columns.get(name)
        if column is None:
            return np.full(self.n, bool(predicate(None)))
        table = np.fromiter((bool(predicate(v)) for v in column.parsed), bool, len(column.parsed))
        return table[column.codes]

    def unreadable_mask(self, *names: str) -> np.ndarray:
        result = np.zeros(self.n, dtype=bool)
        for name in names:
            rows = self.unreadable.get(name)
            if rows:
                result[list(rows)] = True
        return result

    def report(self, rows: np.ndarray, name: str, message: str, value: str | None = None) -> None:
        """The same error on every row of a boolean mask."""
        for i in np.flatnonzero(rows).tolist():
            self.row_error(i, name, message, value)

    # -- rows

    def build(self) -> None:
        n, columns, row_base = self.n, self.columns, self.first_data_row
        number = np.arange(n)
        valid = ~self.all_blank & ~self.unreadable_mask("relationship", "action")
        is_subscriber = valid & self.mask("relationship", lambda v: v is None or v == _SUBSCRIBER)
        is_dependent = valid & ~is_subscriber

        action = self.col("action")
        termination, effective = self.col("termination_date"), self.col("effective_date")
        coverage_from = self.col("coverage_effective_date")
        is_term = self.mask("action", lambda v: v is Maintenance.TERM)
        if self.is_change:
            # In a change file a termination date makes the row a termination.
            implied = pd.isna(action) & ~pd.isna(termination)
            if implied.any():
                action = action.copy()
                action[implied] = Maintenance.TERM
                is_term = is_term | implied
        last_day = np.where(pd.isna(termination), effective, termination)
        start = np.where(pd.isna(coverage_from), effective, coverage_from)
        maintenance_date = np.where(is_term, last_day, np.where(pd.isna(action), None, start))

        # Fields every row needs.
        self.report(valid & self.blank("first_name"), "first_name", "a first name is required", "")
        no_birth = valid & self.blank("birth_date") & self.blank("age") & ~is_term
        birth_column = "birth_date" if "birth_date" in columns else "age"
        self.report(no_birth, birth_column, "a date of birth is required (or an age)", "")
        if "member_key" in columns:
            self.report_duplicates(
                valid & ~self.blank("member_key"), "member_key", "this member id is also on row {}"
            )

        # Subscribers.
        no_id = is_subscriber & self.blank("employee_id")
        self.report(no_id, "employee_id", "an employee row needs an employee id", "")
        repeated = self.report_duplicates(
            is_subscriber & ~no_id,
            "employee_id",
            "this employee id is also on row {}; expected one row per employee",
        )
        accepted = np.flatnonzero(is_subscriber & ~no_id & ~repeated)
        accepted_mask = np.zeros(n, dtype=bool)
        accepted_mask[accepted] = True
        self.report(
            accepted_mask & self.blank("last_name"), "last_name", "a last name is required", ""
        )
        no_last_day = accepted_mask & is_term & pd.isna(last_day)
        no_last_day &= ~self.unreadable_mask("termination_date", "effective_date")
        if "termination_date" in columns:
            self.report(
                no_last_day,
                "termination_date",
                "a termination needs the last day of coverage; expected a termination date",
                "",
            )
        else:
            self.report(
                no_last_day,
                "action",
                "a termination needs the last day of coverage; expected a termination date "
                "(or an effective date)",
            )
        if "ssn" in columns:
            self.report_duplicates(
                accepted_mask & ~pd.isna(self.col("ssn")),
                "ssn",
                "the same SSN is on the employee row {}; expected each employee's own SSN",
                masked=True,
            )

        def pick(name: str, default: object = None, values: np.ndarray | None = None) -> list:
            picked = (self.col(name) if values is None else values)[accepted]
            if default is not None:
                # Assigned, not np.where: np.where would turn an enum default into a plain str.
                picked[pd.isna(picked)] = default
            return picked.tolist()

        members = [
            CensusMember(
                source_row=row,
                employee_id=employee_id,
                first_name=first_name,
                last_name=last_name,
                birth_date=birth_date,
                ssn=ssn,
                gender=gender,
                hire_date=hire_date,
                annual_salary=salary,
                status=status,
                subgroup_code=subgroup,
                class_code=klass,
                postal_code=postal,
                maintenance=act,
                maintenance_date=when,
            )
            for (
                row,
                employee_id,
                first_name,
                last_name,
                birth_date,
                ssn,
                gender,
                hire_date,
                salary,
                status,
                subgroup,
                klass,
                postal,
                act,
                when,
            ) in zip(
                (accepted + row_base).tolist(),
                pick("employee_id"),
                pick("first_name", ""),
                pick("last_name", ""),
                pick("birth_date"),
                pick("ssn"),
                pick("gender", Gender.UNKNOWN),
                pick("hire_date"),
                pick("", values=self.salaries(accepted_mask)),
                pick("status", MemberStatus.ACTIVE),
                pick("subgroup_code"),
                pick("class_code"),
                pick("postal_code"),
                pick("", values=action),
                pick("", values=maintenance_date),
                strict=True,
            )
        ]
        by_id = {member.employee_id: member for member in members}
        by_row = dict(zip(accepted.tolist(), members, strict=True))

        # Dependents: by employee id, else under the nearest subscriber row above.
        above = np.maximum.accumulate(np.where(is_subscriber, number, -1))
        dependent_rows = np.flatnonzero(is_dependent)
        dependent_to = np.where(
            pd.isna(termination), np.where(is_term, effective, None), termination
        )
        relationship, employee_id = self.col("relationship"), self.col("employee_id")
        first_name, last_name = self.col("first_name"), self.col("last_name")
        birth_date, gender, ssn = self.col("birth_date"), self.col("gender"), self.col("ssn")
        for i in dependent_rows.tolist():
            eid = employee_id[i]
            if eid is not None:
                subscriber = by_id.get(eid)
                if subscriber is None:
                    self.row_error(
                        i,
                        "employee_id",
                        "no employee row in the file has this employee id; expected the "
                        "employee's own row (relationship EE) in the same file",
                    )
                    continue
            elif above[i] >= 0:
                subscriber = by_row.get(int(above[i]))
                if subscriber is None:
                    continue  # the employee row above was refused, and its error says why
            else:
                self.row_error(
                    i,
                    "relationship",
                    "a dependent row needs its employee's id, or must come under its "
                    "employee's row; no employee row is above it",
                )
                continue
            subscriber.dependents.append(
                CensusDependent(
                    source_row=row_base + i,
                    first_name=first_name[i] or "",
                    last_name=last_name[i] or subscriber.last_name,
                    birth_date=birth_date[i],
                    relationship=relationship[i],
                    gender=gender[i] or Gender.UNKNOWN,
                    ssn=ssn[i],
                    effective_from=start[i],
                    effective_to=dependent_to[i],
                )
            )

        end = np.where(is_term, last_day, termination)
        coverages = self.coverages(accepted, members, start, end)
        lines_by_shape: dict[tuple[int, ...], dict[Relationship, frozenset[LineOfCoverage]]] = {}
        for member, listed, last in zip(members, coverages, end[accepted].tolist(), strict=True):
            member.coverages = listed
            if member.dependents:
                # A dependent is on the lines whose tier covers it, and ends with the subscriber.
                # (Members with the same coverages share the objects: one shape per set of ids.)
                shape_key = tuple(map(id, listed))
                lines = lines_by_shape.get(shape_key)
                if lines is None:
                    shape = [(c.line, c.tier) for c in listed if c.tier is not None]
                    lines = lines_by_shape[shape_key] = {
                        relationship: frozenset(line for line, tier in shape if tier in covered)
                        for relationship, covered in _COVERED_BY.items()
                    }
                for dependent in member.dependents:
                    dependent.lines = set(lines[dependent.relationship])
                    if dependent.effective_to is None:
                        dependent.effective_to = last

        self.census.members = members
        ages = valid & pd.isna(self.col("birth_date")) & ~pd.isna(self.col("age"))
        if ages.any():
            self.census.detail["age_by_row"] = {
                int(i) + row_base: self.col("age")[i] for i in np.flatnonzero(ages)
            }
        if "member_key" in columns:
            keys = valid & ~self.blank("member_key")
            self.census.detail["member_keys"] = {
                int(i) + row_base: self.col("member_key")[i] for i in np.flatnonzero(keys)
            }

    def report_duplicates(
        self, rows: np.ndarray, name: str, message: str, *, masked: bool = False
    ) -> np.ndarray:
        """Rows (of mask `rows`) repeating a value of `name` seen on an earlier row; each is
        reported with the first row's number. Returns the mask of repeats."""
        index = np.flatnonzero(rows)
        values = pd.Series(self.col(name)[index])
        repeat = values.duplicated(keep="first").to_numpy()
        result = np.zeros(self.n, dtype=bool)
        if repeat.any():
            first = dict(zip(values[~repeat].tolist(), index[~repeat].tolist(), strict=True))
            for i, value in zip(index[repeat].tolist(), values[repeat].tolist(), strict=True):
                shown = _mask(value) if masked else None
                self.row_error(i, name, message.format(first[value] + self.first_data_row), shown)
            result[index[repeat]] = True
        return result

    def salaries(self, rows: np.ndarray) -> np.ndarray:
        """Annual salary per row: the annual column, else pay rate x pay periods a year, else
        (hourly pay) rate x hours a week x 52; Decimal dollars rounded half-up to the cent."""
        annual = self.col("annual_salary")
        if "pay_rate" not in self.columns and "hourly_rate" not in self.columns:
            return annual
        result = annual.copy()
        pay_rate, frequency = self.col("pay_rate"), self.col("pay_frequency")
        hourly, hours = self.col("hourly_rate"), self.col("hours_per_week")
        wanted = rows & pd.isna(annual) & ~(pd.isna(pay_rate) & pd.isna(hourly))
        for i in np.flatnonzero(wanted).tolist():
            rate, periods, weekly = pay_rate[i], frequency[i], hours[i]
            if rate is not None and periods is None:
                if not self.bad(i, "pay_frequency"):
                    self.row_error(i, "pay_frequency", "a pay rate needs its pay frequency", "")
            elif rate is not None and periods:
                result[i] = cents(rate * periods)
            elif weekly is None:  # an hourly pay rate, or an hourly rate column
                if not self.bad(i, "hours_per_week"):
                    self.row_error(i, "hours_per_week", "an hourly rate needs hours per week", "")
            else:
                result[i] = cents((rate if rate is not None else hourly[i]) * weekly * 52)
        return result

    def row_tiers(self) -> np.ndarray:
        """The row's tier: the tier column, else spouse Y/N plus child count (and a row error
        where both are given and disagree)."""
        tier = self.col("tier")
        if "spouse" not in self.columns and "child_count" not in self.columns:
            return tier
        partner = self.mask("spouse", lambda v: v is True)
        child = self.mask("child_count", lambda v: bool(v))
        stated = ~pd.isna(self.col("spouse")) | ~pd.isna(self.col("child_count"))
        derived = np.array([Tier.EE, Tier.EC, Tier.ES, Tier.FAM], dtype=object)[partner * 2 + child]
        is_tier = self.mask("tier", lambda v: isinstance(v, Tier))
        for i in np.flatnonzero(stated & is_tier & (tier != derived)).tolist():
            self.row_error(
                i,
                "tier",
                f"the coverage level says {tier[i].value} but spouse/children say "
                f"{derived[i].value}; expected them to agree",
            )
        return np.where(stated & pd.isna(tier), derived, tier)

    def coverages(
        self,
        accepted: np.ndarray,
        members: list[CensusMember],
        start: np.ndarray,
        end: np.ndarray,
    ) -> list[list[CensusCoverage]]:
        """Each accepted subscriber's coverages, line by line (see the module docstring for the
        tier rules)."""
        columns = self.columns
        result: list[list[CensusCoverage]] = [[] for _ in members]
        starts, ends = start[accepted], end[accepted]
        bare = self.row_tiers()[accepted]
        tier_stated = any(
            name in columns
            for name in ("tier", "spouse", "child_count", *(t for _, _, t in TIERED_LINES))
        )
        fallback_column = next(
            (name for name in ("tier", "spouse", "child_count") if name in columns), "tier"
        )
        derive = "relationship" in columns and not tier_stated

        line_columns = [
            (line, plan, tier)
            for line, plan, tier in TIERED_LINES
            if plan in columns or tier in columns
        ]
        if line_columns:
            elections = []
            for line, plan_name, tier_name in line_columns:
                plan, own = self.col(plan_name)[accepted], self.col(tier_name)[accepted]
                waived = (
                    self.mask(plan_name, lambda v: v is WAIVE)
                    | self.mask(tier_name, lambda v: v is WAIVE)
                )[accepted]
                elected = ~waived & ~(pd.isna(plan) & pd.isna(own))
                tier = np.where(pd.isna(own), bare, own)
                column = tier_name if tier_name in columns else fallback_column
                elections.append((line, elected, plan, tier, column))
        else:
            elected = np.fromiter((isinstance(t, Tier) for t in bare), bool, len(bare))
            none = np.full(len(bare), None, dtype=object)
            elections = [(line, elected, none, bare, "tier") for line in self.tier_lines]

        def add(line, rows, plans=None, tiers=None, volumes=None) -> None:
            """Coverages of `line` for the members at positions `rows` (an index array). One
            object per distinct set of values, shared by the members who have it: a 100,000-row
            file has a few hundred, not 600,000 (and the diff checks each once). The field
            order of the positional arguments is checked at import."""
            count = len(rows)
            made: dict[tuple, CensusCoverage] = {}
            for j, values in zip(
                rows.tolist(),
                zip(
                    repeat(None, count) if plans is None else plans[rows].tolist(),
                    repeat(None, count) if tiers is None else tiers[rows].tolist(),
                    repeat(None, count) if volumes is None else volumes[rows].tolist(),
                    starts[rows].tolist(),
                    ends[rows].tolist(),
                    strict=True,
                ),
                strict=True,
            ):
                coverage = made.get(values)
                if coverage is None:
                    coverage = made[values] = CensusCoverage(line, *values)
                result[j].append(coverage)

        for line, elected, plan, tier, column in elections:
            rows = np.flatnonzero(elected)
            tier = tier.copy()
            for j in rows[[not isinstance(t, Tier) for t in tier[rows].tolist()]].tolist():
                tier[j] = self.missing_tier(members[j], accepted[j], line, tier[j], column, derive)
            add(line, rows, plans=plan, tiers=tier)
        for name, line in FLAG_LINES.items():
            if name in columns:
                add(line, np.flatnonzero(self.mask(name, lambda v: v is True)[accepted]))
        if "life_volume" in columns:
            volumes = self.col("life_volume")[accepted]
            elected = np.flatnonzero(self.mask("life_volume", bool)[accepted])
            add(LineOfCoverage.SUPPLEMENTAL_LIFE, elected, volumes=volumes)
        return result

    def missing_tier(
        self,
        member: CensusMember,
        i: int,
        line: LineOfCoverage,
        stated: object,
        column: str,
        derive: bool,
    ) -> Tier | None:
        """An elected line without a tier: derived from the dependent rows when the file states
        no tier anywhere (snapshot rows and adds only), else a row error."""
        if derive:
            if not self.is_change or member.maintenance in (Maintenance.ADD, Maintenance.REINSTATE):
                return _family_tier(member)
            return None
        if self.bad(i, column, "tier", "spouse", "child_count"):
            return None
        if column in self.columns:
            said = "says Waive" if stated is WAIVE else "is blank"
            self.row_error(
                i,
                column,
                f"{line.label} is elected but its coverage level {said}; expected EE, ES, EC "
                "or FAM",
                None if stated is WAIVE else "",
            )
        return None


_COVERED_BY = {
    Relationship.SPOUSE: {Tier.ES, Tier.FAM},
    Relationship.DOMESTIC_PARTNER: {Tier.ES, Tier.FAM},
    Relationship.CHILD: {Tier.EC, Tier.FAM},
}


def _tier_of(partner: bool, child: bool) -> Tier:
    if partner and child:
        return Tier.FAM
    if partner:
        return Tier.ES
    if child:
        return Tier.EC
    return Tier.EE


def _family_tier(member: CensusMember) -> Tier:
    """The tier the dependents listed under a subscriber imply."""
    partner = any(d.relationship is not Relationship.CHILD for d in member.dependents)
    child = any(d.relationship is Relationship.CHILD for d in member.dependents)
    return _tier_of(partner, child)


def _mask(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return mask_ssn(digits[-4:]) if len(digits) >= 4 else text

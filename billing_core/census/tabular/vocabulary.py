"""The census header and value vocabulary: the fields a CSV/XLSX column can hold (`FIELDS`), the
header texts real files name them by and how forgivingly a header is matched (`suggest_mapping`,
`match_header`), what a file must have (`missing_fields`), and the words cells use for
relationships, statuses, genders, tiers, Y/N flags, actions and pay frequencies.

Pure data and string functions; the tabular reader (census.tabular), the column-mapping page
(census.uploads) and the census template (census.template) read from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from billing_core.census.rows import MAINTENANCE_CODES, Maintenance
from billing_core.models.enums import Gender, LineOfCoverage, MemberStatus, Relationship, Tier


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


# Lines with a tier, by the names a header calls them (the full name first). Each has a plan
# field and a tier field ('medical_plan', 'medical_tier') whose headers are those names with
# the same words: 'Medical Plan Code', 'Med Plan', 'Health'; 'Medical Coverage Level', 'Med Tier'.
_TIERED_LINE_NAMES = (
    (LineOfCoverage.MEDICAL, ("Medical", "Med", "Health")),
    (LineOfCoverage.DENTAL, ("Dental", "Den", "Dent")),
    (LineOfCoverage.VISION, ("Vision", "Vis")),
)


def _tiered_line_fields(full: str, *short: str) -> tuple[CensusField, CensusField]:
    word = full.lower()
    plan = _f(
        f"{word}_plan",
        f"{full} plan",
        f"The group's {word} plan code; blank or Waive means no {word} coverage.",
        full,
        *short,
        *(f"{name} Plan" for name in short),
        *(
            f"{full} {words}"
            for words in ("Plan Code", "Plan Name", "Election", "Option", "Coverage")
        ),
    )
    tier = _f(
        f"{word}_tier",
        f"{full} coverage level",
        f"The {word} line's tier (see `tier`).",
        *(f"{full} {words}" for words in ("Coverage Level", "Coverage Tier", "Cov Level", "Level")),
        *(f"{name} {words}" for name in short for words in ("Tier", "Cov", "Cov Level", "Level")),
    )
    return plan, tier


_TIERED_LINE_FIELDS = [
    spec for _, names in _TIERED_LINE_NAMES for spec in _tiered_line_fields(*names)
]


def _disability(name: str, term: str) -> CensusField:
    """A Y/N disability line ('std', 'Short'): 'STD', 'STD Y/N', 'Short-Term Disability'..."""
    code, words = name.upper(), f"{term} Term Disability"
    return _f(
        name,
        f"{term}-term disability (Y/N)",
        f"Y/N: enrolled in {code}.",
        code,
        f"{code} Y/N",
        words,
        f"{term}-Term Disability",
        f"{code} Coverage",
        f"{words} Coverage",
    )


_FIELD_LIST = (
    # Who
    _f(
        "employee_id",
        "Employee ID",
        "The employer's id for the employee; the key a family is matched on. On a dependent row "
        "it names the subscriber (or is left blank). A file without one matches employees by "
        "SSN, else by name and date of birth.",
        "emp_id", "EE ID", "EEID", "Emp #", "Emp ID", "Empl ID", "EmplID", "Employee Number",
        "Employee No", "Emp No", "Emp Num", "EE #", "EE Number", "EE No", "Employee Num",
        "Subscriber ID", "Subscriber Number", "Payroll ID", "Payroll Number", "File Number",
        "Badge Number", "Badge", "Associate ID", "Worker ID", "Personnel Number", "ID",
        "Empl No", "Empl Nbr", "Emp Nbr", "Employee Nbr", "EMPLOYEE_EXT_ID", "Employee Ext ID",
        "Ext ID", "External ID", "Employee External ID", "Employee Code", "Person Number",
    ),
    _f(
        "family_id",
        "Family ID",
        "An id shared by the rows of one family (employee and dependents) when the file has no "
        "employee id on dependent rows; each family has one employee row.",
        "Family ID #", "Family Number", "Family No", "Family #", "Fam ID", "Family Key",
        "Family Identifier", "Household ID", "Household Number", "Household #",
        "Employer Assigned Family ID", "Family Unit ID",
    ),
    _f(
        "member_key",
        "Member ID",
        "The sender's id for the person on the row (member id, dependent sequence). Checked for "
        "duplicates; kept in CensusFile.detail['member_keys'].",
        "Member Key", "Member Number", "Member No", "Person ID", "Dependent ID", "Dep ID",
        "Dependent Number", "Dep Seq", "Dependent Sequence", "Member Seq", "Member Sequence",
        "Unique ID", "hbx_id", "HBX ID", "Exchange ID", "Person Key",
    ),
    _f(
        "relationship",
        "Relationship",
        "EE/Self/Employee/Subscriber/18 for the subscriber; SP/Spouse/01; CH/Child/Son/"
        "Daughter/Disabled Child/19; DP/Domestic Partner/53, in any case. Blank means the "
        "subscriber.",
        "Rel", "Relation", "Relation Code", "Relationship Code", "Rel Code", "Rel Cd",
        "Relationship to Employee", "Relationship to Subscriber", "Relationship to Insured",
        "Member Relationship", "Member Type", "Dependent Type", "Person Type", "Dependent Relationship",
        "Relationship to EE", "Rel to EE", "Relationship Type",
    ),
    _f(
        "first_name",
        "First name",
        "Required on every row.",
        "First", "FName", "First Nm", "Given Name", "Legal First Name", "Forename", "nam_first",
        "Name First", "Given Names",
    ),
    _f(
        "last_name",
        "Last name",
        "Required on subscriber rows; a dependent row left blank takes the subscriber's.",
        "Last", "LName", "Last Nm", "Surname", "Family Name", "Legal Last Name", "nam_last",
        "Name Last",
    ),
    _f(
        "birth_date",
        "Date of birth",
        "Required on every row except a termination (or give an age instead). Never after the "
        "reference date.",
        "DOB", "Date of Birth", "Birth Date", "Birthdate", "Birthday", "Birth Dt", "BDate",
        "D.O.B.", "Date Birth", "DT Birth", "Date of Birth MM/DD/YYYY",
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
        "M/Male, F/Female, U/Unknown (blank is unknown; a value not known is unknown, with a "
        "warning).",
        "Sex", "Gender Code", "Sex Code", "M/F",
    ),
    _f(
        "ssn",
        "SSN",
        "The person's own SSN: nine digits, with or without dashes. A number that is never "
        "issued (000/666/9xx area, 00 group, 0000 serial, 123-45-6789) is read with a warning; "
        "an unreadable one is left blank with a warning. A numeric Excel cell that lost "
        "leading zeros is padded.",
        "Social Security Number", "SS#", "SS #", "SS No", "SS Number", "Social", "Soc Sec",
        "Soc Sec No", "Soc Sec Number", "Social Security", "Social Security No",
        "Social Security #", "SSN/TIN", "Social Security Num", "SSN_PLAIN", "SSN Plain",
        "National ID", "Dependent SSN", "Person SSN", "SSN Number", "Social Security Nbr",
    ),
    _f(
        "subscriber_ssn",
        "Subscriber SSN",
        "The employee's SSN on every row of the family: on a dependent row it links the row to "
        "its employee (when there is no employee id); on the employee's row it is the "
        "employee's SSN when no SSN column says otherwise.",
        "Employee SSN", "EE SSN", "Emp SSN", "Empl SSN", "Primary SSN", "Insured SSN",
        "Sub SSN", "Policyholder SSN", "Primary Insured SSN", "Employee Social Security Number",
        "Subscriber Social Security Number", "Employee Social Security",
    ),
    # Employment
    _f(
        "hire_date",
        "Hire date",
        "Between 1940 and one year after as_of; unreadable: left blank with a warning.",
        "Date of Hire", "DOH", "Service Date", "Hire Dt", "Original Hire Date", "Most Recent Hire Date",
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
        "is active, and so is a status not known (with a warning).",
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
        "Five digits or ZIP+4; a ZIP that lost its leading zeros (3 or 4 digits) is padded; a "
        "foreign postcode is kept as written, with a warning.",
        "Zip", "Zip Code", "Zipcode", "Postal", "Postal Code", "ZIP5", "Home Zip", "Mailing Zip",
        "Residence Zip", "Zip+4", "Postcode", "Post Code", "Zip/Postal Code", "Home Zip Code",
        "Address Zip",
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
        "RECORDSTARTDATE", "Record Start Date", "Record Effective Date",
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
        "Cancellation Date", "Termed Date", "Coverage Termination Date", "DOT",
        "Separation Date",
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
    *_TIERED_LINE_FIELDS,
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
    _disability("std", "Short"),
    _disability("ltd", "Long"),
)  # fmt: skip

FIELDS: dict[str, CensusField] = {f.name: f for f in _FIELD_LIST}

# Lines with a tier: (line, plan field, tier field).
TIERED_LINES = tuple(
    (line, f"{names[0].lower()}_plan", f"{names[0].lower()}_tier")
    for line, names in _TIERED_LINE_NAMES
)
# Y/N elections of employee-only lines.
FLAG_LINES = {
    "basic_life": LineOfCoverage.BASIC_LIFE,
    "ad_and_d": LineOfCoverage.ADD,
    "std": LineOfCoverage.STD,
    "ltd": LineOfCoverage.LTD,
}
# An employee id is not required: a file without one links families by a family id, the
# subscriber's SSN or row order, and its employees are matched by SSN or name and birth date.
REQUIRED_FIELDS = ("first_name", "last_name", "birth_date")
# A field that may stand in for a required one, and fields that need a companion.
ALTERNATIVES = {"birth_date": ("age",)}
COMPANIONS = {"pay_rate": "pay_frequency", "hourly_rate": "hours_per_week"}
# What a repeated group of a wide layout (one row per family) may say about each dependent.
PERSON_FIELDS = frozenset(
    ("first_name", "last_name", "birth_date", "age", "gender", "ssn", "relationship", "member_key")
)
# Why a required field is required, for the message that says it is missing.
_WHY_REQUIRED = {"birth_date": "premium rating needs each person's age"}


# ---------------------------------------------------------------------------------------------
# Headers

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Qualifiers that real headers put around a field's name ("Employee SSN", "Relationship Code").
_HEADER_PREFIXES = ("employee", "empl", "emp", "ee", "member", "mbr", "subscriber", "insured")
_HEADER_SUFFIXES = ("code", "cd", "yn", "flag", "indicator")
_TRAILING_DIGITS = re.compile(r"(?<=[a-z])\d{1,2}$")
# How directly a header names its field: lower is better (see match_header).
EXACT, TRIMMED, QUALIFIED, NUMBERED = 0, 1, 2, 3


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


def header_keys(header: object) -> list[str]:
    """The header's key, then the keys of its first line and of its text before a parenthesis
    (a template's label 'Date of Birth (MM/DD/YYYY)' or 'Relationship\\n(EE, Spouse, ...)')."""
    text = str(header)
    keys = [header_key(text)]
    for part in (text.strip().split("\n", 1)[0], text.split("(", 1)[0]):
        key = header_key(part)
        if key and key not in keys:
            keys.append(key)
    return keys


def match_key(key: str) -> tuple[str | None, int]:
    """The field a header key names and how directly: EXACT (a synonym), QUALIFIED (a synonym
    once a qualifier such as 'Employee' or 'Code' is dropped), NUMBERED (once a trailing digit
    is dropped: 'LAST_NAME1'); (None, -1) when none."""
    if not key:
        return None, -1
    found = _SYNONYMS.get(key)
    if found:
        return found, EXACT
    candidates = [key]
    for prefix in _HEADER_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            candidates.append(key[len(prefix) :])
    for stem in list(candidates):
        for suffix in _HEADER_SUFFIXES:
            if stem.endswith(suffix) and len(stem) > len(suffix):
                candidates.append(stem[: -len(suffix)])
    for candidate in candidates[1:]:
        found = _SYNONYMS.get(candidate)
        if found:
            return found, QUALIFIED
    stripped = _TRAILING_DIGITS.sub("", key)
    if stripped != key and len(stripped) > 1:
        found, _ = match_key(stripped)
        if found:
            return found, NUMBERED
    return None, -1


def match_header(header: object) -> tuple[str | None, int]:
    """The field a header names, forgiving case, spaces, punctuation, a qualifier, a trailing
    digit, and a template's explanation after a line break or in parentheses; with how
    directly it names it (EXACT < TRIMMED < QUALIFIED < NUMBERED), so that of two columns
    naming one field the more direct one is read."""
    for position, key in enumerate(header_keys(header)):
        found, how = match_key(key)
        if found:
            return found, max(how, TRIMMED) if position else how
    return None, -1


def suggest_mapping(headers: Sequence[str]) -> dict[str, str | None]:
    """Header text -> census field name, or None for a header no field is known by. Each header
    is judged alone: two headers naming one field both map to it (read_tabular then reads the
    more direct one, else the first, and warns)."""
    return {str(header): match_header(header)[0] for header in headers}


def missing_fields(mapping: dict[str, str | None]) -> list[str]:
    """Field names a file needs but `mapping` does not provide, in FIELDS order. `birth_date`
    is satisfied by `age`; `pay_rate` needs `pay_frequency` and `hourly_rate` needs
    `hours_per_week` when they are mapped. No employee id is needed (see REQUIRED_FIELDS)."""
    mapped = {name for name in mapping.values() if name}
    missing = [
        name
        for name in REQUIRED_FIELDS
        if name not in mapped and not any(alt in mapped for alt in ALTERNATIVES.get(name, ()))
    ]
    missing += [need for have, need in COMPANIONS.items() if have in mapped and need not in mapped]
    return missing


def describe_missing(name: str) -> str:
    spec = FIELDS[name]
    examples = ", ".join(repr(s) for s in (spec.label, *spec.synonyms[:3]))
    also = ""
    if name in ALTERNATIVES:
        also = " (or " + ", ".join(FIELDS[a].label for a in ALTERNATIVES[name]) + ")"
    why = f": {_WHY_REQUIRED[name]}" if name in _WHY_REQUIRED else ""
    return f"no column for {spec.label}{also}{why}; expected a header such as {examples}"


def is_label_row(cells: Sequence[str]) -> bool:
    """A row under the header that is a second header (a template's human labels under its
    machine keys: 'Last Name', 'Date of Birth (MM/DD/YYYY)') or says which columns are
    required: at least two cells name fields and they are at least half of the row; or every
    cell is an instruction word."""
    texts = [cell for cell in cells if cell]
    if not texts:
        return False
    if all(header_key(cell) in _INSTRUCTION_WORDS for cell in texts):
        return True
    known = sum(1 for cell in texts if match_header(cell)[0])
    return known >= 2 and known * 2 >= len(texts)


_INSTRUCTION_WORDS = frozenset(
    ("required", "optional", "mandatory", "conditional", "ifapplicable", "req", "opt")
)

# Headers of an employer (group) application or group census: the company, its contact, its
# broker and its contribution per tier.
_EMPLOYER_HEADERS = frozenset(
    header_key(text)
    for text in (
        "FEIN", "EIN", "Tax ID", "Federal Tax ID", "Legal Name", "Doing Business As", "DBA",
        "SIC Code", "NAICS Code", "NAICS", "Employer ID", "Issuer assigned Employer Id",
        "Group Name", "Company Name", "Employer Name", "Employer Legal Name", "Broker Name",
        "Broker NPN", "Enrolled Employee Count", "Number of Employees", "Contact First Name",
        "Contact Last Name", "Contact Email", "Contact Phone", "Employer Contribution",
        "Physical Address 1", "County FIPS code", "New Hire Coverage Policy",
    )
)  # fmt: skip


def employer_headers(headers: Sequence[str]) -> list[str]:
    """The headers that describe an employer rather than a person."""
    return [h for h in headers if any(k in _EMPLOYER_HEADERS for k in header_keys(h))]


# ---------------------------------------------------------------------------------------------
# Cell words


class _Waive:
    """A plan or tier cell that says the line is waived."""

    def __repr__(self) -> str:
        return "WAIVE"


WAIVE = _Waive()
SUBSCRIBER = "subscriber"
# Cells that mean "nothing here" (an export's null): read as blank. Only these spellings: "Nil"
# is a given name.
BLANK_WORDS = frozenset(("nil", "null", "NULL", "(null)", "#N/A"))


def token(text: str) -> str:
    return _NON_ALNUM.sub("", text.lower())


def _vocabulary(table: dict[object, tuple[str, ...]]) -> dict[str, object]:
    return {token(word): value for value, words in table.items() for word in words}


RELATIONSHIPS = _vocabulary(
    {
        SUBSCRIBER: (
            "EE", "E", "Self", "Employee", "Subscriber", "18", "Sub", "Member", "Emp",
            "Insured", "Primary", "Retiree", "COBRA", "Policyholder", "Primary Insured",
        ),
        Relationship.SPOUSE: (
            "SP", "S", "Spouse", "01", "1", "Husband", "Wife", "SPS", "Ex-Spouse",
            "Former Spouse",
        ),
        Relationship.CHILD: (
            "CH", "C", "Child", "Son", "Daughter", "19", "Dependent Child", "Stepchild",
            "Step Child", "Stepson", "Stepdaughter", "Adopted Child", "Foster Child", "17",
            "Children", "Dependent", "Dep", "DC", "Ward", "Disabled Child", "Disabled Dependent",
            "Handicapped Child", "Incapacitated Child", "Disabled Adult Child", "Grandchild",
            "Legal Ward", "Court Ordered Child", "Child Disabled", "Dependent Disabled", "DD",
        ),
        Relationship.DOMESTIC_PARTNER: (
            "DP", "Domestic Partner", "53", "Partner", "Civil Union Partner", "Civil Union",
            "Life Partner",
        ),
    }
)  # fmt: skip
STATUSES = _vocabulary(
    {
        MemberStatus.ACTIVE: (
            "Active", "A", "Act", "AC", "Full Time", "FT", "Part Time", "PT",
            "Leave", "Leave of Absence", "LOA", "L", "Active Employee",
        ),
        MemberStatus.COBRA: ("COBRA", "C", "COBRA Participant", "Continuation", "State Continuation"),
        MemberStatus.RETIREE: ("Retiree", "R", "Retired", "Ret"),
        MemberStatus.TERMINATED: ("Terminated", "T", "Term", "Termed"),
    }
)  # fmt: skip
GENDERS = _vocabulary(
    {
        Gender.MALE: ("M", "Male", "Man"),
        Gender.FEMALE: ("F", "Female", "Woman"),
        Gender.UNKNOWN: ("U", "Unknown", "X", "Other", "Non-binary", "Not Specified", "Undisclosed"),
    }
)  # fmt: skip
# A cell declining a line: a plan or tier cell (WAIVE) and a Y/N cell (no) alike.
_DECLINED = (
    "Waive", "Waived", "W", "WV", "Declined", "Decline", "None", "N", "No", "NA",
    "No Coverage", "Not Covered", "Not Enrolled", "Opt Out", "Opted Out",
)  # fmt: skip
# Tier words after the filler ('and', 'plus', 'only', '+', '&') is dropped.
TIERS = _vocabulary(
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
        WAIVE: _DECLINED,
    }
)  # fmt: skip
TIER_FILLER = re.compile(r"\b(and|plus|only|with)\b|[+&/]")
FLAGS = _vocabulary(
    {
        True: ("Y", "Yes", "True", "T", "1", "X", "Covered", "Enrolled", "Elected"),
        False: ("False", "F", "0", *_DECLINED),
    }
)  # fmt: skip
# Action words, and the 834's maintenance codes (INS03) with or without their leading zeros
# (a spreadsheet drops them: 021 -> 21).
ACTIONS = _vocabulary(
    {
        Maintenance.ADD: (
            "Add", "A", "New", "New Hire", "Addition", "Enroll", "Enrollment", "New Enrollment",
        ),
        Maintenance.TERM: (
            "Term", "T", "Terminate", "Termination", "Terminated", "Cancel", "Cancellation",
            "Delete", "D", "Drop",
        ),
        Maintenance.CHANGE: ("Change", "C", "Chg", "Update", "U", "Modify", "M", "Changes"),
        Maintenance.REINSTATE: ("Reinstate", "R", "Reinstatement", "Reinstated"),
        Maintenance.AUDIT: ("Audit", "No Change", "As Is"),
    }
) | {
    written: maintenance
    for code, maintenance in MAINTENANCE_CODES.items()
    for written in (code, code.lstrip("0"))
}  # fmt: skip
PAY_PERIODS = _vocabulary(
    {
        52: ("Weekly", "W", "WK", "52"),
        26: ("Bi-Weekly", "Biweekly", "BW", "B", "26", "Every Other Week", "Fortnightly"),
        24: ("Semi-Monthly", "Semimonthly", "SM", "S", "24", "Twice Monthly", "Twice a Month"),
        12: ("Monthly", "M", "MO", "12"),
        1: ("Annual", "Annually", "Yearly", "A", "Y", "1", "Salary", "Salaried"),
        0: ("Hourly", "H", "HR"),  # 0: the pay rate is an hourly rate (x hours_per_week x 52)
    }
)  # fmt: skip

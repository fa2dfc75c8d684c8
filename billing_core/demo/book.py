"""The shape of the demo book: its products, its eight employer groups (5 to 2,000 members, every
rating basis, list-billed and self-billed, monthly and quarterly, two with subgroups), its two
broker agencies, the names its people are drawn from, and how each group pays. Plain data:
document.py turns it into a set-up document, history.py and payments.py into bills and cash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing_core.billing.enrollment import add_months, month_start
from billing_core.models.enums import PaymentMethod, PaymentSource

DEMO_SOURCE = "demo"  # the source of the demo's set-up imports (the audit log shows it)

# Monthly base rates; each group's rates are these times a group factor (0.92-1.08).
MEDICAL_PPO = {"EE": "650.00", "ES": "1350.00", "EC": "1180.00", "FAM": "1900.00"}
DENTAL = {"EE": "38.50", "ES": "76.80", "EC": "84.20", "FAM": "112.40"}
VISION = {"EE": "7.20", "ES": "13.70", "EC": "14.10", "FAM": "20.60"}
SMALL_GROUP_BANDS = [
    (0, 14, "265.40"),
    (15, 20, "289.10"),
    (21, 24, "420.75"),
    (25, 29, "442.10"),
    (30, 34, "482.30"),
    (35, 39, "510.60"),
    (40, 44, "545.90"),
    (45, 49, "612.80"),
    (50, 54, "737.15"),
    (55, 59, "880.40"),
    (60, 64, "1012.70"),
    (65, 120, "1264.90"),
]

PRODUCTS = [
    {
        "code": "MED-PPO",
        "name": "Medical PPO 1000",
        "line_of_coverage": "medical",
        "rating_basis": "tiered_composite",
    },
    {
        "code": "MED-SG",
        "name": "Small Group Medical Silver",
        "line_of_coverage": "medical",
        "rating_basis": "age_banded",
    },
    {
        "code": "DEN-PPO",
        "name": "Dental PPO",
        "line_of_coverage": "dental",
        "rating_basis": "tiered_composite",
    },
    {
        "code": "VIS-BASE",
        "name": "Vision 12/12/24",
        "line_of_coverage": "vision",
        "rating_basis": "tiered_composite",
    },
    {
        "code": "LIFE-BASIC",
        "name": "Basic Term Life 2x salary",
        "line_of_coverage": "basic_life",
        "rating_basis": "per_thousand_volume",
    },
    {
        "code": "LIFE-SUPP",
        "name": "Supplemental Term Life",
        "line_of_coverage": "supplemental_life",
        "rating_basis": "per_thousand_volume",
    },
    {
        "code": "ADD-BASIC",
        "name": "Basic AD&D 2x salary",
        "line_of_coverage": "add",
        "rating_basis": "per_thousand_volume",
    },
    {
        "code": "STD-60",
        "name": "Short-Term Disability 60%",
        "line_of_coverage": "std",
        "rating_basis": "std_weekly_benefit",
    },
    {
        "code": "LTD-60",
        "name": "Long-Term Disability 60%",
        "line_of_coverage": "ltd",
        "rating_basis": "ltd_covered_payroll",
    },
]


@dataclass(frozen=True)
class GroupSpec:
    number: str
    name: str
    slug: str
    size: int
    state: str
    zip_prefixes: tuple[int, ...]
    method: str
    frequency: str
    renewal_month: int
    since_year: int
    salary_range: tuple[int, int]
    renews: bool  # a medical/dental/vision renewal in the last 12 months
    agency: str = "HARBOR"
    subgroups: tuple[tuple[str, str, str, bool], ...] = ()  # code, name, kind, bill separately


GROUPS = [
    GroupSpec(
        "G-1001",
        "Birchwood Bakery",
        "birchwoodbakery",
        5,
        "OR",
        (970, 972),
        "list_bill",
        "monthly",
        3,
        2019,
        (32_000, 61_000),
        True,
    ),
    GroupSpec(
        "G-1002",
        "Summit Ridge Veterinary",
        "summitridgevet",
        14,
        "CO",
        (800, 803),
        "list_bill",
        "monthly",
        7,
        2017,
        (38_000, 118_000),
        False,
    ),
    GroupSpec(
        "G-1003",
        "Keystone Architects",
        "keystonearch",
        48,
        "PA",
        (150, 191),
        "list_bill",
        "quarterly",
        1,
        2012,
        (55_000, 165_000),
        True,
    ),
    GroupSpec(
        "G-1004",
        "Lakeshore Logistics",
        "lakeshorelogistics",
        120,
        "MI",
        (480, 492),
        "self_bill",
        "monthly",
        10,
        2015,
        (36_000, 92_000),
        True,
    ),
    GroupSpec(
        "G-1005",
        "Pinecrest Health Clinics",
        "pinecresthealth",
        310,
        "WA",
        (980, 994),
        "list_bill",
        "monthly",
        5,
        2010,
        (42_000, 185_000),
        False,
        agency="CASCADE",
    ),
    GroupSpec(
        "G-1006",
        "Meridian Manufacturing",
        "meridianmfg",
        640,
        "OH",
        (430, 458),
        "self_bill",
        "monthly",
        4,
        2008,
        (34_000, 128_000),
        True,
        subgroups=(
            ("FAB", "Fabrication division", "division", False),
            ("ASM", "Assembly division", "division", False),
            ("CORP", "Corporate office", "division", False),
        ),
    ),
    GroupSpec(
        "G-1007",
        "Bayview Unified School District",
        "bayviewschools",
        1250,
        "CA",
        (940, 951),
        "list_bill",
        "monthly",
        7,
        2011,
        (48_000, 132_000),
        False,
    ),
    GroupSpec(
        "G-1008",
        "Northstar Retail Group",
        "northstarretail",
        2000,
        "TX",
        (750, 799),
        "list_bill",
        "monthly",
        1,
        2009,
        (29_000, 142_000),
        True,
        subgroups=(
            ("DAL", "Dallas stores", "location", False),
            ("HOU", "Houston stores", "location", False),
            ("AUS", "Austin stores", "location", False),
            ("DC", "Fort Worth distribution center", "location", True),
        ),
    ),
]
DEMO_FIRST_GROUP = GROUPS[0].number

AGENCIES = [
    {
        "code": "HARBOR",
        "name": "Harbor Benefits Group",
        "tax_id": "94-3187452",
        "brokers": [
            {
                "npn": "18273645",
                "full_name": "Dana Whitfield",
                "email": "dana.whitfield@harborbenefits.example.com",
            },
            {
                "npn": "18273699",
                "full_name": "Marcus Lee",
                "email": "marcus.lee@harborbenefits.example.com",
            },
        ],
    },
    {
        "code": "CASCADE",
        "name": "Cascade Risk Partners",
        "tax_id": "91-2264810",
        "brokers": [
            {
                "npn": "20418833",
                "full_name": "Erin Castellanos",
                "email": "erin.castellanos@cascaderisk.example.com",
            },
        ],
    },
]

FEMALE = (
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy "
    "Betty Sandra Ashley Emily Michelle Amanda Melissa Stephanie Rebecca Laura Sharon "
    "Cynthia Amy Angela Anna Brenda Emma Olivia Sophia Isabella Mia Priya Mei Fatima Aaliyah "
    "Camila Lucia Grace Hannah Chloe Nicole Rachel Megan Lauren Maria Rosa Ana"
).split()
MALE = (
    "James Robert John Michael David William Richard Joseph Thomas Charles Christopher "
    "Daniel Matthew Anthony Mark Donald Steven Andrew Paul Joshua Kenneth Kevin Brian George "
    "Timothy Ronald Jason Edward Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Justin Luis "
    "Carlos Jose Juan Miguel Wei Raj Ahmed Omar Tyler Brandon Samuel Benjamin Noah Liam Ethan"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Patel Kim Chen Singh Okafor Novak Kowalski Schmidt Murphy Sullivan O'Brien Fischer "
    "Yamamoto Tanaka Reyes Morales Ortiz Gutierrez Chavez Ramos Ruiz Alvarez Castillo Bennett "
    "Brooks Price Hughes Foster Sanders Ross Powell Long Jenkins Perry Russell Coleman Butler"
).split()


@dataclass(frozen=True)
class PayingHabit:
    """How a demo group pays: method, days after the due date (negative: before), and the
    story it tells on the screens."""

    method: PaymentMethod
    source: PaymentSource
    days_after_due: int
    short_by: Decimal = Decimal("0.00")  # once, inside tolerance: written off
    over_by: Decimal = Decimal("0.00")  # once: left as a credit
    returned_once: bool = False  # one NSF return, paid again by wire a week later
    stops_paying_after: date | None = None  # the last due dates stay unpaid (past due)


def paying_habits(today: date) -> dict[str, PayingHabit]:
    """Each demo group's habit by group number; `today` dates the group that stopped paying
    (its bills due from last month on stay unpaid)."""
    last_month = add_months(month_start(today), -1)
    return {
        "G-1001": PayingHabit(PaymentMethod.CARD, PaymentSource.ONLINE, -5),
        "G-1002": PayingHabit(PaymentMethod.CHECK, PaymentSource.STAFF, 20),  # always late
        "G-1003": PayingHabit(
            PaymentMethod.ACH_DEBIT, PaymentSource.ONLINE, -3, returned_once=True
        ),
        "G-1004": PayingHabit(
            PaymentMethod.ACH_CREDIT, PaymentSource.STAFF, -2, short_by=Decimal("12.40")
        ),
        "G-1005": PayingHabit(
            PaymentMethod.WIRE, PaymentSource.STAFF, 0, over_by=Decimal("150.00")
        ),
        "G-1006": PayingHabit(PaymentMethod.ACH_CREDIT, PaymentSource.REMITTANCE_820, -1),
        "G-1007": PayingHabit(
            PaymentMethod.LOCKBOX, PaymentSource.BANK_FILE, -4, stops_paying_after=last_month
        ),
        "G-1008": PayingHabit(PaymentMethod.ACH_CREDIT, PaymentSource.STAFF, -6),
    }

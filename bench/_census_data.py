"""Census files for the benchmarks, generated (never committed): a CSV/XLSX-shaped census of
families as an HRIS exports one (`census_rows`, `write_csv`) and a full-file X12 834
(`generate_834`). Shared by census_tabular.py, census_834.py and census.py."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

HEADERS = [
    "EE ID", "Relationship", "First Name", "Last Name", "DOB", "Gender", "SSN", "Hire Date",
    "Annual Salary", "Status", "Location", "Class", "Zip", "Medical Plan", "Medical Tier",
    "Dental Plan", "Dental Tier", "Vision Plan", "Vision Tier", "Supp Life Volume", "Basic Life",
    "STD", "LTD", "Coverage Effective Date", "Termination Date",
]  # fmt: skip
DATE_COLUMNS = {"DOB", "Hire Date", "Coverage Effective Date", "Termination Date"}
NUMBER_COLUMNS = {"Annual Salary", "Supp Life Volume"}
AS_OF = date(2026, 1, 1)


def census_rows(count: int, seed: int = 7, *, families: bool = False) -> list[list]:
    """Families in row order (dependents share the subscriber's EE ID), typed cells: `count`
    rows, or with `families` `count` subscribers, each with all their dependents."""
    rng = random.Random(seed)
    rows: list[list] = []
    serial = 0
    while (serial if families else len(rows)) < count:
        serial += 1
        employee_id = f"{serial:06d}"
        dependents = rng.choice([0, 0, 1, 2, 3])
        tier = {0: "EE", 1: "ES", 2: "FAM", 3: "FAM"}[dependents]
        ssn = f"{100 + serial // 10000:03d}-{1 + serial // 100 % 99:02d}-{1000 + serial % 9000:04d}"
        rows.append(
            [
                employee_id,
                "EE",
                f"First{serial}",
                f"Last{serial}",
                date(1960, 1, 1) + timedelta(days=rng.randint(0, 15000)),
                rng.choice("MF"),
                ssn,
                date(2012, 1, 1) + timedelta(days=rng.randint(0, 4000)),
                rng.randint(30000, 200000) + rng.choice([0, 0.5]),
                rng.choice(["A", "A", "A", "COBRA", "Retiree"]),
                f"LOC{serial % 20:02d}",
                "1",
                f"{rng.randint(1000, 99999):05d}",
                "PPO",
                tier,
                "DEN",
                tier,
                "VIS",
                tier,
                rng.choice([0, 10000, 50000]),
                "Y",
                "Y",
                rng.choice("YN"),
                date(2026, 1, 1),
                "",
            ]
        )
        for number in range(dependents):
            dependent = [""] * len(HEADERS)
            dependent[:6] = [
                employee_id,
                "SP" if number == 0 else "CH",
                f"Dep{serial}-{number}",
                f"Last{serial}",
                date(1985, 1, 1) + timedelta(days=rng.randint(0, 12000)),
                rng.choice("MF"),
            ]
            rows.append(dependent)
    return rows if families else rows[:count]


def write_csv(path: Path, rows: list[list]) -> None:
    def text(value: object) -> str:
        return value.strftime("%m/%d/%Y") if isinstance(value, date) else str(value)

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        writer.writerows([text(v) for v in row] for row in rows)


def generate_834(subscribers: int, seed: int = 834) -> bytes:
    """Birth and hire dates spread over decades and salaries to the cent, as in a real book (so
    the reader's date cache is not flattered)."""
    rng = random.Random(seed)

    def day(start: date, span_days: int) -> str:
        return (start + timedelta(days=rng.randrange(span_days))).strftime("%Y%m%d")

    body: list[str] = []
    employees = dependents = 0
    for n in range(1, subscribers + 1):
        employee_id = f"E{n:07d}"
        spouse = rng.random() < 0.5
        children = rng.choice((0, 0, 0, 1, 2, 3))
        level = "FAM" if spouse and children else "ESP" if spouse else "ECH" if children else "EMP"
        employees += 1
        body += [
            "INS*Y*18*030*XN*A***FT",
            f"REF*0F*{employee_id}",
            "REF*1L*GRP-77001",
            f"REF*DX*DIV{n % 7}",
            f"DTP*336*D8*{day(date(1995, 1, 1), 11000)}",
            f"NM1*IL*1*LAST{n}*FIRST{n}*Q***34*{_issued_ssn(n)}",
            "PER*IP**HP*6145550101",
            f"N3*{n} MAIN ST",
            f"N4*COLUMBUS*OH*{43000 + n % 999:05d}",
            f"DMG*D8*{day(date(1955, 1, 1), 16000)}*{'FM'[n % 2]}*M",
            f"ICM*2*{(pay := rng.randrange(120000, 800000)) // 100}.{pay % 100:02d}*40",
            f"HD*030**HLT*PPO500*{level}",
            "DTP*348*D8*20250101",
            f"HD*030**DEN*DENHIGH*{level}",
            "DTP*348*D8*20250101",
            f"HD*030**VIS*VIS1*{level}",
            "DTP*348*D8*20250101",
            "HD*030**LIF*BLIFE*EMP",
            "DTP*348*D8*20250101",
            f"AMT*FK*{50000 + (n % 5) * 10000}",
        ]
        family = (["01"] if spouse else []) + ["19"] * children
        for k, relation in enumerate(family):
            dependents += 1
            body += [
                f"INS*N*{relation}*030*XN*A",
                f"REF*0F*{employee_id}",
                f"NM1*IL*1*LAST{n}*DEP{k}",
                f"DMG*D8*{day(date(1960, 1, 1), 20000)}*{'MF'[k % 2]}",
                f"HD*030**HLT*PPO500*{level}",
                "DTP*348*D8*20250101",
                f"HD*030**DEN*DENHIGH*{level}",
                "DTP*348*D8*20250101",
            ]
    header = [
        "ST*834*0001*005010X220A1",
        "BGN*00*BENCH*20260101*0900****4",
        "REF*38*GRP-77001",
        "DTP*007*D8*20260101",
        f"QTY*ET*{employees}",
        f"QTY*DT*{dependents}",
        f"QTY*TO*{employees + dependents}",
        "N1*P5*ACME WIDGETS INC*FI*361234567",
        "N1*IN*GREAT LAKES MUTUAL*FI*391112222",
    ]
    transaction = header + body
    transaction.append(f"SE*{len(transaction) + 1}*0001")
    lines = [
        "ISA*00*          *00*          *ZZ*ACMEPAYROLL    *ZZ*PREMIUMBILL    "
        "*260101*0900*^*00501*000000001*0*P*:",
        "GS*BE*ACMEPAYROLL*PREMIUMBILL*20260101*0900*1*X*005010X220A1",
        *transaction,
        "GE*1*1",
        "IEA*1*000000001",
    ]
    return ("~\n".join(lines) + "~\n").encode()


def _issued_ssn(n: int) -> str:
    """A distinct SSN for each n that could have been issued (no 000/666/9xx area, 00 group or
    0000 serial): files with unissued numbers are refused row by row, not what is measured."""
    block, serial = divmod(n, 9999)
    area, group = divmod(block, 99)
    return f"{100 + area:03d}{1 + group:02d}{1 + serial:04d}"

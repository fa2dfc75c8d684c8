"""Builds the XLSX files of the intake corpus (tests/data/intake) with openpyxl, the way carrier
and exchange templates and HRIS exports write them: title rows, machine keys over human labels
with line breaks, date cells and Excel serial numbers, numbers where text was meant (ZIPs,
SSNs), hundreds of blank formatted rows after the data, wide dependent groups. The workbooks are
committed; run this to write them again after changing it:

    .venv/bin/python -m tests.intake_xlsx_builder

Every person is the corpus group's (tests/intake_corpus.py corpus_group) or made up.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime

import openpyxl
from openpyxl.styles import Border, Font, PatternFill, Side

from tests.intake_corpus import CORPUS

FIXED_TIME = datetime(2026, 11, 30, 9, 0, 0)  # the workbooks' properties: the same bytes each run
HEADER_FONT = Font(bold=True)
FILL = PatternFill("solid", start_color="FFF2CC")
THIN = Side(style="thin")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def roster():
    """(n, employee id, first, last, birth date, SSN digits, gender, location, tier)."""
    for n in range(1, 16):
        yield (
            n, f"E{1000 + n}", "Pat", f"Worker{n:02d}", date(1980, 1, n), f"21909{1000 + n}",
            "F" if n % 2 else "M", "NORTH" if n % 2 == 0 else "SOUTH",
            {1: "FAM", 2: "ES"}.get(n, "EE"),
        )  # fmt: skip


def save(book: openpyxl.Workbook, name: str) -> None:
    book.properties.created = book.properties.modified = FIXED_TIME
    book.properties.creator = "corpus"
    buffer = io.BytesIO()
    book.save(buffer)
    (CORPUS / name).write_bytes(_stable(buffer.getvalue()))


def _stable(data: bytes) -> bytes:
    """The zip again with fixed entry times and a fixed modified time (openpyxl writes the time
    of the save), so the same workbook gives the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-11-30T09:00:00Z", content
                )
            info.date_time = (2026, 11, 30, 9, 0, 0)
            target.writestr(info, content)
    return out.getvalue()


def blank_formatted_rows(sheet, first: int, count: int, width: int) -> None:
    """Rows a template formats in advance (fill, border, a date format) and nobody fills; every
    25th holds a lone space, as a cell someone cleared with the space bar does."""
    for row in range(first, first + count):
        for column in range(1, width + 1):
            cell = sheet.cell(row=row, column=column)
            cell.fill = FILL
            cell.border = BORDER
            cell.number_format = "mm/dd/yyyy"
        if (row - first) % 25 == 24:
            sheet.cell(row=row, column=2).value = " "


def template_keys_labels_blank_rows() -> None:
    """A title row, machine keys, human labels with line breaks (one shifted a column), family
    ids, date cells, ZIPs and SSNs stored as numbers, then 400 blank formatted rows."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Employee Census"
    sheet.append(["Corpus Manufacturing - Employee Census Template", None, None, None, None,
                  None, date(2026, 11, 1), None, "v2.3"])  # fmt: skip
    keys = ["employer_assigned_family_id", "employee_relationship", "last_name", "first_name",
            "middle_name", "ssn", "dob", "gender", "hire_date", "zip", "medical_plan",
            "coverage_tier"]  # fmt: skip
    sheet.append(keys)
    sheet.append([
        "Family ID # \n(to match family members to the EE & each household gets a unique "
        "number)\n(optional)",
        "Relationship\n(EE, Spouse, Domestic Partner, or Child)",
        "Last Name", "First Name", "Date of Birth\n(MM/DD/YYYY)", "Middle Name", "SSN\n(no dashes)",
        None, "Gender", "Hire Date", "ZIP", "Medical Plan",
    ])  # fmt: skip
    for cell in sheet[2] + sheet[3]:
        cell.font = HEADER_FONT
    for n, _eid, first, last, born, ssn, gender, _loc, tier in roster():
        family = f"{n:03d}"
        zip_code = 2134 if n % 2 else 20001  # numbers: the leading zero of 02134 is lost
        sheet.append([family, "Employee", last, first, None, int(ssn), born, gender,
                      date(2020, 1, 6), zip_code, "MED-PPO", tier])  # fmt: skip
        sheet.cell(row=sheet.max_row, column=7).number_format = "mm/dd/yyyy"
        sheet.cell(row=sheet.max_row, column=9).number_format = "mm/dd/yyyy"
    for family, relationship, first, born in (
        ("001", "Spouse", "Sam", date(1982, 2, 1)),
        ("001", "Child", "Kim", date(2012, 3, 1)),
        ("002", "Spouse", "Lee", date(1983, 4, 2)),
    ):
        last = f"Worker{family[1:]}"
        sheet.append([family, relationship, last, first, None, None, born, None, None, None,
                      None, None])  # fmt: skip
    blank_formatted_rows(sheet, sheet.max_row + 1, 400, len(keys))
    save(book, "template-keys-labels-blank-rows.xlsx")


def hris_serial_dates_numbers() -> None:
    """Dates as Excel serial numbers in General cells, SSNs and ZIPs as numbers (one SSN and
    one ZIP+4 lost their leading zero), salaries as numbers, statuses."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Export"
    sheet.append(["EMPLOYEE_EXT_ID", "FIRST_NAME1", "LAST_NAME1", "BIRTHDATE", "SSN_PLAIN",
                  "ZIP_CODE", "ANNUAL_SALARY", "EMPLOYMENT_STATUS", "DOH", "MEDICAL_PLAN",
                  "MEDICAL_TIER", "DENTAL_PLAN", "DENTAL_TIER"])  # fmt: skip
    epoch = date(1899, 12, 30)
    for n, eid, first, last, born, ssn, _gender, _loc, tier in roster():
        zip_code = {3: 21341234, 4: 501}.get(n, 10001)  # 02134-1234 and 00501 as numbers
        status = {13: "COBRA", 14: "Retiree"}.get(n, "Active")
        sheet.append([eid, first, last, (born - epoch).days, int(ssn), zip_code, 52000, status,
                      (date(2020, 1, 6) - epoch).days, "MED-PPO", tier, "DEN-PPO", tier])  # fmt: skip
    sheet.append(["E1016", "Lou", "Finch", (date(1993, 9, 9) - epoch).days, 12345678, 2134,
                  61000.5, "Active", (date(2026, 11, 2) - epoch).days, "MED-PPO", "EE",
                  "DEN-PPO", "EE"])  # fmt: skip
    save(book, "hris-serial-dates-numbers.xlsx")


def wide_with_premiums() -> None:
    """One row per family: the employee, then 'Dependent N ...' groups up to 8 with a premium
    column per person, and a total."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Roster"
    header = ["Employee ID", "Employee First Name", "Employee Last Name", "Employee DOB",
              "Medical Plan", "Medical Tier", "Employee Premium"]  # fmt: skip
    for k in range(1, 9):
        header += [f"Dependent {k} First Name", f"Dependent {k} Last Name", f"Dependent {k} DOB",
                   f"Dependent {k} Relationship", f"Dependent {k} Premium"]  # fmt: skip
    header.append("Total Premium")
    sheet.append(header)
    for n, eid, first, last, born, _ssn, _gender, _loc, tier in roster():
        row = [eid, first, last, born, "MED-PPO", tier, 610.0]
        family = {
            1: [("Sam", "Worker01", date(1982, 2, 1), "Spouse", 610.0),
                ("Kim", "Worker01", date(2012, 3, 1), "Child", 530.0)],
            2: [("Lee", "Worker02", date(1983, 4, 2), "spouse", 610.0)],
        }.get(n, [])  # fmt: skip
        for k in range(8):
            row += list(family[k]) if k < len(family) else [None] * 5
        row.append(610.0 + sum(member[4] for member in family))
        sheet.append(row)
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, date):
                cell.number_format = "m/d/yyyy"
    save(book, "wide-dependent-groups-premiums.xlsx")


def employer_application() -> None:
    """An employer-level group application: one company row, contribution per tier."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Employers"
    sheet.append(["Action", "FEIN", "Doing Business As", "Legal Name", "SIC Code",
                  "Physical Address 1", "City", "State", "Zip", "Mailing Address 1", "City",
                  "State", "Zip", "Contact First Name", "Contact Last Name", "Contact Email",
                  "Enrolled \nEmployee Count", "Coverage \nStart Date",
                  "Employee Only Rating Tier Contribution", "Family Rating Tier Contribution"])  # fmt: skip
    sheet.append(["Add", "12-3456789", "Corpus Mfg", "Corpus Manufacturing, Inc.", "3469",
                  "1 Mill St", "Lowell", "MA", "01852", "PO Box 9", "Lowell", "MA", "01853",
                  "Robin", "Clerk", "hr@corpus.example", "15", date(2027, 1, 1), "75", "50"])  # fmt: skip
    save(book, "employer-application.xlsx")


def blank_template() -> None:
    """The template as downloaded: title, machine keys, labels, formatted rows, no people."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Employee Census"
    sheet.append(["Corpus Manufacturing - Employee Census Template", None, None, "v2.3"])
    sheet.append(["employer_assigned_family_id", "employee_relationship", "last_name",
                  "first_name", "middle_name", "ssn", "dob", "gender", "zip"])  # fmt: skip
    sheet.append(["Family ID #\n(optional)", "Relationship\n(EE, Spouse, Domestic Partner, or "
                  "Child)", "Last Name", "First Name", "Date of Birth\n(MM/DD/YYYY)"])  # fmt: skip
    blank_formatted_rows(sheet, 4, 250, 9)
    save(book, "blank-template.xlsx")


def main() -> None:
    template_keys_labels_blank_rows()
    hris_serial_dates_numbers()
    wide_with_premiums()
    employer_application()
    blank_template()


if __name__ == "__main__":
    main()

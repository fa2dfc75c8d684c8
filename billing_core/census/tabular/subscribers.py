"""A sheet's subscriber rows: the fields every row needs, the key each subscriber is matched
by (its employee id, else its SSN, else its name and date of birth), one row per employee (an
exact repeat read once, another row with the same key refused, the same SSN, name or family id
twice), the termination and maintenance dates a change file's row asks for, and the annual
salary from whichever pay columns the file has. Then the stages after it: the dependents
(`families`) and the coverages (`coverages`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from billing_core.census.rows import CensusMember, Maintenance, MemberColumns
from billing_core.census.tabular.coverages import attach_coverages, read_coverages
from billing_core.census.tabular.families import dependents_only_members, link_dependents
from billing_core.census.tabular.sheet import Sheet, masked_ssn
from billing_core.census.tabular.vocabulary import SUBSCRIBER
from billing_core.models.enums import Gender, MemberStatus
from billing_core.money import cents


def read_members(sheet: Sheet) -> None:
    """The census's members from the parsed columns: the rows every row needs checked, the
    subscribers keyed and their repeats settled, their dependents linked and their coverages
    read (see census.tabular for the rules)."""
    n, columns, row_no = sheet.n, sheet.columns, sheet.row_no
    valid = ~sheet.all_blank & ~sheet.unreadable_mask("relationship", "action")
    is_subscriber = valid & sheet.mask("relationship", lambda v: v is None or v == SUBSCRIBER)
    is_dependent = valid & ~is_subscriber

    action = sheet.col("action")
    termination, effective = sheet.col("termination_date"), sheet.col("effective_date")
    coverage_from = sheet.col("coverage_effective_date")
    is_term = sheet.mask("action", lambda v: v is Maintenance.TERM)
    if sheet.is_change:
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
    sheet.report(valid & sheet.blank("first_name"), "first_name", "a first name is required", "")
    no_birth = valid & sheet.blank("birth_date") & sheet.blank("age") & ~is_term
    birth_column = "birth_date" if "birth_date" in columns else "age"
    sheet.report(no_birth, birth_column, "a date of birth is required (or an age)", "")
    if "member_key" in columns:
        report_duplicates(
            sheet,
            valid & ~sheet.blank("member_key"),
            "member_key",
            "this member id is also on row {}",
        )

    # Subscribers and their keys: the employee id, else the SSN, else name and birth date.
    has_id = is_subscriber & ~sheet.blank("employee_id")
    own_ssn, issued = own_ssns(sheet)
    by_ssn = is_subscriber & ~has_id & issued
    by_name = is_subscriber & ~has_id & ~by_ssn
    named = ~sheet.blank("first_name") & ~sheet.blank("last_name")
    born = ~pd.isna(sheet.col("birth_date"))
    keyless = by_name & named & ~born & ~no_birth & ~sheet.unreadable_mask("birth_date")
    sheet.report(
        keyless,
        birth_column,
        "an employee without an employee id or SSN is matched by name and date of birth; "
        "expected a date of birth (or the employee id or SSN)",
        "",
    )
    if has_id.any():
        for keyed, how in ((by_ssn, "SSN"), (by_name & named & born, "name and date of birth")):
            sheet.report(
                keyed,
                "employee_id",
                f"no employee id: the employee is matched by {how}",
                "",
                warning=True,
            )

    # One row per employee: an exact repeat is read once; another row with the key, refused.
    repeat_of: dict[int, int] = {}  # an exact repeat -> the row it repeats
    refused = np.zeros(n, dtype=bool)
    employee_id = sheet.col("employee_id")
    for i, first in sheet.repeats(has_id, employee_id):
        if sheet.same_row(i, first):
            repeat_of[i] = first
        else:
            refused[i] = True
            sheet.row_error(
                i,
                "employee_id",
                f"this employee id is also on row {row_no[first]}; expected one row per employee",
            )
    kept = is_subscriber & ~refused
    kept[list(repeat_of)] = False
    check_other_keys(sheet, kept, own_ssn, issued, has_id, by_name & named & born, repeat_of)
    for i, first in repeat_of.items():
        sheet.row_warning(
            i, None, f"this row repeats row {row_no[first]} exactly; it was read once"
        )
    no_last_day = kept & is_term & pd.isna(last_day)
    no_last_day &= ~sheet.unreadable_mask("termination_date", "effective_date")
    sheet.report(kept & sheet.blank("last_name"), "last_name", "a last name is required", "")
    if "termination_date" in columns:
        sheet.report(
            no_last_day,
            "termination_date",
            "a termination needs the last day of coverage; expected a termination date",
            "",
        )
    else:
        sheet.report(
            no_last_day,
            "action",
            "a termination needs the last day of coverage; expected a termination date "
            "(or an effective date)",
        )
    accepted = np.flatnonzero(kept)

    def pick(name: str, default: object = None, values: np.ndarray | None = None) -> np.ndarray:
        picked = (sheet.col(name) if values is None else values)[accepted]
        if picked.dtype != object:
            picked = picked.astype(object)
        if default is not None:
            # Assigned, not np.where: np.where would turn an enum default into a plain str.
            # Texts and enums (a parsed cell is None when blank, never NaN): numpy's == None,
            # half the time of pd.isna.
            picked[np.equal(picked, None)] = default
        return picked

    # The subscribers as columns (census.rows.MemberColumns): the objects are built only for
    # the rows something asks for (the diff passes most rows of a full file column by column).
    source_rows = np.empty(len(accepted), dtype=object)
    source_rows[:] = row_no[accepted].tolist()
    fields = {
        "source_row": source_rows,
        "employee_id": pick("employee_id", ""),
        "first_name": pick("first_name", ""),
        "last_name": pick("last_name", ""),
        "birth_date": pick("birth_date"),
        "ssn": pick("", values=own_ssn),
        "gender": pick("gender", Gender.UNKNOWN),
        "hire_date": pick("hire_date"),
        "annual_salary": pick("", values=salaries(sheet, kept)),
        "status": pick("status", MemberStatus.ACTIVE),
        "subgroup_code": pick("subgroup_code"),
        "class_code": pick("class_code"),
        "postal_code": pick("postal_code"),
        "maintenance": pick("", values=action),
        "maintenance_date": pick("", values=maintenance_date),
        "dependents_only": np.zeros(len(accepted), dtype=bool).astype(object),
    }
    names = tuple(fields)
    listed = [fields[name].tolist() for name in names]

    def bare(j: int) -> CensusMember:
        """Member j's own fields and dependents (no coverages yet)."""
        member = CensusMember(
            **{name: values[j] for name, values in zip(names, listed, strict=True)}
        )
        member.dependents = family.of(j, member.last_name)
        return member

    dependent_to = np.where(pd.isna(termination), np.where(is_term, effective, None), termination)
    sheet.dependent_action, sheet.dependent_action_date = action, maintenance_date
    family = link_dependents(
        sheet, is_subscriber, is_dependent, kept, accepted, repeat_of, own_ssn, start,
        dependent_to,
    )  # fmt: skip

    end = np.where(is_term, last_day, termination)
    shape, shapes, lines = read_coverages(sheet, accepted, bare, start, end)
    ends = end[accepted].tolist()
    shape_of = shape.tolist()
    dependent_lines: dict = {}

    def build(j: int) -> CensusMember:
        member = bare(j)
        attach_coverages(member, list(shapes[shape_of[j]]), ends[j], dependent_lines)
        return member

    sheet.census.members = MemberColumns(
        fields,
        len(accepted),
        build,
        dependent_count=family.count,
        lines=lines,
        shapes=(shape, shapes),
        extra=dependents_only_members(sheet, start, dependent_to),
    )
    ages = valid & pd.isna(sheet.col("birth_date")) & ~pd.isna(sheet.col("age"))
    if ages.any():
        sheet.census.detail["age_by_row"] = {
            sheet.row_key(i): sheet.col("age")[i] for i in np.flatnonzero(ages).tolist()
        }
    if "member_key" in columns:
        keys = valid & ~sheet.blank("member_key")
        sheet.census.detail["member_keys"] = {
            sheet.row_key(i): sheet.col("member_key")[i] for i in np.flatnonzero(keys).tolist()
        }


def own_ssns(sheet: Sheet) -> tuple[np.ndarray, np.ndarray]:
    """Each row's own SSN (the SSN column, else on a subscriber's row the subscriber SSN)
    and whether it is an issued number (only those match a member)."""
    ssn, issued = sheet.col("ssn"), issued_ssns(sheet, "ssn")
    if "subscriber_ssn" not in sheet.columns:
        return ssn, issued
    fill = pd.isna(ssn) & sheet.mask("relationship", lambda v: v is None or v == SUBSCRIBER)
    ssn = np.where(fill, sheet.col("subscriber_ssn"), ssn)
    return ssn, np.where(fill, issued_ssns(sheet, "subscriber_ssn"), issued)


def issued_ssns(sheet: Sheet, name: str) -> np.ndarray:
    """Rows whose SSN in column `name` was read and is an issued number (not noted)."""
    column = sheet.columns.get(name)
    if column is None:
        return np.zeros(sheet.n, dtype=bool)
    return ~pd.isna(column.values) & ~np.isin(column.codes, sheet.noted.get(name, []))


def check_other_keys(
    sheet: Sheet,
    kept: np.ndarray,
    own_ssn: np.ndarray,
    issued: np.ndarray,
    has_id: np.ndarray,
    by_name: np.ndarray,
    repeat_of: dict[int, int],
) -> None:
    """Among the employee rows kept: the same SSN twice (an error when one of them has no
    employee id, so is matched by it; else a warning), the same name and birth date twice
    with neither id nor SSN, and the same family id twice. An exact repeat is read once."""
    row_no = sheet.row_no

    def repeats(rows: np.ndarray, values: np.ndarray) -> list[tuple[int, int]]:
        found = []
        for i, first in sheet.repeats(rows & kept, values):
            if sheet.same_row(i, first):
                repeat_of[i] = first
                kept[i] = False
            else:
                found.append((i, first))
        return found

    ssn_column = "ssn" if "ssn" in sheet.columns else "subscriber_ssn"
    for i, first in repeats(issued, own_ssn):
        shown = masked_ssn(own_ssn[i])
        if has_id[i] and has_id[first]:
            sheet.row_warning(
                i,
                ssn_column,
                f"the same SSN is on the employee row {row_no[first]}; expected each "
                "employee's own SSN",
                shown,
            )
        else:
            sheet.row_error(
                i,
                ssn_column,
                f"the same SSN is on the employee row {row_no[first]}, and an employee "
                "without an employee id is matched by SSN; expected each employee's own SSN",
                shown,
            )
    if by_name.any():
        names = pd.Series(
            list(
                zip(
                    sheet.col("first_name"),
                    sheet.col("last_name"),
                    sheet.col("birth_date"),
                    strict=True,
                )
            )  # fmt: skip
        ).to_numpy()
        for i, first in repeats(by_name, names):
            sheet.row_error(
                i,
                "first_name",
                f"the same name and date of birth are on the employee row {row_no[first]}, "
                "and neither row has an employee id or SSN to tell them apart; expected one "
                "row per employee",
            )
    if "family_id" in sheet.columns:
        for i, first in repeats(~sheet.blank("family_id"), sheet.col("family_id")):
            sheet.row_error(
                i,
                "family_id",
                f"this family id is also on the employee row {row_no[first]}; expected one "
                "employee row per family",
            )


def report_duplicates(
    sheet: Sheet, rows: np.ndarray, name: str, message: str, *, masked: bool = False
) -> np.ndarray:
    """Rows (of mask `rows`) repeating a value of `name` seen on an earlier row; each is
    reported with the first row's number. Returns the mask of repeats."""
    index = np.flatnonzero(rows)
    values = pd.Series(sheet.col(name)[index], dtype=object)
    repeat = values.duplicated(keep="first").to_numpy()
    result = np.zeros(sheet.n, dtype=bool)
    if repeat.any():
        first = dict(zip(values[~repeat].tolist(), index[~repeat].tolist(), strict=True))
        for i, value in zip(index[repeat].tolist(), values[repeat].tolist(), strict=True):
            shown = masked_ssn(value) if masked else None
            sheet.row_error(i, name, message.format(sheet.row_no[first[value]]), shown)
        result[index[repeat]] = True
    return result


def salaries(sheet: Sheet, rows: np.ndarray) -> np.ndarray:
    """Annual salary per row: the annual column, else pay rate x pay periods a year, else
    (hourly pay) rate x hours a week x 52; Decimal dollars rounded half-up to the cent."""
    annual = sheet.col("annual_salary")
    if "pay_rate" not in sheet.columns and "hourly_rate" not in sheet.columns:
        return annual
    result = annual.copy()
    pay_rate, frequency = sheet.col("pay_rate"), sheet.col("pay_frequency")
    hourly, hours = sheet.col("hourly_rate"), sheet.col("hours_per_week")
    wanted = rows & pd.isna(annual) & ~(pd.isna(pay_rate) & pd.isna(hourly))
    for i in np.flatnonzero(wanted).tolist():
        rate, periods, weekly = pay_rate[i], frequency[i], hours[i]
        if rate is not None and periods is None:
            if not sheet.bad(i, "pay_frequency"):
                sheet.row_error(i, "pay_frequency", "a pay rate needs its pay frequency", "")
        elif rate is not None and periods:
            result[i] = cents(rate * periods)
        elif weekly is None:  # an hourly pay rate, or an hourly rate column
            if not sheet.bad(i, "hours_per_week"):
                sheet.row_error(i, "hours_per_week", "an hourly rate needs hours per week", "")
        else:
            result[i] = cents((rate if rate is not None else hourly[i]) * weekly * 52)
    return result

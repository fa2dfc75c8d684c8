"""The broker face: the book of business, commission statements and the compensation
disclosure; never member PII (counts and amounts only). Each group shows where it stands in
collections (billing_core.collections.standing), premium billed and collected by month and
its renewal (billing_core.commissions.broker_book); a broker sees only their agency's groups,
today's and those it was broker of record for before, and its own closed statements (another
group's id, another agency's or an open month's statement: 404)."""

from __future__ import annotations

import re
from datetime import date

from flask import Response, abort, render_template, request
from flask_login import current_user

from billing_core.billing.enrollment import add_months, month_start
from billing_core.billing.groups import group_summary, member_counts
from billing_core.collections.standing import standings
from billing_core.commissions.broker_book import (
    agency_of,
    agency_statements,
    book_group,
    book_months,
    book_of_business,
    closed_statement,
    premium_months,
    year_to_date,
)
from billing_core.commissions.disclosure import compensation_disclosure
from billing_core.commissions.statement_pdf import statement_pdf
from billing_core.commissions.statements import statement_csv, statement_xlsx
from billing_core.models.enums import Role
from billing_core.money import ZERO
from portal.broker import bp
from portal.extensions import db_session
from portal.web import load_group, my_groups, role_required, today

# The book's orders: by name, or the latest / most overdue first (then by name).
SORTS = {
    "name": lambda standing: lambda g: g.name.casefold(),
    "days_past_due": lambda standing: lambda g: (-standing[g.id].days_past_due, g.name.casefold()),
    "overdue": lambda standing: lambda g: (-standing[g.id].overdue, g.name.casefold()),
}
BOOK_MONTHS = 12  # the book's premium by month: this month and the 11 before
GROUP_MONTHS = 24  # a group's page: up to two years of the months of record
DOWNLOADS = {
    "csv": ("text/csv", statement_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", statement_xlsx),
}


def _agency():
    agency = agency_of(db_session(), current_user)
    if agency is None:
        abort(404)
    return agency


def _book_entry(group_id: int):
    """The agency's book entry for the group (of record today or before), else 404."""
    entry = book_group(db_session(), _agency().id, group_id, today())
    if entry is None:
        abort(404)
    return entry


def _month(period: str) -> date:
    try:
        year, month = (int(part) for part in period.split("-"))
        return date(year, month, 1)
    except ValueError:
        abort(404)


@bp.get("/")
@role_required(Role.BROKER)
def home():
    session, on = db_session(), today()
    groups = my_groups()
    counts = member_counts(session, [g.id for g in groups])
    standing = standings(session, on, [g.id for g in groups])
    late = [g for g in groups if standing[g.id].late]
    late_only = request.args.get("late") == "1"
    sort = request.args.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    shown = sorted(late if late_only else groups, key=SORTS[sort](standing))
    agency = agency_of(session, current_user)
    book = book_of_business(session, agency.id, on) if agency else []
    entries = {b.group.id: b for b in book}
    end = month_start(on)
    months = premium_months(session, book, add_months(end, 1 - BOOK_MONTHS), end, on)
    totals = {
        gid: (sum((m.billed for m in ms), ZERO), sum((m.collected for m in ms), ZERO))
        for gid, ms in months.items()
    }
    shown_months = book_months({g.id: months[g.id] for g in groups if g.id in months})
    return render_template(
        "broker/home.html",
        groups=shown,
        sort=sort,
        counts=counts,
        standings=standing,
        late_count=len(late),
        late_overdue=sum((standing[g.id].overdue for g in late), ZERO),
        late_only=late_only,
        agency=agency,
        entries=entries,
        former=[b for b in book if not b.current],
        totals=totals,
        book_months=shown_months,
        book_billed=sum((m.billed for m in shown_months), ZERO),
        book_collected=sum((m.collected for m in shown_months), ZERO),
        months_shown=BOOK_MONTHS,
    )


@bp.get("/groups/<int:group_id>")
@role_required(Role.BROKER)
def group_home(group_id: int):
    entry = _book_entry(group_id)
    session, on = db_session(), today()
    end = month_start(on) if entry.current else month_start(entry.of_record_to)
    start = max(month_start(entry.of_record_from), add_months(end, 1 - GROUP_MONTHS))
    months = premium_months(session, [entry], start, end, on)[group_id]
    summary = standing = None
    if entry.current:
        scope = load_group(group_id)
        summary = group_summary(session, scope, on)
        standing = standings(session, on, [group_id])[group_id]
    return render_template(
        "broker/group.html",
        entry=entry,
        group=entry.group,
        summary=summary,
        standing=standing,
        months=list(reversed(months)),
        billed=sum((m.billed for m in months), ZERO),
        collected=sum((m.collected for m in months), ZERO),
    )


@bp.get("/groups/<int:group_id>/disclosure")
@role_required(Role.BROKER)
def disclosure(group_id: int):
    entry = _book_entry(group_id)
    found = compensation_disclosure(db_session(), entry.group, _agency(), today())
    return render_template("broker/disclosure.html", entry=entry, disclosure=found)


@bp.get("/statements")
@role_required(Role.BROKER)
def statements():
    agency = _agency()
    session, on = db_session(), today()
    year = request.args.get("year", type=int) or on.year
    if not 2000 <= year <= on.year + 1:
        year = on.year
    listed = agency_statements(session, agency.id)
    return render_template(
        "broker/statements.html",
        agency=agency,
        year=year,
        summary=year_to_date(session, agency, year),
        statements=[s for s in listed if s.month.year == year],
        years=sorted({s.month.year for s in listed} | {on.year}, reverse=True),
    )


@bp.get("/statements/<period>")
@role_required(Role.BROKER)
def statement(period: str):
    agency = _agency()
    found = closed_statement(db_session(), agency, _month(period))
    if found is None:
        abort(404)
    return render_template("broker/statement.html", agency=agency, statement=found, period=period)


@bp.get("/statements/<period>/statement.<any(csv, xlsx, pdf):fmt>")
@role_required(Role.BROKER)
def statement_download(period: str, fmt: str):
    agency = _agency()
    session = db_session()
    found = closed_statement(session, agency, _month(period))
    if found is None:
        abort(404)
    if fmt == "pdf":
        mimetype, body = "application/pdf", statement_pdf(session, found.run, agency)
    else:
        mimetype, write = DOWNLOADS[fmt]
        body = write(found)
    code = re.sub(r"[^A-Za-z0-9_-]", "", agency.code)
    name = f"commission-statement-{code}-{found.run.month:%Y-%m}.{fmt}"
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store, private",
        },
    )

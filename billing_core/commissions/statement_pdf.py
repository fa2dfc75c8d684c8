"""An agency's commission statement for one month's run as a Letter-size PDF (WeasyPrint): the
agency, the month and whether the run is approved (an open run's statement is a preview), the
net and the totals by kind first, then each group's lines (product, coverage month, line kind,
premium basis, rate, commission, held, released, chargeback) with a subtotal per group, and the
total that equals the run's and the CSV/XLSX's (`statements.agency_statement` is the one read).
Counts and amounts only: no member is named. Fetches nothing from outside; no Flask (the
broker portal, the staff pages and the CLI call the same function)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import groupby

from jinja2 import Environment
from sqlalchemy.orm import Session

from billing_core.commissions.run import run_for
from billing_core.commissions.statements import (
    AgencyStatement,
    StatementLine,
    agency_by_code,
    agency_statement,
)
from billing_core.models import BrokerAgency, User
from billing_core.models.commissions import CommissionLineKind, CommissionRun, CommissionRunStatus
from billing_core.money import ZERO, format_money, format_rate

__all__ = ["statement_document", "statement_html", "statement_pdf"]

EARNED = (CommissionLineKind.EARNED, CommissionLineKind.ADJUSTMENT)
LINE_LABELS = {
    CommissionLineKind.EARNED: "Earned",
    CommissionLineKind.ADJUSTMENT: "Adjustment",
    CommissionLineKind.CHARGEBACK: "Chargeback",
    CommissionLineKind.HOLD: "Held",
    CommissionLineKind.RELEASE: "Released",
}


@dataclass(frozen=True)
class GroupBlock:
    group_number: str
    group_name: str
    lines: list[StatementLine]
    commission: Decimal
    held: Decimal
    released: Decimal
    chargeback: Decimal
    net: Decimal


def _sum(lines, *kinds) -> Decimal:
    return sum((x.amount for x in lines if x.kind in kinds), ZERO)


def _block(number: str, name: str, lines: list[StatementLine]) -> GroupBlock:
    return GroupBlock(
        number,
        name,
        lines,
        commission=_sum(lines, *EARNED),
        held=_sum(lines, CommissionLineKind.HOLD),
        released=_sum(lines, CommissionLineKind.RELEASE),
        chargeback=_sum(lines, CommissionLineKind.CHARGEBACK),
        net=sum((x.amount for x in lines), ZERO),
    )


def _rate(line: StatementLine) -> str:
    """5% of premium, or $12.00 per employee (x 8); blank on a hold or release."""
    if line.rate is None:
        return ""
    if line.employees is not None:
        return f"${format_rate(line.rate)}/ee × {line.employees}"
    return f"{format_rate(line.rate)}%"


def statement_document(session: Session, statement: AgencyStatement) -> dict:
    """What the PDF shows (also what a page could show): blocks per group and the totals."""
    run = statement.run
    approver = session.get(User, run.approved_by_id) if run.approved_by_id else None
    blocks = [
        _block(number, name, list(lines))
        for (number, name), lines in groupby(
            statement.lines, key=lambda x: (x.group_number, x.group_name)
        )
    ]
    return {
        "agency": statement.agency,
        "run": run,
        "approved": run.status is CommissionRunStatus.APPROVED,
        "approved_by": approver.email if approver else "",
        "blocks": blocks,
        "line_count": len(statement.lines),
        "totals": _block("", "", statement.lines),
        "adjustments": _sum(statement.lines, CommissionLineKind.ADJUSTMENT),
    }


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Commission statement — {{ agency.name }} ({{ agency.code }}) — {{ run.month|month }}</title>
<meta name="author" content="Premium Billing">
<style>
@page { size: letter landscape; margin: 0.5in 0.5in 0.65in 0.5in;
  @bottom-left { content: "Commission statement · {{ agency.code|css }} · {{ run.month|month|css }}";
    font: 7.5pt "DejaVu Sans", sans-serif; color: #5b6475; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages);
    font: 7.5pt "DejaVu Sans", sans-serif; color: #5b6475; } }
html { font: 8.6pt/1.35 "DejaVu Sans", sans-serif; color: #1d2433; }
body { margin: 0; }
h1, h2 { margin: 0; }
h2 { font-size: 10.5pt; color: #1f4e8c; border-bottom: 1.2pt solid #1f4e8c; padding-bottom: 2pt;
  margin: 14pt 0 5pt; break-after: avoid; }
.masthead { border-bottom: 2.5pt solid #1f4e8c; padding-bottom: 6pt; }
.masthead::after, .top::after { content: ""; display: block; clear: both; }
.brand { float: left; font-size: 15pt; font-weight: bold; color: #1f4e8c; }
.brand small { display: block; font-size: 8pt; font-weight: normal; color: #5b6475; }
.doc-title { float: right; text-align: right; }
.doc-title h1 { font-size: 15pt; letter-spacing: 0.04em; }
.top { margin-top: 10pt; }
.top > div { float: left; width: 13.5%; margin-left: 1.5%; box-sizing: border-box; }
.top > div.who { width: 24%; margin-left: 0; }
.label { font-size: 7pt; text-transform: uppercase; letter-spacing: 0.06em; color: #5b6475; }
.who .name { font-size: 11pt; font-weight: bold; }
.figure { border: 1pt solid #c5cdda; border-radius: 4pt; padding: 5pt 7pt; text-align: right; }
.figure .amount { font-size: 12.5pt; font-weight: bold; white-space: nowrap; }
.figure.main { border: 2pt solid #1f4e8c; background: #eef3fb; }
.status { margin-top: 8pt; padding: 4pt 7pt; border-left: 3pt solid #1f4e8c; background: #f3f5f9; }
.status.preview { border-left-color: #a4262c; background: #fbeaea; }
table { width: 100%; border-collapse: collapse; }
th, td { padding: 2.2pt 4pt; text-align: left; vertical-align: top; }
thead th { font-size: 7pt; text-transform: uppercase; letter-spacing: 0.03em; color: #3b4456;
  background: #eef1f6; border-bottom: 0.8pt solid #9aa3b2; }
thead { display: table-header-group; }
tbody td { border-bottom: 0.5pt solid #d9dee7; }
tr.group-head td { background: #f3f5f9; font-weight: bold; border-top: 0.8pt solid #9aa3b2; }
tr.sub td { color: #3b4456; font-style: italic; }
tr.total td { font-weight: bold; border-top: 1.2pt solid #1d2433; border-bottom: none; }
.num { text-align: right; white-space: nowrap; }
.note { font-size: 7.5pt; color: #5b6475; }
p { margin: 0 0 4pt; }
</style></head>
<body>
<header class="masthead">
  <div class="brand">Premium Billing<small>Group insurance premium</small></div>
  <div class="doc-title"><h1>COMMISSION STATEMENT</h1>
    <div>{{ run.month|month }} · premium counted through {{ run.as_of|day }}</div></div>
</header>
<div class="top">
  <div class="who"><div class="label">Agency</div>
    <div class="name">{{ agency.name }}</div><div>Agency code {{ agency.code }}</div></div>
  <div class="figure"><div class="label">Commission</div>
    <div class="amount">{{ totals.commission|money }}</div></div>
  <div class="figure"><div class="label">Chargebacks</div>
    <div class="amount">{{ totals.chargeback|money }}</div></div>
  <div class="figure"><div class="label">Held</div>
    <div class="amount">{{ totals.held|money }}</div></div>
  <div class="figure"><div class="label">Released</div>
    <div class="amount">{{ totals.released|money }}</div></div>
  <div class="figure main"><div class="label">Net for {{ run.month|month }}</div>
    <div class="amount">{{ totals.net|money }}</div></div>
</div>
{% if approved %}
<div class="status">Approved{% if approved_by %} by {{ approved_by }}{% endif %}{% if run.approved_at %} on {{ run.approved_at|day }}{% endif %}: this statement is closed. The net is payable to the agency; a later correction appears on a later month's statement as an adjustment.</div>
{% else %}
<div class="status preview">Preview: the {{ run.month|month }} run is not approved yet. Lines may still be added before a supervisor approves it; nothing is payable until then.</div>
{% endif %}

<h2>Lines by group <small class="note">{{ line_count }} line(s){% if adjustments %}; commission includes {{ adjustments|money }} of adjustments{% endif %}</small></h2>
{% if not blocks %}
<p>No commission lines for this agency in the {{ run.month|month }} run.</p>
{% else %}
<table>
<thead><tr>
  <th style="width:15%">Product</th><th style="width:8%">Coverage</th><th style="width:8%">Line</th>
  <th class="num" style="width:9%">Premium basis</th><th class="num" style="width:9%">Rate</th>
  <th class="num" style="width:6%">Split</th>
  <th class="num" style="width:8%">Commission</th><th class="num" style="width:7%">Held</th>
  <th class="num" style="width:7%">Released</th><th class="num" style="width:8%">Chargeback</th>
  <th style="width:15%">Note</th>
</tr></thead>
<tbody>
{% for b in blocks %}
<tr class="group-head"><td colspan="11">{{ b.group_number }} · {{ b.group_name }}</td></tr>
{% for x in b.lines %}
<tr>
  <td>{{ x.product }}{% if x.broker %}<div class="note">{{ x.broker }}</div>{% endif %}</td>
  <td class="nowrap">{{ x.coverage_month|month }}</td>
  <td>{{ labels[x.kind] }}</td>
  <td class="num">{{ x.premium_basis|money if x.kind not in no_basis else "" }}</td>
  <td class="num">{{ rate(x) }}</td>
  <td class="num">{{ x.split_percent|pct }}</td>
  <td class="num">{{ x.amount|money if x.kind in earned else "" }}</td>
  <td class="num">{{ x.amount|money if x.kind == kinds.HOLD else "" }}</td>
  <td class="num">{{ x.amount|money if x.kind == kinds.RELEASE else "" }}</td>
  <td class="num">{{ x.amount|money if x.kind == kinds.CHARGEBACK else "" }}</td>
  <td class="note">{{ x.note }}</td>
</tr>
{% endfor %}
{% if b.lines|length > 1 %}
<tr class="sub"><td colspan="6">{{ b.group_number }} subtotal · net {{ b.net|money }}</td>
  <td class="num">{{ b.commission|money }}</td><td class="num">{{ b.held|money }}</td>
  <td class="num">{{ b.released|money }}</td><td class="num">{{ b.chargeback|money }}</td><td></td></tr>
{% endif %}
{% endfor %}
<tr class="total"><td colspan="6">Total for {{ agency.code }}, {{ run.month|month }} · net {{ totals.net|money }}</td>
  <td class="num">{{ totals.commission|money }}</td><td class="num">{{ totals.held|money }}</td>
  <td class="num">{{ totals.released|money }}</td><td class="num">{{ totals.chargeback|money }}</td><td></td></tr>
</tbody></table>
{% endif %}
<p class="note" style="margin-top:8pt">Net = commission (earned and adjustments) + chargebacks
(negative) + held (negative) + released. Commission is earned on premium as the agency's
schedule says; a group in grace or later has its new commission held until it is current again.
Amounts in US dollars. No member is named on this statement.</p>
</body></html>
"""


def _css_string(value: str) -> str:
    """Text safe inside a CSS string in <style> (an agency code, a month): letters, digits,
    spaces and dashes only."""
    return re.sub(r"[^0-9A-Za-z \-]", "", str(value))


def _environment() -> Environment:
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = format_money
    env.filters["month"] = lambda d: f"{d:%b %Y}"
    env.filters["day"] = lambda d: f"{d:%b} {d.day}, {d:%Y}"
    env.filters["pct"] = lambda v: f"{format_rate(v)}%"
    env.filters["css"] = _css_string
    return env


_env = _environment()
_compiled = _env.from_string(_TEMPLATE)


def statement_html(session: Session, statement: AgencyStatement) -> str:
    return _compiled.render(
        **statement_document(session, statement),
        labels=LINE_LABELS,
        kinds=CommissionLineKind,
        earned=EARNED,
        no_basis=(CommissionLineKind.HOLD, CommissionLineKind.RELEASE),
        rate=_rate,
    )


def statement_pdf(
    session: Session, run_or_month: CommissionRun | date, agency: BrokerAgency | str
) -> bytes:
    """The agency's statement of the month's run (a `CommissionRun`, or any day of its month)
    as PDF bytes. `agency` is the agency or its code. A month not run, or an unknown code,
    raises CommissionError with the reason in words."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    run = (
        run_or_month if isinstance(run_or_month, CommissionRun) else run_for(session, run_or_month)
    )
    if isinstance(agency, str):
        agency = agency_by_code(session, agency)
    html = statement_html(session, agency_statement(session, run, agency))
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=False)
    return HTML(string=html, url_fetcher=fetcher).write_pdf()

"""Commission in the ledger, per agency: a run's lines post Dr commission expense / Cr
commission awaiting approval (a chargeback the other way round); a hold moves commission from
awaiting approval to held, a release back; a supervisor's approval moves the run's net from
awaiting approval to commission payable (what the agency is paid). Each agency's accounts are
numbered `<chart code>-<agency code>` (e.g. `2300-AG-A`); the expense is one account."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import ledger
from billing_core.ledger import Chart, EntrySpec, Leg
from billing_core.models import BrokerAgency, JournalEntry, LedgerAccount
from billing_core.models.commissions import CommissionLineKind
from billing_core.money import ZERO

AGENCY_CHARTS = (Chart.COMMISSION_PAYABLE, Chart.COMMISSION_PENDING, Chart.COMMISSION_HELD)


def agency_account(session: Session, chart: Chart, agency: BrokerAgency) -> LedgerAccount:
    """The agency's account of `chart` (payable, awaiting approval, held), made on first use."""
    number = f"{chart.code}-{agency.code}"
    cache = session.info.setdefault("ledger_accounts", {})
    found = cache.get(number)
    if found is not None and found in session:
        return found
    found = session.scalar(select(LedgerAccount).where(LedgerAccount.number == number))
    if found is None:
        found = LedgerAccount(
            number=number, code=chart.code, name=f"{chart.title} — {agency.code}", kind=chart.kind
        )
        session.add(found)
        session.flush()
    cache[number] = found
    return found


def _legs(session: Session, agency: BrokerAgency, amounts: dict[Chart, Decimal]) -> list[Leg]:
    legs = []
    for chart, amount in amounts.items():
        if amount == 0:
            continue
        account = (
            ledger.account(session, chart)
            if chart is Chart.COMMISSION_EXPENSE
            else agency_account(session, chart, agency)
        )
        legs.append(Leg(account, amount))
    return legs


def run_entries(
    session: Session,
    agencies: dict[int, BrokerAgency],
    lines: Iterable[tuple[int, CommissionLineKind, Decimal]],
    *,
    on: date,
    run_id: int,
    run_pass: int,
    month: date,
    created_by_id: int | None,
) -> dict[int, JournalEntry]:
    """One balanced entry per agency for a pass's new lines ((agency id, kind, signed dollars)),
    dated `on`; agencies whose lines net to nothing on every account post nothing."""
    per_agency: dict[int, dict[Chart, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for agency_id, kind, amount in lines:
        sums = per_agency[agency_id]
        if kind is CommissionLineKind.HOLD:  # amount < 0: out of awaiting approval into held
            sums[Chart.COMMISSION_PENDING] -= amount
            sums[Chart.COMMISSION_HELD] += amount
        elif kind is CommissionLineKind.RELEASE:  # amount > 0: from held back to awaiting
            sums[Chart.COMMISSION_HELD] += amount
            sums[Chart.COMMISSION_PENDING] -= amount
        else:
            sums[Chart.COMMISSION_EXPENSE] += amount
            sums[Chart.COMMISSION_PENDING] -= amount
    specs, order = [], []
    for agency_id in sorted(per_agency):
        agency = agencies[agency_id]
        legs = _legs(session, agency, per_agency[agency_id])
        if not legs:
            continue
        specs.append(
            EntrySpec(
                entry_date=on,
                memo=f"Commission run {month:%b %Y} (pass {run_pass}): {agency.code}",
                source_type="commission_run",
                source_id=run_id,
                legs=legs,
                idempotency_key=f"commission-run-{run_id}-{run_pass}-{agency_id}",
                created_by_id=created_by_id,
            )
        )
        order.append(agency_id)
    entries = ledger.post_entries(session, specs) if specs else []
    return dict(zip(order, entries, strict=True))


def approval_entries(
    session: Session,
    agencies: dict[int, BrokerAgency],
    nets: dict[int, Decimal],
    *,
    on: date,
    run_id: int,
    month: date,
    created_by_id: int | None,
) -> dict[int, JournalEntry]:
    """On approval, each agency's net for the run moves from awaiting approval to payable
    (a negative net: the agency owes it back, set against later commission)."""
    specs, order = [], []
    for agency_id in sorted(nets):
        net = nets[agency_id]
        if net == 0:
            continue
        agency = agencies[agency_id]
        legs = _legs(
            session,
            agency,
            {Chart.COMMISSION_PENDING: net, Chart.COMMISSION_PAYABLE: -net},
        )
        specs.append(
            EntrySpec(
                entry_date=on,
                memo=f"Commission run {month:%b %Y} approved: {agency.code} payable",
                source_type="commission_approval",
                source_id=run_id,
                legs=legs,
                idempotency_key=f"commission-approval-{run_id}-{agency_id}",
                created_by_id=created_by_id,
            )
        )
        order.append(agency_id)
    entries = ledger.post_entries(session, specs) if specs else []
    return dict(zip(order, entries, strict=True))


def agency_balances(session: Session, agency: BrokerAgency) -> dict[str, Decimal]:
    """What the ledger says the carrier owes the agency: payable, awaiting approval and held
    (credits minus debits, dollars)."""
    out = {}
    for chart in AGENCY_CHARTS:
        account = agency_account(session, chart, agency)
        out[chart.name.lower()] = -ledger.account_balance(session, account)
    return out

"""The bill bridge: why an invoice differs from the previous one of the same billing account.

    prior billed -> + adds -> - terms -> +/- tier/plan changes -> +/- volume/salary changes
                 -> +/- rate changes -> +/- retro adjustments -> current billed

"Billed" is current-period premium plus retro adjustments (fees are not premium and stay out).
Premium lines are compared per member x product over the whole invoice. Each member-product
difference goes wholly to one step, by the first of these that changed: plan or tier, then
volume (volume, weekly benefit or covered payroll), then rate version or rate, then covered
months or days (an add if premium went up, a term if it went down). So the steps always sum
exactly from prior to current, and each step's member rows sum exactly to the step.

Issued means computed: `keep_issued_bridges` computes an invoice's bridge once when it is
issued and keeps it (`InvoiceBridge`, its steps and rows); pages, the PDF, the statement and the
CLI read it through `kept_bridge`, `kept_counts_seen`, `kept_rows` and `kept_details`, a handful
of indexed reads whatever the invoice's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import (
    ScalarSelect,
    Select,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, aliased

from billing_core.access import SUBGROUP_IDS
from billing_core.db import Money, built_once, copy_rows, in_ids, typed_rows
from billing_core.models import Invoice, InvoiceLine, Member, Plan, Product
from billing_core.models.enums import InvoiceSection
from billing_core.models.invoice import InvoiceBridge, InvoiceBridgeRow, InvoiceBridgeStep
from billing_core.money import ZERO, format_rate

STEPS: tuple[tuple[str, str], ...] = (
    ("adds", "Added members and coverages"),
    ("terms", "Terminated members and coverages"),
    ("tier_plan", "Tier and plan changes"),
    ("volume", "Volume and salary changes"),
    ("rate", "Rate changes"),
    ("retro", "Retro adjustments"),
)
STEP_LABELS = dict(STEPS)


class BridgeRow(NamedTuple):
    """One member x product behind a step (or one retro line). `change` = current - prior.
    A named tuple: a first bill has one per member and product."""

    member_id: int | None
    member_key: str
    member_name: str
    subgroup_id: int | None
    product: str
    prior_amount: Decimal
    current_amount: Decimal
    detail: str

    @property
    def change(self) -> Decimal:
        return self.current_amount - self.prior_amount


@dataclass
class BridgeStep:
    key: str
    label: str
    rows: list[BridgeRow] = field(default_factory=list)
    # (amount, count) of a step whose rows are not listed: a first bill's adds when it is kept,
    # whose rows are the invoice's own premium lines (`kept_rows` reads them there).
    totals: tuple[Decimal, int] | None = None

    @property
    def amount(self) -> Decimal:
        if self.totals is not None:
            return self.totals[0]
        return sum((r.change for r in self.rows), ZERO)

    @property
    def count(self) -> int:
        if self.totals is not None:
            return self.totals[1]
        return len(self.rows)

    def rows_seen(self, subgroup_ids: frozenset[int] | None) -> list[BridgeRow]:
        """The rows a user limited to `subgroup_ids` may see: their members' and the group-level
        ones (no member); every row when None (as access.GroupScope and the invoice PDF)."""
        if subgroup_ids is None:
            return self.rows
        return [r for r in self.rows if r.member_id is None or r.subgroup_id in subgroup_ids]


@dataclass(frozen=True)
class BridgeDetail:
    """One bridge step as a reader limited to some locations sees it: the whole step's
    `amount`, and the member rows behind it that they may see (`BridgeStep.rows_seen`)."""

    key: str
    label: str
    amount: Decimal
    rows: list[BridgeRow]


@dataclass
class Bridge:
    invoice: Invoice
    prior_invoice: Invoice | None
    prior_billed: Decimal
    current_billed: Decimal
    steps: list[BridgeStep]

    def step(self, key: str) -> BridgeStep:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    @property
    def balances(self) -> bool:
        return self.prior_billed + sum((s.amount for s in self.steps), ZERO) == self.current_billed

    def details(
        self, subgroup_ids: frozenset[int] | None, limit: int
    ) -> tuple[int, list[BridgeDetail]]:
        """(how many member rows behind the bridge the reader may see, the steps with those
        rows when there are at most `limit` of them, else none: a document prints them). Biggest
        change first within a step; nothing when there is no prior bill, where every line would
        be an "add"."""
        if self.prior_invoice is None:
            return 0, []
        details = [
            BridgeDetail(step.key, step.label, step.amount, step.rows_seen(subgroup_ids))
            for step in self.steps
        ]
        details = [d for d in details if d.rows]
        count = sum(len(d.rows) for d in details)
        return count, (details if count <= limit else [])

    def as_dict(self) -> dict:
        return {
            "prior_invoice": self.prior_invoice.invoice_number if self.prior_invoice else None,
            "prior_billed": str(self.prior_billed),
            "steps": [
                {"step": s.key, "label": s.label, "amount": str(s.amount), "rows": len(s.rows)}
                for s in self.steps
            ],
            "current_billed": str(self.current_billed),
        }


@dataclass
class _Side:
    """One member x product on one invoice: summed premium and what it was billed on."""

    amount: Decimal = ZERO
    months: int = 0
    plans: set = field(default_factory=set)
    tiers: set = field(default_factory=set)
    volumes: set = field(default_factory=set)
    versions: set = field(default_factory=set)
    rates: set = field(default_factory=set)
    plan_names: set = field(default_factory=set)
    age_reduction: str = ""


def billed_premium(invoice: Invoice | None) -> Decimal:
    if invoice is None:
        return ZERO
    return invoice.current_premium + invoice.retro_total


# A premium line as `_premium_lines` reads it, by position.
_PLAN, _TIER, _VOLUME, _VERSION, _RATE, _AMOUNT, _REDUCED = range(7)


def _premium_lines(
    session: Session, invoice_ids: list[int]
) -> tuple[dict[int, dict[tuple, tuple | list]], dict[int, tuple[int, str]]]:
    """(invoice id -> (member id, product id) -> its premium line, or a list of them when it has
    several; plan id -> (product id, plan name)) for every invoice in `invoice_ids` in one read.
    Lines stay the driver's tuples: most member x products have one line on each of two bills
    and the same amount, and are skipped without building anything (a billing run keeps a
    whole chunk's bridges at once)."""
    lines = InvoiceLine.__table__.c
    columns = (
        lines.invoice_id,
        lines.member_id,
        lines.plan_id,
        lines.tier,
        lines.volume,
        lines.rate_version_id,
        lines.rate,
        lines.amount,
        # The description only where it says why a volume changed (an age reduction).
        case((lines.description.contains("reduced to"), lines.description)),
    )
    query = select(*columns).where(
        in_ids(lines.invoice_id, invoice_ids), lines.section == InvoiceSection.PREMIUM.value
    )
    rows = typed_rows(session.connection(), query, columns)
    plan_ids = {row[2] for row in rows}
    plans = (
        {
            plan_id: (product_id, name)
            for plan_id, product_id, name in session.execute(
                select(Plan.id, Plan.product_id, Plan.name).where(in_ids(Plan.id, plan_ids))
            )
        }
        if plan_ids
        else {}
    )
    by_invoice: dict[int, dict[tuple, tuple | list]] = {i: {} for i in invoice_ids}
    for row in rows:
        of_invoice = by_invoice[row[0]]
        key = (row[1], plans[row[2]][0])
        line = row[2:]
        found = of_invoice.get(key)
        if found is None:
            of_invoice[key] = line
        elif type(found) is list:
            found.append(line)
        else:
            of_invoice[key] = [found, line]
    return by_invoice, plans


def _side(found: tuple | list, plans: dict[int, tuple[int, str]]) -> _Side:
    """One member x product's premium lines (`_premium_lines`) summed."""
    side = _Side()
    for line in found if type(found) is list else (found,):
        if line[_REDUCED]:
            text = line[_REDUCED]
            side.age_reduction = text[text.index("reduced to") :].split(" /")[0]
        side.amount += line[_AMOUNT]
        side.months += 1
        side.plans.add(line[_PLAN])
        side.plan_names.add(plans[line[_PLAN]][1])
        side.tiers.add(line[_TIER])
        side.volumes.add(line[_VOLUME])
        side.versions.add(line[_VERSION])
        side.rates.add(line[_RATE])
    return side


def _added_or_ended(word: str, found: tuple | list, plans: dict[int, tuple[int, str]]) -> str:
    """ "new: Plan tier" or "ended: Plan tier" for a member x product on one bill only."""
    found = found if type(found) is list else (found,)
    names = {plans[line[_PLAN]][1] for line in found}
    return f"{word}: {_one(names)} {_one({line[_TIER] for line in found})}".rstrip(" —")


class _AddedOrEnded(dict):
    """`_added_or_ended` of one-line member x products, worded once per plan and tier (a first
    bill has a row per member and product, and a handful of plans and tiers)."""

    def __init__(self, plans: dict[int, tuple[int, str]]):
        super().__init__()
        self.plans = plans

    def of(self, word: str, found: tuple | list) -> str:
        if type(found) is list:
            return _added_or_ended(word, found, self.plans)
        key = (word, found[_PLAN], found[_TIER])
        text = self.get(key)
        if text is None:
            text = self[key] = _added_or_ended(word, found, self.plans)
        return text


def _amount(found: tuple | list) -> Decimal:
    if type(found) is list:
        return sum((line[_AMOUNT] for line in found), ZERO)
    return found[_AMOUNT]


def _one(values) -> str:
    shown = sorted(str(v.value if hasattr(v, "value") else v) for v in values if v is not None)
    return "/".join(shown) or "—"


def _money(values: set) -> str:
    return "/".join(f"{v:,.2f}" for v in sorted(v for v in values if v is not None)) or "—"


def _classify(prior: _Side, current: _Side) -> tuple[str, str]:
    """The step a changed member x product belongs to, and the words that explain it."""
    if prior.plans != current.plans:
        return "tier_plan", f"plan {_one(prior.plan_names)} → {_one(current.plan_names)}"
    if prior.tiers != current.tiers:
        return "tier_plan", f"tier {_one(prior.tiers)} → {_one(current.tiers)}"
    if prior.volumes != current.volumes:
        why = f" ({current.age_reduction})" if current.age_reduction != prior.age_reduction else ""
        return "volume", f"volume {_money(prior.volumes)} → {_money(current.volumes)}{why}"
    if prior.versions != current.versions or prior.rates != current.rates:
        return "rate", f"rate {_plain(prior.rates)} → {_plain(current.rates)}"
    if current.amount > prior.amount:
        return "adds", f"covered {current.months} month line(s), was {prior.months}"
    return "terms", f"covered {current.months} month line(s), was {prior.months}"


def _plain(values: set) -> str:
    return "/".join(format_rate(v) for v in sorted(v for v in values if v is not None)) or "—"


def _retro_rows(session: Session, invoice_ids: list[int]) -> dict[int, list[tuple]]:
    """invoice id -> its retro lines (member id, amount, coverage month, description, product
    name) in line order, for every invoice in `invoice_ids` in one read."""
    rows: dict[int, list[tuple]] = {invoice_id: [] for invoice_id in invoice_ids}
    for invoice_id, *row in session.execute(
        select(
            InvoiceLine.invoice_id,
            InvoiceLine.member_id,
            InvoiceLine.amount,
            InvoiceLine.coverage_month,
            InvoiceLine.description,
            Product.name,
        )
        .outerjoin(Plan, Plan.id == InvoiceLine.plan_id)
        .outerjoin(Product, Product.id == Plan.product_id)
        .where(
            in_ids(InvoiceLine.invoice_id, invoice_ids),
            InvoiceLine.section == InvoiceSection.RETRO,
        )
        .order_by(InvoiceLine.invoice_id, InvoiceLine.line_number)
    ):
        rows[invoice_id].append(tuple(row))
    return rows


def _first_bill_adds(session: Session, invoice_ids: list[int]) -> dict[int, tuple[Decimal, int]]:
    """invoice id -> (premium, how many member x products) of first bills: their adds step,
    every premium line being an add."""
    if not invoice_ids:
        return {}
    lines = InvoiceLine.__table__.c
    per = (
        select(lines.invoice_id, func.sum(lines.amount).label("amount"))
        .join(Plan.__table__, Plan.id == lines.plan_id)
        .where(in_ids(lines.invoice_id, invoice_ids))
        .where(lines.section == InvoiceSection.PREMIUM.value)
        .group_by(lines.invoice_id, lines.member_id, Plan.product_id)
        .subquery()
    )
    totals = dict.fromkeys(invoice_ids, (ZERO, 0))
    for invoice_id, amount, count in session.execute(
        select(
            per.c.invoice_id, type_coerce(func.sum(per.c.amount), Money()), func.count()
        ).group_by(per.c.invoice_id)
    ):
        totals[invoice_id] = (amount, count)
    return totals


def _previous_invoice(session: Session, invoice: Invoice) -> Invoice | None:
    # invoicing issues invoices through keep_issued_bridges, so it is imported when called.
    from billing_core.billing.invoicing import previous_invoice

    return previous_invoice(session, invoice)


def bill_bridge(session: Session, invoice: Invoice) -> Bridge:
    """The bridge from the previous non-void invoice of `invoice`'s billing account (none: from
    zero, every line an add) to `invoice`, computed from both invoices' lines (what
    `keep_issued_bridges` keeps; readers use `kept_bridge`). Amounts in dollars; rows carry
    member names, so only show them to users who may see the group's members."""
    return bill_bridges(session, [(invoice, _previous_invoice(session, invoice))])[0]


def bill_bridges(
    session: Session,
    pairs: list[tuple[Invoice, Invoice | None]],
    *,
    first_bill_rows: bool = True,
    first_adds: dict[int, tuple[Decimal, int]] | None = None,
) -> list[Bridge]:
    """`bill_bridge` of each (invoice, its previous invoice or None), in a handful of reads
    for all of them: a billing run computes a whole chunk's bridges at once. Without
    `first_bill_rows`, a first bill's adds are only totalled (`_first_bill_adds`, or
    `first_adds` when the caller has them: the run adds them up from the lines it has just
    written): its rows would be its premium lines again, one per member and product (what is
    kept)."""
    ids = sorted({i.id for pair in pairs for i in pair if i is not None})
    first_bills = set() if first_bill_rows else {i.id for i, prior in pairs if prior is None}
    priors = {prior.id for _, prior in pairs if prior is not None}
    # A first bill's lines are read only when it is also the prior of another bill here.
    premium, plans = _premium_lines(
        session, [i for i in ids if i not in first_bills or i in priors]
    )
    if first_adds is None:
        first_adds = _first_bill_adds(session, sorted(first_bills))
    else:
        first_adds = {i: first_adds[i] for i in first_bills}
    worded = _AddedOrEnded(plans)
    retro = _retro_rows(session, ids)
    products = dict(session.execute(select(Product.id, Product.name)).all())

    changes: list[list[tuple]] = []
    member_ids: set[int] = set()
    for invoice, prior in pairs:
        current_lines = {} if invoice.id in first_bills else premium[invoice.id]
        prior_lines = premium[prior.id] if prior else {}
        changed = []
        for key in current_lines.keys() | prior_lines.keys():
            cur = current_lines.get(key)
            old = prior_lines.get(key)
            if old is None:
                was, now = ZERO, _amount(cur)
                step, detail = "adds", worded.of("new", cur)
            elif cur is None:
                was, now = _amount(old), ZERO
                step, detail = "terms", worded.of("ended", old)
            else:
                was, now = _amount(old), _amount(cur)
                if was == now:
                    continue
                step, detail = _classify(_side(old, plans), _side(cur, plans))
            changed.append((step, key[0], products.get(key[1]), was, now, detail))
            member_ids.add(key[0])
        changes.append(changed)
        for row in retro[invoice.id] + (retro[prior.id] if prior else []):
            if row[0] is not None:
                member_ids.add(row[0])

    # member id -> (member key, "Last, First", subgroup id)
    members = (
        {
            member_id: (key, f"{last}, {first}", subgroup_id)
            for member_id, key, first, last, subgroup_id in session.execute(
                select(
                    Member.id,
                    Member.member_key,
                    Member.first_name,
                    Member.last_name,
                    Member.subgroup_id,
                ).where(in_ids(Member.id, member_ids))
            )
        }
        if member_ids
        else {}
    )
    group_level = ("", "(group level)", None)

    def row(member_id, product, prior_amount, current_amount, detail) -> BridgeRow:
        key, name, subgroup_id = members.get(member_id, group_level)
        return BridgeRow(
            member_id, key, name, subgroup_id, product or "", prior_amount, current_amount, detail
        )

    bridges = []
    for (invoice, prior), changed in zip(pairs, changes, strict=True):
        steps = {key: BridgeStep(key, label) for key, label in STEPS}
        if invoice.id in first_adds:
            steps["adds"].totals = first_adds[invoice.id]
        for step, member_id, product, old_amount, cur_amount, detail in changed:
            steps[step].rows.append(row(member_id, product, old_amount, cur_amount, detail))
        for member_id, amount, month, description, product in retro[invoice.id]:
            steps["retro"].rows.append(
                row(member_id, product, ZERO, amount, f"{_period(month)}: {description}")
            )
        for member_id, amount, month, description, product in retro[prior.id] if prior else []:
            steps["retro"].rows.append(
                row(
                    member_id,
                    product,
                    amount,
                    ZERO,
                    f"last bill's retro, {_period(month)}: {description}",
                )
            )
        for step in steps.values():
            step.rows.sort(key=lambda r: (-abs(r.change), r.member_name, r.product))
        bridges.append(
            Bridge(
                invoice=invoice,
                prior_invoice=prior,
                prior_billed=billed_premium(prior),
                current_billed=billed_premium(invoice),
                steps=list(steps.values()),
            )
        )
    return bridges


@dataclass(frozen=True)
class StepTotal:
    """One step of a `BridgeTotals`: its amount (dollars) and how many member x product
    differences (or retro lines) make it up."""

    key: str
    label: str
    amount: Decimal
    count: int


@dataclass(frozen=True)
class BridgeTotals:
    """The bill bridge's step totals without the people behind them (what `KeptBridge` reads)."""

    invoice: Invoice
    prior_invoice: Invoice | None
    prior_billed: Decimal
    current_billed: Decimal
    steps: list[StepTotal]

    def step(self, key: str) -> StepTotal:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    @property
    def balances(self) -> bool:
        return self.prior_billed + sum((s.amount for s in self.steps), ZERO) == self.current_billed


# --------------------------------------------------------------------------- kept bridges


@dataclass(frozen=True)
class KeptBridge(BridgeTotals):
    """An invoice's bridge as kept (`InvoiceBridge` `kept_id`): the step totals, read in a
    handful of queries; the rows behind the steps through `kept_rows` and `kept_details`."""

    kept_id: int

    def as_dict(self) -> dict:
        return {
            "prior_invoice": self.prior_invoice.invoice_number if self.prior_invoice else None,
            "prior_billed": str(self.prior_billed),
            "steps": [
                {"step": s.key, "label": s.label, "amount": str(s.amount), "rows": s.count}
                for s in self.steps
            ],
            "current_billed": str(self.current_billed),
        }


# The kept rows' columns with their PostgreSQL types (COPY is told them: see `db.copy_rows`).
BRIDGE_ROW_COLUMNS = {
    "bridge_id": "int4",
    "step": "varchar",
    "position": "int4",
    "member_id": "int4",
    "product_name": "varchar",
    "prior_amount": "numeric",
    "current_amount": "numeric",
    "detail": "text",
}


def keep_bridges(session: Session, bridges: list[Bridge]) -> list[int]:
    """Keep computed bridges (`bill_bridges`): each one's header, six step totals and its rows
    in each step's order; their kept ids. One insert per table for all of them (the rows by
    COPY on PostgreSQL: a first bill has a row per member and product). Flushes only;
    append-only like the invoices they explain."""
    if not bridges:
        return []
    kept_ids = list(
        session.scalars(
            insert(InvoiceBridge).returning(InvoiceBridge.id, sort_by_parameter_order=True),
            [
                {
                    "invoice_id": b.invoice.id,
                    "prior_invoice_id": b.prior_invoice.id if b.prior_invoice else None,
                }
                for b in bridges
            ],
        )
    )
    session.execute(
        insert(InvoiceBridgeStep.__table__),
        [
            {"bridge_id": kept_id, "step": s.key, "amount": s.amount, "row_count": s.count}
            for kept_id, bridge in zip(kept_ids, bridges, strict=True)
            for s in bridge.steps
        ],
    )
    copy_rows(
        session,
        InvoiceBridgeRow.__table__,
        BRIDGE_ROW_COLUMNS,
        (
            (
                kept_id,
                s.key,
                position,
                r.member_id,
                r.product,
                r.prior_amount,
                r.current_amount,
                r.detail,
            )
            for kept_id, bridge in zip(kept_ids, bridges, strict=True)
            for s in bridge.steps
            for position, r in enumerate(s.rows)
        ),
    )
    return kept_ids


def keep_issued_bridges(
    session: Session,
    issued: list[tuple[Invoice, Invoice | None]],
    first_adds: dict[int, tuple[Decimal, int]] | None = None,
) -> None:
    """Compute and keep the bill bridge of each (invoice just issued, its previous invoice):
    a billing run's chunk at a time, so memory is bounded by the chunk, not the run.
    `first_adds`: the first bills' adds step (invoice id -> (premium, member x products)) as
    the run counted them from its lines (`invoicing.DraftInvoice.first_bill_adds`), else read
    from the lines written."""
    keep_bridges(
        session, bill_bridges(session, issued, first_bill_rows=False, first_adds=first_adds)
    )


def keep_missing_bridges(session: Session, limit: int = 200) -> int:
    """Compute and keep the bridge of up to `limit` invoices that have none (issued before
    bridges were kept: migration 9b1e0a7c4d21); how many. Each one's prior is looked up as it
    stands. Flushes only: the caller commits each batch."""
    missing = session.scalars(
        select(Invoice)
        .where(~select(InvoiceBridge.id).where(InvoiceBridge.invoice_id == Invoice.id).exists())
        .order_by(Invoice.period_start, Invoice.id)
        .limit(limit)
    ).all()
    keep_issued_bridges(session, [(i, _previous_invoice(session, i)) for i in missing])
    return len(missing)


def kept_bridge(
    session: Session, invoice: Invoice, read_with_bill: tuple | None = None
) -> KeptBridge:
    """`invoice`'s bill bridge as kept at issue (dollars): its prior bill, then the kept
    bridge's step totals in one kept statement, or `read_with_bill`: both as the caller read
    them with the invoice (`with_prior_and_kept_steps`, no statement here). An invoice issued
    before bridges were kept, or whose prior invoice changed since (a void of the bill before
    it, a reissue), has its bridge computed from the lines as `bill_bridge` always did and kept
    (flushed; it stays if the caller commits), so a void or credit reads as before."""
    if read_with_bill is not None:
        prior, kept_id, *step_totals = read_with_bill
        if kept_id is not None:
            return _kept(invoice, prior, kept_id, step_totals)
    else:
        prior = _previous_invoice(session, invoice)
    values = {"invoice_id": invoice.id}
    if prior is not None:
        values["prior_invoice_id"] = prior.id
    steps = _kept_steps(first_bill=prior is None)
    found = session.execute(steps, values).all()
    if not found:
        keep_bridges(session, bill_bridges(session, [(invoice, prior)], first_bill_rows=False))
        found = session.execute(steps, values).all()
    totals = {row.step: (row.amount, row.row_count) for row in found if row.step is not None}
    return KeptBridge(
        invoice=invoice,
        prior_invoice=prior,
        prior_billed=billed_premium(prior),
        current_billed=billed_premium(invoice),
        steps=[StepTotal(key, label, *totals.get(key, (ZERO, 0))) for key, label in STEPS],
        kept_id=found[0].bridge_id,
    )


def _kept(invoice: Invoice, prior: Invoice | None, kept_id: int, step_totals: list) -> KeptBridge:
    """A KeptBridge from the step totals read with the bill: (amount, count) of each of STEPS
    in order, None for a step not kept."""
    steps = []
    for n, (key, label) in enumerate(STEPS):
        amount, count = step_totals[2 * n], step_totals[2 * n + 1]
        steps.append(
            StepTotal(key, label, ZERO, 0)
            if amount is None
            else StepTotal(key, label, amount, count)
        )
    return KeptBridge(
        invoice=invoice,
        prior_invoice=prior,
        prior_billed=billed_premium(prior),
        current_billed=billed_premium(invoice),
        steps=steps,
        kept_id=kept_id,
    )


def previous_invoice_id(current) -> ScalarSelect:
    """`invoicing.previous_invoice` of the invoice `current` (Invoice, or an alias of it, in
    the enclosing statement) as a correlated subquery: the id of its billing account's (the
    group's own, or the subgroup billed separately) latest non-void invoice for an earlier
    period, the latest issued of a period first; none for a first bill. The same rule
    (`billing_core/billing/invoicing.py::previous_bill`), read with the bill."""
    from billing_core.billing.invoicing import previous_bill  # see _previous_invoice

    earlier = aliased(Invoice, name="earlier_invoice")
    return (
        previous_bill(
            earlier.id,
            earlier,
            group_id=current.group_id,
            same_account=earlier.subgroup_id.is_not_distinct_from(current.subgroup_id),
            period_start=current.period_start,
        )
        .correlate(current)
        .scalar_subquery()
    )


# The prior bill as `with_prior_and_kept_steps` reads it beside the invoice.
PriorInvoice = aliased(Invoice, name="prior")


def with_prior_and_kept_steps(query: Select, current) -> Select:
    """`query` (a select of the invoice `current`, one row) with what `kept_bridge` reads
    after it, as its `read_with_bill`: the prior bill (`PriorInvoice`, `previous_invoice_id`;
    None for a first bill), the id of the bridge kept from that prior bill (the first kept;
    None when none is kept: `kept_bridge` computes and keeps it), then the amount and count of
    each of STEPS in order (None: not kept). Still one row: each step its own outer join."""
    kept = aliased(InvoiceBridge, name="kept")
    first_kept = (
        select(func.min(InvoiceBridge.id))
        .where(
            InvoiceBridge.invoice_id == current.id,
            InvoiceBridge.prior_invoice_id.is_not_distinct_from(PriorInvoice.id),
        )
        .scalar_subquery()
    )
    query = (
        query.add_columns(PriorInvoice, kept.id)
        .outerjoin(PriorInvoice, PriorInvoice.id == previous_invoice_id(current))
        .outerjoin(kept, kept.id == first_kept)
    )
    for key, _ in STEPS:
        step = aliased(InvoiceBridgeStep, name=f"step_{key}")
        query = query.add_columns(step.amount, step.row_count).outerjoin(
            step, (step.bridge_id == kept.id) & (step.step == literal_column(f"'{key}'"))
        )
    return query


@built_once
def _kept_steps(first_bill: bool):
    """The step totals of the bridge kept for an invoice from its prior bill (none for a first
    bill), the first kept if there are several; no row when none is kept."""
    prior = (
        InvoiceBridge.prior_invoice_id.is_(None)
        if first_bill
        else InvoiceBridge.prior_invoice_id == bindparam("prior_invoice_id")
    )
    first_kept = (
        select(func.min(InvoiceBridge.id))
        .where(InvoiceBridge.invoice_id == bindparam("invoice_id"), prior)
        .scalar_subquery()
    )
    return (
        select(
            InvoiceBridge.id.label("bridge_id"),
            InvoiceBridgeStep.step,
            InvoiceBridgeStep.amount,
            InvoiceBridgeStep.row_count,
        )
        .outerjoin(InvoiceBridgeStep, InvoiceBridgeStep.bridge_id == InvoiceBridge.id)
        .where(InvoiceBridge.id == first_kept)
    )


def _seen(query, subgroup_ids: frozenset[int] | None):
    """Limit a query over kept rows to those a reader limited to `subgroup_ids` (or
    access.SUBGROUP_IDS in a kept statement) may see (as `BridgeStep.rows_seen`): their
    members' rows and the group-level ones."""
    if subgroup_ids is None:
        return query
    return query.where(
        or_(InvoiceBridgeRow.member_id.is_(None), Member.subgroup_id.in_(subgroup_ids))
    )


def kept_counts_seen(
    session: Session, kept: KeptBridge, subgroup_ids: frozenset[int] | None
) -> dict[str, int]:
    """How many rows behind each step a reader limited to `subgroup_ids` may see (every row
    when None: the kept counts, no query)."""
    if subgroup_ids is None:
        return {s.key: s.count for s in kept.steps}
    counts = dict.fromkeys(STEP_LABELS, 0)
    counts.update(
        session.execute(
            _counts_seen(), {"bridge_id": kept.kept_id, "subgroup_ids": sorted(subgroup_ids)}
        ).all()
    )
    if kept.prior_invoice is None:
        counts["adds"] = session.scalar(
            select(func.count()).select_from(_first_bill_keys(kept, subgroup_ids).subquery())
        )
    return counts


@built_once
def _counts_seen():
    """`kept_counts_seen`'s count per step for a reader limited to some locations (every
    invoice page of a location's contact; db.built_once)."""
    query = (
        select(InvoiceBridgeRow.step, func.count())
        .outerjoin(Member, Member.id == InvoiceBridgeRow.member_id)
        .where(InvoiceBridgeRow.bridge_id == bindparam("bridge_id"))
        .group_by(InvoiceBridgeRow.step)
    )
    return _seen(query, SUBGROUP_IDS)


def _first_bill_keys(kept: KeptBridge, subgroup_ids: frozenset[int] | None):
    """A first bill's adds, one row per member x product of its premium lines (member id,
    product id, amount), limited to the members of `subgroup_ids` (None: all)."""
    query = (
        select(
            InvoiceLine.member_id,
            Plan.product_id,
            type_coerce(func.sum(InvoiceLine.amount), Money()).label("amount"),
        )
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .where(
            InvoiceLine.invoice_id == kept.invoice.id,
            InvoiceLine.section == InvoiceSection.PREMIUM,
        )
        .group_by(InvoiceLine.member_id, Plan.product_id)
    )
    if subgroup_ids is not None:
        query = query.join(Member, Member.id == InvoiceLine.member_id).where(
            Member.subgroup_id.in_(subgroup_ids)
        )
    return query


def _first_bill_rows(
    session: Session, kept: KeptBridge, subgroup_ids: frozenset[int] | None, limit: int | None
) -> list[BridgeRow]:
    """A first bill's adds read from its premium lines, as `bill_bridges` words and orders them
    (biggest first, then "Last, First" and product in code-point order, as Python sorts)."""
    keys = _first_bill_keys(kept, subgroup_ids).subquery()
    name = Member.last_name + ", " + Member.first_name
    product = Product.name
    if session.get_bind().dialect.name == "postgresql":
        name, product = name.collate("C"), product.collate("C")
    query = (
        select(
            keys.c.member_id,
            keys.c.product_id,
            keys.c.amount,
            Member.member_key,
            Member.first_name,
            Member.last_name,
            Member.subgroup_id,
            Product.name,
        )
        .join(Member, Member.id == keys.c.member_id)
        .join(Product, Product.id == keys.c.product_id)
        .order_by(func.abs(keys.c.amount).desc(), name, product)
    )
    if limit is not None:
        query = query.limit(limit)
    found = session.execute(query).all()
    if not found:
        return []
    # What each member x product was billed on, to word it ("new: Plan tier").
    plans: dict[int, tuple[int, str]] = {}
    billed_on: dict[tuple[int, int], list[tuple]] = {}
    for member_id, plan_id, product_id, plan_name, tier in session.execute(
        select(InvoiceLine.member_id, Plan.id, Plan.product_id, Plan.name, InvoiceLine.tier)
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .where(
            InvoiceLine.invoice_id == kept.invoice.id,
            InvoiceLine.section == InvoiceSection.PREMIUM,
            in_ids(InvoiceLine.member_id, {row.member_id for row in found}),
        )
    ):
        plans[plan_id] = (product_id, plan_name)
        billed_on.setdefault((member_id, product_id), []).append((plan_id, tier))
    return [
        BridgeRow(
            member_id,
            key,
            f"{last}, {first}",
            subgroup_id,
            product_name,
            ZERO,
            amount,
            _added_or_ended("new", billed_on[(member_id, product_id)], plans),
        )
        for member_id, product_id, amount, key, first, last, subgroup_id, product_name in found
    ]


def kept_rows(
    session: Session,
    kept: KeptBridge,
    subgroup_ids: frozenset[int] | None,
    *,
    step: str | None = None,
    limit: int | None = None,
) -> list[BridgeRow]:
    """The kept rows behind `step` (every step when None, in the bridge's order) that a reader
    limited to `subgroup_ids` may see, biggest change first, at most `limit`; names and
    locations as the member has them now. A first bill's adds are read from its premium
    lines (`_first_bill_rows`): they are not kept twice."""
    first_bill = kept.prior_invoice is None
    rows: list[BridgeRow] = []
    if first_bill and step in (None, "adds"):
        rows = _first_bill_rows(session, kept, subgroup_ids, limit)
        if step == "adds" or (limit is not None and len(rows) >= limit):
            return rows
        limit = None if limit is None else limit - len(rows)
    order = case({key: n for n, (key, _) in enumerate(STEPS)}, value=InvoiceBridgeRow.step)
    query = (
        select(
            InvoiceBridgeRow.member_id,
            Member.member_key,
            Member.first_name,
            Member.last_name,
            Member.subgroup_id,
            InvoiceBridgeRow.product_name,
            InvoiceBridgeRow.prior_amount,
            InvoiceBridgeRow.current_amount,
            InvoiceBridgeRow.detail,
        )
        .outerjoin(Member, Member.id == InvoiceBridgeRow.member_id)
        .where(InvoiceBridgeRow.bridge_id == kept.kept_id)
        .order_by(order, InvoiceBridgeRow.position)
    )
    if step is not None:
        query = query.where(InvoiceBridgeRow.step == step)
    if first_bill:
        # Bridges kept before first bills' adds were read from their lines also kept them.
        query = query.where(InvoiceBridgeRow.step != "adds")
    if limit is not None:
        query = query.limit(limit)
    return rows + [
        BridgeRow(
            member_id,
            key if key is not None else "",
            f"{last}, {first}" if key is not None else "(group level)",
            subgroup_id,
            product,
            prior_amount,
            current_amount,
            detail,
        )
        for (
            member_id,
            key,
            first,
            last,
            subgroup_id,
            product,
            prior_amount,
            current_amount,
            detail,
        ) in session.execute(_seen(query, subgroup_ids))
    ]


def kept_details(
    session: Session, kept: KeptBridge, subgroup_ids: frozenset[int] | None, limit: int
) -> tuple[int, list[BridgeDetail]]:
    """`Bridge.details` from the kept bridge: (how many rows the reader may see, the steps with
    those rows when there are at most `limit`, else none); nothing without a prior bill."""
    if kept.prior_invoice is None:
        return 0, []
    counts = kept_counts_seen(session, kept, subgroup_ids)
    count = sum(counts.values())
    if count > limit:
        return count, []
    return count, [
        BridgeDetail(s.key, s.label, s.amount, kept_rows(session, kept, subgroup_ids, step=s.key))
        for s in kept.steps
        if counts[s.key]
    ]


def _period(month: date | None) -> str:
    return f"{month:%b %Y}" if month else ""

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

from sqlalchemy import String, case, cast, func, insert, literal, or_, select, type_coerce
from sqlalchemy.orm import Session

from billing_core.db import Money
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


@dataclass(frozen=True)
class BridgeRow:
    """One member x product behind a step (or one retro line). `change` = current - prior."""

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

    @property
    def amount(self) -> Decimal:
        return sum((r.change for r in self.rows), ZERO)

    @property
    def count(self) -> int:
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


def _premium_sides(session: Session, invoice_id: int) -> dict[tuple[int, int], _Side]:
    sides: dict[tuple[int, int], _Side] = {}
    rows = session.execute(
        select(
            InvoiceLine.member_id,
            Plan.product_id,
            InvoiceLine.plan_id,
            Plan.name,
            InvoiceLine.tier,
            InvoiceLine.volume,
            InvoiceLine.rate_version_id,
            InvoiceLine.rate,
            InvoiceLine.amount,
            InvoiceLine.description,
        )
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .where(
            InvoiceLine.invoice_id == invoice_id,
            InvoiceLine.section == InvoiceSection.PREMIUM,
        )
    )
    for row in rows:
        member_id, product_id, plan_id, plan_name, tier, volume, version, rate, amount, text = row
        side = sides.setdefault((member_id, product_id), _Side())
        if "reduced to" in text:
            side.age_reduction = text[text.index("reduced to") :].split(" /")[0]
        side.amount += amount
        side.months += 1
        side.plans.add(plan_id)
        side.plan_names.add(plan_name)
        side.tiers.add(tier)
        side.volumes.add(volume)
        side.versions.add(version)
        side.rates.add(rate)
    return sides


def _one(values: set) -> str:
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


def _retro_rows(session: Session, invoice: Invoice, sign: int) -> list[tuple]:
    return list(
        session.execute(
            select(
                InvoiceLine.member_id,
                InvoiceLine.amount,
                InvoiceLine.coverage_month,
                InvoiceLine.description,
                Product.name,
            )
            .outerjoin(Plan, Plan.id == InvoiceLine.plan_id)
            .outerjoin(Product, Product.id == Plan.product_id)
            .where(
                InvoiceLine.invoice_id == invoice.id,
                InvoiceLine.section == InvoiceSection.RETRO,
            )
            .order_by(InvoiceLine.line_number)
        ).all()
    )


def _previous_invoice(session: Session, invoice: Invoice) -> Invoice | None:
    # invoicing issues invoices through keep_issued_bridges, so it is imported when called.
    from billing_core.billing.invoicing import previous_invoice

    return previous_invoice(session, invoice)


def bill_bridge(session: Session, invoice: Invoice) -> Bridge:
    """The bridge from the previous non-void invoice of `invoice`'s billing account (none: from
    zero, every line an add) to `invoice`, computed from both invoices' lines (what
    `keep_issued_bridges` keeps; readers use `kept_bridge`). Amounts in dollars; rows carry
    member names, so only show them to users who may see the group's members."""
    prior = _previous_invoice(session, invoice)
    current_sides = _premium_sides(session, invoice.id)
    prior_sides = _premium_sides(session, prior.id) if prior else {}
    products = dict(session.execute(select(Product.id, Product.name)).all())

    changed: list[tuple[str, int, int, Decimal, Decimal, str]] = []
    for key in current_sides.keys() | prior_sides.keys():
        member_id, product_id = key
        cur = current_sides.get(key)
        old = prior_sides.get(key)
        if old is None:
            step, detail = "adds", f"new: {_one(cur.plan_names)} {_one(cur.tiers)}".rstrip(" —")
        elif cur is None:
            step, detail = "terms", f"ended: {_one(old.plan_names)} {_one(old.tiers)}".rstrip(" —")
        elif cur.amount == old.amount:
            continue
        else:
            step, detail = _classify(old, cur)
        changed.append(
            (
                step,
                member_id,
                product_id,
                old.amount if old else ZERO,
                cur.amount if cur else ZERO,
                detail,
            )
        )

    retro_current = _retro_rows(session, invoice, 1)
    retro_prior = _retro_rows(session, prior, -1) if prior else []
    member_ids = {c[1] for c in changed} | {
        r[0] for r in retro_current + retro_prior if r[0] is not None
    }
    members = (
        {
            m.id: m
            for m in session.execute(
                select(
                    Member.id,
                    Member.member_key,
                    Member.first_name,
                    Member.last_name,
                    Member.subgroup_id,
                ).where(Member.id.in_(member_ids))
            )
        }
        if member_ids
        else {}
    )

    def row(member_id, product, prior_amount, current_amount, detail) -> BridgeRow:
        m = members.get(member_id)
        return BridgeRow(
            member_id=member_id,
            member_key=m.member_key if m else "",
            member_name=f"{m.last_name}, {m.first_name}" if m else "(group level)",
            subgroup_id=m.subgroup_id if m else None,
            product=product or "",
            prior_amount=prior_amount,
            current_amount=current_amount,
            detail=detail,
        )

    steps = {key: BridgeStep(key, label) for key, label in STEPS}
    for step, member_id, product_id, old_amount, cur_amount, detail in changed:
        steps[step].rows.append(
            row(member_id, products.get(product_id), old_amount, cur_amount, detail)
        )
    for member_id, amount, month, description, product in retro_current:
        steps["retro"].rows.append(
            row(member_id, product, ZERO, amount, f"{_period(month)}: {description}")
        )
    for member_id, amount, month, description, product in retro_prior:
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
    return Bridge(
        invoice=invoice,
        prior_invoice=prior,
        prior_billed=billed_premium(prior),
        current_billed=billed_premium(invoice),
        steps=list(steps.values()),
    )


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
    """The bill bridge's step totals without the people behind them (see `bridge_totals`)."""

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


def bridge_totals(session: Session, invoice: Invoice) -> BridgeTotals:
    """`bill_bridge`'s step amounts and row counts (dollars), for a document that prints only
    the steps (the statement PDF): one grouped query in the database instead of loading every
    premium line of both invoices. Same steps and the same first-match rule as `bill_bridge`;
    what each side was billed on (plans, tiers, volumes, rate versions, rates) is compared by
    its lowest and highest value, which decides the same step unless one member x product was
    billed on three or more different values within one invoice. Totals are exact either way:
    the steps always sum from prior to current."""
    prior = _previous_invoice(session, invoice)
    ids = [invoice.id] + ([prior.id] if prior else [])
    now = InvoiceLine.invoice_id == invoice.id
    was = InvoiceLine.invoice_id != invoice.id
    billed_on = {
        "plan": InvoiceLine.plan_id,
        "tier": cast(InvoiceLine.tier, String),
        "volume": InvoiceLine.volume,
        "version": InvoiceLine.rate_version_id,
        "rate": InvoiceLine.rate,
    }
    columns = [
        func.sum(case((now, InvoiceLine.amount), else_=0)).label("now_amount"),
        func.sum(case((was, InvoiceLine.amount), else_=0)).label("was_amount"),
        func.count(case((now, 1))).label("now_lines"),
        func.count(case((was, 1))).label("was_lines"),
    ]
    for name, column in billed_on.items():
        for side, condition in (("now", now), ("was", was)):
            columns.append(func.min(case((condition, column))).label(f"{side}_{name}_lo"))
            columns.append(func.max(case((condition, column))).label(f"{side}_{name}_hi"))
    per = (
        select(*columns)
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .where(InvoiceLine.invoice_id.in_(ids), InvoiceLine.section == InvoiceSection.PREMIUM)
        .group_by(InvoiceLine.member_id, Plan.product_id)
        .subquery()
    )

    def differs(*names: str):
        return or_(
            *(
                getattr(per.c, f"now_{n}_{end}").is_distinct_from(getattr(per.c, f"was_{n}_{end}"))
                for n in names
                for end in ("lo", "hi")
            )
        )

    step = case(
        (per.c.was_lines == 0, literal("adds")),
        (per.c.now_lines == 0, literal("terms")),
        (differs("plan", "tier"), literal("tier_plan")),
        (differs("volume"), literal("volume")),
        (differs("version", "rate"), literal("rate")),
        (per.c.now_amount > per.c.was_amount, literal("adds")),
        else_=literal("terms"),
    ).label("step")
    totals = {
        key: (amount, count)
        for key, amount, count in session.execute(
            select(
                step,
                type_coerce(func.sum(per.c.now_amount - per.c.was_amount), Money()),
                func.count(),
            )
            .where(
                (per.c.now_amount != per.c.was_amount)
                | (per.c.now_lines == 0)
                | (per.c.was_lines == 0)
            )
            .group_by(step)
        )
    }
    retro = dict.fromkeys(ids, (ZERO, 0))
    for invoice_id, amount, count in session.execute(
        select(
            InvoiceLine.invoice_id,
            type_coerce(func.sum(InvoiceLine.amount), Money()),
            func.count(),
        )
        .where(InvoiceLine.invoice_id.in_(ids), InvoiceLine.section == InvoiceSection.RETRO)
        .group_by(InvoiceLine.invoice_id)
    ):
        retro[invoice_id] = (amount, count)
    now_retro = retro[invoice.id]
    was_retro = retro[prior.id] if prior else (ZERO, 0)
    totals["retro"] = (now_retro[0] - was_retro[0], now_retro[1] + was_retro[1])
    return BridgeTotals(
        invoice=invoice,
        prior_invoice=prior,
        prior_billed=billed_premium(prior),
        current_billed=billed_premium(invoice),
        steps=[StepTotal(key, label, *totals.get(key, (ZERO, 0))) for key, label in STEPS],
    )


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


def keep_bridge(session: Session, bridge: Bridge) -> int:
    """Keep a computed bridge (`bill_bridge`): its header, six step totals and its rows in
    each step's order; the kept id. Flushes only; append-only like the invoice it explains."""
    kept_id = session.scalar(
        insert(InvoiceBridge)
        .values(
            invoice_id=bridge.invoice.id,
            prior_invoice_id=bridge.prior_invoice.id if bridge.prior_invoice else None,
        )
        .returning(InvoiceBridge.id)
    )
    session.execute(
        insert(InvoiceBridgeStep.__table__),
        [
            {"bridge_id": kept_id, "step": s.key, "amount": s.amount, "row_count": s.count}
            for s in bridge.steps
        ],
    )
    rows = [
        {
            "bridge_id": kept_id,
            "step": s.key,
            "position": position,
            "member_id": r.member_id,
            "product_name": r.product,
            "prior_amount": r.prior_amount,
            "current_amount": r.current_amount,
            "detail": r.detail,
        }
        for s in bridge.steps
        for position, r in enumerate(s.rows)
    ]
    if rows:
        session.execute(insert(InvoiceBridgeRow.__table__), rows)
    return kept_id


def keep_issued_bridges(session: Session, invoices: list[Invoice]) -> None:
    """Compute and keep the bill bridge of each invoice just issued (its lines written), one
    invoice at a time so memory is bounded by the largest invoice, not the run."""
    for invoice in invoices:
        keep_bridge(session, bill_bridge(session, invoice))


def keep_missing_bridges(session: Session, limit: int = 200) -> int:
    """Compute and keep the bridge of up to `limit` invoices that have none (issued before
    bridges were kept: migration 9b1e0a7c4d21); how many. Oldest first, so each one's prior is
    looked up as it stands. Flushes only: the caller commits each batch."""
    missing = session.scalars(
        select(Invoice)
        .where(~select(InvoiceBridge.id).where(InvoiceBridge.invoice_id == Invoice.id).exists())
        .order_by(Invoice.period_start, Invoice.id)
        .limit(limit)
    ).all()
    for invoice in missing:
        keep_bridge(session, bill_bridge(session, invoice))
    return len(missing)


def kept_bridge(session: Session, invoice: Invoice) -> KeptBridge:
    """`invoice`'s bill bridge as kept at issue (dollars): three indexed reads. An invoice
    issued before bridges were kept, or whose prior invoice changed since (a void of the bill
    before it, a reissue), has its bridge computed from the lines as `bill_bridge` always did
    and kept (flushed; it stays if the caller commits), so a void or credit reads as before."""
    prior = _previous_invoice(session, invoice)
    kept_id = session.scalar(
        select(InvoiceBridge.id)
        .where(
            InvoiceBridge.invoice_id == invoice.id,
            InvoiceBridge.prior_invoice_id.is_(None)
            if prior is None
            else InvoiceBridge.prior_invoice_id == prior.id,
        )
        .order_by(InvoiceBridge.id)
        .limit(1)
    )
    if kept_id is None:
        kept_id = keep_bridge(session, bill_bridge(session, invoice))
    totals = {
        step: (amount, count)
        for step, amount, count in session.execute(
            select(
                InvoiceBridgeStep.step, InvoiceBridgeStep.amount, InvoiceBridgeStep.row_count
            ).where(InvoiceBridgeStep.bridge_id == kept_id)
        )
    }
    return KeptBridge(
        invoice=invoice,
        prior_invoice=prior,
        prior_billed=billed_premium(prior),
        current_billed=billed_premium(invoice),
        steps=[StepTotal(key, label, *totals.get(key, (ZERO, 0))) for key, label in STEPS],
        kept_id=kept_id,
    )


def _seen(query, subgroup_ids: frozenset[int] | None):
    """Limit a query over kept rows to those a reader limited to `subgroup_ids` may see (as
    `BridgeStep.rows_seen`): their members' rows and the group-level ones."""
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
    query = (
        select(InvoiceBridgeRow.step, func.count())
        .outerjoin(Member, Member.id == InvoiceBridgeRow.member_id)
        .where(InvoiceBridgeRow.bridge_id == kept.kept_id)
        .group_by(InvoiceBridgeRow.step)
    )
    counts.update(session.execute(_seen(query, subgroup_ids)).all())
    return counts


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
    locations as the member has them now."""
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
    if limit is not None:
        query = query.limit(limit)
    return [
        BridgeRow(
            member_id=member_id,
            member_key=key if key is not None else "",
            member_name=f"{last}, {first}" if key is not None else "(group level)",
            subgroup_id=subgroup_id,
            product=product,
            prior_amount=prior_amount,
            current_amount=current_amount,
            detail=detail,
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

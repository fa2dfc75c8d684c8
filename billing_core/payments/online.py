"""Paying online: an employer's checkout (the invoices or amount chosen, card or US bank account)
and the Stripe webhook events that record what really happened. A payment is recorded only
from a verified event, never from the browser coming back; each event id is processed once.

Without Stripe keys (development), the local test checkout builds the same events Stripe would
send, signs them with the development webhook secret and feeds them to `receive_webhook`, the
function the webhook endpoint calls, so both take one code path.

Refunds made in Stripe's dashboard, outside the portal's four-eyes refund flow, are not posted
automatically: the `charge.refunded` event flags the payment for manual reconciliation
(`Payment.review_reason`) and its outcome is kept on the WebhookEvent row.

Longer than 700 lines on purpose: the checkout, the webhook handlers and the local test
checkout are one flow (the test checkout builds the events the handlers read), kept together
so a change to an event's shape is made once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing_core.access import checkout_in_scope
from billing_core.config import DEFAULT_ACH_LIMIT, STRIPE_CARD_MAX
from billing_core.errors import BillingError, CheckoutError, PaymentError
from billing_core.ledger import receivables
from billing_core.models import (
    Checkout,
    EmployerGroup,
    Invoice,
    Payment,
    Refund,
    User,
    WebhookEvent,
)
from billing_core.models.enums import (
    CheckoutStatus,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
    RefundStatus,
)
from billing_core.money import ZERO, cents, format_dollars, from_cents_int, to_cents_int
from billing_core.payments.receipts import (
    fail_payment,
    record_payment,
    return_payment,
    settle_payment,
)
from billing_core.payments.refunds import mark_refund_paid
from billing_core.payments.stripe_gateway import sign_payload, verify_event

log = logging.getLogger(__name__)

ONLINE_METHODS = (PaymentMethod.CARD, PaymentMethod.ACH_DEBIT)
METHOD_WORDS = {PaymentMethod.CARD: "card", PaymentMethod.ACH_DEBIT: "bank account"}
PAY_BY_WORDS = {
    PaymentMethod.CARD: "by card",
    PaymentMethod.ACH_DEBIT: "from a US bank account (ACH debit)",
}
# How the local test checkout's bank answers an ACH debit.
BANK_OUTCOMES = {
    "succeeds": "The bank settles it (pending, then succeeded)",
    "pending": "It stays pending (the bank has not answered yet)",
    "fails": "The bank refuses it (pending, then failed)",
}


@dataclass(frozen=True)
class OnlineLimits:
    """The largest payment (dollars) each online method takes: a card up to `card` (never above
    Stripe's card maximum), a US bank account by ACH Direct Debit up to `ach` (the limit Stripe
    set for the carrier's account). Above both, the payer is shown the wire, ACH credit and
    check instructions. From the settings ONLINE_CARD_LIMIT and ONLINE_ACH_LIMIT."""

    card: Decimal = STRIPE_CARD_MAX
    ach: Decimal = DEFAULT_ACH_LIMIT

    @classmethod
    def from_settings(cls, settings) -> OnlineLimits:
        return cls(card=settings.online_card_limit, ach=settings.online_ach_limit)

    def limit(self, method: PaymentMethod) -> Decimal:
        return self.card if method is PaymentMethod.CARD else self.ach

    @property
    def highest(self) -> Decimal:
        return max(self.card, self.ach)

    def methods_for(self, amount: Decimal) -> tuple[PaymentMethod, ...]:
        """The online methods that take `amount` (dollars), card first; empty above both."""
        return tuple(m for m in ONLINE_METHODS if amount <= self.limit(m))

    def refusal(self, amount: Decimal, method: PaymentMethod) -> str | None:
        """Why `amount` cannot be paid online by `method`, naming what can take it; None when
        it can."""
        if amount <= self.limit(method):
            return None
        words = METHOD_WORDS[method]
        others = [m for m in self.methods_for(amount) if m is not method]
        if others:
            other = others[0]
            return (
                f"{words} payments are limited to {format_dollars(self.limit(method))}; pay "
                f"{format_dollars(amount)} {PAY_BY_WORDS[other]}, which takes up to "
                f"{format_dollars(self.limit(other))}, or by wire, ACH credit or check"
            )
        return (
            f"{words} payments are limited to {format_dollars(self.limit(method))} and no online "
            f"payment takes {format_dollars(amount)}: pay it by wire, ACH credit or check (the "
            "instructions are on this page)"
        )


@dataclass(frozen=True)
class PayOptions:
    """What an employer can pay: the open invoices (oldest due first) with what each still
    owes, the credit waiting to be used, and the invoice preselected (the oldest)."""

    open_items: list[tuple[Invoice, Decimal]]
    credit: Decimal

    @property
    def open_total(self) -> Decimal:
        return sum((owed for _, owed in self.open_items), ZERO)

    @property
    def default_invoice_ids(self) -> list[int]:
        return [self.open_items[0][0].id] if self.open_items else []

    def amount_for(self, invoice_ids: Sequence[int], amount: Decimal | None) -> Decimal:
        """What a payer choosing `invoice_ids` (their open balances) or `amount` would pay,
        dollars; invoices that are not open count nothing."""
        if amount is not None:
            return amount
        chosen = set(invoice_ids)
        return sum((owed for invoice, owed in self.open_items if invoice.id in chosen), ZERO)

    def invoices_for(self, invoice_ids: Sequence[int]) -> list[Invoice]:
        chosen = set(invoice_ids)
        return [invoice for invoice, _ in self.open_items if invoice.id in chosen]


def pay_options(
    session: Session, group: EmployerGroup, subgroup_ids: frozenset[int] | None = None
) -> PayOptions:
    """The bills open to pay (owed, oldest due first) and the group's credit, read from the
    kept balances (two reads; no posting is summed). With `subgroup_ids` (a location's
    contact): the open bills of those subgroups and the group's consolidated bills, as their
    invoice list and dashboard show, and no credit (the group's, not a location's: see
    allocation.apply_credit)."""
    items = receivables.payable(receivables.open_items(session, group, subgroup_ids))
    credit = receivables.unapplied_credit(session, group) if subgroup_ids is None else ZERO
    return PayOptions(open_items=items, credit=credit)


@dataclass(frozen=True)
class PayChoice:
    """What a payer has chosen on the pay page and how it can be paid: `amount` (dollars) for
    `invoices` (empty for an amount on account), the online `methods` that take it (empty above
    every online limit: then by wire, ACH credit or check)."""

    amount: Decimal
    invoices: list[Invoice]
    methods: tuple[PaymentMethod, ...]
    limits: OnlineLimits

    @property
    def online(self) -> bool:
        return bool(self.methods)

    @property
    def invoice_numbers(self) -> str:
        return ", ".join(invoice.invoice_number for invoice in self.invoices)


def pay_choice(
    options: PayOptions,
    limits: OnlineLimits,
    invoice_ids: Sequence[int],
    amount: Decimal | None,
) -> PayChoice:
    """The chosen invoices (their open balances) or `amount`, and which online methods take
    it under `limits`. Nothing chosen yet counts as zero, which every method takes."""
    due = options.amount_for(invoice_ids, amount)
    return PayChoice(
        amount=due,
        invoices=options.invoices_for(invoice_ids) if amount is None else [],
        methods=limits.methods_for(due),
        limits=limits,
    )


def checkout_key(group_id: int, user_id: int, nonce: str) -> str:
    """The idempotency key of one submission of the pay form (its hidden nonce): a double click
    finds the checkout already started and Stripe replays the same session."""
    return f"checkout-{group_id}-{user_id}-{nonce}"[:100]


def find_checkout(session: Session, idempotency_key: str) -> Checkout | None:
    return session.scalar(select(Checkout).where(Checkout.idempotency_key == idempotency_key))


def group_checkout(
    session: Session,
    group: EmployerGroup,
    checkout_id: int,
    *,
    subgroup_ids: frozenset[int] | None = None,
    user_id: int | None = None,
) -> Checkout | None:
    """One of the group's checkouts (None for another group's); for a user limited to
    `subgroup_ids`, only one they started (access.checkout_in_scope)."""
    return session.scalar(
        select(Checkout).where(
            Checkout.id == checkout_id, checkout_in_scope(group.id, subgroup_ids, user_id)
        )
    )


def start_checkout(
    session: Session,
    *,
    group: EmployerGroup,
    user: User,
    method: PaymentMethod,
    invoice_ids: Sequence[int],
    amount: Decimal | None,
    nonce: str,
    limits: OnlineLimits | None = None,
    subgroup_ids: frozenset[int] | None = None,
) -> tuple[Checkout, bool]:
    """Start paying `group`'s invoices online and return (checkout, created).

    With `amount` None the payer pays the chosen open invoices in full (their open balances,
    dollars); with an amount (dollars, whole cents, at most the method's limit in `limits`,
    the defaults when None) it is applied to the chosen invoices, else the oldest open first,
    and anything over stays as a credit. The same `nonce` again returns the checkout already
    started (created False).

    A payer limited to `subgroup_ids` pays only the open bills they see (pay_options): another
    location's invoice is refused as not open, and an amount chosen without invoices is applied
    to their open bills, oldest first (never to another location's)."""
    key = checkout_key(group.id, user.id, nonce)
    existing = find_checkout(session, key)
    if existing is not None:
        return existing, False
    if method not in ONLINE_METHODS:
        raise CheckoutError("pay online by card or from a US bank account")
    owed = {
        invoice.id: balance
        for invoice, balance in pay_options(session, group, subgroup_ids).open_items
    }
    chosen = list(dict.fromkeys(int(i) for i in invoice_ids))
    if subgroup_ids is not None and amount is not None and not chosen:
        if not owed:
            raise CheckoutError(
                "nothing is open on your locations' bills; a payment on the group's account "
                "is made by your group's administrator"
            )
        chosen = list(owed)
    unknown = [i for i in chosen if i not in owed]
    if unknown:
        raise CheckoutError(
            "one of the invoices chosen is paid already or not open; reload the page and "
            "choose again"
        )
    if amount is None:
        if not chosen:
            raise CheckoutError("choose at least one invoice, or enter another amount")
        amount = sum((owed[i] for i in chosen), ZERO)
    if amount <= 0 or cents(amount) != amount:
        raise CheckoutError("enter an amount in dollars and cents above zero, e.g. 1,250.00")
    refusal = (limits or OnlineLimits()).refusal(amount, method)
    if refusal is not None:
        raise CheckoutError(refusal)
    checkout = Checkout(
        group_id=group.id,
        user_id=user.id,
        amount=amount,
        invoice_ids=chosen,
        method=method,
        status=CheckoutStatus.OPEN,
        idempotency_key=key,
    )
    try:
        with session.begin_nested():
            session.add(checkout)
    except IntegrityError:
        # The same submission raced itself (a double click): the other request's checkout.
        raced = find_checkout(session, key)
        if raced is None:
            raise
        return raced, False
    return checkout, True


def attach_session(checkout: Checkout, session_id: str, url: str) -> None:
    """Remember the Stripe Checkout Session (or local test session) collecting the payment."""
    checkout.session_id = session_id
    checkout.session_url = url


def checkout_description(group: EmployerGroup, invoice_numbers: Sequence[str]) -> str:
    if invoice_numbers:
        return f"Premium for {group.name} (group {group.group_number}): " + ", ".join(
            invoice_numbers
        )
    return f"Premium payment for {group.name} (group {group.group_number})"


def invoice_numbers(session: Session, checkout: Checkout) -> list[str]:
    if not checkout.invoice_ids:
        return []
    rows = session.execute(
        select(Invoice.id, Invoice.invoice_number).where(Invoice.id.in_(checkout.invoice_ids))
    )
    numbers = dict(rows.all())
    return [numbers[i] for i in checkout.invoice_ids if i in numbers]


def checkout_payment(session: Session, checkout: Checkout) -> Payment | None:
    return session.get(Payment, checkout.payment_id) if checkout.payment_id else None


# --- webhooks -------------------------------------------------------------------------------


# How an event the books refused begins its outcome (staff find these: reports, work queue).
NOT_APPLIED = "not applied"
# ... and one that is signed but not shaped as Stripe sends (answered 400, kept for staff).
REJECTED = f"{NOT_APPLIED}, rejected as malformed"
# Stripe's ids are short; the event and payment columns hold 100 characters.
MAX_ID_LENGTH = 100
_AMOUNT_KEYS = ("amount", "amount_total", "amount_received", "amount_refunded")
_TEXT_KEYS = ("id", "payment_intent", "payment_status")
_LAST_CREATED = int(datetime(2199, 12, 31, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    event_type: str
    outcome: str
    duplicate: bool = False

    @property
    def rejected(self) -> bool:
        return self.outcome.startswith(REJECTED)


def _shape_problem(event) -> str | None:
    """What makes a verified body something other than a Stripe event the handlers can read:
    the envelope (id, type, created, data.object) and the fields of the object they use."""
    if not isinstance(event, dict):
        return "the body is not a JSON object"
    event_id, event_type, created = event.get("id"), event.get("type"), event.get("created")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_LENGTH:
        return "the event has no id of at most 100 characters"
    if not isinstance(event_type, str) or not 0 < len(event_type) <= MAX_ID_LENGTH:
        return "the event has no type"
    if type(created) is not int or not 0 <= created <= _LAST_CREATED:
        return "the event's created time is not a Unix timestamp"
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "the event has no data.object"
    obj = data["object"]
    for key in _TEXT_KEYS:
        value = obj.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_ID_LENGTH):
            return f"data.object.{key} is not an id"
    for key in _AMOUNT_KEYS:
        value = obj.get(key)
        if value is not None and (type(value) is not int or value < 0):
            return f"data.object.{key} is not a whole number of cents"
    for key in ("metadata", "refunds", "last_payment_error"):
        if obj.get(key) is not None and not isinstance(obj[key], dict):
            return f"data.object.{key} is not an object"
    types = obj.get("payment_method_types")
    if types is not None and not (
        isinstance(types, list) and all(isinstance(t, str) for t in types)
    ):
        return "data.object.payment_method_types is not a list of names"
    refunds = (obj.get("refunds") or {}).get("data")
    if refunds is not None and not (
        isinstance(refunds, list) and all(isinstance(r, dict) for r in refunds)
    ):
        return "data.object.refunds.data is not a list of refunds"
    return None


def _reject(session: Session, event, problem: str) -> WebhookResult:
    """Keep a malformed event (staff see it with the events not applied) and say it was
    rejected. Without a usable id it is kept under a digest of its body."""
    event_id = event.get("id") if isinstance(event, dict) else None
    event_type = event.get("type") if isinstance(event, dict) else None
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_LENGTH:
        body = json.dumps(event, sort_keys=True, default=str).encode()
        event_id = f"malformed-{hashlib.sha256(body).hexdigest()[:40]}"
    event_type = event_type[:MAX_ID_LENGTH] if isinstance(event_type, str) else "(none)"
    seen = session.scalar(select(WebhookEvent).where(WebhookEvent.event_id == event_id))
    if seen is not None:
        return WebhookResult(event_id, event_type, seen.outcome, duplicate=True)
    outcome = f"{REJECTED}: {problem}"[:300]
    log.warning("stripe event %s rejected: %s", event_id, problem)
    session.add(WebhookEvent(event_id=event_id, event_type=event_type, outcome=outcome))
    session.flush()
    return WebhookResult(event_id, event_type, outcome)


def receive_webhook(
    session: Session, payload: bytes, sig_header: str | None, *, secret: str
) -> WebhookResult:
    """Verify a webhook body's signature (WebhookSignatureInvalid when it does not: nothing is
    read) and process its event once. The caller commits."""
    event = verify_event(payload, sig_header, secret)
    return handle_event(session, event)


def handle_event(session: Session, event: dict) -> WebhookResult:
    """Process one verified Stripe event. A redelivered event id changes nothing. Unknown types
    are acknowledged and kept as ignored; an event the books cannot take (a domain error) is
    kept with the reason, its partial work rolled back, so Stripe does not retry forever. A
    body not shaped as a Stripe event is kept as rejected (`WebhookResult.rejected`: the
    endpoint answers 400), never a crash."""
    problem = _shape_problem(event)
    if problem is not None:
        return _reject(session, event, problem)
    event_id, event_type = event["id"], event["type"]
    seen = session.scalar(select(WebhookEvent).where(WebhookEvent.event_id == event_id))
    if seen is not None:
        return WebhookResult(event_id, event_type, seen.outcome, duplicate=True)
    handler = HANDLERS.get(event_type)
    if handler is None:
        outcome = "ignored: not an event the portal acts on"
    else:
        obj = event["data"]["object"]
        on = datetime.fromtimestamp(event["created"], UTC).date()
        try:
            with session.begin_nested():
                outcome = handler(session, obj, on)
        except BillingError as exc:
            outcome = f"{NOT_APPLIED}, needs staff: {exc}"
            log.warning("stripe event %s (%s) not applied: %s", event_id, event_type, exc)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            # A shape _shape_problem does not know (its partial work is rolled back).
            return _reject(session, event, f"unreadable {type(exc).__name__} in data.object")
    session.add(
        WebhookEvent(event_id=event_id[:100], event_type=event_type[:100], outcome=outcome[:300])
    )
    session.flush()
    return WebhookResult(event_id, event_type, outcome)


def _payment_by_intent(session: Session, intent_id: str | None) -> Payment | None:
    if not intent_id:
        return None
    return session.scalar(select(Payment).where(Payment.external_id == intent_id))


def _checkout_for(session: Session, metadata: dict | None, session_id: str | None = None):
    metadata = metadata or {}
    checkout = None
    raw = str(metadata.get("checkout_id") or "")
    if raw.isdigit():
        checkout = session.get(Checkout, int(raw))
    if checkout is None and session_id:
        checkout = session.scalar(select(Checkout).where(Checkout.session_id == session_id))
    if checkout is not None and metadata.get("group_number"):
        group = session.get(EmployerGroup, checkout.group_id)
        if group.group_number != metadata["group_number"]:
            return None  # metadata that does not tie out is not trusted: suspense
    return checkout


def _invoice_ids(metadata: dict | None, checkout: Checkout | None) -> list[int]:
    raw = str((metadata or {}).get("invoice_ids") or "")
    ids = [int(part) for part in raw.split(",") if part.strip().isdigit()]
    return ids or (list(checkout.invoice_ids) if checkout else [])


def _method(checkout: Checkout | None, types: Sequence[str] | None) -> PaymentMethod:
    if checkout is not None:
        return checkout.method
    return PaymentMethod.ACH_DEBIT if "us_bank_account" in (types or ()) else PaymentMethod.CARD


def _record(
    session: Session,
    *,
    intent_id: str,
    amount_cents: int,
    metadata: dict | None,
    session_id: str | None,
    types: Sequence[str] | None,
    on: date,
    pending: bool,
) -> tuple[Payment, bool, str]:
    """Record the online payment of a PaymentIntent (idempotent on its id). A PaymentIntent that
    names no checkout of this portal is real cash all the same: it goes to suspense."""
    checkout = _checkout_for(session, metadata, session_id)
    group = session.get(EmployerGroup, checkout.group_id) if checkout else None
    amount = from_cents_int(int(amount_cents))
    payment, created = record_payment(
        session,
        group=group,
        amount=amount,
        method=_method(checkout, types),
        received_on=on,
        source=PaymentSource.ONLINE,
        reference=intent_id,
        external_id=intent_id,
        invoice_ids=_invoice_ids(metadata, checkout),
        pending=pending,
        suspense_reason=None if group else f"Stripe payment {intent_id} names no portal checkout",
    )
    note = ""
    if checkout is not None:
        checkout.status = CheckoutStatus.COMPLETED
        checkout.payment_id = payment.id
        if amount != checkout.amount:
            note = f" (checkout asked {format_dollars(checkout.amount)})"
    where = f"group {group.group_number}" if group else "suspense"
    return payment, created, f"{format_dollars(amount)} to {where}{note}"


def _on_checkout_completed(session: Session, obj: dict, on: date) -> str:
    intent_id = obj.get("payment_intent")
    if not intent_id:
        return "ignored: the session has no payment"
    paid = obj.get("payment_status") == "paid"
    payment, created, what = _record(
        session,
        intent_id=intent_id,
        amount_cents=obj.get("amount_total") or 0,
        metadata=obj.get("metadata"),
        session_id=obj.get("id"),
        types=obj.get("payment_method_types"),
        on=on,
        pending=not paid,
    )
    if not created:
        if paid and settle_payment(session, payment, on=on) is not None:
            return f"payment {payment.id} succeeded: {what}"
        return f"payment {payment.id} already recorded ({payment.status.value})"
    state = "succeeded" if paid else "pending until the bank settles it"
    return f"payment {payment.id} recorded, {state}: {what}"


def _on_checkout_expired(session: Session, obj: dict, on: date) -> str:
    """Stripe gave up on a checkout nobody paid (after 24 hours by default): CANCELLED, so its
    page stops saying the payment is on its way. A checkout already paid is left alone."""
    checkout = _checkout_for(session, obj.get("metadata"), obj.get("id"))
    if checkout is None:
        return "ignored: names no portal checkout"
    if checkout.status is not CheckoutStatus.OPEN or checkout.payment_id is not None:
        return f"ignored: checkout {checkout.id} is {checkout.status.value}"
    checkout.status = CheckoutStatus.CANCELLED
    return f"checkout {checkout.id} expired unpaid: {format_dollars(checkout.amount)} not charged"


def _on_intent_processing(session: Session, obj: dict, on: date) -> str:
    payment = _payment_by_intent(session, obj.get("id"))
    if payment is not None:
        return f"payment {payment.id} already recorded ({payment.status.value})"
    if _checkout_for(session, obj.get("metadata")) is None:
        return "ignored: names no portal checkout (recorded when it succeeds)"
    payment, _, what = _record(
        session,
        intent_id=obj["id"],
        amount_cents=obj.get("amount") or 0,
        metadata=obj.get("metadata"),
        session_id=None,
        types=obj.get("payment_method_types"),
        on=on,
        pending=True,
    )
    return f"payment {payment.id} recorded, pending: {what}"


def _on_intent_succeeded(session: Session, obj: dict, on: date) -> str:
    payment = _payment_by_intent(session, obj.get("id"))
    if payment is None:
        payment, _, what = _record(
            session,
            intent_id=obj["id"],
            amount_cents=obj.get("amount_received") or obj.get("amount") or 0,
            metadata=obj.get("metadata"),
            session_id=None,
            types=obj.get("payment_method_types"),
            on=on,
            pending=False,
        )
        return f"payment {payment.id} recorded, succeeded: {what}"
    if settle_payment(session, payment, on=on) is None:
        return f"payment {payment.id} already {payment.status.value}"
    return f"payment {payment.id} succeeded"


def _on_intent_failed(session: Session, obj: dict, on: date) -> str:
    payment = _payment_by_intent(session, obj.get("id"))
    if payment is None:
        return "ignored: a declined attempt; no payment was recorded for it"
    error = obj.get("last_payment_error") or {}
    reason = error.get("message") or error.get("code") or "the payment did not go through"
    if fail_payment(session, payment, reason=reason):
        return f"payment {payment.id} failed: {reason}"
    return f"ignored: payment {payment.id} is {payment.status.value}, not pending"


def _on_charge_refunded(session: Session, obj: dict, on: date) -> str:
    payment = _payment_by_intent(session, obj.get("payment_intent"))
    if payment is None:
        return "ignored: no portal payment for this charge"
    listed = {
        r.get("id")
        for r in ((obj.get("refunds") or {}).get("data") or [])
        if r.get("status") in (None, "succeeded")
    }
    ours = list(
        session.scalars(
            select(Refund)
            .where(
                Refund.payment_id == payment.id,
                Refund.status.in_((RefundStatus.APPROVED, RefundStatus.PAID)),
            )
            .order_by(Refund.id)
        )
    )
    refunded_at_stripe = from_cents_int(int(obj.get("amount_refunded") or 0))
    paid_now, covered = [], ZERO
    for refund in ours:
        known = refund.external_id and (refund.external_id in listed or not listed)
        if refund.status is RefundStatus.APPROVED and known:
            if covered + refund.amount > refunded_at_stripe:
                continue
            mark_refund_paid(session, refund, on=on)
            paid_now.append(str(refund.id))
        if refund.status is RefundStatus.PAID:
            covered += refund.amount
    parts = [f"refund {', '.join(paid_now)} paid"] if paid_now else []
    outside = refunded_at_stripe - covered
    if outside > 0:
        payment.review_reason = (
            f"{format_dollars(outside)} refunded in Stripe outside the portal; record the "
            "refund (or its reversal) by hand"
        )[:300]
        parts.append(f"payment {payment.id} flagged: {payment.review_reason}")
    return "; ".join(parts) or f"nothing new: payment {payment.id} refunds already recorded"


def _on_dispute_created(session: Session, obj: dict, on: date) -> str:
    payment = _payment_by_intent(session, obj.get("payment_intent"))
    if payment is None:
        return "ignored: no portal payment for this dispute"
    if payment.status is PaymentStatus.PENDING:
        fail_payment(session, payment, reason="Card chargeback")
        return f"payment {payment.id} failed: disputed before it settled"
    try:
        with session.begin_nested():
            returned = return_payment(session, payment, on=on, reason="chargeback")
    except PaymentError as exc:
        payment.review_reason = f"chargeback of {format_dollars(payment.amount)}: {exc}"[:300]
        return f"payment {payment.id} flagged: {payment.review_reason}"
    if not returned:
        return f"payment {payment.id} already returned"
    return f"payment {payment.id} returned (chargeback of {format_dollars(payment.amount)})"


HANDLERS: dict[str, Callable[[Session, dict, date], str]] = {
    "checkout.session.completed": _on_checkout_completed,
    "checkout.session.expired": _on_checkout_expired,
    "payment_intent.processing": _on_intent_processing,
    "payment_intent.succeeded": _on_intent_succeeded,
    "payment_intent.payment_failed": _on_intent_failed,
    "charge.refunded": _on_charge_refunded,
    "charge.dispute.created": _on_dispute_created,
}


# --- the local test checkout ----------------------------------------------------------------


def local_session_id(checkout: Checkout) -> str:
    return f"cs_local_{checkout.id}_{checkout.idempotency_key[-12:]}"


def local_test_events(checkout: Checkout, *, bank_outcome: str, created: int) -> list[dict]:
    """The events Stripe would send for this checkout: a card is paid at once; an ACH debit
    completes unpaid, is processing, then succeeds or fails (or stays pending) per
    `bank_outcome`. Ids derive from the checkout, so paying twice replays the same events."""
    base = checkout.session_id or local_session_id(checkout)
    intent_id = f"pi_local_{base.removeprefix('cs_local_')}"
    metadata = {
        "checkout_id": str(checkout.id),
        "invoice_ids": ",".join(str(i) for i in checkout.invoice_ids),
    }
    amount = to_cents_int(checkout.amount)
    types = ["card" if checkout.method is PaymentMethod.CARD else "us_bank_account"]
    card = checkout.method is PaymentMethod.CARD

    def event(n: int, kind: str, obj: dict) -> dict:
        return {
            "id": f"evt_local_{base}_{n}",
            "object": "event",
            "type": kind,
            "created": created,
            "livemode": False,
            "data": {"object": obj},
        }

    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "currency": "usd",
        "metadata": metadata,
        "payment_method_types": types,
    }
    events = [
        event(
            1,
            "checkout.session.completed",
            {
                "id": base,
                "object": "checkout.session",
                "mode": "payment",
                "amount_total": amount,
                "currency": "usd",
                "payment_intent": intent_id,
                "payment_status": "paid" if card else "unpaid",
                "status": "complete",
                "metadata": metadata,
                "payment_method_types": types,
                "client_reference_id": str(checkout.id),
            },
        )
    ]
    if card:
        return events
    events.append(event(2, "payment_intent.processing", {**intent, "status": "processing"}))
    if bank_outcome == "succeeds":
        succeeded = {**intent, "status": "succeeded", "amount_received": amount}
        events.append(event(3, "payment_intent.succeeded", succeeded))
    elif bank_outcome == "fails":
        failed = {
            **intent,
            "status": "requires_payment_method",
            "last_payment_error": {"code": "insufficient_funds", "message": "Insufficient funds"},
        }
        events.append(event(3, "payment_intent.payment_failed", failed))
    return events


def pay_local_test_checkout(
    session: Session, checkout: Checkout, *, secret: str, bank_outcome: str, now: datetime
) -> list[WebhookResult]:
    """Pay through the local test checkout: each event is serialised, signed with `secret` (the
    development webhook secret) and handed to `receive_webhook`, exactly as Stripe's delivery
    would be. No real money moves."""
    if bank_outcome not in BANK_OUTCOMES:
        raise CheckoutError("choose what the bank does")
    timestamp = int(now.timestamp())
    results = []
    for event in local_test_events(checkout, bank_outcome=bank_outcome, created=timestamp):
        payload = json.dumps(event)
        header = sign_payload(payload, secret, timestamp)
        results.append(receive_webhook(session, payload.encode(), header, secret=secret))
    return results

"""The consolidated delinquency notice: one per employer and stage of an episode, listing
every overdue bill (period, due date, days late, amount open), the credits that offset them
(unapplied cash, credit balances on bills), amounts in open dispute, payments on their way and
unidentified cash that may be theirs (suspense), the exact cure amount and the dates that
follow. Its words and figures are kept in a DelinquencyAction (unique per group, episode and
stage: sent once however often the sweep runs), queued through the mail outbox to the group's
employer users and its contact address, and rendered as a PDF letter from what was kept
(`notice_pdf`), so the letter always says what the e-mail said."""

from __future__ import annotations

import html
from datetime import date
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from billing_core import mail
from billing_core.collections.overdue import Position, position
from billing_core.db import built_once
from billing_core.models import EmployerGroup, Invoice, Payment, SuspenseItem
from billing_core.models.collections import (
    ActionKind,
    DelinquencyAction,
    DelinquencyState,
    GroupDelinquency,
)
from billing_core.models.enums import PaymentStatus, SuspenseStatus
from billing_core.models.ledger import KeptOpenItem
from billing_core.money import format_dollars

S = DelinquencyState
KIND = "delinquency_notice"  # outbox kind; not in mail.KINDS: a legal notice cannot be turned off
TITLES = {
    S.IN_GRACE: "Premium past due: grace period notice",
    S.PENDING_CANCELLATION: "Final notice: coverage will be cancelled for non-payment",
    S.CANCELLED: "Coverage cancelled for non-payment",
}


def _on(day: date | None) -> str:
    return f"{day:%b} {day.day}, {day.year}" if day else "-"


def _period(start: date, end: date) -> str:
    if (start.year, start.month) == (end.year, end.month):
        return f"{start:%b %Y}"
    return f"{start:%b %Y} to {end:%b %Y}"


def suspense_by_name(session: Session) -> dict[str, list[dict]]:
    """Open suspense items by their payer's plain name (the matcher's rule): cash we hold but
    could not tie to a group, listed on the notice of the group of that name so the employer
    can claim it. One query, read once per sweep."""
    from billing_core.payments.matching import plain_name

    found: dict[str, list[dict]] = {}
    for received_on, amount, payer, reference in session.execute(
        select(Payment.received_on, Payment.amount, Payment.payer_name, Payment.reference)
        .join(SuspenseItem, SuspenseItem.payment_id == Payment.id)
        .where(SuspenseItem.status == SuspenseStatus.OPEN, Payment.payer_name.is_not(None))
        .order_by(Payment.received_on, Payment.id)
    ):
        found.setdefault(plain_name(payer), []).append(
            {"received_on": received_on.isoformat(), "amount": str(amount),
             "reference": reference or ""}
        )  # fmt: skip
    return found


def _oldest(invoice: Invoice) -> tuple:
    return (invoice.due_on, invoice.period_start, invoice.id)


def notice_content(
    session: Session,
    group: EmployerGroup,
    row: GroupDelinquency,
    stage: DelinquencyState,
    as_of: date,
    pos: Position | None = None,
    suspense: dict[str, list[dict]] | None = None,
) -> dict:
    """Everything the notice of `stage` says on `as_of`, as plain values (dates ISO, money
    strings of dollars): kept as the notice's content."""
    from billing_core.collections.states import coverage_end
    from billing_core.payments.matching import plain_name

    pos = pos or position(session, group.id, as_of)
    bills = session.execute(
        select(Invoice, KeptOpenItem.open_amount)
        .join(KeptOpenItem, KeptOpenItem.invoice_id == Invoice.id)
        .where(KeptOpenItem.group_id == group.id)
        .order_by(KeptOpenItem.due_on, Invoice.id)
    ).all()
    if pos.stayed:  # a bankruptcy stay: the pre-petition bills are not asked for
        from billing_core.collections.bankruptcy import stays

        filed = stays(session, [group.id], on=as_of).get(group.id)
        bills = [(inv, amount) for inv, amount in bills if inv.period_start >= filed]
    overdue = [
        {
            "invoice": inv.invoice_number,
            "period": _period(inv.period_start, inv.period_end),
            "due_on": inv.due_on.isoformat(),
            "days_late": (as_of - inv.due_on).days,
            "open": str(amount),
        }
        for inv, amount in bills
        if amount > 0 and inv.due_on < as_of
    ]
    bill_credits = [
        {"invoice": inv.invoice_number, "amount": str(-amount)}
        for inv, amount in bills
        if amount < 0
    ]
    pending = session.execute(
        select(Payment.received_on, Payment.amount).where(
            Payment.group_id == group.id, Payment.status == PaymentStatus.PENDING
        )
    ).all()
    plan = row.plan
    late = [inv for inv, amount in bills if amount > 0 and inv.due_on < as_of]
    coverage_ends = row.coverage_ends_on or coverage_end(
        session, row, as_of, plan.coverage_end_rule, min(late, key=_oldest, default=None)
    )
    return {
        "stage": stage.value,
        "title": TITLES.get(stage, "Premium past due"),
        "as_of": as_of.isoformat(),
        "group": {"number": group.group_number, "name": group.name},
        "episode": row.episode,
        "overdue_bills": overdue,
        "past_due_bills": str(pos.past_due_bills),
        "unapplied_cash": str(pos.unapplied_cash),
        "bill_credits": bill_credits,
        "disputed": str(pos.disputed),
        "pending_payments": [{"received_on": d.isoformat(), "amount": str(a)} for d, a in pending],
        "suspense": (suspense if suspense is not None else suspense_by_name(session)).get(
            plain_name(group.name), []
        ),
        "cure_amount": str(pos.overdue),
        "dates": {
            "grace_starts_on": row.grace_starts_on.isoformat() if row.grace_starts_on else None,
            "grace_ends_on": row.grace_ends_on.isoformat() if row.grace_ends_on else None,
            "notice_sent_on": row.notice_sent_on.isoformat() if row.notice_sent_on else None,
            "terminates_on": row.terminates_on.isoformat() if row.terminates_on else None,
            "coverage_ends_on": coverage_ends.isoformat() if coverage_ends else None,
            "reinstate_until": row.reinstate_until.isoformat() if row.reinstate_until else None,
        },
    }


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def notice_text(content: dict) -> tuple[str, str]:
    """(subject, body) of a notice from its kept content."""
    g = content["group"]
    cure = format_dollars(Decimal(content["cure_amount"]))
    dates = {k: _d(v) for k, v in content["dates"].items()}
    stage = content["stage"]
    lines = [
        f"{content['title']} for {g['name']} (group {g['number']}), as of {_on(_d(content['as_of']))}.",
        "",
    ]
    lines.append("Overdue bills:")
    for b in content["overdue_bills"]:
        lines.append(
            f"  Invoice {b['invoice']} ({b['period']}), due {_on(_d(b['due_on']))}, "
            f"{b['days_late']} days late: {format_dollars(Decimal(b['open']))} open"
        )
    offsets = []
    if Decimal(content["unapplied_cash"]):
        offsets.append(
            f"  Unapplied payments on your account: -{format_dollars(Decimal(content['unapplied_cash']))}"
        )
    for c in content["bill_credits"]:
        offsets.append(
            f"  Credit on invoice {c['invoice']}: -{format_dollars(Decimal(c['amount']))}"
        )
    if Decimal(content["disputed"]):
        offsets.append(
            f"  In dispute (not collected while open): -{format_dollars(Decimal(content['disputed']))}"
        )
    if offsets:
        lines += ["", "Credits that offset them:", *offsets]
    lines += [
        "",
        f"Amount to pay now to bring your account up to date (the cure amount): {cure}",
        "",
    ]
    for p in content["pending_payments"]:
        lines.append(
            f"A payment of {format_dollars(Decimal(p['amount']))} from {_on(_d(p['received_on']))} "
            "is on its way; it counts once it settles."
        )
    for s in content["suspense"]:
        lines.append(
            f"We hold {format_dollars(Decimal(s['amount']))} received {_on(_d(s['received_on']))} "
            f"(reference {s['reference'] or 'none'}) from a payer named like you but not yet "
            "identified: tell us if it is yours."
        )
    if stage == S.IN_GRACE.value:
        lines += [
            f"Your grace period began {_on(dates['grace_starts_on'])} and ends "
            f"{_on(dates['grace_ends_on'])}. Coverage continues during grace.",
            f"If the cure amount is not paid, your group's coverage may be cancelled for "
            f"non-payment from {_on(dates['terminates_on'])}, and coverage would then end on "
            f"{_on(dates['coverage_ends_on'])} (the last day of the last month paid in full).",
        ]
    elif stage == S.PENDING_CANCELLATION.value:
        lines += [
            f"Your grace period ended {_on(dates['grace_ends_on'])}. Your group's coverage is "
            f"being cancelled for non-payment; coverage would end on "
            f"{_on(dates['coverage_ends_on'])}.",
            "Paying the cure amount now stops the cancellation.",
        ]
    elif stage == S.CANCELLED.value:
        lines += [
            f"Your group's coverage was cancelled for non-payment; coverage ended on "
            f"{_on(dates['coverage_ends_on'])}.",
            f"Paying the amount due in full by {_on(dates['reinstate_until'])} reinstates it.",
        ]
    lines += ["", "Pay online from your invoices page, or by check or wire as your invoice says."]
    subject = f"{content['title']}: {cure} for group {g['number']}"
    return subject, "\n".join(lines)


def send_stage_notice(
    session: Session,
    group: EmployerGroup,
    row: GroupDelinquency,
    stage: DelinquencyState,
    as_of: date,
    pos: Position | None = None,
    *,
    kind: ActionKind = ActionKind.NOTICE,
    key: str | None = None,
    checked: bool = False,
    people: dict | None = None,
    suspense: dict[str, list[dict]] | None = None,
) -> DelinquencyAction | None:
    """The notice of `stage` (or a plan step's e-mail or letter: `kind`, `key`) for the
    group's current episode, once: None when it was already kept. Kept, then queued through
    the outbox to each active employer user of the group and its contact address (a letter is
    kept to print, not e-mailed). The sweep passes what it read once for all its groups:
    `checked` (it knows the action is not kept yet), `people` (mail.recipients) and
    `suspense` (suspense_by_name)."""
    key = key or stage.value
    done = (
        None
        if checked
        else session.scalar(
            select(DelinquencyAction.id).where(
                DelinquencyAction.group_id == group.id,
                DelinquencyAction.episode == row.episode,
                DelinquencyAction.kind == kind,
                DelinquencyAction.key == key,
            )
        )
    )
    if done is not None:
        return None
    content = notice_content(session, group, row, stage, as_of, pos, suspense)
    subject, body = notice_text(content)
    action = DelinquencyAction(
        group_id=group.id,
        episode=row.episode,
        kind=kind,
        key=key,
        done_on=as_of,
        amount=Decimal(content["cure_amount"]),
        subject=subject,
        body=body,
        content=content,
        messages=0,
    )
    session.add(action)
    if kind is not ActionKind.LETTER:
        action.messages = len(_mail(session, group, action, people))
    return action


def recipients(session: Session, group_ids: list[int]) -> dict:
    """Who receives the notices of `group_ids` (mail.recipients of KIND), in one query."""
    return mail.recipients(session, group_ids, KIND)


def _mail(session: Session, group: EmployerGroup, action: DelinquencyAction, people=None) -> list:
    """Queue the notice to the group's employer users and its contact address. A user limited
    to some locations receives it only when it names only bills they see (`notices_seen`, the
    rule of the notices page)."""
    if people is None:
        people = recipients(session, [group.id])
    people = people.get(group.id, [])
    subject, body = action.subject, action.body
    sent, seen = [], set()
    link = f"/employer/groups/{group.id}/invoices"
    for user, limit in people:
        seen.add(user.email.strip().lower())
        if limit is not None and not notices_seen(session, group.id, [action], limit):
            continue
        message = mail.queue(
            session, user.email, subject, f"Hello {user.full_name},\n\n{body}", kind=KIND,
            user_id=user.id, group_id=group.id, link_path=link,
        )  # fmt: skip
        if message is not None:
            sent.append(message)
    if group.contact_email and group.contact_email.strip().lower() not in seen:
        message = mail.queue(
            session, group.contact_email, subject, body, kind=KIND, group_id=group.id,
            link_path=link,
        )  # fmt: skip
        if message is not None:
            sent.append(message)
    return sent


def notices_seen(
    session: Session, group_id: int, actions: list[DelinquencyAction], subgroup_ids
) -> list[DelinquencyAction]:
    """The notices a user limited to `subgroup_ids` sees: those naming only bills they see
    (the group's consolidated bills and their locations'), as a payment applied to bills they
    see and no other (access.payment_in_scope). Everyone else sees them all."""
    if subgroup_ids is None or not actions:
        return actions
    named = {b["invoice"] for a in actions for b in (a.content or {}).get("overdue_bills", [])}
    where = dict(
        session.execute(
            select(Invoice.invoice_number, Invoice.subgroup_id).where(
                Invoice.group_id == group_id, Invoice.invoice_number.in_(sorted(named))
            )
        ).all()
    )

    def seen(number: str) -> bool:
        if number not in where:
            return False
        return where[number] is None or where[number] in subgroup_ids

    return [
        a
        for a in actions
        if all(seen(b["invoice"]) for b in (a.content or {}).get("overdue_bills", []))
    ]


def notices(session: Session, group_id: int) -> list[DelinquencyAction]:
    """The group's kept notices and letters, newest first (what the employer's page lists)."""
    return list(session.scalars(_notices(), {"group_id": group_id}))


@built_once
def _notices():
    """`notices`' statement, built once (db.built_once: the employer's clock asks per view)."""
    return (
        select(DelinquencyAction)
        .where(
            DelinquencyAction.group_id == bindparam("group_id"),
            DelinquencyAction.kind.in_([ActionKind.NOTICE, ActionKind.EMAIL, ActionKind.LETTER]),
        )
        .order_by(DelinquencyAction.done_on.desc(), DelinquencyAction.id.desc())
    )


def notice_html(action: DelinquencyAction) -> str:
    """The kept notice as a Letter-size HTML page (every line escaped)."""
    title = html.escape(action.content.get("title", action.subject or "Notice"))
    paragraphs = "".join(
        f"<p>{html.escape(line)}</p>" if line.strip() else "<br>"
        for line in (action.body or "").splitlines()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "@page{size:Letter;margin:2cm}body{font-family:sans-serif;font-size:11pt}"
        "p{margin:0 0 .3em 0}h1{font-size:16pt}"
        f"</style></head><body><h1>{title}</h1>"
        f"<p>Date: {html.escape(_on(action.done_on))}</p>{paragraphs}</body></html>"
    )


def notice_pdf(action: DelinquencyAction) -> bytes:
    """The kept notice as a PDF letter, rendered from what was kept (so the letter says what
    was sent). Fetches nothing from outside."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=False)
    return HTML(string=notice_html(action), url_fetcher=fetcher).write_pdf()

"""Staff: the future-bill adjustment queue. Approve, reject or reverse one adjustment, or decide
a selection or everything one upload produced in one decision with its total shown; the
four-eyes rules of billing_core.billing.adjustments are enforced on the server (the buttons only
mirror them), and every decision asks for confirmation showing the amounts first."""

from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form
from admin.forms import DecisionNoteForm
from billing_core.authority import Authority
from billing_core.billing.adjustment_queue import (
    STATUSES,
    adjustment_parties,
    adjustment_queue_query,
    pending_source,
)
from billing_core.billing.adjustments import (
    Decision,
    adjustments_by_ids,
    approval_authority,
    approve_adjustments,
    needs_supervisor,
    parse_source,
    pending_of_source,
    pending_source_totals,
    reason_label,
    reject_adjustments,
    reverse_adjustment,
    source_key,
    source_label,
)
from billing_core.errors import BillingError
from billing_core.models import Adjustment
from billing_core.models.enums import AdjustmentStatus
from billing_core.money import ZERO, format_count, format_dollars
from portal.confirmation import Ask, Done, Table
from portal.extensions import db_session
from portal.web import (
    authority_limit,
    client_ip,
    format_period,
    paginate,
    same_site_path,
    see_other,
)

NOTE_TOO_LONG = "the note is too long (500 characters at most)"


@bp.get("/adjustments")
def adjustment_queue():
    status = request.args.get("status", "pending")
    group_q = request.args.get("group", "").strip()
    source = parse_source(request.args.get("source", ""))
    page = paginate(adjustment_queue_query(status, group_q, source), per_page=50, rows=True)
    whole_source = pending_source(db_session(), source, authority_limit()) if source else None
    return render_template(
        "admin/adjustments.html",
        page=page,
        status=status,
        group_q=group_q,
        source_arg=request.args["source"] if source else "",
        whole_source=whole_source,
        source_refusal=whole_source.rule.refusal(current_user) if whole_source else None,
        form=DecisionNoteForm(),
        **_supervision([row[0] for row in page.items]),
    )


def _supervision(on_page: list[Adjustment]) -> dict:
    """What the queue shows of the four-eyes rule: the limit, which lines need a supervisor
    (alone or with the rest of their source's pending lines) and each source's pending
    total; and the words for reasons and sources."""
    limit = authority_limit()
    by_source = pending_source_totals(db_session(), [a for a in on_page if _pending(a)])
    return {
        "limit": limit,
        "needs_supervisor": lambda a: needs_supervisor(a, limit, by_source.get(source_key(a))),
        "source_total": lambda a: by_source.get(source_key(a), ZERO),
        "statuses": STATUSES,
        "reason_label": reason_label,
        "source_label": source_label,
    }


def _pending(adjustment: Adjustment) -> bool:
    return adjustment.status is AdjustmentStatus.PENDING


def adjustment_table(session, adjustments: list[Adjustment], *, queued: bool = False) -> Table:
    """The adjustments a confirmation lists, one row each with its amount. `queued`: the ones
    an action would queue, shown from a rolled-back run, so without their ids (not theirs
    for good yet) or their requester (the person asking)."""
    rows = []
    for p in adjustment_parties(session, adjustments):
        a = p.adjustment
        what = [
            p.group.group_number,
            f"{p.member.last_name}, {p.member.first_name}" if p.member else "group level",
            p.plan.code if p.plan else "",
            format_period(a.coverage_month),
            reason_label(a.reason_code),
        ]
        if queued:
            rows.append([*what, a.amount])
        else:
            rows.append([a.id, *what, p.requester.full_name if p.requester else "", a.amount])
    columns = ["Group", "Member", "Plan", "Month", "Reason"]
    if queued:
        return Table([*columns, "Amount"], rows)
    return Table(["#", *columns, "Requested by", "Amount"], rows)


def _decision_ask(session, decision: Decision, rule: Authority | None, *, fields, back: str) -> Ask:
    adjustments = decision.adjustments
    approve = decision.status is AdjustmentStatus.APPROVED
    charges = sum((a.amount for a in adjustments if a.amount > 0), ZERO)
    credits = sum((a.amount for a in adjustments if a.amount < 0), ZERO)
    count = format_count(len(adjustments), "adjustment")
    verb = "Approve" if approve else "Reject"
    if not approve:
        notes = ["Rejected adjustments stay on record and are never billed."]
    elif rule is not None and rule.needs_supervisor:
        reason = rule.reason[0].upper() + rule.reason[1:]
        notes = [
            f"{reason}. You are a supervisor who did not request them.",
            "Approved adjustments land in the retro section of each group's next invoice.",
        ]
    else:
        notes = [
            f"Within the authority limit of {format_dollars(authority_limit())} on the whole "
            "decision and on each source's pending adjustments together.",
            "Approved adjustments land in the retro section of each group's next invoice.",
        ]
    return Ask(
        title=f"{verb} {count}?",
        button=(f"Confirm: {verb.lower()} {count}, {format_dollars(decision.net_total)} net"),
        rows=[
            ("Adjustments", format_count(len(adjustments), "line")),
            ("Charges (premium owed)", charges),
            ("Credits (premium returned)", credits),
            ("Dollars moved (gross)", decision.gross_total),
        ],
        total=("Net change to the next bills", decision.net_total),
        notes=notes,
        table=adjustment_table(session, adjustments),
        cancel=back,
        fields=fields,
        danger=not approve,
    )


def _decide(adjustments_of, action: str, back: str, *, fields):
    """Approve or reject the adjustments `adjustments_of()` returns, in one decision."""
    return confirm_form(
        DecisionNoteForm(),
        lambda form: _decided(adjustments_of(), action, form.note.data or "", back, fields),
        back=back,
        failure="Not changed",
        invalid=NOTE_TOO_LONG,
    )


def _decided(adjustments: list[Adjustment], action: str, note: str, back: str, fields) -> Done:
    session = db_session()
    rule = None
    if action == "approve":
        if all(_pending(a) for a in adjustments):
            rule = approval_authority(session, adjustments, authority_limit())
        decision = approve_adjustments(
            session,
            adjustments,
            actor=current_user,
            note=note,
            authority_limit=authority_limit(),
            ip_address=client_ip(),
        )
    else:
        decision = reject_adjustments(
            session, adjustments, actor=current_user, reason=note, ip_address=client_ip()
        )
    ids = [a.id for a in decision.adjustments]
    net = format_dollars(decision.net_total)
    if len(ids) == 1:
        done = "approved; the next invoice bills it" if action == "approve" else "rejected"
        message = f"Adjustment {ids[0]} of {net} {done}."
    else:
        done = "approved; the next invoices bill them" if action == "approve" else "rejected"
        message = f"{format_count(len(ids), 'adjustment')} ({net} net) {done}."
    status = "approved" if action == "approve" else "rejected"
    link = (url_for("admin.adjustment_queue", status=status), f"See the {status} adjustments")
    shown = fields(decision) if callable(fields) else fields
    return Done(
        message, link=link, ask=_decision_ask(session, decision, rule, fields=shown, back=back)
    )


def _single(adjustment_id: int, action: str):
    back = same_site_path(request.form.get("next"), url_for("admin.adjustment_queue"))
    adjustment = db_session().get(Adjustment, adjustment_id)
    if adjustment is None:
        flash("That adjustment no longer exists.", "error")
        return see_other(back)
    if action == "reverse":
        return confirm_form(
            DecisionNoteForm(),
            lambda form: _reversed(adjustment, form.note.data or "", back),
            back=back,
            failure=f"Adjustment {adjustment.id} not changed",
            invalid=NOTE_TOO_LONG,
        )
    return _decide(lambda: [adjustment], action, back, fields=None)


def _reversed(adjustment: Adjustment, note: str, back: str) -> Done:
    session = db_session()
    amount = adjustment.amount
    billed = adjustment.invoice_id is not None
    opposite = reverse_adjustment(
        session, adjustment, actor=current_user, reason=note, ip_address=client_ip()
    )
    message = (
        f"Adjustment {adjustment.id} of {format_dollars(amount)} reversed; adjustment "
        f"{opposite.id} credits it on the next invoice."
        if opposite
        else f"Adjustment {adjustment.id} of {format_dollars(amount)} reversed before "
        "billing; it will not be billed."
    )
    ask = Ask(
        title=f"Reverse adjustment {adjustment.id}?",
        button=f"Confirm: reverse {format_dollars(amount)}",
        rows=[
            ("Adjustment", f"{adjustment.id}, {format_period(adjustment.coverage_month)}"),
            ("Amount", amount),
            ("Already billed", "yes" if billed else "no"),
        ],
        total=("Change to the next bill", -amount if billed else ZERO),
        notes=[
            "A billed adjustment is credited by an opposite adjustment on the next "
            "invoice; one not yet billed is simply not billed."
        ],
        cancel=back,
        danger=True,
    )
    return Done(
        message,
        link=(url_for("admin.adjustment_queue", status="all"), "See the adjustment queue"),
        ask=ask,
    )


@bp.post("/adjustments/<int:adjustment_id>/approve")
def adjustment_approve(adjustment_id: int):
    return _single(adjustment_id, "approve")


@bp.post("/adjustments/<int:adjustment_id>/reject")
def adjustment_reject(adjustment_id: int):
    return _single(adjustment_id, "reject")


@bp.post("/adjustments/<int:adjustment_id>/reverse")
def adjustment_reverse(adjustment_id: int):
    return _single(adjustment_id, "reverse")


@bp.post("/adjustments/decide")
def adjustment_bulk_decide():
    """One decision on many: the adjustments ticked (`ids`) or every pending one of a source
    (`source`, e.g. `upload:12`). The confirmation lists them with their total and re-posts
    their ids, so what is confirmed is exactly what was shown."""
    action = request.form.get("action", "")
    back = same_site_path(request.form.get("next"), url_for("admin.adjustment_queue"))
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    source = parse_source(request.form.get("source", ""))

    def fields(decision: Decision):
        return (
            [("action", action)]
            + [("ids", str(a.id)) for a in decision.adjustments]
            + [("note", request.form.get("note", "")), ("next", back)]
        )

    return _decide(lambda: _chosen(action, ids, source), action, back, fields=fields)


def _chosen(action: str, ids: list[int], source: tuple[str, int] | None) -> list[Adjustment]:
    """The adjustments a bulk decision is about: those ticked, else a source's pending ones."""
    if action not in ("approve", "reject"):
        raise BillingError("choose approve or reject")
    if ids:
        return adjustments_by_ids(db_session(), ids)
    if source:
        found = pending_of_source(db_session(), *source)
        if not found:
            raise BillingError(f"{source_label(source[0])} {source[1]} has no pending adjustments")
        return found
    raise BillingError("tick the adjustments to decide, or choose an upload's")

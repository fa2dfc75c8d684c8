"""Staff: a group's outside collections, charge-off, recoveries and bankruptcy (issue 20, items
8-9), a section of the group's collections page (admin/views/collections.py renders it with
`legal_context`): refer to an agency, the agency's package as one zip, the referral's status
and a decision to sue; ask for a charge-off and decide it (a supervisor who did not ask);
record a recovery (the payment received, the agency's fee); record a bankruptcy filing and its
end. Each posts one form to one billing_core.collections function; money actions ask first."""

from __future__ import annotations

import io

from flask import abort, send_file, url_for
from flask_login import current_user
from wtforms import SelectChoice

from admin import bp
from admin.actions import confirm_form, submit_form
from admin.views.collections_legal_forms import (
    BankruptcyCloseForm,
    BankruptcyForm,
    ChargeOffForm,
    DecisionForm,
    RecoveryForm,
    ReferForm,
    ReferralStatusForm,
    SueForm,
)
from billing_core.collections.bankruptcy import close_bankruptcy, file_bankruptcy, filings
from billing_core.collections.charge_off import (
    CHARGEABLE,
    approval_authority,
    approve_charge_off,
    charge_offs,
    decline_charge_off,
    receivable,
    record_recovery,
    recoverable_payments,
    recoveries,
    request_charge_off,
)
from billing_core.collections.referrals import (
    STATUS_LABELS,
    decide_to_sue,
    open_referral,
    package_name,
    refer,
    referral_package,
    referrals,
    update_referral,
)
from billing_core.errors import NotFound
from billing_core.models import EmployerGroup, Payment
from billing_core.models.collections import DelinquencyState, GroupDelinquency
from billing_core.models.collections_legal import (
    BankruptcyFiling,
    BankruptcyStatus,
    ChargeOff,
    CollectionReferral,
    ReferralStatus,
)
from billing_core.money import ZERO, format_dollars
from billing_core.payments.worklists import user_name
from portal.confirmation import Ask, Done
from portal.extensions import db_session
from portal.web import load_group, today

S = DelinquencyState


def _page(group_id: int) -> str:
    return url_for("admin.group_collections", group_id=group_id) + "#legal"


def _own(model, record_id: int, group_id: int):
    """The group's record of `model` with this id; another group's (or none) is a 404."""
    found = db_session().get(model, record_id)
    if found is None or found.group_id != group_id:
        abort(404)
    return found


def legal_context(group: EmployerGroup, row: GroupDelinquency | None) -> dict:
    """What the page's outside collections, charge-off, recoveries and bankruptcy sections
    show, with their forms."""
    session = db_session()
    found = referrals(session, group.id)
    recovery_form = RecoveryForm()
    recovery_form.payment_id.choices = [
        SelectChoice(
            p.id, f"{p.received_on} · {format_dollars(p.amount)} · {p.reference or p.method.value}"
        )
        for p in recoverable_payments(session, group.id)
    ]
    recovery_form.referral_id.choices = [SelectChoice(0, "The group itself (no agency)")] + [
        SelectChoice(r.id, f"{r.agency} (referred {r.referred_on})") for r in found
    ]
    status_form = ReferralStatusForm()
    if found:  # the form starts from where the latest referral stands
        status_form.status.data = found[0].status.value
    state = row.state if row is not None else S.CURRENT
    owed = receivable(session, group)
    asked = charge_offs(session, group.id)
    return {
        "referrals": found,
        "referral_labels": STATUS_LABELS,
        "may_refer": state is S.CANCELLED
        or (state is S.REFERRED and open_referral(session, group.id) is None),
        "may_charge_off": state in CHARGEABLE,
        "receivable": owed,
        "charge_offs": asked,
        "charge_off_rules": {c.id: approval_authority(c) for c in asked},
        "recoveries": recoveries(session, group.id),
        "filings": filings(session, group.id),
        "user_name": lambda user_id: user_name(session, user_id),
        "refer_form": ReferForm(),
        "status_form": status_form,
        "sue_form": SueForm(),
        "charge_off_form": ChargeOffForm(),
        "decision_form": DecisionForm(),
        "recovery_form": recovery_form,
        "bankruptcy_form": BankruptcyForm(),
        "bankruptcy_close_form": BankruptcyCloseForm(),
    }


# --------------------------------------------------------------------------- referrals


@bp.post("/groups/<int:group_id>/collections/referrals")
def collections_refer(group_id: int):
    scope = load_group(group_id)

    def referred(form: ReferForm) -> str:
        referral = refer(
            db_session(),
            scope.group,
            agency=form.agency.data,
            on=today(),
            actor=current_user,
            notes=form.notes.data or "",
        )
        return (
            f"Referred {scope.group.name} to {referral.agency} with "
            f"{format_dollars(referral.balance_referred)} owed. Download the package for them."
        )

    return submit_form(ReferForm(), referred, back=_page(group_id), failure="Not referred")


@bp.get("/groups/<int:group_id>/collections/referrals/<int:referral_id>/package")
def collections_referral_package(group_id: int, referral_id: int):
    from portal.documents import render_statement_pdf

    scope = load_group(group_id)
    referral = _own(CollectionReferral, referral_id, group_id)
    data = referral_package(db_session(), referral, today(), render_statement_pdf)
    return send_file(
        io.BytesIO(data),
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"{package_name(scope.group, referral)}.zip",
    )


@bp.post("/groups/<int:group_id>/collections/referrals/<int:referral_id>")
def collections_referral_update(group_id: int, referral_id: int):
    load_group(group_id)
    referral = _own(CollectionReferral, referral_id, group_id)

    def updated(form: ReferralStatusForm) -> str:
        update_referral(
            db_session(),
            referral,
            status=ReferralStatus(form.status.data),
            on=form.on.data,
            actor=current_user,
            note=form.note.data or "",
        )
        return f"Referral to {referral.agency}: {STATUS_LABELS[referral.status].lower()}."

    return submit_form(
        ReferralStatusForm(), updated, back=_page(group_id), failure="Referral not updated"
    )


@bp.post("/groups/<int:group_id>/collections/referrals/<int:referral_id>/sue")
def collections_referral_sue(group_id: int, referral_id: int):
    load_group(group_id)
    referral = _own(CollectionReferral, referral_id, group_id)

    def decided(form: SueForm) -> str:
        decide_to_sue(db_session(), referral, on=today(), actor=current_user, note=form.note.data)
        return f"Recorded the decision to sue, {referral.suit_decided_on}."

    return submit_form(SueForm(), decided, back=_page(group_id), failure="Not recorded")


# --------------------------------------------------------------------------- charge-off


@bp.post("/groups/<int:group_id>/collections/charge-off")
def collections_charge_off_request(group_id: int):
    scope = load_group(group_id)
    back = _page(group_id)

    def asked(form: ChargeOffForm) -> Done:
        request = request_charge_off(
            db_session(), scope.group, on=today(), reason=form.reason.data, actor=current_user
        )
        amount = format_dollars(request.amount)
        ask = Ask(
            title=f"Ask to charge off {scope.group.name}'s {amount}?",
            button=f"Confirm: ask to charge off {amount}",
            rows=[
                ("Group", f"{scope.group.name} ({scope.group.group_number})"),
                ("Reason", request.reason),
            ],
            total=("Open receivable to charge off", request.amount),
            notes=[
                "Nothing posts now: a supervisor who did not ask approves it on this page.",
                "Approved, the whole open receivable goes to bad debt and the group is charged "
                "off; money recovered later posts to recoveries, not premium.",
            ],
            cancel=back,
        )
        return Done(
            f"Charge-off of {amount} asked; it waits for a supervisor who did not ask.", ask=ask
        )

    return confirm_form(ChargeOffForm(), asked, back=back, failure="Charge-off not asked")


@bp.post("/groups/<int:group_id>/collections/charge-off/<int:charge_off_id>/approve")
def collections_charge_off_approve(group_id: int, charge_off_id: int):
    scope = load_group(group_id)
    request = _own(ChargeOff, charge_off_id, group_id)
    back = _page(group_id)

    def approved(form: DecisionForm) -> Done:
        session = db_session()
        approve_charge_off(
            session, request, actor=current_user, on=today(), note=form.note.data or ""
        )
        amount = format_dollars(request.amount)
        ask = Ask(
            title=f"Charge off {scope.group.name}'s {amount} to bad debt?",
            button=f"Confirm: charge off {amount}",
            rows=[
                ("Group", f"{scope.group.name} ({scope.group.group_number})"),
                ("Asked by", user_name(session, request.requested_by_id)),
                ("Reason", request.reason),
                ("Open receivable after", ZERO),
            ],
            total=("Charged off to bad debt", request.amount),
            cancel=back,
            danger=True,
        )
        return Done(f"Charged off {amount}; the group is charged off.", ask=ask)

    return confirm_form(DecisionForm(), approved, back=back, failure="Charge-off not approved")


@bp.post("/groups/<int:group_id>/collections/charge-off/<int:charge_off_id>/reject")
def collections_charge_off_reject(group_id: int, charge_off_id: int):
    load_group(group_id)
    request = _own(ChargeOff, charge_off_id, group_id)

    def declined(form: DecisionForm) -> str:
        how = decline_charge_off(
            db_session(), request, actor=current_user, reason=form.note.data or ""
        )
        return f"Charge-off request {request.id} {how}; nothing posted."

    return submit_form(DecisionForm(), declined, back=_page(group_id), failure="Not declined")


# --------------------------------------------------------------------------- recoveries


@bp.post("/groups/<int:group_id>/collections/recoveries")
def collections_recovery(group_id: int):
    scope = load_group(group_id)
    back = _page(group_id)
    form = RecoveryForm()
    session = db_session()
    form.payment_id.choices = [
        SelectChoice(p.id, str(p.id)) for p in recoverable_payments(session, group_id)
    ]
    form.referral_id.choices = [SelectChoice(0, "")] + [
        SelectChoice(r.id, r.agency) for r in referrals(session, group_id)
    ]

    def recorded(form: RecoveryForm) -> Done:
        payment = session.get(Payment, form.payment_id.data)
        if payment is None or payment.group_id != group_id:
            raise NotFound("that payment is not one of this group's")
        referral = (
            _own(CollectionReferral, form.referral_id.data, group_id)
            if form.referral_id.data
            else None
        )
        fee = form.fee.data or ZERO
        recovery = record_recovery(
            session, scope.group, payment, on=today(), actor=current_user, fee=fee,
            referral=referral, note=form.note.data or "",
        )  # fmt: skip
        where = (
            "bad-debt recoveries (the receivable stays closed)"
            if recovery.after_charge_off
            else "the group's bills (the payment was applied to them)"
        )
        ask = Ask(
            title=f"Record {format_dollars(recovery.amount)} recovered from {scope.group.name}?",
            button=f"Confirm: recovery of {format_dollars(recovery.amount)}",
            rows=[
                ("Payment", f"{payment.received_on} · {payment.reference or payment.id}"),
                ("Net cash received", payment.amount),
                ("Agency's fee (collection expense)", fee),
                ("Collected by", referral.agency if referral else "the group"),
                ("Posts to", where),
            ],
            total=("Recovered (gross)", recovery.amount),
            cancel=back,
        )
        return Done(f"Recorded {format_dollars(recovery.amount)} recovered.", ask=ask)

    return confirm_form(form, recorded, back=back, failure="Recovery not recorded")


# --------------------------------------------------------------------------- bankruptcy


@bp.post("/groups/<int:group_id>/collections/bankruptcy")
def collections_bankruptcy_file(group_id: int):
    scope = load_group(group_id)

    def filed(form: BankruptcyForm) -> str:
        filing = file_bankruptcy(
            db_session(), scope.group, filed_on=form.filed_on.data, chapter=form.chapter.data,
            case_number=form.case_number.data, court=form.court.data or "",
            note=form.note.data or "", actor=current_user, today=today(),
        )  # fmt: skip
        return (
            f"Recorded the chapter {filing.chapter} filing of {filing.filed_on} (case "
            f"{filing.case_number}): bills for periods before it are no longer collected."
        )

    return submit_form(BankruptcyForm(), filed, back=_page(group_id), failure="Not recorded")


@bp.post("/groups/<int:group_id>/collections/bankruptcy/<int:filing_id>")
def collections_bankruptcy_close(group_id: int, filing_id: int):
    load_group(group_id)
    filing = _own(BankruptcyFiling, filing_id, group_id)

    def closed(form: BankruptcyCloseForm) -> str:
        close_bankruptcy(
            db_session(), filing, status=BankruptcyStatus(form.status.data), on=form.on.data,
            actor=current_user, today=today(), note=form.note.data or "",
        )  # fmt: skip
        return f"Case {filing.case_number} {filing.status.value} on {filing.status_on}."

    return submit_form(BankruptcyCloseForm(), closed, back=_page(group_id), failure="Not recorded")

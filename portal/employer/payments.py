"""The employer's payment pages: pay online (Stripe Checkout, or the local test checkout when
no Stripe keys are set), the success and cancel pages (which record nothing: payments are
recorded from the webhook), and the group's payments: balance, credit and history."""

from __future__ import annotations

import secrets

from flask import abort, current_app, flash, render_template, request, url_for
from flask_login import current_user

from billing_core.billing.invoices import period_label
from billing_core.config import Settings
from billing_core.errors import BillingError
from billing_core.ledger.receivables import credit_outlook, payments_account
from billing_core.models.enums import CheckoutStatus, PaymentMethod, Role
from billing_core.money import format_dollars
from billing_core.payments import online
from billing_core.payments.allocation import apply_credit
from billing_core.payments.stripe_gateway import StripeGateway, gateway_from_settings
from billing_core.reports.statements import payment_rows
from portal.employer import bp
from portal.employer.forms import LocalCheckoutForm, PayForm, UseCreditForm
from portal.extensions import db_session
from portal.web import load_group, now, role_required, run_action, see_other, today


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def _gateway() -> StripeGateway | None:
    return gateway_from_settings(_settings())


def _local_checkout_enabled() -> bool:
    """The local test checkout exists only in development, and only without Stripe keys."""
    settings = _settings()
    return not settings.is_production and not settings.stripe_secret_key


def _load_checkout(scope, checkout_id: int):
    checkout = online.group_checkout(
        db_session(),
        scope.group,
        checkout_id,
        subgroup_ids=scope.subgroup_ids,
        user_id=scope.user_id,
    )
    if checkout is None:
        abort(404)
    return checkout


@bp.route("/groups/<int:group_id>/pay", methods=["GET", "POST"])
@role_required(Role.EMPLOYER)
def payment_start(group_id: int):
    """Choose invoices (the oldest preselected) or an amount, and card or bank account; the
    POST starts a checkout and sends the payer to Stripe (or the local test checkout)."""
    scope = load_group(group_id)
    form = PayForm()
    if request.method == "GET":
        return _pay_page(scope, form)
    if not _online_available():
        flash("Online payment is not available; pay by wire, ACH credit or check.", "error")
    elif form.validate_on_submit():
        return _start_checkout(scope, form)
    return _pay_page(scope, form)


def _online_available() -> bool:
    return _gateway() is not None or _local_checkout_enabled()


def _pay_page(scope, form: PayForm):
    """The pay page: on a GET with a new nonce and the invoices asked for (else the oldest)
    ticked; after a POST with the form as sent and its errors."""
    options = online.pay_options(db_session(), scope.group, scope.subgroup_ids)
    limits = online.OnlineLimits.from_settings(_settings())
    if request.method == "GET":
        form.nonce.data = secrets.token_urlsafe(18)
        preselected = request.args.getlist("invoice", type=int)
        form.invoice_ids.data = preselected or options.default_invoice_ids
        if not options.open_items:
            form.pay_what.data = "amount"
        asked = request.args.get("amount", "")
        if asked and not request.args.getlist("invoice"):
            # The delinquency clock's pay link: the cure amount when credits or disputes make
            # it differ from the overdue bills' sum (checked as typed when the form is sent).
            form.pay_what.data, form.amount.data = "amount", asked[:20]
    choice = online.pay_choice(options, limits, form.chosen_invoices(), _amount_or_none(form))
    offered = [method.value for method in choice.methods]
    if request.method == "GET" and offered and form.method.data not in offered:
        form.method.data = offered[0]  # a card cannot take this amount: the bank is ticked
    remit = _settings().remit_instructions
    return render_template(
        "payments/pay.html",
        scope=scope,
        form=form,
        options=options,
        choice=choice,
        limits=limits,
        remit=remit,
        remit_reference=remit.reference(scope.group.group_number, choice.invoice_numbers),
        online_available=_online_available(),
        local_checkout=_gateway() is None and _local_checkout_enabled(),
        period_label=period_label,
        today=today(),
    )


def _amount_or_none(form: PayForm):
    """The amount typed, when "another amount" is chosen and it reads as one."""
    try:
        return form.chosen_amount()
    except (TypeError, ValueError):
        return None


def _start_checkout(scope, form: PayForm):
    """Start (or find again, for the same form submission) the checkout and send the payer to
    it; the pay page again with the reason on the form when it cannot start."""

    def refused(error):
        form.form_errors.append(_sentence(str(error)))
        return _pay_page(scope, form)

    return run_action(
        lambda: _checkout(scope, form),
        to=lambda checkout: (
            checkout.session_url
            if _still_open(checkout)
            else url_for("employer.payment_list", group_id=scope.group.id)
        ),
        done=lambda checkout: (
            None
            if _still_open(checkout)
            else ("This payment was already submitted; here is where it stands.", "info")
        ),
        refused=refused,
    )


def _checkout(scope, form: PayForm):
    checkout, created = online.start_checkout(
        db_session(),
        group=scope.group,
        user=current_user,
        method=PaymentMethod(form.method.data),
        invoice_ids=form.chosen_invoices(),
        amount=form.chosen_amount(),
        nonce=form.nonce.data,
        limits=online.OnlineLimits.from_settings(_settings()),
        subgroup_ids=scope.subgroup_ids,
    )
    if created:
        _open_session(checkout, scope.group)
    return checkout


def _still_open(checkout) -> bool:
    return checkout.status is CheckoutStatus.OPEN and bool(checkout.session_url)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _open_session(checkout, group) -> None:
    """Where the payer goes to pay: a Stripe Checkout Session, or the local test checkout."""
    ids = {"group_id": group.id, "checkout_id": checkout.id}
    gateway = _gateway()
    if gateway is None:
        online.attach_session(
            checkout,
            online.local_session_id(checkout),
            url_for("employer.test_checkout", **ids),
        )
        return
    numbers = online.invoice_numbers(db_session(), checkout)
    created = gateway.create_checkout_session(
        checkout,
        group_number=group.group_number,
        description=online.checkout_description(group, numbers),
        success_url=url_for("employer.payment_success", _external=True, **ids),
        cancel_url=url_for("employer.payment_cancelled", _external=True, **ids),
    )
    online.attach_session(checkout, created.session_id, created.url)


@bp.route("/groups/<int:group_id>/checkouts/<int:checkout_id>/test", methods=["GET", "POST"])
@role_required(Role.EMPLOYER)
def test_checkout(group_id: int, checkout_id: int):
    """The local test checkout (development without Stripe keys only): Pay builds the events
    Stripe would send, signs them and runs them through the webhook's own code path."""
    if not _local_checkout_enabled():
        abort(404)
    scope = load_group(group_id)
    checkout = _load_checkout(scope, checkout_id)
    ids = {"group_id": group_id, "checkout_id": checkout_id}
    form = LocalCheckoutForm()
    if checkout.status is CheckoutStatus.OPEN and form.validate_on_submit():
        return _pay_locally(checkout, form.bank_outcome.data, ids)
    if request.method == "POST" and checkout.status is not CheckoutStatus.OPEN:
        return see_other(url_for("employer.payment_success", **ids))  # where it stands
    numbers = online.invoice_numbers(db_session(), checkout)
    page = {"scope": scope, "checkout": checkout, "form": form, "invoice_numbers": numbers}
    return render_template("payments/test_checkout.html", **page)


def _pay_locally(checkout, bank_outcome: str, ids: dict):
    return run_action(
        lambda: online.pay_local_test_checkout(
            db_session(),
            checkout,
            secret=_settings().stripe_webhook_secret,
            bank_outcome=bank_outcome,
            now=now(),
        ),
        to=url_for("employer.payment_success", **ids),
        back=url_for("employer.test_checkout", **ids),
    )


@bp.get("/groups/<int:group_id>/checkouts/<int:checkout_id>/success")
@role_required(Role.EMPLOYER)
def payment_success(group_id: int, checkout_id: int):
    """Back from paying. Records nothing: the payment is recorded when Stripe's webhook says so;
    this page only shows whether that has happened yet."""
    scope = load_group(group_id)
    checkout = _load_checkout(scope, checkout_id)
    return render_template(
        "payments/success.html",
        scope=scope,
        checkout=checkout,
        payment=online.checkout_payment(db_session(), checkout),
    )


@bp.get("/groups/<int:group_id>/checkouts/<int:checkout_id>/cancelled")
@role_required(Role.EMPLOYER)
def payment_cancelled(group_id: int, checkout_id: int):
    """The payer left the checkout: nothing was paid or recorded."""
    scope = load_group(group_id)
    checkout = _load_checkout(scope, checkout_id)
    return render_template("payments/cancelled.html", scope=scope, checkout=checkout)


@bp.get("/groups/<int:group_id>/payments")
@role_required(Role.EMPLOYER)
def payment_list(group_id: int):
    """Balance, open invoices, credit (and using it), and the payment history."""
    scope = load_group(group_id)
    return render_template(
        "payments/payments.html",
        scope=scope,
        **_account(scope),
        credit_form=UseCreditForm(),
        period_label=period_label,
        today=today(),
    )


def _account(scope) -> dict:
    """The group's account as the scope sees it: balance, credit outlook, what is open to
    pay, and the payments (a location's contact: theirs, never the group's credit, so no
    outlook)."""
    session = db_session()
    seen = {"subgroup_ids": scope.subgroup_ids, "user_id": scope.user_id}
    # The summary, the open bills and the outlook from one read of the open items and one
    # of the payments and credit (pay_options and credit_outlook would read them again).
    account = payments_account(session, scope.group, today(), **seen)
    return {
        "summary": account.summary,
        "outlook": account.outlook,
        "options": online.PayOptions(open_items=account.payable, credit=account.summary.credit),
        # The statement's payment rows: one read, not two more per payment.
        "history": payment_rows(session, scope.group, **seen),
    }


@bp.post("/groups/<int:group_id>/credit/apply")
@role_required(Role.EMPLOYER)
def credit_apply(group_id: int):
    """Use the group's credit on its open invoices, oldest first."""
    scope = load_group(group_id)
    target = url_for("employer.payment_list", group_id=group_id)
    if not UseCreditForm().validate_on_submit():
        flash("Tick the box to confirm using your credit.", "error")
        return see_other(target)
    return run_action(lambda: _use_credit(scope), done=_credit_used, to=target)


def _use_credit(scope) -> list:
    session = db_session()
    if not credit_outlook(session, scope.group, today()).used_on_next_bill:
        raise BillingError("Your group's credit is held for a refund: contact billing to use it.")
    return apply_credit(
        session, scope.group, on=today(), actor=current_user, subgroup_ids=scope.subgroup_ids
    )


def _credit_used(made: list):
    if not made:
        return "There was no credit and open invoice to match; nothing changed.", "info"
    used = sum(a.amount for a in made)
    return f"{format_dollars(used)} of credit was applied to your open invoices."

"""The staff side's one shape for a request that changes something, on top of
`portal.web.run_action` (commit once, 303) and `portal.confirmation.confirm_then` (ask with
the amounts first): the action's form is checked before anything runs, and what is wrong with
it is shown as a refusal is, "<failure>: <what is wrong>" on the way back to `back`. Views
then call one of these with one billing_core use case and stay a few lines long."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort
from flask_wtf import FlaskForm

from billing_core.errors import BillingError
from portal.confirmation import Ask, Done, confirm_then
from portal.extensions import db_session
from portal.web import run_action


def load_or_404(model, record_id: int):
    """The record with this id, or 404 (staff see every group's records)."""
    found = db_session().get(model, record_id)
    if found is None:
        abort(404)
    return found


def form_errors(form: FlaskForm) -> str:
    """Every message of an invalid form in one line."""
    return " ".join(e for errors in form.errors.values() for e in errors)


def require_valid(form: FlaskForm, message: str | None = None) -> None:
    """Refuse an invalid form like a use case refuses: with `message`, or what is wrong."""
    if not form.validate():
        raise BillingError(message or form_errors(form))


def confirm_form(
    form: FlaskForm,
    act: Callable[[FlaskForm], Done],
    *,
    back: str,
    failure: str,
    ask: Callable[[FlaskForm], Ask] | None = None,
    invalid: str | None = None,
):
    """A money action behind `form`: checked, then asked and done through `confirm_then`.
    `act(form)` runs the use case and says what it came to (`Done` with its `Ask`); with
    `ask(form)`, a read-only look is asked about first (for what reaches outside the database,
    like a refund through Stripe) and `act` runs only once that is confirmed."""

    def checked() -> Done:
        require_valid(form, invalid)
        return act(form)

    def asked() -> Ask:
        require_valid(form, invalid)
        return ask(form)

    return confirm_then(
        db_session(),
        checked,
        back=back,
        failure=failure,
        ask=asked if ask is not None else None,
    )


def submit_form(
    form: FlaskForm,
    act: Callable[[FlaskForm], str],
    *,
    back: str,
    failure: str,
    invalid: str | None = None,
):
    """A change behind `form` that asks nothing first (it moves no money): checked, then
    `act(form)` runs the use case and returns what to say; commit once, 303 to `back`."""

    def checked() -> str:
        require_valid(form, invalid)
        return act(form)

    return run_action(checked, to=back, done=lambda said: said, back=back, failed=failure)

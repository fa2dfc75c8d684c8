"""Every action that moves money asks first, showing the amounts, and says afterwards what
happened with a link to the record (JOURNEYS.md, screen conventions).

The first POST of such an action answers with a confirmation page (no JavaScript needed): what
will happen, in amounts, and a Confirm button that posts the same fields again with `confirm=1`
and a digest of what was shown. The server acts only when both arrive and the digest still
matches what the action comes to now, so a situation that changed in between (a payment came
in, another person decided first) asks again with the new figures instead of acting on old
ones. Two ways to know what an action comes to:

- `ask`: a read-only look before acting (used where acting reaches outside the database, like
  a refund through Stripe);
- the action itself, run and rolled back (the default): the figures shown are exactly what
  the action does, computed by the same billing_core function.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from flask import current_app, g, request
from flask_login import current_user

from billing_core.errors import BillingError
from portal.web import NotYet, render_page_or_fragment, run_action

# Fields of the first POST that the Confirm form does not post again as they were.
_OWN_FIELDS = frozenset({"csrf_token", "confirm", "confirm_digest"})


@dataclass
class Table:
    """A list the confirmation shows (e.g. the adjustments of a bulk decision): column headings
    and rows of cells; a Decimal cell is money, right-aligned."""

    columns: list[str]
    rows: list[list[object]]
    limit: int = 500  # rows shown; the digest covers all of them


@dataclass
class Ask:
    """What the confirmation page shows: `rows` of (label, value) where a Decimal is money, the
    `total` in bold, `notes` (who may decide, what happens next), an optional `table`, and the
    Confirm button's words. `fields` replaces the fields posted again (default: the first
    POST's), e.g. to confirm an explicit list of ids rather than "all of upload 12"."""

    title: str
    button: str
    rows: list[tuple[str, object]] = field(default_factory=list)
    total: tuple[str, Decimal] | None = None
    notes: list[str] = field(default_factory=list)
    table: Table | None = None
    danger: bool = False
    cancel: str | None = None
    # The words of the link back to `cancel` (another where "cancel" is the action itself).
    cancel_words: str = "Cancel: change nothing"
    fields: list[tuple[str, str]] | None = None

    def facts(self) -> list:
        """What the digest covers: every amount and line shown."""
        return [
            request.path,
            current_user.get_id(),
            [[label, str(value)] for label, value in self.rows],
            [self.total[0], str(self.total[1])] if self.total else None,
            [[str(cell) for cell in row] for row in self.table.rows] if self.table else None,
            self.fields,
        ]


@dataclass
class Done:
    """What happened: the flash `message`, a `link` (url, label) to the record, where to go
    next (`then`, default the action's `back`), and, when the action was run to learn what it
    comes to, the `ask` it comes to."""

    message: str
    link: tuple[str, str] | None = None
    then: str | None = None
    ask: Ask | None = None


def digest(ask: Ask) -> str:
    return digest_of(ask.facts())


def digest_of(facts) -> str:
    """A keyed digest of `facts` (JSON-able; amounts as strings): what a confirmation showed."""
    payload = json.dumps(facts, sort_keys=True, default=str).encode()
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"confirm:" + payload, hashlib.sha256).hexdigest()[:40]


def confirmed_digest(facts) -> bool:
    """Confirmed, and of exactly `facts` (for a page that is its own confirmation)."""
    given = request.form.get("confirm_digest", "")
    return confirming() and hmac.compare_digest(given, digest_of(facts))


def confirming() -> bool:
    """The POST carries the confirmation flag (the Confirm button of a confirmation page)."""
    return request.form.get("confirm") == "1"


def confirmed(ask: Ask) -> bool:
    """Confirmed, and of exactly what `ask` shows now."""
    given = request.form.get("confirm_digest", "")
    return confirming() and hmac.compare_digest(given, digest(ask))


def said(message: str, link: tuple[str, str] | None = None):
    """What to flash for what happened, with a link to the record: the message and the link's
    words are text (escaped where the flash is shown), the url is built by url_for."""
    if link is None:
        return message
    url, label = link
    return {"text": message, "url": url, "label": label}


def render_ask(ask: Ask, *, changed: bool = False):
    """The confirmation page (or its fragment for htmx): status 200, nothing changed yet."""
    g.confirmation_only = True  # a question, not a change: no staff-change audit row
    if ask.fields is not None:
        fields = ask.fields
    else:
        fields = [(k, v) for k, v in request.form.items(multi=True) if k not in _OWN_FIELDS]
    return render_page_or_fragment(
        "confirm.html",
        "_confirm.html",
        ask=ask,
        fields=fields,
        digest=digest(ask),
        changed=changed,
        action_url=request.full_path.rstrip("?"),
    )


def confirm_then(
    session,
    act: Callable[[], Done],
    *,
    back: str,
    failure: str,
    ask: Callable[[], Ask] | None = None,
    on_error: Callable[[BillingError], object] | None = None,
):
    """Ask, then act: the one path of every money action's POST, through `run_action`.

    With `ask`, it is called first (read-only; a refusal it raises is shown at once) and `act`
    runs only once confirmed. Without it, `act` runs and, unless this POST confirms exactly what
    it came to (`Done.ask`), is rolled back and its figures are asked about. A domain error is
    flashed (`failure: error`) with a 303 to `back` (or answered by `on_error`, e.g. the form
    again with the error beside it); success commits once and flashes `Done`. `session` is the
    request's (`run_action` commits or rolls it back)."""

    def asked_or_done() -> Done | NotYet:
        if ask is not None:
            question = ask()
            if not confirmed(question):
                return NotYet(lambda: render_ask(question, changed=confirming()))
            return act()
        done = act()
        if not confirmed(done.ask):
            return NotYet(lambda: render_ask(done.ask, changed=confirming()))
        return done

    return run_action(
        asked_or_done,
        to=lambda done: done.then or back,
        done=lambda done: said(done.message, done.link),
        back=back,
        refused=on_error,
        failed=failure,
    )

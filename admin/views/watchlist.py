"""Staff: the credit-control watchlist at /admin/watchlist (issue 20, item 10): the entries
with their status and the groups that have their tax id, filters, and the forms to add an
entry, change its expiry and remove it (each audited by billing_core.collections.watchlist;
CSRF). The credit-control report ("credit_control") lists the watched groups with their
collections state."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import load_or_404, submit_form
from admin.views.watchlist_forms import WatchlistAddForm, WatchlistExpiryForm, WatchlistRemoveForm
from billing_core.collections.watchlist import (
    STATUSES,
    add_entry,
    entries,
    format_tax_id,
    remove_entry,
    set_expiry,
)
from billing_core.models.watchlist import WatchlistEntry
from portal.extensions import db_session
from portal.web import paginate_list, today

PER_PAGE = 50


def _list_url() -> str:
    return url_for("admin.watchlist")


@bp.get("/watchlist")
def watchlist():
    status = request.args.get("status", "active")
    if status not in (*STATUSES, "all"):
        status = "active"
    search = request.args.get("q", "").strip()
    on = today()
    rows = entries(db_session(), on, status=status, search=search)
    return render_template(
        "admin/watchlist.html",
        page=paginate_list(rows, per_page=PER_PAGE),
        status=status,
        search=search,
        statuses=STATUSES,
        add_form=WatchlistAddForm(),
        expiry_form=WatchlistExpiryForm(),
        remove_form=WatchlistRemoveForm(),
        today=on,
    )


@bp.post("/watchlist")
def watchlist_add():
    def added(form: WatchlistAddForm) -> str:
        entry = add_entry(
            db_session(),
            tax_id=form.tax_id.data,
            name=form.name.data,
            reason=form.reason.data,
            actor=current_user,
            today=today(),
            expires_on=form.expires_on.data,
        )
        until = f" until {entry.expires_on:%b %-d, %Y}" if entry.expires_on else ""
        return (
            f"Added {entry.name} (tax id {format_tax_id(entry.tax_id)}) to the watchlist{until}: "
            "a group with this tax id is flagged when it is set up or renewed."
        )

    return submit_form(WatchlistAddForm(), added, back=_list_url(), failure="Not added")


@bp.post("/watchlist/<int:entry_id>/expiry")
def watchlist_expiry(entry_id: int):
    entry = load_or_404(WatchlistEntry, entry_id)

    def changed(form: WatchlistExpiryForm) -> str:
        set_expiry(
            db_session(),
            entry.id,
            expires_on=form.expires_on.data,
            actor=current_user,
            today=today(),
        )
        until = f"{entry.expires_on:%b %-d, %Y}" if entry.expires_on else "it is removed"
        return f"{entry.name} stays on the watchlist until {until}."

    return submit_form(
        WatchlistExpiryForm(), changed, back=_list_url(), failure="Expiry not changed"
    )


@bp.post("/watchlist/<int:entry_id>/remove")
def watchlist_remove(entry_id: int):
    entry = load_or_404(WatchlistEntry, entry_id)

    def removed(form: WatchlistRemoveForm) -> str:
        remove_entry(
            db_session(), entry.id, reason=form.reason.data, actor=current_user, today=today()
        )
        return f"Removed {entry.name} from the watchlist (kept in its history: removed entries)."

    return submit_form(WatchlistRemoveForm(), removed, back=_list_url(), failure="Not removed")

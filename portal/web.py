"""The one place for access rules and page plumbing: role checks, tenant-scoped loaders, the
person's powers (`powers()`, also `powers` in every template), the one handler shape for a
state-changing request (`run_action`, `see_other`), page-or-fragment rendering, pagination of
billing_core's read models and display formats."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import wraps
from operator import is_
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Response, abort, current_app, flash, redirect, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import Select
from sqlalchemy.exc import OperationalError

from billing_core.access import GroupScope, Powers, group_scope, visible_groups
from billing_core.authority import DEFAULT_AUTHORITY_LIMIT
from billing_core.db import begin_writing
from billing_core.errors import BillingError
from billing_core.models import EmployerGroup, User
from billing_core.models.enums import Role
from billing_core.paging import Page, page_of, page_of_list
from portal.extensions import db_session, htmx

T = TypeVar("T")

PORTAL_HOMES = {Role.EMPLOYER: "employer.home", Role.BROKER: "broker.home"}
STAFF_HOME = "admin.work_queue_page"


def today() -> date:
    return datetime.now(UTC).date()


def now() -> datetime:
    return datetime.now(UTC)


def home_endpoint(user: User) -> str:
    """Where the user starts: their portal's home, or the staff's Today page."""
    return STAFF_HOME if user.role.is_staff else PORTAL_HOMES[user.role]


def role_required(*roles: Role):
    """Logged in and holding one of `roles`; anyone else gets 403 (anonymous: the login page)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def authority_limit() -> Decimal:
    """Dollars one person may decide alone (ADJUSTMENT_AUTHORITY_LIMIT; four eyes above)."""
    return Decimal(
        str(current_app.config.get("ADJUSTMENT_AUTHORITY_LIMIT", DEFAULT_AUTHORITY_LIMIT))
    )


def powers() -> Powers:
    """What the current person may do (`powers.may_void`, `powers.may_approve(amount)`):
    the questions views and templates ask instead of naming roles."""
    user = current_user._get_current_object() if current_user.is_authenticated else None
    return Powers(user, authority_limit())


def load_group(group_id: int) -> GroupScope:
    """The current user's view of a group; another tenant's id is a 404, never a 403."""
    scope = group_scope(db_session(), current_user, group_id, today(), authority_limit())
    if scope is None:
        abort(404)
    return scope


def my_groups() -> list[EmployerGroup]:
    return visible_groups(db_session(), current_user, today())


def see_other(url: str) -> Response:
    """After a change, send the browser to `url` with 303 See Other (the house rule: a reload
    never repeats the POST); an htmx request that swaps a fragment is told by `HX-Redirect`."""
    if htmx and not htmx.boosted:
        return Response(status=204, headers={"HX-Redirect": url})
    return redirect(url, 303)


def elsewhere(url: str) -> Response:
    """A page that lives at another address (302 Found): for a GET that changed nothing,
    like the home page of someone with one group. After a change, `see_other`."""
    return redirect(url)


@dataclass(frozen=True)
class NotYet:
    """What an action returns when it only asks (a confirmation page, the form again, a file
    of a check nothing keeps): `run_action` rolls back whatever it did, then answers `page()`
    (drawn after the rollback, so it shows the records as they are)."""

    page: Callable[[], object]


@dataclass(frozen=True)
class Reply:
    """What an action returns to answer with a page or a file rather than a redirect (the
    recovery codes shown once, a refused census file's problems): `run_action` commits, then
    answers `page()`."""

    page: Callable[[], object]


def run_action(
    act: Callable[[], T],
    *,
    to: str | Callable[[T], str] | None = None,
    done: str | Callable[[T], object] | None = None,
    back: str | None = None,
    refused: Callable[[BillingError], object] | None = None,
    failed: str | None = None,
    after: Callable[[T], None] | None = None,
    keep_refused: bool = False,
):
    """The one handler shape for a request that changes something. Runs `act()` (one
    billing_core use case, which audits itself), commits once, runs `after(result)` (what
    needs the commit first: queueing a job that reads the record), flashes `done` and answers
    303 to `to` (a URL or a function of the result).

    `done` is a string or a function of the result giving a message (a string, or a dict with
    a link, see `_flashes.html`), a (message, category) pair, or None to say nothing; the
    category is "success" unless given. An `act` returning `NotYet(page)` changed nothing: it
    is rolled back and `page()` answered; one returning `Reply(page)` is committed and `page()`
    answered.

    A `BillingError` rolls everything back (with `keep_refused`, what the act wrote before
    refusing is committed instead: a failed login's count and audit row) and is shown to the
    person: by `refused(error)` when given (a form page rendered again with the error beside
    its field), else as a flash (after "`failed`: " when given) on the way back to `back`
    (default: `to` when it is a URL). Views never catch `BillingError` themselves
    (`tests/web/test_handler_shape.py`)."""
    session = db_session()
    try:
        result = act()
    except BillingError as error:
        if keep_refused:
            session.commit()
        else:
            session.rollback()
        if refused is not None:
            return refused(error)
        flash(f"{failed}: {error}" if failed else str(error), "error")
        target = back if back is not None else to
        if not isinstance(target, str):
            raise TypeError("run_action needs `back` when `to` depends on the result") from error
        return see_other(target)
    if isinstance(result, NotYet):
        session.rollback()
        return result.page()
    session.commit()
    if after is not None:
        after(result)
    if isinstance(result, Reply):
        return result.page()
    said = done(result) if callable(done) else done
    if said:
        message, category = said if isinstance(said, tuple) else (said, "success")
        flash(message, category)
    if to is None:
        raise TypeError("run_action needs `to` unless the act replies itself")
    return see_other(to(result) if callable(to) else to)


def attempt(
    read: Callable[[], T], refusal: type[BillingError] = BillingError
) -> tuple[T | None, BillingError | None]:
    """Run a read that may be refused (a statement range that cannot be drawn): (its result,
    None), or (None, the `refusal` raised) for the page to show beside its field. It writes
    nothing, so nothing is rolled back; any other error is not this page's to show."""
    try:
        return read(), None
    except refusal as error:
        return None, error


def dry_run(read: Callable[[], T]) -> T:
    """Run `read()`, which may write to work something out (a preview priced by the code that
    applies it, a check of a file nothing keeps), and roll back whatever it wrote."""
    try:
        return read()
    finally:
        db_session().rollback()


def keep_after_read(write: Callable[[], None], what: str) -> bool:
    """Keep what a read worked out (a page's figures computed once for the views after it),
    in a short write of its own after the read was rolled back. A write the database cannot
    take now (busy) is left to a later view and logged: the page shows what it computed
    either way. True when kept."""
    session = db_session()
    try:
        begin_writing(session)
        write()
        session.commit()
    except OperationalError:
        session.rollback()
        current_app.logger.warning("%s: not kept (the database is busy)", what)
        return False
    return True


def render_page_or_fragment(page_template: str, fragment_template: str, **context):
    """The fragment for a (non-boosted) htmx request, the whole page otherwise."""
    if htmx and not htmx.boosted:
        return render_template(fragment_template, **context)
    return render_template(page_template, **context)


def _asked_page() -> int:
    return request.args.get("page", 1, type=int) or 1


def paginate(query: Select, per_page: int = 25, *, rows: bool = False) -> Page:
    """Page `query` (a billing_core read model's SELECT) by the `page` request argument
    (1-based, clamped). Items are the first entity of each row, or whole rows with `rows`."""
    return page_of(db_session(), query, _asked_page(), per_page, rows=rows)


def paginate_list(items: list, per_page: int = 25) -> Page:
    """Page rows already read (a report, a list filtered in Python) by the `page` argument."""
    return page_of_list(items, _asked_page(), per_page)


def client_ip() -> str | None:
    return request.remote_addr


def same_site_path(target: str | None, default: str) -> str:
    """`target` when it is a path on this site (a `next=` to go back to), else `default`.
    Browsers read a backslash as a slash and drop tabs and line breaks, so `/\\evil`,
    `/<TAB>/evil` and `//evil` all lead off-site: anything but a plain path is refused."""
    target = target or ""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ch.isspace() or not ch.isprintable() for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def format_date(value: date | datetime | None) -> str:
    """`Jan 15, 2027`: never ambiguous."""
    if value is None:
        return ""
    return f"{value:%b} {value.day}, {value.year}"


def format_period(value: date | None) -> str:
    """A coverage month as `Jan 2027`."""
    return "" if value is None else f"{value:%b %Y}"


def format_plain_decimal(value) -> str:
    """A rate or factor without trailing zeros and never in exponent form: 0.225, 60, 2."""
    if value is None:
        return ""
    return format(value.normalize(), "f")


def enqueue_upload_job(session, job: str, upload_id: int, record_failure, what: str) -> None:
    """Queue `job` for an upload (committed first: the job reads it from the database); a
    queue that cannot be reached is recorded on the upload by `record_failure(session,
    upload_id, error)`, which its page shows, and committed. One shape for the census read
    and the background approval."""
    from billing_core.errors import JobQueueUnavailable
    from billing_core.jobs import enqueue

    try:
        enqueue(
            job,
            upload_id,
            settings=current_app.config["SETTINGS"],
            session_factory=current_app.extensions["session_factory"],
        )
    except JobQueueUnavailable as error:
        current_app.logger.error("%s of upload %s not queued: %s", what, upload_id, error)
        record_failure(session, upload_id, error)
        session.commit()


class DrawnOnce:
    """What a view draws (HTML) from an answer kept per process (`billing_core/kept_reads.py`
    and the like), drawn once per answer: a kept answer is the same objects on every view
    while nothing it read changed, and new objects once something did, so what was drawn
    from them stays true with them. The objects are held with the drawing, so their ids are
    not reused meanwhile; they are never changed once answered. Links are relative to the
    application's root, part of the key; `extra` is whatever else the drawing depends on (the
    filters). The last `size` drawings are kept."""

    def __init__(self, size: int):
        self._size = size
        self._kept: OrderedDict[tuple, tuple[tuple, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sources: tuple, extra: tuple, draw: Callable[[], T]) -> T:
        key = (tuple(map(id, sources)), request.script_root, extra)
        with self._lock:
            found = self._kept.get(key)
        if found is not None and all(map(is_, found[0], sources)):
            return found[1]  # type: ignore[return-value]
        drawn = draw()
        with self._lock:
            self._kept[key] = (sources, drawn)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return drawn

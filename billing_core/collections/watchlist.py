"""The credit-control watchlist (issue 20, item 10): staff keep employers to watch by tax id
(`add_entry`, `set_expiry`, `remove_entry`, each audited), and a group whose tax id is on it
when it is set up or renewed is shown with a warning, never refused (`matches`,
`setup_warnings`: the set-up import's result, the group's staff pages).

Tax ids match on their digits: dashes and spaces are dropped on both sides (`normalise_tax_id`),
so "12-3456789", "12 3456789" and "123456789" are one employer. An entry matches on a day from
the day it was added to its expiry (inclusive), and no longer from the day it is removed.
Entries are never deleted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.errors import NotFound, ValidationFailed
from billing_core.models import EmployerGroup, User
from billing_core.models.watchlist import WatchlistEntry

TAX_ID_DIGITS = 9
NAME_MAX, REASON_MAX = 200, 500


def normalise_tax_id(text: str | None) -> str:
    """`text` without dashes and spaces (an EIN's nine digits when well formed)."""
    return "".join(ch for ch in (text or "") if ch not in "- \t").upper()


def format_tax_id(tax_id: str) -> str:
    """Nine digits as an EIN is written, `12-3456789`; anything else as it is."""
    if len(tax_id) == TAX_ID_DIGITS and tax_id.isdigit():
        return f"{tax_id[:2]}-{tax_id[2:]}"
    return tax_id


def _normalised_column(column):
    """The SQL of `normalise_tax_id` on a column (dashes and spaces dropped)."""
    return func.replace(func.replace(column, "-", ""), " ", "")


def _active(on: date):
    e = WatchlistEntry
    return (
        e.added_on <= on,
        or_(e.removed_on.is_(None), e.removed_on > on),
        or_(e.expires_on.is_(None), e.expires_on >= on),
    )


def add_entry(
    session: Session,
    *,
    tax_id: str,
    name: str,
    reason: str,
    actor: User,
    today: date,
    expires_on: date | None = None,
) -> WatchlistEntry:
    """Put an employer on the watchlist from `today` to `expires_on` (inclusive; None: until
    removed). The tax id must be nine digits once dashes and spaces are dropped; the name and
    the reason are required; the expiry may not be before today. An employer may be on the
    list once at a time. Flush only; audited."""
    digits = normalise_tax_id(tax_id)
    if len(digits) != TAX_ID_DIGITS or not digits.isdigit():
        raise ValidationFailed(
            f"the tax id {tax_id!r} is not an EIN: enter its nine digits (e.g. 12-3456789)"
        )
    name, reason = (name or "").strip(), (reason or "").strip()
    if not name:
        raise ValidationFailed("enter the employer's name")
    if not reason:
        raise ValidationFailed("say why the employer is on the watchlist")
    if len(name) > NAME_MAX or len(reason) > REASON_MAX:
        raise ValidationFailed(
            f"the name is limited to {NAME_MAX} characters and the reason to {REASON_MAX}"
        )
    if expires_on is not None and expires_on < today:
        raise ValidationFailed(f"the expiry {expires_on} is in the past: enter today or later")
    current = session.scalar(
        select(WatchlistEntry).where(WatchlistEntry.tax_id == digits, *_active(today)).limit(1)
    )
    if current is not None:
        raise ValidationFailed(
            f"tax id {format_tax_id(digits)} is already on the watchlist ({current.name}, "
            f"added {current.added_on}): change that entry's expiry or remove it first"
        )
    entry = WatchlistEntry(
        tax_id=digits,
        name=name,
        reason=reason,
        added_by_id=actor.id,
        added_by=actor.email,
        added_on=today,
        expires_on=expires_on,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        "watchlist.added",
        actor=actor,
        target=entry,
        detail={
            "tax_id": digits,
            "name": name,
            "expires_on": expires_on.isoformat() if expires_on else None,
        },
    )
    return entry


def _live_entry(session: Session, entry_id: int, today: date) -> WatchlistEntry:
    entry = session.get(WatchlistEntry, entry_id)
    if entry is None:
        raise NotFound("no such watchlist entry")
    if entry.removed_on is not None:
        raise ValidationFailed(f"the entry for {entry.name} was removed on {entry.removed_on}")
    return entry


def set_expiry(
    session: Session, entry_id: int, *, expires_on: date | None, actor: User, today: date
) -> WatchlistEntry:
    """Change an entry's expiry to `expires_on` (today or later: it matches through that day;
    None: until removed). A removed entry cannot be changed. Flush only; audited."""
    entry = _live_entry(session, entry_id, today)
    if expires_on is not None and expires_on < today:
        raise ValidationFailed(f"the expiry {expires_on} is in the past: enter today or later")
    before = entry.expires_on
    entry.expires_on = expires_on
    session.flush()
    audit.record(
        session,
        "watchlist.expiry_set",
        actor=actor,
        target=entry,
        detail={
            "from": before.isoformat() if before else None,
            "to": expires_on.isoformat() if expires_on else None,
        },
    )
    return entry


def remove_entry(
    session: Session, entry_id: int, *, reason: str, actor: User, today: date
) -> WatchlistEntry:
    """Take an entry off the watchlist from `today` (it no longer matches; the entry is kept
    with who removed it and why, required). Flush only; audited."""
    entry = _live_entry(session, entry_id, today)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("say why the entry is removed")
    if len(reason) > REASON_MAX:
        raise ValidationFailed(f"the reason is limited to {REASON_MAX} characters")
    entry.removed_on = max(today, entry.added_on)
    entry.removed_by_id, entry.removed_by = actor.id, actor.email
    entry.removed_reason = reason
    session.flush()
    audit.record(session, "watchlist.removed", actor=actor, target=entry, detail={"reason": reason})
    return entry


@dataclass(frozen=True)
class EntryRow:
    """An entry as the staff list shows it, with its status on the day."""

    entry: WatchlistEntry
    status: str  # "active", "expired", "removed"
    groups: tuple[EmployerGroup, ...]  # groups with this tax id

    @property
    def tax_id(self) -> str:
        return format_tax_id(self.entry.tax_id)


def status_on(entry: WatchlistEntry, on: date) -> str:
    if entry.removed_on is not None and on >= entry.removed_on:
        return "removed"
    if entry.expires_on is not None and on > entry.expires_on:
        return "expired"
    return "active"


STATUSES = ("active", "expired", "removed")


def entries(
    session: Session, on: date, *, status: str = "active", search: str = ""
) -> list[EntryRow]:
    """The entries with `status` on `on` ("active", "expired", "removed"; "all" for every
    one), newest first; `search`: part of the name or the tax id (dashes ignored). Each with
    the groups that have its tax id. Two queries."""
    query = select(WatchlistEntry).order_by(WatchlistEntry.added_on.desc(), WatchlistEntry.id)
    text = (search or "").strip()
    if text:
        digits = normalise_tax_id(text)
        found_by = [WatchlistEntry.name.ilike(f"%{text}%")]
        if digits.isdigit():
            found_by.append(WatchlistEntry.tax_id.contains(digits))
        query = query.where(or_(*found_by))
    found = [e for e in session.scalars(query) if status == "all" or status_on(e, on) == status]
    by_tax_id = groups_by_tax_id(session, {e.tax_id for e in found})
    return [EntryRow(e, status_on(e, on), tuple(by_tax_id.get(e.tax_id, ()))) for e in found]


def groups_by_tax_id(session: Session, tax_ids: Iterable[str]) -> dict[str, list[EmployerGroup]]:
    """The groups whose normalised tax id is one of `tax_ids`, by that tax id."""
    ids = sorted(set(tax_ids))
    if not ids:
        return {}
    normalised = _normalised_column(EmployerGroup.tax_id)
    found: dict[str, list[EmployerGroup]] = {}
    for group in session.scalars(
        select(EmployerGroup).where(normalised.in_(ids)).order_by(EmployerGroup.group_number)
    ):
        found.setdefault(normalise_tax_id(group.tax_id), []).append(group)
    return found


def matches(session: Session, tax_id: str, on: date) -> list[WatchlistEntry]:
    """The entries active on `on` for `tax_id` (dashes and spaces ignored)."""
    digits = normalise_tax_id(tax_id)
    if not digits:
        return []
    return list(
        session.scalars(
            select(WatchlistEntry)
            .where(WatchlistEntry.tax_id == digits, *_active(on))
            .order_by(WatchlistEntry.id)
        )
    )


def watched_group_ids(session: Session, on: date) -> dict[int, list[WatchlistEntry]]:
    """Every group whose tax id is on the watchlist on `on`, with its entries. One query."""
    normalised = _normalised_column(EmployerGroup.tax_id)
    rows = session.execute(
        select(EmployerGroup.id, WatchlistEntry)
        .join(WatchlistEntry, WatchlistEntry.tax_id == normalised)
        .where(*_active(on))
        .order_by(EmployerGroup.id, WatchlistEntry.id)
    )
    found: dict[int, list[WatchlistEntry]] = {}
    for group_id, entry in rows:
        found.setdefault(group_id, []).append(entry)
    return found


def warning(group_number: str, group_name: str, entry: WatchlistEntry) -> str:
    """The words of one match: the group, the entry and what to do."""
    until = f" until {entry.expires_on:%b %-d, %Y}" if entry.expires_on else ""
    return (
        f"Group {group_number} ({group_name}), tax id {format_tax_id(entry.tax_id)}, is on the "
        f"credit-control watchlist as {entry.name}{until}: {entry.reason} (added by "
        f"{entry.added_by} on {entry.added_on:%b %-d, %Y}). Review its credit terms before "
        "extending it credit."
    )


def setup_warnings(session: Session, groups: Iterable[tuple[str, str, str]], on: date) -> list[str]:
    """The warnings for groups being set up or renewed: (group number, name, tax id) each; one
    line per active entry matching a group's tax id. Reads only; a match refuses nothing."""
    wanted = [(num, name, normalise_tax_id(tax)) for num, name, tax in groups]
    digits = {tax for _, _, tax in wanted if tax}
    if not digits:
        return []
    by_tax: dict[str, list[WatchlistEntry]] = {}
    for entry in session.scalars(
        select(WatchlistEntry)
        .where(WatchlistEntry.tax_id.in_(sorted(digits)), *_active(on))
        .order_by(WatchlistEntry.id)
    ):
        by_tax.setdefault(entry.tax_id, []).append(entry)
    return [
        f"{warning(num, name, e)} The import went ahead all the same."
        for num, name, tax in wanted
        for e in by_tax.get(tax, [])
    ]

"""The demo's logins: one per role, every one with DEMO_PASSWORD, staff with the published
authenticator key as their second factor, and the story each login shows (`group_story`), told
from the same specs and paying habits that build the book."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.demo.book import AGENCIES, GROUPS, GroupSpec, paying_habits
from billing_core.models import User
from billing_core.models.enums import PaymentMethod, PaymentSource, Role
from billing_core.users import second_factor

DEMO_PASSWORD = "demo-password-2026"  # nosec B105 # the demo's published logins
# Demo staff log in with a second factor like all staff: this authenticator key is published
# with the demo logins (development only, like the password). Add it to any TOTP app.
DEMO_TOTP_SECRET = "DEMOSTAFFSECONDFACTORKEYFORDEMOS"  # nosec B105 # published, as above
SPECIALIST_EMAIL = "billing@carrier.example.com"
SUPERVISOR_EMAIL = "supervisor@carrier.example.com"


def demo_logins() -> list[dict]:
    """One row per demo login: role, email, password, the group it opens (`group`, empty for
    staff) and the story it shows there (`story`: who stopped paying, who is self-billed, who
    has subgroups...), told from the same specs and paying habits that build the book. `note`
    is the two in one line."""
    logins = [
        _login(
            "employer",
            f"hr@{spec.slug}.example.com",
            f"{spec.number} {spec.name}",
            group_story(spec),
        )
        for spec in GROUPS
    ]
    northstar = next(spec for spec in GROUPS if spec.number == "G-1008")
    logins.append(
        _login(
            "employer",
            "hr-houston@northstarretail.example.com",
            f"{northstar.number} {northstar.name}",
            "a location's HR contact: sees the Houston stores subgroup only (its members and "
            "upload), not the whole group",
        )
    )
    # late_groups imports this module's names: imported here, when the logins are listed.
    from billing_core.demo.late_groups import LATE_GROUPS, late_group_login

    logins += [
        _login(
            "employer",
            late_group_login(late),
            f"{late.spec.number} {late.spec.name}",
            f"late payer, {late.state.replace('_', ' ')}: {late.story}",
        )
        for late in LATE_GROUPS
    ]
    from billing_core.demo.commissions import SPLIT_GROUP  # imports this module's names

    for agency in AGENCIES:
        numbers = [spec.number for spec in GROUPS if spec.agency == agency["code"]]
        late_payers = (  # the late groups are Harbor's (Marcus Lee writes them)
            f" and the {len(LATE_GROUPS)} late payers {LATE_GROUPS[0].spec.number} to "
            f"{LATE_GROUPS[-1].spec.number}, whose commission is held while they are delinquent"
        )
        if SPLIT_GROUP not in numbers:  # shared with Harbor (60/40) from mid-history
            numbers.append(SPLIT_GROUP)
        for broker in agency["brokers"]:
            logins.append(
                _login(
                    "broker",
                    broker["email"],
                    "",
                    f"{broker['full_name']}, {agency['name']}: the book of "
                    f"{len(numbers)} group{'s' if len(numbers) > 1 else ''} "
                    f"({', '.join(numbers)}; {SPLIT_GROUP} shared 60/40 between the agencies)"
                    f"{late_payers if agency['code'] == 'HARBOR' else ''}, "
                    "premium billed and collected, who is late, monthly commission statements "
                    "(PDF/CSV/XLSX) with holds and chargebacks, the compensation disclosure; "
                    "never member names",
                )
            )
    logins += [
        _login(
            "billing_specialist",
            SPECIALIST_EMAIL,
            "",
            "staff: Today's work queue, upload reviews, cash, suspense (a lockbox check "
            "waiting), billing runs",
        ),
        _login(
            "supervisor",
            SUPERVISOR_EMAIL,
            "",
            "staff: approvals (adjustments above the limit, refunds, voids) and the audit log",
        ),
        _login("admin", "admin@carrier.example.com", "", "staff: everything, and users"),
    ]
    return logins


def _login(role: str, email: str, group: str, story: str) -> dict:
    login = {
        "role": role,
        "email": email,
        "password": DEMO_PASSWORD,
        "group": group,
        "story": story,
        "note": f"{group}: {story}" if group else story,
    }
    if Role(role).is_staff:
        login["authenticator_key"] = DEMO_TOTP_SECRET
    return login


def enrol_staff(session: Session, at: datetime) -> None:
    """The demo's staff have their second factor set up with DEMO_TOTP_SECRET, and ten recovery
    codes nobody was shown (renew them on the Second factor page to see a set), so logging in
    does not warn that none are left."""
    for user in session.scalars(select(User).where(User.totp_confirmed_at.is_(None))):
        if user.role.is_staff:
            user.totp_secret_encrypted = second_factor.encrypt_secret(DEMO_TOTP_SECRET)
            user.totp_confirmed_at = at
            second_factor.new_recovery_codes(user)
    session.flush()


PAYS_BY = {
    PaymentMethod.CARD: "pays by card online",
    PaymentMethod.ACH_DEBIT: "pays online from its bank account",
    PaymentMethod.CHECK: "pays by check",
    PaymentMethod.ACH_CREDIT: "pays by ACH credit",
    PaymentMethod.WIRE: "pays by wire",
    PaymentMethod.LOCKBOX: "pays by check to the lockbox",
}
# The late-reported changes of `late_changes`, by group: what the latest bills' retro shows.
LATE_CHANGE_STORIES = {
    "G-1005": "a termination reported late, credited as retro",
    "G-1007": "a new hire reported late, billed as retro",
    "G-1004": "a marriage (EE to ES) found at reconciliation, billed as retro",
    "G-1008": "a termination at the distribution center, credited on its own bill",
}


def group_story(spec: GroupSpec) -> str:
    """What a demo group shows on the screens, in a line: size, how it is billed (self-billed,
    quarterly, subgroups and which are billed separately) and how it pays (`paying_habits`: late,
    short, over, returned, stopped paying)."""
    habit = paying_habits(date.today())[spec.number]
    parts = [f"{spec.size:,} members"]
    parts.append("self-billed (reports its own premium)" if spec.method == "self_bill" else "")
    if spec.frequency != "monthly":
        parts.append(f"billed {spec.frequency}")
    if spec.subgroups:
        names = [name for _, name, _, _ in spec.subgroups]
        separate = [name for _, name, _, alone in spec.subgroups if alone]
        kinds = "locations" if spec.subgroups[0][2] == "location" else "divisions"
        text = f"{len(names)} subgroups ({kinds}: {', '.join(names)})"
        if separate:
            text += f", {', '.join(separate)} billed separately"
        parts.append(text)
    if spec.size == max(g.size for g in GROUPS):
        parts.append("the book's largest bill, too large for a card")
    if habit.stops_paying_after is not None:
        parts.append("STOPPED PAYING last month: its latest bills are past due")
    else:
        pays = PAYS_BY[habit.method]
        if habit.source is PaymentSource.REMITTANCE_820:
            pays += " with an 820 remittance"
        days = abs(habit.days_after_due)
        when = f"{days} day{'' if days == 1 else 's'}"
        if habit.days_after_due > 0:
            pays += f", always about {when} late"
        elif habit.days_after_due < 0:
            pays += f", {when} early"
        parts.append(pays)
    if habit.short_by:
        parts.append(f"one payment ${habit.short_by} short, written off inside tolerance")
    if habit.over_by:
        parts.append(f"one overpayment of ${habit.over_by}, its credit used on the next bill")
    if habit.returned_once:
        parts.append("one payment returned NSF, paid again by wire")
    if spec.number in LATE_CHANGE_STORIES:
        parts.append(LATE_CHANGE_STORIES[spec.number])
    return "; ".join(part for part in parts if part)

"""Payee bank details (issue 21, item 6): an agency's (or an employer group's, for refunds by
ACH) routing number, account number, account type and name on the account, entered by staff or
uploaded for many agencies at once. The account number is encrypted at rest and shown masked.
Any new details, a first set or a change, pay nothing until a staff member other than who
entered them confirms them (a change of bank details is a common fraud); until then the
details in force stay in force. Every step is audited."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.db import utcnow
from billing_core.errors import AccessDenied, CommissionError, RowError, ValidationFailed
from billing_core.models import BrokerAgency, EmployerGroup, User
from billing_core.models.commissions import (
    BankAccountType,
    PayeeAccount,
    PayeeAccountStatus,
    PayeeKind,
)
from billing_core.security import vault

UPLOAD_COLUMNS = ("agency_code", "name_on_account", "routing_number", "account_number",
                  "account_type")  # fmt: skip
OPTIONAL_COLUMNS = ("payee_kind",)
MAX_UPLOAD_ROWS = 5000


def aba_check_digit_ok(routing: str) -> bool:
    """An ABA routing number's ninth digit checks the other eight: 3, 7, 1 weights repeated
    over the nine digits sum to a multiple of 10."""
    if len(routing) != 9 or not routing.isdigit():
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(routing, weights, strict=True)) % 10 == 0


@dataclass(frozen=True)
class BankDetails:
    """Bank details as entered, checked by `details_problems` before anything is kept."""

    name_on_account: str
    routing_number: str
    account_number: str
    account_type: str
    payee_kind: str = PayeeKind.COMPANY.value

    @classmethod
    def of(cls, **fields) -> BankDetails:
        clean = {k: ("" if v is None else str(v)).strip() for k, v in fields.items()}
        clean["routing_number"] = clean.get("routing_number", "").replace(" ", "")
        clean["account_number"] = clean.get("account_number", "").replace(" ", "")
        clean["account_type"] = clean.get("account_type", "").lower()
        clean["payee_kind"] = (clean.get("payee_kind") or PayeeKind.COMPANY.value).lower()
        return cls(**clean)


def details_problems(details: BankDetails, row: int | None = None) -> list[RowError]:
    """Every problem with `details` (empty: they may be kept), each naming its column."""
    problems = []

    def bad(column: str, message: str, value: str | None = None) -> None:
        problems.append(RowError(row, column, message, value=value))

    name = details.name_on_account
    if not name:
        bad("name_on_account", "enter the name on the account")
    elif len(name) > 22:
        bad("name_on_account", "at most 22 characters (the ACH file's name field)", name)
    routing = details.routing_number
    if not (len(routing) == 9 and routing.isdigit()):
        bad("routing_number", "a routing number is 9 digits", routing)
    elif not aba_check_digit_ok(routing):
        bad("routing_number", "not a valid ABA routing number (its check digit is wrong)",
            routing)  # fmt: skip
    account = details.account_number
    if not (account.isdigit() and 4 <= len(account) <= 17):
        bad("account_number", "an account number is 4 to 17 digits")  # never echoed
    if details.account_type not in {t.value for t in BankAccountType}:
        bad("account_type", "checking or savings", details.account_type)
    if details.payee_kind not in {k.value for k in PayeeKind}:
        bad("payee_kind", "company or person", details.payee_kind)
    return problems


def _check_staff(actor: User) -> None:
    if actor is None or not actor.role.is_staff:
        raise AccessDenied("only billing staff enter or confirm bank details")


def _payee_filter(agency: BrokerAgency | None, group: EmployerGroup | None):
    if (agency is None) == (group is None):
        raise ValueError("bank details belong to an agency or to a group")
    if agency is not None:
        return PayeeAccount.agency_id == agency.id
    return PayeeAccount.group_id == group.id


def accounts_of(
    session: Session, *, agency: BrokerAgency | None = None, group: EmployerGroup | None = None
) -> list[PayeeAccount]:
    """Every set of details the payee ever had, newest first."""
    return list(
        session.scalars(
            select(PayeeAccount)
            .where(_payee_filter(agency, group))
            .order_by(PayeeAccount.id.desc())
        )
    )


def account_in_force(
    session: Session, *, agency: BrokerAgency | None = None, group: EmployerGroup | None = None
) -> PayeeAccount | None:
    """The confirmed details payments go to (None: the payee cannot be paid by ACH yet)."""
    return session.scalar(
        select(PayeeAccount).where(
            _payee_filter(agency, group), PayeeAccount.status == PayeeAccountStatus.ACTIVE
        )
    )


def pending_change(
    session: Session, *, agency: BrokerAgency | None = None, group: EmployerGroup | None = None
) -> PayeeAccount | None:
    """Details entered and waiting for a second person, if any."""
    return session.scalar(
        select(PayeeAccount).where(
            _payee_filter(agency, group), PayeeAccount.status == PayeeAccountStatus.PENDING
        )
    )


def _payee_name(agency: BrokerAgency | None, group: EmployerGroup | None) -> str:
    return f"agency {agency.code}" if agency is not None else f"group {group.group_number}"


def enter_bank_details(
    session: Session,
    details: BankDetails,
    *,
    actor: User,
    agency: BrokerAgency | None = None,
    group: EmployerGroup | None = None,
    source: str = "entered by hand",
) -> PayeeAccount:
    """Keep new bank details for the payee as PENDING: they pay nothing until another staff
    member confirms them (`confirm_bank_details`); the details in force stay in force. Refused
    (ValidationFailed, every problem named) when the details are wrong, and (CommissionError)
    while another change waits for its confirmation."""
    _check_staff(actor)
    problems = details_problems(details)
    if problems:
        raise ValidationFailed("The bank details were not kept", problems)
    if pending_change(session, agency=agency, group=group) is not None:
        raise CommissionError(
            f"a change of bank details for {_payee_name(agency, group)} is already waiting for "
            "a second person: confirm or reject it first"
        )
    account = PayeeAccount(
        agency_id=agency.id if agency is not None else None,
        group_id=group.id if group is not None else None,
        payee_kind=PayeeKind(details.payee_kind),
        name_on_account=details.name_on_account,
        routing_number=details.routing_number,
        account_number_encrypted=vault().encrypt_text(details.account_number),
        account_last4=details.account_number[-4:],
        account_type=BankAccountType(details.account_type),
        status=PayeeAccountStatus.PENDING,
        source=source[:200],
        entered_by_id=actor.id,
    )
    session.add(account)
    session.flush()
    audit.record(
        session,
        "payee.bank_details_entered",
        actor=actor,
        target=account,
        group_id=account.group_id,
        detail={"payee": _payee_name(agency, group), "routing_number": details.routing_number,
                "account": account.account_masked, "source": account.source},
    )  # fmt: skip
    return account


def _check_pending(account: PayeeAccount) -> None:
    if account.status is not PayeeAccountStatus.PENDING:
        raise CommissionError(f"these bank details are already {account.status.value}")


def confirm_bank_details(session: Session, account: PayeeAccount, *, actor: User) -> None:
    """A second staff member (never who entered them) confirms pending details: they take
    effect now and the details in force before are superseded."""
    _check_staff(actor)
    _check_pending(account)
    if actor.id == account.entered_by_id:
        raise AccessDenied(
            "a change of bank details needs a second person: you entered it, so another staff "
            "member must confirm it"
        )
    agency = session.get(BrokerAgency, account.agency_id) if account.agency_id else None
    group = session.get(EmployerGroup, account.group_id) if account.group_id else None
    was = account_in_force(session, agency=agency, group=group)
    if was is not None:
        was.status = PayeeAccountStatus.SUPERSEDED
        session.flush()
    account.status = PayeeAccountStatus.ACTIVE
    account.decided_by_id = actor.id
    account.decided_at = utcnow()
    session.flush()
    audit.record(
        session,
        "payee.bank_details_confirmed",
        actor=actor,
        target=account,
        group_id=account.group_id,
        detail={"payee": _payee_name(agency, group), "account": account.account_masked,
                "replaces": was.account_masked if was is not None else None},
    )  # fmt: skip


def reject_bank_details(
    session: Session, account: PayeeAccount, *, actor: User, reason: str
) -> None:
    """Pending details refused by another staff member, or withdrawn by who entered them: they
    never take effect; the details in force stay."""
    _check_staff(actor)
    _check_pending(account)
    if not reason.strip():
        raise CommissionError("say why the bank details are rejected")
    account.status = PayeeAccountStatus.REJECTED
    account.decided_by_id = actor.id
    account.decided_at = utcnow()
    account.decision_note = reason.strip()[:300]
    session.flush()
    audit.record(
        session,
        "payee.bank_details_rejected",
        actor=actor,
        target=account,
        group_id=account.group_id,
        detail={"account": account.account_masked, "reason": account.decision_note},
    )


def account_number(account: PayeeAccount) -> str:
    """The full account number (only the ACH file needs it)."""
    return vault().decrypt(account.account_number_encrypted)


def read_upload(filename: str, data: bytes) -> list[dict[str, str]]:
    """The rows of a CSV or XLSX upload as text, keyed by lower-case column name."""
    name = filename.lower()
    try:
        if name.endswith(".xlsx"):
            frame = pd.read_excel(io.BytesIO(data), engine="calamine", dtype=str)
            frame = frame.fillna("")
        elif name.endswith(".csv"):
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        else:
            raise ValidationFailed("Upload a .csv or .xlsx file of bank details")
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationFailed):
            raise
        raise ValidationFailed(f"{filename} could not be read as a CSV or XLSX file") from exc
    frame.columns = [str(c).strip().lower().replace(" ", "_") for c in frame.columns]
    return [{k: str(v) for k, v in row.items()} for row in frame.to_dict("records")]


def upload_bank_details(
    session: Session, filename: str, data: bytes, *, actor: User
) -> list[PayeeAccount]:
    """Bank details for many agencies from one file (columns `UPLOAD_COLUMNS`, optionally
    `payee_kind`), each kept pending like details entered by hand. All or nothing: when any row
    is wrong (an unknown agency, a bad routing number, an agency listed twice or with a change
    already waiting), ValidationFailed names every bad row and column and nothing is kept."""
    _check_staff(actor)
    rows = read_upload(filename, data)
    if not rows:
        raise ValidationFailed(f"{filename} has no rows of bank details")
    if len(rows) > MAX_UPLOAD_ROWS:
        raise ValidationFailed(f"{filename} has more than {MAX_UPLOAD_ROWS} rows; split it")
    missing = [c for c in UPLOAD_COLUMNS if c not in rows[0]]
    if missing:
        raise ValidationFailed(
            f"{filename} lacks the column(s) {', '.join(missing)}; the columns are "
            f"{', '.join(UPLOAD_COLUMNS)} (and optionally payee_kind)"
        )
    codes = {r["agency_code"].strip() for r in rows}
    agencies = {
        a.code: a for a in session.scalars(select(BrokerAgency).where(BrokerAgency.code.in_(codes)))
    }
    waiting = set(
        session.scalars(
            select(PayeeAccount.agency_id).where(
                PayeeAccount.status == PayeeAccountStatus.PENDING,
                PayeeAccount.agency_id.is_not(None),
            )
        )
    )
    errors: list[RowError] = []
    planned: list[tuple[BrokerAgency, BankDetails]] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        code = row["agency_code"].strip()
        details = BankDetails.of(**{c: row.get(c, "") for c in UPLOAD_COLUMNS[1:]},
                                 payee_kind=row.get("payee_kind", ""))  # fmt: skip
        row_errors = details_problems(details, number)
        agency = agencies.get(code)
        if agency is None:
            row_errors.insert(0, RowError(number, "agency_code", "no agency has this code",
                                          value=code))  # fmt: skip
        elif code in seen:
            row_errors.insert(0, RowError(number, "agency_code",
                                          f"this agency is already on row {seen[code]}",
                                          value=code))  # fmt: skip
        elif agency.id in waiting:
            row_errors.insert(0, RowError(number, "agency_code",
                                          "a change for this agency already waits for a second "
                                          "person: confirm or reject it first", value=code))  # fmt: skip
        seen.setdefault(code, number)
        errors.extend(row_errors)
        if not row_errors:
            planned.append((agency, details))
    if errors:
        raise ValidationFailed(
            f"{filename}: nothing was kept; fix these rows, then upload the whole file again",
            errors,
        )
    source = f"uploaded in {filename}"
    return [
        enter_bank_details(session, details, actor=actor, agency=agency, source=source)
        for agency, details in planned
    ]


def waiting_changes(session: Session) -> Sequence[PayeeAccount]:
    """Every change waiting for a second person, oldest first (the payments page lists them)."""
    return list(
        session.scalars(
            select(PayeeAccount)
            .where(PayeeAccount.status == PayeeAccountStatus.PENDING)
            .order_by(PayeeAccount.id)
        )
    )


@dataclass(frozen=True)
class PayeeRow:
    """One agency on the payments page: its details in force and a change waiting, if any."""

    agency: BrokerAgency
    in_force: PayeeAccount | None
    pending: PayeeAccount | None


def agency_payees(session: Session) -> list[PayeeRow]:
    """Every agency by code with its details in force and its pending change (two reads)."""
    agencies = session.scalars(select(BrokerAgency).order_by(BrokerAgency.code)).all()
    live = session.scalars(
        select(PayeeAccount).where(
            PayeeAccount.agency_id.is_not(None),
            PayeeAccount.status.in_([PayeeAccountStatus.ACTIVE, PayeeAccountStatus.PENDING]),
        )
    ).all()
    by_agency: dict[tuple[int, PayeeAccountStatus], PayeeAccount] = {
        (a.agency_id, a.status): a for a in live
    }
    return [
        PayeeRow(
            agency,
            by_agency.get((agency.id, PayeeAccountStatus.ACTIVE)),
            by_agency.get((agency.id, PayeeAccountStatus.PENDING)),
        )
        for agency in agencies
    ]


def user_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    """Staff names by id, for "entered by" and "confirmed by"."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.full_name).where(User.id.in_(wanted))).all())

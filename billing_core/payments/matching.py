"""The one cash matcher: which group and invoices money speaks of, from what a payer wrote (a
bank, lockbox or 820 item: billing_core.payments.imports) or what staff typed (the suspense
workbench and the record-a-payment form: billing_core.payments.review.find_group).

The rules, in order (`Matcher.match`): the invoice numbers quoted (issued invoices only), the
group number, the trace number of money already recorded, the remitter's name. Where the import
and the workbench used to differ, the stricter (or more correct) rule is kept:
- a group number matches whatever its case (the workbench's rule: the import upper-cased what
  it read and missed a number stored otherwise); a bare number also reads as `G-<number>`;
- a name matches when it is a group's name ignoring case, punctuation and Inc/LLC/Co/The, and
  only when exactly one group has it (the import took the first of several: cash must never go
  to a guessed group; with two candidates it waits in suspense for a person).
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.models import EmployerGroup, Invoice, Payment
from billing_core.models.enums import InvoiceStatus
from billing_core.payments.remittance import RemittanceItem

_SUFFIXES = re.compile(r"\b(inc|llc|ltd|co|corp|company|the|grp|group)\b\.?")


def plain_name(name: str | None) -> str:
    """A name as names are compared: lower case, letters and digits, no company suffixes."""
    if not name:
        return ""
    text = re.sub(r"[^a-z0-9 ]", " ", name.lower())
    return " ".join(_SUFFIXES.sub(" ", text).split())


class Matcher:
    """Finds the group and invoices money speaks of, remembering lookups (one file's worth)."""

    def __init__(self, session: Session):
        self.session = session
        self._invoices: dict[str, Invoice | None] = {}
        self._groups: dict[str, EmployerGroup | None] = {}
        # plain name -> the id of the one group of that name (None: several), read once
        self._names: dict[str, int | None] | None = None

    def invoice(self, number: str | None) -> Invoice | None:
        """The issued invoice numbered `number` (any case, spaces around ignored)."""
        if not number:
            return None
        key = number.strip().upper()
        if key not in self._invoices:
            self._invoices[key] = self.session.scalar(
                select(Invoice).where(
                    Invoice.invoice_number == key, Invoice.status == InvoiceStatus.ISSUED
                )
            )
        return self._invoices[key]

    def group(self, number: str | None) -> EmployerGroup | None:
        """The group numbered `number`, whatever its case; a bare number also as `G-<number>`."""
        if not number:
            return None
        key = number.strip().upper()
        if key not in self._groups:
            candidates = [key] + ([f"G-{key}"] if key.isdigit() else [])
            self._groups[key] = self.session.scalars(
                select(EmployerGroup)
                .where(func.upper(EmployerGroup.group_number).in_(candidates))
                .order_by(func.upper(EmployerGroup.group_number) != key)  # the exact one first
            ).first()
        return self._groups[key]

    def by_name(self, name: str | None) -> EmployerGroup | None:
        """The one group whose name is `name` (compared as `plain_name`); None when no group
        or several have it."""
        plain = plain_name(name)
        if not plain:
            return None
        if self._names is None:
            self._names = {}
            for group_id, group_name in self.session.execute(
                select(EmployerGroup.id, EmployerGroup.name)
            ):
                key = plain_name(group_name)
                self._names[key] = None if key in self._names else group_id
        group_id = self._names.get(plain)
        return self.session.get(EmployerGroup, group_id) if group_id is not None else None

    def by_remitter(self, payer_name: str | None) -> EmployerGroup | None:
        """The one group of the payer's name (`by_name`), else the group an earlier payment
        from the same payer was identified to."""
        if not plain_name(payer_name):
            return None
        found = self.by_name(payer_name)
        if found is not None:
            return found
        group_id = self.session.scalar(
            select(Payment.group_id)
            .where(func.upper(Payment.payer_name) == payer_name.strip().upper())
            .where(Payment.group_id.is_not(None))
            .order_by(Payment.id.desc())
            .limit(1)
        )
        return self.session.get(EmployerGroup, group_id) if group_id else None

    def by_trace(self, reference: str | None) -> EmployerGroup | None:
        """The group of money already recorded under the same trace number."""
        if not reference:
            return None
        group_id = self.session.scalar(
            select(Payment.group_id)
            .where(Payment.reference == reference, Payment.group_id.is_not(None))
            .order_by(Payment.id.desc())
            .limit(1)
        )
        return self.session.get(EmployerGroup, group_id) if group_id else None

    def match(self, item: RemittanceItem) -> tuple[EmployerGroup | None, list[Invoice], str]:
        """(group, invoices quoted that were found and are the group's, note on what did not
        match): see the module docstring for the order."""
        quoted = [ref.invoice_number for ref in item.invoice_refs]
        found = [invoice for invoice in map(self.invoice, quoted) if invoice is not None]
        group = (
            self.group(item.group_number)
            or (self.session.get(EmployerGroup, found[0].group_id) if found else None)
            or self.by_trace(item.reference)
            or self.by_remitter(item.payer_name)
        )
        if group is None:
            what = ", ".join(filter(None, [item.group_number, *quoted, item.payer_name]))
            return None, [], f"no group matches {what or 'this payment'}"
        ours = [invoice for invoice in found if invoice.group_id == group.id]
        missing = [n for n in quoted if n.strip().upper() not in {i.invoice_number for i in ours}]
        note = (
            f"invoice(s) not found for {group.group_number}: {', '.join(missing)}"
            if missing
            else ""
        )
        return group, ours, note

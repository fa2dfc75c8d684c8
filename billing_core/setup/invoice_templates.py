"""The set-up document's `invoice_template:` section of a group (issue 22, item 3): the same
template the staff page saves, read and checked by the same rules
(`billing.invoice_templates.checked`) and written by the same function (`save_template`, which
audits the change with before and after). Left out: the group's template is left as it is.

    invoice_template:
      sections: [summary_by_plan, adjustments, member_detail, remit_slip]  # left out: all
      subtotal_by: subgroup            # subgroup, product, class, location; left out: none
      subgroup_billing: per_subgroup   # per_subgroup, consolidated, separately
      reference_fields:
        - {label: PO number, value: PO-55821}
      remit_to: |
        Cedar Life Lockbox
        PO Box 9911
      message: Thank you for your business.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billing_core.billing.invoice_templates import (
    SECTIONS,
    TemplateChoice,
    TemplateRefused,
    checked,
    save_template,
)
from billing_core.models import EmployerGroup
from billing_core.setup.document import Checker, join_path

__all__ = ["check_invoice_template", "write_invoice_template"]

KEYS = ("sections", "subtotal_by", "subgroup_billing", "reference_fields", "remit_to", "message")
# A form field's name (the rules name problems by it) -> where it is in the document.
_WHERE = {"reference_label": "label", "reference_value": "value"}


def check_invoice_template(c: Checker, item: dict, path: str) -> TemplateChoice | None:
    """The group's `invoice_template` read and checked (None when left out); every problem named
    by its path in the document."""
    raw = item.get("invoice_template")
    if raw is None:
        return None
    here = join_path(path, "invoice_template")
    if not isinstance(raw, dict):
        c.error(here, "expected a mapping of field: value", type(raw).__name__)
        return None
    for key in raw:
        if key not in KEYS:
            c.error(join_path(here, str(key)), "unknown field; expected one of: " + ", ".join(KEYS))
    sections = raw.get("sections", list(SECTIONS))
    if not isinstance(sections, list):
        c.error(join_path(here, "sections"), "expected a list", type(sections).__name__)
        sections = list(SECTIONS)
    fields = []
    for fpath, pair in c.items(raw, "reference_fields", here):
        if not isinstance(pair, dict) or set(pair) - {"label", "value"}:
            c.error(fpath, "expected a mapping with label and value", pair)
            continue
        fields.append((str(pair.get("label") or ""), str(pair.get("value") or "")))
    try:
        return checked(
            TemplateChoice(
                sections=tuple(str(s) for s in sections),
                subtotal_by=raw.get("subtotal_by") or None,
                subgroup_billing=raw.get("subgroup_billing") or "per_subgroup",
                reference_fields=tuple(fields),
                remit_to=str(raw.get("remit_to") or ""),
                message=str(raw.get("message") or ""),
            )
        )
    except TemplateRefused as refused:
        for name, message in refused.errors.items():
            kind, _, number = name.rpartition("_")
            if kind in _WHERE:
                where = join_path(
                    join_path(join_path(here, "reference_fields"), int(number) - 1), _WHERE[kind]
                )
            else:
                where = join_path(here, name)
            c.error(where, message)
        return None


def write_invoice_template(
    session: Session, group: EmployerGroup, choice: TemplateChoice | None, actor: Any = None
) -> None:
    """Save the checked template (nothing when left out or unchanged)."""
    if choice is not None:
        save_template(session, group, choice, actor=actor, actor_email="setup import")

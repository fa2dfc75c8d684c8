"""Group set-up: products, broker agencies, groups (policies, subgroups, classes, plans and rate
versions, members with dependents and coverages) and users, from one YAML or JSON document.
Validation returns every problem at once; the import writes nothing unless the whole document is
valid, is keyed on natural keys, and re-importing the same document is a no-op.

One module per section of the document, each checking and writing its own rows: products.py,
agencies.py, groups.py (policies, subgroups, classes, brokers of record), plans.py (and rate
versions), members.py (dependents, coverages), users.py. document.py reads the file and holds
the field specs and the checker; facts.py what the database already holds; writing.py the
create-or-update every section shares. This module runs the sections in the document's order.

The format is documented in docs/setup-format.md."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billing_core.audit import record
from billing_core.db import utcnow
from billing_core.errors import RowError, ValidationFailed
from billing_core.models import User
from billing_core.setup.agencies import check_agencies, write_agencies
from billing_core.setup.document import Checker, load_document
from billing_core.setup.facts import DbFacts, Existing
from billing_core.setup.groups import check_groups, warn_watched, write_group
from billing_core.setup.plans import billed_conflicts
from billing_core.setup.products import check_products, write_products
from billing_core.setup.users import check_users, write_user
from billing_core.setup.writing import ImportSummary

__all__ = ["ImportSummary", "import_setup", "load_document", "validate_setup_document"]

TOP_LEVEL_KEYS = ("products", "broker_agencies", "groups", "users")


def validate_setup_document(
    doc: Any, source: str = "document", *, session: Session | None = None
) -> list[RowError]:
    """Every problem in `doc`, each with its path (e.g. `groups[1].plans[0].rate_versions[0]
    .tier_rates.FAM`), the message and the offending value; an empty list means valid.

    With `session`, references may also resolve to rows already in the database (a product
    code, an agency, a group's plans, subgroups, classes and a member's dependents). Money is
    read from strings or ints; a YAML float is read through str(value), never as a float."""
    errors, _ = _check(doc, source, DbFacts.load(session, doc))
    return errors


def import_setup(
    session: Session, doc: Any, *, actor: User | None = None, source: str = "document"
) -> ImportSummary:
    """Create or update everything `doc` describes, keyed on natural keys (see the module
    docstring and docs/setup-format.md). Validates first: on any problem raises
    ValidationFailed("<source>: N problems", errors) having written nothing. A billed rate
    version whose content differs is one of those problems (a new version must be added).

    Fields absent from the document are left as they are on existing rows (and take the model
    default on new ones); an explicit null clears an optional field. Records one
    `setup.imported` audit row when anything changed. A group whose tax id is on the
    credit-control watchlist today is imported all the same, with a line in
    `summary.warnings`. Flushes only; the caller commits."""
    facts = DbFacts.load(session, doc)
    errors, norm = _check(doc, source, facts)
    with session.no_autoflush:
        state = Existing.load(session, norm)
        errors += billed_conflicts(norm, state, source)
        if errors:
            raise ValidationFailed(f"{source}: {len(errors)} problems", errors)
        summary = ImportSummary()
        _write(session, norm, state, summary, actor=actor, source=source)
    if summary.changed:
        record(
            session,
            "setup.imported",
            actor=actor,
            detail={"source": source, **summary.as_dict()},
        )
    session.flush()
    return summary


def _group_fields(group) -> dict:
    return {name: getattr(group, name) for name in HISTORY_FIELDS}


def _record_group_change(
    session, values, state, summary, counted, before, actor, source, changes_from=0
):
    """One audit row on the group (its history) when the import created or changed anything of
    it: the group's own fields before and after, the changed fields of its existing subgroups,
    classes, policies, brokers of record and plans ("subgroup EAST name") before and after, and
    the rows created or updated by kind."""
    rows = {
        f"{kind.replace('_', ' ')} {outcome}": getattr(summary, outcome)[kind]
        - counted[outcome][kind]
        for outcome in ("created", "updated")
        for kind in summary.created
        if getattr(summary, outcome)[kind] != counted[outcome][kind]
    }
    if not rows:
        return
    group = state.groups[values["group_number"]]
    after = _group_fields(group)
    was = {k: v for k, v in before.items() if v != after[k]} if before else None
    now = {k: v for k, v in after.items() if before is None or v != before[k]}
    if was is not None:
        for kind, key, fields in summary.row_changes[changes_from:]:
            what = ROW_WORDS.get(kind, kind)
            for name, (old, new) in fields.items():
                label = f"{what} {key} {name.replace('_', ' ')}"
                was[label], now[label] = old, new
    record(
        session,
        "setup.group_changed",
        actor=actor,
        target=group,
        group_id=group.id,
        detail={"source": source, "before": was, "after": now, "rows": rows},
    )


ROW_WORDS = {
    "subgroups": "subgroup",
    "classes": "class",
    "billing_policies": "billing policy from",
    "brokers_of_record": "broker of record",
    "plans": "plan",
}


def _check(doc: Any, source: str, facts: DbFacts) -> tuple[list[RowError], dict]:
    """Validate and normalize the whole document, section by section (a later section may name
    what an earlier one declares); returns (errors, normalized)."""
    c = Checker(source)
    out: dict[str, list] = {key: [] for key in TOP_LEVEL_KEYS}
    if not isinstance(doc, dict):
        c.error("", "the document must be a mapping with keys such as groups")
        return c.errors, out
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            c.error(str(key), "unknown section; expected one of: " + ", ".join(TOP_LEVEL_KEYS))
    out["products"], product_basis = check_products(c, doc, facts.product_basis)
    out["broker_agencies"], agencies, broker_agency = check_agencies(c, doc, facts)
    out["groups"], group_subgroups = check_groups(
        c, doc, facts, product_basis, agencies, broker_agency
    )
    out["users"] = check_users(c, doc, group_subgroups, broker_agency)
    return c.errors, out


# The group's own fields a history entry shows before and after an import changed the group.
HISTORY_FIELDS = (
    "name",
    "tax_id",
    "contact_name",
    "contact_email",
    "contact_phone",
    "address_line1",
    "address_line2",
    "city",
    "address_state",
    "zip_code",
    "state",
    "renewal_month",
)


def _write(
    session: Session,
    norm: dict,
    state: Existing,
    summary: ImportSummary,
    *,
    actor: User | None = None,
    source: str = "document",
) -> None:
    write_products(session, norm["products"], state, summary)
    write_agencies(session, norm["broker_agencies"], state, summary)
    session.flush()
    for values in norm["groups"]:
        existing = state.groups.get(values["group_number"])
        before = _group_fields(existing) if existing is not None else None
        counted = summary.as_dict()
        changes_from = len(summary.row_changes)
        write_group(session, values, state, summary)
        _record_group_change(
            session, values, state, summary, counted, before, actor, source, changes_from
        )
    warn_watched(session, norm["groups"], summary, utcnow().date())
    for values in norm["users"]:
        write_user(session, values, state, summary)

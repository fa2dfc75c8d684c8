"""The `broker_agencies` section of a set-up document: agencies keyed on their code, each with its
brokers keyed on their NPN. A broker listed under another agency than before moves to it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing_core.models import Broker, BrokerAgency
from billing_core.setup.document import Checker, field_spec
from billing_core.setup.facts import DbFacts, Existing
from billing_core.setup.writing import ImportSummary, apply_values, upsert

AGENCY_FIELDS = (
    field_spec("code", required=True, max_len=20),
    field_spec("name", required=True, max_len=200),
    field_spec("tax_id", "strict_text", max_len=10),
)
BROKER_FIELDS = (
    field_spec("npn", required=True, max_len=20),
    field_spec("full_name", required=True, max_len=200),
    field_spec("email", "email", max_len=254),
)


def check_agencies(
    c: Checker, doc: dict, facts: DbFacts
) -> tuple[list[dict], set[str], dict[str, str]]:
    """The agencies read from `doc` (each with its `brokers`), then every agency code and the
    agency of every broker NPN a group or user may name (the database's and the document's)."""
    agencies = set(facts.agencies)
    broker_agency = dict(facts.broker_agency)
    rows, broker_rows = [], []
    for path, item in c.items(doc, "broker_agencies", ""):
        values = c.read(item, path, AGENCY_FIELDS, nested=("brokers",))
        if values is None:
            continue
        values["brokers"] = []
        for bpath, bitem in c.items(item, "brokers", path):
            bvalues = c.read(bitem, bpath, BROKER_FIELDS)
            if bvalues is None:
                continue
            values["brokers"].append(bvalues)
            broker_rows.append((bpath, bvalues))
            if bvalues.get("npn"):
                broker_agency[bvalues["npn"]] = values.get("code")
        rows.append((path, values))
        if values.get("code"):
            agencies.add(values["code"])
    c.unique(rows, "code", "agency code")
    c.unique(broker_rows, "npn", "broker NPN")
    return [v for _, v in rows], agencies, broker_agency


def write_agencies(
    session: Session, agencies: list[dict], state: Existing, summary: ImportSummary
) -> None:
    for values in agencies:
        agency, _ = upsert(
            session,
            summary,
            "broker_agencies",
            state.agencies,
            values["code"],
            values,
            BrokerAgency,
            skip=("brokers",),
        )
        for bvalues in values["brokers"]:
            broker = state.brokers.get(bvalues["npn"])
            if broker is None:
                broker = Broker(agency=agency, **bvalues)
                session.add(broker)
                state.brokers[bvalues["npn"]] = broker
                summary.count("brokers", "created")
            else:
                changed = apply_values(broker, bvalues)
                if broker.agency is not agency:
                    broker.agency = agency
                    changed = True
                summary.count("brokers", "updated" if changed else "unchanged")

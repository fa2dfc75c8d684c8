"""The `products` section of a set-up document: the carrier's global catalog, keyed on the product
code, each with its line of coverage and the rating basis every plan of it is rated on."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing_core.models import Product
from billing_core.models.enums import LineOfCoverage, RatingBasis
from billing_core.setup.document import Checker, field_spec
from billing_core.setup.facts import Existing
from billing_core.setup.writing import ImportSummary, upsert

PRODUCT_FIELDS = (
    field_spec("code", required=True, max_len=20),
    field_spec("name", required=True, max_len=200),
    field_spec("line_of_coverage", "enum", required=True, enum=LineOfCoverage),
    field_spec("rating_basis", "enum", required=True, enum=RatingBasis),
)


def check_products(
    c: Checker, doc: dict, known_basis: dict[str, RatingBasis]
) -> tuple[list[dict], dict[str, RatingBasis]]:
    """The products read from `doc`, and the rating basis of every product code a plan may name:
    `known_basis` (the database's) with the document's on top."""
    product_basis = dict(known_basis)
    rows = []
    for path, item in c.items(doc, "products", ""):
        values = c.read(item, path, PRODUCT_FIELDS)
        if values is None:
            continue
        rows.append((path, values))
        if values.get("code") and values.get("rating_basis"):
            product_basis[values["code"]] = values["rating_basis"]
    c.unique(rows, "code", "product code")
    return [v for _, v in rows], product_basis


def write_products(
    session: Session, products: list[dict], state: Existing, summary: ImportSummary
) -> None:
    for values in products:
        upsert(session, summary, "products", state.products, values["code"], values, Product)

"""The set-up in words (issue 22, found by looking at the screens): the codes of the set-up
document read as the product's words (the document keeps its codes), the check page's "What
goes live" names every section the import will write, and a class no plan covers yet waits
for the Plans step instead of being wrong on its own (going live still refuses it)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from billing_core.errors import BillingError
from billing_core.models.enums import BillingMethod, RatingBasis, SubgroupKind, ToleranceRule
from billing_core.setup import import_setup, load_document
from billing_core.setup.drafts import (
    add_row,
    build_document,
    check_draft,
    draft_summary,
    go_live,
    save_step,
    start_draft,
)
from billing_core.setup.words import enum_choices, rate_words, value_words
from tests.unit.setup.screen_example import BILLING, GROUP, ROWS

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "setup_example.yaml"
TODAY = date(2025, 1, 20)


def test_codes_read_as_words_and_options_keep_their_codes():
    assert value_words("billing_method", "list_bill") == "List bill"
    assert value_words("tolerance_rule", "or").startswith("Either")
    assert value_words("coverage_month_rule", "fifteenth") == "Start by the 15th bills that month"
    assert value_words("rating_basis", "age_banded") == RatingBasis.AGE_BANDED.label
    assert value_words("line_of_coverage", "basic_life") == "Basic life"
    assert value_words("kind", "location") == "Location"
    assert value_words("age_reference", "coverage_month").startswith("Age on the first")
    assert value_words("bill_separately", "true") == "Yes"
    assert value_words("delinquency_plan", "state").startswith("the state's plan")
    # What nobody knows, a name or an amount, reads as typed.
    assert value_words("kind", "planet") == "planet"
    assert value_words("name", "North studio") == "North studio"
    # A choice the screen offers reads as the choice's words.
    assert value_words("product", "LC-MED", {"product": [("LC-MED", "LC-MED - Medical")]}) == (
        "LC-MED - Medical"
    )
    # A select's value is the code (the document's), its text the words; none left as a code.
    for enum_cls in (BillingMethod, ToleranceRule, SubgroupKind, RatingBasis):
        pairs = enum_choices(enum_cls)
        assert [v for v, _ in pairs] == [m.value for m in enum_cls]
        assert all(words != value and "_" not in words for value, words in pairs)


def test_rates_in_short_words_on_each_basis():
    tiered = {"effective_from": "2025-01-01", "tier_rates": {"EE": "40.15", "FAM": "112.4"}}
    assert rate_words(tiered, RatingBasis.TIERED_COMPOSITE) == (
        "from 2025-01-01: EE 40.15, FAM 112.40 a month"
    )
    banded = {"effective_from": "2025-01-01", "age_bands": [[18, 29, "12.50"], [30, 64, "99"]]}
    assert rate_words(banded) == "from 2025-01-01: 2 age bands, 12.50 to 99.00 a month per person"
    life = {
        "effective_from": "2024-01-01",
        "effective_to": "2024-12-31",
        "unit_rate": "0.12",
        "volume_salary_multiple": "2",
        "volume_maximum": "200000",
    }
    assert rate_words(life, RatingBasis.PER_THOUSAND_VOLUME) == (
        "from 2024-01-01 to 2024-12-31: 0.12 per $1,000 of volume, 2× salary, at most $200,000.00"
    )


def _fill(session, draft, *, every_plan_classed=False):
    save_step(session, draft, "group", GROUP)
    save_step(session, draft, "billing", BILLING)
    for step, rows in ROWS.items():
        for row in rows:
            if step == "plans" and every_plan_classed:
                row = dict(row, **{"class": "FT"})
            add_row(session, draft, step, row)


def test_what_goes_live_names_every_section_in_words(session):
    import_setup(session, load_document(EXAMPLE))
    draft = start_draft(session, None)
    _fill(session, draft)
    add_row(session, draft, "products", {"code": "VIS-1", "name": "Vision", "line_of_coverage":
            "vision", "rating_basis": "tiered_composite"})  # fmt: skip
    said = draft_summary(draft, session)
    assert list(said) == [
        "group",
        "mailing address",
        "billing contact",
        "subgroups",
        "classes",
        "billing policy",
        "delinquency plan",
        "broker of record",
        "products",
        "plans",
        "rates",
    ]
    assert said["group"].startswith("Cedar Valley Dental Lab (screens) (G-3001), tax id")
    assert "renews each January" in said["group"]
    assert said["subgroups"] == ["Main office (MAIN): location"]
    assert said["classes"] == ["Full-time employees (FT)"]
    assert "List bill, billed monthly" in said["billing policy"]
    assert "Short-pay tolerance: within $50.00 and within 10%" in said["billing policy"]
    assert "Payroll: bi-weekly" in said["billing policy"]
    assert "Credit: used on the next bill when it is issued (the default)" in said["billing policy"]
    assert said["broker of record"] == [
        "Agency HARBOR from 2024-01-01, writing broker NPN 17234560, 100% of the commission"
    ]
    assert said["products"] == ["Vision (VIS-1): Vision, Tiered composite"]
    # A plan on the catalog's product: named, and its rates read on its basis.
    assert said["plans"][2] == (
        "LTD 60% to $10,000 covered payroll (LTD): Long-Term Disability 60% (LTD-60), "
        "class Full-time employees only, from 2024-01-01"
    )
    assert "DEN from 2025-01-01: EE 40.15, ES 80.00, EC 88.90, FAM 112.40 a month" in said["rates"]
    assert (
        "LTD from 2024-01-01: 0.35 per $100 of covered payroll, at most $10,000.00 a month"
        in said["rates"]
    )
    text = repr(said)
    for code in ("list_bill", "tiered_composite", "bi_weekly", "per_thousand_volume", "'and'"):
        assert code not in text, code
    # The document itself keeps the codes (the import's shape, unchanged).
    document = build_document(draft.document).document
    assert document["groups"][0]["billing_policies"][0]["billing_method"] == "list_bill"


def test_a_class_no_plan_covers_waits_for_the_plans_step_and_still_keeps_the_group_draft(
    session,
):
    import_setup(session, load_document(EXAMPLE))
    draft = start_draft(session, None)
    _fill(session, draft, every_plan_classed=True)
    assert check_draft(session, draft, TODAY) == []
    add_row(session, draft, "classes", {"code": "PT", "name": "Part-time"})
    [problem] = [p for p in check_draft(session, draft, TODAY) if p.step == "classes"]
    assert problem.waiting and problem.waits_for == "plans" and problem.row == 2
    # Every other problem is wrong where it is, waiting for nothing.
    add_row(session, draft, "subgroups", {"code": "X", "name": "X", "kind": "planet"})
    kind = [p for p in check_draft(session, draft, TODAY) if p.step == "subgroups"]
    assert kind and not any(p.waiting for p in kind)
    with pytest.raises(BillingError, match="no plan covers class PT"):
        go_live(session, draft, actor=None, on=TODAY)

"""The plans of a group in a set-up document and their rate versions: which rate fields each
rating basis needs and accepts, the child-rate rule, overlapping versions refused, and a billed
rate version that may only be closed (changing what was billed needs a new version)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billing_core.errors import RowError
from billing_core.models import (
    AgeReduction,
    BenefitClass,
    EmployerGroup,
    Plan,
    RateAgeBand,
    RateTier,
    RateVersion,
)
from billing_core.models.enums import AgeReference, RatingBasis, Tier
from billing_core.setup.document import BAD, Checker, field_spec, join_path
from billing_core.setup.facts import Existing
from billing_core.setup.writing import ImportSummary, apply_values, upsert, without

PLAN_FIELDS = (
    field_spec("code", required=True, max_len=20),
    field_spec("name", required=True, max_len=200),
    field_spec("product", required=True, max_len=20),
    field_spec("class", max_len=20),
    field_spec("effective_from", "date", required=True),
    field_spec("effective_to", "date"),
)
RATE_FIELDS = (
    field_spec("effective_from", "date", required=True),
    field_spec("effective_to", "date"),
    field_spec("unit_rate", "money", places=6, minimum=0),
    field_spec("volume_flat_amount", "money", minimum=0),
    field_spec("volume_salary_multiple", "money", minimum=0),
    field_spec("volume_maximum", "money", minimum=0),
    field_spec("volume_rounding_unit", "money", minimum=0),
    field_spec("weekly_benefit_percent", "money", places=4, minimum=0, maximum=1),
    field_spec("weekly_benefit_maximum", "money", minimum=0),
    field_spec("covered_payroll_maximum", "money", minimum=0),
    field_spec("child_rate", "money", places=6, minimum=0),
    # Dependent children are covered to 26 (ACA), so a child age limit above that is a typo.
    field_spec("child_rate_max_age", "int", minimum=1, maximum=26),
    field_spec("max_charged_children", "int", minimum=1),
    field_spec("age_reference", "enum", enum=AgeReference),
)
CHILD_RULE_LIMITS = ("child_rate_max_age", "max_charged_children")
RATE_NESTED = ("tier_rates", "age_bands", "age_reductions")

# Which rate-version fields each rating basis needs (all of) and accepts.
BASIS_REQUIRED: dict[RatingBasis, tuple[str, ...]] = {
    RatingBasis.TIERED_COMPOSITE: ("tier_rates",),
    RatingBasis.AGE_BANDED: ("age_bands",),
    RatingBasis.PER_THOUSAND_VOLUME: ("unit_rate",),
    RatingBasis.STD_WEEKLY_BENEFIT: (
        "unit_rate",
        "weekly_benefit_percent",
        "weekly_benefit_maximum",
    ),
    RatingBasis.LTD_COVERED_PAYROLL: ("unit_rate", "covered_payroll_maximum"),
}
BASIS_ACCEPTS: dict[RatingBasis, set[str]] = {
    RatingBasis.TIERED_COMPOSITE: {"tier_rates"},
    RatingBasis.AGE_BANDED: {"age_bands", "child_rate", *CHILD_RULE_LIMITS},
    RatingBasis.PER_THOUSAND_VOLUME: {
        "unit_rate",
        "volume_flat_amount",
        "volume_salary_multiple",
        "volume_maximum",
        "volume_rounding_unit",
        "age_reductions",
    },
    RatingBasis.STD_WEEKLY_BENEFIT: {
        "unit_rate",
        "weekly_benefit_percent",
        "weekly_benefit_maximum",
    },
    RatingBasis.LTD_COVERED_PAYROLL: {"unit_rate", "covered_payroll_maximum"},
}
BASIS_SPECIFIC = set().union(*BASIS_ACCEPTS.values())
RATE_SCALARS = tuple(f.name for f in RATE_FIELDS if f.name not in ("effective_from",))


def check_plans(
    c: Checker,
    item: dict,
    path: str,
    known_plans: dict[str, str],
    product_basis: dict[str, RatingBasis],
    class_codes: set[str],
) -> tuple[list[dict], dict[str, RatingBasis | None]]:
    """The plans of one group document `item` at `path`, each with its `rate_versions`, and the
    rating basis of every plan code a coverage may name (`known_plans`, the database's plans of
    the group as code -> product code, with the document's on top)."""
    plan_basis: dict[str, RatingBasis | None] = {
        code: product_basis.get(product) for code, product in known_plans.items()
    }
    plans = []
    for ppath, pitem in c.items(item, "plans", path):
        pvalues = c.read(pitem, ppath, PLAN_FIELDS, nested=("rate_versions",))
        if pvalues is None:
            continue
        c.date_range(pvalues, ppath)
        basis = None
        product = pvalues.get("product")
        if product is not None:
            basis = product_basis.get(product)
            if basis is None:
                c.error(
                    join_path(ppath, "product"),
                    "no product with this code in the document or the database",
                    product,
                )
        klass = pvalues.get("class")
        if klass is not None and klass not in class_codes:
            c.error(join_path(ppath, "class"), "no such class in this group", klass)
        versions = []
        for rpath, ritem in c.items(pitem, "rate_versions", ppath):
            rvalues = check_rate_version(c, ritem, rpath, basis)
            if rvalues is not None:
                versions.append((rpath, rvalues))
        c.unique(versions, "effective_from", "rate version effective date")
        c.no_overlap(versions, "rate version")
        pvalues["rate_versions"] = [v for _, v in versions]
        plans.append((ppath, pvalues))
        if pvalues.get("code"):
            plan_basis[pvalues["code"]] = basis
    c.unique(plans, "code", "plan code")
    return [v for _, v in plans], plan_basis


def check_rate_version(c: Checker, item: Any, path: str, basis: RatingBasis | None):
    values = c.read(item, path, RATE_FIELDS, nested=RATE_NESTED)
    if values is None:
        return None
    c.date_range(values, path)
    tiers = item.get("tier_rates")
    if tiers is not None:
        here = join_path(path, "tier_rates")
        values["tier_rates"] = {}
        if not isinstance(tiers, dict):
            c.error(here, "expected a mapping of tier: monthly rate, e.g. EE: '650.00'")
        else:
            for tier_name, amount in tiers.items():
                tpath = join_path(here, str(tier_name))
                tier = c.enum(tier_name, tpath, Tier)
                rate = c.money(amount, tpath, places=6, minimum=0)
                if tier is not BAD and rate is not BAD:
                    values["tier_rates"][tier] = rate
    bands = []
    for bpath, band in c.items(item, "age_bands", path):
        if isinstance(band, dict):
            band = [band.get("min_age"), band.get("max_age"), band.get("monthly_rate")]
        if not isinstance(band, list) or len(band) != 3:
            c.error(bpath, "expected [min_age, max_age, monthly_rate]", band)
            continue
        lo, hi, rate = band
        if (
            isinstance(lo, bool)
            or not isinstance(lo, int)
            or isinstance(hi, bool)
            or not (isinstance(hi, int))
            or lo < 0
            or hi < lo
        ):
            c.error(bpath, "expected ages as whole numbers with min_age <= max_age", band)
            continue
        rate = c.money(rate, join_path(bpath, 2), places=6, minimum=0)
        if rate is not BAD:
            bands.append((lo, hi, rate))
    if "age_bands" in item:
        bands.sort()
        for (lo1, hi1, _), (lo2, _, _) in zip(bands, bands[1:], strict=False):
            if lo2 <= hi1:
                c.error(join_path(path, "age_bands"), f"age bands {lo1}-{hi1} and {lo2}- overlap")
        values["age_bands"] = bands
    reductions = []
    for rpath, red in c.items(item, "age_reductions", path):
        if isinstance(red, dict):
            red = [red.get("from_age"), red.get("volume_percent")]
        if (
            not isinstance(red, list)
            or len(red) != 2
            or isinstance(red[0], bool)
            or not (isinstance(red[0], int))
        ):
            c.error(rpath, "expected [from_age, volume_percent] such as [65, 65]", red)
            continue
        pct = c.money(red[1], join_path(rpath, 1), minimum=Decimal("0.01"), maximum=100)
        if pct is not BAD:
            reductions.append((red[0], pct))
    if "age_reductions" in item:
        if len({age for age, _ in reductions}) != len(reductions):
            c.error(join_path(path, "age_reductions"), "an age is given twice")
        values["age_reductions"] = sorted(reductions)

    if basis is not None:
        for name in BASIS_REQUIRED[basis]:
            if not values.get(name):
                c.error(
                    join_path(path, name),
                    f"required: the plan's rating basis is {basis.label.lower()}",
                )
        if basis == RatingBasis.PER_THOUSAND_VOLUME and not (
            values.get("volume_flat_amount") or values.get("volume_salary_multiple")
        ):
            c.error(
                path,
                f"{basis.label.lower()} rates need a flat volume (volume_flat_amount) or a "
                "multiple of salary (volume_salary_multiple)",
            )
        for name in BASIS_SPECIFIC - BASIS_ACCEPTS[basis]:
            if item.get(name) not in (None, [], {}):
                c.error(
                    join_path(path, name),
                    f"does not apply: the plan's rating basis is {basis.label.lower()}",
                )
    if values.get("child_rate") is None:
        for name in CHILD_RULE_LIMITS:
            if values.get(name) is not None:
                c.error(join_path(path, name), "applies only beside a child_rate", values[name])
        if "child_rate" in values:
            # child_rate: null removes the child rule, its limits with it.
            values.update(dict.fromkeys(CHILD_RULE_LIMITS))
    return values


def _rate_content(rv: RateVersion) -> dict:
    return {
        **{name: getattr(rv, name) for name in RATE_SCALARS if name != "effective_to"},
        "tier_rates": {t.tier: t.monthly_rate for t in rv.tier_rates},
        "age_bands": sorted((b.min_age, b.max_age, b.monthly_rate) for b in rv.age_bands),
        "age_reductions": sorted((r.from_age, r.volume_percent) for r in rv.age_reductions),
    }


def _rate_differs(rv: RateVersion, values: dict) -> bool:
    """True when the document's rate content (ignoring effective_to) differs from the row."""
    current = _rate_content(rv)
    return any(
        key in current and current[key] != value
        for key, value in values.items()
        if key not in ("effective_from", "effective_to")
    )


def billed_conflicts(norm: dict, state: Existing, source: str) -> list[RowError]:
    errors = []
    for gi, g in enumerate(norm["groups"]):
        group = state.groups.get(g["group_number"])
        if group is None:
            continue
        for pi, p in enumerate(g["plans"]):
            plan = state.plans.get((group.id, p["code"]))
            if plan is None:
                continue
            by_from = {rv.effective_from: rv for rv in plan.rate_versions}
            billed = [rv for rv in plan.rate_versions if rv.first_billed_on is not None]
            for ri, r in enumerate(p["rate_versions"]):
                rv = by_from.get(r["effective_from"])
                if rv is None and billed:
                    # New rates for a plan already billed need a second staff member's
                    # approval: a renewal or correction (billing_core.setup.rate_changes).
                    errors.append(
                        RowError(
                            f"groups[{gi}].plans[{pi}].rate_versions[{ri}]",
                            None,
                            f"plan {p['code']} has been billed: new rates effective "
                            f"{r['effective_from']:%Y-%m-%d} go through a renewal or rate "
                            "correction approved by a second staff member (the group's Rates "
                            "page, or flask rates renew), not the set-up import",
                            source=source,
                            value=r["effective_from"].isoformat(),
                        )
                    )
                    continue
                if rv is not None and rv.first_billed_on is not None and _rate_differs(rv, r):
                    errors.append(
                        RowError(
                            f"groups[{gi}].plans[{pi}].rate_versions[{ri}]",
                            None,
                            f"the rate version of plan {p['code']} effective "
                            f"{rv.effective_from:%Y-%m-%d} was billed on "
                            f"{rv.first_billed_on:%Y-%m-%d}; billed; add a new rate version "
                            "instead",
                            source=source,
                            value=rv.effective_from.isoformat(),
                        )
                    )
    return errors


def write_plans(
    session: Session,
    group: EmployerGroup,
    plans_doc: list[dict],
    state: Existing,
    classes: dict[str, BenefitClass],
    summary: ImportSummary,
) -> dict[str, Plan]:
    """Create or update `group`'s plans and their rate versions; returns the group's plans by
    code (those already there and the new ones) for its members' coverages."""
    plans = {code: plan for (gid, code), plan in state.plans.items() if gid == group.id}
    for values in plans_doc:
        row = without(values, ("product", "class", "rate_versions"))
        row["product_id"] = state.products[values["product"]].id
        if "class" in values:
            row["class_id"] = classes[values["class"]].id if values["class"] else None
        plan, _ = upsert(
            session, summary, "plans", plans, values["code"], row, Plan, group_id=group.id
        )
        write_rate_versions(session, plan, values["rate_versions"], summary)
    return plans


def write_rate_versions(session, plan: Plan, versions: list[dict], summary) -> None:
    by_from = {rv.effective_from: rv for rv in plan.rate_versions}
    for values in versions:
        scalars = without(values, RATE_NESTED)
        rv = by_from.get(values["effective_from"])
        if rv is None:
            rv = RateVersion(plan=plan, **scalars)
            for tier, rate in values.get("tier_rates", {}).items():
                rv.tier_rates.append(RateTier(tier=tier, monthly_rate=rate))
            for lo, hi, rate in values.get("age_bands", []):
                rv.age_bands.append(RateAgeBand(min_age=lo, max_age=hi, monthly_rate=rate))
            for age, pct in values.get("age_reductions", []):
                rv.age_reductions.append(AgeReduction(from_age=age, volume_percent=pct))
            session.add(rv)
            by_from[rv.effective_from] = rv
            summary.count("rate_versions", "created")
            continue
        # A billed version may only be closed (effective_to); billed_conflicts refused the rest.
        changed = apply_values(rv, scalars)
        if "tier_rates" in values:
            changed |= _sync_children(
                rv.tier_rates,
                {t.tier: t for t in rv.tier_rates},
                values["tier_rates"],
                lambda t, r: RateTier(tier=t, monthly_rate=r),
                "monthly_rate",
            )
        if "age_bands" in values:
            wanted = {lo: (hi, rate) for lo, hi, rate in values["age_bands"]}
            current = {b.min_age: b for b in rv.age_bands}
            for lo in set(current) - set(wanted):
                rv.age_bands.remove(current[lo])
                changed = True
            for lo, (hi, rate) in wanted.items():
                band = current.get(lo)
                if band is None:
                    rv.age_bands.append(RateAgeBand(min_age=lo, max_age=hi, monthly_rate=rate))
                    changed = True
                else:
                    changed |= apply_values(band, {"max_age": hi, "monthly_rate": rate})
        if "age_reductions" in values:
            changed |= _sync_children(
                rv.age_reductions,
                {r.from_age: r for r in rv.age_reductions},
                dict(values["age_reductions"]),
                lambda a, p: AgeReduction(from_age=a, volume_percent=p),
                "volume_percent",
            )
        summary.count("rate_versions", "updated" if changed else "unchanged")


def _sync_children(collection: list, current: dict, wanted: dict, make, attr: str) -> bool:
    """Update child rows in place by key, add missing ones, remove extra ones (in place so a
    unique key is never inserted before the old row is gone)."""
    changed = False
    for key in set(current) - set(wanted):
        collection.remove(current[key])
        changed = True
    for key, value in wanted.items():
        row = current.get(key)
        if row is None:
            collection.append(make(key, value))
            changed = True
        elif getattr(row, attr) != value:
            setattr(row, attr, value)
            changed = True
    return changed

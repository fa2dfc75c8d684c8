"""A group's plans and rate versions on the staff group page: what each rate version charges."""

from sqlalchemy import select

from billing_core.models import EmployerGroup
from billing_core.models.enums import Role
from billing_core.setup import import_setup, load_document
from tests.factories import make_user

CHILD_RATES = """
products:
  - {code: MED-AGE-W, name: Small-group medical, line_of_coverage: medical,
     rating_basis: age_banded}
groups:
  - group_number: "G-3200"
    name: Alder Street Clinic
    tax_id: "36-2223334"
    original_effective_date: "2025-01-01"
    plans:
      - code: MED
        name: Medical Silver
        product: MED-AGE-W
        effective_from: "2025-01-01"
        rate_versions:
          - effective_from: "2025-01-01"
            effective_to: "2025-12-31"
            age_bands: [[0, 20, "150.00"], [21, 39, "265.00"], [40, 64, "340.00"]]
            child_rate: "180.00"
          - effective_from: "2026-01-01"
            age_bands: [[0, 20, "155.00"], [21, 39, "275.00"], [40, 64, "350.00"]]
            child_rate: "185.50"
            child_rate_max_age: 19
            max_charged_children: 2
      - code: MED-B
        name: Medical Bronze
        product: MED-AGE-W
        effective_from: "2025-01-01"
        rate_versions:
          - effective_from: "2025-01-01"
            age_bands: [[0, 64, "300.00"]]
"""


def test_the_group_page_shows_each_rate_versions_child_rate(client, session, login_as, tmp_path):
    path = tmp_path / "clinic.yaml"
    path.write_text(CHILD_RATES)
    import_setup(session, load_document(path))
    staff = make_user(session, Role.BILLING_SPECIALIST)
    session.commit()
    group = session.scalars(
        select(EmployerGroup).where(EmployerGroup.group_number == "G-3200")
    ).one()

    login_as(staff)
    response = client.get(f"/admin/groups/{group.id}")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Children under 21: 180.00 each, at most 3 charged (the oldest)" in html
    assert "Children under 19: 185.50 each, at most 2 charged (the oldest)" in html
    # The bronze plan has no child rate: every covered person is rated by band.
    assert html.count("Children under") == 2


def test_a_group_not_started_yet_shows_what_it_starts_with(client, session, login_as):
    """A new group whose coverage starts next month: its pages show the policy, the rates and
    the enrollment it starts with (as of its first day), said so, instead of "No billing policy
    is in force today" and "no rate in force"."""
    from datetime import date

    from billing_core.billing.enrollment import add_months, month_start
    from billing_core.models import Coverage, RateVersion
    from portal.web import today
    from tests.factories import make_dental_plan, make_group, make_member

    start = add_months(month_start(today()), 1)
    group = make_group(session, original_effective_date=start)
    plan = make_dental_plan(session, group)
    plan.effective_from = start
    session.get(RateVersion, plan.rate_versions[0].id).effective_from = start
    member = make_member(session, group)
    session.add(Coverage(member_id=member.id, plan_id=plan.id, tier=None, effective_from=start))
    staff = make_user(session, Role.BILLING_SPECIALIST)
    employer = make_user(session, Role.EMPLOYER, groups=[group])
    session.commit()
    starts = f"Coverage starts on {start:%b} {start.day}, {start.year}"
    assert start > date.today() or start > today()

    login_as(staff)
    html = client.get(f"/admin/groups/{group.id}").get_data(as_text=True)
    assert starts in html
    assert "No billing policy is in force today" not in html
    assert "List bill" in html and "EE 38.20" in html

    login_as(employer)
    html = client.get(f"/employer/groups/{group.id}").get_data(as_text=True)
    assert starts in html
    assert "no rate in force" not in html and "EE 38.20" in html
    assert '<span class="value">1</span>' in html  # the covered employee it starts with

"""The staff review's reconciliation with the bill, kept on the upload (issue 19): what is kept
reads back equal to a fresh reconciliation; it is read while nothing it was computed from
changed, and computed again when the day, a bill, a rate, enrollment, the 820 remittance or
the group's set-up changed; another period is computed and not kept; the job that reads a
file keeps it, so the first staff view reads it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from billing_core import audit
from billing_core.billing.invoicing import issue_billing_run
from billing_core.census import processing
from billing_core.census import reconciliation as reconciliation_module
from billing_core.census.processing import keep_for_processing
from billing_core.census.reconciliation import (
    ProductVariance,
    Reconciliation,
    ReportedPremium,
    TrendFlag,
    reconcile_census,
)
from billing_core.census.uploads import (
    keep_reconciliation,
    review_upload,
    submit_upload,
    upload_diff,
)
from billing_core.models import Payment, RemittanceDetail
from billing_core.models.enums import (
    JobStatus,
    PaymentMethod,
    PaymentSource,
    PayrollFrequency,
    UploadKind,
)
from billing_core.money import D
from tests.factories import enroll, make_member, receive_upload, renew_rates, scenario

TODAY = date(2027, 1, 20)
HEADER = "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"


def _term_west_file(cast) -> bytes:
    west = cast.member_west
    return (
        HEADER + f"{west.employee_id},{west.first_name},{west.last_name},"
        f"{west.birth_date:%m/%d/%Y},Term,12/31/2026\n"
    ).encode()


@pytest.fixture
def cast(session):
    return scenario(session)


@pytest.fixture
def upload(session, cast):
    """Group A's change file terminating West (EE dental 38.20 on the Jan 2027 bill), submitted."""
    received = receive_upload(
        session,
        cast.group_a,
        _term_west_file(cast),
        "changes.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=TODAY,
    )
    return received.upload


def _review(session, cast, upload, **kwargs):
    return review_upload(
        session, upload, actor=cast.users["billing_specialist"], today=TODAY, **kwargs
    )


def _fresh(session, cast, upload, today=TODAY, **kwargs) -> Reconciliation:
    census, diff = upload_diff(session, upload, today)
    group = cast.group_a
    actor = cast.users["billing_specialist"]
    return reconcile_census(session, group, census, diff, actor=actor, today=today, **kwargs)


def _no_reconciling(monkeypatch) -> None:
    """From here on the reconciliation may only be read: computing it fails the test."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the reconciliation was computed, not read as kept")

    monkeypatch.setattr(reconciliation_module, "reconcile_census", refuse)


def test_the_kept_reconciliation_reads_back_equal_to_a_fresh_one(session, cast, upload):
    """Every part the page shows (the reported premium of an 820, discrepancies, money to the
    cent) goes through the kept shape unchanged."""
    _remit(session, cast, upload)
    session.flush()
    fresh = _fresh(session, cast, upload)
    assert fresh.reported is not None and fresh.discrepancies and fresh.total is not None
    assert Reconciliation.from_kept(fresh.as_kept()) == fresh
    # Kept in an older shape: not read (computed again).
    assert Reconciliation.from_kept({**fresh.as_kept(), "version": 0}) is None


def test_trend_flags_and_converted_deductions_read_back_equal():
    recon = Reconciliation(
        period_start=date(2027, 1, 1),
        period_end=date(2027, 3, 31),
        previous_period=date(2026, 10, 1),
        invoice_numbers=["T1", "T2"],
        billed_periods=[date(2027, 1, 1), date(2026, 10, 1)],
        tolerance="within $50.00 or within 10% of billed",
        products=[ProductVariance("DEN", "Dental", 3, 2, D("300.10"), D("200.05"), False)],
        total=ProductVariance("", "Total", 3, 2, D("300.10"), D("200.05"), False),
        reported=ReportedPremium(
            D("1384.62"), 3, PayrollFrequency.BI_WEEKLY, 3, D("3000.00"), D("300.10"), False
        ),
        flags=[TrendFlag("lives", "All products", "Lives 3 → 2 (-33.33%)")],
        rating_problems=["row 3 tier: no rate"],
    )
    assert Reconciliation.from_kept(recon.as_kept()) == recon


def test_the_review_keeps_the_default_period_then_reads_it(session, cast, upload, monkeypatch):
    first = _review(session, cast, upload)
    assert first.to_keep is not None
    assert first.reconciliation == _fresh(session, cast, upload)
    keep_reconciliation(upload, first.to_keep)
    session.flush()

    _no_reconciling(monkeypatch)
    again = _review(session, cast, upload)
    assert again.to_keep is None
    assert again.reconciliation == first.reconciliation
    # Asking for the default explicitly (the form sends the period and pay dates it showed)
    # is the default.
    explicit = _review(session, cast, upload, period=date(2027, 1, 1))
    assert explicit.to_keep is None and explicit.reconciliation == first.reconciliation


def test_another_period_is_computed_and_not_kept(session, cast, upload):
    keep_reconciliation(upload, _review(session, cast, upload).to_keep)
    kept_basis = upload.reconciliation_basis
    december = _review(session, cast, upload, period=date(2026, 12, 1))
    assert december.to_keep is None
    assert december.reconciliation.period_start == date(2026, 12, 1)
    assert december.reconciliation == _fresh(session, cast, upload, period=date(2026, 12, 1))
    other_pay_dates = _review(session, cast, upload, pay_periods=3)
    assert other_pay_dates.to_keep is None
    assert upload.reconciliation_basis == kept_basis


def _issue_february(session, cast, upload):
    issue_billing_run(session, date(2027, 2, 1), group_numbers=[cast.group_a.group_number])


def _renew_rates(session, cast, upload):
    [plan] = {c.plan for c in cast.member_east.coverages}
    renew_rates(session, plan, date(2027, 1, 1), {"EE": "40.00", "FAM": "115.00"})


def _enroll_someone(session, cast, upload):
    newcomer = make_member(session, cast.group_a, ssn="219-09-6666", last_name="Newcomb")
    [plan] = {c.plan for c in cast.member_east.coverages}
    enroll(session, newcomer, plan, "EE", effective_from=date(2026, 12, 1))


def _remit(session, cast, upload):
    """An 820 reporting member-level premium against the January bill."""
    payment = Payment(
        group_id=cast.group_a.id,
        method=PaymentMethod.ACH_CREDIT,
        source=PaymentSource.REMITTANCE_820,
        amount=D("112.40"),
        received_on=TODAY,
    )
    session.add(payment)
    session.flush()
    session.add(
        RemittanceDetail(
            payment_id=payment.id,
            group_id=cast.group_a.id,
            invoice_id=cast.invoice_a.id,
            employee_id=cast.member_east.employee_id,
            amount=D("112.40"),
        )
    )


def _change_set_up(session, cast, upload):
    audit.record(
        session,
        "setup.group_changed",
        actor=cast.users["admin"],
        target=cast.group_a,
        group_id=cast.group_a.id,
        detail={"members": "updated"},
    )


@pytest.mark.parametrize(
    "change",
    [_issue_february, _renew_rates, _enroll_someone, _remit, _change_set_up],
    ids=["bill-issued", "rate-change", "enrollment", "remittance", "set-up"],
)
def test_a_changed_basis_computes_it_again(session, cast, upload, change):
    keep_reconciliation(upload, _review(session, cast, upload).to_keep)
    session.flush()
    change(session, cast, upload)
    session.flush()
    session.expire_all()
    review = _review(session, cast, upload)
    assert review.to_keep is not None and review.to_keep[1] != upload.reconciliation_basis
    assert review.reconciliation == _fresh(session, cast, upload)


def test_the_next_day_computes_it_again(session, cast, upload):
    keep_reconciliation(upload, _review(session, cast, upload).to_keep)
    tomorrow = TODAY + timedelta(days=1)
    review = review_upload(session, upload, actor=cast.users["billing_specialist"], today=tomorrow)
    assert review.to_keep is not None
    assert review.reconciliation == _fresh(session, cast, upload, today=tomorrow)


def test_the_job_that_reads_a_file_keeps_it_for_the_first_staff_view(session, cast, monkeypatch):
    queued = keep_for_processing(
        session,
        cast.group_a,
        _term_west_file(cast),
        "big.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=TODAY,
    )
    session.commit()
    upload = queued.upload
    status = processing.process_upload(session, upload.id, TODAY.isoformat(), "change")
    assert status is JobStatus.DONE
    assert upload.reconciliation_basis is not None
    submit_upload(session, upload, today=TODAY)
    expected = _fresh(session, cast, upload)

    _no_reconciling(monkeypatch)
    review = _review(session, cast, upload)
    assert review.to_keep is None and review.reconciliation == expected

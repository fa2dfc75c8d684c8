"""Today (/admin/today) keeps its queues per process while nothing they count has changed
(work_queue.kept_work_queue): a second view runs two statements (the user and the marker) and
shows the same page; an upload submitted, cash put to suspense or an adjustment queued between
two views shows on the next."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from billing_core.models import Adjustment
from billing_core.models.enums import (
    AdjustmentStatus,
    PaymentMethod,
    PaymentSource,
    UploadStatus,
)
from billing_core.money import D
from billing_core.payments.receipts import record_payment
from portal.web import today
from tests.factories import queued_upload


def view(client, statements) -> tuple[str, int]:
    """The page's content and the statements it ran (not the test's own savepoints)."""
    before = len(statements)
    response = client.get("/admin/today")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    ran = [s for s in statements[before:] if not s.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))]
    return html[html.index("<h1>") : html.index("</main>")], len(ran)


def test_today_is_kept_and_shows_an_upload_suspense_and_an_adjustment_since(
    client, login_as, cast, session, statements
):
    staff = cast.users["billing_specialist"]
    login_as(staff)
    first, computed = view(client, statements)
    assert "Nothing waits: every queue is clear." in first
    again, kept = view(client, statements)
    assert again == first and kept == 2 < computed

    received = datetime.combine(today() - timedelta(days=3), time(9), tzinfo=UTC)
    upload = queued_upload(
        session, cast.group_a, cast.users["employer_a"], UploadStatus.RECEIVED, received
    )
    session.commit()
    assert view(client, statements)[0] == first  # received, not yet submitted: nothing waits
    upload.status = UploadStatus.SUBMITTED
    session.commit()
    submitted, _ = view(client, statements)
    assert "Census uploads to review" in submitted and "1 late" in submitted
    assert view(client, statements) == (submitted, 2)

    record_payment(
        session,
        group=None,
        amount=D("321.45"),
        method=PaymentMethod.CHECK,
        received_on=today(),
        source=PaymentSource.STAFF,
        suspense_reason="no group on the check",
    )
    session.commit()
    held, _ = view(client, statements)
    assert "321.45" in held

    session.add(
        Adjustment(
            group_id=cast.group_a.id,
            coverage_month=today().replace(day=1),
            amount=D("-987.65"),
            reason_code="manual",
            source_type="manual",
            status=AdjustmentStatus.PENDING,
            requested_by_id=staff.id,
        )
    )
    session.commit()
    queued, _ = view(client, statements)
    assert "987.65" in queued and "1 need a supervisor." in queued

"""What the staff cash screens (receipts, refunds, suspense, write-offs, bank files) share:
their page frame with the queues waiting, where a POST goes back to, and the link to an
invoice. The screens themselves: `receipts`, `refunds`, `suspense`, `write_offs`,
`remittance`."""

from __future__ import annotations

from flask import render_template, request, url_for

from billing_core.models import Invoice
from billing_core.payments import review
from billing_core.payments.worklists import method_label
from billing_core.payments.write_offs import waiting_write_offs
from portal.extensions import db_session
from portal.web import same_site_path


def render_cash_page(template: str, **context) -> str:
    """A cash screen, with what waits in each cash queue (its navigation shows the counts)."""
    session = db_session()
    return render_template(
        template,
        queues=review.cash_queues(session),
        write_offs_waiting=waiting_write_offs(session),
        method_label=method_label,
        **context,
    )


def next_or(default: str) -> str:
    """Where to go after a POST: the form's `next` when it is a path on this site."""
    return same_site_path(request.form.get("next"), default)


def invoice_url(invoice: Invoice) -> str:
    return url_for("admin.invoice_detail", group_id=invoice.group_id, invoice_id=invoice.id)

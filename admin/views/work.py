"""Staff: the work queue, where a billing specialist's day starts (JOURNEYS)."""

from flask import render_template

from admin import bp
from billing_core.reports.work_queue import kept_work_queue
from portal.extensions import db_session
from portal.web import authority_limit, today


@bp.get("/today")
def work_queue_page():
    queue = kept_work_queue(db_session(), today(), authority_limit=authority_limit())
    return render_template("admin/today.html", queue=queue)

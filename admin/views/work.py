"""Staff: the work queue, where a billing specialist's day starts (JOURNEYS)."""

from flask import render_template
from markupsafe import Markup

from admin import bp
from billing_core.reports.work_queue import WorkQueue, kept_work_queue
from portal.extensions import db_session
from portal.web import DrawnOnce, authority_limit, today

# Today's queues drawn once per kept WorkQueue (portal.web.DrawnOnce).
_QUEUES_DRAWN = DrawnOnce(16)


@bp.get("/today")
def work_queue_page():
    queue = kept_work_queue(db_session(), today(), authority_limit=authority_limit())
    return render_template("admin/today.html", queues_html=_queues_html(queue))


def _queues_html(queue: WorkQueue) -> Markup:
    """The page's queues (_today_queues.html), drawn once per WorkQueue: kept_work_queue
    answers the same WorkQueue while nothing Today counts has changed, and a new one
    otherwise."""
    return _QUEUES_DRAWN.get(
        (queue,),
        (),
        # the output of an autoescaping template
        lambda: Markup(render_template("admin/_today_queues.html", queue=queue)),  # nosec B704
    )

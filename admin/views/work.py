"""Staff: the work queue, where a billing specialist's day starts (JOURNEYS)."""

import threading
from collections import OrderedDict

from flask import render_template, request
from markupsafe import Markup

from admin import bp
from billing_core.reports.work_queue import WorkQueue, kept_work_queue
from portal.extensions import db_session
from portal.web import authority_limit, today

_QUEUES_HTML: OrderedDict[tuple, tuple[WorkQueue, Markup]] = OrderedDict()
_QUEUES_HTML_KEPT = 16
_QUEUES_LOCK = threading.Lock()


@bp.get("/today")
def work_queue_page():
    queue = kept_work_queue(db_session(), today(), authority_limit=authority_limit())
    return render_template("admin/today.html", queues_html=_queues_html(queue))


def _queues_html(queue: WorkQueue) -> Markup:
    """The page's queues (_today_queues.html) rendered once per WorkQueue object:
    kept_work_queue answers the same WorkQueue while nothing Today counts has changed, and a
    new one otherwise, so the HTML rendered from it stays true with it (the WorkQueue is held
    with it, so its id is not reused). Links are relative to the application's root, part of
    the key."""
    key = (id(queue), request.script_root)
    with _QUEUES_LOCK:
        found = _QUEUES_HTML.get(key)
    if found is not None and found[0] is queue:
        return found[1]
    rendered = render_template("admin/_today_queues.html", queue=queue)
    html = Markup(rendered)  # nosec B704 # the output of an autoescaping template
    with _QUEUES_LOCK:
        _QUEUES_HTML[key] = (queue, html)
        while len(_QUEUES_HTML) > _QUEUES_HTML_KEPT:
            _QUEUES_HTML.popitem(last=False)
    return html

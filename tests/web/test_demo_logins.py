"""`demo load` through the CLI on the migrated database, then every printed login works and lands
on its role's home page. A second load changes nothing."""

import functools
import json

import pyotp
from sqlalchemy import func, select

from billing_core import demo
from billing_core.models import Adjustment, Coverage, Invoice, InvoiceLine, Member, User
from tests.web.conftest import log_in

STAFF_ROLES = {"billing_specialist", "supervisor", "admin"}

HOME_PREFIX = {
    "employer": "/employer/",
    "broker": "/broker/",
    "billing_specialist": "/admin/",
    "supervisor": "/admin/",
    "admin": "/admin/",
}


def _counts(session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count(column)))
        for column in (Member.id, Coverage.id, User.id, Invoice.id, InvoiceLine.id, Adjustment.id)
    )


def test_every_demo_login_works(web_app, session, monkeypatch):
    # The CLI loads 12 months of bills (about a minute); one month keeps this test quick while
    # the homes still render with invoices.
    monkeypatch.setattr(demo, "load_demo", functools.partial(demo.load_demo, history_months=1))
    runner = web_app.test_cli_runner()
    first = runner.invoke(args=["demo", "load", "--json"])
    assert first.exit_code == 0, first.output
    loaded = json.loads(first.output)
    logins = loaded["logins"]
    assert {login["role"] for login in logins} == set(HOME_PREFIX)
    assert loaded["history"]["invoices"] > 0 and loaded["history"]["held"] == {}
    counts = _counts(session)
    assert counts[3] == loaded["history"]["invoices"]

    second = runner.invoke(args=["demo", "load", "--json"])
    assert json.loads(second.output)["loaded"] is False
    assert counts == _counts(session)

    for login in logins:
        client = web_app.test_client()
        # Staff answer the second factor's prompt with the published demo authenticator key.
        key = login.get("authenticator_key")
        assert bool(key) == (login["role"] in STAFF_ROLES), login["email"]
        code = pyotp.TOTP(key).now() if key else None
        response = log_in(client, login["email"], login["password"], code=code)
        assert response.status_code == 303, login["email"]
        home = client.get(response.headers["Location"], follow_redirects=True)
        assert home.status_code == 200, login["email"]
        assert home.request.path.startswith(HOME_PREFIX[login["role"]]), login["email"]

"""`demo load` through the CLI on the migrated database, then every printed login works and lands
on its role's home page. A second load changes nothing."""

import json

from sqlalchemy import func, select

from billing_core.models import Coverage, Member, User
from tests.web.conftest import csrf_token

HOME_PREFIX = {
    "employer": "/employer/",
    "broker": "/broker/",
    "billing_specialist": "/admin/",
    "supervisor": "/admin/",
    "admin": "/admin/",
}


def test_every_demo_login_works(web_app, session):
    runner = web_app.test_cli_runner()
    first = runner.invoke(args=["demo", "load", "--json"])
    assert first.exit_code == 0, first.output
    logins = json.loads(first.output)["logins"]
    assert {login["role"] for login in logins} == set(HOME_PREFIX)
    counts = (
        session.scalar(select(func.count(Member.id))),
        session.scalar(select(func.count(Coverage.id))),
        session.scalar(select(func.count(User.id))),
    )

    second = runner.invoke(args=["demo", "load", "--json"])
    assert json.loads(second.output)["loaded"] is False
    assert counts == (
        session.scalar(select(func.count(Member.id))),
        session.scalar(select(func.count(Coverage.id))),
        session.scalar(select(func.count(User.id))),
    )

    for login in logins:
        client = web_app.test_client()
        response = client.post(
            "/login",
            data={
                "email": login["email"],
                "password": login["password"],
                "csrf_token": csrf_token(client, "/login"),
            },
        )
        assert response.status_code == 303, login["email"]
        home = client.get(response.headers["Location"], follow_redirects=True)
        assert home.status_code == 200, login["email"]
        assert home.request.path.startswith(HOME_PREFIX[login["role"]]), login["email"]

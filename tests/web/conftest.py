import pytest

from portal import create_app
from tests.factories import PASSWORD, scenario


# Named web_app, not app: pytest-flask would otherwise push one app context around the whole
# test, and every request would share `g` (the logged-in user, the DB session) with the others.
@pytest.fixture
def web_app(session_factory):
    app = create_app(
        {"TESTING": True, "SESSION_FACTORY": session_factory, "SERVER_NAME": "portal.test"}
    )
    return app


@pytest.fixture
def client(web_app):
    return web_app.test_client()


@pytest.fixture
def cast(session):
    world = scenario(session)
    session.commit()
    return world


@pytest.fixture
def login_as(client):
    """Log `user` in through the real login form (CSRF token included)."""

    def login(user):
        logout(client)
        token = csrf_token(client, "/login")
        response = client.post(
            "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return user

    return login


def logout(client) -> None:
    import re

    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    match = re.search(r'"X-CSRFToken": "([^"]+)"', html)
    client.post("/logout", data={"csrf_token": match.group(1)})


def csrf_token(client, path: str) -> str:
    import re

    response = client.get(path)
    html = response.get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}: {response.status_code} {html[:2000]}"
    return match.group(1)

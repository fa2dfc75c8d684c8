import pytest

from portal import create_app
from tests.factories import PASSWORD, scenario, totp_code


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
def login_as(client, session_factory):
    """Log `user` in through the real login form (CSRF token included), answering the second
    factor's prompt for staff with the factories' authenticator."""

    def login(user):
        logout(client)
        response = log_in(client, user.email, session_factory=session_factory)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return user

    return login


def log_in(client, email: str, password: str = PASSWORD, *, session_factory=None, code=None):
    """POST the login form; when the answer is the second factor's prompt, answer it with
    `code` (default: the factories' authenticator's current code). With `session_factory`
    the user's last used time step is forgotten first: each login in a test stands for one
    in a new 30-second window (a code is accepted once). Returns the last response."""
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client, "/login")},
    )
    if response.status_code != 303 or not response.headers["Location"].endswith("/login/code"):
        return response
    if session_factory is not None:
        from sqlalchemy import func, update

        from billing_core.models import User

        with session_factory() as session:
            session.execute(
                update(User)
                .where(func.lower(User.email) == email.lower())
                .values(totp_last_step=None)
            )
            session.commit()
    token = csrf_token(client, "/login/code")
    return client.post("/login/code", data={"code": code or totp_code(), "csrf_token": token})


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

"""Browser tests: the app served on 127.0.0.1 from a thread, driven by Debian's Chromium through
Playwright. Without Chromium they skip locally; under CI they fail (make e2e installs it)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from billing_core import migrate
from billing_core.config import Settings
from billing_core.db import make_engine, make_session_factory
from portal import create_app
from tests.conftest import IN_CI
from tests.factories import PASSWORD, TOTP_SECRET, scenario

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Each live server's database (base URL -> SQLAlchemy URL), for the login helper.
DATABASES: dict[str, str] = {}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'e2e.sqlite'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with make_session_factory(engine)() as session:
        cast = scenario(session)
        session.commit()
    app = create_app({"SETTINGS": Settings.from_env().with_overrides(database_url=url)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    DATABASES[f"http://127.0.0.1:{server.server_port}"] = url
    yield f"http://127.0.0.1:{server.server_port}", cast
    server.shutdown()
    thread.join()
    app.extensions["db_engine"].dispose()
    engine.dispose()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("Chromium is missing: `make chromium` installs Debian's package")
        pytest.skip("Chromium is not installed (run `make e2e` to install it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, base_url: str, email: str, password: str = PASSWORD, key: str = TOTP_SECRET):
    """Log in through the login page as a person does; when it asks for the authentication
    code (staff), type the current code of the authenticator `key`. The user's last used time
    step is forgotten first (DATABASES): each login stands for one in a new 30-second window,
    since a code is accepted only once."""
    import pyotp
    from sqlalchemy import func, update

    from billing_core.models import User

    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    if not page.url.split("?")[0].endswith("/login/code"):
        return
    if base_url in DATABASES:
        engine = make_engine(DATABASES[base_url])
        with engine.begin() as connection:
            connection.execute(
                update(User)
                .where(func.lower(User.email) == email.lower())
                .values(totp_last_step=None)
            )
        engine.dispose()
    page.get_by_label("Authentication code").fill(pyotp.TOTP(key).now())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()

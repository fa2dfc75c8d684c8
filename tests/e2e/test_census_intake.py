"""In Chromium, on the corpus group (15 employees): an HR administrator downloads the census
template, uploads a one-row new-hire file with the default kind (read as a change file: nobody
ends), a roster missing most employees as a full file (the page asks whether it is the complete
list and will not submit until answered), and a file naming a plan by the group's own word
(refused, the plan name mapped once on its page, then it reads). Screenshots under
test-artifacts/."""

from __future__ import annotations

import re
import threading

import pytest
from werkzeug.serving import make_server

from billing_core import migrate
from billing_core.config import Settings
from billing_core.db import make_engine, make_session_factory
from billing_core.models.enums import Role
from portal import create_app
from tests.e2e.conftest import screenshot
from tests.e2e.test_invoices import _login
from tests.factories import make_user
from tests.intake_corpus import corpus_group

pytestmark = pytest.mark.e2e

HEADER = "Employee ID,First Name,Last Name,Date of Birth,Medical Plan,Medical Tier\n"


@pytest.fixture(scope="module")
def corpus_server(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e-intake') / 'intake.sqlite'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with make_session_factory(engine)() as session:
        group = corpus_group(session)
        user = make_user(session, Role.EMPLOYER, groups=[group])
        session.commit()
        group_id = group.id
        session.expunge(user)
    app = create_app({"SETTINGS": Settings.from_env().with_overrides(database_url=url)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", group_id, user
    server.shutdown()
    thread.join()
    app.extensions["db_engine"].dispose()
    engine.dispose()


def _upload(page, uploads_url, path, kind_label=None):
    page.goto(uploads_url)
    page.get_by_label("Census or change file (CSV, XLSX or X12 834)").set_input_files(str(path))
    if kind_label:
        page.get_by_label(re.compile("kind", re.I)).select_option(label=kind_label)
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_load_state()


def test_hr_administrator_intake_journey(corpus_server, page, tmp_path):
    base_url, group_id, user = corpus_server
    _login(page, base_url, user)
    page.goto(f"{base_url}/employer/groups/{group_id}")

    # The template: the group's own people and plans.
    page.get_by_role("link", name="Census uploads").first.click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download your census template (Excel)").click()
    assert download.value.suggested_filename == "CORPUS1 census template.xlsx"
    screenshot(page, "intake-01-upload-page")

    new_hire = tmp_path / "new hire.csv"
    new_hire.write_text(HEADER + "N-77,Nia,Newhire,03/04/1994,Blue PPO 1000,EE\n")
    uploads = f"{base_url}/employer/groups/{group_id}/uploads"
    _upload(page, uploads, new_hire)
    page.wait_for_url(re.compile(r"/uploads/\d+$"))
    text = page.inner_text("main")
    assert "We read this as a change file" in text and "nobody's coverage ends" in text
    assert re.search(r"Terms\s+0", text) and re.search(r"Adds\s+1", text)
    screenshot(page, "intake-02-new-hire-read-as-change")

    roster = tmp_path / "roster.csv"
    roster.write_text(
        HEADER
        + "".join(f"E{1000 + n},Pat,Worker{n:02d},01/{n:02d}/1980,MED-PPO,EE\n" for n in (3, 4, 5))
    )
    _upload(page, uploads, roster)
    page.wait_for_url(re.compile(r"/uploads/\d+$"))
    page.get_by_role("button", name="It is our complete list of everyone covered").click()
    page.wait_for_load_state()
    text = page.inner_text("main")
    assert "This file would end coverage for 12 of 15 employees" in text
    assert "Submitting waits for your answer above" in text
    assert page.get_by_role("button", name=re.compile("^Submit ")).count() == 0
    screenshot(page, "intake-03-complete-list-question")
    page.get_by_role("button", name=re.compile("Yes, it is our complete list")).click()
    page.wait_for_load_state()
    assert "You confirmed roster.csv is your complete list" in page.inner_text("main")
    assert page.get_by_role("button", name=re.compile("^Submit roster.csv")).count() == 1
    screenshot(page, "intake-04-confirmed")

    odd = tmp_path / "odd plan.csv"
    odd.write_text(HEADER + "N-78,Ona,Other,05/06/1990,Gold Plus,EE\n")
    _upload(page, uploads, odd)
    page.get_by_text("odd plan.csv was refused; nothing from it was applied").wait_for()
    screenshot(page, "intake-05-refused")
    page.get_by_role("link", name="open its page").click()
    page.get_by_label("Gold Plus").select_option(label="Blue PPO 1000 (MED-PPO)")
    page.get_by_role("button", name="Remember these plan names and check the file again").click()
    page.wait_for_load_state()
    text = page.inner_text("main")
    assert "odd plan.csv reads now" in text and re.search(r"Adds\s+1", text)
    screenshot(page, "intake-06-plan-name-mapped")

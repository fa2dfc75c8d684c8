"""Issue 17's security walk, built from the app's URL map so a new route is walked the day it is
added:

- every portal route (employer, broker, admin) as every role, with another tenant's ids (group
  B's objects for group A's users and agency, A's for B's), with the user's own group and
  another tenant's objects, and for the East-only user with West's objects in their own group:
  403 for a role the area is not for, 404 for anything of another tenant or location (and the
  login page for anonymous), with a valid CSRF token so the view itself must refuse;
- every route as the East-only user on what is theirs (their group, the consolidated bill,
  their upload and checkout): nothing of West (its member, bill, check, upload) on any page or
  download, and their posts refused or harmless;
- every state-changing route without a CSRF token, or with another session's: 400.

After every request the number of rows of every table is the same as before it."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from datetime import date
from itertools import product

import pytest
from flask import url_for
from werkzeug.routing import AnyConverter

from tests.web.locations import build_locations, row_counts, written

ROLES = [
    "anonymous",
    "employer_a",
    "employer_a_east",
    "employer_b",
    "broker_a",
    "broker_other",
    "billing_specialist",
    "supervisor",
    "admin",
]
STAFF = {"billing_specialist", "supervisor", "admin"}
# Who each area is for; everyone else gets 403 (anonymous: the login page).
AREA_ROLES = {
    "employer": {"employer_a", "employer_a_east", "employer_b"},
    "broker": {"broker_a", "broker_other"},
    "admin": STAFF,
}
# Routes that hold no tenant's ids, each with why; the CSRF walk still covers their posts.
NO_TENANT = {
    "index": "sends each user home",
    "healthz": "public",
    "static": "public files",
    "auth": "the user's own account and the login flow",
    "webhooks": "Stripe's, signed (unsigned: 400, in the CSRF walk)",
}
# Arguments that are not an object of a tenant (an `any(...)` one, such as a download's format,
# is walked with each of its values).
PLAIN_ARGS = {
    "step": "rate",
    "kind": "change",
    "name": "aging",
    "period": "2027-02",
    "token": "not-a-token",
    "filename": "css/portal.css",
    "row": 1,
}
# Staff-only objects: no employer or broker route names them (the walk fails if one does).
STAFF_ONLY_IDS = {
    "adjustment_id",
    "allocation_id",
    "refund_id",
    "item_id",
    "request_id",
    "user_id",
    "run_id",
    "entry_id",
    "referral_id",
    "charge_off_id",
    "filing_id",
    "plan_id",
    "agency_id",
    "account_id",
    "file_id",
    "draft_id",
    "change_id",
}
METHODS = ("GET", "POST")


def _objects(world, tenant: str) -> dict[str, int]:
    """The ids a route's arguments take, of group `tenant`: "A" (West's objects: the bill billed
    to West alone, the check paid on it, the upload about a West member and the checkout on
    West's bill, all by A's whole-group user), "A-east" (what the East-only user may see: the
    consolidated bill, their own upload and checkout) or "B"."""
    cast = world.cast
    if tenant == "B":
        return {
            "group_id": cast.group_b.id,
            "invoice_id": cast.invoice_b.id,
            "upload_id": world.upload_b.id,
            "checkout_id": world.checkout_b.id,
            "payment_id": world.payment_b.id,
            "notice_id": world.notice_b.id,
        }
    if tenant == "A-east":
        return {
            "group_id": cast.group_a.id,
            "invoice_id": cast.invoice_a.id,
            "upload_id": world.upload_east.id,
            "checkout_id": world.checkout_east.id,
            "payment_id": world.payment_west.id,  # no employer route shows a payment by id
            "notice_id": world.notice_east.id,
        }
    return {
        "group_id": cast.group_a.id,
        "invoice_id": world.invoice_west.id,
        "upload_id": world.upload_west.id,
        "checkout_id": world.checkout_west.id,
        "payment_id": world.payment_west.id,
        "notice_id": world.notice_west.id,
    }


OWN_TENANT = {
    "employer_a": "A",
    "employer_a_east": "A",
    "employer_b": "B",
    "broker_a": "A",
    "broker_other": "B",
}


def _cases(role: str, world, rule) -> list[tuple[str, dict[str, int]]]:
    """(what, ids) a tenant user is walked with: the other tenant's group and objects; for a
    route naming an object, their own group with the other tenant's object and, for the
    East-only user, West's object in their own group."""
    own = OWN_TENANT[role]
    other = "B" if own == "A" else "A"
    foreign = _objects(world, other)
    cases = [(f"group {other}'s", foreign)]
    if set(rule.arguments) & (set(foreign) - {"group_id"}):
        own_group = _objects(world, own)["group_id"]
        cases.append((f"own group, {other}'s object", {**foreign, "group_id": own_group}))
        if role == "employer_a_east":
            cases.append(("West's, in their own group", _objects(world, "A")))
    return cases


def _rules(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        for method in METHODS:
            if method in rule.methods:
                yield rule, method


def _urls(app, rule, ids: dict[str, int]) -> list[str]:
    """The rule's URLs with `ids`: one per value of an `any(...)` argument (each download
    format), else one."""
    values: dict = {}
    choices: list[tuple[str, list[str]]] = []
    for arg in rule.arguments:
        converter = rule._converters.get(arg)
        if isinstance(converter, AnyConverter):
            choices.append((arg, sorted(converter.items)))
        elif arg in PLAIN_ARGS:
            values[arg] = PLAIN_ARGS[arg]
        elif arg in ids:
            values[arg] = ids[arg]
        elif arg in STAFF_ONLY_IDS:
            values[arg] = 1
        else:
            raise AssertionError(f"{rule.endpoint}: teach the walk what <{arg}> is")
    combinations = [
        dict(zip([a for a, _ in choices], c, strict=True))
        for c in product(*(items for _, items in choices))
    ]
    with app.test_request_context():
        return [url_for(rule.endpoint, **values, **chosen) for chosen in combinations]


def _session_token(client) -> str:
    """The CSRF token of the client's session (the page's hx-headers, or the login form)."""
    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    match = re.search(r'"X-CSRFToken": "([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert match, html[:500]
    return match.group(1)


def _try(client, session, method: str, url: str, data: dict):
    """(the response, the tables it wrote rows to): `data` is posted, never sent with a GET."""
    before = row_counts(session)
    response = client.open(url, method=method, data=data if method == "POST" else None)
    response.get_data()  # read (and keep) the body before the stream is closed
    response.close()
    return response, written(before, row_counts(session))


def _expected(role: str, area: str) -> set[int]:
    if role == "anonymous":
        return {302}
    if role not in AREA_ROLES[area]:
        return {403}
    return {404}


def _log_in(login_as, world, role):
    if role != "anonymous":
        login_as(world.cast.users[role])


def test_every_route_is_walked_or_says_why_not(web_app):
    areas = {rule.endpoint.split(".")[0] for rule in web_app.url_map.iter_rules()}
    assert areas - set(AREA_ROLES) - set(NO_TENANT) == set(), "walk the new area's routes"
    for rule in web_app.url_map.iter_rules():
        assert rule.methods <= {"GET", "HEAD", "OPTIONS", *METHODS}, f"walk {rule.endpoint}"
    for rule, _ in _rules(web_app):
        area = rule.endpoint.split(".")[0]
        if area in ("employer", "broker"):
            names = set(rule.arguments) - set(PLAIN_ARGS)
            assert not names & STAFF_ONLY_IDS, f"{rule.endpoint}: which tenant owns {names}?"


@pytest.mark.parametrize("role", ROLES)
def test_no_role_reaches_another_tenants_or_locations_objects(
    web_app, client, login_as, session, cast, role
):
    world = build_locations(session, cast)
    _log_in(login_as, world, role)
    token = _session_token(client)
    failures = []
    for rule, method in _rules(web_app):
        area = rule.endpoint.split(".")[0]
        if area in NO_TENANT:
            continue
        if role in OWN_TENANT and role in AREA_ROLES[area]:
            if not set(rule.arguments) & set(_objects(world, "A")):
                continue  # names no group or object (their home page)
            cases = _cases(role, world, rule)
        elif role in STAFF and area == "admin":
            continue  # staff see every group: their statuses are test_access_matrix's
        else:
            cases = [("group A's", _objects(world, "A"))]
        expected = _expected(role, area)
        for what, ids in cases:
            for url in _urls(web_app, rule, ids):
                response, changed = _try(client, session, method, url, {"csrf_token": token})
                if response.status_code not in expected or changed:
                    failures.append(
                        f"{method} {url} ({what}): {response.status_code}, expected "
                        f"{sorted(expected)}; rows written: {changed}"
                    )
                if role == "anonymous" and response.status_code == 302:
                    assert "/login" in response.headers["Location"], url
    assert failures == [], "\n".join(failures)


def _texts(response) -> str:
    """What a reader finds in the response: the text of a page, CSV, workbook or PDF."""
    data = response.get_data()
    mimetype = response.mimetype
    if mimetype == "application/pdf":
        if shutil.which("pdftotext") is None:
            return ""
        done = subprocess.run(
            ["pdftotext", "-", "-"], input=data, capture_output=True, check=True, timeout=60
        )
        return done.stdout.decode()
    if mimetype.endswith("spreadsheetml.sheet"):
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return " ".join(
                book.read(name).decode() for name in book.namelist() if name.endswith(".xml")
            )
    return data.decode(errors="replace")


# What the East-only user gets on what is theirs, where it is not a page (200).
EAST_OWN = {
    ("employer.upload_ack_download", "GET"): {404},  # their upload is a CSV: no 999
    # Posts: refused with a message (303), or the form again with its errors (200), or 400
    # for a form that cannot be read; never done.
}


def test_a_location_contact_sees_nothing_of_another_location_anywhere(
    web_app, client, login_as, session, cast, monkeypatch
):
    # The pages' today is in January 2027, the month of the scenario's bills and payments, so
    # the dashboard and the statement's default range hold them.
    for module in (
        "invoice_pages",
        "statement_pages",
        "employer.payments",
        "employer.uploads",
        "employer.views",
    ):
        monkeypatch.setattr(f"portal.{module}.today", lambda: date(2027, 1, 20))
    world = build_locations(session, cast)
    login_as(cast.users["employer_a_east"])
    token = _session_token(client)
    markers = world.west_markers()
    failures = []
    for rule, method in _rules(web_app):
        if not rule.endpoint.startswith("employer."):
            continue
        expected = EAST_OWN.get((rule.endpoint, method)) or (
            {200, 302} if method == "GET" else {200, 303, 400}
        )
        for url in _urls(web_app, rule, _objects(world, "A-east")):
            response, changed = _try(client, session, method, url, {"csrf_token": token})
            if response.status_code not in expected or changed:
                failures.append(f"{method} {url}: {response.status_code}; rows written: {changed}")
                continue
            if response.status_code == 200:
                seen = [marker for marker in markers if marker in _texts(response)]
                if seen:
                    failures.append(f"{method} {url} shows {seen}")
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("role", ["anonymous", "employer_a", "admin"])
@pytest.mark.parametrize("token", ["none", "another session's"])
def test_every_state_changing_route_needs_its_own_csrf_token(
    web_app, client, login_as, session, cast, role, token
):
    world = build_locations(session, cast)
    _log_in(login_as, world, role)
    data = {}
    if token != "none":
        data["csrf_token"] = _session_token(web_app.test_client())
    ids = _objects(world, "A")
    failures = []
    for rule, method in _rules(web_app):
        if method != "POST":
            continue
        for url in _urls(web_app, rule, ids):
            response, changed = _try(client, session, method, url, {**data, "confirm": "y"})
            if response.status_code != 400 or changed:
                failures.append(f"POST {url}: {response.status_code}; rows written: {changed}")
    assert failures == [], "\n".join(failures)

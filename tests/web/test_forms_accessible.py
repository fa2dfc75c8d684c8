"""Issue 22's acceptance, "every form has labels, errors beside the field", on the staff set-up
and user-management pages and the employer's team page, read from the served HTML:

- every visible input, select and textarea has an accessible name: a `<label for>`, a label
  wrapping it, `aria-label` or `aria-labelledby` naming elements with text;
- after an invalid submission, each field in error says so (`aria-invalid`) and names its error
  list (`aria-describedby`), which sits in the field's own block (`.field`), beside it; and no
  error list in a form is left unnamed by its field.

Keyboard use is a browser's to show: tests/e2e/test_forms_keyboard.py fills and submits the
set-up's group step by Tab and Enter alone."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from billing_core.models import GroupAdministrator, OutboxMessage
from billing_core.setup.drafts import STEPS
from tests.web.conftest import csrf_token, logout

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
NOT_A_FIELD = {"hidden", "submit", "button", "reset", "image"}


# --------------------------------------------------------------------------- a small DOM


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    children: list = field(default_factory=list)  # Element or str

    def text(self) -> str:
        return " ".join(c.text() if isinstance(c, Element) else c for c in self.children).strip()

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def describe(self) -> str:
        shown = {k: v for k, v in self.attrs.items() if k in ("id", "name", "type")}
        return f"<{self.tag} {shown}>"


class Page(HTMLParser):
    """The served page as a tree (enough of one: an end tag closes up to its element)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.elements: list[Element] = []
        self._open = [self.root]
        self.feed(html)
        self.by_id = {e.attrs["id"]: e for e in self.elements if e.attrs.get("id")}

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: (v if v is not None else "") for k, v in attrs}, self._open[-1])
        self._open[-1].children.append(element)
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self._open.pop()

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, 0, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                return

    def handle_data(self, data):
        if data.strip():
            self._open[-1].children.append(data.strip())

    def fields(self) -> list[Element]:
        """The inputs, selects and textareas a person sees (not hidden ones, nor buttons)."""
        return [
            e
            for e in self.elements
            if e.tag in ("input", "select", "textarea")
            and not (e.tag == "input" and e.attrs.get("type", "text") in NOT_A_FIELD)
            and not any("hidden" in a.attrs for a in (e, *e.ancestors()))
        ]

    def accessible_name(self, e: Element) -> str:
        if e.attrs.get("aria-label", "").strip():
            return e.attrs["aria-label"].strip()
        ids = e.attrs.get("aria-labelledby", "").split()
        if ids:
            return " ".join(self.by_id[i].text() for i in ids if i in self.by_id).strip()
        if e.attrs.get("id"):
            for label in self.elements:
                if label.tag == "label" and label.attrs.get("for") == e.attrs["id"]:
                    return label.text()
        for a in e.ancestors():
            if a.tag == "label":
                return a.text()
        return ""


def unlabelled(html: str) -> list[str]:
    """Fields without an accessible name, and fields sharing an id (a label names only the
    first of them: two forms of one page built from one form class without a prefix)."""
    page = Page(html)
    ids = [e.attrs["id"] for e in page.elements if e.attrs.get("id")]
    return [f.describe() for f in page.fields() if not page.accessible_name(f)] + [
        f"{f.describe()} shares its id"
        for f in page.fields()
        if f.attrs.get("id") and ids.count(f.attrs["id"]) > 1
    ]


def errors_not_beside_their_field(html: str) -> list[str]:
    """What breaks "errors beside the field": a field in error not saying so or not naming an
    error list with text in its own `.field` block; an error list in a form no field names."""
    page = Page(html)
    wrong: list[str] = []
    named: set[str] = set()
    for f in (e for e in page.elements if e.attrs.get("aria-invalid") == "true"):
        ids = f.attrs.get("aria-describedby", "").split()
        named.update(ids)
        block = next((a for a in f.ancestors() if "field" in a.classes()), None)
        lists = [page.by_id.get(i) for i in ids]
        if not lists or any(
            e is None or "errors" not in e.classes() or not e.text() for e in lists
        ):
            wrong.append(f"{f.describe()} names no error list with text: {ids}")
        elif block is None or any(block not in e.ancestors() for e in lists):
            wrong.append(f"{f.describe()}: its errors are not in its .field block")
    for e in page.elements:
        in_form = any(a.tag == "form" for a in e.ancestors())
        if in_form and "errors" in e.classes() and e.text() and e.attrs.get("id") not in named:
            wrong.append(f"an error list no field names: {e.text()!r}")
    return wrong


def has_errors(html: str) -> bool:
    return 'aria-invalid="true"' in html


# --------------------------------------------------------------------------- the pages


def _post(client, url, values, *, prefix="", token_from=None):
    data = {f"{prefix}{k}": v for k, v in values.items()}
    data[f"{prefix}csrf_token"] = csrf_token(client, token_from or url)
    return client.post(url, data=data)


def _draft(client) -> str:
    started = _post(client, "/admin/groups/new", {})
    assert started.status_code == 303
    return re.search(r"(/admin/setup/\d+)/group", started.headers["Location"]).group(1)


def _invitation_link(session, email: str) -> str:
    return session.scalars(
        select(OutboxMessage.link_path)
        .where(OutboxMessage.to_address == email, OutboxMessage.kind == "invitation")
        .order_by(OutboxMessage.id.desc())
    ).first()


def _renewal_pages(client, cast) -> list[str]:
    """A renewal of group A's rates started: its page and its plan's rate form."""
    rates = f"/admin/groups/{cast.group_a.id}/rates"
    started = _post(
        client, f"{rates}/renew", {"effective_from": "2027-03-01"}, prefix="renewal-",
        token_from=rates,
    )  # fmt: skip
    assert started.status_code == 303, started.get_data(as_text=True)[:2000]
    change = started.headers["Location"]
    plan = re.search(
        r'href="([^"]*/rates/\d+/plans/\d+)"', client.get(change).get_data(as_text=True)
    )
    return [change, plan.group(1)]


def _staff_pages(client, login_as, cast, session) -> dict[str, str]:
    """Every staff set-up and user-management form page as served, by URL."""
    login_as(cast.users["admin"])  # an admin also sees the staff invitation form
    base = _draft(client)
    urls = ["/admin/groups/new", f"{base}/check", "/admin/users"]
    urls += [f"{base}/{s.key}" for s in STEPS]
    urls += [
        f"/admin/groups/{cast.group_a.id}/users/invite",
        f"/admin/users/{cast.users['billing_specialist'].id}",
        f"/admin/users/{cast.users['employer_a'].id}",
        f"/admin/groups/{cast.group_b.id}/terminate",
        f"/admin/groups/{cast.group_b.id}/history",
        f"/admin/groups/{cast.group_a.id}/invoice-template",
        f"/admin/groups/{cast.group_a.id}/rates",
    ]
    urls += _renewal_pages(client, cast)
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages[url] = response.get_data(as_text=True)
    return pages


def test_every_field_of_the_staff_set_up_and_user_pages_has_a_label(
    client, login_as, cast, session
):
    pages = _staff_pages(client, login_as, cast, session)
    assert sum(len(Page(html).fields()) for html in pages.values()) >= 70  # they were read
    assert {url: unlabelled(html) for url, html in pages.items() if unlabelled(html)} == {}


def test_the_team_page_and_the_invitation_page_label_every_field(client, login_as, cast, session):
    session.add(GroupAdministrator(user_id=cast.users["employer_a"].id, group_id=cast.group_a.id))
    session.commit()
    login_as(cast.users["employer_a"])
    team = client.get(f"/employer/groups/{cast.group_a.id}/team").get_data(as_text=True)
    assert "Invite a colleague" in team and len(Page(team).fields()) >= 4
    assert unlabelled(team) == []
    invited = _post(
        client,
        f"/employer/groups/{cast.group_a.id}/team/invite",
        {"full_name": "Ivy Invitee", "email": "ivy@acme.test"},
        token_from=f"/employer/groups/{cast.group_a.id}/team",
    )
    assert invited.status_code == 303
    logout(client)
    link = _invitation_link(session, "ivy@acme.test")
    page = client.get(link).get_data(as_text=True)
    assert "New password" in page
    assert unlabelled(page) == []


@pytest.mark.parametrize(
    "step, values, in_error",
    [
        ("group", {"group_number": "E-1", "tax_id": "", "renewal_month": "13"},
         {"tax_id", "renewal_month", "name", "original_effective_date"}),
        ("billing", {"effective_from": "", "billing_method": "list_bill", "lead_days": "400",
                     "tolerance_percent": "120"},
         {"effective_from", "billing_frequency", "lead_days", "tolerance_percent"}),
    ],
)  # fmt: skip
def test_a_set_up_step_shows_each_error_beside_its_field(
    client, login_as, cast, step, values, in_error
):
    login_as(cast.users["billing_specialist"])
    base = _draft(client)
    assert _post(client, f"{base}/{step}", values).status_code == 303
    html = client.get(f"{base}/{step}").get_data(as_text=True)
    page = Page(html)
    shown = {e.attrs["id"] for e in page.elements if e.attrs.get("aria-invalid") == "true"}
    assert in_error <= shown
    assert errors_not_beside_their_field(html) == []


def test_the_invitation_forms_show_each_error_beside_its_field(client, login_as, cast, session):
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{cast.group_a.id}/users/invite"
    foreign = cast.group_b.id * 1000  # no location of this group
    refused = _post(client, url, {"full_name": "", "email": "not-an-address",
                                  "subgroup_ids": str(foreign)})  # fmt: skip
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and has_errors(html)
    assert errors_not_beside_their_field(html) == []
    shown = {e.attrs.get("id") for e in Page(html).elements if e.attrs.get("aria-invalid")}
    assert {"full_name", "email"} <= shown

    # The team page of an administrator limited to East: they must choose a location.
    east_admin = cast.users["employer_a_east"]
    session.add(GroupAdministrator(user_id=east_admin.id, group_id=cast.group_a.id))
    session.commit()
    login_as(east_admin)
    team = f"/employer/groups/{cast.group_a.id}/team"
    refused = _post(client, f"{team}/invite", {"full_name": "Ole", "email": "ole@",
                                               "subgroup_ids": str(foreign)},
                    token_from=team)  # fmt: skip
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and has_errors(html)
    assert errors_not_beside_their_field(html) == []


def test_the_password_of_an_invitation_is_refused_beside_its_field(client, login_as, cast, session):
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{cast.group_a.id}/users/invite"
    assert (
        _post(client, url, {"full_name": "Pat Page", "email": "pat@acme.test"}).status_code == 303
    )
    logout(client)
    link = _invitation_link(session, "pat@acme.test")
    refused = _post(client, link, {"new_password": "short", "confirm": "shorter"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and has_errors(html)
    assert errors_not_beside_their_field(html) == []


def test_the_checker_finds_what_it_looks_for():
    """The checks would fail a page that breaks them."""
    assert unlabelled('<form><input name="a"><label>B <input name="b"></label></form>') == [
        "<input {'name': 'a'}>"
    ]
    assert unlabelled('<label for="x">X</label><input id="x"><input type="hidden" name="h">') == []
    assert unlabelled('<label for="x">X</label><input id="x"><label for="x">Y</label>'
                      '<input id="x">') == ["<input {'id': 'x'}> shares its id"] * 2  # fmt: skip
    assert unlabelled('<select aria-label="Sort"></select><textarea aria-labelledby="n">'
                      '</textarea><p id="n">Note</p>') == []  # fmt: skip
    bad = (
        '<form><div class="field"><input id="a" aria-invalid="true"></div>'
        '<ul class="errors" id="a-errors"><li>required</li></ul></form>'
    )
    assert len(errors_not_beside_their_field(bad)) == 2
    good = (
        '<form><div class="field"><input id="a" aria-invalid="true" aria-describedby="a-e">'
        '<ul class="errors" id="a-e"><li>required</li></ul></div></form>'
    )
    assert errors_not_beside_their_field(good) == []


def test_a_refused_termination_and_staff_invitation_show_errors_beside_the_fields(
    client, login_as, cast
):
    login_as(cast.users["supervisor"])
    url = f"/admin/groups/{cast.group_b.id}/terminate"
    refused = _post(client, url, {"terminated_on": "", "reason": ""})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "Enter the last covered day." in html
    shown = {e.attrs.get("id") for e in Page(html).elements if e.attrs.get("aria-invalid")}
    assert shown == {"terminated_on", "reason"}
    assert errors_not_beside_their_field(html) == []

    login_as(cast.users["admin"])
    refused = _post(
        client,
        "/admin/users/invite-staff",
        {"full_name": "", "email": "nobody", "role": "billing_specialist"},
        token_from="/admin/users",
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and has_errors(html)
    shown = {e.attrs.get("id") for e in Page(html).elements if e.attrs.get("aria-invalid")}
    assert {"full_name", "email"} <= shown
    assert errors_not_beside_their_field(html) == []
    # A refusal of the use case (the address is a user already) is beside the e-mail too.
    taken = cast.users["supervisor"].email
    refused = _post(
        client,
        "/admin/users/invite-staff",
        {"full_name": "Sam Same", "email": taken, "role": "billing_specialist"},
        token_from="/admin/users",
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert [e.attrs.get("id") for e in Page(html).elements if e.attrs.get("aria-invalid")] == [
        "email"
    ]
    assert errors_not_beside_their_field(html) == []


def test_a_refused_invoice_template_shows_the_error_beside_its_field(client, login_as, cast):
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{cast.group_a.id}/invoice-template"
    refused = _post(client, url, {"subtotal_by": "", "subgroup_billing": "consolidated",
                                  "reference_value_1": "4500012345"})  # fmt: skip
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and has_errors(html)
    shown = {e.attrs.get("id") for e in Page(html).elements if e.attrs.get("aria-invalid")}
    assert "reference_label_1" in shown or "reference_value_1" in shown
    assert errors_not_beside_their_field(html) == []


def test_a_refused_rate_correction_shows_its_errors_beside_the_fields(client, login_as, cast):
    login_as(cast.users["billing_specialist"])
    rates = f"/admin/groups/{cast.group_a.id}/rates"
    refused = _post(client, f"{rates}/correct", {"effective_from": "", "reason": ""},
                    prefix="correction-", token_from=rates)  # fmt: skip
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and has_errors(html)
    shown = {e.attrs["name"] for e in Page(html).elements if e.attrs.get("aria-invalid")}
    assert {name.split("-")[-1] for name in shown} >= {"effective_from", "reason"}
    assert errors_not_beside_their_field(html) == []

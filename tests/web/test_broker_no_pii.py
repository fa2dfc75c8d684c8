"""The broker face names no member (issue 21's acceptance): a broker logged in over a book with
members, commission statements and a former group crawls every broker route (each group of
the book, each statement and each download format; and every /broker link a page shows) and
no response holds a member's name, SSN in any format or date of birth in any common format.
Another agency's group and statement ids answer 404."""

from __future__ import annotations

import re
from collections import deque

from flask import url_for
from werkzeug.routing import AnyConverter

from tests.web.test_broker_commissions import build_commissions
from tests.web.test_route_walk import _texts


def _forbidden(members) -> list[str]:
    """Every spelling of the members' names and birth dates a page could carry ("Pat", the
    factories' first name for everyone, is left out: a last name is enough)."""
    found = []
    for m in members:
        found += [m.first_name, m.last_name, f"{m.first_name} {m.last_name}"]
        b = m.birth_date
        found += [b.isoformat(), f"{b:%m/%d/%Y}", f"{b.month}/{b.day}/{b.year}", f"{b:%b %d, %Y}",
                  f"{b:%B %d, %Y}", f"{b:%d %b %Y}", f"{b:%Y%m%d}", f"{b:%m%d%Y}"]  # fmt: skip
    return [f for f in found if f and f not in ("Pat",)]


def _broker_urls(app, group_ids, periods) -> list[str]:
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("broker.") or "GET" not in rule.methods:
                continue
            choices = [{}]
            for arg in rule.arguments:
                converter = rule._converters.get(arg)
                if isinstance(converter, AnyConverter):
                    values = sorted(converter.items)
                elif arg == "group_id":
                    values = group_ids
                elif arg == "period":
                    values = periods
                else:
                    raise AssertionError(f"{rule.endpoint}: what is <{arg}>?")
                choices = [{**c, arg: v} for c in choices for v in values]
            urls += [url_for(rule.endpoint, **c) for c in choices]
    return urls


def test_no_broker_route_shows_member_pii(web_app, client, login_as, cast, session):
    book = build_commissions(session, cast)
    ssns = {"Eastwood": "219099999", "Westbrook": "219098888", "Boreal": "219097777",
            "Quillfeather": "219096543"}  # fmt: skip
    forbidden = _forbidden(book.members)
    for digits in ssns.values():
        forbidden += [digits, f"{digits[:3]}-{digits[3:5]}-{digits[5:]}",
                      f"{digits[:3]} {digits[3:5]} {digits[5:]}"]  # fmt: skip
    login_as(cast.users["broker_a"])
    periods = [f"{m:%Y-%m}" for m in (book.m1, book.m2, book.m3)]
    queue = deque(_broker_urls(web_app, [cast.group_a.id, book.former.id], periods))
    queue += ["/broker/?late=1", "/broker/?sort=overdue", f"/broker/statements?year={book.m1.year}"]
    seen, found_ok = set(), 0
    while queue:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        if response.status_code != 200:
            continue
        found_ok += 1
        text = _texts(response)
        leaks = [f for f in forbidden if f in text]
        assert not leaks, f"{url} shows {leaks}"
        if response.mimetype == "text/html":
            for href in re.findall(r'href="(/broker[^"#]*)"', text):
                queue.append(href.replace("&amp;", "&"))
    # the book, two groups and their disclosures, the statements list, two statements and
    # their three downloads at least
    assert found_ok >= 12, sorted(seen)
    assert f"/broker/statements/{periods[0]}/statement.pdf" in seen


def test_another_agencys_groups_and_statements_are_404(client, login_as, cast, session):
    book = build_commissions(session, cast)
    login_as(cast.users["broker_other"])
    p2 = f"{book.m2:%Y-%m}"  # group A's lines only: AG-A's statement, not AG-B's
    for url in (
        f"/broker/groups/{cast.group_a.id}",
        f"/broker/groups/{cast.group_a.id}/disclosure",
        f"/broker/statements/{p2}",
        *(f"/broker/statements/{p2}/statement.{fmt}" for fmt in ("csv", "xlsx", "pdf")),
    ):
        assert client.get(url).status_code == 404, url
    login_as(cast.users["broker_a"])
    assert client.get(f"/broker/groups/{cast.group_b.id}").status_code == 404
    assert client.get(f"/broker/groups/{cast.group_b.id}/disclosure").status_code == 404
    assert client.get(f"/broker/statements/{p2}").status_code == 200

"""Money actions ask first (portal.confirmation): helpers that read a confirmation page the way
a browser does and press its Confirm button."""

from __future__ import annotations

import html
import re

FORM = re.compile(
    r'<form method="post" action="([^"]+)" class="confirm toolbar">(.*?)</form>', re.S
)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def confirmation_form(page: str) -> tuple[str, list[tuple[str, str]]]:
    """The Confirm form of a confirmation page: its action and every field it posts."""
    match = FORM.search(page)
    assert match, f"no confirmation form on the page: {page[:1500]}"
    fields = [(html.unescape(k), html.unescape(v)) for k, v in HIDDEN.findall(match.group(2))]
    return html.unescape(match.group(1)), fields


def post_confirmed(client, url: str, data: dict, **kwargs):
    """POST `data` to `url`, expect the confirmation page (200, nothing done yet), then press
    Confirm; returns the second response."""
    asked = client.post(url, data=data)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200, f"{asked.status_code}: {page[:800]}"
    action, fields = confirmation_form(page)
    return client.post(action, data=_multi(fields), **kwargs)


def confirmed_run(client, form: dict) -> dict:
    """The billing run's preview is its confirmation: POST `form` (shown the preview), and
    return the fields its Issue button posts (with `confirm` and the digest)."""
    page = client.post("/admin/billing", data=form).get_data(as_text=True)
    token = re.search(r'name="confirm_digest" value="([^"]+)"', page)
    assert token, f"no Issue button on the preview: {page[:1500]}"
    return {**form, "confirm": "1", "confirm_digest": token.group(1)}


def _multi(fields):
    from werkzeug.datastructures import MultiDict

    return MultiDict(fields)

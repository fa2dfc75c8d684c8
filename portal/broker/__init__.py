"""The broker portal at /broker: the book of business of the broker's agency (groups, counts
and bills; never member PII)."""

from flask import Blueprint

bp = Blueprint("broker", __name__)

from portal.broker import views  # noqa: E402,F401

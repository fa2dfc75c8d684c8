from flask import Blueprint

bp = Blueprint("broker", __name__)

from portal.broker import views  # noqa: E402,F401

from flask import Blueprint

bp = Blueprint("employer", __name__)

from portal.employer import payments, statements, views  # noqa: E402,F401

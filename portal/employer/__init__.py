"""The employer portal at /employer: a group's HR people see their groups and invoices
(`views`), send the census (`uploads`), pay and use credit (`payments`) and read the
statement (`statements`); one form per action in `forms`."""

from flask import Blueprint

bp = Blueprint("employer", __name__)

from portal.employer import payments, statements, team, uploads, views  # noqa: E402,F401

"""The employer's paid-vs-billed statement: the page with its range form, and the PDF, XLSX and
CSV downloads of their own group (another group's id is a 404, by `load_group`)."""

from billing_core.models.enums import Role
from portal import statement_pages
from portal.employer import bp
from portal.web import load_group, role_required

AREA = "employer"


@bp.get("/groups/<int:group_id>/statement")
@role_required(Role.EMPLOYER)
def statement_view(group_id: int):
    return statement_pages.render_statement_page(
        load_group(group_id), AREA, "statements/statement.html"
    )


@bp.get("/groups/<int:group_id>/statement.pdf")
@role_required(Role.EMPLOYER)
def statement_pdf(group_id: int):
    return statement_pages.send_statement_pdf(load_group(group_id), AREA)


@bp.get("/groups/<int:group_id>/statement.<any(csv, xlsx):fmt>")
@role_required(Role.EMPLOYER)
def statement_download(group_id: int, fmt: str):
    return statement_pages.send_statement_download(load_group(group_id), AREA, fmt)

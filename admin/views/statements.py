"""Staff: a group's paid-vs-billed statement, the same page and downloads the employer sees
(to answer a call or send it to the employer's finance team)."""

from admin import bp
from portal import statement_pages
from portal.web import load_group

AREA = "admin"


@bp.get("/groups/<int:group_id>/statement")
def statement_view(group_id: int):
    return statement_pages.render_statement_page(
        load_group(group_id), AREA, "admin/statements/statement.html"
    )


@bp.get("/groups/<int:group_id>/statement.pdf")
def statement_pdf(group_id: int):
    return statement_pages.send_statement_pdf(load_group(group_id), AREA)


@bp.get("/groups/<int:group_id>/statement.<any(csv, xlsx):fmt>")
def statement_download(group_id: int, fmt: str):
    return statement_pages.send_statement_download(load_group(group_id), AREA, fmt)

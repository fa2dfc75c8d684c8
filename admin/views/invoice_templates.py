"""Staff: a group's invoice template (issue 22, item 3) at /admin/groups/<id>/invoice-template.

The page shows the template (or the default: the bill as it always was) in one form: sections,
subtotals, how subgroups are billed, reference fields, remit-to and message. "Preview" prices the
group's next bill from current enrollment through the billing run's own preparation under the
unsaved choices and shows it as a sample invoice; nothing is written (rolled back, no audit
row). "Save" keeps the template through billing_core.billing.invoice_templates.save_template
(audited with before and after; the group's history shows it) and answers 303. A problem is
shown beside its field."""

from __future__ import annotations

from flask import g, render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.views.invoice_templates_forms import (
    InvoiceTemplateForm,
    choice_of,
    fill,
    reference_fields,
    section_fields,
    show_refusal,
)
from billing_core.billing.invoice_templates import (
    SUBGROUP_BILLING,
    TemplateRefused,
    preview_invoice,
    save_template,
    template_of,
)
from billing_core.billing.invoices import period_label
from portal.extensions import db_session
from portal.web import NotYet, client_ip, load_group, run_action, today


def _page_url(group_id: int) -> str:
    return url_for("admin.invoice_template", group_id=group_id)


def _page(group, form: InvoiceTemplateForm, preview=None, status: int = 200, refused=False):
    return render_template(
        "admin/invoice_templates/edit.html",
        group=group,
        form=form,
        sections=section_fields(form),
        references=reference_fields(form),
        separate=[s for s in group.subgroups if s.bill_separately],
        subgroup_billing=SUBGROUP_BILLING,
        preview=preview,
        refused=refused,
        period_label=period_label,
    ), status


@bp.get("/groups/<int:group_id>/invoice-template")
def invoice_template(group_id: int):
    group = load_group(group_id).group
    form = InvoiceTemplateForm()
    fill(form, template_of(db_session(), group.id))
    return _page(group, form)


@bp.post("/groups/<int:group_id>/invoice-template")
def invoice_template_save(group_id: int):
    group = load_group(group_id).group
    form = InvoiceTemplateForm()
    if not form.validate_on_submit():
        return _page(group, form, status=422, refused=True)
    previewing = request.form.get("action") == "preview"

    def refused(error):
        if isinstance(error, TemplateRefused):
            show_refusal(form, error.errors)
        else:
            form.subtotal_by.errors = [*form.subtotal_by.errors, str(error)]
        return _page(group, form, status=422, refused=True)

    if previewing:
        g.confirmation_only = True  # a preview asks; it changes nothing (no staff-change row)

        def previewed() -> NotYet:
            preview = preview_invoice(db_session(), group, choice_of(form), today())
            return NotYet(lambda: _page(group, form, preview))

        return run_action(previewed, refused=refused)

    def saved() -> bool:
        return save_template(
            db_session(), group, choice_of(form), actor=current_user, ip_address=client_ip()
        )

    return run_action(
        saved,
        to=_page_url(group_id),
        done=lambda changed: (
            f"Saved the invoice template of {group.name}: the next billing run follows it; "
            "bills already issued keep what they printed."
            if changed
            else ("Nothing changed in the invoice template.", "info")
        ),
        refused=refused,
    )

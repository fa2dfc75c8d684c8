"""Every route x every role gets its expected status. Built from the app's URL map: a new route
without an entry here fails `test_every_route_has_an_entry`."""

from datetime import date

import pytest
from sqlalchemy import update

from billing_core.models import User
from tests.factories import PASSWORD, totp_code

ROLES = [
    "anonymous",
    "employer_a",
    "employer_a_east",
    "employer_b",
    "broker_a",
    "broker_other",
    "billing_specialist",
    "supervisor",
    "admin",
]
STAFF = {"billing_specialist": 200, "supervisor": 200, "admin": 200}
STAFF_303 = {"billing_specialist": 303, "supervisor": 303, "admin": 303}
STAFF_404 = {"billing_specialist": 404, "supervisor": 404, "admin": 404}


def expect(anonymous, default, **by_role):
    return {
        role: by_role.get(role, anonymous if role == "anonymous" else default) for role in ROLES
    }


INVOICE_A = {"group_id": "A", "invoice_id": "INV_A"}
UPLOAD_A = {"group_id": "A", "upload_id": "UPL_A"}
CHECKOUT_A = {"group_id": "A", "checkout_id": "CHK_A"}  # an online payment started
PAYMENT_A = {"payment_id": "PAY_A"}  # a check from group A, over the invoice (flagged)
# Group A's employers (the East-only user too: A's bill is consolidated); B's employer gets 404.
EMPLOYER_A = expect(302, 403, employer_a=200, employer_a_east=200, employer_b=404)
# Group A's upload and checkout are employer_a's (the upload is about a West member): the
# East-only user sees only the uploads and checkouts they made, so theirs is a 404 too.
EMPLOYER_A_ONLY = expect(302, 403, employer_a=200, employer_a_east=404, employer_b=404)
EMPLOYER_A_ONLY_303 = expect(302, 403, employer_a=303, employer_a_east=404, employer_b=404)

# endpoint -> (method, url args, {role: status})
MATRIX = {
    "index": ("GET", {}, expect(302, 302)),
    "healthz": ("GET", {}, expect(200, 200)),
    "static": ("GET", {"filename": "css/portal.css"}, expect(200, 200)),
    "auth.login": ("GET", {}, expect(200, 302)),
    "auth.logout": ("POST", {}, expect(303, 303)),
    "auth.password_change": ("GET", {}, expect(302, 200)),
    "auth.password_reset_request": ("GET", {}, expect(200, 200)),
    "auth.password_reset": ("GET", {"token": "not-a-token"}, expect(303, 303)),
    # The login's second step: without a password just accepted, back to the login page.
    "auth.login_code": ("GET", {}, expect(303, 302)),
    # Anyone logged in sets up (or, once set up, manages) their own second factor.
    "auth.second_factor": ("GET", {}, expect(302, 200)),
    # Which mail an employer user receives: their own account, any employer user.
    "auth.mail_preferences": (
        "GET",
        {},
        expect(302, 403, employer_a=200, employer_a_east=200, employer_b=200),
    ),
    "employer.home": (
        "GET",
        {},
        expect(302, 403, employer_a=302, employer_a_east=302, employer_b=302),
    ),
    "employer.group_home": (
        "GET",
        {"group_id": "A"},
        expect(302, 403, employer_a=200, employer_a_east=200, employer_b=404),
    ),
    "broker.home": ("GET", {}, expect(302, 403, broker_a=200, broker_other=200)),
    "broker.group_home": (
        "GET",
        {"group_id": "A"},
        expect(302, 403, broker_a=200, broker_other=404),
    ),
    # The broker's money (portal/broker/views.py): the disclosure of a group of the book;
    # statements (the matrix's book has no approved run: a month's statement is a 404).
    "broker.disclosure": (
        "GET",
        {"group_id": "A"},
        expect(302, 403, broker_a=200, broker_other=404),
    ),
    "broker.statements": ("GET", {}, expect(302, 403, broker_a=200, broker_other=200)),
    "broker.statement": (
        "GET",
        {"period": "2027-02"},
        expect(302, 403, broker_a=404, broker_other=404),
    ),
    "broker.statement_download": (
        "GET",
        {"period": "2027-02", "fmt": "pdf"},
        expect(302, 403, broker_a=404, broker_other=404),
    ),
    "admin.home": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.work_queue_page": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.group_detail": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.group_members": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.audit_log": ("GET", {}, expect(302, 403, supervisor=200, admin=200)),
    # Admins only: staff accounts and their second factor; a group's second-factor rule.
    "admin.staff_list": ("GET", {}, expect(302, 403, admin=200)),
    "admin.staff_second_factor_reset": ("POST", {"user_id": 999999}, expect(302, 403, admin=303)),
    # Users (admin/views/users.py): every staff member lists, opens and invites employer users
    # (an unknown user: 404; a post without its fields: refused, 303, or the form again, 200);
    # only an admin invites staff.
    "admin.user_list": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.user_invite_start": ("GET", {}, expect(302, 403, **STAFF_303)),
    "admin.group_user_invite": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.staff_user_invite": ("POST", {}, expect(302, 403, admin=200)),  # errors beside fields
    "admin.user_detail": ("GET", {"user_id": 999999}, expect(302, 403, **STAFF_404)),
    "admin.user_resend": ("POST", {"user_id": 999999}, expect(302, 403, **STAFF_404)),
    "admin.user_disable": ("POST", {"user_id": 999999}, expect(302, 403, **STAFF_404)),
    "admin.user_enable": ("POST", {"user_id": 999999}, expect(302, 403, **STAFF_404)),
    "admin.user_role": ("POST", {"user_id": 999999}, expect(302, 403, **STAFF_404)),
    "admin.user_second_factor_reset": ("POST", {"user_id": 999999}, expect(302, 403, **STAFF_404)),
    "admin.user_group_administrator": (
        "POST",
        {"user_id": 999999, "group_id": "A"},
        expect(302, 403, **STAFF_404),
    ),
    # An invitation's link: anyone; a token that opens nothing goes to the login page.
    "auth.invitation_accept": ("GET", {"token": "not-a-token"}, expect(303, 303)),
    # An employer's team page: the group's own users (not administrators: the page says whom
    # to ask; a post without its fields: the form again, or 400), another group's: 404.
    "employer.team_home": (
        "GET",
        {},
        expect(302, 403, employer_a=200, employer_a_east=200, employer_b=200),
    ),
    "employer.team": ("GET", {"group_id": "A"}, EMPLOYER_A),
    "employer.team_invite": ("POST", {"group_id": "A"}, EMPLOYER_A),
    "employer.team_resend": (
        "POST",
        {"group_id": "A"},
        expect(302, 403, employer_a=400, employer_a_east=400, employer_b=404),
    ),
    "employer.team_disable": (
        "POST",
        {"group_id": "A"},
        expect(302, 403, employer_a=400, employer_a_east=400, employer_b=404),
    ),
    "employer.team_enable": (
        "POST",
        {"group_id": "A"},
        expect(302, 403, employer_a=400, employer_a_east=400, employer_b=404),
    ),
    "admin.group_second_factor": ("POST", {"group_id": "A"}, expect(302, 403, admin=303)),
    "admin.billing_run": ("GET", {"period": "2027-02"}, expect(302, 403, **STAFF)),
    "admin.billing_run_retry": ("POST", {"run_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.invoice_list": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.group_invoice_list": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.invoice_detail": ("GET", INVOICE_A, expect(302, 403, **STAFF)),
    "admin.invoice_lines": ("GET", INVOICE_A, expect(302, 403, **STAFF)),
    "admin.invoice_bridge_step": ("GET", {**INVOICE_A, "step": "adds"}, expect(302, 403, **STAFF)),
    "admin.invoice_pdf": ("GET", INVOICE_A, expect(302, 403, **STAFF)),
    "admin.invoice_lines_download": (
        "GET",
        {**INVOICE_A, "fmt": "xlsx"},
        expect(302, 403, **STAFF),
    ),
    # A void without a reason is refused with a message (redirect); a specialist may not void.
    "admin.invoice_void": ("POST", INVOICE_A, expect(302, 403, supervisor=303, admin=303)),
    "admin.adjustment_queue": ("GET", {}, expect(302, 403, **STAFF)),
    # Unknown adjustment: staff are sent back to the queue with a message.
    "admin.adjustment_approve": ("POST", {"adjustment_id": 0}, expect(302, 403, **STAFF_303)),
    "admin.adjustment_reject": ("POST", {"adjustment_id": 0}, expect(302, 403, **STAFF_303)),
    "admin.adjustment_reverse": ("POST", {"adjustment_id": 0}, expect(302, 403, **STAFF_303)),
    # One decision on many adjustments: nothing chosen, sent back with a message.
    "admin.adjustment_bulk_decide": ("POST", {}, expect(302, 403, **STAFF_303)),
    "admin.upload_queue": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.upload_review": ("GET", UPLOAD_A, expect(302, 403, **STAFF)),
    # Approving the scenario's submitted upload: refused with a message (a 303 back); one that
    # can be approved asks first (its confirmation page, test_uploads), never applies at once.
    "admin.upload_approve": ("POST", UPLOAD_A, expect(302, 403, **STAFF_303)),
    # Without a reason: a redirect saying why not.
    "admin.upload_return": ("POST", UPLOAD_A, expect(302, 403, **STAFF_303)),
    # Only a supervisor or admin may override the retro window; a specialist gets 403.
    "admin.upload_retro_override": (
        "POST",
        UPLOAD_A,
        expect(302, 403, supervisor=303, admin=303),
    ),
    "employer.upload_list": ("GET", {"group_id": "A"}, EMPLOYER_A),
    "employer.upload_detail": ("GET", UPLOAD_A, EMPLOYER_A_ONLY),
    # What the progress bar polls; a file read in the request has no job: its preview.
    "employer.upload_status": ("GET", UPLOAD_A, EMPLOYER_A_ONLY),
    "employer.upload_submit": ("POST", UPLOAD_A, EMPLOYER_A_ONLY_303),
    # A sender's decisions on their upload: refused with a message (it is already submitted;
    # a location-limited user decides nothing for the group, and does not see this upload).
    "employer.upload_read_as": ("POST", {**UPLOAD_A, "kind": "change"}, EMPLOYER_A_ONLY_303),
    "employer.upload_confirm_complete_list": ("POST", UPLOAD_A, EMPLOYER_A_ONLY_303),
    "employer.upload_template": ("GET", {"group_id": "A"}, EMPLOYER_A),
    "employer.upload_plan_names": ("POST", UPLOAD_A, EMPLOYER_A_ONLY_303),
    "employer.upload_discard": ("POST", UPLOAD_A, EMPLOYER_A_ONLY_303),
    # Without a file (or columns) the posts go back to the page with a message.
    "employer.upload_file_problems": (
        "POST",
        {"group_id": "A"},
        expect(302, 403, employer_a=303, employer_a_east=303, employer_b=404),
    ),
    "employer.upload_file_ack": (
        "POST",
        {"group_id": "A"},
        expect(302, 403, employer_a=303, employer_a_east=303, employer_b=404),
    ),
    "employer.upload_mapping": ("POST", UPLOAD_A, EMPLOYER_A_ONLY_303),
    "employer.upload_problems_download": ("GET", UPLOAD_A, EMPLOYER_A_ONLY),
    # The scenario's upload is a CSV: no 999 for anyone (an 834's is 200, test_upload_mapping).
    "employer.upload_ack_download": (
        "GET",
        UPLOAD_A,
        expect(302, 403, employer_a=404, employer_a_east=404, employer_b=404),
    ),
    "employer.invoice_list": ("GET", {"group_id": "A"}, EMPLOYER_A),
    "employer.invoice_detail": ("GET", INVOICE_A, EMPLOYER_A),
    "employer.invoice_lines": ("GET", INVOICE_A, EMPLOYER_A),
    "employer.invoice_bridge_step": ("GET", {**INVOICE_A, "step": "rate"}, EMPLOYER_A),
    "employer.invoice_pdf": ("GET", INVOICE_A, EMPLOYER_A),
    # Past-due notices: the list and a PDF of one naming the consolidated bill only.
    "employer.notice_list": ("GET", {"group_id": "A"}, EMPLOYER_A),
    "employer.notice_download": ("GET", {"group_id": "A", "notice_id": "NOT_A"}, EMPLOYER_A),
    "employer.invoice_lines_download": ("GET", {**INVOICE_A, "fmt": "csv"}, EMPLOYER_A),
    # Cash (admin/views/receipts.py, refunds.py, suspense.py, write_offs.py). An empty POST
    # is refused with a message (a 303 back);
    # an unknown refund, suspense item or allocation is a 404.
    "admin.payment_new": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.remittance_import": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.group_ledger": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.payment_detail": ("GET", PAYMENT_A, expect(302, 403, **STAFF)),
    "admin.payment_allocate": ("POST", PAYMENT_A, expect(302, 403, **STAFF_303)),
    "admin.allocation_undo": (
        "POST",
        {**PAYMENT_A, "allocation_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.payment_return": ("POST", PAYMENT_A, expect(302, 403, **STAFF_303)),
    "admin.refund_request": ("POST", PAYMENT_A, expect(302, 403, **STAFF_303)),
    "admin.payment_write_off": ("POST", PAYMENT_A, expect(302, 403, **STAFF_303)),
    "admin.payment_mark_reconciled": ("POST", PAYMENT_A, expect(302, 403, **STAFF_303)),
    "admin.refund_queue": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.refund_approve": ("POST", {"refund_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.refund_reject": ("POST", {"refund_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.refund_withdraw": ("POST", {"refund_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.refund_mark_paid": ("POST", {"refund_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.suspense_workbench": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.suspense_apply": ("POST", {"item_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.suspense_close": ("POST", {"item_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.reconciliation_queue": ("GET", {}, expect(302, 403, **STAFF)),
    # Write-offs above a requester's authority: the queue; an unknown request is a 404.
    "admin.write_off_queue": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.write_off_approve": ("POST", {"request_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.write_off_reject": ("POST", {"request_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.write_off_withdraw": ("POST", {"request_id": 0}, expect(302, 403, **STAFF_404)),
    # Paying online: the pay form, the group's payments, its checkouts' pages (the local test
    # checkout exists here: no Stripe keys) and using credit (no confirmation: sent back).
    "employer.payment_start": ("GET", {"group_id": "A"}, EMPLOYER_A),
    "employer.payment_list": ("GET", {"group_id": "A"}, EMPLOYER_A),
    "employer.payment_success": ("GET", CHECKOUT_A, EMPLOYER_A_ONLY),
    "employer.payment_cancelled": ("GET", CHECKOUT_A, EMPLOYER_A_ONLY),
    "employer.test_checkout": ("GET", CHECKOUT_A, EMPLOYER_A_ONLY),
    "employer.credit_apply": (
        "POST",
        {"group_id": "A"},
        expect(302, 403, employer_a=303, employer_a_east=303, employer_b=404),
    ),
    # Staff reports (admin/views/reports.py): the index, any report, its downloads.
    "admin.report_index": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.report_view": ("GET", {"name": "aging"}, expect(302, 403, **STAFF)),
    "admin.report_download": (
        "GET",
        {"name": "cash_receipts", "fmt": "xlsx"},
        expect(302, 403, **STAFF),
    ),
    # Cancellation for non-payment (admin/views/cancellation.py): the page, its three forms
    # (posted empty: refused by billing_core, back to the page).
    "admin.collections_cancellation": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.collections_cancel": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    "admin.collections_reverse_later_bills": (
        "POST",
        {"group_id": "A"},
        expect(302, 403, **STAFF_303),
    ),
    "admin.collections_reinstate": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    # Collections (admin/views/collections.py): the worklist, a group's page, its two forms
    # (posted empty here: refused, back to the page).
    "admin.collections_worklist": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.group_collections": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.collections_log_contact": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    "admin.collections_take_promise": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    # Payment plans (same page): made empty (refused, back); an unknown plan's cancel is a 404.
    "admin.collections_make_plan": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    "admin.collections_cancel_plan": (
        "POST",
        {"group_id": "A", "plan_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    # Outside collections, charge-off, recoveries, bankruptcy (admin/views/collections_legal.py):
    # posted empty (refused, back to the page); an unknown referral, request or case is a 404.
    "admin.collections_refer": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    "admin.collections_referral_package": (
        "GET",
        {"group_id": "A", "referral_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.collections_referral_update": (
        "POST",
        {"group_id": "A", "referral_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.collections_referral_sue": (
        "POST",
        {"group_id": "A", "referral_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.collections_charge_off_request": (
        "POST",
        {"group_id": "A"},
        expect(302, 403, **STAFF_303),
    ),
    "admin.collections_charge_off_approve": (
        "POST",
        {"group_id": "A", "charge_off_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.collections_charge_off_reject": (
        "POST",
        {"group_id": "A", "charge_off_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.collections_recovery": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    "admin.collections_bankruptcy_file": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    "admin.collections_bankruptcy_close": (
        "POST",
        {"group_id": "A", "filing_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    # The credit-control watchlist (admin/views/watchlist.py): the list, its add form (posted
    # empty: refused, back to the list), an unknown entry's expiry and removal.
    "admin.watchlist": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.watchlist_add": ("POST", {}, expect(302, 403, **STAFF_303)),
    "admin.watchlist_expiry": ("POST", {"entry_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.watchlist_remove": ("POST", {"entry_id": 0}, expect(302, 403, **STAFF_404)),
    # Group set-up on screens (admin/views/group_setup.py): the drafts and start, an unknown
    # draft's steps, check and going live (404), a group's termination (posted empty: refused,
    # back) and history.
    "admin.group_setup_start": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.group_setup_new": ("POST", {}, expect(302, 403, **STAFF_303)),
    "admin.group_setup_step": (
        "GET",
        {"draft_id": 0, "step": "group"},
        expect(302, 403, **STAFF_404),
    ),
    "admin.group_setup_save": (
        "POST",
        {"draft_id": 0, "step": "group"},
        expect(302, 403, **STAFF_404),
    ),
    "admin.group_setup_remove_row": (
        "POST",
        {"draft_id": 0, "step": "subgroups", "row": 1},
        expect(302, 403, **STAFF_404),
    ),
    "admin.group_setup_row": (
        "GET",
        {"draft_id": 0, "step": "subgroups", "row": 1},
        expect(302, 403, **STAFF_404),
    ),
    "admin.group_setup_row_save": (
        "POST",
        {"draft_id": 0, "step": "subgroups", "row": 1},
        expect(302, 403, **STAFF_404),
    ),
    # Editing a live group's set-up: a draft pre-filled from the group (resumed when open).
    "admin.group_setup_edit": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    "admin.group_setup_check": ("GET", {"draft_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.group_setup_live": ("POST", {"draft_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.group_terminate_page": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    # An empty form is shown again with its errors beside the fields (200).
    "admin.group_terminate": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.group_history": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.group_rates": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.rates_start_renewal": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    "admin.rates_start_correction": (
        "POST",
        {"group_id": "A"},
        expect(302, 403, billing_specialist=422, supervisor=422, admin=422),
    ),
    "admin.rate_change": ("GET", {"group_id": "A", "change_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.rate_change_plan": (
        "GET",
        {"group_id": "A", "change_id": 0, "plan_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.rate_change_plan_save": (
        "POST",
        {"group_id": "A", "change_id": 0, "plan_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.rate_change_submit": (
        "POST",
        {"group_id": "A", "change_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.rate_change_withdraw": (
        "POST",
        {"group_id": "A", "change_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.rate_change_approve": (
        "POST",
        {"group_id": "A", "change_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    # The invoice template: staff read and save (no CSRF token here: the form again, 422).
    "admin.invoice_template": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.invoice_template_save": (
        "POST",
        {"group_id": "A"},
        expect(302, 403, billing_specialist=422, supervisor=422, admin=422),
    ),
    # Paying agencies (admin/views/agency_payments.py): the page, a payee's bank details
    # (agency or group), their forms (posted empty: refused, back), unknown records' 404s.
    "admin.agency_payments": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.agency_payee": ("GET", {"agency_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.group_payee": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.agency_bank_details_enter": ("POST", {"agency_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.group_bank_details_enter": ("POST", {"group_id": "A"}, expect(302, 403, **STAFF_303)),
    "admin.bank_details_confirm": ("POST", {"account_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.bank_details_reject": ("POST", {"account_id": 0}, expect(302, 403, **STAFF_404)),
    # An upload refused (posted empty) answers the page with what is wrong: 422.
    "admin.bank_details_upload": (
        "POST",
        {},
        expect(302, 403, billing_specialist=422, supervisor=422, admin=422),
    ),
    "admin.ach_file_make": ("POST", {}, expect(302, 403, **STAFF_303)),
    "admin.ach_file_detail": ("GET", {"file_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.ach_file_download": ("GET", {"file_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.ach_file_sent": ("POST", {"file_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.ach_entry_return": ("POST", {"entry_id": 0}, expect(302, 403, **STAFF_404)),
    # Commissions (admin/views/commissions.py): the runs, a month's preview (no month: the
    # form), run (posted empty: refused, back), unknown runs' and agencies' 404s.
    "admin.commissions": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.commission_preview": ("GET", {}, expect(302, 403, **STAFF)),
    "admin.commission_run": ("POST", {}, expect(302, 403, **STAFF_303)),
    "admin.commission_run_detail": ("GET", {"run_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.commission_run_approve": ("POST", {"run_id": 0}, expect(302, 403, **STAFF_404)),
    "admin.commission_statement": (
        "GET",
        {"run_id": 0, "agency_id": 0},
        expect(302, 403, **STAFF_404),
    ),
    "admin.commission_statement_download": (
        "GET",
        {"run_id": 0, "agency_id": 0, "fmt": "pdf"},
        expect(302, 403, **STAFF_404),
    ),
    "admin.commission_agency": ("GET", {"agency_id": 0}, expect(302, 403, **STAFF_404)),
    # The paid-vs-billed statement: the page and its downloads, for the group's employers
    # (the East-only user too: the statement of their bills and the group's consolidated
    # ones) and for staff.
    "employer.statement_view": ("GET", {"group_id": "A"}, EMPLOYER_A),
    "employer.statement_pdf": ("GET", {"group_id": "A"}, EMPLOYER_A),
    "employer.statement_download": ("GET", {"group_id": "A", "fmt": "xlsx"}, EMPLOYER_A),
    "admin.statement_view": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.statement_pdf": ("GET", {"group_id": "A"}, expect(302, 403, **STAFF)),
    "admin.statement_download": (
        "GET",
        {"group_id": "A", "fmt": "csv"},
        expect(302, 403, **STAFF),
    ),
    # Stripe's webhook: no session or CSRF token; unsigned, it is refused for everyone.
    "webhooks.stripe_event": ("POST", {}, expect(400, 400)),
}


def test_every_route_has_an_entry(web_app):
    endpoints = {rule.endpoint for rule in web_app.url_map.iter_rules()}
    assert endpoints - set(MATRIX) == set(), "add the new routes to MATRIX"
    assert set(MATRIX) - endpoints == set(), "MATRIX names routes that no longer exist"


def _recorded_payment(session, cast) -> int:
    """A check from group A for more than its invoice: paid, with credit left and flagged."""
    from billing_core.models.enums import PaymentMethod, PaymentSource
    from billing_core.money import D
    from billing_core.payments.receipts import record_payment

    payment, _ = record_payment(
        session,
        group=cast.group_a,
        amount=D("400.00"),
        method=PaymentMethod.CHECK,
        received_on=date(2027, 1, 5),
        source=PaymentSource.STAFF,
        reference="MATRIX-1",
    )
    session.commit()
    return payment.id


def _kept_notice(session, cast) -> int:
    """A grace notice kept for group A naming its consolidated January bill."""
    from billing_core.models.collections import ActionKind, DelinquencyAction

    number = cast.invoice_a.invoice_number
    action = DelinquencyAction(
        group_id=cast.group_a.id, episode=1, kind=ActionKind.NOTICE, key="in_grace",
        done_on=date(2027, 1, 11), amount=cast.invoice_a.total_due, subject="Premium past due",
        body=f"Invoice {number}", content={"stage": "in_grace", "overdue_bills": [
            {"invoice": number, "open": str(cast.invoice_a.total_due)}]},
    )  # fmt: skip
    session.add(action)
    session.commit()
    return action.id


def _open_checkout(session, cast) -> int:
    """Group A's employer has started paying $25.00 online (nothing paid yet)."""
    from billing_core.models.enums import PaymentMethod
    from billing_core.money import D
    from billing_core.payments.online import start_checkout

    checkout, _ = start_checkout(
        session,
        group=cast.group_a,
        user=cast.users["employer_a"],
        method=PaymentMethod.CARD,
        invoice_ids=[],
        amount=D("25.00"),
        nonce="matrix",
    )
    session.commit()
    return checkout.id


def _submitted_upload(session, cast) -> int:
    """A small census upload of group A, submitted for review (what the upload routes show)."""
    from tests.factories import receive_upload

    member = cast.member_west
    data = (
        "Employee ID,First Name,Last Name,Date of Birth,Dental Tier\n"
        f"{member.employee_id},{member.first_name},{member.last_name},"
        f"{member.birth_date:%m/%d/%Y},EE\n"
    ).encode()
    received = receive_upload(
        session,
        cast.group_a,
        data,
        "census.csv",
        uploaded_by=cast.users["employer_a"],
        kind=None,
        as_of=date(2027, 1, 10),
    )
    session.commit()
    return received.upload.id


@pytest.fixture
def matrix_client(session_factory, cast):
    from portal import create_app

    app = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "SESSION_FACTORY": session_factory,
            "SERVER_NAME": "portal.test",
        }
    )
    return app, cast


@pytest.mark.parametrize("role", ROLES)
def test_route_statuses_for_role(matrix_client, role, session):
    app, cast = matrix_client
    upload_id = _submitted_upload(session, cast)
    payment_id = _recorded_payment(session, cast)
    checkout_id = _open_checkout(session, cast)
    notice_id = _kept_notice(session, cast)
    failures = []

    # Log in once (password hashing is slow on purpose) and give every request a fresh client
    # holding a copy of that session cookie; logging out ends that session on the server, so
    # after auth.logout the role logs in again.
    def logged_in_cookie():
        login = app.test_client()
        response = login.post(
            "/login", data={"email": cast.users[role].email, "password": PASSWORD}
        )
        if response.headers.get("Location", "").endswith("/login/code"):  # staff: the code
            session.execute(
                update(User).where(User.id == cast.users[role].id).values(totp_last_step=None)
            )
            session.commit()
            response = login.post("/login/code", data={"code": totp_code()})
        assert response.status_code == 303
        return login.get_cookie("session", domain="portal.test")

    cookie = None if role == "anonymous" else logged_in_cookie()
    for endpoint, (method, args, expected) in MATRIX.items():
        client = app.test_client()
        if cookie is not None:
            client.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
        placeholders = {
            "A": cast.group_a.id,
            "INV_A": cast.invoice_a.id,
            "UPL_A": upload_id,
            "PAY_A": payment_id,
            "CHK_A": checkout_id,
            "NOT_A": notice_id,
        }
        values = {k: placeholders.get(v, v) for k, v in args.items()}
        with app.test_request_context():
            from flask import url_for

            url = url_for(endpoint, **values)
        response = client.open(url, method=method)
        response.close()
        if response.status_code != expected[role]:
            failures.append(
                f"{method} {url}: expected {expected[role]}, got {response.status_code}"
            )
        if endpoint == "auth.logout" and cookie is not None:
            cookie = logged_in_cookie()  # logging out ended that session on the server
    assert failures == []

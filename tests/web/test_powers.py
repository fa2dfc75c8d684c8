"""The permission questions views and templates ask (billing_core.access): who may upload,
pay, void, write off and approve how much, asked of the tenant scope and of the person."""

from decimal import Decimal as D

import pytest

from billing_core.access import Powers, group_scope
from portal.web import today

LIMIT = D("500.00")


def _scope(session, cast, who: str):
    return group_scope(session, cast.users[who], cast.group_a.id, today(), LIMIT)


@pytest.mark.parametrize(
    ("who", "upload", "decide", "pay", "void", "write_off"),
    [
        ("employer_a", True, True, True, False, False),
        ("employer_a_east", False, False, True, False, False),
        ("broker_a", False, True, False, False, False),
        ("billing_specialist", False, True, False, False, True),
        ("supervisor", False, True, False, True, True),
        ("admin", False, True, False, True, True),
    ],
)
def test_the_group_scope_answers_what_its_user_may_do(
    session, cast, who, upload, decide, pay, void, write_off
):
    scope = _scope(session, cast, who)
    assert scope.may_upload is upload
    assert scope.may_decide_uploads is decide
    assert scope.may_pay is pay
    assert scope.may_void is void
    assert scope.may_write_off is write_off


@pytest.mark.parametrize(
    ("who", "within", "above"),
    [
        ("employer_a", False, False),
        ("broker_a", False, False),
        ("billing_specialist", True, False),
        ("supervisor", True, True),
        ("admin", True, True),
    ],
)
def test_may_approve_follows_the_authority_limit(session, cast, who, within, above):
    scope = _scope(session, cast, who)
    assert scope.may_approve(LIMIT) is within
    assert scope.may_approve(-LIMIT) is within  # a credit moves dollars too
    assert scope.may_approve(LIMIT + D("0.01")) is above


@pytest.mark.parametrize(
    ("who", "area", "supervise", "staff", "mail"),
    [
        ("employer_a", "employer", False, False, True),
        ("broker_a", "broker", False, False, False),
        ("billing_specialist", "staff", False, False, False),
        ("supervisor", "staff", True, False, False),
        ("admin", "staff", True, True, False),
    ],
)
def test_a_persons_powers_name_no_role_to_the_templates(cast, who, area, supervise, staff, mail):
    powers = Powers(cast.users[who], LIMIT)
    assert (powers.in_employer_portal, powers.in_broker_portal, powers.in_staff_area) == (
        area == "employer",
        area == "broker",
        area == "staff",
    )
    assert powers.may_supervise is supervise
    assert powers.may_manage_staff is staff and powers.may_set_group_security is staff
    assert powers.may_choose_mail is mail


def test_nobody_logged_in_may_do_nothing():
    nobody = Powers(None)
    assert not (nobody.may_pay or nobody.may_void or nobody.may_write_off)
    assert not nobody.may_approve(D("1.00"))

"""The enrollment read while the diff works on the file alone (`Enrollment`'s `meanwhile`: the
members read as columns, `census.diff.packed`, in a thread), and the SSN digests worked out
meanwhile: the same enrollment and the same diff as read one after the other or row by row,
errors raised to the caller, an old key still matching."""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event, select

from billing_core import security
from billing_core.census.diff import ChangeKind, diff_census, packed, read_and_diff
from billing_core.census.diff import enrollment as enrollment_module
from billing_core.census.diff.enrollment import Enrolled, Enrollment, _overlapped
from billing_core.models import Coverage
from billing_core.models.enums import LineOfCoverage, Tier
from billing_core.security import configure_vault
from tests.factories import (
    census_file,
    census_row,
    enroll,
    make_dental_plan,
    make_group,
    make_life_plan,
    make_member,
)

AS_OF = date(2027, 3, 1)
DENTAL = LineOfCoverage.DENTAL


@pytest.fixture
def enrolled(session):
    group = make_group(session)
    plan = make_dental_plan(session, group)
    ann = make_member(session, group, first_name="Ann", last_name="Avery")
    bob = make_member(session, group, first_name="Bob", last_name="Brook")
    make_member(session, group, first_name="Cy", last_name="Cole")  # no coverage
    enroll(session, ann, plan, "FAM")
    enroll(session, bob, plan, "EE")
    return group, plan, ann, bob


@pytest.fixture
def restore_vault():
    saved = security._vault, security._configured
    yield
    security._vault, security._configured = saved


def _columns(enrollment: Enrollment) -> dict[str, list]:
    return {name: enrollment.column[name].tolist() for name in Enrolled._fields}


def test_the_enrollment_read_alongside_the_file_work_is_the_one_read_alone(session, enrolled):
    group, plan, ann, bob = enrolled
    life = enroll(session, ann, make_life_plan(session, group), None)
    life.elected_volume = Decimal("50000.00")
    session.flush()
    alone = Enrollment(session, group, AS_OF)
    called = []
    alongside = Enrollment(
        session, group, AS_OF, meanwhile=lambda: called.append(threading.current_thread())
    )

    assert called == [threading.current_thread()]  # once, here
    assert _columns(alongside) == _columns(alone)
    ids, held = alone.column["id"].tolist(), alone.column["held_signature"].tolist()
    signatures = dict(zip(ids, held, strict=True))
    volume = alone._stored_volume(Decimal("50000.00"))  # as stored: cents on SQLite
    assert sorted(signatures[ann.id].split(",")) == sorted(
        [f"{plan.id}:FAM:", f"{life.plan_id}::{volume}"]
    )
    assert signatures[bob.id] == f"{plan.id}:EE:"
    assert alongside.employees_in_force == 2
    assert [alongside.enrolled(i) for i in range(3)] == [alone.enrolled(i) for i in range(3)]


def test_a_group_without_members_reads_none(session):
    group = make_group(session)
    make_dental_plan(session, group)
    called = []
    enrollment = Enrollment(session, group, AS_OF, meanwhile=lambda: called.append(1))
    assert called == [1]
    assert len(enrollment.column["id"]) == 0 and enrollment.employees_in_force == 0


def test_a_change_to_the_enrollment_is_read_by_the_next_diff(session, enrolled):
    group, plan, ann, bob = enrolled
    file = census_file(census_row(ann, "FAM"), census_row(bob))
    assert diff_census(session, group, file, AS_OF).counts["unchanged"] == 2
    bobs = session.scalars(select(Coverage).where(Coverage.member_id == bob.id)).one()
    bobs.tier = Tier.ES  # not flushed: the diff flushes before it reads
    diff = diff_census(session, group, file, AS_OF)
    assert diff.counts == {"add": 0, "term": 0, "change": 1, "unchanged": 1}


def test_an_error_of_the_statement_is_raised_once_the_file_work_is_done():
    done = []
    with pytest.raises(ZeroDivisionError):
        _overlapped(lambda: 1 // 0, lambda: done.append(True))
    assert done == [True]


def test_an_error_of_the_file_work_waits_for_the_statement():
    finished = []

    def read():
        time.sleep(0.05)
        finished.append(True)
        return "rows"

    def meanwhile():
        raise ValueError("a bad file")

    with pytest.raises(ValueError, match="a bad file"):
        _overlapped(read, meanwhile)
    assert finished == [True]  # the connection was no longer in use when the error left
    assert _overlapped(read, lambda: None) == "rows"


def test_a_file_matches_by_the_digest_an_old_key_made_until_rotation(
    session, enrolled, restore_vault
):
    """The digests worked out while the enrollment is read are the current key's; with an old
    key configured, the digests as stored (an enrolled member not yet re-keyed) decide."""
    group, plan, ann, bob = enrolled
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    configure_vault(old)
    ann.set_ssn("219-09-4321")
    session.flush()
    configure_vault(new, [old])
    row = census_row(ann, "FAM", employee_id="RENUMBERED", ssn="219094321")
    diff = diff_census(session, group, census_file(row, census_row(bob)), AS_OF)
    assert diff.counts["unchanged"] == 2
    assert diff.members[0].kind is ChangeKind.UNCHANGED and diff.members[0].member_id == ann.id


def _typed_columns(enrollment: Enrollment) -> dict[str, list]:
    """Each column's values with their types: a packed read must hand over what the driver
    does row by row (an int as int, a date as the driver's date or text, an amount as stored)."""
    return {
        name: [(type(value), value) for value in enrollment.column[name].tolist()]
        for name in Enrolled._fields
    }


def test_the_enrollment_read_as_columns_is_the_one_read_as_rows(session, enrolled):
    """Names with commas, quotes, accents and spaces, blanks and NULLs (no hire date, no
    salary, no employee id), a member without coverage: the packed read (one text per column)
    gives the values, and their types, that the rows give."""
    group, plan, ann, bob = enrolled
    odd = make_member(
        session,
        group,
        first_name='Zoë "Z", Jr.',
        last_name="  O'Brien-Núñez ",
        employee_id=None,
        annual_salary=None,
        hire_date=None,
    )
    enroll(session, odd, plan, "ES")
    ann.postal_code = ""
    session.flush()
    connection = session.connection()
    columns = Enrollment(session, group, AS_OF)
    table, processors = enrollment_module._read_rows(connection, group, AS_OF)
    rows = {
        name: [(type(value), value) for value in table[:, j].tolist()]
        for j, name in enumerate(Enrolled._fields)
    }
    assert _typed_columns(columns) == rows
    assert len(columns.column["id"]) == 4 and columns.employees_in_force == 3
    assert [p is None for p in columns._typers] == [p is None for p in processors]
    assert columns.enrolled(3).first_name == 'Zoë "Z", Jr.'
    assert columns.enrolled(3).hire_date is None and columns.enrolled(3).annual_salary is None


def test_a_value_holding_the_separator_is_read_as_rows(session, enrolled):
    """A name holding the ASCII record separator (or being the NULL mark) cannot be told apart
    in a packed text: the counts say so and the members are read row by row instead, with the
    same result."""
    group, plan, ann, bob = enrolled
    ann.first_name = "Ann" + packed.SEPARATOR + "Marie"
    bob.last_name = packed.NULL_MARK
    session.flush()
    connection = session.connection()
    from billing_core.models import Member

    members = select(Member.id).where(Member.group_id == group.id)
    assert packed.read_columns(connection, members, (Member.id, Member.first_name)) is None
    assert packed.read_columns(connection, members, (Member.id, Member.last_name)) is None
    enrollment = Enrollment(session, group, AS_OF)
    positions = {v: i for i, v in enumerate(enrollment.column["id"].tolist())}
    assert enrollment.enrolled(positions[ann.id]).first_name == "Ann\x1eMarie"
    assert enrollment.enrolled(positions[bob.id]).last_name == "\x1f"
    assert enrollment.employees_in_force == 2


def test_read_and_diff_reads_the_file_once_and_diffs_as_diff_census(session, enrolled):
    """The upload job's call: the file read while the enrollment is read (in another thread),
    the same diff as reading first; a file of nobody is not diffed (a snapshot of nobody would
    end everyone's coverage)."""
    group, plan, ann, bob = enrolled
    file = census_file(census_row(ann, "FAM"), census_row(bob, "ES"))
    reads = []

    def read():
        reads.append(threading.current_thread())
        return file

    engine = session.connection().engine
    threads = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "member" in statement and ("group_concat" in statement or "string_agg" in statement):
            threads.append(threading.current_thread())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        census, diff = read_and_diff(session, group, read, AS_OF)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert census is file and reads == [threading.current_thread()]
    # The members and their signatures, each one statement, read in another thread.
    assert len(threads) == 2 and threading.current_thread() not in threads
    alone = diff_census(session, group, file, AS_OF)
    assert diff.counts == alone.counts == {"add": 0, "term": 0, "change": 1, "unchanged": 1}
    assert [(e.kind, e.member_id) for e in diff.members] == [
        (e.kind, e.member_id) for e in alone.members
    ]

    empty, nothing = read_and_diff(session, group, lambda: census_file(), AS_OF)
    assert nothing is None and not len(empty.rows)
    assert diff_census(session, group, census_file(), AS_OF).counts["term"] == 2  # as it always did


def test_an_error_reading_the_file_is_raised_by_read_and_diff(session, enrolled):
    group, *_ = enrolled

    def broken():
        raise ValueError("not a census")

    with pytest.raises(ValueError, match="not a census"):
        read_and_diff(session, group, broken, AS_OF)
    assert Enrollment(session, group, AS_OF).employees_in_force == 2  # the connection is free


def test_an_in_memory_sqlite_database_reads_after_the_file_work(session, enrolled, monkeypatch):
    """pysqlite ties an in-memory database's connection to its thread: the enrollment is then
    read after `meanwhile`, in this thread, the same enrollment."""
    group, *_ = enrolled
    alongside = Enrollment(session, group, AS_OF, meanwhile=lambda: None)
    monkeypatch.setattr(enrollment_module, "_threads_may_share", lambda connection: False)
    order = []
    engine = session.connection().engine

    def seen(conn, cursor, statement, parameters, context, executemany):
        order.append(("statement", threading.current_thread()))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        after = Enrollment(session, group, AS_OF, meanwhile=lambda: order.append(("file", None)))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert order[0] == ("file", None)
    assert {thread for kind, thread in order[1:]} == {threading.current_thread()}
    assert _typed_columns(after) == _typed_columns(alongside)


def test_a_value_stored_otherwise_than_its_type_is_read_as_rows(session, enrolled):
    """SQLite keeps whatever a raw write put in a column: a salary stored as a real number
    (not Money's scaled integer) does not read as the packed read's integer, which says so."""
    group, plan, ann, bob = enrolled
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps a column's type")
    from sqlalchemy import text

    from billing_core.models import Member

    connection.execute(
        text("UPDATE member SET annual_salary = 5200000.5 WHERE id = :id"), {"id": ann.id}
    )
    members = select(Member.id).where(Member.group_id == group.id)
    assert packed.read_columns(connection, members, (Member.id, Member.annual_salary)) is None
    assert len(Enrollment(session, group, AS_OF).column["id"]) == 3

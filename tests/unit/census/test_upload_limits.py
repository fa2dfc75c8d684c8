"""Load limits without the web (issue 17, finding 5): rows counted before a file is read and the
refusal naming the limit, the settings, SQLite in WAL mode with a busy timeout, and the write
lock taken first by a transaction that reads for a while and then writes."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from billing_core.census.reader import count_rows, read_census, too_many_rows
from billing_core.census.tabular import read_tabular
from billing_core.config import Settings
from billing_core.db import DEFAULT_BUSY_TIMEOUT, WRITES, begin_writing, make_engine
from billing_core.errors import ConfigurationError
from tests.unit.census.test_census_834 import dependent, interchange, subscriber, transaction

HEADER = "Employee ID,First Name,Last Name,Date of Birth\n"


def _csv(rows: int, blank_every: int = 0) -> bytes:
    lines = [HEADER]
    for n in range(rows):
        lines.append(f"E{n},Ann,Lee{n},01/02/1980\n")
        if blank_every and n % blank_every == 0:
            lines.append("\n")
    return "".join(lines).encode()


def _xlsx(rows: int) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.strip().split(","))
    for n in range(rows):
        sheet.append([f"E{n}", "Ann", f"Lee{n}", "01/02/1980"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _without_dimensions(data: bytes) -> bytes:
    """The workbook with its sheets' <dimension> elements removed (some writers omit them)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info)
            if info.filename.startswith("xl/worksheets/"):
                start = part.find(b"<dimension")
                if start >= 0:
                    part = part[:start] + part[part.index(b"/>", start) + 2 :]
            target.writestr(info, part)
    return out.getvalue()


def test_rows_are_counted_without_reading_the_file():
    assert count_rows(_csv(5)) == 5
    assert count_rows(_csv(5, blank_every=2)) == 5  # blank lines are not rows
    assert count_rows(_csv(0)) == 0
    assert count_rows(_xlsx(7)) == 7  # the sheet's recorded dimension
    assert count_rows(_without_dimensions(_xlsx(7))) is None  # not cheaply: the reader counts
    family = interchange(
        transaction(
            subscriber("E1"), dependent("E1"), subscriber("E2", name="JENKINS*AL")
        )  # "JENKINS*" is a name, not a member
    )
    assert count_rows(family) == 3
    piped = interchange(
        transaction(subscriber("E1"), dependent("E1")), sep="|", term="'", suffix="\r\n"
    )
    assert count_rows(piped) == 2


def test_a_file_over_the_row_limit_is_refused_unread_naming_the_limit():
    assert too_many_rows(_csv(3), "hr.csv", 3) is None
    message = too_many_rows(_csv(4), "hr.csv", 3)
    assert message == (
        "hr.csv has 4 rows; the portal reads at most 3 rows per file. Split it into files of "
        "at most 3 rows, or send a change file with only what changed."
    )
    census = read_census(_csv(4), "hr.csv", max_rows=3)
    assert [e.message for e in census.errors] == [message] and census.members == []
    assert read_census(_csv(3), "hr.csv", max_rows=3).members  # at the limit: read
    members = interchange(transaction(subscriber("E1"), dependent("E1"), subscriber("E2")))
    (refused,) = read_census(members, "enroll.834", max_rows=2).errors
    assert refused.message.startswith("enroll.834 lists 3 members; the portal reads at most 2")
    # A workbook that does not say its size is counted once loaded, before any row is read.
    bare = _without_dimensions(_xlsx(4))
    (error,) = read_tabular(bare, "hr.xlsx", max_rows=3).errors
    assert error.message.startswith("hr.xlsx has 4 rows; the portal reads at most 3")
    assert read_census(bare, "hr.xlsx", max_rows=4).errors == []


def test_load_settings_have_defaults_and_refuse_nonsense():
    settings = Settings.from_env({})
    assert (settings.census_max_rows, settings.job_runner) == (200_000, "thread")
    assert settings.sqlite_busy_timeout == DEFAULT_BUSY_TIMEOUT == 15.0
    assert (
        settings.census_pricing_max_member_months,
        settings.census_pricing_max_retro_members,
    ) == (
        100_000,
        250,
    )
    custom = Settings.from_env(
        {
            "CENSUS_MAX_ROWS": "50_000",
            "CENSUS_PRICING_MAX_MEMBER_MONTHS": "20000",
            "CENSUS_PRICING_MAX_RETRO_MEMBERS": "10",
            "JOB_RUNNER": "inline",
            "SQLITE_BUSY_TIMEOUT": "2.5",
        }
    )
    assert (custom.census_max_rows, custom.census_pricing_max_member_months) == (50_000, 20_000)
    assert (custom.census_pricing_max_retro_members, custom.job_runner) == (10, "inline")
    assert custom.sqlite_busy_timeout == 2.5
    for name, value in (
        ("CENSUS_MAX_ROWS", "0"),
        ("CENSUS_MAX_ROWS", "lots"),
        ("CENSUS_PRICING_MAX_RETRO_MEMBERS", "-1"),
        ("JOB_RUNNER", "celery"),
        ("SQLITE_BUSY_TIMEOUT", "0"),
        ("SQLITE_BUSY_TIMEOUT", "soon"),
    ):
        with pytest.raises(ConfigurationError, match=name):
            Settings.from_env({name: value})


def test_sqlite_files_run_in_wal_mode_with_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15_000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
    engine = make_engine(f"sqlite:///{tmp_path / 'b.sqlite'}", busy_timeout=2.5)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2_500
    engine.dispose()
    memory = make_engine("sqlite://")  # nothing to put in WAL mode
    with memory.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "memory"
    memory.dispose()


@pytest.fixture
def two_connections(tmp_path):
    """A job's engine (which waits at most a second for a lock) and another user's."""
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    job, other = make_engine(url, busy_timeout=1), make_engine(url)
    with job.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE progress (percent INTEGER)")
        connection.exec_driver_sql("INSERT INTO progress VALUES (0)")
    yield job, other
    job.dispose()
    other.dispose()


def _impatient_login(engine) -> None:
    """A write from another connection that waits a tenth of a second for the lock."""
    impatient = make_engine(str(engine.url), busy_timeout=0.1)
    try:
        with impatient.begin() as connection:
            connection.exec_driver_sql("INSERT INTO login VALUES ('now')")
    finally:
        impatient.dispose()


def test_a_read_then_write_transaction_fails_once_another_user_committed(two_connections):
    """Why the job takes the write lock first: in WAL mode a transaction that read before
    another connection committed cannot write at all, and does not wait for it."""
    job, other = two_connections
    with Session(job) as session:
        session.execute(text("SELECT percent FROM progress")).all()  # a long read, say
        with other.begin() as connection:  # meanwhile someone logs in
            connection.exec_driver_sql("CREATE TABLE login (at TEXT)")
        with pytest.raises(OperationalError, match="database is locked"):
            session.execute(text("UPDATE progress SET percent = 40"))


def test_begin_writing_ends_the_read_and_takes_the_write_lock_first(two_connections):
    job, other = two_connections
    with Session(job) as session:
        session.execute(text("SELECT percent FROM progress")).all()
        with other.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE login (at TEXT)")
        begin_writing(session)
        session.execute(text("UPDATE progress SET percent = 40"))
        # Holding the write lock: another writer waits (here, gives up after its timeout)...
        with pytest.raises(OperationalError, match="database is locked"):
            _impatient_login(job)
        with other.connect() as connection:  # ...while readers read on
            assert connection.exec_driver_sql("SELECT percent FROM progress").scalar() == 0
        session.commit()
    with Session(job, execution_options=WRITES) as session:  # how a request that writes begins
        session.execute(text("SELECT percent FROM progress")).all()
        with pytest.raises(OperationalError, match="database is locked"):
            _impatient_login(job)
        session.execute(text("UPDATE progress SET percent = 70"))
        session.commit()
    with other.connect() as connection:
        assert connection.exec_driver_sql("SELECT percent FROM progress").scalar() == 70

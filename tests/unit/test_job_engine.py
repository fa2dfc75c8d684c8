"""A worker's jobs share one engine per process and database (billing_core.jobs.run_job): a
worker running a billing run's chunks one after another keeps its connections and compiled
statements; a forked child (another process id) never uses its parent's."""

from __future__ import annotations

from billing_core import jobs
from billing_core.config import Settings

ENGINE_OF = "tests.unit.test_job_engine.engine_of"


def engine_of(session):
    """A job: the engine its session runs on."""
    return session.get_bind()


def test_jobs_in_one_process_share_an_engine_and_another_process_gets_its_own(
    tmp_path, monkeypatch
):
    settings = Settings().with_overrides(database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    first = jobs.run_job(ENGINE_OF, settings=settings)
    assert jobs.run_job(ENGINE_OF, settings=settings) is first

    monkeypatch.setattr(jobs.os, "getpid", lambda: -1)  # as a forked child would see it
    child = jobs.run_job(ENGINE_OF, settings=settings)
    assert child is not first
    for engine in (first, child):
        engine.dispose()

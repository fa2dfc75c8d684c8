"""An RQ worker for the billing-run bench that has imported the billing run's code before it
takes its first job, as a long-running `rq worker billing` has after its first job: the bench
times the run on workers that are running, not their start (see billing_run.measure_workers)."""

from rq.worker import SimpleWorker

import billing_core.jobs  # noqa: F401  (the chunk job's module and all it imports)
from billing_core.billing import run  # noqa: F401


class WarmWorker(SimpleWorker):
    """SimpleWorker (each chunk runs in the worker process itself), imported warm."""

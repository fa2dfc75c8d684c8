"""Benchmark: read a full-file X12 834 of 100,000 subscribers (about half with a spouse, a third
with children) generated in memory, then write its 999. Target: the read takes at most 10 s.
Exit code 0 whatever the result (a benchmark, not a test).

    .venv/bin/python bench/census_834.py [--subscribers N] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _census_data import generate_834  # noqa: E402

from billing_core.census.x12 import acknowledgement_999, read_834  # noqa: E402

TARGET_SECONDS = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--profile", help="write cProfile stats of the read to this file")
    args = parser.parse_args()

    started = time.perf_counter()
    data = generate_834(args.subscribers)
    print(
        f"generated {args.subscribers:,} subscribers, {len(data) / 1e6:.1f} MB "
        f"in {time.perf_counter() - started:.1f} s"
    )

    profiler = cProfile.Profile() if args.profile else None
    cpu_started = time.process_time()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    census = read_834(data, "bench.834")
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(15)
    read_seconds = time.perf_counter() - started
    read_cpu = time.process_time() - cpu_started

    started = time.perf_counter()
    acknowledgement_999(census, data)
    ack_seconds = time.perf_counter() - started

    print(
        f"read {census.employee_count:,} subscribers and {census.dependent_count:,} dependents "
        f"in {read_seconds:.2f} s ({read_cpu:.2f} s CPU; {len(census.errors)} errors); "
        f"999 in {ack_seconds:.2f} s"
    )
    verdict = "OK" if read_seconds <= TARGET_SECONDS else "SLOW"
    print(f"{verdict}: target {TARGET_SECONDS:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

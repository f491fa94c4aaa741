"""Benchmark: allocate 600 extra officers across 679 wards in 32 boroughs (target < 50 ms).

Run from the repository folder::

    python bench/bench_allocation.py [--runs 200] [--seed 0]

Need is random (gamma-distributed, 5 % of wards at zero), wards are spread over 32 borough
codes. Prints the median and 95th percentile of many runs for the numeric core
(:func:`planner.plan.allocation.apportion`, every method) and for the full ward adapter
(:func:`planner.plan.allocation.allocate_wards`, which also builds the ward and borough tables and
the equity summary), with and without borough floors and caps. Not a test: timings depend on
the machine and its load.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from planner.config import load_config
from planner.plan.allocation import allocate_wards
from planner.plan.apportion import METHODS, apportion

N_WARDS = 679
N_BOROUGHS = 32
POOL = 600
TARGET_MS = 50.0


def _time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    codes = [f"E05{i:06d}" for i in range(N_WARDS)]
    need_values = rng.gamma(2.0, 50.0, N_WARDS) * (rng.random(N_WARDS) > 0.05)
    need = pd.Series(need_values, index=codes)
    boroughs = pd.Series(
        [f"E09{b:06d}" for b in rng.integers(2, 2 + N_BOROUGHS, N_WARDS)], index=codes
    )

    rows = []
    for method in METHODS:
        rows.append(
            (
                f"apportion {method}",
                _time(lambda m=method: apportion(need_values, POOL, method=m), args.runs),
            )
        )
    plain = dataclasses.replace(
        load_config(Path(__file__).resolve().parents[1] / "config").allocation,
        method="webster",
        borough_floor_share=0.0,
        max_extra_per_ward=None,
    )
    scenarios = {
        "allocate_wards webster": plain,
        "allocate_wards webster, floors 0.8, cap 6": dataclasses.replace(
            plain, borough_floor_share=0.8, max_extra_per_ward=6
        ),
        "allocate_wards hamilton, floors 0.8, cap 6": dataclasses.replace(
            plain, method="hamilton", borough_floor_share=0.8, max_extra_per_ward=6
        ),
    }
    for name, settings in scenarios.items():
        rows.append(
            (
                name,
                _time(
                    lambda s=settings: allocate_wards(need, boroughs, pool=POOL, settings=s),
                    args.runs,
                ),
            )
        )

    print(f"{POOL} officers, {N_WARDS} wards, {N_BOROUGHS} boroughs, {args.runs} runs each")
    print(f"{'case':<46} {'median ms':>10} {'p95 ms':>8}")
    for name, (median, p95) in rows:
        flag = "" if median < TARGET_MS else f"  (above the {TARGET_MS:.0f} ms target)"
        print(f"{name:<46} {median:>10.2f} {p95:>8.2f}{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

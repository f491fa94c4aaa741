"""Benchmark: re-scoring every ward after a weight change (what makes the app's sliders live).

Prepares the need inputs once (cached ward_counts, population, features), then times
``score_need`` after changing a weight, many times. Target: under 200 ms for all of London.

Usage: python bench/bench_rescore.py [--data DIR] [--dataset met-2022] [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset", default="met-2022")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    if not Path(args.data).is_dir():
        print(f"skipped: no data folder at {args.data}")
        return 0
    from planner import api
    from planner.config import load_config
    from planner.model.need import score_need
    from planner.scenario import Scenario

    config = load_config(REPO / "config").with_data_dir(args.data)
    scenario = Scenario.from_config(config, args.dataset).changed(use_forecast=False)
    settings = scenario.need
    inputs = api.prepare(config, scenario)
    timings = {"score_only": [], "with_sensitivity": []}
    for i in range(args.runs):
        changed = settings.with_weights(harm=0.3 + 0.01 * (i % 20))
        t = time.perf_counter()
        result = score_need(inputs, changed, with_sensitivity=False)
        timings["score_only"].append(time.perf_counter() - t)
    for i in range(max(3, args.runs // 10)):
        changed = settings.with_weights(rate=0.1 + 0.01 * i)
        t = time.perf_counter()
        score_need(inputs, changed, with_sensitivity=True)
        timings["with_sensitivity"].append(time.perf_counter() - t)
    report = {
        "benchmark": "rescore",
        "dataset": args.dataset,
        "wards": len(result.scores),
        "runs": args.runs,
        "median_ms": {k: round(1000 * statistics.median(v), 1) for k, v in timings.items()},
        "max_ms": {k: round(1000 * max(v), 1) for k, v in timings.items()},
        "target_ms": 200,
    }
    out = REPO / "bench" / "results" / "rescore.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0 if report["median_ms"]["score_only"] < 200 else 1


if __name__ == "__main__":
    sys.exit(main())

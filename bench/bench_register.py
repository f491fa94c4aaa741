"""The plan register with 32 boroughs writing at once, on SQLite and on PostgreSQL.

The driver of ``tests/test_postgres.py`` (4 processes x 8 threads, one writer per borough,
all starting on an empty register at the same moment; each saves a plan of 20 wards as a
planner, records 5 overrides against it as the commander and agrees priorities twice as the
council leader: 256 writes), timed from the moment the writers start to the last write,
``--repeat`` times on each engine, against a throwaway PostgreSQL server
(``tests.factories.PostgresServer``) and an SQLite file. Every run's rows are counted
afterwards. Writes ``bench/results/register.json``; the README's Deployment section shows it
(``python -m planner.docs``).

    python bench/bench_register.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.factories import PostgresServer, register_at  # noqa: E402
from tests.test_postgres import (  # noqa: E402
    BOROUGHS,
    OVERRIDES_PER_WRITER,
    PROCESSES,
    THREADS,
    YEARS,
    run_writers,
)

RESULTS = REPO / "bench" / "results" / "register.json"
WRITES = len(BOROUGHS) * (1 + OVERRIDES_PER_WRITER + len(YEARS))


def one_run(url: str) -> dict[str, Any]:
    """32 writers on a new register at *url*: seconds from the first write to the last."""
    results = run_writers(url)
    start = min(r["started"] for r in results)
    end = max(r["finished"] for r in results)
    register = register_at(url)
    rows = {
        "plans": len(register.list_plans()),
        "overrides": len(register.overrides()),
        "agreed_priorities": len(register.priorities_history()),
    }
    register.close()
    return {
        "seconds": round(end - start, 3),
        "errors": sum(bool(r["error"]) for r in results),
        "rows": rows,
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    median = statistics.median(seconds)
    return {
        "median_s": round(median, 2),
        "max_s": round(max(seconds), 2),
        "writes_per_s": round(WRITES / median),
        "errors": sum(r["errors"] for r in runs),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    server = PostgresServer().start()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "writers": len(BOROUGHS),
        "processes": PROCESSES,
        "threads_per_process": THREADS,
        "writes": WRITES,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="planner-bench-register-") as tmp:
            for engine in ("postgresql", "sqlite"):
                runs = []
                for k in range(args.repeat):
                    url = (
                        server.database()
                        if engine == "postgresql"
                        else f"sqlite:///{Path(tmp) / f'register-{k}.sqlite'}"
                    )
                    runs.append(one_run(url))
                    print(engine, json.dumps(runs[-1]))
                report[engine] = summary(runs)
        report["postgresql_version"] = server.version()
    finally:
        server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    expected = {"plans": 32, "overrides": 32 * OVERRIDES_PER_WRITER, "agreed_priorities": 64}
    good = all(
        r["errors"] == 0 and r["rows"] == expected
        for engine in ("postgresql", "sqlite")
        for r in report[engine]["runs"]
    )
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())

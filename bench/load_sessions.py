"""How many simultaneous sessions the app serves: time, errors and server memory.

Starts ``streamlit run app.py`` on a free loopback port (the real data in ../shared/data, a
throw-away plan register), warms it with one session, then opens N sessions at once in one
headless Chromium (each its own browser context); every session opens the Allocation page,
sets its own pool and checks the page states it (the driver of tests/test_load.py). Prints
and writes ``bench/results/load.json``; docs/load.md records the figures.

    python bench/load_sessions.py --sessions 20 --sessions 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_browser import AppServer, missing_prerequisites  # noqa: E402
from tests.test_load import MemorySampler, memory_kib, run_sessions  # noqa: E402

RESULTS = REPO / "bench" / "results" / "load.json"


def measure(server: AppServer, sessions: int, timeout: float) -> dict[str, Any]:
    """One run of *sessions* simultaneous sessions against a running server."""
    assert server.proc is not None
    before = memory_kib(server.proc.pid) or 0
    with MemorySampler(server.proc.pid) as memory:
        start = time.perf_counter()
        try:
            results = run_sessions(server.url, sessions, timeout=timeout)
            timed_out = False
        except TimeoutError:
            results, timed_out = [], True
        elapsed = time.perf_counter() - start
    seconds = sorted(r.seconds for r in results)
    return {
        "sessions": sessions,
        "timed_out": timed_out,
        "wall_s": round(elapsed, 1),
        "session_s_median": round(seconds[len(seconds) // 2], 1) if seconds else None,
        "session_s_max": round(seconds[-1], 1) if seconds else None,
        "sessions_with_errors": sum(bool(r.errors) for r in results),
        "errors": [e[:300] for r in results for e in r.errors][:10],
        "own_pool_shown": sum(r.shown_pool == r.pool == r.shown_at_end for r in results),
        "server_rss_before_mib": round(before / 1024),
        "server_rss_peak_mib": round(memory.peak_mib),
        "server_rss_after_mib": round((memory_kib(server.proc.pid) or 0) / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, action="append", help="repeatable; default 20")
    parser.add_argument("--timeout", type=float, default=300.0, help="per run, seconds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    missing = missing_prerequisites()
    if missing:
        print("cannot run: missing " + "; ".join(missing), file=sys.stderr)
        return 2
    runs = []
    with tempfile.TemporaryDirectory(prefix="planner-load-") as tmp:
        server = AppServer(Path(tmp)).start()
        try:
            ready = server.wait_ready()
            warm_start = time.perf_counter()
            run_sessions(server.url, 1, timeout=args.timeout)  # the first load fills the cache
            warm = time.perf_counter() - warm_start
            for n in args.sessions or [20]:
                runs.append(measure(server, n, args.timeout))
                print(json.dumps(runs[-1]))
        finally:
            server.stop()
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "server_ready_s": round(ready, 1),
        "first_session_s": round(warm, 1),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["sessions_with_errors"] == 0 and not r["timed_out"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())

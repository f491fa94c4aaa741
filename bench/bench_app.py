"""Benchmark: the Streamlit app in a real browser, and the Python work behind a weight change.

Three measurements, all on the default data set (met-2022, all of London: 679 scored wards,
704 drawn):

(a) cold start to first map: from launching ``streamlit run app.py`` (a new server process,
    so no Streamlit cache) until headless Chromium shows the Leaflet ward polygons. With the
    data cache on disk ("warm disk cache", the usual restart) and, once, in an empty working
    folder ("empty disk cache": ingest builds ward_counts first).
(b) weight change to updated table: on the Allocation page (all of London) the Harm weight
    slider is moved one step with the keyboard; the time until the allocation table shows
    changed values, and until the app has finished its rerun. Target: under 1 s.
(c) the Python side alone: ``run_plan`` (scoring + allocation of 600 officers) and
    ``score_need`` after a weight change, in this process with the data prepared once.

The browser is driven with the helpers of ``tests/test_browser.py`` (system Chromium, the map's
CDN assets answered locally: no network). Results go to ``bench/results/app.json``.

Usage: python bench/bench_app.py [--starts 3] [--changes 10] [--python-runs 30] [--no-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_browser import (  # noqa: E402  (the repository must be importable first)
    DATA,
    MAP_FRAME,
    MET_WARDS,
    AppServer,
    launch,
    missing_prerequisites,
    table_cells,
    wait_for_ward_paths,
    wait_until_idle,
)

TARGET_S = 1.0


def cold_start(playwright, *, cwd: Path = REPO) -> dict[str, float]:
    """Launch a server, load the app, wait for the map; seconds from the launch.

    Also the stages on the way (the script's sidebar done, the map's iframe attached) and the
    first map of a second browser session on the same server (Streamlit caches warm).
    """
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        browser, page = launch(playwright)  # started first: not part of the figure
        server = AppServer(Path(tmp), cwd=cwd).start()

        def since_launch() -> float:
            return time.perf_counter() - server.started

        try:
            out = {"server_ready_s": server.wait_ready()}
            page.goto(server.url, wait_until="domcontentloaded")
            page.locator(".st-key-w_harm").first.wait_for(timeout=600_000)
            out["sidebar_done_s"] = since_launch()
            page.locator(MAP_FRAME).first.wait_for(state="attached", timeout=600_000)
            out["map_iframe_s"] = since_launch()
            out["ward_paths"] = wait_for_ward_paths(page, MET_WARDS)
            out["first_map_s"] = since_launch()
            wait_until_idle(page)
            second = page.context.new_page()
            start = time.perf_counter()
            second.goto(server.url, wait_until="domcontentloaded")
            wait_for_ward_paths(second, MET_WARDS)
            out["second_session_first_map_s"] = time.perf_counter() - start
        finally:
            browser.close()
            server.stop()
    return out


def weight_changes(playwright, changes: int) -> dict[str, Any]:
    """Move the Harm weight slider *changes* times; time table update and rerun end."""
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        server = AppServer(Path(tmp)).start()
        browser, page = launch(playwright)
        try:
            server.wait_ready()
            page.goto(f"{server.url}/allocation", wait_until="domcontentloaded")
            page.locator('[data-testid="stDataFrame"] td[role=gridcell]').first.wait_for(
                state="attached", timeout=600_000
            )
            wait_until_idle(page)
            slider = page.locator(".st-key-w_harm input[type=range]").first
            table, rerun = [], []
            for i in range(changes):
                before = table_cells(page)
                slider.focus()
                start = time.perf_counter()
                page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                deadline = start + 30
                while table_cells(page) == before:
                    if time.perf_counter() > deadline:
                        raise TimeoutError("the allocation table did not change within 30 s")
                    time.sleep(0.01)
                table.append(time.perf_counter() - start)
                wait_until_idle(page)  # ends 0.5 s after the status widget goes
                rerun.append(time.perf_counter() - start - 0.5)
        finally:
            browser.close()
            server.stop()
    return {"table_updated_s": table, "rerun_finished_s": rerun}


def python_side(runs: int) -> dict[str, Any]:
    """api.plan and api.score after a weight change, data prepared once (as the app does)."""
    from planner import api
    from planner.config import load_config
    from planner.scenario import Scenario

    config = load_config(REPO / "config").with_data_dir(DATA)
    scenario = Scenario.from_config(config, "met-2022").changed(use_forecast=False)
    start = time.perf_counter()
    inputs = api.prepare(config, scenario)
    prepare_s = time.perf_counter() - start
    plan_s, score_s = [], []
    for i in range(runs):
        changed = scenario.changed(weights={**scenario.need.weights, "harm": 0.3 + 0.01 * (i % 20)})
        t = time.perf_counter()
        plan = api.plan(inputs, changed)
        plan_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        api.score(inputs, changed, with_sensitivity=False)
        score_s.append(time.perf_counter() - t)
    return {
        "prepare_need_s": prepare_s,
        "run_plan_s": plan_s,
        "score_need_s": score_s,
        "wards": len(plan.need.scores),
        "pool": scenario.pool,
    }


def machine() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), "")
    mem = ""
    with open("/proc/meminfo", encoding="utf-8") as f:
        mem = next((line.split(":", 1)[1].strip() for line in f if "MemTotal" in line), "")
    chromium = subprocess.run(
        ["/usr/bin/chromium", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    from importlib.metadata import version

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpus_available": len(os.sched_getaffinity(0)),
        "memory": mem,
        "load_average_1m": os.getloadavg()[0],
        "chromium": chromium,
        "packages": {p: version(p) for p in ("streamlit", "streamlit-folium", "playwright")},
    }


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "uncommitted": git("status", "--short").split("\n")}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": len(values),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3, help="warm-disk-cache cold starts")
    parser.add_argument("--changes", type=int, default=10, help="slider moves in the browser")
    parser.add_argument("--python-runs", type=int, default=30)
    parser.add_argument("--no-cold", action="store_true", help="skip the empty-cache start")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        print("skipped: the benchmark needs " + "; ".join(missing))
        return 0
    from playwright.sync_api import sync_playwright

    report: dict[str, Any] = {"benchmark": "app", "machine": machine(), "git": git_state()}
    report["load_average_before"] = os.getloadavg()
    with sync_playwright() as playwright:
        if not args.no_cold:
            with tempfile.TemporaryDirectory(prefix="bench-app-cwd-") as empty:
                report["start_empty_disk_cache"] = cold_start(playwright, cwd=Path(empty))
        starts = [cold_start(playwright) for _ in range(args.starts)]
        stages = ("server_ready_s", "sidebar_done_s", "map_iframe_s", "first_map_s")
        report["start_warm_disk_cache"] = {
            **{k: summary([r[k] for r in starts]) for k in stages},
            "second_session_first_map_s": summary(
                [r["second_session_first_map_s"] for r in starts]
            ),
            "ward_paths": starts[0]["ward_paths"],
            "runs": starts,
        }
        changes = weight_changes(playwright, args.changes)
    report["weight_change_browser"] = {
        "table_updated_s": summary(changes["table_updated_s"]),
        "rerun_finished_s": summary(changes["rerun_finished_s"]),
        "target_s": TARGET_S,
        "runs": changes,
    }
    py = python_side(args.python_runs)
    report["weight_change_python"] = {
        "run_plan_s": summary(py["run_plan_s"]),
        "score_need_s": summary(py["score_need_s"]),
        "prepare_need_s": round(py["prepare_need_s"], 2),
        "wards": py["wards"],
        "pool": py["pool"],
    }
    report["load_average_after"] = os.getloadavg()
    out = REPO / "bench" / "results" / "app.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    brief = {k: v for k, v in report.items() if k not in ("machine", "git")}
    for key in ("start_warm_disk_cache", "weight_change_browser"):
        brief[key] = {k: v for k, v in brief[key].items() if k != "runs"}
    print(json.dumps(brief, indent=1, default=str))
    met = report["weight_change_browser"]["table_updated_s"]["median"] < TARGET_S
    print(f"weight change to updated table: {'met' if met else 'MISSED'} the {TARGET_S} s target")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

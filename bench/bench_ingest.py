"""Ingest benchmark (issue 12): planner.ingest against the plain geopandas pipeline.

Two datasets, each pipeline in its own fresh Python process so that peak memory is per
pipeline:

- ``policeuk-2014``: 18 months of data.police.uk API JSON (about 1.2M records, 1.15M after
  de-duplication) on the 2014 wards;
- ``burglary-check``: 20 months of police.uk street CSVs (89,081 rows) on the May 2022 wards.

For each: ``planner``, ``planner.ingest.ingest(config, DATASET, use_cache=False)`` with a
temporary cache folder; ``reload`` (the API dataset), the same call with ``use_cache=True``
in another fresh process, reading what the planner run just wrote; ``baseline``,
``bench/baseline_geopandas.py``, the fair baseline of issue 12 (``json.loads`` of every
member's bytes into tuples of the five fields used, or ``pd.read_csv`` of every file; a
DataFrame, drop_duplicates, points_from_xy, to_crs, sjoin, groupby, Parquet) on the same
files.

For every run: the process wall time seen from here (interpreter start, imports and work:
the end-to-end figure), the time inside the child (imports and work; for the planner calls,
the call alone), user+system CPU time of the child and of its own worker processes
(``getrusage``), and peak memory: the child's peak RSS (``ru_maxrss``) and the peak of the
proportional set size (PSS) summed over the child and its worker processes, sampled every
10 ms from ``/proc``; ``peak_mib`` is the larger of the two, so that the planner's worker
processes count (PSS shares their pages with the parent instead of counting them twice).
Each is repeated ``--repeat`` times in interleaved rounds and the median is reported with the
load average. A final (untimed) check compares the ward x month x category tables of both
pipelines. Results go to ``bench/results/ingest.json``: the API dataset's figures at the top
level (``medians``, ``ratios``, ``passed``, ``check``), both datasets' under ``datasets``.

A benchmark, not a test: the exit status is 1 when a target of issue 12 is missed
(speed-up < 5, peak memory > 50 % of the baseline's, for either dataset; reload >= 1 s),
0 otherwise, and 0 with a message when the data folder is absent.

Usage: python bench/bench_ingest.py [--data DIR] [--repeat N] [--out FILE] [--no-check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "bench" / "baseline_geopandas.py"
README = REPO / "bench" / "README.md"
BEGIN, END = "<!-- ingest:begin -->", "<!-- ingest:end -->"
DATASETS: dict[str, dict[str, Any]] = {
    "policeuk-2014": {
        "label": "18 months of police.uk API JSON",
        "kind": "police_uk_api",
        "incidents": "incidents/met_api_by_ward_2016-07_to_2017-12",
        "wards": "wards/london_wards_2014/London_Ward.shp",
        "ward_code": "GSS_CODE",
        "baseline_options": [],
    },
    "burglary-check": {
        "label": "20 months of police.uk street CSVs",
        "kind": "police_uk_csv",
        "incidents": "incidents/met_street_burglary_only_2023-07_to_2025-02",
        "wards": "wards/london_wards_2022_bgc_incl_city/E12000007.topojson",
        "ward_code": "WD22CD",
        "baseline_options": ["--csv", "--layer", "ward", "--ward-crs", "EPSG:4326"],
    },
}
DATASET = "policeuk-2014"  # the one with the reload run and the top-level figures
TARGETS = {"speedup_min": 5.0, "memory_ratio_max": 0.5, "reload_max_s": 1.0}  # issue 12
PACKAGES = ("numpy", "pandas", "pyarrow", "isal", "msgspec", "geopandas", "shapely", "pyproj")
KEYS = ["ward_code", "month", "category"]
INGEST_CODE = ("planner/ingest", "planner/config", "planner/schema.py", "planner/errors.py")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.render:
        _render(json.loads(args.out.read_text()))
        return 0
    args.command = " ".join(["python bench/bench_ingest.py", *argv])
    data = args.data.resolve()
    needed = [data / d[k] for d in DATASETS.values() for k in ("incidents", "wards")]
    missing = [p for p in needed if not p.exists()]
    if missing:
        print(
            f"skipped: the ingest benchmark needs {missing[0]} (data folder {data}). "
            "Pass --data DIR pointing at a folder laid out like ../shared/data."
        )
        return 0
    load_at_start = os.getloadavg()[0]
    if load_at_start >= 0.5:
        print(f"warning: load average {load_at_start:.2f} at the start (quiet is under 0.5)")
    _warm_page_cache([p if p.is_dir() else p.parent for p in needed])
    code = {**_git(), "ingest_code_sha256": _code_fingerprint()}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        runs, checks = _run_all(data, Path(tmp), repeat=args.repeat, check=not args.no_check)
    code["ingest_code_changed_during_run"] = _code_fingerprint() != code["ingest_code_sha256"]
    if code["ingest_code_changed_during_run"]:
        print("warning: the ingest code or config/ changed while the benchmark ran")
    report = _report(args, data, runs, checks, code)
    report["load_average_at_start"] = load_at_start
    report["load_average_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(_table(report))
    print(f"\nresults written to {args.out}")
    if args.out.resolve() == (REPO / "bench" / "results" / "ingest.json").resolve():
        _render(report)
        print(f"figures rendered into {README}")
    return 0 if all(report["passed"].values()) else 1


def _run_all(
    data: Path, work: Path, *, repeat: int, check: bool
) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], dict[str, dict[str, Any] | None]]:
    """Interleaved rounds of every pipeline of every dataset; then the comparisons."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"planner": [], "baseline": []} | ({"reload": []} if name == DATASET else {})
        for name in DATASETS
    }
    outs: dict[str, dict[str, str]] = {}
    for i in range(repeat):
        for name, d in DATASETS.items():
            common = {"data": str(data), "dataset": name, "cache_dir": str(work / f"{name}-{i}")}
            baseline = {
                "incidents": str(data / d["incidents"]),
                "wards": str(data / d["wards"]),
                "out": str(work / f"baseline-{name}-{i}.parquet"),
                "options": json.dumps(["--ward-code", d["ward_code"], *d["baseline_options"]]),
            }
            steps = [("planner", "planner", common), ("baseline", "geopandas baseline", baseline)]
            if name == DATASET:
                steps.insert(1, ("reload", "reload from the cache", common))
            for kind, label, params in steps:
                print(f"round {i + 1}/{repeat}: {name}: {label}", flush=True)
                runs[name][kind].append(_timed_and_observed(kind, params, work))
            outs[name] = {"baseline": baseline["out"], "cache_dir": common["cache_dir"]}
    for name in DATASETS:  # untimed: where the time goes
        print(f"profiling the planner's stages: {name}", flush=True)
        params = {"data": str(data), "dataset": name, "cache_dir": str(work / f"{name}-stages")}
        runs[name]["stages"] = [_measure("stages", params, work)]
    checks: dict[str, dict[str, Any] | None] = {name: None for name in DATASETS}
    if check:
        for name in DATASETS:
            print(f"checking that both pipelines count the same records: {name}", flush=True)
            params = {
                "data": str(data),
                "dataset": name,
                "ward_counts": runs[name]["planner"][-1]["ward_counts_file"],
                "baseline": outs[name]["baseline"],
            }
            checks[name] = _measure("check", params, work)
    return runs, checks


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Ingest benchmark: planner.ingest vs a plain geopandas pipeline (issue 2)."
    )
    p.add_argument(
        "--data",
        type=Path,
        default=REPO.parent / "shared" / "data",
        metavar="DIR",
        help="data folder laid out like ../shared/data (default: ../shared/data)",
    )
    p.add_argument("--repeat", type=int, default=3, metavar="N", help="rounds (default 3)")
    p.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results" / "ingest.json",
        metavar="FILE",
        help="results JSON (default bench/results/ingest.json)",
    )
    p.add_argument("--no-check", action="store_true", help="skip the comparison of the tables")
    p.add_argument("--render", action="store_true", help="only render bench/README.md from --out")
    return p


# --- measuring ----------------------------------------------------------------------


def _warm_page_cache(paths: list[Path]) -> None:
    """Read every input once, so that neither pipeline pays for a cold disk."""
    for root in paths:
        for f in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if f.is_file():
                with f.open("rb") as fh:
                    while fh.read(1 << 20):
                        pass


def _tree_pss_kib(pid: int) -> int:
    """The proportional set size of *pid* and all its descendants, in KiB (0 once gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                total += next((int(ln.split()[1]) for ln in fh if ln.startswith("Pss:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return total


class _PeakSampler(threading.Thread):
    """Samples the PSS of a process tree every 10 ms; ``peak_kib`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.samples = pid, 0, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.01):
            self.peak_kib = max(self.peak_kib, _tree_pss_kib(self.pid))
            self.samples += 1

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _timed_and_observed(kind: str, params: dict[str, str], work: Path) -> dict[str, Any]:
    """One timed run of *kind*, unobserved, and one more whose memory is sampled.

    Reading a process tree's ``smaps_rollup`` every 10 ms walks its page tables under the
    memory-map lock, which stalls a process that allocates as it works (the planner's main
    process and its workers most): the times come from a run nobody watches, the peak memory
    from its twin.
    """
    timed = _measure(kind, params, work, observe=False)
    twin = dict(params)
    if kind == "planner":  # its own cache folder: the timed run's entry stays for the check
        twin["cache_dir"] = params["cache_dir"] + "-observed"
    observed = _measure(kind, twin, work, observe=True)
    peak = max(timed["peak_rss_mib"], observed["peak_rss_mib"], observed["peak_tree_pss_mib"])
    return timed | {
        "peak_tree_pss_mib": observed["peak_tree_pss_mib"],
        "pss_samples": observed["pss_samples"],
        "peak_mib": peak,
        "observed_run": {k: observed[k] for k in ("process_wall_s", "cpu_s", "peak_rss_mib")},
    }


def _measure(
    kind: str, params: dict[str, str], work: Path, *, observe: bool = True
) -> dict[str, Any]:
    """Run one child process of *kind*; its report plus the wall time seen here and, when
    *observe*, the peak PSS of its process tree sampled every 10 ms."""
    out = work / f"{kind}-report.json"
    log = work / f"{kind}.log"
    out.unlink(missing_ok=True)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", kind,
             json.dumps(params), str(out)],
            stdout=fh, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
        sampler = _PeakSampler(proc.pid)
        if observe:
            sampler.start()
        status = proc.wait()
        if observe:
            sampler.stop()
    wall = time.perf_counter() - start
    if status != 0 or not out.is_file():
        sys.exit(f"the {kind} run failed (status {status}):\n{log.read_text()[-4000:]}")
    report = json.loads(out.read_text())
    tree = sampler.peak_kib / 1024
    report |= {
        "process_wall_s": wall,
        "load_avg_1min_before": load_before,
        "load_avg_1min_after": os.getloadavg()[0],
        "peak_tree_pss_mib": tree,
        "pss_samples": sampler.samples,
        "peak_mib": max(report["peak_rss_mib"], tree),
    }
    return report


def _child(kind: str, params_json: str, out: str) -> None:
    """In the child process: do the work of *kind*, then report time, CPU and peak RSS."""
    start = time.perf_counter()
    report = _CHILDREN[kind](json.loads(params_json))
    report["in_process_s"] = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    report["cpu_self_s"] = usage.ru_utime + usage.ru_stime
    report["cpu_workers_s"] = workers.ru_utime + workers.ru_stime
    report["cpu_s"] = report["cpu_self_s"] + report["cpu_workers_s"]
    report["peak_rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    report["peak_rss_largest_worker_mib"] = workers.ru_maxrss / 1024
    Path(out).write_text(json.dumps(report))


def _planner_config(params: dict[str, str]) -> Any:
    from planner.config import load_config

    config = load_config(REPO / "config").with_data_dir(params["data"])
    if "cache_dir" in params:
        config = config.with_cache_dir(params["cache_dir"])
    return config


def _child_planner(params: dict[str, str], *, use_cache: bool = False) -> dict[str, Any]:
    from planner.ingest import ingest

    config = _planner_config(params)
    start = time.perf_counter()
    result = ingest(config, params["dataset"], use_cache=use_cache)
    call = time.perf_counter() - start
    if result.from_cache != use_cache:
        raise RuntimeError(f"expected from_cache={use_cache}, got {result.from_cache}")
    saved = Path(result.cache_dir) / "ward_counts.parquet"  # the cache's copy, for the check
    if not saved.is_file():
        raise RuntimeError(f"the cache entry {result.cache_dir} has no ward_counts.parquet")
    return {
        "call_s": call,
        "ward_counts_rows": len(result.ward_counts),
        "records_counted": int(result.ward_counts["count"].sum()),
        "ward_counts_file": str(saved),
    }


def _child_reload(params: dict[str, str]) -> dict[str, Any]:
    return _child_planner(params, use_cache=True)


def _child_baseline(params: dict[str, str]) -> dict[str, Any]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("baseline_geopandas", BASELINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports geopandas: part of the measured work
    options = json.loads(params["options"])
    module.main([params["incidents"], params["wards"], params["out"], *options])
    return {"out": params["out"]}


def _child_check(params: dict[str, str]) -> dict[str, Any]:
    """Compare the two tables; the planner's points are joined again to split inside/nearest."""
    import numpy as np
    import pandas as pd

    from planner.ingest.join import join_incidents
    from planner.ingest.sources.police_uk import read_street_csv
    from planner.ingest.sources.police_uk_api import read_api_json
    from planner.ingest.sources.wards import read_dataset_wards

    name = params["dataset"]
    d = DATASETS[name]
    config = _planner_config({"data": params["data"]})
    wards = read_dataset_wards(config, name).frame
    api = d["kind"] == "police_uk_api"
    read = read_api_json if api else read_street_csv
    frame = read(config.resolve(d["incidents"]), categories=config.categories,
                 checks=config.coordinates)  # fmt: skip
    joined = join_incidents(
        frame.incidents, wards, snap_distance_m=config.join.snap_distance_m
    ).incidents
    by_how = joined.groupby([*KEYS, "how"], observed=True).size().unstack("how", fill_value=0)
    inside = by_how.get("inside", pd.Series(0, index=by_how.index)).rename("planner_inside")
    nearest = by_how.get("nearest", pd.Series(0, index=by_how.index)).rename("planner_nearest")

    counts = pd.read_parquet(params["ward_counts"])
    planner = counts.astype({k: str for k in KEYS}).groupby(KEYS)["count"].sum()
    base = pd.read_parquet(params["baseline"]).rename(columns={d["ward_code"]: "ward_code"})
    mapping = config.categories.api if api else config.categories.csv
    names = base["category"].map(lambda c: mapping.get(" ".join(str(c).split()).casefold()))
    unmapped = sorted(set(base.loc[names.isna(), "category"]))
    baseline = base.assign(category=names).dropna(subset=["category"]).groupby(KEYS)["count"]
    baseline = baseline.sum()

    table = pd.concat(
        [planner.rename("planner"), inside, nearest, baseline.rename("baseline")], axis=1
    )
    table.index = table.index.set_names(KEYS)
    table = table.fillna(0).astype("int64")
    diff = table["planner_inside"] - table["baseline"]
    return {
        "cells": len(table),
        "planner_total": int(table["planner"].sum()),
        "planner_inside": int(table["planner_inside"].sum()),
        "planner_nearest": int(table["planner_nearest"].sum()),
        "baseline_total": int(table["baseline"].sum()),
        "ward_counts_equal_inside_plus_nearest": bool(
            (table["planner"] == table["planner_inside"] + table["planner_nearest"]).all()
        ),
        "cells_inside_differing_from_baseline": int((diff != 0).sum()),
        "sum_abs_difference_inside_vs_baseline": int(diff.abs().sum()),
        "cells_total_differing_from_baseline": int((table["planner"] != table["baseline"]).sum()),
        "pearson_r_total_vs_baseline": float(
            np.corrcoef(table["planner"], table["baseline"])[0, 1]
        ),
        "baseline_categories_unmapped": unmapped,
        "identical_inside_vs_baseline": bool((diff == 0).all()),
    }


# Where the planner's process spends its time: (label, module, function) wrapped in the
# stages child; the rest of the call is "other" (the decoding pool's wall time is what the main
# process waits for it, less what it did meanwhile).
_STAGES = (
    ("hashing the inputs", "planner.ingest.build", "sha256_file"),
    ("reading the wards", "planner.ingest.sources.wards", "read_dataset_wards"),
    ("street CSVs read, checked and joined by month", "planner.ingest.build", "stream_street_csv"),
    ("canonical rows: checks, de-duplication, reprojection", "planner.ingest.sources.incident_rows",
     "canonical"),
    ("merging the archives' columns", "planner.ingest.sources.police_uk_api", "_combined"),
    ("spatial join", "planner.ingest.build", "join_incidents"),
    ("ward counts and the placement tally", "planner.ingest.build", "point_counts"),
    ("ward counts and the placement tally", "planner.ingest.build", "point_tally"),
    ("summing the sources' counts", "planner.ingest.build", "_sum_counts"),
    ("coverage", "planner.ingest.build", "coverage_table"),
    ("quality report", "planner.ingest.build", "quality_report"),
    ("writing the cache", "planner.ingest.cache", "publish"),
)  # fmt: skip


def _child_stages(params: dict[str, str]) -> dict[str, Any]:
    """One untimed, instrumented run: seconds per stage of the planner's main process."""
    import functools
    import importlib

    start = time.perf_counter()
    from planner.ingest import ingest

    config = _planner_config(params)
    imported = time.perf_counter() - start
    spent: dict[str, float] = {}
    depth = [0]  # a stage inside another (canonical within the street reader) counts once

    def timed(label: str, f: Any) -> Any:
        @functools.wraps(f)
        def run(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            t = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    spent[label] = spent.get(label, 0.0) + time.perf_counter() - t

        return run

    for label, module, name in _STAGES:
        mod = importlib.import_module(module)
        if hasattr(mod, name):
            setattr(mod, name, timed(label, getattr(mod, name)))
    t = time.perf_counter()
    ingest(config, params["dataset"], use_cache=False)
    call = time.perf_counter() - t
    stages = {"importing the planner and loading the configuration": imported}
    stages |= {k: v for k, v in spent.items() if v >= 0.005}
    stages["waiting for the decoding pool, and everything else"] = call - sum(spent.values())
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = workers.ru_utime + workers.ru_stime
    return {"call_s": call, "stages_s": stages, "workers_cpu_s": cpu}


_CHILDREN = {
    "stages": _child_stages,
    "planner": _child_planner,
    "reload": _child_reload,
    "baseline": _child_baseline,
    "check": _child_check,
}


# --- reporting ----------------------------------------------------------------------

_FIELDS = ("process_wall_s", "in_process_s", "cpu_s", "cpu_self_s", "cpu_workers_s",
           "peak_rss_mib", "peak_tree_pss_mib", "peak_mib", "load_avg_1min_before")  # fmt: skip


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _one_dataset(
    name: str, runs: dict[str, list[dict[str, Any]]], check: dict[str, Any] | None
) -> dict[str, Any]:
    stages = runs.pop("stages", [{}])[0]
    medians = {k: {f: _median(v, f) for f in _FIELDS} for k, v in runs.items()}
    for k in ("planner", "reload"):
        if k in runs:
            medians[k]["call_s"] = _median(runs[k], "call_s")
    planner, baseline = medians["planner"], medians["baseline"]
    ratios = {
        "speedup_wall": baseline["process_wall_s"] / planner["process_wall_s"],
        "speedup_cpu": baseline["cpu_s"] / planner["cpu_s"],
        "memory_ratio": planner["peak_mib"] / baseline["peak_mib"],
    }
    passed = {
        "speedup": ratios["speedup_wall"] >= TARGETS["speedup_min"],
        "memory": ratios["memory_ratio"] <= TARGETS["memory_ratio_max"],
    }
    if "reload" in medians:
        ratios["reload_call_s"] = medians["reload"]["call_s"]
        ratios["reload_process_wall_s"] = medians["reload"]["process_wall_s"]
        passed["reload"] = ratios["reload_call_s"] < TARGETS["reload_max_s"]
    if check is not None:
        passed["same_counts"] = check["identical_inside_vs_baseline"]
    d = DATASETS[name]
    return {
        "label": d["label"],
        "inputs": {"incidents": d["incidents"], "wards": d["wards"]},
        "medians": medians,
        "ratios": ratios,
        "passed": passed,
        "check": check,
        "stages": stages,
        "runs": runs,
    }


def _report(
    args: argparse.Namespace,
    data: Path,
    runs: dict[str, dict[str, list[dict[str, Any]]]],
    checks: dict[str, dict[str, Any] | None],
    code: dict[str, Any],
) -> dict[str, Any]:
    datasets = {name: _one_dataset(name, runs[name], checks[name]) for name in DATASETS}
    main_set = datasets[DATASET]
    passed = dict(main_set["passed"])
    for name, ds in datasets.items():
        if name != DATASET:
            passed |= {f"{name}_{k}": v for k, v in ds["passed"].items()}
    return {
        "benchmark": "ingest",
        "dataset": DATASET,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": args.command,
        "data_dir": str(data),
        "inputs": main_set["inputs"],
        "repeat": args.repeat,
        "machine": _machine(),
        "code": code,
        "targets": TARGETS,
        "memory_measure": "peak_mib: the larger of the process's peak RSS and the peak PSS "
        "summed over it and its worker processes (sampled every 10 ms)",
        "medians": main_set["medians"],
        "ratios": main_set["ratios"],
        "passed": passed,
        "check": main_set["check"],
        "datasets": {
            k: {kk: vv for kk, vv in v.items() if kk != "runs"} for k, v in datasets.items()
        },
        "runs": {k: v["runs"] for k, v in datasets.items()},
    }


def _machine() -> dict[str, Any]:
    cpu = mem = None
    with open("/proc/cpuinfo") as fh:
        cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), None)
    with open("/proc/meminfo") as fh:
        mem = next((int(ln.split()[1]) for ln in fh if ln.startswith("MemTotal")), 0)
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "memory_gib": round(mem / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def _git() -> dict[str, Any]:
    """The commit and the uncommitted changes, when the run starts."""

    def git(*cmd: str) -> str:
        out = subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    modified = [line for line in git("status", "--porcelain").split("\n") if line]
    return {"commit": git("rev-parse", "HEAD"), "modified": modified}


def _code_fingerprint() -> str:
    """sha256 of the code and settings the ingest runs: others may edit them meanwhile."""
    files: list[Path] = []
    for part in INGEST_CODE:
        root = REPO / part
        files += sorted(root.rglob("*.py")) if root.is_dir() else [root]
    files += sorted((REPO / "config").glob("*.toml"))
    digest = hashlib.sha256()
    for f in files:
        if f.is_file():
            digest.update(f.relative_to(REPO).as_posix().encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def _table(report: dict[str, Any]) -> str:
    t = report["targets"]
    ok = {True: "ok", False: "MISSED"}
    lines = [
        f"\nmedians of {report['repeat']} run(s); {report['machine']['nproc']} CPUs, "
        f"{report['machine']['cpu_model']}; load average {report['load_average_at_start']:.2f} "
        f"at the start, {report['load_average_at_end']:.2f} at the end",
    ]
    for name, ds in report["datasets"].items():
        m, r, passed = ds["medians"], ds["ratios"], ds["passed"]
        lines += [
            f"\n{name}: {ds['label']}",
            f"{'':22}{'wall s':>9}{'in-proc s':>11}{'call s':>9}{'CPU s':>9}{'workers':>9}"
            f"{'peak MiB':>10}{'RSS MiB':>9}{'tree PSS':>10}{'load':>6}",
        ]
        for key, label in (
            ("planner", "planner ingest"),
            ("baseline", "geopandas baseline"),
            ("reload", "reload from cache"),
        ):
            if key not in m:
                continue
            row = m[key]
            call = f"{row['call_s']:9.2f}" if "call_s" in row else f"{'-':>9}"
            lines.append(
                f"{label:22}{row['process_wall_s']:9.2f}{row['in_process_s']:11.2f}{call}"
                f"{row['cpu_s']:9.2f}{row['cpu_workers_s']:9.2f}{row['peak_mib']:10.0f}"
                f"{row['peak_rss_mib']:9.0f}{row['peak_tree_pss_mib']:10.0f}"
                f"{row['load_avg_1min_before']:6.2f}"
            )
        lines += [
            f"speed-up (process wall): {r['speedup_wall']:.2f}x  target >= {t['speedup_min']}x  "
            f"{ok[passed['speedup']]}   (CPU time: {r['speedup_cpu']:.2f}x)",
            f"peak memory ratio: {r['memory_ratio']:.2f}  target <= {t['memory_ratio_max']}  "
            f"{ok[passed['memory']]}",
        ]
        if "reload" in passed:
            lines.append(
                f"reload from cache: {r['reload_call_s']:.2f} s in process "
                f"({r['reload_process_wall_s']:.2f} s with interpreter and imports)  "
                f"target < {t['reload_max_s']} s  {ok[passed['reload']]}"
            )
        c = ds["check"]
        if c is not None:
            lines.append(
                f"counts: planner {c['planner_total']:,} = {c['planner_inside']:,} inside + "
                f"{c['planner_nearest']:,} nearest; baseline {c['baseline_total']:,}; "
                f"{c['cells_inside_differing_from_baseline']} of {c['cells']:,} ward x month x "
                f"category cells differ (inside vs baseline); "
                f"r = {c['pearson_r_total_vs_baseline']:.6f}"
            )
    return "\n".join(lines)


# --- README ----------------------------------------------------------------------------------


def _render(report: dict[str, Any]) -> None:
    """Write the figures of *report* into bench/README.md, between the ingest markers."""
    text = README.read_text()
    if BEGIN not in text or END not in text:
        return
    block = "\n".join([BEGIN, _figures(report), END])
    README.write_text(text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :])


def _figures(report: dict[str, Any]) -> str:
    """The README's tables: medians per dataset and pipeline, the ratios, the check."""
    m = report["machine"]
    lines = [
        f"Run of {report['date'][:16].replace('T', ' ')} (`{report['command']}`, commit "
        f"`{report['code']['commit'][:7]}`, `results/ingest.json`), medians of "
        f"{report['repeat']} interleaved rounds on {m['nproc']} CPUs ({m['cpu_model']}); "
        f"1-minute load average {report['load_average_at_start']:.2f} at the start and "
        f"{report['load_average_at_end']:.2f} at the end"
        + (" (**not a quiet machine**)." if report["load_average_at_start"] >= 0.5 else "."),
        "",
    ]
    for name, ds in report["datasets"].items():
        med, r, ok = ds["medians"], ds["ratios"], ds["passed"]
        lines += [
            f"**{name}** ({ds['label']}):",
            "",
            "| | process wall s | call s | CPU s (of which workers) | peak MiB | load |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key, label in (("planner", "planner ingest"), ("baseline", "plain pipeline"),
                           ("reload", "reload from the cache")):  # fmt: skip
            if key in med:
                row = med[key]
                call = f"{row['call_s']:.2f}" if "call_s" in row else "–"
                lines.append(
                    f"| {label} | {row['process_wall_s']:.2f} | {call} | {row['cpu_s']:.2f} "
                    f"({row['cpu_workers_s']:.2f}) | {row['peak_mib']:,.0f} | "
                    f"{row['load_avg_1min_before']:.1f} |"
                )
        verdict = {True: "met", False: "missed"}
        lines += [
            "",
            f"speed-up {r['speedup_wall']:.2f}× end to end (target ≥ 5: "
            f"{verdict[ok['speedup']]}), {r['speedup_cpu']:.2f}× by CPU time; peak memory "
            f"{r['memory_ratio']:.2f} of the plain pipeline's (target ≤ 0.5: "
            f"{verdict[ok['memory']]})"
            + (
                f"; reload {r['reload_call_s']:.2f} s in process (target < 1 s: "
                f"{verdict[ok['reload']]})"
                if "reload" in ok
                else ""
            )
            + ".",
        ]
        c = ds["check"]
        if c is not None:
            lines.append(
                f"Counts: planner {c['planner_total']:,} = {c['planner_inside']:,} inside a ward "
                f"+ {c['planner_nearest']:,} nearest; plain pipeline {c['baseline_total']:,}; "
                f"{c['cells_inside_differing_from_baseline']} of {c['cells']:,} ward × month × "
                "category cells differ (inside against the plain pipeline)."
            )
        lines += _stage_lines(ds.get("stages") or {})
        lines.append("")
    return "\n".join(lines)


def _stage_lines(stages: dict[str, Any]) -> list[str]:
    """Where the planner's time goes, from the instrumented run."""
    if not stages.get("stages_s"):
        return []
    lines = [
        "",
        "Where the planner's time goes (one instrumented run, load "
        f"{stages['load_avg_1min_before']:.1f}: "
        f"{stages['process_wall_s']:.2f} s from starting the interpreter to its exit; the call "
        f"{stages['call_s']:.2f} s; the decoding workers {stages['workers_cpu_s']:.2f} s of CPU):",
        "",
        "| stage, in the main process | s |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in stages["stages_s"].items()]
    return lines


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(*sys.argv[2:5])
    else:
        sys.exit(main())

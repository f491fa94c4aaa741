"""Ingest benchmark (issue 2): planner.ingest against the plain geopandas pipeline.

Measures, each in its own fresh Python process so that peak memory is per pipeline:

- ``planner``: ``planner.ingest.ingest(config, "policeuk-2014", use_cache=False)`` on the
  18 months of data.police.uk API JSON (about 1.2M records, 1.15M after de-duplication)
  with a temporary cache folder;
- ``reload``: the same call with ``use_cache=True`` in another fresh process, reading
  what the planner run just wrote;
- ``baseline``: ``bench/baseline_geopandas.py``, the fair baseline of issue 12 (json.loads of
  every member's bytes into tuples of the five fields used, a DataFrame, drop_duplicates,
  points_from_xy, to_crs, sjoin, groupby) on the same archives and the 2014 ward file.

For every run: the process wall time seen from here (interpreter start, imports and
work: the end-to-end figure), the time inside the child (imports and work; for the
planner calls, the call alone), user+system CPU time and peak RSS, both from
``getrusage(RUSAGE_SELF)`` in the child. Each is repeated ``--repeat`` times in
interleaved rounds and the median is reported. A final (untimed) check compares the
two ward x month x category tables. Results go to ``bench/results/ingest.json``.

A benchmark, not a test: the exit status is 1 when a target of issue 12 is missed
(speed-up < 5, peak memory > 50 % of the baseline's, reload >= 1 s), 0 otherwise,
and 0 with a message when the data folder is absent.

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
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATASET = "policeuk-2014"
INCIDENTS = "incidents/met_api_by_ward_2016-07_to_2017-12"
WARD_FILE = "wards/london_wards_2014/London_Ward.shp"
BASELINE = REPO / "bench" / "baseline_geopandas.py"
TARGETS = {"speedup_min": 5.0, "memory_ratio_max": 0.5, "reload_max_s": 1.0}  # issue 12
PACKAGES = ("numpy", "pandas", "pyarrow", "duckdb", "geopandas", "shapely", "pyproj", "pyogrio")
KEYS = ["ward_code", "month", "category"]
INGEST_MODULES = ("__init__", "_files", "config", "errors", "ingest", "join", "quality", "schema")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    args.command = " ".join(["python bench/bench_ingest.py", *argv])
    data = args.data.resolve()
    missing = [p for p in (data / INCIDENTS, data / WARD_FILE) if not p.exists()]
    if missing:
        print(
            f"skipped: the ingest benchmark needs {missing[0]} (data folder {data}). "
            "Pass --data DIR pointing at a folder laid out like ../shared/data."
        )
        return 0
    load_at_start = os.getloadavg()[0]
    if load_at_start >= 0.5:
        print(f"warning: load average {load_at_start:.2f} at the start (quiet is under 0.5)")
    _warm_page_cache([data / INCIDENTS, (data / WARD_FILE).parent])
    code = {**_git(), "ingest_code_sha256": _code_fingerprint()}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        runs, check = _run_all(data, Path(tmp), repeat=args.repeat, check=not args.no_check)
    code["ingest_code_changed_during_run"] = _code_fingerprint() != code["ingest_code_sha256"]
    if code["ingest_code_changed_during_run"]:
        print("warning: the ingest code or config/ changed while the benchmark ran")
    report = _report(args, data, runs, check, code)
    report["load_average_at_start"] = load_at_start
    report["load_average_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(_table(report))
    print(f"\nresults written to {args.out}")
    return 0 if all(report["passed"].values()) else 1


def _run_all(
    data: Path, work: Path, *, repeat: int, check: bool
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any] | None]:
    """Interleaved rounds of planner, reload and baseline; then the comparison of the tables."""
    runs: dict[str, list[dict[str, Any]]] = {"planner": [], "reload": [], "baseline": []}
    baseline_args = {"incidents": str(data / INCIDENTS), "wards": str(data / WARD_FILE)}
    for i in range(repeat):
        common = {"data": str(data), "cache_dir": str(work / f"cache-{i}")}
        baseline_args["out"] = str(work / f"baseline-{i}.parquet")
        for kind, label, params in (
            ("planner", "planner", common),
            ("reload", "reload from the cache", common),
            ("baseline", "geopandas baseline", baseline_args),
        ):
            print(f"round {i + 1}/{repeat}: {label}", flush=True)
            runs[kind].append(_measure(kind, params, work))
    if not check:
        return runs, None
    print("checking that both pipelines count the same records", flush=True)
    params = {
        "data": str(data),
        "ward_counts": str(Path(runs["planner"][-1]["cache_dir"]) / "ward_counts.parquet"),
        "baseline": baseline_args["out"],
    }
    return runs, _measure("check", params, work)


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


def _measure(kind: str, params: dict[str, str], work: Path) -> dict[str, Any]:
    """Run one child process of *kind*; its report plus the wall time seen from here."""
    out = work / f"{kind}-report.json"
    log = work / f"{kind}.log"
    out.unlink(missing_ok=True)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                kind,
                json.dumps(params),
                str(out),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            check=False,
        )
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not out.is_file():
        sys.exit(f"the {kind} run failed (status {proc.returncode}):\n{log.read_text()[-4000:]}")
    report = json.loads(out.read_text())
    report |= {"process_wall_s": wall, "load_avg_1min_before": load_before}
    report["load_avg_1min_after"] = os.getloadavg()[0]
    return report


def _child(kind: str, params_json: str, out: str) -> None:
    """In the child process: do the work of *kind*, then report time, CPU and peak RSS."""
    start = time.perf_counter()
    report = _CHILDREN[kind](json.loads(params_json))
    report["in_process_s"] = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report["cpu_s"] = usage.ru_utime + usage.ru_stime
    report["peak_rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    Path(out).write_text(json.dumps(report))


def _planner_config(params: dict[str, str]) -> Any:
    import dataclasses

    from planner.config import load_config

    config = load_config(REPO / "config").with_data_dir(params["data"])
    if "cache_dir" not in params:
        return config
    paths = dataclasses.replace(config.paths, cache_dir=params["cache_dir"])
    return dataclasses.replace(config, paths=paths)


def _child_planner(params: dict[str, str], *, use_cache: bool = False) -> dict[str, Any]:
    from planner.ingest import ingest

    config = _planner_config(params)
    start = time.perf_counter()
    result = ingest(config, DATASET, use_cache=use_cache)
    call = time.perf_counter() - start
    if result.from_cache != use_cache:
        raise RuntimeError(f"expected from_cache={use_cache}, got {result.from_cache}")
    return {
        "call_s": call,
        "ward_counts_rows": len(result.ward_counts),
        "records_counted": int(result.ward_counts["count"].sum()),
        "cache_dir": str(result.cache_dir),
    }


def _child_reload(params: dict[str, str]) -> dict[str, Any]:
    return _child_planner(params, use_cache=True)


def _child_baseline(params: dict[str, str]) -> dict[str, Any]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("baseline_geopandas", BASELINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports geopandas: part of the measured work
    module.main([params["incidents"], params["wards"], params["out"]])
    return {"out": params["out"]}


def _child_check(params: dict[str, str]) -> dict[str, Any]:
    """Compare the two tables; the planner's points are joined again to split inside/nearest."""
    import numpy as np
    import pandas as pd

    from planner.ingest.join import join_incidents
    from planner.ingest.sources.police_uk_api import read_api_json
    from planner.ingest.sources.wards import read_dataset_wards

    config = _planner_config({"data": params["data"]})
    wards = read_dataset_wards(config, DATASET).frame
    frame = read_api_json(
        config.resolve(INCIDENTS), categories=config.categories, checks=config.coordinates
    )
    joined = join_incidents(
        frame.incidents, wards, snap_distance_m=config.join.snap_distance_m
    ).incidents
    by_how = joined.groupby([*KEYS, "how"], observed=True).size().unstack("how", fill_value=0)
    inside = by_how.get("inside", pd.Series(0, index=by_how.index)).rename("planner_inside")
    nearest = by_how.get("nearest", pd.Series(0, index=by_how.index)).rename("planner_nearest")

    counts = pd.read_parquet(params["ward_counts"])
    planner = counts.astype({k: str for k in KEYS}).groupby(KEYS)["count"].sum()
    base = pd.read_parquet(params["baseline"]).rename(columns={"GSS_CODE": "ward_code"})
    unmapped = sorted(set(base["category"]) - set(config.categories.api))
    base["category"] = base["category"].map(config.categories.api)
    baseline = base.dropna(subset=["category"]).groupby(KEYS)["count"].sum()

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


_CHILDREN = {
    "planner": _child_planner,
    "reload": _child_reload,
    "baseline": _child_baseline,
    "check": _child_check,
}


# --- reporting ----------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _report(
    args: argparse.Namespace,
    data: Path,
    runs: dict[str, list[dict[str, Any]]],
    check: dict[str, Any] | None,
    code: dict[str, Any],
) -> dict[str, Any]:
    fields = ("process_wall_s", "in_process_s", "cpu_s", "peak_rss_mib")
    medians = {k: {f: _median(v, f) for f in fields} for k, v in runs.items()}
    for k in ("planner", "reload"):
        medians[k]["call_s"] = _median(runs[k], "call_s")
    planner, baseline = medians["planner"], medians["baseline"]
    ratios = {
        "speedup_wall": baseline["process_wall_s"] / planner["process_wall_s"],
        "speedup_cpu": baseline["cpu_s"] / planner["cpu_s"],
        "memory_ratio": planner["peak_rss_mib"] / baseline["peak_rss_mib"],
        "reload_call_s": medians["reload"]["call_s"],
        "reload_process_wall_s": medians["reload"]["process_wall_s"],
    }
    passed = {
        "speedup": ratios["speedup_wall"] >= TARGETS["speedup_min"],
        "memory": ratios["memory_ratio"] <= TARGETS["memory_ratio_max"],
        "reload": ratios["reload_call_s"] < TARGETS["reload_max_s"],
    }
    if check is not None:
        passed["same_counts"] = check["identical_inside_vs_baseline"]
    return {
        "benchmark": "ingest",
        "dataset": DATASET,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": args.command,
        "data_dir": str(data),
        "inputs": {"incidents": INCIDENTS, "wards": WARD_FILE},
        "repeat": args.repeat,
        "machine": _machine(),
        "code": code,
        "targets": TARGETS,
        "medians": medians,
        "ratios": ratios,
        "passed": passed,
        "check": check,
        "runs": runs,
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
    files = [REPO / "planner" / f"{name}.py" for name in INGEST_MODULES]
    files += sorted((REPO / "planner" / "sources").glob("*.py"))
    files += sorted((REPO / "config").glob("*.toml"))
    digest = hashlib.sha256()
    for f in files:
        if f.is_file():
            digest.update(f.relative_to(REPO).as_posix().encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def _table(report: dict[str, Any]) -> str:
    m, r, t = report["medians"], report["ratios"], report["targets"]
    ok = {True: "ok", False: "MISSED"}
    passed = report["passed"]
    lines = [
        f"\nmedians of {report['repeat']} run(s); {report['machine']['nproc']} CPUs, "
        f"{report['machine']['cpu_model']}",
        f"{'':22}{'process wall s':>15}{'in-process s':>14}{'call s':>9}{'CPU s':>9}"
        f"{'peak RSS MiB':>14}",
    ]
    for key, label in (
        ("planner", "planner ingest"),
        ("baseline", "geopandas baseline"),
        ("reload", "reload from cache"),
    ):
        row = m[key]
        call = f"{row['call_s']:9.2f}" if "call_s" in row else f"{'-':>9}"
        lines.append(
            f"{label:22}{row['process_wall_s']:15.2f}{row['in_process_s']:14.2f}{call}"
            f"{row['cpu_s']:9.2f}{row['peak_rss_mib']:14.0f}"
        )
    lines += [
        f"speed-up (process wall): {r['speedup_wall']:.2f}x  target >= {t['speedup_min']}x  "
        f"{ok[passed['speedup']]}   (CPU time: {r['speedup_cpu']:.2f}x)",
        f"peak memory ratio: {r['memory_ratio']:.2f}  target <= {t['memory_ratio_max']}  "
        f"{ok[passed['memory']]}",
        f"reload from cache: {r['reload_call_s']:.2f} s in process "
        f"({r['reload_process_wall_s']:.2f} s with interpreter and imports)  "
        f"target < {t['reload_max_s']} s  {ok[passed['reload']]}",
    ]
    c = report["check"]
    if c is not None:
        lines.append(
            f"counts: planner {c['planner_total']:,} = {c['planner_inside']:,} inside + "
            f"{c['planner_nearest']:,} nearest; baseline {c['baseline_total']:,}; "
            f"{c['cells_inside_differing_from_baseline']} of {c['cells']:,} ward x month x "
            f"category cells differ (inside vs baseline); "
            f"r = {c['pearson_r_total_vs_baseline']:.6f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(*sys.argv[2:5])
    else:
        sys.exit(main())

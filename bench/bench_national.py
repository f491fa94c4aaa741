"""National-scale ingest benchmark (issue 12, items 4 and 5): 1M, 5M and 20M police.uk rows.

For each size, :mod:`bench/generate_national.py <generate_national>` writes 43 forces x 36
months of synthetic street CSVs in the published layout and about 7,000 grid wards under
``/tmp/national/<rows>`` (kept and reused when its ``truth.json`` matches the settings; the
generation time is recorded when it runs), then a fresh child process runs
``planner.ingest.ingest(load_config(<out>/config), "national", use_cache=False)`` under
``/usr/bin/time`` (peak resident set, wall and CPU of the whole process); the child also
reports the call's own wall time, its ``getrusage(RUSAGE_SELF)`` peak and what it built
(ward_counts rows and bytes in memory, the Parquet file's bytes, the quality totals).

Results go to ``bench/results/national.json``; the table and the capacity figures in
bench/README.md (between the ``national`` markers) are rendered from that file
(``--render`` alone re-renders without running). Run it under the shared lock, one benchmark
at a time::

    flock /tmp/bench.lock python bench/bench_national.py [--sizes 1M 5M 20M] [--root DIR]

A benchmark, not a test: exit status 1 when a run's peak memory reaches 4 GiB (the issue's
bound) or its conservation check fails, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "national.json"
README = REPO / "bench" / "README.md"
BEGIN, END = "<!-- national:begin -->", "<!-- national:end -->"
LIMIT_MIB = 4096
ROWS_PER_YEAR = 6_700_000  # England and Wales, all 43 forces, crimes + ASB (DESIGN.md: 6-7M)

sys.path.insert(0, str(REPO / "bench"))
import generate_national as gen  # noqa: E402

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from planner.config import load_config
from planner.ingest import ingest
t1 = time.perf_counter()
result = ingest(load_config(sys.argv[1]), "national", use_cache=False)
t2 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_SELF)
counts = result.ward_counts
src = result.quality["sources"][0]
print(json.dumps({
    "import_s": round(t1 - t0, 2),
    "call_s": round(t2 - t1, 2),
    "self_peak_mib": round(ru.ru_maxrss / 1024),
    "ward_counts_rows": len(counts),
    "ward_counts_mib": round(counts.memory_usage(deep=True).sum() / 2**20, 1),
    "ward_counts_parquet_mib": round(
        (result.cache_dir / "ward_counts.parquet").stat().st_size / 2**20, 1),
    "wards": result.quality["wards"]["total"],
    "wards_with_no_records": result.quality["wards"]["with_no_records"],
    "months": len([m for m in result.quality["by_month"] if m["month"] != "unknown"]),
    "totals": src["totals"],
    "conservation_ok": result.quality["conservation_ok"],
}))
"""


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or only render the README); returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=list(gen.SIZES.values()), type=gen.parse_rows)
    p.add_argument("--months", type=int, default=36, help="months of every size (default 36)")
    p.add_argument(
        "--merge",
        action="store_true",
        help="add these runs to the results file (replacing runs of the same rows and months)",
    )
    p.add_argument("--root", type=Path, default=Path("/tmp/national"))
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--render", action="store_true", help="only render bench/README.md")
    args = p.parse_args(argv)
    if args.render:
        render(json.loads(args.out.read_text()))
        return 0
    earlier = json.loads(args.out.read_text()) if args.merge and args.out.is_file() else None
    report: dict[str, Any] = {
        "machine": _machine(),
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted": _git("status", "--porcelain", "--", "planner", "bench").splitlines(),
        "load_average_at_start": os.getloadavg(),
        "runs": [],
    }
    if earlier:
        report["earlier_commits"] = [earlier["commit"], *earlier.get("earlier_commits", [])]
        report["load_average_at_start"] = earlier["load_average_at_start"]
        new = {(rows, args.months) for rows in args.sizes}
        report["runs"] = [r for r in earlier["runs"] if _key(r) not in new]
    for rows in sorted(args.sizes):
        run = _run(rows, args.months, args.root)
        report["runs"].append(run)
        report["runs"].sort(key=lambda r: (r["months"] != 36, r["rows"]))
        print(json.dumps(run, indent=1), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))  # what is done so far, kept
    report["load_average_at_end"] = os.getloadavg()
    report["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report["fit"] = _fit(report["runs"])
    args.out.write_text(json.dumps(report, indent=1))
    render(report)
    bad = [r for r in report["runs"] if r["peak_mib"] >= LIMIT_MIB or not r["conservation_ok"]]
    return 1 if bad else 0


def _key(run: dict[str, Any]) -> tuple[int, int]:
    return run.get("settings", {"rows": run["rows"]})["rows"], run["months"]


def _run(rows: int, months: int, root: Path) -> dict[str, Any]:
    settings = gen.Settings(rows=rows, months=months)
    out = root / (f"{rows:_}" if months == 36 else f"{rows:_}-{months}m")
    truth_file = out / "truth.json"
    truth = json.loads(truth_file.read_text()) if truth_file.is_file() else None
    generated = False
    if truth is None or truth["settings"] != settings.__dict__:
        truth = gen.generate(settings, out, log=lambda *_: None)
        generated = True
    timing = Path(tempfile.mkstemp(prefix="national-time-")[1])
    load = os.getloadavg()
    started = time.perf_counter()
    child = subprocess.run(
        ["/usr/bin/time", "-o", str(timing), "-f", "%M %e %U %S",
         sys.executable, "-c", CHILD, str(out / "config")],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    peak_kib, elapsed, user, system = timing.read_text().split()[-4:]
    timing.unlink()
    built = json.loads(child.stdout.strip().splitlines()[-1])
    return {
        "settings": settings.__dict__,
        "rows": truth["rows"],
        "forces": settings.forces,
        "months": settings.months,
        "files": truth["files"],
        "csv_mib": round(sum(f.stat().st_size for f in (out / "data").rglob("*.csv")) / 2**20),
        "distinct_points": truth["distinct_points"],
        "generated_now": generated,
        "generate_s": truth["seconds"],
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
        "wall_s": round(wall, 1),
        "time_wall_s": float(elapsed),
        "cpu_s": round(float(user) + float(system), 1),
        "peak_mib": round(int(peak_kib) / 1024),
        **{k: v for k, v in built.items() if k != "months"},
        "months_read": built["months"],
    }


def _fit(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Least-squares lines through (rows, wall s) and (rows, peak MiB)."""
    import numpy as np

    runs = [r for r in runs if r["months"] == 36] or runs
    rows = np.array([r["rows"] for r in runs], dtype=float) / 1e6
    out: dict[str, float] = {}
    for key in ("call_s", "cpu_s", "peak_mib"):
        y = np.array([r[key] for r in runs], dtype=float)
        slope, intercept = np.polyfit(rows, y, 1) if len(runs) > 1 else (y[0] / rows[0], 0.0)
        out[f"{key}_per_million_rows"] = round(float(slope), 2)
        out[f"{key}_at_zero"] = round(float(intercept), 1)
    return out


# --- README ----------------------------------------------------------------------------------


def render(report: dict[str, Any]) -> None:
    """Write the scaling table and the capacity figures into bench/README.md."""
    runs, fit = report["runs"], _fit(report["runs"])
    lines = [
        BEGIN,
        f"Measured {report.get('finished', '?')} at commit "
        f"`{report['commit'][:7]}`{_earlier(report)} on {report['machine']['cpus']} cores "
        f"({report['machine']['python']}); from `results/national.json`, rendered by "
        "`python bench/bench_national.py --render`.",
        "",
        "| rows | months | files | CSV MiB | distinct points | load avg before | ingest call s "
        "| process wall s | CPU s | peak MiB | CPU s per M rows | ward_counts rows | ward_counts "
        "MiB (memory / Parquet) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['rows']:,} | {r['months']} | {r['files']:,} | {r['csv_mib']:,} | "
            f"{r['distinct_points']:,} | {r['load_average_before'][0]:.1f} | {r['call_s']:,.0f} | "
            f"{r['time_wall_s']:,.0f} | {r['cpu_s']:,.0f} | {r['peak_mib']:,} | "
            f"{r['cpu_s'] / r['rows'] * 1e6:.1f} | "
            f"{r['ward_counts_rows']:,} | {r['ward_counts_mib']} / "
            f"{r['ward_counts_parquet_mib']} |"
        )
    year_s = fit["call_s_per_million_rows"] * ROWS_PER_YEAR / 1e6 + fit["call_s_at_zero"]
    year_cpu = fit["cpu_s_per_million_rows"] * ROWS_PER_YEAR / 1e6 + fit["cpu_s_at_zero"]
    year_mib = fit["peak_mib_per_million_rows"] * ROWS_PER_YEAR / 1e6 + fit["peak_mib_at_zero"]
    ram_gib = report["machine"]["memory_gib"]
    lines += [
        "",
        "Fit (least squares over the 36-month runs): ingest call = "
        f"{fit['call_s_at_zero']:.0f} s + "
        f"{fit['call_s_per_million_rows']:.1f} s per million rows (wall, on the loaded "
        f"machine); CPU = {fit['cpu_s_at_zero']:.0f} s + {fit['cpu_s_per_million_rows']:.1f} s "
        "per million rows; peak = "
        f"{fit['peak_mib_at_zero']:.0f} MiB + {fit['peak_mib_per_million_rows']:.0f} MiB per "
        "million rows.",
        "",
        _year_line(runs, year_cpu, year_s, year_mib),
        "",
        _capacity_line(runs, fit, ram_gib),
        END,
    ]
    text = README.read_text()
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text(text)


def _earlier(report: dict[str, Any]) -> str:
    commits = report.get("earlier_commits") or []
    return f" (earlier runs at {', '.join(f'`{c[:7]}`' for c in commits)})" if commits else ""


def _year_line(runs: list[dict[str, Any]], cpu: float, wall: float, mib: float) -> str:
    """What a year of all forces costs: measured by a 12-month run where there is one."""
    year = [r for r in runs if r["months"] == 12 and r["forces"] == 43]
    if year:
        r = year[-1]
        return (
            f"**A year of all 43 forces** ({r['rows']:,} street rows over 12 months, the monthly "
            "volume of the 20M set; England and Wales publish about 6-7 million a year) "
            f"**measured: {r['cpu_s']:,.0f} CPU s, {r['time_wall_s']:,.0f} s wall** (load "
            f"average {r['load_average_before'][0]:.1f} at its start) at **{r['peak_mib']:,} MiB "
            f"peak**; the 36-month fit gives {cpu:,.0f} CPU s and {mib:,.0f} MiB for "
            f"{ROWS_PER_YEAR / 1e6:.1f} million rows."
        )
    return (
        f"**A year of all 43 forces** (about {ROWS_PER_YEAR / 1e6:.1f} million street rows, "
        f"crimes and ASB) costs about **{cpu:,.0f} CPU s** of ingest ({wall:,.0f} s of wall time "
        f"at the load measured) at about **{mib:,.0f} MiB** peak (from the fit)."
    )


def _capacity_line(runs: list[dict[str, Any]], fit: dict[str, float], ram_gib: float) -> str:
    """How many years of all forces fit in 4 GiB (and in this machine's memory).

    With a 12-month run at the monthly volume of a 36-month one, the difference of their peaks
    is what two more years add (seen ids, rejects, counts): the month's working set is the
    same. Without it, the 36-month fit over rows (pessimistic: it also grows the month).
    """
    year = [r for r in runs if r["months"] == 12 and r["forces"] == 43]
    same = [
        r
        for r in runs
        if year and r["months"] == 36 and abs(r["rows"] / 36 / (year[-1]["rows"] / 12) - 1) < 0.05
    ]
    if year and same:
        y, r = year[-1], same[-1]
        per_year = max((r["peak_mib"] - y["peak_mib"]) / 2, 1.0)
        years_4g = 1 + (LIMIT_MIB - y["peak_mib"]) / per_year
        years_ram = 1 + (ram_gib * 1024 * 0.8 - y["peak_mib"]) / per_year
        basis = (
            f"each year beyond the first adds about {per_year:,.0f} MiB (the 36-month "
            f"{r['rows'] / 1e6:.0f}M run's peak less the 12-month run's, over two years; the "
            "month being worked on is the same size in both)"
        )
        cpu_year = y["cpu_s"]
    else:
        per_million = fit["peak_mib_per_million_rows"]
        years_4g = (LIMIT_MIB - fit["peak_mib_at_zero"]) / (per_million * ROWS_PER_YEAR / 1e6)
        years_ram = (ram_gib * 1024 * 0.8 - fit["peak_mib_at_zero"]) / (
            per_million * ROWS_PER_YEAR / 1e6
        )
        basis = "from the fit over rows, which also grows the month: a lower bound"
        cpu_year = fit["cpu_s_per_million_rows"] * ROWS_PER_YEAR / 1e6 + fit["cpu_s_at_zero"]
    return (
        f"Memory: {basis}. Extrapolating, within the 4 GiB bound one machine holds about "
        f"**{years_4g:.0f} years of all 43 forces** ({years_4g * 43:,.0f} force-years); with "
        f"{0.8 * ram_gib:.0f} GiB of this machine's {ram_gib:.0f} GiB, about {years_ram:.0f} "
        f"years. Time: about {cpu_year:,.0f} CPU s per year of all forces, so "
        f"{cpu_year * years_4g / 60:,.0f} CPU minutes for those {years_4g:.0f} years."
    )


def _machine() -> dict[str, Any]:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(pages / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())

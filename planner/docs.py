"""``python -m planner.docs``: the README's result tables, made from the files holding the results.

Every figure the README reports sits between two markers,
``<!-- BEGIN planner.docs NAME -->`` and ``<!-- END planner.docs NAME -->``, and is rendered
here from a results file: the join check and the need index's sensitivity from
``docs/results/`` (written by ``--collect`` from what ``planner ingest`` and ``planner score``
produce), the forecast backtest and the benchmarks from ``bench/results/`` (written by the
benchmark scripts). Nobody types a figure into the README.

- ``python -m planner.docs`` rewrites the README's generated sections;
- ``python -m planner.docs --check`` exits 1 (showing the difference) when they differ from
  their files; the test suite runs this;
- ``python -m planner.docs --collect --data ../shared/data`` re-measures the join check,
  the sensitivity and the plan results (``planner plan --compare``) on the real data and
  writes ``docs/results/``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["SECTIONS", "collect", "main", "render_readme"]

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
BENCH = REPO / "bench" / "results"
JOIN_MONTHS = [f"2024-{m:02d}" for m in range(2, 13)] + ["2025-01", "2025-02"]
_MARKER = re.compile(
    r"(<!-- BEGIN planner\.docs (?P<name>[\w-]+) -->\n)(?P<body>.*?)"
    r"(<!-- END planner\.docs (?P=name) -->)",
    re.S,
)


def _read(path: Path) -> Any:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"origin": str})
    return json.loads(path.read_text(encoding="utf-8"))


def _join_check(data: dict[str, Any]) -> str:
    first, last = data["months"]
    return _wrap(
        f"The police.uk {data['category'].lower()} points of `{data['points_dataset']}` joined "
        "to the May 2022 wards agree with the Met's own ward-level counts "
        f"(`{data['reference_dataset']}`) "
        f"for the months both cover ({first} to {last}): Pearson r = {data['pearson_r']:.3f} over "
        f"{data['wards']:,} wards, London totals {data['points']:,} points against "
        f"{data['reference']:,} recorded crimes ({100 * (data['ratio'] - 1):+.2f} %). Of all the "
        f"dataset's records, {data['nearest_ward']:,} were assigned to the nearest ward within "
        f"250 m, {data['outside_every_ward']:,} lay farther out (rejected) and "
        f"{data['no_coordinates']:,} had no coordinates."
    )


def _sensitivity(manifest: dict[str, Any]) -> str:
    ss = manifest["sensitivity"]
    forecast = "in" if "forecast" in manifest["weights_used"] else "not in"
    alt = next((k for k in ss if k.startswith("spearman_vs_")), None)
    top = ss["top_n"]
    parts = [
        f"On the default dataset (`{manifest['dataset']}`, window {manifest['window_start']} to "
        f"{manifest['window_end']}, harm index {manifest['harm_index'].upper()}, "
        f"{ss['wards']} wards, forecast {forecast}"
        " the index):"
    ]
    if alt:
        other = alt.removeprefix("spearman_vs_")
        overlap = ss[f"top_{top}_overlap_vs_{other}"]
        parts.append(
            f"Spearman {ss[alt]:.3f} between {manifest['harm_index'].upper()} and "
            f"{other.upper()}, with {overlap} of the top {top} wards in common;"
        )
    parts.append(
        f"under {ss['weight_draws']} random ±{100 * ss['weight_perturbation']:.0f} % "
        "perturbations of "
        f"the weights, median Spearman {ss['spearman_weights_median']:.3f} (minimum "
        f"{ss['spearman_weights_min']:.3f}), top-{top} overlap at least "
        f"{ss[f'top_{top}_overlap_weights_min']}; {ss['unstable_wards']} wards move by more "
        f"than {ss['unstable_margin']} places in some draw and are flagged `unstable`."
    )
    return _wrap(" ".join(parts))


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=96, break_on_hyphens=False) + "\n"


_METHOD_NAMES = {
    "model": "model",
    "last12": "last 12 months",
    "seasonal_naive": "seasonal naive",
    "london_mean": "London-anchored mean",
}


def _backtest(table: pd.DataFrame) -> str:
    from planner.config import load_config
    from planner.model.backtest import METHODS, verdict

    runs = table[table["variant"] == "config"]
    mean = runs[runs["origin"] == "all"]
    lines = [
        "| method | WAPE, monthly | WAPE, 12-month ward totals | bias "
        "| correlation with the last 12 months' harm |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in mean.itertuples():
        name = _METHOD_NAMES.get(row.method, row.method)
        corr = getattr(row, "corr_harm", float("nan"))
        corr_text = f"{corr:.3f}" if pd.notna(corr) else "–"
        lines.append(
            f"| {name} | {row.wape:.1%} | {row.wape_total:.1%} | {row.bias:+.1%} | "
            f"{corr_text} |".replace("%", " %")
        )
    origins = runs[runs["origin"] != "all"]
    weights = mean["weights"].iloc[0] if "weights" in mean else ""
    if set(METHODS) <= set(origins["method"]):
        found = verdict(runs, load_config(REPO / "config").forecast)
        body = f"Weights: {weights}. {found.explanation}"
    else:
        body = f"Weights: {weights}; {origins['origin'].nunique()} origins. " + (
            "This file predates the London-anchored mean baseline, so the verdict of "
            "config/forecast.toml cannot be applied to it: run `python bench/backtest_forecast.py "
            "--weights subcategory` again."
        )
    return "\n".join(lines) + "\n\n" + _wrap(body)


def _benchmarks(files: dict[str, Any]) -> str:
    ingest, rescore, app, load = (files[k] for k in ("ingest", "rescore", "app", "load"))
    m, r = ingest["medians"], ingest["ratios"]
    load_run = load["runs"][-1]
    rows = [
        ("ingest, 18 months of police.uk API JSON (`bench_ingest.py`)",
         _ingest_figures(m, r), ingest["date"][:10]),
        *[
            (f"ingest, {d['label']} (`{name}`)", _ingest_figures(d["medians"], d["ratios"]),
             ingest["date"][:10])
            for name, d in ingest.get("datasets", {}).items()
            if name != ingest["dataset"]
        ],
        ("reload from the ingest cache (call)", f"{r['reload_call_s']:.2f} s", ingest["date"][:10]),
        ("re-scoring after a weight change (`bench_rescore.py`)",
         f"{rescore['median_ms']['score_only']:.0f} ms median ({rescore['wards']} wards)", ""),
        *_app_rows(app),
        ("app: 20 sessions at once (`load_sessions.py`)",
         f"{load_run['session_s_median']:.0f} s median per session, "
         f"{load_run['sessions_with_errors']} with errors, server peak "
         f"{load_run['server_rss_peak_mib']} MiB", ""),
    ]  # fmt: skip
    lines = ["| benchmark | result | measured |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c or '–'} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"


def _ingest_figures(m: dict[str, Any], r: dict[str, Any]) -> str:
    """Wall time, CPU and peak memory of the planner and the baseline, and their ratios.

    ``peak_mib`` (the process's peak RSS or, when larger, the peak PSS of it and its worker
    processes) where the results file has it; older files have ``peak_rss_mib`` only.
    """
    planner, baseline = m["planner"], m["baseline"]

    def peak(row: dict[str, Any]) -> float:
        return float(row.get("peak_mib", row["peak_rss_mib"]))

    cpu = (
        f" ({planner['cpu_s']:.1f} s CPU against {baseline['cpu_s']:.1f} s)"
        if "cpu_s" in planner and "cpu_s" in baseline
        else ""
    )
    speed = r["speedup_wall"]
    pace = f"{speed:.1f}× faster" if speed >= 1 else f"{1 / speed:.1f}× slower"
    return (
        f"{planner['process_wall_s']:.1f} s, {peak(planner):,.0f} MiB; baseline "
        f"{baseline['process_wall_s']:.1f} s, {peak(baseline):,.0f} MiB: "
        f"{pace}{cpu} at {r['memory_ratio']:.2f} of the memory"
    )


def _app_rows(app: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The app's figures in the offline browser (``bench/bench_app.py``): cold start to the
    first map and the map redrawn after a change, with their targets (3 s and 1 s)."""
    warm, date = app["start_warm_disk_cache"], str(app.get("date", ""))[:10]
    first = f"{warm['first_map_s']['median']:.1f} s median from launching the server"
    if "page_open_to_map_s" in warm:
        first += f", {warm['page_open_to_map_s']['median']:.1f} s from opening the page"
    if "second_session_first_map_s" in warm:  # the server's caches warm
        first += (
            f"; a new session on the running server "
            f"{warm['second_session_first_map_s']['median']:.1f} s"
        )
    rows = [("app: cold start to the first map, offline browser, warm disk cache "
             "(`bench_app.py`; target 3 s)", first, date)]  # fmt: skip
    redraw = app.get("map_redraw_browser")
    if redraw is None:  # an older results file: the allocation table after a weight change
        change = app["weight_change_browser"]["table_updated_s"]
        median = change["median"] if isinstance(change, dict) else change
        return [*rows, ("app: weight change to updated table in the browser",
                        f"{median:.2f} s median", date)]  # fmt: skip
    changes = (("weight", "weight_s"), ("pool", "pool_s"), ("harm index", "harm_index_s"))
    parts = ", ".join(f"{name} {redraw[key]['median']:.2f} s" for name, key in changes)
    kept = "kept" if redraw["zoom_kept"] else "NOT kept"
    return [*rows, ("app: map redrawn after a change, offline browser (target 1 s)",
                    f"{redraw['all_s']['median']:.2f} s median ({parts}); zoom and centre {kept}",
                    date)]  # fmt: skip


def _deployment(load: dict[str, Any], register: dict[str, Any]) -> str:
    run = max(load["runs"], key=lambda r: r["sessions"])
    before, peak, n = run["server_rss_before_mib"], run["server_rss_peak_mib"], run["sessions"]
    pg, lite = register["postgresql"], register["sqlite"]
    version = str(register.get("postgresql_version", "")).split(" ")[0]
    lines = [
        "| measured | figure | from |",
        "|---|---|---|",
        f"| one app process, one session open (the prepared data cached) | {before:,} MiB "
        "| `bench/load_sessions.py` |",
        f"| the same process with {n} sessions at once | peak {peak:,} MiB: about "
        f"{(peak - before) / n:.1f} MiB per extra session | `bench/load_sessions.py` |",
        f"| time for each of those {n} sessions to show its own plan, 2 cores | median "
        f"{run['session_s_median']:.0f} s, slowest {run['session_s_max']:.0f} s, "
        f"{run['sessions_with_errors']} with errors | `bench/load_sessions.py` |",
        f"| plan register, {register['writers']} writers at once ({register['processes']} "
        f"processes x {register['threads_per_process']} threads, {register['writes']} writes), "
        f"PostgreSQL {version} | {pg['median_s']:.2f} s median, {pg['writes_per_s']:,} writes/s, "
        f"{pg['errors']} errors | `bench/bench_register.py` |",
        f"| the same on an SQLite file | {lite['median_s']:.2f} s median, "
        f"{lite['writes_per_s']:,} writes/s, {lite['errors']} errors | `bench/bench_register.py` |",
    ]
    return "\n".join(lines) + "\n"


def _pct(value: float | None, digits: int = 1) -> str:
    return "no data" if value is None else f"{100 * value:.{digits}f}"


def _modes(results: dict[str, Any]) -> str:
    lines = [
        f"`planner plan --compare` on `{results['dataset']}` (window {results['window_start']} "
        f"to {results['window_end']}), method and borough floor as configured. Extras to the "
        "10 wards in most need and to the half in least need; wards getting 0, 1, 2, 3+ "
        "extras; pairs of wards in different boroughs where the one in more need gets fewer.",
        "",
        "| mode | pool | top 10 | bottom half | 0 | 1 | 2 | 3+ | most in a ward | inversions |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in results["modes"]:
        for pool, d in mode["pools"].items():
            lines.append(
                f"| {mode['description']} | {int(pool):,} | {d['top10']} | {d['bottom_half']} "
                f"| {d['wards_0']} | {d['wards_1']} | {d['wards_2']} | {d['wards_3_plus']} "
                f"| {d['max']} | {d['inversions_cross_borough']:,} |"
            )
    return "\n".join(lines) + "\n"


def _equity(results: dict[str, Any]) -> str:
    eq = results["equity"]
    lines = [
        f"The configured scenario at {eq['pool']} extra officers: each borough's share of the "
        "extras beside its share of crime harm, of residents (Census 2021) and of ASB, and "
        'its latest Public Attitude Survey standing ("Good Job" local against the MPS, '
        "5-point band).",
        "",
        "| borough | extras | extras % | harm % | residents % | ASB % | confidence |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    rows = sorted(eq["boroughs"], key=lambda r: -r["extra"])
    for r in rows:
        lines.append(
            f"| {r['borough_name']} | {r['extra']:.0f} | {_pct(r['share_extra'])} "
            f"| {_pct(r['share_harm'])} | {_pct(r['share_residents'])} "
            f"| {_pct(r['share_asb'])} | {r.get('confidence_status', 'no data')} |"
        )
    if eq["deciles"]:
        lines += [
            "",
            "By IMD 2019 decile of the residents' small areas (1 = most deprived tenth of "
            "England), each ward's figures split by where its residents live:",
            "",
            "| decile | " + " | ".join(str(d["imd_decile"]) for d in eq["deciles"]) + " |",
            "|---|" + "---:|" * len(eq["deciles"]),
        ]
        for key, name in (
            ("share_residents", "residents %"),
            ("share_extra", "extras %"),
            ("share_harm", "harm %"),
            ("share_asb", "ASB %"),
        ):
            lines.append(f"| {name} | " + " | ".join(_pct(d[key]) for d in eq["deciles"]) + " |")
    worst = eq["worst_inversions"]
    lines += [
        "",
        f"Whole-officer rounding places {eq['rounding_officers_moved']:.0f} officers away from "
        "the policy's unrounded allocation. Inversions (a ward with more need getting fewer "
        f"extras): {eq['inversions_cross_borough']:,} across boroughs, "
        f"{eq['inversions_within_borough']:,} within.",
    ]
    if worst:
        w = worst[0]
        lines[-1] += (
            f" The worst: {w['more_need_name']} (need {w['more_need_need']:.2f}) gets "
            f"{w['more_need_extra']}, {w['less_need_name']} ({w['less_need_need']:.2f}) gets "
            f"{w['less_need_extra']}."
        )
    lines += [""] + [f"Note: {n}." for n in eq["notes"]]
    return "\n".join(lines) + "\n"


def _trend(results: dict[str, Any]) -> str:
    t = results["trend"]
    lines = [
        f"{t['wards_with_credit']} of {t['wards_scored']} scored wards have a clear rise in "
        "harm (weighted-Poisson test, Benjamini-Hochberg false discovery rate 5 %) and get "
        "trend credit:",
        "",
        "| ward | borough | q | what drives it |",
        "|---|---|---:|---|",
    ]
    lines += [
        f"| {w['ward_name']} | {w['borough_name']} | {w['q']:.4f} | {w['text']} |"
        for w in t["wards"]
    ]
    for w in results["special"]:
        lines += [
            "",
            f"Special ward: {w['name']} ({w['code']}), {w['extra']} extras: {w['reason']}.",
        ]
    return "\n".join(lines) + "\n"


def _priorities(results: dict[str, Any]) -> str:
    lines = [
        "Every borough's proposed local priorities: the candidate's share of the borough's "
        "crime harm, and how far its score is ahead of the next candidate (margin = 1 − next "
        "score ÷ score; a near-tie is flagged when the next candidate is not proposed and the "
        "margin is under the configured one):",
        "",
        "| borough | first | second | next candidate |",
        "|---|---|---|---|",
    ]
    for b in results["priorities"]:
        items = [
            f"{p['candidate']} ({_pct(p.get('harm_share'), 0)} % of harm, "
            + (
                "no other candidate"
                if p.get("margin") is None
                else f"{_pct(p['margin'], 0)} % ahead"
            )
            + f"{', near-tie' if p.get('near_tie') else ''})"
            for p in b["proposed"]
        ]
        items += ["none qualifies"] * (2 - len(items))
        following = b["proposed"][-1].get("next_candidate") if b["proposed"] else None
        lines.append(f"| {b['borough_name']} | {items[0]} | {items[1]} | {following or '–'} |")
    return "\n".join(lines) + "\n"


def _editions(data: dict[str, Any]) -> str:
    first, last = data["months"]
    lines = [
        _wrap(
            f"Edition stability, on `{data['file']}` ({first} to {last}, {data['wards']} "
            "wards): a copy re-labelled as older editions publish it (stalking and harassment "
            "merged into violence without injury, residential-burglary labels renamed) "
            "against the original. Detected in the copy: " + "; ".join(data["detected"]) + "."
        ).rstrip(),
        "",
        "| harm index | London harm, copy ÷ original | ward Spearman | wards within 5 % "
        "| wards off by over 10 % |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = [(k.upper(), v) for k, v in data["indices"].items()]
    rows.append((f"{data['before']['index'].upper()}, before this fix", data["before"]))
    lines += [
        f"| {name} | {v['ratio']:.4f} | {v['spearman']:.4f} "
        f"| {_pct(v['share_of_wards_within_5pc'])} % "
        f"| {_pct(v['share_of_wards_off_by_over_10pc'])} % |"
        for name, v in rows
    ]
    lines += ["", f"Before: {data['before']['what']}."]
    return "\n".join(lines) + "\n"


def _crosswalk(data: dict[str, Any]) -> str:
    lines = [
        _wrap(
            f"Ward-vintage crosswalk, measured on `{data['points_dataset']}` "
            f"({data['records']:,} records): the points joined to their own wards, counted "
            f"by ward and re-based onto the `{data['target_dataset']}` wards, against the "
            f"same points joined to those wards directly ({data['wards_compared']} wards "
            "compared; ward error = |re-based − direct| ÷ direct):"
        ).rstrip(),
        "",
        "| method | Pearson r | median ward error | 90th-percentile ward error |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {m['pearson_r']:.4f} | {_pct(m['median_ward_error'])} % "
        f"| {_pct(m['p90_ward_error'])} % |"
        for name, m in data["methods"].items()
    ]
    moved = next((m["movement"] for m in data["methods"].values() if "movement" in m), None)
    if moved:
        lines += [
            "",
            _wrap(
                f"Records moved between wards by the dasymetric re-basing: "
                f"{moved['records_moved']:,} of {moved['records']:,} "
                f"({_pct(moved['share_moved'])} %); the median ward's moved share is "
                f"{_pct(moved['median_ward_moved_share'])} %, so its expected error is "
                f"{_pct(moved['expected_median_ward_error'])} % ({moved['expected_error_basis']})."
            ).rstrip(),
        ]
    return "\n".join(lines) + "\n"


SECTIONS: dict[str, tuple[Sequence[Path], Callable[..., str]]] = {
    "join-check": ((RESULTS / "join_check.json",), _join_check),
    "sensitivity": ((RESULTS / "score_manifest.json",), _sensitivity),
    "backtest": ((BENCH / "backtest.csv",), _backtest),
    "benchmarks": (
        tuple(BENCH / f"{k}.json" for k in ("ingest", "rescore", "app", "load")),
        lambda *parts: _benchmarks(
            dict(zip(("ingest", "rescore", "app", "load"), parts, strict=True))
        ),
    ),
    "deployment": ((BENCH / "load.json", BENCH / "register.json"), _deployment),
    "results-modes": ((RESULTS / "plan_results.json",), _modes),
    "results-equity": ((RESULTS / "plan_results.json",), _equity),
    "results-trend": ((RESULTS / "plan_results.json",), _trend),
    "results-priorities": ((RESULTS / "plan_results.json",), _priorities),
    "editions": ((RESULTS / "editions.json",), _editions),
    "crosswalk": ((RESULTS / "crosswalk.json",), _crosswalk),
}
"""Section name -> (the files it is made from, how)."""


def render_readme(text: str) -> str:
    """*text* with every generated section made again from its files."""

    def section(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in SECTIONS:
            raise KeyError(f"README section {name!r} has no generator in planner.docs")
        files, make = SECTIONS[name]
        sources = ", ".join(str(p.relative_to(REPO)) for p in files)
        body = f"<!-- made by python -m planner.docs from {sources} -->\n" + make(
            *(_read(p) for p in files)
        )
        return match.group(1) + body + match.group(4)

    return _MARKER.sub(section, text)


def collect(data_dir: Path) -> list[Path]:
    """Measure the join check, the need index's sensitivity and the plan results (what
    ``planner plan --compare`` writes) on *data_dir*'s real data."""
    from planner import api
    from planner.config import load_config
    from planner.ingest import ingest
    from planner.ingest.checks import join_agreement
    from planner.scenario import Scenario

    config = load_config(REPO / "config").with_data_dir(data_dir)
    RESULTS.mkdir(parents=True, exist_ok=True)
    check = join_agreement(
        ingest(config, "burglary-check"), ingest(config, "met-2022"), category="Burglary",
        months=JOIN_MONTHS,
    )  # fmt: skip
    written = [RESULTS / "join_check.json"]
    written[0].write_text(json.dumps(check, indent=1) + "\n", encoding="utf-8")
    scenario = Scenario.from_config(config)
    inputs = api.prepare(config, scenario)
    result = api.score(inputs, scenario)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        files = api.write_scores(result, scenario, tmp)
        manifest = json.loads(files[-1].read_text(encoding="utf-8"))
    for volatile in ("created", "ward_counts_cache", "files", "data"):
        manifest.pop(volatile, None)
    written.append(RESULTS / "score_manifest.json")
    written[1].write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    results = api.compare_modes(inputs, scenario, config)  # what `planner plan --compare` writes
    written.append(RESULTS / "plan_results.json")
    written[2].write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    from planner.ingest.checks import write_data_results  # editions and the crosswalk

    written += write_data_results(config, RESULTS)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or check) the README's generated sections; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m planner.docs", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only say whether the README is current")
    p.add_argument("--collect", action="store_true", help="re-measure docs/results first")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--readme", type=Path, default=REPO / "README.md")
    args = p.parse_args(argv)
    if args.collect:
        for path in collect(args.data):
            print(f"wrote {path.relative_to(REPO)}")
    text = args.readme.read_text(encoding="utf-8")
    fresh = render_readme(text)
    if args.check:
        if fresh == text:
            return 0
        diff = difflib.unified_diff(
            text.splitlines(), fresh.splitlines(), "README.md", "made", lineterm=""
        )
        print("\n".join(diff))
        print("the README's figures differ from their files: run python -m planner.docs")
        return 1
    if fresh != text:
        args.readme.write_text(fresh, encoding="utf-8")
        print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
- ``python -m planner.docs --collect --data ../shared/data`` re-measures the join check and
  the sensitivity on the real data and writes ``docs/results/``.
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


_METHOD_NAMES = {"model": "model", "last12": "last 12 months", "seasonal_naive": "seasonal naive"}


def _backtest(table: pd.DataFrame) -> str:
    mean = table[(table["origin"] == "all") & (table["variant"] == "config")]
    lines = [
        "| method | WAPE, monthly | WAPE, 12-month ward totals | bias |",
        "|---|---:|---:|---:|",
    ]
    for row in mean.itertuples():
        name = _METHOD_NAMES.get(row.method, row.method)
        lines.append(
            f"| {name} | {row.wape:.1%} | {row.wape_total:.1%} | {row.bias:+.1%} |".replace(
                "%", " %"
            )
        )
    origins = table[(table["origin"] != "all") & (table["variant"] == "config")]
    wide = origins.pivot(index="origin", columns="method", values="wape_total")
    others = [c for c in wide.columns if c != "model"]
    won = int((wide["model"] < wide[others].min(axis=1)).sum())
    weights = mean["weights"].iloc[0] if "weights" in mean else ""
    lines.append("")
    lines.append(
        f"Weights: {weights}; {len(wide)} origins ({wide.index.min()} to {wide.index.max()}); "
        f"the model beat every baseline at {won} of them."
    )
    return "\n".join(lines) + "\n"


def _benchmarks(files: dict[str, Any]) -> str:
    ingest, rescore, app, load = (files[k] for k in ("ingest", "rescore", "app", "load"))
    m, r = ingest["medians"], ingest["ratios"]
    warm = app["start_warm_disk_cache"]
    change = app["weight_change_browser"]["table_updated_s"]
    change_median = change["median"] if isinstance(change, dict) else change
    load_run = load["runs"][-1]
    rows = [
        ("ingest, 18 months of police.uk API JSON (`bench_ingest.py`)",
         f"{m['planner']['process_wall_s']:.1f} s, {m['planner']['peak_rss_mib']:,.0f} MiB; "
         f"baseline {m['baseline']['process_wall_s']:.1f} s, "
         f"{m['baseline']['peak_rss_mib']:,.0f} MiB: {r['speedup_wall']:.1f}× faster at "
         f"{r['memory_ratio']:.2f} of the memory", ingest["date"][:10]),
        ("reload from the ingest cache (call)", f"{r['reload_call_s']:.2f} s", ingest["date"][:10]),
        ("re-scoring after a weight change (`bench_rescore.py`)",
         f"{rescore['median_ms']['score_only']:.0f} ms median ({rescore['wards']} wards)", ""),
        ("app: first map in the browser, warm disk cache (`bench_app.py`)",
         f"{warm['first_map_s']['median']:.1f} s median", ""),
        ("app: weight change to updated table in the browser", f"{change_median:.2f} s median", ""),
        ("app: 20 sessions at once (`load_sessions.py`)",
         f"{load_run['session_s_median']:.0f} s median per session, "
         f"{load_run['sessions_with_errors']} with errors, server peak "
         f"{load_run['server_rss_peak_mib']} MiB", ""),
    ]  # fmt: skip
    lines = ["| benchmark | result | measured |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c or '–'} |" for a, b, c in rows]
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
    """Measure the join check and the need index's sensitivity on *data_dir*'s real data."""
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
    result = api.score(api.prepare(config, scenario), scenario)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        files = api.write_scores(result, scenario, tmp)
        manifest = json.loads(files[-1].read_text(encoding="utf-8"))
    for volatile in ("created", "ward_counts_cache", "files", "data"):
        manifest.pop(volatile, None)
    written.append(RESULTS / "score_manifest.json")
    written[1].write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
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

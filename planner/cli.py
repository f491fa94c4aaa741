"""Command line: ``planner COMMAND ...`` (or ``python -m planner``).

Commands
--------
fetch     download the official files into data/ (or import a local copy with --from)
ingest    turn a dataset's sources into ward_counts and the data-quality report
datasets  list the configured datasets

Every domain error is printed as one message (file, row, column, fix) and the
exit status is 2; 0 means success.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from planner import __version__
from planner._files import atomic_path
from planner.config import PlannerConfig, load_config
from planner.errors import PlannerError

__all__ = ["main"]

log = logging.getLogger("planner")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    _route_warnings()
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        config = load_config(args.config)
        if args.data:
            config = config.with_data_dir(args.data)
        return args.run(config, args)
    except PlannerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


def _route_warnings() -> None:
    """Show the planner's data warnings as one 'warning:' line each, once."""

    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr)

    warnings.showwarning = show


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="planner",
        description="London neighbourhood policing planner: ward need, Dedicated Ward Officer "
        "allocation and borough local priorities from public police data.",
    )
    p.add_argument("--version", action="version", version=f"planner {__version__}")
    p.add_argument("--config", metavar="DIR", help="configuration folder (default: ./config)")
    p.add_argument(
        "--data",
        metavar="DIR",
        help="data folder laid out like ../shared/data (default: paths.data_dir, i.e. data/)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    f = sub.add_parser(
        "fetch",
        help="download the official source files into the data folder",
        description="Download the files listed in config/sources.toml (London Datastore, ONS, "
        "data.police.uk) into the data folder, with checksums. Offline, import a local copy "
        "laid out like ../shared/data with --from DIR.",
    )
    f.add_argument("--from", dest="from_dir", metavar="DIR", help="import from a local copy")
    f.add_argument("--only", nargs="+", metavar="NAME", help="fetch only these sources")
    f.add_argument("--link", action="store_true", help="with --from: hard-link, don't copy")
    f.add_argument("--timeout", type=float, default=10.0, help="network timeout, seconds")
    f.set_defaults(run=_fetch)

    i = sub.add_parser(
        "ingest",
        help="build ward_counts and the data-quality report for a dataset",
        description="Read a dataset's ward boundaries and sources, join incidents to wards, "
        "and write ward_counts, rejects, the manifest and the data-quality report. A second "
        "run on unchanged inputs loads from the cache.",
    )
    i.add_argument("--dataset", metavar="NAME", help="a dataset from config/planner.toml")
    i.add_argument("--no-cache", action="store_true", help="rebuild even if cached")
    i.add_argument("--report", metavar="FILE", help="write the quality report JSON here too")
    i.add_argument("--detail", action="store_true", help="print the table per source and month")
    i.add_argument("--no-progress", action="store_true", help="no progress bar")
    i.set_defaults(run=_ingest)

    sc = sub.add_parser(
        "score",
        help="score every ward's need and write the tables",
        description="Build the ward need index (harm, ASB, forecast, trend, rate) for a "
        "dataset and write scores, contributions, features, sensitivity and the forecast "
        "backtest as CSV with the run manifest.",
    )
    sc.add_argument("--dataset", metavar="NAME", help="a dataset from config/planner.toml")
    sc.add_argument("--out", metavar="DIR", help="output folder (default: out/score/DATASET)")
    sc.add_argument("--harm-index", choices=["cchi", "css"], help="default: config/need.toml")
    sc.add_argument("--window-end", metavar="YYYY-MM", help="last month of the 12-month window")
    sc.add_argument("--no-forecast", action="store_true", help="skip the forecast and backtest")
    sc.add_argument("--top", type=int, default=15, help="wards to print (default 15)")
    sc.set_defaults(run=_score)

    d = sub.add_parser("datasets", help="list the configured datasets")
    d.set_defaults(run=_datasets)
    return p


def _fetch(config: PlannerConfig, args: argparse.Namespace) -> int:
    from planner.sources import fetch

    dest = config.data_dir
    if args.from_dir:
        report = fetch.import_local(
            Path(args.from_dir), dest, link=args.link, sources=fetch.load_source_list(config)
        )
    else:
        report = fetch.fetch(config, dest=dest, names=args.only, timeout=args.timeout)
    report.write_manifest(dest / "fetch_manifest.json")
    print(report.summary())
    print(f"manifest: {dest / 'fetch_manifest.json'}")
    return 1 if any(r.status == "failed" for r in report.files) else 0


def _ingest(config: PlannerConfig, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from planner.ingest import ingest
    from planner.quality import format_quality

    spec = config.dataset(args.dataset)
    with tqdm(desc=f"ingest {spec.name}", unit=" step", disable=args.no_progress or None) as bar:

        def progress(label: str) -> None:
            bar.set_postfix_str(label[-60:], refresh=False)
            bar.update(1)

        result = ingest(config, spec.name, use_cache=not args.no_cache, progress=progress)
    print(format_quality(result.quality, detail=args.detail))
    print()
    n = len(result.ward_counts)
    origin = "loaded from the cache" if result.from_cache else "built"
    print(f"ward_counts: {n:,} rows {origin}: {result.cache_dir / 'ward_counts.parquet'}")
    rejected = int(result.rejects["count"].sum())
    print(f"rejects: {rejected:,} records: {result.cache_dir / 'rejects.parquet'}")
    print(f"quality report: {result.cache_dir / 'quality.json'}")
    if args.report:
        with atomic_path(args.report) as tmp:
            tmp.write_text(json.dumps(result.quality, indent=1, default=str))
        print(f"quality report also written to {args.report}")
    return 0 if result.quality.get("conservation_ok", True) else 1


def _score(config: PlannerConfig, args: argparse.Namespace) -> int:
    import dataclasses

    from tqdm import tqdm

    from planner.export import write_need_tables
    from planner.pipeline import prepare_need, score_need
    from planner.scoring import load_need_settings

    settings = load_need_settings(config)
    if args.harm_index:
        settings = dataclasses.replace(settings, harm_index=args.harm_index)
    spec = config.dataset(args.dataset)
    with tqdm(desc=f"score {spec.name}", unit=" step", disable=None) as bar:

        def progress(label: str) -> None:
            bar.set_postfix_str(label, refresh=False)
            bar.update(1)

        inputs = prepare_need(
            config,
            spec.name,
            settings=settings,
            window_end=args.window_end,
            use_forecast=not args.no_forecast,
            progress=progress,
        )
        result = score_need(inputs, settings)
    out = Path(args.out) if args.out else config.out_dir / "score" / spec.name
    files = write_need_tables(result, out)
    _print_scores(result, args.top)
    print(f"\nwritten to {out}: {', '.join(p.name for p in files)}")
    return 0


def _print_scores(result, top: int) -> None:
    m = result.manifest
    print(
        f"Need index, dataset {m['dataset']}, window {m['window']['start']}..{m['window']['end']}, "
        f"harm index {m['harm_index'].upper()}"
    )
    weights = ", ".join(f"{k} {v:.2f}" for k, v in m["weights_used"].items())
    print(f"weights used: {weights}")
    if m["absent_components"]:
        print(f"absent components: {', '.join(m['absent_components'])}")
    verdict = result.inputs.verdict
    if verdict:
        print(f"forecast: {verdict.get('explanation', verdict)}")
    for note in m["notes"]:
        print(f"note: {note}")
    if result.sensitivity_summary:
        ss = result.sensitivity_summary
        alt = [k for k in ss if k.startswith("spearman_vs_")]
        parts = [f"{k.replace('_', ' ')} {ss[k]:.3f}" for k in alt]
        parts.append(f"median Spearman under +/-20 % weights {ss['spearman_weights_median']:.3f}")
        parts.append(f"unstable wards {ss['unstable_wards']}")
        print("sensitivity: " + "; ".join(parts))
    cols = ["ward_name", "borough_name", "need_score", "rank_borough"]
    cols += [c for c in result.scores.columns if c.startswith("contribution: ")]
    table = result.scores.sort_values("rank_london").head(top)[cols]
    table.columns = [c.replace("contribution: ", "") for c in table.columns]
    print()
    print(table.round(3).to_string())


def _datasets(config: PlannerConfig, args: argparse.Namespace) -> int:
    for spec in config.datasets.values():
        mark = " (default)" if spec.default else ""
        print(f"{spec.name}{mark}\n  {spec.description}\n  wards: {spec.wards.path}")
        for src in spec.sources:
            print(f"  {src.kind}: {src.path}")
    return 0

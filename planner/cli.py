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
from planner.config import PlannerConfig, load_config
from planner.errors import PlannerError
from planner.files import atomic_path

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

    pl = sub.add_parser(
        "plan",
        help="allocate extra Dedicated Ward Officers by need and export the tables",
        description="Score the wards, apportion a pool of extra officers in whole officers "
        "(every ward keeps its baseline team), report equity, and export the allocation as "
        "CSV, Excel, GeoJSON and GeoPackage with the run manifest.",
    )
    pl.add_argument("--dataset", metavar="NAME", help="a dataset from config/planner.toml")
    pl.add_argument("--pool", type=int, help="extra officers to allocate (default: config)")
    pl.add_argument("--method", choices=["webster", "dhondt", "huntington_hill", "hamilton"])
    pl.add_argument("--floor-share", type=float, metavar="X", help="borough floor share, 0..1")
    pl.add_argument("--cap", type=int, metavar="N", help="maximum extra officers per ward")
    pl.add_argument("--harm-index", choices=["cchi", "css"])
    pl.add_argument("--no-forecast", action="store_true", help="skip the forecast and backtest")
    pl.add_argument(
        "--formats", default="csv,xlsx,geojson,gpkg", help="comma-separated export formats"
    )
    pl.add_argument("--out", metavar="DIR", help="output folder (default: out/plan/DATASET)")
    pl.add_argument("--save", metavar="NAME", help="also save the plan in the plan register")
    pl.set_defaults(run=_plan)

    pr = sub.add_parser(
        "priorities",
        help="propose a borough's two local priorities with the evidence",
        description="Show each candidate crime type's volume, rate against London, trend and "
        "share of harm for a borough, propose the top two, and show the mandatory high-harm "
        "basket and last year's agreed priorities.",
    )
    pr.add_argument("--borough", metavar="NAME", help="borough name or E09 code (default: all)")
    pr.add_argument("--dataset", metavar="NAME", help="a dataset from config/planner.toml")
    pr.add_argument("--out", metavar="DIR", help="also write the evidence tables as CSV here")
    pr.set_defaults(run=_priorities)

    pk = sub.add_parser(
        "pack",
        help="write a borough's printable pack (HTML; PDF where weasyprint is installed)",
        description="The borough pack: the borough's ward map, its allocation table with RAG "
        "status in colour and words, the equity summary, and the proposed priorities with "
        "their evidence, as one self-contained HTML page.",
    )
    pk.add_argument("--borough", metavar="NAME", required=True, help="borough name or E09 code")
    pk.add_argument("--dataset", metavar="NAME", help="a dataset from config/planner.toml")
    pk.add_argument("--pool", type=int, help="extra officers to allocate (default: config)")
    pk.add_argument("--out", metavar="DIR", help="output folder (default: out/packs)")
    pk.add_argument("--pdf", action="store_true", help="also write a PDF (needs weasyprint)")
    pk.set_defaults(run=_pack)

    rg = sub.add_parser(
        "register",
        help="the plan register: history, backups",
        description="The plan register (config/store.toml; SQLite by default) records agreed "
        "priorities, overrides with their reasons and saved plans.",
    )
    rsub = rg.add_subparsers(dest="register_command", metavar="ACTION", required=True)
    rx = rsub.add_parser("export", help="write every table to a JSON backup file")
    rx.add_argument("file")
    ri = rsub.add_parser("import", help="restore a JSON backup into the register")
    ri.add_argument("file")
    ri.add_argument("--replace", action="store_true", help="replace a register that has records")
    rh = rsub.add_parser("history", help="agreed priorities, newest first")
    rh.add_argument("--borough", metavar="CODE", help="one borough (E09 code)")
    rsub.add_parser("plans", help="saved plans, newest first")
    rg.set_defaults(run=_register)

    d = sub.add_parser("datasets", help="list the configured datasets")
    d.set_defaults(run=_datasets)
    return p


def _fetch(config: PlannerConfig, args: argparse.Namespace) -> int:
    from planner.ingest import fetch

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
    from planner.ingest.quality import format_quality

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

    from planner.model.need import prepare_need, score_need
    from planner.model.scoring import load_need_settings
    from planner.outputs.export import write_need_tables

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


def _plan(config: PlannerConfig, args: argparse.Namespace) -> int:
    import dataclasses

    from planner.model.need import prepare_need, run_plan
    from planner.model.scoring import load_need_settings
    from planner.outputs.export import write_allocation
    from planner.plan.allocation import settings_from_config

    need_settings = load_need_settings(config)
    if args.harm_index:
        need_settings = dataclasses.replace(need_settings, harm_index=args.harm_index)
    settings, pool = settings_from_config(config.extra.get("allocation", {}))
    changes = {
        "method": args.method,
        "borough_floor_share": args.floor_share,
        "max_extra_per_ward": args.cap,
    }
    settings = dataclasses.replace(settings, **{k: v for k, v in changes.items() if v is not None})
    pool = args.pool if args.pool is not None else pool
    spec = config.dataset(args.dataset)
    inputs = prepare_need(
        config, spec.name, settings=need_settings, use_forecast=not args.no_forecast
    )
    plan = run_plan(inputs, need_settings, settings, pool=pool)
    out = Path(args.out) if args.out else config.out_dir / "plan" / spec.name
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    files = write_allocation(
        plan.allocation,
        inputs.wards,
        out,
        manifest=plan.manifest,
        formats=formats,
        scores=plan.need.scores,
    )
    _print_plan(plan)
    if args.save:
        from planner.register.store import PlanRegister

        table = plan.allocation.wards.join(plan.need.scores[["need_score"]])
        plan_id = PlanRegister(config=config).save_plan(
            args.save,
            table.reset_index(),
            settings=plan.manifest["allocation"],
            manifest=plan.manifest,
        )  # the command line is local mode: recorded as the single local planner
        print(f"saved in the plan register as plan {plan_id} ({args.save!r})")
    print(f"\nwritten to {out}: {', '.join(p.name for p in files)}")
    return 0


def _print_plan(plan) -> None:
    a = plan.allocation
    m = plan.manifest["allocation"]
    eq = a.equity
    print(
        f"Allocation of {m['pool']} extra officers ({m['method']}), baseline "
        f"{m['baseline_dwo']} DWO + {m['baseline_pcso']} PCSO in each of {len(a.wards)} wards"
    )
    print(
        f"equity: worst-served borough {eq['worst_served_borough']} at "
        f"{eq['worst_served_borough_ratio']:.2f} of its need-proportional target; "
        f"Gini of officers per unit of need {eq['gini_officers_per_need']:.3f}; "
        f"boroughs below floor {eq['boroughs_below_floor']}; "
        f"wards outside quota {eq['wards_outside_quota']}"
    )
    names = plan.need.scores["borough_name"].groupby(plan.need.scores["borough_code"]).first()
    table = a.boroughs.assign(borough=names)[
        ["borough", "n_wards", "need_share", "extra", "target", "ratio", "floor"]
    ]
    print()
    print(table.sort_values("extra", ascending=False).round(3).to_string())


def _priorities(config: PlannerConfig, args: argparse.Namespace) -> int:
    from planner.model.need import prepare_need
    from planner.model.scoring import load_need_settings
    from planner.plan.priorities import borough_evidence, borough_priorities, high_harm_basket

    spec = config.dataset(args.dataset)
    inputs = prepare_need(
        config, spec.name, settings=load_need_settings(config), use_forecast=False
    )
    boroughs = [args.borough] if args.borough else sorted(inputs.wards["borough_name"].unique())
    register = _register_or_none(config)
    year = plan_year(inputs.window.end)
    evidence, basket = borough_evidence(inputs), high_harm_basket(inputs)
    for name in boroughs:
        result = borough_priorities(inputs, name, config=config, evidence=evidence, basket=basket)
        _print_priorities(result, register, year)
    if args.out:
        from planner.outputs.export import write_csv

        out = Path(args.out)
        write_csv(evidence, out / "evidence.csv", index=False)
        write_csv(basket, out / "high_harm_basket.csv", index=False)
        print(f"evidence tables written to {out}")
    return 0


def plan_year(window_end: str) -> int:
    """The year a review on data ending *window_end* plans for: the next April's year."""
    year, month = int(window_end[:4]), int(window_end[5:7])
    return year if month < 4 else year + 1


def _register_or_none(config: PlannerConfig):
    try:
        from planner.register.store import PlanRegister

        return PlanRegister(config=config)
    except PlannerError as exc:
        print(f"warning: plan register not available ({exc})", file=sys.stderr)
        return None


def _print_priorities(result, register, year: int) -> None:
    print(
        f"\n== {result.borough_name} ({result.borough_code}): proposed local priorities for {year}"
    )
    for i, row in enumerate(result.proposed.itertuples(), start=1):
        print(f"  {i}. {row.sentence}")
    if register is not None:
        last = register.previous_year(result.borough_code, year)
        if last:
            agreed = ", ".join(last["priorities"])
            print(f"  agreed for {last['year']}: {agreed} (by {last['agreed_by']})")
    print("  mandatory high-harm basket:")
    for row in result.basket.itertuples():
        print(f"    - {row.sentence}" if hasattr(row, "sentence") else f"    - {row}")
    sentences = " ".join(result.basket["sentence"].astype(str))
    for note in result.notes:
        if note.split(": ", 1)[-1] not in sentences:  # don't repeat the basket's own words
            print(f"  note: {note}")


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


def _pack(config: PlannerConfig, args: argparse.Namespace) -> int:
    from planner.model.need import prepare_need, run_plan
    from planner.model.scoring import load_need_settings
    from planner.outputs.pack import write_borough_pack
    from planner.plan.allocation import settings_from_config

    need_settings = load_need_settings(config)
    settings, pool = settings_from_config(config.extra.get("allocation", {}))
    spec = config.dataset(args.dataset)
    inputs = prepare_need(config, spec.name, settings=need_settings, use_forecast=False)
    plan = run_plan(inputs, need_settings, settings, pool=args.pool or pool)
    out = Path(args.out) if args.out else config.out_dir / "packs"
    files = write_borough_pack(plan, args.borough, out, pdf=args.pdf, config=config)
    print(f"written: {', '.join(str(p) for p in files)}")
    return 0


def _register(config: PlannerConfig, args: argparse.Namespace) -> int:
    from planner.register.store import PlanRegister

    register = PlanRegister(config=config)
    action = args.register_command
    if action == "export":
        register.export(args.file)
        print(f"register {register.url} exported to {args.file}")
    elif action == "import":
        register.import_(args.file, replace=args.replace)
        print(f"{args.file} imported into {register.url}")
    elif action == "history":
        table = register.priorities_history(args.borough)
        print(table.to_string(index=False) if len(table) else "no agreed priorities recorded yet")
    else:
        table = register.list_plans()
        print(table.to_string(index=False) if len(table) else "no saved plans yet")
    return 0


def _datasets(config: PlannerConfig, args: argparse.Namespace) -> int:
    for spec in config.datasets.values():
        mark = " (default)" if spec.default else ""
        print(f"{spec.name}{mark}\n  {spec.description}\n  wards: {spec.wards.path}")
        for src in spec.sources:
            print(f"  {src.kind}: {src.path}")
    return 0

"""What each command does: options -> a scenario -> :mod:`planner.api` -> printed results.

No domain rule lives here: every number comes from an action of :mod:`planner.api`, and the
printing is in :mod:`planner.cli.show`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from planner import api
from planner.cli import show
from planner.cli.options import scenario_from_args
from planner.config import PlannerConfig
from planner.errors import PlannerError
from planner.files import atomic_path
from planner.model.need import NeedInputs
from planner.register import identity
from planner.register.access import LOCAL_PLANNER, PermissionDenied, User
from planner.register.store import PlanRegister
from planner.results import PlanResult
from planner.scenario import Scenario

__all__ = ["COMMANDS"]


def fetch(config: PlannerConfig, args: argparse.Namespace) -> int:
    from planner.ingest import fetch as fetcher
    from planner.ingest import mirror

    dest = config.data_dir
    if args.from_dir:
        report = mirror.import_local(
            Path(args.from_dir), dest, link=args.link, sources=config.sources.items
        )
    else:
        report = fetcher.fetch(
            config, dest=dest, names=args.only, timeout=args.timeout, months=args.months
        )
    report.write_manifest(dest / "fetch_manifest.json")
    print(report.summary())
    print(f"manifest: {dest / 'fetch_manifest.json'}")
    return 1 if report.failed else 0


def ingest(config: PlannerConfig, args: argparse.Namespace) -> int:
    from planner.ingest import ingest as build
    from planner.ingest.quality import format_quality

    spec = config.dataset(args.dataset)
    with _progress(f"ingest {spec.name}", off=args.no_progress) as progress:
        result = build(config, spec.name, use_cache=not args.no_cache, progress=progress)
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


def score(config: PlannerConfig, args: argparse.Namespace) -> int:
    scenario = scenario_from_args(config, args)
    inputs = _prepare(config, scenario, args)
    result = api.score(inputs, scenario)
    out = Path(args.out) if args.out else config.out_dir / "score" / scenario.dataset
    files = api.write_scores(result, scenario, out)
    show.scores(result, args.top)
    print(f"\nwritten to {out}: {', '.join(p.name for p in files)}")
    return 0


def plan(config: PlannerConfig, args: argparse.Namespace) -> int:
    if args.current_template:
        return _current_template(config, args)
    if args.compare:
        return _compare(config, args)
    saver = _cli_user(config, args.user, "saving a plan") if args.save else None
    result = _plan(config, args)
    scenario = result.scenario
    out = Path(args.out) if args.out else config.out_dir / "plan" / scenario.dataset
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    files = api.export_plan(result, out, formats=formats)
    show.plan(result, api.yardsticks(result, config))
    if args.save:
        register = PlanRegister.from_config(config)
        plan_id = api.save_plan(register, result, args.save, user=saver or LOCAL_PLANNER)
        print(f"saved in the plan register as plan {plan_id} ({args.save!r})")
    print(f"\nwritten to {out}: {', '.join(p.name for p in files)}")
    return 0


def priorities(config: PlannerConfig, args: argparse.Namespace) -> int:
    scenario = scenario_from_args(config, args).changed(use_forecast=False)
    inputs = _prepare(config, scenario, args)
    london = api.evidence(inputs, config)
    boroughs = [args.borough] if args.borough else list(api.borough_names(inputs))
    register = _register_or_none(config)
    year = api.plan_year(inputs.window.end)
    for borough in boroughs:
        view = api.borough_priorities(inputs, config, borough, london=london)
        agreed = register.previous_year(view.borough_code, year) if register else None
        show.priorities(view, year, agreed)
    if args.out:
        from planner.outputs.export import write_csv
        from planner.plan.priorities import propose_priorities

        out = Path(args.out)
        proposals = propose_priorities(london[0].table, settings=config.priorities)
        write_csv(london[0].table, out / "evidence.csv", index=False)
        write_csv(proposals.table, out / "proposals.csv", index=False)
        write_csv(proposals.boroughs, out / "proposal_outcomes.csv", index=False)
        write_csv(london[1].table, out / "high_harm_basket.csv", index=False)
        print(f"evidence tables written to {out}")
    return 0


def pack(config: PlannerConfig, args: argparse.Namespace) -> int:
    if args.pdf:  # before the plan: a missing browser is said at once
        _check_pdf()
    result = _plan(config, args)
    out = Path(args.out) if args.out else config.out_dir / "packs"
    register = _register_or_none(config)  # agreements and overrides, the meeting's record
    files = api.write_borough_pack(
        result, args.borough, out, config=config, pdf=args.pdf, register=register
    )
    print(f"written: {', '.join(str(p) for p in files)}")
    return 0


def _check_pdf() -> None:
    """PdfUnavailable now if Playwright cannot be imported (Chromium is found when printing)."""
    import importlib.util

    from planner.outputs.pdf import PdfUnavailable, chromium_path

    path = chromium_path()
    if importlib.util.find_spec("playwright") is None:
        raise PdfUnavailable(
            "planner pack --pdf prints with headless Chromium through Playwright, which is not "
            "installed: pip install playwright"
            + ("" if path else ", and install Chromium (apt-get install chromium, or "
               "python -m playwright install chromium)")
            + "; or leave out --pdf and print the HTML pack from a browser"
        )  # fmt: skip


def register(config: PlannerConfig, args: argparse.Namespace) -> int:
    reg = PlanRegister.from_config(config)
    action = args.register_command
    unavailable = reg.writes_unavailable()
    if unavailable and action != "import":  # an import says so in its error
        show.warning(unavailable)
    if action == "export":
        reg.export(args.file)
        print(f"register {reg.url} exported to {args.file}")
    elif action == "import":
        user = _cli_user(config, args.user, "an import")
        counts = reg.import_(args.file, replace=args.replace, user=user)
        rows = ", ".join(f"{n} {t}" for t, n in counts.items())
        print(f"{args.file} imported into {reg.url} by {user.name} ({rows})")
    elif action == "imports":
        table = reg.imports()
        print(table.to_string(index=False) if len(table) else "no backups imported yet")
    elif action == "history":
        table = reg.priorities_history(args.borough)
        print(table.to_string(index=False) if len(table) else "no agreed priorities recorded yet")
    else:
        table = reg.list_plans()
        print(table.to_string(index=False) if len(table) else "no saved plans yet")
    return 0


def datasets(config: PlannerConfig, args: argparse.Namespace) -> int:
    for spec in config.datasets.values():
        mark = " (default)" if spec.default else ""
        print(f"{spec.name}{mark}\n  {spec.description}\n  wards: {spec.wards.path}")
        for src in spec.sources:
            print(f"  {src.kind}: {src.path}")
    return 0


COMMANDS: dict[str, Callable[[PlannerConfig, argparse.Namespace], int]] = {
    "fetch": fetch,
    "ingest": ingest,
    "score": score,
    "plan": plan,
    "priorities": priorities,
    "pack": pack,
    "register": register,
    "datasets": datasets,
}


# --- shared steps ----------------------------------------------------------------------------


def _plan(config: PlannerConfig, args: argparse.Namespace) -> PlanResult:
    """The scenario of the options, planned with the register's overrides (unless refused)."""
    scenario = scenario_from_args(config, args)
    inputs = _prepare(config, scenario, args)
    register = None if args.no_overrides else _register_or_none(config)
    return api.plan(inputs, scenario, register=register)


def _compare(config: PlannerConfig, args: argparse.Namespace) -> int:
    from planner.outputs.export import write_json

    scenario = scenario_from_args(config, args)
    inputs = _prepare(config, scenario, args)
    with _progress("comparing modes") as progress:
        results = api.compare_modes(inputs, scenario, config, progress=progress)
    show.modes(results)
    out = Path(args.out) if args.out else config.out_dir / "plan" / scenario.dataset
    path = write_json(results, out / "plan_results.json")
    print(f"\nwritten to {path}")
    return 0


def _current_template(config: PlannerConfig, args: argparse.Namespace) -> int:
    scenario = scenario_from_args(config, args).changed(use_forecast=False)
    inputs = _prepare(config, scenario, args)
    path = api.write_staffing_template(inputs, scenario, args.current_template)
    print(
        f"current-staffing template for {len(inputs.wards)} wards written to {path}: put each "
        "ward's team now in dwo and pcso, then run `planner plan --current "
        f"{path}`"
    )
    return 0


def _prepare(config: PlannerConfig, scenario: Scenario, args: argparse.Namespace) -> NeedInputs:
    with _progress(f"{args.command} {scenario.dataset}") as progress:
        return api.prepare(config, scenario, use_cache=not args.no_cache, progress=progress)


@contextmanager
def _progress(label: str, *, off: bool = False) -> Iterator[Callable[[str], None]]:
    from tqdm import tqdm

    with tqdm(desc=label, unit=" step", disable=off or None) as bar:

        def step(text: str) -> None:
            bar.set_postfix_str(text[-60:], refresh=False)
            bar.update(1)

        yield step


def _cli_user(config: PlannerConfig, identity_given: str | None, what: str) -> User:
    """Who writes (imports a backup, saves a plan): ``--user`` as config/access.toml knows
    them, else the local planner where local mode is in force.

    The command line has no sign-in: whoever runs it holds the database's credentials.
    Where sign-in is configured, they say who they are with ``--user`` (a planner of
    config/access.toml), which the register checks and records.
    """
    access = identity.load_access(config)
    if identity_given:
        return identity.user_from_identity(identity_given, config=access)
    if access.source.mode == "local":
        return LOCAL_PLANNER
    raise PermissionDenied(
        f"sign-in is configured ({access.source.mode} mode, {access.where}), so {what} "
        "must say who makes it: give --user EMAIL of a planner listed there"
    )


def _register_or_none(config: PlannerConfig) -> PlanRegister | None:
    """The register, if one exists (a missing SQLite file holds no records: none is made)."""
    try:
        reg = PlanRegister.from_config(config)
        if reg.path is not None and not reg.path.exists():
            return None
        reg.schema_version  # noqa: B018 - opening it now says whether it can be read
    except PlannerError as exc:
        show.warning(f"plan register not available ({exc})")
        return None
    return reg

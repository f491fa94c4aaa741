"""The command line's options: one parser per command, scenario options shared by parents.

Choices come from the code's own registries (apportionment methods from
:data:`planner.config.METHODS`, harm indices and datasets from the loaded configuration),
never from string lists here. Every command that builds a scenario (``score``, ``plan``,
``pack``, ``priorities``) reads it with :func:`scenario_from_args`, so the same option means
the same thing everywhere.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from planner import __version__
from planner.config import COMPONENTS, METHODS, POLICIES, PlannerConfig
from planner.errors import ConfigError
from planner.plan.staffing import read_staffing
from planner.scenario import Scenario

__all__ = ["global_parser", "parser", "scenario_from_args"]

Command = Callable[[PlannerConfig, argparse.Namespace], int]


def global_parser(*, add_help: bool = False) -> argparse.ArgumentParser:
    """The options every command takes (read before the configuration is loaded)."""
    p = argparse.ArgumentParser(
        prog="planner",
        add_help=add_help,
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
    p.add_argument("--cache", metavar="DIR", help="ingest cache folder (default: paths.cache_dir)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every step")
    return p


def parser(config: PlannerConfig, commands: dict[str, Command]) -> argparse.ArgumentParser:
    """The full parser, with choices from *config*; *commands* maps a name to its function."""
    p = global_parser(add_help=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    data = _data_options(config)
    window = _window_options()
    need = _need_options(config)
    allocation = _allocation_options()

    def add(name: str, parents: Sequence[argparse.ArgumentParser], help_: str, desc: str):
        cmd = sub.add_parser(name, parents=list(parents), help=help_, description=desc)
        cmd.set_defaults(run=commands[name])
        return cmd

    f = add("fetch", [], "download the official source files into the data folder",
            "Download the files listed in config/sources.toml (London Datastore, ONS, "
            "data.police.uk) into the data folder, with checksums. Offline, import a local "
            "copy laid out like ../shared/data with --from DIR. The police.uk archive "
            "(--only police_uk_archive_latest, optional) is about 1.7 GB to download: the last "
            "36 months of every force, of which the Met's and the City's street CSVs are kept "
            "(20-30 MB a month for the Met, about 1 GB for 36 months; --months N keeps only the "
            "newest N). The default dataset then reads their ASB.")  # fmt: skip
    f.add_argument("--from", dest="from_dir", metavar="DIR", help="import from a local copy")
    f.add_argument("--only", nargs="+", metavar="NAME", help="fetch only these sources")
    f.add_argument("--link", action="store_true", help="with --from: hard-link, don't copy")
    f.add_argument("--timeout", type=float, default=10.0, help="network timeout, seconds")
    f.add_argument("--months", type=int, metavar="N",
                   help="of a monthly archive (the police.uk archive, about 1.7 GB), keep only "
                   "the newest N months' files (default all 36)")  # fmt: skip

    i = add("ingest", [data], "build ward_counts and the data-quality report for a dataset",
            "Read a dataset's ward boundaries and sources, join incidents to wards, and write "
            "ward_counts, rejects, the manifest and the data-quality report. A second run on "
            "unchanged inputs loads from the cache.")  # fmt: skip
    i.add_argument("--report", metavar="FILE", help="write the quality report JSON here too")
    i.add_argument("--detail", action="store_true", help="print the table per source and month")
    i.add_argument("--no-progress", action="store_true", help="no progress bar")

    sc = add("score", [data, window, need], "score every ward's need and write the tables",
             "Build the ward need index (harm, ASB, forecast, trend, rate) for a dataset and "
             "write scores, contributions, features, sensitivity and the forecast backtest as "
             "CSV with the run manifest.")  # fmt: skip
    sc.add_argument("--out", metavar="DIR", help="output folder (default: out/score/DATASET)")
    sc.add_argument("--top", type=int, default=15, help="wards to print (default 15)")

    pl = add("plan", [data, window, need, allocation],
             "allocate extra Dedicated Ward Officers by need and export the tables",
             "Score the wards, apportion a pool of extra officers in whole officers (every "
             "ward keeps its baseline team), apply the commanders' recorded overrides, report "
             "equity, and export the allocation as CSV, Excel, GeoJSON and GeoPackage with "
             "the run manifest.")  # fmt: skip
    pl.add_argument(
        "--formats", default="csv,xlsx,geojson,gpkg", help="comma-separated export formats"
    )
    pl.add_argument("--out", metavar="DIR", help="output folder (default: out/plan/DATASET)")
    pl.add_argument("--save", metavar="NAME", help="also save the plan in the plan register")
    pl.add_argument(
        "--user",
        metavar="EMAIL",
        help="who saves the plan (--save): a planner of config/access.toml (needed where "
        "sign-in is configured; recorded as its author)",
    )
    pl.add_argument(
        "--compare",
        action="store_true",
        help="compare the allocation modes at pools 300, 600 and 1,258 and write the results "
        "(plan_results.json: distributions, equity by borough and IMD decile, inversions, "
        "trend credit, priorities)",
    )
    pl.add_argument(
        "--current-template",
        metavar="FILE",
        help="write a current-staffing file to fill in (one row per ward, baseline team) and stop",
    )

    pr = add("priorities", [data, window],
             "propose a borough's local priorities with the evidence",
             "Show each candidate crime type's volume, rate against London, trend and share "
             "of harm for a borough, propose the top ones, and show the mandatory high-harm "
             "basket and last year's agreed priorities.")  # fmt: skip
    pr.add_argument("--borough", metavar="NAME", help="borough name or E09 code (default: all)")
    pr.add_argument("--out", metavar="DIR", help="also write the evidence tables as CSV here")

    pk = add("pack", [data, window, need, allocation],
             "write a borough's printable pack (HTML, and PDF with --pdf)",
             "The borough pack, the meeting's record: a cover with the scenario, the "
             "borough's ward map with a numbered key, its allocation table with a status in "
             "colour and words, the commanders' overrides with their reasons and the agreed "
             "priorities from the plan register, the proposed priorities with their evidence "
             "and the equity summary, as one self-contained HTML page. It takes the same "
             "scenario options as plan.")  # fmt: skip
    pk.add_argument("--borough", metavar="NAME", required=True, help="borough name or E09 code")
    pk.add_argument("--out", metavar="DIR", help="output folder (default: out/packs)")
    pk.add_argument(
        "--pdf",
        action="store_true",
        help="also write the PDF, printed by headless Chromium through Playwright (Chromium: "
        "$PLANNER_CHROMIUM or chromium on the PATH)",
    )

    rg = add("register", [], "the plan register: history, backups",
             "The plan register (config/store.toml; SQLite by default) records agreed "
             "priorities, overrides with their reasons and saved plans.")  # fmt: skip
    rsub = rg.add_subparsers(dest="register_command", metavar="ACTION", required=True)
    rx = rsub.add_parser("export", help="write every table to a JSON backup file")
    rx.add_argument("file")
    ri = rsub.add_parser(
        "import",
        help="restore a JSON backup into the register (planners only; every row is checked)",
    )
    ri.add_argument("file")
    ri.add_argument("--replace", action="store_true", help="replace a register that has records")
    ri.add_argument(
        "--user",
        metavar="EMAIL",
        help="who is importing: a planner of config/access.toml (needed where sign-in is "
        "configured; recorded as the importer)",
    )
    rsub.add_parser("imports", help="backups imported into the register, newest first")
    rh = rsub.add_parser("history", help="agreed priorities, newest first")
    rh.add_argument("--borough", metavar="CODE", help="one borough (E09 code)")
    rsub.add_parser("plans", help="saved plans, newest first")

    add("datasets", [], "list the configured datasets", "List the datasets of planner.toml.")
    return p


def scenario_from_args(config: PlannerConfig, args: argparse.Namespace) -> Scenario:
    """The configuration's scenario for ``--dataset``, changed by the options given.

    Raises
    ------
    ConfigError
        A value the scenario's checks refuse (the message names it).
    """
    scenario = Scenario.from_config(config, getattr(args, "dataset", None))
    weights = dict(scenario.need.weights)
    for item in getattr(args, "weight", None) or []:
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(
                f"--weight {item!r}: expected COMPONENT=NUMBER, e.g. --weight trend=0"
            ) from None
    forecast = getattr(args, "forecast", None)
    current = getattr(args, "current", None)
    return scenario.changed(
        current=read_staffing(current) if current else None,
        policy=getattr(args, "policy", None),
        max_change=getattr(args, "max_change", None),
        window_end=getattr(args, "window_end", None),
        use_forecast=forecast,
        harm_index=getattr(args, "harm_index", None),
        weights=weights if getattr(args, "weight", None) else None,
        pool=getattr(args, "pool", None),
        method=getattr(args, "method", None),
        borough_floor_share=getattr(args, "floor_share", None),
        max_extra_per_ward=getattr(args, "cap", None),
        no_cap=getattr(args, "no_cap", False),
    )


# --- parent parsers --------------------------------------------------------------------------


def _data_options(config: PlannerConfig) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--dataset",
        choices=sorted(config.datasets),
        help=f"a dataset of {config.file('planner')} (default: {config.dataset().name})",
    )
    p.add_argument("--no-cache", action="store_true", help="rebuild the ingested data")
    return p


def _window_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--window-end", metavar="YYYY-MM", help="last month of the scoring window (default: newest)"
    )
    return p


def _need_options(config: PlannerConfig) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--harm-index",
        choices=sorted(config.harm.indices),
        help=f"harm index (default: {config.need.harm_index}, config/need.toml)",
    )
    p.add_argument(
        "--weight",
        action="append",
        metavar="COMPONENT=W",
        help=f"a need weight, repeatable; components: {', '.join(COMPONENTS)}",
    )
    forecast = p.add_mutually_exclusive_group()
    forecast.add_argument(
        "--forecast",
        dest="forecast",
        action="store_true",
        default=None,
        help="fit the forecast and backtest it (default: config/forecast.toml use_forecast)",
    )
    forecast.add_argument(
        "--no-forecast", dest="forecast", action="store_false", help="skip the forecast"
    )
    return p


def _allocation_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--pool", type=int, help="extra officers to allocate (default: config)")
    p.add_argument("--method", choices=list(METHODS), help="apportionment method")
    p.add_argument("--floor-share", type=float, metavar="X", help="borough floor share, 0..1")
    cap = p.add_mutually_exclusive_group()
    cap.add_argument("--cap", type=int, metavar="N", help="maximum extra officers per ward")
    cap.add_argument("--no-cap", action="store_true", help="no per-ward maximum")
    p.add_argument(
        "--policy",
        choices=list(POLICIES),
        help="whole_team: the baseline counts as officers held; top_up: extras on top of it",
    )
    p.add_argument(
        "--current",
        metavar="FILE",
        help="each ward's team now (CSV or .xlsx: ward_code, dwo, pcso); the table then "
        "shows current, proposed and change",
    )
    p.add_argument(
        "--max-change",
        type=int,
        metavar="N",
        help="damping: change each ward's extras by at most N from now (needs --current)",
    )
    p.add_argument(
        "--no-overrides", action="store_true", help="leave out the register's recorded overrides"
    )
    return p

"""Reading ``config/``: every TOML file parsed at load, every problem reported together.

:func:`load_config` reads the fifteen files of :data:`FILES`, turns each into its typed,
frozen settings with :func:`planner.config.build.build` (one unknown-key check, one type check,
each dataclass's own range checks), runs the checks that span files (a harm index named in
``need.toml`` must exist in ``harm.toml``, boroughs in ``access.toml`` must be in
``boroughs.toml``), and raises one :class:`~planner.errors.ConfigError` listing every problem
with its file, table and key, what was expected and the fix. A stray ``.toml`` in the folder
(say ``harms.toml``) is a problem too: a misspelt file name must not be ignored.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from planner import schema as s
from planner.config import parse
from planner.config.build import Problems, build
from planner.config.root import PlannerConfig
from planner.errors import ConfigError, PlannerWarning

__all__ = ["FILES", "default_config_dir", "load_config"]

FILES: tuple[str, ...] = (
    "planner", "categories", "wards", "boroughs", "need", "harm", "hotspots", "forecast",
    "allocation", "priorities", "yardsticks", "population", "sources", "store", "access",
)  # fmt: skip
"""The files of a configuration folder, by stem; each must be present."""


def default_config_dir() -> Path:
    """``$PLANNER_CONFIG``, else ``./config``, else the repository's ``config/``."""
    env = os.environ.get("PLANNER_CONFIG")
    if env:
        return Path(env)
    here = Path("config")
    if (here / "planner.toml").is_file():
        return here
    return Path(__file__).resolve().parents[2] / "config"


def load_config(config_dir: str | Path | None = None) -> PlannerConfig:
    """Load and check every TOML file in *config_dir*.

    Parameters
    ----------
    config_dir
        The folder holding the files of :data:`FILES`; default :func:`default_config_dir`.

    Returns
    -------
    PlannerConfig

    Raises
    ------
    ConfigError
        Listing every problem at once: a file missing or not TOML, an unknown key (with the
        nearest allowed one), a missing key, a value of the wrong type or out of range, a
        reference to something another file does not define.
    """
    cdir = Path(config_dir) if config_dir is not None else default_config_dir()
    problems = Problems()
    if not cdir.is_dir():
        raise ConfigError(
            f"configuration folder {cdir} not found; run from the repository folder, pass "
            "--config DIR, or set PLANNER_CONFIG to the folder holding planner.toml"
        )
    raw = {stem: _read(cdir / f"{stem}.toml", problems) for stem in FILES}
    for stray in sorted(p.name for p in cdir.glob("*.toml") if p.stem not in FILES):
        problems.add(
            str(cdir / stray),
            f"not a file the planner reads (the files are {', '.join(f + '.toml' for f in FILES)})"
            "; rename or remove it",
        )
    problems.raise_if_any(f"configuration in {cdir}")
    parts = {stem: PARSERS[stem](raw[stem], str(cdir / f"{stem}.toml"), problems) for stem in FILES}
    if not problems:
        _cross_checks(parts, cdir, problems)
    problems.raise_if_any(f"configuration in {cdir}")
    boroughs = parts["boroughs"]
    access = parse.resolve_access_boroughs(
        parts["access"], boroughs["names"], boroughs["aliases"], str(cdir / "access.toml"), problems
    )
    problems.raise_if_any(f"configuration in {cdir}")
    main = parts["planner"]
    allocation, pool = parts["allocation"]
    forecast, use_forecast = parts["forecast"]
    return PlannerConfig(
        config_dir=cdir,
        paths=main["paths"],
        join=main["join"],
        coordinates=main["coordinates"],
        datasets=main["datasets"],
        categories=parts["categories"],
        ward_detection=parts["wards"],
        borough_names=boroughs["names"],
        borough_aliases=boroughs["aliases"],
        need=parts["need"],
        harm=parts["harm"],
        hotspots=parts["hotspots"],
        forecast=forecast,
        use_forecast=use_forecast,
        allocation=allocation,
        pool=pool,
        priorities=parts["priorities"],
        yardsticks=parts["yardsticks"],
        population=parts["population"],
        sources=parts["sources"],
        store=parts["store"],
        access=access,
        limits=main["limits"],
    )


# --- reading -----------------------------------------------------------------------------------


def _read(path: Path, problems: Problems) -> dict[str, Any]:
    if not path.is_file():
        problems.add(str(path), "not found; every configuration folder needs this file")
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        problems.add(str(path), f"not valid TOML ({exc}); fix the line it names")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(str(path), f"cannot be read ({exc})")
    return {}


# --- one parser per file -----------------------------------------------------------------------


def _planner(raw: Mapping[str, Any], where: str, problems: Problems) -> dict[str, Any]:
    from planner.config.data import CoordinateChecks, JoinSettings, Paths, UploadLimits

    problems.unknown_keys(raw, {"paths", "join", "coordinates", "datasets", "limits"}, where)
    return {
        "limits": build(UploadLimits, raw.get("limits", {}), f"{where} [limits]", problems),
        "paths": build(Paths, raw.get("paths", {}), f"{where} [paths]", problems),
        "join": build(JoinSettings, raw.get("join", {}), f"{where} [join]", problems),
        "coordinates": build(
            CoordinateChecks, raw.get("coordinates", {}), f"{where} [coordinates]", problems
        ),
        "datasets": parse.datasets(raw.get("datasets", {}), where, problems),
    }


def _need(raw: Mapping[str, Any], where: str, problems: Problems) -> Any:
    from planner.config.model import NeedSettings

    return build(NeedSettings, raw, where, problems)


def _hotspots(raw: Mapping[str, Any], where: str, problems: Problems) -> Any:
    from planner.config.model import HotSpotSettings

    return build(HotSpotSettings, raw, where, problems)


def _forecast(raw: Mapping[str, Any], where: str, problems: Problems) -> tuple[Any, bool]:
    from planner.config.model import ForecastSettings

    use = raw.get("use_forecast")
    if not isinstance(use, bool):
        problems.add(where, f"'use_forecast' should be true or false, found {use!r}")
    table = {k: v for k, v in raw.items() if k != "use_forecast"}
    return build(ForecastSettings, table, where, problems), bool(use)


def _allocation(raw: Mapping[str, Any], where: str, problems: Problems) -> tuple[Any, int]:
    from planner.config.plan import AllocationSettings

    table = {k: v for k, v in raw.items() if k not in ("pool", "baseline")}
    pool = raw.get("pool")
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 0:
        problems.add(where, f"'pool' should be a whole number of officers >= 0, found {pool!r}")
    baseline = raw.get("baseline", {})
    if not isinstance(baseline, Mapping):
        problems.add(where, f"[baseline] should be a table with dwo and pcso, found {baseline!r}")
        baseline = {}
    problems.unknown_keys(baseline, {"dwo", "pcso"}, f"{where} [baseline]")
    missing = [key for key in ("dwo", "pcso") if key not in baseline]
    for key in missing:
        problems.add(f"{where} [baseline]", f"missing key {key!r}; add `{key} = ...`")
    if missing:
        return None, 0
    extra = {"baseline_dwo": baseline["dwo"], "baseline_pcso": baseline["pcso"]}
    settings = build(
        AllocationSettings, table, where, problems, extra=extra, known=("pool", "baseline")
    )
    return settings, pool if isinstance(pool, int) else 0


def _priorities(raw: Mapping[str, Any], where: str, problems: Problems) -> Any:
    from planner.config.plan import PrioritySettings

    return build(PrioritySettings, raw, where, problems)


def _yardsticks(raw: Mapping[str, Any], where: str, problems: Problems) -> Any:
    from planner.config.yardsticks import YardstickSettings

    return build(YardstickSettings, raw, where, problems)


def _population(raw: Mapping[str, Any], where: str, problems: Problems) -> Any:
    from planner.config.data import PopulationSettings

    return build(PopulationSettings, raw, where, problems)


def _store(raw: Mapping[str, Any], where: str, problems: Problems) -> Any:
    from planner.config.register import StoreSettings

    return build(StoreSettings, raw, where, problems)


PARSERS: dict[str, Callable[[Mapping[str, Any], str, Problems], Any]] = {
    "planner": _planner,
    "categories": parse.categories,
    "wards": parse.ward_detection,
    "boroughs": parse.boroughs,
    "need": _need,
    "harm": parse.harm,
    "hotspots": _hotspots,
    "forecast": _forecast,
    "allocation": _allocation,
    "priorities": _priorities,
    "yardsticks": _yardsticks,
    "population": _population,
    "sources": parse.sources,
    "store": _store,
    "access": parse.access,
}


# --- checks across files -----------------------------------------------------------------------


def _cross_checks(parts: Mapping[str, Any], cdir: Path, problems: Problems) -> None:
    need, harm = parts["need"], parts["harm"]
    if need.harm_index not in harm.indices:
        problems.add(
            str(cdir / "need.toml"),
            f"harm_index {need.harm_index!r} is not an index of harm.toml "
            f"({', '.join(harm.indices)}); use one of those",
        )
    known = {(c, sub.casefold()) for c, sub in parts["categories"].mps_minor.values()}
    known |= {(c, sub.casefold()) for c, sub in parts["categories"].mps_major.values()}
    # the subcategory ingest gives violence without injury in editions that hold stalking and
    # harassment inside it (planner.ingest.sources.mps)
    known.add(("Violence and sexual offences", s.SUB_VIOLENCE_WITHOUT_INJURY_MERGED))
    for index in harm.indices.values():
        for pair in index.subcategories:
            if pair not in known:
                warnings.warn(
                    f"{cdir / 'harm.toml'} [indices.{index.key}.subcategories]: "
                    f"{' | '.join(pair)!r} matches no subcategory of categories.toml; it only "
                    "applies to sources that name it",
                    PlannerWarning,
                    3,
                )
    datasets = parts["planner"]["datasets"]
    defaults = [d.name for d in datasets.values() if d.default]
    if len(defaults) > 1:
        problems.add(
            str(cdir / "planner.toml"),
            f"{len(defaults)} datasets say default = true ({', '.join(defaults)}); keep one",
        )
    unknown = sorted(set(need.exclude_boroughs) - set(parts["boroughs"]["names"]))
    if unknown:
        problems.add(
            str(cdir / "need.toml"),
            f"exclude_boroughs {unknown} are not borough codes of boroughs.toml",
        )

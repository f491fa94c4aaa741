"""Configuration: frozen dataclasses loaded from ``config/*.toml``.

One validated, immutable :class:`PlannerConfig` is passed explicitly to every stage.
Unknown keys are errors (a typo in a weight must never be ignored silently). A UI
change builds a new object with :func:`dataclasses.replace`; nothing mutates a
shared one.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from planner.errors import ConfigError

__all__ = [
    "CategoryMap",
    "CoordinateChecks",
    "DatasetSpec",
    "JoinSettings",
    "Paths",
    "PlannerConfig",
    "SourceSpec",
    "WardColumns",
    "WardsSpec",
    "default_config_dir",
    "load_config",
]

SourceKind = Literal["police_uk_csv", "police_uk_api", "points_csv", "mps_ward", "mps_dashboard"]
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)


@dataclass(frozen=True)
class Paths:
    data_dir: str = "data"
    cache_dir: str = ".cache/planner"
    out_dir: str = "out"


@dataclass(frozen=True)
class JoinSettings:
    snap_distance_m: float = 250.0


@dataclass(frozen=True)
class CoordinateChecks:
    lon_min: float = -8.75
    lon_max: float = 1.80
    lat_min: float = 49.80
    lat_max: float = 60.90
    max_bad_share: float = 0.5


@dataclass(frozen=True)
class WardColumns:
    """An explicit column mapping for a ward file whose columns are not detected."""

    ward_code: str
    ward_name: str
    borough_code: str | None = None
    borough_name: str | None = None


@dataclass(frozen=True)
class WardsSpec:
    path: str
    layer: str | None = None
    crs: str | None = None  # only used when the file itself has no CRS
    columns: WardColumns | None = None
    boroughs: str | None = None  # borough boundary file, for ward files without a borough column


@dataclass(frozen=True)
class PointColumns:
    """Columns of a generic points CSV: lon/lat (WGS84) or easting/northing (``crs``)."""

    month: str
    category: str
    incident_id: str | None = None
    subcategory: str | None = None
    lon: str | None = None
    lat: str | None = None
    easting: str | None = None
    northing: str | None = None
    crs: str = "EPSG:4326"


@dataclass(frozen=True)
class SourceSpec:
    kind: SourceKind
    path: str
    columns: PointColumns | None = None  # points_csv only


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    wards: WardsSpec
    sources: tuple[SourceSpec, ...]
    default: bool = False


@dataclass(frozen=True)
class CategoryMap:
    """Source names -> the 14 police.uk categories (see config/categories.toml)."""

    csv: Mapping[str, str]
    api: Mapping[str, str]
    mps_minor: Mapping[str, tuple[str, str]]  # "MAJOR | MINOR" -> (category or "", subcategory)
    mps_dashboard: Mapping[str, str]  # "type | subtype" -> measure


@dataclass(frozen=True)
class WardDetection:
    ward_code: tuple[str, ...]
    ward_name: tuple[str, ...]
    borough_code: tuple[str, ...]
    borough_name: tuple[str, ...]
    borough_file_code: tuple[str, ...]
    borough_file_name: tuple[str, ...]


@dataclass(frozen=True)
class PlannerConfig:
    """Everything the planner reads from ``config/``."""

    config_dir: Path
    paths: Paths
    join: JoinSettings
    coordinates: CoordinateChecks
    datasets: Mapping[str, DatasetSpec]
    categories: CategoryMap
    ward_detection: WardDetection
    borough_names: Mapping[str, str]  # E09 code -> name
    borough_aliases: Mapping[str, str]  # other spelling -> ONS name
    extra: Mapping[str, Any] = field(default_factory=dict)  # other config files, by stem

    @property
    def data_dir(self) -> Path:
        return Path(self.paths.data_dir)

    @property
    def cache_dir(self) -> Path:
        return Path(self.paths.cache_dir)

    @property
    def out_dir(self) -> Path:
        return Path(self.paths.out_dir)

    def dataset(self, name: str | None = None) -> DatasetSpec:
        """The dataset called *name*, or the default one.

        Raises
        ------
        ConfigError
            If no dataset has that name.
        """
        if name is None:
            defaults = [d for d in self.datasets.values() if d.default]
            if not defaults:
                return next(iter(self.datasets.values()))
            return defaults[0]
        if name not in self.datasets:
            raise ConfigError(
                f"no dataset called {name!r} in {self.config_dir / 'planner.toml'}; "
                f"known datasets: {', '.join(sorted(self.datasets))}"
            )
        return self.datasets[name]

    def resolve(self, path: str | Path) -> Path:
        """A path from the config, resolved against the data folder unless absolute.

        A glob pattern (``*``, ``?``, ``[...]``) resolves to its last match in name order,
        so ``MPS Ward Level Crime (most recent 24 months)*.csv`` finds the newest dated
        release as well as the undated file ``planner fetch`` writes.
        """
        p = Path(path).expanduser()
        full = p if p.is_absolute() else self.data_dir / p
        if glob.has_magic(str(p)):
            matches = sorted(Path(m) for m in glob.glob(str(full)))
            return matches[-1] if matches else full
        return full

    def with_data_dir(self, data_dir: str | Path) -> PlannerConfig:
        """A copy that reads data from *data_dir* (e.g. ``../shared/data``)."""
        return dataclasses.replace(
            self, paths=dataclasses.replace(self.paths, data_dir=str(data_dir))
        )


def default_config_dir() -> Path:
    """``$PLANNER_CONFIG``, else ``./config``, else the repository's ``config/``."""
    env = os.environ.get("PLANNER_CONFIG")
    if env:
        return Path(env)
    here = Path("config")
    if (here / "planner.toml").is_file():
        return here
    return Path(__file__).resolve().parent.parent / "config"


def load_config(config_dir: str | Path | None = None) -> PlannerConfig:
    """Load and validate every TOML file in *config_dir*.

    Parameters
    ----------
    config_dir
        Folder holding ``planner.toml``, ``categories.toml``, ``wards.toml`` and
        ``boroughs.toml``; default :func:`default_config_dir`.

    Returns
    -------
    PlannerConfig

    Raises
    ------
    ConfigError
        A file is missing or not valid TOML, a key is unknown, or a value has the wrong type.
    """
    cdir = Path(config_dir) if config_dir is not None else default_config_dir()
    main = _read_toml(cdir / "planner.toml")
    cats = _read_toml(cdir / "categories.toml")
    wards = _read_toml(cdir / "wards.toml")
    boroughs = _read_toml(cdir / "boroughs.toml")
    where = str(cdir / "planner.toml")
    _check_keys(main, {"paths", "join", "coordinates", "datasets"}, where)
    extra = {
        p.stem: _read_toml(p)
        for p in sorted(cdir.glob("*.toml"))
        if p.stem not in {"planner", "categories", "wards", "boroughs"}
    }
    return PlannerConfig(
        config_dir=cdir,
        paths=_build(Paths, main.get("paths", {}), f"{where} [paths]"),
        join=_build(JoinSettings, main.get("join", {}), f"{where} [join]"),
        coordinates=_build(CoordinateChecks, main.get("coordinates", {}), f"{where} [coordinates]"),
        datasets=_datasets(main.get("datasets", {}), where),
        categories=_categories(cats, str(cdir / "categories.toml")),
        ward_detection=_ward_detection(wards, str(cdir / "wards.toml")),
        borough_names=dict(boroughs.get("names", {})),
        borough_aliases=dict(boroughs.get("aliases", {})),
        extra=extra,
    )


# --- private helpers ---------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            f"configuration file {path} not found; run from the repository folder, "
            "or set PLANNER_CONFIG to the folder holding planner.toml"
        )
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _check_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Build dataclass *cls* from *data*, rejecting unknown keys and wrong types."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table, found {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(data, set(fields), where)
    missing = [
        n
        for n, f in fields.items()
        if n not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {', '.join(map(repr, missing))}")
    values = {}
    for name, value in data.items():
        default = fields[name].default
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        typed = default is not dataclasses.MISSING and default is not None
        if typed and not isinstance(value, type(default)):
            raise ConfigError(
                f"{where}: {name!r} should be {type(default).__name__}, "
                f"found {value!r} ({type(value).__name__})"
            )
        values[name] = value
    return cls(**values)


def _datasets(raw: Mapping[str, Any], where: str) -> dict[str, DatasetSpec]:
    if not raw:
        raise ConfigError(f"{where}: no [datasets.NAME] table; define at least one dataset")
    out = {}
    for name, d in raw.items():
        w = f"{where} [datasets.{name}]"
        _check_keys(d, {"description", "wards", "sources", "default"}, w)
        if "wards" not in d:
            raise ConfigError(f"{w}: missing the [datasets.{name}.wards] table (path = ...)")
        wards = dict(d["wards"])
        cols = wards.pop("columns", None)
        wspec = _build(WardsSpec, wards, f"{w}.wards")
        if cols is not None:
            wspec = dataclasses.replace(
                wspec, columns=_build(WardColumns, cols, f"{w}.wards.columns")
            )
        sources = []
        for i, s in enumerate(d.get("sources", [])):
            sw = f"{w}.sources[{i}]"
            s = dict(s)
            scols = s.pop("columns", None)
            spec = _build(SourceSpec, s, sw)
            if spec.kind not in SOURCE_KINDS:
                raise ConfigError(
                    f"{sw}: kind {spec.kind!r} is not known; use one of {', '.join(SOURCE_KINDS)}"
                )
            if spec.kind == "points_csv":
                if scols is None:
                    raise ConfigError(f"{sw}: a points_csv source needs a columns table")
                spec = dataclasses.replace(
                    spec, columns=_build(PointColumns, scols, f"{sw}.columns")
                )
            sources.append(spec)
        out[name] = DatasetSpec(
            name=name,
            description=str(d.get("description", "")),
            wards=wspec,
            sources=tuple(sources),
            default=bool(d.get("default", False)),
        )
    return out


def _norm_key(key: str) -> str:
    return " ".join(str(key).split()).casefold()


def _categories(raw: Mapping[str, Any], where: str) -> CategoryMap:
    from planner.schema import CATEGORIES

    _check_keys(raw, {"police_uk", "mps"}, where)
    known = {c.casefold(): c for c in CATEGORIES}

    def target(value: str, key: str, table: str) -> str:
        if value == "":
            return ""
        if value.casefold() not in known:
            raise ConfigError(
                f"{where} [{table}] {key!r}: {value!r} is not one of the 14 police.uk "
                f"categories ({', '.join(CATEGORIES)})"
            )
        return known[value.casefold()]

    pu = raw.get("police_uk", {})
    mps = raw.get("mps", {})
    csv = {_norm_key(k): target(v, k, "police_uk.csv") for k, v in pu.get("csv", {}).items()}
    api = {_norm_key(k): target(v, k, "police_uk.api") for k, v in pu.get("api", {}).items()}
    minor = {}
    for k, v in mps.get("minor", {}).items():
        if not (isinstance(v, list) and len(v) == 2):
            raise ConfigError(f"{where} [mps.minor] {k!r}: expected [category, subcategory]")
        minor[_norm_key(k)] = (target(v[0], k, "mps.minor"), str(v[1]))
    dash = {_norm_key(k): str(v) for k, v in mps.get("dashboard", {}).items()}
    return CategoryMap(csv=csv, api=api, mps_minor=minor, mps_dashboard=dash)


def _ward_detection(raw: Mapping[str, Any], where: str) -> WardDetection:
    _check_keys(raw, {"detect", "detect_borough_file"}, where)
    d, b = raw.get("detect", {}), raw.get("detect_borough_file", {})
    return WardDetection(
        ward_code=tuple(d.get("ward_code", ())),
        ward_name=tuple(d.get("ward_name", ())),
        borough_code=tuple(d.get("borough_code", ())),
        borough_name=tuple(d.get("borough_name", ())),
        borough_file_code=tuple(b.get("borough_code", ())),
        borough_file_name=tuple(b.get("borough_name", ())),
    )


def normalise_name(key: str) -> str:
    """The form category keys are matched in: spaces collapsed, case folded."""
    return _norm_key(key)

"""Configured sources -> the canonical ward_counts table, its rejects and quality report.

:func:`ingest` reads a dataset's ward boundaries and sources, joins point incidents
to wards, checks the ward codes of pre-aggregated files, and writes

- ``ward_counts.parquet`` (ward_code, month, category, subcategory, count),
- ``ward_measures.parquet`` (extra measures such as the Met's high-harm series),
- ``coverage.parquet`` (ward_code, month, source, part -> "data" / "no data": which
  ward-months each source reports on, so that missing data is never read as zero),
- ``rejects.parquet`` (every record set aside, with its reason),
- ``quality.json`` and ``manifest.json``

into a cache entry keyed by the sha256 of every input file and the settings. A
second run on unchanged inputs loads from that entry. :mod:`planner.ingest.cache`
publishes each build atomically and checks every file against the sha256 its
manifest recorded when loading: a damaged entry is rebuilt, with a warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from planner import __version__
from planner import schema as s
from planner.config import DatasetSpec, PlannerConfig, SourceSpec
from planner.errors import DataError, PlannerWarning
from planner.files import sha256_file
from planner.ingest import cache as ingest_cache
from planner.ingest.coverage import SourceCoverage, coverage_table
from planner.ingest.join import join_incidents
from planner.ingest.quality import quality_report
from planner.ingest.selection import check_unknown_names, check_unknown_wards, take
from planner.ingest.sources.archives import archive_limits
from planner.ingest.sources.base import SourceFrame, empty_counts, empty_measures, empty_rejects
from planner.ingest.sources.police_uk_api import ApiReading
from planner.ingest.stream import StreamedPoints, point_counts, point_tally, stream_street_csv

__all__ = ["IngestResult", "ingest", "input_files"]

log = logging.getLogger(__name__)

_PACKAGES = (
    "numpy", "pandas", "pyarrow", "geopandas", "shapely", "pyproj", "pyogrio", "isal", "msgspec",
)  # fmt: skip
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


@dataclass
class IngestResult:
    """What :func:`ingest` produced (or loaded from the cache)."""

    dataset: str
    ward_counts: pd.DataFrame
    measures: pd.DataFrame
    rejects: pd.DataFrame
    quality: dict[str, Any]
    manifest: dict[str, Any]
    cache_dir: Path
    from_cache: bool = False
    wards: gpd.GeoDataFrame | None = field(default=None, repr=False)
    coverage: pd.DataFrame = field(default_factory=lambda: _empty_coverage(), repr=False)
    """Ward x month x source x part -> ``"data"`` / ``"no data"`` (``schema.COVERAGE_COLUMNS``):
    a ward-month with data and no ward_counts row is a true zero; one with no data is missing
    (see :func:`planner.ingest.coverage.ward_month_status`)."""
    notes: list[str] = field(default_factory=list)
    """What a person should know about how this result was got (a damaged cache rebuilt)."""


def ingest(
    config: PlannerConfig,
    dataset: str | None = None,
    *,
    use_cache: bool = True,
    progress: Callable[[str], None] | None = None,
) -> IngestResult:
    """Build (or load) the ward_counts table of a configured dataset.

    Parameters
    ----------
    config
        The planner configuration; ``config.data_dir`` is where the inputs are.
    dataset
        A dataset name from ``config/planner.toml``; default the default dataset.
    use_cache
        Load from the cache when inputs and settings are unchanged.
    progress
        Called with a short label as each step or file is done.

    Returns
    -------
    IngestResult

    Raises
    ------
    DataError
        An input is missing or unusable (the message names the file and the fix); more than
        ``max_unknown_share`` of a source's records carry unknown category names; a Met ward
        file is on another ward vintage than the dataset and does not say so.
    """
    spec = config.dataset(dataset)
    present = _present(config, spec)
    listed = _input_listing(config, spec, hash_files=False)  # a missing input stops here
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        # a build from the start: the API archives decode while the inputs are hashed and the
        # wards read; otherwise once the cache is known to be of no use
        started = {} if use_cache else stack.enter_context(_started(config, present))
        inputs = [(p, sha256_file(p)) for p, _ in listed]
        key = _cache_key(config, spec, inputs)
        entry = config.cache_dir / spec.name / key
        if use_cache:
            cached, note = _from_cache(entry, spec.name)
            if cached is not None:
                return cached
            if note:
                warnings.warn(note, PlannerWarning, stacklevel=2)
                _say(progress, note)
                notes.append(note)
            started = stack.enter_context(_started(config, present))

        from planner.ingest.sources.wards import read_dataset_wards  # geometry when building

        _say(progress, f"wards: {spec.wards.path}")
        ward_file = read_dataset_wards(config, spec.name)
        wards = ward_file.frame
        frames, streamed = _read_sources(config, present, wards, progress, started)
    for frame, src in zip(frames, present, strict=True):
        check_unknown_names(frame, src, config)
    frames = [take(frame, src) for frame, src in zip(frames, present, strict=True)]
    placed = _to_ward_counts(config, spec, frames, present, wards, progress, streamed)
    coverage = coverage_table(
        placed.coverage,
        wards[s.BOROUGH_CODE],
        min_rate_ratio=config.join.coverage_min_rate_ratio,
    )
    quality = quality_report(
        spec.name,
        frames,
        placed.joined,
        placed.rejects,
        placed.counts,
        wards,
        ward_report=ward_file.report,
        placed=placed.placed,
        coverage=coverage,
        absent=_absent(config, spec),
        crosswalks=placed.crosswalks,
        blends=_blends(config),
    )
    manifest = _manifest(config, spec, inputs, key, quality)
    tables = {
        "ward_counts": placed.counts,
        "ward_measures": placed.measures,
        "coverage": coverage,
        "rejects": placed.rejects.astype(
            {c: "string" for c in placed.rejects.columns if c not in (s.COUNT, s.SOURCE_ROW)}
        ),
    }
    version = ingest_cache.publish(entry, tables, {"quality": quality}, manifest)
    return IngestResult(
        spec.name,
        placed.counts,
        placed.measures,
        placed.rejects,
        quality,
        manifest,
        version,
        False,
        wards,
        coverage,
        notes,
    )


def input_files(config: PlannerConfig, spec: DatasetSpec) -> list[Path]:
    """Every file a dataset reads: the ward file (with its shapefile parts) and the sources."""
    return [p for p, _ in _input_listing(config, spec, hash_files=False)]


# --- reading -------------------------------------------------------------------


def _present(config: PlannerConfig, spec: DatasetSpec) -> list[SourceSpec]:
    """The sources to read: all but the optional ones whose path is not there."""
    return [src for src in spec.sources if not src.optional or _exists(config, src)]


def _absent(config: PlannerConfig, spec: DatasetSpec) -> list[dict[str, Any]]:
    """The optional sources that are not in the data folder, with what that means."""
    out = []
    for src in spec.sources:
        if src.optional and not _exists(config, src):
            takes = ", ".join(src.categories) if src.categories else "its records"
            out.append(
                {
                    "path": src.path,
                    "kind": src.kind,
                    "categories": list(src.categories or ()),
                    "note": (
                        f"optional source {src.path} ({src.kind}, for {takes}) is not in the "
                        f"data folder {config.data_dir}, so it is not used; `planner fetch "
                        "--only police_uk_archive_latest` downloads the police.uk street CSVs "
                        "(see config/sources.toml for the size)"
                    ),
                }
            )
    return out


def _exists(config: PlannerConfig, src: SourceSpec) -> bool:
    path = config.resolve(src.path)
    return path.is_file() or (path.is_dir() and any(p.is_file() for p in path.rglob("*")))


@contextlib.contextmanager
def _started(config: PlannerConfig, sources: list[SourceSpec]) -> Iterator[dict[int, ApiReading]]:
    """The API sources' readings (by position), their pools of decoders started; stopped on
    leaving (after an error, the archives not yet started are not read)."""
    started: dict[int, ApiReading] = {}
    try:
        for i, src in enumerate(sources):
            if src.kind == "police_uk_api":
                limits = archive_limits(config.limits)
                started[i] = ApiReading(config.resolve(src.path), limits=limits)
        yield started
    finally:
        for reading in started.values():
            reading.close()


def _read_sources(
    config: PlannerConfig,
    sources: list[SourceSpec],
    wards: gpd.GeoDataFrame,
    progress: Callable[[str], None] | None,
    started: dict[int, ApiReading],
) -> tuple[list[SourceFrame], dict[int, StreamedPoints]]:
    """Every source read; street CSVs streamed month by month into counts (*streamed*, by
    position); *started*: the API sources' readings, their archives being decoded."""
    from planner.ingest.sources import dashboard, mps, police_uk

    frames: list[SourceFrame] = []
    streamed: dict[int, StreamedPoints] = {}
    for i, src in enumerate(sources):
        path = config.resolve(src.path)
        _say(progress, f"{src.kind}: {src.path}")
        kw: dict[str, Any] = {"categories": config.categories}
        if src.kind in ("police_uk_csv", "police_uk_api", "points_csv"):
            kw |= {"checks": config.coordinates, "progress": progress}
        if src.kind == "police_uk_csv":
            snap = config.join.snap_distance_m
            streamed[i] = stream_street_csv(path, src, wards, snap_distance_m=snap, **kw)
            frame = streamed[i].frame
        elif src.kind == "police_uk_api":
            frame = started[i].read(**kw, text_ids=False)  # ids are only counted
        elif src.kind == "points_csv":
            frame = police_uk.read_points_csv(path, columns=src.columns, **kw)
        elif src.kind == "mps_ward":
            frame = mps.read_mps_ward(path, **kw)
        else:
            frame = dashboard.read_mps_dashboard(path, **kw)
        frame.path = src.path
        frames.append(frame)
    ward_frames = [f for f in frames if f.kind == "mps_ward"]
    if len(ward_frames) > 1:
        combined = iter(mps.combine_mps_ward(ward_frames))
        frames = [next(combined) if f.kind == "mps_ward" else f for f in frames]
    return frames, streamed


# --- to ward counts -----------------------------------------------------------------


@dataclass
class _Placed:
    """What the sources gave once placed in the dataset's wards."""

    counts: pd.DataFrame
    measures: pd.DataFrame
    rejects: pd.DataFrame
    joined: dict[str, pd.DataFrame]  # point sources: how their records were placed (a tally)
    placed: dict[str, pd.DataFrame]  # every source: its counted rows in the dataset's wards
    coverage: list[SourceCoverage]
    crosswalks: dict[str, dict[str, Any]]  # re-based sources: the crosswalk's report


def _to_ward_counts(
    config: PlannerConfig,
    spec: DatasetSpec,
    frames: list[SourceFrame],
    sources: list[SourceSpec],
    wards: gpd.GeoDataFrame,
    progress: Callable[[str], None] | None,
    streamed: dict[int, StreamedPoints],
) -> _Placed:
    """Join points, re-base or check ward codes; counts, measures, rejects and what was placed.

    Streamed sources (*streamed*, by position) come already joined and counted.
    """
    counts, measures, rejects = [empty_counts()], [empty_measures()], []
    joined: dict[str, pd.DataFrame] = {}
    placed: dict[str, pd.DataFrame] = {}
    crosswalks: dict[str, dict[str, Any]] = {}
    cover: list[SourceCoverage] = []
    known = wards.index
    for i, (frame, src) in enumerate(zip(frames, sources, strict=True)):
        rejects.append(frame.rejects.assign(**{s.ORIGIN: frame.path}))
        mine: list[pd.DataFrame] = []
        area_wards: dict[str, list[str]] = {}
        reports: set[str] = set()
        if len(frame.incidents):
            _say(progress, f"join: {frame.path}")
            result = join_incidents(
                frame.incidents,
                wards,
                snap_distance_m=config.join.snap_distance_m,
                distinct=frame.points,
            )
            joined[frame.path] = point_tally(result.incidents)
            rejects.append(result.rejects.assign(**{s.ORIGIN: frame.path}))
            points = point_counts(result.incidents)
            del result
            counts.append(points)
            mine.append(points)
        elif i in streamed:
            done = streamed[i]
            joined[frame.path] = done.joined
            rejects.append(done.join_rejects.assign(**{s.ORIGIN: frame.path}))
            counts.append(done.counts)
            mine.append(done.counts)
        if src.boundaries and frame.empty_files:
            area_wards = _empty_area_wards(config, src, frame, wards)
        for name in ("counts", "measures"):
            table = getattr(frame, name)
            if table.empty:
                continue
            if src.boundaries and name == "counts":
                _say(progress, f"crosswalk: {frame.path} ({src.boundaries})")
                table, unplaced, report = _rebase(config, src, table, wards)
                crosswalks[frame.path] = report
            else:
                ok = table[s.WARD_CODE].isin(known).to_numpy()
                table, unplaced = table.loc[ok], table.loc[~ok]
            if not unplaced.empty:
                if name == "counts":
                    where = config.resolve(spec.wards.path)
                    check_unknown_wards(frame, src, unplaced, config, where)
                rejects.append(_unknown_wards(unplaced, frame.path))
            (counts if name == "counts" else measures).append(table)
            mine.append(table)
            reports |= set(table[s.WARD_CODE].drop_duplicates().astype(str))
        placed[frame.path] = pd.concat(mine, ignore_index=True) if mine else empty_counts()
        cover.append(_source_coverage(frame, src, placed[frame.path], reports, area_wards))
    all_counts = _sum_counts(pd.concat(counts, ignore_index=True), s.WARD_COUNTS_COLUMNS)
    all_measures = _sum_counts(pd.concat(measures, ignore_index=True), s.WARD_MEASURES_COLUMNS)
    all_rejects = pd.concat([empty_rejects().assign(**{s.ORIGIN: ""}), *rejects], ignore_index=True)
    return _Placed(all_counts, all_measures, all_rejects, joined, placed, cover, crosswalks)


def _rebase(
    config: PlannerConfig, src: SourceSpec, table: pd.DataFrame, wards: gpd.GeoDataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Re-base a ward-coded table of another vintage onto the dataset's wards."""
    from planner.ingest.crosswalk import build_crosswalk, movement, read_layers, rebase
    from planner.ingest.sources.wards import read_wards

    source_wards = read_wards(config.resolve(src.boundaries or ""), config=config).frame
    cw = config.join.crosswalk
    layers = read_layers(config, wards.index) if cw.method != "area" else None
    categories = sorted(set(table[s.CATEGORY].astype(str)))
    crosswalk = build_crosswalk(
        source_wards, wards, layers, cw, categories=categories, source=str(src.boundaries),
        target="the dataset's wards",
    )  # fmt: skip
    rebased, unplaced = rebase(table, crosswalk)
    placed_in = table[table[s.WARD_CODE].astype(str).isin(set(source_wards.index))]
    report = crosswalk.report | movement(placed_in, rebased, crosswalk, cw.error_per_moved_share)
    report["records_unplaced"] = int(unplaced[s.COUNT].sum()) if len(unplaced) else 0
    return rebased, unplaced, report


def _empty_area_wards(
    config: PlannerConfig, src: SourceSpec, frame: SourceFrame, wards: gpd.GeoDataFrame
) -> dict[str, list[str]]:
    """Empty answers' ward codes of another vintage -> the dataset's wards mostly inside them."""
    from planner.ingest.sources.wards import read_wards

    areas = {e.area for e in frame.empty_files if e.area and e.area not in wards.index}
    if not areas:
        return {}
    source_wards = read_wards(config.resolve(src.boundaries or ""), config=config).frame
    out = {}
    for area in sorted(areas & set(source_wards.index)):
        shape = source_wards.geometry.loc[area]
        overlap = wards.geometry.intersection(shape).area / wards.geometry.area
        out[area] = sorted(overlap.index[overlap >= 0.5].astype(str))
    return out


def _source_coverage(
    frame: SourceFrame,
    src: SourceSpec,
    placed: pd.DataFrame,
    reports: set[str],
    area_wards: dict[str, list[str]],
) -> SourceCoverage:
    if frame.kind == "mps_dashboard":
        parts: tuple[str, ...] = (s.PART_MEASURES,)
    else:  # what the source takes and has records of (a burglary-only extract has no ASB)
        has = set(placed[s.CATEGORY].drop_duplicates().astype(str)) if len(placed) else set()
        parts = tuple(
            p
            for p, cats in ((s.PART_CRIME, s.CRIME_CATEGORIES), (s.PART_ASB, (s.ASB,)))
            if any(src.takes(c) and c in has for c in cats)
        )
    months = sorted(m for m in frame.read_by_month.index.astype(str) if m != "unknown")
    months += [e.month for e in frame.empty_files if e.month]
    if months:
        first, last = min(months), max(months)
        if src.months is not None:
            first, last = max(first, src.months[0]), min(last, src.months[1])
        months = (
            [] if first > last else list(pd.period_range(first, last, freq="M").strftime("%Y-%m"))
        )
    cols = [s.WARD_CODE, s.MONTH, s.COUNT]
    return SourceCoverage(
        source=frame.path,
        parts=parts,
        months=months,
        placed=placed[cols] if len(placed) else pd.DataFrame(columns=cols),
        ward_coded=frame.kind in ("mps_ward", "mps_dashboard"),
        wards=reports,
        empty=list(frame.empty_files),
        area_wards=area_wards,
    )


def _blends(config: PlannerConfig) -> dict[str, float]:
    """The merged violence-without-injury weight of each harm index (for the report)."""
    key = ("Violence and sexual offences", s.SUB_VIOLENCE_WITHOUT_INJURY_MERGED)
    return {
        name: index.subcategories[key]
        for name, index in config.harm.indices.items()
        if key in index.subcategories
    }


def _sum_counts(table: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    keys = list(columns[:-1])
    out = table.astype({k: "string" for k in keys}).groupby(keys, observed=True)[s.COUNT].sum()
    out = out[out > 0].reset_index().sort_values(keys, ignore_index=True)
    out[s.COUNT] = out[s.COUNT].astype("int64")
    for k in keys:
        out[k] = out[k].astype("category")
    return out


def _unknown_wards(table: pd.DataFrame, origin: str) -> pd.DataFrame:
    label = s.CATEGORY if s.CATEGORY in table else s.MEASURE
    return pd.DataFrame(
        {
            s.SOURCE: origin,
            s.SOURCE_ROW: 0,
            s.INCIDENT_ID: pd.NA,
            s.MONTH: table[s.MONTH].astype("string").to_numpy(),
            s.CATEGORY: table[label].astype("string").to_numpy(),
            s.REASON: s.REASON_UNKNOWN_WARD,
            s.DETAIL: "ward code "
            + table[s.WARD_CODE].astype("string").to_numpy()
            + " is not in the ward boundary file (another ward vintage?)",
            s.COUNT: table[s.COUNT].to_numpy(),
            s.ORIGIN: origin,
        }
    )


def _empty_coverage() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="category") for c in s.COVERAGE_COLUMNS})


# --- cache ------------------------------------------------------------------------


def _input_listing(
    config: PlannerConfig, spec: DatasetSpec, *, hash_files: bool = True
) -> list[tuple[Path, str]]:
    paths = _ward_files(config.resolve(spec.wards.path))
    if spec.wards.boroughs:
        paths += _ward_files(config.resolve(spec.wards.boroughs))
    for src in _present(config, spec):
        paths += _source_files(config.resolve(src.path), src)
        if src.boundaries:
            paths += _ward_files(config.resolve(src.boundaries))
    if any(src.boundaries and src.kind == "mps_ward" for src in spec.sources):
        cw = config.join.crosswalk
        layers = [config.resolve(p) for p in (cw.lsoa_crime, cw.target_ward_crime)]
        layers.append(config.resolve(config.population.lookup.population))
        paths += [p for p in layers if p.is_file()]  # a missing layer is a fallback, not an error
        lsoas = config.resolve(cw.lsoa_boundaries)
        paths += _ward_files(lsoas) if lsoas.is_file() else []
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            f"dataset {spec.name!r}: input not found: {missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f". Get the data with `planner fetch` (or `planner fetch --from DIR`), "
            f"or point --data at a folder laid out like ../shared/data (now: {config.data_dir})"
        )
    return [(p, sha256_file(p) if hash_files else "") for p in paths]


def _ward_files(path: Path) -> list[Path]:
    if path.suffix.lower() == ".shp":
        return [p for ext in _SHAPEFILE_PARTS if (p := path.with_suffix(ext)).exists()] or [path]
    return [path]


def _source_files(path: Path, src: SourceSpec) -> list[Path]:
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"{path}: the folder of source {src.kind!r} is empty")
    return files


def _settings(config: PlannerConfig, spec: DatasetSpec) -> dict[str, Any]:
    return {
        "dataset": dataclasses.asdict(spec),
        "join": dataclasses.asdict(config.join),
        "coordinates": dataclasses.asdict(config.coordinates),
        "categories": dataclasses.asdict(config.categories),
        "ward_detection": dataclasses.asdict(config.ward_detection),
        "borough_names": dict(config.borough_names),
        "borough_aliases": dict(config.borough_aliases),
    }


def _cache_key(config: PlannerConfig, spec: DatasetSpec, inputs: list[tuple[Path, str]]) -> str:
    payload = {
        "version": __version__,
        "settings": _settings(config, spec),
        "inputs": sorted(sha for _, sha in inputs),
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _manifest(
    config: PlannerConfig,
    spec: DatasetSpec,
    inputs: list[tuple[Path, str]],
    key: str,
    quality: dict[str, Any],
) -> dict[str, Any]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "planner_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dataset": spec.name,
        "cache_key": key,
        "data_dir": str(config.data_dir),
        "inputs": [{"path": str(p), "bytes": p.stat().st_size, "sha256": sha} for p, sha in inputs],
        "rows": quality["totals"],
        "settings": _settings(config, spec),
        "packages": versions,
    }


def _from_cache(entry: Path, name: str) -> tuple[IngestResult | None, str]:
    """The checked cache entry, or (None, why it cannot be used; "" if there is none)."""
    try:
        found = ingest_cache.load(entry)
    except ingest_cache.CacheUnusable as exc:
        log.warning("ingest cache %s cannot be used: %s", entry, exc)
        return None, (
            f"the ingest cache of dataset {name!r} (entry {entry.name}) cannot be used: {exc}. "
            "It is rebuilt from the input files; if this happens again, check the disk that "
            "holds paths.cache_dir (config/planner.toml) or delete that entry"
        )
    if found is None:
        return None, ""
    log.info("loading %s from the cache %s", name, found.version)
    result = IngestResult(
        dataset=name,
        ward_counts=found.tables["ward_counts"],
        measures=found.tables["ward_measures"],
        rejects=found.tables["rejects"],
        quality=found.documents["quality"],
        manifest=found.manifest,
        cache_dir=found.version,
        from_cache=True,
        coverage=found.tables["coverage"],
    )
    return result, ""


def _say(progress: Callable[[str], None] | None, label: str) -> None:
    log.info(label)
    if progress:
        progress(label)

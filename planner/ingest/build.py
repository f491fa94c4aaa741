"""Configured sources -> the canonical ward_counts table, its rejects and quality report.

:func:`ingest` reads a dataset's ward boundaries and sources, joins point incidents
to wards, checks the ward codes of pre-aggregated files, and writes

- ``ward_counts.parquet`` (ward_code, month, category, subcategory, count),
- ``ward_measures.parquet`` (extra measures such as the Met's high-harm series),
- ``rejects.parquet`` (every record set aside, with its reason),
- ``quality.json`` and ``manifest.json``

into a cache folder keyed by the sha256 of every input file and the settings. A
second run on unchanged inputs loads from that folder. The folder is written
under a temporary name and renamed when complete: nothing is half-written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from planner import __version__
from planner import schema as s
from planner.config import DatasetSpec, PlannerConfig, SourceSpec
from planner.errors import DataError
from planner.files import sha256_file
from planner.ingest.join import join_incidents
from planner.ingest.quality import quality_report
from planner.ingest.sources.base import SourceFrame, empty_counts, empty_measures, empty_rejects

__all__ = ["IngestResult", "ingest", "input_files"]

log = logging.getLogger(__name__)

_PACKAGES = ("numpy", "pandas", "pyarrow", "duckdb", "geopandas", "shapely", "pyproj", "pyogrio")
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
        An input is missing or unusable (the message names the file and the fix).
    """
    spec = config.dataset(dataset)
    inputs = _input_listing(config, spec)
    key = _cache_key(config, spec, inputs)
    cache = config.cache_dir / spec.name / key
    if use_cache and (cache / "manifest.json").is_file():
        log.info("loading %s from the cache %s", spec.name, cache)
        return _load(cache, spec.name)

    from planner.ingest.sources.wards import read_dataset_wards  # geometry only when building

    _say(progress, f"wards: {spec.wards.path}")
    ward_file = read_dataset_wards(config, spec.name)
    wards = ward_file.frame
    frames = _read_sources(config, spec, progress)
    counts, measures, rejects, joined = _to_ward_counts(config, frames, wards, progress)
    quality = quality_report(
        spec.name, frames, joined, rejects, counts, wards, ward_report=ward_file.report
    )
    manifest = _manifest(config, spec, inputs, key, quality)
    _write(cache, counts, measures, rejects, quality, manifest)
    return IngestResult(
        spec.name, counts, measures, rejects, quality, manifest, cache, False, wards
    )


def input_files(config: PlannerConfig, spec: DatasetSpec) -> list[Path]:
    """Every file a dataset reads: the ward file (with its shapefile parts) and the sources."""
    return [p for p, _ in _input_listing(config, spec, hash_files=False)]


# --- reading -------------------------------------------------------------------


def _read_sources(
    config: PlannerConfig, spec: DatasetSpec, progress: Callable[[str], None] | None
) -> list[SourceFrame]:
    from planner.ingest.sources import dashboard, mps, police_uk, police_uk_api

    frames: list[SourceFrame] = []
    for src in spec.sources:
        path = config.resolve(src.path)
        _say(progress, f"{src.kind}: {src.path}")
        kw: dict[str, Any] = {"categories": config.categories}
        if src.kind in ("police_uk_csv", "police_uk_api", "points_csv"):
            kw |= {"checks": config.coordinates, "progress": progress}
        if src.kind == "police_uk_csv":
            frame = police_uk.read_street_csv(path, **kw)
        elif src.kind == "police_uk_api":
            frame = police_uk_api.read_api_json(path, **kw)
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
    return frames


def _to_ward_counts(
    config: PlannerConfig,
    frames: list[SourceFrame],
    wards: gpd.GeoDataFrame,
    progress: Callable[[str], None] | None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Join points, check ward codes; return counts, measures, rejects and joined points."""
    counts, measures, rejects = [empty_counts()], [empty_measures()], []
    joined: dict[str, pd.DataFrame] = {}
    known = wards.index
    for frame in frames:
        rejects.append(frame.rejects.assign(**{s.ORIGIN: frame.path}))
        if len(frame.incidents):
            _say(progress, f"join: {frame.path}")
            result = join_incidents(
                frame.incidents, wards, snap_distance_m=config.join.snap_distance_m
            )
            joined[frame.path] = result.incidents
            rejects.append(result.rejects.assign(**{s.ORIGIN: frame.path}))
            counts.append(_aggregate_points(result.incidents))
        for table, target in ((frame.counts, counts), (frame.measures, measures)):
            if table.empty:
                continue
            ok = table[s.WARD_CODE].isin(known).to_numpy()
            target.append(table.loc[ok])
            if not ok.all():
                rejects.append(_unknown_wards(table.loc[~ok], frame.path))
    all_counts = _sum_counts(pd.concat(counts, ignore_index=True), s.WARD_COUNTS_COLUMNS)
    all_measures = _sum_counts(pd.concat(measures, ignore_index=True), s.WARD_MEASURES_COLUMNS)
    all_rejects = pd.concat([empty_rejects().assign(**{s.ORIGIN: ""}), *rejects], ignore_index=True)
    return all_counts, all_measures, all_rejects, joined


def _aggregate_points(incidents: pd.DataFrame) -> pd.DataFrame:
    keys = [s.WARD_CODE, s.MONTH, s.CATEGORY, s.SUBCATEGORY]
    return incidents.groupby(keys, observed=True).size().rename(s.COUNT).reset_index()


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


# --- cache ------------------------------------------------------------------------


def _input_listing(
    config: PlannerConfig, spec: DatasetSpec, *, hash_files: bool = True
) -> list[tuple[Path, str]]:
    paths = _ward_files(config.resolve(spec.wards.path))
    if spec.wards.boroughs:
        paths += _ward_files(config.resolve(spec.wards.boroughs))
    for src in spec.sources:
        paths += _source_files(config.resolve(src.path), src)
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


def _write(
    cache: Path,
    counts: pd.DataFrame,
    measures: pd.DataFrame,
    rejects: pd.DataFrame,
    quality: dict[str, Any],
    manifest: dict[str, Any],
) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=cache.parent))
    try:
        counts.to_parquet(tmp / "ward_counts.parquet", index=False)
        measures.to_parquet(tmp / "ward_measures.parquet", index=False)
        rejects.astype(
            {c: "string" for c in rejects.columns if c != s.COUNT and c != s.SOURCE_ROW}
        ).to_parquet(tmp / "rejects.parquet", index=False)
        (tmp / "quality.json").write_text(json.dumps(quality, indent=1, default=str))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
        if cache.exists():
            shutil.rmtree(cache)
        os.replace(tmp, cache)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load(cache: Path, name: str) -> IngestResult:
    return IngestResult(
        dataset=name,
        ward_counts=pd.read_parquet(cache / "ward_counts.parquet"),
        measures=pd.read_parquet(cache / "ward_measures.parquet"),
        rejects=pd.read_parquet(cache / "rejects.parquet"),
        quality=json.loads((cache / "quality.json").read_text()),
        manifest=json.loads((cache / "manifest.json").read_text()),
        cache_dir=cache,
        from_cache=True,
    )


def _say(progress: Callable[[str], None] | None, label: str) -> None:
    log.info(label)
    if progress:
        progress(label)

"""Files out: need tables, allocation tables and scenario comparisons, each with its manifest.

Every file is written atomically (:func:`planner.files.atomic_path`): a failure leaves the
previous file, or none, never half a file. A set of files (an allocation in four formats and
its manifest, the need tables) is written into a private folder inside the output folder and
moved into place together only when every file is complete: a full disk or a read-only folder
leaves the previous set as it was, and is an :class:`ExportError` naming the path and the fix.
Text cells a spreadsheet would run as a formula are neutralised in CSV and Excel
(:func:`planner.outputs.safe.neutralise`), and file names made from user text cannot leave
the output folder (:func:`planner.outputs.safe.safe_filename`).
The ward and borough tables are those of :func:`planner.plan.allocation.ward_table`, the same
tables the app shows and the borough pack prints.

Every file says which scenario it holds: the name (:func:`scenario_stem`: dataset, window,
harm index, method, pool, floor, cap, weights and the scenario id), and inside it the CSV's
zip a ``<stem>_manifest.json`` and ``<stem>_scenario.txt`` beside the CSVs (which stay plain
tables for pandas and Excel), the GeoJSON a top-level ``metadata`` member, the GeoPackage its
layer metadata, the Excel workbook its first sheet, *Scenario*.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import __version__
from planner import schema as s
from planner.errors import ConfigError, DataError, PlannerError
from planner.files import atomic_path, sha256_file
from planner.outputs import present
from planner.outputs.excel import allocation_book, new_book, save_book, table_sheet
from planner.outputs.safe import inside, neutralise, safe_filename
from planner.plan.allocation import borough_table, ward_table
from planner.results import RunManifest, jsonable

if TYPE_CHECKING:
    from planner.config import HarmIndex
    from planner.model.need import NeedResult
    from planner.plan.allocation import AllocationResult

__all__ = [
    "FORMATS",
    "ExportError",
    "file_set",
    "scenario_id",
    "scenario_stem",
    "write_allocation",
    "write_csv",
    "write_json",
    "write_need_tables",
    "write_scenario_diff",
]

FORMATS = ("csv", "xlsx", "geojson", "gpkg", "zip")
"""``zip``: the two CSVs with the manifest and the scenario in words, as one file."""
GPKG_LAYER = "allocation"
_STAGING = ".planner-export-"


class ExportError(PlannerError, OSError):
    """Files out could not be written (a full disk, a read-only folder); the message names the
    path and the fix. Nothing of the file, or of the set of files, was written."""


def write_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = True) -> Path:
    """Write *frame* as UTF-8 CSV via a temporary file, formula-like text neutralised.

    Returns the path.

    Raises
    ------
    ExportError
        The file cannot be written (disk full, read-only folder); the previous one is kept.
    """
    with _reported(Path(path).parent, f"writing {Path(path).name}"), atomic_path(path) as tmp:
        neutralise(frame).to_csv(tmp, index=index, encoding="utf-8", float_format="%.6g")
    return Path(path)


def write_json(data: Any, path: str | Path) -> Path:
    """Write *data* as indented JSON via a temporary file; returns the path.

    Raises
    ------
    ExportError
        As :func:`write_csv`.
    """
    with _reported(Path(path).parent, f"writing {Path(path).name}"), atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    return Path(path)


def write_need_tables(result: NeedResult, manifest: RunManifest, out_dir: str | Path) -> list[Path]:
    """Write need scores as CSV tables with the run's manifest.

    Files: ``scores.csv`` (score, ranks, contributions per component), ``components.csv``
    (raw component values), ``features.csv`` (every feature under the chosen harm index),
    ``sensitivity.csv`` (per-ward rank ranges), ``backtest.csv`` (forecast vs baselines,
    when run) and ``manifest.json`` (:class:`~planner.results.RunManifest` with the
    sensitivity summary and the files written).
    """
    out = Path(out_dir)
    inputs = result.inputs
    with file_set(out, "writing the need tables") as stage:
        written = [
            write_csv(result.scores.sort_values("rank_london"), stage / "scores.csv"),
            write_csv(result.components, stage / "components.csv"),
            write_csv(inputs.features[result.settings.harm_index], stage / "features.csv"),
        ]
        if result.sensitivity is not None:
            written.append(write_csv(result.sensitivity, stage / "sensitivity.csv"))
        if inputs.backtest is not None:
            written.append(write_csv(inputs.backtest, stage / "backtest.csv", index=False))
        info = {**manifest.to_dict(), "sensitivity": jsonable(result.sensitivity_summary)}
        info["files"] = [p.name for p in written]
        written.append(write_json(info, stage / "manifest.json"))
    return [out / p.name for p in written]


def write_allocation(
    result: AllocationResult,
    wards: gpd.GeoDataFrame,
    out_dir: str | Path,
    *,
    manifest: RunManifest | Mapping[str, Any],
    scores: pd.DataFrame | None = None,
    current: pd.DataFrame | None = None,
    formats: Iterable[str] = ("csv", "xlsx", "geojson", "gpkg"),
    stem: str = "allocation",
    harm: HarmIndex | None = None,
) -> list[Path]:
    """Write an allocation as CSV, Excel, GeoJSON and/or GeoPackage, with its manifest.

    The ward table is ``result.wards`` with ``ward_name`` and ``borough_name`` from *wards*,
    when *scores* is given ``need_score``, ``rank_london`` and ``rank_borough``, and when
    *current* is given the current team and the change
    (:func:`planner.plan.allocation.ward_table`).

    Files (``<stem>`` passed through :func:`safe_filename`):

    - ``<stem>.csv`` (wards) and ``<stem>_boroughs.csv``, UTF-8;
    - ``<stem>.xlsx``: *Scenario* (the settings in words, the worst-served ward and borough
      named), *London* (boroughs, then the equity measures), one sheet per borough with its
      wards, *Methodology* (settings, harm index, weights, data checksums and how the
      numbers are made) and *Manifest* (the manifest as key/value rows);
      :mod:`planner.outputs.excel`;
    - ``<stem>.geojson`` in EPSG:4326 (the scenario in a top-level ``metadata`` member) and
      ``<stem>.gpkg`` (layer ``allocation``, the scenario in its metadata) in EPSG:27700,
      with the full geometry;
    - ``<stem>.zip``: ``<stem>.csv``, ``<stem>_boroughs.csv``, ``<stem>_manifest.json`` and
      ``<stem>_scenario.txt`` (the scenario in words), one file to download or mail;
    - ``<stem>_manifest.json``, written last: the manifest, the allocation settings and
      equity, the planner version, the time of writing and the sha256 of every file.

    Parameters
    ----------
    result
        From :func:`planner.plan.allocation.allocate_wards`.
    wards
        Ward boundaries indexed by ``ward_code`` (or with that column), with ``ward_name``,
        ``borough_name`` and a CRS.
    out_dir
        Output folder, created if missing.
    manifest
        The run's :class:`~planner.results.RunManifest` (a mapping of the same shape, or of
        some of its keys, is accepted: missing ones read "not recorded").
    scores
        Need scores indexed by ``ward_code``; wards without a score get empty cells.
    current
        Each ward's team now (``dwo``, ``pcso``) indexed by ``ward_code``.
    formats
        Any of :data:`FORMATS` (default all but ``zip``).
    stem
        The file names' common start (:func:`scenario_stem` names the scenario).
    harm
        The harm index scored on, to name it in words (default: its key from *manifest*).

    Returns
    -------
    list of Path
        The files written, the manifest last.

    Raises
    ------
    ConfigError
        An unknown format.
    DataError
        Wards without a boundary, name columns or CRS, or a file name leading outside
        *out_dir*.
    ExportError
        A file cannot be written (disk full, read-only folder): none of the set was, and the
        previous files of *out_dir* are as they were.
    """
    chosen = _check_formats(formats)
    out, base = Path(out_dir), safe_filename(stem, default="allocation")
    wards = _ward_frame(wards)
    table = ward_table(result, wards, scores, current)
    boroughs = borough_table(result, wards)
    info = _export_manifest(manifest, allocation=result)
    facts = present.scenario_facts(
        info, result.settings, result.pool, harm=harm, key=info.get("scenario_id")
    )
    with _reported(out, "creating the output folder"):
        out.mkdir(parents=True, exist_ok=True)
    # every target is checked before anything is written
    names = {fmt: inside(out, f"{base}.{fmt}").name for fmt in chosen}
    borough_csv = inside(out, f"{base}_boroughs.csv").name
    manifest_json = inside(out, f"{base}_manifest.json").name
    written: list[Path] = []
    with file_set(out, f"writing the allocation files ({base}.*)") as stage:
        for fmt in chosen:
            if fmt == "csv":
                written += [
                    write_csv(table, stage / names[fmt]),
                    write_csv(boroughs, stage / borough_csv),
                ]
            elif fmt == "xlsx":
                book = allocation_book(result, table, boroughs, info, scenario=facts)
                written.append(save_book(book, stage / names[fmt]))
            elif fmt == "zip":
                written.append(_write_zip(table, boroughs, info, facts, stage / names[fmt]))
            else:
                geo = gpd.GeoDataFrame(table, geometry=wards.geometry.loc[table.index])
                written.append(_write_geo(geo, stage / names[fmt], _metadata(info, facts)))
        written.append(_write_manifest(info, written, stage / manifest_json))
    return [out / p.name for p in written]


def write_scenario_diff(
    diff_wards: pd.DataFrame,
    diff_boroughs: pd.DataFrame,
    out_dir: str | Path,
    *,
    manifest: Mapping[str, Any],
    stem: str = "scenario",
) -> list[Path]:
    """Write a scenario comparison as CSV and Excel, with its manifest.

    Files: ``<stem>_wards.csv``, ``<stem>_boroughs.csv``, ``<stem>.xlsx`` (sheets *Wards*
    and *Boroughs*) and ``<stem>_manifest.json`` (the manifest, planner version, time of
    writing and the sha256 of every file), written last.

    Parameters
    ----------
    diff_wards, diff_boroughs
        The ward and borough comparison tables; a named index is written as a column.
    out_dir
        Output folder, created if missing.
    manifest
        Both scenarios' settings and data checksums.
    stem
        The file names' common start, passed through :func:`safe_filename`.

    Returns
    -------
    list of Path

    Raises
    ------
    DataError
        A file name leading outside *out_dir*.
    """
    out, base = Path(out_dir), safe_filename(stem, default="scenario")
    with _reported(out, "creating the output folder"):
        out.mkdir(parents=True, exist_ok=True)
    names = [f"{base}_wards.csv", f"{base}_boroughs.csv", f"{base}.xlsx", f"{base}_manifest.json"]
    targets = [inside(out, name).name for name in names]
    written, book = [], new_book()
    with file_set(out, f"writing the comparison files ({base}*)") as stage:
        for i, (label, frame) in enumerate((("Wards", diff_wards), ("Boroughs", diff_boroughs))):
            index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
            written.append(write_csv(frame, stage / targets[i], index=index))
            table_sheet(book, label, frame, index=index)
        book.remove(book.worksheets[0])
        written.append(save_book(book, stage / targets[2]))
        info = _export_manifest(manifest)
        written.append(_write_manifest(info, written, stage / targets[3]))
    return [out / p.name for p in written]


@dataclasses.dataclass
class _Stage:
    """The private folder a set of files is written into; ``stage / name`` is a file of it,
    and the last one named is the one a failure without a file name is reported for."""

    folder: Path
    last: str | None = None

    def __truediv__(self, name: str) -> Path:
        self.last = name
        return self.folder / name


@contextlib.contextmanager
def file_set(out: Path, what: str) -> Iterator[_Stage]:
    """A private staging folder inside *out*; its files replace *out*'s as a set on success.

    Write each file of the set to ``stage / name``; when the block ends every file is moved
    into *out* (a name with "manifest" last), all of them or none. On any failure the
    staging folder is removed and *out* is left as it was.

    Raises
    ------
    ExportError
        An :class:`OSError` inside the block or while moving the files into place, naming the
        file (*what* says which set) and the fix.
    """
    with _reported(out, what):
        out.mkdir(parents=True, exist_ok=True)
        stage = _Stage(Path(tempfile.mkdtemp(prefix=_STAGING, dir=out)))
    try:
        with _reported(out, what, stage=stage):
            yield stage
            _publish(stage.folder, out)
    finally:
        shutil.rmtree(stage.folder, ignore_errors=True)


def _publish(stage: Path, out: Path) -> None:
    """Move every file of *stage* into *out* (the manifest last); all of them, or none."""
    names = sorted(
        (p.name for p in stage.iterdir() if p.is_file()), key=lambda n: ("manifest" in n, n)
    )
    previous = stage / ".previous"
    previous.mkdir()
    kept: list[str] = []
    placed: list[str] = []
    try:
        for name in names:
            target = out / name
            if target.exists() or target.is_symlink():
                os.replace(target, previous / name)
                kept.append(name)
            os.replace(stage / name, target)
            placed.append(name)
    except OSError:
        for name in placed:
            (out / name).unlink(missing_ok=True)
        for name in kept:
            os.replace(previous / name, out / name)
        raise


@contextlib.contextmanager
def _reported(out: Path, what: str, *, stage: _Stage | None = None) -> Iterator[None]:
    """Turn an :class:`OSError` into an :class:`ExportError` naming the path and the fix."""
    try:
        yield
    except OSError as exc:
        cause = exc.__cause__ if isinstance(exc, ExportError) else exc
        if not isinstance(cause, OSError):
            raise
        raise _export_error(cause, out, what, stage) from cause


def _export_error(exc: OSError, out: Path, what: str, stage: _Stage | None) -> ExportError:
    path = Path(exc.filename) if exc.filename else out
    if stage is not None and (path == out or path == stage.folder) and stage.last:
        path = out / stage.last  # no file named: the one being written
    elif stage is not None and stage.folder in path.parents:
        path = out / path.relative_to(stage.folder).parts[0]  # the file, not the stage
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free space on that disk (or raise the quota), or write elsewhere with --out DIR"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = (
            "the folder cannot be written by the planner: choose a writable one with --out DIR "
            "(or out_dir in config/planner.toml), or fix its permissions"
        )
    else:
        fix = "check the folder exists and can be written, or choose another with --out DIR"
    return ExportError(
        f"{what}: cannot write {path} ({reason}). Nothing was written to {out}; the files "
        f"there are as they were. Fix: {fix}."
    )


def _check_formats(formats: Iterable[str]) -> list[str]:
    chosen = [formats] if isinstance(formats, str) else list(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise ConfigError(
            f"export formats {unknown or chosen!r} not understood; choose from {', '.join(FORMATS)}"
        )
    return chosen


def _ward_frame(wards: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if not isinstance(wards, gpd.GeoDataFrame):
        raise DataError(f"wards should be a GeoDataFrame, got {type(wards).__name__}")
    if wards.index.name != s.WARD_CODE and s.WARD_CODE in wards.columns:
        wards = wards.set_index(s.WARD_CODE)
    problems = [f"no column {c!r}" for c in (s.WARD_NAME, s.BOROUGH_NAME) if c not in wards]
    if wards.crs is None:
        problems.append("no CRS (set it with wards.set_crs(...))")
    if wards.index.has_duplicates:
        dup = wards.index[wards.index.duplicated()].unique()
        problems.append(f"duplicate ward codes {', '.join(map(str, dup[:10]))}")
    if problems:
        raise DataError("wards for the export: " + "; ".join(problems))
    return wards


def _write_geo(frame: gpd.GeoDataFrame, path: Path, metadata: dict[str, Any]) -> Path:
    """GeoJSON in EPSG:4326 (infinity, which JSON cannot hold, as null) or GeoPackage in
    EPSG:27700, written atomically: staged under a name with the right extension. The
    scenario *metadata* goes into the GeoJSON's top-level ``metadata`` member (a foreign
    member: GeoJSON readers keep the features as they are) or the GeoPackage layer's
    metadata (key ``planner``, JSON)."""
    options: dict[str, Any] = {}
    if path.suffix == ".geojson":
        driver, frame = "GeoJSON", frame.to_crs(s.DISPLAY_CRS)
        floats = frame.select_dtypes("float").columns
        frame[floats] = frame[floats].replace([np.inf, -np.inf], np.nan)
    else:
        driver, frame = "GPKG", frame.to_crs(s.WORKING_CRS)
        options["metadata"] = {"planner": json.dumps(metadata, default=str)}
    with atomic_path(path) as tmp:
        staged = tmp.with_suffix(path.suffix)
        try:
            frame.reset_index().to_file(staged, driver=driver, layer=GPKG_LAYER, **options)
            if driver == "GeoJSON":
                _geojson_metadata(staged, metadata)
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)
    return path


def _geojson_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Put *metadata* first in the GeoJSON object written by GDAL (which starts with ``{``)."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("{"):
        raise DataError(f"{path.name}: GDAL wrote no GeoJSON object; cannot add the scenario")
    member = json.dumps(metadata, ensure_ascii=False, default=str)
    path.write_text('{\n"metadata": ' + member + "," + text[1:], encoding="utf-8")


def _metadata(info: Mapping[str, Any], facts: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """What a GeoJSON or GeoPackage says about itself: the scenario id, in words, in full."""
    return {
        "scenario_id": info.get("scenario_id"),
        "scenario_text": dict(facts),
        "scenario": info.get("scenario"),
        "allocation": info.get("allocation", {}).get("settings"),
        "dataset": info.get("dataset"),
        "window": [info.get("window_start"), info.get("window_end")],
        "harm_index": info.get("harm_index"),
        "weights_used": info.get("weights_used"),
        "planner_version": info.get("planner_version"),
        "created": info.get("created"),
    }


def _write_zip(
    table: pd.DataFrame,
    boroughs: pd.DataFrame,
    info: dict[str, Any],
    facts: Sequence[tuple[str, str]],
    path: Path,
) -> Path:
    """The CSVs with their manifest and the scenario in words, as one zip file."""
    stem = path.stem
    with tempfile.TemporaryDirectory(prefix=_STAGING, dir=path.parent) as tmp:
        folder = Path(tmp)
        parts = [
            write_csv(table, folder / f"{stem}.csv"),
            write_csv(boroughs, folder / f"{stem}_boroughs.csv"),
        ]
        text = "".join(f"{label}: {value}\n" for label, value in facts)
        scenario = folder / f"{stem}_scenario.txt"
        scenario.write_text(text, encoding="utf-8")
        parts.append(scenario)
        parts.append(_write_manifest(info, parts, folder / f"{stem}_manifest.json"))
        with atomic_path(path) as staged, zipfile.ZipFile(staged, "w", zipfile.ZIP_DEFLATED) as z:
            for part in parts:
                z.write(part, arcname=part.name)
    return path


def scenario_id(scenario: Mapping[str, Any] | None) -> str | None:
    """The short id of a scenario's :meth:`~planner.scenario.Scenario.to_dict` data: the same
    12 hex digits as :meth:`planner.scenario.Scenario.key` (None without a scenario)."""
    if not scenario:
        return None
    text = json.dumps(scenario, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def scenario_stem(
    manifest: RunManifest | Mapping[str, Any],
    allocation: AllocationResult,
    *,
    prefix: str = "allocation",
) -> str:
    """A file name start that names the scenario, safe for any file system.

    ``allocation_met-2022_2026-01_cchi_webster_pool600_floor80_cap8_harm64-trend14-rate21_``
    ``d1e91b560f00``: dataset, window end, harm index, method, pool, borough floor (%), cap
    per ward, the weights used (%), then the scenario id (:func:`scenario_id`), which also
    covers what the name leaves out (overrides, damping, current staffing, exclusions).
    """
    info = manifest.to_dict() if isinstance(manifest, RunManifest) else dict(manifest)
    st = allocation.settings
    cap = "nocap" if st.max_extra_per_ward is None else f"cap{st.max_extra_per_ward}"
    weights = "-".join(
        f"{k}{round(100 * float(v))}" for k, v in (info.get("weights_used") or {}).items()
    )
    parts = [
        prefix, str(info.get("dataset") or "data"), str(info.get("window_end") or ""),
        str(info.get("harm_index") or ""), st.method, f"pool{allocation.pool}",
        f"floor{round(100 * st.borough_floor_share)}", cap, weights,
    ]  # fmt: skip
    head = safe_filename("_".join(p for p in parts if p), max_length=140, default=prefix)
    key = scenario_id(info.get("scenario"))
    return f"{head}_{key}" if key else head


def _export_manifest(
    manifest: RunManifest | Mapping[str, Any], *, allocation: AllocationResult | None = None
) -> dict[str, Any]:
    base = manifest.to_dict() if isinstance(manifest, RunManifest) else dict(manifest)
    info = {"scenario_id": scenario_id(base.get("scenario")), **base}
    info["planner_version"] = __version__
    info["created"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    if allocation is not None:
        settings = {
            f.name: getattr(allocation.settings, f.name)
            for f in dataclasses.fields(allocation.settings)
            if f.name != "current_extra"
        }
        settings["current_extra_given"] = allocation.settings.current_extra is not None
        info["allocation"] = {
            "pool": allocation.pool,
            "settings": settings,
            "equity": allocation.equity,
        }
    return jsonable(info)


def _write_manifest(info: dict[str, Any], written: Sequence[Path], path: Path) -> Path:
    files = [{"name": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in written]
    return write_json({**info, "files": files}, path)

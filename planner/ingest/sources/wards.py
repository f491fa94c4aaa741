"""Ward boundaries: shapefile, GeoJSON, TopoJSON or GeoPackage -> the planner's wards.

Columns are detected from ``config/wards.toml`` (or mapped explicitly); a ward file without a
borough column takes each ward's borough from a borough file by largest overlap; invalid polygons
are repaired with :func:`shapely.make_valid`. What was done is the report of :class:`WardFile`.

Every file is opened only with the GDAL driver its type names, after checking its first bytes
(:mod:`planner.ingest.sources.vector`, which also switches off GDAL's VRT and network readers),
and messages never repeat a feature's values unless they look like an area code.

Over 400 lines: the borough file read for the overlap goes through the same opening, CRS and
repair steps as the ward file, so splitting it off would share those steps across modules.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from planner import schema as s
from planner.config import PlannerConfig, WardColumns
from planner.errors import DataError
from planner.ingest.sources.vector import check_magic, declared_driver, gdal_source

__all__ = ["DEFAULT_BOROUGH_FILE", "WardFile", "read_dataset_wards", "read_wards"]

logger = logging.getLogger(__name__)

DEFAULT_BOROUGH_FILE = "boroughs/lad22_gen20/*[pn]"
"""Borough boundaries (ONS LAD 2022), relative to the data folder: used by overlap.

A glob (see :meth:`PlannerConfig.resolve`) matching the local copy's ``.shp`` and the
``.geojson`` that ``planner fetch`` writes; the shapefile wins where both exist."""

_FIELDS = (s.WARD_CODE, s.WARD_NAME, s.BOROUGH_CODE, s.BOROUGH_NAME)
_BNG_EXTENT = np.array(
    [-100_000.0, -100_000.0, 800_000.0, 1_400_000.0]
)  # generous Great Britain box
_CODE_SHAPE = re.compile(r"[A-Z0-9]{2,12}")  # E05000001, 00AGGA: shown in messages
_NAME_SHAPE = re.compile(r"[A-Za-z0-9_ .()-]{1,60}")  # column and layer names shown


@dataclass(frozen=True)
class WardFile:
    """Wards read from a boundary file: the ``frame`` and the ``report`` of what was done."""

    frame: gpd.GeoDataFrame
    report: dict[str, Any]


def read_wards(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: str | CRS | None = None,
    columns: WardColumns | None = None,
    boroughs: str | Path | None = None,
    config: PlannerConfig,
) -> WardFile:
    """Read a ward boundary file into the planner's canonical wards.

    Parameters
    ----------
    path
        Shapefile, GeoJSON, TopoJSON or GeoPackage.
    layer
        Layer to read; default the file's only layer, or its only polygon layer.
    crs
        CRS of the coordinates, used only when the file itself carries none.
    columns
        Explicit column mapping; default detection from ``config.ward_detection``. A mapping
        is taken as complete: without ``borough_code`` boroughs come from overlap.
    boroughs
        Borough boundary file for ward files without a borough column; default
        :data:`DEFAULT_BOROUGH_FILE` in the data folder.
    config
        Planner configuration: column detection, borough names, the data folder.

    Returns
    -------
    WardFile
        ``frame`` indexed by ``ward_code``; columns ``ward_name``, ``borough_code``,
        ``borough_name``, ``geometry``; EPSG:27700. ``report`` is a JSON-serialisable dict:
        path, layer, features, columns (field -> where it came from), crs_source,
        repaired_geometries, repaired_ward_codes, boroughs.

    Raises
    ------
    DataError
        The file is missing, unreadable, empty, has several candidate layers, lacks a CRS or a
        column, has blank or duplicate ward codes, unusable geometries, or wards that cannot be
        given a borough.
    """
    path = Path(path)
    raw, layer, driver = _open(path, layer)
    if raw.empty:
        raise DataError(
            f"{path} (layer {layer!r}): no features; expected ward polygons. "
            "Check the file was downloaded completely, or point the dataset at another file."
        )
    raw, crs_source = _to_working_crs(raw, path, crs, by_format=driver == "TopoJSON")
    used = _columns(raw, path, columns, config)
    codes = _ward_codes(raw[used[s.WARD_CODE]], path, used[s.WARD_CODE])
    geometry, repaired = _repair(raw.geometry.array)
    _check_geometry(geometry, codes, path)
    wards = gpd.GeoDataFrame(
        {s.WARD_NAME: _text(raw[used[s.WARD_NAME]]).to_numpy()},
        geometry=geometry,
        index=pd.Index(codes, name=s.WARD_CODE),
        crs=s.WORKING_CRS,
    )
    boroughs_path = config.resolve(boroughs if boroughs is not None else DEFAULT_BOROUGH_FILE)
    wards, borough_source = _assign_boroughs(wards, raw, used, boroughs_path, config, path)
    used.update(borough_source)
    for field in _FIELDS:
        logger.info("%s: %s from %s", path.name, field, used[field])
    report = {
        "path": str(path),
        "layer": layer,
        "features": len(wards),
        "columns": {f: used[f] for f in _FIELDS},
        "crs_source": crs_source,
        "repaired_geometries": int(repaired.sum()),
        "repaired_ward_codes": [str(c) for c in codes[repaired]],
        "boroughs": int(wards[s.BOROUGH_CODE].nunique()),
    }
    if repaired.any():
        logger.warning("%s: repaired %d invalid geometries", path, repaired.sum())
    return WardFile(wards[[*s.WARD_COLUMNS, "geometry"]], report)


def read_dataset_wards(config: PlannerConfig, dataset_name: str | None = None) -> WardFile:
    """Read the ward boundaries of a configured dataset (``[datasets.NAME.wards]``).

    Parameters
    ----------
    config
        Planner configuration; paths are resolved against its data folder.
    dataset_name
        Dataset to read; default the configuration's default dataset.

    Returns
    -------
    WardFile
        As :func:`read_wards`.

    Raises
    ------
    ConfigError
        No dataset has that name.
    DataError
        As :func:`read_wards`.
    """
    spec = config.dataset(dataset_name).wards
    return read_wards(
        config.resolve(spec.path),
        layer=spec.layer,
        crs=spec.crs,
        columns=spec.columns,
        boroughs=config.resolve(spec.boroughs) if spec.boroughs else None,
        config=config,
    )


# --- private steps -------------------------------------------------------------


def _open(path: Path, layer: str | None) -> tuple[gpd.GeoDataFrame, str, str]:
    """Read the named layer, else the only layer, else the only polygon layer; and the driver.

    Only the driver the file's type names is used, after its first bytes are checked.
    """
    if not path.exists():
        raise DataError(
            f"{path}: file not found; expected a ward boundary file. Check the dataset's "
            "wards path in config/planner.toml and the data folder (--data DIR)."
        )
    driver = declared_driver(path)
    check_magic(path, driver)
    source = gdal_source(path, driver)
    try:
        layers = [(str(n), str(t)) for n, t in pyogrio.list_layers(source)]
    except Exception as exc:  # pyogrio raises several GDAL error types
        raise DataError(
            f"{path}: not a readable boundary file ({driver}: {_reason(exc, path, source)}). "
            "Check the file is complete, or export it again."
        ) from None
    listed = ", ".join(f"{_name(n)} ({t})" for n, t in layers)
    if layer is not None and layer not in {n for n, _ in layers} and len(layers) == 1:
        logger.info("%s: no layer %r; reading its only layer %r", path, layer, layers[0][0])
        layer = None  # e.g. the same wards fetched as GeoJSON instead of the mirror's TopoJSON
    if layer is not None and layer not in {n for n, _ in layers}:
        raise DataError(f"{path}: no layer {layer!r}; layers found: {listed}. Set layer.")
    polygonal = [n for n, t in layers if "polygon" in t.lower()]
    if layer is None and len(layers) != 1 and len(polygonal) != 1:
        raise DataError(
            f"{path}: {len(layers)} layers and {len(polygonal)} of them polygon layers "
            f'({listed}); expected one. Set layer = "NAME" in the dataset\'s '
            "[datasets.NAME.wards] table."
        )
    layer = layer or (layers[0][0] if len(layers) == 1 else polygonal[0])
    try:
        return gpd.read_file(source, layer=layer, engine="pyogrio"), layer, driver
    except Exception as exc:
        raise DataError(
            f"{path} (layer {_name(layer)!r}): cannot be read as {driver} "
            f"({_reason(exc, path, source)}). Check the file is complete, or export it again."
        ) from None


def _reason(exc: Exception, path: Path, source: str) -> str:
    """GDAL's message, first line only, without the server's folders; at most 200 characters."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    text = lines[0].replace(source, path.name).replace(str(path), path.name)
    text = text.replace(f"{path.parent}/", "").replace(str(path.parent), ".")
    return text[:200]


def _name(name: object) -> str:
    """A column or layer name as shown in messages: plain names only."""
    text = str(name)
    return text if _NAME_SHAPE.fullmatch(text) else "(a name with unusual characters)"


def _names(names: Sequence[object]) -> str:
    return ", ".join(_name(n) for n in names)


def _shown(value: object) -> str:
    """A feature's value as shown in messages: area codes only, never other text."""
    text = str(value)
    return text if _CODE_SHAPE.fullmatch(text) else "a value that is not a code"


def _to_working_crs(
    raw: gpd.GeoDataFrame, path: Path, crs: str | CRS | None, *, by_format: bool = False
) -> tuple[gpd.GeoDataFrame, str]:
    """*raw* in the working CRS and where its CRS came from (file, config or format).

    *by_format*: the format defines the CRS (TopoJSON is WGS84 lon/lat), used when neither the
    file nor the configuration names one.
    """
    source = "file"
    if raw.crs is None and crs is None and by_format:
        raw, source = raw.set_crs(s.DISPLAY_CRS), "format (TopoJSON is WGS84 lon/lat)"
    elif raw.crs is None:
        if crs is None:
            raise DataError(
                f"{path}: the file has no CRS (no .prj or crs member); expected one, and the "
                'planner never guesses. Set crs = "EPSG:..." in the dataset\'s '
                '[datasets.NAME.wards] table (e.g. "EPSG:4326" for lon/lat).'
            )
        try:
            raw = raw.set_crs(crs)
        except CRSError as exc:
            raise DataError(
                f"{path}: crs {crs!r} is not a known CRS ({exc}); set crs to an EPSG code, "
                'e.g. "EPSG:4326" for lon/lat or "EPSG:27700" for British National Grid.'
            ) from exc
        source = "config"
    elif crs is not None:
        logger.info("%s: the file's CRS is used; crs=%r is ignored", path, crs)
    original = raw.crs.to_string()
    raw = raw.to_crs(s.WORKING_CRS)
    bounds = raw.total_bounds  # NaN/inf compare False: caught too
    if not (np.all(bounds[:2] >= _BNG_EXTENT[:2]) and np.all(bounds[2:] <= _BNG_EXTENT[2:])):
        raise DataError(
            f"{path}: coordinates read as {original} fall at {np.round(bounds).tolist()} in "
            f"{s.WORKING_CRS}, outside Great Britain; the CRS ({source}) is wrong for this "
            "file. Set the right crs in the dataset's [datasets.NAME.wards] table."
        )
    return raw, source


def _find(found: Sequence[str], candidates: Sequence[str]) -> str | None:
    lower = {c.lower(): c for c in reversed(found)}  # the first of same-named columns wins
    return next((lower[c.lower()] for c in candidates if c.lower() in lower), None)


def _columns(
    raw: gpd.GeoDataFrame, path: Path, explicit: WardColumns | None, config: PlannerConfig
) -> dict[str, str | None]:
    found = [c for c in raw.columns if c != raw.geometry.name]
    where = f"[datasets.NAME.wards.columns] in {config.config_dir / 'planner.toml'}"
    if explicit is not None:
        wanted = {f: getattr(explicit, f) for f in _FIELDS}
        used = {f: _find(found, [c]) if c else None for f, c in wanted.items()}
        missing = [f"{f} = {wanted[f]!r}" for f in _FIELDS if wanted[f] and used[f] is None]
        if missing:
            raise DataError(
                f"{path}: the explicit column mapping names column(s) the file lacks "
                f"({', '.join(missing)}); columns found: {_names(found)}. "
                f"Correct {where}."
            )
        return used
    lists = {f: getattr(config.ward_detection, f) for f in _FIELDS}  # same field names
    used = {f: _find(found, lists[f]) for f in _FIELDS}
    missing = [f for f in (s.WARD_CODE, s.WARD_NAME) if used[f] is None]
    if missing:
        tried = "; ".join(f"{f}: {', '.join(lists[f])}" for f in missing)
        raise DataError(
            f"{path}: no column found for {', '.join(missing)} (tried {tried}); columns found: "
            f"{_names(found)}. Add {where} (ward_code = ..., ward_name = ...), or add the "
            f"names to {config.config_dir / 'wards.toml'} [detect]."
        )
    return used


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().fillna("").astype(str)


def _ward_codes(values: pd.Series, path: Path, column: str) -> np.ndarray:
    codes = _text(values).to_numpy()
    problems = []
    blank = np.flatnonzero(codes == "") + 1
    if blank.size:
        problems.append(f"{blank.size} feature(s) with a blank code (features {_rows(blank)})")
    dup = pd.Series(codes)[pd.Series(codes).duplicated(keep=False) & (codes != "")]
    for code, rows in dup.groupby(dup).groups.items():
        problems.append(f"code {_shown(code)} repeated (features {_rows(np.asarray(rows) + 1)})")
    if problems:
        raise DataError(
            f"{path}: column {column!r} should hold one unique ward code per feature; found "
            f"{'; '.join(problems)}. Fix the file, or map another column as ward_code."
        )
    return codes


def _rows(rows: np.ndarray, limit: int = 20) -> str:
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(map(str, rows[:limit])) + more


def _repair(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repair invalid geometries, keeping polygonal parts; return them and the repaired mask."""
    geoms = np.asarray(geoms, dtype=object).copy()
    repaired = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    for i in np.flatnonzero(repaired):
        fixed = shapely.make_valid(geoms[i], method="structure", keep_collapsed=False)
        parts = shapely.get_parts(shapely.get_parts(fixed))  # collections and multi-parts
        geoms[i] = shapely.multipolygons(parts[shapely.get_type_id(parts) == 3])
    return geoms, repaired


def _check_geometry(geoms: np.ndarray, codes: np.ndarray, path: Path) -> None:
    kinds = shapely.get_type_id(geoms)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms) | ~np.isin(kinds, (3, 6))
    if bad.any():
        what = [
            f"feature {i + 1} ({_shown(codes[i])}): "
            + ("no geometry" if geoms[i] is None or geoms[i].is_empty else geoms[i].geom_type)
            for i in np.flatnonzero(bad)
        ]
        raise DataError(
            f"{path}: expected a non-empty polygon for every ward (after repairing invalid "
            f"ones); found {'; '.join(what)}. Fix or remove these features in the file."
        )


def _assign_boroughs(
    wards: gpd.GeoDataFrame,
    raw: gpd.GeoDataFrame,
    used: dict[str, str | None],
    boroughs_path: Path,
    config: PlannerConfig,
    path: Path,
) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Borough code and name per ward: from the file's columns, else by overlap."""
    if used[s.BOROUGH_CODE]:
        codes = _text(raw[used[s.BOROUGH_CODE]]).to_numpy()
        names = _text(raw[used[s.BOROUGH_NAME]]).to_numpy() if used[s.BOROUGH_NAME] else ""
        source = {s.BOROUGH_CODE: used[s.BOROUGH_CODE], s.BOROUGH_NAME: used[s.BOROUGH_NAME]}
    else:
        table, code_col, name_col = _read_borough_file(boroughs_path, config)
        best = _largest_overlap(np.asarray(wards.geometry.array, dtype=object), table["geometry"])
        codes = np.where(best >= 0, table["code"].to_numpy()[best], "")
        names = np.where(best >= 0, table["name"].to_numpy()[best], "")
        label = f"overlap with {boroughs_path}"
        source = {s.BOROUGH_CODE: f"{label} ({code_col})", s.BOROUGH_NAME: f"{label} ({name_col})"}
    names = pd.Series(names, index=wards.index, dtype=object).replace(dict(config.borough_aliases))
    official = pd.Series(codes, index=wards.index).map(config.borough_names)
    if (names == "").all():
        source[s.BOROUGH_NAME] = "config borough names"
    differ = (names != "") & official.notna() & (names != official)
    if differ.any():
        pairs = sorted(set(zip(codes[differ.to_numpy()], names[differ], strict=True)))
        logger.warning(
            "%s: borough names kept as in the file, unlike boroughs.toml: %s", path, pairs
        )
    names = names.where(names != "", official).fillna("")
    missing = np.flatnonzero((codes == "") | (names == "").to_numpy())
    if missing.size:
        what = ", ".join(
            f"feature {i + 1} ({_shown(wards.index[i])}: "
            f"{'code ' + repr(_shown(codes[i])) if codes[i] else 'no code'}, "
            f"{'a name' if names.iloc[i] else 'no name'})"
            for i in missing
        )
        fix = (
            f"Fill the borough column, or add the code to {config.config_dir / 'boroughs.toml'}"
            " [names]"
            if used[s.BOROUGH_CODE]
            else f"No polygon of {boroughs_path} overlaps them: check that borough file"
        )
        raise DataError(
            f"{path}: every ward needs a borough code and name; missing for {what}. {fix}."
        )
    return wards.assign(**{s.BOROUGH_CODE: codes, s.BOROUGH_NAME: names.to_numpy()}), source


def _read_borough_file(path: Path, config: PlannerConfig) -> tuple[pd.DataFrame, str, str | None]:
    """Borough code, name and repaired EPSG:27700 geometry per borough, and the columns used."""
    fix = 'set boroughs = "..." in the dataset\'s [datasets.NAME.wards] table'
    if not path.exists():
        raise DataError(
            f"{path}: borough boundary file not found; the ward file has no borough column, "
            f"so each ward takes the borough it overlaps most. Fetch the file, or {fix}."
        )
    bfile, _, _ = _open(path, None)
    if bfile.crs is None:
        raise DataError(f"{path}: the borough file has no CRS; expected one. {fix}.")
    bfile, _ = _to_working_crs(bfile, path, None)
    det = config.ward_detection
    found = [c for c in bfile.columns if c != bfile.geometry.name]
    code_col, name_col = _find(found, det.borough_file_code), _find(found, det.borough_file_name)
    if code_col is None:
        raise DataError(
            f"{path}: no borough code column (tried {', '.join(det.borough_file_code)}); "
            f"columns found: {_names(found)}. Use another borough file ({fix}), or add the "
            f"column name to {config.config_dir / 'wards.toml'} [detect_borough_file]."
        )
    table = pd.DataFrame(
        {
            "code": _text(bfile[code_col]).to_numpy(),
            "name": _text(bfile[name_col]).to_numpy() if name_col else "",
            "geometry": _repair(bfile.geometry.array)[0],
        }
    )
    return table, code_col, name_col


def _largest_overlap(wards: np.ndarray, boroughs: Sequence) -> np.ndarray:
    """Per ward, the position of the borough it overlaps most by area; -1 where none."""
    boroughs = np.asarray(boroughs, dtype=object)
    ward_i, borough_i = shapely.STRtree(boroughs).query(wards, predicate="intersects")
    area = shapely.area(shapely.intersection(wards[ward_i], boroughs[borough_i]))
    pairs = pd.DataFrame({"ward": ward_i, "borough": borough_i, "area": area})
    pairs = pairs[pairs["area"] > 0].sort_values(["area", "borough"], ascending=[False, True])
    best = pairs.drop_duplicates("ward").set_index("ward")["borough"]
    return best.reindex(range(len(wards)), fill_value=-1).to_numpy()

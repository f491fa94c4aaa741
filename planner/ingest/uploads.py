"""A person's own files, uploaded in the app: checked, read privately, joined to wards.

Two kinds of upload (``st.file_uploader`` in the app; nothing here imports Streamlit):

- **incidents**: a data.police.uk street CSV, or a zip of them (:data:`INCIDENT_TYPES`);
- **wards**: a GeoJSON, a TopoJSON, a GeoPackage or a zipped shapefile (:data:`WARD_TYPES`).

Rules:

- the file's type is checked against a whitelist and its size against a limit
  (:data:`MAX_UPLOAD_BYTES`) before anything is read;
- the work is bounded too (``planner.toml [limits]``, :mod:`planner.ingest.limits`): a zip's
  declared sizes and member count are checked before it is unpacked, and what comes out is
  counted against the size and ratio limits while it is unpacked; a CSV's lines and columns
  are checked in a pass over its bytes before it is parsed; a GeoJSON's or TopoJSON's nesting
  and vertices, a shapefile's and a GeoPackage's vertices, before any geometry is built; and
  the whole read runs in a worker process (:func:`planner.ingest.worker.run_bounded`) stopped
  at a time and an address-space limit;
- the bytes are written only into a private ``tempfile.TemporaryDirectory`` (mode 0700,
  deleted as soon as the file is read), never into the data or cache folders other users
  share, and nothing from an upload is cached by the process;
- a file is read only as its declared type, after checking its first bytes: a CSV must be
  text (:func:`~planner.ingest.sources.sniff.check_text`), a ward file is opened only with the
  GDAL driver its type names (:mod:`planner.ingest.sources.vector`, which also switches off
  GDAL's VRT and network readers for the process), so a ``.geojson`` holding a GDAL VRT that
  points at a server file is refused without reading it;
- every problem is a :class:`~planner.errors.DataError` naming the upload (never the server's
  temporary folder) and the fix; messages never repeat a feature's values except area codes.
"""

from __future__ import annotations

import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import pandas as pd

from planner import schema as s
from planner.config import PlannerConfig, UploadLimits
from planner.errors import DataError
from planner.ingest.join import join_incidents
from planner.ingest.limits import (
    LineCheck,
    check_csv,
    check_geopackage,
    check_json_geometry,
    check_shapefile,
    unzip,
    zip_errors,
)
from planner.ingest.quality import quality_report
from planner.ingest.sources.base import empty_rejects
from planner.ingest.sources.police_uk import read_street_csv
from planner.ingest.sources.sniff import check_text
from planner.ingest.sources.wards import WardFile, read_wards
from planner.ingest.worker import run_bounded

__all__ = [
    "INCIDENT_TYPES",
    "MAX_UPLOAD_BYTES",
    "WARD_TYPES",
    "IncidentUpload",
    "check_upload",
    "read_incident_upload",
    "read_ward_upload",
]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""The largest upload accepted (50 MB): a year of one force's street CSVs fits easily."""
INCIDENT_TYPES = ("csv", "zip")
"""File types accepted for incidents: a data.police.uk street CSV, or a zip of them."""
WARD_TYPES = ("geojson", "json", "topojson", "gpkg", "zip")
"""File types accepted for wards: GeoJSON, TopoJSON, GeoPackage, or a zipped shapefile."""
_WARD_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".topojson")
_JSON_SUFFIXES = (".geojson", ".json", ".topojson")


@dataclass(frozen=True)
class IncidentUpload:
    """An incident upload joined to wards.

    Attributes
    ----------
    name
        The uploaded file's name.
    ward_counts
        One row per ward with records, indexed by ``ward_code``: ward and borough names,
        ``records`` (everything placed in the ward), ``crimes`` and ``asb``; most first.
    quality
        The data-quality report, as :func:`planner.ingest.quality.quality_report` makes it for
        ``planner ingest`` (format it with :func:`planner.ingest.quality.format_quality`).
    rejects
        Every record set aside, with its reason (``schema.REJECT_COLUMNS`` + ``origin``).
    """

    name: str
    ward_counts: pd.DataFrame
    quality: dict[str, Any]
    rejects: pd.DataFrame


def check_upload(
    name: str, size: int, *, allowed: tuple[str, ...], max_bytes: int = MAX_UPLOAD_BYTES
) -> str:
    """Check an upload's type and size before reading it; returns its suffix (``".csv"``).

    Parameters
    ----------
    name
        The file name the browser sent (only its last part is used).
    size
        Its size in bytes.
    allowed
        The accepted file types, without dots (e.g. :data:`INCIDENT_TYPES`).
    max_bytes
        The largest size accepted.

    Raises
    ------
    DataError
        The type is not in *allowed*, the file is empty, or larger than *max_bytes*.
    """
    base = PurePosixPath(str(name).replace("\\", "/")).name
    suffix = PurePosixPath(base).suffix.lower()
    if suffix.lstrip(".") not in allowed:
        found = f"a {suffix} file" if suffix else "a file without a type"
        raise DataError(
            f"{base!r}: {found} cannot be uploaded here; accepted types are "
            f"{', '.join('.' + t for t in allowed)}"
        )
    if size <= 0:
        raise DataError(f"{base!r}: the file is empty; upload the file again")
    if size > max_bytes:
        raise DataError(
            f"{base!r}: {size / 1e6:,.1f} MB is more than the {max_bytes / 1e6:,.0f} MB upload "
            "limit; split it (e.g. one zip per year) or run `planner ingest` on your machine"
        )
    return suffix


def read_incident_upload(
    name: str,
    data: bytes,
    *,
    wards: gpd.GeoDataFrame,
    ward_report: dict[str, Any] | None = None,
    config: PlannerConfig,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> IncidentUpload:
    """Read an uploaded police.uk street CSV (or zip of them) and join it to *wards*.

    Parameters
    ----------
    name
        The uploaded file's name (its type decides how it is read).
    data
        Its bytes.
    wards
        Ward polygons indexed by ``ward_code`` in EPSG:27700 (the loaded dataset's, or an
        uploaded ward file's), with ward and borough names.
    ward_report
        The report of the ward file (:class:`~planner.ingest.sources.wards.WardFile`), shown
        in the quality report.
    config
        The planner configuration: categories, coordinate checks, snap distance.
    max_bytes
        The upload limit.

    Returns
    -------
    IncidentUpload

    Raises
    ------
    DataError
        A refused type or size, a damaged zip, or a file the police.uk reader cannot use.
    """
    suffix = check_upload(name, len(data), allowed=INCIDENT_TYPES, max_bytes=max_bytes)
    label = PurePosixPath(str(name).replace("\\", "/")).name
    if suffix != ".zip":
        check_text(data[:4096], repr(label))
    with tempfile.TemporaryDirectory(prefix="planner-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        upload, _ = run_bounded(
            _read_incidents, path, label, wards, ward_report, config,
            label=repr(label), limits=config.limits,
        )  # fmt: skip
    return upload


def read_ward_upload(
    name: str, data: bytes, *, config: PlannerConfig, max_bytes: int = MAX_UPLOAD_BYTES
) -> WardFile:
    """Read an uploaded ward file (GeoJSON, TopoJSON, GeoPackage or zipped shapefile).

    The file is opened only as its declared type (checked from its first bytes); a TopoJSON
    file is WGS84 lon/lat by the format's definition.

    Returns
    -------
    WardFile
        As :func:`planner.ingest.sources.wards.read_wards`, its report naming the upload.

    Raises
    ------
    DataError
        A refused type or size, a damaged zip or one without exactly one boundary file,
        or a file :func:`~planner.ingest.sources.wards.read_wards` cannot use.
    """
    suffix = check_upload(name, len(data), allowed=WARD_TYPES, max_bytes=max_bytes)
    label = PurePosixPath(str(name).replace("\\", "/")).name
    with tempfile.TemporaryDirectory(prefix="planner-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        wards, _ = run_bounded(
            _read_wards, path, label, config, label=repr(label), limits=config.limits
        )
    return wards


# --- in the worker process (planner.ingest.worker) -------------------------------------------


def _read_incidents(
    path: Path,
    label: str,
    wards: gpd.GeoDataFrame,
    ward_report: dict[str, Any] | None,
    config: PlannerConfig,
) -> IncidentUpload:
    """The incident upload at *path* (a private temporary file), checked, read and joined."""
    if path.suffix == ".zip":
        source = _unpack_csvs(path, label, config)
        shown = {f"{source}/": f"{label}:"}
    else:
        check_csv(path, repr(label), config.limits)
        source, shown = path, {str(path): label}
    try:
        frame = read_street_csv(source, categories=config.categories, checks=config.coordinates)
    except DataError as exc:
        raise DataError(_without_folder(_shown(str(exc), shown), path, label)) from None
    frame.path = label
    frame.files = [_shown(f, shown) for f in frame.files]
    named = frame.rejects[s.SOURCE].astype("string")
    for private, public in shown.items():
        named = named.str.replace(private, public, regex=False)
    frame.rejects = frame.rejects.assign(**{s.SOURCE: named})
    result = join_incidents(frame.incidents, wards, snap_distance_m=config.join.snap_distance_m)
    rejects = pd.concat(
        [
            empty_rejects().assign(**{s.ORIGIN: ""}),
            frame.rejects.assign(**{s.ORIGIN: label}),
            result.rejects.assign(**{s.ORIGIN: label}),
        ],
        ignore_index=True,
    )
    counts = _counts(result.incidents)
    quality = quality_report(
        f"upload {label}",
        [frame],
        {label: result.incidents},
        rejects,
        counts,
        wards,
        ward_report=ward_report,
    )
    return IncidentUpload(label, _ward_table(counts, wards), quality, rejects)


def _read_wards(upload: Path, label: str, config: PlannerConfig) -> WardFile:
    """The ward upload at *upload* (a private temporary file), checked and read."""
    if upload.suffix == ".zip":
        path = _unpack_wards(upload, label, upload.parent / "wards", config)
    else:
        path = upload.with_name(f"wards{upload.suffix}")
        upload.rename(path)
    if path.suffix.lower() in _JSON_SUFFIXES:
        check_json_geometry(path.read_bytes(), repr(label), config.limits)
    elif path.suffix.lower() == ".shp":
        check_shapefile(path, repr(label), config.limits)
    elif path.suffix.lower() == ".gpkg":
        check_geopackage(path, repr(label), config.limits)
    try:
        wards = read_wards(path, config=config)
    except DataError as exc:
        message = _without_folder(str(exc), path, label)
        prefix = "" if message.startswith(label) else f"{label}: "
        raise DataError(prefix + message) from None
    return WardFile(wards.frame, {**wards.report, "path": label})


# --- private steps -----------------------------------------------------------------------


def _without_folder(message: str, path: Path, label: str) -> str:
    """*message* with the private temporary file named by the upload, its folder hidden."""
    message = message.replace(str(path), label)
    return message.replace(f"{path.parent}/", "").replace(str(path.parent), "the upload")


def _counts(incidents: pd.DataFrame) -> pd.DataFrame:
    """ward_counts rows (``schema.WARD_COUNTS_COLUMNS``) of joined incidents."""
    keys = [s.WARD_CODE, s.MONTH, s.CATEGORY, s.SUBCATEGORY]
    if incidents.empty:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in keys}).assign(
            **{s.COUNT: pd.Series(dtype="int64")}
        )
    table = incidents.astype({k: "string" for k in keys})
    return table.groupby(keys, dropna=False).size().rename(s.COUNT).reset_index()


def _ward_table(counts: pd.DataFrame, wards: gpd.GeoDataFrame) -> pd.DataFrame:
    """Records per ward, with names; the wards with most records first."""
    is_asb = counts[s.CATEGORY] == s.ASB
    table = pd.DataFrame(
        {
            "records": counts.groupby(s.WARD_CODE)[s.COUNT].sum(),
            "crimes": counts.loc[~is_asb].groupby(s.WARD_CODE)[s.COUNT].sum(),
            "asb": counts.loc[is_asb].groupby(s.WARD_CODE)[s.COUNT].sum(),
        }
    )
    table = table.fillna(0).astype("int64").rename_axis(s.WARD_CODE)
    names = pd.DataFrame(wards.drop(columns="geometry")).reindex(table.index)
    columns = [c for c in (s.WARD_NAME, s.BOROUGH_NAME) if c in names]
    out = names[columns].join(table)
    return out.sort_index().sort_values("records", ascending=False, kind="stable")


def _shown(text: str, shown: dict[str, str]) -> str:
    """*text* with each private name replaced by the name the person knows."""
    for private, public in shown.items():
        text = text.replace(private, public)
    return text


def _open_zip(path: Path, label: str, limits: UploadLimits) -> zipfile.ZipFile:
    """The zip, after checking its member count and declared unpacked size (which
    :func:`planner.ingest.limits.unzip` does not trust: it counts what comes out)."""
    try:
        archive = zipfile.ZipFile(path)
        members = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as exc:
        raise DataError(
            f"{label!r}: not a readable zip ({type(exc).__name__}); upload the file again"
        ) from None
    unpacked = sum(i.file_size for i in members)
    most = limits.max_unzipped_mb * 1e6
    if len(members) > limits.max_zip_members or unpacked > most:
        archive.close()
        raise DataError(
            f"{label!r}: the zip holds {len(members):,} files unpacking to "
            f"{unpacked / 1e6:,.0f} MB; at most {limits.max_zip_members:,} files "
            f"(max_zip_members) and {limits.max_unzipped_mb:g} MB (max_unzipped_mb) are "
            "accepted (planner.toml [limits]). Upload fewer months at a time"
        )
    return archive


def _member_path(info: zipfile.ZipInfo, into: Path) -> Path | None:
    """Where a member is unpacked below *into* (never outside it); None to skip it."""
    parts = [
        p
        for p in PurePosixPath(info.filename.replace("\\", "/")).parts
        if p not in ("", ".", "..", "/")
    ]
    if info.is_dir() or not parts or parts[-1].startswith(".") or "__MACOSX" in parts:
        return None  # e.g. __MACOSX/._wards.shp
    target = into.joinpath(*parts)
    if target.exists():
        return None  # a second member of the same name (after removing ../): the first counts
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _unpack(
    path: Path, label: str, into: Path, limits: UploadLimits, *, keep: tuple[str, ...] | None,
    lines: bool,
) -> list[Path]:  # fmt: skip
    """Unpack the zip at *path* into *into*, bounded; the files written."""
    into.mkdir()
    with _open_zip(path, label, limits) as archive:
        members = sorted(archive.infolist(), key=lambda i: i.filename)
        if keep is not None:
            members = [i for i in members if i.filename.lower().endswith(keep)]
        try:
            return unzip(
                archive,
                members,
                lambda info: _member_path(info, into),
                label=repr(label),
                compressed=path.stat().st_size,
                limits=limits,
                check=lambda info: (
                    LineCheck(f"{label!r} (member {info.filename})", limits) if lines else None
                ),
            )
        except zip_errors() as exc:
            raise DataError(
                f"{label!r}: the zip is damaged or encrypted ({type(exc).__name__}); "
                "upload an unencrypted zip"
            ) from None


def _unpack_csvs(path: Path, label: str, config: PlannerConfig) -> Path:
    """The CSVs of an incident zip unpacked (bounded, every line checked) into a folder."""
    into = path.parent / "csv"
    if not _unpack(path, label, into, config.limits, keep=(".csv",), lines=True):
        raise DataError(
            f"{label!r}: the zip holds no .csv files; upload data.police.uk street CSVs"
        )
    return into


def _unpack_wards(path: Path, label: str, into: Path, config: PlannerConfig) -> Path:
    """Unpack a zipped boundary file into *into* (bounded); returns the boundary file."""
    written = _unpack(path, label, into, config.limits, keep=None, lines=False)
    found = [p for p in written if p.suffix.lower() in _WARD_SUFFIXES]
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise DataError(
            f"{label!r}: expected one boundary file (.shp with its .shx/.dbf/.prj, .gpkg "
            f"or .geojson) in the zip, found {len(found)} ({names})"
        )
    return found[0]

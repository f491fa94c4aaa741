"""Shared steps of the point readers: text columns -> canonical incident rows + rejects."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals
from pyproj import Transformer

from planner import schema as s
from planner.config import CoordinateChecks
from planner.errors import DataError
from planner.ingest.sources.base import SourceFrame, empty_rejects

_MONTH_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")  # ASCII digits: \d matches "２０２４"
_TRANSFORMERS: dict[str, Transformer] = {}

ArrayLike = pa.Array | pa.ChunkedArray | np.ndarray | Sequence[str] | None


def _decode(values: ArrayLike, n: int) -> tuple[np.ndarray, list]:
    """Dictionary-encode a text column: (codes, distinct values); -1 codes are nulls.

    Work on the few distinct values instead of every row: months, categories and
    (anonymised) coordinates repeat heavily.
    """
    if values is None:
        return np.full(n, -1, dtype=np.int64), []
    arr = values if isinstance(values, pa.ChunkedArray | pa.Array) else pa.array(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            arr = pc.utf8_trim_whitespace(arr)
        arr = arr.dictionary_encode()
    codes = arr.indices.to_numpy(zero_copy_only=False)
    codes = np.where(arr.indices.is_null().to_numpy(zero_copy_only=False), -1, codes)
    return codes.astype(np.int64), arr.dictionary.to_pylist()


def _numbers(values: ArrayLike, n: int) -> np.ndarray:
    """Parse a coordinate column to float64 (NaN where empty or not a number)."""
    if isinstance(values, pa.ChunkedArray | pa.Array) and pa.types.is_floating(values.type):
        return pc.fill_null(values, np.nan).to_numpy(zero_copy_only=False).astype("float64")
    codes, uniques = _decode(values, n)
    parsed = pd.to_numeric(pd.Series(uniques, dtype="object"), errors="coerce").to_numpy("float64")
    return np.where(codes >= 0, np.append(parsed, np.nan)[codes], np.nan)


def _categorical(codes: np.ndarray, uniques: list) -> pd.Categorical:
    cats = pd.Index([u if u is not None else "" for u in uniques], dtype="object")
    if cats.has_duplicates:  # e.g. "" and None both present
        return pd.Categorical(np.asarray(cats, dtype=object)[codes])
    return pd.Categorical.from_codes(codes, categories=cats)


def to_bng(a: np.ndarray, b: np.ndarray, crs: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Transform lon/lat (or a/b in *crs*) to EPSG:27700, once per distinct coordinate."""
    key = crs or "EPSG:4326"
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = Transformer.from_crs(key, s.WORKING_CRS, always_xy=True)
    codes, uniq = pd.factorize(a + 1j * b)  # one complex key per coordinate pair: fast hashing
    ux, uy = _TRANSFORMERS[key].transform(uniq.real, uniq.imag)
    return np.asarray(ux)[codes], np.asarray(uy)[codes]


def canonical(
    *,
    source: str | ArrayLike,
    incident_id: ArrayLike,
    month: ArrayLike,
    category: ArrayLike,
    subcategory: ArrayLike,
    lon: ArrayLike,
    lat: ArrayLike,
    mapping: Mapping[str, str],
    mapping_hint: str,
    checks: CoordinateChecks,
    crs: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Reduce text columns of one file (or batch) to (incidents, rejects, read_by_month).

    *lon*/*lat* are WGS84 unless *crs* names the CRS of easting/northing columns.
    Raises :class:`DataError` when more than ``checks.max_bad_share`` of the rows
    have an unparseable month or bad coordinates: then the file, not the row, is wrong.
    """
    n = len(month)
    m_codes, m_uniques = _decode(month, n)
    month_ok = np.array([bool(u) and _MONTH_RE.match(u) is not None for u in m_uniques] + [False])
    now = date.today().strftime("%Y-%m")
    future = np.array(
        [bool(ok) and u > now for ok, u in zip(month_ok, [*m_uniques, ""], strict=True)]
    )
    bad_month = ~month_ok[m_codes]
    future_month = future[m_codes]
    month_cat = _categorical(m_codes, m_uniques)

    c_codes, c_uniques = _decode(category, n)
    mapped = [mapping.get(" ".join(str(u).split()).casefold()) if u else None for u in c_uniques]
    known = np.array([m is not None for m in mapped] + [False])[c_codes]
    cat_values = [
        m if m is not None else (u or "(empty)") for m, u in zip(mapped, c_uniques, strict=True)
    ]
    category_cat = _categorical(
        np.where(c_codes >= 0, c_codes, len(cat_values)), [*cat_values, "(empty)"]
    )

    if isinstance(source, str):
        src = pd.Categorical.from_codes(np.zeros(n, dtype=np.int64), categories=[source])
        rows = np.arange(1, n + 1, dtype=np.int64)
    else:
        src = _categorical(*_decode(source, n))
        rows = np.zeros(n, dtype=np.int64)
    if subcategory is None:
        sub = pd.Categorical.from_codes(np.zeros(n, dtype=np.int64), categories=[""])
    else:
        sub = _categorical(*_decode(subcategory, n))
    ids = _ids(incident_id, n)
    a, b = _numbers(lon, n), _numbers(lat, n)
    df = pd.DataFrame(
        {
            s.INCIDENT_ID: ids,
            s.MONTH: month_cat,
            s.CATEGORY: category_cat,
            s.SUBCATEGORY: sub,
            s.SOURCE: src,
            s.SOURCE_ROW: rows,
        }
    )
    reason = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    _check_share(bad_month, n, checks, "month", df, "a month in the form YYYY-MM")
    _mark(reason, detail, bad_month, s.REASON_BAD_MONTH, "unparseable month")
    _mark(
        reason,
        detail,
        future_month,
        s.REASON_FUTURE_MONTH,
        f"month after the current month ({now})",
    )
    if bad_month.any():
        raw = np.asarray(month_cat, dtype=object)[bad_month]
        detail[bad_month] = [f"month {v!r} is not YYYY-MM" for v in raw]
    no_xy = np.isnan(a) | np.isnan(b)
    if crs is None:
        out_gb, swapped = _gb_checks(a, b, checks)
        bad_xy = out_gb | swapped
        _check_share(bad_xy, int((~no_xy).sum()), checks, "coordinates", df, None, a, b, swapped)
        _mark(reason, detail, swapped, s.REASON_LAT_LON_SWAPPED, "longitude and latitude swapped")
        _mark(reason, detail, out_gb, s.REASON_OUTSIDE_GB, "coordinates outside Great Britain")
    _mark(reason, detail, no_xy, s.REASON_NO_COORDINATES, "no longitude/latitude")
    _mark(
        reason,
        detail,
        ~known,
        s.REASON_UNKNOWN_CATEGORY,
        f"category not mapped: add it to {mapping_hint}",
    )

    month_key = np.where(bad_month | future_month, "unknown", np.asarray(month_cat, dtype=object))
    read_by_month = pd.Series(month_key).value_counts().astype("int64")
    bad = reason != None  # noqa: E711 - elementwise on an object array
    rejects = pd.DataFrame(
        {
            s.SOURCE: np.asarray(src, dtype=object)[bad],
            s.SOURCE_ROW: rows[bad],
            s.INCIDENT_ID: ids[bad].to_numpy(dtype=object),
            s.MONTH: month_key[bad],
            s.CATEGORY: np.asarray(category_cat, dtype=object)[bad],
            s.REASON: reason[bad],
            s.DETAIL: detail[bad],
            s.COUNT: np.ones(int(bad.sum()), dtype=np.int64),
        }
    )
    good = ~bad
    incidents = df.loc[good].reset_index(drop=True)
    if good.any():
        x, y = to_bng(a[good], b[good], crs)
    else:
        x = y = np.empty(0)
    incidents[s.X] = x
    incidents[s.Y] = y
    return incidents[list(s.INCIDENT_COLUMNS)], rejects.astype({s.SOURCE: "string"}), read_by_month


def _ids(values: ArrayLike, n: int) -> pd.Series:
    """Incident ids as pandas strings (NA where empty), converted in Arrow, not per row."""
    if values is None:
        return pd.Series(pd.NA, index=range(n), dtype="string")
    arr = values if isinstance(values, pa.ChunkedArray | pa.Array) else pa.array(values)
    arr = pc.cast(arr, pa.string())
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    mapper = {pa.string(): pd.StringDtype()}.get
    return pd.Series(arr.to_pandas(types_mapper=mapper), dtype="string")


def _gb_checks(a: np.ndarray, b: np.ndarray, c: CoordinateChecks) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore"):
        inside = (a >= c.lon_min) & (a <= c.lon_max) & (b >= c.lat_min) & (b <= c.lat_max)
        swapped_inside = (b >= c.lon_min) & (b <= c.lon_max) & (a >= c.lat_min) & (a <= c.lat_max)
    located = ~(np.isnan(a) | np.isnan(b))
    swapped = located & ~inside & swapped_inside
    out_gb = located & ~inside & ~swapped_inside
    return out_gb, swapped


def _mark(reason: np.ndarray, detail: np.ndarray, mask: np.ndarray, code: str, text: str) -> None:
    """Record *code* for the rows in *mask* that have no reason yet."""
    mask = np.asarray(mask) & (reason == None)  # noqa: E711 - the first reason found is kept
    reason[mask] = code
    detail[mask] = text


def _check_share(bad, n_checked, checks, what, df, expected, a=None, b=None, swapped=None):
    n_bad = int(np.asarray(bad).sum())
    if n_checked == 0 or n_bad == 0 or n_bad / n_checked <= checks.max_bad_share:
        return
    i = int(np.flatnonzero(np.asarray(bad))[0])
    where = f"{df[s.SOURCE].iloc[i]}, row {df[s.SOURCE_ROW].iloc[i]}"
    if what == "month":
        raise DataError(
            f"{where}: column Month holds {df[s.MONTH].iloc[i]!r}; expected {expected} "
            f"({n_bad} of {n_checked} rows fail). Fix the month column (e.g. 2024-04) and re-run"
        )
    if swapped is not None and np.asarray(swapped).sum() > n_bad / 2:
        raise DataError(
            f"{where}: latitude and longitude look swapped (Longitude={a[i]}, Latitude={b[i]}; "
            f"{n_bad} of {n_checked} located rows fail): swap the two column names "
            "(or the lon/lat mapping in config/planner.toml) and re-run"
        )
    raise DataError(
        f"{where}: coordinates outside Great Britain (Longitude={a[i]}, Latitude={b[i]}; "
        f"{n_bad} of {n_checked} located rows fail); expected WGS84 longitude/latitude "
        "in degrees. If the file holds eastings/northings, read it as a points_csv source "
        "with easting/northing columns and its crs"
    )


def finish(
    frame: SourceFrame,
    parts: list[tuple[pd.DataFrame, pd.DataFrame, pd.Series]],
    *,
    dedupe_ids: bool,
) -> SourceFrame:
    """Concatenate per-file parts into *frame*, removing duplicate ids if asked."""
    if not parts:
        return frame
    incidents = _concat_incidents([p[0] for p in parts])
    rejects = pd.concat([empty_rejects(), *[p[1] for p in parts]], ignore_index=True)
    read = pd.concat([p[2] for p in parts]).groupby(level=0).sum().astype("int64")
    dup_by_month = pd.Series(dtype="int64")
    if dedupe_ids:
        ids = pa.array(incidents[s.INCIDENT_ID].array)  # Arrow-backed: no copy
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        codes = ids.dictionary_encode().indices.to_numpy(zero_copy_only=False)  # Arrow hashing
        present = ~incidents[s.INCIDENT_ID].isna().to_numpy()
        dup = present & pd.Series(codes).duplicated(keep="first").to_numpy()
        if dup.any():
            dup_by_month = incidents.loc[dup, s.MONTH].value_counts().astype("int64")
            dup_by_month = dup_by_month[dup_by_month > 0]  # categorical: drop empty months
            incidents = incidents.loc[~dup].reset_index(drop=True)
            dup = pd.Series(dup)
            frame.warnings.append(
                f"{frame.path}: {int(dup.sum()):,} records appeared more than once (same id) "
                "and were counted once"
            )
    frame.incidents = incidents
    frame.rejects = rejects
    frame.read_by_month = read.rename_axis(s.MONTH)
    frame.duplicates_by_month = dup_by_month.rename_axis(s.MONTH)
    return frame


def _concat_incidents(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate incident parts, keeping categorical columns categorical (and fast)."""
    if len(frames) == 1:
        return frames[0]
    out = {}
    for col in s.INCIDENT_COLUMNS:
        values = [f[col] for f in frames]
        if isinstance(values[0].dtype, pd.CategoricalDtype):
            out[col] = union_categoricals(values, ignore_order=True)
        else:
            out[col] = pd.concat(values, ignore_index=True)
    return pd.DataFrame(out)

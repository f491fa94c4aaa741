"""Shared steps of the point readers: text columns -> canonical incident rows + rejects.

Columns are worked on as dictionary codes and arrays: months, categories, sources and
(anonymised) coordinates repeat heavily, so each check runs once per distinct value and the
rejects are built from the rejected rows alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals
from pyproj import Transformer

from planner import schema as s
from planner.config import CoordinateChecks
from planner.errors import DataError
from planner.ingest.sources.base import PointCodes, SourceFrame, empty_rejects

_MONTH_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")  # ASCII digits: \d matches "２０２４"
_TRANSFORMERS: dict[str, Transformer] = {}
_INT64 = {pa.int64(): pd.Int64Dtype()}


@dataclass(frozen=True)
class Coded:
    """A dictionary-encoded text column: ``uniques[codes]``, and -1 for a missing value."""

    codes: np.ndarray
    uniques: list[str | None]


ArrayLike = pa.Array | pa.ChunkedArray | np.ndarray | Sequence[str] | Coded | None


@dataclass(frozen=True)
class Located:
    """WGS84 coordinates as distinct points: row *i* is at ``(lon[codes[i]], lat[codes[i]])``,
    and a code of -1 is a row without coordinates (a reader that found the points already)."""

    codes: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    def at(self, i: int) -> tuple[float, float]:
        """Row *i*'s (longitude, latitude)."""
        k = int(self.codes[i])
        return (float(self.lon[k]), float(self.lat[k])) if k >= 0 else (math.nan, math.nan)

    def flags(self, found: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """Per-point flags (each of *found*) as per-row flags; False without coordinates."""
        return tuple(np.append(f, False)[self.codes] for f in found)

    def bng(self, rows: np.ndarray) -> PointCodes:
        """The distinct points of *rows* (a mask) in EPSG:27700, and each row's."""
        codes = self.codes[rows]
        used = np.flatnonzero(np.bincount(codes, minlength=len(self.lon)))
        remap = np.zeros(len(self.lon), dtype=np.int64)
        remap[used] = np.arange(len(used))
        x, y = _transformer(None).transform(self.lon[used], self.lat[used])
        return PointCodes(remap[codes], np.asarray(x, np.float64), np.asarray(y, np.float64))


def _decode(values: ArrayLike, n: int) -> tuple[np.ndarray, list]:
    """Dictionary-encode a text column (trimmed): (codes, distinct values); -1 codes are nulls.

    Work on the few distinct values instead of every row.
    """
    if values is None:
        return np.full(n, -1, dtype=np.int64), []
    if isinstance(values, Coded):
        return _trimmed(values)
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


def _trimmed(values: Coded) -> tuple[np.ndarray, list]:
    """A :class:`Coded` column with its values trimmed, as Arrow trims text columns."""
    trimmed = [u.strip() if isinstance(u, str) else u for u in values.uniques]
    codes = np.asarray(values.codes)
    if trimmed == values.uniques and None not in trimmed and len(set(trimmed)) == len(trimmed):
        return codes, trimmed
    merged: dict[str, int] = {}
    remap = np.array(
        [-1 if u is None else merged.setdefault(u, len(merged)) for u in trimmed] + [-1]
    )
    return remap[codes], list(merged)


def _numbers(values: ArrayLike, n: int) -> np.ndarray:
    """Parse a coordinate column to float64 (NaN where empty or not a number)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return values.astype("float64", copy=False)
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


def _transformer(crs: str | None) -> Transformer:
    """*crs* (default WGS84 lon/lat) to EPSG:27700, made once per process."""
    key = crs or "EPSG:4326"
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = Transformer.from_crs(key, s.WORKING_CRS, always_xy=True)
    return _TRANSFORMERS[key]


def distinct_bng(a: np.ndarray, b: np.ndarray, crs: str | None = None) -> PointCodes:
    """The distinct coordinates of lon/lat (or a/b in *crs*) in EPSG:27700, and each row's."""
    pairs = np.empty(len(a), dtype=np.complex128)  # one key per coordinate pair: fast hashing
    pairs.real, pairs.imag = a, b
    codes, uniq = pd.factorize(pairs)
    del pairs
    ux, uy = _transformer(crs).transform(uniq.real, uniq.imag)
    return PointCodes(codes, np.asarray(ux, dtype=np.float64), np.asarray(uy, dtype=np.float64))


class Part(NamedTuple):
    """What :func:`canonical` makes of one file or batch."""

    incidents: pd.DataFrame
    rejects: pd.DataFrame
    read_by_month: pd.Series
    duplicates_by_month: pd.Series | None = None
    """Set when :func:`canonical` removed repeated ids itself (``dedupe=True``)."""
    points: PointCodes | None = None
    """The incidents' distinct points (:class:`PointCodes`)."""


# Reasons in the order they are looked for: a record keeps the first it fails.
_BAD_MONTH, _FUTURE_MONTH, _SWAPPED, _OUTSIDE_GB, _NO_XY, _UNKNOWN_CATEGORY = range(1, 7)
_REASONS = {
    _BAD_MONTH: (s.REASON_BAD_MONTH, "unparseable month"),
    _FUTURE_MONTH: (s.REASON_FUTURE_MONTH, "month after the current month ({now})"),
    _SWAPPED: (s.REASON_LAT_LON_SWAPPED, "longitude and latitude swapped"),
    _OUTSIDE_GB: (s.REASON_OUTSIDE_GB, "coordinates outside Great Britain"),
    _NO_XY: (s.REASON_NO_COORDINATES, "no longitude/latitude"),
    _UNKNOWN_CATEGORY: (s.REASON_UNKNOWN_CATEGORY, "category not mapped: add it to {hint}"),
}


def canonical(
    *,
    source: str | ArrayLike,
    incident_id: ArrayLike,
    month: ArrayLike,
    category: ArrayLike,
    subcategory: ArrayLike,
    lon: ArrayLike | Located,
    lat: ArrayLike,
    mapping: Mapping[str, str],
    mapping_hint: str,
    checks: CoordinateChecks,
    crs: str | None = None,
    group_sizes: Sequence[int] | None = None,
    dedupe: bool = False,
    text_ids: bool = True,
    locate: Callable[[int], str] | None = None,
) -> Part:
    """Reduce the columns of one file (or batch) to (incidents, rejects, read_by_month).

    Text columns may come as Arrow arrays, sequences or :class:`Coded`; coordinates also as
    float arrays, or both as one :class:`Located` in *lon* (then *lat* is None). *lon*/*lat*
    are WGS84 unless *crs* names the CRS of easting/northing columns.
    Raises :class:`DataError` when more than ``checks.max_bad_share`` of the rows of a file
    have an unparseable month or bad coordinates: then the file, not the row, is wrong.
    *group_sizes* says which rows are one file (the first so many, the next so many ...);
    by default all are. With *dedupe*, a record whose id a kept record before it has is
    counted as a duplicate (``Part.duplicates_by_month``) and left out, before the rows
    kept are built: one batch of a million records is not copied to drop 5 % of them.
    With *text_ids* false, integer ids stay integers in the incidents (``Int64``; a caller
    that only de-duplicates and counts them need not make a million strings); the rejects'
    ids are text either way. *locate* names row *i* in messages (default: its source and row
    number), for a batch whose rows come from many files.
    """
    n = len(month.codes) if isinstance(month, Coded) else len(month)  # type: ignore[arg-type]
    now = date.today().strftime("%Y-%m")
    m_codes, m_uniques = _decode(month, n)
    ok = np.array([bool(u) and _MONTH_RE.match(u) is not None for u in m_uniques], dtype=bool)
    later = np.array([k and u > now for k, u in zip(ok, m_uniques, strict=True)], dtype=bool)
    bad_month = ~np.append(ok, False)[m_codes]  # -1 (no month) picks the appended False
    future_month = np.append(later, False)[m_codes]
    month_cat = _categorical(m_codes, m_uniques)
    category_cat, known = _categories(category, n, mapping)
    if isinstance(source, str):
        src = pd.Categorical.from_codes(np.zeros(n, dtype=np.int64), categories=[source])
        rows = np.arange(1, n + 1, dtype=np.int64)
    else:
        src = _categorical(*_decode(source, n))
        rows = None  # a batch of files: no row numbers
    if subcategory is None:
        sub = pd.Categorical.from_codes(np.zeros(n, dtype=np.int64), categories=[""])
    else:
        sub = _categorical(*_decode(subcategory, n))
    located = lon if isinstance(lon, Located) else None
    if located is None:
        a, b = _numbers(lon, n), _numbers(lat, n)
        no_xy = np.isnan(a) | np.isnan(b)
    else:
        no_xy = located.codes < 0

    def row_numbers(mask: np.ndarray) -> np.ndarray:
        return rows[mask] if rows is not None else np.zeros(int(mask.sum()), dtype=np.int64)

    def where(i: int) -> str:
        if locate is not None:
            return locate(i)
        return f"{src[i]}, row {rows[i] if rows is not None else 0}"

    share = _ShareCheck(group_sizes or [n], checks, where)
    reason = np.zeros(n, dtype=np.int8)  # a key of _REASONS; 0: kept
    share.month(bad_month, month_cat)
    _mark(reason, bad_month, _BAD_MONTH)
    _mark(reason, future_month, _FUTURE_MONTH)
    if crs is None:
        if located is None:
            out_gb, swapped = _gb_checks(a, b, checks)
        else:  # checked once per distinct point
            out_gb, swapped = located.flags(_gb_checks(located.lon, located.lat, checks))

        def lonlat(i: int) -> tuple[float, float]:
            return located.at(i) if located is not None else (float(a[i]), float(b[i]))

        share.coordinates(out_gb | swapped, ~no_xy, lonlat, swapped)
        _mark(reason, swapped, _SWAPPED)
        _mark(reason, out_gb, _OUTSIDE_GB)
    _mark(reason, no_xy, _NO_XY)
    _mark(reason, ~known, _UNKNOWN_CATEGORY)

    keys = np.array([*m_uniques, "unknown"], dtype=object)  # what each month is counted under
    keys[:-1][~ok | later] = "unknown"
    key_codes = np.where(m_codes >= 0, m_codes, len(m_uniques))
    read: dict[str, int] = {}  # a few months: summed in Python, not by a pandas groupby
    for key, count in zip(keys, np.bincount(key_codes, minlength=len(keys)), strict=True):
        if count:
            read[key] = read.get(key, 0) + int(count)
    read_by_month = pd.Series(read, dtype="int64")

    bad = reason > 0
    rejects = pd.DataFrame(
        {
            s.SOURCE: pd.array(np.asarray(src[bad], dtype=object), dtype="string"),
            s.SOURCE_ROW: row_numbers(bad),
            s.INCIDENT_ID: _ids(_rows_of(incident_id, bad), int(bad.sum())).to_numpy(dtype=object),
            s.MONTH: keys[key_codes[bad]],
            s.CATEGORY: np.asarray(category_cat[bad], dtype=object),
            s.REASON: np.array([None, *(r[0] for r in _REASONS.values())], dtype=object)[
                reason[bad]
            ],
            s.DETAIL: _details(reason[bad], m_codes[bad], m_uniques, now, mapping_hint),
            s.COUNT: np.ones(int(bad.sum()), dtype=np.int64),
        }
    )
    good = ~bad
    # The peak of memory is next: let go of what is no longer needed (the columns given are
    # freed here too when the caller holds no other reference to them).
    del month, category, source, subcategory, lon, lat, m_codes, key_codes, reason, bad
    duplicates = None
    if dedupe and incident_id is not None:
        dup = np.zeros(n, dtype=bool)
        dup[np.flatnonzero(good)[_duplicated(_rows_of(incident_id, good))]] = True
        duplicates = pd.Series(month_cat[dup]).value_counts().astype("int64")
        duplicates = duplicates[duplicates > 0]  # categorical: not the months without any
        good &= ~dup
    xy = np.empty((2, int(good.sum())))  # x and y as the frame's one float block, in place
    points = None
    if len(xy[0]):
        points = distinct_bng(a[good], b[good], crs) if located is None else located.bng(good)
        np.take(points.x, points.codes, out=xy[0])
        np.take(points.y, points.codes, out=xy[1])
    if located is None:
        del a, b
    incidents = pd.DataFrame(xy.T, columns=[s.X, s.Y], copy=False)
    del xy
    kept = _rows_of(incident_id, good)
    if text_ids or kept is None or not pa.types.is_integer(kept.type):
        incidents.insert(0, s.INCIDENT_ID, _ids(kept, int(good.sum())))
    else:
        incidents.insert(0, s.INCIDENT_ID, pd.Series(kept.to_pandas(types_mapper=_INT64.get)))
    del kept
    del incident_id
    incidents.insert(1, s.MONTH, month_cat[good])
    incidents.insert(2, s.CATEGORY, category_cat[good])
    incidents.insert(3, s.SUBCATEGORY, sub[good])
    incidents[s.SOURCE] = src[good]
    incidents[s.SOURCE_ROW] = row_numbers(good)
    return Part(incidents, rejects, read_by_month, duplicates, points)


def _categories(
    category: ArrayLike, n: int, mapping: Mapping[str, str]
) -> tuple[pd.Categorical, np.ndarray]:
    """The canonical category of every row ("(empty)" or the name itself when unknown)."""
    c_codes, c_uniques = _decode(category, n)
    mapped = [mapping.get(" ".join(str(u).split()).casefold()) if u else None for u in c_uniques]
    known = np.array([m is not None for m in mapped] + [False])[c_codes]
    values = [
        m if m is not None else (u or "(empty)") for m, u in zip(mapped, c_uniques, strict=True)
    ]
    cat = _categorical(np.where(c_codes >= 0, c_codes, len(values)), [*values, "(empty)"])
    return cat, known


def _details(
    codes: np.ndarray, month_codes: np.ndarray, uniques: list, now: str, hint: str
) -> np.ndarray:
    """The detail of each reject, in words (a bad month names its value)."""
    text = [None, *(r[1].format(now=now, hint=hint) for r in _REASONS.values())]
    detail = np.array(text, dtype=object)[codes]
    bad = codes == _BAD_MONTH
    raw = np.array([*uniques, np.nan], dtype=object)[month_codes[bad]]  # no month: nan
    detail[bad] = [f"month {v!r} is not YYYY-MM" for v in raw]
    return detail


def _rows_of(values: ArrayLike, mask: np.ndarray) -> ArrayLike:
    """The rows of a column in *mask* (ids are converted for the rows kept and set aside
    apart: a million ids as text twice over is what the memory peak would be made of)."""
    if values is None:
        return None
    arr = values if isinstance(values, pa.ChunkedArray | pa.Array) else pa.array(values)
    return arr.filter(pa.array(mask))


def _ids(values: ArrayLike, n: int) -> pd.Series:
    """Incident ids as pandas strings (NA where empty), converted in Arrow, not per row."""
    if values is None:
        return pd.Series(pd.NA, index=range(n), dtype="string")
    arr = values if isinstance(values, pa.ChunkedArray | pa.Array) else pa.array(values)
    integers = pa.types.is_integer(arr.type)
    arr = pc.cast(arr, pa.string())
    if not integers:  # an integer's text is never empty
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


def _mark(reason: np.ndarray, mask: np.ndarray, code: int) -> None:
    """Record *code* for the rows in *mask* that have no reason yet."""
    reason[np.asarray(mask) & (reason == 0)] = code


@dataclass
class _ShareCheck:
    """Stop when most rows of a file fail a check: then the file, not the row, is wrong."""

    sizes: Sequence[int]  # rows of each file, in order
    checks: CoordinateChecks
    where: Callable[[int], str]

    def _first_failing(self, bad: np.ndarray, checked: np.ndarray) -> tuple[int, int, int] | None:
        """(first bad row, bad rows, checked rows) of the first file over the share, or None."""
        if not bad.any():
            return None
        for start, end in self._spans():
            n_bad = int(np.count_nonzero(bad[start:end]))
            n_checked = int(np.count_nonzero(checked[start:end]))
            if n_bad and n_checked and n_bad / n_checked > self.checks.max_bad_share:
                return start + int(np.flatnonzero(bad[start:end])[0]), n_bad, n_checked
        return None

    def _spans(self) -> list[tuple[int, int]]:
        ends = np.cumsum(self.sizes)
        return [(int(e - k), int(e)) for e, k in zip(ends, self.sizes, strict=True)]

    def _span_of(self, i: int) -> slice:
        ends = np.cumsum(self.sizes)
        g = int(np.searchsorted(ends, i, side="right"))
        return slice(int(ends[g] - self.sizes[g]), int(ends[g]))

    def month(self, bad: np.ndarray, months: pd.Categorical) -> None:
        found = self._first_failing(bad, np.ones(len(bad), dtype=bool))
        if found is None:
            return
        i, n_bad, n_checked = found
        raise DataError(
            f"{self.where(i)}: column Month holds {months[i]!r}; expected a month in the form "
            f"YYYY-MM ({n_bad} of {n_checked} rows fail). Fix the month column (e.g. 2024-04) "
            "and re-run"
        )

    def coordinates(
        self,
        bad: np.ndarray,
        located: np.ndarray,
        lonlat: Callable[[int], tuple[float, float]],
        swapped: np.ndarray,
    ) -> None:
        found = self._first_failing(bad, located)
        if found is None:
            return
        i, n_bad, n_checked = found
        a, b = lonlat(i)
        if int(np.count_nonzero(swapped[self._span_of(i)])) > n_bad / 2:
            raise DataError(
                f"{self.where(i)}: latitude and longitude look swapped (Longitude={a}, "
                f"Latitude={b}; {n_bad} of {n_checked} located rows fail): swap the two "
                "column names (or the lon/lat mapping in config/planner.toml) and re-run"
            )
        raise DataError(
            f"{self.where(i)}: coordinates outside Great Britain (Longitude={a}, "
            f"Latitude={b}; {n_bad} of {n_checked} located rows fail); expected WGS84 "
            "longitude/latitude in degrees. If the file holds eastings/northings, read it as a "
            "points_csv source with easting/northing columns and its crs"
        )


def finish(frame: SourceFrame, parts: list[Part], *, dedupe_ids: bool) -> SourceFrame:
    """Concatenate per-file parts into *frame*, removing duplicate ids if asked.

    The first record of an id (in file order) is kept; the others are counted as duplicates.
    *parts* is emptied, so that the rows before de-duplication can be let go of as soon as
    the rows kept are copied. A single part de-duplicated by :func:`canonical` is not
    looked at again.
    """
    if not parts:
        return frame
    incidents = concat_incidents([p.incidents for p in parts])
    rejects = pd.concat([empty_rejects(), *[p.rejects for p in parts]], ignore_index=True)
    read = pd.concat([p.read_by_month for p in parts]).groupby(level=0).sum().astype("int64")
    found = [p.duplicates_by_month for p in parts if p.duplicates_by_month is not None]
    done = len(parts) == 1 and len(found) == 1
    frame.points = parts[0].points if len(parts) == 1 else None  # rows as canonical left them
    parts.clear()
    if dedupe_ids and not done:
        dup = _duplicated(pa.array(incidents[s.INCIDENT_ID].array))  # Arrow-backed: no copy
        if dup.any():
            months = incidents[s.MONTH].array[dup]
            found.append(pd.Series(months).value_counts().astype("int64"))
            incidents = incidents.loc[~dup].reset_index(drop=True)
            frame.points = None
    dup_by_month = pd.Series(dtype="int64")
    if found:
        dup_by_month = pd.concat(found).groupby(level=0, observed=True).sum().astype("int64")
        dup_by_month = dup_by_month[dup_by_month > 0]  # categorical: drop empty months
    if len(dup_by_month):
        frame.warnings.append(
            f"{frame.path}: {int(dup_by_month.sum()):,} records appeared more than once (same "
            "id) and were counted once"
        )
    frame.incidents = incidents
    frame.rejects = rejects
    frame.read_by_month = read.rename_axis(s.MONTH)
    frame.duplicates_by_month = dup_by_month.rename_axis(s.MONTH)
    return frame


def _duplicated(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Rows whose id appeared in an earlier row (rows without an id are never duplicates)."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    present = ids.is_valid().to_numpy(zero_copy_only=False)
    known = ids if present.all() else ids.filter(pa.array(present))
    if pa.types.is_integer(known.type):
        keys = known.to_numpy(zero_copy_only=False)
    else:
        keys = _as_integers(known)
        if keys is None:
            keys = known.dictionary_encode().indices.to_numpy(zero_copy_only=False)
    out = np.zeros(len(ids), dtype=bool)
    out[np.flatnonzero(present)[pd.Series(keys).duplicated(keep="first").to_numpy()]] = True
    return out


def _as_integers(ids: pa.Array) -> np.ndarray | None:
    """The ids as integers if each is the plain decimal text of one, else None.

    Integers hash several times faster than text.
    """
    try:
        ints = pc.cast(ids, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if pc.all(pc.equal(pc.cast(ints, pa.string()), ids)).as_py() is False:
        return None  # "012" and "12" are different ids
    return ints.to_numpy(zero_copy_only=False)


def concat_incidents(frames: list[pd.DataFrame]) -> pd.DataFrame:
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

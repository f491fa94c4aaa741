"""Bounded work for uploads: every limit of ``planner.toml [limits]`` checked while reading.

The size limit of an upload bounds the file, not the work: a 51 MB CSV that is one header
line, a 0.8 MB zip that unpacks to a 122 MB line, a 3 MB GeoJSON holding one 150,000-vertex
polygon each cost gigabytes or minutes in pandas, GDAL or shapely. So, before those see a file:

- :func:`unzip` unpacks a zip member by member in 1 MiB pieces, counting what comes out
  against ``max_unzipped_mb`` and ``max_zip_ratio`` as it goes (a member's declared size is
  not trusted), and hands each piece to a line check;
- :class:`LineCheck` (and :func:`check_csv`) stream over a CSV's bytes: no line longer than
  ``max_line_bytes`` and a header of at most ``max_columns`` columns;
- :func:`check_json_geometry` measures a GeoJSON or TopoJSON file's nesting and vertices per
  feature (or arc) and in all from its bytes, with regular expressions and numpy, without
  building an object per value;
- :func:`check_shapefile` reads the vertex counts from a shapefile's record headers, and
  :func:`check_geopackage` bounds them from a GeoPackage's geometry sizes.

Every refusal is a :class:`~planner.errors.DataError` naming the upload (never a server
path), the limit, its key in ``planner.toml [limits]`` and the fix.
"""

from __future__ import annotations

import re
import sqlite3
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import numpy as np

from planner.config import UploadLimits
from planner.errors import DataError

__all__ = [
    "LineCheck",
    "check_csv",
    "check_geopackage",
    "check_json_geometry",
    "check_shapefile",
    "unzip",
]

_CHUNK = 1 << 20
_MB = 1e6
_WHERE = "planner.toml [limits]"
# unrolled and possessive ("normal*+ (special normal*+)*+"): an alternation inside the star
# took 18 s and 3.5 GB on one 30 MB string, and backtracking 4.7 s on an unterminated one
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_PIECE = 1 << 22
_KEPT = b"[]{},:"  # brackets and the separators between numbers
_MARKS = bytes.maketrans(b"0123456789-", b"#" * 11)
_DROP = bytes(c for c in range(256) if c not in b"0123456789-" + _KEPT)


def _limit(key: str, value: object) -> str:
    return f"the limit {key} = {value} ({_WHERE})"


class LineCheck:
    """Streamed over a CSV's bytes piece by piece: line length and the header's columns."""

    def __init__(self, label: str, limits: UploadLimits) -> None:
        self.label = label
        self.limits = limits
        self._line = 0  # bytes of the current (unfinished) line
        self._lines = 0
        self._header = b""
        self._header_done = False

    def feed(self, piece: bytes) -> None:
        """Check the next *piece* of the file (any size)."""
        start = 0
        while True:
            end = piece.find(b"\n", start)
            stop = len(piece) if end < 0 else end
            self._line += stop - start
            if not self._header_done:
                self._header += piece[start : min(stop, start + self.limits.max_line_bytes + 1)]
            if self._line > self.limits.max_line_bytes:
                self._too_long()
            if end < 0:
                return
            self._end_line()
            start = end + 1

    def close(self) -> None:
        """The file has ended: check its last line."""
        if self._line or not self._header_done:
            self._end_line()

    def _end_line(self) -> None:
        if not self._header_done:
            self._header_done = True
            columns = self._header.count(b",") + 1
            if columns > self.limits.max_columns:
                raise DataError(
                    f"{self.label}: the header line has {columns:,} columns, more than "
                    f"{_limit('max_columns', self.limits.max_columns)}; a data.police.uk street "
                    "CSV has 12. Upload the street CSV itself (or raise the limit)"
                )
        self._lines += 1
        self._line = 0

    def _too_long(self) -> None:
        which = "the header line" if not self._header_done else f"line {self._lines + 1:,}"
        most = self.limits.max_line_bytes
        raise DataError(
            f"{self.label}: {which} is longer than {most:,} bytes, {_limit('max_line_bytes', most)}"
            "; the file was refused before it was parsed. A data.police.uk street CSV line is "
            "about 200 bytes: check the file is a CSV with one record per line (not a single "
            "line, or lines ended by a lone carriage return), or raise the limit"
        )


def check_csv(path: Path, label: str, limits: UploadLimits) -> None:
    """Stream over *path* with a :class:`LineCheck`; raise :class:`DataError` at the first
    line over the limits."""
    check = LineCheck(label, limits)
    with path.open("rb") as handle:
        for piece in iter(lambda: handle.read(_CHUNK), b""):
            check.feed(piece)
    check.close()


def unzip(
    archive: zipfile.ZipFile,
    members: Iterable[zipfile.ZipInfo],
    target: Callable[[zipfile.ZipInfo], Path | None],
    *,
    label: str,
    compressed: int,
    limits: UploadLimits,
    check: Callable[[zipfile.ZipInfo], LineCheck | None] = lambda info: None,
) -> list[Path]:
    """Unpack *members* of *archive* to the paths *target* gives (None: skip), counting.

    Parameters
    ----------
    compressed
        The zip's size in bytes, for the ratio.
    check
        A line check per member (None: none), fed every piece as it is unpacked.

    Raises
    ------
    DataError
        What has come out passes ``max_unzipped_mb`` or ``max_zip_ratio`` (checked after
        every piece, so at most 1 MiB over), or a member's line check fails.
    """
    most = limits.max_unzipped_mb * _MB
    ratio_most = limits.max_zip_ratio * max(compressed, 1)
    total = 0
    written: list[Path] = []
    for info in members:
        path = target(info)
        if path is None:
            continue
        lines = check(info)
        with archive.open(info) as source, path.open("wb") as out:
            for piece in iter(lambda: source.read(_CHUNK), b""):
                total += len(piece)
                if total > most or total > max(ratio_most, _CHUNK):
                    raise _bomb(label, total, compressed, limits, total > most)
                if lines is not None:
                    lines.feed(piece)
                out.write(piece)
        if lines is not None:
            lines.close()
        written.append(path)
    return written


def _bomb(label: str, total: int, compressed: int, limits: UploadLimits, size: bool) -> DataError:
    if size:
        what = f"{limits.max_unzipped_mb:g} MB, " + _limit(
            "max_unzipped_mb", limits.max_unzipped_mb
        )
    else:
        what = f"{limits.max_zip_ratio:g} times its {compressed / _MB:,.2f} MB, " + _limit(
            "max_zip_ratio", limits.max_zip_ratio
        )
    return DataError(
        f"{label}: the zip unpacks to more than {what}; it was refused while unpacking, after "
        f"{total / _MB:,.1f} MB. Upload the CSVs themselves, or a zip of fewer months"
    )


def check_json_geometry(data: bytes, label: str, limits: UploadLimits) -> None:
    """Refuse a GeoJSON or TopoJSON file too deep or with too many vertices, from its bytes.

    Strings are removed and the rest reduced to brackets, separators and digits; numpy then
    gives the nesting depth and the numbers in each element of the top-level array (a feature
    of a FeatureCollection, an arc of a TopoJSON file; the ``objects`` of a TopoJSON file
    count as one), 4 MiB at a time. Two numbers are one vertex. It takes about the file's
    size again plus 100 MB (144 MB and 1.7 s for a 48 MB file of 2 million vertices).

    Raises
    ------
    DataError
        Deeper than ``max_nesting``, or more than ``max_vertices_per_feature`` vertices in
        one element or ``max_vertices`` in all.
    """
    deepest, numbers = _structure(data)
    if deepest > limits.max_nesting:
        raise DataError(
            f"{label}: arrays and objects nest {deepest} deep, more than "
            f"{_limit('max_nesting', limits.max_nesting)}; a ward GeoJSON nests about 7 deep. "
            "Export the boundaries again as plain GeoJSON (Polygon or MultiPolygon features)"
        )
    total = int(numbers.sum()) // 2
    per = numbers // 2
    biggest = int(per.max())
    if biggest > limits.max_vertices_per_feature:
        raise DataError(
            f"{label}: feature {int(per.argmax())} has {biggest:,} vertices, more than "
            f"{_limit('max_vertices_per_feature', limits.max_vertices_per_feature)}; London's "
            "ward files have at most a few thousand per ward. Simplify the boundaries (e.g. "
            "mapshaper -simplify 10%, or ogr2ogr -simplify 1) and upload them again"
        )
    if total > limits.max_vertices:
        raise DataError(
            f"{label}: the file has {total:,} vertices, more than "
            f"{_limit('max_vertices', limits.max_vertices)}. Simplify the boundaries (e.g. "
            "mapshaper -simplify 10%) and upload them again"
        )


def _structure(data: bytes) -> tuple[int, np.ndarray]:
    """(The deepest nesting, the numbers in each top-level element) of JSON *data*."""
    text = _STRING.sub(b"", data)
    deepest, depth, group, after_digit = 0, 0, 0, False
    numbers = np.zeros(1, dtype=np.int64)
    for start in range(0, len(text), _PIECE):
        codes = np.frombuffer(text[start : start + _PIECE].translate(_MARKS, _DROP), np.uint8)
        if not len(codes):
            continue
        opens = (codes == ord("[")) | (codes == ord("{"))
        closes = (codes == ord("]")) | (codes == ord("}"))
        level = depth + np.cumsum(opens.view(np.int8) - closes.view(np.int8), dtype=np.int32)
        digit = codes == ord("#")
        first = digit.copy()  # a number's first digit: the one before it is not a digit
        first[1:] &= ~digit[:-1]
        first[0] &= not after_digit
        element = group + np.cumsum(opens & (level == 3), dtype=np.int32)
        counts = np.bincount(element[first], minlength=int(element[-1]) + 1)
        if len(counts) > len(numbers):
            numbers = np.concatenate([numbers, np.zeros(len(counts) - len(numbers), np.int64)])
        numbers[: len(counts)] += counts
        deepest = max(deepest, int(level.max()))
        depth, group, after_digit = int(level[-1]), int(element[-1]), bool(digit[-1])
    return deepest, numbers


def check_shapefile(path: Path, label: str, limits: UploadLimits) -> None:
    """Refuse a shapefile with too many vertices, from its record headers (no geometry built).

    Raises
    ------
    DataError
        A record with more than ``max_vertices_per_feature`` points, or more than
        ``max_vertices`` in all.
    """
    total = 0
    name = f"{label} ({PurePosixPath(path.name)})"
    with path.open("rb") as shp:
        shp.seek(100)
        record = 0
        while len(head := shp.read(8)) == 8:
            length = struct.unpack(">i", head[4:8])[0] * 2
            body = shp.read(min(length, 44))
            shp.seek(length - len(body), 1)
            if len(body) >= 44 and struct.unpack("<i", body[:4])[0] in (3, 5, 13, 15, 23, 25):
                points = struct.unpack("<i", body[40:44])[0]
                total += max(points, 0)
                if points > limits.max_vertices_per_feature:
                    raise DataError(
                        f"{name}: record {record} has {points:,} vertices, more than "
                        f"{_limit('max_vertices_per_feature', limits.max_vertices_per_feature)}"
                        ". Simplify the boundaries and upload them again"
                    )
            record += 1
    if total > limits.max_vertices:
        raise DataError(
            f"{name}: the file has {total:,} vertices, more than "
            f"{_limit('max_vertices', limits.max_vertices)}. Simplify the boundaries and "
            "upload them again"
        )


def check_geopackage(path: Path, label: str, limits: UploadLimits) -> None:
    """Refuse a GeoPackage with too many vertices, from its geometry blobs' sizes.

    SQLite opens it read-only (``immutable=1``, ``trusted_schema`` off, so its views and
    triggers run no functions); a vertex is at least 16 bytes of WKB, so a blob's length / 16
    bounds its vertices. A file SQLite cannot read is left to the reader, which says why.

    Raises
    ------
    DataError
        A feature over ``max_vertices_per_feature`` (by that bound) or the file over
        ``max_vertices``.
    """
    try:
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return
    try:
        db.execute("PRAGMA trusted_schema = OFF")
        columns = db.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall()
        biggest = total = 0
        for table, column in columns:
            t, c = (str(v).replace('"', '""') for v in (table, column))
            row = db.execute(
                f'SELECT max(length("{c}")), total(length("{c}")) FROM "{t}"'
            ).fetchone()
            biggest, total = max(biggest, int(row[0] or 0)), total + int(row[1] or 0)
    except sqlite3.Error:
        return
    finally:
        db.close()
    if biggest // 16 > limits.max_vertices_per_feature:
        raise DataError(
            f"{label}: a feature holds {biggest:,} bytes of geometry, more than "
            f"{limits.max_vertices_per_feature:,} vertices, "
            f"{_limit('max_vertices_per_feature', limits.max_vertices_per_feature)}. Simplify "
            "the boundaries and upload them again"
        )
    if total // 16 > limits.max_vertices:
        raise DataError(
            f"{label}: the file holds {total:,} bytes of geometry, more than "
            f"{limits.max_vertices:,} vertices, {_limit('max_vertices', limits.max_vertices)}. "
            "Simplify the boundaries and upload them again"
        )


def zip_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged or encrypted zip member raises."""
    return (zipfile.BadZipFile, EOFError, zlib.error, OSError, RuntimeError, NotImplementedError)

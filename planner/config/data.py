"""Settings of the data-in stage: folders, datasets, categories, wards, population, downloads.

Each class is frozen and checks itself (:class:`~planner.config.build.Checked`); values come
from ``config/planner.toml``, ``categories.toml``, ``wards.toml``, ``boroughs.toml``,
``population.toml`` and ``sources.toml``, parsed by :mod:`planner.config.load`. No default here
repeats a value of those files: a field has a default only where leaving the key out of the
file means "none" (no layer, no CRS, no column mapping).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from planner import schema as s
from planner.config.build import Checked
from planner.config.plan import normalise_text

__all__ = [
    "SOURCE_KINDS",
    "CategoryMap",
    "CentroidSource",
    "CoordinateChecks",
    "CrosswalkSettings",
    "DatasetSpec",
    "ExtractRule",
    "FetchItem",
    "JoinSettings",
    "LookupSource",
    "MirrorOnly",
    "Paths",
    "PointColumns",
    "PopulationSettings",
    "SourceKind",
    "SourceSpec",
    "Sources",
    "UploadLimits",
    "WardColumns",
    "WardDetection",
    "WardsSpec",
]

SourceKind = Literal["police_uk_csv", "police_uk_api", "points_csv", "mps_ward", "mps_dashboard"]
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class Paths:
    """Where data are read from and results written (``planner.toml [paths]``)."""

    data_dir: str
    cache_dir: str
    out_dir: str


@dataclass(frozen=True)
class CrosswalkSettings(Checked):
    """``planner.toml [join.crosswalk]``: re-basing ward-coded counts onto other wards.

    A source whose ward codes are of another vintage (``boundaries = ...``) is re-based onto
    the dataset's wards through the ward x ward x LSOA intersections, weighted by the Met's
    LSOA-level crime of the same category (fitted to the target wards' own counts where a
    Met ward file on them is present), else by residents, else by area
    (:mod:`planner.ingest.crosswalk`).
    """

    method: Literal["dasymetric", "residents", "area"]
    lsoa_boundaries: str
    lsoa_code: str
    lsoa_crime: str
    target_ward_crime: str
    iterations: int
    max_unknown_ward_share: float
    error_per_moved_share: float

    def _problems(self) -> list[str]:
        found = []
        if self.iterations < 1:
            found.append(f"iterations must be a whole number >= 1, found {self.iterations}")
        for key in ("max_unknown_ward_share", "error_per_moved_share"):
            if not 0 <= getattr(self, key) <= 1:
                found.append(f"{key} must be in [0, 1], found {getattr(self, key)}")
        return found


@dataclass(frozen=True)
class JoinSettings(Checked):
    """``planner.toml [join]``: how records reach wards, and when a ward-month has data.

    Points just outside every ward go to the nearest one (``snap_distance_m``); a borough-month
    counts as covered by a point source when its records per ward are at least
    ``coverage_min_rate_ratio`` of the typical borough-month's (a source that does not cover a
    borough leaves only stray points near its edges); ward-coded counts of another vintage go
    through ``crosswalk``.
    """

    snap_distance_m: float
    coverage_min_rate_ratio: float
    crosswalk: CrosswalkSettings

    def _problems(self) -> list[str]:
        found = []
        if self.snap_distance_m < 0:
            found.append(f"snap_distance_m must be metres >= 0, found {self.snap_distance_m}")
        if not 0 < self.coverage_min_rate_ratio <= 1:
            found.append(
                f"coverage_min_rate_ratio must be in (0, 1], found {self.coverage_min_rate_ratio}"
            )
        return found


@dataclass(frozen=True)
class CoordinateChecks(Checked):
    """``planner.toml [coordinates]``: the box points must fall in, and how many may not."""

    lon_min: float
    lon_max: float
    lat_min: float
    lat_max: float
    max_bad_share: float

    def _problems(self) -> list[str]:
        found = []
        if not (self.lon_min < self.lon_max and self.lat_min < self.lat_max):
            found.append("lon_min/lat_min must be below lon_max/lat_max")
        if not 0 <= self.max_bad_share <= 1:
            found.append(f"max_bad_share must be in [0, 1], found {self.max_bad_share}")
        return found


@dataclass(frozen=True)
class UploadLimits(Checked):
    """``planner.toml [limits]``: the most work one uploaded file may cause (issue 14).

    Each limit is checked while the file is read (a zip while it is unpacked, a CSV's lines
    before pandas sees them, a GeoJSON's vertices before shapely builds a geometry), and the
    parse runs in a worker process held to ``parse_timeout_s`` and ``parse_memory_mb``. The
    defaults are the shipped ones: a configuration without the table gets them.
    """

    max_unzipped_mb: float = 250.0
    max_zip_ratio: float = 50.0
    max_zip_members: int = 1_000
    max_line_bytes: int = 65_536
    max_columns: int = 200
    max_vertices_per_feature: int = 100_000
    max_vertices: int = 5_000_000
    max_nesting: int = 20
    parse_timeout_s: float = 60.0
    parse_memory_mb: int = 3_072
    max_archive_mb: float = 1024.0  # a .tar.gz / .tar source archive in ingest, inflated
    max_archive_member_mb: float = 256.0
    max_archive_ratio: float = 100.0

    def _problems(self) -> list[str]:
        found = []
        for name in (
            "max_unzipped_mb", "max_zip_ratio", "max_zip_members", "max_line_bytes",
            "max_columns", "max_vertices_per_feature", "max_vertices", "max_nesting",
            "parse_timeout_s", "max_archive_mb", "max_archive_member_mb", "max_archive_ratio",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                found.append(f"{name} must be above 0, found {getattr(self, name)}")
        if self.parse_memory_mb < 1024:
            found.append(
                f"parse_memory_mb must be at least 1024 (the worker's libraries alone take "
                f"about 500 MB of address space), found {self.parse_memory_mb}"
            )
        return found


@dataclass(frozen=True)
class WardColumns:
    """An explicit column mapping for a ward file whose columns are not detected."""

    ward_code: str
    ward_name: str
    borough_code: str | None = None
    borough_name: str | None = None


@dataclass(frozen=True)
class WardsSpec:
    """A dataset's ward boundary file."""

    path: str
    layer: str | None = None
    crs: str | None = None  # only used when the file itself has no CRS
    columns: WardColumns | None = None
    boroughs: str | None = None  # borough boundary file, for ward files without a borough column


@dataclass(frozen=True)
class PointColumns(Checked):
    """Columns of a generic points CSV: lon/lat (WGS84) or easting/northing (``crs``)."""

    month: str
    category: str
    incident_id: str | None = None
    subcategory: str | None = None
    lon: str | None = None
    lat: str | None = None
    easting: str | None = None
    northing: str | None = None
    crs: str = "EPSG:4326"  # the CRS of lon/lat; easting/northing files name theirs

    def _problems(self) -> list[str]:
        lonlat = self.lon is not None and self.lat is not None
        en = self.easting is not None and self.northing is not None
        return [] if lonlat or en else ["give lon and lat, or easting and northing columns"]


@dataclass(frozen=True)
class SourceSpec(Checked):
    """One source of a dataset: a reader kind and a path under the data folder.

    Optional keys (each absent means "none"): ``categories`` (take only these police.uk
    categories from the source) or ``exclude`` (take all but these); ``months`` (first and
    last month taken, ``YYYY-MM``); ``boundaries`` (the ward boundary file of the vintage of a
    ward-coded source's codes: its counts are re-based onto the dataset's wards);
    ``optional`` (true: read when present, its absence stated in the quality report).
    Records a source does not take are set aside with their reason, never dropped.
    """

    kind: SourceKind
    path: str
    columns: PointColumns | None = None  # points_csv only
    categories: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    months: tuple[str, ...] | None = None
    boundaries: str | None = None
    optional: bool = False

    def _problems(self) -> list[str]:
        found = []
        if self.kind == "points_csv" and self.columns is None:
            found.append("a points_csv source needs a columns table")
        if self.categories is not None and self.exclude is not None:
            found.append("give categories (taken) or exclude (left out), not both")
        for key in ("categories", "exclude"):
            names = getattr(self, key) or ()
            unknown = [n for n in names if n not in s.CATEGORIES]
            if unknown:
                found.append(
                    f"{key} {unknown} are not police.uk categories ({', '.join(s.CATEGORIES)})"
                )
        if self.months is not None:
            ok = len(self.months) == 2 and all(_MONTH.fullmatch(m) for m in self.months)
            if not ok or self.months[0] > self.months[1]:
                found.append(
                    f'months should be ["first", "last"] as YYYY-MM, first <= last, found '
                    f"{list(self.months)}"
                )
        if self.boundaries is not None and self.kind != "mps_ward":
            found.append("boundaries (the vintage of ward codes) applies to mps_ward sources")
        return found

    def takes(self, category: str) -> bool:
        """Does this source take records of *category*?"""
        if self.categories is not None:
            return category in self.categories
        return self.exclude is None or category not in self.exclude


@dataclass(frozen=True)
class DatasetSpec:
    """A ward boundary file plus the sources that feed ward_counts."""

    name: str
    description: str
    wards: WardsSpec
    sources: tuple[SourceSpec, ...]
    default: bool = False


@dataclass(frozen=True)
class CategoryMap:
    """Source names -> the 14 police.uk categories (``config/categories.toml``).

    Keys are normalised (:func:`planner.config.normalise_name`).
    """

    csv: Mapping[str, str]
    api: Mapping[str, str]
    mps_minor: Mapping[str, tuple[str, str]]  # "MAJOR | MINOR" -> (category or "", subcategory)
    mps_dashboard: Mapping[str, str]  # "type | subtype" -> measure
    mps_major: Mapping[str, tuple[str, str]]  # "MAJOR" -> fallback for an unlisted minor
    max_unknown_share: float  # of a source's records; more unknown names stop ingest

    def mps_pair(self, major: str, minor: str) -> tuple[tuple[str, str] | None, str]:
        """The ``(category, subcategory)`` of a Met ``MAJOR | MINOR`` pair, and how it was found.

        Matching ignores case and runs of spaces. Older Met files cut each name at
        :data:`CUT_AT` characters: a name at least that long (less a trailing space) also
        matches the one configured name that starts with it. An unlisted minor of a listed
        major takes the major's fallback (``[mps.major]``). How: ``"exact"``, ``"cut"``,
        ``"fallback"`` or ``"unknown"`` (then the target is None).
        """
        key = f"{normalise_text(major)} | {normalise_text(minor)}"
        if key in self.mps_minor:
            return self.mps_minor[key], "exact"
        hits = {
            k for k in self.mps_minor if _same_or_cut(major, k.partition(" | ")[0])
            and _same_or_cut(minor, k.partition(" | ")[2])
        }  # fmt: skip
        if len(hits) == 1:
            return self.mps_minor[hits.pop()], "cut"
        majors = [k for k in self.mps_major if _same_or_cut(major, k)]
        if len(majors) == 1:
            return self.mps_major[majors[0]], "fallback"
        return None, "unknown"


CUT_AT = 49
"""Names of at least this many characters may have been cut (the Met cut them at 50, and a
cut after a space loses the space when the name is trimmed)."""


def _same_or_cut(given: str, configured: str) -> bool:
    """Is *given* the *configured* (normalised) name, or that name cut short?"""
    name = normalise_text(given)
    if name == configured:
        return True
    return len(given.strip()) >= CUT_AT and configured.startswith(name)


@dataclass(frozen=True)
class WardDetection:
    """``config/wards.toml``: column names tried, in order, for each field of a ward file."""

    ward_code: tuple[str, ...]
    ward_name: tuple[str, ...]
    borough_code: tuple[str, ...]
    borough_name: tuple[str, ...]
    borough_file_code: tuple[str, ...]
    borough_file_name: tuple[str, ...]


# --- population ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LookupSource:
    """Residents by small area, summed to wards through a best-fit lookup."""

    population: str
    population_code: str
    population_value: str
    lookup: str
    lookup_code: str
    lookup_ward: str
    population_borough: str | None = None
    year: int | None = None


@dataclass(frozen=True)
class CentroidSource:
    """Residents by small area, each area given to the ward holding its representative point."""

    areas: str
    area_code: str
    population_value: str
    snap_distance_m: float
    area_borough: str | None = None
    year: int | None = None


@dataclass(frozen=True)
class PopulationSettings(Checked):
    """``config/population.toml``: how residents per ward are counted."""

    method: Literal["auto", "lookup", "centroid"]
    auto_min_share: float
    min_plausible: float
    unseparable_boroughs: tuple[str, ...]
    lookup: LookupSource
    centroid: CentroidSource

    def _problems(self) -> list[str]:
        if not 0 <= self.auto_min_share <= 1:
            return [f"auto_min_share must be in [0, 1], found {self.auto_min_share}"]
        return []


# --- downloads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractRule:
    """Which members of a downloaded archive go where.

    ``member`` is a glob over member names (:func:`fnmatch.fnmatchcase`; ``*`` also matches
    ``/``). ``to`` is a path under the data folder; ending in ``/`` it is a folder and each
    member keeps its file name, otherwise exactly one member must match.
    """

    member: str
    to: str


@dataclass(frozen=True)
class FetchItem:
    """One official file (or archive) from ``config/sources.toml``."""

    name: str
    url: str
    publisher: str
    licence: str
    description: str
    dest: str | None = None
    page: str | None = None
    api: str | None = None
    resource: str | None = None
    archive: str | None = None
    extract: tuple[ExtractRule, ...] = ()
    query: str | None = None
    sha256: str | None = None
    optional: bool = False

    @property
    def targets(self) -> tuple[str, ...]:
        """The paths (or folders, ending in ``/``) this item writes under the data folder."""
        return ((self.dest,) if self.dest else ()) + tuple(r.to for r in self.extract)


@dataclass(frozen=True)
class MirrorOnly:
    """A file that only a local mirror provides (``sources.toml [local] mirror_only``)."""

    path: str
    note: str


@dataclass(frozen=True)
class Sources:
    """``config/sources.toml``: every download, and what only a mirror has."""

    items: tuple[FetchItem, ...]
    mirror_only: tuple[MirrorOnly, ...] = field(default=())
    description: str = ""

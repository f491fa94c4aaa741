"""Incidents -> wards: the spatial join.

Rules (documented in the README):

- Coordinates are joined once per distinct point: police.uk locations are
  anonymised map points, so ~45k points carry ~1.5M records.
- A point inside or on the boundary of a ward belongs to it. A point on an edge
  shared by several wards (or a vertex shared by more) goes to the ward with the
  lowest ward code among them: fixed, and independent of row order.
- A point outside every ward but within ``snap_distance_m`` of one goes to the
  nearest ward (ties: lowest ward code) and is counted as ``nearest``.
- Anything farther is rejected with reason ``outside_every_ward`` and its distance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import schema as s
from planner.ingest.sources.base import PointCodes, empty_rejects

__all__ = ["JoinResult", "PointCache", "assign_points", "join_incidents"]

log = logging.getLogger(__name__)


@dataclass
class JoinResult:
    """Incidents with their ward, and the ones that found none.

    Attributes
    ----------
    incidents
        The input rows that were placed, plus ``ward_code`` and ``how``
        (``inside`` or ``nearest``).
    rejects
        Rows outside every ward beyond the snap distance (``schema.REJECT_COLUMNS``).
    distinct_points
        How many distinct coordinates were joined.
    """

    incidents: pd.DataFrame
    rejects: pd.DataFrame
    distinct_points: int


def assign_points(
    x: np.ndarray, y: np.ndarray, wards: gpd.GeoDataFrame, *, snap_distance_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign each point (EPSG:27700) to one ward.

    Parameters
    ----------
    x, y
        Eastings and northings; call with distinct points.
    wards
        Ward polygons indexed by ward code, in EPSG:27700.
    snap_distance_m
        Points outside every ward within this distance go to the nearest ward.

    Returns
    -------
    ward_position, how, distance
        Position of the ward in ``wards.index`` (-1 where none), ``"inside"`` /
        ``"nearest"`` / ``""``, and the distance to the nearest ward (0 inside).
    """
    order = np.argsort(wards.index.to_numpy(dtype=str), kind="stable")  # lowest code first
    geoms = wards.geometry.to_numpy()[order]
    points = shapely.points(x, y)
    n = len(points)
    position = np.full(n, -1, dtype=np.int64)
    how = np.full(n, "", dtype=object)
    distance = np.zeros(n, dtype="float64")

    # the tree on the points, queried by each ward: a ward is prepared once for all the points
    # near it (four times faster than testing each point against its candidate wards)
    geom_idx, pt_idx = shapely.STRtree(points).query(geoms, predicate="intersects")
    if len(pt_idx):
        best = pd.Series(geom_idx).groupby(pt_idx).min()  # shared edge: lowest ward code
        position[best.index.to_numpy()] = best.to_numpy()
        how[best.index.to_numpy()] = s.JOINED_INSIDE

    outside = np.flatnonzero(position < 0)
    if len(outside):
        tree = shapely.STRtree(geoms)
        p_idx, g_idx = tree.query_nearest(points[outside], all_matches=True)
        nearest = pd.Series(g_idx).groupby(p_idx).min()
        rows = outside[nearest.index.to_numpy()]
        d = shapely.distance(points[rows], geoms[nearest.to_numpy()])
        distance[rows] = d
        near = d <= snap_distance_m
        position[rows[near]] = nearest.to_numpy()[near]
        how[rows[near]] = s.JOINED_NEAREST
    mapped = np.where(position >= 0, order[np.maximum(position, 0)], -1)
    return mapped, how, distance


class PointCache:
    """Distinct points already assigned to wards, kept between calls of :func:`join_incidents`.

    A source read month by month meets the same anonymised map points every month: with a
    cache each is joined once, not once a month. The cache holds for one ward table and snap
    distance; given others it starts again.
    """

    def __init__(self) -> None:
        self._reset(None)

    def _reset(self, key: tuple[int, float] | None) -> None:
        self._for = key
        self._keys = pd.Index(np.empty(0, dtype=complex))
        self._position = np.empty(0, dtype=np.int64)
        self._how = np.empty(0, dtype=object)
        self._distance = np.empty(0, dtype="float64")

    def assign(
        self, x: np.ndarray, y: np.ndarray, wards: gpd.GeoDataFrame, *, snap_distance_m: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :func:`assign_points`, joining only the points not met before."""
        if self._for != (id(wards), snap_distance_m):
            self._reset((id(wards), snap_distance_m))
        keys = x + 1j * y
        at = self._keys.get_indexer(keys)
        new = at < 0
        if new.any():
            position, how, distance = assign_points(
                x[new], y[new], wards, snap_distance_m=snap_distance_m
            )
            at[new] = len(self._keys) + np.arange(int(new.sum()))
            self._keys = self._keys.append(pd.Index(keys[new]))
            self._position = np.concatenate([self._position, position])
            self._how = np.concatenate([self._how, how])
            self._distance = np.concatenate([self._distance, distance])
        return self._position[at], self._how[at], self._distance[at]


def join_incidents(
    incidents: pd.DataFrame,
    wards: gpd.GeoDataFrame,
    *,
    snap_distance_m: float,
    points: PointCache | None = None,
    distinct: PointCodes | None = None,
) -> JoinResult:
    """Join canonical incident rows to wards, one distinct coordinate at a time.

    Parameters
    ----------
    incidents
        Rows with ``schema.INCIDENT_COLUMNS`` (x/y in EPSG:27700, no missing values:
        readers reject rows without coordinates).
    wards
        Ward polygons indexed by ``ward_code`` in EPSG:27700.
    snap_distance_m
        See :func:`assign_points`.
    points
        Points joined by earlier calls on the same wards (:class:`PointCache`), reused and
        added to.
    distinct
        The rows' distinct points, when the reader found them (they are not looked for again).

    Returns
    -------
    JoinResult
    """
    if incidents.empty:
        out = incidents.assign(**{s.WARD_CODE: pd.Series(dtype="string"), "how": ""})
        return JoinResult(out, empty_rejects(), 0)
    if distinct is not None and len(distinct.codes) == len(incidents):
        codes, ux, uy = distinct.codes, distinct.x, distinct.y
    else:
        x = incidents[s.X].to_numpy(dtype="float64")
        y = incidents[s.Y].to_numpy(dtype="float64")
        pairs = np.empty(len(x), dtype=np.complex128)  # one key per point: fast hashing
        pairs.real, pairs.imag = x, y
        codes, uniq = pd.factorize(pairs)
        del pairs
        ux, uy = uniq.real, uniq.imag
    assign = assign_points if points is None else points.assign
    position, how, distance = assign(ux, uy, wards, snap_distance_m=snap_distance_m)
    row_pos = position[codes]
    placed = row_pos >= 0
    # every row placed (the usual case): a new frame on the same columns, not a copy of them
    joined = incidents.copy(deep=False) if placed.all() else incidents.loc[placed]
    ward_codes = wards.index.to_numpy(dtype=object)
    joined[s.WARD_CODE] = _categorical(row_pos[placed], ward_codes)
    how_labels, how_codes = np.unique(how.astype(str), return_inverse=True)  # per point: few
    joined["how"] = _categorical(how_codes[codes][placed], how_labels.astype(object))

    lost = incidents.loc[~placed]
    rejects = pd.DataFrame(
        {
            s.SOURCE: lost[s.SOURCE].astype("string").to_numpy(),
            s.SOURCE_ROW: lost[s.SOURCE_ROW].to_numpy(),
            s.INCIDENT_ID: lost[s.INCIDENT_ID].astype("string").to_numpy(),
            s.MONTH: lost[s.MONTH].astype("string").to_numpy(),
            s.CATEGORY: lost[s.CATEGORY].astype("string").to_numpy(),
            s.REASON: s.REASON_OUTSIDE_WARDS,
            s.DETAIL: [
                f"{d:,.0f} m from the nearest ward (limit {snap_distance_m:,.0f} m)"
                for d in distance[codes][~placed]
            ],
            s.COUNT: 1,
        }
    )
    log.info(
        "joined %d records at %d distinct points: %d inside, %d nearest, %d outside",
        len(incidents),
        len(ux),
        int((joined["how"] == s.JOINED_INSIDE).sum()),
        int((joined["how"] == s.JOINED_NEAREST).sum()),
        len(rejects),
    )
    return JoinResult(joined, pd.concat([empty_rejects(), rejects], ignore_index=True), len(ux))


def _categorical(codes: np.ndarray, labels: np.ndarray) -> pd.Categorical:
    """``pd.Categorical(labels[codes])`` (the labels used, sorted), built from the codes.

    A million rows carry a few hundred wards: the categories come from the distinct codes,
    not from hashing a million strings.
    """
    used = np.flatnonzero(np.bincount(codes, minlength=len(labels)))
    names = labels[used]
    order = np.argsort(names, kind="stable")
    rank = np.zeros(len(labels), dtype=np.int64)
    rank[used[order]] = np.arange(len(used))
    return pd.Categorical.from_codes(rank[codes], categories=pd.Index(list(names[order])))

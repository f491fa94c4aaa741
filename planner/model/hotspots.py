"""Hot spots of ward harm: Getis-Ord Gi* on ward contiguity, with a false-discovery-rate test.

A ward is a *hot spot* when it and its neighbours together hold significantly more of the value
(e.g. harm) than a random arrangement of the same values would give it, a *cold spot* when
significantly less (Getis & Ord 1992; Ord & Getis 1995, the Gi* form that counts the ward
itself). Significance comes from conditional permutation (esda's ``p_sim``, seeded), made
two-sided and corrected across wards with Benjamini & Hochberg (1995) q-values.

Neighbours are built geometrically from the EPSG:27700 polygons (shapely), not from shared
vertices as libpysal's ``Queen/Rook.from_dataframe`` do: published boundaries have slivers and
gaps. Queen: wards whose polygons lie within ``snap_m`` metres (default 1 m). Rook: those that
also share an edge, not just a corner (see :func:`_rook`). On the May 2022 London wards
vertex-based contiguity misses Castle Baynard (City) - Holborn & Covent Garden (Camden), which
overlap by a sliver; on the 2014 wards Lea Bridge - Springfield, 0.57 m apart across the River
Lea; otherwise the two agree pair for pair. Neither set has an island, and each has one
single-neighbour ward (Chessington South, Kingston, on the Surrey edge). In the 2022 file
(clipped to the coastline) the tidal Thames separates the banks: from Hammersmith - Barnes to
the estuary no ward links across it; in the 2014 file wards meet mid-river and do.

Islands, where they occur (a subset of wards, other boundaries), are joined to their
``island_k`` nearest wards by centroid distance, both ways; single-neighbour wards are
flagged, since their Gi* rests on two wards. Settings and sources are in ``config/hotspots.toml``.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.config import HotSpotSettings
from planner.errors import DataError
from planner.model.stats import benjamini_hochberg
from planner.schema import WARD_CODE, WORKING_CRS

__all__ = ["HOT_SPOT_CLASSES", "HotSpots", "hot_spots"]

logger = logging.getLogger(__name__)

Contiguity = Literal["queen", "rook"]
HOT, COLD, NOT_SIGNIFICANT = "hot spot", "cold spot", "not significant"
HOT_SPOT_CLASSES = (HOT, COLD, NOT_SIGNIFICANT)
_CONFIDENCE_LEVELS = (99.0, 95.0, 90.0)  # percent, as in the usual Gi* confidence bins
_LIBPYSAL_NOISE = (  # warnings the weights classes raise about islands and components
    r".*islands?.*",
    r".*not fully connected.*",
    r".*disconnected components.*",
    r".*alternative hypothesis.*",  # esda's crand: we double the directed p-value ourselves
    r"invalid value encountered in divide",  # Gi* of a ward whose neighbourhood is every ward
)


@dataclass(frozen=True)
class HotSpots:
    """Gi* hot spots: the per-ward ``table`` and the run's ``report`` (settings, counts)."""

    table: pd.DataFrame
    report: dict[str, Any]

    @property
    def classes(self) -> pd.Series:
        """``hot spot``, ``cold spot`` or ``not significant`` per ward."""
        return self.table["hot_spot"]


def hot_spots(
    values: pd.Series,
    wards: gpd.GeoDataFrame,
    settings: HotSpotSettings,
) -> HotSpots:
    """Classify wards as hot spots, cold spots or not significant by Getis-Ord Gi*.

    Wards are processed in ward-code order, so the row order of the inputs never changes a
    result; the same seed gives the same table. The two-sided permutation p-value is
    ``p_value = min(1, 2 * p_sim)``, where ``p_sim`` is esda's pseudo p-value in the direction
    observed; its smallest possible value is ``2 / (permutations + 1)``. With ``fdr`` a ward is
    significant when its Benjamini-Hochberg ``q_value <= alpha``, otherwise when
    ``p_value <= alpha``; the sign of ``gi_z`` says hot or cold.

    Parameters
    ----------
    values
        Value per ward (e.g. harm), indexed by ward code: finite, >= 0, not all equal, one per
        ward of *wards* and no others.
    wards
        Ward polygons indexed by ward code (as :func:`planner.ingest.sources.wards.read_wards`); any
        CRS, projected to EPSG:27700.
    settings
        Permutations, significance level and correction, seed, contiguity rule, snapping
        distance and island neighbours (``config.hotspots``).

    Returns
    -------
    HotSpots
        ``table`` indexed by ward code in the order of *values*: ``value``, ``gi_z`` (the
        Gi* z-score; NaN, with ``p_value`` 1, for a ward whose neighbourhood holds every
        ward), ``p_sim``, ``p_value``, ``q_value``, ``hot_spot`` (one of :data:`HOT_SPOT_CLASSES`),
        ``confidence`` (percent: the strictest of 99, 95, 90 and ``100 * (1 - alpha)`` that a
        significant ward meets, else 0), ``neighbours``, ``island`` and ``single_neighbour``;
        ``report`` a JSON-serialisable dict with the settings, link counts,
        islands, single-neighbour wards, components, counts of hot and cold spots (with and
        without the correction) and the seconds taken.

    Raises
    ------
    DataError
        *values* or *wards* cannot be used (misaligned codes, missing or negative values,
        missing geometry or CRS).
    """
    started = time.perf_counter()
    y, geoms = _check_inputs(values, wards, settings)
    codes = y.index.to_numpy()
    links, link_report = _contiguity(geoms, settings)
    no_neighbour = np.bincount(links.ravel(), minlength=len(codes)) == 0
    links = _attach_islands(links, geoms, np.flatnonzero(no_neighbour), settings.island_k)
    gi_z, p_sim = _gi_star(y.to_numpy(float), links, settings)
    table = _classify(y, gi_z, p_sim, links, no_neighbour, settings)
    report = _report(table, links, link_report, settings, time.perf_counter() - started)
    return HotSpots(table.loc[values.index], report)


# --- private steps -----------------------------------------------------------------------


def _real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)


def _codes(codes: pd.Index, limit: int = 20) -> str:
    shown = ", ".join(map(str, codes[:limit]))
    return shown + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


def _check_inputs(
    values: pd.Series, wards: gpd.GeoDataFrame, settings: HotSpotSettings
) -> tuple[pd.Series, np.ndarray]:
    """Values and EPSG:27700 geometries, both sorted by ward code; every problem raised once."""
    if not isinstance(values, pd.Series):
        raise DataError(f"values must be a pandas Series indexed by ward_code, got {type(values)}")
    if not isinstance(wards, gpd.GeoDataFrame):
        raise DataError(f"wards must be a GeoDataFrame indexed by ward_code, got {type(wards)}")
    if wards.crs is None:
        raise DataError(
            "wards have no CRS; expected one (the planner never guesses). Read them with "
            "planner.ingest.sources.wards.read_wards, or set_crs first."
        )
    problems = []
    for name, index in (("values", values.index), ("wards", wards.index)):
        dup = index[index.duplicated()].unique()
        if len(dup):
            problems.append(f"{name} repeat ward code(s) {_codes(dup)}")
    missing = wards.index.difference(values.index)
    extra = values.index.difference(wards.index)
    if len(missing):
        problems.append(f"{len(missing)} ward(s) have no value: {_codes(missing)}")
    if len(extra):
        problems.append(f"{len(extra)} value(s) for codes that are not wards: {_codes(extra)}")
    numeric = pd.to_numeric(values, errors="coerce").astype(float)
    bad = values.index[~np.isfinite(numeric.to_numpy())]
    if len(bad):
        problems.append(f"{len(bad)} value(s) missing or not finite numbers: {_codes(bad)}")
    negative = values.index[numeric.to_numpy() < 0]
    if len(negative):
        problems.append(
            f"{len(negative)} negative value(s) (Gi* needs values >= 0): {_codes(negative)}"
        )
    if problems:
        raise DataError(
            "hot spots need one finite value >= 0 for every ward and no other codes; found "
            + "; ".join(problems)
            + ". Align the values to the wards (values.reindex(wards.index)) and fill or "
            "investigate the gaps."
        )
    if len(values) <= settings.island_k or numeric.nunique() < 2:
        raise DataError(
            f"hot spots need more than island_k={settings.island_k} wards and values that "
            f"differ; found {len(values)} ward(s) and {numeric.nunique()} distinct value(s)."
        )
    y = numeric.sort_index().rename_axis(WARD_CODE)
    geoms = np.asarray(wards.geometry.to_crs(WORKING_CRS).loc[y.index].array, dtype=object)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        raise DataError(f"wards without a geometry: {_codes(y.index[empty])}; fix the file.")
    return y, geoms


def _contiguity(geoms: np.ndarray, settings: HotSpotSettings) -> tuple[np.ndarray, dict]:
    """Neighbour pairs (i < j) as an (m, 2) array, and counts for the report."""
    tree = shapely.STRtree(geoms)
    if settings.snap_m > 0:
        i, j = tree.query(geoms, predicate="dwithin", distance=settings.snap_m)
    else:
        i, j = tree.query(geoms, predicate="intersects")
    upper = i < j
    i, j = i[upper], j[upper]
    touching = shapely.intersects(geoms[i], geoms[j])
    keep = (
        _rook(geoms, i, j, settings.snap_m)
        if settings.contiguity == "rook"
        else np.ones(i.size, bool)
    )
    report = {
        "pairs_in_contact": int(i.size),
        "pairs_bridged_by_snap": int((~touching & keep).sum()),
        "corner_contacts_dropped": int((~keep).sum()),
    }
    return np.column_stack([i[keep], j[keep]]), report


def _rook(geoms: np.ndarray, i: np.ndarray, j: np.ndarray, snap_m: float) -> np.ndarray:
    """Whether each pair shares an edge, not just a corner.

    Pairs that touch cleanly need a common boundary of positive length; pairs that meet only
    through the snap tolerance (gaps) or overlap (slivers) need more than ``4 * snap_m`` of
    one's boundary within ``snap_m`` of the other (a right-angled corner gives about
    ``2 * snap_m``).
    """
    edge = np.zeros(i.size, bool)
    clean = shapely.touches(geoms[i], geoms[j])
    common = shapely.intersection(
        shapely.boundary(geoms[i[clean]]), shapely.boundary(geoms[j[clean]])
    )
    edge[clean] = shapely.length(common) > 0
    rest = np.flatnonzero(~clean)
    if rest.size:
        a, b = geoms[i[rest]], geoms[j[rest]]
        near_a, near_b = (
            (shapely.buffer(a, snap_m), shapely.buffer(b, snap_m)) if snap_m > 0 else (a, b)
        )
        shared = np.maximum(
            shapely.length(shapely.intersection(shapely.boundary(a), near_b)),
            shapely.length(shapely.intersection(shapely.boundary(b), near_a)),
        )
        edge[rest] = shared > 4 * snap_m
    return edge


def _attach_islands(
    links: np.ndarray, geoms: np.ndarray, islands: np.ndarray, k: int
) -> np.ndarray:
    """Join each island to its k nearest wards by centroid distance, both ways."""
    from scipy.spatial import KDTree  # scipy, esda and libpysal: the optional "model" extra

    if islands.size == 0:
        return links
    centroids = shapely.get_coordinates(shapely.centroid(geoms))
    _, nearest = KDTree(centroids).query(centroids[islands], k=k + 1)  # the first is itself
    nearest = np.asarray(nearest).reshape(islands.size, k + 1)
    added = [(a, b) for a, row in zip(islands, nearest, strict=True) for b in row[row != a][:k]]
    pairs = np.sort(np.array(added), axis=1)
    return np.unique(np.vstack([links, pairs]), axis=0)


def _gi_star(y: np.ndarray, links: np.ndarray, settings: HotSpotSettings) -> tuple:
    """Gi* z-scores and esda's directed pseudo p-values, on binary weights with self-weight 1."""
    from esda import G_Local
    from libpysal.weights import W

    n = y.size
    neighbours = {a: [] for a in range(n)}
    for a, b in links:
        neighbours[int(a)].append(int(b))
        neighbours[int(b)].append(int(a))
    state = np.random.get_state()  # esda seeds numpy's global generator; give it back
    try:
        with warnings.catch_warnings():
            for message in _LIBPYSAL_NOISE:
                warnings.filterwarnings("ignore", message=message)
            w = W(neighbours, id_order=list(range(n)), silence_warnings=True)
            gi = G_Local(
                y,
                w,
                transform="B",
                permutations=settings.permutations,
                star=True,
                keep_simulations=False,
                n_jobs=1,
                seed=settings.seed,
            )
    finally:
        np.random.set_state(state)
    return np.asarray(gi.Zs, float), np.asarray(gi.p_sim, float)


def _classify(
    y: pd.Series,
    gi_z: np.ndarray,
    p_sim: np.ndarray,
    links: np.ndarray,
    island: np.ndarray,
    settings: HotSpotSettings,
) -> pd.DataFrame:
    undefined = ~np.isfinite(gi_z)  # the neighbourhood holds every ward: nothing to compare
    p_value = np.where(undefined, 1.0, np.minimum(1.0, 2 * p_sim))
    q_value = benjamini_hochberg(p_value)
    tested = q_value if settings.fdr else p_value
    significant = tested <= settings.alpha
    label = np.where(significant, np.where(gi_z > 0, HOT, COLD), NOT_SIGNIFICANT)
    lowest = round(100 * (1 - settings.alpha), 6)  # every significant ward reaches it
    levels = sorted({lowest, *(c for c in _CONFIDENCE_LEVELS if c >= lowest)})
    confidence = np.zeros(y.size)
    for level in levels:  # ascending: the strictest level met wins
        confidence[significant & (tested <= 1 - level / 100 + 1e-12)] = level
    neighbours = np.bincount(links.ravel(), minlength=y.size)
    return pd.DataFrame(
        {
            "value": y.to_numpy(),
            "gi_z": gi_z,
            "p_sim": p_sim,
            "p_value": p_value,
            "q_value": q_value,
            "hot_spot": pd.Categorical(label, categories=HOT_SPOT_CLASSES),
            "confidence": confidence,
            "neighbours": neighbours,
            "island": island,
            "single_neighbour": neighbours == 1,
        },
        index=y.index,
    )


def _report(
    table: pd.DataFrame,
    links: np.ndarray,
    link_report: dict,
    settings: HotSpotSettings,
    seconds: float,
) -> dict[str, Any]:
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    n = len(table)
    graph = coo_array((np.ones(len(links)), (links[:, 0], links[:, 1])), shape=(n, n))
    components = int(connected_components(graph, directed=False)[0])
    islands = table.index[table["island"]]
    single = table.index[table["single_neighbour"]]
    labels = table["hot_spot"]
    report = {
        **settings.options(),
        "wards": n,
        "links": len(links),
        **link_report,
        "mean_neighbours": round(float(table["neighbours"].mean()), 3),
        "islands": len(islands),
        "island_ward_codes": [str(c) for c in islands],
        "single_neighbour": len(single),
        "single_neighbour_ward_codes": [str(c) for c in single],
        "components": components,
        "undefined_gi_z": int(table["gi_z"].isna().sum()),
        "min_p_value": 2 / (settings.permutations + 1),
        "hot_spots": int((labels == HOT).sum()),
        "cold_spots": int((labels == COLD).sum()),
        "significant_uncorrected": int((table["p_value"] <= settings.alpha).sum()),
        "significant_fdr": int((table["q_value"] <= settings.alpha).sum()),
        "seconds": round(seconds, 3),
    }
    if islands.size:
        logger.warning(
            "hot spots: %d ward(s) with no neighbour joined to their %d nearest: %s",
            len(islands),
            settings.island_k,
            _codes(islands),
        )
    if report["min_p_value"] > settings.alpha:
        logger.warning(
            "hot spots: %d permutations cannot reach p <= %s; no ward can be significant",
            settings.permutations,
            settings.alpha,
        )
    logger.info(
        "hot spots: %d wards, %d links, %d islands, %d single-neighbour, %d hot, %d cold (%.2f s)",
        n,
        len(links),
        len(islands),
        len(single),
        report["hot_spots"],
        report["cold_spots"],
        seconds,
    )
    return report

"""Resident population per ward: the denominator of every rate.

Two methods, configured in ``config/population.toml``:

- ``lookup``: small-area populations summed to wards through a best-fit lookup (Census 2021 by
  LSOA 2021 and the GLA LSOA 2021 -> Ward 2022 lookup: the May 2022 wards);
- ``centroid``: each small area given whole to the ward holding its representative point, in
  EPSG:27700 (Census 2011 by LSOA 2011: any other ward vintage).

Wards that cannot get an honest figure (the City of London's, a ward no small area falls in)
get NaN, never an invented number; the report of :class:`Population` says which and why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import CentroidSource, LookupSource, PlannerConfig
from planner.errors import ConfigError, DataError

__all__ = ["Population", "ward_population"]

logger = logging.getLogger(__name__)

_METHODS = ("auto", "lookup", "centroid")


@dataclass(frozen=True)
class Population:
    """Residents per ward (``values``, NaN where no honest figure exists) and the ``report``:
    method, year, sources, totals, the wards without a population with the reason for each,
    implausibly small wards, unassigned small areas."""

    values: pd.Series
    report: dict[str, Any]


def ward_population(
    config: PlannerConfig,
    wards: gpd.GeoDataFrame,
    *,
    method: Literal["auto", "lookup", "centroid"] = "auto",
) -> Population:
    """Usual residents per ward, aligned to *wards*.

    Parameters
    ----------
    config
        Planner configuration; paths resolve against its data folder.
    wards
        Indexed by ward_code; ``borough_code`` is used where present, geometry for ``centroid``.
    method
        ``"lookup"`` or ``"centroid"``; ``"auto"`` takes the configured method, and where that
        is ``"auto"`` too, ``lookup`` when at least ``auto_min_share`` of the ward codes are in
        the lookup, else ``centroid``.

    Returns
    -------
    Population
        ``values`` named ``population``, indexed like *wards*, float with NaN where no honest
        figure exists; ``report``: method, year, sources, totals, the wards without a
        population with the reason for each, implausibly small wards, unassigned small areas.

    Raises
    ------
    DataError
        A source file is missing or lacks the configured columns.
    """
    settings = config.population
    if not isinstance(wards, pd.DataFrame):
        wards = pd.DataFrame(index=pd.Index(wards, name=s.WARD_CODE))
    if method not in _METHODS:
        raise ConfigError(f"method {method!r} is not one of {', '.join(_METHODS)}")
    chosen = settings.method if method == "auto" else method
    share = None
    if chosen == "auto":
        share = _lookup_share(config, settings.lookup, wards.index)
        chosen = "lookup" if share >= settings.auto_min_share else "centroid"
    if chosen == "lookup":
        values, borough_of, report = _by_lookup(config, settings.lookup)
        why = "no small area assigned: the ward code is not in the lookup, or none of its areas is"
    else:
        values, borough_of, report = _by_centroid(config, settings.centroid, wards)
        why = "no small area assigned: no area's representative point falls in this ward"
    population, missing, withheld = _finish(values, borough_of, wards, settings, why)
    report.update(
        method=chosen,
        wards_in_lookup_share=share,
        wards=len(wards),
        wards_with_population=int(population.notna().sum()),
        total=float(population.sum()),
        population_withheld=withheld,
        missing=missing,
        missing_by_reason=pd.Series(missing, dtype=object).value_counts().to_dict(),
        implausible={
            code: float(v) for code, v in population[population < settings.min_plausible].items()
        },
    )
    logger.info(
        "population (%s, %s): %d of %d wards, total %.0f; %d without: %s",
        chosen, report.get("year"), report["wards_with_population"], len(wards),
        report["total"], len(missing), report["missing_by_reason"],
    )  # fmt: skip
    return Population(population, report)


# --- the two methods ---------------------------------------------------------------------------


def _by_lookup(config: PlannerConfig, src: LookupSource):
    pop_path, lk_path = config.resolve(src.population), config.resolve(src.lookup)
    cols = [src.population_code, src.population_value, *filter(None, [src.population_borough])]
    pop = _read_csv(pop_path, cols)
    per_area = pop.groupby(src.population_code)[src.population_value].agg(["min", "max"])
    uneven = per_area.index[per_area["min"] != per_area["max"]]
    if len(uneven):
        raise DataError(
            f"{pop_path}: {len(uneven)} {src.population_code} codes carry different "
            f"{src.population_value} values (e.g. {uneven[:3].tolist()}); expected one per area"
        )
    pop = pop.drop_duplicates(src.population_code)
    lookup = _read_csv(lk_path, [src.lookup_code, src.lookup_ward])
    if lookup[src.lookup_code].duplicated().any():
        raise DataError(f"{lk_path}: {src.lookup_code} repeats; a best-fit lookup has one row each")
    merged = pop.merge(lookup, left_on=src.population_code, right_on=src.lookup_code, how="left")
    ward = merged[src.lookup_ward]
    report = _source_report(src.year, [pop_path, lk_path], merged[src.population_value], ward)
    return _sum_to_wards(merged, ward, src.population_value, src.population_borough, report)


def _by_centroid(config: PlannerConfig, src: CentroidSource, wards: gpd.GeoDataFrame):
    path = config.resolve(src.areas)
    if not isinstance(wards, gpd.GeoDataFrame):
        raise DataError("the centroid method needs the ward boundaries (a GeoDataFrame)")
    if not path.is_file():
        raise DataError(f"{path} not found; run `planner fetch --from ../shared/data` or set it")
    cols = [src.area_code, src.population_value, *filter(None, [src.area_borough])]
    areas = gpd.read_file(path, columns=cols)
    _require(areas, cols, path)
    if areas.crs is None or wards.crs is None:
        raise DataError(f"{path} or the wards have no CRS; the planner never guesses one")
    points = areas.representative_point().to_crs(s.WORKING_CRS).to_numpy()
    polys = wards.geometry.to_crs(s.WORKING_CRS)
    at, snapped = _point_in_ward(points, polys, wards.index, src.snap_distance_m)
    ward = pd.Series(wards.index.to_numpy(dtype=object)[at], dtype=object).where(at >= 0)
    report = _source_report(src.year, [path], areas[src.population_value], ward)
    report["areas_snapped_to_nearest"] = snapped
    return _sum_to_wards(areas, ward, src.population_value, src.area_borough, report)


def _point_in_ward(
    points: np.ndarray, polys: gpd.GeoSeries, codes: pd.Index, snap: float
) -> tuple[np.ndarray, int]:
    """Position of the ward holding each point (lowest code on ties), else the nearest within
    *snap* metres, else -1; and how many points were snapped."""
    rank = np.argsort(np.argsort(codes.to_numpy(dtype=str)))
    found = np.full(len(points), -1)
    pt, wd = polys.sindex.query(points, predicate="intersects")
    _take_lowest(found, pt, wd, rank)
    missing = np.flatnonzero(found < 0)
    if len(missing):
        pt, wd = polys.sindex.nearest(points[missing], max_distance=snap)
        _take_lowest(found, missing[pt], wd, rank)
    return found, int((found[missing] >= 0).sum())


def _take_lowest(found: np.ndarray, pt: np.ndarray, wd: np.ndarray, rank: np.ndarray) -> None:
    order = np.lexsort((rank[wd], pt))
    pt, wd = pt[order], wd[order]
    first = np.r_[True, pt[1:] != pt[:-1]]
    found[pt[first]] = wd[first]


# --- shared steps ------------------------------------------------------------------------------


def _source_report(year: Any, paths: list[Path], values: pd.Series, ward: pd.Series) -> dict:
    unassigned = ward.isna().to_numpy()
    values = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return {
        "year": year,
        "sources": [str(p) for p in paths],
        "areas": len(values),
        "population_in_source": float(np.nansum(values)),
        "areas_unassigned": int(unassigned.sum()),
        "population_unassigned": float(np.nansum(values[unassigned])),
    }


def _sum_to_wards(frame: pd.DataFrame, ward: pd.Series, value: str, borough: str | None, report):
    values = pd.to_numeric(frame[value], errors="coerce")
    if values.isna().any():
        rows = np.flatnonzero(values.isna())[:5].tolist()
        raise DataError(f"{report['sources'][0]}: {value} is not a number in rows {rows}")
    parts = pd.DataFrame({"ward": ward.to_numpy(dtype=object), "value": values.to_numpy(float)})
    parts["borough"] = frame[borough].to_numpy(dtype=object) if borough else None
    parts = parts[parts["ward"].notna()]
    sums = parts.groupby("ward")["value"].sum()
    boroughs = parts.groupby("ward")["borough"].agg(lambda b: set(b.dropna())).to_dict()
    return sums, boroughs, report


def _finish(values: pd.Series, borough_of: Mapping, wards: pd.DataFrame, settings, why: str):
    """Align to the wards; withhold wards of unseparable boroughs; say why each NaN is NaN."""
    index = wards.index
    population = values.reindex(index).astype(float).rename("population")
    population.index.name = s.WARD_CODE
    missing = dict.fromkeys(index[population.isna()], why)
    unsep = set(settings.unseparable_boroughs)
    own = wards.get(s.BOROUGH_CODE, pd.Series(None, index=index, dtype=object))
    fed = pd.Series([bool(borough_of.get(c, set()) & unsep) for c in index], index=index)
    withhold = own.isin(unsep) | fed
    names = wards.get(s.BOROUGH_NAME, own)
    for code in index[withhold]:
        where = own.get(code) if own.get(code) in unsep else sorted(borough_of[code] & unsep)[0]
        missing[code] = (
            f"in {where} ({names.get(code) or where}): its small areas cannot be separated "
            "into wards (population.toml unseparable_boroughs), so no figure is given"
        )
    withheld = float(population[withhold.to_numpy()].sum())
    population[withhold.to_numpy()] = np.nan
    return population, missing, withheld


def _lookup_share(config: PlannerConfig, src: LookupSource, wards: pd.Index) -> float:
    lookup = _read_csv(config.resolve(src.lookup), [src.lookup_ward])
    return float(wards.isin(set(lookup[src.lookup_ward])).mean()) if len(wards) else 0.0


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path} not found; run `planner fetch --from ../shared/data` or set it")
    header = pd.read_csv(path, nrows=0).columns
    _require(header, columns, path)
    return pd.read_csv(path, usecols=columns, dtype={c: str for c in columns[:1]})


def _require(found: Any, columns: list[str], path: Path) -> None:
    have = list(found.columns if hasattr(found, "columns") else found)
    lacking = [c for c in columns if c not in have]
    if lacking:
        raise DataError(
            f"{path}: column(s) {lacking} not found (columns: {have[:12]}); fix the column "
            "names in config/population.toml"
        )

"""Ward-coded counts of one ward vintage re-based onto the wards of another.

A Met ward file on the 2018 wards read into a dataset on the May 2022 wards would lose every
record of a ward whose code changed. :func:`build_crosswalk` estimates, for each source ward
and crime category, the share of its crime that lies in each target ward; :func:`rebase`
shares every count out in whole records (largest remainders, so every total is kept exactly).

The shares come from the intersections source ward x target ward x LSOA (every vintage onto
every other). Crime is concentrated, so area or resident shares are not good enough: by default
each piece is seeded with its LSOA's crime of the same category (the Met's LSOA-level file,
spread over the LSOA by area) and fitted by iterative proportional fitting to the LSOAs'
counts and, where a Met ward file on the target wards is present, to the target wards' own
counts of that category (``method = "dasymetric"``). A category the LSOA file lacks (sexual
offences, ASB) takes all crime; a source ward without any such crime falls back to residents
(Census 2021 by LSOA), then to area. Which method each share used is in the report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from planner import schema as s
from planner.config import PlannerConfig
from planner.config.data import CrosswalkSettings
from planner.errors import DataError
from planner.ingest.sources import vector  # noqa: F401  (GDAL hardened before pyogrio reads)

__all__ = [
    "ALL_CRIME",
    "Crosswalk",
    "Layers",
    "build_crosswalk",
    "moved_shares",
    "movement",
    "read_layers",
    "rebase",
]

log = logging.getLogger(__name__)

ALL_CRIME = "(all crime)"
"""The weights' category for counts of a category without weights of its own."""
SOURCE_WARD = "source_ward"
_MIN_PIECE_M2 = 1.0  # slivers of generalised boundaries below this are ignored


@dataclass(frozen=True)
class Layers:
    """What the dasymetric weights are made of: LSOA polygons, their crime and residents, and
    the target wards' own crime where a Met ward file on them is present."""

    lsoas: gpd.GeoDataFrame  # index LSOA code, EPSG:27700
    lsoa_crime: pd.DataFrame  # LSOA x category -> crimes (all months of the file)
    residents: pd.Series  # LSOA -> usual residents
    ward_crime: pd.DataFrame | None  # target ward x category -> crimes, or None
    sources: list[str]
    notes: list[str]


@dataclass(frozen=True)
class Crosswalk:
    """Shares of each source ward's crime, by category, in each target ward.

    ``weights`` has columns ``source_ward``, ``ward_code``, ``category`` (a police.uk category
    or :data:`ALL_CRIME`), ``weight`` (summing to 1 per source ward and category) and
    ``method`` (``dasymetric``, ``dasymetric (all crime)``, ``residents`` or ``area``).
    """

    source: str
    target: str
    weights: pd.DataFrame
    report: dict[str, Any]

    def shares(self, category: str) -> pd.DataFrame:
        """The weights for *category* (all crime's where it has none of its own)."""
        mine = self.weights[self.weights[s.CATEGORY] == category]
        return mine if len(mine) else self.weights[self.weights[s.CATEGORY] == ALL_CRIME]


# --- the layers ----------------------------------------------------------------------------


def read_layers(config: PlannerConfig, targets: pd.Index) -> Layers:
    """Read the LSOA boundaries, LSOA crime, residents and the target wards' crime.

    A missing layer is a note, not an error: the weights then fall back (residents, area).
    """
    from planner.ingest.sources.mps import read_mps_ward

    cw = config.join.crosswalk
    notes: list[str] = []
    paths = [config.resolve(p) for p in (cw.lsoa_boundaries, cw.lsoa_crime)]
    lsoas = _read_lsoas(paths[0], cw, notes)
    crime = _read_lsoa_crime(paths[1], config, notes)
    pop_src = config.population.lookup
    pop_path = config.resolve(pop_src.population)
    residents = _read_residents(pop_path, pop_src.population_code, pop_src.population_value, notes)
    ward_crime = None
    ward_path = config.resolve(cw.target_ward_crime)
    if ward_path.is_file():
        frame = read_mps_ward(ward_path, categories=config.categories)
        table = frame.counts.astype({s.WARD_CODE: str, s.CATEGORY: str})
        table = table.groupby([s.WARD_CODE, s.CATEGORY])[s.COUNT].sum().unstack(fill_value=0)
        share = float(table.index.isin(targets).mean()) if len(table) else 0.0
        if share >= 0.9:
            ward_crime = table
        else:
            notes.append(
                f"{ward_path}: its ward codes are not the target wards ({share:.0%} match), so "
                "the weights are not fitted to target ward counts"
            )
    else:
        notes.append(f"{ward_path}: not found, so the weights are not fitted to ward counts")
    used = [str(p) for p in (*paths, pop_path, ward_path) if p.is_file()]
    return Layers(lsoas, crime, residents, ward_crime, used, notes)


def _read_lsoas(path: Path, cw: CrosswalkSettings, notes: list[str]) -> gpd.GeoDataFrame:
    empty = gpd.GeoDataFrame(geometry=[], crs=s.WORKING_CRS)
    if not path.is_file():
        notes.append(f"{path}: LSOA boundaries not found; residents and crime cannot be used")
        return empty
    frame = pyogrio.read_dataframe(path, columns=[cw.lsoa_code])
    if cw.lsoa_code not in frame.columns:
        raise DataError(
            f"{path}: no column {cw.lsoa_code!r}; set lsoa_code in [join.crosswalk] of "
            "config/planner.toml to the LSOA code column"
        )
    if frame.crs is None:
        raise DataError(f"{path}: the LSOA boundary file has no CRS; expected one")
    frame = frame.to_crs(s.WORKING_CRS).set_index(cw.lsoa_code)
    frame.index = frame.index.astype(str)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    bad = ~shapely.is_valid(geoms)
    geoms[bad] = shapely.make_valid(geoms[bad])
    return gpd.GeoDataFrame(geometry=geoms, index=frame.index, crs=s.WORKING_CRS)


def _read_lsoa_crime(path: Path, config: PlannerConfig, notes: list[str]) -> pd.DataFrame:
    if not path.is_file():
        notes.append(f"{path}: LSOA-level crime not found; the weights use residents instead")
        return pd.DataFrame()
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    by_fold = {str(c).casefold(): c for c in table.columns}
    need = {"lsoa_code": ("lsoa_code", "lsoa code"), "major": ("major_category", "majortext"),
            "minor": ("minor_category", "minortext")}  # fmt: skip
    cols = {k: next((by_fold[o] for o in opts if o in by_fold), None) for k, opts in need.items()}
    if None in cols.values():
        raise DataError(
            f"{path}: expected the Met LSOA-level layout (lsoa_code, major_category, "
            f"minor_category, then YYYYMM columns); found {list(table.columns)[:8]}"
        )
    months = [c for c in table.columns if str(c).isdigit() and len(str(c)) == 6]
    pair = table[cols["major"]].astype(str) + " | " + table[cols["minor"]].astype(str)
    lookup = {p: config.categories.mps_pair(*p.split(" | ", 1))[0] for p in pair.unique()}
    category = pair.map(lambda p: (lookup[p] or ("", ""))[0])
    total = table[months].apply(pd.to_numeric, errors="coerce").fillna(0).sum(axis=1)
    frame = pd.DataFrame(
        {"l": table[cols["lsoa_code"]].astype(str), "c": category.astype(str), "n": total}
    )
    frame = frame[frame["c"] != ""]
    return frame.groupby(["l", "c"])["n"].sum().astype("float64").unstack(fill_value=0.0)


def _read_residents(path: Path, code: str, value: str, notes: list[str]) -> pd.Series:
    if not path.is_file():
        notes.append(f"{path}: residents by LSOA not found; the weights fall back to area")
        return pd.Series(dtype="float64")
    table = pd.read_csv(path, usecols=[code, value], dtype={code: str})
    return table.drop_duplicates(code).set_index(code)[value].astype(float)


# --- the weights ---------------------------------------------------------------------------


def build_crosswalk(
    source_wards: gpd.GeoDataFrame,
    target_wards: gpd.GeoDataFrame,
    layers: Layers | None,
    settings: CrosswalkSettings,
    *,
    categories: list[str],
    source: str = "",
    target: str = "",
    method: str | None = None,
) -> Crosswalk:
    """The shares of each source ward's crime of each category in each target ward.

    Parameters
    ----------
    source_wards, target_wards
        Ward polygons indexed by ward code, EPSG:27700 (any two vintages).
    layers
        From :func:`read_layers`; None for area shares only.
    settings
        ``[join.crosswalk]``: the method and the number of fitting iterations.
    categories
        The categories to weigh (those of the counts to re-base); :data:`ALL_CRIME` is added.
    source, target
        Names of the two boundary files, for the report.
    method
        ``"dasymetric"``, ``"residents"`` or ``"area"``; default ``settings.method``.

    Returns
    -------
    Crosswalk
    """
    method = method or settings.method
    pieces = _pieces(source_wards, target_wards, layers)
    wanted = [c for c in dict.fromkeys(categories) if c in s.CATEGORIES]
    rows = [
        _category_weights(pieces, layers, settings, cat, method) for cat in [*wanted, ALL_CRIME]
    ]
    weights = pd.concat(rows, ignore_index=True)
    used = weights.groupby("method").size().to_dict()
    report = {
        "source": source,
        "target": target,
        "method": method,
        "source_wards": len(source_wards),
        "target_wards": len(target_wards),
        "pieces": len(pieces),
        "shares_by_method": {k: int(v) for k, v in used.items()},
        "layers": layers.sources if layers else [],
        "notes": list(layers.notes) if layers else [],
    }
    return Crosswalk(source, target, weights, report)


def _pieces(
    source_wards: gpd.GeoDataFrame, target_wards: gpd.GeoDataFrame, layers: Layers | None
) -> pd.DataFrame:
    """Source ward x target ward x LSOA intersections: codes and areas (m²).

    Area outside every LSOA keeps ``l`` = "" (it counts for area shares only).
    """
    src = np.asarray(source_wards.geometry.array, dtype=object)
    tgt = np.asarray(target_wards.geometry.array, dtype=object)
    si, ti = shapely.STRtree(tgt).query(src, predicate="intersects")
    both = shapely.intersection(src[si], tgt[ti])
    area = shapely.area(both)
    keep = area >= _MIN_PIECE_M2
    si, ti, both, area = si[keep], ti[keep], both[keep], area[keep]
    pairs = pd.DataFrame(
        {"s": source_wards.index.to_numpy()[si], "t": target_wards.index.to_numpy()[ti], "a": area}
    )
    if layers is None or layers.lsoas.empty:
        return pairs.assign(l="", la=np.nan)
    lsoa = np.asarray(layers.lsoas.geometry.array, dtype=object)
    pi, li = shapely.STRtree(lsoa).query(both, predicate="intersects")
    parts = shapely.area(shapely.intersection(both[pi], lsoa[li]))
    keep = parts > 0
    pi, li, parts = pi[keep], li[keep], parts[keep]
    inside = pd.DataFrame(
        {
            "s": pairs["s"].to_numpy()[pi],
            "t": pairs["t"].to_numpy()[pi],
            "a": parts,
            "l": layers.lsoas.index.to_numpy()[li],
            "la": shapely.area(lsoa)[li],
        }
    )
    covered = np.bincount(pi, weights=parts, minlength=len(pairs))
    rest = pairs.assign(a=np.maximum(pairs["a"].to_numpy() - covered, 0.0), l="", la=np.nan)
    rest = rest[rest["a"] >= _MIN_PIECE_M2]
    return pd.concat([inside, rest], ignore_index=True)


def _category_weights(
    pieces: pd.DataFrame, layers: Layers | None, settings: CrosswalkSettings, cat: str, method: str
) -> pd.DataFrame:
    """Shares of one category: dasymetric where the source ward has such crime, else residents,
    else area; one row per (source ward, target ward)."""
    s_code, s_idx = np.unique(pieces["s"].to_numpy(dtype=str), return_inverse=True)
    pair_key = pieces["s"].astype(str) + "\x00" + pieces["t"].astype(str)
    p_code, p_idx = np.unique(pair_key.to_numpy(), return_inverse=True)
    area = pieces["a"].to_numpy(dtype=float)
    candidates: list[tuple[str, np.ndarray]] = []
    if layers is not None and not layers.lsoas.empty:
        if method == "dasymetric" and not layers.lsoa_crime.empty:
            own = cat in layers.lsoa_crime.columns and layers.lsoa_crime[cat].sum() > 0
            column = layers.lsoa_crime[cat] if own else layers.lsoa_crime.sum(axis=1)
            label = "dasymetric" if own else "dasymetric (all crime)"
            seed = _density(pieces, column) * area
            ward = None
            if layers.ward_crime is not None:
                wc = layers.ward_crime
                ward = wc[cat] if (cat in wc.columns and wc[cat].sum() > 0) else wc.sum(axis=1)
            candidates.append((label, _fit(pieces, seed, column, ward, settings.iterations)))
        if method in ("dasymetric", "residents") and len(layers.residents):
            candidates.append(("residents", _density(pieces, layers.residents) * area))
    candidates.append(("area", area))
    pair_weight = np.zeros(len(p_code))
    pair_method = np.full(len(p_code), "", dtype=object)
    decided = np.zeros(len(s_code), dtype=bool)
    pair_source = np.zeros(len(p_code), dtype=np.int64)
    pair_source[p_idx] = s_idx
    for label, values in candidates:
        per_pair = np.bincount(p_idx, weights=values, minlength=len(p_code))
        per_source = np.bincount(pair_source, weights=per_pair, minlength=len(s_code))
        use = ~decided & (per_source > 0)
        take = use[pair_source]
        pair_weight[take] = per_pair[take] / per_source[pair_source[take]]
        pair_method[take] = label
        decided |= use
    split = np.array([k.split("\x00") for k in p_code], dtype=object).reshape(-1, 2)
    out = pd.DataFrame(
        {
            SOURCE_WARD: split[:, 0],
            s.WARD_CODE: split[:, 1],
            s.CATEGORY: cat,
            "weight": pair_weight,
            "method": pair_method,
        }
    )
    return out[out["weight"] > 0].reset_index(drop=True)


def _density(pieces: pd.DataFrame, per_lsoa: pd.Series) -> np.ndarray:
    """Per piece: its LSOA's value per m² (0 outside every LSOA or without a value)."""
    value = per_lsoa.reindex(pieces["l"].to_numpy()).fillna(0.0).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(value / pieces["la"].to_numpy(dtype=float))


def _fit(
    pieces: pd.DataFrame,
    seed: np.ndarray,
    lsoa: pd.Series,
    ward: pd.Series | None,
    iterations: int,
) -> np.ndarray:
    """Iterative proportional fitting of the piece seeds to LSOA (and target ward) counts.

    The margins are scaled to the seeds' total: the layers come from other months than the
    counts being re-based, so they say where crime is, not how much.
    """
    x = seed.astype(float).copy()
    total = x.sum()
    if total <= 0:
        return x
    margins = []
    for codes, values in (
        (pieces["l"].to_numpy(dtype=str), lsoa),
        (pieces["t"].to_numpy(dtype=str), ward),
    ):
        if values is None:
            continue
        level, idx = np.unique(codes, return_inverse=True)
        goal = values.reindex(level).to_numpy(dtype=float)
        present = np.isfinite(goal) & (level != "")
        scale = total / np.nansum(np.where(present, goal, 0.0)) if present.any() else 0.0
        margins.append((idx, len(level), np.where(present, goal * scale, np.nan)))
    for _ in range(iterations):
        for idx, n, goal in margins:
            current = np.bincount(idx, weights=x, minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                factor = np.where((current > 0) & np.isfinite(goal), goal / current, 1.0)
            x *= factor[idx]
    return x


# --- re-basing counts ----------------------------------------------------------------------


def rebase(counts: pd.DataFrame, crosswalk: Crosswalk) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Share ward-coded counts out among the target wards in whole records.

    Parameters
    ----------
    counts
        Rows of ``ward_code`` (source vintage), month, category, subcategory, count (and
        optionally ``fallback``).
    crosswalk
        From :func:`build_crosswalk`.

    Returns
    -------
    rebased, unplaced
        *rebased*: the same columns on the target wards; every input row's count is shared out
        exactly (floors, then one more record to the largest remainders, ties to the lower
        ward code), so totals per source ward, month and category are kept. *unplaced*: input
        rows whose ward code is not a source ward of the crosswalk.
    """
    if counts.empty:
        return counts.copy(), counts.iloc[0:0].copy()
    rows = counts.reset_index(drop=True).copy()
    rows["_row"] = np.arange(len(rows))
    rows[s.WARD_CODE] = rows[s.WARD_CODE].astype(str)
    known = set(crosswalk.weights[SOURCE_WARD])
    placed_mask = rows[s.WARD_CODE].isin(known).to_numpy()
    unplaced = counts.reset_index(drop=True).loc[~placed_mask]
    rows = rows.loc[placed_mask]
    parts = []
    rows = rows.rename(columns={s.WARD_CODE: SOURCE_WARD})
    for cat, group in rows.groupby(rows[s.CATEGORY].astype(str), sort=False):
        shares = crosswalk.shares(cat)[[SOURCE_WARD, s.WARD_CODE, "weight"]]
        parts.append(group.merge(shares, on=SOURCE_WARD, how="inner"))
    if not parts:
        return counts.iloc[0:0].copy(), unplaced
    table = pd.concat(parts, ignore_index=True)
    expected = table[s.COUNT].to_numpy(dtype=float) * table["weight"].to_numpy(dtype=float)
    base = np.floor(expected + 1e-9)
    table["_rem"] = expected - base
    table["_n"] = base.astype(np.int64)
    short = (table.groupby("_row")[s.COUNT].first() - table.groupby("_row")["_n"].sum()).astype(
        np.int64
    )
    table = table.sort_values(["_row", "_rem", s.WARD_CODE], ascending=[True, False, True])
    rank = table.groupby("_row").cumcount().to_numpy()
    table["_n"] += (rank < short.reindex(table["_row"]).to_numpy()).astype(np.int64)
    keys = [c for c in counts.columns if c not in (s.WARD_CODE, s.COUNT)]
    out = table[table["_n"] > 0].assign(**{s.COUNT: lambda t: t["_n"]})
    out = out.groupby([s.WARD_CODE, *keys], observed=True, dropna=False)[s.COUNT].sum()
    out = out.reset_index()[list(counts.columns)]
    return out, unplaced


def moved_shares(counts: pd.DataFrame, rebased: pd.DataFrame, crosswalk: Crosswalk) -> pd.Series:
    """Each target ward's moved share: what it received from other wards' main shares plus
    what its own main sources sent elsewhere, over its re-based count.

    A source ward's *main* ward is the target ward that takes most of it.
    """
    table = _flows(counts, crosswalk)
    flow = table["n"] * table["weight"]
    away = table["_main"] != table[s.WARD_CODE]
    moved_in = flow[away].groupby(table.loc[away, s.WARD_CODE]).sum()
    moved_out = flow[away].groupby(table.loc[away, "_main"]).sum()
    per_target = rebased.groupby(rebased[s.WARD_CODE].astype(str))[s.COUNT].sum()
    per_target = per_target[per_target > 0]
    moved = moved_in.add(moved_out, fill_value=0).reindex(per_target.index).fillna(0)
    return moved / per_target


def _flows(counts: pd.DataFrame, crosswalk: Crosswalk) -> pd.DataFrame:
    """Records per source ward and category, joined to their shares and main target ward."""
    keyed = counts.assign(
        **{SOURCE_WARD: counts[s.WARD_CODE].astype(str), "_c": counts[s.CATEGORY].astype(str)}
    )
    by_source = keyed.groupby([SOURCE_WARD, "_c"])[s.COUNT].sum().rename("n").reset_index()
    w = crosswalk.weights
    own = set(w[s.CATEGORY])
    by_source[s.CATEGORY] = by_source["_c"].where(by_source["_c"].isin(own), ALL_CRIME)
    table = by_source.merge(w, on=[SOURCE_WARD, s.CATEGORY], how="inner")
    table = table.sort_values(["_c", SOURCE_WARD, "weight", s.WARD_CODE],
                              ascending=[True, True, False, True])  # fmt: skip
    top = ~table.duplicated(["_c", SOURCE_WARD])
    mains = table.loc[top, ["_c", SOURCE_WARD, s.WARD_CODE]].rename(columns={s.WARD_CODE: "_main"})
    return table.merge(mains, on=["_c", SOURCE_WARD])


def movement(
    counts: pd.DataFrame, rebased: pd.DataFrame, crosswalk: Crosswalk, error_per_moved: float
) -> dict[str, Any]:
    """How much moved between wards in a re-basing, and the error to expect from it.

    Records that go anywhere but their source ward's main ward moved
    (:func:`moved_shares`). The expected error of a ward is ``error_per_moved`` times its
    moved share (calibrated by :func:`planner.ingest.checks.crosswalk_agreement` on real data).
    """
    total = int(counts[s.COUNT].sum())
    table = _flows(counts, crosswalk)
    away = table["_main"] != table[s.WARD_CODE]
    moved = float((table["n"] * table["weight"])[away].sum())
    share = moved_shares(counts, rebased, crosswalk)
    return {
        "records": total,
        "records_moved": round(moved),
        "share_moved": round(moved / total, 4) if total else 0.0,
        "target_wards": len(share),
        "median_ward_moved_share": round(float(share.median()), 4) if len(share) else 0.0,
        "expected_median_ward_error": round(float((error_per_moved * share).median()), 4)
        if len(share)
        else 0.0,
        "expected_error_basis": (
            f"error_per_moved_share ({error_per_moved}) x each ward's moved share; calibrated by "
            "the crosswalk check (README, Ward vintages)"
        ),
    }

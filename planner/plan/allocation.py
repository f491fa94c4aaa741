"""Extra Dedicated Ward Officers per ward: the ward adapter of the apportionment core.

Every ward keeps its baseline team (default 2 Dedicated Ward Officers + 1 PCSO); a pool of
*extra* officers is apportioned by need in whole officers by :mod:`planner.plan.apportion`.
:func:`allocate_wards` takes need as a Series indexed by ``ward_code`` (sorted by code before
the core is called, so row order never matters) and returns the ward and borough tables
with the equity measures (:mod:`planner.plan.equity`) beside them.

The module runs over 400 lines because :func:`allocate_wards` and :func:`recompute` (an
override's new extras) share the private column builders, and the tables the outputs show
(:func:`ward_table`, :func:`borough_table`, :func:`compare_allocations`) are thin views of
the same result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from planner.config import AllocationSettings
from planner.errors import ConfigError, DataError, InfeasibleAllocationError
from planner.plan.apportion import (
    DIVISOR_METHODS,
    METHODS,
    Method,
    apportion,
    apportion_with_floors,
    borough_floors,
    damping_bounds,
    outside_quota,
    quota,
)
from planner.plan.checks import MAX_LISTED, check_bound, check_feasible, check_need, prepare
from planner.plan.equity import equity_summary
from planner.schema import (
    BASELINE_DWO,
    BASELINE_PCSO,
    BOROUGH_CODE,
    BOROUGH_NAME,
    CHANGE,
    CURRENT_DWO,
    CURRENT_EXTRA,
    CURRENT_PCSO,
    ELIGIBLE,
    EXTRA,
    FLOOR,
    MET_FLOOR,
    N_WARDS,
    NEED,
    NEED_SHARE,
    OFFICER_SHARE,
    OUTSIDE_QUOTA,
    POLICY_QUOTA,
    QUOTA,
    RATIO,
    ROUNDING,
    SCORE_COLUMNS,
    SHARE_GAP,
    TARGET,
    TARGET_RATIO,
    TOTAL_DWO,
    WARD_CODE,
    WARD_NAME,
)

__all__ = [
    "DIVISOR_METHODS",
    "METHODS",
    "AllocationResult",
    "AllocationSettings",
    "Method",
    "allocate_wards",
    "borough_table",
    "compare_allocations",
    "recompute",
    "ward_table",
]

# ======================================================================================
# The ward adapter
# ======================================================================================


@dataclass(frozen=True, eq=False)
class AllocationResult:
    """An allocation with its equity report.

    Attributes
    ----------
    wards
        Indexed by ``ward_code`` in the input order: borough_code, eligible, need, need_share,
        quota, baseline_dwo, baseline_pcso, extra, total_dwo, officer_share, share_gap,
        target_ratio, outside_quota (plus current_extra and change when damping data is given).
    boroughs
        Indexed by ``borough_code``: n_wards, need, need_share, baseline_dwo, baseline_pcso,
        extra, total_dwo, officer_share, share_gap, target, ratio, floor, met_floor.
    equity
        Summary numbers, see :func:`allocate_wards`.
    """

    wards: pd.DataFrame
    boroughs: pd.DataFrame
    equity: dict[str, Any]
    pool: int
    settings: AllocationSettings


def allocate_wards(
    need: pd.Series,
    boroughs: pd.Series,
    *,
    pool: int,
    settings: AllocationSettings,
) -> AllocationResult:
    """Allocate *pool* extra officers to wards by need, under the policy of *settings*.

    ``policy = "top_up"`` apportions the pool by need on top of every ward's baseline team;
    ``"whole_team"`` counts the baseline as officers held: it apportions baseline + pool with
    the baseline as each eligible ward's minimum, so a ward gets extras only where its share
    of need is more than its baseline covers. ``need_exponent`` below 1 apportions on a concave
    transform of need; ``max_extra_per_ward`` caps a ward's extras. Excluded and special wards
    (``settings.no_extras``) keep their baseline and get no extras.

    Wards are sorted by code before the core runs, so exact ties go to the lower ward code and
    the row order of the input never changes a result. With ``borough_floor_share > 0`` every
    borough is guaranteed its floor (:func:`borough_floors` of the officers apportioned) by
    :func:`apportion_with_floors`: one stage over all wards, with the boroughs below their floor
    lifted to it. A ward can then get fewer extras than a ward with less need only where a
    floor lifted the other ward's borough (or caps or damping bind); ``equity`` counts those
    pairs.

    ``policy_quota`` is the policy's allocation before rounding (the same rule, bounds and
    floors on a pool 1,000 times larger, divided back) and ``rounding = extra - policy_quota``:
    rounding is reported apart from the policy.

    Shares and targets count eligible (not excluded) wards only: ``need_share`` is a ward's
    share of eligible need, ``quota = need_share * pool`` its need-proportional target,
    ``officer_share = extra / pool``, ``share_gap = officer_share - need_share`` and
    ``target_ratio = extra / quota`` (NaN where the quota is 0).

    ``equity`` holds: ``worst_served_ratio`` (lowest ``target_ratio``) with
    ``worst_served_ward`` and ``worst_served_ward_borough``; ``worst_served_borough_ratio``
    and ``worst_served_borough`` (lowest borough ``ratio``); ``gini_officers_per_need``, the
    Gini coefficient of extra officers per unit of need across eligible wards with need,
    weighted by need (every unit of need counts once: 0 means every unit of need gets the same
    extras, 1 that all go to one ward); ``max_abs_share_gap_ward`` and
    ``max_abs_share_gap_borough``; ``wards_outside_quota`` and ``boroughs_below_floor``.

    Parameters
    ----------
    need
        Need per ward, indexed by ward code (unique), finite and >= 0.
    boroughs
        Borough code of every ward in *need* (extra entries are ignored).
    pool
        Extra officers to allocate.
    settings
        Method, baseline, caps, floors and damping (``config.allocation``).

    Returns
    -------
    AllocationResult

    Raises
    ------
    DataError
        Bad need values, duplicate ward codes, wards without a borough or current extras.
    ConfigError
        Excluded codes that are not wards, or invalid settings.
    InfeasibleAllocationError
        The caps, floors or damping cannot be met with this pool.
    """
    w = _ward_inputs(need, boroughs, settings)
    _current(w, settings)
    minimum, maximum = None, settings.max_extra_per_ward
    if settings.max_change is not None:
        minimum, maximum = _damping(w, settings, pool, maximum)
    borough_codes = np.unique(w.borough)
    extra, floors = _apportion(w, settings, pool, minimum, maximum)
    scale = _POLICY_SCALE
    big, _ = _apportion(
        w, settings, pool * scale, _times(minimum, scale), _times(maximum, scale), scale
    )
    policy_quota = big / scale
    ward_cols = _ward_columns(w, extra, pool, settings)
    ward_cols[POLICY_QUOTA] = policy_quota
    ward_cols[ROUNDING] = extra - policy_quota
    borough_cols = _borough_columns(ward_cols, borough_codes, floors, pool)
    equity = equity_summary(w.codes, ward_cols, borough_codes, borough_cols)
    back = np.argsort(w.order)  # sorted position of each input row
    wards = pd.DataFrame(
        {name: values[back] for name, values in ward_cols.items()},
        index=pd.Index(w.codes[back], name=WARD_CODE),
    )
    boroughs_table = pd.DataFrame(borough_cols, index=pd.Index(borough_codes, name=BOROUGH_CODE))
    return AllocationResult(
        wards=wards, boroughs=boroughs_table, equity=equity, pool=pool, settings=settings
    )


# --- adapter steps ------------------------------------------------------------------

_POLICY_SCALE = 1000
"""The policy's unrounded allocation is the whole-officer one of a pool this many times
larger, divided back: divisor methods are house monotone, so it converges to the real-valued
apportionment of the same rule, bounds and floors."""


def _times(bound: np.ndarray | int | None, scale: int) -> np.ndarray | int | None:
    return None if bound is None else bound * scale


def _apportion(
    w: _Wards,
    settings: AllocationSettings,
    pool: int,
    minimum: np.ndarray | int | None,
    maximum: np.ndarray | int | None,
    scale: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Extra officers per ward (sorted by code) and the borough floors, under the policy.

    ``top_up`` apportions the pool alone. ``whole_team`` apportions the pool plus every
    eligible ward's baseline team, each eligible ward bounded below by its baseline (and the
    extras' bounds shifted by it), then takes the baseline off again: a ward gets extras only
    where its share of need is more than its baseline team covers.
    """
    weights = w.need**settings.need_exponent if settings.need_exponent != 1 else w.need
    base = settings.baseline_dwo * scale if settings.policy == "whole_team" else 0
    if base and scale == 1:  # say what cannot be met in extra officers, as the user set them
        need, lo, hi, _, _ = prepare(
            weights, pool, settings.method, minimum, maximum, w.eligible, None, list(w.codes)
        )
        check_feasible(need, pool, lo, hi)
    held = np.where(w.eligible, base, 0).astype(np.int64)
    low = held + (0 if minimum is None else np.asarray(minimum, np.int64))
    high = None if maximum is None else held + np.asarray(maximum, np.int64)
    total = pool + int(held.sum())
    common = dict(
        method=settings.method, minimum=low, maximum=high, eligible=w.eligible, labels=w.codes
    )
    borough_codes = np.unique(w.borough)
    if settings.borough_floor_share > 0:
        eligible_need = np.where(w.eligible, w.need, 0.0)
        # the floor is a share of the officers apportioned: the pool, plus under whole_team
        # the baseline teams it counts as held (a floor on extras alone would push extras
        # into boroughs whose baseline already covers their need)
        whole = borough_floors(eligible_need, w.borough, total, settings.borough_floor_share)
        group = np.searchsorted(borough_codes, w.borough)
        held_by = np.bincount(group, weights=held, minlength=borough_codes.size).astype(np.int64)
        group_minimum = np.maximum(whole, held_by)
        floors = group_minimum - held_by  # the floor in extra officers
        extra = apportion_with_floors(
            weights,
            w.borough,
            total,
            group_minimum=group_minimum,
            floors_yield=settings.max_change is not None,  # damping first; met_floor says
            **common,
        )
    else:
        floors = np.zeros(borough_codes.size, np.int64)
        extra = apportion(weights, total, **common)
    return extra - held, floors


@dataclass(frozen=True)
class _Wards:
    """Validated adapter inputs as arrays, sorted by ward code."""

    codes: np.ndarray  # ward codes, sorted
    order: np.ndarray  # input position of each sorted row
    borough: np.ndarray
    need: np.ndarray
    eligible: np.ndarray
    current: np.ndarray | None = None


def _ward_inputs(need: pd.Series, boroughs: pd.Series, settings: AllocationSettings) -> _Wards:
    if not isinstance(need, pd.Series) or not isinstance(boroughs, pd.Series):
        raise DataError("need and boroughs must be pandas Series indexed by ward_code")
    dup = need.index[need.index.duplicated()].unique()
    if len(dup):
        raise DataError(f"need has duplicate ward codes: {', '.join(map(str, dup[:MAX_LISTED]))}")
    borough = boroughs[~boroughs.index.duplicated()].reindex(need.index)
    missing = need.index[borough.isna().to_numpy()]
    if len(missing):
        raise DataError(
            f"{len(missing)} ward(s) have no borough: "
            f"{', '.join(map(str, missing[:MAX_LISTED]))}; "
            "pass a borough code for every ward in need"
        )
    codes = np.array([str(c) for c in need.index], dtype=object)
    unknown = sorted(settings.excluded - set(codes))
    if unknown:
        raise ConfigError(
            f"excluded ward code(s) not among the wards: {', '.join(unknown[:MAX_LISTED])}"
        )
    values = check_need(pd.to_numeric(need, errors="coerce").to_numpy(np.float64), list(codes))
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    return _Wards(
        codes=codes,
        order=order,
        borough=np.array([str(b) for b in borough.to_numpy()[order]], dtype=object),
        need=values[order],
        eligible=np.array([c not in settings.no_extras for c in codes], dtype=bool),
    )


def _current(w: _Wards, settings: AllocationSettings) -> None:
    """Set ``w.current`` from ``settings.current_extra``: NaN where a ward has no figure."""
    if settings.current_extra is None:
        return
    current = settings.current_extra
    current = current[~current.index.duplicated()]
    current = current.set_axis([str(c) for c in current.index]).reindex(w.codes)
    object.__setattr__(w, "current", pd.to_numeric(current).to_numpy(np.float64))


def _damping(
    w: _Wards, settings: AllocationSettings, pool: int, maximum: int | None
) -> tuple[np.ndarray, np.ndarray]:
    if w.current is None:
        raise ConfigError(
            f"max_change {settings.max_change} needs current_extra (the extra officers each "
            "ward has now); pass it in the settings or unset max_change"
        )
    missing = w.codes[np.isnan(w.current)]
    if len(missing):
        raise DataError(
            f"current staffing has no figure for {len(missing)} ward(s): "
            f"{', '.join(map(str, missing[:MAX_LISTED]))}; damping (max_change) needs every "
            "ward's current team: add them (0 extras for a ward with only its baseline team)"
        )
    now = check_bound(w.current, w.codes.size, "current_extra")
    kept = np.flatnonzero(~w.eligible & (now > settings.max_change))
    if kept.size:
        raise InfeasibleAllocationError(
            "excluded or special wards would keep extras under damping: "
            + ", ".join(f"{w.codes[i]} has {now[i]}" for i in kept[:MAX_LISTED])
            + f" and max_change is {settings.max_change}; raise max_change or stop excluding them"
        )
    return damping_bounds(
        now, settings.max_change, pool=pool, maximum=maximum, eligible=w.eligible, labels=w.codes
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    out = np.full(num.shape, np.nan)
    with np.errstate(over="ignore"):  # a tiny quota gives an infinite ratio, as it should
        np.divide(num, den, out=out, where=den != 0)
    return out


def _ward_columns(
    w: _Wards, extra: np.ndarray, pool: int, settings: AllocationSettings
) -> dict[str, np.ndarray]:
    """The ward table's columns, sorted by ward code."""
    eligible_need = np.where(w.eligible, w.need, 0.0)
    total = math.fsum(eligible_need.tolist())
    need_share = eligible_need / total if total else np.zeros_like(eligible_need)
    ward_quota = quota(eligible_need, pool)
    officer_share = _ratio(extra, np.full(extra.size, pool))
    columns = {
        BOROUGH_CODE: w.borough,
        ELIGIBLE: w.eligible,
        NEED: w.need,
        NEED_SHARE: need_share,
        QUOTA: ward_quota,
        BASELINE_DWO: np.full(extra.size, settings.baseline_dwo, np.int64),
        BASELINE_PCSO: np.full(extra.size, settings.baseline_pcso, np.int64),
        EXTRA: extra,
        TOTAL_DWO: settings.baseline_dwo + extra,
        OFFICER_SHARE: officer_share,
        SHARE_GAP: officer_share - need_share,
        TARGET_RATIO: _ratio(extra, ward_quota),
        OUTSIDE_QUOTA: outside_quota(extra, ward_quota),
    }
    if w.current is not None:
        columns[CURRENT_EXTRA] = w.current
    return columns


def _borough_columns(
    wards: dict[str, np.ndarray], codes: np.ndarray, floors: np.ndarray, pool: int
) -> dict[str, np.ndarray]:
    """The borough table's columns: sums over wards, shares, target, ratio and floor."""
    group = np.searchsorted(codes, wards[BOROUGH_CODE])

    def total(column: str) -> np.ndarray:
        return np.bincount(group, weights=wards[column], minlength=codes.size)

    extra = total(EXTRA).astype(np.int64)
    need_share = total(NEED_SHARE)
    officer_share = _ratio(extra, np.full(codes.size, pool))
    target = need_share * pool
    return {
        N_WARDS: np.bincount(group, minlength=codes.size),
        NEED: total(NEED),
        NEED_SHARE: need_share,
        BASELINE_DWO: total(BASELINE_DWO).astype(np.int64),
        BASELINE_PCSO: total(BASELINE_PCSO).astype(np.int64),
        EXTRA: extra,
        TOTAL_DWO: total(TOTAL_DWO).astype(np.int64),
        OFFICER_SHARE: officer_share,
        SHARE_GAP: officer_share - need_share,
        TARGET: target,
        RATIO: _ratio(extra, target),
        FLOOR: floors,
        MET_FLOOR: extra >= floors,
    }


def recompute(result: AllocationResult, extra: pd.Series) -> AllocationResult:
    """*result* with new extras per ward: shares, ratios, quota flags, borough totals and
    equity recomputed; floors and settings kept (an override moves officers, it does not
    re-run the allocation)."""
    wards = result.wards.sort_index()
    extra = extra.reindex(wards.index).to_numpy(np.int64)
    pool = result.pool
    cols = {c: wards[c].to_numpy() for c in wards.columns}
    officer_share = _ratio(extra, np.full(extra.size, pool))
    cols.update(
        {
            EXTRA: extra,
            TOTAL_DWO: cols[BASELINE_DWO] + extra,
            OFFICER_SHARE: officer_share,
            SHARE_GAP: officer_share - cols[NEED_SHARE],
            TARGET_RATIO: _ratio(extra, cols[QUOTA]),
            OUTSIDE_QUOTA: outside_quota(extra, cols[QUOTA]),
        }
    )
    codes = result.boroughs.index.to_numpy()
    borough_cols = _borough_columns(cols, codes, result.boroughs[FLOOR].to_numpy(), pool)
    equity = equity_summary(wards.index.to_numpy(), cols, codes, borough_cols)
    table = pd.DataFrame(cols, index=wards.index).reindex(result.wards.index)
    boroughs = pd.DataFrame(borough_cols, index=result.boroughs.index)
    return AllocationResult(table, boroughs, equity, pool, result.settings)


def ward_table(
    result: AllocationResult,
    wards: pd.DataFrame,
    scores: pd.DataFrame | None = None,
    current: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The allocation table as the app, the exports and the pack show it: one row per ward.

    Columns: ``ward_name``, ``borough_code``, ``borough_name``, then (with *scores*)
    ``need_score``, ``rank_london``, ``rank_borough``, then every column of
    ``result.wards`` (baseline, extra, shares, quota...), then (with *current*)
    ``current_dwo``, ``current_pcso`` and ``change`` (proposed ``total_dwo`` minus
    ``current_dwo``; empty for a ward the staffing file does not list).

    Parameters
    ----------
    result
        The allocation.
    wards
        Ward and borough names by ward code (the wards' GeoDataFrame will do).
    scores
        Need scores by ward code; wards without a score get empty cells.
    current
        Each ward's team now (``dwo``, ``pcso``) by ward code.

    Raises
    ------
    DataError
        An allocated ward has no row in *wards*.
    """
    codes = result.wards.index
    missing = codes.difference(wards.index)
    if len(missing):
        raise DataError(
            f"{len(missing)} allocated ward(s) have no boundary in wards: "
            f"{', '.join(map(str, missing[:10]))}; pass the wards the allocation was made for"
        )
    parts = [
        wards.loc[codes, [WARD_NAME]],
        result.wards[[BOROUGH_CODE]],
        wards.loc[codes, [BOROUGH_NAME]],
    ]
    if scores is not None:
        parts.append(scores.reindex(codes, columns=[c for c in SCORE_COLUMNS if c in scores]))
    parts.append(result.wards.drop(columns=BOROUGH_CODE))
    table = pd.DataFrame(pd.concat(parts, axis=1))
    if current is not None:
        team = current.reindex(codes)
        table[CURRENT_DWO] = team["dwo"].astype("Int64")
        table[CURRENT_PCSO] = team["pcso"].astype("Int64")
        table[CHANGE] = table[TOTAL_DWO].astype("Int64") - table[CURRENT_DWO]
    return table


def borough_table(result: AllocationResult, wards: pd.DataFrame) -> pd.DataFrame:
    """The borough table of the allocation, with ``borough_name`` first."""
    names = wards.drop_duplicates(BOROUGH_CODE).set_index(BOROUGH_CODE)[BOROUGH_NAME]
    table = result.boroughs.copy()
    table.insert(0, BOROUGH_NAME, names.reindex(table.index).to_numpy())
    return table


def compare_allocations(
    a: AllocationResult, b: AllocationResult, *, names: tuple[str, str] = ("a", "b")
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-ward and per-borough differences between two scenarios (b minus a).

    Returns
    -------
    wards, boroughs
        Extra officers under each scenario, the difference, and the need shares.
    """
    na, nb = names

    def side(table: pd.DataFrame, name: str) -> pd.DataFrame:
        return table[[EXTRA, NEED_SHARE]].add_suffix(f"_{name}")

    wards = side(a.wards, na).join(side(b.wards, nb), how="outer")
    wards.insert(0, BOROUGH_CODE, a.wards[BOROUGH_CODE].combine_first(b.wards[BOROUGH_CODE]))
    wards["difference"] = wards[f"{EXTRA}_{nb}"].fillna(0) - wards[f"{EXTRA}_{na}"].fillna(0)
    boroughs = side(a.boroughs, na).join(side(b.boroughs, nb), how="outer")
    boroughs["difference"] = boroughs[f"{EXTRA}_{nb}"].fillna(0) - boroughs[f"{EXTRA}_{na}"].fillna(
        0
    )
    return wards, boroughs

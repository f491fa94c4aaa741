"""Whole-officer apportionment: the numeric core of the allocation (plain numpy arrays).

Every ward keeps its baseline team (default 2 Dedicated Ward Officers + 1 PCSO); a pool of
*extra* officers is then apportioned by need, in whole officers.

The core works on plain numpy arrays, one entry per *unit* (a ward, or a borough in the first
stage of :func:`apportion_two_stage`):

- :func:`apportion` - divisor methods (Webster/Sainte-Laguë, D'Hondt/Jefferson,
  Huntington-Hill) and Hamilton (largest remainder), with per-unit lower and upper bounds and
  excluded units;
- :func:`quota`, :func:`outside_quota` - the exact share and the units that end outside it;
- :func:`borough_floors`, :func:`apportion_with_floors` - a guaranteed minimum per borough;
- :func:`damping_bounds` - per-unit bounds that limit the change from current staffing.

:func:`planner.plan.allocation.allocate_wards` adapts the core to Series indexed by ``ward_code``.
The arguments are checked by :mod:`planner.plan.checks` and the officers handed out by the
solvers of :mod:`planner.plan.kernels`.

Divisor methods, as implemented
-------------------------------
Each unit starts at its minimum; the remaining officers are handed out one at a time, each to
the unit with the highest *priority* ``need / d(k)``, where ``k`` is the number of extras the
unit holds so far and ``d(k)`` is ``k + 0.5`` (Webster), ``k + 1`` (D'Hondt) or
``sqrt(k (k + 1))`` (Huntington-Hill). A unit at its maximum drops out; a unit with no need
never takes part (it keeps its minimum). Huntington-Hill has ``d(0) = 0``: a positive-need unit
holding no extras has infinite priority, so such units are served first, largest need first,
before any unit gets a second extra.

Ties in priority go to the unit with the larger need, then to the unit whose ``tiebreak`` key
sorts first (default: the lower position). The ward adapter sorts wards by code before calling
the core, so the result never depends on row order.

Because the order in which the officers are handed out is fixed before the pool size is known,
the allocation for ``pool + 1`` is the allocation for ``pool`` plus one officer: no unit ever
loses an officer when the pool grows (house monotonicity), with or without minimums and caps.
The implementation jumps ahead with a vectorised threshold count when the pool is large, then
finishes with a heap; it gives the same result as the one-at-a-time definition.

Hamilton is *not* house monotone (the Alabama paradox: growing the pool can take an officer from
a unit); it stays within quota when no bound binds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from numbers import Integral, Real
from typing import Any

import numpy as np

from planner.config import DIVISOR_METHODS, METHODS, Method
from planner.errors import ConfigError, DataError, InfeasibleAllocationError
from planner.plan.checks import (
    MAX_LISTED,
    check_bound,
    check_feasible,
    check_mask,
    check_need,
    check_pool,
    prepare,
    unit_labels,
)
from planner.plan.kernels import solve

__all__ = [
    "DIVISOR_METHODS",
    "METHODS",
    "Method",
    "apportion",
    "apportion_with_floors",
    "borough_floors",
    "damping_bounds",
    "outside_quota",
    "quota",
]

# ======================================================================================
# The numeric core
# ======================================================================================


def apportion(
    need: np.ndarray,
    pool: int,
    *,
    method: Method = "webster",
    minimum: np.ndarray | int | None = None,
    maximum: np.ndarray | int | None = None,
    eligible: np.ndarray | None = None,
    tiebreak: np.ndarray | Sequence[Any] | None = None,
    labels: Sequence[Any] | None = None,
) -> np.ndarray:
    """Apportion *pool* extra officers among units in proportion to *need*.

    Parameters
    ----------
    need
        Need per unit: finite, non-negative. A unit with zero need gets only its minimum.
    pool
        Whole officers to hand out; the result sums to exactly this.
    method
        ``"webster"`` (Sainte-Laguë, default), ``"dhondt"`` (Jefferson),
        ``"huntington_hill"`` or ``"hamilton"`` (largest remainder). See the module notes.
    minimum, maximum
        Per-unit bounds on the extras (an int applies to every unit); default 0 and no cap.
    eligible
        False excludes a unit: it gets 0 extras (its minimum must then be 0).
    tiebreak
        Keys whose stable sort orders units for exact ties (default: position).
    labels
        Names of the units, used in error messages (default: positions).

    Returns
    -------
    numpy.ndarray
        Extra officers per unit (int64), aligned with *need*.

    Raises
    ------
    DataError
        *need* has NaN, infinite or negative values, or an array has the wrong shape.
    ConfigError
        Unknown *method*, or *pool* is not a whole number.
    InfeasibleAllocationError
        The bounds cannot be met with this pool; the message names the numbers.
    """
    need, lo, hi, rank, labels = prepare(
        need, pool, method, minimum, maximum, eligible, tiebreak, labels
    )
    check_feasible(need, pool, lo, hi)
    return solve(need, pool, lo, hi, rank, method)


def quota(need: np.ndarray, pool: int) -> np.ndarray:
    """The exact (fractional) share of *pool* each unit's need entitles it to.

    ``need / need.sum() * pool``; all zeros when the total need is zero.

    Raises
    ------
    DataError
        *need* has NaN, infinite or negative values.
    """
    need = check_need(need, None)
    total = math.fsum(need.tolist())
    if total == 0:
        return np.zeros_like(need)
    return need * pool / total


def outside_quota(extra: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Flag units whose extras fall below ``floor(quota)`` or above ``ceil(quota)``."""
    extra = np.asarray(extra)
    quota = np.asarray(quota, dtype=np.float64)
    return (extra < np.floor(quota)) | (extra > np.ceil(quota))


def borough_floors(
    need: np.ndarray, borough_ids: np.ndarray | Sequence[Any], pool: int, share: float
) -> np.ndarray:
    """Minimum extra officers per borough: ``floor(share * need-proportional entitlement)``.

    The entitlement of a borough is ``pool * (borough need) / (total need)``, computed in exact
    rational arithmetic from exactly rounded sums, so the floors never sum above
    ``share * pool`` and do not depend on the order of the units.

    Parameters
    ----------
    need
        Need per unit (pass zero for excluded units).
    borough_ids
        Borough label of each unit.
    pool
        Extra officers in the pool.
    share
        Fraction of the entitlement guaranteed, in [0, 1].

    Returns
    -------
    numpy.ndarray
        One floor (int64) per borough, in the order of ``numpy.unique(borough_ids)``.

    Raises
    ------
    DataError, ConfigError
        Bad *need*, *share* outside [0, 1], or *pool* not a whole number >= 0.
    """
    need = check_need(need, None)
    pool = check_pool(pool)
    if not isinstance(share, Real) or not 0.0 <= float(share) <= 1.0:
        raise ConfigError(f"borough floor share must be a number in [0, 1], found {share!r}")
    codes, group = np.unique(np.asarray(borough_ids), return_inverse=True)
    if group.shape != need.shape:
        raise DataError(f"borough_ids has {group.size} entries but need has {need.size}")
    sums = [Fraction(math.fsum(need[group == g].tolist())) for g in range(codes.size)]
    total = sum(sums, Fraction(0))
    if total == 0:
        return np.zeros(codes.size, dtype=np.int64)
    s = Fraction(float(share))
    return np.array([math.floor(s * b * pool / total) for b in sums], dtype=np.int64)


def apportion_with_floors(
    need: np.ndarray,
    groups: np.ndarray | Sequence[Any],
    pool: int,
    *,
    group_minimum: np.ndarray,
    method: Method = "webster",
    minimum: np.ndarray | int | None = None,
    maximum: np.ndarray | int | None = None,
    eligible: np.ndarray | None = None,
    tiebreak: np.ndarray | Sequence[Any] | None = None,
    labels: Sequence[Any] | None = None,
    floors_yield: bool = False,
) -> np.ndarray:
    """Apportion over every unit at once, guaranteeing each group a minimum total.

    One stage, every unit against every other: :func:`apportion` of the whole pool. A group
    whose total falls below its minimum (``max(group_minimum, its units' minimums)``) is
    given exactly that minimum, apportioned among its own units with their bounds, and set
    aside; the rest of the pool is apportioned again over the other units, until no group
    is below its minimum (at most one round per group).

    So a floor changes only the groups it lifts: among the units of groups it does not lift
    the allocation is the one-stage one (a unit with more need never gets fewer officers
    than one with less, caps and minimums aside), and a lifted group gets its floor and no
    more. Comparing wards only within their borough, as a two-stage allocation (boroughs
    first, then wards) would, makes a ward in a needier borough lose to a ward with less
    need elsewhere; here that happens only where a floor lifts the second ward's borough.
    :func:`planner.plan.equity.inversions` counts the pairs.

    Floors that grow with the pool (as :func:`borough_floors` does) can take an officer from
    a unit when the pool grows: no method both respects floors derived from quota and is
    house monotone (Balinski and Young).

    Parameters
    ----------
    need, pool, method, minimum, maximum, eligible, tiebreak, labels
        As for :func:`apportion`.
    groups
        Group label of each unit.
    group_minimum
        Minimum total per group, in the order of ``numpy.unique(groups)``.
    floors_yield
        A group minimum above what the group's units can take under their bounds is lowered
        to that instead of raising: damping limits how far a year's plan moves, and a floor
        is then met as far as damping allows (the caller reports the shortfall).

    Returns
    -------
    numpy.ndarray
        Officers per unit (int64).

    Raises
    ------
    InfeasibleAllocationError
        A group minimum exceeds what its units can take, or the minimums exceed the pool.
    DataError, ConfigError
        As for :func:`apportion`.
    """
    need, lo, hi, rank, labels = prepare(
        need, pool, method, minimum, maximum, eligible, tiebreak, labels
    )
    codes, group = np.unique(np.asarray(groups), return_inverse=True)
    if group.shape != need.shape:
        raise DataError(f"groups has {group.size} entries but need has {need.size}")
    gmin = check_bound(group_minimum, codes.size, "group_minimum")
    check_feasible(need, pool, lo, hi)
    group_cap = np.bincount(group, weights=np.where(need > 0, hi, lo), minlength=codes.size)
    group_cap = group_cap.astype(np.int64)
    group_lo = np.maximum(
        gmin, np.bincount(group, weights=lo, minlength=codes.size).astype(np.int64)
    )
    if floors_yield:
        group_lo = np.minimum(group_lo, np.maximum(group_cap, 0))
    over = np.flatnonzero(group_lo > group_cap)
    if over.size:
        raise InfeasibleAllocationError(
            "; ".join(
                f"{codes[g]}: floor needs {group_lo[g]} officers but its units can take at most "
                f"{group_cap[g]} under their caps (and damping)"
                for g in over[:MAX_LISTED]
            )
            + "; lower the floor share or raise the caps"
        )
    if group_lo.sum() > pool:
        raise InfeasibleAllocationError(
            f"floors need {group_lo.sum()} officers, pool has {pool}; lower the floor share "
            "or the minimums, or enlarge the pool"
        )
    extra = lo.copy()
    free = np.ones(need.size, bool)  # units of groups not set aside
    left = pool
    while True:
        idx = np.flatnonzero(free)
        extra[idx] = solve(need[idx], left, lo[idx], hi[idx], rank[idx], method)
        totals = np.bincount(group[idx], weights=extra[idx], minlength=codes.size)
        lifted = np.flatnonzero((totals < group_lo) & np.isin(np.arange(codes.size), group[idx]))
        if not lifted.size:
            return extra
        for g in lifted:
            members = np.flatnonzero(group == g)
            extra[members] = solve(
                need[members], int(group_lo[g]), lo[members], hi[members], rank[members], method
            )
            free[members] = False
            left -= int(group_lo[g])


def damping_bounds(
    current_extra: np.ndarray,
    max_change: int,
    *,
    pool: int,
    minimum: np.ndarray | int | None = None,
    maximum: np.ndarray | int | None = None,
    eligible: np.ndarray | None = None,
    labels: Sequence[Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit bounds that keep each unit within *max_change* of its current extras.

    ``lo = max(minimum, current - max_change, 0)`` and ``hi = min(maximum, current + max_change)``;
    excluded units (``eligible`` False) get ``hi = 0``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lo, hi)``, int64, to pass as ``minimum`` and ``maximum``.

    Raises
    ------
    InfeasibleAllocationError
        A unit's range is empty (named, with its numbers), the lower bounds need more than the
        pool, or the upper bounds allow less than the pool.
    """
    current = check_bound(current_extra, None, "current_extra")
    n = current.size
    if not isinstance(max_change, Integral) or isinstance(max_change, bool) or max_change < 0:
        raise ConfigError(f"max_change must be a whole number >= 0, found {max_change!r}")
    pool = check_pool(pool)
    labels = unit_labels(labels, n)
    lo = np.maximum(current - max_change, 0)
    hi = current + max_change
    if minimum is not None:
        lo = np.maximum(lo, check_bound(minimum, n, "minimum"))
    if maximum is not None:
        hi = np.minimum(hi, check_bound(maximum, n, "maximum"))
    if eligible is not None:
        hi = np.where(check_mask(eligible, n), hi, 0)
    problems = [
        f"{labels[i]} has {current[i]} extra officers now, so needs at least {lo[i]} "
        f"but may have at most {hi[i]}"
        for i in np.flatnonzero(lo > hi)[:MAX_LISTED]
    ]
    if problems:
        raise InfeasibleAllocationError(
            f"damping (max_change {max_change}) cannot be met: "
            + "; ".join(problems)
            + "; raise max_change or the caps"
        )
    if lo.sum() > pool:
        raise InfeasibleAllocationError(
            f"damping keeps at least {lo.sum()} extra officers (current minus max_change "
            f"{max_change}), pool has {pool}; raise max_change or enlarge the pool"
        )
    if hi.sum() < pool:
        raise InfeasibleAllocationError(
            f"damping allows at most {hi.sum()} extra officers (current plus max_change "
            f"{max_change}, within the caps), pool has {pool}; raise max_change or shrink the pool"
        )
    return lo.astype(np.int64), hi.astype(np.int64)

"""Whole-officer apportionment: the numeric core of the allocation (plain numpy arrays).

Every ward keeps its baseline team (default 2 Dedicated Ward Officers + 1 PCSO); a pool of
*extra* officers is then apportioned by need, in whole officers.

The core works on plain numpy arrays, one entry per *unit* (a ward, or a borough in the first
stage of :func:`apportion_two_stage`):

- :func:`apportion` - divisor methods (Webster/Sainte-Laguë, D'Hondt/Jefferson,
  Huntington-Hill) and Hamilton (largest remainder), with per-unit lower and upper bounds and
  excluded units;
- :func:`quota`, :func:`outside_quota` - the exact share and the units that end outside it;
- :func:`borough_floors`, :func:`apportion_two_stage` - a guaranteed minimum per borough;
- :func:`damping_bounds` - per-unit bounds that limit the change from current staffing.

:func:`planner.plan.allocation.allocate_wards` adapts the core to Series indexed by ``ward_code``.

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

import heapq
import math
from collections.abc import Sequence
from fractions import Fraction
from numbers import Integral, Real
from typing import Any, Final

import numpy as np

from planner.config import DIVISOR_METHODS, METHODS, Method
from planner.errors import ConfigError, DataError, InfeasibleAllocationError

__all__ = [
    "DIVISOR_METHODS",
    "MAX_LISTED",
    "METHODS",
    "Method",
    "apportion",
    "apportion_two_stage",
    "borough_floors",
    "check_bound",
    "check_need",
    "check_pool",
    "damping_bounds",
    "outside_quota",
    "quota",
]

MAX_LISTED: Final = 10  # units named in one error message
_JUMP_MIN_FREE = 256  # below this many officers the heap alone is faster than the jump start

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
    need, lo, hi, rank, labels = _prepare(
        need, pool, method, minimum, maximum, eligible, tiebreak, labels
    )
    _check_feasible(need, pool, lo, hi)
    return _solve(need, pool, lo, hi, rank, method)


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


def apportion_two_stage(
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
) -> np.ndarray:
    """Apportion with a minimum total per group (borough floors), in two stages.

    Stage 1 apportions *pool* among the groups by their eligible need with the same *method*,
    each group bounded below by ``max(group_minimum, sum of its units' minimums)`` and above by
    what its units can take (caps of units with need, minimums of units without). Stage 2
    apportions each group's total among its units with their own bounds. Groups are tied in
    the order of ``numpy.unique(groups)``.

    Guarantees: totals exact, every group at or above its minimum, every unit within its bounds.
    For divisor methods both stages are house monotone, so with the same *group_minimum* a pool
    one larger never takes an officer from any unit. Floors that grow with the pool (as
    :func:`borough_floors` does) can break this: no method both respects floors derived from
    quota and is house monotone (Balinski and Young).

    Parameters
    ----------
    need, pool, method, minimum, maximum, eligible, tiebreak, labels
        As for :func:`apportion`.
    groups
        Group label of each unit.
    group_minimum
        Minimum total extras per group, in the order of ``numpy.unique(groups)``.

    Returns
    -------
    numpy.ndarray
        Extra officers per unit (int64).

    Raises
    ------
    InfeasibleAllocationError
        A group minimum exceeds what its units can take, or the minimums exceed the pool.
    DataError, ConfigError
        As for :func:`apportion`.
    """
    need, lo, hi, rank, labels = _prepare(
        need, pool, method, minimum, maximum, eligible, tiebreak, labels
    )
    codes, group = np.unique(np.asarray(groups), return_inverse=True)
    if group.shape != need.shape:
        raise DataError(f"groups has {group.size} entries but need has {need.size}")
    gmin = check_bound(group_minimum, codes.size, "group_minimum")
    _check_feasible(need, pool, lo, hi)
    positive = need > 0
    group_need = np.bincount(group, weights=np.where(hi > 0, need, 0.0), minlength=codes.size)
    group_cap = np.bincount(group, weights=np.where(positive, hi, lo), minlength=codes.size)
    group_cap = group_cap.astype(np.int64)
    group_lo = np.maximum(
        gmin, np.bincount(group, weights=lo, minlength=codes.size).astype(np.int64)
    )
    over = np.flatnonzero(group_lo > group_cap)
    if over.size:
        raise InfeasibleAllocationError(
            "; ".join(
                f"{codes[g]}: floor needs {group_lo[g]} officers but its units can take at most "
                f"{group_cap[g]} under their caps"
                for g in over[:MAX_LISTED]
            )
            + "; lower the floor share or raise the caps"
        )
    if group_lo.sum() > pool:
        raise InfeasibleAllocationError(
            f"floors need {group_lo.sum()} officers, pool has {pool}; lower the floor share "
            "or the minimums, or enlarge the pool"
        )
    totals = _solve(group_need, pool, group_lo, group_cap, np.arange(codes.size), method)
    extra = lo.copy()
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(codes.size + 1))
    for g in range(codes.size):
        idx = order[starts[g] : starts[g + 1]]
        extra[idx] = _solve(need[idx], int(totals[g]), lo[idx], hi[idx], rank[idx], method)
    return extra


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
    labels = _labels(labels, n)
    lo = np.maximum(current - max_change, 0)
    hi = current + max_change
    if minimum is not None:
        lo = np.maximum(lo, check_bound(minimum, n, "minimum"))
    if maximum is not None:
        hi = np.minimum(hi, check_bound(maximum, n, "maximum"))
    if eligible is not None:
        hi = np.where(_check_mask(eligible, n), hi, 0)
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


# --- validation -------------------------------------------------------------------


def _prepare(
    need: Any,
    pool: Any,
    method: str,
    minimum: Any,
    maximum: Any,
    eligible: Any,
    tiebreak: Any,
    labels: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[Any]]:
    """Validate the core's arguments; return need, lo, hi (0 if excluded), rank, labels."""
    if method not in METHODS:
        raise ConfigError(
            f"allocation method {method!r} is not known; use one of {', '.join(METHODS)}"
        )
    labels_list = _labels(labels, np.asarray(need).size)
    need = check_need(need, labels_list)
    pool = check_pool(pool)
    n = need.size
    lo = np.zeros(n, np.int64) if minimum is None else check_bound(minimum, n, "minimum")
    big = pool + int(lo.sum())  # no unit can usefully hold more than this
    hi = np.full(n, big, np.int64) if maximum is None else check_bound(maximum, n, "maximum")
    problems = []
    mask = np.ones(n, bool) if eligible is None else _check_mask(eligible, n)
    bad = np.flatnonzero(~mask & (lo > 0))
    if bad.size:
        problems.append(
            "excluded units must have minimum 0: "
            + ", ".join(f"{labels_list[i]} has minimum {lo[i]}" for i in bad[:MAX_LISTED])
        )
    hi = np.where(mask, hi, 0)
    bad = np.flatnonzero((lo > hi) & mask)  # excluded units are reported above
    if bad.size:
        problems.append(
            "minimum above maximum: "
            + ", ".join(
                f"{labels_list[i]} minimum {lo[i]} > maximum {hi[i]}" for i in bad[:MAX_LISTED]
            )
        )
    if problems:
        raise InfeasibleAllocationError("; ".join(problems))
    if tiebreak is None:
        rank = np.arange(n)
    else:
        keys = np.asarray(tiebreak)
        if keys.shape != (n,):
            raise DataError(f"tiebreak has shape {keys.shape}, expected ({n},)")
        rank = np.empty(n, np.int64)
        rank[np.argsort(keys, kind="stable")] = np.arange(n)
    return need, lo, hi, rank, labels_list


def _check_feasible(need: np.ndarray, pool: int, lo: np.ndarray, hi: np.ndarray) -> None:
    """Raise unless the pool fits between the minimums and what the units with need can take."""
    if lo.sum() > pool:
        raise InfeasibleAllocationError(
            f"floors need {lo.sum()} officers, pool has {pool}; "
            "lower the minimums or enlarge the pool"
        )
    if hi.sum() < pool:
        raise InfeasibleAllocationError(
            f"caps allow at most {hi.sum()} officers across {int((hi > 0).sum())} eligible units, "
            f"pool has {pool}; raise the caps or shrink the pool"
        )
    positive = need > 0
    capacity = int(hi[positive].sum() + lo[~positive].sum())
    if capacity < pool:
        raise InfeasibleAllocationError(
            f"units with need can take at most {capacity} officers (units without need keep only "
            f"their minimums), pool has {pool}; raise the caps or shrink the pool"
        )


def _labels(labels: Any, n: int) -> list[Any]:
    if labels is None:
        return [f"unit {i}" for i in range(n)]
    out = list(labels)
    if len(out) != n:
        raise DataError(f"labels has {len(out)} entries, expected {n}")
    return out


def check_need(need: Any, labels: list[Any] | None) -> np.ndarray:
    try:
        arr = np.asarray(need, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"need must be numbers, found {np.asarray(need).dtype}: {exc}") from exc
    if arr.ndim != 1:
        raise DataError(f"need must be one-dimensional, found shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        names = labels if labels is not None else [f"unit {i}" for i in range(arr.size)]
        listed = ", ".join(f"{names[i]}={float(arr[i])!r}" for i in bad[:MAX_LISTED])
        raise DataError(
            f"need must be finite and >= 0; {bad.size} unit(s) are not: {listed}; "
            "fix the need index (NaN usually means a ward without data)"
        )
    return arr


def check_pool(pool: Any) -> int:
    if not isinstance(pool, Integral) or isinstance(pool, bool):
        raise ConfigError(f"pool must be a whole number of officers, found {pool!r}")
    if pool < 0:
        raise InfeasibleAllocationError(f"pool must be >= 0 officers, found {pool}")
    return int(pool)


def check_bound(values: Any, n: int | None, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if n is not None and arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.ndim != 1 or (n is not None and arr.size != n):
        raise DataError(f"{name} must have {n} entries, found shape {arr.shape}")
    if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and not np.all(np.isfinite(arr))):
        raise DataError(f"{name} must be whole numbers, found dtype {arr.dtype}")
    as_int = arr.astype(np.int64)
    if np.any(as_int != arr) or np.any(as_int < 0):
        raise DataError(f"{name} must be whole numbers >= 0")
    return as_int


def _check_mask(mask: Any, n: int) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.shape != (n,) or arr.dtype != bool:
        raise DataError(f"eligible must be {n} booleans, found shape {arr.shape} dtype {arr.dtype}")
    return arr


# --- solving ------------------------------------------------------------------------


def _solve(
    need: np.ndarray, pool: int, lo: np.ndarray, hi: np.ndarray, rank: np.ndarray, method: str
) -> np.ndarray:
    """Apportion assuming the inputs are valid and feasible."""
    if method == "hamilton":
        return _hamilton(need, pool, lo, hi, rank)
    return _divisor(need, pool, lo, hi, rank, method)


def _priority(need: np.ndarray, k: np.ndarray, method: str) -> np.ndarray:
    """``need / d(k)`` (need > 0); infinite where Huntington-Hill's ``d(0)`` is 0."""
    k = k.astype(np.float64)
    if method == "webster":
        d = k + 0.5
    elif method == "dhondt":
        d = k + 1.0
    else:
        d = np.sqrt(k * (k + 1.0))
    with np.errstate(divide="ignore"):
        return need / d


def _priority_one(need: float, k: int, method: str) -> float:
    """Scalar :func:`_priority`: the same IEEE operations, so the same value."""
    if method == "webster":
        return need / (k + 0.5)
    if method == "dhondt":
        return need / (k + 1.0)
    d = math.sqrt(float(k) * (k + 1.0))
    return need / d if d > 0 else math.inf


def _divisor(
    need: np.ndarray,
    pool: int,
    lo: np.ndarray,
    hi: np.ndarray,
    rank: np.ndarray,
    method: str,
    *,
    jump: bool | None = None,
) -> np.ndarray:
    """Sequential highest-priority assignment from *lo*, skipping units at *hi*.

    *jump* forces (True) or skips (False) the vectorised jump start; by default it runs when
    more than ``_JUMP_MIN_FREE`` officers are left to hand out and more than there are units.
    """
    extra = lo.copy()
    free = pool - int(lo.sum())
    units = np.flatnonzero((need > 0) & (hi > lo))
    if free <= 0 or units.size == 0:
        return extra
    n, start = need[units], lo[units]
    stop = np.minimum(hi[units], start + free)
    k = start.copy()
    if jump is None:
        jump = free > max(_JUMP_MIN_FREE, units.size)
    if jump:
        k = _jump_start(n, start, stop, free, method)
    left = free - int((k - start).sum())
    open_ = np.flatnonzero(k < stop)
    prio = _priority(n[open_], k[open_], method)
    heap = list(
        zip(
            (-prio).tolist(),
            (-n[open_]).tolist(),
            rank[units][open_].tolist(),
            open_.tolist(),
            strict=True,
        )
    )
    heapq.heapify(heap)
    need_list, k_list, stop_list = n.tolist(), k.tolist(), stop.tolist()
    for _ in range(left):
        _, neg_need, r, j = heapq.heappop(heap)
        k_list[j] += 1
        if k_list[j] < stop_list[j]:
            p = _priority_one(need_list[j], k_list[j], method)
            heapq.heappush(heap, (-p, neg_need, r, j))
    extra[units] = k_list
    return extra


def _count_above(
    n: np.ndarray, start: np.ndarray, stop: np.ndarray, t: float, method: str
) -> np.ndarray:
    """Per unit, the first k in [start, stop] whose priority is <= t (all earlier are > t)."""
    x = n / t
    with np.errstate(over="ignore", invalid="ignore"):
        if method == "webster":
            est = np.ceil(x - 0.5)
        elif method == "dhondt":
            est = np.ceil(x - 1.0)
        else:
            est = np.ceil((np.sqrt(1.0 + 4.0 * x * x) - 1.0) / 2.0)
    k = np.clip(est, start, stop).astype(np.int64)
    while True:  # exact fix-up against the priorities the heap uses
        down = (k > start) & (_priority(n, k - 1, method) <= t)
        if not down.any():
            break
        k[down] -= 1
    while True:
        up = (k < stop) & (_priority(n, k, method) > t)
        if not up.any():
            break
        k[up] += 1
    return k


def _jump_start(
    n: np.ndarray, start: np.ndarray, stop: np.ndarray, free: int, method: str
) -> np.ndarray:
    """Give every seat above a threshold at once, leaving at most a few for the heap.

    The seats with priority strictly above a threshold ``t`` come before every other seat in
    the hand-out order, so taking them all is the same as handing them out one at a time.
    ``t`` is found by geometric bisection so that their count stays <= *free*.
    """
    smallest_divisor = {"webster": 0.5, "dhondt": 1.0}.get(method, math.sqrt(2.0))
    t_hi = float(n.max()) / smallest_divisor  # only infinite priorities lie above
    k_hi = _count_above(n, start, stop, t_hi, method)
    if int((k_hi - start).sum()) > free:
        return start
    t_lo = 0.5 * float(_priority(n, stop - 1, method).min())  # every seat lies above
    slack = min(16, free)
    for _ in range(200):
        if free - int((k_hi - start).sum()) <= slack:
            break
        t_mid = math.sqrt(t_lo * t_hi)
        if not t_lo < t_mid < t_hi:
            break
        k_mid = _count_above(n, start, stop, t_mid, method)
        if int((k_mid - start).sum()) <= free:
            t_hi, k_hi = t_mid, k_mid
        else:
            t_lo = t_mid
    return k_hi


def _hamilton(
    need: np.ndarray, pool: int, lo: np.ndarray, hi: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Largest remainder on quotas bounded by [lo, hi]."""
    extra = lo.copy()
    units = np.flatnonzero((need > 0) & (hi > 0))
    target = pool - int(lo.sum()) + int(lo[units].sum())
    if units.size == 0:
        return extra
    n, low, high = need[units], lo[units], hi[units]
    q = _bounded_quota(n, target, low, high)
    whole = np.clip(np.floor(q).astype(np.int64), low, high)
    left = target - int(whole.sum())
    remainder = q - whole
    r = rank[units]
    while left > 0:  # one round unless rounding error left more than one per unit
        cand = np.flatnonzero(whole < high)
        order = cand[np.lexsort((r[cand], -n[cand], -remainder[cand]))][:left]
        whole[order] += 1
        remainder[order] -= 1.0
        left -= order.size
    while left < 0:  # only after rounding error; undo the smallest remainders
        cand = np.flatnonzero(whole > low)
        order = cand[np.lexsort((-r[cand], n[cand], remainder[cand]))][:-left]
        whole[order] -= 1
        remainder[order] += 1.0
        left += order.size
    extra[units] = whole
    return extra


def _bounded_quota(n: np.ndarray, target: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Quotas ``clamp(lambda * n, low, high)`` summing to *target*, by iterative redistribution.

    Units whose proportional quota breaks a bound are fixed at it and the rest of the pool is
    shared again in proportion to need. Each round fixes the side with the larger total
    violation (both if equal): that side is certain to stay violated at the final lambda.
    """
    q = np.zeros_like(n)
    fixed = np.zeros(n.size, dtype=bool)
    while not fixed.all():
        free = ~fixed
        rest = target - q[fixed].sum()
        q[free] = n[free] * rest / n[free].sum()
        over, under = free & (q > high), free & (q < low)
        if not (over.any() or under.any()):
            break
        excess, deficit = (q - high)[over].sum(), (low - q)[under].sum()
        if excess >= deficit:
            q[over], fixed[over] = high[over], True
        if deficit >= excess:
            q[under], fixed[under] = low[under], True
    return q

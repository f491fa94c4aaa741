"""The solvers of the apportionment: divisor methods by heap and jump start, and Hamilton.

They assume arguments already checked and feasible (:mod:`planner.plan.checks`);
:mod:`planner.plan.apportion` is the public API and its notes define what the methods do (ties,
house monotonicity, the Alabama paradox). :func:`divisor` hands out the officers one at a time,
each to the unit with the highest priority ``need / d(k)``, from a heap; when the pool is large
it first gives at once every seat whose priority lies above a threshold (the jump start, found
by geometric bisection), which gives the same result as the one-at-a-time definition.
:func:`hamilton` is largest remainder on quotas bounded by the per-unit minimums and maximums.
:func:`solve` picks one of them by method.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

__all__ = ["divisor", "hamilton", "solve"]

_JUMP_MIN_FREE = 256  # below this many officers the heap alone is faster than the jump start


def solve(
    need: np.ndarray, pool: int, lo: np.ndarray, hi: np.ndarray, rank: np.ndarray, method: str
) -> np.ndarray:
    """Apportion assuming the inputs are valid and feasible."""
    if method == "hamilton":
        return hamilton(need, pool, lo, hi, rank)
    return divisor(need, pool, lo, hi, rank, method)


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


def divisor(
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


def hamilton(
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

"""Checks of the apportionment's arguments: need, pool, bounds, eligibility, labels, tiebreaks.

Shared by :mod:`planner.plan.apportion` (:func:`prepare` validates the core's arguments,
:func:`check_feasible` whether the pool fits between the bounds) and the ward adapter
:mod:`planner.plan.allocation`. Every message names the offending units and their numbers, at
most :data:`MAX_LISTED` of them.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, Final

import numpy as np

from planner.config import METHODS
from planner.errors import ConfigError, DataError, InfeasibleAllocationError

__all__ = [
    "MAX_LISTED",
    "check_bound",
    "check_feasible",
    "check_mask",
    "check_need",
    "check_pool",
    "prepare",
    "unit_labels",
]

MAX_LISTED: Final = 10  # units named in one error message


def prepare(
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
    labels_list = unit_labels(labels, np.asarray(need).size)
    need = check_need(need, labels_list)
    pool = check_pool(pool)
    n = need.size
    lo = np.zeros(n, np.int64) if minimum is None else check_bound(minimum, n, "minimum")
    big = pool + int(lo.sum())  # no unit can usefully hold more than this
    hi = np.full(n, big, np.int64) if maximum is None else check_bound(maximum, n, "maximum")
    problems = []
    mask = np.ones(n, bool) if eligible is None else check_mask(eligible, n)
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


def check_feasible(need: np.ndarray, pool: int, lo: np.ndarray, hi: np.ndarray) -> None:
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


def unit_labels(labels: Any, n: int) -> list[Any]:
    """*labels* as a list of *n* names (default ``"unit i"``)."""
    if labels is None:
        return [f"unit {i}" for i in range(n)]
    out = list(labels)
    if len(out) != n:
        raise DataError(f"labels has {len(out)} entries, expected {n}")
    return out


def check_need(need: Any, labels: list[Any] | None) -> np.ndarray:
    """*need* as a float64 array: one-dimensional, finite and >= 0 (units named by *labels*)."""
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
    """*pool* as an int: a whole number of officers >= 0."""
    if not isinstance(pool, Integral) or isinstance(pool, bool):
        raise ConfigError(f"pool must be a whole number of officers, found {pool!r}")
    if pool < 0:
        raise InfeasibleAllocationError(f"pool must be >= 0 officers, found {pool}")
    return int(pool)


def check_bound(values: Any, n: int | None, name: str) -> np.ndarray:
    """*values* (or one value for all *n* units) as int64 whole numbers >= 0."""
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


def check_mask(mask: Any, n: int) -> np.ndarray:
    """*mask* checked to be *n* booleans."""
    arr = np.asarray(mask)
    if arr.shape != (n,) or arr.dtype != bool:
        raise DataError(f"eligible must be {n} booleans, found shape {arr.shape} dtype {arr.dtype}")
    return arr

"""Equity of an allocation: who is worst served, the Gini of officers per need, share gaps.

:func:`equity_summary` gives the ``equity`` numbers of
:class:`planner.plan.allocation.AllocationResult` (see
:func:`planner.plan.allocation.allocate_wards` for their meaning) from the ward and borough
columns the adapter builds, both sorted by code; :func:`weighted_gini` is its need-weighted
Gini coefficient.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from planner.schema import (
    BOROUGH_CODE,
    EXTRA,
    MET_FLOOR,
    NEED,
    OUTSIDE_QUOTA,
    QUOTA,
    RATIO,
    SHARE_GAP,
    TARGET,
    TARGET_RATIO,
)

__all__ = ["equity_summary", "weighted_gini"]


def weighted_gini(amount: np.ndarray, weights: np.ndarray) -> float:
    """Gini of ``x = amount / weight`` over units of weight (weights > 0).

    ``G = sum_ij w_i w_j |x_i - x_j| / (2 W^2 mean(x))`` with ``W = sum(w)`` and the weighted
    mean ``sum(amount) / W``; with the units sorted by ``x`` this is
    ``sum_i amount_i (W_before_i - W_after_i) / (W sum(amount))``. NaN when nothing is allocated.
    """
    keep = weights > 0
    amount, w = amount[keep].astype(np.float64), weights[keep]
    total_w, total_amount = w.sum(), amount.sum()
    if amount.size == 0 or total_amount == 0:
        return math.nan
    with np.errstate(over="ignore"):  # a tiny weight gives an infinite x; it sorts last
        order = np.argsort(amount / w, kind="stable")
    amount, w = amount[order], w[order]
    before = np.cumsum(w) - w
    after = total_w - before - w
    return float((amount * (before - after)).sum() / (total_w * total_amount))


def equity_summary(
    ward_codes: np.ndarray,
    wards: dict[str, np.ndarray],
    borough_codes: np.ndarray,
    boroughs: dict[str, np.ndarray],
) -> dict[str, Any]:
    """Equity summary; both tables sorted by code, so ties name the lowest code."""
    served = np.flatnonzero(wards[QUOTA] > 0)
    targeted = np.flatnonzero(boroughs[TARGET] > 0)
    out: dict[str, Any] = {
        "worst_served_ratio": math.nan,
        "worst_served_ward": None,
        "worst_served_ward_borough": None,
        "worst_served_borough_ratio": math.nan,
        "worst_served_borough": None,
    }
    if served.size:
        i = served[np.argmin(wards[TARGET_RATIO][served])]
        out["worst_served_ratio"] = float(wards[TARGET_RATIO][i])
        out["worst_served_ward"] = str(ward_codes[i])
        out["worst_served_ward_borough"] = str(wards[BOROUGH_CODE][i])
    if targeted.size:
        b = targeted[np.argmin(boroughs[RATIO][targeted])]
        out["worst_served_borough_ratio"] = float(boroughs[RATIO][b])
        out["worst_served_borough"] = str(borough_codes[b])
    need = wards[NEED][served]
    out["gini_officers_per_need"] = weighted_gini(wards[EXTRA][served], need)
    out["max_abs_share_gap_ward"] = _max_abs(wards[SHARE_GAP])
    out["max_abs_share_gap_borough"] = _max_abs(boroughs[SHARE_GAP])
    out["wards_outside_quota"] = int(wards[OUTSIDE_QUOTA].sum())
    out["boroughs_below_floor"] = int((~boroughs[MET_FLOOR]).sum())
    return out


def _max_abs(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.abs(finite).max()) if finite.size else math.nan

"""Equity of an allocation against its own need index: inversions, rounding, share gaps.

:func:`equity_summary` gives the ``equity`` numbers of
:class:`planner.plan.allocation.AllocationResult` (see
:func:`planner.plan.allocation.allocate_wards` for their meaning) from the ward and borough
columns the adapter builds, both sorted by code; :func:`weighted_gini` is its need-weighted
Gini coefficient; :func:`inversions` finds pairs of wards where the one in more need gets
fewer extras.

These measure the allocation against the need index it was made from: whole-officer rounding
and the borough floors show up here, but not whether the index itself is fair. The outside
yardsticks (harm, residents, ASB, deprivation, public confidence) are
:mod:`planner.plan.yardsticks`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from planner.schema import (
    BOROUGH_CODE,
    ELIGIBLE,
    EXTRA,
    MET_FLOOR,
    NEED,
    OUTSIDE_QUOTA,
    POLICY_QUOTA,
    QUOTA,
    RATIO,
    SHARE_GAP,
    TARGET,
    TARGET_RATIO,
)

__all__ = ["MAX_INVERSIONS_LISTED", "equity_summary", "inversions", "weighted_gini"]

MAX_INVERSIONS_LISTED = 5
"""Inversions listed in the summary (worst first)."""


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
    if POLICY_QUOTA in wards:
        rounding = wards[EXTRA] - wards[POLICY_QUOTA]
        out["rounding_officers_moved"] = float(np.abs(rounding).sum() / 2)
        out["rounding_max_abs"] = _max_abs(rounding)
    found = inversions(ward_codes, wards[BOROUGH_CODE], wards[NEED], wards[EXTRA], wards[ELIGIBLE])
    out["inversions_cross_borough"] = found["cross_borough"]
    out["inversions_within_borough"] = found["within_borough"]
    out["worst_inversions"] = found["worst"]
    return out


def inversions(
    codes: np.ndarray,
    boroughs: np.ndarray,
    need: np.ndarray,
    extra: np.ndarray,
    eligible: np.ndarray,
) -> dict[str, Any]:
    """Pairs of eligible wards where the one with more need gets fewer extras.

    A pair (a, b) is an inversion when ``need[a] > need[b]`` and ``extra[a] < extra[b]``.
    Two-stage borough floors make them across boroughs (a ward competes only within its
    borough); caps and damping can make them anywhere.

    Returns
    -------
    dict
        ``cross_borough`` and ``within_borough`` counts, and ``worst``: up to
        :data:`MAX_INVERSIONS_LISTED` pairs, largest extras gap first, then largest need gap,
        each ``{"more_need": code, "need": .., "extra": .., "less_need": code, ...}``.
    """
    idx = np.flatnonzero(np.asarray(eligible, bool))
    n, e, b = need[idx].astype(float), extra[idx].astype(np.int64), boroughs[idx]
    inverted = (n[:, None] > n[None, :]) & (e[:, None] < e[None, :])
    same = b[:, None] == b[None, :]
    rows, cols = np.nonzero(inverted)
    worst = []
    if rows.size:
        gap_e, gap_n = e[cols] - e[rows], n[rows] - n[cols]
        order = np.lexsort((-gap_n, -gap_e))[:MAX_INVERSIONS_LISTED]
        for k in order:
            a, z = idx[rows[k]], idx[cols[k]]
            worst.append(
                {
                    "more_need": str(codes[a]),
                    "more_need_borough": str(boroughs[a]),
                    "more_need_need": float(need[a]),
                    "more_need_extra": int(extra[a]),
                    "less_need": str(codes[z]),
                    "less_need_borough": str(boroughs[z]),
                    "less_need_need": float(need[z]),
                    "less_need_extra": int(extra[z]),
                }
            )
    return {
        "cross_borough": int((inverted & ~same).sum()),
        "within_borough": int((inverted & same).sum()),
        "worst": worst,
    }


def _max_abs(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.abs(finite).max()) if finite.size else math.nan

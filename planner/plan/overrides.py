"""Commanders' overrides: moving extra officers between wards of one borough, with a reason.

An override never changes a borough's total; it is checked against the allocation as it
stands (a ward gives only the extras it has: its baseline team is never moved) and recorded
with who made it and why (:mod:`planner.register.store`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Final

import numpy as np
import pandas as pd

from planner.errors import DataError
from planner.plan.allocation import AllocationResult, recompute
from planner.schema import BOROUGH_CODE, EXTRA, NEED

__all__ = [
    "OVERRIDE",
    "Override",
    "OverrideChoices",
    "apply_overrides",
    "fitting_overrides",
    "override_choices",
]


@dataclass(frozen=True)
class Override:
    """Move ``officers`` extra officers from one ward to another in the same borough."""

    borough_code: str
    from_ward: str
    to_ward: str
    officers: int
    reason: str
    recorded_by: str = "local planner"


OVERRIDE: Final = "override"


def apply_overrides(result: AllocationResult, overrides: Iterable[Override]) -> AllocationResult:
    """Apply commanders' overrides; every borough's total stays as allocated.

    Parameters
    ----------
    result
        An allocation from :func:`allocate_wards`.
    overrides
        Applied in order; each is checked against the allocation as it stands.

    Returns
    -------
    AllocationResult
        The ward table gains ``override`` (net officers moved in or out); shares, ratios,
        quota flags and equity are recomputed. Borough totals are unchanged.

    Raises
    ------
    DataError
        A ward that is not in the allocation or not in the override's borough, a ward that
        would drop below its baseline team, a missing reason, or a non-positive number.
    """
    extra = result.wards[EXTRA].astype(np.int64).copy()
    moved = pd.Series(0, index=result.wards.index, dtype=np.int64)
    borough_of = result.wards[BOROUGH_CODE].astype(str)
    for o in overrides:
        _check_override(o, borough_of, extra)
        extra[o.from_ward] -= o.officers
        extra[o.to_ward] += o.officers
        moved[o.from_ward] -= o.officers
        moved[o.to_ward] += o.officers
    out = recompute(result, extra)
    wards = out.wards.assign(**{OVERRIDE: moved.reindex(out.wards.index).to_numpy()})
    return dataclasses.replace(out, wards=wards)


def _check_override(o: Override, borough_of: pd.Series, extra: pd.Series) -> None:
    problems = []
    if not str(o.reason).strip():
        problems.append("a reason is required")
    if not isinstance(o.officers, Integral) or isinstance(o.officers, bool) or o.officers <= 0:
        problems.append(f"officers must be a whole number > 0, found {o.officers!r}")
    if o.from_ward == o.to_ward:
        problems.append(f"from and to are the same ward ({o.from_ward})")
    for ward in (o.from_ward, o.to_ward):
        if ward not in borough_of.index:
            problems.append(f"ward {ward} is not in the allocation")
        elif borough_of[ward] != o.borough_code:
            problems.append(
                f"ward {ward} is in borough {borough_of[ward]}, not {o.borough_code}: "
                "overrides move officers within one borough"
            )
    if not problems and extra[o.from_ward] < o.officers:
        problems.append(
            f"ward {o.from_ward} has {int(extra[o.from_ward])} extra officer(s), cannot give "
            f"{o.officers} (its baseline team is never moved)"
        )
    if problems:
        raise DataError(f"override {o.from_ward} -> {o.to_ward}: " + "; ".join(problems))


def fitting_overrides(
    result: AllocationResult, recorded: Sequence[tuple[int, Override]]
) -> tuple[list[Override], list[dict[str, Any]]]:
    """The recorded overrides that fit *result*, applied in the order they were recorded.

    Overrides of wards outside the allocation (another ward vintage or data set) are left
    out silently; those that no longer fit (the giving ward has fewer extras in this
    scenario, say) are returned as skipped, with the reason.

    Parameters
    ----------
    result
        The scenario's allocation, before overrides.
    recorded
        ``(id, Override)`` pairs in the order they were recorded.

    Returns
    -------
    fits, skipped
        The overrides to apply; ``{"override": id, "why not applied": reason}`` for the others.
    """
    wards = set(result.wards.index)
    fits: list[Override] = []
    skipped: list[dict[str, Any]] = []
    current = result
    for number, override in recorded:
        if override.from_ward not in wards or override.to_ward not in wards:
            continue
        try:
            current = apply_overrides(current, [override])
        except DataError as exc:
            skipped.append({"override": int(number), "why not applied": str(exc)})
            continue
        fits.append(override)
    return fits, skipped


@dataclass(frozen=True)
class OverrideChoices:
    """Which wards of a borough can give extra officers, and which can take them."""

    givers: list[str]  # wards with extras to give, least need first
    takers: list[str]  # every ward of the borough, most need first


def override_choices(result: AllocationResult, borough: str) -> OverrideChoices:
    """The wards a commander may move officers from and to in *borough*.

    A ward can give only the extra officers it has (its baseline team is never moved).
    """
    mine = result.wards[result.wards[BOROUGH_CODE] == borough]
    by_need = list(mine[NEED].sort_values(kind="stable").index)  # least need first
    givers = [code for code in by_need if mine.at[code, EXTRA] > 0]
    return OverrideChoices(givers=givers, takers=by_need[::-1])

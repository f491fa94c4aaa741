"""When the sidebar asks for the impossible: the nearest settings that work, in plain words.

:func:`plan_or_nearest` plans the scenario; when the plan cannot be made (a per-ward cap too
low for the pool, floors that cannot be met, every need weight at 0) it searches the setting
the person can change for the nearest value that works, plans with that, and returns a
:class:`Repair` naming the setting, the value asked for, the value used and the sidebar
widget, so the page stays and says what to change. No rule about officers lives here: every
check is :func:`planner.api.plan`'s; this only tries values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

import streamlit as st

from planner import api
from planner.errors import PlannerError
from planner.model.need import NeedInputs
from planner.outputs import present
from planner.register.store import PlanRegister
from planner.results import PlanResult
from planner.scenario import Scenario
from ui import SIDEBAR

__all__ = ["Repair", "plan_or_nearest", "show_repair"]

MAX_CAP = 1_000  # the sidebar's largest per-ward cap


@dataclass(frozen=True)
class Repair:
    """One setting that could not be met, and the nearest value the page uses instead."""

    setting: str  # the sidebar label
    asked: str  # the value asked for, as a person reads it
    used: str  # the nearest value that works
    why: str  # a sentence: what could not be done
    widgets: dict[str, Any]  # sidebar widget key -> the value that works
    others: tuple[str, ...] = ()  # other single changes that would work too


def plan_or_nearest(
    inputs: NeedInputs,
    scenario: Scenario,
    *,
    register: PlanRegister,
    defaults: Scenario,
    absent: Collection[str] = (),
) -> tuple[PlanResult, Repair | None]:
    """The plan of *scenario*, or of the nearest scenario that can be planned, with why.

    *defaults* gives the configured need weights; *absent* are the components the data lack
    (their weights do not count).

    Raises
    ------
    PlannerError
        Nothing near the scenario can be planned either (the original error).
    """

    def works(candidate: Scenario) -> PlanResult | None:
        try:
            return api.plan(inputs, candidate, register=register)
        except PlannerError:
            return None

    try:
        return api.plan(inputs, scenario, register=register), None
    except PlannerError as exc:
        original = exc
    found = [r for r in _repairs(scenario, defaults, works, absent) if r is not None]
    if not found:
        raise original
    repair, plan = found[0]
    others = tuple(f"{r.setting} {r.used}" for r, _ in found[1:])
    return plan, dataclasses.replace(repair, others=others)


def show_repair(repair: Repair) -> None:
    """The message at the top of the page, with a button that applies the nearest value."""
    also = f" (Or instead: {'; '.join(repair.others)}.)" if repair.others else ""
    st.error(
        f"**{repair.setting}: {repair.asked}** cannot be used. {repair.why} The nearest value "
        f"that works is **{repair.used}**, and this page shows the plan with it until you "
        f"change the setting in {SIDEBAR}.{also}"
    )

    def apply() -> None:
        st.session_state.update(repair.widgets)

    st.button(f"Use {repair.setting.lower()} {repair.used}", key="use_nearest", on_click=apply)


# --- the searches, one per setting ---------------------------------------------------------


Works = Callable[[Scenario], PlanResult | None]


def _repairs(
    scenario: Scenario, defaults: Scenario, works: Works, absent: Collection[str]
) -> Iterator[tuple[Repair, PlanResult] | None]:
    weights = scenario.need.weights
    if not any(w > 0 for c, w in weights.items() if c not in absent):
        yield _weights(scenario, defaults, works, absent)
        return
    yield _cap(scenario, works)
    yield _floor(scenario, works)
    yield _pool(scenario, works)


def _weights(
    scenario: Scenario, defaults: Scenario, works: Works, absent: Collection[str]
) -> tuple[Repair, PlanResult] | None:
    weights = dict(defaults.need.weights)
    plan = works(scenario.changed(weights=weights))
    if plan is None:
        return None
    used = ", ".join(
        f"{present.COMPONENT_LABELS.get(c, c)} {w:.2f}"
        for c, w in weights.items()
        if w > 0 and c not in absent
    )
    why = "Every need weight is 0, so there is no need to rank the wards or share officers by."
    return Repair(
        "Need weights", "all 0", f"the configured weights ({used})", why,
        {f"w_{c}": float(w) for c, w in weights.items()},
    ), plan  # fmt: skip


def _cap(scenario: Scenario, works: Works) -> tuple[Repair, PlanResult] | None:
    cap = scenario.allocation.max_extra_per_ward
    if cap is None:
        return None
    found = _smallest(cap + 1, MAX_CAP, lambda c: works(scenario.changed(max_extra_per_ward=c)))
    if found is None:
        return None
    value, plan = found
    why = (
        f"A cap of {cap} extra officer(s) per ward cannot place the pool of {scenario.pool:,} "
        f"extra officers with a borough floor share of "
        f"{scenario.allocation.borough_floor_share:.2f}."
    )
    return Repair("Per-ward cap on extra officers", str(cap), str(value), why, {"cap": value}), plan


def _floor(scenario: Scenario, works: Works) -> tuple[Repair, PlanResult] | None:
    share = scenario.allocation.borough_floor_share
    steps = [round(share - 0.05 * i, 2) for i in range(1, 21) if share - 0.05 * i >= -1e-9]
    for value in steps:
        plan = works(scenario.changed(borough_floor_share=max(value, 0.0)))
        if plan is not None:
            why = (
                f"Every borough cannot get {share:.0%} of its fair share of the extra officers "
                "under the per-ward cap and damping set."
            )
            widgets = {"floor_share": max(value, 0.0)}
            return Repair("Borough floor share", f"{share:.2f}", f"{value:.2f}", why, widgets), plan
    return None


def _pool(scenario: Scenario, works: Works) -> tuple[Repair, PlanResult] | None:
    pool = scenario.pool
    found = _largest(0, pool - 1, lambda p: works(scenario.changed(pool=p)))
    if found is None:
        return None
    value, plan = found
    why = f"The wards cannot take {pool:,} extra officers under the cap, floors and damping set."
    return Repair("Extra officers (pool)", f"{pool:,}", f"{value:,}", why, {"pool": value}), plan


def _smallest(
    lo: int, hi: int, attempt: Callable[[int], PlanResult | None]
) -> tuple[int, PlanResult] | None:
    """The smallest value in [lo, hi] that works, when larger values always work too."""
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        plan = attempt(mid)
        if plan is None:
            lo = mid + 1
        else:
            best, hi = (mid, plan), mid - 1
    return best


def _largest(
    lo: int, hi: int, attempt: Callable[[int], PlanResult | None]
) -> tuple[int, PlanResult] | None:
    """The largest value in [lo, hi] that works, when smaller values always work too."""
    found = _smallest(-hi, -lo, lambda v: attempt(-v))
    return None if found is None else (-found[0], found[1])

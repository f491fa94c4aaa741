"""Tests of planner.plan.allocation: invariants over generated inputs, hand-checked cases, errors."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.config import POLICIES, AllocationSettings, PlannerConfig, SpecialWard, load_config
from planner.errors import ConfigError, DataError, InfeasibleAllocationError
from planner.plan.allocation import (
    allocate_wards,
    borough_table,
    recompute,
    ward_table,
)
from planner.plan.apportion import (
    DIVISOR_METHODS,
    METHODS,
    apportion,
    apportion_with_floors,
    borough_floors,
    damping_bounds,
    outside_quota,
    quota,
)
from planner.plan.equity import weighted_gini
from planner.plan.kernels import divisor
from tests.factories import CONFIG_DIR, allocation_settings, config_copy

DIVISORS = DIVISOR_METHODS
HYPOTHESIS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies -------------------------------------------------------------------
# Hypothesis spends most of its time generating examples, so each generated problem is used
# for several checks rather than one test per property.

need_values = st.one_of(
    st.integers(0, 12).map(float),  # small integers: many exact ties and zeros
    st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False),
)


@st.composite
def problems(draw, *, max_units=15, extra_pool=80):
    """A feasible apportionment problem: need, bounds, eligibility and a pool that fits.

    Half the problems are unconstrained (no minimums, caps or exclusions); in the others each
    kind of constraint is drawn independently.
    """
    n = draw(st.integers(1, max_units))
    need = np.array(draw(st.lists(need_values, min_size=n, max_size=n)))
    constrained = draw(st.booleans())
    eligible = np.ones(n, bool)
    if constrained and draw(st.booleans()):
        eligible = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))) | np.array(
            draw(st.lists(st.booleans(), min_size=n, max_size=n))
        )
    maximum, hi = None, np.full(n, 10**9)
    if constrained and draw(st.booleans()):
        hi = maximum = np.array(draw(st.lists(st.integers(0, 8), min_size=n, max_size=n)))
    minimum, lo = None, np.zeros(n, np.int64)
    if constrained and draw(st.booleans()):
        raw = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
        lo = minimum = np.where(eligible, np.minimum(raw, hi), 0)
    p = dict(need=need, minimum=minimum, maximum=maximum, eligible=eligible)
    low = int(lo.sum())
    p["pool"] = draw(st.integers(low, min(capacity(p), low + extra_pool)))
    return p


def bounds(p):
    n = p["need"].size
    lo = p["minimum"] if p["minimum"] is not None else np.zeros(n, np.int64)
    hi = p["maximum"] if p["maximum"] is not None else np.full(n, 10**9)
    return lo, np.where(p["eligible"], hi, 0)


def capacity(p):
    """The most officers the units with need can take, plus the minimums of the others."""
    lo, hi = bounds(p)
    positive = p["need"] > 0
    return int(hi[positive].sum() + lo[~positive].sum())


def unconstrained(p):
    return p["minimum"] is None and p["maximum"] is None and p["eligible"].all()


def run(p, method, pool=None, **kwargs):
    return apportion(
        p["need"],
        p["pool"] if pool is None else pool,
        method=method,
        minimum=p["minimum"],
        maximum=p["maximum"],
        eligible=p["eligible"],
        **kwargs,
    )


def reference_divisor(need, pool, lo, hi, method):
    """The textbook definition: one officer at a time to the highest priority (naive)."""
    divisor = {
        "webster": lambda k: k + 0.5,
        "dhondt": lambda k: k + 1.0,
        "huntington_hill": lambda k: math.sqrt(float(k) * (k + 1.0)),
    }[method]
    extra = [int(v) for v in lo]
    for _ in range(pool - sum(extra)):
        best = None
        for i, v in enumerate(need):
            if v <= 0 or extra[i] >= hi[i]:
                continue
            d = divisor(extra[i])
            key = (v / d if d > 0 else math.inf, v, -i)  # priority, then need, then lowest index
            if best is None or key > best[0]:
                best = (key, i)
        extra[best[1]] += 1
    return np.array(extra)


# --- the core: invariants ----------------------------------------------------------


@pytest.mark.parametrize("method", METHODS, ids=METHODS)
@HYPOTHESIS
@given(p=problems(), perm_seed=st.integers(0, 2**16))
def test_core_invariants(method, p, perm_seed):
    """Totals exact, bounds held, exclusions and zero need respected, rows free to move;
    without constraints, more need never means fewer officers (and Hamilton stays in quota)."""
    extra = run(p, method)
    lo, hi = bounds(p)
    assert extra.dtype.kind == "i"
    assert extra.sum() == p["pool"]
    assert np.all(extra >= lo) and np.all(extra <= hi)
    assert np.all(extra[~p["eligible"]] == 0)
    no_need = p["need"] == 0
    assert np.array_equal(extra[no_need], lo[no_need])  # zero need: only the minimum

    # permuting the rows, with the tie-break key moving along, moves the result only
    n = p["need"].size
    keys = np.array([f"W{i:03d}" for i in range(n)])
    perm = np.random.default_rng(perm_seed).permutation(n)
    moved = {k: (v[perm] if isinstance(v, np.ndarray) else v) for k, v in p.items()}
    assert np.array_equal(run(moved, method, tiebreak=keys[perm]), extra[perm])

    if unconstrained(p):
        need = p["need"]
        more_need = need[:, None] > need[None, :]
        fewer_officers = extra[:, None] < extra[None, :]
        assert not (more_need & fewer_officers).any()
        if method == "hamilton":
            assert not outside_quota(extra, quota(need, p["pool"])).any()


@pytest.mark.parametrize("method", DIVISORS, ids=DIVISORS)
@HYPOTHESIS
@given(p=problems(extra_pool=300), steps=st.integers(1, 15))
def test_divisor_pool_plus_one_never_takes_an_officer(method, p, steps):
    """House monotone with and without caps; equal to the one-at-a-time definition."""
    lo, hi = bounds(p)
    previous = run(p, method)
    if p["need"].size <= 12:
        assert np.array_equal(previous, reference_divisor(p["need"], p["pool"], lo, hi, method))
    for forced in (True, False):  # the jump start and the plain heap agree
        plain = divisor(p["need"], p["pool"], lo, hi, np.arange(lo.size), method, jump=forced)
        assert np.array_equal(plain, previous)
    for pool in range(p["pool"] + 1, min(capacity(p), p["pool"] + steps) + 1):
        current = run(p, method, pool=pool)
        assert np.all(current >= previous), f"pool {pool} took an officer"
        assert current.sum() - previous.sum() == 1
        previous = current


@pytest.mark.parametrize("method", DIVISORS, ids=DIVISORS)
def test_divisor_large_pools_monotone_and_exact(method):
    """Pools far above the number of units (the jump-start path), seeded."""
    for seed in range(10):
        rng = np.random.default_rng(seed)
        need = rng.gamma(1.0, 100.0, 50) * (rng.random(50) < 0.9)
        need[0] = 1.0
        maximum = rng.integers(50, 2000, 50)
        pool = int(rng.integers(1000, int(maximum[need > 0].sum())))
        a = apportion(need, pool, method=method, maximum=maximum)
        b = apportion(need, pool + 1, method=method, maximum=maximum)
        assert a.sum() == pool and b.sum() == pool + 1
        assert np.all(b >= a) and np.all(a <= maximum)
        lo = np.zeros(50, np.int64)
        heap_only = divisor(need, pool, lo, maximum, np.arange(50), method, jump=False)
        assert np.array_equal(a, heap_only)


# --- the core: known cases ----------------------------------------------------------

TEXTBOOK = {  # votes 100000, 80000, 30000, 20000; 8 seats
    "dhondt": [4, 3, 1, 0],
    "webster": [3, 3, 1, 1],
    "huntington_hill": [3, 3, 1, 1],  # first one each (d(0)=0), then A, B, A, B
    "hamilton": [3, 3, 1, 1],  # quotas 3.48, 2.78, 1.04, 0.70: floors 3,2,1,0 + B, D
}


@pytest.mark.parametrize("method", METHODS, ids=METHODS)
def test_textbook_example(method):
    votes = np.array([100_000, 80_000, 30_000, 20_000], float)
    assert apportion(votes, 8, method=method).tolist() == TEXTBOOK[method]


@pytest.mark.parametrize(
    ("method", "expected"),
    [("webster", [2, 0]), ("dhondt", [2, 0]), ("huntington_hill", [1, 1]), ("hamilton", [2, 0])],
    ids=["webster", "dhondt", "huntington_hill", "hamilton"],
)
def test_huntington_hill_serves_every_unit_with_need_first(method, expected):
    assert apportion(np.array([1000.0, 10.0]), 2, method=method).tolist() == expected


def test_huntington_hill_first_round_goes_by_need():
    need = np.array([0.5, 100.0, 1.0, 0.0])
    assert apportion(need, 2, method="huntington_hill").tolist() == [0, 1, 1, 0]
    assert apportion(need, 3, method="huntington_hill").tolist() == [1, 1, 1, 0]
    assert apportion(need, 4, method="huntington_hill").tolist() == [1, 2, 1, 0]


def test_hamilton_alabama_paradox():
    """Need 6, 6, 2: ten officers give 4, 4, 2; eleven give 5, 5, 1 - C loses one.

    Quotas at 10 are 4.29, 4.29, 1.43 (the spare officer goes to C's 0.43); at 11 they are
    4.71, 4.71, 1.57 and the two spare officers go to A and B's 0.71. Divisor methods never
    do this.
    """
    need = np.array([6.0, 6.0, 2.0])
    assert apportion(need, 10, method="hamilton").tolist() == [4, 4, 2]
    assert apportion(need, 11, method="hamilton").tolist() == [5, 5, 1]
    for method in DIVISORS:
        assert np.all(apportion(need, 11, method=method) >= apportion(need, 10, method=method))


@pytest.mark.parametrize("method", METHODS, ids=METHODS)
def test_zero_need_gets_only_its_minimum(method):
    need = np.array([0.0, 5.0, 0.0])
    assert apportion(need, 3, method=method).tolist() == [0, 3, 0]
    assert apportion(need, 3, method=method, minimum=np.array([1, 0, 0])).tolist() == [1, 2, 0]


@pytest.mark.parametrize("method", METHODS, ids=METHODS)
def test_caps_redistribute_and_exclusions_get_nothing(method):
    need = np.array([100.0, 1.0, 1.0, 50.0])
    extra = apportion(need, 6, method=method, maximum=2, eligible=np.array([1, 1, 1, 0], bool))
    assert extra.tolist() == [2, 2, 2, 0]


@pytest.mark.parametrize("method", METHODS, ids=METHODS)
def test_exact_ties_go_to_lowest_key(method):
    need = np.ones(4)
    assert apportion(need, 1, method=method).tolist() == [1, 0, 0, 0]
    keys = np.array(["d", "c", "b", "a"])
    assert apportion(need, 1, method=method, tiebreak=keys).tolist() == [0, 0, 0, 1]
    assert apportion(need, 2, method=method, tiebreak=keys).tolist() == [0, 0, 1, 1]


def test_quota_and_outside_quota():
    assert quota(np.array([1.0, 3.0]), 8).tolist() == [2.0, 6.0]
    assert quota(np.zeros(3), 5).tolist() == [0.0, 0.0, 0.0]
    q = np.array([1.5, 2.0, 2.5, 0.2])
    assert outside_quota(np.array([1, 2, 4, 0]), q).tolist() == [False, False, True, False]
    assert outside_quota(np.array([0, 1, 2, 1]), q).tolist() == [True, True, False, False]


# --- borough floors and two stages ---------------------------------------------------


def test_borough_floors_by_hand():
    need = np.array([30.0, 10.0, 60.0, 0.0])
    ids = np.array(["B", "A", "B", "C"])
    # entitlements of A, B, C with pool 50: 5, 45, 0; half of each, floored
    assert borough_floors(need, ids, 50, 0.5).tolist() == [2, 22, 0]
    assert borough_floors(need, ids, 50, 1.0).tolist() == [5, 45, 0]
    assert borough_floors(need, ids, 50, 0.0).tolist() == [0, 0, 0]


@st.composite
def ward_problems(draw, *, max_wards=20):
    n = draw(st.integers(1, max_wards))
    numbers = draw(st.lists(st.integers(0, 999_999), min_size=n, max_size=n, unique=True))
    codes = [f"E05{i:06d}" for i in numbers]
    need = draw(st.lists(need_values, min_size=n, max_size=n))
    borough_numbers = draw(st.lists(st.integers(1, 6), min_size=n, max_size=n))
    cap = draw(st.one_of(st.none(), st.integers(1, 6)))
    method = draw(st.sampled_from(METHODS))
    share = draw(st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0]))
    need_s = pd.Series(need, index=codes, dtype=float)
    positive = int((need_s > 0).sum())
    room = 60 if cap is None else positive * cap
    pool = draw(st.integers(0, room if positive else 0))
    settings_ = allocation_settings(
        method=method, max_extra_per_ward=cap, borough_floor_share=share
    )
    boroughs = pd.Series([f"E090000{b:02d}" for b in borough_numbers], index=codes)
    return need_s, boroughs, pool, settings_


def check_floors(result, need, boroughs, pool, settings_):
    wards, table = result.wards, result.boroughs
    assert wards["extra"].sum() == pool == table["extra"].sum()
    assert table["met_floor"].all() and result.equity["boroughs_below_floor"] == 0
    if settings_.max_extra_per_ward is not None:
        assert wards["extra"].max() <= settings_.max_extra_per_ward
    assert (wards["total_dwo"] == wards["extra"] + 2).all()
    # floor = floor(share * pool * borough need / total need), exact rationals of fsum totals
    values: dict[str, list[float]] = {}
    for code, value in zip(boroughs[need.index], need, strict=True):
        values.setdefault(code, []).append(value)
    b_need = {code: Fraction(math.fsum(v)) for code, v in values.items()}
    total = sum(b_need.values(), Fraction(0))
    share = Fraction(settings_.borough_floor_share)
    expected = [math.floor(share * b_need[c] * pool / total) if total else 0 for c in table.index]
    assert table["floor"].tolist() == expected
    assert (table["extra"] >= table["floor"]).all()


@HYPOTHESIS
@given(problem=ward_problems(), data=st.data())
def test_adapter_floors_met_and_row_order_changes_nothing(problem, data):
    need, boroughs, pool, settings_ = problem
    perm = data.draw(st.permutations(range(len(need))))
    try:
        base = allocate_wards(need, boroughs, pool=pool, settings=settings_)
    except InfeasibleAllocationError:  # only a borough floor above what its capped wards take
        assert settings_.max_extra_per_ward is not None and settings_.borough_floor_share > 0
        with pytest.raises(InfeasibleAllocationError, match="floor needs"):
            allocate_wards(need.iloc[perm], boroughs, pool=pool, settings=settings_)
        return
    check_floors(base, need, boroughs, pool, settings_)
    moved = allocate_wards(need.iloc[perm], boroughs.iloc[::-1], pool=pool, settings=settings_)
    assert list(moved.wards.index) == list(need.index[perm])  # aligned to the input
    assert moved.wards.sort_index().equals(base.wards.sort_index())  # values and dtypes
    assert moved.boroughs.equals(base.boroughs)
    assert moved.equity.keys() == base.equity.keys()
    for key, value in base.equity.items():
        other = moved.equity[key]
        nan = isinstance(value, float) and math.isnan(value) and math.isnan(other)
        assert other == value or nan


@pytest.mark.parametrize("method", DIVISORS, ids=DIVISORS)
@HYPOTHESIS
@given(p=problems(extra_pool=0), data=st.data())
def test_floors_lift_only_the_groups_below_them(method, p, data):
    """apportion_with_floors: totals exact, bounds and floors met, and among the units of
    groups the floors did not lift (total above the floor), the one-stage order holds: a unit
    with more need, not at its cap, never has fewer than a unit with less need above its
    minimum."""
    n = p["need"].size
    groups = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    group_index = np.unique(groups, return_inverse=True)[1]
    n_groups = int(group_index.max()) + 1
    floors = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n_groups, max_size=n_groups)))
    lo, hi = bounds(p)
    room = np.bincount(group_index, weights=np.where(p["need"] > 0, hi, lo), minlength=n_groups)
    floors = np.maximum(np.minimum(floors, room.astype(np.int64)), 0)
    group_lo = np.maximum(floors, np.bincount(group_index, weights=lo, minlength=n_groups))
    start = max(p["pool"], int(group_lo.sum()))
    for pool in range(start, min(capacity(p), start + 4) + 1):
        kwargs = dict(method=method, minimum=p["minimum"], maximum=p["maximum"])
        extra = apportion_with_floors(
            p["need"], groups, pool, group_minimum=floors, eligible=p["eligible"], **kwargs
        )
        assert extra.sum() == pool
        assert np.all(extra >= lo) and np.all(extra <= hi)
        totals = np.bincount(group_index, weights=extra, minlength=n_groups)
        assert np.all(totals >= group_lo)
        free = totals[group_index] > group_lo[group_index]
        need = p["need"]
        for a in np.flatnonzero(free & (extra < hi)):
            worse = free & (need < need[a]) & (extra > np.maximum(lo, 0)) & (extra > extra[a])
            assert not worse.any(), (a, np.flatnonzero(worse))
        if not floors.any():  # no floor: exactly the one-stage allocation
            plain = apportion(p["need"], pool, eligible=p["eligible"], **kwargs)
            assert np.array_equal(extra, plain)


# --- allocation policies: whole team, diminishing returns, special wards ------------------


@st.composite
def policy_problems(draw, *, max_wards=16):
    """A ward problem under a random policy, exponent, cap, floor and (optionally) damping."""
    need, boroughs, _, base = draw(ward_problems(max_wards=max_wards))
    policy = draw(st.sampled_from(POLICIES))
    exponent = draw(st.sampled_from([1.0, 0.5]))
    damped = draw(st.booleans())
    current = pd.Series(
        draw(st.lists(st.integers(0, 3), min_size=len(need), max_size=len(need))),
        index=need.index,
    )
    settings_ = dataclasses.replace(
        base,
        policy=policy,
        need_exponent=exponent,
        max_change=draw(st.integers(1, 3)) if damped else None,
        current_extra=current if damped else None,
    )
    pool = draw(st.integers(0, 40))
    return need, boroughs, pool, settings_


def _allocate_or_none(need, boroughs, pool, settings_):
    try:
        return allocate_wards(need, boroughs, pool=pool, settings=settings_)
    except InfeasibleAllocationError:  # caps, floors or damping that this pool cannot meet
        return None


@HYPOTHESIS
@given(problem=policy_problems())
def test_policies_whole_officers_exact_totals_and_bounds(problem):
    need, boroughs, pool, settings_ = problem
    result = _allocate_or_none(need, boroughs, pool, settings_)
    if result is None:
        return
    wards = result.wards
    extra = wards["extra"]
    assert extra.dtype.kind == "i" and extra.sum() == pool  # whole officers, total exact
    assert (extra >= 0).all() and (wards["total_dwo"] == extra + 2).all()
    if settings_.max_extra_per_ward is not None:
        assert extra.max() <= settings_.max_extra_per_ward
    if settings_.max_change is not None:
        moved = (extra - settings_.current_extra.reindex(extra.index)).abs()
        assert (moved <= settings_.max_change).all()
    met = result.boroughs["extra"] >= result.boroughs["floor"]
    assert (met == result.boroughs["met_floor"]).all()
    if settings_.max_change is None:  # under damping a floor is met as far as damping allows
        assert met.all()
    assert abs(wards["policy_quota"].sum() - pool) < 1e-6  # the unrounded rule, same total
    assert np.allclose(wards["rounding"], extra - wards["policy_quota"])


@pytest.mark.slow
@pytest.mark.parametrize("method", DIVISORS, ids=DIVISORS)
@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=ward_problems(), exponent=st.sampled_from([1.0, 0.5]))
def test_policies_house_monotone_for_divisor_methods(method, policy, problem, exponent):
    """Without floors or damping, a larger pool never takes an officer from a ward."""
    need, boroughs, _, base = problem
    settings_ = dataclasses.replace(
        base, method=method, policy=policy, need_exponent=exponent, borough_floor_share=0.0
    )
    previous = None
    for pool in range(0, 25):
        result = _allocate_or_none(need, boroughs, pool, settings_)
        if result is None:  # the caps are full
            break
        if previous is not None:
            assert (result.wards["extra"] >= previous).all()
        previous = result.wards["extra"]


def test_whole_team_counts_the_baseline_as_held():
    """Webster over baseline + pool with the baseline as minimum, recomputed by hand.

    Needs 8, 4, 2, 1, 1 (total 16), baseline 2 each (10 held), pool 6: 16 officers in all.
    Proportional shares of 16 are 8, 4, 2, 1, 1; the 4th and 5th wards are held at their
    minimum 2, leaving 12 for the first three (8:4:2 -> 6.86, 3.43, 1.71); the third is held
    at 2, leaving 10 for 8:4 -> 6.67, 3.33 -> 7, 3. Totals 7, 3, 2, 2, 2: extras 5, 1, 0, 0,
    0. Top-up gives 3, 2, 1, 0, 0 (quotas 3, 1.5, 0.75, 0.375, 0.375).
    """
    need = pd.Series([8.0, 4, 2, 1, 1], index=WARDS[:5])
    whole = allocate_wards(
        need, BOROUGH_OF, pool=6, settings=allocation_settings(policy="whole_team")
    )
    assert whole.wards["extra"].tolist() == [5, 1, 0, 0, 0]
    top_up = allocate_wards(need, BOROUGH_OF, pool=6, settings=allocation_settings())
    assert top_up.wards["extra"].tolist() == [3, 2, 1, 0, 0]


def test_need_exponent_spreads_the_pool():
    """need ** 0.5: needs 16, 4, 1 weigh 4, 2, 1.

    Webster of 7 on 16, 4, 1: priorities 32, 10.7, 8, 6.4, 4.6, 3.6, 2.9 (A, A, B, A, A, A, A)
    -> 6, 1, 0. On 4, 2, 1: 8, 4, 2.7, 2, 1.6, 1.3, 1.1 (A, B, A, C, A, B, A) -> 4, 2, 1.
    """
    need = pd.Series([16.0, 4, 1], index=WARDS[:3])
    linear = allocate_wards(need, BOROUGH_OF, pool=7, settings=allocation_settings())
    concave = allocate_wards(
        need, BOROUGH_OF, pool=7, settings=allocation_settings(need_exponent=0.5)
    )
    assert linear.wards["extra"].tolist() == [6, 1, 0]
    assert concave.wards["extra"].tolist() == [4, 2, 1]


def test_special_wards_keep_their_baseline_and_get_no_extras():
    special = SpecialWard(code=WARDS[0], name="Airport", reason="policed by Aviation Security")
    need = pd.Series([9.0, 1, 1], index=WARDS[:3])
    for policy in POLICIES:
        settings_ = allocation_settings(policy=policy, special=(special,))
        result = allocate_wards(need, BOROUGH_OF, pool=4, settings=settings_)
        assert result.wards.loc[WARDS[0], "extra"] == 0
        assert result.wards.loc[WARDS[0], "total_dwo"] == 2
        assert not result.wards.loc[WARDS[0], "eligible"]
    # a special ward of another ward vintage is not an error: it is simply not there
    other = SpecialWard(code="E05999999", name="Elsewhere", reason="not in these wards")
    allocate_wards(need, BOROUGH_OF, pool=4, settings=allocation_settings(special=(other,)))


def test_inversions_counted_across_boroughs():
    """A floor that lifts borough B gives its weaker ward an officer the needier A ward lacks."""
    need = pd.Series([10.0, 3.0, 1.0], index=WARDS[:3])
    boroughs = pd.Series(["E09000001", "E09000001", "E09000002"], index=WARDS[:3])
    result = allocate_wards(
        need, boroughs, pool=4, settings=allocation_settings(borough_floor_share=1.0)
    )
    # entitlements 4 * 13/14 = 3.71 and 4 * 1/14 = 0.29: floors 3 and 0: no lift, no inversion
    assert result.equity["inversions_cross_borough"] == 0
    need = pd.Series([10.0, 3.0, 3.5], index=WARDS[:3])
    result = allocate_wards(
        need, boroughs, pool=3, settings=allocation_settings(borough_floor_share=1.0)
    )
    # entitlements 3 * 13/16.5 = 2.36, 3 * 3.5/16.5 = 0.64: floors 2, 0; one stage: 2, 0, 1
    assert result.wards["extra"].tolist() == [2, 0, 1]
    assert result.equity["inversions_cross_borough"] == 0  # 3.5 > 3: no inversion
    assert result.equity["worst_inversions"] == []


# --- damping -----------------------------------------------------------------------


@HYPOTHESIS
@given(data=st.data(), method=st.sampled_from(METHODS))
def test_damping_limits_change(data, method):
    n = data.draw(st.integers(1, 20))
    need = np.array(data.draw(st.lists(need_values, min_size=n, max_size=n)))
    current = np.array(data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)))
    max_change = data.draw(st.integers(0, 3))
    lo = np.maximum(current - max_change, 0)
    hi = current + max_change
    room = int(np.where(need > 0, hi, lo).sum())
    pool = data.draw(st.integers(int(lo.sum()), max(int(lo.sum()), room)))
    if room < pool:
        return
    lo, hi = damping_bounds(current, max_change, pool=pool)
    extra = apportion(need, pool, method=method, minimum=lo, maximum=hi)
    assert extra.sum() == pool
    assert np.all(np.abs(extra - current) <= max_change)


# --- errors ------------------------------------------------------------------------


def test_floors_above_pool_named():
    minimum = np.array([400, 412])
    with pytest.raises(InfeasibleAllocationError, match="floors need 812 officers, pool has 600"):
        apportion(np.ones(2), 600, minimum=minimum)


def test_caps_below_pool_named():
    with pytest.raises(
        InfeasibleAllocationError,
        match="caps allow at most 20 officers across 10 eligible units, pool has 25",
    ):
        apportion(np.ones(12), 25, maximum=2, eligible=np.array([True] * 10 + [False] * 2))


def test_caps_on_units_with_need_named():
    with pytest.raises(InfeasibleAllocationError, match=r"can take at most 2 officers.*pool has 4"):
        apportion(np.array([1.0, 0.0]), 4, maximum=np.array([2, 5]))


def test_no_need_anywhere_is_infeasible_for_a_positive_pool():
    with pytest.raises(InfeasibleAllocationError, match="at most 0 officers"):
        apportion(np.zeros(3), 1)
    assert apportion(np.zeros(3), 0).tolist() == [0, 0, 0]


def test_minimum_above_maximum_names_the_unit():
    with pytest.raises(InfeasibleAllocationError, match="b minimum 3 > maximum 2"):
        apportion(
            np.ones(2), 4, minimum=np.array([0, 3]), maximum=np.array([5, 2]), labels=["a", "b"]
        )


def test_excluded_unit_with_minimum_named():
    with pytest.raises(InfeasibleAllocationError, match="unit 1 has minimum 2"):
        apportion(np.ones(2), 4, minimum=np.array([0, 2]), eligible=np.array([True, False]))


@pytest.mark.parametrize(
    ("need", "match"),
    [([1.0, -1.0], r"unit 1=-1\.0"), ([np.nan, 1.0], "unit 0=nan"), ([np.inf], "unit 0=inf")],
    ids=["negative", "nan", "infinite"],
)
def test_bad_need_is_a_data_error(need, match):
    with pytest.raises(DataError, match=match):
        apportion(np.array(need), 1)


def test_bad_pool_and_method():
    with pytest.raises(InfeasibleAllocationError, match="pool must be >= 0 officers, found -1"):
        apportion(np.ones(2), -1)
    with pytest.raises(ConfigError, match=r"whole number of officers, found 2\.5"):
        apportion(np.ones(2), 2.5)
    with pytest.raises(ConfigError, match="method 'sainte' is not known"):
        apportion(np.ones(2), 2, method="sainte")
    with pytest.raises(DataError, match="maximum must be whole numbers"):
        apportion(np.ones(2), 2, maximum=np.array([1.5, 2.0]))


def test_damping_infeasible_named():
    with pytest.raises(
        InfeasibleAllocationError,
        match="w2 has 10 extra officers now, so needs at least 8 but may have at most 5",
    ):
        damping_bounds(np.array([0, 10]), 2, pool=8, maximum=5, labels=["w1", "w2"])
    with pytest.raises(
        InfeasibleAllocationError, match=r"keeps at least 20 extra officers.*pool has 10"
    ):
        damping_bounds(np.full(5, 5), 1, pool=10)
    with pytest.raises(InfeasibleAllocationError, match=r"allows at most 10 extra.*pool has 11"):
        damping_bounds(np.full(5, 1), 1, pool=11)


WARDS = [f"E0500000{i}" for i in range(1, 7)]
BOROUGH_OF = pd.Series(["E09000001"] + ["E09000002"] * 5, index=WARDS)


def test_borough_floor_above_capacity_names_borough():
    need = pd.Series([9.0, 1, 1, 1, 1, 1], index=WARDS)
    settings_ = allocation_settings(borough_floor_share=1.0, max_extra_per_ward=4)
    with pytest.raises(
        InfeasibleAllocationError,
        match="E09000001: floor needs 6 officers but its units can take at most 4",
    ):
        allocate_wards(need, BOROUGH_OF, pool=10, settings=settings_)


def test_adapter_input_errors():
    need = pd.Series(1.0, index=WARDS)
    with pytest.raises(DataError, match="1 ward\\(s\\) have no borough: E05000006"):
        allocate_wards(need, BOROUGH_OF.iloc[:5], pool=2, settings=allocation_settings())
    with pytest.raises(DataError, match="duplicate ward codes: E05000001"):
        allocate_wards(
            pd.Series(1.0, index=[WARDS[0], WARDS[0]]),
            BOROUGH_OF,
            pool=2,
            settings=allocation_settings(),
        )
    with pytest.raises(ConfigError, match="not among the wards: E05999999"):
        allocate_wards(
            need,
            BOROUGH_OF,
            pool=2,
            settings=allocation_settings(excluded=frozenset({"E05999999"})),
        )
    with pytest.raises(DataError, match="E05000003=nan"):
        allocate_wards(
            need.where(need.index != "E05000003"),
            BOROUGH_OF,
            pool=2,
            settings=allocation_settings(),
        )


def test_adapter_damping_errors_and_columns():
    need = pd.Series([5.0, 1, 1, 1, 1, 1], index=WARDS)
    current = pd.Series([4, 0, 0, 0, 0, 0], index=WARDS)
    with pytest.raises(ConfigError, match="max_change 1 needs current_extra"):
        allocate_wards(need, BOROUGH_OF, pool=4, settings=allocation_settings(max_change=1))
    s = allocation_settings(max_change=1, current_extra=current.iloc[:5])
    with pytest.raises(DataError, match="no figure for 1 ward\\(s\\): E05000006"):
        allocate_wards(need, BOROUGH_OF, pool=4, settings=s)
    s = allocation_settings(max_change=1, current_extra=current, excluded=frozenset({WARDS[0]}))
    with pytest.raises(InfeasibleAllocationError, match="E05000001 has 4 and max_change is 1"):
        allocate_wards(need, BOROUGH_OF, pool=4, settings=s)
    s = allocation_settings(max_change=1, current_extra=current)
    result = allocate_wards(need, BOROUGH_OF, pool=4, settings=s)
    assert result.wards["extra"].tolist() == [3, 1, 0, 0, 0, 0]
    moved = result.wards["extra"] - result.wards["current_extra"]
    assert moved.tolist() == [-1, 1, 0, 0, 0, 0]


def test_under_damping_a_floor_is_met_as_far_as_damping_allows():
    """Damping limits a year's move; a floor it blocks is reported unmet, not an error."""
    need = pd.Series([9.0, 1, 1, 1, 1, 1], index=WARDS)  # E09000001 deserves most of the pool
    current = pd.Series([0, 2, 2, 2, 2, 2], index=WARDS)
    s = allocation_settings(
        policy="top_up", borough_floor_share=1.0, max_change=1, current_extra=current
    )
    result = allocate_wards(need, BOROUGH_OF, pool=10, settings=s)
    assert result.wards.loc[WARDS[0], "extra"] == 1  # 0 + max_change, not its floor of 6
    first = result.boroughs.loc["E09000001"]
    assert first["floor"] == 6 and not first["met_floor"]
    assert result.equity["boroughs_below_floor"] == 1
    assert (result.wards["extra"] - current).abs().max() <= 1


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (dict(method="jefferson"), "method should be one of 'webster', .*, found 'jefferson'"),
        (dict(baseline_dwo=-1), "baseline_dwo must be a whole number >= 0, found -1"),
        (dict(borough_floor_share=1.5), r"borough_floor_share must be in \[0, 1\], found 1.5"),
        (dict(max_extra_per_ward=2.5), "max_extra_per_ward should be a whole number, found 2.5"),
        (dict(excluded="E05000001"), "excluded should be a list of text in quotes, found 'E0500"),
    ],
    ids=["method", "baseline", "share", "cap", "excluded"],
)
def test_settings_validated(bad, match):
    with pytest.raises(ConfigError, match=match):
        allocation_settings(**bad)


# --- the adapter's tables and equity --------------------------------------------------


def test_adapter_tables_by_hand():
    need = pd.Series([1.0, 2.0, 3.0, 0.0, 2.0, 4.0], index=WARDS[::-1])  # reverse code order
    result = allocate_wards(need, BOROUGH_OF, pool=12, settings=allocation_settings())
    wards = result.wards
    assert list(wards.index) == WARDS[::-1] and wards.index.name == "ward_code"
    assert wards["extra"].tolist() == [1, 2, 3, 0, 2, 4]  # exactly proportional
    assert wards["quota"].tolist() == [1.0, 2.0, 3.0, 0.0, 2.0, 4.0]
    assert (wards["total_dwo"] == wards["extra"] + 2).all()
    assert (wards["baseline_pcso"] == 1).all()
    assert not wards["outside_quota"].any()
    assert np.allclose(wards["share_gap"], 0.0)
    table = result.boroughs
    assert table.index.tolist() == ["E09000001", "E09000002"]
    assert table["n_wards"].tolist() == [1, 5]
    assert table["extra"].tolist() == [4, 8]
    assert table["total_dwo"].tolist() == [6, 18]
    assert table["baseline_pcso"].tolist() == [1, 5]
    assert np.allclose(table["ratio"], 1.0)
    eq = result.equity
    assert eq["gini_officers_per_need"] == pytest.approx(0.0)
    assert eq["worst_served_ratio"] == pytest.approx(1.0)
    assert eq["worst_served_ward"] == "E05000001"  # ties: lowest ward code
    assert eq["max_abs_share_gap_borough"] == pytest.approx(0.0)
    assert eq["wards_outside_quota"] == 0


def test_adapter_exclusion_and_worst_served():
    need = pd.Series([8.0, 1.0, 1.0, 1.0, 1.0, 4.0], index=WARDS)
    s = allocation_settings(excluded=frozenset({"E05000001"}), method="dhondt")
    result = allocate_wards(need, BOROUGH_OF, pool=4, settings=s)
    wards = result.wards
    assert wards.loc["E05000001", "extra"] == 0 and not wards.loc["E05000001", "eligible"]
    assert wards.loc["E05000001", "need_share"] == 0.0
    # D'Hondt favours the largest: priorities 4, 2, 1.33, then 1 for everyone (ties go to the
    # larger need), so E05000006 takes all four although its quota is 4 * 4/8 = 2
    assert wards["extra"].tolist() == [0, 0, 0, 0, 0, 4]
    assert wards["outside_quota"].tolist() == [False] * 5 + [True]
    assert wards["need_share"].sum() == pytest.approx(1.0)
    eq = result.equity
    assert eq["worst_served_ratio"] == 0.0 and eq["worst_served_ward"] == "E05000002"
    assert eq["worst_served_ward_borough"] == "E09000002"
    assert eq["worst_served_borough"] == "E09000002"
    assert eq["wards_outside_quota"] == 1
    webster = allocate_wards(
        need, BOROUGH_OF, pool=4, settings=allocation_settings(excluded=frozenset({"E05000001"}))
    )
    assert webster.wards["extra"].tolist() == [0, 1, 1, 0, 0, 2]


def test_weighted_gini_by_hand_and_brute_force():
    # two wards of equal need, one with both officers: G = 1/2
    assert weighted_gini(np.array([0.0, 2.0]), np.array([1.0, 1.0])) == pytest.approx(0.5)
    # officers exactly proportional to need: G = 0
    assert weighted_gini(np.array([1.0, 5.0, 2.0]), np.array([1.0, 5.0, 2.0])) == 0.0
    assert math.isnan(weighted_gini(np.zeros(3), np.ones(3)))
    rng = np.random.default_rng(3)
    amount, w = rng.integers(0, 9, 40).astype(float), rng.random(40) + 0.01
    x = amount / w
    brute = (w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum()
    brute /= 2 * w.sum() ** 2 * (x * w).sum() / w.sum()
    assert weighted_gini(amount, w) == pytest.approx(brute)


def test_ward_and_borough_tables_name_wards_and_boroughs():
    need = pd.Series([1.0, 2.0, 3.0, 0.0, 2.0, 4.0], index=WARDS)
    result = allocate_wards(need, BOROUGH_OF, pool=12, settings=allocation_settings())
    names = pd.DataFrame(
        {
            "ward_name": [f"Ward {i}" for i in range(1, 7)],
            "borough_code": BOROUGH_OF.to_numpy(),
            "borough_name": ["City"] + ["Camden"] * 5,
        },
        index=pd.Index(WARDS, name="ward_code"),
    )
    scores = pd.DataFrame(
        {"need_score": need, "rank_london": need.rank(ascending=False), "rank_borough": 1},
        index=WARDS[:5],  # the last ward has no score: empty cells, not an error
    )
    table = ward_table(result, names, scores)
    assert list(table.columns[:6]) == [
        "ward_name",
        "borough_code",
        "borough_name",
        "need_score",
        "rank_london",
        "rank_borough",
    ]
    assert list(table.columns[6:]) == [c for c in result.wards.columns if c != "borough_code"]
    assert table.loc[WARDS[0], "borough_name"] == "City" and np.isnan(table.iloc[5]["need_score"])
    assert "need_score" not in ward_table(result, names)
    boroughs = borough_table(result, names)
    assert boroughs.columns[0] == "borough_name"
    assert boroughs["borough_name"].tolist() == ["City", "Camden"]
    with pytest.raises(DataError, match=r"1 allocated ward\(s\) have no boundary in wards"):
        ward_table(result, names.drop(index=WARDS[2]))


def test_recompute_keeps_floors_and_moves_totals():
    need = pd.Series([1.0, 2.0, 3.0, 0.0, 2.0, 4.0], index=WARDS)
    result = allocate_wards(need, BOROUGH_OF, pool=12, settings=allocation_settings())
    extra = result.wards["extra"].copy()
    extra[WARDS[1]] -= 1
    extra[WARDS[2]] += 1
    moved = recompute(result, extra)
    assert moved.wards["extra"].tolist() == extra.tolist()
    assert moved.boroughs["extra"].tolist() == result.boroughs["extra"].tolist()
    assert moved.boroughs["floor"].tolist() == result.boroughs["floor"].tolist()
    assert moved.wards["outside_quota"].sum() == 2  # one below, one above its quota
    assert moved.equity["wards_outside_quota"] == 2 and moved.settings == result.settings


# --- configuration -----------------------------------------------------------------


def test_allocation_settings_have_no_defaults_in_code():
    """Method, baseline and floor come from allocation.toml (or a test's own values)."""
    with pytest.raises(TypeError, match="method"):
        AllocationSettings()  # type: ignore[call-arg]


def test_config_file_defaults(config: PlannerConfig):
    settings_, pool = config.allocation, config.pool
    assert pool == 600
    heathrow = SpecialWard(
        code="E05013570",
        name="Heathrow Villages",
        reason=settings_.special[0].reason,
        in_priority_evidence=False,
    )
    assert settings_ == allocation_settings(
        policy="whole_team",  # the baseline counts as officers held (README: allocation)
        borough_floor_share=0.8,  # every borough >= 80 % of its need-proportional share
        max_extra_per_ward=8,
        special=(heathrow,),
    )
    assert "Aviation Security" in heathrow.reason
    assert (settings_.method, settings_.baseline_dwo, settings_.baseline_pcso) == ("webster", 2, 1)


ALLOCATION_TOML = """
method = "hamilton"
policy = "top_up"
need_exponent = 0.5
pool = 800
borough_floor_share = 1
max_change = 2
max_extra_per_ward = 6
excluded = ["E05013570"]

[baseline]
dwo = 3
pcso = 1
"""


def test_config_values_read(tmp_path):
    config = load_config(config_copy(tmp_path, allocation=ALLOCATION_TOML))
    assert config.pool == 800
    assert config.allocation == allocation_settings(
        method="hamilton",
        need_exponent=0.5,
        baseline_dwo=3,
        borough_floor_share=1.0,
        max_change=2,
        max_extra_per_ward=6,
        excluded=frozenset({"E05013570"}),
    )


def allocation_problems(tmp_path, text: str) -> tuple[str, str]:
    """(allocation.toml's path, load_config's ConfigError) for a config copy with *text*."""
    cdir = config_copy(tmp_path, allocation=text)
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    return str(cdir / "allocation.toml"), str(info.value)


def shipped_allocation_toml(old: str, new: str) -> str:
    text = (CONFIG_DIR / "allocation.toml").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_config_unknown_key_is_an_error(tmp_path):
    text = shipped_allocation_toml('method = "webster"', 'metod = "webster"')
    path, error = allocation_problems(tmp_path, text)
    assert (
        f"{path}: unknown key 'metod' (did you mean 'method'?); correct its spelling or "
        "remove it" in error
    )
    assert f"{path}: missing key 'method'" in error


def test_config_unknown_baseline_key_is_an_error(tmp_path):
    path, error = allocation_problems(tmp_path, "pool = 600\n[baseline]\ndwos = 2\n")
    assert (
        f"{path} [baseline]: unknown key 'dwos' (did you mean 'dwo'?); correct its spelling "
        "or remove it (keys allowed here: dwo, pcso)" in error
    )
    assert f"{path} [baseline]: missing key 'dwo'; add `dwo = ...`" in error


def test_config_misspelt_baseline_key_beside_the_other_is_an_error(tmp_path):
    text = shipped_allocation_toml("dwo = 2", "dwos = 2")
    path, error = allocation_problems(tmp_path, text)
    assert f"{path} [baseline]: unknown key 'dwos' (did you mean 'dwo'?)" in error


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'method = "webster"',
            'method = "sainte"',
            "'method' should be one of 'webster', 'dhondt', 'huntington_hill', 'hamilton', "
            "found 'sainte'; change the value of `method`",
        ),
        (
            "pool = 600",
            "pool = -5",
            "'pool' should be a whole number of officers >= 0, found -5",
        ),
        (
            "borough_floor_share = 0.8",
            "borough_floor_share = 1.5",
            "borough_floor_share must be in [0, 1], found 1.5",
        ),
    ],
    ids=["method", "pool", "share"],
)
def test_config_bad_values_are_errors(tmp_path, old, new, message):
    path, error = allocation_problems(tmp_path, shipped_allocation_toml(old, new))
    assert f"{path}: {message}" in error

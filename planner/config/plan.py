"""Settings of the plan: the allocation of extra officers and the borough priorities.

From ``config/allocation.toml`` and ``config/priorities.toml`` (parsed by
:mod:`planner.config.load`). The apportionment methods are named here once (:data:`METHODS`);
the numeric core (:mod:`planner.plan.apportion`) implements exactly these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Final, Literal, get_args

import pandas as pd

from planner import schema as s
from planner.config.build import Checked

__all__ = [
    "DIVISOR_METHODS",
    "METHODS",
    "POLICIES",
    "AllocationSettings",
    "BasketItem",
    "Candidate",
    "FootfallSettings",
    "Method",
    "Policy",
    "PriorityScore",
    "PrioritySettings",
    "PriorityTrendTest",
    "SpecialWard",
    "normalise_text",
]

Method = Literal["webster", "dhondt", "huntington_hill", "hamilton"]
METHODS: Final[tuple[str, ...]] = get_args(Method)
DIVISOR_METHODS: Final[tuple[str, ...]] = ("webster", "dhondt", "huntington_hill")


def normalise_text(text: object) -> str:
    """Spaces collapsed and case folded: the form category and measure names are matched in."""
    return " ".join(str(text).split()).casefold()


Policy = Literal["top_up", "whole_team"]
POLICIES: Final[tuple[str, ...]] = get_args(Policy)


@dataclass(frozen=True)
class SpecialWard(Checked):
    """A ward whose demand is not neighbourhood demand (``allocation.toml [[special]]``).

    It keeps its baseline team, gets no extra officers, and is left out of its borough's
    priority evidence unless ``in_priority_evidence``; the map labels it with ``reason``.
    """

    code: str
    name: str
    reason: str
    in_priority_evidence: bool = False

    def _problems(self) -> list[str]:
        found = []
        if not self.code.startswith("E05"):
            found.append(f"special ward code {self.code!r} should be a ward code (E05...)")
        if not self.reason.strip():
            found.append(f"special ward {self.code}: give the reason it is special")
        return found


@dataclass(frozen=True)
class AllocationSettings(Checked):
    """How the extra officers are allocated (``config/allocation.toml``).

    ``current_extra`` (extras per ward now, indexed by ward code) is not compared or hashed;
    :func:`planner.plan.allocation.allocate_wards` needs it when ``max_change`` is set.
    The optional constraints default to "none" (TOML has no null: leaving the key out of the
    file means no cap, no damping, no exclusions).
    """

    method: Method
    policy: Policy
    need_exponent: float
    baseline_dwo: int
    baseline_pcso: int
    borough_floor_share: float
    special: tuple[SpecialWard, ...] = ()
    max_extra_per_ward: int | None = None
    max_change: int | None = None
    excluded: frozenset[str] = frozenset()
    current_extra: pd.Series | None = field(
        default=None, compare=False, hash=False, repr=False, metadata={"config": False}
    )

    def _problems(self) -> list[str]:
        found = []
        if self.method not in METHODS:
            found.append(f"method {self.method!r} is not one of {', '.join(METHODS)}")
        for name in ("baseline_dwo", "baseline_pcso", "max_extra_per_ward", "max_change"):
            value = getattr(self, name)
            if value is None and name in ("max_extra_per_ward", "max_change"):
                continue
            if not isinstance(value, Integral) or isinstance(value, bool) or value < 0:
                found.append(f"{name} must be a whole number >= 0, found {value!r}")
        share = self.borough_floor_share
        if not isinstance(share, Real) or isinstance(share, bool) or not 0 <= share <= 1:
            found.append(f"borough_floor_share must be in [0, 1], found {share!r}")
        if not 0 < self.need_exponent <= 1:
            found.append(
                f"need_exponent must be in (0, 1] (1: in proportion to need; below 1: "
                f"diminishing returns), found {self.need_exponent}"
            )
        if self.current_extra is not None and not isinstance(self.current_extra, pd.Series):
            found.append("current_extra must be a pandas Series indexed by ward_code")
        if isinstance(self.excluded, str) or not isinstance(self.excluded, Iterable):
            found.append(f"excluded must be a collection of ward codes, found {self.excluded!r}")
        else:
            object.__setattr__(self, "excluded", frozenset(str(c) for c in self.excluded))
        return found

    @property
    def no_extras(self) -> frozenset[str]:
        """Wards that get no extra officers: the excluded ones and the special ones."""
        return self.excluded | {w.code for w in self.special}


# --- borough priorities ----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate(Checked):
    """A crime type that can become a local priority (``priorities.toml [[candidates]]``).

    A category, or one subcategory of it where the data splits the category (the Met ward
    files), optionally less a Met dashboard series of the same offences (``exclude_measure``:
    violence with injury less domestic abuse violence with injury). Where the data cannot do
    what is asked the candidate is measured as the data allows and labelled so:
    ``inclusive_label`` when the series cannot be subtracted, ``whole_label`` when the category
    is not split.
    """

    label: str
    category: str
    subcategory: str | None = None  # used where the data splits the category
    whole_label: str | None = None  # the label when the whole category has to be used
    exclude_measure: str | None = None  # a dashboard series (ward_measures) subtracted
    inclusive_label: str | None = None  # the label when that series cannot be subtracted

    def _problems(self) -> list[str]:
        canon = {c.casefold(): c for c in s.CATEGORIES}
        category = canon.get(self.category.strip().casefold())
        if not self.label.strip():
            return ["a candidate needs a label"]
        if category is None:
            return [f"category {self.category!r} is not one of the 14 categories"]
        if self.exclude_measure and not self.subcategory:
            return [
                f"candidate {self.label!r}: exclude_measure needs a subcategory (the measure is "
                "subtracted from the subcategory's records)"
            ]
        object.__setattr__(self, "category", category)
        if self.subcategory:
            object.__setattr__(self, "subcategory", normalise_text(self.subcategory))
        if self.exclude_measure:
            object.__setattr__(self, "exclude_measure", normalise_text(self.exclude_measure))
        return []


@dataclass(frozen=True)
class BasketItem(Checked):
    """One line of the mandatory high-harm basket and where its figures come from."""

    label: str
    measure: str | None = None  # a Met dashboard series (ward_measures)
    records: tuple[str, ...] = ()  # ward_counts "Category" or "Category | subcategory"
    note: str = ""

    def _problems(self) -> list[str]:
        found = []
        if not self.label.strip() or (self.measure and self.records):
            found.append(
                f"{self.label!r}: an item needs a label and at most one of measure, records"
            )
        canon = {c.casefold() for c in s.CATEGORIES}
        for rec in self.records:
            if rec.partition("|")[0].strip().casefold() not in canon:
                found.append(f"{self.label!r}: records {rec!r} does not start with a category")
        if self.measure:
            object.__setattr__(self, "measure", normalise_text(self.measure))
        return found


@dataclass(frozen=True)
class PriorityTrendTest(Checked):
    """``priorities.toml [trend]``: when a 12-month change counts as clear."""

    alpha: float
    min_change: float
    prior_count: float

    def _problems(self) -> list[str]:
        if not (0 <= self.alpha <= 1 and 0 <= self.min_change <= 10 and self.prior_count >= 0):
            return ["alpha must be in [0, 1], min_change in [0, 10], prior_count >= 0"]
        return []


@dataclass(frozen=True)
class PriorityScore(Checked):
    """``priorities.toml [score]``: score = harm share x rate factor x trend factor.

    rate factor = the rate against London clipped to [rate_floor, rate_cap]; trend factor =
    2 ** (trend x the clear change's log2, clipped to +/- trend_cap), 1 where trend = 0.
    """

    rate_floor: float
    rate_cap: float
    trend: float
    trend_cap: float

    def _problems(self) -> list[str]:
        found = []
        if not 0 < self.rate_floor <= self.rate_cap:
            found.append(
                f"rate_floor must be above 0 and at most rate_cap, found rate_floor "
                f"{self.rate_floor}, rate_cap {self.rate_cap}"
            )
        if self.trend < 0 or self.trend_cap < 0:
            found.append("trend and trend_cap must be >= 0")
        return found


@dataclass(frozen=True)
class FootfallSettings(Checked):
    """``priorities.toml [footfall]``: the workday population of central boroughs.

    Jobs per borough (E09 rows of a CSV: the GLA ward profiles' borough rows, or any file with
    a code and a jobs column) are added to the residents for the footfall-aware rate of the
    boroughs that count as central: jobs at least ``central_jobs_per_resident`` per resident,
    or listed in ``central_boroughs``.
    """

    path: str
    code_column: str
    jobs_column: str
    encoding: str
    year: int
    central_jobs_per_resident: float
    central_boroughs: tuple[str, ...] = ()

    def _problems(self) -> list[str]:
        found = []
        if self.central_jobs_per_resident <= 0:
            found.append(
                "central_jobs_per_resident must be above 0 (set it very high to use "
                f"central_boroughs only), found {self.central_jobs_per_resident}"
            )
        bad = [c for c in self.central_boroughs if not c.startswith("E09")]
        if bad:
            found.append(f"central_boroughs must be borough codes (E09...), found {bad}")
        return found


@dataclass(frozen=True)
class PrioritySettings(Checked):
    """``config/priorities.toml``: candidates, the basket and how candidates are ranked."""

    n_priorities: int
    min_harm_share: float
    near_tie_margin: float
    trend: PriorityTrendTest
    score: PriorityScore
    footfall: FootfallSettings
    candidates: tuple[Candidate, ...]
    basket: tuple[BasketItem, ...]
    area: str = "London"  # the area every borough's rate is compared with (all scored wards)

    def _problems(self) -> list[str]:
        found = []
        if not self.area.strip():
            found.append('area must name the area the rates are compared with, e.g. "London"')
        if self.n_priorities < 1:
            found.append(f"n_priorities must be a whole number >= 1, found {self.n_priorities}")
        if not 0 <= self.min_harm_share < 1:
            found.append(f"min_harm_share must be in [0, 1), found {self.min_harm_share}")
        if not 0 <= self.near_tie_margin < 1:
            found.append(f"near_tie_margin must be in [0, 1), found {self.near_tie_margin}")
        labels = [c.label for c in self.candidates]
        if not labels:
            found.append("no [[candidates]]; list the crime types to choose from")
        if len(set(labels)) < len(labels):
            found.append(f"candidate labels must be unique, found {labels}")
        return found

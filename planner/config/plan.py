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
    "AllocationSettings",
    "BasketItem",
    "Candidate",
    "Method",
    "PriorityScore",
    "PrioritySettings",
    "PriorityTrendTest",
    "normalise_text",
]

Method = Literal["webster", "dhondt", "huntington_hill", "hamilton"]
METHODS: Final[tuple[str, ...]] = get_args(Method)
DIVISOR_METHODS: Final[tuple[str, ...]] = ("webster", "dhondt", "huntington_hill")


def normalise_text(text: object) -> str:
    """Spaces collapsed and case folded: the form category and measure names are matched in."""
    return " ".join(str(text).split()).casefold()


@dataclass(frozen=True)
class AllocationSettings(Checked):
    """How the extra officers are allocated (``config/allocation.toml``).

    ``current_extra`` (extras per ward now, indexed by ward code) is not compared or hashed;
    :func:`planner.plan.allocation.allocate_wards` needs it when ``max_change`` is set.
    The optional constraints default to "none" (TOML has no null: leaving the key out of the
    file means no cap, no damping, no exclusions).
    """

    method: Method
    baseline_dwo: int
    baseline_pcso: int
    borough_floor_share: float
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
        if self.current_extra is not None and not isinstance(self.current_extra, pd.Series):
            found.append("current_extra must be a pandas Series indexed by ward_code")
        if isinstance(self.excluded, str) or not isinstance(self.excluded, Iterable):
            found.append(f"excluded must be a collection of ward codes, found {self.excluded!r}")
        else:
            object.__setattr__(self, "excluded", frozenset(str(c) for c in self.excluded))
        return found


# --- borough priorities ----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate(Checked):
    """A crime type that can become a local priority (a category or one subcategory of it)."""

    label: str
    category: str
    subcategory: str | None = None  # used where the data splits the category
    whole_label: str | None = None  # the label when the whole category has to be used

    def _problems(self) -> list[str]:
        canon = {c.casefold(): c for c in s.CATEGORIES}
        category = canon.get(self.category.strip().casefold())
        if not self.label.strip():
            return ["a candidate needs a label"]
        if category is None:
            return [f"category {self.category!r} is not one of the 14 categories"]
        object.__setattr__(self, "category", category)
        if self.subcategory:
            object.__setattr__(self, "subcategory", normalise_text(self.subcategory))
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
    """``priorities.toml [score]``: the weights and caps of a candidate's score."""

    rate: float
    trend: float
    harm: float
    rate_cap: float
    trend_cap: float

    def _problems(self) -> list[str]:
        values = (self.rate, self.trend, self.harm, self.rate_cap, self.trend_cap)
        return ["score weights and caps must be >= 0"] if min(values) < 0 else []


@dataclass(frozen=True)
class PrioritySettings(Checked):
    """``config/priorities.toml``: candidates, the basket and how candidates are scored."""

    n_priorities: int
    trend: PriorityTrendTest
    score: PriorityScore
    candidates: tuple[Candidate, ...]
    basket: tuple[BasketItem, ...]

    def _problems(self) -> list[str]:
        found = []
        if self.n_priorities < 1:
            found.append(f"n_priorities must be a whole number >= 1, found {self.n_priorities}")
        labels = [c.label for c in self.candidates]
        if not labels:
            found.append("no [[candidates]]; list the crime types to choose from")
        if len(set(labels)) < len(labels):
            found.append(f"candidate labels must be unique, found {labels}")
        return found

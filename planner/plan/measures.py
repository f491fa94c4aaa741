"""Borough measures shared by the priority evidence and the high-harm basket.

The rows of a window and the window before it, turned once into (borough, period) positions
(:func:`window_rows`) and summed with :func:`numpy.bincount` (:func:`borough_sums`); the
volume, rate per 1,000 residents against the London rate and the trend (shrunk change, exact
binomial test) of those sums (:func:`compare`), and per resident and workday population in
central boroughs (:func:`footfall`); the special wards left out (:func:`left_out_wards`); the
months a dashboard series can be used over (:func:`common_window`); each priority candidate
measured as the data allow (:func:`measure_candidates`: a subcategory, less a dashboard series,
or the whole category, said); and the phrases both sentences use. "London" is every borough of
the scored wards (:func:`scored_boroughs`). Python loops run over configuration entries, never
over rows. Over 400 lines because the evidence and the basket share all of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import Candidate, PrioritySettings, SpecialWard, normalise_text
from planner.model.features import per_1000
from planner.model.harm import row_harm_weights
from planner.model.stats import binomial_p
from planner.model.window import Window, month_index

if TYPE_CHECKING:
    from planner.model.need import NeedInputs

__all__ = [
    "NOT_AVAILABLE",
    "Measured",
    "WindowRows",
    "borough_sums",
    "common_window",
    "compare",
    "compare_columns",
    "footfall",
    "is_split",
    "left_out_wards",
    "matches",
    "measure_candidates",
    "month_span",
    "no_trend_note",
    "rate_phrase",
    "scored_boroughs",
    "subcategory_mask",
    "than_phrase",
    "window_rows",
]

NOT_AVAILABLE = "not available"


# --- rows in the two windows -----------------------------------------------------------------


@dataclass(frozen=True)
class WindowRows:
    """The rows of a window and the previous one as (borough, period) positions."""

    frame: pd.DataFrame  # the rows of the window and the previous window
    borough: np.ndarray  # position in the borough table, -1 = not a scored ward
    period: np.ndarray  # 0 = window, 1 = previous window
    count: np.ndarray  # float64
    trend: bool  # the data cover both windows
    span: tuple[str, str] | None  # first and last month in the data


def scored_boroughs(inputs: NeedInputs, *, leave_out: Iterable[str] = ()) -> pd.DataFrame:
    """One row per borough of the scored wards: name and resident population.

    The residents of the wards in *leave_out* (special wards, :func:`left_out_wards`) are not
    counted, so that rates leave out the same wards as the counts.
    """
    wards = inputs.wards
    pop = pd.to_numeric(inputs.population.reindex(wards.index), errors="coerce")
    pop = pop.where(~wards.index.isin(list(leave_out)), 0.0)
    table = (
        pd.DataFrame({"name": wards[s.BOROUGH_NAME], "population": pop, "missing": pop.isna()})
        .groupby(wards[s.BOROUGH_CODE], sort=True)
        .agg(name=("name", "first"), population=("population", "sum"), missing=("missing", "sum"))
    )
    table.index.name = s.BOROUGH_CODE
    return table.sort_values("name", kind="stable")


def window_rows(
    frame: pd.DataFrame,
    window: Window,
    inputs: NeedInputs,
    boroughs: pd.DataFrame,
    *,
    leave_out: Iterable[str] = (),
    span: tuple[str, str] | None = None,
) -> WindowRows:
    """The rows of *frame* in *window* and the window before it, by borough of *boroughs*.

    Rows of the wards in *leave_out* count for no borough (position -1), like rows of wards
    that are not scored. *span*: the first and last month of *frame* when the caller knows
    them (:func:`month_span`).
    """
    months = frame[s.MONTH]
    span = span if span is not None else month_span(months)
    part = frame[months.isin(window.previous().months + window.months)]
    ward_borough = boroughs.index.get_indexer(inputs.wards[s.BOROUGH_CODE])
    ward_borough[inputs.wards.index.isin(list(leave_out))] = -1
    ward = inputs.wards.index.get_indexer(part[s.WARD_CODE])
    return WindowRows(
        frame=part,
        borough=np.append(ward_borough, -1)[ward],
        period=np.where(part[s.MONTH].isin(window.months), 0, 1),
        count=part[s.COUNT].to_numpy(dtype=np.float64),
        trend=span is not None and span[0] <= window.previous().start and span[1] >= window.end,
        span=span,
    )


def month_span(months: pd.Series) -> tuple[str, str] | None:
    """The first and last month present in *months* (None when empty)."""
    if isinstance(months.dtype, pd.CategoricalDtype):
        codes = months.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(months.cat.categories)) > 0
        levels = months.cat.categories[used].astype(str)
    else:
        levels = pd.Index(months.dropna().astype(str).unique())
    return (min(levels), max(levels)) if len(levels) else None


def borough_sums(
    rows: WindowRows, mask: np.ndarray, n: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Sum counts (times *weights*) of the masked rows into an (n boroughs, 2 periods) array."""
    ok = mask & (rows.borough >= 0)
    values = rows.count if weights is None else rows.count * weights
    flat = rows.borough[ok] * 2 + rows.period[ok]
    return np.bincount(flat, weights=values[ok], minlength=2 * n).reshape(n, 2)


def is_split(rows: WindowRows, category: str) -> bool:
    """Does every record of *category* in the two windows carry a subcategory?"""
    in_cat = (rows.frame[s.CATEGORY] == category).to_numpy()
    if not in_cat.any():
        return False
    subs = rows.frame[s.SUBCATEGORY]
    if isinstance(subs.dtype, pd.CategoricalDtype):  # one check per level, not per row
        blank = [not str(level).strip() for level in subs.cat.categories]
        codes = subs.cat.codes.to_numpy()[in_cat]
        return not np.append(np.array(blank, dtype=bool), True)[codes].any()  # -1: missing
    text = subs[in_cat].astype(object).fillna("").astype(str).str.strip()
    return bool((text != "").all())


def subcategory_mask(rows: WindowRows, category: str, subcategory: str) -> np.ndarray:
    """The rows of *category* whose subcategory reads *subcategory* (normalised)."""
    in_sub = matches(rows.frame[s.SUBCATEGORY], subcategory).to_numpy(dtype=bool)
    in_cat = (rows.frame[s.CATEGORY] == category).to_numpy(dtype=bool)
    both: np.ndarray = np.logical_and(in_cat, in_sub)
    return both


def matches(values: pd.Series, name: str) -> pd.Series:
    """Rows whose value reads *name* once spaces are collapsed and case folded."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # compare the levels, then the codes
        levels = values.cat.categories
        hit = np.array([isinstance(v, str) and normalise_text(v) == name for v in levels])
        codes = values.cat.codes.to_numpy()
        found = np.append(hit, False)[codes] if len(hit) else np.zeros(len(codes), dtype=bool)
        return pd.Series(found, index=values.index)
    return values.isin(
        [v for v in pd.unique(values) if isinstance(v, str) and normalise_text(v) == name]
    )


# --- rates and trend (shared by the evidence and the basket) ---------------------------------


def compare(
    sums: np.ndarray, boroughs: pd.DataFrame, trend: bool, p: PrioritySettings
) -> pd.DataFrame:
    """Volume, rate per 1,000, London rate, ratio and the trend of a (boroughs, 2) array."""
    return pd.DataFrame(compare_columns(sums, boroughs, trend, p), index=boroughs.index)


def compare_columns(
    sums: np.ndarray, boroughs: pd.DataFrame, trend: bool, p: PrioritySettings
) -> dict[str, np.ndarray | float | str]:
    """The columns of :func:`compare` as arrays (a frame is built once by the caller)."""
    a, b = sums[:, 0], sums[:, 1]
    pop = boroughs["population"].where(boroughs["population"] > 0)
    rate = per_1000(pd.Series(a, index=boroughs.index), pop).to_numpy(dtype=float)
    has_pop = pop.notna().to_numpy()
    london = a[has_pop].sum() / pop.sum() * 1000.0 if has_pop.any() else np.nan
    test = p.trend
    change = (a + test.prior_count) / (b + test.prior_count) - 1.0
    p_value = binomial_p(a, b)
    clear = (p_value < test.alpha) & (np.abs(change) >= test.min_change)
    direction = np.where(clear & (a > b), "up", np.where(clear & (a < b), "down", ""))
    return {
        "volume": a,
        "rate_per_1000": rate,
        "london_rate_per_1000": london,
        "rate_ratio": rate / london if london > 0 else np.full(len(a), np.nan),
        "volume_prior": b if trend else np.nan,
        "change": change if trend else np.nan,
        "p_value": p_value if trend else np.nan,
        "direction": np.where(direction == "", "no clear change", direction)
        if trend
        else NOT_AVAILABLE,
    }


def footfall(volume: np.ndarray, boroughs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rates per 1,000 residents and workday population, in the central boroughs only.

    *boroughs* has ``population``, ``workday_population`` (NaN where unknown) and ``central``.
    The London rate is every borough's volume over every borough's residents and workday
    population (the boroughs with both), so a central borough is compared like with like.
    Returns the columns ``workday_population``, ``footfall_rate_per_1000``,
    ``london_footfall_rate_per_1000`` and ``footfall_rate_ratio`` (NaN outside central
    boroughs), aligned to *boroughs*.
    """
    pop = boroughs["population"].where(boroughs["population"] > 0).to_numpy(dtype=float)
    jobs = boroughs["workday_population"].to_numpy(dtype=float)
    people = pop + jobs
    known = np.isfinite(people) & (people > 0)
    london = volume[known].sum() / people[known].sum() * 1000.0 if known.any() else np.nan
    central = boroughs["central"].to_numpy(dtype=bool) & known
    rate = np.where(central, volume / np.where(known, people, np.nan) * 1000.0, np.nan)
    return {
        "workday_population": np.where(central, jobs, np.nan),
        "footfall_rate_per_1000": rate,
        "london_footfall_rate_per_1000": np.where(central, london, np.nan),
        "footfall_rate_ratio": rate / london if london > 0 else np.full(len(rate), np.nan),
    }


def left_out_wards(inputs: NeedInputs, special: Iterable[SpecialWard]) -> pd.DataFrame:
    """The special wards of the data left out of their borough's evidence, with the reason.

    A special ward with ``in_priority_evidence`` stays in; codes that are not wards of the
    data (another ward vintage) are ignored. Columns ``name``, ``borough_code``, ``reason``,
    indexed by ward code.
    """
    wards = inputs.wards
    rows = [
        (w.code, w.name, str(wards.loc[w.code, s.BOROUGH_CODE]), w.reason)
        for w in special
        if not w.in_priority_evidence and w.code in wards.index
    ]
    table = pd.DataFrame(rows, columns=[s.WARD_CODE, "name", s.BOROUGH_CODE, "reason"])
    return table.drop_duplicates(s.WARD_CODE).set_index(s.WARD_CODE)


def no_trend_note(rows: WindowRows, window: Window) -> str:
    """Why the trend of *window* is not available: the months the data cover."""
    have = f"{rows.span[0]} to {rows.span[1]}" if rows.span else "no months"
    return (
        f"trend not available: the data cover {have}; a change on the previous "
        f"{len(window)} months needs data from {window.previous().start} to {window.end}"
    )


# --- phrases (vectorised over rows) --------------------------------------------------------


def rate_phrase(ratio: pd.Series, volume: pd.Series, area: str = "London") -> pd.Series:
    """The rate against *area* in words ("1.4 times the London rate", "none recorded")."""
    one, whole = ratio.map("{:.1f}".format), ratio.map("{:.0f}".format)
    text = np.select(
        [volume == 0, ratio.isna(), ratio.round(1) == 1.0, ratio >= 9.95],
        [
            "none recorded",
            "rate not known (no population figure)",
            f"about the {area} rate",
            whole + f" times the {area} rate",
        ],
        one + f" times the {area} rate",
    )
    return pd.Series(text, index=ratio.index)


def than_phrase(window: Window) -> str:
    """What the change is measured against ("on last year" for a 12-month window)."""
    return "on last year" if len(window) == 12 else f"on the previous {len(window)} months"


# --- measuring the candidates ------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One candidate as the data allow (:func:`measure_candidates`): borough sums over its
    window, its harm, the harm of all crime over the same months, and why it differs."""

    label: str
    category: str
    subcategory: str  # "" for the whole category
    excluded: str  # the dashboard series subtracted, or ""
    window: Window  # the months measured
    sums: np.ndarray  # (boroughs, 2 periods): the window and the one before
    harm: np.ndarray  # (boroughs,): in the window
    total_harm: np.ndarray  # (boroughs,): all crime, the same months
    trend: bool
    trend_why: str  # why the trend is not available
    window_why: str = ""  # why the months measured differ from the window
    note: str = ""
    usable: bool = True

    @property
    def is_asb(self) -> bool:
        return self.category == s.ASB


class _Measurer:
    """Measures each candidate, once per window (a dashboard series may end before the data)."""

    def __init__(
        self, inputs: NeedInputs, boroughs: pd.DataFrame, rows: WindowRows, leave_out: pd.Index
    ) -> None:
        self.inputs, self.boroughs, self.leave_out = inputs, boroughs, leave_out
        self.n = len(boroughs)
        self.span = rows.span
        self._windows: dict[Window, tuple[WindowRows, np.ndarray, np.ndarray]] = {}
        self._add(inputs.window, rows)

    def _add(self, window: Window, rows: WindowRows) -> tuple[WindowRows, np.ndarray, np.ndarray]:
        weights = row_harm_weights(rows.frame, self.inputs.harm)
        crime = (rows.frame[s.CATEGORY] != s.ASB).to_numpy() & (rows.period == 0)
        total = borough_sums(rows, crime, self.n, weights)[:, 0]
        self._windows[window] = (rows, weights, total)
        return self._windows[window]

    def rows(self, window: Window) -> tuple[WindowRows, np.ndarray, np.ndarray]:
        if window in self._windows:
            return self._windows[window]
        counts = self.inputs.ingest.ward_counts
        rows = window_rows(
            counts, window, self.inputs, self.boroughs, leave_out=self.leave_out, span=self.span
        )
        return self._add(window, rows)

    def measure(self, cand: Candidate) -> Measured:
        window = self.inputs.window
        rows, _, _ = self.rows(window)
        in_cat = (rows.frame[s.CATEGORY] == cand.category).to_numpy()
        if not in_cat.any():
            why = "this data has no" + (" ASB" if cand.category == s.ASB else f" {cand.category!r}")
            found = self._sum(cand.label, cand.category, window, in_cat)
            note = f"{cand.label} is not a candidate: {why} records"
            return dataclasses.replace(found, note=note, usable=False)
        if cand.subcategory is None:
            return self._sum(cand.label, cand.category, window, in_cat)
        if not is_split(rows, cand.category):
            label = cand.whole_label or cand.category
            note = (
                f"{cand.label} is shown as {label}: this data does not split {cand.category!r} "
                "into subcategories"
            )
            return dataclasses.replace(self._sum(label, cand.category, window, in_cat), note=note)
        if cand.exclude_measure:
            return self._excluding(cand)
        mask = subcategory_mask(rows, cand.category, cand.subcategory)
        return self._sum(cand.label, cand.category, window, mask, subcategory=cand.subcategory)

    def _sum(
        self, label: str, category: str, window: Window, mask: np.ndarray, *, subcategory: str = ""
    ) -> Measured:
        rows, weights, total = self.rows(window)
        return Measured(
            label,
            category,
            subcategory,
            "",
            window=window,
            sums=borough_sums(rows, mask, self.n),
            harm=borough_sums(rows, mask & (rows.period == 0), self.n, weights)[:, 0],
            total_harm=total,
            trend=rows.trend,
            trend_why=self._no_trend(window),
        )

    def _no_trend(self, window: Window) -> str:
        span = self.span
        months = month_index(span[1]) - month_index(span[0]) + 1 if span else 0
        return (
            f"the data cover {months} months; a change {than_phrase(window)} needs "
            f"{2 * len(window)}"
        )

    def _excluding(self, cand: Candidate) -> Measured:
        """The subcategory less a dashboard series, over months both cover (module docstring)."""
        assert cand.subcategory and cand.exclude_measure
        measures = self.inputs.ingest.measures
        frame = measures[matches(measures[s.MEASURE], cand.exclude_measure)]
        span = month_span(frame[s.MONTH])
        window, why_not, window_why = common_window(
            self.inputs.window, span, self.span, cand.exclude_measure, self.inputs.dataset
        )
        if why_not:
            rows, _, _ = self.rows(window)
            label = cand.inclusive_label or f"{cand.label} (with {cand.exclude_measure})"
            mask = subcategory_mask(rows, cand.category, cand.subcategory)
            found = self._sum(label, cand.category, window, mask, subcategory=cand.subcategory)
            note = f"{label} is measured instead of {cand.label} ({why_not})"
            return dataclasses.replace(found, note=note)
        rows, weights, total = self.rows(window)
        series = window_rows(
            frame, window, self.inputs, self.boroughs, leave_out=self.leave_out, span=span
        )
        mask = subcategory_mask(rows, cand.category, cand.subcategory)
        whole = borough_sums(rows, mask, self.n)
        part = borough_sums(series, np.ones(len(series.count), dtype=bool), self.n)
        sums = np.clip(whole - part, 0.0, None)
        kept = np.divide(sums[:, 0], whole[:, 0], out=np.zeros(self.n), where=whole[:, 0] > 0)
        harm = borough_sums(rows, mask & (rows.period == 0), self.n, weights)[:, 0] * kept
        trend = rows.trend and series.trend
        prev = window.previous()
        trend_why = (
            f"the {cand.exclude_measure} series covers {series.span[0]} to {series.span[1]}; a "
            f"change {than_phrase(window)} needs {prev.start} to {window.end}"
            if series.span
            else self._no_trend(window)
        )
        return Measured(
            cand.label, cand.category, cand.subcategory, cand.exclude_measure, window, sums, harm,
            total, trend, trend_why, window_why,
            note=f"{cand.label}: {cand.subcategory} less the Met dashboard's "
            f"{cand.exclude_measure} series, month by month over {window.label}"
            + (f", the latest {len(window)} months that series covers" if window_why else ""),
        )  # fmt: skip


def common_window(
    window: Window,
    series: tuple[str, str] | None,
    data: tuple[str, str] | None,
    measure: str,
    dataset: str,
) -> tuple[Window, str, str]:
    """Where a dashboard *series* (its first and last month) can be used beside the *data*.

    Returns (the window to measure, why the series cannot be used or "", why the window moved
    or ""). The series must cover a window of the same length as *window* that overlaps it: the
    window itself, or, where the series ends first, the window ending with the series.
    """
    if series is None:
        return window, f"data set {dataset!r} has no Met dashboard series {measure!r}", ""
    if series[0] > window.start and series[1] >= window.end:
        return window, f"the {measure} series starts in {series[0]}, after the window starts", ""
    if series[1] >= window.end:
        return window, "", ""
    moved = Window.ending(series[1], months=len(window))
    if series[1] < window.start or moved.start < series[0] or (data and moved.start < data[0]):
        return window, (
            f"the {measure} series covers {series[0]} to {series[1]}, which holds no "
            f"{len(window)}-month window overlapping {window.label}"
        ), ""  # fmt: skip
    why = f"measured over {moved.label}: the {measure} series ends in {series[1]}"
    return moved, "", why


def measure_candidates(
    inputs: NeedInputs,
    boroughs: pd.DataFrame,
    rows: WindowRows,
    settings: PrioritySettings,
    leave_out: pd.Index,
) -> list[Measured]:
    """Every candidate of *settings* measured as the data allow, in config order.

    A candidate falling back to what another already measures (two subcategories of a category
    the data do not split) is marked not usable, with a note saying with which.
    """
    measurer = _Measurer(inputs, boroughs, rows, leave_out)
    seen: dict[tuple[str, str, str], str] = {}
    out = []
    for cand in settings.candidates:
        m = measurer.measure(cand)
        key = (m.category, m.subcategory, m.excluded)
        if m.usable and key in seen:
            m = dataclasses.replace(
                m,
                usable=False,
                note=f"{cand.label} is measured with {seen[key]}: this data does not split "
                f"{cand.category!r} into subcategories",
            )
        elif m.usable:
            seen[key] = m.label
        out.append(m)
    return out

"""Borough priority evidence: every candidate crime of every borough, scored and in a sentence.

For every borough and candidate (``config/priorities.toml``) :func:`borough_evidence` measures
the volume in the window, the rate against the London rate (per resident, and in central
boroughs per resident and workday population), the change on the previous window (shrunk, with
an exact binomial test; :mod:`planner.plan.measures`) and the share of the borough's crime harm;
a candidate qualifies when its harm share reaches the minimum, and is scored

    score = harm share x clip(rate against London, rate_floor, rate_cap) x trend factor

(the trend factor is 1 unless ``[score] trend`` > 0). Qualifying candidates rank first, by
score; each gets a plain-English sentence. Special wards (``config.allocation.special``) are
left out of the counts, the residents and the London rate. Which candidates are proposed is
:func:`planner.plan.priorities.propose_priorities`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import PrioritySettings, SpecialWard
from planner.errors import DataError
from planner.ingest.sources.workplace import Workplace
from planner.model.window import Window, month_index, month_label
from planner.plan.measures import (
    NOT_AVAILABLE,
    Measured,
    compare_columns,
    footfall,
    left_out_wards,
    measure_candidates,
    month_span,
    rate_phrase,
    scored_boroughs,
    than_phrase,
    window_rows,
)

if TYPE_CHECKING:
    from planner.model.need import NeedInputs

__all__ = ["RESIDENTS", "RESIDENTS_AND_WORKDAY", "Evidence", "borough_evidence", "check_window"]

RESIDENTS = "residents"
RESIDENTS_AND_WORKDAY = "residents and workday population"


@dataclass(frozen=True)
class Evidence:
    """:func:`borough_evidence`: the ``table`` of every borough and candidate, the window it
    measures, whether the data cover the previous window (the trend), London-wide ``notes`` and
    ``borough_notes`` (borough code -> notes for that borough only: special wards left out)."""

    table: pd.DataFrame
    window: Window
    trend_available: bool
    notes: list[str]
    borough_notes: dict[str, list[str]] = field(default_factory=dict)


def borough_evidence(
    inputs: NeedInputs,
    *,
    settings: PrioritySettings,
    special: Iterable[SpecialWard] = (),
    workplace: Workplace | None = None,
) -> Evidence:
    """The evidence for every borough and candidate crime, ranked within the borough.

    Parameters
    ----------
    inputs
        Prepared data (:func:`planner.model.need.prepare_need`): ward counts, dashboard
        measures, scored wards with their boroughs, population, window and harm settings.
    settings
        Candidates, minimum harm share, trend test and score (``config.priorities``).
    special
        Special wards (``config.allocation.special``): their records and residents are left
        out unless ``in_priority_evidence``; codes that are not wards of the data are ignored.
    workplace
        Jobs per borough (:func:`planner.ingest.sources.workplace.workplace_for`) for the
        footfall-aware rates of central boroughs; None: resident rates everywhere.

    Returns
    -------
    Evidence
        ``table``: one row per (borough, candidate), ordered by borough name and rank:
        ``borough_code``, ``borough_name``, ``candidate`` (the label), ``category``,
        ``subcategory`` ("" for the whole category), ``excluded_measure`` (the dashboard series
        subtracted, or ""), ``window`` (the months measured), ``volume``, ``population``
        (residents), ``rate_per_1000``, ``london_rate_per_1000``, ``rate_ratio`` (per
        resident), ``workday_population``, ``footfall_rate_per_1000``,
        ``london_footfall_rate_per_1000``, ``footfall_rate_ratio`` (central boroughs only, else
        NaN), ``central``, ``denominator`` ("residents" or "residents and workday
        population"), ``scored_rate_ratio`` (the ratio the score uses), ``volume_prior``,
        ``change`` (shrunk), ``p_value``, ``direction`` ("up", "down", "no clear change" or
        "not available"), ``harm``, ``harm_share`` (NaN for ASB), ``harm_share_text``,
        ``rate_factor``, ``trend_factor``, ``score`` (NaN without a harm share),
        ``qualifies`` (some recorded, harm share at least ``min_harm_share``), ``rank`` (1 = first;
        qualifying candidates first), ``status`` (why it qualifies or not) and ``sentence``.

    Raises
    ------
    DataError
        The data do not cover the window, or cover 24 months or more but not the window and
        the one before it (:func:`check_window`); or no candidate has records.
    """
    counts = inputs.ingest.ward_counts
    span = month_span(counts[s.MONTH])
    trend_possible = check_window(inputs.window, span, inputs.dataset)
    left_out = left_out_wards(inputs, special)
    boroughs = _boroughs(inputs, left_out.index, workplace, settings)
    rows = window_rows(counts, inputs.window, inputs, boroughs, leave_out=left_out.index, span=span)
    notes = _notes(inputs, boroughs, left_out, workplace, settings, span, trend_possible)
    measured = measure_candidates(inputs, boroughs, rows, settings, left_out.index)
    notes += [m.note for m in measured if m.note]
    parts = [_part(m, boroughs, settings, order) for order, m in enumerate(measured) if m.usable]
    if not parts:
        raise DataError("no candidate crime type has records in this data; see the notes")
    evidence = pd.concat(parts).reset_index()
    evidence.insert(1, "borough_name", evidence[s.BOROUGH_CODE].map(boroughs["name"]))
    evidence = _rank(_score(evidence, settings), inputs.window, settings)
    borough_notes = {
        code: [f"{r.name} left out: {r.reason}" for r in group.itertuples()]
        for code, group in left_out.groupby(s.BOROUGH_CODE)
    }
    return Evidence(evidence, inputs.window, rows.trend, notes, borough_notes)


def check_window(window: Window, span: tuple[str, str] | None, dataset: str) -> bool:
    """Check that the data can give the evidence of *window*; True when the trend can be had.

    The window must lie in the data. Where the data cover at least two windows, the window
    before it must lie in the data too (the trend compares the two); where they cover less,
    no window has a trend, and the evidence goes ahead without it.

    Raises
    ------
    DataError
        Naming the months needed, the months the data cover and the window ends to choose from.
    """
    if span is None:
        raise DataError(f"data set {dataset!r} has no ward counts; run `planner ingest` first")
    months = len(window)
    covered = month_index(span[1]) - month_index(span[0]) + 1
    trend_possible = covered >= 2 * months
    need = window.previous().start if trend_possible else window.start
    if need >= span[0] and window.end <= span[1]:
        return trend_possible
    first = month_label(month_index(span[0]) + (2 if trend_possible else 1) * months - 1)
    why = (
        f"the window and the {months} months before it, which the trend compares"
        if trend_possible
        else "the window"
    )
    choose = f"choose a window end from {first} to {span[1]}" if first <= span[1] else "add data"
    raise DataError(
        f"priorities for the window {window.label} need ward counts from {need} to {window.end}"
        f" ({why}), but data set {dataset!r} covers {span[0]} to {span[1]}; {choose}"
    )


# --- boroughs and notes ------------------------------------------------------------------------


def _boroughs(
    inputs: NeedInputs,
    leave_out: pd.Index,
    workplace: Workplace | None,
    settings: PrioritySettings,
) -> pd.DataFrame:
    """Scored boroughs with residents, workday population (jobs) and whether central."""
    boroughs = scored_boroughs(inputs, leave_out=leave_out)
    jobs = workplace.jobs if workplace is not None else pd.Series(dtype=float)
    boroughs["workday_population"] = jobs.reindex(boroughs.index).astype(float)
    ratio = boroughs["workday_population"] / boroughs["population"].where(
        boroughs["population"] > 0
    )
    listed = boroughs.index.isin(list(settings.footfall.central_boroughs))
    central = (ratio >= settings.footfall.central_jobs_per_resident) | listed
    boroughs["central"] = central & boroughs["workday_population"].notna()
    return boroughs


def _notes(
    inputs: NeedInputs,
    boroughs: pd.DataFrame,
    left_out: pd.DataFrame,
    workplace: Workplace | None,
    settings: PrioritySettings,
    span: tuple[str, str] | None,
    trend_possible: bool,
) -> list[str]:
    window = inputs.window
    notes = [
        f"window {window.label}, compared with {window.previous().label}; harm shares use the "
        f"{inputs.harm.current.name} ({inputs.harm.current.unit}); a candidate qualifies with at "
        f"least {settings.min_harm_share * 100:g} % of the borough's harm and is ranked by harm "
        f"share x the rate against {settings.area} (clipped to {settings.score.rate_floor:g}-"
        f"{settings.score.rate_cap:g} times)"
    ]
    notes.append(_footfall_note(boroughs, workplace, settings))
    expected = set(inputs.all_wards[s.BOROUGH_CODE]) - set(inputs.excluded_boroughs)
    if len(boroughs) < len(expected):
        notes.append(
            f"'{settings.area}' here is the {len(boroughs)} boroughs this data covers, not all "
            f"{len(expected)}"
        )
    if not trend_possible:
        have = f"{span[0]} to {span[1]}" if span else "no months"
        notes.append(
            f"trend not available: the data cover {have}; a change on the previous "
            f"{len(window)} months needs data from {window.previous().start} to {window.end}"
        )
    short = boroughs[boroughs["missing"] > 0]
    if len(short):
        notes.append(
            "some wards have no population figure, so these boroughs' rates run high: "
            + ", ".join(f"{r.name} ({int(r.missing)} wards)" for r in short.itertuples())
        )
    if len(left_out):
        names = ", ".join(
            f"{r.name} ({boroughs['name'].get(r.borough_code, r.borough_code)})"
            for r in left_out.itertuples()
        )
        notes.append(
            f"special wards left out of their borough's evidence and the {settings.area} rate: "
            + names
        )
    return notes


def _footfall_note(
    boroughs: pd.DataFrame, workplace: Workplace | None, settings: PrioritySettings
) -> str:
    if workplace is None or workplace.jobs.empty:
        why = workplace.note if workplace is not None and workplace.note else "no workplace data"
        return f"rates per 1,000 residents in every borough (footfall-aware rates: {why})"
    central = boroughs.loc[boroughs["central"], "name"].tolist()
    if not central:
        return (
            "rates per 1,000 residents; no borough counts as central (at least "
            f"{settings.footfall.central_jobs_per_resident:g} jobs per resident)"
        )
    return (
        f"rates per 1,000 residents; in the central boroughs ({', '.join(central)}: at least "
        f"{settings.footfall.central_jobs_per_resident:g} jobs per resident) the rate against "
        f"{settings.area} is per 1,000 residents and workday population, the jobs of "
        f"{workplace.source}"
    )


# --- one candidate's rows ----------------------------------------------------------------------


def _part(m: Measured, boroughs: pd.DataFrame, p: PrioritySettings, order: int) -> pd.DataFrame:
    """One candidate's rows, one per borough, in the column order of the evidence table."""
    found = compare_columns(m.sums, boroughs, m.trend, p)
    rates = footfall(m.sums[:, 0], boroughs)
    central = np.isfinite(rates["footfall_rate_ratio"])
    total = np.where(m.total_harm > 0, m.total_harm, np.nan)
    columns = {
        "candidate": m.label,
        "category": m.category,
        "subcategory": m.subcategory,
        "excluded_measure": m.excluded,
        "window": m.window.label,
        "volume": found["volume"],
        "population": boroughs["population"].to_numpy(dtype=float),
        **{k: found[k] for k in ("rate_per_1000", "london_rate_per_1000", "rate_ratio")},
        **rates,
        "central": central,
        "denominator": np.where(central, RESIDENTS_AND_WORKDAY, RESIDENTS),
        "scored_rate_ratio": np.where(central, rates["footfall_rate_ratio"], found["rate_ratio"]),
        **{k: found[k] for k in ("volume_prior", "change", "p_value", "direction")},
        "harm": np.nan if m.is_asb else m.harm,
        "harm_share": np.nan if m.is_asb else m.harm / total,
        "_order": order,
        "_trend_why": m.trend_why,
        "_window_why": m.window_why,
    }
    return pd.DataFrame(columns, index=boroughs.index)


# --- score, rank, words ------------------------------------------------------------------------


def _score(ev: pd.DataFrame, p: PrioritySettings) -> pd.DataFrame:
    """score = harm share x rate factor x trend factor (config/priorities.toml [score])."""
    sc = p.score
    ev["rate_factor"] = ev["scored_rate_ratio"].clip(sc.rate_floor, sc.rate_cap)
    ev.loc[ev["volume"] == 0, "rate_factor"] = sc.rate_floor  # none recorded: no rate to favour
    with np.errstate(divide="ignore", invalid="ignore"):
        log_change = np.log2(1.0 + ev["change"]).clip(-sc.trend_cap, sc.trend_cap)
    clear = ev["direction"].isin(["up", "down"])
    ev["trend_factor"] = np.where(clear, np.exp2(sc.trend * log_change.fillna(0.0)), 1.0)
    score = ev["harm_share"] * ev["rate_factor"] * ev["trend_factor"]
    ev["score"] = score.round(12)  # equal evidence, equal score: ties go to config order
    ev["qualifies"] = (ev["harm_share"] >= p.min_harm_share) & (ev["volume"] > 0)
    return ev


def _rank(ev: pd.DataFrame, window: Window, p: PrioritySettings) -> pd.DataFrame:
    ev = ev.sort_values(
        ["borough_name", "qualifies", "score", "_order"],
        ascending=[True, False, False, True],
        na_position="last",
        kind="mergesort",
    ).reset_index(drop=True)
    ev["rank"] = ev.groupby(s.BOROUGH_CODE, sort=False).cumcount() + 1
    ev["harm_share_text"] = _harm_phrase(ev["harm_share"], short=True)
    ev["status"] = _status(ev, p)
    harm = _harm_phrase(ev["harm_share"], short=False)
    trend = _trend_phrase(ev, window)
    rate = _rate_words(ev, p.area)
    measured = np.where(ev["_window_why"] == "", "", " (" + ev["_window_why"] + ")")
    parts = ev["candidate"] + ": " + rate + ", " + trend
    ev["sentence"] = parts + np.where(harm == "", "", ", " + harm) + measured + "."
    return ev.drop(columns=["_order", "_trend_why", "_window_why"])


def _rate_words(ev: pd.DataFrame, area: str) -> pd.Series:
    """The rate against *area*; in central boroughs per resident and worker, then per resident."""
    resident = rate_phrase(ev["rate_ratio"], ev["volume"], area)
    both = rate_phrase(ev["footfall_rate_ratio"], ev["volume"], area)
    per_resident = ev["rate_ratio"].map("{:.1f}".format)
    central = ev["central"].to_numpy(dtype=bool) & (ev["volume"] > 0).to_numpy()
    text = np.where(
        central,
        both + " counting residents and workers (" + per_resident + " times per resident)",
        resident,
    )
    return pd.Series(text, index=ev.index)


def _status(ev: pd.DataFrame, p: PrioritySettings) -> pd.Series:
    minimum = f"{p.min_harm_share * 100:g} %"
    text = np.select(
        [ev["harm_share"].isna(), ev["volume"] == 0, ev["qualifies"]],
        [
            "not a local candidate: no harm share (not notifiable crime; ASB is a "
            f"{p.area}-wide priority)",
            "does not qualify: none recorded",
            "qualifies: " + ev["harm_share_text"] + f" of the borough's harm (minimum {minimum})",
        ],
        "does not qualify: "
        + ev["harm_share_text"]
        + f" of the borough's harm, under the minimum of {minimum}",
    )
    return pd.Series(text, index=ev.index)


def _trend_phrase(ev: pd.DataFrame, window: Window) -> pd.Series:
    direction, change = ev["direction"], ev["change"]
    than = than_phrase(window)
    pct = (change.abs() * 100).round().map("{:.0f}".format)
    unavailable = "trend not available (" + ev["_trend_why"] + ")"
    text = np.select(
        [direction == "up", direction == "down", direction == NOT_AVAILABLE],
        ["up " + pct + " % " + than, "down " + pct + " % " + than, unavailable],
        f"no clear change {than}",
    )
    return pd.Series(text, index=direction.index)


def _harm_phrase(share: pd.Series, *, short: bool) -> pd.Series:
    pct = (share * 100).round()
    tail = "" if short else " of the borough's harm"
    text = np.select(
        [share.isna(), share == 0, pct < 1],
        ["n/a" if short else "", "0 %" + tail, "under 1 %" + tail],
        pct.map("{:.0f}".format) + " %" + tail,
    )
    return pd.Series(text, index=share.index)

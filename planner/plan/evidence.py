"""Borough priority evidence: every candidate crime of every borough, scored and in a sentence.

For every borough and candidate (``config/priorities.toml``) :func:`borough_evidence` measures
the volume in the window, the rate per 1,000 residents against the London rate, the change on
the previous window (shrunk, with an exact binomial test; :mod:`planner.plan.measures`) and the
share of the borough's crime harm, scores them transparently, ranks the candidates within the
borough and writes a plain-English sentence for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import Candidate, PrioritySettings
from planner.errors import DataError
from planner.model.harm import row_harm_weights
from planner.model.window import Window, month_index
from planner.plan.measures import (
    NOT_AVAILABLE,
    WindowRows,
    borough_sums,
    compare,
    is_split,
    no_trend_note,
    rate_phrase,
    scored_boroughs,
    subcategory_mask,
    than_phrase,
    window_rows,
)

if TYPE_CHECKING:
    from planner.model.need import NeedInputs

__all__ = ["Evidence", "borough_evidence"]


@dataclass(frozen=True)
class Evidence:
    """:func:`borough_evidence`: the ``table`` of every borough and candidate, the window it
    measures, whether the data cover the previous window (the trend), and notes."""

    table: pd.DataFrame
    window: Window
    trend_available: bool
    notes: list[str]


def borough_evidence(inputs: NeedInputs, *, settings: PrioritySettings) -> Evidence:
    """The evidence for every borough and candidate crime, ranked within the borough.

    Parameters
    ----------
    inputs
        Prepared data (:func:`planner.model.need.prepare_need`): ward counts, scored wards with
        their boroughs, population, window and harm settings.
    settings
        Candidates, trend test and score weights (``config.priorities``).

    Returns
    -------
    Evidence
        ``table``: one row per (borough, candidate), ordered by borough name and rank:
        ``borough_code``, ``borough_name``, ``candidate``, ``category``, ``subcategory`` ("" for the
        whole category), ``volume`` (window), ``population``, ``rate_per_1000``,
        ``london_rate_per_1000``, ``rate_ratio``, ``volume_prior`` (previous window), ``change``
        (shrunk), ``p_value``, ``direction`` ("up", "down", "no clear change" or "not available"),
        ``harm``, ``harm_share`` (NaN for ASB), ``harm_share_text`` ("n/a" for ASB), the score terms
        ``rate_term``, ``trend_term``, ``harm_term``, ``score``, ``rank`` (1 = first) and
        ``sentence``.
    """
    boroughs = scored_boroughs(inputs)
    rows = window_rows(inputs.ingest.ward_counts, inputs.window, inputs, boroughs)
    weights = row_harm_weights(rows.frame, inputs.harm)
    crime = (rows.frame[s.CATEGORY] != s.ASB).to_numpy() & (rows.period == 0)
    total_harm = borough_sums(rows, crime, len(boroughs), weights)[:, 0]
    notes = _evidence_notes(inputs, boroughs, rows)
    parts = []
    for order, cand in enumerate(settings.candidates):
        mask, label, subcategory, note = _candidate_rows(rows, cand)
        if note:
            notes.append(note)
        if mask is None:
            continue
        part = compare(borough_sums(rows, mask, len(boroughs)), boroughs, rows.trend, settings)
        harm = borough_sums(rows, mask & (rows.period == 0), len(boroughs), weights)[:, 0]
        is_asb = cand.category == s.ASB
        part.insert(0, "candidate", label)
        part.insert(1, "category", cand.category)
        part.insert(2, "subcategory", subcategory)
        part.insert(4, "population", boroughs["population"])
        part["harm"] = np.nan if is_asb else harm
        part["harm_share"] = (
            np.nan if is_asb else harm / np.where(total_harm > 0, total_harm, np.nan)
        )
        part["_order"] = order
        parts.append(part)
    if not parts:
        raise DataError("no candidate crime type has records in this data; see the notes")
    evidence = pd.concat(parts).reset_index()
    evidence.insert(1, "borough_name", evidence[s.BOROUGH_CODE].map(boroughs["name"]))
    evidence = _rank(_score(evidence, settings), inputs.window, rows)
    return Evidence(evidence, inputs.window, rows.trend, notes)


def _candidate_rows(rows: WindowRows, cand: Candidate):
    """(mask, label, subcategory used, note); mask None where the data has no such records."""
    in_cat = (rows.frame[s.CATEGORY] == cand.category).to_numpy()
    if not in_cat.any():
        why = "this data has no" + (" ASB" if cand.category == s.ASB else f" {cand.category!r}")
        return None, cand.label, "", f"{cand.label} is not a candidate: {why} records"
    if cand.subcategory is None:
        return in_cat, cand.label, "", None
    if is_split(rows, cand.category):
        return (
            subcategory_mask(rows, cand.category, cand.subcategory),
            cand.label,
            cand.subcategory,
            None,
        )
    label = cand.whole_label or cand.category
    note = (
        f"{cand.label} is shown as the whole {cand.category!r} category: this data does not "
        "split it into subcategories"
    )
    return in_cat, label, "", note


def _evidence_notes(inputs: NeedInputs, boroughs: pd.DataFrame, rows: WindowRows) -> list[str]:
    window = inputs.window
    notes = [
        f"window {window.label}, compared with {window.previous().label}; rates per 1,000 "
        f"residents; harm shares use the {inputs.harm.current.name} ({inputs.harm.current.unit})"
    ]
    if len(boroughs) < 32:
        notes.append(f"'London' here is the {len(boroughs)} boroughs this data covers, not all 32")
    if not rows.trend:
        notes.append(no_trend_note(rows, window))
    short = boroughs[boroughs["missing"] > 0]
    if len(short):
        notes.append(
            "some wards have no population figure, so these boroughs' rates run high: "
            + ", ".join(f"{r.name} ({int(r.missing)} wards)" for r in short.itertuples())
        )
    return notes


def _score(ev: pd.DataFrame, settings: PrioritySettings) -> pd.DataFrame:
    """Weighted mean of the terms that can be measured (see config/priorities.toml [score])."""
    p = settings.score
    with np.errstate(divide="ignore"):
        ev["rate_term"] = np.log2(ev["rate_ratio"]).clip(-p.rate_cap, p.rate_cap)
        shrunk = np.log2(1.0 + ev["change"]).clip(-p.trend_cap, p.trend_cap)
    ev["trend_term"] = shrunk.where(ev["direction"].isin(["up", "down"]), 0.0)
    ev.loc[ev["direction"] == NOT_AVAILABLE, "trend_term"] = np.nan
    ev["harm_term"] = ev["harm_share"]
    terms = ev[["rate_term", "trend_term", "harm_term"]]
    w = np.array([p.rate, p.trend, p.harm])
    present = terms.notna().to_numpy() * w
    total = present.sum(axis=1)
    ev["score"] = np.where(
        total > 0, (terms.fillna(0.0).to_numpy() * w).sum(axis=1) / total, np.nan
    )
    ev["score"] = ev["score"].round(12)  # equal evidence, equal score: ties go to config order
    return ev


def _rank(ev: pd.DataFrame, window: Window, rows: WindowRows) -> pd.DataFrame:
    ev = ev.sort_values(
        ["borough_name", "score", "_order"],
        ascending=[True, False, True],
        na_position="last",
        kind="mergesort",
    ).reset_index(drop=True)
    ev["rank"] = ev.groupby(s.BOROUGH_CODE, sort=False).cumcount() + 1
    ev["harm_share_text"] = _harm_phrase(ev["harm_share"], short=True)
    harm = _harm_phrase(ev["harm_share"], short=False)
    trend = _trend_phrase(ev["direction"], ev["change"], window, rows)
    parts = ev["candidate"] + ": " + rate_phrase(ev["rate_ratio"], ev["volume"]) + ", " + trend
    ev["sentence"] = parts + np.where(harm == "", "", ", " + harm) + "."
    return ev.drop(columns="_order")


# --- sentences (vectorised over rows) ---------------------------------------------------------


def _trend_phrase(direction: pd.Series, change: pd.Series, window: Window, rows: WindowRows):
    than = than_phrase(window)
    pct = (change.abs() * 100).round().map("{:.0f}".format)
    months = month_index(rows.span[1]) - month_index(rows.span[0]) + 1 if rows.span else 0
    unavailable = (
        f"trend not available (the data cover {months} months; a change {than} needs "
        f"{2 * len(window)})"
    )
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

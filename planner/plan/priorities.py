"""Borough local priorities: the evidence for each candidate crime, two proposals, the basket.

The Police and Crime Plan for London asks each of the 32 boroughs to agree two local priorities
with its council leader, "based on the latest local crime data", beside the mandatory London-wide
priorities (ASB and a high-harm basket). For every borough and candidate (``config/
priorities.toml``) :func:`borough_evidence` measures the volume in the window, the rate per 1,000
residents against the London rate, the change on the previous window (shrunk, with an exact
binomial test) and the share of the borough's crime harm, scores them transparently and writes a
plain-English sentence; :func:`propose_priorities` takes the top two. :func:`high_harm_basket`
shows the basket with whatever data exists for it and says what is missing; nothing is
estimated. :func:`borough_priorities` gathers one borough's view.

"London" is every borough of the scored wards (``NeedInputs.wards``): all 32 for the Met data,
the 25 covered boroughs for the 2016-17 police.uk extract. Everything is vectorised: rows are
turned into (borough, period) positions once and summed with :func:`numpy.bincount`; Python loops
run over configuration entries, never over rows.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from planner import schema as s
from planner.config import (
    BasketItem,
    Candidate,
    PlannerConfig,
    PrioritySettings,
    normalise_text,
)
from planner.errors import ConfigError, DataError
from planner.model import features as f

if TYPE_CHECKING:
    from planner.model.need import NeedInputs

__all__ = [
    "Basket",
    "BoroughPriorities",
    "Evidence",
    "borough_evidence",
    "borough_priorities",
    "high_harm_basket",
    "match_borough",
    "propose_priorities",
]

NOT_AVAILABLE = "not available"
_EVIDENCE_KEYS = ("borough_code", "borough_name", "candidate", "rank", "score", "sentence")


def _norm(text: Any) -> str:
    return normalise_text(text)


def _category(name: str) -> str:
    canon = {c.casefold(): c for c in s.CATEGORIES}
    return canon.get(name.strip().casefold(), name.strip())


# --- rows in the two windows -----------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    frame: pd.DataFrame  # the rows of the window and the previous window
    borough: np.ndarray  # position in the borough table, -1 = not a scored ward
    period: np.ndarray  # 0 = window, 1 = previous window
    count: np.ndarray  # float64
    trend: bool  # the data cover both windows
    span: tuple[str, str] | None  # first and last month in the data


def _boroughs(inputs: NeedInputs) -> pd.DataFrame:
    """One row per borough of the scored wards: name and resident population."""
    wards = inputs.wards
    pop = pd.to_numeric(inputs.population.reindex(wards.index), errors="coerce")
    table = (
        pd.DataFrame({"name": wards[s.BOROUGH_NAME], "population": pop, "missing": pop.isna()})
        .groupby(wards[s.BOROUGH_CODE], sort=True)
        .agg(name=("name", "first"), population=("population", "sum"), missing=("missing", "sum"))
    )
    table.index.name = s.BOROUGH_CODE
    return table.sort_values("name", kind="stable")


def _rows(frame: pd.DataFrame, window: f.Window, inputs: NeedInputs, boroughs: pd.DataFrame):
    months = frame[s.MONTH]
    span = _span(months)
    part = frame[months.isin(window.previous().months + window.months)]
    ward_borough = boroughs.index.get_indexer(inputs.wards[s.BOROUGH_CODE])
    ward = inputs.wards.index.get_indexer(part[s.WARD_CODE])
    return _Rows(
        frame=part,
        borough=np.append(ward_borough, -1)[ward],
        period=np.where(part[s.MONTH].isin(window.months), 0, 1),
        count=part[s.COUNT].to_numpy(dtype=np.float64),
        trend=span is not None and span[0] <= window.previous().start and span[1] >= window.end,
        span=span,
    )


def _span(months: pd.Series) -> tuple[str, str] | None:
    if isinstance(months.dtype, pd.CategoricalDtype):
        codes = months.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(months.cat.categories)) > 0
        levels = months.cat.categories[used].astype(str)
    else:
        levels = pd.Index(months.dropna().astype(str).unique())
    return (min(levels), max(levels)) if len(levels) else None


def _sum(rows: _Rows, mask: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum counts (times *weights*) of the masked rows into an (n boroughs, 2 periods) array."""
    ok = mask & (rows.borough >= 0)
    values = rows.count if weights is None else rows.count * weights
    flat = rows.borough[ok] * 2 + rows.period[ok]
    return np.bincount(flat, weights=values[ok], minlength=2 * n).reshape(n, 2)


def _is_split(rows: _Rows, category: str) -> bool:
    """Does every record of *category* in the two windows carry a subcategory?"""
    in_cat = (rows.frame[s.CATEGORY] == category).to_numpy()
    subs = rows.frame.loc[in_cat, s.SUBCATEGORY].astype(object).fillna("").astype(str).str.strip()
    return bool(in_cat.any()) and bool((subs != "").all())


def _subcategory_mask(rows: _Rows, category: str, subcategory: str) -> np.ndarray:
    in_sub = _matches(rows.frame[s.SUBCATEGORY], subcategory)
    return ((rows.frame[s.CATEGORY] == category) & in_sub).to_numpy()


def _matches(values: pd.Series, name: str) -> pd.Series:
    """Rows whose value reads *name* once spaces are collapsed and case folded."""
    levels = values.cat.categories if isinstance(values.dtype, pd.CategoricalDtype) else values
    return values.isin([v for v in pd.unique(levels) if isinstance(v, str) and _norm(v) == name])


# --- rates and trend (shared by the evidence and the basket) ---------------------------------


def _compare(sums: np.ndarray, boroughs: pd.DataFrame, trend: bool, p: PrioritySettings):
    """Volume, rate per 1,000, London rate, ratio and the trend of a (boroughs, 2) array."""
    a, b = sums[:, 0], sums[:, 1]
    out = pd.DataFrame({"volume": a}, index=boroughs.index)
    pop = boroughs["population"].where(boroughs["population"] > 0)
    out["rate_per_1000"] = f.per_1000(out["volume"], pop).to_numpy()
    has_pop = pop.notna().to_numpy()
    london = a[has_pop].sum() / pop.sum() * 1000.0 if has_pop.any() else np.nan
    out["london_rate_per_1000"] = london
    out["rate_ratio"] = out["rate_per_1000"] / london if london > 0 else np.nan
    out["volume_prior"] = b if trend else np.nan
    test = p.trend
    change = (a + test.prior_count) / (b + test.prior_count) - 1.0
    out["change"] = change if trend else np.nan
    out["p_value"] = _binomial_p(a, b) if trend else np.nan
    clear = (out["p_value"] < test.alpha) & (out["change"].abs() >= test.min_change)
    direction = np.where(clear & (a > b), "up", np.where(clear & (a < b), "down", ""))
    out["direction"] = np.where(direction == "", "no clear change", direction)
    if not trend:
        out["direction"] = NOT_AVAILABLE
    return out


def _binomial_p(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact two-sided binomial p of a out of a + b at 0.5 (1 where a + b = 0); symmetric."""
    a, n = np.rint(a), np.rint(a + b)
    tail = np.minimum(stats.binom.cdf(a, n, 0.5), stats.binom.sf(a - 1, n, 0.5))
    return np.where(n > 0, np.minimum(1.0, 2.0 * tail), 1.0)


# --- the evidence ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """:func:`borough_evidence`: the ``table`` of every borough and candidate, the window it
    measures, whether the data cover the previous window (the trend), and notes."""

    table: pd.DataFrame
    window: f.Window
    trend_available: bool
    notes: list[str]


@dataclass(frozen=True)
class Basket:
    """:func:`high_harm_basket`: one row per borough and item, and notes on what is missing."""

    table: pd.DataFrame
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
    boroughs = _boroughs(inputs)
    rows = _rows(inputs.ingest.ward_counts, inputs.window, inputs, boroughs)
    weights = f.row_harm_weights(rows.frame, inputs.harm)
    crime = (rows.frame[s.CATEGORY] != s.ASB).to_numpy() & (rows.period == 0)
    total_harm = _sum(rows, crime, len(boroughs), weights)[:, 0]
    notes = _evidence_notes(inputs, boroughs, rows)
    parts = []
    for order, cand in enumerate(settings.candidates):
        mask, label, subcategory, note = _candidate_rows(rows, cand)
        if note:
            notes.append(note)
        if mask is None:
            continue
        part = _compare(_sum(rows, mask, len(boroughs)), boroughs, rows.trend, settings)
        harm = _sum(rows, mask & (rows.period == 0), len(boroughs), weights)[:, 0]
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


def _candidate_rows(rows: _Rows, cand: Candidate):
    """(mask, label, subcategory used, note); mask None where the data has no such records."""
    in_cat = (rows.frame[s.CATEGORY] == cand.category).to_numpy()
    if not in_cat.any():
        why = "this data has no" + (" ASB" if cand.category == s.ASB else f" {cand.category!r}")
        return None, cand.label, "", f"{cand.label} is not a candidate: {why} records"
    if cand.subcategory is None:
        return in_cat, cand.label, "", None
    if _is_split(rows, cand.category):
        return (
            _subcategory_mask(rows, cand.category, cand.subcategory),
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


def _evidence_notes(inputs: NeedInputs, boroughs: pd.DataFrame, rows: _Rows) -> list[str]:
    window = inputs.window
    notes = [
        f"window {window.label}, compared with {window.previous().label}; rates per 1,000 "
        f"residents; harm shares use the {inputs.harm.current.name} ({inputs.harm.current.unit})"
    ]
    if len(boroughs) < 32:
        notes.append(f"'London' here is the {len(boroughs)} boroughs this data covers, not all 32")
    if not rows.trend:
        notes.append(_no_trend(rows, window))
    short = boroughs[boroughs["missing"] > 0]
    if len(short):
        notes.append(
            "some wards have no population figure, so these boroughs' rates run high: "
            + ", ".join(f"{r.name} ({int(r.missing)} wards)" for r in short.itertuples())
        )
    return notes


def _no_trend(rows: _Rows, window: f.Window) -> str:
    have = f"{rows.span[0]} to {rows.span[1]}" if rows.span else "no months"
    return (
        f"trend not available: the data cover {have}; a change on the previous "
        f"{len(window)} months needs data from {window.previous().start} to {window.end}"
    )


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


def _rank(ev: pd.DataFrame, window: f.Window, rows: _Rows) -> pd.DataFrame:
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
    parts = ev["candidate"] + ": " + _rate_phrase(ev["rate_ratio"], ev["volume"]) + ", " + trend
    ev["sentence"] = parts + np.where(harm == "", "", ", " + harm) + "."
    return ev.drop(columns="_order")


# --- sentences (vectorised over rows) ---------------------------------------------------------


def _rate_phrase(ratio: pd.Series, volume: pd.Series) -> pd.Series:
    one, whole = ratio.map("{:.1f}".format), ratio.map("{:.0f}".format)
    text = np.select(
        [volume == 0, ratio.isna(), ratio.round(1) == 1.0, ratio >= 9.95],
        [
            "none recorded",
            "rate not known (no population figure)",
            "about the London rate",
            whole + " times the London rate",
        ],
        one + " times the London rate",
    )
    return pd.Series(text, index=ratio.index)


def _trend_phrase(direction: pd.Series, change: pd.Series, window: f.Window, rows: _Rows):
    than = _than(window)
    pct = (change.abs() * 100).round().map("{:.0f}".format)
    months = _months(*rows.span) if rows.span else 0
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


def _than(window: f.Window) -> str:
    return "on last year" if len(window) == 12 else f"on the previous {len(window)} months"


def _months(start: str, end: str) -> int:
    return (int(end[:4]) - int(start[:4])) * 12 + int(end[5:7]) - int(start[5:7]) + 1


def _harm_phrase(share: pd.Series, *, short: bool) -> pd.Series:
    pct = (share * 100).round()
    tail = "" if short else " of the borough's harm"
    text = np.select(
        [share.isna(), share == 0, pct < 1],
        ["n/a" if short else "", "0 %" + tail, "under 1 %" + tail],
        pct.map("{:.0f}".format) + " %" + tail,
    )
    return pd.Series(text, index=share.index)


# --- proposals ---------------------------------------------------------------------------------


def propose_priorities(evidence: pd.DataFrame, *, n: int = 2) -> pd.DataFrame:
    """The top *n* candidates of each borough, with their evidence sentences.

    Parameters
    ----------
    evidence
        :func:`borough_evidence` (all boroughs, or some).
    n
        Priorities per borough (the Police and Crime Plan asks for two).

    Returns
    -------
    pandas.DataFrame
        ``borough_code``, ``borough_name``, ``rank``, ``candidate``, ``score``, ``sentence``;
        ordered by borough name and rank. Ties in score were broken in
        :func:`borough_evidence` by the order of ``config/priorities.toml``, so the result does
        not depend on row order.

    Raises
    ------
    ConfigError
        *n* is below 1.
    DataError
        *evidence* lacks a column of :func:`borough_evidence`.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a whole number >= 1, found {n!r}")
    missing = [c for c in _EVIDENCE_KEYS if c not in evidence]
    if missing:
        raise DataError(f"evidence lacks columns {missing}; pass the output of borough_evidence")
    top = evidence.loc[evidence["rank"] <= n, list(_EVIDENCE_KEYS)]
    top = top.sort_values(["borough_name", "rank"], kind="mergesort").reset_index(drop=True)
    return top[["borough_code", "borough_name", "rank", "candidate", "score", "sentence"]]


# --- the high-harm basket ----------------------------------------------------------------------


def high_harm_basket(inputs: NeedInputs, *, settings: PrioritySettings) -> Basket:
    """The mandatory high-harm basket per borough, with whatever data exists for each item.

    Parameters
    ----------
    inputs
        Prepared data; dashboard measures come from ``inputs.ingest.measures``, records from
        ``inputs.ingest.ward_counts``.
    settings
        The basket definition (``config.priorities``).

    Returns
    -------
    Basket
        ``table``: one row per (borough, item): ``borough_code``, ``borough_name``, ``item``,
        ``source``, ``window`` (the months measured: the dashboard series may end before the crime
        data), ``available``, ``volume``, ``rate_per_1000``, ``london_rate_per_1000``,
        ``rate_ratio``, ``volume_prior``, ``change``, ``p_value``, ``direction``, ``note`` and
        ``sentence``. Items the data lacks have NaN figures, ``available`` False and a note saying
        so.
    """
    boroughs = _boroughs(inputs)
    counts = _rows(inputs.ingest.ward_counts, inputs.window, inputs, boroughs)
    made = [_basket_part(inputs, boroughs, counts, item, settings) for item in settings.basket]
    if not made:
        return Basket(
            pd.DataFrame(columns=["borough_code", "borough_name", "item", "sentence"]), []
        )
    parts = [part for part, _ in made]
    basket = pd.concat(parts, keys=range(len(parts)), names=["_order"]).reset_index()
    basket.insert(2, "borough_name", basket[s.BOROUGH_CODE].map(boroughs["name"]))
    basket = basket.sort_values(["borough_name", "_order"], kind="mergesort")
    basket = basket.drop(columns="_order").reset_index(drop=True)
    basket["sentence"] = _basket_sentences(basket, _than(inputs.window))
    notes = basket.loc[basket["note"] != "", ["item", "note"]].drop_duplicates()
    items = notes.groupby("note", sort=False)["item"].agg(", ".join)  # one line per note
    no_trend = {why for _, why in made} - {""}
    return Basket(basket, (items + ": " + items.index).tolist() + sorted(no_trend))


def _basket_part(
    inputs: NeedInputs,
    boroughs: pd.DataFrame,
    counts: _Rows,
    item: BasketItem,
    p: PrioritySettings,
) -> tuple[pd.DataFrame, str]:
    """One item's rows, and why its trend is not available ("" when it is)."""
    window, note, source = inputs.window, item.note, "ward counts"
    if item.measure:
        source = "Met dashboard"
        frame = inputs.ingest.measures
        frame = frame[_matches(frame[s.MEASURE], item.measure)]
        span = _span(frame[s.MONTH])
        why = (
            f"not available in this data (data set {inputs.dataset} has no Met dashboard "
            f"series {item.measure!r})"
        )
        if span is None:
            return _unavailable(boroughs, item, source, why), ""
        if span[1] < window.end:
            window = f.Window.ending(span[1], months=len(window))
            note = _join(note, f"the dashboard series ends in {span[1]}")
        rows = _rows(frame, window, inputs, boroughs)
        mask = np.ones(len(rows.count), dtype=bool)
    elif item.records:
        rows = counts
        mask, why = _records_mask(rows, item)
        if mask is None:
            return _unavailable(boroughs, item, source, why), ""
    else:
        return _unavailable(boroughs, item, "none", note or "not available in this data"), ""
    part = _compare(_sum(rows, mask, len(boroughs)), boroughs, rows.trend, p)
    part.insert(0, "item", item.label)
    part.insert(1, "source", source)
    part.insert(2, "window", window.label)
    part.insert(3, "available", True)
    part["note"] = note
    return part, "" if rows.trend else _no_trend(rows, window)


def _records_mask(rows: _Rows, item: BasketItem) -> tuple[np.ndarray | None, str]:
    mask = np.zeros(len(rows.count), dtype=bool)
    for record in item.records:
        cat_part, sep, sub = record.partition("|")
        category = _category(cat_part)
        if not sep:
            mask |= (rows.frame[s.CATEGORY] == category).to_numpy()
        elif _is_split(rows, category):
            mask |= _subcategory_mask(rows, category, _norm(sub))
        else:
            return None, (
                f"not available in this data: {category!r} is not split into subcategories "
                f"here, so {item.label.lower()} cannot be isolated"
            )
    return mask, ""


def _unavailable(boroughs: pd.DataFrame, item: BasketItem, source: str, why: str):
    part = pd.DataFrame(index=boroughs.index)
    part["item"], part["source"], part["window"], part["available"] = item.label, source, "", False
    for col in ("volume", "rate_per_1000", "london_rate_per_1000", "rate_ratio", "volume_prior",
                "change", "p_value"):  # fmt: skip
        part[col] = np.nan
    part["direction"], part["note"] = NOT_AVAILABLE, why
    return part


def _basket_sentences(basket: pd.DataFrame, than: str) -> pd.Series:
    ok = basket["available"].to_numpy(dtype=bool)
    volume = basket["volume"].map("{:,.0f}".format)
    rate = _rate_phrase(basket["rate_ratio"], basket["volume"])
    pct = (basket["change"].abs() * 100).round().map("{:.0f}".format)
    direction = basket["direction"]
    trend = np.select(
        [direction == "up", direction == "down", direction == NOT_AVAILABLE],
        ["up " + pct + " % " + than, "down " + pct + " % " + than, "trend not available"],
        f"no clear change {than}",
    )
    note = np.where(basket["note"] == "", "", " (" + basket["note"] + ")")
    have = (
        basket["item"]
        + ": "
        + volume
        + " offences in "
        + basket["window"]
        + ", "
        + rate
        + ", "
        + trend
    )
    lack = basket["item"] + ": " + basket["note"]
    return pd.Series(np.where(ok, have + note + ".", lack + "."), index=basket.index)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# --- one borough -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoroughPriorities:
    """One borough's evidence, proposed local priorities and high-harm basket."""

    borough_code: str
    borough_name: str
    window: f.Window
    evidence: pd.DataFrame
    proposed: pd.DataFrame
    basket: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def borough_priorities(
    inputs: NeedInputs,
    borough: str,
    *,
    config: PlannerConfig,
    evidence: Evidence | None = None,
    basket: Basket | None = None,
) -> BoroughPriorities:
    """The evidence, the proposed priorities and the basket of one borough.

    Parameters
    ----------
    inputs
        Prepared data (:func:`planner.model.need.prepare_need`).
    borough
        A borough name or E09 code, any case; ``config/boroughs.toml`` aliases work too
        ("Richmond", "Kensington & Chelsea", "City of Westminster").
    config
        The priority settings (``config.priorities``) and the borough aliases.
    evidence, basket
        :func:`borough_evidence` and :func:`high_harm_basket` of *inputs*, when a caller showing
        many boroughs has computed them once; default computed here.

    Returns
    -------
    BoroughPriorities

    Raises
    ------
    DataError
        No borough of the data matches; the message lists the close matches.
    """
    settings = config.priorities
    boroughs = _boroughs(inputs)
    code = match_borough(borough, boroughs["name"], config, inputs.dataset)
    if evidence is None:
        evidence = borough_evidence(inputs, settings=settings)
    if basket is None:
        basket = high_harm_basket(inputs, settings=settings)
    table = evidence.table
    mine = table[table[s.BOROUGH_CODE] == code].reset_index(drop=True)
    notes = list(evidence.notes)
    notes += [n for n in basket.notes if n not in notes]
    return BoroughPriorities(
        borough_code=code,
        borough_name=str(boroughs.loc[code, "name"]),
        window=inputs.window,
        evidence=mine,
        proposed=propose_priorities(mine, n=settings.n_priorities),
        basket=basket.table[basket.table[s.BOROUGH_CODE] == code].reset_index(drop=True),
        notes=notes,
    )


def match_borough(query: str, boroughs: pd.Series, config: PlannerConfig, dataset: str) -> str:
    """The E09 code of borough *query* (a name or code, any case, or an alias) in *boroughs*.

    Parameters
    ----------
    query
        What a person typed: "camden", "E09000007", "Richmond", "Kensington & Chelsea".
    boroughs
        Borough name by code: the boroughs of the data set.
    config
        Its borough names and aliases (``config/boroughs.toml``).
    dataset
        The data set's name, for the message.

    Raises
    ------
    DataError
        No borough matches: the message says whether it is a borough the data set does not
        score, or lists the close matches.
    """
    key = _norm(query)
    names = {_norm(name): code for code, name in boroughs.items()}
    codes = {_norm(code): code for code in boroughs.index}
    aliases = {_norm(a): _norm(name) for a, name in config.borough_aliases.items()}
    found = codes.get(key) or names.get(key) or names.get(aliases.get(key, ""))
    if found:
        return found
    known = {_norm(n): (c, n) for c, n in config.borough_names.items()}
    known |= {_norm(c): (c, n) for c, n in config.borough_names.items()}
    hit = known.get(key) or known.get(aliases.get(key, ""))
    if hit:
        raise DataError(
            f"{hit[1]} ({hit[0]}) is not among the {len(boroughs)} boroughs of data set "
            f"{dataset!r} (not scored: see the data set's notes); choose one of "
            f"{', '.join(boroughs)}"
        )
    spelled = {_norm(n): n for n in boroughs}
    spelled |= {a: spelled[n] for a, n in aliases.items() if n in spelled}
    close = [n for n in spelled if key and key in n]  # "kensington", "tower"
    close += difflib.get_close_matches(key, list(spelled), n=3, cutoff=0.6)
    names = list(dict.fromkeys(spelled[c] for c in close))[:3]
    hint = f"did you mean {' or '.join(names)}? " if names else ""
    raise DataError(
        f"no borough called {query!r} in data set {dataset!r}; {hint}Use a borough name or E09 "
        f"code, one of {', '.join(boroughs)}"
    )

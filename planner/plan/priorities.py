"""Borough local priorities: the two proposals and one borough's view.

The Police and Crime Plan for London asks each of the 32 boroughs to agree two local priorities
with its council leader, "based on the latest local crime data", beside the mandatory London-wide
priorities (ASB and a high-harm basket). The evidence for each candidate crime is
:func:`planner.plan.evidence.borough_evidence`; :func:`propose_priorities` takes up to
``n_priorities`` of each borough's qualifying candidates (at least ``min_harm_share`` of the
borough's harm), fewer where fewer qualify, says why, and flags a near-tie between the last
proposal and the next qualifying candidate. The basket is
:func:`planner.plan.basket.high_harm_basket`.
:func:`borough_priorities` gathers one borough's evidence, proposals and basket, and
:func:`match_borough` finds the borough a person typed.

"London" is every borough of the scored wards (``NeedInputs.wards``): all 32 for the Met data,
the 25 covered boroughs for the 2016-17 police.uk extract.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import PlannerConfig, PrioritySettings, normalise_text
from planner.errors import DataError
from planner.ingest.sources.workplace import workplace_for
from planner.model.window import Window
from planner.plan.basket import Basket, high_harm_basket
from planner.plan.evidence import RESIDENTS_AND_WORKDAY, Evidence, borough_evidence
from planner.plan.measures import scored_boroughs

if TYPE_CHECKING:
    from planner.model.need import NeedInputs

__all__ = [
    "OUTCOME_COLUMNS",
    "PROPOSAL_COLUMNS",
    "BoroughPriorities",
    "Proposals",
    "borough_priorities",
    "match_borough",
    "propose_priorities",
]

_EVIDENCE_KEYS = (
    "borough_code", "borough_name", "candidate", "rank", "score", "qualifies", "harm_share",
    "harm_share_text", "rate_ratio", "footfall_rate_ratio", "scored_rate_ratio", "denominator",
    "sentence",
)  # fmt: skip

PROPOSAL_COLUMNS = (
    "borough_code", "borough_name", "rank", "candidate", "harm_share", "rate_ratio",
    "footfall_rate_ratio", "scored_rate_ratio", "denominator", "score", "next_candidate",
    "next_score", "margin", "near_tie", "why", "sentence",
)  # fmt: skip
"""The columns of :attr:`Proposals.table` (and :attr:`BoroughPriorities.proposed`), in order."""

OUTCOME_COLUMNS = (
    "borough_code", "borough_name", "n_candidates", "n_qualifying", "n_proposed", "shortfall",
    "near_tie", "near_tie_text",
)  # fmt: skip
"""The columns of :attr:`Proposals.boroughs`, in order."""

_ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}


def _norm(text: Any) -> str:
    return normalise_text(text)


# --- proposals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposals:
    """:func:`propose_priorities`: the proposals and one line per borough on how they came out.

    ``table``: one row per proposal, ordered by borough name and rank (:data:`PROPOSAL_COLUMNS`):

    - ``borough_code``, ``borough_name``; ``rank``: 1 to n among the proposals;
    - ``candidate``: the label (as measured: "Robbery (personal and business)" where the data
      cannot isolate personal robbery);
    - ``harm_share``: share of the borough's crime harm, 0-1;
    - ``rate_ratio``: the rate per resident over the London rate; ``footfall_rate_ratio``: per
      resident and workday population (central boroughs, else NaN); ``scored_rate_ratio``: the
      one the score uses; ``denominator``: "residents" or "residents and workday population";
    - ``score``: harm share x clipped rate ratio x trend factor (:mod:`planner.plan.evidence`);
    - ``next_candidate``, ``next_score``: the next qualifying candidate in rank order ("" and
      NaN when there is none); ``margin``: 1 - next_score / score, the lead as a share of the
      score (NaN without a next candidate);
    - ``near_tie``: the next candidate is not proposed and ``margin`` is under
      ``near_tie_margin``, so either is a defensible choice;
    - ``why``: the reason in words; ``sentence``: the evidence sentence.

    ``boroughs``: one row per borough of the evidence (:data:`OUTCOME_COLUMNS`):
    ``n_candidates``, ``n_qualifying``, ``n_proposed``, ``shortfall`` (why fewer than n are
    proposed, "" when n are), ``near_tie`` and ``near_tie_text`` ("" when there is none).
    """

    table: pd.DataFrame
    boroughs: pd.DataFrame


def propose_priorities(evidence: pd.DataFrame, *, settings: PrioritySettings) -> Proposals:
    """Up to ``n_priorities`` qualifying candidates of each borough, with why and near-ties.

    Parameters
    ----------
    evidence
        :func:`~planner.plan.evidence.borough_evidence` ``.table`` (all boroughs, or some).
    settings
        ``n_priorities``, ``min_harm_share`` (for the words) and ``near_tie_margin``.

    Returns
    -------
    Proposals
        Fewer than n proposals where fewer candidates qualify (``boroughs.shortfall`` says
        why). Ties in score were broken in :func:`~planner.plan.evidence.borough_evidence` by
        the order of ``config/priorities.toml``, so the result does not depend on row order.

    Raises
    ------
    DataError
        *evidence* lacks a column of :func:`~planner.plan.evidence.borough_evidence`.
    """
    missing = [c for c in _EVIDENCE_KEYS if c not in evidence]
    if missing:
        raise DataError(f"evidence lacks columns {missing}; pass the output of borough_evidence")
    n = settings.n_priorities
    ev = evidence.sort_values(["borough_name", "rank"], kind="mergesort").reset_index(drop=True)
    ok = ev[ev["qualifies"].astype(bool)].copy()
    group = ok.groupby(s.BOROUGH_CODE, sort=False)
    ok["_pos"] = group.cumcount()
    ok["next_candidate"] = group["candidate"].shift(-1).fillna("")
    ok["next_score"] = group["score"].shift(-1)
    score, after = ok["score"], ok["next_score"]
    lead = np.where(score > 0, 1.0 - after / score.where(score > 0), np.where(after == 0, 0, 1))
    ok["margin"] = np.where(after.isna(), np.nan, lead)
    boundary = (ok["_pos"] == n - 1) & after.notna()
    ok["near_tie"] = boundary & (ok["margin"] < settings.near_tie_margin)
    top = ok[ok["_pos"] < n].copy()
    top["rank"] = top["_pos"] + 1
    top["why"] = _why(top, n, settings)
    table = top[list(PROPOSAL_COLUMNS)].reset_index(drop=True)
    return Proposals(table, _outcomes(ev, table, n, settings))


def _why(top: pd.DataFrame, n: int, p: PrioritySettings) -> pd.Series:
    """Why each proposal is proposed, in words (vectorised over rows)."""
    if top.empty:
        return pd.Series([], index=top.index, dtype=object)
    ordinal = top["rank"].map(lambda r: _ORDINAL.get(int(r), f"number {int(r)}"))
    per = np.where(
        top["denominator"] == RESIDENTS_AND_WORKDAY, " counting residents and workers", ""
    )
    ratio = top["scored_rate_ratio"].map("{:.1f}".format)
    head = (
        "Proposed " + ordinal + ": " + top["harm_share_text"] + " of the borough's harm (minimum "
        f"{p.min_harm_share * 100:g} %) at " + ratio + f" times the {p.area} rate" + per
        + ", score " + top["score"].map("{:.3f}".format)
    )  # fmt: skip
    lead = top["margin"].map(_lead)
    nxt = top["next_candidate"] + " (" + top["next_score"].map("{:.3f}".format) + ")"
    ahead = "; ahead of " + nxt + " by " + lead
    tie = (
        "; a near tie with " + nxt + ", " + lead + " behind (under "
        f"{p.near_tie_margin * 100:g} %): either is a defensible " + ordinal + " priority"
    )
    tail = np.select(
        [top["next_candidate"] == "", top["near_tie"].astype(bool)],
        ["; no other candidate qualifies", tie],
        ahead,
    )
    return pd.Series(head + tail + ".", index=top.index)


def _outcomes(ev: pd.DataFrame, table: pd.DataFrame, n: int, p: PrioritySettings) -> pd.DataFrame:
    """One row per borough: how many qualify and are proposed, why fewer, the near-tie."""
    rows = []
    for code, mine in ev.groupby(s.BOROUGH_CODE, sort=False):
        proposed = table[table[s.BOROUGH_CODE] == code]
        qualifying = int(mine["qualifies"].astype(bool).sum())
        tie = proposed[proposed["near_tie"].astype(bool)]
        rows.append(
            {
                "borough_code": code,
                "borough_name": str(mine["borough_name"].iloc[0]),
                "n_candidates": len(mine),
                "n_qualifying": qualifying,
                "n_proposed": len(proposed),
                "shortfall": _shortfall(mine, len(proposed), n, p),
                "near_tie": bool(len(tie)),
                "near_tie_text": _tie_text(tie.iloc[0], p) if len(tie) else "",
            }
        )
    return pd.DataFrame(rows, columns=list(OUTCOME_COLUMNS))


def _shortfall(mine: pd.DataFrame, proposed: int, n: int, p: PrioritySettings) -> str:
    if proposed >= n:
        return ""
    minimum = f"{p.min_harm_share * 100:g} %"
    others = mine[~mine["qualifies"].astype(bool)]
    listed = ", ".join(f"{r.candidate} {r.harm_share_text}" for r in others.itertuples())
    if proposed == 0:
        head = (
            f"No local priority is proposed: no candidate carries at least {minimum} of the "
            "borough's crime harm, the minimum for a local priority"
        )
    else:
        chosen = ", ".join(mine.loc[mine["qualifies"].astype(bool), "candidate"])
        word = "priority is" if proposed == 1 else "priorities are"
        head = (
            f"Only {proposed} local {word} proposed, not {n}: only {chosen} carr"
            f"{'ies' if proposed == 1 else 'y'} at least {minimum} of the borough's crime harm, "
            "the minimum for a local priority"
        )
    tail = f" (the others: {listed})" if listed else ""
    return (
        head + tail + ". The borough may still agree priorities of its own choosing; the "
        "evidence for every candidate is shown."
    )


def _lead(margin: float) -> str:
    """A margin in words: "12 %", "under 1 %"."""
    if not np.isfinite(margin):
        return "n/a"
    return "under 1 %" if 0 < margin < 0.005 else f"{margin * 100:.0f} %"


def _tie_text(row: Any, p: PrioritySettings) -> str:
    ordinal = _ORDINAL.get(int(row["rank"]), f"number {int(row['rank'])}")
    return (
        f"Near tie for the {ordinal} priority: {row['candidate']} (score {row['score']:.3f}) "
        f"and {row['next_candidate']} (score {row['next_score']:.3f}) are "
        f"{_lead(row['margin'])} apart, under the {p.near_tie_margin * 100:g} % margin: both are "
        "defensible, and the choice is the borough's."
    )


# --- one borough -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoroughPriorities:
    """One borough's evidence, proposed local priorities and high-harm basket.

    ``evidence``: the borough's rows of :func:`~planner.plan.evidence.borough_evidence`, with a
    ``proposed`` column; ``proposed``: its rows of :attr:`Proposals.table`
    (:data:`PROPOSAL_COLUMNS`); ``shortfall``: why fewer than n are proposed ("" when n are);
    ``near_tie``: the near-tie in words ("" when none); ``left_out``: special wards left out
    of the evidence, each "<name> left out: <reason>"; ``notes``: everything else worth saying.
    """

    borough_code: str
    borough_name: str
    window: Window
    evidence: pd.DataFrame
    proposed: pd.DataFrame
    basket: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    shortfall: str = ""
    near_tie: str = ""
    left_out: list[str] = field(default_factory=list)


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
        The priority settings (``config.priorities``), the special wards
        (``config.allocation.special``), the workplace file and the borough aliases.
    evidence, basket
        :func:`~planner.plan.evidence.borough_evidence` and
        :func:`~planner.plan.basket.high_harm_basket` of *inputs*, when a caller showing many
        boroughs has computed them once; default computed here from *config*.

    Returns
    -------
    BoroughPriorities

    Raises
    ------
    DataError
        No borough of the data matches (the message lists the close matches), or the data do
        not cover the window (:func:`~planner.plan.evidence.check_window`).
    """
    settings = config.priorities
    boroughs = scored_boroughs(inputs)
    code = match_borough(borough, boroughs["name"], config, inputs.dataset)
    special = config.allocation.special
    if evidence is None:
        evidence = borough_evidence(
            inputs, settings=settings, special=special, workplace=workplace_for(config)
        )
    if basket is None:
        basket = high_harm_basket(inputs, settings=settings, special=special)
    table = evidence.table
    mine = table[table[s.BOROUGH_CODE] == code].reset_index(drop=True)
    found = propose_priorities(mine, settings=settings)
    outcome = found.boroughs.set_index(s.BOROUGH_CODE)
    left_out = list(evidence.borough_notes.get(code, []))
    notes = left_out + list(evidence.notes) + _missing_data(inputs, code)
    notes += [n for n in basket.notes if n not in notes]
    mine["proposed"] = mine["candidate"].isin(found.table["candidate"])
    return BoroughPriorities(
        borough_code=code,
        borough_name=str(boroughs.loc[code, "name"]),
        window=inputs.window,
        evidence=mine,
        proposed=found.table,
        basket=basket.table[basket.table[s.BOROUGH_CODE] == code].reset_index(drop=True),
        notes=notes,
        shortfall=str(outcome.loc[code, "shortfall"]) if code in outcome.index else "",
        near_tie=str(outcome.loc[code, "near_tie_text"]) if code in outcome.index else "",
        left_out=left_out,
    )


def _missing_data(inputs: NeedInputs, code: str) -> list[str]:
    """A note when some of the borough's ward-months in the window have no crime data.

    Missing months are not zeros: the need index measures each ward over the months present
    (``data_share``); the evidence's volumes here count the months with data only.
    """
    feats = inputs.features.get(inputs.harm.index)
    if feats is None or "data_share" not in feats:
        return []
    mine = inputs.wards.index[inputs.wards[s.BOROUGH_CODE] == code]
    share = feats["data_share"].reindex(mine).dropna()
    if share.empty or bool((share >= 1.0).all()):
        return []
    return [
        f"{1.0 - float(share.mean()):.1%} of this borough's ward-months in the window "
        f"{inputs.window.label} have no crime data (missing, not zero; {int((share < 1).sum())} "
        "wards): the need index uses the months present, and volumes here count those months "
        "only"
    ]


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
        return str(found)
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
    near = list(dict.fromkeys(spelled[c] for c in close))[:3]
    hint = f"did you mean {' or '.join(near)}? " if near else ""
    raise DataError(
        f"no borough called {query!r} in data set {dataset!r}; {hint}Use a borough name or E09 "
        f"code, one of {', '.join(boroughs)}"
    )

"""Borough local priorities: the two proposals and one borough's view.

The Police and Crime Plan for London asks each of the 32 boroughs to agree two local priorities
with its council leader, "based on the latest local crime data", beside the mandatory London-wide
priorities (ASB and a high-harm basket). The evidence for each candidate crime is
:func:`planner.plan.evidence.borough_evidence`; :func:`propose_priorities` takes the top two of
each borough. The basket is :func:`planner.plan.basket.high_harm_basket`.
:func:`borough_priorities` gathers one borough's evidence, proposals and basket, and
:func:`match_borough` finds the borough a person typed.

"London" is every borough of the scored wards (``NeedInputs.wards``): all 32 for the Met data,
the 25 covered boroughs for the 2016-17 police.uk extract.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from planner import schema as s
from planner.config import PlannerConfig, normalise_text
from planner.errors import ConfigError, DataError
from planner.model.window import Window
from planner.plan.basket import Basket, high_harm_basket
from planner.plan.evidence import Evidence, borough_evidence
from planner.plan.measures import scored_boroughs

if TYPE_CHECKING:
    from planner.model.need import NeedInputs

__all__ = [
    "BoroughPriorities",
    "borough_priorities",
    "match_borough",
    "propose_priorities",
]

_EVIDENCE_KEYS = ("borough_code", "borough_name", "candidate", "rank", "score", "sentence")


def _norm(text: Any) -> str:
    return normalise_text(text)


# --- proposals ---------------------------------------------------------------------------------


def propose_priorities(evidence: pd.DataFrame, *, n: int = 2) -> pd.DataFrame:
    """The top *n* candidates of each borough, with their evidence sentences.

    Parameters
    ----------
    evidence
        :func:`~planner.plan.evidence.borough_evidence` (all boroughs, or some).
    n
        Priorities per borough (the Police and Crime Plan asks for two).

    Returns
    -------
    pandas.DataFrame
        ``borough_code``, ``borough_name``, ``rank``, ``candidate``, ``score``, ``sentence``;
        ordered by borough name and rank. Ties in score were broken in
        :func:`~planner.plan.evidence.borough_evidence` by the order of
        ``config/priorities.toml``, so the result does not depend on row order.

    Raises
    ------
    ConfigError
        *n* is below 1.
    DataError
        *evidence* lacks a column of :func:`~planner.plan.evidence.borough_evidence`.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a whole number >= 1, found {n!r}")
    missing = [c for c in _EVIDENCE_KEYS if c not in evidence]
    if missing:
        raise DataError(f"evidence lacks columns {missing}; pass the output of borough_evidence")
    top = evidence.loc[evidence["rank"] <= n, list(_EVIDENCE_KEYS)]
    top = top.sort_values(["borough_name", "rank"], kind="mergesort").reset_index(drop=True)
    return top[["borough_code", "borough_name", "rank", "candidate", "score", "sentence"]]


# --- one borough -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoroughPriorities:
    """One borough's evidence, proposed local priorities and high-harm basket."""

    borough_code: str
    borough_name: str
    window: Window
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
        :func:`~planner.plan.evidence.borough_evidence` and
        :func:`~planner.plan.basket.high_harm_basket` of *inputs*, when a caller showing many
        boroughs has computed them once; default computed here.

    Returns
    -------
    BoroughPriorities

    Raises
    ------
    DataError
        No borough of the data matches; the message lists the close matches.
    """
    settings = config.priorities
    boroughs = scored_boroughs(inputs)
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

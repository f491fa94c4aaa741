"""How an allocation spreads its extra officers, and the allocation modes compared.

:func:`distribution` summarises one allocation the way a commander reads it: how many of the
extras go to the 10 wards in most need and to the half in least need, and how many wards get
0, 1, 2 or 3+ extras. :data:`MODES` are the allocation policies ``planner plan --compare``
sets side by side at several pool sizes (README "Results").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from planner import schema as s

__all__ = ["COMPARED_POOLS", "MODES", "Mode", "distribution"]

COMPARED_POOLS = (300, 600, 1258)
"""Pools compared: half the default (600), the default, and a large pool (1,258: nearly two
extras per scored ward), where the policies differ most."""


@dataclass(frozen=True)
class Mode:
    """An allocation policy as a set of scenario changes (:meth:`Scenario.changed` keys)."""

    name: str
    description: str
    changes: dict[str, Any]


MODES = (
    Mode(
        "top_up",
        "top-up: extras by need on top of the baseline, no cap",
        {"policy": "top_up", "need_exponent": 1.0, "no_cap": True},
    ),
    Mode(
        "whole_team",
        "whole team: the baseline counted as officers held, no cap",
        {"policy": "whole_team", "need_exponent": 1.0, "no_cap": True},
    ),
    Mode(
        "whole_team_cap",
        "whole team, at most 8 extras per ward (the default)",
        {"policy": "whole_team", "need_exponent": 1.0, "max_extra_per_ward": 8},
    ),
    Mode(
        "whole_team_sqrt",
        "whole team on the square root of need (diminishing returns), at most 8 extras",
        {"policy": "whole_team", "need_exponent": 0.5, "max_extra_per_ward": 8},
    ),
)
"""The modes ``planner plan --compare`` runs (each on the configured floor and method)."""


def distribution(wards: pd.DataFrame) -> dict[str, int]:
    """Where the extras of an allocation's ward table go.

    ``top10``: extras of the 10 wards with the most need; ``bottom_half``: of the half with
    the least (eligible wards, ties by ward code); ``wards_0``, ``wards_1``, ``wards_2``,
    ``wards_3_plus``: wards (eligible) getting that many; ``max``: the most any ward gets.
    """
    eligible = wards[wards[s.ELIGIBLE]] if s.ELIGIBLE in wards else wards
    ordered = eligible.assign(_code=eligible.index.astype(str)).sort_values(
        [s.NEED, "_code"], ascending=[False, True]
    )
    extra = ordered[s.EXTRA].astype(int)
    half = len(ordered) // 2
    counts = extra.clip(upper=3).value_counts()
    return {
        "wards": len(ordered),
        "top10": int(extra.iloc[:10].sum()),
        "bottom_half": int(extra.iloc[len(ordered) - half :].sum()),
        "wards_0": int(counts.get(0, 0)),
        "wards_1": int(counts.get(1, 0)),
        "wards_2": int(counts.get(2, 0)),
        "wards_3_plus": int(counts.get(3, 0)),
        "max": int(extra.max()) if len(extra) else 0,
    }

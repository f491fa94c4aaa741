"""Checks of ingested data against official figures.

:func:`join_agreement` compares the points of a police.uk dataset, joined to wards by the
planner, with the Met's own ward counts of the same category and months: the reference check
of the spatial join (the README's figure is made from its output by :mod:`planner.docs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.ingest.build import IngestResult

__all__ = ["join_agreement"]


def join_agreement(
    points: IngestResult, reference: IngestResult, *, category: str, months: Sequence[str]
) -> dict[str, Any]:
    """How well *points*' ward counts of *category* agree with *reference*'s, month by month.

    Parameters
    ----------
    points
        A dataset of point incidents joined to wards (e.g. ``burglary-check``).
    reference
        A dataset of ward-level counts on the same wards (e.g. ``met-2022``).
    category
        The police.uk category compared.
    months
        The months both cover (``YYYY-MM``).

    Returns
    -------
    dict
        ``pearson_r`` over the wards, ``points`` and ``reference`` totals, their ``ratio``,
        ``wards``, the months, and from *points*' quality report the records assigned to the
        nearest ward, rejected outside every ward and without coordinates (whole dataset).
    """

    def by_ward(result: IngestResult) -> pd.Series:
        counts = result.ward_counts.astype({s.MONTH: str, s.WARD_CODE: str, s.CATEGORY: str})
        mine = counts[counts[s.MONTH].isin(list(months)) & (counts[s.CATEGORY] == category)]
        return mine.groupby(s.WARD_CODE)[s.COUNT].sum()

    both = pd.concat(
        [by_ward(points).rename("points"), by_ward(reference).rename("reference")], axis=1
    ).fillna(0)
    totals = _totals(points.quality)
    return {
        "points_dataset": points.dataset,
        "reference_dataset": reference.dataset,
        "category": category,
        "months": [min(months), max(months)],
        "wards": len(both),
        "pearson_r": float(np.corrcoef(both["points"], both["reference"])[0, 1]),
        "points": int(both["points"].sum()),
        "reference": int(both["reference"].sum()),
        "ratio": float(both["points"].sum() / both["reference"].sum()),
        "nearest_ward": totals.get("counted_nearest", 0),
        "outside_every_ward": totals.get("rejected_outside_every_ward", 0),
        "no_coordinates": totals.get("rejected_no_coordinates", 0),
    }


def _totals(quality: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for src in quality.get("sources", []):
        for key, value in src.get("totals", {}).items():
            out[key] = out.get(key, 0) + int(value)
    return out

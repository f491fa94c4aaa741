"""The allocation against outside yardsticks: harm, residents, ASB, deprivation, confidence.

:mod:`planner.plan.equity` measures an allocation against the need index it was made from
(inversions, rounding). That cannot show whether the index itself is fair, so this module
sets each borough's and each IMD 2019 decile's share of the extra officers beside its share
of things the allocation was not made from:

- crime harm in the window (the harm index of the scenario);
- residents (Census 2021, the rates' denominator);
- anti-social behaviour incidents, where the data has them: a borough without ASB coverage
  reads "no data" (NaN), never zero;
- for boroughs, the Public Attitude Survey's confidence measures against the MPS figure
  (:func:`confidence_panel`), with the equality gap of ``config/yardsticks.toml``.

An IMD decile's share of a ward quantity splits each ward's amount by the share of its
residents living in small areas of that decile (:mod:`planner.ingest.sources.deprivation`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import ConfidenceSettings
from planner.ingest.sources.confidence import latest_survey

__all__ = ["CONFIDENCE_STATUS", "Yardsticks", "confidence_panel", "yardsticks"]

CONFIDENCE_STATUS = ("below London", "close to London", "above London")
"""How a borough's PAS measure stands against the MPS figure, by the equality gap."""

_SHARES = ("extra", "dwo", "harm", "residents", "asb")


@dataclass(frozen=True)
class Yardsticks:
    """Shares of the extra officers beside outside yardsticks, by borough and by IMD decile.

    Attributes
    ----------
    boroughs
        Indexed by ``borough_code``: ``borough_name``, ``extra``, then the shares
        ``share_extra``, ``share_dwo`` (all Dedicated Ward Officers, baseline included),
        ``share_harm``, ``share_residents``, ``share_asb`` (NaN: no ASB data), and the gaps
        ``extra_vs_harm``, ``extra_vs_residents``, ``extra_vs_asb`` (share of extras minus the
        yardstick's share, in proportions), and with PAS data ``confidence`` (the borough's
        latest figure on the headline measure), ``confidence_mps`` and
        ``confidence_status``.
    deciles
        Indexed by ``imd_decile`` (1 = most deprived): ``residents``, ``extra`` (officers
        attributed by residents), the same shares and gaps; None where the wards cannot be
        split by decile (``notes`` says why).
    notes
        What is missing and why, in words.
    """

    boroughs: pd.DataFrame
    deciles: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, float | str | None]:
        """The headline numbers: largest borough gaps and the most deprived fifth's shares."""
        b = self.boroughs
        out: dict[str, float | str | None] = {}
        for gap in ("extra_vs_harm", "extra_vs_residents", "extra_vs_asb"):
            values = b[gap].dropna()
            out[f"max_abs_borough_{gap}"] = float(values.abs().max()) if len(values) else None
            out[f"borough_{gap}_largest"] = (
                str(b.loc[values.abs().idxmax(), s.BOROUGH_NAME]) if len(values) else None
            )
        if self.deciles is not None:
            low = self.deciles.loc[[1, 2]]
            for name in ("share_extra", "share_residents", "share_harm"):
                out[f"most_deprived_fifth_{name}"] = float(low[name].sum())
        return out


def yardsticks(
    wards: pd.DataFrame,
    *,
    pool: int,
    harm: pd.Series,
    residents: pd.Series,
    asb: pd.Series | None,
    asb_boroughs: frozenset[str] | None = None,
    deciles: pd.DataFrame | None,
    deciles_note: str = "",
    confidence: pd.DataFrame | None = None,
    confidence_note: str = "",
    settings: ConfidenceSettings | None = None,
    as_of: pd.Timestamp | None = None,
) -> Yardsticks:
    """Shares of the extra officers beside harm, residents, ASB, deprivation and confidence.

    Parameters
    ----------
    wards
        The allocation's ward table: ``borough_code``, ``borough_name``, ``extra``,
        ``total_dwo`` (and ``eligible``), indexed by ``ward_code``.
    pool
        The extra officers allocated.
    harm, residents
        Per ward, by ward code.
    asb
        ASB incidents per ward, or None when the data has none.
    asb_boroughs
        The boroughs the ASB data covers (None: all of those in *asb*); wards elsewhere
        read "no data".
    deciles
        Residents per ward (rows) and IMD decile (columns 1-10), or None.
    deciles_note, confidence_note
        Why *deciles* or *confidence* is None.
    confidence
        The PAS table (:class:`planner.ingest.sources.confidence.Confidence` ``table``).
    settings
        ``config.yardsticks.confidence`` (the headline measure and the equality gap).
    as_of
        Use the latest survey at or before this date (default: the latest in the file).
    """
    notes: list[str] = []
    codes = wards.index
    frame = pd.DataFrame(
        {
            "extra": wards[s.EXTRA].astype(float),
            "dwo": wards[s.TOTAL_DWO].astype(float),
            "harm": harm.reindex(codes).astype(float),
            "residents": residents.reindex(codes).astype(float),
        }
    )
    if asb is not None:
        covered = (
            wards[s.BOROUGH_CODE].isin(asb_boroughs)
            if asb_boroughs is not None
            else pd.Series(True, index=codes)
        )
        frame["asb"] = asb.reindex(codes).astype(float).where(covered)
        if asb_boroughs is not None and not bool(np.all(covered)):
            missing = sorted(set(wards.loc[~covered, s.BOROUGH_NAME]))
            notes.append(f"ASB: no data for {', '.join(missing)} (the source does not cover them)")
    else:
        frame["asb"] = np.nan
        notes.append("ASB: no data (this dataset has no anti-social behaviour records)")
    group = wards[s.BOROUGH_CODE]
    by_borough = frame.groupby(group, sort=True).sum(min_count=1)
    # a borough with some wards lacking ASB coverage has no honest ASB total
    asb_gaps = frame["asb"].isna().groupby(group).any()
    by_borough.loc[asb_gaps[asb_gaps].index, "asb"] = np.nan
    boroughs = _shares(by_borough, pool)
    names = wards.groupby(s.BOROUGH_CODE)[s.BOROUGH_NAME].first()
    boroughs.insert(0, s.BOROUGH_NAME, names.reindex(boroughs.index))
    boroughs.index.name = s.BOROUGH_CODE
    if confidence is not None and settings is not None:
        headline = latest_survey(confidence, settings.low_confidence_measure, as_of=as_of)
        boroughs["confidence"] = headline["proportion"].reindex(boroughs.index)
        boroughs["confidence_mps"] = headline["mps"].reindex(boroughs.index)
        boroughs["confidence_status"] = [
            _status(p, m, settings.equality_gap)
            for p, m in zip(boroughs["confidence"], boroughs["confidence_mps"], strict=True)
        ]
    else:
        notes.append(f"public confidence: {confidence_note or 'no PAS data'}")
    table = None
    if deciles is not None:
        r = deciles.reindex(codes).fillna(0.0)
        weight = r.div(r.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
        by_decile = pd.DataFrame(
            {
                name: (weight.mul(frame[name], axis=0)).sum(min_count=1)
                for name in ("extra", "dwo", "harm", "asb")
            }
        )
        if frame["asb"].isna().any():
            by_decile["asb"] = np.nan
        by_decile["residents"] = r.sum()
        table = _shares(by_decile[list(_SHARES)], pool)
        table.index.name = "imd_decile"
    else:
        notes.append(f"deprivation: {deciles_note or 'no IMD data'}")
    return Yardsticks(boroughs=boroughs, deciles=table, notes=notes)


def _shares(totals: pd.DataFrame, pool: int) -> pd.DataFrame:
    out = totals.copy()
    for name in _SHARES:
        column = totals[name]
        total = column.sum(min_count=1)
        denominator = pool if name == "extra" else total
        share = column / denominator if denominator and not pd.isna(denominator) else np.nan
        out[f"share_{name}"] = share
    for name in ("harm", "residents", "asb"):
        out[f"extra_vs_{name}"] = out["share_extra"] - out[f"share_{name}"]
    return out


def _status(value: float, mps: float, gap: float) -> str:
    if value is None or mps is None or math.isnan(value) or math.isnan(mps):
        return "no data"
    if value < mps - gap:
        return CONFIDENCE_STATUS[0]
    if value > mps + gap:
        return CONFIDENCE_STATUS[2]
    return CONFIDENCE_STATUS[1]


def confidence_panel(
    confidence: pd.DataFrame,
    borough_code: str,
    settings: ConfidenceSettings,
    *,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """A borough's latest PAS measures against the MPS figure, with their trend.

    One row per measure of ``settings.measures`` (in that order): ``measure``, ``date`` (the
    survey quarter's end), ``borough`` and ``mps`` (proportions), ``gap`` (borough minus
    MPS), ``status`` (:data:`CONFIDENCE_STATUS` by the equality gap, or "no data"),
    ``previous_date``, ``borough_change`` and ``mps_change`` (against the quarter
    ``trend_quarters`` before; NaN where the survey has no such quarter).
    """
    rows: list[dict[str, object]] = []
    mine = confidence[confidence[s.BOROUGH_CODE] == borough_code]
    for measure in settings.measures:
        series = mine[mine["measure"] == measure].sort_values("date")
        if as_of is not None and (series["date"] <= as_of).any():
            series = series[series["date"] <= as_of]
        if series.empty:
            rows.append({"measure": measure, "status": "no data"})
            continue
        last = series.iloc[-1]
        target = last["date"] - pd.DateOffset(months=3 * settings.trend_quarters)
        earlier = series[series["date"] <= target + pd.Timedelta(days=3)]
        before = earlier.iloc[-1] if len(earlier) else None
        rows.append(
            {
                "measure": measure,
                "date": last["date"],
                "borough": float(last["proportion"]),
                "mps": float(last["mps"]),
                "gap": float(last["proportion"] - last["mps"]),
                "status": _status(last["proportion"], last["mps"], settings.equality_gap),
                "previous_date": before["date"] if before is not None else pd.NaT,
                "borough_change": (
                    float(last["proportion"] - before["proportion"])
                    if before is not None
                    else np.nan
                ),
                "mps_change": float(last["mps"] - before["mps"]) if before is not None else np.nan,
            }
        )
    columns = [
        "measure", "date", "borough", "mps", "gap", "status", "previous_date",
        "borough_change", "mps_change",
    ]  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=columns)

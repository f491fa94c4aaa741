"""The ward need index: a transparent weighted sum of normalised components.

Components (raw values per ward, from :mod:`planner.model.features` and the forecast):

``harm``      crime harm in the window (days of custody, CCHI by default)
``asb``       anti-social behaviour incidents in the window (absent when the data has none)
``forecast``  forecast harm over the next 12 months (absent unless the model beat both
              baselines in the backtest)
``trend``     a clear rise in harm against the previous window, ``log((H1 + 1) / (H0 + 1))``
              where the weighted-Poisson test says so after the false-discovery correction
              across wards (:mod:`planner.model.trend`), 0 otherwise
``rate``      harm per 1,000 residents

Each component is divided by its London scale (the ``scale_quantile`` of that component
across the scored wards; 1.0 means "as high as the ward at the 95th percentile"), capped at
``component_cap`` (3.0: no ward counts for more than three times the 95th-percentile ward on
any component), then multiplied by its weight. The score is the sum of those contributions, so the
contributions add up to the score exactly and explain it. Absent components drop out and
the remaining weights are rescaled to sum to 1.

A missing value is "no data", never 0: a ward without a value for a component (ASB in a
borough whose ASB was not published, a rate where the population is unknown) is scored on
the components it has, their weights rescaled to sum to 1 for that ward, so the gap neither
lowers its score nor raises it. A component no ward has a value for is absent, and its
weight is shared among the others. Both are said in the notes, and ``missing components``
names them per ward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import COMPONENTS, NeedSettings
from planner.errors import ConfigError, DataError

__all__ = [
    "COMPONENTS",
    "NeedSettings",
    "Scores",
    "rank_wards",
    "score_wards",
    "sensitivity",
]

NEED_SCORE, RANK_LONDON, RANK_BOROUGH = s.NEED_SCORE, s.RANK_LONDON, s.RANK_BOROUGH
MISSING_COMPONENTS = s.MISSING_COMPONENTS


@dataclass(frozen=True)
class Scores:
    """:func:`score_wards`: the per-ward ``table`` and how it was made.

    ``weights``: the weights used (rescaled over the components present with a weight above
    0); ``scales``: each component's London scale; ``absent``: components the data cannot
    provide (a component with weight 0 is off, not absent); ``notes``: what was done with
    missing values.
    """

    table: pd.DataFrame
    weights: dict[str, float]
    scales: dict[str, float]
    absent: list[str]
    notes: list[str]


def score_wards(
    components: pd.DataFrame,
    boroughs: pd.Series,
    settings: NeedSettings,
) -> Scores:
    """Combine raw components into the need score, with contributions and ranks.

    Parameters
    ----------
    components
        Raw component values, indexed by ward_code; columns among :data:`COMPONENTS`.
        A missing column, or one without any value, is an absent component. NaN is "no
        data" (e.g. a rate where the population is unknown): that ward is scored on its
        other components, and the notes say how many wards.
    boroughs
        Borough code per ward (same index).
    settings
        Weights and the scale quantile.

    Returns
    -------
    Scores
        ``table`` indexed like *components*: ``need_score``, ``rank_london``,
        ``rank_borough``, ``contribution: <c>`` (0 where the ward has no value),
        ``normalised: <c>`` (capped at ``component_cap``; NaN where no value) and
        ``capped: <c>`` (True where the cap bit) per present component, ``missing
        components`` and ``borough_code``; with the weights used, scales, absent components
        and notes.

    Raises
    ------
    DataError
        Negative component values, or wards without a borough.
    """
    empty = [c for c in COMPONENTS if c in components.columns and components[c].isna().all()]
    components = components.drop(columns=empty)
    present, weights = _present_weights(components, settings)
    values = components[present].astype(float)
    if (values < 0).any().any():
        bad = values.columns[(values < 0).any()].tolist()
        raise DataError(f"need components must be >= 0; negative values in {bad}")
    notes = _missing_notes(values, empty, settings)
    scales = {c: _scale(values[c].dropna(), settings.scale_quantile) for c in present}
    out = pd.DataFrame(index=components.index)
    out[s.BOROUGH_CODE] = boroughs.reindex(components.index)
    if out[s.BOROUGH_CODE].isna().any():
        missing = out.index[out[s.BOROUGH_CODE].isna()].tolist()[:5]
        raise DataError(f"wards without a borough code: {missing}")
    raw = pd.DataFrame({c: values[c] / scales[c] for c in present}, index=out.index)
    normalised = raw.clip(upper=settings.component_cap)
    ward_weights = _ward_weights(normalised, weights)
    contrib = pd.DataFrame(
        {f"contribution: {c}": (ward_weights[c] * normalised[c]).fillna(0.0) for c in present},
        index=out.index,
    )
    for c in present:
        out[f"normalised: {c}"] = normalised[c]
        out[f"capped: {c}"] = raw[c] > settings.component_cap
    out = pd.concat([out, contrib], axis=1)
    out[NEED_SCORE] = contrib.sum(axis=1)
    gaps = normalised.isna().to_numpy()
    out[MISSING_COMPONENTS] = [
        ", ".join(c for c, gap in zip(present, row, strict=True) if gap) for row in gaps
    ]
    out[RANK_LONDON], out[RANK_BOROUGH] = rank_wards(out[NEED_SCORE], out[s.BOROUGH_CODE])
    # weight 0 is "off", not absent; a component with no value anywhere is absent
    absent = [c for c in COMPONENTS if c not in components.columns or c in empty]
    return Scores(out, weights, scales, absent, notes)


def rank_wards(score: pd.Series, boroughs: pd.Series) -> tuple[pd.Series, pd.Series]:
    """London and borough ranks (1 = most need); ties go to the lower ward code."""
    frame = pd.DataFrame(
        {"score": score.to_numpy(), "borough": boroughs.to_numpy()}, index=score.index
    )
    frame["code"] = frame.index.astype(str)
    ordered = frame.sort_values(["score", "code"], ascending=[False, True])
    london = pd.Series(np.arange(1, len(ordered) + 1), index=ordered.index)
    borough = ordered.groupby("borough", sort=False).cumcount() + 1
    return london.reindex(score.index), borough.reindex(score.index)


def sensitivity(
    components: pd.DataFrame,
    boroughs: pd.Series,
    settings: NeedSettings,
    *,
    alternative: pd.DataFrame | None = None,
    alternative_name: str = "css",
) -> tuple[dict[str, Any], pd.DataFrame]:
    """How stable is the ranking? Harm index swap and random weight perturbations.

    Parameters
    ----------
    components
        Raw components under the chosen harm index.
    boroughs
        Borough code per ward.
    settings
        Includes ``sensitivity`` (draws, +/- perturbation, top_n, unstable_margin, seed).
    alternative
        Components under the alternative harm index (e.g. ONS CSS); compared if given.

    Returns
    -------
    summary, per_ward
        ``summary``: Spearman correlations and top-N overlaps; ``per_ward``: base rank,
        rank under the alternative index, min/max/5th/95th percentile rank over the draws,
        the largest move, and ``unstable`` where it exceeds the margin.
    """
    cfg = settings.sensitivity
    base = score_wards(components, boroughs, settings)
    base_rank = base.table[RANK_LONDON]
    per_ward = pd.DataFrame({"rank": base_rank})
    summary: dict[str, Any] = {"wards": len(base.table), "top_n": cfg.top_n}
    if alternative is not None:
        alt = score_wards(alternative.reindex(components.index), boroughs, settings).table
        per_ward[f"rank_{alternative_name}"] = alt[RANK_LONDON]
        summary[f"spearman_vs_{alternative_name}"] = _spearman(base_rank, alt[RANK_LONDON])
        summary[f"top_{cfg.top_n}_overlap_vs_{alternative_name}"] = _overlap(
            base_rank, alt[RANK_LONDON], cfg.top_n
        )
    ranks = _perturbed_ranks(base, settings)
    per_ward["rank_min"] = ranks.min(axis=1)
    per_ward["rank_max"] = ranks.max(axis=1)
    per_ward["rank_p05"] = np.percentile(ranks, 5, axis=1)
    per_ward["rank_p95"] = np.percentile(ranks, 95, axis=1)
    moves = np.abs(ranks - base_rank.to_numpy()[:, None])
    per_ward["largest_move"] = moves.max(axis=1)
    per_ward["unstable"] = per_ward["largest_move"] > cfg.unstable_margin
    rho = [
        _spearman(base_rank, pd.Series(ranks[:, j], index=base_rank.index))
        for j in range(ranks.shape[1])
    ]
    overlaps = [
        _overlap(base_rank, pd.Series(ranks[:, j], index=base_rank.index), cfg.top_n)
        for j in range(ranks.shape[1])
    ]
    summary |= {
        "weight_draws": cfg.draws,
        "weight_perturbation": cfg.perturbation,
        "spearman_weights_median": float(np.median(rho)),
        "spearman_weights_min": float(np.min(rho)),
        f"top_{cfg.top_n}_overlap_weights_mean": float(np.mean(overlaps)),
        f"top_{cfg.top_n}_overlap_weights_min": int(np.min(overlaps)),
        "unstable_margin": cfg.unstable_margin,
        "unstable_wards": int(per_ward["unstable"].sum()),
    }
    return summary, per_ward


# --- private steps ------------------------------------------------------------------


def _present_weights(
    components: pd.DataFrame, settings: NeedSettings
) -> tuple[list[str], dict[str, float]]:
    present = [c for c in COMPONENTS if c in components.columns and settings.weights.get(c, 0) > 0]
    if not present:
        raise ConfigError(
            f"no need component with a positive weight is present (components: "
            f"{list(components.columns)}, weights: {dict(settings.weights)})"
        )
    total = sum(settings.weights[c] for c in present)
    return present, {c: settings.weights[c] / total for c in present}


def _missing_notes(values: pd.DataFrame, empty: list[str], settings: NeedSettings) -> list[str]:
    notes = [
        f"{c}: no ward has a value, so it is left out and its weight is shared among the "
        "other components"
        for c in empty
        if settings.weights.get(c, 0) > 0
    ]
    notes += [
        f"{c}: {n:,} ward(s) without a value (no data, not 0): each is scored on its other "
        "components, their weights rescaled to sum to 1"
        for c, n in values.isna().sum().items()
        if n
    ]
    return notes


def _ward_weights(normalised: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """Each ward's weights: *weights* rescaled over the components the ward has a value for."""
    has = normalised.notna().to_numpy()
    w = np.array([weights[c] for c in normalised.columns]) * has
    total = w.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(total > 0, w / total, 0.0)
    return pd.DataFrame(w, index=normalised.index, columns=normalised.columns)


def _scale(values: pd.Series, quantile: float) -> float:
    scale = float(np.quantile(values.to_numpy(), quantile)) if len(values) else 0.0
    if scale <= 0:
        scale = float(values.max()) if len(values) else 0.0
    return scale if scale > 0 else 1.0


def _perturbed_ranks(base: Scores, settings: NeedSettings) -> np.ndarray:
    """Ranks (wards x draws) with every weight scaled by U(1-p, 1+p), then renormalised."""
    cfg = settings.sensitivity
    present = list(base.weights)
    norm = base.table[[f"normalised: {c}" for c in present]].to_numpy()
    has = ~np.isnan(norm)  # a ward's missing component is "no data": its weights rescaled
    w = np.array([base.weights[c] for c in present])
    rng = np.random.default_rng(cfg.seed)
    factors = rng.uniform(
        1 - cfg.perturbation, 1 + cfg.perturbation, size=(len(present), cfg.draws)
    )
    draws = w[:, None] * factors
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.nan_to_num(norm) @ draws / (has @ draws)  # wards x draws
    scores = np.nan_to_num(scores)
    codes = base.table.index.astype(str).to_numpy()
    code_order = np.argsort(np.argsort(codes, kind="stable"))  # tie-break: lower code first
    ranks = np.empty_like(scores, dtype=np.int64)
    for j in range(scores.shape[1]):
        order = np.lexsort((code_order, -scores[:, j]))
        ranks[order, j] = np.arange(1, len(order) + 1)
    return ranks


def _spearman(a: pd.Series, b: pd.Series) -> float:
    a, b = a.astype(float), b.reindex(a.index).astype(float)
    return float(np.corrcoef(a.rank(), b.rank())[0, 1]) if len(a) > 1 else 1.0


def _overlap(a: pd.Series, b: pd.Series, n: int) -> int:
    return len(set(a[a <= n].index) & set(b.reindex(a.index)[lambda r: r <= n].index))

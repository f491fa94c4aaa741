"""A trend that shouts only when the evidence is clear: each ward's rise in harm, tested.

A ward's harm is a weighted sum of Poisson counts, ``H = sum w n``, so its variance is
``sum w² n``: one rape (2,555 days of custody) carries as much variance as 65,000 thefts.
:func:`harm_trend` compares each ward's harm in the window with the window before on the
offences of ``config/need.toml [trend]`` (heavy, rare offences can be left out), with the
weighted-Poisson z-score ``(H1 - H0) / sqrt(sum w² (n1 + n0))``, one-sided, then corrects the
p-values of every scored ward together (Benjamini-Hochberg). Only a rise clear at the
configured false discovery rate earns trend credit, ``log((H1 + 1) / (H0 + 1))``; every ward
is explained: the offence whose harm rose most ("rise driven by robbery of personal property:
40 → 71"), or "no clear change".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import HarmSettings, TrendSettings, normalise_text
from planner.errors import DataError
from planner.model.harm import row_harm_weights
from planner.model.missing import window_scale
from planner.model.stats import benjamini_hochberg
from planner.model.window import Rows, Window, in_window, level_codes, month_index, ward_rows

__all__ = ["NO_CLEAR_CHANGE", "TREND_COLUMNS", "harm_trend"]

NO_CLEAR_CHANGE = "no clear change"
TREND_COLUMNS = (
    "trend_harm_last", "trend_harm_prior", "trend_z", "trend_p", "trend_q", "trend_clear",
    "trend_rise", "trend_driver", "trend_driver_prior", "trend_driver_last", "trend_text",
)  # fmt: skip


def harm_trend(
    ward_counts: pd.DataFrame,
    wards: pd.Index,
    *,
    window: Window,
    harm: HarmSettings,
    settings: TrendSettings,
    present: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The tested rise in harm of every ward of *wards*, and what drives it.

    Parameters
    ----------
    ward_counts
        The canonical table; it must cover *window* and the window before it.
    wards
        The scored wards (the correction for testing many wards runs over them).
    window
        The months measured; compared with :meth:`Window.previous`.
    harm
        Harm settings already set to the harm index.
    settings
        The false discovery rate and the offences left out.
    present
        Months with data per ward (in *wards*' order) in the window and in the one before
        (:func:`planner.model.missing.months_present`); None: every month. Each window's harm
        is then its rate over the months present scaled to the window, so a month without
        data is not a fall; a ward without data in one of the windows has no clear change.

    Returns
    -------
    pandas.DataFrame
        Indexed by ward code, the columns of :data:`TREND_COLUMNS`: the harm on the trend's
        offences in both windows, z, one-sided p, Benjamini-Hochberg q, whether the rise is
        clear, the credit (``log((H1 + 1) / (H0 + 1))`` where clear, else 0), the driving
        offence with its counts in both windows, and the sentence.

    Raises
    ------
    DataError
        The data do not cover both windows.
    """
    from scipy import stats  # here, not at the top: scipy.stats takes ~1 s to import

    rows = ward_rows(ward_counts, wards)
    prior = window.previous()
    if not len(rows.month) or not (
        rows.month.min() <= month_index(prior.start) and month_index(window.end) <= rows.month.max()
    ):
        raise DataError(
            f"the trend of {window.label} needs data from {prior.start} to {window.end}"
        )
    weights = row_harm_weights(ward_counts, harm)
    key, labels = _offence_keys(ward_counts)
    kept = np.array([not _excluded(label, settings.exclude) for label in labels])
    crime = (rows.category >= 0) & (rows.category != s.CATEGORIES.index(s.ASB))
    use = crime & (key >= 0) & kept[np.maximum(key, 0)] & (rows.ward >= 0)
    n = len(rows.wards)
    last, before = use & in_window(rows, window), use & in_window(rows, prior)

    def per_ward(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(rows.ward[mask], weights=values[mask], minlength=n)

    m1, m0 = present if present is not None else (np.full(n, len(window)),) * 2
    f1, f0 = window_scale(m1, window), window_scale(m0, window)
    both = np.isfinite(f1) & np.isfinite(f0)
    f1, f0 = np.where(both, f1, 1.0), np.where(both, f0, 1.0)
    h1 = per_ward(last, rows.count * weights) * f1
    h0 = per_ward(before, rows.count * weights) * f0
    var = per_ward(last, rows.count * weights**2) * f1**2
    var += per_ward(before, rows.count * weights**2) * f0**2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where((var > 0) & both, (h1 - h0) / np.sqrt(var), 0.0)
    p = stats.norm.sf(z)
    q = benjamini_hochberg(p)
    clear = (q <= settings.fdr) & (h1 > h0)
    out = pd.DataFrame(index=rows.wards)
    out.index.name = s.WARD_CODE
    out["trend_harm_last"], out["trend_harm_prior"] = h1, h0
    out["trend_z"], out["trend_p"], out["trend_q"], out["trend_clear"] = z, p, q, clear
    out["trend_rise"] = np.where(clear, np.log((h1 + 1.0) / (h0 + 1.0)), 0.0)
    driver = _drivers(rows, key, labels, weights, last, before, n)
    out = out.join(driver)
    out["trend_text"] = np.where(
        clear,
        "rise driven by "
        + out["trend_driver"].astype(str)
        + ": "
        + out["trend_driver_prior"].map("{:,.0f}".format)
        + " → "
        + out["trend_driver_last"].map("{:,.0f}".format),
        NO_CLEAR_CHANGE,
    )
    return out[list(TREND_COLUMNS)]


# --- private steps ---------------------------------------------------------------------------


def _offence_keys(ward_counts: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """A code per row for its offence ("Category | subcategory" or "Category"), and labels."""
    cat_codes, cat_levels = level_codes(ward_counts[s.CATEGORY])
    sub_codes, sub_levels = level_codes(ward_counts[s.SUBCATEGORY])
    cat_codes, sub_codes = cat_codes.astype(np.int64), sub_codes.astype(np.int64)  # int8 codes
    n_sub = len(sub_levels) + 1
    sub = np.where(sub_codes >= 0, sub_codes, n_sub - 1)
    combined = np.where(cat_codes >= 0, cat_codes * n_sub + sub, -1)
    codes, uniques = pd.factorize(pd.Series(combined))
    labels = []
    for value in uniques:
        cat, sub_at = divmod(int(value), n_sub)
        name = str(cat_levels[cat])
        sub_name = str(sub_levels[sub_at]).strip() if sub_at < n_sub - 1 else ""
        labels.append(f"{name} | {sub_name}" if sub_name else name)
    return np.where(combined >= 0, codes, -1), labels


def _excluded(label: str, exclude: tuple[str, ...]) -> bool:
    cat, _, sub = label.partition("|")
    for item in exclude:
        e_cat, sep, e_sub = item.partition("|")
        if normalise_text(e_cat) != normalise_text(cat):
            continue
        if not sep or normalise_text(e_sub) == normalise_text(sub):
            return True
    return False


def _drivers(
    rows: Rows,
    key: np.ndarray,
    labels: list[str],
    weights: np.ndarray,
    last: np.ndarray,
    before: np.ndarray,
    n: int,
) -> pd.DataFrame:
    """Per ward, the offence whose harm rose most, with its counts in both windows."""
    k = len(labels)
    ward, count = rows.ward, rows.count

    def table(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        flat = ward[mask] * k + key[mask]
        return np.bincount(flat, weights=values[mask], minlength=n * k).reshape(n, k)

    if k == 0:
        empty = pd.Series([""] * n, index=rows.wards)
        zeros = pd.Series(np.zeros(n), index=empty.index)
        return pd.DataFrame(
            {"trend_driver": empty, "trend_driver_prior": zeros, "trend_driver_last": zeros}
        )
    rise = table(last, count * weights) - table(before, count * weights)
    top = np.argmax(rise, axis=1)
    n1, n0 = table(last, count), table(before, count)
    pick = np.arange(n)
    names = np.array([_label(label) for label in labels], dtype=object)
    return pd.DataFrame(
        {
            "trend_driver": names[top],
            "trend_driver_prior": n0[pick, top],
            "trend_driver_last": n1[pick, top],
        },
        index=rows.wards,
    )


def _label(key: str) -> str:
    """``"Burglary | residential"`` -> ``"burglary (residential)"``; ``"Violence and sexual
    offences | rape"`` -> ``"rape"``; a category alone in lower case."""
    cat, _, sub = (part.strip() for part in key.partition("|"))
    if not sub:
        return cat.lower()
    return f"{cat.lower()} ({sub})" if len(cat.split()) == 1 else sub

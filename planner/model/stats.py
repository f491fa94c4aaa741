"""Statistical tests shared by the need model and the borough priorities."""

from __future__ import annotations

import numpy as np

__all__ = ["benjamini_hochberg", "binomial_p"]


def binomial_p(a: np.ndarray, b: np.ndarray, share: np.ndarray | float = 0.5) -> np.ndarray:
    """Exact two-sided binomial p of a out of a + b at p = *share* (1 where a + b = 0).

    Two Poisson counts are equal in rate exactly when, given their sum, the first is binomial
    with p = its share of the exposure: 0.5 for two windows of equal length, ``m1 / (m1 + m0)``
    when the windows have m1 and m0 months with data. For p = 0.5 the distribution is
    symmetric, so scipy's two-sided rule (sum of outcomes no likelier than a) equals
    2 * min(P(X <= a), P(X >= a)), capped at 1; for other p that doubled tail is used.
    """
    from scipy import stats  # here, not at the top: scipy.stats takes ~1 s to import

    a, n = np.rint(a), np.rint(a + b)
    lower = stats.binom.cdf(a, n, share)
    upper = stats.binom.sf(a - 1, n, share)
    return np.where(n > 0, np.minimum(1.0, 2.0 * np.minimum(lower, upper)), 1.0)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of *p*, in the same order."""
    p = np.asarray(p, dtype=float)
    n = p.size
    if n == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out

"""Statistical tests shared by the need model and the borough priorities."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["binomial_p"]


def binomial_p(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact two-sided binomial p of a out of a + b at p = 0.5 (1 where a + b = 0).

    Two Poisson counts are equal in rate exactly when, given their sum, the first is binomial
    with p = 0.5. For p = 0.5 the distribution is symmetric, so scipy's two-sided rule (sum of
    outcomes no likelier than a) equals 2 * min(P(X <= a), P(X >= a)), capped at 1.
    """
    a, n = np.rint(a), np.rint(a + b)
    lower = stats.binom.cdf(a, n, 0.5)
    upper = stats.binom.sf(a - 1, n, 0.5)
    return np.where(n > 0, np.minimum(1.0, 2.0 * np.minimum(lower, upper)), 1.0)

"""Normalisation of indicators to [0, 1] within reference regions, oriented towards need.

Normalisations (:data:`NORMALISATIONS`): ``percentile`` (CDC's PERCENTRANK.INC, rounded to 4
decimals), ``zscore`` (mapped to [0, 1] by the standard normal CDF), ``minmax`` and ``rank``
(average rank for ties, scaled to [0, 1]). The reference region (:data:`REFERENCES`) is all
places (``nation``) or each state separately (``state``). The row kernel
:func:`_normalise_rows` normalises many rows at once (Monte Carlo draws x places); the rank
kernels are :mod:`equity.ranking`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtr

from equity.errors import check_choice
from equity.ranking import group_codes, group_ranks, group_starts, percent_rank_rows

__all__ = ["NORMALISATIONS", "REFERENCES", "normalise"]

#: Normalisations of an indicator to [0, 1] (before orientation towards need).
NORMALISATIONS: dict[str, str] = {
    "percentile": "CDC PERCENTRANK.INC: (rank - 1) / (n - 1), ties at the lowest rank, 4 decimals",
    "zscore": "standard normal CDF of the z-score (population standard deviation)",
    "minmax": "(x - min) / (max - min)",
    "rank": "average rank of ties, (rank - 1) / (n - 1)",
}
#: Reference regions of the normalisation.
REFERENCES: dict[str, str] = {
    "nation": "all places of the table",
    "state": "places of the same state (`state_column`)",
}


def _normalise_rows(x: np.ndarray, codes: np.ndarray, method: str) -> np.ndarray:
    """Normalise rows of `x` (rows, places) to [0, 1] within groups (not oriented)."""
    x = np.atleast_2d(x)
    if method == "percentile":
        return percent_rank_rows(x, codes)
    if method == "rank":
        rank, size = group_ranks(x, codes, average=True)
        return np.where(size == 1, 1.0, rank / np.where(size > 1, size - 1, 1))
    # group statistics through reduceat on places sorted by group
    perm = np.argsort(codes, kind="stable")
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    xs = x[:, perm]
    starts = group_starts(codes[perm])
    valid = ~np.isnan(xs)
    count = np.add.reduceat(valid, starts, axis=1)
    seg_len = np.diff(np.r_[starts, xs.shape[1]])
    count_b = np.repeat(count, seg_len, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "minmax":
            lo = np.repeat(
                np.minimum.reduceat(np.where(valid, xs, np.inf), starts, axis=1), seg_len, axis=1
            )
            hi = np.repeat(
                np.maximum.reduceat(np.where(valid, xs, -np.inf), starts, axis=1), seg_len, axis=1
            )
            span = hi - lo
            out = np.where(span > 0, (xs - lo) / np.where(span > 0, span, 1.0), 0.5)
        else:  # zscore
            total = np.add.reduceat(np.where(valid, xs, 0.0), starts, axis=1)
            mean = np.repeat(total / np.maximum(count, 1), seg_len, axis=1)
            dev = np.where(valid, xs - mean, 0.0)
            var = np.repeat(
                np.add.reduceat(dev * dev, starts, axis=1), seg_len, axis=1
            ) / np.maximum(count_b, 1)
            sd = np.sqrt(var)
            out = np.where(sd > 0, ndtr(dev / np.where(sd > 0, sd, 1.0)), 0.5)
        out = np.clip(out, 0.0, 1.0)
    out = np.where(valid, out, np.nan)
    return out[:, inv]


def normalise(
    values: Any,
    *,
    method: str = "percentile",
    direction: int = 1,
    groups: Any = None,
) -> np.ndarray:
    """Normalise one indicator to [0, 1], oriented so that higher means more need.

    Parameters
    ----------
    values
        Indicator values (1-D); NaN stays NaN.
    method
        One of :data:`NORMALISATIONS`.
    direction
        +1 if higher values mean more need, -1 if lower values do.
    groups
        Optional reference regions (e.g. state codes); by default all values.

    Returns
    -------
    numpy.ndarray
        Normalised values in [0, 1].

    Notes
    -----
    The values are oriented first (:math:`-x` for a need-decreasing indicator, direction -1)
    and then normalised, so ties at the favourable end of any indicator get need 0 under
    percentile ranks (ties take the lowest rank): places sharing 100% broadband availability
    get 0, not :math:`1 - PERCENTRANK.INC`, which CDC uses for per-capita income and which
    gives such a tie more than 0. Min-max, z-score and average ranks are symmetric, so
    orienting first changes nothing for them. A constant indicator gets 0.5 under min-max and
    z-score.

    Examples
    --------
    >>> normalise([30_000, 50_000, 90_000], direction=-1).tolist()
    [1.0, 0.5, 0.0]
    >>> normalise([0.9, 1.0, 1.0, 1.0], direction=-1).tolist()  # the favourable tie: need 0
    [1.0, 0.0, 0.0, 0.0]
    """
    check_choice("normalisation", method, NORMALISATIONS)
    x = np.asarray(values, dtype=float).reshape(1, -1)
    return _normalise_rows(direction * x, group_codes(groups, x.shape[1]), method)[0]

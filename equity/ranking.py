"""Ranking within groups: the one home of the project's rank and percentile-rank kernels.

Every ranking the toolkit does (percentile ranks of indicators as CDC computes them, ranks of
the index within each state, ranks of candidates by combined score, ranks over Monte Carlo
draws) goes through :func:`group_ranks`, vectorised over rows (draws or variants) and columns
(places), with places grouped by an integer code (:func:`group_codes`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "group_codes",
    "group_ranks",
    "group_starts",
    "min_rank_descending",
    "percent_rank_inc",
    "percent_rank_rows",
    "rank_descending",
    "round_ratio",
    "sort_order",
]


def sort_order(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per row, the order sorting places by (group, value); NaN values must be in a group of their own.

    Float32 rows are sorted through one packed 64-bit key (group, order-preserving value bits,
    place index), which numpy sorts several times faster than an argsort; float64 rows use a
    lexicographic sort.
    """
    c, n = x.shape
    ib = max(1, (n - 1).bit_length())
    gmax = int(groups.max()) if groups.size else 0
    gb = max(0, gmax.bit_length())
    if x.dtype == np.float32 and 32 + ib + gb <= 64:
        bits = (x + np.float32(0.0)).view(np.uint32)  # -0.0 -> +0.0
        key32 = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))
        key = key32.astype(np.uint64) << np.uint64(ib)
        key |= np.arange(n, dtype=np.uint64)
        if gb:
            key |= groups.astype(np.uint64) << np.uint64(32 + ib)
        key.sort(axis=1)
        return (key & np.uint64((1 << ib) - 1)).astype(np.intp)
    g = np.broadcast_to(groups, x.shape)
    return np.lexsort((x, g), axis=-1)


def group_ranks(
    x: np.ndarray,
    groups: np.ndarray,
    *,
    average: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Zero-based rank within group (ties: lowest rank, or average) and group size, per row.

    Parameters
    ----------
    x
        Values, shape (rows, places); NaN is excluded (its rank is NaN).
    groups
        Group code per place, shape (places,), integers >= 0.
    average
        Average rank of ties instead of the lowest.

    Returns
    -------
    rank, size
        Float arrays (rows, places): rank (0-based) and the number of valid places in the group.
    """
    x = np.atleast_2d(x)
    c, n = x.shape
    nan = np.isnan(x)
    n_groups = int(groups.max()) + 1 if n else 1
    g = (
        np.where(nan, n_groups, groups[None, :]).astype(np.int64)
        if nan.any()
        else np.broadcast_to(groups.astype(np.int64), (c, n))
    )
    order = sort_order(x, g if nan.any() else groups.astype(np.int64))
    xs = np.take_along_axis(x, order, axis=1)
    gs = np.take_along_axis(g, order, axis=1) if nan.any() else groups[order]
    pos = np.broadcast_to(np.arange(n), (c, n))
    new_group = np.ones((c, n), dtype=bool)
    new_group[:, 1:] = gs[:, 1:] != gs[:, :-1]
    new_run = new_group.copy()
    new_run[:, 1:] |= xs[:, 1:] != xs[:, :-1]
    group_start = np.maximum.accumulate(np.where(new_group, pos, 0), axis=1)
    run_start = np.maximum.accumulate(np.where(new_run, pos, 0), axis=1)
    rank_sorted = (run_start - group_start).astype(float)
    # group end: last position of each group (reverse accumulate)
    end_group = np.ones((c, n), dtype=bool)
    end_group[:, :-1] = new_group[:, 1:]
    rev = np.where(end_group, pos, n)[:, ::-1]
    group_end = np.minimum.accumulate(rev, axis=1)[:, ::-1]
    size_sorted = (group_end - group_start + 1).astype(float)
    if average:
        end_run = np.ones((c, n), dtype=bool)
        end_run[:, :-1] = new_run[:, 1:]
        rev = np.where(end_run, pos, n)[:, ::-1]
        run_end = np.minimum.accumulate(rev, axis=1)[:, ::-1]
        rank_sorted = (run_start + run_end) / 2.0 - group_start
    rank = np.empty((c, n))
    size = np.empty((c, n))
    np.put_along_axis(rank, order, rank_sorted, axis=1)
    np.put_along_axis(size, order, size_sorted, axis=1)
    rank[nan] = np.nan
    size[nan] = np.nan
    return rank, size


def round_ratio(num: np.ndarray, den: np.ndarray, decimals: int) -> np.ndarray:
    """``num / den`` rounded half up to `decimals`, exactly, for non-negative integers."""
    factor = 10**decimals
    valid = ~(np.isnan(num) | np.isnan(den))
    a = np.where(valid, num, 0).astype(np.int64) * factor
    b = np.where(valid & (den > 0), den, 1).astype(np.int64)
    q, r = np.divmod(a, b)
    q = q + (2 * r >= b)
    return np.where(valid, q / factor, np.nan)


def percent_rank_rows(x: np.ndarray, groups: np.ndarray, *, decimals: int | None = 4) -> np.ndarray:
    """CDC percentile rank (Excel ``PERCENTRANK.INC``) of each row of `x` within groups.

    Parameters
    ----------
    x
        Values, shape (rows, places); NaN is excluded and stays NaN.
    groups
        Group code per place (:func:`group_codes`).
    decimals
        Rounding, half up and exact (:func:`round_ratio`); None for none.

    Returns
    -------
    numpy.ndarray
        Percentile ranks in [0, 1], shape (rows, places); a group of one value gets 1.

    Examples
    --------
    >>> percent_rank_rows(np.array([[3.0, 1.0, 2.0, 9.0]]), np.zeros(4, dtype=np.int64)).tolist()
    [[0.6667, 0.0, 0.3333, 1.0]]
    """
    rank, size = group_ranks(x, groups)
    one = size == 1
    den = np.where(one, 1.0, size - 1.0)
    if decimals is None:
        out = rank / den
    else:
        out = round_ratio(rank, den, decimals)
    return np.where(one, 1.0, out)  # Excel: PERCENTRANK.INC of a single value is 1


def percent_rank_inc(values: Any, *, groups: Any = None, decimals: int | None = 4) -> np.ndarray:
    """Percentile rank exactly as CDC/ATSDR computes it (Excel ``PERCENTRANK.INC``).

    Parameters
    ----------
    values
        Values (1-D); NaN is excluded from the ranking and stays NaN.
    groups
        Optional group labels (e.g. states): ranks are computed within each group.
    decimals
        Rounding (half up, exact in decimal); None for none.

    Returns
    -------
    numpy.ndarray
        Percentile ranks in [0, 1].

    Notes
    -----
    :math:`PR_i = (r_i - 1)/(n - 1)` where :math:`r_i` is the rank of :math:`x_i` among the
    :math:`n` valid values, tied values sharing the lowest rank; a single value gets 1 (as
    Excel). The rounding is done in integer arithmetic so ``0.xxxx5`` cases round up as Excel
    does, independent of binary floating point.

    Examples
    --------
    >>> percent_rank_inc([10, 20, 20, 40, float("nan")]).tolist()
    [0.0, 0.3333, 0.3333, 1.0, nan]
    """
    x = np.asarray(values, dtype=float).reshape(1, -1)
    codes = group_codes(groups, x.shape[1])
    return percent_rank_rows(x, codes, decimals=decimals)[0]


def group_codes(groups: Any, n: int) -> np.ndarray:
    """Integer code (0, 1, ...) per place of group labels, in sorted label order.

    Parameters
    ----------
    groups
        Labels (compared as text; missing labels form one group), or None for one group.
    n
        Number of places (used when `groups` is None).

    Returns
    -------
    numpy.ndarray
        int64 codes, shape (n,).

    Examples
    --------
    >>> group_codes(["51", "01", "51", None], 4).tolist()
    [1, 0, 1, 2]
    """
    if groups is None:
        return np.zeros(n, dtype=np.int64)
    codes, _ = pd.factorize(pd.Series(groups).astype("string").fillna("<NA>"), sort=True)
    return codes.astype(np.int64)


def rank_descending(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Ordinal rank (1 = highest) within groups along axis 0; ties keep row order, NaN last.

    Parameters
    ----------
    scores
        Scores, shape (places,) or (places, variants): one column per variant or draw.
    groups
        Integer group code per place, shape (places,).

    Returns
    -------
    numpy.ndarray
        Integer ranks of the shape of `scores`: 1 for the best place of its group; a tie is
        broken by position (the earlier row ranks first) and NaN ranks after every number.

    Examples
    --------
    >>> rank_descending(np.array([3.0, 5.0, 5.0, np.nan, 1.0]), np.array([0, 0, 0, 0, 1])).tolist()
    [3, 1, 2, 4, 1]
    """
    s = np.asarray(scores, dtype=float)
    squeeze = s.ndim == 1
    s2 = s[:, None] if squeeze else s
    g = np.asarray(groups).astype(np.int64)
    n, m = s2.shape
    ranks = np.empty((n, m), dtype=np.int64)
    pos = np.arange(n)
    for j in range(m):  # one lexsort per variant: key order group, NaN last, -score, position
        col = s2[:, j]
        nan = np.isnan(col)
        order = np.lexsort((pos, np.where(nan, 0.0, -col), nan, g))
        gs = g[order]
        starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]]) if n else np.zeros(0, np.intp)
        first = np.repeat(starts, np.diff(np.r_[starts, n]))
        ranks[order, j] = np.arange(n) - first + 1
    return ranks[:, 0] if squeeze else ranks


def group_starts(codes_sorted: np.ndarray) -> np.ndarray:
    """Start positions of the runs of equal codes in a sorted code array.

    Examples
    --------
    >>> group_starts(np.array([0, 0, 1, 3, 3, 3])).tolist()
    [0, 2, 3]
    """
    if codes_sorted.size == 0:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.r_[True, codes_sorted[1:] != codes_sorted[:-1]])


def min_rank_descending(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Rank 1 = largest within groups, ties sharing the lowest rank ("min"); NaN stays NaN.

    Parameters
    ----------
    values
        Values, shape (places,) or (rows, places); ranked per row.
    groups
        Group code per place, shape (places,).

    Returns
    -------
    numpy.ndarray
        Float ranks, shape (rows, places).

    Examples
    --------
    >>> min_rank_descending(np.array([3.0, 5.0, 5.0, np.nan, 1.0]), np.zeros(5, dtype=np.int64)).tolist()
    [[3.0, 1.0, 1.0, nan, 4.0]]
    """
    rank, _ = group_ranks(-np.atleast_2d(values), groups)
    return rank + 1.0

"""Ranking of the Monte Carlo draws: per draw, CDC percentile ranks and index ranks.

A :class:`_Layout` holds, for the places with data of one indicator (or of the index), the
packed sort keys and rank tables its draws are ranked with. Draws are ranked exactly, by one
sort of packed 64-bit keys (:func:`_fast_rank`), or, for one reference group of more than
:data:`BINNED_RANK_MIN_PLACES` places, by histogram (:func:`_binned_ranks`: :data:`RANK_BINS`
bins per draw, within a recorded error bound; see :func:`equity.index.compute_index`, Notes).
:func:`_top1_counts` counts the draws in which a place is first in its state without ranking.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from equity.ranking import round_ratio

#: Tables with more valid places than this rank the Monte Carlo draws by histogram
#: (:func:`_binned_ranks`) rather than exactly; at or below it, sorting is cheap and the draws
#: are ranked exactly. The point estimate is always ranked exactly.
BINNED_RANK_MIN_PLACES: int = 20_000
#: Bins per draw of the binned ranking (the resolution of its quantisation).
RANK_BINS: int = 2**16


@dataclass
class _Layout:
    """Places of one indicator (or of the index) with data, their groups and rank tables."""

    idx: np.ndarray  # positions of valid places
    all_valid: bool
    gkey: np.ndarray  # uint64: group code << (32 + ib) | position among valid places
    ib: int
    pr_table: np.ndarray  # float32 CDC percentile rank of a run starting at a sorted position
    rank_table: np.ndarray  # int32 rank (1 = first) of a run starting at a sorted position
    binned: bool = False  # rank draws by histogram (one group, more than BINNED_RANK_MIN_PLACES)
    sqrt: bool = False  # binned: bins evenly spaced in sqrt(x - min) (:func:`_sqrt_spacing`)


def _layout(valid: np.ndarray, codes: np.ndarray, *, allow_binned: bool = False) -> _Layout | None:
    """Sort keys and rank tables for the valid places; None if the keys would not fit 64 bits.

    With `allow_binned`, a single group of more than :data:`BINNED_RANK_MIN_PLACES` places is
    ranked by histogram (``binned``).
    """
    idx = np.flatnonzero(valid)
    m = idx.size
    ib = max(1, (m - 1).bit_length())
    _, inv = np.unique(codes[idx], return_inverse=True)
    inv = inv.astype(np.int64).reshape(-1)
    sizes = np.bincount(inv) if m else np.zeros(0, dtype=np.int64)
    binned = allow_binned and sizes.size == 1 and m > BINNED_RANK_MIN_PLACES
    if not binned and 32 + ib + (int(inv.max()).bit_length() if m else 0) > 64:
        return None
    gkey = np.arange(m, dtype=np.uint64)
    if sizes.size > 1:
        gkey |= inv.astype(np.uint64) << np.uint64(32 + ib)
    # sorted position j belongs to group g(j); its rank within the group is j - offset(g)
    offsets = np.cumsum(sizes) - sizes
    g_sorted = np.repeat(np.arange(sizes.size), sizes)
    within = np.arange(m) - offsets[g_sorted]
    size_sorted = sizes[g_sorted]
    pr = round_ratio(within.astype(float), np.maximum(size_sorted - 1, 1).astype(float), 4)
    pr = np.where(size_sorted == 1, 1.0, pr)
    return _Layout(idx, m == valid.size, gkey, ib, pr.astype(np.float32),
                   (within + 1).astype(np.int32), binned)  # fmt: skip


def _fast_rank(x: np.ndarray, lay: _Layout, *, descending: bool = False,
               ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Sort rows of non-negative float32 values; flat positions and run starts in sorted order.

    One sort of packed 64-bit keys (group, value bits, position) replaces an argsort. Returns
    the flat positions (into the (rows, valid places) block) in sorted order and, aligned with
    them, the sorted position where each element's run of ties starts (ties share the lowest
    rank), to look up in the layout's rank tables.
    """
    c, m = x.shape
    bits = x.view(np.uint32)  # non-negative floats: their bits sort as the values
    if descending:
        bits = np.uint32(0x7F800000) - bits  # exact reversal for finite non-negative values
    key = bits.astype(np.uint64)
    key <<= np.uint64(lay.ib)
    key |= lay.gkey
    key.sort(axis=1)
    pos = np.bitwise_and(key, np.uint64((1 << lay.ib) - 1)).view(np.int64)
    pos += (np.arange(c, dtype=np.int64) * m)[:, None]
    key >>= np.uint64(lay.ib)  # (group, value): a run of equal keys is a tie
    start = np.empty((c, m), dtype=np.int32)
    start[:] = np.arange(m, dtype=np.int32)
    same = np.zeros((c, m), dtype=bool)
    np.equal(key[:, 1:], key[:, :-1], out=same[:, 1:])
    tie = np.flatnonzero(same)
    if tie.size:
        # a tie's run starts just before the first tie of a block of consecutive ties
        first = np.empty(tie.size, dtype=bool)
        first[0] = True
        np.not_equal(tie[1:], tie[:-1] + 1, out=first[1:])
        run_start = np.maximum.accumulate(np.where(first, tie - 1, 0))
        start.reshape(-1)[tie] = (run_start % m).astype(np.int32)
    return pos, start


def _scatter(values_sorted: np.ndarray, pos: np.ndarray, lay: _Layout, n: int, fill: Any,
             ) -> np.ndarray:  # fmt: skip
    c = values_sorted.shape[0]
    out = np.empty((c, lay.idx.size), dtype=values_sorted.dtype)
    out.reshape(-1)[pos.reshape(-1)] = values_sorted.reshape(-1)
    if lay.all_valid:
        return out
    full = np.full((c, n), fill, dtype=values_sorted.dtype)
    full[:, lay.idx] = out
    return full


def _binned_ranks(sub: np.ndarray, table: np.ndarray, *, descending: bool = False,
                  sqrt: bool = False) -> tuple[np.ndarray, int] | None:  # fmt: skip
    """Histogram ranks of each row of finite float32 values (rows, places): O(places + bins).

    Each row is quantised into :data:`RANK_BINS` bins: bin 0 holds exactly the values equal to
    the row's minimum (a tie such as counts drawn at 0), bins 1 to ``RANK_BINS - 1`` split
    ``(minimum, maximum]`` evenly. One ``bincount`` and a cumulative sum give, per bin, the
    number of values of the row in lower bins (in higher bins, `descending`), which indexes
    `table` (length places + 1). Values sharing a bin count as tied. Rows are processed one at
    a time so that the bin counts (512 KB) stay in cache.

    Parameters
    ----------
    sub
        Values, shape (rows, places), float32.
    table
        Result for a place with ``k`` values below (above) its bin, ``k = 0 .. places``.
    descending
        Count values in higher bins instead of lower ones.
    sqrt
        Space the bins evenly in :math:`\\sqrt{x - \\min x}` (finer where right-skewed values
        crowd, e.g. speeds and incomes) instead of in :math:`x`.

    Returns
    -------
    out, max_count
        ``table[k]`` per value (rows, places), and the largest occupancy of a bin other than
        bin 0 (at least 1). None if a row is not finite (the caller ranks exactly).

    Notes
    -----
    With :math:`g(x) = x - \\min x` (or its square root, `sqrt`) and
    :math:`s = (B - 1)(1 - 2^{-16}) / g(\\max x)`, a value goes to bin
    :math:`b(x) = \\lceil g(x) s \\rceil \\in [0, B - 1]`, computed in float32: every
    step is monotone, so :math:`x < y \\Rightarrow b(x) \\le b(y)`, equal values share a bin, and
    only :math:`x = \\min x` gives 0 (barring float32 underflow, for values within
    :math:`10^{-38}` of the minimum). With :math:`C_b` the count of values in bins below
    :math:`b` and :math:`c_b` the count in bin :math:`b`, the exact number of values below
    :math:`x` is :math:`C_{b(x)} + k` with :math:`0 \\le k \\le c_{b(x)} - 1` (and :math:`k = 0`
    in bin 0), hence the error bound :math:`(\\max_{b \\ge 1} c_b - 1)` in ranks, divided by
    :math:`m - 1` for percentile ranks. Time :math:`O(m + B)` per row.
    """
    c, m = sub.shape
    nb = RANK_BINS
    lo = sub.min(axis=1)
    top = sub.max(axis=1) - lo  # g(max) in float32, as the rows compute it: no value exceeds it
    if not np.isfinite(top).all():
        return None
    if sqrt:
        np.sqrt(top, out=top)
    # the maximum maps at most to nb - 1 despite float32 rounding of g(x) * scale
    scale = np.divide((nb - 1) * (1 - 2.0**-16), top.astype(np.float64), out=np.zeros(c),
                      where=top > 0)  # fmt: skip
    scale32 = scale.astype(np.float32)
    out = np.empty((c, m), dtype=table.dtype)
    cmax = 1
    # row buffers reused across rows (per thread): fresh ones per row made the allocator map
    # and fault in memory for every row when threads share the draws
    pool = _ROW_BUFFERS.__dict__.setdefault("pool", {})
    key = (m, table.dtype.str)
    if key not in pool:
        if len(pool) > 8:  # tables of other sizes came before: keep the pool small
            pool.clear()
        pool[key] = (np.empty(m, dtype=np.float32), np.empty(m, dtype=np.intp),
                     np.empty(nb, dtype=np.int64), np.empty(nb, dtype=table.dtype))  # fmt: skip
    t, bins, cum, values = pool[key]
    for r in range(c):
        np.subtract(sub[r], lo[r], out=t)  # order kept: fl(x - lo) non-decreasing, 0 only at lo
        if sqrt:
            np.sqrt(t, out=t)
        t *= scale32[r]
        np.ceil(t, out=t)
        np.copyto(bins, t, casting="unsafe")
        counts = np.bincount(bins, minlength=nb)
        cmax = max(cmax, int(counts[1:].max()))
        np.cumsum(counts, out=cum)
        if descending:
            np.subtract(m, cum, out=cum)
        else:
            cum -= counts
        table.take(cum, out=values)
        np.take(values, bins, out=out[r])
    return out, cmax


#: Per-thread row buffers of :func:`_binned_ranks`.
_ROW_BUFFERS = threading.local()


def _sqrt_spacing(values: np.ndarray) -> bool:
    """Whether bins evenly spaced in sqrt(x - min) hold these values more evenly than linear ones.

    Chosen once per indicator from its point values (the draws scatter around them): the
    spacing whose fullest bin holds fewer values, linear on a tie.
    """
    v = np.ascontiguousarray(values[np.isfinite(values)], dtype=np.float32)[None, :]
    if v.size < 2 or v.min() < 0:
        return False
    table = np.zeros(v.size + 1, dtype=np.int8)
    lin, sq = _binned_ranks(v, table), _binned_ranks(v, table, sqrt=True)
    return lin is not None and sq is not None and sq[1] < lin[1]


def _draw_percentile(x: np.ndarray, lay: _Layout) -> np.ndarray:
    """CDC percentile rank (4 decimals) of each row of `x` (rows, places); 0 off the layout."""
    return _draw_percentile_bound(x, lay)[0]


def _draw_rank_desc(idx: np.ndarray, lay: _Layout) -> np.ndarray:
    """Rank 1 = largest of index rows in [0, 1] within the layout's groups (int32, 0 off layout)."""
    return _draw_rank_desc_bound(idx, lay)[0]


def _draw_percentile_bound(x: np.ndarray, lay: _Layout) -> tuple[np.ndarray, float]:
    """CDC percentile rank (4 decimals) of each row of `x` (rows, places); 0 off the layout.

    Exact (one sort of packed keys per row), or binned (:func:`_binned_ranks`) for a layout
    with ``binned`` set. Also returns the bound ``(max bin count - 1) / (m - 1)`` on the
    error of the unrounded ratio (0 when exact).
    """
    sub = x if lay.all_valid else x[:, lay.idx]
    if lay.binned:
        pr_ext = np.append(lay.pr_table, np.float32(1.0))  # a trailing empty bin has m below
        res = _binned_ranks(np.ascontiguousarray(sub, dtype=np.float32), pr_ext, sqrt=lay.sqrt)
        if res is not None:
            pr, cmax = res
            return _place(pr, lay, x.shape[1], 0.0), (cmax - 1) / max(sub.shape[1] - 1, 1)
    sub = np.ascontiguousarray(sub, dtype=np.float32) + np.float32(0.0)  # -0.0 -> +0.0
    pos, start = _fast_rank(sub, lay)
    return _scatter(lay.pr_table.take(start), pos, lay, x.shape[1], 0.0), 0.0


def _draw_rank_desc_bound(idx: np.ndarray, lay: _Layout) -> tuple[np.ndarray, int]:
    """Rank 1 = largest of index rows in [0, 1] within the layout's groups (int32, 0 off layout).

    Exact, or binned for a layout with ``binned`` set; also returns the bound
    ``max bin count - 1`` on the rank error (0 when exact).
    """
    sub = idx if lay.all_valid else idx[:, lay.idx]
    sub = np.ascontiguousarray(np.maximum(sub, np.float32(0.0)), dtype=np.float32) + np.float32(0.0)
    if lay.binned:
        ranks = np.arange(1, sub.shape[1] + 2, dtype=np.int32)  # 1 + values in higher bins
        res = _binned_ranks(sub, ranks, descending=True, sqrt=lay.sqrt)
        if res is not None:
            rank, cmax = res
            return _place(rank, lay, idx.shape[1], 0), cmax - 1
    pos, start = _fast_rank(sub, lay, descending=True)
    return _scatter(lay.rank_table.take(start), pos, lay, idx.shape[1], 0), 0


def _place(values: np.ndarray, lay: _Layout, n: int, fill: Any) -> np.ndarray:
    """Rows of values for the layout's places (in place order) widened to all `n` places."""
    if lay.all_valid:
        return values
    full = np.full((values.shape[0], n), fill, dtype=values.dtype)
    full[:, lay.idx] = values
    return full


def _top1_counts(ok: np.ndarray, perm: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                 ) -> np.ndarray:  # fmt: skip
    """Per place of `perm` (valid places sorted by group), draws in which it is first in its group.

    A place ranks first (ties "min") exactly when its value equals its group's maximum, so
    one grouped maximum per draw replaces a ranking.
    """
    if perm.size == 0:
        return np.zeros(0, dtype=np.int64)
    okp = ok[:, perm]
    gmax = np.maximum.reduceat(okp, starts, axis=1)
    return (okp >= np.repeat(gmax, sizes, axis=1)).sum(axis=0)

"""Ranking of the Monte Carlo index draws within states: top-k counts.

A :class:`_Layout` holds, for the places with an index, the packed sort keys and rank tables
their draws are ranked with, by one sort of packed 64-bit keys per draw (:func:`_fast_rank`);
:func:`_draw_rank_desc` gives the rank of each place in its state per draw (``top_k`` > 1).
:func:`_top1_counts` counts the draws in which a place is first in its state without ranking
(``top_k`` = 1, the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Layout:
    """Places with data, their groups and rank table."""

    idx: np.ndarray  # positions of valid places
    all_valid: bool
    gkey: np.ndarray  # uint64: group code << (32 + ib) | position among valid places
    ib: int
    rank_table: np.ndarray  # int32 rank (1 = first) of a run starting at a sorted position


def _layout(valid: np.ndarray, codes: np.ndarray) -> _Layout | None:
    """Sort keys and rank table for the valid places; None if the keys would not fit 64 bits."""
    idx = np.flatnonzero(valid)
    m = idx.size
    ib = max(1, (m - 1).bit_length())
    _, inv = np.unique(codes[idx], return_inverse=True)
    inv = inv.astype(np.int64).reshape(-1)
    sizes = np.bincount(inv) if m else np.zeros(0, dtype=np.int64)
    if 32 + ib + (int(inv.max()).bit_length() if m else 0) > 64:
        return None
    gkey = np.arange(m, dtype=np.uint64)
    if sizes.size > 1:
        gkey |= inv.astype(np.uint64) << np.uint64(32 + ib)
    # sorted position j belongs to group g(j); its rank within the group is j - offset(g)
    offsets = np.cumsum(sizes) - sizes
    g_sorted = np.repeat(np.arange(sizes.size), sizes)
    within = np.arange(m) - offsets[g_sorted]
    return _Layout(idx, m == valid.size, gkey, ib, (within + 1).astype(np.int32))


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


def _draw_rank_desc(idx: np.ndarray, lay: _Layout) -> np.ndarray:
    """Rank 1 = largest of index rows in [0, 1] within the layout's groups (int32, 0 off layout)."""
    sub = idx if lay.all_valid else idx[:, lay.idx]
    sub = np.ascontiguousarray(np.maximum(sub, np.float32(0.0)), dtype=np.float32) + np.float32(0.0)
    pos, start = _fast_rank(sub, lay, descending=True)
    return _scatter(lay.rank_table.take(start), pos, lay, idx.shape[1], 0)


def _top1_counts(ok: np.ndarray, perm: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                 ) -> np.ndarray:  # fmt: skip
    """Per place of `perm` (valid places sorted by group), its share of first places over draws.

    A place is first when its value equals its group's maximum, so one grouped maximum per
    draw replaces a ranking. Places tied at the maximum share the first place: each of `t`
    tied places counts ``1 / t`` for that draw, so the counts of a group sum to the number of
    draws (the index is bounded, and several places can reach its top in one draw).
    """
    if perm.size == 0:
        return np.zeros(0, dtype=np.float64)
    okp = ok[:, perm]
    gmax = np.maximum.reduceat(okp, starts, axis=1)
    first = okp >= np.repeat(gmax, sizes, axis=1)
    ties = np.add.reduceat(first, starts, axis=1, dtype=np.float32)
    credit = first / np.repeat(ties, sizes, axis=1)
    return credit.sum(axis=0, dtype=np.float64)

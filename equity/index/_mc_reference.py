"""Normalising Monte Carlo draws against a fixed reference distribution.

Every draw of an indicator is normalised against the same *reference*: the distribution of the
indicator's point estimates within the place's reference region (state or nation), adjusted
for their sampling error (:func:`_adjusted_reference`). Normalising each draw against the
other draws instead (as the project did before) adds the noise of every other place to the
scale and pulls extreme places towards the middle; normalising against the raw point
estimates leaves the scale as wide as the noisy estimates, wider than the true values, which
pulls extreme places in the same way. The simulation with a known truth
(``benchmarks/bench_calibration.py``) measures both.

:class:`_Reference` holds, per reference region, lookup tables that give a draw's normalised
value without sorting the draws. For percentile and rank normalisation the region's range is
cut into bins (:class:`_Bins`, evenly in the value or in a square root of its distance from
an end, whichever leaves fewer bins holding distinct values); a bin whose reference values
are all equal (or that is empty) answers with one comparison; a draw in a bin of distinct
values goes to a second, finer level, and a draw still in such a bin is counted by binary
search. Every step is monotone in the value, so the result is exact: :func:`_normalise_draws`
equals the brute-force count for every draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

#: The share of an indicator's spread across places (its variance) that is always taken to be
#: real when the reference is adjusted for sampling error (:func:`_adjusted_reference`): where
#: the margins of error are as large as the spread itself, the adjustment would otherwise shrink
#: every place onto the mean.
MIN_SIGNAL_SHARE: float = 0.05

#: Bins per reference value of the percentile lookup tables.
BINS_PER_VALUE: int = 8
#: Most bins of one reference region's table (64k bins of 8 bytes: the table stays in the
#: processor's L2 cache, where the lookups of a draw are fast). A region with more values
#: than ``MAX_BINS / BINS_PER_VALUE`` (8,192) gets that many bins, and a draw in a bin holding
#: distinct reference values takes the count below the bin: low by at most the bin's count,
#: a bound recorded per reference (``error_bound``) and in ``attrs["index"]``.
MAX_BINS: int = 2**16

#: Spacings of the level-1 bins: linear in x (0), in sqrt(x - lo) or its square root (1, 2:
#: values crowding at the low end), or in sqrt(hi - x) or its square root (-1, -2: crowding at
#: the high end). Square roots are correctly rounded, so bins rise with the value.
SPACINGS: tuple[int, ...] = (0, 1, 2, -1, -2)

#: Largest |z| of the standard normal deviates (:data:`equity.index._mc_draws._NORMAL_LUT`).
_Z_MAX: float = 4.4


def _adjusted_reference(
    y: np.ndarray, se: np.ndarray, codes: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Point estimates adjusted for sampling error: an estimate of the true values' spread.

    Within each reference region, with mean :math:`m`, variance :math:`V` of the estimates and
    mean squared standard error :math:`\\bar s^2`, the true values' variance is estimated as
    :math:`\\tau^2 = \\max(V - \\bar s^2, \\varepsilon V)` (:data:`MIN_SIGNAL_SHARE`), and each
    estimate becomes :math:`m + \\sqrt{B_i}\\,(y_i - m)` with
    :math:`B_i = \\tau^2 / (\\tau^2 + s_i^2)`. Every adjusted value then has, in
    expectation, the variance of the true values (:math:`B_i (\\tau^2 + s_i^2) = \\tau^2`),
    so their distribution estimates the distribution of the true values: the constrained Bayes
    idea of Louis (1984) and Ghosh (1992), applied per place for unequal standard errors.
    (Rescaling every region to variance :math:`\\tau^2` exactly, as Ghosh does, covered the
    truth less well in ``benchmarks/bench_calibration.py``: 86.8% instead of 89.4% at block
    groups.) A region without sampling error keeps its values. NaN where `mask` is false.
    """
    n = y.size
    out = np.full(n, np.nan)
    if not mask.any():
        return out
    g = codes[mask]
    yv = y[mask]
    sv = np.nan_to_num(se[mask])
    size = np.bincount(g, minlength=int(codes.max()) + 1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(g, weights=yv, minlength=size.size) / size
        dev = yv - mean[g]
        var = np.bincount(g, weights=dev * dev, minlength=size.size) / size
        noise = np.bincount(g, weights=sv * sv, minlength=size.size) / size
    tau2 = np.maximum(var - noise, MIN_SIGNAL_SHARE * var)[g]
    total = tau2 + sv * sv
    shrink = np.sqrt(np.divide(tau2, total, out=np.ones_like(total), where=total > 0))
    out[mask] = mean[g] + shrink * dev
    return out


def _order_keys(v: np.ndarray) -> np.ndarray:
    """uint32 keys of float32 values that sort as the values (-0.0 as +0.0)."""
    bits = (np.asarray(v, dtype=np.float32) + np.float32(0.0)).view(np.uint32)
    neg = (bits >> np.uint32(31)).astype(bool)
    return np.where(neg, ~bits, bits | np.uint32(0x80000000))


@dataclass
class _Bins:
    """How values become slots: per group (or per place, once broadcast), float32.

    ``t = scale * f(v) + shift`` with ``f(v) = v - lo`` (spacing 0), ``sqrt(max(v - lo, 0))``
    or its square root (spacing 1, 2), or ``sqrt(max(hi - v, 0))`` or its square root with a
    negative scale (spacing -1, -2); the slot is ``floor(t)`` clipped to ``[first, last]``, the group's slots in the
    tables. Non-decreasing in ``v``; the same arithmetic for reference values and draws.
    """

    spacing: int
    scale: np.ndarray
    shift: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    first: np.ndarray
    last: np.ndarray

    def at(self, idx: np.ndarray) -> _Bins:
        """The parameters of the groups `idx` (e.g. per place)."""
        return _Bins(self.spacing, self.scale[idx], self.shift[idx], self.lo[idx],
                     self.hi[idx], self.first[idx], self.last[idx])  # fmt: skip

    def slots(self, v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Slots (float32 whole numbers) of float32 values `v` (into `out` when given)."""
        t = np.empty(v.shape, dtype=np.float32) if out is None else out
        k = self.spacing
        if k >= 0:
            np.subtract(v, self.lo, out=t)
        else:
            np.subtract(self.hi, v, out=t)
        if k != 0:
            np.maximum(t, np.float32(0.0), out=t)
            for _ in range(abs(k)):
                np.sqrt(t, out=t)
        t *= self.scale  # negative for k < 0: decreasing in hi - v
        t += self.shift
        np.floor(t, out=t)
        np.maximum(t, self.first, out=t)
        np.minimum(t, self.last, out=t)
        return t


def _bins(rv: np.ndarray, rg: np.ndarray, ngroups: int, spacing: int,
          per_value: int = BINS_PER_VALUE, cap: int | None = None,
          ) -> tuple[_Bins, np.ndarray, np.ndarray]:  # fmt: skip
    """Bins of sorted values `rv` (groups `rg`); the slot of each value and slots per group.

    A group gets `per_value` bins per value, at most `cap`.
    """
    size = np.bincount(rg, minlength=ngroups)
    starts = np.cumsum(size) - size
    lo = np.zeros(ngroups, dtype=np.float32)
    hi = np.zeros(ngroups, dtype=np.float32)
    has = size > 0
    lo[has] = rv[starts[has]]
    hi[has] = rv[starts[has] + size[has] - 1]
    # slot numbers stay below 2**24, where float32 holds every whole number
    per = max(1, min(per_value, (2**24 - 4 * ngroups) // max(1, 2 * int(size.sum()))))
    nb = np.maximum(1, per * size).astype(np.int64)
    if cap is not None:
        nb = np.minimum(nb, cap)
    nslots = nb + 2
    first = (np.cumsum(nslots) - nslots).astype(np.float64)
    span = (hi.astype(np.float64) - lo.astype(np.float64)) ** (0.5 ** abs(spacing))
    # the transform of the range times the scale stays below nb despite float32 rounding
    scale = np.where(span > 0, nb * (1 - 2.0**-20) / np.where(span > 0, span, 1.0), 0.0)
    if spacing >= 0:
        shift = first + 1
    else:
        shift, scale = first + nb, -scale
    bins = _Bins(
        spacing=spacing,
        scale=scale.astype(np.float32),
        shift=shift.astype(np.float32),
        lo=lo,
        hi=hi,
        first=first.astype(np.float32),
        last=(first + nslots - 1).astype(np.float32),
    )
    slot = bins.at(rg).slots(rv).astype(np.int64)
    return bins, slot, nslots


@dataclass
class _Tables:
    """Lookup tables of sorted reference values split into groups (regions, or slots).

    Per slot: ``thr``, the value shared by the slot's reference values (+inf for an empty
    slot, NaN for a slot of distinct values, which the next level resolves), and the
    normalised value of a draw at or below it (``f_lo``), equal to it (``f_eq``) and above it
    (``f_hi``), counted within the group's region; for percentiles also ``packed``, the same
    as one 8-byte record (:data:`_PACKED`).
    """

    bins: _Bins
    thr: np.ndarray
    f_lo: np.ndarray
    f_eq: np.ndarray
    f_hi: np.ndarray
    packed: np.ndarray | None = None


#: One slot of the percentile lookup: the slot's shared value and the percentile (in units of
#: 1e-4) of a draw at or below it and above it, gathered together in one 8-byte record.
_PACKED = np.dtype([("thr", "<f4"), ("lo", "<u2"), ("hi", "<u2")])


@dataclass
class _Reference:
    """How to normalise draws of one indicator against its reference values.

    ``method`` is the normalisation. Percentile and rank: ``level1`` has one group per
    reference region, its bins broadcast per place in ``bins``; ``level2`` splits each level-1
    slot holding distinct values into finer bins (``sub`` maps a level-1 slot to its level-2
    group, -1 for none); a draw in a level-2 slot that still holds distinct values is counted
    exactly by binary search in ``keys`` (the regions' sorted values), from the region's
    ``starts`` and ``size``; in a region too large for exact tables (:data:`MAX_BINS`) such a
    draw takes the count below its slot, within ``error_bound``. Min-max and z-score: ``affine`` = (a, b) per place, the
    normalised value being ``a x + b`` (clipped, or the standard normal CDF). The per-place
    arrays follow the place order of the draws (:meth:`permuted`).
    """

    method: str
    bins: _Bins | None
    level1: _Tables | None
    level2: _Tables | None
    sub: np.ndarray
    keys: np.ndarray
    starts: np.ndarray
    size: np.ndarray
    code: np.ndarray
    affine: tuple[np.ndarray, np.ndarray] | None = None
    error_bound: float = 0.0

    def permuted(self, perm: np.ndarray) -> _Reference:
        """The same reference for draws whose places come in the order `perm`."""
        bins = self.bins
        if bins is not None and bins.scale.size > 1:
            bins = bins.at(perm)
        affine = None if self.affine is None else (self.affine[0][perm], self.affine[1][perm])
        return _Reference(self.method, bins, self.level1, self.level2, self.sub, self.keys,
                          self.starts[perm], self.size[perm], self.code[perm], affine,
                          self.error_bound)  # fmt: skip


def _percent_units(k: np.ndarray, m: np.ndarray) -> np.ndarray:
    """CDC PERCENTRANK.INC ``k / (m - 1)`` in units of 1e-4, rounded half up, at most 10,000.

    ``floor(k 10^4 / d + 1/2)`` in float64 is exact here: a quotient that is not a half
    integer lies at least ``1 / (2 d)`` from one, far above float64 rounding for any ``d``
    below 10^11. A region of one value gives 10,000 (Excel: 1).
    """
    m = np.asarray(m, dtype=np.float64)
    d = np.maximum(m - 1.0, 1.0)
    units = np.floor(np.asarray(k, dtype=np.float64) * 10_000.0 / d + 0.5)
    return np.where(m <= 1, 10_000, np.minimum(units, 10_000)).astype(np.uint16)


def _score(k: np.ndarray, eq: np.ndarray, m: np.ndarray, method: str) -> np.ndarray:
    """Normalised value of a draw with `k` reference values below it and `eq` equal to it."""
    if method == "percentile":
        return (_percent_units(k, m) / np.float32(10_000)).astype(np.float32)
    one = m <= 1
    den = np.where(one, 1.0, m - 1.0)
    out = (k + np.maximum(eq - 1, 0) / 2.0) / den  # "rank": the average rank of the ties
    return np.where(one, 1.0, np.minimum(out, 1.0)).astype(np.float32)


def _runs(slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (inclusive) of the runs of equal values of a sorted array."""
    change = np.flatnonzero(slot[1:] != slot[:-1]) + 1
    start = np.concatenate([[0], change])
    end = np.concatenate([change, [slot.size]]) - 1
    return start, end


def _mixed_values(rv: np.ndarray, slot: np.ndarray) -> int:
    """How many values share a slot with a different value."""
    if not rv.size:
        return 0
    start, end = _runs(slot)
    mixed = rv[start] != rv[end]
    return int((end - start + 1)[mixed].sum())


def _tables(
    rv: np.ndarray, rg: np.ndarray, ngroups: int, base: np.ndarray, m: np.ndarray, method: str,
    spacing: int = 0, cap: int | None = None,
) -> tuple[_Tables, np.ndarray, np.ndarray, float]:  # fmt: skip
    """Tables of float32 values `rv` sorted by (group `rg`, value).

    `base` is, per group, the number of its region's values below the group (0 for a whole
    region), `m` the size of the group's region. Also returns, per value, its slot, per slot
    the number of the region's values below it, and the error bound of the groups that `cap`
    limited (their slots of distinct values answer with the count below the slot: +inf
    threshold, not NaN).
    """
    bins, slot, nslots = _bins(rv, rg, ngroups, spacing, cap=cap)
    total = int(nslots.sum())
    count = np.bincount(slot, minlength=total)
    first = np.full(total, np.inf, dtype=np.float32)
    last = np.full(total, -np.inf, dtype=np.float32)
    if rv.size:
        start, end = _runs(slot)  # slots rise with the values within a group, and by group
        first[slot[start]] = rv[start]
        last[slot[start]] = rv[end]
    group = np.repeat(np.arange(ngroups), nslots)
    size = np.bincount(rg, minlength=ngroups)
    below = np.cumsum(count) - count - np.repeat(np.cumsum(size) - size, nslots) + base[group]
    region = m[group]
    thr = np.where(count == 0, np.float32(np.inf), np.where(first == last, first, np.nan))
    thr = thr.astype(np.float32)
    bound = 0.0
    if cap is not None:  # capped groups: approximate their mixed slots, within the bound
        capped = np.repeat(nslots - 2 >= cap, nslots) & np.isnan(thr)
        if capped.any():
            bound = float(np.max(count[capped] / np.maximum(region[capped] - 1, 1)))
            thr[capped] = np.inf
    packed = None
    if method == "percentile":
        packed = np.empty(total, dtype=_PACKED)
        packed["thr"] = thr
        packed["lo"] = _percent_units(below, region)
        packed["hi"] = _percent_units(below + count, region)
        f_lo = f_eq = packed["lo"] / np.float32(10_000)
        f_hi = packed["hi"] / np.float32(10_000)
    else:
        f_lo = _score(below, np.zeros_like(below), region, method)
        f_eq = _score(below, count, region, method)
        f_hi = _score(below + count, np.zeros_like(below), region, method)
    tables = _Tables(bins=bins, thr=thr, f_lo=f_lo, f_eq=f_eq, f_hi=f_hi, packed=packed)
    return tables, slot, below, bound


def _reference(values: np.ndarray, codes: np.ndarray, mask: np.ndarray, method: str) -> _Reference:
    """The normalisation of draws against `values` (the adjusted reference) within `codes`."""
    ncode = int(codes.max()) + 1 if codes.size else 1
    ref32 = np.where(mask, values, 0.0).astype(np.float32)
    order = np.lexsort((ref32[mask], codes[mask]))
    rv = ref32[mask][order]
    rg = codes[mask][order]
    size = np.bincount(rg, minlength=ncode)
    starts = np.cumsum(size) - size
    common = {
        "keys": (rg.astype(np.uint64) << np.uint64(32)) | _order_keys(rv).astype(np.uint64),
        "starts": starts[codes],
        "size": size[codes],
        "code": codes,
    }
    if method in ("minmax", "zscore"):
        affine = _affine(method, ncode, rv, rg, starts, size)
        return _Reference(method, None, None, None, np.zeros(0, dtype=np.int64),
                          affine=(affine[0][codes], affine[1][codes]), **common)  # fmt: skip
    cap = MAX_BINS
    spacing = min(SPACINGS, key=lambda k: _mixed_values(rv, _bins(rv, rg, ncode, k, cap=cap)[1]))
    t1, slot, below, bound = _tables(rv, rg, ncode, np.zeros(ncode, dtype=np.int64), size,
                                     method, spacing, cap)  # fmt: skip
    # level 2: the values of level-1 slots that hold distinct values, one group per slot
    mixed_slots = np.flatnonzero(np.isnan(t1.thr))
    sub = np.full(t1.thr.size, -1, dtype=np.int64)
    sub[mixed_slots] = np.arange(mixed_slots.size)
    in_mixed = sub[slot] >= 0
    region_of_slot = np.repeat(np.arange(ncode), (t1.bins.last - t1.bins.first + 1).astype(int))
    t2, _, _, _ = _tables(
        rv[in_mixed], sub[slot[in_mixed]], mixed_slots.size, below[mixed_slots],
        size[region_of_slot[mixed_slots]], method,
    )  # fmt: skip
    # one region: its bins' parameters (arrays of one) broadcast over the places
    bins = t1.bins if ncode == 1 else t1.bins.at(codes)
    return _Reference(method, bins, t1, t2, sub, error_bound=bound, **common)


def _affine(method: str, ncode: int, rv: np.ndarray, rg: np.ndarray, starts: np.ndarray,
            size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per region (a, b): min-max ``a x + b`` or the z-score ``a x + b``."""
    has = size > 0
    if method == "minmax":
        lo = np.zeros(ncode)
        hi = np.zeros(ncode)
        lo[has] = rv[starts[has]]
        hi[has] = rv[starts[has] + size[has] - 1]
        span = hi - lo
        a = np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 0.0)
        b = np.where(span > 0, -lo * a, 0.5)
    else:
        x = rv.astype(np.float64)
        n = np.maximum(size, 1)
        mean = np.bincount(rg, weights=x, minlength=ncode) / n
        sd = np.sqrt(np.bincount(rg, weights=(x - mean[rg]) ** 2, minlength=ncode) / n)
        a = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 0.0)
        b = -mean * a
    return a.astype(np.float32), b.astype(np.float32)


def _normalise_draws(
    x: np.ndarray,
    ref: _Reference,
    pool: dict[Any, np.ndarray] | None = None,
    *,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Draws (rows, places, float32, finite) normalised against the reference, in [0, 1].

    Percentile and rank: one slot lookup and one comparison per draw (a second, finer level
    for draws in a slot of distinct reference values; a binary search for the rare draw still
    in such a slot): exact. Min-max and z-score: the adjusted reference's minimum and maximum,
    or mean and standard deviation, of the place's region. With `weight` (per place), the
    normalised values times the weight. With `pool` (one per thread), the work arrays and the
    result are buffers of the pool, reused by the next call: use the result before calling
    again.
    """
    buf = _Buffers(pool, x.shape)
    out = buf.get("out", np.float32)
    if ref.affine is not None:
        a, b = ref.affine
        np.multiply(x, a, out=out)
        out += b
        if ref.method == "zscore":
            ndtr(out, out=out)
        else:
            np.clip(out, np.float32(0.0), np.float32(1.0), out=out)
        if weight is not None:
            out *= weight
        return out
    t1, bins = ref.level1, ref.bins
    assert t1 is not None and bins is not None
    slot = buf.get("slot", np.int32)
    np.copyto(slot, bins.slots(x, out=buf.get("t", np.float32)), casting="unsafe")
    above = buf.get("above", np.bool_)
    if t1.packed is not None:  # percentile: one 8-byte gather per draw
        rec = np.take(t1.packed, slot, out=buf.get("packed", _PACKED), mode="clip")
        thr = rec["thr"]
        np.greater(x, thr, out=above)
        units = np.where(above, rec["hi"], rec["lo"])
        w = np.float32(1e-4) if weight is None else weight * np.float32(1e-4)
        np.multiply(units, w, out=out)
    else:
        thr = np.take(t1.thr, slot, out=buf.get("thr", np.float32), mode="clip")
        np.greater(x, thr, out=above)
        np.take(t1.f_lo, slot, out=out, mode="clip")
        hi = np.take(t1.f_hi, slot, out=buf.get("hi", np.float32), mode="clip")
        np.copyto(out, hi, where=above)
        eq = np.equal(x, thr, out=above)
        if eq.any():
            out[eq] = t1.f_eq.take(slot[eq])
        if weight is not None:
            out *= weight
    _resolve_mixed(x, ref, slot, thr, out, weight)
    return out


def _resolve_mixed(x: np.ndarray, ref: _Reference, slot: np.ndarray, thr: np.ndarray,
                   out: np.ndarray, weight: np.ndarray | None) -> None:  # fmt: skip
    """Exact values (times the weight) for the draws in level-1 slots of distinct values."""
    if ref.level2 is None or not ref.level2.thr.size:  # no such slot (or all approximated)
        return
    flat = np.flatnonzero(np.isnan(thr))
    if not flat.size:
        return
    n = x.shape[-1]
    cols = flat % n
    v = x.reshape(-1)[flat]
    t2 = ref.level2
    assert t2 is not None
    g = ref.sub[slot.reshape(-1)[flat]]
    s2 = t2.bins.at(g).slots(v).astype(np.int64)
    thr2 = t2.thr.take(s2)
    val = np.where(v > thr2, t2.f_hi.take(s2), t2.f_lo.take(s2))
    if ref.method == "rank":
        eq = v == thr2
        val[eq] = t2.f_eq.take(s2[eq])
    still = np.isnan(thr2)
    if still.any():
        val[still] = _exact(v[still], cols[still], ref)
    out.reshape(-1)[flat] = val if weight is None else val * weight[cols]


class _Buffers:
    """Work arrays of one shape from a pool (fresh ones without a pool)."""

    def __init__(self, pool: dict[Any, np.ndarray] | None, shape: tuple[int, ...]) -> None:
        self.pool = pool
        self.shape = shape

    def get(self, name: str, dtype: Any) -> np.ndarray:
        size = int(np.prod(self.shape))
        if self.pool is None:
            return np.empty(self.shape, dtype=dtype)
        key = ("reference", name, np.dtype(dtype).str)
        buf = self.pool.get(key)
        if buf is None or buf.size < size:
            buf = self.pool[key] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(self.shape)


def _exact(v: np.ndarray, cols: np.ndarray, ref: _Reference) -> np.ndarray:
    """Normalised values of draws `v` of places `cols`, by binary search in the reference."""
    key = (ref.code[cols].astype(np.uint64) << np.uint64(32)) | _order_keys(v).astype(np.uint64)
    start = ref.starts[cols]
    below = np.searchsorted(ref.keys, key, side="left") - start
    equal = np.searchsorted(ref.keys, key, side="right") - start - below
    return _score(below, equal, ref.size[cols], ref.method)

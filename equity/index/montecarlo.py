"""The Monte Carlo engine: index draws, their ranks and in-state top-k counts, and intervals.

:func:`_simulate` draws every varying indicator (:mod:`equity.index._mc_draws`), normalises
each draw against its reference group (percentile ranks through
:mod:`equity.index._mc_ranks`), weights and aggregates the draws into index draws and ranks
them, vectorised over places and draws. Draws are made in chunks, each with its own seed
spawned from the run's seed, shared by :data:`MC_THREADS` threads (numpy releases the GIL in
sorting, random generation and arithmetic), so results do not depend on the number of
threads. :func:`_draw_quantiles` reads the 90% intervals off the draws.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from equity.index._mc_draws import (
    _LOWER_ZERO_UNITS,
    _draw_specs,
    _DrawSpec,
    _scratch,
    _std_normal,
)
from equity.index._mc_ranks import (
    _ROW_BUFFERS,
    _draw_percentile_bound,
    _draw_rank_desc,
    _draw_rank_desc_bound,
    _Layout,
    _layout,
    _sqrt_spacing,
    _top1_counts,
)
from equity.index.model import (
    _aggregate,
    _Model,
    _oriented_norm,
    _pillar_layout,
    _place_pillar_weights,
)
from equity.ranking import group_starts, min_rank_descending

__all__ = ["MC_THREADS"]

#: Threads sharing the Monte Carlo chunks (numpy releases the GIL in sorting, random
#: generation and arithmetic). Results do not depend on it: each chunk has its own seed.
MC_THREADS: int = max(1, min(4, os.cpu_count() or 1))


def _chunk_size(n: int, n_draws: int) -> int:
    """Draws per chunk for `n` places."""
    # about 512k values per array: the working set of a chunk stays in cache; at least two
    # draws (an antithetic pair, see _std_normal) up to 2M places
    floor = 2 if n <= 2**21 else 1
    return int(max(1, min(n_draws, max(floor, 2**19 // max(n, 1)))))


def _simulate(
    table: pd.DataFrame,
    model: _Model,
    *,
    n_draws: int,
    seed: int,
    top_k: int,
    point_index: np.ndarray,
    point_norms: dict[str, np.ndarray],
    keep_ranks: bool = True,
) -> dict[str, Any]:
    """Index draws (float32, draws x places), overall-rank draws and in-state top-k counts.

    Returns a record with ``index`` (draws x places, 0-1), ``index_exact`` (the draws are the
    point estimate repeated: nothing varies or no draws), ``rank`` (draws x places, or None
    without `keep_ranks`), ``top_k_count`` (draws in the top `top_k` of the state, per
    place), ``pr_error_bound`` and ``rank_error_bound`` (of binned ranks, 0 when exact),
    ``n_unknown_moe`` and ``varying`` (the indicators drawn).
    """
    specs, counts, n_unknown = _draw_specs(table, model)
    out: dict[str, Any] = {"n_unknown_moe": n_unknown, "varying": [s.ind.name for s in specs]}
    if not specs or n_draws == 0:
        out.update(_constant_draws(model, point_index, n_draws, top_k, keep_ranks=keep_ranks))
        return out
    plan = _plan(
        model,
        specs,
        counts,
        n_draws=n_draws,
        seed=seed,
        top_k=top_k,
        point_index=point_index,
        point_norms=point_norms,
        keep_ranks=keep_ranks,
    )
    results = _run_chunks(plan)
    out["index"] = plan.index_draws
    out["index_exact"] = False
    out["rank"] = plan.rank_draws
    top_count = sum(r[0] for r in results)
    out["top_k_count"] = np.where(np.isfinite(point_index), top_count, np.nan)
    out["pr_error_bound"] = max(r[1] for r in results)
    out["rank_error_bound"] = max(r[2] for r in results)
    return out


def _constant_draws(
    model: _Model, point_index: np.ndarray, n_draws: int, top_k: int, *, keep_ranks: bool
) -> dict[str, Any]:
    """The record of :func:`_simulate` when nothing varies: every draw is the point estimate."""
    n = point_index.size
    point_rank = min_rank_descending(point_index.reshape(1, -1), np.zeros(n, dtype=np.int64))[0]
    in_state = min_rank_descending(point_index.reshape(1, -1), model.state_codes)[0]
    return {
        "index": np.broadcast_to(point_index.astype(np.float32), (n_draws, n)),
        "index_exact": True,
        "pr_error_bound": 0.0,
        "rank_error_bound": 0,
        "rank": np.broadcast_to(point_rank, (n_draws, n)) if keep_ranks else None,
        "top_k_count": np.where(
            np.isfinite(point_index), (in_state <= top_k) * float(n_draws), np.nan
        ),
    }


@dataclass
class _Plan:
    """Everything the chunks of one simulation share (read only, but for the output arrays)."""

    model: _Model
    specs: list[_DrawSpec]
    n: int
    n_draws: int
    top_k: int
    # index = const + sum of coef * normalised draw, per target ("index", or each pillar when
    # the aggregation is geometric)
    eff: dict[str, dict[str, np.ndarray]]
    place_w: dict[str, np.ndarray]
    valid_all: np.ndarray
    every_valid: bool
    keys: list[str]
    const32: dict[str, np.ndarray]
    coef: dict[tuple[str, str], np.ndarray]
    # ranking: percentile layouts per indicator (fast: every draw ranked through them)
    fast: bool
    lays: dict[str, _Layout]
    lay_all: _Layout | None
    lay_state: _Layout | None
    s_places: np.ndarray
    s_starts: np.ndarray
    s_sizes: np.ndarray
    # counts (estimate, SE) in float32 and values (point, SE) to draw from
    den_floor: dict[str, np.ndarray]
    e32: dict[str, np.ndarray]
    s32: dict[str, np.ndarray]
    has_se: dict[str, bool]
    v32: dict[str, tuple[np.ndarray, np.ndarray]]
    # chunks of draws, each with its own seed
    step: int
    starts: list[int]
    seeds: list[np.random.SeedSequence]
    index_draws: np.ndarray
    rank_draws: np.ndarray | None
    pools: dict[int, dict[Any, np.ndarray]] = field(default_factory=dict)  # per-thread buffers

    @property
    def geometric(self) -> bool:
        """Whether pillars are aggregated by geometric mean (each pillar then a target)."""
        return self.model.aggregation == "geometric"


def _plan(
    model: _Model,
    specs: list[_DrawSpec],
    counts: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    n_draws: int,
    seed: int,
    top_k: int,
    point_index: np.ndarray,
    point_norms: dict[str, np.ndarray],
    keep_ranks: bool,
) -> _Plan:
    """The shared state of a simulation: coefficients, rank layouts, counts and chunks."""
    n = point_index.size
    eff, valid = _pillar_layout(model)
    place_w, valid_all = _place_pillar_weights(model, valid)
    varying = {s.ind.name for s in specs}
    keys, const32, coef = _coefficients(model, eff, place_w, varying, point_norms, n)
    fast, lays, lay_all, lay_state = _rank_layouts(model, specs, valid_all, point_index, top_k)
    s_places, s_starts, s_sizes = _state_groups(model, valid_all)
    step = _chunk_size(n, n_draws)
    starts = list(range(0, n_draws, step))
    return _Plan(
        model=model,
        specs=specs,
        n=n,
        n_draws=n_draws,
        top_k=top_k,
        eff=eff,
        place_w=place_w,
        valid_all=valid_all,
        every_valid=bool(valid_all.all()),
        keys=keys,
        const32=const32,
        coef=coef,
        fast=fast,
        lays=lays,
        lay_all=lay_all,
        lay_state=lay_state,
        s_places=s_places,
        s_starts=s_starts,
        s_sizes=s_sizes,
        den_floor={name: (est > 0) for name, (est, _) in counts.items()},
        e32={name: est.astype(np.float32) for name, (est, _) in counts.items()},
        s32={name: se.astype(np.float32) for name, (_, se) in counts.items()},
        has_se={name: bool((se > 0).any()) for name, (_, se) in counts.items()},
        v32={
            s.ind.name: (s.point.astype(np.float32), s.value_se.astype(np.float32))
            for s in specs
            if s.value_se is not None
        },  # fmt: skip
        step=step,
        starts=starts,
        seeds=np.random.SeedSequence(seed).spawn(len(starts)),
        index_draws=np.empty((n_draws, n), dtype=np.float32),
        rank_draws=np.empty((n_draws, n), dtype=np.int32) if keep_ranks else None,
    )


def _coefficients(
    model: _Model,
    eff: dict[str, dict[str, np.ndarray]],
    place_w: dict[str, np.ndarray],
    varying: set[str],
    point_norms: dict[str, np.ndarray],
    n: int,
) -> tuple[list[str], dict[str, np.ndarray], dict[tuple[str, str], np.ndarray]]:
    """Targets, their constant parts and the coefficient of each varying indicator's draw.

    The target is the index (arithmetic mean) or each pillar (geometric mean, aggregated per
    draw). Indicators that do not vary join the constant part at their point value. A
    need-decreasing indicator under percentile normalisation enters as
    ``w * (1 - pr) = w - w * pr``: its ``w`` joins the constant part and its coefficient is
    ``-w``, so its draws are ranked unoriented.
    """
    geometric = model.aggregation == "geometric"
    keys = ["index"] if not geometric else list(eff)
    const = {k: np.zeros(n) for k in keys}
    coef: dict[tuple[str, str], np.ndarray] = {}
    for p, members in eff.items():
        target = p if geometric else "index"
        pw = 1.0 if geometric else place_w[p]
        for k, w_k in members.items():
            w = pw * w_k
            if k not in varying:
                const[target] += w * np.nan_to_num(point_norms[k])
            elif model.normalisation == "percentile" and model.indicators[k].direction == -1:
                const[target] += w
                coef[(target, k)] = (-w).astype(np.float32)
            else:
                coef[(target, k)] = w.astype(np.float32)
    const32 = {k: v.astype(np.float32) for k, v in const.items()}
    return keys, const32, coef


def _rank_layouts(
    model: _Model,
    specs: list[_DrawSpec],
    valid_all: np.ndarray,
    point_index: np.ndarray,
    top_k: int,
) -> tuple[bool, dict[str, _Layout], _Layout | None, _Layout | None]:
    """Rank layouts: per indicator (percentile normalisation), of the index, in the states.

    ``fast`` says whether every indicator's draws are percentile-ranked through its layout
    (percentile normalisation, and every layout's keys fit 64 bits); otherwise the draws are
    normalised by :func:`equity.index.normalise._normalise_rows`. Binned layouts get the bin
    spacing that suits their point values.
    """
    n = point_index.size
    fast = model.normalisation == "percentile"
    maybe = (
        {s.ind.name: _layout(s.mask, model.norm_codes, allow_binned=True) for s in specs}
        if fast
        else {}
    )
    fast = fast and all(lay is not None for lay in maybe.values())
    lays = {name: lay for name, lay in maybe.items() if lay is not None}
    for s in specs:
        lay = lays.get(s.ind.name)
        if lay is not None and lay.binned:
            lay.sqrt = _sqrt_spacing(s.point[s.mask])
    lay_all = _layout(valid_all, np.zeros(n, dtype=np.int64), allow_binned=True)
    if lay_all is not None and lay_all.binned:
        lay_all.sqrt = _sqrt_spacing(point_index[valid_all])
    lay_state = _layout(valid_all, model.state_codes) if top_k > 1 else None
    return fast, lays, lay_all, lay_state


def _state_groups(
    model: _Model, valid_all: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Places with an index sorted by state, and the start and size of each state's run.

    Top 1 in state (the default) needs no ranking: a place is first when it equals its
    state's maximum (:func:`equity.index._mc_ranks._top1_counts`).
    """
    vidx = np.flatnonzero(valid_all)
    _, sg = np.unique(model.state_codes[vidx], return_inverse=True)
    sperm = np.argsort(sg.reshape(-1), kind="stable")
    s_starts = group_starts(sg.reshape(-1)[sperm])
    s_sizes = np.diff(np.r_[s_starts, vidx.size])
    return vidx[sperm], s_starts, s_sizes


def _run_chunks(plan: _Plan) -> list[tuple[np.ndarray, float, int]]:
    """Run every chunk of draws, on :data:`MC_THREADS` threads when there are several."""
    threads = min(MC_THREADS, len(plan.starts))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(lambda i: _run_chunk(plan, i), range(len(plan.starts))))
    else:
        results = [_run_chunk(plan, i) for i in range(len(plan.starts))]
    _ROW_BUFFERS.__dict__.pop("pool", None)  # worker threads' buffers end with their threads
    return results


def _run_chunk(plan: _Plan, i: int) -> tuple[np.ndarray, float, int]:
    """One chunk of draws: index draws and ranks into the plan's arrays, and top-k counts.

    Returns the per-place count of draws in the state's top k and the error bounds of the
    binned percentile and index ranks met (0 when ranked exactly).
    """
    start = plan.starts[i]
    c = min(plan.step, plan.n_draws - start)
    draws = _ChunkDraws(plan, c, np.random.default_rng(plan.seeds[i]))
    acc, pr_err = _accumulate(plan, draws)
    idx = _index_rows(plan, acc, start, c)
    ok = idx if plan.every_valid else np.where(plan.valid_all, idx, np.float32(0.0))
    rank_err = _rank_rows(plan, idx, ok, start, c)
    return _top_counts(plan, idx, ok), pr_err, rank_err


class _ChunkDraws:
    """The draws of one chunk from its own generator.

    A count is drawn once, when the first indicator asks for it, and shared by every
    indicator that uses it; the order in which indicators ask fixes the draws of a seed.
    """

    def __init__(self, plan: _Plan, c: int, rng: np.random.Generator) -> None:
        self.plan = plan
        self.c = c
        self.rng = rng
        self.drawn: dict[Any, np.ndarray] = {}
        self.pool = plan.pools.setdefault(threading.get_ident(), {})

    def indicator(self, s: _DrawSpec) -> np.ndarray:
        """Draws of one indicator (chunk draws x places, float32)."""
        return self.ratio(s) if s.counts else self.value(s)

    def count(self, name: str) -> np.ndarray:
        """Draws of a count, truncated at 0 (the estimate itself if it has no error)."""
        plan, c, n = self.plan, self.c, self.plan.n
        if name not in self.drawn:
            if plan.has_se[name]:
                d = _std_normal(self.rng, (c, n), out=_scratch(self.pool, name, (c, n)))
                d *= plan.s32[name]
                d += plan.e32[name]
                np.maximum(d, np.float32(0.0), out=d)
            else:
                d = np.broadcast_to(plan.e32[name], (c, n))
            self.drawn[name] = d
        return self.drawn[name]

    def denominator(self, name: str) -> np.ndarray:
        """Draws of a denominator: a universe with a positive estimate holds at least one unit."""
        if (name, 1) not in self.drawn:
            den = self.count(name)
            floor = _scratch(self.pool, (name, 1), (self.c, self.plan.n))
            np.maximum(den, np.float32(1.0), out=floor)
            np.copyto(floor, den, where=~self.plan.den_floor[name])
            self.drawn[(name, 1)] = floor
        return self.drawn[(name, 1)]

    def ratio(self, s: _DrawSpec) -> np.ndarray:
        """Draws of a count indicator: numerator over denominator (a proportion capped at 1)."""
        ind = s.ind
        num = self.count(s.counts[0])
        for extra in s.counts[1:-1]:
            num = num + self.count(extra)
        den = self.denominator(s.counts[-1])
        x = np.minimum(num, den) if ind.moe_rule == "proportion" else num.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            x /= den
        if ind.complement:
            np.subtract(np.float32(1.0), x, out=x)
        if ind.scale != 1.0:
            x *= np.float32(ind.scale)
        return x

    def value(self, s: _DrawSpec) -> np.ndarray:
        """Draws of a value indicator from its MOE, truncated to its unit's range."""
        ind = s.ind
        point, se = self.plan.v32[ind.name]
        x = _std_normal(self.rng, (self.c, self.plan.n))
        x *= se
        x += point
        if ind.unit in _LOWER_ZERO_UNITS:
            np.maximum(x, np.float32(0.0), out=x)
        if ind.unit == "share":
            np.minimum(x, np.float32(1.0), out=x)
        return x


def _accumulate(plan: _Plan, draws: _ChunkDraws) -> tuple[dict[str, np.ndarray], float]:
    """Per target, constant part plus the weighted normalised draws of every indicator.

    Also returns the largest error bound of binned percentile ranks met (0 when exact).
    """
    acc = {k: np.repeat(v[None, :], draws.c, axis=0) for k, v in plan.const32.items()}
    pr_err = 0.0
    for s in plan.specs:
        norm, err = _normalised_draw(plan, s, draws.indicator(s))
        pr_err = max(pr_err, err)
        for target in plan.keys:
            w = plan.coef.get((target, s.ind.name))
            if w is not None:
                norm *= w
                acc[target] += norm
                break
    return acc, pr_err


def _normalised_draw(plan: _Plan, s: _DrawSpec, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Normalised draws of one indicator (0 for places without data) and their error bound.

    Percentile ranks of non-negative draws go through the indicator's layout, unoriented
    (the coefficient orients them, :func:`_coefficients`); anything else through the
    normalisation kernel, oriented, then unoriented again on the fast path.
    """
    ind = s.ind
    if not s.mask.all():
        x = np.where(s.mask, x, np.float32(0.0))
    nonneg = ind.unit in _LOWER_ZERO_UNITS or bool(x.min() >= 0)
    if plan.fast and nonneg:
        return _draw_percentile_bound(x, plan.lays[ind.name])
    x = np.where(s.mask[None, :], x, np.float32(np.nan)).astype(np.float32)
    norm = np.nan_to_num(_oriented_norm(x, ind, plan.model).astype(np.float32))
    if plan.fast and ind.direction == -1:  # coefficient expects the unoriented rank
        norm = np.float32(1.0) - norm
    return norm, 0.0


def _index_rows(plan: _Plan, acc: dict[str, np.ndarray], start: int, c: int) -> np.ndarray:
    """Index draws of the chunk (0-1, NaN without an index), stored in the plan's array."""
    if plan.geometric:
        idx = _aggregate(
            {p: acc[p].astype(np.float64) for p in plan.eff}, plan.model, plan.valid_all,
            plan.place_w,
        ).astype(np.float32)  # fmt: skip
        plan.index_draws[start : start + c] = idx
        return idx
    idx = plan.index_draws[start : start + c]
    np.clip(acc["index"], 0.0, 1.0, out=idx)
    if not plan.every_valid:
        idx[:, ~plan.valid_all] = np.nan
    return idx


def _rank_rows(plan: _Plan, idx: np.ndarray, ok: np.ndarray, start: int, c: int) -> int:
    """Overall ranks of the chunk's index draws into the plan's array; their error bound."""
    if plan.rank_draws is None:
        return 0
    if plan.lay_all is not None:
        plan.rank_draws[start : start + c], err = _draw_rank_desc_bound(ok, plan.lay_all)
        return err
    nation = np.zeros(plan.n, dtype=np.int64)
    plan.rank_draws[start : start + c] = np.nan_to_num(min_rank_descending(idx, nation), nan=0)
    return 0


def _top_counts(plan: _Plan, idx: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per place, the chunk's draws in which it ranks within the top k of its state."""
    if plan.top_k == 1:
        top = np.zeros(plan.n, dtype=np.int64)
        top[plan.s_places] = _top1_counts(ok, plan.s_places, plan.s_starts, plan.s_sizes)
        return top
    in_state = (
        _draw_rank_desc(ok, plan.lay_state) if plan.lay_state is not None
        else min_rank_descending(idx, plan.model.state_codes)
    )  # fmt: skip
    return ((in_state <= plan.top_k) & (in_state > 0)).sum(axis=0)


def _draw_quantiles(draws: np.ndarray, ranks: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Per column: 5th and 95th percentiles of the index draws, lower 5th / higher 95th of ranks.

    Columns are copied in blocks of 512 into contiguous (columns, draws) arrays whose rows are
    sorted (numpy's SIMD sort of 32-bit integers: ten times faster than ``partition`` with the
    several order statistics needed, which numpy does not vectorise, and three times faster
    again than partitioning the strided columns in place); the order statistics are then read
    off. Blocks are shared by :data:`MC_THREADS` threads (numpy releases the GIL while
    sorting); the result does not depend on the number of threads.
    """
    d, m = draws.shape
    k_lo, k_hi = int(np.floor(0.05 * (d - 1))), int(np.ceil(0.95 * (d - 1)))
    q = np.empty((2, m))
    rlo = np.empty(m)
    rhi = np.empty(m)

    # numpy's "linear" quantile: order statistics prev/next around (d - 1) q, interpolated
    probs = np.array([0.05, 0.95])
    virtual = (d - 1) * probs
    prev = np.floor(virtual)
    nxt = prev + 1
    prev[virtual >= d - 1] = nxt[virtual >= d - 1] = -1
    prev, nxt = prev.astype(np.intp), nxt.astype(np.intp)
    gamma = (virtual - prev).reshape(1, 2)
    width = 512

    def block(a: int) -> None:
        sl = slice(a, min(a + width, m))
        v = np.ascontiguousarray(draws[:, sl].T)  # (columns, draws)
        v += np.float32(0.0)  # -0.0 -> +0.0
        if v.min() >= 0:  # no NaN, not negative: the bits of float32 sort as the values
            v.view(np.int32).sort(axis=1)
            lo, hi = v[:, prev], v[:, nxt]
            diff = hi - lo  # as numpy.quantile interpolates (bit for bit)
            res = np.add(lo, diff * gamma)
            np.subtract(hi, diff * (1 - gamma), out=res, where=gamma >= 0.5)
            q[:, sl] = res.T
        else:
            q[:, sl] = np.quantile(v, probs, axis=1, overwrite_input=True)
        r = np.ascontiguousarray(ranks[:, sl].T)
        r.sort(axis=1)  # "lower" / "higher" quantiles
        rlo[sl] = r[:, k_lo]
        rhi[sl] = r[:, k_hi]

    starts = range(0, m, width)
    if MC_THREADS > 1 and len(starts) > 1:
        with ThreadPoolExecutor(min(MC_THREADS, len(starts))) as pool:
            list(pool.map(block, starts))
    else:
        for a in starts:
            block(a)
    return q, rlo, rhi

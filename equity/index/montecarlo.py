"""The Monte Carlo engine: index draws, in-state top-k counts and the intervals' quantiles.

:func:`_simulate` draws every indicator with sampling error (:mod:`equity.index._mc_draws`),
normalises each draw against the indicator's fixed reference distribution
(:mod:`equity.index._mc_reference`: the point estimates within the reference region, adjusted
for their sampling error), weights and aggregates the draws into index draws, and counts the
draws in which each place ranks within the top k of its state, vectorised over places and
draws. Draws are made in chunks, each with its own seed spawned from the run's seed, shared by
:data:`MC_THREADS` threads (numpy releases the GIL in random generation, lookups and
arithmetic), so results do not depend on the number of threads. :func:`_draw_quantiles`
reads the 90% intervals off the draws.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from equity.index import _mc_reference as _R
from equity.index._mc_draws import _draw_specs, _DrawSpec, _scratch, _std_normal
from equity.index._mc_ranks import _draw_rank_desc, _Layout, _layout, _top1_counts
from equity.index._mc_reference import (
    _adjusted_reference,
    _normalise_draws,
    _Reference,
    _reference,
)
from equity.index.model import _aggregate, _Model, _pillar_layout, _place_pillar_weights
from equity.ranking import group_starts, min_rank_descending

__all__ = ["MC_THREADS"]

#: Threads sharing the Monte Carlo chunks (numpy releases the GIL in random generation,
#: lookups and arithmetic). Results do not depend on it: each chunk has its own seed.
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
) -> dict[str, Any]:
    """Index draws (float32, draws x places, 0-1) and in-state top-k counts.

    Returns a record with ``index`` (draws x places), ``index_exact`` (the draws are the point
    estimate repeated: nothing varies or no draws), ``top_k_count`` (draws in the top `top_k`
    of the state, per place), ``varying`` (the indicators drawn), ``specs`` and ``refs``
    (their draw specs and references, for :func:`_delta_half_width`) and ``draw_record``
    (imputed MOEs and coded values, :func:`equity.index._mc_draws._draw_specs`).
    """
    specs, record = _draw_specs(table, model)
    refs = [_spec_reference(s, model) for s in specs]
    out: dict[str, Any] = {
        "draw_record": record,
        "varying": [s.ind.name for s in specs],
        "specs": specs,
        "refs": refs,
    }
    if not specs or n_draws == 0:
        out.update(_constant_draws(model, point_index, n_draws, top_k))
        return out
    plan = _plan(model, specs, refs, n_draws=n_draws, seed=seed, top_k=top_k,
                 point_index=point_index, point_norms=point_norms)  # fmt: skip
    counts = _run_chunks(plan)
    out["index"] = plan.index_draws
    out["index_exact"] = False
    out["top_k_count"] = np.where(np.isfinite(point_index), sum(counts), np.nan)
    return out


def _spec_reference(spec: _DrawSpec, model: _Model) -> _Reference:
    """The fixed reference the draws of one indicator are normalised against."""
    adjusted = _adjusted_reference(spec.y, spec.se, model.norm_codes, spec.mask)
    return _reference(adjusted, model.norm_codes, spec.mask, model.normalisation)


def _constant_draws(
    model: _Model, point_index: np.ndarray, n_draws: int, top_k: int
) -> dict[str, Any]:
    """The record of :func:`_simulate` when nothing varies: every draw is the point estimate."""
    n = point_index.size
    return {
        "index": np.broadcast_to(point_index.astype(np.float32), (n_draws, n)),
        "index_exact": True,
        "top_k_count": _point_top_k(point_index, model.state_codes, top_k) * float(n_draws),
    }


def _point_top_k(point: np.ndarray, codes: np.ndarray, top_k: int) -> np.ndarray:
    """1 for a place within the top k of its state (a first place tied by t places: 1 / t)."""
    in_state = min_rank_descending(point.reshape(1, -1), codes)[0]
    out = (in_state <= top_k).astype(float)
    if top_k == 1:
        first = in_state == 1
        ties = pd.Series(first.astype(float)).groupby(codes).transform("sum").to_numpy()
        out = np.where(first, 1.0 / np.maximum(ties, 1.0), 0.0)
    return np.where(np.isfinite(point), out, np.nan)


@dataclass
class _Varying:
    """One varying indicator, its places in the order of their values (``perm``).

    When the reference has several regions whose tables together outgrow the processor's
    cache, drawing and normalising the places in the order of their values (``perm``) makes
    the lookups nearly sequential; ``inv`` puts the result back in place order (both None:
    place order). ``y32``, ``se32``, ``side`` and ``weight`` (the indicator's coefficient in
    ``target``) are in the drawing order.
    """

    spec: _DrawSpec
    perm: np.ndarray | None
    inv: np.ndarray | None
    y32: np.ndarray
    se32: np.ndarray
    side: np.ndarray | None
    ref: _Reference
    target: str
    weight: np.ndarray


def _varying(spec: _DrawSpec, ref: _Reference, model: _Model, target: str,
             weight: np.ndarray) -> _Varying:  # fmt: skip
    """The indicator's draw data, in the order of its values within reference regions when
    the reference's tables outgrow the cache (several regions), else in place order."""
    t1 = ref.level1
    if t1 is None or t1.thr.size <= _R.MAX_BINS + 2:  # one cache-sized table: keep the order
        return _Varying(spec, None, None, spec.y.astype(np.float32), spec.se.astype(np.float32),
                        spec.side, ref, target, weight)  # fmt: skip
    perm = np.lexsort((spec.y, model.norm_codes))
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    return _Varying(
        spec=spec,
        perm=perm,
        inv=inv,
        y32=spec.y[perm].astype(np.float32),
        se32=spec.se[perm].astype(np.float32),
        side=None if spec.side is None else spec.side[perm],
        ref=ref.permuted(perm),
        target=target,
        weight=weight[perm],
    )


@dataclass
class _Plan:
    """Everything the chunks of one simulation share (read only, but for the output array)."""

    model: _Model
    specs: list[_DrawSpec]
    refs: list[_Reference]
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
    # top k in state: places sorted by state (top 1) or their rank layout (top k > 1)
    lay_state: _Layout | None
    s_places: np.ndarray
    s_starts: np.ndarray
    s_sizes: np.ndarray
    # per varying indicator: what to draw and how to normalise it, in its own place order
    varying: list[_Varying]
    # chunks of draws, each with its own seed
    step: int
    starts: list[int]
    seeds: list[np.random.SeedSequence]
    index_draws: np.ndarray
    pools: dict[int, dict[Any, np.ndarray]] = field(default_factory=dict)  # per-thread buffers

    @property
    def geometric(self) -> bool:
        """Whether pillars are aggregated by geometric mean (each pillar then a target)."""
        return self.model.aggregation == "geometric"


def _plan(
    model: _Model,
    specs: list[_DrawSpec],
    refs: list[_Reference],
    *,
    n_draws: int,
    seed: int,
    top_k: int,
    point_index: np.ndarray,
    point_norms: dict[str, np.ndarray],
) -> _Plan:
    """The shared state of a simulation: coefficients, references, state groups and chunks."""
    n = point_index.size
    eff, valid = _pillar_layout(model)
    place_w, valid_all = _place_pillar_weights(model, valid)
    varying = {s.ind.name for s in specs}
    keys, const32, coef = _coefficients(model, eff, place_w, varying, point_norms, n)
    s_places, s_starts, s_sizes = _state_groups(model, valid_all)
    step = _chunk_size(n, n_draws)
    starts = list(range(0, n_draws, step))
    return _Plan(
        model=model,
        specs=specs,
        refs=refs,
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
        lay_state=_layout(valid_all, model.state_codes) if top_k > 1 else None,
        s_places=s_places,
        s_starts=s_starts,
        s_sizes=s_sizes,
        varying=[
            _varying(s, r, model, *next((t, w) for (t, k), w in coef.items() if k == s.ind.name))
            for s, r in zip(specs, refs, strict=True)
        ],
        step=step,
        starts=starts,
        seeds=np.random.SeedSequence(seed).spawn(len(starts)),
        index_draws=np.empty((n_draws, n), dtype=np.float32),
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
    draw). Indicators that do not vary join the constant part at their point value; the
    normalised draws are oriented towards need, so every coefficient is the indicator's
    weight.
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
            if k in varying:
                coef[(target, k)] = w.astype(np.float32)
            else:
                const[target] += w * np.nan_to_num(point_norms[k])
    const32 = {k: v.astype(np.float32) for k, v in const.items()}
    return keys, const32, coef


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


def _run_chunks(plan: _Plan) -> list[np.ndarray]:
    """Run every chunk of draws, on :data:`MC_THREADS` threads when there are several."""
    threads = min(MC_THREADS, len(plan.starts))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda i: _run_chunk(plan, i), range(len(plan.starts))))
    return [_run_chunk(plan, i) for i in range(len(plan.starts))]


def _run_chunk(plan: _Plan, i: int) -> np.ndarray:
    """One chunk of draws: index draws into the plan's array; per place, draws in the top k."""
    start = plan.starts[i]
    c = min(plan.step, plan.n_draws - start)
    rng = np.random.default_rng(plan.seeds[i])
    pool = plan.pools.setdefault(threading.get_ident(), {})
    acc = {k: np.repeat(v[None, :], c, axis=0) for k, v in plan.const32.items()}
    back = _scratch(pool, "back", (c, plan.n))
    for v in plan.varying:
        x = _draw_values(v.spec, v.y32, v.se32, v.side, rng, _scratch(pool, "draw", (c, plan.n)))
        norm = _normalise_draws(x, v.ref, pool, weight=v.weight)
        acc[v.target] += norm if v.inv is None else np.take(norm, v.inv, axis=1, out=back,
                                                            mode="clip")  # fmt: skip
    idx = _index_rows(plan, acc, start, c)
    ok = idx if plan.every_valid else np.where(plan.valid_all, idx, np.float32(0.0))
    return _top_counts(plan, idx, ok)


def _draw_values(spec: _DrawSpec, y32: np.ndarray, se32: np.ndarray, side: np.ndarray | None,
                 rng: np.random.Generator, out: np.ndarray) -> np.ndarray:  # fmt: skip
    """Draws of one indicator into `out` (draws x places): oriented, within its bounds.

    ``y + SE z`` with standard normal ``z`` (``|z|`` towards ``side`` for a coded value),
    clipped to the indicator's range: clipping moves no quantile inside the range, so the
    median draw is the estimate.
    """
    x = _std_normal(rng, out.shape, out=out)
    if side is not None:  # coded values: only the open side of the code
        one_sided = side != 0
        x[:, one_sided] = np.abs(x[:, one_sided]) * side[one_sided]
    x *= se32
    x += y32
    lo, hi = spec.bounds
    if np.isfinite(lo) or np.isfinite(hi):
        np.clip(x, np.float32(lo), np.float32(hi), out=x)
    return x


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


def _top_counts(plan: _Plan, idx: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per place, the chunk's draws in which it ranks within the top k of its state."""
    if plan.top_k == 1:
        top = np.zeros(plan.n, dtype=np.float64)
        top[plan.s_places] = _top1_counts(ok, plan.s_places, plan.s_starts, plan.s_sizes)
        return top
    in_state = (
        _draw_rank_desc(ok, plan.lay_state) if plan.lay_state is not None
        else min_rank_descending(idx, plan.model.state_codes)
    )  # fmt: skip
    return ((in_state <= plan.top_k) & (in_state > 0)).sum(axis=0)


def _delta_half_width(model: _Model, specs: list[_DrawSpec], refs: list[_Reference]) -> np.ndarray:
    """Approximate half-width of the index's 90% interval without draws (0-100 scale).

    Each varying indicator's normalised value moves by half the distance between the
    reference's values at the ends of its 90% interval (estimate +- 1.645 SE, within its
    bounds); the index's half-width is the root of the sum of squares of those moves times the
    place's weights (the moves of independent indicators add in quadrature).
    """
    eff, valid = _pillar_layout(model)
    place_w, _ = _place_pillar_weights(model, valid)
    total = np.zeros(model.norm_codes.size)
    z = np.float32(1.6448536)
    for spec, ref in zip(specs, refs, strict=True):
        w = sum(place_w[p] * eff[p].get(spec.ind.name, 0.0) for p in eff)
        lo, hi = spec.bounds
        ends = np.vstack([spec.y - z * spec.se, spec.y + z * spec.se]).astype(np.float32)
        np.clip(ends, np.float32(lo), np.float32(hi), out=ends)
        norm = _normalise_draws(ends, ref)
        total += np.square(np.asarray(w) * (norm[1] - norm[0]) / 2.0)
    return 100.0 * np.sqrt(total)


def _draw_quantiles(draws: np.ndarray) -> np.ndarray:
    """Per column, the 5th and 95th percentiles of the index draws (numpy's "linear").

    Columns are copied in blocks of 512 into contiguous (columns, draws) arrays whose rows are
    sorted (numpy's SIMD sort: ten times faster than ``partition`` with the two order
    statistics needed, which numpy does not vectorise); the order statistics are then read off
    and interpolated as :func:`numpy.quantile` does, bit for bit. Blocks are shared by
    :data:`MC_THREADS` threads; the result does not depend on the number of threads.
    """
    d, m = draws.shape
    q = np.empty((2, m))
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

    starts = range(0, m, width)
    if MC_THREADS > 1 and len(starts) > 1:
        with ThreadPoolExecutor(min(MC_THREADS, len(starts))) as pool:
            list(pool.map(block, starts))
    else:
        for a in starts:
            block(a)
    return q

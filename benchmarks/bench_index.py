"""Benchmark of the index's Monte Carlo engine against a straightforward per-draw pandas loop.

85,000 synthetic tracts x 15 indicators x 1,000 draws (defaults), in one run:

* ``equity.index.compute_index`` (vectorised over places and draws, processed in chunks of
  draws shared by ``MC_THREADS`` threads; every draw normalised exactly against the fixed
  reference by table lookups): wall time and peak memory (peak resident set size of the
  process above its size before the call, from ``getrusage``; and the peak of Python/numpy
  allocations from ``tracemalloc`` in a second, traced run when ``--trace`` is given);
* a reference written the straightforward way: one pandas iteration per draw of the same
  model (draw every indicator from its value and standard error, clip it to its range,
  normalise it against the same fixed reference with ``numpy.searchsorted``, pillar means,
  index, rank). It is timed on ``--baseline-draws`` draws only and extrapolated linearly to
  ``--draws`` (the loop body does the same work every draw); the ratio uses the extrapolated
  time.

The 15 indicators are those of the ``techspark`` preset with ACS, Ookla and Microsoft data plus
``share_no_wired_broadband`` and ``upload_mbps``: 9 ACS shares drawn from their counts (7
universes), median income and 3 Ookla values drawn from their MOEs, and 2 county context values
without sampling error (as in real data), which both implementations normalise once.

Usage::

    python benchmarks/bench_index.py [--n 85000] [--draws 1000] [--baseline-draws 5] [--trace]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from equity import index as index_mod
from equity import indicators as ind_mod
from equity.index import PRESETS, compute_index

EXTRA_WEIGHTS = {"share_no_wired_broadband": 1.0, "upload_mbps": 1.0}
UNIVERSES = {
    "hh_internet_universe": ("hh_no_internet", "hh_broadband", "hh_cable_fiber_dsl"),
    "hh_computer_universe": ("hh_no_computer",),
    "pop_age_universe": ("pop_65_plus",),
    "pop_25_plus": ("pop_no_hs_diploma",),
    "pop_disability_universe": ("pop_with_disability",),
    "hh_language_universe": ("hh_limited_english",),
    "pop_poverty_universe": ("pop_below_poverty",),
}


def synthetic_tracts(n: int, *, seed: int = 0) -> pd.DataFrame:
    """Tract-like counts with ACS-like MOEs, Ookla values and county context."""
    rng = np.random.default_rng(seed)
    hh = rng.integers(300, 3000, n).astype(float)
    pop = np.round(hh * rng.uniform(2.0, 3.0, n))
    cols: dict[str, np.ndarray] = {
        "GEOID": np.array(
            [f"{s:02d}{i:09d}" for s, i in zip(rng.integers(1, 57, n), range(n), strict=True)]
        ),
    }
    cols["state_GEOID"] = np.array([g[:2] for g in cols["GEOID"]])
    sizes = {"hh": hh, "pop": pop}
    for uni, parts in UNIVERSES.items():
        base = sizes["hh" if uni.startswith("hh") else "pop"]
        cols[uni] = base
        cols[f"moe_{uni}"] = np.sqrt(base) * rng.uniform(1.0, 4.0, n)
        for part in parts:
            hi = 0.95 if part in ("hh_broadband", "hh_cable_fiber_dsl") else 0.4
            lo = 0.5 if hi == 0.95 else 0.0
            x = np.floor(base * rng.uniform(lo, hi, n))
            cols[part] = x
            cols[f"moe_{part}"] = np.sqrt(x) * rng.uniform(1.5, 4.0, n) + 10
    cols["median_household_income"] = np.round(rng.lognormal(11, 0.4, n))
    cols["moe_median_household_income"] = cols["median_household_income"] * rng.uniform(
        0.05, 0.3, n
    )
    cols["download_mbps"] = rng.lognormal(4.5, 0.6, n)
    cols["upload_mbps"] = cols["download_mbps"] * rng.uniform(0.05, 0.5, n)
    cols["share_tests_below_25_3"] = rng.beta(1, 6, n)
    cols["ookla_tests"] = rng.integers(5, 500, n).astype(float)
    cols["broadband_usage"] = rng.uniform(0.2, 0.9, n).round(3)
    cols["broadband_availability"] = rng.uniform(0.6, 1.0, n).round(3)
    return pd.DataFrame(cols)


def baseline_loop(
    table: pd.DataFrame,
    *,
    n_draws: int,
    seed: int,
    extra: dict[str, float] | None = None,
) -> np.ndarray:
    """The straightforward implementation: one pandas pass per draw (same model).

    `extra` are the indicators added to the ``techspark`` preset (default
    :data:`EXTRA_WEIGHTS`, as ``compute_index(weights=EXTRA_WEIGHTS)``; ``{}`` for the preset
    alone, as the pipeline's default ``compute_index`` call).
    """
    from equity.index._mc_reference import _adjusted_reference

    rng = np.random.default_rng(seed)
    used = _used_pillars(table, extra)
    point = ind_mod.compute_indicators(table)
    n = len(table)
    nation = np.zeros(n, dtype=np.int64)
    refs, values, ses = {}, {}, {}
    for name in {k for m in used.values() for k in m}:
        ind = ind_mod.REGISTRY[name]
        y = ind.direction * point[name].to_numpy(float)
        se = (
            point[f"moe_{name}"].to_numpy(float) / 1.645
            if ind.moe_rule != "none" and f"moe_{name}" in point
            else np.zeros(n)
        )
        values[name], ses[name] = y, se
        refs[name] = np.sort(_adjusted_reference(y, se, nation, np.isfinite(y)))
    out = np.empty((n, n_draws))
    for d in range(n_draws):
        norms = {}
        for name, y in values.items():
            ind = ind_mod.REGISTRY[name]
            x = pd.Series(y + ses[name] * rng.standard_normal(n))
            if ind.unit == "share":
                x = x.clip(-1, 0) if ind.direction < 0 else x.clip(0, 1)
            elif ind.unit in ("mbps", "usd"):
                x = x.clip(upper=0) if ind.direction < 0 else x.clip(lower=0)
            below = np.searchsorted(refs[name], x.to_numpy(), side="left")
            norms[name] = pd.Series(np.minimum(np.round(below / (n - 1), 4), 1.0))
        scores = [pd.concat([norms[k] for k in m], axis=1).mean(axis=1) for m in used.values()]
        idx = 100 * pd.concat(scores, axis=1).mean(axis=1)
        out[:, d] = idx.to_numpy()
        idx.rank(ascending=False, method="min")  # the ranks of the draw, as before
    return out


def _used_pillars(table: pd.DataFrame, extra: dict[str, float] | None) -> dict[str, list[str]]:
    """The preset's pillars with `extra` indicators added, keeping those the table can give."""
    preset = PRESETS["techspark"]
    pillars = {p: dict(m) for p, m in preset.pillars.items()}
    for name in EXTRA_WEIGHTS if extra is None else extra:
        pillars[ind_mod.REGISTRY[name].pillar][name] = 1.0
    used = {p: [k for k in m if k in table or all(c in table for c in ind_mod.REGISTRY[k].inputs)]
            for p, m in pillars.items()}  # fmt: skip
    for p, members in used.items():  # a stand-in gives way to its original, as in the model
        used[p] = [k for k in members if ind_mod.REGISTRY[k].stands_in_for not in members]
    return {p: m for p, m in used.items() if m}


def _min_rank(x: np.ndarray) -> np.ndarray:
    """``Series.rank(method="min") - 1`` of every column of `x` at once (NaN stays NaN)."""
    order = np.argsort(x, axis=0)
    s = np.take_along_axis(x, order, axis=0)
    new = np.ones(s.shape, dtype=bool)
    new[1:] = s[1:] != s[:-1]
    idx = np.broadcast_to(np.arange(len(x))[:, None], s.shape)
    first = np.maximum.accumulate(np.where(new, idx, 0), axis=0).astype(float)
    ranks = np.empty_like(first)
    np.put_along_axis(ranks, order, first, axis=0)
    ranks[np.isnan(x)] = np.nan
    return ranks


def numpy_baseline(
    table: pd.DataFrame,
    *,
    n_draws: int,
    seed: int,
    extra: dict[str, float] | None = None,
    chunk: int = 25,
) -> np.ndarray:
    """The model of :func:`baseline_loop`, written straightforwardly with NumPy.

    Vectorised over places and over draws (``chunk`` draws at a time, to bound memory): each
    count is drawn around its estimate with its MOE, rates recomputed, every indicator of every
    draw ranked by a sort (``rank(method="min")`` percentiles, rounded to 4 decimals), pillars
    and the index averaged. What a NumPy user would write; the reference of the ``index``
    stage of ``run.py``.
    """
    rng = np.random.default_rng(seed)
    used = _used_pillars(table, extra)
    point = ind_mod.compute_indicators(table)
    n = len(table)
    names = sorted({k for m in used.values() for k in m})
    out = np.empty((n, n_draws))
    for start in range(0, n_draws, chunk):
        d = min(chunk, n_draws - start)

        def draw(c: str, d: int = d) -> np.ndarray:
            est = table[c].to_numpy(dtype=float)[:, None]
            moe = table[f"moe_{c}"].to_numpy(dtype=float)[:, None] if f"moe_{c}" in table else 0.0
            return np.maximum(est + moe / 1.645 * rng.standard_normal((n, d)), 0.0)

        norm = {}
        for name in names:
            ind = ind_mod.REGISTRY[name]
            if ind.is_count:
                den = np.maximum(draw(ind.denominator), 1.0)
                num = np.minimum(sum(draw(c) for c in ind.numerator), den)
                x = 1 - num / den if ind.complement else num / den
            elif ind.moe_rule == "none":
                x = np.repeat(point[name].to_numpy(dtype=float)[:, None], d, axis=1)
            else:
                se = point[f"moe_{name}"].to_numpy(dtype=float)[:, None] / 1.645
                x = np.maximum(point[name].to_numpy(dtype=float)[:, None]
                               + se * rng.standard_normal((n, d)), 0.0)  # fmt: skip
                x = np.minimum(x, 1.0) if ind.unit == "share" else x
            pr = np.round(_min_rank(x) / (n - 1), 4)
            norm[name] = pr if ind.direction == 1 else 1 - pr
        scores = [np.nanmean(np.stack([norm[k] for k in m]), axis=0) for m in used.values()]
        out[:, start : start + d] = 100 * np.nanmean(np.stack(scores), axis=0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=85_000)
    ap.add_argument("--draws", type=int, default=1_000)
    ap.add_argument("--baseline-draws", type=int, default=5)
    ap.add_argument("--trace", action="store_true", help="also measure tracemalloc peak (slower)")
    args = ap.parse_args()

    table = ind_mod.compute_indicators(synthetic_tracts(args.n))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    out = compute_index(table, weights=EXTRA_WEIGHTS, n_draws=args.draws, seed=1)
    t_vec, c_vec = time.perf_counter() - t0, time.process_time() - c0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    meta = out.attrs["index"]
    n_ind = len(meta["indicator_weights"])
    print(f"places {args.n:,} x indicators {n_ind} ({len(meta['varying_indicators'])} with "
          f"uncertainty) x draws {args.draws:,}")  # fmt: skip
    print(f"vectorised compute_index (exact lookups in the fixed reference): {t_vec:.2f} s wall "
          f"({c_vec:.2f} s CPU, "
          f"{index_mod.MC_THREADS} threads), peak RSS +{(rss1 - rss0) / 1024:.0f} MB "
          f"(process peak {rss1 / 1024:.0f} MB)")  # fmt: skip
    if args.trace:
        tracemalloc.start()
        compute_index(table, weights=EXTRA_WEIGHTS, n_draws=args.draws, seed=1)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"tracemalloc peak of compute_index: {peak / 2**20:.0f} MB")

    t0, c0 = time.perf_counter(), time.process_time()
    base = baseline_loop(table, n_draws=args.baseline_draws, seed=1)
    t_base, c_base = time.perf_counter() - t0, time.process_time() - c0
    per_draw = t_base / args.baseline_draws
    t_base_full = per_draw * args.draws
    c_base_full = c_base / args.baseline_draws * args.draws
    print(f"pandas per-draw loop (searchsorted in the same reference): {per_draw:.3f} s/draw "
          f"timed on "
          f"{args.baseline_draws} draws, extrapolated to {args.draws:,} draws: "
          f"{t_base_full:.1f} s")  # fmt: skip
    print(
        f"CPU time: loop {c_base_full:.1f} s extrapolated, vectorised {c_vec:.1f} s: "
        f"{c_base_full / c_vec:.1f}x (robust to other processes sharing the cores)"
    )
    print(f"ratio (loop / vectorised, wall): {t_base_full / t_vec:.1f}x; target >= 20x and < 15 s: "
          f"{'met' if t_base_full / t_vec >= 20 and t_vec < 15 else 'NOT met'}")  # fmt: skip
    # same model: the loop's draws and the engine's interval agree on where places sit
    med = np.median(base, axis=1)
    r = np.corrcoef(med, out["equity_index"].to_numpy())[0, 1]
    inside = np.mean((base >= out["equity_index_lo"].to_numpy()[:, None] - 1e-6)
                     & (base <= out["equity_index_hi"].to_numpy()[:, None] + 1e-6))  # fmt: skip
    print(f"check: corr(loop median draw, point index) = {r:.4f}; share of loop draws inside "
          f"the engine's 90% interval = {inside:.3f} (expected about 0.9)")  # fmt: skip


if __name__ == "__main__":
    main()

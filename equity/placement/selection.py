"""Selection: which candidates get a fellow, in the ``top``, ``coverage`` or ``robust`` mode.

``top`` takes the best ``k`` by combined score per group; ``coverage`` solves the maximal
covering location problem per group (:func:`equity.placement.solve_mclp`); ``robust`` repeats
either over the index's uncertainty draws and takes the candidates chosen most often. Existing
sites that are kept are always selected and count towards ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from equity import settings
from equity.errors import PlacementError
from equity.placement.candidates import Candidates, Demand, _num, _state_of
from equity.placement.coverage import (
    coverage_matrix,
    distance_matrix,
    greedy_coverage,
    solve_mclp,
    spacing_conflicts,
)
from equity.placement.options import PlacementOptions
from equity.placement.scores import Measures, Scores, _combine, _percentile_score
from equity.ranking import rank_descending


@dataclass(frozen=True)
class Selection:
    """The selected candidates and, per mode, how the choice was made.

    Attributes
    ----------
    selected
        Boolean per candidate.
    times
        Robust mode: how many draws chose each candidate (else None).
    n_draws
        Robust mode: the number of draws (else None).
    coverage
        Coverage mode: per group, the covered need of the optimum and of the greedy choice.
    """

    selected: np.ndarray
    times: np.ndarray | None = None
    n_draws: int | None = None
    coverage: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _CoverageProblem:
    """What the coverage selection of every group (and every draw) shares."""

    cands: Candidates
    demand: Demand
    options: PlacementOptions
    demand_state: np.ndarray | None  # per demand place, when selecting per state
    served: np.ndarray  # demand already served by existing sites that are not kept
    kept: np.ndarray  # candidates that must be selected


def check_draws(draws: np.ndarray | None, n_places: int) -> np.ndarray | None:
    """`draws` as a float array (n_places, n_draws), or the error saying what shape it needs."""
    if draws is None:
        return None
    arr = np.asarray(draws, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != n_places or arr.shape[1] < 1:
        msg = f"draws must be an array (n_places={n_places}, n_draws), got shape {arr.shape}"
        raise PlacementError(msg)
    return arr


def default_draws(places: pd.DataFrame, *, seed: int, n_draws: int | None = None) -> np.ndarray:
    """Independent normal draws of the index from each place's 90% interval."""
    idx = pd.to_numeric(places["equity_index"], errors="coerce").to_numpy(dtype=float)
    lo = _num(places, "equity_index_lo")
    hi = _num(places, "equity_index_hi")
    if np.isnan(lo).all() or np.isnan(hi).all():
        msg = "robust mode needs draws (from equity.index.simulate_index) or equity_index_lo/hi columns"
        raise PlacementError(msg)
    sd = np.nan_to_num((hi - lo) / (2 * settings.moe_z), nan=0.0)
    rng = np.random.default_rng(seed)
    n = settings.n_draws if n_draws is None else n_draws
    # drawn in GEOID order, so the draws of a place do not depend on the row order
    order = np.argsort(places["GEOID"].astype(str).to_numpy(), kind="stable")
    noise = np.empty((len(idx), n))
    noise[order] = rng.standard_normal((len(idx), n))
    return np.clip(idx[:, None] + sd[:, None] * noise, 0, 100)


def _select_top(scores: np.ndarray, groups: np.ndarray, existing: np.ndarray, k: int) -> np.ndarray:
    """Boolean (n,) or (n, m): the k best per group, existing sites first."""
    bump = scores + np.where(existing[:, None] if scores.ndim == 2 else existing, 1e6, 0.0)
    return rank_descending(bump, groups) <= k


def _coverage_problem(
    cands: Candidates, demand: Demand, options: PlacementOptions
) -> _CoverageProblem:
    """The demand served by removed existing sites, the demand's states and the kept sites."""
    served = np.zeros(len(demand.population), dtype=bool)
    if not options.keep_existing:
        removed = cands.existing_places.copy()
        removed[cands.index] = False
        if removed.any():
            ex_xy = cands.xy_places[removed]
            within = coverage_matrix(demand.xy, ex_xy, radius_km=options.radius_km)
            served = np.asarray(within.any(axis=1))
    demand_state = (
        _state_of(demand.table, "demand").to_numpy().astype(str) if options.per_state else None
    )
    kept = cands.existing if options.keep_existing else np.zeros(cands.n, dtype=bool)
    return _CoverageProblem(cands, demand, options, demand_state, served, kept)


def _coverage_select(
    problem: _CoverageProblem, need_weights: np.ndarray, *, log: bool
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The MCLP optimum of each group, and (with `log`) its covered need against greedy."""
    cands, opts = problem.cands, problem.options
    chosen = np.zeros(cands.n, dtype=bool)
    rows: list[dict[str, Any]] = []
    for g in np.unique(cands.groups):
        ci = np.flatnonzero(cands.groups == g)
        if problem.demand_state is not None:
            st = cands.rows["state_GEOID"].iloc[ci[0]]
            di = np.flatnonzero(problem.demand_state == st)
        else:
            st = "all"
            di = np.arange(len(problem.demand.population))
        wts = np.where(problem.served[di], 0.0, need_weights[di])
        cost = distance_matrix(problem.demand.xy[di], cands.xy[ci])
        conflicts = spacing_conflicts(cands.xy[ci], opts.min_spacing_km)
        pre = problem.kept[ci]
        pick = solve_mclp(
            cost,
            wts,
            radius_km=opts.radius_km,
            k=opts.k,
            predefined=pre,
            conflicts=conflicts,
            backend=opts.backend,
        )
        chosen[ci[pick]] = True
        if log:
            cov = cost <= opts.radius_km
            greedy = greedy_coverage(cov, wts, k=opts.k, predefined=pre, conflicts=conflicts)
            rows.append(
                {
                    "state_GEOID": st,
                    "k": opts.k,
                    "covered_need_population": float(wts[cov[:, pick].any(axis=1)].sum()),
                    "greedy_need_population": float(wts[cov[:, greedy].any(axis=1)].sum()),
                    "total_need_population": float(wts.sum()),
                }
            )
    return chosen, rows


def combined_draws(
    cands: Candidates, demand: Demand, measures: Measures, scores: Scores, draws: np.ndarray
) -> np.ndarray:
    """The combined score of each candidate in each draw of the index (n_candidates, n_draws).

    Need follows the draws; so does reach when the demand places are the places themselves
    (else the demand keeps its own index); readiness does not depend on the index.
    """
    if demand.is_places:  # reach follows the draws too
        dn = demand.population[:, None] * np.clip(np.nan_to_num(draws), 0, 100) / 100.0
        reach_d = _percentile_score(measures.within @ dn)
    else:
        reach_d = scores.reach[:, None]
    cdraw = np.clip(draws[cands.index], 0, 100)
    return _combine(scores.weights, cdraw, scores.readiness[:, None], reach_d)


def _robust_select(
    problem: _CoverageProblem,
    measures: Measures,
    scores: Scores,
    draws: np.ndarray | None,
) -> Selection:
    """Repeat the base selection over the draws; select the candidates chosen most often."""
    cands, demand, opts = problem.cands, problem.demand, problem.options
    if draws is None:
        draws = default_draws(cands.places, seed=opts.seed, n_draws=opts.n_draws)
    if opts.base_mode == "top":
        comb_d = combined_draws(cands, demand, measures, scores, draws)
        sel_d = _select_top(comb_d, cands.groups, problem.kept, opts.k)
    else:
        cols = []
        for j in range(draws.shape[1]):
            dv = np.clip(np.nan_to_num(draws[:, j]), 0, 100) if demand.is_places else demand.index
            cols.append(_coverage_select(problem, demand.population * dv / 100.0, log=False)[0])
        sel_d = np.column_stack(cols)
    times = sel_d.sum(axis=1)
    # most often chosen first; ties by combined score (scaled below one selection)
    chosen = _select_top(times + scores.combined / 1000.0, cands.groups, problem.kept, opts.k)
    return Selection(selected=chosen, times=times, n_draws=int(draws.shape[1]))


def select_sites(
    cands: Candidates,
    demand: Demand,
    measures: Measures,
    scores: Scores,
    options: PlacementOptions,
    *,
    draws: np.ndarray | None = None,
) -> Selection:
    """Select the sites in the mode of `options` (see the module docstring)."""
    problem = _coverage_problem(cands, demand, options)
    if options.mode == "top":
        return Selection(_select_top(scores.combined, cands.groups, problem.kept, options.k))
    if options.mode == "coverage":
        chosen, rows = _coverage_select(problem, demand.need, log=True)
        return Selection(chosen, coverage=rows)
    return _robust_select(problem, measures, scores, draws)

"""Margins: how clear each choice is. Runner-up, P(top 1), close calls and odd picks.

For every group (a state), the *runner-up* is the best-ranked candidate that was not selected.
Over the index's uncertainty draws (given, or drawn from each place's 90% interval as the
robust mode does), each candidate's combined score gets a 90% interval
(``combined_lo``/``combined_hi``) and ``p_top1``, the share of draws in which it ranks first
in its group. A selected site is a **close call** when its interval overlaps the runner-up's
or its ``p_top1`` is below one half (top and robust modes; a coverage pick is chosen for
whom it reaches, not for its score). A selected site whose need is below the median of its
state's places is flagged with the reason it was chosen anyway: the people in need its
service radius reaches (coverage) or its partners and reach (top).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from equity.placement.candidates import Candidates, Demand, _num
from equity.placement.options import PlacementOptions
from equity.placement.scores import Measures, Scores
from equity.placement.selection import Selection, combined_draws, default_draws
from equity.ranking import rank_descending

__all__ = ["Margins", "margins"]

#: Interval of the combined score over the draws (a 90% interval, as the index's).
_INTERVAL = (5.0, 95.0)
#: Below this P(top 1) a selected site is a close call.
CLOSE_CALL_P = 0.5


@dataclass(frozen=True)
class Margins:
    """Per candidate (all arrays of length n)."""

    p_top1: np.ndarray
    combined_lo: np.ndarray
    combined_hi: np.ndarray
    runner_up: np.ndarray  # position of the group's runner-up (-1: none), for selected rows
    lead: np.ndarray  # combined score minus the runner-up's, for selected rows
    close_call: np.ndarray
    below_median_need: np.ndarray
    state_median_need: np.ndarray
    note: list[str]


def _draws(
    cands: Candidates, opts: PlacementOptions, draws: np.ndarray | None
) -> np.ndarray | None:
    """The given draws, else normal draws from each place's interval (None without one)."""
    if draws is not None:
        return draws
    lo, hi = _num(cands.places, "equity_index_lo"), _num(cands.places, "equity_index_hi")
    if np.isnan(lo).all() or np.isnan(hi).all():
        return None
    return default_draws(cands.places, seed=opts.seed, n_draws=opts.n_draws)


def _runner_up(scores: Scores, selection: Selection, groups: np.ndarray) -> np.ndarray:
    """For each selected candidate, the best-ranked unselected candidate of its group."""
    out = np.full(len(groups), -1, dtype=np.int64)
    free = ~selection.selected
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        others = members[free[members]]
        if len(others):
            best = others[np.argmin(scores.rank[others])]
            out[members[selection.selected[members]]] = best
    return out


def _state_median_need(cands: Candidates) -> np.ndarray:
    """Median index of the places of each candidate's state (all places, not only candidates)."""
    base = cands.base
    med = pd.to_numeric(base["equity_index"], errors="coerce").groupby(base["state_GEOID"]).median()
    return cands.rows["state_GEOID"].map(med).to_numpy(dtype=float)


def _coverage_share(selection: Selection, cands: Candidates) -> dict[str, float]:
    """State -> share of its need-weighted people the optimum covers (coverage mode)."""
    out = {}
    for row in selection.coverage:
        total = float(row.get("total_need_population") or 0.0)
        if total > 0:
            out[str(row["state_GEOID"])] = float(row["covered_need_population"]) / total
    return out


def _notes(
    cands: Candidates,
    measures: Measures,
    selection: Selection,
    opts: PlacementOptions,
    close: np.ndarray,
    overlap: np.ndarray,
    below: np.ndarray,
    p_top1: np.ndarray,
    median: np.ndarray,
    *,
    unit: str,
) -> list[str]:
    """Plain words for the flags of each selected site ("" for the others)."""
    covered = _coverage_share(selection, cands)
    states = cands.rows["state_GEOID"].astype(str).to_numpy()
    notes: list[str] = []
    for i in range(cands.n):
        parts = []
        if close[i]:
            reasons = []
            if overlap[i]:
                reasons.append("its combined score's 90% interval overlaps the runner-up's")
            if np.isfinite(p_top1[i]) and p_top1[i] < CLOSE_CALL_P:
                reasons.append(f"it comes first in only {p_top1[i]:.0%} of the uncertainty draws")
            parts.append("close call: " + " and ".join(reasons))
        if below[i]:
            need = cands.rows["equity_index"].iloc[i]
            why = f"need {need:.0f}/100 is below the state median of {median[i]:.0f}"
            if opts.mode == "coverage" or (opts.mode == "robust" and opts.base_mode == "coverage"):
                share = covered.get(states[i], covered.get("all"))
                reach = (
                    f" (with the other sites, {share:.0%} of the state's)"
                    if share is not None
                    else ""
                )
                why += (
                    f": chosen for coverage, its {opts.radius_km:g} km radius reaches "
                    f"{measures.reach_need[i]:,.0f} {unit} in need{reach}"
                )
            else:
                why += ": chosen for its partners and the people in need within reach"
            parts.append(why)
        notes.append("; ".join(parts))
    return notes


def margins(
    cands: Candidates,
    demand: Demand,
    measures: Measures,
    scores: Scores,
    selection: Selection,
    opts: PlacementOptions,
    *,
    draws: np.ndarray | None = None,
) -> Margins:
    """Runner-up, P(top 1), the combined score's interval, close calls and odd picks.

    Parameters
    ----------
    cands, demand, measures, scores, selection, opts
        The placement's steps (:func:`equity.placement.rank_candidates`).
    draws
        Index draws (n_places, n_draws); default: normal draws from each place's 90%
        interval (none when the places have no interval).

    Returns
    -------
    Margins
    """
    n = cands.n
    d = _draws(cands, opts, draws)
    if d is not None:
        comb = combined_draws(cands, demand, measures, scores, d)
        p_top1 = (rank_descending(comb, cands.groups) == 1).mean(axis=1)
        lo, hi = np.percentile(comb, _INTERVAL, axis=1)
    else:
        p_top1 = np.full(n, np.nan)
        lo = hi = scores.combined.copy()
    runner = _runner_up(scores, selection, cands.groups)
    has = runner >= 0
    lead = np.full(n, np.nan)
    lead[has] = scores.combined[has] - scores.combined[runner[has]]
    overlap = np.zeros(n, dtype=bool)
    overlap[has] = (lo[has] <= hi[runner[has]]) & (lo[runner[has]] <= hi[has])
    by_score = opts.mode == "top" or (opts.mode == "robust" and opts.base_mode == "top")
    close = (
        selection.selected & by_score & (overlap | (np.nan_to_num(p_top1, nan=1.0) < CLOSE_CALL_P))
    )
    median = _state_median_need(cands)
    below = selection.selected & (scores.need < median)
    unit = "people" if demand.size_col == "population" else "households"
    note = _notes(
        cands, measures, selection, opts, close, overlap, below, p_top1, median, unit=unit
    )
    return Margins(p_top1, lo, hi, runner, lead, close, below, median, note)


def margin_columns(m: Margins, names: pd.Series, geoids: pd.Series) -> dict[str, Any]:
    """The candidate-table columns of `m` (runner-up by name and GEOID)."""
    has = m.runner_up >= 0
    pos = np.where(has, m.runner_up, 0)
    name = pd.Series(np.where(has, names.to_numpy()[pos], None), dtype="string")
    geoid = pd.Series(np.where(has, geoids.to_numpy()[pos], None), dtype="string")
    return {
        "p_top1": m.p_top1,
        "combined_lo": m.combined_lo,
        "combined_hi": m.combined_hi,
        "close_call": m.close_call,
        "runner_up_place": name,
        "runner_up_place_GEOID": geoid,
        "lead": m.lead,
        "below_median_need": m.below_median_need,
        "note": pd.array([n or pd.NA for n in m.note], dtype="string"),  # missing: no flag
    }

"""The front doors: :func:`compute_index` (point estimate, intervals, ranks, diagnosis) and
:func:`simulate_index` (the Monte Carlo draws behind the intervals).

Indicators (:mod:`equity.indicators`) are normalised to [0, 1] oriented so that higher means
more need (:mod:`equity.index.normalise`), averaged with weights into pillar scores (0-100)
and the pillars into the index (``equity_index``, 0-100, higher = more need;
:mod:`equity.index.model`). Margins of error become uncertainty intervals by Monte Carlo
(:mod:`equity.index.montecarlo`); :mod:`equity.index.diagnosis` says which pillar drives a
place's need and how reliable its index is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from equity import indicators as _indicators
from equity import settings
from equity.index._mc_reference import MIN_SIGNAL_SHARE
from equity.index.diagnosis import RELIABILITY_CV, _diagnose, _reliability
from equity.index.model import (
    MIN_PILLAR_WEIGHT_SHARE,
    IndexOptions,
    _Model,
    _options,
    _point_index,
    _resolve_model,
    _whole,
)
from equity.index.montecarlo import _delta_half_width, _draw_quantiles, _point_top_k, _simulate
from equity.index.notes import index_notes
from equity.index.svi import svi
from equity.ranking import group_codes, min_rank_descending

__all__ = ["compute_index", "simulate_index"]

logger = logging.getLogger(__name__)


def compute_index(
    table: pd.DataFrame,
    *,
    options: IndexOptions | None = None,
    preset: str | None = None,
    weights: Mapping[str, float] | None = None,
    normalisation: str | None = None,
    reference: str | None = None,
    n_draws: int | None = None,
    seed: int | None = None,
    top_k: int | None = None,
    state_column: str | None = None,
    min_indicators_per_pillar: int | None = None,
    aggregation: str | None = None,
) -> pd.DataFrame:
    """Compute the digital-equity index, its uncertainty and its diagnosis.

    Parameters
    ----------
    table
        Places with indicator columns (``share_*`` etc.) or the counts they are computed from
        (with ``moe_*``), value columns (``download_mbps`` ...) and ``state_column``.
    options
        The index model (:class:`IndexOptions`); or give its fields as the keywords below
        (not both). A keyword left at None takes the :class:`IndexOptions` default.
    preset
        One of :data:`PRESETS` (``"svi"`` delegates to :func:`svi`); default ``"techspark"``.
    weights
        Overrides: pillar name -> pillar weight and/or indicator name -> indicator weight (an
        indicator not in the preset joins its registry pillar). Weight 0 drops an item.
    normalisation
        One of :data:`NORMALISATIONS`; default the preset's (``percentile`` for techspark).
    reference
        ``"nation"`` (all places, the default) or ``"state"`` (within each state).
    n_draws
        Monte Carlo draws; default :data:`equity.settings.n_draws`. 0 skips the simulation
        (intervals equal the point estimate).
    seed
        Seed of the draws; default :data:`equity.settings.seed`.
    top_k
        ``p_top_k`` is the probability of ranking within the top `top_k` of the state
        (default 1).
    state_column
        Column with the state code, default ``"state_GEOID"`` (needed for
        ``reference="state"``; without it ``rank_in_state`` and ``p_top_k`` refer to the
        whole table).
    min_indicators_per_pillar
        A place's pillar score needs at least this many of the pillar's indicators (capped at
        the number of indicators of the pillar with data); otherwise it is NaN. Default 1.
    aggregation
        ``"arithmetic"`` (default) or ``"geometric"`` mean of pillar scores.

    Returns
    -------
    pandas.DataFrame
        A copy of `table` with the indicators, ``norm_<indicator>`` (0-1, higher = more need),
        ``score_<pillar>`` (0-100), ``equity_index`` (0-100), ``equity_index_lo/hi`` (90%
        Monte Carlo interval), ``rank`` (1 = greatest need, ties "min"), ``rank_in_state``,
        ``rank_lo``, ``rank_hi``, ``p_top_k``, ``driving_pillar``, ``intervention`` and
        ``reliability``. ``attrs["index"]`` records the weights used, pillars without data
        and their redistributed weight, and every option.

    Notes
    -----
    Pillar score :math:`S_{ip} = 100 \\sum_j w_{pj} N_{ij} / \\sum_j w_{pj}` over the place's
    indicators with data; index :math:`I_i = \\sum_p W_p S_{ip}` (arithmetic) or
    :math:`\\prod_p S_{ip}^{W_p}` (geometric, on the 0-1 scale), :math:`\\sum_p W_p = 1` over
    pillars with data (the weight of a pillar without data is redistributed proportionally).
    A place missing a pillar gets NaN index and NaN rank, never 0.

    The point estimate uses the published estimates. The interval comes from draws: counts
    :math:`X^* \\sim N(X, (MOE_X/1.645)^2)` truncated at 0 (a denominator with a positive
    estimate at 1, a numerator of a proportion at its denominator), rates recomputed, value
    indicators drawn from their MOEs (Ookla means with :data:`equity.indicators.OOKLA_TEST_CV`),
    indicators renormalised per draw. ``equity_index_lo/hi`` are the 5th and 95th percentiles
    of the draws and ``rank_lo/hi`` those of the draw ranks, each widened to include the point
    estimate where it falls outside (truncation and renormalisation can skew the draws; the
    number of such places is in ``attrs["index"]["n_interval_extended"]``). Draws are made in
    float32 from normal deviates on a 16-bit inverse-CDF grid
    (:data:`equity.index._mc_draws._NORMAL_LUT`), in antithetic pairs of draws
    (:func:`equity.index._mc_draws._std_normal`), in chunks of draws each with its own seed
    (so results do not depend on :data:`MC_THREADS`), and ranked per draw by one sort of
    packed keys; values equal in float32 count as ties.
    ``p_top_k`` is the share of draws in which the place ranks within the top `top_k` of its
    state (for ``top_k=1``, exactly: a place is first when it equals its state's maximum).

    *Binned ranks of large tables.* When an indicator has more than
    :data:`BINNED_RANK_MIN_PLACES` places with data and is normalised over one reference group
    (``reference="nation"``), its draws are ranked by histogram instead of sorting
    (:func:`equity.index._mc_ranks._binned_ranks`), and so are the per-draw index ranks behind
    ``rank_lo/hi``. Per draw, the :math:`m` values are quantised into :math:`B` =
    :data:`RANK_BINS` bins (bin 0: the values equal to the draw's minimum; bins
    :math:`1..B-1`: equal widths in :math:`x`, or in :math:`\\sqrt{x - \\min}` where that
    spreads the indicator's point values more evenly, as for right-skewed speeds and incomes
    (:func:`equity.index._mc_ranks._sqrt_spacing`), over :math:`(\\min, \\max]`), counted
    with one ``bincount``; with :math:`C_b` the number of values in bins below :math:`b`, a
    value in bin :math:`b` gets
    :math:`\\widetilde{PR} = \\mathrm{round}_4(C_b/(m-1))` -- values sharing a bin count as tied,
    at the lowest rank, as CDC ties do. The exact rank :math:`r - 1 = C_b + k` adds the
    :math:`k` values of the same bin strictly below the value, :math:`0 \\le k \\le c_b - 1`
    for a bin holding :math:`c_b` values, so before rounding

    .. math:: 0 \\le PR - \\widetilde{PR} \\le \\frac{\\max_{b \\ge 1} c_b - 1}{m - 1},

    and after rounding to 4 decimals the difference is within that bound plus :math:`10^{-4}`.
    Likewise a binned index rank is at most :math:`\\max_{b \\ge 1} c_b - 1` places better than the
    exact one. The largest bounds met over all draws are recorded in
    ``attrs["index"]["mc_percentile_error_bound"]`` and ``["mc_rank_error_bound"]`` (0 when
    every draw was ranked exactly; genuine ties sharing a bin count in the bound although
    they cause no error). The cost is :math:`O(m + B)` per indicator and draw instead of
    :math:`O(m \\log m)`. Tables of at most :data:`BINNED_RANK_MIN_PLACES` places, where
    sorting is cheap, and indicators normalised within states (``reference="state"``) are
    ranked exactly in every draw, as are the in-state ranks behind ``p_top_k``; the point
    estimate, ``rank``, ``rank_in_state`` and the ``norm_*``/``score_*`` columns are always
    exact. On
    85,000 synthetic tracts x 1,000 draws (``benchmarks/bench_index.py``) the recorded bound
    is about :math:`2.5 \\times 10^{-4}` (21 ranks, for the speeds); against exact ranking of
    the same draws, 14% of drawn percentiles differ, nearly all by :math:`10^{-4}`, at most by
    :math:`3 \\times 10^{-4}` -- far below the Monte Carlo spread of a place's percentile.

    ``reliability`` is ``high`` / ``medium`` / ``low`` for a coefficient of variation below
    0.15 / below 0.30 / from 0.30 (:data:`RELIABILITY_CV`, the common ACS guidance): with
    draws, the index's own CV, :math:`((hi - lo) / (2 \\cdot 1.645)) / index`; without draws,
    the median CV :math:`(MOE/1.645)/\\hat p` of the place's share indicators.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"GEOID": ["01", "02", "03"], "state_GEOID": ["01", "02", "03"],
    ...                   "share_no_internet": [0.1, 0.3, 0.2], "median_household_income": [80e3, 40e3, 60e3]})
    >>> out = compute_index(t, n_draws=0)
    >>> out["rank"].tolist()
    [3, 1, 2]
    >>> compute_index(t, options=IndexOptions(n_draws=0))["rank"].tolist()
    [3, 1, 2]
    """
    opts = _options(
        options,
        "compute_index",
        preset=preset,
        weights=weights,
        normalisation=normalisation,
        reference=reference,
        n_draws=n_draws,
        seed=seed,
        top_k=top_k,
        state_column=state_column,
        min_indicators_per_pillar=min_indicators_per_pillar,
        aggregation=aggregation,
    )
    if opts.preset == "svi":
        return _svi_index(table, opts)
    draws, seed_ = _draws_and_seed(opts)
    model = _resolve_model(table, opts)
    norms, scores, index = _point_index(model)
    new = _point_columns(table, model, norms, scores, index)
    sim = _simulate(
        table, model, n_draws=draws, seed=seed_, top_k=opts.top_k, point_index=index,
        point_norms=norms,
    )  # fmt: skip
    interval_columns, n_ext = _interval_columns(new["equity_index"], model, sim, draws, opts.top_k)
    new.update(interval_columns)
    new["driving_pillar"], new["intervention"] = _diagnose(scores)
    if draws > 0 and not sim["index_exact"]:
        half = (new["equity_index_hi"] - new["equity_index_lo"]) / 2.0
    else:
        half = _delta_half_width(model, sim["specs"], sim["refs"])
    new["reliability"] = _reliability(half, np.isfinite(new["equity_index"]), table.index)
    out = table.copy()
    for k, v in new.items():
        out[k] = v
    out.attrs = dict(table.attrs)
    out.attrs["index"] = _index_record(model, opts, draws, seed_, sim, n_ext, new)
    logger.info(
        "compute_index: %d places, preset %s, %d draws, pillars %s (missing %s)",
        len(table),
        model.preset,
        draws,
        list(model.pillars),
        sorted(model.missing_pillars),
    )
    return out


def _svi_index(table: pd.DataFrame, options: IndexOptions) -> pd.DataFrame:
    """The CDC/ATSDR SVI (:func:`svi`) with ``equity_index`` (100 x RPL_THEMES) and ranks.

    With ``reference="state"`` the percentile ranks are computed within each state (the
    options' state column, else CDC's ``ST``, else the first two digits of ``FIPS``), ``rank``
    is the rank within the state and ``rank_national`` the rank of the within-state index
    over all places.
    """
    states = _svi_states(table, options) if options.reference == "state" else None
    out = svi(table, groups=states)
    out["equity_index"] = 100.0 * out["RPL_THEMES"]
    point = out["equity_index"].to_numpy(float).reshape(1, -1)
    national = min_rank_descending(point, np.zeros(len(out), dtype=np.int64))[0]
    if states is not None:
        codes = group_codes(states, len(out))
        out["rank"] = pd.array(min_rank_descending(point, codes)[0], dtype="Int64")
    else:
        out["rank"] = pd.array(national, dtype="Int64")
    out["rank_national"] = pd.array(national, dtype="Int64")
    out.attrs["index"] = {
        "preset": "svi",
        "reference": options.reference,
        "state_column": None if states is None else str(states.name),
    }
    return out


def _svi_states(table: pd.DataFrame, options: IndexOptions) -> pd.Series:
    """The state of each row of an SVI table, for percentile ranks within states."""
    for col in (options.state_column, "ST"):
        if col in table:
            return table[col].astype("string").str.strip().str.zfill(2).rename(col)
    if "FIPS" in table:
        fips = table["FIPS"].astype("string").str.strip()
        width = 5 if fips.str.len().max() <= 5 else 11
        return fips.str.zfill(width).str[:2].rename("FIPS")
    msg = (
        f"reference='state' needs the state of each row: a {options.state_column!r} or 'ST' "
        f"column, or FIPS codes; columns: {list(table.columns)[:12]}"
    )
    raise SchemaError(msg)


def _draws_and_seed(options: IndexOptions) -> tuple[int, int]:
    """Number of draws and seed of the options, the unset ones from :mod:`equity.settings`."""
    n_draws = settings.n_draws if options.n_draws is None else options.n_draws
    seed = settings.seed if options.seed is None else options.seed
    return _whole("n_draws", n_draws, minimum=0), _whole("seed", seed)


def _point_columns(
    table: pd.DataFrame,
    model: _Model,
    norms: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
    index: np.ndarray,
) -> dict[str, Any]:
    """New columns: indicators not in the table, ``norm_*``, ``score_*``, the index and
    ``pillars_missing``."""
    n = len(table)
    new: dict[str, Any] = {}
    for name, v in model.values.items():
        if name not in table:
            new[name] = v
        new[f"norm_{name}"] = norms[name]
    for pillar, s in scores.items():
        new[f"score_{pillar}"] = 100.0 * s
    for pillar in model.missing_pillars:
        new[f"score_{pillar}"] = np.full(n, np.nan)
    new["equity_index"] = 100.0 * index
    new["pillars_missing"] = _pillars_missing(scores, index)
    return new


def _pillars_missing(
    scores: dict[str, np.ndarray], index: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """Per place with an index, the pillars left out of it (weights renormalised over others)."""
    missing_here = np.full(index.size, "", dtype=object)
    for pillar, sc in scores.items():
        gap = np.isnan(sc) & np.isfinite(index)
        missing_here[gap] = np.where(
            missing_here[gap] == "", pillar, missing_here[gap] + ", " + pillar
        )
    return pd.array(np.where(np.isfinite(index), missing_here, pd.NA), dtype="string")


def _interval_columns(
    point: np.ndarray, model: _Model, sim: dict[str, Any], n_draws: int, top_k: int
) -> tuple[dict[str, Any], int]:
    """Interval, rank and ``p_top_k`` columns, and the number of intervals widened to the point.

    ``rank`` ranks within the reference region (the nation, or the state with
    ``reference="state"``); ``rank_national`` over all places; ``rank_in_state`` within the
    state. ``rank_lo``/``rank_hi`` are the ranks, within the reference region, that the ends
    of the index's interval would take among the other places' point estimates.
    """
    n = point.size
    national = min_rank_descending(point.reshape(1, -1), np.zeros(n, dtype=np.int64))[0]
    rank_state = min_rank_descending(point.reshape(1, -1), model.state_codes)[0]
    region = model.state_codes if model.reference == "state" else np.zeros(n, dtype=np.int64)
    rank = rank_state if model.reference == "state" else national
    finite = np.isfinite(point)
    n_ext = 0
    if n_draws > 0 and not sim["index_exact"]:
        lo, hi, n_ext = _intervals(point, sim["index"])
    else:
        lo, hi = point.copy(), point.copy()
    rlo, rhi = _rank_interval(point, lo, hi, region)
    columns = {
        "equity_index_lo": np.where(finite, lo, np.nan),
        "equity_index_hi": np.where(finite, hi, np.nan),
        "rank": pd.array(rank, dtype="Int64"),
        "rank_national": pd.array(national, dtype="Int64"),
        "rank_in_state": pd.array(rank_state, dtype="Int64"),
        "rank_lo": pd.array(np.where(finite, rlo, np.nan), dtype="Int64"),
        "rank_hi": pd.array(np.where(finite, rhi, np.nan), dtype="Int64"),
        "p_top_k": (
            sim["top_k_count"] / n_draws
            if n_draws > 0
            else _point_top_k(point, model.state_codes, top_k)
        ),
    }
    return columns, n_ext


def _intervals(point: np.ndarray, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """90% interval of the index (0-100) from the draws, widened to contain the point.

    Also returns the number of places whose draw interval did not contain the point estimate.
    """
    n = point.size
    finite = np.isfinite(point)
    cols = np.flatnonzero(finite)
    q = np.full((2, n), np.nan)
    if cols.size:
        sub = draws if cols.size == n else draws[:, cols]
        q[:, cols] = _draw_quantiles(sub) * 100.0
    lo = np.minimum(q[0], point)
    hi = np.maximum(q[1], point)
    n_ext = int(((q[0] > point) | (q[1] < point))[finite].sum())
    return lo, hi, n_ext


def _rank_interval(
    point: np.ndarray, lo: np.ndarray, hi: np.ndarray, region: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks (1 = most need) of the interval's ends among the other places of the region.

    ``rank_lo = 1 + #{j: I_j > hi}`` and ``rank_hi = 1 + #{j != i: I_j > lo}``: the ranks
    the place would take at either end of its interval, everyone else at their estimate.
    Ranks are a monotone map of index values, so they cover the true rank whenever the
    interval covers the true index and the estimates' order matches the truth's around it.
    """
    n = point.size
    rlo = np.full(n, np.nan)
    rhi = np.full(n, np.nan)
    finite = np.isfinite(point)
    for g in np.unique(region[finite]):
        members = np.flatnonzero(finite & (region == g))
        ref = np.sort(point[members])
        m = ref.size
        rlo[members] = 1 + m - np.searchsorted(ref, hi[members], side="right")
        own = (point[members] > lo[members]).astype(float)  # the place itself is not above
        rhi[members] = 1 + m - np.searchsorted(ref, lo[members], side="right") - own
    return rlo, rhi


def _index_record(
    model: _Model,
    options: IndexOptions,
    n_draws: int,
    seed: int,
    sim: dict[str, Any],
    n_ext: int,
    new: dict[str, Any],
) -> dict[str, Any]:
    """``attrs["index"]``: the weights used, pillars without data, every option and count."""
    flat = {k: w for m in model.pillars.values() for k, w in m.items()}
    drawn = sim["draw_record"]
    record = {
        "preset": model.preset,
        "normalisation": model.normalisation,
        "reference": model.reference,
        "aggregation": model.aggregation,
        "pillar_weights": dict(model.pillar_weights),
        "weights": {p: dict(m) for p, m in model.pillars.items()},
        "indicator_weights": flat,
        "missing_pillars": sorted(model.missing_pillars),
        "redistributed_weight": dict(model.missing_pillars),
        "missing_indicators": model.missing_indicators,
        "min_indicators_per_pillar": model.min_indicators,
        "n_draws": n_draws,
        "seed": seed,
        "top_k": options.top_k,
        "state_column": options.state_column if model.has_states else None,
        "options": _options_record(options),
        "varying_indicators": sim["varying"],
        "exact_indicators": list(drawn["exact"]),
        "n_unknown_moe": dict(drawn["n_unknown_moe"]),
        "n_coded": {k: dict(v) for k, v in drawn["n_coded"].items()},
        "n_interval_extended": n_ext,
        "draw_reference": "point estimates adjusted for sampling error (constrained Bayes)",
        "min_signal_share": MIN_SIGNAL_SHARE,
        "n_missing_index": int((~np.isfinite(new["equity_index"])).sum()),
        "n_partial_pillars": int((pd.Series(new["pillars_missing"]).fillna("") != "").sum()),
        "min_pillar_weight_share": MIN_PILLAR_WEIGHT_SHARE,
        "ookla_test_cv": float(_indicators.OOKLA_TEST_CV),
        "reliability_cv": RELIABILITY_CV,
        "reliability_counts": {
            str(k): int(v) for k, v in pd.Series(new["reliability"]).value_counts().items()
        },
    }
    record["notes"] = index_notes(record)
    return record


def _options_record(options: IndexOptions) -> dict[str, Any]:
    """The options as given (enough to rebuild the model, e.g. for sensitivity variants)."""
    return {
        "preset": options.preset,
        "weights": None if options.weights is None else dict(options.weights),
        "normalisation": options.normalisation,
        "reference": options.reference,
        "aggregation": options.aggregation,
        "state_column": options.state_column,
        "min_indicators_per_pillar": options.min_indicators_per_pillar,
    }


def simulate_index(
    table: pd.DataFrame,
    *,
    options: IndexOptions | None = None,
    preset: str | None = None,
    weights: Mapping[str, float] | None = None,
    normalisation: str | None = None,
    reference: str | None = None,
    n_draws: int | None = None,
    seed: int | None = None,
    state_column: str | None = None,
    min_indicators_per_pillar: int | None = None,
    aggregation: str | None = None,
) -> np.ndarray:
    """Monte Carlo draws of the index, shape (places, draws), 0-100 (float32).

    Same model and options as :func:`compute_index` (the same seed gives the draws behind its
    intervals). Places without an index have NaN draws.

    Parameters
    ----------
    table
        As for :func:`compute_index`.
    options
        The index model (:class:`IndexOptions`; its ``top_k`` is not used), or give its
        fields as the keywords below (not both).
    preset, weights, normalisation, reference, state_column, min_indicators_per_pillar, aggregation
        As for :func:`compute_index`.
    n_draws
        Number of draws; default :data:`equity.settings.n_draws`.
    seed
        Seed; default :data:`equity.settings.seed`.

    Returns
    -------
    numpy.ndarray
        Index draws, places x draws.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"hh_internet_universe": [100.0, 200.0, 50.0], "moe_hh_internet_universe": [20.0, 30.0, 15.0],
    ...                   "hh_no_internet": [10.0, 80.0, 5.0], "moe_hh_no_internet": [8.0, 20.0, 6.0]})
    >>> simulate_index(t, n_draws=100, seed=1).shape
    (3, 100)
    """
    opts = _options(
        options,
        "simulate_index",
        preset=preset,
        weights=weights,
        normalisation=normalisation,
        reference=reference,
        n_draws=n_draws,
        seed=seed,
        state_column=state_column,
        min_indicators_per_pillar=min_indicators_per_pillar,
        aggregation=aggregation,
    )
    draws, seed_ = _draws_and_seed(opts)
    model = _resolve_model(table, opts)
    norms, _, index = _point_index(model)
    sim = _simulate(
        table, model, n_draws=draws, seed=seed_, top_k=1, point_index=index, point_norms=norms
    )
    out = np.asarray(sim["index"], dtype=np.float32) * np.float32(100.0)
    return out.T

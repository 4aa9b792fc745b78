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
from equity.errors import SchemaError
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
        Monte Carlo interval), ``rank`` (1 = greatest need, ties "min", within the reference
        region), ``rank_national``, ``rank_in_state``, ``rank_lo``, ``rank_hi``, ``p_top_k``,
        ``driving_pillar``, ``intervention`` and ``reliability``. ``attrs["index"]`` records the weights used, pillars without data
        and their redistributed weight, and every option.

    Notes
    -----
    Pillar score :math:`S_{ip} = 100 \\sum_j w_{pj} N_{ij} / \\sum_j w_{pj}` over the place's
    indicators with data; index :math:`I_i = \\sum_p W_p S_{ip}` (arithmetic) or
    :math:`\\prod_p S_{ip}^{W_p}` (geometric, on the 0-1 scale), :math:`\\sum_p W_p = 1` over
    pillars with data (the weight of a pillar without data is redistributed proportionally).
    A place missing a pillar gets NaN index and NaN rank, never 0.

    Orientation comes first: a need-decreasing indicator is normalised as :math:`-x`, so ties
    at the favourable end of any indicator get need 0 under percentile ranks.

    The point estimate uses the published estimates (CDC percentile ranks of the estimates,
    exact). The interval comes from Monte Carlo draws (:mod:`equity.index.montecarlo`): every
    indicator with a margin of error is drawn from its estimate and standard error
    :math:`MOE/1.645` -- a share with the Census proportion formula's MOE (drawn as a share of
    its universe, not from independently drawn counts), an Ookla mean with
    :data:`equity.indicators.OOKLA_TEST_CV` -- clipped to its range (shares to [0, 1], amounts
    at 0: the median draw is the estimate). A top/bottom-coded median is drawn beyond its code
    only; a value without a published MOE gets the median MOE of the other places
    (``attrs["index"]["n_coded"]``, ``["n_unknown_moe"]``). Each draw is normalised against a
    fixed reference: the point estimates of its reference region adjusted for their sampling
    error (each estimate's distance from the mean scaled by
    :math:`\\sqrt{\\tau^2/(\\tau^2 + SE_i^2)}`, :math:`\\tau^2` the variance of the true values:
    :func:`equity.index._mc_reference._adjusted_reference`), so the reference spreads like the
    true values. Normalising each draw against the other draws, or against the raw estimates,
    pulls extreme places towards the middle; ``benchmarks/bench_calibration.py`` measures the
    coverage of the intervals on a simulation with a known truth (README: the table).
    ``equity_index_lo/hi`` are the 5th and 95th percentiles of the draws, widened to contain
    the point estimate where they do not (the point ranks a place among noisy estimates;
    ``attrs["index"]["n_interval_extended"]``). ``rank_lo``/``rank_hi`` are the ranks the ends
    of that interval take among the other places' estimates (within the reference region).
    Draws are made in float32 from normal deviates on a 16-bit inverse-CDF grid
    (:data:`equity.index._mc_draws._NORMAL_LUT`), in antithetic pairs
    (:func:`equity.index._mc_draws._std_normal`), in chunks of draws each with its own seed
    (so results do not depend on :data:`MC_THREADS`). A draw's percentile is read from lookup
    tables of the reference, exactly for regions of up to 8,192 places; in a larger region a
    draw in a table bin holding distinct reference values takes the count below the bin,
    within ``attrs["index"]["mc_percentile_error_bound"]`` (about :math:`2 \\times 10^{-4}` on
    85,000 synthetic tracts: far below the Monte Carlo spread).

    ``p_top_k`` is the share of draws in which the place ranks within the top `top_k` of its
    state; for ``top_k=1`` places tied for first in a draw share it (each of :math:`t` tied
    places counts :math:`1/t`), so the probabilities of a state sum to 1.

    ``reliability`` describes the place's own uncertainty, never its level of need: the
    index's standard error (half the 90% interval over 1.645; without draws, a delta-method
    approximation from each indicator's interval) over 50, the middle of the scale, classed by
    the Census Bureau's CV thresholds (:data:`RELIABILITY_CV`): below 0.15 ``high``, below
    0.30 ``medium``, else ``low`` -- intervals narrower than +-12.3 and +-24.7 points.

    With ``reference="state"``, ``rank`` is the rank within the state (as are ``rank_lo`` and
    ``rank_hi``) and ``rank_national`` the rank of the within-state index over all places.

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
    scores = svi(table, groups=states)
    index = 100.0 * scores["RPL_THEMES"].to_numpy(float)
    point = index.reshape(1, -1)
    national = min_rank_descending(point, np.zeros(len(scores), dtype=np.int64))[0]
    codes = group_codes(states, len(scores)) if states is not None else None
    new = {
        "equity_index": index,
        "rank": pd.array(
            national if codes is None else min_rank_descending(point, codes)[0], dtype="Int64"
        ),
        "rank_national": pd.array(national, dtype="Int64"),
    }
    kept = scores.drop(columns=[c for c in new if c in scores.columns])
    out = pd.concat([kept, pd.DataFrame(new, index=scores.index)], axis=1)
    out.attrs = dict(scores.attrs)
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
        "mc_percentile_error_bound": max((r.error_bound for r in sim["refs"]), default=0.0),
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

"""The digital-equity index: normalise, weight, aggregate, simulate and diagnose.

Indicators (:mod:`equity.indicators`) are normalised to [0, 1] oriented so that higher means
more need, averaged with weights into pillar scores (0-100) and the pillars into the index
(``equity_index``, 0-100, higher = more need). Margins of error become uncertainty intervals by
Monte Carlo: counts are drawn from their MOEs, rates recomputed, indicators renormalised and the
index recomputed per draw, vectorised over places and draws (no Python loop over places). The
point estimate is always ranked exactly; the draws of a table with more than
:data:`BINNED_RANK_MIN_PLACES` places (nation reference) are percentile-ranked by histogram,
within a documented, recorded error bound (:func:`compute_index`, Notes).

Presets (:data:`PRESETS`):

``techspark`` (default)
    The program's five pillars (access, devices and skills, affordability, education,
    transformation) with equal pillar weights and equal indicator weights within a pillar.
``ddi``
    A Purdue Digital Divide Index style index: an infrastructure/adoption score (INFA) and a
    socioeconomic score (SE), each 0-100, averaged. Purdue (Gallardo et al., Purdue Center for
    Regional Development, https://pcrd.purdue.edu/ddi) builds each score from standardised
    variables weighted by factor loadings; here the published variable lists are used with
    equal weights and min-max scaling, so scores *approximate* the published ones.
``svi``
    The CDC/ATSDR Social Vulnerability Index, computed exactly as CDC does from the ``EP_*``
    inputs (:func:`svi`).

Normalisations (:data:`NORMALISATIONS`): ``percentile`` (CDC's PERCENTRANK.INC, rounded to 4
decimals), ``zscore`` (mapped to [0, 1] by the standard normal CDF), ``minmax`` and ``rank``
(average rank for ties, scaled to [0, 1]). The reference region is all places (``nation``) or
each state separately (``state``).
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from equity import indicators as _indicators
from equity import settings
from equity._io import atomic_path
from equity.errors import ConfigError, DataError, SchemaError
from equity.indicators import (
    PILLARS,
    REGISTRY,
    Indicator,
    compute_indicators,
    count_moe,
    counts_from_acs,
    get_indicator,
    value_moe,
)
from equity.ranking import group_codes as _codes
from equity.ranking import group_ranks as _group_ranks
from equity.ranking import percent_rank_inc
from equity.ranking import percent_rank_rows as _percent_rank
from equity.ranking import round_ratio as _round_ratio

__all__ = [
    "AGGREGATIONS",
    "INTERVENTIONS",
    "NORMALISATIONS",
    "PRESETS",
    "REFERENCES",
    "SVI_THEMES",
    "Preset",
    "compute_index",
    "normalise",
    "percent_rank_inc",
    "run_index_file",
    "sensitivity",
    "simulate_index",
    "svi",
]

logger = logging.getLogger(__name__)

#: Normalisations of an indicator to [0, 1] (before orientation towards need).
NORMALISATIONS: dict[str, str] = {
    "percentile": "CDC PERCENTRANK.INC: (rank - 1) / (n - 1), ties at the lowest rank, 4 decimals",
    "zscore": "standard normal CDF of the z-score (population standard deviation)",
    "minmax": "(x - min) / (max - min)",
    "rank": "average rank of ties, (rank - 1) / (n - 1)",
}
#: Reference regions of the normalisation.
REFERENCES: dict[str, str] = {
    "nation": "all places of the table",
    "state": "places of the same state (`state_column`)",
}
#: Aggregations of pillar scores into the index.
AGGREGATIONS: dict[str, str] = {
    "arithmetic": "weighted arithmetic mean of pillar scores",
    "geometric": "weighted geometric mean of pillar scores (a pillar at 0 gives 0)",
}
#: Intervention type following from the pillar that drives a place's need.
INTERVENTIONS: dict[str, str] = {
    "access": "infrastructure",
    "devices_skills": "devices and skills",
    "affordability": "affordability",
    "education": "education",
    "transformation": "business transformation",
    "infa": "infrastructure",
    "se": "devices and skills",
}

#: Reliability classes from the coefficient of variation (CV = SE / estimate) of a place's
#: share indicators: the widely used ACS guidance (CV < 15% reliable, 15-30% use with caution,
#: > 30% unreliable; e.g. U.S. Census Bureau, *Understanding and Using ACS Data*, 2020, ch. 7,
#: and the thresholds of state data centres and ESRI's ACS layers).
RELIABILITY_CV: tuple[float, float] = (0.15, 0.30)


@dataclass(frozen=True)
class Preset:
    """A named index definition.

    Parameters
    ----------
    name
        Preset name.
    pillars
        Pillar -> {indicator name: weight}.
    pillar_weights
        Pillar -> weight (normalised to sum 1 over the pillars with data).
    normalisation
        Default normalisation.
    description
        One paragraph for the methods card, with citations.
    """

    name: str
    pillars: Mapping[str, Mapping[str, float]]
    pillar_weights: Mapping[str, float]
    normalisation: str = "percentile"
    description: str = ""


PRESETS: dict[str, Preset] = {
    "techspark": Preset(
        name="techspark",
        pillars={
            "access": {
                "share_no_internet": 1.0,
                "share_no_broadband": 1.0,
                "download_mbps": 1.0,
                "share_tests_below_25_3": 1.0,
                "broadband_usage": 1.0,
                "broadband_availability": 1.0,
            },
            "devices_skills": {
                "share_no_computer": 1.0,
                "share_65_plus": 1.0,
                "share_no_hs_diploma": 1.0,
                "share_with_disability": 1.0,
                "share_limited_english": 1.0,
            },
            "affordability": {"median_household_income": 1.0, "share_below_poverty": 1.0},
            "education": {"km_to_school": 1.0, "km_to_library": 1.0},
            "transformation": {
                "share_small_business": 1.0,
                "establishments_per_1k": 1.0,
                "nonprofits_per_10k": 1.0,
            },
        },
        pillar_weights={p: 1.0 for p in PILLARS},
        description=(
            "Five pillars from the program's focus areas, equal pillar weights, equal indicator "
            "weights. No internet-income ratio is included: no public internet price by place "
            "exists in the inputs, and a national price over income is only income again."
        ),
    ),
    "ddi": Preset(
        name="ddi",
        pillars={
            "infa": {
                "broadband_availability": 1.0,
                "share_no_broadband": 1.0,
                "download_mbps": 1.0,
                "upload_mbps": 1.0,
            },
            "se": {
                "share_65_plus": 1.0,
                "share_no_hs_diploma": 1.0,
                "share_below_poverty": 1.0,
                "share_with_disability": 1.0,
                "share_no_computer": 1.0,
            },
        },
        pillar_weights={"infa": 1.0, "se": 1.0},
        normalisation="minmax",
        description=(
            "Digital Divide Index after Gallardo et al., Purdue Center for Regional Development "
            "(https://pcrd.purdue.edu/ddi): INFA (availability of 25/3 broadband, households "
            "without broadband, download and upload speed) and SE (age 65+, no high-school "
            "diploma, poverty, disability, no computer) scores 0-100, DDI their mean. Purdue "
            "weights standardised variables by factor loadings; equal weights and min-max "
            "scaling are used here, an approximation of the published scores."
        ),
    ),
    "svi": Preset(
        name="svi",
        pillars={},
        pillar_weights={},
        description=(
            "CDC/ATSDR Social Vulnerability Index (2018: 15 variables in 4 themes, per-capita "
            "income ranked in reverse; 2020 and later: 16 variables in 4 themes), percentile "
            "ranks as CDC computes them (PERCENTRANK.INC, 4 decimals)."
        ),
    ),
}

#: CDC/ATSDR SVI themes by variable set: theme -> EP_* variables (without the prefix).
SVI_THEMES: dict[str, dict[int, tuple[str, ...]]] = {
    "2018": {
        1: ("POV", "UNEMP", "PCI", "NOHSDP"),
        2: ("AGE65", "AGE17", "DISABL", "SNGPNT"),
        3: ("MINRTY", "LIMENG"),
        4: ("MUNIT", "MOBILE", "CROWD", "NOVEH", "GROUPQ"),
    },
    "2020": {
        1: ("POV150", "UNEMP", "HBURD", "NOHSDP", "UNINSUR"),
        2: ("AGE65", "AGE17", "DISABL", "SNGPNT", "LIMENG"),
        3: ("MINRTY",),
        4: ("MUNIT", "MOBILE", "CROWD", "NOVEH", "GROUPQ"),
    },
}
_SVI_REVERSED = {"PCI"}

# --------------------------------------------------------------------------------------------
# Ranking and normalisation kernels (vectorised over rows = draws, columns = places)
# --------------------------------------------------------------------------------------------


def _choice(kind: str, value: str, valid: Mapping[str, str] | Iterable[str]) -> str:
    names = list(valid)
    if value not in names:
        msg = f"unknown {kind} {value!r}; valid: {', '.join(names)}"
        raise ConfigError(msg)
    return value


def _segments(codes_sorted: np.ndarray) -> np.ndarray:
    """Start positions of contiguous groups in a sorted code array."""
    if codes_sorted.size == 0:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.r_[True, codes_sorted[1:] != codes_sorted[:-1]])


def _normalise_rows(x: np.ndarray, codes: np.ndarray, method: str) -> np.ndarray:
    """Normalise rows of `x` (rows, places) to [0, 1] within groups (not oriented)."""
    x = np.atleast_2d(x)
    if method == "percentile":
        return _percent_rank(x, codes)
    if method == "rank":
        rank, size = _group_ranks(x, codes, average=True)
        return np.where(size == 1, 1.0, rank / np.where(size > 1, size - 1, 1))
    # group statistics through reduceat on places sorted by group
    perm = np.argsort(codes, kind="stable")
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    xs = x[:, perm]
    starts = _segments(codes[perm])
    valid = ~np.isnan(xs)
    count = np.add.reduceat(valid, starts, axis=1)
    seg_len = np.diff(np.r_[starts, xs.shape[1]])
    count_b = np.repeat(count, seg_len, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "minmax":
            lo = np.repeat(
                np.minimum.reduceat(np.where(valid, xs, np.inf), starts, axis=1), seg_len, axis=1
            )
            hi = np.repeat(
                np.maximum.reduceat(np.where(valid, xs, -np.inf), starts, axis=1), seg_len, axis=1
            )
            span = hi - lo
            out = np.where(span > 0, (xs - lo) / np.where(span > 0, span, 1.0), 0.5)
        else:  # zscore
            total = np.add.reduceat(np.where(valid, xs, 0.0), starts, axis=1)
            mean = np.repeat(total / np.maximum(count, 1), seg_len, axis=1)
            dev = np.where(valid, xs - mean, 0.0)
            var = np.repeat(
                np.add.reduceat(dev * dev, starts, axis=1), seg_len, axis=1
            ) / np.maximum(count_b, 1)
            sd = np.sqrt(var)
            out = np.where(sd > 0, ndtr(dev / np.where(sd > 0, sd, 1.0)), 0.5)
        out = np.clip(out, 0.0, 1.0)
    out = np.where(valid, out, np.nan)
    return out[:, inv]


def normalise(
    values: Any,
    *,
    method: str = "percentile",
    direction: int = 1,
    groups: Any = None,
) -> np.ndarray:
    """Normalise one indicator to [0, 1], oriented so that higher means more need.

    Parameters
    ----------
    values
        Indicator values (1-D); NaN stays NaN.
    method
        One of :data:`NORMALISATIONS`.
    direction
        +1 if higher values mean more need, -1 if lower values do.
    groups
        Optional reference regions (e.g. state codes); by default all values.

    Returns
    -------
    numpy.ndarray
        Normalised values in [0, 1].

    Notes
    -----
    A need-decreasing indicator (direction -1) is reversed as :math:`1 - f(x)`, as CDC reverses
    per-capita income (``EPL_PCI = 1 - PERCENTRANK.INC``). A constant indicator gets 0.5 under
    min-max and z-score.

    Examples
    --------
    >>> normalise([30_000, 50_000, 90_000], direction=-1).tolist()
    [1.0, 0.5, 0.0]
    """
    _choice("normalisation", method, NORMALISATIONS)
    x = np.asarray(values, dtype=float).reshape(1, -1)
    out = _normalise_rows(x, _codes(groups, x.shape[1]), method)[0]
    return out if direction == 1 else 1.0 - out


# --------------------------------------------------------------------------------------------
# The index model
# --------------------------------------------------------------------------------------------


@dataclass
class _Model:
    """A preset resolved against a table: which indicators, which weights, which data."""

    preset: str
    normalisation: str
    reference: str
    aggregation: str
    pillars: dict[str, dict[str, float]]  # pillar -> indicator -> weight (normalised, present only)
    pillar_weights: dict[str, float]  # present pillars, sum 1
    missing_pillars: dict[str, float]  # pillar -> weight redistributed
    missing_indicators: list[str]
    indicators: dict[str, Indicator]
    values: dict[str, np.ndarray]  # point values (float64)
    norm_codes: np.ndarray  # reference region code per place
    state_codes: np.ndarray  # state code per place (p_top_k, rank_in_state)
    has_states: bool
    min_indicators: int
    notes: list[str] = field(default_factory=list)


def _weights_from(preset: Preset, weights: Mapping[str, float] | None) -> tuple[dict, dict]:
    pillars = {p: dict(w) for p, w in preset.pillars.items()}
    pillar_weights = dict(preset.pillar_weights)
    for key, w in (weights or {}).items():
        if not isinstance(w, int | float) or isinstance(w, bool) or not math.isfinite(w) or w < 0:
            msg = f"weight of {key!r} must be a finite number >= 0, got {w!r}"
            raise ConfigError(msg)
        if key in pillar_weights or key in PILLARS:
            pillar_weights[key] = float(w)
            pillars.setdefault(key, {})
        elif key in REGISTRY:
            ind = REGISTRY[key]
            owner = next((p for p, m in pillars.items() if key in m), ind.pillar)
            pillars.setdefault(owner, {})[key] = float(w)
            pillar_weights.setdefault(owner, 1.0)
        else:
            msg = (
                f"weights: {key!r} is neither a pillar ({', '.join(pillar_weights)}) nor a "
                f"registered indicator; known indicators: {sorted(REGISTRY)}"
            )
            raise ConfigError(msg)
    return pillars, pillar_weights


def _point_value(table: pd.DataFrame, ind: Indicator) -> np.ndarray | None:
    if ind.name in table:
        v = pd.to_numeric(table[ind.name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return v
    if all(c in table for c in ind.inputs):
        return compute_indicators(table[list(ind.inputs)], indicators=[ind])[ind.name].to_numpy(
            float
        )
    return None


def _resolve_model(
    table: pd.DataFrame,
    *,
    preset: str,
    weights: Mapping[str, float] | None,
    normalisation: str | None,
    reference: str,
    aggregation: str,
    state_column: str,
    min_indicators_per_pillar: int,
) -> _Model:
    _choice("preset", preset, PRESETS)
    p = PRESETS[preset]
    method = _choice("normalisation", normalisation or p.normalisation, NORMALISATIONS)
    _choice("reference", reference, REFERENCES)
    _choice("aggregation", aggregation, AGGREGATIONS)
    if min_indicators_per_pillar < 1:
        msg = f"min_indicators_per_pillar must be >= 1, got {min_indicators_per_pillar}"
        raise ConfigError(msg)
    pillars_w, pillar_weights = _weights_from(p, weights)
    has_states = state_column in table
    if reference == "state" and not has_states:
        msg = f"reference='state' needs the state column {state_column!r}; columns: {list(table.columns)[:12]}"
        raise SchemaError(msg)
    n = len(table)
    state_codes = _codes(table[state_column] if has_states else None, n)
    norm_codes = state_codes if reference == "state" else np.zeros(n, dtype=np.int64)
    values: dict[str, np.ndarray] = {}
    inds: dict[str, Indicator] = {}
    missing_ind: list[str] = []
    pillars: dict[str, dict[str, float]] = {}
    for pillar, members in pillars_w.items():
        kept = {}
        for name, w in members.items():
            if w <= 0:
                continue
            ind = get_indicator(name)
            v = _point_value(table, ind)
            if v is None or not np.isfinite(v).any():
                missing_ind.append(name)
                continue
            values[name] = v
            inds[name] = ind
            kept[name] = float(w)
        if kept and pillar_weights.get(pillar, 0) > 0:
            total = sum(kept.values())
            pillars[pillar] = {k: w / total for k, w in kept.items()}
    positive = {q: w for q, w in pillar_weights.items() if w > 0}
    missing_pillars = {q: w for q, w in positive.items() if q not in pillars}
    total_present = sum(positive[q] for q in pillars)
    if not pillars or total_present <= 0:
        wanted = sorted({i for m in pillars_w.values() for i in m})
        msg = (
            f"preset {preset!r}: no indicator has data in the table; needs any of {wanted} "
            f"(or their count columns); columns present: {list(table.columns)[:15]}"
        )
        raise SchemaError(msg)
    pw = {q: positive[q] / total_present for q in pillars}
    if missing_pillars:
        logger.info(
            "compute_index: pillars without data %s; weight redistributed", sorted(missing_pillars)
        )
    return _Model(
        preset=preset,
        normalisation=method,
        reference=reference,
        aggregation=aggregation,
        pillars=pillars,
        pillar_weights=pw,
        missing_pillars=missing_pillars,
        missing_indicators=missing_ind,
        indicators=inds,
        values=values,
        norm_codes=norm_codes,
        state_codes=state_codes,
        has_states=has_states,
        min_indicators=min_indicators_per_pillar,
    )


def _oriented_norm(x: np.ndarray, ind: Indicator, model: _Model) -> np.ndarray:
    out = _normalise_rows(x, model.norm_codes, model.normalisation)
    return out if ind.direction == 1 else 1.0 - out


def _pillar_layout(model: _Model) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Per-place effective indicator weights (renormalised over available ones) and pillar validity."""
    eff: dict[str, dict[str, np.ndarray]] = {}
    valid: dict[str, np.ndarray] = {}
    for pillar, members in model.pillars.items():
        avail = {k: np.isfinite(model.values[k]) for k in members}
        wsum = sum(members[k] * avail[k] for k in members)
        cnt = sum(avail[k].astype(int) for k in members)
        ok = (cnt >= min(model.min_indicators, len(members))) & (wsum > 0)
        eff[pillar] = {
            k: np.where(avail[k] & ok, members[k] / np.where(wsum > 0, wsum, 1), 0.0)
            for k in members
        }
        valid[pillar] = ok
    return eff, valid


#: A place gets an index when the pillars it has data for carry more than this share of the
#: pillar weight; their weights are renormalised for that place (``pillars_missing`` says which
#: pillars were left out), so a place missing one of several pillars is neither dropped nor
#: given a zero, while a place with half its pillars or fewer (e.g. no households) gets none.
MIN_PILLAR_WEIGHT_SHARE = 0.5


def _place_pillar_weights(
    model: _Model, valid: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-place pillar weights renormalised over the pillars the place has, and index validity."""
    covered = sum(model.pillar_weights[p] * valid[p] for p in model.pillars)
    covered = np.asarray(covered, dtype=float)
    ok = covered > MIN_PILLAR_WEIGHT_SHARE + 1e-12
    denom = np.where(covered > 0, covered, 1.0)
    weights = {p: np.where(valid[p], model.pillar_weights[p] / denom, 0.0) for p in model.pillars}
    return weights, ok


def _aggregate(
    scores: dict[str, np.ndarray],
    model: _Model,
    valid_all: np.ndarray,
    weights: Mapping[str, np.ndarray | float] | None = None,
) -> np.ndarray:
    """Index (0-1) from pillar scores (0-1), rows x places; NaN where the index is not valid.

    `weights` are per-place pillar weights (:func:`_place_pillar_weights`); by default the
    model's pillar weights.
    """
    w = weights if weights is not None else model.pillar_weights
    if model.aggregation == "arithmetic":
        out = sum(w[p] * s for p, s in scores.items())
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = sum(
                np.where(np.asarray(w[p]) > 0, w[p] * np.log(np.clip(s, 0.0, 1.0)), 0.0)
                for p, s in scores.items()
            )
        out = np.exp(logs)
    return np.where(valid_all, np.clip(out, 0.0, 1.0), np.nan)


def _point_index(model: _Model) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    norms = {
        k: _oriented_norm(v.reshape(1, -1), model.indicators[k], model)[0]
        for k, v in model.values.items()
    }
    eff, valid = _pillar_layout(model)
    scores = {}
    for pillar, members in eff.items():
        s = sum(members[k] * np.nan_to_num(norms[k]) for k in members)
        scores[pillar] = np.where(valid[pillar], s, np.nan)
    place_w, valid_all = _place_pillar_weights(model, valid)
    index = _aggregate({p: np.nan_to_num(s) for p, s in scores.items()}, model, valid_all, place_w)
    return norms, scores, index


# --------------------------------------------------------------------------------------------
# Monte Carlo
# --------------------------------------------------------------------------------------------

_LOWER_ZERO_UNITS = {"share", "mbps", "usd", "per_1k", "per_10k"}


@dataclass
class _DrawSpec:
    """How to draw one indicator: counts (numerator parts, denominator) or a value."""

    ind: Indicator
    point: np.ndarray  # float64 (n,)
    mask: np.ndarray  # valid places (point finite)
    counts: tuple[str, ...] = ()
    value_se: np.ndarray | None = None


def _draw_specs(
    table: pd.DataFrame, model: _Model
) -> tuple[list[_DrawSpec], dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """Which indicators vary, the counts they need (estimate, SE), and unknown-MOE count."""
    specs = []
    counts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    n_unknown = 0
    z = settings.moe_z
    for name, ind in model.indicators.items():
        point = model.values[name]
        mask = np.isfinite(point)
        if ind.moe_rule == "none" and not ind.is_count:
            continue
        if ind.is_count and all(c in table for c in ind.inputs):
            used = (*ind.numerator, ind.denominator)
            varying = False
            for c in used:
                if c not in counts:
                    est = pd.to_numeric(table[c], errors="coerce").to_numpy(
                        dtype=float, na_value=np.nan
                    )
                    moe = count_moe(table, c)
                    unknown = np.isnan(moe) & np.isfinite(est)
                    n_unknown += int(unknown.sum())
                    counts[c] = (est, np.where(np.isfinite(moe), moe, 0.0) / z)
                varying |= bool((counts[c][1][mask] > 0).any())
            if varying and ind.moe_rule != "none":
                specs.append(_DrawSpec(ind, point, mask, counts=used))
            continue
        # value indicator (or a share without its counts): draw the value from its MOE
        if ind.moe_rule == "none":
            continue
        moe = (
            pd.to_numeric(table[ind.moe_column], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan
            )
            if ind.moe_column in table
            else value_moe(table, ind)
        )
        unknown = np.isnan(moe) & mask
        n_unknown += int(unknown.sum())
        se = np.where(np.isfinite(moe), moe, 0.0) / z
        if (se[mask] > 0).any():
            specs.append(_DrawSpec(ind, point, mask, value_se=se))
    return specs, counts, n_unknown


#: Standard normal quantiles at the midpoints of 65,536 equiprobable classes: draws are
#: ``_NORMAL_LUT[u]`` for uniform 16-bit integers ``u`` (inverse-CDF sampling on a 16-bit grid,
#: |z| <= 4.3), three to four times cheaper than numpy's ziggurat in float32. The grid is far
#: finer than anything a 90% interval from a few hundred or thousand draws can resolve.
_NORMAL_LUT: np.ndarray = ndtri((np.arange(65536) + 0.5) / 65536).astype(np.float32)


def _std_normal(rng: np.random.Generator, shape: tuple[int, int], out: np.ndarray | None = None,
                ) -> np.ndarray:  # fmt: skip
    """Standard normal deviates (float32) of shape (draws, places), in antithetic pairs.

    The first ``ceil(draws / 2)`` rows come from :data:`_NORMAL_LUT`; each of the last
    ``floor(draws / 2)`` rows is minus one of the first (antithetic variates: every row is
    exactly standard normal, and a pair's rows mirror each other, which halves the cost of
    generation and does not bias quantiles or shares of draws; Avramidis and Wilson 1998,
    *Correlation-induction techniques for estimating quantiles in simulation experiments*).
    """
    c, n = shape
    h = c // 2
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    fresh = out[: c - h].reshape(-1)
    size = fresh.size
    # four 16-bit uniforms from each raw 64-bit output of the generator
    u16 = rng.bit_generator.random_raw((size + 3) // 4).view(np.uint16)[:size]
    _NORMAL_LUT.take(u16, out=fresh)
    if h:
        np.negative(out[:h], out=out[c - h :])
    return out


def _scratch(pool: dict, key: Any, shape: tuple[int, int]) -> np.ndarray:
    """A float32 work array of `pool` (one per thread), reused from chunk to chunk.

    Reusing the arrays that live through a chunk spares the allocator from returning them to
    the system and faulting fresh pages back in for every chunk.
    """
    size = shape[0] * shape[1]
    buf = pool.get(key)
    if buf is None or buf.size < size:
        buf = pool[key] = np.empty(size, dtype=np.float32)
    return buf[:size].reshape(shape)


def _chunk_size(n: int, n_draws: int) -> int:
    # about 512k values per array: the working set of a chunk stays in cache; at least two
    # draws (an antithetic pair, see _std_normal) up to 2M places
    floor = 2 if n <= 2**21 else 1
    return int(max(1, min(n_draws, max(floor, 2**19 // max(n, 1)))))


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
    pr = _round_ratio(within.astype(float), np.maximum(size_sorted - 1, 1).astype(float), 4)
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


#: Threads sharing the Monte Carlo chunks (numpy releases the GIL in sorting, random
#: generation and arithmetic). Results do not depend on it: each chunk has its own seed.
MC_THREADS: int = max(1, min(4, os.cpu_count() or 1))


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
    """Index draws (float32, draws x places), overall-rank draws and in-state top-k counts."""
    n = len(table)
    specs, counts, n_unknown = _draw_specs(table, model)
    eff, valid = _pillar_layout(model)
    place_w, valid_all = _place_pillar_weights(model, valid)
    out: dict[str, Any] = {"n_unknown_moe": n_unknown, "varying": [s.ind.name for s in specs]}
    nation = np.zeros(n, dtype=np.int64)
    if not specs or n_draws == 0:
        point_rank = _rank_desc(point_index.reshape(1, -1), nation)[0]
        out["index"] = np.broadcast_to(point_index.astype(np.float32), (n_draws, n))
        out["index_exact"] = True
        out["pr_error_bound"], out["rank_error_bound"] = 0.0, 0
        out["rank"] = np.broadcast_to(point_rank, (n_draws, n)) if keep_ranks else None
        in_state = _rank_desc(point_index.reshape(1, -1), model.state_codes)[0]
        out["top_k_count"] = np.where(
            np.isfinite(point_index), (in_state <= top_k) * float(n_draws), np.nan
        )
        return out
    varying = {s.ind.name for s in specs}
    geometric = model.aggregation == "geometric"
    # coefficient of each varying indicator's normalised draw, per place; a need-decreasing
    # indicator enters as w * (1 - pr) = w - w * pr, its w joining the constant part
    keys = ["index"] if not geometric else list(eff)
    const = {k: np.zeros(n) for k in keys}
    coef: dict[tuple[str, str], np.ndarray] = {}
    for p, members in eff.items():
        target = p if geometric else "index"
        pw = 1.0 if geometric else place_w[p]
        for k, w in members.items():
            w = pw * w
            if k not in varying:
                const[target] += w * np.nan_to_num(point_norms[k])
            elif model.normalisation == "percentile" and model.indicators[k].direction == -1:
                const[target] += w
                coef[(target, k)] = (-w).astype(np.float32)
            else:
                coef[(target, k)] = w.astype(np.float32)
    const32 = {k: v.astype(np.float32) for k, v in const.items()}
    fast = model.normalisation == "percentile"
    lays = (
        {s.ind.name: _layout(s.mask, model.norm_codes, allow_binned=True) for s in specs}
        if fast
        else {}
    )
    fast = fast and all(lay is not None for lay in lays.values())
    for s in specs:
        lay = lays.get(s.ind.name)
        if lay is not None and lay.binned:
            lay.sqrt = _sqrt_spacing(s.point[s.mask])
    lay_all = _layout(valid_all, nation, allow_binned=True)
    if lay_all is not None and lay_all.binned:
        lay_all.sqrt = _sqrt_spacing(point_index[valid_all])
    lay_state = _layout(valid_all, model.state_codes) if top_k > 1 else None
    # top 1 in state (the default) needs no ranking: the place equals its state's maximum
    vidx = np.flatnonzero(valid_all)
    _, sg = np.unique(model.state_codes[vidx], return_inverse=True)
    sperm = np.argsort(sg.reshape(-1), kind="stable")
    s_starts = _segments(sg.reshape(-1)[sperm])
    s_sizes = np.diff(np.r_[s_starts, vidx.size])
    s_places = vidx[sperm]
    index_draws = np.empty((n_draws, n), dtype=np.float32)
    every_valid = bool(valid_all.all())
    rank_draws = np.empty((n_draws, n), dtype=np.int32) if keep_ranks else None
    step = _chunk_size(n, n_draws)
    starts = list(range(0, n_draws, step))
    seeds = np.random.SeedSequence(seed).spawn(len(starts))
    den_floor = {name: (est > 0) for name, (est, _) in counts.items()}
    e32 = {name: est.astype(np.float32) for name, (est, _) in counts.items()}
    s32 = {name: se.astype(np.float32) for name, (_, se) in counts.items()}
    has_se = {name: bool((se > 0).any()) for name, (_, se) in counts.items()}
    v32 = {s.ind.name: (s.point.astype(np.float32), s.value_se.astype(np.float32))
           for s in specs if s.value_se is not None}  # fmt: skip

    pools: dict[int, dict] = {}  # per-thread work arrays, dropped when the simulation ends

    def run_chunk(i: int) -> tuple[np.ndarray, float, int]:
        start = starts[i]
        pr_err, rank_err = 0.0, 0  # error bounds of binned ranks (0: exact)
        c = min(step, n_draws - start)
        rng = np.random.default_rng(seeds[i])
        drawn: dict[Any, np.ndarray] = {}

        pool = pools.setdefault(threading.get_ident(), {})

        def count_draw(name: str) -> np.ndarray:
            if name not in drawn:
                if has_se[name]:
                    d = _std_normal(rng, (c, n), out=_scratch(pool, name, (c, n)))
                    d *= s32[name]
                    d += e32[name]
                    np.maximum(d, np.float32(0.0), out=d)
                else:
                    d = np.broadcast_to(e32[name], (c, n))
                drawn[name] = d
            return drawn[name]

        acc = {k: np.repeat(v[None, :], c, axis=0) for k, v in const32.items()}
        for s in specs:
            ind = s.ind
            if s.counts:
                num = count_draw(s.counts[0])
                for extra in s.counts[1:-1]:
                    num = num + count_draw(extra)
                den_name = s.counts[-1]
                if (den_name, 1) not in drawn:
                    # a universe with a positive estimate holds at least one unit
                    den = count_draw(den_name)
                    floor = _scratch(pool, (den_name, 1), (c, n))
                    np.maximum(den, np.float32(1.0), out=floor)
                    np.copyto(floor, den, where=~den_floor[den_name])
                    drawn[(den_name, 1)] = floor
                den = drawn[(den_name, 1)]
                x = np.minimum(num, den) if ind.moe_rule == "proportion" else num.copy()
                with np.errstate(divide="ignore", invalid="ignore"):
                    x /= den
                if ind.complement:
                    np.subtract(np.float32(1.0), x, out=x)
                if ind.scale != 1.0:
                    x *= np.float32(ind.scale)
            else:
                point, se = v32[ind.name]
                x = _std_normal(rng, (c, n))
                x *= se
                x += point
                if ind.unit in _LOWER_ZERO_UNITS:
                    np.maximum(x, np.float32(0.0), out=x)
                if ind.unit == "share":
                    np.minimum(x, np.float32(1.0), out=x)
            if not s.mask.all():
                x = np.where(s.mask, x, np.float32(0.0))
            nonneg = ind.unit in _LOWER_ZERO_UNITS or bool(x.min() >= 0)
            if fast and nonneg:
                norm, err = _draw_percentile_bound(x, lays[ind.name])  # type: ignore[arg-type]
                pr_err = max(pr_err, err)
            else:
                x = np.where(s.mask[None, :], x, np.float32(np.nan)).astype(np.float32)
                norm = np.nan_to_num(_oriented_norm(x, ind, model).astype(np.float32))
                if fast and ind.direction == -1:  # coefficient expects the unoriented rank
                    norm = np.float32(1.0) - norm
            for target in keys:
                w = coef.get((target, ind.name))
                if w is not None:
                    norm *= w
                    acc[target] += norm
                    break
        if geometric:
            idx = _aggregate({p: acc[p].astype(np.float64) for p in eff}, model, valid_all, place_w)
            idx = idx.astype(np.float32)
            index_draws[start : start + c] = idx
        else:
            idx = index_draws[start : start + c]
            np.clip(acc["index"], 0.0, 1.0, out=idx)
            if not every_valid:
                idx[:, ~valid_all] = np.nan
        ok = idx if every_valid else np.where(valid_all, idx, np.float32(0.0))
        if rank_draws is not None:
            if lay_all is not None:
                rank_draws[start : start + c], err = _draw_rank_desc_bound(ok, lay_all)
                rank_err = max(rank_err, err)
            else:
                rank_draws[start : start + c] = np.nan_to_num(_rank_desc(idx, nation), nan=0)
        if top_k == 1:
            top = np.zeros(n, dtype=np.int64)
            top[s_places] = _top1_counts(ok, s_places, s_starts, s_sizes)
            return top, pr_err, rank_err
        in_state = (
            _draw_rank_desc(ok, lay_state) if lay_state is not None
            else _rank_desc(idx, model.state_codes)
        )  # fmt: skip
        return ((in_state <= top_k) & (in_state > 0)).sum(axis=0), pr_err, rank_err

    threads = min(MC_THREADS, len(starts))
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(run_chunk, range(len(starts))))
    else:
        results = [run_chunk(i) for i in range(len(starts))]
    _ROW_BUFFERS.__dict__.pop("pool", None)  # worker threads' buffers end with their threads
    top_count = sum(r[0] for r in results)
    out["index"] = index_draws
    out["index_exact"] = False
    out["rank"] = rank_draws
    out["top_k_count"] = np.where(np.isfinite(point_index), top_count, np.nan)
    out["pr_error_bound"] = max(r[1] for r in results)
    out["rank_error_bound"] = max(r[2] for r in results)
    return out


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
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(MC_THREADS, len(starts))) as pool:
            list(pool.map(block, starts))
    else:
        for a in starts:
            block(a)
    return q, rlo, rhi


def _rank_desc(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Rank 1 = largest, ties at the lowest rank ("min"), within groups; NaN stays NaN."""
    rank, _ = _group_ranks(-np.atleast_2d(values), codes)
    return rank + 1.0


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _reliability(
    table: pd.DataFrame,
    model: _Model,
    *,
    point: np.ndarray | None = None,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
) -> pd.Series:
    """high / medium / low from a coefficient of variation, by the ACS thresholds.

    With Monte Carlo intervals, the CV is the index's own: SE = (hi - lo) / (2 * 1.645) over
    the index. Without draws, it is the median CV of the place's share indicators (a single
    tiny share, e.g. 1% limited English, must not mark a whole place unreliable).
    """
    hi_cv, lo_cv = RELIABILITY_CV
    if point is not None and lo is not None and hi is not None and np.isfinite(hi - lo).any():
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = ((hi - lo) / (2 * settings.moe_z)) / np.abs(point)
        cv = np.where((point == 0) & (hi - lo == 0), 0.0, cv)
        ok = np.isfinite(point) & np.isfinite(hi - lo)
    else:
        cvs = []
        for name, ind in model.indicators.items():
            if ind.unit != "share" or ind.moe_column not in table:
                continue
            est = model.values[name]
            moe = pd.to_numeric(table[ind.moe_column], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                c = (moe / settings.moe_z) / np.abs(est)
            c = np.where((est == 0) & (moe > 0), np.inf, np.where((est == 0) & (moe == 0), 0.0, c))
            cvs.append(c)
        if not cvs:
            return pd.Series(pd.array([pd.NA] * len(table), dtype="string"), index=table.index)
        stack = np.vstack(cvs)
        ok = ~np.isnan(stack).all(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            cv = np.nanmedian(stack, axis=0)
    labels = np.where(cv < hi_cv, "high", np.where(cv < lo_cv, "medium", "low")).astype(object)
    labels[~ok] = pd.NA
    return pd.Series(pd.array(labels, dtype="string"), index=table.index)


def compute_index(
    table: pd.DataFrame,
    *,
    preset: str = "techspark",
    weights: Mapping[str, float] | None = None,
    normalisation: str | None = None,
    reference: str = "nation",
    n_draws: int | None = None,
    seed: int | None = None,
    top_k: int = 1,
    state_column: str = "state_GEOID",
    min_indicators_per_pillar: int = 1,
    aggregation: str = "arithmetic",
) -> pd.DataFrame:
    """Compute the digital-equity index, its uncertainty and its diagnosis.

    Parameters
    ----------
    table
        Places with indicator columns (``share_*`` etc.) or the counts they are computed from
        (with ``moe_*``), value columns (``download_mbps`` ...) and ``state_column``.
    preset
        One of :data:`PRESETS` (``"svi"`` delegates to :func:`svi`).
    weights
        Overrides: pillar name -> pillar weight and/or indicator name -> indicator weight (an
        indicator not in the preset joins its registry pillar). Weight 0 drops an item.
    normalisation
        One of :data:`NORMALISATIONS`; default the preset's (``percentile`` for techspark).
    reference
        ``"nation"`` (all places) or ``"state"`` (within each state).
    n_draws
        Monte Carlo draws; default :data:`equity.settings.n_draws`. 0 skips the simulation
        (intervals equal the point estimate).
    seed
        Seed of the draws; default :data:`equity.settings.seed`.
    top_k
        ``p_top_k`` is the probability of ranking within the top `top_k` of the state.
    state_column
        Column with the state code (needed for ``reference="state"``; without it ``rank_in_state``
        and ``p_top_k`` refer to the whole table).
    min_indicators_per_pillar
        A place's pillar score needs at least this many of the pillar's indicators (capped at
        the number of indicators of the pillar with data); otherwise it is NaN.
    aggregation
        ``"arithmetic"`` or ``"geometric"`` mean of pillar scores.

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
    float32 from normal deviates on a 16-bit inverse-CDF grid (:data:`_NORMAL_LUT`), in
    antithetic pairs of draws (:func:`_std_normal`), in chunks of draws each with its own
    seed (so results do not depend on :data:`MC_THREADS`), and
    ranked per draw by one sort of packed keys; values equal in float32 count as ties.
    ``p_top_k`` is the share of draws in which the place ranks within the top `top_k` of its
    state (for ``top_k=1``, exactly: a place is first when it equals its state's maximum).

    *Binned ranks of large tables.* When an indicator has more than
    :data:`BINNED_RANK_MIN_PLACES` places with data and is normalised over one reference group
    (``reference="nation"``), its draws are ranked by histogram instead of sorting
    (:func:`_binned_ranks`), and so are the per-draw index ranks behind ``rank_lo/hi``. Per
    draw, the :math:`m` values are quantised into :math:`B` = :data:`RANK_BINS` bins (bin 0:
    the values equal to the draw's minimum; bins :math:`1..B-1`: equal widths in :math:`x`, or
    in :math:`\\sqrt{x - \\min}` where that spreads the indicator's point values more evenly,
    as for right-skewed speeds and incomes (:func:`_sqrt_spacing`), over
    :math:`(\\min, \\max]`), counted with one ``bincount``; with :math:`C_b` the number of
    values in bins below :math:`b`, a value in bin :math:`b` gets
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
    """
    if preset == "svi":
        out = svi(table)
        out["equity_index"] = 100.0 * out["RPL_THEMES"]
        out["rank"] = pd.array(
            _rank_desc(
                out["equity_index"].to_numpy(float).reshape(1, -1),
                np.zeros(len(out), dtype=np.int64),
            )[0],
            dtype="Int64",
        )
        return out
    n_draws = settings.n_draws if n_draws is None else int(n_draws)
    seed = settings.seed if seed is None else int(seed)
    if n_draws < 0 or top_k < 1:
        msg = f"n_draws must be >= 0 and top_k >= 1, got n_draws={n_draws}, top_k={top_k}"
        raise ConfigError(msg)
    model = _resolve_model(
        table,
        preset=preset,
        weights=weights,
        normalisation=normalisation,
        reference=reference,
        aggregation=aggregation,
        state_column=state_column,
        min_indicators_per_pillar=min_indicators_per_pillar,
    )
    norms, scores, index = _point_index(model)
    n = len(table)
    out = table.copy()
    new: dict[str, Any] = {}
    for name, v in model.values.items():
        if name not in table:
            new[name] = v
        new[f"norm_{name}"] = norms[name]
    for pillar, s in scores.items():
        new[f"score_{pillar}"] = 100.0 * s
    for pillar in model.missing_pillars:
        new[f"score_{pillar}"] = np.full(n, np.nan)
    point = 100.0 * index
    new["equity_index"] = point
    # pillars left out of each place's index (weights renormalised over the others)
    missing_here = np.full(n, "", dtype=object)
    for pillar, sc in scores.items():
        gap = np.isnan(sc) & np.isfinite(index)
        missing_here[gap] = np.where(
            missing_here[gap] == "", pillar, missing_here[gap] + ", " + pillar
        )
    new["pillars_missing"] = pd.array(
        np.where(np.isfinite(index), missing_here, pd.NA), dtype="string"
    )
    sim = _simulate(
        table, model, n_draws=n_draws, seed=seed, top_k=top_k, point_index=index, point_norms=norms
    )
    rank = _rank_desc(point.reshape(1, -1), np.zeros(n, dtype=np.int64))[0]
    rank_state = _rank_desc(point.reshape(1, -1), model.state_codes)[0]
    finite = np.isfinite(point)
    n_ext = 0
    if n_draws > 0 and not sim["index_exact"]:
        draws = sim["index"]
        cols = np.flatnonzero(finite)
        q = np.full((2, n), np.nan)
        rlo = np.full(n, np.nan)
        rhi = np.full(n, np.nan)
        if cols.size:
            every = cols.size == n
            sub = draws if every else draws[:, cols]
            ranks = sim["rank"] if every else sim["rank"][:, cols]
            qc, rlo[cols], rhi[cols] = _draw_quantiles(sub, ranks)
            q[:, cols] = qc * 100.0
        lo = np.minimum(q[0], point)
        hi = np.maximum(q[1], point)
        n_ext = int(((q[0] > point) | (q[1] < point))[finite].sum())
        rlo = np.minimum(rlo, rank)
        rhi = np.maximum(rhi, rank)
    else:
        lo, hi, rlo, rhi = point.copy(), point.copy(), rank.copy(), rank.copy()
    new["equity_index_lo"] = np.where(finite, lo, np.nan)
    new["equity_index_hi"] = np.where(finite, hi, np.nan)
    new["rank"] = pd.array(rank, dtype="Int64")
    new["rank_in_state"] = pd.array(rank_state, dtype="Int64")
    new["rank_lo"] = pd.array(np.where(finite, rlo, np.nan), dtype="Int64")
    new["rank_hi"] = pd.array(np.where(finite, rhi, np.nan), dtype="Int64")
    new["p_top_k"] = (
        sim["top_k_count"] / max(n_draws, 1)
        if n_draws > 0
        else np.where(finite, (rank_state <= top_k).astype(float), np.nan)
    )
    driving, intervention = _diagnose(scores)
    new["driving_pillar"] = driving
    new["intervention"] = intervention
    for k, v in new.items():
        out[k] = v
    out["reliability"] = _reliability(
        table,
        model,
        point=np.where(finite, point, np.nan) if n_draws > 0 else None,
        lo=new["equity_index_lo"] if n_draws > 0 else None,
        hi=new["equity_index_hi"] if n_draws > 0 else None,
    )
    flat = {k: w for m in model.pillars.values() for k, w in m.items()}
    out.attrs = dict(table.attrs)
    out.attrs["index"] = {
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
        "top_k": top_k,
        "state_column": state_column if model.has_states else None,
        "varying_indicators": sim["varying"],
        "n_unknown_moe": sim["n_unknown_moe"],
        "n_interval_extended": n_ext,
        "mc_percentile_error_bound": float(sim["pr_error_bound"]),
        "mc_rank_error_bound": int(sim["rank_error_bound"]),
        "n_missing_index": int((~finite).sum()),
        "n_partial_pillars": int((pd.Series(new["pillars_missing"]).fillna("") != "").sum()),
        "min_pillar_weight_share": MIN_PILLAR_WEIGHT_SHARE,
        "ookla_test_cv": float(_indicators.OOKLA_TEST_CV),
        "reliability_cv": RELIABILITY_CV,
    }
    logger.info(
        "compute_index: %d places, preset %s, %d draws, pillars %s (missing %s)",
        n,
        model.preset,
        n_draws,
        list(model.pillars),
        sorted(model.missing_pillars),
    )
    return out


def _diagnose(scores: dict[str, np.ndarray]) -> tuple[pd.api.extensions.ExtensionArray, ...]:
    """The pillar with the highest need score per place, and the intervention it calls for."""
    names = np.array(list(scores), dtype=object)
    mat = np.vstack([scores[p] for p in names])
    has = np.isfinite(mat).any(axis=0)
    pillar = names[np.argmax(np.where(np.isfinite(mat), mat, -np.inf), axis=0)]
    intervention = np.array([INTERVENTIONS.get(p, p) for p in names], dtype=object)[
        np.argmax(np.where(np.isfinite(mat), mat, -np.inf), axis=0)
    ]
    pillar[~has] = None
    intervention[~has] = None
    return pd.array(pillar, dtype="string"), pd.array(intervention, dtype="string")


def simulate_index(
    table: pd.DataFrame,
    *,
    preset: str = "techspark",
    weights: Mapping[str, float] | None = None,
    normalisation: str | None = None,
    reference: str = "nation",
    n_draws: int | None = None,
    seed: int | None = None,
    state_column: str = "state_GEOID",
    min_indicators_per_pillar: int = 1,
    aggregation: str = "arithmetic",
) -> np.ndarray:
    """Monte Carlo draws of the index, shape (places, draws), 0-100 (float32).

    Same model and options as :func:`compute_index` (the same seed gives the draws behind its
    intervals). Places without an index have NaN draws.

    Parameters
    ----------
    table
        As for :func:`compute_index`.
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
    n_draws = settings.n_draws if n_draws is None else int(n_draws)
    seed = settings.seed if seed is None else int(seed)
    model = _resolve_model(
        table,
        preset=preset,
        weights=weights,
        normalisation=normalisation,
        reference=reference,
        aggregation=aggregation,
        state_column=state_column,
        min_indicators_per_pillar=min_indicators_per_pillar,
    )
    norms, _, index = _point_index(model)
    sim = _simulate(
        table,
        model,
        n_draws=n_draws,
        seed=seed,
        top_k=1,
        point_index=index,
        point_norms=norms,
        keep_ranks=False,
    )
    draws = np.asarray(sim["index"], dtype=np.float32) * np.float32(100.0)
    return draws.T


def sensitivity(
    table: pd.DataFrame,
    *,
    preset: str = "techspark",
    weights: Mapping[str, float] | None = None,
    n: int = 200,
    concentration: float = 50.0,
    normalisations: Iterable[str] = tuple(NORMALISATIONS),
    reference: str = "nation",
    state_column: str = "state_GEOID",
    aggregation: str = "arithmetic",
    seed: int | None = None,
    id_column: str = "GEOID",
) -> pd.DataFrame:
    """Rank stability under perturbed pillar weights and swapped normalisations.

    Parameters
    ----------
    table
        As for :func:`compute_index`.
    preset, weights, reference, state_column, aggregation
        The chosen model, as for :func:`compute_index`.
    n
        Number of scenarios.
    concentration
        Dirichlet concentration: pillar weights of a scenario are drawn from
        :math:`\\mathrm{Dir}(\\kappa w)`; larger means closer to the chosen weights.
    normalisations
        Normalisations cycled through the scenarios.
    seed
        Seed; default :data:`equity.settings.seed`.
    id_column
        Column copied to the result when present.

    Returns
    -------
    pandas.DataFrame
        Per place: ``rank`` (chosen model), ``rank_min``, ``rank_max``, ``rank_range``,
        ``rank_median`` over the scenarios. ``attrs["sensitivity"]`` holds the Spearman
        correlation of each scenario's ranking with the chosen one (mean, min, 5th percentile).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"share_no_internet": [0.1, 0.3, 0.2, 0.4], "share_no_computer": [0.2, 0.1, 0.3, 0.4],
    ...                   "median_household_income": [80e3, 40e3, 60e3, 30e3]})
    >>> s = sensitivity(t, n=20, seed=1)
    >>> bool((s["rank_min"] <= s["rank"]).all() and (s["rank"] <= s["rank_max"]).all())
    True
    """
    seed = settings.seed if seed is None else int(seed)
    methods = [_choice("normalisation", m, NORMALISATIONS) for m in normalisations]
    model = _resolve_model(
        table,
        preset=preset,
        weights=weights,
        normalisation=None,
        reference=reference,
        aggregation=aggregation,
        state_column=state_column,
        min_indicators_per_pillar=1,
    )
    _, base_scores, base_index = _point_index(model)
    pillars = list(model.pillars)
    # pillar scores under each normalisation: (methods, pillars, places)
    eff, valid = _pillar_layout(model)
    stacks = []
    for m in methods:
        model.normalisation = m
        norms = {
            k: _oriented_norm(v.reshape(1, -1), model.indicators[k], model)[0]
            for k, v in model.values.items()
        }
        stacks.append(
            np.vstack([sum(eff[p][k] * np.nan_to_num(norms[k]) for k in eff[p]) for p in pillars])
        )
    scores = np.stack(stacks)
    valid_all = _place_pillar_weights(model, valid)[1]
    avail = np.stack([valid[p] for p in pillars]).astype(float)  # (pillars, places)
    rng = np.random.default_rng(seed)
    w0 = np.array([model.pillar_weights[p] for p in pillars])
    w = (
        rng.dirichlet(np.maximum(concentration * w0, 1e-6), size=n)
        if len(pillars) > 1
        else np.ones((n, 1))
    )
    which = np.arange(n) % len(methods)
    sc = scores[which]  # (n, pillars, places)
    # perturbed weights renormalised, per place, over the pillars the place has
    den = np.einsum("sp,pi->si", w, avail)
    den = np.where(den > 0, den, 1.0)
    if aggregation == "arithmetic":
        idx = np.einsum("sp,spi->si", w, sc * avail[None]) / den
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(avail[None] > 0, np.log(np.clip(sc, 0, 1)), 0.0)
            idx = np.exp(np.einsum("sp,spi->si", w, logs) / den)
    idx = np.where(valid_all[None, :], idx, np.nan)
    ranks = _rank_desc(idx, np.zeros(idx.shape[1], dtype=np.int64))
    base_rank = _rank_desc(base_index.reshape(1, -1), np.zeros(len(base_index), dtype=np.int64))[0]
    ok = np.isfinite(base_rank)
    # Spearman: Pearson correlation of (average) ranks
    ra = _group_ranks(-idx[:, ok], np.zeros(int(ok.sum()), dtype=np.int64), average=True)[0]
    rb = _group_ranks(
        -base_index[ok].reshape(1, -1), np.zeros(int(ok.sum()), dtype=np.int64), average=True
    )[0]
    ra = ra - ra.mean(axis=1, keepdims=True)
    rb = rb - rb.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(axis=1) / np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    out = pd.DataFrame(index=table.index)
    if id_column in table:
        out[id_column] = table[id_column].to_numpy()
    out["rank"] = pd.array(base_rank, dtype="Int64")
    with np.errstate(invalid="ignore"):
        out["rank_min"] = pd.array(
            np.where(ok, np.nanmin(np.where(ok, ranks, np.inf), axis=0), np.nan), dtype="Int64"
        )
        out["rank_max"] = pd.array(
            np.where(ok, np.nanmax(np.where(ok, ranks, -np.inf), axis=0), np.nan), dtype="Int64"
        )
        out["rank_median"] = np.where(ok, np.median(np.where(ok, ranks, 0), axis=0), np.nan)
    out["rank_min"] = out["rank_min"].where(out["rank_min"] <= out["rank"], out["rank"])
    out["rank_max"] = out["rank_max"].where(out["rank_max"] >= out["rank"], out["rank"])
    out["rank_range"] = out["rank_max"] - out["rank_min"]
    out.attrs["sensitivity"] = {
        "n": n,
        "concentration": concentration,
        "normalisations": methods,
        "seed": seed,
        "spearman_mean": float(np.nanmean(rho)) if rho.size else float("nan"),
        "spearman_min": float(np.nanmin(rho)) if rho.size else float("nan"),
        "spearman_p05": float(np.nanquantile(rho, 0.05)) if rho.size else float("nan"),
        "pillar_weights": dict(zip(pillars, w0.tolist(), strict=True)),
    }
    del base_scores
    return out


# --------------------------------------------------------------------------------------------
# CDC/ATSDR SVI
# --------------------------------------------------------------------------------------------

_SVI_OUTPUT = re.compile(r"^(EPL_|SPL_|RPL_|F_)")


def _svi_version(columns: Iterable[str]) -> str:
    cols = set(columns)
    if {"EP_POV150", "EP_HBURD"} <= cols:
        return "2020"
    if {"EP_POV", "EP_PCI"} <= cols:
        return "2018"
    msg = (
        "cannot tell the SVI variable set: 2018 needs EP_POV and EP_PCI, 2020 and later "
        f"EP_POV150 and EP_HBURD; EP_ columns present: {sorted(c for c in cols if c.startswith('EP_'))}"
    )
    raise SchemaError(msg)


def svi(table: pd.DataFrame) -> pd.DataFrame:
    """CDC/ATSDR Social Vulnerability Index from the ``EP_*`` estimates, as CDC computes it.

    Parameters
    ----------
    table
        A CDC/ATSDR SVI table (or any table with the ``EP_*`` columns of one variable set);
        -999 and NaN are missing. The 2018 set (15 variables, ``EP_POV`` ... ``EP_PCI``) or
        the 2020 and later set (16 variables, ``EP_POV150``, ``EP_HBURD``, ``EP_UNINSUR`` ...)
        is detected from the columns.

    Returns
    -------
    pandas.DataFrame
        A copy of `table` without any input ``EPL_*``, ``SPL_*``, ``RPL_*``, ``F_*`` columns,
        then, computed: ``EPL_<var>``, ``SPL_THEME1..4``, ``RPL_THEME1..4``, ``SPL_THEMES``,
        ``RPL_THEMES``, ``F_<var>``, ``F_THEME1..4``, ``F_TOTAL``. Missing is NaN (CDC: -999).
        ``attrs["svi"]`` names the variable set.

    Notes
    -----
    :math:`EPL = PERCENTRANK.INC` over places with a valid value, rounded to 4 decimals
    (:func:`percent_rank_inc`); 2018 per-capita income is reversed, :math:`1 - PR`. A theme's
    SPL is the sum of its (rounded) EPLs, computed exactly in units of :math:`10^{-4}` so
    equal sums tie as they do in CDC's decimal arithmetic; RPL is the percentile rank of the
    SPL. A place missing any variable of a theme has no SPL/RPL for that theme nor overall.
    Flags: ``F_<var> = 1`` if :math:`EPL \\geq 0.90`; ``F_THEMEn`` counts them per theme,
    ``F_TOTAL`` overall. Themes (CDC/ATSDR SVI documentation 2018, 2020): see :data:`SVI_THEMES`.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({f"EP_{v}": [1.0, 2.0, 3.0] for th in SVI_THEMES["2018"].values() for v in th})
    >>> svi(t)["RPL_THEMES"].tolist()
    [0.0, 0.5, 1.0]
    """
    version = _svi_version(table.columns)
    themes = SVI_THEMES[version]
    needed = [f"EP_{v}" for th in themes.values() for v in th]
    missing = [c for c in needed if c not in table]
    if missing:
        raise SchemaError(f"SVI {version} table lacks {missing}", source="svi")
    base = table.drop(columns=[c for c in table.columns if _SVI_OUTPUT.match(str(c))])
    n = len(base)
    zero = np.zeros(n, dtype=np.int64)
    new: dict[str, Any] = {}
    units: dict[str, np.ndarray] = {}  # EPL in 1e-4 units (float with NaN)
    for th in themes.values():
        for v in th:
            x = pd.to_numeric(base[f"EP_{v}"], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan
            )
            x = np.where(x == -999, np.nan, x)
            pr = np.round(_percent_rank(x.reshape(1, -1), zero)[0] * 10_000)
            if v in _SVI_REVERSED:
                pr = 10_000 - pr
            units[v] = pr
            new[f"EPL_{v}"] = pr / 10_000
    spl_units = {}
    for t, th in themes.items():
        s = np.sum([units[v] for v in th], axis=0)  # NaN if any variable missing
        spl_units[t] = s
        new[f"SPL_THEME{t}"] = s / 10_000
        new[f"RPL_THEME{t}"] = _percent_rank(s.reshape(1, -1), zero)[0]
    total = np.sum(list(spl_units.values()), axis=0)
    new["SPL_THEMES"] = total / 10_000
    new["RPL_THEMES"] = _percent_rank(total.reshape(1, -1), zero)[0]
    flag_total = None
    for t, th in themes.items():
        theme_flags = None
        for v in th:
            e = units[v]
            f = np.where(np.isnan(e), np.nan, (e >= 9_000).astype(float))
            new[f"F_{v}"] = pd.array(f, dtype="Int64")
            theme_flags = f if theme_flags is None else theme_flags + f
        new[f"F_THEME{t}"] = pd.array(theme_flags, dtype="Int64")
        flag_total = theme_flags if flag_total is None else flag_total + theme_flags
    new["F_TOTAL"] = pd.array(flag_total, dtype="Int64")
    out = pd.concat([base, pd.DataFrame(new, index=base.index)], axis=1)
    out.attrs = dict(table.attrs)
    out.attrs["svi"] = {
        "version": version,
        "variables": needed,
        "n_places": n,
        "n_missing_overall": int(np.isnan(total).sum()),
    }
    logger.info("svi: %s variable set, %d places", version, n)
    return out


# --------------------------------------------------------------------------------------------
# File front door (CLI `equity index`)
# --------------------------------------------------------------------------------------------

_ID_CANDIDATES = ("GEOID", "FIPS", "GEO_ID", "geoid", "fips", "geo_id")


def run_index_file(
    input_path: str | os.PathLike[str],
    *,
    preset: str = "techspark",
    reference: str = "nation",
    id_column: str | None = None,
    out: str | os.PathLike[str],
    n_draws: int | None = None,
    seed: int | None = None,
) -> Path:
    """Compute an index from a CSV file and write the result as CSV (atomically).

    Parameters
    ----------
    input_path
        CSV with one row per place: indicator columns, counts with ``moe_*``, raw ACS columns
        (``<VAR>E``/``<VAR>M``, converted by :func:`equity.indicators.counts_from_acs`), or a
        CDC/ATSDR SVI table for ``preset="svi"``.
    preset
        One of :data:`PRESETS`.
    reference
        ``"nation"`` or ``"state"``.
    id_column
        Key column, read as text; default the first of ``GEOID``, ``FIPS``, ``GEO_ID`` present.
        Without a ``state_GEOID`` column, the state is the first two digits of a numeric key.
    out
        Output CSV path.
    n_draws, seed
        Monte Carlo draws and seed; defaults from :mod:`equity.settings`.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"GEOID": ["01001", "01003", "02013"], "share_no_internet": [0.1, 0.3, 0.2]}).to_csv(d / "in.csv", index=False)
    >>> path = run_index_file(d / "in.csv", out=d / "out.csv", n_draws=0)
    >>> pd.read_csv(path, dtype={"GEOID": str})["rank"].tolist()
    [3, 1, 2]
    """
    src = Path(input_path)
    if not src.is_file():
        raise DataError(f"input file not found: {src}")
    _choice("preset", preset, PRESETS)
    header = pd.read_csv(src, nrows=0).columns
    if id_column is None:
        id_column = next((c for c in _ID_CANDIDATES if c in header), None)
        if id_column is None:
            msg = f"{src}: no id column found (looked for {', '.join(_ID_CANDIDATES)}); pass id_column; columns: {list(header)[:10]}"
            raise SchemaError(msg)
    elif id_column not in header:
        raise SchemaError(f"{src}: id column {id_column!r} not found; columns: {list(header)[:10]}")
    dtypes = {id_column: "string"}
    for c in ("state_GEOID", "county_GEOID", "ST", "STCNTY"):
        if c in header:
            dtypes[c] = "string"
    table = pd.read_csv(src, dtype=dtypes)  # type: ignore[arg-type]
    if table[id_column].isna().any():
        bad = int(table[id_column].isna().sum())
        raise DataError(f"{src}: {bad} rows have no {id_column}")
    if table[id_column].duplicated().any():
        dup = table.loc[table[id_column].duplicated(), id_column].iloc[0]
        raise SchemaError(f"{src}: duplicate {id_column} values, e.g. {dup!r}")
    if preset == "svi":
        result = svi(table)
    else:
        if "GEOID" not in table:
            table["GEOID"] = table[id_column]
        acs_vars = [c for c in table.columns if re.fullmatch(r"[BC]\d{5}[A-Z]?_\d{3}E", str(c))]
        if acs_vars:
            # raw ACS estimates: read through the ACS reader so Census sentinels become NaN
            from equity.sources import read_acs

            counts = counts_from_acs(read_acs(src))
            acs_cols = re.compile(r"[BC]\d{5}[A-Z]?_\d{3}(E|M|MA|EA|_flag)")
            keep = [c for c in table.columns if not acs_cols.fullmatch(str(c))]
            table = table[keep].merge(counts, on="GEOID", how="left", validate="one_to_one")
        if "state_GEOID" not in table:
            ids = table[id_column].astype("string")
            if ids.str.fullmatch(r"\d{5,}").all():
                table["state_GEOID"] = ids.str[:2]
        result = compute_index(
            compute_indicators(table),
            preset=preset,
            reference=reference,
            n_draws=n_draws,
            seed=seed,
        )
    with atomic_path(out) as tmp:
        result.to_csv(tmp, index=False)
    logger.info("run_index_file: %s -> %s (%d rows, preset %s)", src, out, len(result), preset)
    return Path(out)

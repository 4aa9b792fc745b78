"""Monte Carlo draws of the indicators: what varies, how, and standard normal deviates.

:func:`_draw_specs` decides, per indicator of the model, how it is drawn. Every indicator with
sampling error is drawn from its own value and standard error (``SE = MOE / 1.645``), on the
scale oriented towards need (``direction * value``):

- a share is drawn as a proportion of its universe, with the standard error of the Census
  Bureau's proportion formula (the ``moe_share_*`` of :func:`equity.indicators.compute_indicators`),
  not from independently drawn numerator and denominator counts (which treat a subset and its
  universe as independent and spread a proportion up to twice as wide as its published MOE);
- draws are bounded to the indicator's range (shares to [0, 1], speeds, incomes and rates to
  0 and above) by clipping, which moves no quantile inside the range: the median of the draws
  is the estimate;
- a top- or bottom-coded median (ACS ``250,000+`` / ``2,500-``: the true value lies beyond the
  code and no MOE is published) is drawn on the open side of its code only;
- a value with no published MOE, where other places of the same indicator have one, gets the
  median MOE of those places (relative to the value for amounts, absolute for shares) rather
  than being treated as exact; the number of such places is recorded.

:func:`_std_normal` makes the deviates: float32, on a 16-bit inverse-CDF grid, in antithetic
pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from equity import settings
from equity.index.model import _Model
from equity.indicators import Indicator, coded_values, compute_indicators, value_moe

#: Units whose draws stay at 0 or above (shares also at 1 or below).
_LOWER_ZERO_UNITS = {"share", "mbps", "usd", "per_1k", "per_10k", "km"}


@dataclass
class _DrawSpec:
    """How to draw one indicator, on the scale oriented towards need (``direction * value``).

    ``y`` and ``se`` are the oriented point values and standard errors (float64; 0 where the
    place has no value), ``mask`` the places with a value, ``bounds`` the oriented range,
    ``side`` per place +1 (draws only above the value), -1 (only below) or 0 (both), or None
    when no place is coded.
    """

    ind: Indicator
    y: np.ndarray
    se: np.ndarray
    mask: np.ndarray
    bounds: tuple[float, float]
    side: np.ndarray | None = None
    n_imputed: int = 0
    n_coded: dict[str, int] = field(default_factory=dict)


def _draw_specs(table: pd.DataFrame, model: _Model) -> tuple[list[_DrawSpec], dict[str, Any]]:
    """The indicators that vary and how; and a record of imputed MOEs and coded values.

    An indicator varies when at least one place with a value has a positive standard error.
    The record has ``n_unknown_moe`` (places with a value and no MOE, per indicator, where the
    indicator has MOEs elsewhere: imputed), ``n_coded`` (top/bottom-coded values drawn one
    sided) and ``exact`` (indicators without any sampling error, not drawn).
    """
    specs: list[_DrawSpec] = []
    record: dict[str, Any] = {"n_unknown_moe": {}, "n_coded": {}, "exact": []}
    weighted = {k for members in model.pillars.values() for k in members}
    for name, ind in model.indicators.items():
        if name not in weighted:  # read for the record, but weighted 0: nothing to draw
            continue
        point = model.values[name]
        mask = np.isfinite(point)
        moe = _indicator_moe(table, ind)
        if moe is None or not (np.nan_to_num(moe[mask]) > 0).any():
            record["exact"].append(name)
            continue
        moe, n_imputed = _impute_moe(moe, point, mask, ind)
        spec = _spec(table, ind, point, mask, moe / settings.moe_z)
        spec.n_imputed = n_imputed
        if n_imputed:
            record["n_unknown_moe"][name] = n_imputed
        if spec.n_coded:
            record["n_coded"][name] = dict(spec.n_coded)
        specs.append(spec)
    return specs, record


def _indicator_moe(table: pd.DataFrame, ind: Indicator) -> np.ndarray | None:
    """The indicator's 90% MOE per place (NaN where unknown); None if it has no sampling error.

    The ``moe_<name>`` column when present; else, for a count indicator, the Census formula
    from its counts' MOEs (:func:`equity.indicators.compute_indicators`) when any count has
    an MOE column; else the value's MOE by its rule.
    """
    if ind.moe_rule == "none":
        return None
    if ind.moe_column in table:
        return _numeric(table, ind.moe_column)
    if ind.is_count:
        if not all(c in table for c in ind.inputs):
            return None
        if not any(f"moe_{c}" in table for c in ind.inputs):
            return None  # counts without MOEs (administrative counts): no sampling error
        cols = [
            c for c in table.columns if c in ind.inputs or c in {f"moe_{i}" for i in ind.inputs}
        ]
        got = compute_indicators(table[cols], indicators=[ind])
        return _numeric(got, ind.moe_column) if ind.moe_column in got else None
    return value_moe(table, ind)


def _numeric(table: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _impute_moe(
    moe: np.ndarray, point: np.ndarray, mask: np.ndarray, ind: Indicator
) -> tuple[np.ndarray, int]:
    """MOEs with the unknown ones (value present, MOE NaN) imputed; and how many were.

    Shares take the median MOE of the places with one; other units the median MOE relative to
    the value, times the place's value.
    """
    moe = np.where(mask, moe, 0.0)
    unknown = mask & ~np.isfinite(moe)
    if not unknown.any():
        return moe, 0
    known = mask & np.isfinite(moe)
    if ind.unit == "share":
        fill = np.full(moe.size, float(np.median(moe[known])))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = moe[known] / np.abs(point[known])
        rel = rel[np.isfinite(rel)]
        fill = (float(np.median(rel)) if rel.size else 0.0) * np.abs(point)
    return np.where(unknown, fill, moe), int(unknown.sum())


def _spec(
    table: pd.DataFrame, ind: Indicator, point: np.ndarray, mask: np.ndarray, se: np.ndarray
) -> _DrawSpec:
    """The oriented draw spec of one indicator (bounds, coded sides)."""
    d = float(ind.direction)
    lo, hi = (0.0, 1.0) if ind.unit == "share" else (
        (0.0, np.inf) if ind.unit in _LOWER_ZERO_UNITS else (-np.inf, np.inf))  # fmt: skip
    bounds = (lo, hi) if d > 0 else (-hi, -lo)
    spec = _DrawSpec(
        ind=ind,
        y=np.where(mask, d * point, 0.0),
        se=np.where(mask, np.nan_to_num(se), 0.0),
        mask=mask,
        bounds=bounds,
    )
    if not ind.is_count:
        coded = coded_values(table, ind)
        top, bottom = mask & (coded == "top"), mask & (coded == "bottom")
        if top.any() or bottom.any():
            # the true value is above a top code, below a bottom code: oriented, the side flips
            side = np.zeros(point.size, dtype=np.int8)
            side[top], side[bottom] = int(d), -int(d)
            spec.side = side
            spec.n_coded = {"top": int(top.sum()), "bottom": int(bottom.sum())}
    return spec


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


def _scratch(pool: dict[Any, np.ndarray], key: Any, shape: tuple[int, int]) -> np.ndarray:
    """A float32 work array of `pool` (one per thread), reused from chunk to chunk.

    Reusing the arrays that live through a chunk spares the allocator from returning them to
    the system and faulting fresh pages back in for every chunk.
    """
    size = shape[0] * shape[1]
    buf = pool.get(key)
    if buf is None or buf.size < size:
        buf = pool[key] = np.empty(size, dtype=np.float32)
    return buf[:size].reshape(shape)

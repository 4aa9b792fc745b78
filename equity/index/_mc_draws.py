"""Monte Carlo draws of the indicators: what varies, and standard normal deviates.

:func:`_draw_specs` decides, per indicator of the model, how it is drawn: from its counts
(each count :math:`X^* \\sim N(X, (MOE_X/1.645)^2)`, shared by every indicator that uses it)
or from its value's MOE; indicators without sampling error stay at their point value.
:func:`_std_normal` makes the deviates: float32, on a 16-bit inverse-CDF grid, in antithetic
pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from equity import settings
from equity.index.model import _Model
from equity.indicators import Indicator, count_moe, value_moe

#: Units whose draws are truncated at 0 (shares also at 1).
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
    """Which indicators vary, the counts they need (estimate, SE), and unknown-MOE count.

    A count indicator with its counts in the table is drawn from them (counts without
    sampling error are read all the same: the draws of the others share them); any other
    indicator with an MOE rule is drawn from its value's MOE.
    """
    specs: list[_DrawSpec] = []
    counts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    n_unknown = 0
    for name, ind in model.indicators.items():
        point = model.values[name]
        mask = np.isfinite(point)
        if ind.is_count and all(c in table for c in ind.inputs):
            spec, unknown = _count_spec(table, ind, point, mask, counts)
        elif ind.moe_rule != "none":  # a value (or a share without its counts)
            spec, unknown = _value_spec(table, ind, point, mask)
        else:
            continue
        n_unknown += unknown
        if spec is not None:
            specs.append(spec)
    return specs, counts, n_unknown


def _count_spec(
    table: pd.DataFrame,
    ind: Indicator,
    point: np.ndarray,
    mask: np.ndarray,
    counts: dict[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[_DrawSpec | None, int]:
    """Draw spec of a count indicator (None if none of its counts varies); adds to `counts`.

    Also returns the number of count estimates read here without a known MOE.
    """
    used = ind.inputs  # numerator counts, then the denominator
    varying = False
    n_unknown = 0
    for c in used:
        if c not in counts:
            est = pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            moe = count_moe(table, c)
            unknown = np.isnan(moe) & np.isfinite(est)
            n_unknown += int(unknown.sum())
            counts[c] = (est, np.where(np.isfinite(moe), moe, 0.0) / settings.moe_z)
        varying |= bool((counts[c][1][mask] > 0).any())
    if varying and ind.moe_rule != "none":
        return _DrawSpec(ind, point, mask, counts=used), n_unknown
    return None, n_unknown


def _value_spec(
    table: pd.DataFrame, ind: Indicator, point: np.ndarray, mask: np.ndarray
) -> tuple[_DrawSpec | None, int]:
    """Draw spec of a value indicator from its MOE (None if it has no sampling error here).

    Also returns the number of places with a value but no known MOE.
    """
    moe = (
        pd.to_numeric(table[ind.moe_column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if ind.moe_column in table
        else value_moe(table, ind)
    )
    unknown = np.isnan(moe) & mask
    se = np.where(np.isfinite(moe), moe, 0.0) / settings.moe_z
    if (se[mask] > 0).any():
        return _DrawSpec(ind, point, mask, value_se=se), int(unknown.sum())
    return None, int(unknown.sum())


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

"""What a place's result means: the pillar that drives its need, and how reliable its index is.

``driving_pillar`` is the pillar with the highest need score, and ``intervention`` the kind of
program it calls for (:data:`~equity.index.INTERVENTIONS`). ``reliability`` describes a place's
own uncertainty (never its level of need) by the ACS thresholds of the coefficient of
variation (:data:`RELIABILITY_CV`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from equity import settings
from equity.index.model import _Model
from equity.index.presets import INTERVENTIONS

__all__ = ["RELIABILITY_CV"]

#: Reliability classes from the coefficient of variation (CV = SE / estimate) of a place's
#: share indicators: the widely used ACS guidance (CV < 15% reliable, 15-30% use with caution,
#: > 30% unreliable; e.g. U.S. Census Bureau, *Understanding and Using ACS Data*, 2020, ch. 7,
#: and the thresholds of state data centres and ESRI's ACS layers).
RELIABILITY_CV: tuple[float, float] = (0.15, 0.30)


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

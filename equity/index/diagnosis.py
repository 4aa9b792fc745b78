"""What a place's result means: the pillar that drives its need, and how reliable its index is.

``driving_pillar`` is the pillar with the highest need score, and ``intervention`` the kind of
program it calls for (:data:`~equity.index.INTERVENTIONS`). ``reliability`` describes a place's
own uncertainty (never its level of need): the width of its 90% interval, classed by the ACS
thresholds of the coefficient of variation (:data:`RELIABILITY_CV`) at the middle of the scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from equity import settings
from equity.index.presets import INTERVENTIONS

__all__ = ["RELIABILITY_CV", "RELIABILITY_SCALE"]

#: Reliability classes from a coefficient of variation: below 0.15 ``high``, below 0.30
#: ``medium``, else ``low`` -- the thresholds the Census Bureau's ACS case studies and most
#: state data centres use for ACS estimates (CV < 15% reliable, 15-30% use with caution,
#: > 30% unreliable; e.g. U.S. Census Bureau, *Understanding and Using ACS Data*, 2020).
RELIABILITY_CV: tuple[float, float] = (0.15, 0.30)
#: The index value the standard error is divided by: the middle of the 0-100 scale. A CV
#: relative to the place's own index would call every place with little need unreliable (a
#: small index divides the same error into a large CV): reliability would track need.
RELIABILITY_SCALE: float = 50.0


def _reliability(half_width: np.ndarray, valid: np.ndarray, index: pd.Index) -> pd.Series:
    """``high`` / ``medium`` / ``low`` from the half-width of the place's 90% interval.

    The index's standard error ``half_width / 1.645`` over :data:`RELIABILITY_SCALE` is a
    coefficient of variation at the middle of the scale; :data:`RELIABILITY_CV` classes it.
    So the class depends on the place's own uncertainty only: a 90% interval narrower than
    +-12.3 points is ``high``, narrower than +-24.7 points ``medium``, else ``low``.
    """
    high, medium = RELIABILITY_CV
    with np.errstate(invalid="ignore"):
        cv = (np.asarray(half_width, dtype=float) / settings.moe_z) / RELIABILITY_SCALE
    labels = np.where(cv < high, "high", np.where(cv < medium, "medium", "low")).astype(object)
    labels[~(valid & np.isfinite(cv))] = pd.NA
    return pd.Series(pd.array(labels, dtype="string"), index=index)


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

"""Random-field and ACS-like helpers shared by the two data generators.

:mod:`equity.sample` (the fictional sample region) and :mod:`equity.synthetic` (the synthetic
nation of the benchmarks) draw smooth latent fields and ACS-like margins of error the same
way; this is their one home. Changing a formula here changes both generators' bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["acs_like_moe", "logistic", "random_field"]


def random_field(
    rng: np.random.Generator, length_km: float, n: int = 48
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A smooth Gaussian random field (random Fourier features), unit variance."""
    w = rng.normal(0.0, 1.0 / length_km, size=(n, 2))
    b = rng.uniform(0.0, 2 * np.pi, size=n)

    def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        phase = np.outer(x, w[:, 0]) + np.outer(y, w[:, 1]) + b
        return np.sqrt(2.0 / n) * np.cos(phase).sum(axis=1)

    return f


def logistic(z: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-z))``."""
    return 1.0 / (1.0 + np.exp(-z))


def acs_like_moe(rng: np.random.Generator, est: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Block-group-like 90% MOEs: large, roughly k * sqrt(count); 12 for a zero estimate."""
    est = np.asarray(est, dtype=float)
    m = np.rint(k * np.sqrt(est + 2.0) * rng.uniform(0.85, 1.15, est.shape))
    return np.where(est == 0, 12, np.maximum(m, 3)).astype(np.int64)

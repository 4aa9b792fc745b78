"""Margins of error of derived ACS estimates (Census Bureau approximation formulas).

The formulas are those of the Census Bureau's *Understanding and Using American Community
Survey Data* handbook (2020, chapter 8, "Calculating Measures of Error for Derived
Estimates"). All functions are vectorised: they take scalars or array-likes (NumPy arrays,
pandas Series) that broadcast together, and return float NumPy arrays (or floats). Missing
inputs (NaN) give NaN; a zero denominator gives NaN.

Every margin of error here is at the 90% confidence level, as ACS publishes them
(``SE = MOE / 1.645``, :data:`equity.settings.moe_z`). The approximations assume the parts
are independent (no covariance term), which the Handbook notes makes them conservative for
positively correlated parts and less reliable as more parts are combined.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from equity import settings

__all__ = [
    "moe_from_se",
    "moe_product",
    "moe_proportion",
    "moe_ratio",
    "moe_sum",
    "moe_weighted_mean",
    "se_from_moe",
]

ArrayLike = npt.ArrayLike


def _arr(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _parts(x: Iterable[ArrayLike] | ArrayLike) -> np.ndarray:
    """Float array of parts given one array-like per part (stacked along axis 0) or as one array."""
    # numpy stacks a sequence of array-likes itself; its stubs type only nested sequences
    return np.asarray(cast(ArrayLike, x), dtype=float)


def _out(x: np.ndarray) -> np.ndarray | float:
    return float(x) if x.ndim == 0 else x


def se_from_moe(moe: ArrayLike, *, z: float | None = None) -> np.ndarray | float:
    """Standard error of a published margin of error (``MOE / z``, z = 1.645 for 90%)."""
    return _out(_arr(moe) / (settings.moe_z if z is None else z))


def moe_from_se(se: ArrayLike, *, z: float | None = None) -> np.ndarray | float:
    """Margin of error (90% by default) of a standard error (``SE * z``)."""
    return _out(_arr(se) * (settings.moe_z if z is None else z))


def moe_sum(
    moes: Sequence[ArrayLike] | ArrayLike,
    *,
    axis: int = 0,
    estimates: Sequence[ArrayLike] | ArrayLike | None = None,
) -> np.ndarray | float:
    """Margin of error of a sum (or difference) of estimates.

    Parameters
    ----------
    moes
        Margins of error of the parts: a sequence of arrays (one per part) or an array whose
        `axis` runs over the parts.
    axis
        Axis of `moes` (and `estimates`) that runs over the parts.
    estimates
        The parts' estimates. When given, the Handbook's rule for zero estimates applies:
        of the parts whose estimate is 0, only the largest margin of error is counted.

    Returns
    -------
    numpy.ndarray or float
        Margin of error of the sum.

    Notes
    -----
    .. math:: MOE_{\\sum} = \\sqrt{\\sum_i MOE_i^2}

    The result lies between the largest part's MOE and the sum of the parts' MOEs.
    NaN in any part gives NaN.

    Examples
    --------
    >>> moe_sum([3.0, 4.0])
    5.0
    >>> moe_sum([[3.0, 1.0], [4.0, 0.0]]).tolist()
    [5.0, 1.0]
    """
    m = _parts(moes)
    if m.ndim == 0:
        return float(abs(m))
    sq = np.square(m)
    if estimates is None:
        return _out(np.sqrt(sq.sum(axis=axis)))
    e = np.broadcast_to(_parts(estimates), m.shape)
    zero = e == 0
    nonzero_sq = np.where(zero, 0.0, sq).sum(axis=axis)
    # max() of an all-False slice must be 0, not -inf: use where= with an initial value
    zero_max = np.max(np.where(zero, np.abs(m), 0.0), axis=axis, initial=0.0)
    nan = np.isnan(m).any(axis=axis)
    out = np.sqrt(nonzero_sq + np.square(zero_max))
    return _out(np.where(nan, np.nan, out))


def moe_proportion(
    num: ArrayLike, den: ArrayLike, moe_num: ArrayLike, moe_den: ArrayLike
) -> np.ndarray | float:
    """Margin of error of a proportion ``num / den`` whose numerator is a subset of the denominator.

    Parameters
    ----------
    num, den
        Estimates of the numerator (a subset) and the denominator.
    moe_num, moe_den
        Their margins of error.

    Returns
    -------
    numpy.ndarray or float
        Margin of error of ``p = num / den`` (NaN where ``den`` is 0 or missing).

    Notes
    -----
    .. math:: MOE_p = \\frac{1}{den}\\sqrt{MOE_{num}^2 - p^2\\,MOE_{den}^2}

    When the value under the root is negative the Handbook says to use the ratio formula
    (:func:`moe_ratio`, a plus sign under the root) instead.

    Examples
    --------
    >>> round(moe_proportion(20.0, 100.0, 5.0, 10.0), 6)
    0.045826
    """
    n, d, mn, md = np.broadcast_arrays(_arr(num), _arr(den), _arr(moe_num), _arr(moe_den))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)
        under = np.square(mn) - np.square(p) * np.square(md)
        under = np.where(under < 0, np.square(mn) + np.square(p) * np.square(md), under)
        out = np.sqrt(under) / np.where(d > 0, d, np.nan)
    return _out(out)


def moe_ratio(
    num: ArrayLike, den: ArrayLike, moe_num: ArrayLike, moe_den: ArrayLike
) -> np.ndarray | float:
    """Margin of error of a ratio ``num / den`` (numerator not a subset of the denominator).

    Parameters
    ----------
    num, den
        Estimates of the numerator and the denominator.
    moe_num, moe_den
        Their margins of error.

    Returns
    -------
    numpy.ndarray or float
        Margin of error of ``r = num / den`` (NaN where ``den`` is 0 or missing).

    Notes
    -----
    .. math:: MOE_r = \\frac{1}{den}\\sqrt{MOE_{num}^2 + r^2\\,MOE_{den}^2}

    Examples
    --------
    >>> round(moe_ratio(20.0, 100.0, 5.0, 10.0), 6)
    0.053852
    """
    n, d, mn, md = np.broadcast_arrays(_arr(num), _arr(den), _arr(moe_num), _arr(moe_den))
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = d != 0
        r = np.where(ok, n / np.where(ok, d, 1.0), np.nan)
        out = np.sqrt(np.square(mn) + np.square(r) * np.square(md)) / np.abs(
            np.where(ok, d, np.nan)
        )
    return _out(out)


def moe_product(
    a: ArrayLike, b: ArrayLike, moe_a: ArrayLike, moe_b: ArrayLike
) -> np.ndarray | float:
    """Margin of error of a product ``a * b`` of two estimates.

    Parameters
    ----------
    a, b
        The estimates.
    moe_a, moe_b
        Their margins of error.

    Returns
    -------
    numpy.ndarray or float
        Margin of error of the product.

    Notes
    -----
    .. math:: MOE_{ab} = \\sqrt{a^2\\,MOE_b^2 + b^2\\,MOE_a^2}

    Examples
    --------
    >>> moe_product(10.0, 0.5, 2.0, 0.1)
    1.4142135623730951
    """
    x, y, mx, my = np.broadcast_arrays(_arr(a), _arr(b), _arr(moe_a), _arr(moe_b))
    return _out(np.sqrt(np.square(x) * np.square(my) + np.square(y) * np.square(mx)))


def moe_weighted_mean(
    weights: Iterable[ArrayLike] | ArrayLike,
    moes: Iterable[ArrayLike] | ArrayLike,
    *,
    axis: int = 0,
) -> np.ndarray | float:
    """Approximate margin of error of a weighted mean of estimates with fixed weights.

    Parameters
    ----------
    weights
        Non-negative weights of the parts (e.g. households behind each part's median).
    moes
        The parts' margins of error.
    axis
        Axis that runs over the parts.

    Returns
    -------
    numpy.ndarray or float
        Margin of error of ``sum(w_i x_i) / sum(w_i)``.

    Notes
    -----
    .. math:: MOE_{\\bar x} = \\sqrt{\\sum_i \\left(\\frac{w_i}{W} MOE_i\\right)^2},\\quad W = \\sum_i w_i

    The weights are treated as known (their own sampling error is ignored), as when the
    Census Bureau's sum formula is applied to ``w_i x_i / W``.

    Examples
    --------
    >>> moe_weighted_mean([1.0, 1.0], [2.0, 2.0])
    1.4142135623730951
    """
    w, m = np.broadcast_arrays(_parts(weights), _parts(moes))
    total = w.sum(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt(np.square(w * m).sum(axis=axis)) / np.where(total > 0, total, np.nan)
    return _out(out)

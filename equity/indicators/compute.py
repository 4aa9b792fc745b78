"""Counts to indicators: ``share_*`` with ``moe_share_*`` and values with their MOEs."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from equity import _moe, settings
from equity.errors import SchemaError
from equity.indicators.catalogue import REGISTRY, get_indicator
from equity.indicators.model import OOKLA_TEST_CV, Indicator, _column

logger = logging.getLogger("equity.indicators")


# --- indicators -----------------------------------------------------------------------------


def _resolve(
    indicators: Iterable[str | Indicator] | None,
    table: pd.DataFrame,
) -> list[Indicator]:
    if indicators is None:
        return [
            ind
            for ind in REGISTRY.values()
            if all(c in table for c in ind.inputs) and not _original_available(ind, table)
        ]
    return [get_indicator(i) for i in indicators]


def _original_available(ind: Indicator, table: pd.DataFrame) -> bool:
    """True when `ind` stands in for an indicator the table has or can compute."""
    original = REGISTRY.get(ind.stands_in_for or "")
    return original is not None and (
        original.name in table or all(c in table for c in original.inputs)
    )


def count_moe(table: pd.DataFrame, column: str) -> np.ndarray:
    """The MOE column ``moe_<column>`` of a count as floats (zeros when absent).

    A count without an MOE column (administrative counts such as CBP establishments or anchor
    counts) has no sampling error.
    """
    name = f"moe_{column}"
    if name not in table:
        return np.zeros(len(table))
    moe = _column(table, name)
    return moe


def value_moe(table: pd.DataFrame, ind: Indicator) -> np.ndarray:
    """MOE (90%) of a value indicator by its rule, as floats (NaN where unknown)."""
    n = len(table)
    if ind.moe_rule == "none":
        return np.zeros(n)
    if ind.moe_rule == "value":
        col = ind.moe or f"moe_{ind.value_column}"
        return _column(table, col) if col in table else np.full(n, np.nan)
    value = _column(table, ind.value_column)
    tests = (
        _column(table, ind.tests)
        if ind.tests is not None and ind.tests in table
        else np.full(n, np.nan)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        if ind.moe_rule == "ookla_mean":
            se = OOKLA_TEST_CV * np.abs(value) / np.sqrt(tests)
        else:  # binomial
            p = np.clip(value, 0.0, 1.0)
            se = np.sqrt(p * (1.0 - p) / tests)
    return np.where(tests > 0, settings.moe_z * se, np.nan)


def compute_indicators(
    table: pd.DataFrame, *, indicators: Iterable[str | Indicator] | None = None
) -> pd.DataFrame:
    """Indicators (``share_*`` and values) with their MOEs from counts.

    Parameters
    ----------
    table
        Counts with ``moe_<count>`` columns (output of :func:`counts_from_acs`, possibly
        aggregated) and any value columns (``median_household_income``, ``download_mbps``, ...).
    indicators
        Names (or :class:`Indicator` objects) to compute; by default every registered indicator
        whose input columns are present. A requested indicator with missing inputs raises.

    Returns
    -------
    pandas.DataFrame
        A copy of `table` with, per count indicator, ``<name>`` and ``moe_<name>`` (when the
        counts have MOEs); per value indicator with an MOE rule, ``moe_<name>``.

    Notes
    -----
    Count indicators are :math:`s \\cdot X/Y` (or :math:`1 - X/Y` for complements) with the
    Census proportion MOE (ratio formula when the numerator is not a subset of the denominator,
    or when the proportion formula's radicand is negative). A zero or missing denominator gives
    NaN, never infinity. Ookla means get :math:`MOE = 1.645 \\cdot CV \\cdot \\bar x/\\sqrt{t}`
    (:data:`OOKLA_TEST_CV`), Ookla shares the binomial :math:`1.645\\sqrt{p(1-p)/t}`.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"hh_internet_universe": [100.0, 0.0], "moe_hh_internet_universe": [10.0, 5.0],
    ...                   "hh_no_internet": [20.0, 0.0], "moe_hh_no_internet": [8.0, 5.0]})
    >>> compute_indicators(t, indicators=["share_no_internet"])["share_no_internet"].tolist()
    [0.2, nan]
    """
    chosen = _resolve(indicators, table)
    problems = [
        f"indicator {ind.name!r} needs column(s) {missing}"
        for ind in chosen
        if (missing := [c for c in ind.inputs if c not in table])
    ]
    if problems:
        raise SchemaError(problems, source="compute_indicators")
    out = table.copy()
    new: dict[str, np.ndarray] = {}
    for ind in chosen:
        new.update(_count_columns(table, ind) if ind.is_count else _value_columns(table, ind))
    for name, values in new.items():
        out[name] = values
    _check_shares(out, chosen)
    logger.info("compute_indicators: %d rows, %d indicators", len(out), len(chosen))
    return out


def _check_shares(table: pd.DataFrame, chosen: list[Indicator]) -> None:
    """Shares computed from counts lie in [0, 1] (else the counts were wrong: an error)."""
    from equity.checks import check_shares

    level = table["level"].iloc[0] if "level" in table and len(table) else None
    where = f"compute_indicators ({level} level)" if level else "compute_indicators"
    check_shares(table, [i.name for i in chosen if i.is_count and i.unit == "share"], where=where)


def _count_columns(table: pd.DataFrame, ind: Indicator) -> dict[str, np.ndarray]:
    """A count indicator, ``scale * X / Y`` (or ``1 - X / Y``), and its MOE when counts have one."""
    den_name = ind.inputs[-1]  # the denominator
    num = np.sum([_column(table, c) for c in ind.numerator], axis=0)
    den = _column(table, den_name)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(den > 0, num / den, np.nan)
    new = {ind.name: ind.scale * ((1.0 - ratio) if ind.complement else ratio)}
    if ind.moe_rule != "none" and any(f"moe_{c}" in table for c in ind.inputs):
        moe_num = np.asarray(
            _moe.moe_sum(
                [count_moe(table, c) for c in ind.numerator],
                estimates=[_column(table, c) for c in ind.numerator],
            ),
            dtype=float,
        )
        moe_den = count_moe(table, den_name)
        rule = _moe.moe_proportion if ind.moe_rule == "proportion" else _moe.moe_ratio
        moe = np.asarray(rule(num, den, moe_num, moe_den), dtype=float)
        new[ind.moe_column] = ind.scale * moe
    return new


def _value_columns(table: pd.DataFrame, ind: Indicator) -> dict[str, np.ndarray]:
    """A value indicator's MOE by its rule (unless present), and its value under its name."""
    new: dict[str, np.ndarray] = {}
    if ind.moe_rule in ("ookla_mean", "binomial") and ind.moe_column not in table:
        new[ind.moe_column] = value_moe(table, ind)
    elif ind.moe_rule == "value" and ind.moe and ind.moe in table:
        new[ind.moe_column] = _column(table, ind.moe)  # published MOE under another name
    if ind.value_column != ind.name:
        new[ind.name] = _column(table, ind.value_column)
    return new

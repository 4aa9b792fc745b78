"""ACS estimates and MOEs to the friendly count columns (:func:`counts_from_acs`)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from equity import _moe
from equity.errors import SchemaError
from equity.indicators.model import ACS_COUNTS, Indicator, _column

logger = logging.getLogger("equity.indicators")


# --- MOE helpers (Census approximations), vectorised --------------------------------------


# --- counts from ACS ------------------------------------------------------------------------


def _acs_moe(acs: pd.DataFrame, var: str) -> np.ndarray:
    """MOE of one ACS variable; a controlled (published as sentinel) MOE of zero is 0."""
    col = f"{var}M"
    if col not in acs:
        return np.full(len(acs), np.nan)
    moe = acs[col].to_numpy(dtype=float, na_value=np.nan).copy()
    flag = f"{var}_flag"
    if flag in acs:
        controlled = acs[flag].astype("string").fillna("").to_numpy() == "controlled_moe_zero"
        moe[controlled & np.isnan(moe)] = 0.0
    return moe


def counts_from_acs(acs: pd.DataFrame) -> pd.DataFrame:
    """Friendly count columns (with ``moe_<count>``) from ACS estimates and MOEs.

    Parameters
    ----------
    acs
        Output of :func:`equity.sources.read_acs`: ``GEOID``, ``<VAR>E``, ``<VAR>M`` (NaN for
        sentinels) and optionally ``<VAR>_flag``. Any subset of variables may be present.

    Returns
    -------
    pandas.DataFrame
        ``GEOID`` and, for every count of :data:`ACS_COUNTS` whose variables are all present,
        the count and ``moe_<count>``. Counts whose variables are absent are not produced;
        ``households`` falls back to ``B28002_001`` (households of the internet table) when
        ``B11001_001`` is absent.

    Notes
    -----
    A sum :math:`X = \\sum_i a_i` gets :math:`MOE_X = \\sqrt{\\sum_i MOE_{a_i}^2}`, where of
    the parts estimated at zero only the largest MOE counts (Census approximation, with the
    Handbook's rule for zero estimates). Households without a computing device are
    ``B28001_011`` when present; else ``B28001_001 - B28001_002`` (the universe less the
    households with a device), whose MOE is derived from the proportion ``B28001_002 /
    B28001_001`` (:func:`_complement_moe`) rather than from the difference formula, which
    treats a universe and its own subset as independent. ``median_household_income`` is
    intensive and copied with its MOE; an open-ended median keeps its code (250,001 for
    "250,000+", 2,499 for "2,500-") with no MOE (:func:`coded_values`).

    Examples
    --------
    >>> import pandas as pd
    >>> acs = pd.DataFrame({"GEOID": ["510010901011"], "B28001_001E": [574.0],
    ...                     "B28001_001M": [152.0], "B28001_002E": [499.0], "B28001_002M": [139.0]})
    >>> counts_from_acs(acs)[["hh_no_computer", "moe_hh_no_computer"]].round(1)
       hh_no_computer  moe_hh_no_computer
    0            75.0                47.5
    """
    if "GEOID" not in acs:
        raise SchemaError(
            f"ACS table lacks the GEOID column (columns: {list(acs.columns)[:8]} ...)"
        )
    out: dict[str, object] = {"GEOID": acs["GEOID"].astype("string").to_numpy()}
    specs = dict(ACS_COUNTS)
    if not all(f"{v}E" in acs for v in specs["households"][0]):
        specs["households"] = (("B28002_001",), ())
    if "B28001_011E" in acs:  # "no computer" as published, with its own (smaller) MOE
        specs["hh_no_computer"] = (("B28001_011",), ())
    produced = []
    for name, (plus, minus) in specs.items():
        variables = (*plus, *minus)
        if not all(f"{v}E" in acs for v in variables):
            continue
        est = sum(acs[f"{v}E"].to_numpy(dtype=float, na_value=np.nan) for v in plus)
        for v in minus:
            est = est - acs[f"{v}E"].to_numpy(dtype=float, na_value=np.nan)
        out[name] = np.asarray(est, dtype=float)
        moes = [_acs_moe(acs, v) for v in variables]
        if name == "hh_no_computer" and minus:  # universe minus a subset of it
            out[f"moe_{name}"] = _complement_moe(acs, "B28001_001", "B28001_002")
        elif minus:  # a difference: plain root sum of squares
            out[f"moe_{name}"] = np.asarray(_moe.moe_sum(moes), dtype=float)
        else:  # a sum: of the parts estimated at 0, only the largest MOE counts (Handbook)
            parts = [acs[f"{v}E"].to_numpy(dtype=float, na_value=np.nan) for v in plus]
            out[f"moe_{name}"] = np.asarray(_moe.moe_sum(moes, estimates=parts), dtype=float)
        produced.append(name)
    result = pd.DataFrame(out, index=acs.index)
    result.attrs = {k: v for k, v in acs.attrs.items() if isinstance(v, str | int | float)}
    logger.info("counts_from_acs: %d rows, counts %s", len(result), produced)
    return result


#: ACS codes of an open-ended median household income (B19013, 2017 and later): "250,000+" is
#: published as 250,001 and "2,500-" as 2,499, each with no MOE.
MEDIAN_INCOME_CODES: dict[str, float] = {"top": 250_001.0, "bottom": 2_499.0}


def _complement_moe(acs: pd.DataFrame, universe: str, subset: str) -> np.ndarray:
    """MOE of ``universe - subset`` (a subset of the universe) consistent with its proportion.

    The count :math:`X = U (1 - p)`, :math:`p = S / U`, gets
    :math:`MOE_X = \\sqrt{(U\\,MOE_p)^2 + (1 - p)^2 MOE_U^2}` with :math:`MOE_p` the Census
    proportion MOE of :math:`S / U` -- the count MOE under the proportion formula's own
    assumption (:math:`p` and :math:`U` independent), so that ``X / U`` gets back exactly the
    proportion's MOE. The difference formula :math:`\\sqrt{MOE_U^2 + MOE_S^2}` would treat the
    universe and its subset as independent (up to several times the proportion's MOE). A zero
    universe keeps the difference formula.
    """
    u = acs[f"{universe}E"].to_numpy(dtype=float, na_value=np.nan)
    sub = acs[f"{subset}E"].to_numpy(dtype=float, na_value=np.nan)
    mu, ms = _acs_moe(acs, universe), _acs_moe(acs, subset)
    moe_p = np.asarray(_moe.moe_proportion(sub, u, ms, mu), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(u > 0, 1.0 - sub / u, np.nan)
    derived = np.sqrt(np.square(u * moe_p) + np.square(q) * np.square(mu))
    return np.where(u > 0, derived, np.asarray(_moe.moe_sum([mu, ms]), dtype=float))


#: Value indicators whose published codes stand for open-ended values: indicator ->
#: {"top" | "bottom": code}. A value equal to a code with no MOE is open-ended.
CODED_VALUES: dict[str, dict[str, float]] = {"median_household_income": MEDIAN_INCOME_CODES}


def coded_values(table: pd.DataFrame, ind: Indicator) -> np.ndarray:
    """``"top"``, ``"bottom"`` or ``""`` per row: which values of `ind` are open-ended codes.

    From a ``<value>_coded`` column when the table has one; else a value equal to one of the
    indicator's codes (:data:`CODED_VALUES`, e.g. 250,001 for "250,000+") whose MOE is
    missing, as the ACS publishes them (:func:`equity.sources.read_acs` keeps the code and
    turns the MOE sentinel into NaN).
    """
    out = np.full(len(table), "", dtype=object)
    column = f"{ind.value_column}_coded"
    if column in table:
        given = table[column].astype("string").fillna("").to_numpy(dtype=object)
        out[np.isin(given, ["top", "bottom"])] = given[np.isin(given, ["top", "bottom"])]
        return out
    codes = CODED_VALUES.get(ind.name)
    if not codes or ind.value_column not in table:
        return out
    value = _column(table, ind.value_column)
    moe_col = ind.moe or f"moe_{ind.value_column}"
    no_moe = np.isnan(_column(table, moe_col)) if moe_col in table else np.ones(len(table), bool)
    for side, code in codes.items():
        out[no_moe & (value == code)] = side
    return out

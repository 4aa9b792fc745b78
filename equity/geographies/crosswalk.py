"""Moving counts between geographies: one crosswalk table, applied by one function.

A crosswalk has ``source_GEOID``, ``target_GEOID`` and ``weight`` (the share of the source
that goes to the target; the weights of a source sum to one). :func:`apply_crosswalk` moves
counts with their 90% margins of error and medians (as weighted means) along it, and refuses
a crosswalk that would not conserve the sources' totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from equity.errors import DataError
from equity.geographies._checks import (
    _as_list,
    _as_str_ids,
    _check_unique,
    _numeric,
    _require_columns,
)

#: Relative tolerance of "weights sum to one".
WEIGHT_TOL = 1e-9


def _check_crosswalk(crosswalk: pd.DataFrame) -> tuple[pd.Series, pd.Series, np.ndarray]:
    _require_columns(crosswalk, ["source_GEOID", "target_GEOID", "weight"], name="crosswalk")
    src = _as_str_ids(crosswalk["source_GEOID"], name="crosswalk", column="source_GEOID")
    tgt = _as_str_ids(crosswalk["target_GEOID"], name="crosswalk", column="target_GEOID")
    w = _numeric(crosswalk, "weight", name="crosswalk")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = f"crosswalk: column 'weight' must be finite and >= 0; got {w[i]!r} for source {src.iloc[i]!r}"
        raise DataError(msg)
    return src, tgt, w


def apply_crosswalk(
    table: pd.DataFrame,
    crosswalk: pd.DataFrame,
    *,
    counts: Sequence[str],
    medians: Mapping[str, str] | None = None,
    skipna: bool = False,
    check: bool = True,
) -> pd.DataFrame:
    """Move counts, their MOEs and medians from source places to target places.

    Parameters
    ----------
    table
        Source places keyed by a unique ``GEOID``, with the count columns, optionally
        ``moe_<count>``, the median columns and optionally ``moe_<median>``.
    crosswalk
        ``source_GEOID``, ``target_GEOID``, ``weight``: the share of the source that goes to
        the target (weights of one source sum to 1).
    counts
        Extensive columns to move.
    medians
        ``{median_column: weight_count_column}``: intensive columns moved as weighted means
        with the weight count (e.g. households for the median household income).
    skipna
        Treat missing counts as zero (default: any missing part makes the target missing).
    check
        Refuse crosswalks that would not conserve totals: weights of a source summing to more
        than 1, or a source with a non-zero count whose weights do not sum to 1 (or that is
        absent from the crosswalk).

    Returns
    -------
    pandas.DataFrame
        One row per target, sorted by ``GEOID``: ``GEOID`` (the target), the counts,
        ``moe_<count>``, medians and ``moe_<median>`` (moe columns only where the table has them).

    Raises
    ------
    SchemaError
        Missing columns, duplicate or numeric GEOIDs.
    DataError
        Negative weights, or (with `check`) weights that do not conserve totals.

    Notes
    -----
    For target :math:`t` with pieces :math:`i` (weight :math:`w_i` of source :math:`s_i`):

    .. math::

        x_t = \\sum_i w_i x_{s_i},\\qquad
        MOE_t = \\sqrt{\\sum_i (w_i\\,MOE_{s_i})^2}

    The MOE is the Census Bureau's approximation for a sum, treating the pieces as
    independent, with the Handbook's rule for zero estimates: of the pieces whose estimate is
    0, only the largest :math:`w_i\\,MOE_{s_i}` enters the sum of squares (a zero estimate's
    MOE is a bound on what the survey could have missed, and several zeros of one sum share
    it; *Understanding and Using ACS Data*, 2020, ch. 8; as census-data-aggregator does). Rows of the crosswalk with the same source and target are first merged
    (their weights added), since pieces of one source are perfectly correlated; the
    covariance between one source's pieces in different targets does not enter a single
    target's MOE.

    A median is intensive. It is moved as the weighted mean of the pieces' medians with
    weights :math:`h_i = w_i c_{s_i}` (:math:`c` the weight count, e.g. households):
    :math:`m_t = \\sum_i h_i m_{s_i} / \\sum_i h_i`, with
    :math:`MOE_t = \\sqrt{\\sum_i (h_i / H \\cdot MOE_{s_i})^2}`. This is an approximation:
    the Census Bureau's method needs the full income distribution (Pareto interpolation of
    binned counts), which block-group tables do not carry. Pieces with a missing median or a
    zero weight count are left out of the mean; a target with none has a missing median.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"GEOID": ["a"], "households": [100.0], "moe_households": [20.0]})
    >>> xw = pd.DataFrame({"source_GEOID": ["a", "a"], "target_GEOID": ["x", "y"],
    ...                    "weight": [0.25, 0.75]})
    >>> apply_crosswalk(t, xw, counts=["households"])
      GEOID  households  moe_households
    0     x        25.0             5.0
    1     y        75.0            15.0
    """
    counts = _as_list(counts)
    medians = dict(medians or {})
    ids = _check_table(table, counts=counts, medians=medians)
    src, tgt, w = _check_crosswalk(crosswalk)
    row = pd.Index(ids).get_indexer(src)
    keep = (row >= 0) & (w > 0)
    row, w = row[keep], w[keep]
    tgt_codes, targets = pd.factorize(tgt[keep], sort=True)
    n_t = len(targets)
    if check and len(table):
        _check_conservation(table, counts, ids, row, w)
    row, tgt_codes, w = _merge_pieces(row, tgt_codes, w, n_t)
    out = {"GEOID": pd.array(np.asarray(targets, dtype=object), dtype="str")}
    out.update(_move(table, row, tgt_codes, w, n_t, counts=counts, medians=medians, skipna=skipna))
    return pd.DataFrame(out)


def _check_table(table: pd.DataFrame, *, counts: list[str], medians: dict[str, str]) -> pd.Series:
    """The source table's GEOIDs as strings, after checking its columns and unique ids."""
    _require_columns(
        table, ["GEOID", *counts, *medians, *medians.values()], name="apply_crosswalk: table"
    )
    ids = _as_str_ids(table["GEOID"], name="apply_crosswalk: table", column="GEOID")
    _check_unique(ids, name="apply_crosswalk: table", what="GEOIDs")
    return ids


def _merge_pieces(
    row: np.ndarray, tgt_codes: np.ndarray, w: np.ndarray, n_t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pieces with their weights added where several rows join one source to one target.

    Several rows of one source into one target are one (fully correlated) piece.
    """
    pair = row.astype(np.int64) * max(n_t, 1) + tgt_codes
    uniq, inverse = np.unique(pair, return_inverse=True)
    if len(uniq) < len(pair):
        w = np.bincount(inverse, weights=w)
        row, tgt_codes = uniq // max(n_t, 1), uniq % max(n_t, 1)
    return row, tgt_codes, w


def _check_conservation(
    table: pd.DataFrame, counts: list[str], ids: pd.Series, row: np.ndarray, w: np.ndarray
) -> None:
    wsum = np.bincount(row, weights=w, minlength=len(table))
    over = wsum > 1 + WEIGHT_TOL
    if counts:
        stacked = np.vstack([_numeric(table, c, name="apply_crosswalk: table") for c in counts])
        nonzero = (np.nan_to_num(stacked) != 0).any(axis=0)
    else:
        nonzero = np.ones(len(table), dtype=bool)
    bad = over | (nonzero & (np.abs(wsum - 1) > WEIGHT_TOL))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = (
            f"apply_crosswalk: weights of {int(bad.sum())} source(s) do not sum to 1, so totals "
            f"would not be conserved (e.g. source {ids.iloc[i]!r}: sum {wsum[i]:.12g}); "
            "pass check=False to accept it"
        )
        raise DataError(msg)


def _move(
    table: pd.DataFrame,
    row: np.ndarray,
    tgt_codes: np.ndarray,
    w: np.ndarray,
    n_t: int,
    *,
    counts: list[str],
    medians: dict[str, str],
    skipna: bool,
) -> dict[str, np.ndarray]:
    """Core of :func:`apply_crosswalk` on integer codes (piece -> source row, target code)."""
    out: dict[str, np.ndarray] = {}
    for c in counts:
        out.update(_move_count(table, c, row, tgt_codes, w, n_t, skipna=skipna))
    for mcol, wcol in medians.items():
        out.update(_move_median(table, mcol, wcol, row, tgt_codes, w, n_t))
    return out


def _move_count(
    table: pd.DataFrame,
    c: str,
    row: np.ndarray,
    tgt_codes: np.ndarray,
    w: np.ndarray,
    n_t: int,
    *,
    skipna: bool,
) -> dict[str, np.ndarray]:
    """Count `c` per target (weighted sum) and its MOE (root of the sum of squares)."""
    name = "apply_crosswalk: table"
    out: dict[str, np.ndarray] = {}
    v = _numeric(table, c, name=name)[row]
    nan = np.isnan(v)
    total = np.bincount(tgt_codes, weights=w * np.where(nan, 0.0, v), minlength=n_t)
    if not skipna:
        total[np.bincount(tgt_codes, weights=nan, minlength=n_t) > 0] = np.nan
    out[c] = total
    mc = f"moe_{c}"
    if mc in table.columns:
        m = _numeric(table, mc, name=name)[row]
        mnan = np.isnan(m) & ~(skipna & nan)
        wm = w * np.where(np.isnan(m), 0.0, m)
        zero = v == 0  # Census rule: of the pieces estimated at 0, only the largest MOE counts
        sq = np.bincount(tgt_codes, weights=np.where(zero, 0.0, np.square(wm)), minlength=n_t)
        zmax = np.zeros(n_t)
        np.maximum.at(zmax, tgt_codes[zero], wm[zero])
        res = np.sqrt(sq + np.square(zmax))
        res[np.bincount(tgt_codes, weights=mnan, minlength=n_t) > 0] = np.nan
        out[mc] = res
    return out


def _move_median(
    table: pd.DataFrame,
    mcol: str,
    wcol: str,
    row: np.ndarray,
    tgt_codes: np.ndarray,
    w: np.ndarray,
    n_t: int,
) -> dict[str, np.ndarray]:
    """Median `mcol` per target as the mean weighted by count `wcol`, and its MOE."""
    name = "apply_crosswalk: table"
    out: dict[str, np.ndarray] = {}
    med = _numeric(table, mcol, name=name)[row]
    h = w * _numeric(table, wcol, name=name)[row]
    valid = ~np.isnan(med) & ~np.isnan(h) & (h > 0)
    hv = np.where(valid, h, 0.0)
    big_h = np.bincount(tgt_codes, weights=hv, minlength=n_t)
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.where(big_h > 0, big_h, np.nan)
        out[mcol] = (
            np.bincount(tgt_codes, weights=hv * np.where(valid, med, 0.0), minlength=n_t) / den
        )
        mm = f"moe_{mcol}"
        if mm in table.columns:
            m = _numeric(table, mm, name=name)[row]
            mnan = valid & np.isnan(m)
            sq = np.bincount(
                tgt_codes,
                weights=np.square(hv * np.where(valid & ~mnan, m, 0.0)),
                minlength=n_t,
            )
            res = np.sqrt(sq) / den
            res[np.bincount(tgt_codes, weights=mnan, minlength=n_t) > 0] = np.nan
            out[mm] = res
    return out

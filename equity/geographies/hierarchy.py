"""The Census hierarchy: levels, GEOID widths, parents by prefix, aggregation up the tree.

GEOIDs are zero-padded strings (state 2, county 5, tract 11, block group 12 digits); a
parent's GEOID is a prefix of its children's, never computed by arithmetic. Aggregating is
a crosswalk with weights 1 (:func:`equity.geographies.crosswalk.apply_crosswalk`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import pandas as pd

from equity.errors import SchemaError, check_choice
from equity.geographies._checks import _as_str_ids, _require_columns
from equity.geographies.crosswalk import apply_crosswalk

log = logging.getLogger(__name__)

#: Levels of the toolkit, finest first.
LEVELS: tuple[str, ...] = ("street", "blockgroup", "tract", "town", "county", "state")
#: Width of a GEOID at each level of the Census hierarchy.
GEOID_WIDTH: dict[str, int] = {"state": 2, "county": 5, "tract": 11, "blockgroup": 12}


def parent_geoid(geoids: pd.Series, level: str) -> pd.Series:
    """GEOID of the parent at `level` of each GEOID (by prefix, never by arithmetic).

    Parameters
    ----------
    geoids
        Zero-padded GEOID strings (block group 12, tract 11, county 5, state 2 digits).
    level
        Parent level: ``"blockgroup"``, ``"tract"``, ``"county"`` or ``"state"``.

    Returns
    -------
    pandas.Series
        Parent GEOIDs (strings), same index, named ``<level>_GEOID``.

    Raises
    ------
    ChoiceError
        When `level` is unknown (the message lists the valid levels).
    SchemaError
        When GEOIDs are numbers, not digit strings, or coarser than `level`.

    Examples
    --------
    >>> import pandas as pd
    >>> parent_geoid(pd.Series(["510030101001", "51003010100"]), "county").tolist()
    ['51003', '51003']
    """
    check_choice("level", level, GEOID_WIDTH, where="parent_geoid")
    ids = _as_str_ids(
        pd.Series(geoids), name="parent_geoid", column=getattr(geoids, "name", None) or "GEOID"
    )
    width = GEOID_WIDTH[level]
    bad = ~ids.str.fullmatch(r"\d+")
    if bad.any():
        msg = f"parent_geoid: GEOIDs must be digit strings; got {ids[bad].iloc[0]!r}"
        raise SchemaError(msg)
    short = ids.str.len() < width
    if short.any():
        msg = (
            f"parent_geoid: GEOID {ids[short].iloc[0]!r} ({int(short.sum())} of {len(ids)}) is "
            f"coarser than level {level!r} ({width} digits)"
        )
        raise SchemaError(msg)
    return ids.str[:width].rename(f"{level}_GEOID")


def aggregate(
    table: pd.DataFrame,
    *,
    to: str,
    counts: Sequence[str],
    medians: Mapping[str, str] | None = None,
    skipna: bool = False,
) -> pd.DataFrame:
    """Aggregate counts (and their MOEs) to a coarser level of the GEOID hierarchy.

    Parameters
    ----------
    table
        One row per place, keyed by ``GEOID`` (all of one level), with the count columns,
        optionally ``moe_<count>``, the median columns and ``moe_<median>``.
    to
        Target level: ``"tract"``, ``"county"`` or ``"state"`` (or ``"blockgroup"``).
    counts
        Extensive columns to sum.
    medians
        ``{median_column: weight_count_column}``, e.g.
        ``{"median_household_income": "households"}``; see :func:`apply_crosswalk`.
    skipna
        Treat missing counts as zero (default: a missing part makes the sum missing).

    Returns
    -------
    pandas.DataFrame
        One row per parent: ``GEOID``, ``level``, the parents' own parent keys
        (``state_GEOID``, ``county_GEOID``, ``tract_GEOID`` as applicable), the summed counts,
        ``moe_<count>`` (where the input had them), medians and their MOEs.

    Notes
    -----
    A parent's count is the sum of its parts and its margin of error the Census Bureau's
    approximation :math:`\\sqrt{\\sum_i MOE_i^2}` (independent parts), which lies between the
    largest part's MOE and the sum of the parts' MOEs. Both are associative, so aggregating
    block groups to tracts and then to counties equals aggregating them to counties at once.

    Examples
    --------
    >>> import pandas as pd
    >>> bg = pd.DataFrame({"GEOID": ["510030101001", "510030101002"],
    ...                    "households": [100.0, 50.0], "moe_households": [30.0, 40.0]})
    >>> aggregate(bg, to="tract", counts=["households"])[["GEOID", "households", "moe_households"]]
             GEOID  households  moe_households
    0  51003010100       150.0            50.0
    """
    _require_columns(table, ["GEOID"], name="aggregate: table")
    ids = _as_str_ids(table["GEOID"], name="aggregate: table", column="GEOID")
    widths = ids.str.len().unique()
    if len(widths) > 1:
        example = ids[ids.str.len() != widths[0]].iloc[0]
        msg = (
            f"aggregate: table mixes GEOIDs of {len(widths)} widths ({sorted(widths.tolist())}, e.g. "
            f"{ids.iloc[0]!r} and {example!r}); aggregate one level at a time so nothing is counted twice"
        )
        raise SchemaError(msg)
    parents = parent_geoid(ids, to)
    xw = pd.DataFrame(
        {"source_GEOID": ids.to_numpy(), "target_GEOID": parents.to_numpy(), "weight": 1.0}
    )
    out = apply_crosswalk(
        table.assign(GEOID=ids), xw, counts=counts, medians=medians, skipna=skipna
    )
    out.insert(1, "level", to)
    pos = 2
    for lv in ("state", "county", "tract"):
        if GEOID_WIDTH[lv] < GEOID_WIDTH[to]:
            out.insert(pos, f"{lv}_GEOID", out["GEOID"].str[: GEOID_WIDTH[lv]])
            pos += 1
    log.info("aggregated %d places to %d %s(s)", len(table), len(out), to)
    return out


def _parent_columns(blockgroup_geoids: pd.Series) -> dict[str, pd.Series]:
    """tract/county/state GEOIDs of block-group GEOIDs (missing when a GEOID is too short)."""
    out: dict[str, pd.Series] = {}
    ids = blockgroup_geoids.astype("str")
    for lv in ("tract", "county", "state"):
        width = GEOID_WIDTH[lv]
        out[f"{lv}_GEOID"] = ids.str[:width].where(ids.str.len() >= width)
    return out

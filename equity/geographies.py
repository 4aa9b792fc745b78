"""Levels, the GEOID hierarchy, the street grid (H3), towns, interpolation and aggregation.

Every move of counts between geographies is expressed as a **crosswalk**: a table with
``source_GEOID``, ``target_GEOID`` and ``weight`` (the share of the source that goes to the
target; the weights of a source sum to one), applied by one function, :func:`apply_crosswalk`:

* the hierarchy (block group -> tract -> county -> state, :func:`aggregate`) has weights 1;
* the street grid (:func:`street_grid`) spreads block groups onto H3 cells dasymetrically;
* towns (:func:`allocate_to_polygons` via :func:`polygon_crosswalk`, or :func:`build_towns`
  when no town polygons exist) receive counts by overlay;
* tract vintages (:func:`interpolate_vintage`) move by area-weighted interpolation (tobler).

Every crosswalk conserves each source's total exactly (weights sum to one), which the
tests check to a relative error of 1e-9 at every level.

Counts (extensive variables, e.g. ``households``) are moved and their 90% margins of error
``moe_<count>`` follow the Census Bureau's approximation formulas (see :mod:`equity._moe`,
re-exported here: :func:`moe_sum`, :func:`moe_proportion`, :func:`moe_ratio`,
:func:`moe_product`, :func:`moe_weighted_mean`). Rates are recomputed from the moved counts
(``equity.indicators``), never averaged. Medians are intensive: they are moved as weighted
means of the parts' medians (see :func:`apply_crosswalk`).

Ookla tiles become place summaries with :func:`ookla_to_polygons` and :func:`ookla_to_grid`;
points (anchor institutions) are counted with :func:`count_points`; street lines are cut by
the grid and coloured from it with :func:`street_segments`.

The geometry engine computes exact intersection areas pair by pair (STRtree candidates;
containment short-cuts for the common case of a cell inside one block group; vectorised
rectangle clipping for Ookla tiles, which stay axis-aligned rectangles in EPSG:6933; GEOS
for the rest), with no Python loop over features except the calls into H3, which has no
batch polygon fill.

All areas are computed in the equal-area CRS EPSG:6933; every GeoDataFrame returned is in
EPSG:4326.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from equity import settings
from equity._moe import (
    moe_from_se,
    moe_product,
    moe_proportion,
    moe_ratio,
    moe_sum,
    moe_weighted_mean,
    se_from_moe,
)
from equity.errors import DataError, SchemaError

if TYPE_CHECKING:
    from libpysal.weights import W

__all__ = [
    "GEOID_WIDTH",
    "LEVELS",
    "aggregate",
    "allocate_to_polygons",
    "apply_crosswalk",
    "build_towns",
    "combine_ookla_grid",
    "combine_ookla_polygons",
    "combine_street_grid",
    "count_points",
    "interpolate_vintage",
    "moe_from_se",
    "moe_product",
    "moe_proportion",
    "moe_ratio",
    "moe_sum",
    "moe_weighted_mean",
    "ookla_grid_pieces",
    "ookla_polygon_pieces",
    "ookla_to_grid",
    "ookla_to_polygons",
    "parent_geoid",
    "polygon_crosswalk",
    "se_from_moe",
    "street_grid",
    "street_grid_pieces",
    "street_segments",
]

log = logging.getLogger(__name__)

#: Levels of the toolkit, finest first.
LEVELS: tuple[str, ...] = ("street", "blockgroup", "tract", "town", "county", "state")
#: Width of a GEOID at each level of the Census hierarchy.
GEOID_WIDTH: dict[str, int] = {"state": 2, "county": 5, "tract": 11, "blockgroup": 12}

AREA_CRS = "EPSG:6933"
OUT_CRS = "EPSG:4326"
#: Relative tolerance of "weights sum to one".
WEIGHT_TOL = 1e-9
OOKLA_COLUMNS = (
    "ookla_tests",
    "ookla_devices",
    "download_mbps",
    "upload_mbps",
    "latency_ms",
    "download_mbps_devices",
    "upload_mbps_devices",
    "share_tests_below_25_3",
    "share_tests_below_100_20",
    "n_tiles",
)


# ---------------------------------------------------------------------------------------------
# validation helpers


def _require_columns(table: pd.DataFrame, columns: Iterable[str], *, name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        have = ", ".join(map(str, list(table.columns)[:12]))
        msg = f"{name} lacks column(s) {', '.join(map(repr, missing))} (it has: {have})"
        raise SchemaError(msg)


def _as_str_ids(values: pd.Series, *, name: str, column: str) -> pd.Series:
    """GEOIDs as strings; refuses numbers (leading zeros would be lost) and missing values."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        example = values.iloc[0] if len(values) else None
        msg = (
            f"{name}: column {column!r} holds numbers (dtype {values.dtype}, e.g. {example!r}); "
            "GEOIDs must be zero-padded strings, read them with dtype=str"
        )
        raise SchemaError(msg)
    if values.isna().any():
        msg = f"{name}: column {column!r} has {int(values.isna().sum())} missing ids"
        raise SchemaError(msg)
    return values.astype("str")


def _numeric(table: pd.DataFrame, column: str, *, name: str) -> np.ndarray:
    values = table[column]
    if not (pd.api.types.is_numeric_dtype(values.dtype) or values.isna().all()):
        example = values.dropna().iloc[0]
        msg = f"{name}: column {column!r} is not numeric (dtype {values.dtype}, e.g. {example!r})"
        raise SchemaError(msg)
    return values.to_numpy(dtype=float, na_value=np.nan)


def _check_geo(gdf: gpd.GeoDataFrame, *, name: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"{name} must be a GeoDataFrame, got {type(gdf).__name__}"
        raise SchemaError(msg)
    if gdf.crs is None:
        msg = f"{name} has no CRS; set it (e.g. gdf.set_crs('EPSG:4326'))"
        raise SchemaError(msg)
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        msg = f"{name} has {int(empty.sum())} missing or empty geometries (row {gdf.index[empty][0]!r})"
        raise DataError(msg)


def _area_geoms(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Geometries of `gdf` in the equal-area CRS as a NumPy array of shapely objects.

    :data:`AREA_CRS` is cylindrical (x from longitude, y from latitude), so a lon/lat
    rectangle (an Ookla tile) projects to the rectangle of its projected corners: those are
    built from two projected points each instead of reprojecting five vertices (five times
    faster on millions of tiles); the corners are the same numbers either way.
    """
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    if gdf.crs is None or not gdf.crs.equals("EPSG:4326") or len(geoms) < 1000:
        return np.asarray(gdf.geometry.to_crs(AREA_CRS).array, dtype=object)
    rect = _rectangles(geoms)
    if not rect.any():
        return np.asarray(gdf.geometry.to_crs(AREA_CRS).array, dtype=object)
    out = np.empty(len(geoms), dtype=object)
    b = shapely.bounds(geoms[rect])
    x0, y0 = _to_area_crs(b[:, 0], b[:, 1])
    x1, y1 = _to_area_crs(b[:, 2], b[:, 3])
    out[rect] = shapely.box(x0, y0, x1, y1)
    if not rect.all():
        rest = gpd.GeoSeries(geoms[~rect], crs=gdf.crs).to_crs(AREA_CRS)
        out[~rect] = np.asarray(rest.array, dtype=object)
    return out


def _as_list(x: str | Sequence[str] | None) -> list[str]:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)


# ---------------------------------------------------------------------------------------------
# hierarchy


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
    SchemaError
        When `level` is unknown, GEOIDs are numbers, not digit strings, or coarser than `level`.

    Examples
    --------
    >>> import pandas as pd
    >>> parent_geoid(pd.Series(["510030101001", "51003010100"]), "county").tolist()
    ['51003', '51003']
    """
    if level not in GEOID_WIDTH:
        msg = f"unknown level {level!r}; valid levels: {', '.join(GEOID_WIDTH)}"
        raise SchemaError(msg)
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


# ---------------------------------------------------------------------------------------------
# crosswalks


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
    independent. Rows of the crosswalk with the same source and target are first merged
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
    _require_columns(
        table, ["GEOID", *counts, *medians, *medians.values()], name="apply_crosswalk: table"
    )
    ids = _as_str_ids(table["GEOID"], name="apply_crosswalk: table", column="GEOID")
    if ids.duplicated().any():
        msg = (
            f"apply_crosswalk: table has duplicate GEOIDs (e.g. {ids[ids.duplicated()].iloc[0]!r})"
        )
        raise SchemaError(msg)
    src, tgt, w = _check_crosswalk(crosswalk)
    row = pd.Index(ids).get_indexer(src)
    keep = (row >= 0) & (w > 0)
    row, w = row[keep], w[keep]
    tgt_codes, targets = pd.factorize(tgt[keep], sort=True)
    n_t = len(targets)

    if check and len(table):
        _check_conservation(table, counts, ids, row, w)
    # several rows of one source into one target are one (fully correlated) piece
    pair = row.astype(np.int64) * max(n_t, 1) + tgt_codes
    uniq, inverse = np.unique(pair, return_inverse=True)
    if len(uniq) < len(pair):
        w = np.bincount(inverse, weights=w)
        row, tgt_codes = uniq // max(n_t, 1), uniq % max(n_t, 1)
    out = {"GEOID": pd.array(np.asarray(targets, dtype=object), dtype="str")}
    out.update(_move(table, row, tgt_codes, w, n_t, counts=counts, medians=medians, skipna=skipna))
    return pd.DataFrame(out)


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
    name = "apply_crosswalk: table"
    out: dict[str, np.ndarray] = {}
    for c in counts:
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
            sq = np.bincount(
                tgt_codes, weights=np.square(w * np.where(np.isnan(m), 0.0, m)), minlength=n_t
            )
            res = np.sqrt(sq)
            res[np.bincount(tgt_codes, weights=mnan, minlength=n_t) > 0] = np.nan
            out[mc] = res
    for mcol, wcol in medians.items():
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


# ---------------------------------------------------------------------------------------------
# geometry engine: exact pairwise overlaps in the equal-area CRS


def _rectangles(geoms: np.ndarray) -> np.ndarray:
    """Mask of axis-aligned rectangles (Ookla tiles stay rectangles in EPSG:6933)."""
    is_poly = shapely.get_type_id(geoms) == 3
    five = shapely.get_num_coordinates(geoms) == 5
    box_area = np.prod(np.diff(shapely.bounds(geoms).reshape(-1, 2, 2), axis=1)[:, 0], axis=1)
    area = shapely.area(geoms)
    return is_poly & five & (np.abs(area - box_area) <= 1e-12 * box_area) & (area > 0)


def _clip_half(
    x: np.ndarray, y: np.ndarray, ring: np.ndarray, axis: int, bound: np.ndarray, keep_above: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sutherland-Hodgman: clip rings (vertex arrays grouped by `ring`) by one half-plane."""
    n = len(x)
    if n == 0:
        return x, y, ring
    idx = np.arange(n)
    start = np.r_[True, ring[1:] != ring[:-1]]
    first = np.maximum.accumulate(np.where(start, idx, 0))
    end = np.r_[ring[1:] != ring[:-1], True]
    nxt = np.where(end, first, idx + 1)
    c = x if axis == 0 else y
    b = bound[ring]
    inside = c >= b if keep_above else c <= b
    cur_in, nxt_in = inside, inside[nxt]
    cross = cur_in != nxt_in
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(cross, (b - c) / (c[nxt] - c), 0.0)
    ix = x + t * (x[nxt] - x)
    iy = y + t * (y[nxt] - y)
    if axis == 0:
        ix = np.where(cross, b, ix)
    else:
        iy = np.where(cross, b, iy)
    # per edge: in->in: [next]; in->out: [I]; out->in: [I, next]; out->out: []
    n_out = np.where(cur_in & nxt_in, 1, 0) + cross + (~cur_in & nxt_in)
    edge = np.repeat(idx, n_out)
    second = np.zeros(len(edge), dtype=bool)
    two = n_out[edge] == 2
    second[1:] = two[1:] & (edge[1:] == edge[:-1])
    use_i = cross[edge] & ~second
    ox = np.where(use_i, ix[edge], x[nxt[edge]])
    oy = np.where(use_i, iy[edge], y[nxt[edge]])
    return ox, oy, ring[edge]


def _rect_clip_area(geoms: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """Area of ``geoms[k] & rects[k]`` (rects axis-aligned) by vectorised polygon clipping.

    Sutherland-Hodgman clipping of every ring by the rectangle's four half-planes, then the
    shoelace formula (holes subtracted). Exact for any simple polygon, concave or with holes;
    about twice as fast as GEOS intersections for small polygons such as grid cells.
    """
    out = np.zeros(len(geoms))
    if not len(geoms):
        return out
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    hole = np.r_[False, ring_part[1:] == ring_part[:-1]]
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    # drop each ring's closing vertex
    last = np.r_[ring[1:] != ring[:-1], True]
    coords, ring = coords[~last], ring[~last]
    pair = part_of[ring_part]
    bounds = shapely.bounds(rects)
    # work relative to each rectangle's corner: the shoelace sum of products of large
    # projected coordinates (~1e7 m) would otherwise lose about 7 digits
    origin = bounds[:, :2]
    x, y = coords[:, 0] - origin[pair[ring], 0], coords[:, 1] - origin[pair[ring], 1]
    rb = (bounds - np.tile(origin, 2))[pair]
    for axis, col, above in ((0, 0, True), (0, 2, False), (1, 1, True), (1, 3, False)):
        x, y, ring = _clip_half(x, y, ring, axis, rb[:, col], above)
    if not len(x):
        return out
    start = np.r_[True, ring[1:] != ring[:-1]]
    idx = np.arange(len(x))
    first = np.maximum.accumulate(np.where(start, idx, 0))
    end = np.r_[ring[1:] != ring[:-1], True]
    nxt = np.where(end, first, idx + 1)
    cross = x * y[nxt] - x[nxt] * y
    ring_ids = ring[start]
    signed = np.add.reduceat(cross, np.flatnonzero(start)) / 2.0
    area = np.abs(signed) * np.where(hole[ring_ids], -1.0, 1.0)
    np.add.at(out, pair[ring_ids], area)
    return np.maximum(out, 0.0)


#: Polygons with more coordinates than this are intersected by GEOS rather than clipped.
_CLIP_MAX_COORDS = 256
_CLIP_CHUNK_COORDS = 2_000_000


def _intersection_area(
    ga: np.ndarray, gb: np.ndarray, rect_a: np.ndarray, rect_b: np.ndarray
) -> np.ndarray:
    """Intersection areas of pairs; pairs with an axis-aligned rectangle are clipped in NumPy."""
    area = np.zeros(len(ga))
    na, nb = shapely.get_num_coordinates(ga), shapely.get_num_coordinates(gb)
    use_b = rect_b & (na <= _CLIP_MAX_COORDS)
    use_a = rect_a & ~use_b & (nb <= _CLIP_MAX_COORDS)
    for mask, poly, rect, n in ((use_b, ga, gb, na), (use_a, gb, ga, nb)):
        rows = np.flatnonzero(mask)
        if not len(rows):
            continue
        # chunks bound the memory of the flattened vertex arrays
        bounds = np.searchsorted(
            np.cumsum(n[rows]), np.arange(_CLIP_CHUNK_COORDS, n[rows].sum(), _CLIP_CHUNK_COORDS)
        )
        for chunk in np.split(rows, bounds):
            area[chunk] = _rect_clip_area(poly[chunk], rect[chunk])
    rest = ~(use_a | use_b)
    if rest.any():
        area[rest] = shapely.area(shapely.intersection(ga[rest], gb[rest]))
    return area


def _overlay(
    a: np.ndarray, b: np.ndarray, *, geometry: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Pairs of intersecting polygons of `a` and `b` with the area of their intersection.

    Pairs where one polygon lies inside the other (the common case for a fine grid) take the
    smaller polygon's own area, without computing an intersection; the rest are intersected
    with GEOS. Pairs that only touch (zero area) are dropped.

    Returns
    -------
    ia, ib, area, pieces
        Indices into `a` and `b`, the intersection areas, and the intersection polygons
        (only when `geometry` is true).
    """
    if len(a) == 0 or len(b) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0), (np.zeros(0, dtype=object) if geometry else None)
    # prepared query geometries are reused by GEOS: query with the smaller set, index the larger
    swap = len(a) > len(b)
    q, t = (b, a) if swap else (a, b)
    shapely.prepare(q)
    # bounding-box candidates, then one prepared test per pair: proper containment (the
    # common case for tiles or cells in a county) and "intersects" only for the rest
    # the tree holds the smaller set and the larger one queries it (building a tree of
    # millions of tiles cost more than all the queries); pairs in (q, t) order
    it, iq = STRtree(q).query(t)
    order = np.lexsort((it, iq))
    iq, it = iq[order], it[order]
    q_holds_t = shapely.contains_properly(q[iq], t[it])
    meets = q_holds_t.copy()
    meets[~q_holds_t] = shapely.intersects(q[iq[~q_holds_t]], t[it[~q_holds_t]])
    iq, it, q_holds_t = iq[meets], it[meets], q_holds_t[meets]
    ia, ib = (it, iq) if swap else (iq, it)
    ga, gb = a[ia], b[ib]
    area_a, area_b = shapely.area(ga), shapely.area(gb)
    # A pair is "a inside b" when a is within b (boundaries may touch) and no larger, "b inside
    # a" likewise. The test does not depend on which side is queried, so a pair's area is the
    # same whatever else `a` and `b` hold (partitioned runs give bit-identical areas).
    # q is prepared: the fast proper-containment test first, then within/contains with q first.
    small_a, small_b = area_a <= area_b, area_b <= area_a  # only a smaller polygon can lie inside
    if swap:
        a_in_b = q_holds_t  # gb (q) properly contains ga
        b_in_a = np.zeros(len(ia), dtype=bool)
        rest = ~a_in_b & small_b
        b_in_a[rest] = shapely.within(gb[rest], ga[rest])
        rest = ~a_in_b & ~b_in_a & small_a
        a_in_b[rest] = shapely.contains(gb[rest], ga[rest])
    else:
        b_in_a = q_holds_t  # ga (q) properly contains gb
        a_in_b = np.zeros(len(ia), dtype=bool)
        rest = ~b_in_a & small_a
        a_in_b[rest] = shapely.within(ga[rest], gb[rest])
        rest = ~b_in_a & ~a_in_b & small_b
        b_in_a[rest] = shapely.contains(ga[rest], gb[rest])
    # equal polygons are inside each other: both areas are then the same
    area = np.where(a_in_b, area_a, np.where(b_in_a, area_b, 0.0))
    other = ~(a_in_b | b_in_a)
    pieces = None
    if geometry:
        pieces = np.where(a_in_b, ga, gb)
    if other.any():
        if geometry:
            inter = shapely.intersection(ga[other], gb[other])
            area[other] = shapely.area(inter)
            pieces[other] = inter
        else:
            ga_o, gb_o = ga[other], gb[other]
            area[other] = _intersection_area(ga_o, gb_o, _rectangles(ga_o), _rectangles(gb_o))
    keep = area > 0
    return ia[keep], ib[keep], area[keep], (pieces[keep] if geometry else None)


def _ancillary_mass(pieces: np.ndarray, layer: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Ancillary mass falling in each piece.

    Polygon features spread their mass uniformly over their area, line features along their
    length, point features sit where they are (a point on a shared edge goes to the first piece).
    """
    kinds = set(shapely.get_type_id(layer).tolist())
    out = np.zeros(len(pieces))
    if not len(layer):
        return out
    # pairs in (piece, feature) order: each piece sums its features' mass in the same order
    # whichever subset of the layer (in its order) a partitioned run passes
    if kinds <= {3, 6}:  # polygons
        ip, il, area, _ = _overlay(pieces, layer)
        order = np.lexsort((il, ip))
        ip, il, area = ip[order], il[order], area[order]
        density = mass / shapely.area(layer)
        np.add.at(out, ip, density[il] * area)
    elif kinds <= {1, 2, 5}:  # lines
        il, ip = STRtree(pieces).query(layer, predicate="intersects")
        order = np.lexsort((il, ip))
        il, ip = il[order], ip[order]
        length = shapely.length(shapely.intersection(layer[il], pieces[ip]))
        total = shapely.length(layer)
        with np.errstate(invalid="ignore", divide="ignore"):
            density = np.where(total > 0, mass / total, 0.0)
        np.add.at(out, ip, density[il] * length)
    elif kinds <= {0, 4}:  # points
        il, ip = STRtree(pieces).query(layer, predicate="intersects")
        order = np.lexsort((ip, il))  # a point on a shared edge: the piece listed first
        il, ip = il[order], ip[order]
        first = np.unique(il, return_index=True)[1]
        np.add.at(out, ip[first], mass[il[first]])
    else:
        msg = "ancillary layer mixes geometry types; give polygons, lines or points"
        raise SchemaError(msg)
    return out


# ---------------------------------------------------------------------------------------------
# H3


def _exterior(geoms: np.ndarray) -> np.ndarray:
    """Mask of the polygons touching the outside (or a hole) of their union."""
    union = None
    with np.errstate(all="ignore"):
        try:
            cover = shapely.coverage_union_all(geoms)
            # a valid coverage has no overlaps: its union's area is the sum of the areas
            if (
                abs(shapely.area(cover) - shapely.area(geoms).sum())
                <= 1e-9 * shapely.area(geoms).sum()
            ):
                union = cover
        except shapely.errors.GEOSException:
            union = None
    if union is None:
        union = shapely.union_all(geoms)
    edge = shapely.boundary(union)
    shapely.prepare(edge)
    mask = np.zeros(len(geoms), dtype=bool)
    mask[STRtree(geoms).query(edge, predicate="intersects")] = True
    return mask


def _cells_covering(
    geoms_4326: np.ndarray, resolution: int, *, tiling: bool = False, as_int: bool = False
) -> np.ndarray:
    """Sorted unique H3 cells (strings, or 64-bit integers `as_int`) overlapping any polygon.

    With `tiling` (the polygons tile an area, as block groups do) only the polygons on the
    outside of the union need H3's slower "overlap" fill: a cell overlapping the union
    either has its centre in some polygon (found by the "center" fill of that polygon) or
    crosses the union's outer boundary (found by the overlap fill of an outer polygon).
    """
    if not 0 <= resolution <= 15:
        msg = f"H3 resolution must be between 0 and 15; got {resolution!r}"
        raise SchemaError(msg)
    if not len(geoms_4326):
        return np.zeros(0, dtype=np.uint64 if as_int else "<U15")
    edge = h3.average_hexagon_edge_length(resolution, unit="m")
    small = _radius_m(geoms_4326) < 4 * edge
    found: list[np.ndarray] = []
    if small.any():
        found.append(_cells_of_small(geoms_4326[small], resolution, edge))
    big = np.flatnonzero(~small)
    if len(big):
        outer = (
            _exterior(geoms_4326)
            if tiling and len(geoms_4326) > 1
            else np.ones(len(geoms_4326), dtype=bool)
        )
        import h3.api.basic_int as h3i

        # one C call per polygon: h3 has no batch polygon fill; the classic centre fill is
        # several times faster than the experimental overlap fill. Cells are handled as
        # integers (their unique is ten times faster than on strings) and turned into
        # strings once, in the same order (fixed-width hexadecimal sorts as the integers)
        found += [
            np.asarray(
                h3i.h3shape_to_cells_experimental(
                    h3.geo_to_h3shape(geoms_4326[i]), resolution, contain="overlap"
                )
                if outer[i]
                else h3i.h3shape_to_cells(h3.geo_to_h3shape(geoms_4326[i]), resolution),
                dtype=np.uint64,
            )
            for i in big
        ]
    found = [c for c in found if len(c)]
    if not found:
        return np.zeros(0, dtype=np.uint64 if as_int else "<U15")
    cells = np.unique(np.concatenate(found))
    return cells if as_int else h3_strings(cells)


def _cells_near(cells: np.ndarray, layer_4326: np.ndarray, resolution: int) -> np.ndarray:
    """Mask of H3 cells (64-bit integers) that may overlap a feature of the layer (lon/lat).

    A cell overlapping a feature has its centre within one circumradius (an edge length) of
    the feature; with twice the resolution's average edge length (H3 edges vary by about
    +-40% at one resolution) as the margin around each feature's bounding box, the mask is a
    superset of the overlapping cells.
    """
    import h3.api.basic_int as h3i

    out = np.zeros(len(cells), dtype=bool)
    if not len(cells) or not len(layer_4326):
        return out
    margin = 2.0 * h3.average_hexagon_edge_length(resolution, unit="m")
    b = shapely.bounds(layer_4326)
    dlat = margin / 110_574.0  # the shortest degree of latitude: the widest margin
    top = np.minimum(np.maximum(np.abs(b[:, 1]), np.abs(b[:, 3])) + dlat, 89.0)
    dlon = margin / (111_320.0 * np.cos(np.radians(top)))
    boxes = shapely.box(b[:, 0] - dlon, b[:, 1] - dlat, b[:, 2] + dlon, b[:, 3] + dlat)
    ll = np.fromiter(
        itertools.chain.from_iterable(h3i.cell_to_latlng(int(c)) for c in cells),
        dtype=float,
        count=2 * len(cells),
    ).reshape(-1, 2)
    # bounding-box query: exact for the axis-aligned boxes
    hit = STRtree(boxes).query(shapely.points(ll[:, 1], ll[:, 0]))[0]
    out[hit] = True
    return out


#: Hexadecimal digits as character codes, for :func:`h3_strings`.
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint32)


def h3_strings(cells: np.ndarray) -> np.ndarray:
    """H3 cell indexes (64-bit integers) as their 15-hex-digit strings, vectorised.

    Parameters
    ----------
    cells
        H3 cell indexes as unsigned 64-bit integers.

    Returns
    -------
    numpy.ndarray
        ``<U15`` strings, as ``h3.int_to_str`` gives them (a cell's top four bits are zero,
        so its string has 15 digits), in the same order: fixed-width hexadecimal strings sort
        as the integers do.

    Examples
    --------
    >>> import h3
    >>> cell = h3.latlng_to_cell(38.0, -78.0, 9)
    >>> str(h3_strings(np.array([h3.str_to_int(cell)], dtype=np.uint64))[0]) == cell
    True
    """
    ints = np.asarray(cells, dtype=np.uint64).reshape(-1)
    shifts = np.arange(56, -1, -4, dtype=np.uint64)  # bits 59..0, most significant first
    codes = _HEX_DIGITS[((ints[:, None] >> shifts) & np.uint64(0xF)).astype(np.intp)]
    return np.ascontiguousarray(codes).view("<U15").reshape(-1)


def _radius_m(geoms_4326: np.ndarray) -> np.ndarray:
    """Largest distance (metres, local equirectangular) from each polygon's centroid to a vertex."""
    cent = shapely.get_coordinates(shapely.centroid(geoms_4326))
    xy, idx = shapely.get_coordinates(geoms_4326, return_index=True)
    dx = (xy[:, 0] - cent[idx, 0]) * np.cos(np.radians(cent[idx, 1])) * 111_320.0
    dy = (xy[:, 1] - cent[idx, 1]) * 110_574.0
    r = np.zeros(len(geoms_4326))
    np.maximum.at(r, idx, np.hypot(dx, dy))
    return r


def _cells_of_small(geoms_4326: np.ndarray, resolution: int, edge_m: float) -> np.ndarray:
    """H3 cells (64-bit integers) overlapping small polygons (e.g. Ookla tiles), faster than H3's overlap fill.

    A cell overlapping a polygon either has its centre inside it (H3's centre fill), or is
    crossed by its boundary, or contains it. The boundary is sampled at most every shortest
    H3 edge length; any point of a cell crossed by the boundary is then closer to a sample
    (half that) than the thickness of the ring of cells around the sample's cell (at least
    one edge), so the crossed cell is that cell or one of its neighbours
    (``grid_disk(cell, 1)``).
    """
    import h3.api.basic_int as h3i

    # samples every e_min degrees-of-latitude-length: a boundary point is at most e_min / 2
    # from a sample, less than the ring's thickness (e_min); H3 edges at one resolution are
    # within about +-40% of the average
    step_deg = 0.6 * edge_m / 111_320.0
    pts = shapely.get_coordinates(shapely.segmentize(shapely.boundary(geoms_4326), step_deg))
    sample = np.unique(
        np.fromiter(
            (h3i.latlng_to_cell(y, x, resolution) for x, y in pts), dtype=np.uint64, count=len(pts)
        )
    )
    ring = [h3i.grid_disk(int(c), 1) for c in sample]
    # centre fill of each part's exterior ring (holes ignored: a superset is fine, the exact
    # overlaps are computed later); LatLngPoly from arrays is faster than geo_to_h3shape
    rings = shapely.get_exterior_ring(shapely.get_parts(geoms_4326))
    xy, idx = shapely.get_coordinates(rings, return_index=True)
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    centre = [
        h3i.h3shape_to_cells(h3.LatLngPoly(part.tolist()), resolution)
        for part in np.split(xy[:, ::-1], starts[1:])
    ]
    return np.unique(np.fromiter(itertools.chain.from_iterable(ring + centre), dtype=np.uint64))


_AREA_TRANSFORMER: list = []  # pyproj Transformer lon/lat -> AREA_CRS, made on first use


def _cell_polygons(
    cells: np.ndarray, known: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Lon/lat hexagons of H3 cells (strings), taken from `known` where it holds them."""
    if known is None or not len(cells):
        return _hexagons(cells)
    ints = np.fromiter((int(c, 16) for c in cells.tolist()), dtype=np.uint64, count=len(cells))
    pos = np.minimum(np.searchsorted(known[0], ints), max(len(known[0]) - 1, 0))
    found = known[0][pos] == ints if len(known[0]) else np.zeros(len(ints), dtype=bool)
    out = np.empty(len(cells), dtype=object)
    out[found] = known[1][pos[found]]
    if not found.all():
        out[~found] = _hexagons(cells[~found])
    return out


def _to_area_crs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not _AREA_TRANSFORMER:
        from pyproj import Transformer

        _AREA_TRANSFORMER.append(Transformer.from_crs(OUT_CRS, AREA_CRS, always_xy=True))
    return _AREA_TRANSFORMER[0].transform(x, y)


def _hexagons(cells: np.ndarray, *, area_crs: bool = False) -> np.ndarray:
    """Shapely polygons of H3 cells: lon/lat, or projected to :data:`AREA_CRS`.

    Vertices go from H3 into one coordinate array, projected there when `area_crs` (one
    pyproj call rather than building lon/lat polygons and reprojecting them), then into
    rings and polygons (shapely builds polygons from rings twice as fast as from an array).
    """
    return _hexagons_of(cells, (area_crs,))[0]


def _hexagons_of(cells: np.ndarray, projections: tuple[bool, ...]) -> list[np.ndarray]:
    """:func:`_hexagons` in each projection (False: lon/lat, True: projected), one H3 pass."""
    cells = np.asarray(cells)
    if cells.dtype.kind == "u":
        import h3.api.basic_int as h3i

        boundary = h3i.cell_to_boundary
        items = [int(c) for c in cells]
    else:
        boundary = h3.cell_to_boundary
        items = cells.tolist()
    rings = [boundary(c) for c in items]
    n = np.fromiter((len(r) for r in rings), dtype=np.intp, count=len(rings))
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.chain.from_iterable(rings)),
        dtype=float,
        count=2 * int(n.sum()),
    ).reshape(-1, 2)
    lat, lng = flat[:, 0], flat[:, 1]
    starts = np.cumsum(n) - n
    six = n == 6
    rows = starts[six][:, None] + np.arange(6)
    result = []
    for area_crs in projections:
        x, y = _to_area_crs(lng, lat) if area_crs else (lng, lat)
        xy = np.column_stack([x, y])
        out = np.empty(len(cells), dtype=object)
        if six.any():
            closed = np.ascontiguousarray(np.concatenate([xy[rows], xy[rows[:, :1]]], axis=1))
            out[six] = shapely.polygons(shapely.linearrings(closed))
        for i in np.flatnonzero(~six):  # the 12 pentagons per resolution
            out[i] = shapely.Polygon(xy[starts[i] : starts[i] + n[i]])
        result.append(out)
    return result


def _dominant(
    target_codes: np.ndarray, n_targets: int, score: np.ndarray, tiebreak: np.ndarray
) -> np.ndarray:
    """Row (into the pieces) of the largest `score` per target (ties: larger `tiebreak`)."""
    order = np.lexsort((-tiebreak, -score, target_codes))
    first = np.ones(len(order), dtype=bool)
    first[1:] = target_codes[order][1:] != target_codes[order][:-1]
    rows = np.full(n_targets, -1, dtype=np.intp)
    rows[target_codes[order][first]] = order[first]
    return rows


def _parent_columns(blockgroup_geoids: pd.Series) -> dict[str, pd.Series]:
    """tract/county/state GEOIDs of block-group GEOIDs (missing when a GEOID is too short)."""
    out: dict[str, pd.Series] = {}
    ids = blockgroup_geoids.astype("str")
    for lv in ("tract", "county", "state"):
        width = GEOID_WIDTH[lv]
        out[f"{lv}_GEOID"] = ids.str[:width].where(ids.str.len() >= width)
    return out


def _ancillary_weights(
    tiles: gpd.GeoDataFrame, layer: np.ndarray, weight_column: str | None
) -> np.ndarray:
    """Mass of each ancillary feature: `weight_column`, or its area, length or 1 (point)."""
    if weight_column is None:
        kind = shapely.get_type_id(layer)
        polygonal = (kind == 3) | (kind == 6)
        lineal = (kind == 1) | (kind == 2) | (kind == 5)
        return np.where(
            polygonal, shapely.area(layer), np.where(lineal, shapely.length(layer), 1.0)
        )
    tmass = np.nan_to_num(_numeric(tiles, weight_column, name="street_grid: tiles"))
    if (tmass < 0).any():
        msg = f"street_grid: tiles column {weight_column!r} has negative values (e.g. {tmass[tmass < 0][0]!r})"
        raise DataError(msg)
    return tmass


def street_grid(
    blockgroups: gpd.GeoDataFrame,
    *,
    counts: Sequence[str],
    resolution: int = 9,
    tiles: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "devices",
    medians: Mapping[str, str] | None = None,
    drop_empty: bool = True,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Spread block-group counts onto an H3 grid dasymetrically (the street level).

    Parameters
    ----------
    blockgroups
        Block-group polygons with ``GEOID``, the count columns, optionally ``moe_<count>``
        and the median columns.
    counts
        Extensive columns to spread.
    resolution
        H3 resolution (9: cells of about 0.105 km2).
    tiles
        Ancillary layer whose `weight_column` says where within a block group people are:
        Ookla tiles (polygons, mass spread over each tile's area), or any polygons, lines
        (e.g. roads: mass spread along their length) or points. ``None``: area weights.
    weight_column
        Column of `tiles` holding the mass (``"devices"``, ``"tests"``, housing units...);
        ``None`` gives every feature a mass equal to its area, length or 1 (point).
    medians
        ``{median_column: weight_count_column}``, see :func:`apply_crosswalk`.
    drop_empty
        Keep only the populated cells: cells with some positive count (all cells with a
        positive weight when `counts` is empty). The crosswalk keeps only their rows.

    Returns
    -------
    cells : geopandas.GeoDataFrame
        One row per cell (EPSG:4326 hexagon): ``GEOID`` (H3 index string), ``level``
        (``"street"``), ``blockgroup_GEOID`` (the block group giving the cell most of its
        households, or of the first count), ``tract_GEOID``, ``county_GEOID``,
        ``state_GEOID``, ``n_parents`` (block groups feeding the cell), ``weight_method`` (of
        that block group), the counts, ``moe_<count>``, medians and their MOEs.
    crosswalk : pandas.DataFrame
        ``source_GEOID`` (block group), ``target_GEOID`` (cell), ``weight``,
        ``weight_method`` (``"ancillary"`` or ``"area"``), ``area_m2`` of the piece.

    Notes
    -----
    Cells are the H3 cells overlapping the block groups. Each block group :math:`b` is cut
    into pieces :math:`b \\cap c` by the cells (areas in EPSG:6933). With an ancillary layer,
    a piece's mass is :math:`m_{bc} = \\sum_k \\rho_k |b \\cap c \\cap k|` where
    :math:`\\rho_k` is feature :math:`k`'s mass per unit area (length for lines; points count
    whole), and the weight is :math:`w_{bc} = m_{bc} / \\sum_c m_{bc}`. Block groups where no
    ancillary mass falls (no tiles) fall back to area weights
    :math:`w_{bc} = |b \\cap c| / \\sum_c |b \\cap c|` (``weight_method = "area"``). Weights of a
    block group sum to 1, so its totals are conserved exactly; counts and MOEs then move
    with :func:`apply_crosswalk`. With area weights the result equals
    ``tobler.area_weighted.area_interpolate`` on the same cells.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> bg = gpd.GeoDataFrame({"GEOID": ["900010001001"], "households": [120.0]},
    ...     geometry=[shapely.box(-77.01, 38.0, -77.0, 38.01)], crs="EPSG:4326")
    >>> cells, xw = street_grid(bg, counts=["households"])
    >>> float(round(cells["households"].sum(), 9)), float(xw["weight"].sum().round(12))
    (120.0, 1.0)
    """
    counts = _as_list(counts)
    medians = dict(medians or {})
    _check_street_grid(
        blockgroups, counts=counts, medians=medians, tiles=tiles, weight_column=weight_column
    )
    pieces, hexagons = _street_grid_pieces(
        blockgroups,
        resolution=resolution,
        tiles=tiles,
        weight_column=weight_column,
        keep_hexagons=True,
    )
    return combine_street_grid(
        blockgroups, pieces, counts=counts, medians=medians, drop_empty=drop_empty,
        hexagons=hexagons,
    )  # fmt: skip


def _check_street_grid(
    blockgroups: gpd.GeoDataFrame,
    *,
    counts: Sequence[str],
    medians: Mapping[str, str],
    tiles: gpd.GeoDataFrame | None,
    weight_column: str | None,
) -> pd.Series:
    """Validate :func:`street_grid`'s inputs before the heavy work; the GEOIDs as strings."""
    _check_geo(blockgroups, name="street_grid: blockgroups")
    _require_columns(
        blockgroups,
        ["GEOID", *counts, *medians, *medians.values()],
        name="street_grid: blockgroups",
    )
    ids = _as_str_ids(blockgroups["GEOID"], name="street_grid: blockgroups", column="GEOID")
    if ids.duplicated().any():
        msg = f"street_grid: blockgroups has duplicate GEOIDs (e.g. {ids[ids.duplicated()].iloc[0]!r})"
        raise SchemaError(msg)
    if tiles is not None:
        _check_geo(tiles, name="street_grid: tiles")
        if weight_column is not None:
            _require_columns(tiles, [weight_column], name="street_grid: tiles")
    return ids


#: Columns of :func:`street_grid_pieces`.
PIECE_COLUMNS = ("source_GEOID", "target_GEOID", "weight", "weight_method", "area_m2")


def street_grid_pieces(
    blockgroups: gpd.GeoDataFrame,
    *,
    resolution: int = 9,
    tiles: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "devices",
) -> pd.DataFrame:
    """The expensive part of :func:`street_grid`: block groups cut by H3 cells, with weights.

    Covers the block groups with H3 cells, intersects them, measures the ancillary mass of
    `tiles` in each piece and turns it into per-block-group weights. A block group's pieces
    and weights depend only on its own polygon and the tiles overlapping it, so any set of
    block groups (a county, a state) can be processed on its own, given at least the tiles
    whose bounds meet the block groups' bounds, and give bit-identical rows
    (:func:`combine_street_grid` then merges the cells shared across sets).

    Parameters
    ----------
    blockgroups
        Block-group polygons with ``GEOID`` (other columns are ignored).
    resolution, tiles, weight_column
        As for :func:`street_grid`.

    Returns
    -------
    pandas.DataFrame
        One row per piece with a positive weight, ordered by block group (as in
        `blockgroups`) then cell: ``source_GEOID``, ``target_GEOID`` (H3 cell),
        ``weight`` (sums to 1 per block group), ``weight_method`` (``"ancillary"`` or
        ``"area"``), ``area_m2``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> bg = gpd.GeoDataFrame({"GEOID": ["900010001001"]},
    ...     geometry=[shapely.box(-77.01, 38.0, -77.0, 38.01)], crs="EPSG:4326")
    >>> pieces = street_grid_pieces(bg)
    >>> list(pieces.columns), float(pieces["weight"].sum().round(12))
    (['source_GEOID', 'target_GEOID', 'weight', 'weight_method', 'area_m2'], 1.0)
    """
    return _street_grid_pieces(
        blockgroups, resolution=resolution, tiles=tiles, weight_column=weight_column
    )[0]


def _street_grid_pieces(
    blockgroups: gpd.GeoDataFrame,
    *,
    resolution: int,
    tiles: gpd.GeoDataFrame | None,
    weight_column: str | None,
    keep_hexagons: bool = False,
) -> tuple[pd.DataFrame, tuple[np.ndarray, np.ndarray] | None]:
    """:func:`street_grid_pieces`, and with `keep_hexagons` the cells' lon/lat hexagons.

    The hexagons are ``(sorted cells as 64-bit integers, polygons)``, for
    :func:`combine_street_grid` to reuse rather than ask H3 for the same boundaries again.
    """
    ids = _check_street_grid(
        blockgroups, counts=[], medians={}, tiles=tiles, weight_column=weight_column
    )
    geo4326 = np.asarray(blockgroups.geometry.to_crs(OUT_CRS).array, dtype=object)
    bg_area = _area_geoms(blockgroups)
    cells = _cells_covering(geo4326, resolution, tiling=True, as_int=True)
    layer = tmass = None
    prior = np.zeros(len(ids), dtype=bool)  # block groups the layer gives mass to
    if tiles is not None:
        layer_all = _area_geoms(tiles)
        tmass_all = _ancillary_weights(tiles, layer_all, weight_column)
        keep = tmass_all > 0
        layer, tmass = layer_all[keep], tmass_all[keep]
        if len(layer):
            # in a block group with ancillary mass a cell without mass gets no weight: keep
            # the cells near a feature, and every cell of the block groups without mass
            # (most cells of a state hold no tile: this spares their hexagons and overlay)
            prior = _ancillary_mass(bg_area, layer, tmass) > 0
            if prior.any():
                layer4326 = np.asarray(tiles.geometry.to_crs(OUT_CRS).array, dtype=object)
                near = _cells_near(cells, layer4326[keep], resolution)
                cells = cells[near]
                if not prior.all():
                    rest = _cells_covering(geo4326[~prior], resolution, tiling=True, as_int=True)
                    cells = np.union1d(cells, rest)
    if keep_hexagons:
        hex4326, hex_area = _hexagons_of(cells, (False, True))
    else:
        hex4326, hex_area = None, _hexagons(cells, area_crs=True)
    # with a layer (even an empty one, as a partition without tiles gets) the pieces are cut
    # by GEOS, so their areas do not depend on whether a partition holds tiles
    has_layer = layer is not None
    ib, ic, area, pieces = _overlay(bg_area, hex_area, geometry=has_layer)
    # canonical order (block group, then cell in H3 order: `cells` is sorted), so the
    # per-block-group sums below add in the same order whichever cells the cover held
    order = np.lexsort((ic, ib))
    ib, ic, area = ib[order], ic[order], area[order]
    mass = np.zeros(len(ib))
    if has_layer and pieces is not None:
        mass = _ancillary_mass(pieces[order], layer, tmass)
    bg_mass = np.bincount(ib, weights=mass, minlength=len(ids))
    bg_cover = np.bincount(ib, weights=area, minlength=len(ids))
    # a block group the layer touches whose pieces got no mass (slivers along its edge) falls
    # back to area weights over every cell, as without the filter: it is redone unfiltered
    redo = prior & (bg_mass <= 0)
    uncovered = (bg_cover <= 0) & ~redo
    if uncovered.any():
        msg = (
            f"street_grid: block group {ids.iloc[int(np.flatnonzero(uncovered)[0])]!r} has no area"
        )
        raise DataError(msg)
    use_mass = bg_mass[ib] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(
            use_mass, mass / np.where(use_mass, bg_mass[ib], 1.0), area / bg_cover[ib]
        )
    pos = (weight > 0) & ~redo[ib]
    ib, ic, weight, use_mass, area = ib[pos], ic[pos], weight[pos], use_mass[pos], area[pos]
    target = cells[ic]
    method = np.where(use_mass, "ancillary", "area").astype(object)
    if redo.any():
        extra = street_grid_pieces(
            blockgroups.iloc[np.flatnonzero(redo)], resolution=resolution, tiles=None
        )
        ib = np.r_[ib, pd.Index(ids).get_indexer(extra["source_GEOID"])]
        extra_cells = np.fromiter(
            (h3.str_to_int(c) for c in extra["target_GEOID"]), dtype=np.uint64, count=len(extra)
        )
        target = np.concatenate([target, extra_cells])  # uint64 both: no float round trip
        weight = np.r_[weight, extra["weight"].to_numpy()]
        method = np.r_[method, extra["weight_method"].to_numpy(dtype=object)]
        area = np.r_[area, extra["area_m2"].to_numpy()]
        order = np.lexsort((target, ib))
        ib, target, weight, method, area = (
            ib[order], target[order], weight[order], method[order], area[order]
        )  # fmt: skip
    out = pd.DataFrame(
        {
            "source_GEOID": pd.array(ids.to_numpy(dtype=object)[ib], dtype="str"),
            "target_GEOID": pd.array(h3_strings(target).astype(object), dtype="str"),
            "weight": weight,
            "weight_method": pd.array(method, dtype="str"),
            "area_m2": area,
        }
    )
    return out, ((cells, hex4326) if keep_hexagons else None)


def combine_street_grid(
    blockgroups: gpd.GeoDataFrame,
    pieces: pd.DataFrame,
    *,
    counts: Sequence[str],
    medians: Mapping[str, str] | None = None,
    drop_empty: bool = True,
    hexagons: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The cheap part of :func:`street_grid`: cells and crosswalk from the pieces.

    Parameters
    ----------
    blockgroups
        Every block group (``GEOID``, the counts, their MOEs, medians), as for
        :func:`street_grid`.
    pieces
        :func:`street_grid_pieces` of `blockgroups`, in one table or concatenated from
        several disjoint sets of block groups in any order.
    counts, medians, drop_empty
        As for :func:`street_grid`.
    hexagons
        Lon/lat hexagons already built for these cells: ``(sorted cells as 64-bit
        integers, polygons)``; cells missing from it are built from H3.

    Returns
    -------
    cells, crosswalk
        As :func:`street_grid`. The pieces are first put in a canonical order (block group
        as in `blockgroups`, then cell), so the result does not depend on how the block
        groups were split or in which order the parts arrived.

    Raises
    ------
    SchemaError
        When `pieces` lacks a column or names a block group not in `blockgroups`.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> bg = gpd.GeoDataFrame({"GEOID": ["900010001001"], "households": [120.0]},
    ...     geometry=[shapely.box(-77.01, 38.0, -77.0, 38.01)], crs="EPSG:4326")
    >>> cells, xw = combine_street_grid(bg, street_grid_pieces(bg), counts=["households"])
    >>> float(round(cells["households"].sum(), 9))
    120.0
    """
    counts = _as_list(counts)
    medians = dict(medians or {})
    ids = _check_street_grid(
        blockgroups, counts=counts, medians=medians, tiles=None, weight_column=None
    )
    _require_columns(pieces, PIECE_COLUMNS, name="combine_street_grid: pieces")
    bg_pos = pd.Index(ids).get_indexer(pieces["source_GEOID"].astype(object))
    if (bg_pos < 0).any():
        bad = pieces["source_GEOID"].iloc[int(np.flatnonzero(bg_pos < 0)[0])]
        msg = f"combine_street_grid: pieces name block group {bad!r}, which is not in blockgroups"
        raise SchemaError(msg)
    cell_ids = np.asarray(pieces["target_GEOID"].astype(object).to_numpy(), dtype=str)
    # cells in use, coded 0..n-1 in H3 order
    used, t_codes = np.unique(cell_ids, return_inverse=True)
    order = np.lexsort((t_codes, bg_pos))
    ib, t_codes = bg_pos[order], t_codes[order]
    weight = pieces["weight"].to_numpy(dtype=float)[order]
    use_mass = (pieces["weight_method"].astype(object) == "ancillary").to_numpy(dtype=bool)[order]
    area = pieces["area_m2"].to_numpy(dtype=float)[order]
    n_t = len(used)
    table = pd.DataFrame(blockgroups.drop(columns=blockgroups.geometry.name)).assign(GEOID=ids)
    moved = _move(table, ib, t_codes, weight, n_t, counts=counts, medians=medians, skipna=False)

    # parents: the block group contributing most of households (or of the first count)
    key = "households" if "households" in counts else (counts[0] if counts else None)
    score = weight * np.nan_to_num(_numeric(table, key, name="street_grid")[ib]) if key else weight
    dom = _dominant(t_codes, n_t, score, area)
    keep_cell = np.ones(n_t, dtype=bool)
    if drop_empty and counts:
        vals = np.vstack([moved[c] for c in counts])
        keep_cell = (np.nan_to_num(vals) > 0).any(axis=0)
    bg_ids = ids.to_numpy(dtype=object)
    res = pd.DataFrame(
        {
            "GEOID": pd.array(used[keep_cell].astype(object), dtype="str"),
            "level": "street",
            "blockgroup_GEOID": pd.array(bg_ids[ib[dom[keep_cell]]], dtype="str"),
        }
    )
    for name, col in _parent_columns(res["blockgroup_GEOID"]).items():
        res[name] = col
    res["n_parents"] = np.bincount(t_codes, minlength=n_t)[keep_cell]
    res["weight_method"] = pd.array(
        np.where(use_mass[dom[keep_cell]], "ancillary", "area").astype(object), dtype="str"
    )
    for col, values in moved.items():
        res[col] = values[keep_cell]
    out = gpd.GeoDataFrame(res, geometry=_cell_polygons(used[keep_cell], hexagons), crs=OUT_CRS)

    piece_keep = keep_cell[t_codes]
    xw = pd.DataFrame(
        {
            "source_GEOID": pd.array(bg_ids[ib[piece_keep]], dtype="str"),
            "target_GEOID": pd.array(used[t_codes[piece_keep]].astype(object), dtype="str"),
            "weight": weight[piece_keep],
            "weight_method": pd.array(
                np.where(use_mass[piece_keep], "ancillary", "area").astype(object), dtype="str"
            ),
            "area_m2": area[piece_keep],
        }
    )
    n_area = len(ids) - len(np.unique(ib[use_mass]))
    log.info(
        "street grid: %d block groups -> %d H3 res-%s cells (%d block groups by area weights)",
        len(ids),
        len(out),
        h3.get_resolution(str(used[0])) if n_t else "?",
        n_area,
    )
    return out, xw


# ---------------------------------------------------------------------------------------------
# Ookla tiles

_OOKLA_RAW = {
    "avg_d_kbps": "download_mbps",
    "avg_u_kbps": "upload_mbps",
    "avg_lat_ms": "latency_ms",
}


def _tile_table(tiles: gpd.GeoDataFrame, *, name: str) -> pd.DataFrame:
    """Tile speeds (Mbps, ms), tests and devices as floats; accepts Ookla's raw column names."""
    _check_geo(tiles, name=name)
    cols = {}
    for raw, norm in _OOKLA_RAW.items():
        if norm in tiles.columns:
            cols[norm] = _numeric(tiles, norm, name=name)
        elif raw in tiles.columns:
            factor = 1000.0 if raw.endswith("kbps") else 1.0
            cols[norm] = _numeric(tiles, raw, name=name) / factor
    _require_columns(
        pd.DataFrame(columns=[*cols, *tiles.columns]),
        ["download_mbps", "upload_mbps", "tests", "devices"],
        name=name,
    )
    cols.setdefault("latency_ms", np.full(len(tiles), np.nan))
    for c in ("tests", "devices"):
        v = _numeric(tiles, c, name=name)
        bad = np.isnan(v) | (v < 0)
        if bad.any():
            msg = f"{name}: column {c!r} must be a non-negative number; got {v[bad][0]!r} (row {tiles.index[bad][0]!r})"
            raise DataError(msg)
        cols[c] = v
    return pd.DataFrame(cols, index=tiles.index)


def _summarise_ookla(
    tile_rows: np.ndarray,
    target_codes: np.ndarray,
    share: np.ndarray,
    n_targets: int,
    tt: pd.DataFrame,
    min_tests: float,
) -> dict[str, np.ndarray]:
    """Ookla summaries per target from tile pieces (tile row, target code, share of the tile)."""
    tests = tt["tests"].to_numpy()[tile_rows] * share
    devices = tt["devices"].to_numpy()[tile_rows] * share
    down = tt["download_mbps"].to_numpy()[tile_rows]
    up = tt["upload_mbps"].to_numpy()[tile_rows]
    lat = tt["latency_ms"].to_numpy()[tile_rows]

    def total(x: np.ndarray) -> np.ndarray:
        return np.bincount(target_codes, weights=x, minlength=n_targets)

    def wmean(v: np.ndarray, wt: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(v)
        den = total(np.where(ok, wt, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, total(np.where(ok, wt * v, 0.0)) / den, np.nan)

    n_tests = total(tests)
    speeds_ok = ~(np.isnan(down) | np.isnan(up))
    below_25 = speeds_ok & ((down < 25) | (up < 3))
    below_100 = speeds_ok & ((down < 100) | (up < 20))
    den = total(np.where(speeds_ok, tests, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        share_25 = np.where(den > 0, total(np.where(below_25, tests, 0.0)) / den, np.nan)
        share_100 = np.where(den > 0, total(np.where(below_100, tests, 0.0)) / den, np.nan)
    out = {
        "ookla_tests": n_tests,
        "ookla_devices": total(devices),
        "download_mbps": wmean(down, tests),
        "upload_mbps": wmean(up, tests),
        "latency_ms": wmean(lat, tests),
        "download_mbps_devices": wmean(down, devices),
        "upload_mbps_devices": wmean(up, devices),
        "share_tests_below_25_3": share_25,
        "share_tests_below_100_20": share_100,
    }
    masked = ~(n_tests >= min_tests)
    for c in OOKLA_COLUMNS[2:-1]:
        out[c] = np.where(masked, np.nan, out[c])
    out["n_tiles"] = np.bincount(target_codes, minlength=n_targets)
    return out


def ookla_to_polygons(
    tiles: gpd.GeoDataFrame,
    polygons: gpd.GeoDataFrame,
    *,
    id_column: str = "GEOID",
    min_tests: float = settings.min_ookla_tests,
    method: Literal["area", "centroid"] = "area",
) -> pd.DataFrame:
    """Summarise Ookla speed-test tiles onto any polygons.

    Parameters
    ----------
    tiles
        Ookla tiles (``equity.sources.read_ookla``: ``download_mbps``, ``upload_mbps``,
        ``latency_ms``, ``tests``, ``devices``; Ookla's raw ``avg_d_kbps``, ``avg_u_kbps``,
        ``avg_lat_ms`` are accepted too) with tile polygons.
    polygons
        Places with a unique `id_column`.
    id_column
        Id column of `polygons`, kept in the result.
    min_tests
        Speeds and shares are missing where a place has fewer tests (counts are kept).
    method
        ``"area"``: a tile's tests and devices are split among the polygons it overlaps by
        area share (tests are conserved when tiles straddle borders; the part of a tile outside
        every polygon is dropped). ``"centroid"``: a tile goes wholly to the polygon containing
        its centroid.

    Returns
    -------
    pandas.DataFrame
        One row per polygon: `id_column`, ``ookla_tests``, ``ookla_devices`` (0 where no tile
        falls), test-weighted ``download_mbps``, ``upload_mbps``, ``latency_ms``,
        device-weighted ``download_mbps_devices``, ``upload_mbps_devices``,
        ``share_tests_below_25_3``, ``share_tests_below_100_20`` and ``n_tiles`` (tiles
        touching it). ``attrs["ookla_tests_outside"]`` holds the tests that fell outside.

    Notes
    -----
    With :math:`s_{kp}` the share of tile :math:`k` in polygon :math:`p`, :math:`t_k` its
    tests, :math:`d_k` devices and :math:`v_k` its mean speed:
    :math:`T_p = \\sum_k s_{kp} t_k`, :math:`\\bar v_p = \\sum_k s_{kp} t_k v_k / T_p`
    (test-weighted; device-weighted with :math:`d_k`). A tile's tests count as below 25/3
    when its mean download is under 25 Mbps or its mean upload under 3 Mbps (Ookla publishes
    tile means, not single tests); likewise for 100/20.
    """
    tt = _tile_table(tiles, name="ookla_to_polygons: tiles")
    ids = _check_ookla_polygons(polygons, id_column=id_column)
    pieces = ookla_polygon_pieces(tiles, polygons, method=method)
    return _polygon_summary(
        tt, ids, pieces, id_column=id_column, min_tests=min_tests, method=method
    )


def _check_ookla_polygons(polygons: gpd.GeoDataFrame, *, id_column: str) -> pd.Series:
    _check_geo(polygons, name="ookla_to_polygons: polygons")
    _require_columns(polygons, [id_column], name="ookla_to_polygons: polygons")
    ids = polygons[id_column]
    if ids.duplicated().any():
        msg = f"ookla_to_polygons: polygons has duplicate {id_column!r} (e.g. {ids[ids.duplicated()].iloc[0]!r})"
        raise SchemaError(msg)
    return ids


def ookla_polygon_pieces(
    tiles: gpd.GeoDataFrame,
    polygons: gpd.GeoDataFrame,
    *,
    method: Literal["area", "centroid"] = "area",
) -> pd.DataFrame:
    """The expensive part of :func:`ookla_to_polygons`: which share of each tile each polygon gets.

    A tile's shares depend only on the tile and the polygons overlapping it, so disjoint sets
    of tiles (each with at least the polygons whose bounds meet the tiles' bounds) can be
    processed apart and give bit-identical rows.

    Parameters
    ----------
    tiles
        Ookla tiles (only the geometry is used).
    polygons
        Places (only the geometry is used).
    method
        As for :func:`ookla_to_polygons`.

    Returns
    -------
    pandas.DataFrame
        ``tile`` (row position in `tiles`), ``polygon`` (row position in `polygons`),
        ``share`` (of the tile's tests and devices), ordered by tile then polygon.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> tiles = gpd.GeoDataFrame(geometry=[shapely.box(0.0, 0.0, 0.01, 0.01)], crs="EPSG:4326")
    >>> polys = gpd.GeoDataFrame(geometry=[shapely.box(-1.0, -1.0, 0.005, 1.0)], crs="EPSG:4326")
    >>> ookla_polygon_pieces(tiles, polys)["share"].round(9).tolist()
    [0.5]
    """
    _check_geo(tiles, name="ookla_to_polygons: tiles")
    _check_geo(polygons, name="ookla_to_polygons: polygons")
    tile_geo = _area_geoms(tiles)
    poly_geo = _area_geoms(polygons)
    if method == "area":
        it, ip, area, _ = _overlay(tile_geo, poly_geo)
        share = area / shapely.area(tile_geo)[it]
    elif method == "centroid":
        it, ip = STRtree(poly_geo).query(shapely.centroid(tile_geo), predicate="intersects")
        share = np.ones(len(it))
    else:
        msg = f"ookla_to_polygons: unknown method {method!r}; valid: 'area', 'centroid'"
        raise SchemaError(msg)
    order = np.lexsort((ip, it))
    it, ip, share = it[order], ip[order], share[order]
    if method == "centroid":  # a centroid on a shared border: the polygon listed first
        first = np.unique(it, return_index=True)[1]
        it, ip, share = it[first], ip[first], share[first]
    return pd.DataFrame({"tile": it, "polygon": ip, "share": share})


def combine_ookla_polygons(
    tiles: gpd.GeoDataFrame,
    polygons: gpd.GeoDataFrame,
    pieces: pd.DataFrame,
    *,
    id_column: str = "GEOID",
    min_tests: float = settings.min_ookla_tests,
) -> pd.DataFrame:
    """The cheap part of :func:`ookla_to_polygons`: summaries from the tile pieces.

    Parameters
    ----------
    tiles, polygons, id_column, min_tests
        As for :func:`ookla_to_polygons` (every tile and polygon).
    pieces
        :func:`ookla_polygon_pieces` with ``tile`` and ``polygon`` as row positions in
        `tiles` and `polygons`, in one table or concatenated from disjoint sets of tiles in
        any order (they are put in canonical order first).

    Returns
    -------
    pandas.DataFrame
        As :func:`ookla_to_polygons`.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> tiles = gpd.GeoDataFrame({"download_mbps": [50.0], "upload_mbps": [10.0],
    ...     "tests": [8.0], "devices": [2.0]},
    ...     geometry=[shapely.box(0.0, 0.0, 0.01, 0.01)], crs="EPSG:4326")
    >>> polys = gpd.GeoDataFrame({"GEOID": ["a"]},
    ...     geometry=[shapely.box(-1.0, -1.0, 1.0, 1.0)], crs="EPSG:4326")
    >>> out = combine_ookla_polygons(tiles, polys, ookla_polygon_pieces(tiles, polys))
    >>> float(out["ookla_tests"].iloc[0])
    8.0
    """
    tt = _tile_table(tiles, name="ookla_to_polygons: tiles")
    ids = _check_ookla_polygons(polygons, id_column=id_column)
    return _polygon_summary(tt, ids, pieces, id_column=id_column, min_tests=min_tests)


def _canonical_pieces(
    pieces: pd.DataFrame, target: str, n_tiles: int, n_targets: int | None, *, name: str
) -> pd.DataFrame:
    """Pieces sorted by (tile, target), checked against the tables they point into."""
    _require_columns(pieces, ["tile", target, "share"], name=name)
    tile = pieces["tile"].to_numpy(dtype=np.intp)
    bad = (tile < 0) | (tile >= n_tiles)
    if n_targets is not None:
        tgt = pieces[target].to_numpy(dtype=np.intp)
        bad |= (tgt < 0) | (tgt >= n_targets)
    if bad.any():
        msg = f"{name}: piece {int(np.flatnonzero(bad)[0])} points outside the tiles or targets"
        raise SchemaError(msg)
    if n_targets is not None:
        order = np.lexsort((pieces[target].to_numpy(), tile))
    else:
        order = np.lexsort((np.asarray(pieces[target].astype(object).to_numpy(), dtype=str), tile))
    return pieces.iloc[order]


def _polygon_summary(
    tt: pd.DataFrame,
    ids: pd.Series,
    pieces: pd.DataFrame,
    *,
    id_column: str,
    min_tests: float,
    method: str = "area",
) -> pd.DataFrame:
    name = "ookla_to_polygons: pieces"
    pieces = _canonical_pieces(pieces, "polygon", len(tt), len(ids), name=name)
    it = pieces["tile"].to_numpy(dtype=np.intp)
    ip = pieces["polygon"].to_numpy(dtype=np.intp)
    out = _summarise_ookla(it, ip, pieces["share"].to_numpy(dtype=float), len(ids), tt, min_tests)
    res = pd.DataFrame({id_column: ids.to_numpy(), **out})
    res.attrs["ookla_tests_outside"] = float(tt["tests"].sum() - out["ookla_tests"].sum())
    log.info(
        "ookla: %d tiles onto %d polygons (%s), %.0f tests outside",
        len(tt),
        len(ids),
        method,
        res.attrs["ookla_tests_outside"],
    )
    return res


def ookla_to_grid(
    tiles: gpd.GeoDataFrame,
    *,
    resolution: int = 9,
    min_tests: float = settings.min_ookla_tests,
) -> pd.DataFrame:
    """Summarise Ookla tiles onto the H3 cells they overlap (street level).

    Parameters
    ----------
    tiles
        Ookla tiles, as for :func:`ookla_to_polygons`.
    resolution
        H3 resolution of the cells.
    min_tests
        Speeds and shares are missing where a cell has fewer tests (counts are kept).

    Returns
    -------
    pandas.DataFrame
        One row per cell overlapped by a tile: ``GEOID`` (H3 index string) and the columns of
        :func:`ookla_to_polygons`.

    Notes
    -----
    Each tile's tests and devices are split among the cells it overlaps in proportion to
    the overlap areas (normalised to the tile's covered area, so each tile's tests are
    conserved exactly); speeds are test-weighted (and device-weighted) means over the pieces.
    """
    tt = _tile_table(tiles, name="ookla_to_grid: tiles")
    pieces = ookla_grid_pieces(tiles, resolution=resolution)
    return _grid_summary(tt, pieces, min_tests=min_tests, resolution=resolution)


def ookla_grid_pieces(tiles: gpd.GeoDataFrame, *, resolution: int = 9) -> pd.DataFrame:
    """The expensive part of :func:`ookla_to_grid`: which share of each tile each H3 cell gets.

    A tile's shares depend only on the tile, so disjoint sets of tiles can be processed
    apart and give bit-identical rows.

    Parameters
    ----------
    tiles
        Ookla tiles (only the geometry is used).
    resolution
        H3 resolution of the cells.

    Returns
    -------
    pandas.DataFrame
        ``tile`` (row position in `tiles`), ``GEOID`` (H3 cell), ``share`` (of the tile's
        tests and devices; a tile's shares sum to 1), ordered by tile then cell.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> tiles = gpd.GeoDataFrame(geometry=[shapely.box(0.0, 0.0, 0.01, 0.01)], crs="EPSG:4326")
    >>> float(ookla_grid_pieces(tiles)["share"].sum().round(12))
    1.0
    """
    _check_geo(tiles, name="ookla_to_grid: tiles")
    geo4326 = np.asarray(tiles.geometry.to_crs(OUT_CRS).array, dtype=object)
    cells = _cells_covering(geo4326, resolution, tiling=True)  # tiles never overlap
    hexes = _hexagons(cells, area_crs=True)
    it, ic, area, _ = _overlay(_area_geoms(tiles), hexes)
    order = np.lexsort((ic, it))  # `cells` is sorted: (tile, cell in H3 order)
    it, ic, area = it[order], ic[order], area[order]
    covered = np.bincount(it, weights=area, minlength=len(tiles))
    share = area / covered[it]
    return pd.DataFrame(
        {"tile": it, "GEOID": pd.array(cells[ic].astype(object), dtype="str"), "share": share}
    )


def combine_ookla_grid(
    tiles: gpd.GeoDataFrame,
    pieces: pd.DataFrame,
    *,
    min_tests: float = settings.min_ookla_tests,
) -> pd.DataFrame:
    """The cheap part of :func:`ookla_to_grid`: cell summaries from the tile pieces.

    Parameters
    ----------
    tiles, min_tests
        As for :func:`ookla_to_grid` (every tile).
    pieces
        :func:`ookla_grid_pieces` with ``tile`` as row positions in `tiles`, in one table or
        concatenated from disjoint sets of tiles in any order (they are put in canonical
        order first).

    Returns
    -------
    pandas.DataFrame
        As :func:`ookla_to_grid`.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> tiles = gpd.GeoDataFrame({"download_mbps": [50.0], "upload_mbps": [10.0],
    ...     "tests": [8.0], "devices": [2.0]},
    ...     geometry=[shapely.box(0.0, 0.0, 0.01, 0.01)], crs="EPSG:4326")
    >>> out = combine_ookla_grid(tiles, ookla_grid_pieces(tiles))
    >>> float(out["ookla_tests"].sum().round(9))
    8.0
    """
    tt = _tile_table(tiles, name="ookla_to_grid: tiles")
    return _grid_summary(tt, pieces, min_tests=min_tests)


def _grid_summary(
    tt: pd.DataFrame, pieces: pd.DataFrame, *, min_tests: float, resolution: int | None = None
) -> pd.DataFrame:
    pieces = _canonical_pieces(pieces, "GEOID", len(tt), None, name="ookla_to_grid: pieces")
    it = pieces["tile"].to_numpy(dtype=np.intp)
    used, codes = np.unique(
        np.asarray(pieces["GEOID"].astype(object).to_numpy(), dtype=str), return_inverse=True
    )
    share = pieces["share"].to_numpy(dtype=float)
    out = _summarise_ookla(it, codes, share, len(used), tt, min_tests)
    res = pd.DataFrame({"GEOID": pd.array(used.astype(object), dtype="str"), **out})
    log.info("ookla: %d tiles onto %d H3 res-%s cells", len(tt), len(res), resolution or "?")
    return res


# ---------------------------------------------------------------------------------------------
# polygons (towns, any user polygons)


def _representative_points(geoms: np.ndarray) -> np.ndarray:
    """Centroids, or a point on the surface where the centroid falls outside (non-convex)."""
    pts = shapely.centroid(geoms)
    outside = ~shapely.contains(geoms, pts)
    if outside.any():
        pts[outside] = shapely.point_on_surface(geoms[outside])
    return pts


def polygon_crosswalk(
    source: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame,
    *,
    source_id: str = "GEOID",
    target_id: str = "GEOID",
    method: Literal["area", "centroid"] = "area",
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "households",
) -> pd.DataFrame:
    """Crosswalk from source polygons to target polygons that conserves every source's total.

    Parameters
    ----------
    source
        Source polygons (block groups, street cells...) with a unique `source_id`.
    targets
        Target polygons (towns...) with a unique `target_id`. They should not overlap
        (give places and county subdivisions separately).
    source_id, target_id
        Id columns.
    method
        ``"area"``: weights are area shares of the overlaps; ``"centroid"``: a source goes
        wholly to the target containing its centroid (exact for small cells).
    weights
        Ancillary units (e.g. street cells with households, address points). Each unit is
        placed at its centroid; the weight of a (source, target) pair is the `weight_column`
        mass of the units whose centroid lies in both. Sources holding no unit fall back to
        `method`.
    weight_column
        Mass column of `weights` (``None``: each unit counts 1).

    Returns
    -------
    pandas.DataFrame
        ``source_GEOID``, ``target_GEOID``, ``weight`` (summing to 1 per source),
        ``weight_method`` (``"ancillary"``, ``"area"``, ``"centroid"`` or ``"nearest"``).

    Raises
    ------
    DataError
        When the targets overlap each other (a source would be counted twice).

    Notes
    -----
    Area of a source outside every target is shared among the targets it overlaps in
    proportion to the overlaps (weights normalised by the covered area), and a source that
    overlaps no target (or whose centroid falls in none) goes wholly to the nearest target
    (distance in EPSG:6933, ``weight_method = "nearest"``), so totals are conserved exactly.
    """
    _check_geo(source, name="polygon_crosswalk: source")
    _check_geo(targets, name="polygon_crosswalk: targets")
    _require_columns(source, [source_id], name="polygon_crosswalk: source")
    _require_columns(targets, [target_id], name="polygon_crosswalk: targets")
    sid = _as_str_ids(source[source_id], name="polygon_crosswalk: source", column=source_id)
    tid = _as_str_ids(targets[target_id], name="polygon_crosswalk: targets", column=target_id)
    for ids, nm, col in ((sid, "source", source_id), (tid, "targets", target_id)):
        if ids.duplicated().any():
            msg = f"polygon_crosswalk: {nm} has duplicate {col!r} (e.g. {ids[ids.duplicated()].iloc[0]!r})"
            raise SchemaError(msg)
    sg, tg = _area_geoms(source), _area_geoms(targets)
    n_s = len(sg)
    rows_s: list[np.ndarray] = []
    rows_t: list[np.ndarray] = []
    rows_w: list[np.ndarray] = []
    rows_m: list[np.ndarray] = []
    done = np.zeros(n_s, dtype=bool)

    if weights is not None:
        _check_geo(weights, name="polygon_crosswalk: weights")
        if weight_column is not None:
            _require_columns(weights, [weight_column], name="polygon_crosswalk: weights")
            mass = np.nan_to_num(
                _numeric(weights, weight_column, name="polygon_crosswalk: weights")
            )
        else:
            mass = np.ones(len(weights))
        pts = _representative_points(_area_geoms(weights))
        ku, su = STRtree(sg).query(pts, predicate="intersects")
        first = np.unique(ku, return_index=True)[1]
        unit_src = np.full(len(pts), -1)
        unit_src[ku[first]] = su[first]
        kt, tu = STRtree(tg).query(pts, predicate="intersects")
        first = np.unique(kt, return_index=True)[1]
        unit_tgt = np.full(len(pts), -1)
        unit_tgt[kt[first]] = tu[first]
        ok = (unit_src >= 0) & (unit_tgt >= 0) & (mass > 0)
        if ok.any():
            pair = (
                pd.DataFrame({"s": unit_src[ok], "t": unit_tgt[ok], "m": mass[ok]})
                .groupby(["s", "t"], as_index=False)["m"]
                .sum()
            )
            tot = pair.groupby("s")["m"].transform("sum").to_numpy()
            rows_s.append(pair["s"].to_numpy())
            rows_t.append(pair["t"].to_numpy())
            rows_w.append(pair["m"].to_numpy() / tot)
            rows_m.append(np.full(len(pair), "ancillary", dtype=object))
            done[pair["s"].to_numpy()] = True

    todo = np.flatnonzero(~done)
    if method == "area":
        i_s, i_t, area, _ = _overlay(sg[todo], tg)
        i_s = todo[i_s]
        cover = np.bincount(i_s, weights=area, minlength=n_s)
        src_area = shapely.area(sg)
        over = cover > src_area * (1 + 1e-6) + 1e-6
        if over.any():
            i = int(np.flatnonzero(over)[0])
            msg = (
                f"polygon_crosswalk: targets overlap each other (source {sid.iloc[i]!r} is covered "
                f"{cover[i] / src_area[i]:.3f} times); give non-overlapping targets, e.g. places and "
                "county subdivisions separately"
            )
            raise DataError(msg)
        rows_s.append(i_s)
        rows_t.append(i_t)
        rows_w.append(area / cover[i_s])
        rows_m.append(np.full(len(i_s), "area", dtype=object))
        done[i_s] = True
    elif method == "centroid":
        pts = _representative_points(sg[todo])
        kp, kt = STRtree(tg).query(pts, predicate="intersects")
        first = np.unique(kp, return_index=True)[1]
        rows_s.append(todo[kp[first]])
        rows_t.append(kt[first])
        rows_w.append(np.ones(len(first)))
        rows_m.append(np.full(len(first), "centroid", dtype=object))
        done[todo[kp[first]]] = True
    else:
        msg = f"polygon_crosswalk: unknown method {method!r}; valid: 'area', 'centroid'"
        raise SchemaError(msg)

    rest = np.flatnonzero(~done)
    if len(rest) and len(tg):
        near_s, near_t = STRtree(tg).query_nearest(sg[rest], all_matches=False)
        rows_s.append(rest[near_s])
        rows_t.append(near_t)
        rows_w.append(np.ones(len(near_s)))
        rows_m.append(np.full(len(near_s), "nearest", dtype=object))
    s_all = np.concatenate(rows_s) if rows_s else np.zeros(0, dtype=np.intp)
    t_all = np.concatenate(rows_t) if rows_t else np.zeros(0, dtype=np.intp)
    order = np.lexsort((t_all, s_all))
    return pd.DataFrame(
        {
            "source_GEOID": pd.array(sid.to_numpy(dtype=object)[s_all[order]], dtype="str"),
            "target_GEOID": pd.array(tid.to_numpy(dtype=object)[t_all[order]], dtype="str"),
            "weight": np.concatenate(rows_w)[order] if rows_w else np.zeros(0),
            "weight_method": pd.array(
                np.concatenate(rows_m)[order] if rows_m else np.zeros(0, dtype=object), dtype="str"
            ),
        }
    )


def _source_counties(source: pd.DataFrame, ids: pd.Series) -> pd.Series | None:
    if "county_GEOID" in source.columns:
        return source["county_GEOID"].astype("str")
    if ids.str.fullmatch(r"\d{5,}").all():
        return ids.str[:5]
    return None


def allocate_to_polygons(
    source: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame,
    *,
    counts: Sequence[str],
    medians: Mapping[str, str] | None = None,
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "households",
    method: Literal["area", "centroid"] = "area",
    id_column: str = "GEOID",
) -> gpd.GeoDataFrame:
    """Move counts from source polygons onto target polygons (towns) with conserved totals.

    Parameters
    ----------
    source
        Source places with ``GEOID``, counts, ``moe_<count>``, medians (block groups, or
        street cells from :func:`street_grid`, which carry ``county_GEOID``).
    targets
        Town polygons (Census places, county subdivisions or the user's) with `id_column`
        and optionally ``NAME``.
    counts
        Extensive columns to move.
    medians
        ``{median_column: weight_count_column}``, see :func:`apply_crosswalk`.
    weights, weight_column
        Optional ancillary units (e.g. street cells and their ``households``), see
        :func:`polygon_crosswalk`.
    method
        ``"area"`` or ``"centroid"`` (a source goes wholly to the town holding its centroid:
        the natural choice when the sources are street cells), see :func:`polygon_crosswalk`.
    id_column
        Id column of `targets`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per target (EPSG:4326): ``GEOID``, ``NAME``, ``level`` (``"town"``),
        ``county_GEOID`` and ``state_GEOID`` of the county giving it most households (or of
        the first count), ``n_counties``, ``crosses_county``, ``n_states``,
        ``crosses_state``, the counts (0 for a target receiving nothing), ``moe_<count>``
        and medians.

    Notes
    -----
    Totals are conserved exactly: see :func:`polygon_crosswalk` for the handling of source
    area outside every target. Counts and MOEs move with :func:`apply_crosswalk`.
    """
    counts = _as_list(counts)
    medians = dict(medians or {})
    _require_columns(source, ["GEOID", *counts, *medians], name="allocate_to_polygons: source")
    _require_columns(targets, [id_column], name="allocate_to_polygons: targets")
    xw = polygon_crosswalk(
        source,
        targets,
        target_id=id_column,
        method=method,
        weights=weights,
        weight_column=weight_column,
    )
    ids = _as_str_ids(source["GEOID"], name="allocate_to_polygons: source", column="GEOID")
    table = pd.DataFrame(source.drop(columns=source.geometry.name)).assign(GEOID=ids)
    moved = apply_crosswalk(table, xw, counts=counts, medians=medians)

    tid = targets[id_column].astype("str")
    out = pd.DataFrame(
        {
            "GEOID": tid.to_numpy(),
            "NAME": targets["NAME"].to_numpy() if "NAME" in targets else tid.to_numpy(),
        }
    )
    out["level"] = "town"
    counties = _source_counties(table, ids)
    if counties is not None:
        key = "households" if "households" in counts else (counts[0] if counts else None)
        cmap = pd.Series(counties.to_numpy(), index=ids.to_numpy())
        contrib = xw.assign(county=xw["source_GEOID"].map(cmap))
        if key:
            contrib["score"] = contrib["weight"] * contrib["source_GEOID"].map(
                table.set_index("GEOID")[key]
            ).fillna(0.0)
        else:
            contrib["score"] = contrib["weight"]
        by = contrib.groupby(["target_GEOID", "county"], as_index=False)["score"].sum()
        dom = by.sort_values(
            ["target_GEOID", "score", "county"], ascending=[True, False, True]
        ).drop_duplicates("target_GEOID")
        dom = dom.set_index("target_GEOID")["county"]
        out["county_GEOID"] = out["GEOID"].map(dom)
        out["state_GEOID"] = out["county_GEOID"].str[:2]
        out["n_counties"] = (
            out["GEOID"].map(by.groupby("target_GEOID")["county"].nunique()).fillna(0).astype(int)
        )
        out["crosses_county"] = out["n_counties"] > 1
        states = by.assign(state=by["county"].str[:2]).groupby("target_GEOID")["state"].nunique()
        out["n_states"] = out["GEOID"].map(states).fillna(0).astype(int)
        out["crosses_state"] = out["n_states"] > 1
    out = out.merge(moved, on="GEOID", how="left")
    for c in counts:
        out[c] = out[c].fillna(0.0)
        if f"moe_{c}" in out:
            out[f"moe_{c}"] = out[f"moe_{c}"].fillna(0.0)
    geom = targets.geometry.to_crs(OUT_CRS).to_numpy()
    log.info("allocated %d sources to %d targets (%s)", len(source), len(targets), method)
    return gpd.GeoDataFrame(out, geometry=geom, crs=OUT_CRS)


def count_points(
    points: gpd.GeoDataFrame,
    polygons: gpd.GeoDataFrame,
    *,
    id_column: str = "GEOID",
    by: str | None = "kind",
) -> pd.DataFrame:
    """Count points (anchor institutions) per polygon, by kind.

    Parameters
    ----------
    points
        Point features; `by` names their category column.
    polygons
        Places with a unique `id_column`.
    id_column
        Id column of `polygons`.
    by
        Category column of `points` (``None``: only the total).

    Returns
    -------
    pandas.DataFrame
        One row per polygon: `id_column`, ``n_<kind>`` per category (sorted) and ``n_anchors``
        (all points). Points outside every polygon are dropped and counted in
        ``attrs["n_points_outside"]``; a point on a shared border counts once (first polygon).
    """
    _check_geo(points, name="count_points: points")
    _check_geo(polygons, name="count_points: polygons")
    _require_columns(polygons, [id_column], name="count_points: polygons")
    if by is not None:
        _require_columns(points, [by], name="count_points: points")
    pts = np.asarray(points.geometry.to_crs(polygons.crs).array, dtype=object)
    geoms = np.asarray(polygons.geometry.array, dtype=object)
    ip, ig = STRtree(geoms).query(pts, predicate="intersects")
    first = np.unique(ip, return_index=True)[1]
    ip, ig = ip[first], ig[first]
    res = pd.DataFrame({id_column: polygons[id_column].to_numpy()})
    if by is not None:
        kinds = points[by].astype("str").fillna("unknown").to_numpy(dtype=object)
        all_codes, kind_names = pd.factorize(kinds, sort=True)
        kind_codes = all_codes[ip]
        table = np.zeros((len(polygons), len(kind_names)), dtype=np.int64)
        np.add.at(table, (ig, kind_codes), 1)
        for j, k in enumerate(kind_names):
            res[f"n_{k}"] = table[:, j]
    res["n_anchors"] = np.bincount(ig, minlength=len(polygons)).astype(np.int64)
    res.attrs["n_points_outside"] = int(len(points) - len(ip))
    log.info(
        "counted %d points in %d polygons (%d outside)",
        len(ip),
        len(polygons),
        res.attrs["n_points_outside"],
    )
    return res


# ---------------------------------------------------------------------------------------------
# vintages


def interpolate_vintage(
    source: gpd.GeoDataFrame,
    target: gpd.GeoDataFrame,
    *,
    extensive: Sequence[str],
    intensive: Sequence[str] = (),
    intensive_weights: Mapping[str, str] | None = None,
    id_column: str = "GEOID",
) -> gpd.GeoDataFrame:
    """Move values between geography vintages (e.g. 2010 -> 2020 tracts) by area weighting.

    Parameters
    ----------
    source
        Source polygons with the value columns (and optionally ``moe_<extensive>``).
    target
        Target polygons with a unique `id_column`.
    extensive
        Counts (households, tests, devices): split by area share, summed.
    intensive
        Densities or averages: area-weighted means over each target (tobler's definition).
    intensive_weights
        ``{intensive_column: count_column}``: averages weighted by a count of the source
        moved with them (e.g. ``{"avg_down_using_tests": "tests"}``), the right way to move
        a test-weighted mean speed; see :func:`apply_crosswalk` (medians).
    id_column
        Id column of `target`, returned as ``GEOID``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per target (EPSG:4326): ``GEOID``, the extensive columns (and
        ``moe_<column>``), intensive and weighted intensive columns.
        ``attrs["source_outside"]`` gives, per extensive column, the total of sources that
        overlap no target (lost).

    Notes
    -----
    Extensive and plain intensive values are computed by ``tobler.area_weighted.area_interpolate``
    (``allocate_total=True``) on intersection areas in EPSG:6933: a source's value is split
    in proportion to :math:`|s \\cap t| / \\sum_t |s \\cap t|`, so every source overlapping
    the targets is conserved exactly (whole-state tract files cover each other, up to the
    coastline generalisation). MOEs follow :func:`apply_crosswalk`. A target receiving a
    piece of a source with a missing extensive value is missing. Area weighting assumes
    the value is spread evenly within each source; where 2010 tracts were split or merged
    along their old lines (most 2020 changes), the result is exact.
    """
    from scipy.sparse import csr_matrix
    from tobler.area_weighted import area_interpolate

    extensive, intensive = _as_list(extensive), _as_list(intensive)
    intensive_weights = dict(intensive_weights or {})
    _check_geo(source, name="interpolate_vintage: source")
    _check_geo(target, name="interpolate_vintage: target")
    _require_columns(
        source,
        [*extensive, *intensive, *intensive_weights, *intensive_weights.values()],
        name="interpolate_vintage: source",
    )
    _require_columns(target, [id_column], name="interpolate_vintage: target")
    src = source.to_crs(AREA_CRS).reset_index(drop=True)
    tgt = target.to_crs(AREA_CRS).reset_index(drop=True)
    i_s, i_t, area, _ = _overlay(
        np.asarray(src.geometry.array, dtype=object), np.asarray(tgt.geometry.array, dtype=object)
    )
    table = csr_matrix((area, (i_s, i_t)), shape=(len(src), len(tgt)))
    values = [c for c in (*extensive, *intensive)]
    plain = pd.DataFrame({c: _numeric(src, c, name="interpolate_vintage: source") for c in values})
    res = pd.DataFrame(index=range(len(tgt)))
    if values:
        interp = area_interpolate(
            gpd.GeoDataFrame(plain, geometry=src.geometry),
            tgt[[tgt.geometry.name]],
            extensive_variables=extensive or None,
            intensive_variables=intensive or None,
            table=table,
            allocate_total=True,
        )
        res = pd.DataFrame(interp.drop(columns="geometry")).reset_index(drop=True)
    cover = np.bincount(i_s, weights=area, minlength=len(src))
    w = area / np.where(cover > 0, cover, 1.0)[i_s]
    moved = _move(
        pd.DataFrame(src.drop(columns=src.geometry.name)),
        i_s,
        i_t,
        w,
        len(tgt),
        counts=extensive,
        medians=intensive_weights,
        skipna=False,
    )
    for c in extensive:
        nan_piece = np.isnan(_numeric(src, c, name="interpolate_vintage: source"))[i_s]
        res[c] = np.where(
            np.bincount(i_t, weights=nan_piece, minlength=len(tgt)) > 0, np.nan, res[c]
        )
        if f"moe_{c}" in moved:
            res[f"moe_{c}"] = moved[f"moe_{c}"]
    for c in intensive_weights:
        res[c] = moved[c]
        if f"moe_{c}" in moved:
            res[f"moe_{c}"] = moved[f"moe_{c}"]
    res.insert(0, "GEOID", target[id_column].astype("str").to_numpy())
    lost = cover <= 0
    out = gpd.GeoDataFrame(res, geometry=target.geometry.to_crs(OUT_CRS).to_numpy(), crs=OUT_CRS)
    out.attrs["source_outside"] = {
        c: float(np.nansum(plain[c].to_numpy()[lost])) for c in extensive
    }
    log.info(
        "interpolated %d sources onto %d targets (%d sources overlap no target)",
        len(src),
        len(tgt),
        int(lost.sum()),
    )
    return out


# ---------------------------------------------------------------------------------------------
# towns when no town polygons exist


def _contiguity(geoms: np.ndarray, *, tolerance: float) -> W:
    """Queen-like contiguity of polygons within `tolerance` of each other (libpysal W)."""
    from libpysal.weights import W

    i, j = STRtree(geoms).query(geoms, predicate="dwithin", distance=tolerance)
    keep = i != j
    neigh = pd.Series(j[keep]).groupby(i[keep]).agg(list).to_dict()
    return W({k: neigh.get(k, []) for k in range(len(geoms))}, silence_warnings=True)


def build_towns(
    blockgroups: gpd.GeoDataFrame,
    *,
    counts: Sequence[str] = ("households",),
    medians: Mapping[str, str] | None = None,
    households_per_town: float = 5000.0,
    size_column: str = "households",
    county_names: Mapping[str, str] | None = None,
    contiguity_tolerance_m: float = 1.0,
) -> gpd.GeoDataFrame:
    """Deterministic, contiguous "towns" built from block groups within each county.

    Use when no town polygons (Census places, county subdivisions) are available.

    Parameters
    ----------
    blockgroups
        Block-group polygons with ``GEOID``, the counts and `size_column`.
    counts
        Extensive columns moved to the towns (with ``moe_<count>``).
    medians
        ``{median_column: weight_count_column}``, see :func:`apply_crosswalk`.
    households_per_town
        Target size: a county with :math:`H` households (`size_column`) is split into
        :math:`k = \\max(1, \\mathrm{round}(H / \\text{households\\_per\\_town}))` towns.
    size_column
        Count used to size the towns.
    county_names
        ``{county_GEOID: name}`` for town names; default ``"County <GEOID>"``.
    contiguity_tolerance_m
        Block groups closer than this (metres, EPSG:6933) are neighbours: queen contiguity
        that tolerates the tiny gaps of generalised boundary files.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per town (EPSG:4326): ``GEOID`` (``<county GEOID>T<nnn>``), ``NAME``
        (``"<county> area <n>"``), ``level`` (``"town"``), ``county_GEOID``, ``state_GEOID``,
        ``n_blockgroups``, ``n_counties`` (1), ``crosses_county`` (False), counts, MOEs,
        medians and the dissolved geometry; ``attrs["crosswalk"]`` is the block group -> town
        crosswalk.

    Notes
    -----
    Within each county the block groups (sorted by GEOID) are regionalised by
    contiguity-constrained Ward clustering (``spopt.region.WardSpatial``: agglomerative
    clustering that only merges neighbouring regions, minimising the within-region sum of
    squared deviations) of their standardised centroid coordinates, which yields compact,
    contiguous areas of similar extent (so urban towns hold more households than rural
    ones); :math:`k` follows the county's households. The algorithm has no random step, so
    the towns are reproducible. Where a county's block groups are not all connected
    (islands), scikit-learn links the parts, so a town may be a multipolygon. Towns never
    cross county lines, so each has exactly one county. (SKATER and max-p give similar
    regions but took minutes for a county of 700 block groups.)
    """
    import warnings

    from spopt.region import WardSpatial

    counts = _as_list(counts)
    medians = dict(medians or {})
    _check_geo(blockgroups, name="build_towns: blockgroups")
    _require_columns(blockgroups, ["GEOID", size_column, *counts], name="build_towns: blockgroups")
    ids = _as_str_ids(blockgroups["GEOID"], name="build_towns: blockgroups", column="GEOID")
    bg = blockgroups.assign(GEOID=ids).sort_values("GEOID").reset_index(drop=True)
    county = parent_geoid(bg["GEOID"], "county")
    size = np.nan_to_num(_numeric(bg, size_column, name="build_towns: blockgroups"))
    area_geo = _area_geoms(bg)
    xy = shapely.get_coordinates(shapely.centroid(area_geo))
    labels = np.zeros(len(bg), dtype=np.int64)
    for cty, rows in county.groupby(
        county, sort=True
    ).indices.items():  # one regionalisation per county
        k = max(1, round(size[rows].sum() / households_per_town))
        if k == 1 or len(rows) <= 2:
            continue
        part = pd.DataFrame(index=range(len(rows)))
        z = xy[rows]
        z = (z - z.mean(axis=0)) / np.where(z.std(axis=0) > 0, z.std(axis=0), 1.0)
        part["x"], part["y"] = z[:, 0], z[:, 1]
        part = gpd.GeoDataFrame(part, geometry=area_geo[rows], crs=AREA_CRS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = _contiguity(area_geo[rows], tolerance=contiguity_tolerance_m)
            model = WardSpatial(part, w, ["x", "y"], n_clusters=min(k, len(rows)))
            model.solve()
        # renumber regions by their first block group so names follow GEOID order
        _, first = np.unique(model.labels_, return_index=True)
        order = np.argsort(np.argsort(first))
        labels[rows] = order[np.searchsorted(np.unique(model.labels_), model.labels_)]
        log.debug("county %s: %d block groups -> %d towns", cty, len(rows), len(first))
    town = (
        county.to_numpy(dtype=object)
        + "T"
        + pd.Series(labels + 1).map("{:03d}".format).to_numpy(dtype=object)
    )
    xw = pd.DataFrame(
        {
            "source_GEOID": bg["GEOID"].to_numpy(),
            "target_GEOID": pd.array(town, dtype="str"),
            "weight": 1.0,
        }
    )
    table = pd.DataFrame(bg.drop(columns=bg.geometry.name))
    res = apply_crosswalk(table, xw, counts=counts, medians=medians)
    geoms = (
        gpd.GeoDataFrame({"town": town}, geometry=bg.geometry, crs=bg.crs)
        .dissolve("town")
        .to_crs(OUT_CRS)
    )
    names = dict(county_names or {})
    cty = res["GEOID"].str[:5]
    number = res["GEOID"].str[6:].astype(int).astype("str")
    res.insert(1, "NAME", cty.map(names).fillna("County " + cty) + " area " + number)
    res.insert(2, "level", "town")
    res.insert(3, "county_GEOID", cty)
    res.insert(4, "state_GEOID", cty.str[:2])
    res.insert(
        5, "n_blockgroups", xw.groupby("target_GEOID").size().reindex(res["GEOID"]).to_numpy()
    )
    res.insert(6, "n_counties", 1)
    res.insert(7, "crosses_county", False)
    out = gpd.GeoDataFrame(
        res, geometry=geoms.geometry.reindex(res["GEOID"]).to_numpy(), crs=OUT_CRS
    )
    out.attrs["crosswalk"] = xw
    log.info(
        "built %d towns from %d block groups in %d counties", len(out), len(bg), county.nunique()
    )
    return out


# ---------------------------------------------------------------------------------------------
# street segments coloured from the grid


def street_segments(
    lines: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    *,
    columns: Sequence[str] | None = None,
    id_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Cut street lines (TIGER roads or any line layer) by the grid and colour each piece.

    Parameters
    ----------
    lines
        Line features (EPSG any); `id_column` identifies them when given.
    cells
        Street cells from :func:`street_grid` (``GEOID`` and the value columns).
    columns
        Cell columns copied onto the pieces (default: every non-geometry column).
    id_column
        Column of `lines` kept on the pieces (e.g. TIGER ``LINEARID``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per line piece inside one cell (EPSG:4326): `id_column`, ``cell_GEOID``,
        ``length_m`` (EPSG:6933 length, a close approximation of the true length in the
        mid-latitudes), the cell columns and the piece geometry. Line parts outside every
        cell are dropped.

    Notes
    -----
    A line crossing several cells is split at the cell edges (shapely intersection, no loop
    over features), so every piece takes the values of the one cell it lies in.
    """
    _check_geo(lines, name="street_segments: lines")
    _check_geo(cells, name="street_segments: cells")
    _require_columns(cells, ["GEOID"], name="street_segments: cells")
    if id_column is not None:
        _require_columns(lines, [id_column], name="street_segments: lines")
    cols = [
        c
        for c in (columns if columns is not None else cells.columns)
        if c not in ("GEOID", cells.geometry.name)
    ]
    _require_columns(cells, cols, name="street_segments: cells")
    lg = np.asarray(lines.geometry.to_crs(OUT_CRS).array, dtype=object)
    cg = np.asarray(cells.geometry.to_crs(OUT_CRS).array, dtype=object)
    shapely.prepare(cg)
    ic, il = STRtree(lg).query(cg, predicate="intersects")
    pieces = shapely.intersection(lg[il], cg[ic])
    dims = shapely.get_dimensions(pieces)
    keep = (dims == 1) & ~shapely.is_empty(pieces)
    il, ic, pieces = il[keep], ic[keep], pieces[keep]
    # a line touching a cell corner gives a collection with a point: keep its linear parts
    mixed = np.flatnonzero(shapely.get_type_id(pieces) == 7)
    if len(mixed):
        parts, idx = shapely.get_parts(pieces[mixed], return_index=True)
        linear = shapely.get_dimensions(parts) == 1
        pieces[mixed] = shapely.multilinestrings(parts[linear], indices=idx[linear])
    geom = shapely.line_merge(pieces)
    out = pd.DataFrame(index=range(len(il)))
    if id_column is not None:
        out[id_column] = lines[id_column].to_numpy()[il]
    out["cell_GEOID"] = cells["GEOID"].to_numpy()[ic]
    out["length_m"] = shapely.length(
        np.asarray(gpd.GeoSeries(geom, crs=OUT_CRS).to_crs(AREA_CRS).array, dtype=object)
    )
    for c in cols:
        out[c] = cells[c].to_numpy()[ic]
    log.info(
        "street segments: %d lines cut into %d pieces by %d cells", len(lines), len(out), len(cells)
    )
    return gpd.GeoDataFrame(out, geometry=geom, crs=OUT_CRS)

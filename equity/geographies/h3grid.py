"""The street level: block-group counts spread onto H3 cells dasymetrically.

:func:`street_grid` = :func:`street_grid_pieces` (the expensive part: block groups cut by
the cells, with the weights an ancillary layer gives each piece) followed by
:func:`combine_street_grid` (the cheap part: counts, MOEs and medians moved along those
weights, and each cell's parents). The split lets the pieces be computed per partition
(:mod:`equity.engine`) with bit-identical results.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from equity.errors import DataError, SchemaError
from equity.geographies._checks import (
    _as_list,
    _as_str_ids,
    _check_geo,
    _check_unique,
    _numeric,
    _require_columns,
)
from equity.geographies._crs import OUT_CRS, _area_geoms
from equity.geographies.crosswalk import _move
from equity.geographies.h3cells import (
    _cell_polygons,
    _cells_covering,
    _cells_near,
    _hexagons,
    _hexagons_of,
    h3_strings,
)
from equity.geographies.hierarchy import _parent_columns
from equity.geographies.overlay import _ancillary_mass, _overlay

log = logging.getLogger(__name__)

#: Columns of :func:`street_grid_pieces`.
PIECE_COLUMNS = ("source_GEOID", "target_GEOID", "weight", "weight_method", "area_m2")


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
    _check_unique(ids, name="street_grid: blockgroups", what="GEOIDs")
    if tiles is not None:
        _check_geo(tiles, name="street_grid: tiles")
        if weight_column is not None:
            _require_columns(tiles, [weight_column], name="street_grid: tiles")
    return ids


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
    int_cells: bool = False,
) -> tuple[pd.DataFrame, tuple[np.ndarray, np.ndarray] | None]:
    """:func:`street_grid_pieces`, and with `keep_hexagons` the cells' lon/lat hexagons.

    The hexagons are ``(sorted cells as 64-bit integers, polygons)``, for
    :func:`combine_street_grid` to reuse rather than ask H3 for the same boundaries again.
    With `int_cells` the cells are a ``cell`` column of 64-bit integers instead of
    ``target_GEOID`` strings (for :func:`equity.geographies.street_pieces`).
    """
    ids = _check_street_grid(
        blockgroups, counts=[], medians={}, tiles=tiles, weight_column=weight_column
    )
    geo4326 = np.asarray(blockgroups.geometry.to_crs(OUT_CRS).array, dtype=object)
    bg_area = _area_geoms(blockgroups)
    cells = _cells_covering(geo4326, resolution, tiling=True, as_int=True)
    layer = _ancillary_layer(tiles, weight_column)
    cells, prior = _cells_near_mass(cells, geo4326, bg_area, layer, resolution=resolution)
    hexagons = None
    if keep_hexagons:
        hex4326, hex_area = _hexagons_of(cells, (False, True))
        hexagons = (cells, hex4326)
    else:
        hex_area = _hexagons(cells, area_crs=True)
    ib, ic, area, mass = _cut(bg_area, hex_area, layer)
    ib, ic, weight, use_mass, area, redo = _piece_weights(ids, ib, ic, area, mass, prior)
    target = cells[ic]
    method = np.where(use_mass, "ancillary", "area").astype(object)
    if redo.any():
        ib, target, weight, method, area = _with_area_pieces(
            blockgroups, ids, redo, (ib, target, weight, method, area), resolution=resolution
        )
    if int_cells:
        out = pd.DataFrame(
            {
                "source_GEOID": ids.to_numpy(dtype=object)[ib],
                "cell": np.asarray(target, dtype=np.uint64),
                "weight": weight,
                "weight_method": np.asarray(method, dtype=object),
                "area_m2": area,
            }
        )
        return out, hexagons
    out = pd.DataFrame(
        {
            "source_GEOID": pd.array(ids.to_numpy(dtype=object)[ib], dtype="str"),
            "target_GEOID": pd.array(h3_strings(target).astype(object), dtype="str"),
            "weight": weight,
            "weight_method": pd.array(method, dtype="str"),
            "area_m2": area,
        }
    )
    return out, hexagons


@dataclass(frozen=True)
class _Layer:
    """The ancillary features with a positive mass, and the tiles they were taken from."""

    #: Features in :data:`AREA_CRS`.
    geoms: np.ndarray
    #: Their masses (all positive).
    mass: np.ndarray
    #: Mask of the features kept, over the rows of the tiles.
    keep: np.ndarray
    #: The tiles they came from.
    tiles: gpd.GeoDataFrame


def _ancillary_layer(tiles: gpd.GeoDataFrame | None, weight_column: str | None) -> _Layer | None:
    """The features of `tiles` with a positive mass (``None`` without tiles)."""
    if tiles is None:
        return None
    layer_all = _area_geoms(tiles)
    tmass_all = _ancillary_weights(tiles, layer_all, weight_column)
    keep = tmass_all > 0
    return _Layer(layer_all[keep], tmass_all[keep], keep, tiles)


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


def _cells_near_mass(
    cells: np.ndarray,
    geo4326: np.ndarray,
    bg_area: np.ndarray,
    layer: _Layer | None,
    *,
    resolution: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The covering `cells` worth cutting the block groups by, and the block groups the
    layer gives mass to.

    In a block group with ancillary mass a cell without mass gets no weight: keep the cells
    near a feature, and every cell of the block groups without mass (most cells of a state
    hold no tile: this spares their hexagons and overlay).
    """
    prior = np.zeros(len(bg_area), dtype=bool)  # block groups the layer gives mass to
    if layer is None or not len(layer.geoms):
        return cells, prior
    prior = _ancillary_mass(bg_area, layer.geoms, layer.mass) > 0
    if prior.any():
        layer4326 = np.asarray(layer.tiles.geometry.to_crs(OUT_CRS).array, dtype=object)
        near = _cells_near(cells, layer4326[layer.keep], resolution)
        cells = cells[near]
        if not prior.all():
            rest = _cells_covering(geo4326[~prior], resolution, tiling=True, as_int=True)
            cells = np.union1d(cells, rest)
    return cells, prior


def _cut(
    bg_area: np.ndarray, hex_area: np.ndarray, layer: _Layer | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pieces (block group, cell) in canonical order, their areas and ancillary masses."""
    # with a layer (even an empty one, as a partition without tiles gets) the pieces are cut
    # by GEOS, so their areas do not depend on whether a partition holds tiles
    ib, ic, area, pieces = _overlay(bg_area, hex_area, geometry=layer is not None)
    # canonical order (block group, then cell in H3 order: `cells` is sorted), so the
    # per-block-group sums below add in the same order whichever cells the cover held
    order = np.lexsort((ic, ib))
    ib, ic, area = ib[order], ic[order], area[order]
    mass = np.zeros(len(ib))
    if layer is not None and pieces is not None:
        mass = _ancillary_mass(pieces[order], layer.geoms, layer.mass)
    return ib, ic, area, mass


def _piece_weights(
    ids: pd.Series,
    ib: np.ndarray,
    ic: np.ndarray,
    area: np.ndarray,
    mass: np.ndarray,
    prior: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weights of the pieces: ancillary mass shares, or area shares where a block group has none.

    Returns the pieces with a positive weight (block group, cell, weight, whether by mass,
    area) and the mask of block groups to redo with area weights over every cell.
    """
    n_bg = len(ids)
    bg_mass = np.bincount(ib, weights=mass, minlength=n_bg)
    bg_cover = np.bincount(ib, weights=area, minlength=n_bg)
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
    return ib[pos], ic[pos], weight[pos], use_mass[pos], area[pos], redo


def _with_area_pieces(
    blockgroups: gpd.GeoDataFrame,
    ids: pd.Series,
    redo: np.ndarray,
    pieces: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    resolution: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`pieces` (block group, cell, weight, method, area) plus the `redo` block groups' pieces
    by area weights over every cell, in canonical order."""
    ib, target, weight, method, area = pieces
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
    return ib[order], target[order], weight[order], method[order], area[order]


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
    p = _ordered_pieces(ids, pieces)
    n_t = len(p.cells)
    table = pd.DataFrame(blockgroups.drop(columns=blockgroups.geometry.name)).assign(GEOID=ids)
    moved = _move(table, p.bg, p.cell, p.weight, n_t, counts=counts, medians=medians, skipna=False)
    keep_cell = np.ones(n_t, dtype=bool)
    if drop_empty and counts:
        vals = np.vstack([moved[c] for c in counts])
        keep_cell = (np.nan_to_num(vals) > 0).any(axis=0)
    out = _cell_table(table, p, moved, keep_cell, counts=counts, hexagons=hexagons)
    xw = _cell_crosswalk(ids, p, keep_cell)
    n_area = len(ids) - len(np.unique(p.bg[p.use_mass]))
    log.info(
        "street grid: %d block groups -> %d H3 res-%s cells (%d block groups by area weights)",
        len(ids),
        len(out),
        h3.get_resolution(str(p.cells[0])) if n_t else "?",
        n_area,
    )
    return out, xw


@dataclass(frozen=True)
class _Pieces:
    """Street-grid pieces in canonical order (block group as given, then cell in H3 order)."""

    #: Row of each piece's block group in the block-group table.
    bg: np.ndarray
    #: Code of each piece's cell: its position in `cells`.
    cell: np.ndarray
    weight: np.ndarray
    #: Whether the piece's weight is an ancillary-mass share (else an area share).
    use_mass: np.ndarray
    area: np.ndarray
    #: The cells in use (H3 strings, sorted).
    cells: np.ndarray


def _ordered_pieces(ids: pd.Series, pieces: pd.DataFrame) -> _Pieces:
    """`pieces` checked against the block groups and put in canonical order."""
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
    return _Pieces(
        bg=bg_pos[order],
        cell=t_codes[order],
        weight=pieces["weight"].to_numpy(dtype=float)[order],
        use_mass=(pieces["weight_method"].astype(object) == "ancillary").to_numpy(dtype=bool)[
            order
        ],
        area=pieces["area_m2"].to_numpy(dtype=float)[order],
        cells=used,
    )


def _cell_table(
    table: pd.DataFrame,
    p: _Pieces,
    moved: dict[str, np.ndarray],
    keep_cell: np.ndarray,
    *,
    counts: list[str],
    hexagons: tuple[np.ndarray, np.ndarray] | None,
) -> gpd.GeoDataFrame:
    """One row per kept cell: its parents (by the dominant block group) and moved values."""
    n_t = len(p.cells)
    # parents: the block group contributing most of households (or of the first count)
    key = "households" if "households" in counts else (counts[0] if counts else None)
    score = (
        p.weight * np.nan_to_num(_numeric(table, key, name="street_grid")[p.bg])
        if key
        else p.weight
    )
    dom = _dominant(p.cell, n_t, score, p.area)
    bg_ids = table["GEOID"].to_numpy(dtype=object)
    res = pd.DataFrame(
        {
            "GEOID": pd.array(p.cells[keep_cell].astype(object), dtype="str"),
            "level": "street",
            "blockgroup_GEOID": pd.array(bg_ids[p.bg[dom[keep_cell]]], dtype="str"),
        }
    )
    for name, col in _parent_columns(res["blockgroup_GEOID"]).items():
        res[name] = col
    res["n_parents"] = np.bincount(p.cell, minlength=n_t)[keep_cell]
    res["weight_method"] = pd.array(
        np.where(p.use_mass[dom[keep_cell]], "ancillary", "area").astype(object), dtype="str"
    )
    for col, values in moved.items():
        res[col] = values[keep_cell]
    return gpd.GeoDataFrame(res, geometry=_cell_polygons(p.cells[keep_cell], hexagons), crs=OUT_CRS)


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


def _cell_crosswalk(ids: pd.Series, p: _Pieces, keep_cell: np.ndarray) -> pd.DataFrame:
    """The block group -> cell crosswalk of the kept cells."""
    piece_keep = keep_cell[p.cell]
    bg_ids = ids.to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "source_GEOID": pd.array(bg_ids[p.bg[piece_keep]], dtype="str"),
            "target_GEOID": pd.array(p.cells[p.cell[piece_keep]].astype(object), dtype="str"),
            "weight": p.weight[piece_keep],
            "weight_method": pd.array(
                np.where(p.use_mass[piece_keep], "ancillary", "area").astype(object), dtype="str"
            ),
            "area_m2": p.area[piece_keep],
        }
    )

"""The street level of a run: :func:`street_level`.

Block-group counts are spread onto H3 cells by the best ancillary layer each block group has,

1. **2020 blocks** placed by their polygons or internal points: households by the blocks'
   housing units, people by their population (:mod:`equity.geographies.blockweights`);
2. **Ookla devices** (or another column of an ancillary layer), as in
   :func:`equity.geographies.street_grid`;
3. **area**, the fallback, which a run reports as a warning;

then cells below the household floor are pooled with their parent cells
(:mod:`equity.geographies.h3floor`), and the counts move straight from the block groups to
these units. A state is processed county by county (the block groups, tiles and blocks of one
county at a time), so the peak memory of the overlay is set by the largest county, not the
state; the counts are moved once, on the pooled units.

Each unit's margins of error hold its own uncertainty: the ACS error of its block groups'
counts (moved with the weights) plus the error of giving a few households their block
group's rate (see :func:`allocation_moe`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from equity import settings
from equity.errors import SchemaError
from equity.geographies._checks import _as_list, _numeric
from equity.geographies._crs import OUT_CRS
from equity.geographies.blockweights import _valid, block_mass, has_block_geometry
from equity.geographies.crosswalk import _move
from equity.geographies.h3cells import _check_resolution, _hexagons, h3_strings
from equity.geographies.h3floor import cell_parents, cell_resolutions, pool_cells
from equity.geographies.h3grid import _check_street_grid, _street_grid_pieces
from equity.geographies.hierarchy import _parent_columns

__all__ = ["WEIGHT_METHODS", "allocation_moe", "is_person_count", "street_level", "street_pieces"]

log = logging.getLogger(__name__)

#: How a block group's counts were spread onto cells, best first.
WEIGHT_METHODS = ("blocks", "ancillary", "area")

#: ``map_partitions(function, list of argument tuples) -> list of results``: how the
#: per-county pieces are computed (in turn here; an engine may run them elsewhere). One that
#: takes a ``memory`` keyword is given each part's estimated peak bytes.
MapPartitions = Callable[..., list[pd.DataFrame]]


def is_person_count(column: str) -> bool:
    """Whether a count column counts people (spread by population) rather than households."""
    return column == "population" or column.startswith("pop_")


# --------------------------------------------------------------------------- pieces


def street_pieces(
    blockgroups: gpd.GeoDataFrame,
    *,
    resolution: int = 9,
    blocks: pd.DataFrame | None = None,
    tiles: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "devices",
) -> pd.DataFrame:
    """Weights of every (block group, cell) piece, from blocks, then tiles, then area.

    Parameters
    ----------
    blockgroups
        Block-group polygons with ``GEOID`` (other columns ignored).
    resolution
        H3 resolution.
    blocks
        2020 blocks with polygons or internal points (:func:`equity.sources.read_blocks`);
        block groups whose blocks hold housing or people take their weights from them.
    tiles, weight_column
        Ancillary layer of the other block groups (see :func:`street_grid`); None: area.

    Returns
    -------
    pandas.DataFrame
        ``source_GEOID``, ``cell`` (uint64 H3 index), ``weight`` (households: block housing
        units, tile mass or area share), ``weight_population`` (people: block population),
        ``weight_method`` (one of :data:`WEIGHT_METHODS`), ``area_m2``. Weights of a block
        group sum to one.
    """
    ids = _check_street_grid(
        blockgroups, counts=[], medians={}, tiles=tiles, weight_column=weight_column
    )
    parts: list[pd.DataFrame] = []
    done = np.zeros(len(ids), dtype=bool)
    if has_block_geometry(blocks):
        assert blocks is not None
        mine = blocks["GEOID"].astype(str).str.slice(0, 12).isin(set(ids))
        if mine.any():
            part = _block_pieces(blocks.loc[mine.to_numpy()], resolution)
            parts.append(part)
            done = ids.isin(set(part["source_GEOID"])).to_numpy()
    if not done.all():
        rest = blockgroups.iloc[np.flatnonzero(~done)]
        grid, _ = _street_grid_pieces(
            rest, resolution=resolution, tiles=tiles, weight_column=weight_column, int_cells=True
        )
        parts.append(grid.assign(weight_population=grid["weight"].to_numpy()))
    return pd.concat(parts, ignore_index=True) if parts else _empty_pieces()


def _empty_pieces() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_GEOID": np.zeros(0, dtype=object),
            "cell": np.zeros(0, dtype=np.uint64),
            "weight": np.zeros(0),
            "weight_population": np.zeros(0),
            "weight_method": np.zeros(0, dtype=object),
            "area_m2": np.zeros(0),
        }
    )


def _block_pieces(blocks: pd.DataFrame, resolution: int) -> pd.DataFrame:
    """Pieces of the block groups whose blocks hold housing units or people."""
    mass = block_mass(blocks, resolution=resolution)
    bg_codes, bg_uniq = pd.factorize(mass.blockgroup)
    hh_sum = np.bincount(bg_codes, weights=mass.households)
    pp_sum = np.bincount(bg_codes, weights=mass.persons)
    # households by housing units; a block group of group quarters only (no housing units)
    # by its population
    by_hh = hh_sum[bg_codes] > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(by_hh, mass.households / hh_sum[bg_codes], mass.persons / pp_sum[bg_codes])
        wp = np.where(pp_sum[bg_codes] > 0, mass.persons / pp_sum[bg_codes], w)
    ok = (hh_sum[bg_codes] > 0) | (pp_sum[bg_codes] > 0)
    keep = ok & ((w > 0) | (wp > 0))
    return pd.DataFrame(
        {
            "source_GEOID": np.asarray(mass.blockgroup, dtype=object)[keep],
            "cell": mass.cell[keep],
            "weight": w[keep],
            "weight_population": wp[keep],
            "weight_method": np.full(int(keep.sum()), "blocks", dtype=object),
            "area_m2": mass.area_m2[keep],
        }
    )


def _county_parts(
    blockgroups: gpd.GeoDataFrame,
    ids: pd.Series,
    *,
    blocks: pd.DataFrame | None,
    tiles: gpd.GeoDataFrame | None,
) -> Iterable[tuple[gpd.GeoDataFrame, pd.DataFrame | None, gpd.GeoDataFrame | None]]:
    """The block groups of each county, with the blocks of the county and the tiles near it."""
    county = ids.str.slice(0, 5).to_numpy()
    tree = None
    if tiles is not None and len(tiles):
        tree = STRtree(shapely.envelope(np.asarray(tiles.geometry.array, dtype=object)))
    by_county: dict[str, np.ndarray] = {}
    if blocks is not None:
        bc = blocks["GEOID"].astype(str).str.slice(0, 5).to_numpy()
        order = np.argsort(bc, kind="stable")
        keys, starts = np.unique(bc[order], return_index=True)
        by_county = dict(zip(keys, np.split(order, starts[1:]), strict=True))
    # a part needs only the block groups' ids and polygons (less to pickle for a worker)
    shapes = blockgroups[["GEOID", blockgroups.geometry.name]]
    for c in pd.unique(county):
        rows = np.flatnonzero(county == c)
        bgs = shapes.iloc[rows]
        part_tiles = None
        if tree is not None and tiles is not None:
            box = shapely.box(*bgs.total_bounds)
            part_tiles = tiles.iloc[np.sort(tree.query(box))]
        part_blocks = None
        if blocks is not None and c in by_county:
            part_blocks = blocks.iloc[by_county[c]]
        yield bgs, part_blocks, part_tiles


def _in_turn(
    func: Callable[..., pd.DataFrame], args: list[tuple[Any, ...]], **_: Any
) -> list[pd.DataFrame]:
    return [func(*a) for a in args]


def _run_parts(
    run: MapPartitions, args: list[tuple[Any, ...]], resolution: int
) -> list[pd.DataFrame]:
    """The county parts' pieces by `run`, given each part's memory estimate when it takes
    them (a ``memory`` keyword: an engine's ``map_partitions``)."""
    import inspect

    try:
        params = inspect.signature(run).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - a builtin
        params = []  # type: ignore[assignment]
    if any(p.name == "memory" or p.kind is p.VAR_KEYWORD for p in params):
        memory = [_part_memory(a[0], resolution) for a in args]
        return run(_pieces_of_part, args, memory=memory)
    return run(_pieces_of_part, args)


def _part_memory(bgs: gpd.GeoDataFrame, resolution: int) -> float:
    """Estimated peak bytes of a county part: the street grid's estimate for its polygons."""
    from equity.checks import estimate_grid  # equity.checks reads sources: imported late

    return float(estimate_grid(bgs, resolution).bytes)


def _pieces_of_part(
    bgs: gpd.GeoDataFrame,
    blocks: pd.DataFrame | None,
    tiles: gpd.GeoDataFrame | None,
    resolution: int,
    weight_column: str | None,
) -> pd.DataFrame:
    return street_pieces(
        bgs, resolution=resolution, blocks=blocks, tiles=tiles, weight_column=weight_column
    )


# --------------------------------------------------------------------------- the street level


@dataclass(frozen=True)
class _Units:
    """Pieces composed onto the pooled units."""

    bg: np.ndarray  # block-group row of each (block group, unit) pair
    unit: np.ndarray  # unit code of each pair
    weight: np.ndarray
    weight_population: np.ndarray
    area: np.ndarray
    method: np.ndarray  # weight method of the pair's block group
    ids: np.ndarray  # H3 id (uint64) of each unit
    resolution: np.ndarray
    n_cells: np.ndarray
    ranked: np.ndarray
    members: tuple[np.ndarray, np.ndarray]  # (cell, unit code) of every live cell
    member_households: np.ndarray  # households of each of those cells


def street_level(
    blockgroups: gpd.GeoDataFrame,
    *,
    counts: Sequence[str],
    medians: Mapping[str, str] | None = None,
    resolution: int = 9,
    blocks: pd.DataFrame | None = None,
    tiles: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "devices",
    min_households: float = 5.0,
    coarsest: int = 6,
    availability: pd.DataFrame | None = None,
    map_partitions: MapPartitions | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The street level: block-group counts on H3 cells, with a household floor.

    Parameters
    ----------
    blockgroups
        Block-group polygons with ``GEOID``, the count columns, ``moe_<count>``, medians.
    counts
        Extensive columns to spread; household counts by the blocks' housing units, person
        counts (``population``, ``pop_*``) by their population.
    medians
        ``{median_column: weight_count_column}`` (intensive; weighted means).
    resolution
        H3 resolution of the finest cells.
    blocks
        2020 blocks with polygons or internal points; without geometry they are ignored here.
    tiles, weight_column
        Ancillary layer for block groups without block weights (Ookla tiles and ``devices``).
    min_households
        The household floor: cells below it are pooled with their parent cells; pools still
        below it at `coarsest` are not ranked.
    coarsest
        Coarsest resolution of a pool.
    availability
        Counts located by H3 resolution-8 cells (``GEOID``, e.g. FCC BDC locations:
        ``equity.sources.summarise_fcc_bdc(locations, by="h3")``): each resolution-8 cell's
        counts go to its populated street cells by their households, so the street level
        takes them from where they were measured rather than from the block groups. Its
        count columns replace those of `counts` of the same name.
    map_partitions
        Runs the per-county pieces (default: in turn, in this process).

    Returns
    -------
    units : geopandas.GeoDataFrame
        One row per unit: ``GEOID`` (H3 id of the cell, or of the parent whose below-floor
        cells the unit pools), ``level`` (``"street"``), ``cell_resolution``, ``n_cells``,
        ``ranked`` (at or above the floor), ``blockgroup_GEOID`` ... ``state_GEOID`` (of the
        block group giving most households), ``n_parents``, ``weight_method``, the counts
        and their MOEs (allocation error included), medians; EPSG:4326 geometry (a hexagon,
        or the pooled cells). ``attrs["street"]``: block groups by weight method, units,
        ranked units, households in unranked units.
    crosswalk : pandas.DataFrame
        ``source_GEOID`` (block group), ``target_GEOID`` (unit), ``weight`` (households),
        ``weight_population``, ``weight_method``, ``area_m2``; weights of a block group sum
        to one, so every total is conserved.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> bg = gpd.GeoDataFrame({"GEOID": ["900010001001"], "households": [120.0]},
    ...     geometry=[shapely.box(-77.01, 38.0, -77.0, 38.01)], crs="EPSG:4326")
    >>> units, xw = street_level(bg, counts=["households"], min_households=5)
    >>> float(round(units["households"].sum(), 9))
    120.0
    >>> bool((units.loc[units["ranked"], "households"] >= 5).all())
    True
    """
    counts = _as_list(counts)
    medians = dict(medians or {})
    _check_resolution(resolution)
    ids = _check_street_grid(
        blockgroups, counts=counts, medians=medians, tiles=tiles, weight_column=weight_column
    )
    if min_households < 0:
        msg = f"min_households must be >= 0; got {min_households!r}"
        raise SchemaError(msg)
    run = map_partitions or _in_turn
    args = [
        (bgs, blk, tls, resolution, weight_column)
        for bgs, blk, tls in _county_parts(blockgroups, ids, blocks=blocks, tiles=tiles)
    ]
    pieces = pd.concat(_run_parts(run, args, resolution), ignore_index=True)
    table = pd.DataFrame(blockgroups.drop(columns=blockgroups.geometry.name)).assign(GEOID=ids)
    u = _compose(table, ids, pieces, counts, min(coarsest, resolution), min_households)
    placed, unplaced = _place_availability(availability, u)
    out = _unit_table(table, u, counts=counts, medians=medians)
    for col, values in placed.items():
        out[col] = values
    xw = _unit_crosswalk(ids, u)
    methods = pd.Series(u.method).groupby(u.bg).first().value_counts().to_dict()
    out.attrs["street"] = {
        "resolution": resolution,
        "min_households": float(min_households),
        "coarsest": int(min(coarsest, resolution)),
        "blockgroups_by_weight": {m: int(methods.get(m, 0)) for m in WEIGHT_METHODS},
        "units": len(out),
        "ranked": int(out["ranked"].sum()),
        "pooled": int((out["n_cells"] > 1).sum()),
        "households_unranked": float(out.loc[~out["ranked"], "households"].sum())
        if "households" in out
        else 0.0,
        "availability_unplaced": unplaced,
    }
    log.info(
        "street level: %d block groups (%s) -> %d units at H3 res %d-%d, %d ranked",
        len(ids),
        ", ".join(f"{k} {v}" for k, v in out.attrs["street"]["blockgroups_by_weight"].items()),
        len(out),
        out.attrs["street"]["coarsest"],
        resolution,
        out.attrs["street"]["ranked"],
    )
    return out, xw


def _compose(
    table: pd.DataFrame,
    ids: pd.Series,
    pieces: pd.DataFrame,
    counts: list[str],
    coarsest: int,
    floor: float,
) -> _Units:
    """Cells' households, their pools, and the pieces summed per (block group, unit)."""
    bg = pd.Index(ids).get_indexer(pieces["source_GEOID"])
    cells, cell_code = np.unique(pieces["cell"].to_numpy(dtype=np.uint64), return_inverse=True)
    w = pieces["weight"].to_numpy(dtype=float)
    wp = pieces["weight_population"].to_numpy(dtype=float)
    key = "households" if "households" in counts else (counts[0] if counts else None)
    hh_bg = np.nan_to_num(_numeric(table, key, name="street_level")) if key else np.ones(len(ids))
    hh = np.bincount(cell_code, weights=w * hh_bg[bg], minlength=len(cells))
    # a cell is kept when any count reaches it (people in group quarters, no households)
    mass = np.zeros(len(cells))
    for c in counts:
        v = np.nan_to_num(_numeric(table, c, name="street_level"))[bg]
        mass += np.bincount(
            cell_code, weights=(wp if is_person_count(c) else w) * v, minlength=len(cells)
        )
    live = (
        (hh > 0) | (mass > 0)
        if counts
        else np.bincount(cell_code, weights=w, minlength=len(cells)) > 0
    )
    pools = pool_cells(cells, hh, floor=floor, coarsest=coarsest, live=live)
    unit = pools.unit_of_cell[cell_code]
    ok = unit >= 0
    n_units = len(pools.units)
    pair = bg[ok].astype(np.int64) * n_units + unit[ok]
    upair, inv = np.unique(pair, return_inverse=True)
    method = pieces["weight_method"].to_numpy(dtype=object)[ok]
    first = np.zeros(len(upair), dtype=np.intp)
    first[inv[::-1]] = np.arange(len(inv))[::-1]
    live_cells = np.flatnonzero(pools.unit_of_cell >= 0)
    return _Units(
        bg=(upair // n_units).astype(np.intp),
        unit=(upair % n_units).astype(np.intp),
        weight=np.bincount(inv, weights=w[ok], minlength=len(upair)),
        weight_population=np.bincount(inv, weights=wp[ok], minlength=len(upair)),
        area=np.bincount(
            inv, weights=pieces["area_m2"].to_numpy(dtype=float)[ok], minlength=len(upair)
        ),
        method=method[first],
        ids=pools.units,
        resolution=pools.resolution,
        n_cells=pools.n_cells,
        ranked=pools.ranked,
        members=(cells[live_cells], pools.unit_of_cell[live_cells]),
        member_households=hh[live_cells],
    )


def _place_availability(
    availability: pd.DataFrame | None, u: _Units
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Counts of resolution-8 cells given to the units, through their populated cells.

    Returns the per-unit counts and, per column, what fell in resolution-8 cells holding no
    households (not placed).
    """
    if availability is None or not len(availability):
        return {}, {}
    if "GEOID" not in availability.columns:
        msg = "availability needs a GEOID column of H3 resolution-8 cells"
        raise SchemaError(msg)
    cells, owner = u.members
    if len(cells) and int(cell_resolutions(cells[:1])[0]) < 8:
        msg = "availability by H3 resolution-8 cells needs a street level at resolution 8 or finer"
        raise SchemaError(msg)
    ids = availability["GEOID"].astype(str).to_numpy()
    try:
        a_cells = np.array([int(c, 16) for c in ids], dtype=np.uint64)
    except ValueError as exc:
        msg = f"availability GEOID must be H3 cells; got e.g. {ids[0]!r}"
        raise SchemaError(msg) from exc
    if len(a_cells) and (cell_resolutions(a_cells) != 8).any():
        msg = f"availability must be by H3 resolution-8 cells; got e.g. {ids[0]!r}"
        raise SchemaError(msg)
    parent = cell_parents(cells, 8)
    codes, uniq = pd.factorize(parent)
    hh8 = np.bincount(codes, weights=u.member_households, minlength=len(uniq))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(hh8[codes] > 0, u.member_households / hh8[codes], 0.0)
    row = pd.Index(uniq).get_indexer(a_cells)
    placed = (row >= 0) & (hh8[np.maximum(row, 0)] > 0)
    out: dict[str, np.ndarray] = {}
    lost: dict[str, float] = {}
    for col in availability.columns:
        if col == "GEOID" or not pd.api.types.is_numeric_dtype(availability[col]):
            continue
        if str(col).startswith("share_"):
            continue  # rates are recomputed from the placed counts
        v = np.nan_to_num(availability[col].to_numpy(dtype=float))
        per_code = np.bincount(row[placed], weights=v[placed], minlength=len(uniq))
        out[str(col)] = np.bincount(owner, weights=per_code[codes] * share, minlength=len(u.ids))
        lost[str(col)] = float(v[~placed].sum())
    return out, lost


def allocation_moe(
    table: pd.DataFrame,
    u_bg: np.ndarray,
    u_unit: np.ndarray,
    weight: np.ndarray,
    n_units: int,
    *,
    numerator: str,
    universe: str,
) -> np.ndarray:
    """90% error, per unit, of giving a unit its block groups' rate of `numerator`.

    Dasymetric spreading assumes the households (people) of a unit are like those of its
    block group. If the unit's :math:`n` households out of the block group's :math:`N` were
    drawn at random, its count with the property would vary with variance
    :math:`n p (1 - p) (1 - n / N)` (hypergeometric; :math:`p` the block group's rate). This
    is the error of the unit's count around its block group's rate: small for a unit of
    hundreds of households, large for a handful. It is added in quadrature to the ACS error
    moved with the weights, so a unit's reliability reflects its own size.

    Returns the MOE (z = :data:`equity.settings.moe_z`) per unit.
    """
    num = _numeric(table, numerator, name="street_level")[u_bg]
    den = _numeric(table, universe, name="street_level")[u_bg]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.clip(np.where(den > 0, num / den, np.nan), 0.0, 1.0)
    n = weight * den
    var = np.where(np.isfinite(p) & (n > 0), n * p * (1 - p) * np.clip(1 - weight, 0, 1), 0.0)
    return settings.moe_z * np.sqrt(np.bincount(u_unit, weights=var, minlength=n_units))


def _share_pairs(counts: list[str]) -> dict[str, str]:
    """Numerator -> universe of the registered share indicators whose counts are present."""
    from equity.indicators import REGISTRY

    pairs: dict[str, str] = {}
    for ind in REGISTRY.values():
        if ind.moe_rule != "proportion" or not ind.denominator or ind.denominator not in counts:
            continue
        for n in ind.numerator:
            if n in counts and n not in pairs:
                pairs[n] = ind.denominator
    return pairs


def _moved(
    table: pd.DataFrame, u: _Units, *, counts: list[str], medians: dict[str, str]
) -> dict[str, np.ndarray]:
    """Counts, their MOEs (allocation error added) and medians of every unit."""
    n = len(u.ids)
    hh_counts = [c for c in counts if not is_person_count(c)]
    pp_counts = [c for c in counts if is_person_count(c)]
    moved = _move(table, u.bg, u.unit, u.weight, n, counts=hh_counts, medians=medians, skipna=False)
    moved |= _move(
        table, u.bg, u.unit, u.weight_population, n, counts=pp_counts, medians={}, skipna=False
    )
    for num, den in _share_pairs(counts).items():
        mc = f"moe_{num}"
        if mc not in moved:
            continue
        w = u.weight_population if is_person_count(den) else u.weight
        extra = allocation_moe(table, u.bg, u.unit, w, n, numerator=num, universe=den)
        moved[mc] = np.sqrt(np.square(moved[mc]) + np.square(extra))
    return {
        c: moved[c]
        for c in [*counts, *[f"moe_{c}" for c in counts], *medians, *[f"moe_{m}" for m in medians]]
        if c in moved
    }


def _dominant(u: _Units, table: pd.DataFrame, counts: list[str]) -> np.ndarray:
    """Pair row of the block group giving each unit most households (ties: larger area)."""
    key = "households" if "households" in counts else (counts[0] if counts else None)
    score = u.weight * (
        np.nan_to_num(_numeric(table, key, name="street_level"))[u.bg] if key else 1.0
    )
    order = np.lexsort((-u.area, -score, u.unit))
    first = np.r_[True, u.unit[order][1:] != u.unit[order][:-1]]
    rows = np.full(len(u.ids), -1, dtype=np.intp)
    rows[u.unit[order][first]] = order[first]
    return rows


def _unit_table(
    table: pd.DataFrame, u: _Units, *, counts: list[str], medians: dict[str, str]
) -> gpd.GeoDataFrame:
    dom = _dominant(u, table, counts)
    bg_ids = table["GEOID"].to_numpy(dtype=object)
    res = pd.DataFrame(
        {
            "GEOID": pd.array(h3_strings(u.ids).astype(object), dtype="str"),
            "level": "street",
            "cell_resolution": u.resolution,
            "n_cells": u.n_cells,
            "ranked": u.ranked,
            "blockgroup_GEOID": pd.array(bg_ids[u.bg[dom]], dtype="str"),
        }
    )
    for name, col in _parent_columns(res["blockgroup_GEOID"]).items():
        res[name] = col
    res["n_parents"] = np.bincount(u.unit, minlength=len(u.ids))
    res["weight_method"] = pd.array(u.method[dom], dtype="str")
    for col, values in _moved(table, u, counts=counts, medians=medians).items():
        res[col] = values
    return gpd.GeoDataFrame(res, geometry=unit_geometry(u.ids, *u.members), crs=OUT_CRS)


def unit_geometry(units: np.ndarray, cells: np.ndarray, unit_of_cell: np.ndarray) -> np.ndarray:
    """Lon/lat geometry of each unit: its hexagon, or the union of its cells as hexagons.

    The cells of a unit are compacted first (seven siblings become their parent), so a pool
    holding every cell of its parent is drawn as the parent's hexagon.
    """
    units = np.asarray(units, dtype=np.uint64)
    unit_res = cell_resolutions(units)
    item, owner = np.asarray(cells, dtype=np.uint64), np.asarray(unit_of_cell, dtype=np.int64)
    if len(item):
        top = int(cell_resolutions(item[:1])[0])
        for r in range(top - 1, int(unit_res.min()) - 1 if len(units) else top, -1):
            item, owner = _compact_once(item, owner, r, unit_res)
    polys = _hexagons(item) if len(item) else np.zeros(0, dtype=object)
    order = np.argsort(owner, kind="stable")
    owner, polys = owner[order], polys[order]
    n_items = np.bincount(owner, minlength=len(units))
    out = np.empty(len(units), dtype=object)
    single = n_items[owner] == 1
    out[owner[single]] = polys[single]
    multi = ~single
    if multi.any():
        groups = owner[multi]
        uniq, index = np.unique(groups, return_inverse=True)
        # a compacted parent hexagon overlaps its neighbours' children by slivers (H3
        # children do not tile their parent): the union of the parts, not a collection
        out[uniq] = _valid(shapely.multipolygons(polys[multi], indices=index))
    return out


def _compact_once(
    item: np.ndarray, owner: np.ndarray, r: int, unit_res: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Replace every full set of seven sibling cells (of one unit, one level below `r`) by
    their parent at `r`, where the unit is at `r` or coarser."""
    res = cell_resolutions(item)
    can = (res == r + 1) & (unit_res[owner] <= r)
    if not can.any():
        return item, owner
    parent = cell_parents(item, r)
    # (unit, parent) groups of the cells that can merge: sorted, stable (first row first)
    rows = np.flatnonzero(can)
    order = rows[np.lexsort((parent[rows], owner[rows]))]
    o, p = owner[order], parent[order]
    start = np.flatnonzero(np.r_[True, (o[1:] != o[:-1]) | (p[1:] != p[:-1])])
    size = np.diff(np.r_[start, len(order)])
    # an H3 parent has seven children (six for the 12 pentagons, not handled: left as cells)
    whole = size == 7
    full = np.zeros(len(item), dtype=bool)
    full[order[np.repeat(whole, size)]] = True
    # merged parents in the order of their first cell
    first = order[start[whole]]
    by_first = np.argsort(first, kind="stable")
    keep = ~full
    return (
        np.r_[item[keep], parent[first[by_first]]],
        np.r_[owner[keep], owner[first[by_first]]],
    )


def _unit_crosswalk(ids: pd.Series, u: _Units) -> pd.DataFrame:
    bg_ids = ids.to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "source_GEOID": pd.array(bg_ids[u.bg], dtype="str"),
            "target_GEOID": pd.array(h3_strings(u.ids[u.unit]).astype(object), dtype="str"),
            "weight": u.weight,
            "weight_population": u.weight_population,
            "weight_method": pd.array(u.method, dtype="str"),
            "area_m2": u.area,
        }
    )

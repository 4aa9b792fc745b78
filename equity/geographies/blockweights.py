"""Block weights: where within a block group its households and people live, from 2020 blocks.

Census tabulation blocks nest in block groups (a block's GEOID starts with its block group's),
so a block group's housing units and population are already split among its blocks; placing
each block on the H3 grid gives the share of the block group's households (by housing units)
and people (by population) that falls in each cell. A block is placed

- by its polygon (TIGER tabblock20): its count spread over its area, so a cell gets the
  block's count times the share of the block's area inside it; a block lying wholly inside
  one cell (most urban blocks) goes to that cell without an overlay;
- by its internal point (``INTPTLAT20``/``INTPTLON20``) when only points are given: wholly to
  the cell holding the point;
- not at all when the file has no geometry (the Address Count Listing, P.L. 94-171 tables):
  counts without places cannot say where within the block group people live, so the cells
  fall back to the next ancillary layer (Ookla devices, then area). The block counts still
  weight the block group's measured speeds (:func:`block_speeds`).

Cells no block with housing touches get no households.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import shapely

from equity.errors import SchemaError
from equity.geographies._crs import _to_area_crs
from equity.geographies.h3cells import _cells_covering, _check_resolution, _hexagons
from equity.geographies.ookla import OOKLA_COLUMNS
from equity.geographies.overlay import _overlay

__all__ = ["BlockMass", "block_mass", "block_speeds", "has_block_geometry"]

log = logging.getLogger(__name__)

#: Block measures weighting household counts and person counts, in order of preference.
HOUSEHOLD_MEASURES = ("housing_units", "population")
PERSON_MEASURES = ("population", "housing_units")


def has_block_geometry(blocks: pd.DataFrame | None) -> bool:
    """Whether `blocks` places its blocks (polygons or points) on the map."""
    if blocks is None or not isinstance(blocks, gpd.GeoDataFrame) or not len(blocks):
        return False
    geoms = blocks.geometry.to_numpy()
    return bool((~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)).any())


def _measure(blocks: pd.DataFrame, order: tuple[str, ...]) -> tuple[np.ndarray, str]:
    """The first measure of `order` the blocks have (missing values as 0), and its name."""
    for m in order:
        if m in blocks.columns:
            v = pd.to_numeric(blocks[m], errors="coerce").to_numpy(dtype=float)
            return np.nan_to_num(v, nan=0.0), m
    msg = f"blocks have neither {' nor '.join(order)} (columns: {', '.join(map(str, blocks.columns))})"
    raise SchemaError(msg)


@dataclass(frozen=True)
class BlockMass:
    """Block mass per (block group, cell): what the street grid weights pieces with.

    Rows are in canonical order (block group id, then cell).
    """

    #: Block-group GEOID of each row.
    blockgroup: np.ndarray
    #: H3 cell (64-bit integer) of each row.
    cell: np.ndarray
    #: Housing units (or population when the blocks lack them) in the row.
    households: np.ndarray
    #: Population (or housing units when the blocks lack it) in the row.
    persons: np.ndarray
    #: Land area (m2, EPSG:6933) of the blocks' parts in the row (0 for points).
    area_m2: np.ndarray
    #: Names of the measures used for households and persons.
    measures: tuple[str, str]

    def __len__(self) -> int:
        return len(self.cell)


def block_mass(blocks: gpd.GeoDataFrame, *, resolution: int = 9) -> BlockMass:
    """Housing units and population of blocks, placed on H3 cells and summed per block group.

    Parameters
    ----------
    blocks
        :func:`equity.sources.read_blocks` output with geometry (polygons or internal
        points): ``GEOID`` (15-digit block), ``housing_units`` and/or ``population``.
    resolution
        H3 resolution of the cells.

    Returns
    -------
    BlockMass
        One row per (block group, cell) holding some housing or population.

    Raises
    ------
    SchemaError
        Blocks without geometry, or with neither measure.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> b = gpd.GeoDataFrame({"GEOID": ["510010001001000", "510010001001001"],
    ...     "housing_units": [10.0, 0.0], "population": [25.0, 3.0]},
    ...     geometry=[shapely.Point(-77.0, 38.0), shapely.Point(-77.02, 38.01)], crs=4326)
    >>> m = block_mass(b)
    >>> float(m.households.sum()), float(m.persons.sum()), len(m)
    (10.0, 28.0, 2)
    """
    _check_resolution(resolution)
    if not has_block_geometry(blocks):
        msg = "block_mass needs blocks with polygons or internal points (tabblock20)"
        raise SchemaError(msg)
    hh, hh_name = _measure(blocks, HOUSEHOLD_MEASURES)
    pp, pp_name = _measure(blocks, PERSON_MEASURES)
    geoms = np.asarray(blocks.geometry.to_crs(4326).array, dtype=object)
    keep = ((hh > 0) | (pp > 0)) & ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    bg_ids = blocks["GEOID"].astype(str).str.slice(0, 12).to_numpy(dtype=object)[keep]
    hh, pp, geoms = hh[keep], pp[keep], geoms[keep]
    kind = shapely.get_type_id(geoms)
    point = kind == 0
    rows_b, rows_c, frac, area = _place_points(geoms, point, resolution)
    poly = np.flatnonzero(~point)
    if len(poly):
        b2, c2, f2, a2 = _place_polygons(geoms[poly], resolution, blocks_intpt(blocks, keep, poly))
        rows_b = np.r_[rows_b, poly[b2]]
        rows_c = np.r_[rows_c, c2]
        frac = np.r_[frac, f2]
        area = np.r_[area, a2]
    return _by_blockgroup(bg_ids, rows_b, rows_c, frac, area, hh, pp, (hh_name, pp_name))


def blocks_intpt(blocks: gpd.GeoDataFrame, keep: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """Internal points (lon, lat) of the kept blocks `rows`, when the file gives them."""
    if not {"intpt_lat", "intpt_lon"} <= set(blocks.columns):
        return None
    lat = pd.to_numeric(blocks["intpt_lat"], errors="coerce").to_numpy(dtype=float)[keep][rows]
    lon = pd.to_numeric(blocks["intpt_lon"], errors="coerce").to_numpy(dtype=float)[keep][rows]
    return np.column_stack([lon, lat])


def _cells_of_points(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cell (64-bit integer) of each point."""
    return np.fromiter(
        (
            h3i.latlng_to_cell(y, x, resolution)
            for x, y in zip(lon.tolist(), lat.tolist(), strict=True)
        ),
        dtype=np.uint64,
        count=len(lon),
    )


def _place_points(
    geoms: np.ndarray, point: np.ndarray, resolution: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Point blocks: each wholly in the cell holding it."""
    rows = np.flatnonzero(point)
    xy = shapely.get_coordinates(geoms[rows]) if len(rows) else np.zeros((0, 2))
    cells = _cells_of_points(xy[:, 0], xy[:, 1], resolution)
    return rows, cells, np.ones(len(rows)), np.zeros(len(rows))


def _place_polygons(
    geoms: np.ndarray, resolution: int, intpt: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Polygon blocks: (block row, cell, share of the block's area in the cell, area m2).

    A block wholly inside the cell of its internal point is placed there without an overlay;
    the others are cut by the cells covering them (areas in EPSG:6933).
    """
    area_geoms = _valid(_projected(geoms))
    if intpt is None or not np.isfinite(intpt).all():
        intpt = shapely.get_coordinates(shapely.point_on_surface(geoms))
    home = _cells_of_points(intpt[:, 0], intpt[:, 1], resolution)
    uniq, inv = np.unique(home, return_inverse=True)
    hexes = _hexagons(uniq, area_crs=True)[inv]
    inside = shapely.covers(hexes, area_geoms)
    rows_in = np.flatnonzero(inside)
    out_b, out_c = [rows_in], [home[rows_in]]
    out_f, out_a = [np.ones(len(rows_in))], [shapely.area(area_geoms[rows_in])]
    rest = np.flatnonzero(~inside)
    if len(rest):
        cells = _cells_covering(geoms[rest], resolution, as_int=True)
        ib, ic, area, _ = _overlay(area_geoms[rest], _hexagons(cells, area_crs=True))
        total = np.bincount(ib, weights=area, minlength=len(rest))
        ok = total[ib] > 0
        out_b.append(rest[ib[ok]])
        out_c.append(cells[ic[ok]])
        out_f.append(area[ok] / total[ib[ok]])
        out_a.append(area[ok])
    return (
        np.concatenate(out_b),
        np.concatenate(out_c),
        np.concatenate(out_f),
        np.concatenate(out_a),
    )


def _valid(geoms: np.ndarray) -> np.ndarray:
    """Invalid polygons (self-touching rings of published or reprojected blocks) repaired."""
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        fixed = shapely.make_valid(geoms[bad])
        # keep the polygonal part of a repaired geometry (lines of a collapsed spike go)
        parts, idx = shapely.get_parts(fixed, return_index=True)
        parts, sub = shapely.get_parts(parts, return_index=True)  # collections of multis
        idx = idx[sub]
        poly = np.isin(shapely.get_type_id(parts), (3, 6))
        repaired = np.full(int(bad.sum()), shapely.Polygon(), dtype=object)
        if poly.any():
            merged = shapely.multipolygons(parts[poly], indices=idx[poly])
            repaired[: len(merged)] = merged
        geoms = geoms.copy()
        geoms[np.flatnonzero(bad)] = repaired
        log.info("block weights: %d invalid block polygons repaired", int(bad.sum()))
    return geoms


def _projected(geoms: np.ndarray) -> np.ndarray:
    """Lon/lat geometries in the equal-area CRS, by one coordinate transform."""
    return shapely.transform(geoms, lambda xy: np.column_stack(_to_area_crs(xy[:, 0], xy[:, 1])))


def _by_blockgroup(
    bg_ids: np.ndarray,
    rows: np.ndarray,
    cells: np.ndarray,
    frac: np.ndarray,
    area: np.ndarray,
    hh: np.ndarray,
    pp: np.ndarray,
    measures: tuple[str, str],
) -> BlockMass:
    """Sum the placed block parts per (block group, cell), in canonical order."""
    bg_codes, bg_uniq = pd.factorize(bg_ids[rows], sort=True)
    cell_uniq, cell_codes = np.unique(cells, return_inverse=True)
    key = bg_codes.astype(np.int64) * len(cell_uniq) + cell_codes
    uk, inv = np.unique(key, return_inverse=True)
    n = len(uk)
    return BlockMass(
        blockgroup=np.asarray(bg_uniq, dtype=object)[uk // len(cell_uniq)],
        cell=cell_uniq[uk % len(cell_uniq)],
        households=np.bincount(inv, weights=hh[rows] * frac, minlength=n),
        persons=np.bincount(inv, weights=pp[rows] * frac, minlength=n),
        area_m2=np.bincount(inv, weights=area, minlength=n),
        measures=measures,
    )


# --------------------------------------------------------------------------- block speeds

#: Output columns of :func:`block_speeds` (those of ``ookla_to_polygons``).
SPEED_COLUMNS = OOKLA_COLUMNS


def block_speeds(
    rows: pd.DataFrame,
    keys: pd.Series,
    *,
    blocks: pd.DataFrame | None = None,
    min_tests: float = 0.0,
) -> pd.DataFrame:
    """Measured speeds of places from Ookla tiles joined to blocks (``read_block_speeds``).

    Each tile's tests and devices are shared among the blocks it touches (by their housing
    units when `blocks` gives them, else equally), so they are counted once however many
    blocks the tile touches; each place then gets the test-weighted means of its blocks'
    tiles, as :func:`equity.geographies.ookla_to_polygons` gives for tiles with geometry.

    Parameters
    ----------
    rows
        ``read_block_speeds`` output: ``block_GEOID``, ``tile_key``, ``download_mbps``,
        ``upload_mbps``, ``latency_ms``, ``tests``, ``devices``.
    keys
        Place of each block: a Series indexed by block GEOID (e.g. its block group, or its
        street cell); blocks missing from it are left out.
    blocks
        Block table with ``housing_units`` (optional), sharing each tile's tests.
    min_tests
        Places with fewer (shared) tests get missing speeds.

    Returns
    -------
    pandas.DataFrame
        ``GEOID`` (the place) and :data:`SPEED_COLUMNS`.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"block_GEOID": ["510010001001000", "510010001001001"],
    ...     "tile_key": [0, 0], "download_mbps": [50.0, 50.0], "upload_mbps": [10.0, 10.0],
    ...     "latency_ms": [20.0, 20.0], "tests": [8.0, 8.0], "devices": [4.0, 4.0]})
    >>> keys = pd.Series(["510010001001"] * 2, index=rows["block_GEOID"])
    >>> block_speeds(rows, keys)[["GEOID", "ookla_tests", "download_mbps"]]
              GEOID  ookla_tests  download_mbps
    0  510010001001          8.0           50.0
    """
    share = _tile_shares(rows, blocks)
    place = rows["block_GEOID"].map(keys)
    ok = place.notna().to_numpy()
    r = rows.loc[ok]
    s = share[ok]
    tests = r["tests"].to_numpy(dtype=float) * s
    devices = r["devices"].to_numpy(dtype=float) * s
    down, up = r["download_mbps"].to_numpy(dtype=float), r["upload_mbps"].to_numpy(dtype=float)
    lat = r["latency_ms"].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "GEOID": place[ok].astype(str).to_numpy(),
            "t": tests,
            "d": devices,
            "td": tests * down,
            "tu": tests * up,
            "tl": tests * np.nan_to_num(lat),
            "dd": devices * down,
            "du": devices * up,
            "b25": tests * ((down < 25) | (up < 3)),
            "b100": tests * ((down < 100) | (up < 20)),
            "tile": r["tile_key"].to_numpy(),
        }
    )
    g = frame.groupby("GEOID", sort=True)
    sums = g[["t", "d", "td", "tu", "tl", "dd", "du", "b25", "b100"]].sum()
    t = sums["t"].where(sums["t"] > max(min_tests, 0.0) if min_tests > 0 else sums["t"] > 0)
    d = sums["d"].where(sums["d"] > 0)
    out = pd.DataFrame(
        {
            "GEOID": sums.index.astype(str),
            "ookla_tests": sums["t"].to_numpy(),
            "ookla_devices": sums["d"].to_numpy(),
            "download_mbps": (sums["td"] / t).to_numpy(),
            "upload_mbps": (sums["tu"] / t).to_numpy(),
            "latency_ms": (sums["tl"] / t).to_numpy(),
            "download_mbps_devices": (sums["dd"] / d).to_numpy(),
            "upload_mbps_devices": (sums["du"] / d).to_numpy(),
            "share_tests_below_25_3": (sums["b25"] / t).to_numpy(),
            "share_tests_below_100_20": (sums["b100"] / t).to_numpy(),
            "n_tiles": g["tile"].nunique().to_numpy(),
        }
    )
    return out.reset_index(drop=True)


def _tile_shares(rows: pd.DataFrame, blocks: pd.DataFrame | None) -> np.ndarray:
    """Share of each row's tile given to the row's block: by housing units, else equal."""
    tile = rows["tile_key"].to_numpy()
    n_rows_tile = np.bincount(tile)[tile].astype(float)
    if blocks is None or "housing_units" not in blocks.columns:
        return 1.0 / n_rows_tile
    hu = (
        rows["block_GEOID"]
        .map(blocks.set_index("GEOID")["housing_units"])
        .fillna(0.0)
        .to_numpy(dtype=float)
    )
    tile_hu = np.bincount(tile, weights=hu)[tile]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tile_hu > 0, hu / tile_hu, 1.0 / n_rows_tile)

"""Ookla speed-test tiles summarised onto polygons (any places) and onto the H3 grid.

Each summary is split like the street grid: a *pieces* function (which share of each tile
each target gets: the expensive overlay) and a *combine* function (tests, devices and
test- or device-weighted speeds per target), so tiles can be processed per partition.
"""

from __future__ import annotations

import logging
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from equity import settings
from equity.errors import DataError, SchemaError, check_choice
from equity.geographies._checks import _check_geo, _check_unique, _numeric, _require_columns
from equity.geographies._crs import OUT_CRS, _area_geoms
from equity.geographies.h3cells import _cells_covering, _hexagons
from equity.geographies.overlay import OVERLAY_METHODS, _overlay
from equity.geographies.tilegrid import grid_centroids, grid_overlaps, tile_grid

log = logging.getLogger(__name__)

#: Columns of an Ookla summary (after the id column).
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
_OOKLA_RAW = {
    "avg_d_kbps": "download_mbps",
    "avg_u_kbps": "upload_mbps",
    "avg_lat_ms": "latency_ms",
}


def _tile_table(tiles: gpd.GeoDataFrame, *, name: str) -> dict[str, np.ndarray]:
    """Tile speeds (Mbps, ms), tests and devices as float arrays; accepts Ookla's raw names."""
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
    return cols


def _summarise_ookla(
    tile_rows: np.ndarray,
    target_codes: np.ndarray,
    share: np.ndarray,
    n_targets: int,
    tt: dict[str, np.ndarray],
    min_tests: float,
) -> dict[str, np.ndarray]:
    """Ookla summaries per target from tile pieces (tile row, target code, share of the tile).

    Sums of share x a per-tile value (tests, devices, tests x speed, ...): each per-tile value
    is formed once over the tiles, then gathered once over the pieces.
    """
    tests, devices = tt["tests"], tt["devices"]
    down, up, lat = tt["download_mbps"], tt["upload_mbps"], tt["latency_ms"]

    def total(per_tile: np.ndarray) -> np.ndarray:
        return np.bincount(target_codes, weights=per_tile[tile_rows] * share, minlength=n_targets)

    n_tests, n_devices = total(tests), total(devices)

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    def wmean(v: np.ndarray, w: np.ndarray, w_total: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(v)
        if ok.all():
            return ratio(total(w * v), w_total)
        return ratio(total(np.where(ok, w * v, 0.0)), total(np.where(ok, w, 0.0)))

    speeds_ok = ~(np.isnan(down) | np.isnan(up))
    below_25 = speeds_ok & ((down < 25) | (up < 3))
    below_100 = speeds_ok & ((down < 100) | (up < 20))
    den = n_tests if speeds_ok.all() else total(np.where(speeds_ok, tests, 0.0))
    out = {
        "ookla_tests": n_tests,
        "ookla_devices": n_devices,
        "download_mbps": wmean(down, tests, n_tests),
        "upload_mbps": wmean(up, tests, n_tests),
        "latency_ms": wmean(lat, tests, n_tests),
        "download_mbps_devices": wmean(down, devices, n_devices),
        "upload_mbps_devices": wmean(up, devices, n_devices),
        "share_tests_below_25_3": ratio(total(np.where(below_25, tests, 0.0)), den),
        "share_tests_below_100_20": ratio(total(np.where(below_100, tests, 0.0)), den),
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
    check_choice("method", method, OVERLAY_METHODS, where="ookla_to_polygons")
    pieces = _polygon_pieces(tiles, polygons, method=method)
    return _polygon_summary(
        tt, ids, pieces, id_column=id_column, min_tests=min_tests, method=method
    )


def _check_ookla_polygons(polygons: gpd.GeoDataFrame, *, id_column: str) -> pd.Series:
    _check_geo(polygons, name="ookla_to_polygons: polygons")
    _require_columns(polygons, [id_column], name="ookla_to_polygons: polygons")
    ids = polygons[id_column]
    _check_unique(ids, name="ookla_to_polygons: polygons", what=repr(id_column))
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
    check_choice("method", method, OVERLAY_METHODS, where="ookla_to_polygons")
    return _polygon_pieces(tiles, polygons, method=method)


def _polygon_pieces(
    tiles: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame, *, method: str
) -> pd.DataFrame:
    """:func:`ookla_polygon_pieces` on checked inputs: the tile grid, else the geometries."""
    poly_geo = _area_geoms(polygons)
    got = _grid_pieces(tiles, poly_geo, method=method)
    if got is not None:
        return got
    tile_geo = _area_geoms(tiles)
    if method == "area":
        it, ip, area, _ = _overlay(tile_geo, poly_geo)
        share = area / shapely.area(tile_geo)[it]
    else:
        it, ip = STRtree(poly_geo).query(shapely.centroid(tile_geo), predicate="intersects")
        share = np.ones(len(it))
    order = np.lexsort((ip, it))
    it, ip, share = it[order], ip[order], share[order]
    if method == "centroid":  # a centroid on a shared border: the polygon listed first
        first = np.unique(it, return_index=True)[1]
        it, ip, share = it[first], ip[first], share[first]
    return pd.DataFrame({"tile": it, "polygon": ip, "share": share})


def _grid_pieces(
    tiles: gpd.GeoDataFrame, poly_geo: np.ndarray, *, method: str
) -> pd.DataFrame | None:
    """Pieces of quadkey tiles from their grid (:mod:`~equity.geographies.tilegrid`), else None."""
    grid = tile_grid(tiles)
    if grid is None:
        return None
    if method == "area":
        got = grid_overlaps(grid, poly_geo)
        if got is None:
            return None
        it, ip, share = got
    else:
        cen = grid_centroids(grid, poly_geo)
        if cen is None:
            return None
        it, ip = cen
        share = np.ones(len(it))
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
        tgt = pieces[target].to_numpy(dtype=np.intp)
        step = (np.diff(tile) > 0) | ((np.diff(tile) == 0) & (np.diff(tgt) > 0))
        if step.all():  # already canonical (as the pieces functions return them)
            return pieces
        order = np.lexsort((tgt, tile))
    else:
        order = np.lexsort((np.asarray(pieces[target].astype(object).to_numpy(), dtype=str), tile))
    return pieces.iloc[order]


def _polygon_summary(
    tt: dict[str, np.ndarray],
    ids: pd.Series,
    pieces: pd.DataFrame,
    *,
    id_column: str,
    min_tests: float,
    method: str = "area",
) -> pd.DataFrame:
    name = "ookla_to_polygons: pieces"
    pieces = _canonical_pieces(pieces, "polygon", len(tt["tests"]), len(ids), name=name)
    it = pieces["tile"].to_numpy(dtype=np.intp)
    ip = pieces["polygon"].to_numpy(dtype=np.intp)
    out = _summarise_ookla(it, ip, pieces["share"].to_numpy(dtype=float), len(ids), tt, min_tests)
    res = pd.DataFrame({id_column: ids.to_numpy(), **out})
    res.attrs["ookla_tests_outside"] = float(tt["tests"].sum() - out["ookla_tests"].sum())
    log.info(
        "ookla: %d tiles onto %d polygons (%s), %.0f tests outside",
        len(tt["tests"]),
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
    tt: dict[str, np.ndarray],
    pieces: pd.DataFrame,
    *,
    min_tests: float,
    resolution: int | None = None,
) -> pd.DataFrame:
    pieces = _canonical_pieces(
        pieces, "GEOID", len(tt["tests"]), None, name="ookla_to_grid: pieces"
    )
    it = pieces["tile"].to_numpy(dtype=np.intp)
    used, codes = np.unique(
        np.asarray(pieces["GEOID"].astype(object).to_numpy(), dtype=str), return_inverse=True
    )
    share = pieces["share"].to_numpy(dtype=float)
    out = _summarise_ookla(it, codes, share, len(used), tt, min_tests)
    res = pd.DataFrame({"GEOID": pd.array(used.astype(object), dtype="str"), **out})
    log.info(
        "ookla: %d tiles onto %d H3 res-%s cells", len(tt["tests"]), len(res), resolution or "?"
    )
    return res

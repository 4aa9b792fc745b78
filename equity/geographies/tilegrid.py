"""Exact overlaps of polygons with the web-mercator tile grid of Ookla's tiles.

Ookla's tiles are the squares of the zoom-16 web-mercator grid. The equal-area CRS
(:data:`~equity.geographies._crs.AREA_CRS`) is cylindrical like web mercator, so there the
tiles are still the cells of a rectilinear grid: column lines from longitudes, row lines from
latitudes, each projected once per grid line (from the quadkey, :mod:`equity.tiles`) instead of
once per tile. A polygon's overlap with every cell then follows from the polygon's edges alone,
in one vectorised pass and without a geometry per tile:

- every edge is cut where it crosses a grid line; each piece lies in one cell;
- along each row's top line, the crossings of the polygon's edges give the stretches inside it
  (even-odd rule, holes and multi-part polygons included);
- a cell that no piece enters lies wholly inside or wholly outside, as its top line says:
  interior cells (the bulk of a county's tiles) get their whole area with no arithmetic at all;
- a boundary cell's overlap follows from Green's theorem: with :math:`y_0` its bottom, :math:`h`
  its height and :math:`L` the length of its top side inside the polygon,
  :math:`A = \\sum_{\\text{pieces}} -\\left(\\tfrac{y_a + y_b}{2} - y_0\\right)(x_b - x_a) + hL`
  (the cell's other sides contribute nothing to :math:`\\oint -(y - y_0)\\,dx`).

Points exactly on a grid line belong to the cell to the right of it and above it, everywhere
(a symbolic shift of the lines), so pieces, crossings and cells always agree. Coordinates are
taken relative to each polygon's corner before any arithmetic (a projected coordinate of
1e7 m would otherwise cost about seven digits).

The centroid rule uses the same crossings along each row's centre line; a tile whose centre
lies within a millimetre of a polygon's boundary is decided by GEOS as before (the first
polygon listed wins on a shared border).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from equity.geographies._crs import _to_area_crs
from equity.tiles import tile_lat, tile_lon, tiles_xy

#: Largest distance (degrees) between a tile's corners and its quadkey square for the tile to
#: be taken as that square (Ookla's files round coordinates to 12 decimals; 1e-9 degrees is
#: 0.1 mm).
SNAP_DEGREES = 1e-9
#: Tile centres closer than this (metres) to a polygon's boundary are tested by GEOS.
CENTROID_TOLERANCE_M = 1e-3
_CHECK_CHUNK = 1_000_000


@dataclass(frozen=True)
class TileGrid:
    """Tiles as cells (column, row) of the web-mercator grid at one zoom."""

    zoom: int
    col: np.ndarray
    row: np.ndarray


def tile_grid(tiles: gpd.GeoDataFrame) -> TileGrid | None:
    """The tiles' grid cells when every tile is the square of its quadkey, else None.

    The cells come from the ``quadkey`` column (any zoom, one zoom for all tiles) or, without
    one, from the tiles' centres at Ookla's zoom 16; either way each geometry must be that
    cell's square in EPSG:4326 (corners within :data:`SNAP_DEGREES`). Tiles clipped to a
    boundary, other rectangles or other CRSs give None (the caller then overlays geometries).

    Examples
    --------
    >>> from equity.synthetic import synthetic_tiles
    >>> tiles = synthetic_tiles(1000, seed=1)
    >>> grid = tile_grid(tiles)
    >>> grid.zoom, len(grid.col)
    (16, 1000)
    >>> import shapely
    >>> clipped = tiles.set_geometry(shapely.buffer(tiles.geometry.array, -1e-5), crs=4326)
    >>> tile_grid(clipped) is None
    True
    """
    if len(tiles) == 0 or tiles.crs is None or not tiles.crs.equals("EPSG:4326"):
        return None
    geoms = np.asarray(tiles.geometry.array, dtype=object)
    if "quadkey" in tiles.columns:
        xy = _quadkey_cells(tiles["quadkey"])
        if xy is None:
            return None
        col, row, zoom = xy
    else:
        zoom = 16
        centre = shapely.get_coordinates(shapely.centroid(geoms))
        if len(centre) != len(geoms):
            return None
        col, row = tiles_xy(centre[:, 0], centre[:, 1], zoom)
    if not _are_cell_squares(geoms, col, row, zoom):
        return None
    return TileGrid(zoom=zoom, col=col, row=row)


def _quadkey_cells(values: pd.Series) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Column, row and zoom of equal-length quadkeys, else None (bounded memory, no loops)."""
    if values.isna().any():
        return None
    digits = _quadkey_bytes(values)
    if digits is None:
        return None
    n, zoom = digits.shape
    if zoom == 0 or zoom > 32:
        return None
    col = np.empty(n, dtype=np.int64)
    row = np.empty(n, dtype=np.int64)
    width = -(-zoom // 8)
    for start in range(0, n, _CHECK_CHUNK):
        d = digits[start : start + _CHECK_CHUNK] - np.uint8(ord("0"))  # wraps below "0"
        if (d > 3).any():
            return None
        for out, bits in ((col, d & 1), (row, d >> 1)):
            packed = np.packbits(bits, axis=1)  # most significant digit first
            wide = np.zeros((len(d), 8), dtype=np.uint8)
            wide[:, 8 - width :] = packed
            value = wide.view(">u8").ravel().astype(np.int64)
            out[start : start + len(d)] = value >> (8 * width - zoom)
    return col, row, zoom


def _quadkey_bytes(values: pd.Series) -> np.ndarray | None:
    """The quadkeys' characters as an (n, zoom) uint8 array (Arrow's buffer read in place)."""
    data = getattr(values.array, "_pa_array", None)
    if data is not None:
        chunk = data.combine_chunks() if data.num_chunks != 1 else data.chunk(0)
        if chunk.offset:
            chunk = chunk.take(np.arange(len(chunk)))
        width = np.dtype(np.int64 if "large" in str(chunk.type) else np.int32)
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[: len(chunk) + 1]
        zoom = int(offsets[1] - offsets[0]) if len(chunk) else 0
        if zoom == 0 or not (np.diff(offsets) == zoom).all():
            return None
        raw = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        return raw[offsets[0] : offsets[-1]].reshape(len(chunk), zoom)
    text = np.asarray(values.astype(str).to_numpy(), dtype="S")
    zoom = text.dtype.itemsize
    if zoom == 0 or (np.char.str_len(text) != zoom).any():
        return None
    return text.view(np.uint8).reshape(len(text), zoom)


def _are_cell_squares(geoms: np.ndarray, col: np.ndarray, row: np.ndarray, zoom: int) -> bool:
    """Whether each geometry is the square of its cell (in chunks: bounded memory)."""
    if int(col.min()) < 0 or int(row.min()) < 0 or max(int(col.max()), int(row.max())) >= 1 << zoom:
        return False
    c0, r0 = int(col.min()), int(row.min())
    # the lines of the cells' range, computed once each (not once per tile)
    lon = tile_lon(np.arange(c0, int(col.max()) + 2), zoom)
    lat = tile_lat(np.arange(r0, int(row.max()) + 2), zoom)
    for start in range(0, len(geoms), _CHECK_CHUNK):
        part = slice(start, start + _CHECK_CHUNK)
        g = geoms[part]
        if not ((shapely.get_type_id(g) == 3) & (shapely.get_num_coordinates(g) == 5)).all():
            return False
        b = shapely.bounds(g)
        c, r = col[part] - c0, row[part] - r0
        for k, want in enumerate((lon[c], lat[r + 1], lon[c + 1], lat[r])):
            if not (np.abs(b[:, k] - want) <= SNAP_DEGREES).all():
                return False
        box = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        if not (np.abs(shapely.area(g) - box) <= 1e-9 * box).all():
            return False
    return True


# --------------------------------------------------------------------------- the grid


@dataclass
class _Region:
    """Cells ``[c0, c0 + nc) x [r0, r0 + nr)`` with their lines in the area CRS.

    ``xl[i]`` is the west line of column ``c0 + i`` (``nc + 1`` lines), ``yl[i]`` the north
    line of row ``r0 + i`` (``nr + 1`` lines, decreasing: rows run southward).
    """

    c0: int
    r0: int
    xl: np.ndarray
    yl: np.ndarray

    @property
    def nc(self) -> int:
        return len(self.xl) - 1

    @property
    def nr(self) -> int:
        return len(self.yl) - 1

    def col_of(self, x: np.ndarray) -> np.ndarray:
        """Column index (0..nc-1; -1 west, nc east) of x; x on a line goes east of it."""
        return np.searchsorted(self.xl, x, side="right") - 1

    def row_of(self, y: np.ndarray) -> np.ndarray:
        """Row index (0..nr-1; -1 north, nr south) of y; y on a line goes north of it."""
        return np.searchsorted(-self.yl, -y, side="left") - 1


def _region(grid: TileGrid, bounds: np.ndarray) -> _Region | None:
    """The cells holding tiles within the polygons' bounds (area CRS), or None when none do."""
    zoom = grid.zoom
    x0, y0, x1, y1 = bounds
    # the polygons' extent in cells, from their area-CRS bounds back to the grid (one cell of
    # margin absorbs the rounding of the inverse; only cells holding tiles matter anyway)
    cols = np.arange(int(grid.col.min()), int(grid.col.max()) + 2)
    rows = np.arange(int(grid.row.min()), int(grid.row.max()) + 2)
    xl, _ = _to_area_crs(tile_lon(cols, zoom), np.zeros(len(cols)))
    _, yl = _to_area_crs(np.zeros(len(rows)), tile_lat(rows, zoom))
    keep_c = np.flatnonzero((xl[1:] >= x0) & (xl[:-1] <= x1))
    keep_r = np.flatnonzero((yl[:-1] >= y0) & (yl[1:] <= y1))
    if not len(keep_c) or not len(keep_r):
        return None
    c_lo, c_hi = keep_c[0], keep_c[-1] + 1
    r_lo, r_hi = keep_r[0], keep_r[-1] + 1
    return _Region(
        c0=int(cols[c_lo]),
        r0=int(rows[r_lo]),
        xl=np.asarray(xl[c_lo : c_hi + 1], dtype=float),
        yl=np.asarray(yl[r_lo : r_hi + 1], dtype=float),
    )


# --------------------------------------------------------------------------- polygon edges


@dataclass
class _Edges:
    """Polygon edges in absolute and local (relative to the polygon's corner) coordinates.

    ``sign`` is +1 where the edge runs counter-clockwise around the polygon's inside (outer
    rings counter-clockwise, holes clockwise), else -1.
    """

    poly: np.ndarray
    xa: np.ndarray
    ya: np.ndarray
    xb: np.ndarray
    yb: np.ndarray
    ox: np.ndarray  # origin of each polygon
    oy: np.ndarray
    sign: np.ndarray

    def local(self, v: np.ndarray, axis: int, idx: np.ndarray) -> np.ndarray:
        """Absolute coordinates `v` of edges `idx` relative to their polygon's corner."""
        origin = self.ox if axis == 0 else self.oy
        return v - origin[self.poly[idx]]


def _edges(geoms: np.ndarray, keep: np.ndarray) -> _Edges:
    """The edges of polygons `geoms[keep]` (numbered as in `geoms`) with their orientation."""
    parts, part_of = shapely.get_parts(geoms[keep], return_index=True)
    part_of = keep[part_of]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    exterior = np.r_[True, ring_part[1:] != ring_part[:-1]]
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    poly_of_ring = part_of[ring_part]
    bounds = shapely.bounds(geoms)
    ox, oy = bounds[:, 0], bounds[:, 1]
    same = ring[1:] == ring[:-1]
    a, b = np.flatnonzero(same), np.flatnonzero(same) + 1
    poly = poly_of_ring[ring[a]]
    xa, ya, xb, yb = coords[a, 0], coords[a, 1], coords[b, 0], coords[b, 1]
    # ring orientation from its shoelace sum (local coordinates: exact enough)
    lx, ly = xa - ox[poly], ya - oy[poly]
    lxb, lyb = xb - ox[poly], yb - oy[poly]
    twice = np.bincount(ring[a], weights=lx * lyb - lxb * ly, minlength=len(rings))
    ccw = twice > 0
    sign = np.where(ccw == exterior, 1.0, -1.0)[ring[a]]
    return _Edges(poly=poly, xa=xa, ya=ya, xb=xb, yb=yb, ox=ox, oy=oy, sign=sign)


def _line_crossings(
    pos0: np.ndarray, pos1: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every line crossed by segments going from cell `pos0` to cell `pos1`, in travel order.

    Cell ``i`` lies between lines ``i`` and ``i + 1``. Returns, per crossing, the segment, its
    number ``k`` along the segment (1, 2, ...) and the line crossed.
    """
    n = np.abs(pos1 - pos0)
    step = np.sign(pos1 - pos0)
    seg = np.repeat(np.arange(len(pos0)), n)
    k = np.arange(1, len(seg) + 1) - np.repeat(np.cumsum(n) - n, n)
    line = pos0[seg] + step[seg] * k + (step[seg] < 0)
    return seg, k, line


@dataclass
class _Pieces:
    """Straight pieces of polygon edges (local coordinates), each within one column or cell."""

    edge: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    col: np.ndarray
    row: np.ndarray | None = None


def _cut(
    seg: np.ndarray,
    k: np.ndarray,
    n: np.ndarray,
    ends: tuple[np.ndarray, ...],
    at: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segments cut at their crossings: (segment, number j, x0, y0, x1, y1) of every part.

    `ends` are the segments' (x0, y0, x1, y1); `at` the crossing points (x, y) in travel order,
    crossing ``k`` of segment ``seg`` being the end of part ``k - 1`` and the start of part ``k``.
    """
    x0, y0, x1, y1 = ends
    cx, cy = at
    parts = n + 1
    part_seg = np.repeat(np.arange(len(x0)), parts)
    first_part = np.cumsum(parts) - parts
    j = np.arange(len(part_seg)) - first_part[part_seg]
    # crossing k of segment s is stored at position (first crossing of s) + k - 1
    first_cross = np.cumsum(n) - n
    c_start = first_cross[part_seg] + j - 1  # crossing that starts part j (j >= 1)
    c_end = first_cross[part_seg] + j  # crossing that ends part j (j < n)
    last = j == n[part_seg]
    top = max(len(cx) - 1, 0)
    cs, ce = np.clip(c_start, 0, top), np.clip(c_end, 0, top)
    has = len(cx) > 0
    px0 = np.where(j == 0, x0[part_seg], cx[cs] if has else 0.0)
    py0 = np.where(j == 0, y0[part_seg], cy[cs] if has else 0.0)
    px1 = np.where(last, x1[part_seg], cx[ce] if has else 0.0)
    py1 = np.where(last, y1[part_seg], cy[ce] if has else 0.0)
    return part_seg, j, px0, py0, px1, py1


def _split_columns(edges: _Edges, region: _Region) -> _Pieces:
    """The edges cut at the column lines they cross (each part within one column)."""
    ca, cb = region.col_of(edges.xa), region.col_of(edges.xb)
    seg, k, line = _line_crossings(ca, cb)
    idx = np.arange(len(edges.xa))
    xa, ya = edges.local(edges.xa, 0, idx), edges.local(edges.ya, 1, idx)
    xb, yb = edges.local(edges.xb, 0, idx), edges.local(edges.yb, 1, idx)
    cx = region.xl[line] - edges.ox[edges.poly[seg]]  # exactly the line
    t = (cx - xa[seg]) / (xb[seg] - xa[seg])
    cy = ya[seg] + t * (yb[seg] - ya[seg])
    part_seg, j, x0, y0, x1, y1 = _cut(seg, k, np.abs(cb - ca), (xa, ya, xb, yb), (cx, cy))
    col = ca[part_seg] + np.sign(cb - ca)[part_seg] * j
    return _Pieces(edge=part_seg, x0=x0, y0=y0, x1=x1, y1=y1, col=col)


def _split_rows(
    pieces: _Pieces, edges: _Edges, region: _Region
) -> tuple[_Pieces, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Column parts cut at the row lines they cross: cell parts, and the crossings.

    The crossings (polygon, line, local x) of every row line are those the even-odd rule
    counts along it: a part crosses line i when one end is at or above it and the other below.
    """
    poly = edges.poly[pieces.edge]
    oy = edges.oy[poly]
    ra, rb = region.row_of(pieces.y0 + oy), region.row_of(pieces.y1 + oy)
    seg, k, line = _line_crossings(ra, rb)
    cy = region.yl[line] - oy[seg]
    x0, y0, x1, y1 = pieces.x0, pieces.y0, pieces.x1, pieces.y1
    t = (cy - y0[seg]) / (y1[seg] - y0[seg])
    cx = x0[seg] + t * (x1[seg] - x0[seg])
    part_seg, j, px0, py0, px1, py1 = _cut(seg, k, np.abs(rb - ra), (x0, y0, x1, y1), (cx, cy))
    row = ra[part_seg] + np.sign(rb - ra)[part_seg] * j
    cells = _Pieces(
        edge=pieces.edge[part_seg], x0=px0, y0=py0, x1=px1, y1=py1,
        col=pieces.col[part_seg], row=row,
    )  # fmt: skip
    return cells, (poly[seg], line, cx)


# --------------------------------------------------------------------------- area overlaps


def grid_overlaps(
    grid: TileGrid, polygons: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Overlap of every tile with every polygon (area CRS), as tile, polygon and area share.

    Parameters
    ----------
    grid
        The tiles' cells (:func:`tile_grid`).
    polygons
        Polygons in the area CRS (shapely objects).

    Returns
    -------
    tile, polygon, share
        Row positions of the tiles and polygons, ordered by tile then polygon, and the share
        of the tile's area inside the polygon (only pairs with a positive share); None when
        two tiles share a cell (the caller then overlays their geometries).
    """
    setup = _setup(grid, polygons)
    if setup is None:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp), np.zeros(0)
    region, edges, tiles = setup
    if not tiles.distinct:
        return None
    cells, crossings = _split_rows(_split_columns(edges, region), edges, region)
    cr = _top_line_crossings(crossings, region, edges)
    boundary = _cell_areas(cells, edges, region, tiles, cr)
    runs = _interior_runs(edges, region, cr)
    return tiles.pairs(boundary, runs, len(polygons))


def _setup(grid: TileGrid, polygons: np.ndarray) -> tuple[_Region, _Edges, _TileIndex] | None:
    """The region of the grid the polygons cover, their edges and the tiles' index."""
    ok = ~(shapely.is_missing(polygons) | shapely.is_empty(polygons))
    keep = np.flatnonzero(ok)
    if not len(keep) or not len(grid.col):
        return None
    b = shapely.bounds(polygons[keep])
    region = _region(grid, np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()]))
    if region is None:
        return None
    return region, _edges(polygons, keep), _TileIndex(grid, region)


@dataclass
class _Crossings:
    """Where polygons cross the top lines of the region's rows, sorted by polygon, line, x.

    ``x`` is local (relative to the polygon's corner), ``col`` the column holding it.
    """

    poly: np.ndarray
    line: np.ndarray
    x: np.ndarray
    col: np.ndarray


@dataclass
class _Cells:
    """Boundary cells holding a tile: polygon, column, row and the polygon's area there."""

    poly: np.ndarray
    col: np.ndarray
    row: np.ndarray
    area: np.ndarray


def _top_line_crossings(
    crossings: tuple[np.ndarray, np.ndarray, np.ndarray], region: _Region, edges: _Edges
) -> _Crossings:
    """The crossings of the rows' top lines (line i is the top of row i), sorted along each."""
    poly, line, x = crossings
    on_top = line < region.nr
    poly, line, x = poly[on_top], line[on_top], x[on_top]
    order = np.lexsort((x, line, poly))
    poly, line, x = poly[order], line[order], x[order]
    col = region.col_of(x + edges.ox[poly])
    return _Crossings(poly=poly, line=line, x=x, col=col)


def _cell_areas(
    cells: _Pieces, edges: _Edges, region: _Region, tiles: _TileIndex, cr: _Crossings
) -> _Cells:
    """Area of each polygon in each boundary cell that holds a tile (Green's theorem)."""
    row = cells.row if cells.row is not None else np.zeros(0, dtype=np.int64)
    inside = (cells.col >= 0) & (cells.col < region.nc) & (row >= 0) & (row < region.nr)
    inside[inside] = tiles.occupied(row[inside], cells.col[inside])
    at = np.flatnonzero(inside)
    col, row, edge = cells.col[at], row[at], cells.edge[at]
    poly = edges.poly[edge]
    bottom = region.yl[row + 1] - edges.oy[poly]
    x0, y0, x1, y1 = cells.x0[at], cells.y0[at], cells.x1[at], cells.y1[at]
    contrib = -((y0 + y1) / 2.0 - bottom) * (x1 - x0) * edges.sign[edge]
    # sum by cell in piece order (the same sums whatever else the region holds)
    key = (poly.astype(np.int64) * region.nr + row) * region.nc + col
    order = np.argsort(key, kind="stable")
    new_cell = _starts(key[order])
    inverse = np.empty(len(key), dtype=np.intp)
    inverse[order] = np.cumsum(new_cell) - 1
    first = order[new_cell]
    s = np.bincount(inverse, weights=contrib, minlength=len(first))
    c_poly, c_row, c_col = poly[first], row[first], col[first]
    top = _top_inside(cr, region, edges, c_poly, c_row, c_col)
    height = region.yl[c_row] - region.yl[c_row + 1]
    return _Cells(poly=c_poly, col=c_col, row=c_row, area=s + height * top)


def _top_inside(
    cr: _Crossings,
    region: _Region,
    edges: _Edges,
    poly: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
) -> np.ndarray:
    """Length of each cell's top side inside its polygon (even-odd along the top line).

    The cells come sorted by (polygon, row, column), so every search below runs in order.
    """
    width = region.nc + 2  # crossing columns run from -1 to nc
    keys = (cr.poly.astype(np.int64) * region.nr + cr.line) * width + (cr.col + 1)
    q = (poly.astype(np.int64) * region.nr + row) * width
    group = np.searchsorted(keys, q, side="left")  # first crossing of the line
    k0 = np.searchsorted(keys, q + col + 1, side="left")
    k1 = np.searchsorted(keys, q + col + 1, side="right")
    m = k1 - k0  # crossings within the top side
    left = region.xl[col] - edges.ox[poly]
    right = region.xl[col + 1] - edges.ox[poly]
    # the side is cut into m + 1 segments; segment j is inside when an odd number of
    # crossings lies west of it
    cell = np.repeat(np.arange(len(poly)), m + 1)
    j = np.arange(len(cell)) - np.repeat(np.cumsum(m + 1) - (m + 1), m + 1)
    top = max(len(cr.x) - 1, 0)
    has = len(cr.x) > 0
    west = np.clip(k0[cell] + j - 1, 0, top)  # crossing before segment j (none for j = 0)
    east = np.clip(k0[cell] + j, 0, top)  # crossing after it (none for j = m)
    lo = np.where(j == 0, left[cell], cr.x[west] if has else 0.0)
    hi = np.where(j == m[cell], right[cell], cr.x[east] if has else 0.0)
    lo = np.clip(lo, left[cell], right[cell])
    hi = np.clip(hi, left[cell], right[cell])
    odd = ((k0 - group)[cell] + j) % 2 == 1
    return np.bincount(cell, weights=np.where(odd, hi - lo, 0.0), minlength=len(poly))


def _starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Mask of the first of each run of equal values in a sorted array.

    (``np.unique`` is avoided: on int64 it is hundreds of times slower in NumPy 2.4.)
    """
    return (
        np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
        if len(sorted_keys)
        else np.zeros(0, dtype=bool)
    )


def _pairs_along(keys: np.ndarray) -> np.ndarray:
    """Positions of the entry crossings (0th, 2nd, ... of each line): each exit follows."""
    if not len(keys):
        return np.zeros(0, dtype=np.intp)
    start = _starts(keys)
    idx = np.arange(len(keys))
    rank = idx - np.maximum.accumulate(np.where(start, idx, 0))
    a = np.flatnonzero(rank % 2 == 0)
    a = a[a + 1 < len(keys)]
    return a[keys[a + 1] == keys[a]]


def _interior_runs(
    edges: _Edges, region: _Region, cr: _Crossings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs of cells whose top side lies wholly inside a polygon: (polygon, row, first, last)."""
    a = _pairs_along(cr.poly.astype(np.int64) * region.nr + cr.line)
    poly, row = cr.poly[a], cr.line[a]
    first = np.searchsorted(region.xl, cr.x[a] + edges.ox[poly], side="left")
    last = np.searchsorted(region.xl, cr.x[a + 1] + edges.ox[poly], side="right") - 2
    first, last = np.maximum(first, 0), np.minimum(last, region.nc - 1)
    ok = first <= last
    return poly[ok], row[ok], first[ok], last[ok]


class _TileIndex:
    """The tiles sorted by cell (and a bitmap of the cells holding one, where it is small)."""

    _BITMAP_CELLS = 1 << 30  # at most 128 MB of bits

    def __init__(self, grid: TileGrid, region: _Region) -> None:
        c = grid.col - region.c0
        r = grid.row - region.r0
        inside = (c >= 0) & (c < region.nc) & (r >= 0) & (r < region.nr)
        key = np.where(inside, r * region.nc + c, -1)
        self.order = np.argsort(key)
        self.keys = key[self.order]
        self.region = region
        same = self.keys[1:] == self.keys[:-1]
        #: Whether no two tiles share a cell (else the caller overlays geometries).
        self.distinct = not (same & (self.keys[1:] >= 0)).any()
        self.bits: np.ndarray | None = None
        n_cells = region.nc * region.nr
        if n_cells <= self._BITMAP_CELLS and self.distinct:
            used = self.keys[self.keys >= 0]  # sorted; one tile per cell
            byte = used >> 3
            starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
            self.bits = np.zeros(n_cells // 8 + 1, dtype=np.uint8)
            flags = np.left_shift(1, used & 7).astype(np.uint8)
            self.bits[byte[starts]] = np.bitwise_or.reduceat(flags, starts) if len(used) else 0

    def occupied(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Whether each cell holds a tile."""
        key = row.astype(np.int64) * self.region.nc + col
        if self.bits is not None:
            return ((self.bits[key >> 3] >> (key & 7).astype(np.uint8)) & 1).astype(bool)
        order = np.argsort(key)
        at = np.minimum(np.searchsorted(self.keys, key[order]), len(self.keys) - 1)
        out = np.empty(len(key), dtype=bool)
        out[order] = self.keys[at] == key[order]
        return out

    def of_cells(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Tile of each cell (-1 where none); searched in cell order."""
        key = row.astype(np.int64) * self.region.nc + col
        order = np.argsort(key)
        at = np.minimum(np.searchsorted(self.keys, key[order]), len(self.keys) - 1)
        out = np.empty(len(key), dtype=np.int64)
        out[order] = np.where(self.keys[at] == key[order], self.order[at], -1)
        return out

    def of_runs(
        self, row: np.ndarray, first: np.ndarray, last: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tiles within each run of cells of a row: (run, tile); searched in cell order."""
        base = row.astype(np.int64) * self.region.nc
        order = np.argsort(base + first)
        lo = np.empty(len(row), dtype=np.intp)
        hi = np.empty(len(row), dtype=np.intp)
        lo[order] = np.searchsorted(self.keys, (base + first)[order], side="left")
        hi[order] = np.searchsorted(self.keys, (base + last)[order], side="right")
        n = hi - lo
        run = np.repeat(np.arange(len(row)), n)
        offset = np.arange(len(run)) - np.repeat(np.cumsum(n) - n, n)
        return run, self.order[lo[run] + offset]

    def pairs(
        self,
        cells: _Cells,
        runs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        n_polygons: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tile, polygon, share) of boundary cells and interior runs, ordered by tile, polygon."""
        region = self.region
        b_tile = self.of_cells(cells.row, cells.col)
        c, r = cells.col, cells.row
        cell_area = (region.xl[c + 1] - region.xl[c]) * (region.yl[r] - region.yl[r + 1])
        width = np.int64(max(n_polygons, 1))
        b_key = b_tile * width + cells.poly
        b_share = cells.area / cell_area
        r_poly, r_row, r_first, r_last = runs
        run, i_tile = self.of_runs(r_row, r_first, r_last)
        # a boundary cell inside a run (a hole or a bay below its top side) keeps its area
        keys = np.concatenate([i_tile * width + r_poly[run], b_key])
        keys.sort()
        keys = keys[_starts(keys)]
        share = np.ones(len(keys))
        order = np.argsort(b_key)
        share[np.searchsorted(keys, b_key[order])] = b_share[order]
        keep = share > 0
        keys, share = keys[keep], share[keep]
        return (keys // width).astype(np.intp), (keys % width).astype(np.intp), share


# --------------------------------------------------------------------------- centroids


def grid_centroids(grid: TileGrid, polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The polygon holding each tile's centre (area CRS): tile, polygon, ordered by tile.

    A centre inside several polygons (or on a shared border) goes to the first polygon listed,
    as a spatial join would; tiles whose centre is in no polygon are left out. None when two
    tiles share a cell.
    """
    setup = _setup(grid, polygons)
    if setup is None:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    region, edges, tiles = setup
    if not tiles.distinct:
        return None
    xm = (region.xl[:-1] + region.xl[1:]) / 2.0  # cell centres, west to east
    centres = _Region(
        c0=region.c0, r0=region.r0, xl=region.xl, yl=(region.yl[:-1] + region.yl[1:]) / 2.0
    )
    cr = _centre_crossings(edges, centres)
    # runs of centres between an entry and an exit along each row's centre line
    a = _pairs_along(cr.poly.astype(np.int64) * region.nr + cr.line)
    poly, row = cr.poly[a], cr.line[a]
    first = np.searchsorted(xm, cr.x[a] + edges.ox[poly], side="left")
    last = np.searchsorted(xm, cr.x[a + 1] + edges.ox[poly], side="right") - 1
    first, last = np.maximum(first, 0), np.minimum(last, region.nc - 1)
    ok = first <= last
    run, tile = tiles.of_runs(row[ok], first[ok], last[ok])
    poly = poly[ok][run]
    # centres near a boundary: GEOS decides, on the tile's own centroid
    n_row, n_col = _near_centres(edges, centres, xm)
    near = n_row >= 0
    near[near] = tiles.occupied(n_row, n_col)
    doubt = tiles.of_cells(n_row[near], n_col[near])
    in_doubt = np.zeros(len(grid.col), dtype=bool)
    in_doubt[doubt[doubt >= 0]] = True
    doubt = np.flatnonzero(in_doubt)
    sure = ~in_doubt[tile]
    width = np.int64(max(len(polygons), 1))
    keys = tile[sure] * width + poly[sure]
    if len(doubt):
        d_tile, d_poly = _geos_centroids(grid, region, doubt, polygons, edges)
        keys = np.concatenate([keys, d_tile * width + d_poly])
    keys.sort()
    tile = keys // width
    first_of_tile = _starts(tile)
    return tile[first_of_tile].astype(np.intp), (keys[first_of_tile] % width).astype(np.intp)


def _centre_crossings(edges: _Edges, centres: _Region) -> _Crossings:
    """Crossings of the rows' centre lines (line i through the centres of row i), sorted."""
    ra, rb = centres.row_of(edges.ya), centres.row_of(edges.yb)
    seg, _, line = _line_crossings(ra, rb)
    idx = np.arange(len(edges.xa))
    xa, ya = edges.local(edges.xa, 0, idx), edges.local(edges.ya, 1, idx)
    xb, yb = edges.local(edges.xb, 0, idx), edges.local(edges.yb, 1, idx)
    poly = edges.poly[seg]
    cy = centres.yl[line] - edges.oy[poly]
    t = (cy - ya[seg]) / (yb[seg] - ya[seg])
    cx = xa[seg] + t * (xb[seg] - xa[seg])
    order = np.lexsort((cx, line, poly))
    return _Crossings(
        poly=poly[order], line=line[order], x=cx[order], col=np.zeros(0, dtype=np.intp)
    )


def _near_centres(edges: _Edges, centres: _Region, xm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells (row, column) whose centre lies within the tolerance of a polygon's edge.

    For each edge and each centre line within the tolerance of its y-range, the stretch of
    the edge within the tolerance band of that line gives the centres to check.
    """
    tol = CENTROID_TOLERANCE_M
    idx = np.arange(len(edges.xa))
    xa, ya = edges.local(edges.xa, 0, idx), edges.local(edges.ya, 1, idx)
    xb, yb = edges.local(edges.xb, 0, idx), edges.local(edges.yb, 1, idx)
    # centre lines (decreasing y) within [min y - tol, max y + tol] of each edge
    first = np.searchsorted(-centres.yl, -(np.maximum(edges.ya, edges.yb) + tol), side="left")
    last = np.searchsorted(-centres.yl, -(np.minimum(edges.ya, edges.yb) - tol), side="right") - 1
    n = np.maximum(last - first + 1, 0)
    e = np.repeat(idx, n)
    row = first[e] + (np.arange(len(e)) - np.repeat(np.cumsum(n) - n, n))
    poly = edges.poly[e]
    yc = centres.yl[row] - edges.oy[poly]
    dy = yb[e] - ya[e]
    flat = dy == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t0 = np.where(flat, 0.0, (yc - tol - ya[e]) / np.where(flat, 1.0, dy))
        t1 = np.where(flat, 1.0, (yc + tol - ya[e]) / np.where(flat, 1.0, dy))
    t_lo = np.clip(np.minimum(t0, t1), 0.0, 1.0)
    t_hi = np.clip(np.maximum(t0, t1), 0.0, 1.0)
    xs0 = xa[e] + t_lo * (xb[e] - xa[e])
    xs1 = xa[e] + t_hi * (xb[e] - xa[e])
    ox = edges.ox[poly]
    c_first = np.searchsorted(xm, np.minimum(xs0, xs1) + ox - tol, side="left")
    c_last = np.searchsorted(xm, np.maximum(xs0, xs1) + ox + tol, side="right") - 1
    m = np.maximum(c_last - c_first + 1, 0)
    k = np.repeat(np.arange(len(e)), m)
    col = c_first[k] + (np.arange(len(k)) - np.repeat(np.cumsum(m) - m, m))
    return row[k], col


def _geos_centroids(
    grid: TileGrid, region: _Region, tiles: np.ndarray, polygons: np.ndarray, edges: _Edges
) -> tuple[np.ndarray, np.ndarray]:
    """(tile, polygon) of `tiles` by GEOS: their squares' centroids against the polygons."""
    c = grid.col[tiles] - region.c0
    r = grid.row[tiles] - region.r0
    boxes = shapely.box(region.xl[c], region.yl[r + 1], region.xl[c + 1], region.yl[r])
    keep = np.flatnonzero(np.bincount(edges.poly, minlength=len(polygons)))
    it, ip = STRtree(polygons[keep]).query(shapely.centroid(boxes), predicate="intersects")
    return tiles[it], keep[ip]

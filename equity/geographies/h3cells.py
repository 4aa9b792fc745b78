"""H3 cells: which cells cover or come near polygons, their hexagons, their string ids.

H3 has no batch polygon fill, so covering calls it once per polygon (the only Python loop
over features); everything after works on arrays of 64-bit cell indexes, turned into the
15-hex-digit strings (:func:`h3_strings`) once.
"""

from __future__ import annotations

import itertools

import h3
import numpy as np
import shapely
from shapely import STRtree

from equity.errors import SchemaError
from equity.geographies._crs import _to_area_crs


def _check_resolution(resolution: int) -> None:
    """Refuse an H3 resolution outside 0..15."""
    if not 0 <= resolution <= 15:
        msg = f"H3 resolution must be between 0 and 15; got {resolution!r}"
        raise SchemaError(msg)


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

    A cell overlapping a polygon either has its centre in it (H3's centre fill) or is
    crossed by its boundary (:func:`_boundary_cells`, a superset: cells that only come near
    are dropped by the overlay). With `tiling` (the polygons tile an area, as block groups
    do) only the boundaries of the polygons on the outside of the union are sampled: a cell
    crossing an inner boundary has its centre in one of the polygons.
    """
    _check_resolution(resolution)
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
        # one C call per polygon: h3 has no batch polygon fill. The classic centre fill is
        # several times faster than the experimental overlap fill; the cells an outer
        # polygon's boundary crosses come from samples along it (see _boundary_cells).
        # Cells are handled as integers (their unique is ten times faster than on strings)
        # and turned into strings once, in the same order (fixed-width hexadecimal sorts as
        # the integers)
        found.append(_centre_cells(geoms_4326[big], resolution))
        edge_rows = big[outer[big]]
        if len(edge_rows):
            found.append(_boundary_cells(geoms_4326[edge_rows], resolution, edge))
    found = [c for c in found if len(c)]
    if not found:
        return np.zeros(0, dtype=np.uint64 if as_int else "<U15")
    cells = np.unique(np.concatenate(found))
    return cells if as_int else h3_strings(cells)


def _centre_cells(geoms_4326: np.ndarray, resolution: int) -> np.ndarray:
    """Cells (64-bit integers) whose centres lie in the polygons: H3's centre fill of each
    polygon part, its rings taken from coordinate arrays (as ``h3.geo_to_h3shape`` gives
    them, without building GeoJSON dicts), the cells kept as arrays."""
    import h3.api.numpy_int as h3n

    parts = shapely.get_parts(geoms_4326)
    rings, part_of_ring = shapely.get_rings(parts, return_index=True)
    xy, ring_of_xy = shapely.get_coordinates(rings, return_index=True)
    ring_starts = np.searchsorted(ring_of_xy, np.arange(len(rings) + 1))
    part_starts = np.searchsorted(part_of_ring, np.arange(len(parts) + 1))
    latlng = xy[:, ::-1]
    out = []
    for p in range(len(parts)):
        loops = [
            latlng[ring_starts[r] : ring_starts[r + 1]].tolist()
            for r in range(part_starts[p], part_starts[p + 1])
        ]
        if loops:
            out.append(h3n.h3shape_to_cells(h3.LatLngPoly(*loops), resolution))
    return np.concatenate(out).astype(np.uint64) if out else np.zeros(0, dtype=np.uint64)


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

    ring = _boundary_cells(geoms_4326, resolution, edge_m)
    # centre fill of each part's exterior ring (holes ignored: a superset is fine, the exact
    # overlaps are computed later); LatLngPoly from arrays is faster than geo_to_h3shape
    rings = shapely.get_exterior_ring(shapely.get_parts(geoms_4326))
    xy, idx = shapely.get_coordinates(rings, return_index=True)
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    centre = [
        h3i.h3shape_to_cells(h3.LatLngPoly(part.tolist()), resolution)
        for part in np.split(xy[:, ::-1], starts[1:])
    ]
    return np.unique(
        np.concatenate([ring, np.fromiter(itertools.chain.from_iterable(centre), dtype=np.uint64)])
    )


def _boundary_cells(geoms_4326: np.ndarray, resolution: int, edge_m: float) -> np.ndarray:
    """Cells (64-bit integers) that the polygons' boundaries may cross: a superset.

    The boundary is sampled at most every shortest H3 edge length; any point of a cell
    crossed by the boundary is then closer to a sample (half that) than the thickness of the
    ring of cells around the sample's cell (at least one edge), so the crossed cell is that
    cell or one of its neighbours (``grid_disk(cell, 1)``).
    """
    import h3.api.basic_int as h3i

    # samples every e_min degrees-of-latitude-length: a boundary point is at most e_min / 2
    # from a sample, less than the ring's thickness (e_min); H3 edges at one resolution are
    # within about +-40% of the average
    step_deg = 0.6 * edge_m / 111_320.0
    pts = shapely.get_coordinates(shapely.segmentize(shapely.boundary(geoms_4326), step_deg))
    to_cell = h3i.latlng_to_cell
    lon, lat = pts[:, 0].tolist(), pts[:, 1].tolist()
    sample = np.unique(
        np.fromiter(
            (to_cell(y, x, resolution) for x, y in zip(lon, lat, strict=True)),
            dtype=np.uint64,
            count=len(pts),
        )
    )
    return np.unique(
        np.fromiter(
            itertools.chain.from_iterable(h3i.grid_disk(int(c), 1) for c in sample.tolist()),
            dtype=np.uint64,
        )
    )


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
    n, flat = _boundary_vertices(cells)
    lat, lng = flat[:, 0], flat[:, 1]
    starts = np.cumsum(n) - n
    six = n == 6
    rows = starts[six][:, None] + np.arange(6)
    result = []
    for area_crs in projections:
        x, y = _to_area_crs(lng, lat) if area_crs else (lng, lat)
        xy = np.column_stack([x, y])
        out = np.empty(len(cells), dtype=object)
        if len(cells) and six.all():  # no pentagon: the vertices are already six per cell, in order
            hexes = xy.reshape(-1, 6, 2)
            out[:] = shapely.polygons(
                shapely.linearrings(np.concatenate([hexes, hexes[:, :1]], axis=1))
            )
        elif six.any():
            closed = np.ascontiguousarray(np.concatenate([xy[rows], xy[rows[:, :1]]], axis=1))
            out[six] = shapely.polygons(shapely.linearrings(closed))
        for i in np.flatnonzero(~six):  # the 12 pentagons per resolution
            out[i] = shapely.Polygon(xy[starts[i] : starts[i] + n[i]])
        result.append(out)
    return result


def _boundary_vertices(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of H3 cells: the count of each cell's and one ``(lat, lng)`` array of all.

    64-bit cells are turned into vertices in one vectorised call where h3ronpy is installed
    (Rust, two to three times faster than one ``h3.cell_to_boundary`` call per cell, which
    the street level makes over a million times for a state); its vertices agree with H3's to
    within 1e-12 degrees (a few nanometres). String ids give the vertices of their 64-bit
    cells. Cells that are not plain hexagons (pentagons, cells with distortion vertices on an
    icosahedron edge) take ``h3.cell_to_boundary`` per cell.
    """
    if cells.dtype.kind != "u" and len(cells):  # string ids: the same vertices as their ints
        cells = np.fromiter((int(c, 16) for c in cells.tolist()), dtype=np.uint64, count=len(cells))
    fast = _h3ronpy_hexagons(cells) if len(cells) else None
    if fast is None:
        return _h3_vertices(cells)
    six, flat6 = fast
    if six.all():
        return np.full(len(cells), 6, dtype=np.intp), flat6
    n_rest, flat_rest = _h3_vertices(cells[~six])
    n = np.full(len(cells), 6, dtype=np.intp)
    n[~six] = n_rest
    owner = np.repeat(np.arange(len(cells)), n)
    flat = np.empty((int(n.sum()), 2))
    flat[six[owner]] = flat6
    flat[~six[owner]] = flat_rest
    return n, flat


def _h3_vertices(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_boundary_vertices` by ``h3.cell_to_boundary``, one call per cell."""
    if cells.dtype.kind == "u":
        import h3.api.basic_int as h3i

        boundary = h3i.cell_to_boundary
    else:
        boundary = h3.cell_to_boundary
    rings = list(map(boundary, cells.tolist()))  # Python ints (or strings)
    n = np.fromiter(map(len, rings), dtype=np.intp, count=len(rings))
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.chain.from_iterable(rings)),
        dtype=float,
        count=2 * int(n.sum()),
    ).reshape(-1, 2)
    return n, flat


#: Bytes of a hexagon as little-endian WKB: byte order, type, ring count, point count, 7 points.
_WKB_HEXAGON = 1 + 4 + 4 + 4 + 7 * 16


def _h3ronpy_hexagons(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Which cells are plain hexagons, and their six ``(lat, lng)`` vertices each, by h3ronpy.

    None when h3ronpy is not installed. The vertices are those of the hexagons only, in the
    order of the cells.
    """
    try:
        import pyarrow as pa
        from h3ronpy.vector import cells_to_wkb_polygons
    except ImportError:  # pragma: no cover - h3ronpy is a dependency
        return None
    wkb = pa.array(cells_to_wkb_polygons(pa.array(cells, type=pa.uint64())))
    if wkb.null_count or wkb.offset:  # pragma: no cover - invalid cells are refused earlier
        return None
    width = np.int64 if pa.types.is_large_binary(wkb.type) else np.int32
    offsets = np.frombuffer(wkb.buffers()[1], dtype=width)[: len(wkb) + 1].astype(np.int64)
    data = np.frombuffer(wkb.buffers()[2], dtype=np.uint8)
    six = np.diff(offsets) == _WKB_HEXAGON  # a ring of seven points: six vertices
    if six.all():
        records = data[offsets[0] : offsets[-1]].reshape(len(cells), _WKB_HEXAGON)
    else:  # gathered in chunks (a byte index per byte of every record would be large)
        rows = offsets[:-1][six]
        step = np.arange(_WKB_HEXAGON)
        records = np.concatenate(
            [data[r[:, None] + step] for r in np.array_split(rows, len(rows) // 50_000 + 1)]
        )
    if not (records[:, 0] == 1).all():  # pragma: no cover - h3ronpy writes little-endian
        return None
    # the seven points (the ring closed) as (lng, lat); H3 gives six (lat, lng) vertices
    points = np.ascontiguousarray(records[:, 13:]).view("<f8").reshape(len(records), 7, 2)
    return six, np.ascontiguousarray(points[:, :6, ::-1]).reshape(-1, 2)

"""Street lines cut by the grid, each piece coloured from the one cell it lies in."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from equity.geographies._checks import _check_geo, _require_columns
from equity.geographies._crs import AREA_CRS, OUT_CRS

log = logging.getLogger(__name__)


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

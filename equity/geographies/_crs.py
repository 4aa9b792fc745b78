"""The two coordinate systems: equal-area EPSG:6933 for every area, EPSG:4326 for every output.

Projecting to the equal-area CRS has a fast path for axis-aligned lon/lat rectangles (Ookla
tiles), which stay rectangles there.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

#: Equal-area CRS of every area and overlay.
AREA_CRS = "EPSG:6933"
#: CRS of every GeoDataFrame returned.
OUT_CRS = "EPSG:4326"

_AREA_TRANSFORMER: list[Any] = []  # pyproj Transformer lon/lat -> AREA_CRS, made on first use


def _to_area_crs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not _AREA_TRANSFORMER:
        from pyproj import Transformer

        _AREA_TRANSFORMER.append(Transformer.from_crs(OUT_CRS, AREA_CRS, always_xy=True))
    return _AREA_TRANSFORMER[0].transform(x, y)


def _rectangles(geoms: np.ndarray) -> np.ndarray:
    """Mask of axis-aligned rectangles (Ookla tiles stay rectangles in EPSG:6933)."""
    is_poly = shapely.get_type_id(geoms) == 3
    five = shapely.get_num_coordinates(geoms) == 5
    box_area = np.prod(np.diff(shapely.bounds(geoms).reshape(-1, 2, 2), axis=1)[:, 0], axis=1)
    area = shapely.area(geoms)
    return is_poly & five & (np.abs(area - box_area) <= 1e-12 * box_area) & (area > 0)


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

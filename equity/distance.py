"""Distances on the sphere: the one home of great-circle distances and nearest-point queries.

Distances are great-circle (haversine) on a sphere of the mean Earth radius
(:data:`EARTH_RADIUS_KM`, 6,371.0088 km, IUGG), between points given in degrees of
longitude and latitude (EPSG:4326). Queries over many points use a k-d tree on unit vectors:
the chord between two unit vectors is a monotone function of their great-circle distance,
so nearest and within-radius answers are exact.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

__all__ = ["EARTH_RADIUS_KM", "chord_to_km", "haversine_km", "nearest_km", "unit_xyz"]

EARTH_RADIUS_KM = 6371.0088


def haversine_km(
    lon1: np.ndarray | float,
    lat1: np.ndarray | float,
    lon2: np.ndarray | float,
    lat2: np.ndarray | float,
) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (numpy broadcasting).

    Parameters
    ----------
    lon1, lat1
        Longitude and latitude of the first points (degrees).
    lon2, lat2
        Longitude and latitude of the second points (degrees).

    Returns
    -------
    numpy.ndarray
        Distances in km, of the broadcast shape of the inputs.

    Examples
    --------
    >>> round(float(haversine_km(-77.4, 37.5, -76.3, 36.9)), 1)  # Richmond to Norfolk
    118.1
    """
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Unit vectors (n, 3) of points given in degrees, for k-d tree queries on the sphere."""
    lon, lat = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def chord_to_km(chord: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) of a chord between unit vectors."""
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0))


def nearest_km(origins: gpd.GeoSeries, points: gpd.GeoSeries) -> np.ndarray:
    """Great-circle distance (km) from each origin to the nearest of `points` (a k-d tree on the sphere).

    Parameters
    ----------
    origins, points
        Point geometries in EPSG:4326.

    Returns
    -------
    numpy.ndarray
        One distance per origin; NaN when `points` is empty.
    """
    from scipy.spatial import cKDTree

    if len(points) == 0:
        return np.full(len(origins), np.nan)
    tree = cKDTree(unit_xyz(points.x.to_numpy(), points.y.to_numpy()))
    chord, _ = tree.query(unit_xyz(origins.x.to_numpy(), origins.y.to_numpy()))
    return chord_to_km(chord)

"""Distances on the sphere: the one home of great-circle distances and nearest-point queries.

Distances are great-circle (haversine) on a sphere of the mean Earth radius
(:data:`EARTH_RADIUS_KM`, 6,371.0088 km, IUGG), between points given in degrees of
longitude and latitude (EPSG:4326). Queries over many points use a k-d tree on unit vectors:
the chord between two unit vectors is a monotone function of their great-circle distance,
so nearest and within-radius answers are exact: :func:`pairs_within_km` confirms the pairs
whose chord lies within a hair of the radius with the haversine itself, so its answer is the
same as ``haversine_km(...) <= radius_km`` to the last bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

__all__ = [
    "EARTH_RADIUS_KM",
    "chord_to_km",
    "haversine_km",
    "iter_pairs_within_km",
    "km_to_chord",
    "nearest_km",
    "pairs_within_km",
    "unit_xyz",
]

EARTH_RADIUS_KM = 6371.0088

# Pairs whose chord distance lies within this many km of the radius are decided by the
# haversine itself. Both formulas agree to ~1e-12 km at everyday distances and to ~2e-4 km
# next to the antipode, where arcsin is ill-conditioned; 1 m covers both.
_EDGE_KM = 1e-3


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


def km_to_chord(km: np.ndarray | float) -> np.ndarray:
    """Chord between unit vectors of a great-circle distance (km); the inverse of :func:`chord_to_km`.

    Distances beyond half the circumference give the diameter (2); negative ones give 0.

    Examples
    --------
    >>> round(float(chord_to_km(km_to_chord(100.0))), 9)
    100.0
    """
    half = np.pi * EARTH_RADIUS_KM
    return 2.0 * np.sin(np.clip(np.asarray(km, dtype=float), 0.0, half) / (2.0 * EARTH_RADIUS_KM))


def _lonlat(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=float).reshape(-1, 2)


def _sphere_tree(lonlat: np.ndarray) -> cKDTree:
    """A k-d tree of the unit vectors of (n, 2) longitude/latitude points."""
    from scipy.spatial import cKDTree

    return cKDTree(unit_xyz(lonlat[:, 0], lonlat[:, 1]))


def iter_pairs_within_km(
    origins: np.ndarray,
    targets: np.ndarray,
    radius_km: float,
    *,
    block_pairs: int = 4_000_000,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The pairs of :func:`pairs_within_km`, one block of origins at a time (unsorted).

    The k-d tree of the targets is built once; each block holds as many origins as keep
    ``origins x targets`` within `block_pairs`, which bounds the memory a block's pairs can
    take however large the radius.

    Parameters
    ----------
    origins, targets
        Arrays (n, 2) and (m, 2) of longitude, latitude in degrees.
    radius_km
        Radius in km (inclusive).
    block_pairs
        Origin x target pairs per block.

    Yields
    ------
    i, j
        Integer arrays of equal length: origin and target positions (of the whole arrays).
    """
    o, t = _lonlat(origins), _lonlat(targets)
    radius = float(radius_km)
    t_ok = np.flatnonzero(np.isfinite(t).all(axis=1))
    if not radius >= 0 or len(t_ok) == 0:  # NaN or negative: haversine <= radius never holds
        return
    tree = _sphere_tree(t[t_ok])
    reach = float(km_to_chord(radius + _EDGE_KM)) * (1.0 + 1e-12) + 1e-15
    sure = float(km_to_chord(radius - _EDGE_KM)) if radius > _EDGE_KM else -1.0
    step = max(1, block_pairs // len(t_ok))
    for start in range(0, len(o), step):
        block = o[start : start + step]
        ok = np.flatnonzero(np.isfinite(block).all(axis=1))
        if len(ok) == 0:
            continue
        found = _sphere_tree(block[ok]).sparse_distance_matrix(tree, reach, output_type="ndarray")
        i, j = start + ok[found["i"]], t_ok[found["j"]]
        edge = np.flatnonzero(found["v"] > sure)  # within 1 m of the radius: ask the haversine
        near = haversine_km(o[i[edge], 0], o[i[edge], 1], t[j[edge], 0], t[j[edge], 1])
        keep = np.ones(len(i), dtype=bool)
        keep[edge] = near <= radius
        yield i[keep].astype(np.intp), j[keep].astype(np.intp)


def pairs_within_km(
    origins: np.ndarray, targets: np.ndarray, radius_km: float
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)`` with target ``j`` within `radius_km` of origin ``i`` (a k-d tree query).

    The answer is exactly ``haversine_km(origin_i, target_j) <= radius_km``: the tree finds the
    pairs whose chord is at most the chord of the radius (plus 1 m), and the pairs within 1 m of
    the edge are decided by :func:`haversine_km`. Points with a missing coordinate are in no
    pair; a radius of NaN or below 0 gives no pairs. :func:`iter_pairs_within_km` gives the
    same pairs block by block.

    Parameters
    ----------
    origins, targets
        Arrays (n, 2) and (m, 2) of longitude, latitude in degrees.
    radius_km
        Radius in km (inclusive).

    Returns
    -------
    i, j
        Integer arrays of equal length: origin and target positions, sorted by ``i`` then ``j``.

    Examples
    --------
    >>> o = np.array([[-77.4, 37.5], [-80.0, 40.0]])
    >>> t = np.array([[-76.3, 36.9], [-77.4, 37.5]])  # Norfolk (118 km from Richmond), Richmond
    >>> [a.tolist() for a in pairs_within_km(o, t, 120.0)]
    [[0, 0], [0, 1]]
    """
    m = len(_lonlat(targets))
    blocks = list(iter_pairs_within_km(origins, targets, radius_km))
    if not blocks:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    key = np.sort(np.concatenate([i.astype(np.int64) * m + j for i, j in blocks]))
    return (key // m).astype(np.intp), (key % m).astype(np.intp)


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
    if len(points) == 0:
        return np.full(len(origins), np.nan)
    tree = _sphere_tree(np.column_stack([points.x.to_numpy(), points.y.to_numpy()]))
    chord, _ = tree.query(unit_xyz(origins.x.to_numpy(), origins.y.to_numpy()))
    return chord_to_km(chord)

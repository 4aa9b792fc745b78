"""Web-mercator tile maths: the one home of quadkeys and tile coordinates.

Ookla's open data keys each zoom-16 web-mercator tile (~610 m at the equator) by a Bing-maps
quadkey: one digit 0-3 per zoom level, ``digit = x_bit + 2 * y_bit`` from the most
significant bit down. Tile ``x`` grows eastward from -180 degrees, ``y`` southward from
85.0511 degrees north.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from equity.errors import DataError

__all__ = [
    "OOKLA_ZOOM",
    "quadkey_to_bounds",
    "quadkey_to_xy",
    "quadkeys_from_xy",
    "tile_lat",
    "tile_lon",
    "tile_xy",
    "tiles_xy",
]

#: Zoom level of the Ookla open-data tiles (16-digit quadkeys).
OOKLA_ZOOM = 16


def tile_lon(tx: np.ndarray | float, zoom: int = OOKLA_ZOOM) -> np.ndarray:
    """Longitude (degrees) of the western edge of tile column `tx` at `zoom`."""
    return np.asarray(tx) / float(1 << zoom) * 360.0 - 180.0


def tile_lat(ty: np.ndarray | float, zoom: int = OOKLA_ZOOM) -> np.ndarray:
    """Latitude (degrees) of the northern edge of tile row `ty` at `zoom`."""
    return np.degrees(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * np.asarray(ty) / (1 << zoom)))))


def tile_xy(lon: float, lat: float, zoom: int = OOKLA_ZOOM) -> tuple[int, int]:
    """Column and row of the tile holding the point (`lon`, `lat`) at `zoom`.

    Examples
    --------
    >>> tile_xy(-77.4, 37.5)
    (18677, 25394)
    """
    n = 1 << zoom
    tx = math.floor((lon + 180.0) / 360.0 * n)
    s = math.sin(math.radians(lat))
    ty = math.floor((0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n)
    return tx, ty


def tiles_xy(
    lon: np.ndarray, lat: np.ndarray, zoom: int = OOKLA_ZOOM
) -> tuple[np.ndarray, np.ndarray]:
    """Columns and rows of the tiles holding the points (`lon`, `lat`) at `zoom`, vectorised.

    The formula of :func:`tile_xy` on arrays (64-bit integers).

    Examples
    --------
    >>> [v.tolist() for v in tiles_xy(np.array([-77.4, 0.0]), np.array([37.5, 0.0]))]
    [[18677, 32768], [25394, 32768]]
    """
    n = 1 << zoom
    tx = np.floor((np.asarray(lon, dtype=float) + 180.0) / 360.0 * n).astype(np.int64)
    s = np.sin(np.radians(np.asarray(lat, dtype=float)))
    ty = np.floor((0.5 - np.log((1 + s) / (1 - s)) / (4 * np.pi)) * n).astype(np.int64)
    return tx, ty


def quadkeys_from_xy(tx: np.ndarray, ty: np.ndarray, zoom: int = OOKLA_ZOOM) -> np.ndarray:
    """Bing quadkeys of tiles (`tx`, `ty`) at `zoom`, as a numpy array of str.

    Examples
    --------
    >>> quadkeys_from_xy([0, 1], [0, 1], zoom=1).tolist()
    ['0', '3']
    """
    tx = np.asarray(tx, dtype=np.int64)
    ty = np.asarray(ty, dtype=np.int64)
    digits = np.empty((tx.size, zoom), dtype=np.uint8)
    for i in range(zoom):  # one pass per zoom level, vectorised over tiles
        bit = zoom - 1 - i
        digits[:, i] = ((tx >> bit) & 1) + 2 * ((ty >> bit) & 1) + ord("0")
    return np.ascontiguousarray(digits).view(f"S{zoom}").ravel().astype(str)


def quadkey_to_xy(quadkeys: pd.Series | np.ndarray | list[str]) -> tuple[np.ndarray, ...]:
    """Tile column, row and zoom of each quadkey (they may differ in length).

    Raises
    ------
    DataError
        A quadkey holds characters other than 0-3.

    Examples
    --------
    >>> [a.tolist() for a in quadkey_to_xy(["0", "3", "03"])]
    [[0, 1, 1], [0, 1, 1], [1, 1, 2]]
    """
    q = np.asarray(quadkeys, dtype="U")
    n = len(q)
    x = np.zeros(n, dtype=np.int64)
    y = np.zeros(n, dtype=np.int64)
    lengths = np.char.str_len(q).astype(np.int64) if n else np.zeros(0, dtype=np.int64)
    for zoom in np.unique(lengths):
        sel = np.flatnonzero(lengths == zoom)
        if zoom == 0:
            continue
        # UCS4 code points of each character, one row per quadkey
        codes = np.asarray(q[sel], dtype=f"U{int(zoom)}").view(np.uint32)
        vals = codes.reshape(len(sel), int(zoom)).astype(np.int64) - ord("0")
        if ((vals < 0) | (vals > 3)).any():
            bad = q[sel][((vals < 0) | (vals > 3)).any(axis=1)][0]
            msg = f"quadkey {bad!r} holds characters other than 0-3"
            raise DataError(msg)
        weights = (1 << np.arange(int(zoom) - 1, -1, -1)).astype(np.int64)
        x[sel] = ((vals & 1).astype(np.int64) * weights).sum(axis=1)
        y[sel] = ((vals >> 1).astype(np.int64) * weights).sum(axis=1)
    return x, y, lengths


def quadkey_to_bounds(quadkeys: pd.Series | np.ndarray | list[str]) -> np.ndarray:
    """Longitude/latitude bounds of Bing-maps quadkeys, vectorised.

    Parameters
    ----------
    quadkeys
        Quadkeys (strings of digits 0-3); they may differ in length (zoom).

    Returns
    -------
    numpy.ndarray
        ``(n, 4)`` array of ``minx, miny, maxx, maxy`` in degrees (EPSG:4326).

    Raises
    ------
    DataError
        A quadkey holds characters other than 0-3.

    Examples
    --------
    >>> quadkey_to_bounds(["0", "3"]).round(4).tolist()
    [[-180.0, 0.0, 0.0, 85.0511], [0.0, -85.0511, 180.0, 0.0]]
    """
    x, y, zoom = quadkey_to_xy(quadkeys)
    out = np.full((len(x), 4), np.nan)
    for z in np.unique(zoom):
        if z == 0:
            continue
        sel = zoom == z
        xs, ys = x[sel], y[sel]
        out[sel] = np.column_stack(
            [
                tile_lon(xs, int(z)),
                tile_lat(ys + 1, int(z)),
                tile_lon(xs + 1, int(z)),
                tile_lat(ys, int(z)),
            ]
        )
    return out

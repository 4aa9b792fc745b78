"""A table as the page's data: prepared geometry, compact polygons and per-feature properties.

- geometry is simplified per layer (``shapely.coverage_simplify`` when the polygons form a
  coverage, so shared edges stay shared), quantised (5 decimals, about 1 m, or fewer for coarse
  levels) and delta-encoded: about half the size of GeoJSON text;
- the colour class, reliability and hot-spot category of each feature are one character each;
- tooltip numbers travel as rounded numbers, text as strings;
- everything is JSON that is safe inside ``<script>``: no value can close the element.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from equity.errors import DataError, SchemaError
from equity.maps.classify import RELIABILITY_LEVELS, _hotspot_codes, _reliability_codes
from equity.maps.formatting import _NUMBER_DISPLAY, _column_kind, _format, _numbers

__all__ = ["class_string", "encode_polygons", "safe_json"]

log = logging.getLogger(__name__)

# coverage_simplify (Visvalingam-Whyatt) tolerance per unit of Douglas-Peucker tolerance.
_COVERAGE_FACTOR = 3.0
# shapely type ids of Polygon and MultiPolygon.
_POLYGON_TYPES = (3, 6)


# --------------------------------------------------------------------------- geometry


def _auto_tolerance(geoms: np.ndarray) -> float:
    """Simplification tolerance (degrees): a fortieth of the median feature width."""
    areas = shapely.area(geoms)
    areas = areas[np.isfinite(areas) & (areas > 0)]
    if not len(areas):
        return 0.0
    return float(np.sqrt(np.median(areas)) / 40.0)


def _decimals_for(tolerance: float) -> int:
    """Decimal places so the rounding grid is at most half the tolerance (3 to 5)."""
    if tolerance <= 0:
        return 5
    return int(np.clip(math.ceil(-math.log10(tolerance / 2)), 3, 5))


def _unwrap_antimeridian(geoms: np.ndarray) -> np.ndarray:
    """Shift eastern longitudes by -360 when a western-hemisphere layer crosses 180 degrees.

    The Aleutians (Alaska) reach +179; without this the map would open on the whole world.
    """
    coords = shapely.get_coordinates(geoms)
    if not len(coords) or np.ptp(coords[:, 0]) <= 180 or np.median(coords[:, 0]) >= 0:
        return geoms
    return shapely.transform(geoms, lambda xy: np.where(xy[:, :1] > 0, xy - [360.0, 0.0], xy))


def _require_column(table: pd.DataFrame, column: str) -> None:
    """Raise :class:`~equity.errors.SchemaError` naming the columns if `column` is missing."""
    if column not in table.columns:
        msg = f"column {column!r} not in the table; columns are {', '.join(map(str, table.columns[:20]))}"
        raise SchemaError(msg)


def _polygon_rows(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Rows with non-empty polygon geometry, in EPSG:4326, and their geometry array."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"expected a GeoDataFrame, got {type(gdf).__name__}"
        raise DataError(msg)
    if gdf.crs is None:
        msg = "GeoDataFrame has no CRS; set one (EPSG:4326 for longitude/latitude)"
        raise DataError(msg)
    frame = gdf.to_crs(4326) if gdf.crs.to_epsg() != 4326 else gdf
    geoms = frame.geometry.to_numpy()
    keep = np.isin(shapely.get_type_id(geoms), _POLYGON_TYPES) & ~shapely.is_empty(geoms)
    dropped = int((~keep).sum())
    if dropped:
        log.info("maps: %d rows without polygon geometry are not drawn", dropped)
    if not keep.any():
        msg = "no polygon geometry to map"
        raise DataError(msg)
    return frame.loc[keep], geoms[keep]


def _simplify(geoms: np.ndarray, tolerance: float) -> tuple[np.ndarray, bool]:
    """Simplified geometries, and whether they were simplified as a coverage."""
    if tolerance <= 0:
        return geoms, False
    if len(geoms) > 1 and bool(shapely.coverage_is_valid(geoms)):
        # GEOS simplifies a coverage by Visvalingam-Whyatt: its tolerance removes far less
        # than Douglas-Peucker's at the same value; x3 gives a comparable result.
        return shapely.coverage_simplify(geoms, tolerance * _COVERAGE_FACTOR), True
    return shapely.simplify(geoms, tolerance, preserve_topology=True), False


def _prepare_geometry(
    gdf: gpd.GeoDataFrame, *, simplify: float | None, decimals: int | None
) -> tuple[gpd.GeoDataFrame, np.ndarray, int, bool]:
    """Rows with polygon geometry in EPSG:4326, their simplified geometry and the decimals.

    Returns the kept rows (a new frame), simplified geometries, decimals and whether the layer
    was simplified as a coverage.
    """
    frame, geoms = _polygon_rows(gdf)
    geoms = _unwrap_antimeridian(geoms)
    tol = _auto_tolerance(geoms) if simplify is None else float(simplify)
    geoms, coverage = _simplify(geoms, tol)
    dec = _decimals_for(tol) if decimals is None else int(decimals)
    return frame, geoms, dec, coverage


# --------------------------------------------------------------------------- encoding


def encode_polygons(geoms: np.ndarray, *, decimals: int) -> dict[str, Any]:
    """Encode polygons as quantised, delta-encoded integer rings for the JavaScript runtime.

    Parameters
    ----------
    geoms
        Polygon / MultiPolygon geometries (none empty or missing).
    decimals
        Decimal places kept (5 is about 1 m).

    Returns
    -------
    dict
        ``q`` (flat ints: x, y deltas), ``rl`` (points per ring, closing point dropped),
        ``pl`` (rings per polygon), ``gl`` (polygons per feature; None when all are 1),
        ``n`` (features) and ``s`` (scale).
    """
    geom_type, coords, offsets = shapely.to_ragged_array(geoms)
    if geom_type == shapely.GeometryType.POLYGON:
        ring_off, poly_off = offsets
        geom_off = np.arange(len(poly_off), dtype=np.int64)  # one polygon per feature
    else:
        ring_off, poly_off, geom_off = offsets
    scale = 10**decimals
    q = np.round(coords * scale).astype(np.int64)
    # Leaflet closes rings itself: drop each ring's repeated last point (a seventh of a hexagon).
    keep = np.ones(len(q), dtype=bool)
    keep[ring_off[1:] - 1] = False
    q = q[keep]
    ring_off = ring_off - np.arange(len(ring_off))
    delta = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))

    def lengths(off: np.ndarray) -> list[int] | None:
        n = np.diff(off)
        return None if bool(np.all(n == 1)) else n.tolist()

    return {
        "q": delta.ravel().tolist(),
        "rl": np.diff(ring_off).tolist(),
        "pl": lengths(poly_off),
        "gl": lengths(geom_off),
        "n": len(geom_off) - 1,
        "s": scale,
    }


def class_string(classes: np.ndarray) -> str:
    """Class indices (-1 = no data, 0..k-1) as one character each (``'0' + index``)."""
    codes = np.asarray(classes, dtype=np.int64) + 48
    return codes.astype(np.uint8).tobytes().decode("ascii")


def safe_json(value: Any) -> str:
    """JSON text safe to place inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c``... so no value can close the script or open a
    comment; U+2028/U+2029 are escaped for old JavaScript parsers. NaN is not valid JSON and
    must be replaced by ``None`` before calling.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


# --------------------------------------------------------------------------- properties


def _value_fields(
    frame: pd.DataFrame, columns: Sequence[str], *, labels: Mapping[str, str] | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """Tooltip fields: a column (numbers, formatted in the page) and its ``_lo``/``_hi`` interval.

    Numbers travel as rounded numbers, not strings, which keeps big layers small; text
    columns travel as strings, or as codes into their distinct values (``{"k": values,
    "c": codes}``) when values repeat (place, county and state names of street cells).
    """
    out: list[tuple[str, str, dict[str, Any]]] = []
    labels = labels or {}
    for col in columns:
        if col not in frame.columns:
            continue
        kind, _ = _column_kind(col)
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            out.append((col, labels.get(col, col), _text_field(frame[col])))
            continue
        _, decimals, suffix = _NUMBER_DISPLAY[kind]
        spec: dict[str, Any] = {"v": _numbers(frame[col], kind), "d": decimals, "u": suffix}
        label = labels.get(col, col)
        lo, hi = f"{col}_lo", f"{col}_hi"
        if lo in frame.columns and hi in frame.columns:
            spec["lo"] = _numbers(frame[lo], kind)
            spec["hi"] = _numbers(frame[hi], kind)
            label = f"{label} [90% interval]"
        out.append((col, label, spec))
    return out


def _text_field(values: pd.Series) -> dict[str, Any]:
    """A text tooltip field: the strings, or codes into the distinct strings when they
    repeat (-1: no data)."""
    text = _format(values, "text")
    codes, uniques = pd.factorize(pd.Series(text, dtype=object), use_na_sentinel=True)
    if 2 * len(uniques) > len(text):
        return {"t": text}
    return {"k": [str(u) for u in uniques], "c": codes.tolist()}


def _level_data(
    frame: gpd.GeoDataFrame,
    geoms: np.ndarray,
    decimals: int,
    *,
    name_column: str | None,
    fields: list[tuple[str, str, dict[str, Any]]],
    classes: dict[str, np.ndarray],
    reliability: pd.Series | None,
    hotspot: pd.Series | None,
) -> dict[str, Any]:
    """The JSON-able payload shared by all layers of one table."""
    data = encode_polygons(geoms, decimals=decimals)
    if name_column is not None and name_column in frame.columns:
        data["names"] = _format(frame[name_column], "text")
    else:
        data["names"] = [None] * len(frame)
    data["labels"] = {key: label for key, label, _ in fields}
    data["tips"] = {key: values for key, _, values in fields}
    data["classes"] = {key: class_string(c) for key, c in classes.items()}
    if reliability is not None:
        data["rel"] = class_string(_reliability_codes(reliability))
        data["relLabels"] = [*RELIABILITY_LEVELS]
    else:
        data["rel"] = None
    data["hot"] = class_string(_hotspot_codes(hotspot)) if hotspot is not None else None
    return data

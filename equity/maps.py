"""Interactive (folium/Leaflet) and static (matplotlib) maps of need, its reliability and candidates.

The HTML maps open anywhere: Leaflet is inlined from the installed ``xstatic-leaflet`` package and
no request leaves the page (basemap tiles are optional and off by default). They stay small and
fast with tens of thousands of polygons because

- geometry is simplified per layer (``shapely.coverage_simplify`` when the polygons form a
  coverage, so shared edges stay shared), quantised (5 decimals, about 1 m, or fewer for coarse
  levels) and delta-encoded, and stored once per table however many layers use it;
- the colour class, reliability and hot-spot category of each feature are one character each in
  its properties, read by ONE JavaScript style function (folium's per-feature ``style_function``
  becomes a switch over every feature); polygons are drawn on a canvas renderer.

Every place name and user-supplied text is treated as text: it travels as escaped JSON and is
inserted with ``textContent``; nothing from the data is inserted as HTML.

Public functions
----------------
:func:`choropleth`, :func:`add_choropleth_layer`, :func:`run_maps`, :func:`save_map`,
:func:`write_candidates_table`, :func:`write_png`, :func:`attribution_lines`.

Notes
-----
Measured with ``benchmarks/bench_maps.py`` (headless Chromium, 2 shared cores): US counties
(3,220, Microsoft usage) 0.60 MB, loads in 0.7 s; Virginia tracts (2,186, ACS no internet)
0.87 MB, 0.7 s; a 50,000-polygon layer 3.1 MB, 2.0 s, against 16 MB and 44 s for folium's
``GeoJson`` with a per-feature ``style_function``. The sample's street map (25,271 cells, five
layers) is 4.0 MB. Levels above ``max_features`` (50,000) are cut to the places of greatest need.
"""

from __future__ import annotations

import html
import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import shapely

from equity import _mapassets as assets
from equity._io import atomic_path, atomic_write_text
from equity.errors import DataError, SchemaError
from equity.indicators import PILLARS

__all__ = [
    "DEFAULT_PALETTE",
    "PILLARS",
    "add_choropleth_layer",
    "choropleth",
    "run_maps",
    "save_map",
    "write_candidates_table",
    "write_png",
]

log = logging.getLogger(__name__)

PILLAR_LABELS: dict[str, str] = {
    "access": "Access",
    "devices_skills": "Devices and skills",
    "affordability": "Affordability",
    "education": "Education",
    "transformation": "Transformation",
}
LEVEL_LABELS: dict[str, str] = {
    "street": "Street cells",
    "blockgroup": "Block groups",
    "tract": "Tracts",
    "town": "Towns",
    "county": "Counties",
    "state": "States",
}
#: ColorBrewer YlOrRd: sequential, colour-blind safe, prints in grey scale.
DEFAULT_PALETTE = "YlOrRd"
MISSING_COLOR = "#bdbdbd"
#: Fill opacity by reliability (high, medium, low): less reliable values are faded.
RELIABILITY_OPACITY: tuple[float, float, float] = (0.85, 0.5, 0.22)
RELIABILITY_LEVELS: tuple[str, str, str] = ("high", "medium", "low")
#: Local-cluster categories and colours (ColorBrewer RdBu ends: colour-blind safe).
HOTSPOT_COLORS: dict[str, str] = {
    "High-High": "#b2182b",
    "Low-Low": "#2166ac",
    "High-Low": "#ef8a62",
    "Low-High": "#67a9cf",
}
SCHEMES: tuple[str, ...] = (
    "quantiles",
    "equalinterval",
    "naturalbreaks",
    "fisherjenks",
    "jenkscaspall",
    "headtailbreaks",
    "maximumbreaks",
    "percentiles",
    "stdmean",
    "boxplot",
)
# Stroke of polygon outlines by feature count: thin and light for dense layers.
_STROKE_DENSE = 2000
# coverage_simplify (Visvalingam-Whyatt) tolerance per unit of Douglas-Peucker tolerance.
_COVERAGE_FACTOR = 3.0


# --------------------------------------------------------------------------- helpers


def _column_kind(column: str) -> tuple[str, str]:
    """(kind, units) of a column from the naming conventions of docs/contracts.md."""
    if column.startswith(("share_", "moe_share_")) or column in (
        "broadband_usage",
        "broadband_availability",
    ):
        return "share", "% of households" if "household" in column or "hh" in column else "%"
    if column == "equity_index" or column.startswith("equity_index"):
        return "score", "index 0-100, higher = more need"
    if column.startswith("score_") or column.endswith("_score"):
        return "score", "score 0-100, higher = more need"
    if column.endswith("_mbps"):
        return "mbps", "Mbps"
    if column.endswith("_ms"):
        return "ms", "ms"
    if column in ("rank", "rank_in_state", "rank_lo", "rank_hi") or column.startswith(
        ("n_", "hh_", "pop_", "households", "population", "establishments", "ookla_")
    ):
        return "count", ""
    return "number", ""


def _format_series(values: pd.Series, kind: str) -> pd.Series:
    """Values as display strings (vectorised), object dtype with ``None`` where missing."""
    if kind == "text":
        mask = values.notna()
        text = values.astype(str)
    else:
        num = pd.to_numeric(values, errors="coerce").astype(float)
        mask = num.notna()
        if kind == "share":
            text = (num * 100).round(1).astype(str) + "%"
        elif kind == "score":
            text = num.round(1).astype(str)
        elif kind == "mbps":
            text = num.round(1).astype(str) + " Mbps"
        elif kind == "ms":
            text = num.round(0).astype(str) + " ms"
        elif kind == "count":
            text = num.round(0).astype("Int64").astype(str)
        else:
            text = num.round(4).astype(str)
    return text.astype(object).where(mask, None)


def _format(values: pd.Series, kind: str) -> list[str | None]:
    """Values as display strings; missing values become ``None``."""
    return _format_series(values, kind).tolist()


def _format_interval(mid: pd.Series, lo: pd.Series, hi: pd.Series, kind: str) -> list[str | None]:
    """``"45.2 [38.1\u201352.0]"``; the bracket is left out where the interval is missing."""
    m, a, b = (_format_series(x, kind) for x in (mid, lo, hi))
    has = m.notna() & a.notna() & b.notna()
    both = m.astype(str) + " [" + a.astype(str) + "\u2013" + b.astype(str) + "]"
    return both.where(has, m).astype(object).where(m.notna(), None).tolist()


def _palette_colors(palette: str | Sequence[str] | None, k: int) -> list[str]:
    """`k` hex colours from a matplotlib colormap name or an explicit list."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if palette is None:
        palette = DEFAULT_PALETTE
    if isinstance(palette, str):
        if palette not in colormaps:
            msg = f"unknown palette {palette!r}; use a matplotlib colormap name (e.g. 'YlOrRd', 'viridis') or a list of colours"
            raise ValueError(msg)
        cmap = colormaps[palette]
        # Skip the palest end of sequential maps so the first class is visible on white.
        return (
            [to_hex(cmap(x)) for x in np.linspace(0.12, 1.0, k)] if k > 1 else [to_hex(cmap(0.7))]
        )
    colors = [to_hex(c) for c in palette]
    if len(colors) < k:
        msg = f"palette has {len(colors)} colours but {k} classes were asked for"
        raise ValueError(msg)
    return colors[:k]


def _classify(values: pd.Series, *, scheme: str, k: int) -> tuple[np.ndarray, list[float]]:
    """Class index per value (-1 where missing) and the class upper bounds (mapclassify)."""
    key = scheme.lower().replace("_", "")
    if key not in SCHEMES:
        msg = f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}"
        raise ValueError(msg)
    num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(num)
    classes = np.full(len(num), -1, dtype=np.int64)
    if not ok.any():
        return classes, []
    y = num[ok]
    n_unique = len(np.unique(y))
    if n_unique == 1:
        classes[ok] = 0
        return classes, [float(y[0])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not enough unique values": k is reduced below
        kw: dict[str, Any] = (
            {}
            if key in ("headtailbreaks", "percentiles", "boxplot", "stdmean")
            else {"k": min(k, n_unique)}
        )
        fitted = mapclassify.classify(y, scheme=key, **kw)
    bins = np.asarray(fitted.bins, dtype=float)
    yb = np.asarray(fitted.yb, dtype=np.int64)
    # Drop empty classes (quantiles on ties), keep bins increasing.
    used = np.unique(yb)
    remap = np.full(len(bins), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    classes[ok] = remap[yb]
    return classes, [float(b) for b in bins[used]]


def _legend_labels(bins: list[float], vmin: float, kind: str) -> list[str]:
    lows = [vmin, *bins[:-1]]
    fmt = _format(pd.Series(lows + bins, dtype=float), kind)
    n = len(bins)
    return [f"{fmt[i]} \u2013 {fmt[n + i]}" for i in range(n)]


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


def _prepare_geometry(
    gdf: gpd.GeoDataFrame, *, simplify: float | None, decimals: int | None
) -> tuple[gpd.GeoDataFrame, np.ndarray, int, bool]:
    """Rows with polygon geometry in EPSG:4326, their simplified geometry and the decimals.

    Returns the kept rows (a new frame), simplified geometries, decimals and whether the layer
    was simplified as a coverage.
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"expected a GeoDataFrame, got {type(gdf).__name__}"
        raise TypeError(msg)
    if gdf.crs is None:
        msg = "GeoDataFrame has no CRS; set one (EPSG:4326 for longitude/latitude)"
        raise DataError(msg)
    frame = gdf.to_crs(4326) if gdf.crs.to_epsg() != 4326 else gdf
    geoms = frame.geometry.to_numpy()
    type_id = shapely.get_type_id(geoms)
    keep = np.isin(type_id, (3, 6)) & ~shapely.is_empty(geoms)
    dropped = int((~keep).sum())
    if dropped:
        log.info("maps: %d rows without polygon geometry are not drawn", dropped)
    frame = frame.loc[keep]
    geoms = geoms[keep]
    if not len(geoms):
        msg = "no polygon geometry to map"
        raise DataError(msg)
    geoms = _unwrap_antimeridian(geoms)
    tol = _auto_tolerance(geoms) if simplify is None else float(simplify)
    coverage = False
    if tol > 0:
        if len(geoms) > 1 and bool(shapely.coverage_is_valid(geoms)):
            # GEOS simplifies a coverage by Visvalingam-Whyatt: its tolerance removes far less
            # than Douglas-Peucker's at the same value; x3 gives a comparable result.
            geoms = shapely.coverage_simplify(geoms, tol * _COVERAGE_FACTOR)
            coverage = True
        else:
            geoms = shapely.simplify(geoms, tol, preserve_topology=True)
    dec = _decimals_for(tol) if decimals is None else int(decimals)
    return frame, geoms, dec, coverage


def _new_map(tiles: str | None, *, attr: str | None = None) -> folium.Map:
    kw: dict[str, Any] = {"attr": attr} if tiles is not None and attr else {}
    return folium.Map(
        location=[0, 0],
        zoom_start=2,
        tiles=tiles,
        prefer_canvas=True,
        control_scale=True,
        zoom_snap=0.25,
        **kw,
    )


def _find_chrome(m: folium.Map) -> assets.MapChrome | None:
    for child in m._children.values():
        if isinstance(child, assets.MapChrome):
            return child
    return None


def _set_chrome(
    m: folium.Map,
    *,
    title: str | None,
    subtitle: str | None,
    attribution: Sequence[str],
    bounds: Sequence[float] | None,
) -> None:
    old = _find_chrome(m)
    spec: dict[str, Any] = old.spec if old is not None else {}
    spec = {
        "title": title if title is not None else spec.get("title"),
        "subtitle": subtitle if subtitle is not None else spec.get("subtitle"),
        "attribution": list(dict.fromkeys([*spec.get("attribution", []), *map(str, attribution)])),
        "bounds": _union_bounds(spec.get("bounds"), bounds),
    }
    chrome = assets.MapChrome(spec)
    chrome.spec = spec
    m.add_child(chrome, name="equity_chrome")
    # First child of the map: the view is set before any layer is drawn.
    m._children.move_to_end("equity_chrome", last=False)


def _union_bounds(a: Any, b: Sequence[float] | None) -> list[list[float]] | None:
    if b is None:
        return a
    new = [[float(b[1]), float(b[0])], [float(b[3]), float(b[2])]]
    if a is None:
        return new
    return [
        [min(a[0][0], new[0][0]), min(a[0][1], new[0][1])],
        [max(a[1][0], new[1][0]), max(a[1][1], new[1][1])],
    ]


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
    data = assets.encode_polygons(geoms, decimals=decimals)
    if name_column is not None and name_column in frame.columns:
        data["names"] = _format(frame[name_column], "text")
    else:
        data["names"] = [None] * len(frame)
    data["labels"] = {key: label for key, label, _ in fields}
    data["tips"] = {key: values for key, _, values in fields}
    data["classes"] = {key: assets.class_string(c) for key, c in classes.items()}
    if reliability is not None:
        codes = (
            reliability.astype(object)
            .map({lvl: i for i, lvl in enumerate(RELIABILITY_LEVELS)})
            .fillna(0)
            .astype(int)
            .to_numpy()
        )
        data["rel"] = assets.class_string(codes)
        data["relLabels"] = [*RELIABILITY_LEVELS]
    else:
        data["rel"] = None
    if hotspot is not None:
        cats = list(HOTSPOT_COLORS)
        codes = (
            hotspot.astype(object)
            .map({c: i + 1 for i, c in enumerate(cats)})
            .fillna(0)
            .astype(int)
            .to_numpy()
        )
        data["hot"] = assets.class_string(codes)
    else:
        data["hot"] = None
    return data


def _layer_spec(
    *,
    name: str,
    key: str,
    colors: list[str],
    bins: list[float],
    vmin: float,
    kind: str,
    legend_title: str,
    units: str,
    n_missing: int,
    reliability: bool,
    n_features: int,
    fields: list[str],
) -> dict[str, Any]:
    dense = n_features > _STROKE_DENSE
    items: list[list[Any]] = [
        [c, lab] for c, lab in zip(colors, _legend_labels(bins, vmin, kind), strict=True)
    ]
    if n_missing:
        items.append([MISSING_COLOR, f"No data ({n_missing})"])
    notes = [f"Units: {units}"] if units else []
    if reliability:
        items += [
            ["#555555", "Reliability high", RELIABILITY_OPACITY[0]],
            ["#555555", "Reliability medium (faded)", RELIABILITY_OPACITY[1]],
            ["#555555", "Reliability low (more faded, dashed)", RELIABILITY_OPACITY[2], True],
        ]
        notes.append("Reliability from the coefficient of variation of the ACS margins of error.")
    return {
        "name": name,
        "key": key,
        "colors": colors,
        "missing": MISSING_COLOR,
        "opacity": list(RELIABILITY_OPACITY) if reliability else [0.8, 0.8, 0.8],
        "stroke": "#ffffff",
        "weight": 0.6 if not dense else 0.25,
        "strokeOpacity": 0.9 if not dense else 0.4,
        "fields": fields,
        "legend": {"layer": name, "title": legend_title, "items": items, "notes": notes},
    }


# Display scale, decimals and suffix of numbers in tooltips, by column kind.
_NUMBER_DISPLAY: dict[str, tuple[float, int, str]] = {
    "share": (100.0, 1, "%"),
    "score": (1.0, 1, ""),
    "mbps": (1.0, 1, " Mbps"),
    "ms": (1.0, 0, " ms"),
    "count": (1.0, 0, ""),
    "number": (1.0, 3, ""),
}


def _numbers(values: pd.Series, kind: str) -> list[float | int | None]:
    """Numbers scaled and rounded for display (JSON-able, ``None`` where missing)."""
    scale, decimals, _ = _NUMBER_DISPLAY[kind]
    num = pd.to_numeric(values, errors="coerce").astype(float) * scale
    if decimals == 0:
        return num.round(0).astype("Int64").astype(object).where(num.notna(), None).tolist()
    return num.round(decimals).astype(object).where(num.notna(), None).tolist()


def _value_fields(
    frame: pd.DataFrame, columns: Sequence[str], *, labels: Mapping[str, str] | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """Tooltip fields: a column (numbers, formatted in the page) and its ``_lo``/``_hi`` interval.

    Numbers travel as rounded numbers, not strings, which keeps big layers small; text
    columns travel as strings.
    """
    out: list[tuple[str, str, dict[str, Any]]] = []
    labels = labels or {}
    for col in columns:
        if col not in frame.columns:
            continue
        kind, _ = _column_kind(col)
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            out.append((col, labels.get(col, col), {"t": _format(frame[col], "text")}))
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


# --------------------------------------------------------------------------- public API


def add_choropleth_layer(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    scheme: str = "quantiles",
    k: int = 5,
    palette: str | Sequence[str] | None = None,
    legend_title: str | None = None,
    units: str | None = None,
    tooltip_columns: Sequence[str] | None = None,
    name_column: str | None = "NAME",
    name: str | None = None,
    reliability_column: str | None = None,
    show: bool = True,
    overlay: bool = False,
    simplify: float | None = None,
    decimals: int | None = None,
) -> assets.ChoroplethLayer:
    """Add a choropleth layer of `column` to an existing map.

    Parameters
    ----------
    m
        Map to add to (from :func:`choropleth` or :func:`folium.Map`).
    gdf
        Polygons with `column`; any CRS (reprojected to EPSG:4326). Not modified.
    column
        Numeric column to colour by; ``<column>_lo``/``<column>_hi`` are shown as its interval.
    scheme, k
        mapclassify scheme name and number of classes.
    palette
        Matplotlib colormap name or list of colours; default ColorBrewer ``YlOrRd``.
    legend_title, units
        Legend heading (default: the column name) and units (default inferred from the
        column name: ``share_*`` in %, ``*_mbps`` in Mbps, ``score_*`` 0-100).
    tooltip_columns
        Further columns shown in the tooltip.
    name_column
        Column with the place name, the tooltip's heading.
    name
        Layer name in the layer control (default `legend_title`).
    reliability_column
        Column with ``high``/``medium``/``low``: medium and low values are faded (low also
        dashed).
    show, overlay
        Shown on opening; overlay (check box) rather than base layer (radio button).
    simplify, decimals
        Simplification tolerance in degrees (default: 1/60 of the median feature width; 0 to
        keep) and coordinate decimals (default from the tolerance, at most 5).

    Returns
    -------
    ChoroplethLayer
        The layer element added to `m`.
    """
    if column not in gdf.columns:
        msg = f"column {column!r} not in the table; columns are {', '.join(map(str, gdf.columns[:20]))}"
        raise SchemaError(msg)
    frame, geoms, dec, _ = _prepare_geometry(gdf, simplify=simplify, decimals=decimals)
    kind, default_units = _column_kind(column)
    units = default_units if units is None else units
    legend_title = legend_title or column
    name = name or legend_title
    classes, bins = _classify(frame[column], scheme=scheme, k=k)
    colors = _palette_colors(palette, max(len(bins), 1))
    columns = [column, *(tooltip_columns or [])]
    fields = _value_fields(frame, list(dict.fromkeys(columns)), labels={column: legend_title})
    rel = frame[reliability_column] if reliability_column else None
    if reliability_column and reliability_column not in frame.columns:
        msg = f"reliability column {reliability_column!r} not in the table"
        raise SchemaError(msg)
    data = assets.LevelData(
        _level_data(
            frame,
            geoms,
            dec,
            name_column=name_column,
            fields=fields,
            classes={"v": classes},
            reliability=rel,
            hotspot=None,
        )
    )
    m.add_child(data)
    values = pd.to_numeric(frame[column], errors="coerce")
    spec = _layer_spec(
        name=name,
        key="v",
        colors=colors,
        bins=bins,
        vmin=float(values.min()) if values.notna().any() else 0.0,
        kind=kind,
        legend_title=legend_title,
        units=units,
        n_missing=int(values.isna().sum()),
        reliability=rel is not None,
        n_features=len(frame),
        fields=[key for key, _, _ in fields],
    )
    layer = assets.ChoroplethLayer(data, spec, overlay=overlay, show=show)
    m.add_child(layer)
    _set_chrome(
        m, title=None, subtitle=None, attribution=(), bounds=shapely.total_bounds(geoms).tolist()
    )
    log.info("maps: layer %r, %d features, %d classes (%s)", name, len(frame), len(bins), scheme)
    return layer


def choropleth(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    scheme: str = "quantiles",
    k: int = 5,
    palette: str | Sequence[str] | None = None,
    legend_title: str | None = None,
    units: str | None = None,
    tooltip_columns: Sequence[str] | None = None,
    name_column: str | None = "NAME",
    name: str | None = None,
    reliability_column: str | None = None,
    attribution: str | Sequence[str] | None = None,
    title: str | None = None,
    data_date: str | None = None,
    tiles: str | None = None,
    simplify: float | None = None,
    decimals: int | None = None,
) -> folium.Map:
    """A self-contained choropleth map of one column.

    Parameters
    ----------
    gdf
        Polygons with `column` (any CRS). Not modified.
    column
        Numeric column to colour by.
    scheme, k, palette, legend_title, units, tooltip_columns, name_column, name
        See :func:`add_choropleth_layer`.
    reliability_column
        ``high``/``medium``/``low`` per row; less reliable values are faded.
    attribution
        Source lines (with their licences) for the attribution control; escaped.
    title, data_date
        Title panel text; both escaped.
    tiles
        Optional basemap (folium tiles name or URL). Default none: the map needs no network.
    simplify, decimals
        See :func:`add_choropleth_layer`.

    Returns
    -------
    folium.Map
        Save it with :func:`save_map` to get one HTML file that works offline.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"NAME": ["A", "B"], "share_no_internet": [0.1, 0.3]},
    ...                      geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=4326)
    >>> m = choropleth(g, "share_no_internet", k=2, title="Households without internet")
    >>> type(m).__name__
    'Map'
    """
    m = _new_map(tiles)
    add_choropleth_layer(
        m,
        gdf,
        column,
        scheme=scheme,
        k=k,
        palette=palette,
        legend_title=legend_title,
        units=units,
        tooltip_columns=tooltip_columns,
        name_column=name_column,
        name=name,
        reliability_column=reliability_column,
        simplify=simplify,
        decimals=decimals,
    )
    lines = [attribution] if isinstance(attribution, str) else list(attribution or [])
    subtitle = f"Data: {data_date}" if data_date else None
    _set_chrome(m, title=title, subtitle=subtitle, attribution=lines, bounds=None)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def save_map(m: folium.Map, path: str | os.PathLike[str], *, self_contained: bool = True) -> Path:
    """Write `m` as one HTML file, atomically.

    Parameters
    ----------
    m
        The map.
    path
        Destination ``.html`` file.
    self_contained
        Inline Leaflet and the runtime so the page makes no request (default). With False,
        folium's own rendering is written (scripts from CDNs).

    Returns
    -------
    Path
        `path`.
    """
    figure = m.get_root()
    chrome = _find_chrome(m)
    title = chrome.spec.get("title") if chrome is not None else None
    if self_contained:
        text = assets.render_self_contained(figure, title=title)
    else:
        text = figure.render()
    out = atomic_write_text(path, text)
    log.info("maps: wrote %s (%d bytes)", out, out.stat().st_size)
    return out


# --------------------------------------------------------------------------- run maps

_CANDIDATE_FIELDS: tuple[tuple[str, str], ...] = (
    ("state_name", "State"),
    ("combined_score", "Combined score"),
    ("need_score", "Need score"),
    ("readiness_score", "Readiness score"),
    ("reach_score", "Reach score"),
    ("equity_index", "Equity index"),
    ("households", "Households"),
    ("population", "Population"),
    ("driving_pillar", "Driving pillar"),
    ("intervention", "Suggested intervention"),
    ("top_indicators", "Top indicators"),
    ("n_anchors", "Partner anchors"),
)


def attribution_lines(provenance: Sequence[Mapping[str, Any]]) -> list[str]:
    """One plain-text line per source: its attribution and licence (deduplicated).

    Ookla (CC BY-NC-SA 4.0) and Microsoft (O-UDA v1.0) get their required lines even when a
    provenance record lacks them.
    """
    defaults = {
        "ookla": (
            "Speedtest\u00ae by Ookla\u00ae Global Fixed and Mobile Network Performance Maps",
            "CC BY-NC-SA 4.0",
        ),
        "microsoft": ("Microsoft USBroadbandUsagePercentages", "O-UDA v1.0"),
        "broadband": ("Microsoft USBroadbandUsagePercentages", "O-UDA v1.0"),
    }
    lines: list[str] = []
    for rec in provenance:
        source = str(rec.get("source") or "").lower()
        default_attr, default_lic = next(
            (v for k, v in defaults.items() if source.startswith(k)), (None, None)
        )
        attr = rec.get("attribution") or rec.get("title") or default_attr or rec.get("source")
        lic = rec.get("licence") or rec.get("license") or default_lic
        if not attr:
            continue
        line = str(attr)
        # "CC BY-NC-SA 4.0 (non-commercial)" is already there if "CC BY-NC-SA 4.0" is.
        short = str(lic).split(" (")[0].strip().lower() if lic else ""
        if lic and short not in line.lower():
            line = f"{line} ({lic})"
        lines.append(line)
    return list(dict.fromkeys(lines))


def _candidate_spec(candidates: gpd.GeoDataFrame, name: str) -> dict[str, Any]:
    frame = (
        candidates.to_crs(4326)
        if candidates.crs is not None and candidates.crs.to_epsg() != 4326
        else candidates
    )
    geoms = frame.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    frame = frame.loc[ok]
    points = shapely.point_on_surface(geoms[ok])
    cols: dict[str, list[str | None]] = {}
    for col, label in _CANDIDATE_FIELDS:
        if col not in frame.columns:
            continue
        kind, _ = _column_kind(col)
        if col.endswith("_score"):
            kind = "score"
        if pd.api.types.is_string_dtype(frame[col]) or frame[col].dtype == object:
            kind = "text"
        if col == "equity_index" and {"equity_index_lo", "equity_index_hi"} <= set(frame.columns):
            cols[f"{label} [90% interval]"] = _format_interval(
                frame[col], frame["equity_index_lo"], frame["equity_index_hi"], "score"
            )
        else:
            cols[label] = _format(frame[col], kind)
    if {"rank_lo", "rank_hi"} <= set(frame.columns):
        lo = _format_series(frame["rank_lo"], "count")
        hi = _format_series(frame["rank_hi"], "count")
        cols["Need rank, 90% range"] = (
            (lo.astype(str) + "\u2013" + hi.astype(str))
            .where(lo.notna() & hi.notna(), None)
            .tolist()
        )
    ranks = (
        pd.to_numeric(frame["rank"], errors="coerce").astype("Int64").astype(str).tolist()
        if "rank" in frame.columns
        else [str(i + 1) for i in range(len(frame))]
    )
    names = _format(frame["NAME"], "text") if "NAME" in frame.columns else [None] * len(frame)
    whys = _format(frame["why"], "text") if "why" in frame.columns else [None] * len(frame)
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    items = [
        {
            "rank": ranks[i],
            "name": names[i],
            "lat": round(float(lat[i]), 6),
            "lon": round(float(lon[i]), 6),
            "why": whys[i],
            "fields": [[label, values[i]] for label, values in cols.items()],
        }
        for i in range(len(frame))
    ]
    return {"name": name, "items": items}


def _marker_points(candidates: gpd.GeoDataFrame | None) -> pd.DataFrame | None:
    """Longitude, latitude and rank of the selected candidates (all when none is selected)."""
    if candidates is None or not len(candidates):
        return None
    frame = candidates
    if "selected" in frame.columns and frame["selected"].fillna(False).astype(bool).any():
        frame = frame.loc[frame["selected"].fillna(False).astype(bool)]
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    geoms = frame.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    pts = shapely.point_on_surface(geoms[ok])
    ranks = frame["rank"].to_numpy()[ok] if "rank" in frame.columns else np.arange(1, ok.sum() + 1)
    return pd.DataFrame({"lon": shapely.get_x(pts), "lat": shapely.get_y(pts), "rank": ranks})


def _level_map(
    level: str,
    table: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame | None,
    *,
    title: str,
    subtitle: str | None,
    attribution: Sequence[str],
    tiles: str | None,
    scheme: str,
    k: int,
) -> tuple[folium.Map, dict[str, Any]]:
    """Map of one level table, and what its PNG needs."""
    missing = [c for c in ("GEOID", "NAME", "equity_index") if c not in table.columns]
    if missing:
        msg = f"level table {level!r} lacks column(s) {', '.join(missing)} (see docs/contracts.md 'Level tables')"
        raise SchemaError(msg)
    frame, geoms, dec, coverage = _prepare_geometry(table, simplify=None, decimals=None)
    pillar_cols = [
        f"score_{p}"
        for p in PILLARS
        if f"score_{p}" in frame.columns and frame[f"score_{p}"].notna().any()
    ]
    layer_cols = ["equity_index", *pillar_cols]
    labels = {"equity_index": "Equity index", "rank": "Need rank", "households": "Households"}
    labels |= {f"score_{p}": PILLAR_LABELS[p] for p in PILLARS}
    labels["driving_pillar"] = "Driving pillar"
    tip_cols = ["equity_index", "rank", *pillar_cols, "driving_pillar", "households"]
    fields = _value_fields(frame, tip_cols, labels=labels)
    classified = {col: _classify(frame[col], scheme=scheme, k=k) for col in layer_cols}
    reliability = frame["reliability"] if "reliability" in frame.columns else None
    hotspot = frame["hotspot"] if "hotspot" in frame.columns else None
    data = assets.LevelData(
        _level_data(
            frame,
            geoms,
            dec,
            name_column="NAME",
            fields=fields,
            classes={col: c for col, (c, _) in classified.items()},
            reliability=reliability,
            hotspot=hotspot,
        )
    )
    m = _new_map(tiles)
    m.add_child(data)
    field_keys = [key for key, _, _ in fields]
    png: dict[str, Any] = {}
    for j, col in enumerate(layer_cols):
        classes, bins = classified[col]
        kind, units = _column_kind(col)
        values = pd.to_numeric(frame[col], errors="coerce")
        layer_title = "Equity index" if col == "equity_index" else f"Pillar: {labels[col]}"
        colors = _palette_colors(DEFAULT_PALETTE, max(len(bins), 1))
        spec = _layer_spec(
            name=layer_title,
            key=col,
            colors=colors,
            bins=bins,
            vmin=float(values.min()) if values.notna().any() else 0.0,
            kind=kind,
            legend_title=f"{layer_title} ({LEVEL_LABELS.get(level, level).lower()})",
            units=units,
            n_missing=int(values.isna().sum()),
            reliability=reliability is not None,
            n_features=len(frame),
            fields=field_keys,
        )
        m.add_child(assets.ChoroplethLayer(data, spec, show=j == 0))
        if j == 0:
            png = {"geoms": geoms, "classes": classes, "spec": spec, "reliability": reliability}
    if hotspot is not None and hotspot.isin(list(HOTSPOT_COLORS)).any():
        cats = list(HOTSPOT_COLORS)
        present = [c for c in cats if (hotspot == c).any()]
        hot_spec = {
            "name": "Hot and cold spots",
            "colors": [None, *HOTSPOT_COLORS.values()],
            "labels": [None, *cats],
            "weight": 1.5 if len(frame) > _STROKE_DENSE else 2.5,
            "fields": field_keys,
            "legend": {
                "layer": "Hot and cold spots",
                "title": "Local clusters of the equity index",
                "items": [
                    [HOTSPOT_COLORS[c], f"{c} ({int((hotspot == c).sum())})"] for c in present
                ],
                "notes": ["Significant after false-discovery-rate correction; others not drawn."],
            },
        }
        m.add_child(assets.HotspotLayer(data, hot_spec, show=False))
    if candidates is not None and len(candidates):
        chosen = (
            candidates["selected"].fillna(False).astype(bool)
            if "selected" in candidates.columns
            else pd.Series(False, index=candidates.index)
        )
        if chosen.any():
            spec = _candidate_spec(candidates.loc[chosen], "Selected sites")
            spec["selected"] = True
            m.add_child(assets.CandidateLayer(spec, show=True))
            if (~chosen).any():
                spec = _candidate_spec(candidates.loc[~chosen], "Other candidates")
                m.add_child(assets.CandidateLayer(spec, show=False))
        else:
            spec = _candidate_spec(candidates, "Candidate sites")
            m.add_child(assets.CandidateLayer(spec, show=True))
    _set_chrome(
        m,
        title=title,
        subtitle=subtitle,
        attribution=attribution,
        bounds=shapely.total_bounds(geoms).tolist(),
    )
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    log.info(
        "maps: %s map, %d features, %d layers, %s simplification, %d decimals",
        level,
        len(frame),
        len(layer_cols),
        "coverage" if coverage else "per-polygon",
        dec,
    )
    return m, png


def _cap_features(table: gpd.GeoDataFrame, limit: int) -> gpd.GeoDataFrame:
    """Places with data (index, households > 0), then the `limit` of greatest need."""
    keep = (
        table["equity_index"].notna()
        if "equity_index" in table.columns
        else pd.Series(True, index=table.index)
    )
    if "households" in table.columns:
        keep &= pd.to_numeric(table["households"], errors="coerce").fillna(0) > 0
    out = table.loc[keep]
    if len(out) > limit:
        order = "rank" if "rank" in out.columns else "equity_index"
        out = out.nsmallest(limit, order) if order == "rank" else out.nlargest(limit, order)
    return out


def run_maps(
    levels: Mapping[str, gpd.GeoDataFrame],
    candidates: gpd.GeoDataFrame | None,
    out_dir: str | os.PathLike[str],
    *,
    provenance: Sequence[Mapping[str, Any]],
    title: str,
    data_date: str | None = None,
    tiles: str | None = None,
    scheme: str = "quantiles",
    k: int = 5,
    png: bool = True,
    max_features: int | None = 50_000,
) -> list[Path]:
    """Write the maps of one run: ``<level>.html`` (+ ``.png``) per level and ``candidates.html``.

    Each level map has the equity index and one layer per pillar with data (radio buttons),
    a hot-spot overlay when the table has a ``hotspot`` column, the candidates as numbered
    markers, a legend with class breaks and units, reliability fading, tooltips and the
    attribution of every source.

    Parameters
    ----------
    levels
        Level name (``street``, ``blockgroup``, ``tract``, ``town``, ``county``...) to its table
        (columns of docs/contracts.md "Level tables").
    candidates
        Ranked candidates (docs/contracts.md "Candidates") with a geometry, or None.
    out_dir
        Folder for the files (created).
    provenance
        Provenance records (``source``, ``attribution``, ``licence``, ``vintage``...).
    title
        Title of every map (escaped).
    data_date
        Shown under the title; default from the provenance vintages.
    tiles
        Optional basemap; default none (the maps need no network).
    scheme, k
        Classification of every layer.
    png
        Also write a static PNG of each map's index layer.
    max_features
        Most places drawn per level (50,000 keeps a street map near 6.5 MB and loading in
        seconds). A larger table is cut to its places with an index value and households,
        then to the `max_features` of greatest need (by ``rank``); the subtitle says so.

    Returns
    -------
    list of Path
        Files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if data_date is None:
        vintages = [
            f"{r.get('source', '?')} {r['vintage']}"
            for r in provenance
            if str(r.get("vintage")).strip().lower() not in ("", "none", "nan")
        ]
        data_date = ", ".join(dict.fromkeys(vintages)) or None
    lines = attribution_lines(provenance)
    written: list[Path] = []
    for level, table in levels.items():
        subtitle = f"{LEVEL_LABELS.get(level, level)}" + (
            f" \u00b7 Data: {data_date}" if data_date else ""
        )
        if max_features is not None and len(table) > max_features:
            n_all = len(table)
            table = _cap_features(table, max_features)
            subtitle += f" \u00b7 showing the {len(table):,} of {n_all:,} places of greatest need"
            log.info("maps: %s level cut from %d to %d places", level, n_all, len(table))
        m, png_spec = _level_map(
            level,
            table,
            candidates,
            title=title,
            subtitle=subtitle,
            attribution=lines,
            tiles=tiles,
            scheme=scheme,
            k=k,
        )
        written.append(save_map(m, out / f"{level}.html"))
        if png:
            written.append(
                _write_png_prepared(
                    out / f"{level}.png",
                    png_spec["geoms"],
                    png_spec["classes"],
                    png_spec["spec"],
                    reliability=png_spec["reliability"],
                    title=f"{title} \u2014 {subtitle}",
                    attribution=lines,
                    markers=_marker_points(candidates),
                )
            )
    if candidates is not None:
        written.append(
            write_candidates_table(
                candidates, out / "candidates.html", title=title, data_date=data_date
            )
        )
    return written


# --------------------------------------------------------------------------- static PNG


def _write_png_prepared(
    path: Path,
    geoms: np.ndarray,
    classes: np.ndarray,
    spec: Mapping[str, Any],
    *,
    reliability: pd.Series | None,
    title: str | None,
    attribution: Sequence[str],
    markers: pd.DataFrame | None = None,
    dpi: int = 110,
) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.collections import PathCollection
    from matplotlib.colors import to_rgba_array
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.path import Path as MplPath

    geoms = shapely.orient_polygons(geoms)  # exterior CCW, holes CW: holes stay holes
    geom_type, coords, offsets = shapely.to_ragged_array(geoms)
    if geom_type == shapely.GeometryType.POLYGON:
        ring_off, poly_off = offsets
        geom_off = np.arange(len(poly_off), dtype=np.int64)
    else:
        ring_off, poly_off, geom_off = offsets
    codes = np.full(len(coords), MplPath.LINETO, dtype=np.uint8)
    codes[ring_off[:-1]] = MplPath.MOVETO
    codes[ring_off[1:] - 1] = MplPath.CLOSEPOLY
    # Feature of every coordinate (coordinate -> ring -> polygon -> feature), vectorised.
    ring_of_coord = np.repeat(np.arange(len(ring_off) - 1), np.diff(ring_off))
    poly_of_ring = np.repeat(np.arange(len(poly_off) - 1), np.diff(poly_off))
    feat_of_poly = np.repeat(np.arange(len(geom_off) - 1), np.diff(geom_off))
    feat_of_coord = feat_of_poly[poly_of_ring[ring_of_coord]]
    palette = np.vstack([to_rgba_array(spec["colors"]), to_rgba_array([spec["missing"]])])
    colour = np.where(classes >= 0, classes, len(palette) - 1)
    rel = np.zeros(len(classes), dtype=np.int64)
    if reliability is not None:
        rel = (
            reliability.astype(object)
            .map({lvl: i for i, lvl in enumerate(RELIABILITY_LEVELS)})
            .fillna(0)
            .astype(int)
            .to_numpy()
        )
    # One compound path per (colour, reliability) group: a handful of paths instead of one
    # per feature, so tens of thousands of polygons draw in well under a second.
    group = colour * len(RELIABILITY_LEVELS) + rel
    group_of_coord = group[feat_of_coord]
    paths, face = [], []
    for g in np.unique(group):
        sel = group_of_coord == g
        paths.append(MplPath(coords[sel], codes[sel]))
        rgba = palette[g // len(RELIABILITY_LEVELS)].copy()
        if reliability is not None:
            rgba[3] = RELIABILITY_OPACITY[g % len(RELIABILITY_LEVELS)]
        face.append(rgba)
    fig = Figure(figsize=(9, 7), dpi=dpi)
    ax = fig.add_axes((0.01, 0.07, 0.72, 0.85))
    coll = PathCollection(
        paths,
        facecolors=np.asarray(face),
        edgecolors="#ffffff" if len(classes) < _STROKE_DENSE else "none",
        linewidths=0.2,
    )
    ax.add_collection(coll)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect(1 / math.cos(math.radians((miny + maxy) / 2)))
    ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=11)
    handles = [
        Patch(
            facecolor=it[0], edgecolor="#777777", alpha=it[2] if len(it) > 2 else 1.0, label=it[1]
        )
        for it in spec["legend"]["items"]
    ]
    ax.legend(
        handles=handles,
        title=spec["legend"]["title"],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=7,
        title_fontsize=8,
        frameon=False,
    )

    if markers is not None and len(markers):
        ax.scatter(
            markers["lon"], markers["lat"], s=110, c="#6a1b9a", edgecolors="#ffd54f", zorder=3
        )
        for lon, lat, label in zip(markers["lon"], markers["lat"], markers["rank"], strict=True):
            ax.annotate(
                str(label),
                (lon, lat),
                ha="center",
                va="center",
                fontsize=6,
                color="white",
                weight="bold",
                zorder=4,
            )
    if attribution:
        fig.text(
            0.01, 0.01, "Sources: " + "; ".join(attribution), fontsize=6, color="#444444", wrap=True
        )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def write_png(
    gdf: gpd.GeoDataFrame,
    column: str,
    path: str | os.PathLike[str],
    *,
    scheme: str = "quantiles",
    k: int = 5,
    palette: str | Sequence[str] | None = None,
    legend_title: str | None = None,
    units: str | None = None,
    reliability_column: str | None = None,
    title: str | None = None,
    attribution: Sequence[str] = (),
) -> Path:
    """A static PNG choropleth (matplotlib, same classes and colours as :func:`choropleth`).

    Parameters
    ----------
    gdf, column, scheme, k, palette, legend_title, units, reliability_column
        As in :func:`choropleth`.
    path
        Destination ``.png`` (written atomically).
    title, attribution
        Figure title and source lines.

    Returns
    -------
    Path
        `path`.
    """
    # A raster needs no simplification (and skipping the coverage check saves a second).
    frame, geoms, _, _ = _prepare_geometry(gdf, simplify=0.0, decimals=None)
    classes, bins = _classify(frame[column], scheme=scheme, k=k)
    kind, default_units = _column_kind(column)
    values = pd.to_numeric(frame[column], errors="coerce")
    spec = _layer_spec(
        name=legend_title or column,
        key=column,
        colors=_palette_colors(palette, max(len(bins), 1)),
        bins=bins,
        vmin=float(values.min()) if values.notna().any() else 0.0,
        kind=kind,
        legend_title=legend_title or column,
        units=default_units if units is None else units,
        n_missing=int(values.isna().sum()),
        reliability=reliability_column is not None,
        n_features=len(frame),
        fields=[],
    )
    rel = frame[reliability_column] if reliability_column else None
    return _write_png_prepared(
        Path(path), geoms, classes, spec, reliability=rel, title=title, attribution=attribution
    )


# --------------------------------------------------------------------------- candidates table

_TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rank", "Rank", "count"),
    ("NAME", "Place", "text"),
    ("state_name", "State", "text"),
    ("combined_score", "Combined score", "score"),
    ("need_score", "Need", "score"),
    ("readiness_score", "Readiness", "score"),
    ("reach_score", "Reach", "score"),
    ("equity_index", "Equity index [90% interval]", "score"),
    ("households", "Households", "count"),
    ("driving_pillar", "Driving pillar", "text"),
    ("intervention", "Suggested intervention", "text"),
    ("why", "Why", "text"),
)

_TABLE_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem;color:#1b1b1b}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-size:1.25rem;font-weight:600;margin-bottom:.5rem}
caption span{display:block;font-size:.9rem;font-weight:400;color:#444}
th,td{border-bottom:1px solid #ccc;padding:.35rem .5rem;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit;text-align:left}
th button:focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
tbody tr:nth-child(even){background:#f4f4f4}
"""

_TABLE_JS = """
(function () {
  var table = document.getElementById("candidates");
  var heads = table.querySelectorAll("thead th");
  heads.forEach(function (th, col) {
    th.querySelector("button").addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var numeric = th.getAttribute("data-type") === "number";
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-value"), y = b.cells[col].getAttribute("data-value");
        if (numeric) {
          x = x === "" ? Infinity : parseFloat(x); y = y === "" ? Infinity : parseFloat(y);
          return asc ? x - y : y - x;
        }
        return asc ? x.localeCompare(y) : y.localeCompare(x);
      });
      rows.forEach(function (r) { body.appendChild(r); });
      document.getElementById("sort-status").textContent =
        "Sorted by " + th.textContent.trim() + (asc ? ", ascending" : ", descending");
    });
  });
})();
"""


def write_candidates_table(
    candidates: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str,
    data_date: str | None = None,
) -> Path:
    """An accessible, sortable HTML table of the ranked candidates (no external assets).

    A ``<table>`` with a ``<caption>``, column headers (``<th scope="col">``) whose buttons
    sort the rows and update ``aria-sort``; a live region announces the new order. Every
    value is escaped.

    Parameters
    ----------
    candidates
        Candidates table (docs/contracts.md); columns it lacks are left out.
    path
        Destination ``.html``.
    title, data_date
        Caption text.

    Returns
    -------
    Path
        `path`.
    """
    cols = [(c, label, kind) for c, label, kind in _TABLE_COLUMNS if c in candidates.columns]
    if not cols:
        msg = "candidates table has none of the columns " + ", ".join(
            c for c, _, _ in _TABLE_COLUMNS
        )
        raise SchemaError(msg)
    frame = pd.DataFrame(candidates.drop(columns="geometry", errors="ignore"))
    if "rank" in frame.columns:
        frame = frame.sort_values("rank", kind="stable")
    head = "".join(
        f'<th scope="col" aria-sort="{"ascending" if c == "rank" else "none"}" data-type="{"text" if kind == "text" else "number"}">'
        f'<button type="button">{html.escape(label)}</button></th>'
        for c, label, kind in cols
    )
    cells: list[pd.Series] = []
    for c, _, kind in cols:
        if kind == "text":
            shown = _format_series(frame[c], "text").fillna("")
            sort_key = shown
        else:
            num = pd.to_numeric(frame[c], errors="coerce")
            if c == "equity_index" and {"equity_index_lo", "equity_index_hi"} <= set(frame.columns):
                shown = pd.Series(
                    _format_interval(
                        num, frame["equity_index_lo"], frame["equity_index_hi"], "score"
                    ),
                    index=frame.index,
                    dtype=object,
                ).fillna("")
            else:
                shown = _format_series(num, kind).fillna("")
            sort_key = num.astype(str).where(num.notna(), "")
        esc_shown = shown.astype(str).map(html.escape)
        esc_key = sort_key.astype(str).map(html.escape)
        cls = "" if kind == "text" else ' class="num"'
        tag = "th" if c == "NAME" else "td"
        scope = ' scope="row"' if c == "NAME" else ""
        cells.append(f'<{tag}{scope}{cls} data-value="' + esc_key + '">' + esc_shown + f"</{tag}>")
    rows = (
        pd.concat(cells, axis=1).astype(str).agg("".join, axis=1)
        if len(frame)
        else pd.Series([], dtype=str)
    )
    body = "\n".join("<tr>" + rows + "</tr>")
    caption = html.escape(f"{title}: ranked candidate sites")
    sub = html.escape(f"Data: {data_date}. " if data_date else "") + (
        "Select a column heading to sort. Equity index: 0-100, higher = more need."
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{caption}</title>\n<style>{_TABLE_CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<table id="candidates">\n<caption>{caption}<span>{sub}</span></caption>\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n"
        '<p id="sort-status" role="status" aria-live="polite"></p>\n'
        f"</main>\n<script>{_TABLE_JS}</script>\n</body>\n</html>\n"
    )
    return atomic_write_text(path, page)

"""Map layers: the folium elements that draw a table, and the functions that add them.

A :class:`LevelData` holds the geometry and per-feature text of one table once, however many
layers use it. :class:`ChoroplethLayer` (one per column), :class:`HotspotLayer` (significant
local clusters) and :class:`CandidateLayer` (numbered markers) draw from it with the runtime's
one style function; their JavaScript glue is ``templates/*.js.j2``.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.map import Layer

from equity.errors import SchemaError
from equity.glossary import rank_range_text
from equity.maps._resources import element_template
from equity.maps.chrome import BASEMAPS, _set_chrome
from equity.maps.classify import (
    _STROKE_DENSE,
    HOTSPOT_COLORS,
    _classify,
    _layer_spec,
    _palette_colors,
)
from equity.maps.encoding import (
    _level_data,
    _prepare_geometry,
    _require_column,
    _value_fields,
    safe_json,
)
from equity.maps.formatting import _column_kind, _format, _format_interval, _format_series

__all__ = [
    "BasemapLayer",
    "CandidateLayer",
    "ChoroplethLayer",
    "HotspotLayer",
    "LevelData",
    "PlacesLayer",
    "add_choropleth_layer",
    "choropleth",
]

log = logging.getLogger(__name__)

# Columns of a candidate's popup, in order, with their labels.
_CANDIDATE_FIELDS: tuple[tuple[str, str], ...] = (
    ("place_name", "Place"),
    ("county_name", "County"),
    ("state_name", "State"),
    ("intervention", "Focus area"),
    ("equity_index", "Need (equity index)"),
    ("reliability", "Reliability"),
    ("combined_score", "Combined score"),
    ("p_top1", "Chance of ranking first"),
    ("runner_up_place", "Runner-up"),
    ("readiness_score", "Readiness score"),
    ("reach_score", "Reach score"),
    ("households", "Households"),
    ("top_indicators", "Strongest needs"),
    ("n_anchors", "Partner organisations within reach"),
    ("partner_summary", "Suggested partner"),
)


# --------------------------------------------------------------------------- elements


class LevelData(MacroElement):
    """Geometry and per-feature text of one table, shared by all of its layers.

    The payload is a ``<script type="application/json">`` element parsed with ``JSON.parse``,
    which browsers parse faster than the same data as a JavaScript literal.
    """

    _template = element_template("level_data.js.j2")

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()
        self._name = "EquityData"
        self.data_json = safe_json(data)


def layer_label(name: str) -> str:
    """A layer's name as Leaflet's layer control needs it: HTML-escaped, because the control
    inserts names as HTML (a column named ``<img src=x onerror=...>`` would run)."""
    return html.escape(str(name), quote=True)


class ChoroplethLayer(Layer):
    """A filled layer drawn from a :class:`LevelData`; colour and fade come from properties."""

    _template = element_template("choropleth_layer.js.j2")

    def __init__(
        self,
        data: LevelData,
        spec: dict[str, Any],
        *,
        overlay: bool = False,
        show: bool = True,
        renderer: str = "canvas",
    ) -> None:
        super().__init__(name=layer_label(spec["name"]), overlay=overlay, control=True, show=show)
        self._name = "EquityChoropleth"
        self.data = data
        self.spec_json = safe_json(spec)
        self.renderer = renderer


class HotspotLayer(Layer):
    """Significant local clusters (High-High, Low-Low, ...) over the choropleth."""

    _template = element_template("hotspot_layer.js.j2")

    def __init__(self, data: LevelData, spec: dict[str, Any], *, show: bool = True) -> None:
        super().__init__(name=layer_label(spec["name"]), overlay=True, control=True, show=show)
        self._name = "EquityHotspots"
        self.data = data
        self.spec_json = safe_json(spec)


class PlacesLayer(Layer):
    """Place names drawn from the table (an overlay that works offline) and the table of places
    beside the map, reachable by keyboard and screen reader (``assets/places.js``)."""

    _template = element_template("places_layer.js.j2")

    def __init__(self, data: LevelData, spec: dict[str, Any], *, show: bool = True) -> None:
        super().__init__(name=spec["name"], overlay=True, control=True, show=show)
        self._name = "EquityPlaces"
        self.data = data
        self.spec_json = safe_json(spec)


class BasemapLayer(Layer):
    """Street-map tiles under the data, requested only when the browser is online."""

    _template = element_template("basemap_layer.js.j2")

    def __init__(self, spec: dict[str, Any], *, show: bool = True) -> None:
        super().__init__(name=spec["name"], overlay=True, control=True, show=show)
        self._name = "EquityBasemap"
        self.spec_json = safe_json(spec)


class CandidateLayer(Layer):
    """Numbered candidate markers with popups giving rank, scores and the explanation."""

    _template = element_template("candidate_layer.js.j2")

    def __init__(self, spec: dict[str, Any], *, show: bool = True) -> None:
        super().__init__(name=layer_label(spec["name"]), overlay=True, control=True, show=show)
        self._name = "EquityCandidates"
        self.spec_json = safe_json(spec)


# --------------------------------------------------------------------------- choropleth


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
) -> ChoroplethLayer:
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
    _require_column(gdf, column)
    frame, geoms, dec, _ = _prepare_geometry(gdf, simplify=simplify, decimals=decimals)
    kind, default_units = _column_kind(column)
    legend_title = legend_title or column
    name = name or legend_title
    classes, bins = _classify(frame[column], scheme=scheme, k=k)
    colors = _palette_colors(palette, max(len(bins), 1))
    columns = list(dict.fromkeys([column, *(tooltip_columns or [])]))
    fields = _value_fields(frame, columns, labels={column: legend_title})
    if reliability_column and reliability_column not in frame.columns:
        msg = f"reliability column {reliability_column!r} not in the table"
        raise SchemaError(msg)
    rel = frame[reliability_column] if reliability_column else None
    payload = _level_data(
        frame,
        geoms,
        dec,
        name_column=name_column,
        fields=fields,
        classes={"v": classes},
        reliability=rel,
        hotspot=None,
    )
    data = LevelData(payload)
    m.add_child(data)
    spec = _layer_spec(
        name=name,
        key="v",
        colors=colors,
        bins=bins,
        values=frame[column],
        kind=kind,
        legend_title=legend_title,
        units=default_units if units is None else units,
        reliability=rel is not None,
        fields=[key for key, _, _ in fields],
    )
    layer = ChoroplethLayer(data, spec, overlay=overlay, show=show)
    m.add_child(layer)
    bounds = shapely.total_bounds(geoms).tolist()
    _set_chrome(m, title=None, subtitle=None, attribution=(), bounds=bounds)
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


# --------------------------------------------------------------------------- hot spots


def _add_hotspot_layer(
    m: folium.Map, data: LevelData, hotspot: pd.Series, *, fields: list[str]
) -> None:
    """Overlay (hidden on opening) of the significant clusters in `hotspot`, if there are any."""
    if not hotspot.isin(list(HOTSPOT_COLORS)).any():
        return
    cats = list(HOTSPOT_COLORS)
    present = [c for c in cats if (hotspot == c).any()]
    spec = {
        "name": "Hot and cold spots",
        "colors": [None, *HOTSPOT_COLORS.values()],
        "labels": [None, *cats],
        "weight": 1.5 if len(hotspot) > _STROKE_DENSE else 2.5,
        "fields": fields,
        "legend": {
            "layer": "Hot and cold spots",
            "title": "Local clusters of the equity index",
            "items": [[HOTSPOT_COLORS[c], f"{c} ({int((hotspot == c).sum())})"] for c in present],
            "notes": ["Significant after false-discovery-rate correction; others not drawn."],
        },
    }
    m.add_child(HotspotLayer(data, spec, show=False))


# --------------------------------------------------------------------------- candidates


def _candidate_columns(frame: pd.DataFrame) -> dict[str, list[str | None]]:
    """Popup label -> display text per candidate (the columns of :data:`_CANDIDATE_FIELDS`)."""
    cols: dict[str, list[str | None]] = {}
    interval = {"equity_index_lo", "equity_index_hi"} <= set(frame.columns)
    for col, label in _CANDIDATE_FIELDS:
        if col not in frame.columns:
            continue
        kind, _ = _column_kind(col)
        if col.endswith("_score"):
            kind = "score"
        if pd.api.types.is_string_dtype(frame[col]) or frame[col].dtype == object:
            kind = "text"
        if col == "equity_index" and interval:
            cols[f"{label} [90% interval]"] = _format_interval(
                frame[col], frame["equity_index_lo"], frame["equity_index_hi"], "score"
            )
        elif col == "p_top1":
            p = pd.to_numeric(frame[col], errors="coerce")
            cols[label] = (p * 100).round(0).map("{:.0f}%".format).where(p.notna(), None).tolist()
        else:
            cols[label] = _format(frame[col], kind)
    if {"rank_lo", "rank_hi"} <= set(frame.columns):
        lo = _format_series(frame["rank_lo"], "count")
        hi = _format_series(frame["rank_hi"], "count")
        both = (lo.astype(str) + "\u2013" + hi.astype(str)).astype(object)
        # object dtype: a text Series would turn the None of missing ranges into NaN
        cols["Need rank, 90% range"] = both.where(lo.notna() & hi.notna(), None).tolist()
    if {"rank_best", "rank_worst"} <= set(frame.columns):
        cols["Rank under other weightings"] = [
            rank_range_text(b, w) or None
            for b, w in zip(frame["rank_best"], frame["rank_worst"], strict=True)
        ]
    return cols


def _text_or_none(frame: pd.DataFrame, column: str) -> list[str | None]:
    return _format(frame[column], "text") if column in frame.columns else [None] * len(frame)


def _sentence(text: str | None) -> str | None:
    """`text` with a capital first letter (None when empty)."""
    return text[0].upper() + text[1:] if text else None


def _candidate_spec(candidates: gpd.GeoDataFrame, name: str) -> dict[str, Any]:
    """Markers of `candidates` (at a point on each surface) with their popup fields."""
    frame = (
        candidates.to_crs(4326)
        if candidates.crs is not None and candidates.crs.to_epsg() != 4326
        else candidates
    )
    geoms = frame.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    frame = frame.loc[ok]
    points = shapely.point_on_surface(geoms[ok])
    cols = _candidate_columns(frame)
    ranks = (
        pd.to_numeric(frame["rank"], errors="coerce").astype("Int64").astype(str).tolist()
        if "rank" in frame.columns
        else [str(i + 1) for i in range(len(frame))]
    )
    names, whys = _text_or_none(frame, "NAME"), _text_or_none(frame, "why")
    flags = _text_or_none(frame, "note")
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    items = [
        {
            "rank": ranks[i],
            "name": names[i],
            "lat": round(float(lat[i]), 6),
            "lon": round(float(lon[i]), 6),
            "why": whys[i],
            "flag": _sentence(flags[i]),
            "fields": [
                [label, values[i]] for label, values in cols.items() if values[i] is not None
            ],
        }
        for i in range(len(frame))
    ]
    return {"name": name, "items": items}


def _add_candidate_layers(m: folium.Map, candidates: gpd.GeoDataFrame | None) -> None:
    """Selected sites (shown) and other candidates (hidden), or all candidates when none is
    selected."""
    if candidates is None or not len(candidates):
        return
    chosen = (
        candidates["selected"].fillna(False).astype(bool)
        if "selected" in candidates.columns
        else pd.Series(False, index=candidates.index)
    )
    if not chosen.any():
        m.add_child(CandidateLayer(_candidate_spec(candidates, "Candidate sites"), show=True))
        return
    spec = _candidate_spec(candidates.loc[chosen], "Selected sites")
    spec["selected"] = True
    m.add_child(CandidateLayer(spec, show=True))
    if (~chosen).any():
        spec = _candidate_spec(candidates.loc[~chosen], "Other candidates")
        m.add_child(CandidateLayer(spec, show=False))


def _finish_map(
    m: folium.Map,
    geoms: Any,
    *,
    basemap: str | None,
    title: str,
    subtitle: str | None,
    attribution: Sequence[str],
    warnings: Sequence[str],
    required: Sequence[str],
) -> None:
    """The basemap (online only), the chrome over the bounds of `geoms`, the layer control."""
    if basemap is not None:
        m.add_child(BasemapLayer({"name": "Basemap (online)", **BASEMAPS[basemap]}))
    _set_chrome(
        m,
        title=title,
        subtitle=subtitle,
        attribution=attribution,
        bounds=shapely.total_bounds(geoms).tolist(),
        warnings=warnings,
        required=required,
    )
    folium.LayerControl(collapsed=False, position="topright").add_to(m)

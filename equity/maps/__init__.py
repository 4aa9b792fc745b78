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

Modules, in the order a map is made
-----------------------------------
``formatting``
    a column's kind and units from its name; values as display text.
``classify``
    schemes, palettes, reliability fading, legend: values to colours.
``encoding``
    geometry preparation (CRS, simplification, antimeridian), compact polygons, per-feature
    properties, script-safe JSON.
``runtime``
    Leaflet and the project's runtime (``assets/runtime.js``, ``assets/runtime.css``).
``chrome``
    title, legend holder, sources and licences, initial view (:func:`attribution_lines`).
``layers``
    the layer elements, :func:`add_choropleth_layer` and :func:`choropleth`.
``document``
    one self-contained HTML page (:func:`save_map`).
``png``
    static PNG (:func:`write_png`).
``table``
    the accessible candidates page (:func:`write_candidates_table`).
``runmaps``
    every map of a run (:func:`run_maps`).

The JavaScript and CSS are package files in ``assets/``; the HTML pages and the elements'
JavaScript glue are jinja2 templates in ``templates/``.

Notes
-----
Measured with ``benchmarks/bench_maps.py`` (headless Chromium, 2 shared cores): US counties
(3,220, Microsoft usage) 0.60 MB, loads in 0.7 s; Virginia tracts (2,186, ACS no internet)
0.87 MB, 0.7 s; a 50,000-polygon layer 3.1 MB, 2.0 s, against 16 MB and 44 s for folium's
``GeoJson`` with a per-feature ``style_function``. The sample's street map (25,271 cells, five
layers) is 4.0 MB. Levels above ``max_features`` (50,000) are cut to the places of greatest need.
"""

from __future__ import annotations

# ``from m import _x as _x``: private helpers that tests and benchmarks use as ``maps._x``.
from equity.indicators import PILLARS
from equity.maps.chrome import MapChrome, attribution_lines
from equity.maps.classify import (
    DEFAULT_PALETTE,
    HOTSPOT_COLORS,
    MISSING_COLOR,
    RELIABILITY_LEVELS,
    RELIABILITY_OPACITY,
    SCHEMES,
)
from equity.maps.classify import _classify as _classify
from equity.maps.classify import _palette_colors as _palette_colors
from equity.maps.document import render_self_contained, save_map
from equity.maps.encoding import _unwrap_antimeridian as _unwrap_antimeridian
from equity.maps.encoding import class_string, encode_polygons, safe_json
from equity.maps.formatting import _format as _format
from equity.maps.formatting import _format_interval as _format_interval
from equity.maps.layers import (
    CandidateLayer,
    ChoroplethLayer,
    HotspotLayer,
    LevelData,
    add_choropleth_layer,
    choropleth,
)
from equity.maps.png import write_png
from equity.maps.runmaps import LEVEL_LABELS, PILLAR_LABELS, run_maps, write_level_map
from equity.maps.runmaps import _cap_features as _cap_features
from equity.maps.runtime import leaflet_css, leaflet_js
from equity.maps.table import write_candidates_table

__all__ = [
    "DEFAULT_PALETTE",
    "HOTSPOT_COLORS",
    "LEVEL_LABELS",
    "MISSING_COLOR",
    "PILLARS",
    "PILLAR_LABELS",
    "RELIABILITY_LEVELS",
    "RELIABILITY_OPACITY",
    "SCHEMES",
    "CandidateLayer",
    "ChoroplethLayer",
    "HotspotLayer",
    "LevelData",
    "MapChrome",
    "add_choropleth_layer",
    "attribution_lines",
    "choropleth",
    "class_string",
    "encode_polygons",
    "leaflet_css",
    "leaflet_js",
    "render_self_contained",
    "run_maps",
    "safe_json",
    "save_map",
    "write_candidates_table",
    "write_level_map",
    "write_png",
]

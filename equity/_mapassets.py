"""Private building blocks of :mod:`equity.maps`.

Three concerns live here so that ``maps.py`` reads as the public story:

- **assets**: Leaflet's JavaScript and CSS read from the installed ``xstatic-leaflet`` package
  (its images inlined as ``data:`` URIs), the project's small JavaScript runtime and CSS, and
  :func:`render_self_contained`, which renders a folium figure with every asset inlined;
- **encoding**: geometry as quantised, delta-encoded integer rings (about half the size of
  GeoJSON text) and JSON that is safe inside ``<script>``;
- **elements**: folium/branca elements whose JavaScript builds the layers from that data
  with one style function reading ``feature.properties``.

Safety rule: no value from the data reaches ``innerHTML``. Text (names, titles, legend,
sources, explanations) goes through JSON (with ``<``, ``>`` and ``&`` escaped, so a value
cannot close the ``<script>``) and is inserted with ``textContent`` by the runtime.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from branca.element import CssLink, Element, Figure, JavascriptLink, MacroElement
from folium.map import Layer
from folium.template import Template

from equity.errors import EquityError

__all__ = [
    "CandidateLayer",
    "ChoroplethLayer",
    "HotspotLayer",
    "LevelData",
    "MapChrome",
    "encode_polygons",
    "leaflet_css",
    "leaflet_js",
    "render_self_contained",
    "safe_json",
]

# folium adds these CDN assets to every map; the runtime needs none of them except Leaflet.
_DROPPABLE_ASSETS = frozenset(
    {
        "jquery",
        "bootstrap",
        "bootstrap_css",
        "glyphicons_css",
        "awesome_markers",
        "awesome_markers_css",
        "awesome_markers_font_css",
        "awesome_rotate_css",
    }
)
_EXTERNAL_REF = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I
)


# --------------------------------------------------------------------------- assets


def _leaflet_dir() -> Path:
    import xstatic.pkg.leaflet as xleaflet

    return Path(xleaflet.BASE_DIR)


@functools.cache
def leaflet_js() -> str:
    """Leaflet's minified JavaScript from ``xstatic-leaflet``, without its source-map comment."""
    text = (_leaflet_dir() / "leaflet.js").read_text(encoding="utf-8")
    return re.sub(r"//# sourceMappingURL=\S+\s*$", "", text).replace("</script", "<\\/script")


@functools.cache
def leaflet_css() -> str:
    """Leaflet's CSS with its images (layer-control icon, default marker) as ``data:`` URIs."""
    folder = _leaflet_dir()
    text = (folder / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        png = (folder / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode('ascii')})"

    return re.sub(r"url\((images/[\w.-]+\.png)\)", inline, text)


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


RUNTIME_CSS = """
.equity-panel{background:rgba(255,255,255,.94);padding:6px 9px;border-radius:4px;
  box-shadow:0 1px 5px rgba(0,0,0,.4);font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222}
.equity-title h1{font-size:16px;margin:0 0 2px 0}
.equity-title p{margin:0;font-size:12px;color:#444}
.equity-legend{max-width:260px}
.equity-legend h2{font-size:13px;margin:0 0 4px 0}
.equity-legend ul{list-style:none;margin:0;padding:0}
.equity-legend li{display:flex;align-items:center;gap:6px;margin:1px 0}
.equity-legend .sw{display:inline-block;width:18px;height:12px;border:1px solid #777;flex:none}
.equity-legend .note{margin:4px 0 0 0;font-size:11px;color:#444}
.equity-tip{font:12px/1.35 system-ui,sans-serif}
.equity-tip b{display:block;font-size:13px;margin-bottom:2px}
.equity-tip table{border-collapse:collapse}
.equity-tip td{padding:0 6px 0 0;vertical-align:top}
.equity-pop dl{display:grid;grid-template-columns:auto auto;gap:0 8px;margin:4px 0}
.equity-pop dt{font-weight:600}.equity-pop dd{margin:0}
.equity-pop p{margin:4px 0 0 0;max-width:280px}
.equity-marker{background:#1b1b1b;color:#fff;border:2px solid #fff;border-radius:50%;
  width:26px;height:26px;line-height:22px;text-align:center;font:bold 12px system-ui,sans-serif;
  box-shadow:0 1px 4px rgba(0,0,0,.6);box-sizing:border-box}
.equity-sources{max-width:min(480px,60vw);max-height:40vh;overflow:auto;font-size:11px}
.equity-sources summary{cursor:pointer;font-weight:600}
.equity-sources ul{margin:4px 0 0 0;padding-left:16px}
.leaflet-container{background:#fff}
.equity-marker.equity-selected{background:#6a1b9a;border-color:#ffd54f;width:30px;height:30px;line-height:26px;font-size:13px}
"""

# The runtime: decodes the compact geometry, builds layers with ONE style function that reads
# feature.properties, builds tooltips/popups/legends from text with textContent only, and
# keeps a registry (window.equity.layers) the browser tests read.
RUNTIME_JS = r"""
(function () {
  "use strict";
  var E = window.equity = window.equity || {layers: {}, legends: {}, maps: []};
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined && text !== null) { n.textContent = String(text); }
    return n;
  }
  E.el = el;
  E.decode = function (d) {
    // d.q: delta-encoded integer coordinates (x,y interleaved); d.rl, d.pl, d.gl: points per
    // ring, rings per polygon, polygons per feature (null when all 1); d.n: features;
    // d.s: scale (10^decimals).
    var q = d.q, n = q.length / 2, xs = new Float64Array(n), ys = new Float64Array(n);
    var x = 0, y = 0, i;
    function offsets(lengths, n) {
      // lengths (null: all ones) -> cumulative offsets
      var o = new Array(n + 1), k;
      o[0] = 0;
      for (k = 0; k < n; k++) { o[k + 1] = o[k] + (lengths === null ? 1 : lengths[k]); }
      return o;
    }
    d.go = offsets(d.gl, d.n);
    d.po = offsets(d.pl, d.go[d.n]);
    d.ro = offsets(d.rl, d.po[d.po.length - 1]);
    for (i = 0; i < n; i++) { x += q[2 * i]; y += q[2 * i + 1]; xs[i] = x / d.s; ys[i] = y / d.s; }
    var feats = new Array(d.go.length - 1);
    for (var f = 0; f < feats.length; f++) {
      var polys = [];
      for (var p = d.go[f]; p < d.go[f + 1]; p++) {
        var rings = [];
        for (var r = d.po[p]; r < d.po[p + 1]; r++) {
          var ring = [];
          for (i = d.ro[r]; i < d.ro[r + 1]; i++) { ring.push([xs[i], ys[i]]); }
          rings.push(ring);
        }
        polys.push(rings);
      }
      var props = {i: f, n: d.names[f], c: {}, r: d.rel ? d.rel.charCodeAt(f) - 48 : 0,
                   h: d.hot ? d.hot.charCodeAt(f) - 48 : 0};
      for (var key in d.classes) { props.c[key] = d.classes[key].charCodeAt(f) - 48; }
      feats[f] = {type: "Feature", properties: props, geometry: {type: "MultiPolygon", coordinates: polys}};
    }
    d.fc = {type: "FeatureCollection", features: feats};
    return d;
  };
  E.fmt = function (tip, i) {
    // tip: {t: [text]} or {v: [number], d: decimals, u: suffix, lo: [..], hi: [..]}
    if (tip.t) { return tip.t[i] === null || tip.t[i] === undefined ? "no data" : tip.t[i]; }
    var v = tip.v[i];
    if (v === null || v === undefined) { return "no data"; }
    var f = function (x) { return x.toFixed(tip.d) + tip.u; };
    var out = f(v);
    if (tip.lo && tip.lo[i] !== null && tip.hi[i] !== null) {
      out += " [" + f(tip.lo[i]) + "–" + f(tip.hi[i]) + "]";
    }
    return out;
  };
  E.tooltip = function (d, spec, props) {
    var box = el("div", "equity-tip");
    box.appendChild(el("b", null, props.n === null ? "(unnamed)" : props.n));
    var tbl = el("table"), fields = spec.fields;
    for (var j = 0; j < fields.length; j++) {
      var v = E.fmt(d.tips[fields[j]], props.i);
      var tr = el("tr");
      tr.appendChild(el("td", null, d.labels[fields[j]]));
      tr.appendChild(el("td", null, v));
      tbl.appendChild(tr);
    }
    if (d.rel) {
      var tr2 = el("tr");
      tr2.appendChild(el("td", null, "Reliability"));
      tr2.appendChild(el("td", null, d.relLabels[props.r]));
      tbl.appendChild(tr2);
    }
    box.appendChild(tbl);
    return box;
  };
  E.choropleth = function (map, d, spec, renderer) {
    var style = function (f) {
      var p = f.properties, c = p.c[spec.key], r = p.r;
      return {fillColor: c >= 0 && c < spec.colors.length ? spec.colors[c] : spec.missing,
              fillOpacity: spec.opacity[r], color: spec.stroke, weight: spec.weight,
              opacity: spec.strokeOpacity, dashArray: r === 2 ? "3 3" : null};
    };
    var layer = L.geoJSON(d.fc, {style: style, renderer: renderer});
    layer.bindTooltip(function (l) { return E.tooltip(d, spec, l.feature.properties); }, {sticky: true});
    E.register(map, spec.name, layer, d.fc.features.length, spec.legend);
    return layer;
  };
  E.hotspots = function (map, d, spec, renderer) {
    var layer = L.geoJSON(d.fc, {
      filter: function (f) { return f.properties.h > 0; },
      style: function (f) {
        var col = spec.colors[f.properties.h];
        return {fillColor: col, fillOpacity: 0.35, color: col, weight: spec.weight, opacity: 1};
      },
      renderer: renderer
    });
    layer.bindTooltip(function (l) {
      var box = E.tooltip(d, spec, l.feature.properties);
      box.appendChild(el("div", null, "Hot spot: " + spec.labels[l.feature.properties.h]));
      return box;
    }, {sticky: true});
    E.register(map, spec.name, layer, layer.getLayers().length, spec.legend);
    return layer;
  };
  E.candidates = function (map, spec) {
    var group = L.featureGroup();
    spec.items.forEach(function (c) {
      var icon = el("div", spec.selected ? "equity-marker equity-selected" : "equity-marker", c.rank);
      icon.setAttribute("aria-label", "Candidate " + c.rank);
      var m = L.marker([c.lat, c.lon], {
        icon: L.divIcon({html: icon, className: "", iconSize: [26, 26], iconAnchor: [13, 13]}),
        title: "Candidate " + c.rank + ": " + (c.name === null ? "" : c.name),
        keyboard: true, riseOnHover: true
      });
      m.bindPopup(function () {
        var box = el("div", "equity-pop");
        box.appendChild(el("b", null, "#" + c.rank + " " + (c.name === null ? "" : c.name)));
        var dl = el("dl");
        c.fields.forEach(function (kv) {
          dl.appendChild(el("dt", null, kv[0]));
          dl.appendChild(el("dd", null, kv[1] === null ? "no data" : kv[1]));
        });
        box.appendChild(dl);
        if (c.why) { box.appendChild(el("p", null, c.why)); }
        return box;
      });
      group.addLayer(m);
    });
    E.register(map, spec.name, group, spec.items.length, null);
    return group;
  };
  E.renderer = function (map, kind, pane) {
    // One renderer per map, kind and pane: every choropleth layer shares one canvas.
    map._equityRenderers = map._equityRenderers || {};
    var key = kind + ":" + pane;
    if (!map._equityRenderers[key]) {
      if (!map.getPane(pane)) { map.createPane(pane).style.zIndex = 450; }
      var opts = {pane: pane, padding: 0.2};
      map._equityRenderers[key] = kind === "svg" ? L.svg(opts) : L.canvas(opts);
    }
    return map._equityRenderers[key];
  };
  E.register = function (map, name, layer, n, legend) {
    E.layers[name] = {layer: layer, features: n, map: map};
    if (legend) { E.legends[name] = legend; }
  };
  E.rendered = function () {
    // For every registered layer on its map: drawn vector features (projected, non-empty)
    // or markers with an icon in the page.
    var out = {};
    Object.keys(E.layers).forEach(function (name) {
      var rec = E.layers[name], count = 0;
      if (!rec.map.hasLayer(rec.layer)) { out[name] = 0; return; }
      rec.layer.eachLayer(function (l) {
        if (l._parts !== undefined) { if (l._map && l._parts.length > 0) { count++; } }
        else if (l._icon && l._icon.isConnected) { count++; }
      });
      out[name] = count;
    });
    return out;
  };
  E.chrome = function (map, spec) {
    E.maps.push(map);
    // Set the view first, so the layers are projected and drawn once, not again on fitBounds.
    if (spec.bounds) { map.fitBounds(spec.bounds, {padding: [8, 8], animate: false}); }
    if (spec.title) {
      var t = L.control({position: "topleft"});
      t.onAdd = function () {
        var box = el("div", "equity-panel equity-title");
        box.setAttribute("role", "heading");
        box.setAttribute("aria-level", "1");
        box.appendChild(el("h1", null, spec.title));
        if (spec.subtitle) { box.appendChild(el("p", null, spec.subtitle)); }
        L.DomEvent.disableClickPropagation(box);
        return box;
      };
      t.addTo(map);
    }
    var lg = L.control({position: "bottomleft"}), holder;
    lg.onAdd = function () {
      holder = el("div", "equity-panel equity-legend");
      holder.setAttribute("aria-live", "polite");
      L.DomEvent.disableClickPropagation(holder);
      return holder;
    };
    lg.addTo(map);
    function legendBlock(lgd) {
      var sec = el("section");
      sec.setAttribute("data-layer", lgd.layer);
      sec.appendChild(el("h2", null, lgd.title));
      var ul = el("ul");
      lgd.items.forEach(function (it) {
        var li = el("li"), sw = el("span", "sw");
        sw.style.background = it[0];
        if (it[2] !== undefined) { sw.style.opacity = it[2]; }
        if (it[3]) { sw.style.borderStyle = "dashed"; }
        li.appendChild(sw);
        li.appendChild(el("span", null, it[1]));
        ul.appendChild(li);
      });
      sec.appendChild(ul);
      (lgd.notes || []).forEach(function (n) { sec.appendChild(el("p", "note", n)); });
      return sec;
    }
    E.refreshLegend = function () {
      holder.textContent = "";
      Object.keys(E.legends).forEach(function (name) {
        var rec = E.layers[name];
        if (rec.map === map && map.hasLayer(rec.layer)) { holder.appendChild(legendBlock(E.legends[name])); }
      });
      holder.style.display = holder.childNodes.length ? "" : "none";
    };
    map.on("baselayerchange overlayadd overlayremove", function () {
      E.refreshLegend();
    });
    // Layers are added after this script runs: fill the legend once they are.
    setTimeout(E.refreshLegend, 0);
    if (spec.attribution && spec.attribution.length) {
      // Every source with its licence, in a panel (open when short); plain text only.
      var src = L.control({position: "bottomright"});
      src.onAdd = function () {
        var box = el("details", "equity-panel equity-sources");
        if (spec.attribution.length <= 3) { box.open = true; }
        box.appendChild(el("summary", null, "Sources and licences (" + spec.attribution.length + ")"));
        var ul = el("ul");
        spec.attribution.forEach(function (a) { ul.appendChild(el("li", null, a)); });
        box.appendChild(ul);
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      };
      src.addTo(map);
    }
  };
})();
"""


class _InlineAsset(Element):
    """An inline ``<script>`` or ``<style>`` element in the page header."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__()
        self._text = text
        self._kind = kind

    def render(self, **kwargs: Any) -> str:
        return f"<{self._kind}>{self._text}</{self._kind}>"


def render_self_contained(figure: Figure, *, title: str | None = None) -> str:
    """Render `figure` as one HTML page with every script and style sheet inlined.

    Leaflet comes from ``xstatic-leaflet``; folium's jQuery, Bootstrap and Awesome-Markers links
    are dropped (nothing here uses them). An element that needs any other external asset
    raises :class:`equity.errors.EquityError` rather than write a page that is blank offline.
    The figure's header is restored afterwards, so folium's own rendering is unaffected.
    """
    saved = dict(figure.header._children)
    try:
        for child in list(figure._children.values()):
            child.render()
        unknown: list[str] = []
        for name, child in list(figure.header._children.items()):
            if not isinstance(child, JavascriptLink | CssLink):
                continue
            if name == "leaflet":
                figure.header._children[name] = _InlineAsset("script", leaflet_js())
            elif name == "leaflet_css":
                figure.header._children[name] = _InlineAsset("style", leaflet_css())
            elif name in _DROPPABLE_ASSETS:
                del figure.header._children[name]
            else:
                unknown.append(f"{name} ({child.url})")
        if unknown:
            msg = (
                "cannot write a self-contained map: no local copy of "
                + ", ".join(unknown)
                + "; remove that plugin or save with self_contained=False"
            )
            raise EquityError(msg)
        # Leaflet must come before everything that uses it.
        head = figure.header._children
        order = [k for k in ("leaflet_css", "leaflet") if k in head] + [
            k for k in head if k not in ("leaflet_css", "leaflet")
        ]
        header = "\n".join(head[k].render() for k in order)
        body = figure.html.render()
        script = figure.script.render()
    finally:
        figure.header._children.clear()
        figure.header._children.update(saved)
    title_tag = f"<title>{html.escape(title)}</title>" if title else ""
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"{title_tag}\n{header}\n</head>\n<body>\n{body}\n<script>\n{script}\n</script>\n"
        "</body>\n</html>\n"
    )
    match = _EXTERNAL_REF.search(page)
    if match:
        msg = f"self-contained map still references an external asset: {match.group(0)[:120]!r}"
        raise EquityError(msg)
    return page


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


# --------------------------------------------------------------------------- elements


class MapChrome(MacroElement):
    """Runtime script and styles, title panel, legend holder, attributions and initial view."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        equity.chrome({{ this._parent.get_name() }}, {{ this.spec_json }});
        {% endmacro %}
        """
    )

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self._name = "EquityChrome"
        self.spec_json = safe_json(spec)

    def render(self, **kwargs: Any) -> None:
        figure = self.get_root()
        figure.header.add_child(_InlineAsset("style", RUNTIME_CSS), name="equity_css")
        figure.header.add_child(_InlineAsset("script", RUNTIME_JS), name="equity_js")
        super().render(**kwargs)


class LevelData(MacroElement):
    """Geometry and per-feature text of one table, shared by all of its layers.

    The payload is a ``<script type="application/json">`` element parsed with ``JSON.parse``,
    which browsers parse faster than the same data as a JavaScript literal.
    """

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <script type="application/json" id="{{ this.get_name() }}_json">{{ this.data_json }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = equity.decode(JSON.parse(
            document.getElementById("{{ this.get_name() }}_json").textContent));
        {% endmacro %}
        """
    )

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()
        self._name = "EquityData"
        self.data_json = safe_json(data)


class ChoroplethLayer(Layer):
    """A filled layer drawn from a :class:`LevelData`; colour and fade come from properties."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = equity.choropleth({{ this._parent.get_name() }},
            {{ this.data.get_name() }}, {{ this.spec_json }},
            equity.renderer({{ this._parent.get_name() }}, {{ this.renderer|tojson }}, "overlayPane"));
        {% endmacro %}
        """
    )

    def __init__(
        self,
        data: LevelData,
        spec: dict[str, Any],
        *,
        overlay: bool = False,
        show: bool = True,
        renderer: str = "canvas",
    ) -> None:
        super().__init__(name=spec["name"], overlay=overlay, control=True, show=show)
        self._name = "EquityChoropleth"
        self.data = data
        self.spec_json = safe_json(spec)
        self.renderer = renderer


class HotspotLayer(Layer):
    """Significant local clusters (High-High, Low-Low, ...) over the choropleth."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = equity.hotspots({{ this._parent.get_name() }},
            {{ this.data.get_name() }}, {{ this.spec_json }},
            equity.renderer({{ this._parent.get_name() }}, "canvas", "equityOverlay"));
        {% endmacro %}
        """
    )

    def __init__(self, data: LevelData, spec: dict[str, Any], *, show: bool = True) -> None:
        super().__init__(name=spec["name"], overlay=True, control=True, show=show)
        self._name = "EquityHotspots"
        self.data = data
        self.spec_json = safe_json(spec)


class CandidateLayer(Layer):
    """Numbered candidate markers with popups giving rank, scores and the explanation."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = equity.candidates({{ this._parent.get_name() }}, {{ this.spec_json }});
        {% endmacro %}
        """
    )

    def __init__(self, spec: dict[str, Any], *, show: bool = True) -> None:
        super().__init__(name=spec["name"], overlay=True, control=True, show=show)
        self._name = "EquityCandidates"
        self.spec_json = safe_json(spec)

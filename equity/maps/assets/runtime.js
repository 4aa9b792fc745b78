(function () {
  "use strict";
  var E = window.equity = window.equity || {layers: {}, legends: {}, maps: [], sites: []};
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
    // tip: {t: [text]}, {k: [distinct text], c: [code, -1 = none]} or
    // {v: [number], d: decimals, u: suffix, lo: [..], hi: [..]}
    if (tip.t) { return tip.t[i] === null || tip.t[i] === undefined ? "no data" : tip.t[i]; }
    if (tip.k) { return tip.c[i] === null || tip.c[i] < 0 ? "no data" : tip.k[tip.c[i]]; }
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
  E.popupSize = function (map) {
    // A popup fits the map: at most its height and width less a margin, scrolling inside.
    var size = map.getSize();
    // the content box: the frame, the close button and the tip add some 60 px around it
    return {maxHeight: Math.max(100, size.y - 140), maxWidth: Math.max(160, Math.min(360, size.x - 80)),
            minWidth: Math.min(220, Math.max(120, size.x - 80))};
  };
  E.candidates = function (map, spec) {
    var group = L.featureGroup();
    // Selected sites sit above every panel (E.lift), so a panel never hides one; their popups
    // too, sized to the map and panned into view.
    var pane = spec.selected ? E.lift(map).sites : "markerPane";
    var popupPane = E.lift(map).popups;
    spec.items.forEach(function (c) {
      var icon = el("div", spec.selected ? "equity-marker equity-selected" : "equity-marker", c.rank);
      icon.setAttribute("aria-hidden", "true");
      var label = (spec.selected ? "Selected site " : "Candidate ") + c.rank + ": " + (c.name === null ? "" : c.name);
      var m = L.marker([c.lat, c.lon], {
        icon: L.divIcon({html: icon, className: "", iconSize: [26, 26], iconAnchor: [13, 13]}),
        title: label, alt: label, pane: pane, keyboard: true, riseOnHover: true
      });
      var size = E.popupSize(map);
      m.bindPopup(function () {
        var box = el("div", "equity-pop");
        box.appendChild(el("b", null, "#" + c.rank + " " + (c.name === null ? "" : c.name)));
        if (c.flag) { box.appendChild(el("p", "equity-flag", c.flag)); }
        var dl = el("dl");
        c.fields.forEach(function (kv) {
          dl.appendChild(el("dt", null, kv[0]));
          dl.appendChild(el("dd", null, kv[1] === null ? "no data" : kv[1]));
        });
        box.appendChild(dl);
        if (c.why) { box.appendChild(el("p", null, c.why)); }
        return box;
      }, {pane: popupPane, maxHeight: size.maxHeight, maxWidth: size.maxWidth, minWidth: size.minWidth,
          autoPan: true, keepInView: true, autoPanPadding: L.point(12, 12)});
      group.addLayer(m);
    });
    map.on("resize", function () {
      var size = E.popupSize(map);
      group.eachLayer(function (m) {
        var p = m.getPopup();
        if (p) { p.options.maxHeight = size.maxHeight; p.options.maxWidth = size.maxWidth; p.options.minWidth = size.minWidth; }
      });
    });
    E.register(map, spec.name, group, spec.items.length, null);
    if (spec.selected) { E.sites.push({map: map, layer: group}); }
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
  function collapsible(box, key, label) {
    // A button that hides everything of a panel but its first child (its heading).
    var btn = el("button", "equity-fold", "\u2212");
    btn.type = "button";
    btn.setAttribute("aria-expanded", "true");
    btn.setAttribute("aria-label", "Hide " + label);
    btn.addEventListener("click", function () {
      var folded = box.classList.toggle("equity-folded");
      btn.textContent = folded ? "+" : "\u2212";
      btn.setAttribute("aria-expanded", folded ? "false" : "true");
      btn.setAttribute("aria-label", (folded ? "Show " : "Hide ") + label);
    });
    box.insertBefore(btn, box.firstChild);
    box.setAttribute("data-panel", key);
    return btn;
  }
  E.collapsible = collapsible;
  function titlePanel(map, spec) {
    var t = L.control({position: "topleft"});
    t.onAdd = function () {
      var box = el("div", "equity-panel equity-title");
      box.appendChild(el("h1", null, spec.title || ""));
      var body = el("div", "equity-body");
      if (spec.subtitle) { body.appendChild(el("p", null, spec.subtitle)); }
      if (spec.warnings && spec.warnings.length) {
        // The run's warnings, at the top of the map: what the data could not tell.
        var det = el("details", "equity-warnings");
        det.appendChild(el("summary", null, "\u26a0 " + spec.warnings.length +
          (spec.warnings.length === 1 ? " data warning" : " data warnings") + ": read before deciding"));
        var ul = el("ul");
        spec.warnings.forEach(function (w) { ul.appendChild(el("li", null, w)); });
        det.appendChild(ul);
        body.appendChild(det);
      }
      box.appendChild(body);
      collapsible(box, "title", "title panel");
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    t.addTo(map);
    return t;
  }
  E.chrome = function (map, spec) {
    E.maps.push(map);
    map._equitySpec = spec;
    // Set the view first, so the layers are projected and drawn once, not again on fitBounds.
    if (spec.bounds) { map.fitBounds(spec.bounds, {padding: [8, 8], animate: false}); }
    if (spec.title || (spec.warnings && spec.warnings.length)) { titlePanel(map, spec); }
    var lg = L.control({position: "bottomleft"}), holder, list;
    lg.onAdd = function () {
      holder = el("div", "equity-panel equity-legend");
      holder.setAttribute("aria-live", "polite");
      list = el("div", "equity-body");
      holder.appendChild(list);
      collapsible(holder, "legend", "legend");
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
      list.textContent = "";
      Object.keys(E.legends).forEach(function (name) {
        var rec = E.layers[name];
        if (rec.map === map && map.hasLayer(rec.layer)) { list.appendChild(legendBlock(E.legends[name])); }
      });
      holder.style.display = list.childNodes.length ? "" : "none";
    };
    map.on("baselayerchange overlayadd overlayremove", function () {
      E.refreshLegend();
    });
    if (map.attributionControl) {
      // The attributions the licences require (Ookla, Microsoft, the basemap's), always in view.
      map.attributionControl.setPrefix(false);
      (spec.required || []).forEach(function (a) { map.attributionControl.addAttribution(E.escape(a)); });
    }
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
    // Layers and the layer control are added after this script runs: fill the legend, then
    // lay the view out so that no panel covers a selected site.
    setTimeout(function () {
      E.refreshLegend();
      if (E.layout) { E.layout(map); }
    }, 0);
  };
  E.escape = function (text) {
    var d = document.createElement("div");
    d.textContent = String(text);
    return d.innerHTML;
  };
})();

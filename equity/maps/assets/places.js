(function () {
  "use strict";
  // What makes a map readable without hovering, and usable without a mouse:
  // - E.basemap: street-map tiles under the data, requested only when the browser is online;
  //   every data layer works without them;
  // - E.places: place names drawn from the map's own data (offline), the largest first, none
  //   overlapping another or a panel; and a table of every place of the layer, reachable by
  //   keyboard and screen reader, linked to the map (focus a row: the map shows the place).
  var E = window.equity, el = E.el;
  E.basemaps = [];

  E.basemap = function (map, spec) {
    var group = L.layerGroup(), tiles = null;
    function load() {
      if (tiles || !map.hasLayer(group)) { return; }
      tiles = L.tileLayer(spec.url, {attribution: spec.attribution, subdomains: spec.subdomains,
                                     maxZoom: spec.maxZoom, detectRetina: false});
      group.addLayer(tiles);
    }
    group.on("add", function () {
      if (navigator.onLine) { load(); } else { window.addEventListener("online", load, {once: true}); }
    });
    E.basemaps.push({map: map, layer: group, tiles: function () { return tiles; }});
    return group;
  };

  // ------------------------------------------------------------------ labels

  function labels(map, spec) {
    var pane = map.getPane("equityLabelPane") || map.createPane("equityLabelPane");
    pane.style.zIndex = 460;
    pane.style.pointerEvents = "none";
    L.DomUtil.addClass(pane, "leaflet-zoom-hide");
    var lab = spec.labels || {n: [], y: [], x: []}, layer = L.layerGroup(), on = false;
    // every label box avoids the panels and the selected sites drawn above them
    function container(r, box) {
      return {left: r.left - box.left, right: r.right - box.left, top: r.top - box.top, bottom: r.bottom - box.top};
    }
    function draw() {
      pane.textContent = "";
      if (!on) { return; }
      var size = map.getSize(), view = map.getBounds(), placed = [], box = map.getContainer().getBoundingClientRect();
      E.panels(map).forEach(function (p) { placed.push(container(p.rect, box)); });
      E.siteBoxes(map).forEach(function (r) { placed.push(container(r, box)); });
      var shown = 0, ctx = measure();
      for (var k = 0; k < lab.n.length && shown < spec.maxLabels; k++) {
        if (!view.contains([lab.y[k], lab.x[k]])) { continue; }
        // the name's box from the font's metrics (no layout per candidate), centred on its point
        var p = map.latLngToContainerPoint([lab.y[k], lab.x[k]]);
        var w = ctx.measureText(lab.n[k]).width + 6, h = 16;
        var r = {left: p.x - w / 2, right: p.x + w / 2, top: p.y - h / 2, bottom: p.y + h / 2};
        var free = r.left >= 0 && r.top >= 0 && r.right <= size.x && r.bottom <= size.y;
        for (var j = 0; j < placed.length && free; j++) {
          var q = placed[j];
          free = !(r.left < q.right + 3 && q.left < r.right + 3 && r.top < q.bottom + 1 && q.top < r.bottom + 1);
        }
        if (!free) { continue; }
        placed.push(r);
        var node = el("div", "equity-label", lab.n[k]);
        // setPosition sets the element's transform: centre it on its point here
        L.DomUtil.setPosition(node, map.latLngToLayerPoint([lab.y[k], lab.x[k]]).subtract([w / 2, h / 2]));
        pane.appendChild(node);
        shown++;
      }
    }
    function measure() {
      // a canvas with the labels' font (.equity-label in runtime.css)
      var c = measure.canvas || (measure.canvas = document.createElement("canvas"));
      var ctx = c.getContext("2d");
      ctx.font = "600 11px system-ui, sans-serif";
      return ctx;
    }
    layer.on("add", function () { on = true; draw(); map.on("zoomend moveend resize", draw); });
    layer.on("remove", function () { on = false; draw(); map.off("zoomend moveend resize", draw); });
    layer.redraw = draw;
    return layer;
  }

  // ------------------------------------------------------------------ table

  function liveRegion() {
    var live = document.getElementById("equity-live");
    if (!live) {
      live = el("p", "equity-sr");
      live.id = "equity-live";
      live.setAttribute("role", "status");
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    return live;
  }

  E.showPlace = function (map, d, i, name) {
    // Fit the map to place i (keeping the zoom when it is already well in view), outline it
    // and say what the map shows.
    var f = d.fc.features[i], shape = L.geoJSON(f), b = shape.getBounds(), view = map.getBounds();
    var size = map.getSize(), pad = L.point(Math.round(size.x / 4), Math.round(size.y / 4));
    if (view.contains(b) && map.getZoom() >= map.getBoundsZoom(b, false, pad) - 3) {
      map.panTo(b.getCenter(), {animate: false});
    } else {
      map.fitBounds(b, {padding: pad, maxZoom: 14, animate: false});
    }
    if (!map.getPane("equityOutlinePane")) { map.createPane("equityOutlinePane").style.zIndex = 470; }
    if (map._equityOutline) { map.removeLayer(map._equityOutline); }
    map._equityOutline = L.geoJSON(f, {pane: "equityOutlinePane", interactive: false,
      style: {color: "#111", weight: 3, fill: false, opacity: 1}}).addTo(map);
    liveRegion().textContent = "Map shows " + name;
  };

  function rowOrder(d, spec) {
    var n = d.fc.features.length, order = [];
    for (var i = 0; i < n; i++) { order.push(i); }
    var rank = d.tips.rank, idx = d.tips[spec.sortKey];
    var key = function (i) {
      if (rank && rank.v && rank.v[i] !== null) { return rank.v[i]; }
      if (idx && idx.v && idx.v[i] !== null) { return -idx.v[i]; }
      return Infinity;
    };
    order.sort(function (a, b) { return key(a) - key(b) || a - b; });
    return order.slice(0, spec.maxRows);
  }

  function buildRows(map, d, spec, tbody) {
    var cols = spec.fields.filter(function (k) { return d.tips[k]; });
    rowOrder(d, spec).forEach(function (i) {
      var tr = el("tr"), th = el("th"), btn = el("button", "equity-place", d.names[i] === null ? "(unnamed)" : d.names[i]);
      th.setAttribute("scope", "row");
      btn.type = "button";
      btn.setAttribute("data-i", String(i));
      btn.tabIndex = -1;
      th.appendChild(btn);
      tr.appendChild(th);
      var said = [];
      cols.forEach(function (k) {
        var v = E.fmt(d.tips[k], i);
        tr.appendChild(el("td", null, v));
        if (spec.spoken.indexOf(k) >= 0) { said.push(d.labels[k] + " " + v); }
      });
      if (d.rel) {
        tr.appendChild(el("td", null, d.relLabels[d.rel.charCodeAt(i) - 48] || "no data"));
      }
      var name = (d.names[i] === null ? "(unnamed)" : d.names[i]) + (said.length ? ": " + said.join(", ") : "");
      btn.addEventListener("focus", function () {
        tbody.querySelectorAll("button.equity-place").forEach(function (b) { b.tabIndex = -1; });
        btn.tabIndex = 0;
        tr.classList.add("equity-current");
        E.showPlace(map, d, i, name);
      });
      btn.addEventListener("blur", function () { tr.classList.remove("equity-current"); });
      btn.addEventListener("click", function () { E.showPlace(map, d, i, name); });
      tbody.appendChild(tr);
    });
    var first = tbody.querySelector("button.equity-place");
    if (first) { first.tabIndex = 0; }
    tbody.addEventListener("keydown", function (e) {
      var cur = document.activeElement;
      if (!cur || !cur.classList.contains("equity-place")) { return; }
      var rows = Array.prototype.slice.call(tbody.querySelectorAll("button.equity-place"));
      var at = rows.indexOf(cur), to = null;
      if (e.key === "ArrowDown") { to = Math.min(at + 1, rows.length - 1); }
      else if (e.key === "ArrowUp") { to = Math.max(at - 1, 0); }
      else if (e.key === "Home") { to = 0; }
      else if (e.key === "End") { to = rows.length - 1; }
      if (to !== null) { e.preventDefault(); rows[to].focus(); }
    });
    return cols;
  }

  function table(map, d, spec) {
    var aside = el("aside", "equity-places");
    aside.id = "equity-places";
    aside.hidden = true;
    aside.setAttribute("aria-labelledby", "equity-places-h");
    var head = el("div", "equity-places-head");
    var h = el("h2", null, spec.title);
    h.id = "equity-places-h";
    var close = el("button", "equity-fold", "\u00d7");
    close.type = "button";
    close.setAttribute("aria-label", "Close the table of places");
    head.appendChild(h);
    head.appendChild(close);
    aside.appendChild(head);
    aside.appendChild(el("p", "equity-note", spec.note));
    var tbl = el("table"), cap = el("caption", null, spec.title), thead = el("thead"), hr = el("tr");
    var tbody = el("tbody");
    tbl.appendChild(cap);
    var built = false, toggles = [];
    function build() {
      if (built) { return; }
      built = true;
      var cols = buildRows(map, d, spec, tbody);
      var th0 = el("th", null, spec.nameLabel);
      th0.setAttribute("scope", "col");
      hr.appendChild(th0);
      cols.forEach(function (k) { var th = el("th", null, d.labels[k]); th.setAttribute("scope", "col"); hr.appendChild(th); });
      if (d.rel) { var thr = el("th", null, "Reliability"); thr.setAttribute("scope", "col"); hr.appendChild(thr); }
    }
    thead.appendChild(hr);
    tbl.appendChild(thead);
    tbl.appendChild(tbody);
    aside.appendChild(tbl);
    function setOpen(open, focus) {
      if (open) { build(); }
      aside.hidden = !open;
      document.body.classList.toggle("equity-table-open", open);
      toggles.forEach(function (t) { t.setAttribute("aria-expanded", open ? "true" : "false"); });
      map.invalidateSize({pan: false});
      if (open && focus) {
        var b = tbody.querySelector("button.equity-place[tabindex='0']") || tbody.querySelector("button.equity-place");
        if (b) { b.focus(); }
      }
    }
    close.addEventListener("click", function () { setOpen(false); if (toggles[0]) { toggles[0].focus(); } });
    document.body.appendChild(aside);
    // The first stop of the keyboard: straight to the table.
    var skip = el("a", "equity-skip", "Skip to the table of places");
    skip.href = "#equity-places";
    skip.addEventListener("click", function (e) { e.preventDefault(); setOpen(true, true); });
    document.body.insertBefore(skip, document.body.firstChild);
    // A button in the title panel (or its own control) opens and closes it.
    var title = map.getContainer().querySelector(".equity-title .equity-body");
    var btn = el("button", "equity-open-table", "Table of places");
    btn.type = "button";
    btn.setAttribute("aria-controls", "equity-places");
    btn.addEventListener("click", function () { setOpen(aside.hidden, true); });
    toggles.push(btn);
    if (title) {
      title.appendChild(btn);
    } else {
      var c = L.control({position: "topleft"});
      c.onAdd = function () { var box = el("div", "equity-panel"); box.appendChild(btn); return box; };
      c.addTo(map);
    }
    setOpen(false);
    return {open: setOpen, aside: aside};
  }

  E.places = function (map, d, spec) {
    var layer = labels(map, spec);
    map._equityTable = table(map, d, spec);
    E.labelLayers = (E.labelLayers || []).concat([{map: map, layer: layer}]);
    return layer;
  };
})();

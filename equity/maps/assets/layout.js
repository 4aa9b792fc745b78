(function () {
  "use strict";
  // Layout: panels never cover a selected site.
  //
  // 1. Selected sites and popups live in panes lifted above the panels (E.lift): a panel can
  //    never hide or block one, whatever the user pans to.
  // 2. On opening (and when the window is resized), the view is fitted to the data with
  //    padding grown until no panel's box overlaps a selected site's marker (E.layout); a
  //    panel that still would is folded to its button.
  var E = window.equity;

  E.lift = function (map) {
    // Panes for selected sites and popups above the map's controls, following the map pane.
    if (map._equityLift) { return map._equityLift; }
    var box = E.el("div", "equity-lift leaflet-zoom-animated");
    map.getContainer().appendChild(box);
    var mapPane = map.getPane("mapPane");
    var sync = function () { L.DomUtil.setPosition(box, L.DomUtil.getPosition(mapPane) || L.point(0, 0)); };
    map.on("move zoom viewreset resize zoomend moveend", sync);
    // markers animate their zoom with the map pane's class, which this box must mirror
    map.on("zoomanim", function () { L.DomUtil.addClass(box, "leaflet-zoom-anim"); });
    map.on("zoomend", function () { L.DomUtil.removeClass(box, "leaflet-zoom-anim"); });
    sync();
    map.createPane("equitySitesPane", box);
    map.createPane("equityPopupPane", box);
    map._equityLift = {box: box, sites: "equitySitesPane", popups: "equityPopupPane"};
    return map._equityLift;
  };

  function panels(map) {
    // Every visible control of the map (title, legend, layers, sources, zoom, scale...).
    var out = [];
    map.getContainer().querySelectorAll(".leaflet-control").forEach(function (c) {
      var r = c.getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && getComputedStyle(c).visibility !== "hidden") {
        var corner = c.parentNode.className;
        out.push({el: c, rect: r, top: corner.indexOf("leaflet-top") >= 0,
                  left: corner.indexOf("leaflet-left") >= 0});
      }
    });
    return out;
  }
  E.panels = panels;

  function siteBoxes(map) {
    var out = [];
    E.sites.forEach(function (rec) {
      if (rec.map !== map || !map.hasLayer(rec.layer)) { return; }
      rec.layer.eachLayer(function (m) {
        if (m._icon) { out.push(m._icon.getBoundingClientRect()); }
      });
    });
    return out;
  }
  E.siteBoxes = siteBoxes;

  function hit(a, b, gap) {
    return a.left < b.right + gap && b.left < a.right + gap &&
           a.top < b.bottom + gap && b.top < a.bottom + gap;
  }

  function overlaps(map, gap) {
    var sites = siteBoxes(map), out = [];
    panels(map).forEach(function (p) {
      sites.forEach(function (s) { if (hit(p.rect, s, gap)) { out.push({panel: p, site: s}); } });
    });
    return out;
  }
  E.overlaps = overlaps;

  function fit(map, bounds, pad) {
    map.fitBounds(bounds, {paddingTopLeft: [pad.l, pad.t], paddingBottomRight: [pad.r, pad.b],
                           animate: false});
  }

  E.layout = function (map) {
    var ok = fitAroundPanels(map);
    // the names avoid the panels as they finally are
    (E.labelLayers || []).forEach(function (r) { if (r.map === map && r.layer.redraw) { r.layer.redraw(); } });
    return ok;
  };

  function fitAroundPanels(map) {
    var spec = map._equitySpec || {};
    if (!spec.bounds) { return true; }
    var bounds = L.latLngBounds(spec.bounds);
    E.sites.forEach(function (rec) {
      if (rec.map === map) { rec.layer.eachLayer(function (m) { bounds.extend(m.getLatLng()); }); }
    });
    var box = map.getContainer().getBoundingClientRect(), gap = 4;
    var pad = {t: 24, r: 24, b: 24, l: 24};  // a marker (26 px) at the edge stays whole
    fit(map, bounds, pad);
    for (var i = 0; i < 8; i++) {
      var found = overlaps(map, gap);
      if (!found.length) { return true; }
      found.forEach(function (h) {
        // grow the padding on the side that gives up the smaller share of the map
        var r = h.panel.rect;
        var v = h.panel.top ? r.bottom - box.top + gap : box.bottom - r.top + gap;
        var hz = h.panel.left ? r.right - box.left + gap : box.right - r.left + gap;
        if (v / box.height <= hz / box.width) {
          if (h.panel.top) { pad.t = Math.max(pad.t, v); } else { pad.b = Math.max(pad.b, v); }
        } else if (h.panel.left) { pad.l = Math.max(pad.l, hz); } else { pad.r = Math.max(pad.r, hz); }
      });
      if (pad.t + pad.b > box.height * 0.8 || pad.l + pad.r > box.width * 0.8) { break; }
      fit(map, bounds, pad);
    }
    // Still covered: fold the panels in the way (each keeps a button to unfold it).
    overlaps(map, gap).forEach(function (h) {
      var c = h.panel.el;
      if (c.classList.contains("leaflet-control-layers")) {
        // as Control.Layers.collapse(): its toggle button expands it again
        c.classList.remove("leaflet-control-layers-expanded");
      } else if (!c.classList.contains("equity-folded") && c.querySelector(".equity-fold")) {
        c.querySelector(".equity-fold").click();
      }
    });
    return overlaps(map, 0).length === 0;
  }

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { E.maps.forEach(function (m) { E.layout(m); }); }, 150);
  });
})();

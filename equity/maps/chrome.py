"""The map's chrome: title panel, legend holder, sources and licences, and the initial view.

One :class:`MapChrome` per map, the map's first child, so the view is set before any layer is
drawn. Every layer added merges its bounds into it; :func:`attribution_lines` gives the
sources panel one line per source with its licence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import folium
from branca.element import Figure, MacroElement

from equity.errors import EquityError
from equity.maps._resources import element_template
from equity.maps.encoding import safe_json
from equity.maps.runtime import _InlineAsset, runtime_css, runtime_js

__all__ = ["BASEMAPS", "MapChrome", "attribution_lines", "required_attribution"]

# Required attribution of sources a provenance record may describe only by name.
_DEFAULT_ATTRIBUTION: dict[str, tuple[str, str]] = {
    "ookla": (
        "Speedtest\u00ae by Ookla\u00ae Global Fixed and Mobile Network Performance Maps",
        "CC BY-NC-SA 4.0",
    ),
    "microsoft": ("Microsoft USBroadbandUsagePercentages", "O-UDA v1.0"),
    "broadband": ("Microsoft USBroadbandUsagePercentages", "O-UDA v1.0"),
}


#: Basemaps a map can load when online: name -> tile URL, attribution (HTML written here, not
#: from data), subdomains and maximum zoom. OpenStreetMap's own tiles need a Referer, which a
#: page opened from a file does not send, so CARTO's Positron (OpenStreetMap data) is the default.
BASEMAPS: dict[str, dict[str, Any]] = {
    "carto": {
        "url": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
        "attribution": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
        'contributors &copy; <a href="https://carto.com/attributions">CARTO</a>',
        "subdomains": "abcd",
        "maxZoom": 19,
    },
    "osm": {
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attribution": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
        "contributors",
        "subdomains": "abc",
        "maxZoom": 19,
    },
}


class MapChrome(MacroElement):
    """Runtime script and styles, title panel, legend holder, attributions and initial view.

    Parameters
    ----------
    spec
        ``title``, ``subtitle``, ``attribution`` (list of lines) and ``bounds``
        (``[[south, west], [north, east]]`` or None); plain text, escaped by the runtime.
    """

    _template = element_template("chrome.js.j2")

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self._name = "EquityChrome"
        self.spec = spec
        self.spec_json = safe_json(spec)

    # MacroElement.render returns nothing (branca types Element.render as returning str).
    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        figure = self.get_root()
        if not isinstance(figure, Figure):
            msg = "the map chrome can only be rendered inside a folium figure"
            raise EquityError(msg)
        # A line break after <style>/<script>, as the pages have always had.
        figure.header.add_child(_InlineAsset("style", "\n" + runtime_css()), name="equity_css")
        figure.header.add_child(_InlineAsset("script", "\n" + runtime_js()), name="equity_js")
        super().render(**kwargs)


def _find_chrome(m: folium.Map) -> MapChrome | None:
    for child in m._children.values():
        if isinstance(child, MapChrome):
            return child
    return None


def _union_bounds(a: Any, b: Sequence[float] | None) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` covering `a` (same form) and `b` (shapely bounds)."""
    if b is None:
        return a
    new = [[float(b[1]), float(b[0])], [float(b[3]), float(b[2])]]
    if a is None:
        return new
    return [
        [min(a[0][0], new[0][0]), min(a[0][1], new[0][1])],
        [max(a[1][0], new[1][0]), max(a[1][1], new[1][1])],
    ]


def _set_chrome(
    m: folium.Map,
    *,
    title: str | None,
    subtitle: str | None,
    attribution: Sequence[str],
    bounds: Sequence[float] | None,
    warnings: Sequence[str] = (),
    required: Sequence[str] = (),
) -> None:
    """Merge into the map's chrome: new title/subtitle if given, more sources, wider bounds,
    the run's warnings (top of the map) and the attributions licences require (always in
    view, in the map's attribution line)."""
    old = _find_chrome(m)
    spec: dict[str, Any] = old.spec if old is not None else {}
    spec = {
        "title": title if title is not None else spec.get("title"),
        "subtitle": subtitle if subtitle is not None else spec.get("subtitle"),
        "attribution": list(dict.fromkeys([*spec.get("attribution", []), *map(str, attribution)])),
        "bounds": _union_bounds(spec.get("bounds"), bounds),
        "warnings": list(dict.fromkeys([*spec.get("warnings", []), *map(str, warnings)])),
        "required": list(dict.fromkeys([*spec.get("required", []), *map(str, required)])),
    }
    m.add_child(MapChrome(spec), name="equity_chrome")
    # First child of the map: the view is set before any layer is drawn.
    m._children.move_to_end("equity_chrome", last=False)


#: Short attributions a licence requires in view on every map, by a word of the source.
REQUIRED_ATTRIBUTION: dict[str, str] = {
    "ookla": "Speedtest\u00ae by Ookla\u00ae (CC BY-NC-SA 4.0)",
    "speedtest": "Speedtest\u00ae by Ookla\u00ae (CC BY-NC-SA 4.0)",
    "microsoft": "Microsoft Airband broadband usage (O-UDA v1.0)",
}


def required_attribution(provenance: Sequence[Mapping[str, Any]]) -> list[str]:
    """The short attributions the sources' licences require to be visible on the map.

    Examples
    --------
    >>> required_attribution([{"source": "ookla"}, {"source": "acs"}])
    ['Speedtest® by Ookla® (CC BY-NC-SA 4.0)']
    """
    out = []
    for rec in provenance:
        text = " ".join(str(rec.get(k) or "") for k in ("source", "title", "attribution")).lower()
        out += [line for word, line in REQUIRED_ATTRIBUTION.items() if word in text]
    return list(dict.fromkeys(out))


def attribution_lines(provenance: Sequence[Mapping[str, Any]]) -> list[str]:
    """One plain-text line per source: its attribution and licence (deduplicated).

    Ookla (CC BY-NC-SA 4.0) and Microsoft (O-UDA v1.0) get their required lines even when a
    provenance record lacks them.

    Parameters
    ----------
    provenance
        Provenance records (``source``, ``attribution`` or ``title``, ``licence``).

    Returns
    -------
    list of str
        ``"<attribution> (<licence>)"`` per source, in order, without repeats.

    Examples
    --------
    >>> attribution_lines([{"source": "acs", "attribution": "ACS", "licence": "public domain"}])
    ['ACS (public domain)']
    """
    lines: list[str] = []
    for rec in provenance:
        source = str(rec.get("source") or "").lower()
        default_attr, default_lic = next(
            (v for k, v in _DEFAULT_ATTRIBUTION.items() if source.startswith(k)), (None, None)
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

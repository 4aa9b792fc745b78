"""What a map page runs: Leaflet and the project's runtime, inlined in the page.

- Leaflet's JavaScript and CSS come from the installed ``xstatic-leaflet`` package (its images
  inlined as ``data:`` URIs);
- the runtime (``assets/runtime.js``, ``assets/runtime.css``) decodes the compact geometry,
  builds every layer with ONE style function reading ``feature.properties``, builds tooltips,
  popups, legends and panels from text with ``textContent`` only, and keeps a registry
  (``window.equity.layers``) that the browser tests read.
"""

from __future__ import annotations

import base64
import functools
import re
from pathlib import Path
from typing import Any

from branca.element import Element

from equity.maps._resources import asset_text

__all__ = ["leaflet_css", "leaflet_js", "runtime_css", "runtime_js"]


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


#: The runtime's scripts, in the order they run: the core (decoding, layers, chrome), the
#: layout (panels never cover a selected site) and the places (basemap, names, table).
_RUNTIME_JS = ("runtime.js", "layout.js", "places.js")


def runtime_js() -> str:
    """The runtime's JavaScript (``assets/runtime.js``, ``layout.js``, ``places.js``)."""
    return "\n".join(asset_text(name) for name in _RUNTIME_JS)


def runtime_css() -> str:
    """The runtime's styles (``assets/runtime.css``): panels, legend, tooltips, markers."""
    return asset_text("runtime.css")


class _InlineAsset(Element):
    """An inline ``<script>`` or ``<style>`` element in the page header."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__()
        self._text = text
        self._kind = kind

    def render(self, **kwargs: Any) -> str:
        return f"<{self._kind}>{self._text}</{self._kind}>"

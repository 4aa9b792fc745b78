"""One HTML file per map that opens anywhere: every script and style sheet inlined.

Leaflet comes from ``xstatic-leaflet`` (:mod:`equity.maps.runtime`); folium's jQuery,
Bootstrap and Awesome-Markers links are dropped (nothing here uses them); any other external
asset is an error rather than a page that is blank offline. The page is
``templates/page.html.j2``.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import folium
from branca.element import CssLink, Figure, JavascriptLink
from markupsafe import Markup

from equity._io import atomic_write_text
from equity.errors import EquityError
from equity.maps._ids import stable_ids
from equity.maps._resources import page_template
from equity.maps.chrome import _find_chrome
from equity.maps.runtime import _InlineAsset, leaflet_css, leaflet_js

__all__ = ["render_self_contained", "save_map"]

log = logging.getLogger(__name__)

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
# Leaflet must come before everything that uses it.
_FIRST_IN_HEADER = ("leaflet_css", "leaflet")


def _inline_links(figure: Figure) -> None:
    """Replace the header's links by inline Leaflet, drop the unused ones, refuse the rest."""
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


def _render_parts(figure: Figure) -> tuple[str, str, str]:
    """Header (assets inlined, Leaflet first), body and script of `figure`."""
    for child in list(figure._children.values()):
        child.render()
    _inline_links(figure)
    head = figure.header._children
    order = [k for k in _FIRST_IN_HEADER if k in head] + [
        k for k in head if k not in _FIRST_IN_HEADER
    ]
    header = "\n".join(head[k].render() for k in order)
    return header, figure.html.render(), figure.script.render()


def render_self_contained(figure: Figure, *, title: str | None = None) -> str:
    """Render `figure` as one HTML page with every script and style sheet inlined.

    Leaflet comes from ``xstatic-leaflet``; folium's jQuery, Bootstrap and Awesome-Markers links
    are dropped (nothing here uses them). An element that needs any other external asset
    raises :class:`equity.errors.EquityError` rather than write a page that is blank offline.
    The figure's header is restored afterwards, so folium's own rendering is unaffected.

    Parameters
    ----------
    figure
        The map's root figure (``m.get_root()``).
    title
        Text of the page's ``<title>`` (escaped); none when None.

    Returns
    -------
    str
        The page.
    """
    saved = dict(figure.header._children)
    try:
        header, body, script = _render_parts(figure)
    finally:
        figure.header._children.clear()
        figure.header._children.update(saved)
    # header, body and script are HTML and JavaScript rendered by folium: inserted as they are.
    page = page_template("page.html.j2").render(
        title=title, header=Markup(header), body=Markup(body), script=Markup(script)
    )
    match = _EXTERNAL_REF.search(page)
    if match:
        msg = f"self-contained map still references an external asset: {match.group(0)[:120]!r}"
        raise EquityError(msg)
    return page


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
    if not isinstance(figure, Figure):
        msg = "the map is not in a folium figure; create it with folium.Map"
        raise EquityError(msg)
    chrome = _find_chrome(m)
    title = chrome.spec.get("title") if chrome is not None else None
    text = render_self_contained(figure, title=title) if self_contained else figure.render()
    text = stable_ids(text, figure)  # the same map gives the same bytes
    out = atomic_write_text(path, text)
    log.info("maps: wrote %s (%d bytes)", out, out.stat().st_size)
    return out

"""Package files of :mod:`equity.maps`: ``assets/`` (JavaScript, CSS) and ``templates/`` (jinja2).

The files are read with :mod:`importlib.resources`, so they are found wherever the package is
installed (a folder, a wheel, a zip).
"""

from __future__ import annotations

import functools
import html
from importlib import resources

import jinja2
from folium.template import Template
from markupsafe import Markup

__all__ = ["asset_text", "element_template", "page_template"]


def _read(folder: str, name: str) -> str:
    return (resources.files("equity.maps") / folder / name).read_text(encoding="utf-8")


@functools.cache
def asset_text(name: str) -> str:
    """Text of ``assets/<name>`` (cached: the files do not change while Python runs)."""
    return _read("assets", name)


def element_template(name: str) -> Template:
    """The macros (``html``, ``script``) of a folium element, from ``templates/<name>``.

    A folium :class:`~folium.template.Template`, so the element renders with folium's filters.
    """
    return Template(_read("templates", name))


def _escape_html(value: object) -> Markup:
    # html.escape, as the pages always used (quotes as &quot; and &#x27;); markupsafe's own
    # escaping spells them &#34; and &#39;.
    return Markup(html.escape(str(value)))


@functools.cache
def _page_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: _read("templates", name)),
        autoescape=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["html"] = _escape_html
    return env


def page_template(name: str) -> jinja2.Template:
    """An HTML page template from ``templates/<name>``.

    Autoescaping is on: a value shows as text unless it is :class:`markupsafe.Markup` (HTML
    rendered by folium) or goes through the ``html`` filter (:func:`html.escape`).
    """
    return _page_environment().get_template(name)

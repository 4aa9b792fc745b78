"""Element ids that are the same on every run, so a map's bytes depend only on its data.

folium (branca) names every element ``<kind>_<32 random hex digits>`` (``map_5575...``), so
two runs on the same data wrote different HTML. :func:`stable_ids` renumbers the ids of a
rendered figure in the order they first appear in the page: ``map_0000...0001``, ...
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["stable_ids"]

_HEX32 = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def _elements(root: Any) -> Iterator[Any]:
    """`root` and every element below it (children, and a figure's header, html, script)."""
    stack, seen = [root], set()
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        yield element
        stack.extend(getattr(element, "_children", {}).values())
        stack.extend(
            part for name in ("header", "html", "script") if (part := getattr(element, name, None))
        )


def stable_ids(page: str, figure: Any) -> str:
    """`page` (the rendered `figure`) with the figure's random element ids renumbered.

    Only the 32-hex-digit ids of the figure's own elements are replaced, in the order of
    their first appearance, so the same map renders to the same bytes.

    Examples
    --------
    >>> import folium
    >>> m = folium.Map()
    >>> a = stable_ids(m.get_root().render(), m.get_root())
    >>> m2 = folium.Map()
    >>> a == stable_ids(m2.get_root().render(), m2.get_root())
    True
    """
    ids = {str(getattr(e, "_id", "")) for e in _elements(figure)}
    numbers: dict[str, str] = {}

    def renumber(match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in ids:
            return found
        return numbers.setdefault(found, f"{len(numbers) + 1:032x}")

    return _HEX32.sub(renumber, page)

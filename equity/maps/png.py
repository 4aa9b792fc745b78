"""Static PNG maps (matplotlib): the same classes, colours, fading and legend as the HTML map.

Polygons are drawn as one compound path per (colour, reliability) group: a handful of paths
instead of one per feature, so tens of thousands of polygons draw in well under a second.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from equity._io import atomic_path
from equity.maps.classify import (
    _STROKE_DENSE,
    RELIABILITY_LEVELS,
    RELIABILITY_OPACITY,
    _classify,
    _layer_spec,
    _palette_colors,
    _reliability_codes,
)
from equity.maps.encoding import _prepare_geometry, _require_column
from equity.maps.formatting import _column_kind

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.path import Path as MplPath

__all__ = ["write_png"]

_MARKER_COLOR = "#6a1b9a"
_MARKER_EDGE = "#ffd54f"


def _marker_points(candidates: gpd.GeoDataFrame | None) -> pd.DataFrame | None:
    """Longitude, latitude and rank of the selected candidates (all when none is selected)."""
    if candidates is None or not len(candidates):
        return None
    frame = candidates
    if "selected" in frame.columns and frame["selected"].fillna(False).astype(bool).any():
        frame = frame.loc[frame["selected"].fillna(False).astype(bool)]
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    geoms = frame.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    pts = shapely.point_on_surface(geoms[ok])
    ranks = frame["rank"].to_numpy()[ok] if "rank" in frame.columns else np.arange(1, ok.sum() + 1)
    return pd.DataFrame({"lon": shapely.get_x(pts), "lat": shapely.get_y(pts), "rank": ranks})


def _ring_paths(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates, matplotlib path codes and the feature of every coordinate (vectorised)."""
    from matplotlib.path import Path as MplPath

    geom_type, coords, offsets = shapely.to_ragged_array(geoms)
    if geom_type == shapely.GeometryType.POLYGON:
        ring_off, poly_off = offsets
        geom_off = np.arange(len(poly_off), dtype=np.int64)
    else:
        ring_off, poly_off, geom_off = offsets
    codes = np.full(len(coords), MplPath.LINETO, dtype=np.uint8)
    codes[ring_off[:-1]] = MplPath.MOVETO
    codes[ring_off[1:] - 1] = MplPath.CLOSEPOLY
    # coordinate -> ring -> polygon -> feature
    ring_of_coord = np.repeat(np.arange(len(ring_off) - 1), np.diff(ring_off))
    poly_of_ring = np.repeat(np.arange(len(poly_off) - 1), np.diff(poly_off))
    feat_of_poly = np.repeat(np.arange(len(geom_off) - 1), np.diff(geom_off))
    return coords, codes, feat_of_poly[poly_of_ring[ring_of_coord]]


def _grouped_paths(
    geoms: np.ndarray,
    classes: np.ndarray,
    spec: Mapping[str, Any],
    reliability: pd.Series | None,
) -> tuple[list[MplPath], np.ndarray]:
    """One compound path per (colour, reliability) group, and the groups' RGBA face colours."""
    from matplotlib.colors import to_rgba_array
    from matplotlib.path import Path as MplPath

    coords, codes, feat_of_coord = _ring_paths(geoms)
    palette = np.vstack([to_rgba_array(spec["colors"]), to_rgba_array([spec["missing"]])])
    colour = np.where(classes >= 0, classes, len(palette) - 1)
    n_levels = len(RELIABILITY_LEVELS)
    rel = (
        _reliability_codes(reliability)
        if reliability is not None
        else np.zeros(len(classes), dtype=np.int64)
    )
    group = colour * n_levels + rel
    group_of_coord = group[feat_of_coord]
    paths, face = [], []
    for g in np.unique(group):
        sel = group_of_coord == g
        paths.append(MplPath(coords[sel], codes[sel]))
        rgba = palette[g // n_levels].copy()
        if reliability is not None:
            rgba[3] = RELIABILITY_OPACITY[g % n_levels]
        face.append(rgba)
    return paths, np.asarray(face)


def _draw_polygons(
    ax: Axes,
    geoms: np.ndarray,
    classes: np.ndarray,
    spec: Mapping[str, Any],
    reliability: pd.Series | None,
) -> None:
    from matplotlib.collections import PathCollection

    paths, face = _grouped_paths(geoms, classes, spec, reliability)
    coll = PathCollection(
        paths,
        facecolors=face,
        edgecolors="#ffffff" if len(classes) < _STROKE_DENSE else "none",
        linewidths=0.2,
    )
    ax.add_collection(coll)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect(1 / math.cos(math.radians((miny + maxy) / 2)))
    ax.set_axis_off()


def _draw_legend(ax: Axes, legend: Mapping[str, Any]) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(
            facecolor=it[0], edgecolor="#777777", alpha=it[2] if len(it) > 2 else 1.0, label=it[1]
        )
        for it in legend["items"]
    ]
    ax.legend(
        handles=handles,
        title=legend["title"],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=7,
        title_fontsize=8,
        frameon=False,
    )


def _draw_markers(ax: Axes, markers: pd.DataFrame) -> None:
    """Candidates as numbered dots."""
    ax.scatter(
        markers["lon"], markers["lat"], s=110, c=_MARKER_COLOR, edgecolors=_MARKER_EDGE, zorder=3
    )
    for lon, lat, label in zip(markers["lon"], markers["lat"], markers["rank"], strict=True):
        ax.annotate(
            str(label),
            (lon, lat),
            ha="center",
            va="center",
            fontsize=6,
            color="white",
            weight="bold",
            zorder=4,
        )


def _fit_title(fig: Figure, ax: Axes, title: str, *, note: str | None = None) -> None:
    """The title (and a note under it), wrapped and shrunk until it fits the figure's width;
    the map moves down below it.

    Titles were one line at 11 pt and lost both ends when longer than the figure.
    """
    import textwrap

    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # an Agg canvas
    width = fig.bbox.width
    text = None
    for size in (11.0, 10.0, 9.0, 8.0, 7.0):
        chars = max(20, int(width * 0.96 / (size * fig.dpi / 72 * 0.55)))
        lines = textwrap.wrap(title, chars)[:3]
        if note:
            lines.append(note)
        if text is not None:
            text.remove()
        text = fig.text(0.5, 0.985, "\n".join(lines), ha="center", va="top", fontsize=size)
        box = text.get_window_extent(renderer)
        if box.x0 >= 0 and box.x1 <= width:
            break
    assert text is not None
    box = text.get_window_extent(renderer)
    top = 1.0 - (fig.bbox.height - box.y0) / fig.bbox.height - 0.01
    x0, y0, w, h = ax.get_position().bounds
    if y0 + h > top:
        ax.set_position((x0, y0, w, max(0.2, top - y0)))


def _new_figure(dpi: int) -> tuple[Figure, Axes]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 7), dpi=dpi)
    FigureCanvasAgg(fig)  # a renderer to measure the title with
    return fig, fig.add_axes((0.01, 0.07, 0.72, 0.85))


def _write_png_prepared(
    path: Path,
    geoms: np.ndarray,
    classes: np.ndarray,
    spec: Mapping[str, Any],
    *,
    reliability: pd.Series | None,
    title: str | None,
    attribution: Sequence[str],
    markers: pd.DataFrame | None = None,
    dpi: int = 110,
    note: str | None = None,
) -> Path:
    """Draw prepared polygons with their classes and layer spec (:func:`_layer_spec`)."""
    fig, ax = _new_figure(dpi)
    geoms = shapely.orient_polygons(geoms)  # exterior CCW, holes CW: holes stay holes
    _draw_polygons(ax, geoms, classes, spec, reliability)
    if title:
        _fit_title(fig, ax, title, note=note)
    _draw_legend(ax, spec["legend"])
    if markers is not None and len(markers):
        _draw_markers(ax, markers)
    if attribution:
        fig.text(
            0.01, 0.01, "Sources: " + "; ".join(attribution), fontsize=6, color="#444444", wrap=True
        )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def write_png(
    gdf: gpd.GeoDataFrame,
    column: str,
    path: str | os.PathLike[str],
    *,
    scheme: str = "quantiles",
    k: int = 5,
    palette: str | Sequence[str] | None = None,
    legend_title: str | None = None,
    units: str | None = None,
    reliability_column: str | None = None,
    title: str | None = None,
    attribution: Sequence[str] = (),
) -> Path:
    """A static PNG choropleth (matplotlib, same classes and colours as :func:`choropleth`).

    Parameters
    ----------
    gdf, column, scheme, k, palette, legend_title, units, reliability_column
        As in :func:`choropleth`.
    path
        Destination ``.png`` (written atomically).
    title, attribution
        Figure title and source lines.

    Returns
    -------
    Path
        `path`.
    """
    _require_column(gdf, column)
    # A raster needs no simplification (and skipping the coverage check saves a second).
    frame, geoms, _, _ = _prepare_geometry(gdf, simplify=0.0, decimals=None)
    classes, bins = _classify(frame[column], scheme=scheme, k=k)
    kind, default_units = _column_kind(column)
    spec = _layer_spec(
        name=legend_title or column,
        key=column,
        colors=_palette_colors(palette, max(len(bins), 1)),
        bins=bins,
        values=frame[column],
        kind=kind,
        legend_title=legend_title or column,
        units=default_units if units is None else units,
        reliability=reliability_column is not None,
        fields=[],
    )
    rel = frame[reliability_column] if reliability_column else None
    return _write_png_prepared(
        Path(path), geoms, classes, spec, reliability=rel, title=title, attribution=attribution
    )

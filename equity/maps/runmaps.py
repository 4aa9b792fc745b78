"""The maps of one run: a map (and PNG) per level table, and the candidates table page.

Each level map has the equity index and one layer per pillar with data (radio buttons), a
hot-spot overlay when the table has a ``hotspot`` column, the candidates as numbered markers,
a legend with class breaks and units, reliability fading, tooltips and the attribution of
every source.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from equity.errors import SchemaError, check_choice
from equity.glossary import pillar_title
from equity.indicators import PILLARS
from equity.maps.chrome import BASEMAPS, attribution_lines, required_attribution
from equity.maps.classify import DEFAULT_PALETTE, _classify, _layer_spec, _palette_colors
from equity.maps.document import save_map
from equity.maps.encoding import _level_data, _prepare_geometry, _value_fields
from equity.maps.formatting import _column_kind
from equity.maps.layers import (
    ChoroplethLayer,
    LevelData,
    PlacesLayer,
    _add_candidate_layers,
    _add_hotspot_layer,
    _finish_map,
    _new_map,
)
from equity.maps.png import _marker_points, _write_png_prepared
from equity.maps.table import write_candidates_table

__all__ = ["LEVEL_LABELS", "PILLAR_LABELS", "run_maps", "write_level_map"]

log = logging.getLogger(__name__)

#: Pillars as the maps name them (equity.glossary's titles).
PILLAR_LABELS: dict[str, str] = {p: pillar_title(p) for p in PILLARS}
LEVEL_LABELS: dict[str, str] = {
    "street": "Street cells",
    "blockgroup": "Block groups",
    "tract": "Tracts",
    "town": "Towns",
    "county": "Counties",
    "state": "States",
}
# Columns a level table must have to be mapped (docs/contracts.md "Level tables").
_REQUIRED = ("GEOID", "NAME", "equity_index")


@dataclass(frozen=True)
class _PngLayer:
    """What the PNG of a level map draws: its index layer."""

    geoms: np.ndarray
    classes: np.ndarray
    spec: dict[str, Any]
    reliability: pd.Series | None


def _check_level_table(level: str, table: gpd.GeoDataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        msg = f"level table {level!r} lacks column(s) {', '.join(missing)} (see docs/contracts.md 'Level tables')"
        raise SchemaError(msg)


def _pillar_columns(frame: pd.DataFrame) -> list[str]:
    """``score_<pillar>`` columns with data: one layer each."""
    return [
        f"score_{p}"
        for p in PILLARS
        if f"score_{p}" in frame.columns and frame[f"score_{p}"].notna().any()
    ]


def _tooltip_labels() -> dict[str, str]:
    labels = {"equity_index": "Equity index", "rank": "Need rank", "households": "Households"}
    labels |= {f"score_{p}": PILLAR_LABELS[p] for p in PILLARS}
    labels["driving_pillar"] = "Highest-scoring pillar"
    labels |= {"place_name": "Place", "county_name": "County", "state_name": "State"}
    return labels


#: Most place names a map carries for its names layer (the largest places first).
_MAX_LABELS = 3000
#: Most rows of the table of places (the places of greatest need first).
_MAX_TABLE_ROWS = 2000
#: Levels whose own names are codes ("Block Group 1"): their names layer names the towns.
_CODED_LEVELS = ("street", "blockgroup", "tract")


def _label_points(level: str, frame: gpd.GeoDataFrame) -> dict[str, list[Any]]:
    """Names and points of the names layer, the largest places (by households) first.

    Counties and towns are named themselves (without the state: the map is about one place
    at a time); street cells, block groups and tracts by the town they lie in, at the
    household-weighted centre of its part of the map.
    """
    pts = frame.geometry.representative_point()
    weight = (
        pd.to_numeric(frame["households"], errors="coerce").fillna(0.0).clip(lower=0.0)
        if "households" in frame.columns
        else pd.Series(1.0, index=frame.index)
    )
    if level in _CODED_LEVELS and "place_name" in frame.columns:
        names = frame["place_name"].astype("string")
    else:
        names = frame["NAME"].astype("string")
        if "state_name" in frame.columns:  # "Cleburne County, Alabama" -> "Cleburne County"
            states = frame["state_name"].astype("string").fillna("").tolist()
            names = pd.Series(
                [
                    n[: -len(st) - 2] if isinstance(n, str) and st and n.endswith(", " + st) else n
                    for n, st in zip(names.tolist(), states, strict=True)
                ],
                index=frame.index,
                dtype="string",
            )
    w = weight.to_numpy(dtype=float) + 1e-9
    table = pd.DataFrame(
        {"n": names.to_numpy(), "x": pts.x.to_numpy() * w, "y": pts.y.to_numpy() * w, "w": w}
    ).dropna(subset=["n"])
    grouped = table.groupby("n", sort=False).sum()
    grouped = grouped.assign(x=grouped["x"] / grouped["w"], y=grouped["y"] / grouped["w"])
    grouped = grouped.sort_values("w", ascending=False, kind="stable").head(_MAX_LABELS)
    return {
        "n": [str(n) for n in grouped.index],
        "x": grouped["x"].round(4).tolist(),
        "y": grouped["y"].round(4).tolist(),
    }


def _places_spec(level: str, frame: gpd.GeoDataFrame, fields: list[str]) -> dict[str, Any]:
    """The names layer and the table of places of a level map (its columns: the tooltip's,
    less those repeating the name, as the county of a county)."""
    names = frame["NAME"].astype("string")
    fields = [
        f
        for f in fields
        if not (f in ("place_name", "county_name") and frame[f].astype("string").equals(names))
    ]
    n = len(frame)
    shown = min(n, _MAX_TABLE_ROWS)
    label = LEVEL_LABELS.get(level, level)
    note = (
        f"{n:,} places, greatest need first. Focus a name (Tab, then the arrow keys) and the map "
        "shows the place."
        if shown == n
        else f"The {shown:,} places of greatest need of {n:,} (all are in index_{level}.parquet). "
        "Focus a name (Tab, then the arrow keys) and the map shows the place."
    )
    return {
        "name": "Place names",
        "labels": _label_points(level, frame),
        "maxLabels": 80,
        "title": f"Table of places: {label.lower()}",
        "note": note,
        "nameLabel": "Name",
        "fields": fields,
        "spoken": ["equity_index", "rank"],
        "sortKey": "equity_index",
        "maxRows": _MAX_TABLE_ROWS,
    }


def _add_index_layers(
    m: folium.Map,
    data: LevelData,
    frame: gpd.GeoDataFrame,
    classified: Mapping[str, tuple[np.ndarray, list[float]]],
    *,
    level: str,
    labels: Mapping[str, str],
    reliability: pd.Series | None,
    fields: list[str],
) -> list[dict[str, Any]]:
    """One base layer per classified column (the first shown on opening); their specs."""
    specs: list[dict[str, Any]] = []
    for j, (col, (_, bins)) in enumerate(classified.items()):
        kind, units = _column_kind(col)
        layer_title = "Equity index" if col == "equity_index" else f"Pillar: {labels[col]}"
        spec = _layer_spec(
            name=layer_title,
            key=col,
            colors=_palette_colors(DEFAULT_PALETTE, max(len(bins), 1)),
            bins=bins,
            values=frame[col],
            kind=kind,
            legend_title=f"{layer_title} ({LEVEL_LABELS.get(level, level).lower()})",
            units=units,
            reliability=reliability is not None,
            fields=fields,
        )
        m.add_child(ChoroplethLayer(data, spec, show=j == 0))
        specs.append(spec)
    return specs


def _level_map(
    level: str,
    table: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame | None,
    *,
    title: str,
    subtitle: str | None,
    attribution: Sequence[str],
    tiles: str | None,
    scheme: str,
    k: int,
    basemap: str | None = None,
    warnings: Sequence[str] = (),
    required: Sequence[str] = (),
) -> tuple[folium.Map, _PngLayer]:
    """Map of one level table, and what its PNG needs."""
    _check_level_table(level, table)
    frame, geoms, dec, coverage = _prepare_geometry(table, simplify=None, decimals=None)
    if "driving_pillar" in frame.columns:  # pillars in words, on a copy
        frame = frame.assign(
            driving_pillar=frame["driving_pillar"].map(pillar_title, na_action="ignore")
        )
    pillar_cols = _pillar_columns(frame)
    labels = _tooltip_labels()
    tip_cols = [
        "place_name",
        "county_name",
        "state_name",
        "equity_index",
        "rank",
        *pillar_cols,
        "driving_pillar",
        "households",
    ]
    fields = _value_fields(frame, tip_cols, labels=labels)
    field_keys = [key for key, _, _ in fields]
    classified = {
        col: _classify(frame[col], scheme=scheme, k=k) for col in ["equity_index", *pillar_cols]
    }
    reliability = frame["reliability"] if "reliability" in frame.columns else None
    hotspot = frame["hotspot"] if "hotspot" in frame.columns else None
    payload = _level_data(
        frame,
        geoms,
        dec,
        name_column="NAME",
        fields=fields,
        classes={col: c for col, (c, _) in classified.items()},
        reliability=reliability,
        hotspot=hotspot,
    )
    data = LevelData(payload)
    m = _new_map(tiles)
    m.add_child(data)
    specs = _add_index_layers(
        m,
        data,
        frame,
        classified,
        level=level,
        labels=labels,
        reliability=reliability,
        fields=field_keys,
    )
    if hotspot is not None:
        _add_hotspot_layer(m, data, hotspot, fields=field_keys)
    _add_candidate_layers(m, candidates)
    m.add_child(PlacesLayer(data, _places_spec(level, frame, field_keys)))
    _finish_map(
        m,
        geoms,
        basemap=basemap,
        title=title,
        subtitle=subtitle,
        attribution=attribution,
        warnings=warnings,
        required=required,
    )
    log.info(
        "maps: %s map, %d features, %d layers, %s simplification, %d decimals",
        level,
        len(frame),
        len(specs),
        "coverage" if coverage else "per-polygon",
        dec,
    )
    png = _PngLayer(geoms, classified["equity_index"][0], specs[0], reliability)
    return m, png


def _cap_features(table: gpd.GeoDataFrame, limit: int) -> gpd.GeoDataFrame:
    """Places with data (index, households > 0), then the `limit` of greatest need."""
    keep = (
        table["equity_index"].notna()
        if "equity_index" in table.columns
        else pd.Series(True, index=table.index)
    )
    if "households" in table.columns:
        keep &= pd.to_numeric(table["households"], errors="coerce").fillna(0) > 0
    out = table.loc[keep]
    if len(out) > limit:
        order = "rank" if "rank" in out.columns else "equity_index"
        out = out.nsmallest(limit, order) if order == "rank" else out.nlargest(limit, order)
    return out


def _data_date(provenance: Sequence[Mapping[str, Any]]) -> str | None:
    """``"<source> <vintage>, ..."`` of the records that state a vintage, or None."""
    vintages = [
        f"{r.get('source', '?')} {r['vintage']}"
        for r in provenance
        if str(r.get("vintage")).strip().lower() not in ("", "none", "nan")
    ]
    return ", ".join(dict.fromkeys(vintages)) or None


def _shown_table(
    level: str, table: gpd.GeoDataFrame, *, data_date: str | None, max_features: int | None
) -> tuple[gpd.GeoDataFrame, str]:
    """The places drawn (cut to `max_features`) and the subtitle that says what is shown."""
    subtitle = f"{LEVEL_LABELS.get(level, level)}" + (
        f" \u00b7 Data: {data_date}" if data_date else ""
    )
    if max_features is not None and len(table) > max_features:
        n_all = len(table)
        table = _cap_features(table, max_features)
        subtitle += f" \u00b7 showing the {len(table):,} of {n_all:,} places of greatest need"
        log.info("maps: %s level cut from %d to %d places", level, n_all, len(table))
    return table, subtitle


def _street_files(
    table: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame | None,
    out: Path,
    *,
    title: str,
    data_date: str | None,
    lines: list[str],
    tiles: str | None,
    png: bool,
    markers: pd.DataFrame | None,
    warnings: Sequence[str] = (),
    required: Sequence[str] = (),
    basemap: str | None = None,
) -> list[Path]:
    """The street map with zoom bands (:mod:`equity.maps.streetmap`) and its PNG."""
    from equity.maps.streetmap import street_map

    subtitle = LEVEL_LABELS["street"] + (f" \u00b7 Data: {data_date}" if data_date else "")
    m, (geoms, classes, spec) = street_map(
        table,
        candidates,
        title=title,
        subtitle=subtitle,
        attribution=lines,
        tiles=tiles,
        warnings=warnings,
        required=required,
        basemap=basemap,
    )
    written = [save_map(m, out / "street.html")]
    if png:
        written.append(
            _write_png_prepared(
                out / "street.png",
                geoms,
                classes,
                spec,
                reliability=None,
                title=f"{title} \u2014 {subtitle}",
                attribution=lines,
                markers=markers,
                note=_warning_note(warnings),
            )  # fmt: skip
        )
    return written


def _warning_note(warnings: Sequence[str]) -> str | None:
    """The PNG's line pointing to the run's warnings (None without any)."""
    if not warnings:
        return None
    n = len(warnings)
    return f"\u26a0 {n} data warning{'s' if n != 1 else ''}: see METHODS.md"


def run_maps(
    levels: Mapping[str, gpd.GeoDataFrame],
    candidates: gpd.GeoDataFrame | None,
    out_dir: str | os.PathLike[str],
    *,
    provenance: Sequence[Mapping[str, Any]],
    title: str,
    data_date: str | None = None,
    tiles: str | None = None,
    scheme: str = "quantiles",
    k: int = 5,
    png: bool = True,
    max_features: int | None = 50_000,
    warnings: Sequence[str] = (),
    basemap: str | None = "carto",
    processes: int = 1,
) -> list[Path]:
    """Write the maps of one run: ``<level>.html`` (+ ``.png``) per level and ``candidates.html``.

    Each level map has the equity index and one layer per pillar with data (radio buttons),
    a hot-spot overlay when the table has a ``hotspot`` column, the candidates as numbered
    markers, a legend with class breaks and units, reliability fading, tooltips and the
    attribution of every source.

    Parameters
    ----------
    levels
        Level name (``street``, ``blockgroup``, ``tract``, ``town``, ``county``...) to its table
        (columns of docs/contracts.md "Level tables").
    candidates
        Ranked candidates (docs/contracts.md "Candidates") with a geometry, or None.
    out_dir
        Folder for the files (created).
    provenance
        Provenance records (``source``, ``attribution``, ``licence``, ``vintage``...).
    title
        Title of every map (escaped).
    data_date
        Shown under the title; default from the provenance vintages.
    tiles
        Optional basemap; default none (the maps need no network).
    scheme, k
        Classification of every layer.
    png
        Also write a static PNG of each map's index layer.
    max_features
        Most places drawn per level (50,000 keeps a street map near 6.5 MB and loading in
        seconds). A larger table is cut to its places with an index value and households,
        then to the `max_features` of greatest need (by ``rank``); the subtitle says so.
    warnings
        The run's warnings (:mod:`equity.runwarnings`), at the top of every map.
    basemap
        Street-map tiles under the data when the browser is online (:data:`BASEMAPS`:
        ``carto``, ``osm``), with their attribution; None for none. Every data layer, the
        place names and the table work offline.
    processes
        Processes writing the files (``[run] workers``): with more than one, and at least
        :data:`PARALLEL_MIN_PLACES` places in all, each map is written by one of them
        (:func:`equity.processes.map_in_processes`; the same files).

    Returns
    -------
    list of Path
        Files written.
    """
    if basemap is not None:
        check_choice("basemap", basemap, BASEMAPS)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if data_date is None:
        data_date = _data_date(provenance)
    opts = _MapOptions(
        title=title,
        data_date=data_date,
        lines=attribution_lines(provenance),
        required=required_attribution(provenance),
        tiles=tiles,
        scheme=scheme,
        k=k,
        png=png,
        markers=_marker_points(candidates) if png else None,
        max_features=max_features,
        warnings=tuple(warnings),
        basemap=basemap,
    )
    jobs: list[tuple[Any, ...]] = [
        (level, full, candidates, out, opts) for level, full in levels.items()
    ]
    if candidates is not None:
        jobs.append((None, None, candidates, out, opts))
    places = sum(len(full) for full in levels.values())
    if processes > 1 and len(jobs) > 1 and places >= PARALLEL_MIN_PLACES:
        from equity.processes import map_in_processes

        # each file is written by one process, the largest (the street map) first
        sizes = [float(len(j[1])) if j[1] is not None else 0.0 for j in jobs]
        done = map_in_processes(
            _map_files,
            jobs,
            processes=processes,
            memory=[n * _BYTES_PER_PLACE for n in sizes],
            names=[f"{j[0]} map" if j[0] else "candidates table" for j in jobs],
        )
    else:
        done = [_map_files(*j) for j in jobs]
    return [path for files in done for path in files]


#: Fewest places (all levels) for which the maps are written by several processes.
PARALLEL_MIN_PLACES = 20_000
#: Peak bytes per place of writing a map (its features, HTML and PNG), for the schedule.
_BYTES_PER_PLACE = 4_000


@dataclass(frozen=True)
class _MapOptions:
    """What every map of a run shares (see :func:`run_maps`)."""

    title: str
    data_date: str | None
    lines: list[str]
    required: list[str]
    tiles: str | None
    scheme: str
    k: int
    png: bool
    markers: pd.DataFrame | None
    max_features: int | None
    warnings: tuple[str, ...]
    basemap: str | None


def _map_files(
    level: str | None,
    full: gpd.GeoDataFrame | None,
    candidates: gpd.GeoDataFrame | None,
    out: Path,
    o: _MapOptions,
) -> list[Path]:
    """The files of one level's map (its HTML and PNG), or with no level the candidates table."""
    if level is None or full is None:
        assert candidates is not None
        page = out / "candidates.html"
        return [
            write_candidates_table(
                candidates, page, title=o.title, data_date=o.data_date, warnings=o.warnings
            )
        ]
    if level == "street" and "ranked" in full.columns:  # zoom bands, every unit drawn
        return _street_files(
            full, candidates, out, title=o.title, data_date=o.data_date, lines=o.lines,
            tiles=o.tiles, png=o.png, markers=o.markers, warnings=o.warnings,
            required=o.required, basemap=o.basemap,
        )  # fmt: skip
    table, subtitle = _shown_table(level, full, data_date=o.data_date, max_features=o.max_features)
    m, layer = _level_map(
        level,
        table,
        candidates,
        title=o.title,
        subtitle=subtitle,
        attribution=o.lines,
        tiles=o.tiles,
        scheme=o.scheme,
        k=o.k,
        basemap=o.basemap,
        warnings=o.warnings,
        required=o.required,
    )
    written = [save_map(m, out / f"{level}.html")]
    if o.png:
        written.append(
            _write_png_prepared(
                out / f"{level}.png",
                layer.geoms,
                layer.classes,
                layer.spec,
                reliability=layer.reliability,
                title=f"{o.title} \u2014 {subtitle}",
                attribution=o.lines,
                markers=o.markers,
                note=_warning_note(o.warnings),
            )
        )
    return written


def write_level_map(
    level: str,
    table: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame | None,
    path: str | os.PathLike[str],
    *,
    provenance: Sequence[Mapping[str, Any]],
    title: str,
    data_date: str | None = None,
    tiles: str | None = None,
    scheme: str = "quantiles",
    k: int = 5,
    png: bool = False,
    max_features: int | None = 50_000,
) -> list[Path]:
    """Write one level's map, drawn as :func:`run_maps` draws it, to `path` (any file name).

    Used for maps outside a run's ``maps/<level>.html``, such as the national map of a
    state-by-state run (``maps/national.html``: the county index with every state's
    selected sites). Parameters as :func:`run_maps`; `png` adds ``<path stem>.png``.

    Returns
    -------
    list of Path
        The HTML file (and the PNG).
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if data_date is None:
        data_date = _data_date(provenance)
    lines = attribution_lines(provenance)
    shown, subtitle = _shown_table(level, table, data_date=data_date, max_features=max_features)
    m, layer = _level_map(
        level,
        shown,
        candidates,
        title=title,
        subtitle=subtitle,
        attribution=lines,
        tiles=tiles,
        scheme=scheme,
        k=k,
    )
    written = [save_map(m, out)]
    if png:
        written.append(
            _write_png_prepared(
                out.with_suffix(".png"),
                layer.geoms,
                layer.classes,
                layer.spec,
                reliability=layer.reliability,
                title=f"{title} \u2014 {subtitle}",
                attribution=lines,
                markers=_marker_points(candidates),
            )
        )
    return written

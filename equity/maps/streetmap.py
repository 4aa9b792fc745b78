"""The street map: H3 cells at every zoom, coarse at state zoom and finer as the reader zooms in.

A state's street level has hundreds of thousands of cells: drawn at state zoom they are
specks, and cutting them to the 50,000 of greatest need left most of a state blank. The street
map holds three bands of one table and shows the band of the current zoom:

=========== ======================================================= =========
band        features                                                 zooms
=========== ======================================================= =========
H3 res 6    the street units grouped by their resolution-6 parent    up to 8
H3 res 7    grouped by their resolution-7 parent                     9-10
street      the units themselves (cells and pooled cells)            11 and in
=========== ======================================================= =========

The coarse bands do not average indices (a percentile of a group is not the mean of its
members' percentiles): each coarse cell shows the **share of its households living in street
cells of the highest need** (the top fifth of ranked units by the equity index), a count moved
up as a count. The street band shows the equity index of each ranked unit; units below the
household floor are drawn faded grey and never coloured as need. Hovering a feature names the
town and county it lies in. Like every map of :mod:`equity.maps` the page is self-contained.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement

from equity.errors import SchemaError
from equity.geographies.h3cells import _hexagons
from equity.geographies.h3floor import cell_parents, cell_resolutions
from equity.maps._resources import element_template
from equity.maps.classify import DEFAULT_PALETTE, _classify, _layer_spec, _palette_colors
from equity.maps.encoding import _level_data, _prepare_geometry, _value_fields, safe_json
from equity.maps.layers import LevelData, _add_candidate_layers, _finish_map, _new_map

__all__ = ["BANDS", "StreetBands", "street_map"]

log = logging.getLogger(__name__)

#: Coarse bands: (H3 resolution, first zoom, last zoom); the street band follows.
BANDS: tuple[tuple[int, int, int], ...] = ((6, 0, 8), (7, 9, 10))
#: First zoom of the street band.
STREET_MIN_ZOOM = 11
#: Share of ranked units counted as "highest need" in the coarse bands.
TOP_SHARE = 0.2
_FADED = "#e4e4e4"
_REQUIRED = ("GEOID", "NAME", "equity_index", "households", "ranked")


@dataclass
class _Band:
    min_zoom: int
    max_zoom: int
    data: LevelData
    spec_json: str


class StreetBands(MacroElement):
    """The zoom bands of a street map (``templates/street_bands.js.j2``)."""

    _template = element_template("street_bands.js.j2")

    def __init__(self, bands: Sequence[_Band]) -> None:
        super().__init__()
        self._name = "EquityStreetBands"
        self.bands = list(bands)


def _check(table: gpd.GeoDataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        msg = f"street map: the street table lacks column(s) {', '.join(missing)} (equity.geographies.street_level output with an index)"
        raise SchemaError(msg)


def _top_need(table: pd.DataFrame) -> np.ndarray:
    """Mask of the ranked units in the top fifth by the equity index."""
    ranked = table["ranked"].astype(bool).to_numpy()
    idx = pd.to_numeric(table["equity_index"], errors="coerce").to_numpy(dtype=float)
    ok = ranked & np.isfinite(idx)
    if not ok.any():
        return np.zeros(len(table), dtype=bool)
    cut = np.quantile(idx[ok], 1 - TOP_SHARE)
    return ok & (idx >= cut)


def coarse_band(table: gpd.GeoDataFrame, resolution: int) -> gpd.GeoDataFrame:
    """The street units grouped by their parent cell at `resolution`.

    Units at or finer than `resolution` are grouped under their parent (drawn as the parent's
    hexagon); coarser pooled units stay whole. Each feature: ``households``,
    ``households_top_need`` and ``share_households_top_need`` (households in the top fifth of
    ranked units by need), ``n_units``, ``NAME`` (of the unit with most households).
    """
    ids = np.array([int(g, 16) for g in table["GEOID"].astype(str)], dtype=np.uint64)
    res = cell_resolutions(ids)
    key = np.where(res >= resolution, cell_parents(ids, resolution), ids)
    hh = pd.to_numeric(table["households"], errors="coerce").fillna(0.0).to_numpy()
    top = _top_need(table)
    frame = pd.DataFrame(
        {
            "key": key,
            "hh": hh,
            "top": np.where(top, hh, 0.0),
            "ranked_hh": np.where(table["ranked"].astype(bool), hh, 0.0),
            "row": np.arange(len(table)),
        }
    )
    g = frame.groupby("key", sort=True)
    sums = g[["hh", "top", "ranked_hh"]].sum()
    lead = frame.sort_values(["key", "hh"], ascending=[True, False]).drop_duplicates("key")
    lead = lead.set_index("key").loc[sums.index, "row"].to_numpy()
    keys = sums.index.to_numpy(dtype=np.uint64)
    geoms = np.empty(len(keys), dtype=object)
    at_res = cell_resolutions(keys) == resolution
    geoms[at_res] = _hexagons(keys[at_res])
    own = table.geometry.to_numpy()[lead]
    geoms[~at_res] = own[~at_res]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(sums["ranked_hh"] > 0, sums["top"] / sums["ranked_hh"], np.nan)
    out = pd.DataFrame(
        {
            "GEOID": [f"{int(k):015x}" for k in keys],
            "NAME": table["NAME"].to_numpy()[lead],
            "households": sums["hh"].to_numpy(),
            "households_top_need": sums["top"].to_numpy(),
            "share_households_top_need": share,
            "n_units": g.size().to_numpy(),
        }
    )
    return gpd.GeoDataFrame(out, geometry=geoms, crs="EPSG:4326")


def _band(
    frame: gpd.GeoDataFrame,
    column: str,
    *,
    name: str,
    legend_title: str,
    tips: list[str],
    labels: dict[str, str],
    zooms: tuple[int, int],
    decimals: int,
    faded: pd.Series | None,
    notes: Sequence[str] = (),
) -> tuple[_Band, np.ndarray, np.ndarray, dict[str, Any], gpd.GeoDataFrame, list[float]]:
    """One band: its data element and layer spec (hexagons are drawn as they are)."""
    kept, geoms, dec, _ = _prepare_geometry(frame, simplify=0.0, decimals=decimals)
    # shares of households: equal intervals (quantiles of many zeros give empty classes)
    scheme = "quantiles" if column == "equity_index" else "equalinterval"
    classes, bins = _classify(kept[column], scheme=scheme, k=5)
    fields = _value_fields(kept, tips, labels=labels)
    payload = _level_data(
        kept,
        geoms,
        dec,
        name_column="NAME",
        fields=fields,
        classes={"v": classes},
        reliability=None,
        hotspot=None,
    )
    spec = _layer_spec(
        name=name,
        key="v",
        colors=_palette_colors(DEFAULT_PALETTE, max(len(bins), 1)),
        bins=bins,
        values=kept[column],
        kind="score" if column == "equity_index" else "share",
        legend_title=legend_title,
        units="0-100, higher = more need" if column == "equity_index" else "%",
        reliability=False,
        fields=[k for k, _, _ in fields],
    )
    if faded is not None:  # unranked units have no index: drawn in the faded "missing" grey
        n_faded = int(faded.reindex(kept.index).fillna(False).sum())
        spec["missing"] = _FADED
        spec["legend"]["items"] = [
            it for it in spec["legend"]["items"] if not str(it[1]).startswith("No data")
        ]
        if n_faded:
            spec["legend"]["items"].append(
                [_FADED, f"Below the household floor: not ranked ({n_faded:,})"]
            )
    spec["legend"]["notes"] = [*spec["legend"]["notes"], *notes]
    data = LevelData(payload)
    return _Band(zooms[0], zooms[1], data, safe_json(spec)), geoms, classes, spec, kept, bins


def street_map(
    table: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame | None = None,
    *,
    title: str,
    subtitle: str | None,
    attribution: Sequence[str],
    tiles: str | None = None,
    warnings: Sequence[str] = (),
    required: Sequence[str] = (),
    basemap: str | None = None,
) -> tuple[folium.Map, tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """A street map with zoom bands (see the module docstring).

    Parameters
    ----------
    table
        The street level table (``street_level`` units with an index: ``GEOID``, ``NAME``,
        ``equity_index``, ``households``, ``ranked``...).
    candidates
        Candidates drawn as numbered markers, or None.
    title, subtitle, attribution, tiles, warnings, basemap
        As for :func:`equity.maps.run_maps`: the run's warnings (e.g. a street level spread by
        area) head the map; the basemap's tiles load only when online.
    required
        Attributions a licence requires in view (Ookla's), in the map's attribution line.

    Returns
    -------
    map, png
        The map, and what a static PNG draws (the coarsest band: geometry, classes, spec).
    """
    _check(table)
    m = _new_map(tiles)
    top_note = [
        f"Share of a cell's households living in the {TOP_SHARE:.0%} of ranked street cells "
        "of highest need; zoom in for the index of each street cell."
    ]
    bands: list[_Band] = []
    png: tuple[np.ndarray, np.ndarray, dict[str, Any]] | None = None
    for res, z0, z1 in BANDS:
        coarse = coarse_band(table, res)
        band, geoms, classes, spec, _, _ = _band(
            coarse,
            "share_households_top_need",
            name=f"Highest-need households (H3 resolution {res})",
            legend_title="Households in the highest-need street cells",
            tips=["share_households_top_need", "households_top_need", "households", "n_units"],
            labels={
                "share_households_top_need": "Share in highest-need cells",
                "households_top_need": "Households in highest-need cells",
                "households": "Households",
                "n_units": "Street cells",
            },
            zooms=(z0, z1),
            decimals=3 if res <= 6 else 4,
            faded=None,
            notes=top_note,
        )
        bands.append(band)
        m.add_child(band.data)
        if png is None:
            png = (geoms, classes, spec)
    tips = [
        c
        for c in ("equity_index", "rank", "driving_pillar", "households", "reliability")
        if c in table
    ]
    # the tooltip's rank without its interval: a third of a state's street page otherwise
    slim = table.drop(columns=[c for c in ("rank_lo", "rank_hi") if c in table.columns])
    fine, geoms, _, _, kept, _ = _band(
        slim,
        "equity_index",
        name="Equity index (street cells)",
        legend_title="Equity index (street cells)",
        tips=tips,
        labels={
            "equity_index": "Equity index",
            "rank": "Need rank",
            "driving_pillar": "Driving pillar",
            "households": "Households",
            "reliability": "Reliability",
        },
        zooms=(STREET_MIN_ZOOM, 99),
        decimals=4,  # about 10 m: a street cell's edge is 170 m
        faded=~table["ranked"].astype(bool),
    )
    bands.append(fine)
    m.add_child(fine.data)
    m.add_child(StreetBands(bands))
    _add_candidate_layers(m, candidates)
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
    log.info("maps: street map, %d street units in 3 zoom bands", len(kept))
    assert png is not None
    return m, png

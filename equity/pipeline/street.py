"""The street step of :func:`equity.pipeline.build_levels`: weights, floor, warnings, speeds.

Which ancillary layer spread each block group onto the street cells is reported: block groups
spread by area (no 2020 block geometry, no Ookla tiles) show their own rates in every cell, so
a run that fell back to area says so on the console and at the top of METHODS.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from equity import checks, geographies, settings
from equity.geographies.street import WEIGHT_METHODS

if TYPE_CHECKING:
    from equity.pipeline.levels import _Build, _Counts

__all__ = [
    "FCC_COUNTS",
    "block_speed_table",
    "cached_street_index",
    "name_street_cells",
    "street_step",
    "street_summary",
    "with_fcc_counts",
]

#: Counts of FCC BDC locations each level carries (``summarise_fcc_bdc``).
FCC_COUNTS = ("n_locations", "n_served", "n_underserved", "n_unserved")

log = logging.getLogger("equity.pipeline")

#: GEOID width of the levels whose speeds come from blocks by GEOID prefix.
_PREFIX = {"blockgroup": 12, "tract": 11, "county": 5, "state": 2}


def street_step(b: _Build, counts: _Counts) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The street level through the table cache, its summary in ``extras["street"]`` and a
    warning (console, METHODS.md) when block groups fell back to area weights."""
    cfg, ds = b.cfg, b.ds
    blocks = ds.blocks if geographies.has_block_geometry(ds.blocks) else None
    size = checks.estimate_grid(counts.blockgroups, cfg.grid_resolution).cells
    label = (
        f"street level (H3 resolution {cfg.grid_resolution}, covering about {size:,} cells, "
        f"floor {cfg.grid_min_households:g} households)"
    )
    with b.progress.step(label):
        grid: dict[str, tuple[gpd.GeoDataFrame, pd.DataFrame]] = {}

        def street() -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
            if "v" not in grid:  # one computation feeds both cache entries
                grid["v"] = geographies.street_level(
                    counts.blockgroups,
                    counts=counts.columns,
                    medians=counts.medians,
                    resolution=cfg.grid_resolution,
                    blocks=blocks,
                    tiles=ds.tiles,
                    weight_column=cfg.grid_weight,
                    min_households=cfg.grid_min_households,
                    availability=_fcc_cells(ds.fcc),
                    map_partitions=b.engine.map_partitions,  # same result on every engine
                )
            return grid["v"]

        key = {
            "blockgroups": b.digests.of(counts.blockgroups),
            "tiles": b.digests.tiles(),
            "blocks": b.digests.of(blocks) if blocks is not None else None,
            "counts": counts.columns,
            "medians": counts.medians,
            "resolution": cfg.grid_resolution,
            "weight": cfg.grid_weight,
            "min_households": cfg.grid_min_households,
            "fcc": b.digests.of(ds.fcc) if ds.fcc is not None else None,
        }
        code = [geographies, settings]
        cells = b.cache.table("street_level_units", key, lambda: street()[0], code=code)
        xwalk = b.cache.table("street_level_crosswalk", key, lambda: street()[1], code=code)
        cells = cells.copy()
        cells["level"] = "street"
    summary = street_summary(cells, xwalk, min_households=cfg.grid_min_households)
    summary["resolution"] = cfg.grid_resolution
    b.extras["street"] = summary
    for line in _warnings(summary, tiles=ds.tiles is not None, blocks=ds.blocks):
        # printed once with the run's other warnings (equity.runwarnings, pipeline.run)
        log.info(line)
        b.extras.setdefault("warnings", []).append(line)
    return cells, xwalk


def street_summary(
    cells: pd.DataFrame, crosswalk: pd.DataFrame, *, min_households: float
) -> dict[str, Any]:
    """Block groups by weight method, units, ranked units and their households."""
    per_bg = crosswalk.groupby("source_GEOID", sort=False)["weight_method"].first()
    methods = per_bg.value_counts().to_dict()
    ranked = cells["ranked"].astype(bool)
    hh = cells["households"] if "households" in cells else pd.Series(0.0, index=cells.index)
    return {
        "blockgroups": len(per_bg),
        "blockgroups_by_weight": {m: int(methods.get(m, 0)) for m in WEIGHT_METHODS},
        "units": len(cells),
        "ranked": int(ranked.sum()),
        "pooled": int((cells["n_cells"] > 1).sum()),
        "min_households": float(min_households),
        "households_ranked": float(hh[ranked].sum()),
        "households_unranked": float(hh[~ranked].sum()),
    }


def _warnings(summary: dict[str, Any], *, tiles: bool, blocks: pd.DataFrame | None) -> list[str]:
    n_area = summary["blockgroups_by_weight"]["area"]
    if not n_area:
        return []
    why = []
    if blocks is None:
        why.append("no 2020 blocks given ([data] blocks)")
    elif not geographies.has_block_geometry(blocks):
        why.append("the 2020 block files have counts but no polygons or points")
    else:
        why.append("their blocks hold no housing or people")
    if not tiles:
        why.append("no Ookla tiles with their geometry")
    return [
        f"street level fell back to area weights for {n_area:,} of {summary['blockgroups']:,} "
        f"block groups ({'; '.join(why)}): within such a block group every cell shows the "
        "block group's rates, spread evenly over its land; cells below "
        f"{summary['min_households']:g} households were pooled with their parent cells"
    ]


def block_speed_table(b: _Build, level: str, table: pd.DataFrame) -> pd.DataFrame:
    """Measured speeds of a level's places from Ookla tiles joined to 2020 blocks.

    Each tile's tests are shared among its blocks by their housing units (the blocks of
    ``[data] blocks``; equally without them). Block groups, tracts, counties and the state
    take their blocks by GEOID prefix; a street cell takes the blocks whose internal point
    it holds (the cell, or the pooled parent holding it) when the blocks have geometry, else
    the speeds of the block group giving it most households with its households' share of the
    tests (a block without geometry cannot be placed in a cell); towns get none.
    """
    rows = b.ds.block_speeds
    assert rows is not None
    blocks = rows["block_GEOID"].drop_duplicates()
    if level in _PREFIX:
        keys = pd.Series(blocks.str.slice(0, _PREFIX[level]).to_numpy(), index=blocks.to_numpy())
        return geographies.block_speeds(rows, keys, blocks=b.ds.blocks)
    if level == "street" and geographies.has_block_geometry(b.ds.blocks):
        assert b.ds.blocks is not None
        keys = _block_units(b.ds.blocks, table, resolution=b.cfg.grid_resolution)
        return geographies.block_speeds(rows, keys, blocks=b.ds.blocks)
    if level == "street":
        keys = pd.Series(blocks.str.slice(0, 12).to_numpy(), index=blocks.to_numpy())
        by_bg = geographies.block_speeds(rows, keys, blocks=b.ds.blocks).set_index("GEOID")
        bg = table["blockgroup_GEOID"].astype(str)
        out = by_bg.reindex(bg.to_numpy())
        out.index = table["GEOID"].to_numpy()
        # a cell holds its households' share of the block group's tests, not all of them
        hh = pd.to_numeric(table["households"], errors="coerce").fillna(0.0)
        share = (hh / hh.groupby(bg).transform("sum").where(lambda s: s > 0)).fillna(0.0)
        for col in ("ookla_tests", "ookla_devices"):
            out[col] = out[col].to_numpy() * share.to_numpy()
        return out.rename_axis("GEOID").reset_index()
    return pd.DataFrame({"GEOID": table["GEOID"].to_numpy()})


def name_street_cells(tables: dict[str, pd.DataFrame]) -> None:
    """``NAME`` of every street unit, in place: the town it lies in and its county.

    A unit lies in the town holding its representative point (the nearest town when none
    does); its county is that of the block group giving it most households. Hovering a cell
    on the map then names a place, not a hexagon id.
    """
    cells = tables.get("street")
    if cells is None or not len(cells):
        return
    county_names = pd.Series(dtype=object)
    county = tables.get("county")
    if county is not None and "NAME" in county:
        county_names = county.set_index("GEOID")["NAME"].astype(str)
    cname = cells["county_GEOID"].map(county_names)
    cname = cname.fillna("County " + cells["county_GEOID"].astype(str))
    cname = _with_county_kind(cname, cells["county_GEOID"].astype(str))
    town_name = pd.Series(pd.NA, index=cells.index, dtype=object)
    towns = tables.get("town")
    if towns is not None and len(towns) and "NAME" in towns:
        pts = gpd.GeoDataFrame(
            geometry=gpd.GeoSeries(cells.geometry, crs="EPSG:4326").representative_point(),
            crs="EPSG:4326",
        )
        tw = gpd.GeoDataFrame(towns[["NAME", "geometry"]], geometry="geometry", crs="EPSG:4326")
        hit = gpd.sjoin_nearest(pts.to_crs(6933), tw.to_crs(6933), how="left")
        hit = hit[~hit.index.duplicated()]
        town_name = hit["NAME"].reindex(pts.index)
    names = town_name.astype(object).where(town_name.notna(), None)
    label = [
        f"{t}, {c}" if t is not None and str(t) != str(c) else str(c)
        for t, c in zip(names.tolist(), cname.tolist(), strict=True)
    ]
    cells["NAME"] = label
    cells["county_name"] = cname.to_numpy()


#: Words that already say what kind of county a name is.
_KINDS = ("County", "city", "City", "Parish", "Borough", "Census Area", "Municipality")


def _with_county_kind(names: pd.Series, geoids: pd.Series) -> pd.Series:
    """``Rockingham`` -> ``Rockingham County``; ``Winchester`` (51840) -> ``Winchester city``.

    Cartographic boundary files give the bare name; the kind follows the Census codes:
    county codes 510 and above are independent cities (Virginia, Baltimore, St. Louis, Carson
    City), Louisiana has parishes, Alaska's names are left as they are.
    """
    code = pd.to_numeric(geoids.str.slice(2, 5), errors="coerce")
    state = geoids.str.slice(0, 2)
    kind = np.where(code >= 510, "city", np.where(state == "22", "Parish", "County"))
    plain = ~names.str.endswith(_KINDS) & (state != "02")
    return names.where(~plain, names + " " + pd.Series(kind, index=names.index))


def with_fcc_counts(counts: pd.DataFrame, fcc: pd.DataFrame) -> pd.DataFrame:
    """Block-group counts with the FCC BDC locations by service class (:data:`FCC_COUNTS`).

    Block groups without a location get zeros (the BDC lists every broadband-serviceable
    location of the states it covers); they move up the hierarchy as counts.
    """
    from equity.sources import summarise_fcc_bdc

    by_bg = summarise_fcc_bdc(fcc, by="blockgroup")[["GEOID", *FCC_COUNTS]]
    out = counts.merge(by_bg, on="GEOID", how="left")
    out[list(FCC_COUNTS)] = out[list(FCC_COUNTS)].fillna(0.0)
    return out


def _fcc_cells(fcc: pd.DataFrame | None) -> pd.DataFrame | None:
    """FCC BDC locations by H3 resolution-8 cell (the BDC's ``h3_res8_id``), or None."""
    if fcc is None:
        return None
    from equity.sources import summarise_fcc_bdc

    located = fcc[fcc["h3_res8_id"].astype(str).str.fullmatch(r"[0-9a-fA-F]{15}").fillna(False)]
    if not len(located):
        return None
    cells = summarise_fcc_bdc(located, by="h3")[["GEOID", *FCC_COUNTS]]
    cells["GEOID"] = cells["GEOID"].str.lower()
    return cells


def cached_street_index(
    b: _Build,
    table: pd.DataFrame,
    context: pd.DataFrame | None,
    compute: Callable[[_Build, str, pd.DataFrame, pd.DataFrame | None], gpd.GeoDataFrame],
) -> gpd.GeoDataFrame:
    """The street level's indicators and index, from the table cache when nothing changed.

    Keyed by the street table (units, names, distances), the county context, the speed
    inputs, the index options and the seed; the index record (``attrs["index"]``) is cached
    beside it. Not cached when the street level is the placement level of a robust run
    (its Monte Carlo draws are needed too).
    """
    from equity import index, indicators

    cfg, ds = b.cfg, b.ds
    if not b.cache.enabled or (cfg.placement_level == "street" and cfg.mode == "robust"):
        return compute(b, "street", table, context)
    key = {
        "table": b.digests.of(table),
        "context": b.digests.of(context) if context is not None else None,
        "tiles": b.digests.tiles(),
        "block_speeds": b.digests.of(ds.block_speeds) if ds.block_speeds is not None else None,
        "blocks": b.digests.of(ds.blocks)
        if ds.block_speeds is not None and ds.blocks is not None
        else None,
        "index": repr(cfg.index_options()),
        "seed": cfg.seed,
        "min_tests": settings.min_ookla_tests,
    }
    code = [index, indicators, geographies, settings]

    def run() -> gpd.GeoDataFrame:
        return _storable(compute(b, "street", table, context))

    out = b.cache.table("street_index", key, run, code=code)

    def record() -> pd.DataFrame:
        meta = b.extras.get("index_meta", {}).get("street", {})
        return pd.DataFrame({"meta": [json.dumps(meta, default=str)]})

    meta = json.loads(b.cache.table("street_index_meta", key, record, code=code)["meta"].iloc[0])
    b.extras.setdefault("index_meta", {})["street"] = meta
    out = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    out.attrs["index"] = meta
    return out


def _storable(df: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """`df` as the table cache stores it: text columns as ``str`` (the unranked rows' missing
    values made them ``object``), no attrs (the index record is cached beside it)."""
    out = df.copy()
    for col in out.columns:
        if col != out.geometry.name and out[col].dtype == object:
            values = out[col].dropna()
            if values.map(lambda v: isinstance(v, str)).all():
                out[col] = out[col].astype("str")
            elif values.map(lambda v: isinstance(v, bool | np.bool_)).all():
                out[col] = out[col].astype("boolean")
    out.attrs = {}
    return out


def _block_units(blocks: pd.DataFrame, table: pd.DataFrame, *, resolution: int) -> pd.Series:
    """Street unit (GEOID) of each block: the unit holding the cell of its internal point."""
    import shapely

    from equity.geographies.h3floor import cell_parents

    geoms = gpd.GeoSeries(blocks.geometry, crs="EPSG:4326").to_numpy()
    pts = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    ok = ~shapely.is_missing(pts) & ~shapely.is_empty(pts)
    xy = shapely.get_coordinates(pts[ok])
    import h3.api.basic_int as h3i

    cells = np.fromiter(
        (h3i.latlng_to_cell(y, x, resolution) for x, y in xy.tolist()),
        dtype=np.uint64,
        count=len(xy),
    )
    units = np.array([int(g, 16) for g in table["GEOID"].astype(str)], dtype=np.uint64)
    found = np.zeros(len(cells), dtype=np.uint64)
    for r in range(resolution, -1, -1):  # the cell itself, else the pool of a parent
        cand = cell_parents(cells, r)
        hit = (found == 0) & np.isin(cand, units)
        found[hit] = cand[hit]
    keep = found > 0
    ids = blocks["GEOID"].astype(str).to_numpy()[ok][keep]
    return pd.Series([f"{int(c):015x}" for c in found[keep]], index=ids)

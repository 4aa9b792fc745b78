"""Counts at every level, then indicators, index and hot spots: :func:`build_levels`.

Block-group counts (with their margins of error) move up the GEOID hierarchy to tracts,
counties and states, onto the street grid and into towns; every level then gets its
indicators, its index and its hot spots.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from equity import checks, geographies, hotspots, index, indicators, settings
from equity import engine as engine_
from equity.cache import TableCache, frame_digest
from equity.config import Config
from equity.errors import DataError, EquityError
from equity.pipeline.context import county_context, distance_indicators
from equity.pipeline.dataset import Dataset
from equity.pipeline.progress import Progress

__all__ = ["HIERARCHY", "MEDIANS", "build_levels", "check_conservation"]

log = logging.getLogger("equity.pipeline")

#: Medians carried to every level, and the count weighting each (medians are intensive).
MEDIANS = {"median_household_income": "households"}
#: Levels the block groups aggregate to by GEOID prefix.
HIERARCHY = ("tract", "county", "state")
#: Every level, finest first (the order of the level tables).
_ORDER = ("street", "blockgroup", "tract", "town", "county", "state")
#: Level names in progress lines.
_PLURAL = {"blockgroup": "block groups", "tract": "tracts", "county": "counties", "state": "states"}
#: Levels whose hot spots are computed (Queen contiguity on tens of thousands of street cells
#: is left to a direct call of equity.hotspots).
_HOTSPOT_LEVELS = ("blockgroup", "tract", "town", "county")


def build_levels(
    ds: Dataset,
    cfg: Config,
    *,
    progress: Progress | None = None,
    engine: engine_.Engine | None = None,
) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    """Counts at every level, indicators, index and hot spots.

    Parameters
    ----------
    ds
        Loaded dataset.
    cfg
        Run configuration (levels, grid, index settings, ``engine``).
    progress
        Progress reporter.
    engine
        Where the street grid and Ookla summaries are computed; default: the engine of
        ``cfg.engine`` (``equity.engine.engine_from_config``), closed on return. The results
        are identical whichever engine runs them.

    Returns
    -------
    levels, extras
        Level name to level table (see docs/contracts.md "Level tables"), and extras
        (``draws``: Monte Carlo index draws of the placement level).
    """
    progress = progress or Progress(quiet=True)
    if engine is not None:
        return _build_levels(ds, cfg, progress, engine)
    if cfg.engine == "local":
        eng = engine_.engine_from_config(cfg)
    else:
        with progress.step(f"starting the {cfg.engine} engine"):
            eng = engine_.engine_from_config(cfg)
    with eng:
        return _build_levels(ds, cfg, progress, eng)


def check_conservation(
    levels: dict[str, gpd.GeoDataFrame], column: str = "households"
) -> dict[str, float]:
    """Sum of `column` per level; raises when any level differs from the block groups'.

    Parameters
    ----------
    levels
        Level tables.
    column
        A count column present in every level.

    Returns
    -------
    dict
        Level name to total.

    Raises
    ------
    EquityError
        When a level's total differs from the block groups' by more than 1e-9 relative.
    """
    totals = {lv: float(t[column].sum()) for lv, t in levels.items() if column in t}
    ref = totals.get("blockgroup", next(iter(totals.values()), 0.0))
    bad = {
        lv: v for lv, v in totals.items() if not math.isclose(v, ref, rel_tol=1e-9, abs_tol=1e-6)
    }
    if bad:
        msg = f"{column} not conserved across levels: block groups {ref:,.3f} vs " + ", ".join(
            f"{k} {v:,.3f}" for k, v in bad.items()
        )
        raise EquityError(msg)
    return totals


class _Digests:
    """Content digests of a dataset's large tables, computed once and only when needed."""

    def __init__(self, ds: Dataset, *, enabled: bool) -> None:
        self._ds = ds
        self._enabled = enabled
        self._tiles: str | None = None

    def tiles(self) -> str | None:
        if self._enabled and self._tiles is None and self._ds.tiles is not None:
            self._tiles = frame_digest(self._ds.tiles)
        return self._tiles

    def of(self, df: pd.DataFrame) -> str | None:
        return frame_digest(df) if self._enabled else None


@dataclass
class _Build:
    """What every step of :func:`build_levels` works with."""

    ds: Dataset
    cfg: Config
    progress: Progress
    engine: engine_.Engine
    # the street grid and Ookla summaries go through the table cache too, keyed by the
    # content of their input tables (results do not depend on the engine)
    cache: TableCache
    digests: _Digests
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Counts:
    """Block-group counts as every level takes them."""

    blockgroups: gpd.GeoDataFrame  # polygons, counts, MOEs and parent GEOIDs
    columns: list[str]  # count (extensive) columns
    medians: dict[str, str]  # median column -> count weighting it
    flat: pd.DataFrame  # `blockgroups` without geometry
    carried: list[str]  # GEOID, counts, medians and their MOEs: what moves between levels


def _build_levels(
    ds: Dataset, cfg: Config, progress: Progress, eng: engine_.Engine
) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    cache = ds.cache if ds.cache is not None else TableCache(enabled=False)
    checked = checks.check_dataset(ds, cfg)  # inputs that fit together, before any work
    b = _Build(checked, cfg, progress, eng, cache, _Digests(checked, enabled=cache.enabled))
    b.extras["input_notes"] = checked.notes[len(ds.notes) :]
    bg, count_cols = _block_groups(b)
    counts, tables = _aggregate_up(b, bg, count_cols)
    grid = _street_grid(b, counts) if _needs_grid(b) else None
    if grid is not None:
        tables["street"] = grid[0]
    cell_town = None
    if "town" in cfg.levels:
        tables["town"], cell_town = _towns(b, counts, grid)
    tables = geographies.name_levels(
        tables, ds.boundaries, town_crosswalk=b.extras.get("town_crosswalk"), cell_town=cell_town
    )
    if grid is not None:
        from equity.pipeline.street import name_street_cells

        name_street_cells(tables)
    if ds.anchors is not None:
        distance_indicators(tables, ds.anchors, cell_town)
    context = county_context(ds, tables["county"])
    b.extras["county_context"] = context
    wanted = [lv for lv in _ORDER if lv in cfg.levels or lv == cfg.placement_level]
    from equity.pipeline.street import cached_street_index

    levels = {
        lv: cached_street_index(b, tables[lv], context, _indicators_and_index)
        if lv == "street"
        else _indicators_and_index(b, lv, tables[lv], context)
        for lv in wanted
    }
    return levels, b.extras


# -- counts at every level ---------------------------------------------------------------------


def _count_columns(counts: pd.DataFrame) -> list[str]:
    return [
        c
        for c in counts.columns
        if c != "GEOID"
        and not c.startswith("moe_")
        and c not in MEDIANS
        and pd.api.types.is_numeric_dtype(counts[c])
    ]


def _parents(df: pd.DataFrame, level: str) -> pd.DataFrame:
    """Add state_GEOID and county_GEOID from the GEOID prefix (block group, tract, county, state)."""
    out = df.copy()
    out["level"] = level
    out["state_GEOID"] = geographies.parent_geoid(out["GEOID"], "state")
    if level != "state":
        out["county_GEOID"] = geographies.parent_geoid(out["GEOID"], "county")
    return out


def _with_geometry(
    table: pd.DataFrame, polygons: gpd.GeoDataFrame | None, level: str, fallback: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Attach polygons by GEOID; places without a polygon get the dissolved parts' outline."""
    width = {"tract": 11, "county": 5, "state": 2}[level]
    if polygons is not None:
        geo = polygons[["GEOID", "NAME", "geometry"]]
        out = table.merge(geo, on="GEOID", how="left")
    else:
        out = table.assign(NAME=pd.NA, geometry=None)
    missing = out["geometry"].isna()
    if missing.any():
        parts = fallback.assign(_key=fallback["GEOID"].str[:width]).dissolve(by="_key")[
            ["geometry"]
        ]
        out.loc[missing, "geometry"] = out.loc[missing, "GEOID"].map(parts["geometry"])
        out.loc[out["NAME"].isna(), "NAME"] = level.title() + " " + out["GEOID"]
    return gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")


def _block_groups(b: _Build) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Polygons of the base level (block groups; counties for the national snapshot) with
    their counts and MOEs, and the count columns."""
    level = b.ds.base_level
    name = "block group" if level == "blockgroup" else level
    with b.progress.step(f"counts and margins of error by {name}"):
        if b.ds.counts is not None:
            counts = b.ds.counts
        else:
            counts = indicators.counts_from_acs(b.ds.acs)
        if b.ds.fcc is not None:
            from equity.pipeline.street import with_fcc_counts

            counts = with_fcc_counts(counts, b.ds.fcc)
        bg_poly = b.ds.boundaries.get(level)
        if bg_poly is None:
            msg = f"{name} polygons are required (data.{_PLURAL[level].replace(' ', '')})"
            raise DataError(msg)
        count_cols = _count_columns(counts)
        bg = bg_poly[["GEOID", "NAME", "geometry"]].merge(counts, on="GEOID", how="inner")
        unmatched = len(counts) - len(bg)
        if unmatched:
            log.info(
                "%d ACS %s have no polygon (e.g. water-only block groups) and are left out",
                unmatched,
                _PLURAL[level],
            )
        bg = gpd.GeoDataFrame(_parents(bg, level), geometry="geometry", crs="EPSG:4326")
    return bg, count_cols


def _aggregate_up(
    b: _Build, bg: gpd.GeoDataFrame, count_cols: list[str]
) -> tuple[_Counts, dict[str, pd.DataFrame]]:
    """The counts as every level takes them, and the block groups summed into tracts,
    counties and states (with their polygons, or the outline of their block groups)."""
    base = b.ds.base_level
    tables: dict[str, pd.DataFrame] = {base: bg}
    coarser = HIERARCHY[HIERARCHY.index(base) + 1 :] if base in HIERARCHY else HIERARCHY
    names = [_PLURAL[lv] for lv in coarser]
    to = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    with b.progress.step(f"aggregating {_PLURAL[base]} to {to}"):
        flat = pd.DataFrame(bg.drop(columns="geometry"))
        medians = {m: w for m, w in MEDIANS.items() if m in flat and w in flat}
        carried = [
            "GEOID",
            *count_cols,
            *medians,
            *[f"moe_{c}" for c in (*count_cols, *medians) if f"moe_{c}" in flat],
        ]
        for level in coarser:
            agg = geographies.aggregate(flat[carried], to=level, counts=count_cols, medians=medians)
            tables[level] = _with_geometry(
                _parents(agg, level), b.ds.boundaries.get(level), level, bg
            )
    return _Counts(bg, count_cols, medians, flat, carried), tables


def _needs_grid(b: _Build) -> bool:
    """The street level is asked for (towns no longer need the grid: see :func:`_towns`)."""
    return "street" in b.cfg.levels


def _street_grid(b: _Build, counts: _Counts) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The street level (:func:`equity.geographies.street_level`): pooled H3 cells with the
    block-group counts spread onto them, and the block group -> cell crosswalk (through the
    table cache, computed once for both entries). Warns when block groups fell back to area."""
    from equity.pipeline.street import street_step

    return street_step(b, counts)


# -- towns -----------------------------------------------------------------------------------------


def _towns(
    b: _Build, counts: _Counts, grid: tuple[gpd.GeoDataFrame, pd.DataFrame] | None
) -> tuple[gpd.GeoDataFrame, pd.Series | None]:
    """The town table (``geographies.make_towns``: the given town polygons with the rest of
    each county, else Census places and county subdivisions with the balance of each county,
    else regions of block groups) and, with the street grid, the cell -> town map.

    Block groups are shared among their towns by the households of the street cells when
    the grid exists (its block or Ookla-device weights), else by area.
    """
    with b.progress.step("towns"):
        bnd = b.ds.boundaries
        cells = grid[0] if grid is not None else None
        town = geographies.make_towns(
            counts.blockgroups,
            polygons=bnd.get("town"),
            places=bnd.get("place"),
            cousubs=bnd.get("cousub"),
            county_names=geographies.county_names(*_named_boundaries(bnd)),
            counts=counts.columns,
            medians=counts.medians,
            weights=cells[["households", "geometry"]] if cells is not None else None,
            method=b.cfg.town_method,
        )
        b.extras["town_crosswalk"] = town.attrs["crosswalk"]
        b.extras["towns"] = {**town.attrs.get("towns", {}), "note": geographies.towns_note(town)}
        if cells is None:
            return town, None
        cell_xw = geographies.polygon_crosswalk(
            cells[["GEOID", "geometry"]], town[["GEOID", "geometry"]], method="centroid"
        )
        return town, cell_xw.set_index("source_GEOID")["target_GEOID"]


def _named_boundaries(bnd: dict[str, gpd.GeoDataFrame]) -> list[gpd.GeoDataFrame | None]:
    """Boundary tables that name counties, best first."""
    return [bnd.get(k) for k in ("county", "tract", "blockgroup", "cousub", "town")]


# -- indicators, index and hot spots of one level -------------------------------------------------


def _indicators_and_index(
    b: _Build, level: str, table: pd.DataFrame, context: pd.DataFrame | None
) -> gpd.GeoDataFrame:
    """One level: its inputs joined, indicators, index (with draws for robust placement) and
    hot spots."""
    cfg, ds = b.cfg, b.ds
    unranked = None
    if level == "street" and "ranked" in table:  # the household floor: no index for empty land
        unranked, table = table[~table["ranked"]], table[table["ranked"]]
    with b.progress.step(f"indicators and index: {level} ({len(table):,} places)"):
        if ds.tiles is not None:
            table = table.merge(_ookla_speeds(b, table), on="GEOID", how="left")
        elif ds.block_speeds is not None:
            from equity.pipeline.street import block_speed_table

            table = table.merge(block_speed_table(b, level, table), on="GEOID", how="left")
        if context is not None and "county_GEOID" in table:
            table = table.merge(context, on="county_GEOID", how="left")
        if ds.anchors is not None and level != "street":
            table = _with_anchor_counts(table, ds.anchors)
        table = indicators.compute_indicators(table)
        table = index.compute_index(table, options=cfg.index_options())
        # pandas does not carry attrs through the merges below: keep the index's record
        meta = dict(table.attrs.get("index", {}))
        b.extras.setdefault("index_meta", {})[level] = meta
        if level == cfg.placement_level and cfg.mode == "robust":
            b.extras["draws"] = index.simulate_index(
                table, options=cfg.index_options(n_draws=max(cfg.n_draws, 50))
            )
        table = _with_hotspots(table, level, seed=cfg.seed)
        if unranked is not None and len(unranked):
            table = pd.concat([table, unranked.assign(hotspot="not computed")], ignore_index=True)
        out = gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326")
        out.attrs["index"] = meta
    return out


def _ookla_speeds(b: _Build, table: pd.DataFrame) -> pd.DataFrame:
    """Measured speeds of each place from its tiles' area shares (through the table cache).

    Every level, the street grid too, takes its tiles' area shares of its own polygons: for
    the street level that reuses the cells' hexagons (six times faster than ookla_to_grid
    covering the tiles with cells afresh; equal on the populated cells to 1e-13).
    """
    places = table[["GEOID", "geometry"]]
    min_tests = settings.min_ookla_tests
    tiles = b.ds.tiles

    def compute() -> pd.DataFrame:
        return b.engine.ookla_to_polygons(tiles, places, min_tests=min_tests)

    key = {"tiles": b.digests.tiles(), "polygons": b.digests.of(places), "min_tests": min_tests}
    return b.cache.table("ookla_to_polygons", key, compute, code=[geographies, settings])


def _with_anchor_counts(table: pd.DataFrame, anchors: gpd.GeoDataFrame) -> pd.DataFrame:
    """``n_<kind>`` columns: anchor institutions of each kind inside each place."""
    pts = geographies.count_points(anchors, table)
    table = table.merge(pts, on="GEOID", how="left")
    ncols = [c for c in pts.columns if c.startswith("n_")]
    table[ncols] = table[ncols].fillna(0)
    return table


def _with_hotspots(table: pd.DataFrame, level: str, *, seed: int) -> pd.DataFrame:
    """Local hot spots (equity.hotspots) of the levels that have them and 8 places or more."""
    if level in _HOTSPOT_LEVELS and len(table) >= 8:
        hs = hotspots.local_hotspots(
            gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326"), seed=seed
        )
        return table.merge(hs, on="GEOID", how="left")
    table["hotspot"] = "not computed"
    return table

"""`equity run`: the stages of the data flow called in order from a configuration.

::

    sources -> geographies -> indicators -> index -> placement -> maps / export

:func:`load_dataset` reads every input through the real readers (the bundled sample goes
through the same ones), :func:`build_levels` moves block-group counts to every level and
computes indicators, index and hot spots, :func:`run` adds placement and writes the outputs
atomically (a failed run leaves the output folder as it was).
"""

from __future__ import annotations

import logging
import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from equity import (
    _io,
    geographies,
    hotspots,
    index,
    indicators,
    placement,
    sample,
    settings,
    sources,
)
from equity import engine as engine_
from equity import export as export_
from equity import maps as maps_
from equity.cache import TableCache, frame_digest
from equity.config import Config
from equity.distance import nearest_km
from equity.errors import DataError, EquityError

__all__ = ["Dataset", "RunResult", "build_levels", "check_conservation", "load_dataset", "run"]

log = logging.getLogger(__name__)

SAMPLE_KEYS = {
    "state": "states",
    "county": "counties",
    "tract": "tracts",
    "blockgroup": "blockgroups",
    "town": "towns",
    "acs": "acs",
    "ookla": "ookla",
    "usage": "usage",
    "business": "business",
    "libraries": "libraries",
    "schools": "schools",
    "anchors": "anchors",
}
MEDIANS = {"median_household_income": "households"}
HIERARCHY = ("tract", "county", "state")


class Progress:
    """Progress lines on stderr: one per stage, with its time when it took over a second."""

    def __init__(self, *, quiet: bool = False, stream: Any = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.perf_counter()

    def step(self, label: str) -> _Step:
        """Context manager timing one stage."""
        return _Step(self, label)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.t0

    def write(self, text: str) -> None:
        """Write one line unless quiet."""
        if not self.quiet:
            print(text, file=self.stream, flush=True)


class _Step:
    def __init__(self, progress: Progress, label: str) -> None:
        self.progress, self.label = progress, label

    def __enter__(self) -> _Step:
        self.start = time.perf_counter()
        self.progress.write(f"[{self.progress.elapsed():6.1f}s] {self.label} ...")
        return self

    def __exit__(self, *exc: object) -> None:
        took = time.perf_counter() - self.start
        if exc[0] is None and took >= 1.0:
            self.progress.write(f"[{self.progress.elapsed():6.1f}s]   {self.label}: {took:.1f}s")


@dataclass
class Dataset:
    """The tables one run works on, as loaded by the real readers.

    Attributes
    ----------
    boundaries
        Level name (``state``, ``county``, ``tract``, ``blockgroup``, ``town``) to polygons.
    acs
        Block-group ACS estimates and MOEs (``read_acs`` layout).
    tiles
        Ookla fixed tiles, or None.
    usage
        Microsoft county broadband usage, or None.
    business
        County Business Patterns rows, or None.
    anchors
        Anchor institutions as points with a ``kind`` column (libraries, schools, ...), or None.
    provenance
        One dict per loaded source (``source``, ``title``, ``publisher``, ``vintage``,
        ``licence``, ``attribution``, ``path``).
    cache
        The table cache the inputs went through (disabled when ``[cache] enabled = false``),
        for later stages to cache theirs (see :mod:`equity.cache`); None when built by hand.
    """

    boundaries: dict[str, gpd.GeoDataFrame]
    acs: pd.DataFrame
    tiles: gpd.GeoDataFrame | None = None
    usage: pd.DataFrame | None = None
    business: pd.DataFrame | None = None
    anchors: gpd.GeoDataFrame | None = None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    cache: TableCache | None = None


@dataclass
class RunResult:
    """What :func:`run` produced."""

    levels: dict[str, gpd.GeoDataFrame]
    candidates: gpd.GeoDataFrame
    files: list[Path]
    conservation: dict[str, float]
    seconds: float
    summary: str = ""


def _record(prov: list[dict[str, Any]], df: pd.DataFrame) -> None:
    keys = ("source", "title", "publisher", "vintage", "licence", "attribution", "path")
    entry = {k: "" if df.attrs.get(k) is None else str(df.attrs[k]) for k in keys}
    if entry not in prov:
        prov.append(entry)


def _input_paths(cfg: Config) -> dict[str, Any]:
    if not cfg.uses_sample:
        return dict(cfg.data)
    files = sample.sample_paths(seed=cfg.seed)
    return {SAMPLE_KEYS[k]: v for k, v in files.items() if k in SAMPLE_KEYS}


def load_dataset(cfg: Config, *, cache: TableCache | None = None) -> Dataset:
    """Read every configured input (or the bundled sample) through the real readers.

    Each reader call goes through the table cache (:mod:`equity.cache`), keyed by its input
    file (path, size, mtime, content), the reader's arguments and the readers' source: a
    second run with unchanged inputs reads the stored Parquet tables instead.

    Parameters
    ----------
    cfg
        Run configuration (``cache``, ``cache_folder``).
    cache
        Table cache to use; by default one in ``cfg.cache_folder`` (or
        ``settings.cache_folder / "tables"``), disabled when ``cfg.cache`` is False.

    Returns
    -------
    Dataset
        The loaded tables, their provenance and the cache (``Dataset.cache``).
    """
    if cache is None:
        cache = TableCache(cfg.cache_folder, enabled=cfg.cache)

    def read(reader: str, path: Any, **kwargs: Any) -> Any:
        func = getattr(sources, reader)  # looked up per call, so tests can replace a reader
        return cache.table(
            reader,
            {"path": str(path), "kwargs": kwargs},  # attrs["path"] keeps the path as given
            lambda: func(path, **kwargs),
            inputs=[path],
            code=sources,
        )

    paths = _input_paths(cfg)
    prov: list[dict[str, Any]] = []
    levels = {
        "states": "state",
        "counties": "county",
        "tracts": "tract",
        "blockgroups": "blockgroup",
        "towns": "town",
    }
    boundaries: dict[str, gpd.GeoDataFrame] = {}
    for key, level in levels.items():
        if key in paths:
            gdf = read("read_boundaries", paths[key])
            _record(prov, gdf)
            boundaries[level] = gdf
    acs = read("read_acs", paths["acs"])
    _record(prov, acs)
    tiles = usage = business = anchors = None
    if "ookla" in paths:
        tiles = read("read_ookla", paths["ookla"])
        _record(prov, tiles)
    if "usage" in paths:
        usage = read("read_broadband_usage", paths["usage"])
        _record(prov, usage)
    if "business" in paths:
        business = read("read_business_patterns", paths["business"])
        _record(prov, business)
    points = []
    if "libraries" in paths:
        libs = read("read_libraries", paths["libraries"])
        _record(prov, libs)
        libs = libs.assign(kind="library", anchor_id=libs["library_id"])
        points.append(libs)
    for key in ("schools", "anchors"):
        value = paths.get(key)
        for p in value if isinstance(value, list) else [value] if value else []:
            pts = read("read_anchors", p)
            _record(prov, pts)
            points.append(pts)
    if points:
        cols = ["anchor_id", "name", "kind", "geometry"]
        anchors = gpd.GeoDataFrame(
            pd.concat([p[cols] for p in points], ignore_index=True),
            geometry="geometry",
            crs="EPSG:4326",
        )
    if cache.enabled:
        log.info(
            "inputs: %d tables from the cache, %d read (%s)", cache.hits, cache.misses, cache.folder
        )
    return Dataset(boundaries, acs, tiles, usage, business, anchors, prov, cache)


def _count_columns(counts: pd.DataFrame) -> list[str]:
    return [
        c
        for c in counts.columns
        if c != "GEOID"
        and not c.startswith("moe_")
        and c not in MEDIANS
        and pd.api.types.is_numeric_dtype(counts[c])
    ]


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


def _parents(df: pd.DataFrame, level: str) -> pd.DataFrame:
    """Add state_GEOID and county_GEOID from the GEOID prefix (block group, tract, county, state)."""
    out = df.copy()
    out["level"] = level
    out["state_GEOID"] = geographies.parent_geoid(out["GEOID"], "state")
    if level != "state":
        out["county_GEOID"] = geographies.parent_geoid(out["GEOID"], "county")
    return out


def _county_context(ds: Dataset, county_counts: pd.DataFrame) -> pd.DataFrame | None:
    """County-level context (Microsoft usage, business patterns) keyed by county_GEOID.

    Business rates are computed here, at county level, from the county's population: joined
    to a town or tract they describe its county (a town's own population must not divide
    its county's establishments). The raw county totals keep a ``county_`` prefix.
    """
    parts = []
    if ds.usage is not None:
        cols = [c for c in ("broadband_usage", "broadband_availability") if c in ds.usage.columns]
        parts.append(ds.usage[["GEOID", *cols]].set_index("GEOID"))
    if ds.business is not None:
        biz = ds.business
        if "naics" in biz.columns:
            naics = biz["naics"].astype(str)
            total = biz[naics.str.strip("-/ ") == ""].set_index("GEOID")
            # "813///" is the subsector total; its children (8131//, 81311/, ...) would double count
            nonprofit = biz[naics == "813///"].groupby("GEOID")["establishments"].sum()
        else:
            total, nonprofit = biz.set_index("GEOID"), None
        if biz.attrs.get("geography") == "zip" or total.index.str.len().max() != 5:
            msg = (
                f"{biz.attrs.get('path', 'business')}: data.business must be a County Business "
                "Patterns county file (5-digit county GEOIDs), not ZIP totals"
            )
            raise DataError(msg)
        est = total["establishments"].astype(float)
        if "population" not in county_counts:
            log.warning(
                "business rates per person skipped: the ACS table has no population (B01003_001)"
            )
            pop = pd.Series(np.nan, index=total.index)
        else:
            pop = county_counts.set_index("GEOID")["population"].reindex(total.index).astype(float)
        ctx = pd.DataFrame(index=total.index)
        ctx["county_establishments"] = est
        ctx["county_population"] = pop
        with np.errstate(divide="ignore", invalid="ignore"):
            ctx["establishments_per_1k"] = np.where(pop > 0, est / pop * 1e3, np.nan)
            small = [c for c in ("est_lt5", "est_5_9", "est_10_19") if c in total.columns]
            if len(small) == 3:
                ctx["share_small_business"] = np.where(
                    est > 0, total[small].sum(axis=1) / est, np.nan
                )
            if nonprofit is not None:
                npo = nonprofit.reindex(total.index).fillna(0.0).astype(float)
                ctx["nonprofits_per_10k"] = np.where(pop > 0, npo / pop * 1e4, np.nan)
        parts.append(ctx)
    if not parts:
        return None
    ctx = pd.concat(parts, axis=1)
    ctx.index.name = "county_GEOID"
    return ctx.reset_index()


def _town_crosswalk(
    cells: gpd.GeoDataFrame, crosswalk: pd.DataFrame, towns: gpd.GeoDataFrame
) -> tuple[pd.DataFrame, pd.Series]:
    """Block group -> town weights, composed from block group -> cell and cell -> town.

    A cell belongs to the town containing its centroid (the nearest town when it falls in
    none; ``geographies.polygon_crosswalk``), so every block group's weights still sum to one
    and totals are conserved. Also returns the cell -> town map.
    """
    cell_xw = geographies.polygon_crosswalk(
        cells[["GEOID", "geometry"]], towns[["GEOID", "geometry"]], method="centroid"
    )
    cell_town = cell_xw.set_index("source_GEOID")["target_GEOID"]
    xw = crosswalk.assign(target_GEOID=crosswalk["target_GEOID"].map(cell_town))
    return xw.groupby(["source_GEOID", "target_GEOID"], as_index=False)["weight"].sum(), cell_town


def _distance_indicators(
    tables: dict[str, pd.DataFrame], anchors: gpd.GeoDataFrame, cell_town: pd.Series | None
) -> None:
    """``km_to_school`` / ``km_to_library`` at every level, in place.

    Distances are measured from each street cell's centre and averaged over the cells of a
    place weighted by their households: the distance the average household travels. Places
    without populated cells use their own representative point.
    """
    kinds = [k for k in ("school", "library") if (anchors["kind"] == k).any()]
    if not kinds:
        return
    cells = tables.get("street")
    keys: dict[str, pd.Series] = {}
    if cells is not None:
        centre = cells.geometry.to_crs("EPSG:6933").centroid.to_crs("EPSG:4326")
        w = cells["households"].fillna(0).to_numpy(dtype=float)
        keys = {
            lv: cells[f"{lv}_GEOID"]
            for lv in ("blockgroup", "tract", "county", "state")
            if f"{lv}_GEOID" in cells
        }
        if cell_town is not None:
            keys["town"] = cells["GEOID"].map(cell_town)
    for kind in kinds:
        pts = anchors.geometry[anchors["kind"] == kind]
        col = f"km_to_{kind}"
        per_cell = nearest_km(centre, pts) if cells is not None else None
        if cells is not None:
            cells[col] = per_cell
        for level, table in tables.items():
            if level == "street":
                continue
            value = pd.Series(np.nan, index=table.index)
            if level in keys:
                key = keys[level].to_numpy()
                num = pd.Series(per_cell * w).groupby(key).sum()
                den = pd.Series(w).groupby(key).sum()
                value = table["GEOID"].map(num / den.where(den > 0))
            gaps = value.isna()
            if gaps.any():
                rep = gpd.GeoSeries(
                    table.loc[gaps, "geometry"], crs="EPSG:4326"
                ).representative_point()
                value[gaps] = nearest_km(rep, pts)
            table[col] = value.to_numpy(dtype=float)


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


def _build_levels(
    ds: Dataset, cfg: Config, progress: Progress, eng: engine_.Engine
) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    # the street grid and Ookla summaries go through the table cache too, keyed by the
    # content of their input tables (results do not depend on the engine)
    cache = ds.cache if ds.cache is not None else TableCache(enabled=False)
    digests = _Digests(ds, enabled=cache.enabled)
    with progress.step("counts and margins of error by block group"):
        counts = indicators.counts_from_acs(ds.acs)
        bg_poly = ds.boundaries.get("blockgroup")
        if bg_poly is None:
            msg = "block-group polygons are required (data.blockgroups)"
            raise DataError(msg)
        count_cols = _count_columns(counts)
        bg = bg_poly[["GEOID", "NAME", "geometry"]].merge(counts, on="GEOID", how="inner")
        unmatched = len(counts) - len(bg)
        if unmatched:
            log.info(
                "%d ACS block groups have no polygon (e.g. water-only block groups) and are left out",
                unmatched,
            )
        bg = gpd.GeoDataFrame(_parents(bg, "blockgroup"), geometry="geometry", crs="EPSG:4326")
    tables: dict[str, pd.DataFrame] = {"blockgroup": bg}
    with progress.step("aggregating block groups to tracts, counties and states"):
        flat = pd.DataFrame(bg.drop(columns="geometry"))
        medians = {m: w for m, w in MEDIANS.items() if m in flat and w in flat}
        carried = [
            "GEOID",
            *count_cols,
            *medians,
            *[f"moe_{c}" for c in (*count_cols, *medians) if f"moe_{c}" in flat],
        ]
        for level in HIERARCHY:
            agg = geographies.aggregate(flat[carried], to=level, counts=count_cols, medians=medians)
            tables[level] = _with_geometry(
                _parents(agg, level), ds.boundaries.get(level), level, bg
            )
    extras: dict[str, Any] = {}
    cell_town = None
    town_polygons = ds.boundaries.get("town")
    if "street" in cfg.levels or ("town" in cfg.levels and town_polygons is not None):
        on = "" if eng.name == "local" else f", {eng.describe()}"
        with progress.step(f"street grid (H3 resolution {cfg.grid_resolution}{on})"):
            grid: dict[str, tuple[gpd.GeoDataFrame, pd.DataFrame]] = {}

            def street() -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
                if "v" not in grid:  # one computation feeds both cache entries
                    grid["v"] = eng.street_grid(
                        bg,
                        counts=count_cols,
                        resolution=cfg.grid_resolution,
                        tiles=ds.tiles,
                        weight_column=cfg.grid_weight,
                        medians=medians,
                    )
                return grid["v"]

            key = {
                "blockgroups": digests.of(bg),
                "tiles": digests.tiles(),
                "counts": count_cols,
                "medians": medians,
                "resolution": cfg.grid_resolution,
                "weight": cfg.grid_weight,
            }
            code = [geographies, settings]
            cells = cache.table("street_grid_cells", key, lambda: street()[0], code=code)
            xwalk = cache.table("street_grid_crosswalk", key, lambda: street()[1], code=code)
            cells = cells.copy()
            cells["level"] = "street"
            cells["NAME"] = "Cell " + cells["GEOID"].astype(str)
            tables["street"] = cells
    if "town" in cfg.levels:
        with progress.step("towns"):
            towns = town_polygons
            if towns is not None:
                town_xw, cell_town = _town_crosswalk(cells, xwalk, towns)
                town = geographies.apply_crosswalk(
                    flat[carried],
                    town_xw,
                    counts=count_cols,
                    medians=medians,
                )
                dominant = (
                    town_xw.assign(
                        hh=town_xw["weight"]
                        * town_xw["source_GEOID"]
                        .map(flat.set_index("GEOID")["households"])
                        .fillna(0)
                    )
                    .sort_values(
                        ["target_GEOID", "hh", "source_GEOID"], ascending=[True, False, True]
                    )
                    .drop_duplicates("target_GEOID")
                    .set_index("target_GEOID")["source_GEOID"]
                )
                n_counties = (
                    town_xw.assign(c=town_xw["source_GEOID"].str[:5])
                    .groupby("target_GEOID")["c"]
                    .nunique()
                )
                town["county_GEOID"] = town["GEOID"].map(dominant).str[:5]
                town["state_GEOID"] = town["county_GEOID"].str[:2]
                town["crosses_county"] = town["GEOID"].map(n_counties).fillna(1).gt(1)
                town = towns[["GEOID", "NAME", "geometry"]].merge(town, on="GEOID", how="inner")
                town = gpd.GeoDataFrame(town, geometry="geometry", crs="EPSG:4326")
                town["level"] = "town"
            else:
                town = geographies.build_towns(bg, counts=count_cols, medians=medians)
            tables["town"] = town
    if ds.anchors is not None:
        _distance_indicators(tables, ds.anchors, cell_town)
    wanted = [
        lv
        for lv in ("street", "blockgroup", "tract", "town", "county", "state")
        if lv in cfg.levels or lv == cfg.placement_level
    ]
    context = _county_context(ds, tables["county"])
    extras["county_context"] = context
    levels: dict[str, gpd.GeoDataFrame] = {}
    for level in wanted:
        table = tables[level]
        with progress.step(f"indicators and index: {level} ({len(table):,} places)"):
            if ds.tiles is not None:
                # every level, the street grid too, takes its tiles' area shares of its own
                # polygons: for the street level that reuses the cells' hexagons (six times
                # faster than ookla_to_grid covering the tiles with cells afresh; equal on
                # the populated cells to 1e-13)
                places = table[["GEOID", "geometry"]]
                min_tests = settings.min_ookla_tests
                speeds = cache.table(
                    "ookla_to_polygons",
                    {
                        "tiles": digests.tiles(),
                        "polygons": digests.of(places),
                        "min_tests": min_tests,
                    },
                    lambda places=places, min_tests=min_tests: eng.ookla_to_polygons(
                        ds.tiles, places, min_tests=min_tests
                    ),
                    code=[geographies, settings],
                )
                table = table.merge(speeds, on="GEOID", how="left")
            if context is not None and "county_GEOID" in table:
                table = table.merge(context, on="county_GEOID", how="left")
            if ds.anchors is not None and level != "street":
                pts = geographies.count_points(ds.anchors, table)
                table = table.merge(pts, on="GEOID", how="left")
                ncols = [c for c in pts.columns if c.startswith("n_")]
                table[ncols] = table[ncols].fillna(0)
            table = indicators.compute_indicators(table)
            table = index.compute_index(
                table,
                preset=cfg.preset,
                weights=cfg.pillar_weights,
                normalisation=cfg.normalisation,
                reference=cfg.reference,
                n_draws=cfg.n_draws,
                seed=cfg.seed,
                top_k=cfg.k,
                min_indicators_per_pillar=cfg.min_indicators_per_pillar,
            )
            # pandas does not carry attrs through the merges below: keep the index's record
            meta = dict(table.attrs.get("index", {}))
            extras.setdefault("index_meta", {})[level] = meta
            if level == cfg.placement_level and cfg.mode == "robust":
                extras["draws"] = index.simulate_index(
                    table,
                    preset=cfg.preset,
                    weights=cfg.pillar_weights,
                    normalisation=cfg.normalisation,
                    reference=cfg.reference,
                    min_indicators_per_pillar=cfg.min_indicators_per_pillar,
                    n_draws=max(cfg.n_draws, 50),
                    seed=cfg.seed,
                )
            if level in ("blockgroup", "tract", "town", "county") and len(table) >= 8:
                hs = hotspots.local_hotspots(
                    gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326"), seed=cfg.seed
                )
                table = table.merge(hs, on="GEOID", how="left")
            else:  # Queen contiguity on tens of thousands of cells is left to equity.hotspots
                table["hotspot"] = "not computed"
            levels[level] = gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326")
            levels[level].attrs["index"] = meta
    return levels, extras


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


def run(
    cfg: Config,
    *,
    out: str | Path = ".",
    quiet: bool = False,
    command: str | None = None,
    write_maps: bool = True,
    cache: TableCache | None = None,
) -> RunResult:
    """Run the whole job: load, levels, index, placement, maps, exports.

    Parameters
    ----------
    cfg
        Run configuration (``equity.config.load_config()`` runs the bundled sample).
    out
        Output folder; created if needed. Files are written atomically: on failure the
        folder is left as it was.
    quiet
        Suppress progress lines.
    command
        The command line recorded in METHODS.md (defaults to ``equity run`` with `out`).
    write_maps
        Write the HTML maps (and PNGs) under ``out/maps``.
    cache
        Table cache of the inputs (see :func:`load_dataset`); by default from `cfg`.

    Returns
    -------
    RunResult
        Level tables, candidates, written files, conserved household totals, wall time and
        a one-line summary of what was written where (the CLI prints it).
    """
    progress = Progress(quiet=quiet)
    out = Path(out)
    with progress.step("loading inputs" + (" (bundled sample region)" if cfg.uses_sample else "")):
        ds = load_dataset(cfg, cache=cache)
    if ds.cache is not None and ds.cache.enabled:
        progress.write(
            f"[{progress.elapsed():6.1f}s]   inputs: {ds.cache.hits} from the table cache, "
            f"{ds.cache.misses} read ({ds.cache.folder})"
        )
    levels, extras = build_levels(ds, cfg, progress=progress)
    business = None
    context = extras.get("county_context")
    if context is not None and "county_establishments" in context:
        business = context.rename(
            columns={
                "county_GEOID": "GEOID",
                "county_establishments": "establishments",
                "county_population": "population",
            }
        )
        business = business[
            [c for c in ("GEOID", "establishments", "population") if c in business]
        ].dropna(subset=["establishments"])
    conservation = check_conservation(levels)
    with progress.step(
        f"fellow placement ({cfg.mode}, k={cfg.k} per state, {cfg.placement_level} level)"
    ):
        demand = levels.get("blockgroup")
        cands = placement.rank_candidates(
            levels[cfg.placement_level],
            anchors=ds.anchors,
            demand=demand,
            mode=cfg.mode,
            k=cfg.k,
            radius_km=cfg.radius_km,
            weights=cfg.score_weights,
            min_households=cfg.min_households,
            states=list(cfg.states) or None,
            min_spacing_km=cfg.min_spacing_km,
            business=business,
            existing_sites=list(cfg.existing_sites) or None,
            draws=extras.get("draws"),
            seed=cfg.seed,
        )
    command = (
        command
        or "equity run"
        + (f" --config {shlex.quote(cfg.source)}" if cfg.source else "")
        + f" --out {shlex.quote(str(out))}"
    )
    files: list[Path] = []
    with _io.atomic_dir(out) as tmp:
        with progress.step("writing tables, candidates and METHODS.md"):
            written = []
            written += export_.write_level_tables(levels, tmp)
            written += export_.write_candidates(cands, tmp, formats=("csv", "xlsx", "geojson"))
            params = cfg.as_dict()
            meta = extras.get("index_meta", {}).get(cfg.placement_level, {})
            params["index"] = {
                k: meta[k]
                for k in (
                    "preset",
                    "normalisation",
                    "reference",
                    "aggregation",
                    "pillar_weights",
                    "missing_pillars",
                    "redistributed_weight",
                    "missing_indicators",
                    "n_draws",
                    "seed",
                )
                if k in meta
            }
            params["placement"] = cands.attrs.get("placement", {})
            notes = [
                f"{cfg.placement_level} level: pillars without data, weight redistributed: "
                + (", ".join(meta.get("missing_pillars", [])) or "none")
            ]
            written.append(
                export_.write_methods(
                    tmp,
                    provenance=ds.provenance,
                    parameters=params,
                    command=command,
                    weights=meta.get("pillar_weights"),
                    notes=notes,
                )
            )
        if write_maps:
            with progress.step("writing maps"):
                written += maps_.run_maps(
                    levels, cands, tmp / "maps", provenance=ds.provenance, title=cfg.title
                )
        files = [out / Path(p).relative_to(tmp) for p in written]
    seconds = progress.elapsed()
    selected = cands[cands["selected"]] if "selected" in cands else cands
    n_maps = sum(1 for f in files if f.suffix == ".html")
    summary = (
        f"equity run: {len(levels)} levels ("
        + ", ".join(f"{lv} {len(t):,}" for lv, t in levels.items())
        + f"), {len(selected)} selected candidates -> {out / 'candidates.csv'}; "
        + (f"{n_maps} maps in {out / 'maps'}; " if n_maps else "no maps; ")
        + f"METHODS.md; {seconds:.1f}s"
    )
    return RunResult(levels, cands, files, conservation, seconds, summary)

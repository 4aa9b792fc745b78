"""What a place takes from around it: its county's context and its distance to anchors."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from equity.distance import nearest_km
from equity.errors import DataError
from equity.pipeline.dataset import Dataset

__all__ = ["county_context", "distance_indicators"]

log = logging.getLogger("equity.pipeline")


def county_context(ds: Dataset, county_counts: pd.DataFrame) -> pd.DataFrame | None:
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
        parts.append(_business_rates(ds.business, county_counts))
    if not parts:
        return None
    ctx = pd.concat(parts, axis=1)
    ctx.index.name = "county_GEOID"
    return ctx.reset_index()


def _business_totals(biz: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series | None]:
    """Each county's all-industry row and its nonprofit establishments (None without NAICS)."""
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
    return total, nonprofit


def _business_rates(biz: pd.DataFrame, county_counts: pd.DataFrame) -> pd.DataFrame:
    """Establishments per 1,000 people, share of small ones, nonprofits per 10,000 by county."""
    total, nonprofit = _business_totals(biz)
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
            ctx["share_small_business"] = np.where(est > 0, total[small].sum(axis=1) / est, np.nan)
        if nonprofit is not None:
            npo = nonprofit.reindex(total.index).fillna(0.0).astype(float)
            ctx["nonprofits_per_10k"] = np.where(pop > 0, npo / pop * 1e4, np.nan)
    return ctx


def distance_indicators(
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
    grid = _CellMeans(cells, cell_town) if cells is not None else None
    for kind in kinds:
        pts = anchors.geometry[anchors["kind"] == kind]
        col = f"km_to_{kind}"
        per_cell = None
        if grid is not None:
            per_cell = nearest_km(grid.centre, pts)
            grid.cells[col] = per_cell
        for level, table in tables.items():
            if level == "street":
                continue
            value = pd.Series(np.nan, index=table.index)
            if grid is not None and per_cell is not None and level in grid.keys:
                value = table["GEOID"].map(grid.mean(per_cell, level))
            gaps = value.isna()
            if gaps.any():
                rep = gpd.GeoSeries(
                    table.loc[gaps, "geometry"], crs="EPSG:4326"
                ).representative_point()
                value[gaps] = nearest_km(rep, pts)
            table[col] = value.to_numpy(dtype=float)


class _CellMeans:
    """Household-weighted means of a per-cell value over the cells of each place."""

    def __init__(self, cells: pd.DataFrame, cell_town: pd.Series | None) -> None:
        self.cells = cells
        self.centre = cells.geometry.to_crs("EPSG:6933").centroid.to_crs("EPSG:4326")
        self.weights = cells["households"].fillna(0).to_numpy(dtype=float)
        self.keys = {
            lv: cells[f"{lv}_GEOID"]
            for lv in ("blockgroup", "tract", "county", "state")
            if f"{lv}_GEOID" in cells
        }
        if cell_town is not None:
            self.keys["town"] = cells["GEOID"].map(cell_town)

    def mean(self, per_cell: np.ndarray, level: str) -> pd.Series:
        """Mean of `per_cell` by place GEOID of `level` (NaN where no households)."""
        key = self.keys[level].to_numpy()
        num = pd.Series(per_cell * self.weights).groupby(key).sum()
        den = pd.Series(self.weights).groupby(key).sum()
        return num / den.where(den > 0)

"""The partner sources as rows of one layout, ready to be merged and located.

Each source's reader returns its own columns; :func:`standardise` brings them to one table
(``source``, ``source_id``, ``name``, ``kind``, ``mission``, ``detail``, ``size_class``,
``size_basis``, ``ein``, ``address``, ``city``, ``state_abbr``, ``zip``, ``county_GEOID``,
``longitude``, ``latitude``, ``listed``), ordered by :data:`SOURCE_ORDER`. Library bookmobiles
and books-by-mail outlets (IMLS ``BS``, ``BM``) are left out: they have no building to host a
fellow. A nonprofit's size is its IRS income class, or its asset class when it reports no income.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from equity.sources.partners import normalise_kind

__all__ = ["SOURCE_ORDER", "standardise"]

logger = logging.getLogger("equity.placement")

#: Sources in order of precedence for names and kinds (the planner's list first).
SOURCE_ORDER: tuple[str, ...] = ("list", "imls", "ipeds", "nces", "anchors", "irs_bmf")

_COLUMNS = (
    "source",
    "source_id",
    "name",
    "kind",
    "mission",
    "detail",
    "size_class",
    "size_basis",
    "ein",
    "address",
    "city",
    "state_abbr",
    "zip",
    "county_GEOID",
    "longitude",
    "latitude",
    "listed",
)
_LIBRARY_OUTLETS = {"CE": "public library", "BR": "public library branch"}
_NO_BUILDING = {"BS", "BM"}  # bookmobile, books-by-mail


def _empty_rows() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="string") for c in _COLUMNS})
    out["size_class"] = pd.Series(dtype="Int64")
    out["longitude"] = pd.Series(dtype=float)
    out["latitude"] = pd.Series(dtype=float)
    out["listed"] = pd.Series(dtype=bool)
    return out


def _frame(n: int, **columns: Any) -> pd.DataFrame:
    out = _empty_rows().reindex(range(n))
    for key, value in columns.items():
        out[key] = value.to_numpy() if isinstance(value, pd.Series) else value
    out["listed"] = out["listed"].fillna(False).astype(bool)
    return out


def _xy(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    pts = gdf.geometry.to_crs(4326) if gdf.crs is not None else gdf.geometry
    return pts.x.to_numpy(dtype=float), pts.y.to_numpy(dtype=float)


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name].astype("string").reset_index(drop=True)
    return pd.Series(pd.NA, index=range(len(df)), dtype="string")


def _from_libraries(libs: gpd.GeoDataFrame) -> pd.DataFrame:
    outlet = _col(libs, "outlet_type").str.upper()
    keep = ~outlet.isin(list(_NO_BUILDING)).fillna(False).to_numpy(dtype=bool)
    if (~keep).any():
        logger.info(
            "partners: %d library bookmobile/books-by-mail outlet(s) left out", (~keep).sum()
        )
    lon, lat = _xy(libs)
    out = _frame(
        len(libs),
        source="imls",
        source_id=_col(libs, "library_id"),
        name=_col(libs, "name"),
        kind="library",
        detail=outlet.map(_LIBRARY_OUTLETS).fillna("public library outlet"),
        address=_col(libs, "address"),
        city=_col(libs, "city"),
        state_abbr=_col(libs, "state_abbr"),
        zip=_col(libs, "zip"),
        county_GEOID=_col(libs, "county_GEOID"),
        longitude=lon,
        latitude=lat,
    )
    return out.loc[keep]


def _from_colleges(colleges: gpd.GeoDataFrame) -> pd.DataFrame:
    lon, lat = _xy(colleges)
    return _frame(
        len(colleges),
        source="ipeds",
        source_id=_col(colleges, "college_id"),
        name=_col(colleges, "name"),
        kind="college",
        detail=_col(colleges, "description").fillna("college"),
        address=_col(colleges, "address"),
        city=_col(colleges, "city"),
        state_abbr=_col(colleges, "state_abbr"),
        zip=_col(colleges, "zip"),
        county_GEOID=_col(colleges, "county_GEOID"),
        longitude=lon,
        latitude=lat,
    )


def _from_anchors(anchors: gpd.GeoDataFrame) -> pd.DataFrame:
    fmt = str(anchors.attrs.get("format", "generic"))
    source = {"nces": "nces", "ipeds": "ipeds", "imls": "imls"}.get(fmt, "anchors")
    kind = normalise_kind(_col(anchors, "kind"))
    detail = {"nces": "public school", "ipeds": "college", "imls": "public library"}.get(fmt)
    lon, lat = _xy(anchors)
    return _frame(
        len(anchors),
        source=source,
        source_id=_col(anchors, "anchor_id"),
        name=_col(anchors, "name"),
        kind=kind,
        detail=detail if detail else kind.str.replace("_", " ", regex=False),
        address=_col(anchors, "address"),
        city=_col(anchors, "city"),
        state_abbr=_col(anchors, "state_abbr"),
        zip=_col(anchors, "zip"),
        county_GEOID=_col(anchors, "county_GEOID"),
        longitude=lon,
        latitude=lat,
    )


def _from_nonprofits(npo: pd.DataFrame) -> pd.DataFrame:
    income = npo["income_class"].astype("Int64").reset_index(drop=True)
    assets = npo["asset_class"].astype("Int64").reset_index(drop=True)
    by_assets = (income.fillna(0) == 0) & (assets.fillna(0) > 0)
    size = income.where(~by_assets, assets)
    basis = pd.Series(np.where(by_assets, "assets", "income"), dtype="string").where(size.notna())
    kind = _col(npo, "kind").fillna("nonprofit")
    mission = _col(npo, "mission")
    return _frame(
        len(npo),
        source="irs_bmf",
        source_id=_col(npo, "ein"),
        name=_col(npo, "name"),
        kind=kind,
        mission=mission,
        detail=_nonprofit_detail(kind, mission),
        size_class=size,
        size_basis=basis,
        ein=_col(npo, "ein"),
        address=_col(npo, "street"),
        city=_col(npo, "city"),
        state_abbr=_col(npo, "state_abbr"),
        zip=_col(npo, "zip"),
        longitude=np.nan,
        latitude=np.nan,
    )


def _nonprofit_detail(kind: pd.Series, mission: pd.Series) -> pd.Series:
    """``"education nonprofit"``; ``"nonprofit library"`` where the mission names a place."""
    place = kind.isin(["library", "college", "community_center"]).fillna(False)
    adjective = (mission + " nonprofit").fillna("nonprofit")
    noun = ("nonprofit " + mission).fillna("nonprofit")
    return noun.where(place, adjective).astype("string")


def _from_list(listed: pd.DataFrame) -> pd.DataFrame:
    kind = _col(listed, "kind")
    return _frame(
        len(listed),
        source="list",
        source_id=_col(listed, "partner_id"),
        name=_col(listed, "name"),
        kind=kind.where(kind != "other"),
        detail=kind.str.replace("_", " ", regex=False),
        ein=_col(listed, "ein"),
        address=_col(listed, "address"),
        city=_col(listed, "city"),
        state_abbr=_col(listed, "state"),
        zip=_col(listed, "zip"),
        longitude=listed["longitude"].to_numpy(dtype=float),
        latitude=listed["latitude"].to_numpy(dtype=float),
        listed=True,
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def standardise(
    *,
    libraries: Any = None,
    colleges: Any = None,
    anchors: Any = None,
    nonprofits: Any = None,
    lists: Any = None,
) -> pd.DataFrame:
    """Every source's rows in one table of the same columns, in :data:`SOURCE_ORDER`.

    ``attrs["dropped"]``: rows each source's reader left out for want of coordinates.
    """
    dropped: dict[str, int] = {}
    for source, frames in (("imls", libraries), ("ipeds", colleges), ("anchors", anchors)):
        for x in _as_list(frames):
            name = {"nces": "nces", "ipeds": "ipeds", "imls": "imls"}.get(
                str(x.attrs.get("format", "")), source
            )
            n = int(x.attrs.get("n_missing_coordinates", 0) or 0)
            if n:
                dropped[name] = dropped.get(name, 0) + n
    parts = [_empty_rows()]
    parts += [_from_libraries(x) for x in _as_list(libraries)]
    parts += [_from_colleges(x) for x in _as_list(colleges)]
    parts += [_from_anchors(x) for x in _as_list(anchors)]
    parts += [_from_nonprofits(x) for x in _as_list(nonprofits)]
    parts += [_from_list(x) for x in _as_list(lists)]
    rows = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    order = rows["source"].map({s: i for i, s in enumerate(SOURCE_ORDER)}).fillna(len(SOURCE_ORDER))
    rows = rows.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)
    rows["name"] = rows["name"].astype("string").str.strip()
    rows["zip"] = rows["zip"].astype("string").str.extract(r"^(\d{5})", expand=False)
    ok = rows["name"].notna() & (rows["name"] != "")
    if (~ok).any():
        logger.warning("partners: %d row(s) without a name left out", int((~ok).sum()))
    rows = rows.loc[ok].reset_index(drop=True)
    rows.attrs["dropped"] = dropped
    return rows

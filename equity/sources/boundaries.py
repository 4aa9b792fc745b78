"""Census cartographic boundary and TIGER/Line files (and user polygons) at any level.

Reads shapefiles (plain or zipped), GeoPackages and GeoJSON with pyogrio and returns
``GEOID``, ``NAME``, ``level``, ``vintage``, ``ALAND``/``AWATER`` when present and the geometry in
EPSG:4326.

The id column is the first of ``GEOID``, ``GEOID20``, ``GEOID10``, ``ZCTA5CE20``, ``ZCTA5CE10``,
``GEO_ID``/``AFFGEOID`` (the part after ``US``: 2010 files such as ``gz_2010_51_140_00_500k``
have no ``GEOID``) or the concatenated FIPS parts (``STATE``+``COUNTY``+``TRACT``...).
The level comes from the file name (``_bg_``, ``_tract_``, ``_county_``, ``_cousub_``,
``_place_``, ``_state_``, ``_zcta5``, 2010 summary levels ``_140_``, ``_150_``, ``_050_``, ...)
or else from the GEOID width. Shapefiles without a ``.cpg`` are read as latin-1 (2010 files).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from equity.errors import DataError, SchemaError, check_choice
from equity.sources._checks import check_degrees, check_geometries
from equity.sources._common import (
    CONTRACT_LEVEL,
    GEOID_WIDTH,
    PathLike,
    check_file,
    clean_geoid,
    find_column,
    level_from_geoids,
    set_provenance,
    vintage_from_name,
    zip_member,
)
from equity.sources._schema import Schema, norm_name

__all__ = ["SCHEMA", "level_from_filename", "read_boundaries"]

logger = logging.getLogger("equity.sources")

_NAME_TOKENS = [
    (re.compile(r"(?:^|_)(bg|blkgrp|blockgroup|150)(?:_|\d|$)"), "blockgroup"),
    (re.compile(r"(?:^|_)(tract|140)(?:_|\d|$)"), "tract"),
    (re.compile(r"(?:^|_)(cousub|060)(?:_|\d|$)"), "cousub"),
    (re.compile(r"(?:^|_)(place|160)(?:_|\d|$)"), "place"),
    (re.compile(r"(?:^|_)(zcta5\w*|zcta|860)(?:_|\d|$)"), "zcta"),
    (re.compile(r"(?:^|_)(county|050)(?:_|\d|$)"), "county"),
    (re.compile(r"(?:^|_)(state|040)(?:_|\d|$)"), "state"),
    (re.compile(r"(?:^|_)(tabblock\w*)(?:_|$)"), "block"),
]

_ID_COLUMNS = ("GEOID", "GEOID20", "GEOID10", "ZCTA5CE20", "ZCTA5CE10", "ZCTA5CE")
# ids written with their summary level: "1400000US51001090100" (2010 files have no GEOID;
# 2023+ files call it GEOIDFQ instead of AFFGEOID)
_US_ID_COLUMNS = ("GEO_ID", "AFFGEOID", "AFFGEOID20", "AFFGEOID10", "GEO_ID10", "GEOIDFQ")
_PART_COLUMNS = [
    ("STATEFP", "STATE", "STATEFP20", "STATEFP10"),
    ("COUNTYFP", "COUNTY", "COUNTYFP20", "COUNTYFP10"),
    ("TRACTCE", "TRACT", "TRACTCE20", "TRACTCE10"),
    ("BLKGRPCE", "BLKGRP", "BLKGRPCE20", "BLKGRPCE10"),
]
_PART_WIDTH = (2, 3, 6, 1)
_NAME_COLUMNS = ("NAME", "NAME20", "NAME10", "NAMELSAD", "NAMELSAD20")
# tracts and block groups: NAME is just the number ("2001.06"); NAMELSAD says what it is
_LSAD_COLUMNS = ("NAMELSAD", "NAMELSAD20", "NAMELSAD10")
_AREA_COLUMNS = (("ALAND", "ALAND20", "ALAND10"), ("AWATER", "AWATER20", "AWATER10"))
# names and their legal/statistical area description (equity.geographies.names): output
# column -> the file's column names, for places, county subdivisions, counties and states
_DESCRIPTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "LSAD": ("LSAD", "LSAD20", "LSAD10"),
    "NAMELSAD": ("NAMELSAD", "NAMELSAD20", "NAMELSAD10"),
    "county_name": ("NAMELSADCO",),
    "state_name": ("STATE_NAME",),
}
_DESCRIBED_LEVELS = ("state", "county", "cousub", "place", "town")
_TITLES = {
    "cb": "Census cartographic boundary file",
    "tl": "Census TIGER/Line shapefile",
    "gz": "Census cartographic boundary file (2010)",
}


def _column_problems(columns: Sequence[str]) -> list[str]:
    """A boundary file needs an id column: a GEOID-like one or the FIPS parts."""
    names = {norm_name(c) for c in columns}
    if SCHEMA.key(columns) or any(norm_name(c) in names for c in _PART_COLUMNS[0]):
        return []
    return [_no_id(columns)]


def _no_id(columns: Sequence[object]) -> str:
    cols = ", ".join(str(c) for c in columns if c != "geometry")
    return (
        "no Census id column (GEOID, GEOID20, GEOID10, GEO_ID, ZCTA5CE10, STATEFP...) found; "
        f"pass id_column= naming one of: {cols}"
    )


#: Polygons keyed by a GEOID-like column (or the FIPS parts, or a user's ``id_column``) with
#: their land and water areas (m2, never negative).
SCHEMA = Schema(
    kind="boundaries",
    title="a boundary file",
    keys=tuple((c,) for c in _ID_COLUMNS + _US_ID_COLUMNS),
    optional=(
        *_PART_COLUMNS,
        _NAME_COLUMNS,
        _LSAD_COLUMNS,
        *_AREA_COLUMNS,
        *_DESCRIPTION_COLUMNS.values(),
    ),
    numeric=(r"(?i)(ALAND|AWATER).*",),
    counts=(r"(?i)(ALAND|AWATER).*",),
    formats=(".shp", ".zip", ".gpkg", ".geojson", ".json", ".parquet", ".fgb"),
    rule=_column_problems,
)


def level_from_filename(path: PathLike) -> str | None:
    """Geography named by a Census file name token (``cb_2020_51_bg_500k`` -> ``blockgroup``)."""
    stem = Path(path).name.lower()
    for ext in (".zip", ".shp", ".gpkg", ".geojson", ".json", ".parquet"):
        stem = stem.removesuffix(ext)
    for pattern, level in _NAME_TOKENS:
        if pattern.search(stem):
            return level
    return None


def _vsi(path: Path) -> str:
    return f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)


def read_boundaries(
    path: PathLike,
    *,
    level: str | None = None,
    id_column: str | None = None,
    vintage: str | None = None,
    crs: str | int | None = None,
    name_column: str | None = None,
    layer: str | int | None = None,
) -> gpd.GeoDataFrame:
    """Read Census (or user) polygons keyed by GEOID, in EPSG:4326.

    Parameters
    ----------
    path
        Shapefile, zipped shapefile, GeoPackage, GeoJSON or GeoParquet.
    level
        ``state``, ``county``, ``tract``, ``blockgroup``, ``place``, ``cousub``, ``zcta``,
        ``town`` (user polygons); from the file name or GEOID width when omitted.
    id_column
        Column holding the id, for files that are not Census files.
    vintage
        Geography vintage; from the file name (``cb_2020_...`` -> ``"2020"``) when omitted.
    crs
        CRS to assume for a file that has none (e.g. ``"EPSG:4269"``).
    name_column
        Column holding the name, when not ``NAME``/``NAMELSAD``.
    layer
        Layer of a multi-layer GeoPackage.

    Returns
    -------
    geopandas.GeoDataFrame
        ``GEOID`` (str, zero-padded to the level width for Census levels), ``NAME``,
        ``level`` (contract level: ``town`` for places and county subdivisions), ``vintage``,
        ``ALAND``/``AWATER`` (m2, float) when present, ``geometry`` (EPSG:4326). States,
        counties, places, county subdivisions and towns also keep, when the file has them,
        ``LSAD`` (the Census legal/statistical area description code, text: ``"25"`` =
        city), ``NAMELSAD`` (the name with its description, "Fairfax city"), ``county_name``
        (2020+ files' ``NAMELSADCO``) and ``state_name`` (``STATE_NAME``); see
        :mod:`equity.geographies.names`. ``attrs["geography"]`` keeps the finer geography
        (``place``, ``cousub``, ``zcta``...).

    Raises
    ------
    DataError
        Unreadable or truncated file, a table without geometry (a CSV), no CRS (and no
        `crs`), coordinates that do not fit the CRS (projected metres labelled EPSG:4326), no
        rows.
    SchemaError
        No recognisable id column (lists the columns), duplicate GEOIDs with different shapes,
        missing, empty or NaN geometries, points or lines instead of polygons.

    Warns
    -----
    EquityWarning
        Invalid (self-intersecting) polygons repaired with ``shapely.make_valid``.

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> tracts = read_boundaries(sample_paths()["tract"])
    >>> tracts.crs.to_epsg()
    4326
    """
    p = check_file(path)
    gdf = _read_vector(p, crs=crs, layer=layer)
    census_name = _census_name(p)
    geoid, id_source = _find_id(gdf, p, id_column)
    geography = level or level_from_filename(census_name)
    if geography is None and id_column is None:
        geography = level_from_geoids(geoid, path=p, column=id_source)
    geoid = _clean_ids(geoid, geography, id_column=id_column, id_source=id_source, path=p)
    vintage = vintage or vintage_from_name(census_name)
    out = _frame(gdf, geoid, geography, name_column=name_column, vintage=vintage)
    check_degrees(out, path=p)
    out = check_geometries(out, path=p)  # polygons only; invalid ones repaired with a warning
    out = _drop_duplicates(out, id_source=id_source, path=p).to_crs(4326)
    logger.info(
        "read_boundaries %s: %d features (%d read), level %s, vintage %s",
        p,
        len(out),
        len(gdf),
        geography,
        out["vintage"].iloc[0],
    )
    census = census_name.name[:3].lower() in ("cb_", "tl_", "gz_")
    return set_provenance(
        out,
        source="boundaries",
        title=_TITLES.get(census_name.name[:2].lower(), "Boundaries"),
        publisher="US Census Bureau, Geography Division" if census else "unknown",
        vintage=vintage,
        licence="Public domain (US federal government work)" if census else "unknown",
        attribution="US Census Bureau TIGER/Line and cartographic boundaries" if census else "",
        path=p,
        level=CONTRACT_LEVEL.get(geography or "town", "town"),
        geography=geography,
        id_source=id_source,
    )


def _read_vector(p: Path, *, crs: str | int | None, layer: str | int | None) -> gpd.GeoDataFrame:
    """The file's features, with `crs` set when the file has none (an error without it)."""
    kwargs: dict[str, object] = {}
    if p.suffix.lower() == ".shp" and not p.with_suffix(".cpg").exists():
        kwargs["encoding"] = "latin-1"  # 2010 Census shapefiles: DBF in latin-1, no .cpg
    if layer is not None:
        kwargs["layer"] = layer
    try:
        if p.suffix.lower() == ".parquet":
            gdf = gpd.read_parquet(p)
        else:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*Measured \\(M\\) geometry.*")
                gdf = gpd.read_file(_vsi(p), engine="pyogrio", **kwargs)
    except (
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
        OSError,
        ValueError,
    ) as exc:
        msg = f"{p}: cannot read as a vector file (shapefile, zip, GeoPackage, GeoJSON): {exc}"
        raise DataError(msg) from exc
    if getattr(gdf, "_geometry_column_name", None) not in gdf.columns:
        msg = (
            f"{p}: a table without geometry (columns: {', '.join(map(str, gdf.columns[:8]))}), "
            "not a boundary file: give the shapefile, zip, GeoPackage or GeoJSON"
        )
        raise DataError(msg)
    if len(gdf) == 0:
        msg = f"{p}: no features"
        raise DataError(msg)
    if gdf.crs is None:
        if crs is None:
            msg = (
                f"{p}: the file has no CRS (missing .prj?); pass crs= (Census files are "
                "EPSG:4269, NAD83)"
            )
            raise DataError(msg)
        gdf = gdf.set_crs(crs)
    return gdf


def _census_name(p: Path) -> Path:
    """The name that says level and vintage: a cached download's (named by a hash) zip member."""
    census_name = (
        Path(zip_member(p, (".shp", ".gpkg", ".geojson")) or p.name)
        if p.suffix.lower() == ".zip"
        else p
    )
    if level_from_filename(census_name) is None and vintage_from_name(census_name) is None:
        return p
    return census_name


def _clean_ids(
    geoid: pd.Series,
    geography: str | None,
    *,
    id_column: str | None,
    id_source: str,
    path: Path,
) -> pd.Series:
    """Census ids zero-padded to the level's width (any width for towns); a user's as text."""
    if geography is not None and geography != "town":
        check_choice("level", geography, [*GEOID_WIDTH, "town"], where=str(path))
    width = GEOID_WIDTH.get(geography) if geography is not None else None
    if id_column is None or geography in GEOID_WIDTH:
        return clean_geoid(geoid, width=width, path=path, column=id_source)
    return geoid.astype("str").str.strip()


def _frame(
    gdf: gpd.GeoDataFrame,
    geoid: pd.Series,
    geography: str | None,
    *,
    name_column: str | None,
    vintage: str | None,
) -> gpd.GeoDataFrame:
    """GEOID, NAME, level, vintage, land and water areas and the geometry."""
    name_cands: tuple[str, ...] = _NAME_COLUMNS
    if geography in ("tract", "blockgroup"):
        name_cands = (*_LSAD_COLUMNS, *name_cands)
    name_col = name_column or find_column(gdf, *name_cands)
    name = geoid.copy() if name_col is None else gdf[name_col].astype("str").str.strip()
    out = gpd.GeoDataFrame(
        {
            "GEOID": geoid.to_numpy(),
            "NAME": name.to_numpy(),
            "level": CONTRACT_LEVEL.get(geography or "town", geography or "town"),
            "vintage": vintage,
        },
        geometry=gdf.geometry.to_numpy(),
        crs=gdf.crs,
    )
    for cands in _AREA_COLUMNS:
        col = find_column(gdf, *cands)
        if col is not None:
            out[cands[0]] = pd.to_numeric(gdf[col], errors="coerce").astype("float64").to_numpy()
    if geography in _DESCRIBED_LEVELS or geography is None:
        for key, names in _DESCRIPTION_COLUMNS.items():
            col = find_column(gdf, *names)
            if col is not None:
                out[key] = _text(gdf[col], width=2 if key == "LSAD" else None).to_numpy()
    return out[[c for c in out.columns if c != "geometry"] + ["geometry"]]


def _text(values: pd.Series, *, width: int | None) -> pd.Series:
    """Text values (``None`` kept missing); codes zero-padded to `width` (``6`` -> ``"06"``)."""
    text = values.astype("string").str.strip()
    if width is not None:
        text = text.str.replace(r"\.0$", "", regex=True)
        text = text.where(~text.str.fullmatch(r"\d+").fillna(False), text.str.zfill(width))
    return pd.Series(text.to_numpy(dtype=object), index=values.index).where(text.notna(), None)


def _drop_duplicates(out: gpd.GeoDataFrame, *, id_source: str, path: Path) -> gpd.GeoDataFrame:
    """Drop exact duplicates (same id and shape); an id with two shapes is an error."""
    wkb = pd.Series(out.geometry.to_wkb(), index=out.index)
    dup_exact = pd.concat([out.drop(columns="geometry"), wkb.rename("wkb")], axis=1).duplicated()
    if dup_exact.any():
        warnings.warn(
            f"{path}: {int(dup_exact.sum())} exact duplicate feature(s) dropped", stacklevel=3
        )
        out = out.loc[~dup_exact.to_numpy()].reset_index(drop=True)
    dup = out["GEOID"].duplicated(keep=False)
    if dup.any():
        ex = out.loc[dup, "GEOID"].iloc[0]
        msg = f"column {id_source!r} has {int(dup.sum())} features sharing an id, e.g. {ex!r}"
        raise SchemaError([msg], source=str(path))
    empty = out.geometry.isna() | out.geometry.is_empty
    if empty.any():
        warnings.warn(
            f"{path}: {int(empty.sum())} feature(s) with empty geometry kept", stacklevel=3
        )
    return out


def _find_id(gdf: gpd.GeoDataFrame, path: Path, id_column: str | None) -> tuple[pd.Series, str]:
    """The id values and the column(s) they come from: `id_column`, a :data:`SCHEMA` key
    (``GEO_ID``-like ones without their summary level), else the FIPS parts joined."""
    if id_column is not None:
        if id_column not in gdf.columns:
            cols = ", ".join(c for c in gdf.columns if c != "geometry")
            msg = f"id_column {id_column!r} not in the file (columns: {cols})"
            raise SchemaError([msg], source=str(path))
        return gdf[id_column], id_column
    key = SCHEMA.key(gdf.columns)
    if key and norm_name(key[0]) not in {norm_name(c) for c in _US_ID_COLUMNS}:
        return gdf[key[0]], key[0]
    if key:
        s = gdf[key[0]].astype("string").str.strip()
        has_us = s.str.contains("US", regex=False).fillna(False)
        if has_us.all():
            return s.str.split("US", n=1).str[1], key[0]
    parts: list[pd.Series] = []
    names: list[str] = []
    try:
        for cands, width in zip(_PART_COLUMNS, _PART_WIDTH, strict=True):
            c = find_column(gdf, *cands)
            if c is None:
                break
            parts.append(clean_geoid(gdf[c], width=width, path=path, column=c))
            names.append(c)
    except SchemaError:
        parts = []  # a column named like a FIPS part that holds something else
    if not parts:
        raise SchemaError([_no_id(gdf.columns)], source=str(path))
    geoid = parts[0]
    for part in parts[1:]:
        geoid = geoid + part
    return geoid, "+".join(names)

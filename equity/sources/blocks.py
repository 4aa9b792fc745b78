"""2020 Census tabulation blocks: where people live inside a block group.

The street level spreads block-group counts onto H3 cells by the blocks' housing units
(household counts) and population (person counts). Blocks come in several published layouts,
all read by :func:`read_blocks` into one table:

============================ ======================================== ===================
layout                       file                                     gives
============================ ======================================== ===================
``tabblock20``               TIGER/Line ``tl_2020_<ss>_tabblock20``   polygons, HOUSING20,
                             (zipped shapefile, GeoPackage, Parquet)  POP20, ALAND20
``tabblock20_points``        the same attributes as a table with      internal points
                             ``INTPTLAT20`` / ``INTPTLON20``
``address_count_long``       2020 Address Count Listing, long format  housing units,
                             (``geoid,year,measure,value``; the UVA   group quarters
                             ``<st>_bl_abc_2021_...csv.xz`` files)
``address_count``            2020 Address Count Listing as published  housing units,
                             (pipe-delimited ``BLOCK_GEOID|TOTAL      group quarters
                             HOUSING UNITS|TOTAL GROUP QUARTERS``)
``pl94171``                  P.L. 94-171 block population             population
                             (``GEOID20,pop,...``: ALARM's tidy files;
                             or ``GEO_ID`` + ``P1_001N``)
============================ ======================================== ===================

Several files of one state combine with :func:`merge_blocks` (e.g. tabblock20 polygons with
the Address Count Listing's housing units). UVA's Ookla tiles joined to 2020 blocks (one row
per tile x block) are read by :func:`read_block_speeds`.
"""

from __future__ import annotations

import io
import logging
import lzma
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from equity.errors import DataError, SchemaError
from equity.sources._checks import check_counts
from equity.sources._common import (
    PathLike,
    check_file,
    clean_geoid,
    set_provenance,
    to_number,
    vintage_from_name,
    zip_member,
)

__all__ = [
    "BLOCK_LAYOUTS",
    "BLOCK_MEASURES",
    "is_block_speeds",
    "merge_blocks",
    "read_block_speeds",
    "read_blocks",
]

logger = logging.getLogger("equity.sources")

#: Layouts :func:`read_blocks` recognises (see the module docstring).
BLOCK_LAYOUTS = (
    "tabblock20",
    "tabblock20_points",
    "address_count_long",
    "address_count",
    "pl94171",
)
#: Count columns of a block table, and the spellings of the published files.
BLOCK_MEASURES: dict[str, tuple[str, ...]] = {
    "housing_units": (
        "HOUSING20",
        "HOUSING",
        "total_housing_units",
        "TOTAL HOUSING UNITS",
        "H1_001N",
        "H0010001",
        "housing_units",
    ),
    "population": ("POP20", "POP", "pop", "P1_001N", "P0010001", "population"),
    "group_quarters": ("total_group_quarters", "TOTAL GROUP QUARTERS", "group_quarters"),
    "land_m2": ("ALAND20", "ALAND"),
}
_ID_NAMES = ("GEOID20", "GEOID", "BLOCK_GEOID", "geoid", "GEO_ID", "GEOCODE")
_LAT_NAMES = ("INTPTLAT20", "INTPTLAT")
_LON_NAMES = ("INTPTLON20", "INTPTLON")
_VECTOR_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".parquet", ".fgb")
_LONG_MEASURES = {"total_housing_units": "housing_units", "total_group_quarters": "group_quarters"}
_PUBLISHER = "US Census Bureau"


def _column(columns: Sequence[str], names: Sequence[str]) -> str | None:
    """The first of `names` among `columns`, compared without case."""
    lower = {str(c).strip().lower(): c for c in columns}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def _is_vector(p: Path) -> bool:
    if p.suffix.lower() == ".zip":
        return zip_member(p, (".shp", ".gpkg", ".geojson")) is not None
    if p.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return b"geo" in (pq.read_schema(p).metadata or {})
    return p.suffix.lower() in _VECTOR_SUFFIXES


def _read_text_table(p: Path) -> pd.DataFrame:
    """A delimited text file (plain, ``.xz``, ``.gz`` or a zip member) with every column as text."""
    if p.suffix.lower() == ".zip":
        member = zip_member(p, (".txt", ".csv"))
        if member is None:
            msg = f"{p}: zip holds no shapefile, .txt or .csv"
            raise DataError(msg)
        with zipfile.ZipFile(p) as archive:
            raw = archive.read(member)
    elif p.suffix.lower() == ".xz":
        try:
            raw = lzma.decompress(p.read_bytes())
        except lzma.LZMAError as exc:
            msg = f"{p}: not a valid .xz file ({exc})"
            raise DataError(msg) from exc
    else:
        raw = p.read_bytes()
    head = raw[:4096].decode("utf-8-sig", errors="replace").splitlines()
    if not head or not head[0].strip():
        msg = f"{p}: file has no header line"
        raise DataError(msg)
    sep = max((",", "|", "\t"), key=head[0].count)
    try:
        return pd.read_csv(
            io.BytesIO(raw),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            compression="gzip" if p.suffix.lower() == ".gz" else None,
            encoding="utf-8-sig",
            encoding_errors="replace",
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        msg = f"{p}: cannot parse as a delimited text file: {exc}"
        raise DataError(msg) from exc


def _read_vector(p: Path) -> gpd.GeoDataFrame:
    try:
        if p.suffix.lower() == ".parquet":
            return gpd.read_parquet(p)
        src = f"/vsizip/{p}" if p.suffix.lower() == ".zip" else str(p)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Measured \\(M\\) geometry.*")
            return gpd.read_file(src, engine="pyogrio", use_arrow=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        msg = f"{p}: cannot read as a vector file (zipped shapefile, GeoPackage, Parquet): {exc}"
        raise DataError(msg) from exc


def _layout(columns: Sequence[str], *, vector: bool, p: Path) -> str:
    """Which published layout a table's columns are (an error listing them when none)."""
    cols = list(columns)
    if vector:
        return "tabblock20"
    if _column(cols, ("measure",)) and _column(cols, ("value",)) and _column(cols, ("geoid",)):
        return "address_count_long"
    if _column(cols, ("BLOCK_GEOID",)) and _column(cols, ("TOTAL HOUSING UNITS",)):
        return "address_count"
    if _column(cols, _LAT_NAMES) and _column(cols, _LON_NAMES) and _column(cols, _ID_NAMES):
        return "tabblock20_points"
    measures = [m for m, names in BLOCK_MEASURES.items() if _column(cols, names)]
    if _column(cols, _ID_NAMES) and measures:
        return "pl94171" if measures == ["population"] else "tabblock20_points"
    msg = (
        "not a 2020 block file: expected TIGER tabblock20 (GEOID20, HOUSING20, POP20), the "
        "Address Count Listing (geoid/measure/value, or BLOCK_GEOID|TOTAL HOUSING UNITS) or "
        f"P.L. 94-171 block population (GEOID20, pop); found columns {', '.join(cols[:12])}"
    )
    raise SchemaError([msg], source=str(p))


def _block_ids(values: pd.Series, *, p: Path, column: str) -> pd.Series:
    """15-digit block GEOIDs (``GEO_ID`` prefixes such as ``1000000US`` removed)."""
    s = values.astype("str").str.strip().str.replace(r"^\d{7}US", "", regex=True)
    ids = clean_geoid(s, width=15, path=p, column=column)
    short = ids.str.len() != 15
    if short.any():  # pragma: no cover - clean_geoid pads to 15
        msg = f"column {column!r} has ids that are not 15-digit blocks, e.g. {values[short].iloc[0]!r}"
        raise SchemaError([msg], source=str(p))
    return ids


def _from_long(raw: pd.DataFrame, p: Path) -> pd.DataFrame:
    """The Address Count Listing in long format: one row per block, TOTAL rows checked and dropped."""
    gcol = _column(raw.columns, ("geoid",)) or "geoid"
    mcol = _column(raw.columns, ("measure",)) or "measure"
    vcol = _column(raw.columns, ("value",)) or "value"
    value = to_number(raw[vcol], path=p, column=vcol)
    measure = raw[mcol].astype("str").str.strip()
    total = raw[gcol].astype("str").str.strip().str.upper() == "TOTAL"
    known = measure.isin(list(_LONG_MEASURES))
    rows = ~total & known
    ids = _block_ids(raw.loc[rows, gcol], p=p, column=gcol)
    wide = (
        pd.DataFrame({"GEOID": ids, "measure": measure[rows].map(_LONG_MEASURES), "v": value[rows]})
        .pivot_table(index="GEOID", columns="measure", values="v", aggfunc="sum", sort=True)
        .rename_axis(None, axis=1)
        .reset_index()
    )
    # each file states its own totals: the blocks must add up to them, or the file is cut
    for m_raw, m in _LONG_MEASURES.items():
        stated = value[total & (measure == m_raw)]
        if len(stated) and m in wide and not np.isclose(stated.sum(), wide[m].sum()):
            msg = (
                f"the blocks' {m_raw} add up to {wide[m].sum():,.0f} but the file's TOTAL row "
                f"says {stated.sum():,.0f} (truncated or edited file?)"
            )
            raise SchemaError([msg], source=str(p))
    if rows.sum() != len(raw) - total.sum():
        logger.info("%s: %d rows of other measures ignored", p, int((~known & ~total).sum()))
    dup = raw.loc[rows].duplicated([gcol, mcol])
    if dup.any():
        ex = raw.loc[rows][dup][gcol].iloc[0]
        msg = f"block {ex!r} is listed twice for one measure"
        raise SchemaError([msg], source=str(p))
    return wide


def _measures(raw: pd.DataFrame, p: Path) -> dict[str, pd.Series]:
    out: dict[str, pd.Series] = {}
    for m, names in BLOCK_MEASURES.items():
        col = _column(raw.columns, names)
        if col is not None:
            out[m] = to_number(raw[col], path=p, column=col).reset_index(drop=True)
    return out


def _from_wide(raw: pd.DataFrame, p: Path, layout: str) -> pd.DataFrame | gpd.GeoDataFrame:
    """Tabblock20 (polygons or points), the published Address Count Listing, or P.L. counts."""
    idc = _column(raw.columns, ("BLOCK_GEOID",) if layout == "address_count" else _ID_NAMES)
    if idc is None:
        msg = f"no block id column (one of {', '.join(_ID_NAMES)})"
        raise SchemaError([msg], source=str(p))
    table = pd.DataFrame({"GEOID": _block_ids(raw[idc], p=p, column=idc).to_numpy()})
    for m, values in _measures(raw, p).items():
        table[m] = values.to_numpy()
    if layout == "tabblock20":
        geo = gpd.GeoSeries(raw.geometry.to_numpy(), crs=raw.crs)
        lat, lon = _column(raw.columns, _LAT_NAMES), _column(raw.columns, _LON_NAMES)
        if lat and lon:
            table["intpt_lat"] = to_number(raw[lat], path=p, column=lat).to_numpy()
            table["intpt_lon"] = to_number(raw[lon], path=p, column=lon).to_numpy()
        if geo.crs is None:
            msg = f"{p}: the file has no CRS (missing .prj?); TIGER files are EPSG:4269"
            raise DataError(msg)
        return gpd.GeoDataFrame(table, geometry=geo.to_crs(4326).to_numpy(), crs=4326)
    if layout == "tabblock20_points":
        lat, lon = _column(raw.columns, _LAT_NAMES), _column(raw.columns, _LON_NAMES)
        if lat and lon:
            y = to_number(raw[lat], path=p, column=lat).to_numpy()
            x = to_number(raw[lon], path=p, column=lon).to_numpy()
            # TIGER internal points are NAD83: within a metre or two of WGS84
            return gpd.GeoDataFrame(table, geometry=shapely.points(x, y), crs=4326)
    return table


def _check(table: pd.DataFrame, p: Path) -> None:
    dup = table["GEOID"].duplicated()
    if dup.any():
        msg = f"block GEOID {table.loc[dup, 'GEOID'].iloc[0]!r} appears twice"
        raise SchemaError([msg], source=str(p))
    check_counts(table, [m for m in BLOCK_MEASURES if m in table], path=p)  # inf, negative
    for m in BLOCK_MEASURES:
        if m in table:
            neg = table[m] < 0
            if neg.any():
                msg = f"column {m!r} has negative counts, e.g. {table.loc[neg, m].iloc[0]!r} for block {table.loc[neg, 'GEOID'].iloc[0]!r}"
                raise SchemaError([msg], source=str(p))
    if not any(m in table for m in ("housing_units", "population")) and not isinstance(
        table, gpd.GeoDataFrame
    ):
        msg = "the block file has neither housing units nor population"
        raise SchemaError([msg], source=str(p))


def read_blocks(path: PathLike) -> pd.DataFrame:
    """Read 2020 Census blocks: counts per block, and their polygons or points when given.

    Parameters
    ----------
    path
        A file in one of :data:`BLOCK_LAYOUTS` (see the module docstring): TIGER tabblock20
        (zipped shapefile, GeoPackage, GeoParquet, or its attribute table with internal
        points), the 2020 Address Count Listing (UVA's long ``.csv.xz`` or the Census
        pipe-delimited text), or P.L. 94-171 block population.

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        One row per block: ``GEOID`` (15 digits), ``blockgroup_GEOID`` (its first 12),
        and those of ``housing_units``, ``population``, ``group_quarters`` (addresses of
        group quarters, not people) and ``land_m2`` the file has, as floats. A
        GeoDataFrame (EPSG:4326) when the file places the blocks: polygons (tabblock20) or
        internal points; ``attrs["geometry"]`` says ``"polygon"``, ``"point"`` or ``"none"``,
        ``attrs["layout"]`` which layout was read.

    Raises
    ------
    SchemaError
        Unknown layout (lists the columns found), ids that are not digit codes, duplicate
        blocks, negative counts, a long-format file whose blocks do not add up to its TOTAL.
    DataError
        Missing, empty or unreadable file.

    Examples
    --------
    >>> blocks = read_blocks("va_bl_abc_2021_address_block_counts.csv.xz")  # doctest: +SKIP
    >>> blocks.attrs["geometry"], int(blocks["housing_units"].sum())  # doctest: +SKIP
    ('none', 3618247)
    """
    p = check_file(path)
    vector = _is_vector(p)
    raw = _read_vector(p) if vector else _read_text_table(p)
    if not len(raw):
        msg = f"{p}: no rows"
        raise DataError(msg)
    layout = _layout([str(c) for c in raw.columns], vector=vector, p=p)
    table = _from_long(raw, p) if layout == "address_count_long" else _from_wide(raw, p, layout)
    _check(table, p)
    table.insert(1, "blockgroup_GEOID", table["GEOID"].str.slice(0, 12))
    if isinstance(table, gpd.GeoDataFrame):
        kinds = set(shapely.get_type_id(table.geometry.to_numpy()).tolist())
        geometry = "polygon" if kinds <= {3, 6} else "point" if kinds <= {0} else "mixed"
    else:
        geometry = "none"
    measures = [m for m in BLOCK_MEASURES if m in table]
    logger.info(
        "read_blocks %s: %d blocks (%s layout, geometry %s; %s)",
        p,
        len(table),
        layout,
        geometry,
        ", ".join(f"{m} {table[m].sum():,.0f}" for m in measures),
    )
    title, publisher, licence = _about(layout)
    return set_provenance(
        table,
        source="blocks",
        title=title,
        publisher=publisher,
        vintage=vintage_from_name(p) or "2020",
        licence=licence,
        attribution="US Census Bureau, 2020 Census tabulation blocks",
        path=p,
        layout=layout,
        geometry=geometry,
        measures=measures,
    )


def _about(layout: str) -> tuple[str, str, str]:
    """Title, publisher and licence of a layout."""
    if layout.startswith("address_count"):
        return (
            "2020 Census Address Count Listing (housing units by block)",
            _PUBLISHER + ("; long format by UVA SDAD" if layout.endswith("long") else ""),
            "Public domain (US federal government work)"
            + ("; UVA's format CC BY 4.0" if layout.endswith("long") else ""),
        )
    if layout == "pl94171":
        return (
            "2020 Census P.L. 94-171 redistricting data, block population",
            _PUBLISHER,
            "Public domain (US federal government work); tidy files may carry their own licence",
        )
    return ("2020 TIGER/Line tabulation blocks (tabblock20)", _PUBLISHER, "Public domain")


def merge_blocks(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One block table from several files of the same blocks (e.g. polygons + housing counts).

    Parameters
    ----------
    tables
        Outputs of :func:`read_blocks`.

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        Blocks of any table (outer join on ``GEOID``); each measure from the first table that
        has it (missing where that table lacks the block); the geometry of the first table
        with polygons, else with points. ``attrs`` as :func:`read_blocks`, ``layout`` listing
        every table's.

    Raises
    ------
    SchemaError
        No tables.
    """
    if not tables:
        msg = "merge_blocks needs at least one block table"
        raise SchemaError([msg])
    if len(tables) == 1:
        return tables[0]
    geo = sorted(
        (t for t in tables if isinstance(t, gpd.GeoDataFrame)),
        key=lambda t: t.attrs.get("geometry") != "polygon",
    )
    ids = pd.Index(sorted(set().union(*(set(t["GEOID"]) for t in tables))), name="GEOID")
    out = pd.DataFrame({"GEOID": ids.to_numpy(), "blockgroup_GEOID": ids.str.slice(0, 12)})
    for m in BLOCK_MEASURES:
        src = next((t for t in tables if m in t), None)
        if src is not None:
            out[m] = src.set_index("GEOID")[m].reindex(ids).to_numpy()
    for c in ("intpt_lat", "intpt_lon"):
        src = next((t for t in tables if c in t), None)
        if src is not None:
            out[c] = src.set_index("GEOID")[c].reindex(ids).to_numpy()
    attrs = dict(tables[0].attrs)
    attrs["layout"] = "+".join(str(t.attrs.get("layout")) for t in tables)
    if geo:
        g = geo[0].set_index("GEOID").geometry.reindex(ids)
        result: pd.DataFrame = gpd.GeoDataFrame(out, geometry=g.to_numpy(), crs=4326)
        attrs["geometry"] = geo[0].attrs.get("geometry", "polygon")
    else:
        result = out
        attrs["geometry"] = "none"
    attrs["measures"] = [m for m in BLOCK_MEASURES if m in result]
    result.attrs = attrs
    return result


# --------------------------------------------------------------------------- block speeds

_SPEED_COLUMNS = {
    "GEOID20": "block_GEOID",
    "avg_d_mbps": "download_mbps",
    "avg_u_mbps": "upload_mbps",
    "tests": "tests",
    "devices": "devices",
    "avg_lat_ms": "latency_ms",
}


def is_block_speeds(path: PathLike) -> bool:
    """Whether `path` holds Ookla tiles joined to blocks (a folder of them, or one such file).

    Tells them from Ookla tile files (quadkeys and tile geometry), which ``read_ookla`` reads.
    """
    p = Path(path)
    if p.is_dir():
        return any(p.glob("*.csv.xz")) or any(p.glob("*.csv"))
    if not p.is_file() or not (p.name.lower().endswith((".csv", ".csv.xz"))):
        return False
    opener = lzma.open if p.suffix.lower() == ".xz" else open
    try:
        with opener(p, "rt", encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline()
    except (OSError, lzma.LZMAError):
        return False
    cols = {c.strip().lower() for c in header.split(",")}
    return {"geoid20", "avg_d_mbps", "tests"} <= cols


def read_block_speeds(path: PathLike) -> pd.DataFrame:
    """Read Ookla tiles joined to 2020 blocks (UVA SDAD's ``51xxx.csv.xz``, one per county).

    Each row is one tile x block intersection (tile values repeated for every block the tile
    touches); quadkeys and geometry are not published. Rows of one tile are recognised by
    their identical tile values (speeds, tests, devices, latency, year and quarter) and get
    one ``tile_key``, so a tile's tests can be shared among its blocks instead of counted once
    per block (:func:`equity.geographies.blockweights.block_speeds`).

    Parameters
    ----------
    path
        One file, or a folder whose ``*.csv.xz`` / ``*.csv`` files are all read.

    Returns
    -------
    pandas.DataFrame
        ``block_GEOID`` (15 digits), ``blockgroup_GEOID``, ``tile_key`` (int), ``download_mbps``,
        ``upload_mbps``, ``latency_ms``, ``tests``, ``devices``, ``year``, ``quarter``.
        ``attrs["n_tiles"]``: distinct tiles.

    Raises
    ------
    SchemaError
        A missing column, non-numeric values, negative tests.
    DataError
        No file found.
    """
    p = check_file(path)
    files = (
        sorted([*p.glob("*.csv.xz"), *p.glob("*.csv")], key=lambda f: f.name) if p.is_dir() else [p]
    )
    if not files:
        msg = f"{p}: folder holds no .csv.xz or .csv file"
        raise DataError(msg)
    parts = [_block_speed_rows(f) for f in files]
    rows = pd.concat(parts, ignore_index=True)
    sig = ["download_mbps", "upload_mbps", "tests", "devices", "latency_ms", "year", "quarter"]
    rows["tile_key"] = rows.groupby(sig, sort=False, dropna=False).ngroup().astype("int64")
    n_tiles = int(rows["tile_key"].max() + 1) if len(rows) else 0
    logger.info(
        "read_block_speeds %s: %d files, %d tile x block rows, %d tiles, %d blocks",
        p,
        len(files),
        len(rows),
        n_tiles,
        rows["block_GEOID"].nunique(),
    )
    return set_provenance(
        rows,
        source="ookla_blocks",
        title="Speedtest by Ookla fixed tiles joined to 2020 Census blocks (UVA SDAD)",
        publisher="Ookla; joined to blocks by UVA Social and Decision Analytics Division",
        vintage=", ".join(sorted({str(int(y)) for y in rows["year"].dropna().unique()})) or None,
        licence="CC BY-NC-SA 4.0 (Ookla open data)",
        attribution="Speedtest by Ookla Global Fixed Network Performance Maps (CC BY-NC-SA 4.0); "
        "block join by UVA SDAD",
        path=p,
        n_tiles=n_tiles,
        n_files=len(files),
    )


def _block_speed_rows(f: Path) -> pd.DataFrame:
    raw = _read_text_table(f)
    need = [*_SPEED_COLUMNS, "year", "q"]
    missing = [c for c in need if _column(raw.columns, (c,)) is None]
    if missing:
        msg = (
            f"not an Ookla tiles-by-block file: no column(s) {', '.join(missing)} "
            f"(found {', '.join(map(str, raw.columns[:10]))})"
        )
        raise SchemaError([msg], source=str(f))
    out = pd.DataFrame(
        {"block_GEOID": _block_ids(raw[_column(raw.columns, ("GEOID20",))], p=f, column="GEOID20")}
    )
    out["blockgroup_GEOID"] = out["block_GEOID"].str.slice(0, 12)
    for src, dst in _SPEED_COLUMNS.items():
        if dst == "block_GEOID":
            continue
        col = _column(raw.columns, (src,))
        out[dst] = to_number(raw[col], path=f, column=str(col)).to_numpy()
    out["year"] = to_number(raw[_column(raw.columns, ("year",))], path=f, column="year").to_numpy()
    out["quarter"] = to_number(raw[_column(raw.columns, ("q",))], path=f, column="q").to_numpy()
    measured = ["download_mbps", "upload_mbps", "tests", "devices"]
    check_counts(out, measured, path=f, key="block_GEOID")  # inf, negative
    neg = (out["tests"] < 0) | (out["devices"] < 0)
    if neg.any():
        msg = f"negative tests or devices, e.g. block {out.loc[neg, 'block_GEOID'].iloc[0]!r}"
        raise SchemaError([msg], source=str(f))
    return out

"""Ookla Speedtest open-data performance tiles, and tract/county aggregates derived from them.

Tiles are zoom-16 web-mercator squares (~610 m at the equator) keyed by a 16-digit quadkey.
The open data come as Parquet (``tile`` column of WKT polygons), shapefile (zipped or not) or
GeoJSON. Speeds are published in kbps and returned in Mbps (kbps / 1000). When a file has no
geometry the tile polygon is rebuilt from the quadkey (:func:`quadkey_to_bounds`, vectorised).
Quadkeys that lost leading zeros (written as integers) are zero-padded to 16 digits (zoom 16).
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from equity.errors import DataError, SchemaError, check_choice
from equity.sources._common import (
    PathLike,
    check_file,
    check_nonnegative,
    clean_geoid,
    drop_duplicate_rows,
    read_csv_text,
    require_rows,
    set_provenance,
    to_number,
)
from equity.sources._schema import Schema
from equity.tiles import OOKLA_ZOOM as OOKLA_ZOOM
from equity.tiles import quadkey_to_bounds as quadkey_to_bounds

__all__ = [
    "AGGREGATES_SCHEMA",
    "SCHEMA",
    "SERVICES",
    "quadkey_to_bounds",
    "read_ookla",
    "read_ookla_aggregates",
]

logger = logging.getLogger("equity.sources")

#: Ookla networks.
SERVICES = ("fixed", "mobile")

#: Output column, file column and divisor of each measure of a tile (kbps -> Mbps).
_MEASURES = (
    ("download_mbps", "avg_d_kbps", 1000.0),
    ("upload_mbps", "avg_u_kbps", 1000.0),
    ("latency_ms", "avg_lat_ms", 1.0),
    ("tests", "tests", 1.0),
    ("devices", "devices", 1.0),
)
#: Measures only newer files have.
_OPTIONAL_MEASURES = (("latency_down_ms", "avg_lat_down_ms"), ("latency_up_ms", "avg_lat_up_ms"))

#: Ookla tiles: one row per zoom-16 quadkey (16 digits at least), speeds and counts never
#: negative; the ``tile`` WKT polygon when the file has no geometry of its own.
SCHEMA = Schema(
    kind="ookla",
    title="an Ookla tile file",
    required=(("quadkey",), *((source,) for _, source, _ in _MEASURES)),
    optional=(*((source,) for _, source in _OPTIONAL_MEASURES), ("tile",)),
    keys=(("quadkey",),),
    codes=(("quadkey", None),),
    numeric=(r"(?i)avg_d_kbps|avg_u_kbps|avg_lat_ms|avg_lat_down_ms|avg_lat_up_ms|tests|devices",),
    counts=(r"(?i)avg_d_kbps|avg_u_kbps|avg_lat_ms|avg_lat_down_ms|avg_lat_up_ms|tests|devices",),
    signature=(("QUADKEY",),),
    formats=(".parquet", ".shp", ".zip", ".geojson", ".json", ".csv"),
    aliases=("tiles",),
)

#: Region types whose ``geoid`` is a Census FIPS code.
_FIPS_REGIONS = ("tract", "county", "block group", "state")
#: UVA SDAD measure names and the toolkit's.
_AGGREGATE_MEASURES = {
    "avg_down_using_devices": "download_mbps",
    "avg_up_using_devices": "upload_mbps",
    "avg_lat_using_devices": "latency_ms",
    "avg_down_using_tests": "download_mbps_tests",
    "avg_up_using_tests": "upload_mbps_tests",
    "avg_lat_using_tests": "latency_ms_tests",
    "devices": "devices",
    "tests": "tests",
}

#: UVA SDAD's long-format aggregates: one row per region, year and measure.
AGGREGATES_SCHEMA = Schema(
    kind="ookla_aggregates",
    title="an Ookla aggregate file",
    required=(("geoid",), ("region_type",), ("region_name",), ("year",), ("measure",), ("value",)),
    numeric=(r"value", r"year"),
    counts=(r"value",),  # every measure (speed, latency, count) is >= 0
    signature=(("MEASURE", "REGION TYPE"),),
)


_ATTRIBUTION = (
    "Speedtest® by Ookla® Global Fixed and Mobile Network Performance Maps (CC BY-NC-SA 4.0)"
)


def _read_table(p: Path) -> pd.DataFrame | gpd.GeoDataFrame:
    suffix = p.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(p)
            return table.to_pandas()
        if suffix == ".csv":
            return read_csv_text(p)
        src = f"/vsizip/{p}" if suffix == ".zip" else str(p)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            return gpd.read_file(src, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        msg = f"{p}: cannot read as Ookla tiles (Parquet, shapefile, zip, GeoJSON): {exc}"
        raise DataError(msg) from exc
    except Exception as exc:  # pyarrow raises its own ArrowInvalid on a cut file
        if type(exc).__module__.startswith("pyarrow"):
            msg = f"{p}: cannot read as Parquet (truncated or not Parquet): {exc}"
            raise DataError(msg) from exc
        raise


def read_ookla(
    path: PathLike, *, service: str = "fixed", vintage: str | None = None
) -> gpd.GeoDataFrame:
    """Read Ookla open-data performance tiles.

    Parameters
    ----------
    path
        Parquet (``quadkey``, ``tile`` WKT, ``avg_d_kbps``...), shapefile, zipped shapefile,
        GeoJSON or CSV with a ``quadkey`` column.
    service
        ``"fixed"`` or ``"mobile"``; recorded in ``attrs["service"]``.
    vintage
        Quarter, e.g. ``"2021Q1"``; from the file name (``2021-01-01_performance_...``) when
        omitted.

    Returns
    -------
    geopandas.GeoDataFrame
        ``quadkey`` (str), ``download_mbps``, ``upload_mbps``, ``latency_ms``, ``tests``,
        ``devices`` (float64; ``latency_down_ms``/``latency_up_ms`` too when the file has
        them) and the tile polygon in EPSG:4326.

    Raises
    ------
    DataError
        Unreadable or empty file, bad quadkeys.
    SchemaError
        Missing columns (:data:`SCHEMA`), non-numeric or negative values, duplicate quadkeys.
    ChoiceError
        Unknown `service`.

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> tiles = read_ookla(sample_paths()["ookla"])
    >>> tiles.attrs["service"]
    'fixed'
    """
    check_choice("service", service, SERVICES)
    p = check_file(path)
    raw = _read_table(p)
    require_rows(raw, path=p)
    SCHEMA.require(raw, path=p)
    cols = SCHEMA.columns(raw.columns)
    out = pd.DataFrame({"quadkey": _quadkeys(raw[cols["quadkey"]], path=p).to_numpy()})
    _add_measures(out, raw, cols, path=p)
    check_nonnegative(out, [c for c in out.columns if c != "quadkey"], path=p)
    gdf = gpd.GeoDataFrame(out, geometry=_geometry(raw, out["quadkey"], path=p), crs=4326)
    n0 = len(gdf)
    gdf = _drop_duplicate_tiles(gdf, column=cols["quadkey"], path=p)
    logger.info("read_ookla %s: %d tiles (%d read), service %s", p, len(gdf), n0, service)
    return set_provenance(
        gdf,
        source="ookla",
        title=f"Ookla Speedtest open data, {service} network performance tiles",
        publisher="Ookla",
        vintage=vintage or _vintage(p),
        licence="CC BY-NC-SA 4.0 (non-commercial)",
        attribution=_ATTRIBUTION,
        path=p,
        service=service,
    )


def _quadkeys(values: pd.Series, *, path: Path) -> pd.Series:
    """Quadkeys as digit strings, zero-padded to zoom 16 (or the longest key)."""
    quadkey = clean_geoid(values, width=None, path=path, column=str(values.name))
    # Ookla open data are zoom-16 tiles: integer quadkeys drop the leading zero of tiles in
    # the north-west quadrant (all of the Americas), so pad to 16 (or the longest key)
    width = max(int(quadkey.str.len().max()), OOKLA_ZOOM)
    short = quadkey.str.len() < width
    if short.any():
        logger.info("%s: %d quadkeys zero-padded to %d digits", path, int(short.sum()), width)
        quadkey = quadkey.str.zfill(width)
    return quadkey


def _add_measures(
    out: pd.DataFrame, raw: pd.DataFrame, cols: dict[str, str], *, path: Path
) -> None:
    """Add speeds (Mbps), latencies (ms) and counts to `out`; every non-number at once."""
    problems = []
    for target, name, scale in _MEASURES:
        source = cols[name]
        try:
            out[target] = (to_number(raw[source], path=path, column=source) / scale).to_numpy()
        except SchemaError as exc:
            problems.extend(exc.problems)
    for target, name in _OPTIONAL_MEASURES:
        optional = cols.get(name)
        if optional is not None:
            out[target] = to_number(raw[optional], path=path, column=optional).to_numpy()
    if problems:
        raise SchemaError(problems, source=str(path))


def _geometry(raw: pd.DataFrame, quadkey: pd.Series, *, path: Path) -> object:
    """Tile polygons: the file's geometry, else its ``tile`` WKT, else built from the quadkeys."""
    if isinstance(raw, gpd.GeoDataFrame) and raw.geometry.notna().all():
        if raw.crs is not None:
            return raw.to_crs(4326).geometry.to_numpy()
    elif (tile := SCHEMA.find(raw.columns, "tile")) is not None:
        try:
            return shapely.from_wkt(raw[tile].astype("str").to_numpy())
        except shapely.errors.GEOSException as exc:
            msg = f"column {tile!r} is not WKT, e.g. {raw[tile].iloc[0]!r}"
            raise SchemaError([msg], source=str(path)) from exc
    b = quadkey_to_bounds(quadkey.to_numpy())
    return shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3])


def _drop_duplicate_tiles(gdf: gpd.GeoDataFrame, *, column: str, path: Path) -> gpd.GeoDataFrame:
    """Drop exact duplicate tiles (with a warning); a quadkey with two values is an error."""
    exact = pd.DataFrame(gdf.drop(columns="geometry")).duplicated()
    if exact.any():
        warnings.warn(
            f"{path}: {int(exact.sum())} exact duplicate tile row(s) dropped", stacklevel=3
        )
        gdf = gdf.loc[~exact.to_numpy()].reset_index(drop=True)
    dup = gdf["quadkey"].duplicated(keep=False)
    if dup.any():
        msg = (
            f"column {column!r} repeats {int(dup.sum())} quadkeys with different values, "
            f"e.g. {gdf.loc[dup, 'quadkey'].iloc[0]!r}"
        )
        raise SchemaError([msg], source=str(path))
    return gdf


def _vintage(p: Path) -> str | None:
    name = p.name
    m = re.search(r"(20\d\d)[-_]?(0[1-9]|1[0-2])[-_]01", name)
    if m:
        return f"{m.group(1)}Q{(int(m.group(2)) - 1) // 3 + 1}"
    m = re.search(r"(20\d\d)[-_ ]?Q([1-4])", name, flags=re.IGNORECASE)
    if m:
        return f"{m.group(1)}Q{m.group(2)}"
    m = re.search(r"(?<!\d)(20\d\d)(?!\d)", name)
    return m.group(1) if m else None


def read_ookla_aggregates(path: PathLike, *, region_type: str | None = "tract") -> pd.DataFrame:
    """Read UVA SDAD's long-format Ookla aggregates (tract/county/health district by year).

    Parameters
    ----------
    path
        ``va_hdcttr_*_speed_measurements_*.csv``: ``geoid, region_type, region_name, year,
        measure, value, measure_type, measure_units``.
    region_type
        Keep only this region type (``"tract"``, ``"county"``, ``"health district"``);
        ``None`` keeps all.

    Returns
    -------
    pandas.DataFrame
        One row per ``GEOID`` and ``year``: ``GEOID`` (str), ``region_type``, ``NAME``,
        ``year`` (int), then one float column per measure with units in the name:
        ``download_mbps``, ``upload_mbps``, ``latency_ms`` (device-weighted),
        ``download_mbps_tests``, ``upload_mbps_tests``, ``latency_ms_tests`` (test-weighted),
        ``devices``, ``tests``. Tract ids are **2010** tracts (``attrs["geography_vintage"]``).

    Raises
    ------
    SchemaError
        Missing columns (:data:`AGGREGATES_SCHEMA`) or non-numeric values.
    """
    p = check_file(path)
    raw = read_csv_text(p)
    require_rows(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    AGGREGATES_SCHEMA.require(raw, path=p)
    raw = AGGREGATES_SCHEMA.canonical(raw)
    if region_type is not None:
        raw = raw.loc[raw["region_type"] == region_type]
        if raw.empty:
            msg = f"no rows with region_type {region_type!r}"
            raise SchemaError([msg], source=str(p))
    raw = raw.assign(value=to_number(raw["value"], path=p, column="value"))
    fips = raw["region_type"].isin(list(_FIPS_REGIONS))
    geoid = raw["geoid"].astype("str").str.strip()
    if fips.any():
        geoid = geoid.mask(
            fips, clean_geoid(geoid.where(fips, "0"), width=None, path=p, column="geoid")
        )
    raw = raw.assign(geoid=geoid)
    wide = raw.pivot_table(
        index=["geoid", "region_type", "region_name", "year"],
        columns="measure",
        values="value",
        aggfunc="first",
    ).rename(columns=_AGGREGATE_MEASURES)
    wide.columns.name = None
    wide = wide.reset_index().rename(columns={"geoid": "GEOID", "region_name": "NAME"})
    wide["year"] = wide["year"].astype("int64")
    wide["GEOID"] = wide["GEOID"].astype("str")
    measures = [c for c in _AGGREGATE_MEASURES.values() if c in wide.columns]
    check_nonnegative(wide, measures, path=p)
    logger.info("read_ookla_aggregates %s: %d rows", p, len(wide))
    return set_provenance(
        wide,
        source="ookla_uva_sdad",
        title="Ookla fixed speeds aggregated to Virginia tracts, counties and health districts",
        publisher="UVA Biocomplexity Institute SDAD (from Ookla open data)",
        vintage="2019-2021",
        licence="CC BY 4.0 (derived); Ookla data CC BY-NC-SA 4.0",
        attribution=f"UVA SDAD, from {_ATTRIBUTION}",
        path=p,
        geography_vintage="2010",
    )

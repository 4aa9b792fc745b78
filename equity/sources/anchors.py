"""Anchor institutions as points: public libraries (IMLS), schools (NCES EDGE), colleges (IPEDS)
and generic anchor CSVs.

All columns are read as text first (codes keep their leading zeros). Rows without usable
coordinates (blank, not a number, 0/0, or outside -180..180 / -90..90) are dropped; how many
is logged and stored in ``attrs["n_missing_coordinates"]``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from equity.errors import SchemaError
from equity.sources._common import (
    PathLike,
    check_file,
    clean_geoid,
    drop_duplicate_rows,
    read_csv_text,
    require_rows,
    set_provenance,
    vintage_from_name,
)
from equity.sources._schema import Layout, Schema

__all__ = ["ANCHOR_FORMATS", "LIBRARIES_SCHEMA", "SCHEMA", "read_anchors", "read_libraries"]

logger = logging.getLogger("equity.sources")

_COORDINATES = r"(?i)LONGITUD|LATITUDE|LAT|LON|LONGITUDE"

#: Library outlets: one row per ``FSCSKEY`` and ``FSCS_SEQ``, located by longitude and latitude.
LIBRARIES_SCHEMA = Schema(
    kind="libraries",
    title="an IMLS outlet file",
    required=(("FSCSKEY",), ("LIBNAME",), ("LONGITUD",), ("LATITUDE",)),
    optional=tuple(
        (c,)
        for c in ("FSCS_SEQ", "C_OUT_TY", "ADDRESS", "CITY", "STABR", "ZIP", "INCITSST")
        + ("INCITSCO", "CENTRACT")
    ),
    keys=(("FSCSKEY", "FSCS_SEQ"), ("FSCSKEY",)),
    numeric=(_COORDINATES,),
    signature=(("FSCSKEY",),),
    aliases=("imls",),
)

#: Where each anchor format other than IMLS keeps an anchor's fields.
_FIELDS: dict[str, dict[str, str]] = {
    "generic": {
        "anchor_id": "anchor_id",
        "name": "name",
        "kind": "kind",
        "address": "address",
        "city": "city",
        "state_abbr": "state_abbr",
        "county": "county_fips",
        "lon": "longitude",
        "lat": "latitude",
    },
    "nces": {
        "anchor_id": "NCESSCH",
        "name": "NAME",
        "address": "STREET",
        "city": "CITY",
        "state_abbr": "STATE",
        "county": "CNTY",
        "lon": "LON",
        "lat": "LAT",
    },
    "ipeds": {
        "anchor_id": "UNITID",
        "name": "INSTNM",
        "address": "ADDR",
        "city": "CITY",
        "state_abbr": "STABBR",
        "county": "COUNTYCD",
        "lon": "LONGITUD",
        "lat": "LATITUDE",
    },
}
_NEEDED = ("anchor_id", "name", "lon", "lat")
_DEFAULT_KIND = {"generic": "other", "nces": "school", "ipeds": "college"}

#: Formats read by :func:`read_anchors`, told apart by their columns (the first complete wins).
ANCHOR_FORMATS: dict[str, tuple[str, ...]] = {
    "generic": tuple(_FIELDS["generic"][f] for f in _NEEDED),
    "imls": tuple(n[0] for n in LIBRARIES_SCHEMA.required),
    "nces": tuple(_FIELDS["nces"][f] for f in _NEEDED),
    "ipeds": tuple(_FIELDS["ipeds"][f] for f in _NEEDED),
}

#: Anchor institutions of any of :data:`ANCHOR_FORMATS`, one row per anchor id.
SCHEMA = Schema(
    kind="anchors",
    title="an anchor file",
    layouts=tuple(Layout(name, tuple((c,) for c in cols)) for name, cols in ANCHOR_FORMATS.items()),
    optional=(
        *((c,) for fields in _FIELDS.values() for c in fields.values()),
        *LIBRARIES_SCHEMA.optional,
    ),
    keys=(("anchor_id",), ("FSCSKEY", "FSCS_SEQ"), ("FSCSKEY",), ("NCESSCH",), ("UNITID",)),
    numeric=(_COORDINATES,),
    signature=(("NCESSCH",), ("UNITID",), ("ANCHOR ID",)),
    aliases=("schools",),
)


def _coords(
    df: pd.DataFrame, lon_col: str, lat_col: str, *, path: PathLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Longitude, latitude (float) and a mask of rows with usable coordinates."""
    lon = pd.to_numeric(df[lon_col].astype("string").str.strip(), errors="coerce").to_numpy(float)
    lat = pd.to_numeric(df[lat_col].astype("string").str.strip(), errors="coerce").to_numpy(float)
    ok = (
        np.isfinite(lon)
        & np.isfinite(lat)
        & (np.abs(lon) <= 180)
        & (np.abs(lat) <= 90)
        & ~((lon == 0) & (lat == 0))
    )
    _check_degree_columns(lon, lat, ok, lon_col, lat_col, path=path)
    return lon, lat, ok


def _check_degree_columns(
    lon: np.ndarray, lat: np.ndarray, ok: np.ndarray, lon_col: str, lat_col: str, *, path: PathLike
) -> None:
    """A few rows out of range are typos (dropped); most of them are another unit or CRS."""
    given = np.isfinite(lon) & np.isfinite(lat)
    outside = given & ~ok & ~((lon == 0) & (lat == 0))
    if not outside.any() or outside.sum() * 2 <= given.sum():
        return
    col, values = (lon_col, lon) if (np.abs(lon[outside]) > 180).any() else (lat_col, lat)
    ex = values[outside & (np.abs(values) > (180 if col == lon_col else 90))][0]
    msg = (
        f"column {col!r}: {int(outside.sum()):,} of {int(given.sum()):,} coordinates are outside "
        f"-180..180 / -90..90, e.g. {ex:,.1f}: not degrees (projected metres?); give longitude "
        "and latitude in degrees (WGS 84)"
    )
    raise SchemaError([msg], source=str(path))


def _points(
    out: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, ok: np.ndarray, *, path: PathLike
) -> gpd.GeoDataFrame:
    n_missing = int((~ok).sum())
    if n_missing:
        logger.warning("%s: %d row(s) without usable coordinates dropped", path, n_missing)
    gdf = gpd.GeoDataFrame(
        out.loc[ok].reset_index(drop=True),
        geometry=gpd.points_from_xy(lon[ok], lat[ok]),
        crs=4326,
    )
    gdf.attrs["n_missing_coordinates"] = n_missing
    return gdf


def _county(values: pd.Series, *, path: PathLike, column: str) -> pd.Series:
    """County GEOIDs, NA where blank or not a code (anchors often lack them)."""
    s = values.astype("string").str.strip().str.replace(r"\.0+$", "", regex=True)
    s = s.where(s.str.fullmatch(r"\d{1,5}").fillna(False), None)
    return clean_geoid(s, width=5, path=path, column=column, allow_missing=True)


def read_libraries(path: PathLike) -> gpd.GeoDataFrame:
    """Read an IMLS Public Libraries Survey outlet file as points.

    Parameters
    ----------
    path
        ``pls_fyYY_outlet_pudYYi.csv`` (``FSCSKEY``, ``FSCS_SEQ``, ``LIBNAME``, ``C_OUT_TY``,
        ``LONGITUD``, ``LATITUDE``, ``INCITSST``, ``INCITSCO``, ``CENTRACT`` ...).

    Returns
    -------
    geopandas.GeoDataFrame
        ``library_id`` (``FSCSKEY-FSCS_SEQ``), ``name``, ``outlet_type`` (``CE`` central,
        ``BR`` branch, ``BS`` bookmobile, ``BM`` books-by-mail), ``address``, ``city``,
        ``zip``, ``state_abbr``, ``county_GEOID`` (``INCITSST`` + ``INCITSCO``),
        ``census_tract_GEOID`` (from ``CENTRACT``; its vintage is the survey's, 2010 tracts
        up to FY2021), point geometry in EPSG:4326. ``attrs["n_missing_coordinates"]``.

    Raises
    ------
    SchemaError
        Missing columns (:data:`LIBRARIES_SCHEMA`), duplicate outlet ids.

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> libs = read_libraries(sample_paths()["libraries"])
    >>> libs.attrs["n_missing_coordinates"] >= 0
    True
    """
    p = check_file(path)
    raw = LIBRARIES_SCHEMA.canonical(read_csv_text(p))
    require_rows(raw, path=p)
    LIBRARIES_SCHEMA.require(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    seq = raw["FSCS_SEQ"].astype("string").str.strip() if "FSCS_SEQ" in raw.columns else None
    lib_id = raw["FSCSKEY"].astype("string").str.strip()
    if seq is not None:
        lib_id = lib_id + "-" + seq.str.zfill(3)
    out = pd.DataFrame({"library_id": lib_id.astype("str")})
    for target, col in (
        ("name", "LIBNAME"),
        ("outlet_type", "C_OUT_TY"),
        ("address", "ADDRESS"),
        ("city", "CITY"),
        ("state_abbr", "STABR"),
    ):
        out[target] = raw[col].astype("str").str.strip() if col in raw.columns else pd.NA
    out["zip"] = (
        clean_geoid(raw["ZIP"], width=5, path=p, column="ZIP", allow_missing=True)
        if "ZIP" in raw.columns
        else pd.NA
    )
    if {"INCITSST", "INCITSCO"} <= set(raw.columns):
        st = raw["INCITSST"].astype("string").str.strip().str.zfill(2)
        co = raw["INCITSCO"].astype("string").str.strip().str.zfill(3)
        out["county_GEOID"] = _county(st + co, path=p, column="INCITSST+INCITSCO")
    else:
        out["county_GEOID"] = pd.NA
    if "CENTRACT" in raw.columns:
        out["census_tract_GEOID"] = _tract(raw["CENTRACT"], out["county_GEOID"])
    dup = out["library_id"].duplicated(keep=False)
    if dup.any():
        msg = f"column 'FSCSKEY'+'FSCS_SEQ' repeats outlet ids, e.g. {out.loc[dup, 'library_id'].iloc[0]!r}"
        raise SchemaError([msg], source=str(p))
    lon, lat, ok = _coords(raw, "LONGITUD", "LATITUDE", path=p)
    gdf = _points(out, lon, lat, ok, path=p)
    logger.info("read_libraries %s: %d outlets with coordinates", p, len(gdf))
    return set_provenance(
        gdf,
        source="imls_pls",
        title="IMLS Public Libraries Survey, outlets",
        publisher="Institute of Museum and Library Services",
        vintage=vintage_from_name(p),
        licence="Public domain (US federal government work)",
        attribution="Institute of Museum and Library Services, Public Libraries Survey",
        path=p,
        n_missing_coordinates=gdf.attrs["n_missing_coordinates"],
    )


def _tract(centract: pd.Series, county: pd.Series) -> pd.Series:
    """11-digit tract GEOID from IMLS ``CENTRACT`` (``"2003.03"`` -> ``"200303"``, ``"8"`` -> ``"000800"``)."""
    parts = centract.astype("str").str.strip().str.extract(r"^(\d{1,4})(?:\.(\d{0,2}))?$")
    whole = parts[0].str.zfill(4)
    frac = parts[1].where(parts[1].notna(), "").str.ljust(2, "0")
    code = whole + frac
    valid = code.str.fullmatch(r"\d{6}").fillna(False) & county.notna()
    return (county.astype("str") + code).where(valid, None).astype("str")


def read_anchors(path: PathLike, *, kind: str | None = None) -> gpd.GeoDataFrame:
    """Read anchor institutions as points, detecting the format from the columns.

    Parameters
    ----------
    path
        A generic anchor CSV (``anchor_id,name,kind,address,city,state_abbr,county_fips,
        latitude,longitude``), an NCES EDGE public-school geocode file (``NCESSCH``, ``NAME``,
        ``LAT``, ``LON``, ``CNTY`` -> kind ``school``), an IPEDS HD file (``UNITID``,
        ``INSTNM``, ``LONGITUD``, ``LATITUDE``, ``COUNTYCD`` -> kind ``college``) or an IMLS
        outlet file (kind ``library``).
    kind
        Override the kind of every row (e.g. ``"nonprofit"`` for a generic file without
        ``kind``).

    Returns
    -------
    geopandas.GeoDataFrame
        ``anchor_id``, ``name``, ``kind``, ``address``, ``city``, ``state_abbr``,
        ``county_GEOID`` (NA where unknown), point geometry in EPSG:4326.
        ``attrs["format"]`` and ``attrs["n_missing_coordinates"]``.

    Raises
    ------
    SchemaError
        Columns of no known format (the message lists the formats and their columns).

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> schools = read_anchors(sample_paths()["schools"])
    >>> set(schools["kind"])
    {'school'}
    """
    p = check_file(path)
    raw = read_csv_text(p)
    require_rows(raw, path=p)
    fmt = _format(raw, path=p)
    if fmt == "imls":
        return _from_libraries(p, kind=kind)
    if fmt == "ipeds":
        return _from_colleges(p, kind=kind)
    raw = drop_duplicate_rows(raw, path=p)
    cols = SCHEMA.columns(raw.columns)
    out = _anchor_table(raw, cols, fmt, kind=kind, path=p)
    lon_col, lat_col = cols[_FIELDS[fmt]["lon"]], cols[_FIELDS[fmt]["lat"]]
    lon, lat, ok = _coords(raw, lon_col, lat_col, path=p)
    gdf = _points(out, lon, lat, ok, path=p)
    title, publisher, licence = {
        "generic": ("Anchor institutions", "user supplied", "see the file's source"),
        "nces": (
            "NCES EDGE public school geocodes",
            "National Center for Education Statistics",
            "Public domain (US federal government work)",
        ),
    }[fmt]
    logger.info("read_anchors %s: %d %s anchors with coordinates", p, len(gdf), fmt)
    return set_provenance(
        gdf,
        source=f"anchors_{fmt}",
        title=title,
        publisher=publisher,
        vintage=vintage_from_name(p),
        licence=licence,
        attribution=publisher if fmt != "generic" else "",
        path=p,
        format=fmt,
        n_missing_coordinates=gdf.attrs["n_missing_coordinates"],
    )


def _format(raw: pd.DataFrame, *, path: Path) -> str:
    """Which of :data:`ANCHOR_FORMATS` the file is (its layout in :data:`SCHEMA`)."""
    fmt = SCHEMA.layout(raw.columns)
    if fmt is None:
        known = "; ".join(f"{k}: {', '.join(v)}" for k, v in ANCHOR_FORMATS.items())
        found = ", ".join(raw.columns[:20])
        msg = f"unknown anchor format (found: {found}); known formats: {known}"
        raise SchemaError([msg], source=str(path))
    return fmt


def _from_libraries(path: Path, *, kind: str | None) -> gpd.GeoDataFrame:
    """An IMLS outlet file read by :func:`read_libraries`, in the anchor layout."""
    libs = read_libraries(path)
    out = gpd.GeoDataFrame(
        {
            "anchor_id": libs["library_id"],
            "name": libs["name"],
            "kind": kind or "library",
            "address": libs["address"],
            "city": libs["city"],
            "state_abbr": libs["state_abbr"],
            "county_GEOID": libs["county_GEOID"],
        },
        geometry=libs.geometry,
        crs=4326,
    )
    out.attrs.update(libs.attrs)
    out.attrs["format"] = "imls"
    return out


def _from_colleges(path: Path, *, kind: str | None) -> gpd.GeoDataFrame:
    """An IPEDS HD file read by :func:`equity.sources.colleges.read_colleges`, in the anchor
    layout (administrative units and closed institutions left out)."""
    from equity.sources.colleges import read_colleges

    colleges = read_colleges(path)
    out = gpd.GeoDataFrame(
        {
            "anchor_id": colleges["college_id"].astype("str"),
            "name": colleges["name"].astype("str"),
            "kind": kind or "college",
            "address": colleges["address"],
            "city": colleges["city"],
            "state_abbr": colleges["state_abbr"],
            "county_GEOID": colleges["county_GEOID"],
        },
        geometry=colleges.geometry,
        crs=4326,
    )
    out.attrs.update(colleges.attrs)
    out.attrs["format"] = "ipeds"
    return out


def _anchor_table(
    raw: pd.DataFrame, cols: dict[str, str], fmt: str, *, kind: str | None, path: Path
) -> pd.DataFrame:
    """Ids, names, kinds, addresses and county GEOIDs of a generic, NCES or IPEDS file."""
    spec = _FIELDS[fmt]

    def get(key: str) -> pd.Series | None:
        col = cols.get(spec[key]) if key in spec else None
        return None if col is None else raw[col].astype("string").str.strip()

    ids = get("anchor_id")
    assert ids is not None  # every format has an id (its layout)
    out = pd.DataFrame({"anchor_id": ids.astype("str")})
    for key in ("name", "address", "city", "state_abbr"):
        v = get(key)
        out[key] = v.astype("str") if v is not None else pd.NA
    out.insert(2, "kind", "")
    kinds = get("kind")
    if kind is not None:
        out["kind"] = kind
    elif kinds is not None:
        out["kind"] = kinds.str.lower().fillna(_DEFAULT_KIND[fmt]).astype("str")
    else:
        out["kind"] = _DEFAULT_KIND[fmt]
    county = get("county")
    out["county_GEOID"] = (
        _county(county, path=path, column=spec["county"]) if county is not None else pd.NA
    )
    dup = out["anchor_id"].duplicated(keep=False)
    if dup.any():
        msg = (
            f"column {spec['anchor_id']!r} repeats ids with different rows, "
            f"e.g. {out.loc[dup, 'anchor_id'].iloc[0]!r}"
        )
        raise SchemaError([msg], source=str(path))
    return out

"""Colleges from the IPEDS directory file (HD: institutional characteristics), as points.

NCES publishes one row per postsecondary institution in ``hdYYYY.csv``: ``UNITID``,
``INSTNM``, ``ADDR``, ``CITY``, ``STABBR``, ``ZIP``, ``COUNTYCD``, ``LONGITUD``,
``LATITUDE``, ``SECTOR`` (control and level), ``INSTSIZE`` (enrolment class), ``CYACTIVE``
(active this year) and many more. The file is Windows-1252 (accents in names), which the
common reader repairs.

:func:`read_colleges` keeps the institutions that teach students (administrative units,
``SECTOR`` 0, and institutions no longer active, ``CYACTIVE`` 2, are left out and counted)
and says what each one is in words: ``"public 2-year college with 1,000-4,999 students"``.

Examples
--------
>>> SECTORS[4], INSTITUTION_SIZES[2]
('public 2-year', '1,000-4,999 students')
"""

from __future__ import annotations

import logging

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
from equity.sources._schema import Schema

__all__ = ["INSTITUTION_SIZES", "SCHEMA", "SECTORS", "read_colleges"]

logger = logging.getLogger("equity.sources")

#: IPEDS ``SECTOR`` codes (control and highest level) in words; 0 and 99 are not colleges.
SECTORS: dict[int, str] = {
    0: "administrative unit",
    1: "public 4-year",
    2: "private nonprofit 4-year",
    3: "private for-profit 4-year",
    4: "public 2-year",
    5: "private nonprofit 2-year",
    6: "private for-profit 2-year",
    7: "public less-than-2-year",
    8: "private nonprofit less-than-2-year",
    9: "private for-profit less-than-2-year",
    99: "sector unknown",
}

#: IPEDS ``INSTSIZE`` enrolment classes in words (-1 not reported, -2 not applicable).
INSTITUTION_SIZES: dict[int, str] = {
    1: "under 1,000 students",
    2: "1,000-4,999 students",
    3: "5,000-9,999 students",
    4: "10,000-19,999 students",
    5: "20,000 or more students",
}

_COORDINATES = r"(?i)LONGITUD|LATITUDE"

#: The IPEDS HD directory file: one row per ``UNITID``.
SCHEMA = Schema(
    kind="colleges",
    title="an IPEDS directory (HD) file",
    required=(("UNITID",), ("INSTNM",), ("LONGITUD", "LONGITUDE"), ("LATITUDE", "LATITUD")),
    optional=tuple(
        (c,)
        for c in ("ADDR", "CITY", "STABBR", "ZIP", "COUNTYCD", "SECTOR", "INSTSIZE", "CYACTIVE")
        + ("IALIAS", "WEBADDR", "ICLEVEL", "CONTROL", "COUNTYNM")
    ),
    keys=(("UNITID",),),
    codes=(("UNITID", 6),),
    numeric=(_COORDINATES, r"(?i)SECTOR|INSTSIZE|CYACTIVE|ICLEVEL|CONTROL"),
    ranges=((r"(?i)LONGITUDE?", -180.0, 180.0), (r"(?i)LATITUDE?", -90.0, 90.0)),
    signature=((r"UNITID", r"INSTNM"),),
    aliases=("ipeds", "hd"),
)


def _code(values: pd.Series) -> pd.Series:
    """Integer codes (NA when blank or not a number)."""
    return pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype("Int64")


def _text(raw: pd.DataFrame, column: str) -> pd.Series:
    if column not in raw.columns:
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    s = raw[column].astype("string").str.strip()
    return s.where(s != "", pd.NA)


def _describe(sector: pd.Series, size: pd.Series) -> pd.Series:
    """``"public 2-year college with 1,000-4,999 students"`` (parts missing where unknown)."""
    what = sector.map(SECTORS, na_action="ignore").astype("string")
    what = (what + " college").fillna("college")
    students = size.map(INSTITUTION_SIZES, na_action="ignore").astype("string")
    return (what + (" with " + students).fillna("")).astype("string")


def _county(values: pd.Series, *, path: PathLike) -> pd.Series:
    """County GEOIDs from ``COUNTYCD`` (``-2`` not applicable and blanks are NA)."""
    s = values.astype("string").str.strip().str.replace(r"\.0+$", "", regex=True)
    s = s.where(s.str.fullmatch(r"\d{1,5}").fillna(False), None)
    return clean_geoid(s, width=5, path=path, column="COUNTYCD", allow_missing=True)


def _active(raw: pd.DataFrame) -> np.ndarray:
    """Institutions that teach: not an administrative unit (SECTOR 0, 99), not closed."""
    keep = np.ones(len(raw), dtype=bool)
    if "SECTOR" in raw.columns:
        keep &= ~_code(raw["SECTOR"]).isin([0, 99]).fillna(False).to_numpy(dtype=bool)
    if "CYACTIVE" in raw.columns:
        keep &= ~(_code(raw["CYACTIVE"]) == 2).fillna(False).to_numpy(dtype=bool)
    return keep


def read_colleges(path: PathLike, *, include_inactive: bool = False) -> gpd.GeoDataFrame:
    """Read an IPEDS HD directory file as points: one row per college.

    Parameters
    ----------
    path
        ``hdYYYY.csv`` (``UNITID``, ``INSTNM``, ``LONGITUD``, ``LATITUDE`` and, when present,
        ``ADDR``, ``CITY``, ``STABBR``, ``ZIP``, ``COUNTYCD``, ``SECTOR``, ``INSTSIZE``,
        ``CYACTIVE``).
    include_inactive
        Keep administrative units (``SECTOR`` 0 or 99) and closed institutions
        (``CYACTIVE`` 2), left out by default.

    Returns
    -------
    geopandas.GeoDataFrame
        ``college_id`` (``UNITID``), ``name``, ``address``, ``city``, ``state_abbr``, ``zip``
        (5 digits), ``county_GEOID`` (NA where ``COUNTYCD`` is -2 or blank), ``sector`` and
        ``size_class`` (IPEDS codes), ``description`` (``"public 2-year college with 1,000-4,999
        students"``), point geometry in EPSG:4326. ``attrs``: provenance,
        ``n_missing_coordinates``, ``n_inactive``.

    Raises
    ------
    SchemaError
        Missing columns (:data:`SCHEMA`), ``UNITID`` that are not codes or repeat.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "hd2022.csv"
    >>> _ = p.write_text("UNITID,INSTNM,SECTOR,INSTSIZE,LONGITUD,LATITUDE\\n"
    ...                  "233718,Southwest Virginia Community College,4,2,-81.93,37.08\\n")
    >>> read_colleges(p)["description"].iloc[0]
    'public 2-year college with 1,000-4,999 students'
    """
    from equity.sources.anchors import _coords, _points  # shared coordinate checks

    p = check_file(path)
    raw = SCHEMA.canonical(read_csv_text(p))
    require_rows(raw, path=p)
    SCHEMA.require(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    ids = clean_geoid(raw["UNITID"], width=None, path=p, column="UNITID")
    dup = ids.duplicated(keep=False)
    if dup.any():
        msg = f"column 'UNITID' repeats ids with different rows, e.g. {ids[dup].iloc[0]!r}"
        raise SchemaError([msg], source=str(p))
    keep = np.ones(len(raw), dtype=bool) if include_inactive else _active(raw)
    sector = _code(raw["SECTOR"]) if "SECTOR" in raw else pd.Series(pd.NA, index=raw.index)
    size = _code(raw["INSTSIZE"]) if "INSTSIZE" in raw else pd.Series(pd.NA, index=raw.index)
    out = pd.DataFrame(
        {
            "college_id": ids.astype("string"),
            "name": _text(raw, "INSTNM"),
            "address": _text(raw, "ADDR"),
            "city": _text(raw, "CITY"),
            "state_abbr": _text(raw, "STABBR"),
            "zip": _text(raw, "ZIP").str.extract(r"^(\d{3,5})", expand=False).str.zfill(5),
            "county_GEOID": _county(raw["COUNTYCD"], path=p)
            if "COUNTYCD" in raw
            else pd.Series(pd.NA, index=raw.index, dtype="string"),
            "sector": sector.astype("Int64"),
            "size_class": size.astype("Int64"),
            "description": _describe(sector, size),
        }
    )
    lon, lat, ok = _coords(raw, "LONGITUD", "LATITUDE", path=p)
    n_inactive = int((~keep).sum())
    out, lon, lat, ok = out.loc[keep].reset_index(drop=True), lon[keep], lat[keep], ok[keep]
    gdf = _points(out, lon, lat, ok, path=p)
    logger.info(
        "read_colleges %s: %d colleges with coordinates (%d inactive left out)",
        p,
        len(gdf),
        n_inactive,
    )
    return set_provenance(
        gdf,
        source="ipeds_hd",
        title="IPEDS institutional characteristics (HD)",
        publisher="National Center for Education Statistics",
        vintage=vintage_from_name(p),
        licence="Public domain (US federal government work)",
        attribution="National Center for Education Statistics, IPEDS",
        path=p,
        n_missing_coordinates=gdf.attrs["n_missing_coordinates"],
        n_inactive=n_inactive,
    )

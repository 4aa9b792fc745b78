"""ZIP code centre points: where an address is when only its ZIP code is known.

The Census Bureau's ZIP code tabulation areas (ZCTAs) approximate the areas of the USPS ZIP codes;
their centre points come in the Gazetteer file (``2020_Gaz_zcta_national.txt``: ``GEOID``,
``INTPTLAT``, ``INTPTLONG``, tab-delimited) or as three-column ``geoid,latitude,longitude``
files. A ZIP code that is only a post-office box or a single large organisation has no ZCTA,
and so no centre here.

Examples
--------
>>> c = pd.DataFrame({"zip": ["05001"], "longitude": [-72.3], "latitude": [43.6]})
>>> lon, lat = locate_by_zip(pd.Series(["05001-1234", "99999", None]), c)
>>> lon.tolist()[0], bool(np.isnan(lon[1])), bool(np.isnan(lon[2]))
(-72.3, True, True)
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from equity.errors import SchemaError
from equity.sources._common import (
    PathLike,
    check_file,
    drop_duplicate_rows,
    read_csv_text,
    require_rows,
    set_provenance,
    to_number,
    vintage_from_name,
)
from equity.sources._schema import Schema

__all__ = ["SCHEMA", "locate_by_zip", "read_zip_centroids"]

logger = logging.getLogger("equity.sources")

#: A file of ZIP (ZCTA) centre points: the Census Gazetteer ZCTA file (``GEOID``,
#: ``INTPTLAT``, ``INTPTLONG``) or a three-column ``geoid,latitude,longitude`` file.
SCHEMA = Schema(
    kind="zip_centroids",
    title="a ZIP (ZCTA) centroid file",
    required=(
        ("zip", "geoid", "zcta", "zcta5", "zcta5ce10", "zcta5ce20", "zip_code", "zipcode"),
        ("latitude", "intptlat", "lat"),
        ("longitude", "intptlong", "intptlon", "lon", "lng"),
    ),
    keys=(("zip",),),
    codes=(("zip", 5),),
    numeric=(r"(?i)latitude|intptlat|lat|longitude|intptlong|intptlon|lon|lng",),
    ranges=(
        (r"(?i)latitude|intptlat|lat", -90.0, 90.0),
        (r"(?i)longitude|intptlong|intptlon|lon|lng", -180.0, 180.0),
    ),
    aliases=("zcta_centroids", "zip_centres"),
)


def read_zip_centroids(path: PathLike) -> pd.DataFrame:
    """Read ZIP (ZCTA) centre points: one row per 5-digit ZIP code.

    Parameters
    ----------
    path
        A Census Gazetteer ZCTA file (``2020_Gaz_zcta_national.txt``: ``GEOID``,
        ``INTPTLAT``, ``INTPTLONG``, tab-delimited) or a ``geoid,latitude,longitude`` CSV.

    Returns
    -------
    pandas.DataFrame
        ``zip`` (5-digit text), ``longitude``, ``latitude``. Exact duplicate rows (a ZCTA
        listed once per state it crosses) are dropped with a warning; a ZIP listed with
        different points keeps their mean (logged).

    Raises
    ------
    SchemaError
        Missing columns, ZIP codes that are not digits, coordinates that are not numbers.
    """
    p = check_file(path)
    raw = SCHEMA.canonical(read_csv_text(p))
    require_rows(raw, path=p)
    SCHEMA.require(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    z = raw["zip"].astype("string").str.strip().str.replace(r"\.0+$", "", regex=True)
    bad = ~z.str.fullmatch(r"\d{3,5}").fillna(False)
    if bad.any():
        msg = f"column 'zip' has {int(bad.sum())} value(s) that are not ZIP codes, e.g. {z[bad].iloc[0]!r}"
        raise SchemaError([msg], source=str(p))
    out = pd.DataFrame(
        {
            "zip": z.str.zfill(5).astype("string"),
            "longitude": to_number(raw["longitude"], path=p, column="longitude"),
            "latitude": to_number(raw["latitude"], path=p, column="latitude"),
        }
    )
    if out["zip"].duplicated().any():
        n = int(out["zip"].duplicated().sum())
        logger.info("%s: %d ZIP code(s) listed with different points; their mean is used", p, n)
        out = out.groupby("zip", as_index=False, sort=False)[["longitude", "latitude"]].mean()
        out["zip"] = out["zip"].astype("string")
    return set_provenance(
        out.reset_index(drop=True),
        source="zip_centroids",
        title="ZIP code tabulation area centre points",
        publisher="US Census Bureau",
        vintage=vintage_from_name(p),
        licence="Public domain (US federal government work)",
        attribution="US Census Bureau, ZIP code tabulation areas",
        path=p,
    )


def locate_by_zip(zips: pd.Series, centroids: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of the centre of each ZIP code (NaN where unknown)."""
    z = zips.astype("string").str.extract(r"^(\d{5})", expand=False)
    table = centroids.drop_duplicates("zip").set_index("zip")
    lon = z.map(table["longitude"], na_action="ignore")
    lat = z.map(table["latitude"], na_action="ignore")
    return (
        pd.to_numeric(lon, errors="coerce").to_numpy(dtype=float),
        pd.to_numeric(lat, errors="coerce").to_numpy(dtype=float),
    )

"""CDC/ATSDR Social Vulnerability Index CSVs (county or tract, any vintage).

``-999`` (CDC's missing value) becomes NaN in every numeric column. ``GEOID`` is ``FIPS`` as a
zero-padded string (5 digits for counties, 11 for tracts; the level comes from the longest
code). Text columns (``ST``, ``STATE``, ``ST_ABBR``, ``STCNTY``, ``COUNTY``, ``FIPS``,
``LOCATION``) stay text; every other column is float64.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from equity.errors import SchemaError
from equity.sources._common import (
    PathLike,
    check_file,
    check_unique,
    clean_geoid,
    drop_duplicate_rows,
    find_column,
    read_csv_text,
    require_rows,
    set_provenance,
    to_number,
    vintage_from_name,
)

__all__ = ["read_svi"]

logger = logging.getLogger("equity.sources")

_TEXT = {"ST", "STATE", "ST_ABBR", "STCNTY", "COUNTY", "FIPS", "LOCATION", "TRACTCE", "STATEFP"}


def read_svi(path: PathLike) -> pd.DataFrame:
    """Read a CDC/ATSDR SVI CSV keyed by GEOID.

    Parameters
    ----------
    path
        ``SVI<year>_US_COUNTY.csv``, ``SVI<year>_US.csv`` (tracts) or a state file.

    Returns
    -------
    pandas.DataFrame
        ``GEOID`` (str) first, then the file's columns; numeric columns float64 with -999 as
        NaN. ``attrs["level"]`` is ``county`` or ``tract``.

    Raises
    ------
    SchemaError
        No ``FIPS`` column, non-numeric values in numeric columns, duplicate FIPS.

    Examples
    --------
    >>> svi = read_svi("SVI2018_US_COUNTY.csv")  # doctest: +SKIP
    >>> svi["RPL_THEMES"].between(0, 1).all()  # doctest: +SKIP
    True
    """
    p = check_file(path)
    raw = read_csv_text(p)
    require_rows(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    fips = find_column(raw, "FIPS", "GEOID")
    if fips is None:
        found = ", ".join(raw.columns[:20])
        msg = f"not an SVI file: no 'FIPS' column (found: {found})"
        raise SchemaError([msg], source=str(p))
    codes = raw[fips].astype("string").str.strip().str.replace(r"\.0+$", "", regex=True)
    level = "tract" if codes.str.len().max() > 5 else "county"
    geoid = clean_geoid(codes, width=11 if level == "tract" else 5, path=p, column=fips)
    out = {"GEOID": geoid}
    problems: list[str] = []
    n_missing = 0
    for c in raw.columns:
        if c.upper() in _TEXT:
            out[c] = raw[c].astype("str")
            continue
        try:
            v = to_number(raw[c], path=p, column=c)
        except SchemaError as exc:
            problems.extend(exc.problems)
            continue
        sentinel = (v == -999).to_numpy()
        n_missing += int(sentinel.sum())
        out[c] = v.mask(sentinel, np.nan)
    if problems:
        raise SchemaError(problems, source=str(p))
    df = pd.DataFrame(out)
    if fips == "FIPS":
        df["FIPS"] = geoid
    check_unique(df, "GEOID", path=p)
    logger.info("read_svi %s: %d %s rows, %d -999 values set to NaN", p, len(df), level, n_missing)
    return set_provenance(
        df,
        source="svi",
        title="CDC/ATSDR Social Vulnerability Index",
        publisher="CDC/ATSDR Geospatial Research, Analysis & Services Program",
        vintage=vintage_from_name(p),
        licence="Public domain (US federal government work); CDC asks for citation",
        attribution="CDC/ATSDR Social Vulnerability Index",
        path=p,
        level=level,
    )

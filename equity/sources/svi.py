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
    read_csv_text,
    require_rows,
    sentinel_mask,
    set_provenance,
    to_number,
    vintage_from_name,
)
from equity.sources._schema import Schema

__all__ = ["SCHEMA", "read_svi"]

logger = logging.getLogger("equity.sources")

_TEXT = ("ST", "STATE", "ST_ABBR", "STCNTY", "COUNTY", "FIPS", "LOCATION", "TRACTCE", "STATEFP")

#: An SVI file: keyed by FIPS (5-digit county or 11-digit tract), every other column a number
#: except the text ones; CDC writes -999 for a missing value.
SCHEMA = Schema(
    kind="svi",
    title="an SVI file",
    required=(("FIPS",),),
    keys=(("FIPS",),),
    codes=(("FIPS", 11),),
    numeric=(r".*",),
    text=(rf"(?i){'|'.join(_TEXT)}",),
    counts=(r"E_.*", r"M_.*", r"AREA_SQMI"),
    ranges=((r"RPL_.*", 0.0, 1.0), (r"EPL_.*", 0.0, 1.0), (r"EP_(?!PCI$).*", 0.0, 100.0)),
    sentinels=frozenset({-999.0}),
    signature=(("FIPS", r"E TOTPOP.*"), ("FIPS", r"RPL THEME.*"), ("FIPS", r"EP .*")),
)


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
        No ``FIPS`` column (:data:`SCHEMA`), non-numeric values in numeric columns, duplicate
        FIPS.

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
    SCHEMA.require(raw, path=p)
    fips = SCHEMA.find(raw.columns, "FIPS")
    assert fips is not None  # required
    geoid, level = _geoid(raw[fips], path=p, column=fips)
    values, n_missing = _values(raw, path=p)
    df = pd.DataFrame({"GEOID": geoid, **values})
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


def _geoid(fips: pd.Series, *, path: PathLike, column: str) -> tuple[pd.Series, str]:
    """Zero-padded GEOIDs and the level (tract when any code is longer than a county's)."""
    codes = fips.astype("string").str.strip().str.replace(r"\.0+$", "", regex=True)
    level = "tract" if codes.str.len().max() > 5 else "county"
    width = SCHEMA.width_of("FIPS") if level == "tract" else 5
    return clean_geoid(codes, width=width, path=path, column=column), level


def _values(raw: pd.DataFrame, *, path: PathLike) -> tuple[dict[str, pd.Series], int]:
    """Text columns as str, the others as float64 with the sentinels as NaN; how many were."""
    out: dict[str, pd.Series] = {}
    problems: list[str] = []
    n_missing = 0
    for c in raw.columns:
        if not SCHEMA.is_numeric(c):
            out[c] = raw[c].astype("str")
            continue
        try:
            v = to_number(raw[c], path=path, column=c)
        except SchemaError as exc:
            problems.extend(exc.problems)
            continue
        sentinel = sentinel_mask(v, SCHEMA.sentinels)
        n_missing += int(sentinel.sum())
        out[c] = v.mask(sentinel, np.nan)
    if problems:
        raise SchemaError(problems, source=str(path))
    return out, n_missing

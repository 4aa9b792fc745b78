"""Microsoft Airband broadband usage (share of devices on >= 25 Mbps), county and ZIP files.

Every published variant of ``github.com/microsoft/USBroadbandUsagePercentages`` is read:
byte-order mark, space-padded headers (``" BROADBAND USAGE "``), ``" -   "`` for missing values,
integer ids that lost leading zeros (``1001`` -> ``"01001"``, ZIP ``2134`` -> ``"02134"``),
the ZIP file's error-range and MSD columns, and the older county variant that starts with
description lines before the header (the header line is found by its column names).

Usage and availability are proportions in [0, 1] (a value written with ``%`` is divided by 100).
"""

from __future__ import annotations

import logging
import re

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
    set_provenance,
    to_number,
)

__all__ = ["read_broadband_usage"]

logger = logging.getLogger("equity.sources")


def _norm(col: str) -> str:
    return re.sub(r"[^A-Z0-9]+", " ", str(col).upper()).strip()


def read_broadband_usage(path: PathLike) -> pd.DataFrame:
    """Read a Microsoft broadband usage CSV (county or ZIP code file).

    Parameters
    ----------
    path
        ``broadband_data*.csv`` (county) or ``broadband_data_zipcode.csv`` (ZIP).

    Returns
    -------
    pandas.DataFrame
        County file: ``GEOID`` (5-digit county), ``state_abbr``, ``county_name``,
        ``broadband_availability`` (FCC, share of people with 25/3 available),
        ``broadband_usage`` (share of devices on >= 25 Mbps). ZIP file: ``GEOID`` (ZIP),
        ``county_GEOID``, ``state_abbr``, ``county_name``, ``broadband_usage``,
        ``usage_error_mae``, ``usage_error_95``, ``msd`` (NaN when the variant lacks them).
        All shares float64 in [0, 1], NaN when missing. ``attrs["geography"]`` is ``county``
        or ``zip``.

    Raises
    ------
    DataError
        Empty or unreadable file.
    SchemaError
        Missing columns, ids that are not digits, values outside [0, 1], duplicate ids.

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> usage = read_broadband_usage(sample_paths()["usage"])
    >>> usage.attrs["source"], usage.attrs["geography"]
    ('microsoft_usage', 'county')
    """
    p = check_file(path)
    raw = read_csv_text(p, header_tokens=("ST", "BROADBAND USAGE"))
    cols = {_norm(c): c for c in raw.columns}
    require_rows(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)

    def col(*names: str) -> str | None:
        for n in names:
            if n in cols:
                return cols[n]
        return None

    usage = col("BROADBAND USAGE")
    county_id = col("COUNTY ID", "COUNTYID", "COUNTY FIPS", "FIPS")
    zip_col = col("POSTAL CODE", "ZIP", "ZIP CODE", "ZIPCODE")
    missing = [n for n, c in (("BROADBAND USAGE", usage), ("COUNTY ID", county_id)) if c is None]
    if missing:
        found = ", ".join(repr(c) for c in raw.columns)
        msg = f"not a Microsoft broadband usage file: missing {', '.join(missing)} (found: {found})"
        raise SchemaError([msg], source=str(p))
    assert usage is not None and county_id is not None

    county = clean_geoid(raw[county_id], width=5, path=p, column=county_id)
    out = pd.DataFrame(index=raw.index)
    st = col("ST", "STATE")
    name = col("COUNTY NAME")
    if zip_col is not None:
        out["GEOID"] = clean_geoid(raw[zip_col], width=5, path=p, column=zip_col)
        out["county_GEOID"] = county
        geography = "zip"
    else:
        out["GEOID"] = county
        geography = "county"
    out["state_abbr"] = raw[st].astype("str").str.strip() if st else pd.NA
    out["county_name"] = raw[name].astype("str").str.strip() if name else pd.NA

    shares = {"broadband_usage": usage}
    if geography == "county":
        avail = col("BROADBAND AVAILABILITY PER FCC", "BROADBAND AVAILABILITY")
        if avail is None:
            found = ", ".join(repr(c) for c in raw.columns)
            msg = f"county file without 'BROADBAND AVAILABILITY PER FCC' (found: {found})"
            raise SchemaError([msg], source=str(p))
        shares = {"broadband_availability": avail, "broadband_usage": usage}
    problems = []
    for target, source in shares.items():
        v = to_number(raw[source], path=p, column=source, percent=True)
        outside = ~v.between(0, 1) & v.notna()
        if outside.any():
            problems.append(
                f"column {source!r} has {int(outside.sum())} share(s) outside [0, 1], "
                f"e.g. {raw.loc[outside, source].iloc[0]!r}"
            )
        out[target] = v
    if geography == "zip":
        for target, names in (
            ("usage_error_mae", ("ERROR RANGE MAE",)),
            ("usage_error_95", ("ERROR RANGE 95",)),
            ("msd", ("MSD",)),
        ):
            source = col(*names)
            if source is None:
                out[target] = float("nan")
                continue
            v = to_number(raw[source], path=p, column=source)
            if target != "msd" and (v < 0).any():  # MSD is a signed deviation
                problems.append(
                    f"column {source!r} has negative values, e.g. {raw.loc[v < 0, source].iloc[0]!r}"
                )
            out[target] = v
    if problems:
        raise SchemaError(problems, source=str(p))
    check_unique(out, ["GEOID", "county_GEOID"] if geography == "zip" else "GEOID", path=p)
    out = out.reset_index(drop=True)
    logger.info(
        "read_broadband_usage %s: %d %s rows, %d missing usage",
        p,
        len(out),
        geography,
        int(out["broadband_usage"].isna().sum()),
    )
    m = re.search(r"(20\d\d)\s*([A-Za-z]+)?", p.name)
    vintage = " ".join(x for x in (m.group(2), m.group(1)) if x) if m else None
    return set_provenance(
        out,
        source="microsoft_usage",
        title="Microsoft Airband broadband usage percentages",
        publisher="Microsoft (availability: FCC)",
        vintage=vintage,
        licence="Open Use of Data Agreement (O-UDA) v1.0",
        attribution="Broadband usage: Microsoft Airband Initiative (O-UDA-1.0)",
        path=p,
        geography=geography,
        level="zcta" if geography == "zip" else "county",
    )

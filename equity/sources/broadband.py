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
from pathlib import Path

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
from equity.sources._schema import Layout, Schema

__all__ = ["SCHEMA", "read_broadband_usage"]

logger = logging.getLogger("equity.sources")

_COUNTY_ID = ("COUNTY ID", "COUNTYID", "COUNTY FIPS", "FIPS")
_ZIP = ("POSTAL CODE", "ZIP", "ZIP CODE", "ZIPCODE")
_AVAILABILITY = ("BROADBAND AVAILABILITY PER FCC", "BROADBAND AVAILABILITY")
_MAE = "ERROR RANGE (MAE)(+/-)"
_ERROR_95 = "ERROR RANGE (95%)(+/-)"

#: A Microsoft usage file: county (with FCC availability) or ZIP code (with error ranges).
SCHEMA = Schema(
    kind="broadband_usage",
    title="a Microsoft broadband usage file",
    required=(("BROADBAND USAGE",), _COUNTY_ID),
    layouts=(Layout("zip", (_ZIP,)), Layout("county", (_AVAILABILITY,))),
    optional=(("ST", "STATE"), ("COUNTY NAME",), (_MAE,), (_ERROR_95,), ("MSD",)),
    keys=(("POSTAL CODE", "COUNTY ID"), ("COUNTY ID",)),
    codes=(("COUNTY ID", 5), ("POSTAL CODE", 5)),
    numeric=(r"(?i)(broadband|error[\W_]*range|msd).*",),
    # error ranges are widths; MSD is a signed deviation
    counts=(r"(?i)error[\W_]*range.*",),
    ranges=((r"(?i)broadband[\W_]+(usage|availability)([\W_]+per[\W_]+fcc)?", 0.0, 1.0),),
    header_tokens=("ST", "BROADBAND USAGE"),
    aliases=("usage", "microsoft"),
    signature=(("BROADBAND USAGE",),),
)


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
        Missing columns (:data:`SCHEMA`), ids that are not digits, values outside [0, 1],
        duplicate ids.

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> usage = read_broadband_usage(sample_paths()["usage"])
    >>> usage.attrs["source"], usage.attrs["geography"]
    ('microsoft_usage', 'county')
    """
    p = check_file(path)
    raw = read_csv_text(p, header_tokens=SCHEMA.header_tokens)
    require_rows(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    SCHEMA.require(raw, path=p)
    cols = SCHEMA.columns(raw.columns)
    geography = "zip" if SCHEMA.layout(raw.columns) == "zip" else "county"
    out = _ids(raw, cols, geography=geography, path=p)
    problems = _add_shares(out, raw, cols, geography=geography, path=p)
    if geography == "zip":
        problems += _add_error_ranges(out, raw, cols, path=p)
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
    return set_provenance(
        out,
        source="microsoft_usage",
        title="Microsoft Airband broadband usage percentages",
        publisher="Microsoft (availability: FCC)",
        vintage=_vintage(p),
        licence="Open Use of Data Agreement (O-UDA) v1.0",
        attribution="Broadband usage: Microsoft Airband Initiative (O-UDA-1.0)",
        path=p,
        geography=geography,
        level="zcta" if geography == "zip" else "county",
    )


def _ids(raw: pd.DataFrame, cols: dict[str, str], *, geography: str, path: Path) -> pd.DataFrame:
    """GEOID (county or ZIP), ``county_GEOID`` of ZIP rows, state and county names."""
    county_id = cols["COUNTY ID"]
    county = clean_geoid(
        raw[county_id], width=SCHEMA.width_of("COUNTY ID"), path=path, column=county_id
    )
    out = pd.DataFrame(index=raw.index)
    if geography == "zip":
        zip_col = cols["POSTAL CODE"]
        width = SCHEMA.width_of("POSTAL CODE")
        out["GEOID"] = clean_geoid(raw[zip_col], width=width, path=path, column=zip_col)
        out["county_GEOID"] = county
    else:
        out["GEOID"] = county
    st, name = cols.get("ST"), cols.get("COUNTY NAME")
    out["state_abbr"] = raw[st].astype("str").str.strip() if st else pd.NA
    out["county_name"] = raw[name].astype("str").str.strip() if name else pd.NA
    return out


def _add_shares(
    out: pd.DataFrame, raw: pd.DataFrame, cols: dict[str, str], *, geography: str, path: Path
) -> list[str]:
    """Add usage (and the county file's availability) to `out`; problems with their range."""
    shares = {"broadband_usage": cols["BROADBAND USAGE"]}
    if geography == "county":
        shares = {"broadband_availability": cols[_AVAILABILITY[0]], **shares}
    problems = []
    for target, source in shares.items():
        v = to_number(raw[source], path=path, column=source, percent=True)
        rng = SCHEMA.range_of(source)
        if rng is not None:
            outside = ~v.between(*rng) & v.notna()
            if outside.any():
                problems.append(
                    f"column {source!r} has {int(outside.sum())} share(s) outside "
                    f"[{rng[0]:g}, {rng[1]:g}], e.g. {raw.loc[outside, source].iloc[0]!r}"
                )
        out[target] = v
    return problems


def _add_error_ranges(
    out: pd.DataFrame, raw: pd.DataFrame, cols: dict[str, str], *, path: Path
) -> list[str]:
    """Add the ZIP file's error ranges and MSD to `out` (NaN when absent); negative widths."""
    problems = []
    for target, name in (("usage_error_mae", _MAE), ("usage_error_95", _ERROR_95), ("msd", "MSD")):
        source = cols.get(name)
        if source is None:
            out[target] = float("nan")
            continue
        v = to_number(raw[source], path=path, column=source)
        if SCHEMA.is_count(source) and (v < 0).any():
            problems.append(
                f"column {source!r} has negative values, e.g. {raw.loc[v < 0, source].iloc[0]!r}"
            )
        out[target] = v
    return problems


def _vintage(path: Path) -> str | None:
    """``"October 2020"`` from ``broadband_data_2020October.csv``; the year alone otherwise."""
    m = re.search(r"(20\d\d)\s*([A-Za-z]+)?", path.name)
    return " ".join(x for x in (m.group(2), m.group(1)) if x) if m else None

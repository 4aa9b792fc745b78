"""CDC/ATSDR Social Vulnerability Index CSVs (county or tract, any vintage).

``-999`` (CDC's missing value) and the ACS sentinels CDC passes through (e.g. ``-555555555``
in DC's ``M_GROUPQ`` of SVI 2022) become NaN in every numeric column, except a
``-555555555`` margin of error, which the Census publishes for a controlled estimate and
means an MOE of zero. ``GEOID`` is ``FIPS`` as a zero-padded string (5 digits for counties,
11 for tracts; the level comes from the longest code). Text columns (``ST``, ``STATE``,
``ST_ABBR``, ``STCNTY``, ``COUNTY``, ``FIPS``, ``LOCATION``) stay text; every other column is
float64.

:func:`counts_from_svi` turns the file's ACS estimates (``E_*``) and margins of error
(``M_*``) into the project's count columns (``docs/contracts.md``), :data:`SVI_COUNTS` says
which SVI variable becomes which count.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from equity import _moe
from equity.errors import SchemaError
from equity.sources._checks import check_counts
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
from equity.sources.acs import SENTINELS

__all__ = ["SCHEMA", "SVI_COUNTS", "counts_from_svi", "read_svi"]

logger = logging.getLogger("equity.sources")

_TEXT = ("ST", "STATE", "ST_ABBR", "STCNTY", "COUNTY", "FIPS", "LOCATION", "TRACTCE", "STATEFP")

#: The ACS sentinel of a controlled estimate's margin of error (an MOE of zero).
_CONTROLLED = -555555555.0

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
    sentinels=frozenset({-999.0, *(float(code) for code in SENTINELS)}),
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
    check_counts(df, [c for c in df.columns if SCHEMA.is_count(c)], path=p)
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
        if c.upper().startswith("M_"):  # a controlled estimate's MOE is zero (ACS notes)
            controlled = v.to_numpy(dtype=float) == _CONTROLLED
            v = v.mask(controlled, 0.0)
            sentinel &= ~controlled
        n_missing += int(sentinel.sum())
        out[c] = v.mask(sentinel, np.nan)
    if problems:
        raise SchemaError(problems, source=str(path))
    return out, n_missing


#: The project's count columns (docs/contracts.md) from SVI variables: count -> the SVI
#: variable whose estimate ``E_<var>`` and 90% MOE ``M_<var>`` it takes (ACS 5-year tables as
#: CDC documents them). ``pop_age_universe`` is the total population (the universe of
#: B01001); ``pop_18_plus`` is derived as ``E_TOTPOP - E_AGE17``.
SVI_COUNTS: dict[str, str] = {
    "population": "TOTPOP",  # total population (S0101 / B01003)
    "households": "HH",  # households (DP02)
    "pop_age_universe": "TOTPOP",
    "pop_65_plus": "AGE65",  # persons aged 65 and older (S0101)
    "pop_under_18": "AGE17",  # persons aged 17 and younger (S0101)
    "hh_no_internet_subscription": "NOINT",  # households without an internet subscription (S2801); SVI 2020+
    "pop_below_150_poverty": "POV150",  # persons below 150% of poverty (S1701); SVI 2020+
    "pop_with_disability": "DISABL",  # civilian non-institutionalised persons with a disability
    "pop_no_hs_diploma": "NOHSDP",  # persons 25+ without a high-school diploma
    "pop_limited_english": "LIMENG",  # persons 5+ who speak English "less than well"
}


def counts_from_svi(svi: pd.DataFrame) -> pd.DataFrame:
    """The project's count columns (with ``moe_<count>``) from an SVI table's ACS counts.

    Parameters
    ----------
    svi
        Output of :func:`read_svi` (county or tract file; any vintage): ``GEOID`` and the
        ``E_<var>``/``M_<var>`` columns of :data:`SVI_COUNTS`. Counts whose columns the file
        lacks (e.g. ``NOINT`` and ``POV150`` before SVI 2020) are not produced.

    Returns
    -------
    pandas.DataFrame
        ``GEOID`` and, per count of :data:`SVI_COUNTS` present, the count (float64) and its
        90% MOE ``moe_<count>`` (NaN where CDC gives none), plus ``pop_18_plus`` (people 18
        and over: ``E_TOTPOP - E_AGE17``, MOE by the Census sum/difference rule) when both
        are present. ``attrs`` keep the SVI provenance and ``svi_variables`` (count -> SVI
        variable).

    Notes
    -----
    The counts keep the SVI's (that is, the ACS tables') definitions; where they differ from
    the tables ``equity.indicators.counts_from_acs`` reads, the indicators built on them
    have their own names in :data:`equity.indicators.REGISTRY` (for example
    ``share_below_150pct_poverty`` over the total population, ``share_no_internet_subscription``
    over households).

    Examples
    --------
    >>> import pandas as pd
    >>> svi = pd.DataFrame({"GEOID": ["01001"], "E_TOTPOP": [58761.0], "M_TOTPOP": [0.0],
    ...                     "E_AGE17": [13766.0], "M_AGE17": [42.0]})
    >>> counts_from_svi(svi)[["population", "pop_18_plus", "moe_pop_18_plus"]]
       population  pop_18_plus  moe_pop_18_plus
    0     58761.0      44995.0             42.0
    """
    if "GEOID" not in svi.columns:
        msg = f"SVI table lacks the GEOID column (columns: {list(svi.columns)[:8]} ...)"
        raise SchemaError([msg], source=str(svi.attrs.get("path", "svi")))
    out = pd.DataFrame({"GEOID": svi["GEOID"].astype("str").to_numpy()}, index=svi.index)
    used: dict[str, str] = {}
    for count, var in SVI_COUNTS.items():
        if f"E_{var}" not in svi.columns:
            continue
        out[count] = pd.to_numeric(svi[f"E_{var}"], errors="coerce").astype("float64")
        moe = svi[f"M_{var}"] if f"M_{var}" in svi.columns else np.nan
        out[f"moe_{count}"] = pd.to_numeric(moe, errors="coerce")
        used[count] = var
    if {"population", "pop_under_18"} <= set(out.columns):
        out["pop_18_plus"] = out["population"] - out["pop_under_18"]
        out["moe_pop_18_plus"] = np.asarray(
            _moe.moe_sum([out["moe_population"], out["moe_pop_under_18"]]), dtype=float
        )
    out.attrs = {k: v for k, v in svi.attrs.items() if isinstance(v, str | int | float)}
    out.attrs["svi_variables"] = used
    logger.info("counts_from_svi: %d rows, counts %s", len(out), list(used))
    return out

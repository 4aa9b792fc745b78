"""Census County Business Patterns (county files) and ZIP Code Business Patterns (totals, detail).

Units: ``establishments`` and ``employment`` are counts (employment: mid-March), payroll is in
**thousands of dollars** (``payroll_annual_k``, ``payroll_q1_k``).

Suppression: older vintages withhold employment and payroll (``D`` in ``empflag``/``emp_nf``,
``S`` for values that fail publication standards, ``N`` not available) and write 0 instead;
those values become NaN and ``employment_flag`` / ``payroll_flag`` say why (``withheld``,
``low_quality``, ``not_available``, ``""`` when published). Noise-infusion flags ``G``/``H``/``J``
(low/moderate/high noise) are kept as ``employment_noise`` / ``payroll_noise``. Size-class counts
written as ``N`` become NaN.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from equity.errors import SchemaError
from equity.sources._common import (
    PathLike,
    check_file,
    check_nonnegative,
    check_unique,
    clean_geoid,
    drop_duplicate_rows,
    read_csv_text,
    require_rows,
    set_provenance,
    to_number,
    vintage_from_name,
)
from equity.sources._schema import Layout, Schema

__all__ = ["SCHEMA", "SIZE_CLASSES", "read_business_patterns"]

logger = logging.getLogger("equity.sources")

#: Establishment size-class columns (employees) of CBP/ZBP files and their names here.
SIZE_CLASSES: dict[str, tuple[str, ...]] = {
    "est_lt5": ("n<5", "n1_4"),
    "est_5_9": ("n5_9",),
    "est_10_19": ("n10_19",),
    "est_20_49": ("n20_49",),
    "est_50_99": ("n50_99",),
    "est_100_249": ("n100_249",),
    "est_250_499": ("n250_499",),
    "est_500_999": ("n500_999",),
    "est_1000_plus": ("n1000",),
    "est_1000_1499": ("n1000_1",),
    "est_1500_2499": ("n1000_2",),
    "est_2500_4999": ("n1000_3",),
    "est_5000_plus": ("n1000_4",),
}

#: Output column, file column and the names of its flag and noise columns (None: none).
_MEASURES: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("employment", "emp", "employment_flag", "employment_noise"),
    ("payroll_q1_k", "qp1", None, None),
    ("payroll_annual_k", "ap", "payroll_flag", "payroll_noise"),
)
#: Text written instead of a suppressed number, and its meaning.
_FLAG_MEANING = {"D": "withheld", "S": "low_quality", "N": "not_available"}
# empflag (pre-2017 CBP): letters A-M give an employment size range for withheld cells
_EMPFLAG_RANGES = set("ABCEFGHIJKLM")
_ZIP_NAMES = (
    ("NAME", ("name",)),
    ("city", ("city",)),
    ("state_abbr", ("stabbr", "state")),
    ("county_name", ("cty_name",)),
)
_COUNTS = r"(?i)est|emp|qp1|ap|n(<5|\d).*"

#: A County Business Patterns county file (``fipstate``, ``fipscty``) or a ZIP Code Business
#: Patterns file (``zip``); counts never negative, ``D``/``S``/``N`` for suppressed values.
SCHEMA = Schema(
    kind="business_patterns",
    title="a Business Patterns file",
    required=(("est",), ("emp",), ("ap",)),
    layouts=(Layout("zip", (("zip",),)), Layout("county", (("fipstate",), ("fipscty",)))),
    optional=(
        *((c,) for c in ("naics", "qp1", "emp_nf", "qp1_nf", "ap_nf", "empflag")),
        *((c,) for _, names in _ZIP_NAMES for c in names),
        *((c,) for names in SIZE_CLASSES.values() for c in names),
    ),
    keys=(("zip", "naics"), ("zip",), ("fipstate", "fipscty", "naics"), ("fipstate", "fipscty")),
    codes=(("zip", 5), ("fipstate", 2), ("fipscty", 3)),
    numeric=(_COUNTS,),
    counts=(_COUNTS,),
    missing_text=tuple(_FLAG_MEANING),
    signature=(("FIPSTATE",), ("ZIP", "EST")),
    formats=(".txt", ".csv", ".zip"),
    aliases=("business", "cbp", "zbp"),
)


def read_business_patterns(path: PathLike, *, naics: str | None = None) -> pd.DataFrame:
    """Read a County Business Patterns county file or a ZIP Code Business Patterns file.

    Parameters
    ----------
    path
        ``cbpYYco.txt`` (county; ``fipstate, fipscty, naics, emp, qp1, ap, est, n<5...``),
        ``zbpYYtotals.txt`` (ZIP totals) or ``zbpYYdetail.txt`` (ZIP by NAICS).
    naics
        Keep one industry code (``"------"`` = all industries); all rows when omitted.

    Returns
    -------
    pandas.DataFrame
        County: ``GEOID`` (5-digit county), ``naics``, ``establishments``, ``employment``,
        ``payroll_q1_k``, ``payroll_annual_k``, ``est_lt5``, ``est_5_9``, ... (size classes),
        ``employment_flag``, ``payroll_flag``, ``employment_noise``, ``payroll_noise``.
        ZIP totals: ``GEOID`` (ZIP), ``establishments``, ``employment``, ``payroll_q1_k``,
        ``payroll_annual_k``, ``city``, ``state_abbr``, ``county_name``, ``NAME`` and the flags.
        Counts float64 (NaN when suppressed); ``attrs["geography"]`` is ``county`` or ``zip``.

    Raises
    ------
    SchemaError
        Missing columns (:data:`SCHEMA`), non-numeric or negative counts, duplicate keys.

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> cbp = read_business_patterns(sample_paths()["business"], naics="------")
    >>> cbp["GEOID"].is_unique
    True
    """
    p = check_file(path)
    raw = SCHEMA.canonical(read_csv_text(p))
    require_rows(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    SCHEMA.require(raw, path=p)
    geography = SCHEMA.layout(raw.columns) or "county"
    out = pd.DataFrame({"GEOID": _geoid(raw, geography=geography, path=p)})
    if "naics" in raw.columns:
        out["naics"] = raw["naics"].astype("str").str.strip()
    problems = _add_counts(out, raw, path=p)
    if geography == "zip":
        _add_zip_names(out, raw)
    if problems:
        raise SchemaError(problems, source=str(p))
    counts = ["establishments", "employment", "payroll_q1_k", "payroll_annual_k", *SIZE_CLASSES]
    check_nonnegative(out, counts, path=p)
    out = _select_naics(out, naics, path=p)
    check_unique(out, ["GEOID", "naics"] if "naics" in out.columns else "GEOID", path=p)
    logger.info("read_business_patterns %s: %d %s rows", p, len(out), geography)
    return set_provenance(
        out,
        source="cbp" if geography == "county" else "zbp",
        title="County Business Patterns" if geography == "county" else "ZIP Code Business Patterns",
        publisher="US Census Bureau",
        vintage=vintage_from_name(p),
        licence="Public domain (US federal government work)",
        attribution="US Census Bureau, County Business Patterns",
        path=p,
        geography=geography,
        level="county" if geography == "county" else "zcta",
        units={"payroll_annual_k": "thousand USD", "payroll_q1_k": "thousand USD"},
    )


def _geoid(raw: pd.DataFrame, *, geography: str, path: Path) -> pd.Series:
    """ZIP code, or the county GEOID from its state and county FIPS parts."""
    if geography == "zip":
        return clean_geoid(raw["zip"], width=SCHEMA.width_of("zip"), path=path, column="zip")
    parts = [
        clean_geoid(raw[c], width=SCHEMA.width_of(c), path=path, column=c)
        for c in ("fipstate", "fipscty")
    ]
    return parts[0] + parts[1]


def _number(raw: pd.DataFrame, col: str, *, path: Path, problems: list[str]) -> pd.Series:
    """A count column as float64 (suppression codes as NaN); its problems go to `problems`."""
    try:
        return to_number(raw[col], path=path, column=col, missing=SCHEMA.missing_text)
    except SchemaError as exc:
        problems.extend(exc.problems)
        return pd.Series(np.nan, index=raw.index)


def _add_counts(out: pd.DataFrame, raw: pd.DataFrame, *, path: Path) -> list[str]:
    """Add establishments, employment and payroll (with their flags) and the size classes."""
    problems: list[str] = []
    out["establishments"] = _number(raw, "est", path=path, problems=problems)
    for target, col, flag_col, noise_col in _MEASURES:
        if col not in raw.columns:
            continue
        value = _number(raw, col, path=path, problems=problems)
        value, flag, noise = _suppression(raw, col, value)
        out[target] = value
        if flag_col is not None:
            out[flag_col] = flag.astype("str")
        if noise_col is not None and noise is not None:
            out[noise_col] = noise
    for target, cands in SIZE_CLASSES.items():
        size = next((c for c in cands if c in raw.columns), None)
        if size is not None:
            out[target] = _number(raw, size, path=path, problems=problems)
    return problems


def _suppression(
    raw: pd.DataFrame, col: str, value: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Series | None]:
    """`value` with suppressed cells as NaN, why each was (``""`` if published), noise flags."""
    nf = raw[f"{col}_nf"].astype("string").str.strip() if f"{col}_nf" in raw.columns else None
    flag = pd.Series("", index=raw.index, dtype="str")
    if nf is not None:
        suppressed = nf.isin(list(_FLAG_MEANING)).fillna(False)
        flag = flag.mask(suppressed, nf.map(_FLAG_MEANING))
        value = value.mask(suppressed.to_numpy(), np.nan)
    if col == "emp" and "empflag" in raw.columns:
        ef = raw["empflag"].astype("string").str.strip().str.upper()
        withheld = (ef.isin(list(_FLAG_MEANING)) | ef.isin(list(_EMPFLAG_RANGES))).fillna(False)
        flag = flag.mask(withheld & (flag == ""), ef.map(_FLAG_MEANING).fillna("withheld"))
        value = value.mask(withheld.to_numpy(), np.nan)
    # raw "D"/"S"/"N" written in the value column itself
    text = raw[col].astype("string").str.strip()
    in_value = text.isin(list(_FLAG_MEANING)).fillna(False)
    flag = flag.mask(in_value & (flag == ""), text.map(_FLAG_MEANING))
    noise = None
    if nf is not None:
        noise = nf.where(nf.isin(["G", "H", "J"]), "").fillna("").astype("str")
    return value, flag, noise


def _add_zip_names(out: pd.DataFrame, raw: pd.DataFrame) -> None:
    """Add the ZIP file's place, city, state and county names."""
    for target, cands in _ZIP_NAMES:
        col = next((c for c in cands if c in raw.columns), None)
        if col is not None:
            out[target] = raw[col].astype("str").str.strip()


def _select_naics(out: pd.DataFrame, naics: str | None, *, path: Path) -> pd.DataFrame:
    """Rows of one industry code (all rows when `naics` is None)."""
    if naics is None:
        return out
    if "naics" not in out.columns:
        msg = "naics= given but the file has no 'naics' column (a totals file)"
        raise SchemaError([msg], source=str(path))
    return out.loc[out["naics"] == naics].reset_index(drop=True)

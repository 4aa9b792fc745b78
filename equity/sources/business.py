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

__all__ = ["read_business_patterns"]

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

_FLAG_MEANING = {"D": "withheld", "S": "low_quality", "N": "not_available"}
# empflag (pre-2017 CBP): letters A-M give an employment size range for withheld cells
_EMPFLAG_RANGES = set("ABCEFGHIJKLM")


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
        Missing columns, non-numeric or negative counts, duplicate keys.

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> cbp = read_business_patterns(sample_paths()["business"], naics="------")
    >>> cbp["GEOID"].is_unique
    True
    """
    p = check_file(path)
    raw = read_csv_text(p)
    raw.columns = [c.lower() for c in raw.columns]
    require_rows(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    if "zip" in raw.columns:
        geography = "zip"
        geoid = clean_geoid(raw["zip"], width=5, path=p, column="zip")
    elif {"fipstate", "fipscty"} <= set(raw.columns):
        geography = "county"
        geoid = clean_geoid(raw["fipstate"], width=2, path=p, column="fipstate") + clean_geoid(
            raw["fipscty"], width=3, path=p, column="fipscty"
        )
    else:
        found = ", ".join(raw.columns[:20])
        msg = (
            "not a Business Patterns file: expected 'fipstate' and 'fipscty' (county) or 'zip' "
            f"(ZIP) columns (found: {found})"
        )
        raise SchemaError([msg], source=str(p))
    missing = [c for c in ("est", "emp", "ap") if c not in raw.columns]
    if missing:
        msg = f"missing column(s) {', '.join(missing)} of a Business Patterns file"
        raise SchemaError([msg], source=str(p))

    out = pd.DataFrame({"GEOID": geoid})
    if "naics" in raw.columns:
        out["naics"] = raw["naics"].astype("str").str.strip()
    problems: list[str] = []

    def number(col: str) -> pd.Series:
        try:
            return to_number(raw[col], path=p, column=col, missing=("N", "D", "S"))
        except SchemaError as exc:
            problems.extend(exc.problems)
            return pd.Series(np.nan, index=raw.index)

    out["establishments"] = number("est")
    for target, col, flag_col, noise_col in (
        ("employment", "emp", "employment_flag", "employment_noise"),
        ("payroll_q1_k", "qp1", None, None),
        ("payroll_annual_k", "ap", "payroll_flag", "payroll_noise"),
    ):
        if col not in raw.columns:
            continue
        value = number(col)
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
        if flag_col is not None:
            flag = flag.mask(in_value & (flag == ""), text.map(_FLAG_MEANING))
        out[target] = value
        if flag_col is not None:
            out[flag_col] = flag.astype("str")
        if noise_col is not None and nf is not None:
            out[noise_col] = nf.where(nf.isin(["G", "H", "J"]), "").fillna("").astype("str")
    for target, cands in SIZE_CLASSES.items():
        col = next((c for c in cands if c in raw.columns), None)
        if col is not None:
            out[target] = number(col)
    if geography == "zip":
        for target, cands in (
            ("NAME", ("name",)),
            ("city", ("city",)),
            ("state_abbr", ("stabbr", "state")),
            ("county_name", ("cty_name",)),
        ):
            col = next((c for c in cands if c in raw.columns), None)
            if col is not None:
                out[target] = raw[col].astype("str").str.strip()
    if problems:
        raise SchemaError(problems, source=str(p))
    counts = ["establishments", "employment", "payroll_q1_k", "payroll_annual_k", *SIZE_CLASSES]
    check_nonnegative(out, counts, path=p)
    if naics is not None:
        if "naics" not in out.columns:
            msg = "naics= given but the file has no 'naics' column (a totals file)"
            raise SchemaError([msg], source=str(p))
        out = out.loc[out["naics"] == naics].reset_index(drop=True)
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

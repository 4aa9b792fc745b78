"""American Community Survey tables: Census API JSON/CSV and data.census.gov CSV exports.

Census sentinel values and annotations never become numbers. Each variable ``V`` gives
``VE`` (estimate), ``VM`` (90% margin of error) and ``V_flag`` (``""`` when fine):

==================  ==========================  ========  ======================
code                annotation                  value     ``V_flag``
==================  ==========================  ========  ======================
E -666666666        ``-``                       E NaN     ``insufficient_sample``
E -999999999        ``N``                       E NaN     ``insufficient_sample``
E -888888888        ``(X)``                     E NaN     ``not_applicable``
E -222222222/-333   (on an estimate)            E NaN     ``not_applicable``
M -222222222        ``**``                      M NaN     ``moe_not_computable``
M -999999999        ``N``                       M NaN     ``moe_not_computable``
M -888888888        ``(X)``                     M NaN     ``not_applicable``
M -333333333        ``***``                     M NaN     ``median_top_coded`` /
                                                          ``median_bottom_coded`` /
                                                          ``median_open_ended``
M -555555555        ``*****``                   M 0.0     ``controlled_moe_zero``
E 250001 / 2499     ``250,000+`` / ``2,500-``   kept      ``median_top_coded`` /
(B19013, B19113...)                                       ``median_bottom_coded``
==================  ==========================  ========  ======================

A -555555555 MOE means a controlled estimate (fixed by the population estimates program), which
has no sampling error: the Census Bureau says its MOE may be treated as zero, so it is 0.0 here
and the flag says so. An estimate's flag wins over its MOE's (one flag per variable). A blank (or JSON ``null``)
estimate is NaN with flag ``missing``.
Open-ended medians keep the published boundary value (a "250,000+" median is 250001) and are
flagged, so a caller can choose to drop or cap them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from equity.errors import DataError, SchemaError, check_choice
from equity.sources._checks import check_counts
from equity.sources._common import (
    CONTRACT_LEVEL,
    GEOID_WIDTH,
    PathLike,
    check_file,
    check_unique,
    clean_geoid,
    drop_duplicate_rows,
    level_from_geoids,
    read_csv_text,
    read_csv_typed,
    read_head,
    read_text,
    require_rows,
    set_provenance,
    to_number,
    vintage_from_name,
)
from equity.sources._schema import Schema, norm_name

__all__ = ["SCHEMA", "SENTINELS", "read_acs"]

logger = logging.getLogger("equity.sources")

#: Census sentinel values and what they mean (ACS technical documentation, "Notes on the
#: special values of estimates and margins of error").
SENTINELS: dict[int, str] = {
    -666666666: "insufficient_sample",
    -999999999: "insufficient_sample",
    -888888888: "not_applicable",
    -222222222: "moe_not_computable",
    -333333333: "median_open_ended",
    -555555555: "controlled_moe_zero",
}

#: Open-ended medians: table id -> (bottom code, top code) as published by the API.
MEDIAN_CODES: dict[str, tuple[float, float]] = {
    "B19013": (2499.0, 250001.0),  # median household income
    "B19113": (2499.0, 250001.0),  # median family income
    "B19049": (2499.0, 250001.0),  # median household income by age of householder
    "B19019": (2499.0, 250001.0),  # median household income by household size
    "B25077": (9999.0, 2000001.0),  # median value (2015+ top code)
    "B25064": (99.0, 3501.0),  # median gross rent (2015-2019 top code)
    "B25058": (99.0, 3501.0),  # median contract rent
    "B25088": (99.0, 4001.0),  # median selected monthly owner costs
    "B25105": (99.0, 4001.0),  # median monthly housing costs
    "B20017": (2499.0, 250001.0),  # median earnings
    "S1901": (2499.0, 250001.0),  # median income in the subject table
}

# data.census.gov annotations written in place of a number
_TEXT_ESTIMATE = {
    "-": "insufficient_sample",
    "N": "insufficient_sample",
    "(X)": "not_applicable",
    "null": "insufficient_sample",
}
_TEXT_MOE = {
    "**": "moe_not_computable",
    "***": "median_open_ended",
    "*****": "controlled_moe_zero",
    "N": "moe_not_computable",
    "(X)": "not_applicable",
    "-": "moe_not_computable",
    "null": "moe_not_computable",
}

# a Census variable id: table, optional subject-table column, line, optional "P" (percent)
_VAR_ID = r"[A-Z]{1,2}\d{2,6}[A-Z]{0,3}(?:_C\d{2})?_\d{3,4}P?"
_VAR = re.compile(rf"^(?P<var>{_VAR_ID})(?P<kind>EA|MA|E|M)$")

# Census API geography columns, in GEOID order, with their width
_API_GEO = [
    ("state", 2),
    ("county", 3),
    ("county subdivision", 5),
    ("place", 5),
    ("tract", 6),
    ("block group", 1),
]
_API_LEVEL = {
    ("state",): "state",
    ("state", "county"): "county",
    ("state", "county", "county subdivision"): "cousub",
    ("state", "place"): "place",
    ("state", "county", "tract"): "tract",
    ("state", "county", "tract", "block group"): "blockgroup",
}
# data.census.gov GEO_ID summary levels
_SUMMARY_LEVEL = {
    "040": "state",
    "050": "county",
    "060": "cousub",
    "160": "place",
    "140": "tract",
    "150": "blockgroup",
    "860": "zcta",
}


def _column_problems(columns: Sequence[str]) -> list[str]:
    """What an ACS table lacks: a GEOID (or the API geography columns), variable columns."""
    problems = []
    if not SCHEMA.key(columns) and _api_geography(columns) is None:
        problems.append(_no_geoid(columns))
    if not _variable_columns(columns)[0]:
        problems.append(_no_variables(columns))
    return problems


#: An ACS table keyed by GEOID (or GEO_ID, or the API's geography columns), estimates and
#: margins of error (never negative) with the Census sentinels and annotations for missing
#: values. Whether another column is numeric is decided by its values.
SCHEMA = Schema(
    kind="acs",
    title="an ACS table",
    keys=tuple((c,) for c in ("GEOID", "GEOID21", "GEOID20", "GEOID10", "FIPS", "GEO_ID"))
    + (("zip code tabulation area",),),
    codes=tuple(
        (c, None)
        for c in ("GEOID", "GEOID21", "GEOID20", "GEOID10", "FIPS", "GEO_ID")
        + ("zip code tabulation area",)
    ),
    numeric=None,
    counts=(rf"{_VAR_ID}(E|M)",),
    sentinels=frozenset(float(code) for code in SENTINELS),
    missing_text=(*_TEXT_ESTIMATE, *_TEXT_MOE),
    open_ended=True,
    signature=((rf"{_VAR_ID}(E|M)",),),
    formats=(".csv", ".json", ".txt"),
    rule=_column_problems,
)


def read_acs(
    path: PathLike,
    *,
    level: str | None = None,
    variables: list[str] | None = None,
    vintage: str | None = None,
) -> pd.DataFrame:
    """Read an ACS table (Census API JSON or CSV, data.census.gov CSV export).

    Parameters
    ----------
    path
        A Census API response saved as JSON (a list of lists, header first), the same as CSV,
        a data.census.gov CSV (``GEO_ID`` like ``1500000US510010901011`` and a second header
        row of labels), or a CSV with a ``GEOID`` column. Files without Census variable ids
        (tidycensus wide output such as ``totalpopE``/``totalpopM``) are read by their
        ``<name>E``/``<name>M`` column pairs.
    level
        ``state``, ``county``, ``tract``, ``blockgroup``, ``place``, ``cousub``, ``zcta``; sets
        the GEOID width (codes that lost leading zeros are zero-padded). Inferred from the
        geography columns or the GEOID length when omitted.
    variables
        Variables to keep (``"B28002_013"`` or ``"B28002_013E"``); all when omitted.
    vintage
        ACS release (e.g. ``"2021"`` for 2017-2021); from the file name when omitted.

    Returns
    -------
    pandas.DataFrame
        ``GEOID`` (str), ``NAME`` when present, and per variable ``<VAR>E``, ``<VAR>M``
        (float64, NaN for sentinels) and ``<VAR>_flag`` (str, see the module notes).
        ``attrs`` carries the provenance and ``level`` (a contract level: ``blockgroup``,
        ``tract``, ``town``, ``county``, ``state``, ``zcta``).

    Raises
    ------
    DataError
        Empty, truncated or unreadable file.
    SchemaError
        No GEOID or geography columns, no ACS variables (:data:`SCHEMA`), non-numeric values,
        negative (other than the Census sentinels) or infinite estimates and MOEs, duplicate
        GEOIDs.
    ChoiceError
        Unknown `level`.

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> acs = read_acs(sample_paths()["acs"])
    >>> acs.filter(like="B28002_013").columns.tolist()
    ['B28002_013E', 'B28002_013M', 'B28002_013_flag']
    """
    p = check_file(path)
    raw = _read_raw(p)
    require_rows(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p, key=_key_columns(raw))
    geoid, level = _geoid_and_level(raw, level, path=p)
    columns = _select(_variables(raw, p), variables, path=p)
    out = _table(raw, geoid, columns, path=p)
    check_unique(out, "GEOID", path=p)
    # estimates and MOEs are never negative (the sentinels are NaN by now) nor infinite
    check_counts(out, [c for c in out.columns if SCHEMA.is_count(c)], path=p)
    n_flagged = int(sum((out[c] != "").sum() for c in out.columns if c.endswith("_flag")))
    logger.info(
        "read_acs %s: %d rows, %d variables, level %s, %d flagged values",
        p,
        len(out),
        len(columns),
        level,
        n_flagged,
    )
    return set_provenance(
        out,
        source="acs",
        title="American Community Survey",
        publisher="US Census Bureau",
        vintage=vintage or vintage_from_name(p),
        licence="Public domain (US federal government work)",
        attribution="US Census Bureau, American Community Survey",
        path=p,
        level=CONTRACT_LEVEL[level],
        geography=level,
    )


def _geoid_and_level(raw: pd.DataFrame, level: str | None, *, path: Path) -> tuple[pd.Series, str]:
    """Zero-padded GEOIDs and the geography (given, from the file's geography or GEOID width)."""
    geoid, geo_level = _geoid(raw, path=path)
    if level is None:
        level = geo_level or level_from_geoids(geoid, path=path)
    check_choice("level", level, GEOID_WIDTH, where=str(path))
    return clean_geoid(geoid, width=GEOID_WIDTH[level], path=path, column="GEOID"), level


def _select(
    columns: dict[str, dict[str, str]], variables: list[str] | None, *, path: Path
) -> dict[str, dict[str, str]]:
    """The `variables` asked for (``B28002_013`` or ``B28002_013E``), all when None."""
    if variables is None:
        return columns
    wanted = [
        v[:-1] if v not in columns and v[-1:] in ("E", "M") and v[:-1] in columns else v
        for v in variables
    ]
    missing = [v for v in wanted if v not in columns]
    if missing:
        msg = (
            f"variable(s) {', '.join(missing)} not in the file "
            f"(found: {', '.join(list(columns)[:15])})"
        )
        raise SchemaError([msg], source=str(path))
    return {v: columns[v] for v in wanted}


def _table(
    raw: pd.DataFrame, geoid: pd.Series, columns: dict[str, dict[str, str]], *, path: Path
) -> pd.DataFrame:
    """GEOID, NAME and each variable's estimate, margin of error and flag.

    Variables whose columns were read as numbers are parsed together (:func:`_parse_numeric`);
    those holding text (annotations such as ``"250,000+"`` or ``"***"``) one by one.
    """
    out = pd.DataFrame({"GEOID": geoid})
    if "NAME" in raw.columns:
        out["NAME"] = raw["NAME"].astype("str")
    numeric = {
        var: kinds
        for var, kinds in columns.items()
        if all(_is_number(raw[kinds[k]]) for k in ("E", "M") if k in kinds)
    }
    parsed = _parse_numeric(raw, numeric, path=path) if numeric else {}
    parts: dict[str, object] = {}
    for var, kinds in columns.items():
        if var in parsed:
            est, moe, flag = parsed[var]
        else:
            est, moe, flag = _parse_variable(raw, var, kinds, path=path)
        parts[f"{var}E"] = est
        parts[f"{var}M"] = moe
        parts[f"{var}_flag"] = flag
    # one block per column (copy=False): consolidating 2 x 59 float columns costs a copy
    return pd.concat([out, pd.DataFrame(parts, index=raw.index, copy=False)], axis=1)


# --------------------------------------------------------------------------- reading


def _read_raw(path: Path) -> pd.DataFrame:
    """The file as a table (JSON list of lists or CSV): text, or numbers where they parse."""
    head = read_head(path)
    if path.suffix.lower() == ".json" or head.startswith(b"["):
        text, _ = read_text(path)
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"{path}: not valid JSON (truncated?): {exc}"
            raise DataError(msg) from exc
        if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
            msg = f"{path}: expected a Census API response (a JSON list of lists, header first)"
            raise SchemaError([msg], source=str(path))
        header = [str(h) for h in rows[0]]
        bad = [i for i, r in enumerate(rows[1:], start=2) if len(r) != len(header)]
        if bad:
            msg = f"row {bad[0]} has {len(rows[bad[0] - 1])} values for {len(header)} columns"
            raise SchemaError([msg], source=str(path))
        data = [[None if v is None else str(v) for v in r] for r in rows[1:]]
        return pd.DataFrame(data, columns=header, dtype="str")
    # plain CSVs (the national files) come with their estimates and MOEs parsed as numbers
    df = read_csv_typed(path, numeric=_numeric_columns)
    if df is None:
        df = read_csv_text(path)
    # data.census.gov exports: a second header row of labels ("Geography", "Estimate!!...")
    if len(df) and "GEO_ID" in df.columns and str(df["GEO_ID"].iloc[0]).strip() == "Geography":
        df = df.iloc[1:].reset_index(drop=True)
    return df


def _numeric_columns(names: list[str]) -> set[str]:
    """The estimate and MOE columns among `names` (read as numbers where they are numbers)."""
    found, _ = _variable_columns(names)
    return {col for kinds in found.values() for kind, col in kinds.items() if kind in ("E", "M")}


def _geoid(raw: pd.DataFrame, *, path: Path) -> tuple[pd.Series, str | None]:
    """GEOID from a GEOID-like column (:data:`SCHEMA` keys), GEO_ID or the API's columns."""
    key = SCHEMA.key(raw.columns)
    if key:
        col = key[0]
        name = norm_name(col)
        if name == "GEO ID":
            return _geo_id(raw[col], path=path)
        return raw[col], "zcta" if name == "ZIP CODE TABULATION AREA" else None
    present = _api_geography(raw.columns)
    if present is None:
        raise SchemaError([_no_geoid(raw.columns)], source=str(path))
    cols = {str(c).strip().lower(): c for c in raw.columns}
    widths = dict(_API_GEO)
    parts = [clean_geoid(raw[cols[n]], width=widths[n], path=path, column=cols[n]) for n in present]
    g = parts[0]
    for part in parts[1:]:
        g = g + part
    return g, _API_LEVEL[present]


def _key_columns(raw: pd.DataFrame) -> list[str] | None:
    """The columns holding the GEOID (or its API geography parts); None when there are none."""
    key = SCHEMA.key(raw.columns)
    if key:
        return [key[0]]
    present = _api_geography(raw.columns)
    if present is None:
        return None
    cols = {str(c).strip().lower(): c for c in raw.columns}
    return [cols[n] for n in present]


def _geo_id(values: pd.Series, *, path: Path) -> tuple[pd.Series, str | None]:
    """data.census.gov ``GEO_ID`` (``1500000US510010901011``): the code and its level."""
    g = values.astype("string").str.strip()
    has_us = g.str.contains("US", regex=False).fillna(False)
    if has_us.any() and not has_us.all():
        ex = g[~has_us].iloc[0]
        msg = f"column 'GEO_ID' mixes 'US' codes with others, e.g. {ex!r}"
        raise SchemaError([msg], source=str(path))
    if not has_us.all():
        return g, None
    level = _SUMMARY_LEVEL.get(str(g.str.slice(0, 3).mode().iloc[0]))
    return g.str.split("US", n=1).str[1], level


def _api_geography(columns: Sequence[object]) -> tuple[str, ...] | None:
    """The Census API geography columns present, when they name a level."""
    cols = {str(c).strip().lower() for c in columns}
    present = tuple(name for name, _ in _API_GEO if name in cols)
    return present if present in _API_LEVEL else None


def _no_geoid(columns: Sequence[object]) -> str:
    found = ", ".join(map(str, list(columns)[:20]))
    return (
        "no GEOID: expected a GEOID or GEO_ID column or Census API geography columns "
        f"(state, county, tract, block group, ...); found: {found}"
    )


def _no_variables(columns: Sequence[object]) -> str:
    found = ", ".join(map(str, list(columns)[:20]))
    return f"no ACS estimate columns like 'B28002_013E' (found: {found})"


def _variables(raw: pd.DataFrame, path: Path) -> dict[str, dict[str, str]]:
    """``{variable: {"E": col, "M": col, "MA": col, ...}}`` of the ACS columns in the file."""
    found, tidy = _variable_columns(list(raw.columns))
    if not found:
        raise SchemaError([_no_variables(raw.columns)], source=str(path))
    if tidy:
        logger.info("%s: no Census variable ids; %d E/M column pairs read", path, len(found))
    return found


def _variable_columns(columns: Sequence[object]) -> tuple[dict[str, dict[str, str]], bool]:
    """The variables' columns, and whether they are tidycensus ``<name>E``/``<name>M`` pairs."""
    found: dict[str, dict[str, str]] = {}
    for c in columns:
        m = _VAR.match(str(c).strip())
        if m:
            found.setdefault(m["var"], {})[m["kind"]] = str(c)
    found = {v: k for v, k in found.items() if "E" in k}
    if found:
        return found, False
    # tidycensus "wide" output names variables freely: <name>E with its <name>M
    names = {str(c).strip() for c in columns}
    pairs = {
        str(c)[:-1]: {"E": str(c), "M": f"{str(c)[:-1]}M"}
        for c in columns
        if str(c).endswith("E") and f"{str(c)[:-1]}M" in names and len(str(c)) > 1
    }
    return pairs, bool(pairs)


def _parse_variable(
    raw: pd.DataFrame, var: str, kinds: dict[str, str], *, path: Path
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Estimate, MOE and flag of one variable, sentinels turned into NaN + flag."""
    e_text = raw[kinds["E"]].astype("string").str.strip()
    m_text = (
        raw[kinds["M"]].astype("string").str.strip()
        if "M" in kinds
        else pd.Series(pd.NA, index=raw.index, dtype="string")
    )
    flag_e = pd.Series("", index=raw.index, dtype="str")
    flag_m = pd.Series("", index=raw.index, dtype="str")

    # text annotations (data.census.gov)
    for token, meaning in _TEXT_ESTIMATE.items():
        hit = (e_text == token).fillna(False)
        flag_e = flag_e.mask(hit, meaning)
        e_text = e_text.mask(hit, None)
    top = e_text.str.endswith("+").fillna(False)
    bottom = e_text.str.fullmatch(r"[\d,.]+-").fillna(False)
    flag_e = flag_e.mask(top, "median_top_coded").mask(bottom, "median_bottom_coded")
    e_text = e_text.str.rstrip("+").mask(bottom, e_text.str.rstrip("-"))
    for token, meaning in _TEXT_MOE.items():
        hit = (m_text == token).fillna(False)
        flag_m = flag_m.mask(hit, meaning)
        m_text = m_text.mask(hit, "0" if meaning == "controlled_moe_zero" else None)

    m_text = m_text.str.lstrip("±").str.strip()  # data.census.gov table views write "±123"
    est = to_number(e_text, path=path, column=kinds["E"])
    moe = to_number(m_text, path=path, column=kinds.get("M", f"{var}M"))

    for code, meaning in SENTINELS.items():
        hit_e = (est == code).to_numpy()
        if hit_e.any():
            estimate_meaning = meaning if meaning == "insufficient_sample" else "not_applicable"
            flag_e = flag_e.mask(hit_e, estimate_meaning)
            est = est.mask(hit_e, np.nan)
        hit_m = (moe == code).to_numpy()
        if hit_m.any():
            moe_meaning = "moe_not_computable" if code == -999999999 else meaning
            flag_m = flag_m.mask(hit_m, moe_meaning)
            moe = moe.mask(hit_m, 0.0 if moe_meaning == "controlled_moe_zero" else np.nan)
    other_negative = (est < -100_000_000) | (moe < -100_000_000)
    if other_negative.any():
        ex = raw.loc[other_negative, kinds["E"]].iloc[0]
        msg = f"column {kinds['E']!r} has an unknown Census sentinel value, e.g. {ex!r}"
        raise SchemaError([msg], source=str(path))

    # open-ended medians: known bottom/top codes, or a -333333333 MOE
    codes = MEDIAN_CODES.get(var.split("_")[0])
    if codes is not None:
        flag_e = flag_e.mask((est == codes[1]).to_numpy(), "median_top_coded")
        flag_e = flag_e.mask((est == codes[0]).to_numpy(), "median_bottom_coded")
    open_ended = (flag_m == "median_open_ended") & (flag_e == "")
    if codes is None and open_ended.any():
        # unknown table: call the larger values top-coded, the smaller bottom-coded
        centre = est.median()
        flag_e = flag_e.mask(open_ended & (est >= centre), "median_top_coded")
        flag_e = flag_e.mask(open_ended & (est < centre), "median_bottom_coded")
    flag_m = flag_m.mask(flag_m == "median_open_ended", "moe_not_computable")
    # a blank or JSON null estimate: missing without a Census reason
    flag_e = flag_e.mask(est.isna().to_numpy() & (flag_e == ""), "missing")
    flag = flag_e.mask(flag_e == "", flag_m).astype("str")
    return est.astype("float64"), moe.astype("float64"), flag


# flag codes of _parse_numeric: position in _FLAGS
_FLAGS = (
    "",
    "insufficient_sample",
    "not_applicable",
    "moe_not_computable",
    "median_open_ended",
    "controlled_moe_zero",
    "median_top_coded",
    "median_bottom_coded",
    "missing",
)
_OK, _INSUFFICIENT, _NA, _MOE_NC, _OPEN, _CONTROLLED, _TOP, _BOTTOM, _MISSING = range(len(_FLAGS))
_SENTINEL_CODES = np.array(sorted(SENTINELS), dtype="float64")
# flag of each sentinel (in _SENTINEL_CODES order) on an estimate and on a MOE (as _parse_variable)
_SENTINEL_FLAG_E = np.array(
    [_INSUFFICIENT if SENTINELS[int(c)] == "insufficient_sample" else _NA for c in _SENTINEL_CODES],
    dtype=np.uint8,
)
_SENTINEL_FLAG_M = np.array(
    [_MOE_NC if int(c) == -999999999 else _FLAGS.index(SENTINELS[int(c)]) for c in _SENTINEL_CODES],
    dtype=np.uint8,
)


def _parse_numeric(
    raw: pd.DataFrame, columns: dict[str, dict[str, str]], *, path: Path
) -> dict[str, tuple[np.ndarray, np.ndarray, pd.Series]]:
    """Estimates, MOEs and flags of the variables whose columns were read as numbers.

    The same rules as :func:`_parse_variable`, on numbers: one comparison per value finds
    those below -100,000,000 (every Census sentinel is there), and only those are looked up;
    flags are small integer codes turned into text once per column. The raw frame's own
    arrays are cleaned in place and become the result (it is read for this call only).
    """
    import pyarrow as pa

    n = len(raw)
    blank = pa.repeat(pa.scalar("", type=pa.large_string()), n)
    out = {}
    for var, kinds in columns.items():
        est = _own(raw[kinds["E"]])
        moe = _own(raw[kinds["M"]]) if "M" in kinds else np.full(n, np.nan)
        flag_e = _sentinel_flags(est, _SENTINEL_FLAG_E, kinds["E"], path=path)
        flag_m = _sentinel_flags(moe, _SENTINEL_FLAG_M, kinds.get("M", ""), path=path)
        if flag_m.any():
            moe[flag_m == _CONTROLLED] = 0.0  # a controlled estimate has no sampling error
        _median_flags(var, est, flag_e, flag_m)
        if flag_m.any():
            flag_m[flag_m == _OPEN] = _MOE_NC
        flag_e[np.isnan(est) & (flag_e == _OK)] = _MISSING  # blank: missing without a reason
        flag = np.where(flag_e != _OK, flag_e, flag_m)
        out[var] = (est, moe, _flag_text(flag, raw.index, blank))
    return out


def _is_number(values: pd.Series) -> bool:
    """Whether a raw column was read as numbers."""
    return pd.api.types.is_float_dtype(values.dtype)


def _own(values: pd.Series) -> np.ndarray:
    """A column's float64 array to clean in place: the raw frame's own when it can be."""
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    if not arr.flags.writeable:
        try:
            arr.setflags(write=True)  # a read-only view (copy-on-write) of the frame's data
        except ValueError:
            arr = arr.copy()
    return arr


def _sentinel_flags(
    values: np.ndarray, meaning: np.ndarray, column: str, *, path: Path
) -> np.ndarray:
    """Flag codes of the sentinels in `values`, which become NaN in place."""
    flags = np.zeros(len(values), dtype=np.uint8)
    low = np.flatnonzero(values < -100_000_000)
    if not len(low):
        return flags
    found = values[low]
    at = np.minimum(np.searchsorted(_SENTINEL_CODES, found), len(_SENTINEL_CODES) - 1)
    unknown = _SENTINEL_CODES[at] != found
    if unknown.any():
        value = found[unknown][0]
        ex = str(int(value)) if value.is_integer() else str(value)
        msg = f"column {column!r} has an unknown Census sentinel value, e.g. {ex!r}"
        raise SchemaError([msg], source=str(path))
    flags[low] = meaning[at]
    values[low] = np.nan
    return flags


def _median_flags(var: str, est: np.ndarray, flag_e: np.ndarray, flag_m: np.ndarray) -> None:
    """Open-ended medians (in place): known bottom/top codes, else by a -333333333 MOE."""
    codes = MEDIAN_CODES.get(var.split("_")[0])
    if codes is not None:
        flag_e[est == codes[1]] = _TOP
        flag_e[est == codes[0]] = _BOTTOM
        return
    open_ended = (flag_m == _OPEN) & (flag_e == _OK)
    if open_ended.any():
        # unknown table: call the larger values top-coded, the smaller bottom-coded
        centre = pd.Series(est).median()
        flag_e[open_ended & (est >= centre)] = _TOP
        flag_e[open_ended & (est < centre)] = _BOTTOM


def _flag_text(codes: np.ndarray, index: pd.Index, blank: object) -> pd.Series:
    """Flag codes as a ``str`` column (an Arrow ``take`` from the few flag names).

    Columns without a flag share one Arrow array of blanks (`blank`): Arrow arrays are
    immutable, so sharing is safe, and it saves a fresh string column per variable.
    """
    import pyarrow as pa

    names = pa.array(_FLAGS, type=pa.large_string())  # pandas' own storage: no cast
    text = names.take(pa.array(codes)) if codes.any() else blank
    return pd.Series(text, index=index, dtype=pd.StringDtype("pyarrow", na_value=np.nan))

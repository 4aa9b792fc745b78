"""Check a data file's schema and report every problem in one go (``equity validate PATH``).

:func:`validate` detects what a file is from its extension and columns, checks it without
stopping at the first problem, and returns the problems as sentences naming the column and an
example value (an empty list when the file is fine). Checks:

- the file can be read (not empty, not truncated, a known encoding and delimiter);
- required columns of its kind are present;
- ids are digit codes, not duplicated;
- numeric columns hold numbers (blanks, dashes and documented sentinels aside);
- shares lie in [0, 1] (``share_*``, usage, ``RPL_*``/``EPL_*``) or [0, 100] (``pct_*``,
  ``EP_*``, ``*_per``), counts are not negative;
- geodata has a CRS and no missing geometries;
- finally the matching ``read_*`` function runs, and any error it raises is reported too.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from equity.errors import EquityError, SchemaError
from equity.sources._common import (
    PathLike,
    read_csv_text,
    read_head,
    zip_member,
)

__all__ = ["ALIASES", "KINDS", "detect_kind", "validate"]

logger = logging.getLogger("equity.sources")

#: Kinds of file :func:`validate` knows, with their required columns (case-insensitive).
KINDS: dict[str, tuple[str, ...]] = {
    "acs": (),
    "boundaries": (),
    "broadband_usage": ("ST", "COUNTY ID", "BROADBAND USAGE"),
    "ookla": ("quadkey", "avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices"),
    "ookla_aggregates": ("geoid", "region_type", "year", "measure", "value"),
    "fcc_bdc": (
        "location_id",
        "technology",
        "max_advertised_download_speed",
        "max_advertised_upload_speed",
        "low_latency",
        "block_geoid",
    ),
    "business_patterns": ("est", "emp", "ap"),
    "libraries": ("FSCSKEY", "LIBNAME", "LONGITUD", "LATITUDE"),
    "anchors": (),
    "svi": ("FIPS",),
    "table": (),
}

#: Short names accepted for `kind` (as in ``equity validate --kind usage``).
ALIASES: dict[str, str] = {
    "usage": "broadband_usage",
    "microsoft": "broadband_usage",
    "business": "business_patterns",
    "cbp": "business_patterns",
    "zbp": "business_patterns",
    "fcc": "fcc_bdc",
    "bdc": "fcc_bdc",
    "schools": "anchors",
    "colleges": "anchors",
    "imls": "libraries",
    "tiles": "ookla",
}

_GEO_SUFFIXES = (".shp", ".gpkg", ".geojson", ".parquet", ".fgb")
_ACS_VAR = re.compile(r"^[A-Z]{1,2}\d{2,6}[A-Z]{0,3}(?:_C\d{2})?_\d{3,4}P?(E|M)$")
_CENSUS_SENTINELS = {-666666666, -999999999, -888888888, -222222222, -333333333, -555555555}
_ID_COLUMNS = (
    "GEOID",
    "FIPS",
    "geoid",
    "zip",
    "tract",
    "Blkgr",
    "BlockCode",
    "POSTAL CODE",
    "COUNTY ID",
)


def _norm(col: object) -> str:
    return re.sub(r"[^A-Z0-9<]+", " ", str(col).upper()).strip()


def detect_kind(columns: list[str], *, path: PathLike | None = None, geo: bool = False) -> str:
    """Kind of a file (a key of :data:`KINDS`) from its column names."""
    cols = {_norm(c) for c in columns}
    if "QUADKEY" in cols:
        return "ookla"
    if geo:
        # the toolkit's own level tables (index_<level>.parquet) are tables with geometry
        derived = any(
            c.startswith(("SHARE ", "SCORE ", "MOE ")) or c == "EQUITY INDEX" for c in cols
        )
        return "table" if derived else "boundaries"
    if "BROADBAND USAGE" in cols:
        return "broadband_usage"
    if {"MEASURE", "REGION TYPE"} <= cols:
        return "ookla_aggregates"
    if {"LOCATION ID", "TECHNOLOGY"} <= cols:
        return "fcc_bdc"
    if "FSCSKEY" in cols:
        return "libraries"
    if cols & {"NCESSCH", "UNITID", "ANCHOR ID"}:
        return "anchors"
    if "FIPSTATE" in cols or ({"ZIP", "EST"} <= cols):
        return "business_patterns"
    if "FIPS" in cols and any(c.startswith(("E TOTPOP", "RPL THEME", "EP ")) for c in cols):
        return "svi"
    if any(_ACS_VAR.match(str(c).strip()) for c in columns):
        return "acs"
    return "table"


def _is_geo(p: Path) -> bool:
    suffix = p.suffix.lower()
    if suffix in _GEO_SUFFIXES:
        return True
    if suffix == ".zip":
        return zip_member(p, (".shp", ".gpkg", ".geojson")) is not None
    if suffix == ".json":
        head = read_head(p, 2048)
        return b"FeatureCollection" in head or b'"Feature"' in head
    return False


def validate(path: PathLike, *, kind: str | None = None) -> list[str]:
    """Check a data file and return every problem found (an empty list when it is fine).

    Parameters
    ----------
    path
        A file any ``equity.sources`` reader reads, or a table keyed by ``GEOID``.
    kind
        One of :data:`KINDS` (or a short name of :data:`ALIASES`, e.g. ``"usage"``); detected
        from the extension and columns when omitted.

    Returns
    -------
    list of str
        One sentence per problem, naming the column and an example value.

    Raises
    ------
    ValueError
        Unknown `kind` (the message lists the valid ones).

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> validate(sample_paths()["acs"])
    []
    """
    if kind is not None:
        kind = ALIASES.get(kind, kind)
    if kind is not None and kind not in KINDS:
        msg = f"unknown kind {kind!r}; valid: {', '.join([*KINDS, *ALIASES])}"
        raise ValueError(msg)
    p = Path(path)
    if not p.exists():
        return [f"{p}: file not found"]
    if p.is_file() and p.stat().st_size == 0:
        return [f"{p}: file is empty (0 bytes)"]
    try:
        geo = _is_geo(p)
    except EquityError as exc:
        return [str(exc)]
    problems: list[str] = []
    if geo:
        frame, kind, read_problems = _read_geo(p, kind)
    else:
        frame, kind, read_problems = _read_table(p, kind)
    problems += read_problems
    if frame is None:
        return problems
    if len(frame) == 0:
        return [*problems, "header only: no data rows"]
    problems += _check_columns(frame, kind)
    problems += _check_values(frame, kind)
    if not problems:
        problems += _run_reader(p, kind)
    logger.info("validate %s (%s): %d problem(s)", p, kind, len(problems))
    return problems


# --------------------------------------------------------------------------- reading


def _read_geo(p: Path, kind: str | None) -> tuple[pd.DataFrame | None, str, list[str]]:
    import geopandas as gpd
    import pyogrio

    problems: list[str] = []
    try:
        if p.suffix.lower() == ".parquet":
            try:
                frame = gpd.read_parquet(p)
            except (ValueError, KeyError):
                frame = pd.read_parquet(p)
        else:
            src = f"/vsizip/{p}" if p.suffix.lower() == ".zip" else str(p)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame = gpd.read_file(src, engine="pyogrio")
    except (
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
        OSError,
        ValueError,
    ) as exc:
        return None, kind or "boundaries", [f"cannot read as a vector file: {exc}"]
    except Exception as exc:  # pyarrow's ArrowInvalid on a cut Parquet file
        if type(exc).__module__.startswith("pyarrow"):
            return None, kind or "ookla", [f"cannot read as Parquet (truncated?): {exc}"]
        raise
    kind = kind or detect_kind(list(frame.columns), geo=True)
    if isinstance(frame, gpd.GeoDataFrame):
        if frame.crs is None:
            problems.append(
                "unknown CRS: the file has no coordinate reference system (missing .prj?)"
            )
        missing_geom = frame.geometry.isna() | frame.geometry.is_empty
        if missing_geom.any():
            problems.append(f"{int(missing_geom.sum())} feature(s) have no geometry")
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    return frame, kind, problems


def _read_table(p: Path, kind: str | None) -> tuple[pd.DataFrame | None, str, list[str]]:
    head = read_head(p)
    if head.startswith(b"["):
        try:
            rows = json.loads(p.read_text(encoding="utf-8-sig"))
            frame = pd.DataFrame(rows[1:], columns=rows[0], dtype="str")
        except (json.JSONDecodeError, ValueError, IndexError, TypeError, UnicodeDecodeError) as exc:
            return None, kind or "acs", [f"not a Census API JSON table: {exc}"]
        return frame, kind or "acs", []
    try:
        tokens = ("ST", "BROADBAND USAGE") if kind in (None, "broadband_usage") else ()
        frame = read_csv_text(p, header_tokens=tokens)
    except EquityError as exc:
        return None, kind or "table", [str(exc)]
    if len(frame.columns) == 1 and len(frame):
        only = str(frame.columns[0])
        return (
            None,
            kind or "table",
            [f"only one column {only[:60]!r}: wrong delimiter? (tried ',', '|', tab, ';')"],
        )
    if (
        len(frame)
        and "GEO_ID" in frame.columns
        and str(frame["GEO_ID"].iloc[0]).strip() == "Geography"
    ):
        frame = frame.iloc[1:].reset_index(drop=True)  # data.census.gov: a row of labels
    return frame, kind or detect_kind(list(frame.columns), path=p), []


# --------------------------------------------------------------------------- checks


def _check_columns(frame: pd.DataFrame, kind: str) -> list[str]:
    have = {_norm(c) for c in frame.columns}
    missing = [c for c in KINDS[kind] if _norm(c) not in have]
    problems = []
    if missing:
        problems.append(f"missing column(s) for a {kind} file: {', '.join(missing)}")
    if kind == "acs" and not any(_ACS_VAR.match(str(c)) for c in frame.columns):
        problems.append("no ACS estimate columns like 'B28002_013E'")
    # a trailing delimiter (data.census.gov exports) gives an empty unnamed column: harmless
    unnamed = [
        c
        for c in frame.columns
        if (str(c).startswith("Unnamed:") or str(c).strip() == "") and frame[c].notna().any()
    ]
    if unnamed:
        problems.append(f"{len(unnamed)} column(s) without a name in the header")
    dups = pd.Index([str(c).strip() for c in frame.columns])
    if dups.duplicated().any():
        problems.append(f"duplicated column name(s): {', '.join(dups[dups.duplicated()].unique())}")
    return problems


def _id_column(frame: pd.DataFrame, kind: str) -> str | None:
    if kind in (
        "fcc_bdc",
        "ookla_aggregates",
        "business_patterns",
        "libraries",
        "anchors",
        "ookla",
    ):
        return None  # keyed by more than one column, or not by a GEOID
    if kind == "broadband_usage":
        cols = {_norm(c): c for c in frame.columns}
        return cols.get("POSTAL CODE") or cols.get("COUNTY ID")
    upper = {str(c).upper(): c for c in frame.columns}
    for c in ("GEOID", "FIPS", "GEO_ID", "GEOID20", "GEOID10", "ZCTA5CE20", "ZCTA5CE10"):
        if c in upper:
            return upper[c]
    return None


def _as_number(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(numbers, mask of non-missing text that is not a number)."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = s.astype("float64")
        return v, pd.Series(False, index=s.index)
    t = s.astype("str").str.strip()
    missing = t.isna() | t.str.lower().isin(["", "na", "n/a", "nan", "null", "(x)", "n", "d", "s"])
    # dashes; Census annotations ("**", "*****"); "±310" and open-ended "250,000+"/"2,500-"
    missing |= t.str.fullmatch(r"-+|\*{1,5}").fillna(False)
    t = t.str.lstrip("±").str.replace(r"(?<=\d)[+-]$", "", regex=True)
    v = pd.to_numeric(t.str.replace(",", "", regex=False).where(~missing), errors="coerce")
    bad = v.isna() & ~missing
    return v.astype("float64"), bad


def _range_of(col: str, kind: str) -> tuple[float, float] | None:
    c = str(col).strip()
    n = _norm(c)
    if c.startswith(("share_", "moe_share_")) or n in (
        "BROADBAND USAGE",
        "BROADBAND AVAILABILITY PER FCC",
    ):
        return (0.0, 1.0)
    if kind == "svi" and c.startswith(("RPL_", "EPL_")):
        return (0.0, 1.0)
    svi_percent = kind == "svi" and c.startswith("EP_") and c != "EP_PCI"  # PCI is dollars
    if c.startswith(("pct_", "percent_")) or svi_percent or c.endswith("_per"):
        return (0.0, 100.0)
    if c.startswith("score_") or c == "equity_index":
        return (0.0, 100.0)
    return None


_SVI_TEXT = {"ST", "STATE", "ST_ABBR", "STCNTY", "COUNTY", "FIPS", "LOCATION"}

#: Numeric columns of each known kind (a predicate on the column name); "table" and "acs" use
#: the data: a column is numeric when at least 80% of its values parse.
_NUMERIC: dict[str, Callable[[str], bool]] = {
    "acs": lambda c: bool(_ACS_VAR.match(c)),
    "svi": lambda c: c.upper() not in _SVI_TEXT,
    "business_patterns": lambda c: (
        c.lower() in ("est", "emp", "qp1", "ap") or bool(re.match(r"^n(<5|\d)", c.lower()))
    ),
    "ookla": lambda c: c in ("tests", "devices", "avg_d_kbps", "avg_u_kbps", "avg_lat_ms"),
    "ookla_aggregates": lambda c: c in ("value", "year"),
    "fcc_bdc": lambda c: c.startswith("max_advertised") or c in ("technology", "low_latency"),
    "broadband_usage": lambda c: _norm(c).startswith(("BROADBAND", "ERROR RANGE", "MSD")),
    "libraries": lambda c: c.upper() in ("LONGITUD", "LATITUDE"),
    "anchors": lambda c: (
        c.upper() in ("LONGITUD", "LATITUDE", "LAT", "LON", "LATITUDE", "LONGITUDE")
    ),
    "boundaries": lambda c: c.upper().startswith(("ALAND", "AWATER")),
}


def _is_count(col: str, kind: str) -> bool:
    c = str(col).strip()
    if kind == "acs":
        return bool(_ACS_VAR.match(c))  # estimates and MOEs are never negative
    if kind == "svi":
        return c.startswith(("E_", "M_")) or c == "AREA_SQMI"
    if kind == "business_patterns":
        return _NUMERIC[kind](c)
    if kind == "ookla":
        return _NUMERIC[kind](c)
    if kind == "fcc_bdc":
        return c.startswith("max_advertised")
    if kind in ("boundaries", "broadband_usage", "libraries", "anchors", "ookla_aggregates"):
        return kind == "boundaries"  # land and water areas
    return (
        c.startswith(("n_", "moe_", "hh_", "pop_", "est_"))
        or c.endswith(("_count", "_mbps", "_ms", "_num"))
        or c in ("population", "households", "tests", "devices", "establishments", "employment")
    )


def _ex(value: object) -> str:
    """repr of an example value, numpy scalars shown as plain Python values."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) else value)


def _check_values(frame: pd.DataFrame, kind: str) -> list[str]:
    problems: list[str] = []
    idc = _id_column(frame, kind)
    if idc is not None:
        ids = frame[idc].astype("string").str.strip()
        if str(idc).upper() == "GEO_ID":
            ids = ids.str.split("US", n=1).str[-1]
        ids = ids.str.replace(r"\.0+$", "", regex=True)
        blank = ids.isna() | (ids == "")
        if blank.any():
            problems.append(f"column {idc!r}: {int(blank.sum())} empty id(s)")
        bad = ~blank & ~ids.str.fullmatch(r"\d+").fillna(False)
        if bad.any() and kind != "boundaries":
            problems.append(
                f"column {idc!r}: {int(bad.sum())} id(s) are not digit codes, e.g. {_ex(ids[bad].iloc[0])}"
            )
        float_ids = frame[idc].astype("string").str.contains(r"\.\d", regex=True).fillna(False)
        if float_ids.any() and not bad.any():
            problems.append(
                f"column {idc!r}: {int(float_ids.sum())} id(s) written as numbers with decimals, "
                f"e.g. {_ex(frame.loc[float_ids, idc].iloc[0])} (read ids as text)"
            )
        keys = [idc]
        if kind == "broadband_usage" and _norm(idc) == "POSTAL CODE":
            keys.append(next(c for c in frame.columns if _norm(c) == "COUNTY ID"))
        dup_rows = frame.duplicated()
        if dup_rows.any():
            problems.append(f"{int(dup_rows.sum())} exact duplicate row(s)")
        dup = frame.loc[~dup_rows].duplicated(keys, keep=False)
        if dup.any():
            problems.append(
                f"column {idc!r}: {int(dup.sum())} rows share an id, e.g. "
                f"{_ex(frame.loc[~dup_rows].loc[dup, idc].iloc[0])}"
            )
    elif frame.duplicated().any():
        problems.append(f"{int(frame.duplicated().sum())} exact duplicate row(s)")

    for col in frame.columns:
        if col == idc:
            continue
        values, bad = _as_number(frame[col])
        n_text = int(frame[col].notna().sum())
        if n_text == 0:
            continue
        if kind in _NUMERIC and kind != "acs":
            numeric_col = _NUMERIC[kind](str(col).strip())
        else:
            share_numeric = 1 - bad.sum() / n_text
            numeric_col = (
                share_numeric >= 0.8 or _range_of(col, kind) is not None or _is_count(col, kind)
            )
        if not numeric_col:
            continue
        if bad.any():
            problems.append(
                f"column {col!r}: {int(bad.sum())} non-numeric value(s), e.g. {_ex(frame.loc[bad, col].iloc[0])}"
            )
        sentinel = (
            values.isin(list(_CENSUS_SENTINELS)) if kind in ("acs", "table") else values == -999
        )
        if kind == "svi":
            sentinel = values == -999
        v = values.where(~sentinel)
        rng = _range_of(col, kind)
        if rng is not None:
            outside = (v < rng[0]) | (v > rng[1])
            if outside.any():
                problems.append(
                    f"column {col!r}: {int(outside.sum())} share(s) outside [{rng[0]:g}, {rng[1]:g}], "
                    f"e.g. {_ex(frame.loc[outside, col].iloc[0])}"
                )
        elif _is_count(col, kind):
            neg = v < 0
            if neg.any():
                problems.append(
                    f"column {col!r}: {int(neg.sum())} negative count(s), e.g. {_ex(frame.loc[neg, col].iloc[0])}"
                )
    return problems


def _readers() -> dict[str, Callable[..., pd.DataFrame]]:
    from equity.sources.acs import read_acs
    from equity.sources.anchors import read_anchors, read_libraries
    from equity.sources.boundaries import read_boundaries
    from equity.sources.broadband import read_broadband_usage
    from equity.sources.business import read_business_patterns
    from equity.sources.fcc import read_fcc_bdc
    from equity.sources.ookla import read_ookla, read_ookla_aggregates
    from equity.sources.svi import read_svi

    return {
        "acs": read_acs,
        "boundaries": read_boundaries,
        "broadband_usage": read_broadband_usage,
        "ookla": read_ookla,
        "ookla_aggregates": lambda p: read_ookla_aggregates(p, region_type=None),
        "fcc_bdc": read_fcc_bdc,
        "business_patterns": read_business_patterns,
        "libraries": read_libraries,
        "anchors": read_anchors,
        "svi": read_svi,
    }


def _run_reader(p: Path, kind: str) -> list[str]:
    reader = _readers().get(kind)
    if reader is None:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader(p)
    except SchemaError as exc:
        return list(exc.problems)
    except EquityError as exc:
        return [str(exc)]
    return []

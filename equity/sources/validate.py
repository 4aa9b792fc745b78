"""Check a data file's schema and report every problem in one go (``equity validate PATH``).

:func:`validate` detects what a file is from its extension and columns, checks it without
stopping at the first problem, and returns the problems as sentences naming the column and an
example value (an empty list when the file is fine).

Every rule comes from the schema the kind's reader declares (:data:`SCHEMAS`, see
:mod:`equity.sources._schema`), so validate and the reader agree on what a file needs. Checks:

- the file can be read (not empty, not truncated, a known encoding and delimiter);
- the schema's required columns (or one of its layouts) are present;
- ids are digit codes no longer than their width, keys are not duplicated;
- numeric columns hold numbers (blanks, dashes, the schema's sentinels and missing-value text
  aside);
- values lie in the schema's ranges (shares in [0, 1], percentages in [0, 100]) and counts are
  not negative;
- geodata has a CRS and no missing geometries;
- finally the matching ``read_*`` function runs, and any error it raises is reported too.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from equity.errors import DataError, EquityError, SchemaError, check_choice
from equity.sources import (
    acs,
    anchors,
    boundaries,
    broadband,
    business,
    colleges,
    fcc,
    nonprofits,
    ookla,
    partners,
    svi,
    zipcodes,
)
from equity.sources._common import (
    MISSING_TEXT,
    PathLike,
    read_csv_text,
    read_head,
    sentinel_mask,
    zip_member,
)
from equity.sources._schema import Schema, norm_name

__all__ = ["ALIASES", "KINDS", "SCHEMAS", "TABLE_SCHEMA", "detect_kind", "validate"]

logger = logging.getLogger("equity.sources")

_TABLE_IDS = ("GEOID", "FIPS", "GEO_ID", "GEOID20", "GEOID10", "ZCTA5CE20", "ZCTA5CE10")

#: Any other table keyed by a GEOID, such as the toolkit's own level tables: which columns are
#: numbers is decided by their values; names say what is a share, a percentage or a count.
TABLE_SCHEMA = Schema(
    kind="table",
    title="a table keyed by GEOID",
    keys=tuple((c,) for c in _TABLE_IDS),
    codes=tuple((c, None) for c in _TABLE_IDS),
    numeric=None,
    counts=(
        r"(n|moe|hh|pop|est)_.*",
        r".*_(count|mbps|ms|num)",
        r"population|households|tests|devices|establishments|employment",
    ),
    ranges=(
        (r"(moe_)?share_.*", 0.0, 1.0),
        (r"(pct|percent)_.*|.*_per", 0.0, 100.0),
        (r"score_.*|equity_index", 0.0, 100.0),
    ),
    sentinels=acs.SCHEMA.sentinels,
    missing_text=("N", "D", "S", "*", "**", "***", "****", "*****"),
    open_ended=True,
    formats=(".csv", ".txt", ".json", ".parquet", ".shp", ".gpkg", ".geojson", ".fgb"),
)

#: The schema of each kind of file :func:`validate` knows: the readers' own, and
#: :data:`TABLE_SCHEMA`.
SCHEMAS: dict[str, Schema] = {
    s.kind: s
    for s in (
        acs.SCHEMA,
        boundaries.SCHEMA,
        broadband.SCHEMA,
        ookla.SCHEMA,
        ookla.AGGREGATES_SCHEMA,
        fcc.SCHEMA,
        business.SCHEMA,
        anchors.LIBRARIES_SCHEMA,
        anchors.SCHEMA,
        colleges.SCHEMA,
        nonprofits.SCHEMA,
        partners.SCHEMA,
        zipcodes.SCHEMA,
        svi.SCHEMA,
        TABLE_SCHEMA,
    )
}

#: Kinds of file :func:`validate` knows, with their required columns (see :data:`SCHEMAS` for
#: the alternatives each accepts).
KINDS: dict[str, tuple[str, ...]] = {k: tuple(n[0] for n in s.required) for k, s in SCHEMAS.items()}

#: Short names accepted for `kind` (as in ``equity validate --kind usage``).
ALIASES: dict[str, str] = {alias: k for k, s in SCHEMAS.items() for alias in s.aliases}

#: The reader of each kind (the table kind has none).
_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "acs": acs.read_acs,
    "boundaries": boundaries.read_boundaries,
    "broadband_usage": broadband.read_broadband_usage,
    "ookla": ookla.read_ookla,
    "ookla_aggregates": lambda p: ookla.read_ookla_aggregates(p, region_type=None),
    "fcc_bdc": fcc.read_fcc_bdc,
    "business_patterns": business.read_business_patterns,
    "libraries": anchors.read_libraries,
    "anchors": anchors.read_anchors,
    "colleges": colleges.read_colleges,
    "nonprofits": nonprofits.read_nonprofits,
    "partners": partners.read_partner_list,
    "zip_centroids": zipcodes.read_zip_centroids,
    "svi": svi.read_svi,
}

# the order in which kinds are told apart by their columns (the first signature found wins)
_DETECT = (
    "broadband_usage",
    "ookla_aggregates",
    "fcc_bdc",
    "libraries",
    "nonprofits",
    "colleges",
    "anchors",
    "business_patterns",
    "svi",
    "acs",
)
_GEO_SUFFIXES = tuple(s for s in boundaries.SCHEMA.formats if s not in (".zip", ".json"))


def detect_kind(columns: list[str], *, path: PathLike | None = None, geo: bool = False) -> str:
    """Kind of a file (a key of :data:`KINDS`) from its column names."""
    if ookla.SCHEMA.matches(columns):
        return "ookla"
    if geo:
        # the toolkit's own level tables (index_<level>.parquet) are tables with geometry
        cols = {norm_name(c) for c in columns}
        derived = any(
            c.startswith(("SHARE ", "SCORE ", "MOE ")) or c == "EQUITY INDEX" for c in cols
        )
        return "table" if derived else "boundaries"
    return next((k for k in _DETECT if SCHEMAS[k].matches(columns)), "table")


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
    ChoiceError
        Unknown `kind` (the message lists the valid ones).
    DataError
        `path` is a folder.

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> validate(sample_paths()["acs"])
    []
    """
    if kind is not None:
        kind = ALIASES.get(kind, kind)
        check_choice("kind", kind, [*KINDS, *ALIASES])
    p = Path(path)
    if p.is_dir():
        msg = (
            f"{p}: a folder; give one file in it (e.g. equity validate {p / 'acs.csv'}), or "
            "--config FILE to check every input of a run"
        )
        raise DataError(msg)
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
    schema = SCHEMAS[kind]
    problems += _check_columns(frame, schema)
    problems += _check_values(frame, schema)
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
        if missing_geom.any() and kind != "ookla":  # tiles are rebuilt from their quadkey
            problems.append(
                f"column 'geometry': {int(missing_geom.sum())} feature(s) without a geometry "
                "(null or empty)"
            )
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
        tokens = broadband.SCHEMA.header_tokens if kind in (None, "broadband_usage") else ()
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


def _check_columns(frame: pd.DataFrame, schema: Schema) -> list[str]:
    problems = []
    missing = schema.missing(frame.columns)
    if missing:
        problems.append(f"missing column(s) for a {schema.kind} file: {', '.join(missing)}")
    problems += schema.problems(list(frame.columns))
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


def _ex(value: object) -> str:
    """repr of an example value, numpy scalars shown as plain Python values."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) else value)


def _check_values(frame: pd.DataFrame, schema: Schema) -> list[str]:
    key = schema.key(frame.columns)
    problems = _check_ids(frame, schema, key)
    problems += _check_duplicates(frame, key)
    for col in frame.columns:
        if not key or col != key[0]:
            problems += _check_column(frame[col], schema)
    return problems


def _code_columns(frame: pd.DataFrame, schema: Schema, key: list[str]) -> dict[str, int | None]:
    """The file's digit-code columns to check, with their width: those of the key, and those
    that are no candidate key (an unused candidate, e.g. a FIPS beside a GEOID, is not read)."""
    found = schema.columns(frame.columns)
    candidates = {name for k in schema.keys for name in k}
    return {
        found[name]: width
        for name, width in schema.codes
        if name in found and (found[name] in key or name not in candidates)
    }


def _check_ids(frame: pd.DataFrame, schema: Schema, key: list[str]) -> list[str]:
    """Empty ids, ids that are not digit codes or too long, ids written as decimals."""
    codes = _code_columns(frame, schema, key)
    columns = list(dict.fromkeys([*key[:1], *codes]))
    problems = []
    for col in columns:
        ids = frame[col].astype("string").str.strip()
        if norm_name(col) == "GEO ID":
            ids = ids.str.split("US", n=1).str[-1]
        ids = ids.str.replace(r"\.0+$", "", regex=True)
        blank = ids.isna() | (ids == "")
        if blank.any():
            problems.append(f"column {col!r}: {int(blank.sum())} empty id(s)")
        bad = ~blank & ~ids.str.fullmatch(r"\d+").fillna(False)
        if col in codes:
            if bad.any():
                problems.append(
                    f"column {col!r}: {int(bad.sum())} id(s) are not digit codes, "
                    f"e.g. {_ex(ids[bad].iloc[0])}"
                )
            width = codes[col]
            long = ~blank & ~bad & (ids.str.len() > width) if width is not None else None
            if long is not None and long.any():
                problems.append(
                    f"column {col!r}: {int(long.sum())} id(s) longer than {width} digits, "
                    f"e.g. {_ex(ids[long].iloc[0])}"
                )
        float_ids = frame[col].astype("string").str.contains(r"\.\d", regex=True).fillna(False)
        if key and col == key[0] and float_ids.any() and not bad.any():
            problems.append(
                f"column {col!r}: {int(float_ids.sum())} id(s) written as numbers with decimals, "
                f"e.g. {_ex(frame.loc[float_ids, col].iloc[0])} (read ids as text)"
            )
    return problems


def _check_duplicates(frame: pd.DataFrame, key: list[str]) -> list[str]:
    """Exact duplicate rows, and rows that share a key."""
    problems = []
    dup_rows = frame.duplicated()
    if dup_rows.any():
        problems.append(f"{int(dup_rows.sum())} exact duplicate row(s)")
    if key:
        rest = frame.loc[~dup_rows]
        dup = rest.duplicated(key, keep=False)
        if dup.any():
            problems.append(
                f"column {key[0]!r}: {int(dup.sum())} rows share an id, e.g. "
                f"{_ex(rest.loc[dup, key[0]].iloc[0])}"
            )
    return problems


def _as_number(s: pd.Series, schema: Schema) -> tuple[pd.Series, pd.Series]:
    """(numbers, mask of non-missing text that is not a number)."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = s.astype("float64")
        return v, pd.Series(False, index=s.index)
    t = s.astype("str").str.strip()
    tokens = MISSING_TEXT | {m.lower() for m in schema.missing_text}
    missing = t.isna() | t.str.lower().isin(tokens) | t.str.fullmatch(r"-+").fillna(False)
    if schema.open_ended:  # "±310", and open-ended "250,000+" / "2,500-"
        t = t.str.lstrip("±").str.replace(r"(?<=\d)[+-]$", "", regex=True)
    v = pd.to_numeric(t.str.replace(",", "", regex=False).where(~missing), errors="coerce")
    bad = v.isna() & ~missing
    return v.astype("float64"), bad


def _check_column(values: pd.Series, schema: Schema) -> list[str]:
    """A numeric column's non-numbers, values outside its range or negative counts."""
    col = values.name
    n_text = int(values.notna().sum())
    if n_text == 0:
        return []
    numbers, bad = _as_number(values, schema)
    numeric = schema.is_numeric(col)
    if numeric is None:  # decided by the data
        share_numeric = 1 - bad.sum() / n_text
        numeric = share_numeric >= 0.8 or schema.range_of(col) is not None or schema.is_count(col)
    if not numeric:
        return []
    problems = []
    if bad.any():
        problems.append(
            f"column {col!r}: {int(bad.sum())} non-numeric value(s), e.g. {_ex(values[bad].iloc[0])}"
        )
    v = numbers.where(~sentinel_mask(numbers, schema.sentinels))
    infinite = v.abs() == float("inf")
    if infinite.any():
        problems.append(
            f"column {col!r}: {int(infinite.sum())} value(s) not finite, e.g. "
            f"{_ex(values[infinite].iloc[0])}"
        )
    rng = schema.range_of(col)
    if rng is not None:
        outside = (v < rng[0]) | (v > rng[1])
        if outside.any():
            problems.append(
                f"column {col!r}: {int(outside.sum())} share(s) outside [{rng[0]:g}, {rng[1]:g}], "
                f"e.g. {_ex(values[outside].iloc[0])}"
            )
    elif schema.is_count(col):
        neg = v < 0
        if neg.any():
            problems.append(
                f"column {col!r}: {int(neg.sum())} negative count(s), e.g. {_ex(values[neg].iloc[0])}"
            )
    return problems


def _run_reader(p: Path, kind: str) -> list[str]:
    reader = _READERS.get(kind)
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

"""Exports: ranked candidates, per-level index tables and the methods card.

- :func:`write_candidates` writes the ranked candidates of :func:`equity.placement.rank_candidates`
  as CSV, XLSX (formatted header, frozen first row, one sheet per state plus ``All``),
  GeoJSON, GeoPackage and GeoParquet. CSV output is deterministic (fixed column order,
  floats rounded to 4 decimals, rows sorted by state, rank and GEOID), so two runs give
  byte-identical files. :func:`read_candidates` reads any of them back with GEOIDs as text.
- :func:`write_level_tables` writes ``index_<level>.parquet`` (GeoParquet) per level.
- :func:`write_methods` writes ``METHODS.md``: data sources, vintages, licences, attribution,
  index method, placement parameters and the exact command that reproduces the run.
- :data:`COLUMNS` documents every column of ``candidates.csv`` (the README renders it).

Every file is written atomically: a failure leaves no new file behind.
"""

from __future__ import annotations

import datetime
import gc
import io
import json
import logging
import math
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from equity._cells import csv_safe
from equity._io import atomic_dir, atomic_write_text
from equity.errors import ConfigError, DataError, SchemaError, check_choice
from equity.workbook import RunInfo, read_workbook, write_workbook

__all__ = [
    "COLUMNS",
    "FORMATS",
    "RunInfo",
    "read_candidates",
    "write_candidates",
    "write_level_tables",
    "write_methods",
]

logger = logging.getLogger("equity.export")

#: Output formats of :func:`write_candidates` and their file suffixes.
FORMATS: dict[str, str] = {
    "csv": ".csv",
    "xlsx": ".xlsx",
    "geojson": ".geojson",
    "gpkg": ".gpkg",
    "parquet": ".parquet",
}

#: Columns of ``candidates.csv``: name -> (description, unit). ``n_<kind>`` stands for one
#: column per anchor kind (``n_library``, ``n_school``, ...).
COLUMNS: dict[str, tuple[str, str]] = {
    "rank": (
        "Rank by combined score within the state (1 = best place for a fellow); national when ranked across states",
        "rank",
    ),
    "GEOID": ("Census identifier of the candidate place (text, zero-padded)", "code"),
    "NAME": ("Name of the place", "text"),
    "place_name": (
        "Town the candidate is or lies in, with its Census description ('Fairfax city', 'Bristol town', 'Balance of Fairfax County'); for a county, the county",
        "text",
    ),
    "county_name": (
        "County (or county equivalent) with its Census description ('Fairfax County' vs 'Fairfax city'); the county holding most households for towns crossing counties",
        "text",
    ),
    "state_GEOID": ("Two-digit state FIPS code", "code"),
    "state_name": ("State name", "text"),
    "need_score": (
        "Need: the digital-equity index of the place (higher = more need)",
        "score 0-100",
    ),
    "readiness_score": (
        "Readiness: partner organisations within the service radius, each counted once, weighted by kind ([partners.weights]: libraries 3, colleges 2, others 1 by default) and by distance (linear decay to 0 at the radius by default), per 10,000 people, and the business base per 1,000 people when given, as a percentile rank",
        "score 0-100",
    ),
    "reach_score": (
        "Reach: people in need (population x index / 100) within the service radius, as a percentile rank",
        "score 0-100",
    ),
    "combined_score": (
        "Weighted mean of need, readiness and reach (weights in METHODS.md)",
        "score 0-100",
    ),
    "households": ("Households (ACS)", "households"),
    "population": ("Population (ACS)", "people"),
    "equity_index": ("Digital-equity index (higher = more need)", "score 0-100"),
    "equity_index_lo": (
        "Lower end of the 90% interval of the index (Monte Carlo over ACS margins of error)",
        "score 0-100",
    ),
    "equity_index_hi": ("Upper end of the 90% interval of the index", "score 0-100"),
    "rank_lo": ("Best need rank of the place over the uncertainty draws (90% interval)", "rank"),
    "rank_hi": ("Worst need rank of the place over the uncertainty draws (90% interval)", "rank"),
    "driving_pillar": (
        "Pillar contributing most to the need (access, devices_skills, affordability, education, transformation)",
        "text",
    ),
    "intervention": (
        "Suggested focus area, one of the program's four: digital access, computer-science education, digital skills, digital transformation of nonprofits and small businesses (from the pillar profile; a pillar resting on weak proxies alone, e.g. library distance, cannot decide it)",
        "text",
    ),
    "top_indicators": (
        "The three indicators pushing the need up most, in words, each with the place's value and the state's (and nation's) median, '; '-separated",
        "text",
    ),
    "n_anchors": (
        "Partner organisations within the service radius (all kinds, each organisation once)",
        "count",
    ),
    "why": (
        "A short paragraph in plain words: selected or not, rank, need with its interval, focus area and why, partners, reach, the runner-up and any flag, and what would change the rank",
        "text",
    ),
    "selected": ("Chosen as a fellow site by the selection mode", "true/false"),
    "focus_area": (
        "Code of the focus area (digital_access, cs_education, digital_skills, digital_transformation); empty when no pillar with data can decide it",
        "code",
    ),
    "focus_reason": (
        "Why this focus area: the pillar's score and its strongest indicator against the state's median; pillars resting on weak proxies are named and passed over",
        "text",
    ),
    "reliability": (
        "Reliability of the place's index from its own uncertainty (high, medium, low), never from its level of need",
        "text",
    ),
    "county_GEOID": ("Five-digit county FIPS code (dominant county for towns)", "code"),
    "existing": ("An existing program site", "true/false"),
    "n_<kind>": (
        "Anchor institutions of one kind within the service radius (n_library, n_school, ...)",
        "count",
    ),
    "anchors_per_10k": (
        "Partner organisations within the radius, weighted by kind and distance decay, per 10,000 people within the radius",
        "per 10,000 people",
    ),
    "population_within_radius": (
        "People living in demand places whose centroid is within the service radius",
        "people",
    ),
    "reach_need_population": (
        "Need-weighted population within the radius: sum of population x index / 100",
        "people",
    ),
    "establishments_per_1k": (
        "Business establishments per 1,000 people of the candidate's county (when business data is given)",
        "per 1,000 people",
    ),
    "partner_name": (
        "Suggested local partner: the organisation within the radius with the highest host score (kind weight x capacity x distance decay x listed bonus; METHODS.md)",
        "text",
    ),
    "partner_kind": (
        "Kind of the suggested partner (library, college, school, nonprofit, community_center, or a kind from the planner's list)",
        "text",
    ),
    "partner_km": (
        "Distance from the candidate's centroid to the suggested partner",
        "km",
    ),
    "partner_score": ("Host score of the suggested partner", "score"),
    "partner_id": (
        "Id of the suggested partner in partners.csv (<source>:<id>, e.g. imls:VA0001-002, irs_bmf:<EIN>)",
        "code",
    ),
    "partner_summary": (
        "The suggested partner in plain words: name, distance, what it is (mission from its NTEE code, size from its IRS income or asset class), whether it is on the planner's list and whether it is located only by ZIP code",
        "text",
    ),
    "runner_up_name": ("The organisation with the second-highest host score", "text"),
    "runner_up_kind": ("Kind of the runner-up partner", "text"),
    "runner_up_km": ("Distance to the runner-up partner", "km"),
    "runner_up_score": ("Host score of the runner-up partner", "score"),
    "runner_up_id": ("Id of the runner-up partner in partners.csv", "code"),
    "runner_up_summary": ("The runner-up partner in plain words", "text"),
    "p_top1": (
        "Chance of ranking first (among the k best when k > 1) in the state by combined score, over the index's uncertainty draws (given, or drawn from each place's 90% interval)",
        "proportion 0-1",
    ),
    "combined_lo": (
        "Lower end of the 90% interval of the combined score over the draws",
        "score 0-100",
    ),
    "combined_hi": (
        "Upper end of the 90% interval of the combined score over the draws",
        "score 0-100",
    ),
    "close_call": (
        "Selected site whose combined score's 90% interval overlaps the runner-up's, or whose chance of ranking first is below 0.5 (top and robust modes)",
        "true/false",
    ),
    "runner_up_place": (
        "Selected sites: the best-ranked candidate of the state that was not selected",
        "text",
    ),
    "runner_up_place_GEOID": ("GEOID of the runner-up place", "code"),
    "lead": (
        "Selected sites: combined score minus the runner-up's (negative for a coverage pick ranked below it)",
        "points",
    ),
    "below_median_need": (
        "Selected site whose need is below the median index of its state's places",
        "true/false",
    ),
    "note": (
        "Flags of a selected site in words: close call (and why), need below the state median (and why it was chosen anyway)",
        "text",
    ),
    "sensitivity": (
        "What would change the rank: the largest move when one score or pillar weight is halved",
        "text",
    ),
    "rank_best": (
        "Best rank of the candidate across the variants: each score weight halved, and the index under each normalisation (percentile, z-score, min-max, rank) with its pillar weights and with each pillar weight halved",
        "rank",
    ),
    "rank_worst": ("Worst rank of the candidate across the same variants", "rank"),
    "times_selected": ("Robust mode: uncertainty draws in which the place was selected", "count"),
    "share_selected": (
        "Robust mode: share of draws in which the place was selected",
        "proportion 0-1",
    ),
    "longitude": ("Longitude of the place's centroid (WGS 84)", "degrees"),
    "latitude": ("Latitude of the place's centroid (WGS 84)", "degrees"),
}

_CONTRACT_ORDER = [
    "rank",
    "GEOID",
    "NAME",
    "place_name",
    "county_name",
    "state_GEOID",
    "state_name",
    "need_score",
    "readiness_score",
    "reach_score",
    "combined_score",
    "households",
    "population",
    "equity_index",
    "equity_index_lo",
    "equity_index_hi",
    "rank_lo",
    "rank_hi",
    "driving_pillar",
    "intervention",
    "top_indicators",
    "n_anchors",
    "why",
    "selected",
]
_TEXT_COLUMNS_RE = re.compile(
    r"(^GEOID$|_GEOID$|^NAME$|^(place|county|state)_name$|^(partner|runner_up)_id$)"
)
_DECIMALS = 4

# Columns of the data sources table of METHODS.md (keys of the provenance records).
_SOURCE_COLUMNS = ("source", "title", "publisher", "vintage", "licence", "attribution", "path")


# --------------------------------------------------------------------------------------------
# candidates
# --------------------------------------------------------------------------------------------


def _ordered(candidates: pd.DataFrame) -> pd.DataFrame:
    """Fixed column order (contract columns first) and sorted rows; geometry kept if present."""
    geom = candidates.geometry.name if isinstance(candidates, gpd.GeoDataFrame) else None
    first = [c for c in _CONTRACT_ORDER if c in candidates.columns]
    rest = [c for c in candidates.columns if c not in first and c != geom]
    cols = first + rest + ([geom] if geom else [])
    df = candidates[cols]
    keys = [c for c in ("state_GEOID", "rank", "GEOID") if c in df.columns]
    if keys:
        df = df.sort_values(keys, kind="stable")
    return df.reset_index(drop=True)


def _attribute_table(df: pd.DataFrame) -> pd.DataFrame:
    """Attributes without geometry, floats rounded, text columns as strings."""
    table = pd.DataFrame(
        df.drop(columns=df.geometry.name) if isinstance(df, gpd.GeoDataFrame) else df
    )
    for col in table.columns:
        if pd.api.types.is_float_dtype(table[col]):
            table[col] = table[col].round(_DECIMALS)
        elif _TEXT_COLUMNS_RE.search(col):
            table[col] = table[col].astype("string")
    return table


def _check_formats(formats: Sequence[str] | str) -> list[str]:
    fmts = [formats] if isinstance(formats, str) else list(formats)
    if not fmts:
        msg = f"no output format given: use any of {', '.join(FORMATS)}"
        raise ConfigError(msg)
    for fmt in fmts:
        check_choice("output format", fmt, FORMATS)
    return list(dict.fromkeys(fmts))


def _check_stem(stem: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", stem or ""):
        msg = f"file stem {stem!r} must be letters, digits, '_', '-' or '.'"
        raise ConfigError(msg)
    return stem


def write_candidates(
    candidates: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    formats: Sequence[str] | str = ("csv", "xlsx", "geojson"),
    stem: str = "candidates",
    info: RunInfo | None = None,
    extra_sheets: Mapping[str, pd.DataFrame] | None = None,
) -> list[Path]:
    """Write ranked candidates in several formats, atomically.

    Parameters
    ----------
    candidates
        Output of :func:`equity.placement.rank_candidates` (a GeoDataFrame; a plain DataFrame
        works for ``csv`` and ``xlsx``).
    out_dir
        Folder to write into (created if needed).
    formats
        Any of :data:`FORMATS`: ``csv``, ``xlsx`` (a workbook for people: Read me, Summary and
        one sheet per state in plain headings, :mod:`equity.workbook`), ``geojson``, ``gpkg``,
        ``parquet`` (GeoParquet).
    stem
        File name without suffix.
    info
        What the workbook's Read me sheet says about the run (title, command, date,
        warnings, sources, the index's record for the glossary).
    extra_sheets
        More sheets for the XLSX workbook, after the states' (sheet name -> table; e.g.
        the national summary of a state-by-state run).

    Returns
    -------
    list[pathlib.Path]
        The files written, in the order of ``formats``.

    Raises
    ------
    ConfigError
        Unknown format or bad stem.
    DataError
        No rows, no ``GEOID`` column, or a geodata format asked for a table without geometry.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> df = pd.DataFrame({"rank": [1], "GEOID": ["51001"], "combined_score": [71.23456]})
    >>> [p.name for p in write_candidates(df, tempfile.mkdtemp(), formats=["csv"])]
    ['candidates.csv']
    """
    fmts = _check_formats(formats)
    stem = _check_stem(stem)
    if not isinstance(candidates, pd.DataFrame) or len(candidates) == 0:
        msg = "no candidates to write (empty table)"
        raise DataError(msg)
    if "GEOID" not in candidates.columns:
        raise SchemaError("candidates lack column 'GEOID'", source="write_candidates")
    geo = [f for f in fmts if f in ("geojson", "gpkg", "parquet")]
    if geo and not isinstance(candidates, gpd.GeoDataFrame):
        msg = f"format {geo[0]!r} needs a GeoDataFrame with geometry"
        raise DataError(msg)
    df = _ordered(candidates)
    table = _attribute_table(df)
    out = Path(out_dir)
    written: list[Path] = []
    with atomic_dir(out) as tmp:
        for fmt in fmts:
            name = f"{stem}{FORMATS[fmt]}"
            path = tmp / name
            if fmt == "csv":
                text = csv_safe(table).to_csv(index=False, lineterminator="\n")  # no formulas
                path.write_text(text, encoding="utf-8")
            elif fmt == "xlsx":
                _write_xlsx(table, path, info=info, extra=extra_sheets)
            else:
                gdf = gpd.GeoDataFrame(_geo_table(df), geometry=df.geometry.name, crs=df.crs)
                gdf.attrs = {}
                if fmt == "geojson":
                    gdf.to_file(path, driver="GeoJSON")
                elif fmt == "gpkg":
                    gdf.to_file(path, driver="GPKG", layer=stem)
                else:
                    gdf.to_parquet(path, index=False)
            written.append(out / name)
    logger.info("wrote %d candidate files to %s", len(written), out)
    return written


def _geo_table(df: gpd.GeoDataFrame) -> pd.DataFrame:
    """Geodata formats: text columns as strings, bools and ints as themselves."""
    geo = pd.DataFrame(df)
    for col in geo.columns:
        if col != df.geometry.name and _TEXT_COLUMNS_RE.search(col):
            geo[col] = geo[col].astype("string")
    return geo


def _sheet_names(names: list[str], *, taken: Sequence[str] = ("All",)) -> list[str]:
    """Excel-safe, unique sheet names (max 31 characters, no []:*?/\\), none of `taken`."""
    out: list[str] = []
    seen = {t.lower() for t in taken}
    for name in names:
        base = re.sub(r"[\[\]:*?/\\]", "_", name or "state").strip("'")[:31] or "state"
        candidate, i = base, 2
        while candidate.lower() in seen:
            suffix = f" ({i})"
            candidate = base[: 31 - len(suffix)] + suffix
            i += 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def _cell(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _write_xlsx(
    table: pd.DataFrame,
    path: Path,
    *,
    info: RunInfo | None = None,
    extra: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """The workbook for people (:mod:`equity.workbook`), with fixed timestamps.

    The cyclic garbage collector is paused meanwhile: openpyxl makes a few objects per cell,
    and each collection they trigger scans every object of the run (its tables, geometries,
    partners), which made the workbook four times slower in a run than on its own.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        data = write_workbook(table, path, info=info, cell=_cell, columns=COLUMNS, extra=extra)
    finally:
        if enabled:
            gc.enable()
    path.write_bytes(_reproducible_xlsx(data))


def _xlsx_timestamp() -> datetime.datetime:
    """Time written into an XLSX package: ``SOURCE_DATE_EPOCH`` when set, else the ZIP epoch.

    ``SOURCE_DATE_EPOCH`` is the reproducible-builds convention; the fixed default makes the
    same candidates give the same bytes.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.strip().isdigit():
        # ZIP dates run from 1980 to 2107
        stamp = datetime.datetime.fromtimestamp(min(int(epoch), 4_354_819_199), tz=datetime.UTC)
        return max(stamp.replace(tzinfo=None), datetime.datetime(1980, 1, 1))
    return datetime.datetime(1980, 1, 1)


def _reproducible_xlsx(data: bytes) -> bytes:
    """An XLSX package with fixed timestamps: its document properties and its ZIP entries.

    openpyxl stamps the time of saving into ``docProps/core.xml`` and into every ZIP entry,
    so two runs on the same candidates gave different bytes.
    """
    stamp = _xlsx_timestamp()
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + iso + rb"\g<2>",
                    content,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = info.compress_type
            entry.external_attr = info.external_attr
            dst.writestr(entry, content)
    return out.getvalue()


def read_candidates(path: str | os.PathLike[str], *, sheet: str | None = None) -> pd.DataFrame:
    """Read a file written by :func:`write_candidates` back, GEOIDs as text.

    Parameters
    ----------
    path
        A ``.csv``, ``.xlsx``, ``.geojson``, ``.gpkg`` or ``.parquet`` file.
    sheet
        XLSX: one sheet (a state's name, or ``Summary``); default every state sheet. The
        workbook's plain headings come back as code names; it holds the columns a person
        reads (:data:`equity.workbook.HEADERS`), the CSV all of them.

    Returns
    -------
    pandas.DataFrame
        A GeoDataFrame for the geodata formats.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.is_file():
        msg = f"{p}: no such file"
        raise DataError(msg)
    if suffix == ".csv":
        header = pd.read_csv(p, nrows=0).columns
        dtypes = {c: "string" for c in header if _TEXT_COLUMNS_RE.search(c)}
        return pd.read_csv(p, dtype=dtypes, keep_default_na=True)
    if suffix == ".xlsx":
        return read_workbook(p, sheet=sheet)
    if suffix in (".geojson", ".gpkg"):
        gdf = gpd.read_file(p)
        for col in gdf.columns:
            if _TEXT_COLUMNS_RE.search(col):
                gdf[col] = gdf[col].astype("string")  # names stay text even when all missing
            # GeoJSON cannot type an all-null column: it comes back as objects (None); text
            # columns (COLUMNS' unit "text" or "code") stay text, others become numbers
            elif gdf[col].dtype == object and gdf[col].isna().all():
                text = COLUMNS.get(col, ("", ""))[1] in ("text", "code")
                gdf[col] = gdf[col].astype("string" if text else float)
        return gdf
    if suffix == ".parquet":
        return gpd.read_parquet(p)
    msg = f"{p}: unknown candidate file type {suffix!r}"
    raise DataError(msg)


# --------------------------------------------------------------------------------------------
# level tables
# --------------------------------------------------------------------------------------------


def _jsonable(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """attrs that survive the Parquet metadata round trip (pandas stores them as JSON)."""
    try:
        return json.loads(json.dumps(dict(attrs), default=str))
    except (TypeError, ValueError):
        return {}


def write_level_tables(
    levels: Mapping[str, gpd.GeoDataFrame], out_dir: str | os.PathLike[str]
) -> list[Path]:
    """Write one GeoParquet file ``index_<level>.parquet`` per level, atomically.

    Parameters
    ----------
    levels
        Level name (``street``, ``blockgroup``, ``tract``, ``town``, ``county``, ``state``, or
        any lower-case name) -> level table.
    out_dir
        Folder to write into.

    Returns
    -------
    list[pathlib.Path]
        The files written, in the order of ``levels``.

    Raises
    ------
    DataError
        No levels, a bad level name or a table that is not a GeoDataFrame.
    """
    if not levels:
        msg = "no level tables to write"
        raise DataError(msg)
    problems = []
    for name, table in levels.items():
        if not re.fullmatch(r"[a-z0-9_]+", str(name)):
            problems.append(f"level name {name!r} must be lower-case letters, digits or '_'")
        if not isinstance(table, gpd.GeoDataFrame):
            problems.append(f"level {name!r} is a {type(table).__name__}, not a GeoDataFrame")
    if problems:
        raise SchemaError(problems, source="write_level_tables")
    out = Path(out_dir)
    written: list[Path] = []
    with atomic_dir(out) as tmp:
        for name, table in levels.items():
            copy = table.copy()
            copy.attrs = _jsonable(table.attrs)
            path = tmp / f"index_{name}.parquet"
            copy.to_parquet(path, index=False)
            written.append(out / path.name)
    logger.info("wrote %d level tables to %s", len(written), out)
    return written


# --------------------------------------------------------------------------------------------
# methods card
# --------------------------------------------------------------------------------------------


def write_methods(
    out_dir: str | os.PathLike[str],
    *,
    provenance: list[dict[str, Any]],
    parameters: Mapping[str, Any],
    command: str,
    weights: Mapping[str, float] | None = None,
    notes: list[str] | None = None,
    partners: Mapping[str, Any] | None = None,
    warnings: Sequence[str] | None = None,
    index: Mapping[str, Any] | None = None,
    candidates: pd.DataFrame | None = None,
    run_date: str | None = None,
    title: str = "Digital equity index",
    street: Mapping[str, Any] | None = None,
    sections: Sequence[tuple[str, str]] | None = None,
) -> Path:
    """Write ``METHODS.md``, the methods card of a run, atomically.

    The first part is for a reader who is not a statistician: the run's warnings, who was
    selected in each state and why, which data, what is missing and what that means, and the
    command. The technical appendix follows: the index method, the weights used, the
    indicators of each pillar with sources and vintages, the placement method, the coverage
    results, the partners, one table of the parameters actually used, the data sources and
    each licence once (:mod:`equity.methods`).

    Parameters
    ----------
    out_dir
        Folder to write into.
    provenance
        One dict per data source with ``source``, ``title``, ``publisher``, ``vintage``,
        ``licence``, ``attribution`` and ``path`` (the readers' ``attrs``).
    parameters
        Run parameters: the configuration's options (``Config.as_dict()``) and the stages'
        records under ``"index"`` and ``"placement"``
        (``rank_candidates(...).attrs["placement"]``); each is shown once, with the value used.
    command
        The exact command that reproduces the run.
    weights
        Pillar weights of the index.
    notes
        Free-text notes (caveats of the data).
    partners
        What the run did with its partner organisations
        (:func:`equity.placement.organisations.partner_methods`): sources, locating, merges,
        weights, decay, host score, NTEE selection; None leaves the section out.
    warnings
        The run's warnings (:mod:`equity.runwarnings`, e.g. a street level spread by area),
        shown first.
    index
        The index's record of the placement level (``attrs["index"]``): the indicators by
        pillar and their weights; default ``parameters["index"]``.
    candidates
        The ranked candidates: who was selected in each state and why.
    run_date
        Date of the run (default: ``SOURCE_DATE_EPOCH``'s date, else today, UTC).
    title
        The run's title.
    street
        The street level's summary (``extras["street"]`` of ``build_levels``): weights used,
        household floor, units ranked.
    sections
        More sections at the end, each ``(title, Markdown body)`` (e.g. the status of every
        state of a national run).

    Returns
    -------
    pathlib.Path
        Path of ``METHODS.md``.

    Raises
    ------
    ConfigError
        Empty command or provenance entries that are not mappings.

    Examples
    --------
    >>> import tempfile
    >>> p = write_methods(tempfile.mkdtemp(), provenance=[], parameters={"k": 1}, command="equity run")
    >>> "equity run" in p.read_text()
    True
    """
    from equity import __version__
    from equity.methods import methods_context, methods_template

    if not command or not str(command).strip():
        msg = "write_methods needs the exact command that reproduces the run"
        raise ConfigError(msg)
    if any(not isinstance(p, Mapping) for p in provenance):
        msg = "provenance must be a list of dicts (source, title, publisher, vintage, licence, ...)"
        raise ConfigError(msg)
    context = methods_context(
        version=__version__,
        command=str(command).strip(),
        provenance=provenance,
        parameters=parameters,
        weights=weights,
        notes=notes or [],
        partners=partners,
        warnings=list(warnings or []),
        index=index,
        candidates=candidates,
        run_date=run_date or RunInfo().date,
        source_columns=_SOURCE_COLUMNS,
        title=title,
        street=street,
    )
    context["sections"] = list(sections or [])
    path = Path(out_dir) / "METHODS.md"
    atomic_write_text(path, methods_template().render(**context))
    logger.info("wrote %s", path)
    return path

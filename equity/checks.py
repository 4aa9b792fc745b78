"""Checks across a run's inputs, made before any computation: :func:`check_dataset`.

Each reader checks its own file (:mod:`equity.sources._checks` and the schemas); what no
single reader can see is whether the files fit together. A run that used files which do
not would give a silent wrong answer; :func:`check_dataset` turns each case into a
:class:`~equity.errors.DataError` naming the file, the column and example values, or into a
stated :class:`~equity.errors.EquityWarning` that METHODS.md repeats:

- **roles**: each ``[data]`` file holds what its key needs (:data:`ROLES`): block groups
  under ``blockgroups`` (not tracts), the Microsoft *county* file under ``usage`` (not the ZIP
  file), County Business Patterns by county under ``business``, block-group ACS rows under
  ``acs``; ACS GEOIDs that lost their leading zero are zero-padded when that makes them match
  (with a warning);
- **keys**: the ACS rows and the block-group polygons share GEOIDs. None shared is an error
  that says why (another state, another level, lost leading zeros); in the states the ACS
  covers, fewer than :data:`MIN_KEY_COVERAGE` of the polygons with an ACS row is an error;
  any other gap is a warning with counts (a truncated ACS that loses a whole state says so);
- **counts**: finite, not negative, and no part larger than its universe (households without
  internet never exceed the households asked, so every share stays within [0, 1]);
- **county tables**: usage and business rows cover the region's counties (none: an error;
  some: a warning with counts);
- **blocks**: 2020 blocks, Ookla speeds by block and FCC BDC locations lie in the region's
  states (none: an error; some states without: a warning; :mod:`equity._blockchecks`);
- **extent**: Ookla tiles lie over the region (another region's tiles are an error); partner
  points lie within the service radius of it (latitude and longitude swapped is an error,
  points that are all far away a warning);
- **size**: the street grid's cells and memory, estimated from the block groups' area
  (:func:`estimate_grid`), fit the machine (or ``[grid] max_cells``); ``--force-size``
  (``max_cells = 0``) lifts the limit.

:func:`check_shares` is the last line of defence after indicators are computed: a share
outside [0, 1] is an error naming the place and its counts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from equity._blockchecks import check_block_keyed
from equity.errors import DataError, EquityWarning, SizeError
from equity.sources._checks import example

if TYPE_CHECKING:
    import geopandas as gpd

    from equity.config import Config
    from equity.pipeline.dataset import Dataset

__all__ = [
    "BYTES_PER_CELL",
    "MIN_KEY_COVERAGE",
    "ROLES",
    "GridEstimate",
    "Role",
    "check_dataset",
    "check_role",
    "check_shares",
    "estimate_grid",
]

log = logging.getLogger("equity.checks")

#: In the states the ACS covers, at least this share of the block-group polygons must have
#: an ACS row; below it the files do not belong together (an error), above it the polygons
#: without a row are left out with a warning saying how many.
MIN_KEY_COVERAGE: float = 0.5
#: Peak memory of the street grid per H3 cell covering the block groups (measured on the
#: sample region: 276 bytes at resolution 9, 240 at 10; rounded up).
BYTES_PER_CELL: int = 400
#: Share of the available memory the street grid may take before it is refused.
_MEMORY_SHARE = 0.8
_PLURAL = {"blockgroup": "block groups", "tract": "tracts", "county": "counties", "state": "states"}
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Role:
    """What a ``[data]`` key needs its file to hold.

    Parameters
    ----------
    key
        The ``[data]`` key.
    kind
        The kind of file (:data:`equity.sources.validate.KINDS`).
    geography
        The geography its rows must be (``attrs["geography"]`` of the reader's table); None
        when any.
    hint
        What to give instead, for the message.
    """

    key: str
    kind: str
    geography: str | None = None
    hint: str = ""


#: The ``[data]`` keys and what each needs (``equity validate --as KEY`` checks the same).
ROLES: dict[str, Role] = {
    r.key: r
    for r in (
        Role("states", "boundaries", "state", "a state boundary file (cb_2021_us_state_500k)"),
        Role("counties", "boundaries", "county", "a county boundary file (cb_2021_us_county)"),
        Role("tracts", "boundaries", "tract", "a tract boundary file (cb_2021_51_tract_500k)"),
        Role("blockgroups", "boundaries", "blockgroup", "a block-group file (cb_2021_51_bg_500k)"),
        Role("places", "boundaries", "place", "a place boundary file (cb_2021_51_place_500k)"),
        Role("cousubs", "boundaries", "cousub", "a county subdivision file (cb_2021_51_cousub)"),
        Role("towns", "boundaries"),
        Role(
            "acs",
            "acs",
            "blockgroup",
            "ACS estimates by block group (12-digit GEOIDs; 11 digits are tracts, or block "
            "groups that lost their leading zero: equity validate --config tells them apart)",
        ),
        Role("ookla", "ookla", None, "Ookla's tile file (quadkey, avg_d_kbps, ...)"),
        Role(
            "usage",
            "broadband_usage",
            "county",
            "Microsoft's county file (broadband_data_2020October.csv: ST, COUNTY ID, ...)",
        ),
        Role(
            "business",
            "business_patterns",
            "county",
            "County Business Patterns by county (cbp21co.txt: fipstate, fipscty, ...)",
        ),
        Role("libraries", "libraries"),
        Role("schools", "anchors"),
        Role("colleges", "colleges"),
        Role("nonprofits", "nonprofits"),
        Role("anchors", "anchors"),
        Role("partners", "partners"),
        Role("fcc", "fcc_bdc"),
        Role("blocks", "blocks"),  # read_blocks' own layouts (BLOCK_LAYOUTS), no validate kind
    )
}
#: ``Dataset.boundaries`` levels and their ``[data]`` keys.
_BOUNDARY_KEYS = {
    "state": "states",
    "county": "counties",
    "tract": "tracts",
    "blockgroup": "blockgroups",
    "place": "places",
    "cousub": "cousubs",
    "town": "towns",
}
_WORDS = {
    "state": "states",
    "county": "counties",
    "tract": "tracts",
    "blockgroup": "block groups",
    "block": "blocks",
    "place": "places",
    "cousub": "county subdivisions",
    "zcta": "ZIP code areas",
    "zip": "ZIP codes",
}
#: Partner sources (the prefix of ``partner_id``) and their ``[data]`` keys.
_PARTNER_KEYS = {
    "imls": "libraries",
    "ipeds": "colleges",
    "nces": "schools",
    "anchors": "anchors",
    "irs_bmf": "nonprofits",
    "list": "partners",
}


def _path(table: pd.DataFrame | None, default: str = "") -> str:
    return str(table.attrs.get("path", default)) if table is not None else default


def check_role(table: pd.DataFrame, key: str) -> None:
    """Raise :class:`DataError` when a table read for ``[data] key`` holds another geography.

    Examples
    --------
    >>> import pandas as pd
    >>> usage = pd.DataFrame({"GEOID": ["20001"]})
    >>> usage.attrs.update(path="zip.csv", geography="zip")
    >>> check_role(usage, "usage")
    Traceback (most recent call last):
    ...
    equity.errors.DataError: [data] usage = zip.csv: holds ZIP codes (column 'GEOID', e.g. '20001', 5 digits); usage needs Microsoft's county file (broadband_data_2020October.csv: ST, COUNTY ID, ...)
    """
    role = ROLES.get(key)
    if role is None or role.geography is None:
        return
    got = table.attrs.get("geography")
    if got is None or got == role.geography:
        return
    ids = pd.Series(table["GEOID"].dropna().unique() if "GEOID" in table else [], dtype=object)
    digits = f", {ids.astype(str).str.len().max()} digits" if len(ids) else ""
    msg = (
        f"[data] {key} = {_path(table)}: holds {_WORDS.get(str(got), got)} "
        f"(column 'GEOID', e.g. {example(ids, 2)}{digits}); {key} needs {role.hint}"
    )
    raise DataError(msg)


# -- the dataset -----------------------------------------------------------------------------------


@dataclass
class _Report:
    """Warnings of one check run, kept for METHODS.md."""

    notes: list[str] = dataclasses.field(default_factory=list)

    def warn(self, message: str) -> None:
        self.notes.append(message)
        warnings.warn(message, EquityWarning, stacklevel=4)


def check_dataset(ds: Dataset, cfg: Config | None = None) -> Dataset:
    """Check that a run's inputs fit together; return the dataset, repaired where stated.

    Parameters
    ----------
    ds
        The loaded inputs (:func:`equity.pipeline.load_dataset`).
    cfg
        The run configuration: its levels (the street grid's size is checked when they
        include ``street``), ``[grid]`` options and service radius; None checks the inputs
        only.

    Returns
    -------
    Dataset
        `ds` with the warnings appended to ``notes`` (METHODS.md repeats them) and, when
        stated, ACS GEOIDs zero-padded. `ds` itself is not changed.

    Raises
    ------
    DataError
        Files that do not fit together (see the module notes); the message names the file,
        the column and example values.
    SizeError
        A street grid too large for the machine.

    Warns
    -----
    EquityWarning
        Partial coverage, points far from the region, repairs made while reading.
    """
    report = _Report()
    _replay_repairs(ds, report)
    _check_boundary_roles(ds)
    for key, table in (("usage", ds.usage), ("business", ds.business)):
        if table is not None:
            check_role(table, key)
    polygons = ds.boundaries.get(ds.base_level)
    acs = ds.acs
    if polygons is not None:
        if ds.counts is None:
            acs = _acs_level(ds.acs, polygons, report)
        counts = ds.counts if ds.counts is not None else _counts(acs)
        _check_keys(counts, polygons, ds, report)
        src = _path(acs if ds.counts is None else ds.counts, "counts")
        _check_counts(counts, src, acs=ds.counts is None)
        _check_county_tables(ds, polygons, report)
        _check_tiles(ds.tiles, polygons)
        blocks = {"blocks": ds.blocks, "block_speeds": ds.block_speeds, "fcc": ds.fcc}
        check_block_keyed(blocks, polygons["GEOID"], report.warn)
        _check_points(ds.anchors, polygons, cfg, report)
        if cfg is not None:
            _check_grid(polygons, cfg)
    if not report.notes and acs is ds.acs:
        return ds
    return dataclasses.replace(ds, acs=acs, notes=[*ds.notes, *report.notes])


def _replay_repairs(ds: Dataset, report: _Report) -> None:
    """Repairs the readers made (kept in ``attrs["repairs"]``, also on tables from the cache)."""
    tables: list[Any] = [*ds.boundaries.values(), ds.acs, ds.tiles, ds.usage, ds.business]
    for table in tables:
        if table is not None:
            for message in table.attrs.get("repairs", []):
                report.warn(str(message))


def _check_boundary_roles(ds: Dataset) -> None:
    for level, table in ds.boundaries.items():
        key = _BOUNDARY_KEYS.get(level)
        if key is not None:
            check_role(table, key)


def _counts(acs: pd.DataFrame) -> pd.DataFrame:
    from equity.indicators import counts_from_acs

    return counts_from_acs(acs)


# -- keys --------------------------------------------------------------------------------------------


def _acs_level(acs: pd.DataFrame, polygons: gpd.GeoDataFrame, report: _Report) -> pd.DataFrame:
    """Block-group ACS rows: codes that lost their leading zero padded back (when that makes
    them match the polygons), any other level an error."""
    got = acs.attrs.get("geography", acs.attrs.get("level"))
    if got in (None, "blockgroup"):
        return acs
    ids = acs["GEOID"].astype("str")
    padded = ids.str.zfill(12)
    matched = padded.isin(set(polygons["GEOID"]))
    short = ids.str.len() == 11
    if got == "tract" and short.all() and matched.mean() >= MIN_KEY_COVERAGE:
        out = acs.copy()
        out["GEOID"] = padded.to_numpy()
        out.attrs = {**acs.attrs, "geography": "blockgroup", "level": "blockgroup"}
        report.warn(
            f"{_path(acs)}: column 'GEOID': {len(ids):,} block-group codes had lost their "
            f"leading zero (e.g. {ids.iloc[0]!r}); read as {padded.iloc[0]!r}"
        )
        return out
    msg = (
        f"[data] acs = {_path(acs)}: holds {_WORDS.get(str(got), got)} (column 'GEOID', e.g. "
        f"{example(ids.head(2))}, {ids.str.len().max()} digits); acs needs ACS estimates by "
        "block group (12-digit GEOIDs), and zero-padded these codes match too few of the "
        "block groups to be ones that lost their leading zero"
    )
    raise DataError(msg)


def _check_keys(
    counts: pd.DataFrame, polygons: gpd.GeoDataFrame, ds: Dataset, report: _Report
) -> None:
    """The count rows and the base polygons share their GEOIDs (see :data:`MIN_KEY_COVERAGE`)."""
    level = ds.base_level
    words = _PLURAL.get(level, level)
    rows = pd.Index(counts["GEOID"].astype("str").unique())
    polys = pd.Index(polygons["GEOID"].astype("str").unique())
    src = _path(ds.acs if ds.counts is None else ds.counts, "counts")
    where = _path(polygons, f"the {words}")
    matched = rows.intersection(polys)
    if len(matched) == 0:
        msg = (
            f"{src}: column 'GEOID': none of its {len(rows):,} GEOIDs (e.g. {example(rows, 2)}) "
            f"matches the {len(polys):,} {words} of {where} (e.g. {example(polys, 2)})"
            f"{_why_no_match(rows, polys)}"
        )
        raise DataError(msg)
    _polygons_without_rows(polys, rows, level=level, src=src, where=where, report=report)
    _rows_without_polygons(counts, polys, matched, src=src, where=where, words=words, report=report)


def _why_no_match(rows: pd.Index, polys: pd.Index) -> str:
    """The likely reason two sets of GEOIDs share none."""
    r_len, p_len = rows.str.len(), polys.str.len()
    if r_len.max() != p_len.max():
        return (
            f": its codes have {r_len.max()} digits, the polygons' {p_len.max()} "
            "(another level: tracts for block groups?)"
        )
    r_states, p_states = set(rows.str[:2]), set(polys.str[:2])
    if not r_states & p_states:
        return (
            f": it covers state(s) {example(sorted(r_states))}, the polygons "
            f"{example(sorted(p_states))} (another state's file?)"
        )
    if rows.str.lstrip("0").isin(set(polys.str.lstrip("0"))).any():
        return ": the codes differ only in leading zeros"
    return " (another vintage or another level of the same area?)"


def _polygons_without_rows(
    polys: pd.Index, rows: pd.Index, *, level: str, src: str, where: str, report: _Report
) -> None:
    words = _PLURAL.get(level, level)
    missing = polys.difference(rows)
    if not len(missing):
        return
    row_states = set(rows.str[:2])
    lost_states = sorted(set(missing.str[:2]) - row_states)
    in_scope = polys[polys.str[:2].isin(row_states)]
    lacking = missing[missing.str[:2].isin(row_states)]
    share = 1 - len(lacking) / len(in_scope) if len(in_scope) else 1.0
    if share < MIN_KEY_COVERAGE:
        msg = (
            f"{src}: column 'GEOID': only {len(in_scope) - len(lacking):,} of the "
            f"{len(in_scope):,} {words} of {where} in its states have a row "
            f"({share:.0%}; at least {MIN_KEY_COVERAGE:.0%} needed), e.g. no row for "
            f"{example(lacking, 2)} (a truncated or partial file?)"
        )
        raise DataError(msg)
    parts = []
    if lost_states:
        n_lost = int(missing.str[:2].isin(lost_states).sum())
        parts.append(
            f"all {n_lost:,} of state(s) {example(lost_states)}, which {src} does not cover "
            "(a truncated file?)"
        )
    if len(lacking):
        parts.append(f"{len(lacking):,} in its states, e.g. {example(lacking, 2)}")
    report.warn(
        f"{len(missing):,} of the {len(polys):,} {words} of {where} have no row in {src} and "
        f"are left out: {'; '.join(parts)}"
    )


def _rows_without_polygons(
    counts: pd.DataFrame,
    polys: pd.Index,
    matched: pd.Index,
    *,
    src: str,
    where: str,
    words: str,
    report: _Report,
) -> None:
    ids = counts["GEOID"].astype("str")
    orphan = ~ids.isin(polys)
    if not orphan.any():
        return
    if len(matched) < MIN_KEY_COVERAGE * ids.nunique():
        msg = (
            f"{src}: column 'GEOID': {int(orphan.sum()):,} of its {len(ids):,} rows have no "
            f"polygon in {where} (e.g. {example(ids[orphan], 2)}): the boundaries cover "
            "another area or vintage"
        )
        raise DataError(msg)
    households = counts.loc[orphan, "households"] if "households" in counts else pd.Series([])
    lost = float(np.nansum(households.to_numpy(dtype=float)))
    text = (
        f"{int(orphan.sum()):,} rows of {src} have no polygon in {where} and are left out "
        f"(e.g. {example(ids[orphan], 2)}; {lost:,.0f} households)"
    )
    if lost > 0:
        report.warn(text)
    else:  # water-only block groups: nothing lost
        log.info(text)


# -- counts ------------------------------------------------------------------------------------------


def _acs_source(count: str) -> str:
    """The ACS estimate column(s) a count comes from (``B28002_013E``), for messages."""
    from equity.indicators import ACS_COUNTS

    spec = ACS_COUNTS.get(count)
    if spec is None:
        return count
    plus, minus = spec
    text = " + ".join(f"{v}E" for v in plus[:2]) + (" + ..." if len(plus) > 2 else "")
    return f"{count}, from {text}" + (f" - {minus[0]}E" if minus else "")


def _check_counts(counts: pd.DataFrame, src: str, *, acs: bool = True) -> None:
    """Counts finite and not negative; no part of a universe larger than the universe
    (named with their ACS columns when `acs`: counts computed from the ACS file)."""
    from equity.indicators import REGISTRY
    from equity.sources._checks import check_counts

    columns = [c for c in counts.columns if c != "GEOID" and not c.startswith("median_")]
    check_counts(counts, columns, path=src)
    name = _acs_source if acs else str
    problems = []
    if "households" in counts and counts["households"].isna().any():
        gaps = counts.loc[counts["households"].isna(), "GEOID"]
        problems.append(
            f"column {name('households')!r}: {len(gaps):,} row(s) without a household "
            f"count (blank or a Census sentinel), e.g. GEOID {example(gaps, 2)}: households are "
            "conserved across levels, so every place needs one"
        )
    for ind in REGISTRY.values():
        if ind.unit != "share" or not ind.numerator or not all(c in counts for c in ind.inputs):
            continue
        num = sum(counts[c].to_numpy(dtype=float, na_value=np.nan) for c in ind.numerator)
        den = counts[ind.denominator].to_numpy(dtype=float, na_value=np.nan)
        over = np.asarray(num > den * (1 + _TOLERANCE) + _TOLERANCE)
        if over.any():
            i = int(np.flatnonzero(over)[0])
            share = num[i] / den[i] if den[i] > 0 else math.inf
            problems.append(
                f"column {name(ind.numerator[0])!r} is larger than its universe "
                f"{name(str(ind.denominator))!r} in {int(over.sum()):,} row(s), e.g. GEOID "
                f"{counts['GEOID'].iloc[i]!r}: {num[i]:,.0f} of {den[i]:,.0f} (a share of "
                f"{share:,.2f})"
            )
    if problems:
        msg = f"{src}: " + "; ".join(dict.fromkeys(problems))
        raise DataError(msg)


def check_shares(table: pd.DataFrame, columns: Iterable[str], *, where: str = "") -> None:
    """Raise :class:`DataError` when a computed share lies outside [0, 1].

    Parameters
    ----------
    table
        A table with ``GEOID`` and the shares.
    columns
        The share columns to check.
    where
        What the table is (a level, a file), for the message.

    Examples
    --------
    >>> import pandas as pd
    >>> check_shares(pd.DataFrame({"GEOID": ["1"], "share_x": [841.75]}), ["share_x"])
    Traceback (most recent call last):
    ...
    equity.errors.DataError: column 'share_x': 1 share(s) outside [0, 1], e.g. 841.75 (GEOID '1')
    """
    problems = []
    for col in columns:
        if col not in table:
            continue
        v = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = (v < -_TOLERANCE) | (v > 1 + _TOLERANCE) | np.isinf(v)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            name = f" (GEOID {table['GEOID'].iloc[i]!r})" if "GEOID" in table else ""
            problems.append(
                f"column {col!r}: {int(bad.sum()):,} share(s) outside [0, 1], e.g. {v[i]:g}{name}"
            )
    if problems:
        raise DataError((f"{where}: " if where else "") + "; ".join(problems))


# -- county tables, tiles, points ----------------------------------------------------------------


def _check_county_tables(ds: Dataset, polygons: gpd.GeoDataFrame, report: _Report) -> None:
    counties = pd.Index(polygons["GEOID"].astype("str").str[:5].unique())
    for key, table in (("usage", ds.usage), ("business", ds.business)):
        if table is None or "GEOID" not in table:
            continue
        have = pd.Index(table["GEOID"].astype("str").unique())
        missing = counties.difference(have)
        if len(missing) == len(counties):
            msg = (
                f"[data] {key} = {_path(table)}: column 'GEOID': none of the region's "
                f"{len(counties):,} counties (e.g. {example(counties, 2)}) is in the file "
                f"(e.g. {example(have, 2)}): another region's file?"
            )
            raise DataError(msg)
        if len(missing):
            report.warn(
                f"[data] {key} = {_path(table)}: {len(missing):,} of the region's "
                f"{len(counties):,} counties have no row (e.g. {example(missing, 2)}); their "
                f"{key} indicators are missing"
            )


def _bounds(polygons: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in polygons.total_bounds)
    return x0, y0, x1, y1


def _describe(bounds: Iterable[float]) -> str:
    x0, y0, x1, y1 = bounds
    return f"longitude {x0:.2f}..{x1:.2f}, latitude {y0:.2f}..{y1:.2f}"


def _check_tiles(tiles: gpd.GeoDataFrame | None, polygons: gpd.GeoDataFrame) -> None:
    """Ookla tiles over the region: none at all is another region's file."""
    if tiles is None or tiles.empty:
        return
    x0, y0, x1, y1 = _bounds(polygons)
    b = shapely.bounds(tiles.geometry.to_numpy())
    over = (b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1) & (b[:, 3] >= y0)
    if over.any():
        return
    msg = (
        f"[data] ookla = {_path(tiles)}: none of its {len(tiles):,} tiles (column 'quadkey', "
        f"e.g. {example(tiles['quadkey'], 2) if 'quadkey' in tiles else '-'}; "
        f"{_describe(np.nanmin(b[:, :2], axis=0).tolist() + np.nanmax(b[:, 2:], axis=0).tolist())}"
        f") lies over the region ({_describe((x0, y0, x1, y1))}): another region's tiles?"
    )
    raise DataError(msg)


def _inside(xy: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.asarray(
        (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1), dtype=bool
    )


def _check_points(
    anchors: gpd.GeoDataFrame | None,
    polygons: gpd.GeoDataFrame,
    cfg: Config | None,
    report: _Report,
) -> None:
    """Partner points of each source near the region; swapped coordinates an error."""
    if anchors is None or anchors.empty or "partner_id" not in anchors:
        return
    radius = float(cfg.radius_km) if cfg is not None else 25.0
    x0, y0, x1, y1 = _bounds(polygons)
    dy = radius / 111.0
    dx = radius / (111.0 * max(math.cos(math.radians(max(abs(y0), abs(y1)))), 0.05))
    box = (x0 - dx, y0 - dy, x1 + dx, y1 + dy)
    source = anchors["partner_id"].astype("str").str.split(":", n=1).str[0]
    xy = shapely.get_coordinates(anchors.geometry.to_numpy())
    for name, rows in source.groupby(source).groups.items():
        idx = anchors.index.get_indexer(rows)
        pts = xy[idx]
        if _inside(pts, box).any():
            continue
        key = _PARTNER_KEYS.get(str(name), str(name))
        files = cfg.data.get(key) if cfg is not None else None
        shown = (
            f" = {', '.join(map(str, files)) if isinstance(files, list) else files}"
            if files
            else ""
        )
        where = f"[data] {key}{shown} ({len(pts):,} located organisations"
        swapped = _inside(pts[:, ::-1], box)
        if swapped.mean() >= MIN_KEY_COVERAGE:
            msg = (
                f"{where}): none lies within {radius:g} km of the region "
                f"({_describe(box)}), but {int(swapped.sum()):,} would with latitude and "
                f"longitude swapped (e.g. longitude {pts[0, 0]:.4f}, latitude {pts[0, 1]:.4f}): "
                "are the longitude and latitude columns swapped?"
            )
            raise DataError(msg)
        report.warn(
            f"{where}): none lies within {radius:g} km of the region ({_describe(box)}; e.g. "
            f"longitude {pts[0, 0]:.4f}, latitude {pts[0, 1]:.4f}); they play no part in "
            "readiness"
        )


# -- size ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridEstimate:
    """The street grid's size, estimated before it is built (:func:`estimate_grid`)."""

    resolution: int
    area_km2: float
    cell_km2: float
    cells: int
    bytes: int
    available: int | None

    def describe(self) -> str:
        """``about 456,000 cells (48,083 km2 / 0.105 km2), about 0.2 GB``."""
        return (
            f"about {self.cells:,} cells ({self.area_km2:,.0f} km2 / {self.cell_km2:.3g} km2 "
            f"per cell at H3 resolution {self.resolution}), about {_gb(self.bytes)} of memory"
        )


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable``), None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def estimate_grid(polygons: gpd.GeoDataFrame, resolution: int) -> GridEstimate:
    """Cells and peak memory of the street grid over `polygons` at H3 `resolution`.

    The grid first covers every polygon with cells (then keeps those with households), so
    its cost follows the covered area: cells = area / H3's average cell area at the
    resolution, memory = cells x :data:`BYTES_PER_CELL`.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> square = gpd.GeoDataFrame(geometry=[shapely.box(-77.1, 38.8, -77.0, 38.9)], crs=4326)
    >>> est = estimate_grid(square, 9)
    >>> 800 < est.cells < 1000
    True
    """
    import h3

    area = float(polygons.geometry.to_crs("EPSG:6933").area.sum()) / 1e6
    cell = float(h3.average_hexagon_area(int(resolution), "km^2"))
    cells = int(math.ceil(area / cell)) if area > 0 else 0
    return GridEstimate(
        resolution=int(resolution),
        area_km2=area,
        cell_km2=cell,
        cells=cells,
        bytes=cells * BYTES_PER_CELL,
        available=available_memory(),
    )


def _check_grid(polygons: gpd.GeoDataFrame, cfg: Config) -> None:
    """Refuse a street grid beyond ``[grid] max_cells`` or the machine's memory."""
    if "street" not in cfg.levels:
        return
    limit = getattr(cfg, "grid_max_cells", None)
    if limit == 0:
        return  # --force-size (on Dask too: the workers hold a county each, but the client
        # combines every cell of the region)
    est = estimate_grid(polygons, cfg.grid_resolution)
    if limit is not None:
        over = est.cells > limit
        why = f"more than [grid] max_cells = {limit:,}"
    else:
        over = est.available is not None and est.bytes > _MEMORY_SHARE * est.available
        why = f"more than the {_gb(est.available or 0)} of memory available"
    log.info("street grid: %s", est.describe())
    if over:
        msg = (
            f"grid.resolution = {cfg.grid_resolution}: the street grid would have "
            f"{est.describe()}, {why}; choose a coarser resolution (9 is about 0.1 km2 per "
            "cell), or raise [grid] max_cells, or pass --force-size"
        )
        raise SizeError(msg)

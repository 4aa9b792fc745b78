"""Checks the readers share beyond their column schemas: what a file is, its geometries and
coordinates, and counts that are finite and not negative.

Each check turns a file that would give a silent wrong answer into a
:class:`~equity.errors.DataError` (or :class:`~equity.errors.SchemaError`) naming the file,
the column and an example value, or repairs it with a stated
:class:`~equity.errors.EquityWarning` (also kept in ``attrs["repairs"]``, which a run repeats
in METHODS.md):

- :func:`binary_kind`: an Excel workbook, a zip, Parquet, a GeoPackage, a PDF or an HTML page
  given where a text table is read (by their first bytes);
- :func:`check_geometries`: missing, empty or NaN geometries are refused (naming the ids);
  points or lines where polygons are needed are refused; self-intersecting polygons are
  repaired (``shapely.make_valid``, polygonal parts kept) with a warning;
- :func:`check_degrees`: coordinates outside -180..180 / -90..90 in a file that says it is in
  degrees (projected metres under an EPSG:4326 label) are refused;
- :func:`check_counts`: counts that are infinite or negative are refused.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from equity.errors import DataError, EquityWarning, SchemaError

__all__ = [
    "binary_kind",
    "check_counts",
    "check_degrees",
    "check_geometries",
    "example",
    "repair_note",
]

#: First bytes of file kinds that are not text tables, and what to call them.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one)"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 (.xls) workbook"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3", "a SQLite database or GeoPackage"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"\xfd7zXZ", "an xz-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\x00\x00\x27\x0a", "a shapefile (.shp)"),
)
_POLYGONAL = ("Polygon", "MultiPolygon")


def binary_kind(head: bytes) -> str | None:
    """What a file that is not a text table is, from its first bytes (None: text).

    Examples
    --------
    >>> binary_kind(b"PK\\x03\\x04rest")
    'a zip archive (an Excel .xlsx workbook is one)'
    >>> binary_kind(b"<!DOCTYPE html><html>")
    'an HTML page'
    >>> binary_kind(b"GEOID,x") is None
    True
    """
    for magic, what in _MAGIC:
        if head.startswith(magic):
            if magic == b"PK\x03\x04" and b"xl/" in head[:2048]:
                return "an Excel workbook (.xlsx)"
            return what
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")):
        return "an HTML page" if b"html" in text else "an XML document"
    return None


def example(values: Iterable[Any], limit: int = 3) -> str:
    """A few values for a message: ``'51001', '51003' and 3 more``."""
    items = list(values)
    shown = ", ".join(repr(_plain(v)) for v in items[:limit])
    more = len(items) - limit
    return shown + (f" and {more:,} more" if more > 0 else "")


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def repair_note(table: pd.DataFrame, message: str) -> None:
    """Warn (:class:`EquityWarning`) and keep `message` in ``table.attrs["repairs"]``."""
    table.attrs.setdefault("repairs", []).append(message)
    warnings.warn(message, EquityWarning, stacklevel=3)


# -- geometries -------------------------------------------------------------------------------------


def check_geometries(
    gdf: gpd.GeoDataFrame,
    *,
    path: object,
    id_column: str = "GEOID",
    polygons: bool = True,
    repair: bool = True,
) -> gpd.GeoDataFrame:
    """Refuse missing, empty, NaN and wrong-type geometries; repair invalid polygons.

    Parameters
    ----------
    gdf
        The features (not changed).
    path
        The file, for messages.
    id_column
        Column naming each feature in messages.
    polygons
        Require polygons (boundaries); False accepts any type (tiles, points).
    repair
        Repair invalid (self-intersecting) polygons with a warning; False refuses them.

    Returns
    -------
    geopandas.GeoDataFrame
        `gdf`, or a copy with the repaired polygons (``attrs["repairs"]`` says which).

    Raises
    ------
    SchemaError
        Every problem found, each naming ``geometry`` and example ids.
    """
    geoms = gdf.geometry.to_numpy()
    ids = gdf[id_column] if id_column in gdf else pd.Series(gdf.index, index=gdf.index)
    problems = []
    missing = pd.isna(geoms) | shapely.is_empty(geoms)
    if missing.any():
        problems.append(
            f"column 'geometry': {int(missing.sum()):,} feature(s) without a geometry (null or "
            f"empty), e.g. {id_column} {example(ids[missing])}"
        )
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad = np.zeros(len(geoms), dtype=bool)
    bad[index[~np.isfinite(coords).all(axis=1)]] = True
    if bad.any():
        problems.append(
            f"column 'geometry': {int(bad.sum()):,} feature(s) with NaN or infinite "
            f"coordinates, e.g. {id_column} {example(ids[bad])}"
        )
    if polygons:
        types = pd.Series(shapely.get_type_id(geoms), index=gdf.index)
        wrong = ~missing & ~types.isin([3, 6]).to_numpy()
        if wrong.any():
            names = pd.Series(gdf.geometry.geom_type, index=gdf.index)[wrong]
            kinds = ", ".join(f"{n:,} {t}" for t, n in names.value_counts().items())
            problems.append(
                f"column 'geometry': {kinds} feature(s) where polygons are needed (points are "
                f"not areas: centroids?), e.g. {id_column} {example(ids[wrong])}"
            )
    if problems:
        raise SchemaError(problems, source=str(path))
    return _repair_invalid(gdf, ids, path=path, id_column=id_column, repair=repair)


def _repair_invalid(
    gdf: gpd.GeoDataFrame, ids: pd.Series, *, path: object, id_column: str, repair: bool
) -> gpd.GeoDataFrame:
    geoms = gdf.geometry.to_numpy()
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6])
    invalid = polygonal & ~shapely.is_valid(geoms)
    if not invalid.any():
        return gdf
    reason = shapely.is_valid_reason(geoms[invalid][0])
    what = (
        f"{int(invalid.sum()):,} invalid polygon(s) (e.g. {id_column} "
        f"{example(ids[invalid], 2)}: {reason})"
    )
    if not repair:
        raise SchemaError([f"column 'geometry': {what}"], source=str(path))
    fixed = shapely.make_valid(geoms[invalid])
    fixed = np.array([_polygonal_part(g) for g in fixed], dtype=object)
    empty = shapely.is_empty(fixed)
    if empty.any():
        msg = (
            f"column 'geometry': {what}; {int(empty.sum())} cannot be repaired into an area, "
            f"e.g. {id_column} {example(ids[invalid][empty])}"
        )
        raise SchemaError([msg], source=str(path))
    out = gdf.copy()
    out.loc[invalid, out.geometry.name] = fixed
    repair_note(out, f"{path}: {what} repaired with shapely.make_valid")
    return out


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of a repaired geometry (a collection may hold lines and points too)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def check_degrees(gdf: gpd.GeoDataFrame, *, path: object, id_column: str = "GEOID") -> None:
    """Refuse coordinates outside -180..180 / -90..90 under a geographic CRS.

    A shapefile of projected coordinates (metres) with a ``.prj`` saying EPSG:4326 would put
    every polygon far off the Earth; the areas, overlaps and maps would all be wrong.
    """
    if gdf.crs is None or not gdf.crs.is_geographic or gdf.empty:
        return
    coords, index = shapely.get_coordinates(gdf.geometry.to_numpy(), return_index=True)
    if not len(coords):
        return
    outside = (np.abs(coords[:, 0]) > 180.0 + 1e-6) | (np.abs(coords[:, 1]) > 90.0 + 1e-6)
    if not outside.any():
        return
    first = int(np.flatnonzero(outside)[0])
    x, y = coords[first]
    ids = gdf[id_column].to_numpy() if id_column in gdf else gdf.index.to_numpy()
    n = len(np.unique(index[outside]))
    guess = " (projected metres?)" if max(abs(x), abs(y)) > 1000 else ""
    msg = (
        f"column 'geometry': {n:,} feature(s) have coordinates outside -180..180 / -90..90, "
        f"e.g. x={x:,.1f}, y={y:,.1f} ({id_column} {_plain(ids[index[first]])!r}), but the file "
        f"says its CRS is {gdf.crs.to_string()} (degrees): the coordinates are in another "
        f"CRS{guess}; fix the .prj or reproject"
    )
    raise DataError(f"{path}: {msg}")


# -- values ------------------------------------------------------------------------------------------


def check_counts(
    df: pd.DataFrame, columns: Iterable[str], *, path: object, key: str = "GEOID"
) -> None:
    """Raise :class:`SchemaError` listing every count column with infinite or negative values.

    Parameters
    ----------
    df
        The table.
    columns
        Its count columns (numbers that cannot be negative).
    path
        The file, for messages.
    key
        Column naming the row in messages.

    Examples
    --------
    >>> import pandas as pd
    >>> check_counts(pd.DataFrame({"GEOID": ["1"], "n": [float("inf")]}), ["n"], path="x.csv")
    Traceback (most recent call last):
    ...
    equity.errors.SchemaError: x.csv: column 'n': 1 value(s) not finite, e.g. inf (GEOID '1')
    """
    problems = []
    for col in columns:
        if col not in df or not pd.api.types.is_numeric_dtype(df[col]):
            continue
        v = df[col].to_numpy(dtype=float, na_value=np.nan)
        for mask, what in ((np.isinf(v), "not finite"), (v < 0, "negative")):
            if mask.any():
                i = int(np.flatnonzero(mask)[0])
                where = f" ({key} {_plain(df[key].iloc[i])!r})" if key in df else ""
                problems.append(
                    f"column {col!r}: {int(mask.sum()):,} value(s) {what}, e.g. {v[i]:g}{where}"
                )
    if problems:
        raise SchemaError(problems, source=str(path))


def read_table(path: object, *, dtype: Any = None) -> pd.DataFrame:
    """A CSV read with pandas' type inference, after the readers' own checks.

    The file must exist and hold text (an Excel workbook, a Parquet file or an HTML page is
    named as such), in a known encoding, with a header and at least one data row; the
    delimiter is sniffed from the header. Parse errors name the file.
    """
    import csv
    import io

    from equity.sources._common import read_text, require_rows, sniff_delimiter

    text, _ = read_text(str(path))
    if not text.strip():
        msg = f"{path}: file has no text lines"
        raise DataError(msg)
    sep = sniff_delimiter(text.split("\n", 1)[0], path=str(path))
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=dtype)
    except pd.errors.EmptyDataError as exc:
        msg = f"{path}: no header line"
        raise DataError(msg) from exc
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        msg = f"{path}: cannot parse as delimited text: {' '.join(str(exc).split())}"
        raise DataError(msg) from exc
    require_rows(df, path=str(path))
    return df

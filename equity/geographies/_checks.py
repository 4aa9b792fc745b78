"""Input checks shared by the geography functions: columns, ids, numbers, geometries.

Each raises an :mod:`equity.errors` type with a message naming the table (`name`), the
column and an example value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from equity.errors import DataError, SchemaError


def _require_columns(table: pd.DataFrame, columns: Iterable[str], *, name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        have = ", ".join(map(str, list(table.columns)[:12]))
        msg = f"{name} lacks column(s) {', '.join(map(repr, missing))} (it has: {have})"
        raise SchemaError(msg)


def _as_str_ids(values: pd.Series, *, name: str, column: str) -> pd.Series:
    """GEOIDs as strings; refuses numbers (leading zeros would be lost) and missing values."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        example = values.iloc[0] if len(values) else None
        msg = (
            f"{name}: column {column!r} holds numbers (dtype {values.dtype}, e.g. {example!r}); "
            "GEOIDs must be zero-padded strings, read them with dtype=str"
        )
        raise SchemaError(msg)
    if values.isna().any():
        msg = f"{name}: column {column!r} has {int(values.isna().sum())} missing ids"
        raise SchemaError(msg)
    return values.astype("str")


def _check_unique(ids: pd.Series, *, name: str, what: str) -> None:
    """Refuse duplicate ids: ``<name> has duplicate <what> (e.g. <first duplicate>)``."""
    if ids.duplicated().any():
        msg = f"{name} has duplicate {what} (e.g. {ids[ids.duplicated()].iloc[0]!r})"
        raise SchemaError(msg)


def _numeric(table: pd.DataFrame, column: str, *, name: str) -> np.ndarray:
    values = table[column]
    if not (pd.api.types.is_numeric_dtype(values.dtype) or values.isna().all()):
        example = values.dropna().iloc[0]
        msg = f"{name}: column {column!r} is not numeric (dtype {values.dtype}, e.g. {example!r})"
        raise SchemaError(msg)
    return values.to_numpy(dtype=float, na_value=np.nan)


def _check_geo(gdf: gpd.GeoDataFrame, *, name: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"{name} must be a GeoDataFrame, got {type(gdf).__name__}"
        raise SchemaError(msg)
    if gdf.crs is None:
        msg = f"{name} has no CRS; set it (e.g. gdf.set_crs('EPSG:4326'))"
        raise SchemaError(msg)
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        msg = f"{name} has {int(empty.sum())} missing or empty geometries (row {gdf.index[empty][0]!r})"
        raise DataError(msg)


def _as_list(x: str | Sequence[str] | None) -> list[str]:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)

"""How the parts of a distributed step are made and named (plain functions, no dask needed).

Rows are grouped into partitions of whole keys (counties, tile-grid cells) balanced by row
count (:func:`assign_partitions`); each partition of tiles gets the polygons near it
(:func:`partitions_overlapping`); a part is named after its county for error messages
(:func:`part_name`, :func:`_named`). Used by :mod:`equity.engine` and :mod:`equity.processes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from equity.errors import EquityError

__all__ = [
    "PARTITION_WIDTH",
    "TILE_GRID_DEG",
    "assign_partitions",
    "part_name",
    "partitions_overlapping",
]

#: Width of the block-group GEOID prefix used as partition key.
PARTITION_WIDTH: dict[str, int] = {"county": 5, "state": 2}
#: Side (degrees) of the lon/lat grid cells partitioning Ookla tiles by their centroid.
TILE_GRID_DEG = 0.5


def assign_partitions(keys: Sequence[Any] | np.ndarray, n: int) -> np.ndarray:
    """Group rows into at most `n` partitions of whole keys, balanced by row count.

    Parameters
    ----------
    keys
        One partition key per row (e.g. county GEOIDs); rows with the same key always share
        a partition.
    n
        Wanted number of partitions (fewer when there are fewer keys).

    Returns
    -------
    numpy.ndarray
        Partition number (0, 1, ... consecutive) of each row; keys are taken in sorted order
        and cut into contiguous runs of about equal row counts.

    Examples
    --------
    >>> assign_partitions(["51003", "51001", "51001", "24001"], 2).tolist()
    [1, 0, 0, 0]
    """
    keys = np.asarray(keys)
    if not len(keys):
        return np.zeros(0, dtype=np.intp)
    uniq, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    n = max(1, min(int(n), len(uniq)))
    before = np.cumsum(sizes) - sizes  # rows of the keys sorted before each key
    group = np.floor(before / len(keys) * n).astype(np.intp)
    _, group = np.unique(group, return_inverse=True)  # consecutive numbers
    return group[inverse.ravel()]


def partitions_overlapping(
    part: np.ndarray, owners: gpd.GeoSeries, features: gpd.GeoSeries
) -> tuple[np.ndarray, np.ndarray]:
    """Which features each partition needs: those whose bounds meet one of its owners' bounds.

    Parameters
    ----------
    part
        Partition number of each owner (e.g. of each block group).
    owners
        Geometries assigning the work (block groups, tiles).
    features
        Geometries the work needs (tiles, polygons), in the same CRS as `owners`.

    Returns
    -------
    partition, feature
        Pairs (partition number, row position in `features`), unique, sorted by partition then
        feature: a feature appears once per partition that needs it, in its original order.

    Notes
    -----
    Bounding boxes are compared, which errs on the side of sending more: every feature whose
    polygon overlaps an owner's polygon is among them. Bounds are compared in the features'
    CRS; an equal-area CRS such as EPSG:6933 maps longitude and latitude monotonically, so
    features overlapping in it overlap in bounds here too.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> owners = gpd.GeoSeries([shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6)])
    >>> feats = gpd.GeoSeries([shapely.box(0.5, 0.5, 2, 2), shapely.box(9, 9, 10, 10)])
    >>> [x.tolist() for x in partitions_overlapping([0, 1], owners, feats)]
    [[0], [0]]
    """
    part = np.asarray(part, dtype=np.intp)
    if not len(owners) or not len(features):
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    boxes = shapely.box(*np.asarray(owners.bounds).T)
    io, jf = STRtree(shapely.box(*np.asarray(features.bounds).T)).query(boxes)
    pairs = np.unique(np.column_stack([part[io], jf]), axis=0)
    return pairs[:, 0].astype(np.intp), pairs[:, 1].astype(np.intp)


def _tile_grid_keys(tiles: gpd.GeoDataFrame) -> np.ndarray:
    """Key of the 0.5-degree lon/lat cell holding each tile's centroid (bounds centre)."""
    b = np.asarray(tiles.geometry.to_crs("EPSG:4326").bounds)
    lon, lat = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    row = np.floor((lat + 90.0) / TILE_GRID_DEG).astype(np.int64)
    col = np.floor((lon + 180.0) / TILE_GRID_DEG).astype(np.int64)
    return row * 10_000 + col


def part_name(args: tuple[Any, ...], index: int) -> str:
    """How an error names a part: the county (or state) of its first table with ``GEOID``.

    Parameters
    ----------
    args
        The part's positional arguments.
    index
        Its position in the list of parts (named when no table says where it is).

    Returns
    -------
    str
        ``"county 51059"``, ``"state 51"``, ``"counties 51059, 51061"`` or ``"part 3"``.

    Examples
    --------
    >>> part_name((pd.DataFrame({"GEOID": ["510594001001", "510594002003"]}), 9), 0)
    'county 51059'
    >>> part_name((1, 2), 3)
    'part 3'
    """
    for a in args:
        if isinstance(a, pd.DataFrame) and "GEOID" in a.columns and len(a):
            ids = a["GEOID"].astype(str)
            for width, kind in ((5, "county"), (2, "state")):
                keys = sorted(set(ids.str.slice(0, width)))
                if len(keys) == 1:
                    return f"{kind} {keys[0]}"
            keys = sorted(set(ids.str.slice(0, 5)))
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            return f"counties {', '.join(keys[:3])}{more}"
    return f"part {index}"


def _named(exc: EquityError, name: str) -> EquityError:
    """A copy of `exc` (same class, same attributes) whose message starts with `name`."""
    import copy

    out = copy.copy(exc)
    first = str(exc.args[0]) if exc.args else str(exc)
    out.args = (f"{name}: {first}", *exc.args[1:])
    return out

"""Clip Ookla's worldwide quarterly tiles to states, in one streaming pass.

Ookla publishes one Parquet file per quarter and service for the whole world (columns
``quadkey``, ``tile`` (WKT), ``avg_d_kbps``, ``avg_u_kbps``, ``avg_lat_ms``, ``tests``,
``devices``, and in later quarters ``tile_x``, ``tile_y``, ``avg_lat_down_ms``,
``avg_lat_up_ms``). :func:`clip_tiles` reads it one row group batch at a time, rebuilds each
tile's square from its quadkey (:func:`equity.tiles.quadkey_to_bounds`, vectorised), queries a
spatial index of the states' polygons (each part separately, so Alaska's islands across the
antimeridian are handled) and appends the tiles touching each state to that state's Parquet
file, with the national file's schema. A tile on a border goes to both states: each state's run
needs the speed tests of everyone inside it. Memory is bounded by one batch plus the states'
polygons.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from equity.errors import DataError

__all__ = ["BATCH_ROWS", "clip_tiles", "state_polygons"]

#: Tiles read per batch.
BATCH_ROWS = 262_144


def state_polygons(zip_path: Path, fips: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Polygon parts of the states `fips` from a Census state boundary zip, in EPSG:4326.

    Returns an array of polygons and the FIPS code of each.
    """
    import pyogrio
    import shapely

    try:
        gdf = pyogrio.read_dataframe(f"/vsizip/{zip_path}", columns=["STATEFP"])
    except Exception as exc:  # GDAL raises several types for a damaged file
        msg = f"{zip_path}: cannot read the state boundaries ({exc})"
        raise DataError(msg) from None
    gdf = gdf[gdf["STATEFP"].astype(str).isin(fips)]
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    parts, index = shapely.get_parts(gdf.geometry.to_numpy(), return_index=True)
    return parts, gdf["STATEFP"].astype(str).to_numpy()[index]


def _coarse_boxes(parts: np.ndarray, fips: np.ndarray) -> np.ndarray:
    """A few boxes covering every state: per state, one around its parts west of 0 degrees
    and one around those east of it (Alaska's Aleutians cross the antimeridian)."""
    import shapely

    bounds = shapely.bounds(parts)
    east = (bounds[:, 0] + bounds[:, 2]) / 2 >= 0
    boxes = []
    for code in np.unique(fips):
        for side in (False, True):
            sel = (fips == code) & (east == side)
            if sel.any():
                b = bounds[sel]
                boxes.append([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
    return np.asarray(boxes, dtype=float).reshape(-1, 4)


def _near(tiles: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mask of tiles (rows of minx, miny, maxx, maxy) overlapping any of `boxes`."""
    mask = np.zeros(len(tiles), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask |= (
            (tiles[:, 0] <= x1) & (tiles[:, 2] >= x0) & (tiles[:, 1] <= y1) & (tiles[:, 3] >= y0)
        )
    return mask


def clip_tiles(parquet: Path, states_zip: Path, *, outputs: Mapping[str, Path]) -> dict[str, int]:
    """Write the Ookla tiles touching each state into its own Parquet file.

    Parameters
    ----------
    parquet
        The quarter's worldwide tiles (Ookla's Parquet layout).
    states_zip
        Census state boundaries (``cb_{year}_us_state_500k.zip``).
    outputs
        State FIPS code to destination Parquet file.

    Returns
    -------
    dict of str to int
        Tiles written per state (0: no file written).
    """
    import pyarrow.parquet as pq
    import shapely

    from equity.tiles import quadkey_to_bounds

    parts, part_fips = state_polygons(states_zip, list(outputs))
    shapely.prepare(parts)  # each state part is tested against many tiles: prepare it once
    tree = shapely.STRtree(parts)
    coarse = _coarse_boxes(parts, part_fips)
    source = pq.ParquetFile(parquet)
    if "quadkey" not in source.schema_arrow.names:
        msg = f"{parquet}: no quadkey column (columns: {source.schema_arrow.names[:10]})"
        raise DataError(msg)
    counts = dict.fromkeys(outputs, 0)
    tmp = {f: d.parent / f".{d.name}.{uuid.uuid4().hex[:8]}.tmp" for f, d in outputs.items()}
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for batch in source.iter_batches(batch_size=BATCH_ROWS):
            keys = batch.column("quadkey").to_numpy(zero_copy_only=False).astype(str)
            b = quadkey_to_bounds(keys)
            near = np.flatnonzero(_near(b, coarse))  # most of the world is far from any state
            boxes = shapely.box(b[near, 0], b[near, 1], b[near, 2], b[near, 3])
            tiles, hit = tree.query(boxes)  # bounding boxes overlap: candidates
            touching = shapely.intersects(parts[hit], boxes[tiles])  # prepared polygon first
            tiles, hit = near[tiles[touching]], hit[touching]
            owner = part_fips[hit]
            for fips in np.unique(owner):
                rows = np.unique(tiles[owner == fips])
                if fips not in writers:
                    outputs[fips].parent.mkdir(parents=True, exist_ok=True)
                    writers[fips] = pq.ParquetWriter(tmp[fips], source.schema_arrow)
                writers[fips].write_batch(batch.take(rows))
                counts[fips] += len(rows)
        for fips, writer in writers.items():
            writer.close()
            os.replace(tmp[fips], outputs[fips])
    finally:
        for fips, writer in writers.items():
            if writer.is_open:
                writer.close()
            tmp[fips].unlink(missing_ok=True)
    return counts

"""The tables one run works on, read through the real readers and the table cache."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from equity import sample, sources
from equity.cache import TableCache
from equity.config import Config

__all__ = ["SAMPLE_KEYS", "Dataset", "load_dataset"]

log = logging.getLogger("equity.pipeline")

#: Files of the bundled sample (``equity.sample.sample_paths``) to ``[data]`` keys.
SAMPLE_KEYS = {
    "state": "states",
    "county": "counties",
    "tract": "tracts",
    "blockgroup": "blockgroups",
    "town": "towns",
    "acs": "acs",
    "ookla": "ookla",
    "usage": "usage",
    "business": "business",
    "libraries": "libraries",
    "schools": "schools",
    "anchors": "anchors",
}
#: ``[data]`` keys of the boundary files, and the level each holds.
_BOUNDARIES = {
    "states": "state",
    "counties": "county",
    "tracts": "tract",
    "blockgroups": "blockgroup",
    "towns": "town",
}
#: ``[data]`` keys of the optional tables, and their readers.
_TABLES = {
    "ookla": "read_ookla",
    "usage": "read_broadband_usage",
    "business": "read_business_patterns",
}


@dataclass
class Dataset:
    """The tables one run works on, as loaded by the real readers.

    Attributes
    ----------
    boundaries
        Level name (``state``, ``county``, ``tract``, ``blockgroup``, ``town``) to polygons.
    acs
        Block-group ACS estimates and MOEs (``read_acs`` layout).
    tiles
        Ookla fixed tiles, or None.
    usage
        Microsoft county broadband usage, or None.
    business
        County Business Patterns rows, or None.
    anchors
        Anchor institutions as points with a ``kind`` column (libraries, schools, ...), or None.
    provenance
        One dict per loaded source (``source``, ``title``, ``publisher``, ``vintage``,
        ``licence``, ``attribution``, ``path``).
    blocks
        2020 blocks (``equity.sources.read_blocks``; several files merged), or None: the
        street level's weights.
    block_speeds
        Ookla tiles joined to 2020 blocks (``read_block_speeds``), when ``[data] ookla`` names
        such files instead of tiles; or None.
    fcc
        FCC BDC locations (``read_fcc_bdc``), or None.
    cache
        The table cache the inputs went through (disabled when ``[cache] enabled = false``),
        for later stages to cache theirs (see :mod:`equity.cache`); None when built by hand.
    """

    boundaries: dict[str, gpd.GeoDataFrame]
    acs: pd.DataFrame
    tiles: gpd.GeoDataFrame | None = None
    usage: pd.DataFrame | None = None
    business: pd.DataFrame | None = None
    anchors: gpd.GeoDataFrame | None = None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    cache: TableCache | None = None
    blocks: pd.DataFrame | None = None
    block_speeds: pd.DataFrame | None = None
    fcc: pd.DataFrame | None = None


class _Reader:
    """Calls a reader of :mod:`equity.sources` through the table cache, recording provenance."""

    def __init__(self, cache: TableCache) -> None:
        self.cache = cache
        self.provenance: list[dict[str, Any]] = []

    def __call__(self, reader: str, path: Any, **kwargs: Any) -> Any:
        func = getattr(sources, reader)  # looked up per call, so tests can replace a reader
        table = self.cache.table(
            reader,
            {"path": str(path), "kwargs": kwargs},  # attrs["path"] keeps the path as given
            lambda: func(path, **kwargs),
            inputs=[path],
            code=sources,
        )
        _record(self.provenance, table)
        return table


def _record(prov: list[dict[str, Any]], df: pd.DataFrame) -> None:
    keys = ("source", "title", "publisher", "vintage", "licence", "attribution", "path")
    entry = {k: "" if df.attrs.get(k) is None else str(df.attrs[k]) for k in keys}
    if entry not in prov:
        prov.append(entry)


def _input_paths(cfg: Config) -> dict[str, Any]:
    if not cfg.uses_sample:
        return dict(cfg.data)
    files = sample.sample_paths(seed=cfg.seed)
    return {SAMPLE_KEYS[k]: v for k, v in files.items() if k in SAMPLE_KEYS}


def _anchors(read: _Reader, paths: Mapping[str, Any]) -> gpd.GeoDataFrame | None:
    """Libraries, schools and other anchors as one point layer with a ``kind`` column."""
    points = []
    if "libraries" in paths:
        libs = read("read_libraries", paths["libraries"])
        points.append(libs.assign(kind="library", anchor_id=libs["library_id"]))
    for key in ("schools", "anchors"):
        value = paths.get(key)
        for p in value if isinstance(value, list) else [value] if value else []:
            points.append(read("read_anchors", p))
    if not points:
        return None
    cols = ["anchor_id", "name", "kind", "geometry"]
    return gpd.GeoDataFrame(
        pd.concat([p[cols] for p in points], ignore_index=True),
        geometry="geometry",
        crs="EPSG:4326",
    )


def load_dataset(cfg: Config, *, cache: TableCache | None = None) -> Dataset:
    """Read every configured input (or the bundled sample) through the real readers.

    Each reader call goes through the table cache (:mod:`equity.cache`), keyed by its input
    file (path, size, mtime, content), the reader's arguments and the readers' source: a
    second run with unchanged inputs reads the stored Parquet tables instead.

    Parameters
    ----------
    cfg
        Run configuration (``cache``, ``cache_folder``).
    cache
        Table cache to use; by default one in ``cfg.cache_folder`` (or
        ``settings.cache_folder / "tables"``), disabled when ``cfg.cache`` is False.

    Returns
    -------
    Dataset
        The loaded tables, their provenance and the cache (``Dataset.cache``).
    """
    if cache is None:
        cache = TableCache(cfg.cache_folder, enabled=cfg.cache)
    read = _Reader(cache)
    paths = dict(_input_paths(cfg))
    boundaries = {
        level: read("read_boundaries", paths[key])
        for key, level in _BOUNDARIES.items()
        if key in paths
    }
    acs = read("read_acs", paths["acs"])
    block_speeds = None
    if "ookla" in paths and _is_block_speeds(paths["ookla"]):
        block_speeds = read("read_block_speeds", paths.pop("ookla"))
    tables = {
        key: read(reader, paths[key]) if key in paths else None for key, reader in _TABLES.items()
    }
    anchors = _anchors(read, paths)
    blocks = _blocks(read, paths.get("blocks"))
    fcc = read("read_fcc_bdc", paths["fcc"]) if "fcc" in paths else None
    if cache.enabled:
        log.info(
            "inputs: %d tables from the cache, %d read (%s)", cache.hits, cache.misses, cache.folder
        )
    return Dataset(
        boundaries,
        acs,
        tiles=tables["ookla"],
        usage=tables["usage"],
        business=tables["business"],
        anchors=anchors,
        provenance=read.provenance,
        cache=cache,
        blocks=blocks,
        block_speeds=block_speeds,
        fcc=fcc,
    )


def _blocks(read: _Reader, value: Any) -> pd.DataFrame | None:
    """The 2020 block files of ``[data] blocks`` (one or several), merged on the block GEOID."""
    if not value:
        return None
    files = value if isinstance(value, list) else [value]
    return sources.merge_blocks([read("read_blocks", p) for p in files])


def _is_block_speeds(value: Any) -> bool:
    """Whether ``[data] ookla`` names Ookla tiles joined to blocks (a folder, or GEOID20 files)."""
    from equity.sources.blocks import is_block_speeds

    files = value if isinstance(value, list) else [value]
    return bool(files) and all(is_block_speeds(p) for p in files)

"""The tables one run works on, read through the real readers and the table cache."""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from equity import sample, sources
from equity.cache import TableCache
from equity.config import Config
from equity.errors import EquityWarning

if TYPE_CHECKING:
    from equity.placement.organisations import PartnerLayer

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
    "places": "place",
    "cousubs": "cousub",
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
        Level name (``state``, ``county``, ``tract``, ``blockgroup``, ``place``, ``cousub``,
        ``town``) to polygons.
    acs
        Block-group ACS estimates and MOEs (``read_acs`` layout).
    tiles
        Ookla fixed tiles, or None.
    usage
        Microsoft county broadband usage, or None.
    business
        County Business Patterns rows, or None.
    anchors
        Partner organisations as points with a ``kind`` column (libraries, colleges, schools,
        nonprofits, the planner's list ...), one row per organisation, or None.
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
    base_level
        The finest level of the counts, from which every coarser one is summed:
        ``blockgroup`` (ACS block groups), or ``county`` for the national county snapshot.
    counts
        The count columns of the base level, ready (``GEOID``, counts and ``moe_*``, e.g.
        the snapshot's SVI counts); None: computed from `acs` by ``counts_from_acs``.
    notes
        Caveats of the inputs that METHODS.md repeats (e.g. the snapshot's).
    partners
        The partner layer the anchors come from (:func:`equity.placement.organisations.build_partners`:
        duplicates merged, rows not located with the reason), or None.
    """

    boundaries: dict[str, gpd.GeoDataFrame]
    acs: pd.DataFrame
    tiles: gpd.GeoDataFrame | None = None
    usage: pd.DataFrame | None = None
    business: pd.DataFrame | None = None
    anchors: gpd.GeoDataFrame | None = None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    cache: TableCache | None = None
    base_level: str = "blockgroup"
    counts: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    partners: PartnerLayer | None = None
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
        with warnings.catch_warnings():  # repairs are kept in attrs: check_dataset states them
            warnings.simplefilter("ignore", EquityWarning)
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
    if cfg.data:
        return dict(cfg.data)
    files = sample.sample_paths(seed=cfg.seed)
    return {SAMPLE_KEYS[k]: v for k, v in files.items() if k in SAMPLE_KEYS}


def _files(paths: Mapping[str, Any], key: str) -> list[Any]:
    value = paths.get(key)
    return list(value) if isinstance(value, list) else [value] if value else []


def _partners(read: _Reader, paths: Mapping[str, Any], cfg: Config) -> PartnerLayer | None:
    """Every partner source, located and merged into one organisation per row."""
    from equity.placement.organisations import build_partners
    from equity.sources.geocode import geocode_addresses

    keys = ("libraries", "colleges", "schools", "anchors", "nonprofits", "partners")
    if not any(_files(paths, k) for k in keys):
        return None
    centroids = read("read_zip_centroids", cfg.zip_centroids) if cfg.zip_centroids else None
    geocoder = (
        None
        if cfg.geocode == "off"
        else functools.partial(
            geocode_addresses, url=cfg.geocoder_url, benchmark=cfg.geocoder_benchmark
        )
    )
    lists = [
        read("read_partner_list", p, columns=cfg.partner_columns) for p in _files(paths, "partners")
    ]
    layer = build_partners(
        libraries=[read("read_libraries", p) for p in _files(paths, "libraries")],
        colleges=[read("read_colleges", p) for p in _files(paths, "colleges")],
        anchors=[read("read_anchors", p) for k in ("schools", "anchors") for p in _files(paths, k)],
        nonprofits=[
            read(
                "read_nonprofits",
                p,
                ntee=cfg.partner_ntee,
                subsections=list(cfg.nonprofit_subsections),
            )
            for p in _files(paths, "nonprofits")
        ],
        lists=lists,
        geocode=cfg.geocode,
        geocoder=geocoder,
        zip_centroids=centroids,
        same_place_km=cfg.same_place_km,
    )
    layer.column_maps = {str(t.attrs.get("path", "")): t.attrs.get("column_map", []) for t in lists}
    return layer


def _level_hint(level: str) -> dict[str, str]:
    return {"level": level} if level in ("place", "cousub") else {}


def load_dataset(cfg: Config, *, cache: TableCache | None = None) -> Dataset:
    """Read every configured input (or the bundled sample, or the national snapshot).

    Each reader call goes through the table cache (:mod:`equity.cache`), keyed by its input
    file (path, size, mtime, content), the reader's arguments and the readers' source: a
    second run with unchanged inputs reads the stored Parquet tables instead. Without input
    files and without ``sample``, the bundled national county snapshot is read
    (:func:`equity.snapshot.snapshot_dataset`).

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
    if cfg.uses_snapshot:  # the bundled national county snapshot (equity.snapshot)
        from equity.snapshot import snapshot_dataset

        return snapshot_dataset(cache=cache)
    read = _Reader(cache)
    paths = dict(_input_paths(cfg))
    boundaries = {
        # places and county subdivisions say what they are even under a cache file's name
        level: read("read_boundaries", paths[key], **_level_hint(level))
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
    partners = _partners(read, paths, cfg)
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
        anchors=None if partners is None else partners.partners,
        provenance=read.provenance,
        cache=cache,
        partners=partners,
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

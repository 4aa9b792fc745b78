"""The Dask engine gives the same results as the local one, bit for bit.

One ``distributed.LocalCluster`` of two single-threaded worker processes serves the module.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from equity import geographies, indicators, pipeline
from equity.cli import _engine_overrides, build_parser
from equity.config import load_config
from equity.engine import (
    DaskEngine,
    LocalEngine,
    assign_partitions,
    get_engine,
    partitions_overlapping,
)
from equity.errors import ChoiceError, ConfigError, SchemaError

LEVEL_ORDER = ("street", "blockgroup", "tract", "town", "county")


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 single-threaded workers for the whole module."""
    import logging

    import distributed

    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as lc:
        yield lc


@pytest.fixture(scope="module")
def client(cluster):
    import distributed

    with distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def sample_cfg(sample_paths: dict[str, Path]):
    """The bundled sample, read from the session's generated files."""
    data = {
        pipeline.SAMPLE_KEYS[k]: str(v)
        for k, v in sample_paths.items()
        if k in pipeline.SAMPLE_KEYS
    }
    return load_config(data=data)


@pytest.fixture(scope="module")
def sample_ds(sample_cfg) -> pipeline.Dataset:
    return pipeline.load_dataset(sample_cfg)


@pytest.fixture(scope="module")
def border(sample_ds: pipeline.Dataset) -> tuple[gpd.GeoDataFrame, list[str], gpd.GeoDataFrame]:
    """Block groups on both sides of a border between two counties, with counts, and the
    tiles near them."""
    counts = indicators.counts_from_acs(sample_ds.acs)
    bg = sample_ds.boundaries["blockgroup"][["GEOID", "geometry"]].merge(counts, on="GEOID")
    bg["county"] = bg["GEOID"].str[:5]
    counties = sample_ds.boundaries["county"].set_index("GEOID").geometry
    # the two counties sharing the longest border
    pairs = [(a, b) for a in counties.index for b in counties.index if a < b]
    shared = [counties[a].intersection(counties[b]).length for a, b in pairs]
    a, b = pairs[int(np.argmax(shared))]
    near = (bg["county"].eq(a) & bg.intersects(counties[b])) | (
        bg["county"].eq(b) & bg.intersects(counties[a])
    )
    if bg.loc[near, "county"].nunique() == 2:
        sel = bg[near].drop(columns="county").reset_index(drop=True)
        tiles = sample_ds.tiles[
            sample_ds.tiles.intersects(sel.union_all().envelope.buffer(0.02))
        ].reset_index(drop=True)
        return sel, [a, b], tiles
    pytest.fail("the sample has no two neighbouring counties")


def _counts(bg: pd.DataFrame) -> list[str]:
    return pipeline._count_columns(bg.drop(columns="geometry"))


def assert_same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Exactly equal, geometry compared by its WKB."""
    assert list(a.columns) == list(b.columns)
    geo = [c for c in a.columns if isinstance(a[c].dtype, gpd.array.GeometryDtype)]
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.drop(columns=geo)), pd.DataFrame(b.drop(columns=geo)), check_exact=True
    )
    for c in geo:
        assert (gpd.GeoSeries(a[c]).to_wkb() == gpd.GeoSeries(b[c]).to_wkb()).all(), c


# ---------------------------------------------------------------------------------------------
# configuration and errors (no cluster)


def test_config_engine_defaults_and_toml(tmp_path: Path) -> None:
    cfg = load_config()
    assert (cfg.engine, cfg.scheduler, cfg.workers) == ("local", None, 2)
    assert cfg.as_dict()["engine"] == "local"  # recorded in METHODS.md parameters
    path = tmp_path / "equity.toml"
    path.write_text('[run]\nengine = "dask"\nscheduler = "tcp://10.0.0.5:8786"\nworkers = 3\n')
    cfg = load_config(path)
    assert (cfg.engine, cfg.scheduler, cfg.workers) == ("dask", "tcp://10.0.0.5:8786", 3)


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[run]\nengine = "spark"\n', ["run.engine", "'spark'", "local", "dask"]),
        ("[run]\nworkers = 0\n", ["run.workers", ">= 1"]),
        ('[run]\nworkers = "two"\n', ["run.workers", "whole number"]),
        ('[run]\nscheduler = "tcp://h:8786"\n', ["run.scheduler", "engine = 'dask'"]),
    ],
)
def test_config_engine_errors_name_the_setting(tmp_path: Path, toml: str, words: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert str(path) in str(info.value)


def test_get_engine_lists_valid_engines() -> None:
    with pytest.raises(ConfigError, match=r"'ray'.*local, dask"):
        get_engine("ray")
    with get_engine("local") as eng:
        assert isinstance(eng, LocalEngine)


def test_cli_engine_options() -> None:
    args = build_parser().parse_args(["run", "--scheduler", "tcp://h:8786"])
    assert _engine_overrides(args) == {"engine": "dask", "scheduler": "tcp://h:8786"}
    args = build_parser().parse_args(["run", "--engine", "local"])
    assert _engine_overrides(args) == {"engine": "local", "scheduler": None}
    args = build_parser().parse_args(["rank", "--engine", "dask"])
    assert _engine_overrides(args)["engine"] == "dask"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--engine", "spark"])


def test_local_engine_does_not_import_dask() -> None:
    code = (
        "import sys; from equity import pipeline; from equity.config import load_config; "
        "from equity.engine import engine_from_config; engine_from_config(load_config()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_missing_dask_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask_geopandas", None)
    with pytest.raises(ConfigError, match=r'pip install "equity\[scale\]"'):
        DaskEngine()


def test_unreachable_scheduler_names_the_address() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(ConfigError, match="run.scheduler") as info:
        DaskEngine(scheduler=address, timeout=1.5)
    assert address in str(info.value)


# ---------------------------------------------------------------------------------------------
# partitioning (no cluster)


def test_assign_partitions_keeps_keys_whole_and_balances() -> None:
    keys = np.array(["51003"] * 5 + ["51001"] * 10 + ["24001"] * 9 + ["24005"] * 6)
    part = assign_partitions(keys, 2)
    assert set(part.tolist()) == {0, 1}
    for k in np.unique(keys):
        assert len(set(part[keys == k].tolist())) == 1, k
    assert abs(int((part == 0).sum()) - int((part == 1).sum())) <= 10
    assert assign_partitions(keys, 99).max() == 3  # at most one partition per key
    assert len(assign_partitions(np.array([], dtype=str), 3)) == 0


def test_partitions_get_only_features_near_them(border) -> None:
    bg, (a, b), tiles = border
    part = (bg["GEOID"].str[:5] == b).to_numpy().astype(np.intp)
    p, f = partitions_overlapping(part, bg.geometry, tiles.geometry)
    for i in (0, 1):
        mine = f[p == i]
        assert 0 < len(mine) < len(tiles)
        # every tile overlapping a block group of the partition is there
        need = tiles.index[tiles.intersects(bg[part == i].union_all())]
        assert set(need) <= set(mine.tolist())
    assert len(np.unique(np.column_stack([p, f]), axis=0)) == len(p)


def test_pieces_per_county_combine_to_street_grid(border) -> None:
    """The identity behind the engine, without dask: pieces per county, combined in any order."""
    bg, (a, b), tiles = border
    counts = _counts(bg)
    cells, xw = geographies.street_grid(bg, counts=counts, tiles=tiles)
    parts = [
        geographies.street_grid_pieces(bg[bg["GEOID"].str[:5] == c], tiles=tiles) for c in (b, a)
    ]
    cells2, xw2 = geographies.combine_street_grid(bg, pd.concat(parts), counts=counts)
    assert_same_table(cells, cells2)
    assert_same_table(xw, xw2)
    # cells straddle the border: fed by block groups of both counties
    both = xw.groupby("target_GEOID")["source_GEOID"].agg(lambda s: s.str[:5].nunique())
    assert (both == 2).any()


# ---------------------------------------------------------------------------------------------
# on the cluster


def test_dask_ookla_equals_local(client, border, sample_ds) -> None:
    _, _, tiles = border
    counties = sample_ds.boundaries["county"]
    local = geographies.ookla_to_polygons(tiles, counties)
    with DaskEngine(client=client) as eng:
        assert_same_table(geographies.ookla_to_grid(tiles), eng.ookla_to_grid(tiles))
        got = eng.ookla_to_polygons(tiles, counties)
    assert_same_table(local, got)
    assert got.attrs["ookla_tests_outside"] == local.attrs["ookla_tests_outside"]
    assert max(r["tiles"] for r in eng.last_partitions["rows"]) < len(tiles)


def _row_of_block_groups() -> gpd.GeoDataFrame:
    """Three rectangular block groups in three counties, west to east."""
    return gpd.GeoDataFrame(
        {"GEOID": ["510010001001", "510030001001", "510050001001"], "households": [10.0, 20, 30]},
        geometry=[shapely.box(-77.02 + 0.02 * i, 38.0, -77.0 + 0.02 * i, 38.02) for i in range(3)],
        crs="EPSG:4326",
    )


def _tile(x: float, y: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"devices": [3.0], "download_mbps": [5.0], "upload_mbps": [1.0], "tests": [9.0]},
        geometry=[shapely.box(x, y, x + 0.005, y + 0.005)],
        crs="EPSG:4326",
    )


@pytest.mark.parametrize(
    "where",
    ["first county only", "middle county only", "last county only", "far away", "no tiles"],
)
def test_dask_equals_local_when_partitions_hold_no_tiles(client, where: str) -> None:
    bg = _row_of_block_groups()
    x = {"first county only": -77.015, "middle county only": -76.995,
         "last county only": -76.975, "far away": 10.0, "no tiles": 10.0}[where]  # fmt: skip
    tiles = _tile(x, 38.005 if x < 0 else 10.0)
    if where == "no tiles":
        tiles = tiles.iloc[:0]
    with DaskEngine(client=client) as eng:
        want = geographies.street_level(bg, counts=["households"], tiles=tiles)
        got = geographies.street_level(
            bg, counts=["households"], tiles=tiles, map_partitions=eng.map_partitions
        )
        for x_, y_ in zip(want, got, strict=True):
            assert_same_table(x_, y_)
        assert len(eng.last_partitions["rows"]) == 3  # one part per county
        # tiles in a grid cell of their own, outside every polygon
        two = pd.concat([tiles, _tile(-77.015, 39.005)], ignore_index=True)
        assert_same_table(geographies.ookla_to_polygons(two, bg), eng.ookla_to_polygons(two, bg))


def test_dask_engine_choices_list_the_valid_ones(client) -> None:
    with pytest.raises(ChoiceError, match="unknown partition_by 'tract'; valid: county, state"):
        DaskEngine(client=client, partition_by="tract")
    bg = _row_of_block_groups()
    with (
        DaskEngine(client=client) as eng,
        pytest.raises(ChoiceError, match="unknown method 'nearest'; valid: area, centroid"),
    ):
        eng.ookla_to_polygons(_tile(-77.01, 38.005), bg, method="nearest")


def test_dask_run_equals_local_run(cluster, sample_cfg, tmp_path: Path) -> None:
    # H3 resolution 8 keeps the module quick; cells then straddle county partitions even more
    base = sample_cfg.replace(grid_resolution=8)
    local = pipeline.run(base, out=tmp_path / "local", quiet=True, write_maps=False)
    cfg = base.replace(engine="dask", scheduler=cluster.scheduler_address)
    dask_ = pipeline.run(cfg, out=tmp_path / "dask", quiet=True, write_maps=False)
    assert list(local.levels) == list(dask_.levels)
    assert set(LEVEL_ORDER) <= set(local.levels)
    for level, table in local.levels.items():
        assert_same_table(table, dask_.levels[level])
    a = (tmp_path / "local" / "candidates.csv").read_bytes()
    b = (tmp_path / "dask" / "candidates.csv").read_bytes()
    assert a == b and len(a) > 100
    assert "| run.engine | dask |" in (tmp_path / "dask" / "METHODS.md").read_text()


# ---------------------------------------------------------------------------------------------
# map_partitions: the street level's county parts on the workers


def _street_inputs(ds: pipeline.Dataset) -> tuple[gpd.GeoDataFrame, list[str]]:
    counts = indicators.counts_from_acs(ds.acs)
    bg = ds.boundaries["blockgroup"][["GEOID", "geometry"]].merge(counts, on="GEOID")
    return bg, _counts(bg)


def test_dask_street_level_equals_local_on_the_sample(client, sample_ds) -> None:
    """Every county of the sample built on the two workers; units and crosswalk exactly equal."""
    bg, counts = _street_inputs(sample_ds)
    blocks = sample_ds.blocks if geographies.has_block_geometry(sample_ds.blocks) else None
    kw = {
        "counts": counts,
        "medians": pipeline.MEDIANS,
        "resolution": 8,  # keeps the test quick; county-border cells are shared even more
        "blocks": blocks,
        "tiles": sample_ds.tiles,
    }
    local = geographies.street_level(bg, **kw)
    with DaskEngine(client=client) as eng:
        got = geographies.street_level(bg, **kw, map_partitions=eng.map_partitions)
        rows = eng.last_partitions["rows"]
    for want, have in zip(local, got, strict=True):
        assert_same_table(want, have)
    assert local[0].attrs == got[0].attrs
    counties = sorted(bg["GEOID"].str[:5].unique())
    assert sorted(r["name"] for r in rows) == [f"county {c}" for c in counties]
    assert {r["worker"] for r in rows} <= set(client.scheduler_info()["workers"])
    assert all(r["cpu_s"] > 0 for r in rows)
    # cells shared by two counties' parts are combined on the client
    xw = local[1]
    assert (xw.groupby("target_GEOID")["source_GEOID"].agg(lambda s: s.str[:5].nunique()) > 1).any()


def test_map_partitions_keeps_the_order_of_its_arguments(client) -> None:
    """Parts are submitted largest first and finish in any order; results come back in order,
    large arguments scattered, never more than `in_flight` tasks out at once."""
    frames = [pd.DataFrame({"x": np.arange(n)}) for n in (3, 200_000, 10, 50_000, 1)]
    with DaskEngine(client=client) as eng:
        eng.in_flight = 2
        got = eng.map_partitions(len, [(f,) for f in frames])
        rows = eng.last_partitions["rows"]
        assert eng.map_partitions(len, []) == []
    assert (
        got
        == [3, 200_000, 10, 50_000, 1]
        == LocalEngine().map_partitions(len, [(f,) for f in frames])
    )
    assert [r["partition"] for r in rows] == list(range(5))
    assert rows[1]["bytes"] > eng.scatter_bytes > rows[0]["bytes"]


def test_map_partitions_names_the_county_of_a_failing_part(client, sample_ds) -> None:
    """A worker's EquityError comes back as the same class, the county named; other errors
    keep their class and get a note."""
    from equity.geographies.street import _pieces_of_part

    bg, _ = _street_inputs(sample_ds)
    c1, c2 = sorted(bg["GEOID"].str[:5].unique())[:2]
    no_devices = sample_ds.tiles.drop(columns="devices")
    args = [
        (bg[bg["GEOID"].str[:5] == c1], None, None, 7, "devices"),
        (bg[bg["GEOID"].str[:5] == c2], None, no_devices, 7, "devices"),  # fails
    ]
    with pytest.raises(SchemaError) as here:
        LocalEngine().map_partitions(_pieces_of_part, args)
    with DaskEngine(client=client) as eng:
        with pytest.raises(SchemaError, match=f"^county {c2}: ") as there:
            eng.map_partitions(_pieces_of_part, args)
        assert str(there.value) == f"county {c2}: {here.value}"
        assert there.value.problems == here.value.problems
        with pytest.raises(ValueError, match="invalid literal") as other:
            eng.map_partitions(int, [("12",), ("twelve",)])
        assert "in part 1 on the Dask engine" in other.value.__notes__
        assert eng.map_partitions(int, [("12",)]) == [12]  # the engine still works


@pytest.mark.slow
def test_dask_street_level_equals_local_on_real_virginia(client, shared_data) -> None:
    """All of real Virginia (5,951 block groups, 133 counties, H3 resolution 9), bit for bit:
    the counties in turn, in two local processes and on two Dask workers."""
    from equity import sources

    d = shared_data
    bg = sources.read_boundaries(d / "boundaries" / "va" / "cb_2020_51_bg_500k.shp")
    acs = sources.read_acs(d / "acs" / "acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv")
    counts = indicators.counts_from_acs(acs)
    bg = bg[["GEOID", "geometry"]].merge(counts, on="GEOID")
    cols = _counts(bg)
    local = geographies.street_level(bg, counts=cols, medians=pipeline.MEDIANS)
    # the local engine's two processes (forked, largest counties first) give the same
    procs = geographies.street_level(
        bg,
        counts=cols,
        medians=pipeline.MEDIANS,
        map_partitions=LocalEngine(processes=2).map_partitions,
    )
    for want, have in zip(local, procs, strict=True):
        assert_same_table(want, have)
    with DaskEngine(client=client) as eng:
        got = geographies.street_level(
            bg, counts=cols, medians=pipeline.MEDIANS, map_partitions=eng.map_partitions
        )
        assert len(eng.last_partitions["rows"]) == 133
    for want, have in zip(local, got, strict=True):
        assert_same_table(want, have)
    assert len(local[0]) > 100_000


def test_local_cluster_workers_keep_freed_memory() -> None:
    """The workers of a LocalCluster the engine starts get a 128 MiB trim threshold, not
    Dask's 64 KiB (which cost a state's run a quarter more CPU in re-faulted pages)."""
    import os

    from equity.engine import WORKER_TRIM

    # a cluster started earlier in this process (as the module's) leaves Dask's value in
    # this process's environment, which Dask prefers to its configuration
    os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"
    try:
        with DaskEngine(workers=1) as eng:
            got = eng.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert list(got.values()) == [str(WORKER_TRIM)]
        assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # this process's restored
    finally:
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)


@pytest.mark.slow
def test_real_virginia_as_a_dask_task_equals_the_local_run(cluster, shared_data, tmp_path) -> None:
    """All of real Virginia, street level included, as one state task on a Dask worker (it
    reads the files itself, builds and indexes every level, writes its outputs): every
    output table byte for byte the local engine's."""
    import json

    from equity.config import load_config
    from equity.national import run_states
    from equity.national.manifest import MANIFEST_FORMAT

    d = shared_data
    data = {
        "blockgroups": d / "boundaries/va/cb_2020_51_bg_500k.shp",
        "acs": d / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv",
        "tracts": d / "boundaries/va/cb_2020_51_tract_500k.shp",
        "counties": d / "boundaries/us/cb_2018_us_county_20m.shp",
        "blocks": d / "blocks/va_bl_abc_2021_address_block_counts.csv.xz",
        "usage": d / "broadband/microsoft_broadband_data_2020October.csv",
    }
    fetch = tmp_path / "fetch"
    (fetch / "states" / "VA").mkdir(parents=True)
    doc = {"format": MANIFEST_FORMAT, "state": "VA", "fips": "51", "data": {k: str(v) for k, v in data.items()}}  # fmt: skip
    (fetch / "states" / "VA" / "manifest.json").write_text(json.dumps(doc))
    outs = {}
    for engine in ("local", "dask"):
        toml = tmp_path / f"{engine}.toml"
        sched = f'scheduler = "{cluster.scheduler_address}"\n' if engine == "dask" else ""
        toml.write_text(
            '[data]\nstates = ["VA"]\n[run]\nlevels = ["street", "blockgroup", "county"]\n'
            f'engine = "{engine}"\n{sched}workers = 1\n[placement]\nlevel = "blockgroup"\n'
            f'[cache]\nfolder = "{tmp_path / ("tables-" + engine)}"\n'
        )
        res = run_states(
            load_config(toml),
            out=tmp_path / engine,
            cache_folder=fetch,
            quiet=True,
            write_maps=False,
        )
        assert [r.status for r in res.results] == ["done"], res.results[0].message
        outs[engine] = tmp_path / engine / "VA"
    names = ["candidates.csv", "index_street.parquet", "index_blockgroup.parquet"]
    for name in names:
        assert (outs["local"] / name).read_bytes() == (outs["dask"] / name).read_bytes(), name
    import pyarrow.parquet as pq

    assert pq.ParquetFile(outs["local"] / "index_street.parquet").metadata.num_rows > 100_000

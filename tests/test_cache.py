"""The table cache: hits skip the readers, changed inputs miss, round trips are exact."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from shapely.geometry import Point

from equity import cache as cache_mod
from equity import pipeline, settings, sources
from equity.cache import TableCache, cache_key, cache_size, clear_cache, file_fingerprint
from equity.cli import main
from equity.config import load_config
from equity.errors import ConfigError

READERS = (
    "read_boundaries",
    "read_acs",
    "read_ookla",
    "read_broadband_usage",
    "read_business_patterns",
    "read_libraries",
    "read_anchors",
)


def _tables(ds: pipeline.Dataset) -> dict[str, pd.DataFrame]:
    out = {f"boundaries.{lv}": t for lv, t in ds.boundaries.items()}
    for name in ("acs", "tiles", "usage", "business", "anchors"):
        out[name] = getattr(ds, name)
    return out


def _assert_same(a: pipeline.Dataset, b: pipeline.Dataset) -> None:
    ta, tb = _tables(a), _tables(b)
    assert list(ta) == list(tb)
    for name, x in ta.items():
        y = tb[name]
        assert type(x) is type(y), name
        assert_frame_equal(x, y, check_exact=True, obj=name)
        assert x.attrs == y.attrs, name
        if isinstance(x, gpd.GeoDataFrame):
            assert x.crs == y.crs and x.geometry.name == y.geometry.name, name
    assert a.provenance == b.provenance


def _forbid_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        msg = "a reader was called although its table is cached"
        raise AssertionError(msg)

    for name in READERS:
        monkeypatch.setattr(sources, name, boom)


@pytest.fixture
def sample_copy(tmp_path: Path, sample_paths: dict[str, Path]) -> dict[str, str]:
    """The sample region copied into tmp_path (so tests may touch and edit its files)."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    data = {}
    for key, src in sample_paths.items():
        if key in pipeline.SAMPLE_KEYS:
            data[pipeline.SAMPLE_KEYS[key]] = str(shutil.copy2(src, folder / src.name))
    return data


def test_second_load_is_served_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = load_config(sample=True, cache_folder=str(tmp_path / "tables"))
    first = pipeline.load_dataset(cfg)
    n = first.cache.misses
    assert n == 12 and first.cache.hits == 0  # 5 boundary levels, ACS, Ookla, usage, CBP, 3 points
    assert cache_size(tmp_path / "tables").entries == n
    _forbid_readers(monkeypatch)
    with caplog.at_level(logging.INFO, logger="equity.cache"):
        second = pipeline.load_dataset(cfg)
    assert (second.cache.hits, second.cache.misses) == (n, 0)
    assert sum("cache hit" in r.getMessage() for r in caplog.records) == n
    _assert_same(first, second)


def test_default_folder_follows_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(settings, "cache_folder", tmp_path)
    assert TableCache().folder == tmp_path / "tables"
    assert load_config().cache and load_config().cache_folder is None


def test_touching_or_editing_an_input_invalidates_its_entry_only(
    tmp_path: Path, sample_copy: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(data=sample_copy, cache_folder=str(tmp_path / "tables"))
    first = pipeline.load_dataset(cfg)
    n = first.cache.misses
    acs = Path(sample_copy["acs"])

    st = acs.stat()
    os.utime(acs, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touch
    again = pipeline.load_dataset(cfg)
    assert (again.cache.hits, again.cache.misses) == (n - 1, 1)
    assert [e[0] for e in again.cache.events if e[1] == "miss"] == ["read_acs"]

    # same size, same mtime, one different byte: only the content hash sees it
    st = acs.stat()
    text = acs.read_text()
    row = text.splitlines()[1]
    edited = row.replace("1", "2", 1) if "1" in row else row.replace("0", "9", 1)
    acs.write_text(text.replace(row, edited, 1))
    os.utime(acs, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert acs.stat().st_size == st.st_size
    edited_ds = pipeline.load_dataset(cfg)
    assert (edited_ds.cache.hits, edited_ds.cache.misses) == (n - 1, 1)
    assert not edited_ds.acs.equals(first.acs)

    # touching one boundary file misses that level only; the readers of the rest stay unused
    bg = Path(sample_copy["blockgroups"])
    st = bg.stat()
    os.utime(bg, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    real = sources.read_boundaries
    _forbid_readers(monkeypatch)
    monkeypatch.setattr(sources, "read_boundaries", real)
    touched = pipeline.load_dataset(cfg)
    assert (touched.cache.hits, touched.cache.misses) == (n - 1, 1)
    assert [e[0] for e in touched.cache.events if e[1] == "miss"] == ["read_boundaries"]
    assert_frame_equal(touched.boundaries["blockgroup"], first.boundaries["blockgroup"])


def test_changed_reader_parameters_invalidate(
    tmp_path: Path, sample_paths: dict[str, Path]
) -> None:
    cache = TableCache(tmp_path)
    path = sample_paths["acs"]

    def read(variables: list[str]) -> pd.DataFrame:
        key = {"path": str(path), "kwargs": {"variables": variables}}
        compute = lambda: sources.read_acs(path, variables=variables)  # noqa: E731
        return cache.table("read_acs", key, compute, inputs=[path], code=sources)

    a = read(["B28002_001", "B28002_013"])
    b = read(["B28002_001", "B28002_013"])
    c = read(["B28002_001"])
    assert (cache.hits, cache.misses) == (1, 2)
    assert_frame_equal(a, b, check_exact=True)
    assert list(c.columns) != list(a.columns)
    assert cache.size().entries == 2


def test_key_covers_code_and_parameters() -> None:
    def f() -> None:
        pass

    def g() -> None:
        return None

    assert cache_key("s", {"a": 1}, code=f) != cache_key("s", {"a": 1}, code=g)
    assert cache_key("s", {"a": 1}, code=sources) != cache_key("s", {"a": 1}, code=pipeline)
    assert cache_key("s", {"a": [1, 2]}) == cache_key("s", {"a": (1, 2)})
    assert cache_key("s", {"a": 1}) != cache_key("t", {"a": 1})
    with pytest.raises(TypeError, match="not JSON"):
        cache_key("s", {"a": object()})


def test_corrupt_entry_is_recomputed_and_replaced(
    tmp_path: Path, sample_paths: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cache = TableCache(tmp_path)
    path = sample_paths["blockgroup"]

    def load() -> gpd.GeoDataFrame:
        return cache.table(
            "read_boundaries",
            {"path": str(path)},
            lambda: sources.read_boundaries(path),
            inputs=[path],
        )

    good = load()
    (entry,) = tmp_path.glob("*.parquet")
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])  # truncated
    with caplog.at_level(logging.WARNING, logger="equity.cache"):
        again = load()
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    assert cache.events[-1][1] == "corrupt" and cache.misses == 2
    assert_frame_equal(good, again, check_exact=True)
    assert entry.stat().st_size == len(data)  # replaced by a complete entry
    assert_frame_equal(good, load(), check_exact=True)
    assert cache.hits == 1


def test_disabled_cache_writes_nothing(tmp_path: Path) -> None:
    before = cache_size()  # the session's default folder (tests/conftest.py)
    ds = pipeline.load_dataset(
        load_config(sample=True, cache=False, cache_folder=str(tmp_path / "tables"))
    )
    assert ds.cache is not None and not ds.cache.enabled
    assert (ds.cache.hits, ds.cache.misses) == (0, 0)
    assert not (tmp_path / "tables").exists()
    assert cache_size() == before
    assert pipeline.load_dataset(load_config(sample=True, cache=False)).cache.events == []
    assert cache_size() == before


def test_no_cache_flag_reaches_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    class Result:
        summary = "equity run: stubbed"

    def fake_run(cfg: object, **kwargs: object) -> Result:
        seen.append(cfg)
        return Result()

    monkeypatch.setattr(pipeline, "run", fake_run)
    assert main(["run", "--no-cache", "--out", str(tmp_path)]) == 0
    assert main(["run", "--out", str(tmp_path)]) == 0
    assert [c.cache for c in seen] == [False, True]


def test_cache_section_of_the_configuration(tmp_path: Path) -> None:
    toml = tmp_path / "equity.toml"
    toml.write_text('[cache]\nenabled = false\nfolder = "my-cache"\n')
    cfg = load_config(toml)
    assert cfg.cache is False
    assert cfg.cache_folder == str((tmp_path / "my-cache").resolve())
    toml.write_text('[cache]\nenabled = "yes"\nsize = 3\n')
    with pytest.raises(ConfigError) as err:
        load_config(toml)
    assert "cache.enabled = 'yes'" in str(err.value) and "'size'" in str(err.value)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        load_config(cache_folder=str(tmp_path / "afile"))


def test_failed_compute_or_write_leaves_no_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = TableCache(tmp_path)

    def fails() -> pd.DataFrame:
        msg = "compute failed on purpose"
        raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="on purpose"):
        cache.table("stage", {"a": 1}, fails)
    assert list(tmp_path.iterdir()) == []

    def half_write(self: pd.DataFrame, path: Path, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"PAR1 half a file")
        msg = "disk full on purpose"
        raise OSError(msg)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_write)
    table = pd.DataFrame({"x": [1.0]})
    with caplog.at_level(logging.WARNING, logger="equity.cache"):
        out = cache.table("stage", {"a": 1}, lambda: table)
    assert out is table  # the run goes on with the computed table
    assert any("could not write" in r.getMessage() for r in caplog.records)
    assert list(tmp_path.iterdir()) == []  # neither an entry nor a temporary file


def test_round_trip_is_exact_for_every_dtype(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "GEOID": pd.Series(["51001", None, "51005"], dtype="str"),
            "kind": pd.Categorical(["a", "b", None]),
            "grade": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
            "n": pd.array([1, None, 3], dtype="Int64"),
            "share": pd.array([0.5, None, 1.0], dtype="Float64"),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "x": [1.5, np.nan, -0.0],
            "i": np.array([1, 2, 3], dtype="int32"),
            "when": pd.to_datetime(["2021-01-01", None, "2021-03-01"]).tz_localize("UTC"),
            "label": pd.array(["p", pd.NA, "r"], dtype="string"),
        },
        index=pd.Index(["u", "v", "w"], name="place"),
    )
    df.attrs = {"source": "acs", "units": {"x": "km"}, "n": 2, "vintage": None, "ok": True}
    cache = TableCache(tmp_path)
    cache.table("rt", {}, lambda: df)
    out = cache.table("rt", {}, lambda: df)
    assert cache.hits == 1
    assert_frame_equal(df, out, check_exact=True)
    assert out.attrs == df.attrs and list(out.columns) == list(df.columns)

    gdf = gpd.GeoDataFrame(
        {"GEOID": pd.Series(["1", "2"], dtype="str")},
        geometry=gpd.GeoSeries([Point(-77, 38), None], crs="EPSG:4269"),
        index=pd.RangeIndex(5, 7),
    ).rename_geometry("shape")
    gdf.attrs = {"path": "x.shp", "level": "county"}
    cache.table("geo", {}, lambda: gdf)
    got = cache.table("geo", {}, lambda: gdf)
    assert isinstance(got, gpd.GeoDataFrame) and cache.hits == 2
    assert_frame_equal(gdf, got, check_exact=True)
    assert got.crs == gdf.crs and got.geometry.name == "shape" and got.attrs == gdf.attrs


def test_tables_that_would_not_round_trip_are_not_stored(tmp_path: Path) -> None:
    cache = TableCache(tmp_path)
    for df in (
        pd.DataFrame({"x": pd.Series(["a", 1], dtype=object)}),
        pd.DataFrame({0: [1.0]}),
        pd.DataFrame({"x": [1.0]}).set_axis(pd.Index([object()], dtype=object)),
    ):
        assert cache.table("odd", {"cols": str(list(df.columns))}, lambda d=df: d) is df
    tuple_attrs = pd.DataFrame({"x": [1.0]})
    tuple_attrs.attrs = {"bounds": (1, 2)}
    assert cache.table("odd", {}, lambda: tuple_attrs) is tuple_attrs
    assert [e[1] for e in cache.events] == ["uncacheable"] * 4
    assert cache.size().entries == 0


def test_size_clear_and_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = TableCache(tmp_path)
    cache.table("a", {}, lambda: pd.DataFrame({"x": [1.0]}))
    cache.table("b", {"k": 1}, lambda: pd.DataFrame({"x": [2.0]}))
    cache.table("b", {"k": 2}, lambda: pd.DataFrame({"x": [3.0]}))
    (tmp_path / "keep.txt").write_text("not an entry")
    size = cache.size()
    assert size.entries == 3 and size.bytes > 0 and size.by_stage["b"][0] == 2
    assert cache.clear(stage="a").entries == 1 and cache.size().entries == 2
    assert main(["cache", "info", "--folder", str(tmp_path)]) == 0
    assert "2 tables" in capsys.readouterr().out
    assert main(["cache", "clear", "--folder", str(tmp_path)]) == 0
    assert "removed 2 tables" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    monkeypatch.setattr(settings, "cache_folder", tmp_path / "none")
    assert clear_cache().entries == 0 and cache_size().entries == 0


def test_shapefile_fingerprint_covers_its_parts(shared_data: Path, tmp_path: Path) -> None:
    for part in shared_data.glob("boundaries/us/cb_2018_us_state_20m.*"):
        shutil.copy2(part, tmp_path / part.name)
    shp = tmp_path / "cb_2018_us_state_20m.shp"
    before = file_fingerprint(shp)
    assert {f["name"] for f in before["files"]} == {
        f"cb_2018_us_state_20m{ext}" for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")
    }
    dbf = tmp_path / "cb_2018_us_state_20m.dbf"
    os.utime(dbf, ns=(dbf.stat().st_atime_ns, dbf.stat().st_mtime_ns + 10**9))
    assert file_fingerprint(shp) != before
    (tmp_path / "cb_2018_us_state_20m.cpg").unlink()  # changes the DBF encoding the reader uses
    assert len(file_fingerprint(shp)["files"]) == 4
    assert file_fingerprint(tmp_path / "missing.csv")["missing"]


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("reader", "name"),
    [
        ("read_boundaries", "boundaries/va/cb_2020_51_bg_500k.shp"),
        ("read_acs", "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"),
    ],
)
def test_real_virginia_files_round_trip(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str, name: str
) -> None:
    path = shared_data / name
    direct = getattr(sources, reader)(path)
    cache = TableCache(tmp_path)

    def load() -> pd.DataFrame:
        func = getattr(sources, reader)
        return cache.table(reader, {"path": str(path)}, lambda: func(path), inputs=[path])

    load()
    _forbid_readers(monkeypatch)
    cached = load()
    assert (cache.misses, cache.hits) == (1, 1)
    assert type(cached) is type(direct)
    assert_frame_equal(direct, cached, check_exact=True)
    assert cached.attrs == direct.attrs
    if isinstance(direct, gpd.GeoDataFrame):
        assert cached.crs == direct.crs


def test_frame_digest_sees_values_geometry_and_crs() -> None:
    gdf = gpd.GeoDataFrame({"a": [1.0, 2.0]}, geometry=[Point(0, 0), None], crs="EPSG:4326")
    d = cache_mod.frame_digest(gdf)
    assert d == cache_mod.frame_digest(gdf.copy())
    assert d != cache_mod.frame_digest(gdf.assign(a=[1.0, 3.0]))
    assert d != cache_mod.frame_digest(gdf.set_crs("EPSG:4269", allow_override=True))
    moved = gdf.copy()
    moved.loc[0, "geometry"] = Point(0, 1)
    assert d != cache_mod.frame_digest(moved)
    assert cache_mod.frame_digest(None) is None


def test_street_grid_and_ookla_summaries_are_cached_by_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from equity import geographies

    # resolution 8 keeps the grid small; county and tract levels need Ookla summaries too
    cfg = load_config(
        sample=True,
        cache_folder=str(tmp_path / "tables"),
        levels=("street", "tract", "county"),
        grid_resolution=8,
        placement_level="county",
        n_draws=0,
    )
    first, _ = pipeline.build_levels(pipeline.load_dataset(cfg), cfg)
    stages = {"street_level_units", "street_level_crosswalk", "street_index", "ookla_to_polygons"}

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached stage was computed again")

    # the package's names and those the stage functions call in their home modules
    for module, name in (
        (geographies, "street_grid_pieces"),
        (geographies, "ookla_polygon_pieces"),
        (geographies.h3grid, "_street_grid_pieces"),
        (geographies.ookla, "ookla_polygon_pieces"),
    ):
        monkeypatch.setattr(module, name, boom)
    ds = pipeline.load_dataset(cfg)
    second, _ = pipeline.build_levels(ds, cfg)
    hits = [stage for stage, outcome, _ in ds.cache.events if outcome == "hit"]
    assert stages <= set(hits) and ds.cache.misses == 0
    # tracts and counties; the street cells' speeds are part of the cached street index
    assert hits.count("ookla_to_polygons") == 2
    for level, table in first.items():
        assert_frame_equal(table, second[level], check_exact=True, obj=level)

    # another minimum of Ookla tests: the summaries miss, the street grid does not
    monkeypatch.undo()
    monkeypatch.setattr(settings, "min_ookla_tests", settings.min_ookla_tests + 1)
    ds = pipeline.load_dataset(cfg)
    pipeline.build_levels(ds, cfg)
    outcomes = {(stage, outcome) for stage, outcome, _ in ds.cache.events}
    assert ("ookla_to_polygons", "miss") in outcomes
    assert ("street_level_units", "hit") in outcomes
    assert {"h3", "pyproj", "PROJ", "GEOS"} <= set(cache_mod._library_versions())

    # other block-group counts: the street grid misses (and computes) again
    monkeypatch.undo()
    ds = pipeline.load_dataset(cfg)
    ds.acs = ds.acs.assign(B11001_001E=ds.acs["B11001_001E"] + 1.0)
    pipeline.build_levels(ds, cfg)
    missed = {stage for stage, outcome, _ in ds.cache.events if outcome == "miss"}
    assert {"street_level_units", "street_level_crosswalk"} <= missed
    hits = [stage for stage, outcome, _ in ds.cache.events if outcome == "hit"]
    assert hits.count("ookla_to_polygons") >= 2  # tiles and tract/county polygons unchanged

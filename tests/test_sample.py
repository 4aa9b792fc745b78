"""Tests of the bundled sample region (`equity.sample`).

Most tests read the session's sample (fixture ``sample_paths``) back with plain
geopandas/pandas and assert the invariants the pipeline relies on: nesting of the Census
levels, internal consistency of the ACS counts, plausible spatial structure, and that every
file has the layout of the real public file it imitates.
"""

from __future__ import annotations

import csv
import io
import math
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.stats import spearmanr

from equity import sample, settings
from equity.errors import ConfigError

ALL_KEYS = {
    "state",
    "county",
    "tract",
    "blockgroup",
    "town",
    "acs",
    "ookla",
    "usage",
    "business",
    "libraries",
    "schools",
    "anchors",
}


# ---------------------------------------------------------------------------- helpers


def _read_level(paths: dict[str, Path], key: str) -> gpd.GeoDataFrame:
    return gpd.read_file(paths[key])


def _acs(paths: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(paths["acs"], dtype={"GEOID": str, "B19013_001MA": str})


def _tiles(paths: dict[str, Path]) -> gpd.GeoDataFrame:
    df = pd.read_parquet(paths["ookla"])
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries.from_wkt(df["tile"]), crs="EPSG:4326")


def _quadkey_bounds(quadkey: str) -> tuple[float, float, float, float]:
    """Bounds (west, south, east, north) of a Bing quadkey, computed independently."""
    x = y = 0
    for ch in quadkey:
        d = int(ch)
        x = (x << 1) | (d & 1)
        y = (y << 1) | (d >> 1)
    n = 2 ** len(quadkey)

    def lat(yy: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


@pytest.fixture(scope="module")
def levels(sample_paths: dict[str, Path]) -> dict[str, gpd.GeoDataFrame]:
    return {
        k: _read_level(sample_paths, k) for k in ("state", "county", "tract", "blockgroup", "town")
    }


@pytest.fixture(scope="module")
def acs(sample_paths: dict[str, Path]) -> pd.DataFrame:
    return _acs(sample_paths)


@pytest.fixture(scope="module")
def tiles(sample_paths: dict[str, Path]) -> gpd.GeoDataFrame:
    return _tiles(sample_paths)


# ---------------------------------------------------------------------------- files


def test_write_sample_returns_every_file(sample_paths: dict[str, Path]) -> None:
    assert set(sample_paths) == ALL_KEYS
    assert all(p.is_file() for p in sample_paths.values())
    folder = sample_paths["acs"].parent
    readme = (folder / "README.md").read_text()
    assert "FICTIONAL SAMPLE" in readme
    assert all(p.name in readme for p in sample_paths.values())
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert total < 10 * 1024 * 1024
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left


def test_regeneration_is_byte_identical(
    tmp_path: Path, sample_paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = time.perf_counter()
    again = sample.write_sample(tmp_path / "again")
    elapsed = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nsample generation took {elapsed:.2f} s")
    assert again.keys() == sample_paths.keys()
    for key, path in sample_paths.items():
        assert again[key].read_bytes() == path.read_bytes(), key
    first = sample_paths["acs"].parent / "README.md"
    assert (tmp_path / "again" / "README.md").read_bytes() == first.read_bytes()


def test_zip_entries_have_fixed_dates(sample_paths: dict[str, Path]) -> None:
    for key in ("state", "county", "tract", "blockgroup", "town"):
        with zipfile.ZipFile(sample_paths[key]) as zf:
            names = zf.namelist()
            assert names == sorted(names)
            assert {Path(n).suffix for n in names} >= {".shp", ".shx", ".dbf", ".prj", ".cpg"}
            assert {i.date_time for i in zf.infolist()} == {(2021, 1, 1, 0, 0, 0)}
            dbf = zf.read(next(n for n in names if n.endswith(".dbf")))
            assert tuple(dbf[1:4]) == (121, 1, 1)


@pytest.mark.slow
def test_other_seeds_give_valid_different_regions(tmp_path: Path) -> None:
    for seed in (1, 7):
        paths = sample.write_sample(tmp_path / str(seed), seed=seed)
        bg = gpd.read_file(paths["blockgroup"])
        tract = gpd.read_file(paths["tract"])
        assert 400 <= len(bg) <= 600
        assert set(bg["GEOID"].str[:11]) == set(tract["GEOID"])
        assert bg["BLKGRPCE"].isin(list("123456789")).all()
        t = pd.read_parquet(paths["ookla"])
        assert 4000 <= len(t) <= 6500
    assert (tmp_path / "1" / sample.FILES["acs"]).read_bytes() != (
        tmp_path / "7" / sample.FILES["acs"]
    ).read_bytes()


def test_sample_paths_generates_once_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_paths: dict[str, Path]
) -> None:
    monkeypatch.setattr(settings, "cache_folder", tmp_path / "cache")
    calls: list[Path] = []

    def fake_write(out_dir: Path, *, seed: int) -> dict[str, Path]:
        # Copy the session's sample instead of generating it again (what is tested here is
        # the caching and the rename into place).
        calls.append(Path(out_dir))
        src = sample_paths["acs"].parent
        for f in src.iterdir():
            if f.is_file():
                (Path(out_dir) / f.name).write_bytes(f.read_bytes())
        return {k: Path(out_dir) / v for k, v in sample.FILES.items()}

    monkeypatch.setattr(sample, "write_sample", fake_write)
    first = sample.sample_paths()
    folder = first["acs"].parent
    assert folder.name.startswith(f"sample-{sample.equity.__version__}-{settings.seed}-")
    assert folder.parent == tmp_path / "cache"
    assert calls and calls[0].parent == folder.parent and calls[0] != folder  # temp beside it
    mtime = first["acs"].stat().st_mtime_ns
    second = sample.sample_paths()
    assert second == first
    assert len(calls) == 1
    assert second["acs"].stat().st_mtime_ns == mtime
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [folder.name]

    # An incomplete copy (a crash) is regenerated.
    first["ookla"].unlink()
    third = sample.sample_paths()
    assert len(calls) == 2 and third["ookla"].is_file()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [folder.name]

    # A copy another process completed while we were generating wins; ours is discarded.
    first["acs"].unlink()

    def racing(out_dir: Path, *, seed: int) -> dict[str, Path]:
        res = fake_write(out_dir, seed=seed)
        (folder / sample.FILES["acs"]).write_bytes(b"other process\n")
        return res

    monkeypatch.setattr(sample, "write_sample", racing)
    fourth = sample.sample_paths()
    assert fourth == first
    assert fourth["acs"].read_bytes() == b"other process\n"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [folder.name]


# ---------------------------------------------------------------------------- geography


def test_levels_nest_by_geoid(levels: dict[str, gpd.GeoDataFrame]) -> None:
    st, co, tr, bg, tw = (levels[k] for k in ("state", "county", "tract", "blockgroup", "town"))
    lengths = {"state": 2, "county": 5, "tract": 11, "blockgroup": 12, "town": 10}
    for key, n in lengths.items():
        g = levels[key]["GEOID"]
        assert g.str.fullmatch(rf"\d{{{n}}}").all(), key
        assert g.is_unique, key
    assert set(st["GEOID"]) == set(sample.SAMPLE_STATES)
    assert set(bg["GEOID"].str[:11]) == set(tr["GEOID"])
    assert set(tr["GEOID"].str[:5]) == set(co["GEOID"])
    assert set(co["GEOID"].str[:2]) == set(st["GEOID"])
    assert set(tw["GEOID"].str[:5]) == set(co["GEOID"])
    assert (co["COUNTYFP"].astype(int) % 2 == 1).all()
    assert co.groupby("STATEFP").size().between(3, 5).all()
    assert 400 <= len(bg) <= 600
    assert bg.groupby("STATEFP").size().between(120, 200).all()
    per_tract = bg.groupby(bg["GEOID"].str[:11]).size()
    assert per_tract.max() <= 9 and 2.0 <= per_tract.mean() <= 4.5
    assert tw.groupby("COUNTYFP").size().min() >= 1
    assert tw.groupby(tw["GEOID"].str[:5]).size().between(3, 6).all()
    assert (bg["AFFGEOID"] == "1500000US" + bg["GEOID"]).all()
    assert (tr["AFFGEOID"] == "1400000US" + tr["GEOID"]).all()
    assert st["NAME"].str.contains("(sample)", regex=False).all()
    assert tw["NAMELSAD"].str.fullmatch(r"[A-Z][a-z]+ (city|town|township)").all()


def test_geographies_lie_in_open_ocean(levels: dict[str, gpd.GeoDataFrame]) -> None:
    w, s, e, n = levels["state"].total_bounds
    assert -45 <= w < e <= -42 and 37.5 <= s < n <= 39.5
    assert levels["blockgroup"].crs.to_epsg() == 4269


def test_boundary_columns_match_census_files(
    levels: dict[str, gpd.GeoDataFrame], shared_data: Path
) -> None:
    va = shared_data / "boundaries" / "va"
    real_bg = gpd.read_file(va / "cb_2020_51_bg_500k.shp", rows=1)
    real_tract = gpd.read_file(va / "cb_2020_51_tract_500k.shp", rows=1)
    real_county = gpd.read_file(shared_data / "boundaries/us/cb_2018_us_county_20m.shp", rows=1)
    real_state = gpd.read_file(shared_data / "boundaries/us/cb_2018_us_state_20m.shp", rows=1)
    assert list(levels["blockgroup"].columns) == list(real_bg.columns)
    assert list(levels["tract"].columns) == list(real_tract.columns)
    assert list(levels["state"].columns) == list(real_state.columns)
    assert set(real_county.columns) <= set(levels["county"].columns)
    assert levels["blockgroup"]["ALAND"].dtype == real_bg["ALAND"].dtype


def _area(g: gpd.GeoSeries) -> np.ndarray:
    return g.to_crs("EPSG:6933").area.to_numpy()


def test_levels_are_exact_unions_of_the_level_below(levels: dict[str, gpd.GeoDataFrame]) -> None:
    pairs = [("blockgroup", "tract", 11), ("tract", "county", 5), ("county", "state", 2)]
    for child, parent, n in pairs:
        c, p = levels[child], levels[parent].set_index("GEOID")
        merged = c.dissolve(by=c["GEOID"].str[:n])
        parents = p.loc[merged.index]
        sym = shapely.area(
            shapely.symmetric_difference(merged.geometry.values, parents.geometry.values)
        )
        assert (sym <= 1e-9 * shapely.area(parents.geometry.values)).all(), (child, parent)
        land = c.groupby(c["GEOID"].str[:n])["ALAND"].sum()
        assert (land == p.loc[land.index, "ALAND"]).all(), (child, parent)
    bg = levels["blockgroup"]
    # ALAND is the equal-area (EPSG:6933) area in m2, rounded to a whole m2.
    assert np.abs(_area(bg.geometry) - bg["ALAND"]).max() <= 1.0


def test_towns_tile_their_county_without_overlaps(levels: dict[str, gpd.GeoDataFrame]) -> None:
    # Planar areas in the files' own coordinates: overlay is exact there, whereas projecting
    # adds vertices' curvature differences of about 1e-6 (straight edges in degrees bend).
    towns, counties = levels["town"], levels["county"].set_index("GEOID")
    towns = towns.assign(county=towns["GEOID"].str[:5], area=shapely.area(towns.geometry.values))
    for cid, group in towns.groupby("county"):
        county = counties.loc[cid, "geometry"]
        union = shapely.union_all(group.geometry.values)
        assert abs(group["area"].sum() - county.area) <= 1e-6 * county.area, cid
        assert abs(shapely.area(union) - group["area"].sum()) <= 1e-6 * county.area, cid
        assert shapely.area(shapely.symmetric_difference(union, county)) <= 1e-6 * county.area


def test_towns_do_not_follow_block_group_edges(levels: dict[str, gpd.GeoDataFrame]) -> None:
    bg, towns = levels["blockgroup"], levels["town"]
    pieces = gpd.overlay(
        bg[["GEOID", "geometry"]], towns[["GEOID", "geometry"]], keep_geom_type=True
    )
    pieces = pieces.assign(area=_area(pieces.geometry))
    big = pieces[pieces["area"] > 1e4]  # ignore slivers below 1 ha
    split = big.groupby("GEOID_1").size()
    assert (split > 1).sum() >= 0.1 * len(bg)


# ---------------------------------------------------------------------------- ACS


def test_acs_header_has_the_real_columns_in_order(acs: pd.DataFrame, shared_data: Path) -> None:
    real = shared_data / "acs" / "acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"
    real_cols = pd.read_csv(real, nrows=0).columns.tolist()
    cols = acs.columns.tolist()
    positions = [cols.index(c) for c in real_cols]  # every real column exists ...
    assert positions == sorted(positions)  # ... in the same order
    assert cols[0] == "GEOID"
    estimates = [c for c in cols if c.endswith("E")]
    assert all(c[:-1] + "M" in cols for c in estimates)


def test_acs_has_every_contract_variable(acs: pd.DataFrame) -> None:
    needed = [
        "B01003_001", "B11001_001", "B28002_001", "B28002_004", "B28002_007", "B28002_013",
        "B28001_001", "B28001_002", "C17002_001", "C17002_002", "C17002_003", "B01001_001",
        "B15003_001", "B18101_001", "C16002_001", "B19013_001",
        *[f"B01001_{i:03d}" for i in [*range(20, 26), *range(44, 50)]],
        *[f"B15003_{i:03d}" for i in range(2, 17)],
        *[f"B18101_{i:03d}" for i in (4, 7, 10, 13, 16, 19, 23, 26, 29, 32, 35, 38)],
        "C16002_004", "C16002_007", "C16002_010", "C16002_013",
    ]  # fmt: skip
    for v in needed:
        assert f"{v}E" in acs and f"{v}M" in acs, v
        assert pd.api.types.is_integer_dtype(acs[f"{v}E"]), v


def test_acs_counts_are_consistent(acs: pd.DataFrame, levels: dict[str, gpd.GeoDataFrame]) -> None:
    assert set(acs["GEOID"]) == set(levels["blockgroup"]["GEOID"])
    e = {c[:-1]: acs[c] for c in acs.columns if c.endswith("E")}
    hh = e["B11001_001"]
    assert (e["B28002_001"] == hh).all() and (e["B28001_001"] == hh).all()
    assert (e["C16002_001"] == hh).all()
    assert (e["B01001_001"] == e["B01003_001"]).all()
    assert (e["B28002_004"] + e["B28002_013"] <= e["B28002_001"]).all()
    assert (e["B28002_007"] <= e["B28002_004"]).all()
    assert (e["B28001_002"] <= e["B28001_001"]).all()
    assert (e["C17002_002"] + e["C17002_003"] <= e["C17002_001"]).all()
    assert (e["C17002_001"] <= e["B01003_001"]).all()
    age = sum(e[f"B01001_{i:03d}"] for i in [*range(20, 26), *range(44, 50)])
    assert (age <= e["B01001_001"]).all()
    nohs = sum(e[f"B15003_{i:03d}"] for i in range(2, 17))
    assert (nohs <= e["B15003_001"]).all() and (e["B15003_001"] <= e["B01003_001"]).all()
    dis = sum(e[f"B18101_{i:03d}"] for i in (4, 7, 10, 13, 16, 19, 23, 26, 29, 32, 35, 38))
    assert (dis <= e["B18101_001"]).all()
    lep = sum(e[c] for c in ("C16002_004", "C16002_007", "C16002_010", "C16002_013"))
    assert (lep <= e["C16002_001"]).all()
    counts = pd.DataFrame({k: v for k, v in e.items() if k != "B19013_001"})
    assert (counts >= 0).all().all()
    occupied = hh > 0
    assert hh[occupied].between(250, 1500).all()
    ratio = e["B01003_001"][occupied] / hh[occupied]
    assert 2.2 <= ratio.mean() <= 2.9


def test_acs_moes_are_block_group_like(acs: pd.DataFrame) -> None:
    moe = acs["B11001_001M"]
    est = acs["B11001_001E"]
    assert (acs["B28002_001M"] == moe).all()
    rel = (moe / est)[est > 0]
    assert 0.1 <= rel.median() <= 0.4  # e.g. 574 +/- 152
    small = acs["B28002_013E"].between(50, 120)
    rel_small = (acs["B28002_013M"] / acs["B28002_013E"])[small]
    assert 0.5 <= rel_small.median() <= 1.2  # e.g. 82 +/- 74
    ms = [c for c in acs.columns if c.endswith("M") and c not in ("B19013_001M", "B01003_001M")]
    assert (acs[ms] > 0).all().all()
    assert (acs.loc[acs["B28002_013E"] == 0, "B28002_013M"] == 12).all()


def test_acs_has_census_sentinels(acs: pd.DataFrame) -> None:
    inc, moe, ann = acs["B19013_001E"], acs["B19013_001M"], acs["B19013_001MA"].fillna("")
    nc = inc == -666666666
    assert nc.sum() >= 3 and (moe[nc] == -222222222).all() and (ann[nc] == "**").all()
    top = inc == 250001
    assert top.sum() >= 1 and (moe[top] == -333333333).all() and (ann[top] == "***").all()
    bottom = inc == 2499
    assert bottom.sum() >= 1 and (moe[bottom] == -333333333).all()
    assert 1 <= (acs["B01003_001M"] == -555555555).sum() <= 3
    empty = acs["B11001_001E"] == 0
    assert 1 <= empty.sum() <= 3
    assert nc[empty].all()  # median not computable without households
    valid = inc > 0
    assert (moe[valid & ~top & ~bottom] > 0).all()
    assert (ann[valid & ~top & ~bottom] == "").all()


def test_income_and_no_internet_are_negatively_correlated(acs: pd.DataFrame) -> None:
    valid = (acs["B19013_001E"] > 0) & (acs["B28002_001E"] > 0)
    share = acs["B28002_013E"] / acs["B28002_001E"]
    rho = spearmanr(acs.loc[valid, "B19013_001E"], share[valid]).statistic
    assert rho < -0.4


def test_need_clusters_in_space(acs: pd.DataFrame, levels: dict[str, gpd.GeoDataFrame]) -> None:
    from esda.moran import Moran
    from libpysal.weights import Queen

    bg = levels["blockgroup"].merge(acs, on="GEOID")
    bg = bg[bg["B28002_001E"] > 0].reset_index(drop=True)
    share = bg["B28002_013E"] / bg["B28002_001E"]
    w = Queen.from_dataframe(bg, use_index=False, silence_warnings=True)
    w.transform = "r"
    mi = Moran(share.to_numpy(), w, permutations=0)
    assert mi.I > 0.2


def test_rural_areas_are_poorer_older_and_less_connected(
    acs: pd.DataFrame, levels: dict[str, gpd.GeoDataFrame]
) -> None:
    bg = levels["blockgroup"].merge(acs, on="GEOID")
    bg = bg[bg["B11001_001E"] > 0]
    density = bg["B11001_001E"] / (bg["ALAND"] / 1e6)
    rural = density < density.quantile(0.25)
    dense = density > density.quantile(0.5)
    no_int = bg["B28002_013E"] / bg["B28002_001E"]
    no_comp = 1 - bg["B28001_002E"] / bg["B28001_001E"]
    age65 = sum(bg[f"B01001_{i:03d}E"] for i in [*range(20, 26), *range(44, 50)])
    old = age65 / bg["B01001_001E"]
    inc = bg["B19013_001E"].where(bg["B19013_001E"] > 0)
    assert no_int[rural].mean() > no_int[dense].mean()
    assert no_comp[rural].mean() > no_comp[dense].mean()
    assert old[rural].mean() > old[dense].mean()
    assert inc[rural].median() < inc[dense].median()


# ---------------------------------------------------------------------------- Ookla


def test_ookla_layout(tiles: gpd.GeoDataFrame, sample_paths: dict[str, Path]) -> None:
    import pyarrow.parquet as pq

    schema = pq.read_schema(sample_paths["ookla"])
    assert schema.names == [
        "quadkey", "tile", "avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices",
    ]  # fmt: skip
    assert [str(t) for t in schema.types] == ["string", "string"] + ["int64"] * 5
    assert 4000 <= len(tiles) <= 6000
    assert tiles["quadkey"].str.fullmatch(r"[0-3]{16}").all()
    assert tiles["quadkey"].is_unique
    assert tiles["tile"].str.startswith("POLYGON((").all()
    assert (tiles["tests"] >= tiles["devices"]).all() and (tiles["devices"] >= 1).all()
    assert (tiles[["avg_d_kbps", "avg_u_kbps", "avg_lat_ms"]] > 0).all().all()


def test_tile_polygons_match_their_quadkeys(tiles: gpd.GeoDataFrame) -> None:
    expected = np.array([_quadkey_bounds(q) for q in tiles["quadkey"]])
    np.testing.assert_allclose(tiles.geometry.bounds.to_numpy(), expected, rtol=0, atol=1e-9)
    assert (shapely.get_num_coordinates(tiles.geometry.values) == 5).all()


def _tiles_in_bg(tiles: gpd.GeoDataFrame, bg: gpd.GeoDataFrame) -> pd.Series:
    # Planar centre of each tile in degrees, as a reader assigning tiles by centroid would.
    centres = gpd.GeoDataFrame(geometry=shapely.centroid(tiles.geometry.values), crs=tiles.crs)
    joined = gpd.sjoin(centres, bg.to_crs(tiles.crs)[["GEOID", "geometry"]], predicate="within")
    return joined["GEOID"].value_counts().reindex(bg["GEOID"], fill_value=0)


def test_every_occupied_block_group_has_three_tiles(
    tiles: gpd.GeoDataFrame, levels: dict[str, gpd.GeoDataFrame], acs: pd.DataFrame
) -> None:
    n = _tiles_in_bg(tiles, levels["blockgroup"])
    hh = acs.set_index("GEOID")["B11001_001E"].reindex(n.index)
    assert (n[hh > 0] >= 3).all()
    assert (n[hh == 0] == 0).all()


def test_rural_tiles_are_slower_and_slower_tiles_lag(
    tiles: gpd.GeoDataFrame, levels: dict[str, gpd.GeoDataFrame], acs: pd.DataFrame
) -> None:
    bg = levels["blockgroup"].merge(acs[["GEOID", "B11001_001E"]], on="GEOID").to_crs(tiles.crs)
    bg["density"] = bg["B11001_001E"] / (bg["ALAND"] / 1e6)
    centres = gpd.GeoDataFrame(
        tiles.drop(columns="geometry"),
        geometry=shapely.centroid(tiles.geometry.values),
        crs=tiles.crs,
    )
    j = gpd.sjoin(centres, bg[["density", "geometry"]], predicate="within")
    low = j["density"] < bg["density"].quantile(0.25)
    high = j["density"] > bg["density"].quantile(0.75)
    mbps = j["avg_d_kbps"] / 1000
    assert mbps[low].mean() < 0.5 * mbps[high].mean()
    assert 5 <= mbps[low].median() <= 60
    assert 100 <= mbps[high].median() <= 400
    assert spearmanr(tiles["avg_d_kbps"], tiles["avg_lat_ms"]).statistic < -0.3
    # Street by street: speeds vary within a block group, not just between them.
    spread = j.groupby("index_right")["avg_d_kbps"].agg(lambda s: s.max() / s.min())
    assert spread.median() > 1.5
    # Devices follow households: more in the denser block groups' tiles in total.
    per_bg = j.groupby("index_right")["devices"].sum()
    hh = bg["B11001_001E"].reindex(per_bg.index)
    assert spearmanr(per_bg, hh).statistic > 0.3


# ---------------------------------------------------------------------------- county files


def test_usage_file_layout(
    sample_paths: dict[str, Path], shared_data: Path, levels: dict[str, gpd.GeoDataFrame]
) -> None:
    raw = sample_paths["usage"].read_bytes()
    real = (shared_data / "broadband" / "microsoft_broadband_data_2020October.csv").read_bytes()
    assert raw.split(b"\r\n")[0] == real.split(b"\r\n")[0]
    assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n")
    df = pd.read_csv(io.BytesIO(raw), dtype=str)
    assert df.columns.tolist() == pd.read_csv(io.BytesIO(real), nrows=0).columns.tolist()
    ids = df["COUNTY ID"]
    assert ids.str.fullmatch(r"[1-9]\d*").all()  # no zero padding
    assert set(ids.str.zfill(5)) == set(levels["county"]["GEOID"])
    assert (df.iloc[:, 3] == " -   ").sum() == 1
    ok = df.iloc[:, 3] != " -   "
    assert df.loc[ok].iloc[:, 3].astype(float).between(0, 1).all()
    assert df.iloc[:, 4].astype(float).between(0, 1).all()
    assert set(df["ST"]) == {a for _, a in sample.SAMPLE_STATES.values()}


def test_usage_follows_household_broadband(
    sample_paths: dict[str, Path], acs: pd.DataFrame
) -> None:
    df = pd.read_csv(sample_paths["usage"], dtype={"COUNTY ID": str})
    usage = df.set_index(df["COUNTY ID"].str.zfill(5)).iloc[:, -1]
    g = acs.groupby(acs["GEOID"].str[:5])[["B28002_004E", "B28002_001E"]].sum()
    share = (g["B28002_004E"] / g["B28002_001E"]).reindex(usage.index)
    assert spearmanr(usage, share).statistic > 0.5
    assert (usage < share).all()  # usage at 25 Mbps is below the subscription share


def test_business_patterns_layout_and_consistency(
    sample_paths: dict[str, Path], levels: dict[str, gpd.GeoDataFrame]
) -> None:
    text = sample_paths["business"].read_text(encoding="latin-1")
    header = next(csv.reader(io.StringIO(text)))
    assert header[:10] == [
        "fipstate", "fipscty", "naics", "emp_nf", "emp", "qp1_nf", "qp1", "ap_nf", "ap", "est",
    ]  # fmt: skip
    assert header[-2:] == ["censtate", "cencty"]
    assert text.splitlines()[1].startswith('"9')  # quoted, zero-padded codes
    df = pd.read_csv(io.StringIO(text), dtype={"fipstate": str, "fipscty": str, "naics": str})
    df["GEOID"] = df["fipstate"] + df["fipscty"]
    assert set(df["GEOID"]) == set(levels["county"]["GEOID"])
    sizes = header[10:19]  # n<5 ... n1000; n1000_1..4 split n1000 again
    assert sizes[0] == "n<5" and sizes[-1] == "n1000"
    assert (df[sizes].sum(axis=1) == df["est"]).all()
    assert (df[["n1000_1", "n1000_2", "n1000_3", "n1000_4"]].sum(axis=1) == df["n1000"]).all()
    wide = df.pivot(index="GEOID", columns="naics", values="est").fillna(0)
    sectors = [c for c in wide.columns if c.endswith("----") and c != "------"]
    assert (wide[sectors].sum(axis=1) <= wide["------"]).all()
    assert (wide["813///"] <= wide["81----"]).all()
    for col in ("emp", "ap", "qp1"):
        w = df.pivot(index="GEOID", columns="naics", values=col).fillna(0)
        assert (w[sectors].sum(axis=1) <= w["------"]).all()
        assert (w["813///"] <= w["81----"]).all()
    assert df["emp_nf"].isin(["G", "H", "J"]).all()


# ---------------------------------------------------------------------------- points


def _points_in_county(
    lon: pd.Series, lat: pd.Series, county: pd.Series, counties: gpd.GeoDataFrame
) -> pd.Series:
    pts = gpd.GeoDataFrame(
        {"expected": county.to_numpy()},
        geometry=gpd.points_from_xy(lon.astype(float), lat.astype(float)),
        crs="EPSG:4269",
    )
    j = gpd.sjoin(pts, counties[["GEOID", "geometry"]], predicate="within", how="left")
    return j["GEOID"] == j["expected"]


def test_libraries_layout(
    sample_paths: dict[str, Path], shared_data: Path, levels: dict[str, gpd.GeoDataFrame]
) -> None:
    real = pd.read_csv(shared_data / "anchors" / "imls_pls_fy19_outlet_pud19i.csv", nrows=0)
    lib = pd.read_csv(sample_paths["libraries"], dtype=str, keep_default_na=False)
    assert lib.columns.tolist() == real.columns.tolist()
    assert lib["C_OUT_TY"].isin(["CE", "BR", "BS"]).all()
    county = lib["INCITSST"] + lib["INCITSCO"]
    assert set(county) <= set(levels["county"]["GEOID"])
    ce = lib[lib["C_OUT_TY"] == "CE"]
    assert (ce.groupby(county[ce.index]).size() == 1).all()
    assert set(county[ce.index]) == set(levels["county"]["GEOID"])
    bs = lib["C_OUT_TY"] == "BS"
    assert 1 <= bs.sum() <= 2
    assert (lib.loc[bs, "LONGITUD"] == "").all() and (lib.loc[bs, "LATITUDE"] == "").all()
    placed = lib[~bs]
    inside = _points_in_county(
        placed["LONGITUD"], placed["LATITUDE"], county[placed.index], levels["county"]
    )
    assert inside.all()
    assert lib["LIBID"].is_unique
    assert (lib["LIBID"] == lib["FSCSKEY"] + "-" + lib["FSCS_SEQ"]).all()


def test_schools_layout(
    sample_paths: dict[str, Path], levels: dict[str, gpd.GeoDataFrame], acs: pd.DataFrame
) -> None:
    sch = pd.read_csv(sample_paths["schools"], dtype=str)
    for col in ("NCESSCH", "LEAID", "NAME", "CNTY", "LAT", "LON", "LOCALE", "STATE"):
        assert col in sch
    assert sch["NCESSCH"].str.fullmatch(r"\d{12}").all() and sch["NCESSCH"].is_unique
    assert (sch["NCESSCH"].str[:7] == sch["LEAID"]).all()
    assert _points_in_county(sch["LON"], sch["LAT"], sch["CNTY"], levels["county"]).all()
    pop = acs.groupby(acs["GEOID"].str[:5])["B01003_001E"].sum()
    n = sch.groupby("CNTY").size().reindex(pop.index, fill_value=0)
    assert spearmanr(n, pop).statistic > 0.7


def test_anchors_layout(sample_paths: dict[str, Path], levels: dict[str, gpd.GeoDataFrame]) -> None:
    anc = pd.read_csv(sample_paths["anchors"], dtype=str)
    assert anc.columns.tolist() == [
        "anchor_id", "name", "kind", "address", "city", "state_abbr", "county_fips",
        "latitude", "longitude",
    ]  # fmt: skip
    assert set(anc["kind"]) == {"college", "nonprofit", "community_center", "workforce_center"}
    assert anc["anchor_id"].is_unique
    assert _points_in_county(
        anc["longitude"], anc["latitude"], anc["county_fips"], levels["county"]
    ).all()
    work = anc[anc["kind"] == "workforce_center"].groupby("county_fips").size()
    assert set(work.index) == set(levels["county"]["GEOID"])
    # Denser in towns: most anchors lie in block groups above the median household density.
    towns = levels["town"]
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(anc["longitude"].astype(float), anc["latitude"].astype(float)),
        crs=towns.crs,
    )
    j = gpd.sjoin(pts, towns[["NAME", "geometry"]], predicate="within")
    assert (j["NAME"].to_numpy() == anc.loc[j.index, "city"].to_numpy()).mean() > 0.95


# ---------------------------------------------------------------------------- real readers


def test_sample_goes_through_the_real_readers(
    sample_paths: dict[str, Path], levels: dict[str, gpd.GeoDataFrame], acs: pd.DataFrame
) -> None:
    from equity import sources

    raw_acs = acs
    got = sources.read_acs(sample_paths["acs"])
    assert len(got) == len(raw_acs) and set(got["GEOID"]) == set(raw_acs["GEOID"])
    flags = got.set_index("GEOID")["B19013_001_flag"]
    raw = raw_acs.set_index("GEOID")["B19013_001E"]
    assert (flags[raw == 250001] == "median_top_coded").all()
    assert (flags[raw == 2499] == "median_bottom_coded").all()
    assert (flags[raw == -666666666] != "").all()
    assert got.set_index("GEOID")["B19013_001E"][raw < 0].isna().all()
    assert (got["B01003_001_flag"] != "").sum() == (raw_acs["B01003_001M"] < 0).sum()

    for key, level in (
        ("state", "state"),
        ("county", "county"),
        ("tract", "tract"),
        ("blockgroup", "blockgroup"),
        ("town", "town"),
    ):
        b = sources.read_boundaries(sample_paths[key])
        assert len(b) == len(levels[key]), key
        assert set(b["GEOID"]) == set(levels[key]["GEOID"]), key
        assert (b["level"] == level).all(), key
        assert b.crs.to_epsg() == 4326

    t = sources.read_ookla(sample_paths["ookla"])
    raw_t = pd.read_parquet(sample_paths["ookla"]).set_index("quadkey")
    assert len(t) == len(raw_t)
    np.testing.assert_allclose(
        t.set_index("quadkey")["download_mbps"], raw_t.loc[t["quadkey"], "avg_d_kbps"] / 1000
    )

    u = sources.read_broadband_usage(sample_paths["usage"])
    assert set(u["GEOID"]) == set(levels["county"]["GEOID"])
    assert u["broadband_availability"].isna().sum() == 1
    assert u["broadband_usage"].between(0, 1).all()

    cbp = sources.read_business_patterns(sample_paths["business"])
    assert set(cbp["GEOID"]) == set(levels["county"]["GEOID"])
    assert {"------", "813///"} <= set(cbp["naics"])

    lib = sources.read_libraries(sample_paths["libraries"])
    n_rows = len(pd.read_csv(sample_paths["libraries"], dtype=str))
    assert lib.attrs["n_missing_coordinates"] == 2
    assert len(lib) == n_rows - 2
    assert set(lib["county_GEOID"]) == set(levels["county"]["GEOID"])

    for key in ("schools", "anchors"):
        pts = sources.read_anchors(sample_paths[key])
        assert len(pts) == len(pd.read_csv(sample_paths[key], dtype=str)), key
        assert set(pts["county_GEOID"]) <= set(levels["county"]["GEOID"]), key


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_bad_seed_is_a_config_error(tmp_path: Path, seed: object) -> None:
    with pytest.raises(ConfigError, match="seed"):
        sample.write_sample(tmp_path, seed=seed)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_output_path_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("not a folder")
    with pytest.raises(ConfigError, match="taken"):
        sample.write_sample(target)


def test_failure_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fail half-way through writing: the boundary files are already in the temporary folder.
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(sample, "_write_parquet", broken)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        sample.write_sample(out)
    assert not out.exists() or list(out.iterdir()) == []

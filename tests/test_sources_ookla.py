"""Tests of equity.sources.ookla: quadkeys, the real Hawaii tiles, Parquet/zip variants, UVA aggregates."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equity.errors import DataError, SchemaError
from equity.sources import quadkey_to_bounds, read_boundaries, read_ookla, read_ookla_aggregates

HAWAII = "ookla/ookla_fixed_tiles_hawaii_2021Q1.geojson"
UVA = "ookla/uva_sdad_va_hdcttr_2019_2021_ookla_fixed_speed_measurements.csv"


@pytest.fixture(scope="module")
def hawaii(shared_data: Path) -> gpd.GeoDataFrame:
    return read_ookla(shared_data / HAWAII)


def test_real_hawaii_tiles(hawaii: gpd.GeoDataFrame) -> None:
    assert len(hawaii) == 4292
    assert list(hawaii.columns) == [
        "quadkey",
        "download_mbps",
        "upload_mbps",
        "latency_ms",
        "tests",
        "devices",
        "geometry",
    ]
    assert hawaii["quadkey"].is_unique and (hawaii["quadkey"].str.len() == 16).all()
    assert hawaii.crs.to_epsg() == 4326
    assert (
        (hawaii[["download_mbps", "upload_mbps", "latency_ms", "tests", "devices"]] >= 0)
        .all()
        .all()
    )
    assert hawaii["tests"].min() >= 1
    assert hawaii.attrs["service"] == "fixed" and hawaii.attrs["vintage"] == "2021Q1"
    assert "CC BY-NC-SA" in hawaii.attrs["licence"]
    # published geometry equals the quadkey tile
    b = quadkey_to_bounds(hawaii["quadkey"])
    assert np.abs(b - hawaii.geometry.bounds.to_numpy()).max() < 1e-9


def test_real_hawaii_tiles_in_counties(shared_data: Path, hawaii: gpd.GeoDataFrame) -> None:
    counties = read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    hi = counties.loc[counties["GEOID"].str.startswith("15")]
    centroids = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(
            (hawaii.bounds["minx"] + hawaii.bounds["maxx"]) / 2,
            (hawaii.bounds["miny"] + hawaii.bounds["maxy"]) / 2,
        ),
        crs=4326,
    )
    joined = gpd.sjoin(centroids, hi[["GEOID", "geometry"]], predicate="within")
    assert len(joined) == 4096


def test_quadkey_known_tiles() -> None:
    b = quadkey_to_bounds(["0", "1", "2", "3", "03", ""][:5])
    assert b[0].tolist()[:1] == [-180.0] and b[3][0] == 0.0 and b[3][3] == 0.0
    assert b[4][0] == -90.0 and b[4][2] == 0.0  # "03": east half of the north-west quadrant's south
    with pytest.raises(DataError, match="'0124'"):
        quadkey_to_bounds(["0124"])


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="0123", min_size=1, max_size=20))
def test_quadkey_children_tile_their_parent(q: str) -> None:
    parent = quadkey_to_bounds([q])[0]
    kids = quadkey_to_bounds([q + d for d in "0123"])
    assert np.isclose(kids[:, 0].min(), parent[0]) and np.isclose(kids[:, 2].max(), parent[2])
    assert np.isclose(kids[:, 1].min(), parent[1]) and np.isclose(kids[:, 3].max(), parent[3])
    assert (kids[:, 0] < kids[:, 2]).all() and (kids[:, 1] < kids[:, 3]).all()


def _tiles() -> pd.DataFrame:
    qk = ["0222111113233011", "0223000032130100", "0222111113233012"]
    b = quadkey_to_bounds(qk)
    wkt = [
        f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))" for x0, y0, x1, y1 in b
    ]
    return pd.DataFrame(
        {
            "quadkey": qk,
            "tile": wkt,
            "avg_d_kbps": [126482, 142428, 5000],
            "avg_u_kbps": [19756, 51493, 1000],
            "avg_lat_ms": [13, 15, 40],
            "tests": [9, 3, 1],
            "devices": [1, 2, 1],
        }
    )


def test_parquet_with_wkt(tmp_path: Path) -> None:
    path = tmp_path / "2021-04-01_performance_mobile_tiles.parquet"
    _tiles().to_parquet(path)
    gdf = read_ookla(path, service="mobile")
    assert gdf["download_mbps"].tolist() == [126.482, 142.428, 5.0]
    assert gdf.attrs["service"] == "mobile" and gdf.attrs["vintage"] == "2021Q2"
    assert np.allclose(gdf.geometry.bounds.to_numpy(), quadkey_to_bounds(gdf["quadkey"]))


def test_csv_without_geometry_and_integer_quadkeys(tmp_path: Path) -> None:
    df = _tiles().drop(columns="tile")
    df["quadkey"] = df["quadkey"].astype("int64")  # loses the leading zero
    path = tmp_path / "tiles.csv"
    df.to_csv(path, index=False)
    gdf = read_ookla(path, vintage="2021Q1")
    assert (gdf["quadkey"].str.len() == 16).all() and gdf["quadkey"].iloc[0] == "0222111113233011"
    assert np.allclose(gdf.geometry.bounds.to_numpy(), quadkey_to_bounds(_tiles()["quadkey"]))
    assert gdf.attrs["vintage"] == "2021Q1"


def test_zipped_shapefile(tmp_path: Path) -> None:
    df = _tiles()
    gdf = gpd.GeoDataFrame(
        df.drop(columns="tile"), geometry=gpd.GeoSeries.from_wkt(df["tile"]), crs=4326
    )
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    gdf.to_file(shp_dir / "gps_fixed_tiles.shp")
    zpath = tmp_path / "2021-01-01_performance_fixed_tiles.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for part in shp_dir.iterdir():
            zf.write(part, part.name)
    out = read_ookla(zpath)
    assert len(out) == 3 and out["upload_mbps"].iloc[1] == 51.493


def test_bad_tiles(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _tiles().drop(columns="devices").to_parquet(path)
    with pytest.raises(SchemaError, match="devices"):
        read_ookla(path)
    bad = _tiles()
    bad.loc[0, "tests"] = -1
    bad.to_parquet(path)
    with pytest.raises(SchemaError, match="negative"):
        read_ookla(path)
    dup = pd.concat([_tiles(), _tiles().iloc[[0]]])
    dup.to_parquet(path)
    with pytest.warns(UserWarning, match="1 exact duplicate"):
        assert len(read_ookla(path)) == 3
    path.write_bytes(_tiles().to_parquet()[:200])
    with pytest.raises(DataError):
        read_ookla(path)
    with pytest.raises(ValueError, match="fixed"):
        read_ookla(path, service="satellite")


def test_uva_aggregates(shared_data: Path) -> None:
    tracts = read_ookla_aggregates(shared_data / UVA)
    assert tracts["GEOID"].dtype == "str" and (tracts["GEOID"].str.len() == 11).all()
    assert tracts["GEOID"].nunique() == 1895
    assert set(tracts["year"]) == {2019, 2020, 2021}
    assert not tracts.duplicated(["GEOID", "year"]).any()
    assert (tracts["download_mbps"].dropna() > 0).all()
    t2010 = read_boundaries(shared_data / "boundaries/va/gz_2010_51_140_00_500k.shp")
    t2020 = read_boundaries(shared_data / "boundaries/va/cb_2020_51_tract_500k.shp")
    ids = set(tracts["GEOID"])
    assert len(ids & set(t2010["GEOID"])) == 1894
    assert len(ids & set(t2020["GEOID"])) == 1624
    counties = read_ookla_aggregates(shared_data / UVA, region_type="county")
    assert counties["GEOID"].nunique() == 133 and (counties["GEOID"].str.len() == 5).all()
    c2018 = read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    assert counties["GEOID"].drop_duplicates().isin(c2018["GEOID"]).sum() == 133
    with pytest.raises(SchemaError, match="region_type 'planet'"):
        read_ookla_aggregates(shared_data / UVA, region_type="planet")

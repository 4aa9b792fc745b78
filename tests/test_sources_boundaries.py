"""Tests of equity.sources.boundaries on the real Census files and on broken ones."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from equity.errors import DataError, SchemaError
from equity.sources import read_boundaries
from equity.sources.boundaries import level_from_filename

FILES = {
    "us/cb_2018_us_county_20m.shp": (3220, "county", "2018", 5),
    "us/cb_2018_us_state_20m.shp": (52, "state", "2018", 2),
    "va/cb_2020_51_tract_500k.shp": (2186, "tract", "2020", 11),
    "va/cb_2020_51_bg_500k.shp": (5951, "blockgroup", "2020", 12),
    "va/gz_2010_51_140_00_500k.shp": (1905, "tract", "2010", 11),
}


@pytest.mark.parametrize("name", list(FILES))
def test_real_files(shared_data: Path, name: str) -> None:
    n, level, vintage, width = FILES[name]
    gdf = read_boundaries(shared_data / "boundaries" / name)
    assert len(gdf) == n
    assert gdf.crs.to_epsg() == 4326
    assert gdf["GEOID"].is_unique and (gdf["GEOID"].str.len() == width).all()
    assert (gdf["level"] == level).all() and (gdf["vintage"] == vintage).all()
    assert list(gdf.columns[:4]) == ["GEOID", "NAME", "level", "vintage"]
    assert gdf.geometry.notna().all()
    assert gdf.attrs["source"] == "boundaries" and gdf.attrs["vintage"] == vintage
    minx, miny, maxx, maxy = gdf.total_bounds
    assert -180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90


def test_real_nesting_joins(shared_data: Path) -> None:
    b = shared_data / "boundaries"
    county = read_boundaries(b / "us/cb_2018_us_county_20m.shp")
    state = read_boundaries(b / "us/cb_2018_us_state_20m.shp")
    tracts = read_boundaries(b / "va/cb_2020_51_tract_500k.shp")
    bgs = read_boundaries(b / "va/cb_2020_51_bg_500k.shp")
    assert set(county["GEOID"].str.slice(0, 2)) == set(state["GEOID"])
    assert len(set(county["GEOID"].str.slice(0, 2))) == 52
    assert bgs["GEOID"].str.slice(0, 11).isin(tracts["GEOID"]).all()
    assert bgs["GEOID"].str.slice(0, 11).nunique() == 2186
    assert county["ALAND"].dtype == "float64" and (county["ALAND"] >= 0).all()
    assert bgs["NAME"].iloc[0].startswith("Block Group")


def test_2010_geo_id_and_latin1(shared_data: Path) -> None:
    gdf = read_boundaries(shared_data / "boundaries/va/gz_2010_51_140_00_500k.shp")
    assert gdf.attrs["id_source"] == "GEO_ID"
    assert gdf["GEOID"].str.startswith("51").all()
    assert "ALAND" not in gdf.columns


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("cb_2020_51_bg_500k.zip", "blockgroup"),
        ("tl_2021_51_tract.shp", "tract"),
        ("cb_2018_us_county_20m.shp", "county"),
        ("cb_2021_51_cousub_500k.zip", "cousub"),
        ("cb_2021_51_place_500k.zip", "place"),
        ("cb_2018_us_state_20m.shp", "state"),
        ("cb_2020_us_zcta520_500k.zip", "zcta"),
        ("tl_2019_us_zcta510.zip", "zcta"),
        ("gz_2010_51_140_00_500k.shp", "tract"),
        ("gz_2010_51_150_00_500k.zip", "blockgroup"),
        ("gz_2010_us_050_00_20m.zip", "county"),
        ("my_polygons.gpkg", None),
    ],
)
def test_level_from_filename(name: str, level: str | None) -> None:
    assert level_from_filename(name) == level


def _shapefile_parts(src: Path, dest_dir: Path, stem: str) -> Path:
    for part in src.parent.glob(src.stem + ".*"):
        shutil.copy(part, dest_dir / f"{stem}{part.suffix}")
    return dest_dir / f"{stem}.shp"


def test_zipped_shapefile_and_hashed_name(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "boundaries/us/cb_2018_us_state_20m.shp"
    zpath = tmp_path / "3f1cdeadbeef.zip"  # cache names are hashes: the member names the file
    with zipfile.ZipFile(zpath, "w") as zf:
        for part in src.parent.glob(src.stem + ".*"):
            zf.write(part, part.name)
    gdf = read_boundaries(zpath)
    assert len(gdf) == 52 and (gdf["level"] == "state").all() and gdf.attrs["vintage"] == "2018"


def test_geojson_and_gpkg_zcta(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"ZCTA5CE10": ["02134", "22903"], "ALAND10": [1.0, 2.0]},
        geometry=[box(0, 0, 1, 1), box(1, 1, 2, 2)],
        crs=4269,
    )
    for name in ("tl_2019_us_zcta510.geojson", "tl_2019_us_zcta510.gpkg"):
        path = tmp_path / name
        gdf.to_file(path)
        out = read_boundaries(path)
        assert out["GEOID"].tolist() == ["02134", "22903"]
        assert (out["level"] == "zcta").all()
        assert out["NAME"].tolist() == ["02134", "22903"]
        assert out["ALAND"].tolist() == [1.0, 2.0]
        assert out.crs.to_epsg() == 4326


def test_integer_geoids_zero_padded(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"GEOID": [1001, 51001], "NAME": ["A", "B"]},
        geometry=[box(0, 0, 1, 1), box(1, 1, 2, 2)],
        crs=4326,
    )
    path = tmp_path / "cb_2020_us_county_500k.geojson"
    gdf.to_file(path)
    assert read_boundaries(path)["GEOID"].tolist() == ["01001", "51001"]


def test_not_a_census_file_lists_columns(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"parcel": ["a", "b"], "owner": ["x", "y"]},
        geometry=[box(0, 0, 1, 1), box(1, 1, 2, 2)],
        crs=4326,
    )
    path = tmp_path / "parcels.shp"
    gdf.to_file(path)
    with pytest.raises(SchemaError, match=r"parcel, owner"):
        read_boundaries(path)
    out = read_boundaries(path, id_column="parcel", level="town")
    assert out["GEOID"].tolist() == ["a", "b"] and (out["level"] == "town").all()
    with pytest.raises(SchemaError, match="'nope' not in the file"):
        read_boundaries(path, id_column="nope")


def test_missing_crs(shared_data: Path, tmp_path: Path) -> None:
    shp = _shapefile_parts(
        shared_data / "boundaries/us/cb_2018_us_state_20m.shp", tmp_path, "cb_2018_us_state_20m"
    )
    (tmp_path / "cb_2018_us_state_20m.prj").unlink()
    with pytest.raises(DataError, match="no CRS"):
        read_boundaries(shp)
    gdf = read_boundaries(shp, crs="EPSG:4269")
    assert gdf.crs.to_epsg() == 4326 and len(gdf) == 52


def test_truncated_and_empty_shapefile(shared_data: Path, tmp_path: Path) -> None:
    shp = _shapefile_parts(
        shared_data / "boundaries/us/cb_2018_us_state_20m.shp", tmp_path, "cb_2018_us_state_20m"
    )
    data = shp.read_bytes()
    shp.write_bytes(data[: len(data) // 3])
    (tmp_path / "cb_2018_us_state_20m.shx").unlink()
    with pytest.raises(DataError):
        read_boundaries(shp)
    empty = tmp_path / "empty.shp"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_boundaries(empty)
    with pytest.raises(DataError, match="not found"):
        read_boundaries(tmp_path / "missing.shp")


def test_duplicate_features(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"GEOID": ["51001", "51001", "51003"]},
        geometry=[box(0, 0, 1, 1), box(0, 0, 1, 1), box(1, 1, 2, 2)],
        crs=4326,
    )
    path = tmp_path / "cb_2020_51_county_500k.geojson"
    gdf.to_file(path)
    with pytest.warns(UserWarning, match="1 exact duplicate"):
        out = read_boundaries(path)
    assert len(out) == 2
    gdf.loc[1, "geometry"] = box(5, 5, 6, 6)
    gdf.to_file(path)
    with pytest.raises(SchemaError, match="51001"):
        read_boundaries(path)

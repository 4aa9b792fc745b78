"""Tests of equity.geographies.ookla: Ookla tiles onto polygons and onto the H3 grid.

Hand-made tiles check the area shares and means; the real Hawaii tiles in ../shared/data
check behaviour on real geometry and through the project's readers.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _geographies import (
    REL,
    make_blockgroups,
    make_tiles,
    read_hawaii,
    rel_err,
    square,
)

from equity import geographies as geo
from equity.errors import ChoiceError, DataError, SchemaError

# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def blockgroups() -> gpd.GeoDataFrame:
    return make_blockgroups()


@pytest.fixture
def tiles() -> gpd.GeoDataFrame:
    return make_tiles()


@pytest.fixture(scope="module")
def hawaii(shared_data):
    return read_hawaii(shared_data)


def test_ookla_to_polygons_area_share_and_means(tiles: gpd.GeoDataFrame) -> None:
    polys = gpd.GeoDataFrame(
        {"GEOID": ["w", "e", "empty"]},
        geometry=[
            square(-77.0, 38.0, 0.01),
            square(-76.99, 38.0, 0.01),
            square(-70.0, 38.0, 0.01),
        ],
        crs="EPSG:4326",
    )
    out = geo.ookla_to_polygons(tiles, polys, min_tests=5).set_index("GEOID")
    # the straddling tile is split in half by longitude (areas in an equal-area CRS)
    assert out.loc["w", "ookla_tests"] == pytest.approx(10 + 30 + 10)
    assert out.loc["e", "ookla_tests"] == pytest.approx(10)
    assert out.loc["e", "ookla_devices"] == pytest.approx(2)
    assert out.loc["empty", "ookla_tests"] == 0 and np.isnan(out.loc["empty", "download_mbps"])
    expect = (10 * 10 + 30 * 200 + 10 * 50) / 50
    assert out.loc["w", "download_mbps"] == pytest.approx(expect)
    assert out.loc["w", "download_mbps_devices"] == pytest.approx((2 * 10 + 6 * 200 + 2 * 50) / 10)
    assert out.loc["w", "share_tests_below_25_3"] == pytest.approx(10 / 50)
    assert out.loc["w", "share_tests_below_100_20"] == pytest.approx(20 / 50)
    assert out.loc["e", "latency_ms"] == pytest.approx(20.0)
    assert out.attrs["ookla_tests_outside"] == pytest.approx(7.0)
    shares = out[["share_tests_below_25_3", "share_tests_below_100_20"]].dropna().to_numpy()
    assert ((shares >= 0) & (shares <= 1)).all()
    # min_tests masks the speeds but keeps the counts
    masked = geo.ookla_to_polygons(tiles, polys, min_tests=11).set_index("GEOID")
    assert np.isnan(masked.loc["e", "download_mbps"]) and masked.loc[
        "e", "ookla_tests"
    ] == pytest.approx(10)
    # by centroid the straddling tile (centroid at -76.99, on the border) goes wholly to one side
    cen = geo.ookla_to_polygons(tiles, polys, method="centroid").set_index("GEOID")
    assert cen["ookla_tests"].sum() == 60 and cen["n_tiles"].sum() == 3


def test_ookla_to_grid_conserves_tests(tiles: gpd.GeoDataFrame) -> None:
    out = geo.ookla_to_grid(tiles, resolution=9, min_tests=5)
    assert rel_err(out["ookla_tests"].sum(), tiles["tests"].sum()) < REL
    assert rel_err(out["ookla_devices"].sum(), tiles["devices"].sum()) < REL
    assert out["GEOID"].is_unique
    low = out["ookla_tests"] < 5
    assert out.loc[low, "download_mbps"].isna().all()
    assert out.loc[~low, "download_mbps"].between(1, 200).all()
    shares = out["share_tests_below_25_3"].dropna()
    assert shares.between(0, 1).all()


def test_ookla_requires_tests_column(tiles: gpd.GeoDataFrame) -> None:
    with pytest.raises(SchemaError, match="tests"):
        geo.ookla_to_grid(tiles.drop(columns="tests"))
    with pytest.raises(DataError, match="non-negative"):
        geo.ookla_to_grid(tiles.assign(tests=[-1.0, 1.0, 1.0, 1.0]))


def test_unknown_method_lists_the_valid_ones(
    blockgroups: gpd.GeoDataFrame, tiles: gpd.GeoDataFrame
) -> None:
    valid = "unknown method 'nearest'; valid: area, centroid"
    with pytest.raises(ChoiceError, match=f"polygon_crosswalk: {valid}"):
        geo.polygon_crosswalk(blockgroups, blockgroups, method="nearest")
    with pytest.raises(ChoiceError, match=f"ookla_to_polygons: {valid}"):
        geo.ookla_to_polygons(tiles, blockgroups, method="nearest")


# ---------------------------------------------------------------------------------------------
# real Hawaii tiles


@pytest.mark.shared_data
def test_ookla_to_polygons_real_hawaii(hawaii) -> None:
    tiles, counties = hawaii
    assert sorted(counties["GEOID"]) == ["15001", "15003", "15005", "15007", "15009"]
    by_centroid = geo.ookla_to_polygons(tiles, counties, method="centroid").set_index("GEOID")
    n = by_centroid["n_tiles"]
    assert n.sum() == 4096  # of 4,292 tiles (the rest are offshore of the 20m outlines)
    assert dict(n) == {"15001": 1519, "15003": 1455, "15005": 2, "15007": 418, "15009": 702}
    area = geo.ookla_to_polygons(tiles, counties).set_index("GEOID")
    # tests are conserved: what the polygons receive plus what falls outside is the input
    assert (
        rel_err(area["ookla_tests"].sum() + area.attrs["ookla_tests_outside"], tiles["tests"].sum())
        < REL
    )
    # tiles entirely inside a county give it all their tests
    inside = tiles[tiles.within(counties.union_all())]
    owner = gpd.sjoin(inside, counties, predicate="within")
    for gid, grp in owner.groupby("GEOID"):
        assert area.loc[gid, "ookla_tests"] >= grp["tests"].sum() - 1e-9
    # Kalawao has 2 tiles and too few tests: counts kept, speeds masked
    assert area.loc["15005", "ookla_tests"] < 5 and np.isnan(area.loc["15005", "download_mbps"])
    assert area["download_mbps"].drop("15005").between(10, 1000).all()
    # test-weighted mean of Honolulu recomputed independently from the tiles inside it
    hon = owner[owner["GEOID"] == "15003"]
    assert area.loc["15003", "download_mbps"] == pytest.approx(
        (hon["avg_d_kbps"] * hon["tests"]).sum() / hon["tests"].sum() / 1000, rel=0.02
    )
    shares = area[["share_tests_below_25_3", "share_tests_below_100_20"]].dropna()
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert (shares["share_tests_below_25_3"] <= shares["share_tests_below_100_20"] + 1e-12).all()


@pytest.mark.shared_data
def test_ookla_through_the_project_readers(shared_data, hawaii) -> None:
    """The readers' normalised columns give the same summaries as Ookla's raw columns."""
    from equity.sources import read_boundaries, read_ookla

    tiles = read_ookla(shared_data / "ookla/ookla_fixed_tiles_hawaii_2021Q1.geojson")
    counties = read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    counties = counties[counties["GEOID"].str[:2] == "15"]
    got = geo.ookla_to_polygons(tiles, counties).set_index("GEOID").sort_index()
    raw = geo.ookla_to_polygons(*hawaii).set_index("GEOID").sort_index()
    cols = [
        "ookla_tests",
        "ookla_devices",
        "download_mbps",
        "upload_mbps",
        "share_tests_below_25_3",
    ]
    pd.testing.assert_frame_equal(got[cols], raw[cols], rtol=1e-9)

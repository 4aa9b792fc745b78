"""Tests of equity.geographies.allocation, towns and vintages: counts onto any polygons.

Hand-made block groups check conservation and the county flags; the real Virginia tract
files in ../shared/data check the vintage interpolation on real geometry.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _geographies import (
    COUNTS,
    MEDIANS,
    REL,
    make_blockgroups,
    rel_err,
    square,
)

from equity import geographies as geo
from equity.errors import DataError, SchemaError

# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def blockgroups() -> gpd.GeoDataFrame:
    return make_blockgroups()


# ---------------------------------------------------------------------------------------------
# allocation onto polygons


def test_allocate_to_polygons_conserves_and_flags_county_crossing(
    blockgroups: gpd.GeoDataFrame,
) -> None:
    # town A is the south row (county 51001, two tracts); town B the north row, across the
    # county line, except a strip that no town covers (it goes to B, the only town it overlaps)
    towns = gpd.GeoDataFrame(
        {"GEOID": ["A", "B"], "NAME": ["Alpha", "Beta"]},
        geometry=[
            shapely.box(-77.0, 38.0, -76.97, 38.01),
            shapely.box(-77.0, 38.01, -76.975, 38.02),
        ],
        crs="EPSG:4326",
    )
    out = geo.allocate_to_polygons(blockgroups, towns, counts=COUNTS, medians=MEDIANS).set_index(
        "GEOID"
    )
    for c in COUNTS:
        assert rel_err(out[c].sum(), blockgroups[c].sum()) < REL
    assert out.loc["A", "NAME"] == "Alpha"
    assert out.loc["A", "county_GEOID"] == "51001" and not out.loc["A", "crosses_county"]
    assert out.loc["A", "households"] == pytest.approx(120 + 0 + 340, rel=REL)
    assert out.loc["B", "county_GEOID"] == "51003"
    assert out.loc["B", "n_counties"] == 2 and out.loc["B", "crosses_county"]
    assert out.loc["B", "state_GEOID"] == "51" and not out.loc["B", "crosses_state"]
    assert (out["moe_households"] > 0).all()


def test_allocate_to_polygons_flags_towns_crossing_states(blockgroups: gpd.GeoDataFrame) -> None:
    other_state = blockgroups.iloc[[5]].assign(GEOID="240010001001", households=900.0)
    bg = pd.concat([blockgroups.iloc[:5], other_state], ignore_index=True)
    town = gpd.GeoDataFrame(
        {"GEOID": ["X"], "NAME": ["Border town"]},
        geometry=[square(-77.0, 38.0, 0.03)],
        crs="EPSG:4326",
    )
    out = geo.allocate_to_polygons(bg, town, counts=COUNTS).iloc[0]
    assert out["crosses_state"] and out["n_states"] == 2 and out["n_counties"] == 3
    assert out["state_GEOID"] == "24" and out["county_GEOID"] == "24001"  # 900 of 1825 households
    assert out["households"] == pytest.approx(bg["households"].sum(), rel=REL)


def test_allocate_to_polygons_nearest_and_overlap_error(blockgroups: gpd.GeoDataFrame) -> None:
    far = gpd.GeoDataFrame({"GEOID": ["T"]}, geometry=[square(-76.0, 38.0, 0.01)], crs="EPSG:4326")
    out = geo.allocate_to_polygons(blockgroups, far, counts=COUNTS)
    assert out["households"].iloc[0] == pytest.approx(1000.0)
    xw = geo.polygon_crosswalk(blockgroups, far)
    assert set(xw["weight_method"]) == {"nearest"}
    overlapping = gpd.GeoDataFrame(
        {"GEOID": ["P", "Q"]},
        geometry=[square(-77.0, 38.0, 0.03), square(-77.0, 38.0, 0.02)],
        crs="EPSG:4326",
    )
    with pytest.raises(DataError, match="overlap"):
        geo.allocate_to_polygons(blockgroups, overlapping, counts=COUNTS)


def test_allocate_cells_to_towns_by_centroid(blockgroups: gpd.GeoDataFrame) -> None:
    cells, _ = geo.street_grid(blockgroups, counts=COUNTS)
    towns = gpd.GeoDataFrame(
        {"GEOID": ["A", "B"]},
        geometry=[
            shapely.box(-77.0, 38.0, -76.985, 38.02),
            shapely.box(-76.985, 38.0, -76.97, 38.02),
        ],
        crs="EPSG:4326",
    )
    out = geo.allocate_to_polygons(cells, towns, counts=COUNTS, method="centroid")
    assert rel_err(out["households"].sum(), 1000.0) < REL
    xw = geo.polygon_crosswalk(cells, towns, method="centroid")
    assert (xw.groupby("source_GEOID")["weight"].sum() == 1).all()
    assert out["county_GEOID"].notna().all()
    # ancillary units: the cells' households weight block groups onto towns
    byw = geo.allocate_to_polygons(blockgroups, towns, counts=COUNTS, weights=cells)
    assert rel_err(byw["households"].sum(), 1000.0) < REL


def test_count_points(blockgroups: gpd.GeoDataFrame) -> None:
    pts = gpd.GeoDataFrame(
        {"kind": ["library", "school", "school", "library", "college"]},
        geometry=shapely.points(
            [
                [-76.995, 38.005],
                [-76.995, 38.006],
                [-76.975, 38.015],
                [-76.99, 38.005],
                [-70.0, 38.0],
            ]
        ),
        crs="EPSG:4326",
    )
    out = geo.count_points(pts, blockgroups).set_index("GEOID")
    assert out.attrs["n_points_outside"] == 1
    assert out["n_anchors"].sum() == 4  # the border point counts once
    assert out.loc["510010001001", "n_school"] == 1
    assert list(out.columns) == ["n_college", "n_library", "n_school", "n_anchors"]
    assert (out[["n_college", "n_library", "n_school"]].sum(axis=1) == out["n_anchors"]).all()
    with pytest.raises(SchemaError, match="kind"):
        geo.count_points(pts.drop(columns="kind"), blockgroups)
    assert list(geo.count_points(pts, blockgroups, by=None).columns) == ["GEOID", "n_anchors"]


# ---------------------------------------------------------------------------------------------
# towns


def test_build_towns_is_contiguous_deterministic_and_conserves() -> None:
    # a 6 x 5 grid of block groups in one county plus a 2-block-group county
    geoms, ids = [], []
    for i in range(30):
        geoms.append(square(-77.0 + 0.01 * (i % 6), 38.0 + 0.01 * (i // 6), 0.01))
        ids.append(f"51001{i // 4:06d}{i % 4}")
    for i in range(2):
        geoms.append(square(-76.0 + 0.01 * i, 38.0, 0.01))
        ids.append(f"51003000100{i}")
    rng = np.random.default_rng(1)
    hh = rng.integers(100, 600, len(ids)).astype(float)
    bg = gpd.GeoDataFrame(
        {"GEOID": ids, "households": hh, "moe_households": hh / 10}, geometry=geoms, crs="EPSG:4326"
    )
    towns = geo.build_towns(
        bg, counts=["households"], households_per_town=2500, county_names={"51001": "Alpha"}
    )
    again = geo.build_towns(
        bg.sample(frac=1, random_state=3),
        counts=["households"],
        households_per_town=2500,
        county_names={"51001": "Alpha"},
    )
    pd.testing.assert_frame_equal(
        pd.DataFrame(towns.drop(columns="geometry")), pd.DataFrame(again.drop(columns="geometry"))
    )
    assert rel_err(towns["households"].sum(), hh.sum()) < REL
    n1 = round(hh[:30].sum() / 2500)
    assert (towns["county_GEOID"] == "51001").sum() == n1
    assert (towns["county_GEOID"] == "51003").sum() == 1
    # no place given: named after the county with a direction, unique (test_towns.py)
    assert towns["NAME"].iloc[0].startswith("Alpha (")
    assert towns["NAME"].is_unique
    assert towns["GEOID"].str.fullmatch(r"\d{5}T\d{3}").all()
    # contiguous: each town is one polygon (a hair of buffer closes float gaps and corners)
    assert (shapely.get_type_id(shapely.buffer(towns.geometry.to_numpy(), 1e-7)) == 3).all()
    xw = towns.attrs["crosswalk"]
    assert (xw.groupby("source_GEOID")["weight"].sum() == 1).all()


# ---------------------------------------------------------------------------------------------
# vintages


def test_interpolate_vintage_small() -> None:
    old = gpd.GeoDataFrame(
        {
            "GEOID": ["o1", "o2"],
            "devices": [100.0, 50.0],
            "moe_devices": [10.0, 5.0],
            "speed": [10.0, 40.0],
            "tests": [10.0, 30.0],
        },
        geometry=[square(-77.0, 38.0, 0.01), square(-76.99, 38.0, 0.01)],
        crs="EPSG:4326",
    )
    new = gpd.GeoDataFrame(
        {"GEOID": ["n1", "n2"]},
        geometry=[
            shapely.box(-77.0, 38.0, -76.995, 38.01),
            shapely.box(-76.995, 38.0, -76.97, 38.01),
        ],
        crs="EPSG:4326",
    )
    out = geo.interpolate_vintage(
        old,
        new,
        extensive=["devices", "tests"],
        intensive=["speed"],
        intensive_weights={"speed": "tests"},
    )
    # intensive_weights replaces tobler's area mean of "speed" with a tests-weighted mean
    out = out.set_index("GEOID")
    assert out["devices"].sum() == pytest.approx(150.0, rel=REL)
    assert out.loc["n1", "devices"] == pytest.approx(50.0, rel=1e-6)
    assert out.loc["n1", "moe_devices"] == pytest.approx(5.0, rel=1e-6)
    assert out.loc["n2", "speed"] == pytest.approx((5 * 10 + 30 * 40) / 35, rel=1e-6)


@pytest.mark.shared_data
def test_interpolate_vintage_real_virginia_tracts(shared_data) -> None:
    t10 = gpd.read_file(
        shared_data / "boundaries/va/gz_2010_51_140_00_500k.shp", encoding="latin-1"
    ).to_crs(4326)
    t10["GEOID"] = t10["GEO_ID"].astype(str).str[-11:]
    t20 = gpd.read_file(shared_data / "boundaries/va/cb_2020_51_tract_500k.shp").to_crs(4326)
    t20["GEOID"] = t20["GEOID"].astype(str)
    uva = pd.read_csv(
        shared_data / "ookla/uva_sdad_va_hdcttr_2019_2021_ookla_fixed_speed_measurements.csv",
        dtype={"geoid": str},
    )
    uva = uva[(uva["region_type"] == "tract") & (uva["year"] == 2021)]
    wide = (
        uva.pivot_table(index="geoid", columns="measure", values="value")
        .reset_index()
        .rename(columns={"geoid": "GEOID"})
    )
    src = t10[["GEOID", "geometry"]].merge(
        wide[["GEOID", "devices", "tests", "avg_down_using_tests"]], on="GEOID", how="inner"
    )
    assert len(src) > 1800
    src = src.dropna(subset=["devices", "tests", "avg_down_using_tests"])
    out = geo.interpolate_vintage(
        src,
        t20,
        extensive=["devices", "tests"],
        intensive_weights={"avg_down_using_tests": "tests"},
    )
    assert len(out) == len(t20) and out.crs == "EPSG:4326"
    for c in ("devices", "tests"):
        inside = src[c].sum() - out.attrs["source_outside"][c]
        assert rel_err(out[c].sum(), inside) < REL
        assert out[c].sum() / src[c].sum() == pytest.approx(1.0, abs=1e-3)
    # and back onto 2010 tracts: the round trip conserves the total again
    back = geo.interpolate_vintage(out.dropna(subset=["tests"]), t10, extensive=["tests"])
    inside = out["tests"].sum() - back.attrs["source_outside"]["tests"]
    assert rel_err(back["tests"].sum(), inside) < REL
    # a test-weighted mean stays within the range of the source means
    sp = out["avg_down_using_tests"].dropna()
    assert sp.between(
        src["avg_down_using_tests"].min() - 1e-9, src["avg_down_using_tests"].max() + 1e-9
    ).all()
    # the state mean is preserved (tests conserved and the means are test-weighted)
    before = (src["avg_down_using_tests"] * src["tests"]).sum() / src["tests"].sum()
    after = (out["avg_down_using_tests"] * out["tests"]).sum() / out["tests"].sum()
    assert after == pytest.approx(before, rel=1e-3)

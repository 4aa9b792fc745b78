"""Towns from Census places and county subdivisions, a user's polygons and regions, on
hand-built geometries whose right answer is known (equity.geographies.towns, .regions).

Two counties of 4 x 2 block groups (0.01 degree squares); places, county subdivisions and
polygons are drawn on the block-group grid, so the households each town must receive are the
households of the block groups (or exact halves of them) inside it.
"""

from __future__ import annotations

import re
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from equity import geographies as geo
from equity.errors import ChoiceError, DataError, SchemaError

X0, Y0, D = -77.0, 38.0, 0.01
NAMES = {"001": "Alder County", "003": "Birch County"}


def blockgroups(state: str = "51") -> gpd.GeoDataFrame:
    """16 block groups: county 001 at columns 0-3, county 003 at columns 4-7, two rows."""
    rows = []
    for col in range(8):
        for row in range(2):
            county = state + ("001" if col < 4 else "003")
            rows.append((f"{county}{col:05d}{row}1", col, row, county))
    geoid, col, row, county = zip(*rows, strict=True)
    hh = 100.0 + 10.0 * np.arange(16)
    return gpd.GeoDataFrame(
        {
            "GEOID": list(geoid),
            "col": col,
            "row": row,
            "households": hh,
            "moe_households": hh / 10,
        },
        geometry=[cell(c, r) for c, r in zip(col, row, strict=True)],
        crs=4326,
    )


def cell(col: float, row: float, w: float = 1.0, h: float = 1.0) -> shapely.Polygon:
    return box(X0 + D * col, Y0 + D * row, X0 + D * (col + w), Y0 + D * (row + h))


def county_names(state: str = "51") -> dict[str, str]:
    return {state + k: v for k, v in NAMES.items()}


def places(state: str = "51") -> gpd.GeoDataFrame:
    """Alpha city: columns 0, both rows (county 001). Beta CDP: columns 3-4, row 0 (both
    counties). Gamma town: the left half of column 6, row 1. Delta village: column 3, row 1,
    and a 9-m sliver over the county line into column 4."""
    return gpd.GeoDataFrame(
        {
            "GEOID": [state + "00100", state + "00200", state + "00300", state + "00400"],
            "NAME": ["Alpha", "Beta", "Gamma", "Delta"],
            "LSAD": ["25", "57", "43", "47"],
        },
        geometry=[cell(0, 0, 1, 2), cell(3, 0, 2, 1), cell(6, 1, 0.5, 1), cell(3, 1, 1.01, 1)],
        crs=4326,
    )


def hh_of(bg: gpd.GeoDataFrame, *cells: tuple[int, int]) -> float:
    keep = [(c, r) in cells for c, r in zip(bg["col"], bg["row"], strict=True)]
    return float(bg.loc[keep, "households"].sum())


def per_county(towns: pd.DataFrame, bg: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    got = towns.groupby("county_GEOID")["households"].sum()
    want = bg.groupby(bg["GEOID"].str[:5])["households"].sum()
    return got.reindex(want.index), want


def test_census_towns_places_balances_and_parts() -> None:
    bg = blockgroups()
    towns = geo.census_towns(bg, places=places(), county_names=county_names()).set_index("GEOID")
    assert set(towns.index) == {
        "5100100",
        "5100200_51001",
        "5100200_51003",
        "5100300",
        "5100400",
        "51001_balance",
        "51003_balance",
    }
    assert towns.loc["5100100", "NAME"] == "Alpha city"
    assert towns.loc["5100200_51001", "NAME"] == "Beta CDP (Alder County part)"
    assert towns.loc["5100200_51003", "NAME"] == "Beta CDP (Birch County part)"
    assert towns.loc["51003_balance", "NAME"] == "Balance of Birch County"
    assert towns.loc["5100300", "LSAD"] == "43"
    assert towns.loc["5100200_51003", "census_GEOID"] == "5100200"
    assert (towns["n_counties"] == 1).all() and not towns["crosses_county"].any()
    # each town has the households of the block groups inside it (halves by area)
    assert towns.loc["5100100", "households"] == pytest.approx(hh_of(bg, (0, 0), (0, 1)), 1e-12)
    assert towns.loc["5100200_51001", "households"] == pytest.approx(hh_of(bg, (3, 0)), 1e-12)
    assert towns.loc["5100200_51003", "households"] == pytest.approx(hh_of(bg, (4, 0)), 1e-12)
    assert towns.loc["5100300", "households"] == pytest.approx(hh_of(bg, (6, 1)) / 2, 1e-9)
    # the 9-m sliver over the county line is no town part: Delta stays whole in county 001
    assert towns.loc["5100400", "households"] == pytest.approx(hh_of(bg, (3, 1)), 1e-12)
    assert towns.loc["5100400", "county_GEOID"] == "51001"
    # households conserved per county, and every block group's weights sum to one
    got, want = per_county(towns, bg)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    xw = towns.attrs["crosswalk"]
    np.testing.assert_allclose(xw.groupby("source_GEOID")["weight"].sum(), 1.0, rtol=1e-12)
    assert xw["target_GEOID"].map(towns["county_GEOID"]).eq(xw["source_GEOID"].str[:5]).all()
    assert towns.attrs["towns"]["households_in_balances"] == pytest.approx(
        towns.loc[["51001_balance", "51003_balance"], "households"].sum()
    )


def test_census_towns_counties_without_places_and_outside_places_ignored() -> None:
    bg = blockgroups()
    far = places().iloc[[0]].assign(GEOID="5199900", geometry=[cell(50, 50)])
    towns = geo.census_towns(bg, places=far, county_names=county_names())
    assert towns["NAME"].tolist() == ["Alder County", "Birch County"]
    assert towns["town_type"].eq("balance of county").all()
    got, want = per_county(towns, bg)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def cousubs(state: str) -> gpd.GeoDataFrame:
    """County 001 in two towns (columns 0-1, 2-3), county 003 in one, and the water-only
    "county subdivisions not defined" (00000) over column 7."""
    return gpd.GeoDataFrame(
        {
            "GEOID": [
                state + "00111111",
                state + "00122222",
                state + "00333333",
                state + "00300000",
            ],
            "NAME": ["Ash", "Elm", "Oak", "County subdivisions not defined"],
            "LSAD": ["43", "44", "43", "00"],
        },
        geometry=[cell(0, 0, 2, 2), cell(2, 0, 2, 2), cell(4, 0, 4, 2), cell(7, 0, 1, 2)],
        crs=4326,
    )


@pytest.mark.parametrize(
    ("state", "given", "kinds"),
    [
        ("36", ("places", "cousubs"), {"county subdivision"}),  # New York: strong MCD
        ("51", ("places", "cousubs"), {"place", "place part", "balance of county"}),  # Virginia
        ("12", ("cousubs",), {"county subdivision"}),  # only subdivisions (census county divisions)
    ],
)
def test_census_towns_follow_the_census_per_state(state, given, kinds) -> None:
    bg = blockgroups(state)
    kw = {k: {"places": places, "cousubs": cousubs}[k](state) for k in given}
    towns = geo.census_towns(bg, county_names=county_names(state), **kw)
    assert set(towns["town_type"]) == kinds
    got, want = per_county(towns, bg)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    if "county subdivision" in kinds:
        t = towns.set_index("GEOID")
        assert t.loc[state + "00111111", "NAME"] == "Ash town"
        assert t.loc[state + "00122222", "NAME"] == "Elm township"
        assert t.loc[state + "00111111", "households"] == pytest.approx(
            hh_of(bg, (0, 0), (0, 1), (1, 0), (1, 1)), 1e-12
        )
        assert not towns["GEOID"].str.endswith("00000").any()


def test_complete_towns_keeps_households_where_they_live_and_warns() -> None:
    bg = blockgroups()
    given = gpd.GeoDataFrame(
        {"GEOID": ["alpha", "ridge"], "NAME": ["Alpha", "Ridge"]},
        # Alpha: column 0; Ridge: columns 3-4 of row 1, across the county line
        geometry=[cell(0, 0, 1, 2), cell(3, 1, 2, 1)],
        crs=4326,
    )
    with pytest.warns(UserWarning, match=r"live outside the 2 given town polygons") as rec:
        towns = geo.complete_towns(bg, given, county_names=county_names())
    t = towns.set_index("GEOID")
    assert set(t.index) == {"alpha", "ridge", "51001_rest", "51003_rest"}
    assert t.loc["51001_rest", "NAME"] == "Rest of Alder County"
    assert t.loc["alpha", "households"] == pytest.approx(hh_of(bg, (0, 0), (0, 1)), 1e-12)
    assert t.loc["ridge", "households"] == pytest.approx(hh_of(bg, (3, 1), (4, 1)), 1e-12)
    assert t.loc["ridge", "n_counties"] == 2 and t.loc["ridge", "crosses_county"]
    assert t.loc["ridge", "county_GEOID"] == "51003"  # (4, 1) has more households than (3, 1)
    outside = float(bg["households"].sum()) - hh_of(bg, (0, 0), (0, 1), (3, 1), (4, 1))
    assert t.loc[["51001_rest", "51003_rest"], "households"].sum() == pytest.approx(outside)
    message = str(rec[0].message)
    assert f"{outside:,.0f} of {bg['households'].sum():,.0f} households" in message
    assert towns.attrs["towns"]["households_outside"] == pytest.approx(outside)
    assert towns["households"].sum() == pytest.approx(bg["households"].sum(), rel=1e-12)


def test_complete_towns_covering_everything_adds_nothing_and_does_not_warn() -> None:
    bg = blockgroups()
    # two polygons covering both counties up to a 5-m sliver along the outer edge
    given = gpd.GeoDataFrame(
        {"GEOID": ["w", "e"], "NAME": ["West", "East"]},
        geometry=[cell(0.00005, 0, 3.99995, 2), cell(4, 0, 3.99995, 2)],
        crs=4326,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        towns = geo.complete_towns(bg, given)
    assert towns["GEOID"].tolist() == ["e", "w"]
    assert towns["households"].sum() == pytest.approx(bg["households"].sum(), rel=1e-12)


def test_overlapping_polygons_and_bad_ids_are_refused() -> None:
    bg = blockgroups()
    given = gpd.GeoDataFrame(
        {"GEOID": ["a", "b"], "NAME": ["A", "B"]},
        geometry=[cell(0, 0, 2, 2), cell(1, 0, 2, 2)],
        crs=4326,
    )
    with pytest.raises(DataError, match="targets overlap each other"):
        geo.complete_towns(bg, given)
    bad = places().assign(GEOID=["51001", "5100200", "5100300", "5100400"])
    with pytest.raises(SchemaError, match=r"7-digit GEOIDs, e.g. '51001'"):
        geo.census_towns(bg, places=bad)
    with pytest.raises(SchemaError, match=r"12-digit block-group GEOIDs"):
        geo.census_towns(bg.assign(GEOID=bg["GEOID"].str[:11]), places=places())


def test_ancillary_units_decide_where_a_block_group_lives() -> None:
    bg = blockgroups()
    # every unit of block group (6, 1) lies in Gamma (its left half): all of it goes there
    units = gpd.GeoDataFrame(
        {"households": [5.0, 7.0]},
        geometry=[Point(X0 + 6.2 * D, Y0 + 1.5 * D), Point(X0 + 6.3 * D, Y0 + 1.2 * D)],
        crs=4326,
    )
    towns = geo.census_towns(bg, places=places(), weights=units).set_index("GEOID")
    assert towns.loc["5100300", "households"] == pytest.approx(hh_of(bg, (6, 1)), 1e-12)
    xw = towns.attrs["crosswalk"]
    assert set(xw.loc[xw["source_GEOID"] == "510030000611", "weight_method"]) == {"ancillary"}


def test_crosswalk_within_groups_never_crosses_them() -> None:
    bg = blockgroups().assign(county_GEOID=lambda d: d["GEOID"].str[:5])
    # a target over column 3 (county 001) labelled county 003 takes nothing from 001, and
    # block group (3, 0) goes to the nearest target of its own county
    targets = gpd.GeoDataFrame(
        {"GEOID": ["x", "y"], "county_GEOID": ["51003", "51001"]},
        geometry=[cell(3, 0, 2, 2), cell(0, 0, 1, 2)],
        crs=4326,
    )
    xw = geo.polygon_crosswalk(bg, targets, within=("county_GEOID", "county_GEOID"))
    county = xw["source_GEOID"].str[:5]
    assert (xw.loc[xw["target_GEOID"] == "x", "source_GEOID"].str[:5] == "51003").all()
    assert (xw.loc[county == "51001", "target_GEOID"] == "y").all()
    assert set(xw.loc[county == "51001", "weight_method"]) == {"area", "nearest"}


def test_make_towns_prefers_polygons_then_census_then_regions() -> None:
    bg = blockgroups()
    poly = gpd.GeoDataFrame({"GEOID": ["p"], "NAME": ["P"]}, geometry=[cell(0, 0, 8, 2)], crs=4326)
    assert geo.make_towns(bg, polygons=poly, places=places())["GEOID"].tolist() == ["p"]
    census = geo.make_towns(bg, places=places(), county_names=county_names())
    assert "Alpha city" in set(census["NAME"])
    regions = geo.make_towns(
        bg,
        places=places(),
        county_names=county_names(),
        method="regions",
        households_per_town=600,
    )
    assert regions["town_type"].eq("region").all()
    assert regions["NAME"].is_unique
    # named after a place, or (no place's households) after the county with a direction
    pattern = r"(\w+ area(?: \([a-z -]+\))?, |(Alder|Birch) County \([a-z -]+( \d+)?\))"
    assert regions["NAME"].str.match(pattern).all(), regions["NAME"].tolist()
    assert any(n.startswith("Beta area") for n in regions["NAME"])
    with pytest.raises(ChoiceError, match="town method"):
        geo.make_towns(bg, method="voronoi")


def test_regions_named_after_their_largest_place_or_a_compass_direction() -> None:
    bg = blockgroups()
    named = geo.build_towns(
        bg, places=places(), county_names=county_names(), households_per_town=10_000
    ).set_index("GEOID")
    # one town per county, each named after the place giving it most households
    assert named.loc["51001T001", "NAME"] == "Alpha area, Alder County"
    assert named.loc["51003T001", "NAME"] == "Beta area, Birch County"
    plain = geo.build_towns(bg, county_names=county_names(), households_per_town=450)
    names = plain.loc[plain["county_GEOID"] == "51001", "NAME"].tolist()
    assert len(names) == 2 and len(set(names)) == 2
    assert all(re.fullmatch(r"Alder County \((north|south|east|west)\)", n) for n in names)
    assert not plain["NAME"].str.contains(r"\d{5}|area \d", regex=True).any()


@pytest.mark.slow
def test_run_builds_towns_from_county_subdivisions_and_places(sample_paths, tmp_path) -> None:
    """[data] cousubs (the sample's county subdivisions) -> Census towns in a run, named and
    conserving households; [data] places in a state with county subdivisions too -> the
    places, with the balance of each county."""
    from equity.config import Config
    from equity.pipeline import build_levels, load_dataset
    from equity.pipeline.dataset import SAMPLE_KEYS

    data = {SAMPLE_KEYS[k]: str(p) for k, p in sample_paths.items() if k in SAMPLE_KEYS}
    data["cousubs"] = data.pop("towns")
    cfg = Config(data=data, levels=("blockgroup", "town", "county"), n_draws=5, cache=False)
    ds = load_dataset(cfg)
    assert "cousub" in ds.boundaries and "town" not in ds.boundaries
    levels, extras = build_levels(ds, cfg)
    town = levels["town"]
    assert set(town["town_type"]) == {"county subdivision"}
    assert town["NAME"].str.endswith((" town", " township", " city")).all()
    assert town["households"].sum() == pytest.approx(levels["county"]["households"].sum(), 1e-9)
    assert "county subdivision" in extras["towns"]["note"]
    # the same polygons as places: every county gets its balance (here: slivers only, so none
    # or a few households), and every block group names the town it lies in
    cs = ds.boundaries["cousub"]
    fake = cs.assign(GEOID=cs["GEOID"].str[:2] + cs["GEOID"].str[-5:])
    fake.attrs = {**cs.attrs, "geography": "place"}  # as a place file's reader labels it
    ds.boundaries = {**ds.boundaries, "place": fake}
    del ds.boundaries["cousub"]
    levels, _ = build_levels(ds, cfg)
    town = levels["town"]
    assert {"place", "place part"} & set(town["town_type"])
    assert town["households"].sum() == pytest.approx(levels["county"]["households"].sum(), 1e-9)
    assert levels["blockgroup"]["place_name"].isin(set(town["NAME"])).all()


def test_county_outline_of_block_groups_meeting_at_a_t_junction():
    # GEOS' coverage union refuses edges that are not noded alike (a corner of two block
    # groups on the middle of a third's edge); the general union takes over
    from equity.geographies.towns import _union

    geoms = np.array([box(0, 0, 1, 2), box(1, 0, 2, 1), box(1, 1, 2, 2)])
    with pytest.raises(shapely.errors.GEOSException):
        shapely.coverage_union_all(geoms)
    outline = _union(geoms)
    assert outline.is_valid and outline.equals(box(0, 0, 2, 2))


def test_polygonal_part_of_an_intersection_that_also_touches():
    from equity.geographies.towns import _polygonal

    # two L-shaped pieces overlap in a square and also touch along a line
    a = shapely.union_all([box(0, 0, 2, 1), box(0, 0, 1, 3)])
    b = shapely.union_all([box(0, 0, 1, 1), box(1, 2, 3, 3)])
    piece = shapely.intersection(a, b)
    assert piece.geom_type == "GeometryCollection"
    out = _polygonal(np.array([piece, box(0, 0, 1, 1)], dtype=object))
    assert out[0].geom_type == "MultiPolygon" and out[0].area == pytest.approx(1.0)
    assert out[1].equals(box(0, 0, 1, 1))

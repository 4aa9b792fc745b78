"""Tests of the street level: block weights, the household floor and street_level.

Hand-made block groups and generated tabblock20 blocks check conservation and where
households go; the real Virginia files check the acceptance of issue #16.
"""

from __future__ import annotations

import geopandas as gpd
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest
import shapely
from _blocks import split_blockgroups, write_tabblock20
from _geographies import make_blockgroups

from equity import geographies as geo
from equity import sources
from equity.errors import SchemaError
from equity.geographies.h3floor import cell_parents, cell_resolutions, pool_cells
from equity.geographies.street import allocation_moe, street_level

COUNTS = ["households", "hh_no_internet"]


@pytest.fixture
def bgs() -> gpd.GeoDataFrame:
    return make_blockgroups()


@pytest.fixture
def blocks(tmp_path, bgs) -> gpd.GeoDataFrame:
    return sources.read_blocks(write_tabblock20(split_blockgroups(bgs, n=4, seed=3), tmp_path))


# -- the floor ------------------------------------------------------------------------------


def test_cell_parents_equal_h3() -> None:
    rng = np.random.default_rng(0)
    cells = np.array(
        [
            h3i.latlng_to_cell(la, lo, 9)
            for la, lo in zip(rng.uniform(-60, 70, 200), rng.uniform(-180, 180, 200), strict=True)
        ],
        dtype=np.uint64,
    )
    for r in (0, 5, 6, 7, 8, 9):
        ours = cell_parents(cells, r)
        assert [int(c) for c in ours] == [h3i.cell_to_parent(int(c), r) for c in cells]
    assert (cell_resolutions(cells) == 9).all()
    with pytest.raises(SchemaError):
        cell_parents(cells, 16)


def test_pool_cells_conserves_and_ranks_only_above_the_floor() -> None:
    rng = np.random.default_rng(1)
    base = h3i.latlng_to_cell(38.0, -78.0, 6)
    cells = np.array(sorted(h3i.cell_to_children(base, 9)), dtype=np.uint64)
    hh = np.where(rng.random(len(cells)) < 0.5, 0.0, rng.exponential(3.0, len(cells)))
    p = pool_cells(cells, hh, floor=5, coarsest=6)
    live = hh > 0
    assert (p.unit_of_cell[~live] == -1).all() and (p.unit_of_cell[live] >= 0).all()
    assert p.households.sum() == pytest.approx(hh.sum())
    assert np.allclose(np.bincount(p.unit_of_cell[live], weights=hh[live]), p.households)
    assert (p.households[p.ranked] >= 5).all()
    assert (p.ranked | (p.resolution == 6)).all()  # only pools at the coarsest are unranked
    # each cell's unit is itself or one of its parents
    u = p.units[p.unit_of_cell[live]]
    assert (cell_parents(cells[live], 6) == cell_parents(u, 6)).all()
    fine = p.resolution == 9
    assert (p.households[fine] >= 5).all() and (p.n_cells[fine] == 1).all()
    assert len(np.unique(p.units)) == len(p.units)


# -- block weights --------------------------------------------------------------------------


def test_block_mass_places_every_housing_unit_and_none_elsewhere(blocks) -> None:
    m = geo.block_mass(blocks)
    assert m.households.sum() == pytest.approx(blocks["housing_units"].sum(), rel=1e-12)
    assert m.persons.sum() == pytest.approx(blocks["population"].sum(), rel=1e-12)
    # every cell holding households touches a block with housing
    live = blocks[blocks["housing_units"] > 0]
    hexes = geo._hexagons(m.cell[m.households > 0])
    assert shapely.intersects(hexes, shapely.union_all(live.geometry.to_numpy())).all()
    # points: each block wholly in the cell of its internal point
    pts = gpd.GeoDataFrame(
        blocks.drop(columns="geometry"),
        geometry=shapely.points(blocks["intpt_lon"], blocks["intpt_lat"]),
        crs=4326,
    )
    mp = geo.block_mass(pts)
    assert mp.households.sum() == pytest.approx(blocks["housing_units"].sum())
    assert (mp.area_m2 == 0).all()


def test_street_level_block_weights_conserve_and_empty_blocks_get_no_households(
    bgs, blocks
) -> None:
    units, xw = street_level(bgs, counts=COUNTS, blocks=blocks, min_households=0)
    method = xw.groupby("source_GEOID")["weight_method"].first()
    has_hh = bgs.set_index("GEOID")["households"] > 0
    assert (method[has_hh[has_hh].index] == "blocks").all()
    assert (method[has_hh[~has_hh].index] == "area").all()  # no housing in its blocks
    for c in COUNTS:
        assert units[c].sum() == pytest.approx(bgs[c].sum(), rel=1e-12)
    w = xw.groupby("source_GEOID")["weight"].sum()
    assert np.allclose(w[bgs.set_index("GEOID")["households"] > 0], 1.0)
    # a unit's households come from blocks with housing in it: the hexagons of units with
    # households all meet a block with housing units
    live = shapely.union_all(blocks.loc[blocks["housing_units"] > 0].geometry.to_numpy())
    assert shapely.intersects(units.geometry.to_numpy(), live).all()
    # area weights spread the same households over every cell instead
    area, _ = street_level(bgs, counts=COUNTS, min_households=0)
    assert len(area) > len(units)


def test_street_level_floor_and_allocation_uncertainty(bgs) -> None:
    units, xw = street_level(bgs, counts=COUNTS, min_households=8, coarsest=7)
    assert units["households"].sum() == pytest.approx(bgs["households"].sum())
    ranked = units[units["ranked"]]
    assert (ranked["households"] >= 8).all()
    assert (units.loc[~units["ranked"], "cell_resolution"] == 7).all()
    assert units["GEOID"].is_unique and units["GEOID"].str.fullmatch(r"[0-9a-f]{15}").all()
    # pooled units carry the cells they pool; units do not overlap (but for the slivers of a
    # parent hexagon drawn for seven pooled children: H3 children do not tile their parent)
    area = units.to_crs(6933).area.sum()
    union = shapely.union_all(units.to_crs(6933).geometry.to_numpy()).area
    assert union == pytest.approx(area, rel=0.01)
    # the error of a unit's share grows as it holds fewer households
    cv = units["moe_hh_no_internet"] / units["hh_no_internet"].where(units["hh_no_internet"] > 0)
    big = units["households"] > units["households"].median()
    assert cv[big].median() < cv[~big].median()
    # and exceeds the ACS error moved with the weights alone
    plain = xw["weight"].to_numpy()
    assert (units["moe_hh_no_internet"] > 0).all()
    extra = allocation_moe(
        pd.DataFrame(bgs.drop(columns="geometry")),
        np.zeros(1, dtype=np.intp),
        np.zeros(1, dtype=np.intp),
        np.array([0.05]),
        1,
        numerator="hh_no_internet",
        universe="households",
    )
    n, p = 0.05 * 120, 20 / 120
    assert extra[0] == pytest.approx(1.645 * np.sqrt(n * p * (1 - p) * 0.95))
    assert len(plain)


def test_street_level_is_the_same_county_by_county_or_whole(bgs) -> None:
    calls = []

    def spy(func, args):
        calls.append(len(args))
        return [func(*a) for a in args]

    a, xa = street_level(bgs, counts=COUNTS, map_partitions=spy)
    assert calls == [2]  # two counties
    b, xb = street_level(bgs, counts=COUNTS)
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
    )


# -- real data --------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_virginia_without_tiles_ranks_no_empty_cells(shared_data) -> None:
    from equity import indicators

    d = shared_data
    bg = sources.read_boundaries(d / "boundaries" / "va" / "cb_2020_51_bg_500k.shp")
    acs = sources.read_acs(d / "acs" / "acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv")
    counts = indicators.counts_from_acs(acs)
    bg = bg[["GEOID", "geometry"]].merge(counts, on="GEOID")
    cols = [
        c
        for c in counts.columns
        if c not in ("GEOID", "median_household_income") and not c.startswith("moe_")
    ]
    units, xw = street_level(bg, counts=cols)
    assert units["households"].sum() == pytest.approx(bg["households"].sum(), rel=1e-9)
    ranked = units[units["ranked"]]
    assert (ranked["households"] < 1).mean() < 0.05  # issue #16 acceptance
    assert (ranked["households"] >= 5).all()
    assert units.attrs["street"]["blockgroups_by_weight"]["area"] == len(bg)


def test_fcc_availability_goes_to_the_populated_cells_of_its_res8_cell(bgs, blocks) -> None:
    from equity.sources import summarise_fcc_bdc

    rng = np.random.default_rng(5)
    n = 400
    lon, lat = rng.uniform(-77.0, -76.97, n), rng.uniform(38.0, 38.02, n)
    locs = pd.DataFrame(
        {
            "location_id": [str(i) for i in range(n)],
            "h3_res8_id": [
                h3i.int_to_str(h3i.latlng_to_cell(y, x, 8)) for x, y in zip(lon, lat, strict=True)
            ],
            "blockgroup_GEOID": "510010001001",
            "service_class": rng.choice(
                ["served", "underserved", "unserved"], n, p=[0.6, 0.25, 0.15]
            ),
        }
    )
    cells8 = summarise_fcc_bdc(locs, by="h3")[["GEOID", "n_locations", "n_served", "n_unserved"]]
    units, _ = street_level(
        bgs, counts=COUNTS, blocks=blocks, min_households=0, availability=cells8
    )
    lost = units.attrs["street"]["availability_unplaced"]
    assert units["n_locations"].sum() + lost["n_locations"] == pytest.approx(n)
    assert units["n_served"].sum() + lost["n_served"] == pytest.approx(
        (locs["service_class"] == "served").sum()
    )
    # a unit's locations come from the res-8 cell holding it, split by households
    u9 = units[units["cell_resolution"] == 9]
    parent = cell_parents(np.array([int(g, 16) for g in u9["GEOID"]], dtype=np.uint64), 8)
    by8 = cells8.set_index("GEOID")["n_locations"]
    for p8, grp in u9.groupby(parent):
        key = h3i.int_to_str(int(p8))
        if (
            key in by8.index
            and grp["households"].sum() > 0
            and (units["cell_resolution"] == 9).all()
        ):
            assert grp["n_locations"].sum() == pytest.approx(by8[key])
            share = grp["households"] / grp["households"].sum()
            assert np.allclose(grp["n_locations"], share * by8[key])
    with pytest.raises(SchemaError, match="resolution-8"):
        street_level(bgs, counts=COUNTS, availability=cells8.assign(GEOID=u9["GEOID"].iloc[0]))


def test_block_speeds_by_street_unit_follow_the_blocks(bgs, blocks) -> None:
    from equity.pipeline.street import _block_units

    units, _ = street_level(bgs, counts=COUNTS, blocks=blocks, min_households=20)
    keys = _block_units(blocks, units, resolution=9)
    assert set(keys) <= set(units["GEOID"])
    # every block with housing lies in a unit (its cell or the pool of a parent holding it)
    housed = blocks.loc[blocks["housing_units"] > 0, "GEOID"]
    assert housed.isin(keys.index).mean() > 0.95
    rng = np.random.default_rng(7)
    rows = pd.DataFrame(
        {
            "block_GEOID": blocks["GEOID"].to_numpy(),
            "tile_key": np.arange(len(blocks)),
            "download_mbps": rng.uniform(5, 300, len(blocks)),
            "upload_mbps": rng.uniform(1, 50, len(blocks)),
            "latency_ms": 20.0,
            "tests": rng.integers(1, 30, len(blocks)).astype(float),
            "devices": 2.0,
        }
    )
    out = geo.block_speeds(rows, keys, blocks=blocks)
    placed = rows["block_GEOID"].isin(keys.index)
    assert out["ookla_tests"].sum() == pytest.approx(rows.loc[placed, "tests"].sum())
    one = out.iloc[0]
    mine = rows[rows["block_GEOID"].map(keys) == one["GEOID"]]
    expect = (mine["tests"] * mine["download_mbps"]).sum() / mine["tests"].sum()
    assert one["download_mbps"] == pytest.approx(expect)

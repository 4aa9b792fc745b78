"""Tests of equity.geographies: hierarchy, crosswalks, street grid, towns, vintages, Ookla.

Hand-made fixtures (squares with known answers) check exactness; the real Virginia tract
files and Hawaii Ookla tiles in ../shared/data check behaviour on real geometry.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from equity import geographies as geo
from equity.errors import ChoiceError, DataError, SchemaError
from equity.geographies import h3cells, h3grid

REL = 1e-9


def rel_err(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


# ---------------------------------------------------------------------------------------------
# fixtures


def _square(x0: float, y0: float, size: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x0 + size, y0 + size)


@pytest.fixture
def blockgroups() -> gpd.GeoDataFrame:
    """Six block groups on a 3 x 2 grid of 0.01-degree squares near 38N (two tracts, two counties)."""
    ids = [
        "510010001001",
        "510010001002",
        "510010002001",
        "510010002002",
        "510030001001",
        "510030001002",
    ]
    geoms = [_square(-77.0 + 0.01 * (i % 3), 38.0 + 0.01 * (i // 3), 0.01) for i in range(6)]
    return gpd.GeoDataFrame(
        {
            "GEOID": ids,
            "households": [120.0, 0.0, 340.0, 55.0, 410.0, 75.0],
            "moe_households": [30.0, 12.0, 60.0, 20.0, 70.0, 25.0],
            "hh_no_internet": [20.0, 0.0, 50.0, 10.0, 90.0, 5.0],
            "moe_hh_no_internet": [10.0, 12.0, 20.0, 8.0, 30.0, 6.0],
            "median_household_income": [50000.0, np.nan, 70000.0, 40000.0, 65000.0, 30000.0],
            "moe_median_household_income": [5000.0, np.nan, 9000.0, 7000.0, 6000.0, 8000.0],
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


COUNTS = ["households", "hh_no_internet"]
MEDIANS = {"median_household_income": "households"}


def _table(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(gdf.drop(columns="geometry"))


# ---------------------------------------------------------------------------------------------
# MOE helpers


def test_moe_sum_bounds_and_zero_rule() -> None:
    assert geo.moe_sum([3.0, 4.0]) == 5.0
    parts = np.array([[3.0, 2.0], [4.0, 2.0], [12.0, 2.0]])
    out = geo.moe_sum(parts)
    assert np.allclose(out, [13.0, np.sqrt(12.0)])
    assert (out >= parts.max(axis=0)).all() and (out <= parts.sum(axis=0)).all()
    # Handbook rule: of several zero estimates only the largest MOE counts
    zero_rule = geo.moe_sum([5.0, 7.0, 3.0], estimates=[0.0, 0.0, 10.0])
    assert zero_rule == pytest.approx(np.sqrt(7.0**2 + 3.0**2))
    assert np.isnan(geo.moe_sum([np.nan, 1.0], estimates=[1.0, 0.0]))


def test_moe_proportion_falls_back_to_ratio_formula() -> None:
    # regular case: sqrt(5^2 - 0.2^2 * 10^2) / 100
    assert geo.moe_proportion(20.0, 100.0, 5.0, 10.0) == pytest.approx(np.sqrt(25 - 4) / 100)
    # negative under the root -> ratio formula
    p = 90.0 / 100.0
    assert geo.moe_proportion(90.0, 100.0, 5.0, 30.0) == pytest.approx(
        np.sqrt(25 + p**2 * 900) / 100
    )
    out = geo.moe_proportion(np.array([20.0, 1.0]), np.array([100.0, 0.0]), 5.0, 10.0)
    assert np.isfinite(out[0]) and np.isnan(out[1])
    assert geo.moe_ratio(20.0, 100.0, 5.0, 10.0) == pytest.approx(np.sqrt(25 + 4) / 100)
    assert geo.moe_product(10.0, 0.5, 2.0, 0.1) == pytest.approx(np.sqrt(100 * 0.01 + 0.25 * 4))
    assert geo.moe_weighted_mean([1.0, 3.0], [4.0, 4.0]) == pytest.approx(np.sqrt(1 + 9) * 4 / 4)
    assert geo.se_from_moe(1.645) == pytest.approx(1.0)
    assert geo.moe_from_se(1.0) == pytest.approx(1.645)


@given(
    st.lists(st.floats(0, 1e6), min_size=1, max_size=20),
    st.lists(st.floats(0, 1e4), min_size=1, max_size=20),
)
@settings(max_examples=50, deadline=None)
def test_moe_proportion_is_finite_and_nonnegative(nums: list[float], moes: list[float]) -> None:
    n = min(len(nums), len(moes))
    num = np.asarray(nums[:n])
    den = num + 1.0 + np.asarray(moes[:n])
    out = geo.moe_proportion(num, den, np.asarray(moes[:n]), np.asarray(moes[:n])[::-1])
    assert np.all(np.isfinite(out)) and np.all(out >= 0)


# ---------------------------------------------------------------------------------------------
# hierarchy


def test_parent_geoid_by_prefix_and_errors() -> None:
    s = pd.Series(["510010001001", "020130001002"], index=[7, 9])
    assert geo.parent_geoid(s, "tract").tolist() == ["51001000100", "02013000100"]
    assert geo.parent_geoid(s, "state").index.tolist() == [7, 9]
    assert geo.parent_geoid(s, "county").name == "county_GEOID"
    with pytest.raises(SchemaError, match="numbers"):
        geo.parent_geoid(pd.Series([510010001001]), "tract")
    with pytest.raises(SchemaError, match="coarser"):
        geo.parent_geoid(pd.Series(["51001"]), "tract")
    with pytest.raises(
        ChoiceError, match="unknown level 'zip'; valid: state, county, tract, blockgroup"
    ):
        geo.parent_geoid(s, "zip")
    with pytest.raises(SchemaError, match="digit"):
        geo.parent_geoid(pd.Series(["51001X"]), "county")


def test_aggregate_conserves_and_moe_bounds(blockgroups: gpd.GeoDataFrame) -> None:
    table = _table(blockgroups)
    for level in ("tract", "county", "state"):
        out = geo.aggregate(table, to=level, counts=COUNTS, medians=MEDIANS)
        for c in COUNTS:
            assert rel_err(out[c].sum(), table[c].sum()) < REL
        parents = geo.parent_geoid(table["GEOID"], level)
        for c in COUNTS:
            m = table[f"moe_{c}"].groupby(parents.to_numpy())
            got = out.set_index("GEOID")[f"moe_{c}"]
            assert (got >= m.max() - 1e-12).all()
            assert (got <= m.sum() + 1e-12).all()
    county = geo.aggregate(table, to="county", counts=COUNTS)
    assert county["GEOID"].tolist() == ["51001", "51003"]
    assert county["state_GEOID"].tolist() == ["51", "51"]
    assert county["households"].tolist() == [515.0, 485.0]
    assert county.loc[0, "moe_households"] == pytest.approx(np.sqrt(30**2 + 12**2 + 60**2 + 20**2))
    # households-weighted mean of medians, missing medians left out
    assert county.loc[0, "median_household_income"] if "median_household_income" in county else True
    med = geo.aggregate(table, to="county", counts=COUNTS, medians=MEDIANS).set_index("GEOID")
    expect = (120 * 50000 + 340 * 70000 + 55 * 40000) / (120 + 340 + 55)
    assert med.loc["51001", "median_household_income"] == pytest.approx(expect)
    expect_moe = np.sqrt((120 * 5000) ** 2 + (340 * 9000) ** 2 + (55 * 7000) ** 2) / 515
    assert med.loc["51001", "moe_median_household_income"] == pytest.approx(expect_moe)


def test_aggregate_twice_equals_once(blockgroups: gpd.GeoDataFrame) -> None:
    table = _table(blockgroups).assign(
        median_household_income=lambda d: d["median_household_income"].fillna(1.0)
    )
    table["moe_median_household_income"] = table["moe_median_household_income"].fillna(1.0)
    once = geo.aggregate(table, to="county", counts=COUNTS, medians=MEDIANS)
    tracts = geo.aggregate(table, to="tract", counts=COUNTS, medians=MEDIANS)
    twice = geo.aggregate(tracts, to="county", counts=COUNTS, medians=MEDIANS)
    cols = [
        *COUNTS,
        *[f"moe_{c}" for c in COUNTS],
        "median_household_income",
        "moe_median_household_income",
    ]
    pd.testing.assert_frame_equal(once[cols], twice[cols], rtol=1e-12)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 3),
            st.floats(0, 1e5, allow_subnormal=False),
            st.one_of(st.just(0.0), st.floats(1e-6, 1e3)),  # squares of MOEs below 1e-154 underflow
        ),
        min_size=1,
        max_size=40,
    )
)
@settings(max_examples=40, deadline=None)
def test_aggregate_invariants_property(rows: list[tuple[int, int, float, float]]) -> None:
    table = pd.DataFrame(
        {
            "GEOID": [f"51{c:03d}{t:06d}{i % 10}" for i, (c, t, _, _) in enumerate(rows)],
            "households": [r[2] for r in rows],
            "moe_households": [r[3] for r in rows],
        }
    ).drop_duplicates("GEOID")
    once = geo.aggregate(table, to="county", counts=["households"])
    twice = geo.aggregate(
        geo.aggregate(table, to="tract", counts=["households"]), to="county", counts=["households"]
    )
    assert np.allclose(once["households"], twice["households"], rtol=1e-12)
    assert np.allclose(once["moe_households"], twice["moe_households"], rtol=1e-12)
    assert once["households"].sum() == pytest.approx(table["households"].sum(), rel=1e-12)
    grp = table.groupby(table["GEOID"].str[:5])["moe_households"]
    got = once.set_index("GEOID")["moe_households"]
    assert (got >= grp.max() * (1 - 1e-12)).all() and (got <= grp.sum() * (1 + 1e-12) + 1e-12).all()


def test_aggregate_refuses_mixed_levels_and_missing_columns(blockgroups: gpd.GeoDataFrame) -> None:
    table = _table(blockgroups)
    mixed = pd.concat([table, pd.DataFrame({"GEOID": ["51001000100"], "households": [1.0]})])
    with pytest.raises(SchemaError, match="mixes GEOIDs"):
        geo.aggregate(mixed, to="county", counts=["households"])
    with pytest.raises(SchemaError, match="population"):
        geo.aggregate(table, to="county", counts=["population"])


def test_aggregate_missing_counts_propagate_unless_skipna(blockgroups: gpd.GeoDataFrame) -> None:
    table = _table(blockgroups)
    table.loc[0, "households"] = np.nan
    out = geo.aggregate(table, to="county", counts=["households"]).set_index("GEOID")
    assert np.isnan(out.loc["51001", "households"]) and out.loc["51003", "households"] == 485.0
    out = geo.aggregate(table, to="county", counts=["households"], skipna=True).set_index("GEOID")
    assert out.loc["51001", "households"] == 395.0


# ---------------------------------------------------------------------------------------------
# crosswalks


def test_apply_crosswalk_splits_and_checks() -> None:
    t = pd.DataFrame(
        {"GEOID": ["a", "b"], "households": [100.0, 10.0], "moe_households": [20.0, 4.0]}
    )
    xw = pd.DataFrame(
        {
            "source_GEOID": ["a", "a", "b"],
            "target_GEOID": ["x", "y", "y"],
            "weight": [0.25, 0.75, 1.0],
        }
    )
    out = geo.apply_crosswalk(t, xw, counts=["households"]).set_index("GEOID")
    assert out.loc["x", "households"] == 25.0 and out.loc["y", "households"] == 85.0
    assert out.loc["y", "moe_households"] == pytest.approx(np.sqrt(15.0**2 + 4.0**2))
    bad = xw.assign(weight=[0.25, 0.5, 1.0])
    with pytest.raises(DataError, match="'a'"):
        geo.apply_crosswalk(t, bad, counts=["households"])
    assert (
        geo.apply_crosswalk(t, bad, counts=["households"], check=False)["households"].sum() == 85.0
    )
    with pytest.raises(DataError, match="finite"):
        geo.apply_crosswalk(t, xw.assign(weight=[-0.1, 1.1, 1.0]), counts=["households"])
    with pytest.raises(DataError, match="'b'"):  # b missing from the crosswalk loses its counts
        geo.apply_crosswalk(t, xw.iloc[:2], counts=["households"])
    with pytest.raises(SchemaError, match="duplicate"):
        geo.apply_crosswalk(pd.concat([t, t]), xw, counts=["households"])
    # two rows a -> y are one piece: MOE 0.75 * 20, not sqrt(2) * 0.375 * 20
    split = pd.DataFrame(
        {
            "source_GEOID": ["a", "a", "a", "b"],
            "target_GEOID": ["x", "y", "y", "y"],
            "weight": [0.25, 0.375, 0.375, 1.0],
        }
    )
    again = geo.apply_crosswalk(t, split, counts=["households"]).set_index("GEOID")
    pd.testing.assert_frame_equal(again, out)


# ---------------------------------------------------------------------------------------------
# street grid


def _conserved_per_bg(cells: gpd.GeoDataFrame, xw: pd.DataFrame, bg: gpd.GeoDataFrame) -> None:
    wsum = xw.groupby("source_GEOID")["weight"].sum()
    populated = bg.loc[(bg[COUNTS] > 0).any(axis=1), "GEOID"]
    assert np.allclose(wsum.reindex(populated), 1.0, rtol=0, atol=1e-12)
    moved = xw.merge(_table(bg), left_on="source_GEOID", right_on="GEOID")
    for c in COUNTS:
        per_bg = (moved["weight"] * moved[c]).groupby(moved["source_GEOID"]).sum()
        assert np.all(
            np.abs(per_bg.reindex(bg["GEOID"]).fillna(0).to_numpy() - bg[c].to_numpy())
            <= REL * bg[c].to_numpy() + 1e-12
        )
        assert rel_err(cells[c].sum(), bg[c].sum()) < REL


def test_street_grid_area_weights_conserve_and_keep_parents(blockgroups: gpd.GeoDataFrame) -> None:
    cells, xw = geo.street_grid(blockgroups, counts=COUNTS, medians=MEDIANS)
    _conserved_per_bg(cells, xw, blockgroups)
    assert cells.crs == "EPSG:4326"
    assert cells["GEOID"].str.fullmatch(r"[0-9a-f]{15}").all()
    assert cells["GEOID"].is_unique
    assert (cells["tract_GEOID"] == cells["blockgroup_GEOID"].str[:11]).all()
    assert (cells["county_GEOID"] == cells["blockgroup_GEOID"].str[:5]).all()
    assert (cells["state_GEOID"] == "51").all()
    assert set(cells["weight_method"]) == {"area"}
    assert (cells["n_parents"] >= 1).all() and (cells["n_parents"] > 1).any()
    # block group 510010001002 has no households: its interior cells are dropped (not populated)
    interior = cells[(cells["n_parents"] == 1)]
    assert not (interior["blockgroup_GEOID"] == "510010001002").any()
    # a cell fully inside one block group carries that block group's median exactly
    inside = interior[interior["blockgroup_GEOID"] == "510010002001"]
    assert len(inside) and np.allclose(inside["median_household_income"], 70000.0)
    # MOE of a piece is the weight times the source MOE
    one = xw[xw["source_GEOID"] == "510010002001"].iloc[0]
    cell = cells.set_index("GEOID").loc[one["target_GEOID"]]
    if cell["n_parents"] == 1:
        assert cell["moe_households"] == pytest.approx(one["weight"] * 60.0)
    # H3 hexagons of res 9 are about 0.105 km2
    area = cells.to_crs("EPSG:6933").area
    assert area.median() == pytest.approx(105_000, rel=0.1)


def test_street_grid_equals_tobler_area_interpolate(blockgroups: gpd.GeoDataFrame) -> None:
    from scipy.sparse import coo_matrix
    from tobler.area_weighted import area_interpolate

    cells, _ = geo.street_grid(blockgroups, counts=COUNTS, drop_empty=False)
    src = blockgroups.to_crs("EPSG:6933")
    tgt = cells[["GEOID", "geometry"]].to_crs("EPSG:6933")
    # tobler's own area table is float32 (relative error ~1e-7); build it the same way in float64
    i_t, i_s = src.sindex.query(tgt.geometry, predicate="intersects")
    areas = src.geometry.values[i_s].intersection(tgt.geometry.values[i_t]).area
    table = coo_matrix((areas, (i_s, i_t)), shape=(len(src), len(tgt))).tocsr()
    ref = area_interpolate(src, tgt, extensive_variables=COUNTS, table=table)
    stock = area_interpolate(src, tgt, extensive_variables=COUNTS)
    for c in COUNTS:
        assert np.abs(ref[c].to_numpy() - cells[c].to_numpy()).max() <= REL * cells[c].max()
        assert np.abs(stock[c].to_numpy() - cells[c].to_numpy()).max() <= 1e-5 * cells[c].max()


def test_street_grid_tiles_move_households_to_where_tests_are(
    blockgroups: gpd.GeoDataFrame,
) -> None:
    # one tile with devices in the west half of block group 510010002001, none elsewhere there
    tiles = gpd.GeoDataFrame(
        {"devices": [10.0, 0.0], "tests": [40.0, 3.0]},
        geometry=[
            shapely.box(-77.0, 38.0, -76.995, 38.01),
            shapely.box(-76.995, 38.0, -76.99, 38.01),
        ],
        crs="EPSG:4326",
    )
    cells, xw = geo.street_grid(blockgroups, counts=COUNTS, tiles=tiles)
    _conserved_per_bg(cells, xw, blockgroups)
    methods = xw.drop_duplicates("source_GEOID").set_index("source_GEOID")["weight_method"]
    assert methods["510010001001"] == "ancillary"
    assert (methods.drop("510010001001") == "area").all()
    # every household of 510010001001 lies in cells overlapping the tile
    bg_cells = cells[
        cells["GEOID"].isin(xw.loc[xw["source_GEOID"] == "510010001001", "target_GEOID"])
    ]
    tile = tiles.geometry.iloc[0]
    assert bg_cells.geometry.intersects(tile).all()
    west = xw[xw["source_GEOID"] == "510010001001"]
    centroid_x = shapely.get_coordinates(
        shapely.centroid(cells.set_index("GEOID").loc[west["target_GEOID"]].geometry.array)
    )[:, 0]
    assert (centroid_x < -76.9935).all()
    # weight_column=None: tiles spread by their area
    cells2, xw2 = geo.street_grid(blockgroups, counts=COUNTS, tiles=tiles, weight_column=None)
    _conserved_per_bg(cells2, xw2, blockgroups)


def _some_tiles(blockgroups: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Tiles with devices over part of the block groups, none over the others."""
    x0, y0, x1, y1 = blockgroups.total_bounds
    xs = np.linspace(x0, x0 + (x1 - x0) * 0.6, 9)
    boxes = [shapely.box(a, y0, b, y0 + (y1 - y0) * 0.4) for a, b in itertools.pairwise(xs)]
    devices = np.arange(len(boxes), dtype=float) % 3  # some tiles without devices
    return gpd.GeoDataFrame({"devices": devices}, geometry=boxes, crs="EPSG:4326")


def test_street_grid_cell_filter_changes_nothing(
    blockgroups: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skipping cells far from every tile gives the very pieces of the unfiltered overlay."""
    tiles = _some_tiles(blockgroups)
    fast = geo.street_grid_pieces(blockgroups, tiles=tiles)
    assert set(fast["weight_method"]) == {"ancillary", "area"}
    monkeypatch.setattr(h3grid, "_cells_near", lambda cells, *a: np.ones(len(cells), dtype=bool))
    pd.testing.assert_frame_equal(fast, geo.street_grid_pieces(blockgroups, tiles=tiles))


def test_street_grid_reuses_the_hexagons_of_its_pieces(
    blockgroups: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one pass over H3 per cell; the output hexagons equal those H3 gives
    tiles = _some_tiles(blockgroups)
    want = geo.street_grid_pieces(blockgroups, tiles=tiles)
    calls = []
    real = h3cells._hexagons_of
    for module in (h3cells, h3grid):  # every caller, wherever it looks the function up
        monkeypatch.setattr(module, "_hexagons_of", lambda c, p: calls.append(len(c)) or real(c, p))
    cells, xw = geo.street_grid(blockgroups, counts=COUNTS, tiles=tiles)
    assert len(calls) == 1 and calls[0] >= len(cells)
    pd.testing.assert_frame_equal(
        xw, want[want["target_GEOID"].isin(cells["GEOID"])].reset_index(drop=True)
    )
    fresh = gpd.GeoSeries(geo._hexagons(cells["GEOID"].to_numpy(dtype=str)), crs="EPSG:4326")
    assert cells.geometry.geom_equals_exact(fresh, 0).all()


def test_street_grid_redoes_block_groups_whose_filtered_pieces_hold_no_mass(
    blockgroups: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the first pass says every block group holds ancillary mass, so all get only the cells
    # near a tile; those whose pieces then hold none are redone with every cell (area
    # weights), which must give the pieces of a run where the first pass was right
    tiles = _some_tiles(blockgroups)
    want = geo.street_grid_pieces(blockgroups, tiles=tiles)
    real = h3grid._ancillary_mass
    calls = []

    def first_says_all(pieces: np.ndarray, layer: np.ndarray, mass: np.ndarray) -> np.ndarray:
        calls.append(len(pieces))
        return np.ones(len(pieces)) if len(calls) == 1 else real(pieces, layer, mass)

    monkeypatch.setattr(h3grid, "_ancillary_mass", first_says_all)
    got = geo.street_grid_pieces(blockgroups, tiles=tiles)
    assert calls[0] == len(blockgroups) and len(calls) >= 2
    pd.testing.assert_frame_equal(got, want)
    assert (got["weight_method"] == "area").any()


def test_street_grid_with_points_and_lines(blockgroups: gpd.GeoDataFrame) -> None:
    pts = gpd.GeoDataFrame(
        {"units": [5.0, 1.0]},
        geometry=shapely.points([[-76.999, 38.001], [-76.985, 38.015]]),
        crs="EPSG:4326",
    )
    cells, xw = geo.street_grid(blockgroups, counts=COUNTS, tiles=pts, weight_column="units")
    _conserved_per_bg(cells, xw, blockgroups)
    w = xw[xw["source_GEOID"] == "510010001001"]
    assert len(w) == 1 and w["weight"].iloc[0] == pytest.approx(1.0)
    road = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(-77.0, 38.002), (-76.97, 38.002)])], crs="EPSG:4326"
    )
    cells, xw = geo.street_grid(blockgroups, counts=COUNTS, tiles=road, weight_column=None)
    _conserved_per_bg(cells, xw, blockgroups)
    assert (xw.loc[xw["source_GEOID"] == "510010002001", "weight_method"] == "ancillary").all()


def test_street_grid_resolution_and_errors(blockgroups: gpd.GeoDataFrame) -> None:
    coarse, _ = geo.street_grid(blockgroups, counts=COUNTS, resolution=7)
    fine, _ = geo.street_grid(blockgroups, counts=COUNTS, resolution=9)
    assert len(coarse) < len(fine)
    assert rel_err(coarse["households"].sum(), 1000.0) < REL
    with pytest.raises(SchemaError, match="resolution"):
        geo.street_grid(blockgroups, counts=COUNTS, resolution=16)
    with pytest.raises(SchemaError, match="population"):
        geo.street_grid(blockgroups, counts=["population"])
    with pytest.raises(SchemaError, match="CRS"):
        geo.street_grid(blockgroups.set_crs(None, allow_override=True), counts=COUNTS)
    dup = pd.concat([blockgroups, blockgroups.iloc[:1]])
    with pytest.raises(SchemaError, match="duplicate"):
        geo.street_grid(dup, counts=COUNTS)
    tiles = gpd.GeoDataFrame(
        {"devices": [1.0]}, geometry=[_square(-77.0, 38.0, 0.01)], crs="EPSG:4326"
    )
    with pytest.raises(SchemaError, match="tests"):
        geo.street_grid(blockgroups, counts=COUNTS, tiles=tiles, weight_column="tests")


# ---------------------------------------------------------------------------------------------
# Ookla


@pytest.fixture
def tiles() -> gpd.GeoDataFrame:
    # four tiles: two inside the west square, one straddling the border, one outside
    geoms = [
        shapely.box(-77.0, 38.0, -76.995, 38.005),
        shapely.box(-76.995, 38.005, -76.99, 38.01),
        shapely.box(-76.9925, 38.0, -76.9875, 38.005),
        shapely.box(-76.5, 38.0, -76.495, 38.005),
    ]
    return gpd.GeoDataFrame(
        {
            "avg_d_kbps": [10_000.0, 200_000.0, 50_000.0, 1000.0],
            "avg_u_kbps": [1_000.0, 30_000.0, 10_000.0, 1000.0],
            "avg_lat_ms": [40.0, 10.0, 20.0, 50.0],
            "tests": [10.0, 30.0, 20.0, 7.0],
            "devices": [2.0, 6.0, 4.0, 1.0],
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def test_ookla_to_polygons_area_share_and_means(tiles: gpd.GeoDataFrame) -> None:
    polys = gpd.GeoDataFrame(
        {"GEOID": ["w", "e", "empty"]},
        geometry=[
            _square(-77.0, 38.0, 0.01),
            _square(-76.99, 38.0, 0.01),
            _square(-70.0, 38.0, 0.01),
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
# towns


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
        geometry=[_square(-77.0, 38.0, 0.03)],
        crs="EPSG:4326",
    )
    out = geo.allocate_to_polygons(bg, town, counts=COUNTS).iloc[0]
    assert out["crosses_state"] and out["n_states"] == 2 and out["n_counties"] == 3
    assert out["state_GEOID"] == "24" and out["county_GEOID"] == "24001"  # 900 of 1825 households
    assert out["households"] == pytest.approx(bg["households"].sum(), rel=REL)


def test_allocate_to_polygons_nearest_and_overlap_error(blockgroups: gpd.GeoDataFrame) -> None:
    far = gpd.GeoDataFrame({"GEOID": ["T"]}, geometry=[_square(-76.0, 38.0, 0.01)], crs="EPSG:4326")
    out = geo.allocate_to_polygons(blockgroups, far, counts=COUNTS)
    assert out["households"].iloc[0] == pytest.approx(1000.0)
    xw = geo.polygon_crosswalk(blockgroups, far)
    assert set(xw["weight_method"]) == {"nearest"}
    overlapping = gpd.GeoDataFrame(
        {"GEOID": ["P", "Q"]},
        geometry=[_square(-77.0, 38.0, 0.03), _square(-77.0, 38.0, 0.02)],
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


def test_build_towns_is_contiguous_deterministic_and_conserves() -> None:
    # a 6 x 5 grid of block groups in one county plus a 2-block-group county
    geoms, ids = [], []
    for i in range(30):
        geoms.append(_square(-77.0 + 0.01 * (i % 6), 38.0 + 0.01 * (i // 6), 0.01))
        ids.append(f"51001{i // 4:06d}{i % 4}")
    for i in range(2):
        geoms.append(_square(-76.0 + 0.01 * i, 38.0, 0.01))
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
    assert towns["NAME"].iloc[0] == "Alpha area 1"
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
        geometry=[_square(-77.0, 38.0, 0.01), _square(-76.99, 38.0, 0.01)],
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


# ---------------------------------------------------------------------------------------------
# real Hawaii tiles


@pytest.fixture(scope="module")
def hawaii(shared_data):
    tiles = gpd.read_file(shared_data / "ookla/ookla_fixed_tiles_hawaii_2021Q1.geojson").to_crs(
        4326
    )
    counties = gpd.read_file(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    counties = (
        counties[counties["STATEFP"] == "15"]
        .to_crs(4326)[["GEOID", "NAME", "geometry"]]
        .reset_index(drop=True)
    )
    return tiles, counties


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
def test_street_grid_real_hawaii_with_tiles(hawaii) -> None:
    tiles, counties = hawaii
    kalawao_maui = counties[counties["GEOID"].isin(["15005"])].rename(columns={"GEOID": "cty"})
    bg = kalawao_maui.assign(GEOID="150050319001", households=45.0, moe_households=12.0)
    cells, xw = geo.street_grid(
        bg[["GEOID", "households", "moe_households", "geometry"]],
        counts=["households"],
        tiles=tiles,
    )
    assert rel_err(cells["households"].sum(), 45.0) < REL
    assert set(xw["weight_method"]) == {"ancillary"}
    grid = geo.ookla_to_grid(tiles[tiles.intersects(bg.geometry.iloc[0])])
    assert set(cells["GEOID"]) <= set(grid["GEOID"])


# ---------------------------------------------------------------------------------------------
# street segments


def test_street_segments_cut_lines_at_cell_edges(blockgroups: gpd.GeoDataFrame) -> None:
    cells, _ = geo.street_grid(blockgroups, counts=COUNTS, drop_empty=False)
    road = gpd.GeoDataFrame(
        {"LINEARID": ["r1", "r2"]},
        geometry=[
            shapely.LineString([(-76.999, 38.005), (-76.971, 38.005)]),
            shapely.LineString([(-60.0, 0.0), (-60.1, 0.0)]),
        ],
        crs="EPSG:4326",
    )
    seg = geo.street_segments(road, cells, columns=["households"], id_column="LINEARID")
    assert set(seg["LINEARID"]) == {"r1"}  # r2 lies outside every cell
    assert seg["cell_GEOID"].is_unique and seg["cell_GEOID"].isin(cells["GEOID"]).all()
    total = gpd.GeoSeries(road.geometry.iloc[:1], crs=4326).to_crs(6933).length.iloc[0]
    assert seg["length_m"].sum() == pytest.approx(total, rel=1e-9)
    lookup = cells.set_index("GEOID")["households"]
    assert np.allclose(seg["households"], lookup.loc[seg["cell_GEOID"]].to_numpy())
    # every piece lies within its cell
    cell_geom = cells.set_index("GEOID").geometry.loc[seg["cell_GEOID"]].to_numpy()
    assert shapely.covers(shapely.buffer(cell_geom, 1e-9), seg.geometry.to_numpy()).all()


@pytest.mark.shared_data
def test_street_grid_real_virginia_blockgroups(shared_data) -> None:
    bg = gpd.read_file(shared_data / "boundaries/va/cb_2020_51_bg_500k.shp").to_crs(4326)
    bg = bg[bg["GEOID"].str[:5].isin(["51540", "51003"])][
        ["GEOID", "geometry"]
    ]  # Charlottesville + Albemarle
    acs = pd.read_csv(
        shared_data / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv", dtype={"GEOID": str}
    )
    acs = acs.rename(
        columns={
            "B28002_001E": "households",
            "B28002_001M": "moe_households",
            "B28002_013E": "hh_no_internet",
            "B28002_013M": "moe_hh_no_internet",
        }
    )
    acs["median_household_income"] = acs["B19013_001E"].where(acs["B19013_001E"] > 0)
    bg = bg.merge(
        acs[["GEOID", *COUNTS, "moe_households", "moe_hh_no_internet", "median_household_income"]],
        on="GEOID",
    )
    assert len(bg) > 100
    cells, xw = geo.street_grid(bg, counts=COUNTS, medians=MEDIANS)
    _conserved_per_bg(cells, xw, bg)
    assert cells["county_GEOID"].isin(["51540", "51003"]).all()
    assert (cells["n_parents"] > 1).any()
    # aggregating the cells' counts by their dominant block group's county stays close to the truth
    by_county = cells.groupby("county_GEOID")["households"].sum()
    truth = bg.groupby(bg["GEOID"].str[:5])["households"].sum()
    assert np.allclose(by_county, truth.reindex(by_county.index), rtol=0.02)
    # cells -> tract by crosswalk equals block groups -> tract by the hierarchy
    tracts = geo.aggregate(_table(bg), to="tract", counts=COUNTS)
    assert rel_err(tracts["households"].sum(), cells["households"].sum()) < REL
    moe_ok = (cells["moe_households"] <= cells["households"].max() * 10).all()
    lo, hi = bg["median_household_income"].min(), bg["median_household_income"].max()
    assert (
        moe_ok
        and cells["median_household_income"]
        .dropna()
        .between(lo * (1 - 1e-12), hi * (1 + 1e-12))
        .all()
    )


# ---------------------------------------------------------------------------------------------
# geometry engine


def test_rect_clip_area_matches_geos_on_concave_polygons_with_holes() -> None:
    from equity.geographies import _overlay, _rect_clip_area, _rectangles

    rng = np.random.default_rng(5)
    n = 3000
    # large projected coordinates, as in EPSG:6933, to exercise the precision of the shoelace
    centre = rng.uniform(-1e5, 1e5, (n, 2)) + np.array([-7.4e6, 4.5e6])
    polys = shapely.buffer(shapely.points(centre), rng.uniform(100, 400, n), quad_segs=3)
    polys[::3] = shapely.difference(
        polys[::3], shapely.buffer(shapely.points(centre[::3] + 20), 60)
    )  # holes
    notch = shapely.box(
        centre[1::4, 0] - 30, centre[1::4, 1] - 500, centre[1::4, 0] + 30, centre[1::4, 1] + 10
    )
    polys[1::4] = shapely.difference(polys[1::4], notch)  # concave
    polys[2::7] = shapely.union(
        polys[2::7], shapely.buffer(shapely.points(centre[2::7] + 900), 50)
    )  # multi
    x0 = centre[:, 0] + rng.uniform(-500, 300, n)
    y0 = centre[:, 1] + rng.uniform(-500, 300, n)
    rects = shapely.box(x0, y0, x0 + rng.uniform(50, 600, n), y0 + rng.uniform(50, 600, n))
    assert _rectangles(rects).all() and not _rectangles(polys).any()
    got = _rect_clip_area(polys, rects)
    want = shapely.area(shapely.intersection(polys, rects))
    assert np.abs(got - want).max() <= 1e-9 * shapely.area(rects).max()
    assert (want > 0).mean() > 0.5
    # the overlay engine agrees with GEOS on every pair
    ia, ib, area, _ = _overlay(polys, rects)
    ref = shapely.area(shapely.intersection(polys[ia], rects[ib]))
    assert np.allclose(area, ref, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("resolution", [8, 9, 10])
def test_cells_covering_small_polygons_is_complete(resolution: int) -> None:
    import h3
    from shapely import affinity

    from equity.geographies import _cells_covering, _hexagons

    rng = np.random.default_rng(resolution)
    n = 60
    centre = np.column_stack([rng.uniform(-120, -70, n), rng.uniform(25, 48, n)])
    size = rng.uniform(0.0005, 0.006, n)
    polys = shapely.box(centre[:, 0], centre[:, 1], centre[:, 0] + size, centre[:, 1] + size * 0.8)
    polys[::2] = [affinity.rotate(p, 33) for p in polys[::2]]  # not axis-aligned
    polys[1::3] = shapely.buffer(
        polys[1::3], size[1::3] * 0.3, quad_segs=2
    )  # rounded, non-rectangular
    found = set(_cells_covering(polys, resolution).tolist())
    near = sorted(
        {c for lng, lat in centre for c in h3.grid_disk(h3.latlng_to_cell(lat, lng, resolution), 6)}
    )
    hexes = _hexagons(np.asarray(near))
    tree = shapely.STRtree(hexes)
    poly_i, hit = tree.query(polys, predicate="intersects")
    hit_cells = {near[i] for i in np.unique(hit)}
    area = shapely.area(shapely.intersection(hexes[hit], polys[poly_i]))
    touching = {near[i] for i, a in zip(hit, area, strict=True) if a > 0}
    assert touching <= found
    assert len(hit_cells) > n


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

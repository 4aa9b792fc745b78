"""Tests of equity.geographies.h3grid (the street grid), h3cells, overlay and segments.

Hand-made block groups check exactness and conservation; the real Virginia block groups
and Hawaii Ookla tiles in ../shared/data check behaviour on real geometry.
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
    conserved_per_bg,
    make_blockgroups,
    read_hawaii,
    rel_err,
    some_tiles,
    square,
    table_of,
)

from equity import geographies as geo
from equity.errors import SchemaError
from equity.geographies import h3cells, h3grid

# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def blockgroups() -> gpd.GeoDataFrame:
    return make_blockgroups()


@pytest.fixture(scope="module")
def hawaii(shared_data):
    return read_hawaii(shared_data)


# ---------------------------------------------------------------------------------------------
# street grid


def test_street_grid_area_weights_conserve_and_keep_parents(blockgroups: gpd.GeoDataFrame) -> None:
    cells, xw = geo.street_grid(blockgroups, counts=COUNTS, medians=MEDIANS)
    conserved_per_bg(cells, xw, blockgroups)
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
    conserved_per_bg(cells, xw, blockgroups)
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
    conserved_per_bg(cells2, xw2, blockgroups)


def test_street_grid_cell_filter_changes_nothing(
    blockgroups: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skipping cells far from every tile gives the very pieces of the unfiltered overlay."""
    tiles = some_tiles(blockgroups)
    fast = geo.street_grid_pieces(blockgroups, tiles=tiles)
    assert set(fast["weight_method"]) == {"ancillary", "area"}
    monkeypatch.setattr(h3grid, "_cells_near", lambda cells, *a: np.ones(len(cells), dtype=bool))
    pd.testing.assert_frame_equal(fast, geo.street_grid_pieces(blockgroups, tiles=tiles))


def test_street_grid_reuses_the_hexagons_of_its_pieces(
    blockgroups: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one pass over H3 per cell; the output hexagons equal those H3 gives
    tiles = some_tiles(blockgroups)
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
    tiles = some_tiles(blockgroups)
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
    conserved_per_bg(cells, xw, blockgroups)
    w = xw[xw["source_GEOID"] == "510010001001"]
    assert len(w) == 1 and w["weight"].iloc[0] == pytest.approx(1.0)
    road = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(-77.0, 38.002), (-76.97, 38.002)])], crs="EPSG:4326"
    )
    cells, xw = geo.street_grid(blockgroups, counts=COUNTS, tiles=road, weight_column=None)
    conserved_per_bg(cells, xw, blockgroups)
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
        {"devices": [1.0]}, geometry=[square(-77.0, 38.0, 0.01)], crs="EPSG:4326"
    )
    with pytest.raises(SchemaError, match="tests"):
        geo.street_grid(blockgroups, counts=COUNTS, tiles=tiles, weight_column="tests")


# ---------------------------------------------------------------------------------------------
# real data


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
    conserved_per_bg(cells, xw, bg)
    assert cells["county_GEOID"].isin(["51540", "51003"]).all()
    assert (cells["n_parents"] > 1).any()
    # aggregating the cells' counts by their dominant block group's county stays close to the truth
    by_county = cells.groupby("county_GEOID")["households"].sum()
    truth = bg.groupby(bg["GEOID"].str[:5])["households"].sum()
    assert np.allclose(by_county, truth.reindex(by_county.index), rtol=0.02)
    # cells -> tract by crosswalk equals block groups -> tract by the hierarchy
    tracts = geo.aggregate(table_of(bg), to="tract", counts=COUNTS)
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


# ---------------------------------------------------------------------------------------------
# geometry engine (overlay, H3 cells)


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


def test_hexagon_vertices_from_h3ronpy_agree_with_h3() -> None:
    """The vectorised vertices (h3ronpy) are H3's to 1e-12 degrees, in H3's order; pentagons
    and string ids take H3's own per-cell boundary."""
    import h3
    import h3.api.basic_int as h3i

    from equity.geographies.h3cells import _boundary_vertices, _h3ronpy_hexagons

    rng = np.random.default_rng(0)
    lat, lng = rng.uniform(-60, 70, 2_000), rng.uniform(-180, 180, 2_000)
    cells = np.array(
        [
            h3i.latlng_to_cell(a, b, r)
            for a, b, r in zip(lat, lng, rng.integers(0, 16, 2_000), strict=True)
        ],
        dtype=np.uint64,
    )
    n, flat = _boundary_vertices(cells)
    want = [h3i.cell_to_boundary(int(c)) for c in cells]
    assert list(n) == [len(w) for w in want]
    assert np.abs(flat - np.array([v for w in want for v in w])).max() < 1e-12
    fast = _h3ronpy_hexagons(cells)
    assert fast is not None and 0 < fast[0].sum() < len(cells)  # some are not plain hexagons
    pent = np.array([h3.str_to_int(p) for p in h3.get_pentagons(9)[:2]], dtype=np.uint64)
    mixed = np.r_[cells[:3], pent]
    n2, _ = _boundary_vertices(mixed)
    assert list(n2[3:]) == [len(h3i.cell_to_boundary(int(p))) for p in pent]
    n3, flat3 = _boundary_vertices(np.array([h3.int_to_str(int(c)) for c in cells[:50]]))
    n4, flat4 = _boundary_vertices(cells[:50])
    assert (n3 == n4).all() and (flat3 == flat4).all()  # string ids: the same vertices

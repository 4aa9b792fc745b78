"""Tests of equity.geographies.ookla: Ookla tiles onto polygons and onto the H3 grid.

Hand-made tiles check the area shares and means; the real Hawaii tiles in ../shared/data
check behaviour on real geometry and through the project's readers.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
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


# ---------------------------------------------------------------------------------------------
# quadkey tiles on their own grid (equity.geographies.tilegrid) against the geometry overlay


def _geometry_pieces(tiles, polygons, method="area"):
    """Today's overlay of the tiles' geometries (the grid path switched off)."""
    from equity.geographies import ookla as ookla_mod

    with pytest.MonkeyPatch.context() as m:
        m.setattr(ookla_mod, "tile_grid", lambda t: None)
        return geo.ookla_polygon_pieces(tiles, polygons, method=method)


def _exact_shares(tiles, polygons, pieces) -> np.ndarray:
    """GEOS intersections of each piece in coordinates relative to the tile's corner."""
    import shapely

    from equity.geographies._crs import _area_geoms

    box = _area_geoms(tiles)[pieces["tile"].to_numpy()]
    poly = _area_geoms(polygons)[pieces["polygon"].to_numpy()]
    corner = shapely.bounds(box)[:, :2]

    def shift(g):
        off = np.repeat(corner, shapely.get_num_coordinates(g), axis=0)
        return shapely.transform(g, lambda c: c - off)

    return shapely.area(shapely.intersection(shift(poly), shift(box))) / shapely.area(shift(box))


def _assert_grid_matches_geometry(tiles, polygons, *, today_atol=1e-9, squares=None):
    """Grid pieces against today's overlay; `squares`: the tiles as exact quadkey squares."""
    from equity.geographies.tilegrid import tile_grid

    assert tile_grid(tiles) is not None  # the grid path is the one tested
    for method in ("area", "centroid"):
        new = geo.ookla_polygon_pieces(tiles, polygons, method=method)
        old = _geometry_pieces(tiles, polygons, method)
        # the same tile x polygon pairs, in the same (canonical) order
        np.testing.assert_array_equal(new["tile"], old["tile"])
        np.testing.assert_array_equal(new["polygon"], old["polygon"])
        if method == "centroid":
            assert (new["share"] == 1.0).all()
            continue
        # shares: 1e-12 relative to exact overlaps (1e-14 absolute for slivers of ~1 m2);
        # today's overlay carries up to ~1e-10 of its own rounding (absolute coordinates)
        exact = _exact_shares(tiles if squares is None else squares, polygons, new)
        np.testing.assert_allclose(new["share"], exact, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(new["share"], old["share"], rtol=0, atol=today_atol)
        ids = polygons.columns[0]
        a = geo.combine_ookla_polygons(tiles, polygons, new, id_column=ids)
        b = geo.combine_ookla_polygons(tiles, polygons, old, id_column=ids)
        pd.testing.assert_frame_equal(a, b, rtol=1e-9)
        np.testing.assert_array_equal(a["n_tiles"], b["n_tiles"])


@pytest.fixture(scope="module")
def va_tiles():
    from equity.synthetic import synthetic_tiles

    return synthetic_tiles(3000, bounds=(-77.9, 38.3, -77.3, 38.7), seed=11, n_cities=4)


@pytest.mark.shared_data
def test_grid_overlay_equals_geometry_overlay_on_real_blockgroups(shared_data, va_tiles) -> None:
    bg = gpd.read_file(shared_data / "boundaries/va/cb_2020_51_bg_500k.shp").to_crs(4326)
    bg = bg.loc[bg.intersects(va_tiles.union_all().envelope), ["GEOID", "geometry"]]
    bg = bg.reset_index(drop=True)
    _assert_grid_matches_geometry(va_tiles, bg)
    # block groups tile Virginia: a tile wholly inside the state is shared out whole
    pieces = geo.ookla_polygon_pieces(va_tiles, bg)
    per_tile = pieces.groupby("tile")["share"].sum()
    inside = va_tiles.index[va_tiles.within(bg.union_all())]
    np.testing.assert_allclose(per_tile.reindex(inside), 1.0, rtol=0, atol=1e-12)


@pytest.mark.shared_data
def test_grid_overlay_on_real_hawaii_tiles(shared_data, hawaii) -> None:
    """Ookla's own file: geometry rounded to 12 decimals, quadkeys exact."""
    from equity.tiles import quadkey_to_bounds

    tiles, counties = hawaii
    squares = tiles.set_geometry(
        shapely.box(*quadkey_to_bounds(tiles["quadkey"].astype(str).to_numpy()).T), crs=4326
    )
    # the file's corners differ from the quadkey squares by up to 5e-13 degrees: shares follow
    # the exact squares, within 1e-9 of the file's rounded ones
    _assert_grid_matches_geometry(tiles, counties, today_atol=1e-9, squares=squares)


def test_grid_overlay_equals_geometry_overlay_on_synthetic_nation() -> None:
    from equity.synthetic import national_tables, synthetic_tiles

    counties = national_tables(n_counties=120, seed=5)["county"][["GEOID", "geometry"]]
    _assert_grid_matches_geometry(synthetic_tiles(20_000, seed=5), counties)


def _quadkey_tiles(lon0: float, lat0: float, nx: int, ny: int) -> gpd.GeoDataFrame:
    """An nx x ny block of zoom-16 tiles from (lon0, lat0) (north-west corner), with values."""
    from equity.tiles import quadkeys_from_xy, tile_lat, tile_lon, tile_xy

    tx0, ty0 = tile_xy(lon0, lat0)
    tx, ty = np.meshgrid(np.arange(tx0, tx0 + nx), np.arange(ty0, ty0 + ny))
    tx, ty = tx.ravel(), ty.ravel()
    geoms = shapely.box(tile_lon(tx), tile_lat(ty + 1), tile_lon(tx + 1), tile_lat(ty))
    n = len(tx)
    rng = np.random.default_rng(n)
    return gpd.GeoDataFrame(
        {
            "quadkey": quadkeys_from_xy(tx, ty),
            "download_mbps": rng.uniform(5, 300, n),
            "upload_mbps": rng.uniform(1, 50, n),
            "latency_ms": rng.uniform(5, 60, n),
            "tests": rng.integers(1, 40, n).astype(float),
            "devices": rng.integers(1, 10, n).astype(float),
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def test_grid_overlay_degenerate_polygons() -> None:
    """Holes, several parts, overlaps, edges on grid lines, a tile itself, tiny polygons."""
    from equity.tiles import tile_lat, tile_lon, tile_xy

    tiles = _quadkey_tiles(-77.05, 38.05, 12, 10)
    tx0, ty0 = tile_xy(-77.05, 38.05)
    lon = tile_lon(np.arange(tx0, tx0 + 13))
    lat = tile_lat(np.arange(ty0, ty0 + 11))
    mid = shapely.box(lon[2], lat[8], lon[9], lat[1])  # edges on grid lines
    holed = shapely.box(-77.049, 38.01, -77.01, 38.045).difference(
        shapely.box(-77.04, 38.02, -77.02, 38.035)
    )
    parts = shapely.MultiPolygon(
        [shapely.box(-77.048, 38.041, -77.043, 38.049), shapely.box(-77.03, 38.03, -77.026, 38.032)]
    )
    polygons = gpd.GeoDataFrame(
        {
            "GEOID": ["mid", "holed", "parts", "tile", "tiny", "diamond", "outside"],
            "geometry": [
                mid,
                holed,  # overlaps "mid"
                parts,
                shapely.box(lon[4], lat[5], lon[5], lat[4]),  # exactly one tile
                shapely.box(-77.0301, 38.0301, -77.0299, 38.0302),  # inside one tile
                shapely.Polygon([(lon[6], lat[3]), (lon[7], lat[4]), (lon[6], lat[5]), (lon[5], lat[4])]),
                shapely.box(-70.0, 40.0, -69.9, 40.1),
            ],
        },
        crs="EPSG:4326",
    )  # fmt: skip
    _assert_grid_matches_geometry(tiles, polygons)
    pieces = geo.ookla_polygon_pieces(tiles, polygons)
    named = pieces.assign(name=polygons["GEOID"].to_numpy()[pieces["polygon"]])
    assert (named.loc[named["name"] == "tile", "share"] == 1.0).all()
    assert len(named[named["name"] == "tile"]) == 1
    assert len(named[named["name"] == "mid"]) == 7 * 7  # whole tiles, nothing from neighbours
    assert (named.loc[named["name"] == "mid", "share"] == 1.0).all()
    assert "outside" not in set(named["name"])


def test_grid_centroids_on_borders_follow_the_first_polygon() -> None:
    """Tile centres exactly on a shared border go to the polygon listed first, as sjoin's."""
    from equity.geographies._crs import _area_geoms

    tiles = _quadkey_tiles(-77.05, 38.05, 8, 6)
    centres = shapely.centroid(_area_geoms(tiles))
    x_mid = shapely.get_x(centres[2])  # the centre line of the third column (area CRS)
    west = shapely.box(-1e7, 4e6, x_mid, 5e6)
    east = shapely.box(x_mid, 4e6, -5e6, 5e6)
    polygons = gpd.GeoDataFrame({"GEOID": ["east", "west"]}, geometry=[east, west], crs=6933)
    new = geo.ookla_polygon_pieces(tiles, polygons, method="centroid")
    old = _geometry_pieces(tiles, polygons, "centroid")
    pd.testing.assert_frame_equal(new, old)
    on_border = np.isclose(shapely.get_x(centres), x_mid, rtol=0, atol=1e-6)
    assert on_border.sum() == 6
    assert (new.set_index("tile").loc[np.flatnonzero(on_border), "polygon"] == 0).all()


def test_grid_pieces_of_disjoint_tile_sets_are_the_full_run_rows(va_tiles) -> None:
    """Partitioned runs (the Dask engine) give bit-identical pieces."""
    from equity.synthetic import national_tables

    counties = national_tables(n_counties=300, seed=2)["county"][["GEOID", "geometry"]]
    tiles = va_tiles.reset_index(drop=True)
    full = geo.ookla_polygon_pieces(tiles, counties)
    half = np.arange(len(tiles)) % 3 == 0
    parts = []
    for sel in (half, ~half):
        sub = geo.ookla_polygon_pieces(tiles[sel], counties)
        sub["tile"] = np.flatnonzero(sel)[sub["tile"].to_numpy()]
        parts.append(sub)
    both = pd.concat(parts).sort_values(["tile", "polygon"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(both, full, check_exact=True)


def test_tile_grid_only_for_quadkey_squares(va_tiles) -> None:
    from equity.geographies.tilegrid import tile_grid
    from equity.tiles import quadkey_to_xy

    grid = tile_grid(va_tiles)
    x, y, _ = quadkey_to_xy(va_tiles["quadkey"].to_numpy())
    np.testing.assert_array_equal(grid.col, x)
    np.testing.assert_array_equal(grid.row, y)
    no_key = tile_grid(va_tiles.drop(columns="quadkey"))  # cells from the centres
    np.testing.assert_array_equal(no_key.col, x)
    assert tile_grid(make_tiles()) is None  # hand-made boxes
    clipped = va_tiles.copy()
    clipped.loc[clipped.index[0], "geometry"] = clipped.geometry.iloc[0].buffer(-1e-5)
    assert tile_grid(clipped) is None
    assert tile_grid(va_tiles.to_crs(3857)) is None
    wrong = va_tiles.copy()
    wrong["quadkey"] = wrong["quadkey"].to_numpy()[::-1]
    assert tile_grid(wrong) is None
    # two tiles in one cell (two quarters stacked): the geometry overlay takes over
    stacked = pd.concat([va_tiles.iloc[:50], va_tiles.iloc[:50]], ignore_index=True)
    polys = gpd.GeoDataFrame({"GEOID": ["a"]}, geometry=[stacked.union_all().envelope], crs=4326)
    out = geo.ookla_to_polygons(stacked, polys)
    assert out["ookla_tests"].iloc[0] == pytest.approx(stacked["tests"].sum())

"""Towns on the real Census files of ../shared/data (issue 15, item 5).

The kit has places for California and New York (cb_2017_06/36_place_500k), county
subdivisions for Florida (cb_2024_12_cousub_500k) and block groups only for Virginia. For
California, New York and Florida the block groups are therefore **generated**, from the real
polygons: 10-15 km squares cut by the counties and by the real places (or county
subdivisions), so that each generated block group lies in exactly one place (or outside every
place) and one county, and we know which; households are drawn per block group (denser inside
places). The counties are the 1:20,000,000 county file; where that coarse county line cuts a
1:500,000 place by less than 5% of its area (a generalisation artefact, not a real split), the
place is kept whole in its main county. Florida's counties are the union of its county
subdivisions, which nest in them.

Virginia uses its real 2020 block groups with the real ACS 2021 households (B28002_001).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from equity import geographies as geo
from equity.geographies.overlay import _overlay
from equity.indicators import counts_from_acs
from equity.sources import read_acs, read_boundaries

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

COUNTIES = "boundaries/us/cb_2018_us_county_20m.shp"


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """The polygonal parts of each geometry as one multipolygon (None where it has none)."""
    parts, of = shapely.get_parts(geoms, return_index=True)
    ok = shapely.get_type_id(parts) == 3
    parts, of = parts[ok], of[ok]
    out = np.full(len(geoms), None, dtype=object)
    keep = np.unique(of)
    out[keep] = shapely.multipolygons(parts, indices=np.searchsorted(keep, of))
    return out


def _cut(regions: gpd.GeoDataFrame, cell_m: float, seed: int) -> gpd.GeoDataFrame:
    """`regions` (``place``, ``county``; EPSG:6933) cut by squares into block groups with
    12-digit GEOIDs and households (300 per km2 in places, 8 outside, log-normal noise)."""
    rg = np.asarray(regions.geometry.array, dtype=object)
    x0, y0, x1, y1 = shapely.total_bounds(rg)
    xs, ys = np.meshgrid(np.arange(x0, x1, cell_m), np.arange(y0, y1, cell_m))
    cells = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + cell_m, ys.ravel() + cell_m)
    i_r, _, _, pieces = _overlay(rg, cells, geometry=True)
    bg = gpd.GeoDataFrame(
        {"place": regions["place"].to_numpy()[i_r], "county": regions["county"].to_numpy()[i_r]},
        geometry=_polygonal(pieces),
        crs=6933,
    )
    bg = bg[bg.geometry.notna() & (bg.area > 1.0)].sort_values("county", kind="stable")
    bg = bg.reset_index(drop=True)
    bg["GEOID"] = bg["county"] + bg.groupby("county").cumcount().map("{:06d}".format) + "1"
    rng = np.random.default_rng(seed)
    density = np.where(bg["place"].notna(), 300.0, 8.0)
    bg["households"] = bg.area / 1e6 * density * rng.lognormal(0.0, 0.6, len(bg))
    bg["moe_households"] = 0.1 * bg["households"]
    return bg.to_crs(4326)


def blockgroups_over_places(
    places: gpd.GeoDataFrame, counties: gpd.GeoDataFrame, *, cell_m: float, seed: int = 1
) -> gpd.GeoDataFrame:
    """Generated block groups over a state's real places (module docstring)."""
    pg = np.asarray(places.to_crs(6933).geometry.array, dtype=object)
    cg = np.asarray(counties.to_crs(6933).geometry.array, dtype=object)
    cid, pid = counties["GEOID"].to_numpy(), places["GEOID"].to_numpy()
    i_p, i_c, area, pieces = _overlay(pg, cg, geometry=True)
    frame = pd.DataFrame({"p": i_p, "c": i_c, "area": area})
    main = frame.sort_values(["p", "area"], ascending=[True, False]).drop_duplicates("p")
    main = main.set_index("p")["c"]
    minor = 1 - frame.groupby("p")["area"].max() / frame.groupby("p")["area"].sum()
    whole = (minor < 0.05).reindex(i_p).to_numpy()
    county = np.where(whole, main.reindex(i_p).to_numpy(), i_c)
    inside = gpd.GeoDataFrame(
        {"place": pid[i_p], "county": cid[county]}, geometry=_polygonal(pieces), crs=6933
    )
    j_c, j_p = shapely.STRtree(pg).query(cg, predicate="intersects")
    rest = cg.copy()
    for c, rows in pd.Series(j_p).groupby(j_c).indices.items():
        rest[c] = shapely.difference(cg[c], shapely.union_all(pg[j_p[rows]]))
    outside = gpd.GeoDataFrame({"place": None, "county": cid}, geometry=_polygonal(rest), crs=6933)
    regions = pd.concat([inside, outside], ignore_index=True)
    regions = gpd.GeoDataFrame(regions[regions.geometry.notna()], crs=6933)
    return _cut(regions, cell_m, seed)


def check_towns(towns: gpd.GeoDataFrame, bg: gpd.GeoDataFrame) -> float:
    """Households conserved per county to 1e-9; every block group's weights sum to one;
    returns the household-weighted share of block-group households landing in the town the
    block group lies in."""
    got = towns.groupby("county_GEOID")["households"].sum()
    want = bg.groupby(bg["GEOID"].str[:5])["households"].sum()
    np.testing.assert_allclose(got.reindex(want.index), want, rtol=1e-9)
    xw = towns.attrs["crosswalk"]
    np.testing.assert_allclose(xw.groupby("source_GEOID")["weight"].sum(), 1.0, rtol=1e-12)
    assert set(xw["source_GEOID"]) == set(bg["GEOID"])
    truth = bg.set_index("GEOID")["truth"]
    hh = xw["weight"] * xw["source_GEOID"].map(bg.set_index("GEOID")["households"])
    right = xw["target_GEOID"].to_numpy() == xw["source_GEOID"].map(truth).to_numpy()
    return float(hh[right].sum() / hh.sum())


@pytest.fixture(scope="module")
def county_file(shared_data: Path) -> gpd.GeoDataFrame:
    return read_boundaries(shared_data / COUNTIES)


@pytest.mark.parametrize(
    ("state", "folder", "cell_m"),
    [("06", "cb_2017_06_place_500k", 15_000.0), ("36", "cb_2017_36_place_500k", 10_000.0)],
)
def test_places_and_balances_on_california_and_new_york(
    shared_data: Path, county_file: gpd.GeoDataFrame, state: str, folder: str, cell_m: float
) -> None:
    places = read_boundaries(shared_data / "boundaries/places" / folder)
    counties = county_file[county_file["GEOID"].str[:2] == state]
    bg = blockgroups_over_places(places, counties, cell_m=cell_m)
    towns = geo.census_towns(
        bg[["GEOID", "households", "moe_households", "geometry"]],
        places=places,
        county_names=geo.county_names(county_file),
    )
    t = towns.set_index("GEOID")
    parts = set(t.loc[t["town_type"] == "place part", "census_GEOID"])
    bg["truth"] = np.where(
        bg["place"].isna(),
        bg["county"] + "_balance",
        np.where(bg["place"].isin(parts), bg["place"] + "_" + bg["county"], bg["place"]),
    )
    share = check_towns(towns, bg)
    assert share > 0.9999, share  # slivers of generalised boundaries are all that moves
    # each place receives the households of the block groups inside it
    want = bg.groupby("truth")["households"].sum()
    got = t["households"].reindex(want.index).fillna(0.0)
    assert ((got - want).abs() <= 1e-3 * want + 1.0).mean() > 0.995
    # one balance per county, named after it, and the Census descriptions on the places
    balances = t[t["town_type"] == "balance of county"]
    assert len(balances) == len(counties)
    assert balances["NAME"].str.fullmatch(r"Balance of .+ County").all()
    if state == "06":
        assert t.loc["0644000", "NAME"] == "Los Angeles city"
        assert t.loc["06037_balance", "NAME"] == "Balance of Los Angeles County"
        assert set(t["LSAD"].dropna()) == {"25", "43", "57"}
    else:
        assert t.loc["3600342", "NAME"] == "Afton village"
        # New York city: one part per borough (and bits the coarse county lines give to
        # Westchester and Nassau)
        nyc = t[t["census_GEOID"] == "3651000"]
        assert {"36005", "36047", "36061", "36081", "36085"} <= set(nyc["county_GEOID"])
        assert nyc["NAME"].str.fullmatch(r"New York city \(.+ County part\)").all()
    assert towns["NAME"].groupby(towns["county_GEOID"]).apply(lambda s: s.is_unique).all()


def test_county_subdivisions_of_florida(shared_data: Path) -> None:
    cousubs = read_boundaries(shared_data / "boundaries/cousub/cb_2024_12_cousub_500k")
    cg = cousubs.to_crs(6933)
    regions = gpd.GeoDataFrame(
        {"place": cg["GEOID"].to_numpy(), "county": cg["GEOID"].str[:5].to_numpy()},
        geometry=cg.geometry.to_numpy(),
        crs=6933,
    )
    bg = _cut(regions, 10_000.0, seed=2)
    bg["truth"] = bg["place"]
    towns = geo.census_towns(
        bg[["GEOID", "households", "moe_households", "geometry"]],
        cousubs=cousubs,
        county_names=geo.county_names(cousubs),
    )
    assert check_towns(towns, bg) > 0.99999
    t = towns.set_index("GEOID")
    assert set(t["town_type"]) <= {"county subdivision", "balance of county"}
    # county subdivisions cover Florida: whatever balance is left is a sliver of households
    assert (
        t.loc[t["town_type"] != "county subdivision", "households"].sum()
        < 1e-4 * t["households"].sum()
    )
    assert t.loc["1203790039", "NAME"] == "Apalachicola CCD"
    assert t.loc["1203790039", "county_GEOID"] == "12037"
    want = bg.groupby("truth")["households"].sum()
    np.testing.assert_allclose(t["households"].reindex(want.index), want, rtol=1e-6)


@pytest.fixture(scope="module")
def virginia(shared_data: Path) -> gpd.GeoDataFrame:
    bg = read_boundaries(shared_data / "boundaries/va/cb_2020_51_bg_500k.shp")
    acs = read_acs(shared_data / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv")
    return bg[["GEOID", "geometry"]].merge(counts_from_acs(acs), on="GEOID")


def test_virginia_cities_as_polygons_with_the_rest_of_each_county(
    virginia: gpd.GeoDataFrame, county_file: gpd.GeoDataFrame
) -> None:
    """Virginia's 38 independent cities as a user's town polygons: exact outlines (the union
    of their block groups) and the generalised 1:20,000,000 county-file outlines."""
    names = geo.county_names(county_file)
    va = county_file[county_file["GEOID"].str[:2] == "51"]
    city_ids = va.loc[va["LSAD"] == "25", "GEOID"]
    bg = virginia.assign(county=virginia["GEOID"].str[:5])
    in_city = bg["county"].isin(set(city_ids))
    truth = bg.groupby("county")["households"].sum()
    total = float(bg["households"].sum())
    exact = bg[in_city].dissolve("county").reset_index()[["county", "geometry"]]
    exact = exact.rename(columns={"county": "GEOID"}).assign(NAME=lambda d: d["GEOID"].map(names))
    with pytest.warns(UserWarning, match="live outside the 38 given town polygons") as rec:
        towns = geo.complete_towns(virginia, exact, county_names=names)
    t = towns.set_index("GEOID")
    outside = float(truth.drop(city_ids).sum())
    assert f"{outside:,.0f} of {total:,.0f} households" in str(rec[0].message)
    # every city gets exactly its own households; every county is a "Rest of" area
    np.testing.assert_allclose(t["households"].reindex(city_ids), truth[city_ids], rtol=1e-9)
    rest = t[t["town_type"] == "rest of county"]
    assert len(rest) == 133 - 38 and rest["NAME"].str.fullmatch(r"Rest of .+ County").all()
    np.testing.assert_allclose(
        rest.set_index("county_GEOID")["households"], truth.drop(city_ids), rtol=1e-9
    )
    assert t.loc["51600", "NAME"] == "Fairfax city"
    # the generalised outlines: households stay (mostly) where they live, and no longer does
    # every household of the state land in some polygon
    coarse = va[va["LSAD"] == "25"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        towns = geo.complete_towns(virginia, coarse, county_names=names)
    xw = towns.attrs["crosswalk"]
    hh = xw["weight"] * xw["source_GEOID"].map(bg.set_index("GEOID")["households"])
    city_bg = xw["source_GEOID"].str[:5].isin(set(city_ids))
    right = xw["target_GEOID"] == xw["source_GEOID"].str[:5]
    assert hh[city_bg & right].sum() / hh[city_bg].sum() > 0.9
    given = towns.loc[towns["town_type"] == "given", "households"].sum()
    assert abs(given - truth[city_ids].sum()) < 0.05 * truth[city_ids].sum()
    assert towns["households"].sum() == pytest.approx(total, rel=1e-12)

"""Names people recognise: LSAD descriptions, county and state names on every row of every
level table, the candidate list and the maps (equity.geographies.names and their users)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _browser import launch, open_page, require_chromium
from shapely.geometry import box

from equity import geographies as geo
from equity import maps
from equity.export import COLUMNS, read_candidates, write_candidates
from equity.geographies.names import LSAD, NAME_COLUMNS
from equity.placement import rank_candidates
from equity.sources import read_boundaries

# Virginia's county names the Census shares between a county and an independent city,
# and Maryland's Baltimore (issue 15)
TWINS = {
    "51059": "Fairfax County",
    "51600": "Fairfax city",
    "51067": "Franklin County",
    "51620": "Franklin city",
    "51159": "Richmond County",
    "51760": "Richmond city",
    "51161": "Roanoke County",
    "51770": "Roanoke city",
    "24005": "Baltimore County",
    "24510": "Baltimore city",
}


# -- the LSAD table and describe --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code", "expected"),
    [
        ("Fairfax", "06", "Fairfax County"),
        ("Fairfax", "25", "Fairfax city"),
        ("Bristol", "43", "Bristol town"),
        ("Afton", "47", "Afton village"),
        ("Acton", "57", "Acton CDP"),
        ("Juneau", "03", "Juneau City and Borough"),
        ("Orleans", "15", "Orleans Parish"),
        ("Bethel", "05", "Bethel Census Area"),
        ("Ponce", "13", "Ponce Municipio"),
        ("Clinton", "49", "Clinton charter township"),
        ("Umatilla", "22", "Umatilla CCD"),
        ("1", "28", "District 1"),  # a prefix description
        ("District of Columbia", "00", "District of Columbia"),  # no description
        ("Milford city (balance)", "BL", "Milford city (balance)"),  # already described
        ("Fairfax", 6, "Fairfax County"),  # codes read as numbers are zero-padded
        ("Nowhere", "Q9", "Nowhere"),  # unknown code: the name as it is
        ("Nowhere", None, "Nowhere"),
    ],
)
def test_describe(name, code, expected) -> None:
    assert geo.describe(pd.Series([name]), pd.Series([code], dtype=object)).iloc[0] == expected


def test_lsad_table_is_well_formed() -> None:
    assert all(re.fullmatch(r"[0-9A-Z]{2}", code) for code in LSAD)
    assert all(where in ("suffix", "prefix", "") for _, where in LSAD.values())
    # the codes the issue names
    assert LSAD["04"][0] == "Borough" and LSAD["07"][0] == "District"
    assert LSAD["10"][0] == "Island" and LSAD["12"][0] == "Municipality"
    assert LSAD["21"][0] == "borough" and LSAD["44"][0] == "township"


# -- county and state names ----------------------------------------------------------------------


def test_county_names_prefer_county_tables_then_named_columns() -> None:
    counties = pd.DataFrame(
        {"GEOID": ["51059", "51600"], "NAME": ["Fairfax", "Fairfax"], "LSAD": ["06", "25"]}
    ).assign(level="county")
    tracts = pd.DataFrame(
        {
            "GEOID": ["51059420100", "51013100100"],
            "NAME": ["Census Tract 4201", "Census Tract 1001"],
            "county_name": ["Fairfax County (tract file)", "Arlington County"],
            "level": "tract",
        }
    )
    names = geo.county_names(None, counties, tracts)
    assert names.to_dict() == {
        "51059": "Fairfax County",
        "51600": "Fairfax city",
        "51013": "Arlington County",
    }
    states = geo.state_names(
        pd.DataFrame({"GEOID": ["90"], "NAME": ["Northvale"], "level": "state"})
    )
    assert (
        states["90"] == "Northvale"
        and states["51"] == "Virginia"
        and states["11"] == ("District of Columbia")
    )


@pytest.mark.shared_data
def test_real_county_file_names_every_county_apart(shared_data: Path) -> None:
    counties = read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    assert counties["LSAD"].str.fullmatch(r"\d\d").all()
    names = geo.county_names(counties)
    for geoid, name in TWINS.items():
        assert names[geoid] == name
    # no two counties of a state share a name
    frame = pd.DataFrame({"state": names.index.str[:2], "name": names.to_numpy()})
    assert not frame.duplicated().any()
    va = names[names.index.str.startswith("51")]
    assert len(va) == 133 and va.str.endswith((" County", " city")).all()
    assert names["11001"] == "District of Columbia" and names["22071"] == "Orleans Parish"


@pytest.mark.shared_data
def test_reader_keeps_lsad_and_names_of_2024_files(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "boundaries/cousub/cb_2024_12_cousub_500k"
    cs = read_boundaries(folder)
    assert cs.attrs["geography"] == "cousub"
    row = cs.set_index("GEOID").loc["1203790039"]
    assert (row["NAME"], row["LSAD"], row["NAMELSAD"]) == ("Apalachicola", "22", "Apalachicola CCD")
    assert (row["county_name"], row["state_name"]) == ("Franklin County", "Florida")
    assert geo.county_names(cs)["12069"] == "Lake County"
    # a 2024 file keyed only by GEOIDFQ ("0600000US1203790039") reads to the same GEOIDs
    raw = gpd.read_file(folder / "cb_2024_12_cousub_500k.shp").drop(columns=["GEOID"])
    raw.to_file(tmp_path / "cb_2024_12_cousub_500k.gpkg")
    again = read_boundaries(tmp_path / "cb_2024_12_cousub_500k.gpkg")
    assert again["GEOID"].tolist() == cs["GEOID"].tolist()
    places = read_boundaries(shared_data / "boundaries/places/cb_2017_36_place_500k")
    assert "NAMELSAD" not in places.columns  # 2017 files: NAME and LSAD only
    assert set(places["LSAD"]) == {"25", "47", "57"}


# -- every row of every level ------------------------------------------------------------------


def levels() -> dict[str, gpd.GeoDataFrame]:
    """Two block groups (one tract, one county), a street cell, a town, the county, the state."""
    sq = [box(-77.3, 38.8, -77.2, 38.9), box(-77.2, 38.8, -77.1, 38.9)]
    bg = gpd.GeoDataFrame(
        {
            "GEOID": ["510594001001", "510594001002"],
            "NAME": ["Block Group 1", "Block Group 2"],
            "county_GEOID": "51059",
            "state_GEOID": "51",
            "households": [100.0, 300.0],
        },
        geometry=sq,
        crs=4326,
    )
    tract = bg.iloc[[0]].assign(GEOID="51059400100", NAME="Census Tract 4001")
    street = bg.iloc[[0]].assign(GEOID="892aa8c2a3bffff", blockgroup_GEOID="510594001001")
    town = bg.iloc[[1]].assign(GEOID="5126496", NAME="Fairfax city")
    county = bg.iloc[[0]].assign(GEOID="51059", NAME="Fairfax")
    state = bg.iloc[[0]].drop(columns="county_GEOID").assign(GEOID="51", NAME="Virginia")
    return {
        "street": street,
        "blockgroup": bg,
        "tract": tract,
        "town": town,
        "county": county,
        "state": state,
    }


def test_name_levels_gives_every_row_its_place_county_and_state() -> None:
    tables = levels()
    counties = gpd.GeoDataFrame(
        {"GEOID": ["51059"], "NAME": ["Fairfax"], "LSAD": ["06"], "level": "county"},
        geometry=[box(-78, 38, -77, 39)],
        crs=4326,
    )
    # block group 1 goes 30% to the town and 70% to the balance; block group 2 wholly to it
    xw = pd.DataFrame(
        {
            "source_GEOID": ["510594001001", "510594001001", "510594001002"],
            "target_GEOID": ["5126496", "51059_balance", "5126496"],
            "weight": [0.3, 0.7, 1.0],
        }
    )
    tables["town"] = pd.concat(
        [
            tables["town"],
            tables["town"].assign(GEOID="51059_balance", NAME="Balance of Fairfax County"),
        ]
    )
    out = geo.name_levels(tables, {"county": counties}, town_crosswalk=xw)
    for level, table in out.items():
        assert set(NAME_COLUMNS) <= set(table.columns), level
        assert table["state_name"].eq("Virginia").all()
        if level != "state":
            assert table["county_name"].eq("Fairfax County").all(), level
        assert table["place_name"].notna().all(), level
    assert out["blockgroup"]["place_name"].tolist() == ["Balance of Fairfax County", "Fairfax city"]
    assert out["street"]["place_name"].tolist() == ["Balance of Fairfax County"]
    # with the cell -> town map, a cell is named after the town holding its centre
    cells = geo.name_levels(
        tables, {}, town_crosswalk=xw, cell_town=pd.Series({"892aa8c2a3bffff": "5126496"})
    )
    assert cells["street"]["place_name"].tolist() == ["Fairfax city"]
    # the tract (both block groups): 70 households in the balance, 30 + 300 in the town
    assert out["tract"]["place_name"].tolist() == ["Fairfax city"]
    assert out["county"]["NAME"].tolist() == ["Fairfax County"]
    assert out["state"]["county_name"].isna().all()
    assert out["state"]["place_name"].tolist() == ["Virginia"]
    assert tables["county"]["NAME"].tolist() == ["Fairfax"]  # inputs unchanged


def test_missing_names_fall_back_to_codes_not_gaps() -> None:
    out = geo.add_names(levels(), counties=pd.Series(dtype="string"), states=geo.state_names())
    assert out["blockgroup"]["county_name"].eq("County 51059").all()
    assert out["blockgroup"]["place_name"].isna().all()  # no town level: no place to name


# -- candidates and maps --------------------------------------------------------------------------


def named_places() -> gpd.GeoDataFrame:
    rows = []
    for i, (geoid, county) in enumerate(TWINS.items()):
        rows.append(
            {
                "GEOID": geoid,
                "NAME": county,
                "place_name": county,
                "county_name": county,
                "state_GEOID": geoid[:2],
                "state_name": {"51": "Virginia", "24": "Maryland"}[geoid[:2]],
                "county_GEOID": geoid,
                "households": 1000.0 + i,
                "population": 2500.0 + i,
                "equity_index": 10.0 * i,
                "equity_index_lo": 10.0 * i - 5,
                "equity_index_hi": 10.0 * i + 5,
                "geometry": box(-80 + i * 0.2, 37, -80 + i * 0.2 + 0.15, 37.15),
            }
        )
    return gpd.GeoDataFrame(rows, crs=4326)


def test_candidates_carry_the_names_in_every_format(tmp_path: Path) -> None:
    cands = rank_candidates(named_places(), k=1)
    assert cands.set_index("GEOID")["county_name"].to_dict() == TWINS
    assert {"place_name", "county_name"} <= set(COLUMNS)
    for path in write_candidates(cands, tmp_path, formats=("csv", "xlsx", "geojson")):
        back = read_candidates(path).set_index("GEOID")
        assert back["county_name"].to_dict() == TWINS, path.suffix
        assert back.loc["24510", "place_name"] == "Baltimore city"
    # names are the columns right after NAME
    header = (tmp_path / "candidates.csv").read_text().splitlines()[0].split(",")
    assert header[2:5] == ["NAME", "place_name", "county_name"]


def _payload(html: str) -> dict:
    blob = re.search(r'<script type="application/json" id="[^"]+_json">(.*?)</script>', html, re.S)
    assert blob is not None
    return json.loads(blob.group(1))


def _texts(tip: dict) -> list[str | None]:
    if "t" in tip:
        return tip["t"]
    return [None if c < 0 else tip["k"][c] for c in tip["c"]]


@pytest.fixture(scope="module")
def named_maps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("named-maps")
    county = named_places().assign(level="county", rank=lambda d: d["equity_index"].rank())
    cands = rank_candidates(named_places(), k=1)
    maps.run_maps({"county": county}, cands, out, provenance=[], title="Names", png=False)
    return out


def test_map_tooltips_and_popups_carry_the_names(named_maps: Path) -> None:
    html = (named_maps / "county.html").read_text(encoding="utf-8")
    data = _payload(html)
    assert {data["labels"][k] for k in NAME_COLUMNS} == {"Place", "County", "State"}
    counties = _texts(data["tips"]["county_name"])
    assert "Fairfax city" in counties and "Fairfax County" in counties
    assert set(_texts(data["tips"]["state_name"])) == {"Virginia", "Maryland"}
    # the popups of the candidate markers list place, county and state
    assert '"County", "Baltimore city"' in html or '["County","Baltimore city"]' in html
    table = (named_maps / "candidates.html").read_text(encoding="utf-8")
    assert "Roanoke city" in table and "Roanoke County" in table


def test_repeated_text_travels_as_codes() -> None:
    from equity.maps.encoding import _text_field

    many = pd.Series(["Fairfax County"] * 6 + ["Fairfax city"] * 3 + [None])
    assert _text_field(many) == {
        "k": ["Fairfax County", "Fairfax city"],
        "c": [0] * 6 + [1] * 3 + [-1],
    }
    few = pd.Series(["a", "b", "c"])
    assert _text_field(few) == {"t": ["a", "b", "c"]}


@pytest.mark.browser
def test_tooltip_shows_the_names_in_a_browser(named_maps: Path) -> None:
    require_chromium()
    chosen = set(rank_candidates(named_places(), k=1).query("selected")["GEOID"])
    # (the selected sites' markers cover their centres)
    texts: list[str] = []
    with launch() as browser, open_page(named_maps / "county.html", browser=browser) as view:
        # the Virginian ones (the map's panels cover the right end of the strip)
        for i, (geoid, name) in enumerate(TWINS.items()):
            if geoid not in chosen and geoid.startswith("51"):
                text = view.hover_feature("Equity index", i)
                assert f"County\t{name}" in text and f"Place\t{name}" in text
                texts.append(text)
        assert all("State\tVirginia" in t for t in texts) and len(texts) == 7
        view.page.locator(".equity-marker", has_text="1").first.click()
        popup = view.page.locator(".leaflet-popup-content")
        popup.wait_for(state="visible")
        content = popup.inner_text()
        twins = "|".join(TWINS.values())
        assert re.search(rf"Place\n({twins})\nCounty\n({twins})\nState\n", content), content
        assert view.console_errors == [] and view.page_errors == []


# -- a real run -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_virginia_run_names_every_row(shared_data: Path, tmp_path: Path) -> None:
    from equity.config import Config
    from equity.pipeline import run

    data = {
        "blockgroups": str(shared_data / "boundaries/va/cb_2020_51_bg_500k.shp"),
        "tracts": str(shared_data / "boundaries/va/cb_2020_51_tract_500k.shp"),
        "counties": str(shared_data / "boundaries/us/cb_2018_us_county_20m.shp"),
        "acs": str(shared_data / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"),
    }
    cfg = Config(
        data=data,
        levels=("blockgroup", "tract", "town", "county"),
        n_draws=10,
        placement_level="county",
        k=2,
        cache=False,
    )
    run(cfg, out=tmp_path, write_maps=False, quiet=True)
    for level in ("blockgroup", "tract", "town", "county"):
        table = gpd.read_parquet(tmp_path / f"index_{level}.parquet")
        assert table[list(NAME_COLUMNS)].notna().all().all(), level
        assert table["state_name"].eq("Virginia").all()
    county = gpd.read_parquet(tmp_path / "index_county.parquet").set_index("GEOID")
    for geoid, name in TWINS.items():
        if geoid.startswith("51"):
            assert county.loc[geoid, "NAME"] == name == county.loc[geoid, "county_name"]
    towns = gpd.read_parquet(tmp_path / "index_town.parquet")
    # regions (no places in the kit for Virginia): named after the county, never by code
    assert not towns["NAME"].str.contains(r"\d{5}").any()
    assert towns["NAME"].is_unique
    scott = towns.loc[towns["county_GEOID"] == "51169", "NAME"]
    assert scott.str.fullmatch(r"Scott County( \([a-z -]+( \d+)?\))?").all()
    bg = gpd.read_parquet(tmp_path / "index_blockgroup.parquet").set_index("GEOID")
    assert bg.loc["516003001001", "county_name"] == "Fairfax city"
    assert bg.loc["516003001001", "place_name"].startswith("Fairfax city")
    cands = pd.read_csv(tmp_path / "candidates.csv", dtype=str).set_index("GEOID")
    assert len(cands) == 133
    assert cands.loc["51059", "county_name"] == "Fairfax County"
    assert cands.loc["51600", "county_name"] == "Fairfax city"
    assert np.all(cands["county_name"].notna())

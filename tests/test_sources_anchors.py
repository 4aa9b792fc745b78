"""Tests of equity.sources.anchors: real IMLS outlets, NCES, IPEDS and generic anchor files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from equity.errors import DataError, SchemaError
from equity.sources import read_anchors, read_boundaries, read_libraries

IMLS = "anchors/imls_pls_fy19_outlet_pud19i.csv"


@pytest.fixture(scope="module")
def libs(shared_data: Path) -> gpd.GeoDataFrame:
    return read_libraries(shared_data / IMLS)


def test_real_imls_outlets(libs: gpd.GeoDataFrame) -> None:
    assert len(libs) == 17496
    assert libs.attrs["n_missing_coordinates"] == 0
    assert libs["library_id"].is_unique
    assert libs.crs.to_epsg() == 4326 and (libs.geom_type == "Point").all()
    assert libs["outlet_type"].value_counts().to_dict() == {
        "CE": 9085,
        "BR": 7781,
        "BS": 629,
        "MO": 1,
    }
    assert (libs["county_GEOID"].str.len() == 5).all()
    assert libs.attrs["source"] == "imls_pls" and libs.attrs["vintage"] == "2019"


def test_real_imls_joins(shared_data: Path, libs: gpd.GeoDataFrame) -> None:
    counties = read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    ids = libs["county_GEOID"].drop_duplicates()
    assert len(ids) == 3097 and ids.isin(counties["GEOID"]).sum() == 3089
    va = libs.loc[libs["state_abbr"] == "VA"]
    assert len(va) == 383
    t2010 = read_boundaries(shared_data / "boundaries/va/gz_2010_51_140_00_500k.shp")
    t2020 = read_boundaries(shared_data / "boundaries/va/cb_2020_51_tract_500k.shp")
    tracts = va["census_tract_GEOID"].drop_duplicates()
    assert len(tracts) == 352
    assert tracts.isin(t2010["GEOID"]).sum() == 350
    assert tracts.isin(t2020["GEOID"]).sum() == 271
    inside = gpd.sjoin(va[["geometry"]], t2020[["GEOID", "geometry"]], predicate="within")
    assert inside.index.nunique() == 382


def test_imls_missing_coordinates_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "pls_fy21_outlet.csv"
    path.write_text(
        "STABR,FSCSKEY,FSCS_SEQ,LIBNAME,CITY,ZIP,C_OUT_TY,LONGITUD,LATITUDE,INCITSST,INCITSCO,CENTRACT\n"
        "VA,VA0001,002,A LIB,X,2134,CE,-78.5,38.0,51,3,2003.03\n"
        "VA,VA0001,003,B LIB,X,22903,BR,,,51,3,8\n"
        "VA,VA0002,002,C LIB,X,22903,BR,0,0,51,540,\n"
    )
    with caplog.at_level("WARNING", logger="equity.sources"):
        libs = read_libraries(path)
    assert len(libs) == 1 and libs.attrs["n_missing_coordinates"] == 2
    assert "2 row(s) without usable coordinates" in caplog.text
    assert libs["zip"].iloc[0] == "02134" and libs["county_GEOID"].iloc[0] == "51003"
    assert libs["census_tract_GEOID"].iloc[0] == "51003200303"
    assert libs["library_id"].iloc[0] == "VA0001-002"


def test_nces_ipeds_generic(tmp_path: Path) -> None:
    nces = tmp_path / "EDGE_GEOCODE_PUBLICSCH_2021.csv"
    nces.write_text(
        "NCESSCH,LEAID,NAME,STREET,CITY,STATE,ZIP,STFIP,CNTY,NMCNTY,LAT,LON\n"
        "510000100001,5100001,Alpha Elementary,1 Main St,Town,VA,22903,51,51003,Albemarle,38.0,-78.5\n"
        "010000500870,0100005,Beta High,2 Main St,City,AL,35950,01,1095,Marshall,34.3,-86.2\n"
    )
    df = read_anchors(nces)
    assert df["kind"].tolist() == ["school", "school"]
    assert df["anchor_id"].tolist() == ["510000100001", "010000500870"]
    assert df["county_GEOID"].tolist() == ["51003", "01095"]
    assert df.attrs["format"] == "nces" and df.attrs["vintage"] == "2021"
    ipeds = tmp_path / "hd2022.csv"
    ipeds.write_bytes(
        "UNITID,INSTNM,ADDR,CITY,STABBR,ZIP,COUNTYCD,LONGITUD,LATITUDE\n"
        "234076,University of Virginia,1827 University Ave,Charlottesville,VA,22904,51540,-78.5,38.03\n"
        "100654,Universit\u00e9 Alabama A & M,4900 Meridian St,Normal,AL,35762,-2,-86.56,34.78\n".encode(
            "cp1252"
        )
    )
    df = read_anchors(ipeds)
    assert df["kind"].tolist() == ["college", "college"]
    assert df["county_GEOID"].isna().tolist() == [False, True]  # -2 = not applicable
    assert df["name"].iloc[1].startswith("Universit\u00e9")
    generic = tmp_path / "anchors.csv"
    generic.write_text(
        "anchor_id,name,kind,address,city,state_abbr,county_fips,latitude,longitude\n"
        "a1,Hub,Nonprofit,1 St,Town,VA,51003,38.0,-78.5\n"
        "a2,Centre,community_centre,2 St,Town,VA,,38.1,-78.4\n"
    )
    df = read_anchors(generic)
    assert df["kind"].tolist() == ["nonprofit", "community_centre"]
    assert list(df.columns) == [
        "anchor_id",
        "name",
        "kind",
        "address",
        "city",
        "state_abbr",
        "county_GEOID",
        "geometry",
    ]
    assert df["county_GEOID"].isna().tolist() == [False, True]


def test_anchor_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,title,x,y\n1,a,2,3\n")
    with pytest.raises(SchemaError, match="known formats"):
        read_anchors(path)
    path.write_text(
        "anchor_id,name,kind,latitude,longitude\na1,A,school,38,-78\na1,B,school,38,-78\n"
    )
    with pytest.raises(SchemaError, match="'a1'"):
        read_anchors(path)
    path.write_text("anchor_id,name,kind,latitude,longitude\n")
    with pytest.raises(DataError, match="header only"):
        read_anchors(path)
    path.write_text("FSCSKEY,LIBNAME\nVA1,A\n")
    with pytest.raises(SchemaError, match="LONGITUD"):
        read_libraries(path)

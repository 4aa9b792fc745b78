"""Tests of equity.sources.acs: real ACS block groups, API JSON, data.census.gov CSV, sentinels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from equity.errors import DataError, SchemaError
from equity.sources import read_acs, read_boundaries

ACS_BG = "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"
VARS = [
    "B19013_001",
    "B28001_001",
    "B28001_002",
    "B28002_001",
    "B28002_004",
    "B28002_007",
    "B28002_013",
]


@pytest.fixture(scope="module")
def acs_bg(shared_data: Path) -> pd.DataFrame:
    return read_acs(shared_data / ACS_BG)


def test_real_blockgroups_shape_and_types(acs_bg: pd.DataFrame) -> None:
    assert len(acs_bg) == 5963
    assert acs_bg["GEOID"].is_unique
    assert (acs_bg["GEOID"].str.len() == 12).all()
    assert acs_bg["GEOID"].str.startswith("51").all()
    assert acs_bg.attrs["level"] == "blockgroup"
    assert acs_bg.attrs["source"] == "acs" and acs_bg.attrs["vintage"] == "2021"
    for key in ("source", "title", "publisher", "vintage", "licence", "attribution", "path"):
        assert key in acs_bg.attrs
    for v in VARS:
        assert acs_bg[f"{v}E"].dtype == "float64"
        assert acs_bg[f"{v}M"].dtype == "float64"
        assert acs_bg[f"{v}_flag"].dtype == "str"


def test_real_sentinels_become_nan_and_flags(acs_bg: pd.DataFrame) -> None:
    numbers = acs_bg[[f"{v}{k}" for v in VARS for k in "EM"]]
    assert (numbers.fillna(0) >= 0).all().all(), "no sentinel survives as a number"
    flag = acs_bg["B19013_001_flag"]
    assert (flag == "insufficient_sample").sum() == 314
    assert (flag == "median_top_coded").sum() == 93
    assert (flag == "median_bottom_coded").sum() == 2
    assert acs_bg.loc[flag == "insufficient_sample", "B19013_001E"].isna().all()
    # open-ended medians keep their boundary value, their MOE is missing
    assert (acs_bg.loc[flag == "median_top_coded", "B19013_001E"] == 250001).all()
    assert (acs_bg.loc[flag == "median_bottom_coded", "B19013_001E"] == 2499).all()
    assert acs_bg.loc[flag.str.startswith("median"), "B19013_001M"].isna().all()
    # counts are never flagged in this file
    assert (acs_bg["B28002_013_flag"] == "").all()
    assert (acs_bg["B28002_001E"] == 0).sum() == 69


def test_real_join_to_2020_blockgroups_and_tracts(shared_data: Path, acs_bg: pd.DataFrame) -> None:
    bg = read_boundaries(shared_data / "boundaries/va/cb_2020_51_bg_500k.shp")
    tracts = read_boundaries(shared_data / "boundaries/va/cb_2020_51_tract_500k.shp")
    matched = acs_bg["GEOID"].isin(bg["GEOID"])
    assert matched.sum() == 5951
    assert acs_bg.loc[~matched, "GEOID"].str.slice(5, 7).eq("99").all()  # water-only
    acs_tracts = set(acs_bg["GEOID"].str.slice(0, 11))
    assert len(acs_tracts) == 2198
    assert len(acs_tracts & set(tracts["GEOID"])) == 2186


def test_variables_option(shared_data: Path) -> None:
    df = read_acs(shared_data / ACS_BG, variables=["B28002_013", "B28002_001E"])
    assert list(df.columns) == [
        "GEOID",
        "B28002_013E",
        "B28002_013M",
        "B28002_013_flag",
        "B28002_001E",
        "B28002_001M",
        "B28002_001_flag",
    ]
    with pytest.raises(SchemaError, match="B99999_001"):
        read_acs(shared_data / ACS_BG, variables=["B99999_001"])


def test_equity_center_tidycensus_files_load(shared_data: Path) -> None:
    tracts2010 = read_boundaries(shared_data / "boundaries/va/gz_2010_51_140_00_500k.shp")
    for name, n in (
        ("uva_equitycenter_acs_tract_cville.csv", 50),
        ("uva_equitycenter_acs_eastern_tract.csv", 16),
    ):
        df = read_acs(shared_data / "acs" / name)
        assert len(df) == n
        assert df["GEOID"].dtype == "str" and (df["GEOID"].str.len() == 11).all()
        assert df.attrs["level"] == "tract"
        assert df["totalpopE"].dtype == "float64"
        assert df["GEOID"].isin(tracts2010["GEOID"]).all()


def test_api_json_with_all_sentinels(tmp_path: Path) -> None:
    rows = [
        [
            "NAME",
            "B28002_013E",
            "B28002_013M",
            "B19013_001E",
            "B19013_001M",
            "state",
            "county",
            "tract",
            "block group",
        ],
        ["BG 1", "82", "74", "60026", "8699", "51", "001", "090101", "1"],
        [
            "BG 2",
            "-666666666",
            "-222222222",
            "-666666666",
            "-222222222",
            "51",
            "001",
            "090101",
            "2",
        ],
        ["BG 3", "0", "-555555555", "250001", "-333333333", "51", "001", "090102", "1"],
        ["BG 4", "-888888888", "-888888888", "2499", "-333333333", "51", "001", "090102", "2"],
        ["BG 5", "-999999999", "-999999999", "45000", "-999999999", "51", "003", "010100", "1"],
    ]
    path = tmp_path / "acs_api.json"
    path.write_text(json.dumps(rows))
    df = read_acs(path)
    assert df["GEOID"].tolist() == [
        "510010901011",
        "510010901012",
        "510010901021",
        "510010901022",
        "510030101001",
    ]
    assert df.attrs["level"] == "blockgroup"
    assert df["NAME"].iloc[0] == "BG 1"
    assert df["B28002_013_flag"].tolist() == [
        "",
        "insufficient_sample",
        "controlled_moe_zero",
        "not_applicable",
        "insufficient_sample",
    ]
    assert df["B28002_013M"].iloc[2] == 0.0
    assert np.isnan(df["B28002_013E"].iloc[[1, 3, 4]]).all()
    assert df["B19013_001_flag"].tolist() == [
        "",
        "insufficient_sample",
        "median_top_coded",
        "median_bottom_coded",
        "moe_not_computable",
    ]
    assert df["B19013_001E"].iloc[2] == 250001.0


def test_api_json_county_level_and_integers(tmp_path: Path) -> None:
    rows = [["NAME", "B01003_001E", "B01003_001M", "state", "county"], ["A", 100, 5, "1", "1"]]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(rows))
    df = read_acs(path)
    assert df["GEOID"].tolist() == ["01001"]
    assert df.attrs["level"] == "county"
    assert df["B01003_001E"].iloc[0] == 100.0


def test_data_census_gov_export(tmp_path: Path) -> None:
    text = (
        '"GEO_ID","NAME","B19013_001E","B19013_001M","B28002_013E","B28002_013M",\n'
        '"Geography","Geographic Area Name","Estimate!!Median household income",'
        '"Margin of Error!!Median household income","Estimate!!Total:!!No Internet access",'
        '"Margin of Error!!Total:!!No Internet access",\n'
        '"1500000US510010901011","Block Group 1","60026","8699","82","74",\n'
        '"1500000US510010901012","Block Group 2","250,000+","***","-","**",\n'
        '"1500000US510010901021","Block Group 1","-","**","0","*****",\n'
    )
    path = tmp_path / "ACSDT5Y2021.B19013-Data.csv"
    path.write_text(text)
    df = read_acs(path)
    assert len(df) == 3
    assert df["GEOID"].tolist() == ["510010901011", "510010901012", "510010901021"]
    assert df.attrs["level"] == "blockgroup"
    assert df["B19013_001E"].iloc[1] == 250000.0
    assert df["B19013_001_flag"].tolist() == ["", "median_top_coded", "insufficient_sample"]
    assert df["B28002_013_flag"].tolist() == ["", "insufficient_sample", "controlled_moe_zero"]
    assert df["B28002_013M"].iloc[2] == 0.0
    assert df.attrs["vintage"] == "2021"


def test_float_and_integer_geoids_repaired(tmp_path: Path) -> None:
    path = tmp_path / "acs_tract.csv"
    path.write_text("GEOID,B01003_001E,B01003_001M\n1001020100.0,10,2\n51001090100,20,3\n")
    df = read_acs(path, level="tract")
    assert df["GEOID"].tolist() == ["01001020100", "51001090100"]


def test_no_geoid_or_variables_is_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("id,value\n1,2\n")
    with pytest.raises(SchemaError, match="no GEOID"):
        read_acs(path)
    path.write_text("GEOID,value\n51001,2\n")
    with pytest.raises(SchemaError, match="no ACS estimate columns"):
        read_acs(path)


def test_non_numeric_estimate_names_column_and_value(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("GEOID,B01003_001E,B01003_001M\n51001,12a,3\n")
    with pytest.raises(SchemaError, match=r"B01003_001E.*'12a'"):
        read_acs(path)


def test_duplicate_geoids(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("GEOID,B01003_001E,B01003_001M\n51001,1,3\n51001,1,3\n")
    with pytest.warns(UserWarning, match="1 exact duplicate"):
        df = read_acs(path)
    assert len(df) == 1
    path.write_text("GEOID,B01003_001E,B01003_001M\n51001,1,3\n51001,2,3\n")
    with pytest.raises(SchemaError, match="51001"):
        read_acs(path)


def test_truncated_json(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('[["NAME","B01003_001E","state"],["A","1","51"')
    with pytest.raises(DataError, match="not valid JSON"):
        read_acs(path)


def test_api_csv_and_validate(tmp_path: Path) -> None:
    from equity.sources import validate

    path = tmp_path / "acs_api_tract.csv"
    path.write_text(
        "NAME,B28002_013E,B28002_013M,state,county,tract\n"
        '"Census Tract 901, Accomack County, Virginia",120,40,51,001,090100\n'
        '"Census Tract 201, Autauga County, Alabama",80,30,1,1,20100\n'
    )
    df = read_acs(path)
    assert df["GEOID"].tolist() == ["51001090100", "01001020100"]
    assert df.attrs["level"] == "tract"
    assert validate(path) == []
    export = tmp_path / "ACSDT5Y2021.B28002-Data.csv"
    export.write_text(
        '"GEO_ID","NAME","B28002_013E","B28002_013M",\n'
        '"Geography","Geographic Area Name","Estimate!!Total:!!No Internet access","Margin of Error!!Total:!!No Internet access",\n'
        '"0500000US51001","Accomack County, Virginia","2,530","±310",\n'
    )
    assert validate(export) == []
    df = read_acs(export)
    assert df["GEOID"].tolist() == ["51001"] and df.attrs["level"] == "county"
    assert (df["B28002_013E"].iloc[0], df["B28002_013M"].iloc[0]) == (2530.0, 310.0)

"""Tests of equity.sources.broadband (Microsoft usage) on the real files and every variant."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from equity.errors import DataError, SchemaError
from equity.sources import read_boundaries, read_broadband_usage, read_business_patterns

COUNTY = "broadband/microsoft_broadband_data_2020October.csv"
ZIP = "broadband/microsoft_broadband_data_zipcode.csv"


@pytest.fixture(scope="module")
def county(shared_data: Path) -> pd.DataFrame:
    return read_broadband_usage(shared_data / COUNTY)


@pytest.fixture(scope="module")
def zips(shared_data: Path) -> pd.DataFrame:
    return read_broadband_usage(shared_data / ZIP)


@pytest.fixture(scope="module")
def counties_2018(shared_data: Path) -> pd.DataFrame:
    return read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")


def test_real_county_file(county: pd.DataFrame, counties_2018: pd.DataFrame) -> None:
    assert len(county) == 3142
    assert list(county.columns) == [
        "GEOID",
        "state_abbr",
        "county_name",
        "broadband_availability",
        "broadband_usage",
    ]
    assert county["GEOID"].is_unique and (county["GEOID"].str.len() == 5).all()
    assert county["broadband_usage"].isna().sum() == 11
    assert county["broadband_availability"].isna().sum() == 9
    assert (
        county[["broadband_usage", "broadband_availability"]].stack().dropna().between(0, 1).all()
    )
    assert county.attrs["geography"] == "county" and county.attrs["vintage"] == "October 2020"
    assert county["GEOID"].isin(counties_2018["GEOID"]).sum() == 3142
    assert "02261" in set(county["GEOID"])


def test_real_zip_file(zips: pd.DataFrame, counties_2018: pd.DataFrame) -> None:
    assert len(zips) == 32735
    assert zips["GEOID"].nunique() == 32653
    assert (zips["GEOID"].str.len() == 5).all()
    assert zips["county_GEOID"].nunique() == 3136
    assert zips["county_GEOID"].drop_duplicates().isin(counties_2018["GEOID"]).sum() == 3136
    assert zips["broadband_usage"].between(0, 1).all()
    assert (zips["usage_error_mae"] >= 0).all() and (
        zips["usage_error_95"] >= zips["usage_error_mae"]
    ).all()
    assert zips.attrs["geography"] == "zip"


def test_real_zip_to_zbp_and_zcta(shared_data: Path, zips: pd.DataFrame) -> None:
    zbp = read_business_patterns(shared_data / "business/census_zbp18totals.txt")
    ms = set(zips["GEOID"])
    assert len(ms & set(zbp["GEOID"])) == 30352
    # the leading-zero trap the reader avoids
    raw = pd.read_csv(shared_data / ZIP)
    assert len(set(raw["POSTAL CODE"].astype(str)) & set(zbp["GEOID"])) == 27984
    zcta = pd.read_csv(shared_data / "boundaries/us/census_centroids_zctas_2018.csv", dtype=str)
    assert len(ms & set(zcta["geoid"])) == 32653


COUNTY_2019_BOM = (
    "\ufeffST,COUNTY ID,COUNTY NAME,BROADBAND AVAILABILITY PER FCC,BROADBAND USAGE\n"
    "AL,1001,Autauga County,0.81,0.28\nAK,2013,Aleutians East Borough, -   ,0.1\n"
)


def test_bom_and_dash_missing(tmp_path: Path) -> None:
    path = tmp_path / "broadband_data.csv"
    path.write_text(COUNTY_2019_BOM, encoding="utf-8")
    df = read_broadband_usage(path)
    assert df["GEOID"].tolist() == ["01001", "02013"]
    assert pd.isna(df["broadband_availability"].iloc[1])


def test_description_lines_before_header(tmp_path: Path) -> None:
    lines = [
        f'"Line {i} of the description, about broadband usage in each county"' for i in range(18)
    ]
    text = (
        "\n".join(lines)
        + "\n"
        + (
            "ST,COUNTY ID,COUNTY NAME, BROADBAND AVAILABILITY PER FCC , BROADBAND USAGE \n"
            "VA,51001,Accomack County,0.7,0.2\nVA,51003,Albemarle County,0.9,73%\n"
        )
    )
    path = tmp_path / "broadband_data_2020October.csv"
    path.write_text(text)
    df = read_broadband_usage(path)
    assert df["GEOID"].tolist() == ["51001", "51003"]
    assert df["broadband_usage"].tolist() == [0.2, 0.73]


def test_zip_variant_without_msd(tmp_path: Path) -> None:
    path = tmp_path / "zip.csv"
    path.write_text(
        "ST,COUNTY NAME,COUNTY ID,POSTAL CODE,BROADBAND USAGE,ERROR RANGE (MAE)(+/-),ERROR RANGE (95%)(+/-)\n"
        "MA,Suffolk,25025,2134,0.5,0.01,0.02\n"
    )
    df = read_broadband_usage(path)
    assert df["GEOID"].tolist() == ["02134"] and df["county_GEOID"].tolist() == ["25025"]
    assert df["msd"].isna().all()


def test_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(
        "ST,COUNTY ID,COUNTY NAME,BROADBAND AVAILABILITY PER FCC,BROADBAND USAGE\nVA,51001,A,0.5,1.7\n"
    )
    with pytest.raises(SchemaError, match=r"BROADBAND USAGE.*outside \[0, 1\].*'1.7'"):
        read_broadband_usage(path)
    path.write_text(
        "ST,COUNTY ID,COUNTY NAME,BROADBAND AVAILABILITY PER FCC,BROADBAND USAGE\nVA,51001,A,0.5,high\n"
    )
    with pytest.raises(SchemaError, match="'high'"):
        read_broadband_usage(path)
    path.write_text(
        "ST,COUNTY ID,COUNTY NAME,BROADBAND AVAILABILITY PER FCC,BROADBAND USAGE\nVA,51001.0,A,0.5,0.1\n"
    )
    assert read_broadband_usage(path)["GEOID"].tolist() == ["51001"]
    path.write_text("ST,COUNTY NAME,USAGE\nVA,A,0.1\n")
    with pytest.raises(SchemaError, match="missing BROADBAND USAGE, COUNTY ID"):
        read_broadband_usage(path)
    path.write_text("ST,COUNTY ID,COUNTY NAME,BROADBAND AVAILABILITY PER FCC,BROADBAND USAGE\n")
    with pytest.raises(DataError, match="header only"):
        read_broadband_usage(path)

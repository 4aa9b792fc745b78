"""The "Verified joins" of ../shared/data/SOURCES.md, reproduced through the readers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from equity.sources import read_acs, read_boundaries, read_broadband_usage
from equity.sources.fcc import read_fcc_477_summary


@pytest.fixture(scope="module")
def t2010(shared_data: Path) -> set[str]:
    return set(read_boundaries(shared_data / "boundaries/va/gz_2010_51_140_00_500k.shp")["GEOID"])


@pytest.fixture(scope="module")
def t2020(shared_data: Path) -> set[str]:
    return set(read_boundaries(shared_data / "boundaries/va/cb_2020_51_tract_500k.shp")["GEOID"])


def test_acs_county_prefix_to_2018_counties(shared_data: Path) -> None:
    acs = read_acs(
        shared_data / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv",
        variables=["B28002_001"],
    )
    counties = read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    va = set(counties.loc[counties["GEOID"].str.startswith("51"), "GEOID"])
    prefixes = set(acs["GEOID"].str.slice(0, 5))
    assert len(prefixes) == 133 and len(va) == 133 and prefixes == va


@pytest.mark.parametrize(
    ("region", "n", "n2020"), [("tract_cville", 50, 36), ("eastern_tract", 16, 9)]
)
def test_equity_center_acs_tracts(
    shared_data: Path, t2010: set[str], t2020: set[str], region: str, n: int, n2020: int
) -> None:
    acs = read_acs(shared_data / f"acs/uva_equitycenter_acs_{region}.csv")
    ids = set(acs["GEOID"])
    assert len(ids) == n
    assert len(ids & t2010) == n
    assert len(ids & t2020) == n2020
    fcc_name = "cville_tract" if "cville" in region else "eastern_tract"
    fcc = read_fcc_477_summary(
        shared_data / f"broadband/uva_equitycenter_fcc_broadband_{fcc_name}.csv"
    )
    assert set(fcc["GEOID"]) == ids  # same 2010 tracts, 1:1


def test_equity_center_county_prefixes(shared_data: Path) -> None:
    counties = set(
        read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")["GEOID"]
    )
    cville = read_acs(shared_data / "acs/uva_equitycenter_acs_tract_cville.csv")
    eastern = read_acs(shared_data / "acs/uva_equitycenter_acs_eastern_tract.csv")
    prefixes = set(cville["GEOID"].str.slice(0, 5)) | set(eastern["GEOID"].str.slice(0, 5))
    assert prefixes == {"51540", "51003", "51065", "51079", "51109", "51125", "51001", "51131"}
    assert prefixes <= counties


def test_microsoft_zip_to_zcta_centroids(shared_data: Path) -> None:
    zips = read_broadband_usage(shared_data / "broadband/microsoft_broadband_data_zipcode.csv")
    zcta = pd.read_csv(
        shared_data / "boundaries/us/census_centroids_zctas_2018.csv", dtype=str
    ).drop_duplicates()
    assert len(zcta) == 32989
    assert len(set(zips["GEOID"]) & set(zcta["geoid"])) == 32653
    raw = pd.read_csv(shared_data / "broadband/microsoft_broadband_data_zipcode.csv")
    assert len(set(raw["POSTAL CODE"].astype(str)) & set(zcta["geoid"])) == 30247
    va = zips.loc[zips["state_abbr"] == "VA", "GEOID"].drop_duplicates()
    assert len(va) == 887 and va.isin(zcta["geoid"]).all()


def test_place_centroids_keep_leading_zeros(shared_data: Path) -> None:
    places = pd.read_csv(shared_data / "boundaries/us/census_centroids_places_2018.csv", dtype=str)
    assert len(places) == 29321 and (places["geoid"].str.len() == 7).all()
    assert (places["geoid"].str.startswith("51")).sum() == 593

"""Tests of equity.sources.fcc: BDC classification (BEAD rules) and the Equity Center Form 477 files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from equity.errors import DataError, SchemaError
from equity.sources import read_boundaries, read_fcc_bdc, summarise_fcc_bdc
from equity.sources.fcc import BDC_COLUMNS, read_fcc_477_summary

BLOCK_A = "510010901001000"
BLOCK_B = "510030101001001"


def _bdc(rows: list[tuple]) -> pd.DataFrame:
    out = []
    for loc, tech, down, up, latency, code, provider, block in rows:
        out.append(
            {
                "frn": "0012345678",
                "provider_id": provider,
                "brand_name": f"brand {provider}",
                "location_id": loc,
                "technology": tech,
                "max_advertised_download_speed": down,
                "max_advertised_upload_speed": up,
                "low_latency": latency,
                "business_residential_code": code,
                "state_usps": "VA",
                "block_geoid": block,
                "h3_res8_id": "882a100d2bfffff" if block == BLOCK_A else "882a1072cbfffff",
            }
        )
    return pd.DataFrame(out, columns=BDC_COLUMNS)


ROWS = [
    # location, technology, down, up, low latency, code, provider, block
    ("1001", 50, 1000, 1000, 1, "R", "130001", BLOCK_A),  # fibre: served
    ("1001", 60, 100, 3, 0, "R", "130002", BLOCK_A),
    ("1002", 70, 200, 50, 1, "R", "130003", BLOCK_A),  # unlicensed FW does not count
    ("1002", 10, 25, 3, 1, "R", "130004", BLOCK_A),  # DSL 25/3: underserved
    ("1003", 61, 250, 25, 1, "X", "130005", BLOCK_A),  # satellite only: unserved
    ("1004", 40, 1000, 35, 0, "R", "130006", BLOCK_B),  # high latency: unserved
    ("1005", 71, 100, 20, 1, "X", "130007", BLOCK_B),  # licensed FW 100/20: served
    ("1005", 72, 50, 5, 1, "R", "130008", BLOCK_B),
    ("1006", 40, 99, 20, 1, "R", "130006", BLOCK_B),  # just below 100: underserved
    ("1007", 50, 1000, 1000, 1, "B", "130001", BLOCK_B),  # business only
    ("1008", 40, 10, 1, 1, "R", "130006", BLOCK_B),  # below 25/3: unserved
]


@pytest.fixture
def bdc_path(tmp_path: Path) -> Path:
    path = tmp_path / "bdc_51_fixed_broadband_J23_2023.csv"
    _bdc(ROWS).to_csv(path, index=False)
    return path


def test_classification(bdc_path: Path) -> None:
    locs = read_fcc_bdc(bdc_path)
    classes = dict(zip(locs["location_id"], locs["service_class"], strict=True))
    assert classes == {
        "1001": "served",
        "1002": "underserved",
        "1003": "unserved",
        "1004": "unserved",
        "1005": "served",
        "1006": "underserved",
        "1008": "unserved",
    }
    assert locs.attrs["n_locations_dropped"] == 1  # 1007 has only a business offer
    assert locs["location_id"].is_unique
    row = locs.set_index("location_id").loc["1005"]
    assert row["max_download_mbps"] == 100 and row["n_providers"] == 2 and row["n_offers"] == 2
    assert row["county_GEOID"] == "51003" and row["tract_GEOID"] == "51003010100"
    assert pd.isna(locs.set_index("location_id").loc["1003", "max_download_mbps"])
    assert locs.attrs["reliable_technologies"] == [10, 40, 50, 71, 72]


def test_business_and_all_offers(bdc_path: Path) -> None:
    business = read_fcc_bdc(bdc_path, residential=False)
    assert set(business["location_id"]) == {"1003", "1005", "1007"}
    assert business.set_index("location_id").loc["1007", "service_class"] == "served"
    everything = read_fcc_bdc(bdc_path, residential=None)
    assert len(everything) == 8


@pytest.mark.parametrize(
    ("by", "n"), [("county", 2), ("tract", 2), ("block", 2), ("h3", 2), ("blockgroup", 2)]
)
def test_summary(bdc_path: Path, by: str, n: int) -> None:
    locs = read_fcc_bdc(bdc_path)
    summary = summarise_fcc_bdc(locs, by=by)
    assert len(summary) == n
    assert (
        summary["n_served"] + summary["n_underserved"] + summary["n_unserved"]
        == summary["n_locations"]
    ).all()
    assert summary["n_locations"].sum() == len(locs)
    shares = summary[["share_served", "share_underserved", "share_unserved"]]
    assert shares.sum(axis=1).round(12).eq(1).all() and shares.stack().between(0, 1).all()
    if by == "county":
        a = summary.set_index("GEOID").loc["51001"]
        assert (a["n_served"], a["n_underserved"], a["n_unserved"]) == (1, 1, 1)


def test_summary_errors(bdc_path: Path) -> None:
    locs = read_fcc_bdc(bdc_path)
    with pytest.raises(ValueError, match="county, tract"):
        summarise_fcc_bdc(locs, by="planet")
    with pytest.raises(SchemaError, match="service_class"):
        summarise_fcc_bdc(locs.drop(columns="service_class"))


def test_bad_bdc_files(tmp_path: Path) -> None:
    path = tmp_path / "bdc.csv"
    bad = _bdc(ROWS).astype(str)
    bad.loc[0, "max_advertised_download_speed"] = "fast"
    bad.loc[1, "max_advertised_upload_speed"] = "-3"
    bad.to_csv(path, index=False)
    with pytest.raises(SchemaError, match="'fast'"):
        read_fcc_bdc(path)
    bad = _bdc(ROWS)
    bad.loc[0, "technology"] = 99
    bad.to_csv(path, index=False)
    with pytest.raises(SchemaError, match="unknown FCC code"):
        read_fcc_bdc(path)
    bad = _bdc(ROWS)
    bad.loc[1, "block_geoid"] = BLOCK_B
    bad.to_csv(path, index=False)
    with pytest.raises(SchemaError, match="'1001' appears in more than one"):
        read_fcc_bdc(path)
    _bdc(ROWS).drop(columns=["low_latency", "technology"]).to_csv(path, index=False)
    with pytest.raises(SchemaError, match="technology, low_latency"):
        read_fcc_bdc(path)
    path.write_text(",".join(BDC_COLUMNS) + "\n")
    with pytest.raises(DataError, match="header only"):
        read_fcc_bdc(path)


def test_float_block_ids_repaired(tmp_path: Path) -> None:
    df = _bdc(ROWS[:1])
    df["block_geoid"] = "10010201001000.0"  # Alabama block written as a float
    path = tmp_path / "bdc.csv"
    df.to_csv(path, index=False)
    assert read_fcc_bdc(path)["block_geoid"].tolist() == ["010010201001000"]


FILES_477 = {
    "cville_tract": (50, "tract", 11),
    "cville_blkgr": (155, "blockgroup", 12),
    "cville_block": (10734, "block", 15),
    "eastern_tract": (16, "tract", 11),
    "eastern_blkgr": (46, "blockgroup", 12),
    "eastern_block": (6469, "block", 15),
}


def test_equity_center_form477(shared_data: Path) -> None:
    t2010 = read_boundaries(shared_data / "boundaries/va/gz_2010_51_140_00_500k.shp")
    bg2020 = read_boundaries(shared_data / "boundaries/va/cb_2020_51_bg_500k.shp")
    t2020 = read_boundaries(shared_data / "boundaries/va/cb_2020_51_tract_500k.shp")
    frames = {}
    for key, (n, level, width) in FILES_477.items():
        df = read_fcc_477_summary(
            shared_data / f"broadband/uva_equitycenter_fcc_broadband_{key}.csv"
        )
        assert len(df) == n and df.attrs["level"] == level
        assert df["GEOID"].dtype == "str" and (df["GEOID"].str.len() == width).all()
        assert df["pct_providers_25_3"].between(0, 100).all()
        frames[key] = df
    for region, (n2020_tract, n2020_bg) in {"cville": (36, 105), "eastern": (9, 28)}.items():
        tract, blkgr, block = (frames[f"{region}_{x}"] for x in ("tract", "blkgr", "block"))
        assert tract["GEOID"].isin(t2010["GEOID"]).all()
        assert tract["GEOID"].isin(t2020["GEOID"]).sum() == n2020_tract
        assert blkgr["GEOID"].isin(bg2020["GEOID"]).sum() == n2020_bg
        assert set(block["blockgroup_GEOID"]) == set(blkgr["GEOID"])
        assert set(block["tract_GEOID"]) == set(tract["GEOID"])

"""Tests of the partner layer (equity.placement.organisations): every source located through the
geocoder (a local stand-in) or ZIP centres, each organisation once, nothing dropped silently."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _census_geocoder import PATH, FakeCensusGeocoder
from _httpserver import LocalServer, Reply

from equity.distance import haversine_km
from equity.errors import ChoiceError
from equity.placement.organisations import build_partners, write_partner_files
from equity.sources import read_libraries, read_nonprofits, read_partner_list, read_zip_centroids
from equity.sources.geocode import geocode_addresses

LIST = (
    "Record ID,Orginization,Type,Adress,Town,ST,Zip code,Lattitude,Longtitude\n"
    "P1,Washington County Public Library,library,205 Oak Hill St NE,Abingdon,VA,24210,36.7106,-81.9754\n"
    "P2,Southwest Virginia Community College,college,724 Community College Rd,Cedar Bluff,VA,24609,,\n"
    "P3,People Incorporated of Virginia,nonprofit,1173 W Main St,Abingdon,VA,24210,,\n"
    "P4,Abingdon Food Pantry,nonprofit,1 Nowhere Ln,Abingdon,VA,24210,,\n"
    "P1,Washington Co. Public Library - Main,library,205 Oak Hill St NE,Abingdon,VA,24210,,\n"
    "P6,Highlands Community Services,nonprofit,PO Box 2219,Abingdon,VA,24212,,\n"
    "P7,Mystery Group,,,,,,,\n"
    "P8,Damascus Hub,nonprofit,9 Main St,Damascus,VA,,,\n"
    "P9,People Inc. - Virginia,,1173 West Main Street,Abingdon,VA,24210,,\n"
)
IMLS = (
    "STABR,FSCSKEY,FSCS_SEQ,LIBNAME,ADDRESS,CITY,ZIP,C_OUT_TY,LONGITUD,LATITUDE,INCITSST,INCITSCO\n"
    "VA,VA0090,002,WASHINGTON COUNTY PUBLIC LIBRARY,205 OAK HILL ST NE,ABINGDON,24210,CE,-81.97531,36.71052,51,191\n"
    "VA,VA0090,003,DAMASCUS BRANCH,126 E LAUREL AVE,DAMASCUS,24236,BR,-81.7859,36.6345,51,191\n"
    "VA,VA0090,009,WASHINGTON COUNTY BOOKMOBILE,205 OAK HILL ST NE,ABINGDON,24210,BS,-81.97531,36.71052,51,191\n"
)
GEOCODED = {
    "724 Community College Rd": (-81.7619, 37.0993),
    "1173 W Main St": (-81.9921, 36.7049),
    "1173 West Main Street": (-81.9921, 36.7049),
}
CENTROIDS = pd.DataFrame(
    {"zip": ["24210", "24609"], "longitude": [-81.95, -81.77], "latitude": [36.72, 37.10]}
)


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, object]:
    (tmp_path / "list.csv").write_text(LIST)
    (tmp_path / "pls_fy21_outlet.csv").write_text(IMLS)
    return {
        "lists": read_partner_list(tmp_path / "list.csv"),
        "libraries": read_libraries(tmp_path / "pls_fy21_outlet.csv"),
    }


def _geocoder(server: LocalServer, folder: Path) -> functools.partial:
    return functools.partial(
        geocode_addresses, url=server.url + PATH, cache_folder=folder, backoff=0.0, retries=1
    )


def test_list_with_duplicates_missing_coordinates_and_failures(
    sources: dict[str, object], tmp_path: Path
) -> None:
    fake = FakeCensusGeocoder(matches=GEOCODED, ties={"9 Main St"})
    with LocalServer({PATH: fake}) as server:
        layer = build_partners(
            **sources, geocoder=_geocoder(server, tmp_path), zip_centroids=CENTROIDS
        )
    p = layer.partners.set_index("name")
    # the library is in IMLS and twice on the list (same name and ZIP; same id): one organisation,
    # named as the planner names it, at the IMLS point; its bookmobile is not a partner
    lib = p.loc["Washington County Public Library"]
    assert lib["sources"] == "list+imls" and lib["listed"] and lib["kind"] == "library"
    assert (lib.geometry.x, lib.geometry.y) == (-81.97531, 36.71052)
    assert lib["located"] == "source" and lib["detail"] == "public library"
    assert "BOOKMOBILE" not in " ".join(layer.partners["name"])
    assert p.loc["Southwest Virginia Community College", "located"] == "address"
    assert p.loc["Southwest Virginia Community College"].geometry.x == pytest.approx(-81.7619)
    # "People Incorporated of Virginia" twice, spelt differently: same address and ZIP
    assert (layer.partners["name"].str.lower().str.startswith("people inc")).sum() == 1
    assert p.loc["People Incorporated of Virginia", "source_ids"] == "list:P3; list:P9"
    pantry = p.loc["Abingdon Food Pantry"]
    assert pantry["located"] == "zip" and pantry["located_note"] == "the geocoder found no match"
    assert (pantry.geometry.x, pantry.geometry.y) == (-81.95, 36.72)
    # what could not be placed is listed with the reason, never dropped
    reasons = layer.unlocated.set_index("name")["reason"].to_dict()
    assert reasons == {
        "Highlands Community Services": "a PO box has no street location; ZIP 24212 not in the ZIP centroids",
        "Mystery Group": "no street address; no ZIP code",
        "Damascus Hub": "the geocoder found several equally good matches (tie); no ZIP code",
    }
    merged = layer.merged.set_index("merged_id")
    assert merged.loc["VA0090-002", "rule"] == "same name and ZIP"
    assert merged.loc["VA0090-002", "partner_id"] == "list:P1"
    assert merged.loc["P9", "rule"] == "same address and ZIP"
    assert "same id" in set(layer.merged["rule"])
    # every row read is an organisation, a merged row or an unlocated organisation
    n_rows = 9 + 2  # list rows + IMLS outlets with a building
    assert len(layer.partners) + len(layer.merged) + len(layer.unlocated) == n_rows
    assert layer.partners["partner_id"].is_unique
    # only addresses of listed organisations without coordinates went to the geocoder
    sent = sorted(r[1] for batch in fake.batches for r in batch)
    assert sent == ["1 Nowhere Ln", "1173 W Main St", "724 Community College Rd", "9 Main St"]
    assert layer.counts["geocoder_match"] == 2 and layer.counts["geocoder_po_box"] == 1
    assert "3 not located (listed in partners_unlocated.csv)" in layer.summary()


def test_geocoder_failure_falls_back_to_zip_centres(
    sources: dict[str, object], tmp_path: Path
) -> None:
    html = Reply(200, b"<html><body>Geocoder down for maintenance</body></html>")
    with LocalServer({PATH: html}) as server:
        layer = build_partners(
            **sources, geocoder=_geocoder(server, tmp_path), zip_centroids=CENTROIDS
        )
    p = layer.partners.set_index("name")
    college = p.loc["Southwest Virginia Community College"]
    assert college["located"] == "zip" and college["located_note"].startswith("geocoder failed")
    assert "HTML page" in college["located_note"]
    assert (p["located"] == "address").sum() == 0
    off = build_partners(**sources, geocode="off", zip_centroids=CENTROIDS)
    assert off.partners.set_index("name").loc["Abingdon Food Pantry", "located_note"] == (
        "geocoding off"
    )
    with pytest.raises(ChoiceError, match="unknown geocode 'sometimes'"):
        build_partners(**sources, geocode="sometimes")


def test_partner_files(sources: dict[str, object], tmp_path: Path) -> None:
    layer = build_partners(**sources, geocode="off", zip_centroids=CENTROIDS)
    files = write_partner_files(layer, tmp_path / "out")
    assert [f.name for f in files] == [
        "partners.csv",
        "partners_unlocated.csv",
        "partners_merged.csv",
    ]
    table = pd.read_csv(files[0], dtype=str)
    assert len(table) == len(layer.partners) and table["partner_id"].is_unique
    assert {"located", "located_note", "sources", "longitude", "latitude"} <= set(table.columns)
    unlocated = pd.read_csv(files[1], dtype=str)
    assert unlocated["reason"].notna().all() and len(unlocated) == len(layer.unlocated)
    assert len(pd.read_csv(files[2], dtype=str)) == len(layer.merged)


def test_same_name_nearby_and_supporters_kept_apart(tmp_path: Path) -> None:
    listed = pd.DataFrame(
        {
            "partner_id": ["a", "b", "c", "d"],
            "name": ["Town Library", "Friends of the Town Library", "Town Library", "Town Library"],
            "kind": ["library", "nonprofit", "library", "library"],
            "address": [None] * 4,
            "city": [None] * 4,
            "state": ["VA"] * 4,
            "zip": [None] * 4,
            "ein": [None] * 4,
            "latitude": [36.7000, 36.7001, 36.7050, 36.80],
            "longitude": [-81.97, -81.97, -81.97, -81.97],
        }
    )
    layer = build_partners(lists=listed, same_place_km=1.0)
    assert sorted(layer.partners["partner_id"]) == ["list:a", "list:b", "list:d"]
    assert layer.merged["rule"].tolist() == ["same name within 1 km"]
    assert layer.merged["km"].iloc[0] == pytest.approx(
        float(haversine_km(-81.97, 36.70, -81.97, 36.705)), abs=1e-3
    )


@pytest.mark.slow
def test_real_libraries_and_nonprofits_counted_once(shared_data: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ZCTA file's 103 documented duplicate rows
        centroids = read_zip_centroids(
            shared_data / "boundaries/us/census_centroids_zctas_2018.csv"
        )
    libs = read_libraries(shared_data / "anchors/imls_pls_fy19_outlet_pud19i.csv")
    libs = libs[libs["state_abbr"].isin(["AK", "VT"])]
    npo = [read_nonprofits(shared_data / f"business/irs_eo/eo_{s}.csv") for s in ("ak", "vt")]
    layer = build_partners(libraries=libs, nonprofits=npo, zip_centroids=centroids)
    rows = len(libs[~libs["outlet_type"].isin(["BS", "BM"])]) + sum(len(n) for n in npo)
    assert len(layer.partners) + len(layer.merged) + len(layer.unlocated) == rows
    # a public library filing with the IRS is the IMLS outlet, not a second library
    merged = layer.merged.set_index("merged_id")
    assert merged.loc["331152171", "partner_id"] == "imls:AK0064-002"  # Seldovia Public Library
    assert merged["merged_source"].eq("irs_bmf").all()
    seldovia = layer.partners.set_index("partner_id").loc["imls:AK0064-002"]
    assert seldovia["sources"] == "imls+irs_bmf" and seldovia["located"] == "source"
    # mission and size from the IRS file (income and assets class 0: none reported)
    assert seldovia["ein"] == "331152171" and seldovia["size_class"] == 0
    assert seldovia["mission"] == "library"
    # merged names are the same organisation: equal names or the same street address
    assert set(layer.merged["rule"]) <= {"same name and ZIP", "same address and ZIP"}
    # nonprofits are placed at their ZIP centre (no geocoding by default), else listed
    bmf = layer.partners[layer.partners["sources"] == "irs_bmf"]
    assert bmf["located"].eq("zip").all()
    z = centroids.set_index("zip")
    lon = bmf["zip"].map(z["longitude"]).to_numpy(float)
    np.testing.assert_allclose(bmf.geometry.x.to_numpy(), lon)
    assert layer.unlocated["reason"].str.contains("not in the ZIP centroids").all()
    assert layer.partners["partner_id"].is_unique

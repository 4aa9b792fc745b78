"""The bundled national county snapshot (data/): reproducible from the public files, complete,
with its sources and licences; the SVI reader's counts; Alaska's and Connecticut's handling."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from equity import settings
from equity.errors import DataError
from equity.snapshot import INPUTS, build_snapshot, read_snapshot
from equity.snapshot.counts import CONNECTICUT_REGIONS, county_counts
from equity.sources import counts_from_svi, read_boundaries, read_svi
from equity.sources._states import STATES

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
STATE_CODES = sorted(s.fips for s in STATES if s.fips != "72")


@pytest.fixture(scope="module")
def snapshot():
    return read_snapshot(DATA)


@pytest.fixture(scope="module")
def counts() -> pd.DataFrame:
    return pd.read_csv(DATA / "county_counts.csv", dtype={"GEOID": str})


# -- reproducible, small, documented ---------------------------------------------------------------


@pytest.mark.slow
def test_bundled_data_is_rebuilt_byte_for_byte(shared_data: Path, tmp_path: Path) -> None:
    files = build_snapshot(shared_data, tmp_path / "data")
    manifest = json.loads((DATA / "snapshot.json").read_text(encoding="utf-8"))
    names = {f["name"] for f in manifest["files"]} | {"snapshot.json", "README.md"}
    assert {p.name for p in files} == names
    for name in sorted(names):
        assert (tmp_path / "data" / name).read_bytes() == (DATA / name).read_bytes(), (
            f"data/{name} differs from a fresh `equity snapshot build`; rebuild data/"
        )


def test_manifest_matches_the_files() -> None:
    manifest = json.loads((DATA / "snapshot.json").read_text(encoding="utf-8"))
    for f in manifest["files"]:
        data = (DATA / f["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["name"]
        assert len(data) == f["bytes"]
    assert {i["key"] for i in manifest["inputs"]} == set(INPUTS)
    for i in manifest["inputs"]:
        assert i["sha256"] == INPUTS[i["key"]].sha256


def test_small_and_free_of_non_commercial_data() -> None:
    files = [p for p in DATA.iterdir() if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 5_000_000  # a few MB at most
    names = " ".join(p.name.lower() for p in files)
    assert "ookla" not in names and "speedtest" not in names
    # Microsoft data (O-UDA) travels with its licence text, byte for byte
    licence = (DATA / "microsoft_O-UDA_LICENSE.txt").read_bytes()
    assert licence.startswith(b"# Open Use of Data Agreement v1.0")
    assert hashlib.sha256(licence).hexdigest() == INPUTS["ouda_licence"].sha256


def test_readme_gives_source_vintage_and_licence_of_every_file() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    manifest = json.loads((DATA / "snapshot.json").read_text(encoding="utf-8"))
    for f in manifest["files"]:
        assert f"`{f['name']}`" in readme and f["sha256"] in readme
    for spec in INPUTS.values():
        assert spec.vintage in readme and spec.licence in readme and spec.sha256 in readme
        if spec.repository:
            assert spec.repository in readme and spec.commit in readme
    for needle in (
        "equity snapshot build --from",
        "O-UDA",
        "microsoft_O-UDA_LICENSE.txt",
        "CC BY-NC-SA",
        "02063",
        "09110-09190",
        "stale",
        "weak proxy",
        "--sample",
    ):
        assert needle in readme, needle


def test_inputs_are_checked_before_anything_is_written(shared_data: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for spec in INPUTS.values():
        path = shared_data / spec.path
        for part in (path, *(path.with_suffix(s) for s in spec.parts)):
            target = src / part.relative_to(shared_data)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(part)
    usage = src / INPUTS["usage"].path
    usage.unlink()
    usage.write_bytes((shared_data / INPUTS["usage"].path).read_bytes().replace(b"AL", b"XX", 1))
    (src / INPUTS["svi2018"].path).unlink()
    out = tmp_path / "out"
    with pytest.raises(DataError) as info:
        build_snapshot(src, out)
    text = str(info.value)
    assert "cdc_svi2018_us_county.csv: file not found" in text
    assert "microsoft_broadband_data_2020October.csv: content differs" in text
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(DataError, match="missing: folder not found"):
        build_snapshot(tmp_path / "missing", out)


# -- the counties ------------------------------------------------------------------------------------


def test_every_county_of_the_50_states_and_dc(shared_data: Path, snapshot) -> None:
    cb = read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    expected = sorted(cb.loc[cb["GEOID"].str[:2] != "72", "GEOID"])
    counties = snapshot.counties
    assert counties["GEOID"].tolist() == expected and len(expected) == 3142
    assert sorted(counties["state_GEOID"].unique()) == STATE_CODES
    assert sorted(snapshot.states["GEOID"]) == STATE_CODES
    assert counties.crs.to_epsg() == 4326 and counties.geometry.is_valid.all()
    # real names: "<county>, <state>", as the Census writes them
    assert all(
        name.endswith(", " + state)
        for name, state in zip(counties["NAME"], counties["state_name"], strict=True)
    )
    named = counties.set_index("GEOID")["NAME"]
    assert named["04001"] == "Apache County, Arizona"
    assert named["02261"] == "Valdez-Cordova Census Area, Alaska"
    assert named["09001"] == "Fairfield County, Connecticut"
    assert named["11001"] == "District of Columbia, District of Columbia"
    # every county has counts, households above zero, and a source
    assert counties["households"].gt(0).all() and counties["counts_source"].notna().all()


def test_geometry_is_the_census_outline_on_a_1m_grid(shared_data: Path, snapshot) -> None:
    cb = read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    cb = cb[cb["GEOID"].str[:2] != "72"].set_index("GEOID").sort_index()
    ours = snapshot.counties.set_index("GEOID").sort_index()
    area_cb = cb.geometry.to_crs(6933).area
    area = ours.geometry.to_crs(6933).area
    rel = (area - area_cb).abs() / area_cb
    assert rel.max() < 0.02 and rel.median() < 1e-4


def test_counts_are_the_svi_2022_counts(shared_data: Path, counts: pd.DataFrame) -> None:
    svi = read_svi(shared_data / "svi/cdc_svi2022_us_county.csv").set_index("GEOID")
    mine = counts[counts["counts_source"] == "svi2022"].set_index("GEOID")
    assert len(mine) == 3142 - 1 - 8
    for count, var in (
        ("population", "TOTPOP"),
        ("households", "HH"),
        ("hh_no_internet_subscription", "NOINT"),
        ("pop_below_150_poverty", "POV150"),
        ("pop_limited_english", "LIMENG"),
    ):
        np.testing.assert_array_equal(mine[count], svi.loc[mine.index, f"E_{var}"])
        np.testing.assert_array_equal(mine[f"moe_{count}"], svi.loc[mine.index, f"M_{var}"])
    np.testing.assert_array_equal(
        mine["pop_18_plus"], svi.loc[mine.index, "E_TOTPOP"] - svi.loc[mine.index, "E_AGE17"]
    )
    # households are conserved: the snapshot's nation equals SVI 2022's, less Connecticut's
    # planning regions, plus Connecticut's 8 former counties from SVI 2018
    svi18 = read_svi(shared_data / "svi/cdc_svi2018_us_county.csv").set_index("GEOID")
    ct18 = svi18.loc[svi18.index.str.startswith("09"), "E_HH"].sum()
    nation = svi["E_HH"].sum() - svi.loc[list(CONNECTICUT_REGIONS), "E_HH"].sum() + ct18
    assert counts["households"].sum() == pytest.approx(nation, rel=1e-12)


def test_alaska_split_is_summed_back(shared_data: Path, counts: pd.DataFrame) -> None:
    svi = read_svi(shared_data / "svi/cdc_svi2022_us_county.csv").set_index("GEOID")
    parts = svi.loc[["02063", "02066"]]
    row = counts.set_index("GEOID").loc["02261"]
    assert row["counts_source"] == "svi2022_sum_02063_02066"
    assert not counts["GEOID"].isin(["02063", "02066"]).any()
    for count, var in (("households", "HH"), ("hh_no_internet_subscription", "NOINT")):
        assert row[count] == parts[f"E_{var}"].sum()
        # Census sum rule: root of the summed squares (both parts estimated above zero)
        assert row[f"moe_{count}"] == pytest.approx(np.hypot(*parts[f"M_{var}"]), rel=1e-12)


def test_connecticut_uses_its_former_counties_from_svi_2018(
    shared_data: Path, counts: pd.DataFrame
) -> None:
    svi18 = read_svi(shared_data / "svi/cdc_svi2018_us_county.csv").set_index("GEOID")
    ct = counts[counts["GEOID"].str.startswith("09")].set_index("GEOID")
    assert sorted(ct.index) == [f"09{c:03d}" for c in range(1, 16, 2)]
    assert (ct["counts_source"] == "svi2018_connecticut").all()
    np.testing.assert_array_equal(ct["population"], svi18.loc[ct.index, "E_TOTPOP"])
    np.testing.assert_array_equal(ct["households"], svi18.loc[ct.index, "E_HH"])
    # SVI 2018 has neither count: missing, never zero or borrowed
    assert ct["hh_no_internet_subscription"].isna().all()
    assert ct["pop_below_150_poverty"].isna().all()
    assert not counts["GEOID"].isin(CONNECTICUT_REGIONS).any()
    # elsewhere no count is missing
    rest = counts[~counts["GEOID"].str.startswith("09")].drop(columns=["GEOID", "counts_source"])
    assert rest.notna().all().all()


def test_county_counts_refuses_an_unknown_mismatch(shared_data: Path) -> None:
    svi22 = read_svi(shared_data / "svi/cdc_svi2022_us_county.csv")
    svi18 = read_svi(shared_data / "svi/cdc_svi2018_us_county.csv")
    with pytest.raises(DataError, match="without counts, e.g. 99001"):
        county_counts(svi22, svi18, ["01001", "99001"])
    with pytest.raises(DataError, match="without a 2018 polygon"):
        county_counts(svi22, svi18, ["02261", *[f"09{c:03d}" for c in range(1, 16, 2)]])


def test_income_is_the_2014_2018_median(snapshot) -> None:
    income = snapshot.counties.set_index("GEOID")["median_household_income"]
    assert income.isna().sum() == 1 and np.isnan(income["35039"])  # Rio Arriba, not published
    assert income["01001"] == 58786.0  # Autauga County, B19013_001E of ACS 2014-2018
    assert income.dropna().between(10_000, 200_000).all()


# -- the SVI reader ------------------------------------------------------------------------------


def test_svi_file_gotchas(tmp_path: Path) -> None:
    """BOM, CRLF, FIPS without its leading zero, -999 and ACS sentinels, as in SVI 2022."""
    path = tmp_path / "SVI_2022_US_county.csv"
    path.write_bytes(
        "\ufeffST,STATE,FIPS,LOCATION,E_TOTPOP,M_TOTPOP,E_AGE17,M_AGE17,E_HH,M_HH,"
        "E_NOINT,M_NOINT,M_GROUPQ\r\n"
        '1,Alabama,1001,"Autauga County, Alabama",58761,0,13766,42,22308,369,2425,385,21\r\n'
        '11,District of Columbia,11001,"District of Columbia, District of Columbia",'
        "670587,-999,120000,100,310000,1500,0,95,-555555555\r\n".encode()
    )
    svi = read_svi(path)
    assert svi["GEOID"].tolist() == ["01001", "11001"]
    assert np.isnan(svi.loc[1, "M_TOTPOP"])  # -999: missing
    assert svi.loc[1, "M_GROUPQ"] == 0.0  # a controlled estimate's MOE is zero
    counts = counts_from_svi(svi)
    assert counts.columns.tolist()[:3] == ["GEOID", "population", "moe_population"]
    assert "pop_below_150_poverty" not in counts  # no E_POV150 in this file
    assert counts["hh_no_internet_subscription"].tolist() == [2425.0, 0.0]
    assert counts["pop_18_plus"].tolist() == [44995.0, 550587.0]
    assert counts.loc[0, "moe_pop_18_plus"] == pytest.approx(42.0)
    assert np.isnan(counts.loc[1, "moe_pop_18_plus"])  # an unknown part leaves it unknown
    assert counts.attrs["svi_variables"]["households"] == "HH"


def test_default_data_folder_is_the_projects() -> None:
    assert settings.data_folder == DATA


def test_missing_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"snapshot.json: the bundled national snapshot is missing"):
        read_snapshot(tmp_path)
    shutil.copy(DATA / "snapshot.json", tmp_path / "snapshot.json")
    with pytest.raises(DataError, match="counties.csv: file not found"):
        read_snapshot(tmp_path)

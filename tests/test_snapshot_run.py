"""`equity run` with no arguments: the national county snapshot, end to end.

One county is selected in each of the 50 states and DC, with its real name; households are
conserved from counties to states to the nation; Connecticut and Alaska are handled as the
snapshot says; METHODS.md and the map carry every source's provenance and licence.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from equity import geographies, pipeline
from equity.config import ConfigError, load_config
from equity.snapshot import read_snapshot
from equity.sources._states import STATES

ROOT = Path(__file__).resolve().parents[1]
STATE_NAMES = {s.fips: s.name for s in STATES if s.fips != "72"}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, str]:
    """`equity run --out DIR` as a user types it: no configuration, fresh cache."""
    out = tmp_path_factory.mktemp("default-run")
    env = {**os.environ, "EQUITY_CACHE": str(tmp_path_factory.mktemp("cache"))}
    env.pop("EQUITY_DATA", None)
    exe = Path(sys.executable).with_name("equity")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "equity"]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*cmd, "run", "--out", str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"equity run (national county snapshot): {seconds:.1f} s")
    return out, seconds, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def selected(default_run: tuple[Path, float, str]) -> pd.DataFrame:
    cands = pd.read_csv(
        default_run[0] / "candidates.csv",
        dtype={"GEOID": str, "state_GEOID": str, "county_GEOID": str},
    )
    return cands[cands["selected"].astype(str).str.lower() == "true"]


@pytest.fixture(scope="module")
def counties(default_run: tuple[Path, float, str]) -> gpd.GeoDataFrame:
    return gpd.read_parquet(default_run[0] / "index_county.parquet")


@pytest.mark.slow
def test_writes_what_ci_checks(default_run: tuple[Path, float, str]) -> None:
    out, _, log = default_run
    for name in ("candidates.csv", "candidates.xlsx", "candidates.geojson", "METHODS.md"):
        assert (out / name).stat().st_size > 0, name
    assert {p.name for p in (out / "maps").glob("*.html")} >= {"county.html", "candidates.html"}
    assert [p.name for p in out.glob("index_*.parquet")] == ["index_county.parquet"]
    assert "loading inputs (bundled national county snapshot)" in log
    (summary,) = [line for line in log.splitlines() if line.startswith("equity run:")]
    assert "county 3,142" in summary and "51 selected candidates" in summary


@pytest.mark.slow
def test_one_real_county_selected_in_each_state_and_dc(selected: pd.DataFrame) -> None:
    assert len(selected) == 51
    assert sorted(selected["state_GEOID"]) == sorted(STATE_NAMES)
    snap = read_snapshot().counties.set_index("GEOID")
    for row in selected.itertuples():
        assert row.GEOID[:2] == row.state_GEOID  # the county lies in its state
        assert row.state_name == STATE_NAMES[row.state_GEOID]
        assert snap.loc[row.GEOID, "NAME"] == row.NAME  # the Census name
        assert row.NAME.endswith(", " + row.state_name)
        assert snap.loc[row.GEOID, "households"] >= 1000  # the snapshot's placement floor
    assert selected["why"].str.len().gt(40).all()
    assert selected["equity_index"].between(0, 100).all()


@pytest.mark.slow
def test_households_conserved_county_state_nation(counties: gpd.GeoDataFrame) -> None:
    snap = read_snapshot().counties
    assert len(counties) == 3142 and counties["GEOID"].is_unique
    nation = snap["households"].sum()
    assert counties["households"].sum() == pytest.approx(nation, rel=1e-12)
    cols = ["GEOID", "households", "moe_households"]
    states = geographies.aggregate(counties[cols], to="state", counts=["households"])
    assert sorted(states["GEOID"]) == sorted(STATE_NAMES)
    expected = snap.groupby("state_GEOID")["households"].sum()
    got = states.set_index("GEOID")["households"]
    np.testing.assert_allclose(got.sort_index(), expected.sort_index(), rtol=1e-12)
    assert states["households"].sum() == pytest.approx(nation, rel=1e-12)


@pytest.mark.slow
def test_every_county_has_an_index(counties: gpd.GeoDataFrame) -> None:
    # every county gets an index (a county without one would need a stated reason)
    assert counties["equity_index"].notna().all()
    assert counties["equity_index"].between(0, 100).all()
    assert (counties["equity_index_lo"] <= counties["equity_index"]).all()
    assert (counties["equity_index"] <= counties["equity_index_hi"]).all()
    # rank 1 = greatest need; equal indexes share the better rank (competition ranking)
    expected = rankdata(-counties["equity_index"].to_numpy(), method="min")
    np.testing.assert_array_equal(counties["rank"].astype(int), expected)
    # the index comes with its Monte Carlo interval, from the MOEs
    assert (counties["equity_index_hi"] - counties["equity_index_lo"]).gt(0).mean() > 0.9


@pytest.mark.slow
def test_connecticut_and_alaska_in_the_run(counties: gpd.GeoDataFrame) -> None:
    by = counties.set_index("GEOID")
    ct = by[by.index.str.startswith("09")]
    assert len(ct) == 8 and (ct["counts_source"] == "svi2018_connecticut").all()
    assert ct["share_no_internet_subscription"].isna().all()
    assert ct["score_access"].notna().all()  # from Microsoft usage and availability
    assert ct["equity_index"].notna().all()
    assert by.loc["02261", "counts_source"] == "svi2022_sum_02063_02066"
    assert by.loc["02261", "NAME"] == "Valdez-Cordova Census Area, Alaska"
    rest = by[~by.index.str.startswith("09")]
    assert rest["share_no_internet_subscription"].notna().all()


@pytest.mark.slow
def test_methods_and_map_carry_provenance_and_licences(
    default_run: tuple[Path, float, str],
) -> None:
    out = default_run[0]
    methods = (out / "METHODS.md").read_text(encoding="utf-8")
    for needle in (
        "CDC/ATSDR Social Vulnerability Index 2022",
        "ACS 2018-2022",
        "cb_2018_us_county_20m",
        "Broadband usage: Microsoft Airband Initiative (O-UDA-1.0)",
        "Open Use of Data Agreement (O-UDA) v1.0. Used in this run.",
        "Public Libraries Survey",
        "ACS 2014-2018",
        "CC BY-NC-SA 4.0 (non-commercial, share-alike, attribution required). Not used in this run.",
        "Valdez-Cordova (02261)",
        "Connecticut: SVI 2022 reports the 9 planning regions",
        "stale",
        "weak proxy",
        "transformation",
        "equity run --out",
    ):
        assert needle in methods, needle
    html = (out / "maps" / "county.html").read_text(encoding="utf-8")
    assert "O-UDA" in html and "Microsoft" in html
    assert "Social Vulnerability Index" in html and "Census" in html


def test_python_api_gives_the_snapshot_and_the_sample() -> None:
    cfg = load_config()
    assert cfg.uses_snapshot and not cfg.uses_sample
    assert (cfg.levels, cfg.placement_level, cfg.min_households) == (("county",), "county", 1000)
    sample = load_config(sample=True)
    assert sample.uses_sample and not sample.uses_snapshot
    assert sample.placement_level == "town" and "street" in sample.levels
    assert sample.min_households == 0


def test_snapshot_defaults_yield_to_the_configuration(tmp_path: Path) -> None:
    toml = tmp_path / "equity.toml"
    toml.write_text('[placement]\nmin_households = 0\n[maps]\ntitle = "Mine"\n')
    cfg = load_config(toml)
    assert cfg.uses_snapshot and cfg.min_households == 0 and cfg.title == "Mine"
    assert cfg.levels == ("county",)
    toml.write_text("[run]\nsample = true\n")
    assert load_config(toml).uses_sample


def test_snapshot_and_sample_misuse_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="county data only .*no street, tract.*--sample"):
        load_config(levels=("street", "tract", "county"))
    (tmp_path / "bg.zip").write_bytes(b"")
    (tmp_path / "acs.csv").write_text("GEOID\n")
    data = {"blockgroups": str(tmp_path / "bg.zip"), "acs": str(tmp_path / "acs.csv")}
    with pytest.raises(ConfigError, match="run.sample = true and \\[data\\] input files"):
        load_config(data=data, sample=True)


def test_snapshot_dataset_builds_the_county_level() -> None:
    cfg = load_config(n_draws=0)
    ds = pipeline.load_dataset(cfg)
    assert ds.base_level == "county" and ds.counts is not None
    assert set(ds.boundaries) == {"county", "state"}
    assert (ds.anchors["kind"] == "library").all() and len(ds.anchors) > 17_000
    assert any("Connecticut" in note for note in ds.notes)
    sources = {p["source"] for p in ds.provenance}
    assert sources == {"svi", "census_boundaries", "microsoft_usage", "imls", "acs"}

"""Synthetic national tables and tiles (equity.synthetic) and the benchmark runner smoke test."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from equity import indicators
from equity.errors import ConfigError
from equity.sources.ookla import quadkey_to_bounds
from equity.synthetic import COUNT_COLUMNS, acs_table, national_tables, synthetic_tiles

ROOT = Path(__file__).resolve().parents[1]

# universe -> its parts (a part never exceeds its universe)
PARTS = {
    "hh_internet_universe": ("hh_no_internet", "hh_broadband"),
    "hh_computer_universe": ("hh_no_computer",),
    "pop_poverty_universe": ("pop_below_poverty",),
    "pop_age_universe": ("pop_65_plus",),
    "pop_25_plus": ("pop_no_hs_diploma",),
    "pop_disability_universe": ("pop_with_disability",),
    "hh_language_universe": ("hh_limited_english",),
    "hh_broadband": ("hh_cable_fiber_dsl",),
    "population": ("pop_25_plus", "pop_poverty_universe"),
}


@pytest.fixture(scope="module")
def small() -> dict[str, pd.DataFrame]:
    return national_tables(n_counties=60, tracts_per_county=5, bgs_per_tract=2.5, seed=3)


def test_same_seed_identical_tables(small):
    again = national_tables(n_counties=60, tracts_per_county=5, bgs_per_tract=2.5, seed=3)
    for level, table in small.items():
        pd.testing.assert_frame_equal(table, again[level])
    other = national_tables(n_counties=60, tracts_per_county=5, bgs_per_tract=2.5, seed=4)
    assert not np.array_equal(other["blockgroup"]["households"], small["blockgroup"]["households"])


@pytest.mark.parametrize(
    ("n_counties", "per_county", "per_tract"), [(60, 5, 2.5), (7, 3, 1), (5, 2, 9), (1, 1, 1)]
)
def test_requested_sizes(n_counties, per_county, per_tract):
    t = national_tables(
        n_counties=n_counties, tracts_per_county=per_county, bgs_per_tract=per_tract, seed=1
    )
    n_tracts = round(n_counties * per_county)
    assert len(t["county"]) == n_counties
    assert len(t["tract"]) == n_tracts
    assert len(t["blockgroup"]) == round(n_tracts * per_tract)
    assert len(t["state"]) == min(49, n_counties)
    for table in t.values():
        assert table["GEOID"].is_unique


def test_impossible_sizes_raise():
    with pytest.raises(ConfigError, match="cannot put"):  # a ValueError
        national_tables(n_counties=3, tracts_per_county=2, bgs_per_tract=10, seed=1)
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ConfigError, match="n_states must be 1 to 49"):
        national_tables(n_counties=3, n_states=50)
    with pytest.raises(ConfigError, match="tiles requested"):
        synthetic_tiles(10**6, bounds=(0.0, 0.0, 0.01, 0.01))


def test_geoids_nest(small):
    bg, tract, county, state = (small[k] for k in ("blockgroup", "tract", "county", "state"))
    assert (bg["GEOID"].str.len() == 12).all()
    assert (tract["GEOID"].str.len() == 11).all()
    assert (county["GEOID"].str.len() == 5).all()
    assert (state["GEOID"].str.len() == 2).all()
    assert (bg["GEOID"].str[:11] == bg["tract_GEOID"]).all()
    assert (bg["GEOID"].str[:5] == bg["county_GEOID"]).all()
    assert (bg["GEOID"].str[:2] == bg["state_GEOID"]).all()
    assert set(bg["tract_GEOID"]) == set(tract["GEOID"])
    assert set(tract["GEOID"].str[:5]) == set(county["GEOID"])
    assert (tract["GEOID"].str[:5] == tract["county_GEOID"]).all()
    assert set(county["GEOID"].str[:2]) == set(state["GEOID"])
    assert bg["GEOID"].str.fullmatch(r"\d{12}").all()
    # geometry nests too: every block group lies in its tract's rectangle
    tr = tract.set_index("GEOID").geometry.reindex(bg["tract_GEOID"]).to_numpy()
    assert shapely.covers(tr, bg.geometry.to_numpy()).all()
    assert bg.crs.to_epsg() == 4326


def test_counts_consistent(small):
    for table in small.values():
        for c in COUNT_COLUMNS:
            assert (table[c] >= 0).all(), c
            assert (table[f"moe_{c}"] >= 0).all(), c
            assert table[c].notna().all() and table[f"moe_{c}"].notna().all()
        for universe, parts in PARTS.items():
            for part in parts:
                assert (table[part] <= table[universe]).all(), (universe, part)
        assert (table["median_household_income"] > 0).all()
        assert (table["moe_median_household_income"] >= 0).all()


def test_parents_are_sums(small):
    bg, tract = small["blockgroup"], small["tract"]
    sums = bg.groupby("tract_GEOID")["hh_no_internet"].sum()
    got = tract.set_index("GEOID")["hh_no_internet"].reindex(sums.index)
    np.testing.assert_allclose(got, sums)
    moe = np.sqrt((bg["moe_households"] ** 2).groupby(bg["tract_GEOID"]).sum())
    np.testing.assert_allclose(tract.set_index("GEOID")["moe_households"].reindex(moe.index), moe)


def test_need_is_clustered():
    """County effects make need cluster: counties explain part of the block-group variance."""
    t = national_tables(n_counties=200, tracts_per_county=4, bgs_per_tract=3, seed=2)
    bg = t["blockgroup"]
    share = bg["hh_no_internet"] / bg["households"]
    between = share.groupby(bg["county_GEOID"]).transform("mean").var()
    assert between / share.var() > 0.2


def test_acs_table_round_trips_through_read_acs(small, tmp_path):
    from equity.sources import read_acs

    bg = small["blockgroup"]
    path = tmp_path / "acs2021_5yr_synthetic_blockgroup.csv"
    acs_table(bg).to_csv(path, index=False)
    back = indicators.counts_from_acs(read_acs(path))
    assert back["GEOID"].tolist() == bg["GEOID"].tolist()
    for c in COUNT_COLUMNS:
        np.testing.assert_array_equal(back[c].to_numpy(dtype=float), bg[c].to_numpy(), err_msg=c)
    income = back["median_household_income"]
    assert income.isna().sum() == len(range(0, len(bg), 997))  # the sentinels


def test_tiles_layout_and_geometry():
    tiles = synthetic_tiles(3000, seed=5)
    assert list(tiles.columns) == [
        "quadkey",
        "download_mbps",
        "upload_mbps",
        "latency_ms",
        "tests",
        "devices",
        "geometry",
    ]
    assert len(tiles) == 3000
    assert tiles["quadkey"].is_unique
    assert (tiles["quadkey"].str.len() == 16).all()
    assert tiles["quadkey"].str.fullmatch("[0-3]{16}").all()
    np.testing.assert_allclose(
        tiles.geometry.bounds.to_numpy(), quadkey_to_bounds(tiles["quadkey"]), rtol=0, atol=1e-9
    )
    assert (tiles["tests"] >= 1).all() and (tiles["devices"] >= 1).all()
    assert (tiles["devices"] <= tiles["tests"]).all()
    assert tiles.crs.to_epsg() == 4326
    x0, y0, x1, y1 = tiles.total_bounds
    assert x0 >= -125 and x1 <= -66.9 and y0 >= 24.4 and y1 <= 49.5
    again = synthetic_tiles(3000, seed=5)
    assert again["quadkey"].tolist() == tiles["quadkey"].tolist()
    np.testing.assert_array_equal(again["download_mbps"], tiles["download_mbps"])


def test_tiles_onto_counties(small):
    from equity.geographies import ookla_to_polygons

    tiles = synthetic_tiles(5000, seed=5)
    out = ookla_to_polygons(tiles, small["county"][["GEOID", "geometry"]])
    total = out["ookla_tests"].sum() + out.attrs.get("ookla_tests_outside", 0)
    assert total == pytest.approx(tiles["tests"].sum())


def _load_runner():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runner_smoke():
    runner = _load_runner()
    buf = io.StringIO()
    out = runner.run(
        ["index", "placement"],
        scale=0.01,
        seed=1,
        draws=50,
        baseline_draws=1,
        growth_scales=[0.005, 0.01],
        file=buf,
    )
    text = buf.getvalue()
    assert "ratio" in text and "vectorised numpy baseline" in text and "spopt MCLP" in text
    rows = {r["stage"]: r for r in out["stages"]}
    assert rows["index"]["ratio"] > 0 and rows["index"]["time_s"] > 0
    assert rows["index"]["reference_peak_mb"] is not None
    # both solvers are exact: the same covered need
    assert "objective ratio 1.000000" in rows["placement"]["notes"]
    assert [g["tracts"] for g in out["growth"]] == sorted(g["tracts"] for g in out["growth"])


@pytest.mark.slow
def test_benchmark_quick_mode_runs_every_stage(tmp_path: Path) -> None:
    """`benchmarks/run.py --quick`, as a user runs it: every stage reports, tables are written."""
    import subprocess
    import sys

    runner = _load_runner()
    report = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--markdown", str(report)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = report.read_text()
    for stage in runner.STAGES:
        assert f"| {stage} |" in text or f"| {stage} (" in text, stage
    # each issue #9 target is reported, met or not, with its peak memory
    assert text.count("applies at full size only") + text.count(": met") >= 3
    assert "Cost growth with size" in text and "| state_street |" in text


def test_numpy_index_baseline_is_the_loops_model():
    """The index stage's reference (vectorised NumPy) draws the same model as the pandas loop."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_index

    table = indicators.compute_indicators(bench_index.synthetic_tracts(400, seed=3))
    fast = bench_index.numpy_baseline(table, n_draws=60, seed=1, chunk=7)
    loop = bench_index.baseline_loop(table, n_draws=60, seed=2)
    assert fast.shape == loop.shape == (400, 60)
    assert np.corrcoef(np.median(fast, axis=1), np.median(loop, axis=1))[0, 1] > 0.99
    assert abs(np.median(fast) - np.median(loop)) < 1.0
    # ranks are the loop's "min" percentiles: ties share the lowest rank
    x = np.array([[3.0, 1.0], [1.0, 1.0], [3.0, np.nan], [2.0, 0.5]])
    np.testing.assert_array_equal(bench_index._min_rank(x), [[2, 1], [0, 1], [2, np.nan], [1, 0]])

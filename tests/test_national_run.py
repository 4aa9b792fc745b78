"""``equity run --states`` on a generated fetch cache of four states.

One run on the local engine (two states at once) serves most tests; the resume, failure and
force tests work on a copy of the cache of their own; a run one state at a time, a run with
one state's process killed and a 2-worker Dask LocalCluster are compared with it byte for
byte.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pandas as pd
import pytest

from equity import cli
from equity.config import load_config
from equity.export import read_candidates
from equity.national import engines, run_states
from equity.national.state import DONE_MARKER, RunOptions, StateResult, run_state
from equity.national.synthetic import synthetic_nation, write_synthetic_cache
from equity.workbook import read_workbook

pytestmark = pytest.mark.slow

STATES = ("AL", "AZ", "AR", "CA")
LEVELS = ("blockgroup", "tract", "town", "county")


def _config(**changes):
    return load_config(run_states=",".join(STATES), levels=LEVELS, n_draws=40, **changes)


@pytest.fixture(scope="module")
def nation():
    return synthetic_nation(
        n_counties=16, tracts_per_county=3, bgs_per_tract=2.5, n_tiles=4000, n_states=4, seed=11
    )


@pytest.fixture(scope="module")
def fetch_cache(nation, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fetch")
    write_synthetic_cache(folder, nation)
    return folder


@pytest.fixture(scope="module")
def local_run(fetch_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    result = run_states(_config(k=2, workers=2), out=out, cache_folder=fetch_cache, quiet=True)
    return out, result


def _selected(folder: Path) -> pd.DataFrame:
    table = read_candidates(folder / "candidates.csv")
    return table[table["selected"]].reset_index(drop=True)


def test_one_folder_per_state_with_its_outputs(local_run):
    out, result = local_run
    assert [r.usps for r in result.results] == list(STATES)
    assert all(r.status == "done" for r in result.results)
    for usps in STATES:
        folder = out / usps
        for name in ("candidates.csv", "candidates.xlsx", "candidates.geojson", "METHODS.md"):
            assert (folder / name).is_file(), f"{usps}/{name}"
        for level in LEVELS:
            assert (folder / f"index_{level}.parquet").is_file()
            assert (folder / "maps" / f"{level}.html").is_file()
        marker = json.loads((folder / DONE_MARKER).read_text())
        assert marker["state"] == usps and len(marker["digest"]) == 64
        assert all((folder / f).is_file() for f in marker["files"])
        assert f"--states {usps}" in (folder / "METHODS.md").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_national_candidates_hold_exactly_k_sites_per_state(local_run):
    out, _ = local_run
    national = read_candidates(out / "candidates.csv")
    assert national["selected"].all()
    assert national.groupby("state_GEOID").size().to_dict() == {
        "01": 2,
        "04": 2,
        "05": 2,
        "06": 2,
    }
    # the very rows of each state's own candidates.csv, sorted by state and rank
    states = pd.concat([_selected(out / usps) for usps in STATES], ignore_index=True)
    pd.testing.assert_frame_equal(national, states[national.columns], check_dtype=False)
    assert sorted(national["rank"].tolist()) == [1, 1, 1, 1, 2, 2, 2, 2]
    summary = pd.read_excel(out / "candidates.xlsx", sheet_name="National summary")
    assert summary["status"].tolist() == ["done"] * 4
    assert len(pd.read_excel(out / "candidates.xlsx", sheet_name="Summary")) == 8
    # the state sheets read back as the national candidates (the summary sheet left out)
    sheets = read_workbook(out / "candidates.xlsx")
    assert sorted(sheets["GEOID"]) == sorted(national["GEOID"])


def test_national_county_index_map_and_methods(local_run, nation):
    out, _ = local_run
    import geopandas as gpd

    counties = gpd.read_parquet(out / "index_county.parquet")
    states_households = sum(
        gpd.read_parquet(out / usps / "index_county.parquet")["households"].sum() for usps in STATES
    )
    assert counties["households"].sum() == pytest.approx(states_households, rel=1e-12)
    assert counties["households"].sum() == pytest.approx(
        nation.tables["blockgroup"]["households"].sum(), rel=1e-12
    )
    # one index over every state's counties: ranks are a permutation of 1..n
    assert sorted(counties["rank"].astype(int)) == list(range(1, len(counties) + 1))
    page = (out / "maps" / "national.html").read_text()
    for name in read_candidates(out / "candidates.csv")["NAME"]:
        assert json.dumps(name)[1:-1] in page
    methods = (out / "METHODS.md").read_text()
    assert "## States" in methods and "4 states: 4 done." in methods
    for name in ("Alabama (AL)", "Arizona (AZ)", "Arkansas (AR)", "California (CA)"):
        assert name in methods
    status = pd.read_csv(out / "states.csv", dtype={"state_GEOID": str})
    assert status["state_GEOID"].tolist() == ["01", "04", "05", "06"]


def _touch_value(path: Path) -> None:
    """Change one estimate of an ACS file (a new vintage of the same state)."""
    table = pd.read_csv(path, dtype={"GEOID": str})
    table.loc[0, "B28002_013E"] = table.loc[0, "B28002_013E"] + 1
    table.to_csv(path, index=False, lineterminator="\n")


def test_rerun_resumes_recomputes_what_changed_and_force(fetch_cache, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(fetch_cache, cache, ignore=shutil.ignore_patterns("tables"))
    out = tmp_path / "out"
    cfg = _config()
    first = run_states(cfg, out=out, cache_folder=cache, quiet=True, write_maps=False)
    assert [r.status for r in first.results] == ["done"] * 4
    stamps = {u: (out / u / "candidates.csv").stat().st_mtime_ns for u in STATES}

    again = run_states(cfg, out=out, cache_folder=cache, quiet=True, write_maps=False)
    assert [r.status for r in again.results] == ["resumed"] * 4
    assert {u: (out / u / "candidates.csv").stat().st_mtime_ns for u in STATES} == stamps
    assert (out / "candidates.csv").read_bytes() == _national_bytes(first, out)

    _touch_value(cache / "states" / "AR" / "acs_2022_05_blockgroup.csv")
    (out / ".AZ.partial-left-by-a-kill").mkdir()  # a killed run's staging folder
    changed = run_states(cfg, out=out, cache_folder=cache, quiet=True, write_maps=False)
    assert {r.usps: r.status for r in changed.results} == {
        "AL": "resumed",
        "AZ": "resumed",
        "AR": "done",
        "CA": "resumed",
    }
    assert (out / "AL" / "candidates.csv").stat().st_mtime_ns == stamps["AL"]
    assert (out / "AR" / "candidates.csv").stat().st_mtime_ns != stamps["AR"]

    forced = run_states(cfg, out=out, cache_folder=cache, quiet=True, write_maps=False, force=True)
    assert [r.status for r in forced.results] == ["done"] * 4

    # a different option is a different input: every state runs again
    other = run_states(_config(k=2), out=out, cache_folder=cache, quiet=True, write_maps=False)
    assert [r.status for r in other.results] == ["done"] * 4
    assert len(read_candidates(out / "candidates.csv")) == 8


def _national_bytes(result, out: Path) -> bytes:
    assert out / "candidates.csv" in result.files
    return (out / "candidates.csv").read_bytes()


def test_a_broken_state_is_reported_and_the_others_finish(fetch_cache, tmp_path, capsys):
    cache = tmp_path / "cache"
    shutil.copytree(fetch_cache, cache, ignore=shutil.ignore_patterns("tables"))
    out = tmp_path / "out"
    cfg = _config()
    run_states(cfg, out=out, cache_folder=cache, quiet=True, write_maps=False)
    before = {p.name: p.read_bytes() for p in (out / "AZ").iterdir() if p.is_file()}

    acs = cache / "states" / "AZ" / "acs_2022_04_blockgroup.csv"
    acs.write_text(acs.read_text().replace("GEOID", "GEO_CODE", 1))  # no id column
    toml = tmp_path / "equity.toml"
    toml.write_text(
        f"[data]\nstates = {list(STATES)!r}\n[run]\nlevels = {list(LEVELS)!r}\n"
        "workers = 2\n[index]\nn_draws = 40\n".replace("'", '"')
    )
    os.environ["EQUITY_CACHE"] = str(cache)
    try:
        from equity import settings

        old, settings.cache_folder = settings.cache_folder, cache
        code = cli.main(["run", "--config", str(toml), "--out", str(out), "--no-maps", "-q"])
    finally:
        settings.cache_folder = old
        del os.environ["EQUITY_CACHE"]
    captured = capsys.readouterr()
    assert code == 2
    assert "1 of 4 states failed (AZ: " in captured.err and str(acs) in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert "(3 resumed, 1 failed: AZ)" in captured.out

    status = pd.read_csv(out / "states.csv").set_index("state")
    assert status.loc["AZ", "status"] == "failed" and str(acs) in status.loc["AZ", "message"]
    assert (status.drop("AZ")["status"] == "resumed").all()
    national = read_candidates(out / "candidates.csv")
    assert "04" not in set(national["state_GEOID"]) and len(national) == 3
    # the failed state's previous outputs are left as they were
    assert {p.name: p.read_bytes() for p in (out / "AZ").iterdir() if p.is_file()} == before
    assert "1 state(s) failed" in (out / "METHODS.md").read_text()


def test_dask_states_equal_the_local_engine(local_run, fetch_cache, nation, tmp_path):
    pytest.importorskip("distributed")
    local_out, local = local_run
    out = tmp_path / "dask"
    result = run_states(
        _config(k=2, engine="dask", workers=2), out=out, cache_folder=fetch_cache, quiet=True
    )
    assert [r.status for r in result.results] == ["done"] * 4
    for usps in STATES:
        assert (out / usps / "candidates.csv").read_bytes() == (
            local_out / usps / "candidates.csv"
        ).read_bytes(), usps
    assert (out / "candidates.csv").read_bytes() == (local_out / "candidates.csv").read_bytes()
    # the client collected only the small results
    for r in result.results:
        assert r.selected is not None and len(r.selected) == 2
        n_counties = (nation.tables["county"]["state_GEOID"] == r.fips).sum()
        assert r.counties is not None and len(r.counties) == n_counties


def _outputs(folder: Path) -> dict[str, bytes]:
    """The state's candidates.csv and index parquet files, by name."""
    names = ["candidates.csv", *(f"index_{level}.parquet" for level in LEVELS)]
    return {name: (folder / name).read_bytes() for name in names}


def test_two_workers_equal_one_state_at_a_time(local_run, fetch_cache, tmp_path):
    local_out, _ = local_run
    out = tmp_path / "one"
    result = run_states(_config(k=2, workers=1), out=out, cache_folder=fetch_cache, quiet=True)
    assert [r.status for r in result.results] == ["done"] * 4
    for usps in STATES:
        assert _outputs(out / usps) == _outputs(local_out / usps), usps
    assert (out / "candidates.csv").read_bytes() == (local_out / "candidates.csv").read_bytes()
    assert (out / "index_county.parquet").read_bytes() == (
        local_out / "index_county.parquet"
    ).read_bytes()
    for folder in (out, local_out):  # the canonical order, whatever order the states ended in
        status = pd.read_csv(folder / "states.csv")
        assert status["state"].tolist() == list(STATES)


def _kill_arizona(usps: str, cache_folder: str, options: RunOptions) -> StateResult:
    """run_state, except that Arizona's process is killed (as the out-of-memory killer would)."""
    if usps == "AZ":
        os.kill(os.getpid(), signal.SIGKILL)
    return run_state(usps, cache_folder, options)


def test_a_killed_state_with_two_workers_fails_alone(local_run, fetch_cache, tmp_path):
    local_out, _ = local_run
    out = tmp_path / "out"
    options = RunOptions(config=_config(k=2, workers=2), out=str(out), write_maps=False)
    reported: list[StateResult] = []
    results = engines.run_local(
        STATES, fetch_cache, options, report=reported.append, workers=2, task=_kill_arizona
    )
    assert [r.usps for r in results] == list(STATES)
    assert {r.usps: r.status for r in results} == {
        "AL": "done",
        "AZ": "failed",
        "AR": "done",
        "CA": "done",
    }
    assert "died without a result" in results[1].message
    assert sorted(r.usps for r in reported) == sorted(STATES)
    assert not (out / "AZ").exists()
    for usps in ("AL", "AR", "CA"):
        assert _outputs(out / usps) == _outputs(local_out / usps), usps

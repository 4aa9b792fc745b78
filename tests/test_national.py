"""State selections, fetch manifests, the synthetic fetch cache and the state task's failures.

The runs themselves (several states, resume, a broken state, Dask) are in
``test_national_run.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from equity import sources
from equity.cli import build_parser
from equity.config import load_config
from equity.errors import ConfigError, DataError
from equity.indicators import counts_from_acs
from equity.national import manifest as manifest_mod
from equity.national.manifest import read_manifest
from equity.national.selection import (
    ALL_STATES,
    looks_like_selection,
    parse_states,
    state_problems,
)
from equity.national.state import RunOptions, run_state, state_config
from equity.national.synthetic import synthetic_nation, write_synthetic_cache

# -- selections -----------------------------------------------------------------------------------


def test_all_is_the_50_states_and_dc():
    assert len(ALL_STATES) == 51
    assert "DC" in ALL_STATES and "PR" not in ALL_STATES
    assert parse_states("ALL") == ALL_STATES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("VA,MD", ("MD", "VA")),
        ("va md 51", ("MD", "VA")),  # duplicates once, FIPS order
        (["24", "5"], ("AR", "MD")),  # FIPS codes, one digit too
        (("pr",), ("PR",)),
    ],
)
def test_parse_states(value, expected):
    assert parse_states(value) == expected


@pytest.mark.parametrize("value", ["VA,XX", "", "all,VA", []])
def test_bad_selections_raise_naming_the_problem(value):
    with pytest.raises(ConfigError) as info:
        parse_states(value)
    assert (
        ("XX" in str(info.value)) or ("all" in str(info.value)) or ("no states" in str(info.value))
    )


def test_selection_or_path():
    assert looks_like_selection("all") and looks_like_selection("VA, 24")
    assert looks_like_selection("XX")  # reported as an unknown state, not as a missing file
    assert not looks_like_selection("cb_2021_us_state_500k.zip")
    assert not looks_like_selection("states/VA.zip")
    assert state_problems("data.states", ["VA", "ZZ"])[0].startswith("data.states: unknown state")


# -- configuration and command line -----------------------------------------------------------------


def test_config_reads_a_state_selection_and_keeps_a_boundary_path(tmp_path: Path):
    sel = tmp_path / "sel.toml"
    sel.write_text('[data]\nstates = "all"\n[run]\nlevels = ["blockgroup", "town"]\n')
    cfg = load_config(sel)
    assert cfg.run_states == ALL_STATES and cfg.data == {} and not cfg.uses_sample

    listed = tmp_path / "list.toml"
    listed.write_text('[data]\nstates = ["va", "24"]\n')
    assert load_config(listed).run_states == ("MD", "VA")

    boundary = tmp_path / "cb_2021_us_state_500k.zip"
    boundary.write_bytes(b"")
    (tmp_path / "bg.zip").write_bytes(b"")
    (tmp_path / "acs.csv").write_text("GEOID\n")
    path = tmp_path / "path.toml"
    path.write_text(
        '[data]\nstates = "cb_2021_us_state_500k.zip"\nblockgroups = "bg.zip"\nacs = "acs.csv"\n'
    )
    cfg = load_config(path)
    assert cfg.run_states == () and cfg.data["states"] == str(boundary)

    bad = tmp_path / "bad.toml"
    bad.write_text('[data]\nstates = ["VA", "QQ"]\n')
    with pytest.raises(ConfigError, match="unknown state 'QQ'"):
        load_config(bad)


def test_a_state_selection_is_neither_the_snapshot_nor_the_sample():
    # a selection has no [data] files, yet takes none of the county snapshot's defaults and
    # keeps levels finer than the county (each state's run adds its files from the cache)
    cfg = load_config(run_states="VA,MD", levels=("blockgroup", "town", "county"))
    assert not cfg.uses_snapshot and not cfg.uses_sample and cfg.placement_level == "town"
    assert load_config(run_states="all").levels == load_config(sample=True).levels
    with pytest.raises(ConfigError, match="choose one"):
        load_config(run_states="VA", sample=True)


def test_files_without_a_selection_still_need_blockgroups_and_acs(tmp_path: Path):
    (tmp_path / "p.csv").write_text("x\n")
    only = tmp_path / "only.toml"
    only.write_text('[data]\npartners = "p.csv"\n')
    with pytest.raises(ConfigError, match="blockgroups, acs required"):
        load_config(only)
    only.write_text('[data]\nstates = "VA"\npartners = "p.csv"\n')  # added to every state
    assert load_config(only).data == {"partners": str(tmp_path / "p.csv")}


def test_cli_run_takes_states_and_force():
    args = build_parser().parse_args(["run", "--states", "VA,MD", "--force", "--out", "x"])
    assert args.states == "VA,MD" and args.force
    cfg = load_config(None, run_states=args.states)
    assert cfg.run_states == ("MD", "VA")


# -- the synthetic fetch cache ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def nation():
    return synthetic_nation(
        n_counties=9, tracts_per_county=3, bgs_per_tract=2.5, n_tiles=1500, n_states=3, seed=5
    )


@pytest.fixture(scope="module")
def fetch_cache(nation, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fetch")
    write_synthetic_cache(folder, nation)
    return folder


def test_synthetic_cache_reads_back_through_the_real_readers(nation, fetch_cache: Path):
    """Every state's files are in the publishers' layouts: the readers give back the counts."""
    bg = nation.tables["blockgroup"]
    for usps, fips in nation.states.items():
        inputs = read_manifest(fetch_cache, usps)
        assert inputs.fips == fips and not inputs.complete and "fcc" in inputs.missing
        counts = counts_from_acs(sources.read_acs(inputs.data["acs"]))
        mine = bg[bg["state_GEOID"] == fips]
        assert counts["households"].sum() == pytest.approx(mine["households"].sum(), rel=1e-12)
        polys = sources.read_boundaries(inputs.data["blockgroups"])
        assert set(polys["GEOID"]) == set(mine["GEOID"]) == set(counts["GEOID"])
        towns = sources.read_boundaries(inputs.data["cousubs"])
        tracts = sources.read_boundaries(inputs.data["tracts"])
        area = gpd.GeoSeries(towns.geometry).to_crs(6933).area.sum()
        assert area == pytest.approx(tracts.to_crs(6933).area.sum(), rel=1e-6)  # unions of tracts
        tiles = sources.read_ookla(inputs.data["ookla"])
        assert tiles["quadkey"].str.len().eq(16).all()
    usage = sources.read_broadband_usage(inputs.data["usage"])
    assert set(usage["GEOID"]) == set(nation.tables["county"]["GEOID"])
    assert len(sources.read_libraries(inputs.data["libraries"])) > 0
    assert (sources.read_anchors(inputs.data["schools"])["kind"] == "school").all()
    biz = sources.read_business_patterns(inputs.data["business"])
    assert biz["GEOID"].str.len().eq(5).all()


@pytest.mark.slow
def test_a_51_state_nation_has_alaska_and_hawaii():
    n = synthetic_nation(n_counties=120, tracts_per_county=2, bgs_per_tract=2, n_tiles=2000)
    assert sorted(n.states) == sorted(ALL_STATES)
    counties = n.tables["county"]
    assert counties["GEOID"].is_unique
    assert (counties["GEOID"].str[:2] == counties["state_GEOID"]).all()
    for level in ("tract", "blockgroup"):
        t = n.tables[level]
        assert (t["GEOID"].str[:5] == t["county_GEOID"]).all()
    assert {"02", "15"} <= set(n.tables["blockgroup"]["state_GEOID"])


@pytest.mark.slow
def test_census_nation_sizes_states_as_the_2020_census():
    from equity.national.synthetic import CENSUS_2020, census_nation

    n = census_nation(n_blockgroups=9000, n_tracts=4000, n_tiles=5000, seed=2)
    counties = n.tables["county"].groupby("state_GEOID").size()
    assert {u: counties[f] for u, f in n.states.items()} == {
        u: c for u, (_, c) in CENSUS_2020.items()
    }
    bgs = n.tables["blockgroup"].groupby("state_GEOID").size()
    assert bgs.idxmax() == "06" and bgs["06"] > bgs["48"] > bgs["56"]  # CA > TX > WY
    assert n.tables["blockgroup"]["GEOID"].is_unique and n.tiles["quadkey"].is_unique


# -- manifests -------------------------------------------------------------------------------------


def _manifest(cache: Path, usps: str) -> dict:
    return json.loads((cache / "states" / usps / "manifest.json").read_text())


def _rewrite(cache: Path, usps: str, doc: dict) -> None:
    (cache / "states" / usps / "manifest.json").write_text(json.dumps(doc))


@pytest.fixture
def own_cache(nation, tmp_path: Path) -> Path:
    write_synthetic_cache(tmp_path, nation, states=["AL"])
    return tmp_path


def test_manifest_paths_are_relative_to_the_cache(own_cache: Path):
    inputs = read_manifest(own_cache, "01")
    assert inputs.usps == "AL" and inputs.year == 2022
    assert Path(inputs.data["acs"]) == own_cache / "states" / "AL" / "acs_2022_01_blockgroup.csv"
    assert Path(inputs.data["counties"]).parent == own_cache / "national"
    assert all(p.is_file() for p in inputs.paths())


def test_manifest_tolerates_what_a_newer_fetch_adds(own_cache: Path, caplog):
    doc = _manifest(own_cache, "AL")
    doc["data"]["broadband_maps"] = "states/AL/acs_2022_01_blockgroup.csv"
    doc["data"]["schools"] = [doc["data"]["schools"]]  # a list of files
    doc["checksums"] = {"x": "y"}  # an unknown top-level field
    _rewrite(own_cache, "AL", doc)
    manifest_mod._logged_keys.discard("broadband_maps")
    with caplog.at_level(logging.WARNING, logger="equity.national"):
        first = read_manifest(own_cache, "AL")
        read_manifest(own_cache, "AL")
    assert "broadband_maps" not in first.data
    assert isinstance(first.data["schools"], list)
    logged = [r for r in caplog.records if "broadband_maps" in r.getMessage()]
    assert len(logged) == 1  # once, not once per read


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(format=2), "manifest format 2"),
        (lambda d: d.update(state="VA"), "field 'state' is 'VA'"),
        (lambda d: d.update(fips="51"), "field 'fips' is '51'"),
        (lambda d: d["data"].update(acs="states/AL/gone.csv"), "acs file named in"),
        (lambda d: d["data"].update(ookla=7), "data.ookla must be a path"),
        (
            lambda d: (d["data"].pop("acs"), d["missing"].update(acs="Census API: HTTP 503")),
            "HTTP 503",
        ),
        (lambda d: d.update(data=["x"]), "field 'data' must be an object"),
    ],
)
def test_manifest_problems_are_one_clear_line(own_cache: Path, change, expected):
    doc = _manifest(own_cache, "AL")
    change(doc)
    _rewrite(own_cache, "AL", doc)
    with pytest.raises(DataError) as info:
        read_manifest(own_cache, "AL")
    text = str(info.value)
    assert expected in text and "\n" not in text
    if "format" not in expected and "data" not in expected:
        assert "equity fetch --states AL" in text


def test_missing_or_unreadable_manifest(own_cache: Path):
    with pytest.raises(DataError, match=r"VA: not in the fetch cache .*equity fetch --states VA"):
        read_manifest(own_cache, "VA")
    (own_cache / "states" / "AL" / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="not a readable manifest"):
        read_manifest(own_cache, "AL")


# -- the state task --------------------------------------------------------------------------------


def test_state_config_takes_the_state_files_and_the_runs_own(own_cache: Path, tmp_path: Path):
    partners = tmp_path / "partners.csv"
    partners.write_text("anchor_id,name,kind,latitude,longitude\n")
    cfg = load_config(
        run_states="AL",
        data={"partners": str(partners)},
        levels=("blockgroup", "town"),
        placement_level="town",
        engine="dask",
    )
    inputs = read_manifest(own_cache, "AL")
    st = state_config(cfg, inputs, own_cache)
    assert st.data["partners"] == str(partners) and st.data["acs"] == inputs.data["acs"]
    assert st.levels == ("blockgroup", "town", "county")  # the national map needs counties
    assert st.engine == "local" and st.run_states == () and st.title.endswith("Alabama")
    assert st.cache_folder == str(own_cache / "tables")


def test_a_state_not_in_the_cache_is_a_failed_result_not_an_exception(own_cache, tmp_path):
    options = RunOptions(config=load_config(run_states="TX"), out=str(tmp_path / "out"))
    result = run_state("48", own_cache, options)
    assert (result.usps, result.status) == ("TX", "failed")
    assert "not in the fetch cache" in result.message and "\n" not in result.message
    assert not result.message.startswith("TX:")
    assert result.seconds >= 0 and not (tmp_path / "out" / "TX").exists()


def test_status_table_columns():
    from equity.national.outputs import status_table
    from equity.national.state import StateResult

    table = status_table([StateResult("VA", "51", "Virginia", "failed", "no manifest")])
    assert table.loc[0, "status"] == "failed" and table.loc[0, "n_selected"] == 0
    assert isinstance(table, pd.DataFrame)

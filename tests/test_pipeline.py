"""`equity run --sample` end to end on the bundled sample region, into a temporary folder.

The default run (the national county snapshot) is tested in ``test_snapshot_run.py``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from equity import maps, pipeline, settings
from equity.cli import main
from equity.config import load_config
from equity.errors import EquityError

LEVELS = ("street", "blockgroup", "tract", "town", "county")
REQUIRED = ("GEOID", "NAME", "households", "equity_index", "rank", "geometry")
PILLAR_SCORES = ("score_access", "score_devices_skills", "score_affordability")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh cache for the runs of this module (the sample is generated into it)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def run_out(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[Path, float, str]:
    """`equity run --sample --out DIR` as a user types it (console script, fresh cache)."""
    out = tmp_path_factory.mktemp("run")
    cache = cache_dir
    env = {**os.environ, "EQUITY_CACHE": str(cache)}
    exe = Path(sys.executable).with_name("equity")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "equity"]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*cmd, "run", "--sample", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, seconds, proc.stderr + proc.stdout


def test_run_writes_every_output(run_out: tuple[Path, float, str]) -> None:
    out, seconds, log = run_out
    for name in ("candidates.csv", "candidates.xlsx", "candidates.geojson", "METHODS.md"):
        assert (out / name).stat().st_size > 0, name
    maps = {p.stem for p in (out / "maps").glob("*.html")}
    assert {"street", "town", "county"} <= maps and ({"tract", "blockgroup"} & maps)
    for level in LEVELS:
        assert (out / f"index_{level}.parquet").is_file(), level
    # progress lines and a final one-line summary naming where things went
    summary = [
        line
        for line in log.splitlines()
        if line.startswith("equity run:") and not line.startswith("equity run: warning:")
    ]
    assert len(summary) == 1 and str(out) in summary[0]
    assert not [p for p in out.rglob(".*") if p.name.startswith(".equity-")], (
        "temporary folder left behind"
    )
    print(f"equity run on the sample: {seconds:.1f} s")


def test_level_tables_contract_and_conservation(run_out: tuple[Path, float, str]) -> None:
    out = run_out[0]
    totals = {}
    for level in LEVELS:
        gdf = gpd.read_parquet(out / f"index_{level}.parquet")
        missing = [c for c in (*REQUIRED, *PILLAR_SCORES) if c not in gdf.columns]
        assert not missing, (level, missing)
        assert gdf["GEOID"].map(type).eq(str).all()
        assert gdf["GEOID"].is_unique
        assert gdf.crs.to_epsg() == 4326
        idx = gdf["equity_index"].dropna()
        assert len(idx) >= 0.9 * len(gdf)
        assert idx.between(0, 100).all()
        ranks = gdf["rank"].dropna().astype(int)
        assert ranks.min() == 1 and ranks.max() <= len(gdf)
        totals[level] = gdf["households"].sum()
    ref = totals["blockgroup"]
    assert ref > 0
    for level, total in totals.items():
        assert total == pytest.approx(ref, rel=1e-9), level


def test_one_fellow_per_state_with_reasons(run_out: tuple[Path, float, str]) -> None:
    out = run_out[0]
    cands = pd.read_csv(out / "candidates.csv", dtype={"GEOID": str, "state_GEOID": str})
    chosen = cands[cands["selected"].astype(str).str.lower() == "true"]
    assert sorted(chosen["state_GEOID"]) == ["90", "91", "92"]
    assert chosen["why"].str.len().gt(20).all()
    for col in ("need_score", "readiness_score", "reach_score", "combined_score"):
        assert cands[col].between(0, 100).all(), col
    # the county business base reaches readiness (County Business Patterns in the sample)
    assert cands["establishments_per_1k"].gt(0).all()
    street = pd.read_parquet(out / "index_street.parquet", columns=["hotspot"])
    assert (street["hotspot"] == "not computed").all()
    methods = (out / "METHODS.md").read_text()
    for needle in ("Ookla", "CC BY-NC-SA", "Microsoft", "O-UDA", "equity run"):
        assert needle in methods


def test_candidates_byte_identical_on_a_second_run(
    run_out: tuple[Path, float, str],
    tmp_path: Path,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "cache_folder", cache_dir)
    first = run_out[0] / "candidates.csv"
    assert main(["run", "--sample", "--out", str(tmp_path), "--no-maps", "-q"]) == 0
    second = tmp_path / "candidates.csv"
    assert (
        hashlib.sha256(first.read_bytes()).hexdigest()
        == hashlib.sha256(second.read_bytes()).hexdigest()
    )


#: MD5 of the sample run's candidates.csv. A change of it must be deliberate (a change of
#: the sample, the index or placement): then update it and say why in the commit.
SAMPLE_CANDIDATES_MD5 = "dba9a22908a40d76ba615da9a9ce8f7d"


def test_sample_candidates_unchanged(run_out: tuple[Path, float, str]) -> None:
    digest = hashlib.md5((run_out[0] / "candidates.csv").read_bytes()).hexdigest()
    assert digest == SAMPLE_CANDIDATES_MD5, (
        "`equity run --sample` candidates.csv changed; update SAMPLE_CANDIDATES_MD5 only if "
        "the change is deliberate"
    )


def test_failed_run_leaves_the_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "keep.txt").write_text("old")

    def boom(*args: object, **kwargs: object) -> None:
        msg = "placement failed on purpose"
        raise EquityError(msg)

    monkeypatch.setattr(maps, "run_maps", boom)
    with pytest.raises(EquityError, match="on purpose"):
        pipeline.run(load_config(sample=True), out=tmp_path, quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_conservation_check_names_the_level() -> None:
    a = gpd.GeoDataFrame({"households": [1.0, 2.0]}, geometry=[None, None])
    b = gpd.GeoDataFrame({"households": [3.5]}, geometry=[None])
    assert pipeline.check_conservation({"blockgroup": a, "tract": a}) == {
        "blockgroup": 3.0,
        "tract": 3.0,
    }
    with pytest.raises(EquityError, match="tract 3.500"):
        pipeline.check_conservation({"blockgroup": a, "tract": b})


@pytest.mark.browser
@pytest.mark.parametrize("level", ["town", "street"])
def test_generated_map_renders_offline(run_out: tuple[Path, float, str], level: str) -> None:
    """A map written by `equity run` opens in headless Chromium with the network blocked:
    every layer draws as many polygons as the level table has places, without console errors."""
    from _browser import open_page, require_chromium

    require_chromium()
    out = run_out[0]
    n_places = len(pd.read_parquet(out / f"index_{level}.parquet", columns=["GEOID"]))
    with open_page(out / "maps" / f"{level}.html") as view:
        if level == "street":  # zoom bands (equity.maps.streetmap): zoom in to the street cells
            view.evaluate("equity.maps[0].setZoom(12, {animate: false})")
            view.page.wait_for_timeout(100)
            street = "Equity index (street cells)"
            assert view.feature_counts()[street] == n_places
            assert view.rendered()[street] > 0
            assert view.console_errors == [] and view.page_errors == []
            assert view.external_requests == [] and view.dialogs == []
            return
        features = view.feature_counts()
        polygon_layers = [name for name in features if name.startswith(("Equity index", "Pillar"))]
        assert polygon_layers and features["Equity index"] == n_places
        for name in polygon_layers:
            view.show_layer(name)
            assert view.rendered()[name] == features[name], name
        assert view.console_errors == [] and view.page_errors == []
        assert view.external_requests == [] and view.dialogs == []

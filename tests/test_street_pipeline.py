"""The street step in a run: block weights by default, the area fallback warned about."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from _blocks import split_blockgroups, write_tabblock20

from equity import pipeline, sample, sources
from equity.config import load_config
from equity.pipeline.dataset import SAMPLE_KEYS


def _sample_data(*, drop: tuple[str, ...] = ()) -> dict[str, object]:
    files = sample.sample_paths()
    return {
        SAMPLE_KEYS[k]: str(v)
        for k, v in files.items()
        if k in SAMPLE_KEYS and SAMPLE_KEYS[k] not in drop
    }


@pytest.mark.slow
def test_run_without_blocks_or_tiles_warns_and_ranks_no_empty_land(tmp_path, capsys) -> None:
    data = _sample_data(drop=("ookla",))
    cfg = load_config(
        data=data,
        levels=("street", "blockgroup", "tract", "county"),
        placement_level="tract",
        cache=False,
    )
    res = pipeline.run(cfg, out=tmp_path / "out", write_maps=False)
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert "fell back to area weights" in text
    methods = (tmp_path / "out" / "METHODS.md").read_text()
    head = methods.split("## Reproduce")[0]
    assert "**Warning:**" in head and "area weights" in head
    assert "Block groups by weight: blocks 0, ancillary 0, area" in methods
    street = res.levels["street"]
    ranked = street[street["ranked"]]
    assert (ranked["households"] < 1).mean() < 0.05
    assert (ranked["households"] >= 5).all()
    assert street.loc[~street["ranked"], "equity_index"].isna().all()
    assert ranked["equity_index"].notna().all()
    assert street["households"].sum() == pytest.approx(res.levels["blockgroup"]["households"].sum())
    assert street["NAME"].str.contains("County").all()


@pytest.mark.slow
def test_blocks_are_the_default_weights(tmp_path, capsys) -> None:
    bgs = sources.read_boundaries(sample.sample_paths()["blockgroup"])
    acs = sources.read_acs(sample.sample_paths()["acs"])
    hh = acs.set_index("GEOID")["B11001_001E"].reindex(bgs["GEOID"]).fillna(0).to_numpy()
    blocks = split_blockgroups(gpd.GeoDataFrame(bgs.assign(households=hh)), n=5, seed=2)
    path = write_tabblock20(blocks, tmp_path, state="90")
    data = {**_sample_data(), "blocks": str(path)}
    cfg = load_config(
        data=data, levels=("street", "blockgroup"), placement_level="blockgroup", cache=False
    )
    ds = pipeline.load_dataset(cfg)
    levels, extras = pipeline.build_levels(ds, cfg)
    printed = capsys.readouterr()
    by = extras["street"]["blockgroups_by_weight"]
    assert by["blocks"] >= 0.95 * extras["street"]["blockgroups"]
    assert "fell back to area" not in printed.out + printed.err or by["area"] > 0
    street = levels["street"]
    assert street["households"].sum() == pytest.approx(levels["blockgroup"]["households"].sum())
    # every unit with households lies where the blocks hold housing
    assert (street.loc[street["households"] > 0, "weight_method"] != "area").mean() > 0.95


@pytest.mark.slow
def test_street_index_served_from_the_cache_when_inputs_are_unchanged(tmp_path) -> None:
    from equity.cache import TableCache

    cfg = load_config(
        data=_sample_data(), levels=("street", "blockgroup"), placement_level="blockgroup"
    )
    cache = TableCache(tmp_path / "cache")
    first, _ = pipeline.build_levels(pipeline.load_dataset(cfg, cache=cache), cfg)
    stored = {p.name.split("-")[0] for p in (tmp_path / "cache").rglob("*.parquet")}
    assert any("street_index" in s for s in stored) or any(
        "street_index" in str(p) for p in (tmp_path / "cache").rglob("*")
    )
    hits = cache.hits
    ds = pipeline.load_dataset(cfg, cache=cache)
    second, extras = pipeline.build_levels(ds, cfg)
    # inputs, street level, street index and its record all come from the cache
    assert cache.hits - hits >= 4
    cols = [c for c in first["street"].columns if c != "geometry"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(first["street"][cols]).reset_index(drop=True),
        pd.DataFrame(second["street"][cols]).reset_index(drop=True),
        check_dtype=False,
    )
    assert extras["index_meta"]["street"]["preset"] == cfg.preset

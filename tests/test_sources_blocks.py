"""Tests of equity.sources.blocks: 2020 blocks in their published layouts, and block speeds.

Counts are checked on the real files of ../shared/data (Address Count Listing, P.L. 94-171
Hawaii, UVA's tiles joined to Virginia blocks); geometry on generated tabblock20 zips.
"""

from __future__ import annotations

import lzma

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _blocks import split_blockgroups, write_tabblock20
from _geographies import make_blockgroups

from equity import geographies, sources
from equity.errors import SchemaError
from equity.sources.blocks import is_block_speeds


@pytest.fixture(scope="module")
def va_blocks(shared_data):
    return sources.read_blocks(
        shared_data / "blocks" / "va_bl_abc_2021_address_block_counts.csv.xz"
    )


def test_address_count_listing_totals_match_the_file_and_nest_in_block_groups(
    va_blocks, shared_data
) -> None:
    b = va_blocks
    assert b.attrs["layout"] == "address_count_long" and b.attrs["geometry"] == "none"
    # the file's TOTAL rows (dropped) equal the sum of its blocks: the 2020 Census count
    assert b["housing_units"].sum() == 3_618_247
    assert b["group_quarters"].sum() == 4_365
    assert b["GEOID"].str.fullmatch(r"51\d{13}").all() and b["GEOID"].is_unique
    assert (b["blockgroup_GEOID"] == b["GEOID"].str[:12]).all()
    # the blocks' block groups are the 2020 block groups of the ACS (same vintage)
    acs = sources.read_acs(
        shared_data / "acs" / "acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"
    )
    by_bg = b.groupby("blockgroup_GEOID")["housing_units"].sum()
    assert set(by_bg.index) <= set(acs["GEOID"])
    assert len(set(acs["GEOID"]) - set(by_bg.index)) <= 12  # the water-only block groups
    hh = acs.set_index("GEOID")["B28002_001E"].reindex(by_bg.index)
    # housing units hold the households (a few percent are vacant)
    assert 0.85 < hh.sum() / by_bg.sum() < 0.95
    empty_hu = by_bg[by_bg == 0].index
    assert (hh.reindex(empty_hu).fillna(0) <= 20).all()


def test_every_state_file_reads_and_sums_to_its_total(shared_data) -> None:
    for st in ("dc", "de", "hi", "ak"):
        path = shared_data / "blocks" / f"{st}_bl_abc_2021_address_block_counts.csv.xz"
        raw = pd.read_csv(path, dtype=str)
        total = raw.loc[raw["geoid"] == "TOTAL"].set_index("measure")["value"].astype(float)
        b = sources.read_blocks(path)
        assert b["housing_units"].sum() == total["total_housing_units"]
        assert b["GEOID"].str.len().eq(15).all()


def test_truncated_long_file_is_refused(tmp_path, shared_data) -> None:
    src = shared_data / "blocks" / "dc_bl_abc_2021_address_block_counts.csv.xz"
    lines = lzma.decompress(src.read_bytes()).decode().splitlines()
    bad = tmp_path / "dc_cut.csv"
    bad.write_text("\n".join(lines[:200] + [ln for ln in lines if ln.startswith("TOTAL")]) + "\n")
    with pytest.raises(SchemaError, match="TOTAL"):
        sources.read_blocks(bad)


def test_pl94171_hawaii_population(shared_data) -> None:
    hi = sources.read_blocks(shared_data / "blocks" / "hi_2020_block.csv")
    assert hi.attrs["layout"] == "pl94171"
    assert hi["population"].sum() == 1_455_271  # Hawaii, 2020 Census
    assert "housing_units" not in hi
    acl = sources.read_blocks(shared_data / "blocks" / "hi_bl_abc_2021_address_block_counts.csv.xz")
    both = sources.merge_blocks([hi, acl])
    assert both["population"].sum() == 1_455_271
    assert {"housing_units", "population"} <= set(both.columns)
    assert both["GEOID"].is_unique


def test_tabblock20_zip_polygons_and_points(tmp_path) -> None:
    bg = make_blockgroups()
    gen = split_blockgroups(bg, n=3, seed=1)
    path = write_tabblock20(gen, tmp_path)
    b = sources.read_blocks(path)
    assert b.attrs["layout"] == "tabblock20" and b.attrs["geometry"] == "polygon"
    assert isinstance(b, gpd.GeoDataFrame) and b.crs.to_epsg() == 4326
    assert b["housing_units"].sum() == gen["HOUSING20"].sum()
    assert b["population"].sum() == gen["POP20"].sum()
    import shapely

    expect = shapely.point_on_surface(gen.geometry.to_crs(4269).to_numpy())
    assert np.allclose(b["intpt_lat"], shapely.get_y(expect), atol=1e-6)
    # the attribute table alone, with internal points
    table = pd.DataFrame(gpd.read_file(f"/vsizip/{path}").drop(columns="geometry"))
    csv = tmp_path / "blocks_points.csv"
    table.to_csv(csv, index=False)
    pts = sources.read_blocks(csv)
    assert pts.attrs["geometry"] == "point" and pts.attrs["layout"] == "tabblock20_points"
    assert np.allclose(pts.geometry.x, b["intpt_lon"])


def test_bad_block_files(tmp_path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("GEOID20,HOUSING20\n510010001001000,-3\n")
    with pytest.raises(SchemaError, match="negative"):
        sources.read_blocks(f)
    f.write_text("GEOID20,HOUSING20\n510010001001000,3\n510010001001000,4\n")
    with pytest.raises(SchemaError, match="twice"):
        sources.read_blocks(f)
    f.write_text("id,value\n1,2\n")
    with pytest.raises(SchemaError, match="not a 2020 block file"):
        sources.read_blocks(f)
    f.write_text("GEOID20,HOUSING20\n51001A,3\n")
    with pytest.raises(SchemaError, match="not digit codes"):
        sources.read_blocks(f)


def test_block_speeds_count_each_tile_once(shared_data, va_blocks) -> None:
    path = shared_data / "ookla" / "va_blocks_2022" / "51001.csv.xz"
    assert is_block_speeds(path) and is_block_speeds(path.parent)
    rows = sources.read_block_speeds(path)
    assert rows["block_GEOID"].str.startswith("51001").all()
    tiles = rows.drop_duplicates("tile_key")
    assert len(tiles) == rows.attrs["n_tiles"]
    ids = rows["block_GEOID"].drop_duplicates()
    keys = pd.Series(ids.str[:12].to_numpy(), index=ids.to_numpy())
    for blocks in (None, va_blocks):
        bg = geographies.block_speeds(rows, keys, blocks=blocks)
        # tests are shared among a tile's blocks, not repeated: the county total is the tiles'
        assert bg["ookla_tests"].sum() == pytest.approx(tiles["tests"].sum(), rel=1e-12)
        assert (
            bg["download_mbps"]
            .between(rows["download_mbps"].min(), rows["download_mbps"].max())
            .all()
        )
    naive = rows.groupby("block_GEOID")["tests"].sum().sum()
    assert naive > 1.5 * tiles["tests"].sum()  # summing rows would count tiles many times

"""The readers on the bundled sample region (the files `equity run` reads), and the doctests."""

from __future__ import annotations

import doctest
import importlib
import shutil
from pathlib import Path

import pytest

import equity
from equity import settings, sources


def test_sample_files_read_per_contract(sample_paths: dict[str, Path]) -> None:
    for key in ("state", "county", "tract", "blockgroup", "town"):
        gdf = sources.read_boundaries(sample_paths[key])
        assert list(gdf.columns[:4]) == ["GEOID", "NAME", "level", "vintage"]
        assert gdf.crs.to_epsg() == 4326 and gdf["GEOID"].is_unique
        assert (gdf["level"] == ("town" if key == "town" else key)).all()
    bg = sources.read_boundaries(sample_paths["blockgroup"])
    acs_df = sources.read_acs(sample_paths["acs"])
    assert acs_df["GEOID"].isin(bg["GEOID"]).all() and acs_df.attrs["level"] == "blockgroup"
    tiles = sources.read_ookla(sample_paths["ookla"])
    assert {"quadkey", "download_mbps", "upload_mbps", "latency_ms", "tests", "devices"} <= set(
        tiles.columns
    )
    usage = sources.read_broadband_usage(sample_paths["usage"])
    county = sources.read_boundaries(sample_paths["county"])
    assert set(usage["GEOID"]) == set(county["GEOID"])
    cbp = sources.read_business_patterns(sample_paths["business"], naics="------")
    assert cbp["GEOID"].isin(county["GEOID"]).all()
    libs = sources.read_libraries(sample_paths["libraries"])
    assert libs["county_GEOID"].dropna().isin(county["GEOID"]).all()
    for key, kinds in (("schools", {"school"}), ("anchors", None)):
        pts = sources.read_anchors(sample_paths[key])
        assert list(pts.columns[:3]) == ["anchor_id", "name", "kind"]
        if kinds is not None:
            assert set(pts["kind"]) == kinds
    for path in sample_paths.values():
        assert sources.validate(path) == [], path


@pytest.mark.parametrize(
    "name", ["acs", "anchors", "boundaries", "broadband", "business", "ookla", "validate"]
)
def test_docstring_examples(
    name: str,
    sample_paths: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the examples call equity.sample.sample_paths(): seed its cache with the session's copy
    cache = tmp_path_factory.getbasetemp() / "doctest-cache"
    target = cache / f"sample-{equity.__version__}-{settings.seed}"
    if not target.exists():
        shutil.copytree(next(iter(sample_paths.values())).parent, target)
    monkeypatch.setattr(settings, "cache_folder", cache)
    # equity.sources.validate is also the name of the function: import the module by path
    module = importlib.import_module(f"equity.sources.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0

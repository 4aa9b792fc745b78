"""Tests of equity.hotspots: local Moran's I, Gi*, FDR, suppression, weights."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from equity.errors import ConfigError, DataError, SchemaError
from equity.hotspots import benjamini_hochberg, local_hotspots, spatial_weights


def _grid(values: np.ndarray, side: int, **cols) -> gpd.GeoDataFrame:
    cells = [box(i, j, i + 1, j + 1) for i in range(side) for j in range(side)]
    return gpd.GeoDataFrame(
        {"GEOID": [f"{k:04d}" for k in range(side * side)], "equity_index": values, **cols},
        geometry=cells,
        crs="EPSG:4326",
    )


def _corner(side: int = 8, block: int = 3, seed: int = 0) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    ij = np.array([(i, j) for i in range(side) for j in range(side)])
    hot = (ij[:, 0] < block) & (ij[:, 1] < block)
    values = np.where(hot, 80.0, 20.0) + rng.normal(0, 2, side * side)
    return _grid(values, side), hot


def test_moran_finds_the_high_cluster():
    gdf, hot = _corner()
    out = local_hotspots(gdf, permutations=499, seed=1)
    assert out["GEOID"].tolist() == gdf["GEOID"].tolist()
    # the interior of the hot block is High-High; nothing outside it is
    assert (out.loc[hot, "hotspot"] == "High-High").sum() >= 4
    assert not (out.loc[~hot, "hotspot"] == "High-High").any()
    assert set(out["hotspot"]) <= {
        "High-High",
        "Low-Low",
        "High-Low",
        "Low-High",
        "not significant",
    }
    assert out["hotspot_p"].between(0, 1).all()
    meta = out.attrs["hotspots"]
    assert meta["weights"] == "queen" and meta["n_tested"] == 64


def test_gi_star_hot_spots_inside_the_block():
    gdf, hot = _corner()
    out = local_hotspots(gdf, method="gi", permutations=499, seed=1)
    assert (out.loc[hot, "hotspot"] == "hot spot").sum() >= 4
    assert not (out.loc[~hot, "hotspot"] == "hot spot").any()
    assert set(out["hotspot"]) <= {"hot spot", "cold spot", "not significant"}
    # hot spots have positive z, cold spots negative
    assert (out.loc[out["hotspot"] == "hot spot", "hotspot_stat"] > 0).all()
    assert (out.loc[out["hotspot"] == "cold spot", "hotspot_stat"] < 0).all()


def test_fdr_is_never_more_permissive_and_noise_has_few_clusters():
    rng = np.random.default_rng(5)
    gdf = _grid(rng.random(100), 10)
    raw = local_hotspots(gdf, fdr=False, permutations=199, seed=2)
    fdr = local_hotspots(gdf, fdr=True, permutations=199, seed=2)
    assert fdr["hotspot_significant"].sum() <= raw["hotspot_significant"].sum()
    assert fdr["hotspot_significant"].sum() <= 5
    assert (fdr["hotspot_significant"] <= raw["hotspot_significant"]).all()


def test_suppression_and_missing_values():
    gdf, _ = _corner()
    gdf["population"] = 1000.0
    gdf.loc[[0, 5], "population"] = 20.0
    gdf.loc[7, "equity_index"] = np.nan
    before = gdf.copy()
    out = local_hotspots(gdf, permutations=99, seed=1, min_population=100)
    pd.testing.assert_frame_equal(gdf, before)
    assert out.loc[[0, 5], "hotspot"].tolist() == ["suppressed", "suppressed"]
    assert out.loc[7, "hotspot"] == "no data"
    assert out.loc[[0, 5, 7], "hotspot_p"].isna().all()
    assert out.attrs["hotspots"]["n_tested"] == 61


def test_benjamini_hochberg_matches_esda_fdr():
    from esda import fdr as esda_fdr

    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0, 0.003, 10), rng.uniform(0, 1, 90)])
    mine = benjamini_hochberg(p, alpha=0.05)
    assert mine.sum() >= 10
    np.testing.assert_array_equal(mine, p <= esda_fdr(p, 0.05))
    assert not benjamini_hochberg([np.nan, 0.9]).any()


def _bh_step_up(pvalues, alpha):
    """The hand-written Benjamini-Hochberg step-up rule the scipy version replaced."""
    p = np.asarray(pvalues, dtype=float)
    ok = np.isfinite(p)
    m = int(ok.sum())
    out = np.zeros(p.shape, dtype=bool)
    if m == 0:
        return out
    ps = np.sort(p[ok])
    below = ps <= alpha * np.arange(1, m + 1) / m
    if below.any():
        out[ok] = p[ok] <= ps[np.flatnonzero(below).max()]
    return out


def test_benjamini_hochberg_equals_the_step_up_rule_with_ties_and_nan():
    rng = np.random.default_rng(5)
    significant = 0
    for trial in range(3000):
        m = int(rng.integers(1, 80))
        p = rng.random(m) ** rng.uniform(1, 6)  # from mostly large to mostly tiny p-values
        if trial % 3 == 1:
            p = np.repeat(p[: max(1, m // 3)], 3)  # ties
        if trial % 4 == 2:
            p = np.round(p, 3)  # ties on a grid
        if trial % 5 < 2:
            p[rng.random(p.size) < 0.2] = np.nan
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        got = benjamini_hochberg(p, alpha=alpha)
        np.testing.assert_array_equal(got, _bh_step_up(p, alpha))
        assert not got[np.isnan(p)].any()
        significant += int(got.sum())
    assert significant > 10_000  # the comparison is not between empty masks
    assert benjamini_hochberg([]).shape == (0,)
    assert not benjamini_hochberg([np.nan, np.nan]).any()


def test_benjamini_hochberg_counts_p_values_on_the_line_as_significant():
    # pseudo p-values j / 1000 (999 permutations) can equal k * alpha / m exactly, where
    # p <= k alpha / m holds; plain floating point gets some of these wrong either way
    # (m p / k a hair above alpha for m=50, k=17; alpha k / m a hair below p for m=86, k=43)
    for m, k, j, alpha in [(50, 17, 17, 0.05), (86, 43, 25, 0.05), (100, 2, 1, 0.05)]:
        p = np.full(m, 0.99)
        p[:k] = j / 1000
        got = benjamini_hochberg(p, alpha=alpha)
        assert got[:k].all() and not got[k:].any()
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        benjamini_hochberg([0.1, 1.5])


def test_points_use_nearest_neighbours_and_islands_are_attached():
    pts = gpd.GeoDataFrame(
        {"GEOID": list("abcdefghij"), "equity_index": np.arange(10.0)},
        geometry=[Point(i, i % 3) for i in range(10)],
        crs="EPSG:4326",
    )
    w = spatial_weights(pts)
    assert w.kind == "knn6" and min(w.cardinalities.values()) == 6
    out = local_hotspots(pts, permutations=99, seed=1)
    assert len(out) == 10
    polys = _grid(np.arange(9.0), 3)
    island = gpd.GeoDataFrame(
        {"GEOID": ["isl"], "equity_index": [5.0]}, geometry=[box(10, 10, 11, 11)], crs="EPSG:4326"
    )
    both = pd.concat([polys, island], ignore_index=True)
    w = spatial_weights(both)
    assert "islands attached" in w.kind and not w.islands


def test_bad_input_errors():
    gdf, _ = _corner()
    with pytest.raises(ConfigError, match="moran, gi"):
        local_hotspots(gdf, method="lisa")
    with pytest.raises(SchemaError, match="nope"):
        local_hotspots(gdf, column="nope")
    with pytest.raises(ConfigError, match="alpha"):
        local_hotspots(gdf, alpha=1.5)


@pytest.mark.shared_data
def test_real_counties_run_fast(shared_data):
    counties = gpd.read_file(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    usage = pd.read_csv(
        shared_data / "broadband/microsoft_broadband_data_2020October.csv",
        dtype=str,
        skipinitialspace=True,
    )
    usage.columns = [c.strip() for c in usage.columns]
    usage["GEOID"] = usage["COUNTY ID"].str.strip().str.zfill(5)
    usage["need"] = 100 * (1 - pd.to_numeric(usage["BROADBAND USAGE"].str.strip(), errors="coerce"))
    region = counties[counties["STATEFP"].isin(["51", "37", "47", "54", "21", "24"])]
    gdf = region.merge(usage[["GEOID", "need"]], on="GEOID", how="left").to_crs(4326)
    assert len(gdf) > 450
    t0 = time.perf_counter()
    out = local_hotspots(gdf, column="need", permutations=999, seed=1)
    elapsed = time.perf_counter() - t0
    assert elapsed < 20  # a fraction of a second on an idle machine, without numba
    counts = out["hotspot"].value_counts()
    # broadband usage is strongly clustered (Appalachia): both cluster types are found
    assert counts.get("High-High", 0) > 10 and counts.get("Low-Low", 0) > 10


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "path",
    [
        "boundaries/va/cb_2020_51_bg_500k.shp",
        "boundaries/va/cb_2020_51_tract_500k.shp",
        "boundaries/us/cb_2018_us_county_20m.shp",
    ],
)
def test_queen_neighbours_equal_libpysal_queen_on_real_boundaries(shared_data, path, monkeypatch):
    import warnings

    from libpysal import weights as lw

    from equity import hotspots
    from equity.hotspots import queen_neighbours

    gdf = gpd.read_file(shared_data / path)
    ours = queen_neighbours(np.asarray(gdf.geometry.array))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal: disconnected components
        ref = lw.Queen.from_dataframe(gdf, use_index=False)
    assert sorted(ours) == list(range(len(gdf)))
    assert all(ours[i] == sorted(ref.neighbors[i]) for i in range(len(gdf)))
    assert sum(map(len, ours.values())) == ref.s0 > 4 * len(gdf)  # not empty lists
    # the hot spots are those of libpysal's Queen weights (same seed, same draws)
    # need rising from east to west, with noise: clusters at both ends
    x = gdf.geometry.representative_point().x.to_numpy()
    noise = np.random.default_rng(3).normal(0, 0.2, len(gdf))
    gdf["equity_index"] = 100 * (x.max() - x) / (x.max() - x.min()) * (1 + noise)
    got = local_hotspots(gdf, permutations=199, seed=2)
    monkeypatch.setattr(hotspots, "queen_neighbours", lambda g: dict(ref.neighbors))
    want = local_hotspots(gdf, permutations=199, seed=2)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["hotspot"].isin(["High-High", "Low-Low"]).any()


def test_queen_neighbours_of_touching_corners_holes_and_islands():
    from equity.hotspots import queen_neighbours

    ring = box(0, 0, 3, 3).difference(box(1, 1, 2, 2))
    geoms = np.array([ring, box(1, 1, 2, 2), box(3, 3, 4, 4), box(10, 10, 11, 11), box(3, 0, 4, 1)])
    # the hole's filler shares the hole's vertices; (3, 3) is a corner shared by 0 and 2
    assert queen_neighbours(geoms) == {0: [1, 2, 4], 1: [0], 2: [0], 3: [], 4: [0]}
    assert queen_neighbours(geoms[:1]) == {0: []}

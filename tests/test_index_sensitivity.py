"""The candidates' rank range across the index's weight and normalisation variants."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point

from equity.index import compute_index, index_variants
from equity.placement import rank_candidates


def _places(n=40, seed=1):
    rng = np.random.default_rng(seed)
    t = pd.DataFrame(
        {
            "GEOID": [
                f"{s}{i:03d}" for s, i in zip(rng.choice(["01", "02"], n), range(n), strict=True)
            ],  # fmt: skip
            "share_no_internet": rng.uniform(0, 0.4, n),
            "share_no_computer": rng.uniform(0, 0.3, n),
            "median_household_income": rng.uniform(2e4, 1.5e5, n),
            "population": rng.integers(500, 5000, n).astype(float),
        }
    ).assign(state_GEOID=lambda d: d["GEOID"].str[:2])
    out = compute_index(t, n_draws=0)
    geo = [Point(-80 + rng.uniform(0, 4), 37 + rng.uniform(0, 2)) for _ in range(n)]
    return gpd.GeoDataFrame(out, geometry=geo, crs=4326)


def test_candidates_carry_their_rank_range_across_variants():
    places = _places()
    cands = rank_candidates(places, k=1)
    assert {"rank_best", "rank_worst"} <= set(cands.columns)
    assert (cands["rank_best"] <= cands["rank"]).all()
    assert (cands["rank"] <= cands["rank_worst"]).all()
    # by hand: every variant's combined score, ranked within the state
    w = cands.attrs["placement"]["weights"]
    variants = index_variants(places).set_index(places["GEOID"]).loc[cands["GEOID"]]
    combos = [
        w["need"] * variants[c].to_numpy() + w["readiness"] * cands["readiness_score"].to_numpy()
        + w["reach"] * cands["reach_score"].to_numpy()
        for c in variants.columns
    ]  # fmt: skip
    for name in ("need", "readiness", "reach"):  # each score weight halved
        w2 = dict(w, **{name: w[name] / 2})
        combos.append(sum(w2[k] * cands[f"{k}_score"].to_numpy() for k in w2))
    best = cands["rank"].to_numpy().copy()
    worst = best.copy()
    for combo in combos:
        rank = (
            pd.Series(combo).groupby(cands["state_GEOID"].to_numpy())
            .rank(ascending=False, method="first").to_numpy()
        )  # fmt: skip
        best, worst = np.minimum(best, rank), np.maximum(worst, rank)
    np.testing.assert_array_equal(cands["rank_best"].to_numpy(), best)
    np.testing.assert_array_equal(cands["rank_worst"].to_numpy(), worst)
    assert (cands["rank_worst"] > cands["rank_best"]).any()  # the variants do move ranks


def test_rank_range_without_the_index_indicators_uses_pillar_scores():
    places = gpd.GeoDataFrame(
        {"GEOID": ["51001", "51003", "51005"], "NAME": ["A", "B", "C"],
         "population": [4000, 5000, 3000], "equity_index": [80.0, 40.0, 60.0]},
        geometry=[Point(-77, 37), Point(-78, 38), Point(-79, 37.5)], crs=4326,
    )  # fmt: skip
    out = rank_candidates(places, k=1)
    assert (out["rank_best"] <= out["rank"]).all() and (out["rank"] <= out["rank_worst"]).all()

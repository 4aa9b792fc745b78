"""Tests of equity.placement: scores, selection modes, explanations, errors; real Virginia data."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point, box

from equity import settings
from equity.errors import ChoiceError, PlacementError, SchemaError
from equity.placement import (
    PlacementOptions,
    coverage_matrix,
    greedy_coverage,
    haversine_km,
    rank_candidates,
    solve_mclp,
    spacing_conflicts,
)
from equity.placement import coverage as placement_coverage

# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


def make_places(n_per_state: int = 12, seed: int = 0) -> gpd.GeoDataFrame:
    """Two states of ``n_per_state`` square towns on a grid (0.3 degrees apart)."""
    rng = np.random.default_rng(seed)
    rows = []
    for st, x0 in (("51", -80.0), ("54", -82.5)):
        for i in range(n_per_state):
            x = x0 + (i % 4) * 0.3
            y = 37.0 + (i // 4) * 0.3
            idx = float(rng.uniform(5, 95))
            rows.append(
                {
                    "GEOID": f"{st}{i:03d}",
                    "NAME": f"Town {st}-{i}",
                    "state_GEOID": st,
                    "population": float(rng.integers(500, 5000)),
                    "households": float(rng.integers(200, 2000)),
                    "equity_index": idx,
                    "equity_index_lo": max(idx - 15, 0),
                    "equity_index_hi": min(idx + 15, 100),
                    "rank_lo": 1.0,
                    "rank_hi": 9.0,
                    "score_access": float(rng.uniform(0, 100)),
                    "score_affordability": float(rng.uniform(0, 100)),
                    "score_devices_skills": float(rng.uniform(0, 100)),
                    "norm_share_no_internet": float(rng.uniform(0, 100)),
                    "norm_share_no_computer": float(rng.uniform(0, 100)),
                    "norm_share_below_poverty": float(rng.uniform(0, 100)),
                    "norm_share_65_plus": float(rng.uniform(0, 100)),
                    "geometry": box(x, y, x + 0.25, y + 0.25),
                }
            )
    return gpd.GeoDataFrame(rows, crs=4326)


@pytest.fixture
def places() -> gpd.GeoDataFrame:
    return make_places()


@pytest.fixture
def anchors() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"kind": ["library", "school", "college", "library", "nonprofit"]},
        geometry=[
            Point(-79.9, 37.1),
            Point(-79.5, 37.5),
            Point(-82.4, 37.2),
            Point(-82.0, 37.6),
            Point(-79.1, 37.7),
        ],
        crs=4326,
    )


def selected_per_state(out: pd.DataFrame) -> pd.Series:
    return out.groupby("state_GEOID")["selected"].sum()


def covered(cov: np.ndarray, w: np.ndarray, chosen: np.ndarray) -> float:
    return float(w[cov[:, chosen].any(axis=1)].sum())


# --------------------------------------------------------------------------------------------
# distances and coverage helpers
# --------------------------------------------------------------------------------------------


def test_haversine_known_distance_and_symmetry():
    # one degree of latitude is ~111.2 km everywhere
    assert haversine_km(-78, 37, -78, 38) == pytest.approx(111.19, abs=0.05)
    a = haversine_km(-77.4, 37.5, np.array([-76.3, -80.0]), np.array([36.9, 37.3]))
    b = haversine_km(np.array([-76.3, -80.0]), np.array([36.9, 37.3]), -77.4, 37.5)
    np.testing.assert_allclose(a, b)
    assert haversine_km(-77, 37, -77, 37) == 0


def test_coverage_matrix_matches_distances_and_chunking(monkeypatch):
    rng = np.random.default_rng(1)
    o = np.column_stack([rng.uniform(-80, -76, 50), rng.uniform(36, 39, 50)])
    t = np.column_stack([rng.uniform(-80, -76, 70), rng.uniform(36, 39, 70)])
    full = haversine_km(o[:, None, 0], o[:, None, 1], t[None, :, 0], t[None, :, 1]) <= 100
    monkeypatch.setattr(placement_coverage, "_CHUNK_ELEMENTS", 100)  # forces many chunks
    np.testing.assert_array_equal(coverage_matrix(o, t, radius_km=100), full)


def test_coverage_matrix_is_exact_at_the_edge():
    rng = np.random.default_rng(3)
    o = np.column_stack([rng.uniform(-180, 180, 60), rng.uniform(-90, 90, 60)])
    t = np.column_stack([rng.uniform(-180, 180, 80), rng.uniform(-90, 90, 80)])
    t[:5] = o[:5]  # identical points
    t[5:10] = np.column_stack([o[5:10, 0] - 180.0, -o[5:10, 1]])  # antipodes
    t[10] = [o[10, 0] + 360.0, o[10, 1]]  # the same point, written another way
    t[11:13] = [[0.0, 90.0], [0.0, -90.0]]  # the poles
    d = haversine_km(o[:, None, 0], o[:, None, 1], t[None, :, 0], t[None, :, 1])
    # every radius that is exactly one of the distances puts that pair on the edge
    radii = [0.0, 1e-9, 25.0, 20015.086796020572, float(np.pi * 6371.0088), 1e6]
    radii += (
        rng.choice(d.ravel(), 40, replace=False).tolist()
        + d[np.arange(5, 10), np.arange(5, 10)].tolist()
    )
    for r in radii:
        np.testing.assert_array_equal(
            coverage_matrix(o, t, radius_km=r), d <= r, err_msg=f"r={r!r}"
        )
    for r in (-1.0, float("nan")):
        assert not coverage_matrix(o, t, radius_km=r).any()


def test_spacing_conflicts_match_the_distance_matrix():
    rng = np.random.default_rng(4)
    xy = np.column_stack([rng.uniform(-79, -78, 30), rng.uniform(37, 38, 30)])
    xy[7] = xy[3]  # a duplicate site conflicts with any positive spacing
    dd = haversine_km(xy[:, None, 0], xy[:, None, 1], xy[None, :, 0], xy[None, :, 1])
    for s in [30.0, float(dd[0, 1]), float(dd[2, 5]), 1e-9]:
        a, b = np.nonzero(np.triu(dd < s, k=1))
        np.testing.assert_array_equal(spacing_conflicts(xy, s), np.column_stack([a, b]))
    assert spacing_conflicts(xy, 0.0).shape == (0, 2)


def brute_force(cov: np.ndarray, w: np.ndarray, k: int, pre=(), conflicts=()) -> float:
    best = -1.0
    bad = {tuple(sorted(p)) for p in conflicts}
    for combo in itertools.combinations(range(cov.shape[1]), k):
        if not set(pre) <= set(combo):
            continue
        if any(
            tuple(sorted(p)) in bad and not (p[0] in pre and p[1] in pre)
            for p in itertools.combinations(combo, 2)
        ):
            continue
        best = max(best, covered(cov, w, np.array(combo)))
    return best


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("backend", ["spopt", "pulp"])
def test_mclp_equals_brute_force_and_beats_greedy(seed, backend):
    rng = np.random.default_rng(seed)
    dem = np.column_stack([rng.uniform(-79, -78, 40), rng.uniform(37, 38, 40)])
    cand = np.column_stack([rng.uniform(-79, -78, 12), rng.uniform(37, 38, 12)])
    cost = haversine_km(dem[:, None, 0], dem[:, None, 1], cand[None, :, 0], cand[None, :, 1])
    w = rng.uniform(0, 100, 40)
    cov = cost <= 20
    chosen = solve_mclp(cost, w, radius_km=20, k=3, backend=backend)
    assert len(chosen) == 3
    greedy = greedy_coverage(cov, w, k=3)
    assert covered(cov, w, chosen) == pytest.approx(brute_force(cov, w, 3))
    assert covered(cov, w, chosen) >= covered(cov, w, greedy) - 1e-9


@pytest.mark.parametrize("backend", ["spopt", "pulp"])
def test_mclp_predefined_and_spacing_equal_brute_force(backend):
    rng = np.random.default_rng(7)
    dem = np.column_stack([rng.uniform(-79, -78, 40), rng.uniform(37, 38, 40)])
    cand = np.column_stack([rng.uniform(-79, -78, 12), rng.uniform(37, 38, 12)])
    cost = haversine_km(dem[:, None, 0], dem[:, None, 1], cand[None, :, 0], cand[None, :, 1])
    dd = haversine_km(cand[:, None, 0], cand[:, None, 1], cand[None, :, 0], cand[None, :, 1])
    a, b = np.nonzero(np.triu(dd < 30, k=1))
    conflicts = np.column_stack([a, b])
    assert len(conflicts) > 0
    w = rng.uniform(0, 100, 40)
    cov = cost <= 20
    chosen = solve_mclp(
        cost, w, radius_km=20, k=3, predefined=[5], conflicts=conflicts, backend=backend
    )
    assert 5 in chosen
    for i, j in itertools.combinations(chosen, 2):
        assert dd[i, j] >= 30 or (i == 5 and j == 5)
    assert covered(cov, w, chosen) == pytest.approx(
        brute_force(cov, w, 3, pre=(5,), conflicts=conflicts.tolist())
    )
    greedy = greedy_coverage(cov, w, k=3, predefined=[5], conflicts=conflicts)
    assert 5 in greedy
    assert covered(cov, w, chosen) >= covered(cov, w, greedy) - 1e-9


def test_greedy_takes_largest_gain_first():
    cov = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
    w = np.array([5.0, 1.0, 2.0, 4.0])
    # site 2 covers 9, then site 1 adds 3 (site 0 would add 1)
    assert greedy_coverage(cov, w, k=2).tolist() == [1, 2]


def test_mclp_infeasible_spacing_is_a_clear_error():
    cost = np.zeros((3, 3))
    conflicts = np.array([[0, 1], [0, 2], [1, 2]])
    with pytest.raises(PlacementError, match="spacing"):
        solve_mclp(cost, np.ones(3), radius_km=1, k=2, conflicts=conflicts)


# --------------------------------------------------------------------------------------------
# rank_candidates: modes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_gives_exactly_k_per_state_the_best_ranked(places, anchors, k):
    out = rank_candidates(places, anchors=anchors, k=k, radius_km=30)
    assert (selected_per_state(out) == k).all()
    assert (out.loc[out["selected"], "rank"] <= k).all()
    # ranks are 1..n within each state and follow the combined score
    for _, grp in out.groupby("state_GEOID"):
        assert sorted(grp["rank"]) == list(range(1, len(grp) + 1))
        assert grp.sort_values("rank")["combined_score"].is_monotonic_decreasing


def test_top_national(places):
    out = rank_candidates(places, k=3, per_state=False, radius_km=30)
    assert out["selected"].sum() == 3
    best = out.nlargest(3, "combined_score")["GEOID"]
    assert set(out.loc[out["selected"], "GEOID"]) == set(best)


def test_scores_in_range_and_combined_is_weighted_mean(places, anchors):
    weights = {"need": 2.0, "readiness": 1.0, "reach": 1.0}
    out = rank_candidates(places, anchors=anchors, radius_km=30, weights=weights)
    for col in ("need_score", "readiness_score", "reach_score", "combined_score"):
        assert out[col].between(0, 100).all(), col
    expected = 0.5 * out["need_score"] + 0.25 * out["readiness_score"] + 0.25 * out["reach_score"]
    np.testing.assert_allclose(out["combined_score"], expected)
    np.testing.assert_allclose(out["need_score"], out["equity_index"])


def test_reach_and_anchor_counts_match_a_direct_computation(places, anchors):
    out = rank_candidates(places, anchors=anchors, radius_km=30).set_index("GEOID")
    cent = places.to_crs(6933).centroid.to_crs(4326)
    xy = np.column_stack([cent.x, cent.y])
    d = haversine_km(xy[:, None, 0], xy[:, None, 1], xy[None, :, 0], xy[None, :, 1])
    need = places["population"].to_numpy() * places["equity_index"].to_numpy() / 100
    reach = (d <= 30) @ need
    np.testing.assert_allclose(out.loc[places["GEOID"], "reach_need_population"], reach)
    da = haversine_km(
        xy[:, None, 0],
        xy[:, None, 1],
        anchors.geometry.x.to_numpy()[None],
        anchors.geometry.y.to_numpy()[None],
    )
    libs = ((da <= 30) & (anchors["kind"] == "library").to_numpy()[None]).sum(axis=1)
    np.testing.assert_array_equal(out.loc[places["GEOID"], "n_library"], libs)
    np.testing.assert_array_equal(out.loc[places["GEOID"], "n_anchors"], (da <= 30).sum(axis=1))
    # a candidate with a library nearby is readier than an equal one without
    has = out["n_anchors"] > 0
    assert out.loc[has, "readiness_score"].min() > out.loc[~has, "readiness_score"].max()


def test_demand_table_is_used_for_reach(places):
    demand = gpd.GeoDataFrame(
        {
            "GEOID": ["510000000001"],
            "state_GEOID": ["51"],
            "population": [10000.0],
            "equity_index": [50.0],
        },
        geometry=[Point(-79.9, 37.1)],
        crs=4326,
    )
    out = rank_candidates(places, demand=demand, radius_km=20)
    near = out["reach_need_population"] > 0
    assert out.loc[near, "reach_need_population"].eq(5000).all()
    assert near.sum() >= 1 and (~near).sum() >= 1


@pytest.mark.parametrize("mode", ["top", "coverage", "robust"])
def test_existing_sites_are_always_kept(places, mode):
    # pick a weak candidate: the lowest combined score in state 54
    base = rank_candidates(places, radius_km=30)
    weak = base[base["state_GEOID"] == "54"].sort_values("rank")["GEOID"].iloc[-1]
    out = rank_candidates(places, mode=mode, k=2, radius_km=30, existing_sites=[weak])
    assert out.set_index("GEOID").loc[weak, "selected"]
    assert out.set_index("GEOID").loc[weak, "existing"]
    assert (selected_per_state(out) == 2).all()


def test_excluding_existing_sites(places):
    out = rank_candidates(
        places, mode="coverage", k=1, radius_km=30, existing_sites=["51000"], keep_existing=False
    )
    assert "51000" not in set(out["GEOID"])
    assert (selected_per_state(out) == 1).all()


def test_coverage_at_least_greedy_and_chosen_sites_are_spaced(places):
    out = rank_candidates(places, mode="coverage", k=2, radius_km=25, min_spacing_km=45)
    assert (selected_per_state(out) == 2).all()
    for row in out.attrs["placement"]["coverage"]:
        assert row["covered_need_population"] >= row["greedy_need_population"] - 1e-6
        assert row["covered_need_population"] <= row["total_need_population"] + 1e-6
    for _, grp in out[out["selected"]].groupby("state_GEOID"):
        (x1, y1), (x2, y2) = grp[["longitude", "latitude"]].to_numpy()
        assert haversine_km(x1, y1, x2, y2) >= 45


def test_coverage_national(places):
    out = rank_candidates(places, mode="coverage", k=3, per_state=False, radius_km=25)
    assert out["selected"].sum() == 3
    (row,) = out.attrs["placement"]["coverage"]
    assert row["covered_need_population"] >= row["greedy_need_population"] - 1e-6


def test_robust_counts_and_zero_uncertainty_equals_top(places):
    n_draws = 30
    draws = np.repeat(places["equity_index"].to_numpy()[:, None], n_draws, axis=1)
    robust = rank_candidates(places, mode="robust", k=2, radius_km=30, draws=draws)
    top = rank_candidates(places, mode="top", k=2, radius_km=30)
    assert set(robust.loc[robust["selected"], "GEOID"]) == set(top.loc[top["selected"], "GEOID"])
    assert robust.groupby("state_GEOID")["times_selected"].sum().eq(2 * n_draws).all()
    assert robust["share_selected"].between(0, 1).all()
    chosen = robust.loc[robust["selected"], "share_selected"]
    assert (chosen == 1).all()


def test_robust_default_draws_are_seeded(places):
    a = rank_candidates(places, mode="robust", k=1, radius_km=30, seed=3)
    b = rank_candidates(places, mode="robust", k=1, radius_km=30, seed=3)
    assert_geodataframe_equal(a, b)
    # the most often chosen candidate is selected in each state
    for _, grp in a.groupby("state_GEOID"):
        assert grp.loc[grp["selected"], "times_selected"].iloc[0] == grp["times_selected"].max()


def test_robust_over_coverage(places):
    rng = np.random.default_rng(0)
    draws = np.clip(
        places["equity_index"].to_numpy()[:, None] + rng.normal(0, 10, (len(places), 4)), 0, 100
    )
    out = rank_candidates(
        places, mode="robust", base_mode="coverage", k=1, radius_km=25, draws=draws
    )
    assert out.groupby("state_GEOID")["times_selected"].sum().eq(4).all()
    assert (selected_per_state(out) == 1).all()


def test_deterministic_and_inputs_not_mutated(places, anchors):
    before = places.copy()
    a = rank_candidates(places, anchors=anchors, mode="coverage", k=2, radius_km=30)
    b = rank_candidates(places, anchors=anchors, mode="coverage", k=2, radius_km=30)
    assert_geodataframe_equal(a, b)
    assert_geodataframe_equal(places, before)
    # same result whatever the input row order
    c = rank_candidates(places.iloc[::-1], anchors=anchors, mode="coverage", k=2, radius_km=30)
    assert_geodataframe_equal(a, c)


def test_filters(places):
    out = rank_candidates(
        places, states=["VA"], min_population=1000, min_households=300, radius_km=30
    )
    assert set(out["state_GEOID"]) == {"51"}
    assert (out["population"] >= 1000).all() and (out["households"] >= 300).all()
    removed = out.attrs["placement"]["removed_by_filter"]
    assert removed["states"] == 12


def test_business_base_enters_readiness(places):
    business = pd.DataFrame({"GEOID": ["51", "54"], "establishments": [900.0, 100.0]})
    out = rank_candidates(places, business=business, radius_km=30)
    assert "establishments_per_1k" in out
    va = out["state_GEOID"] == "51"
    assert (
        out.loc[va, "establishments_per_1k"].iloc[0] > out.loc[~va, "establishments_per_1k"].iloc[0]
    )
    assert out.loc[va, "readiness_score"].min() > out.loc[~va, "readiness_score"].max()


# --------------------------------------------------------------------------------------------
# explanations: tests/test_explain.py
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 13}, r"k=13 is larger than the 12 candidates in state 51"),
        ({"k": 25, "per_state": False}, r"k=25 is larger than the 24 candidates"),
        ({"k": 0}, "positive integer"),
        ({"radius_km": 0}, "radius_km must be a positive"),
        ({"radius_km": -5}, "radius_km must be a positive"),
        ({"radius_km": float("nan")}, "radius_km must be a positive"),
        ({"min_population": 10**7}, r"no candidates left after the filter min_population=10000000"),
        ({"states": ["CA"]}, r"no candidates left after the filter states="),
        ({"existing_sites": ["51999"]}, r"existing site '51999' is not among the candidates"),
        ({"existing_sites": ["51000"], "states": ["WV"]}, r"existing site '51000'.*states="),
        ({"existing_sites": ["51000", "51001"], "k": 1}, r"2 existing sites must be kept but k=1"),
        ({"weights": {"need": -1}}, r"non-negative"),
        ({"draws": np.zeros((3, 2)), "mode": "robust"}, r"draws must be an array"),
    ],
)
def test_bad_input_is_a_clear_error(places, kwargs, match):
    with pytest.raises(PlacementError, match=match):
        rank_candidates(places, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "best"}, r"unknown mode 'best'; valid: top, coverage, robust"),
        ({"weights": {"need": 1, "fun": 1}}, r"unknown score weight"),
    ],
)
def test_unknown_choice_is_a_clear_error(places, kwargs, match):
    # an unknown name is a ChoiceError (a ConfigError, hence ValueError) listing the valid ones
    with pytest.raises(ChoiceError, match=match):
        rank_candidates(places, **kwargs)


def test_options_object_equals_keywords(places, anchors):
    kwargs = {"mode": "coverage", "k": 2, "radius_km": 30, "min_spacing_km": 20}
    by_keywords = rank_candidates(places, anchors=anchors, **kwargs)
    by_options = rank_candidates(places, anchors=anchors, options=PlacementOptions(**kwargs))
    assert_geodataframe_equal(by_keywords, by_options)
    assert by_keywords.attrs == by_options.attrs
    with pytest.raises(PlacementError, match="not both"):
        rank_candidates(places, options=PlacementOptions(), k=2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "best"}, ChoiceError, r"unknown mode 'best'; valid: top, coverage, robust"),
        ({"base_mode": "robust"}, ChoiceError, r"unknown base_mode 'robust'; valid: top, coverage"),
        ({"level": "street"}, ChoiceError, r"unknown placement level 'street'; valid: town"),
        ({"backend": "gurobi"}, ChoiceError, r"unknown MCLP backend 'gurobi'; valid: auto"),
        ({"weights": {"fun": 1}}, ChoiceError, r"unknown score weight 'fun'"),
        ({"k": 0}, PlacementError, r"k must be a positive integer"),
        ({"k": True}, PlacementError, r"k must be a positive integer"),
        ({"radius_km": "far"}, PlacementError, r"radius_km must be a positive number"),
        ({"min_spacing_km": -1}, PlacementError, r"min_spacing_km must be >= 0"),
        ({"weights": {"need": 0}}, PlacementError, r"not all zero"),
        ({"anchor_weights": {"library": -1}}, PlacementError, r"anchor weight of 'library'"),
        ({"n_draws": 0}, PlacementError, r"n_draws must be a positive integer"),
    ],
)
def test_placement_options_check_every_value(kwargs, error, match):
    with pytest.raises(error, match=match):
        PlacementOptions(**kwargs)


def test_placement_options_defaults_and_normalisation(places, anchors):
    opts = PlacementOptions(states="VA", existing_sites="51000", weights={"need": 1, "reach": 1})
    assert opts.states == ("VA",) and opts.existing_sites == ("51000",)
    assert opts.score_weights == {"need": 0.5, "readiness": 0.0, "reach": 0.5}
    assert opts.radius_km == settings.radius_km
    # anchor weights override the defaults for the kinds they name
    heavy = PlacementOptions(radius_km=30, anchor_weights={"school": 10.0})
    assert heavy.anchor_weight("school") == 10.0 and heavy.anchor_weight("library") == 3.0
    out = rank_candidates(places, anchors=anchors, options=heavy)
    assert out.attrs["placement"]["anchor_weights"]["school"] == 10.0


def test_missing_columns_and_bad_crs(places):
    with pytest.raises(SchemaError, match="equity_index"):
        rank_candidates(places.drop(columns="equity_index"))
    with pytest.raises(PlacementError, match="no CRS"):
        rank_candidates(places.set_crs(None, allow_override=True))


def test_spacing_that_cannot_be_met_is_an_error(places):
    with pytest.raises(PlacementError, match="spacing"):
        rank_candidates(places, mode="coverage", k=3, radius_km=25, min_spacing_km=500)


def test_nothing_written_on_error(places, tmp_path):
    from equity.export import write_candidates

    out_dir = tmp_path / "out"
    with pytest.raises(PlacementError):
        write_candidates(rank_candidates(places, k=99), out_dir)
    assert not out_dir.exists() or not any(out_dir.rglob("*"))


# --------------------------------------------------------------------------------------------
# real data: Virginia block groups, tracts, counties and IMLS libraries
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def virginia(request):
    shared = request.getfixturevalue("shared_data")
    bg = gpd.read_file(shared / "boundaries/va/cb_2020_51_bg_500k.shp", columns=["GEOID"]).to_crs(
        4326
    )
    acs = pd.read_csv(
        shared / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv",
        dtype={"GEOID": str},
        usecols=["GEOID", "B28002_001E", "B28002_013E", "B28002_001M", "B28002_013M"],
    )
    bg = bg.merge(acs, on="GEOID", how="inner")
    bg["households"] = bg["B28002_001E"].astype(float)
    bg["population"] = bg["households"]  # households stand in for people in this file
    bg["state_GEOID"] = bg["GEOID"].str[:2]

    def simple_index(t: pd.DataFrame) -> pd.DataFrame:
        t = t.copy()
        hh = t["B28002_001E"].astype(float)
        share = np.where(hh > 0, t["B28002_013E"] / hh.where(hh > 0), np.nan)
        t["norm_share_no_internet"] = pd.Series(share, index=t.index).rank(pct=True) * 100
        t["equity_index"] = t["norm_share_no_internet"]
        se = np.sqrt(t["B28002_013M"] ** 2) / 1.645 / hh.where(hh > 0) * 100
        t["equity_index_lo"] = (t["equity_index"] - 1.645 * se).clip(0, 100)
        t["equity_index_hi"] = (t["equity_index"] + 1.645 * se).clip(0, 100)
        return t

    bg = simple_index(bg)
    counts = ["B28002_001E", "B28002_013E", "households", "population"]
    moes = (
        bg.assign(B28002_013M=bg["B28002_013M"] ** 2)
        .groupby(bg["GEOID"].str[:11])["B28002_013M"]
        .sum()
        ** 0.5
    )
    tr = gpd.read_file(
        shared / "boundaries/va/cb_2020_51_tract_500k.shp", columns=["GEOID", "NAME"]
    ).to_crs(4326)
    tr = tr.merge(bg.groupby(bg["GEOID"].str[:11])[counts].sum(), left_on="GEOID", right_index=True)
    tr = tr.merge(moes, left_on="GEOID", right_index=True)
    tr["state_GEOID"] = "51"
    tr = simple_index(tr)
    co = gpd.read_file(
        shared / "boundaries/us/cb_2018_us_county_20m.shp", columns=["GEOID", "NAME", "STATEFP"]
    )
    co = co[co["STATEFP"] == "51"].to_crs(4326)
    cmo = (
        bg.assign(B28002_013M=bg["B28002_013M"] ** 2)
        .groupby(bg["GEOID"].str[:5])["B28002_013M"]
        .sum()
        ** 0.5
    )
    co = co.merge(bg.groupby(bg["GEOID"].str[:5])[counts].sum(), left_on="GEOID", right_index=True)
    co = co.merge(cmo, left_on="GEOID", right_index=True)
    co["state_GEOID"] = "51"
    co = simple_index(co.drop(columns="STATEFP"))
    lib = pd.read_csv(
        shared / "anchors/imls_pls_fy19_outlet_pud19i.csv",
        usecols=["STABR", "LIBNAME", "LONGITUD", "LATITUDE"],
        dtype={"STABR": str},
        encoding="latin-1",
    )
    lib = lib[(lib["STABR"] == "VA") & lib["LONGITUD"].notna() & lib["LATITUDE"].notna()]
    libraries = gpd.GeoDataFrame(
        {"name": lib["LIBNAME"].to_numpy(), "kind": "library"},
        geometry=gpd.points_from_xy(lib["LONGITUD"], lib["LATITUDE"]),
        crs=4326,
    )
    return {"bg": bg, "tract": tr, "county": co, "libraries": libraries}


@pytest.mark.shared_data
def test_virginia_counties_top_and_coverage(virginia):
    co, bg, libs = virginia["county"], virginia["bg"], virginia["libraries"]
    assert len(libs) > 300 and len(co) == 133
    top = rank_candidates(co, anchors=libs, demand=bg, k=3, radius_km=25)
    assert selected_per_state(top).tolist() == [3]
    assert top["n_library"].sum() > 0 and top["GEOID"].str.len().eq(5).all()
    existing = top.sort_values("rank")["GEOID"].iloc[-1]  # the weakest county, kept anyway
    cov = rank_candidates(
        co, anchors=libs, demand=bg, mode="coverage", k=3, radius_km=25, existing_sites=[existing]
    )
    assert cov["selected"].sum() == 3 and cov.set_index("GEOID").loc[existing, "selected"]
    (row,) = cov.attrs["placement"]["coverage"]
    assert row["covered_need_population"] >= row["greedy_need_population"] - 1e-6
    again = rank_candidates(
        co, anchors=libs, demand=bg, mode="coverage", k=3, radius_km=25, existing_sites=[existing]
    )
    assert_geodataframe_equal(cov, again)


@pytest.mark.shared_data
def test_virginia_tracts_top_robust_and_coverage(virginia):
    tr, bg, libs = virginia["tract"], virginia["bg"], virginia["libraries"]
    assert len(tr) > 2000
    top = rank_candidates(tr, anchors=libs, demand=bg, k=5, radius_km=10, min_households=500)
    assert top["selected"].sum() == 5 and (top["households"] >= 500).all()
    robust = rank_candidates(
        tr, anchors=libs, k=2, mode="robust", radius_km=10, min_households=500, seed=1
    )
    assert robust["selected"].sum() == 2
    assert robust["times_selected"].sum() == 2 * 200
    existing = top.sort_values("rank")["GEOID"].iloc[-1]
    cov = rank_candidates(
        tr,
        anchors=libs,
        demand=bg,
        mode="coverage",
        k=4,
        radius_km=10,
        min_households=500,
        existing_sites=[existing],
    )
    assert cov["selected"].sum() == 4 and cov.set_index("GEOID").loc[existing, "selected"]
    (row,) = cov.attrs["placement"]["coverage"]
    assert row["covered_need_population"] >= row["greedy_need_population"] - 1e-6


# --------------------------------------------------------------------------------------------
# the bundled sample region, through the real readers and index
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_blockgroups(sample_paths):
    from equity import index, indicators, sources

    bg = sources.read_boundaries(sample_paths["blockgroup"], level="blockgroup")
    counts = indicators.counts_from_acs(sources.read_acs(sample_paths["acs"]))
    table = bg.merge(counts, on="GEOID")
    table["state_GEOID"] = table["GEOID"].str[:2]
    table = index.compute_index(indicators.compute_indicators(table), n_draws=40)
    draws = index.simulate_index(table, n_draws=40, seed=5)
    anchors = pd.concat(
        [
            sources.read_anchors(sample_paths["anchors"]),
            sources.read_libraries(sample_paths["libraries"]),
        ],
        ignore_index=True,
    )
    return (
        gpd.GeoDataFrame(table, geometry="geometry", crs=4326),
        draws,
        gpd.GeoDataFrame(anchors, crs=4326),
    )


def test_sample_region_all_modes(sample_blockgroups):
    table, draws, anchors = sample_blockgroups
    n_states = table["state_GEOID"].nunique()
    assert n_states == 3
    top = rank_candidates(table, anchors=anchors, k=2, radius_km=15)
    assert (selected_per_state(top) == 2).all() and len(selected_per_state(top)) == n_states
    assert set(top["state_name"]) == {"Northvale", "Eastmarch", "Southmoor"}
    assert top["why"].str.contains(" in Eastmarch ").any()
    only = rank_candidates(table, k=1, radius_km=15, states=["XE"])
    assert set(only["state_GEOID"]) == {"91"}
    assert top["top_indicators"].str.count("; ").eq(2).all()
    assert top["n_anchors"].sum() > 0
    existing = top[top["state_GEOID"] == "91"].sort_values("rank")["GEOID"].iloc[-1]
    cov = rank_candidates(
        table, anchors=anchors, mode="coverage", k=2, radius_km=15, existing_sites=[existing]
    )
    assert (selected_per_state(cov) == 2).all()
    assert cov.set_index("GEOID").loc[existing, "selected"]
    for row in cov.attrs["placement"]["coverage"]:
        assert row["covered_need_population"] >= row["greedy_need_population"] - 1e-6
    rob = rank_candidates(table, anchors=anchors, mode="robust", k=1, radius_km=15, draws=draws)
    assert (selected_per_state(rob) == 1).all()
    assert rob.groupby("state_GEOID")["times_selected"].sum().eq(40).all()
    again = rank_candidates(table, anchors=anchors, mode="robust", k=1, radius_km=15, draws=draws)
    assert_geodataframe_equal(rob, again)

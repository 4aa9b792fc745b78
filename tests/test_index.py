"""Tests of equity.index: CDC percentile ranks, SVI, the index, its uncertainty and sensitivity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equity.errors import ChoiceError, ConfigError, SchemaError
from equity.index import (
    SVI_THEMES,
    IndexOptions,
    compute_index,
    normalise,
    percent_rank_inc,
    run_index_file,
    sensitivity,
    simulate_index,
    svi,
)

SVI_2018 = "svi/cdc_svi2018_us_county.csv"
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- percentile rank ------------------------------------------------------------------------


def test_percent_rank_matches_excel_hand_examples():
    # Excel: PERCENTRANK.INC({1,2,2,4,5}, x) -> 0, .25, .25, .75, 1
    assert percent_rank_inc([1, 2, 2, 4, 5]).tolist() == [0.0, 0.25, 0.25, 0.75, 1.0]
    # rounding to 4 decimals: 1/3 -> 0.3333, 2/3 -> 0.6667
    assert percent_rank_inc([3, 1, 2, 9]).tolist() == [0.6667, 0.0, 0.3333, 1.0]
    # NaN excluded from n, stays NaN; a single valid value gets 1 (as Excel)
    out = percent_rank_inc([np.nan, 5.0, 7.0])
    assert np.isnan(out[0]) and out[1:].tolist() == [0.0, 1.0]
    assert percent_rank_inc([42.0]).tolist() == [1.0]
    # all tied -> all 0
    assert percent_rank_inc([2, 2, 2]).tolist() == [0.0, 0.0, 0.0]


def test_percent_rank_rounds_half_up_exactly():
    # 1/32 = 0.03125: Excel ROUND gives 0.0313 where binary round-half-even gives 0.0312
    out = percent_rank_inc(np.arange(33.0))
    assert out[1] == 0.0313
    assert out[3] == 0.0938  # 3/32 = 0.09375


def test_percent_rank_within_groups():
    out = percent_rank_inc([1, 2, 3, 10, 20], groups=["a", "a", "a", "b", "b"])
    assert out.tolist() == [0.0, 0.5, 1.0, 0.0, 1.0]


@FAST
@given(st.lists(st.integers(-5, 5), min_size=2, max_size=40))
def test_percent_rank_equals_definition(values):
    x = np.array(values, dtype=float)
    n = len(x)
    expected = [(np.sum(x < v)) / (n - 1) for v in x]
    np.testing.assert_allclose(percent_rank_inc(x, decimals=None), expected)


def test_normalisations_bounded_and_oriented():
    x = np.array([3.0, 1.0, 2.0, np.nan, 10.0])
    for method in ("percentile", "zscore", "minmax", "rank"):
        up = normalise(x, method=method)
        down = normalise(x, method=method, direction=-1)
        assert np.isnan(up[3]) and np.isnan(down[3])
        assert np.nanmin(up) >= 0 and np.nanmax(up) <= 1
        np.testing.assert_allclose(up + down, np.where(np.isnan(x), np.nan, 1.0))
        assert up[4] == np.nanmax(up) and up[1] == np.nanmin(up)
    with pytest.raises(ConfigError, match="percentile"):
        normalise(x, method="quantile")


# --- SVI ------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_svi_2018_reproduces_every_published_rank(shared_data):
    pub = pd.read_csv(shared_data / SVI_2018, dtype={"FIPS": str, "ST": str})
    out = svi(pub)
    assert out.attrs["svi"]["version"] == "2018"
    cols = [c for c in pub.columns if c.startswith(("EPL_", "RPL_", "SPL_", "F_"))]
    assert len([c for c in cols if c.startswith("EPL_")]) == 15
    for col in cols:
        published = pub[col].replace(-999, np.nan).to_numpy(float)
        mine = out[col].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        assert np.array_equal(np.isnan(published), np.isnan(mine)), col
        ok = ~np.isnan(published)
        # to 4 decimals, for every county (one county has -999 -> NaN)
        assert np.array_equal(np.round(mine[ok], 4), published[ok]), (
            col,
            pub.loc[ok, "FIPS"][np.round(mine[ok], 4) != published[ok]].tolist()[:5],
        )
    assert int(np.isnan(out["RPL_THEMES"]).sum()) == 1


@pytest.mark.shared_data
def test_svi_never_copies_published_columns(shared_data):
    pub = pd.read_csv(shared_data / SVI_2018, dtype={"FIPS": str}, nrows=300)
    tampered = pub.copy()
    tampered[[c for c in pub if c.startswith(("EPL_", "RPL_", "SPL_", "F_"))]] = 0.123
    a, b = svi(pub), svi(tampered)
    pd.testing.assert_series_equal(a["RPL_THEMES"], b["RPL_THEMES"])
    assert (b["EPL_POV"] != 0.123).any()


def _svi_2020_table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {
        f"EP_{v}": rng.integers(0, 50, n).astype(float)
        for th in SVI_THEMES["2020"].values()
        for v in th
    }
    return pd.DataFrame({"FIPS": [f"{i:05d}" for i in range(n)], **cols})


def test_svi_2020_variable_set_and_flags():
    t = _svi_2020_table(60)
    t.loc[3, "EP_HBURD"] = -999
    out = svi(t)
    assert out.attrs["svi"]["version"] == "2020"
    assert "EPL_PCI" not in out and "EPL_UNINSUR" in out
    # theme 3 is minority status alone: RPL_THEME3 is the percentile rank of EPL_MINRTY
    np.testing.assert_allclose(out["RPL_THEME3"], percent_rank_inc(out["EPL_MINRTY"]))
    assert np.isnan(out.loc[3, "EPL_HBURD"]) and np.isnan(out.loc[3, "RPL_THEME1"])
    assert np.isnan(out.loc[3, "RPL_THEMES"]) and not np.isnan(out.loc[3, "RPL_THEME2"])
    flags = out[[f"F_{v}" for v in SVI_THEMES["2020"][2]]].sum(axis=1)
    assert (flags == out["F_THEME2"]).all()
    assert ((out["EPL_AGE65"] >= 0.9) == (out["F_AGE65"] == 1)).all()
    with pytest.raises(SchemaError, match="EP_POV150"):
        svi(t.drop(columns=["EP_POV150", "EP_HBURD"]))


# --- compute_index --------------------------------------------------------------------------


def _places(n: int = 40, seed: int = 1, *, moe_scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hh = rng.integers(50, 2000, n).astype(float)
    pop = hh * 2.5
    t = pd.DataFrame(
        {
            "GEOID": [f"{90 + i % 3:02d}{i:03d}" for i in range(n)],
            "state_GEOID": [f"{90 + i % 3:02d}" for i in range(n)],
            "hh_internet_universe": hh,
            "moe_hh_internet_universe": moe_scale * np.sqrt(hh) * 2,
            "hh_no_internet": np.floor(hh * rng.uniform(0, 0.4, n)),
            "hh_broadband": np.floor(hh * rng.uniform(0.5, 0.95, n)),
            "hh_computer_universe": hh,
            "moe_hh_computer_universe": moe_scale * np.sqrt(hh) * 2,
            "hh_no_computer": np.floor(hh * rng.uniform(0, 0.3, n)),
            "pop_poverty_universe": pop,
            "moe_pop_poverty_universe": moe_scale * np.sqrt(pop) * 2,
            "pop_below_poverty": np.floor(pop * rng.uniform(0, 0.35, n)),
            "median_household_income": rng.uniform(25e3, 150e3, n).round(),
            "download_mbps": rng.uniform(5, 500, n),
            "ookla_tests": rng.integers(1, 200, n).astype(float),
            "broadband_usage": rng.uniform(0.2, 0.9, n),
        }
    )
    for c in ("hh_no_internet", "hh_broadband", "hh_no_computer", "pop_below_poverty"):
        t[f"moe_{c}"] = moe_scale * (np.sqrt(t[c]) * 2 + 5)
    t["moe_median_household_income"] = moe_scale * t["median_household_income"] * 0.1
    return t


def test_compute_index_columns_and_invariants():
    t = _places()
    before = t.copy()
    out = compute_index(t, n_draws=60, seed=3)
    pd.testing.assert_frame_equal(t, before)  # input untouched
    for col in (
        "equity_index", "equity_index_lo", "equity_index_hi", "rank", "rank_in_state",
        "rank_lo", "rank_hi", "p_top_k", "driving_pillar", "intervention", "reliability",
        "score_access", "score_devices_skills", "score_affordability", "norm_share_no_internet",
    ):  # fmt: skip
        assert col in out, col
    idx = out["equity_index"]
    assert idx.between(0, 100).all()
    assert (out["equity_index_lo"] <= idx).all() and (idx <= out["equity_index_hi"]).all()
    assert (out["rank_lo"] <= out["rank"]).all() and (out["rank"] <= out["rank_hi"]).all()
    assert sorted(out["rank"]) == list(range(1, len(t) + 1))
    assert out.loc[idx.idxmax(), "rank"] == 1
    assert out["p_top_k"].between(0, 1).all()
    # p_top_k sums to k = 1 per state (exactly one place is first in each draw)
    assert out.groupby("state_GEOID")["p_top_k"].sum().round(9).eq(1).all()
    # rank_in_state is a permutation within each state
    for _, g in out.groupby("state_GEOID"):
        assert sorted(g["rank_in_state"]) == list(range(1, len(g) + 1))
    meta = out.attrs["index"]
    assert meta["missing_pillars"] == ["education", "transformation"]
    assert meta["redistributed_weight"] == {"education": 1.0, "transformation": 1.0}
    assert sum(meta["pillar_weights"].values()) == pytest.approx(1.0)
    assert out["score_education"].isna().all()
    assert set(out["intervention"]) <= {"infrastructure", "devices and skills", "affordability"}
    # the driving pillar is the pillar with the highest score
    scores = out[["score_access", "score_devices_skills", "score_affordability"]]
    assert (scores.idxmax(axis=1).str.removeprefix("score_") == out["driving_pillar"]).all()


def test_point_estimate_is_weighted_mean_of_published_values():
    t = _places(12)
    out = compute_index(t, n_draws=0)
    access = 100 * out[["norm_share_no_internet", "norm_share_no_broadband", "norm_download_mbps",
                        "norm_broadband_usage"]].mean(axis=1)  # fmt: skip
    np.testing.assert_allclose(out["score_access"], access)
    manual = out[["score_access", "score_devices_skills", "score_affordability"]].mean(axis=1)
    np.testing.assert_allclose(out["equity_index"], manual)
    # need-decreasing: the percentile rank of the oriented values (-x)
    np.testing.assert_array_equal(out["norm_download_mbps"], percent_rank_inc(-t["download_mbps"]))


def test_deterministic_with_seed_and_different_seeds_differ():
    t = _places(30)
    a = compute_index(t, n_draws=40, seed=11)
    b = compute_index(t, n_draws=40, seed=11)
    c = compute_index(t, n_draws=40, seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["equity_index_lo"], c["equity_index_lo"])
    np.testing.assert_array_equal(a["equity_index"], c["equity_index"])  # point estimate unchanged
    d1 = simulate_index(t, n_draws=40, seed=11)
    assert d1.shape == (30, 40)
    np.testing.assert_array_equal(d1, simulate_index(t, n_draws=40, seed=11))


def test_zero_moes_give_zero_width_intervals():
    t = _places(25, moe_scale=0.0)
    out = compute_index(t, n_draws=30)
    assert out.attrs["index"]["varying_indicators"] == ["download_mbps"]  # Ookla SE from tests
    t = t.drop(columns=["ookla_tests"])
    out = compute_index(t, n_draws=30)
    np.testing.assert_array_equal(out["equity_index_lo"], out["equity_index"])
    np.testing.assert_array_equal(out["equity_index_hi"], out["equity_index"])
    assert (out["rank_lo"] == out["rank"]).all() and (out["rank_hi"] == out["rank"]).all()
    assert set(out["p_top_k"]) <= {0.0, 1.0}


def test_small_moes_give_narrow_intervals_centred_on_the_point():
    t = _places(40, moe_scale=0.01).drop(columns=["ookla_tests"])
    out = compute_index(t, n_draws=50)
    width = out["equity_index_hi"] - out["equity_index_lo"]
    assert width.max() < 5
    draws = simulate_index(t, n_draws=50)
    assert np.abs(np.median(draws, axis=1) - out["equity_index"]).max() < 2.5


def test_wider_moes_give_wider_intervals():
    t = _places(40)
    narrow = compute_index(t.drop(columns=["ookla_tests"]), n_draws=80)
    t2 = _places(40, moe_scale=4.0).drop(columns=["ookla_tests"])
    wide = compute_index(t2, n_draws=80)
    w_n = (narrow["equity_index_hi"] - narrow["equity_index_lo"]).mean()
    w_w = (wide["equity_index_hi"] - wide["equity_index_lo"]).mean()
    assert w_w > w_n


def test_reference_state_differs_from_nation():
    t = _places(30)
    t.loc[t["state_GEOID"] == "90", "median_household_income"] += 200_000  # a rich state
    nation = compute_index(t, n_draws=0)
    state = compute_index(t, n_draws=0, reference="state")
    assert not np.allclose(nation["equity_index"], state["equity_index"])
    # within each state the percentile of income spans 0..1
    for _, g in state.groupby("state_GEOID"):
        assert (
            g["norm_median_household_income"].min() == 0
            and g["norm_median_household_income"].max() == 1
        )
    with pytest.raises(SchemaError, match="state"):
        compute_index(t.drop(columns=["state_GEOID"]), reference="state", n_draws=0)


def test_zero_households_give_nan_index_and_rank():
    t = _places(10)
    t.loc[0, ["hh_internet_universe", "hh_no_internet", "hh_broadband", "hh_computer_universe",
              "hh_no_computer"]] = 0.0  # fmt: skip
    t.loc[0, ["download_mbps", "broadband_usage"]] = np.nan
    out = compute_index(t, n_draws=20)
    assert np.isnan(out.loc[0, "equity_index"]) and pd.isna(out.loc[0, "rank"])
    assert np.isnan(out.loc[0, "equity_index_lo"]) and pd.isna(out.loc[0, "rank_hi"])
    assert sorted(out["rank"].dropna()) == list(range(1, 10))
    assert out.attrs["index"]["n_missing_index"] == 1


def test_min_indicators_per_pillar_policy():
    t = _places(10)
    t.loc[0, ["download_mbps", "broadband_usage"]] = np.nan
    loose = compute_index(t, n_draws=0)
    strict = compute_index(t, n_draws=0, min_indicators_per_pillar=3)
    assert np.isfinite(loose.loc[0, "score_access"]) and np.isnan(strict.loc[0, "score_access"])
    # the place keeps an index from its other pillars (weights renormalised) and says so
    assert strict.loc[0, "pillars_missing"] == "access"
    others = [c for c in strict.columns if c.startswith("score_") and c != "score_access"]
    others = [c for c in others if np.isfinite(strict.loc[0, c])]
    assert strict.loc[0, "equity_index"] == pytest.approx(strict.loc[0, others].mean())
    assert (strict.loc[1:, "pillars_missing"] == "").all()
    assert np.isfinite(strict.loc[1:, "equity_index"]).all()


def test_place_missing_most_pillars_gets_no_index():
    t = _places(10)
    t.loc[0, [c for c in t.columns if c not in ("GEOID", "state_GEOID", "share_no_internet")]] = (
        np.nan
    )
    out = compute_index(t, n_draws=0)
    assert np.isnan(out.loc[0, "equity_index"]) and pd.isna(out.loc[0, "pillars_missing"])


def test_weights_override_and_missing_pillar_redistribution():
    t = _places(20)
    out = compute_index(t, n_draws=0, weights={"access": 2.0, "affordability": 0.0, "education": 5})
    meta = out.attrs["index"]
    assert meta["pillar_weights"] == pytest.approx({"access": 2 / 3, "devices_skills": 1 / 3})
    assert meta["redistributed_weight"] == {"education": 5.0, "transformation": 1.0}
    np.testing.assert_allclose(
        out["equity_index"], (2 * out["score_access"] + out["score_devices_skills"]) / 3
    )
    only = compute_index(t, n_draws=0, weights={"share_no_internet": 3.0, "download_mbps": 0.0})
    assert "norm_download_mbps" not in only
    assert only.attrs["index"]["weights"]["access"]["share_no_internet"] == pytest.approx(3 / 5)
    with pytest.raises(ConfigError, match="neither a pillar"):
        compute_index(t, weights={"nonsense": 1.0})
    with pytest.raises(ConfigError, match="techspark"):
        compute_index(t, preset="nope")
    with pytest.raises(ConfigError, match="geometric"):
        compute_index(t, aggregation="harmonic")


def test_index_options_validate_where_they_are_set():
    opts = IndexOptions(preset="ddi", n_draws=10.0, seed=np.int64(3), top_k=2)
    assert (opts.n_draws, opts.seed, opts.top_k) == (10, 3, 2)
    assert type(opts.n_draws) is int and type(opts.seed) is int
    assert IndexOptions().normalisation is None and IndexOptions().n_draws is None
    with pytest.raises(ChoiceError, match="unknown preset 'nope'; valid: techspark, ddi, svi"):
        IndexOptions(preset="nope")
    for field, value in [("normalisation", "pct"), ("reference", "county"),
                         ("aggregation", "harmonic")]:  # fmt: skip
        with pytest.raises(ChoiceError, match=f"unknown {field} {value!r}; valid: "):
            IndexOptions(**{field: value})
    for field, value, message in [
        ("n_draws", -1, "n_draws must be >= 0"),
        ("n_draws", 1.5, "n_draws must be a whole number"),
        ("n_draws", True, "n_draws must be a whole number"),
        ("seed", "3", "seed must be a whole number"),
        ("top_k", 0, "top_k must be >= 1"),
        ("min_indicators_per_pillar", 0, "min_indicators_per_pillar must be >= 1"),
        ("state_column", 5, "state_column must be a column name"),
    ]:
        with pytest.raises(ConfigError, match=message):
            IndexOptions(**{field: value})
    for weights, message in [
        ({"nonsense": 1.0}, "neither a pillar"),
        ({"access": -1.0}, "finite number >= 0"),
        ({"access": float("nan")}, "finite number >= 0"),
        ({"access": True}, "finite number >= 0"),
        (
            {
                p: 0
                for p in (
                    "access",
                    "devices_skills",
                    "affordability",
                    "education",
                    "transformation",
                )
            },
            "at least one pillar",
        ),  # fmt: skip
        (["access"], "must map"),
    ]:
        with pytest.raises(ConfigError, match=message):
            IndexOptions(weights=weights)
    IndexOptions(weights={"share_no_internet": 0})  # dropping one indicator is fine
    given = {"access": 2.0}
    kept = IndexOptions(weights=given)
    given["access"] = 5.0
    assert kept.weights == {"access": 2.0}  # a copy: the options do not change afterwards
    with pytest.raises(AttributeError):
        kept.seed = 1  # type: ignore[misc]


def test_options_and_keywords_build_the_same_index():
    t = _places(40)
    keywords = {"weights": {"access": 2.0}, "reference": "state", "aggregation": "geometric",
                "seed": 4, "min_indicators_per_pillar": 2}  # fmt: skip
    opts = IndexOptions(**keywords, n_draws=20, top_k=2)
    a = compute_index(t, options=opts)
    b = compute_index(t, **keywords, n_draws=20, top_k=2)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["index"] == b.attrs["index"] and a.attrs["index"]["top_k"] == 2
    np.testing.assert_array_equal(
        simulate_index(t, options=opts), simulate_index(t, **keywords, n_draws=20)
    )
    chosen = {k: v for k, v in keywords.items() if k != "min_indicators_per_pillar"}
    s1 = sensitivity(t, n=15, options=IndexOptions(**chosen))
    s2 = sensitivity(t, n=15, **chosen)
    pd.testing.assert_frame_equal(s1, s2)
    with pytest.raises(ConfigError, match=r"not both"):
        compute_index(t, options=opts, n_draws=5)
    with pytest.raises(ConfigError, match="IndexOptions"):
        compute_index(t, options={"preset": "ddi"})  # type: ignore[arg-type]


def test_monte_carlo_tunables_are_set_through_the_package(monkeypatch):
    from equity import index as im
    from equity.index import montecarlo

    monkeypatch.setattr(im, "MC_THREADS", 1)
    assert montecarlo.MC_THREADS == 1 and im.MC_THREADS == 1


def test_no_indicator_data_raises_naming_the_preset():
    with pytest.raises(SchemaError, match="techspark"):
        compute_index(pd.DataFrame({"GEOID": ["1"], "x": [1.0]}))


def test_geometric_aggregation_bounded_and_below_arithmetic():
    t = _places(30)
    ar = compute_index(t, n_draws=0)
    ge = compute_index(t, n_draws=0, aggregation="geometric")
    assert ge["equity_index"].between(0, 100).all()
    assert (ge["equity_index"] <= ar["equity_index"] + 1e-9).all()  # AM-GM


def test_ddi_preset_scores():
    t = _places(30)
    t["upload_mbps"] = t["download_mbps"] / 10
    t["broadband_availability"] = np.linspace(0.5, 1, 30)
    out = compute_index(t, preset="ddi", n_draws=0)
    assert {"score_infa", "score_se"} <= set(out.columns)
    assert out["equity_index"].between(0, 100).all()
    np.testing.assert_allclose(out["equity_index"], (out["score_infa"] + out["score_se"]) / 2)
    assert out.attrs["index"]["normalisation"] == "minmax"


def test_svi_preset_through_compute_index():
    t = _svi_2020_table(30)
    out = compute_index(t, preset="svi")
    np.testing.assert_allclose(out["equity_index"], 100 * out["RPL_THEMES"])
    assert out["rank"].min() == 1


def test_reliability_classes_follow_the_width_of_the_interval():
    from equity.index import RELIABILITY_CV, RELIABILITY_SCALE

    # shares at every level of need, margins of error alternating small and large:
    # reliability follows each place's own uncertainty, whatever its level of need
    n = 101
    t = pd.DataFrame(
        {
            "share_no_internet": np.linspace(0.0, 1.0, n),
            "moe_share_no_internet": np.where(np.arange(n) % 2 == 0, 0.01, 0.15),
        }
    )
    middle = slice(20, 81)  # near 0 and 1 the intervals are one-sided, so narrower
    for n_draws in (0, 400):  # without draws, from the delta-method width
        out = compute_index(t, n_draws=n_draws, seed=1)
        half = (out["equity_index_hi"] - out["equity_index_lo"]) / 2
        if n_draws:  # the classes are the CV thresholds applied to SE / 50
            cv = half / 1.645 / RELIABILITY_SCALE
            expect = np.where(cv < RELIABILITY_CV[0], "high",
                              np.where(cv < RELIABILITY_CV[1], "medium", "low"))  # fmt: skip
            assert out["reliability"].tolist() == expect.tolist()
        rel = out["reliability"].to_numpy(dtype=object)[middle]
        even = np.arange(n)[middle] % 2 == 0
        assert (rel[even] == "high").all(), (n_draws, rel)
        assert (rel[~even] == "medium").all(), (n_draws, rel)
    exact = compute_index(t.assign(moe_share_no_internet=0.0), n_draws=50)
    assert (exact["reliability"] == "high").all()  # no sampling error


# --- properties (hypothesis) ----------------------------------------------------------------

shares = st.floats(0, 1, allow_nan=False)


@st.composite
def share_tables(draw, min_size=2, max_size=12):
    n = draw(st.integers(min_size, max_size))
    cols = {
        name: draw(st.lists(shares, min_size=n, max_size=n))
        for name in ("share_no_internet", "share_no_computer", "share_below_poverty")
    }
    income = draw(st.lists(st.floats(1e4, 2e5), min_size=n, max_size=n))
    return pd.DataFrame({**cols, "median_household_income": income})


@FAST
@given(share_tables(), st.sampled_from(["percentile", "zscore", "minmax", "rank"]),
       st.sampled_from(["arithmetic", "geometric"]))  # fmt: skip
def test_property_index_bounded_and_ranks_a_permutation(t, method, aggregation):
    out = compute_index(t, n_draws=0, normalisation=method, aggregation=aggregation)
    assert out["equity_index"].between(0, 100).all()
    ranks = out["rank"].to_numpy(dtype=int)
    # "min" ties: sorted ranks are a permutation with ties collapsed to the lowest
    order = np.sort(ranks)
    assert order[0] == 1 and (order <= np.arange(1, len(t) + 1)).all()
    if out["equity_index"].nunique() == len(t):
        assert sorted(ranks) == list(range(1, len(t) + 1))


@FAST
@given(share_tables(), st.data(), st.sampled_from(["percentile", "zscore", "minmax", "rank"]),
       st.sampled_from(["arithmetic", "geometric"]), st.sampled_from(["nation", "state"]))  # fmt: skip
def test_property_more_need_never_lowers_the_index(t, data, method, aggregation, reference):
    i = data.draw(st.integers(0, len(t) - 1))
    t = t.assign(state_GEOID=["01" if k % 2 else "02" for k in range(len(t))])
    col = data.draw(st.sampled_from(list(t.columns[:4])))
    worse = t.copy()
    if col == "median_household_income":  # lower income = more need
        worse.loc[i, col] = t.loc[i, col] * data.draw(st.floats(0.1, 1.0))
    else:
        worse.loc[i, col] = data.draw(st.floats(t.loc[i, col], 1.0))
    kw = {"n_draws": 0, "normalisation": method, "aggregation": aggregation, "reference": reference}
    before = compute_index(t, **kw)["equity_index"].iloc[i]
    after = compute_index(worse, **kw)["equity_index"].iloc[i]
    assert after >= before - 1e-9


@st.composite
def count_tables(draw):
    n = draw(st.integers(3, 10))
    uni = np.array(draw(st.lists(st.integers(0, 3000), min_size=n, max_size=n)), dtype=float)
    frac = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    moe_u = np.array(draw(st.lists(st.floats(0, 300), min_size=n, max_size=n)))
    moe_x = np.array(draw(st.lists(st.floats(0, 300), min_size=n, max_size=n)))
    scale = draw(st.sampled_from([0.0, 1.0]))
    return pd.DataFrame(
        {
            "hh_internet_universe": uni,
            "moe_hh_internet_universe": scale * moe_u,
            "hh_no_internet": np.floor(uni * frac),
            "moe_hh_no_internet": scale * moe_x,
            "median_household_income": np.linspace(2e4, 9e4, n),
            "moe_median_household_income": scale * np.full(n, 5e3),
        }
    )


@FAST
@given(count_tables(), st.integers(0, 2**31))
def test_property_intervals_contain_point_and_zero_moe_is_exact(t, seed):
    out = compute_index(t, n_draws=15, seed=seed)
    ok = out["equity_index"].notna()
    assert (out.loc[ok, "equity_index_lo"] <= out.loc[ok, "equity_index"]).all()
    assert (out.loc[ok, "equity_index"] <= out.loc[ok, "equity_index_hi"]).all()
    assert (out.loc[ok, "rank_lo"] <= out.loc[ok, "rank"]).all()
    assert (out.loc[ok, "rank"] <= out.loc[ok, "rank_hi"]).all()
    if t["hh_internet_universe"].gt(0).any():  # else the access pillar is missing everywhere
        assert out["equity_index"].isna().eq(t["hh_internet_universe"].eq(0)).all()
    if (t.filter(like="moe_") == 0).all().all():
        assert (out.loc[ok, "equity_index_hi"] == out.loc[ok, "equity_index_lo"]).all()
    draws = simulate_index(t, n_draws=15, seed=seed)
    finite = draws[ok.to_numpy()]
    assert np.isfinite(finite).all() and (finite >= 0).all() and (finite <= 100).all()


# --- sensitivity ----------------------------------------------------------------------------


def test_sensitivity_rank_ranges_and_spearman():
    t = _places(40)
    s = sensitivity(t, n=60, seed=2)
    assert len(s) == 40 and s["GEOID"].tolist() == t["GEOID"].tolist()
    assert (s["rank_min"] <= s["rank"]).all() and (s["rank"] <= s["rank_max"]).all()
    assert (s["rank_range"] >= 0).all()
    meta = s.attrs["sensitivity"]
    assert -1 <= meta["spearman_min"] <= meta["spearman_mean"] <= 1
    tight = sensitivity(t, n=60, seed=2, concentration=1e6, normalisations=["percentile"])
    assert tight["rank_range"].max() <= s["rank_range"].max()
    assert tight.attrs["sensitivity"]["spearman_min"] > 0.999


# --- run_index_file -------------------------------------------------------------------------


@pytest.mark.shared_data
def test_run_index_file_svi(shared_data, tmp_path):
    out = run_index_file(shared_data / SVI_2018, preset="svi", out=tmp_path / "svi.csv")
    got = pd.read_csv(out, dtype={"FIPS": str})
    pub = pd.read_csv(shared_data / SVI_2018, dtype={"FIPS": str})
    assert got["FIPS"].tolist() == pub["FIPS"].tolist()
    np.testing.assert_array_equal(
        got["RPL_THEMES"].fillna(-999).to_numpy(), pub["RPL_THEMES"].to_numpy()
    )
    assert [p.name for p in tmp_path.iterdir()] == ["svi.csv"]  # no temporary left behind
    # --reference state ranks within each state (as CDC's state files), no longer ignored
    path = run_index_file(shared_data / SVI_2018, preset="svi", reference="state",
                          out=tmp_path / "by_state.csv")  # fmt: skip
    st = pd.read_csv(path, dtype={"FIPS": str, "ST": str})
    assert not np.allclose(st["RPL_THEMES"].fillna(0), got["RPL_THEMES"].fillna(0))
    for _, g in st.dropna(subset=["RPL_THEMES"]).groupby("ST"):
        assert g["RPL_THEMES"].max() == 1 and g["rank"].min() == 1
        assert (g["rank"] == g["equity_index"].rank(ascending=False, method="min")).all()


def test_run_index_file_techspark_and_errors(tmp_path):
    t = _places(20)
    src = tmp_path / "in.csv"
    t.drop(columns=["state_GEOID"]).to_csv(src, index=False)
    out = run_index_file(src, out=tmp_path / "o.csv", reference="state")
    got = pd.read_csv(out, dtype={"GEOID": str, "state_GEOID": str})
    assert got["GEOID"].tolist() == t["GEOID"].tolist()  # leading zeros kept
    assert got["state_GEOID"].tolist() == t["state_GEOID"].tolist()
    assert got["equity_index"].between(0, 100).all()
    same = run_index_file(src, out=tmp_path / "p.csv", options=IndexOptions(reference="state"))
    assert (tmp_path / "o.csv").read_bytes() == same.read_bytes()
    with pytest.raises(SchemaError, match="id column"):
        run_index_file(src, out=tmp_path / "x.csv", id_column="NOPE")
    t.iloc[[0, 0]].to_csv(src, index=False)
    with pytest.raises(SchemaError, match="duplicate"):
        run_index_file(src, out=tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("grouped", [False, True])
def test_in_state_draw_ranks_equal_pandas(grouped):
    from equity.index import _draw_rank_desc, _layout

    rng = np.random.default_rng(4)
    c, n = 5, 3001
    valid = rng.random(n) > 0.1
    codes = rng.integers(0, 4, n) if grouped else np.zeros(n, dtype=np.int64)
    lay = _layout(valid, codes)
    idx = rng.random((c, n)).astype(np.float32)
    idx[:, :10] = 0.5  # tied index values share the lowest rank
    ranks = _draw_rank_desc(np.where(valid, idx, 0).astype(np.float32), lay)
    for r in range(c):
        expect = (
            pd.Series(np.where(valid, idx[r], np.nan))
            .groupby(codes)
            .rank(method="min", ascending=False)
        )
        np.testing.assert_array_equal(ranks[r, valid], expect[valid].to_numpy())
        assert (ranks[r, ~valid] == 0).all()


@pytest.mark.shared_data
def test_real_virginia_block_groups(shared_data):
    from equity.indicators import compute_indicators, counts_from_acs

    raw = pd.read_csv(
        shared_data / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv", dtype={"GEOID": str}
    )
    acs = raw[[c for c in raw if c == "GEOID" or c.endswith(("E", "M"))]]
    acs = acs.mask(acs.select_dtypes("number") < -100_000_000)  # Census sentinels -> NaN
    table = compute_indicators(counts_from_acs(acs))
    table["state_GEOID"] = table["GEOID"].str[:2]
    out = compute_index(table, n_draws=50, seed=1)
    ok = out["equity_index"].notna()
    # block groups without households (water, group quarters) have no index, never 0
    no_hh = table["hh_internet_universe"].fillna(0).eq(0)
    assert (~ok[no_hh]).all() and ok.sum() > 5600
    # the affordability pillar here is income alone: a suppressed income leaves the place
    # an index from its other pillars, with the gap named (not silently dropped)
    no_income = table["median_household_income"].isna() & ~no_hh
    assert ok[no_income].all()
    assert (out.loc[no_income, "pillars_missing"] == "affordability").all()
    assert out.loc[ok, "equity_index"].between(0, 100).all()
    ranks = np.sort(out.loc[ok, "rank"].to_numpy(dtype=int))
    assert ranks[0] == 1 and (ranks <= np.arange(1, ok.sum() + 1)).all()  # ties share the lowest
    assert len(set(ranks)) == out.loc[ok, "equity_index"].nunique()
    assert (out.loc[ok, "equity_index_lo"] <= out.loc[ok, "equity_index"]).all()
    assert (out.loc[ok, "equity_index_hi"] >= out.loc[ok, "equity_index"]).all()
    assert out.attrs["index"]["missing_pillars"] == ["education", "transformation"]
    # every place with an index has a reliability class, from its own interval
    assert out.loc[ok, "reliability"].isin(["high", "medium", "low"]).all()
    assert out.loc[~ok, "reliability"].isna().all()


@pytest.mark.shared_data
def test_run_index_file_on_raw_acs_masks_sentinels(shared_data, tmp_path):
    src = shared_data / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"
    out = pd.read_csv(
        run_index_file(src, out=tmp_path / "va.csv", n_draws=20), dtype={"GEOID": str}
    )
    raw = pd.read_csv(src, dtype={"GEOID": str})
    assert out["GEOID"].tolist() == raw["GEOID"].tolist()
    assert out["median_household_income"].min() > 0  # -666666666 never used as an income
    assert out["median_household_income"].isna().sum() == (raw["B19013_001E"] < 0).sum()
    assert out["equity_index"].dropna().between(0, 100).all()


# --- normal deviates -------------------------------------------------------------------------


def test_std_normal_antithetic_pairs_are_standard_normal():
    from scipy import stats

    from equity import index as im

    z = im._std_normal(np.random.default_rng(3), (7, 20_000))
    assert z.dtype == np.float32 and z.shape == (7, 20_000)
    np.testing.assert_array_equal(z[4:], -z[:3])  # the last floor(7/2) rows mirror the first
    fresh = z[:4].reshape(-1).astype(float)
    assert len(np.unique(fresh)) > 30_000  # four independent rows, not copies
    assert abs(fresh.mean()) < 0.02 and abs(fresh.std() - 1) < 0.02
    assert stats.kstest(fresh, "norm").pvalue > 1e-3
    one = im._std_normal(np.random.default_rng(3), (1, 5))  # a single row has no partner
    assert np.isfinite(one).all() and len(np.unique(one)) == 5


# --- interval quantiles of the draws -------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("d", [1, 2, 20, 201])
def test_draw_quantiles_equal_numpy_bit_for_bit(monkeypatch, threads, d):
    from equity import index as im

    monkeypatch.setattr(im, "MC_THREADS", threads)
    rng = np.random.default_rng(d)
    m = 1300  # three blocks of 512 columns, the last one partial
    draws = rng.random((d, m), dtype=np.float32)
    draws[:, 5] = 0.25  # a constant column
    draws[: d // 2, 6] = -0.0  # negative zero counts as zero
    draws[:, 700:720] = np.round(draws[:, 700:720], 1)  # ties
    draws[0, 1200] = np.nan  # a block with NaN takes numpy's own path
    want_q = np.quantile(draws + np.float32(0.0), [0.05, 0.95], axis=0)
    d0 = draws.copy()
    q = im._draw_quantiles(draws)
    np.testing.assert_array_equal(q, want_q)
    np.testing.assert_array_equal(draws, d0)  # input untouched


# --- top k in state ------------------------------------------------------------------------


def _tracts(n, seed=0):
    rng = np.random.default_rng(seed)
    uni = rng.integers(300, 3000, n).astype(float)
    part = np.floor(uni * rng.uniform(0, 0.4, n))
    part[:50] = 0.0
    inc = np.round(rng.lognormal(11, 0.4, n))
    inc[rng.random(n) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "state_GEOID": rng.integers(1, 4, n).astype(str),
            "hh_internet_universe": uni,
            "moe_hh_internet_universe": np.sqrt(uni) * 2,
            "hh_no_internet": part,
            "moe_hh_no_internet": np.sqrt(part) * 2 + 10,
            "hh_computer_universe": uni,
            "moe_hh_computer_universe": np.sqrt(uni) * 2,
            "hh_no_computer": np.floor(uni * rng.uniform(0, 0.3, n)),
            "moe_hh_no_computer": np.full(n, 40.0),
            "median_household_income": inc,
            "moe_median_household_income": inc * 0.1,
        }
    )


def test_top1_in_state_counts_equal_ranked_counts():
    t = _tracts(2_000, seed=4)
    for top_k in (1, 2):
        out = compute_index(t, n_draws=20, seed=2, top_k=top_k)
        p = out["p_top_k"].dropna()
        assert len(p) and p.between(0, 1).all()
    from equity import index as im

    rng = np.random.default_rng(0)
    ok = rng.random((6, 500)).astype(np.float32)
    ok[:, :20] = ok[:, [0]]  # ties at the maximum
    codes = rng.integers(0, 5, 500)
    perm = np.argsort(codes, kind="stable")
    starts = im._segments(codes[perm])
    sizes = np.diff(np.r_[starts, perm.size])
    got = np.zeros(500, dtype=np.int64)
    got[perm] = im._top1_counts(ok, perm, starts, sizes)
    lay = im._layout(np.ones(500, bool), codes)
    ranks = im._draw_rank_desc(ok, lay)
    np.testing.assert_array_equal(got, (ranks == 1).sum(axis=0))

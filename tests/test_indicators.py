"""Tests of equity.indicators: counts from ACS, rates and their MOEs, the registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from equity import indicators
from equity.errors import ConfigError, SchemaError
from equity.indicators import (
    REGISTRY,
    Indicator,
    compute_indicators,
    counts_from_acs,
    get_indicator,
    register_indicator,
)

ACS_VA = "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"


def _read_acs(path) -> pd.DataFrame:
    """Minimal stand-in for the reader: sentinels to NaN, as read_acs documents."""
    raw = pd.read_csv(path, dtype={"GEOID": str})
    out = raw[["GEOID"]].copy()
    for col in raw.columns:
        if col.endswith(("E", "M")) and col != "GEOID":
            out[col] = raw[col].where(raw[col] > -100_000_000).astype(float)
    return out


@pytest.mark.shared_data
def test_counts_from_real_virginia_file(shared_data):
    acs = _read_acs(shared_data / ACS_VA)
    counts = counts_from_acs(acs)
    # only counts whose variables are present; households falls back to B28002_001
    assert set(counts.columns) == {
        "GEOID",
        *[
            x
            for c in (
                "households",
                "hh_internet_universe",
                "hh_no_internet",
                "hh_broadband",
                "hh_cable_fiber_dsl",
                "hh_computer_universe",
                "hh_no_computer",
                "median_household_income",
            )
            for x in (c, f"moe_{c}")
        ],
    }
    assert len(counts) == len(acs) == 5963
    np.testing.assert_array_equal(counts["households"], acs["B28002_001E"])
    np.testing.assert_allclose(counts["hh_no_computer"], acs["B28001_001E"] - acs["B28001_002E"])
    # the MOE of universe - subset follows the proportion B28001_002 / B28001_001 (tests/test_moe.py)
    assert (
        counts["moe_hh_no_computer"] < np.hypot(acs["B28001_001M"], acs["B28001_002M"])
    ).mean() > 0.9
    assert (counts["hh_no_computer"].dropna() >= 0).all()
    table = compute_indicators(counts)
    for name in ("share_no_internet", "share_no_broadband", "share_no_computer"):
        s = table[name].to_numpy(float)
        assert not np.isinf(s).any()
        assert np.nanmin(s) >= 0 and np.nanmax(s) <= 1
        # zero households -> NaN, never a number
        zero = counts["hh_internet_universe"].to_numpy() == 0
        assert np.isnan(s[zero]).all()
        assert (table[f"moe_{name}"].dropna() >= 0).all()
    assert counts["GEOID"].str.len().eq(12).all()


def test_counts_sum_moe_and_controlled_zero():
    acs = pd.DataFrame(
        {
            "GEOID": ["1", "2"],
            "C17002_001E": [100.0, 50.0],
            "C17002_001M": [10.0, 5.0],
            "C17002_002E": [10.0, 0.0],
            "C17002_002M": [3.0, np.nan],
            "C17002_002_flag": ["", "controlled_moe_zero"],
            "C17002_003E": [20.0, 5.0],
            "C17002_003M": [4.0, 2.0],
        }
    )
    counts = counts_from_acs(acs)
    assert counts["pop_below_poverty"].tolist() == [30.0, 5.0]
    assert counts["moe_pop_below_poverty"].tolist() == [5.0, 2.0]
    assert "households" not in counts and "population" not in counts
    assert acs["C17002_002M"].isna().sum() == 1  # input untouched


def test_counts_need_geoid():
    with pytest.raises(SchemaError, match="GEOID"):
        counts_from_acs(pd.DataFrame({"B28002_001E": [1.0]}))


def test_proportion_moe_and_ratio_fallback():
    t = pd.DataFrame(
        {
            "hh_internet_universe": [200.0, 100.0, 0.0],
            "moe_hh_internet_universe": [20.0, 90.0, 10.0],
            "hh_no_internet": [50.0, 80.0, 0.0],
            "moe_hh_no_internet": [15.0, 10.0, 10.0],
        }
    )
    out = compute_indicators(t, indicators=["share_no_internet"])
    p = np.array([0.25, 0.8])
    expected0 = np.sqrt(15.0**2 - p[0] ** 2 * 20.0**2) / 200.0
    # second row: radicand 100 - 0.64 * 8100 < 0 -> ratio formula
    expected1 = np.sqrt(10.0**2 + p[1] ** 2 * 90.0**2) / 100.0
    np.testing.assert_allclose(out["share_no_internet"][:2], p)
    np.testing.assert_allclose(out["moe_share_no_internet"][:2], [expected0, expected1])
    assert np.isnan(out["share_no_internet"][2]) and np.isnan(out["moe_share_no_internet"][2])
    assert "share_no_internet" not in t  # not mutated


def test_complement_share_has_proportion_moe():
    t = pd.DataFrame(
        {
            "hh_internet_universe": [200.0],
            "moe_hh_internet_universe": [20.0],
            "hh_broadband": [150.0],
            "moe_hh_broadband": [15.0],
        }
    )
    out = compute_indicators(t)
    assert out["share_no_broadband"].iloc[0] == pytest.approx(0.25)
    p = 0.75
    assert out["moe_share_no_broadband"].iloc[0] == pytest.approx(
        np.sqrt(15.0**2 - p**2 * 20.0**2) / 200.0
    )


def test_value_indicators_ookla_and_binomial_moe():
    t = pd.DataFrame(
        {
            "download_mbps": [100.0, 50.0, 80.0],
            "share_tests_below_25_3": [0.2, 0.0, 0.5],
            "ookla_tests": [25.0, 4.0, 0.0],
        }
    )
    out = compute_indicators(t)
    z = 1.645
    np.testing.assert_allclose(
        out["moe_download_mbps"][:2], z * indicators.OOKLA_TEST_CV * np.array([100 / 5, 50 / 2])
    )
    assert out["moe_share_tests_below_25_3"].iloc[0] == pytest.approx(z * np.sqrt(0.2 * 0.8 / 25))
    assert out["moe_share_tests_below_25_3"].iloc[1] == 0.0
    assert out[["moe_download_mbps", "moe_share_tests_below_25_3"]].iloc[2].isna().all()


def test_rates_per_population_and_missing_inputs():
    t = pd.DataFrame(
        {
            "population": [20_000.0, 0.0],
            "n_school": [4.0, 1.0],
            "establishments": [100.0, 0.0],
            "est_lt5": [50.0, 0.0],
            "est_5_9": [20.0, 0.0],
            "est_10_19": [10.0, 0.0],
        }
    )
    out = compute_indicators(t)
    assert out["schools_per_10k"].iloc[0] == pytest.approx(2.0)
    assert out["establishments_per_1k"].iloc[0] == pytest.approx(5.0)
    assert out["share_small_business"].iloc[0] == pytest.approx(0.8)
    assert out[["schools_per_10k", "share_small_business"]].iloc[1].isna().all()
    assert "libraries_per_10k" not in out  # n_library absent: not computed
    with pytest.raises(SchemaError, match="n_library"):
        compute_indicators(t, indicators=["libraries_per_10k"])


def test_registry_lookup_and_registration():
    with pytest.raises(ConfigError, match="unknown indicator 'share_no_such_thing'; valid: "):
        get_indicator("share_no_such_thing")
    assert get_indicator("share_no_internet") is REGISTRY["share_no_internet"]
    with pytest.raises(ConfigError, match="direction"):
        Indicator("x", "access", 2, value="x", moe_rule="none")
    with pytest.raises(ConfigError, match="moe_rule"):
        Indicator("x", "access", 1, value="x", moe_rule="nope")
    ind = register_indicator(
        name="share_test_custom", pillar="access", direction=1, moe_rule="none", replace=True
    )
    try:
        assert REGISTRY["share_test_custom"] is ind
        with pytest.raises(ConfigError, match="already registered"):
            register_indicator(Indicator("share_test_custom", "education", 1, moe_rule="none"))
        out = compute_indicators(pd.DataFrame({"share_test_custom": [0.5]}))
        assert out["share_test_custom"].iloc[0] == 0.5
    finally:
        REGISTRY.pop("share_test_custom", None)


def test_every_builtin_pillar_is_known():
    assert {ind.pillar for ind in REGISTRY.values()} <= set(indicators.PILLARS)
    assert all(ind.direction in (1, -1) for ind in REGISTRY.values())


def test_no_computer_prefers_the_published_cell():
    """B28001_011 ("no computer") has its own MOE; the difference 001 - 002 is the fallback."""
    import pandas as pd

    from equity.indicators import counts_from_acs

    acs = pd.DataFrame(
        {
            "GEOID": ["900010001001"],
            "B28001_001E": [500.0],
            "B28001_001M": [80.0],
            "B28001_002E": [425.0],
            "B28001_002M": [90.0],
        }
    )
    diff = counts_from_acs(acs)
    assert diff.loc[0, "hh_no_computer"] == 75.0
    # the MOE that gives the share exactly the proportion MOE of B28001_002 / B28001_001
    moe_p = ((90.0**2 - (425 / 500) ** 2 * 80.0**2) ** 0.5) / 500  # Census proportion formula
    want = ((500 * moe_p) ** 2 + (75 / 500) ** 2 * 80.0**2) ** 0.5
    assert diff.loc[0, "moe_hh_no_computer"] == pytest.approx(want)
    direct = counts_from_acs(acs.assign(B28001_011E=[75.0], B28001_011M=[31.0]))
    assert direct.loc[0, "hh_no_computer"] == 75.0 and direct.loc[0, "moe_hh_no_computer"] == 31.0

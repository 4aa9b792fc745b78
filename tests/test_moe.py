"""Margins of error of derived and aggregated ACS estimates: the Census Bureau's formulas, the
zero-estimate rule (against census-data-aggregator and by hand) and the no-computer share."""

from __future__ import annotations

import math

import census_data_aggregator as cda
import numpy as np
import pandas as pd
import pytest

from equity import _moe, geographies
from equity.geographies import apply_crosswalk
from equity.indicators import REGISTRY, coded_values, compute_indicators, counts_from_acs

ACS_VA = "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"


def test_zero_estimates_share_one_moe_in_a_sum():
    # Handbook: of the zero estimates only the largest MOE counts
    est = [0.0, 0.0, 10.0, 0.0]
    moe = [12.0, 17.0, 8.0, 12.0]
    want = math.sqrt(17.0**2 + 8.0**2)
    assert _moe.moe_sum(moe, estimates=est) == pytest.approx(want)
    pairs = list(zip(est, moe, strict=True))
    assert cda.approximate_sum(*pairs)[1] == pytest.approx(want)
    assert _moe.moe_sum(moe) == pytest.approx(math.sqrt(sum(m * m for m in moe)))  # no rule


def test_crosswalk_applies_the_zero_rule_to_weighted_pieces():
    table = pd.DataFrame(
        {
            "GEOID": ["a", "b", "c"],
            "hh": [0.0, 0.0, 40.0],
            "moe_hh": [20.0, 30.0, 10.0],
        }
    )
    xw = pd.DataFrame(
        {
            "source_GEOID": ["a", "b", "b", "c"],
            "target_GEOID": ["x", "x", "y", "x"],
            "weight": [1.0, 0.5, 0.5, 1.0],
        }
    )
    out = apply_crosswalk(table, xw, counts=["hh"]).set_index("GEOID")
    # x: zero pieces a (20) and b (0.5 x 30 = 15): only 20 counts; c adds 10
    assert out.loc["x", "moe_hh"] == pytest.approx(math.hypot(20.0, 10.0))
    assert out.loc["y", "moe_hh"] == pytest.approx(15.0)
    assert out["hh"].sum() == pytest.approx(table["hh"].sum())  # counts conserved


@pytest.mark.shared_data
def test_tract_moes_equal_census_data_aggregator(shared_data):
    from equity.sources import read_acs

    acs = read_acs(shared_data / ACS_VA)
    counts = counts_from_acs(acs)
    cols = ["hh_internet_universe", "hh_no_internet", "hh_broadband", "hh_cable_fiber_dsl",
            "hh_computer_universe"]  # fmt: skip
    agg = geographies.aggregate(
        counts[["GEOID", *cols, *[f"moe_{c}" for c in cols]]], to="tract", counts=cols
    ).set_index("GEOID")
    tracts = counts.assign(tract=counts["GEOID"].str[:11]).groupby("tract")
    differ = 0
    for col in cols:
        ref = tracts.apply(
            lambda d, c=col: cda.approximate_sum(*zip(d[c], d[f"moe_{c}"], strict=True))[1],
            include_groups=False,
        )
        got = agg.loc[ref.index, f"moe_{col}"]
        np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=1e-12, err_msg=col)
        plain = tracts[f"moe_{col}"].apply(lambda m: math.sqrt((m**2).sum()))
        differ += int((~np.isclose(plain, ref)).sum())
    assert agg.shape[0] == 2198
    assert differ > 300  # the rule matters for hundreds of tract counts


@pytest.mark.parametrize("radicand", ["positive", "negative"])
def test_no_computer_share_takes_the_proportion_moe_of_b28001(radicand):
    # households with a computer are a subset of the universe: the share without one is the
    # complement of that proportion and has its MOE (ratio formula when the radicand < 0)
    m2 = 139.0 if radicand == "positive" else 40.0
    acs = pd.DataFrame(
        {
            "GEOID": ["510010901011"],
            "B28001_001E": [574.0],
            "B28001_001M": [152.0],
            "B28001_002E": [499.0],
            "B28001_002M": [m2],
        }
    )
    table = compute_indicators(counts_from_acs(acs), indicators=["share_no_computer"])
    want = _moe.moe_proportion(499.0, 574.0, m2, 152.0)
    assert table["share_no_computer"].iloc[0] == pytest.approx(75 / 574)
    assert table["moe_share_no_computer"].iloc[0] == pytest.approx(want)
    independent = math.hypot(152.0, m2) / 574.0  # the difference formula's share MOE, roughly
    assert table["moe_share_no_computer"].iloc[0] < independent


@pytest.mark.shared_data
def test_no_computer_moes_match_the_proportion_on_real_block_groups(shared_data):
    from equity.sources import read_acs

    acs = read_acs(shared_data / ACS_VA)
    table = compute_indicators(counts_from_acs(acs), indicators=["share_no_computer"])
    u, s = acs["B28001_001E"].to_numpy(float), acs["B28001_002E"].to_numpy(float)
    want = _moe.moe_proportion(s, u, acs["B28001_002M"].to_numpy(float),
                               acs["B28001_001M"].to_numpy(float))  # fmt: skip
    ok = u > 0
    np.testing.assert_allclose(table["moe_share_no_computer"].to_numpy()[ok], want[ok], rtol=1e-9)
    ok &= want > 0
    old = np.hypot(acs["B28001_001M"], acs["B28001_002M"]).to_numpy()[ok] / u[ok]
    assert np.median(old / want[ok]) > 2  # the difference formula overstated it


def test_coded_medians_are_recognised_by_their_code_without_moe():
    acs = pd.DataFrame(
        {
            "GEOID": ["1", "2", "3", "4"],
            "B19013_001E": [250_001.0, 2_499.0, 61_000.0, 250_001.0],
            "B19013_001M": [np.nan, np.nan, 9_000.0, 12_000.0],
        }
    )
    counts = counts_from_acs(acs)
    ind = REGISTRY["median_household_income"]
    # a value of 250,001 with an MOE is a plain value; counts stay all numeric
    assert coded_values(counts, ind).tolist() == ["top", "bottom", "", ""]
    assert all(pd.api.types.is_numeric_dtype(counts[c]) for c in counts.columns if c != "GEOID")
    given = counts.assign(median_household_income_coded=["", "", "top", ""])
    assert coded_values(given, ind).tolist() == ["", "", "top", ""]  # an explicit column wins

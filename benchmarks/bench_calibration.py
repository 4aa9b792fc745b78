"""Calibration of the index's uncertainty: a simulation with a known truth.

Truth: the real ACS 2017-2021 counts of the Virginia block groups
(``acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv``, limited to the block groups of
``boundaries/va/cb_2020_51_bg_500k``) with their published margins of error. From them,
``--datasets`` noisy datasets are drawn under two noise models:

``acs``
    ACS-like: each universe (B28001_001, B28002_001) is drawn from its MOE, each share of it
    (B28001_002, B28002_004, _007, _013 over their universe) from the standard error of the
    proportion (the Census formula), clipped to [0, 1], and the count is share x universe
    (rounded). Median income is drawn from its MOE; draws past the ACS codes become coded
    (250,001 "250,000+" and 2,499 "2,500-", MOE not published); coded and suppressed medians
    stay as published.
``counts``
    Independent counts (the model the project's draws used before): every count drawn from
    its own MOE independently, at least 0, a share's numerator at most its universe.

Each noisy dataset keeps the truth's published MOEs (a fixed survey design: the MOE says how
far estimates of this size stray, and the simulation tests exactly that), goes through the
project's own code (:func:`equity.indicators.counts_from_acs`, at tract level
:func:`equity.geographies.aggregate`, :func:`equity.indicators.compute_indicators`) and gets
the index with ``--draws`` Monte Carlo draws (:func:`equity.index.compute_index`, the
``techspark`` preset with the indicators these tables have: no internet, no broadband, no
computer, median household income). The truth's index is the same call on the truth with no
draws.

Printed per level and noise model: the share of 90% intervals that contain the true index,
overall and by decile of true need (decile 10 = the tenth with the most need); the same for
the rank intervals; median widths of the index interval (points of 100) and of the rank
interval (ranks); the spread (standard deviation) of the interval midpoints against the
truth's; how many intervals had to be widened to contain their own point estimate; and the
calibration of ``p_top_k`` (probability of ranking first in the state): per bin of predicted
probability, the places in it, their mean prediction and the observed frequency of being the
true first. Targets (issue #17): 87-93% overall, at least 85% in the top tenth, and
``P(top 1)`` within 0.1 of the observed frequency in every bin of 100 or more places.

Usage::

    python benchmarks/bench_calibration.py [--datasets 100] [--draws 200]
        [--levels blockgroup tract] [--models acs counts] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from equity import geographies, indicators
from equity.index import compute_index

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("EQUITY_SHARED_DATA", ROOT.parent / "shared" / "data"))
ACS_FILE = "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"
BG_FILE = "boundaries/va/cb_2020_51_bg_500k.dbf"

#: Universes and the variables that are shares of them.
UNIVERSES = {
    "B28002_001": ("B28002_004", "B28002_007", "B28002_013"),
    "B28001_001": ("B28001_002",),
}
MEDIAN = "B19013_001"
#: ACS codes of an open-ended median household income (2017-2021): "250,000+" and "2,500-".
TOP_CODE, BOTTOM_CODE = 250_001.0, 2_499.0
Z90 = 1.645
MODELS = ("acs", "counts")
LEVELS = ("blockgroup", "tract")
#: Edges of the bins of predicted P(top 1 in state).
P_BINS = np.round(np.linspace(0.0, 1.0, 11), 10)
#: Targets of issue #17.
TARGET_COVERAGE = (0.87, 0.93)
TARGET_TOP_TENTH = 0.85
TARGET_P_GAP = 0.1
MIN_BIN = 100


def read_truth(data: Path = DEFAULT_DATA) -> pd.DataFrame:
    """The real Virginia block-group ACS table (read as the project reads it), land block groups."""
    from pyogrio import read_dataframe

    from equity.sources import read_acs

    acs = read_acs(data / ACS_FILE)
    bgs = read_dataframe(data / BG_FILE, read_geometry=False, columns=["GEOID"])["GEOID"]
    return acs[acs["GEOID"].isin(set(bgs.astype(str)))].reset_index(drop=True)


def _moe(acs: pd.DataFrame, var: str) -> np.ndarray:
    return acs[f"{var}M"].to_numpy(dtype=float, na_value=np.nan)


def _est(acs: pd.DataFrame, var: str) -> np.ndarray:
    return acs[f"{var}E"].to_numpy(dtype=float, na_value=np.nan)


def _proportion_se(x: np.ndarray, u: np.ndarray, mx: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Standard error of x / u by the Census proportion formula (ratio formula if negative)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(u > 0, x / np.where(u > 0, u, 1.0), np.nan)
        rad = mx**2 - p**2 * mu**2
        rad = np.where(rad < 0, mx**2 + p**2 * mu**2, rad)
        return np.sqrt(rad) / np.where(u > 0, u, np.nan) / Z90


def noisy_dataset(truth: pd.DataFrame, model: str, rng: np.random.Generator) -> pd.DataFrame:
    """One noisy ACS table drawn from the truth under `model` (``"acs"`` or ``"counts"``)."""
    out = truth.copy()
    n = len(truth)
    for uni, parts in UNIVERSES.items():
        u, mu = _est(truth, uni), np.nan_to_num(_moe(truth, uni))
        u_star = np.where(
            u > 0, np.maximum(0.0, np.round(u + rng.standard_normal(n) * mu / Z90)), 0
        )
        out[f"{uni}E"] = u_star
        for var in parts:
            x, mx = _est(truth, var), np.nan_to_num(_moe(truth, var))
            if model == "acs":
                se = np.nan_to_num(_proportion_se(x, u, mx, mu))
                p = np.where(u > 0, x / np.where(u > 0, u, 1.0), 0.0)
                p_star = np.clip(p + rng.standard_normal(n) * se, 0.0, 1.0)
                x_star = np.round(p_star * u_star)
            else:
                x_star = np.maximum(0.0, np.round(x + rng.standard_normal(n) * mx / Z90))
                x_star = np.minimum(x_star, u_star)
            out[f"{var}E"] = np.where(u > 0, x_star, 0.0)
    _noisy_median(truth, out, rng)
    return out


def _noisy_median(truth: pd.DataFrame, out: pd.DataFrame, rng: np.random.Generator) -> None:
    """Median income drawn from its MOE; coded past the ACS codes; coded/suppressed kept."""
    m, mm = _est(truth, MEDIAN), _moe(truth, MEDIAN)
    flag = truth[f"{MEDIAN}_flag"].astype(str).to_numpy()
    free = np.isfinite(m) & np.isfinite(mm) & (flag == "")
    draw = m + rng.standard_normal(len(m)) * np.nan_to_num(mm) / Z90
    top, bottom = free & (draw >= TOP_CODE), free & (draw <= BOTTOM_CODE)
    est = np.where(free, np.round(draw), m)
    est[top], est[bottom] = TOP_CODE, BOTTOM_CODE
    moe = np.where(top | bottom, np.nan, mm)
    out[f"{MEDIAN}E"], out[f"{MEDIAN}M"] = est, moe
    new_flag = flag.copy()
    new_flag[top], new_flag[bottom] = "median_top_coded", "median_bottom_coded"
    out[f"{MEDIAN}_flag"] = new_flag


def level_table(acs: pd.DataFrame, level: str) -> pd.DataFrame:
    """Indicator table of one level from an ACS block-group table, by the project's code."""
    counts = indicators.counts_from_acs(acs)
    if level == "tract":
        cols = [
            c
            for c in counts.columns
            if c != "GEOID" and not c.startswith("moe_") and c != "median_household_income"
            and pd.api.types.is_numeric_dtype(counts[c])
        ]  # fmt: skip
        carried = ["GEOID", *cols, "median_household_income"]
        carried += [f"moe_{c}" for c in (*cols, "median_household_income") if f"moe_{c}" in counts]
        counts = geographies.aggregate(
            counts[carried], to="tract", counts=cols,
            medians={"median_household_income": "households"},
        )  # fmt: skip
    table = indicators.compute_indicators(counts)
    table["state_GEOID"] = table["GEOID"].str[:2]
    return table


@dataclass
class _Tally:
    """Pooled results of one level and noise model over the datasets."""

    truth: np.ndarray
    truth_rank: np.ndarray
    truth_top: np.ndarray
    decile: np.ndarray
    hits: list[np.ndarray] = field(default_factory=list)
    rank_hits: list[np.ndarray] = field(default_factory=list)
    widths: list[np.ndarray] = field(default_factory=list)
    rank_widths: list[np.ndarray] = field(default_factory=list)
    mids: list[float] = field(default_factory=list)
    extended: list[int] = field(default_factory=list)
    p_top: list[np.ndarray] = field(default_factory=list)
    top_obs: list[np.ndarray] = field(default_factory=list)
    deciles: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, out: pd.DataFrame) -> None:
        """Score one noisy dataset's index against the truth."""
        point = out["equity_index"].to_numpy(float)
        lo, hi = out["equity_index_lo"].to_numpy(float), out["equity_index_hi"].to_numpy(float)
        rlo = out["rank_lo"].to_numpy(dtype=float, na_value=np.nan)
        rhi = out["rank_hi"].to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(point) & np.isfinite(self.truth)
        t = self.truth[ok]
        self.hits.append((lo[ok] - 1e-9 <= t) & (t <= hi[ok] + 1e-9))
        tr = self.truth_rank[ok]
        self.rank_hits.append((rlo[ok] <= tr) & (tr <= rhi[ok]))
        self.widths.append(hi[ok] - lo[ok])
        self.rank_widths.append(rhi[ok] - rlo[ok])
        self.mids.append(float(np.std((lo[ok] + hi[ok]) / 2)))
        self.extended.append(int(out.attrs["index"].get("n_interval_extended", 0)))
        self.p_top.append(out["p_top_k"].to_numpy(float)[ok])
        self.top_obs.append(self.truth_top[ok])
        self.deciles.append(self.decile[ok])


def _truth_tally(table: pd.DataFrame) -> _Tally:
    out = compute_index(table, n_draws=0)
    truth = out["equity_index"].to_numpy(float)
    ok = np.isfinite(truth)
    decile = np.full(truth.size, -1)
    order = np.argsort(np.argsort(truth[ok], kind="stable"), kind="stable")
    decile[ok] = np.minimum(10 * order // ok.sum(), 9) + 1
    return _Tally(
        truth=truth,
        truth_rank=out["rank"].to_numpy(dtype=float, na_value=np.nan),
        # the true first place of the state (places tied for it share it)
        truth_top=out["p_top_k"].to_numpy(dtype=float, na_value=np.nan),
        decile=decile,
    )


def calibration(
    *,
    datasets: int = 100,
    draws: int = 200,
    levels: Sequence[str] = LEVELS,
    models: Sequence[str] = MODELS,
    data: Path = DEFAULT_DATA,
    seed: int = 20_240_917,
    progress: TextIO | None = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Run the simulation; per (level, model), the summary of :func:`summarise`."""
    truth_acs = read_truth(data)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for level in levels:
        truth_table = level_table(truth_acs, level)
        for model in models:
            tally = _truth_tally(truth_table)
            rng = np.random.default_rng([seed, LEVELS.index(level), MODELS.index(model)])
            t0 = time.perf_counter()
            for k in range(datasets):
                noisy = level_table(noisy_dataset(truth_acs, model, rng), level)
                if not noisy["GEOID"].equals(truth_table["GEOID"]):
                    msg = f"{level}: noisy table's places differ from the truth's"
                    raise RuntimeError(msg)
                tally.add(compute_index(noisy, n_draws=draws, seed=seed + k))
                if progress is not None:
                    print(f"\r{level} {model}: dataset {k + 1}/{datasets}", end="", file=progress)
            tally.seconds = time.perf_counter() - t0
            if progress is not None:
                print(file=progress)
            results[(level, model)] = summarise(tally)
    return results


def summarise(tally: _Tally) -> dict[str, Any]:
    """Coverage overall and by decile, widths, midpoint spread and P(top 1) calibration."""
    hits, dec = np.concatenate(tally.hits), np.concatenate(tally.deciles)
    rank_hits = np.concatenate(tally.rank_hits)
    p, obs = np.concatenate(tally.p_top), np.concatenate(tally.top_obs)
    ok_truth = np.isfinite(tally.truth)
    bins = []
    which = np.clip(np.searchsorted(P_BINS, p, side="right") - 1, 0, len(P_BINS) - 2)
    for b in range(len(P_BINS) - 1):
        sel = which == b
        if sel.any():
            bins.append({
                "bin": (float(P_BINS[b]), float(P_BINS[b + 1])),
                "n": int(sel.sum()),
                "predicted": float(p[sel].mean()),
                "observed": float(obs[sel].mean()),
            })  # fmt: skip
    return {
        "places": int(ok_truth.sum()),
        "datasets": len(tally.hits),
        "coverage": float(hits.mean()),
        "by_decile": [float(hits[dec == d].mean()) for d in range(1, 11)],
        "rank_coverage": float(rank_hits.mean()),
        "rank_by_decile": [float(rank_hits[dec == d].mean()) for d in range(1, 11)],
        "median_width": float(np.median(np.concatenate(tally.widths))),
        "median_rank_width": float(np.median(np.concatenate(tally.rank_widths))),
        "midpoint_sd": float(np.mean(tally.mids)),
        "truth_sd": float(np.std(tally.truth[ok_truth])),
        "extended": float(np.mean(tally.extended)),
        "p_top1_bins": bins,
        "seconds": tally.seconds,
    }


def meets_targets(s: dict[str, Any]) -> dict[str, bool]:
    """Which targets of issue #17 one summary meets."""
    lo, hi = TARGET_COVERAGE
    gaps = [abs(b["predicted"] - b["observed"]) for b in s["p_top1_bins"] if b["n"] >= MIN_BIN]
    return {
        "coverage": lo <= s["coverage"] <= hi,
        "top_tenth": s["by_decile"][9] >= TARGET_TOP_TENTH,
        "p_top1": all(g <= TARGET_P_GAP for g in gaps),
    }


def report(results: dict[tuple[str, str], dict[str, Any]], file: TextIO = sys.stdout) -> None:
    """Print the tables."""
    p = lambda *a: print(*a, file=file)  # noqa: E731
    p("| level | noise model | places x datasets | 90% interval covers the truth | top tenth "
      "| rank interval covers the true rank | median width (index, points) | median width "
      "(rank) | midpoint sd / truth sd | widened to the estimate (per dataset) |")  # fmt: skip
    p("|---|---|---|---|---|---|---|---|---|---|")
    for (level, model), s in results.items():
        p(f"| {level} | {model} | {s['places']:,} x {s['datasets']} | {s['coverage']:.1%} "
          f"| {s['by_decile'][9]:.1%} | {s['rank_coverage']:.1%} | {s['median_width']:.1f} "
          f"| {s['median_rank_width']:,.0f} | {s['midpoint_sd']:.1f} / {s['truth_sd']:.1f} "
          f"| {s['extended']:.1f} |")  # fmt: skip
    p()
    p("Coverage by decile of true need (1 = least need, 10 = most):")
    p("| level | noise model | " + " | ".join(str(d) for d in range(1, 11)) + " |")
    p("|---|---|" + "---|" * 10)
    for (level, model), s in results.items():
        p(f"| {level} | {model} | " + " | ".join(f"{c:.0%}" for c in s["by_decile"]) + " |")
    p()
    p("P(top 1 in state) calibration (bins of predicted probability):")
    p("| level | noise model | bin | places | mean predicted | observed frequency |")
    p("|---|---|---|---|---|---|")
    for (level, model), s in results.items():
        for b in s["p_top1_bins"]:
            lo, hi = b["bin"]
            p(f"| {level} | {model} | [{lo:.1f}, {hi:.1f}) | {b['n']:,} | {b['predicted']:.3f} "
              f"| {b['observed']:.3f} |")  # fmt: skip
    p()
    for (level, model), s in results.items():
        met = meets_targets(s)
        p(f"{level} / {model}: targets " + ", ".join(
            f"{k} {'met' if v else 'NOT met'}" for k, v in met.items()
        ) + f" ({s['seconds']:.0f} s)")  # fmt: skip


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=100)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--levels", nargs="+", default=list(LEVELS), choices=LEVELS)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=20_240_917)
    args = ap.parse_args(None if argv is None else list(argv))
    results = calibration(
        datasets=args.datasets, draws=args.draws, levels=args.levels, models=args.models,
        data=args.data, seed=args.seed, progress=sys.stderr,
    )  # fmt: skip
    report(results)


if __name__ == "__main__":
    main()

"""Deterministic synthetic national tables for benchmarks (generated in memory, never committed).

:func:`national_tables` builds a nation of nested places in the project's contract formats: a
lattice of 49 "states" over the contiguous-US extent, each cut into county rectangles, each
county into tract rectangles and each tract into block-group rectangles (GEOIDs nest as state
2 / county 5 / tract 11 / block group 12 digits). Block groups carry ACS-like counts with their
90% MOEs in the friendly count columns of ``docs/contracts.md``; tracts and counties are their
sums (MOE: root sum of squares; median income: household-weighted mean of the block-group
medians, its MOE propagated the same way) plus Ookla-like speeds and county context (Microsoft
usage) for the index. :func:`acs_table` writes block-group counts back as ACS variables
(``<VAR>E``/``<VAR>M``) for the loading benchmark, and :func:`synthetic_tiles` makes Ookla tiles
in the :func:`equity.sources.read_ookla` layout.

Need is spatially clustered: a smooth national random field, state and county random effects,
and urbanity (tracts per county area) drive income, which drives the shares. Everything is
vectorised numpy; the same seed gives identical tables. The national size (3,200 counties,
85,000 tracts, 240,000 block groups) is built in a few seconds.

Examples
--------
>>> t = national_tables(n_counties=4, tracts_per_county=3, bgs_per_tract=2, seed=1)
>>> [len(t[k]) for k in ("state", "county", "tract", "blockgroup")]
[4, 4, 12, 24]
>>> bool((t["blockgroup"]["GEOID"].str[:11].isin(t["tract"]["GEOID"])).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from equity import settings
from equity._generators import acs_like_moe, logistic, random_field
from equity.errors import ConfigError
from equity.tiles import OOKLA_ZOOM, quadkeys_from_xy, tile_lat, tile_lon, tiles_xy

__all__ = [
    "CONUS_BOUNDS",
    "COUNT_COLUMNS",
    "acs_table",
    "national_tables",
    "synthetic_tiles",
]

#: Contiguous-US extent (lon_min, lat_min, lon_max, lat_max), EPSG:4326.
CONUS_BOUNDS: tuple[float, float, float, float] = (-124.7, 24.5, -67.0, 49.4)

#: Friendly count columns of the block-group table (each with ``moe_<count>``).
COUNT_COLUMNS: tuple[str, ...] = (
    "population",
    "households",
    "hh_internet_universe",
    "hh_no_internet",
    "hh_broadband",
    "hh_cable_fiber_dsl",
    "hh_computer_universe",
    "hh_no_computer",
    "pop_poverty_universe",
    "pop_below_poverty",
    "pop_age_universe",
    "pop_65_plus",
    "pop_25_plus",
    "pop_no_hs_diploma",
    "pop_disability_universe",
    "pop_with_disability",
    "hh_language_universe",
    "hh_limited_english",
)

# State codes of the 48 contiguous states and DC (real FIPS codes; the places are fictional).
_STATES = tuple(
    f"{c:02d}"
    for c in (
        1,
        4,
        5,
        6,
        8,
        9,
        10,
        11,
        12,
        13,
        16,
        17,
        18,
        19,
        20,
        21,
        22,
        23,
        24,
        25,
        26,
        27,
        28,
        29,
        30,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        38,
        39,
        40,
        41,
        42,
        44,
        45,
        46,
        47,
        48,
        49,
        50,
        51,
        53,
        54,
        55,
        56,
    )  # fmt: skip
)

# ACS variables each count is written as by :func:`acs_table`, with the share of the count
# each variable gets (the last one takes the rounding remainder).
_ACS_PARTS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "population": (("B01003_001",), (1.0,)),
    "households": (("B11001_001",), (1.0,)),
    "hh_internet_universe": (("B28002_001",), (1.0,)),
    "hh_no_internet": (("B28002_013",), (1.0,)),
    "hh_broadband": (("B28002_004",), (1.0,)),
    "hh_cable_fiber_dsl": (("B28002_007",), (1.0,)),
    "hh_computer_universe": (("B28001_001",), (1.0,)),
    "hh_no_computer": (("B28001_011",), (1.0,)),
    "pop_poverty_universe": (("C17002_001",), (1.0,)),
    "pop_below_poverty": (("C17002_002", "C17002_003"), (0.45, 0.55)),
    "pop_age_universe": (("B01001_001",), (1.0,)),
    "pop_65_plus": (
        tuple(f"B01001_{i:03d}" for i in (*range(20, 26), *range(44, 50))),
        (0.045, 0.06, 0.1, 0.07, 0.05, 0.05, 0.05, 0.07, 0.13, 0.11, 0.09, 0.1),
    ),
    "pop_25_plus": (("B15003_001",), (1.0,)),
    "pop_no_hs_diploma": (
        tuple(f"B15003_{i:03d}" for i in range(2, 17)),
        (2, 0.3, 0.4, 0.6, 0.6, 0.7, 1.0, 1.2, 2.6, 2.4, 3.2, 3.3, 3.5, 3.6, 4.0),
    ),
    "pop_disability_universe": (("B18101_001",), (1.0,)),
    "pop_with_disability": (
        tuple(f"B18101_{i:03d}" for i in (4, 7, 10, 13, 16, 19, 23, 26, 29, 32, 35, 38)),
        (0.2, 0.9, 1.6, 2.5, 3.2, 3.0, 0.2, 0.8, 1.4, 2.5, 3.4, 4.2),
    ),
    "hh_language_universe": (("C16002_001",), (1.0,)),
    "hh_limited_english": (
        ("C16002_004", "C16002_007", "C16002_010", "C16002_013"),
        (0.58, 0.15, 0.2, 0.07),
    ),
}


def _spread(
    rng: np.random.Generator, n_items: int, n_groups: int, *, cap: int, sigma: float
) -> np.ndarray:
    """Sizes (>= 1, <= cap) of `n_groups` groups holding `n_items`, lognormal-weighted.

    Extra items go to slots drawn without replacement (Gumbel top-k over ``cap - 1`` slots per
    group), so sizes are exact, bounded and vectorised.
    """
    if not n_groups <= n_items <= cap * n_groups:
        msg = f"cannot put {n_items:,} items into {n_groups:,} groups of 1 to {cap} items"
        raise ConfigError(msg)
    extra = n_items - n_groups
    sizes = np.ones(n_groups, dtype=np.int64)
    if extra == 0:
        return sizes
    log_w = rng.normal(0.0, sigma, n_groups)
    slots = min(cap - 1, extra)
    keys = np.repeat(log_w, slots) + rng.gumbel(size=n_groups * slots)
    chosen = np.argpartition(-keys, extra - 1)[:extra] // slots
    return sizes + np.bincount(chosen, minlength=n_groups)


def _subdivide(bounds: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut each parent rectangle into `sizes[i]` lattice cells; (child bounds, child rank)."""
    parent = np.repeat(np.arange(len(sizes)), sizes)
    starts = np.cumsum(sizes) - sizes
    j = np.arange(len(parent)) - starts[parent]
    x0, y0, x1, y1 = bounds.T
    width_km = (x1 - x0) * np.cos(np.radians((y0 + y1) / 2))
    aspect = width_km / (y1 - y0)
    cols = np.maximum(1, np.ceil(np.sqrt(sizes * aspect))).astype(np.int64)
    rows = np.ceil(sizes / cols).astype(np.int64)
    c, r = j % cols[parent], j // cols[parent]
    nc, nr = cols[parent], rows[parent]
    px0, py0, px1, py1 = x0[parent], y0[parent], x1[parent], y1[parent]

    def edge(lo: np.ndarray, hi: np.ndarray, i: np.ndarray, n: np.ndarray) -> np.ndarray:
        # the same formula for shared edges, and the parent's own edges exactly at the ends
        e = lo + (hi - lo) * (i / n)
        return np.where(i == 0, lo, np.where(i == n, hi, e))

    out = np.column_stack(
        [edge(px0, px1, c, nc), edge(py0, py1, r, nr), edge(px0, px1, c + 1, nc),
         edge(py0, py1, r + 1, nr)]
    )  # fmt: skip
    return out, j


def _codes(width: int, values: np.ndarray) -> np.ndarray:
    return np.char.zfill(values.astype(str), width).astype(object)


def _sum_moe(moe: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    return np.sqrt(np.bincount(groups, weights=moe.astype(float) ** 2, minlength=n))


def _aggregate(bg: pd.DataFrame, key: str, ids: np.ndarray) -> pd.DataFrame:
    """Sum counts of block groups to parents (MOE root sum of squares, weighted medians)."""
    groups = pd.Index(ids).get_indexer(bg[key].to_numpy())
    n = len(ids)
    out: dict[str, object] = {"GEOID": ids}
    for c in COUNT_COLUMNS:
        out[c] = np.bincount(groups, weights=bg[c].to_numpy(dtype=float), minlength=n)
        out[f"moe_{c}"] = _sum_moe(bg[f"moe_{c}"].to_numpy(), groups, n)
    hh = bg["households"].to_numpy(dtype=float)
    w_tot = np.bincount(groups, weights=hh, minlength=n)
    inc = bg["median_household_income"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["median_household_income"] = np.round(
            np.bincount(groups, weights=hh * inc, minlength=n) / w_tot
        )
        out["moe_median_household_income"] = np.round(
            _sum_moe(hh * bg["moe_median_household_income"].to_numpy(), groups, n) / w_tot
        )
    return pd.DataFrame(out)


def national_tables(
    *,
    n_counties: int = 3200,
    tracts_per_county: float = 85_000 / 3200,
    bgs_per_tract: float = 240_000 / 85_000,
    n_states: int = len(_STATES),
    seed: int = settings.seed,
    geometry: bool = True,
    bounds: tuple[float, float, float, float] = CONUS_BOUNDS,
) -> dict[str, pd.DataFrame]:
    """Synthetic nation of states, counties, tracts and block groups with ACS-like counts.

    Parameters
    ----------
    n_counties
        Counties (spread over the states, at most 999 per state).
    tracts_per_county, bgs_per_tract
        Mean sizes: ``round(n_counties * tracts_per_county)`` tracts and
        ``round(n_tracts * bgs_per_tract)`` block groups exactly (1 to 9 block groups per tract).
        The defaults give 85,000 tracts and 240,000 block groups.
    n_states
        States (at most 49, with the codes of the contiguous states and DC; at most
        `n_counties`), laid on a lattice over `bounds`.
    seed
        Seed of every random step.
    geometry
        Return GeoDataFrames (EPSG:4326 rectangles nested exactly) instead of DataFrames.
    bounds
        Extent of the nation (lon/lat).

    Returns
    -------
    dict
        ``"blockgroup"``, ``"tract"``, ``"county"``, ``"state"`` tables: ``GEOID``, ``NAME``,
        ``level``, parent keys (``state_GEOID``, ``county_GEOID``, ``tract_GEOID``), the counts
        of :data:`COUNT_COLUMNS` with ``moe_<count>``, ``median_household_income`` and its MOE,
        ``lon``/``lat`` (centre) and, with `geometry`, ``geometry``. Tracts and counties add
        ``download_mbps``, ``upload_mbps``, ``latency_ms``, ``ookla_tests``,
        ``share_tests_below_25_3``, ``broadband_usage``, ``broadband_availability``.

    Raises
    ------
    ConfigError
        Sizes that cannot nest (e.g. more than 9 block groups per tract on average); a
        ``ValueError``.
    """
    if not 1 <= n_states <= len(_STATES):
        msg = f"n_states must be 1 to {len(_STATES)}, got {n_states}"
        raise ConfigError(msg)
    n_states = min(n_states, n_counties)
    n_tracts = round(n_counties * tracts_per_county)
    n_bgs = round(n_tracts * bgs_per_tract)
    rng = np.random.default_rng(seed)
    # one random stream: the steps draw from it in this order
    nation = _nest(
        rng, bounds, n_states=n_states, n_counties=n_counties, n_tracts=n_tracts, n_bgs=n_bgs
    )
    bg, need = _blockgroups(rng, nation)
    tract, county, state = _parents(bg, nation)
    _add_speeds_and_usage(rng, nation, need, tract, county)
    tables = {"blockgroup": bg, "tract": tract, "county": county, "state": state}
    for name in ("tract", "county", "state"):
        b = nation.bounds[name]
        tables[name]["lon"] = (b[:, 0] + b[:, 2]) / 2
        tables[name]["lat"] = (b[:, 1] + b[:, 3]) / 2
    if geometry:
        tables = {
            k: gpd.GeoDataFrame(v, geometry=shapely.box(*nation.bounds[k].T), crs=4326)
            for k, v in tables.items()
        }
    return tables


@dataclass(frozen=True)
class _Nation:
    """The nested lattice of places: bounds, sizes, ranks, parents and GEOIDs of each level."""

    #: Rectangles (lon/lat bounds) of each level: "state", "county", "tract", "blockgroup".
    bounds: dict[str, np.ndarray]
    county_sizes: np.ndarray  # counties per state
    tract_sizes: np.ndarray  # tracts per county
    bg_sizes: np.ndarray  # block groups per tract
    county_rank: np.ndarray  # position of each county in its state
    tract_rank: np.ndarray
    bg_rank: np.ndarray
    county_state: np.ndarray  # parent position of each county
    tract_county: np.ndarray
    bg_tract: np.ndarray
    state_ids: np.ndarray
    county_ids: np.ndarray
    tract_ids: np.ndarray
    bg_ids: np.ndarray
    #: County code step (odd codes, as most states use, where a state has few counties).
    step: np.ndarray


def _nest(
    rng: np.random.Generator,
    bounds: tuple[float, float, float, float],
    *,
    n_states: int,
    n_counties: int,
    n_tracts: int,
    n_bgs: int,
) -> _Nation:
    """States on a lattice over the extent; counties, tracts, block groups nested lattices."""
    state_bounds, _ = _subdivide(np.array([bounds], dtype=float), np.array([n_states]))
    county_sizes = _spread(rng, n_counties, n_states, cap=999, sigma=0.5)
    county_bounds, county_rank = _subdivide(state_bounds, county_sizes)
    county_state = np.repeat(np.arange(n_states), county_sizes)
    tract_sizes = _spread(rng, n_tracts, n_counties, cap=9999, sigma=1.1)
    tract_bounds, tract_rank = _subdivide(county_bounds, tract_sizes)
    tract_county = np.repeat(np.arange(n_counties), tract_sizes)
    bg_sizes = _spread(rng, n_bgs, n_tracts, cap=9, sigma=0.4)
    bg_bounds, bg_rank = _subdivide(tract_bounds, bg_sizes)
    bg_tract = np.repeat(np.arange(n_tracts), bg_sizes)

    state_ids = np.array(_STATES[:n_states], dtype=object)
    step = np.where(county_sizes[county_state] <= 499, 2, 1)  # odd codes, as most states use
    county_ids = state_ids[county_state] + _codes(3, county_rank * step + 1)
    tract_ids = county_ids[tract_county] + _codes(6, (tract_rank + 1) * 100)
    bg_ids = tract_ids[bg_tract] + (bg_rank + 1).astype(str).astype(object)
    return _Nation(
        bounds={
            "blockgroup": bg_bounds,
            "tract": tract_bounds,
            "county": county_bounds,
            "state": state_bounds,
        },
        county_sizes=county_sizes,
        tract_sizes=tract_sizes,
        bg_sizes=bg_sizes,
        county_rank=county_rank,
        tract_rank=tract_rank,
        bg_rank=bg_rank,
        county_state=county_state,
        tract_county=tract_county,
        bg_tract=bg_tract,
        state_ids=state_ids,
        county_ids=county_ids,
        tract_ids=tract_ids,
        bg_ids=bg_ids,
        step=step,
    )


def _blockgroups(rng: np.random.Generator, nation: _Nation) -> tuple[pd.DataFrame, _Need]:
    """The block-group table (counts, MOEs, median income, centre) and its latent need."""
    need = _need(rng, nation)
    est, hh, pop = _counts(rng, need)
    n = len(nation.bg_ids)
    bg_county = nation.tract_county[nation.bg_tract]
    cols: dict[str, object] = {
        "GEOID": nation.bg_ids,
        "NAME": "Block Group " + (nation.bg_rank + 1).astype(str).astype(object),
        "level": "blockgroup",
        "state_GEOID": nation.state_ids[nation.county_state[bg_county]],
        "county_GEOID": nation.county_ids[bg_county],
        "tract_GEOID": nation.tract_ids[nation.bg_tract],
    }
    k = rng.uniform(4.5, 7.5, n)  # design effect of the block group's sample
    moe_hh = acs_like_moe(rng, hh, k).astype(float)
    moe_pop = acs_like_moe(rng, pop, k).astype(float)
    for c in COUNT_COLUMNS:
        cols[c] = est[c].astype(float)
        if est[c] is hh:
            cols[f"moe_{c}"] = moe_hh
        elif est[c] is pop:
            cols[f"moe_{c}"] = moe_pop
        else:
            cols[f"moe_{c}"] = acs_like_moe(rng, est[c], k).astype(float)
    inc = np.rint(need.income / 10) * 10
    cols["median_household_income"] = inc
    cols["moe_median_household_income"] = np.rint(inc * rng.uniform(0.08, 0.5, n))
    cols["lon"], cols["lat"] = need.lon, need.lat
    return pd.DataFrame(cols), need


@dataclass(frozen=True)
class _Need:
    """Latent variables of each block group that drive its counts (and the tract speeds)."""

    lon: np.ndarray
    lat: np.ndarray
    z_field: np.ndarray  # smooth national random field
    s: np.ndarray  # urbanity 0 (rural) to 1 (city)
    dev: np.ndarray  # log income deviation from 64,000
    income: np.ndarray


def _need(rng: np.random.Generator, nation: _Nation) -> _Need:
    """Latent need: national field + state and county effects + urbanity + tract/bg noise."""
    bg_bounds = nation.bounds["blockgroup"]
    lon = (bg_bounds[:, 0] + bg_bounds[:, 2]) / 2
    lat = (bg_bounds[:, 1] + bg_bounds[:, 3]) / 2
    bg_county = nation.tract_county[nation.bg_tract]
    bg_state = nation.county_state[bg_county]
    z_field = random_field(rng, 6.0)(lon, lat)
    z_state = rng.normal(0, 0.12, len(nation.state_ids))[bg_state]
    z_county = rng.normal(0, 0.15, len(nation.county_ids))[bg_county]
    z_tract = rng.normal(0, 0.12, len(nation.tract_ids))[nation.bg_tract]
    tract_sizes = nation.tract_sizes
    density = np.log(tract_sizes / tract_sizes.mean())[bg_county]  # more tracts: more urban
    s = np.clip(0.5 + density / 4, 0, 1)  # urbanity 0 (rural) to 1 (city)
    n = len(nation.bg_ids)
    dev = 0.2 * z_field + z_state + z_county + z_tract + 0.25 * s + rng.normal(0, 0.12, n)
    income = np.exp(np.log(64000) + dev)
    return _Need(lon=lon, lat=lat, z_field=z_field, s=s, dev=dev, income=income)


def _counts(
    rng: np.random.Generator, need: _Need
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """ACS-like counts of each block group (and its households and population arrays)."""
    s, dev, z_field = need.s, need.dev, need.z_field
    rural = (1 - s) ** 2
    n = len(s)
    hh = np.clip(np.rint(520 * (1 + 0.35 * s) * rng.lognormal(0, 0.25, n)), 250, 1500)
    hh = hh.astype(np.int64)
    pop = np.rint(hh * np.clip(2.45 + 0.1 * z_field + rng.normal(0, 0.12, n), 1.6, 3.4))
    pop = pop.astype(np.int64)
    p_noint = logistic(-2.75 - 1.3 * dev + 0.9 * rural + rng.normal(0, 0.35, n))
    p_65 = logistic(-1.65 + 0.55 * rural + 0.2 * z_field + rng.normal(0, 0.1, n))
    p_nocomp = np.clip(0.55 * p_noint + 0.1 * p_65 * rural + rng.normal(0, 0.01, n), 0.01, 0.6)
    p_pov = logistic(-2.0 - 1.7 * dev + rng.normal(0, 0.2, n))
    p_nohs = logistic(-2.5 - 1.1 * dev + 0.45 * rural + rng.normal(0, 0.15, n))
    p_dis = logistic(-2.2 + 2.5 * (p_65 - 0.17) + 0.4 * rural + rng.normal(0, 0.1, n))
    p_lep = logistic(-3.8 + 1.4 * s + rng.normal(0, 0.3, n))
    p_cable = logistic(-0.4 + 3.2 * s + rng.normal(0, 0.2, n))

    no_int = rng.binomial(hh, p_noint)
    bband = rng.binomial(hh - no_int, 0.955)
    pov_univ = pop - rng.binomial(pop, 0.025)
    pop25 = rng.binomial(pop, np.clip(0.64 + 0.3 * (p_65 - 0.17), 0.5, 0.85))
    dis_univ = pop - rng.binomial(pop, 0.012)
    est = {
        "population": pop,
        "households": hh,
        "hh_internet_universe": hh,
        "hh_no_internet": no_int,
        "hh_broadband": bband,
        "hh_cable_fiber_dsl": rng.binomial(bband, p_cable),
        "hh_computer_universe": hh,
        "hh_no_computer": rng.binomial(hh, p_nocomp),
        "pop_poverty_universe": pov_univ,
        "pop_below_poverty": rng.binomial(pov_univ, p_pov),
        "pop_age_universe": pop,
        "pop_65_plus": rng.binomial(pop, p_65),
        "pop_25_plus": pop25,
        "pop_no_hs_diploma": rng.binomial(pop25, p_nohs),
        "pop_disability_universe": dis_univ,
        "pop_with_disability": rng.binomial(dis_univ, p_dis),
        "hh_language_universe": hh,
        "hh_limited_english": rng.binomial(hh, p_lep),
    }
    return est, hh, pop


def _parents(bg: pd.DataFrame, nation: _Nation) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tracts, counties and states: sums of their block groups, with names and parent keys."""
    tract = _aggregate(bg, "tract_GEOID", nation.tract_ids)
    tract.insert(1, "NAME", "Census Tract " + _codes(6, (nation.tract_rank + 1) * 100))
    tract.insert(2, "level", "tract")
    tract.insert(3, "state_GEOID", nation.state_ids[nation.county_state[nation.tract_county]])
    tract.insert(4, "county_GEOID", nation.county_ids[nation.tract_county])
    county = _aggregate(bg, "county_GEOID", nation.county_ids)
    county.insert(1, "NAME", "County " + _codes(3, nation.county_rank * nation.step + 1))
    county.insert(2, "level", "county")
    county.insert(3, "state_GEOID", nation.state_ids[nation.county_state])
    state = _aggregate(bg, "state_GEOID", nation.state_ids)
    state.insert(1, "NAME", "State " + nation.state_ids)
    state.insert(2, "level", "state")
    return tract, county, state


def _add_speeds_and_usage(
    rng: np.random.Generator,
    nation: _Nation,
    need: _Need,
    tract: pd.DataFrame,
    county: pd.DataFrame,
) -> None:
    """Add Ookla-like speeds (tracts, counties) and Microsoft-like usage (both), following need."""
    n_tracts, n_counties = len(nation.tract_ids), len(nation.county_ids)
    bg_sizes, tract_sizes, tract_county = nation.bg_sizes, nation.tract_sizes, nation.tract_county
    t_dev = np.bincount(nation.bg_tract, weights=need.dev, minlength=n_tracts) / bg_sizes
    t_s = need.s[np.cumsum(bg_sizes) - bg_sizes]
    down = np.exp(4.4 + 0.5 * t_s + 0.4 * t_dev + rng.normal(0, 0.35, n_tracts))
    tests = np.rint(tract["households"].to_numpy() * rng.uniform(0.05, 0.25, n_tracts))
    tract["download_mbps"] = down.round(2)
    tract["upload_mbps"] = (down * rng.uniform(0.05, 0.5, n_tracts)).round(2)
    tract["latency_ms"] = np.exp(3.0 - 0.4 * t_s + rng.normal(0, 0.3, n_tracts)).round(1)
    tract["ookla_tests"] = tests
    tract["share_tests_below_25_3"] = logistic(-1.8 - 1.5 * t_s - t_dev).round(4)
    c_dev = np.bincount(tract_county, weights=t_dev, minlength=n_counties) / tract_sizes
    c_s = t_s[np.cumsum(tract_sizes) - tract_sizes]
    w = tract["ookla_tests"].to_numpy()
    w_c = np.bincount(tract_county, weights=w, minlength=n_counties)
    for c in ("download_mbps", "upload_mbps", "latency_ms", "share_tests_below_25_3"):
        v = tract[c].to_numpy() * w
        county[c] = np.round(np.bincount(tract_county, weights=v, minlength=n_counties) / w_c, 4)
    county["ookla_tests"] = w_c
    usage = logistic(0.2 + 1.2 * c_s + 1.5 * c_dev + rng.normal(0, 0.3, n_counties)).round(3)
    avail = np.clip(0.75 + 0.25 * c_s + rng.normal(0, 0.05, n_counties), 0.4, 1.0).round(3)
    county["broadband_usage"] = usage
    county["broadband_availability"] = avail
    tract["broadband_usage"] = usage[tract_county]
    tract["broadband_availability"] = avail[tract_county]


def acs_table(blockgroups: pd.DataFrame) -> pd.DataFrame:
    """Block-group counts written back as ACS variables (``GEOID``, ``<VAR>E``, ``<VAR>M``).

    Counts made of several ACS variables (age 65+, no diploma, disability, limited English,
    below poverty) are split into them with fixed shares (the last takes the remainder), each
    part's MOE the count's MOE times the square root of its share. A few income medians become
    the Census sentinels (``-666666666`` / ``-222222222``) so readers parse them. Reading the
    result with :func:`equity.sources.read_acs` and :func:`equity.indicators.counts_from_acs`
    gives back the counts.
    """
    n = len(blockgroups)
    cols: dict[str, object] = {"GEOID": blockgroups["GEOID"].to_numpy()}
    for count, (variables, shares) in _ACS_PARTS.items():
        total = blockgroups[count].to_numpy(dtype=float)
        moe = blockgroups[f"moe_{count}"].to_numpy(dtype=float)
        p = np.asarray(shares, dtype=float) / sum(shares)
        done = np.zeros(n)
        for i, v in enumerate(variables):
            part = total - done if i == len(variables) - 1 else np.floor(total * p[i])
            done += part
            cols[f"{v}E"] = part.astype(np.int64)
            cols[f"{v}M"] = np.maximum(np.rint(moe * np.sqrt(p[i])), 3).astype(np.int64)
    inc = blockgroups["median_household_income"].to_numpy(dtype=float).copy()
    inc_moe = blockgroups["moe_median_household_income"].to_numpy(dtype=float).copy()
    bad = np.arange(0, n, 997)  # deterministic, about 0.1% of rows
    inc[bad], inc_moe[bad] = -666666666, -222222222
    cols["B19013_001E"] = inc.astype(np.int64)
    cols["B19013_001M"] = inc_moe.astype(np.int64)
    return pd.DataFrame(cols)


def synthetic_tiles(
    n: int,
    *,
    bounds: tuple[float, float, float, float] = CONUS_BOUNDS,
    seed: int = settings.seed,
    n_cities: int = 400,
    geometry: bool = True,
) -> gpd.GeoDataFrame:
    """`n` distinct zoom-16 Ookla tiles over `bounds`, clustered around cities.

    Parameters
    ----------
    n
        Tiles (distinct quadkeys); at most the tiles of `bounds`.
    bounds
        lon_min, lat_min, lon_max, lat_max.
    seed
        Seed of every random step.
    n_cities
        Cluster centres (70% of tiles are near one, the rest uniform).
    geometry
        Build the tile squares (the bulk of the memory: about 0.3 kB a tile); without it a
        DataFrame with ``quadkey`` and the values.

    Returns
    -------
    geopandas.GeoDataFrame
        The :func:`equity.sources.read_ookla` layout: ``quadkey`` (16 digits, pyarrow-backed
        strings to save memory), ``download_mbps``, ``upload_mbps``, ``latency_ms``,
        ``tests``, ``devices`` and ``geometry`` (the tile's square, EPSG:4326).
    """
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = bounds
    z = 1 << OOKLA_ZOOM
    (tx0, tx1), (ty0, ty1) = (
        v.tolist() for v in tiles_xy(np.array([x0, x1]), np.array([y1, y0]))
    )  # north-west and south-east corners
    capacity = (tx1 - tx0 + 1) * (ty1 - ty0 + 1)
    if n > capacity // 2:
        msg = f"{n:,} tiles requested but {bounds} holds {capacity:,} zoom-16 tiles"
        raise ConfigError(msg)
    centres = np.column_stack([rng.uniform(x0, x1, n_cities), rng.uniform(y0, y1, n_cities)])
    spread = rng.lognormal(np.log(0.25), 0.5, n_cities)  # degrees
    pop = rng.pareto(1.2, n_cities) + 1
    keys = np.empty(0, dtype=np.int64)
    urban = np.empty(0)
    m = n
    while len(keys) < n:
        m = int(m * 1.3) + 1000
        n_city = int(0.7 * m)
        which = rng.choice(n_cities, n_city, p=pop / pop.sum())
        offset = rng.normal(size=(n_city, 2))
        pts = centres[which] + offset * spread[which, None]
        pts = np.vstack([pts, rng.uniform([x0, y0], [x1, y1], size=(m - n_city, 2))])
        near = np.concatenate([np.exp(-0.5 * (offset**2).sum(axis=1)), np.zeros(m - n_city)])
        ok = (pts[:, 0] > x0) & (pts[:, 0] < x1) & (pts[:, 1] > y0) & (pts[:, 1] < y1)
        pts, near = pts[ok], near[ok]
        tx, ty = tiles_xy(pts[:, 0], pts[:, 1])
        keys = np.concatenate([keys, tx * z + ty])
        urban = np.concatenate([urban, near])
        _, first = np.unique(keys, return_index=True)
        first.sort()  # distinct, in drawing order (so deterministic)
        keys, urban = keys[first], urban[first]
    keys, urban = keys[:n], urban[:n]
    tx, tyy = keys // z, keys % z
    lon0, lon1 = tile_lon(tx), tile_lon(tx + 1)
    lat_top, lat_bottom = tile_lat(tyy), tile_lat(tyy + 1)
    # Speeds: faster near city centres; more tests there.
    download = np.exp(3.8 + 1.2 * urban + rng.normal(0, 0.6, n))
    tests = np.ceil(rng.gamma(1.2, 4.0 + 10.0 * urban, n))
    cols = {
        "quadkey": pd.array(quadkeys_from_xy(tx, tyy), dtype="string[pyarrow]"),
        "download_mbps": download.round(3),
        "upload_mbps": (download * rng.uniform(0.05, 0.6, n)).round(3),
        "latency_ms": np.ceil(np.exp(3.0 - 0.5 * urban + rng.normal(0, 0.4, n))),
        "tests": tests,
        "devices": np.ceil(tests / rng.uniform(1.2, 3.0, n)),
    }
    if not geometry:
        return pd.DataFrame(cols)
    geoms = shapely.box(lon0, lat_bottom, lon1, lat_top)
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=4326)

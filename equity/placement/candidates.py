"""Candidates: the places checked, filtered and ordered, their centroids, states and demand.

Every place with an index value is a candidate unless a filter (states, minimum population or
households, existing sites removed) drops it; candidates are ordered by state, then GEOID, and
grouped by state when sites are selected per state. Distances run between centroids computed in
an equal-area projection (EPSG:6933).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from equity.errors import PlacementError, SchemaError
from equity.placement.options import PlacementOptions
from equity.sources._states import STATES

_FILTER_LABELS = {
    "index": "missing equity_index",
    "states": "states={value!r}",
    "min_population": "min_population={value}",
    "min_households": "min_households={value}",
    "existing": "keep_existing=False (existing sites removed)",
}


@dataclass(frozen=True)
class Candidates:
    """The places and the candidates among them, in the order every later step uses.

    Attributes
    ----------
    places
        All places in EPSG:4326, index 0..n-1 (the row order of draws).
    base
        GEOID, state_GEOID, population, households and equity_index of all places.
    index
        Positions in `places` of the candidates, sorted by state, then GEOID.
    table, rows
        `places` and `base` at the candidates (index 0..n-1).
    groups
        Integer group per candidate (its state, or 0 for all when not per state).
    existing, existing_places
        Whether each candidate, and each place, is an existing program site.
    removed
        Places each filter removed, by filter name.
    xy_places
        Centroid longitude/latitude (n_places, 2) of all places.
    """

    places: gpd.GeoDataFrame
    base: pd.DataFrame
    index: np.ndarray
    table: gpd.GeoDataFrame
    rows: pd.DataFrame
    groups: np.ndarray
    existing: np.ndarray
    existing_places: np.ndarray
    removed: dict[str, int]
    xy_places: np.ndarray

    @property
    def xy(self) -> np.ndarray:
        """Centroid longitude/latitude (n, 2) of the candidates."""
        return self.xy_places[self.index]

    @property
    def n(self) -> int:
        """Number of candidates."""
        return len(self.index)


@dataclass(frozen=True)
class Demand:
    """Where the people in need are: the demand places (default: the places themselves).

    Attributes
    ----------
    table
        The demand table in EPSG:4326.
    xy
        Centroid longitude/latitude (n_demand, 2).
    population, index, need
        People (or households), index value (NaN as 0) and need-weighted people
        (``population * clip(index, 0, 100) / 100``) per demand place.
    size_col
        ``population``, or ``households`` when the table has no population.
    is_places
        The demand places are the places (so per-draw need follows the draws).
    """

    table: gpd.GeoDataFrame
    xy: np.ndarray
    population: np.ndarray
    index: np.ndarray
    need: np.ndarray
    size_col: str
    is_places: bool


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


def _as_wgs84(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"{what} must be a GeoDataFrame, got {type(gdf).__name__}"
        raise PlacementError(msg)
    if gdf.crs is None:
        msg = f"{what} has no CRS; set it (EPSG:4326 expected) before ranking"
        raise PlacementError(msg)
    if gdf.geometry.isna().any() or gdf.geometry.is_empty.any():
        bad = int((gdf.geometry.isna() | gdf.geometry.is_empty).sum())
        msg = f"{what} has {bad} rows without geometry"
        raise PlacementError(msg)
    return gdf if gdf.crs.to_epsg() == 4326 else gdf.to_crs(4326)


def _check_columns(table: pd.DataFrame, what: str, required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in table.columns]
    if "population" not in table.columns and "households" not in table.columns:
        missing.append("population or households")
    if missing:
        raise SchemaError([f"{what} lacks column {c!r}" for c in missing], source="rank_candidates")


def check_places(places: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The places in EPSG:4326 with a fresh index, or the error naming what is wrong."""
    places = _as_wgs84(places, "places").reset_index(drop=True)
    _check_columns(places, "places", ("GEOID", "equity_index"))
    if places["GEOID"].duplicated().any():
        dup = places.loc[places["GEOID"].duplicated(), "GEOID"].iloc[0]
        raise SchemaError(f"places has duplicate GEOID {dup!r}", source="rank_candidates")
    return places


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)


def _centroids_lonlat(gdf: gpd.GeoSeries) -> np.ndarray:
    """Longitude/latitude (n, 2) of centroids computed in an equal-area CRS."""
    geom = gdf
    if len(geom) == 0:
        return np.zeros((0, 2))
    if (geom.geom_type == "Point").all():
        pts = geom.to_crs(4326)
    else:
        pts = geom.to_crs(6933).centroid.to_crs(4326)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


# --------------------------------------------------------------------------------------------
# states
# --------------------------------------------------------------------------------------------


def _state_of(table: pd.DataFrame, what: str) -> pd.Series:
    if "state_GEOID" in table.columns:
        return table["state_GEOID"].astype("string").fillna("")
    geoid = table["GEOID"].astype("string")
    if geoid.str.fullmatch(r"\d{5,}").all():
        return geoid.str[:2]
    msg = f"{what} has no state_GEOID column and its GEOIDs do not start with a state code (e.g. {geoid.iloc[0]!r})"
    raise SchemaError(msg)


def _sample_states() -> dict[str, tuple[str, str]]:
    """The fictional states of the bundled sample region: code -> (name, abbreviation)."""
    try:
        from equity.sample import SAMPLE_STATES
    except ImportError:  # pragma: no cover - the sample module ships with the package
        return {}
    return dict(SAMPLE_STATES)


def _state_names(codes: pd.Series, places: pd.DataFrame) -> pd.Series:
    names = {s.fips: s.name for s in STATES}
    names.update({code: name for code, (name, _) in _sample_states().items()})
    if "state_name" in places.columns:
        known = places.dropna(subset=["state_name"]).drop_duplicates("state_GEOID")
        names.update(
            dict(
                zip(known["state_GEOID"].astype(str), known["state_name"].astype(str), strict=True)
            )
        )
    return codes.map(lambda c: names.get(c, c)).astype("string")


def _normalise_states(states: Iterable[str | int], present: set[str]) -> set[str]:
    from equity.sources._states import lookup_state

    out: set[str] = set()
    for s in [states] if isinstance(states, str | int) else states:
        key = str(s).strip()
        if key.isdigit() and key.zfill(2) in present:
            out.add(key.zfill(2))
            continue
        sample = [
            c for c, (nm, ab) in _sample_states().items() if key.lower() in (nm.lower(), ab.lower())
        ]
        if sample:
            out.add(sample[0])
            continue
        try:
            out.add(lookup_state(s).fips)
        except Exception as exc:
            msg = f"unknown state {s!r} in states (present: {', '.join(sorted(present))})"
            raise PlacementError(msg) from exc
    return out


def _group_codes(states: pd.Series, per_state: bool) -> np.ndarray:
    if not per_state:
        return np.zeros(len(states), dtype=np.int64)
    return pd.factorize(states, sort=True)[0].astype(np.int64)


# --------------------------------------------------------------------------------------------
# candidates
# --------------------------------------------------------------------------------------------


def _base_table(places: pd.DataFrame) -> pd.DataFrame:
    """The columns every step reads, as numbers (NaN where missing)."""

    def numeric(col: str) -> pd.Series | float:
        return pd.to_numeric(places[col], errors="coerce") if col in places.columns else np.nan

    return pd.DataFrame(
        {
            "GEOID": places["GEOID"].astype("string"),
            "state_GEOID": _state_of(places, "places"),
            "population": numeric("population"),
            "households": numeric("households"),
            "equity_index": pd.to_numeric(places["equity_index"], errors="coerce"),
        }
    )


def _existing_mask(base: pd.DataFrame, existing: tuple[str, ...]) -> np.ndarray:
    absent = [g for g in existing if g not in set(base["GEOID"].tolist())]
    if absent:
        msg = f"existing site {absent[0]!r} is not among the candidates (no place with that GEOID)"
        raise PlacementError(msg)
    return base["GEOID"].isin(list(existing)).to_numpy()


def _filter_steps(
    base: pd.DataFrame, is_existing: np.ndarray, options: PlacementOptions
) -> list[tuple[str, Any, np.ndarray]]:
    """Each filter as (name, value shown in messages, places it keeps), in the order applied."""
    steps: list[tuple[str, Any, np.ndarray]] = [
        ("index", None, base["equity_index"].notna().to_numpy())
    ]
    if options.states is not None:
        wanted = _normalise_states(options.states, set(base["state_GEOID"].unique().tolist()))
        steps.append(("states", sorted(wanted), base["state_GEOID"].isin(wanted).to_numpy()))
    for name in ("min_population", "min_households"):
        value = getattr(options, name)
        if value:
            steps.append((name, value, (base[name.removeprefix("min_")] >= value).to_numpy()))
    if not options.keep_existing and options.existing_sites:
        steps.append(("existing", None, ~is_existing))
    return steps


def _apply_filters(
    base: pd.DataFrame, is_existing: np.ndarray, options: PlacementOptions
) -> tuple[np.ndarray, dict[str, int]]:
    """The places kept by every filter, and how many each filter removed.

    Raises when a filter removes a kept existing site or leaves no candidate, naming it.
    """
    keep = np.ones(len(base), dtype=bool)
    removed: dict[str, int] = {}
    guard = options.keep_existing and bool(options.existing_sites)
    for name, value, ok in _filter_steps(base, is_existing, options):
        before = int(keep.sum())
        keep &= ok
        removed[name] = before - int(keep.sum())
        label = _FILTER_LABELS[name].format(value=value)
        lost = base["GEOID"].to_numpy()[is_existing & ~keep].tolist() if guard else []
        if lost:
            msg = f"existing site {lost[0]!r} is not among the candidates: removed by the filter {label}"
            raise PlacementError(msg)
        if not keep.any():
            msg = f"no candidates left after the filter {label} (of {len(base)} places)"
            raise PlacementError(msg)
    return keep, removed


def _check_group_sizes(
    rows: pd.DataFrame, groups: np.ndarray, existing: np.ndarray, options: PlacementOptions
) -> None:
    """``k`` against the candidates of each group and the existing sites kept there."""
    k = options.k
    sizes = np.bincount(groups)
    if (sizes < k).any():
        g = int(np.argmax(sizes < k))
        where = (
            f"in state {rows['state_GEOID'][groups == g].iloc[0]}"
            if options.per_state
            else "after the filters"
        )
        msg = f"k={k} is larger than the {int(sizes[g])} candidates {where}"
        raise PlacementError(msg)
    n_ex = np.bincount(groups, weights=existing.astype(float), minlength=len(sizes))
    if options.keep_existing and (n_ex > k).any():
        g = int(np.argmax(n_ex > k))
        msg = f"{int(n_ex[g])} existing sites must be kept but k={k} (state {rows['state_GEOID'][groups == g].iloc[0]})"
        raise PlacementError(msg)


def prepare_candidates(places: gpd.GeoDataFrame, options: PlacementOptions) -> Candidates:
    """The candidates among checked `places` (:func:`check_places`): filtered, ordered, grouped.

    Raises
    ------
    PlacementError
        An existing site that is not a place or that a filter removes, no candidate left
        after a filter (naming it), ``k`` above the candidates or below the kept sites of a
        group.
    """
    base = _base_table(places)
    is_existing = _existing_mask(base, options.existing_sites)
    keep, removed = _apply_filters(base, is_existing, options)
    index = np.flatnonzero(keep)
    order = np.lexsort(
        (
            base["GEOID"].to_numpy()[index].astype(str),
            base["state_GEOID"].to_numpy()[index].astype(str),
        )
    )
    index = index[order]
    rows = base.iloc[index].reset_index(drop=True)
    groups = _group_codes(rows["state_GEOID"], options.per_state)
    existing = is_existing[index]
    _check_group_sizes(rows, groups, existing, options)
    return Candidates(
        places=places,
        base=base,
        index=index,
        table=places.iloc[index].reset_index(drop=True),
        rows=rows,
        groups=groups,
        existing=existing,
        existing_places=is_existing,
        removed=removed,
        xy_places=_centroids_lonlat(places.geometry),
    )


def prepare_demand(demand: gpd.GeoDataFrame | None, cands: Candidates) -> Demand:
    """The demand places (default: the places themselves) with their people and need."""
    if demand is None:
        table, xy = cands.places, cands.xy_places
    else:
        table = _as_wgs84(demand, "demand")
        _check_columns(table, "demand", ("equity_index",))
        xy = _centroids_lonlat(table.geometry)
    size_col = "population" if "population" in table.columns else "households"
    population = np.nan_to_num(_num(table, size_col))
    index = np.nan_to_num(_num(table, "equity_index"))
    return Demand(
        table=table,
        xy=xy,
        population=population,
        index=index,
        need=population * np.clip(index, 0, 100) / 100.0,
        size_col=size_col,
        is_places=demand is None,
    )

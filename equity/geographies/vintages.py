"""Values moved between geography vintages (e.g. 2010 -> 2020 tracts) by area weighting.

Extensive and plain intensive values go through ``tobler``'s area interpolation on exact
intersection areas; margins of error and count-weighted averages follow
:func:`equity.geographies.crosswalk.apply_crosswalk`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from equity.geographies._checks import _as_list, _check_geo, _numeric, _require_columns
from equity.geographies._crs import AREA_CRS, OUT_CRS
from equity.geographies.crosswalk import _move
from equity.geographies.overlay import _overlay

log = logging.getLogger(__name__)


def interpolate_vintage(
    source: gpd.GeoDataFrame,
    target: gpd.GeoDataFrame,
    *,
    extensive: Sequence[str],
    intensive: Sequence[str] = (),
    intensive_weights: Mapping[str, str] | None = None,
    id_column: str = "GEOID",
) -> gpd.GeoDataFrame:
    """Move values between geography vintages (e.g. 2010 -> 2020 tracts) by area weighting.

    Parameters
    ----------
    source
        Source polygons with the value columns (and optionally ``moe_<extensive>``).
    target
        Target polygons with a unique `id_column`.
    extensive
        Counts (households, tests, devices): split by area share, summed.
    intensive
        Densities or averages: area-weighted means over each target (tobler's definition).
    intensive_weights
        ``{intensive_column: count_column}``: averages weighted by a count of the source
        moved with them (e.g. ``{"avg_down_using_tests": "tests"}``), the right way to move
        a test-weighted mean speed; see :func:`apply_crosswalk` (medians).
    id_column
        Id column of `target`, returned as ``GEOID``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per target (EPSG:4326): ``GEOID``, the extensive columns (and
        ``moe_<column>``), intensive and weighted intensive columns.
        ``attrs["source_outside"]`` gives, per extensive column, the total of sources that
        overlap no target (lost).

    Notes
    -----
    Extensive and plain intensive values are computed by ``tobler.area_weighted.area_interpolate``
    (``allocate_total=True``) on intersection areas in EPSG:6933: a source's value is split
    in proportion to :math:`|s \\cap t| / \\sum_t |s \\cap t|`, so every source overlapping
    the targets is conserved exactly (whole-state tract files cover each other, up to the
    coastline generalisation). MOEs follow :func:`apply_crosswalk`. A target receiving a
    piece of a source with a missing extensive value is missing. Area weighting assumes
    the value is spread evenly within each source; where 2010 tracts were split or merged
    along their old lines (most 2020 changes), the result is exact.
    """
    extensive, intensive = _as_list(extensive), _as_list(intensive)
    intensive_weights = dict(intensive_weights or {})
    _check_geo(source, name="interpolate_vintage: source")
    _check_geo(target, name="interpolate_vintage: target")
    _require_columns(
        source,
        [*extensive, *intensive, *intensive_weights, *intensive_weights.values()],
        name="interpolate_vintage: source",
    )
    _require_columns(target, [id_column], name="interpolate_vintage: target")
    src = source.to_crs(AREA_CRS).reset_index(drop=True)
    tgt = target.to_crs(AREA_CRS).reset_index(drop=True)
    i_s, i_t, area, _ = _overlay(
        np.asarray(src.geometry.array, dtype=object), np.asarray(tgt.geometry.array, dtype=object)
    )
    plain = pd.DataFrame(
        {c: _numeric(src, c, name="interpolate_vintage: source") for c in (*extensive, *intensive)}
    )
    res = _area_interpolate(src, tgt, plain, (i_s, i_t, area), extensive, intensive)
    cover = np.bincount(i_s, weights=area, minlength=len(src))
    w = area / np.where(cover > 0, cover, 1.0)[i_s]
    _add_moved(res, src, (i_s, i_t, w), len(tgt), extensive, intensive_weights)
    res.insert(0, "GEOID", target[id_column].astype("str").to_numpy())
    lost = cover <= 0
    out = gpd.GeoDataFrame(res, geometry=target.geometry.to_crs(OUT_CRS).to_numpy(), crs=OUT_CRS)
    out.attrs["source_outside"] = {
        c: float(np.nansum(plain[c].to_numpy()[lost])) for c in extensive
    }
    log.info(
        "interpolated %d sources onto %d targets (%d sources overlap no target)",
        len(src),
        len(tgt),
        int(lost.sum()),
    )
    return out


def _area_interpolate(
    src: gpd.GeoDataFrame,
    tgt: gpd.GeoDataFrame,
    plain: pd.DataFrame,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    extensive: list[str],
    intensive: list[str],
) -> pd.DataFrame:
    """Extensive and plain intensive values per target by tobler, on the given overlap areas."""
    from scipy.sparse import csr_matrix
    from tobler.area_weighted import area_interpolate

    i_s, i_t, area = pairs
    if not len(plain.columns):
        return pd.DataFrame(index=range(len(tgt)))
    table = csr_matrix((area, (i_s, i_t)), shape=(len(src), len(tgt)))
    interp = area_interpolate(
        gpd.GeoDataFrame(plain, geometry=src.geometry),
        tgt[[tgt.geometry.name]],
        extensive_variables=extensive or None,
        intensive_variables=intensive or None,
        table=table,
        allocate_total=True,
    )
    return pd.DataFrame(interp.drop(columns="geometry")).reset_index(drop=True)


def _add_moved(
    res: pd.DataFrame,
    src: gpd.GeoDataFrame,
    pieces: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_t: int,
    extensive: list[str],
    intensive_weights: dict[str, str],
) -> None:
    """Add to `res` the MOEs, the count-weighted averages, and missing values where a target
    gets a piece of a source whose extensive value is missing."""
    i_s, i_t, w = pieces
    moved = _move(
        pd.DataFrame(src.drop(columns=src.geometry.name)),
        i_s,
        i_t,
        w,
        n_t,
        counts=extensive,
        medians=intensive_weights,
        skipna=False,
    )
    for c in extensive:
        nan_piece = np.isnan(_numeric(src, c, name="interpolate_vintage: source"))[i_s]
        res[c] = np.where(np.bincount(i_t, weights=nan_piece, minlength=n_t) > 0, np.nan, res[c])
        if f"moe_{c}" in moved:
            res[f"moe_{c}"] = moved[f"moe_{c}"]
    for c in intensive_weights:
        res[c] = moved[c]
        if f"moe_{c}" in moved:
            res[f"moe_{c}"] = moved[f"moe_{c}"]

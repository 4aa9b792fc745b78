"""The snapshot's county counts: SVI 2022 fitted to the 2018 county boundaries.

The county boundaries are Census 2018; the SVI 2022 counts use 2022 county definitions. Two
places differ, and are handled as follows (the same words go into ``data/README.md`` and every
run's METHODS.md, from :data:`NOTES`):

- **Alaska.** Valdez-Cordova Census Area (02261) was split in 2019 into Chugach (02063) and
  Copper River (02066). Their counts are summed into 02261 and the margins of error combined
  by the Census sum rule (root of the sum of squares; of parts estimated at zero only the
  largest MOE counts).
- **Connecticut.** SVI 2022 reports Connecticut by its 9 planning regions (09110-09190),
  which do not nest in the 8 former counties (09001-09015) of the boundaries, and no file
  here links the two. The 8 counties take their counts from SVI 2018 (ACS 2014-2018) instead,
  which has no households-without-internet or 150%-of-poverty count: those stay missing for
  Connecticut, whose access and affordability pillars then rest on the other indicators.
  The 9 planning regions are left out (no polygon).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from equity import _moe
from equity.errors import DataError
from equity.sources.svi import counts_from_svi

__all__ = ["ALASKA_SPLIT", "CONNECTICUT_REGIONS", "NOTES", "SOURCE_CODES", "county_counts"]

#: 2018 county -> the 2022 counties it was split into (summed back).
ALASKA_SPLIT: dict[str, tuple[str, ...]] = {"02261": ("02063", "02066")}
#: Connecticut's planning regions, SVI 2022's "counties" there.
CONNECTICUT_REGIONS: tuple[str, ...] = tuple(f"09{c}" for c in range(110, 200, 10))
#: Connecticut's former counties, as in the 2018 boundaries.
CONNECTICUT_COUNTIES: tuple[str, ...] = tuple(f"09{c:03d}" for c in range(1, 16, 2))

#: ``counts_source`` of a county row -> what it means.
SOURCE_CODES: dict[str, str] = {
    "svi2022": "CDC/ATSDR SVI 2022 (ACS 2018-2022)",
    "svi2022_sum_02063_02066": "CDC/ATSDR SVI 2022: Chugach (02063) + Copper River (02066) "
    "summed into Valdez-Cordova (02261), MOEs by the Census sum rule",
    "svi2018_connecticut": "CDC/ATSDR SVI 2018 (ACS 2014-2018): Connecticut's former counties; "
    "no households-without-internet or 150%-of-poverty count",
}

#: What a reader of the outputs must know about the counts (METHODS.md notes).
NOTES: tuple[str, ...] = (
    "Alaska: SVI 2022's Chugach (02063) and Copper River (02066) census areas are summed into "
    "Valdez-Cordova (02261), the county of the 2018 boundaries; MOEs combined by the Census "
    "sum rule.",
    "Connecticut: SVI 2022 reports the 9 planning regions (09110-09190), which do not nest in "
    "the 8 former counties of the 2018 boundaries; the 8 counties use SVI 2018 counts (ACS "
    "2014-2018) instead, which lack households without internet and people below 150% of "
    "poverty, so those indicators are missing there and the pillars rest on the others "
    "(Microsoft usage and availability for access, median income for affordability).",
)


def county_counts(
    svi2022: pd.DataFrame, svi2018: pd.DataFrame, counties: Iterable[str]
) -> pd.DataFrame:
    """The count columns of every county in `counties`, from SVI 2022 (and 2018 for Connecticut).

    Parameters
    ----------
    svi2022, svi2018
        The SVI county files as :func:`equity.sources.read_svi` returns them.
    counties
        The county GEOIDs to cover (those of the 2018 boundaries).

    Returns
    -------
    pandas.DataFrame
        One row per county of `counties`, sorted by GEOID: ``GEOID``, ``counts_source`` (a
        key of :data:`SOURCE_CODES`), then the counts of
        :func:`equity.sources.svi.counts_from_svi` with their ``moe_*`` (NaN where the source
        has no such count).

    Raises
    ------
    DataError
        A county of `counties` without counts, or SVI rows that fit no county other than
        the known Alaska and Connecticut cases.
    """
    wanted = pd.Index(sorted(set(counties)), name="GEOID")
    recent = _undo_split(counts_from_svi(svi2022), ALASKA_SPLIT)
    recent = recent[~recent["GEOID"].isin(CONNECTICUT_REGIONS)]
    ct = svi2018[svi2018["GEOID"].isin(CONNECTICUT_COUNTIES)]
    older = counts_from_svi(ct).assign(counts_source="svi2018_connecticut")
    table = pd.concat([recent, older], ignore_index=True)
    _check_cover(table["GEOID"], wanted)
    table = table.set_index("GEOID").reindex(wanted).reset_index()
    first = ["GEOID", "counts_source"]
    return table[first + [c for c in table.columns if c not in first]]


def _undo_split(counts: pd.DataFrame, splits: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """Sum the parts of split counties back into the old county (counts add, MOEs combine)."""
    out = counts.assign(counts_source="svi2022")
    names = [c for c in counts.columns if c != "GEOID" and not c.startswith("moe_")]
    for old, parts in splits.items():
        rows = out[out["GEOID"].isin(parts)]
        if len(rows) != len(parts):
            msg = f"SVI: expected counties {list(parts)} to sum into {old}, found {list(rows['GEOID'])}"
            raise DataError(msg)
        merged: dict[str, object] = {
            "GEOID": old,
            "counts_source": f"svi2022_sum_{'_'.join(parts)}",
        }
        for name in names:
            est = rows[name].to_numpy(dtype=float)
            merged[name] = float(est.sum())
            moe_col = f"moe_{name}"
            if moe_col in rows:
                moes = rows[moe_col].to_numpy(dtype=float)
                merged[moe_col] = float(_moe.moe_sum(list(moes), estimates=list(est)))
        out = pd.concat([out[~out["GEOID"].isin(parts)], pd.DataFrame([merged])], ignore_index=True)
    return out[counts.columns.tolist() + ["counts_source"]]


def _check_cover(found: pd.Series, wanted: pd.Index) -> None:
    """Every wanted county has exactly one row; no row is left over."""
    problems = []
    dup = found[found.duplicated()]
    if len(dup):
        problems.append(f"{len(dup)} counties twice, e.g. {dup.iloc[0]}")
    missing = wanted.difference(pd.Index(found))
    if len(missing):
        problems.append(f"{len(missing)} counties without counts, e.g. {missing[0]}")
    extra = pd.Index(found).difference(wanted)
    if len(extra):
        problems.append(f"{len(extra)} SVI counties without a 2018 polygon, e.g. {extra[0]}")
    if problems:
        msg = "snapshot county counts: " + "; ".join(problems)
        raise DataError(msg)


def nan_counts(table: pd.DataFrame) -> dict[str, int]:
    """Per count column, how many counties lack it (for the README)."""
    cols = [c for c in table.columns if c not in ("GEOID", "counts_source")]
    return {c: int(np.isnan(table[c].to_numpy(dtype=float)).sum()) for c in cols}

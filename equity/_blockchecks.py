"""Inputs keyed by 2020 Census block, checked against the region (part of
:func:`equity.checks.check_dataset`).

Three inputs reach the region through block GEOIDs (15 digits, the first two the state's
FIPS code): the 2020 blocks that weight the street level (``[data] blocks``), Ookla tiles
joined to blocks (``[data] ookla`` naming UVA's block files) and FCC BDC locations
(``[data] fcc``). Given for another state, each would match no place and the run would go on
with area weights, no measured speeds or no FCC locations, saying nothing of why. So:

- none of the file's rows in the region's states is an error naming the file, the column and
  example GEOIDs of the file and of the region (another state's file?);
- rows in some of the region's states but not all is a warning with the states left without
  (their places get no blocks, speeds or FCC locations: a file missing a state?).

Rows outside the region are fine (a national FCC file, a state's blocks for one county's
run). States are compared rather than block groups, so a county redrawn since 2020 (the
Connecticut planning regions) does not read as a missing file.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from equity.errors import DataError
from equity.sources._checks import example

__all__ = ["BLOCK_KEYED", "check_block_keyed"]

#: ``Dataset`` attribute -> (``[data]`` key, the table's block GEOID column, what its rows are).
BLOCK_KEYED: dict[str, tuple[str, str, str]] = {
    "blocks": ("blocks", "GEOID", "blocks"),
    "block_speeds": ("ookla", "block_GEOID", "tile x block rows"),
    "fcc": ("fcc", "block_geoid", "FCC locations"),
}


def check_block_keyed(
    tables: dict[str, pd.DataFrame | None],
    region: pd.Series,
    warn: Callable[[str], None],
) -> None:
    """Raise :class:`DataError` for a block-keyed table with no row in the region's states;
    call `warn` for one that misses some of them.

    Parameters
    ----------
    tables
        ``Dataset`` attribute (a key of :data:`BLOCK_KEYED`) -> its table, or None.
    region
        GEOIDs of the region's base-level places (block groups or counties).
    warn
        Called with each warning (the check's report, which METHODS.md repeats).

    Examples
    --------
    >>> import pandas as pd
    >>> blocks = pd.DataFrame({"GEOID": ["110010001001000"]})
    >>> blocks.attrs["path"] = "dc_blocks.csv"
    >>> check_block_keyed({"blocks": blocks}, pd.Series(["510010901001"]), print)
    Traceback (most recent call last):
    ...
    equity.errors.DataError: [data] blocks = dc_blocks.csv: column 'GEOID': none of its 1 blocks lies in the region's state(s) '51' (its GEOIDs e.g. '110010001001000', state(s) '11'): another state's file?
    """
    states = pd.Index(region.astype("str").str[:2].unique()).sort_values()
    for attr, table in tables.items():
        if table is None or attr not in BLOCK_KEYED:
            continue
        key, column, rows = BLOCK_KEYED[attr]
        if column not in table or table.empty:
            continue
        ids = table[column].dropna().astype("str")
        have = pd.Index(ids.str[:2].unique()).sort_values()
        where = f"[data] {key} = {table.attrs.get('path', '')}: column {column!r}"
        missing = states.difference(have)
        if len(missing) == len(states):
            msg = (
                f"{where}: none of its {len(ids):,} {rows} lies in the region's state(s) "
                f"{example(states, 3)} (its GEOIDs e.g. {example(ids.unique(), 2)}, state(s) "
                f"{example(have, 3)}): another state's file?"
            )
            raise DataError(msg)
        if len(missing):
            warn(
                f"{where}: no {rows} in {len(missing):,} of the region's {len(states):,} "
                f"states ({example(missing, 3)}); their places get none (a file missing a state?)"
            )

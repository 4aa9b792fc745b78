"""The household floor of the street level: no index for land where (almost) nobody lives.

A street cell with fewer households than the floor says nothing reliable about the people in
it (a share of two households is 0, 50 or 100%), and a map of such cells highlights fields and
forests. :func:`pool_cells` pools every cell below the floor with the other below-floor cells
of its parent cell (H3 resolution 8), and a pool still below the floor with those of the next
parent (7, 6, ... down to `coarsest`). A cell or pool at or above the floor is a *unit* of the
street level and is ranked; a pool still below the floor at `coarsest` is kept (its households
count in every total) but never ranked. Cells without households are dropped.

A pool's id is its parent cell's H3 id: it stands for the below-floor cells of that parent,
not for the whole parent (ranked finer cells may lie inside it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equity.errors import SchemaError

__all__ = ["Pools", "cell_parents", "cell_resolutions", "pool_cells"]

_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT


def cell_resolutions(cells: np.ndarray) -> np.ndarray:
    """H3 resolution of each cell (64-bit integers), vectorised."""
    return ((np.asarray(cells, dtype=np.uint64) & _RES_MASK) >> _RES_SHIFT).astype(np.int64)


def cell_parents(cells: np.ndarray, resolution: int) -> np.ndarray:
    """Parent at `resolution` of each H3 cell (64-bit integers), vectorised bit arithmetic.

    Equals ``h3.cell_to_parent`` (an index holds its resolution in bits 52-55 and one 3-bit
    digit per finer resolution; a parent keeps the digits up to its resolution and sets the
    others to 7). Cells already at or above `resolution` are returned unchanged.

    Examples
    --------
    >>> import h3.api.basic_int as h3i
    >>> c = h3i.latlng_to_cell(38.0, -78.0, 9)
    >>> int(cell_parents(np.array([c], dtype=np.uint64), 7)[0]) == h3i.cell_to_parent(c, 7)
    True
    """
    if not 0 <= resolution <= 15:
        msg = f"H3 resolution must be between 0 and 15; got {resolution!r}"
        raise SchemaError(msg)
    c = np.asarray(cells, dtype=np.uint64)
    unused = np.uint64((1 << (3 * (15 - resolution))) - 1)
    parent = (c & ~_RES_MASK) | (np.uint64(resolution) << _RES_SHIFT) | unused
    return np.where(cell_resolutions(c) > resolution, parent, c)


@dataclass(frozen=True)
class Pools:
    """Cells grouped into the units of the street level (:func:`pool_cells`)."""

    #: Unit of each input cell (index into `units`), -1 for cells not live (no households).
    unit_of_cell: np.ndarray
    #: Each unit's H3 id (64-bit integer): the cell, or the parent whose cells it pools.
    units: np.ndarray
    #: Each unit's resolution.
    resolution: np.ndarray
    #: Each unit's households.
    households: np.ndarray
    #: Cells in each unit.
    n_cells: np.ndarray
    #: Whether the unit is ranked (households at or above the floor).
    ranked: np.ndarray


def pool_cells(
    cells: np.ndarray,
    households: np.ndarray,
    *,
    floor: float = 5.0,
    coarsest: int = 6,
    live: np.ndarray | None = None,
) -> Pools:
    """Group cells below a household floor with those of their parent cells.

    Parameters
    ----------
    cells
        H3 cells (64-bit integers) of one resolution, unique.
    households
        Households of each cell.
    floor
        Fewest households of a ranked unit (0 keeps every populated cell as it is).
    coarsest
        Coarsest resolution pooled to; pools still below the floor there are not ranked.
    live
        Cells to keep (default: those with households); e.g. also cells with people in group
        quarters but no households, whose counts must still be kept.

    Returns
    -------
    Pools
        Units sorted by resolution (finest first), then id.

    Examples
    --------
    >>> import h3.api.basic_int as h3i
    >>> kids = np.array(sorted(h3i.cell_to_children(h3i.latlng_to_cell(38, -78, 8), 9)), dtype=np.uint64)
    >>> p = pool_cells(kids, np.array([9.0, 1, 1, 1, 1, 1, 0]), floor=5, coarsest=7)
    >>> p.resolution.tolist(), p.households.tolist(), p.n_cells.tolist(), p.ranked.tolist()
    ([9, 8], [9.0, 5.0], [1, 5], [True, True])
    """
    cells = np.asarray(cells, dtype=np.uint64)
    hh = np.nan_to_num(np.asarray(households, dtype=float))
    if len(cells) != len(hh):
        msg = f"pool_cells: {len(cells)} cells but {len(hh)} household counts"
        raise SchemaError(msg)
    res = cell_resolutions(cells)
    if len(cells) and (res != res[0]).any():
        msg = "pool_cells: cells must all be of one resolution"
        raise SchemaError(msg)
    base = int(res[0]) if len(cells) else coarsest
    coarsest = min(coarsest, base)
    unit_of_cell = np.full(len(cells), -1, dtype=np.int64)
    live = np.flatnonzero(hh > 0 if live is None else np.asarray(live, dtype=bool))
    key = cells[live]  # the unit each live cell is in so far (itself, then parents)
    ids: list[np.ndarray] = []
    levels: list[np.ndarray] = []
    sums: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    ranked: list[np.ndarray] = []
    pending = np.ones(len(live), dtype=bool)
    n_units = 0
    for r in range(base, coarsest - 1, -1):
        key = cell_parents(key, r)
        rows = np.flatnonzero(pending)
        uk, inv = np.unique(key[rows], return_inverse=True)
        total = np.bincount(inv, weights=hh[live[rows]], minlength=len(uk))
        done = total >= floor if r > coarsest else np.ones(len(uk), dtype=bool)
        code = np.full(len(uk), -1, dtype=np.int64)
        code[done] = n_units + np.arange(int(done.sum()))
        n_units += int(done.sum())
        closed = done[inv]
        unit_of_cell[live[rows[closed]]] = code[inv[closed]]
        pending[rows[closed]] = False
        ids.append(uk[done])
        levels.append(np.full(int(done.sum()), r, dtype=np.int64))
        sums.append(total[done])
        counts.append(np.bincount(inv, minlength=len(uk))[done])
        ranked.append(total[done] >= floor)
    return Pools(
        unit_of_cell=unit_of_cell,
        units=np.concatenate(ids) if ids else np.zeros(0, dtype=np.uint64),
        resolution=np.concatenate(levels) if levels else np.zeros(0, dtype=np.int64),
        households=np.concatenate(sums) if sums else np.zeros(0),
        n_cells=np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64),
        ranked=np.concatenate(ranked) if ranked else np.zeros(0, dtype=bool),
    )

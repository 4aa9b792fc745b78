"""``equity validate --as KEY`` and ``equity validate --config FILE``: files checked for the
role a run gives them, with the same checks ``equity run`` makes.

A file can be fine on its own and wrong for its place in a run: Microsoft's ZIP-code usage
file is a valid usage file, but ``[data] usage`` needs the county one; a tract file is a
valid boundary file, but not ``[data] blockgroups``. :func:`validate_role` checks a file for
one ``[data]`` key (its kind, then the reader the run uses and the key's geography:
:data:`equity.checks.ROLES`); :func:`validate_config` checks every input of a configuration
that way, then loads them as a run does and makes the run's checks across them
(:func:`equity.checks.check_dataset`: matching GEOIDs, counts, extents, the street grid's
size). Whatever ``equity run`` would refuse before computing, these report; the warnings it
would state, they state too.
"""

from __future__ import annotations

import os
from pathlib import Path

from equity.errors import ConfigError, EquityError, check_choice

__all__ = ["validate_config", "validate_role"]

#: Reader keyword arguments the run passes for some keys.
_LEVEL_HINT = {"places": "place", "cousubs": "cousub"}


def _read_for(key: str, path: Path) -> object:
    """The table a run reads for ``[data] key`` (the same reader and hints)."""
    from equity import sources
    from equity.checks import ROLES
    from equity.sources.validate import _READERS

    role = ROLES[key]
    if key == "blocks":
        return sources.read_blocks(path)
    if _block_speeds(key, path):
        return sources.read_block_speeds(path)
    if role.kind == "boundaries":
        hint = {"level": _LEVEL_HINT[key]} if key in _LEVEL_HINT else {}
        return sources.read_boundaries(path, **hint)
    return _READERS[role.kind](path)


def _block_speeds(key: str, path: Path) -> bool:
    """``[data] ookla`` naming Ookla tiles joined to blocks (as ``load_dataset`` tells them)."""
    from equity.sources.blocks import is_block_speeds

    return key == "ookla" and is_block_speeds(path)


def validate_role(path: str | os.PathLike[str], key: str, *, alone: bool = True) -> list[str]:
    """Problems of `path` as the file of ``[data] key`` (an empty list when it is fine).

    With ``alone=False`` (the file is checked with the others of a configuration) the ACS
    level is left to :func:`equity.checks.check_dataset`, which can tell 11-digit tract codes
    from block-group codes that lost their leading zero by comparing them with the block
    groups.

    Examples
    --------
    >>> from equity.sample import sample_paths
    >>> validate_role(sample_paths()["usage"], "usage")
    []
    >>> "holds tracts" in validate_role(sample_paths()["tract"], "blockgroups")[0]
    True
    """
    import pandas as pd

    from equity.checks import ROLES, check_role
    from equity.sources.validate import validate

    check_choice("[data] key", key, ROLES)
    p = Path(path)
    # 2020 blocks and Ookla speeds by block have their readers' layouts, not one schema
    by_reader = key == "blocks" or _block_speeds(key, p)
    problems = [] if by_reader else validate(p, kind=ROLES[key].kind)
    if problems:
        return problems
    try:
        table = _read_for(key, p)
        if isinstance(table, pd.DataFrame) and (alone or key != "acs"):
            check_role(table, key)
    except EquityError as exc:
        return [" ".join(str(exc).split())]
    return []


def validate_config(path: str | os.PathLike[str]) -> list[str]:
    """Problems of a run configuration's inputs, alone and together (as ``equity run``).

    Each ``[data]`` file is checked for its key (:func:`validate_role`); when they all pass,
    they are loaded as a run loads them and checked together
    (:func:`equity.checks.check_dataset`). Nothing is computed or written (the table cache
    may be filled, as a run would).

    Returns
    -------
    list of str
        One sentence per problem (an empty list when the run would start).
    """
    from equity.checks import check_dataset
    from equity.config import load_config
    from equity.pipeline.dataset import load_dataset

    try:
        cfg = load_config(Path(path))
    except ConfigError as exc:
        return [" ".join(str(exc).split())]
    problems = []
    for key, value in cfg.data.items():
        for file in value if isinstance(value, list) else [value]:
            problems += [
                p if p.startswith("[data]") else f"[data] {key} = {file}: {p}"
                for p in validate_role(file, key, alone=False)
            ]
    if problems:
        return problems
    try:
        check_dataset(load_dataset(cfg), cfg)
    except EquityError as exc:
        return [" ".join(str(exc).split())]
    return []

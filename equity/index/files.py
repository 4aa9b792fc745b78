"""The file front door of the index (CLI ``equity index``): a CSV table in, a CSV table out."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pandas as pd

from equity._cells import csv_safe
from equity._io import atomic_path
from equity.errors import DataError, SchemaError
from equity.index.compute import compute_index
from equity.index.model import IndexOptions, _options
from equity.indicators import compute_indicators, counts_from_acs

__all__ = ["run_index_file"]

logger = logging.getLogger(__name__)

_ID_CANDIDATES = ("GEOID", "FIPS", "GEO_ID", "geoid", "fips", "geo_id")
_ACS_ESTIMATE = re.compile(r"[BC]\d{5}[A-Z]?_\d{3}E")
_ACS_COLUMN = re.compile(r"[BC]\d{5}[A-Z]?_\d{3}(E|M|MA|EA|_flag)")


def run_index_file(
    input_path: str | os.PathLike[str],
    *,
    options: IndexOptions | None = None,
    preset: str | None = None,
    reference: str | None = None,
    id_column: str | None = None,
    out: str | os.PathLike[str],
    n_draws: int | None = None,
    seed: int | None = None,
) -> Path:
    """Compute an index from a CSV file and write the result as CSV (atomically).

    Parameters
    ----------
    input_path
        CSV with one row per place: indicator columns, counts with ``moe_*``, raw ACS columns
        (``<VAR>E``/``<VAR>M``, converted by :func:`equity.indicators.counts_from_acs`), or a
        CDC/ATSDR SVI table for ``preset="svi"``.
    options
        The index model (:class:`~equity.index.IndexOptions`); or give `preset`,
        `reference`, `n_draws` and `seed` as keywords (not both).
    preset
        One of :data:`~equity.index.PRESETS`; default ``"techspark"``.
    reference
        ``"nation"`` (default) or ``"state"``.
    id_column
        Key column, read as text; default the first of ``GEOID``, ``FIPS``, ``GEO_ID`` present.
        Without a ``state_GEOID`` column, the state is the first two digits of a numeric key.
    out
        Output CSV path.
    n_draws, seed
        Monte Carlo draws and seed; defaults from :mod:`equity.settings`.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"GEOID": ["01001", "01003", "02013"], "share_no_internet": [0.1, 0.3, 0.2]}).to_csv(d / "in.csv", index=False)
    >>> path = run_index_file(d / "in.csv", out=d / "out.csv", n_draws=0)
    >>> pd.read_csv(path, dtype={"GEOID": str})["rank"].tolist()
    [3, 1, 2]
    """
    src = Path(input_path)
    if not src.is_file():
        raise DataError(f"input file not found: {src}")
    opts = _options(
        options, "run_index_file", preset=preset, reference=reference, n_draws=n_draws, seed=seed
    )
    table, id_column = _read_table(src, id_column)
    if opts.preset == "svi":  # within states with reference="state" (CDC's state files)
        result = compute_index(table, options=opts)
    else:
        table = _with_counts_and_states(table, src, id_column)
        result = compute_index(compute_indicators(table), options=opts)
    with atomic_path(out) as tmp:
        csv_safe(result).to_csv(tmp, index=False)
    logger.info("run_index_file: %s -> %s (%d rows, preset %s)", src, out, len(result), opts.preset)
    return Path(out)


def _read_table(src: Path, id_column: str | None) -> tuple[pd.DataFrame, str]:
    """The table with its key (and state and county codes) read as text, and the key's name.

    The key must be present, complete and unique.
    """
    from equity.sources import read_svi
    from equity.sources import svi as svi_source
    from equity.sources._checks import read_table

    raw = read_table(src, dtype=str)  # text, not a workbook; a header and rows
    header = raw.columns
    if id_column is None:
        id_column = next((c for c in _ID_CANDIDATES if c in header), None)
        if id_column is None:
            msg = f"{src}: no id column found (looked for {', '.join(_ID_CANDIDATES)}); pass id_column; columns: {list(header)[:10]}"
            raise SchemaError(msg)
    elif id_column not in header:
        raise SchemaError(f"{src}: id column {id_column!r} not found; columns: {list(header)[:10]}")
    dtypes = {id_column: "string"}
    for c in ("state_GEOID", "county_GEOID", "ST", "STCNTY"):
        if c in header:
            dtypes[c] = "string"
    if svi_source.SCHEMA.matches(header):
        table = read_svi(src)  # every sentinel (-999, -555555555, ...) missing, not a number
    else:
        table = read_table(src, dtype=dtypes)
    if table[id_column].isna().any():
        bad = int(table[id_column].isna().sum())
        raise DataError(f"{src}: {bad} rows have no {id_column}")
    if table[id_column].duplicated().any():
        dup = table.loc[table[id_column].duplicated(), id_column].iloc[0]
        raise SchemaError(f"{src}: duplicate {id_column} values, e.g. {dup!r}")
    return table, id_column


def _with_counts_and_states(table: pd.DataFrame, src: Path, id_column: str) -> pd.DataFrame:
    """``GEOID``, raw ACS estimates turned into counts, and ``state_GEOID`` from a numeric key."""
    if "GEOID" not in table:
        table["GEOID"] = table[id_column]
    if any(_ACS_ESTIMATE.fullmatch(str(c)) for c in table.columns):
        # raw ACS estimates: read through the ACS reader so Census sentinels become NaN
        from equity.sources import read_acs

        counts = counts_from_acs(read_acs(src))
        keep = [c for c in table.columns if not _ACS_COLUMN.fullmatch(str(c))]
        table = table[keep].merge(counts, on="GEOID", how="left", validate="one_to_one")
    if "state_GEOID" not in table:
        ids = table[id_column].astype("string")
        if ids.str.fullmatch(r"\d{5,}").all():
            table["state_GEOID"] = ids.str[:2]
    return table

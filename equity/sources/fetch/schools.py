"""NCES EDGE public-school geocodes: find the table in the zip and split it per state.

The EDGE zip (``EDGE_GEOCODE_PUBLICSCH_{yy}{yy+1}.zip``) has held the same table in different
forms over the years: a delimited ``.TXT``/``.csv``, an Excel workbook (``.xlsx``) and a
shapefile (whose ``.dbf`` holds the attributes). The first found in that order is used:

- delimited text is split byte for byte (:func:`equity.sources.fetch.split.split_csv`);
- a ``.dbf`` (read with pyogrio, without geometry) or the first sheet of a workbook (read with
  openpyxl in read-only mode) is written per state as comma-separated text.

Every form has ``NCESSCH``, ``NAME``, ``STATE`` (USPS code), ``LAT`` and ``LON``, the columns
:func:`equity.sources.read_anchors` reads.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from equity.errors import DataError
from equity.sources._states import State
from equity.sources._zips import ZipLimits, check_zip, copy_member
from equity.sources.fetch.checks import csv_header, find_member
from equity.sources.fetch.split import open_member, split_csv, split_rows

__all__ = ["splitter"]

_STATE_COLUMNS = ("STATE", "LSTATE")

Splitter = Callable[[dict[str, Path]], dict[str, int]]


def _by_usps(states: list[State], outputs: dict[str, Path]) -> dict[str, Path]:
    usps = {s.fips: s.usps for s in states}
    return {usps[f]: p for f, p in outputs.items()}


def _by_fips(states: list[State], counts: dict[str, int]) -> dict[str, int]:
    fips = {s.usps: s.fips for s in states}
    return {fips[u]: n for u, n in counts.items()}


def splitter(zip_path: Path, limits: ZipLimits, states: list[State]) -> tuple[str, str, Splitter]:
    """The member used, the per-state file name template and the function splitting it.

    Raises
    ------
    DataError
        The zip holds no delimited text with ``NCESSCH``, no ``.dbf`` and no ``.xlsx``.
    """
    infos = check_zip(zip_path, limits=limits)
    names = [i.filename for i in infos if not i.is_dir()]
    with zipfile.ZipFile(zip_path) as archive:
        for name in names:
            if find_member([name], r"\.(txt|csv)$") and _has_ids(archive, name):
                stem, _, ext = Path(name).name.rpartition(".")
                return name, f"{stem}_{{fips}}.{ext.lower()}", _text(zip_path, name, limits, states)
    for pattern, reader in ((r"\.dbf$", _dbf_rows), (r"\.xlsx$", _xlsx_rows)):
        found = find_member(names, pattern)
        if found is not None:
            stem = Path(found).stem
            return found, f"{stem}_{{fips}}.csv", _table(zip_path, found, limits, states, reader)
    msg = f"{zip_path}: no school table (delimited text with NCESSCH, .dbf or .xlsx) among {names[:8]}"
    raise DataError(msg)


def _has_ids(archive: zipfile.ZipFile, name: str) -> bool:
    with archive.open(name) as fh:
        fields, _ = csv_header(fh.read(1 << 14))
    return "NCESSCH" in fields


def _text(zip_path: Path, member: str, limits: ZipLimits, states: list[State]) -> Splitter:
    def split(outputs: dict[str, Path]) -> dict[str, int]:
        archive, stream = open_member(zip_path, member, limits=limits)
        with archive, stream:
            counts = split_csv(
                stream,
                column=_STATE_COLUMNS,
                outputs=_by_usps(states, outputs),
                label=f"{zip_path}!{member}",
            )
        return _by_fips(states, counts)

    return split


def _table(
    zip_path: Path,
    member: str,
    limits: ZipLimits,
    states: list[State],
    reader: Callable[[Path], tuple[list[str], Iterator[list[object]]]],
) -> Splitter:
    def split(outputs: dict[str, Path]) -> dict[str, int]:
        with tempfile.TemporaryDirectory(dir=zip_path.parent, prefix=".edge.") as tmp:
            local = _extract(zip_path, member, Path(tmp), limits)
            header, rows = reader(local)
            counts = split_rows(
                header,
                rows,
                column=_STATE_COLUMNS,
                outputs=_by_usps(states, outputs),
                label=f"{zip_path}!{member}",
            )
        return _by_fips(states, counts)

    return split


def _extract(zip_path: Path, member: str, folder: Path, limits: ZipLimits) -> Path:
    """Extract `member` (and, for a ``.dbf``, its shapefile siblings) into `folder`."""
    stem = member.rsplit(".", 1)[0]
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            if info.filename == member or info.filename.rsplit(".", 1)[0] == stem:
                target = folder / Path(info.filename).name
                with open(target, "wb") as out:
                    copy_member(archive, info, out, limits=limits, name=zip_path)
    return folder / Path(member).name


def _dbf_rows(path: Path) -> tuple[list[str], Iterator[list[object]]]:
    import pyogrio

    try:
        df = pyogrio.read_dataframe(path, read_geometry=False)
    except Exception as exc:  # GDAL raises several types for a damaged file
        msg = f"{path.name}: cannot read the school table ({exc})"
        raise DataError(msg) from None
    columns = [str(c) for c in df.columns]
    return columns, (list(row) for row in df.astype(object).itertuples(index=False, name=None))


def _xlsx_rows(path: Path) -> tuple[list[str], Iterator[list[object]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a damaged workbook
        msg = f"{path.name}: cannot read the school workbook ({exc})"
        raise DataError(msg) from None
    rows = book.worksheets[0].iter_rows(values_only=True)
    header = [str(h) for h in next(rows, ())]

    def body() -> Iterator[list[object]]:
        try:
            for row in rows:
                yield list(row)
        finally:
            book.close()

    return header, body()

"""Split national files into per-state files in the publisher's layout.

Several publishers release one national file (Microsoft usage, County Business Patterns, IMLS
outlets, NCES EDGE schools, IPEDS colleges, the national state and county boundaries). A state's
run reads only its own rows, so the fetch writes one file per state, in one pass over the
national file for every state that needs it:

- :func:`split_csv` copies the header and each record whose state column matches, **byte for
  byte** (text is handled as latin-1, which maps every byte to one character, so encodings,
  quoting, delimiters and line ends are kept; records spanning lines stay whole);
- :func:`split_rows` writes rows read from a spreadsheet or a ``.dbf`` as comma-separated text;
- :func:`split_boundaries` writes each state's features as a zipped shapefile with the
  national file's fields (members named after the output, so readers still see the level and
  vintage in the name).

Every output is written to a temporary file and renamed into place; a state without rows gets
no file (the count 0 tells the caller).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from equity.errors import DataError
from equity.sources._zips import DEFAULT_LIMITS, ZipLimits, check_zip

__all__ = ["open_member", "split_boundaries", "split_csv", "split_rows"]


class _Outputs:
    """Temporary files beside each destination, renamed into place (or dropped) at the end."""

    def __init__(self, dests: Mapping[str, Path]) -> None:
        self.dests = dict(dests)
        self.tmp: dict[str, Path] = {}
        self.files: dict[str, IO[str]] = {}
        self.rows = dict.fromkeys(self.dests, 0)

    def open(self, key: str, header: str, *, newline: str | None = "") -> IO[str]:
        fh = self.files.get(key)
        if fh is None:
            dest = self.dests[key]
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp"
            self.tmp[key] = tmp
            fh = open(tmp, "w", encoding="latin-1", newline=newline)  # noqa: SIM115
            fh.write(header)
            self.files[key] = fh
        return fh

    def finish(self) -> dict[str, int]:
        for key, fh in self.files.items():
            fh.close()
            if self.rows[key]:
                os.replace(self.tmp[key], self.dests[key])
            else:
                self.tmp[key].unlink(missing_ok=True)
        return self.rows

    def abort(self) -> None:
        for key, fh in self.files.items():
            fh.close()
            self.tmp[key].unlink(missing_ok=True)


def _records(lines: Iterable[str], delimiter: str) -> Iterator[tuple[list[str], str]]:
    """Parsed fields and raw text of each record (a quoted field may span lines)."""
    raw: list[str] = []

    def feed() -> Iterator[str]:
        for line in lines:
            raw.append(line)
            yield line

    for fields in csv.reader(feed(), delimiter=delimiter):
        text = "".join(raw)
        raw.clear()
        yield fields, text


def _norm(name: str) -> str:
    return name.strip().strip('"').strip().lstrip("\ufeff\xef\xbb\xbf").upper()


def split_csv(
    stream: IO[bytes],
    *,
    column: str | tuple[str, ...],
    outputs: Mapping[str, Path],
    label: str,
) -> dict[str, int]:
    """Copy the header and the records whose `column` is a key of `outputs` into its file.

    Parameters
    ----------
    stream
        The delimited text (comma, pipe or tab, detected from the header), as bytes.
    column
        Name of the state column (case-insensitive), or several names tried in order.
    outputs
        Column value (e.g. ``"VA"`` or ``"51"``) to the destination file.
    label
        How to name the input in messages.

    Returns
    -------
    dict of str to int
        Records written per value (0: no file written).

    Raises
    ------
    DataError
        The header has none of the `column` names.
    """
    text = io.TextIOWrapper(stream, encoding="latin-1", newline="")
    lines = iter(text)
    header = next(lines, "")
    delimiter = max((",", "|", "\t"), key=header.count)
    names = [_norm(n) for n in next(csv.reader([header.rstrip("\r\n")], delimiter=delimiter))]
    wanted = (column,) if isinstance(column, str) else column
    index = next((names.index(c.upper()) for c in wanted if c.upper() in names), None)
    if index is None:
        msg = f"{label}: no column {' or '.join(wanted)} to split by state (columns: {names[:10]})"
        raise DataError(msg)
    out = _Outputs(outputs)
    try:
        for fields, raw in _records(lines, delimiter):
            if index < len(fields):
                value = fields[index].strip().upper()
                if value in out.dests:
                    out.open(value, header).write(raw)
                    out.rows[value] += 1
    except BaseException:
        out.abort()
        raise
    return out.finish()


def split_rows(
    header: list[str],
    rows: Iterable[Iterable[object]],
    *,
    column: str | tuple[str, ...],
    outputs: Mapping[str, Path],
    label: str,
) -> dict[str, int]:
    """Write the rows whose `column` matches a key of `outputs` as comma-separated text.

    For tables that are not delimited text (a spreadsheet, a ``.dbf``): values are written as
    text, None as an empty field. Parameters and result as :func:`split_csv`.
    """
    names = [_norm(str(h)) for h in header]
    wanted = (column,) if isinstance(column, str) else column
    index = next((names.index(c.upper()) for c in wanted if c.upper() in names), None)
    if index is None:
        msg = f"{label}: no column {' or '.join(wanted)} to split by state (columns: {names[:10]})"
        raise DataError(msg)
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow([str(h) for h in header])
    out = _Outputs(outputs)
    writers: dict[str, Any] = {}  # csv writers
    try:
        for row in rows:
            values = ["" if v is None or v != v else str(v) for v in row]  # v != v: NaN
            value = values[index].strip().upper() if index < len(values) else ""
            if value in out.dests:
                if value not in writers:
                    writers[value] = csv.writer(
                        out.open(value, head.getvalue()), lineterminator="\n"
                    )
                writers[value].writerow(values)
                out.rows[value] += 1
    except BaseException:
        out.abort()
        raise
    return out.finish()


def open_member(
    zip_path: Path, member: str, *, limits: ZipLimits = DEFAULT_LIMITS
) -> tuple[zipfile.ZipFile, IO[bytes]]:
    """Open one entry of a zip for streaming, after checking the zip against `limits`.

    Returns the archive (close it after the stream) and the entry's stream.
    """
    check_zip(zip_path, limits=limits)
    archive = zipfile.ZipFile(zip_path)
    try:
        return archive, archive.open(member)
    except KeyError:
        archive.close()
        msg = f"{zip_path}: no entry {member!r}"
        raise DataError(msg) from None


def split_boundaries(
    zip_path: Path, *, outputs: Mapping[str, Path], column: str = "STATEFP"
) -> dict[str, int]:
    """Write each state's features of a national boundary zip as a zipped shapefile.

    Parameters
    ----------
    zip_path
        National zipped shapefile (``cb_2022_us_county_500k.zip``).
    outputs
        State FIPS code to destination zip; the shapefile inside is named after it.
    column
        The state FIPS column.

    Returns
    -------
    dict of str to int
        Features written per state (0: no file written).
    """
    import pyogrio

    try:
        gdf = pyogrio.read_dataframe(f"/vsizip/{zip_path}")
    except Exception as exc:  # GDAL raises several types for a damaged file
        msg = f"{zip_path}: cannot read the national boundaries ({exc})"
        raise DataError(msg) from None
    if column not in gdf.columns:
        msg = f"{zip_path}: no column {column!r} to split by state (columns: {list(gdf.columns)[:10]})"
        raise DataError(msg)
    counts = dict.fromkeys(outputs, 0)
    codes = gdf[column].astype(str).str.zfill(2)
    for fips, dest in outputs.items():
        part = gdf[codes == fips]
        if part.empty:
            continue
        _write_zipped_shapefile(part, dest)
        counts[fips] = len(part)
    return counts


def _write_zipped_shapefile(gdf: object, dest: Path) -> None:
    import pyogrio

    dest.parent.mkdir(parents=True, exist_ok=True)
    stem = dest.name.removesuffix(".zip")
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{stem}.") as tmp:
        shp = Path(tmp) / f"{stem}.shp"
        pyogrio.write_dataframe(gdf, shp, driver="ESRI Shapefile", encoding="UTF-8")
        archive = Path(tmp) / dest.name
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(Path(tmp).glob(f"{stem}.*")):
                if part.suffix != ".zip":
                    zf.write(part, part.name)
        os.replace(archive, dest)

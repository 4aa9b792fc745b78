"""What each download must look like before it is cached: magic bytes, header, type, size.

An :class:`Expect` describes one publisher's file: its kind (``zip``, ``parquet``, ``csv``,
``json``, ``census_json``), a plain description for messages, and what must be inside (zip
members, CSV header tokens, Parquet columns, Census variables). :func:`check_body` runs on the
complete temporary file before :func:`equity.sources._http.download_file` renames it into the
cache, and raises :class:`~equity.errors.DataError` with the reason; the download then fails
with the URL and nothing is cached. In order:

1. **HTML page**: a body starting like an HTML document is a maintenance, login or error page
   served with status 200 (its ``<title>`` is quoted).
2. **Content type**: a ``Content-Type`` that contradicts the kind (``text/html`` anywhere,
   ``text/*`` or JSON for a zip or Parquet file, a zip for a CSV ...). Types that publishers
   use loosely (``application/octet-stream``, ``text/plain`` for a CSV) pass.
3. **Magic bytes and structure**: ``PK\\x03\\x04`` and a readable central directory for a zip,
   ``PAR1`` at both ends and a readable footer for Parquet, a JSON table for the Census API.
4. **Decompression limits** for zips (:mod:`equity.sources._zips`): refused before anything
   is extracted or cached.
5. **Content**: required zip members, CSV header tokens (of the file or of a zip member), at
   least one data row, Parquet columns, Census variables; every zip entry's CRC.

Examples
--------
>>> import tempfile, pathlib
>>> page = pathlib.Path(tempfile.mkdtemp()) / "body"
>>> _ = page.write_bytes(b"<!DOCTYPE html><html><title>Down for maintenance</title></html>")
>>> check_body(page, "text/html", expect=Expect("zip", "a zipped shapefile"))
Traceback (most recent call last):
...
equity.errors.DataError: the server sent an HTML page ('Down for maintenance') with status 200 instead of a zipped shapefile
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from equity.errors import DataError
from equity.sources._http import html_title
from equity.sources._zips import DEFAULT_LIMITS, ZipLimits, check_zip

__all__ = ["KINDS", "Expect", "check_body", "csv_header", "find_member"]

#: Kinds of file a download can be expected to be.
KINDS = ("zip", "parquet", "csv", "json", "census_json")

_HEAD = 1 << 16
# Content-Type prefixes that contradict each kind (text/html contradicts every kind)
_CONTRADICTING = {
    "zip": ("text/", "application/json", "application/xml", "application/pdf", "image/"),
    "parquet": ("text/", "application/json", "application/xml", "application/pdf", "image/"),
    "csv": (
        "application/json",
        "application/zip",
        "application/x-zip",
        "application/pdf",
        "image/",
    ),
    "json": ("text/csv", "application/zip", "application/x-zip", "application/pdf", "image/"),
    "census_json": (
        "text/csv",
        "application/zip",
        "application/x-zip",
        "application/pdf",
        "image/",
    ),
}


@dataclass(frozen=True)
class Expect:
    """What a downloaded file must be.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    what
        Plain description used in messages (``"the Census block-group boundaries (zipped
        shapefile)"``).
    members
        Regular expressions (case-insensitive, searched in entry names) each of which must
        match an entry of a zip.
    header
        Tokens the CSV header must contain (case-insensitive, quotes and spaces stripped): of
        the file itself (``csv``), of the zip entry matching `text_member` (``zip``), or keys of
        a JSON object (``json``).
    text_member
        Regular expression of the zip entry whose header is checked.
    columns
        Columns a Parquet file must have.
    variables
        Names the header row of a Census API table must hold.
    """

    kind: str
    what: str
    members: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    text_member: str | None = None
    columns: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()


def check_body(
    path: str | Path,
    content_type: str | None,
    *,
    expect: Expect,
    limits: ZipLimits = DEFAULT_LIMITS,
) -> None:
    """Raise :class:`~equity.errors.DataError` unless `path` is the file `expect` describes.

    Parameters
    ----------
    path
        The complete downloaded body.
    content_type
        The response's ``Content-Type`` header, or None.
    expect
        What the file must be.
    limits
        Decompression limits of a zip.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(_HEAD)
    if not head:
        msg = f"the server sent an empty body (0 bytes) instead of {expect.what}"
        raise DataError(msg)
    title = html_title(head)
    if title is not None:
        shown = f" ({title!r})" if title else ""
        msg = f"the server sent an HTML page{shown} with status 200 instead of {expect.what}"
        raise DataError(msg)
    _check_type(content_type, expect)
    if expect.kind == "zip":
        _check_zip(p, head, expect, limits)
    elif expect.kind == "parquet":
        _check_parquet(p, head, expect)
    elif expect.kind == "csv":
        _check_csv(head, expect, where="the body", complete=p.stat().st_size <= _HEAD)
    else:
        _check_json(p, head, expect)


def _check_type(content_type: str | None, expect: Expect) -> None:
    media = (content_type or "").split(";")[0].strip().lower()
    if not media:
        return
    bad = media in ("text/html", "application/xhtml+xml") or media.startswith(
        _CONTRADICTING.get(expect.kind, ())
    )
    if bad:
        msg = f"the server labelled the body {media!r} (Content-Type), not {expect.what}"
        raise DataError(msg)


def _starts(head: bytes) -> str:
    return repr(head[:40])


def _check_zip(path: Path, head: bytes, expect: Expect, limits: ZipLimits) -> None:
    if head.startswith(b"PK\x05\x06"):
        msg = f"the body is an empty zip (no entries), not {expect.what}"
        raise DataError(msg)
    if not head.startswith(b"PK\x03\x04"):
        msg = f"the body is not a zip ({expect.what}): it starts with {_starts(head)}"
        raise DataError(msg)
    infos = check_zip(path, limits=limits, name="the zip")
    names = [i.filename for i in infos if not i.is_dir()]
    for pattern in expect.members:
        if find_member(names, pattern) is None:
            msg = (
                f"the zip lacks an entry matching {pattern!r} ({expect.what}); entries: {names[:8]}"
            )
            raise DataError(msg)
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if expect.text_member is not None:
                member = find_member(names, expect.text_member)
                if member is None:
                    msg = f"the zip lacks an entry matching {expect.text_member!r} ({expect.what}); entries: {names[:8]}"
                    raise DataError(msg)
                with archive.open(member) as fh:
                    text_head = fh.read(_HEAD)
                info = archive.getinfo(member)
                _check_csv(text_head, expect, where=member, complete=info.file_size <= _HEAD)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        msg = f"the zip is corrupt ({exc})"
        raise DataError(msg) from None
    if bad is not None:
        msg = f"the zip is corrupt: entry {bad!r} fails its CRC check"
        raise DataError(msg)


def find_member(names: list[str], pattern: str) -> str | None:
    """First of `names` (macOS ``__MACOSX`` entries skipped) where `pattern` matches."""
    rx = re.compile(pattern, re.IGNORECASE)
    return next((n for n in names if not n.startswith("__MACOSX") and rx.search(n)), None)


def _check_parquet(path: Path, head: bytes, expect: Expect) -> None:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    if not head.startswith(b"PAR1") or tail != b"PAR1" or size < 12:
        msg = f"the body is not a Parquet file ({expect.what}): it starts with {_starts(head)}"
        raise DataError(msg)
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        msg = f"the Parquet file cannot be read ({exc})"
        raise DataError(msg) from None
    missing = [c for c in expect.columns if c not in schema.names]
    if missing:
        msg = f"the Parquet file lacks the columns {missing} of {expect.what}; it has {schema.names[:10]}"
        raise DataError(msg)


def csv_header(head: bytes) -> tuple[list[str], str]:
    """The normalised header fields of delimited text starting with `head`, and the delimiter."""
    text = head.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    delimiter = max((",", "|", "\t"), key=first.count)
    fields = [f.strip().strip('"').strip().upper() for f in first.split(delimiter)]
    return fields, delimiter


def _check_csv(head: bytes, expect: Expect, *, where: str, complete: bool) -> None:
    if b"\x00" in head[:4096]:
        msg = f"{where} holds binary data, not {expect.what}: it starts with {_starts(head)}"
        raise DataError(msg)
    fields, _ = csv_header(head)
    missing = [t for t in expect.header if t.upper() not in fields]
    if missing:
        shown = ", ".join(fields[:8]) or "nothing"
        msg = f"{where} is not {expect.what}: its header lacks {missing} (it has {shown})"
        raise DataError(msg)
    rows = [ln for ln in head.decode("latin-1").splitlines() if ln.strip()]
    if len(rows) < 2 and complete:
        msg = f"{where} has a header but no rows ({expect.what})"
        raise DataError(msg)


def _check_json(path: Path, head: bytes, expect: Expect) -> None:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"the body is not JSON ({expect.what}): {exc}; it starts with {_starts(head)}"
        raise DataError(msg) from None
    if expect.kind == "json":
        if not isinstance(doc, dict) or any(k not in doc for k in expect.header):
            keys = list(doc)[:8] if isinstance(doc, dict) else type(doc).__name__
            msg = f"the JSON is not {expect.what}: expected the keys {list(expect.header)}, got {keys}"
            raise DataError(msg)
        return
    if (
        not isinstance(doc, list)
        or len(doc) < 2
        or not all(isinstance(row, list) and len(row) == len(doc[0]) for row in doc)
    ):
        msg = f"the JSON is not {expect.what} (a header row and data rows of equal length)"
        raise DataError(msg)
    missing = [v for v in expect.variables if v not in doc[0]]
    if missing:
        msg = f"the Census API table lacks {missing[:5]} ({expect.what})"
        raise DataError(msg)

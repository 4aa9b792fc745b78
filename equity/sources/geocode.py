"""Addresses to coordinates: the Census Bureau's batch geocoder, cached per address, and ZIP centroids.

The Census Geocoder (https://geocoding.geo.census.gov) is public and needs no key. Its batch
service takes a CSV upload of up to 10,000 rows ``id,street,city,state,zip`` (multipart form
field ``addressFile``, with ``benchmark``, e.g. ``Public_AR_Current``) and answers one CSV line
per row::

    "1","4600 Silver Hill Rd, Washington, DC, 20233","Match","Exact","4600 SILVER HILL RD, WASHINGTON, DC, 20233","-76.92744,38.845985","613199520","L"
    "2","1 Nowhere Rd, Xyz, ZZ, 00000","No_Match"
    "3","1 Main St, Springfield, , ","Tie"

(id, input address, ``Match``/``No_Match``/``Tie``, ``Exact``/``Non_Exact``, matched address,
``"longitude,latitude"``, TIGER/Line id, side of the street), in no particular order.

:func:`geocode_addresses`:

- **Cached per address** in a SQLite file under ``settings.cache_folder / "geocode"`` (one per
  service URL and benchmark), committed batch by batch: a rerun sends only the addresses not
  cached yet, so an interrupted run resumes where it stopped. ``No_Match`` and ``Tie`` answers
  are cached too (they are the service's answer; ``force=True`` asks again).
- **Content-checked**: a body that is not the published CSV layout (an HTML error page, JSON, a
  line whose status is not ``Match``/``No_Match``/``Tie``, an id that was not sent, a ``Match``
  without valid coordinates) is refused whole and nothing of it is cached; it is retried like a
  failed connection and, once the retries are spent, raises :class:`~equity.errors.DownloadError`.
- **Never silent**: every row gets a ``geocode_status``: ``match``, ``no_match``, ``tie``
  (ambiguous: several equally good matches, no coordinates given), ``no_address`` (no street:
  not sent), ``po_box`` (a post-office box has no street location: not sent) or
  ``not_answered`` (sent, but missing from the answer; not cached, so a rerun asks again).

Without a match, :func:`equity.sources.zipcodes.locate_by_zip` places an address at the centre
of its ZIP code area (a ZCTA centroid): a precision of a few km in towns and tens of km in rural
areas, which the partner layer states per organisation.

Examples
--------
>>> out = geocode_addresses(pd.DataFrame({"street": ["PO BOX 12"], "city": ["Town"],
...                                        "state": ["VT"], "zip": ["05001"]}))
>>> out["geocode_status"].tolist()
['po_box']
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import logging
import math
import sqlite3
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from equity import settings
from equity.errors import DownloadError, SchemaError
from equity.sources._common import PathLike
from equity.sources._http import _USER_AGENT, _is_offline_error, _retry_after

__all__ = [
    "CENSUS_BATCH_URL",
    "DEFAULT_BENCHMARK",
    "MAX_BATCH",
    "STATUSES",
    "geocode_addresses",
    "geocode_cache_path",
]

logger = logging.getLogger("equity.sources")

#: The Census Geocoder's batch endpoint (locations only, no geographies).
CENSUS_BATCH_URL = "https://geocoding.geo.census.gov/geocoder/locations/addressbatch"

#: The address benchmark: the current public address ranges.
DEFAULT_BENCHMARK = "Public_AR_Current"

#: Most rows the service takes in one upload.
MAX_BATCH = 10_000

#: Each address's outcome (see the module notes).
STATUSES: tuple[str, ...] = ("match", "no_match", "tie", "no_address", "po_box", "not_answered")

#: Seconds to wait for a batch: the service takes minutes for 10,000 rows.
BATCH_TIMEOUT_S = 900.0

_ANSWERS = {"Match": "match", "No_Match": "no_match", "Tie": "tie"}
_PO_BOX = r"^\s*(?:P\.?\s*O\.?\s*BOX|POST\s+OFFICE\s+BOX|BOX)\s*#?\s*\d"
_COLUMNS = ("street", "city", "state", "zip")
_RESULT_COLUMNS = (
    "geocode_status",
    "match_type",
    "matched_address",
    "longitude",
    "latitude",
    "tiger_line_id",
    "side",
)


# --------------------------------------------------------------------------- the cache


def geocode_cache_path(
    *,
    url: str = CENSUS_BATCH_URL,
    benchmark: str = DEFAULT_BENCHMARK,
    cache_folder: PathLike | None = None,
) -> Path:
    """The SQLite file caching the answers of one geocoding service and benchmark."""
    folder = Path(cache_folder) if cache_folder is not None else Path(settings.cache_folder)
    digest = hashlib.sha1(f"{url}|{benchmark}".encode()).hexdigest()[:16]
    return folder / "geocode" / f"census_{digest}.sqlite"


def _address_key(street: str, city: str, state: str, zip5: str) -> str:
    text = "|".join(" ".join(str(v).upper().split()) for v in (street, city, state, zip5))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class _Cache:
    """Answers by address key in SQLite; each batch is committed in one transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, address TEXT,"
            " status TEXT, match_type TEXT, matched_address TEXT, longitude REAL,"
            " latitude REAL, tiger_line_id TEXT, side TEXT, fetched REAL)"
        )
        self.db.commit()

    def get(self, keys: Sequence[str]) -> dict[str, tuple[object, ...]]:
        out: dict[str, tuple[object, ...]] = {}
        for start in range(0, len(keys), 900):  # SQLite's limit of bound variables
            chunk = list(keys[start : start + 900])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT key, status, match_type, matched_address, longitude, latitude,"
                f" tiger_line_id, side FROM answers WHERE key IN ({marks})",
                chunk,
            )
            out.update({r[0]: r[1:] for r in rows})
        return out

    def put(self, rows: list[tuple[object, ...]]) -> None:
        with self.db:  # one transaction: a batch is cached whole or not at all
            self.db.executemany(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )

    def close(self) -> None:
        self.db.close()


# --------------------------------------------------------------------------- one batch


class _Transient(Exception):
    """A failure worth retrying (connection, 5xx, 429, a body that is not the CSV layout)."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Answer:
    status: str
    match_type: str | None = None
    matched_address: str | None = None
    longitude: float = math.nan
    latitude: float = math.nan
    tiger_line_id: str | None = None
    side: str | None = None


def _upload(rows: list[tuple[str, str, str, str, str]], benchmark: str) -> tuple[bytes, str]:
    """The multipart/form-data body (``benchmark`` and the ``addressFile`` CSV) and its type."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    boundary = f"equity-{uuid.uuid4().hex}"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="benchmark"\r\n\r\n'
        f"{benchmark}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="addressFile"; '
        'filename="addresses.csv"\r\nContent-Type: text/csv\r\n\r\n'
    )
    body = head.encode() + buf.getvalue().encode("utf-8") + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def _not_csv(text: str) -> str | None:
    """Why `text` is not the geocoder's CSV (an HTML page, JSON, nothing), or None."""
    head = text.lstrip()[:2048].lower()
    if not head:
        return "an empty body"
    if head.startswith("<") or "<html" in head or "<!doctype" in head:
        return f"an HTML page, not CSV ({' '.join(text.split())[:120]!r})"
    if head.startswith(("{", "[")):
        return f"JSON, not CSV ({' '.join(text.split())[:120]!r})"
    return None


def _parse_match(fields: list[str], line_no: int) -> _Answer:
    if len(fields) < 6:
        raise _Transient(f"line {line_no}: a Match with {len(fields)} fields, expected 6 or more")
    lonlat = fields[5].split(",")
    try:
        lon, lat = float(lonlat[0]), float(lonlat[1])
    except (ValueError, IndexError):
        raise _Transient(f"line {line_no}: coordinates {fields[5]!r} are not 'lon,lat'") from None
    if not (abs(lon) <= 180 and abs(lat) <= 90):
        raise _Transient(f"line {line_no}: coordinates {fields[5]!r} out of range")
    return _Answer(
        "match",
        fields[3].strip().lower() or None,
        fields[4].strip() or None,
        lon,
        lat,
        fields[6].strip() if len(fields) > 6 and fields[6].strip() else None,
        fields[7].strip() if len(fields) > 7 and fields[7].strip() else None,
    )


def _parse(text: str, sent: set[str]) -> dict[str, _Answer]:
    """Answers by id from the geocoder's CSV; :class:`_Transient` when it is not that layout."""
    why = _not_csv(text)
    if why is not None:
        raise _Transient(f"the geocoder answered with {why}")
    answers: dict[str, _Answer] = {}
    for line_no, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not fields or not "".join(fields).strip():
            continue
        rid = fields[0].strip()
        if rid not in sent:
            raise _Transient(f"line {line_no}: id {rid!r} was not sent ({','.join(fields)[:80]!r})")
        status = fields[2].strip() if len(fields) > 2 else ""
        if status not in _ANSWERS:
            raise _Transient(f"line {line_no}: status {status!r} is not Match, No_Match or Tie")
        answer = _parse_match(fields, line_no) if status == "Match" else _Answer(_ANSWERS[status])
        if rid in answers and answers[rid] != answer:
            raise _Transient(f"line {line_no}: id {rid!r} answered twice, differently")
        answers[rid] = answer
    return answers


def _post(url: str, body: bytes, content_type: str, timeout: float) -> str:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"User-Agent": _USER_AGENT, "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            data = response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            snippet = " ".join(exc.read(300).decode("utf-8", "replace").split())[:200]
            if exc.code in (408, 429) or exc.code >= 500:
                raise _Transient(
                    f"HTTP {exc.code} {exc.reason}", retry_after=_retry_after(exc.headers)
                ) from None
        msg = f"the geocoder {url} refused the batch: HTTP {exc.code} {exc.reason} ({snippet!r})"
        raise DownloadError(msg) from None
    except urllib.error.URLError as exc:
        cause = exc.reason
        if isinstance(cause, BaseException) and _is_offline_error(cause):
            # no point retrying: the host cannot be resolved or reached from here
            msg = f"cannot reach the geocoder {url}: this machine seems to be offline ({cause})"
            raise DownloadError(msg) from None
        raise _Transient(f"cannot connect ({cause})") from None
    except TimeoutError:
        raise _Transient(f"timed out after {timeout:g} s") from None
    except (http.client.HTTPException, ConnectionError) as exc:
        raise _Transient(f"connection broken ({type(exc).__name__})") from None
    if length and length.isdigit() and len(data) != int(length):
        raise _Transient(f"truncated answer: got {len(data)} of {length} bytes")
    return _decode(data)


def _batch(
    rows: list[tuple[str, str, str, str, str]],
    *,
    url: str,
    benchmark: str,
    timeout: float,
    retries: int,
    backoff: float,
) -> dict[str, _Answer]:
    """Send one batch (retrying transient failures) and return its checked answers by id."""
    body, content_type = _upload(rows, benchmark)
    sent = {r[0] for r in rows}
    last: _Transient | None = None
    for attempt in range(retries + 1):
        if last is not None:
            delay = min(max(backoff * 2 ** (attempt - 1), last.retry_after or 0.0), 60.0)
            logger.warning(
                "geocoder batch failed (%s); retry %d of %d in %.1f s",
                last.reason,
                attempt,
                retries,
                delay,
            )
            time.sleep(delay)
        try:
            return _parse(_post(url, body, content_type, timeout), sent)
        except _Transient as exc:
            last = exc
    assert last is not None
    msg = (
        f"the geocoder {url} failed after {retries + 1} attempt(s): {last.reason}. "
        "Nothing of this batch was cached; a rerun sends it again."
    )
    raise DownloadError(msg)


# --------------------------------------------------------------------------- the public call


def _clean(addresses: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _COLUMNS if c not in addresses.columns]
    if missing:
        found = ", ".join(map(str, addresses.columns[:10]))
        raise SchemaError([f"addresses lack column(s) {', '.join(missing)} (found: {found})"])
    out = pd.DataFrame(index=addresses.index)
    for c in _COLUMNS:
        s = addresses[c].astype("string").fillna("").str.replace(r"\s+", " ", regex=True)
        out[c] = s.str.strip()
    out["zip"] = out["zip"].str.extract(r"^(\d{5})", expand=False).fillna("")
    return out


def _empty_result(index: pd.Index) -> pd.DataFrame:
    out = pd.DataFrame(index=index)
    out["geocode_status"] = pd.Series(pd.NA, index=index, dtype="string")
    for c in ("match_type", "matched_address", "tiger_line_id", "side"):
        out[c] = pd.Series(pd.NA, index=index, dtype="string")
    out["longitude"] = np.nan
    out["latitude"] = np.nan
    out["from_cache"] = False
    return out[[*_RESULT_COLUMNS, "from_cache"]]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def geocode_addresses(
    addresses: pd.DataFrame,
    *,
    url: str = CENSUS_BATCH_URL,
    benchmark: str = DEFAULT_BENCHMARK,
    batch_size: int = MAX_BATCH,
    cache_folder: PathLike | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    backoff: float = 2.0,
    force: bool = False,
) -> pd.DataFrame:
    """Geocode street addresses with the Census batch geocoder, through the per-address cache.

    Parameters
    ----------
    addresses
        ``street``, ``city``, ``state``, ``zip`` (ZIP or ZIP+4); any index (kept).
    url
        The batch endpoint (:data:`CENSUS_BATCH_URL`; a mirror or a test server).
    benchmark
        Address benchmark (:data:`DEFAULT_BENCHMARK`).
    batch_size
        Rows per upload, at most :data:`MAX_BATCH`.
    cache_folder
        Folder of the ``geocode/`` cache; default :data:`equity.settings.cache_folder`.
    timeout
        Seconds to wait for one batch; default :data:`BATCH_TIMEOUT_S`.
    retries
        Retries of a failed batch; default :data:`equity.settings.http_retries`.
    backoff
        First delay between retries in seconds, doubled after each.
    force
        Ask again for addresses already cached.

    Returns
    -------
    pandas.DataFrame
        Same index: ``geocode_status`` (:data:`STATUSES`), ``match_type`` (``exact`` or
        ``non_exact``), ``matched_address``, ``longitude``, ``latitude`` (NaN unless matched),
        ``tiger_line_id``, ``side``, ``from_cache``. ``attrs``: ``n_sent``, ``n_cached``,
        ``n_batches`` and the count of each status.

    Raises
    ------
    DownloadError
        A batch failed after its retries (offline, HTTP errors, an answer that is not the CSV
        layout); the batches answered before it stay cached.
    SchemaError
        `addresses` lacks one of the four columns.
    """
    if not 1 <= int(batch_size) <= MAX_BATCH:
        raise ValueError(f"batch_size must be 1-{MAX_BATCH}, got {batch_size}")
    clean = _clean(addresses)
    result = _empty_result(addresses.index)
    no_street = (clean["street"] == "").to_numpy()
    po_box = clean["street"].str.contains(_PO_BOX, case=False, regex=True).to_numpy() & ~no_street
    result.loc[no_street, "geocode_status"] = "no_address"
    result.loc[po_box, "geocode_status"] = "po_box"
    todo = clean.loc[~no_street & ~po_box]
    keys = [_address_key(*row) for row in todo.itertuples(index=False)]
    unique = list(dict.fromkeys(keys))
    cache = _Cache(geocode_cache_path(url=url, benchmark=benchmark, cache_folder=cache_folder))
    with closing(cache):
        known = {} if force else cache.get(unique)
        ask = [k for k in unique if k not in known]
        first = dict(zip(keys, todo.itertuples(index=False), strict=True))
        n_batches = 0
        fresh: dict[str, tuple[object, ...]] = {}
        for chunk in _chunks(ask, int(batch_size)):
            n_batches += 1
            rows = [(str(i), *first[k]) for i, k in enumerate(chunk)]
            answers = _batch(
                rows,
                url=url,
                benchmark=benchmark,
                timeout=float(BATCH_TIMEOUT_S if timeout is None else timeout),
                retries=int(settings.http_retries if retries is None else retries),
                backoff=backoff,
            )
            store = _store_rows(chunk, rows, answers)
            cache.put(store)
            fresh.update({str(r[0]): r[2:9] for r in store})
            logger.info(
                "geocoded batch %d (%d addresses): %d matched, %d not answered",
                n_batches,
                len(chunk),
                sum(a.status == "match" for a in answers.values()),
                len(chunk) - len(answers),
            )
    _fill(result, todo.index, keys, known, fresh)
    result.attrs.update(
        {
            "n_sent": len(ask),
            "n_cached": len(unique) - len(ask),
            "n_batches": n_batches,
            **{f"n_{s}": int((result["geocode_status"] == s).sum()) for s in STATUSES},
        }
    )
    logger.info(
        "geocode_addresses: %d addresses, %d sent in %d batch(es), %d from the cache; %s",
        len(addresses),
        len(ask),
        n_batches,
        len(unique) - len(ask),
        ", ".join(f"{s} {result.attrs[f'n_{s}']}" for s in STATUSES),
    )
    return result


def _store_rows(
    chunk: list[str], rows: list[tuple[str, str, str, str, str]], answers: dict[str, _Answer]
) -> list[tuple[object, ...]]:
    """Cache rows of the answered addresses of one batch (unanswered ones are not cached)."""
    now = time.time()
    out: list[tuple[object, ...]] = []
    for key, row in zip(chunk, rows, strict=True):
        a = answers.get(row[0])
        if a is None:
            continue
        out.append(
            (
                key,
                ", ".join(row[1:]),
                a.status,
                a.match_type,
                a.matched_address,
                a.longitude,
                a.latitude,
                a.tiger_line_id,
                a.side,
                now,
            )
        )
    return out


def _fill(
    result: pd.DataFrame,
    index: pd.Index,
    keys: list[str],
    known: dict[str, tuple[object, ...]],
    fresh: dict[str, tuple[object, ...]],
) -> None:
    """Write the cached and fresh answers into `result` (in place); the rest not answered."""
    values: list[tuple[object, ...]] = []
    for key in keys:
        hit = fresh.get(key)
        cached = hit is None and key in known
        row = known[key] if cached else hit
        if row is None:
            values.append(("not_answered", None, None, math.nan, math.nan, None, None, False))
        else:
            status, mtype, matched, lon, lat, tiger, side = row
            values.append((status, mtype, matched, lon, lat, tiger, side, cached))
    if not values:
        return
    frame = pd.DataFrame(
        values,
        index=index,
        columns=[
            "geocode_status",
            "match_type",
            "matched_address",
            "longitude",
            "latitude",
            "tiger_line_id",
            "side",
            "from_cache",
        ],
    )
    for c in frame.columns:
        if c in ("longitude", "latitude"):
            result.loc[index, c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
        elif c == "from_cache":
            result.loc[index, c] = frame[c].astype(bool)
        else:
            result.loc[index, c] = frame[c].astype("string")

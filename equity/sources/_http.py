"""Cached, atomic, checked, retried downloads with a deadline, and safe zip extraction.

Every public file the toolkit downloads goes through :func:`download` (or
:func:`download_file`, which also returns the byte count and SHA-256):

- **Cache**: the file is stored in :data:`equity.settings.cache_folder` (or the folder given)
  under the SHA-1 of its URL (query included, secrets such as an API ``key`` excluded) with the
  URL's suffix, e.g. ``~/.cache/equity/3f1c...e2.zip``. A second call returns the cached file
  without any request. :func:`cache_path` tells where a file goes, so a file downloaded by hand
  can be put there.
- **Atomic**: the body is streamed to a temporary file beside the cache file and renamed onto it
  only once complete and checked (``os.replace``). A failed, truncated or rejected response is
  never cached, and a failed ``force`` refresh leaves the previous copy in place.
- **Checked**: a body shorter than its ``Content-Length`` is a failure; so is an empty body and
  an HTML page served with status 200 (a maintenance or "invalid key" page); then the caller's
  ``check`` (given the body and the ``Content-Type``: magic bytes, CSV header, zip limits) and
  ``validate`` run before the rename. A rejected body raises :class:`ContentError` (both a
  :class:`~equity.errors.DownloadError` and a :class:`~equity.errors.DataError`), naming the
  URL and the reason, and is not retried: the next call asks the server again.
- **Deadline**: ``timeout`` bounds each wait for the server (connection, each read); ``deadline``
  bounds the whole download, retries included. A watchdog closes the connection at the
  deadline, so a server dripping one byte a second is cut off on time.
- **Retried**: connection errors, timeouts, truncated bodies, HTTP 408, 429 and 5xx are retried
  ``retries`` times with exponential backoff (``backoff * 2**attempt`` seconds, or the server's
  ``Retry-After`` when longer, capped at 60 s and at the deadline); other 4xx fail at once.
- **Offline**: when the host cannot be resolved or reached, :class:`~equity.errors.DownloadError`
  says the machine seems offline and names the URL and the cache path for a manual download.
- **Secrets**: query parameters named in :data:`SECRET_PARAMS` (``key``, ``token``, ...) and
  request headers named in :data:`SECRET_HEADERS` (the FCC's ``hash_value``) are sent but never
  hashed, logged nor shown in an error message.

:data:`base_urls` holds the scheme and host of every source, so tests (or a mirror) can point all
of them elsewhere, e.g. ``base_urls["census_www2"] = "http://127.0.0.1:8000"``. The environment
variable ``EQUITY_MIRROR`` (read at import) points every source at one mirror serving the
publishers' paths, e.g. ``EQUITY_MIRROR=http://mirror.example.org/public-data``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from functools import partial
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from equity import __version__, settings
from equity._io import atomic_path
from equity.errors import DataError, DownloadError
from equity.sources._zips import safe_extract

__all__ = [
    "DEFAULT_DEADLINE_S",
    "SECRET_HEADERS",
    "SECRET_PARAMS",
    "ContentError",
    "Fetched",
    "base_urls",
    "cache_path",
    "download",
    "download_file",
    "file_sha256",
    "public_url",
    "remote_size",
    "safe_extract",
]

logger = logging.getLogger("equity.sources")

#: Scheme and host (plus fixed path prefix) of each source; change them to use a mirror.
base_urls: dict[str, str] = {
    # Census Data API (ACS 5-year tables)
    "census_api": "https://api.census.gov",
    # Census file server: cartographic boundaries (GENZ), TIGER/Line, County Business Patterns
    "census_www2": "https://www2.census.gov",
    # Ookla open data (AWS S3 bucket of the Speedtest global performance tiles)
    "ookla": "https://ookla-open-data.s3.amazonaws.com",
    # raw files of GitHub repositories (Microsoft broadband usage)
    "github_raw": "https://raw.githubusercontent.com",
    # Institute of Museum and Library Services (Public Libraries Survey)
    "imls": "https://www.imls.gov",
    # National Center for Education Statistics (EDGE school geocodes, IPEDS)
    "nces": "https://nces.ed.gov",
    # Internal Revenue Service (Exempt Organizations Business Master File extracts)
    "irs": "https://www.irs.gov",
    # FCC National Broadband Map public data API (BDC availability)
    "fcc": "https://broadbandmap.fcc.gov",
}


def _apply_mirror(mirror: str | None) -> None:
    """Point every source at `mirror` (the ``EQUITY_MIRROR`` environment variable)."""
    if mirror:
        for name in base_urls:
            base_urls[name] = mirror.rstrip("/")


_apply_mirror(os.environ.get("EQUITY_MIRROR"))

#: Query parameters whose values are secrets: sent, but never hashed, logged or shown.
SECRET_PARAMS: frozenset[str] = frozenset({"key", "api_key", "apikey", "token", "access_token"})
#: Request headers whose values are secrets (compared case-insensitively).
SECRET_HEADERS: frozenset[str] = frozenset(
    {"hash_value", "authorization", "x-api-key", "token", "username"}
)

#: Default overall deadline of one download (all attempts), in seconds.
DEFAULT_DEADLINE_S = 3600.0

Params = Mapping[str, str | int] | Sequence[tuple[str, str | int]]

_USER_AGENT = f"equity/{__version__} (digital-equity toolkit; python-urllib)"
_CHUNK = 1 << 16
_MAX_DELAY_S = 60.0
_RETRY_STATUS = frozenset({408, 429})
# characters left unescaped in query values: Census API uses "for=block%20group:*" and
# comma-separated "get" lists
_QUERY_SAFE = ":*,/"
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<!--")


class ContentError(DownloadError, DataError):
    """A response arrived but its body is not the expected file (HTML page, empty, wrong type).

    Both a :class:`~equity.errors.DownloadError` and a :class:`~equity.errors.DataError`; the
    message names the URL (secrets removed) and the reason. Nothing was cached.
    """


@dataclass(frozen=True)
class Fetched:
    """A file in the download cache and where it came from.

    Attributes
    ----------
    path
        The cached file.
    url
        The public URL (secrets removed).
    bytes
        Size in bytes.
    sha256
        SHA-256 of the bytes (None for a cache hit, where it was not recomputed).
    fetched
        When it was downloaded (UTC, ISO 8601), or the cached file's modification time.
    cached
        True when served from the cache without a request.
    """

    path: Path
    url: str
    bytes: int
    sha256: str | None
    fetched: str
    cached: bool


class _TransientError(Exception):
    """A failure worth retrying (truncated body, 5xx, timeout, reset connection)."""

    def __init__(self, reason: str, *, offline: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.offline = offline
        self.retry_after = retry_after


def _param_items(params: Params | None) -> list[tuple[str, str]]:
    if params is None:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    return [(str(k), str(v)) for k, v in items]


def _with_query(url: str, items: Iterable[tuple[str, str]], *, keep_secrets: bool) -> str:
    """Return `url` with `items` appended to its query; secrets dropped unless `keep_secrets`."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(items)
    if not keep_secrets:
        query = [(k, v) for k, v in query if k.lower() not in SECRET_PARAMS]
    encoded = urlencode(query, quote_via=quote, safe=_QUERY_SAFE)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, encoded, parts.fragment))


def public_url(url: str, *, params: Params | None = None) -> str:
    """The URL with `params` appended and secret parameters removed: what is hashed and shown.

    Parameters
    ----------
    url
        URL, possibly with a query string.
    params
        Extra query parameters (a mapping, or pairs when a name repeats).

    Returns
    -------
    str
        The canonical URL without secrets.

    Examples
    --------
    >>> public_url("https://api.census.gov/data/2021/acs/acs5?get=NAME", params={"key": "abc"})
    'https://api.census.gov/data/2021/acs/acs5?get=NAME'
    """
    return _with_query(url, _param_items(params), keep_secrets=False)


def _suffix_of(url: str) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix
    # a "suffix" such as ".0" of "/v1.0" or an absurdly long one is not a file type
    return suffix if 1 < len(suffix) <= 9 and suffix[1:].isalnum() else ""


def cache_path(
    url: str,
    *,
    params: Params | None = None,
    cache_folder: str | os.PathLike[str] | None = None,
    suffix: str | None = None,
) -> Path:
    """Where :func:`download` caches `url`: ``<cache_folder>/<sha1 of public URL><suffix>``.

    Parameters
    ----------
    url
        URL of the file.
    params
        Query parameters appended to `url` (secret ones do not change the path).
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.
    suffix
        File suffix; defaults to the suffix of the URL's path (``.zip``, ``.csv``, ...).

    Returns
    -------
    Path
        Path of the cached file (which may not exist yet).
    """
    shown = public_url(url, params=params)
    folder = Path(cache_folder) if cache_folder is not None else Path(settings.cache_folder)
    name = hashlib.sha1(shown.encode("utf-8")).hexdigest()
    return folder / f"{name}{_suffix_of(shown) if suffix is None else suffix}"


def _is_offline_error(exc: BaseException) -> bool:
    if isinstance(exc, socket.gaierror | ConnectionRefusedError):
        return True
    return isinstance(exc, OSError) and exc.errno in (
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.ECONNREFUSED,
    )


def _retry_after(headers: Message | Mapping[str, str] | None) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: ignore it, the backoff applies
        return None


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _body_snippet(exc: urllib.error.HTTPError, *, secrets: Sequence[str]) -> str:
    try:
        text = exc.read(300).decode("utf-8", errors="replace")
    except Exception:  # a body that cannot be read adds nothing to the message
        return ""
    text = " ".join(_redact(text, secrets).split())
    return f" Server said: {text[:200]!r}." if text else ""


# --------------------------------------------------------------------------------------
# the deadline: a watchdog closing the connection
# --------------------------------------------------------------------------------------


class _Watchdog:
    """Shuts down every socket registered with it once the deadline (monotonic) passes."""

    def __init__(self, deadline_at: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline_at - time.monotonic()), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._timer.cancel()

    def register(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _opener(watch: _Watchdog) -> urllib.request.OpenerDirector:
    """A urllib opener (proxies and redirects as usual) whose sockets `watch` can close."""

    class _Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            watch.register(self.sock)

    class _SConn(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            watch.register(self.sock)

    class _Handler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(_Conn, req)

    class _SHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(_SConn, req, context=self._context)  # type: ignore[attr-defined]

    return urllib.request.build_opener(_Handler, _SHandler)


class _DeadlinePassed(Exception):
    """The overall deadline of a download passed (not retried)."""


# --------------------------------------------------------------------------------------
# one attempt
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    """What every attempt of one download shares."""

    url: str  # with secrets: sent, never shown
    shown: str  # without secrets
    dest: Path
    headers: dict[str, str]
    timeout: float
    deadline_at: float
    check: Callable[[Path, str | None], None] | None
    validate: Callable[[Path], None] | None
    secrets: tuple[str, ...]
    progress: Callable[[int], None] | None


def html_title(head: bytes) -> str | None:
    """The ``<title>`` of an HTML page starting with `head`, or ``""`` when it has none; None
    when `head` is not the start of an HTML page."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not start.startswith(_HTML_STARTS) and not (
        start.startswith(b"<?xml") and b"<html" in start
    ):
        return None
    low = head.lower()
    i = low.find(b"<title")
    if i < 0:
        return ""
    j = low.find(b">", i)
    k = low.find(b"</title", j)
    if j < 0 or k < 0:
        return ""
    return " ".join(head[j + 1 : k].decode("utf-8", errors="replace").split())[:120]


def _check_body(req: _Request, tmp: Path, size: int, content_type: str | None) -> None:
    """Reject an empty body, then run the caller's checks, then reject an HTML page."""
    if size == 0:
        msg = "the server sent an empty body (0 bytes) with status 200"
        raise DataError(msg)
    if req.check is not None:
        req.check(tmp, content_type)
    if req.validate is not None:
        req.validate(tmp)
    with open(tmp, "rb") as fh:
        title = html_title(fh.read(4096))
    if title is not None:
        shown = f" ({title!r})" if title else ""
        msg = f"the server sent an HTML page{shown} with status 200 instead of the file"
        raise DataError(msg)


def _stream(req: _Request, response: Any, tmp: Path, watch: _Watchdog) -> tuple[int, str]:
    """Write the body to `tmp`; its size and SHA-256. Raises on truncation or the deadline."""
    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    digest = hashlib.sha256()
    size = 0
    with open(tmp, "wb") as fh:
        while True:
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            fh.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            if req.progress is not None:
                req.progress(len(chunk))
    if watch.expired:
        raise _DeadlinePassed(_got(size, expected))
    if expected is not None and size != expected:
        raise _TransientError(f"truncated response: got {size} of {expected} bytes")
    return size, digest.hexdigest()


def _got(size: int, expected: int | None) -> str:
    return f"{size:,} of {expected:,} bytes received" if expected else f"{size:,} bytes received"


def _attempt(req: _Request) -> tuple[int, str]:
    """Download once into ``req.dest`` atomically; return the byte count and SHA-256."""
    remaining = req.deadline_at - time.monotonic()
    if remaining <= 0:
        raise _DeadlinePassed("no time left for another attempt")
    request = urllib.request.Request(req.url, headers={"User-Agent": _USER_AGENT, **req.headers})
    with _Watchdog(req.deadline_at) as watch:
        try:
            with _opener(watch).open(request, timeout=min(req.timeout, remaining)) as response:
                if response.status == 204:
                    msg = f"{req.shown} returned no content (HTTP 204): nothing to download for this query."
                    raise DownloadError(msg)
                with atomic_path(req.dest) as tmp:
                    size, sha = _stream(req, response, tmp, watch)
                    try:
                        _check_body(req, tmp, size, response.headers.get("Content-Type"))
                    except DataError as exc:
                        msg = f"{req.shown}: rejected: {_redact(str(exc), req.secrets)}; nothing was cached."
                        raise ContentError(msg) from None
                return size, sha
        except (DownloadError, _DeadlinePassed, _TransientError):
            raise
        except urllib.error.HTTPError as exc:
            with exc:  # the error holds the open response: close its socket
                if exc.code in _RETRY_STATUS or exc.code >= 500:
                    raise _TransientError(
                        f"HTTP {exc.code} {exc.reason}", retry_after=_retry_after(exc.headers)
                    ) from None
                snippet = _body_snippet(exc, secrets=req.secrets)
            msg = f"{req.shown} failed with HTTP {exc.code} {exc.reason}.{snippet}"
            raise DownloadError(msg) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if watch.expired:
                raise _DeadlinePassed("the connection was closed at the deadline") from None
            raise _transient(exc, req.timeout) from None


def _transient(exc: BaseException, timeout: float) -> _TransientError:
    """The retryable failure behind a urllib / socket / http.client exception."""
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, TimeoutError | socket.timeout):
        return _TransientError(f"timed out after {timeout:g} s")
    if isinstance(exc, urllib.error.URLError):
        offline = isinstance(cause, BaseException) and _is_offline_error(cause)
        return _TransientError(f"cannot connect ({cause})", offline=offline)
    # IncompleteRead, RemoteDisconnected, BadStatusLine, connection reset mid-body
    return _TransientError(f"connection broken ({type(exc).__name__})")


# --------------------------------------------------------------------------------------
# the public functions
# --------------------------------------------------------------------------------------


def download(
    url: str,
    *,
    params: Params | None = None,
    headers: Mapping[str, str] | None = None,
    cache_folder: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
    retries: int | None = None,
    backoff: float = 1.0,
    force: bool = False,
    suffix: str | None = None,
    check: Callable[[Path, str | None], None] | None = None,
    validate: Callable[[Path], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Download `url` into the cache (or return the cached copy) and return its path.

    Parameters
    ----------
    url
        URL of the file (http or https), possibly with a query string.
    params
        Extra query parameters. Those named in :data:`SECRET_PARAMS` (e.g. a Census API
        ``key``) are sent but are not part of the cache file name, logs or error messages.
    headers
        Extra request headers; values of those named in :data:`SECRET_HEADERS` are kept out of
        messages (headers never change the cache name).
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.
    timeout
        Seconds to wait for the connection and for each read; defaults to
        :data:`equity.settings.http_timeout_s`.
    deadline
        Seconds the whole download may take, retries and their waits included; defaults to
        :data:`DEFAULT_DEADLINE_S`. The connection is closed when it passes.
    retries
        Retries after the first attempt; defaults to :data:`equity.settings.http_retries`.
    backoff
        First delay between attempts in seconds, doubled after each retry.
    force
        Download again even when a cached copy exists (the old copy stays if this fails).
    suffix
        Suffix of the cached file; defaults to the URL's (``.zip``, ``.csv``, ...).
    check
        Called with the complete temporary file and the response's ``Content-Type`` (or None)
        before it is moved into the cache; raise :class:`~equity.errors.DataError` to reject.
    validate
        Called with the path of the complete temporary file (after `check`); raise
        :class:`~equity.errors.DataError` to reject the body.
    progress
        Called with the size of every chunk received.

    Returns
    -------
    Path
        The cached file.

    Raises
    ------
    ContentError
        The body was rejected (empty, an HTML page, refused by `check` or `validate`).
    DownloadError
        On an HTTP error (at once for 4xx other than 408/429), at the deadline, or once the
        retries are spent; when the host cannot be reached the message says the machine seems
        offline and where a manually downloaded copy can be placed.

    Examples
    --------
    >>> path = download("https://www2.census.gov/geo/tiger/GENZ2021/shp/cb_2021_us_state_20m.zip")  # doctest: +SKIP
    """
    return download_file(
        url,
        params=params,
        headers=headers,
        cache_folder=cache_folder,
        timeout=timeout,
        deadline=deadline,
        retries=retries,
        backoff=backoff,
        force=force,
        suffix=suffix,
        check=check,
        validate=validate,
        progress=progress,
    ).path


def download_file(
    url: str,
    *,
    params: Params | None = None,
    headers: Mapping[str, str] | None = None,
    cache_folder: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
    retries: int | None = None,
    backoff: float = 1.0,
    force: bool = False,
    suffix: str | None = None,
    check: Callable[[Path, str | None], None] | None = None,
    validate: Callable[[Path], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Fetched:
    """:func:`download`, returning a :class:`Fetched` record (path, public URL, size, SHA-256).

    The parameters are those of :func:`download`.
    """
    items = _param_items(params)
    shown = public_url(url, params=items)
    if urlsplit(shown).scheme not in ("http", "https"):
        msg = f"cannot download {shown!r}: only http and https URLs are supported."
        raise DownloadError(msg)
    dest = cache_path(url, params=items, cache_folder=cache_folder, suffix=suffix)
    if dest.is_file() and not force:
        logger.info("Using cached %s for %s", dest, shown)
        st = dest.stat()
        when = datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds")
        return Fetched(dest, shown, st.st_size, None, when, cached=True)
    request_url = _with_query(url, items, keep_secrets=True)
    extra = dict(headers or {})
    secrets = _secret_values(request_url) + [
        v for k, v in extra.items() if k.lower() in SECRET_HEADERS
    ]
    limit = float(DEFAULT_DEADLINE_S if deadline is None else deadline)
    req = _Request(
        url=request_url,
        shown=shown,
        dest=dest,
        headers=extra,
        timeout=float(settings.http_timeout_s if timeout is None else timeout),
        deadline_at=time.monotonic() + limit,
        check=check,
        validate=validate,
        secrets=tuple(secrets),
        progress=progress,
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    retries = int(settings.http_retries if retries is None else retries)
    size, sha = _retrying(
        partial(_attempt, req), retries=retries, backoff=backoff, req=req, limit=limit
    )
    logger.info("Downloaded %s to %s (%d bytes)", shown, dest, size)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return Fetched(dest, shown, size, sha, now, cached=False)


def _secret_values(request_url: str) -> list[str]:
    """Values of the secret query parameters of `request_url` (kept out of messages)."""
    return [
        v
        for k, v in parse_qsl(urlsplit(request_url).query, keep_blank_values=True)
        if k.lower() in SECRET_PARAMS
    ]


def _retrying(
    attempt: Callable[[], tuple[int, str]],
    *,
    retries: int,
    backoff: float,
    req: _Request,
    limit: float,
) -> tuple[int, str]:
    """Call `attempt` until it succeeds, at most ``retries + 1`` times, within the deadline.

    Transient failures wait ``backoff * 2**(n - 1)`` seconds before the n-th retry (or the
    server's ``Retry-After`` when longer, capped at 60 s); the last one becomes a
    :class:`~equity.errors.DownloadError` saying where a manual download can go.
    """
    last: _TransientError | None = None
    for n in range(retries + 1):
        if last is not None:
            delay = min(max(backoff * 2 ** (n - 1), last.retry_after or 0.0), _MAX_DELAY_S)
            if time.monotonic() + delay >= req.deadline_at:
                break
            logger.warning(
                "Download of %s failed (%s); retry %d of %d in %.1f s",
                req.shown,
                last.reason,
                n,
                retries,
                delay,
            )
            time.sleep(delay)
        try:
            return attempt()
        except _TransientError as exc:
            last = exc
        except _DeadlinePassed as exc:
            msg = (
                f"Download of {req.shown} did not finish within its deadline of {limit:g} s "
                f"({exc}); nothing was cached."
            )
            raise DownloadError(msg) from None
    assert last is not None  # the loop runs at least once
    raise DownloadError(_failure_message(last, retries=retries, shown=req.shown, dest=req.dest))


def _failure_message(last: _TransientError, *, retries: int, shown: str, dest: Path) -> str:
    """Why the download failed (offline or not), and where to put a copy made by hand."""
    tries = f"{retries + 1} attempt{'s' if retries else ''}"
    manual = f"You can download it by hand and save it as {dest} to use it offline."
    if last.offline:
        host = urlsplit(shown).netloc
        return (
            f"Cannot reach {host}: this machine seems to be offline ({last.reason}, {tries}). "
            f"URL: {shown}. {manual}"
        )
    return f"Download of {shown} failed after {tries}: {last.reason}. {manual}"


def remote_size(
    url: str,
    *,
    params: Params | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> tuple[int | None, str]:
    """Size the server announces for `url` (a HEAD request), and a note when it says none.

    Parameters
    ----------
    url, params, headers, timeout
        As for :func:`download`.

    Returns
    -------
    tuple of (int or None, str)
        The ``Content-Length`` in bytes, or None with the reason (``"size unknown"``, the
        HTTP status of a refusal, or the connection error).
    """
    items = _param_items(params)
    request_url = _with_query(url, items, keep_secrets=True)
    secrets = _secret_values(request_url) + [
        v for k, v in (headers or {}).items() if k.lower() in SECRET_HEADERS
    ]
    request = urllib.request.Request(
        request_url, method="HEAD", headers={"User-Agent": _USER_AGENT, **(headers or {})}
    )
    wait = float(settings.http_timeout_s if timeout is None else timeout)
    with _Watchdog(time.monotonic() + 2 * wait) as watch:
        try:
            with _opener(watch).open(request, timeout=wait) as response:
                length = response.headers.get("Content-Length")
                if length and length.isdigit():
                    return int(length), ""
                return None, "size unknown"
        except urllib.error.HTTPError as exc:
            with exc:
                return None, f"size unknown (HEAD: HTTP {exc.code} {exc.reason})"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = _redact(str(_transient(exc, wait).reason), secrets)
            return None, f"size unknown (HEAD: {reason})"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

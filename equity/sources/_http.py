"""Cached, atomic, retried downloads and safe zip extraction.

Every public file the toolkit downloads goes through :func:`download`:

- **Cache**: the file is stored in :data:`equity.settings.cache_folder` under the SHA-1 of its
  URL (query included, secrets such as an API ``key`` excluded) with the URL's suffix, e.g.
  ``~/.cache/equity/3f1c...e2.zip``. A second call returns the cached file without any request.
  :func:`cache_path` tells where a file goes, so a file downloaded by hand can be put there.
- **Atomic**: the body is streamed to a temporary file beside the cache file and renamed onto it
  only once complete (``os.replace``). A failed, truncated or invalid response is never cached,
  and a failed ``force`` refresh leaves the previous copy in place.
- **Checked**: a body shorter than its ``Content-Length`` is a failure; an optional
  ``validate`` callable (e.g. "is this a zip", "is this Census JSON") runs before the rename.
- **Retried**: connection errors, timeouts, truncated bodies, HTTP 408, 429 and 5xx are retried
  ``retries`` times with exponential backoff (``backoff * 2**attempt`` seconds, or the server's
  ``Retry-After`` when longer, capped at 60 s); other 4xx fail at once.
- **Offline**: when the host cannot be resolved or reached, :class:`~equity.errors.DownloadError`
  says the machine seems offline and names the URL and the cache path for a manual download.
- **Secrets**: query parameters named in :data:`SECRET_PARAMS` (``key``, ``token``, ...) are sent
  but never hashed, logged nor shown in an error message.

:data:`base_urls` holds the scheme and host of every source, so tests (or a mirror) can point all
of them elsewhere, e.g. ``base_urls["census_www2"] = "http://127.0.0.1:8000"``.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import socket
import stat
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from email.message import Message
from functools import partial
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from equity import __version__, settings
from equity._io import atomic_dir, atomic_path
from equity.errors import DataError, DownloadError

__all__ = [
    "SECRET_PARAMS",
    "base_urls",
    "cache_path",
    "download",
    "public_url",
    "safe_extract",
]

logger = logging.getLogger("equity.sources")

#: Scheme and host (plus fixed path prefix) of each source; change them to use a mirror.
base_urls: dict[str, str] = {
    # Census Data API (ACS 5-year tables)
    "census_api": "https://api.census.gov",
    # Census file server: cartographic boundaries (GENZ) and County Business Patterns
    "census_www2": "https://www2.census.gov",
    # Ookla open data (AWS S3 bucket of the Speedtest global performance tiles)
    "ookla": "https://ookla-open-data.s3.amazonaws.com",
    # raw files of GitHub repositories (Microsoft broadband usage)
    "github_raw": "https://raw.githubusercontent.com",
}

#: Query parameters whose values are secrets: sent, but never hashed, logged or shown.
SECRET_PARAMS: frozenset[str] = frozenset({"key", "api_key", "apikey", "token", "access_token"})

Params = Mapping[str, str | int] | Sequence[tuple[str, str | int]]

_USER_AGENT = f"equity/{__version__} (digital-equity toolkit; python-urllib)"
_CHUNK = 1 << 16
_MAX_DELAY_S = 60.0
_RETRY_STATUS = frozenset({408, 429})
# characters left unescaped in query values: Census API uses "for=block%20group:*" and
# comma-separated "get" lists
_QUERY_SAFE = ":*,/"


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


def _body_snippet(exc: urllib.error.HTTPError, *, secrets: Sequence[str]) -> str:
    try:
        text = exc.read(300).decode("utf-8", errors="replace")
    except Exception:  # a body that cannot be read adds nothing to the message
        return ""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return f" Server said: {text[:200]!r}." if text else ""


def _attempt(
    request_url: str,
    dest: Path,
    *,
    timeout: float,
    validate: Callable[[Path], None] | None,
    secrets: Sequence[str],
    shown: str,
) -> int:
    """Download once into `dest` atomically; return the byte count, or raise."""
    request = urllib.request.Request(request_url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status == 204:
                msg = f"{shown} returned no content (HTTP 204): nothing to download for this query."
                raise DownloadError(msg)
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            with atomic_path(dest) as tmp:
                size = 0
                with open(tmp, "wb") as fh:
                    while chunk := response.read(_CHUNK):
                        fh.write(chunk)
                        size += len(chunk)
                if expected is not None and size != expected:
                    reason = f"truncated response: got {size} of {expected} bytes"
                    raise _TransientError(reason)
                if validate is not None:
                    validate(tmp)
            return size
    except urllib.error.HTTPError as exc:
        with exc:  # the error holds the open response: close its socket
            if exc.code in _RETRY_STATUS or exc.code >= 500:
                raise _TransientError(
                    f"HTTP {exc.code} {exc.reason}", retry_after=_retry_after(exc.headers)
                ) from None
            snippet = _body_snippet(exc, secrets=secrets)
        msg = f"{shown} failed with HTTP {exc.code} {exc.reason}.{snippet}"
        raise DownloadError(msg) from None
    except urllib.error.URLError as exc:
        cause = exc.reason
        if isinstance(cause, TimeoutError):
            raise _TransientError(f"timed out after {timeout:g} s") from None
        offline = isinstance(cause, BaseException) and _is_offline_error(cause)
        raise _TransientError(f"cannot connect ({cause})", offline=offline) from None
    except TimeoutError:
        raise _TransientError(f"timed out after {timeout:g} s") from None
    except (http.client.HTTPException, ConnectionError) as exc:
        # IncompleteRead, RemoteDisconnected, BadStatusLine, connection reset mid-body
        raise _TransientError(f"connection broken ({type(exc).__name__})") from None


def download(
    url: str,
    *,
    params: Params | None = None,
    cache_folder: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    backoff: float = 1.0,
    force: bool = False,
    suffix: str | None = None,
    validate: Callable[[Path], None] | None = None,
) -> Path:
    """Download `url` into the cache (or return the cached copy) and return its path.

    Parameters
    ----------
    url
        URL of the file (http or https), possibly with a query string.
    params
        Extra query parameters. Those named in :data:`SECRET_PARAMS` (e.g. a Census API
        ``key``) are sent but are not part of the cache file name, logs or error messages.
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.
    timeout
        Seconds to wait for the connection and for each read; defaults to
        :data:`equity.settings.http_timeout_s`.
    retries
        Retries after the first attempt; defaults to :data:`equity.settings.http_retries`.
    backoff
        First delay between attempts in seconds, doubled after each retry.
    force
        Download again even when a cached copy exists (the old copy stays if this fails).
    suffix
        Suffix of the cached file; defaults to the URL's (``.zip``, ``.csv``, ...).
    validate
        Called with the path of the complete temporary file before it is moved into the
        cache; raise (e.g. :class:`~equity.errors.DataError`) to reject the body.

    Returns
    -------
    Path
        The cached file.

    Raises
    ------
    DownloadError
        On an HTTP error (at once for 4xx other than 408/429), or once the retries are spent;
        when the host cannot be reached the message says the machine seems offline and where
        a manually downloaded copy can be placed.

    Examples
    --------
    >>> path = download("https://www2.census.gov/geo/tiger/GENZ2021/shp/cb_2021_us_state_20m.zip")  # doctest: +SKIP
    """
    items = _param_items(params)
    shown = public_url(url, params=items)
    scheme = urlsplit(shown).scheme
    if scheme not in ("http", "https"):
        msg = f"cannot download {shown!r}: only http and https URLs are supported."
        raise DownloadError(msg)
    dest = cache_path(url, params=items, cache_folder=cache_folder, suffix=suffix)
    if dest.is_file() and not force:
        logger.info("Using cached %s for %s", dest, shown)
        return dest
    request_url = _with_query(url, items, keep_secrets=True)
    attempt = partial(
        _attempt,
        request_url,
        dest,
        timeout=float(settings.http_timeout_s if timeout is None else timeout),
        validate=validate,
        secrets=_secret_values(request_url),
        shown=shown,
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    retries = int(settings.http_retries if retries is None else retries)
    size = _retrying(attempt, retries=retries, backoff=backoff, shown=shown, dest=dest)
    logger.info("Downloaded %s to %s (%d bytes)", shown, dest, size)
    return dest


def _secret_values(request_url: str) -> list[str]:
    """Values of the secret query parameters of `request_url` (kept out of messages)."""
    return [
        v
        for k, v in parse_qsl(urlsplit(request_url).query, keep_blank_values=True)
        if k.lower() in SECRET_PARAMS
    ]


def _retrying(
    attempt: Callable[[], int], *, retries: int, backoff: float, shown: str, dest: Path
) -> int:
    """Call `attempt` until it succeeds, at most ``retries + 1`` times; its byte count.

    Transient failures wait ``backoff * 2**(n - 1)`` seconds before the n-th retry (or the
    server's ``Retry-After`` when longer, capped at 60 s); the last one becomes a
    :class:`~equity.errors.DownloadError` saying where a manual download can go.
    """
    last: _TransientError | None = None
    for n in range(retries + 1):
        if last is not None:
            delay = min(max(backoff * 2 ** (n - 1), last.retry_after or 0.0), _MAX_DELAY_S)
            logger.warning(
                "Download of %s failed (%s); retry %d of %d in %.1f s",
                shown,
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
    assert last is not None  # the loop runs at least once
    raise DownloadError(_failure_message(last, retries=retries, shown=shown, dest=dest))


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


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry is unsafe to extract, or None."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return f"{info.filename!r} is a symbolic link"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        return f"{info.filename!r} is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return f"{info.filename!r} points outside the destination (path traversal)"
    if "\x00" in name:
        return f"{info.filename!r} contains a NUL character"
    return None


def safe_extract(
    zip_path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    members: Iterable[str] | None = None,
) -> list[Path]:
    """Extract a zip file into `dest`, refusing unsafe entries, atomically.

    Every entry is checked before anything is written: absolute paths, ``..`` components
    (path traversal, "zip slip") and symbolic links are refused, all problems listed in one
    error. Files are extracted into a temporary folder inside `dest` and moved into place only
    when all of them are complete.

    Parameters
    ----------
    zip_path
        The zip file.
    dest
        Destination folder (created when missing).
    members
        Names of the entries to extract; all entries by default.

    Returns
    -------
    list of Path
        Paths of the extracted files, in archive order.

    Raises
    ------
    DataError
        When the file is not a valid zip, an entry is unsafe, or a named member is missing.

    Examples
    --------
    >>> files = safe_extract("cb_2021_51_tract_500k.zip", "tracts")  # doctest: +SKIP
    """
    zip_path = Path(zip_path)
    dest = Path(dest)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        msg = f"{zip_path} is not a readable zip file ({exc})."
        raise DataError(msg) from None
    with archive:
        infos = archive.infolist()
        if members is not None:
            wanted = set(members)
            missing = sorted(wanted - {i.filename for i in infos})
            if missing:
                msg = f"{zip_path} has no entry {missing[0]!r} (entries: {archive.namelist()[:10]})"
                raise DataError(msg)
            infos = [i for i in infos if i.filename in wanted]
        problems = [p for p in map(_entry_problem, infos) if p]
        if problems:
            listed = "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
            msg = f"refusing to extract {zip_path}: {len(problems)} unsafe entries: {listed}."
            raise DataError(msg)
        files = [i for i in infos if not i.is_dir()]
        extracted: list[Path] = []
        with atomic_dir(dest) as tmp:
            root = tmp.resolve()
            for info in files:
                rel = PurePosixPath(info.filename.replace("\\", "/"))
                target = tmp.joinpath(*rel.parts)
                # belt and braces: the checks above already exclude anything outside
                if not target.resolve().is_relative_to(root):
                    msg = f"refusing to extract {zip_path}: {info.filename!r} leaves {dest}."
                    raise DataError(msg)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with archive.open(info) as src, open(target, "wb") as out:
                        while chunk := src.read(_CHUNK):
                            out.write(chunk)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    msg = f"{zip_path}: entry {info.filename!r} cannot be read ({exc})."
                    raise DataError(msg) from None
                extracted.append(dest.joinpath(*rel.parts))
    return extracted

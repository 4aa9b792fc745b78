"""Per-state manifests: what the fetch cached for a state, read by the state-by-state runner.

``<cache_folder>/states/<USPS>/manifest.json`` (written atomically after every file, so a
killed fetch leaves a true record)::

    {
      "format": 1,
      "state": "VA", "fips": "51", "year": 2022,
      "complete": false,
      "data": {"blockgroups": "states/VA/cb_2022_51_bg_500k.zip",
               "acs": ["states/VA/acs_2022_51_blockgroup.csv", "states/VA/acs_2022_51_tract.csv"],
               ...},
      "missing": {"fcc": "skipped: no FCC API token (set FCC_USERNAME and FCC_API_TOKEN)"},
      "sources": {"blockgroups": {"url": "https://www2.census.gov/...", "bytes": 4915372,
                                  "sha256": "...", "fetched": "2026-12-03T10:22:41+00:00"},
                  "acs": [{"url": ...}, {"url": ...}, {"url": ...}], ...},
      "files": {"states/VA/cb_2022_51_bg_500k.zip": {"bytes": ..., "sha256": ...,
                                                      "mtime_ns": ...}, ...}
    }

- ``data``: the ``[data]`` keys of :data:`equity.config.DATA_KEYS` fetched for the state, each a
  path relative to the cache folder or a list of them (``acs``: the block-group table, then the
  tract table of the tract-only variables; ``fcc``: one zip per technology).
- ``missing``: each key the fetch could not provide, with the reason: ``skipped: ...`` (a
  deliberate gap: no FCC token, no rows for the state in a national file), ``failed: ...``
  (the download or check failed; the message names the URL), ``not fetched yet ...`` (its
  source was not asked for), ``cleared by ...``, ``file missing from the cache: ...``.
- ``complete``: every key of :data:`FETCH_KEYS` is in ``data`` or was skipped for a stated
  reason; nothing failed or is still to fetch. A runner can also check its own required keys.
- ``sources``: per key, where it came from: the URL (secrets removed), size, SHA-256 and time
  of the download (a list when a key needed several downloads; national files split per state
  name the national file).
- ``files``: size, SHA-256 and modification time of every file under ``states/<USPS>/``, so a
  rerun can tell a cached file from a changed or damaged one without downloading it again.

:func:`state_manifest` reads a manifest (checking that its files are still there) and
:func:`manifest_path` says where it is.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from equity import settings
from equity._io import atomic_write_text
from equity.errors import DataError
from equity.sources._http import Fetched, file_sha256
from equity.sources._states import State, lookup_state

__all__ = [
    "FETCH_KEYS",
    "FORMAT",
    "ManifestStore",
    "load_manifest",
    "manifest_path",
    "resolve_paths",
    "save_manifest",
    "source_entries",
    "state_dir",
    "state_manifest",
]

#: Version of the manifest layout.
FORMAT = 1

#: ``[data]`` keys the fetch provides for every state.
FETCH_KEYS: tuple[str, ...] = (
    "states",
    "counties",
    "tracts",
    "blockgroups",
    "places",
    "cousubs",
    "blocks",
    "acs",
    "ookla",
    "usage",
    "fcc",
    "business",
    "libraries",
    "schools",
    "colleges",
    "nonprofits",
)


def _folder(cache_folder: str | os.PathLike[str] | None) -> Path:
    return Path(cache_folder if cache_folder is not None else settings.cache_folder).expanduser()


def state_dir(
    state: str | int | State, *, cache_folder: str | os.PathLike[str] | None = None
) -> Path:
    """``<cache_folder>/states/<USPS>``: where a state's fetched files live."""
    st = state if isinstance(state, State) else lookup_state(state)
    return _folder(cache_folder) / "states" / st.usps


def manifest_path(
    state: str | int | State, *, cache_folder: str | os.PathLike[str] | None = None
) -> Path:
    """``<cache_folder>/states/<USPS>/manifest.json`` of `state` (USPS, FIPS or name).

    Examples
    --------
    >>> manifest_path("51", cache_folder="/data/equity").as_posix()
    '/data/equity/states/VA/manifest.json'
    """
    return state_dir(state, cache_folder=cache_folder) / "manifest.json"


def state_manifest(
    state: str | int | State, *, cache_folder: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Read the manifest of `state`, checking that the files it lists are still there.

    A key whose file has gone (deleted by hand, ``equity cache clear --source``) moves from
    ``data`` to ``missing`` ("file missing from the cache: ..."), and ``complete`` is
    recomputed; the file on disk is not changed.

    Parameters
    ----------
    state
        USPS code, FIPS code or name.
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.

    Returns
    -------
    dict
        The manifest (see the module docstring); paths stay relative to the cache folder
        (:func:`resolve_paths` makes them absolute).

    Raises
    ------
    DataError
        No manifest (the state was never fetched: the message gives the command), or one that
        cannot be read.
    """
    st = state if isinstance(state, State) else lookup_state(state)
    root = _folder(cache_folder)
    path = manifest_path(st, cache_folder=root)
    if not path.is_file():
        msg = (
            f"{path}: no fetched data for {st.usps} ({st.name}) in {root}; run "
            f"`equity fetch --states {st.usps}` first"
        )
        raise DataError(msg)
    manifest = _load(path)
    for key, rel in list(manifest["data"].items()):
        gone = [r for r in _as_list(rel) if not (root / r).is_file()]
        if gone:
            del manifest["data"][key]
            manifest["missing"][key] = f"file missing from the cache: {gone[0]}"
    manifest["complete"] = _complete(manifest)
    return manifest


def resolve_paths(
    manifest: dict[str, Any], *, cache_folder: str | os.PathLike[str] | None = None
) -> dict[str, Path | list[Path]]:
    """The ``data`` of a manifest as absolute paths (lists stay lists)."""
    root = _folder(cache_folder)
    return {
        key: [root / r for r in rel] if isinstance(rel, list) else root / rel
        for key, rel in manifest["data"].items()
    }


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def _complete(manifest: dict[str, Any]) -> bool:
    """Every key fetched, or skipped for a stated reason (no FCC token, no rows for the state)."""
    return all(
        k in manifest["data"] or str(manifest["missing"].get(k, "")).startswith("skipped:")
        for k in FETCH_KEYS
    )


def load_manifest(path: Path) -> dict[str, Any]:
    """Read a manifest file as stored (no check of the files it lists)."""
    return _load(path)


def _in_key_order(mapping: dict[str, Any]) -> dict[str, Any]:
    order = {k: i for i, k in enumerate(FETCH_KEYS)}
    return dict(sorted(mapping.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def save_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write a manifest atomically (keys in :data:`FETCH_KEYS` order), recomputing ``complete``."""
    manifest["complete"] = _complete(manifest)
    for part in ("data", "missing", "sources"):
        manifest[part] = _in_key_order(manifest[part])
    manifest["files"] = dict(sorted(manifest["files"].items()))
    atomic_write_text(path, json.dumps(manifest, indent=1) + "\n")


def _load(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path}: cannot read the fetch manifest ({exc}); run `equity fetch` again"
        raise DataError(msg) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        msg = f"{path}: not a format-{FORMAT} fetch manifest (format {found!r}); run `equity fetch` again"
        raise DataError(msg)
    for part in ("data", "missing", "sources", "files"):
        manifest.setdefault(part, {})
    return manifest


def _source_entry(fetched: Fetched, **extra: Any) -> dict[str, Any]:
    sha = fetched.sha256 if fetched.sha256 is not None else file_sha256(fetched.path)
    return {
        "url": fetched.url,
        "bytes": fetched.bytes,
        "sha256": sha,
        "fetched": fetched.fetched,
        **extra,
    }


class ManifestStore:
    """The manifests of one fetch run: loaded once, updated and saved atomically per item.

    A manifest of another year is replaced (its files are left for ``equity cache clear``).
    """

    def __init__(self, cache_folder: Path, year: int) -> None:
        self.root = cache_folder
        self.year = int(year)
        self._manifests: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, st: State) -> dict[str, Any]:
        """The manifest of `st` (a new one when absent, unreadable or of another year)."""
        with self._lock:
            if st.usps not in self._manifests:
                self._locks[st.usps] = threading.Lock()
                path = manifest_path(st, cache_folder=self.root)
                try:
                    manifest = _load(path) if path.is_file() else None
                except DataError:
                    manifest = None
                if manifest is None or manifest.get("year") != self.year:
                    manifest = {
                        "format": FORMAT,
                        "state": st.usps,
                        "fips": st.fips,
                        "year": self.year,
                        "complete": False,
                        "data": {},
                        "missing": {},
                        "sources": {},
                        "files": {},
                    }
                self._manifests[st.usps] = manifest
            return self._manifests[st.usps]

    def up_to_date(self, st: State, key: str, urls: Iterable[str] | None) -> bool:
        """Whether `key` of `st` is recorded, its files unchanged, and (when `urls` is given)
        fetched from exactly those URLs."""
        manifest = self.get(st)
        rel = manifest["data"].get(key)
        if rel is None:
            return False
        if urls is not None:
            recorded = manifest["sources"].get(key, [])
            have = {s["url"] for s in (recorded if isinstance(recorded, list) else [recorded])}
            if have != set(urls):
                return False
        return all(self._file_ok(manifest, r) for r in _as_list(rel))

    def _file_ok(self, manifest: dict[str, Any], rel: str) -> bool:
        info = manifest["files"].get(rel)
        path = self.root / rel
        if info is None or not path.is_file():
            return False
        st = path.stat()
        if st.st_size != info["bytes"]:
            return False
        if st.st_mtime_ns == info.get("mtime_ns"):
            return True
        if file_sha256(path) != info["sha256"]:
            return False
        info["mtime_ns"] = st.st_mtime_ns
        return True

    def record(
        self,
        st: State,
        key: str,
        paths: list[Path],
        sources: list[dict[str, Any]],
        *,
        as_list: bool = False,
        hashes: dict[Path, str] | None = None,
    ) -> None:
        """Record that `key` of `st` is the files `paths`, fetched from `sources`; save."""
        manifest = self.get(st)
        rels = [p.relative_to(self.root).as_posix() for p in paths]
        with self._locks[st.usps]:
            for old in _as_list(manifest["data"].get(key, [])):
                if old not in rels:
                    manifest["files"].pop(old, None)
            for p, rel in zip(paths, rels, strict=True):
                stat = p.stat()
                sha = (hashes or {}).get(p) or file_sha256(p)
                manifest["files"][rel] = {
                    "bytes": stat.st_size,
                    "sha256": sha,
                    "mtime_ns": stat.st_mtime_ns,
                }
            manifest["data"][key] = rels if (as_list or len(rels) != 1) else rels[0]
            manifest["sources"][key] = sources[0] if len(sources) == 1 and not as_list else sources
            manifest["missing"].pop(key, None)
            self._save(st, manifest)

    def missing(self, st: State, key: str, reason: str) -> None:
        """Record that `key` of `st` could not be fetched (a cached copy stays usable); save."""
        manifest = self.get(st)
        with self._locks[st.usps]:
            if key not in manifest["data"]:
                manifest["missing"][key] = reason
            self._save(st, manifest)

    def finish(self, st: State) -> dict[str, Any]:
        """Mark keys never fetched as missing, set ``complete`` and save; the manifest."""
        manifest = self.get(st)
        with self._locks[st.usps]:
            for key in FETCH_KEYS:
                if key not in manifest["data"] and key not in manifest["missing"]:
                    manifest["missing"][key] = "not fetched yet (not among the --sources asked for)"
            self._save(st, manifest)
        return manifest

    def _save(self, st: State, manifest: dict[str, Any]) -> None:
        save_manifest(manifest_path(st, cache_folder=self.root), manifest)


def source_entries(fetched: Iterable[Fetched], **extra: Any) -> list[dict[str, Any]]:
    """Manifest ``sources`` entries of downloads (SHA-256 computed when not yet known)."""
    return [_source_entry(f, **extra) for f in fetched]

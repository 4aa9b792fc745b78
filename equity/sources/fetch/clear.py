"""``equity cache clear --source X``: remove one source's downloads and state files.

The source's folder ``downloads/<source>/`` goes, and so do its files under each
``states/<USPS>/``; each manifest then lists the source's keys under ``missing`` ("cleared by
...") so the runner and the next fetch know. The next ``equity fetch`` downloads just those.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from equity import settings
from equity.errors import check_choice
from equity.sources.fetch.catalog import SOURCES, source_names
from equity.sources.fetch.lock import locked
from equity.sources.fetch.manifest import load_manifest, save_manifest

__all__ = ["Cleared", "clear_source"]


@dataclass(frozen=True)
class Cleared:
    """What :func:`clear_source` removed."""

    source: str
    files: int
    bytes: int
    states: int


def clear_source(source: str, *, cache_folder: str | os.PathLike[str] | None = None) -> Cleared:
    """Remove one source's downloads and state files; mark its keys missing in the manifests.

    Parameters
    ----------
    source
        A source name or alias (``acs``, ``boundaries``, ``ookla``, ``imls`` ...).
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.

    Returns
    -------
    Cleared
        Files and bytes removed, and the number of manifests changed.
    """
    names = source_names(source)
    if len(names) != 1:
        check_choice("source (one at a time)", source, list(SOURCES))
    name = names[0]
    root = Path(cache_folder if cache_folder is not None else settings.cache_folder).expanduser()
    files = size = changed = 0
    with locked(root):
        folder = root / "downloads" / name
        if folder.is_dir():
            for f in folder.rglob("*"):
                if f.is_file():
                    files, size = files + 1, size + f.stat().st_size
            shutil.rmtree(folder)
        for path in sorted(root.glob("states/*/manifest.json")):
            manifest = load_manifest(path)
            removed = _clear_keys(
                root,
                manifest,
                SOURCES[name],
                reason=f"cleared by `equity cache clear --source {name}`",
            )
            if removed is not None:
                files, size, changed = files + removed[0], size + removed[1], changed + 1
                save_manifest(path, manifest)
    return Cleared(name, files, size, changed)


def _clear_keys(
    root: Path, manifest: dict[str, Any], keys: tuple[str, ...], *, reason: str
) -> tuple[int, int] | None:
    files = size = 0
    touched = False
    for key in keys:
        rel = manifest["data"].pop(key, None)
        manifest["sources"].pop(key, None)
        if rel is None:
            continue
        touched = True
        manifest["missing"][key] = reason
        for r in rel if isinstance(rel, list) else [rel]:
            manifest["files"].pop(r, None)
            path = root / r
            if path.is_file() and (root / "states") in path.parents:
                files, size = files + 1, size + path.stat().st_size
                path.unlink()
    return (files, size) if touched else None

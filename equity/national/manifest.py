"""One state's inputs in the fetch cache: ``<cache>/states/<USPS>/manifest.json``.

``equity fetch --states ...`` writes, for each state, a manifest naming its files::

    {"format": 1, "state": "VA", "fips": "51", "year": 2022, "complete": true,
     "data": {"blockgroups": "states/VA/cb_2022_51_bg_500k.zip",
              "counties": "national/cb_2022_us_county_500k.zip", "schools": [...], ...},
     "missing": {"fcc": "no FCC token (EQUITY_FCC_TOKEN)"},
     "sources": {...}}

``data`` keys are those of ``[data]`` (:data:`equity.config.DATA_KEYS`); paths are relative
to the cache folder (absolute paths are kept). :func:`read_manifest` checks the manifest and
that its files exist, and returns :class:`StateInputs`. It is tolerant of what a newer fetch
may add: unknown top-level fields are ignored and unknown ``data`` keys are logged once (per
key and process) and left out, never an error.

Examples
--------
>>> import json, tempfile, pathlib
>>> cache = pathlib.Path(tempfile.mkdtemp())
>>> _ = (cache / "acs.csv").write_text("GEOID\\n"), (cache / "bg.zip").write_text("")
>>> (cache / "states" / "VA").mkdir(parents=True)
>>> doc = {"format": 1, "state": "VA", "fips": "51", "year": 2022, "complete": True,
...        "data": {"acs": "acs.csv", "blockgroups": "bg.zip"}, "missing": {}}
>>> _ = (cache / "states" / "VA" / "manifest.json").write_text(json.dumps(doc))
>>> inputs = read_manifest(cache, "va")
>>> inputs.usps, sorted(inputs.data)
('VA', ['acs', 'blockgroups'])
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from equity.config import DATA_KEYS, REQUIRED_DATA_KEYS
from equity.errors import DataError
from equity.sources._states import lookup_state

__all__ = ["MANIFEST_FORMAT", "StateInputs", "manifest_path", "read_manifest"]

log = logging.getLogger("equity.national")

#: Version of the manifest layout this module reads.
MANIFEST_FORMAT = 1

_logged_keys: set[str] = set()


@dataclass(frozen=True)
class StateInputs:
    """What the fetch cache holds for one state.

    Attributes
    ----------
    usps, fips, name
        The state.
    year
        ACS year of the fetch (None when not stated).
    complete
        The fetch found every input it looked for.
    data
        ``[data]`` key to absolute path (or list of paths), every file present.
    missing
        Inputs the fetch could not get, with its reason (``{"fcc": "no FCC token"}``).
    sources
        The manifest's ``sources`` record, as written.
    manifest
        Path of the manifest.
    """

    usps: str
    fips: str
    name: str
    year: int | None
    complete: bool
    data: dict[str, Any]
    missing: dict[str, str] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    manifest: Path | None = None

    def paths(self) -> list[Path]:
        """Every input file, in key order (lists flattened)."""
        out: list[Path] = []
        for key in sorted(self.data):
            value = self.data[key]
            out += [Path(v) for v in (value if isinstance(value, list) else [value])]
        return out


def manifest_path(cache_folder: str | os.PathLike[str], state: str) -> Path:
    """``<cache_folder>/states/<USPS>/manifest.json`` of `state` (USPS, FIPS or name)."""
    return Path(cache_folder) / "states" / lookup_state(state).usps / "manifest.json"


def _fetch_hint(usps: str) -> str:
    return f"run `equity fetch --states {usps}`"


def _load(path: Path, usps: str) -> dict[str, Any]:
    if not path.is_file():
        msg = f"{usps}: not in the fetch cache (no {path}); {_fetch_hint(usps)}"
        raise DataError(msg)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path}: not a readable manifest ({exc}); {_fetch_hint(usps)}"
        raise DataError(msg) from None
    if not isinstance(doc, dict):
        msg = f"{path}: a manifest is a JSON object, got {type(doc).__name__}"
        raise DataError(msg)
    return doc


def _check_header(doc: Mapping[str, Any], path: Path, usps: str, fips: str) -> None:
    fmt = doc.get("format")
    if fmt != MANIFEST_FORMAT:
        msg = (
            f"{path}: manifest format {fmt!r}; this version of equity reads format "
            f"{MANIFEST_FORMAT} ({_fetch_hint(usps)} to rewrite it)"
        )
        raise DataError(msg)
    state, code = doc.get("state"), doc.get("fips")
    if state is not None and str(state).upper() != usps:
        msg = (
            f"{path}: field 'state' is {state!r}, but the manifest is in the folder of "
            f"{usps}; {_fetch_hint(usps)}"
        )
        raise DataError(msg)
    if code is not None and str(code).zfill(2) != fips:
        msg = f"{path}: field 'fips' is {code!r}, but {usps} is FIPS {fips}; {_fetch_hint(usps)}"
        raise DataError(msg)


def _resolve(base: Path, value: Any, *, path: Path, key: str) -> str | list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v for v in items):
        msg = f"{path}: data.{key} must be a path or a list of paths, got {value!r}"
        raise DataError(msg)
    resolved = [str(p if (p := Path(v)).is_absolute() else base / p) for v in items]
    return resolved if isinstance(value, list) else resolved[0]


def _data(doc: Mapping[str, Any], base: Path, path: Path) -> dict[str, Any]:
    """The ``data`` table resolved against the cache folder, unknown keys logged and left out."""
    raw = doc.get("data", {})
    if not isinstance(raw, dict):
        msg = f"{path}: field 'data' must be an object of paths, got {type(raw).__name__}"
        raise DataError(msg)
    data = {}
    for key, value in raw.items():
        if key not in DATA_KEYS:
            if key not in _logged_keys:
                _logged_keys.add(key)
                log.warning(
                    "fetch manifests name input %r, which this version of equity does not "
                    "use; it is left out (%s)",
                    key,
                    path,
                )
            continue
        data[key] = _resolve(base, value, path=path, key=key)
    return data


def _check_files(
    data: Mapping[str, Any], missing: Mapping[str, str], path: Path, usps: str
) -> None:
    absent = [
        (key, p)
        for key, value in data.items()
        for p in (value if isinstance(value, list) else [value])
        if not Path(p).exists()
    ]
    if absent:
        key, p = absent[0]
        more = f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""
        msg = f"{usps}: the {key} file named in {path} is missing: {p}{more}; {_fetch_hint(usps)}"
        raise DataError(msg)
    lacking = [k for k in REQUIRED_DATA_KEYS if k not in data]
    if lacking:
        reasons = "; ".join(f"{k}: {missing.get(k, 'not fetched')}" for k in lacking)
        msg = f"{usps}: the fetch cache lacks {', '.join(lacking)} ({reasons}); {_fetch_hint(usps)}"
        raise DataError(msg)


def read_manifest(cache_folder: str | os.PathLike[str], state: str) -> StateInputs:
    """Read and check the fetch manifest of `state`.

    Parameters
    ----------
    cache_folder
        The fetch cache (:data:`equity.settings.cache_folder`).
    state
        USPS code, FIPS code or name.

    Returns
    -------
    StateInputs
        The state's input files (absolute paths), what is missing and why.

    Raises
    ------
    DataError
        No manifest, unreadable JSON, another format, a state or FIPS that does not match its
        folder, a listed file that does not exist, or no block groups or ACS table; each
        message names the file and says how to fetch the state again.
    """
    st = lookup_state(state)
    base = Path(cache_folder)
    path = manifest_path(base, st.usps)
    doc = _load(path, st.usps)
    _check_header(doc, path, st.usps, st.fips)
    data = _data(doc, base, path)
    raw_missing = doc.get("missing") or {}
    missing = (
        {str(k): str(v) for k, v in raw_missing.items()} if isinstance(raw_missing, dict) else {}
    )
    _check_files(data, missing, path, st.usps)
    year = doc.get("year")
    sources = doc.get("sources")
    return StateInputs(
        usps=st.usps,
        fips=st.fips,
        name=st.name,
        year=int(year) if isinstance(year, int | str) and str(year).isdigit() else None,
        complete=bool(doc.get("complete", not missing)),
        data=data,
        missing=missing,
        sources=sources if isinstance(sources, dict) else {},
        manifest=path,
    )

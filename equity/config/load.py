"""Reading a configuration: TOML files and keyword overrides to a :class:`Config`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from equity.config.model import Config, _join, _validate
from equity.config.options import _SECTIONS, OPTIONS, SNAPSHOT_DEFAULTS
from equity.config.validators import _choice
from equity.errors import ConfigError

if TYPE_CHECKING:
    pass


def _parse(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"configuration file not found: {path}"
        raise ConfigError(msg) from None
    except IsADirectoryError:
        msg = f"{path}: a folder, not a configuration file (give the TOML file in it)"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read the configuration file: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise ConfigError(msg) from None


def _relative_to(base: Path, value: Any) -> str:
    """`value` as a path, resolved against `base` unless absolute (after expanding ``~``)."""
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _data_paths(table: dict[str, Any], base: Path) -> dict[str, Any]:
    """The ``[data]`` table with relative paths resolved against `base` (no ``~`` expansion)."""
    data: dict[str, Any] = {}
    for key, value in table.items():
        items = value if isinstance(value, list) else [value]
        resolved = [
            str(v) if Path(str(v)).is_absolute() else str((base / str(v)).resolve()) for v in items
        ]
        data[key] = resolved if isinstance(value, list) else resolved[0]
    return data


def _is_selection(value: Any) -> bool:
    """``[data] states`` names states ("all", "VA,MD", [...]) rather than a boundary file."""
    if value is None:
        return False
    from equity.national.selection import looks_like_selection

    return looks_like_selection(value)


def _read_toml(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Config field values from a TOML file, and the unknown sections and keys found."""
    raw = _parse(path)
    values: dict[str, Any] = {}
    problems: list[str] = []
    sections = ["data", *_SECTIONS]
    for section, table in raw.items():
        found = _choice("section", section, sections, where=None)
        if found or not isinstance(table, dict):
            problems += found or [f"[{section}] must be a table"]
        elif section == "data":
            table = dict(table)
            if _is_selection(table.get("states")):
                values["run_states"] = table.pop("states")
            values["data"] = _data_paths(table, path.parent)
        else:
            for key, value in table.items():
                option = _SECTIONS[section].get(key)
                if option is None:
                    problems += _choice("key", key, _SECTIONS[section], where=f"[{section}]")
                elif option.path and isinstance(value, str):
                    values[option.attr] = _relative_to(path.parent, value)
                else:
                    values[option.attr] = value
    return values, problems


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Read and validate a TOML run configuration.

    Parameters
    ----------
    path
        TOML file; ``None`` gives the defaults (the bundled national county snapshot).
    **overrides
        Field values of :class:`Config` that replace the file's (e.g. from the CLI);
        ``sample=True`` runs the fictional sample region.

    Returns
    -------
    Config
        The validated configuration. Relative data paths are resolved against the TOML
        file's folder. Without ``[data]`` files and ``sample``, the options of
        :data:`SNAPSHOT_DEFAULTS` not set take the snapshot's defaults.

    Raises
    ------
    ConfigError
        Listing every problem found (unknown keys, bad values, missing files).

    Examples
    --------
    >>> load_config().uses_snapshot, load_config().placement_level
    (True, 'county')
    >>> load_config(sample=True).uses_sample, load_config(sample=True).placement_level
    (True, 'town')
    >>> load_config(k=2).k
    2
    """
    source = None if path is None else str(path)
    values, problems = ({}, []) if path is None else _read_toml(Path(path))
    values.update({k: v for k, v in overrides.items() if v is not None})
    if not values.get("data") and not values.get("sample") and not values.get("run_states"):
        values = {**SNAPSHOT_DEFAULTS, **values}
    for attr, value in values.items():
        option = OPTIONS.get(attr)
        if option is not None and option.coerce is not None:
            values[attr] = option.coerce(value)
    try:
        cfg = Config(source=source, **values)
    except TypeError as exc:
        raise ConfigError(_join(source, [*problems, str(exc)])) from None
    _validate(cfg, problems)
    return cfg

"""equity: a digital-equity analytics toolkit.

Load real public data (Census ACS, boundaries, Microsoft broadband usage, Ookla speed tiles,
FCC availability, business patterns, libraries), compute a digital-equity index at street,
block group, tract, town and county level, rank communities for fellow placement and write
self-contained HTML maps and ranked lists.

The stages of the data flow are modules named after their concept, imported on first use
(``equity.geographies``, ``equity.index``, ...)::

    sources -> geographies -> indicators -> index -> placement -> maps / export

Examples
--------
>>> import equity
>>> cfg = equity.load_config()        # the bundled national county snapshot
>>> cfg.placement_level, cfg.k
('county', 1)
>>> equity.load_config(sample=True).placement_level   # the fictional sample region
'town'
"""

from __future__ import annotations

import importlib
from typing import Any

from equity import errors, settings

__version__ = "0.1.0"

_MODULES = (
    "cache",
    "config",
    "export",
    "geographies",
    "hotspots",
    "index",
    "indicators",
    "maps",
    "pipeline",
    "placement",
    "sample",
    "snapshot",
    "sources",
)
_FUNCTIONS = {"run": ("pipeline", "run"), "load_config": ("config", "load_config")}

__all__ = ["__version__", "errors", "settings", *_MODULES, *_FUNCTIONS]


def __getattr__(name: str) -> Any:
    """Import stage modules lazily, so ``import equity`` stays fast."""
    if name in _MODULES:
        return importlib.import_module(f"equity.{name}")
    if name in _FUNCTIONS:
        module, attr = _FUNCTIONS[name]
        return getattr(importlib.import_module(f"equity.{module}"), attr)
    msg = f"module 'equity' has no attribute {name!r}"
    raise AttributeError(msg)

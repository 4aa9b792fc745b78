"""equity: a digital-equity analytics toolkit.

Load real public data (Census ACS, boundaries, Microsoft broadband usage, Ookla speed tiles,
FCC availability, business patterns, libraries), compute a digital-equity index at street,
block group, tract, town and county level, rank communities for fellow placement and write
self-contained HTML maps and ranked lists.

The stages of the data flow are modules named after their concept::

    sources -> geographies -> indicators -> index -> placement -> maps / export
"""

from __future__ import annotations

__version__ = "0.1.0"

from equity import errors, settings  # noqa: E402

__all__ = ["__version__", "errors", "settings"]

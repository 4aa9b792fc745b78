"""The bundled national county snapshot: what ``equity run`` runs on by default.

A small, real, offline copy of public national county data in the project's ``data/``
folder: Census 2018 county and state boundaries, ACS 2018-2022 counts with their margins of
error from the CDC/ATSDR SVI 2022 county file, Microsoft broadband usage (O-UDA), IMLS
library outlets and (optionally) ACS 2014-2018 median household income. ``data/README.md``
gives every file's source, vintage and licence.

``build``
    :func:`build_snapshot`, ``equity snapshot build``: the snapshot from the public files,
    deterministic (the same inputs give the same bytes).
``read``
    :func:`read_snapshot` (counties with their counts as a GeoDataFrame, states, usage,
    libraries, provenance, notes) and :func:`snapshot_dataset` (the pipeline's Dataset).
``counts``
    SVI 2022 fitted to the 2018 counties: Alaska's 2019 split undone, Connecticut from SVI
    2018.
``inputs``
    The public files, with their SHA-256, publisher, repository, commit, vintage, licence.
``readme``
    ``data/README.md`` and the caveats every run's METHODS.md repeats.

Examples
--------
>>> from equity.snapshot import read_snapshot
>>> counties = read_snapshot().counties
>>> bool(counties["households"].gt(0).all())
True
"""

from __future__ import annotations

from equity.snapshot.build import build_snapshot
from equity.snapshot.counts import county_counts
from equity.snapshot.inputs import INPUTS
from equity.snapshot.read import Snapshot, read_snapshot, snapshot_dataset

__all__ = [
    "INPUTS",
    "Snapshot",
    "build_snapshot",
    "county_counts",
    "read_snapshot",
    "snapshot_dataset",
]

"""`equity run`: the stages of the data flow called in order from a configuration.

::

    sources -> geographies -> indicators -> index -> placement -> maps / export

:func:`load_dataset` reads every input through the real readers (the bundled sample goes
through the same ones), :func:`build_levels` moves block-group counts to every level and
computes indicators, index and hot spots, :func:`run` adds placement and writes the outputs
atomically (a failed run leaves the output folder as it was).

Modules, in the order a run calls them:

``dataset``
    :class:`Dataset` and :func:`load_dataset` (readers through the table cache, provenance).
``levels``
    :func:`build_levels`: counts up the GEOID hierarchy, street grid, towns, then each level's
    indicators, index and hot spots; :func:`check_conservation`.
``context``
    What a place takes from around it: county usage and business rates, distances to anchors.
``runner``
    :func:`run`: placement and the outputs (tables, candidates, METHODS.md, maps).
``progress``
    The progress lines on stderr.
"""

from __future__ import annotations

# SAMPLE_KEYS, MEDIANS, HIERARCHY, Progress and _count_columns stay importable from here, as
# before the split (tests and benchmarks use them)
from equity.pipeline.dataset import SAMPLE_KEYS as SAMPLE_KEYS
from equity.pipeline.dataset import Dataset, load_dataset
from equity.pipeline.levels import HIERARCHY as HIERARCHY
from equity.pipeline.levels import MEDIANS as MEDIANS
from equity.pipeline.levels import _count_columns as _count_columns
from equity.pipeline.levels import build_levels, check_conservation
from equity.pipeline.progress import Progress as Progress
from equity.pipeline.runner import RunResult, run

__all__ = ["Dataset", "RunResult", "build_levels", "check_conservation", "load_dataset", "run"]

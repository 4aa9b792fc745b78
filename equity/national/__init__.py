"""State-by-state runs from the fetch cache, and the national outputs (``equity run --states``).

:func:`run_states` runs every selected state from the fetch cache, one at a time (or as tasks
on a Dask cluster), each into ``<out>/<USPS>/`` (its maps, candidates, index tables and
METHODS.md), then writes the national outputs: the selected sites of every state
(``candidates.csv``/``.xlsx``/``.geojson``), the status of every state (``states.csv``), the
county index of the nation with the selected sites (``maps/national.html``) and a national
METHODS.md. A state that fails is reported and the others finish; a rerun resumes, skipping
the states whose outputs are complete and whose inputs did not change.

Modules, in the order a run calls them:

``selection``
    which states: ``"all"``, ``"VA,MD"``, FIPS codes (:func:`parse_states`).
``manifest``
    one state's inputs in the fetch cache (:func:`read_manifest`).
``state``
    one state's task (:func:`run_state`): resume check, the run, the atomic swap.
``engines``
    where the tasks run: one at a time in fresh processes, or on Dask.
``outputs``
    the national files (:func:`write_national`).
``runner``
    :func:`run_states`, what ``equity run --states`` calls.
``synthetic``
    a fetch cache of generated states in the publishers' layouts (tests, benchmarks).
"""

from __future__ import annotations

from equity.national.manifest import StateInputs, read_manifest
from equity.national.outputs import write_national
from equity.national.runner import NationalResult, run_states
from equity.national.selection import ALL_STATES, parse_states
from equity.national.state import RunOptions, StateResult, run_state

__all__ = [
    "ALL_STATES",
    "NationalResult",
    "RunOptions",
    "StateInputs",
    "StateResult",
    "parse_states",
    "read_manifest",
    "run_state",
    "run_states",
    "write_national",
]

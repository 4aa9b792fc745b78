"""The national outputs of a state-by-state run, from the states' small results.

Written into the national output folder, replacing the previous national files atomically:

``candidates.csv``, ``candidates.xlsx``, ``candidates.geojson``
    The selected site(s) of every state that finished (its rows of ``<USPS>/candidates.csv``);
    the workbook has an ``All`` sheet, one sheet per state and a ``National summary`` sheet
    (the status of every state).
``states.csv``
    The status of every state: done, resumed or failed (with the reason), what it selected,
    its time and peak memory, and the inputs the fetch could not get.
``index_county.parquet``
    The county table of every finished state, its index recomputed over all of them (the
    states' runs normalise within their state; the national map compares across states).
``maps/national.html``
    That county index with every state's selected sites (the project's offline map writer).
``METHODS.md``
    Sources, parameters, the national index's weights and the status of every state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from equity import export, hotspots, index, maps
from equity._io import atomic_dir
from equity.config import Config
from equity.errors import EquityError
from equity.national.state import StateResult

__all__ = ["status_table", "write_national"]

log = logging.getLogger("equity.national")

_PROVENANCE_KEYS = ("source", "title", "publisher", "vintage", "licence", "attribution")


def status_table(results: Sequence[StateResult]) -> pd.DataFrame:
    """One row per state: its status, what it selected, its time and peak memory."""
    rows = []
    for r in results:
        sites = r.selected["NAME"].astype(str).tolist() if r.selected is not None else []
        rows.append(
            {
                "state": r.usps,
                "state_GEOID": r.fips,
                "state_name": r.name,
                "status": r.status,
                "n_selected": len(sites),
                "selected": "; ".join(sites),
                "seconds": round(r.seconds, 1),
                "cpu_seconds": round(r.cpu_seconds, 1),
                "peak_mb": None if r.peak_mb is None else round(r.peak_mb),
                "message": r.message,
                "missing_inputs": "; ".join(f"{k}: {v}" for k, v in sorted(r.missing.items())),
            }
        )
    return pd.DataFrame(rows)


def _concat(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame | None:
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return None
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry=frames[0].geometry.name, crs=frames[0].crs)


def national_counties(results: Sequence[StateResult], cfg: Config) -> gpd.GeoDataFrame | None:
    """Every finished state's counties, the index and hot spots computed over all of them."""
    table = _concat([r.counties for r in results if r.ok and r.counties is not None])
    if table is None:
        return None
    indexed = index.compute_index(table, options=cfg.index_options())
    meta = dict(indexed.attrs.get("index", {}))
    if len(indexed) >= 8:
        gdf = gpd.GeoDataFrame(indexed, geometry="geometry", crs=table.crs)
        indexed = indexed.merge(hotspots.local_hotspots(gdf, seed=cfg.seed), on="GEOID", how="left")
    out = gpd.GeoDataFrame(indexed, geometry="geometry", crs=table.crs)
    out.attrs["index"] = meta
    return out


def _provenance(results: Sequence[StateResult]) -> list[dict[str, Any]]:
    """The states' sources, one record per source and vintage (paths of several states joined)."""
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    paths: dict[tuple[str, ...], list[str]] = {}
    for r in results:
        for p in r.provenance:
            key = tuple(str(p.get(k, "")) for k in _PROVENANCE_KEYS)
            merged.setdefault(key, dict(p))
            path = str(p.get("path", ""))
            if path and path not in paths.setdefault(key, []):
                paths[key].append(path)
    for key, record in merged.items():
        found = paths.get(key, [])
        if len(found) > 1:
            record["path"] = f"{found[0]} and {len(found) - 1} more (one per state)"
    return list(merged.values())


def _md_cell(value: Any) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _states_markdown(status: pd.DataFrame) -> str:
    """The status of every state as a Markdown table, failures first."""
    counts = status["status"].value_counts()
    head = ", ".join(f"{counts[s]} {s}" for s in ("done", "resumed", "failed") if s in counts)
    order = status.assign(_f=status["status"] != "failed").sort_values(["_f", "state_GEOID"])
    lines = [
        f"{len(status)} states: {head}.",
        "",
        "| state | status | selected | seconds | peak MB | message | inputs missing |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in order.itertuples(index=False):
        cells = [
            f"{row.state_name} ({row.state})",
            row.status,
            row.selected,
            row.seconds,
            row.peak_mb,
            row.message if row.status == "failed" else "",
            row.missing_inputs,
        ]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _notes(cfg: Config, results: Sequence[StateResult]) -> list[str]:
    notes = [
        "Each state was run on its own (outputs in <USPS>/): its indicators are normalised "
        "over its own places, so its ranking equals that of a national run with "
        "reference = 'state', and its sites are chosen within it.",
        f"The national county index (index_county.parquet, maps/national.html) is recomputed "
        f"over the counties of every finished state with reference = {cfg.reference!r}.",
    ]
    failed = [r for r in results if r.status == "failed"]
    if failed:
        notes.append(
            f"{len(failed)} state(s) failed and have no site in candidates.csv: "
            + ", ".join(r.usps for r in failed)
        )
    return notes


def write_national(
    results: Sequence[StateResult],
    out: str | Path,
    *,
    cfg: Config,
    command: str,
    write_maps: bool = True,
) -> list[Path]:
    """Write the national outputs of a state-by-state run (see the module docstring).

    Parameters
    ----------
    results
        Every state's result, in the order to report them.
    out
        National output folder (beside the states' ``<USPS>/`` folders).
    cfg
        The national run's configuration.
    command
        The command that reproduces the run (for METHODS.md).
    write_maps
        Write ``maps/national.html``.

    Returns
    -------
    list of Path
        Files written.
    """
    out = Path(out)
    status = status_table(results)
    selected = _concat([r.selected for r in results if r.ok and r.selected is not None])
    notes = _notes(cfg, results)
    try:
        counties = national_counties(results, cfg)
    except EquityError as exc:  # the states' outputs stand; say why the national map is absent
        counties = None
        notes.append(f"No national county index or map: {' '.join(str(exc).split())}")
        log.warning("national county index not computed: %s", exc)
    provenance = _provenance(results)
    meta = counties.attrs.get("index", {}) if counties is not None else {}
    written: list[Path] = []
    with atomic_dir(out) as tmp:
        status.to_csv(tmp / "states.csv", index=False, lineterminator="\n")
        written.append(out / "states.csv")
        if selected is not None:
            files = export.write_candidates(
                selected,
                tmp,
                formats=("csv", "xlsx", "geojson"),
                extra_sheets={"National summary": status},
            )
            written += [out / f.name for f in files]
        if counties is not None:
            counties.to_parquet(tmp / "index_county.parquet", index=False)
            written.append(out / "index_county.parquet")
            if write_maps:
                files = maps.write_level_map(
                    "county",
                    counties,
                    selected,
                    tmp / "maps" / "national.html",
                    provenance=provenance,
                    title=f"{cfg.title}: the selected sites of every state",
                )
                written += [out / "maps" / f.name for f in files]
        params = {k: v for k, v in cfg.as_dict().items() if k != "source"}
        params["national_county_index"] = {
            k: meta[k] for k in ("preset", "normalisation", "reference", "n_draws") if k in meta
        }
        export.write_methods(
            tmp,
            provenance=provenance,
            parameters=params,
            command=command,
            weights=meta.get("pillar_weights"),
            notes=notes,
            sections=[("States", _states_markdown(status))],
        )
        written.append(out / "METHODS.md")
    _remove_stale(out, written)
    log.info("national outputs: %d files in %s", len(written), out)
    return written


#: National files; those a run does not produce (no state finished, no maps) are removed, so
#: that no file of an earlier run is taken for this one's.
_NATIONAL_FILES = (
    "candidates.csv",
    "candidates.xlsx",
    "candidates.geojson",
    "index_county.parquet",
    "maps/national.html",
)


def _remove_stale(out: Path, written: list[Path]) -> None:
    for name in _NATIONAL_FILES:
        path = out / name
        if path not in written and path.is_file():
            path.unlink()

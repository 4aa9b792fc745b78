"""Benchmark of candidates.xlsx: the workbook for people against the plain openpyxl workbook.

Target (issue #18): the workbook made for people (Read me, Summary, one formatted sheet per
state) must not make the default run slower than the workbook it replaced. The reference is
that former workbook, the straightforward openpyxl one: every column of ``candidates.csv`` in
an ``All`` sheet and again in one sheet per state, header styled, first row frozen, filter,
codes as text (openpyxl's default mode). Both write the national default run's 3,001
candidates in this process, which holds the run's tables as a run does (the garbage
collector's cost grows with them), alternating, ``--repeat`` times each.

Run: ``python benchmarks/bench_workbook.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from equity import export, pipeline, placement
from equity.config import load_config


def reference_workbook(table: pd.DataFrame, path: Path) -> None:
    """The former candidates.xlsx: every column, ``All`` and one sheet per state."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    def sheet(ws, part: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
        ws.append(list(part.columns))
        for cell in ws[1]:
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = PatternFill("solid", start_color="1F4E79", end_color="1F4E79")
            cell.alignment = Alignment(vertical="center")
        for row in part.itertuples(index=False, name=None):
            ws.append([export._cell(v) for v in row])
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(part.columns))}{len(part) + 1}"
        for j, col in enumerate(part.columns, start=1):
            if export._TEXT_COLUMNS_RE.search(col):
                for (c,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                    c.number_format = "@"

    wb = Workbook()
    ws = wb.active
    ws.title = "All"
    sheet(ws, table)
    for code in sorted(table["state_GEOID"].unique()):
        part = table[table["state_GEOID"] == code]
        sheet(wb.create_sheet(str(part["state_name"].iloc[0])[:31]), part)
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(export._reproducible_xlsx(buffer.getvalue()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    cfg = load_config()
    ds = pipeline.load_dataset(cfg)
    levels, extras = pipeline.build_levels(ds, cfg)
    cands = placement.rank_candidates(
        levels["county"], options=cfg.placement_options(), anchors=ds.anchors
    )
    table = export._attribute_table(export._ordered(cands))
    info = export.RunInfo(
        cfg.title, "equity run", ds.provenance, [], extras["index_meta"]["county"]
    )
    times: dict[str, list[float]] = {"workbook for people": [], "reference: former workbook": []}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="equity-bench-xlsx-") as tmp:
        for i in range(opts.repeat):
            for label in times:
                path = Path(tmp) / f"{i}-{len(label)}.xlsx"
                t0 = time.perf_counter()
                if label.startswith("reference"):
                    reference_workbook(table, path)
                else:
                    export._write_xlsx(table, path, info=info)
                times[label].append(time.perf_counter() - t0)
                sizes[label] = path.stat().st_size
    cells = len(table) * len(table.columns) * 2
    print(
        f"{len(table):,} candidates; reference: {cells:,} cells in {table['state_GEOID'].nunique() + 1} sheets"
    )
    print(f"{'workbook':28s} {'median s':>9s} {'runs':>24s} {'MB':>6s}")
    for label, ts in times.items():
        runs = ", ".join(f"{t:.2f}" for t in ts)
        print(f"{label:28s} {statistics.median(ts):9.2f} {runs:>24s} {sizes[label] / 1e6:6.2f}")
    ratio = statistics.median(times["reference: former workbook"]) / statistics.median(
        times["workbook for people"]
    )
    print(
        f"ratio (reference / ours): {ratio:.1f}x  target >= 1: {'met' if ratio >= 1 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()

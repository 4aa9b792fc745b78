"""The ranked candidates as an accessible, sortable HTML table (``candidates.html``).

The page is ``templates/candidates.html.j2`` with ``assets/table.css`` and
``assets/table.js`` inlined: no external asset, every value escaped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from equity._io import atomic_write_text
from equity.errors import SchemaError
from equity.maps._resources import asset_text, page_template
from equity.maps.formatting import _format_interval, _format_series

__all__ = ["write_candidates_table"]

# (column, heading, kind) in the order of the table.
_TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rank", "Rank", "count"),
    ("NAME", "Name", "text"),
    ("selected", "Selected", "flag"),
    ("county_name", "County", "text"),
    ("state_name", "State", "text"),
    ("intervention", "Focus area", "text"),
    ("equity_index", "Need: equity index [90% interval]", "score"),
    ("reliability", "Reliability", "text"),
    ("combined_score", "Combined score", "score"),
    ("p_top1", "Chance of ranking first", "chance"),
    ("close_call", "Close call", "flag"),
    ("runner_up_place", "Runner-up", "text"),
    ("rank_best", "Best rank, other weightings", "count"),
    ("rank_worst", "Worst rank, other weightings", "count"),
    ("readiness_score", "Readiness", "score"),
    ("reach_score", "Reach", "score"),
    ("households", "Households", "count"),
    ("partner_summary", "Suggested partner", "text"),
    ("why", "Why", "text"),
)


@dataclass(frozen=True)
class _Column:
    """A column of the page: its heading and how its cells are marked up."""

    name: str
    label: str
    kind: str

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "flag")

    @property
    def sorted(self) -> bool:
        """The rows come sorted by this column."""
        return self.name == "rank"

    @property
    def row_header(self) -> bool:
        return self.name == "NAME"

    @property
    def tag(self) -> str:
        return "th" if self.row_header else "td"


def _cells(frame: pd.DataFrame, col: _Column) -> tuple[pd.Series, pd.Series]:
    """Sort key and shown text of every cell of `col` (empty strings where missing)."""
    if col.kind == "flag":  # yes or nothing; "no" only where the question was asked
        flag = frame[col.name].astype("boolean")
        asked = (
            frame["selected"].astype("boolean").fillna(False) if col.name != "selected" else None
        )
        shown = flag.map({True: "yes", False: "no"}).astype(object).fillna("")
        if asked is not None:
            shown = shown.where(asked.to_numpy(dtype=bool), "")
        return shown, shown
    if col.kind == "chance":
        num = pd.to_numeric(frame[col.name], errors="coerce")
        shown = (num * 100).round(0).map("{:.0f}%".format).where(num.notna(), "")
        return num.astype(str).where(num.notna(), ""), shown
    if not col.numeric:
        shown = _format_series(frame[col.name], "text").fillna("")
        return shown, shown
    num = pd.to_numeric(frame[col.name], errors="coerce")
    if col.name == "equity_index" and {"equity_index_lo", "equity_index_hi"} <= set(frame.columns):
        interval = _format_interval(
            num, frame["equity_index_lo"], frame["equity_index_hi"], "score"
        )
        shown = pd.Series(interval, index=frame.index, dtype=object).fillna("")
    else:
        shown = _format_series(num, col.kind).fillna("")
    return num.astype(str).where(num.notna(), ""), shown


def write_candidates_table(
    candidates: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str,
    data_date: str | None = None,
    warnings: Sequence[str] = (),
) -> Path:
    """An accessible, sortable HTML table of the ranked candidates (no external assets).

    A ``<table>`` with a ``<caption>``, column headers (``<th scope="col">``) whose buttons
    sort the rows and update ``aria-sort``; a live region announces the new order. Every
    value is escaped.

    Parameters
    ----------
    candidates
        Candidates table (docs/contracts.md); columns it lacks are left out.
    path
        Destination ``.html``.
    title, data_date
        Caption text.
    warnings
        The run's warnings (:mod:`equity.runwarnings`), listed above the table.

    Returns
    -------
    Path
        `path`.
    """
    cols = [_Column(c, label, kind) for c, label, kind in _TABLE_COLUMNS if c in candidates.columns]
    if not cols:
        msg = "candidates table has none of the columns " + ", ".join(
            c for c, _, _ in _TABLE_COLUMNS
        )
        raise SchemaError(msg)
    frame = pd.DataFrame(candidates.drop(columns="geometry", errors="ignore"))
    if "rank" in frame.columns:
        frame = frame.sort_values("rank", kind="stable")
    cells = [_cells(frame, col) for col in cols]
    keys = [k.astype(str).tolist() for k, _ in cells]
    texts = [t.astype(str).tolist() for _, t in cells]
    chosen = (
        frame["selected"].astype("boolean").fillna(False).to_numpy(dtype=bool).tolist()
        if "selected" in frame.columns
        else [False] * len(frame)
    )
    rows = [
        (chosen[i], [(col, keys[j][i], texts[j][i]) for j, col in enumerate(cols)])
        for i in range(len(frame))
    ]
    page = page_template("candidates.html.j2").render(
        title=title,
        data_date=data_date,
        warnings=[str(w) for w in warnings],
        columns=cols,
        rows=rows,
        # The project's own style sheet and script, inserted as they are.
        css=Markup(asset_text("table.css")),
        js=Markup(asset_text("table.js")),
    )
    return atomic_write_text(path, page)

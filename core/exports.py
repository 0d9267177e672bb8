"""Cells of the spreadsheets we write (rosters, import reports): text stays text.

A spreadsheet program runs a CSV cell that starts with = + - @ as a formula, and so after a leading
tab or carriage return (OWASP, CSV injection). Every CSV cell that starts with one of them gets a
leading apostrophe, which spreadsheets read as "this is text". XLSX has a real text type: its cells
are written as strings (data type `s`), so they show exactly what was stored, with no apostrophe.
"""

from __future__ import annotations

import csv
from typing import IO, Any, Iterable

from openpyxl.cell import WriteOnlyCell

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell no spreadsheet reads as a formula (numbers and dates pass as they are)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class CsvWriter:
    """csv.writer whose every row is neutralised by `csv_cell`: the one way we write CSV."""

    def __init__(self, stream: IO[str]):
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(value) for value in row])


def xlsx_row(sheet, values: Iterable[Any]) -> list:
    """A row for a write-only sheet (openpyxl's Workbook(write_only=True)) in which every str is a text cell (openpyxl makes '=…' a formula)."""
    row = []
    for value in values:
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value)
            cell.data_type = "s"
            row.append(cell)
        else:
            row.append(value)
    return row

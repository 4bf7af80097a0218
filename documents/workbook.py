"""`review.xlsx`: the workbook district attorney staff review the decisions in.

A summary sheet comes first, then one sheet per determination with one row per
conviction. Every sheet has a frozen header row, filters and fitted column widths;
dates are Excel dates. Cells from the research file are always written as text, so
a value such as `=HYPERLINK(...)` can never become a formula, and are clipped by
`documents.clipping`, which keeps every cell under Excel's 32,767 characters.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Callable, NamedTuple

import pandas as pd
import xlsxwriter

from engine.rules import (
    DISMISSAL, HAND_REVIEW, MAYBE_ELIGIBLE, NO_DETERMINATION, NOT_ELIGIBLE, REDUCTION,
)
from documents.clipping import clip_field
from documents.figures import DETERMINATIONS, CountyFigures, comparison_rows
from documents.files import WrittenFile, write_private
from documents.source import TRAIL_COLUMN, CountyRun

FILE_NAME = "review.xlsx"
SUMMARY_SHEET = "Summary"
#: Sheet names per determination; the blank determination is "No relief". Excel
#: limits sheet names to 31 characters.
SHEET_NAMES = {DISMISSAL: DISMISSAL, REDUCTION: REDUCTION, HAND_REVIEW: HAND_REVIEW,
               MAYBE_ELIGIBLE: "Maybe Eligible - Flagged", NOT_ELIGIBLE: NOT_ELIGIBLE,
               NO_DETERMINATION: "No relief"}
#: Excel's row limit is 1,048,576; a longer sheet continues on a sheet named `... (2)`.
MAX_DATA_ROWS = 1_048_575
MIN_WIDTH, MAX_WIDTH = 8, 60
DATE_FORMAT = "yyyy-mm-dd"


class Column(NamedTuple):
    """A workbook column: its header, the decisions column it shows, and its kind."""

    header: str
    source: str
    kind: str
    """`text`, `date`, `number` or `flag` (written as Yes or No)."""


COLUMNS: tuple[Column, ...] = (
    Column("Person (SUBJECT_ID)", "subject", "text"),
    Column("Name", "name", "text"),
    Column("Date of birth", "birth_date", "date"),
    Column("CII number", "cii_number", "text"),
    Column("Court case numbers", "case_numbers", "text"),
    Column("Count (CNT_ORDER)", "cnt_order", "text"),
    Column("Code section", "code_section", "text"),
    Column("Prop 64 section", "section", "text"),
    Column("Level", "level", "text"),
    Column("Disposition date", "disposition_date", "date"),
    Column("Determination", "determination", "text"),
    Column("Reason", "reason", "text"),
    Column("Check", "check", "number"),
    Column("Trail", TRAIL_COLUMN, "text"),
    Column("Convictions on record", "conviction_count", "number"),
    Column("Prop 64 convictions", "prop64_count", "number"),
    Column("Deceased", "deceased", "flag"),
    Column("PC 290 registration", "pc290_registration", "flag"),
)
FELONY = "Felony"
NOT_FELONY = "Misdemeanor or infraction"


def columns_for(county: CountyRun) -> list[Column]:
    """Return the workbook's columns; Trail only when the decisions carry it."""
    return [c for c in COLUMNS if c.source != TRAIL_COLUMN or county.has_trail]


def write_workbook(county: CountyRun, figures: CountyFigures, folder: Path) -> WrittenFile:
    """Write `review.xlsx` of one county into its folder."""
    buffer = io.BytesIO()
    # Sheets are streamed through temporary files, kept in the county's private folder.
    options = {"constant_memory": True, "tmpdir": str(folder), "strings_to_formulas": False,
               "strings_to_urls": False, "strings_to_numbers": False}
    with xlsxwriter.Workbook(buffer, options) as workbook:
        formats = {
            "header": workbook.add_format({"bold": True, "bg_color": "#DDE4EE", "border": 1}),
            "date": workbook.add_format({"num_format": DATE_FORMAT}),
            "title": workbook.add_format({"bold": True, "font_size": 14}),
            "heading": workbook.add_format({"bold": True, "bg_color": "#DDE4EE", "border": 1}),
        }
        _write_summary(workbook.add_worksheet(SUMMARY_SHEET), figures, formats)
        frame = _display_frame(county.decisions)
        columns = columns_for(county)
        for determination, _ in DETERMINATIONS:
            rows = frame[frame["determination"] == determination]
            _write_rows(workbook, SHEET_NAMES[determination], rows, columns, formats)
    return write_private(folder / FILE_NAME, buffer.getvalue())


def _display_frame(decisions: pd.DataFrame) -> pd.DataFrame:
    frame = decisions.copy()
    frame["level"] = frame["felony"].map({True: FELONY, False: NOT_FELONY})
    return frame


def summary_rows(figures: CountyFigures) -> list[tuple[str, tuple]]:
    """Return the summary sheet's rows as `(style, cells)`; style is title, heading or plain."""
    labels = tuple(label for _, label in DETERMINATIONS)
    rows: list[tuple[str, tuple]] = [
        ("title", (f"Prop 64 relief in {clip_field(figures.county, 'county_name')} county",)),
        ("plain", ("Eligibility judged on", figures.compute_at.isoformat())),
        ("plain", ()),
        ("heading", ("Figure", "County policy", "Dismiss all Prop 64")),
    ]
    rows += [("plain", row) for row in comparison_rows(figures)]
    rows += [
        ("plain", ()),
        ("heading", ("Convictions by Prop 64 section",) + labels),
    ]
    rows += [("plain", (f"HS {section}", *counts.values()))
             for section, counts in figures.by_section.items()]
    rows += [("plain", ()), ("heading", ("Convictions by decade of disposition",) + labels)]
    rows += [("plain", (decade, *counts.values())) for decade, counts in figures.by_decade.items()]
    return rows


def _write_summary(sheet, figures: CountyFigures, formats: dict) -> None:
    for number, (style, cells) in enumerate(summary_rows(figures)):
        for column, value in enumerate(cells):
            if isinstance(value, str):
                sheet.write_string(number, column, value, formats.get(style))
            else:
                sheet.write_number(number, column, value)
    sheet.set_column(0, 0, 52)
    sheet.set_column(1, len(DETERMINATIONS), 22)


def _writer(column: Column, formats: dict) -> Callable:
    def text(sheet, row, index, value):
        if isinstance(value, str) and value:
            sheet.write_string(row, index, clip_field(value, column.source))

    def date(sheet, row, index, value):
        if not pd.isna(value):
            sheet.write_datetime(row, index, value.to_pydatetime(), formats["date"])

    def number(sheet, row, index, value):
        sheet.write_number(row, index, int(value))

    def flag(sheet, row, index, value):
        sheet.write_string(row, index, "Yes" if value else "No")

    return {"text": text, "date": date, "number": number, "flag": flag}[column.kind]


def _width(rows: pd.DataFrame, column: Column) -> float:
    if column.kind == "date":
        longest = len("yyyy-mm-dd")
    elif column.kind == "flag":
        longest = 3
    elif column.kind == "number":
        longest = int(rows[column.source].astype(str).str.len().max()) if len(rows) else 1
    else:
        lengths = rows[column.source].fillna("").astype(str).str.len()
        longest = int(lengths.max()) if len(rows) else 0
    return float(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2, len(column.header) + 3)))


def _write_rows(workbook, name: str, rows: pd.DataFrame, columns: list[Column],
                formats: dict) -> None:
    writers = [_writer(c, formats) for c in columns]
    sheets = max(1, math.ceil(len(rows) / MAX_DATA_ROWS))
    for part in range(sheets):
        chunk = rows.iloc[part * MAX_DATA_ROWS:(part + 1) * MAX_DATA_ROWS]
        sheet = workbook.add_worksheet(name if part == 0 else f"{name} ({part + 1})")
        for index, column in enumerate(columns):
            sheet.set_column(index, index, _width(chunk, column))
        for index, column in enumerate(columns):
            sheet.write_string(0, index, column.header, formats["header"])
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(len(chunk), 1), len(columns) - 1)
        values = [chunk[c.source].tolist() for c in columns]
        for offset in range(len(chunk)):
            for index, write in enumerate(writers):
                write(sheet, offset + 1, index, values[index][offset])

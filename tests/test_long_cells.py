"""Documents of a run whose input has cells of 5,000,000 characters: each document
shows a clipped value with a mark, and every other row is as in a run without them."""

from __future__ import annotations

import csv
import datetime
import re
from pathlib import Path
from typing import NamedTuple

import openpyxl
import pandas as pd
import pypdf
import pytest

from cluster.run import run_job
from cluster.settings import RunConfig
from documents.build import write_documents
from documents.clipping import DEFAULT_MAX_CHARS, MAX_CHARS, clip_field, clip_text
from documents.filing import case_groups, write_person_filings
from documents.filing_template import load_template
from documents.source import read_county, read_run
from documents.workbook import COLUMNS
from engine.generate import write_research_file
from engine.naming import county_folder

COMPUTE_AT = datetime.date(2024, 7, 1)
CELL_LENGTH = 5_000_000
EXCEL_MAX_CELL_TEXT = 32_767
PROP64_SECTIONS = ("11357", "11358", "11359", "11360")


def _long_text(word: str, length: int) -> str:
    """Return words separated by spaces, exactly `length` characters, ending in a letter."""
    text = (word + " ") * (length // (len(word) + 1) + 1)
    return text[:length - 1] + "Z"


LONG_NAME = _long_text("LONGNAME", CELL_LENGTH)
LONG_COUNTY = _long_text("LONG COUNTY", CELL_LENGTH)
LONG_CASE_NUMBER = "CASE" * (CELL_LENGTH // 4)


def _mark(length: int) -> str:
    return f" … [cut from {length:,} characters; full text in decisions/]"


class Runs(NamedTuple):
    """Two runs of one input, the second with four long cells, and the persons who have them."""

    clean: Path
    long: Path
    code_section_subject: str
    name_subject: str
    case_number_subject: str
    county_subject: str

    @property
    def clipped_columns(self) -> dict[str, str]:
        """The workbook column clipped in each person's rows, by SUBJECT_ID."""
        return {self.code_section_subject: "Code section", self.name_subject: "Name",
                self.case_number_subject: "Court case numbers"}

    @property
    def long_subjects(self) -> set[str]:
        return {self.code_section_subject, self.name_subject, self.case_number_subject,
                self.county_subject}


def _read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="latin-1") as handle:
        return list(csv.reader(handle))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="latin-1") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _put_long_cells(rows: list[list[str]]) -> dict[str, str]:
    """Give four persons' convicted Prop 64 rows a long cell each, and return each
    person's SUBJECT_ID by the field that was made long.

    The code section keeps its section number in front of the long text, so the row
    stays a Prop 64 conviction. The name goes into the person's first row, which is
    where the decisions take PRI_NAME from.
    """
    index = {name: number for number, name in enumerate(rows[0])}
    changed: dict[str, str] = {}
    for row in rows[1:]:
        subject = row[index["SUBJECT_ID"]]
        offense = row[index["OFFENSE_DESCR"]]
        if ("CONVICTED" not in row[index["DISP_DESCR"]] or not offense.startswith(PROP64_SECTIONS)
                or not row[index["OFN"]] or subject in changed.values()):
            continue
        if "code_section" not in changed:
            section = offense.split("-")[0] + " "
            row[index["OFFENSE_DESCR"]] = section + _long_text("CANNABIS", CELL_LENGTH - len(section))
            changed["code_section"] = subject
        elif "name" not in changed:
            first = next(r for r in rows[1:] if r[index["SUBJECT_ID"]] == subject)
            first[index["PRI_NAME"]] = LONG_NAME
            changed["name"] = subject
        elif "case_number" not in changed:
            row[index["OFN"]] = LONG_CASE_NUMBER
            changed["case_number"] = subject
        elif "county" not in changed:
            row[index["STP_ORI_CNTY_NAME"]] = LONG_COUNTY
            changed["county"] = subject
            return changed
    raise AssertionError("the generated file has fewer than four persons with a Prop 64 "
                         "conviction that has a case number")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, scheduler_address) -> Runs:
    """Run one generated YOLO file as it is and with four long cells, with documents."""
    base = tmp_path_factory.mktemp("long-cells")
    generated = base / "generated.csv"
    write_research_file(generated, rows=3_000, counties=["YOLO"], seed=11)
    rows = _read_rows(generated)
    # Both inputs go through the csv module, so they differ only in the long cells.
    _write_rows(base / "clean.csv", rows)
    changed = _put_long_cells(rows)
    _write_rows(base / "long.csv", rows)

    for name in ("clean", "long"):
        run_job(RunConfig(inputs=[str(base / f"{name}.csv")], out=str(base / name),
                          compute_at=COMPUTE_AT, scheduler=scheduler_address, progress=False))
        write_documents(base / name)
    return Runs(base / "clean", base / "long", changed["code_section"], changed["name"],
                changed["case_number"], changed["county"])


def _read_long_csv(path: Path) -> list[dict[str, str]]:
    """Read a UTF-8 CSV file whose cells may be longer than the csv module's default limit."""
    default = csv.field_size_limit(2 * CELL_LENGTH)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    finally:
        csv.field_size_limit(default)


def _decision(out: Path, subject: str) -> pd.Series:
    frame = pd.read_parquet(out / "decisions")
    return frame[frame["subject"] == subject].iloc[0]


def _pdf_text(path: Path) -> str:
    return " ".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _squeezed(text: str) -> str:
    """Return text without white space, because the PDF breaks long words across lines."""
    return re.sub(r"\s+", "", text)


def _sheets(path: Path) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(path)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets[1:]}


def _row_of(sheets: dict[str, list[tuple]], subject: str, column: str) -> tuple:
    for rows in sheets.values():
        header = rows[0]
        for row in rows[1:]:
            if row[header.index("Person (SUBJECT_ID)")] == subject:
                return dict(zip(header, row))[column], row
    raise AssertionError(f"no workbook row of the person with the long {column}")


def test_clip_text_keeps_short_text():
    assert clip_text("DOE,JANE", 8) == "DOE,JANE"
    assert clip_text("", 8) == ""


def test_clip_text_marks_cut_and_length():
    assert clip_text("ABCDEFGHIJ", 4) == "ABCD … [cut from 10 characters; full text in decisions/]"
    assert clip_text("A" * 1_234_567, 3) == "AAA" + _mark(1_234_567)


def test_clip_text_drops_trailing_space():
    assert clip_text("AB  CDEF", 4) == "AB" + _mark(8)


def test_clip_field_uses_column_maximum():
    assert clip_field("X" * 101, "name") == "X" * MAX_CHARS["name"] + _mark(101)
    assert clip_field("X" * 100, "name") == "X" * 100
    assert clip_field("X" * 2_000, "reason") == "X" * DEFAULT_MAX_CHARS + _mark(2_000)


def test_clipped_workbook_columns_fit_excel():
    for column in COLUMNS:
        if column.kind == "text":
            assert len(clip_field("X" * CELL_LENGTH, column.source)) <= EXCEL_MAX_CELL_TEXT, column.source


def test_long_cells_reach_decisions_whole(runs):
    assert _decision(runs.long, runs.name_subject)["name"] == LONG_NAME
    code_section = _decision(runs.long, runs.code_section_subject)["code_section"]
    assert len(code_section) == CELL_LENGTH
    assert code_section.startswith(PROP64_SECTIONS)
    assert LONG_CASE_NUMBER in _decision(runs.long, runs.case_number_subject)["case_numbers"]
    assert _decision(runs.long, runs.county_subject)["county_name"] == LONG_COUNTY


def test_bundle_and_doj_update_keep_long_cells(runs):
    code_section = _decision(runs.long, runs.code_section_subject)["code_section"]
    assert code_section.encode("latin-1") in (runs.long / "yolo/Prop64_Results.csv").read_bytes()
    rows = _read_long_csv(runs.long / "yolo/doj-update.csv")
    assert code_section in {row["code_section"] for row in rows}
    case_numbers = {row["court_case_numbers"] for row in rows
                    if row["person_key"] == runs.case_number_subject}
    assert any(LONG_CASE_NUMBER in numbers for numbers in case_numbers)


def test_workbook_cells_are_clipped_with_mark(runs):
    sheets = _sheets(runs.long / "yolo/review.xlsx")
    code_section = _decision(runs.long, runs.code_section_subject)["code_section"]
    case_numbers = _decision(runs.long, runs.case_number_subject)["case_numbers"]
    cases = [
        (runs.code_section_subject, "Code section", code_section, MAX_CHARS["code_section"]),
        (runs.name_subject, "Name", LONG_NAME, MAX_CHARS["name"]),
        (runs.case_number_subject, "Court case numbers", case_numbers, MAX_CHARS["case_numbers"]),
    ]
    for subject, column, value, limit in cases:
        cell, _ = _row_of(sheets, subject, column)
        assert cell == value[:limit].rstrip() + _mark(len(value)), column
    for rows in sheets.values():
        assert all(len(cell) <= EXCEL_MAX_CELL_TEXT for row in rows for cell in row
                   if isinstance(cell, str))


def test_workbook_other_cells_unchanged(runs):
    clean, long = _sheets(runs.clean / "yolo/review.xlsx"), _sheets(runs.long / "yolo/review.xlsx")
    assert clean.keys() == long.keys()
    for sheet, clean_rows in clean.items():
        header = clean_rows[0]
        assert long[sheet][0] == header
        person, count = header.index("Person (SUBJECT_ID)"), header.index("Count (CNT_ORDER)")
        long_rows = {(row[person], row[count]): row for row in long[sheet][1:]}
        for row in clean_rows[1:]:
            key = (row[person], row[count])
            if key not in long_rows:
                # The conviction whose county cell is long moved to a county of its own.
                assert row[person] == runs.county_subject, sheet
                continue
            skipped = runs.clipped_columns.get(row[person])
            for title, want, got in zip(header, row, long_rows[key]):
                if title != skipped:
                    assert got == want, (sheet, title)


def test_workbook_marks_only_long_cells(runs):
    for name, out in (("clean", runs.clean), ("long", runs.long)):
        for sheet, rows in _sheets(out / "yolo/review.xlsx").items():
            header = rows[0]
            for row in rows[1:]:
                subject = row[header.index("Person (SUBJECT_ID)")]
                allowed = set()
                if name == "long" and subject in runs.clipped_columns:
                    allowed = {runs.clipped_columns[subject]}
                marked = {title for title, cell in zip(header, row)
                          if isinstance(cell, str) and "[cut from" in cell}
                assert marked <= allowed, (name, sheet)


def test_filing_shows_clipped_values_with_mark(runs):
    text = _pdf_text(runs.long / "yolo/court-filing.pdf")
    flat, squeezed = _flat(text), _squeezed(text)
    code_section = _decision(runs.long, runs.code_section_subject)["code_section"]
    case_numbers = _decision(runs.long, runs.case_number_subject)["case_numbers"]
    for value, column in ((code_section, "code_section"), (LONG_NAME, "name"),
                          (case_numbers, "case_numbers")):
        limit = MAX_CHARS[column]
        assert _squeezed(value[:limit] + _mark(len(value))) in squeezed, column
        assert _squeezed(value[:limit + 50]) not in squeezed, column
        assert _mark(len(value)).strip() in flat, column
    # Only the clipped text reaches the PDF, not megabytes of it.
    assert len(flat) < 100_000


def test_filing_other_cases_unchanged(runs):
    text = _flat(_pdf_text(runs.long / "yolo/court-filing.pdf"))
    run = read_run(runs.clean)
    clean = read_county(run, run.counties[0])
    groups = [g for g in case_groups(clean.decisions) if g.subject not in runs.long_subjects]
    assert groups
    for group in groups:
        heading = f"Case {group.label} People v. {group.name} · CII {group.cii_number}"
        assert text.count(heading) == 1, group.label
        for conviction in group.convictions:
            row = f"{conviction.cnt_order} {conviction.code_section}"
            assert row in text, group.label


def test_person_filing_caption_clipped(runs, tmp_path):
    run = read_run(runs.long)
    county = read_county(run, next(ref for ref in run.counties if ref.folder == "yolo"))
    write_person_filings(county, load_template(), tmp_path)
    index = {row["person_key"]: row for row in _read_long_csv(tmp_path / "court-filings/index.csv")}
    # The index is read by programs, so it keeps the name whole.
    assert index[runs.name_subject]["name"] == LONG_NAME
    text = _flat(_pdf_text(tmp_path / "court-filings" / index[runs.name_subject]["file"]))
    clipped = LONG_NAME[:MAX_CHARS["name"]].rstrip() + _mark(CELL_LENGTH)
    assert f"{clipped}, Defendants." in text


def test_reports_clip_long_county(runs):
    folder = county_folder(LONG_COUNTY)
    prefix = LONG_COUNTY[:MAX_CHARS["county_name"]].rstrip()
    clipped = prefix.title() + _mark(CELL_LENGTH)
    for path in (runs.long / "report.html", runs.long / folder / "report.html"):
        html = path.read_text(encoding="utf-8")
        assert clipped in html, path.name
        assert len(html) < CELL_LENGTH, path.name
    assert f"Prop 64 relief in {clipped} County" in _flat(_pdf_text(runs.long / folder / "report.pdf"))
    filing = _flat(_pdf_text(runs.long / folder / "court-filing.pdf"))
    assert f"FOR THE COUNTY OF {prefix}{_mark(CELL_LENGTH)}" in filing
    sheet = openpyxl.load_workbook(runs.long / folder / "review.xlsx")["Summary"]
    assert sheet["A1"].value == f"Prop 64 relief in {prefix}{_mark(CELL_LENGTH)} county"

"""Documents of a multi-county run, read back and checked against the run's summaries."""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import re
import shutil
import stat
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

import openpyxl
import pandas as pd
import pypdf
import pytest
from reportlab.lib.pagesizes import LETTER
from reportlab.pdfbase.pdfmetrics import stringWidth

from cluster.cli import EXIT_OK, EXIT_USAGE, main
from cluster.run import run_job
from cluster.settings import RunConfig
from documents.browser import find_chromium, render_page
from documents.build import write_documents
from documents.doj_update import DISMISSED_AND_SEALED, HEADER, REDESIGNATED_MISDEMEANOR
from documents.figures import DETERMINATIONS, SECTIONS, CountyFigures, Relief, count_figures
from documents.filing import case_groups, write_person_filings
from documents.filing_template import FilingTemplateError, load_template
from documents.pdf import MARGIN
from documents.report import render_county_pdf
from documents.report_table import fitted_table
from documents.source import RunOutputError, read_county, read_run
from documents.workbook import write_workbook
from engine.generate import write_research_file
from engine.layout import decode_text
from tests.conftest import read_json

COMPUTE_AT = datetime.date(2024, 7, 1)
DETERMINATION_SHEETS = {"Eligible for Dismissal": "Eligible for Dismissal",
                        "Eligible for Reduction": "Eligible for Reduction",
                        "Hand Review": "Hand Review",
                        "Maybe Eligible - Flag for Review": "Maybe Eligible - Flagged",
                        "Not eligible": "Not eligible", "": "No relief"}
POLICIES = {
    # Felonies of 11358 and 11360 get no relief here, so the "No relief" sheet fills.
    "yolo.json": {"baselineEligibility": {"dismiss": ["11357"], "reduce": ["11359"]}},
    "default.json": {"baselineEligibility": {"dismiss": ["11357"],
                                             "reduce": ["11358", "11359", "11360"]},
                     "additionalRelief": {"subjectUnder21AtConviction": True}},
}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, scheduler_address) -> Path:
    """A run of four counties with their documents. SUTTER is renamed SAN-JOAQUIN, whose
    folder name clashes with SAN JOAQUIN's, so two counties share a decisions partition."""
    base = tmp_path_factory.mktemp("documents")
    source = base / "input.csv"
    write_research_file(source, rows=12_000, counties=["SAN JOAQUIN", "YOLO", "ALPINE", "SUTTER"],
                        seed=7)
    source.write_bytes(source.read_bytes().replace(b",SUTTER,", b",SAN-JOAQUIN,"))
    policies = base / "policies"
    policies.mkdir()
    for name, policy in POLICIES.items():
        (policies / name).write_text(json.dumps(policy))
    out = base / "out"
    run_job(RunConfig(inputs=[str(source)], out=str(out), policy_dir=str(policies),
                      compute_at=COMPUTE_AT, scheduler=scheduler_address, progress=False))
    write_documents(out)
    return out


def _counties(out: Path) -> dict[str, str]:
    return {name: entry["folder"] for name, entry in read_json(out / "summary.json")["counties"].items()}


def _decisions(out: Path, county: str) -> pd.DataFrame:
    frame = pd.read_parquet(out / "decisions")
    return frame[frame["county_name"] == county]


def _pdf_text(path: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(path).pages]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_run_has_clashing_folders(run_folder):
    assert _counties(run_folder) == {"ALPINE": "alpine", "SAN JOAQUIN": "san-joaquin",
                                     "SAN-JOAQUIN": "san-joaquin-2", "YOLO": "yolo"}
    # Each county's decisions partition has the county's own folder name.
    partition = pd.read_parquet(run_folder / "decisions/county=san-joaquin")
    assert set(partition["county_name"]) == {"SAN JOAQUIN"}
    partition = pd.read_parquet(run_folder / "decisions/county=san-joaquin-2")
    assert set(partition["county_name"]) == {"SAN-JOAQUIN"}


def test_decisions_carry_name_and_birth_date(run_folder):
    frame = pd.read_parquet(run_folder / "decisions")
    first_rows: dict[str, list[str]] = {}
    lines = [decode_text(line) for line in (run_folder.parent / "input.csv").read_bytes().splitlines()]
    for cells in csv.DictReader(lines):
        first_rows.setdefault(cells["SUBJECT_ID"].strip(), [cells["PRI_NAME"].strip(),
                                                             cells["PRI_DOB"].strip()])
    for record in frame.head(200).itertuples():
        name, birth = first_rows[record.subject]
        assert record.name == name
        if pd.isna(record.birth_date):
            continue
        assert record.birth_date.strftime("%Y%m%d") == birth
    assert frame["birth_date"].notna().mean() > 0.9
    assert frame["birth_date"].dropna().dt.year.between(1930, 1999).all()


def test_workbook_rows_match_decisions(run_folder):
    for county, folder in _counties(run_folder).items():
        decisions = _decisions(run_folder, county)
        book = openpyxl.load_workbook(run_folder / folder / "review.xlsx")
        assert book.sheetnames == ["Summary", *DETERMINATION_SHEETS.values()], county
        for determination, sheet_name in DETERMINATION_SHEETS.items():
            sheet = book[sheet_name]
            rows = list(sheet.iter_rows(values_only=True))
            header, body = rows[0], rows[1:]
            # Every decision carries the trail of the rules tried.
            assert "Trail" in header
            expected = decisions[decisions["determination"] == determination]
            assert len(body) == len(expected), (county, sheet_name)
            subject, count = header.index("Person (SUBJECT_ID)"), header.index("Count (CNT_ORDER)")
            assert {(r[subject], r[count]) for r in body} == set(
                zip(expected["subject"], expected["cnt_order"])), (county, sheet_name)
            assert sheet.freeze_panes == "A2"
            assert sheet.auto_filter.ref.startswith("A1:")


def test_workbook_cells_are_typed(run_folder):
    sheet = openpyxl.load_workbook(run_folder / "yolo/review.xlsx")["No relief"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert len(rows) > 1
    dates = [r[header.index("Disposition date")] for r in rows[1:]]
    assert all(isinstance(d, datetime.datetime) for d in dates if d is not None)
    assert any(d is not None for d in dates)
    assert all(isinstance(r[header.index("Check")], int) for r in rows[1:])
    assert {r[header.index("Level")] for r in rows[1:]} == {"Felony"}
    for index, title in enumerate(header):
        letter = openpyxl.utils.get_column_letter(index + 1)
        assert sheet.column_dimensions[letter].width >= len(title), title


def test_workbook_summary_matches_summary(run_folder):
    for county, folder in _counties(run_folder).items():
        summary = read_json(run_folder / folder / "summary.json")
        sheet = openpyxl.load_workbook(run_folder / folder / "review.xlsx")["Summary"]
        figures = {row[0]: row[1:] for row in sheet.iter_rows(values_only=True) if row[0]}
        decided = (summary["prop64FelonyConvictionsCountInCounty"]
                   + summary["prop64NonFelonyConvictionsCountInCounty"])
        assert figures["Convictions decided"][:2] == (decided, decided)
        assert figures["Convictions dismissed and sealed"][:2] == (summary["convictionsDismissed"], decided)
        assert figures["Convictions redesignated"][0] == summary["convictionsReduced"]
        assert figures["Convictions with no relief"][0] == summary["convictionsWithNoRelief"]
        assert figures["People granted some relief"][0] == summary["subjectsWithSomeReliefCount"]
        current, what_if = summary["reliefWithCurrentEligibilityChoices"], summary["reliefWithDismissAllProp64"]
        assert figures["People left with no felony"][:2] == (
            current["CountSubjectsNoFelony"], what_if["CountSubjectsNoFelony"])
        assert figures["People left with no conviction"][:2] == (
            current["CountSubjectsNoConviction"], what_if["CountSubjectsNoConviction"])
        assert figures["People left with no conviction in the last 7 years"][:2] == (
            current["CountSubjectsNoConvictionLast7Years"], what_if["CountSubjectsNoConvictionLast7Years"])
        for section, count in summary["prop64ConvictionsCountInCountyByCodeSection"].items():
            assert sum(figures[f"HS {section}"][:len(DETERMINATION_SHEETS)]) == count, (county, section)


def test_workbook_shows_trail_when_present(run_folder, tmp_path):
    run = read_run(run_folder)
    county = read_county(run, run.counties[0])
    trail = '[{"check": 1, "held": false}]'
    with_trail = county._replace(decisions=county.decisions.assign(trail=trail))
    write_workbook(with_trail, count_figures(with_trail), tmp_path)
    sheet = openpyxl.load_workbook(tmp_path / "review.xlsx")["Eligible for Dismissal"]
    rows = list(sheet.iter_rows(values_only=True))
    assert "Trail" in rows[0]
    assert rows[1][rows[0].index("Trail")] == trail


def test_workbook_writes_formulas_as_text(run_folder, tmp_path):
    run = read_run(run_folder)
    county = read_county(run, run.counties[0])
    decisions = county.decisions.copy()
    decisions.loc[decisions.index[0], "name"] = '=HYPERLINK("x","y")'
    changed = county._replace(decisions=decisions)
    write_workbook(changed, count_figures(changed), tmp_path)
    book = openpyxl.load_workbook(tmp_path / "review.xlsx")
    names = [cell.value for sheet in book.worksheets[1:] for cell in sheet["B"]]
    assert '=HYPERLINK("x","y")' in names
    cells = [cell for sheet in book.worksheets[1:] for cell in sheet["B"]
             if cell.value == '=HYPERLINK("x","y")']
    assert cells[0].data_type == "s"


def test_filing_lists_every_case_once(run_folder):
    for county, folder in _counties(run_folder).items():
        decisions = _decisions(run_folder, county)
        pages = _pdf_text(run_folder / folder / "court-filing.pdf")
        text = _flat("\n".join(pages))
        relieved = decisions[decisions["determination"] != ""]
        numbered = relieved[relieved["case_numbers"] != ""]
        assert len(numbered) > 0
        for case in numbered["case_numbers"].unique():
            assert text.count(f"Case {case} ") == 1, (county, "a relieved case")
        not_relieved = set(decisions["case_numbers"]) - set(relieved["case_numbers"]) - {""}
        for case in not_relieved:
            assert f"Case {case} " not in text, (county, "a case with no relief")
        assert text.count("Case ") == len(case_groups(decisions.sort_values("subject")))
        assert "11361.9" in text
        assert f"FOR THE COUNTY OF {county}" in text


def test_filing_pages_numbered_with_header(run_folder):
    pages = _pdf_text(run_folder / "yolo/court-filing.pdf")
    assert len(pages) > 2
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {len(pages)}" in page
        assert "People v. THE PERSONS LISTED IN THIS MOTION" in page
        assert "Yolo County" in page
    assert "Judge of the Superior Court" in pages[-1]
    assert "Deputy District Attorney" in "".join(pages)


def test_filing_counts_match_summary(run_folder):
    summary = read_json(run_folder / "yolo/summary.json")
    text = _flat("".join(_pdf_text(run_folder / "yolo/court-filing.pdf")))
    dismissed, reduced = summary["convictionsDismissed"], summary["convictionsReduced"]
    assert (f"This motion covers {dismissed + reduced:,} convictions" in text)
    assert f"{dismissed:,} to be dismissed and sealed and {reduced:,} to be redesignated" in text
    assert text.count("Dismiss and seal") - 2 == dismissed
    assert text.count("Redesignate as misdemeanor") - 2 == reduced


def test_per_person_filings(run_folder, tmp_path):
    run = read_run(run_folder)
    ref = next(r for r in run.counties if r.folder == "alpine")
    county = read_county(run, ref)
    written = write_person_filings(county, load_template(), tmp_path)
    relieved = county.decisions[county.decisions["determination"] != ""]
    assert len(written) == relieved["subject"].nunique() + 1

    index = list(csv.DictReader(io.StringIO((tmp_path / "court-filings/index.csv").read_text())))
    assert len(index) == relieved["subject"].nunique()
    for row in index[:10]:
        text = _flat("".join(_pdf_text(tmp_path / "court-filings" / row["file"])))
        mine = relieved[relieved["subject"] == row["person_key"]]
        for case in set(mine["case_numbers"]) - {""}:
            assert text.count(f"Case {case} ") == 1
        others = set(relieved["case_numbers"]) - set(mine["case_numbers"]) - {""}
        assert not any(f"Case {case} " in text for case in others)
        assert f"People v. {row['name']}" in text


def test_doj_update_rows(run_folder):
    for county, folder in _counties(run_folder).items():
        summary = read_json(run_folder / folder / "summary.json")
        decisions = _decisions(run_folder, county)
        with open(run_folder / folder / "doj-update.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert tuple(rows[0]) == HEADER
        body = [dict(zip(HEADER, row)) for row in rows[1:]]
        assert len(body) == summary["convictionsDismissed"] + summary["convictionsReduced"]
        relief = [row["relief_granted"] for row in body]
        assert relief.count(DISMISSED_AND_SEALED) == summary["convictionsDismissed"]
        assert relief.count(REDESIGNATED_MISDEMEANOR) == summary["convictionsReduced"]
        assert {row["county"] for row in body} == {county}
        assert all(row["order_date"] == "" for row in body)
        granted = decisions[decisions["determination"] != ""]
        assert {(r["person_key"], r["cnt_order"]) for r in body} == set(
            zip(granted["subject"], granted["cnt_order"]))
        known = {(s, c) for s, c in zip(granted["subject"], granted["cii_number"])}
        assert {(r["person_key"], r["cii_number"]) for r in body} <= known
        dates = [r["disposition_date"] for r in body if r["disposition_date"]]
        assert all(datetime.date.fromisoformat(d) <= COMPUTE_AT for d in dates)


class _Values(HTMLParser):
    """Collects the text of elements with an id, and every src and href."""

    def __init__(self):
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.links: list[str] = []
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.links += [attributes[k] for k in ("src", "href") if k in attributes]
        self._open.append(attributes.get("id"))
        if attributes.get("id"):
            self.by_id[attributes["id"]] = ""

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for name in self._open:
            if name:
                self.by_id[name] += data


class _TableRows(HTMLParser):
    """Collects the cell texts of each row of one table."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id = table_id
        self.rows: list[list[str]] = []
        self._inside = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self._inside = True
        elif self._inside and tag == "tr":
            self.rows.append([])
        elif self._inside and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._inside = False
        elif self._inside and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _table(html: str, table_id: str) -> list[list[str]]:
    parser = _TableRows(table_id)
    parser.feed(html)
    return parser.rows


def _number(text: str) -> int:
    return int(text.strip().replace(",", ""))


def test_county_report_figures(run_folder):
    for county, folder in _counties(run_folder).items():
        summary = read_json(run_folder / folder / "summary.json")
        parser = _Values()
        parser.feed((run_folder / folder / "report.html").read_text(encoding="utf-8"))
        relief = summary["reliefWithCurrentEligibilityChoices"]
        assert _number(parser.by_id["convictions-relieved"]) == (
            summary["convictionsDismissed"] + summary["convictionsReduced"])
        assert _number(parser.by_id["people-relieved"]) == summary["subjectsWithSomeReliefCount"]
        assert _number(parser.by_id["no-felony"]) == relief["CountSubjectsNoFelony"]
        assert _number(parser.by_id["no-conviction"]) == relief["CountSubjectsNoConviction"]
        assert _number(parser.by_id["no-conviction-7-years"]) == relief["CountSubjectsNoConvictionLast7Years"]
        html = (run_folder / folder / "report.html").read_text(encoding="utf-8")
        comparison = {row[0]: row[1:] for row in _table(html, "comparison")}
        what_if = summary["reliefWithDismissAllProp64"]
        assert _number(comparison["People left with no conviction"][1]) == what_if["CountSubjectsNoConviction"]
        assert _number(comparison["People left with no felony"][1]) == what_if["CountSubjectsNoFelony"]
        by_section = {row[0]: _number(row[-1]) for row in _table(html, "by-section")[1:]}
        assert by_section == {f"HS {s}": n for s, n in
                              summary["prop64ConvictionsCountInCountyByCodeSection"].items()}
        images = [link for link in parser.links if not link.endswith("report.html")]
        assert len(images) == 3
        assert all(link.startswith("data:image/") for link in images)


def test_county_report_pdf_figures(run_folder):
    summary = read_json(run_folder / "yolo/summary.json")
    text = _flat("".join(_pdf_text(run_folder / "yolo/report.pdf")))
    relieved = summary["convictionsDismissed"] + summary["convictionsReduced"]
    decided = relieved + summary["convictionsWithNoRelief"]
    assert f"{relieved:,} of {decided:,} convictions are dismissed" in text
    relief = summary["reliefWithCurrentEligibilityChoices"]
    assert f"{relief['CountSubjectsNoFelony']:,} people no longer have a felony" in text
    assert "Decisions by decade of disposition" in text


class _Fragment(NamedTuple):
    """A piece of text drawn on a PDF page, with its extent in points from the page's
    bottom left corner."""

    page: int
    text: str
    left: float
    right: float
    baseline: float


def _pdf_fragments(pdf: bytes) -> list[_Fragment]:
    """Return every text piece of a PDF at the position where pypdf finds it drawn, with
    the width that reportlab's stringWidth gives it in its font."""
    fragments: list[_Fragment] = []
    for number, page in enumerate(pypdf.PdfReader(io.BytesIO(pdf)).pages, 1):

        def visit(text, cm, tm, font, size, number=number):
            if not text.strip():
                return
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            width = stringWidth(text.strip(), font["/BaseFont"][1:], size * tm[0] * cm[0])
            fragments.append(_Fragment(number, text.strip(), x, x + width, round(y, 1)))

        page.extract_text(visitor_text=visit)
    return fragments


def _report_table_rows(decisions: pd.DataFrame) -> list[list[str]]:
    """Return the rows, as printed, of a county report's tables by section and by decade."""
    years = decisions["disposition_date"].dt.year
    masks = {f"HS {s}": decisions["section"] == s for s in SECTIONS if (decisions["section"] == s).any()}
    for decade in sorted({int(year) // 10 * 10 for year in years.dropna()}):
        masks[f"{decade}s"] = years // 10 * 10 == decade
    if years.isna().any():
        masks["date unknown"] = years.isna()
    rows = []
    for label, mask in masks.items():
        determinations = decisions.loc[mask, "determination"]
        counts = [int((determinations == determination).sum()) for determination, _ in DETERMINATIONS]
        rows.append([label, *(f"{n:,}" for n in counts), f"{sum(counts):,}"])
    return rows


def _check_report_pdf_layout(pdf: bytes, table_rows: list[list[str]]) -> None:
    fragments = _pdf_fragments(pdf)
    for fragment in fragments:
        assert fragment.left >= MARGIN - 0.01, f"{fragment.text!r} starts left of the margin"
        assert fragment.right <= LETTER[0] - MARGIN + 0.01, f"{fragment.text!r} ends right of the margin"

    lines: dict[tuple[int, float], list[_Fragment]] = {}
    for fragment in fragments:
        lines.setdefault((fragment.page, fragment.baseline), []).append(fragment)
    for line in lines.values():
        line.sort(key=lambda f: f.left)
        for before, after in zip(line, line[1:]):
            assert before.right <= after.left, f"{before.text!r} overlaps {after.text!r}"

    # Each table row is one line of the page, from its label to its `All` count.
    printed = [[f.text for f in line] for line in lines.values()]
    for row in table_rows:
        assert row in printed, f"table row {row[0]!r} is not printed whole on one line"


def test_county_report_pdf_tables_readable(run_folder):
    for county, folder in _counties(run_folder).items():
        table_rows = _report_table_rows(_decisions(run_folder, county))
        assert table_rows, county
        _check_report_pdf_layout((run_folder / folder / "report.pdf").read_bytes(), table_rows)


def _widest_figures() -> CountyFigures:
    """Figures with every determination present and counts of seven digits, in every
    section and in every decade from the 1930s on."""
    def counts(base: int) -> dict[str, int]:
        return {determination: base + 111_111 * i for i, (determination, _) in enumerate(DETERMINATIONS)}

    decades = [f"{year}s" for year in range(1930, 2030, 10)] + ["date unknown"]
    by_section = {section: counts(1_234_567 * (i + 1)) for i, section in enumerate(SECTIONS)}
    by_decade = {decade: counts(1_000_000 + 10_007 * i) for i, decade in enumerate(decades)}
    convictions = sum(sum(c.values()) for c in by_section.values())
    relief = Relief(no_felony=4_321_000, no_conviction=3_210_000, no_conviction_last_7_years=5_432_100)
    return CountyFigures(
        county="LOS ANGELES", folder="los-angeles", compute_at=COMPUTE_AT,
        convictions=convictions, felonies=convictions // 2, dismissed=convictions // 3,
        reduced=convictions // 4, no_relief=convictions - convictions // 3 - convictions // 4,
        people=9_876_543, people_relieved=8_765_432, relief=relief, relief_dismiss_all=relief,
        by_section=by_section, by_decade=by_decade)


def test_report_pdf_widest_tables_fit_page():
    figures = _widest_figures()
    table_rows = [[label, *(f"{n:,}" for n in counts.values()), f"{sum(counts.values()):,}"]
                  for label, counts in [*((f"HS {s}", c) for s, c in figures.by_section.items()),
                                        *figures.by_decade.items()]]
    _check_report_pdf_layout(render_county_pdf(figures, "run"), table_rows)


def test_report_table_fills_frame_width():
    header = ["Decade", *(label for _, label in DETERMINATIONS), "All"]
    for digits in (1, 7, 11):
        row = ["date unknown", *[10**digits - 1] * (len(header) - 1)]
        width, _ = fitted_table([header, row], 456).wrap(456, 10_000)
        assert width == pytest.approx(456), digits


def test_report_table_too_wide_raises():
    header = ["Decade", *(label for _, label in DETERMINATIONS), "All"]
    row = ["date unknown", *[10**15] * (len(header) - 1)]
    with pytest.raises(ValueError, match="wider than the page frame of 456 points"):
        fitted_table([header, row], 456)


def test_statewide_report_figures(run_folder):
    summary = read_json(run_folder / "summary.json")
    statewide = summary["statewide"]
    parser = _Values()
    html = (run_folder / "report.html").read_text(encoding="utf-8")
    parser.feed(html)
    assert _number(parser.by_id["convictions-relieved"]) == (
        statewide["convictionsDismissed"] + statewide["convictionsReduced"])
    assert _number(parser.by_id["people-relieved"]) == statewide["subjectsWithSomeReliefCount"]
    rows = {row[0]: [_number(v) for v in row[1:]] for row in _table(html, "counties")[2:]}
    for county, entry in summary["counties"].items():
        current = entry["reliefWithCurrentEligibilityChoices"]
        assert rows[county.title()][:7] == [
            entry["prop64FelonyConvictionsCountInCounty"] + entry["prop64NonFelonyConvictionsCountInCounty"],
            entry["convictionsDismissed"], entry["convictionsReduced"], entry["convictionsWithNoRelief"],
            entry["subjectsWithProp64ConvictionCountInCounty"], entry["subjectsWithSomeReliefCount"],
            current["CountSubjectsNoFelony"]], county
    total = rows["All counties"]
    assert total[1:6] == [statewide["convictionsDismissed"], statewide["convictionsReduced"],
                          statewide["convictionsWithNoRelief"],
                          statewide["subjectsWithProp64ConvictionCount"],
                          statewide["subjectsWithSomeReliefCount"]]
    images = [link for link in parser.links if link.startswith("data:image/")]
    assert len(images) == 2, "the ranked chart and the county map"
    assert not [link for link in parser.links if link.startswith(("http:", "https:", "//"))]


def test_documents_hold_only_own_county(run_folder):
    frame = pd.read_parquet(run_folder / "decisions")
    for county, folder in _counties(run_folder).items():
        others = frame[frame["county_name"] != county]
        mine = frame[frame["county_name"] == county]
        foreign = set(others["subject"]) - set(mine["subject"])
        assert foreign
        texts = {
            "review.xlsx": " ".join(
                str(cell) for sheet in openpyxl.load_workbook(run_folder / folder / "review.xlsx")
                for row in sheet.iter_rows(values_only=True) for cell in row if cell is not None),
            "doj-update.csv": (run_folder / folder / "doj-update.csv").read_text(encoding="utf-8"),
            "court-filing.pdf": "".join(_pdf_text(run_folder / folder / "court-filing.pdf")),
            "report.pdf": "".join(_pdf_text(run_folder / folder / "report.pdf")),
            "report.html": (run_folder / folder / "report.html").read_text(encoding="utf-8"),
        }
        words = {name: set(re.findall(r"[A-Za-z0-9-]+", text)) for name, text in texts.items()}
        for name, found in words.items():
            assert not (found & foreign), (county, name)
        other_cases = set(others["case_numbers"]) - set(mine["case_numbers"]) - {""}
        assert not (words["court-filing.pdf"] & other_cases), county
        for other in set(frame["county_name"]) - {county}:
            assert other not in texts["doj-update.csv"], county


def test_documents_are_owner_only_and_in_manifest(run_folder):
    for root, folders, files in os.walk(run_folder):
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700, root
        for name in files:
            assert stat.S_IMODE((Path(root) / name).stat().st_mode) == 0o600, name
    manifest = read_json(run_folder / "manifest.json")
    listed = {entry["path"] for entry in manifest["outputs"]}
    written = {str(p.relative_to(run_folder)) for p in run_folder.rglob("*") if p.is_file()}
    assert listed == written - {"manifest.json"}
    assert "yolo/review.xlsx" in listed
    assert "report.html" in listed


def test_changed_summary_is_rejected(run_folder, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(run_folder, copy)
    summary_path = copy / "yolo/summary.json"
    summary = read_json(summary_path)
    summary["convictionsReduced"] += 1
    summary_path.write_text(json.dumps(summary))
    with pytest.raises(RunOutputError, match="yolo: the decisions dataset has"):
        write_documents(copy)


def test_custom_filing_template(run_folder, tmp_path):
    template = tmp_path / "court.toml"
    text = load_template.__globals__["DEFAULT_TEMPLATE"].read_text(encoding="utf-8")
    template.write_text(text.replace('"[Name], District Attorney', '"Jane Q. Example, District Attorney'),
                        encoding="utf-8")
    copy = tmp_path / "out"
    shutil.copytree(run_folder, copy)
    write_documents(copy, filing_template=template)
    assert "Jane Q. Example, District Attorney" in "".join(_pdf_text(copy / "alpine/court-filing.pdf"))


@pytest.mark.parametrize("change,message", [
    (('[court]', '[court]\nseal = "x"'), "unknown field `seal`"),
    (('name = "SUPERIOR', 'name = "${judge} SUPERIOR'), r"court.name` uses the unknown placeholder \$\{judge\}"),
    (('page_size = "letter"', 'page_size = "tabloid"'), "page_size"),
])
def test_invalid_filing_template(tmp_path, change, message):
    text = load_template.__globals__["DEFAULT_TEMPLATE"].read_text(encoding="utf-8")
    assert change[0] in text
    path = tmp_path / "court.toml"
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(FilingTemplateError, match=message):
        load_template(path)


def test_documents_command(run_folder, tmp_path, capsys):
    copy = tmp_path / "out"
    shutil.copytree(run_folder, copy)
    assert main(["documents", str(copy), "--per-person"]) == EXIT_OK
    assert not (copy / "yolo/court-filing.pdf").exists()
    assert (copy / "yolo/court-filings/index.csv").exists()
    assert main(["documents", str(copy)]) == EXIT_OK
    assert (copy / "yolo/court-filing.pdf").exists()
    assert not (copy / "yolo/court-filings").exists()
    listed = {e["path"] for e in read_json(copy / "manifest.json")["outputs"]}
    assert not any(path.startswith("yolo/court-filings/") for path in listed)


def test_documents_command_rejects_non_run(tmp_path, capsys):
    assert main(["documents", str(tmp_path)]) == EXIT_USAGE
    assert "summary.json is missing" in capsys.readouterr().err


NO_CHROMIUM = "Chromium is not installed; on Debian: apt-get install chromium (.ci/run installs it)"


@pytest.mark.skipif(find_chromium() is None, reason=NO_CHROMIUM)
def test_reports_render_in_chromium(run_folder):
    for page in (run_folder / "report.html", run_folder / "yolo/report.html"):
        result = render_page(page)
        assert result.errors == [], page.name
        assert result.requests[0] == page.resolve().as_uri()
        assert all(url.startswith(("file:", "data:")) for url in result.requests), page.name
        assert result.screenshot.startswith(b"\x89PNG")


@pytest.mark.skipif(find_chromium() is None, reason=NO_CHROMIUM)
def test_chromium_reports_page_errors(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><img src="missing.png"><script>console.error("broken")</script>'
                    '<script>undefinedFunction()</script>')
    errors = render_page(page).errors
    assert any("console: broken" in e for e in errors)
    assert any("undefinedFunction" in e for e in errors)
    assert any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in errors)


def test_run_folder_read_by_relative_path(run_folder, monkeypatch):
    monkeypatch.chdir(run_folder.parent)
    run = read_run(run_folder.name)
    county = read_county(run, run.counties[0])
    assert len(county.decisions) > 0


def test_plea_bargain_policy_documents_match_summary(tmp_path, scheduler_address):
    source = tmp_path / "input.csv"
    write_research_file(source, rows=20_000, counties=["LOS ANGELES"], seed=3)
    out = tmp_path / "out"
    statute = Path(__file__).resolve().parents[1] / "policies" / "ca" / "statute.toml"
    run_job(RunConfig(inputs=[str(source)], out=str(out), policy=str(statute),
                      compute_at=COMPUTE_AT, scheduler=scheduler_address, progress=False))
    summary = read_json(out / "los-angeles" / "summary.json")
    # The statute also decides possible plea bargains, which the summary counts apart.
    assert summary["possiblePleaBargainConvictionCount"] > 0

    write_documents(out)

    run = read_run(out)
    figures = count_figures(read_county(run, run.counties[0]))
    assert figures.convictions == (summary["prop64FelonyConvictionsCountInCounty"]
                                   + summary["prop64NonFelonyConvictionsCountInCounty"]
                                   + summary["possiblePleaBargainConvictionCount"])

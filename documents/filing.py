"""`court-filing.pdf`: the motion and proposed order a county files with its superior
court under Health and Safety Code section 11361.9.

The filing lists every conviction granted relief once, grouped by court case: each
case of each person is one heading followed by its convictions. Every page repeats
the template's header and is numbered "Page N of M". With `per_person`, each person
gets a filing of their own under `court-filings/`, with an index of the files.
Values from the research file are clipped where they are laid out
(`documents.clipping`), but the index keeps them whole.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import NamedTuple
from xml.sax.saxutils import escape

import pandas as pd
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, LEGAL, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    BaseDocTemplate, Frame, KeepTogether, PageBreak, PageTemplate, Paragraph, Spacer, Table,
    TableStyle,
)

from engine.decide import DISMISSAL, REDUCTION
from documents.clipping import clip_field
from documents.files import WrittenFile, write_private
from documents.filing_template import FilingTemplate, fill
from documents.pdf import MARGIN, NumberedCanvas
from documents.source import CountyRun

FILE_NAME = "court-filing.pdf"
PER_PERSON_FOLDER = "court-filings"
INDEX_NAME = "index.csv"
NO_CASE_NUMBER = "No court case number on record"
RELIEF_LABELS = {DISMISSAL: "Dismiss and seal", REDUCTION: "Redesignate as misdemeanor"}
PAGE_SIZES = {"letter": LETTER, "legal": LEGAL, "A4": A4}

_BODY = ParagraphStyle("body", fontName="Times-Roman", fontSize=12, leading=16, spaceAfter=8)
_SMALL = ParagraphStyle("small", fontName="Times-Roman", fontSize=10, leading=12)
_CENTER = ParagraphStyle("center", parent=_BODY, fontName="Times-Bold", alignment=TA_CENTER,
                         spaceAfter=2)
_HEADING = ParagraphStyle("heading", parent=_BODY, fontName="Times-Bold", spaceBefore=8)
_CASE = ParagraphStyle("case", parent=_SMALL, fontName="Times-Bold", spaceBefore=8, spaceAfter=3)
_CELL = ParagraphStyle("cell", parent=_SMALL, fontSize=9, leading=11)


class Conviction(NamedTuple):
    cnt_order: str
    code_section: str
    level: str
    disposition_date: str
    relief: str


class CaseGroup(NamedTuple):
    """One court case of one person, with its convictions granted relief."""

    case_numbers: str
    """The case numbers as the research file gives them, or "" when it gives none."""
    subject: str
    name: str
    cii_number: str
    birth_date: str
    convictions: list[Conviction]

    @property
    def label(self) -> str:
        return self.case_numbers or NO_CASE_NUMBER


def _date(value) -> str:
    return "" if pd.isna(value) else value.date().isoformat()


def case_groups(decisions: pd.DataFrame) -> list[CaseGroup]:
    """Group the convictions granted relief by person and court case.

    Convictions without a case number are grouped by their cycle and step (the first
    six characters of CNT_ORDER), so two such cases of one person stay apart. Groups
    are sorted by case number, then name; those without a number come last.
    """
    granted = decisions[decisions["determination"].isin(list(RELIEF_LABELS))].copy()
    if granted.empty:
        return []
    granted["case_key"] = granted["case_numbers"].where(
        granted["case_numbers"] != "", "\x00" + granted["cnt_order"].str[:6])
    groups = []
    for (subject, _), rows in granted.groupby(["subject", "case_key"], sort=False):
        rows = rows.sort_values("cnt_order", kind="stable")
        first = rows.iloc[0]
        convictions = [
            Conviction(r.cnt_order, r.code_section, "Felony" if r.felony else "Misdemeanor",
                       _date(r.disposition_date), RELIEF_LABELS[r.determination])
            for r in rows.itertuples(index=False)]
        groups.append(CaseGroup(first["case_numbers"], subject, first["name"], first["cii_number"],
                                _date(first["birth_date"]), convictions))
    groups.sort(key=lambda g: (g.case_numbers == "", g.case_numbers, g.name, g.subject))
    return groups


def _values(county: CountyRun, groups: list[CaseGroup], defendants: str) -> dict[str, str]:
    convictions = [c for g in groups for c in g.convictions]
    dismissals = sum(c.relief == RELIEF_LABELS[DISMISSAL] for c in convictions)
    return {
        "county": clip_field(county.name, "county_name"),
        "county_title": clip_field(county.name.title(), "county_name"),
        "defendants": defendants,
        "people": f"{len({g.subject for g in groups}):,}",
        "cases": f"{len(groups):,}",
        "convictions": f"{len(convictions):,}",
        "dismissals": f"{dismissals:,}",
        "redesignations": f"{len(convictions) - dismissals:,}",
        "compute_at": county.compute_at.isoformat(),
    }


def _paragraph(text: str, values: dict[str, str], style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(fill(text, values)), style)


def _caption(template: FilingTemplate, values: dict[str, str], width: float) -> list:
    caption = template.caption
    left = [
        _paragraph(caption.plaintiff + ",", values, _BODY),
        Paragraph("Plaintiff,", _BODY),
        Paragraph("v.", _BODY),
        _paragraph("${defendants},", values, _BODY),
        Paragraph("Defendants.", _BODY),
    ]
    right = [_paragraph(caption.title, values, _HEADING), _paragraph(caption.authority, values, _BODY)]
    table = Table([[left, right]], colWidths=[width / 2, width / 2])
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEAFTER", (0, 0), (0, 0), 0.75, colors.black),
        ("LINEBELOW", (0, 0), (0, 0), 0.75, colors.black),
        ("LEFTPADDING", (1, 0), (1, 0), 12),
    ]))
    return [_paragraph(template.court.name, values, _CENTER),
            _paragraph(template.court.county_line, values, _CENTER), Spacer(1, 12), table]


def _cell(text: str, column: str) -> Paragraph:
    """Return a wrapping table cell with a clipped value of a decisions column."""
    return Paragraph(escape(clip_field(text, column)), _CELL)


def _case_block(group: CaseGroup, width: float) -> KeepTogether:
    name = clip_field(group.name, "name") if group.name else "(name not on record)"
    cii_number = clip_field(group.cii_number, "cii_number") if group.cii_number else "—"
    person = f"People v. {name} · CII {cii_number}"
    if group.birth_date:
        person += f" · born {group.birth_date}"
    label = clip_field(group.label, "case_numbers")
    heading = Paragraph(f"Case {escape(label)}<br/>{escape(person)}", _CASE)
    rows = [["Count", "Code section", "Level", "Disposition date", "Relief"]]
    rows += [[_cell(c.cnt_order, "cnt_order"), _cell(c.code_section, "code_section"), c.level,
              c.disposition_date, c.relief] for c in group.convictions]
    table = Table(rows, colWidths=[w * width for w in (0.15, 0.27, 0.13, 0.17, 0.28)],
                  repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), "Times-Bold", 9),
        ("FONT", (0, 1), (-1, -1), "Times-Roman", 9),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8E8E8")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return KeepTogether([heading, table])


def _signature(lines: list[str], signer: str, values: dict[str, str]) -> list:
    flowables = [Spacer(1, 18), Paragraph("Dated: ____________________", _BODY)]
    flowables += [_paragraph(line, values, _BODY) for line in lines]
    flowables += [Spacer(1, 24), Paragraph("By: ________________________________", _BODY),
                  _paragraph(signer, values, _BODY)]
    return [KeepTogether(flowables)]


def render_filing(county: CountyRun, groups: list[CaseGroup], template: FilingTemplate,
                  defendants: str | None = None) -> bytes:
    """Render the motion and proposed order for the given case groups as PDF bytes."""
    values = _values(county, groups, "")
    if defendants:
        values["defendants"] = clip_field(defendants, "name")
    else:
        values["defendants"] = fill(template.caption.defendants, values)
    page_size = PAGE_SIZES[template.page_size]
    width = page_size[0] - 2 * MARGIN
    header = fill(template.page_header, values)
    # The header is one line, so a long one (a long name in a per-person filing) is set
    # in a smaller font rather than run past the right margin.
    header_size = min(9, 9 * width / stringWidth(header, "Times-Roman", 9)) if header else 9

    def draw_header(canvas, document):
        canvas.saveState()
        canvas.setFont("Times-Roman", header_size)
        canvas.drawString(MARGIN, page_size[1] - MARGIN / 2, header)
        canvas.line(MARGIN, page_size[1] - MARGIN / 2 - 4, page_size[0] - MARGIN,
                    page_size[1] - MARGIN / 2 - 4)
        canvas.restoreState()

    buffer = io.BytesIO()
    document = BaseDocTemplate(
        buffer, pagesize=page_size, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN, title=fill(template.caption.title, values),
        author=fill(template.attorney.lines[0], values) if template.attorney.lines else "",
        creator="clearance")
    frame = Frame(MARGIN, MARGIN, width, page_size[1] - 2 * MARGIN, id="body")
    document.addPageTemplates([PageTemplate("page", [frame], onPage=draw_header)])

    story: list = [_paragraph(line, values, _SMALL) for line in template.attorney.lines]
    story += [Spacer(1, 18), *_caption(template, values, width), Spacer(1, 12)]
    story += [_paragraph(text, values, _BODY) for text in template.motion.paragraphs]
    story.append(Paragraph("Convictions", _HEADING))
    if not groups:
        story.append(Paragraph("No conviction is granted relief.", _BODY))
    story += [_case_block(group, width) for group in groups]
    story += _signature(template.motion.signature_lines, template.motion.signer, values)
    story += [PageBreak(), _paragraph(template.order.heading, values, _CENTER), Spacer(1, 8)]
    story += [_paragraph(text, values, _BODY) for text in template.order.paragraphs]
    story += _signature([], template.order.signer, values)
    document.build(story, canvasmaker=NumberedCanvas)
    return buffer.getvalue()


def write_filing(county: CountyRun, template: FilingTemplate, folder: Path) -> WrittenFile:
    """Write the county's `court-filing.pdf`, covering every person."""
    groups = case_groups(county.decisions)
    return write_private(folder / FILE_NAME, render_filing(county, groups, template))


def write_person_filings(county: CountyRun, template: FilingTemplate,
                         folder: Path) -> list[WrittenFile]:
    """Write one filing per person into `court-filings/`, and `index.csv` naming whose
    each file is. Files are numbered, so no name or ID appears in a path."""
    target = folder / PER_PERSON_FOLDER
    groups = case_groups(county.decisions)
    by_person: dict[str, list[CaseGroup]] = {}
    for group in groups:
        by_person.setdefault(group.subject, []).append(group)

    written = []
    index = io.StringIO(newline="")
    rows = csv.writer(index, lineterminator="\r\n")
    rows.writerow(("file", "person_key", "name", "court_case_numbers"))
    for number, subject in enumerate(sorted(by_person, key=lambda s: (by_person[s][0].name, s)), 1):
        person_groups = by_person[subject]
        name = person_groups[0].name or "(name not on record)"
        file_name = f"filing-{number:06d}.pdf"
        written.append(write_private(target / file_name,
                                     render_filing(county, person_groups, template, name)))
        rows.writerow((file_name, subject, person_groups[0].name,
                       " | ".join(g.label for g in person_groups)))
    written.append(write_private(target / INDEX_NAME, index.getvalue().encode("utf-8")))
    return written

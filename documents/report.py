"""Impact reports: `report.html` and `report.pdf` per county, and the statewide
`report.html` at the top of the run folder.

Reports hold counts only, never a person's data. The HTML is self-contained: its
charts are data URIs and its style is inline, and its Content-Security-Policy lets it
load nothing else, so it opens the same with no network. County names come from the
research file, so they are clipped where they are laid out (`documents.clipping`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import NamedTuple
from xml.sax.saxutils import escape

import jinja2
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer

from engine import __version__
from documents import charts
from documents.clipping import clip_field
from documents.county_map import county_map
from documents.figures import DETERMINATIONS, CountyFigures, Relief, comparison_rows
from documents.files import WrittenFile, write_private
from documents.pdf import MARGIN, NumberedCanvas
from documents.report_table import fitted_table
from documents.source import RunOutputs

HTML_NAME = "report.html"
PDF_NAME = "report.pdf"

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("documents", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_environment.filters["clip_field"] = clip_field


class Totals(NamedTuple):
    """Statewide figures from the run's summary.json, each person counted once."""

    convictions: int
    dismissed: int
    reduced: int
    no_relief: int
    people: int
    people_relieved: int
    relief: Relief
    relief_dismiss_all: Relief

    @property
    def relieved(self) -> int:
        return self.dismissed + self.reduced


def statewide_totals(summary: dict) -> Totals:
    statewide = summary["statewide"]
    return Totals(
        convictions=statewide["convictionsDismissed"] + statewide["convictionsReduced"]
        + statewide["convictionsWithNoRelief"],
        dismissed=statewide["convictionsDismissed"],
        reduced=statewide["convictionsReduced"],
        no_relief=statewide["convictionsWithNoRelief"],
        people=statewide["subjectsWithProp64ConvictionCount"],
        people_relieved=statewide["subjectsWithSomeReliefCount"],
        relief=Relief.from_summary(statewide["reliefWithCurrentEligibilityChoices"]),
        relief_dismiss_all=Relief.from_summary(statewide["reliefWithDismissAllProp64"]),
    )


def _labels() -> list[str]:
    return [label for _, label in DETERMINATIONS]


def render_county_html(figures: CountyFigures, run_id: str) -> str:
    chart_uris = {
        "relief": charts.svg_data_uri(charts.relief_chart(figures)),
        "section": charts.svg_data_uri(charts.section_chart(figures)),
        "decade": charts.svg_data_uri(charts.decade_chart(figures)),
    }
    return _environment.get_template("county-report.html.j2").render(
        f=figures, comparison=comparison_rows(figures), charts=chart_uris, labels=_labels(),
        version=__version__, run_id=run_id)


_TITLE = ParagraphStyle("title", fontName="Helvetica-Bold", fontSize=18, leading=22, spaceAfter=6)
_HEADING = ParagraphStyle("heading", fontName="Helvetica-Bold", fontSize=12, leading=15,
                          spaceBefore=12, spaceAfter=4)
_BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=13, spaceAfter=4)
#: Padding inside the page frame on each side, in points. SimpleDocTemplate makes its
#: frame with reportlab's default padding of 6 points (reportlab 5.1).
_FRAME_PADDING = 6


def _image(figure, width: float) -> Image:
    image = Image(io.BytesIO(charts.png_bytes(figure)))
    # bbox_inches="tight" crops the figure, so the PNG's own proportions are kept.
    image.drawHeight = width * image.imageHeight / image.imageWidth
    image.drawWidth = width
    return image


def render_county_pdf(figures: CountyFigures, run_id: str) -> bytes:
    width = LETTER[0] - 2 * MARGIN - 2 * _FRAME_PADDING
    title = f"Prop 64 relief in {clip_field(figures.county.title(), 'county_name')} County"
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=LETTER, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN, title=title, creator="clearance")
    relief = figures.relief
    story = [
        Paragraph(escape(title), _TITLE),
        Paragraph(f"Eligibility judged on {figures.compute_at.isoformat()}. "
                  f"{figures.relieved:,} of {figures.convictions:,} convictions are dismissed and "
                  f"sealed or redesignated, for {figures.people_relieved:,} of {figures.people:,} "
                  f"people. {relief.no_felony:,} people no longer have a felony, "
                  f"{relief.no_conviction:,} no longer have any conviction, and "
                  f"{relief.no_conviction_last_7_years:,} no longer have a conviction in the last "
                  "7 years.", _BODY),
        Paragraph("County policy and the dismiss-all what-if", _HEADING),
        fitted_table([["Figure", "County policy", "Dismiss all Prop 64"]]
                     + [list(row) for row in comparison_rows(figures)], width),
        _image(charts.relief_chart(figures), width * 0.85),
        Paragraph("Decisions by section", _HEADING),
        fitted_table([["Section", *_labels(), "All"]]
                     + [[f"HS {section}", *counts.values(), sum(counts.values())]
                        for section, counts in figures.by_section.items()], width),
        _image(charts.section_chart(figures), width * 0.85),
        Paragraph("Decisions by decade of disposition", _HEADING),
        fitted_table([["Decade", *_labels(), "All"]]
                     + [[decade, *counts.values(), sum(counts.values())]
                        for decade, counts in figures.by_decade.items()], width),
        _image(charts.decade_chart(figures), width * 0.85),
        Spacer(1, 8),
        Paragraph(f"Written by Clearance {__version__} from run {run_id}.", _BODY),
    ]
    document.build(story, canvasmaker=NumberedCanvas)
    return buffer.getvalue()


def write_county_reports(figures: CountyFigures, folder: Path, run_id: str) -> list[WrittenFile]:
    """Write the county's `report.html` and `report.pdf` into its folder."""
    return [
        write_private(folder / HTML_NAME, render_county_html(figures, run_id).encode("utf-8")),
        write_private(folder / PDF_NAME, render_county_pdf(figures, run_id)),
    ]


def render_statewide_html(run: RunOutputs, counties: list[CountyFigures], run_id: str) -> str:
    relieved = {c.county: c.relieved for c in counties}
    map_figure = county_map(relieved)
    chart_uris = {
        "ranking": charts.svg_data_uri(charts.ranking_chart(relieved)),
        # A PNG, because the county outlines as SVG paths weigh about a megabyte.
        "map": charts.png_data_uri(map_figure) if map_figure is not None else None,
    }
    return _environment.get_template("statewide-report.html.j2").render(
        counties=counties, total=statewide_totals(run.summary), charts=chart_uris,
        compute_at=run.compute_at.isoformat(), version=__version__, run_id=run_id)


def write_statewide_report(run: RunOutputs, counties: list[CountyFigures], run_id: str) -> WrittenFile:
    """Write `report.html` at the top of the run folder."""
    return write_private(run.out / HTML_NAME,
                         render_statewide_html(run, counties, run_id).encode("utf-8"))

"""Tables of the PDF impact report, with column widths fitted to the page frame.

A table's first column contains row labels and the other columns hold counts. Headers are
paragraphs that wrap between words, so a long determination such as "Maybe eligible,
flagged for review" takes several lines instead of running into its neighbours.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph, Table, TableStyle

#: Font sizes in points, tried from the largest until the table fits the frame.
FONT_SIZES = (9, 8, 7, 6)
HEADER_FONT = "Helvetica-Bold"
BODY_FONT = "Helvetica"
#: Space on each side of a cell's text, in points, the same as reportlab's default.
PADDING = 6
# Points added to each minimum width, so that a rounding difference between stringWidth
# and reportlab's line breaking does not push text that just fits past a column's edge.
_SLACK = 1


def _cell_text(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _minimum_widths(rows: list[list[str]], size: float) -> list[float]:
    """Return each column's minimum width in points at font size `size`.

    A header needs room for its widest word, because it wraps between words. A body
    cell is drawn on one line, so it needs room for its whole text.
    """
    widths = []
    for column in range(len(rows[0])):
        header_words = rows[0][column].split()
        widest = max(stringWidth(word, HEADER_FONT, size) for word in header_words)
        for row in rows[1:]:
            widest = max(widest, stringWidth(row[column], BODY_FONT, size))
        widths.append(widest + 2 * PADDING + _SLACK)
    return widths


def _header_lines(title: str, column_width: float, size: float) -> int:
    return len(simpleSplit(title, HEADER_FONT, size, column_width - 2 * PADDING))


def _width_for_fewer_lines(title: str, column_width: float, size: float) -> float:
    """Return the smallest column width at which `title` wraps onto fewer lines than at
    `column_width`. Each line of a wrapped header is a run of its words, so the width
    is one of those runs' widths."""
    lines = _header_lines(title, column_width, size)
    words = title.split()
    runs = sorted(stringWidth(" ".join(words[first:last]), HEADER_FONT, size) + 2 * PADDING + _SLACK
                  for first in range(len(words)) for last in range(first + 1, len(words) + 1))
    return next(width for width in runs
                if width > column_width and _header_lines(title, width, size) < lines)


def _column_widths(rows: list[list[str]], size: float, frame_width: float) -> list[float] | None:
    """Return column widths at font size `size` that fill `frame_width`, or None when the
    columns' minimum widths exceed it.

    The label column gets its minimum width. The space left over goes first to the count
    columns with the tallest headers, as long as it lets all of them wrap onto one line
    fewer, so that the header row takes fewer lines. The rest makes the count columns
    equally wide where it can, and is otherwise shared equally among them.
    """
    minimums = _minimum_widths(rows, size)
    if sum(minimums) > frame_width:
        return None

    label_width, count_widths = minimums[0], minimums[1:]
    titles = rows[0][1:]
    while True:
        lines = [_header_lines(title, width, size) for title, width in zip(titles, count_widths)]
        tallest = max(lines)
        if tallest == 1:
            break
        wider = [_width_for_fewer_lines(title, width, size) if height == tallest else width
                 for title, width, height in zip(titles, count_widths, lines)]
        if label_width + sum(wider) > frame_width:
            break
        count_widths = wider

    equal = (frame_width - label_width) / len(count_widths)
    if equal >= max(count_widths):
        return [label_width] + [equal] * len(count_widths)
    spare = frame_width - label_width - sum(count_widths)
    return [label_width] + [width + spare / len(count_widths) for width in count_widths]


def fitted_table(rows: list[list], frame_width: float) -> Table:
    """Build a table of a header row and rows of a label and counts, as wide as the frame.

    The font is the largest of FONT_SIZES at which every header word and every cell
    fits its column. Counts are written with thousands separators.

    Raises
    ------
    ValueError
        When the table does not fit even at the smallest font size. In the report's
        tables by section and by decade, on a letter page, that takes counts of 12
        digits in every column.
    """
    text = [[_cell_text(value) for value in row] for row in rows]
    for size in FONT_SIZES:
        widths = _column_widths(text, size, frame_width)
        if widths is not None:
            break
    else:
        need = sum(_minimum_widths(text, FONT_SIZES[-1]))
        raise ValueError(
            f"report table {text[0]} is {need:.0f} points wide at a font size of "
            f"{FONT_SIZES[-1]} points, wider than the page frame of {frame_width:.0f} points")

    label_style = ParagraphStyle("table-label", fontName=HEADER_FONT, fontSize=size,
                                 leading=size + 2, alignment=TA_LEFT)
    count_style = ParagraphStyle("table-count", parent=label_style, alignment=TA_RIGHT)
    header = [Paragraph(escape(title), label_style if column == 0 else count_style)
              for column, title in enumerate(text[0])]

    table = Table([header] + text[1:], colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 1), (-1, -1), BODY_FONT, size),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        # Headers of one line line up with the last line of the wrapped ones.
        ("VALIGN", (0, 0), (-1, 0), "BOTTOM"),
        ("LEFTPADDING", (0, 0), (-1, -1), PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), PADDING),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E9EEF4")),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#C8D0DA")),
    ]))
    return table

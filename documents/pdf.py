"""Page margins and page numbering shared by the PDF documents."""

from __future__ import annotations

from reportlab.lib.units import inch
from reportlab.pdfgen import canvas as pdf_canvas

MARGIN = inch


class NumberedCanvas(pdf_canvas.Canvas):
    """A canvas that keeps every page until the end, to write "Page N of M" on each."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._page_states: list[dict] = []

    def showPage(self):
        self._page_states.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._page_states)
        for number, state in enumerate(self._page_states, 1):
            self.__dict__.update(state)
            width, _ = self._pagesize
            self.setFont("Times-Roman", 9)
            self.drawCentredString(width / 2, MARGIN / 2, f"Page {number} of {total}")
            super().showPage()
        super().save()

"""The layout of the California DOJ criminal-history research file.

One row is one count of one court or arrest step, repeated once per sentence part.
Rows have 95 comma-separated fields with double-quote quoting; a field never spans
lines. This module names the columns and splits lines into fields; it does not
interpret any value.
"""

from __future__ import annotations

import csv
import re

COLUMNS: tuple[str, ...] = (
    "RECORD_ID", "SUBJECT_STATUS", "SUBJECT_ID", "REQ_SEG_SEP", "REQ_CII_NUMBER",
    "REQ_NAME", "REQ_GENDER", "REQ_DOB", "REQ_CDL", "REQ_SSN", "PII_SEG_SEP",
    "CII_NUMBER", "PRI_NAME", "GENDER", "PRI_DOB", "PRI_SSN", "PRI_CDL", "PRI_IDN",
    "PRI_INN", "FBI_NUMBER", "PDR_SEG_SEP", "RACE_CODE", "RACE_DESCR",
    "EYE_COLOR_CODE", "EYE_COLOR_DESCR", "HAIR_COLOR_CODE", "HAIR_COLOR_DESCR",
    "HEIGHT", "WEIGHT", "SINGLE_SOURCE", "MULTI_SOURCE", "POB_CODE", "POB_NAME",
    "POB_TYPE", "CITIZENSHIP_LIST", "CYC_SEG_SEP", "CYC_ORDER", "CYC_DATE",
    "STP_SEG_SEP", "STP_ORDER", "STP_EVENT_DATE", "STP_TYPE_CODE", "STP_TYPE_DESCR",
    "STP_ORI_TYPE", "STP_ORI_TYPE_DESCR", "STP_ORI_CODE", "STP_ORI_DESCR",
    "STP_ORI_CNTY_CODE", "STP_ORI_CNTY_NAME", "CNT_SEG_SEP", "CNT_ORDER", "DISP_DATE",
    "OFN", "OFFENSE_CODE", "OFFENSE_DESCR", "OFFENSE_TOC", "OFFENSE_QUAL_LST",
    "DISP_OFFENSE_CODE", "DISP_OFFENSE_DESCR", "DISP_OFFENSE_TOC",
    "DISP_OFFENSE_QUAL_LST", "CONV_OFFENSE_ORDER", "CONV_OFFENSE_CODE",
    "CONV_OFFENSE_DESCR", "CONV_OFFENSE_TOC", "CONV_OFFENSE_QUAL_LST", "FE_NUM_ORDER",
    "FE_NUM_ARR_AGY", "FE_NUM_BNCH_WARR", "FE_NUM_CITE", "FE_NUM_DOCKET",
    "FE_NUM_INCIDENT", "FE_NUM_BOOKING", "FE_NUM_NUMBER", "FE_NUM_REMAND",
    "FE_NUM_OOS_INN", "FE_NUM_CRT_CASE", "FE_NUM_WARRANT", "DISP_ORDER", "DISP_CODE",
    "DISP_DESCR", "CONV_STAT_CODE", "CONV_STAT_DESCR", "SENT_SEG_SEP", "SENT_ORDER",
    "SENT_LOC_CODE", "SENT_LOC_DESCR", "SENT_LENGTH", "SENT_TIME_CODE",
    "SENT_TIME_DESCR", "CYC_AGE", "CII_TYPE", "CII_TYPE_ALPHA", "COMMENT_TEXT",
    "END_OF_REC",
)
FIELD_COUNT = len(COLUMNS)
INDEX: dict[str, int] = {name: i for i, name in enumerate(COLUMNS)}

SUBJECT_ID = INDEX["SUBJECT_ID"]
CII_NUMBER = INDEX["CII_NUMBER"]
PRI_NAME = INDEX["PRI_NAME"]
PRI_DOB = INDEX["PRI_DOB"]
STP_EVENT_DATE = INDEX["STP_EVENT_DATE"]
STP_TYPE_DESCR = INDEX["STP_TYPE_DESCR"]
STP_ORI_CNTY_NAME = INDEX["STP_ORI_CNTY_NAME"]
CNT_ORDER = INDEX["CNT_ORDER"]
OFN = INDEX["OFN"]
OFFENSE_DESCR = INDEX["OFFENSE_DESCR"]
OFFENSE_TOC = INDEX["OFFENSE_TOC"]
DISP_DESCR = INDEX["DISP_DESCR"]
CONV_STAT_DESCR = INDEX["CONV_STAT_DESCR"]
SENT_LOC_DESCR = INDEX["SENT_LOC_DESCR"]
SENT_LENGTH = INDEX["SENT_LENGTH"]
SENT_TIME_CODE = INDEX["SENT_TIME_CODE"]
COMMENT_TEXT = INDEX["COMMENT_TEXT"]

#: The columns the engine reads from a row to build histories and decide. A reader
#: that loads only some columns (`engine.columnar`) loads these, and leaves None in
#: the others, so that code reading any other column fails loudly there.
DECISION_COLUMNS: tuple[str, ...] = (
    "SUBJECT_ID", "CII_NUMBER", "PRI_NAME", "PRI_DOB", "STP_EVENT_DATE", "STP_TYPE_DESCR",
    "STP_ORI_CNTY_NAME", "CNT_ORDER", "OFN", "OFFENSE_DESCR", "OFFENSE_TOC", "DISP_DESCR",
    "CONV_STAT_DESCR", "SENT_LOC_DESCR", "SENT_LENGTH", "SENT_TIME_CODE", "COMMENT_TEXT",
)

#: The input columns that `All_Results_Condensed.csv` keeps, in output order.
CONDENSED_COLUMNS: tuple[str, ...] = (
    "CII_NUMBER", "PRI_NAME", "GENDER", "PRI_DOB", "RACE_DESCR", "CYC_DATE",
    "STP_EVENT_DATE", "STP_ORI_DESCR", "STP_ORI_CNTY_NAME", "DISP_DATE", "OFN",
    "OFFENSE_DESCR", "DISP_DESCR", "CONV_STAT_DESCR", "SENT_LOC_DESCR", "SENT_LENGTH",
    "SENT_TIME_CODE", "CYC_AGE", "COMMENT_TEXT", "END_OF_REC",
)
CONDENSED_INDEXES: tuple[int, ...] = tuple(INDEX[name] for name in CONDENSED_COLUMNS)

#: A CNT_ORDER shorter than this has no cycle-and-step prefix, so its row is set aside.
MIN_CNT_ORDER_LENGTH = 6

_BOM = b"\xef\xbb\xbf"

#: Trimmed before a value is judged: ASCII white space and the Latin-1 non-breaking space.
TRIM = b" \t\r\n\x0b\x0c\xa0"


class BadRow(ValueError):
    """A line that cannot be read as a row; the message names the field, never a value."""


def is_header(line: bytes) -> bool:
    """Return whether a first line is a header: it begins with RECORD_ID, after a BOM.

    A line holding a carriage return is never a header: a file whose lines end in a
    bare CR reads as one long line, which must be set aside rather than skipped.
    """
    if line.startswith(_BOM):
        line = line[len(_BOM):]
    return line.startswith(b"RECORD_ID") and b"\r" not in line


def split_fields(line: bytes) -> list[bytes]:
    """Split one line (without its line end) into its raw cells.

    Lines without a double quote, the vast majority, take the fast `bytes.split`.
    Lines with well-formed quoted fields (a quoted name holding a comma) are rejoined
    from that split; anything else goes through the csv module over a Latin-1 view
    of the bytes, which maps every byte to one character and back, so cells keep
    their exact bytes.

    Raises
    ------
    BadRow
        When a quote opened in the line is still open at its end.
    """
    if b'"' not in line:
        return line.split(b",")
    cells = _join_quoted(line)
    return cells if cells is not None else _split_with_csv(line)


def _join_quoted(line: bytes) -> list[bytes] | None:
    """Split a line whose quoted fields are well formed; None when in doubt.

    Splitting at quotes alternates text outside and inside quoted fields. Each
    outside run must meet its quotes at a comma or a line end; a doubled quote, text
    after a closing quote or an odd quote count leaves the line to the csv module.
    """
    segments = line.split(b'"')
    last = len(segments) - 1
    if last % 2:
        return None
    cells: list[bytes] = []
    for number, segment in enumerate(segments):
        if number % 2:
            cells.append(segment)
            continue
        pieces = segment.split(b",")
        start, end = 0, len(pieces)
        if number > 0:
            if pieces[0]:
                return None
            start = 1
        if number < last:
            if pieces[-1]:
                return None
            end -= 1
        if start > end:
            return None
        cells.extend(pieces[start:end])
    return cells


#: Stands in for a carriage return while the csv module reads a line. The Latin-1 view
#: holds only characters below 256, so this one never occurs in it.
_CARRIAGE_RETURN_STAND_IN = "\u0100"


def _split_with_csv(line: bytes) -> list[bytes]:
    # The csv module rejects a lone carriage return outside quotes as a line break.
    # The fast path keeps it as a character of its cell, and so does this one.
    text = line.decode("latin-1").replace("\r", _CARRIAGE_RETURN_STAND_IN)
    try:
        cells = next(csv.reader([text], strict=True))
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            raise BadRow("a quoted field is still open at the end of the line") from None
        # Other odd quoting (text after a closing quote) is kept, read as leniently as
        # spreadsheet programs read it.
        cells = next(csv.reader([text]))
    return [cell.replace(_CARRIAGE_RETURN_STAND_IN, "\r").encode("latin-1") for cell in cells]


def check_row(cells: list[bytes]) -> None:
    """Raise `BadRow` unless the cells form a row that can be decided."""
    if len(cells) != FIELD_COUNT:
        noun = "field" if len(cells) == 1 else "fields"
        raise BadRow(f"row has {len(cells)} {noun}; expected {FIELD_COUNT}")
    if not cells[SUBJECT_ID].strip(TRIM):
        raise BadRow("SUBJECT_ID is blank")
    if len(cells[CNT_ORDER].strip(TRIM)) < MIN_CNT_ORDER_LENGTH:
        raise BadRow(f"CNT_ORDER is shorter than {MIN_CNT_ORDER_LENGTH} characters")


def quote_cell(cell: bytes) -> bytes:
    """Quote one cell for CSV output when it contains a comma, quote or line break."""
    if b'"' in cell:
        return b'"' + cell.replace(b'"', b'""') + b'"'
    if b"," in cell or b"\n" in cell or b"\r" in cell:
        return b'"' + cell + b'"'
    return cell


#: Characters that make a cell need quotes in CSV output (`quote_cell`).
_NEEDS_QUOTES = re.compile(rb'[",\n\r]')


def join_cells(cells) -> bytes:
    """Join raw cells into one CSV line body (no line end), quoting where needed."""
    # One regular-expression search per cell costs less than a call of quote_cell,
    # and most cells need no quotes.
    needs_quotes = _NEEDS_QUOTES.search
    return b",".join([quote_cell(cell) if needs_quotes(cell) else cell for cell in cells])


def decode_text(value: bytes) -> str:
    """Decode a cell as UTF-8, or as Latin-1 when it is not valid UTF-8."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")

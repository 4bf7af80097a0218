"""A light first look at one research-file line.

Most rows belong to people with no Prop 64 charge, and for those the run needs only
the row's validity, its SUBJECT_ID, its county and whether it could be a Prop 64
conviction. This module reads those from lines of a simple shape with a
few C-level `bytes` calls: no quote, or one quoted field (a `"LAST,FIRST M"` name)
standing whole between two commas. Every other line returns None and goes to the
row-by-row reader in `engine.layout`, which applies the same rules to any shape.
"""

from __future__ import annotations

from engine import layout

SEPARATORS = layout.FIELD_COUNT - 1
_SUBJECT = layout.SUBJECT_ID
_COUNTY = layout.STP_ORI_CNTY_NAME
_CNT_ORDER = layout.CNT_ORDER
_OFFENSE = layout.OFFENSE_DESCR
_COMMENT = layout.COMMENT_TEXT
_DISPOSITION = layout.DISP_DESCR
_TRIM = layout.TRIM
_MIN_CNT_ORDER = layout.MIN_CNT_ORDER_LENGTH


def names_prop64(value: bytes) -> bool:
    """Return whether a charge cell could name a Prop 64 section (11357-11360)."""
    return b"1135" in value or b"11360" in value


def is_conviction(disposition: bytes) -> bool:
    """Return whether a DISP_DESCR cell records a conviction."""
    return disposition.lstrip(_TRIM)[:9].upper() == b"CONVICTED"


def might_be_prop64_conviction(offense: bytes, comment: bytes, disposition: bytes) -> bool:
    """Return whether a row could be a Prop 64 conviction: a conviction whose charge
    fields name 11357-11360. Only persons with such a row have anything to decide."""
    return (names_prop64(offense) or names_prop64(comment)) and is_conviction(disposition)


def light_row(line: bytes) -> tuple[bytes, bytes, bool] | None:
    """Return `(subject, county_cell, might_be_prop64_conviction)` of a valid simple line.

    Returns None for a line of any other shape, or one that is not a valid row. The
    row-by-row reader then decides that line and gives the reason.
    """
    quotes = line.count(b'"')
    parts = line.split(b",")
    if quotes == 0:
        if len(parts) != layout.FIELD_COUNT:
            return None
        shift = 0
        quoted_field = layout.FIELD_COUNT
    elif quotes == 2:
        opening = line.index(b'"')
        closing = line.index(b'"', opening + 1)
        if (opening and line[opening - 1] != 44) or (closing + 1 < len(line) and line[closing + 1] != 44):
            return None
        quoted_field = line.count(b",", 0, opening)
        shift = line.count(b",", opening, closing)
        if len(parts) - shift != layout.FIELD_COUNT or not _SUBJECT < quoted_field < _CNT_ORDER:
            return None
    else:
        return None

    subject = parts[_SUBJECT].strip(_TRIM)
    if not subject or len(parts[_CNT_ORDER + shift].strip(_TRIM)) < _MIN_CNT_ORDER:
        return None
    might_be_prop64 = might_be_prop64_conviction(
        parts[_OFFENSE + shift], parts[_COMMENT + shift], parts[_DISPOSITION + shift])
    return subject, parts[_COUNTY + shift], might_be_prop64

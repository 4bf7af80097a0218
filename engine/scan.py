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


#: Levels of `prop64_level`: no Prop 64 charge, a Prop 64 charge that is not a
#: conviction (an arrest, a dismissal), and a possible Prop 64 conviction.
NO_PROP64, PROP64_CHARGE, PROP64_CONVICTION = 0, 1, 2


def prop64_level(offense: bytes, comment: bytes, disposition: bytes) -> int:
    """Return how a row could bear on Prop 64, from its charge fields and disposition.

    Only persons with a possible Prop 64 conviction have a conviction to decide, unless
    the policy decides possible plea bargains, where any Prop 64 charge counts.
    """
    if not (names_prop64(offense) or names_prop64(comment)):
        return NO_PROP64
    return PROP64_CONVICTION if is_conviction(disposition) else PROP64_CHARGE


def light_row(line: bytes) -> tuple[bytes, bytes, int] | None:
    """Return `(subject, county_cell, prop64_level)` of a valid simple line.

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
        # Only a quoted field between SUBJECT_ID and the county leaves every cell read
        # here at one offset. A quoted county would keep its quotes in `parts`.
        if len(parts) - shift != layout.FIELD_COUNT or not _SUBJECT < quoted_field < _COUNTY:
            return None
    else:
        return None

    subject = parts[_SUBJECT].strip(_TRIM)
    if not subject or len(parts[_CNT_ORDER + shift].strip(_TRIM)) < _MIN_CNT_ORDER:
        return None
    level = prop64_level(parts[_OFFENSE + shift], parts[_COMMENT + shift], parts[_DISPOSITION + shift])
    return subject, parts[_COUNTY + shift], level

"""Sentence parts of a conviction and the day its sentence ends.

A convicted count can carry several sentence parts (`SENT_LENGTH` with
`SENT_TIME_CODE` D days, M months, Y years), one per row of its CNT_ORDER. The
sentence ends at the disposition date plus the sum of its parts, counted in
calendar years, months and days.
"""

from __future__ import annotations

import datetime
from typing import Iterable

_TRIM = b" \t\r\n\x0b\x0c\xa0"
UNITS = ("D", "M", "Y")
#: Maximum length of a sentence part, in its own unit. A longer one is a typing error
#: or a life term, so the part is unreadable rather than a date past the year 9999.
MAX_LENGTH = 999


def parse_sentence_part(length: bytes, time_code: bytes) -> tuple[int, str] | None:
    """Read one sentence part as `(length, unit)`; None when it has no readable length.

    A fine or a part with a blank length has no duration. A length that is not a
    whole number, or a time code other than D, M or Y, is unreadable.
    """
    text = length.strip(_TRIM)
    unit = time_code.strip(_TRIM).upper().decode("latin-1")
    if not text or not text.isdigit() or unit not in UNITS:
        return None
    value = int(text)
    if value > MAX_LENGTH:
        return None
    return value, unit


def sentence_end(disposition_date: datetime.date, parts: Iterable[tuple[int, str]]) -> datetime.date:
    """Return the day a sentence ends: the disposition date plus the sum of its parts.

    Years and months move the calendar fields. A day that does not exist in the month
    reached runs on into the next month, so January 31 plus one month is March 3 (March
    2 in a leap year) and February 29 plus one year is March 1. Days are added last.
    This is the same arithmetic as `engine.dates.add_years`.
    """
    years = months = days = 0
    for length, unit in parts:
        if unit == "Y":
            years += length
        elif unit == "M":
            months += length
        elif unit == "D":
            days += length
        else:
            raise ValueError(f"invalid sentence unit {unit!r}; expected D, M or Y")

    month_index = disposition_date.month - 1 + months
    year = disposition_date.year + years + month_index // 12
    month = month_index % 12 + 1
    first_of_month = datetime.date(year, month, 1)
    return first_of_month + datetime.timedelta(days=disposition_date.day - 1 + days)

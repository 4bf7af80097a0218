"""Dates of the research file and the calendar arithmetic of the policy and of sentences.

Research-file dates are `YYYYMMDD`. A blank, all-zero or impossible date means
"unknown" and is returned as None, never as year 1 or 1900.
"""

from __future__ import annotations

import calendar
import datetime
from functools import lru_cache
from typing import Iterable

_TRIM = b" \t\r\n\x0b\x0c\xa0"
MIN_YEAR, MAX_YEAR = 1800, 2199


@lru_cache(maxsize=65536)
def parse_date(raw: bytes) -> datetime.date | None:
    """Parse a `YYYYMMDD` cell, padded or not, into a date; None when unknown."""
    text = raw.strip(_TRIM)
    if len(text) != 8 or not text.isdigit():
        return None
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
    # Outside these years a date is a typing error, and later years would not fit
    # the nanosecond timestamps of the Parquet decisions.
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def add_years(date: datetime.date, years: int) -> datetime.date:
    """Move a date by whole calendar years; February 29 lands on March 1 in a common year."""
    try:
        return date.replace(year=date.year + years)
    except ValueError:
        return datetime.date(date.year + years, 3, 1)



def birthday(birth_date: datetime.date, age: int) -> datetime.date:
    """Return the day a person born on `birth_date` turns `age`."""
    return add_years(birth_date, age)


def years_between(earlier: datetime.date, later: datetime.date) -> float:
    """Return the days from `earlier` to `later` divided by 365.25 (negative if reversed)."""
    return (later - earlier).days / 365.25


def format_years(value: float) -> str:
    """Format a year count with one decimal, as the bundle's year columns are written."""
    return f"{value:.1f}"

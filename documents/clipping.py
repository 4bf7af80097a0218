"""Clipping of the row values that documents lay out.

The reader keeps a row of 95 fields whatever the length of a cell, so a name or an
offense can be megabytes long. With such a cell, reportlab 5.1 did not finish a court
filing within 15 minutes on a 2-core machine, and an Excel cell can contain at most
32,767 characters. Every document therefore shows at most a fixed number of characters
of each field, and ends a clipped value with a mark that gives the original length and
where the whole value is.

Only what is laid out is clipped. The run's CSV files and its `decisions/` dataset keep
every value whole, and so do `doj-update.csv` and `court-filings/index.csv`, because
programs read them.
"""

from __future__ import annotations

#: Maximum characters shown of each decisions column. Each is several times the longest
#: value in the DOJ's sample extracts (16 characters for a name, 37 for an offense), so
#: real values should never be clipped, though that is an estimate.
MAX_CHARS = {
    "subject": 40,
    "name": 100,
    "cii_number": 40,
    "county_name": 60,
    "cnt_order": 40,
    "case_numbers": 300,
    "code_section": 200,
    # A trail lists every rule of the policy that was tried, so it is much longer.
    "trail": 10_000,
}
#: Maximum for any other text, such as the reason a policy gives.
DEFAULT_MAX_CHARS = 1_000


def clip_text(text: str, max_chars: int) -> str:
    """Return `text` if it has at most `max_chars` characters, else its first
    `max_chars` characters, less trailing white space, and a mark with the original length."""
    if len(text) <= max_chars:
        return text
    prefix = text[:max_chars].rstrip()
    return f"{prefix} … [cut from {len(text):,} characters; full text in decisions/]"


def clip_field(text: str, column: str) -> str:
    """Clip a value of the decisions column `column` to that column's maximum."""
    return clip_text(text, MAX_CHARS.get(column, DEFAULT_MAX_CHARS))

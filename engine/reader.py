"""Reading a block of research-file bytes into rows, setting bad rows aside.

A row is set aside, with its line number and the reason, when it does not have 95
fields, has no SUBJECT_ID, has a CNT_ORDER shorter than 6 characters, or leaves a
quote open. Blank lines are skipped and are not rows. Every other row is kept.
"""

from __future__ import annotations

from typing import Iterable, Iterator, NamedTuple

from engine import layout
from engine.scan import light_row, prop64_level

#: Bits of a row key below the shard number: the line number within the shard.
LINE_BITS = 32


class RejectedRow(NamedTuple):
    """A line set aside; `line` counts within its shard from 1."""

    line: int
    reason: str
    raw: bytes


class ReadStats:
    """Counts of one block: rows read (header and blank lines excluded) and lines seen."""

    __slots__ = ("rows", "lines", "header", "blank")

    def __init__(self):
        self.rows = 0
        self.lines = 0
        self.header = False
        self.blank = 0


def row_key(shard: int, line: int) -> int:
    """Return the sort key of a row: shards in input order, then lines within a shard."""
    return (shard << LINE_BITS) | line


def key_shard(key: int) -> int:
    """Return the shard number of a row key."""
    return key >> LINE_BITS


def split_lines(data: bytes) -> list[bytes]:
    """Split a block of whole lines into lines without their `\n`."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def iter_rows(
    lines: Iterable[bytes], shard: int, stats: ReadStats, rejected: list[RejectedRow],
    header_allowed: bool,
) -> Iterator[tuple[int, bytes, list[bytes]]]:
    """Yield `(key, raw_line, cells)` for each kept row of a shard's lines.

    Lines may keep their `\n` or `\r\n`. Set-aside rows go to `rejected`; `stats`
    counts rows and lines. The first line is taken as a header only when
    `header_allowed` (the shard starts its file).
    """
    number = 0
    for number, line in enumerate(lines, 1):
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        if number == 1 and header_allowed and layout.is_header(line):
            stats.header = True
            continue
        cells = _read_cells(line, number, stats, rejected)
        if cells is not None:
            yield row_key(shard, number), line, cells
    stats.lines = number


def _read_cells(line: bytes, number: int, stats: ReadStats,
                rejected: list[RejectedRow]) -> list[bytes] | None:
    """Split and check one line; count it, and return None for a blank or set-aside line."""
    if not line.strip():
        stats.blank += 1
        return None
    stats.rows += 1
    try:
        cells = layout.split_fields(line)
        layout.check_row(cells)
    except layout.BadRow as error:
        rejected.append(RejectedRow(number, str(error), line))
        return None
    return cells


def read_block(
    data: bytes, shard: int, stats: ReadStats, rejected: list[RejectedRow],
    header_allowed: bool,
) -> Iterator[tuple[int, bytes, bytes, bytes, int]]:
    """Yield `(key, raw_line, subject, county_cell, prop64_level)` for each kept row.

    The same rows as `iter_rows`, set aside for the same reasons, but a line of a
    simple shape is read without splitting out every field (`engine.scan`).
    """
    lines = split_lines(data)
    stats.lines = len(lines)

    for number, line in enumerate(lines, 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if number == 1 and header_allowed and layout.is_header(line):
            stats.header = True
            continue
        light = light_row(line)
        if light is not None:
            stats.rows += 1
            yield row_key(shard, number), line, light[0], light[1], light[2]
            continue
        cells = _read_cells(line, number, stats, rejected)
        if cells is not None:
            yield (row_key(shard, number), line, cells[layout.SUBJECT_ID].strip(layout.TRIM),
                   cells[layout.STP_ORI_CNTY_NAME], row_prop64_level(cells))


def row_prop64_level(cells: list[bytes]) -> int:
    """Return how a row could bear on Prop 64 (`engine.scan.prop64_level`)."""
    return prop64_level(cells[layout.OFFENSE_DESCR], cells[layout.COMMENT_TEXT], cells[layout.DISP_DESCR])

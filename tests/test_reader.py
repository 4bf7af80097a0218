"""The vectorised block reader must keep and set aside exactly what the line reader does."""

from __future__ import annotations

import sys

from hypothesis import given, settings, strategies as st

from engine import layout
from engine.batch import Settings, evaluate_block, evaluate_light
from engine.columnar import light_block
from engine.county_rules import DEFAULT_RULES
from engine.reader import ReadStats, iter_rows, read_block, row_prop64_level, split_lines
from tests.rows import COMPUTE_AT, all_cells, conviction_row, make_row


def read_both(data: bytes, header_allowed: bool = True):
    line_stats, line_rejected = ReadStats(), []
    by_line = [(key, raw, cells[layout.SUBJECT_ID].strip(layout.TRIM), cells[layout.STP_ORI_CNTY_NAME],
                row_prop64_level(cells))
               for key, raw, cells in iter_rows(split_lines(data), 3, line_stats, line_rejected, header_allowed)]
    block_stats, block_rejected = ReadStats(), []
    by_block = list(read_block(data, 3, block_stats, block_rejected, header_allowed))
    return (by_line, line_rejected, line_stats), (by_block, block_rejected, block_stats)


def assert_same(data: bytes) -> None:
    (line_rows, line_rejected, line_stats), (block_rows, block_rejected, block_stats) = read_both(data)
    assert block_rows == line_rows
    assert block_rejected == line_rejected
    assert (block_stats.rows, block_stats.lines, block_stats.blank, block_stats.header) == (
        line_stats.rows, line_stats.lines, line_stats.blank, line_stats.header)


PIECES = [b",", b'"', b"\r", b" ", b"\xa0", b"x", b"\n", b",,,,,,,,,,", b'"A,B"']


def test_quoted_name_row_read_fast():
    row = conviction_row()
    assert b'"' in row
    (line_rows, _, _), (block_rows, _, _) = read_both(row + b"\r\n" + row + b"\n")
    assert block_rows == line_rows
    assert len(block_rows) == 2


def test_quoted_county_read_alike():
    row = conviction_row(PRI_NAME=b"DOE JANE").replace(b",SAN JOAQUIN,", b',"SAN JOAQUIN",')
    assert row.count(b'"') == 2
    assert_same(row + b"\n")
    _, (rows, _, _) = read_both(row + b"\n")
    assert [county for _, _, _, county, _ in rows] == [b"SAN JOAQUIN"]


def test_quoted_field_after_county_read_alike():
    row = make_row(SUBJECT_ID=b"100", CNT_ORDER=b"101001001000", STP_ORI_CNTY_NAME=b"YOLO",
                   OFFENSE_DESCR=b"11357 HS", DISP_DESCR=b"CONVICTED")
    cells = layout.split_fields(row)
    cells[layout.STP_ORI_CNTY_NAME + 1] = b"A,B"
    line = layout.join_cells(cells)
    assert_same(line + b"\n")
    _, (rows, _, _) = read_both(line + b"\n")
    assert [county for _, _, _, county, _ in rows] == [b"YOLO"]


def test_carriage_return_inside_odd_line():
    odd = conviction_row().replace(b'"DOE,JANE Q"', b'"DOE,JANE Q"X\rY')
    assert_same(odd + b"\n")
    (_, rejected, _), _ = read_both(odd + b"\n")
    assert rejected == []


def test_header_blank_and_short_lines():
    header = b",".join(name.encode() for name in layout.COLUMNS) + b","
    data = header + b"\n\n   \n" + conviction_row() + b"\nshort,line\n"
    assert_same(data)
    _, (_, rejected, stats) = read_both(data)
    assert stats.header is True
    assert stats.blank == 2
    assert [r.line for r in rejected] == [5]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 400), st.sampled_from(PIECES)),
                max_size=12),
       st.integers(1, 4))
def test_mutated_rows_read_alike(edits, copies):
    assert_same(mutated_rows(edits, copies))


def mutated_rows(edits, copies: int) -> bytes:
    """Return `copies` conviction rows with each `(line, position, piece)` edit inserted."""
    lines = [bytearray(conviction_row(CNT_ORDER=b"10100100%d000" % n)) for n in range(copies)]
    for line_number, position, piece in edits:
        line = lines[line_number % len(lines)]
        line[position % (len(line) + 1):position % (len(line) + 1)] = piece
    return b"\n".join(bytes(line) for line in lines) + b"\n"


def test_bare_carriage_return_file_set_aside():
    header = b",".join(name.encode() for name in layout.COLUMNS)
    data = header + b"\r" + conviction_row() + b"\r" + conviction_row() + b"\r"
    _, (rows, rejected, stats) = read_both(data)
    assert stats.header is False
    assert rows == []
    assert len(rejected) == 1


def test_join_cells_quotes_only_where_needed():
    cells = [b"plain", b"DOE, JANE", b'said "no"', b"two\nlines", b"lone\rreturn", b""]
    assert layout.join_cells(cells) == b'plain,"DOE, JANE","said ""no""","two\nlines","lone\rreturn",'


def test_columnar_short_latin1_row_raises_nothing(monkeypatch):
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    good = conviction_row(PRI_NAME=b"NUNEZ, JOSE")
    short = layout.join_cells(layout.split_fields(conviction_row(PRI_NAME=b"N\xdaNEZ, JOS\xc9"))[:-1])

    assert light_block(good + b"\n" + short + b"\n", header_allowed=False) is None
    assert unraisable == []


def condensed_by_line(data: bytes) -> list[bytes]:
    """Join each line's condensed cells as the row-by-row path does."""
    return [layout.join_cells([layout.split_fields(line)[i] for i in layout.CONDENSED_INDEXES])
            for line in data.rstrip(b"\n").split(b"\n")]


def test_condensed_cells_quote_like_lines():
    rows = [
        conviction_row(),
        conviction_row(PRI_NAME=b"ROE", OFFENSE_DESCR=b"11357 HS").replace(b",11357 HS,", b',"11357 HS",'),
        conviction_row(PRI_NAME=b"N\xdaNEZ,JOS\xc9", GENDER=b"F", END_OF_REC=b"Z"),
        conviction_row(PRI_NAME=b"ROE", COMMENT_TEXT=b"SEE 11357, PRIOR"),
    ]
    assert rows[1].count(b'"') == 2
    data = b"\n".join(rows) + b"\n"
    block, _ = light_block(data, header_allowed=False, condensed=True)

    assert block.condensed_cells() == condensed_by_line(data)
    assert block.condensed_cells()[1].split(b",")[1:2] == [b"ROE"]
    assert b'"SEE 11357, PRIOR"' in block.condensed_cells()[3]


def test_condensed_cells_of_crlf_lines():
    data = conviction_row() + b"\r\n" + conviction_row(PRI_NAME=b"ROE") + b"\r\n"
    block, _ = light_block(data, header_allowed=False, condensed=True)
    assert block.condensed_cells() == condensed_by_line(data.replace(b"\r\n", b"\n"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 400), st.sampled_from(PIECES)),
                max_size=6),
       st.integers(1, 4))
def test_mutated_condensed_cells_alike(edits, copies):
    data = mutated_rows(edits, copies)
    light = light_block(data, header_allowed=False, condensed=True)
    if light is not None:
        assert light[0].condensed_cells() == condensed_by_line(data)


def test_block_bundle_lines_match_rows():
    rows = [
        conviction_row(),
        make_row(SUBJECT_ID=b"200", CNT_ORDER=b"101001001000", STP_ORI_CNTY_NAME=b"SAN JOAQUIN",
                 OFFENSE_DESCR=b"148 PC-RESIST", COMMENT_TEXT=b"11357(A) HS", DISP_DESCR=b"DISMISSED"),
        make_row(SUBJECT_ID=b"300", CNT_ORDER=b"101001001000", STP_ORI_CNTY_NAME=b"SAN JOAQUIN",
                 OFN=b"11357-A", OFFENSE_DESCR=b"148 PC-RESIST", DISP_DESCR=b"CONVICTED"),
    ]
    data = b"\n".join(rows) + b"\n"
    settings = Settings(COMPUTE_AT, DEFAULT_RULES, {}, frozenset({"san-joaquin"}), True)
    block, _ = light_block(data, header_allowed=False, condensed=True)

    by_block = evaluate_block(block, 0, settings)
    by_row = evaluate_light(read_block(data, 0, ReadStats(), [], False), settings)

    assert by_block.all_lines == by_row.all_lines
    assert by_block.condensed_lines == by_row.condensed_lines
    assert [cells["Possible Other P64 Charges"] for cells in all_cells(by_block)][1:] == [b"11357(A) HS", b""]

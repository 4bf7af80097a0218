"""Write the small research files of this folder, one per kind of bad or odd row.

Every value is made up. Each file starts with one well-formed Prop 64 conviction
row of its own subject, so that a file whose other rows are all set aside still
decides one row. `expected.json` lists, for each file, how many rows it has, which
lines are set aside and why, and how many rows are decided. Run this script from the
repository root to write the files again after changing it:

    .venv/bin/python tests/bad_rows/make_files.py
"""

from __future__ import annotations

import random
from pathlib import Path

from engine import layout

FOLDER = Path(__file__).resolve().parent


def row(subject: str = "90000001", **values: bytes) -> list[bytes]:
    """Return the 95 cells of a court conviction for HS 11357(A), with `values` replaced."""
    cells = [b""] * layout.FIELD_COUNT
    defaults = {
        "SUBJECT_ID": subject.encode(),
        "CII_NUMBER": b"A" + subject.encode(),
        "PRI_NAME": b'"TESTER,PAT Q"',
        "PRI_DOB": b"19800101",
        "STP_EVENT_DATE": b"20150601",
        "STP_TYPE_DESCR": b"COURT ACTION",
        "STP_ORI_CNTY_NAME": b"SAN JOAQUIN",
        "CNT_ORDER": b"101001002000",
        "OFN": b"CASE1001",
        "OFFENSE_DESCR": b"11357(A)HS-POSSESS MARIJUANA",
        "OFFENSE_TOC": b"M",
        "DISP_DESCR": b"CONVICTED",
        "CONV_STAT_DESCR": b"MISDEMEANOR",
    }
    defaults.update(values)
    for name, value in defaults.items():
        cells[layout.INDEX[name]] = value
    return cells


def line(cells: list[bytes]) -> bytes:
    # Cells are written as given, because a test value with a quote is already quoted.
    return b",".join(cells)


GOOD = line(row("90000000"))


def write(name: str, *lines: bytes, end: bytes = b"\n") -> None:
    (FOLDER / name).write_bytes(b"".join(item + end for item in (GOOD, *lines)))


def main() -> None:
    base = row()
    write("fields_94.csv", line(base[:-1]))
    write("fields_96.csv", line(base + [b"EXTRA"]))
    write("fields_many_counts.csv", b"ONLY-ONE-FIELD", line(base[:2]), line(base[:50]),
          line(base * 2))
    write("subject_blank.csv", line(row(SUBJECT_ID=b"")))
    write("subject_spaces.csv", line(row(SUBJECT_ID=b"    ")))
    write("cnt_order_blank.csv", line(row(CNT_ORDER=b"")))
    write("cnt_order_short.csv", line(row(CNT_ORDER=b"10100")), line(row(CNT_ORDER=b"  101   ")))
    write("quote_open.csv", line(row(PRI_NAME=b'"TESTER,PAT Q')))
    write("quote_text_after.csv", line(row(PRI_NAME=b'"TESTER,PAT Q"X')))
    # A line break inside a quoted name splits the row into two lines, each set aside.
    write("quote_newline_inside.csv", line(row(PRI_NAME=b'"TESTER\nPAT Q"')))
    write("nul_bytes.csv", line(row("90000002", PRI_NAME=b"TESTER\x00PAT")),
          line(row("90000003", PRI_NAME=b'"TES""TER,\x00PAT"', COMMENT_TEXT=b"\x00\x00")))
    write("latin1_name.csv", line(row("90000002", PRI_NAME=b'"MU\xd1OZ,JOS\xc9"')))
    write("invalid_utf8.csv", line(row("90000002", COMMENT_TEXT=b"\xff\xfe\xc3(\x80",
                                       OFN=b"\xe2\x82")))
    write("field_huge.csv", line(row("90000002", COMMENT_TEXT=b"X" * 100_000)))
    write("dates_impossible.csv",
          line(row("90000002", PRI_DOB=b"19800231", STP_EVENT_DATE=b"00000000")),
          line(row("90000003", PRI_DOB=b"99999999", STP_EVENT_DATE=b"2015134")),
          line(row("90000004", PRI_DOB=b"ABCDEFGH", STP_EVENT_DATE=b"17990101")))
    write("county_path.csv", line(row("90000002", STP_ORI_CNTY_NAME=b"../../x")))
    write("county_long.csv", line(row("90000002", STP_ORI_CNTY_NAME=b"A" * 10_000)))
    write("line_ends_and_blanks.csv", b"", line(row("90000002")), b"   \t", b"", end=b"\r\n")
    noise = random.Random(64).randbytes(4096)
    write("random_bytes.csv", *noise.split(b"\n"))


if __name__ == "__main__":
    main()

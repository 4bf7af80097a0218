"""Sentence parts and the calendar arithmetic of a sentence's end."""

from __future__ import annotations

import datetime

import pytest

from engine.sentences import parse_sentence_part, sentence_end
from tests.histories import History

D = datetime.date


@pytest.mark.parametrize("start,parts,end", [
    (D(2010, 1, 15), [], D(2010, 1, 15)),
    (D(2010, 1, 15), [(10, "D")], D(2010, 1, 25)),
    (D(2010, 1, 15), [(1, "M")], D(2010, 2, 15)),
    (D(2010, 1, 15), [(3, "Y")], D(2013, 1, 15)),
    (D(2010, 1, 15), [(1, "Y"), (6, "M"), (20, "D")], D(2011, 8, 4)),
    (D(2010, 11, 30), [(3, "M")], D(2011, 3, 2)),
    (D(2019, 1, 31), [(1, "M")], D(2019, 3, 3)),
    (D(2020, 1, 31), [(1, "M")], D(2020, 3, 2)),
    (D(2020, 2, 29), [(1, "Y")], D(2021, 3, 1)),
    (D(2020, 2, 29), [(4, "Y")], D(2024, 2, 29)),
    (D(2010, 12, 31), [(365, "D")], D(2011, 12, 31)),
    (D(2012, 1, 1), [(365, "D")], D(2012, 12, 31)),
    (D(2010, 5, 10), [(6, "M"), (6, "M")], D(2011, 5, 10)),
])
def test_sentence_end_calendar_arithmetic(start, parts, end):
    assert sentence_end(start, parts) == end


def test_sentence_end_year_is_not_366_days():
    # The earlier tool counted a year as 366 days and a month as 30.5.
    assert sentence_end(D(2011, 3, 1), [(1, "Y")]) == D(2012, 3, 1)
    assert sentence_end(D(2011, 3, 1), [(2, "M")]) == D(2011, 5, 1)


def test_sentence_end_rejects_unknown_unit():
    with pytest.raises(ValueError, match="invalid sentence unit 'W'"):
        sentence_end(D(2011, 3, 1), [(1, "W")])


@pytest.mark.parametrize("length,code,part", [
    (b"3", b"Y", (3, "Y")),
    (b" 18 ", b"m", (18, "M")),
    (b"045", b"D ", (45, "D")),
    (b"", b"", None),
    (b"", b"D", None),
    (b"X", b"D", None),
    (b"1.5", b"Y", None),
    (b"3", b"L", None),
    (b"1000", b"Y", None),
])
def test_parse_sentence_part(length, code, part):
    assert parse_sentence_part(length, code) == part


def test_sentence_parts_gather_every_row_of_count():
    history = History()
    cnt_order = history.conviction("11359 HS-POSSESS FOR SALE", "2015-01-10",
                                   sentence=((2, "Y"), (6, "M"), (30, "D")))
    conviction = history.case(cnt_order).conviction

    assert conviction.sentence_parts() == ([(2, "Y"), (6, "M"), (30, "D")], 0)


def test_sentence_parts_count_unreadable():
    history = History()
    cnt_order = history.conviction("11359 HS-POSSESS FOR SALE", "2015-01-10")
    history.row(cnt_order, "COURT ACTION", "2015-01-10", "11359 HS-POSSESS FOR SALE", "F",
                "CONVICTED", "FELONY", sentence=("LIFE", "Y"))
    conviction = history.case(cnt_order).conviction

    assert conviction.sentence_parts() == ([], 1)

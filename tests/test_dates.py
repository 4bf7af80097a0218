"""Research-file dates and the calendar arithmetic of the policy and of sentences."""

import datetime

import pytest

from engine.dates import add_years, birthday, parse_date
from engine.sentences import sentence_end

date = datetime.date


@pytest.mark.parametrize("raw", [
    b"", b"        ", b"00000000", b"20190230", b"20191301", b"20190001", b"00010101",
    b"2019011", b"201901011", b"2019-01-01", b"xxxxxxxx", b"  -  ",
], ids=["empty", "spaces", "all-zero", "feb-30", "month-13", "month-0", "year-1",
        "short", "long", "dashed", "filler-x", "filler-dash"])
def test_parse_date_unknown(raw):
    assert parse_date(raw) is None


@pytest.mark.parametrize("raw", [
    b"20190101", b" 20190101", b"20190101  ", b"\xa020190101\t",
], ids=["plain", "leading-space", "trailing-spaces", "nbsp-and-tab"])
def test_parse_date_padded(raw):
    assert parse_date(raw) == date(2019, 1, 1)


def test_parse_date_leap_day():
    assert parse_date(b"20200229") == date(2020, 2, 29)
    assert parse_date(b"20190229") is None


def test_add_years_from_leap_day():
    assert add_years(date(2020, 2, 29), -10) == date(2010, 3, 1)
    assert add_years(date(2020, 2, 29), 1) == date(2021, 3, 1)
    assert add_years(date(2020, 2, 29), 4) == date(2024, 2, 29)


def test_add_years_ordinary_day():
    assert add_years(date(2019, 11, 11), -7) == date(2012, 11, 11)


def test_birthday_of_leap_day_birth():
    assert birthday(date(2000, 2, 29), 21) == date(2021, 3, 1)


def test_under_21_boundary_day():
    born = date(1998, 11, 11)

    # Under 21 on a day means the 21st birthday falls after that day.
    assert birthday(born, 21) > date(2019, 11, 10)
    assert not birthday(born, 21) > date(2019, 11, 11)


def test_age_threshold_boundary_day():
    born = date(1962, 11, 11)

    # N or older on compute-at means the N-th birthday is on or before it.
    assert birthday(born, 57) <= date(2019, 11, 11)
    assert not birthday(born, 57) <= date(2019, 11, 10)


def test_sentence_end_units():
    assert sentence_end(date(2019, 1, 1), [(30, "D")]) == date(2019, 1, 31)
    assert sentence_end(date(2019, 1, 1), [(6, "M")]) == date(2019, 7, 1)
    assert sentence_end(date(2019, 1, 1), [(2, "Y")]) == date(2021, 1, 1)


def test_sentence_end_calendar_not_average():
    # A year of 366 days or a month of 30.5 days would land on another day.
    assert sentence_end(date(2019, 1, 1), [(1, "Y")]) == date(2020, 1, 1)
    assert sentence_end(date(2019, 2, 1), [(1, "M")]) == date(2019, 3, 1)


def test_sentence_end_sums_parts():
    parts = [(1, "Y"), (14, "M"), (3, "D"), (1, "D")]

    assert sentence_end(date(2019, 11, 30), parts) == date(2022, 2, 3)


def test_sentence_end_years_and_months_together():
    # Years and months move the calendar fields together: 2020-02-29 + 1 year 1 month
    # is 2021-03-29, whatever order the parts come in.
    assert sentence_end(date(2020, 2, 29), [(1, "M"), (1, "Y")]) == date(2021, 3, 29)


def test_sentence_end_missing_day_runs_on():
    # 2019-01-31 + 1 month has no February 31, so it runs on to March 3; + 1 day is March 4.
    assert sentence_end(date(2019, 1, 31), [(1, "D"), (1, "M")]) == date(2019, 3, 4)


def test_sentence_end_no_parts():
    assert sentence_end(date(2019, 1, 1), []) == date(2019, 1, 1)


def test_sentence_end_rejects_unknown_unit():
    with pytest.raises(ValueError, match="'W'"):
        sentence_end(date(2019, 1, 1), [(2, "W")])


def test_far_future_date_unknown():
    assert parse_date(b"99991231") is None
    assert parse_date(b"23000101") is None
    assert parse_date(b"21991231") == date(2199, 12, 31)

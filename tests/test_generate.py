"""Tests of the fabricated research-file generator, through `write_research_file`."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

import pytest

from engine import layout
from engine.counties import CALIFORNIA_COUNTIES
from engine.generate import FILLER, GenerateStats, write_research_file

SAMPLE_ROWS = 20_000
SAMPLE_SEED = 7

# A Prop 64 section number standing whole: not 11357.5, not part of a longer number.
PROP64_SECTION = re.compile(rb"(?<![\d.])(?:11357|11358|11359|11360)(?![\d.])")


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def read_rows(path: Path) -> list[list[bytes]]:
    """Split every data line of a file with a header into its cells."""
    return [layout.split_fields(line) for line in read_lines(path)[1:]]


def charge_text(cells: list[bytes]) -> bytes:
    """Return the charge of a row: OFFENSE_DESCR, or COMMENT_TEXT when it points there."""
    offense = cells[layout.OFFENSE_DESCR].strip()
    if not offense or offense.upper() == b"SEE COMMENT FOR CHARGE":
        return cells[layout.COMMENT_TEXT]
    return offense


def is_conviction(cells: list[bytes]) -> bool:
    return cells[layout.DISP_DESCR].strip().startswith(b"CONVICTED")


def rows_by_subject(rows: list[list[bytes]]) -> dict[bytes, list[list[bytes]]]:
    subjects: dict[bytes, list[list[bytes]]] = {}
    for cells in rows:
        subjects.setdefault(cells[layout.SUBJECT_ID], []).append(cells)
    return subjects


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, GenerateStats]:
    path = tmp_path_factory.mktemp("generate") / "sample.csv"
    stats = write_research_file(path, SAMPLE_ROWS, seed=SAMPLE_SEED)
    return path, stats


@pytest.fixture(scope="module")
def sample_rows(sample) -> list[list[bytes]]:
    path, _ = sample
    return read_rows(path)


def test_counties_are_58_sorted_names():
    assert len(CALIFORNIA_COUNTIES) == 58
    assert list(CALIFORNIA_COUNTIES) == sorted(CALIFORNIA_COUNTIES)
    assert len(set(CALIFORNIA_COUNTIES)) == 58
    assert "SAN LUIS OBISPO" in CALIFORNIA_COUNTIES


def test_same_seed_same_bytes(tmp_path):
    first = tmp_path / "first.csv"
    second = tmp_path / "second.csv"
    write_research_file(first, 2_000, seed=5)
    write_research_file(second, 2_000, seed=5)

    assert first.read_bytes() == second.read_bytes()


def test_different_seed_different_bytes(tmp_path):
    first = tmp_path / "first.csv"
    second = tmp_path / "second.csv"
    write_research_file(first, 2_000, seed=5)
    write_research_file(second, 2_000, seed=6)

    assert first.read_bytes() != second.read_bytes()


@pytest.mark.parametrize("rows", [0, 1, 7, 2_000])
def test_writes_exact_row_count(tmp_path, rows):
    path = tmp_path / "rows.csv"
    stats = write_research_file(path, rows, seed=1)

    assert len(read_lines(path)) == rows + 1
    assert stats.rows == rows


def test_header_is_column_names(sample):
    path, _ = sample
    header = read_lines(path)[0]

    assert layout.is_header(header)
    assert header.split(b",") == [name.encode("ascii") for name in layout.COLUMNS]


def test_without_header_only_rows(tmp_path):
    path = tmp_path / "no_header.csv"
    write_research_file(path, 50, seed=1, header=False)
    lines = read_lines(path)

    assert len(lines) == 50
    assert not layout.is_header(lines[0])


def test_stats_match_file(sample, sample_rows):
    path, stats = sample

    assert stats.bytes == path.stat().st_size
    assert stats.subjects == len(rows_by_subject(sample_rows))


def test_every_row_has_95_fields(sample_rows):
    field_counts = Counter(len(cells) for cells in sample_rows)

    assert field_counts == {95: SAMPLE_ROWS}


def test_every_row_passes_check_row(sample_rows):
    for line_number, cells in enumerate(sample_rows, start=2):
        try:
            layout.check_row(cells)
        except layout.BadRow as error:
            pytest.fail(f"line {line_number}: {error}")


def test_cnt_order_has_12_digits(sample_rows):
    lengths = Counter(len(cells[layout.CNT_ORDER]) for cells in sample_rows)

    assert lengths == {12: SAMPLE_ROWS}
    assert all(cells[layout.CNT_ORDER].isdigit() for cells in sample_rows)


def test_subject_ids_have_8_digits(sample_rows):
    subject_ids = {cells[layout.SUBJECT_ID] for cells in sample_rows}

    assert all(len(subject_id) == 8 for subject_id in subject_ids)
    assert all(subject_id.isdigit() for subject_id in subject_ids)


def test_all_counties_present(sample_rows):
    counties = Counter(cells[layout.STP_ORI_CNTY_NAME].decode("ascii") for cells in sample_rows)

    assert set(counties) == set(CALIFORNIA_COUNTIES)
    assert min(counties.values()) >= 100


def test_county_subset_only_those(tmp_path):
    path = tmp_path / "subset.csv"
    write_research_file(path, 3_000, counties=["yolo", " San Joaquin "], seed=2)
    counties = {cells[layout.STP_ORI_CNTY_NAME] for cells in read_rows(path)}

    assert counties == {b"YOLO", b"SAN JOAQUIN"}


def test_unknown_county_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown county 'ATLANTIS'"):
        write_research_file(tmp_path / "bad.csv", 10, counties=["ATLANTIS"])


def test_negative_rows_rejected(tmp_path):
    with pytest.raises(ValueError, match="rows must be 0 or more"):
        write_research_file(tmp_path / "bad.csv", -1)


def test_subject_rows_contiguous(sample_rows):
    seen: set[bytes] = set()
    previous = None
    for line_number, cells in enumerate(sample_rows, start=2):
        subject_id = cells[layout.SUBJECT_ID]
        if subject_id != previous:
            assert subject_id not in seen, f"line {line_number}: SUBJECT_ID {subject_id!r} appears again"
            seen.add(subject_id)
            previous = subject_id


def test_cnt_order_sorted_within_subject(sample_rows):
    for subject_id, rows in rows_by_subject(sample_rows).items():
        cnt_orders = [cells[layout.CNT_ORDER] for cells in rows]
        assert cnt_orders == sorted(cnt_orders), f"SUBJECT_ID {subject_id!r}"


def test_gzip_matches_plain(tmp_path):
    plain = tmp_path / "file.csv"
    compressed = tmp_path / "file.csv.gz"
    plain_stats = write_research_file(plain, 3_000, seed=4, filler=True)
    compressed_stats = write_research_file(compressed, 3_000, seed=4, filler=True)

    assert gzip.decompress(compressed.read_bytes()) == plain.read_bytes()
    assert compressed_stats == plain_stats


def test_gzip_same_seed_same_bytes(tmp_path):
    first = tmp_path / "first.csv.gz"
    second = tmp_path / "second.csv.gz"
    write_research_file(first, 500, seed=4)
    write_research_file(second, 500, seed=4)

    assert first.read_bytes() == second.read_bytes()


def test_filler_rows_average_size(tmp_path):
    path = tmp_path / "filler.csv"
    stats = write_research_file(path, 5_000, seed=3, filler=True, header=False)
    average = stats.bytes / stats.rows

    assert 600 <= average <= 1000


def test_filler_fills_unused_fields(tmp_path):
    filled = tmp_path / "filled.csv"
    plain = tmp_path / "plain.csv"
    write_research_file(filled, 100, seed=3, filler=True)
    write_research_file(plain, 100, seed=3, filler=False)
    filled_rows = read_rows(filled)
    plain_rows = read_rows(plain)
    record_id = layout.INDEX["RECORD_ID"]

    assert {cells[record_id] for cells in filled_rows} == {FILLER}
    assert {cells[record_id] for cells in plain_rows} == {b""}
    filled_cnt_orders = [cells[layout.CNT_ORDER] for cells in filled_rows]
    plain_cnt_orders = [cells[layout.CNT_ORDER] for cells in plain_rows]
    assert filled_cnt_orders == plain_cnt_orders


def test_prop64_conviction_share(sample_rows):
    subjects = rows_by_subject(sample_rows)
    with_prop64 = sum(
        any(is_conviction(cells) and PROP64_SECTION.search(charge_text(cells)) for cells in rows)
        for rows in subjects.values()
    )
    share = with_prop64 / len(subjects)

    assert 0.05 <= share <= 0.25


@pytest.mark.parametrize(
    "offense",
    [
        b"11357(C)HS-POSSESS MARIJUANA",
        b"11357B2 HS-POSSESS MARIJUANA ON SCHOOL GROUNDS",
        b"HS11360-SELL MARIJUANA",
        b"11359 PC-POSSESS MARIJUANA FOR SALE",
        b"11359HS-INTENT SELL CANNABIS",
        b"11357.5(A) HS-SELL SYNTHETIC CANNABINOID",
        b" 148 PC - RESISTING A PEACE OFFICER",
        b"SEE COMMENT FOR CHARGE",
        b"290 PC-REGISTRATION OF SEX OFFENDER",
    ],
)
def test_charge_spelling_present(sample_rows, offense):
    offenses = {cells[layout.OFFENSE_DESCR] for cells in sample_rows}

    assert offense in offenses


@pytest.mark.parametrize(
    "step_type", [b"ARREST/DETAINED/CITED", b"COURT ACTION", b"REGISTRATION", b"DECEASED"]
)
def test_step_type_present(sample_rows, step_type):
    step_types = {cells[layout.STP_TYPE_DESCR] for cells in sample_rows}

    assert step_type in step_types


def test_sentence_parts_repeat_cnt_order(sample_rows):
    repeats = Counter(
        (cells[layout.SUBJECT_ID], cells[layout.CNT_ORDER]) for cells in sample_rows if is_conviction(cells)
    )
    parts = Counter(repeats.values())

    assert parts[2] > 0
    assert parts[3] > 0
    assert max(parts) == 3


def test_some_subjects_span_counties(sample_rows):
    subjects = rows_by_subject(sample_rows)
    county_counts = [len({cells[layout.STP_ORI_CNTY_NAME] for cells in rows}) for rows in subjects.values()]

    assert max(county_counts) <= 3
    assert sum(count > 1 for count in county_counts) > 0


def test_unknown_birth_dates_occur(sample_rows):
    birth_dates = Counter(cells[layout.PRI_DOB] for cells in sample_rows)

    assert birth_dates[b""] > 0
    assert birth_dates[b"00000000"] > 0


def test_blank_court_date_occurs(sample_rows):
    blank = [
        cells for cells in sample_rows
        if cells[layout.STP_TYPE_DESCR] == b"COURT ACTION" and not cells[layout.STP_EVENT_DATE]
    ]

    assert len(blank) > 0


def test_latin1_names_not_utf8(sample_rows):
    names = {cells[layout.PRI_NAME] for cells in sample_rows}
    latin1_names = [name for name in names if not name.isascii()]

    assert len(latin1_names) > 0
    with pytest.raises(UnicodeDecodeError):
        latin1_names[0].decode("utf-8")


def test_dispositions_straddle_prop64_date(sample_rows):
    dates = [
        cells[layout.STP_EVENT_DATE] for cells in sample_rows
        if is_conviction(cells) and cells[layout.STP_EVENT_DATE]
    ]
    before = sum(date < b"20161109" for date in dates)

    assert before / len(dates) > 0.8
    assert before < len(dates)
    assert min(dates) >= b"19750101"
    assert max(dates) <= b"20191231"

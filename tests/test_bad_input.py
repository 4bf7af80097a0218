"""Property tests of the reader, the decision engine, the worker task and the policy
decoder on random and hostile input.

The invariant of every row test: nothing raises, and rows read = rows decided +
rows passed through + rows set aside. Set-aside reasons come from a fixed set of
messages, so they never quote a value.
"""

from __future__ import annotations

import datetime
import json
import re
import tempfile
from pathlib import Path

import fastparquet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.merge import assign_folders
from cluster.parts import read_part
from cluster.plan import Shard
from cluster.tasks import PARTS_FOLDER, decide_shard, decode_result, read_rejected
from engine import layout
from engine.batch import Settings, evaluate
from engine.charges import parse_sections
from engine.dates import parse_date
from engine.naming import MAX_FOLDER_LENGTH, county_folder
from engine.county_rules import DEFAULT_RULES
from engine.policy import CountyPolicy, PolicyError, decode_policy, encode_policy
from engine.reader import ReadStats, iter_rows, split_lines

COMPUTE_AT = datetime.date(2020, 1, 1)
ELIGIBILITY_COLUMNS = 18
REASONS = re.compile(
    r"row has \d+ fields?; expected 95"
    r"|SUBJECT_ID is blank"
    r"|CNT_ORDER is shorter than 6 characters"
    r"|a quoted field is still open at the end of the line")
FOLDER = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                max_examples=150)

SPECIAL_CELLS = [
    b"", b" ", b"   ", b"\x00", b"\x00\x00", b'"', b'""', b'"a,b"', b",", b"\r", b"\xff\xfe",
    b"\xa0", b"\xc3(", b"-", b"  -  ", b"../../x", b"..", b"/", b"x" * 300,
]
DATES = [b"19800101", b"20150601", b"19800231", b"00000000", b"99999999", b"2015134",
         b"ABCDEFGH", b"17990101", b"  20150601  ", b""]
CHARGES = [b"11357(A)HS-POSSESS MARIJUANA", b"11358 HS-CULTIVATE", b"11359 PC-SALE",
           b"HS11360-SELL", b"11357.5(A) HS-SYNTHETIC", b"664/187 PC", b"187(A) PC-MURDER",
           b"SEE COMMENT FOR CHARGE", b"", b"290 PC-REGISTRATION", b"11357B2 HS"]
COUNTIES = [b"SAN JOAQUIN", b"YOLO", b"../../x", b"A" * 10_000, b"", b"  ", b"\xd1APA",
            b"SAN\x00JOAQUIN", b"CONTRA  COSTA", b"decisions"]

raw_cells = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b""))
odd_cells = st.one_of(st.sampled_from(SPECIAL_CELLS), raw_cells)
huge_cells = st.builds(lambda size, byte: byte * size, st.integers(1_000, 120_000),
                       st.sampled_from([b"X", b"\x00", b",", b'"', b"\xff"]))


@st.composite
def research_rows(draw) -> list[bytes]:
    """Draw the cells of one row: realistic values in the fields the engine reads, odd
    values anywhere, and in some rows one flaw that gets the row set aside."""
    flaw = draw(st.sampled_from([None, None, None, None, "count", "subject", "cnt_order"]))

    cells = [b""] * layout.FIELD_COUNT
    cells[layout.SUBJECT_ID] = draw(
        st.sampled_from([b"", b" ", b"\t\xa0"]) if flaw == "subject"
        else st.sampled_from([b"1001", b"1002", b"1003", b"\x00", b" 1001 "]))
    cells[layout.CNT_ORDER] = draw(
        st.sampled_from([b"10100", b"", b"  101   "]) if flaw == "cnt_order"
        else st.sampled_from([b"101001002000", b"101001002001", b"102001001000", b"1010010020"]))

    cells[layout.STP_TYPE_DESCR] = draw(st.sampled_from(
        [b"COURT ACTION", b"COURT ACTION", b"ARREST/DETAINED/CITED", b"DECEASED", b"REGISTRATION", b""]))
    cells[layout.DISP_DESCR] = draw(st.sampled_from([b"CONVICTED", b" CONVICTED-JAIL", b"CONVICTED",
                                                     b"DISMISSED", b""]))
    cells[layout.CONV_STAT_DESCR] = draw(st.sampled_from([b"FELONY", b"MISDEMEANOR", b"", b"F   "]))
    cells[layout.OFFENSE_DESCR] = draw(st.sampled_from(CHARGES) if draw(st.integers(0, 3)) else raw_cells)
    cells[layout.COMMENT_TEXT] = draw(st.one_of(st.sampled_from(CHARGES), odd_cells))
    cells[layout.STP_ORI_CNTY_NAME] = draw(st.sampled_from(COUNTIES))
    cells[layout.PRI_DOB] = draw(st.sampled_from(DATES))
    cells[layout.STP_EVENT_DATE] = draw(st.sampled_from(DATES))
    cells[layout.SENT_LENGTH] = draw(st.sampled_from([b"90", b"", b"x", b"-1", b"999999999999"]))
    cells[layout.SENT_TIME_CODE] = draw(st.sampled_from([b"D", b"M", b"Y", b"", b"Q"]))

    protected = {layout.SUBJECT_ID, layout.CNT_ORDER}
    for index in draw(st.lists(st.integers(0, layout.FIELD_COUNT - 1), max_size=4)):
        if index not in protected:
            cells[index] = draw(st.one_of(odd_cells, huge_cells) if draw(st.booleans()) else odd_cells)

    if flaw == "count":
        count = draw(st.integers(0, 200).filter(lambda n: n != layout.FIELD_COUNT))
        cells = cells[:count] if count < len(cells) else cells + [b""] * (count - len(cells))
    return cells


def join_row(cells: list[bytes], quote_all: bool) -> bytes:
    if quote_all:
        return layout.join_cells(cells)
    return b",".join(cells)


lines = st.one_of(
    st.builds(join_row, research_rows(), st.booleans()),
    st.builds(join_row, research_rows(), st.just(True)),
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from([b"", b"   ", b"\r", b'"', b'"open,quote', b"RECORD_ID,SUBJECT_ID"]),
)


def settle(data: bytes, all_results: bool):
    """Read and decide a block; return the stats, the set-aside rows and the batch."""
    stats = ReadStats()
    rejected = []
    run_settings = Settings(COMPUTE_AT, DEFAULT_RULES, {}, None, all_results)
    batch = evaluate(iter_rows(split_lines(data), 0, stats, rejected, True), run_settings)
    return stats, rejected, batch


@SLOW
@given(st.lists(lines, max_size=30), st.sampled_from([b"\n", b"\r\n"]), st.booleans())
def test_rows_read_equal_rows_accounted(rows, end, all_results):
    stats, rejected, batch = settle(b"".join(row + end for row in rows), all_results)

    decided = sum(batch.decided_by_shard.values())
    passed = sum(batch.passed_by_shard.values())
    assert stats.rows == decided + passed + len(rejected)
    for row in rejected:
        assert REASONS.fullmatch(row.reason), row.reason
    if all_results:
        assert len(batch.all_lines) == decided + passed
        for _, line in batch.all_lines:
            assert len(layout.split_fields(line)) == layout.FIELD_COUNT + ELIGIBILITY_COLUMNS
        for _, line in batch.condensed_lines:
            assert len(layout.split_fields(line)) == len(layout.CONDENSED_COLUMNS) + ELIGIBILITY_COLUMNS
    for county, county_lines in batch.prop64_lines.items():
        for _, line in county_lines:
            assert len(layout.split_fields(line)) == layout.FIELD_COUNT + ELIGIBILITY_COLUMNS


@SLOW
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash_reader(data):
    stats, rejected, batch = settle(data, all_results=True)
    assert stats.rows == sum(batch.decided_by_shard.values()) + sum(batch.passed_by_shard.values()) \
        + len(rejected)


@settings(deadline=None, max_examples=25,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(lines, min_size=1, max_size=25), st.booleans())
def test_worker_task_on_hostile_file(rows, all_results):
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "input.csv"
        data = b"".join(row + b"\n" for row in rows)
        source.write_bytes(data)
        out = Path(folder) / "out"
        run_settings = Settings(COMPUTE_AT, DEFAULT_RULES, {}, None, all_results)
        shard = Shard(0, 0, str(source), 0, len(data))

        result = decode_result(decide_shard(shard, run_settings, str(out)))

        unit = out / PARTS_FOLDER / "s000000"
        rejected = read_rejected(unit / "rejected.msgpack")
        decided = sum(result.decided_by_shard.values())
        assert result.rows == decided + sum(result.passed_by_shard.values()) + result.rejected
        assert result.rejected == len(rejected)
        written = 0
        for name in result.prop64_parts.values():
            written += read_part(unit / name).count(b"\n")
        assert written == decided
        for relative in result.decision_parts:
            path = out / relative
            assert path.resolve().is_relative_to(out.resolve())
            frame = fastparquet.ParquetFile(str(path)).to_pandas()
            assert len(frame) > 0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.sampled_from(["../../x", "..", ".", "/", "\x00", "A" * 10_000,
                                                  "decisions", ".parts", "SAN JOAQUIN", "ÑAPA"]))
def test_county_folder_always_safe(county):
    folder = county_folder(county)
    assert FOLDER.fullmatch(folder), folder
    assert len(folder) <= MAX_FOLDER_LENGTH


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=20) | st.sampled_from(["decisions", "DECISIONS", "../x", "x"]),
                max_size=12, unique=True))
def test_assigned_folders_unique_and_safe(counties):
    folders = assign_folders(counties)
    assert len(set(folders.values())) == len(counties)
    for folder in folders.values():
        assert folder != "decisions"
        assert FOLDER.fullmatch(folder), folder


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_dates_and_sections_never_crash(raw):
    date = parse_date(raw)
    assert date is None or date.year >= 1800
    for section in parse_sections(raw):
        assert section.number[:1].isdigit()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=30), children, max_size=4),
    max_leaves=12)
POLICY_KEYS = ["baselineEligibility", "additionalRelief", "dismiss", "reduce",
               "subjectUnder21AtConviction", "subjectAgeThreshold", "yearsSinceConvictionThreshold",
               "yearsCrimeFreeThreshold", "subjectIsDeceased", "subjectHasOnlyProp64Charges",
               "subjectAgeThreshhold"]
policy_like = st.fixed_dictionaries({}, optional={
    "baselineEligibility": st.fixed_dictionaries({}, optional={
        "dismiss": st.lists(st.sampled_from(["11357", "11358", "11359", "11360", "11357.5", ""]), max_size=4)
        | json_values,
        "reduce": st.lists(st.sampled_from(["11357", "11358", "11359", "11360", 11360]), max_size=4),
    }) | json_values,
    "additionalRelief": st.dictionaries(st.sampled_from(POLICY_KEYS), json_values
                                        | st.integers(-5, 100), max_size=6),
})


def check_policy(data: bytes) -> None:
    try:
        policy = decode_policy(data, "fuzzed.json")
    except PolicyError as error:
        assert str(error).startswith("policy fuzzed.json is ")
        return
    assert isinstance(policy, CountyPolicy)
    assert decode_policy(encode_policy(policy), "again") == policy


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_policy_decoder_on_random_bytes(data):
    check_policy(data)


@settings(max_examples=300, deadline=None)
@given(json_values | policy_like)
def test_policy_decoder_on_random_json(document):
    check_policy(json.dumps(document).encode())

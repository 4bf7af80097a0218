"""The tasks workers run: decide a shard, set aside split persons, decide a bucket.

Each task reads its own input, writes its own part files under the run's parts
folder, and returns only a small msgspec record. Tasks are idempotent: a retry
rewrites the same part names.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import zlib
from pathlib import Path

import msgspec
import numpy as np
import pyarrow.compute as pc

from engine.batch import BatchResult, Settings, defer_block, evaluate_block, evaluate_light, subject_hash
from engine.columnar import LightBlock, light_block
from engine.decisions_table import to_frame, write_frame
from engine.naming import county_folder
from engine.reader import ReadStats, RejectedRow, read_block, row_key
from engine.scan import PROP64_CHARGE, PROP64_CONVICTION
from engine.summary import CountySummary
from cluster import metrics
from cluster.errors import redact_errors
from cluster.parts import (
    FILE_MODE, PART_SUFFIX, make_private_dir, open_private, write_array, write_atomic, write_lines_part,
)
from cluster.plan import Shard, open_input

logger = logging.getLogger(__name__)

PARTS_FOLDER = ".parts"
#: The first pass's partial summaries of a shard, kept for the regroup pass's metrics.
FIRST_PASS_SUMMARIES = "first-pass-summaries.msgpack"
DECISIONS_FOLDER = "decisions"
#: The parts of `All_Results.csv` and `All_Results_Condensed.csv` in a unit's folder.
ALL_PART = f"all.csv{PART_SUFFIX}"
CONDENSED_PART = f"condensed.csv{PART_SUFFIX}"


class UnitResult(msgspec.Struct):
    """Result record of one task: counts, partial summaries and its part files."""

    unit: str
    shard: int | None = None
    file_index: int | None = None
    rows: int = 0
    lines: int = 0
    blank: int = 0
    header: bool = False
    rejected: int = 0
    bytes_read: int = 0
    decided_by_shard: dict[int, int] = {}
    passed_by_shard: dict[int, int] = {}
    summaries: list[CountySummary] = []
    statewide: CountySummary | None = None
    counties_seen: list[str] = []
    prop64_parts: dict[str, str] = {}
    decision_parts: list[str] = []
    subjects: int = 0
    prop64_without_county: int = 0
    deferred: bool = False
    """A first-pass shard read but not decided, because its rows are unsorted."""
    seconds: float = 0.0


_encoder = msgspec.msgpack.Encoder()
_result_decoder = msgspec.msgpack.Decoder(UnitResult)
_rejected_decoder = msgspec.msgpack.Decoder(list[RejectedRow])
#: A row of a split person on its way to a bucket: its key, line, SUBJECT_ID, county
#: cell and Prop 64 level (`engine.scan.prop64_level`), so the bucket reads it no further.
BucketRow = tuple[int, bytes, bytes, bytes, int]
_bucket_decoder = msgspec.msgpack.Decoder(list[BucketRow])
_summaries_decoder = msgspec.msgpack.Decoder(list[CountySummary])


def decode_result(data: bytes) -> UnitResult:
    """Decode a task's msgspec-encoded result."""
    return _result_decoder.decode(data)


def read_rejected(path: Path) -> list[RejectedRow]:
    return _rejected_decoder.decode(path.read_bytes())


def shard_unit(shard: int) -> str:
    return f"s{shard:06d}"


def bucket_unit(bucket: int) -> str:
    return f"b{bucket:05d}"


def _read_range(shard: Shard) -> bytes:
    """Read the whole byte range of a shard.

    Raises OSError (EINVAL) when a local input is no longer a regular file.
    """
    with open_input(shard.path) as handle:
        handle.seek(shard.start)
        return handle.read(shard.size)


def _decide_rows(shard: Shard, settings: Settings, stats: ReadStats,
                 rejected: list[RejectedRow]) -> tuple[BatchResult, bool]:
    """Decide a shard, columnar when its block is regular, row by row otherwise.

    Returns the result and whether deciding was left to the regroup pass: the rows of
    an unsorted block are read, counted and their subjects noted, but most of its
    persons would be decided again from their rows in other shards.
    """
    data = _read_range(shard)
    light = light_block(data, shard.starts_file, condensed=settings.all_results)
    if light is not None:
        block, header = light
        stats.rows = len(block.lines)
        stats.lines = len(block.lines) + header
        stats.header = header
        if block.is_interleaved():
            return defer_block(block), True
        return evaluate_block(block, shard.index, settings), False
    logger.debug("shard %d is read row by row because some of its lines have an irregular shape",
                 shard.index)
    rows = read_block(data, shard.index, stats, rejected, shard.starts_file)
    return evaluate_light(rows, settings), False


def _first_attempt(unit_dir: Path, stage: str) -> bool:
    """Leave a marker for this stage of the unit, and return whether none was there.

    An earlier attempt leaves one: a retry after an error, or a rerun after a lost worker.
    """
    try:
        os.close(os.open(unit_dir / f".attempt-{stage}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        return False
    return True


@redact_errors
def decide_shard(shard: Shard, settings: Settings, out_dir: str, run_id: str = "") -> bytes:
    """First pass over one shard: decide its persons as if their histories were whole."""
    unit_dir = make_private_dir(Path(out_dir) / PARTS_FOLDER / shard_unit(shard.index))
    with metrics.track_task("decide", run_id, retried=not _first_attempt(unit_dir, "decide")) as run:
        result = _decide_shard(shard, settings, out_dir)
        write_atomic(unit_dir / FIRST_PASS_SUMMARIES, _encoder.encode(result.summaries))
        metrics.record_first_pass(run, result.rows, result.rejected, result.bytes_read, result.summaries)
    return _encoder.encode(result)


def _decide_shard(shard: Shard, settings: Settings, out_dir: str) -> UnitResult:
    started = time.perf_counter()
    parts = Path(out_dir) / PARTS_FOLDER
    unit = shard_unit(shard.index)
    unit_dir = make_private_dir(parts / unit)
    stats = ReadStats()
    rejected: list[RejectedRow] = []

    batch, deferred = _decide_rows(shard, settings, stats, rejected)

    write_atomic(unit_dir / "rejected.msgpack", _encoder.encode(rejected))
    hashes = np.unique(np.fromiter((subject_hash(s) for s in batch.subjects), dtype=np.uint64,
                                   count=len(batch.subjects)))
    write_array(unit_dir / "subjects.npy", hashes)
    result = _write_unit(unit, unit_dir, Path(out_dir), batch, settings)
    result.shard = shard.index
    result.file_index = shard.file_index
    result.rows, result.lines, result.blank = stats.rows, stats.lines, stats.blank
    result.header = stats.header
    result.rejected = len(rejected)
    result.bytes_read = shard.size
    result.deferred = deferred
    result.seconds = time.perf_counter() - started
    logger.info("shard %d %s: %d rows, %d set aside, %.2fs", shard.index,
                "read, unsorted, left to the regroup pass" if deferred else "decided", stats.rows,
                len(rejected), result.seconds)
    return result


@redact_errors
def regroup_shard(shard: Shard, settings: Settings, out_dir: str, buckets: int,
                  run_id: str = "") -> bytes:
    """Second pass over a shard holding split persons: send their rows to buckets by
    subject hash, and decide the rest of the shard again without them."""
    unit_dir = make_private_dir(Path(out_dir) / PARTS_FOLDER / shard_unit(shard.index))
    with metrics.track_task("regroup", run_id, retried=not _first_attempt(unit_dir, "regroup")) as run:
        result = _regroup_shard(shard, settings, out_dir, buckets)
        try:
            first_pass = _summaries_decoder.decode((unit_dir / FIRST_PASS_SUMMARIES).read_bytes())
        except FileNotFoundError:
            logger.warning("shard %d: first-pass summaries not found; its superseded decisions "
                           "are not counted in the metrics", shard.index)
        else:
            metrics.record_regroup(run, first_pass, result.summaries)
    return _encoder.encode(result)


def _regroup_shard(shard: Shard, settings: Settings, out_dir: str, buckets: int) -> UnitResult:
    started = time.perf_counter()
    parts = Path(out_dir) / PARTS_FOLDER
    unit = shard_unit(shard.index)
    unit_dir = parts / unit
    split = np.load(parts / "split.npy")
    data = _read_range(shard)
    light = light_block(data, shard.starts_file)
    if light is None:
        rows = read_block(data, shard.index, ReadStats(), [], shard.starts_file)
        by_bucket, unsplit = _sort_rows(rows, split, buckets)
    else:
        by_bucket, unsplit = _sort_block(light[0], shard.index, split, buckets)
    del data, light

    batch = evaluate_light(unsplit, settings)
    for bucket in range(buckets):
        bucket_dir = make_private_dir(parts / bucket_unit(bucket))
        write_atomic(bucket_dir / f"from-{unit}.msgpack", _encoder.encode(by_bucket.get(bucket, [])))

    result = _write_unit(unit, unit_dir, Path(out_dir), batch, settings)
    result.shard = shard.index
    result.file_index = shard.file_index
    result.seconds = time.perf_counter() - started
    logger.info("shard %d regrouped: %d rows sent to buckets, %.2fs", shard.index,
                sum(len(rows) for rows in by_bucket.values()), result.seconds)
    return result


def _sort_rows(rows, split: np.ndarray, buckets: int) -> tuple[dict[int, list[BucketRow]], list[BucketRow]]:
    """Separate the rows of split persons, by bucket, from the rows of every other person."""
    split_set = set(split.tolist())
    by_bucket: dict[int, list[BucketRow]] = {}
    unsplit: list[BucketRow] = []
    hashes: dict[bytes, int] = {}
    for row in rows:
        subject = row[2]
        value = hashes.get(subject)
        if value is None:
            value = hashes[subject] = subject_hash(subject)
        if value in split_set:
            by_bucket.setdefault(value % buckets, []).append(row)
        else:
            unsplit.append(row)
    return by_bucket, unsplit


def _sort_block(block: LightBlock, shard: int, split: np.ndarray,
                buckets: int) -> tuple[dict[int, list[BucketRow]], list[BucketRow]]:
    """Sort the rows of a columnar block as `_sort_rows` does, with array operations."""
    subject_hashes = np.fromiter((subject_hash(s) for s in block.subjects), dtype=np.uint64,
                                 count=len(block.subjects))
    codes = block.subject_codes
    moved = np.isin(subject_hashes, split)[codes]
    bucket_of = subject_hashes[codes] % np.uint64(buckets)
    levels = np.zeros(len(codes), dtype=np.int8)
    levels[block.charge_rows] = PROP64_CHARGE
    levels[block.conviction_rows] = PROP64_CONVICTION
    counties = pc.dictionary_encode(block.table["STP_ORI_CNTY_NAME"]).combine_chunks()
    county_codes = counties.indices.to_numpy(zero_copy_only=False).tolist()
    county_names = counties.dictionary.to_pylist()
    code_list, level_list = codes.tolist(), levels.tolist()
    lines, subjects, first = block.lines, block.subjects, block.first_line

    def rows_at(indexes: np.ndarray) -> list[BucketRow]:
        return [(row_key(shard, first + i), lines[i], subjects[code_list[i]],
                 county_names[county_codes[i]], level_list[i]) for i in indexes.tolist()]

    order = np.flatnonzero(moved)
    order = order[np.argsort(bucket_of[order], kind="stable")]
    bounds = np.flatnonzero(np.diff(bucket_of[order])) + 1
    by_bucket = {int(bucket_of[group[0]]): rows_at(group) for group in np.split(order, bounds) if len(group)}
    return by_bucket, rows_at(np.flatnonzero(~moved))


@redact_errors
def decide_bucket(bucket: int, settings: Settings, out_dir: str, run_id: str = "") -> bytes:
    """Decide the persons of one bucket, whose rows came from every shard."""
    unit_dir = make_private_dir(Path(out_dir) / PARTS_FOLDER / bucket_unit(bucket))
    with metrics.track_task("bucket", run_id, retried=not _first_attempt(unit_dir, "bucket")) as run:
        result = _decide_bucket(bucket, settings, out_dir)
        metrics.record_bucket(run, result.summaries)
    return _encoder.encode(result)


def _decide_bucket(bucket: int, settings: Settings, out_dir: str) -> UnitResult:
    started = time.perf_counter()
    parts = Path(out_dir) / PARTS_FOLDER
    unit = bucket_unit(bucket)
    unit_dir = parts / unit
    gathered: list[BucketRow] = []
    for path in sorted(unit_dir.glob("from-*.msgpack")):
        gathered.extend(_bucket_decoder.decode(path.read_bytes()))
    gathered.sort(key=lambda row: row[0])

    batch = evaluate_light(gathered, settings)
    result = _write_unit(unit, unit_dir, Path(out_dir), batch, settings)
    result.seconds = time.perf_counter() - started
    logger.info("bucket %d decided: %d rows, %.2fs", bucket, len(gathered), result.seconds)
    return result


def _write_unit(unit: str, unit_dir: Path, out_dir: Path, batch: BatchResult,
                settings: Settings) -> UnitResult:
    result = UnitResult(unit)
    for number, (county, lines) in enumerate(sorted(batch.prop64_lines.items())):
        name = f"prop64-{number:03d}.csv{PART_SUFFIX}"
        write_lines_part(unit_dir / name, lines)
        result.prop64_parts[county] = name
    if settings.all_results:
        write_lines_part(unit_dir / ALL_PART, batch.all_lines)
        write_lines_part(unit_dir / CONDENSED_PART, batch.condensed_lines)

    # Decision parts stay under the parts folder until the merge links them into
    # `decisions/`, so an unfinished run leaves no dataset that looks whole. A second
    # pass over the unit replaces the parts of the first.
    shutil.rmtree(unit_dir / DECISIONS_FOLDER, ignore_errors=True)
    counties = [(county, records) for county, records in sorted(batch.decisions.items()) if records]
    # One frame for the unit, sliced per county: building a frame costs about 2 ms even
    # for a few rows, and a statewide shard has a part for each of 58 counties.
    frame = to_frame([record for _, records in counties for record in records]) if counties else None
    start = 0
    for county, records in counties:
        folder = make_private_dir(unit_dir / DECISIONS_FOLDER / f"county={county_folder(county)}")
        final = folder / f"part-{unit}-{county_tag(county)}.parquet"
        temporary = folder / f".{final.name}.{os.getpid()}.tmp"
        write_frame(temporary, frame.iloc[start:start + len(records)], open_with=open_private)
        start += len(records)
        os.replace(temporary, final)
        result.decision_parts.append(str(final.relative_to(out_dir)))

    result.decided_by_shard = batch.decided_by_shard
    result.passed_by_shard = batch.passed_by_shard
    result.summaries = [batch.summaries[c] for c in sorted(batch.summaries)]
    result.statewide = batch.statewide
    result.counties_seen = sorted(batch.counties_seen)
    result.subjects = len(batch.subjects)
    result.prop64_without_county = batch.prop64_without_county
    return result


def county_tag(county: str) -> str:
    """Return a short tag of a county name; two names can share a folder name, and the
    tag keeps their parts apart."""
    return f"{zlib.crc32(county.encode('utf-8')):08x}"

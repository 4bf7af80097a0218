"""The tasks workers run: decide a shard, set aside split persons, decide a bucket.

Each task reads its own input, writes its own part files under the run's parts
folder, and returns only a small msgspec record. Tasks are idempotent: a retry
rewrites the same part names.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Iterable

import fsspec
import msgspec
import numpy as np

from engine import layout
from engine.batch import BatchResult, Settings, evaluate, subject_hash
from engine.decisions_table import write_part
from engine.history import TRIM
from engine.naming import county_folder
from engine.reader import ReadStats, RejectedRow, iter_rows, split_lines
from engine.summary import CountySummary
from cluster.errors import redact_errors
from cluster.parts import make_private_dir, open_private, write_atomic, write_lines_part
from cluster.plan import Shard

logger = logging.getLogger(__name__)

PARTS_FOLDER = ".parts"
DECISIONS_FOLDER = "decisions"


class UnitResult(msgspec.Struct):
    """What one task reports back: counts, partial summaries and its part files."""

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
    seconds: float = 0.0


_encoder = msgspec.msgpack.Encoder()
_result_decoder = msgspec.msgpack.Decoder(UnitResult)
_rejected_decoder = msgspec.msgpack.Decoder(list[RejectedRow])
_bucket_decoder = msgspec.msgpack.Decoder(list[tuple[int, bytes]])


def decode_result(data: bytes) -> UnitResult:
    """Decode a task's msgspec-encoded result."""
    return _result_decoder.decode(data)


def read_rejected(path: Path) -> list[RejectedRow]:
    return _rejected_decoder.decode(path.read_bytes())


def shard_unit(shard: int) -> str:
    return f"s{shard:06d}"


def bucket_unit(bucket: int) -> str:
    return f"b{bucket:05d}"


def _read_lines(shard: Shard) -> Iterable[bytes]:
    if shard.compression is not None:
        handle = fsspec.open(shard.path, "rb", compression=shard.compression).open()
        return _closing_lines(handle)
    with fsspec.open(shard.path, "rb") as handle:
        handle.seek(shard.start)
        data = handle.read(shard.end - shard.start)
    return split_lines(data)


def _closing_lines(handle) -> Iterable[bytes]:
    with handle:
        yield from handle


def _bytes_of(shard: Shard) -> int:
    return shard.size if shard.size is not None else 0


@redact_errors
def decide_shard(shard: Shard, settings: Settings, out_dir: str) -> bytes:
    """First pass over one shard: decide its persons as if their histories were whole."""
    started = time.perf_counter()
    parts = Path(out_dir) / PARTS_FOLDER
    unit = shard_unit(shard.index)
    unit_dir = make_private_dir(parts / unit)
    stats = ReadStats()
    rejected: list[RejectedRow] = []

    rows = iter_rows(_read_lines(shard), shard.index, stats, rejected, shard.starts_file)
    batch = evaluate(rows, settings)

    write_atomic(unit_dir / "rejected.msgpack", _encoder.encode(rejected))
    hashes = np.unique(np.fromiter((subject_hash(s) for s in batch.subjects), dtype=np.uint64,
                                   count=len(batch.subjects)))
    _save_array(unit_dir / "subjects.npy", hashes)
    result = _write_unit(unit, unit_dir, Path(out_dir), batch, settings)
    result.shard = shard.index
    result.file_index = shard.file_index
    result.rows, result.lines, result.blank = stats.rows, stats.lines, stats.blank
    result.header = stats.header
    result.rejected = len(rejected)
    result.bytes_read = _bytes_of(shard)
    result.seconds = time.perf_counter() - started
    logger.info("shard %d decided: %d rows, %d set aside, %.2fs", shard.index, stats.rows,
                len(rejected), result.seconds)
    return _encoder.encode(result)


@redact_errors
def regroup_shard(shard: Shard, previous_parts: list[str], settings: Settings, out_dir: str,
                  buckets: int) -> bytes:
    """Second pass over a shard holding split persons: send their rows to buckets by
    subject hash, and decide the rest of the shard again without them."""
    started = time.perf_counter()
    parts = Path(out_dir) / PARTS_FOLDER
    unit = shard_unit(shard.index)
    unit_dir = parts / unit
    split = set(np.load(parts / "split.npy").tolist())
    stats = ReadStats()
    by_bucket: dict[int, list[tuple[int, bytes]]] = {}
    hashes: dict[bytes, int] = {}

    def kept_rows():
        for key, raw, cells in iter_rows(_read_lines(shard), shard.index, stats, [], shard.starts_file):
            subject = cells[layout.SUBJECT_ID].strip(TRIM)
            value = hashes.get(subject)
            if value is None:
                value = hashes[subject] = subject_hash(subject)
            if value in split:
                by_bucket.setdefault(value % buckets, []).append((key, raw))
            else:
                yield key, raw, cells

    batch = evaluate(kept_rows(), settings)
    for bucket in range(buckets):
        bucket_dir = make_private_dir(parts / bucket_unit(bucket))
        write_atomic(bucket_dir / f"from-{unit}.msgpack", _encoder.encode(by_bucket.get(bucket, [])))

    for relative in previous_parts:
        (Path(out_dir) / relative).unlink(missing_ok=True)
    result = _write_unit(unit, unit_dir, Path(out_dir), batch, settings)
    result.shard = shard.index
    result.file_index = shard.file_index
    result.seconds = time.perf_counter() - started
    logger.info("shard %d regrouped: %d rows sent to buckets, %.2fs", shard.index,
                sum(len(rows) for rows in by_bucket.values()), result.seconds)
    return _encoder.encode(result)


@redact_errors
def decide_bucket(bucket: int, settings: Settings, out_dir: str) -> bytes:
    """Decide the persons of one bucket, whose rows came from every shard."""
    started = time.perf_counter()
    parts = Path(out_dir) / PARTS_FOLDER
    unit = bucket_unit(bucket)
    unit_dir = parts / unit
    gathered: list[tuple[int, bytes]] = []
    for path in sorted(unit_dir.glob("from-*.msgpack")):
        gathered.extend(_bucket_decoder.decode(path.read_bytes()))
    gathered.sort(key=lambda pair: pair[0])

    rows = ((key, raw, layout.split_fields(raw)) for key, raw in gathered)
    batch = evaluate(rows, settings)
    result = _write_unit(unit, unit_dir, Path(out_dir), batch, settings)
    result.seconds = time.perf_counter() - started
    logger.info("bucket %d decided: %d rows, %.2fs", bucket, len(gathered), result.seconds)
    return _encoder.encode(result)


def _save_array(path: Path, array: np.ndarray) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        np.save(handle, array)
    os.replace(temporary, path)


def _write_unit(unit: str, unit_dir: Path, out_dir: Path, batch: BatchResult,
                settings: Settings) -> UnitResult:
    result = UnitResult(unit)
    for number, (county, lines) in enumerate(sorted(batch.prop64_lines.items())):
        name = f"prop64-{number:03d}.csv"
        write_lines_part(unit_dir / name, lines)
        result.prop64_parts[county] = name
    if settings.all_results:
        write_lines_part(unit_dir / "all.csv", batch.all_lines)
        write_lines_part(unit_dir / "condensed.csv", batch.condensed_lines)

    # Decision parts stay under the parts folder until the merge links them into
    # `decisions/`, so an unfinished run leaves no dataset that looks whole.
    for county, records in sorted(batch.decisions.items()):
        if not records:
            continue
        folder = make_private_dir(unit_dir / DECISIONS_FOLDER / f"county={county_folder(county)}")
        final = folder / f"part-{unit}-{_county_tag(county)}.parquet"
        temporary = folder / f".{final.name}.{os.getpid()}.tmp"
        write_part(temporary, records, open_with=open_private)
        os.replace(temporary, final)
        result.decision_parts.append(str(final.relative_to(out_dir)))

    result.decided_by_shard = batch.decided_by_shard
    result.passed_by_shard = batch.passed_by_shard
    result.summaries = [batch.summaries[c] for c in sorted(batch.summaries)]
    result.statewide = batch.statewide
    result.counties_seen = sorted(batch.counties_seen)
    result.subjects = len(batch.subjects)
    return result


def _county_tag(county: str) -> str:
    # Two county names can share a folder name; the tag keeps their parts apart.
    import zlib
    return f"{zlib.crc32(county.encode('utf-8')):08x}"

"""The dataset `_metadata` writer: the same bytes as fastparquet's merge, in less memory."""

from __future__ import annotations

import datetime
import tracemalloc
from pathlib import Path

import fastparquet
import pandas as pd
import pytest

from cluster.parquet_metadata import write_dataset_metadata
from engine.batch import DecisionRecord
from engine.decisions_table import to_frame, write_frame, write_part


def record(number: int) -> DecisionRecord:
    return DecisionRecord(
        subject=f"9{number:07d}", name="DOE,JANE Q", birth_date=datetime.date(1980, 1, 1),
        cii_number=f"A{number:09d}", county_name="FRESNO",
        cnt_order="101001002000", case_numbers=f"M{number:07d}", code_section="11357(A)HS",
        section="11357", felony=number % 2 == 0, disposition_date=datetime.date(2015, 6, 1),
        determination="Eligible for Dismissal", reason="Misdemeanor or Infraction", check=1,
        conviction_count=1, prop64_count=1, deceased=False, pc290_registration=False,
        rule_name="not a felony", citation="County policy", policy_name="county policy",
        trail="[]", history="{}")


def write_parts(root: Path, count: int) -> list[Path]:
    parts = []
    for number in range(count):
        folder = root / f"county={('fresno', 'yolo', 'kern')[number % 3]}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{number:04d}.parquet"
        write_part(path, [record(number * 10 + row) for row in range(1 + number % 4)])
        parts.append(path)
    return parts


@pytest.mark.parametrize("count", [1, 14, 15, 40])
def test_same_bytes_as_fastparquet_merge(tmp_path, count):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    parts = write_parts(ours, count)
    write_parts(theirs, count)

    write_dataset_metadata(ours, parts)
    fastparquet.writer.merge([str(theirs / p.relative_to(ours)) for p in parts], verify_schema=True,
                             root=str(theirs))

    for name in ("_metadata", "_common_metadata"):
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
    frame = pd.read_parquet(ours, engine="pyarrow")
    assert len(frame) == sum(1 + n % 4 for n in range(count))


def test_other_schema_rejected(tmp_path):
    parts = write_parts(tmp_path, 2)
    other = tmp_path / "county=fresno" / "other.parquet"
    fastparquet.write(str(other), pd.DataFrame({"x": [1, 2]}), write_index=False)
    with pytest.raises(ValueError, match="has another schema"):
        write_dataset_metadata(tmp_path, parts + [other])


def test_no_parts_writes_nothing(tmp_path):
    write_dataset_metadata(tmp_path, [])
    assert list(tmp_path.iterdir()) == []


def test_memory_per_part_small(tmp_path):
    parts = write_parts(tmp_path, 300)
    tracemalloc.start()
    try:
        write_dataset_metadata(tmp_path, parts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # fastparquet's merge keeps about 60 KiB per part; this keeps the encoded row group.
    assert peak / len(parts) < 8 * 1024


def test_frame_slice_writes_same_part(tmp_path):
    records = [record(number) for number in range(7)]
    records[3] = records[3]._replace(birth_date=None, disposition_date=None)
    write_part(tmp_path / "records.parquet", records[2:5])
    write_frame(tmp_path / "slice.parquet", to_frame(records).iloc[2:5])

    assert (tmp_path / "slice.parquet").read_bytes() == (tmp_path / "records.parquet").read_bytes()
    assert len(fastparquet.ParquetFile(str(tmp_path / "slice.parquet")).to_pandas()) == 3

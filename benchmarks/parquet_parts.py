"""Measure the CPU time of writing one shard's Parquet parts with fastparquet and with pyarrow.

A statewide shard writes one decisions part per county present, about 80 rows each
for 58 counties, and the time goes into each part's fixed cost rather than its rows.
This script decides one shard in this process as a first-pass task does, builds
the shard's decisions frame, and writes its county parts twice: with
`engine.decisions_table.write_frame` (fastparquet, what a run does) and with
`pyarrow.parquet.write_table` (which the run does not use). It prints the best CPU
time of several rounds of each, alternating, and whether fastparquet reads the
pyarrow parts back to the same values and column types.

    .venv/bin/python benchmarks/parquet_parts.py benchmarks/data/statewide-1000000.csv
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

import fastparquet
import pyarrow as pa
import pyarrow.parquet as pq

from cluster.plan import DEFAULT_SHARD_SIZE, describe_inputs, plan_shards
from cluster.settings import RunConfig, build_settings
from cluster.tasks import _decide_rows
from engine.decisions_table import to_frame, write_frame
from engine.reader import ReadStats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="research file")
    parser.add_argument("--shard", type=int, default=1,
                        help="index of the shard decided (default 1, the first without the header line)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each writer; the best counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clearance-parquet-parts-") as name:
        measure(args.path, args.shard, args.rounds, Path(name))


def measure(path: str, shard_index: int, rounds: int, folder: Path) -> None:
    """Decide one shard, write its county parts with both writers into `folder`, and print the times."""
    config = RunConfig(inputs=[path], out=str(folder), compute_at=datetime.date(2024, 1, 1))
    settings, _ = build_settings(config, datetime.date.today())
    shards = plan_shards(describe_inputs([path]), DEFAULT_SHARD_SIZE, folder / "unpacked")
    if shard_index >= len(shards):
        raise SystemExit(f"{path} is planned into {len(shards)} shard(s) of {DEFAULT_SHARD_SIZE >> 20} MiB; "
                         f"give --shard below {len(shards)}")
    shard = shards[shard_index]
    batch, _ = _decide_rows(shard, settings, ReadStats(), [])
    counties = [records for _, records in sorted(batch.decisions.items()) if records]
    frame = to_frame([record for records in counties for record in records])
    bounds = []
    start = 0
    for records in counties:
        bounds.append((start, len(records)))
        start += len(records)
    table = pa.Table.from_pandas(frame, preserve_index=False)

    def with_fastparquet() -> None:
        for number, (first, count) in enumerate(bounds):
            write_frame(folder / f"fastparquet-{number}.parquet", frame.iloc[first:first + count])

    def with_pyarrow() -> None:
        for number, (first, count) in enumerate(bounds):
            pq.write_table(table.slice(first, count), folder / f"pyarrow-{number}.parquet",
                           compression="snappy", write_statistics=False)

    best = {"fastparquet": float("inf"), "pyarrow": float("inf")}
    for _ in range(rounds):
        for name, write in (("fastparquet", with_fastparquet), ("pyarrow", with_pyarrow)):
            started = time.process_time()
            write()
            best[name] = min(best[name], time.process_time() - started)

    print(f"shard {shard.index}: {len(frame):,} decisions in {len(bounds)} county parts")
    for name, seconds in best.items():
        print(f"{name:12s} best {seconds:.3f} s CPU, {seconds / len(bounds) * 1000:.1f} ms a part")
    values, dtypes = True, True
    for number in range(len(bounds)):
        ours = fastparquet.ParquetFile(str(folder / f"fastparquet-{number}.parquet")).to_pandas()
        theirs = fastparquet.ParquetFile(str(folder / f"pyarrow-{number}.parquet")).to_pandas()
        values = values and ours.astype(object).equals(theirs.astype(object))
        dtypes = dtypes and ours.dtypes.equals(theirs.dtypes)
    print(f"fastparquet reads the pyarrow parts back to the same values: {'yes' if values else 'no'}, "
          f"with the same column types: {'yes' if dtypes else 'no'}")


if __name__ == "__main__":
    main()

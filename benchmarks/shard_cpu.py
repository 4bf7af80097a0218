"""Measure the CPU time of first-pass shard tasks, part files included, in one process.

Plans a research file into shards as a run does, then runs `cluster.tasks.decide_shard`
on the first shards and prints the best CPU time (`time.process_time`) of several
runs for each. CPU time varies less than wall time on a shared machine. With
`--county` the task writes the full bundle lines, as a single-county run does.

    .venv/bin/python benchmarks/shard_cpu.py benchmarks/data/fresno-filler-1000000.csv --county FRESNO
    .venv/bin/python benchmarks/shard_cpu.py benchmarks/data/statewide-1000000.csv --shard-size 16MiB
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import tempfile
import time
from pathlib import Path

from cluster.parts import make_private_dir
from cluster.plan import DEFAULT_SHARD_SIZE, describe_inputs, parse_size, plan_shards
from cluster.settings import RunConfig, build_settings
from cluster.tasks import PARTS_FOLDER, decide_shard, decode_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="research file")
    parser.add_argument("--county", action="append", help="decide this county only (repeatable)")
    parser.add_argument("--shards", type=int, default=3, help="shards measured (default 3)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each shard; the best counts")
    parser.add_argument("--shard-size", type=parse_size, default=DEFAULT_SHARD_SIZE,
                        help="bytes of input per shard, e.g. 16MiB (default 64MiB)")
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp(prefix="clearance-shard-cpu-"))
    try:
        make_private_dir(out / PARTS_FOLDER)
        config = RunConfig(inputs=[args.path], out=str(out), counties=args.county,
                           compute_at=datetime.date(2024, 1, 1))
        settings, _ = build_settings(config, datetime.date.today())
        shards = plan_shards(describe_inputs([args.path]), args.shard_size, out / "unpacked")
        rows = 0
        total = 0.0
        for shard in shards[: args.shards]:
            best = float("inf")
            for _ in range(args.repeat):
                started = time.process_time()
                result = decode_result(decide_shard(shard, settings, str(out)))
                best = min(best, time.process_time() - started)
            rows += result.rows
            total += best
            print(f"shard {shard.index}: {result.rows:,} rows, best {best:.2f} s CPU")
        print(f"{rows:,} rows in {total:.2f} s CPU: {rows / total:,.0f} rows/s")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

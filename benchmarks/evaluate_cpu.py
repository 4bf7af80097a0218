"""Measure the CPU time of deciding one research file in one process.

Reads the file, splits it into rows and runs `engine.batch.evaluate` on all of them,
as one task does with one shard, and prints the best of several runs. CPU time
(`time.process_time`) is used rather than wall time so that other load on a shared
machine disturbs the figure less.

    .venv/bin/python benchmarks/evaluate_cpu.py statewide.csv
    .venv/bin/python benchmarks/evaluate_cpu.py statewide.csv --policy policies/ca/statute.toml
"""

from __future__ import annotations

import argparse
import datetime
import time

from cluster.settings import RunConfig, build_settings
from engine.batch import evaluate
from engine.reader import ReadStats, iter_rows, split_lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="research file (plain, not .gz)")
    parser.add_argument("--policy", help="policy file, JSON or TOML (default: the built-in policy)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is printed (default 3)")
    args = parser.parse_args()

    data = open(args.path, "rb").read()
    config = RunConfig(inputs=[args.path], out="unused", policy=args.policy,
                       compute_at=datetime.date(2024, 7, 1))
    settings, _ = build_settings(config, datetime.date.today())

    best = float("inf")
    for _ in range(args.repeat):
        stats = ReadStats()
        started = time.process_time()
        batch = evaluate(iter_rows(split_lines(data), 0, stats, [], True), settings)
        best = min(best, time.process_time() - started)
    decided = sum(len(records) for records in batch.decisions.values())
    print(f"{stats.rows:,} rows, {decided:,} decided: best {best:.2f} s CPU, "
          f"{stats.rows / best:,.0f} rows/s")


if __name__ == "__main__":
    main()

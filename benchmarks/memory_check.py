"""Run `clearance run` with a LocalCluster under a memory limit and report memory use.

It samples the resident memory of the client and of every worker process every
0.1 s and reports each one's peak. It also reports the exit code, the wall time,
and whether any worker process went away during the run, because the nanny
restarts a worker that passes 95% of its limit. Sampling can miss a peak shorter
than 0.1 s. The nanny samples every 100 ms too (its default
`distributed.worker.memory.monitor-interval`), so what it acts on is seen here too.

    .venv/bin/python benchmarks/memory_check.py --rows 10000000 --memory-limit 1GB \\
        --workers 2 --data benchmarks/data/10m.csv --out benchmarks/runs/10m
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

MIB = 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="rows of the generated input")
    parser.add_argument("--data", required=True, help="input file; generated when absent")
    parser.add_argument("--out", required=True, help="output folder of the run (replaced)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    parser.add_argument("--memory-limit", default="1GB", help="memory per worker (default 1GB)")
    parser.add_argument("--shard-size", default="64MiB", help="shard size (default 64MiB)")
    args = parser.parse_args()

    data = Path(args.data)
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cluster.cli", "generate", "--rows", str(args.rows),
                        "--out", str(data), "--seed", "1"], check=True)
        print(f"generated {data} ({data.stat().st_size / MIB:,.0f} MiB) in "
              f"{time.perf_counter() - started:.0f} s")

    command = [sys.executable, "-m", "cluster.cli", "run", str(data), "--out", args.out,
               "--overwrite", "--workers", str(args.workers), "--memory-limit", args.memory_limit,
               "--shard-size", args.shard_size, "--no-progress"]
    started = time.perf_counter()
    client = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    watched = psutil.Process(client.pid)
    peaks: dict[int, int] = {}
    names: dict[int, str] = {}
    while client.poll() is None:
        try:
            processes = [watched] + watched.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        for process in processes:
            try:
                rss = process.memory_info().rss
                names.setdefault(process.pid, " ".join(process.cmdline()))
            except psutil.NoSuchProcess:
                continue
            peaks[process.pid] = max(peaks.get(process.pid, 0), rss)
        time.sleep(0.1)
    seconds = time.perf_counter() - started

    # Worker processes are started by multiprocessing's spawn; its resource tracker is not one.
    workers = {pid: peak for pid, peak in peaks.items() if "spawn_main" in names[pid]}
    print(f"exit code {client.returncode}, {seconds:.0f} s, input {data.stat().st_size / MIB:,.0f} MiB")
    print(f"client peak {peaks.get(client.pid, 0) / MIB:,.0f} MiB")
    for pid, peak in sorted(workers.items()):
        print(f"worker process {pid} peak {peak / MIB:,.0f} MiB")
    print(f"worker processes seen: {len(workers)} (more than --workers means one was restarted)")
    return client.returncode


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    sys.exit(main())

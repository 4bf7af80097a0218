"""Check that a statewide run and single-county runs agree, county by county.

    .venv/bin/python benchmarks/check_counties.py INPUT [--workers N]

Runs every county of INPUT in one statewide run, then each county alone with
`--county` on the same LocalCluster, and compares each county's `Prop64_Results.csv`
byte for byte. Prints one line per county and exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

from dask.distributed import LocalCluster

from cluster.run import run_job
from cluster.settings import RunConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compute-at", default="2024-01-01")
    args = parser.parse_args()
    compute_at = datetime.date.fromisoformat(args.compute_at)

    with tempfile.TemporaryDirectory() as folder, LocalCluster(
            n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
            dashboard_address=None) as cluster:
        root = Path(folder)
        started = time.perf_counter()
        statewide = run_job(RunConfig(inputs=[args.input], out=str(root / "all"), compute_at=compute_at,
                                      scheduler=cluster.scheduler_address, progress=False))
        print(f"statewide: {len(statewide.county_folders)} counties, {statewide.rows_read:,} rows, "
              f"{time.perf_counter() - started:.1f}s")
        differing = []
        for county, folder_name in sorted(statewide.county_folders.items()):
            out = root / folder_name
            run_job(RunConfig(inputs=[args.input], out=str(out), counties=[county], compute_at=compute_at,
                              scheduler=cluster.scheduler_address, progress=False))
            single = (out / folder_name / "Prop64_Results.csv").read_bytes()
            together = (root / "all" / folder_name / "Prop64_Results.csv").read_bytes()
            same = single == together
            decided = single.count(b"\n") - 1
            print(f"{county}: {decided:,} decided rows, {'same' if same else 'DIFFERENT'}")
            if not same:
                differing.append(county)
    print(f"{len(statewide.county_folders) - len(differing)} of {len(statewide.county_folders)} counties identical")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure what new pages of the page cache cost on this machine, against reused ones.

A full-bundle run writes parts, then the final files. The script writes parts of
the same size and joins them into one file, in two kinds of pass. One keeps every
part until the end, as the merge did. The other deletes each part as soon as it is
copied, as the merge does now. It prints the wall and system CPU seconds of each pass.

    .venv/bin/python benchmarks/page_cache.py --parts 10 --part-mb 86 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CHUNK = 1 << 20


def write_and_join(folder: Path, parts: int, part_mb: int, delete_early: bool) -> tuple[float, float]:
    """Return the wall and system CPU seconds to write `parts` files and join them into one."""
    block = os.urandom(CHUNK) * part_mb
    before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    started = time.perf_counter()
    paths = [folder / f"part-{number}" for number in range(parts)]
    for path in paths:
        path.write_bytes(block)
    with open(folder / "joined", "wb") as joined:
        for path in paths:
            with open(path, "rb") as part:
                while chunk := part.read(CHUNK):
                    joined.write(chunk)
            if delete_early:
                path.unlink()
    wall = time.perf_counter() - started
    return wall, resource.getrusage(resource.RUSAGE_SELF).ru_stime - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=10)
    parser.add_argument("--part-mb", type=int, default=86, help="MiB per part (default 86)")
    parser.add_argument("--rounds", type=int, default=3, help="passes of each kind, alternating")
    args = parser.parse_args()

    for _ in range(args.rounds):
        for delete_early in (False, True):
            folder = Path(tempfile.mkdtemp(prefix="page-cache-", dir=ROOT))
            try:
                wall, system = write_and_join(folder, args.parts, args.part_mb, delete_early)
            finally:
                shutil.rmtree(folder)
            label = "parts deleted as copied" if delete_early else "parts kept to the end"
            print(f"{label}: {wall:.2f} s wall, {system:.2f} s system CPU")
            # A pause between passes, as between the runs of bench.py.
            time.sleep(5)


if __name__ == "__main__":
    main()

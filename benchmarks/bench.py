"""Benchmarks of the main job, with the floors of the same work measured in the same run.

One command generates the data sets (cached under `benchmarks/data/`), runs the product
and the floors on them, and appends a dated table to `benchmarks/RESULTS.md`:

    .venv/bin/python benchmarks/bench.py                 # every scenario, 3 repeats
    .venv/bin/python benchmarks/bench.py --scenarios county --repeats 5

Scenarios:

- `county`: one county, full bundle (`--county`), on a 1,000,000-row file of that
  county with filler, so rows are long like the earlier tool's test data.
- `statewide`: every county, decisions only, on a 1,000,000-row statewide file, with
  1 worker and with every core.
- `statewide10m`: the same on 10,000,000 rows: the memory bound, and scaling on a file
  long enough that the fixed costs of a run (start-up, planning, merge) weigh little.
- `shuffled`: the 1,000,000-row statewide file shuffled and split into four files.

Floors, on the same file and the same number of cores: reading the bytes, and
tokenising every field of every row into strings with pyarrow's multithreaded CSV reader,
in blocks of the shard size.
A third floor bounds the outputs: writing as many bytes as the run left in its output
folder to one new file beside it, with no Python work per byte, into pages the page
cache has just freed. Each run's output folder is removed once it is measured.
Peak memory is the largest resident set of each process (client and each worker),
sampled every 50 ms with psutil.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from cluster.plan import DEFAULT_SHARD_SIZE

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
RUNS = ROOT / "runs"
RESULTS = ROOT / "RESULTS.md"
CLEARANCE = [sys.executable, "-m", "cluster.cli"]
SAMPLE_INTERVAL = 0.05


def generate(path: Path, rows: int, counties: list[str] | None, filler: bool, seed: int) -> Path:
    """Generate a data set once; later runs reuse the file."""
    if path.exists():
        return path
    from engine.generate import write_research_file

    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    print(f"generating {path.name} ({rows:,} rows)", file=sys.stderr)
    write_research_file(str(partial), rows=rows, counties=counties, seed=seed, filler=filler)
    partial.rename(path)
    return path


def shuffle_split(source: Path, parts: int, seed: int) -> list[Path]:
    """Shuffle a file's rows and split them into `parts` files (the header in the first)."""
    paths = [DATA / f"{source.stem}-shuffled-{n}.csv" for n in range(parts)]
    if all(p.exists() for p in paths):
        return paths
    header, *rows = source.read_bytes().splitlines(keepends=True)
    random.Random(seed).shuffle(rows)
    size = -(-len(rows) // parts)
    for number, path in enumerate(paths):
        chunk = rows[number * size:(number + 1) * size]
        path.write_bytes((header if number == 0 else b"") + b"".join(chunk))
    return paths


class PeakMemory:
    """Sample the resident set of a process and its children until stopped."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peaks: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                processes = [self.root] + self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    rss = process.memory_info().rss
                    if process.pid not in self.names:
                        self.names[process.pid] = _role(process, self.root)
                except psutil.Error:
                    continue
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), rss)
            time.sleep(SAMPLE_INTERVAL)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        by_role: dict[str, int] = {}
        for pid, peak in self.peaks.items():
            role = self.names.get(pid, "other")
            if role == "other":
                continue
            key = role if role == "client" else f"{role} {pid}"
            by_role[key] = peak
        return by_role


def _role(process: psutil.Process, root: psutil.Process) -> str:
    if process.pid == root.pid:
        return "client"
    command = " ".join(process.cmdline())
    if "spawn_main" in command or "multiprocessing" in command:
        return "worker"
    return "other"


def timed_run(arguments: list[str], label: str) -> dict:
    """Run one `clearance run` and return wall time and peak memory per process."""
    out = RUNS / label
    shutil.rmtree(out, ignore_errors=True)
    command = CLEARANCE + ["run", *arguments, "--out", str(out), "--no-progress",
                           "--compute-at", "2024-01-01"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=ROOT.parent)
    memory = PeakMemory(process.pid)
    _, stderr = process.communicate()
    wall = time.perf_counter() - started
    peaks = memory.stop()
    if process.returncode not in (0, 3):
        raise RuntimeError(f"{label} failed ({process.returncode}): {stderr.decode()[-2000:]}")
    client = peaks.get("client", 0)
    workers = [v for k, v in peaks.items() if k.startswith("worker")]
    written = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    # Removed at once, so that every run and every write floor starts with as much
    # memory free for the page cache as the one before.
    shutil.rmtree(out)
    return {"wall": wall, "client": client, "worker": max(workers, default=0),
            "largest": max([client] + workers), "written": written}


def floor_read(paths: list[Path]) -> float:
    """Seconds to read every byte of the files."""
    started = time.perf_counter()
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(16 << 20):
                pass
    return time.perf_counter() - started


def floor_write(size: int) -> float:
    """Return the seconds to write `size` bytes to a new file, into pages the page cache just freed.

    The bytes are written once untimed and the file removed, then written again,
    timed, and removed. The timed pass measures the copy into the page cache
    without the cost of new pages, which on the benchmark machine was many times
    larger and swung with what the machine did before (`page_cache.py`
    measures that cost). Like the run, the file is not synced.
    """
    block = os.urandom(1 << 20) * 16
    path = RUNS / "write-floor.tmp"
    elapsed = 0.0
    for _ in range(2):
        started = time.perf_counter()
        with open(path, "wb") as handle:
            left = size
            while left > 0:
                handle.write(block[: min(left, len(block))])
                left -= len(block)
        elapsed = time.perf_counter() - started
        path.unlink()
    return elapsed


def floor_tokenise(paths: list[Path], cores: int) -> float:
    """Seconds for pyarrow to split every field of every row into byte strings on `cores` threads.

    Each file is tokenised in line-aligned blocks of the product's default shard size,
    read from a memory map without copying, and each block's table is dropped before
    the next, as the product drops each shard's. Reading a whole file into one table
    was 2.5 times slower on the 10M-row file (2.6 GB) on the benchmark machine: the
    time went into growing memory for the table, not into tokenising.
    """
    import mmap

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from engine.layout import COLUMNS

    pa.set_cpu_count(cores)
    pa.set_io_thread_count(cores)
    # Binary, not string: the files hold Latin-1 bytes, and the product keeps bytes too.
    read = pacsv.ReadOptions(column_names=list(COLUMNS), block_size=16 << 20, use_threads=True)
    convert = pacsv.ConvertOptions(column_types={name: pa.binary() for name in COLUMNS},
                                   strings_can_be_null=False)
    parse = pacsv.ParseOptions(newlines_in_values=False)
    started = time.perf_counter()
    for path in paths:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            start = mapped.find(b"\n") + 1 if mapped[:9] == b"RECORD_ID" else 0
            while start < len(mapped):
                end = min(start + DEFAULT_SHARD_SIZE, len(mapped))
                if end < len(mapped):
                    end = mapped.rfind(b"\n", start, end) + 1
                block = pa.BufferReader(pa.py_buffer(view[start:end]))
                table = pacsv.read_csv(block, read_options=read, parse_options=parse,
                                       convert_options=convert)
                del table, block
                start = end
            view.release()
    return time.perf_counter() - started


def count_rows(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(16 << 20), b""))
            handle.seek(0)
            if handle.read(9) == b"RECORD_ID":
                total -= 1
    return total


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def scenario_rows(name: str, paths: list[Path], arguments: list[str], worker_counts: list[int],
                  repeats: int) -> list[dict]:
    rows = count_rows(paths)
    size = sum(p.stat().st_size for p in paths)
    shards = sum(-(-p.stat().st_size // DEFAULT_SHARD_SIZE) for p in paths)
    if shards < max(worker_counts):
        print(f"note: {name} has {shards} shards of {DEFAULT_SHARD_SIZE >> 20} MiB, so runs with more "
              "workers than shards leave workers idle", file=sys.stderr)
    table = []
    for workers in worker_counts:
        runs, reads, tokens, writes = [], [], [], []
        for repeat in range(repeats):
            # Product and floors alternate, so machine noise hits both alike.
            runs.append(timed_run([*map(str, paths), *arguments, "--workers", str(workers)],
                                  f"{name}-{workers}w-{repeat}"))
            writes.append(floor_write(runs[-1]["written"]))
            reads.append(floor_read(paths))
            tokens.append(floor_tokenise(paths, workers))
        wall = median_of(runs, "wall")
        table.append({
            "scenario": name, "workers": workers, "rows": rows, "mb": size / 1e6,
            "wall": wall, "rows_per_s": rows / wall, "mb_per_s": size / 1e6 / wall,
            "client_mb": median_of(runs, "client") / 1e6,
            "worker_mb": median_of(runs, "worker") / 1e6,
            "largest_mb": median_of(runs, "largest") / 1e6,
            "read_rows_per_s": rows / statistics.median(reads),
            "tokenise_rows_per_s": rows / statistics.median(tokens),
            "written_mb": median_of(runs, "written") / 1e6,
            "write_rows_per_s": rows / statistics.median(writes),
            "repeats": repeats,
        })
        print(_format_row(table[-1]), file=sys.stderr)
    return table


HEADER = ("| scenario | workers | rows | MB | wall s (median) | rows/s | MB/s | client MB | "
          "largest worker MB | read floor rows/s | tokenise floor rows/s | product / tokenise | "
          "output MB | write floor rows/s |")
RULE = "|" + "---|" * 14


def _format_row(row: dict) -> str:
    ratio = row["rows_per_s"] / row["tokenise_rows_per_s"]
    return (f"| {row['scenario']} | {row['workers']} | {row['rows']:,} | {row['mb']:,.0f} | "
            f"{row['wall']:.2f} | {row['rows_per_s']:,.0f} | {row['mb_per_s']:,.1f} | "
            f"{row['client_mb']:,.0f} | {row['worker_mb']:,.0f} | {row['read_rows_per_s']:,.0f} | "
            f"{row['tokenise_rows_per_s']:,.0f} | {ratio:.2f} | {row['written_mb']:,.0f} | "
            f"{row['write_rows_per_s']:,.0f} |")


def machine() -> str:
    model = "unknown processor"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=["county", "statewide", "shuffled", "statewide10m"],
                        choices=["county", "statewide", "shuffled", "statewide10m"])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; medians are reported")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the 1M data sets")
    parser.add_argument("--note", default="", help="a line recorded above the table")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    workers = sorted({1, 2, cores}) if cores > 1 else [1]
    statewide = generate(DATA / f"statewide-{args.rows}.csv", args.rows, None, False, 1)
    # The first tokenising floor of a process ran about 1.2 s slower than the next ones,
    # for a reason not found, so one untimed pass comes first.
    floor_tokenise([statewide], 1)
    table = []
    for scenario in args.scenarios:
        if scenario == "county":
            county = generate(DATA / f"fresno-filler-{args.rows}.csv", args.rows, ["FRESNO"], True, 2)
            table += scenario_rows("county (full bundle)", [county], ["--county", "FRESNO"], [cores],
                                   args.repeats)
        elif scenario == "statewide":
            table += scenario_rows("statewide", [statewide], [], workers, args.repeats)
        elif scenario == "shuffled":
            parts = shuffle_split(statewide, 4, 3)
            table += scenario_rows("statewide shuffled, 4 files", parts, [], [cores], args.repeats)
        elif scenario == "statewide10m":
            big = generate(DATA / "statewide-10000000.csv", 10_000_000, None, False, 4)
            table += scenario_rows("statewide 10M", [big], [], workers, max(1, args.repeats))

    command = "benchmarks/bench.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        f"\n## {datetime.date.today().isoformat()}: `{command.strip()}`\n",
        f"Machine: {machine()}.",
    ]
    if args.note:
        lines.append(args.note)
    lines += ["", HEADER, RULE] + [_format_row(row) for row in table]
    with open(RESULTS, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Memory: a worker's memory is bounded by the shard size, and the client's does not
grow with the input.

The case to meet is 1 GB per worker on a 10-million-row file (about 2.6 GB). Here it
is scaled down to fit a unit test: a 400,000-row file of about 100 MB, and a worker
memory limit of the worker's own baseline plus half the file. Reading the whole file
at once would pass that limit on the raw bytes alone, so the nanny would kill a
worker that did. The run must finish with every worker alive and its peak below
the limit.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dask
import psutil
import pytest
from dask.distributed import Client, LocalCluster

from engine.generate import write_research_file
from tests.helpers import child_environment, cli_command, read_manifest

ROWS = 400_000
SHARD = "2MiB"
MIB = 1024 * 1024
#: Fractions of the memory limit; pausing is off, so a slow machine cannot hang the test.
MEMORY_CONFIG = {"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
                 "distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": 0.95}


def import_tasks() -> int:
    """Import what a task imports and return this process's resident memory in bytes."""
    import cluster.tasks  # noqa: F401 - the import is the point

    return psutil.Process().memory_info().rss


def peak_memory() -> int:
    """Return this process's peak resident memory in bytes since it started its program.

    `getrusage` would not do: Linux carries a forked child's peak from its parent
    into the program it executes, so a worker spawned by a large test process
    would report that process's peak. `VmHWM` belongs to the current program only.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


def worker_baseline() -> int:
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        return max(client.run(import_tasks).values())


def client_peak(source: Path, out: Path, scheduler: str) -> int:
    """Run the command line as a client of `scheduler`; return the client's peak memory."""
    script = ("import sys\n"
              "from cluster.cli import main\n"
              "from tests.test_memory import peak_memory\n"
              "code = main(sys.argv[1:])\n"
              "print('peak', peak_memory(), file=sys.stderr)\n"
              "sys.exit(code)\n")
    command = cli_command("run", str(source), "--out", str(out), "--scheduler", scheduler,
                          "--shard-size", SHARD, "--no-progress", "--compute-at", "2020-01-01")
    command[1:3] = ["-c", script]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env=child_environment())
    assert result.returncode == 0, result.stderr
    peak_line = [line for line in result.stderr.splitlines() if line.startswith("peak ")]
    return int(peak_line[-1].split()[1])


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="peak memory is read from /proc/self/status (Linux)")


@pytest.fixture(scope="module")
def large_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("memory") / "large.csv"
    write_research_file(str(path), rows=ROWS, seed=5)
    return path


@pytest.fixture(scope="module")
def large_gzip_file(large_file) -> Path:
    path = large_file.with_name("large.csv.gz")
    with large_file.open("rb") as source, gzip.open(path, "wb", compresslevel=1) as target:
        shutil.copyfileobj(source, target)
    return path


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_memory_bounded_by_shard_not_input(compressed, large_file, request, tmp_path):
    # A compressed input is unpacked into pieces, and workers read one piece at a time.
    source = request.getfixturevalue("large_gzip_file") if compressed else large_file
    size = large_file.stat().st_size
    small = tmp_path / "small.csv"
    write_research_file(str(small), rows=2_000, seed=5)
    baseline = worker_baseline()
    limit = int((baseline + size // 2) / MEMORY_CONFIG["distributed.worker.memory.terminate"])

    with dask.config.set(MEMORY_CONFIG), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address="127.0.0.1:0", memory_limit=limit) as cluster, \
            Client(cluster) as client:
        client.run(import_tasks)
        workers_before = client.run(os.getpid)
        small_peak = client_peak(small, tmp_path / "small", cluster.scheduler_address)
        large_peak = client_peak(source, tmp_path / "large", cluster.scheduler_address)
        worker_peaks = client.run(peak_memory)
        workers_after = client.run(os.getpid)

    # The whole file would not fit beside a worker's baseline under this limit.
    assert baseline + size > limit * MEMORY_CONFIG["distributed.worker.memory.terminate"]
    assert workers_after == workers_before, "a worker was restarted"
    manifest = read_manifest(tmp_path / "large")
    assert manifest["rowAccount"]["rowsRead"] == ROWS
    for address, peak in worker_peaks.items():
        assert peak - baseline < 64 * MIB, address
        assert peak < limit * MEMORY_CONFIG["distributed.worker.memory.terminate"], address
    assert large_peak - small_peak < size // 4

"""Keeping the data to those allowed: owner-only files, no row value in anything printed,
logged or served as a metric, and dashboards on the loopback interface only."""

from __future__ import annotations

import datetime
import fcntl
import os
import pty
import re
import stat
import struct
import subprocess
import termios
import threading
import urllib.request
from pathlib import Path

import psutil
import pytest
from dask.distributed import Client, LocalCluster

from cluster.run import open_client, run_job
from cluster.settings import RunConfig
from engine import layout
from engine.generate import write_research_file
from tests.bad_rows.make_files import line, row
from tests.helpers import child_environment, cli_command

COMPUTE_AT = datetime.date(2020, 1, 1)
LOOPBACK = "127.0.0.1"

#: Made-up values that cannot occur in any log by chance.
CANARIES = {
    "SUBJECT_ID": b"ZQXSUBJ0001", "CII_NUMBER": b"ZQXCII0001", "PRI_NAME": b"ZQXLAST,ZQXFIRST",
    "PRI_DOB": b"19770707", "OFN": b"ZQXCASE0001", "COMMENT_TEXT": b"ZQXCOMMENT private note",
    "PRI_SSN": b"ZQXSSN0001", "FBI_NUMBER": b"ZQXFBI0001", "PRI_CDL": b"ZQXCDL0001",
}
SET_ASIDE_CANARY = b"ZQXSETASIDE0001"


def write_input(path: Path) -> None:
    """A fabricated file with one canary conviction and one canary row that is set aside."""
    write_research_file(str(path), rows=2_000, counties=["FRESNO", "YOLO"], seed=8)
    values = {name: value for name, value in CANARIES.items()}
    values["PRI_NAME"] = b'"' + CANARIES["PRI_NAME"] + b'"'
    values["STP_ORI_CNTY_NAME"] = b"FRESNO"
    canary_row = line(row(**values))
    set_aside = line(row(SUBJECT_ID=SET_ASIDE_CANARY, PRI_NAME=b"ZQXHIDDEN")[:-3])
    with open(path, "ab") as handle:
        handle.write(canary_row + b"\n" + set_aside + b"\n")


def personal_values(path: Path) -> tuple[set[str], list[str]]:
    """Return the identifying values of every row: word-like ones, and ones with spaces or commas."""
    words: set[str] = {SET_ASIDE_CANARY.decode(), "ZQXHIDDEN"}
    phrases: list[str] = []
    for raw in path.read_bytes().splitlines()[1:]:
        cells = layout.split_fields(raw)
        if len(cells) != layout.FIELD_COUNT:
            continue
        for index in (layout.SUBJECT_ID, layout.CII_NUMBER, layout.PRI_DOB, layout.OFN,
                      layout.INDEX["PRI_SSN"], layout.INDEX["FBI_NUMBER"], layout.INDEX["PRI_CDL"]):
            value = cells[index].strip().decode("latin-1")
            if len(value) >= 6 and value != "00000000":
                words.add(value)
        for index in (layout.PRI_NAME, layout.COMMENT_TEXT):
            value = cells[index].strip().decode("latin-1")
            if len(value) >= 8:
                phrases.append(value)
    return words, sorted(set(phrases))


def find_values(text: str, words: set[str], phrases: list[str]) -> list[str]:
    tokens = set(re.findall(r"[A-Za-z0-9]+", text))
    found = sorted(tokens & words)
    found += [phrase for phrase in phrases if phrase in text]
    return found


def run_on_terminal(command: list[str]) -> tuple[int, str]:
    """Run a command with stderr on a pseudo-terminal, so progress bars draw; return all output."""
    primary, secondary = pty.openpty()
    # A new terminal is 0 columns wide, which would draw empty progress bars.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    chunks: list[bytes] = []

    def drain():
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=secondary, timeout=300,
                                env=child_environment())
    finally:
        os.close(secondary)
        reader.join(timeout=30)
        os.close(primary)
    return result.returncode, result.stdout.decode("utf-8", "replace") + \
        b"".join(chunks).decode("utf-8", "replace")


def test_no_row_value_in_output_logs_or_metrics(tmp_path):
    source = tmp_path / "input.csv"
    write_input(source)
    words, phrases = personal_values(source)
    assert CANARIES["SUBJECT_ID"].decode() in words

    # The command line with debug logging and its own LocalCluster, whose workers log
    # at debug level to the same terminal, with the progress bar drawn.
    code, printed = run_on_terminal(cli_command(
        "--debug", "run", str(source), "--out", str(tmp_path / "local"), "--workers", "2",
        "--shard-size", "64KiB", "--compute-at", COMPUTE_AT.isoformat()))
    assert code == 3, printed[-3000:]
    assert "DEBUG" in printed
    assert "shard 0 decided" in printed
    assert "rows/s" in printed

    # A run on a cluster of this test, to read its scheduler and worker logs and metrics.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host=LOOPBACK,
                      dashboard_address=f"{LOOPBACK}:0", worker_dashboard_address=f"{LOOPBACK}:0",
                      silence_logs=10) as cluster, Client(cluster) as client:
        cli = subprocess.run(cli_command("--debug", "run", str(source), "--out", str(tmp_path / "joined"),
                                         "--scheduler", cluster.scheduler_address,
                                         "--compute-at", COMPUTE_AT.isoformat()),
                             capture_output=True, text=True, timeout=300, env=child_environment())
        assert cli.returncode == 3, cli.stderr[-3000:]
        logs = [cli.stdout, cli.stderr]
        logs += [f"{level} {message}" for _, entries in client.get_worker_logs(n=100_000).items()
                 for level, message in entries]
        logs += [f"{level} {message}" for level, message in client.get_scheduler_logs(n=100_000)]
        metrics = [urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=10).read().decode()
                   for port in dashboard_ports(client)]

    assert len(metrics) == 3
    assert all("dask_" in text for text in metrics)
    assert find_values(printed, words, phrases) == []
    assert find_values("\n".join(logs), words, phrases) == []
    assert find_values("\n".join(metrics), words, phrases) == []
    # The values are in the outputs, where they belong.
    assert CANARIES["OFN"] in (tmp_path / "local" / "fresno" / "Prop64_Results.csv").read_bytes()
    assert SET_ASIDE_CANARY in (tmp_path / "local" / "rejected.csv").read_bytes()


def dashboard_ports(client: Client) -> list[int]:
    info = client.scheduler_info()
    ports = [info["services"]["dashboard"]]
    ports += [worker["services"]["dashboard"] for worker in info["workers"].values()]
    return ports


def test_every_written_path_owner_only(tmp_path):
    """With umask 0, every path a run creates must still be 0700 or 0600: the modes
    are set by the code, not left to the umask. A thread watches the parts folder
    while the run goes on, so temporary parts are checked too."""
    source = tmp_path / "input.csv"
    write_research_file(str(source), rows=6_000, counties=["FRESNO", "YOLO"], seed=2)
    out = tmp_path / "nested" / "out"
    seen: dict[str, int] = {}
    stop = threading.Event()

    def watch():
        # os.walk skips folders that vanish while it lists them, as parts folders do.
        while not stop.is_set():
            for folder, folders, files in os.walk(out):
                for name in folders + files:
                    path = os.path.join(folder, name)
                    try:
                        seen[path] = os.lstat(path).st_mode
                    except FileNotFoundError:
                        continue

    previous = os.umask(0)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host=LOOPBACK,
                          dashboard_address=f"{LOOPBACK}:0") as cluster:
            watcher = threading.Thread(target=watch)
            watcher.start()
            try:
                run_job(RunConfig(inputs=[str(source)], out=str(out), compute_at=COMPUTE_AT,
                                  scheduler=cluster.scheduler_address, shard_size=32 * 1024,
                                  progress=False))
            finally:
                stop.set()
                watcher.join()
    finally:
        os.umask(previous)

    for path in [out.parent, out, *out.rglob("*")]:
        seen[str(path)] = path.lstat().st_mode
    assert any("/.parts/" in path for path in seen), "the watcher saw no part file"
    wrong = {path: oct(stat.S_IMODE(mode)) for path, mode in seen.items()
             if stat.S_IMODE(mode) != (0o700 if stat.S_ISDIR(mode) else 0o600)}
    assert wrong == {}


def test_dashboards_listen_on_loopback_only():
    config = RunConfig(inputs=[], out="unused", workers=2)
    with open_client(config) as client:
        ports = dashboard_ports(client)
        process = psutil.Process()
        listening = []
        for member in [process] + process.children(recursive=True):
            listening += [c.laddr for c in member.net_connections(kind="inet")
                          if c.status == psutil.CONN_LISTEN]
        metrics = urllib.request.urlopen(f"http://{LOOPBACK}:{ports[1]}/metrics", timeout=10).read()

    assert len(ports) == 3
    assert {address.port for address in listening} >= set(ports)
    assert {address.ip for address in listening} == {LOOPBACK}
    assert b"dask_worker" in metrics

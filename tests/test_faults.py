"""Faults during a run: a worker killed, the client interrupted and resumed, a full disk,
an unreadable input, an output folder that is not writable, a scheduler that is down."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dask
import msgspec
import pytest
from dask.distributed import Client, LocalCluster
from distributed.core import Status

from cluster.cli import EXIT_FAILED, EXIT_USAGE, main
import cluster.cli as cli_module
import cluster.lifecycle as lifecycle_module
import cluster.merge as merge_module
import cluster.run as run_module
import documents.build as documents_build
from engine import __version__
from cluster.errors import (
    InputChangedError, TaskError, describe_failure, describe_os_error, redact_errors, resume_command,
)
from cluster.interrupt import Interrupted, sigint_ignored_in_children, signals_interrupt
from cluster.lifecycle import INCOMPLETE_MARKER, STATE_FILE, STATE_FORMAT, InputHasher, InputRecord, RunState
from cluster.plan import describe_inputs, open_input
from cluster.run import resume_job, run_job
from cluster.settings import ConfigError, RunConfig, build_settings
from cluster.tasks import ALL_PART, CONDENSED_PART
from tests.helpers import (
    REPOSITORY, assert_same_outputs, child_environment, cli_command, run_cli, stop_after,
)
from tests.sorted_run import COMPUTE_AT, ROWS, SHARD_SIZE, job

@pytest.fixture(scope="module")
def shuffled_file(sorted_file) -> Path:
    header, *rows = sorted_file.read_bytes().splitlines(keepends=True)
    random.Random(3).shuffle(rows)
    path = sorted_file.with_name("shuffled.csv")
    path.write_bytes(header + b"".join(rows))
    return path


@pytest.fixture(scope="module")
def clean_shuffled(shuffled_file, scheduler_address, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "shuffled"
    run_job(job([shuffled_file], out, scheduler_address))
    return out


def test_two_clean_runs_identical(sorted_file, clean_sorted, scheduler_address, tmp_path):
    # The fault tests below compare against a clean run, which only works if runs
    # are deterministic.
    run_job(job([sorted_file], tmp_path / "again", scheduler_address))
    assert_same_outputs(tmp_path / "again", clean_sorted)


def kill_worker_running(client: Client, prefix: str, killed: list[str], stop: threading.Event) -> None:
    """SIGKILL the first worker seen with a task whose key starts with `prefix`."""
    while not stop.is_set():
        for address, keys in client.processing().items():
            if any(str(key).startswith(prefix) for key in keys):
                pid = client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                killed.append(address)
                return
        time.sleep(0.005)


@pytest.mark.parametrize("phase,which", [
    ("decide-shard", "sorted"),
    ("regroup-shard", "shuffled"),
    ("decide-bucket", "shuffled"),
])
def test_worker_killed_same_outputs(request, tmp_path, phase, which):
    source = request.getfixturevalue(f"{which}_file")
    clean = request.getfixturevalue(f"clean_{which}")
    killed: list[str] = []
    stop = threading.Event()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        killer = threading.Thread(target=kill_worker_running, args=(client, phase, killed, stop))
        killer.start()
        try:
            run_job(job([source], tmp_path / "out", cluster.scheduler_address))
        finally:
            stop.set()
            killer.join()

    assert len(killed) == 1, f"no worker was seen running a {phase} task"
    assert_same_outputs(tmp_path / "out", clean)
    leftovers = [p.name for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def saved_records(out: Path) -> int:
    return len(list((out / ".parts").glob("*/decided.msgpack")))


def interrupt_run(source: Path, out: Path, signum: int, whole_group: bool) -> subprocess.CompletedProcess:
    """Start a run with its own LocalCluster, signal it once a few shards are decided."""
    process = subprocess.Popen(
        cli_command("run", str(source), "--out", str(out), "--workers", "2", "--shard-size",
                    f"{SHARD_SIZE // 1024}KiB", "--compute-at", COMPUTE_AT.isoformat(),
                    "--no-progress"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_environment(),
        start_new_session=True)
    deadline = time.monotonic() + 120
    while saved_records(out) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if whole_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("signum,whole_group", [
    (signal.SIGINT, True),
    (signal.SIGTERM, False),
], ids=["ctrl-c-to-group", "sigterm-to-client"])
def test_interrupt_then_resume_same_outputs(sorted_file, clean_sorted, scheduler_address,
                                            tmp_path, signum, whole_group):
    out = tmp_path / "out"
    stopped = interrupt_run(sorted_file, out, signum, whole_group)

    assert stopped.returncode == 128 + signum, stopped.stderr
    assert f"interrupted by {signal.Signals(signum).name}" in stopped.stderr
    assert f"clearance run --resume {out}" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert sorted(p.name for p in out.iterdir()) == [".parts", INCOMPLETE_MARKER]
    marker = (out / INCOMPLETE_MARKER).read_text()
    assert "not finished" in marker
    assert f"Finish the run with:\n\n    clearance run --resume {out}\n" in marker
    for path in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    done = saved_records(out)
    assert done >= 3
    started = msgspec.msgpack.decode((out / ".parts" / STATE_FILE).read_bytes(), type=RunState).started

    resumed = run_cli("run", "--resume", str(out), "--scheduler", scheduler_address, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    left = re.search(r"(\d+) of (\d+) shards left to decide", resumed.stderr)
    assert left is not None, resumed.stderr
    assert int(left.group(2)) - int(left.group(1)) == done
    assert_same_outputs(out, clean_sorted)
    assert not (out / INCOMPLETE_MARKER).exists()
    assert not (out / ".parts").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resumed"] is True
    assert manifest["started"] == started


def test_interrupt_during_merge_then_resume(sorted_file, clean_sorted, scheduler_address, tmp_path,
                                            monkeypatch):
    out = tmp_path / "out"
    # Every output is written by then, so all of them must be taken back.
    stop_after(monkeypatch, run_module, "merge_outputs")
    with pytest.raises(Interrupted):
        run_job(job([sorted_file], out, scheduler_address))
    monkeypatch.undo()

    assert sorted(p.name for p in out.iterdir()) == [".parts", INCOMPLETE_MARKER]
    resume_job(RunConfig(inputs=[], out=str(out), scheduler=scheduler_address, progress=False))
    assert_same_outputs(out, clean_sorted)


@pytest.fixture(scope="module")
def clean_fresno(sorted_file, scheduler_address, tmp_path_factory) -> Path:
    """A clean single-county run of the sorted file, whose merge releases parts."""
    out = tmp_path_factory.mktemp("clean") / "fresno"
    run_job(job([sorted_file], out, scheduler_address, counties=["FRESNO"]))
    return out


def interrupted_merge(sorted_file, out, scheduler_address, monkeypatch, before_release) -> list[Path]:
    """Run the single-county job, calling `before_release(path, released)` before each
    bundle part is released, and return the parts released.

    `before_release` stops the merge by raising `Interrupted`, which the run must pass on.
    """
    released = []
    release = merge_module._release_part

    def release_unless_stopped(path):
        before_release(path, released)
        release(path)
        released.append(path)

    monkeypatch.setattr(merge_module, "_release_part", release_unless_stopped)
    with pytest.raises(Interrupted):
        run_job(job([sorted_file], out, scheduler_address, counties=["FRESNO"]))
    monkeypatch.undo()
    return released


def test_resume_after_bundle_parts_released(sorted_file, clean_fresno, scheduler_address, tmp_path,
                                            monkeypatch):
    def stop_after_two(path, released):
        if len(released) >= 2:
            raise Interrupted(signal.SIGTERM)

    out = tmp_path / "out"
    released = interrupted_merge(sorted_file, out, scheduler_address, monkeypatch, stop_after_two)

    assert {path.name for path in released} <= {ALL_PART, CONDENSED_PART}
    assert not any(path.exists() for path in released)
    assert not any((path.parent / "decided.msgpack").exists() for path in released)
    assert sorted(p.name for p in out.iterdir()) == [".parts", INCOMPLETE_MARKER]
    resume_job(RunConfig(inputs=[], out=str(out), scheduler=scheduler_address, progress=False))
    assert_same_outputs(out, clean_fresno)
    assert (out / "fresno" / "All_Results.csv").read_bytes().count(b"\n") == ROWS + 1


class RecordingThreading:
    """Stands in for the `threading` module of `cluster.merge`, keeping each Event it makes."""

    def __init__(self):
        self.events: list[threading.Event] = []

    def Event(self) -> threading.Event:  # noqa: N802 - the name of the function it replaces
        event = threading.Event()
        self.events.append(event)
        return event


def test_failed_join_stops_the_other(sorted_file, clean_fresno, scheduler_address, tmp_path,
                                     monkeypatch):
    merge_threading = RecordingThreading()
    monkeypatch.setattr(merge_module, "threading", merge_threading)
    full_reached_part = threading.Event()

    def fail_condensed_slow_full(path, released):
        if path.name == CONDENSED_PART:
            # The full join has copied its first part by then, whatever the load.
            assert full_reached_part.wait(timeout=60)
            raise Interrupted(signal.SIGINT)
        full_reached_part.set()
        # The first part is released only once the merge has seen the failure and
        # set its stop event, so the full join stops at its next part.
        assert merge_threading.events[0].wait(timeout=60)

    out = tmp_path / "out"
    released = interrupted_merge(sorted_file, out, scheduler_address, monkeypatch,
                                 fail_condensed_slow_full)

    assert [path.parent.name for path in released] == ["s000000"]
    assert (out / ".parts" / "s000001" / "decided.msgpack").exists()
    assert (out / ".parts" / "s000001" / ALL_PART).exists()
    resume_job(RunConfig(inputs=[], out=str(out), scheduler=scheduler_address, progress=False))
    assert_same_outputs(out, clean_fresno)


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_damaged_part_decided_again(sorted_file, clean_fresno, scheduler_address, tmp_path,
                                    monkeypatch, capsys, damage):
    out = tmp_path / "out"
    merge = run_module.merge_outputs

    def damage_then_merge(*args, **kwargs):
        part = out / ".parts" / "s000003" / ALL_PART
        data = part.read_bytes()
        if damage == "truncated":
            part.write_bytes(data[: len(data) // 2])
        else:
            part.write_bytes(data[:20] + b"\xff" * (len(data) - 20))
        return merge(*args, **kwargs)

    monkeypatch.setattr(run_module, "merge_outputs", damage_then_merge)
    code = main(["run", str(sorted_file), "--out", str(out), "--county", "FRESNO",
                 "--scheduler", scheduler_address, "--shard-size", str(SHARD_SIZE),
                 "--compute-at", COMPUTE_AT.isoformat(), "--no-progress"])
    monkeypatch.undo()

    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == EXIT_FAILED
    assert f"part file {out / '.parts' / 's000003' / ALL_PART} cannot be read" in message
    assert f"clearance run --resume {out}" in message
    assert not (out / ".parts" / "s000003" / "decided.msgpack").exists()
    resume_job(RunConfig(inputs=[], out=str(out), scheduler=scheduler_address, progress=False))
    assert_same_outputs(out, clean_fresno)


def test_interrupt_during_documents_points_to_documents(sorted_file, scheduler_address, tmp_path,
                                                       monkeypatch, capsys):
    out = tmp_path / "out"
    stop_after(monkeypatch, documents_build, "write_documents", signal.SIGINT)
    code = main(["run", str(sorted_file), "--out", str(out), "--scheduler", scheduler_address,
                 "--compute-at", COMPUTE_AT.isoformat(), "--documents", "--no-progress"])

    assert code == 128 + signal.SIGINT
    assert capsys.readouterr().err.strip().endswith(
        f"clearance: interrupted by SIGINT while the documents were written; the run in {out} is "
        f"finished, but its documents may be partial; make them again with `clearance documents {out}`")


def test_resume_rejects_changed_input(sorted_file, tmp_path):
    source = tmp_path / "input.csv"
    shutil.copyfile(sorted_file, source)
    out = tmp_path / "out"
    stopped = interrupt_run(source, out, signal.SIGTERM, whole_group=False)
    assert stopped.returncode == 128 + signal.SIGTERM

    # Same size, same modification time, one byte different: only the SHA-256 differs.
    status = source.stat()
    data = bytearray(source.read_bytes())
    data[-2] = ord("Z") if data[-2] != ord("Z") else ord("Y")
    source.write_bytes(bytes(data))
    os.utime(source, ns=(status.st_atime_ns, status.st_mtime_ns))

    code = main(["run", "--resume", str(out), "--no-progress"])
    assert code == EXIT_USAGE
    assert (out / INCOMPLETE_MARKER).exists()


def test_resume_before_input_hashed(sorted_file, scheduler_address, tmp_path, capsys):
    out = tmp_path / "out"
    stopped = interrupt_run(sorted_file, out, signal.SIGTERM, whole_group=False)
    assert stopped.returncode == 128 + signal.SIGTERM
    state_path = out / ".parts" / STATE_FILE
    saved = msgspec.msgpack.decode(state_path.read_bytes(), type=RunState)
    assert saved.inputs[0].sha256 == hashlib.sha256(sorted_file.read_bytes()).hexdigest()

    # As if the run had stopped before the hashing thread finished.
    saved.inputs = [msgspec.structs.replace(saved.inputs[0], sha256=None)]
    state_path.write_bytes(msgspec.msgpack.encode(saved))

    code = main(["run", "--resume", str(out), "--scheduler", scheduler_address, "--no-progress"])
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert (f"cannot resume: the run in {out} stopped before input {sorted_file} was hashed, so a "
            "change to it could go unseen. Start it again with --overwrite") in err
    assert (out / INCOMPLETE_MARKER).exists()


def hasher_for(path: Path, size: int, state_folder: Path):
    """Return an InputHasher over one input record, with the state file under `state_folder`."""
    mtime_ns = path.stat().st_mtime_ns if path.exists() else 0
    record = InputRecord(path.name, str(path), size, mtime_ns, None)
    settings, sources = build_settings(RunConfig(inputs=[str(path)], out=str(state_folder),
                                                 compute_at=COMPUTE_AT), COMPUTE_AT)
    state = RunState(format=STATE_FORMAT, version=__version__, run_id="hasher-test", started="",
                     settings=settings, policy_sources=sources, shard_size=SHARD_SIZE,
                     inputs=[record], files=[], shards=[])
    return InputHasher(state_folder, state), state


def test_hasher_names_removed_input(tmp_path):
    hasher, _ = hasher_for(tmp_path / "input.csv", 10, tmp_path)
    hasher.start()
    with pytest.raises(InputChangedError) as raised:
        hasher.finish()
    assert str(raised.value) == f"input input.csv is gone (looked for {tmp_path / 'input.csv'})"


def test_hasher_rejects_resized_input(sorted_file, tmp_path):
    (tmp_path / ".parts").mkdir()
    hasher, state = hasher_for(sorted_file, 10, tmp_path)
    hasher.start()
    with pytest.raises(InputChangedError) as raised:
        hasher.finish()
    assert str(raised.value) == (f"input sorted.csv changed since the run started: 10 bytes then, "
                                 f"{sorted_file.stat().st_size} now")
    assert state.inputs[0].sha256 is None
    assert not (tmp_path / ".parts" / STATE_FILE).exists()


def test_hasher_reports_read_error(sorted_file, tmp_path, monkeypatch):
    def unreadable(record, stop):
        raise PermissionError(13, "Permission denied", record.location)

    monkeypatch.setattr(lifecycle_module, "_sha256_as_planned", unreadable)
    hasher, _ = hasher_for(sorted_file, sorted_file.stat().st_size, tmp_path)
    hasher.start()
    # The input is unchanged, so the error is the read's, not a changed input's.
    with pytest.raises(PermissionError):
        hasher.finish()


def test_hasher_reports_failed_save(sorted_file, tmp_path):
    # No parts folder, so the state file cannot be written.
    hasher, state = hasher_for(sorted_file, sorted_file.stat().st_size, tmp_path)
    hasher.start()
    with pytest.raises(FileNotFoundError):
        hasher.finish()
    assert state.inputs[0].sha256 is None


def test_stopped_hasher_saves_nothing(sorted_file, tmp_path):
    (tmp_path / ".parts").mkdir()
    hasher, state = hasher_for(sorted_file, sorted_file.stat().st_size, tmp_path)
    hasher.stop()
    hasher.start()
    hasher.finish()
    assert state.inputs[0].sha256 is None
    assert not (tmp_path / ".parts" / STATE_FILE).exists()


def test_hasher_saves_hash(sorted_file, tmp_path):
    (tmp_path / ".parts").mkdir()
    hasher, state = hasher_for(sorted_file, sorted_file.stat().st_size, tmp_path)
    hasher.start()
    hasher.finish()
    expected = hashlib.sha256(sorted_file.read_bytes()).hexdigest()
    assert state.inputs[0].sha256 == expected
    saved = msgspec.msgpack.decode((tmp_path / ".parts" / STATE_FILE).read_bytes(), type=RunState)
    assert saved.inputs[0].sha256 == expected


def run_on_scheduler(source: Path, out: Path, scheduler_address: str, *options: str) -> int:
    """Run the command line on one input with the tests' scheduler; return its exit code."""
    return main(["run", str(source), "--out", str(out), "--scheduler", scheduler_address,
                 "--compute-at", str(COMPUTE_AT), "--no-progress", *options])


def raise_sigint(*args, **kwargs):
    """Stand in for a step of the run, stopping it as SIGINT would."""
    raise Interrupted(signal.SIGINT)


def replace_input_when_client_opens(monkeypatch, source: Path, replace, hashed: bool) -> None:
    """Call `replace(source)` after planning, as the run joins its scheduler, before any task reads.

    With `hashed`, the input's hash is saved first; without, it is never saved.
    """
    real_open_client = run_module.open_client
    if not hashed:
        monkeypatch.setattr(InputHasher, "run", lambda self: None)

    def open_client(config):
        deadline = time.monotonic() + 60
        while hashed and not lifecycle_module.is_resumable(config.out) and time.monotonic() < deadline:
            time.sleep(0.01)
        replace(source)
        return real_open_client(config)

    monkeypatch.setattr(run_module, "open_client", open_client)


def input_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def input_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


@pytest.mark.parametrize("replace,change", [
    (Path.unlink, "is gone (looked for {source})"),
    (input_folder, "changed since the run started: it is no longer a regular file"),
    (input_fifo, "changed since the run started: it is no longer a regular file"),
], ids=["removed", "replaced-by-folder", "replaced-by-fifo"])
def test_changed_input_advises_new_run(sorted_file, scheduler_address, tmp_path,
                                       monkeypatch, capsys, replace, change):
    source = tmp_path / "input.csv"
    shutil.copyfile(sorted_file, source)
    out = tmp_path / "out"
    replace_input_when_client_opens(monkeypatch, source, replace, hashed=False)
    code = run_on_scheduler(source, out, scheduler_address)
    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert (f"clearance: input {source} {change.format(source=source)}; results from it cannot "
            "be trusted, so start the run again with --overwrite") in err
    assert "--resume" not in err
    assert "It cannot be resumed" in (out / INCOMPLETE_MARKER).read_text()


def test_hashed_input_changed_can_be_restored(sorted_file, scheduler_address, tmp_path,
                                              monkeypatch, capsys):
    source = tmp_path / "input.csv"
    shutil.copyfile(sorted_file, source)
    original = tmp_path / "original.csv"
    out = tmp_path / "out"
    replace_input_when_client_opens(monkeypatch, source, lambda path: path.rename(original), hashed=True)
    code = run_on_scheduler(source, out, scheduler_address, "--shard-size", f"{SHARD_SIZE // 1024}KiB")
    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert (f"clearance: input {source} is gone (looked for {source}); put the original back and "
            f"finish the run with `clearance run --resume {out}`, or start it again with "
            "--overwrite") in err
    assert f"clearance run --resume {out}" in (out / INCOMPLETE_MARKER).read_text()

    monkeypatch.undo()
    original.rename(source)
    assert run_cli("run", "--resume", str(out), "--scheduler", scheduler_address,
                   "--no-progress").returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resumed"] is True
    assert manifest["rowAccount"]["rowsRead"] == ROWS
    assert not (out / INCOMPLETE_MARKER).exists()


def test_open_input_rejects_fifo(tmp_path):
    fifo = tmp_path / "input.csv"
    os.mkfifo(fifo)
    with pytest.raises(OSError) as raised:
        open_input(str(fifo))
    assert raised.value.errno == errno.EINVAL
    assert raised.value.filename == str(fifo)


def test_fifo_while_planning_reported_changed(sorted_file, scheduler_address, tmp_path,
                                              monkeypatch, capsys):
    source = tmp_path / "input.csv"
    shutil.copyfile(sorted_file, source)
    real_plan = run_module._plan

    def fifo_then_plan(files, out, config):
        input_fifo(source)
        return real_plan(files, out, config)

    monkeypatch.setattr(run_module, "_plan", fifo_then_plan)
    out = tmp_path / "out"
    code = run_on_scheduler(source, out, scheduler_address, "--shard-size", f"{SHARD_SIZE // 1024}KiB")
    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"clearance: input {source} changed since the run started: it is no longer a regular file" in err
    assert list(out.iterdir()) == []


def test_interrupt_as_run_finishes(sorted_file, scheduler_address, tmp_path, monkeypatch, capsys):
    real_finish = lifecycle_module.finish
    calls = []

    def interrupted_finish(out):
        # The run's call stops as if SIGTERM came while the parts folder was being
        # removed. The clean-up after the interrupt then runs unchanged.
        calls.append(out)
        real_finish(out)
        if len(calls) == 1:
            (out / ".parts" / "decided").mkdir(parents=True)
            raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(run_module.lifecycle, "finish", interrupted_finish)
    out = tmp_path / "out"
    code = run_on_scheduler(sorted_file, out, scheduler_address)
    assert code == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert (f"clearance: interrupted by SIGTERM as the run finished; the run in {out} is finished "
            "and its outputs are whole") in err
    assert "documents" not in err
    assert (out / "manifest.json").exists()
    assert not (out / ".parts").exists()
    assert calls == [out, out]


def interrupt_before_output(monkeypatch) -> None:
    """Make the next run stop with SIGINT just before it prepares its output folder."""
    monkeypatch.setattr(run_module, "prepare_output", raise_sigint)


def test_interrupt_keeps_earlier_run(sorted_file, clean_sorted, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    shutil.copytree(clean_sorted, out)
    interrupt_before_output(monkeypatch)
    code = main(["run", str(sorted_file), "--out", str(out), "--overwrite", "--no-progress"])
    assert code == 128 + signal.SIGINT
    err = capsys.readouterr().err
    assert (f"clearance: interrupted by SIGINT before the run started; {out} still contains the "
            "earlier run, unchanged") in err
    assert_same_outputs(out, clean_sorted)


def test_interrupt_before_output_created(sorted_file, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    interrupt_before_output(monkeypatch)
    code = main(["run", str(sorted_file), "--out", str(out), "--no-progress"])
    assert code == 128 + signal.SIGINT
    err = capsys.readouterr().err
    assert "clearance: interrupted by SIGINT before the run started; start it again\n" in err
    assert not out.exists()


def test_interrupt_while_planning_overwrite(sorted_file, clean_sorted, tmp_path, monkeypatch,
                                            capsys):
    out = tmp_path / "out"
    shutil.copytree(clean_sorted, out)

    monkeypatch.setattr(run_module, "_plan", raise_sigint)
    code = main(["run", str(sorted_file), "--out", str(out), "--overwrite", "--no-progress"])
    assert code == 128 + signal.SIGINT
    err = capsys.readouterr().err
    assert (f"clearance: interrupted by SIGINT before the run was planned; {out} is empty; "
            "start it again\n") in err
    assert list(out.iterdir()) == []


def test_interrupt_report_failure_prints_signal(sorted_file, tmp_path, monkeypatch, capsys):
    def half_loaded(args, stop):
        # What an import stopped halfway by the signal raises on the next import.
        raise AttributeError("partially initialized module")

    monkeypatch.setattr(cli_module, "_report_interrupt", half_loaded)
    interrupt_before_output(monkeypatch)
    code = main(["run", str(sorted_file), "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 128 + signal.SIGINT
    assert capsys.readouterr().err.endswith("clearance: interrupted by SIGINT\n")


def test_sigterm_held_while_cluster_starts():
    handler = signal.getsignal(signal.SIGTERM)
    steps = []
    with pytest.raises(Interrupted) as raised:
        with signals_interrupt():
            with sigint_ignored_in_children():
                os.kill(os.getpid(), signal.SIGTERM)
                steps.append("block ended")
            steps.append("after the block")
    assert steps == ["block ended"]
    assert raised.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is handler


def test_sigterm_in_cluster_start_closes_cluster(tmp_path, monkeypatch):
    started = []

    def sigterm_then_cluster(**options):
        os.kill(os.getpid(), signal.SIGTERM)
        started.append(LocalCluster(**options))
        return started[-1]

    monkeypatch.setattr(run_module, "LocalCluster", sigterm_then_cluster)
    config = RunConfig(inputs=[], out=str(tmp_path), workers=1)
    with pytest.raises(Interrupted), signals_interrupt():
        with run_module.open_client(config):
            pytest.fail("the client opened after a SIGTERM")
    assert len(started) == 1
    assert started[0].status == Status.closed


def test_input_changed_while_planning_rejected(sorted_file, scheduler_address, tmp_path,
                                              monkeypatch, capsys):
    source = tmp_path / "input.csv"
    shutil.copyfile(sorted_file, source)
    size = source.stat().st_size
    real_plan = run_module._plan

    def plan_then_append(files, out, config):
        shards = real_plan(files, out, config)
        with open(source, "ab") as handle:
            handle.write(b"\n")
        return shards

    monkeypatch.setattr(run_module, "_plan", plan_then_append)
    out = tmp_path / "out"
    code = run_on_scheduler(source, out, scheduler_address)
    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert (f"clearance: input {source} changed since the run started: {size} bytes then, "
            f"{size + 1} now") in err
    assert not (out / "manifest.json").exists()


def test_record_rejects_input_resized_since_described(sorted_file, tmp_path):
    source = tmp_path / "input.csv"
    shutil.copyfile(sorted_file, source)
    size = source.stat().st_size
    files = describe_inputs([str(source)])
    with open(source, "ab") as handle:
        handle.write(b"\n")
    with pytest.raises(InputChangedError) as raised:
        lifecycle_module.record_inputs(files)
    assert str(raised.value) == (f"input {source} changed since the run started: {size} bytes then, "
                                 f"{size + 1} now")


def test_interrupt_before_hashing_advises_new_run(sorted_file, scheduler_address, tmp_path,
                                                 monkeypatch, capsys):
    monkeypatch.setattr(InputHasher, "run", lambda self: None)
    monkeypatch.setattr(run_module, "_decide", raise_sigint)
    out = tmp_path / "out"
    code = run_on_scheduler(sorted_file, out, scheduler_address)
    assert code == 128 + signal.SIGINT
    err = capsys.readouterr().err
    assert (f"clearance: interrupted by SIGINT before the inputs were hashed, so the run in {out} "
            "cannot be resumed; start it again with --overwrite") in err
    marker = (out / INCOMPLETE_MARKER).read_text()
    assert "It cannot be resumed. Start the run again with --overwrite," in marker
    assert "--resume" not in marker


def test_interrupted_clearing_leaves_unfinished(sorted_file, clean_sorted, scheduler_address,
                                                tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    shutil.copytree(clean_sorted, out)
    real_rmtree = shutil.rmtree

    def interrupted_rmtree(path, *args, **kwargs):
        raise Interrupted(signal.SIGINT)

    monkeypatch.setattr(run_module.shutil, "rmtree", interrupted_rmtree)
    code = main(["run", str(sorted_file), "--out", str(out), "--overwrite", "--no-progress"])
    monkeypatch.setattr(run_module.shutil, "rmtree", real_rmtree)
    assert code == 128 + signal.SIGINT
    err = capsys.readouterr().err
    assert (f"clearance: interrupted by SIGINT before the run was planned; start it again with "
            "--overwrite") in err
    assert "It cannot be resumed" in (out / INCOMPLETE_MARKER).read_text()

    run_job(job([sorted_file], out, scheduler_address, overwrite=True))
    assert_same_outputs(out, clean_sorted)


def test_overwrite_of_folder_in_use_rejected(sorted_file, clean_sorted, scheduler_address,
                                             tmp_path):
    out = tmp_path / "out"
    shutil.copytree(clean_sorted, out)
    with lifecycle_module.output_lock(out):
        with pytest.raises(ConfigError) as raised:
            run_job(job([sorted_file], out, scheduler_address, overwrite=True))
    assert str(raised.value) == (f"output folder {out} is in use by another Clearance run; wait "
                                 "for it to end, or choose another --out")
    assert_same_outputs(out, clean_sorted)


def test_resume_of_folder_in_use_rejected(sorted_file, scheduler_address, tmp_path):
    out = tmp_path / "out"
    stopped = interrupt_run(sorted_file, out, signal.SIGTERM, whole_group=False)
    assert stopped.returncode == 128 + signal.SIGTERM
    with lifecycle_module.output_lock(out):
        with pytest.raises(ConfigError, match="is in use by another Clearance run"):
            resume_job(job([], out, scheduler_address))
    # Released, the folder can be resumed.
    resume_job(job([], out, scheduler_address))
    assert (out / "manifest.json").exists()
    assert not (out / INCOMPLETE_MARKER).exists()


def test_resume_rejects_resized_input(sorted_file, tmp_path, capsys):
    source = tmp_path / "input.csv"
    shutil.copyfile(sorted_file, source)
    out = tmp_path / "out"
    stopped = interrupt_run(source, out, signal.SIGTERM, whole_group=False)
    assert stopped.returncode == 128 + signal.SIGTERM
    with open(source, "ab") as handle:
        handle.write(b"\n")

    code = main(["run", "--resume", str(out), "--no-progress"])
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"input {source} changed since the run started" in err
    assert "bytes then" in err


def test_resume_of_finished_run_rejected(clean_sorted, capsys):
    code = main(["run", "--resume", str(clean_sorted)])
    assert code == EXIT_USAGE
    assert "already finished" in capsys.readouterr().err


def test_resume_rejects_result_options(clean_sorted, capsys):
    code = main(["run", "--resume", str(clean_sorted), "--compute-at", "2021-01-01"])
    assert code == EXIT_USAGE
    assert "drop --compute-at" in capsys.readouterr().err


def test_new_run_on_unfinished_folder_points_to_resume(sorted_file, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".parts").mkdir()
    (out / INCOMPLETE_MARKER).write_text("unfinished")
    code = main(["run", str(sorted_file), "--out", str(out), "--no-progress"])
    assert code == EXIT_USAGE
    assert f"clearance run --resume {out}" in capsys.readouterr().err


def _unprivileged_user_namespaces() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _unprivileged_user_namespaces(),
                    reason="a small tmpfs needs `unshare -rm` (util-linux) with user namespaces allowed")
def test_full_disk_one_clear_message(sorted_file, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "out"
    command = " ".join(cli_command("run", str(sorted_file), "--out", str(out), "--workers", "1",
                                   "--shard-size", "48KiB", "--no-progress"))
    # A 512 KiB file system has room for the plan but not for the parts of a 2 MB input.
    script = f"mount -t tmpfs -o size=512k tmpfs {disk} && {command}"
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True,
                            text=True, timeout=180, env=child_environment())

    assert result.returncode == EXIT_FAILED, result.stderr
    assert "no space left on the device while writing" in result.stderr
    assert str(out) in result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("clearance:")]
    assert len(lines) == 1


#: Capabilities that let root read and write any file whatever its mode.
FILE_OVERRIDES = "-dac_override,-dac_read_search"


def _without_file_overrides() -> list[str]:
    """Return a command prefix under which file modes bind this user, root included.

    Root keeps its user id but drops the capabilities that override file modes, so
    the child still reads the project and the interpreter, which root owns.
    """
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("runs as root, and dropping root's file capabilities needs setpriv (util-linux)")
    prefix = ["setpriv", f"--inh-caps={FILE_OVERRIDES}", f"--bounding-set={FILE_OVERRIDES}", "--"]
    with tempfile.TemporaryDirectory() as folder:
        closed = Path(folder) / "closed"
        closed.write_bytes(b"x")
        closed.chmod(0o000)
        probe = subprocess.run([*prefix, "cat", str(closed)], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("runs as root, and setpriv could not take away root's file capabilities here")
    return prefix


def _run_without_overrides(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_without_file_overrides(), *cli_command(*args)], capture_output=True,
                          text=True, timeout=180, env=child_environment(), cwd=REPOSITORY)


def test_unreadable_input_one_clear_message(sorted_file, tmp_path):
    source = tmp_path / "input.csv"
    shutil.copyfile(sorted_file, source)
    source.chmod(0o000)
    result = _run_without_overrides("run", str(source), "--out", str(tmp_path / "run"), "--no-progress")

    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr.strip().startswith("clearance: input cannot be read")
    assert str(source) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_unwritable_output_one_clear_message(sorted_file, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    result = _run_without_overrides("run", str(sorted_file), "--out", str(locked / "run"),
                                    "--no-progress")

    assert result.returncode == EXIT_USAGE, result.stderr
    assert str(locked / "run") in result.stderr
    assert "not writable" in result.stderr or "permission denied" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert not (locked / "run").exists()


@pytest.mark.parametrize("debug,advice", [(False, True), (True, False)], ids=["plain", "debug"])
def test_unexpected_error_advises_debug(debug, advice):
    message = describe_failure(RuntimeError("unexpected"), None, debug)
    assert message.startswith("run failed: RuntimeError at ")
    assert ("(rerun with --debug for the traceback)" in message) is advice


def test_missing_part_advises_restoring_it(tmp_path):
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "out/.parts/s000001")
    assert describe_os_error(missing, "out") == (
        "out/.parts/s000001 was not found; it may have been moved or deleted during the run; "
        "put it back, then finish the run with `clearance run --resume out`")
    assert describe_os_error(missing) == (
        "out/.parts/s000001 was not found; it may have been moved or deleted during the run")


def test_debug_shows_traceback(tmp_path):
    result = run_cli("--debug", "run", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "out"))
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "absent.csv" in result.stderr


def test_unreachable_scheduler_one_clear_message(sorted_file, tmp_path, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code = main(["run", str(sorted_file), "--out", str(tmp_path / "out"), "--scheduler", address,
                     "--no-progress"])

    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"scheduler {address} cannot be reached" in err
    assert f"clearance run --resume {tmp_path / 'out'}" in err
    assert "Traceback" not in err


def test_task_error_carries_no_value():
    secret = "PERSON-VALUE-4471"

    @redact_errors
    def decide(shard):
        int(secret)

    with pytest.raises(TaskError) as caught:
        decide(7)
    message = str(caught.value)
    assert secret not in message
    assert message.startswith("decide of bucket 7 failed: ValueError at tests/test_faults.py:")
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_task_os_error_keeps_number_and_path():
    @redact_errors
    def write(shard):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/out/.parts/s000001/part.csv")

    with pytest.raises(OSError) as caught:
        write(1)
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == "/runs/out/.parts/s000001/part.csv"


def test_task_os_error_without_number_redacted():
    @redact_errors
    def read(shard):
        raise OSError("cannot parse PERSON-VALUE-4471")

    with pytest.raises(TaskError) as caught:
        read(1)
    assert "PERSON-VALUE-4471" not in str(caught.value)


@pytest.mark.parametrize("program, expected", [
    (".venv/bin/clearance", ".venv/bin/clearance run --resume out"),
    ("/usr/local/bin/clearance", "/usr/local/bin/clearance run --resume out"),
    ("/srv/clearance/cluster/cli.py", "clearance run --resume out"),
], ids=["venv-script", "installed-script", "python-module"])
def test_resume_command_names_program(monkeypatch, program, expected):
    monkeypatch.setattr(sys, "argv", [program, "run"])
    assert resume_command("out") == expected

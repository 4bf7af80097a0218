"""Helpers of the fault, privacy and TLS tests: running the command line in a child
process, and comparing the outputs of two runs byte for byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from cluster.interrupt import Interrupted

REPOSITORY = Path(__file__).resolve().parents[1]
#: Manifest keys that differ between two runs of the same job.
VOLATILE_MANIFEST_KEYS = ("runId", "started", "resumed", "timingsSeconds")


def cli_command(*args: str) -> list[str]:
    """Return the command line of `clearance ARGS` run by this interpreter."""
    return [sys.executable, "-m", "cluster.cli", *args]


def child_environment(**extra: str) -> dict[str, str]:
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY), **extra)
    environment.pop("COLUMNS", None)
    return environment


def run_cli(*args: str, timeout: float = 180, **options) -> subprocess.CompletedProcess:
    """Run `clearance ARGS` in a child process and return its exit code and output."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout,
                          env=child_environment(), cwd=REPOSITORY, **options)


def output_files(out: Path) -> dict[str, bytes]:
    """Return every file of a run's output folder but the manifest, by relative path."""
    return {str(path.relative_to(out)): path.read_bytes()
            for path in sorted(out.rglob("*")) if path.is_file() and path.name != "manifest.json"}


def read_manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def stable_manifest(out: Path) -> dict:
    manifest = read_manifest(out)
    for key in VOLATILE_MANIFEST_KEYS:
        manifest.pop(key)
    return manifest


def assert_same_outputs(got: Path, want: Path) -> None:
    """Assert that two runs wrote the same files with the same bytes.

    The manifests may differ only in the run id and the timings.
    """
    got_files, want_files = output_files(got), output_files(want)
    assert sorted(got_files) == sorted(want_files)
    for name, data in want_files.items():
        assert got_files[name] == data, name
    assert stable_manifest(got) == stable_manifest(want)


def stop_after(monkeypatch, owner, name: str, signum: int = signal.SIGTERM) -> None:
    """Replace `owner.name` with a call that runs it, then stops as a signal would."""
    original = getattr(owner, name)

    def run_then_stop(*args, **kwargs):
        original(*args, **kwargs)
        raise Interrupted(signum)

    monkeypatch.setattr(owner, name, run_then_stop)

"""Short atheris runs of the fuzz targets in tests/fuzz, seeded with the bad-row files.

atheris installs from PyPI as a wheel for CPython 3.11 on x86-64 Linux; elsewhere
these tests skip. A longer run: `.venv/bin/python tests/fuzz/fuzz_reader.py -runs=1000000 DIR`.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPOSITORY, child_environment

FUZZ = REPOSITORY / "tests" / "fuzz"
BAD_ROWS = REPOSITORY / "tests" / "bad_rows"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                                reason="atheris is not installed (it ships wheels for CPython "
                                       "3.11 on x86-64 Linux only)")


def fuzz(target: str, runs: int, corpus: Path | None) -> subprocess.CompletedProcess:
    command = [sys.executable, str(FUZZ / target), f"-runs={runs}", "-seed=1", "-max_len=8192"]
    if corpus is not None:
        command.append(str(corpus))
    return subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env=child_environment(), cwd=REPOSITORY)


def test_reader_survives_fuzzing(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in BAD_ROWS.glob("*.csv"):
        if path.stat().st_size <= 8192:
            shutil.copy(path, corpus)
    result = fuzz("fuzz_reader.py", 6000, corpus)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 6000 runs" in result.stderr


def test_policy_decoder_survives_fuzzing(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "policy.json").write_text(
        '{"baselineEligibility": {"dismiss": ["11357"], "reduce": ["11358", "11359", "11360"]},'
        ' "additionalRelief": {"subjectAgeThreshold": 57, "subjectIsDeceased": true}}')
    result = fuzz("fuzz_policy.py", 20000, corpus)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 20000 runs" in result.stderr

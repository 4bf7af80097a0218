"""Shared fixtures: the sample research files and one Dask cluster for the session."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

# Plain asserts in the shared history helpers report their values as test asserts do.
pytest.register_assert_rewrite("tests.histories")

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "fixtures" / "doj"
SAMPLE_POLICY = SAMPLES / "eligibility_options.json"


@pytest.fixture(scope="session")
def samples() -> Path:
    """The sample research files; tests that need them skip where the folder is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"sample files not found at {SAMPLES}; they ship in the project's shared folder")
    return SAMPLES


@pytest.fixture(scope="session")
def scheduler_address():
    """One LocalCluster of two workers shared by every test that runs the main job."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="session")
def sorted_file(tmp_path_factory) -> Path:
    """A generated file of four counties, sorted by SUBJECT_ID as the DOJ sends it."""
    from engine.generate import write_research_file
    from tests.sorted_run import COUNTIES, ROWS

    path = tmp_path_factory.mktemp("sorted") / "sorted.csv"
    write_research_file(str(path), rows=ROWS, counties=COUNTIES, seed=11)
    return path


@pytest.fixture(scope="session")
def clean_sorted(sorted_file, scheduler_address, tmp_path_factory) -> Path:
    """The outputs of an uninterrupted run on `sorted_file`, for tests to compare with."""
    from cluster.run import run_job
    from tests.sorted_run import job

    out = tmp_path_factory.mktemp("clean") / "sorted"
    run_job(job([sorted_file], out, scheduler_address))
    return out


def read_csv_cells(path: Path) -> list[list[str]]:
    """Parse a CSV file into cells; bytes that are not UTF-8 are read as Latin-1."""
    return list(csv.reader(io.StringIO(path.read_bytes().decode("latin-1"), newline="")))


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))

"""The hand-made files of tests/bad_rows: each kind of bad row is set aside with its
reason, each odd but readable row is decided, and the row account always balances."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from cluster.run import run_job
from cluster.settings import RunConfig
from engine.batch import Settings, evaluate
from engine.county_rules import DEFAULT_RULES
from engine.reader import ReadStats, iter_rows, split_lines
from tests.conftest import read_csv_cells
from tests.helpers import read_manifest

FOLDER = Path(__file__).resolve().parent / "bad_rows"
EXPECTED: dict[str, dict] = json.loads((FOLDER / "expected.json").read_text(encoding="utf-8"))
COMPUTE_AT = datetime.date(2020, 1, 1)


def test_every_file_has_expectation():
    assert sorted(p.name for p in FOLDER.glob("*.csv")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_rows_set_aside_with_reason(name):
    expected = EXPECTED[name]
    stats = ReadStats()
    rejected = []
    settings = Settings(COMPUTE_AT, DEFAULT_RULES, {}, None, True)
    lines = split_lines((FOLDER / name).read_bytes())
    batch = evaluate(iter_rows(lines, 0, stats, rejected, True), settings)

    decided = sum(batch.decided_by_shard.values())
    passed = sum(batch.passed_by_shard.values())
    assert stats.rows == expected["rows"]
    assert [[row.line, row.reason] for row in rejected] == expected["set_aside"]
    assert decided == expected["decided"]
    assert stats.rows == decided + passed + len(rejected)
    assert len(batch.all_lines) == stats.rows - len(rejected)


def test_main_job_over_every_bad_file(scheduler_address, tmp_path):
    inputs = [FOLDER / name for name in sorted(EXPECTED)]
    out = tmp_path / "out"
    outcome = run_job(RunConfig(inputs=[str(p) for p in inputs], out=str(out), compute_at=COMPUTE_AT,
                                scheduler=scheduler_address, progress=False))

    total_set_aside = sum(len(e["set_aside"]) for e in EXPECTED.values())
    assert outcome.rows_set_aside == total_set_aside
    account = read_manifest(out)["rowAccount"]
    for entry, name in zip(account["files"], sorted(EXPECTED)):
        assert entry["path"] == str(FOLDER / name)
        assert entry["rowsRead"] == EXPECTED[name]["rows"], name
        assert entry["rowsSetAside"] == len(EXPECTED[name]["set_aside"]), name
        assert entry["rowsDecided"] + entry["rowsPassedThrough"] + entry["rowsSetAside"] == \
            entry["rowsRead"], name

    rejected = read_csv_cells(out / "rejected.csv")[1:]
    got = [(Path(row[0]).name, int(row[1]), row[2]) for row in rejected]
    want = [(name, line, reason) for name in sorted(EXPECTED)
            for line, reason in EXPECTED[name]["set_aside"]]
    assert got == want

    # County names become folder names inside the output folder, never a path out of it.
    for name, expected in EXPECTED.items():
        for folder in expected.get("folders", []):
            assert (out / folder / "Prop64_Results.csv").is_file(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert all(p.resolve().is_relative_to(out) for p in out.rglob("*"))

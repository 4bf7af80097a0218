"""Decisions must see a person's whole history however the rows are ordered or split."""

from __future__ import annotations

import datetime
import gzip
import random
from pathlib import Path

import pytest

from cluster.run import run_job
from cluster.settings import RunConfig
from engine import layout
from engine.generate import write_research_file
from tests.conftest import read_csv_cells, read_json

COMPUTE_AT = datetime.date(2019, 11, 11)
COUNTIES = ["ALPINE", "FRESNO", "SAN JOAQUIN", "YOLO"]


def run(inputs, out, scheduler, shard_size=64 * 1024, counties=None):
    config = RunConfig(inputs=[str(p) for p in inputs], out=str(out), counties=counties,
                       compute_at=COMPUTE_AT, scheduler=scheduler, shard_size=shard_size,
                       progress=False)
    return run_job(config)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("generated") / "sorted.csv"
    write_research_file(str(path), rows=6000, counties=COUNTIES, seed=7)
    return path


def shuffled_lines(path: Path, seed: int) -> tuple[bytes, list[bytes]]:
    header, *rows = path.read_bytes().splitlines(keepends=True)
    random.Random(seed).shuffle(rows)
    return header, rows


def decided_rows(out: Path, folder: str) -> list[list[str]]:
    header, *rows = read_csv_cells(out / folder / "Prop64_Results.csv")
    return sorted(rows)


# Columns whose values list the person's rows in file order: shuffling reorders them.
LISTS_IN_FILE_ORDER = {"Case Number": "; ", "Superstrike Code Section(s)": ";",
                       "PC290 Code Section(s)": ";"}


def decisions_by_conviction(out: Path, folder: str) -> dict[tuple[str, str], dict[str, object]]:
    """Map (SUBJECT_ID, CNT_ORDER) to the eligibility cells of its decided row.

    Which sentence-part row of a count is its first, and so which input cells the
    bundle copies, follows file order; the decision and its figures must not.
    """
    header, *rows = read_csv_cells(out / folder / "Prop64_Results.csv")
    decisions = {}
    for row in rows:
        cells = dict(zip(header[95:], row[95:]))
        for name, separator in LISTS_IN_FILE_ORDER.items():
            cells[name] = sorted(cells[name].split(separator))
        decisions[(row[2], row[50])] = cells
    return decisions


def county_summaries(out: Path) -> dict:
    return read_json(out / "summary.json")["counties"]


def test_shuffled_input_same_decisions(generated, scheduler_address, tmp_path):
    run([generated], tmp_path / "sorted", scheduler_address)
    header, rows = shuffled_lines(generated, seed=1)
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_bytes(header + b"".join(rows))
    outcome = run([shuffled], tmp_path / "out", scheduler_address)

    assert outcome.rows_read == 6000
    assert county_summaries(tmp_path / "out") == county_summaries(tmp_path / "sorted")
    for county in ("alpine", "fresno", "san-joaquin", "yolo"):
        got = decisions_by_conviction(tmp_path / "out", county)
        assert got == decisions_by_conviction(tmp_path / "sorted", county), county


def test_split_files_same_decisions(generated, scheduler_address, tmp_path):
    run([generated], tmp_path / "sorted", scheduler_address)
    header, rows = shuffled_lines(generated, seed=2)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv.gz"
    first.write_bytes(header + b"".join(rows[:2500]))
    with gzip.open(second, "wb") as handle:
        handle.write(b"".join(rows[2500:]))
    run([first, second], tmp_path / "out", scheduler_address)

    assert county_summaries(tmp_path / "out") == county_summaries(tmp_path / "sorted")
    for county in ("alpine", "fresno", "san-joaquin", "yolo"):
        got = decisions_by_conviction(tmp_path / "out", county)
        assert got == decisions_by_conviction(tmp_path / "sorted", county), county


def test_person_split_over_two_files(scheduler_address, tmp_path, generated):
    header, *rows = generated.read_bytes().splitlines(keepends=True)
    middle = len(rows) // 2
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_bytes(header + b"".join(rows[:middle]))
    second.write_bytes(b"".join(rows[middle:]))
    run([generated], tmp_path / "whole", scheduler_address, shard_size=10 * 1024 * 1024)
    run([first, second], tmp_path / "split", scheduler_address, shard_size=10 * 1024 * 1024)

    # One file in input order against two: the bundle lines come out in the same order.
    for county in ("alpine", "fresno", "san-joaquin", "yolo"):
        whole = (tmp_path / "whole" / county / "Prop64_Results.csv").read_bytes()
        assert (tmp_path / "split" / county / "Prop64_Results.csv").read_bytes() == whole, county


def test_split_person_county_bundle(scheduler_address, tmp_path, generated):
    header, *rows = generated.read_bytes().splitlines(keepends=True)
    subjects = [layout.split_fields(row.rstrip(b"\n"))[layout.SUBJECT_ID] for row in rows]
    # The cut falls inside one person's rows, so the single-county bundle is regrouped.
    middle = next(i for i in range(len(rows) // 2, len(rows)) if subjects[i - 1] == subjects[i])
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_bytes(header + b"".join(rows[:middle]))
    second.write_bytes(b"".join(rows[middle:]))
    run([generated], tmp_path / "whole", scheduler_address, counties=["FRESNO"])
    run([first, second], tmp_path / "split", scheduler_address, counties=["FRESNO"])

    for name in ("All_Results.csv", "All_Results_Condensed.csv", "Prop64_Results.csv"):
        whole = (tmp_path / "whole" / "fresno" / name).read_bytes()
        assert (tmp_path / "split" / "fresno" / name).read_bytes() == whole, name
    manifest = read_json(tmp_path / "split" / "manifest.json")
    assert manifest["timingsSeconds"]["regroup"] > 0


def test_statewide_equals_single_county(generated, scheduler_address, tmp_path):
    run([generated], tmp_path / "all", scheduler_address)
    for county, folder in (("FRESNO", "fresno"), ("SAN JOAQUIN", "san-joaquin")):
        run([generated], tmp_path / folder, scheduler_address, counties=[county])
        single = (tmp_path / folder / folder / "Prop64_Results.csv").read_bytes()
        assert (tmp_path / "all" / folder / "Prop64_Results.csv").read_bytes() == single, county
        assert (tmp_path / folder / folder / "All_Results.csv").exists()


def test_decisions_dataset_matches_bundle(generated, scheduler_address, tmp_path):
    import pandas as pd

    run([generated], tmp_path / "out", scheduler_address)
    frame = pd.read_parquet(tmp_path / "out" / "decisions", engine="pyarrow")
    summaries = county_summaries(tmp_path / "out")
    for county, summary in summaries.items():
        rows = frame[frame["county"] == summary["folder"]]
        expected = sum(summary["prop64ConvictionsCountInCountyByCodeSection"].values())
        assert len(rows) == expected, county
        assert len(decided_rows(tmp_path / "out", summary["folder"])) == expected, county


def bundle_files(out: Path) -> dict[str, bytes]:
    """Return the county bundles and summaries of a run, by path: every output but the
    decisions dataset, whose part names follow the shard plan."""
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*"))
            if path.is_file() and path.parts[len(out.parts)] != "decisions"
            and path.name != "manifest.json"}


@pytest.mark.parametrize("counties", [None, ["FRESNO"]], ids=["statewide", "one county"])
def test_unsorted_shards_decided_later(generated, scheduler_address, tmp_path, caplog, counties):
    header, rows = shuffled_lines(generated, seed=4)
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_bytes(header + b"".join(rows))
    caplog.set_level("INFO", logger="cluster.run")
    # Shards of a few hundred rows hold about one row per person, so none looks unsorted.
    run([shuffled], tmp_path / "small", scheduler_address, counties=counties)
    assert "and 0 unsorted shards left undecided" in caplog.text
    caplog.clear()

    # Two shards of 3,000 rows hold each person several times, out of order.
    run([shuffled], tmp_path / "large", scheduler_address, shard_size=1 << 20, counties=counties)

    assert "and 2 unsorted shards left undecided" in caplog.text
    assert bundle_files(tmp_path / "large") == bundle_files(tmp_path / "small")

"""`clearance deidentify`: a research copy of a run's decisions without identities."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import shutil
import stat
from pathlib import Path

import fastparquet
import pandas as pd
import pytest

from cluster.cli import EXIT_OK, EXIT_USAGE, main
import cluster.deidentify as deidentify_module
from cluster.deidentify import KEY_ENVIRONMENT_VARIABLE, REMOVED_COLUMNS, research_frame
from cluster.parquet_metadata import write_dataset_metadata
from cluster.run import run_job
from cluster.settings import RunConfig
from engine.generate import write_research_file

COMPUTE_AT = datetime.date(2020, 1, 1)
RESEARCH_COLUMNS = {"person_key", "conviction_key", "county_name", "section", "felony",
                    "determination", "reason", "check", "conviction_count", "prop64_count",
                    "deceased", "pc290_registration", "code_sections", "disposition_year", "county"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, scheduler_address) -> Path:
    folder = tmp_path_factory.mktemp("deidentify")
    source = folder / "input.csv"
    write_research_file(str(source), rows=4_000, counties=["FRESNO", "YOLO", "KERN"], seed=9)
    out = folder / "run"
    run_job(RunConfig(inputs=[str(source)], out=str(out), compute_at=COMPUTE_AT,
                      scheduler=scheduler_address, progress=False))
    return out


def make_key(path: Path, seed: bytes) -> Path:
    path.write_bytes(hashlib.sha256(seed).digest())
    path.chmod(0o600)
    return path


def read_dataset(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder / "decisions", engine="pyarrow")


def parts_of(folder: Path) -> list[Path]:
    return sorted((folder / "decisions").glob("county=*/*.parquet"))


def test_research_copy_replaces_identities(finished_run, tmp_path):
    key_file = make_key(tmp_path / "key", b"first key")
    out = tmp_path / "research"
    assert main(["deidentify", str(finished_run), "--out", str(out), "--key-file", str(key_file)]) == EXIT_OK

    original = read_dataset(finished_run)
    research = read_dataset(out)
    assert set(research.columns) == RESEARCH_COLUMNS
    assert len(research) == len(original) > 0
    assert not set(REMOVED_COLUMNS) & set(research.columns)

    key = key_file.read_bytes()
    for source, copy in zip(parts_of(finished_run), parts_of(out), strict=True):
        assert source.relative_to(finished_run) == copy.relative_to(out)
        before = fastparquet.ParquetFile(str(source)).to_pandas()
        after = fastparquet.ParquetFile(str(copy)).to_pandas()
        expected = [hmac.new(key, s.encode(), hashlib.sha256).hexdigest() for s in before["subject"]]
        assert list(after["person_key"]) == expected
        assert list(after["determination"]) == list(before["determination"])
        years = [None if pd.isna(d) else d.year for d in before["disposition_date"]]
        assert [None if pd.isna(y) else int(y) for y in after["disposition_year"]] == years

    identities = set(original["subject"]) | set(original["cii_number"]) | set(original["case_numbers"])
    identities.discard("")
    for column in research.columns:
        values = {str(value) for value in research[column].dropna()}
        assert not values & identities, column

    report = json.loads((out / "deidentified.json").read_text())
    assert report["rows"] == len(original)
    assert report["hash"] == "HMAC-SHA256"
    assert key.hex() not in (out / "deidentified.json").read_text()
    for path in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_same_key_links_copies_new_key_does_not(finished_run, tmp_path):
    first = make_key(tmp_path / "first", b"first key")
    second = make_key(tmp_path / "second", b"second key")
    again = make_key(tmp_path / "again", b"first key")
    for name, key_file in (("a", first), ("b", second), ("c", again)):
        assert main(["deidentify", str(finished_run), "--out", str(tmp_path / name),
                     "--key-file", str(key_file)]) == EXIT_OK

    a, b, c = (read_dataset(tmp_path / name) for name in "abc")
    assert list(c["person_key"]) == list(a["person_key"])
    assert set(a["person_key"]).isdisjoint(set(b["person_key"]))


def test_key_from_environment(finished_run, tmp_path, monkeypatch):
    text = "an operator's passphrase of forty characters"
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, text)
    assert main(["deidentify", str(finished_run), "--out", str(tmp_path / "research")]) == EXIT_OK

    source = fastparquet.ParquetFile(str(parts_of(finished_run)[0])).to_pandas()
    copy = fastparquet.ParquetFile(str(parts_of(tmp_path / "research")[0])).to_pandas()
    subject = source["subject"].iloc[0]
    assert copy["person_key"].iloc[0] == hmac.new(text.encode(), subject.encode(), hashlib.sha256).hexdigest()


def test_short_or_missing_key_rejected(finished_run, tmp_path, monkeypatch, capsys):
    short = tmp_path / "short"
    short.write_bytes(b"0123456789")
    assert main(["deidentify", str(finished_run), "--out", str(tmp_path / "a"), "--key-file", str(short)]) \
        == EXIT_USAGE
    assert "contains 10 bytes; a key needs at least 32" in capsys.readouterr().err
    monkeypatch.delenv(KEY_ENVIRONMENT_VARIABLE, raising=False)
    assert main(["deidentify", str(finished_run), "--out", str(tmp_path / "b")]) == EXIT_USAGE
    assert KEY_ENVIRONMENT_VARIABLE in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()


def test_changed_run_rejected(finished_run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    part = parts_of(copy)[0]
    part.write_bytes(part.read_bytes()[:-1] + b"\x00")
    key_file = make_key(tmp_path / "key", b"k")
    code = main(["deidentify", str(copy), "--out", str(tmp_path / "research"), "--key-file", str(key_file)])
    assert code == EXIT_USAGE
    assert "does not match the SHA-256 in the run's manifest" in capsys.readouterr().err


def test_unfinished_run_rejected(finished_run, tmp_path, capsys):
    unfinished = tmp_path / "run"
    unfinished.mkdir()
    (unfinished / "INCOMPLETE").write_text("unfinished")
    key_file = make_key(tmp_path / "key", b"k")
    code = main(["deidentify", str(unfinished), "--out", str(tmp_path / "research"),
                 "--key-file", str(key_file)])
    assert code == EXIT_USAGE
    assert "contains no finished run" in capsys.readouterr().err


def test_parts_with_and_without_unknown_dates_join(finished_run, tmp_path):
    frame = fastparquet.ParquetFile(str(parts_of(finished_run)[0])).to_pandas()
    known = frame.assign(disposition_date=pd.Timestamp("2011-05-02"))
    unknown = frame.assign(disposition_date=pd.NaT)
    parts = []
    for name, source in (("known", known), ("unknown", unknown)):
        folder = tmp_path / f"county={name}"
        folder.mkdir()
        parts.append(folder / "part.parquet")
        fastparquet.write(str(parts[-1]), research_frame(source, b"k" * 32), write_index=False, stats=False)

    write_dataset_metadata(tmp_path, parts)

    years = pd.read_parquet(tmp_path, engine="pyarrow")
    assert sorted(years["disposition_year"].dropna().unique()) == [2011]
    assert years["disposition_year"].isna().sum() == len(frame)


def test_failed_copy_leaves_no_folder(finished_run, tmp_path, monkeypatch):
    key_file = make_key(tmp_path / "key", b"first key")
    out = tmp_path / "research"

    def fail(frame, key):
        raise RuntimeError("stop")

    monkeypatch.setattr(deidentify_module, "research_frame", fail)
    assert main(["deidentify", str(finished_run), "--out", str(out), "--key-file", str(key_file)]) != EXIT_OK
    assert not out.exists()

"""Compressed inputs: unpacked by the client into pieces of about one shard, cut where
the SUBJECT_ID changes, so no worker reads a whole compressed file."""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import re
import shutil
import signal
import stat
from pathlib import Path

import pytest

import cluster.plan as plan_module
import cluster.run as run_module
from cluster.cli import EXIT_USAGE
from cluster.interrupt import Interrupted
from cluster.lifecycle import INCOMPLETE_MARKER
from cluster.plan import InputFormatError, _subject_of, describe_inputs, plan_shards, unpack_compressed
from cluster.run import resume_job, run_job
from cluster.settings import RunConfig
from engine import layout
from tests.helpers import output_files, read_manifest, run_cli, stable_manifest, stop_after
from tests.sorted_run import ROWS, SHARD_SIZE, job

@pytest.fixture(scope="module")
def gzip_file(sorted_file) -> Path:
    path = sorted_file.with_name("sorted.csv.gz")
    path.write_bytes(gzip.compress(sorted_file.read_bytes(), compresslevel=1))
    return path


def assert_same_as_plain(out: Path, plain_out: Path) -> None:
    """Assert that a run on the compressed input wrote what the run on the plain one did.

    The manifests differ only where they name and hash the input.
    """
    assert output_files(out) == output_files(plain_out)
    manifests = [stable_manifest(out), stable_manifest(plain_out)]
    for manifest in manifests:
        manifest.pop("inputs")
        for account in manifest["rowAccount"]["files"]:
            account.pop("path")
    assert manifests[0] == manifests[1]


def pieces_of(path: Path, folder: Path, shard_size: int = SHARD_SIZE) -> list[bytes]:
    sizes = unpack_compressed(describe_inputs([str(path)])[0], folder, shard_size)
    pieces = [piece.read_bytes() for piece in sorted(folder.iterdir())]
    assert [len(piece) for piece in pieces] == sizes
    return pieces


def test_pieces_match_plain_shards(sorted_file, gzip_file, tmp_path):
    pieces = pieces_of(gzip_file, tmp_path / "unpacked")
    shards = plan_shards(describe_inputs([str(sorted_file)]), SHARD_SIZE, tmp_path / "unused")

    assert [len(piece) for piece in pieces] == [shard.size for shard in shards]


def test_pieces_join_to_the_input(sorted_file, gzip_file, tmp_path):
    pieces = pieces_of(gzip_file, tmp_path / "unpacked")

    assert b"".join(pieces) == sorted_file.read_bytes()
    assert len(pieces) > 1
    for piece in pieces[:-1]:
        assert len(piece) >= SHARD_SIZE
        assert piece.endswith(b"\n")


def test_pieces_cut_where_subject_changes(gzip_file, tmp_path):
    pieces = pieces_of(gzip_file, tmp_path / "unpacked")

    for before, after in zip(pieces, pieces[1:]):
        last_line = before.splitlines()[-1]
        first_line = after.splitlines()[0]
        assert _subject_of(last_line) is not None
        assert _subject_of(first_line) != _subject_of(last_line)


def test_pieces_are_owner_only(gzip_file, tmp_path):
    folder = tmp_path / "unpacked"
    pieces_of(gzip_file, folder)

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for piece in folder.iterdir():
        assert stat.S_IMODE(piece.stat().st_mode) == 0o600, piece.name


def test_empty_input_one_empty_piece(tmp_path):
    source = tmp_path / "empty.csv.gz"
    source.write_bytes(gzip.compress(b""))

    assert pieces_of(source, tmp_path / "unpacked") == [b""]


def person_lines(subjects: list[int], width: int) -> bytes:
    """Return one line per entry of `subjects`, each `width` bytes with its newline."""
    before = b"," * layout.SUBJECT_ID
    lines = []
    for subject in subjects:
        start = b"%s%05d," % (before, subject)
        lines.append(start + b"x" * (width - len(start) - 1) + b"\n")
    return b"".join(lines)


SHAPES = {
    # Each line a person of its own, five blocks long.
    "long lines": person_lines(list(range(40)), 320),
    # One person past the look-ahead, so the cut falls inside that person.
    "one long person": person_lines([1] * 3 + [2] * 60 + [3] * 5, 100),
    "no final newline": person_lines(list(range(30)), 100)[:-1],
    "exactly one shard": person_lines(list(range(10)), 100)[:1024],
    "cut at the end": person_lines([1] * 10 + [2] * 2, 100),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_pieces_match_plain_shards_by_shape(shape, tmp_path, monkeypatch):
    monkeypatch.setattr(plan_module, "UNPACK_BLOCK", 64)
    monkeypatch.setattr(plan_module, "MAX_CUT_LOOKAHEAD", 2048)
    data = SHAPES[shape]
    plain = tmp_path / "input.csv"
    plain.write_bytes(data)
    compressed = tmp_path / "input.csv.gz"
    compressed.write_bytes(gzip.compress(data))

    pieces = pieces_of(compressed, tmp_path / "unpacked", shard_size=1024)
    shards = plan_shards(describe_inputs([str(plain)]), 1024, tmp_path / "unused")

    assert b"".join(pieces) == data
    assert [len(piece) for piece in pieces] == [shard.size for shard in shards]


def test_damaged_input_raises_naming_file(gzip_file, tmp_path):
    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(gzip_file.read_bytes()[:-5000])

    with pytest.raises(InputFormatError, match="is damaged gzip data") as raised:
        plan_shards(describe_inputs([str(damaged)]), SHARD_SIZE, tmp_path / "unpacked")
    assert str(damaged) in str(raised.value)


def test_damaged_input_one_clear_message(gzip_file, sorted_file, tmp_path):
    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(gzip_file.read_bytes()[:-5000])
    out = tmp_path / "out"

    result = run_cli("run", str(damaged), "--out", str(out), "--shard-size", "48KiB", "--no-progress")

    messages = [line for line in result.stderr.splitlines() if line.startswith("clearance:")]
    assert result.returncode == EXIT_USAGE, result.stderr
    assert len(messages) == 1
    expected = (rf"clearance: input cannot be read: {re.escape(str(damaged))} is damaged gzip data: "
                r"unpacking failed after about ([\d,]+) bytes \(EOFError: Compressed file ended "
                r"before the end-of-stream marker was reached\); fetch or compress it again")
    match = re.fullmatch(expected, messages[0])
    assert match is not None, messages[0]
    assert 0 < int(match.group(1).replace(",", "")) < sorted_file.stat().st_size
    assert "Traceback" not in result.stderr
    # Nothing was planned, so the folder is left empty for the next run.
    assert list(out.iterdir()) == []

    again = run_cli("run", str(sorted_file), "--out", str(out), "--workers", "1", "--no-progress")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("suffix,compress", [(".gz", gzip.compress), (".bz2", bz2.compress),
                                             (".xz", lzma.compress)], ids=["gzip", "bz2", "xz"])
def test_compressed_input_same_outputs(suffix, compress, sorted_file, clean_sorted, scheduler_address,
                                       tmp_path):
    source = tmp_path / f"sorted.csv{suffix}"
    source.write_bytes(compress(sorted_file.read_bytes()))
    out = tmp_path / "out"
    run_job(job([source], out, scheduler_address))

    assert read_manifest(out)["rowAccount"]["rowsRead"] == ROWS
    assert_same_as_plain(out, clean_sorted)
    assert not (out / ".parts").exists()


def test_interrupt_while_unpacking_leaves_folder_empty(gzip_file, scheduler_address, tmp_path,
                                                       monkeypatch):
    out = tmp_path / "out"
    stop_after(monkeypatch, plan_module, "unpack_compressed", signal.SIGINT)
    with pytest.raises(Interrupted):
        run_job(job([gzip_file], out, scheduler_address))

    assert list(out.iterdir()) == []


def test_moved_run_resumes_from_pieces(gzip_file, clean_sorted, scheduler_address, tmp_path,
                                       monkeypatch):
    out = tmp_path / "out"
    stop_after(monkeypatch, run_module, "merge_outputs")
    with pytest.raises(Interrupted):
        run_job(job([gzip_file], out, scheduler_address))
    monkeypatch.undo()
    assert any((out / ".parts" / "unpacked").iterdir())
    moved = tmp_path / "moved"
    shutil.move(out, moved)

    resume_job(RunConfig(inputs=[], out=str(moved), scheduler=scheduler_address, progress=False))

    assert_same_as_plain(moved, clean_sorted)


def test_resume_unpacks_damaged_piece_again(gzip_file, clean_sorted, scheduler_address, tmp_path,
                                            monkeypatch, caplog):
    out = tmp_path / "out"
    stop_after(monkeypatch, run_module, "merge_outputs")
    with pytest.raises(Interrupted):
        run_job(job([gzip_file], out, scheduler_address))
    monkeypatch.undo()
    pieces = sorted((out / ".parts" / "unpacked").iterdir())
    with pieces[1].open("r+b") as piece:
        piece.truncate(1000)
    pieces[2].unlink()
    # Without their saved results, the shards of those pieces are decided again.
    for unit in ("s000001", "s000002"):
        (out / ".parts" / unit / "decided.msgpack").unlink()
    caplog.set_level("WARNING", logger="cluster.run")

    resume_job(RunConfig(inputs=[], out=str(out), scheduler=scheduler_address, progress=False))

    assert f"pieces of input {gzip_file} are missing or changed; unpacking it again" in caplog.text
    assert_same_as_plain(out, clean_sorted)


def test_hard_kill_while_unpacking_leaves_marker(gzip_file, scheduler_address, tmp_path, monkeypatch):
    out = tmp_path / "out"
    seen = []

    def look_then_stop(*args, **kwargs):
        seen.extend(path.name for path in out.iterdir())
        raise Interrupted(signal.SIGKILL)

    monkeypatch.setattr(plan_module, "unpack_compressed", look_then_stop)
    with pytest.raises(Interrupted):
        run_job(job([gzip_file], out, scheduler_address))

    # A kill leaves what was there while unpacking: the marker, so --overwrite clears it.
    assert sorted(seen) == [".parts", INCOMPLETE_MARKER]


@pytest.mark.parametrize("name,data,message", [
    ("archive.csv.zip", b"PK\x03\x04" + b"\x00" * 40, "is zip data, which is not supported"),
    ("plain.csv.gz", b"RECORD_ID,SUBJECT_ID\n", "is named as gzip but is not gzip data"),
    ("packed.csv", gzip.compress(b"RECORD_ID\n"), "is gzip data but is not named so; name it with .gz"),
    ("packed.csv", b"\x28\xb5\x2f\xfd" + b"\x00" * 20, "is zstd data, which is not supported"),
], ids=["zip", "plain named gz", "gzip named csv", "zstd"])
def test_misnamed_or_unsupported_input_rejected(name, data, message, tmp_path):
    source = tmp_path / name
    source.write_bytes(data)

    with pytest.raises(InputFormatError) as raised:
        describe_inputs([str(source)])

    assert str(raised.value).startswith(f"{source} {message}")


def test_full_disk_names_the_piece(gzip_file, tmp_path, monkeypatch):
    def no_room(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(plan_module, "_fill_piece", no_room)
    with pytest.raises(OSError) as raised:
        unpack_compressed(describe_inputs([str(gzip_file)])[0], tmp_path / "unpacked", SHARD_SIZE)

    assert raised.value.filename == str(tmp_path / "unpacked" / "input00000-piece00000.csv")

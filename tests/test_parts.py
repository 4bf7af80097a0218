"""Line parts: what a task writes comes back line for line, key for key."""

from __future__ import annotations

import pytest

from cluster import parts
from cluster.parts import DamagedPartError, read_keyed_lines, read_part, write_lines_part


def test_keyed_lines_round_trip(tmp_path):
    lines = [(7, b"first,row"), (9, b"lone\rreturn,kept"), (12, b""), (40, b"last")]
    path = tmp_path / "all.csv.lz4"
    write_lines_part(path, lines)

    assert list(read_keyed_lines(path)) == [(key, line + b"\n") for key, line in lines]
    assert read_part(path) == b"first,row\nlone\rreturn,kept\n\nlast\n"


def test_part_is_compressed(tmp_path):
    path = tmp_path / "all.csv.lz4"
    write_lines_part(path, [(key, b"  -  ," * 50) for key in range(1000)])

    assert path.stat().st_size < 300 * 1000 / 10
    assert read_part(path).count(b"\n") == 1000


def test_empty_part_has_no_lines(tmp_path):
    path = tmp_path / "prop64-000.csv.lz4"
    write_lines_part(path, [])

    assert list(read_keyed_lines(path)) == []
    assert read_part(path) == b""


def test_lines_across_chunk_bounds(tmp_path, monkeypatch):
    monkeypatch.setattr(parts, "CHUNK", 7)
    lines = [(key, b"x" * length) for key, length in enumerate([0, 3, 6, 7, 8, 20, 1])]
    path = tmp_path / "condensed.csv.lz4"
    write_lines_part(path, lines)

    assert list(read_keyed_lines(path)) == [(key, line + b"\n") for key, line in lines]


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],
    lambda data: data[:8] + b"\xff" * (len(data) - 8),
    lambda data: b"",
], ids=["truncated", "overwritten", "emptied"])
def test_damaged_part_named(tmp_path, damage):
    path = tmp_path / "all.csv.lz4"
    write_lines_part(path, [(key, b"row,%d" % key) for key in range(5000)])
    path.write_bytes(damage(path.read_bytes()))

    with pytest.raises(DamagedPartError) as raised:
        read_part(path)
    assert raised.value.path == path
    assert str(path) in str(raised.value)


def test_missing_part_not_damaged(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_part(tmp_path / "all.csv.lz4")

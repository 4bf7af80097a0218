"""Writing documents the way the run writes its other outputs: owner-only files in
owner-only folders, written whole under a temporary name and renamed into place."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from cluster.parts import HashingWriter, make_private_dir

__all__ = ["WrittenFile", "make_private_dir", "write_private"]


class WrittenFile(NamedTuple):
    """A document written, for the manifest."""

    path: Path
    bytes: int
    sha256: str


def write_private(path: Path, data: bytes) -> WrittenFile:
    """Write `data` as a 0600 file, creating its folder as 0700 if needed."""
    make_private_dir(path.parent)
    with HashingWriter(path) as writer:
        writer.write(data)
    return WrittenFile(path, writer.bytes, writer.sha256.hexdigest())

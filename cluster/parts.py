"""Part files: what each task writes, and how the client joins them.

A task writes every output line of its unit (a shard, or a bucket of regrouped
persons) into a part file, and the row keys of those lines into a NumPy array beside
it. Parts are written under a temporary name and renamed when whole, so a retried or
killed task never leaves a half file that the merge could take.

Line parts are LZ4 frames. A single-county run writes parts as large as its input.
On the benchmark machine, packing them costs far less time than writing the bytes
that packing saves (`benchmarks/RESULTS.md`).
"""

from __future__ import annotations

import errno
import hashlib
import heapq
import os
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterable, Iterator

import fsspec
import numpy as np
import pyarrow as pa

FILE_MODE = 0o600
FOLDER_MODE = 0o700
#: pyarrow's codec of the line parts, and the suffix of their names.
PART_CODEC = "lz4"
PART_SUFFIX = ".lz4"
#: Bytes a part is read in.
CHUNK = 1 << 20


def make_private_dir(path: Path) -> Path:
    """Create a folder readable by its owner only, and any missing parents the same way.

    `Path.mkdir(parents=True)` gives parents the umask's mode, so each missing
    folder is made on its own.
    """
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(folder, FOLDER_MODE)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    os.chmod(path, FOLDER_MODE)
    return path


def _open_private(path: Path):
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb")


def open_private(path, mode: str = "rb"):
    """Open a file as `open` does, but create files for writing with mode 0600.

    It serves as fastparquet's `open_with`, so Parquet files are private from
    their first byte.
    """
    if "w" in mode or "a" in mode or "x" in mode:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
        return open(os.open(path, flags, FILE_MODE), mode)
    return open(path, mode)


def write_array(path: Path, array: np.ndarray) -> None:
    """Save a NumPy array privately under a temporary name, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with _open_private(temporary) as handle:
            np.save(handle, array)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write a whole file under a temporary name, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with _open_private(temporary) as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_lines_part(path: Path, lines: list[tuple[int, bytes]]) -> None:
    """Write `(key, line)` pairs as a compressed lines part and a `.keys.npy` array beside it.

    `path` names the part and ends with `PART_SUFFIX`.
    """
    keys = np.fromiter(map(itemgetter(0), lines), dtype=np.uint64, count=len(lines))
    body = b"\n".join(map(itemgetter(1), lines))
    if lines:
        body += b"\n"
    keys_path = path.with_name(path.name + ".keys.npy")
    temporary = keys_path.with_name(f".{keys_path.name}.{os.getpid()}.tmp")
    with _open_private(temporary) as handle:
        np.save(handle, keys)
    os.replace(temporary, keys_path)
    write_atomic(path, pa.compress(body, codec=PART_CODEC, asbytes=True))


class DamagedPartError(RuntimeError):
    """A part file exists but cannot be unpacked; `path` names it."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"part file {path} cannot be read ({reason}); the run decides its unit "
                         "again when it is resumed")
        self.path = path


def part_chunks(path: Path) -> Iterator[bytes]:
    """Yield the uncompressed bytes of a lines part, in chunks.

    Raises DamagedPartError when the file is not whole LZ4 frames. Even a part of no
    lines contains one frame, so an empty file is damaged too.
    """
    if os.stat(path).st_size == 0:
        raise DamagedPartError(path, "the file is empty")
    try:
        with pa.input_stream(str(path), compression=PART_CODEC) as stream:
            while chunk := stream.read(CHUNK):
                yield chunk
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowInvalid) as error:
        raise DamagedPartError(path, str(error)) from None


def read_part(path: Path) -> bytes:
    """Return the uncompressed bytes of a lines part."""
    return b"".join(part_chunks(path))


def read_keyed_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield the `(key, line)` pairs of a part, line ends included."""
    keys = np.load(path.with_name(path.name + ".keys.npy"))
    return zip(keys.tolist(), _lines(part_chunks(path)))


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the lines of a stream of chunks, each with its line end."""
    rest = b""
    for chunk in chunks:
        *whole, rest = (rest + chunk).split(b"\n")
        for line in whole:
            yield line + b"\n"
    if rest:
        yield rest


class HashingWriter:
    """A private output file written under a temporary name, hashed as it is written."""

    def __init__(self, path: Path):
        self.path = path
        self.temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.handle = _open_private(self.temporary)
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.sha256.update(data)
        self.bytes += len(data)

    def close(self) -> None:
        self.handle.close()
        os.replace(self.temporary, self.path)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self.handle.close()
            self.temporary.unlink(missing_ok=True)


def join_parts(writer: HashingWriter, header: bytes, ordered: Iterable[Path],
               regrouped: list[Path], copied: Callable[[Path], None] | None = None) -> int:
    """Write a header and the lines of every part in input order; return the line count.

    `ordered` parts (shards, in shard order) are already in input order among
    themselves, so without regrouped parts they are copied as they are, and
    `copied` is called with each part once it is copied. Regrouped parts are merged
    in by row key.
    """
    writer.write(header + b"\n")
    count = 0
    if not regrouped:
        for path in ordered:
            for chunk in part_chunks(path):
                writer.write(chunk)
                count += chunk.count(b"\n")
            if copied is not None:
                copied(path)
        return count

    def chained() -> Iterator[tuple[int, bytes]]:
        for path in ordered:
            yield from read_keyed_lines(path)

    streams = [chained()] + [read_keyed_lines(path) for path in regrouped]
    for _, line in heapq.merge(*streams, key=lambda pair: pair[0]):
        writer.write(line)
        count += 1
    return count


def file_digest(path: Path | str) -> tuple[int, str]:
    """Return the size and SHA-256 of a file, local or an fsspec URL."""
    digest = hashlib.sha256()
    size = 0
    with fsspec.open(str(path), "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()

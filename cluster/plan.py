"""Planning shards: cutting input files into byte ranges that workers read themselves.

A cut falls at a line boundary where the SUBJECT_ID changes, so that in sorted input a
person's rows stay in one shard. In unsorted input a person can still land in two
shards; the run detects that after the first pass and regroups those persons.

A compressed input has no byte ranges, so the client unpacks it as a stream into
pieces of about one shard each under the run's parts folder, cut the same way, and
each piece is a shard. The client keeps in memory only a block and the lines read
ahead of a cut, so it needs more only for a line longer than that.
"""

from __future__ import annotations

import errno
import logging
import lzma
import os
import re
import stat
import zlib
from pathlib import Path
from typing import BinaryIO, Callable

import fsspec
import fsspec.compression
import msgspec

from engine import layout
from cluster.parts import make_private_dir, open_private

logger = logging.getLogger(__name__)

#: How far past a planned cut the planner looks for a change of SUBJECT_ID before it
#: gives up and cuts at the next line (the run then regroups the split person).
MAX_CUT_LOOKAHEAD = 4 * 1024 * 1024

DEFAULT_SHARD_SIZE = 64 * 1024 * 1024
#: Bytes copied at a time while a compressed input is unpacked.
UNPACK_BLOCK = 1024 * 1024
#: Errors the decompressors raise on damaged or truncated data.
DAMAGED_DATA_ERRORS = (EOFError, zlib.error, lzma.LZMAError)


#: Compressed formats read, by fsspec's name, with the file name endings that select them.
SUPPORTED_COMPRESSIONS = {"gzip": ".gz", "bz2": ".bz2", "xz": ".xz"}


class InputFormatError(ValueError):
    """An input whose format the run cannot read: a misnamed, unsupported or damaged file."""
#: The first bytes of each compressed format, to reject a misnamed input up front.
COMPRESSED_MAGIC = {"gzip": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ", "zstd": b"\x28\xb5\x2f\xfd"}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]?I?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1024, "M": 1000**2, "MB": 1000**2,
          "MIB": 1024**2, "G": 1000**3, "GB": 1000**3, "GIB": 1024**3}


class Shard(msgspec.Struct, frozen=True):
    """A byte range of one input file, or one unpacked piece of a compressed input.

    For a piece, `path` is the piece's file under the parts folder, the range is the
    whole piece, and `piece` counts the pieces of its input from 0.
    """

    index: int
    file_index: int
    path: str
    start: int
    end: int
    piece: int | None = None

    @property
    def starts_file(self) -> bool:
        """Whether the shard's first line is its input's first line, which may be a header."""
        return self.start == 0 and not self.piece

    @property
    def size(self) -> int:
        return self.end - self.start


class InputFile(msgspec.Struct, frozen=True):
    """One input as the run sees it."""

    index: int
    path: str
    size: int
    compression: str | None


def parse_size(text: str) -> int:
    """Parse a size such as `64MB`, `512KiB` or `1000000` into bytes."""
    match = _SIZE.match(text)
    if match is None or (match.group(2) or "").upper() not in _UNITS:
        raise ValueError(f"invalid size {text!r}; expected a number with an optional unit "
                         "(B, KB, MB, GB, KiB, MiB, GiB)")
    size = int(float(match.group(1)) * _UNITS[(match.group(2) or "").upper()])
    if size < 1024:
        raise ValueError(f"shard size {text!r} is below the minimum of 1KiB")
    return size


def describe_inputs(paths: list[str]) -> list[InputFile]:
    """Stat every input; raise FileNotFoundError or PermissionError naming the file."""
    files = []
    for index, path in enumerate(paths):
        if "://" not in path:
            # Workers may run in another folder, so local paths travel absolute.
            path = os.path.abspath(path)
        filesystem, _, (resolved,) = fsspec.get_fs_token_paths(path)
        info = filesystem.info(resolved)
        if info.get("type") == "directory":
            raise IsADirectoryError(f"{path} is a folder; give the research files inside it")
        if info.get("type") not in (None, "file"):
            raise IsADirectoryError(f"{path} is not a regular file; give a research file")
        compression = fsspec.utils.infer_compression(path)
        # Opening now turns an unreadable input into one clear error before any work.
        with filesystem.open(resolved, "rb") as handle:
            start = handle.read(max(len(magic) for magic in COMPRESSED_MAGIC.values()))
        _check_format(path, compression, start)
        if not info["size"]:
            logger.warning("input %s is empty", path)
        files.append(InputFile(index, path, int(info["size"]), compression))
    return files


def _check_format(path: str, compression: str | None, start: bytes) -> None:
    """Raise InputFormatError unless the first bytes of an input agree with its name."""
    found = next((name for name, magic in COMPRESSED_MAGIC.items() if start.startswith(magic)), None)
    endings = ", ".join(SUPPORTED_COMPRESSIONS.values())
    unsupported = next((name for name in (compression, found)
                        if name is not None and name not in SUPPORTED_COMPRESSIONS), None)
    if unsupported is not None:
        raise InputFormatError(f"{path} is {unsupported} data, which is not supported; give it "
                               f"plain or compressed as {endings}")
    if compression is None and found is not None:
        raise InputFormatError(f"{path} is {found} data but is not named so; name it with "
                               f"{SUPPORTED_COMPRESSIONS[found]} at the end")
    if compression is not None and start and found != compression:
        raise InputFormatError(f"{path} is named as {compression} but is not {compression} data; "
                               "rename it or compress it")


def open_input(path: str) -> BinaryIO:
    """Open an input for reading: a local path with O_NONBLOCK, anything else with fsspec.

    A plain open of a FIFO put in a local input's place would wait for a writer
    forever. Raises OSError (EINVAL) when a local input is not a regular file.
    """
    if "://" in path:
        return fsspec.open(path, "rb").open()
    handle = open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise OSError(errno.EINVAL, "not a regular file", path)
    return handle


def plan_shards(files: list[InputFile], shard_size: int, unpack_folder: Path,
                progress: Callable[[int], None] | None = None) -> list[Shard]:
    """Cut every input into shards of about `shard_size` bytes, in input order.

    Compressed inputs are unpacked into `unpack_folder`; `progress` is called with
    the compressed bytes read since its last call.
    """
    shards: list[Shard] = []
    for file in files:
        if file.compression is not None:
            pieces = unpack_compressed(file, unpack_folder, shard_size, progress)
            for piece, size in enumerate(pieces):
                path = str(unpacked_path(unpack_folder, file.index, piece))
                shards.append(Shard(len(shards), file.index, path, 0, size, piece))
            continue
        if file.size <= shard_size:
            shards.append(Shard(len(shards), file.index, file.path, 0, file.size))
            continue
        with open_input(file.path) as handle:
            cuts = _cut_points(handle, file.size, shard_size)
        bounds = [0, *cuts, file.size]
        for start, end in zip(bounds, bounds[1:]):
            if end > start:
                shards.append(Shard(len(shards), file.index, file.path, start, end))
    return shards


def unpacked_path(folder: Path, file_index: int, piece: int) -> Path:
    """Return the path of one unpacked piece of a compressed input."""
    return folder / f"input{file_index:05d}-piece{piece:05d}.csv"


def unpack_compressed(file: InputFile, folder: Path, shard_size: int,
                      progress: Callable[[int], None] | None = None) -> list[int]:
    """Unpack a compressed input into owner-only pieces; return the size of each piece.

    Pieces end where `plan_shards` would cut the same data uncompressed, so a run
    gives the same outputs either way. An empty input gives one empty piece.
    """
    make_private_dir(folder)
    sizes: list[int] = []
    with open_input(file.path) as raw:
        stream = _Unpacked(fsspec.compression.compr[file.compression](raw, mode="rb"))
        reported = 0
        more = True
        while more:
            piece = unpacked_path(folder, file.index, len(sizes))
            try:
                with open_private(piece, "wb") as target:
                    more = _fill_piece(stream, target, shard_size)
                    size = target.tell()
            except DAMAGED_DATA_ERRORS as error:
                raise _damaged(file, sum(sizes) + piece.stat().st_size, error) from None
            except OSError as error:
                # Decompressors raise OSError without an errno for bad data, such
                # as gzip's "Not a gzipped file".
                if error.errno is None:
                    raise _damaged(file, sum(sizes) + piece.stat().st_size, error) from None
                if error.errno in (errno.ENOSPC, errno.EDQUOT) and error.filename is None:
                    error.filename = str(piece)
                raise
            if size or not sizes:
                sizes.append(size)
            else:
                # The input ended just at a cut.
                piece.unlink()
            if progress is not None:
                position = raw.tell()
                progress(position - reported)
                reported = position
    return sizes


def _damaged(file: InputFile, unpacked: int, error: Exception) -> InputFormatError:
    return InputFormatError(f"{file.path} is damaged {file.compression} data: unpacking "
                             f"failed after about {unpacked:,} bytes ({type(error).__name__}: "
                             f"{error}); fetch or compress it again")


class _Unpacked:
    """A decompressed stream with room to put back lines read ahead of a cut."""

    def __init__(self, source: BinaryIO):
        self.source = source
        self.pending = b""

    def read(self, size: int) -> bytes:
        if not self.pending:
            return self.source.read(size)
        chunk, self.pending = self.pending[:size], self.pending[size:]
        return chunk

    def readline(self) -> bytes:
        end = self.pending.find(b"\n")
        if end >= 0:
            line, self.pending = self.pending[: end + 1], self.pending[end + 1:]
            return line
        line, self.pending = self.pending, b""
        return line + self.source.readline()

    def put_back(self, data: bytes) -> None:
        self.pending = data + self.pending


def _fill_piece(stream: _Unpacked, target: BinaryIO, shard_size: int) -> bool:
    """Copy one piece from `stream` into `target`; return whether more input follows.

    The cut follows `_next_subject_change`: past the line that contains byte
    `shard_size`, at the first line whose SUBJECT_ID differs from the line before.
    Lines read ahead stay in memory, at most `MAX_CUT_LOOKAHEAD` bytes and a line.
    """
    written = 0
    while written < shard_size:
        block = stream.read(min(UNPACK_BLOCK, shard_size - written))
        if not block:
            return False
        target.write(block)
        written += len(block)
    rest = stream.readline()
    target.write(rest)
    looked = len(rest)
    ahead: list[bytes] = []
    previous = None
    at_end = not rest.endswith(b"\n")
    while not at_end and looked < MAX_CUT_LOOKAHEAD:
        line = stream.readline()
        if not line:
            at_end = True
            break
        subject = _subject_of(line)
        if previous is not None and subject != previous:
            target.write(b"".join(ahead))
            stream.put_back(line)
            return True
        ahead.append(line)
        previous = subject
        looked += len(line)
    # No change of subject nearby: cut before the first line read ahead.
    stream.put_back(b"".join(ahead))
    return bool(ahead) or not at_end


def _cut_points(handle, size: int, shard_size: int) -> list[int]:
    cuts = []
    target = shard_size
    while target < size:
        cut = _next_subject_change(handle, target, size)
        if cut >= size:
            break
        cuts.append(cut)
        target = max(cut + shard_size, target + 1)
    return cuts


def _subject_of(line: bytes) -> bytes | None:
    parts = line.split(b",", layout.SUBJECT_ID + 1)
    if len(parts) <= layout.SUBJECT_ID or b'"' in b",".join(parts[: layout.SUBJECT_ID + 1]):
        return None
    return parts[layout.SUBJECT_ID].strip()


def _next_subject_change(handle, offset: int, size: int) -> int:
    """Return the start of the first line at or after `offset` whose subject differs
    from the line before it, or a plain line start when none is found nearby."""
    handle.seek(offset)
    handle.readline()
    position = handle.tell()
    first_line_start = position
    previous = None
    while position < size and position - offset < MAX_CUT_LOOKAHEAD:
        line = handle.readline()
        if not line:
            break
        subject = _subject_of(line)
        if previous is not None and subject != previous:
            return position
        previous = subject
        position += len(line)
    return first_line_start if first_line_start < size else size


def default_workers() -> int:
    """Return the worker count of a LocalCluster sized to this machine."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

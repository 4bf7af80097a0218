"""Planning shards: cutting input files into byte ranges that workers read themselves.

A cut falls at a line boundary where the SUBJECT_ID changes, so that in sorted input a
person's rows stay in one shard. In unsorted input a person can still land in two
shards; the run detects that after the first pass and regroups those persons.
"""

from __future__ import annotations

import logging
import os
import re

import fsspec
import msgspec

from engine import layout

logger = logging.getLogger(__name__)

#: How far past a planned cut the planner looks for a change of SUBJECT_ID before it
#: gives up and cuts at the next line (the run then regroups the split person).
MAX_CUT_LOOKAHEAD = 4 * 1024 * 1024

DEFAULT_SHARD_SIZE = 64 * 1024 * 1024
#: The first bytes of each compressed format, to reject a misnamed input up front.
COMPRESSED_MAGIC = {"gzip": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ", "zstd": b"\x28\xb5\x2f\xfd"}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]?I?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1024, "M": 1000**2, "MB": 1000**2,
          "MIB": 1024**2, "G": 1000**3, "GB": 1000**3, "GIB": 1024**3}


class Shard(msgspec.Struct, frozen=True):
    """A byte range of one input file; `end` is None for a whole compressed file."""

    index: int
    file_index: int
    path: str
    start: int
    end: int | None
    compression: str | None

    @property
    def starts_file(self) -> bool:
        return self.start == 0

    @property
    def size(self) -> int | None:
        return None if self.end is None else self.end - self.start


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
            raise IsADirectoryError(f"input {path} is a folder; give the research files inside it")
        if info.get("type") not in (None, "file"):
            raise IsADirectoryError(f"input {path} is not a regular file; give a research file")
        compression = fsspec.utils.infer_compression(path)
        # Opening now turns an unreadable input into one clear error before any work.
        with filesystem.open(resolved, "rb") as handle:
            start = handle.read(4)
        magic = COMPRESSED_MAGIC.get(compression)
        if magic is not None and info["size"] and not start.startswith(magic):
            raise IsADirectoryError(f"input {path} is named as {compression} but is not "
                                    f"{compression} data; rename it or compress it")
        if not info["size"]:
            logger.warning("input %s is empty", path)
        files.append(InputFile(index, path, int(info["size"]), compression))
    return files


def plan_shards(files: list[InputFile], shard_size: int) -> list[Shard]:
    """Cut every input into shards of about `shard_size` bytes, in input order."""
    shards: list[Shard] = []
    for file in files:
        if file.compression is not None or file.size <= shard_size:
            end = None if file.compression is not None else file.size
            shards.append(Shard(len(shards), file.index, file.path, 0, end, file.compression))
            continue
        with fsspec.open(file.path, "rb") as handle:
            cuts = _cut_points(handle, file.size, shard_size)
        bounds = [0, *cuts, file.size]
        for start, end in zip(bounds, bounds[1:]):
            if end > start:
                shards.append(Shard(len(shards), file.index, file.path, start, end, None))
    return shards


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

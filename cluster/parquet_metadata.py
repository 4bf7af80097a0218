"""The `_metadata` and `_common_metadata` files of a Parquet dataset, written with
memory that grows by the encoded size of each row group only.

`fastparquet.writer.merge` keeps a `ParquetFile` object and a decoded row group per
part: its peak was 151 MiB for the 2,528 parts of a 400,000-row run, about 60 KiB a
part (fastparquet 2026.9). A statewide run of many shards in 58 counties would need
gigabytes in the client. Here each part's footer is read and decoded in turn, and only the
Thrift encoding of its row groups is kept (about 1.5 KiB each). The file written
is byte for byte the one `fastparquet.writer.merge` writes for the same parts.
"""

from __future__ import annotations

import copy
import struct
from pathlib import Path
from typing import Callable, Sequence

from fastparquet.cencoding import from_buffer
from fastparquet.writer import consolidate_categories, write_common_metadata

MAGIC = b"PAR1"
#: Element type of a list of structs in Thrift's compact protocol.
_STRUCT = 12


def _read_footer(path: Path, open_with: Callable):
    with open_with(str(path), "rb") as handle:
        handle.seek(-8, 2)
        size, magic = struct.unpack("<i4s", handle.read(8))
        if magic != MAGIC:
            raise ValueError(f"{path} is not a Parquet file (no PAR1 at its end)")
        handle.seek(-(size + 8), 2)
        return from_buffer(handle.read(size), "FileMetaData")


def _varint(value: int) -> bytes:
    encoded = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            encoded.append(low)
            return bytes(encoded)
        encoded.append(low | 0x80)


def _list_header(size: int) -> bytes:
    """Return the compact-protocol header of a list of `size` structs."""
    if size < 15:
        return bytes([(size << 4) | _STRUCT])
    return bytes([0xF0 | _STRUCT]) + _varint(size)


def write_dataset_metadata(root: Path, parts: Sequence[Path], open_with: Callable = open) -> None:
    """Write `root/_metadata` (every part's row groups) and `root/_common_metadata`.

    Parts must share one schema; their paths are recorded relative to `root`, in
    the order given. Raises ValueError for a part with another schema.

    NOTE: categorical columns would need their category counts consolidated across
    all parts, but `consolidate_categories` reads the first row group only here. The
    decisions dataset has no categorical column.
    """
    first = None
    template_group = None
    groups: list[bytes] = []
    rows = 0
    for path in parts:
        footer = _read_footer(path, open_with)
        if first is None:
            first = footer
        elif footer.schema != first.schema:
            raise ValueError(f"Parquet part {path} has another schema than {parts[0]}")
        relative = path.relative_to(root).as_posix()
        for group in footer.row_groups:
            for column in group.columns:
                column.file_path = relative
            template_group = template_group or group
            groups.append(bytes(group.to_bytes()))
            rows += group.num_rows
    if first is None or template_group is None:
        return

    # Encode the footer with one row group, then put every row group's encoding in
    # place of that one: the list header and the group's bytes occur once in it.
    template = copy.copy(first)
    template.row_groups = [template_group]
    template.num_rows = rows
    consolidate_categories(template)
    encoded = bytes(template.to_bytes())
    single = _list_header(1) + groups[0]
    if encoded.count(single) != 1:
        raise ValueError("the row group list of the Parquet footer could not be located")
    start = encoded.index(single)
    pieces = [encoded[:start], _list_header(len(groups)), *groups, encoded[start + len(single):]]
    with open_with(str(root / "_metadata"), "wb") as handle:
        handle.write(MAGIC)
        for piece in pieces:
            handle.write(piece)
        handle.write(struct.pack("<I", sum(len(piece) for piece in pieces)))
        handle.write(MAGIC)
    write_common_metadata(str(root / "_common_metadata"), template, open_with, no_row_groups=True)

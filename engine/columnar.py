"""A columnar first pass over a block of whole lines, for blocks of the common shape.

Most rows belong to people with no Prop 64 conviction. For them the run needs only
the SUBJECT_ID, the county and whether the row could be such a conviction. pyarrow's
CSV reader tokenises the block in C++ and keeps just those five columns, so no Python
code touches such a row.

pyarrow and `engine.layout` must agree on every row, so this path is taken only for a
plainly regular block. Every line has 95 fields and no line is blank. Every quote pair
encloses one whole field, and no SUBJECT_ID or CNT_ORDER is blank, short or padded. Any other block returns None, and the caller reads it row by row, which sets
the odd rows aside with their reasons.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from engine import layout
from engine.scan import is_conviction

NEWLINE, QUOTE, COMMA, CARRIAGE_RETURN = 10, 34, 44, 13
# pyarrow's default allocator (jemalloc or mimalloc) keeps freed memory for reuse, so a
# worker's resident memory would follow its largest block rather than its current one.
pa.set_memory_pool(pa.system_memory_pool())

#: Ratio of runs of equal SUBJECT_IDs to distinct subjects above which a block counts
#: as unsorted. Sorted input has one run per subject.
#: NOTE: chosen between 1.0 for sorted and 2.6 for shuffled 64 MiB shards of generated
#: data; the ratio of real unsorted extracts was not measured.
INTERLEAVED_RUNS = 1.5

_WANTED = layout.DECISION_COLUMNS
_WANTED_INDEXES = tuple(layout.INDEX[name] for name in _WANTED)
#: The columns read for a block whose condensed bundle lines are also built.
_READ_WITH_CONDENSED = _WANTED + tuple(name for name in layout.CONDENSED_COLUMNS if name not in _WANTED)
#: Bytes that make a cell need quotes in CSV output, as in `layout.quote_cell`.
_SPECIAL = (b'"', b",", b"\n", b"\r")
_TRIM = layout.TRIM.decode("latin-1")


class LightBlock:
    """The rows of one block, as arrays indexed by row (data lines, in order)."""

    __slots__ = ("lines", "first_line", "subject_codes", "subjects", "charge_rows", "conviction_rows",
                 "counties", "table")

    def __init__(self, lines, first_line, subject_codes, subjects, charge_rows, conviction_rows,
                 counties, table):
        self.lines: list[bytes] = lines
        """Raw data lines without their line ends; row i is line `first_line + i`."""
        self.first_line: int = first_line
        self.subject_codes: np.ndarray = subject_codes
        """Per row, the index of its SUBJECT_ID in `subjects`."""
        self.subjects: list[bytes] = subjects
        self.charge_rows: np.ndarray = charge_rows
        """Rows whose charge fields could name a Prop 64 section."""
        self.conviction_rows: np.ndarray = conviction_rows
        """Rows that could be Prop 64 convictions (`engine.scan.prop64_level`)."""
        self.counties: list[bytes] = counties
        """The distinct STP_ORI_CNTY_NAME cells of the block."""
        self.table: pa.Table = table
        """The `layout.DECISION_COLUMNS` of every row, and the condensed columns when read."""

    def is_interleaved(self) -> bool:
        """Return whether the rows of a subject are spread over the block, as in unsorted input.

        In sorted input each subject is one run of rows. Runs that outnumber the
        subjects by `INTERLEAVED_RUNS` mean the rows are in no order, and then a
        person's rows are likely in other shards too.
        """
        codes = self.subject_codes
        runs = 1 + int(np.count_nonzero(codes[1:] != codes[:-1]))
        return runs > INTERLEAVED_RUNS * len(self.subjects)

    def condensed_cells(self) -> list[bytes]:
        """Return each row's `layout.CONDENSED_COLUMNS` cells joined as `layout.join_cells` joins them.

        The block must have been read with `condensed=True`. The quoting runs in
        pyarrow's C++ kernels, column by column, so no Python code touches a cell.
        """
        columns = []
        for name in layout.CONDENSED_COLUMNS:
            column = self.table[name].combine_chunks()
            special = pc.match_substring(column, _SPECIAL[0])
            for character in _SPECIAL[1:]:
                special = pc.or_(special, pc.match_substring(column, character))
            if pc.any(special).as_py():
                quoted = pc.binary_join_element_wise(b'"', pc.replace_substring(column, b'"', b'""'), b'"', b"")
                column = pc.if_else(special, quoted, column)
            columns.append(column)
        return pc.binary_join_element_wise(*columns, b",").to_pylist()

    def cells_of(self, rows: list[int]) -> dict[int, list]:
        """Return row cells for the given rows, with None in columns not loaded."""
        taken = self.table.take(pa.array(rows, type=pa.int64()))
        columns = [(index, taken.column(name).to_pylist()) for index, name in zip(_WANTED_INDEXES, _WANTED)]
        cells_by_row = {}
        for position, row in enumerate(rows):
            cells = [None] * layout.FIELD_COUNT
            for index, values in columns:
                cells[index] = values[position]
            cells_by_row[row] = cells
        return cells_by_row


def _quotes_enclose_fields(view: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bool:
    """Return whether every line has no quote, or one pair around one whole field."""
    quotes = np.flatnonzero(view == QUOTE)
    if not len(quotes):
        return True
    line_of = np.searchsorted(starts, quotes, side="right") - 1
    counts = np.bincount(line_of, minlength=len(starts))
    if np.any((counts != 0) & (counts != 2)):
        return False
    opening, closing = quotes[0::2], quotes[1::2]
    line = line_of[0::2]
    opens_field = (opening == starts[line]) | (view[np.maximum(opening - 1, 0)] == COMMA)
    closes_field = (closing + 1 == ends[line]) | (view[np.minimum(closing + 1, len(view) - 1)] == COMMA)
    return bool(np.all(opens_field & closes_field))


def _trimmed_and_long_enough(column: pa.ChunkedArray, minimum: int) -> bool:
    """Return whether every value is valid UTF-8, unpadded and at least `minimum` long."""
    try:
        text = pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    if pc.any(pc.not_equal(pc.utf8_trim(text, characters=_TRIM), text)).as_py():
        return False
    return not pc.any(pc.less(pc.utf8_length(text), minimum)).as_py()


def light_block(data: bytes, header_allowed: bool,
                condensed: bool = False) -> tuple[LightBlock, bool] | None:
    """Read a regular block columnar; return it and whether it began with a header.

    With `condensed`, the columns of `LightBlock.condensed_cells` are read too.
    Returns None when the block is not plainly regular (see the module docstring).
    """
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        return None
    header = header_allowed and layout.is_header(lines[0].rstrip(b"\r"))
    data_lines = lines[1:] if header else lines
    if not data_lines:
        return None

    view = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(view == NEWLINE)
    starts = np.concatenate(([0], newlines + 1))[: len(lines)]
    ends = np.concatenate((newlines, [len(data)]))[: len(lines)]
    with_return = (ends > starts) & (view[np.maximum(ends - 1, 0)] == CARRIAGE_RETURN)
    ends = ends - with_return
    if np.any(ends == starts) or not _quotes_enclose_fields(view, starts, ends):
        return None

    read_columns = _READ_WITH_CONDENSED if condensed else _WANTED
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=list(layout.COLUMNS), skip_rows=1 if header else 0,
                                           use_threads=False,
                                           block_size=max(1 << 20, len(data) + 1)),
            # A row with another field count raises ArrowInvalid. An invalid-row handler
            # would not do: pyarrow decodes the row's text as UTF-8 before calling it.
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(include_columns=list(read_columns),
                                                 column_types={name: pa.binary() for name in read_columns}),
        )
    except pa.ArrowInvalid:
        return None
    if table.num_rows != len(data_lines):
        return None
    if not _trimmed_and_long_enough(table["SUBJECT_ID"], 1):
        return None
    if not _trimmed_and_long_enough(table["CNT_ORDER"], layout.MIN_CNT_ORDER_LENGTH):
        return None

    encoded = pc.dictionary_encode(table["SUBJECT_ID"]).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    names = np.zeros(table.num_rows, dtype=bool)
    for name in ("OFFENSE_DESCR", "COMMENT_TEXT"):
        for pattern in ("1135", "11360"):
            names |= pc.match_substring(table[name], pattern).to_numpy(zero_copy_only=False)
    named = np.flatnonzero(names)
    dispositions = table["DISP_DESCR"].take(pa.array(named, type=pa.int64())).to_pylist()
    conviction_rows = named[np.fromiter((is_conviction(d) for d in dispositions), dtype=bool,
                                        count=len(named))]

    if with_return.any():
        data_lines = [line[:-1] if line.endswith(b"\r") else line for line in data_lines]
    block = LightBlock(
        lines=data_lines,
        first_line=2 if header else 1,
        subject_codes=codes,
        subjects=encoded.dictionary.to_pylist(),
        charge_rows=named,
        conviction_rows=conviction_rows,
        counties=pc.unique(table["STP_ORI_CNTY_NAME"]).to_pylist(),
        table=table,
    )
    return block, header

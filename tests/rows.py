"""Fabricated research-file rows for tests, and a runner that decides them.

`make_row` builds one 95-field row from column names; every column not named is
empty. `conviction_row` starts from a felony 11357 court conviction in SAN JOAQUIN, so
a test names only the columns it is about. `evaluate_rows` reads rows with
`engine.reader.iter_rows` and decides them with `engine.batch.evaluate`, as a run does.
All values here are made up; none belongs to a real person.
"""

from __future__ import annotations

import datetime
from typing import Iterable

from engine import layout
from engine.batch import BatchResult, Settings, evaluate
from engine.bundle import ELIGIBILITY_COLUMNS
from engine.naming import county_folder
from engine.county_rules import county_rules
from engine.policy import DEFAULT_POLICY, CountyPolicy
from engine.reader import ReadStats, RejectedRow, iter_rows

COUNTY = "SAN JOAQUIN"
COMPUTE_AT = datetime.date(2019, 11, 11)

#: The columns `conviction_row` fills unless a test overrides them.
CONVICTION_DEFAULTS: dict[str, bytes] = {
    "SUBJECT_ID": b"100",
    "PRI_NAME": b"DOE,JANE Q",
    "PRI_DOB": b"19700101",
    "CNT_ORDER": b"101001001000",
    "STP_EVENT_DATE": b"20100101",
    "STP_TYPE_DESCR": b"COURT ACTION",
    "STP_ORI_CNTY_NAME": COUNTY.encode(),
    "OFN": b"CASE-A",
    "OFFENSE_DESCR": b"11357(A) HS-POSSESS MARIJUANA",
    "OFFENSE_TOC": b"F",
    "DISP_DESCR": b"CONVICTED",
    "CONV_STAT_DESCR": b"FELONY",
}


def make_row(**columns: bytes) -> bytes:
    """Build one row as CSV bytes (no line end); unnamed columns are empty.

    Raises KeyError for a name that is not a research-file column, so a typo fails
    the test instead of leaving the column empty.
    """
    cells = [b""] * layout.FIELD_COUNT
    for name, value in columns.items():
        cells[layout.INDEX[name]] = value
    return layout.join_cells(cells)


def conviction_row(**overrides: bytes) -> bytes:
    """Build a conviction row from `CONVICTION_DEFAULTS` with some columns replaced."""
    return make_row(**{**CONVICTION_DEFAULTS, **overrides})


def read_rows(lines: Iterable[bytes], shard: int = 0):
    """Read lines with `iter_rows` and return the kept rows and the rejected ones."""
    rejected: list[RejectedRow] = []
    kept_rows = list(iter_rows(lines, shard, ReadStats(), rejected, header_allowed=True))
    return kept_rows, rejected


def evaluate_rows(
    lines: Iterable[bytes],
    policy: CountyPolicy = DEFAULT_POLICY,
    compute_at: datetime.date = COMPUTE_AT,
    county: str = COUNTY,
) -> BatchResult:
    """Decide the rows of one county as one shard, with every `All_Results` line kept.

    Raises ValueError when `iter_rows` sets a row aside, because a test that builds a
    bad row by mistake would otherwise check a history without it.
    """
    kept_rows, rejected = read_rows(lines)
    if rejected:
        raise ValueError(f"rows set aside: {[(r.line, r.reason) for r in rejected]}")
    rules = county_rules(policy) if isinstance(policy, CountyPolicy) else policy
    settings = Settings(compute_at, rules, {}, frozenset({county_folder(county)}), True)
    return evaluate(kept_rows, settings)


def eligibility(line: bytes) -> dict[str, bytes]:
    """Return the 18 eligibility cells of a bundle line by column name."""
    cells = layout.split_fields(line)[layout.FIELD_COUNT:]
    return dict(zip(ELIGIBILITY_COLUMNS, cells, strict=True))


def evaluated_cells(result: BatchResult, county: str = COUNTY) -> list[dict[str, bytes]]:
    """Return the eligibility cells of each `Prop64_Results` line of a county, in row order."""
    return [eligibility(line) for _, line in result.prop64_lines.get(county, [])]


def all_cells(result: BatchResult) -> list[dict[str, bytes]]:
    """Return the eligibility cells of every `All_Results` line, in row order."""
    return [eligibility(line) for _, line in result.all_lines]

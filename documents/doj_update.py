"""`doj-update.csv`: the conviction records the Department of Justice updates once the
court has granted relief, one row per conviction. The layout is described in
docs/outputs.md; a column is only ever added at the end."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from engine.decide import DISMISSAL, REDUCTION
from documents.files import WrittenFile, write_private
from documents.source import CountyRun

FILE_NAME = "doj-update.csv"
HEADER = (
    "person_key", "cii_number", "county", "court_case_numbers", "cnt_order", "code_section",
    "prop64_section", "disposition_date", "relief_granted", "order_date",
)
DISMISSED_AND_SEALED = "dismissed and sealed"
# NOTE: the decision does not record the age at the offense, so every redesignation
# is written as one to a misdemeanor. The county changes the rows it redesignates to
# an infraction.
REDESIGNATED_MISDEMEANOR = "redesignated to misdemeanor"
RELIEF = {DISMISSAL: DISMISSED_AND_SEALED, REDUCTION: REDESIGNATED_MISDEMEANOR}


def _date(value) -> str:
    return "" if pd.isna(value) else value.date().isoformat()


def doj_rows(county: CountyRun) -> list[tuple[str, ...]]:
    """Return one row per conviction granted relief, in the decisions' order."""
    frame = county.decisions
    granted = frame[frame["determination"].isin(list(RELIEF))]
    rows = []
    for record in granted.itertuples(index=False):
        rows.append((
            record.subject, record.cii_number, county.name, record.case_numbers,
            record.cnt_order, record.code_section, record.section,
            _date(record.disposition_date), RELIEF[record.determination], "",
        ))
    return rows


def write_doj_update(county: CountyRun, folder: Path) -> WrittenFile:
    """Write `doj-update.csv` of one county into its folder."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(doj_rows(county))
    return write_private(folder / FILE_NAME, text.getvalue().encode("utf-8"))

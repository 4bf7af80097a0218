"""The Parquet decisions dataset: one row per decided conviction, for reviewers who
filter and count rather than read the CSV bundle."""

from __future__ import annotations

from pathlib import Path

import fastparquet
import pandas as pd

from engine.batch import DecisionRecord

COLUMNS = DecisionRecord._fields


def to_frame(records: list[DecisionRecord]) -> pd.DataFrame:
    """Build the decisions frame; unknown disposition dates become NaT."""
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    frame["disposition_date"] = pd.to_datetime(frame["disposition_date"]).astype("datetime64[ns]")
    for name in ("check", "conviction_count", "prop64_count"):
        frame[name] = frame[name].astype("int32")
    for name in ("felony", "deceased", "pc290_registration"):
        frame[name] = frame[name].astype(bool)
    return frame


def write_part(path: Path, records: list[DecisionRecord], open_with=open) -> None:
    """Write one part file of the dataset with fastparquet; `open_with` opens the file."""
    fastparquet.write(str(path), to_frame(records), compression="SNAPPY", write_index=False,
                      stats=False, open_with=open_with)

"""The Parquet decisions dataset: one row per decided conviction, for reviewers who
filter and count rather than read the CSV bundle."""

from __future__ import annotations

from pathlib import Path

import fastparquet
import pandas as pd

from engine.batch import DecisionRecord

COLUMNS = DecisionRecord._fields


def to_frame(records: list[DecisionRecord]) -> pd.DataFrame:
    """Build the decisions frame; unknown birth and disposition dates become NaT."""
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    for name in ("birth_date", "disposition_date"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    for name in ("check", "conviction_count", "prop64_count"):
        frame[name] = frame[name].astype("int32")
    for name in ("felony", "deceased", "pc290_registration"):
        frame[name] = frame[name].astype(bool)
    return frame


def write_part(path: Path, records: list[DecisionRecord], open_with=open) -> None:
    """Write decision records as one Parquet file with fastparquet; `open_with` opens the file."""
    write_frame(path, to_frame(records), open_with)


def write_frame(path: Path, frame: pd.DataFrame, open_with=open) -> None:
    """Write a frame of `to_frame`, or a slice of one, as one Parquet file with fastparquet."""
    fastparquet.write(str(path), frame.reset_index(drop=True), compression="SNAPPY",
                      write_index=False, stats=False, open_with=open_with)


def read_subject(dataset: Path, subject: str) -> pd.DataFrame:
    """Read the decisions of one subject (SUBJECT_ID) from a decisions dataset folder.

    Raises
    ------
    FileNotFoundError
        When the folder has no dataset metadata (`_metadata`).
    """
    if not (dataset / "_metadata").is_file():
        raise FileNotFoundError(dataset / "_metadata")
    parquet = fastparquet.ParquetFile(str(dataset))
    # row_filter makes fastparquet read the subject column first and keep only
    # matching rows, since the parts are written without statistics.
    return parquet.to_pandas(filters=[("subject", "==", subject)], row_filter=True)

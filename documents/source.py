"""Reading a finished run: its summaries and each county's Parquet decisions.

Every county document is built from one `CountyRun`, which holds only that county's
summary and decision rows, so no document can carry another county's data.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import NamedTuple

import fastparquet
import pandas as pd

from engine.naming import county_folder

DECISIONS_FOLDER = "decisions"

#: Columns every decisions dataset has; `trail` is optional.
REQUIRED_COLUMNS = (
    "subject", "name", "birth_date", "cii_number", "county_name", "cnt_order",
    "case_numbers", "code_section", "section", "felony", "disposition_date",
    "determination", "reason", "check", "conviction_count", "prop64_count", "deceased",
    "pc290_registration",
)
#: Columns that runs made before they were added lack; they are filled with blanks.
OPTIONAL_COLUMNS = ("name", "birth_date")
TRAIL_COLUMN = "trail"


class RunOutputError(ValueError):
    """A run folder that documents cannot be built from; the message names the file."""


class CountyRef(NamedTuple):
    """A county of a run: its name as the summaries write it, and its output folder."""

    name: str
    folder: str


class RunOutputs(NamedTuple):
    """The run-wide files of a finished run."""

    out: Path
    summary: dict
    compute_at: datetime.date
    counties: list[CountyRef]


class CountyRun(NamedTuple):
    """One county's share of a run: its summary and its decision rows, nothing else."""

    ref: CountyRef
    summary: dict
    compute_at: datetime.date
    decisions: pd.DataFrame

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def has_trail(self) -> bool:
        return TRAIL_COLUMN in self.decisions.columns


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunOutputError(f"{path} is missing; is this the output folder of a finished "
                             "`clearance run`?") from None
    except (OSError, ValueError) as error:
        raise RunOutputError(f"{path} cannot be read as JSON: {error}") from None


def read_run(out: str | Path) -> RunOutputs:
    """Read the top-level summary of a finished run and list its counties."""
    out = Path(out).absolute()
    if not out.is_dir():
        raise RunOutputError(f"run folder {out} is not found or not a folder")
    summary = _read_json(out / "summary.json")
    try:
        compute_at = datetime.date.fromisoformat(summary["computeAt"])
        counties = [CountyRef(name, entry["folder"])
                    for name, entry in sorted(summary["counties"].items())]
    except (KeyError, TypeError, ValueError) as error:
        raise RunOutputError(f"{out / 'summary.json'} lacks the key or value {error}; "
                             "it was not written by `clearance run`") from None
    for ref in counties:
        # A folder name is used in paths, so it must be one the run could have made.
        if ref.folder != county_folder(ref.folder) or ref.folder == DECISIONS_FOLDER:
            raise RunOutputError(f"{out / 'summary.json'} names an invalid county folder")
    return RunOutputs(out, summary, compute_at, counties)


def read_county(run: RunOutputs, ref: CountyRef) -> CountyRun:
    """Read one county's summary and its own decision rows.

    The decisions partition has the county's output folder name (`-2` added when two
    county names share a folder name); rows are also filtered by `county_name`.
    """
    summary = _read_json(run.out / ref.folder / "summary.json")
    if summary.get("county") != ref.name:
        raise RunOutputError(f"{run.out / ref.folder / 'summary.json'} is not the summary "
                             "of the county that the run's summary.json lists for this folder")
    partition = run.out / DECISIONS_FOLDER / f"county={ref.folder}"
    frame = _read_partition(partition)
    frame = frame[frame["county_name"] == ref.name].reset_index(drop=True)
    frame = frame.sort_values(["subject", "case_numbers", "cnt_order"], kind="stable")
    return CountyRun(ref, summary, run.compute_at, frame.reset_index(drop=True))


def _read_partition(partition: Path) -> pd.DataFrame:
    files = sorted(str(p) for p in partition.glob("*.parquet")) if partition.is_dir() else []
    if not files:
        return _empty_frame()
    try:
        frame = fastparquet.ParquetFile(files, root=str(partition)).to_pandas()
    except (OSError, ValueError) as error:
        raise RunOutputError(f"decisions in {partition} cannot be read: {error}") from None
    for name in OPTIONAL_COLUMNS:
        if name not in frame.columns:
            frame[name] = pd.NaT if name == "birth_date" else ""
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise RunOutputError(f"decisions in {partition} lack the columns {', '.join(missing)}")
    return frame


def _empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype="object") for name in REQUIRED_COLUMNS})
    for name in ("birth_date", "disposition_date"):
        frame[name] = pd.Series(dtype="datetime64[ns]")
    for name in ("felony", "deceased", "pc290_registration"):
        frame[name] = pd.Series(dtype=bool)
    for name in ("check", "conviction_count", "prop64_count"):
        frame[name] = pd.Series(dtype="int32")
    return frame

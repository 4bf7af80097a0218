"""Commands for reviewers: `clearance explain` and `clearance policy check`."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from engine.decide import decode_trail
from engine.decisions_table import read_subject
from engine.explain import (
    decode_history, describe_determination, describe_history, describe_trail, policy_table,
)
from engine.policy import PolicyError
from cluster.settings import ConfigError, load_any_policy

DECISIONS_FOLDER = "decisions"


def check_policy(path: str, stream: TextIO) -> None:
    """Validate a policy file and print its rules as a table.

    Raises
    ------
    ConfigError
        When the file cannot be read or is not a valid policy; the message names the
        file and the field.
    """
    try:
        policy = load_any_policy(path)
    except PolicyError as error:
        raise ConfigError(str(error)) from None
    for line in policy_table(policy):
        print(line.rstrip(), file=stream)
    print(f"{path}: valid, {len(policy.rules)} rules", file=stream)


def explain_person(out: str, subject: str, stream: TextIO) -> int:
    """Print a person's history and the trail of each of their decisions in a run's
    output folder, and return the number of decisions printed.

    Raises
    ------
    ConfigError
        When the folder has no decisions dataset.
    """
    dataset = Path(out) / DECISIONS_FOLDER
    if not dataset.is_dir():
        raise ConfigError(f"{out} has no {DECISIONS_FOLDER}/ folder; give the --out folder of a run")
    try:
        frame = read_subject(dataset, subject)
    except FileNotFoundError:
        raise ConfigError(f"{dataset} contains no decisions, because the run decided no conviction") from None
    if frame.empty:
        return 0

    frame = frame.sort_values(["cnt_order", "county_name"], kind="stable")
    first = frame.iloc[0]
    for line in describe_history(subject, decode_history(first["history"])):
        print(line, file=stream)

    for _, row in frame.iterrows():
        print(file=stream)
        date = row["disposition_date"]
        written_date = "date unknown" if date is None or str(date) == "NaT" else date.date().isoformat()
        print(f"Conviction CNT_ORDER {row['cnt_order']}: {row['code_section']}, {row['county_name']}, "
              f"{written_date}", file=stream)
        print(f"  Policy: {row['policy_name']}", file=stream)
        print(f"  Determination: {describe_determination(row['determination'])}", file=stream)
        trail = decode_trail(row["trail"])
        for line in describe_trail(trail, row["determination"], row["reason"], row["citation"]):
            print(f"  {line}", file=stream)
    return len(frame)

"""The table printed at the end of a run."""

from __future__ import annotations

from typing import TextIO

from cluster.merge import RunOutcome
from engine.rules import DISMISSAL, REDUCTION
from engine.summary import NO_DETERMINATION_KEY

_HEADINGS = ("county", "decided", "dismissed", "reduced", "no relief", "people relieved")


#: Maximum length of a county name in the table; the full name is in summary.json.
MAX_NAME = 40


def printable(name: str) -> str:
    """Return a county name safe for a terminal: control characters become `?`, and a
    name past `MAX_NAME` characters is cut with `...`."""
    safe = "".join(c if c.isprintable() else "?" for c in name)
    return safe if len(safe) <= MAX_NAME else safe[: MAX_NAME - 3] + "..."


def print_report(outcome: RunOutcome, stream: TextIO) -> None:
    """Print one line per county and a total line, then where the outputs are."""
    rows = []
    for county in sorted(outcome.county_folders):
        summary = outcome.county_summaries[county]
        rows.append((printable(county), summary.decided, summary.dismissed, summary.reduced,
                     summary.no_relief, summary.subjects_with_relief))
    statewide = outcome.statewide
    total = ("ALL COUNTIES", statewide.decided, statewide.dismissed, statewide.reduced,
             statewide.no_relief, statewide.subjects_with_relief)
    width = max([len(_HEADINGS[0]), len(total[0])] + [len(r[0]) for r in rows])
    line = f"{{:<{width}}}" + "  {:>10}" * 4 + "  {:>15}"
    print(line.format(*_HEADINGS), file=stream)
    for row in rows:
        print(line.format(row[0], *(f"{v:,}" for v in row[1:])), file=stream)
    print(line.format(total[0], *(f"{v:,}" for v in total[1:])), file=stream)
    # "no relief" lumps together every determination but dismissal and reduction, so
    # name them when a rule policy made any. A JSON county policy only leaves some blank.
    others = {name: count for name, count in statewide.determination_counts().items()
              if count and name not in (DISMISSAL, REDUCTION)}
    if set(others) - {NO_DETERMINATION_KEY}:
        listed = ", ".join(f"{name} {count:,}" for name, count in others.items())
        print(f"no relief by determination: {listed}", file=stream)
    print(f"\n{outcome.rows_read:,} rows read, {outcome.rows_set_aside:,} set aside. "
          f"Results in {outcome.out}/ (summary.json, manifest.json, decisions/, one folder per county)",
          file=stream)

"""The figures of a county's impact report, counted from its decisions and checked
against its summary."""

from __future__ import annotations

import datetime
from typing import NamedTuple

import pandas as pd

from engine.rules import (
    DISMISSAL, HAND_REVIEW, MAYBE_ELIGIBLE, NO_DETERMINATION, NOT_ELIGIBLE, REDUCTION,
)
from documents.source import CountyRun, RunOutputError

NO_RELIEF = NO_DETERMINATION

#: Determinations in report order, with the labels the documents use. A rule policy
#: can also send a conviction to review or deny it; the county form leaves it blank.
DETERMINATIONS: tuple[tuple[str, str], ...] = (
    (DISMISSAL, "Dismissed and sealed"),
    (REDUCTION, "Redesignated"),
    (HAND_REVIEW, "Hand review"),
    (MAYBE_ELIGIBLE, "Maybe eligible, flagged for review"),
    (NOT_ELIGIBLE, "Not eligible"),
    (NO_RELIEF, "No relief"),
)
UNKNOWN_DECADE = "date unknown"
SECTIONS = ("11357", "11358", "11359", "11360")


class Relief(NamedTuple):
    """People left without a felony, without any conviction, or without one in the
    last 7 years, under one policy."""

    no_felony: int
    no_conviction: int
    no_conviction_last_7_years: int

    @classmethod
    def from_summary(cls, counts: dict) -> "Relief":
        return cls(counts["CountSubjectsNoFelony"], counts["CountSubjectsNoConviction"],
                   counts["CountSubjectsNoConvictionLast7Years"])


class CountyFigures(NamedTuple):
    """The figures of a county's report, each over that county's convictions only."""

    county: str
    folder: str
    compute_at: datetime.date
    convictions: int
    felonies: int
    dismissed: int
    reduced: int
    no_relief: int
    people: int
    people_relieved: int
    relief: Relief
    relief_dismiss_all: Relief
    by_section: dict[str, dict[str, int]]
    """Convictions by Prop 64 section, then by determination."""
    by_decade: dict[str, dict[str, int]]
    """Convictions by decade of disposition (`1990s`), then by determination."""

    @property
    def relieved(self) -> int:
        return self.dismissed + self.reduced

    @property
    def dismiss_all_convictions(self) -> int:
        """Convictions relieved under *dismiss all*: every Prop 64 conviction is dismissed."""
        return self.convictions

    @property
    def dismiss_all_people(self) -> int:
        return self.people


def _by(frame: pd.DataFrame, labels: pd.Series, order: list[str]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for label in order:
        chosen = frame[labels == label]
        table[label] = {determination: int((chosen["determination"] == determination).sum())
                        for determination, _ in DETERMINATIONS}
    return table


def decade_labels(dates: pd.Series) -> pd.Series:
    """Return `1990s`-style labels of disposition dates, `date unknown` for NaT."""
    years = dates.dt.year
    labels = (years // 10 * 10).astype("Int64").astype(str) + "s"
    return labels.where(years.notna(), UNKNOWN_DECADE)


def count_figures(county: CountyRun) -> CountyFigures:
    """Count a county's figures from its decisions and check them against its summary.

    Raises
    ------
    RunOutputError
        When the decisions and the summary disagree, which means the run folder
        contains files of different runs or was changed after the run.
    """
    frame = county.decisions
    summary = county.summary
    determinations = frame["determination"]
    dismissed = int((determinations == DISMISSAL).sum())
    reduced = int((determinations == REDUCTION).sum())
    relieved_subjects = frame.loc[determinations.isin([DISMISSAL, REDUCTION]), "subject"]

    sections = [s for s in SECTIONS if (frame["section"] == s).any()]
    decades = decade_labels(frame["disposition_date"])
    known = sorted(label for label in decades.unique() if label != UNKNOWN_DECADE)
    decade_order = known + ([UNKNOWN_DECADE] if (decades == UNKNOWN_DECADE).any() else [])

    figures = CountyFigures(
        county=county.name,
        folder=county.ref.folder,
        compute_at=county.compute_at,
        convictions=len(frame),
        felonies=int(frame["felony"].sum()),
        dismissed=dismissed,
        reduced=reduced,
        no_relief=len(frame) - dismissed - reduced,
        people=int(frame["subject"].nunique()),
        people_relieved=int(relieved_subjects.nunique()),
        relief=Relief.from_summary(summary["reliefWithCurrentEligibilityChoices"]),
        relief_dismiss_all=Relief.from_summary(summary["reliefWithDismissAllProp64"]),
        by_section=_by(frame, frame["section"], sections),
        by_decade=_by(frame, decades, decade_order),
    )
    check_against_summary(figures, frame, summary)
    return figures


def check_against_summary(figures: CountyFigures, frame: pd.DataFrame, summary: dict) -> None:
    """Raise RunOutputError when a figure differs from the county's summary.json.

    The summary counts Prop 64 convictions apart from the possible plea bargains that
    a policy may also decide (rows without a Prop 64 section), so those counts are
    checked against the decisions with a section.
    """
    prop64 = frame[frame["section"] != ""]
    expected = {
        "Prop 64 felony convictions": summary["prop64FelonyConvictionsCountInCounty"],
        "convictions": summary["prop64FelonyConvictionsCountInCounty"]
        + summary["prop64NonFelonyConvictionsCountInCounty"]
        + summary.get("possiblePleaBargainConvictionCount", 0),
        "people with a Prop 64 conviction": summary["subjectsWithProp64ConvictionCountInCounty"],
        "people relieved": summary["subjectsWithSomeReliefCount"],
    }
    counted = {
        "Prop 64 felony convictions": int(prop64["felony"].sum()),
        "convictions": figures.convictions,
        "people with a Prop 64 conviction": int(prop64["subject"].nunique()),
        "people relieved": figures.people_relieved,
    }
    # Runs made before these keys were added lack them.
    for key, name, value in (("convictionsDismissed", "dismissals", figures.dismissed),
                             ("convictionsReduced", "reductions", figures.reduced)):
        if key in summary:
            expected[name] = summary[key]
            counted[name] = value
    by_section = summary["prop64ConvictionsCountInCountyByCodeSection"]
    for section in SECTIONS:
        expected[f"HS {section} convictions"] = by_section.get(section, 0)
        counted[f"HS {section} convictions"] = sum(figures.by_section.get(section, {}).values())

    for name, value in expected.items():
        if counted[name] != value:
            raise RunOutputError(
                f"county {figures.folder}: the decisions dataset has {counted[name]} {name} but "
                f"summary.json has {value}; the run folder mixes runs or was changed")


def comparison_rows(figures: CountyFigures) -> list[tuple[str, int, int]]:
    """Return `(figure, under the county policy, under dismiss all Prop 64)` rows."""
    what_if = figures.relief_dismiss_all
    return [
        ("Convictions decided", figures.convictions, figures.convictions),
        ("Convictions dismissed and sealed", figures.dismissed, figures.dismiss_all_convictions),
        ("Convictions redesignated", figures.reduced, 0),
        ("Convictions with no relief", figures.no_relief, 0),
        ("People with a Prop 64 conviction", figures.people, figures.people),
        ("People granted some relief", figures.people_relieved, figures.dismiss_all_people),
        ("People left with no felony", figures.relief.no_felony, what_if.no_felony),
        ("People left with no conviction", figures.relief.no_conviction, what_if.no_conviction),
        ("People left with no conviction in the last 7 years",
         figures.relief.no_conviction_last_7_years, what_if.no_conviction_last_7_years),
    ]

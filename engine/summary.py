"""County summaries (`summary.json` of the bundle) as mergeable partial sums.

A partial summary covers a set of complete persons. Every figure is a sum or a
minimum, so partials of different shards add up in any order.
"""

from __future__ import annotations

import datetime

import msgspec

from engine.charges import PROP64_SECTIONS
from engine.rules import DETERMINATIONS, NO_DETERMINATION, RulePolicy

RELIEF_KEYS = ("CountSubjectsNoConviction", "CountSubjectsNoConvictionLast7Years",
               "CountSubjectsNoFelony")
#: The key of `convictionCountByDetermination` for convictions no rule decided.
NO_DETERMINATION_KEY = "No determination"


def _relief() -> dict[str, int]:
    return dict.fromkeys(RELIEF_KEYS, 0)


class CountySummary(msgspec.Struct):
    """Partial figures of one county over a set of complete persons."""

    county: str
    convictions_by_section: dict[str, int] = msgspec.field(default_factory=dict)
    felony_convictions: int = 0
    non_felony_convictions: int = 0
    subjects_with_prop64: int = 0
    subjects_with_relief: int = 0
    dismissal_by_section: dict[str, int] = msgspec.field(default_factory=dict)
    reduction_by_section: dict[str, int] = msgspec.field(default_factory=dict)
    dismissal_by_additional_relief: dict[str, int] = msgspec.field(default_factory=dict)
    relief_current: dict[str, int] = msgspec.field(default_factory=_relief)
    relief_dismiss_all: dict[str, int] = msgspec.field(default_factory=_relief)
    earliest_conviction: datetime.date | None = None
    dismissed: int = 0
    reduced: int = 0
    no_relief: int = 0
    by_determination: dict[str, int] = msgspec.field(default_factory=dict)
    """Decided convictions by determination; the blank determination is the key ``""``."""
    possible_plea_bargains: int = 0
    """Decided convictions that are not Prop 64 charges (possible plea bargains)."""

    @property
    def decided(self) -> int:
        """Convictions decided in the county."""
        return self.dismissed + self.reduced + self.no_relief

    def merge(self, other: "CountySummary") -> None:
        """Add another partial of the same county into this one."""
        for name in ("felony_convictions", "non_felony_convictions", "subjects_with_prop64",
                     "subjects_with_relief", "dismissed", "reduced", "no_relief",
                     "possible_plea_bargains"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("convictions_by_section", "dismissal_by_section", "reduction_by_section",
                     "dismissal_by_additional_relief", "relief_current", "relief_dismiss_all",
                     "by_determination"):
            mine = getattr(self, name)
            for key, value in getattr(other, name).items():
                mine[key] = mine.get(key, 0) + value
        if other.earliest_conviction is not None and (
                self.earliest_conviction is None or other.earliest_conviction < self.earliest_conviction):
            self.earliest_conviction = other.earliest_conviction

    def determination_counts(self) -> dict[str, int]:
        """Return decided convictions by determination, every determination listed."""
        counts = {name: self.by_determination.get(name, 0) for name in DETERMINATIONS}
        counts[NO_DETERMINATION_KEY] = self.by_determination.get(NO_DETERMINATION, 0)
        return counts

    def to_json(self, policy: RulePolicy, line_count: int) -> dict:
        """Return the bundle's `summary.json` object, keys sorted as the earlier tool wrote them.

        The by-section counts list the sections of the policy's rules in those summary
        groups, zeros included. For a JSON county policy these are its `dismiss` and
        `reduce` lists. The earlier tool did not write `convictionCountByDetermination`
        and `possiblePleaBargainConvictionCount`.
        """
        earliest = self.earliest_conviction
        document = {
            "convictionCountByDetermination": self.determination_counts(),
            "convictionDismissalCountByAdditionalRelief": dict(sorted(self.dismissal_by_additional_relief.items())),
            "convictionDismissalCountByCodeSection": {
                s: self.dismissal_by_section.get(s, 0)
                for s in policy.summary_sections("dismissal-by-section")},
            "convictionReductionCountByCodeSection": {
                s: self.reduction_by_section.get(s, 0)
                for s in policy.summary_sections("reduction-by-section")},
            "convictionsDismissed": self.dismissed,
            "convictionsReduced": self.reduced,
            "convictionsWithNoRelief": self.no_relief,
            "county": self.county,
            "earliestConviction": None if earliest is None else f"{earliest.isoformat()}T00:00:00Z",
            "lineCount": line_count,
            "possiblePleaBargainConvictionCount": self.possible_plea_bargains,
            "prop64ConvictionsCountInCountyByCodeSection": {
                s: self.convictions_by_section[s] for s in PROP64_SECTIONS if self.convictions_by_section.get(s)},
            "prop64FelonyConvictionsCountInCounty": self.felony_convictions,
            "prop64NonFelonyConvictionsCountInCounty": self.non_felony_convictions,
            "reliefWithCurrentEligibilityChoices": dict(sorted(self.relief_current.items())),
            "reliefWithDismissAllProp64": dict(sorted(self.relief_dismiss_all.items())),
            "subjectsWithProp64ConvictionCountInCounty": self.subjects_with_prop64,
            "subjectsWithSomeReliefCount": self.subjects_with_relief,
        }
        return document

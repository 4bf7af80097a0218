"""Deciding one Prop 64 conviction under a county policy.

The checks run in a fixed order and the first that holds decides. The order is part
of the contract with counties that used the earlier tool, so it lives in one tuple,
`CHECKS`, and a test pins it.
"""

from __future__ import annotations

import datetime
from typing import Callable, NamedTuple

from engine.dates import add_years, birthday
from engine.history import Conviction, Person, PersonFacts
from engine.policy import CountyPolicy

DISMISSAL = "Eligible for Dismissal"
REDUCTION = "Eligible for Reduction"
NO_RELIEF = ""


class Decision(NamedTuple):
    """The outcome of deciding one conviction; `check` is the number of the check that held."""

    determination: str
    reason: str
    check: int

    @property
    def dismissed(self) -> bool:
        return self.determination == DISMISSAL

    @property
    def relieved(self) -> bool:
        return self.determination in (DISMISSAL, REDUCTION)


NO_DECISION = Decision(NO_RELIEF, "", 0)


class Case(NamedTuple):
    """Everything one decision may look at."""

    conviction: Conviction
    person: Person
    facts: PersonFacts
    policy: CountyPolicy
    compute_at: datetime.date


def _not_felony(case: Case) -> str | None:
    return None if case.conviction.felony else "Misdemeanor or Infraction"


def _dismiss_section(case: Case) -> str | None:
    number = case.conviction.prop64_number
    if number in case.policy.baselineEligibility.dismiss:
        return f"Dismiss all HS {number} convictions"
    return None


def _under_21(case: Case) -> str | None:
    birth, date = case.person.birth_date, case.conviction.date
    if not case.policy.additionalRelief.subjectUnder21AtConviction or birth is None or date is None:
        return None
    return "21 years or younger" if birthday(birth, 21) > date else None


def _age_threshold(case: Case) -> str | None:
    age, birth = case.policy.additionalRelief.subjectAgeThreshold, case.person.birth_date
    if not age or birth is None:
        return None
    return f"{age} years or older" if birthday(birth, age) <= case.compute_at else None


def _years_since_conviction(case: Case) -> str | None:
    years, date = case.policy.additionalRelief.yearsSinceConvictionThreshold, case.conviction.date
    if not years or date is None:
        return None
    if date <= add_years(case.compute_at, -years):
        return f"Conviction occurred {years} or more years ago"
    return None


def _crime_free(case: Case) -> str | None:
    years, latest = case.policy.additionalRelief.yearsCrimeFreeThreshold, case.facts.latest_date
    if not years or latest is None:
        return None
    if latest < add_years(case.compute_at, -years):
        return f"No convictions in the past {years} years"
    return None


def _only_prop64(case: Case) -> str | None:
    if case.policy.additionalRelief.subjectHasOnlyProp64Charges and case.facts.only_prop64:
        return "Only has 11357-60 charges"
    return None


def _deceased(case: Case) -> str | None:
    if case.policy.additionalRelief.subjectIsDeceased and case.person.deceased:
        return "Individual is deceased"
    return None


def _reduce_section(case: Case) -> str | None:
    number = case.conviction.prop64_number
    if number in case.policy.baselineEligibility.reduce:
        return f"Reduce all HS {number} convictions"
    return None


Check = Callable[[Case], "str | None"]

#: The county policy's checks in the order they run, numbered from 1.
CHECKS: tuple[tuple[int, Check, str], ...] = (
    (1, _not_felony, DISMISSAL),
    (2, _dismiss_section, DISMISSAL),
    (3, _under_21, DISMISSAL),
    (4, _age_threshold, DISMISSAL),
    (5, _years_since_conviction, DISMISSAL),
    (6, _crime_free, DISMISSAL),
    (7, _only_prop64, DISMISSAL),
    (8, _deceased, DISMISSAL),
    (9, _reduce_section, REDUCTION),
)

#: Checks whose dismissals the summary counts as additional relief.
ADDITIONAL_RELIEF_CHECKS = frozenset({3, 4, 5, 6, 7, 8})


def decide(case: Case) -> Decision:
    """Run the checks in order and return the first that holds, or `NO_DECISION`."""
    for number, check, determination in CHECKS:
        reason = check(case)
        if reason is not None:
            return Decision(determination, reason, number)
    return NO_DECISION

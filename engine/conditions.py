"""Conditions of the policy language: named predicates over one conviction and the
person's whole history (every county).

A condition is a msgspec struct tagged by its `condition` field, so that a policy
file names it (`{ condition = "age_at_least", age = 50 }`) and decoding checks its
fields. No condition refers to a statute, because the law lives in the policy files
that combine conditions into rules.

Evaluating a condition gives one of three results. True and False are known
results, and None means the record lacks a fact the result needs, such as a date of
birth or a disposition date. `negate` turns True and False around and leaves None
alone. `if_unknown` then sets whether None counts as holding or failing. Every
evaluation also returns the facts it looked at, in plain English, for the trail.
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache
from typing import Literal, NamedTuple, Union

import msgspec

from engine.dates import add_years, birthday
from engine.history import Conviction, Person, PersonFacts
from engine.sentences import sentence_end

Level = Literal["felony", "misdemeanor", "infraction", "unknown"]
SentenceScope = Literal["this conviction", "any conviction"]

#: Ages and year counts a condition accepts; anything else is a typing error.
AGE_RANGE = (1, 130)
YEARS_RANGE = (1, 100)
PRIOR_COUNT_RANGE = (1, 100)

_SECTION_ENTRY = re.compile(
    r"^([0-9]+(?:\.[0-9]+)?)([A-Z][A-Z0-9]*)?((?:\([A-Z0-9]+\))*)(?:\s+([A-Z]{2}))?$")
_SUBSECTION = re.compile(r"\(([A-Z0-9]+)\)")
_GLUED_PART = re.compile(r"[A-Z]+|[0-9]+")


class Case(NamedTuple):
    """Everything one decision may look at."""

    conviction: Conviction
    person: Person
    facts: PersonFacts
    compute_at: datetime.date


class SectionEntry(NamedTuple):
    """One entry of a `section` condition: `11357`, `11357(A)`, `288(A) PC`.

    Letters glued to the number count as subsections, as they do in charges, so
    `11357B2` is `11357(B)(2)`.
    """

    number: str
    subsections: tuple[str, ...]
    code: str
    """Code letters, or empty to match a charge written with any code or none."""


@lru_cache(maxsize=1024)
def parse_section_entry(text: str) -> SectionEntry:
    """Parse a section entry of a policy; raise ValueError naming the entry when invalid."""
    match = _SECTION_ENTRY.match(text.strip().upper().replace(" (", "("))
    if match is None:
        raise ValueError(
            f"invalid section {text!r}; expected a section number with optional "
            "subsections and code, such as 11357, 11357(A), 11357(B)(2) or 288(A) PC")
    number, glued, subsections, code = match.groups()
    parts = _GLUED_PART.findall(glued or "") + _SUBSECTION.findall(subsections)
    return SectionEntry(number, tuple(parts), code or "")


def _check_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"`{name}` must be {low}-{high}, got {value}")


def _day(date: datetime.date | None) -> str:
    return "unknown" if date is None else date.isoformat()


def section_number(conviction: Conviction) -> str | None:
    """Return the section number a conviction is judged by: its Prop 64 section, else
    the first section of its charge; None when the charge names no section."""
    if conviction.prop64 is not None:
        return conviction.prop64.number
    return conviction.sections[0].number if conviction.sections else None


def _charge(conviction: Conviction) -> str:
    text = conviction.section_text.decode("latin-1").strip()
    return text or "(no charge text)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class Condition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
                tag_field="condition"):
    """Fields every condition has."""

    negate: bool = False
    """Hold when the condition does not. An unknown result stays unknown."""
    if_unknown: Literal["fails", "holds"] = "fails"
    """Whether an unknown result counts as failing or holding, after `negate`."""

    def evaluate(self, case: Case) -> tuple[bool | None, str]:
        """Return the result (None when a fact is unknown) and the facts looked at."""
        raise NotImplementedError

    def phrase(self, negated: bool) -> str:
        """Return the condition as a clause: 'the person is deceased'."""
        raise NotImplementedError

    def describe(self) -> str:
        """Return the condition as written in the policy, in plain English."""
        text = self.phrase(self.negate)
        if self.if_unknown == "holds":
            text += " (or the record cannot tell)"
        return text

    def test(self, case: Case) -> tuple[bool, bool, str]:
        """Return whether the condition holds, whether the result was unknown, and the facts."""
        value, found = self.evaluate(case)
        if value is None:
            return self.if_unknown == "holds", True, found
        return value != self.negate, False, found


class SectionIn(Condition, tag="section"):
    """The conviction's code section is one of `sections`.

    An entry is a section number, optionally with subsections and a code:
    `11357` covers 11357 with any subsections, `11357(B)` covers 11357(B) and
    11357(B)(2), and `288(A) PC` covers only a charge written with code PC. A Prop 64
    conviction is judged by its Prop 64 section, the first one if its charge names two.
    Any other conviction matches when any of its sections is listed.
    """

    sections: tuple[str, ...]

    def __post_init__(self):
        if not self.sections:
            raise ValueError("`sections` must list at least one section")
        for entry in self.sections:
            parse_section_entry(entry)

    def evaluate(self, case):
        conviction = case.conviction
        candidates = (conviction.prop64,) if conviction.prop64 is not None else conviction.sections
        found = f"the charge is {_charge(conviction)}"
        for entry_text in self.sections:
            entry = parse_section_entry(entry_text)
            for section in candidates:
                if section.number != entry.number:
                    continue
                if section.subsections[:len(entry.subsections)] != entry.subsections:
                    continue
                if entry.code and section.code != entry.code:
                    continue
                return True, found
        return False, found

    def phrase(self, negated):
        listed = self.sections[0] if len(self.sections) == 1 else "one of " + ", ".join(self.sections)
        return f"the section is {'not ' if negated else ''}{listed}"


_LEVEL_WORDS = {"felony": "a felony", "misdemeanor": "a misdemeanor",
                "infraction": "an infraction", "unknown": "of unknown level"}


class LevelIn(Condition, tag="level"):
    """The conviction's level is one of `levels`: felony, misdemeanor, infraction, or
    unknown (CONV_STAT_DESCR and OFFENSE_TOC both blank or unreadable)."""

    levels: tuple[Level, ...]

    def __post_init__(self):
        if not self.levels:
            raise ValueError("`levels` must list at least one level")

    def evaluate(self, case):
        level = case.conviction.level
        return level in self.levels, f"the level is {level}"

    def phrase(self, negated):
        listed = " or ".join(_LEVEL_WORDS[level] for level in self.levels)
        return f"the conviction is {'not ' if negated else ''}{listed}"


class DispositionBefore(Condition, tag="disposition_before"):
    """The disposition date is before `date` (the day itself excluded)."""

    date: datetime.date

    def evaluate(self, case):
        date = case.conviction.date
        found = f"the disposition date is {_day(date)}"
        return (None if date is None else date < self.date), found

    def phrase(self, negated):
        return f"the disposition date is {'not ' if negated else ''}before {self.date.isoformat()}"


class DispositionAfter(Condition, tag="disposition_after"):
    """The disposition date is after `date` (the day itself excluded)."""

    date: datetime.date

    def evaluate(self, case):
        date = case.conviction.date
        found = f"the disposition date is {_day(date)}"
        return (None if date is None else date > self.date), found

    def phrase(self, negated):
        return f"the disposition date is {'not ' if negated else ''}after {self.date.isoformat()}"


class UnderAgeAtDisposition(Condition, tag="under_age_at_disposition"):
    """The person was younger than `age` on the disposition date: the birthday of
    that age falls after it."""

    age: int

    def __post_init__(self):
        _check_range("age", self.age, AGE_RANGE)

    def evaluate(self, case):
        birth, date = case.person.birth_date, case.conviction.date
        found = f"born {_day(birth)}, disposition {_day(date)}"
        if birth is None or date is None:
            return None, found
        return birthday(birth, self.age) > date, found

    def phrase(self, negated):
        return f"the person was {'not ' if negated else ''}under {self.age} on the disposition date"


class AgeAtLeast(Condition, tag="age_at_least"):
    """The person is `age` or older on compute-at: that birthday is on or before it."""

    age: int

    def __post_init__(self):
        _check_range("age", self.age, AGE_RANGE)

    def evaluate(self, case):
        birth = case.person.birth_date
        found = f"born {_day(birth)}, compute-at {case.compute_at.isoformat()}"
        if birth is None:
            return None, found
        return birthday(birth, self.age) <= case.compute_at, found

    def phrase(self, negated):
        return f"the person is {'not ' if negated else ''}{self.age} or older on compute-at"


class YearsSinceConviction(Condition, tag="years_since_conviction"):
    """At least `years` calendar years passed from the disposition to compute-at."""

    years: int

    def __post_init__(self):
        _check_range("years", self.years, YEARS_RANGE)

    def evaluate(self, case):
        date = case.conviction.date
        found = f"the disposition date is {_day(date)}, compute-at {case.compute_at.isoformat()}"
        if date is None:
            return None, found
        return date <= add_years(case.compute_at, -self.years), found

    def phrase(self, negated):
        return (f"{'fewer than' if negated else 'at least'} {_plural(self.years, 'year')} "
                "passed since this conviction")


class NoConvictionWithin(Condition, tag="no_conviction_within"):
    """The person's latest dated conviction (any county, any charge) is more than
    `years` calendar years before compute-at. Undated convictions are left out, and
    the result is unknown when no conviction is dated."""

    years: int

    def __post_init__(self):
        _check_range("years", self.years, YEARS_RANGE)

    def evaluate(self, case):
        latest = case.facts.latest_date
        found = f"the latest dated conviction is {_day(latest)}"
        if latest is None:
            return None, found
        return latest < add_years(case.compute_at, -self.years), found

    def phrase(self, negated):
        if negated:
            return f"the person has a conviction in the {_plural(self.years, 'year')} before compute-at"
        return f"the person has no conviction in the {_plural(self.years, 'year')} before compute-at"


class OnlyProp64Convictions(Condition, tag="only_prop64_convictions"):
    """Every conviction of the person, in every county, is a Prop 64 charge."""

    def evaluate(self, case):
        facts = case.facts
        return facts.only_prop64, (f"{facts.prop64_count} of {_plural(facts.conviction_count, 'conviction')} "
                                   "are Prop 64 charges")

    def phrase(self, negated):
        if negated:
            return "the person has a conviction that is not a Prop 64 charge"
        return "every conviction of the person is a Prop 64 charge"


class Deceased(Condition, tag="deceased"):
    """The person's record has a DECEASED step."""

    def evaluate(self, case):
        deceased = case.person.deceased
        return deceased, "the record has a DECEASED step" if deceased else "the record has no DECEASED step"

    def phrase(self, negated):
        return f"the person is {'not ' if negated else ''}deceased"


def _dated_before(dates: list[datetime.date | None], before: datetime.date | None) -> tuple[int, int]:
    """Count dates known to be before `before`, and dates whose order is unknown."""
    known = unknown = 0
    for date in dates:
        if date is None or before is None:
            unknown += 1
        elif date < before:
            known += 1
    return known, unknown


def _at_least(known: int, unknown: int, count: int) -> bool | None:
    if known >= count:
        return True
    if known + unknown >= count:
        return None
    return False


class PriorSuperstrike(Condition, tag="prior_superstrike"):
    """The person has a superstrike conviction (the violent felonies of PC
    667(e)(2)(C)(iv)) dated before this conviction. The result is unknown when such a
    conviction exists but it or this conviction is undated."""

    def evaluate(self, case):
        this = case.conviction
        dates = [c.date for c in case.person.convictions if c.superstrike and c is not this]
        known, unknown = _dated_before(dates, this.date)
        found = (f"{_plural(len(dates), 'superstrike conviction')}, {known} dated before "
                 f"{_day(this.date)}")
        if unknown:
            found += f", {unknown} not comparable because a date is unknown"
        return _at_least(known, unknown, 1), found

    def phrase(self, negated):
        return f"the person {'has no' if negated else 'has a'} superstrike conviction before this one"


class PriorPC290(Condition, tag="prior_pc290"):
    """The person has a PC 290 registration step, or a conviction of a PC 290
    registrable section, dated before this conviction. The result is unknown when
    such a step or conviction exists but it or this conviction is undated."""

    def evaluate(self, case):
        this = case.conviction
        person = case.person
        registrable = [c.date for c in person.convictions if c.pc290 and c is not this]
        dates = list(person.registration_dates) + registrable
        known, unknown = _dated_before(dates, this.date)
        found = (f"{_plural(len(person.registration_dates), 'PC 290 registration')} and "
                 f"{_plural(len(registrable), 'registrable conviction')}, {known} dated before "
                 f"{_day(this.date)}")
        if unknown:
            found += f", {unknown} not comparable because a date is unknown"
        return _at_least(known, unknown, 1), found

    def phrase(self, negated):
        return (f"the person {'has no' if negated else 'has a'} PC 290 registration or registrable "
                "conviction before this one")


class PriorSameSection(Condition, tag="prior_same_section"):
    """The person has at least `count` convictions of this conviction's section
    dated before it. A Prop 64 conviction compares Prop 64 sections; another
    conviction compares every section number its charge names. The result is
    unknown when undated convictions could make up the count."""

    count: int

    def __post_init__(self):
        _check_range("count", self.count, PRIOR_COUNT_RANGE)

    def evaluate(self, case):
        this = case.conviction
        numbers = _numbers(this)
        dates = [c.date for c in case.person.convictions if c is not this and _numbers(c) & numbers]
        known, unknown = _dated_before(dates, this.date)
        section = section_number(this) or "(none)"
        found = f"{known} earlier {section} {'conviction' if known == 1 else 'convictions'}"
        if unknown:
            found += f", {unknown} more not comparable because a date is unknown"
        return _at_least(known, unknown, self.count), found

    def phrase(self, negated):
        amount = f"fewer than {self.count}" if negated else f"at least {self.count}"
        return f"the person has {amount} earlier {'conviction' if self.count == 1 else 'convictions'} of the same section"


def _numbers(conviction: Conviction) -> frozenset[str]:
    if conviction.prop64 is not None:
        return frozenset((conviction.prop64.number,))
    return frozenset(section.number for section in conviction.sections)


def conviction_sentence_end(conviction: Conviction,
                            parts: tuple[list[tuple[int, str]], int] | None = None,
                            ) -> tuple[datetime.date | None, str]:
    """Return the day a conviction's sentence ends, or None when the record cannot
    tell, with the facts in plain English. `parts` is the conviction's
    `sentence_parts()` when the caller has already read them."""
    parts, unreadable = conviction.sentence_parts() if parts is None else parts
    if conviction.date is None:
        return None, "the disposition date is unknown"
    if unreadable:
        return None, f"{_plural(unreadable, 'sentence part')} cannot be read"
    try:
        end = sentence_end(conviction.date, parts)
    except (ValueError, OverflowError):
        return None, "the sentence parts add up past the year 9999"
    written = " + ".join(f"{length}{unit}" for length, unit in parts) or "no term"
    return end, f"sentence {written} from {conviction.date.isoformat()} ends {end.isoformat()}"


class SentenceNotCompleted(Condition, tag="sentence_not_completed"):
    """A sentence is still being served on compute-at: it ends after compute-at.

    The sentence ends at the disposition date plus the sum of its parts, in calendar
    arithmetic; a part without a length (a fine) adds nothing. `scope` is `this
    conviction` (the default) or `any conviction` of the person. The result is
    unknown when a disposition date is missing or a sentence part cannot be read.
    """

    scope: SentenceScope = "this conviction"

    def evaluate(self, case):
        if self.scope == "this conviction":
            end, found = conviction_sentence_end(case.conviction)
            if end is None:
                return None, found
            return end > case.compute_at, found

        serving = unknown = 0
        for conviction in case.person.convictions:
            end, _ = conviction_sentence_end(conviction)
            if end is None:
                unknown += 1
            elif end > case.compute_at:
                serving += 1
        found = (f"{serving} of {_plural(len(case.person.convictions), 'conviction')} with a "
                 f"sentence ending after {case.compute_at.isoformat()}")
        if unknown:
            found += f", {unknown} whose end is unknown"
        return _at_least(serving, unknown, 1), found

    def phrase(self, negated):
        if self.scope == "this conviction":
            return f"the sentence of this conviction is {'completed' if negated else 'not yet completed'} on compute-at"
        if negated:
            return "every sentence of the person is completed on compute-at"
        return "a sentence of the person is not yet completed on compute-at"


class PossiblePleaBargain(Condition, tag="possible_plea_bargain"):
    """The conviction may be a plea bargain of a Prop 64 arrest.

    It is for a section other than 11357-11360, and an arrest step of the same cycle
    (the first 3 characters of CNT_ORDER) charged a Prop 64 section. No Prop 64 charge
    of that cycle ended in a conviction, so the person may have pleaded to another
    charge.
    """

    def evaluate(self, case):
        conviction = case.conviction
        person = case.person
        cycle = conviction.cycle.decode("latin-1")
        if conviction.cycle not in person.prop64_arrest_cycles:
            found = f"the arrest of cycle {cycle} charged no Prop 64 section"
        elif conviction.cycle not in person.plea_bargain_cycles():
            found = f"cycle {cycle} holds a Prop 64 conviction"
        elif conviction.prop64 is not None:
            found = f"the charge {_charge(conviction)} is a Prop 64 charge"
        else:
            return True, (f"the charge is {_charge(conviction)}; the arrest of cycle {cycle} "
                          "charged a Prop 64 section that ended in no conviction")
        return False, found

    def phrase(self, negated):
        if negated:
            return "the conviction is not a possible plea bargain"
        return ("the conviction is for another section in a cycle whose arrest charged "
                "a Prop 64 section that was not convicted (a possible plea bargain)")


#: Every condition a policy can name, in the order the documentation lists them.
CONDITION_TYPES = (
    SectionIn, LevelIn, DispositionBefore, DispositionAfter, UnderAgeAtDisposition,
    AgeAtLeast, YearsSinceConviction, NoConvictionWithin, OnlyProp64Convictions, Deceased,
    PriorSuperstrike, PriorPC290, PriorSameSection, SentenceNotCompleted, PossiblePleaBargain,
)

AnyCondition = Union[
    SectionIn, LevelIn, DispositionBefore, DispositionAfter, UnderAgeAtDisposition,
    AgeAtLeast, YearsSinceConviction, NoConvictionWithin, OnlyProp64Convictions, Deceased,
    PriorSuperstrike, PriorPC290, PriorSameSection, SentenceNotCompleted, PossiblePleaBargain,
]


def condition_name(condition: Condition) -> str:
    """Return the name a policy file uses for a condition (its tag)."""
    return type(condition).__struct_config__.tag

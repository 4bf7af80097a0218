"""Explaining decisions in plain English.

The decisions dataset keeps, beside each decision, its trail (`engine.decide`) and the
person's history as the conditions saw it (`HistoryRecord`, as JSON). This module
builds that history record and turns both back into text for `clearance explain`,
and prints a policy's rules as a table for `clearance policy check`.
"""

from __future__ import annotations

import datetime
import textwrap
from typing import Iterable

import msgspec

from engine import layout
from engine.conditions import conviction_sentence_end, section_number
from engine.decide import TrailStep
from engine.history import TRIM, Person
from engine.rules import NO_DETERMINATION, RulePolicy


class ConvictionRecord(msgspec.Struct, frozen=True):
    """One conviction of the person, as the decisions dataset keeps it."""

    cnt_order: str
    county: str
    date: datetime.date | None
    level: str
    charge: str
    """The code-section text of the charge, trimmed."""
    section: str
    """The section the conviction is judged by (`engine.conditions.section_number`)."""
    prop64: bool
    superstrike: bool
    pc290: bool
    sentence: str
    """The readable sentence parts, such as `1Y + 6M`, or empty."""
    sentence_end: datetime.date | None


class HistoryRecord(msgspec.Struct, frozen=True):
    """The person's history that the conditions look at, across every county."""

    birth_date: datetime.date | None
    deceased: bool
    registrations: list[datetime.date | None]
    prop64_arrest_cycles: list[str]
    convictions: list[ConvictionRecord]


_history_encoder = msgspec.json.Encoder()
_history_decoder = msgspec.json.Decoder(HistoryRecord)


def history_record(person: Person) -> HistoryRecord:
    """Build the history record of a person."""
    convictions = []
    for conviction in person.convictions:
        sentence = conviction.sentence_parts()
        parts = sentence[0]
        end, _ = conviction_sentence_end(conviction, sentence)
        convictions.append(ConvictionRecord(
            cnt_order=layout.decode_text(conviction.cnt_order),
            county=conviction.county.decode("latin-1"),
            date=conviction.date,
            level=conviction.level,
            charge=layout.decode_text(conviction.section_text.strip(TRIM)),
            section=section_number(conviction) or "",
            prop64=conviction.prop64 is not None,
            superstrike=conviction.superstrike,
            pc290=conviction.pc290,
            sentence=" + ".join(f"{length}{unit}" for length, unit in parts),
            sentence_end=end,
        ))
    return HistoryRecord(
        birth_date=person.birth_date,
        deceased=person.deceased,
        registrations=list(person.registration_dates),
        prop64_arrest_cycles=sorted(c.decode("latin-1") for c in person.prop64_arrest_cycles),
        convictions=convictions,
    )


def encode_history(person: Person) -> str:
    """Return the person's history record as JSON text."""
    return _history_encoder.encode(history_record(person)).decode("utf-8")


def decode_history(text: str) -> HistoryRecord:
    """Decode a history record stored by `encode_history`."""
    return _history_decoder.decode(text)


def _day(date: datetime.date | None) -> str:
    return "date unknown" if date is None else date.isoformat()


def describe_history(subject: str, history: HistoryRecord) -> list[str]:
    """Return the lines that describe a person's history."""
    lines = [f"Person {subject}"]
    lines.append(f"  Date of birth: {_day(history.birth_date)}")
    lines.append(f"  Deceased: {'yes' if history.deceased else 'no'}")
    if history.registrations:
        dates = ", ".join(_day(d) for d in history.registrations)
        lines.append(f"  PC 290 registrations: {dates}")
    else:
        lines.append("  PC 290 registrations: none")
    if history.prop64_arrest_cycles:
        lines.append(f"  Numbers of the cycles whose arrest charged a Prop 64 section: "
                     f"{', '.join(history.prop64_arrest_cycles)}")
    lines.append(f"  Convictions, every county ({len(history.convictions)}):")
    for number, conviction in enumerate(history.convictions, 1):
        flags = [flag for flag, present in (("Prop 64", conviction.prop64),
                                            ("superstrike", conviction.superstrike),
                                            ("PC 290 registrable", conviction.pc290)) if present]
        sentence = conviction.sentence or "no term"
        if conviction.sentence_end is not None:
            sentence += f", ends {conviction.sentence_end.isoformat()}"
        elif conviction.date is None:
            sentence += ", end unknown"
        lines.append(
            f"    {number}. {_day(conviction.date)}  {conviction.county or '(no county)'}  "
            f"{conviction.charge or '(no charge text)'}  {conviction.level}  "
            f"CNT_ORDER {conviction.cnt_order}  sentence {sentence}"
            + (f"  [{', '.join(flags)}]" if flags else ""))
    return lines


def describe_trail(trail: Iterable[TrailStep], determination: str, reason: str,
                   citation: str) -> list[str]:
    """Return the lines that tell, rule by rule, how a decision was reached."""
    lines = []
    decided = False
    for step in trail:
        title = f"Rule {step.rule} \"{step.name}\""
        if step.outcome == "disabled":
            lines.append(f"{title} is turned off in this policy.")
            continue
        if step.outcome == "failed":
            condition = step.conditions[0]
            if condition.unknown:
                lines.append(f"{title} did not apply: it requires that {condition.condition}, "
                             f"and the record cannot tell ({condition.found}).")
            else:
                lines.append(f"{title} did not apply: it requires that {condition.condition}, "
                             f"but {condition.found}.")
            continue
        decided = True
        lines.append(f"{title} decided: {determination}.")
        if step.conditions:
            lines.append("  It applied because:")
            for condition in step.conditions:
                note = " (the record cannot tell, which this rule counts as holding)" if condition.unknown else ""
                lines.append(f"  - {condition.condition}: {condition.found}{note}")
        else:
            lines.append("  It has no conditions, so it applies to every conviction that reaches it.")
        lines.append(f"  Reason: {reason}")
        lines.append(f"  Citation: {citation}")
    if not decided:
        lines.append("No rule applied, so the determination is blank.")
    return lines


def describe_determination(determination: str) -> str:
    return determination if determination != NO_DETERMINATION else "(no determination)"


def policy_table(policy: RulePolicy, width: int = 100) -> list[str]:
    """Return a policy's rules as a readable table: number, name, conditions,
    determination, reason and citation."""
    lines = [f"Policy: {policy.name}"]
    if policy.description.strip():
        for paragraph in policy.description.strip().split("\n\n"):
            lines.extend(textwrap.wrap(" ".join(paragraph.split()), width))
            lines.append("")
    scope = ("Prop 64 convictions and possible plea bargains" if policy.decides_plea_bargains
             else "Prop 64 convictions")
    lines.append(f"Decides: {scope}")
    lines.append(f"Rules: {len(policy.rules)}, tried in order; the first whose conditions all hold decides.")
    lines.append("")
    for number, rule in enumerate(policy.rules, 1):
        state = "" if rule.enabled else "  (turned off)"
        lines.append(f"{number:>3}. {rule.name}{state}")
        if not rule.enabled:
            lines.append("       never applies")
        elif rule.when:
            for index, condition in enumerate(rule.when):
                lead = "when " if index == 0 else " and "
                lines.extend(textwrap.wrap(condition.describe(), width - 10,
                                           initial_indent=f"       {lead}",
                                           subsequent_indent="            "))
        else:
            lines.append("       always")
        lines.append(f"       -> {rule.determination}")
        lines.extend(textwrap.wrap(rule.reason, width - 10, initial_indent="       reason:   ",
                                   subsequent_indent="                 "))
        lines.extend(textwrap.wrap(rule.citation, width - 10, initial_indent="       citation: ",
                                   subsequent_indent="                 "))
        if rule.summary:
            lines.append(f"       summary:  {rule.summary}")
        lines.append("")
    return lines

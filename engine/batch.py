"""Deciding a batch of rows: histories, decisions, bundle lines and partial summaries.

A batch holds every row of the persons it decides (the cluster layer makes sure of
that), so each person's history here is complete.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import hashlib
from typing import Iterable, NamedTuple

from engine import layout
from engine.bundle import (
    blank_eligibility, condensed_line, eligibility_cells, join_eligibility,
    possible_other_p64,
)
from engine.county_rules import DISMISS_ALL_RULES
from engine.decide import NO_DECISION, REDUCTION, Case, Decision, decide, encode_trail
from engine.explain import encode_history
from engine.history import TRIM, Person, PersonFacts
from engine.naming import county_folder
from engine.rules import RulePolicy
from engine.dates import add_years
from engine.reader import key_shard
from engine.summary import CountySummary

RECENT_YEARS = 7
#: The county name of the summary over every decided county, counting each person once.
STATEWIDE = "STATEWIDE"


class Settings(NamedTuple):
    """What every batch of a run is decided with."""

    compute_at: datetime.date
    default_policy: RulePolicy
    policies: dict[str, RulePolicy]
    """Per-county policies by county folder name; the default covers the rest."""
    counties: frozenset[str] | None
    """County folder names to decide, or None for every county."""
    all_results: bool
    """Whether to produce `All_Results` lines for every row (single-county runs)."""

    def policy_for(self, folder: str) -> RulePolicy:
        return self.policies.get(folder, self.default_policy)

    def decides_plea_bargains(self) -> bool:
        """Return whether any policy also decides possible plea bargains."""
        return any(p.decides_plea_bargains for p in (self.default_policy, *self.policies.values()))

    def decides(self, folder: str) -> bool:
        return bool(folder) and (self.counties is None or folder in self.counties)


class DecisionRecord(NamedTuple):
    """One decided conviction, as the Parquet decisions dataset holds it."""

    subject: str
    cii_number: str
    county_name: str
    cnt_order: str
    case_numbers: str
    code_section: str
    section: str
    felony: bool
    disposition_date: datetime.date | None
    determination: str
    reason: str
    check: int
    conviction_count: int
    prop64_count: int
    deceased: bool
    pc290_registration: bool
    rule_name: str
    citation: str
    policy_name: str
    trail: str
    """The rules tried and why each failed, as JSON (`engine.decide.TrailStep`)."""
    history: str
    """The person's history the conditions looked at, as JSON (`engine.explain.HistoryRecord`)."""


class BatchResult:
    """What deciding a batch produced, keyed by county name (trimmed, upper case)."""

    def __init__(self):
        self.prop64_lines: dict[str, list[tuple[int, bytes]]] = {}
        self.all_lines: list[tuple[int, bytes]] = []
        self.condensed_lines: list[tuple[int, bytes]] = []
        self.decisions: dict[str, list[DecisionRecord]] = {}
        self.summaries: dict[str, CountySummary] = {}
        self.statewide = CountySummary(STATEWIDE)
        self.counties_seen: set[str] = set()
        self.decided_by_shard: dict[int, int] = {}
        self.passed_by_shard: dict[int, int] = {}
        self.subjects: list[bytes] = []


def subject_hash(subject: bytes) -> int:
    """Return a stable 63-bit hash of a SUBJECT_ID, the same in every process."""
    return int.from_bytes(hashlib.blake2b(subject, digest_size=8).digest(), "little") >> 1


@contextlib.contextmanager
def _cyclic_gc_paused():
    """Pause Python's cyclic garbage collector, and restore its state on exit.

    A batch allocates millions of small lists and objects that live until it ends and
    form no reference cycles, so reference counting frees them. The collector would
    still walk all of them again and again as they pile up. Pausing it cut the CPU
    time of `evaluate` by about a quarter on 1,000,000 generated rows (one process).
    The pause is process-wide, so reference cycles that other threads of a
    worker create meanwhile wait until the batch ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def evaluate(rows: Iterable[tuple[int, bytes, list[bytes]]], settings: Settings) -> BatchResult:
    """Decide every Prop 64 conviction in the rows of complete persons."""
    with _cyclic_gc_paused():
        return _evaluate(rows, settings)


def _evaluate(rows: Iterable[tuple[int, bytes, list[bytes]]], settings: Settings) -> BatchResult:
    result = BatchResult()
    persons: dict[bytes, Person] = {}
    keys: list[int] = []
    raw_lines: list[bytes] = []
    other_p64: list[bytes] = []
    row_county: list[str] = []
    keep_raw = settings.all_results
    # A policy that decides possible plea bargains needs the raw line of every
    # conviction, because which ones qualify is known only once the person is whole.
    keep_convictions = settings.decides_plea_bargains()
    counties_seen = result.counties_seen

    for key, raw, cells in rows:
        index = len(keys)
        keys.append(key)
        subject = cells[layout.SUBJECT_ID].strip(TRIM)
        person = persons.get(subject)
        if person is None:
            person = persons[subject] = Person(subject, index, cells)
        county_raw = cells[layout.STP_ORI_CNTY_NAME]
        county = county_raw.strip(TRIM).upper().decode("latin-1")
        if county:
            counties_seen.add(county)
        row_county.append(county)
        conviction = person.add_row(index, cells)
        keep = keep_raw or (conviction is not None and (conviction.prop64 or keep_convictions))
        raw_lines.append(raw if keep else b"")
        comment = cells[layout.COMMENT_TEXT]
        other_p64.append(possible_other_p64(cells[layout.OFFENSE_DESCR], comment) if comment else b"")

    result.subjects = list(persons)
    evaluated: dict[int, bytes] = {}
    for person in persons.values():
        _decide_person(person, settings, keys, raw_lines, other_p64, evaluated, result)

    decided_by_shard = result.decided_by_shard
    passed_by_shard = result.passed_by_shard
    for index, key in enumerate(keys):
        shard = key_shard(key)
        eligibility = evaluated.get(index)
        if eligibility is None:
            passed_by_shard[shard] = passed_by_shard.get(shard, 0) + 1
        else:
            decided_by_shard[shard] = decided_by_shard.get(shard, 0) + 1
        if keep_raw:
            if eligibility is None:
                eligibility = blank_eligibility(other_p64[index])
            raw = raw_lines[index]
            result.all_lines.append((key, _safe_line(raw) + eligibility))
            result.condensed_lines.append((key, condensed_line(raw, eligibility)))

    for county, lines in result.prop64_lines.items():
        lines.sort()
    return result


def _safe_line(raw: bytes) -> bytes:
    # A lone carriage return inside a cell would end the line for CSV readers.
    if b"\r" in raw:
        return layout.join_cells(layout.split_fields(raw))
    return raw


def _candidates(person: Person, settings: Settings) -> dict[str, list]:
    """Return the convictions to decide, by county: every Prop 64 conviction, and the
    possible plea bargains (`Person.plea_bargain_cycles`) where the policy decides them."""
    plea_cycles = person.plea_bargain_cycles()
    by_county: dict[str, list] = {}
    for conviction in person.convictions:
        if conviction.prop64 is None and conviction.cycle not in plea_cycles:
            continue
        county = conviction.county.decode("latin-1")
        if not county:
            continue
        folder = county_folder(county)
        if not settings.decides(folder):
            continue
        if conviction.prop64 is None and not settings.policy_for(folder).decides_plea_bargains:
            continue
        by_county.setdefault(county, []).append(conviction)
    return by_county


def _decide_person(person, settings, keys, raw_lines, other_p64, evaluated, result) -> None:
    if not any(c.prop64 is not None for c in person.convictions) and not person.prop64_arrest_cycles:
        return
    by_county = _candidates(person, settings)
    if not by_county:
        return
    facts = PersonFacts(person)
    compute_at = settings.compute_at
    history = encode_history(person)
    statewide = result.statewide
    person_decisions: dict[int, Decision] = {}
    person_what_if: dict[int, Decision] = {}

    for county, convictions in by_county.items():
        folder = county_folder(county)
        policy = settings.policy_for(folder)
        summary = result.summaries.get(county)
        if summary is None:
            summary = result.summaries[county] = CountySummary(county)
        lines = result.prop64_lines.setdefault(county, [])
        records = result.decisions.setdefault(county, [])
        decisions: dict[int, Decision] = {}
        what_if: dict[int, Decision] = {}

        for conviction in convictions:
            case = Case(conviction, person, facts, compute_at)
            decision = decide(policy, case)
            decisions[conviction.row] = decision
            # The what-if policy is about Prop 64 convictions only.
            if conviction.prop64 is not None:
                what_if[conviction.row] = decide(DISMISS_ALL_RULES, case, trail=False)
            else:
                what_if[conviction.row] = NO_DECISION
            cells = eligibility_cells(conviction, person, facts, decision,
                                      other_p64[conviction.row], compute_at)
            eligibility = join_eligibility(cells)
            evaluated[conviction.row] = eligibility
            lines.append((keys[conviction.row], _safe_line(raw_lines[conviction.row]) + eligibility))
            records.append(_record(person, conviction, facts, decision, cells, policy, history))
            _count_conviction(summary, conviction, decision)
            _count_conviction(statewide, conviction, decision)

        if any(c.prop64 is not None for c in convictions):
            summary.subjects_with_prop64 += 1
        if any(d.relieved for d in decisions.values()):
            summary.subjects_with_relief += 1
        _count_relief(summary.relief_current, person, decisions, compute_at)
        _count_relief(summary.relief_dismiss_all, person, what_if, compute_at)
        person_decisions.update(decisions)
        person_what_if.update(what_if)

    if any(c.prop64 is not None for convictions in by_county.values() for c in convictions):
        statewide.subjects_with_prop64 += 1
    if any(d.relieved for d in person_decisions.values()):
        statewide.subjects_with_relief += 1
    _count_relief(statewide.relief_current, person, person_decisions, compute_at)
    _count_relief(statewide.relief_dismiss_all, person, person_what_if, compute_at)


def _count_conviction(summary: CountySummary, conviction, decision: Decision) -> None:
    determinations = summary.by_determination
    determinations[decision.determination] = determinations.get(decision.determination, 0) + 1
    if decision.dismissed:
        summary.dismissed += 1
    elif decision.determination == REDUCTION:
        summary.reduced += 1
    else:
        summary.no_relief += 1

    number = conviction.prop64_number
    if number is None:
        summary.possible_plea_bargains += 1
        return
    summary.convictions_by_section[number] = summary.convictions_by_section.get(number, 0) + 1
    if conviction.felony:
        summary.felony_convictions += 1
    else:
        summary.non_felony_convictions += 1
    if conviction.date is not None and (
            summary.earliest_conviction is None or conviction.date < summary.earliest_conviction):
        summary.earliest_conviction = conviction.date

    if decision.summary == "dismissal-by-section":
        summary.dismissal_by_section[number] = summary.dismissal_by_section.get(number, 0) + 1
    elif decision.summary == "reduction-by-section":
        summary.reduction_by_section[number] = summary.reduction_by_section.get(number, 0) + 1
    elif decision.summary == "additional-relief":
        reasons = summary.dismissal_by_additional_relief
        reasons[decision.reason] = reasons.get(decision.reason, 0) + 1


def _count_relief(counts: dict[str, int], person: Person, decisions: dict[int, Decision],
                  compute_at: datetime.date) -> None:
    """Add this person to the three relief counts of one policy."""
    convictions = person.convictions
    felonies = [c for c in convictions if c.felony]
    if felonies and all(c.row in decisions and decisions[c.row].relieved for c in felonies):
        counts["CountSubjectsNoFelony"] += 1
    if convictions and all(c.row in decisions and decisions[c.row].dismissed for c in convictions):
        counts["CountSubjectsNoConviction"] += 1
    cutoff = add_years(compute_at, -RECENT_YEARS)
    recent = [c for c in convictions if c.date is not None and c.date > cutoff]
    if recent and all(c.row in decisions and decisions[c.row].dismissed for c in recent):
        counts["CountSubjectsNoConvictionLast7Years"] += 1


def _text(value: bytes) -> str:
    return layout.decode_text(value)


def _record(person: Person, conviction, facts: PersonFacts, decision: Decision,
            cells: list[bytes], policy: RulePolicy, history: str) -> DecisionRecord:
    return DecisionRecord(
        subject=_text(person.subject),
        cii_number=_text(conviction.cii.strip(TRIM)),
        county_name=conviction.county.decode("latin-1"),
        cnt_order=_text(conviction.cnt_order),
        case_numbers=_text(cells[0]),
        code_section=_text(conviction.section_text.strip(TRIM)),
        section=conviction.prop64_number or "",
        felony=conviction.felony,
        disposition_date=conviction.date,
        determination=decision.determination,
        reason=decision.reason,
        check=decision.check,
        conviction_count=facts.conviction_count,
        prop64_count=facts.prop64_count,
        deceased=person.deceased,
        pc290_registration=person.pc290_registration,
        rule_name=decision.rule_name,
        citation=decision.citation,
        policy_name=policy.name,
        trail=encode_trail(decision.trail),
        history=history,
    )

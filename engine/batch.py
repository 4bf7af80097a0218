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

import numpy as np

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
from engine.columnar import LightBlock
from engine.scan import PROP64_CHARGE, PROP64_CONVICTION, names_prop64
from engine.reader import key_shard, row_key, row_prop64_level
from engine.summary import CountySummary

RECENT_YEARS = 7
#: The county name of the summary over every decided county, counting each person once.
STATEWIDE = "STATEWIDE"


class Settings(NamedTuple):
    """Settings every batch of a run is decided with."""

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
    """One decided conviction, a row of the Parquet decisions dataset."""

    subject: str
    name: str
    """PRI_NAME of the person's first row."""
    birth_date: datetime.date | None
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
    """Outputs of deciding one batch, keyed by county name (trimmed, upper case)."""

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
        self.prop64_without_county = 0
        """Prop 64 convictions whose STP_ORI_CNTY_NAME is blank, so no county decides them."""


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
    """Decide every Prop 64 conviction in rows `(key, raw_line, cells)` of complete persons."""
    light = ((key, raw, cells[layout.SUBJECT_ID].strip(TRIM), cells[layout.STP_ORI_CNTY_NAME],
              row_prop64_level(cells)) for key, raw, cells in rows)
    return evaluate_light(light, settings)


def evaluate_light(rows: Iterable[tuple[int, bytes, bytes, bytes, int]], settings: Settings) -> BatchResult:
    """Decide every Prop 64 conviction in rows `(key, raw_line, subject, county_cell,
    prop64_level)` of complete persons.

    Every row is grouped by subject, but only persons with a row that could be a Prop
    64 conviction are read in full: nobody else has anything to decide, and their
    rows are passed through. A policy that decides possible plea bargains also reads
    persons with any Prop 64 charge (`engine.scan.prop64_level`).
    """
    with _cyclic_gc_paused():
        return _evaluate_light(rows, settings)


def _evaluate_light(rows, settings: Settings) -> BatchResult:
    result = BatchResult()
    keys: list[int] = []
    raw_lines: list[bytes] = []
    rows_of: dict[bytes, list[int]] = {}
    candidates: dict[bytes, None] = {}
    county_cells: set[bytes] = set()
    level_needed = candidate_level(settings)

    for key, raw, subject, county_cell, level in rows:
        index = len(keys)
        keys.append(key)
        raw_lines.append(raw)
        indexes = rows_of.get(subject)
        if indexes is None:
            rows_of[subject] = [index]
        else:
            indexes.append(index)
        county_cells.add(county_cell)
        if level >= level_needed:
            candidates[subject] = None

    groups = ((subject, rows_of[subject]) for subject in candidates)
    return _decide_groups(result, groups, list(rows_of), county_cells, keys, raw_lines, settings)


class _BlockKeys:
    """Row keys of a block computed on demand: row i is line `first_line + i` of a shard."""

    __slots__ = ("shard", "first_line", "count")

    def __init__(self, shard: int, first_line: int, count: int):
        self.shard, self.first_line, self.count = shard, first_line, count

    def __getitem__(self, index: int) -> int:
        return row_key(self.shard, self.first_line + index)

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        start = row_key(self.shard, self.first_line)
        return iter(range(start, start + self.count))


def candidate_level(settings: Settings) -> int:
    """Return the `engine.scan.prop64_level` that makes a person worth reading in full."""
    return PROP64_CHARGE if settings.decides_plea_bargains() else PROP64_CONVICTION


def evaluate_block(block: LightBlock, shard: int, settings: Settings) -> BatchResult:
    """Decide every Prop 64 conviction of a block read by `engine.columnar`."""
    with _cyclic_gc_paused():
        return _evaluate_block(block, shard, settings)


def _evaluate_block(block: LightBlock, shard: int, settings: Settings) -> BatchResult:
    codes = block.subject_codes
    if candidate_level(settings) == PROP64_CHARGE:
        candidate_rows = block.charge_rows
    else:
        candidate_rows = block.conviction_rows
    candidate_codes = np.unique(codes[candidate_rows])
    rows = np.flatnonzero(np.isin(codes, candidate_codes))
    rows = rows[np.argsort(codes[rows], kind="stable")]
    row_codes = codes[rows]
    boundaries = np.flatnonzero(np.diff(row_codes)) + 1
    subjects = block.subjects
    groups = ((subjects[group_codes[0]], group.tolist())
              for group, group_codes in zip(np.split(rows, boundaries), np.split(row_codes, boundaries))
              if len(group))
    keys = _BlockKeys(shard, block.first_line, len(block.lines))
    cells = block.cells_of(rows.tolist())
    return _decide_groups(BatchResult(), groups, subjects, block.counties, keys, block.lines, settings,
                          cells.__getitem__, block)


def _decide_groups(result: BatchResult, groups, subjects: list[bytes], county_cells,
                   keys, raw_lines: list[bytes], settings: Settings, cells_of=None,
                   block: LightBlock | None = None) -> BatchResult:
    """Decide the persons of `groups` (subject and row indexes, in file order), count
    every other row as passed through, and finish the result.

    `block` is the columnar block the rows come from, if any. The bundle lines then
    take its condensed cells and its rows that could name Prop 64.
    """
    _note_counties(result, county_cells)
    result.subjects = subjects

    other_p64: dict[int, bytes] = {}
    evaluated: dict[int, bytes] = {}
    for subject, indexes in groups:
        person = _build_person(subject, indexes, raw_lines, other_p64, cells_of)
        _decide_person(person, settings, keys, raw_lines, other_p64, evaluated, result)

    decided = result.decided_by_shard
    for index in evaluated:
        shard = key_shard(keys[index])
        decided[shard] = decided.get(shard, 0) + 1
    _count_passed(result, keys)

    if settings.all_results:
        _all_results_lines(result, keys, raw_lines, other_p64, evaluated, block)
    for lines in result.prop64_lines.values():
        lines.sort()
    return result


def _note_counties(result: BatchResult, county_cells) -> None:
    for cell in county_cells:
        county = cell.strip(TRIM).upper().decode("latin-1")
        if county:
            result.counties_seen.add(county)


def defer_block(block: LightBlock) -> BatchResult:
    """Return the result of a block left for the regroup pass: its subjects and counties only."""
    result = BatchResult()
    result.subjects = block.subjects
    _note_counties(result, block.counties)
    return result


def _build_person(subject: bytes, indexes: list[int], raw_lines: list[bytes],
                  other_p64: dict[int, bytes], cells_of=None) -> Person:
    person = None
    for index in indexes:
        cells = layout.split_fields(raw_lines[index]) if cells_of is None else cells_of(index)
        if person is None:
            person = Person(subject, index, cells)
        conviction = person.add_row(index, cells)
        comment = cells[layout.COMMENT_TEXT]
        if comment:
            flagged = possible_other_p64(cells[layout.OFFENSE_DESCR], comment)
            if flagged:
                other_p64[index] = flagged
        if conviction is not None and conviction.prop64 is not None:
            conviction.cii = cells[layout.CII_NUMBER]
    return person


def _count_passed(result: BatchResult, keys) -> None:
    """Count rows passed through per shard: every row that was not decided."""
    per_shard: dict[int, int] = {}
    if isinstance(keys, _BlockKeys):
        per_shard[keys.shard] = len(keys)
    elif keys and key_shard(min(keys)) == key_shard(max(keys)):
        per_shard[key_shard(keys[0])] = len(keys)
    else:
        for key in keys:
            shard = key_shard(key)
            per_shard[shard] = per_shard.get(shard, 0) + 1
    for shard, count in result.decided_by_shard.items():
        per_shard[shard] -= count
    result.passed_by_shard = {shard: count for shard, count in per_shard.items() if count}


def _all_results_lines(result: BatchResult, keys: list[int], raw_lines: list[bytes],
                       other_p64: dict[int, bytes], evaluated: dict[int, bytes],
                       block: LightBlock | None = None) -> None:
    blank = blank_eligibility(b"")
    eligibility = [blank] * len(raw_lines)
    if block is None:
        named = [index for index, raw in enumerate(raw_lines) if names_prop64(raw)]
    else:
        named = block.charge_rows.tolist()
    for index in (other_p64.keys() | set(named)) - evaluated.keys():
        flagged = other_p64.get(index)
        if flagged is None:
            # A person with nothing to decide can still have a comment to flag.
            cells = layout.split_fields(raw_lines[index])
            flagged = possible_other_p64(cells[layout.OFFENSE_DESCR], cells[layout.COMMENT_TEXT])
        if flagged:
            eligibility[index] = blank_eligibility(flagged)
    for index, decided in evaluated.items():
        eligibility[index] = decided

    # map and zip loop in C, so Python code runs per row only in _safe_line and condensed_line.
    key_list = list(keys)
    result.all_lines.extend(zip(key_list, map(bytes.__add__, map(_safe_line, raw_lines), eligibility)))
    if block is None:
        condensed = map(condensed_line, raw_lines, eligibility)
    else:
        condensed = map(bytes.__add__, block.condensed_cells(), eligibility)
    result.condensed_lines.extend(zip(key_list, condensed))


def _safe_line(raw: bytes) -> bytes:
    # A lone carriage return inside a cell would end the line for CSV readers.
    if b"\r" in raw:
        return layout.join_cells(layout.split_fields(raw))
    return raw


def _candidates(person: Person, settings: Settings, result: BatchResult) -> dict[str, list]:
    """Return the convictions to decide, by county: every Prop 64 conviction, and the
    possible plea bargains (`Person.plea_bargain_cycles`) where the policy decides them.

    A Prop 64 conviction with a blank county has no county to decide it; it is counted
    in `result.prop64_without_county` so that the run reports it.
    """
    plea_cycles = person.plea_bargain_cycles()
    by_county: dict[str, list] = {}
    for conviction in person.convictions:
        if conviction.prop64 is None and conviction.cycle not in plea_cycles:
            continue
        county = conviction.county.decode("latin-1")
        if not county:
            if conviction.prop64 is not None:
                result.prop64_without_county += 1
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
    by_county = _candidates(person, settings, result)
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
                                      other_p64.get(conviction.row, b""), compute_at)
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
        name=_text(person.name.strip(TRIM)),
        birth_date=person.birth_date,
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

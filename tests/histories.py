"""Fabricated criminal histories for policy tests, written as research-file rows.

A `History` adds cycles one call at a time (a conviction, an arrest, a registration,
a death) and builds the `Person` the engine would build from those rows. Every value
is made up.
"""

from __future__ import annotations

import datetime

import msgspec

from engine import layout
from engine.conditions import Case
from engine.decide import Decision, decide
from engine.history import Person, PersonFacts
from engine.rules import RulePolicy

COMPUTE_AT = datetime.date(2024, 7, 1)
COUNTY = "LOS ANGELES"


def _date(text: str | None) -> bytes:
    return b"" if text is None else text.replace("-", "").encode()


class History:
    """Rows of one fabricated person, added cycle by cycle in CNT_ORDER order."""

    def __init__(self, born: str | None = "1980-01-01", subject: str = "90000001"):
        self.subject = subject
        self.born = born
        self.rows: list[list[bytes]] = []
        self._cycle = 100

    def row(self, cnt_order: str, step: str, date: str | None, charge: str = "", level: str = "",
            disposition: str = "", conv_stat: str = "", county: str = COUNTY, comment: str = "",
            sentence: tuple[str, str] = ("", "")) -> list[bytes]:
        """Append one row and return its cells."""
        cells = [b""] * layout.FIELD_COUNT
        values = {
            "SUBJECT_ID": self.subject, "CII_NUMBER": "A0000001", "PRI_NAME": "DOE,JAN",
            "PRI_DOB": _date(self.born).decode(), "CNT_ORDER": cnt_order, "STP_TYPE_DESCR": step,
            "STP_EVENT_DATE": _date(date).decode(), "STP_ORI_CNTY_NAME": county,
            "OFFENSE_DESCR": charge, "OFFENSE_TOC": level, "DISP_DESCR": disposition,
            "CONV_STAT_DESCR": conv_stat, "COMMENT_TEXT": comment,
            "SENT_LENGTH": sentence[0], "SENT_TIME_CODE": sentence[1],
            "OFN": "CASE1" if step == "COURT ACTION" else "",
        }
        for name, value in values.items():
            cells[layout.INDEX[name]] = value.encode("latin-1")
        self.rows.append(cells)
        return cells

    def _next_cycle(self) -> str:
        self._cycle += 1
        return str(self._cycle)

    def conviction(self, charge: str, on: str | None, level: str = "F", county: str = COUNTY,
                   sentence: tuple[tuple[int, str], ...] = (), conv_stat: str | None = None,
                   arrest_charge: str | None = None) -> str:
        """Add a cycle with an arrest and a court conviction; return the conviction's CNT_ORDER.

        `sentence` lists the parts as (length, unit); each part after the first is a
        further row of the same CNT_ORDER. `conv_stat` defaults to the level's word.
        """
        cycle = self._next_cycle()
        self.row(f"{cycle}001001000", "ARREST/DETAINED/CITED", on, arrest_charge or charge, level,
                 county=county)
        cnt_order = f"{cycle}002001000"
        words = {"F": "FELONY", "M": "MISDEMEANOR", "I": "INFRACTION"}
        stat = words.get(level, "") if conv_stat is None else conv_stat
        parts = [(str(length), unit) for length, unit in sentence] or [("", "")]
        for part in parts:
            self.row(cnt_order, "COURT ACTION", on, charge, level, "CONVICTED", stat, county,
                     sentence=part)
        return cnt_order

    def arrest(self, charge: str, on: str, dismissed_in_court: bool = True) -> str:
        """Add a cycle whose arrest charges `charge`, dismissed in court; return the cycle."""
        cycle = self._next_cycle()
        self.row(f"{cycle}001001000", "ARREST/DETAINED/CITED", on, charge, "M")
        if dismissed_in_court:
            self.row(f"{cycle}002001000", "COURT ACTION", on, charge, "M", "DISMISSED/CHARGE DROPPED")
        return cycle

    def plea_bargain(self, arrest_charge: str, convicted_charge: str, on: str,
                     level: str = "M") -> str:
        """Add a cycle: an arrest for `arrest_charge`, dismissed, and a conviction for
        `convicted_charge` in the same court step; return the conviction's CNT_ORDER."""
        cycle = self._next_cycle()
        self.row(f"{cycle}001001000", "ARREST/DETAINED/CITED", on, arrest_charge, level)
        self.row(f"{cycle}002001000", "COURT ACTION", on, arrest_charge, level, "DISMISSED/CHARGE DROPPED")
        cnt_order = f"{cycle}002002000"
        self.row(cnt_order, "COURT ACTION", on, convicted_charge, level, "CONVICTED",
                 {"F": "FELONY", "M": "MISDEMEANOR"}[level])
        return cnt_order

    def registration(self, on: str | None) -> None:
        """Add a PC 290 registration step."""
        cycle = self._next_cycle()
        self.row(f"{cycle}001001000", "REGISTRATION", on, "290 PC-REGISTRATION OF SEX OFFENDER")

    def death(self, on: str = "2020-01-01") -> None:
        """Add a DECEASED step."""
        cycle = self._next_cycle()
        self.row(f"{cycle}001001000", "DECEASED", on)

    def person(self) -> Person:
        """Build the person from the rows, as the engine does."""
        person = Person(self.subject.encode(), 0, self.rows[0])
        for index, cells in enumerate(self.rows):
            person.add_row(index, cells)
        return person

    def case(self, cnt_order: str, compute_at: datetime.date = COMPUTE_AT) -> Case:
        """Return the case of the conviction with this CNT_ORDER."""
        person = self.person()
        for conviction in person.convictions:
            if conviction.cnt_order == cnt_order.encode():
                return Case(conviction, person, PersonFacts(person), compute_at)
        raise KeyError(f"no conviction with CNT_ORDER {cnt_order}")

    def decide(self, policy: RulePolicy, cnt_order: str,
               compute_at: datetime.date = COMPUTE_AT) -> Decision:
        """Decide the conviction with this CNT_ORDER under `policy`."""
        return decide(policy, self.case(cnt_order, compute_at))


def holding_rules(policy: RulePolicy, case: Case) -> list[int]:
    """Return the numbers (from 1) of every enabled rule whose conditions all hold on
    the case, as if each rule stood alone."""
    holding = []
    for number, rule in enumerate(policy.rules, 1):
        if rule.enabled and all(condition.test(case)[0] for condition in rule.when):
            holding.append(number)
    return holding


def move_rule(policy: RulePolicy, rule: int, before: int) -> RulePolicy:
    """Return the policy with rule number `rule` moved to just before rule number `before`."""
    rules = list(policy.rules)
    moved = rules.pop(rule - 1)
    rules.insert(before - 1, moved)
    return msgspec.structs.replace(policy, rules=tuple(rules))


def later_rules_that_decide(policy: RulePolicy, history: History, cnt_order: str) -> list[str]:
    """Return the names of the rules below the deciding one that also hold on the
    conviction, after checking that moving each of them just above the deciding rule
    makes it decide, with another determination or reason."""
    case = history.case(cnt_order)
    decision = history.decide(policy, cnt_order)
    later = [number for number in holding_rules(policy, case) if number > decision.check]
    for number in later:
        moved = history.decide(move_rule(policy, number, before=decision.check), cnt_order)
        assert moved.rule_name == policy.rules[number - 1].name
        assert (moved.determination, moved.reason) != (decision.determination, decision.reason)
    return [policy.rules[number - 1].name for number in later]

"""Deciding one conviction under a rule policy, with the trail of how.

The rules run in the policy's order and the first enabled rule whose conditions all
hold decides. A rule's conditions are tested in order and stop at the first that
fails. The trail records, for every rule tried, the condition that failed and the
facts it saw, and for the deciding rule every condition with its facts.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import msgspec

from engine.conditions import Case, section_number
from engine.rules import (
    DISMISSAL, NO_DETERMINATION, REDUCTION, SECTION_PLACEHOLDER, Rule, RulePolicy,
)

__all__ = ["Case", "ConditionResult", "Decision", "NO_DECISION", "TrailStep", "decide",
           "DISMISSAL", "REDUCTION"]


class ConditionResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """One condition as the trail records it."""

    condition: str
    """The condition in plain English, as the policy writes it."""
    held: bool
    found: str
    """The facts the condition looked at."""
    unknown: bool = False
    """Whether the record lacked a fact, so that `if_unknown` gave the result."""


class TrailStep(msgspec.Struct, frozen=True, omit_defaults=True):
    """One rule as the trail records it."""

    rule: int
    """The rule's position in the policy, from 1."""
    name: str
    outcome: Literal["decided", "failed", "disabled"]
    conditions: tuple[ConditionResult, ...] = ()
    """For a failed rule the condition that failed; for the deciding rule all of them."""


class Decision(NamedTuple):
    """The outcome of deciding one conviction.

    `check` is the number of the rule that decided, its position in the policy from 1,
    or 0 when no rule did.
    """

    determination: str
    reason: str
    check: int
    citation: str = ""
    rule_name: str = ""
    summary: str = ""
    """The deciding rule's summary group (`engine.rules.SummaryGroup`)."""
    trail: tuple[TrailStep, ...] = ()

    @property
    def dismissed(self) -> bool:
        return self.determination == DISMISSAL

    @property
    def relieved(self) -> bool:
        return self.determination in (DISMISSAL, REDUCTION)


NO_DECISION = Decision(NO_DETERMINATION, "", 0)


def _reason(rule: Rule, case: Case) -> str:
    if SECTION_PLACEHOLDER not in rule.reason:
        return rule.reason
    return rule.reason.replace(SECTION_PLACEHOLDER, section_number(case.conviction) or "")


def decide(policy: RulePolicy, case: Case, trail: bool = True) -> Decision:
    """Run the rules of `policy` in order and return the first that holds, or a blank
    decision. With `trail` False the decision carries no trail, which is faster."""
    steps: list[TrailStep] = []
    for number, rule in enumerate(policy.rules, 1):
        if not rule.enabled:
            if trail:
                steps.append(TrailStep(number, rule.name, "disabled"))
            continue

        results: list[ConditionResult] = []
        failed = False
        for condition in rule.when:
            held, unknown, found = condition.test(case)
            if trail:
                results.append(ConditionResult(condition.describe(), held, found, unknown))
            if not held:
                failed = True
                break

        if failed:
            if trail:
                steps.append(TrailStep(number, rule.name, "failed", (results[-1],)))
            continue
        if trail:
            steps.append(TrailStep(number, rule.name, "decided", tuple(results)))
        return Decision(rule.determination, _reason(rule, case), number, rule.citation, rule.name,
                        rule.summary, tuple(steps))

    return Decision(NO_DETERMINATION, "", 0, trail=tuple(steps))


_trail_encoder = msgspec.json.Encoder()
_trail_decoder = msgspec.json.Decoder(list[TrailStep])


def encode_trail(trail: tuple[TrailStep, ...]) -> str:
    """Encode a trail as the JSON text the decisions dataset stores."""
    return _trail_encoder.encode(trail).decode("utf-8")


def decode_trail(text: str) -> list[TrailStep]:
    """Decode a trail stored by `encode_trail`."""
    return _trail_decoder.decode(text)

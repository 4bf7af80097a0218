"""Rule policies: an ordered list of rules, each with conditions, a determination, a
reason and a citation. The first enabled rule whose conditions all hold decides.

Rule policies are TOML files decoded with msgspec into the structs below, so that a
wrong key or value is rejected with the file and the path of the field
(`$.rules[2].when[0].age`). The JSON county policy counties configured for the
earlier tool is translated into a rule policy (`engine.county_rules`), so every
decision runs through the same engine (`engine.decide`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import msgspec

from engine.charges import PROP64_SECTIONS
from engine.conditions import AnyCondition, SectionIn, parse_section_entry
from engine.policy import CountyPolicy, PolicyError, encode_policy

DISMISSAL = "Eligible for Dismissal"
REDUCTION = "Eligible for Reduction"
NOT_ELIGIBLE = "Not eligible"
HAND_REVIEW = "Hand Review"
MAYBE_ELIGIBLE = "Maybe Eligible - Flag for Review"
#: The determination written when no rule decides: blank, as the earlier tool wrote it.
NO_DETERMINATION = ""

Determination = Literal[
    "Eligible for Dismissal", "Eligible for Reduction", "Not eligible", "Hand Review",
    "Maybe Eligible - Flag for Review",
]
DETERMINATIONS: tuple[str, ...] = (DISMISSAL, REDUCTION, NOT_ELIGIBLE, HAND_REVIEW, MAYBE_ELIGIBLE)

#: Summary group of a rule, which adds its decisions to a count of the earlier tool's
#: summary beside the count per determination. `dismissal-by-section` and
#: `reduction-by-section` add to the counts by code section, and `additional-relief`
#: to the dismissal counts by reason.
SummaryGroup = Literal["", "dismissal-by-section", "reduction-by-section", "additional-relief"]

#: Scope of a policy: Prop 64 convictions only, or also the possible plea bargains
#: (convictions for other sections that `possible_plea_bargain` describes).
Scope = Literal["prop64", "prop64-and-possible-plea-bargains"]

#: The one placeholder a reason may hold: the section the conviction is judged by.
SECTION_PLACEHOLDER = "{section}"


class Rule(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One rule: when every condition in `when` holds, the conviction gets
    `determination` with `reason` and `citation`. A rule with no conditions always
    holds, which makes a catch-all last rule."""

    name: str
    determination: Determination
    reason: str
    citation: str
    when: tuple[AnyCondition, ...] = ()
    enabled: bool = True
    """A disabled rule is skipped, and the trail records that."""
    summary: SummaryGroup = ""

    def __post_init__(self):
        if not self.name.strip():
            raise ValueError("`name` must not be empty")
        if not self.reason.strip():
            raise ValueError(f"rule {self.name!r}: `reason` must not be empty")
        # The reason is a cell of the CSV bundle, whose part files are read line by line.
        for field, text in (("name", self.name), ("reason", self.reason)):
            if "\n" in text or "\r" in text:
                raise ValueError(f"rule {self.name.splitlines()[0]!r}: `{field}` must be one line")
        leftover = self.reason.replace(SECTION_PLACEHOLDER, "")
        if "{" in leftover or "}" in leftover:
            raise ValueError(f"rule {self.name!r}: `reason` may hold only the placeholder "
                             f"{SECTION_PLACEHOLDER}, got {self.reason!r}")
        expected = {"dismissal-by-section": DISMISSAL, "reduction-by-section": REDUCTION,
                    "additional-relief": DISMISSAL}.get(self.summary)
        if expected is not None and self.determination != expected:
            raise ValueError(f"rule {self.name!r}: `summary = {self.summary!r}` needs "
                             f"determination {expected!r}")
        if self.summary.endswith("by-section") and self.enabled and not self.sections():
            raise ValueError(f"rule {self.name!r}: `summary = {self.summary!r}` needs a "
                             "`section` condition that names the sections to count")

    def sections(self) -> list[str]:
        """Return the section numbers named by the rule's `section` conditions."""
        numbers = []
        for condition in self.when:
            if isinstance(condition, SectionIn) and not condition.negate:
                for entry in condition.sections:
                    number = parse_section_entry(entry).number
                    if number not in numbers:
                        numbers.append(number)
        return numbers


class RulePolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A policy in the rule language."""

    name: str
    rules: tuple[Rule, ...]
    description: str = ""
    decides: Scope = "prop64"
    translated_from: CountyPolicy | None = None
    """The JSON county policy this policy was translated from; never read from a file."""

    def __post_init__(self):
        if not self.name.strip():
            raise ValueError("`name` must not be empty")
        if not self.rules:
            raise ValueError("`rules` must hold at least one rule")
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice; rule names must be unique")
            seen.add(rule.name)

    @property
    def decides_plea_bargains(self) -> bool:
        return self.decides == "prop64-and-possible-plea-bargains"

    def summary_sections(self, group: SummaryGroup) -> list[str]:
        """Return the sections whose counts the summary lists for a by-section group,
        Prop 64 sections first in their usual order."""
        numbers: set[str] = set()
        for rule in self.rules:
            if rule.enabled and rule.summary == group:
                numbers.update(rule.sections())
        known = [s for s in PROP64_SECTIONS if s in numbers]
        return known + sorted(numbers - set(known))


def decode_rule_policy(data: bytes, source: str) -> RulePolicy:
    """Decode a TOML rule policy; errors name `source` and the field."""
    try:
        policy = msgspec.toml.decode(data, type=RulePolicy)
    except msgspec.ValidationError as error:
        raise PolicyError(f"policy {source} is invalid: {error}") from None
    except msgspec.DecodeError as error:
        raise PolicyError(f"policy {source} is not valid TOML: {error}") from None
    if policy.translated_from is not None:
        raise PolicyError(f"policy {source} is invalid: `translated_from` is set only when a "
                          "JSON county policy is translated; remove it - at `$.translated_from`")
    return policy


def load_rule_policy(path: str | Path) -> RulePolicy:
    """Read and decode a TOML rule policy file."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise PolicyError(f"policy {path} cannot be read: {error.strerror}") from None
    return decode_rule_policy(data, str(path))


def policy_document(policy: RulePolicy) -> dict:
    """Return the policy as the manifest records it: the JSON county form when the
    policy was translated from one, else the rule policy."""
    if policy.translated_from is not None:
        return json.loads(encode_policy(policy.translated_from))
    return json.loads(msgspec.json.encode(policy))


def policy_sha256(policy: RulePolicy) -> str:
    """Return the SHA-256 of the canonical JSON of `policy_document`."""
    if policy.translated_from is not None:
        return hashlib.sha256(encode_policy(policy.translated_from)).hexdigest()
    return hashlib.sha256(msgspec.json.encode(policy)).hexdigest()

"""The JSON county policy as a rule policy.

The county form is a fixed list of nine checks (`spec/prop64-policy.md`, "Deciding one
conviction"). Each check becomes one rule, in the same order, so that rule N is check
N and its reason is the reason string the earlier tool wrote. A check the county
turned off becomes a disabled rule rather than a missing one, which keeps the numbers.
"""

from __future__ import annotations

from engine.conditions import (
    AgeAtLeast, Deceased, LevelIn, NoConvictionWithin, OnlyProp64Convictions, SectionIn,
    UnderAgeAtDisposition, YearsSinceConviction,
)
from engine.policy import DEFAULT_POLICY, DISMISS_ALL_PROP64, CountyPolicy
from engine.rules import DISMISSAL, REDUCTION, Rule, RulePolicy

COUNTY_FORM_NAME = "county policy (JSON form)"
_CITATION = "County policy, `{field}`"


def _rule(name: str, field: str, when: tuple, reason: str, determination: str = DISMISSAL,
          summary: str = "") -> Rule:
    # A check the county turned off has no conditions, because its threshold or
    # section list is empty. It stays in the list, disabled, to keep the numbers.
    enabled = bool(when)
    return Rule(name=name, determination=determination,
                reason=reason if enabled else f"{name} (turned off)",
                citation=_CITATION.format(field=field), when=when, enabled=enabled,
                summary=summary)


def county_rules(policy: CountyPolicy, name: str = COUNTY_FORM_NAME) -> RulePolicy:
    """Translate a JSON county policy into the equivalent rule policy."""
    baseline = policy.baselineEligibility
    relief = policy.additionalRelief
    age = relief.subjectAgeThreshold
    years = relief.yearsSinceConvictionThreshold
    crime_free = relief.yearsCrimeFreeThreshold

    rules = (
        _rule("not a felony", "baselineEligibility", (LevelIn(levels=("felony",), negate=True),),
              "Misdemeanor or Infraction"),
        _rule("dismiss by section", "baselineEligibility.dismiss",
              (SectionIn(sections=baseline.dismiss),) if baseline.dismiss else (),
              "Dismiss all HS {section} convictions", summary="dismissal-by-section"),
        _rule("under 21 at conviction", "additionalRelief.subjectUnder21AtConviction",
              (UnderAgeAtDisposition(age=21),) if relief.subjectUnder21AtConviction else (),
              "21 years or younger", summary="additional-relief"),
        _rule("age threshold", "additionalRelief.subjectAgeThreshold",
              (AgeAtLeast(age=age),) if age else (),
              f"{age} years or older", summary="additional-relief"),
        _rule("years since conviction", "additionalRelief.yearsSinceConvictionThreshold",
              (YearsSinceConviction(years=years),) if years else (),
              f"Conviction occurred {years} or more years ago", summary="additional-relief"),
        _rule("years crime free", "additionalRelief.yearsCrimeFreeThreshold",
              (NoConvictionWithin(years=crime_free),) if crime_free else (),
              f"No convictions in the past {crime_free} years", summary="additional-relief"),
        _rule("only Prop 64 convictions", "additionalRelief.subjectHasOnlyProp64Charges",
              (OnlyProp64Convictions(),) if relief.subjectHasOnlyProp64Charges else (),
              "Only has 11357-60 charges", summary="additional-relief"),
        _rule("deceased", "additionalRelief.subjectIsDeceased",
              (Deceased(),) if relief.subjectIsDeceased else (),
              "Individual is deceased", summary="additional-relief"),
        _rule("reduce by section", "baselineEligibility.reduce",
              (SectionIn(sections=baseline.reduce),) if baseline.reduce else (),
              "Reduce all HS {section} convictions", determination=REDUCTION,
              summary="reduction-by-section"),
    )
    return RulePolicy(name=name, rules=rules, translated_from=policy)


#: The built-in default policy as rules.
DEFAULT_RULES = county_rules(DEFAULT_POLICY, "built-in default county policy")

#: The summary's what-if policy, every Prop 64 conviction dismissed, as rules.
DISMISS_ALL_RULES = county_rules(DISMISS_ALL_PROP64, "dismiss all Prop 64")

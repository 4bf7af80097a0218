"""The JSON county policy translated into rules decides exactly as its nine checks do."""

from __future__ import annotations

import datetime

from hypothesis import given, settings, strategies as st

from engine.county_rules import DEFAULT_RULES, DISMISS_ALL_RULES, county_rules
from engine.dates import add_years, birthday
from engine.policy import AdditionalRelief, BaselineEligibility, CountyPolicy
from engine.rules import DISMISSAL, REDUCTION
from tests.histories import History

SECTIONS = ("11357", "11358", "11359", "11360")
CHARGES = (
    "11357(C)HS-POSSESS MARIJUANA", "11357 (A) HS-POSSESS CONCENTRATED CANNABIS",
    "11358 HS-CULTIVATE CANNABIS", "11359 PC-POSSESS MARIJUANA FOR SALE",
    "HS11360-SELL MARIJUANA", "11360(B) SELL/FURNISH/ETC",
    "11357.5(A) HS-SELL SYNTHETIC CANNABINOID", "459 PC-BURGLARY", "187 PC-MURDER",
)
LEVELS = ("F", "M", "I", "", "X")


def expected_decision(conviction, person, facts, policy: CountyPolicy, compute_at):
    """Return (determination, reason, check) by the county form's nine checks, in order."""
    baseline, relief = policy.baselineEligibility, policy.additionalRelief
    number = conviction.prop64_number
    birth, date = person.birth_date, conviction.date
    if not conviction.felony:
        return DISMISSAL, "Misdemeanor or Infraction", 1
    if number in baseline.dismiss:
        return DISMISSAL, f"Dismiss all HS {number} convictions", 2
    if relief.subjectUnder21AtConviction and birth and date and birthday(birth, 21) > date:
        return DISMISSAL, "21 years or younger", 3
    age = relief.subjectAgeThreshold
    if age and birth and birthday(birth, age) <= compute_at:
        return DISMISSAL, f"{age} years or older", 4
    years = relief.yearsSinceConvictionThreshold
    if years and date and date <= add_years(compute_at, -years):
        return DISMISSAL, f"Conviction occurred {years} or more years ago", 5
    crime_free = relief.yearsCrimeFreeThreshold
    if crime_free and facts.latest_date and facts.latest_date < add_years(compute_at, -crime_free):
        return DISMISSAL, f"No convictions in the past {crime_free} years", 6
    if relief.subjectHasOnlyProp64Charges and facts.only_prop64:
        return DISMISSAL, "Only has 11357-60 charges", 7
    if relief.subjectIsDeceased and person.deceased:
        return DISMISSAL, "Individual is deceased", 8
    if number in baseline.reduce:
        return REDUCTION, f"Reduce all HS {number} convictions", 9
    return "", "", 0


dates = st.one_of(st.none(), st.dates(datetime.date(1960, 1, 1), datetime.date(2024, 12, 31)))


@st.composite
def county_policies(draw) -> CountyPolicy:
    sides = draw(st.lists(st.sampled_from(("dismiss", "reduce", None)), min_size=4, max_size=4))
    dismiss = tuple(s for s, side in zip(SECTIONS, sides) if side == "dismiss")
    reduce = tuple(s for s, side in zip(SECTIONS, sides) if side == "reduce")
    return CountyPolicy(
        BaselineEligibility(dismiss=dismiss, reduce=reduce),
        AdditionalRelief(
            subjectUnder21AtConviction=draw(st.booleans()),
            subjectAgeThreshold=draw(st.sampled_from((0, 40, 50, 57, 65))),
            yearsSinceConvictionThreshold=draw(st.sampled_from((0, 1, 5, 10, 15))),
            yearsCrimeFreeThreshold=draw(st.sampled_from((0, 1, 7, 15))),
            subjectIsDeceased=draw(st.booleans()),
            subjectHasOnlyProp64Charges=draw(st.booleans()),
        ),
    )


@st.composite
def histories(draw) -> History:
    born = draw(dates)
    history = History(born=None if born is None else born.isoformat())
    for _ in range(draw(st.integers(1, 5))):
        on = draw(dates)
        history.conviction(draw(st.sampled_from(CHARGES)), None if on is None else on.isoformat(),
                           level=draw(st.sampled_from(LEVELS)))
    if draw(st.booleans()):
        history.death()
    return history


@settings(max_examples=400, deadline=None)
@given(histories(), county_policies(), st.dates(datetime.date(2015, 1, 1), datetime.date(2030, 12, 31)))
def test_translation_decides_as_nine_checks(history, policy, compute_at):
    rules = county_rules(policy)
    for conviction in history.person().convictions:
        if conviction.prop64 is None:
            continue
        case = history.case(conviction.cnt_order.decode(), compute_at)
        decision = history.decide(rules, conviction.cnt_order.decode(), compute_at)
        expected = expected_decision(case.conviction, case.person, case.facts, policy, compute_at)
        assert (decision.determination, decision.reason, decision.check) == expected


def test_rule_order_is_check_order():
    policy = CountyPolicy(
        BaselineEligibility(dismiss=("11357",), reduce=("11359",)),
        AdditionalRelief(True, 50, 10, 5, True, True))
    rules = county_rules(policy).rules

    assert [rule.name for rule in rules] == [
        "not a felony", "dismiss by section", "under 21 at conviction", "age threshold",
        "years since conviction", "years crime free", "only Prop 64 convictions", "deceased",
        "reduce by section"]
    assert all(rule.enabled for rule in rules)
    assert [rule.summary for rule in rules] == [
        "", "dismissal-by-section"] + ["additional-relief"] * 6 + ["reduction-by-section"]


def test_turned_off_checks_are_disabled_rules():
    rules = county_rules(CountyPolicy()).rules

    assert len(rules) == 9
    assert [rule.enabled for rule in rules] == [True] + [False] * 8
    assert rules[3].reason == "age threshold (turned off)"


def test_default_and_dismiss_all_translations():
    assert [r.enabled for r in DEFAULT_RULES.rules] == [True, True] + [False] * 6 + [True]
    assert DEFAULT_RULES.summary_sections("dismissal-by-section") == ["11357"]
    assert DEFAULT_RULES.summary_sections("reduction-by-section") == ["11358", "11359", "11360"]
    assert DISMISS_ALL_RULES.summary_sections("dismissal-by-section") == list(SECTIONS)
    assert DISMISS_ALL_RULES.summary_sections("reduction-by-section") == []


def test_translation_keeps_the_county_form():
    policy = CountyPolicy(BaselineEligibility(dismiss=("11358",)))
    assert county_rules(policy).translated_from == policy

"""policies/ca/los-angeles-2019.toml: a fabricated history reaches every rule, and the
order of the rules matters where two of them hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.rules import DISMISSAL, HAND_REVIEW, NOT_ELIGIBLE, load_rule_policy
from tests.histories import History, later_rules_that_decide, move_rule

POLICY = load_rule_policy(Path(__file__).resolve().parents[1] / "policies/ca/los-angeles-2019.toml")

CULTIVATE = "11358 HS-CULTIVATE CANNABIS"
FOR_SALE = "11359 HS-POSSESS MARIJUANA FOR SALE"
SELL = "11360(A) HS-TRANSPORT/SELL MARIJUANA"
BURGLARY = "459 PC-BURGLARY"


def misdemeanor():
    history = History()
    return history, history.conviction("11357(C)HS-POSSESS MARIJUANA", "2010-05-01", level="M")


def felony_after_new_law():
    history = History()
    return history, history.conviction(FOR_SALE, "2018-01-01")


def possession_a():
    history = History()
    return history, history.conviction("11357 (A) HS-POSSESS CONCENTRATED CANNABIS", "2010-05-01")


def other_possession():
    history = History()
    return history, history.conviction("11357 HS-POSSESS MARIJUANA", "2010-05-01")


def prior_superstrike():
    history = History()
    history.conviction("187 PC-MURDER", "2000-01-01")
    return history, history.conviction(FOR_SALE, "2005-01-01")


def prior_registration():
    history = History()
    history.conviction("314(1) PC-INDECENT EXPOSURE", "2001-01-01", level="M")
    return history, history.conviction(SELL, "2005-01-01")


def two_priors():
    history = History()
    history.conviction(CULTIVATE, "2001-01-01")
    history.conviction(CULTIVATE, "2003-01-01")
    return history, history.conviction(CULTIVATE, "2008-01-01")


def fifty_or_older():
    history = History(born="1970-01-01")
    history.conviction(BURGLARY, "2020-01-01")
    return history, history.conviction(FOR_SALE, "2015-01-01", sentence=((10, "Y"),))


def under_21():
    history = History(born="1990-01-01")
    history.conviction(BURGLARY, "2020-01-01")
    return history, history.conviction(FOR_SALE, "2009-06-01")


def only_prop64():
    history = History(born="1980-01-01")
    history.conviction(SELL, "2016-01-01", sentence=((1, "Y"),))
    return history, history.conviction(FOR_SALE, "2015-01-01", sentence=((2, "Y"),))


def ten_years_clear():
    history = History(born="1980-01-01")
    history.conviction(BURGLARY, "2010-01-01")
    return history, history.conviction(FOR_SALE, "2005-01-01")


def deceased():
    history = History(born="1980-01-01")
    history.conviction(BURGLARY, "2020-01-01")
    cnt_order = history.conviction(FOR_SALE, "2015-01-01")
    history.death("2022-01-01")
    return history, cnt_order


def sentence_served():
    history = History(born="1980-01-01")
    history.conviction(BURGLARY, "2020-01-01")
    return history, history.conviction(FOR_SALE, "2015-01-01", sentence=((10, "Y"),))


def anything_left():
    history = History(born="1980-01-01")
    history.conviction(BURGLARY, "2020-01-01")
    return history, history.conviction(FOR_SALE, "2015-01-01", sentence=((1, "Y"),))


CASES = [
    (misdemeanor, "misdemeanor or infraction", HAND_REVIEW,
     "Misdemeanor or infraction: referred to the city attorney for review",
     "County policy: misdemeanors and infractions are prosecuted, and reviewed, by city attorneys; HS 11361.9"),
    (felony_after_new_law, "felony after Prop 64", NOT_ELIGIBLE,
     "Felony convicted after Prop 64 passed on 2016-11-08, under the new law",
     "HS 11361.8(a), (e): relief is for convictions under the law before Prop 64"),
    (possession_a, "possession (A) or (B) dismissed", DISMISSAL,
     "HS 11357(A) and (B) possession is dismissed",
     "HS 11361.8(e); HS 11357 as amended by Prop 64"),
    (other_possession, "other possession", HAND_REVIEW,
     "HS 11357 other than (A) or (B): reviewed by hand",
     "County policy: possession subsections other than (A) and (B) are reviewed one by one"),
    (prior_superstrike, "prior superstrike", NOT_ELIGIBLE,
     "A superstrike conviction before this one keeps the offense a felony",
     "HS 11358(d)(1), 11359(c)(1), 11360(a)(3)(A); PC 667(e)(2)(C)(iv)"),
    (prior_registration, "prior PC 290", NOT_ELIGIBLE,
     "A PC 290 registration or registrable conviction before this one keeps the offense a felony",
     "HS 11358(d)(1), 11359(c)(1), 11360(a)(3)(A); PC 290(c)"),
    (two_priors, "two priors of the same section", NOT_ELIGIBLE,
     "Two or more earlier HS 11358 convictions keep this one a felony",
     "HS 11358(d)(2), 11359(c)(2), 11360(a)(3)(B)"),
    (fifty_or_older, "50 or older", DISMISSAL, "50 years or older",
     "County policy: additional relief by age"),
    (under_21, "under 21 at conviction", DISMISSAL, "Under 21 at conviction",
     "County policy: additional relief for youth"),
    (only_prop64, "only Prop 64, sentences completed", DISMISSAL,
     "Only Prop 64 convictions, every sentence completed",
     "County policy: additional relief for a record of only Prop 64 convictions"),
    (ten_years_clear, "no conviction in 10 years", DISMISSAL, "No convictions in the past 10 years",
     "County policy: additional relief after ten years without a conviction"),
    (deceased, "deceased", DISMISSAL, "Individual is deceased",
     "County policy: additional relief for deceased persons"),
    (sentence_served, "sentence being served", HAND_REVIEW,
     "The sentence is not yet completed on compute-at, so relief goes by petition",
     "HS 11361.8(a)"),
    (anything_left, "anything left", HAND_REVIEW,
     "No ground for dismissal applies: reviewed by hand",
     "County policy: felonies without a ground for dismissal are reviewed one by one"),
]


def test_cases_cover_every_rule_in_order():
    assert [case[1] for case in CASES] == [rule.name for rule in POLICY.rules]


@pytest.mark.parametrize("build,rule,determination,reason,citation", CASES, ids=[c[1] for c in CASES])
def test_los_angeles_rule_reached(build, rule, determination, reason, citation):
    history, cnt_order = build()
    decision = history.decide(POLICY, cnt_order)

    assert decision.rule_name == rule
    assert decision.determination == determination
    assert decision.reason == reason
    assert decision.citation == citation


def test_los_angeles_decides_prop64_only():
    assert not POLICY.decides_plea_bargains


def test_only_prop64_needs_every_sentence_completed():
    history = History(born="1980-01-01")
    history.conviction(SELL, "2020-01-01", level="M", sentence=((5, "Y"),))
    cnt_order = history.conviction(FOR_SALE, "2015-01-01", sentence=((2, "Y"),))
    decision = history.decide(POLICY, cnt_order)

    assert decision.rule_name == "anything left"
    failed = {step.name: step.conditions[0] for step in decision.trail if step.outcome == "failed"}
    assert failed["only Prop 64, sentences completed"].condition == (
        "every sentence of the person is completed on compute-at")


# The later rules that also hold on each history above (see the statute's tests).
EXPECTED_OVERLAPS = {
    "misdemeanor": ["other possession", "only Prop 64, sentences completed", "no conviction in 10 years",
                    "anything left"],
    "felony_after_new_law": ["only Prop 64, sentences completed", "anything left"],
    "possession_a": ["other possession", "only Prop 64, sentences completed", "no conviction in 10 years",
                     "anything left"],
    "other_possession": ["only Prop 64, sentences completed", "no conviction in 10 years", "anything left"],
    "prior_superstrike": ["no conviction in 10 years", "anything left"],
    "prior_registration": ["no conviction in 10 years", "anything left"],
    "two_priors": ["only Prop 64, sentences completed", "no conviction in 10 years", "anything left"],
    "fifty_or_older": ["sentence being served", "anything left"],
    "under_21": ["anything left"],
    "only_prop64": ["anything left"],
    "ten_years_clear": ["anything left"],
    "deceased": ["anything left"],
    "sentence_served": ["anything left"],
    "anything_left": [],
}


@pytest.mark.parametrize("build", [c[0] for c in CASES], ids=[c[0].__name__ for c in CASES])
def test_los_angeles_order_matters(build):
    history, cnt_order = build()
    assert later_rules_that_decide(POLICY, history, cnt_order) == EXPECTED_OVERLAPS[build.__name__]


def test_misdemeanor_review_precedes_dismissal():
    history, cnt_order = possession_a()
    assert history.decide(POLICY, cnt_order).determination == DISMISSAL

    history = History()
    cnt_order = history.conviction("11357 (A) HS-POSSESS CONCENTRATED CANNABIS", "2010-05-01", level="M")
    assert history.decide(POLICY, cnt_order).determination == HAND_REVIEW
    assert history.decide(move_rule(POLICY, 3, before=1), cnt_order).determination == DISMISSAL

"""policies/ca/statute.toml: a fabricated history reaches every rule, and the order
of the rules matters where two of them hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.rules import (
    DISMISSAL, HAND_REVIEW, MAYBE_ELIGIBLE, NOT_ELIGIBLE, REDUCTION, load_rule_policy,
)
from tests.histories import History, holding_rules, later_rules_that_decide, move_rule

POLICY = load_rule_policy(Path(__file__).resolve().parents[1] / "policies/ca/statute.toml")

POSSESS = "11357(C)HS-POSSESS MARIJUANA"
CULTIVATE = "11358 HS-CULTIVATE CANNABIS"
FOR_SALE = "11359 HS-POSSESS MARIJUANA FOR SALE"
SELL = "11360(A) HS-TRANSPORT/SELL MARIJUANA"
MURDER = "187 PC-MURDER"


def after_new_law():
    history = History()
    return history, history.conviction(POSSESS, "2018-03-01", level="M")


def date_unknown():
    history = History()
    return history, history.conviction(POSSESS, None, level="M")


def sentence_served():
    history = History()
    return history, history.conviction(FOR_SALE, "2015-01-01", sentence=((10, "Y"),))


def possession():
    history = History()
    return history, history.conviction(POSSESS, "2010-05-01", level="M")


def felony_after_superstrike():
    history = History()
    history.conviction(MURDER, "2000-01-01")
    return history, history.conviction(FOR_SALE, "2005-01-01")


def felony_after_registration():
    history = History()
    history.registration("2001-06-01")
    return history, history.conviction(SELL, "2005-01-01")


def felony_after_two_priors():
    history = History()
    history.conviction(CULTIVATE, "2001-01-01", level="M")
    history.conviction(CULTIVATE, "2003-01-01", level="M")
    return history, history.conviction(CULTIVATE, "2008-01-01")


def superstrike_undated():
    history = History()
    history.conviction(MURDER, None)
    return history, history.conviction(FOR_SALE, "2005-01-01")


def registration_undated():
    history = History()
    history.registration(None)
    return history, history.conviction(FOR_SALE, "2005-01-01")


def priors_undated():
    history = History()
    history.conviction(CULTIVATE, "2001-01-01")
    history.conviction(CULTIVATE, None)
    return history, history.conviction(CULTIVATE, "2008-01-01")


def felony():
    history = History()
    return history, history.conviction(FOR_SALE, "2005-01-01", sentence=((2, "Y"),))


def misdemeanor():
    history = History()
    return history, history.conviction(SELL, "2005-01-01", level="M")


def plea_bargain():
    history = History()
    return history, history.plea_bargain(FOR_SALE, "32 PC-ACCESSORY", "2005-01-01")


def level_unknown():
    history = History()
    return history, history.conviction(CULTIVATE, "2005-01-01", level="")


# (history, rule name, determination, reason, citation) for every rule, in policy order.
CASES = [
    (after_new_law, "judged under the new law", NOT_ELIGIBLE,
     "Convicted after Prop 64 passed on 2016-11-08, so the conviction was judged under the new law",
     "HS 11361.8(a), (e): relief is for convictions under the law before Prop 64"),
    (date_unknown, "disposition date unknown", HAND_REVIEW,
     "The disposition date is unknown, so the record cannot show which law the conviction was judged under",
     "HS 11361.8(a), (e)"),
    (sentence_served, "sentence being served", HAND_REVIEW,
     "The sentence is not yet completed on compute-at (or its length cannot be read), so relief goes "
     "by petition to recall or dismiss the sentence",
     "HS 11361.8(a)"),
    (possession, "possession dismissed", DISMISSAL,
     "HS 11357 possession is dismissed and sealed",
     "HS 11361.8(e); HS 11357 and 11362.1 as amended by Prop 64"),
    (felony_after_superstrike, "felony after a superstrike", NOT_ELIGIBLE,
     "A superstrike conviction before this one keeps HS 11359 a felony under the new law",
     "HS 11358(d)(1), 11359(c)(1), 11360(a)(3)(A); PC 667(e)(2)(C)(iv)"),
    (felony_after_registration, "felony after a PC 290 registration", NOT_ELIGIBLE,
     "A PC 290 registration or registrable conviction before this one keeps HS 11360 a felony under the new law",
     "HS 11358(d)(1), 11359(c)(1), 11360(a)(3)(A); PC 290(c)"),
    (felony_after_two_priors, "felony after two of the same section", NOT_ELIGIBLE,
     "Two or more earlier HS 11358 convictions keep this one a felony under the new law",
     "HS 11358(d)(2), 11359(c)(2), 11360(a)(3)(B)"),
    (superstrike_undated, "felony, superstrike cannot be dated", HAND_REVIEW,
     "The record has a superstrike conviction that cannot be dated against this one",
     "HS 11358(d)(1), 11359(c)(1), 11360(a)(3)(A)"),
    (registration_undated, "felony, PC 290 record cannot be dated", HAND_REVIEW,
     "The record has a PC 290 registration or registrable conviction that cannot be dated against this one",
     "HS 11358(d)(1), 11359(c)(1), 11360(a)(3)(A)"),
    (priors_undated, "felony, earlier convictions cannot be dated", HAND_REVIEW,
     "Undated HS 11358 convictions could make two earlier ones",
     "HS 11358(d)(2), 11359(c)(2), 11360(a)(3)(B)"),
    (felony, "felony reduced", REDUCTION,
     "HS 11359 felony is reduced to a misdemeanor",
     "HS 11361.8(e); HS 11358(c), 11359(b), 11360(a)(2) as amended by Prop 64"),
    (misdemeanor, "misdemeanor or infraction", HAND_REVIEW,
     "Whether HS 11360 conduct is now lawful turns on facts the record lacks, such as the amount, "
     "the number of plants and the person's age",
     "HS 11361.8(e); HS 11362.1"),
    (plea_bargain, "possible plea bargain", MAYBE_ELIGIBLE,
     "Convicted of another section in a cycle whose arrest charged a Prop 64 section that was not "
     "convicted, which may be a plea bargain",
     "HS 11361.8(a), (e): relief covers convictions by open or negotiated plea"),
    (level_unknown, "anything left", HAND_REVIEW,
     "No rule of the statute matched this conviction, for example because its level is unknown",
     "HS 11361.8"),
]


def test_cases_cover_every_rule_in_order():
    assert [case[1] for case in CASES] == [rule.name for rule in POLICY.rules]


@pytest.mark.parametrize("build,rule,determination,reason,citation", CASES, ids=[c[1] for c in CASES])
def test_statute_rule_reached(build, rule, determination, reason, citation):
    history, cnt_order = build()
    decision = history.decide(POLICY, cnt_order)

    assert decision.rule_name == rule
    assert decision.determination == determination
    assert decision.reason == reason
    assert decision.citation == citation
    assert decision.trail[-1].outcome == "decided"
    assert [step.outcome for step in decision.trail[:-1]] == ["failed"] * (decision.check - 1)


def test_statute_decides_plea_bargains():
    assert POLICY.decides_plea_bargains


def test_unreadable_sentence_goes_to_hand_review():
    history = History()
    cnt_order = history.conviction(FOR_SALE, "2005-01-01")
    history.row(cnt_order, "COURT ACTION", "2005-01-01", FOR_SALE, "F", "CONVICTED", "FELONY",
                sentence=("LIFE", "Y"))
    decision = history.decide(POLICY, cnt_order)

    assert decision.rule_name == "sentence being served"
    assert decision.trail[-1].conditions[0].unknown is True


def test_completed_sentence_is_not_being_served():
    history = History()
    cnt_order = history.conviction(FOR_SALE, "2020-01-01", sentence=((4, "Y"),))
    assert history.decide(POLICY, cnt_order).rule_name == "judged under the new law"

    history = History()
    cnt_order = history.conviction(FOR_SALE, "2014-01-01", sentence=((3, "Y"), (6, "M")))
    assert history.decide(POLICY, cnt_order).rule_name == "felony reduced"


def test_superstrike_after_conviction_does_not_bar():
    history = History()
    cnt_order = history.conviction(FOR_SALE, "2005-01-01")
    history.conviction(MURDER, "2009-01-01")
    assert history.decide(POLICY, cnt_order).rule_name == "felony reduced"


def test_priors_in_other_counties_count():
    history = History()
    history.conviction(CULTIVATE, "2001-01-01", county="FRESNO")
    history.conviction(CULTIVATE, "2003-01-01", county="KERN")
    cnt_order = history.conviction(CULTIVATE, "2008-01-01")
    assert history.decide(POLICY, cnt_order).rule_name == "felony after two of the same section"


# Where two rules hold on one history, the earlier one decides, and moving the later
# one ahead of it must change the decision. These are the later rules that hold on
# each history above, so the list changes if a rule or a history does.
EXPECTED_OVERLAPS = {
    "after_new_law": ["disposition date unknown", "possession dismissed", "anything left"],
    "date_unknown": ["sentence being served", "possession dismissed", "anything left"],
    "sentence_served": ["felony reduced", "anything left"],
    "felony_after_superstrike": ["felony, superstrike cannot be dated", "felony reduced", "anything left"],
    "felony_after_registration": ["felony, PC 290 record cannot be dated", "felony reduced", "anything left"],
    "felony_after_two_priors": ["felony, earlier convictions cannot be dated", "felony reduced",
                                "anything left"],
    "superstrike_undated": ["felony reduced", "anything left"],
    "registration_undated": ["felony reduced", "anything left"],
    "priors_undated": ["felony reduced", "anything left"],
    "possession": ["anything left"],
    "felony": ["anything left"],
    "misdemeanor": ["anything left"],
    "plea_bargain": ["anything left"],
    "level_unknown": [],
}


@pytest.mark.parametrize("build", [c[0] for c in CASES], ids=[c[0].__name__ for c in CASES])
def test_statute_order_matters(build):
    history, cnt_order = build()
    assert later_rules_that_decide(POLICY, history, cnt_order) == EXPECTED_OVERLAPS[build.__name__]


def test_new_law_rule_precedes_plea_bargain():
    history = History()
    cnt_order = history.plea_bargain(FOR_SALE, "32 PC-ACCESSORY", "2019-01-01")
    case = history.case(cnt_order)

    assert holding_rules(POLICY, case) == [1, 2, 13, 14]
    assert history.decide(POLICY, cnt_order).determination == NOT_ELIGIBLE
    assert history.decide(move_rule(POLICY, 13, before=1), cnt_order).determination == MAYBE_ELIGIBLE

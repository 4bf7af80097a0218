"""The rule engine: order, trail, reasons, and decoding TOML policies with errors
that name the file and the field."""

from __future__ import annotations

import pytest

from engine.decide import decide, decode_trail, encode_trail
from engine.policy import PolicyError
from engine.rules import (
    DISMISSAL, HAND_REVIEW, NOT_ELIGIBLE, REDUCTION, RulePolicy, decode_rule_policy,
    load_rule_policy, policy_document, policy_sha256,
)
from tests.histories import History

POLICY = b'''
name = "test policy"

[[rules]]
name = "after the new law"
when = [{ condition = "disposition_after", date = 2016-11-08 }]
determination = "Not eligible"
reason = "After Prop 64"
citation = "HS 11361.8(a)"

[[rules]]
name = "turned off"
enabled = false
when = [{ condition = "deceased" }]
determination = "Eligible for Dismissal"
reason = "Deceased"
citation = "county"

[[rules]]
name = "old felony"
when = [
    { condition = "section", sections = ["11358", "11359", "11360"] },
    { condition = "level", levels = ["felony"] },
    { condition = "years_since_conviction", years = 10 },
]
determination = "Eligible for Reduction"
reason = "Reduce HS {section}"
citation = "HS 11361.8(e)"
summary = "reduction-by-section"
'''


def policy_from(text: bytes) -> RulePolicy:
    return decode_rule_policy(text, "test.toml")


def test_first_matching_rule_decides():
    policy = policy_from(POLICY)
    history = History()
    recent = history.conviction("11359 HS-POSSESS FOR SALE", "2018-01-01")
    old = history.conviction("11359 HS-POSSESS FOR SALE", "2001-01-01")

    assert history.decide(policy, recent).determination == NOT_ELIGIBLE
    assert history.decide(policy, recent).check == 1
    assert history.decide(policy, old).determination == REDUCTION
    assert history.decide(policy, old).check == 3


def test_no_rule_gives_blank_decision():
    policy = policy_from(POLICY)
    history = History()
    cnt_order = history.conviction("11359 HS-POSSESS FOR SALE", "2015-01-01", level="M")
    decision = history.decide(policy, cnt_order)

    assert decision.determination == ""
    assert decision.reason == ""
    assert decision.check == 0
    assert [step.outcome for step in decision.trail] == ["failed", "disabled", "failed"]


def test_reason_fills_section():
    policy = policy_from(POLICY)
    history = History()
    cnt_order = history.conviction("HS11360-SELL MARIJUANA", "2001-01-01")
    assert history.decide(policy, cnt_order).reason == "Reduce HS 11360"


def test_trail_records_each_rule_tried():
    policy = policy_from(POLICY)
    history = History()
    cnt_order = history.conviction("11359 HS-POSSESS FOR SALE", "2001-01-01")
    history.death()
    decision = history.decide(policy, cnt_order)

    first, second, third = decision.trail
    assert (first.rule, first.name, first.outcome) == (1, "after the new law", "failed")
    assert first.conditions[0].condition == "the disposition date is after 2016-11-08"
    assert first.conditions[0].found == "the disposition date is 2001-01-01"
    assert first.conditions[0].held is False
    assert (second.rule, second.outcome, second.conditions) == (2, "disabled", ())
    assert (third.rule, third.outcome) == (3, "decided")
    assert [c.held for c in third.conditions] == [True, True, True]
    assert third.conditions[1].found == "the level is felony"
    assert decision.citation == "HS 11361.8(e)"
    assert decision.rule_name == "old felony"
    assert decision.summary == "reduction-by-section"


def test_trail_stops_at_first_failed_condition():
    policy = policy_from(POLICY)
    history = History()
    cnt_order = history.conviction("11359 HS-POSSESS FOR SALE", "2015-01-01", level="M")
    failed = history.decide(policy, cnt_order).trail[2]

    assert len(failed.conditions) == 1
    assert failed.conditions[0].condition == "the conviction is a felony"
    assert failed.conditions[0].found == "the level is misdemeanor"


def test_trail_marks_unknown_facts():
    policy = policy_from(POLICY)
    history = History()
    cnt_order = history.conviction("11359 HS-POSSESS FOR SALE", None)
    first = history.decide(policy, cnt_order).trail[0]

    assert first.conditions[0].unknown is True
    assert first.conditions[0].found == "the disposition date is unknown"


def test_trail_round_trips_as_json():
    policy = policy_from(POLICY)
    history = History()
    cnt_order = history.conviction("11359 HS-POSSESS FOR SALE", "2001-01-01")
    decision = history.decide(policy, cnt_order)

    assert decode_trail(encode_trail(decision.trail)) == list(decision.trail)


def test_decide_without_trail_same_decision():
    policy = policy_from(POLICY)
    history = History()
    cnt_order = history.conviction("11359 HS-POSSESS FOR SALE", "2001-01-01")
    with_trail = history.decide(policy, cnt_order)
    without = decide(policy, history.case(cnt_order), trail=False)

    assert without.trail == ()
    assert without[:6] == with_trail[:6]


def test_rule_without_conditions_always_holds():
    policy = policy_from(b'''
name = "catch-all"
[[rules]]
name = "everything"
determination = "Hand Review"
reason = "Review"
citation = "none"
''')
    history = History()
    cnt_order = history.conviction("11357 HS-POSSESS", None, level="")
    decision = history.decide(policy, cnt_order)
    assert decision.determination == HAND_REVIEW
    assert decision.trail[0].conditions == ()


@pytest.mark.parametrize("text,message", [
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Dismissed"\nreason = "r"\ncitation = "c"\n',
     "at `$.rules[0].determination`"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = "r"\n',
     "missing required field `citation` - at `$.rules[0]`"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = "r"\ncitation = "c"\n'
     b'when = [{ condition = "age_at_lest", age = 50 }]\n',
     "Invalid value 'age_at_lest' - at `$.rules[0].when[0].condition`"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = "r"\ncitation = "c"\n'
     b'when = [{ condition = "age_at_least", age = "fifty" }]\n',
     "Expected `int`, got `str` - at `$.rules[0].when[0].age`"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = "r"\ncitation = "c"\n'
     b'when = [{ condition = "age_at_least", age = 50, years = 3 }]\n',
     "unknown field `years` - at `$.rules[0].when[0]`"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = "r"\ncitation = "c"\n'
     b'when = [{ condition = "section", sections = ["11357-60"] }]\n',
     "invalid section '11357-60'"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = "r"\ncitation = "c"\n'
     b'when = [{ condition = "disposition_after", date = "last year" }]\n',
     "at `$.rules[0].when[0].date`"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = "Reduce {code}"\n'
     b'citation = "c"\n',
     "may hold only the placeholder {section}"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = "r"\ncitation = "c"\n'
     b'summary = "additional-relief"\n',
     "needs determination 'Eligible for Dismissal'"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Eligible for Dismissal"\nreason = "r"\n'
     b'citation = "c"\nsummary = "dismissal-by-section"\n',
     "needs a `section` condition"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = "r"\ncitation = "c"\n'
     b'[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = "r"\ncitation = "c"\n',
     "rule name 'a' is used twice"),
    (b'name = "x"\nrules = []\n', "`rules` must hold at least one rule"),
    (b'name = "x"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\nreason = """two\nlines"""\n'
     b'citation = "c"\n', "rule 'a': `reason` must be one line"),
    (b'name = "x"\ndecides = "everything"\n[[rules]]\nname = "a"\ndetermination = "Hand Review"\n'
     b'reason = "r"\ncitation = "c"\n', "at `$.decides`"),
    (b'name = "x"\nrule = []\n', "unknown field `rule`"),
])
def test_invalid_policy_names_file_and_field(text, message):
    with pytest.raises(PolicyError) as error:
        policy_from(text)
    assert "policy test.toml is invalid" in str(error.value)
    assert message in str(error.value)


def test_toml_syntax_error_names_line():
    with pytest.raises(PolicyError) as error:
        policy_from(b'name = "x"\n[[rules]\n')
    assert "policy test.toml is not valid TOML" in str(error.value)
    assert "line 2" in str(error.value)


def test_translated_from_rejected_in_file():
    text = POLICY + b'\n[translated_from]\nbaselineEligibility = { dismiss = ["11357"] }\n'
    with pytest.raises(PolicyError, match=r"`translated_from` is set only when.*\$\.translated_from"):
        policy_from(text)


def test_load_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError, match="cannot be read"):
        load_rule_policy(tmp_path / "absent.toml")


def test_policy_document_is_rule_policy():
    policy = policy_from(POLICY)
    document = policy_document(policy)

    assert document["name"] == "test policy"
    assert [rule["name"] for rule in document["rules"]] == ["after the new law", "turned off", "old felony"]
    assert document["rules"][0]["when"][0] == {
        "condition": "disposition_after", "date": "2016-11-08", "negate": False, "if_unknown": "fails"}
    assert len(policy_sha256(policy)) == 64
    assert policy_sha256(policy) == policy_sha256(policy_from(POLICY))


def test_dismissal_constant_matches_determination():
    assert DISMISSAL == "Eligible for Dismissal"

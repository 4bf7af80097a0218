"""Decoding county policy files: the sample, rejected documents and defaults."""

import pytest

from engine.policy import PolicyError, decode_policy, load_policy
from tests.conftest import SAMPLE_POLICY


def reject_message(document: str) -> str:
    with pytest.raises(PolicyError) as caught:
        decode_policy(document.encode(), "county.json")
    return str(caught.value)


@pytest.mark.skipif(not SAMPLE_POLICY.exists(), reason=f"sample policy {SAMPLE_POLICY} is absent")
def test_sample_policy_decodes():
    policy = load_policy(SAMPLE_POLICY)

    assert policy.baselineEligibility.dismiss == ("11357", "11358")
    assert policy.baselineEligibility.reduce == ("11359", "11360")
    assert policy.additionalRelief.subjectUnder21AtConviction is True
    assert policy.additionalRelief.subjectAgeThreshold == 57
    assert policy.additionalRelief.yearsSinceConvictionThreshold == 10
    assert policy.additionalRelief.yearsCrimeFreeThreshold == 0
    assert policy.additionalRelief.subjectIsDeceased is True
    assert policy.additionalRelief.subjectHasOnlyProp64Charges is True


def test_misspelt_key_rejected():
    message = reject_message('{"additionalRelief": {"subjectAgeThreshhold": 57}}')

    assert "county.json" in message
    assert "subjectAgeThreshhold" in message
    assert "$.additionalRelief" in message


def test_unknown_top_key_rejected():
    message = reject_message('{"baseline": {"dismiss": ["11357"]}}')

    assert "county.json" in message
    assert "baseline" in message


def test_other_section_rejected():
    message = reject_message('{"baselineEligibility": {"dismiss": ["11357", "11361"]}}')

    assert "county.json" in message
    assert "11361" in message
    assert "$.baselineEligibility.dismiss[1]" in message


def test_synthetic_cannabinoid_section_rejected():
    message = reject_message('{"baselineEligibility": {"reduce": ["11357.5"]}}')

    assert "$.baselineEligibility.reduce[0]" in message


def test_section_in_both_lists_rejected():
    message = reject_message(
        '{"baselineEligibility": {"dismiss": ["11358"], "reduce": ["11358"]}}')

    assert "11358" in message
    assert "$.baselineEligibility" in message


@pytest.mark.parametrize("field, value", [
    ("subjectAgeThreshold", 39),
    ("subjectAgeThreshold", 66),
    ("subjectAgeThreshold", -1),
    ("yearsSinceConvictionThreshold", 16),
    ("yearsSinceConvictionThreshold", -1),
    ("yearsCrimeFreeThreshold", 16),
    ("yearsCrimeFreeThreshold", -5),
])
def test_threshold_out_of_bounds(field, value):
    message = reject_message(f'{{"additionalRelief": {{"{field}": {value}}}}}')

    assert "county.json" in message
    assert field in message
    assert "$.additionalRelief" in message
    assert str(value) in message


@pytest.mark.parametrize("field, value", [
    ("subjectAgeThreshold", 40),
    ("subjectAgeThreshold", 65),
    ("subjectAgeThreshold", 0),
    ("yearsSinceConvictionThreshold", 1),
    ("yearsSinceConvictionThreshold", 15),
    ("yearsCrimeFreeThreshold", 0),
    ("yearsCrimeFreeThreshold", 15),
])
def test_threshold_bounds_accepted(field, value):
    document = f'{{"additionalRelief": {{"{field}": {value}}}}}'.encode()
    policy = decode_policy(document, "county.json")

    assert getattr(policy.additionalRelief, field) == value


def test_threshold_of_wrong_type_rejected():
    message = reject_message('{"additionalRelief": {"subjectAgeThreshold": "57"}}')

    assert "$.additionalRelief.subjectAgeThreshold" in message


def test_invalid_json_rejected():
    message = reject_message('{"baselineEligibility": ')

    assert "county.json" in message
    assert "not valid JSON" in message


def test_absent_keys_mean_off():
    policy = decode_policy(b"{}", "county.json")

    assert policy.baselineEligibility.dismiss == ()
    assert policy.baselineEligibility.reduce == ()
    assert policy.additionalRelief.subjectUnder21AtConviction is False
    assert policy.additionalRelief.subjectAgeThreshold == 0
    assert policy.additionalRelief.yearsSinceConvictionThreshold == 0
    assert policy.additionalRelief.yearsCrimeFreeThreshold == 0
    assert policy.additionalRelief.subjectIsDeceased is False
    assert policy.additionalRelief.subjectHasOnlyProp64Charges is False


def test_partial_relief_block_defaults():
    policy = decode_policy(b'{"additionalRelief": {"subjectIsDeceased": true}}', "county.json")

    assert policy.additionalRelief.subjectIsDeceased is True
    assert policy.additionalRelief.subjectAgeThreshold == 0
    assert policy.baselineEligibility.dismiss == ()


def test_missing_policy_file(tmp_path):
    missing = tmp_path / "absent.json"

    with pytest.raises(PolicyError, match="absent.json"):
        load_policy(missing)


def test_misspelt_key_suggests_fix():
    with pytest.raises(PolicyError, match=r"did you mean `subjectAgeThreshold`\?"):
        decode_policy(b'{"additionalRelief": {"subjectAgeThreshhold": 50}}', "p.json")


def test_wrong_section_lists_sections():
    with pytest.raises(PolicyError, match="sections are 11357, 11358, 11359 and 11360"):
        decode_policy(b'{"baselineEligibility": {"dismiss": ["11361"]}}', "p.json")


@pytest.mark.parametrize("document,key", [
    ('{"baselineEligibility": {"dismiss": ["11357"], "dismiss": ["11358"]}}', "dismiss"),
    ('{"additionalRelief": {"subjectIsDeceased": true}, "additionalRelief": {}}', "additionalRelief"),
], ids=["nested", "top-level"])
def test_repeated_key_rejected(document, key):
    assert reject_message(document) == (f"policy county.json is invalid: `{key}` is given twice "
                                        "in one object; keep one")

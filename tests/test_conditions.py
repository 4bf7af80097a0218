"""Every condition of the policy language over fabricated histories: holds, fails,
and unknown where the record lacks a fact."""

from __future__ import annotations

import datetime

import msgspec
import pytest

from engine.conditions import (
    AgeAtLeast, Deceased, DispositionAfter, DispositionBefore, LevelIn, NoConvictionWithin,
    OnlyProp64Convictions, PossiblePleaBargain, PriorPC290, PriorSameSection,
    PriorSuperstrike, SectionIn, SentenceNotCompleted, UnderAgeAtDisposition,
    YearsSinceConviction, parse_section_entry,
)
from tests.histories import History

D = datetime.date
POSSESS = "11357(C)HS-POSSESS MARIJUANA"
FOR_SALE = "11359 HS-POSSESS MARIJUANA FOR SALE"
MURDER = "187 PC-MURDER"


def value(condition, history: History, cnt_order: str, compute_at: D = D(2024, 7, 1)):
    """Return the condition's result (None when unknown) on one conviction."""
    result, _ = condition.evaluate(history.case(cnt_order, compute_at))
    return result


def one_conviction(charge: str, on: str | None = "2010-05-01", **options) -> tuple[History, str]:
    history = History(born=options.pop("born", "1980-01-01"))
    return history, history.conviction(charge, on, **options)


# section

@pytest.mark.parametrize("charge,sections,expected", [
    (POSSESS, ["11357"], True),
    (POSSESS, ["11357(C)"], True),
    (POSSESS, ["11357(A)", "11357(B)"], False),
    (POSSESS, ["11358", "11359"], False),
    ("11357B2 HS-POSSESS ON SCHOOL GROUNDS", ["11357(B)"], True),
    ("11357B2 HS-POSSESS ON SCHOOL GROUNDS", ["11357(B)(2)"], True),
    ("11357B2 HS-POSSESS ON SCHOOL GROUNDS", ["11357(B)(1)"], False),
    ("11357 (a) HS-POSSESS CONCENTRATED CANNABIS", ["11357(A)"], True),
    ("11359 PC-POSSESS MARIJUANA FOR SALE", ["11359"], True),
    ("11359 PC-POSSESS MARIJUANA FOR SALE", ["11359 HS"], False),
    (FOR_SALE, ["11359 HS"], True),
    ("11357.5(A) HS-SELL SYNTHETIC CANNABINOID", ["11357"], False),
    ("11357.5(A) HS-SELL SYNTHETIC CANNABINOID", ["11357.5"], True),
    ("519-186.22(B)(4) PC-EXTORTION", ["186.22"], True),
    ("519-186.22(B)(4) PC-EXTORTION", ["186.22(B)(4) PC"], True),
    ("11359/11360 HS-SELL MARIJUANA", ["11360"], False),
    ("11359/11360 HS-SELL MARIJUANA", ["11359"], True),
    ("SEE COMMENT FOR CHARGE", ["11358"], False),
])
def test_section_condition(charge, sections, expected):
    history, cnt_order = one_conviction(charge)
    assert value(SectionIn(sections=tuple(sections)), history, cnt_order) is expected


def test_section_condition_reads_charge_in_comment():
    history = History()
    cnt_order = f"{history._next_cycle()}002001000"
    history.row(cnt_order, "COURT ACTION", "2010-05-01", "SEE COMMENT FOR CHARGE", "F", "CONVICTED",
                "FELONY", comment=":CHRG 11358 HS")
    assert value(SectionIn(sections=("11358",)), history, cnt_order) is True


@pytest.mark.parametrize("entry,parsed", [
    ("11357", ("11357", (), "")),
    ("11357(A)", ("11357", ("A",), "")),
    ("11357 (b)(2)", ("11357", ("B", "2"), "")),
    ("11357B2", ("11357", ("B", "2"), "")),
    ("288(A) PC", ("288", ("A",), "PC")),
    ("186.22(B)(4) PC", ("186.22", ("B", "4"), "PC")),
])
def test_section_entry_parses(entry, parsed):
    assert tuple(parse_section_entry(entry)) == parsed


@pytest.mark.parametrize("entry", ["", "HS", "11357(", "11357 (A) HEALTH", "11357-11360"])
def test_section_entry_invalid(entry):
    with pytest.raises(ValueError, match="invalid section"):
        parse_section_entry(entry)


def test_section_condition_needs_sections():
    with pytest.raises(msgspec.ValidationError, match="`sections` must list at least one section"):
        msgspec.convert({"condition": "section", "sections": []}, type=SectionIn)


# level

@pytest.mark.parametrize("level,conv_stat,expected", [
    ("F", None, "felony"),
    ("M", None, "misdemeanor"),
    ("I", None, "infraction"),
    ("F", "", "felony"),
    ("M", "  MISDEMEANOR ", "misdemeanor"),
    ("", "", "unknown"),
    ("X", "", "unknown"),
])
def test_level_condition(level, conv_stat, expected):
    history, cnt_order = one_conviction(POSSESS, level=level, conv_stat=conv_stat)
    for name in ("felony", "misdemeanor", "infraction", "unknown"):
        assert value(LevelIn(levels=(name,)), history, cnt_order) is (name == expected), name


# disposition_before and disposition_after

@pytest.mark.parametrize("on,before,after", [
    ("2016-11-07", True, False),
    ("2016-11-08", False, False),
    ("2016-11-09", False, True),
    (None, None, None),
])
def test_disposition_date_conditions(on, before, after):
    history, cnt_order = one_conviction(POSSESS, on)
    assert value(DispositionBefore(date=D(2016, 11, 8)), history, cnt_order) is before
    assert value(DispositionAfter(date=D(2016, 11, 8)), history, cnt_order) is after


# under_age_at_disposition

@pytest.mark.parametrize("born,on,expected", [
    ("1990-06-15", "2011-06-14", True),
    ("1990-06-15", "2011-06-15", False),
    ("1992-02-29", "2013-02-28", True),
    ("1992-02-29", "2013-03-01", False),
    (None, "2011-06-14", None),
    ("1990-06-15", None, None),
])
def test_under_age_at_disposition(born, on, expected):
    history, cnt_order = one_conviction(POSSESS, on, born=born)
    assert value(UnderAgeAtDisposition(age=21), history, cnt_order) is expected


# age_at_least

@pytest.mark.parametrize("born,expected", [
    ("1974-07-01", True),
    ("1974-07-02", False),
    ("1930-01-01", True),
    (None, None),
])
def test_age_at_least(born, expected):
    history, cnt_order = one_conviction(POSSESS, born=born)
    assert value(AgeAtLeast(age=50), history, cnt_order, D(2024, 7, 1)) is expected


def test_age_at_least_rejects_zero():
    with pytest.raises(msgspec.ValidationError, match="`age` must be 1-130, got 0"):
        msgspec.convert({"condition": "age_at_least", "age": 0}, type=AgeAtLeast)


# years_since_conviction

@pytest.mark.parametrize("on,expected", [
    ("2014-07-01", True),
    ("2014-07-02", False),
    ("2000-01-01", True),
    (None, None),
])
def test_years_since_conviction(on, expected):
    history, cnt_order = one_conviction(POSSESS, on)
    assert value(YearsSinceConviction(years=10), history, cnt_order, D(2024, 7, 1)) is expected


# no_conviction_within

@pytest.mark.parametrize("latest,expected", [
    ("2014-06-30", True),
    ("2014-07-01", False),
    ("2020-01-01", False),
])
def test_no_conviction_within(latest, expected):
    history = History()
    cnt_order = history.conviction(POSSESS, "2005-01-01")
    history.conviction("459 PC-BURGLARY", latest)
    assert value(NoConvictionWithin(years=10), history, cnt_order, D(2024, 7, 1)) is expected


def test_no_conviction_within_unknown_without_dates():
    history, cnt_order = one_conviction(POSSESS, None)
    assert value(NoConvictionWithin(years=10), history, cnt_order) is None


def test_no_conviction_within_counts_other_counties():
    history = History()
    cnt_order = history.conviction(POSSESS, "2005-01-01")
    history.conviction("459 PC-BURGLARY", "2020-01-01", county="FRESNO")
    assert value(NoConvictionWithin(years=10), history, cnt_order) is False


# only_prop64_convictions

def test_only_prop64_convictions():
    history = History()
    cnt_order = history.conviction(POSSESS, "2005-01-01")
    history.conviction(FOR_SALE, "2006-01-01")
    assert value(OnlyProp64Convictions(), history, cnt_order) is True

    history.conviction("459 PC-BURGLARY", "2007-01-01", county="FRESNO")
    assert value(OnlyProp64Convictions(), history, cnt_order) is False


def test_only_prop64_ignores_dismissed_charges():
    history = History()
    cnt_order = history.conviction(POSSESS, "2005-01-01")
    history.arrest("459 PC-BURGLARY", "2006-01-01")
    assert value(OnlyProp64Convictions(), history, cnt_order) is True


# deceased

def test_deceased():
    history, cnt_order = one_conviction(POSSESS)
    assert value(Deceased(), history, cnt_order) is False

    history.death()
    assert value(Deceased(), history, cnt_order) is True


# prior_superstrike

@pytest.mark.parametrize("strike_on,this_on,expected", [
    ("2000-01-01", "2005-01-01", True),
    ("2010-01-01", "2005-01-01", False),
    ("2005-01-01", "2005-01-01", False),
    (None, "2005-01-01", None),
    ("2000-01-01", None, None),
])
def test_prior_superstrike(strike_on, this_on, expected):
    history = History()
    history.conviction("664/187 PC-ATTEMPTED MURDER", strike_on)
    cnt_order = history.conviction(FOR_SALE, this_on)
    assert value(PriorSuperstrike(), history, cnt_order) is expected


def test_prior_superstrike_false_without_one():
    history = History()
    history.conviction("237 PC-FALSE IMPRISONMENT", "2000-01-01")
    cnt_order = history.conviction(FOR_SALE, None)
    assert value(PriorSuperstrike(), history, cnt_order) is False


def test_prior_superstrike_known_wins_over_undated():
    history = History()
    history.conviction(MURDER, None)
    history.conviction(MURDER, "2000-01-01", county="FRESNO")
    cnt_order = history.conviction(FOR_SALE, "2005-01-01")
    assert value(PriorSuperstrike(), history, cnt_order) is True


# prior_pc290

@pytest.mark.parametrize("registered_on,expected", [
    ("2001-01-01", True),
    ("2012-01-01", False),
    (None, None),
])
def test_prior_pc290_registration(registered_on, expected):
    history = History()
    history.registration(registered_on)
    cnt_order = history.conviction(FOR_SALE, "2005-01-01")
    assert value(PriorPC290(), history, cnt_order) is expected


@pytest.mark.parametrize("charge,expected", [
    ("314(1) PC-INDECENT EXPOSURE", True),
    ("288(A) PC-LEWD ACT", True),
    ("314 PC-INDECENT EXPOSURE", False),
])
def test_prior_pc290_registrable_conviction(charge, expected):
    history = History()
    history.conviction(charge, "2001-01-01")
    cnt_order = history.conviction(FOR_SALE, "2005-01-01")
    assert value(PriorPC290(), history, cnt_order) is expected


# prior_same_section

def test_prior_same_section_counts_earlier_only():
    history = History()
    history.conviction(FOR_SALE, "2001-01-01")
    history.conviction("11359HS-INTENT SELL CANNABIS", "2002-01-01")
    cnt_order = history.conviction(FOR_SALE, "2005-01-01")
    history.conviction(FOR_SALE, "2010-01-01")
    history.conviction("11360(A) HS-TRANSPORT/SELL MARIJUANA", "2003-01-01")

    assert value(PriorSameSection(count=2), history, cnt_order) is True
    assert value(PriorSameSection(count=3), history, cnt_order) is False


def test_prior_same_section_one_earlier_is_not_two():
    history = History()
    history.conviction(FOR_SALE, "2001-01-01")
    cnt_order = history.conviction(FOR_SALE, "2005-01-01")
    assert value(PriorSameSection(count=2), history, cnt_order) is False
    assert value(PriorSameSection(count=1), history, cnt_order) is True


def test_prior_same_section_unknown_when_undated_could_count():
    history = History()
    history.conviction(FOR_SALE, "2001-01-01")
    history.conviction(FOR_SALE, None)
    cnt_order = history.conviction(FOR_SALE, "2005-01-01")
    assert value(PriorSameSection(count=2), history, cnt_order) is None


def test_prior_same_section_same_day_is_not_earlier():
    history = History()
    history.conviction(FOR_SALE, "2005-01-01")
    history.conviction(FOR_SALE, "2005-01-01")
    cnt_order = history.conviction(FOR_SALE, "2005-01-01")
    assert value(PriorSameSection(count=1), history, cnt_order) is False


# sentence_not_completed

@pytest.mark.parametrize("on,sentence,expected", [
    ("2023-01-01", ((2, "Y"),), True),
    ("2023-01-01", ((1, "Y"),), False),
    ("2023-07-01", ((1, "Y"),), False),
    ("2023-07-01", ((1, "Y"), (1, "D")), True),
    ("2023-01-01", (), False),
    (None, ((2, "Y"),), None),
])
def test_sentence_not_completed(on, sentence, expected):
    history, cnt_order = one_conviction(FOR_SALE, on, sentence=sentence)
    assert value(SentenceNotCompleted(), history, cnt_order, D(2024, 7, 1)) is expected


def test_sentence_not_completed_unreadable_part_is_unknown():
    history, cnt_order = one_conviction(FOR_SALE, "2010-01-01", sentence=((2, "Y"),))
    history.row(cnt_order, "COURT ACTION", "2010-01-01", FOR_SALE, "F", "CONVICTED", "FELONY",
                sentence=("99X", "Y"))
    assert value(SentenceNotCompleted(), history, cnt_order) is None


def test_sentence_not_completed_any_conviction():
    history = History()
    cnt_order = history.conviction(FOR_SALE, "2010-01-01", sentence=((1, "Y"),))
    condition = SentenceNotCompleted(scope="any conviction")
    assert value(condition, history, cnt_order) is False

    history.conviction("459 PC-BURGLARY", "2023-01-01", sentence=((3, "Y"),), county="FRESNO")
    assert value(condition, history, cnt_order) is True
    assert value(SentenceNotCompleted(), history, cnt_order) is False


# possible_plea_bargain

def test_possible_plea_bargain():
    history = History()
    cnt_order = history.plea_bargain("11359 HS-POSSESS FOR SALE", "32 PC-ACCESSORY", "2010-01-01")
    assert value(PossiblePleaBargain(), history, cnt_order) is True


def test_plea_bargain_needs_prop64_arrest_in_same_cycle():
    history = History()
    history.arrest("11359 HS-POSSESS FOR SALE", "2009-01-01")
    cnt_order = history.conviction("32 PC-ACCESSORY", "2010-01-01")
    assert value(PossiblePleaBargain(), history, cnt_order) is False


def test_plea_bargain_not_when_prop64_convicted_in_cycle():
    history = History()
    cnt_order = history.conviction(FOR_SALE, "2010-01-01")
    other = cnt_order[:3] + "002002000"
    history.row(other, "COURT ACTION", "2010-01-01", "459 PC-BURGLARY", "F", "CONVICTED", "FELONY")
    assert value(PossiblePleaBargain(), history, other) is False
    assert value(PossiblePleaBargain(), history, cnt_order) is False


def test_plea_bargain_arrest_charge_in_comment():
    history = History()
    cycle = history._next_cycle()
    history.row(f"{cycle}001001000", "ARREST/DETAINED/CITED", "2010-01-01", "SEE COMMENT FOR CHARGE",
                "F", comment="CHRG 11360 HS")
    cnt_order = f"{cycle}002001000"
    history.row(cnt_order, "COURT ACTION", "2010-02-01", "32 PC-ACCESSORY", "M", "CONVICTED", "MISDEMEANOR")
    assert value(PossiblePleaBargain(), history, cnt_order) is True


def test_plea_bargain_decoy_section_is_not_prop64():
    history = History()
    cnt_order = history.plea_bargain("11357.5(A) HS-SELL SYNTHETIC CANNABINOID", "32 PC-ACCESSORY",
                                     "2010-01-01")
    assert value(PossiblePleaBargain(), history, cnt_order) is False


# negate and if_unknown

def test_negate_turns_result_around():
    history, cnt_order = one_conviction(POSSESS)
    case = history.case(cnt_order)
    assert Deceased(negate=True).test(case)[:2] == (True, False)
    assert Deceased().test(case)[:2] == (False, False)


def test_negate_leaves_unknown_failing():
    history, cnt_order = one_conviction(POSSESS, born=None)
    case = history.case(cnt_order)
    assert AgeAtLeast(age=50).test(case)[:2] == (False, True)
    assert AgeAtLeast(age=50, negate=True).test(case)[:2] == (False, True)


def test_if_unknown_holds():
    history, cnt_order = one_conviction(POSSESS, born=None)
    case = history.case(cnt_order)
    assert AgeAtLeast(age=50, if_unknown="holds").test(case)[:2] == (True, True)
    assert AgeAtLeast(age=50, negate=True, if_unknown="holds").test(case)[:2] == (True, True)


def test_facts_never_name_the_person():
    history, cnt_order = one_conviction(POSSESS)
    case = history.case(cnt_order)
    for condition in (SectionIn(sections=("11357",)), AgeAtLeast(age=50), PriorSuperstrike(),
                      SentenceNotCompleted(), PossiblePleaBargain()):
        _, found = condition.evaluate(case)
        assert "DOE" not in found
        assert history.subject not in found

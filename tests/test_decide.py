"""Deciding Prop 64 convictions under a county policy, from fabricated histories.

Compute-at is 2019-11-11 throughout. The later tests pin each way the product
deliberately differs from the earlier tool, with the value the product must give.
"""

import datetime
import itertools

import pytest

from engine.batch import Settings, evaluate
from engine.sentences import sentence_end
from engine.county_rules import county_rules
from engine.naming import county_folder
from engine.policy import (
    AdditionalRelief, BaselineEligibility, CountyPolicy, PolicyError, decode_policy,
)
from engine.reader import ReadStats, iter_rows
from engine.summary import CountySummary
from tests.rows import (
    COMPUTE_AT, COUNTY, all_cells, conviction_row, evaluate_rows, evaluated_cells, make_row,
    read_rows,
)

DISMISSAL = "Eligible for Dismissal"
REDUCTION = "Eligible for Reduction"
NO_POLICY = CountyPolicy()


def make_policy(dismiss=(), reduce=(), **relief) -> CountyPolicy:
    baseline = BaselineEligibility(tuple(dismiss), tuple(reduce))
    return CountyPolicy(baseline, AdditionalRelief(**relief))


def decisions(lines, policy, county=COUNTY) -> list[tuple[str, str]]:
    """Return (determination, reason) of each decided conviction of a county, by CNT_ORDER."""
    result = evaluate_rows(lines, policy, county=county)
    records = sorted(result.decisions.get(county, []), key=lambda record: record.cnt_order)
    return [(record.determination, record.reason) for record in records]


def sale_felony(**overrides: bytes) -> bytes:
    """A felony 11359 conviction, relieved only by reducing 11359 or by extra relief."""
    return conviction_row(**{"OFFENSE_DESCR": b"11359 HS-POSSESS MARIJUANA FOR SALE", **overrides})


def burglary(**overrides: bytes) -> bytes:
    """A conviction that is not a Prop 64 charge, in another county."""
    columns = {"CNT_ORDER": b"201001001000", "OFFENSE_DESCR": b"459 PC-BURGLARY",
               "STP_ORI_CNTY_NAME": b"YOLO", "STP_EVENT_DATE": b"20050101"}
    return conviction_row(**{**columns, **overrides})


# The nine checks, each reached on its own.

def test_misdemeanor_dismissed():
    lines = [sale_felony(CONV_STAT_DESCR=b"MISDEMEANOR")]

    assert decisions(lines, NO_POLICY) == [(DISMISSAL, "Misdemeanor or Infraction")]


def test_infraction_dismissed():
    lines = [sale_felony(CONV_STAT_DESCR=b"INFRACTION")]

    assert decisions(lines, NO_POLICY) == [(DISMISSAL, "Misdemeanor or Infraction")]


def test_level_from_offense_type():
    misdemeanor = [sale_felony(CONV_STAT_DESCR=b"", OFFENSE_TOC=b"M")]
    felony = [sale_felony(CONV_STAT_DESCR=b"  ", OFFENSE_TOC=b"F ")]

    assert decisions(misdemeanor, NO_POLICY) == [(DISMISSAL, "Misdemeanor or Infraction")]
    assert decisions(felony, NO_POLICY) == [("", "")]


def test_dismiss_section_reason():
    lines = [conviction_row()]
    policy = make_policy(dismiss=["11357"])

    assert decisions(lines, policy) == [(DISMISSAL, "Dismiss all HS 11357 convictions")]


def test_under_21_dismissed():
    lines = [sale_felony(PRI_DOB=b"19900101", STP_EVENT_DATE=b"20101231")]
    policy = make_policy(subjectUnder21AtConviction=True)

    assert decisions(lines, policy) == [(DISMISSAL, "21 years or younger")]


def test_21st_birthday_not_under_21():
    lines = [sale_felony(PRI_DOB=b"19900101", STP_EVENT_DATE=b"20110101")]
    policy = make_policy(subjectUnder21AtConviction=True)

    assert decisions(lines, policy) == [("", "")]


def test_age_threshold_dismissed():
    lines = [sale_felony(PRI_DOB=b"19621111")]
    policy = make_policy(subjectAgeThreshold=57)

    assert decisions(lines, policy) == [(DISMISSAL, "57 years or older")]


def test_age_threshold_day_before():
    lines = [sale_felony(PRI_DOB=b"19621112")]
    policy = make_policy(subjectAgeThreshold=57)

    assert decisions(lines, policy) == [("", "")]


def test_years_since_conviction_dismissed():
    lines = [sale_felony(STP_EVENT_DATE=b"20091111")]
    policy = make_policy(yearsSinceConvictionThreshold=10)

    assert decisions(lines, policy) == [(DISMISSAL, "Conviction occurred 10 or more years ago")]


def test_years_since_one_day_short():
    lines = [sale_felony(STP_EVENT_DATE=b"20091112")]
    policy = make_policy(yearsSinceConvictionThreshold=10)

    assert decisions(lines, policy) == [("", "")]


def test_crime_free_dismissed():
    lines = [sale_felony(STP_EVENT_DATE=b"20080101"), burglary(STP_EVENT_DATE=b"20141110")]
    policy = make_policy(yearsCrimeFreeThreshold=5)

    assert decisions(lines, policy) == [(DISMISSAL, "No convictions in the past 5 years")]


def test_crime_free_other_county_conviction():
    # The most recent conviction counts whatever its county and charge.
    lines = [sale_felony(STP_EVENT_DATE=b"20080101"), burglary(STP_EVENT_DATE=b"20141111")]
    policy = make_policy(yearsCrimeFreeThreshold=5)

    assert decisions(lines, policy) == [("", "")]


def test_only_prop64_dismissed():
    lines = [sale_felony(), conviction_row(CNT_ORDER=b"102001001000",
                                           CONV_STAT_DESCR=b"MISDEMEANOR",
                                           STP_ORI_CNTY_NAME=b"YOLO")]
    policy = make_policy(subjectHasOnlyProp64Charges=True)

    assert decisions(lines, policy) == [(DISMISSAL, "Only has 11357-60 charges")]


def test_only_prop64_other_charge():
    lines = [sale_felony(), burglary()]
    policy = make_policy(subjectHasOnlyProp64Charges=True)

    assert decisions(lines, policy) == [("", "")]


def test_only_prop64_unreadable_charge():
    # A conviction whose charge yields no section is kept and counted, so it is not Prop 64.
    lines = [sale_felony(), burglary(OFFENSE_DESCR=b"SEE COMMENT FOR CHARGE", COMMENT_TEXT=b"")]
    policy = make_policy(subjectHasOnlyProp64Charges=True)
    result = evaluate_rows(lines, policy)

    assert [r.determination for r in result.decisions[COUNTY]] == [""]
    assert evaluated_cells(result)[0]["# of convictions on record"] == b"2"


def test_deceased_dismissed():
    death = make_row(SUBJECT_ID=b"100", CNT_ORDER=b"301001001000", STP_TYPE_DESCR=b"DECEASED",
                     STP_EVENT_DATE=b"20150101")
    lines = [sale_felony(), death]
    policy = make_policy(subjectIsDeceased=True)

    assert decisions(lines, policy) == [(DISMISSAL, "Individual is deceased")]


def test_reduce_section_reason():
    lines = [sale_felony()]
    policy = make_policy(reduce=["11359"])

    assert decisions(lines, policy) == [(REDUCTION, "Reduce all HS 11359 convictions")]


def test_no_check_holds():
    lines = [sale_felony()]
    policy = make_policy(dismiss=["11357"], reduce=["11360"])

    assert decisions(lines, policy) == [("", "")]


def test_reason_names_section():
    lines = [conviction_row(OFFENSE_DESCR=b"11360(A) HS-TRANSPORT MARIJUANA")]
    policy = make_policy(reduce=["11360"])

    assert decisions(lines, policy) == [(REDUCTION, "Reduce all HS 11360 convictions")]


# The order of the checks.

def test_checks_numbered_in_order():
    rules = county_rules(make_policy(dismiss=["11357"], reduce=["11358"])).rules
    assert len(rules) == 9
    assert [rule.determination for rule in rules] == ["Eligible for Dismissal"] * 8 + ["Eligible for Reduction"]


def test_misdemeanor_before_dismiss_section():
    lines = [conviction_row(CONV_STAT_DESCR=b"MISDEMEANOR")]
    policy = make_policy(dismiss=["11357"])

    assert decisions(lines, policy) == [(DISMISSAL, "Misdemeanor or Infraction")]


def test_under_21_before_years_since():
    lines = [sale_felony(PRI_DOB=b"19900101", STP_EVENT_DATE=b"20080101")]
    policy = make_policy(subjectUnder21AtConviction=True, yearsSinceConvictionThreshold=10)

    assert decisions(lines, policy) == [(DISMISSAL, "21 years or younger")]


def test_age_before_deceased():
    death = make_row(SUBJECT_ID=b"100", CNT_ORDER=b"301001001000", STP_TYPE_DESCR=b"DECEASED")
    lines = [sale_felony(PRI_DOB=b"19500101"), death]
    policy = make_policy(subjectAgeThreshold=60, subjectIsDeceased=True)

    assert decisions(lines, policy) == [(DISMISSAL, "60 years or older")]


def test_deceased_before_reduce():
    death = make_row(SUBJECT_ID=b"100", CNT_ORDER=b"301001001000", STP_TYPE_DESCR=b"DECEASED")
    lines = [sale_felony(), death]
    policy = make_policy(reduce=["11359"], subjectIsDeceased=True)

    assert decisions(lines, policy) == [(DISMISSAL, "Individual is deceased")]


def test_each_conviction_decided_alone():
    lines = [
        conviction_row(),
        sale_felony(CNT_ORDER=b"102001001000"),
        sale_felony(CNT_ORDER=b"103001001000", CONV_STAT_DESCR=b"MISDEMEANOR"),
    ]
    policy = make_policy(dismiss=["11357"], reduce=["11359"])

    assert decisions(lines, policy) == [
        (DISMISSAL, "Dismiss all HS 11357 convictions"),
        (REDUCTION, "Reduce all HS 11359 convictions"),
        (DISMISSAL, "Misdemeanor or Infraction"),
    ]


def test_sentence_part_rows_not_convictions():
    lines = [
        sale_felony(SENT_LOC_DESCR=b"JAIL", SENT_LENGTH=b"30", SENT_TIME_CODE=b"D"),
        sale_felony(SENT_LOC_DESCR=b"PROBATION", SENT_LENGTH=b"3", SENT_TIME_CODE=b"Y"),
    ]
    result = evaluate_rows(lines, make_policy(reduce=["11359"]))

    assert len(result.decisions[COUNTY]) == 1
    assert evaluated_cells(result)[0]["# of convictions on record"] == b"1"


def test_first_conviction_row_of_count():
    lines = [
        sale_felony(DISP_DESCR=b"DISMISSED/CHARGE DROPPED"),
        sale_felony(CONV_STAT_DESCR=b"MISDEMEANOR", DISP_DESCR=b"CONVICTED-JAIL"),
        sale_felony(DISP_DESCR=b"CONVICTED"),
    ]
    result = evaluate_rows(lines, NO_POLICY)
    determinations = [cells["Eligibility Determination"] for cells in all_cells(result)]

    assert determinations == [b"", DISMISSAL.encode(), b""]


def test_birth_date_from_first_row():
    lines = [sale_felony(PRI_DOB=b"19500101"),
             sale_felony(CNT_ORDER=b"102001001000", PRI_DOB=b"19900101")]
    policy = make_policy(subjectAgeThreshold=60)

    assert decisions(lines, policy) == [(DISMISSAL, "60 years or older")] * 2


def test_leap_day_birth_under_21():
    policy = make_policy(subjectUnder21AtConviction=True)
    day_before = [sale_felony(PRI_DOB=b"20000229", STP_EVENT_DATE=b"20210228")]
    birthday = [sale_felony(PRI_DOB=b"20000229", STP_EVENT_DATE=b"20210301")]

    # The 21st birthday of someone born on February 29, 2000 is March 1, 2021.
    assert decisions(day_before, policy) == [(DISMISSAL, "21 years or younger")]
    assert decisions(birthday, policy) == [("", "")]


def test_leap_day_compute_at_years_since():
    policy = make_policy(yearsSinceConvictionThreshold=10)
    compute_at = datetime.date(2020, 2, 29)
    on_cutoff = evaluate_rows([sale_felony(STP_EVENT_DATE=b"20100301")], policy, compute_at)
    after_cutoff = evaluate_rows([sale_felony(STP_EVENT_DATE=b"20100302")], policy, compute_at)

    # Compute-at 2020-02-29 minus 10 years is 2010-03-01.
    assert on_cutoff.decisions[COUNTY][0].reason == "Conviction occurred 10 or more years ago"
    assert after_cutoff.decisions[COUNTY][0].reason == ""


def test_other_county_not_decided():
    lines = [sale_felony(STP_ORI_CNTY_NAME=b"YOLO")]

    assert decisions(lines, make_policy(reduce=["11359"])) == []


def test_dismissed_count_not_decided():
    lines = [sale_felony(DISP_DESCR=b"DISMISSED/CHARGE DROPPED")]

    assert decisions(lines, make_policy(reduce=["11359"])) == []


# Where the product deliberately differs from the earlier tool.

@pytest.mark.parametrize("birth", [b"", b"00000000", b"19700230"],
                         ids=["blank", "zero", "impossible"])
def test_unknown_birth_date_no_age_relief(birth):
    lines = [sale_felony(PRI_DOB=birth, STP_EVENT_DATE=b"20100101")]
    policy = make_policy(subjectUnder21AtConviction=True, subjectAgeThreshold=40)

    assert decisions(lines, policy) == [("", "")]


@pytest.mark.parametrize("disposition", [b"", b"00000000", b"20190230"],
                         ids=["blank", "zero", "impossible"])
def test_unknown_disposition_no_date_relief(disposition):
    lines = [sale_felony(PRI_DOB=b"19990101", STP_EVENT_DATE=disposition)]
    policy = make_policy(subjectUnder21AtConviction=True, yearsSinceConvictionThreshold=10)

    assert decisions(lines, policy) == [("", "")]


def test_undated_conviction_no_crime_free():
    lines = [sale_felony(STP_EVENT_DATE=b"")]

    assert decisions(lines, make_policy(yearsCrimeFreeThreshold=5)) == [("", "")]


def test_undated_conviction_not_most_recent():
    lines = [sale_felony(STP_EVENT_DATE=b"20000101"), burglary(STP_EVENT_DATE=b"")]

    assert decisions(lines, make_policy(yearsCrimeFreeThreshold=5)) == [
        (DISMISSAL, "No convictions in the past 5 years")]


def test_last_7_years_from_compute_at():
    # Dated within 7 years of compute-at but long before any run of this test.
    lines = [conviction_row(CONV_STAT_DESCR=b"MISDEMEANOR", STP_EVENT_DATE=b"20130101")]
    result = evaluate_rows(lines, NO_POLICY)
    relief = result.summaries[COUNTY].relief_current

    assert relief["CountSubjectsNoConvictionLast7Years"] == 1


def test_last_7_years_boundary_day():
    lines = [conviction_row(CONV_STAT_DESCR=b"MISDEMEANOR", STP_EVENT_DATE=b"20121111")]
    result = evaluate_rows(lines, NO_POLICY)
    relief = result.summaries[COUNTY].relief_current

    assert relief["CountSubjectsNoConvictionLast7Years"] == 0
    assert relief["CountSubjectsNoConviction"] == 1


def test_last_7_years_counts_later_dates():
    lines = [conviction_row(CONV_STAT_DESCR=b"MISDEMEANOR", STP_EVENT_DATE=b"20130101"),
             burglary(STP_EVENT_DATE=b"20200601")]
    result = evaluate_rows(lines, NO_POLICY)
    relief = result.summaries[COUNTY].relief_current

    assert relief["CountSubjectsNoConvictionLast7Years"] == 0


def test_last_7_years_dismiss_all():
    lines = [conviction_row(STP_EVENT_DATE=b"20150101")]
    result = evaluate_rows(lines, NO_POLICY)
    summary = result.summaries[COUNTY]

    assert summary.relief_current["CountSubjectsNoConvictionLast7Years"] == 0
    assert summary.relief_dismiss_all["CountSubjectsNoConvictionLast7Years"] == 1


def test_bad_rows_set_aside():
    header = b"RECORD_ID,SUBJECT_STATUS,SUBJECT_ID\r\n"
    good = conviction_row() + b"\r\n"
    lines = [
        header,
        good,
        b"\r\n",
        conviction_row().rsplit(b",", 1)[0] + b"\r\n",
        conviction_row(CNT_ORDER=b"10100") + b"\r\n",
        conviction_row(SUBJECT_ID=b"   ") + b"\r\n",
        conviction_row(PRI_NAME=b"DOE,JANE Q").replace(b'"DOE,JANE Q"', b'"DOE,JANE Q') + b"\r\n",
        conviction_row(CNT_ORDER=b"102001001000") + b"\r\n",
    ]
    kept, rejected = read_rows(lines)

    assert [(r.line, r.reason) for r in rejected] == [
        (4, "row has 94 fields; expected 95"),
        (5, "CNT_ORDER is shorter than 6 characters"),
        (6, "SUBJECT_ID is blank"),
        (7, "a quoted field is still open at the end of the line"),
    ]
    assert [cells[50] for _, _, cells in kept] == [b"101001001000", b"102001001000"]


def test_nbsp_subject_set_aside():
    kept, rejected = read_rows([conviction_row(SUBJECT_ID=b"\xa0")])

    assert [r.reason for r in rejected] == ["SUBJECT_ID is blank"]


def test_open_quote_keeps_next_line():
    opened = conviction_row().replace(b'"DOE,JANE Q"', b'"DOE,JANE Q')
    kept, rejected = read_rows([opened + b"\n", conviction_row(CNT_ORDER=b"102001001000") + b"\n"])

    assert [r.line for r in rejected] == [1]
    assert len(kept) == 1
    assert kept[0][2][50] == b"102001001000"


def test_sentence_end_calendar_year():
    disposition = datetime.date(2019, 1, 1)

    # 366 days would end on 2020-01-02, and 12 months of 30.5 days on 2019-12-31.
    assert sentence_end(disposition, [(1, "Y")]) == datetime.date(2020, 1, 1)
    assert sentence_end(disposition, [(12, "M")]) == datetime.date(2020, 1, 1)


def test_superstrike_lists_informational_only():
    lines = [
        burglary(CNT_ORDER=b"201001001000", OFFENSE_DESCR=b"237 PC-FALSE IMPRISONMENT"),
        burglary(CNT_ORDER=b"202001001000", OFFENSE_DESCR=b"187(A) PC-MURDER"),
        burglary(CNT_ORDER=b"203001001000", OFFENSE_DESCR=b"288(A) PC-LEWD ACT"),
        sale_felony(),
    ]
    result = evaluate_rows(lines, make_policy(reduce=["11359"]))
    cells = evaluated_cells(result)[0]

    assert cells["Superstrike Code Section(s)"] == b"187(A) PC;288(A) PC"
    assert cells["PC290 Code Section(s)"] == b"288(A) PC"
    assert cells["Eligibility Determination"] == REDUCTION.encode()


def test_synthetic_cannabinoid_not_decided():
    lines = [conviction_row(OFFENSE_DESCR=b"11357.5(A) HS-SELL SYNTHETIC CANNABINOID")]

    assert decisions(lines, make_policy(dismiss=["11357"])) == []


def test_padded_blank_charge_reads_comment():
    lines = [conviction_row(OFFENSE_DESCR=b" " * 50, COMMENT_TEXT=b":CHRG 11358 HS")]
    result = evaluate_rows(lines, make_policy(reduce=["11358"]))

    assert [r.reason for r in result.decisions[COUNTY]] == ["Reduce all HS 11358 convictions"]
    assert evaluated_cells(result)[0]["Possible Other P64 Charges"] == b""


def test_padded_felony_level_read():
    lines = [sale_felony(CONV_STAT_DESCR=b"FELONY   ")]

    assert decisions(lines, make_policy(reduce=["11359"])) == [
        (REDUCTION, "Reduce all HS 11359 convictions")]


def test_padded_disposition_read():
    lines = [sale_felony(DISP_DESCR=b" CONVICTED-PROBATION ")]

    assert decisions(lines, make_policy(reduce=["11359"])) == [
        (REDUCTION, "Reduce all HS 11359 convictions")]


def test_registration_charge_in_comment():
    registration = make_row(SUBJECT_ID=b"100", CNT_ORDER=b"401001001000",
                            STP_TYPE_DESCR=b"REGISTRATION", OFFENSE_DESCR=b"SEE COMMENT FOR CHARGE",
                            COMMENT_TEXT=b"CHRG 290 PC-REGISTRATION OF SEX OFFENDER")
    result = evaluate_rows([sale_felony(), registration])

    assert evaluated_cells(result)[0]["PC290 Registration"] == b"Yes"


def test_padded_date_read():
    lines = [sale_felony(STP_EVENT_DATE=b" 20100102  ")]
    cells = evaluated_cells(evaluate_rows(lines))[0]

    assert cells["Date of Conviction"] == b"01/02/2010"


def test_unknown_date_cells_empty():
    cells = evaluated_cells(evaluate_rows([sale_felony(STP_EVENT_DATE=b"00000000")]))[0]

    assert cells["Date of Conviction"] == b""
    assert cells["Occurred after 11/9/2016"] == b""
    assert cells["Years Since This Conviction"] == b"-1.0"
    assert cells["Years Since Any Conviction"] == b"-1.0"


def test_earliest_conviction_skips_unknown():
    lines = [
        sale_felony(STP_EVENT_DATE=b""),
        sale_felony(SUBJECT_ID=b"200", STP_EVENT_DATE=b"20120304"),
        sale_felony(SUBJECT_ID=b"300", STP_EVENT_DATE=b"20130101"),
    ]
    summary = evaluate_rows(lines).summaries[COUNTY]
    document = summary.to_json(county_rules(make_policy()), 3)

    assert document["earliestConviction"] == "2012-03-04T00:00:00Z"


def test_earliest_conviction_all_unknown():
    summary = evaluate_rows([sale_felony(STP_EVENT_DATE=b"")]).summaries[COUNTY]

    assert summary.to_json(county_rules(make_policy()), 1)["earliestConviction"] is None


def test_earliest_conviction_no_convictions():
    assert CountySummary(COUNTY).to_json(county_rules(make_policy()), 0)["earliestConviction"] is None


def test_misspelt_policy_key_rejected():
    document = b'{"additionalRelief": {"subjectAgeThreshhold": 57}}'

    with pytest.raises(PolicyError, match="subjectAgeThreshhold"):
        decode_policy(document, "county.json")


def test_files_form_one_data_set():
    first_file = [sale_felony(), make_row(SUBJECT_ID=b"200", CNT_ORDER=b"101001001000",
                                          STP_TYPE_DESCR=b"ARREST/DETAINED/CITED")]
    second_file = [burglary(), sale_felony(SUBJECT_ID=b"200", STP_EVENT_DATE=b"20110101")]
    rejected = []
    rows = itertools.chain(
        iter_rows(first_file, 4, ReadStats(), rejected, header_allowed=True),
        iter_rows(second_file, 9, ReadStats(), rejected, header_allowed=True),
    )
    policy = make_policy(subjectHasOnlyProp64Charges=True)
    settings = Settings(COMPUTE_AT, county_rules(policy), {}, frozenset({county_folder(COUNTY)}), True)
    result = evaluate(rows, settings)
    records = {record.subject: record for record in result.decisions[COUNTY]}

    assert rejected == []
    assert records["100"].conviction_count == 2
    assert records["100"].determination == ""
    assert records["200"].determination == DISMISSAL
    assert [key >> 32 for key, _ in result.all_lines] == [4, 4, 9, 9]
    assert [key for key, _ in result.all_lines] == sorted(key for key, _ in result.all_lines)
    assert result.summaries[COUNTY].subjects_with_prop64 == 2


def test_text_after_closing_quote_kept():
    odd = conviction_row().replace(b'"DOE,JANE Q"', b'"DOE,JANE Q"X')
    kept, rejected = read_rows([odd + b"\n"])

    assert rejected == []
    assert kept[0][2][12] == b"DOE,JANE QX"


def test_blank_county_conviction_counted():
    # No county decides a conviction without a county; the run still counts it.
    result = evaluate_rows([conviction_row(STP_ORI_CNTY_NAME=b"")])

    assert result.prop64_without_county == 1
    assert evaluated_cells(result) == []

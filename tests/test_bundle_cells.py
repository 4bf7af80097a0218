"""Eligibility cells of the county bundle, from fabricated histories.

Compute-at is 2019-11-11 and the county SAN JOAQUIN throughout.
"""

import pytest

from engine.bundle import possible_other_p64
from tests.rows import all_cells, conviction_row, evaluate_rows, evaluated_cells, make_row


def court_row(cnt_order: bytes, ofn: bytes, **overrides: bytes) -> bytes:
    """A court action on a count that is not a conviction, carrying a case number."""
    columns = {"SUBJECT_ID": b"100", "CNT_ORDER": cnt_order, "STP_TYPE_DESCR": b"COURT ACTION",
               "OFN": ofn, "DISP_DESCR": b"DISMISSED/CHARGE DROPPED",
               "STP_ORI_CNTY_NAME": b"SAN JOAQUIN", "OFFENSE_DESCR": b"148 PC-RESIST"}
    return make_row(**{**columns, **overrides})


def first_evaluated(lines) -> dict[str, bytes]:
    return evaluated_cells(evaluate_rows(lines))[0]


# Possible Other P64 Charges

@pytest.mark.parametrize("offense_descr, comment", [
    (b"148 PC-RESIST", b"11357(A) HS"),
    (b"148 PC-RESIST", b"CHRG 11360 HS-SELL"),
    (b"11357 HS-POSSESS", b"11359 HS"),
    (b"11358 HS-CULTIVATE", b"11357(C) HS"),
    (b"11357(A) HS-POSSESS", b"11357(C) HS"),
    (b"11357(B) HS-POSSESS", b"11357(D) HS"),
    (b"11357(C) HS-POSSESS", b"11357(A) HS"),
    (b"11357(D) HS-POSSESS", b"11357(B) HS"),
    (b"11357 (C) HS-POSSESS", b"11357(a)"),
    (b"11357A HS-POSSESS", b"11357 (C) HS"),
    (b"11357 HS-POSSESS", b"11357(A) HS"),
    (b"11357 HS-POSSESS", b"11357(E)"),
    (b"X", b"11358 HS"),
], ids=["other-charge", "comment-lead", "other-section", "11358-vs-11357", "a-vs-c", "b-vs-d",
        "c-vs-a", "d-vs-b", "lower-case-a", "glued-a-vs-c", "only-comment-a", "only-comment-e",
        "filler-charge"])
def test_other_p64_comment_flagged(offense_descr, comment):
    assert possible_other_p64(offense_descr, comment) == comment


@pytest.mark.parametrize("offense_descr, comment", [
    (b"11357 HS-POSSESS", b"11357 HS"),
    (b"11357(A) HS-POSSESS", b"11357(A) HS"),
    (b"11357(A) HS-POSSESS", b"11357(B) HS"),
    (b"11357(C) HS-POSSESS", b"11357(D) HS"),
    (b"11357(A) HS-POSSESS", b"11357 HS"),
    (b"11357(A) HS-POSSESS", b"11357(E) HS"),
    (b"11358(A) HS-CULTIVATE", b"11358(C) HS"),
    (b"11360 HS-SELL", b"11360(A) HS"),
    (b"148 PC-RESIST", b"SEE REPORT 148"),
    (b"148 PC-RESIST", b"11357.5 HS"),
    (b"148 PC-RESIST", b""),
    (b"148 PC-RESIST", b"   "),
    (b"SEE COMMENT FOR CHARGE", b"11357(A) HS"),
    (b"", b"11357(A) HS"),
    (b" \xa0 ", b"11357(A) HS"),
    (b" " * 50, b"11357(A) HS"),
], ids=["same-section", "same-subsection", "a-vs-b", "c-vs-d", "only-charge-a", "a-vs-e",
        "11358-subsections", "11360-subsection", "no-p64-in-comment", "synthetic", "empty",
        "blank", "see-comment", "charge-empty", "charge-nbsp", "charge-long-blank"])
def test_other_p64_comment_not_flagged(offense_descr, comment):
    assert possible_other_p64(offense_descr, comment) == b""


def test_other_p64_comment_as_written():
    comment = b"  chrg 11359 hs, per docket "
    cells = all_cells(evaluate_rows([conviction_row(OFFENSE_DESCR=b"148 PC-RESIST",
                                                    COMMENT_TEXT=comment)]))

    assert cells[0]["Possible Other P64 Charges"] == comment


def test_other_p64_on_unevaluated_row():
    arrest = make_row(SUBJECT_ID=b"100", CNT_ORDER=b"101001000000",
                      STP_TYPE_DESCR=b"ARREST/DETAINED/CITED", OFFENSE_DESCR=b"148 PC-RESIST",
                      COMMENT_TEXT=b"11357(A) HS")
    cells = all_cells(evaluate_rows([arrest]))

    assert cells[0]["Possible Other P64 Charges"] == b"11357(A) HS"
    assert cells[0]["Eligibility Determination"] == b""
    assert cells[0]["Case Number"] == b""


def test_other_p64_on_evaluated_row():
    lines = [conviction_row(OFFENSE_DESCR=b"11357(A) HS-POSSESS", COMMENT_TEXT=b"11357(C) HS")]

    assert first_evaluated(lines)["Possible Other P64 Charges"] == b"11357(C) HS"


# Case Number

def test_case_numbers_joined_distinct():
    lines = [
        court_row(b"101001002000", b"CASE-B"),
        conviction_row(OFN=b"CASE-A"),
        court_row(b"101001003000", b"CASE-B"),
        court_row(b"101001004000", b"CASE-C"),
    ]

    assert first_evaluated(lines)["Case Number"] == b"CASE-B; CASE-A; CASE-C"


def test_case_number_any_disposition_county():
    lines = [
        conviction_row(OFN=b""),
        court_row(b"101001002000", b"CASE-Y", STP_ORI_CNTY_NAME=b"YOLO"),
        court_row(b"101001003000", b"CASE-D", DISP_DESCR=b"CONVICTED"),
    ]

    assert first_evaluated(lines)["Case Number"] == b"CASE-Y; CASE-D"


def test_case_number_all_space_kept():
    lines = [conviction_row(OFN=b"   "), court_row(b"101001002000", b"NULL  ")]

    assert first_evaluated(lines)["Case Number"] == b"   ; NULL  "


def test_case_number_empty_skipped():
    lines = [conviction_row(OFN=b""), court_row(b"101001002000", b"")]

    assert first_evaluated(lines)["Case Number"] == b""


def test_case_number_other_case_excluded():
    lines = [
        conviction_row(OFN=b"CASE-A"),
        court_row(b"101002001000", b"CASE-OTHER-STEP"),
        court_row(b"102001001000", b"CASE-OTHER-CYCLE"),
        make_row(SUBJECT_ID=b"100", CNT_ORDER=b"101001005000", OFN=b"ARREST-OFN",
                 STP_TYPE_DESCR=b"ARREST/DETAINED/CITED"),
        court_row(b"101001006000", b"OTHER-PERSON", SUBJECT_ID=b"200"),
    ]

    assert first_evaluated(lines)["Case Number"] == b"CASE-A"


def test_case_number_with_comma():
    lines = [conviction_row(OFN=b"CASE,1"), court_row(b"101001002000", b"CASE 2")]

    assert first_evaluated(lines)["Case Number"] == b"CASE,1; CASE 2"


# Superstrike and PC 290 code sections

def test_superstrike_column_keeps_duplicates():
    lines = [
        conviction_row(),
        conviction_row(CNT_ORDER=b"201001001000", OFFENSE_DESCR=b"187 PC -MURDER",
                       STP_ORI_CNTY_NAME=b"YOLO"),
        conviction_row(CNT_ORDER=b"202001001000", OFFENSE_DESCR=b"187 PC -MURDER"),
        conviction_row(CNT_ORDER=b"203001001000", OFFENSE_DESCR=b"187-664 PC-ATTEMPTED MURDER"),
    ]

    assert first_evaluated(lines)["Superstrike Code Section(s)"] == b"187 PC ;187 PC ;187-664 PC"


def test_superstrike_from_comment():
    lines = [conviction_row(),
             conviction_row(CNT_ORDER=b"201001001000", OFFENSE_DESCR=b"SEE COMMENT FOR CHARGE",
                            COMMENT_TEXT=b":CHRG 207 PC-KIDNAPPING")]

    assert first_evaluated(lines)["Superstrike Code Section(s)"] == b"207 PC"


def test_superstrike_column_none():
    lines = [conviction_row(), conviction_row(CNT_ORDER=b"201001001000", OFFENSE_DESCR=b"237 PC")]

    assert first_evaluated(lines)["Superstrike Code Section(s)"] == b"-"


def test_superstrike_needs_conviction():
    lines = [conviction_row(),
             court_row(b"201001001000", b"CASE-M", OFFENSE_DESCR=b"187 PC-MURDER")]

    assert first_evaluated(lines)["Superstrike Code Section(s)"] == b"-"


def test_pc290_column_joined():
    lines = [
        conviction_row(CNT_ORDER=b"201001001000", OFFENSE_DESCR=b"288(A) PC-LEWD ACT"),
        conviction_row(),
        conviction_row(CNT_ORDER=b"202001001000", OFFENSE_DESCR=b"314(1) PC-INDECENT EXPOSURE"),
        conviction_row(CNT_ORDER=b"203001001000", OFFENSE_DESCR=b"288(A) PC-LEWD ACT"),
    ]
    cells = first_evaluated(lines)

    assert cells["PC290 Code Section(s)"] == b"288(A) PC;314(1) PC;288(A) PC"
    assert cells["Superstrike Code Section(s)"] == b"288(A) PC;288(A) PC"


def test_pc290_column_none():
    assert first_evaluated([conviction_row()])["PC290 Code Section(s)"] == b"-"


def test_pc290_registration_cell():
    registration = make_row(SUBJECT_ID=b"100", CNT_ORDER=b"401001001000",
                            STP_TYPE_DESCR=b"REGISTRATION", OFFENSE_DESCR=b"290 PC-REGISTRATION")

    assert first_evaluated([conviction_row(), registration])["PC290 Registration"] == b"Yes"
    assert first_evaluated([conviction_row()])["PC290 Registration"] == b"-"


def test_other_registration_not_pc290():
    registration = make_row(SUBJECT_ID=b"100", CNT_ORDER=b"401001001000",
                            STP_TYPE_DESCR=b"REGISTRATION", OFFENSE_DESCR=b"11590 HS-REGISTRATION")

    assert first_evaluated([conviction_row(), registration])["PC290 Registration"] == b"-"


# Dates and years

@pytest.mark.parametrize("disposition, expected", [
    (b"20091111", b"10.0"),
    (b"20190511", b"0.5"),
    (b"20191111", b"0.0"),
    (b"20210511", b"-1.5"),
    (b"19991111", b"20.0"),
], ids=["ten-years", "half-year", "same-day", "after-compute-at", "twenty-years"])
def test_years_since_conviction(disposition, expected):
    cells = first_evaluated([conviction_row(STP_EVENT_DATE=disposition)])

    assert cells["Years Since This Conviction"] == expected


def test_years_since_any_conviction():
    lines = [
        conviction_row(STP_EVENT_DATE=b"20091111"),
        conviction_row(CNT_ORDER=b"201001001000", OFFENSE_DESCR=b"459 PC-BURGLARY",
                       STP_ORI_CNTY_NAME=b"YOLO", STP_EVENT_DATE=b"20190511"),
        conviction_row(CNT_ORDER=b"202001001000", OFFENSE_DESCR=b"459 PC-BURGLARY",
                       STP_EVENT_DATE=b""),
    ]
    cells = first_evaluated(lines)

    assert cells["Years Since This Conviction"] == b"10.0"
    assert cells["Years Since Any Conviction"] == b"0.5"


@pytest.mark.parametrize("disposition, expected", [
    (b"20161109", b"N"),
    (b"20161110", b"Y"),
    (b"20100101", b"N"),
    (b"", b""),
])
def test_occurred_after_election(disposition, expected):
    cells = first_evaluated([conviction_row(STP_EVENT_DATE=disposition)])

    assert cells["Occurred after 11/9/2016"] == expected


def test_date_of_conviction_format():
    cells = first_evaluated([conviction_row(STP_EVENT_DATE=b"20090704")])

    assert cells["Date of Conviction"] == b"07/04/2009"


# Counts and flags

def test_conviction_counts():
    lines = [
        conviction_row(),
        conviction_row(CNT_ORDER=b"101001002000", OFFENSE_DESCR=b"11357(C) HS-POSSESS"),
        conviction_row(CNT_ORDER=b"102001001000", OFFENSE_DESCR=b"11360 HS-SELL",
                       STP_ORI_CNTY_NAME=b"YOLO"),
        conviction_row(CNT_ORDER=b"103001001000", OFFENSE_DESCR=b"11357.5 HS-SYNTHETIC"),
        conviction_row(CNT_ORDER=b"104001001000", OFFENSE_DESCR=b"459 PC-BURGLARY"),
    ]
    cells = first_evaluated(lines)

    assert cells["# of convictions on record"] == b"5"
    assert cells["# of Prop 64 convictions"] == b"3"
    assert cells["# of HS 11357 convictions"] == b"2"
    assert cells["# of HS 11358 convictions"] == b"0"
    assert cells["# of HS 11359 convictions"] == b"0"
    assert cells["# of HS 11360 convictions"] == b"1"


def test_deceased_cell():
    death = make_row(SUBJECT_ID=b"100", CNT_ORDER=b"301001001000", STP_TYPE_DESCR=b"DECEASED")

    assert first_evaluated([conviction_row(), death])["Deceased"] == b"Deceased"
    assert first_evaluated([conviction_row()])["Deceased"] == b"-"


def test_unevaluated_row_cells_empty():
    lines = [conviction_row(CNT_ORDER=b"201001001000", OFFENSE_DESCR=b"459 PC-BURGLARY")]
    cells = all_cells(evaluate_rows(lines))[0]

    assert set(cells.values()) == {b""}


def test_other_p64_without_prop64_conviction():
    # A person whose only conviction is another charge is never read in full; the
    # comment of their row is still flagged in All_Results.
    row = conviction_row(OFFENSE_DESCR=b"503 VC-TAKE CAR", COMMENT_TEXT=b"CHRG 11358 HS")
    result = evaluate_rows([row])

    assert all_cells(result)[0]["Possible Other P64 Charges"] == b"CHRG 11358 HS"
    assert evaluated_cells(result) == []

"""Reading a charge: code-section text, section numbers, subsections and codes."""

import pytest

from engine.charges import (
    charge_field, charge_is_in_comment, code_section_text, parse_sections, prop64_section,
)


def sections_of(charge: bytes) -> list[tuple[str, tuple[str, ...], str]]:
    """Return (number, subsections, code) of each section a charge names."""
    return [(s.number, s.subsections, s.code) for s in parse_sections(code_section_text(charge))]


@pytest.mark.parametrize("charge, expected", [
    (b"11357(C)HS-POSSESS MARIJUANA", [("11357", ("C",), "HS")]),
    (b"11357 (A) HS-POSSESS MARIJUANA", [("11357", ("A",), "HS")]),
    (b"11357(a)HS-POSSESS MARIJUANA", [("11357", ("A",), "HS")]),
    (b"11357A HS-POSSESS MARIJUANA", [("11357", ("A",), "HS")]),
    (b"11357B2 HS-POSSESS MARIJUANA", [("11357", ("B", "2"), "HS")]),
    (b"HS11360-SELL MARIJUANA", [("11360", (), "HS")]),
    (b"11360(B) SELL/FURNISH/ETC", [("11360", ("B",), "")]),
    (b"11359 PC-POSSESS FOR SALE", [("11359", (), "PC")]),
    (b"187-664 PC-ATTEMPTED MURDER", [("187", (), "PC")]),
    (b"664/187 PC", [("187", (), "PC")]),
    (b"66411357(A) HS", [("11357", ("A",), "HS")]),
    (b"519-186.22(B)(4) PC-EXTORTION", [("519", (), "PC"), ("186.22", ("B", "4"), "PC")]),
    (b"484(A)/490.5 PC-PETTY THEFT", [("484", ("A",), "PC"), ("490.5", (), "PC")]),
    (b"11357.5(A) HS-SELL SYNTHETIC CANNABINOID", [("11357.5", ("A",), "HS")]),
])
def test_charge_table_reading(charge, expected):
    assert sections_of(charge) == expected


def test_synthetic_cannabinoid_not_prop64():
    sections = parse_sections(code_section_text(b"11357.5(A) HS-SELL SYNTHETIC CANNABINOID"))

    assert prop64_section(sections) is None


def test_miscoded_prop64_still_prop64():
    sections = parse_sections(code_section_text(b"11359 PC-POSSESS FOR SALE"))

    assert prop64_section(sections).number == "11359"


def test_section_number_compares_whole():
    assert sections_of(b"1187 PC-CONTEMPT")[0][0] == "1187"
    assert sections_of(b"187 PC-MURDER")[0][0] == "187"


def test_attempt_marker_not_section():
    numbers = [number for number, _, _ in sections_of(b"187-664 PC-ATTEMPTED MURDER")]

    assert "664" not in numbers
    assert "187664" not in numbers


@pytest.mark.parametrize("charge, expected", [
    (b"187 PC -MURDER", b"187 PC "),
    (b"187-664 PC-ATTEMPTED MURDER", b"187-664 PC"),
    (b"11357(C)HS-POSSESS MARIJUANA", b"11357(C)HS"),
    (b" 148 PC - RESISTING A PEACE OFFICER", b" 148 PC "),
    (b"11360(B) SELL/FURNISH/ETC", b"11360(B) SELL/FURNISH/ETC"),
])
def test_code_section_text_as_written(charge, expected):
    assert code_section_text(charge) == expected


@pytest.mark.parametrize("offense_descr", [
    b"SEE COMMENT FOR CHARGE",
    b"see comment for charge",
    b"  SEE COMMENT FOR CHARGE   ",
    b"SEE COMMENT FOR CHARGE" + b" " * 40,
    b"",
    b"   ",
    b"\xa0",
    b" \xa0 \t",
    b" " * 60,
], ids=["upper", "lower", "padded", "long-padded", "empty", "spaces", "nbsp",
        "mixed-blank", "long-blank"])
def test_charge_deferred_to_comment(offense_descr):
    assert charge_is_in_comment(offense_descr)


@pytest.mark.parametrize("offense_descr", [
    b"11358 HS-CULTIVATE",
    b"SEE COMMENT",
    b"x",
    b"SEE COMMENT FOR CHARGE 11358",
])
def test_charge_kept_in_offense_field(offense_descr):
    assert not charge_is_in_comment(offense_descr)


@pytest.mark.parametrize("comment", [b":CHRG 11358 HS", b"CHRG 11358 HS"])
def test_comment_lead_dropped(comment):
    charge, from_comment = charge_field(b"SEE COMMENT FOR CHARGE", comment)

    assert from_comment
    assert charge == b"11358 HS"
    assert sections_of(charge) == [("11358", (), "HS")]


def test_blank_offense_reads_comment():
    charge, from_comment = charge_field(b" \xa0 ", b"CHRG 11359 HS-POSSESS FOR SALE")

    assert from_comment
    assert sections_of(charge) == [("11359", (), "HS")]


def test_comment_ignored_when_charge_given():
    charge, from_comment = charge_field(b"148 PC-RESIST", b"CHRG 11358 HS")

    assert not from_comment
    assert charge == b"148 PC-RESIST"


def test_charge_without_section_number():
    assert sections_of(b"SEE ATTACHED-UNKNOWN") == []

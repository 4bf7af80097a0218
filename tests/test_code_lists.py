"""The superstrike and PC 290 registrable lists, one test per entry.

The entries are written out here, not imported from the engine, so a change to the
engine's lists fails here until this copy agrees. An entry ending in `+`
covers the section with any subsections or none; any other entry covers exactly its
section and subsection path.
"""

import pytest

from engine.charges import code_section_text, parse_sections
from engine.code_lists import is_pc290_registrable, is_superstrike

SUPERSTRIKE_ANY_SUBSECTION = [
    "187", "188", "189", "189.1", "189.5", "190",
    *(f"190.{n}" for n in range(1, 100)),
    "191", "191.5", "261", "262", "273AB",
]
SUPERSTRIKE_EXACT = [
    "37", "128", "205", "207", "209", "209.5", "217.1", "218", "219", "220", "245(D)(3)",
    "264.1", "269", "286", "286(C)(1)", "286(C)(2)", "286(C)(3)",
    *(f"286(C)({n})({letter})" for n in (1, 2, 3) for letter in "ABC"),
    "286(D)(1)", "286(D)(2)", "286(D)(3)", "287", "288", "288(A)", "288(B)(1)",
    "288(B)(2)", "288A", "288A(C)(1)", "288A(C)(2)(A)", "288A(C)(2)(B)", "288A(C)(2)(C)",
    "288A(D)", "288.5", "288.5(A)", "289", "289(A)(1)(A)", "289(A)(1)(B)",
    "289(A)(1)(C)", "289(A)(2)(C)", "289(J)", "451.5", "653F", "667.61", "667.7",
    "667.71", "4500", "11418(A)(1)", "11418(B)(1)", "11418(B)(2)", "12308", "12310",
    "18745", "18755",
]
GANG_ENHANCED = ["136.1", "215", "213(A)(1)(A)", "246", "519", "12022.55"]

PC290_ANY_SUBSECTION = [
    "236.1(B)", "236.1(C)", "243.4", "261", "264.1", "266H(B)", "266I(B)", "269", "286",
    "288", "288A", "288.2", "288.3", "288.4", "288.5", "288.7", "289", "311.1", "311.3",
    "311.4", "311.10", "311.11", "647.6", "647A",
]
PC290_EXACT = [
    "262(A)", "262(A)(1)", "266", "266C", "266J", "267", "272", "285", "287", "311.2(B)",
    "311.2(C)", "311.2(D)", "314(1)", "314(2)", "451.5", "653F(B)", "653F(C)",
]


def superstrike(charge: bytes) -> bool:
    return is_superstrike(parse_sections(code_section_text(charge)))


def registrable(charge: bytes) -> bool:
    return is_pc290_registrable(parse_sections(code_section_text(charge)))


@pytest.mark.parametrize("entry", SUPERSTRIKE_ANY_SUBSECTION)
def test_superstrike_any_subsection_entry(entry):
    assert superstrike(f"{entry} PC-OFFENSE".encode())
    assert superstrike(f"{entry}(A) PC-OFFENSE".encode())
    assert superstrike(f"{entry}(A)(1) PC-OFFENSE".encode())


@pytest.mark.parametrize("entry", SUPERSTRIKE_EXACT)
def test_superstrike_exact_entry(entry):
    assert superstrike(f"{entry} PC-OFFENSE".encode())


def test_superstrike_military_veterans_code():
    assert superstrike(b"1672(A) MV-OFFENSE")


@pytest.mark.parametrize("charge", [
    b"37(A) PC-TREASON", b"128(A) PC", b"245(D) PC", b"245(D)(2) PC", b"286(C) PC",
    b"286(C)(4) PC", b"286(D)(1)(A) PC", b"288(C) PC", b"289(A)(2)(A) PC", b"4500(A) PC",
    b"11418(A)(2) PC", b"1672(A) PC", b"1672 MV", b"1672(A)(1) MV",
])
def test_superstrike_exact_rejects_other_path(charge):
    assert not superstrike(charge)


@pytest.mark.parametrize("charge, expected", [
    (b"237 PC-FALSE IMPRISONMENT", False),
    (b"37 PC-TREASON", True),
    (b"1187 PC-CONTEMPT", False),
    (b"187.5 PC-OFFENSE", False),
    (b"187(A) PC-MURDER", True),
    (b"2187 PC-OFFENSE", False),
    (b"187 HS-OFFENSE", False),
    (b"288(D) PC", False),
    (b"288A(D) PC", True),
    (b"288(B)(1) PC", True),
    (b"288A(B)(1) PC", False),
    (b"273A(B) PC", False),
    (b"1905 PC", False),
])
def test_superstrike_near_misses(charge, expected):
    assert superstrike(charge) is expected


@pytest.mark.parametrize("charge", [
    b"245 (D)(3) PC-ASSAULT", b"288a(c)(1) pc", b"664/187(A) PC-ATTEMPTED MURDER",
    b"187-664 PC-ATTEMPTED MURDER",
])
def test_superstrike_spelling_variants(charge):
    assert superstrike(charge)


@pytest.mark.parametrize("entry", GANG_ENHANCED)
def test_gang_enhanced_entry(entry):
    assert superstrike(f"{entry}-186.22(B)(4) PC-OFFENSE".encode())
    assert superstrike(f"{entry}/186.22(B)(4) PC-OFFENSE".encode())


@pytest.mark.parametrize("entry", GANG_ENHANCED)
def test_gang_entry_needs_enhancement(entry):
    assert not superstrike(f"{entry} PC-OFFENSE".encode())
    assert not superstrike(f"{entry}-186.22(B)(1) PC-OFFENSE".encode())


def test_gang_enhancement_alone_not_superstrike():
    assert not superstrike(b"186.22(B)(4) PC-GANG ENHANCEMENT")
    assert not superstrike(b"459-186.22(B)(4) PC-BURGLARY")


@pytest.mark.parametrize("entry", PC290_ANY_SUBSECTION)
def test_pc290_any_subsection_entry(entry):
    assert registrable(f"{entry} PC-OFFENSE".encode())
    assert registrable(f"{entry}(A) PC-OFFENSE".encode())
    assert registrable(f"{entry}(1)(A) PC-OFFENSE".encode())


@pytest.mark.parametrize("entry", PC290_EXACT)
def test_pc290_exact_entry(entry):
    assert registrable(f"{entry} PC-OFFENSE".encode())


@pytest.mark.parametrize("charge, expected", [
    (b"236.1 PC", False),
    (b"236.1(A) PC", False),
    (b"262 PC", False),
    (b"262(A)(2) PC", False),
    (b"266(A) PC", False),
    (b"311.2 PC", False),
    (b"311.2(A) PC", False),
    (b"314 PC", False),
    (b"653F PC", False),
    (b"653F(A) PC", False),
    (b"311.10 PC", True),
    (b"311.1 PC", True),
    (b"311.12 PC", False),
    (b"1288 PC", False),
    (b"288.5 HS", False),
    (b"288(A) PC-LEWD ACT", True),
    (b"288A PC-ORAL COPULATION", True),
    (b"647(A) PC", False),
])
def test_pc290_near_misses(charge, expected):
    assert registrable(charge) is expected

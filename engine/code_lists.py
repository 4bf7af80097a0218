"""The superstrike and PC 290 registrable section lists, and matching against them.

Superstrikes are the "violent felony" priors of Penal Code 667(e)(2)(C)(iv); PC 290
registrable sections are those whose conviction requires sex-offender registration.
An entry ending in `+` covers the section with any subsections or none; any other
entry covers exactly that section and subsection path. Entries are Penal Code unless
they carry a code after a space (`1672(A) MV`).

Legal review of both lists is welcome: each entry is tested in
`tests/test_code_lists.py`, so a change here shows up there.
"""

from __future__ import annotations

from engine.charges import Section

_SUPERSTRIKE_ANY_SUBSECTION = (
    "187", "188", "189", "189.1", "189.5", "190", "191", "191.5", "261", "262", "273AB",
) + tuple(f"190.{n}" for n in range(1, 100))

_SUPERSTRIKE_EXACT = (
    "37", "128", "205", "207", "209", "209.5", "217.1", "218", "219", "220", "245(D)(3)",
    "264.1", "269", "286",
    "286(C)(1)", "286(C)(2)", "286(C)(3)",
    *(f"286(C)({n})({letter})" for n in (1, 2, 3) for letter in "ABC"),
    "286(D)(1)", "286(D)(2)", "286(D)(3)", "287", "288", "288(A)", "288(B)(1)",
    "288(B)(2)", "288A", "288A(C)(1)", "288A(C)(2)(A)", "288A(C)(2)(B)",
    "288A(C)(2)(C)", "288A(D)", "288.5", "288.5(A)", "289", "289(A)(1)(A)",
    "289(A)(1)(B)", "289(A)(1)(C)", "289(A)(2)(C)", "289(J)", "451.5", "653F", "667.61",
    "667.7", "667.71", "4500", "11418(A)(1)", "11418(B)(1)", "11418(B)(2)", "12308",
    "12310", "18745", "18755", "1672(A) MV",
)

#: Sections that are superstrikes only with the gang enhancement PC 186.22(B)(4).
GANG_ENHANCED = ("136.1", "215", "213(A)(1)(A)", "246", "519", "12022.55")
GANG_ENHANCEMENT = "186.22(B)(4)"

_PC290_ANY_SUBSECTION = (
    "236.1(B)", "236.1(C)", "243.4", "261", "264.1", "266H(B)", "266I(B)", "269", "286",
    "288", "288A", "288.2", "288.3", "288.4", "288.5", "288.7", "289", "311.1", "311.3",
    "311.4", "311.10", "311.11", "647.6", "647A",
)

_PC290_EXACT = (
    "262(A)", "262(A)(1)", "266", "266C", "266J", "267", "272", "285", "287",
    "311.2(B)", "311.2(C)", "311.2(D)", "314(1)", "314(2)", "451.5", "653F(B)",
    "653F(C)",
)


def _entries(any_subsection, exact) -> tuple[frozenset, tuple]:
    exact_keys = set()
    for entry in exact:
        text, _, code = entry.partition(" ")
        exact_keys.add((code or "PC", text))
    prefixes = tuple(("PC", entry) for entry in any_subsection)
    return frozenset(exact_keys), prefixes


SUPERSTRIKE = _entries(_SUPERSTRIKE_ANY_SUBSECTION, _SUPERSTRIKE_EXACT)
PC290_REGISTRABLE = _entries(_PC290_ANY_SUBSECTION, _PC290_EXACT)


def _code(section: Section) -> str:
    # A charge that names no code is read as Penal Code, the code of both lists.
    return section.code or "PC"


def section_in(section: Section, code_list) -> bool:
    """Return whether one section is covered by a list built with `_entries`."""
    exact, prefixes = code_list
    code = _code(section)
    normalized = section.normalized
    if (code, normalized) in exact:
        return True
    for list_code, prefix in prefixes:
        if code == list_code and normalized.startswith(prefix):
            rest = normalized[len(prefix):]
            if not rest or rest[0] == "(":
                return True
    return False


def is_superstrike(sections: list[Section]) -> bool:
    """Return whether a charge's sections make it a superstrike conviction."""
    if any(section_in(section, SUPERSTRIKE) for section in sections):
        return True
    normalized = {(_code(s), s.normalized) for s in sections}
    if ("PC", GANG_ENHANCEMENT) not in normalized:
        return False
    return any(("PC", entry) in normalized for entry in GANG_ENHANCED)


def is_pc290_registrable(sections: list[Section]) -> bool:
    """Return whether a charge's sections require PC 290 registration."""
    return any(section_in(section, PC290_REGISTRABLE) for section in sections)

"""The county output bundle of the earlier tool: the 18 eligibility columns and the
CSV lines of `All_Results.csv`, `All_Results_Condensed.csv` and `Prop64_Results.csv`.

Input cells are written back exactly as read, so a bundle line is the raw input line
followed by the eligibility cells; only the condensed file re-joins chosen cells.
"""

from __future__ import annotations

import datetime

from engine import layout
from engine.charges import (
    charge_is_in_comment, code_section_text, names_prop64, parse_sections, prop64_section,
)
from engine.dates import format_years, years_between
from engine.decide import Decision
from engine.history import Conviction, Person, PersonFacts

ELIGIBILITY_COLUMNS: tuple[str, ...] = (
    "Case Number", "# of convictions on record", "Possible Other P64 Charges",
    "Occurred after 11/9/2016", "Superstrike Code Section(s)", "PC290 Code Section(s)",
    "PC290 Registration", "Date of Conviction", "Years Since This Conviction",
    "Years Since Any Conviction", "# of Prop 64 convictions", "# of HS 11357 convictions",
    "# of HS 11358 convictions", "# of HS 11359 convictions", "# of HS 11360 convictions",
    "Deceased", "Eligibility Determination", "Eligibility Reason",
)
FULL_HEADER = layout.join_cells([c.encode() for c in layout.COLUMNS + ELIGIBILITY_COLUMNS])
CONDENSED_HEADER = layout.join_cells(
    [c.encode() for c in layout.CONDENSED_COLUMNS + ELIGIBILITY_COLUMNS])

#: Prop 64 took effect the day after this date.
PROP64_ELECTION = datetime.date(2016, 11, 9)
UNKNOWN_YEARS = "-1.0"
_SUBSECTIONS_AB = ("A", "B")
_SUBSECTIONS_CD = ("C", "D")
_EMPTY_AFTER_OTHER_P64 = b"," * 15


def possible_other_p64(offense_descr: bytes, comment_text: bytes) -> bytes:
    """Return the comment text when it may hide a Prop 64 charge the charge field does not show."""
    if not comment_text or not names_prop64(comment_text) or charge_is_in_comment(offense_descr):
        return b""
    in_comment = prop64_section(parse_sections(comment_text))
    if in_comment is None:
        return b""
    in_charge = prop64_section(parse_sections(code_section_text(offense_descr)))
    if in_charge is None or in_charge.number != in_comment.number:
        return comment_text
    if in_charge.number == "11357":
        charge_sub = in_charge.subsections[:1]
        comment_sub = in_comment.subsections[:1]
        if not charge_sub and comment_sub:
            return comment_text
        pair = (charge_sub[0] if charge_sub else "", comment_sub[0] if comment_sub else "")
        if (pair[0] in _SUBSECTIONS_AB and pair[1] in _SUBSECTIONS_CD) or (
                pair[0] in _SUBSECTIONS_CD and pair[1] in _SUBSECTIONS_AB):
            return comment_text
    return b""


def blank_eligibility(other_p64: bytes) -> bytes:
    """Return the 18 eligibility cells of a row that was not evaluated, with a leading comma."""
    return b",,," + layout.quote_cell(other_p64) + _EMPTY_AFTER_OTHER_P64


def eligibility_cells(
    conviction: Conviction, person: Person, facts: PersonFacts, decision: Decision,
    other_p64: bytes, compute_at: datetime.date,
) -> list[bytes]:
    """Return the 18 eligibility cells of an evaluated conviction row."""
    date = conviction.date
    if date is None:
        after, written_date, years_this = b"", b"", UNKNOWN_YEARS
    else:
        after = b"Y" if date > PROP64_ELECTION else b"N"
        written_date = date.strftime("%m/%d/%Y").encode()
        years_this = format_years(years_between(date, compute_at))
    latest = facts.latest_date
    years_any = UNKNOWN_YEARS if latest is None else format_years(years_between(latest, compute_at))
    by_section = facts.count_by_section
    return [
        b"; ".join(person.case_numbers.get(conviction.case_key, ())),
        str(facts.conviction_count).encode(),
        other_p64,
        after,
        facts.superstrike_text,
        facts.pc290_text,
        b"Yes" if person.pc290_registration else b"-",
        written_date,
        years_this.encode(),
        years_any.encode(),
        str(facts.prop64_count).encode(),
        str(by_section["11357"]).encode(),
        str(by_section["11358"]).encode(),
        str(by_section["11359"]).encode(),
        str(by_section["11360"]).encode(),
        b"Deceased" if person.deceased else b"-",
        decision.determination.encode(),
        decision.reason.encode(),
    ]


def full_line(raw_line: bytes, eligibility: bytes) -> bytes:
    """Return an `All_Results.csv` or `Prop64_Results.csv` line body for one row."""
    return raw_line + eligibility


def condensed_line(raw_line: bytes, eligibility: bytes) -> bytes:
    """Return an `All_Results_Condensed.csv` line body for one row."""
    cells = layout.split_fields(raw_line)
    return layout.join_cells([cells[i] for i in layout.CONDENSED_INDEXES]) + eligibility


def join_eligibility(cells: list[bytes]) -> bytes:
    """Join evaluated eligibility cells into CSV, with the comma that follows the input cells."""
    return b"," + layout.join_cells(cells)

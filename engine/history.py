"""A person's criminal history, built from the research-file rows of one subject.

Rows arrive in input order (file, then line). The history keeps what the policy and
the bundle need: identity from the first row, court case numbers per case key,
deceased and PC 290 registration flags, and one conviction per distinct CNT_ORDER.
"""

from __future__ import annotations

import datetime
from functools import lru_cache

from engine import layout
from engine.charges import (
    Section, charge_field, code_section_text, parse_sections, prop64_section,
)
from engine.code_lists import is_pc290_registrable, is_superstrike
from engine.dates import parse_date

TRIM = layout.TRIM

COURT_ACTION = b"COURT ACTION"
DECEASED = b"DECEASED"
REGISTRATION = b"REGISTRATION"
CONVICTED = b"CONVICTED"
FELONY_LEVELS = (b"F", b"FELONY")
REGISTRATION_SECTION = "290"


class Conviction:
    """One convicted count: the first conviction row of its CNT_ORDER."""

    __slots__ = (
        "row", "cnt_order", "case_key", "county", "date", "felony", "sections",
        "prop64", "section_text", "superstrike", "pc290", "cii",
    )

    def __init__(self, row: int, cells: list[bytes], cnt_order: bytes, county: bytes):
        self.row = row
        self.cnt_order = cnt_order
        self.case_key = cnt_order[: layout.MIN_CNT_ORDER_LENGTH]
        self.county = county
        self.date: datetime.date | None = parse_date(cells[layout.STP_EVENT_DATE])
        self.felony = is_felony(cells[layout.CONV_STAT_DESCR], cells[layout.OFFENSE_TOC])
        charge, _ = charge_field(cells[layout.OFFENSE_DESCR], cells[layout.COMMENT_TEXT])
        self.section_text = code_section_text(charge)
        self.sections, self.prop64, self.superstrike, self.pc290 = read_code_section(self.section_text)

    @property
    def prop64_number(self) -> str | None:
        """The Prop 64 section number (`11357`-`11360`), or None for other charges."""
        return None if self.prop64 is None else self.prop64.number


@lru_cache(maxsize=16384)
def read_code_section(section_text: bytes) -> tuple[tuple[Section, ...], Section | None, bool, bool]:
    """Return a code section's sections, its Prop 64 section, and whether it is a
    superstrike and PC 290 registrable; cached, since extracts repeat few charges."""
    sections = tuple(parse_sections(section_text))
    return (sections, prop64_section(list(sections)), is_superstrike(list(sections)),
            is_pc290_registrable(list(sections)))


def is_felony(conv_stat_descr: bytes, offense_toc: bytes) -> bool:
    """Return whether a conviction is a felony: CONV_STAT_DESCR, else OFFENSE_TOC."""
    level = conv_stat_descr.strip(TRIM).upper()
    if not level:
        level = offense_toc.strip(TRIM).upper()
    return level in FELONY_LEVELS


class Person:
    """The history of one subject across every input row."""

    __slots__ = (
        "subject", "first_row", "name", "birth_date", "case_numbers", "deceased",
        "pc290_registration", "convictions", "rows", "_counted",
    )

    def __init__(self, subject: bytes, first_row: int, cells: list[bytes]):
        self.subject = subject
        self.first_row = first_row
        self.name = cells[layout.PRI_NAME]
        self.birth_date = parse_date(cells[layout.PRI_DOB])
        self.case_numbers: dict[bytes, list[bytes]] = {}
        self.deceased = False
        self.pc290_registration = False
        self.convictions: list[Conviction] = []
        self.rows: list[int] = []
        self._counted: set[bytes] = set()

    def add_row(self, row: int, cells: list[bytes]) -> Conviction | None:
        """Add one row of this subject; return the conviction it starts, if any."""
        self.rows.append(row)
        cnt_order = cells[layout.CNT_ORDER].strip(TRIM)
        step = cells[layout.STP_TYPE_DESCR].strip(TRIM).upper()

        if step == COURT_ACTION:
            case_number = cells[layout.OFN]
            if case_number:
                known = self.case_numbers.setdefault(cnt_order[: layout.MIN_CNT_ORDER_LENGTH], [])
                if case_number not in known:
                    known.append(case_number)
        elif step == DECEASED:
            self.deceased = True
        elif step == REGISTRATION and not self.pc290_registration:
            charge, _ = charge_field(cells[layout.OFFENSE_DESCR], cells[layout.COMMENT_TEXT])
            sections = parse_sections(code_section_text(charge))
            self.pc290_registration = any(s.number == REGISTRATION_SECTION for s in sections)

        # Later rows of a convicted count are further sentence parts, not convictions.
        if cnt_order in self._counted:
            return None
        if not cells[layout.DISP_DESCR].strip(TRIM).upper().startswith(CONVICTED):
            return None
        self._counted.add(cnt_order)
        county = cells[layout.STP_ORI_CNTY_NAME].strip(TRIM).upper()
        conviction = Conviction(row, cells, cnt_order, county)
        self.convictions.append(conviction)
        return conviction


class PersonFacts:
    """Person-level figures shared by every decision about one person."""

    __slots__ = (
        "conviction_count", "prop64_count", "count_by_section", "only_prop64",
        "latest_date", "superstrike_text", "pc290_text",
    )

    def __init__(self, person: Person):
        convictions = person.convictions
        self.conviction_count = len(convictions)
        self.count_by_section = {"11357": 0, "11358": 0, "11359": 0, "11360": 0}
        prop64_count = 0
        for conviction in convictions:
            number = conviction.prop64_number
            if number is not None:
                prop64_count += 1
                self.count_by_section[number] += 1
        self.prop64_count = prop64_count
        self.only_prop64 = prop64_count == len(convictions)
        dates = [c.date for c in convictions if c.date is not None]
        self.latest_date = max(dates) if dates else None
        self.superstrike_text = b";".join(c.section_text for c in convictions if c.superstrike) or b"-"
        self.pc290_text = b";".join(c.section_text for c in convictions if c.pc290) or b"-"

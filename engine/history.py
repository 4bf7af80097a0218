"""A person's criminal history, built from the research-file rows of one subject.

Rows arrive in input order (file, then line). The history keeps what the policies and
the bundle need. That is identity from the first row, court case numbers per case
key, the deceased flag, PC 290 registrations with their dates, and the cycles whose
arrest step charged a Prop 64 section. It also keeps one conviction per distinct
CNT_ORDER, with its sentence parts.
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
from engine.sentences import parse_sentence_part

TRIM = layout.TRIM

COURT_ACTION = b"COURT ACTION"
ARREST = b"ARREST/DETAINED/CITED"
DECEASED = b"DECEASED"
REGISTRATION = b"REGISTRATION"
CONVICTED = b"CONVICTED"
FELONY_LEVELS = (b"F", b"FELONY")
REGISTRATION_SECTION = "290"
#: A conviction's level from CONV_STAT_DESCR, or OFFENSE_TOC when that is blank.
LEVELS = {
    b"F": "felony", b"FELONY": "felony",
    b"M": "misdemeanor", b"MISDEMEANOR": "misdemeanor",
    b"I": "infraction", b"INFRACTION": "infraction",
}
UNKNOWN_LEVEL = "unknown"
_OFFENSE_DESCR = layout.OFFENSE_DESCR
_COMMENT_TEXT = layout.COMMENT_TEXT
#: Characters of CNT_ORDER that name the cycle (one arrest or citation and what followed).
CYCLE_LENGTH = 3


class Conviction:
    """One convicted count: the first conviction row of its CNT_ORDER."""

    __slots__ = (
        "row", "cnt_order", "case_key", "county", "date", "felony", "level", "sections",
        "prop64", "section_text", "superstrike", "pc290", "cii", "sentence_lengths",
        "sentence_codes",
    )

    def __init__(self, row: int, cells: list[bytes], cnt_order: bytes, county: bytes):
        self.row = row
        self.cnt_order = cnt_order
        self.case_key = cnt_order[: layout.MIN_CNT_ORDER_LENGTH]
        self.county = county
        self.date: datetime.date | None = parse_date(cells[layout.STP_EVENT_DATE])
        self.level = conviction_level(cells[layout.CONV_STAT_DESCR], cells[layout.OFFENSE_TOC])
        self.felony = self.level == "felony"
        charge, _ = charge_field(cells[layout.OFFENSE_DESCR], cells[layout.COMMENT_TEXT])
        self.section_text = code_section_text(charge)
        self.sections, self.prop64, self.superstrike, self.pc290 = read_code_section(self.section_text)
        self.cii = cells[layout.CII_NUMBER]
        # Raw SENT_LENGTH and SENT_TIME_CODE of each row of the count, joined by line
        # ends, which no cell contains. They are read only when a policy needs the
        # sentence, and bytes, unlike lists, add no work for the garbage collector.
        self.sentence_lengths: bytes = cells[layout.SENT_LENGTH]
        self.sentence_codes: bytes = cells[layout.SENT_TIME_CODE]

    def add_sentence_part(self, cells: list[bytes]) -> None:
        """Add the sentence part of a further row of this count."""
        self.sentence_lengths += b"\n" + cells[layout.SENT_LENGTH]
        self.sentence_codes += b"\n" + cells[layout.SENT_TIME_CODE]

    @property
    def cycle(self) -> bytes:
        """The cycle key: the first 3 characters of CNT_ORDER."""
        return self.cnt_order[:CYCLE_LENGTH]

    def sentence_parts(self) -> tuple[list[tuple[int, str]], int]:
        """Return the readable sentence parts as `(length, unit)` and the count of
        unreadable ones (a length that is not a whole number, or an unknown unit).
        Parts with a blank length, such as a fine, are neither."""
        parts = []
        unreadable = 0
        for length, time_code in zip(self.sentence_lengths.split(b"\n"), self.sentence_codes.split(b"\n")):
            part = parse_sentence_part(length, time_code)
            if part is not None:
                parts.append(part)
            elif length.strip(TRIM):
                unreadable += 1
        return parts, unreadable

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
    return conviction_level(conv_stat_descr, offense_toc) == "felony"


def conviction_level(conv_stat_descr: bytes, offense_toc: bytes) -> str:
    """Return `felony`, `misdemeanor`, `infraction` or `unknown`: CONV_STAT_DESCR,
    else OFFENSE_TOC when CONV_STAT_DESCR is blank."""
    level = conv_stat_descr.strip(TRIM).upper()
    if not level:
        level = offense_toc.strip(TRIM).upper()
    return LEVELS.get(level, UNKNOWN_LEVEL)


class Person:
    """The history of one subject across every input row."""

    __slots__ = (
        "subject", "first_row", "name", "birth_date", "case_numbers", "deceased",
        "pc290_registration", "registration_dates", "prop64_arrest_cycles",
        "convictions", "rows", "_counted",
    )

    def __init__(self, subject: bytes, first_row: int, cells: list[bytes]):
        self.subject = subject
        self.first_row = first_row
        self.name = cells[layout.PRI_NAME]
        self.birth_date = parse_date(cells[layout.PRI_DOB])
        self.case_numbers: dict[bytes, list[bytes]] = {}
        self.deceased = False
        self.pc290_registration = False
        self.registration_dates: list[datetime.date | None] = []
        """Dates of the PC 290 registration steps, None where a date is unknown."""
        self.prop64_arrest_cycles: set[bytes] = set()
        """Cycles whose arrest step charged a Prop 64 section."""
        self.convictions: list[Conviction] = []
        self.rows: list[int] = []
        self._counted: dict[bytes, Conviction] = {}

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
        elif step == REGISTRATION:
            charge, _ = charge_field(cells[layout.OFFENSE_DESCR], cells[layout.COMMENT_TEXT])
            sections = read_code_section(code_section_text(charge))[0]
            if any(s.number == REGISTRATION_SECTION for s in sections):
                self.pc290_registration = True
                self.registration_dates.append(parse_date(cells[layout.STP_EVENT_DATE]))
        elif step == ARREST:
            # A cheap test first, since most arrest charges cannot name a Prop 64
            # section. `find` is used because it is faster than `in` on bytes (about
            # 70 against 160 ns on CPython 3.11).
            offense = cells[_OFFENSE_DESCR]
            comment = cells[_COMMENT_TEXT]
            if (offense.find(b"1135") >= 0 or offense.find(b"11360") >= 0
                    or (comment and (comment.find(b"1135") >= 0 or comment.find(b"11360") >= 0))):
                self._note_prop64_arrest(cnt_order, offense, comment)

        # Later rows of a convicted count are further sentence parts, not convictions.
        counted = self._counted.get(cnt_order)
        if counted is not None:
            counted.add_sentence_part(cells)
            return None
        if not cells[layout.DISP_DESCR].strip(TRIM).upper().startswith(CONVICTED):
            return None
        county = cells[layout.STP_ORI_CNTY_NAME].strip(TRIM).upper()
        conviction = Conviction(row, cells, cnt_order, county)
        self._counted[cnt_order] = conviction
        self.convictions.append(conviction)
        return conviction

    def plea_bargain_cycles(self) -> set[bytes]:
        """Return the cycles whose arrest charged a Prop 64 section but that hold no
        Prop 64 conviction: a conviction for another section there may be a plea bargain."""
        if not self.prop64_arrest_cycles:
            return set()
        convicted = {c.cycle for c in self.convictions if c.prop64 is not None}
        return self.prop64_arrest_cycles - convicted

    def _note_prop64_arrest(self, cnt_order: bytes, offense: bytes, comment: bytes) -> None:
        charge, _ = charge_field(offense, comment)
        if read_code_section(code_section_text(charge))[1] is not None:
            self.prop64_arrest_cycles.add(cnt_order[:CYCLE_LENGTH])


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

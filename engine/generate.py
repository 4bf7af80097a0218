"""Fabricated DOJ research files, for tests and benchmarks.

`write_research_file` writes rows in the exact 95-column layout of `engine.layout`. The
file is deterministic for a seed and written in chunks, so memory does not grow with
the row count. No real person is in it: names are drawn from made-up syllable lists,
identifiers and dates are random.

What a file contains (the shares are estimates chosen to look like a county extract,
not figures measured on DOJ data):

- Each subject has an 8-digit SUBJECT_ID unique within the file, a CII_NUMBER, a
  quoted PRI_NAME `"LAST,FIRST M"`, a GENDER and a PRI_DOB from 1930-1999. About 1%
  of subjects have a blank PRI_DOB and 0.5% have `00000000`. About 3% of names carry
  Latin-1 letters written as Latin-1 bytes (`PE\\xd1AVERA`), so a file of more than a
  few hundred rows is not valid UTF-8.
- 1-6 cycles per subject (1: 40%, 2: 22%, 3: 15%, 4: 10%, 5: 8%, 6: 5%), dated from
  the later of the subject's 18th birthday and 1975-01-01 to 2019-12-31. About 8% of
  cycles fall on or after 2016-11-09. Rows of one subject are contiguous and ordered
  by CNT_ORDER, which is `<cycle><step><count>000` with 3 digits each
  (`101002001000`: cycle 101, step 002, count 001).
- A cycle has an ARREST/DETAINED/CITED step with 1-3 counts and, in 85% of cycles, a
  COURT ACTION step with the same counts, an OFN case number and a court date up to
  200 days later. About 1% of court steps have a blank STP_EVENT_DATE. The first
  court count is a conviction with probability 0.65 and any other count with 0.3.
  The rest are `DISMISSED/CHARGE DROPPED`. A conviction carries one sentence part,
  a second in 35% of cases and a third in 30% of those. Each part is a further row
  with the same CNT_ORDER. About 3% of convictions have a blank CONV_STAT_DESCR, so
  the level comes from OFFENSE_TOC.
- 12% of subjects have a Prop 64 conviction (HS 11357-11360, in the spellings of the
  DOJ's data: `11357(C)HS-...`, `11357 (A) HS-...`, `11357B2 HS-...`,
  `HS11360-...`, `11359 PC-...`), and 20% of those a second one. About 9% of their
  Prop 64 charges are written in COMMENT_TEXT under `SEE COMMENT FOR CHARGE`. Other
  subjects get a Prop 64 charge that is arrested only or dismissed in 4% of cycles.
- 1% of subjects have a `11357.5(A) HS-SELL SYNTHETIC CANNABINOID` conviction, a
  decoy that is not 11357. 0.8% have a superstrike conviction (`187 PC-MURDER`,
  `664/187 PC-ATTEMPTED MURDER`, ...), 1.2% a PC 290 registrable conviction
  (`314(1) PC-INDECENT EXPOSURE`, `288(A) PC-LEWD ACT`), followed in 80% of cases
  by a REGISTRATION step for `290 PC-REGISTRATION OF SEX OFFENDER`. 1.5% of
  subjects end with a DECEASED step.
- Every county given is the home county of at least one subject once the file has
  as many subjects as counties (a subject has about 8 rows on average). Home
  counties are drawn uniformly, not by population, so that even small counties get
  rows. When more than one county is given, 15% of subjects with 2 or more cycles
  have cycles in 2-3 counties.

With `filler=True` every field that a row does not use contains `  -  `, and rows
average about 650 bytes (647 measured over 1,000,000 rows with seed 0, against 258
without filler). Fields that a row uses but leaves blank (a blank PRI_DOB, a fine
without a length) stay empty either way.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import os
import random
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import BinaryIO, NamedTuple

import msgspec

from engine import layout
from engine.counties import CALIFORNIA_COUNTIES

FILLER = b"  -  "

_LINE_END = b"\n"
_CHUNK_ROWS = 4096
# zlib's default level, a balance of speed and size.
_GZIP_LEVEL = 6

# SUBJECT_IDs have 8 digits. The subject's index times a stride coprime with the span,
# modulo the span, is a permutation, so IDs look scattered and never repeat in a file.
_FIRST_SUBJECT_ID = 10_000_000
_SUBJECT_ID_SPAN = 90_000_000
_SUBJECT_ID_STRIDE = 48_271

_FIRST_EVENT_DATE = datetime.date(1975, 1, 1)
_LAST_EVENT_DATE = datetime.date(2019, 12, 31)
_PROP64_DATE = datetime.date(2016, 11, 9)
_FIRST_BIRTH_DATE = datetime.date(1930, 1, 1)
_LAST_BIRTH_DATE = datetime.date(1999, 12, 31)
_ADULT_DAYS = 6575  # 18 years of 365.25 days
_MAX_COURT_DELAY_DAYS = 200
_MAX_DEATH_DELAY_DAYS = 3000
_MAX_REGISTRATION_DELAY_DAYS = 60

# Estimated shares. The module docstring lists what each one drives.
_CYCLE_COUNT_TABLE = (1,) * 40 + (2,) * 22 + (3,) * 15 + (4,) * 10 + (5,) * 8 + (6,) * 5
_AFTER_PROP64_SHARE = 0.08
_COURT_STEP_SHARE = 0.85
_SECOND_COUNT_SHARE = 0.4
_THIRD_COUNT_SHARE = 0.15
_FIRST_COUNT_CONVICTED_SHARE = 0.65
_OTHER_COUNT_CONVICTED_SHARE = 0.3
_ARREST_RELEASED_SHARE = 0.08
_BLANK_COURT_DATE_SHARE = 0.01
_BLANK_LEVEL_SHARE = 0.03
_SECOND_SENTENCE_SHARE = 0.35
_THIRD_SENTENCE_SHARE = 0.3
_PROP64_SUBJECT_SHARE = 0.12
_SECOND_PROP64_SHARE = 0.2
_PROP64_NOT_CONVICTED_SHARE = 0.04
_DECOY_SUBJECT_SHARE = 0.01
_SUPERSTRIKE_SUBJECT_SHARE = 0.008
_REGISTRABLE_SUBJECT_SHARE = 0.012
_REGISTRATION_STEP_SHARE = 0.8
_DECEASED_SUBJECT_SHARE = 0.015
_MULTI_COUNTY_SHARE = 0.15
_THIRD_COUNTY_SHARE = 0.4
_BLANK_BIRTH_SHARE = 0.01
_ZERO_BIRTH_SHARE = 0.005
_LATIN1_NAME_SHARE = 0.03
_MIDDLE_INITIAL_SHARE = 0.6
_MALE_SHARE = 0.78
_LETTER_CII_SHARE = 0.5

_MAX_CYCLES = max(_CYCLE_COUNT_TABLE)
_MAX_STEPS = 4  # arrest, court action, registration, deceased
_MAX_COUNTS = 12

_ARREST = b"ARREST/DETAINED/CITED"
_COURT = b"COURT ACTION"
_REGISTRATION = b"REGISTRATION"
_DECEASED = b"DECEASED"
_STEP_TYPES = (_ARREST, _COURT, _REGISTRATION, _DECEASED)

_DISMISSED = b"DISMISSED/CHARGE DROPPED"
_RELEASED = b"REL/TOT OTHER JURIS/AUTH"
_CONVICTED_PROBATION = b"CONVICTED-PROBATION"
_CONVICTED_JAIL = b"CONVICTED-JAIL"
_CONVICTED_PRISON = b"CONVICTED-PRISON"
_CONVICTED = b"CONVICTED"
_LEVEL_WORDS = {b"F": b"FELONY", b"M": b"MISDEMEANOR", b"I": b"INFRACTION"}
# Dispositions of a conviction by OFFENSE_TOC, repeated by weight.
_CONVICTIONS_BY_LEVEL = {
    b"F": (_CONVICTED_PROBATION,) * 9 + (_CONVICTED_JAIL,) * 6 + (_CONVICTED_PRISON,) * 4 + (_CONVICTED,),
    b"M": (_CONVICTED_PROBATION,) * 5 + (_CONVICTED_JAIL,) * 3 + (_CONVICTED,) * 2,
    b"I": (_CONVICTED,),
}

# Forced outcomes of a planned count. None lets the court step draw one.
_CONVICT = 1
_DISMISS = 2


class GenerateStats(msgspec.Struct, frozen=True):
    """Counts of one written research file."""

    rows: int
    """Data rows written, the header excluded."""
    subjects: int
    """Distinct SUBJECT_IDs with at least one row."""
    bytes: int
    """Size of the CSV text before any compression, the header included."""


class _Charge(NamedTuple):
    """A charge as rows write it, with the levels it can have."""

    kind: str
    """prop64, decoy, other, superstrike, registrable or registration."""
    offense: bytes
    """OFFENSE_DESCR as written."""
    comment: bytes | None
    """COMMENT_TEXT, or None when the row does not use it."""
    levels: tuple[bytes, ...]
    """OFFENSE_TOC letters to draw from, repeated by weight."""


# (weight, kind, OFFENSE_DESCR, COMMENT_TEXT, OFFENSE_TOC letters repeated by weight)
_PROP64_CHARGES = (
    (12, "prop64", "11357(C)HS-POSSESS MARIJUANA", None, "MMMMI"),
    (6, "prop64", "11357 (A) HS-POSSESS CONCENTRATED CANNABIS", None, "FFMM"),
    (2, "prop64", "11357(a)HS-POSSESS CONCENTRATED CANNABIS", None, "FM"),
    (2, "prop64", "11357A HS-POSSESS CONCENTRATED CANNABIS", None, "FM"),
    (4, "prop64", "11357(B)HS-POSSESS MARIJUANA 28.5 GRAMS OR LESS", None, "MMI"),
    (2, "prop64", "11357B2 HS-POSSESS MARIJUANA ON SCHOOL GROUNDS", None, "M"),
    (10, "prop64", "11358 HS-CULTIVATE CANNABIS", None, "FFFM"),
    (8, "prop64", "11359 HS-MARIJUANA POSSESSION FOR SALE", None, "FFFM"),
    (4, "prop64", "11359HS-INTENT SELL CANNABIS", None, "FFM"),
    (2, "prop64", "11359 PC-POSSESS MARIJUANA FOR SALE", None, "F"),
    (6, "prop64", "11360(A) HS-TRANSPORT/SELL MARIJUANA", None, "FFM"),
    (4, "prop64", "HS11360-SELL MARIJUANA", None, "FFM"),
    (2, "prop64", "11360(B) SELL/FURNISH/ETC", None, "M"),
    (2, "prop64", "SEE COMMENT FOR CHARGE", ":CHRG 11358 HS", "FM"),
    (2, "prop64", "SEE COMMENT FOR CHARGE", "CHRG 11360 HS", "FM"),
    (1, "prop64", "see comment for charge", "CHRG 11357 HS", "M"),
    (1, "prop64", "SEE COMMENT FOR CHARGE", "11358 HS-CULTIVATE CANNABIS", "F"),
)
_DECOY_CHARGES = (
    (1, "decoy", "11357.5(A) HS-SELL SYNTHETIC CANNABINOID", None, "MMF"),
)
_OTHER_CHARGES = (
    (8, "other", "503 VC-TAKE CAR W/OUT OWNERS CONSENT", None, "FFM"),
    (10, "other", " 148 PC - RESISTING A PEACE OFFICER", None, "M"),
    (8, "other", "4060 BP-POSSESS CTRL SUBSTNCE", None, "MMF"),
    (12, "other", "23152(A) VC-DUI ALCOHOL/DRUGS", None, "M"),
    (6, "other", "23152(B) VC-DUI 0.08 PERCENT", None, "M"),
    (8, "other", "11350(A) HS-POSSESS NARCOTIC CONTROLLED SUBSTANCE", None, "FFM"),
    (8, "other", "11377(A) HS-POSSESS CONTROLLED SUBSTANCE", None, "MMF"),
    (6, "other", "11550(A) HS-UNDER INFLUENCE CONTROLLED SUBSTANCE", None, "M"),
    (6, "other", "459 PC-BURGLARY", None, "FFM"),
    (6, "other", "484(A)/490.5 PC-PETTY THEFT", None, "M"),
    (6, "other", "242 PC-BATTERY", None, "M"),
    (4, "other", "273.5(A) PC-INFLICT CORPORAL INJ SPOUSE/COHAB", None, "FM"),
    (4, "other", "245(A)(1) PC-ASSAULT W/DEADLY WEAPON", None, "F"),
    (6, "other", "12500(A) VC-DRIVE WITHOUT LICENSE", None, "MI"),
    (6, "other", "14601.1(A) VC-DRIVE WHILE LIC SUSPENDED", None, "M"),
    (6, "other", "647(F) PC-DISORDERLY CONDUCT:INTOX DRUG/ALCOHOL", None, "M"),
    (4, "other", "594(A) PC-VANDALISM", None, "MF"),
    (3, "other", "10851(A) VC-TAKE VEHICLE W/O OWNER CONSENT", None, "FM"),
    (3, "other", "166(A)(4) PC-CONTEMPT:DISOBEY COURT ORDER", None, "M"),
    (1, "other", "519-186.22(B)(4) PC-EXTORTION W/GANG ENHANCEMENT", None, "F"),
    (2, "other", "SEE COMMENT FOR CHARGE", "CHRG 459 PC", "F"),
)
_SUPERSTRIKE_CHARGES = (
    (3, "superstrike", "187 PC-MURDER", None, "F"),
    (2, "superstrike", "187(A) PC-MURDER", None, "F"),
    (2, "superstrike", "220 PC- COMMIT MAYHEM", None, "F"),
    (3, "superstrike", "664/187 PC-ATTEMPTED MURDER", None, "F"),
)
_REGISTRABLE_CHARGES = (
    (3, "registrable", "314(1) PC-INDECENT EXPOSURE", None, "MMF"),
    (2, "registrable", "288(A) PC-LEWD ACT", None, "F"),
)
_REGISTRATION_CHARGES = (
    (6, "registration", "290 PC-REGISTRATION OF SEX OFFENDER", None, "F"),
    (1, "registration", "SEE COMMENT FOR CHARGE", "CHRG 290 PC", "F"),
)

# Made-up name pieces: a surname is a prefix and a suffix, a given name two syllables.
_SURNAME_PREFIXES = (
    "BAR", "COR", "DEL", "FEN", "GAR", "HOL", "KIR", "LAN", "MOR", "NOV", "OAK", "PEL",
    "QUIN", "RAV", "SAL", "TOR", "VAL", "WEST", "YAR", "ZEL",
)
_SURNAME_SUFFIXES = (
    "BECK", "DALE", "FORD", "GROVE", "HART", "LOW", "MONT", "NESS", "RICK", "STAD",
    "TON", "WICK", "ADO", "ERA", "INO", "OZA",
)
_LATIN1_SURNAMES = (
    "PE\xd1AVERA", "MU\xd1ORAL", "BRI\xd1ALDO", "ARRI\xc9TAZ", "DUR\xc1NVO", "G\xdcELMAR",
    "L\xd3PERAN", "MAR\xcdNEZO",
)
_GIVEN_NAME_HEADS = (
    "AN", "BE", "CA", "DA", "E", "FE", "GI", "HA", "I", "JO", "KA", "LU", "MA", "NE",
    "O", "PA", "RA", "SE", "TA", "VI",
)
_GIVEN_NAME_TAILS = ("LO", "NA", "RIN", "SON", "TA", "VEN", "LA", "DO", "MI", "RA")
_RACES = (b"WHITE",) * 8 + (b"HISPANIC",) * 7 + (b"BLACK",) * 4 + (b"ASIAN",) * 1 + (b"OTHER",) * 1
_TIME_DESCRIPTIONS = {b"D": b"DAYS", b"M": b"MONTHS", b"Y": b"YEARS", b"": b""}
_INITIALS = tuple(bytes([letter]) for letter in b"ABCDEFGHJKLMNPRSTW")


def write_research_file(
    path: str | os.PathLike[str],
    rows: int,
    counties: Sequence[str] | None = None,
    seed: int = 0,
    filler: bool = False,
    header: bool = True,
) -> GenerateStats:
    """Write a fabricated research file of exactly `rows` data rows.

    Parameters
    ----------
    path
        The output file. A name ending in ``.gz`` is written as gzip, with a zero
        modification time so that the same seed gives the same bytes.
    rows
        Number of data rows. The last subject is cut short when its rows do not fit,
        which can leave a count with fewer sentence parts or a cycle without its court
        step, but every row is complete.
    counties
        County names (any letter case) out of `CALIFORNIA_COUNTIES`. All 58 when None.
    seed
        Seed of `random.Random`. The same arguments give the same bytes.
    filler
        Write ``  -  `` in every field that a row does not use, instead of nothing.
    header
        Write the 95 column names as the first line.

    Raises
    ------
    ValueError
        When `rows` is negative, `counties` is empty or names a county outside
        California, or the file would need more subjects than 8-digit SUBJECT_IDs allow.

    NOTE: SUBJECT_IDs are unique within one file only. Two files, whatever their seeds,
    can share IDs, and a run over both reads each shared ID as one person.
    """
    if rows < 0:
        raise ValueError(f"rows must be 0 or more, got {rows}")
    county_names = _validate_counties(counties)
    generator = _HistoryGenerator(seed, county_names, filler)

    written_rows = 0
    written_bytes = 0
    subjects = 0
    with _open_output(path) as output:
        if header:
            header_line = b",".join(name.encode("ascii") for name in layout.COLUMNS) + _LINE_END
            output.write(header_line)
            written_bytes += len(header_line)

        chunk: list[bytes] = []
        while written_rows < rows:
            subject_rows = generator.subject_rows()
            remaining = rows - written_rows
            if len(subject_rows) > remaining:
                del subject_rows[remaining:]
            chunk.extend(subject_rows)
            written_rows += len(subject_rows)
            subjects += 1

            if len(chunk) >= _CHUNK_ROWS or written_rows == rows:
                data = b"".join(chunk)
                output.write(data)
                written_bytes += len(data)
                chunk.clear()

    return GenerateStats(rows=written_rows, subjects=subjects, bytes=written_bytes)


def _validate_counties(counties: Sequence[str] | None) -> tuple[str, ...]:
    """Normalize county names to upper case without repeats, raising ValueError for an unknown one."""
    if counties is None:
        return CALIFORNIA_COUNTIES
    if isinstance(counties, str):
        raise ValueError(f"counties must be a sequence of county names, not the string {counties!r}")

    names: list[str] = []
    for county in counties:
        name = county.strip().upper()
        if name not in CALIFORNIA_COUNTIES:
            raise ValueError(
                f"unknown county {county!r}: expected one of the 58 California counties, "
                "such as 'LOS ANGELES' or 'SAN JOAQUIN'"
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError("counties must name at least one county, or be None for all 58")
    return tuple(names)


@contextlib.contextmanager
def _open_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open `path` for binary writing, through gzip when its name ends in .gz."""
    with open(path, "wb") as raw:
        if os.fsdecode(path).endswith(".gz"):
            gzip_file = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=_GZIP_LEVEL, mtime=0)
            with gzip_file:
                yield gzip_file
        else:
            yield raw


class _DateTables(NamedTuple):
    """YYYYMMDD bytes and (year, month, day) of every day in the event and birth ranges."""

    event_dates: tuple[bytes, ...]
    event_days: tuple[tuple[int, int, int], ...]
    birth_dates: tuple[bytes, ...]
    birth_days: tuple[tuple[int, int, int], ...]
    prop64_index: int
    """Index in event_dates of 2016-11-09."""
    birth_to_event_offset: int
    """Days from the first birth date to the first event date."""


@lru_cache(maxsize=1)
def _date_tables() -> _DateTables:
    """Build the date tables once per process, because formatting a date per row would be slow."""
    event_dates, event_days = _date_range(_FIRST_EVENT_DATE, _LAST_EVENT_DATE)
    birth_dates, birth_days = _date_range(_FIRST_BIRTH_DATE, _LAST_BIRTH_DATE)
    return _DateTables(
        event_dates=event_dates,
        event_days=event_days,
        birth_dates=birth_dates,
        birth_days=birth_days,
        prop64_index=(_PROP64_DATE - _FIRST_EVENT_DATE).days,
        birth_to_event_offset=(_FIRST_EVENT_DATE - _FIRST_BIRTH_DATE).days,
    )


def _date_range(
    first: datetime.date, last: datetime.date
) -> tuple[tuple[bytes, ...], tuple[tuple[int, int, int], ...]]:
    """Return the YYYYMMDD bytes and (year, month, day) of each day from first to last."""
    texts = []
    days = []
    for offset in range((last - first).days + 1):
        day = first + datetime.timedelta(days=offset)
        texts.append(b"%04d%02d%02d" % (day.year, day.month, day.day))
        days.append((day.year, day.month, day.day))
    return tuple(texts), tuple(days)


def _join_fields(first: int, last: int, values: dict[int, bytes], fill: bytes, end: bytes) -> bytes:
    """Join columns first..last into CSV bytes followed by `end`.

    Columns in `values` get their value, quoted where needed. Every other column gets
    `fill`. `end` is the comma before the next piece of the row, or the line end.
    """
    cells = []
    for index in range(first, last + 1):
        cells.append(layout.quote_cell(values[index]) if index in values else fill)
    return b",".join(cells) + end


def _frame(first: int, last: int, used: Sequence[int], fill: bytes, end: bytes) -> tuple[bytes, ...]:
    """Return the constant bytes between the `used` columns of first..last.

    The piece for values v0, v1, ... of the used columns (ascending, already quoted) is
    ``frame[0] + v0 + frame[1] + v1 + ... + frame[-1]``.
    """
    marker = b"\x00"
    piece = _join_fields(first, last, {index: marker for index in used}, fill, end)
    return tuple(piece.split(marker))


def _expand(entries) -> tuple[_Charge, ...]:
    """Turn (weight, kind, offense, comment, levels) entries into a table to index at random."""
    table = []
    for weight, kind, offense, comment, levels in entries:
        charge = _Charge(
            kind=kind,
            offense=offense.encode("latin-1"),
            comment=None if comment is None else comment.encode("latin-1"),
            levels=tuple(bytes([letter]) for letter in levels.encode("ascii")),
        )
        table.extend([charge] * weight)
    return tuple(table)


class _HistoryGenerator:
    """Source of subjects, drawn one at a time, each with its rows as finished CSV lines.

    Rows are assembled from byte pieces: the person's columns once per subject, the
    cycle date once per cycle, and cached pieces for step type and county, charge and
    disposition, sentence part, and age and comment. A row costs a few draws and one
    `bytes.join`, never a loop over its 95 fields.
    """

    def __init__(self, seed: int, counties: Sequence[str], filler: bool) -> None:
        self._rng = random.Random(seed)
        self._random = self._rng.random
        self._fill = FILLER if filler else b""
        self._dates = _date_tables()

        self._counties = tuple(county.encode("ascii") for county in counties)
        # The first subjects take every county once, in a seeded order, so that every
        # county appears as soon as the file has as many subjects as counties.
        self._first_homes = list(range(len(counties)))
        self._rng.shuffle(self._first_homes)
        self._subject_offset = self._rng.randrange(_SUBJECT_ID_SPAN)
        self._subject_count = 0

        self._prop64_charges = _expand(_PROP64_CHARGES)
        self._decoy_charges = _expand(_DECOY_CHARGES)
        self._other_charges = _expand(_OTHER_CHARGES)
        self._superstrike_charges = _expand(_SUPERSTRIKE_CHARGES)
        self._registrable_charges = _expand(_REGISTRABLE_CHARGES)
        self._registration_charges = _expand(_REGISTRATION_CHARGES)

        self._build_templates()
        self._charge_pieces: dict[tuple, bytes] = {}
        self._tail_pieces: dict[tuple, bytes] = {}

    def _build_templates(self) -> None:
        """Build the pieces that do not depend on a draw."""
        fill = self._fill
        self._person_frame = _frame(
            0, layout.INDEX["CYC_ORDER"],
            (
                layout.SUBJECT_ID, layout.CII_NUMBER, layout.PRI_NAME, layout.INDEX["GENDER"], layout.PRI_DOB,
                layout.INDEX["RACE_DESCR"],
            ),
            fill, b",",
        )
        cycle_date = layout.INDEX["CYC_DATE"]
        self._cycle_frame = _frame(cycle_date, layout.INDEX["STP_ORDER"], (cycle_date,), fill, b",")

        # Step pieces without their leading STP_EVENT_DATE, keyed by step type and county.
        self._step_tails: dict[tuple[bytes, bytes], bytes] = {}
        for step_type in _STEP_TYPES:
            for county in self._counties:
                values = {layout.STP_TYPE_DESCR: step_type, layout.STP_ORI_CNTY_NAME: county}
                piece = _join_fields(layout.STP_EVENT_DATE + 1, layout.CNT_ORDER - 1, values, fill, b",")
                self._step_tails[step_type, county] = b"," + piece

        # Count pieces after CNT_ORDER: DISP_DATE and OFN on court rows only.
        disposition_date = layout.INDEX["DISP_DATE"]
        court_columns = (disposition_date, layout.OFN)
        self._court_count_frame = _frame(disposition_date, layout.OFN, court_columns, fill, b",")
        self._count_tail = b"," + _join_fields(layout.CNT_ORDER + 1, layout.OFN, {}, fill, b",")
        self._cnt_orders = [
            [
                [b"%03d%03d%03d000" % (100 + cycle, step, count) for count in range(_MAX_COUNTS + 1)]
                for step in range(_MAX_STEPS + 1)
            ]
            for cycle in range(_MAX_CYCLES + 1)
        ]

        self._no_sentence = _join_fields(layout.SENT_LOC_DESCR - 1, layout.SENT_TIME_CODE + 1, {}, fill, b",")
        jail = self._sentence_parts(b"JAIL", (1, 2, 5, 10, 15, 30, 45, 60, 90, 120, 180, 270, 365), b"D")
        jail += self._sentence_parts(b"JAIL", (1, 2, 3, 6, 9, 12), b"M")
        probation = self._sentence_parts(b"PROBATION", (1, 2, 3, 3, 5), b"Y")
        probation += self._sentence_parts(b"PROBATION", (6, 12, 18, 24, 36), b"M")
        prison = self._sentence_parts(b"PRISON", (16,), b"M")
        prison += self._sentence_parts(b"PRISON", (2, 3, 4, 6, 8), b"Y")
        fine = (self._sentence_part(b"FINE", b"", b""),)
        # Per disposition: the first sentence part, then the choices for a second and a third.
        self._sentences = {
            _CONVICTED_PROBATION: (probation, jail, fine),
            _CONVICTED_JAIL: (jail, probation, fine),
            _CONVICTED_PRISON: (prison, fine, ()),
            _CONVICTED: (fine, probation, jail),
        }

    def _sentence_part(self, location: bytes, length: bytes, time_code: bytes) -> bytes:
        values = {
            layout.SENT_LOC_DESCR: location,
            layout.SENT_LENGTH: length,
            layout.SENT_TIME_CODE: time_code,
            layout.INDEX["SENT_TIME_DESCR"]: _TIME_DESCRIPTIONS[time_code],
        }
        return _join_fields(layout.SENT_LOC_DESCR - 1, layout.SENT_TIME_CODE + 1, values, self._fill, b",")

    def _sentence_parts(self, location: bytes, lengths: Sequence[int], time_code: bytes) -> tuple[bytes, ...]:
        return tuple(self._sentence_part(location, b"%d" % length, time_code) for length in lengths)

    def _charge_piece(
        self,
        offense: bytes | None,
        level: bytes | None,
        disposition: bytes | None,
        conviction_level: bytes | None,
    ) -> bytes:
        """Return the cached piece for columns OFFENSE_CODE..SENT_ORDER.

        None marks a column that the row does not use.
        """
        key = (offense, level, disposition, conviction_level)
        piece = self._charge_pieces.get(key)
        if piece is None:
            columns = (
                (layout.OFFENSE_DESCR, offense),
                (layout.OFFENSE_TOC, level),
                (layout.DISP_DESCR, disposition),
                (layout.CONV_STAT_DESCR, conviction_level),
            )
            values = {index: value for index, value in columns if value is not None}
            piece = _join_fields(layout.OFN + 1, layout.SENT_LOC_DESCR - 2, values, self._fill, b",")
            self._charge_pieces[key] = piece
        return piece

    def _tail_piece(self, age: int, comment: bytes | None) -> bytes:
        """Return the cached piece for columns CYC_AGE..END_OF_REC, with the line end."""
        key = (age, comment)
        piece = self._tail_pieces.get(key)
        if piece is None:
            cycle_age = layout.INDEX["CYC_AGE"]
            values = {cycle_age: b"%d" % age}
            if comment is not None:
                values[layout.COMMENT_TEXT] = comment
            piece = _join_fields(cycle_age, layout.FIELD_COUNT - 1, values, self._fill, _LINE_END)
            self._tail_pieces[key] = piece
        return piece

    def _pick(self, table: Sequence):
        """Return an item of `table` drawn uniformly; repeated items carry more weight."""
        return table[int(self._random() * len(table))]

    def subject_rows(self) -> list[bytes]:
        """Draw the next subject and return its rows, ordered by CNT_ORDER."""
        person, birth = self._person_piece()
        cycle_days = self._cycle_days(birth)
        cycle_counties = self._cycle_counties(len(cycle_days))
        plans = self._plan_counts(len(cycle_days))
        deceased = self._random() < _DECEASED_SUBJECT_SHARE

        rows: list[bytes] = []
        for number, (day, county, plan) in enumerate(zip(cycle_days, cycle_counties, plans), start=1):
            is_last = number == len(cycle_days)
            self._append_cycle(rows, person, birth, number, day, county, plan, deceased and is_last)
        return rows

    def _person_piece(self) -> tuple[bytes, int]:
        """Draw a person and return columns RECORD_ID..CYC_ORDER with the birth-date index."""
        rnd = self._random
        index = self._subject_count
        if index >= _SUBJECT_ID_SPAN:
            raise ValueError(
                f"too many subjects: 8-digit SUBJECT_IDs allow at most {_SUBJECT_ID_SPAN} per file, "
                "so request fewer rows"
            )
        self._subject_count += 1
        scattered_index = (self._subject_offset + index * _SUBJECT_ID_STRIDE) % _SUBJECT_ID_SPAN
        subject_id = b"%d" % (_FIRST_SUBJECT_ID + scattered_index)

        if rnd() < _LETTER_CII_SHARE:
            cii = b"A%09d" % int(rnd() * 1_000_000_000)
        else:
            cii = b"%d" % (1_000_000_000 + int(rnd() * 9_000_000_000))

        birth = int(rnd() * len(self._dates.birth_dates))
        draw = rnd()
        if draw < _BLANK_BIRTH_SHARE:
            birth_date = b""
        elif draw < _BLANK_BIRTH_SHARE + _ZERO_BIRTH_SHARE:
            birth_date = b"00000000"
        else:
            birth_date = self._dates.birth_dates[birth]

        gender = b"M" if rnd() < _MALE_SHARE else b"F"
        race = self._pick(_RACES)
        frame = self._person_frame
        pieces = (
            frame[0], subject_id, frame[1], cii, frame[2], self._name(), frame[3], gender,
            frame[4], birth_date, frame[5], race, frame[6],
        )
        return b"".join(pieces), birth

    def _name(self) -> bytes:
        """Draw a quoted made-up PRI_NAME, `"LAST,FIRST"` or `"LAST,FIRST M"`."""
        rnd = self._random
        if rnd() < _LATIN1_NAME_SHARE:
            surname = self._pick(_LATIN1_SURNAMES)
        else:
            surname = self._pick(_SURNAME_PREFIXES) + self._pick(_SURNAME_SUFFIXES)
        given_name = self._pick(_GIVEN_NAME_HEADS) + self._pick(_GIVEN_NAME_TAILS)
        name = f"{surname},{given_name}".encode("latin-1")
        if rnd() < _MIDDLE_INITIAL_SHARE:
            name += b" " + self._pick(_INITIALS)
        return layout.quote_cell(name)

    def _cycle_days(self, birth: int) -> list[int]:
        """Draw the sorted event-date indexes of a subject's cycles, from age 18 on."""
        rnd = self._random
        count = self._pick(_CYCLE_COUNT_TABLE)
        first = max(0, birth - self._dates.birth_to_event_offset + _ADULT_DAYS)
        cutoff = self._dates.prop64_index
        last = len(self._dates.event_dates) - 1

        days = []
        for _ in range(count):
            if first < cutoff and rnd() >= _AFTER_PROP64_SHARE:
                day = first + int(rnd() * (cutoff - first))
            else:
                start = max(first, cutoff)
                day = start + int(rnd() * (last - start + 1))
            days.append(day)
        days.sort()
        return days

    def _cycle_counties(self, count: int) -> list[bytes]:
        """Draw the county of each cycle. The first cycle is in the home county."""
        rnd = self._random
        counties = self._counties
        subject_index = self._subject_count - 1
        if subject_index < len(self._first_homes):
            home = counties[self._first_homes[subject_index]]
        else:
            home = self._pick(counties)
        cycle_counties = [home] * count
        if count < 2 or len(counties) < 2 or rnd() >= _MULTI_COUNTY_SHARE:
            return cycle_counties

        chosen = [home]
        span = 3 if len(counties) > 2 and count > 2 and rnd() < _THIRD_COUNTY_SHARE else 2
        while len(chosen) < span:
            county = self._pick(counties)
            if county not in chosen:
                chosen.append(county)
        # Cycle 2 goes to another county, so the history spans at least two.
        cycle_counties[1] = chosen[1]
        for index in range(2, count):
            cycle_counties[index] = self._pick(chosen)
        return cycle_counties

    def _plan_counts(self, cycles: int) -> list[list[tuple[_Charge, int | None]]]:
        """Draw each cycle's charges and any outcome a charge must have."""
        rnd = self._random
        other = self._other_charges
        plans = []
        for _ in range(cycles):
            count = 1 + (rnd() < _SECOND_COUNT_SHARE) + (rnd() < _THIRD_COUNT_SHARE)
            plans.append([(self._pick(other), None) for _ in range(count)])

        prop64 = self._prop64_charges
        if rnd() < _PROP64_SUBJECT_SHARE:
            self._pick(plans).insert(0, (self._pick(prop64), _CONVICT))
            if rnd() < _SECOND_PROP64_SHARE:
                self._pick(plans).insert(0, (self._pick(prop64), _CONVICT))
        else:
            # Prop 64 charges that end without a conviction, so a reader must check the disposition.
            for plan in plans:
                if rnd() < _PROP64_NOT_CONVICTED_SHARE:
                    plan.append((self._pick(prop64), _DISMISS))

        for share, table in (
            (_DECOY_SUBJECT_SHARE, self._decoy_charges),
            (_SUPERSTRIKE_SUBJECT_SHARE, self._superstrike_charges),
            (_REGISTRABLE_SUBJECT_SHARE, self._registrable_charges),
        ):
            if rnd() < share:
                self._pick(plans).append((self._pick(table), _CONVICT))
        return plans

    def _append_cycle(
        self,
        rows: list[bytes],
        person: bytes,
        birth: int,
        cycle: int,
        day: int,
        county: bytes,
        plan: list[tuple[_Charge, int | None]],
        deceased: bool,
    ) -> None:
        """Append the rows of one cycle: arrest, court action, registration, death."""
        rnd = self._random
        dates = self._dates
        event_dates = dates.event_dates
        last_day = len(event_dates) - 1
        cnt_orders = self._cnt_orders[cycle]
        head = person + self._cycle_frame[0] + event_dates[day] + self._cycle_frame[1]

        year, month, day_of_month = dates.event_days[day]
        birth_year, birth_month, birth_day = dates.birth_days[birth]
        age = year - birth_year - ((month, day_of_month) < (birth_month, birth_day))
        levels = [self._pick(charge.levels) for charge, _ in plan]
        count_tail = self._count_tail
        no_sentence = self._no_sentence

        step = 1
        step_piece = event_dates[day] + self._step_tails[_ARREST, county]
        for count, ((charge, _), level) in enumerate(zip(plan, levels), start=1):
            disposition = _RELEASED if rnd() < _ARREST_RELEASED_SHARE else None
            charge_piece = self._charge_piece(charge.offense, level, disposition, None)
            tail = self._tail_piece(age, charge.comment)
            row = (head, step_piece, cnt_orders[step][count], count_tail, charge_piece, no_sentence, tail)
            rows.append(b"".join(row))

        latest_day = day
        registrable = False
        if rnd() < _COURT_STEP_SHARE or any(force == _CONVICT for _, force in plan):
            step += 1
            latest_day = min(day + int(rnd() * _MAX_COURT_DELAY_DAYS), last_day)
            court_cnt_orders = cnt_orders[step]
            registrable = self._append_court_step(
                rows, head, age, court_cnt_orders, latest_day, county, plan, levels
            )

        if registrable and rnd() < _REGISTRATION_STEP_SHARE:
            step += 1
            latest_day = min(latest_day + int(rnd() * _MAX_REGISTRATION_DELAY_DAYS), last_day)
            charge = self._pick(self._registration_charges)
            step_piece = event_dates[latest_day] + self._step_tails[_REGISTRATION, county]
            charge_piece = self._charge_piece(charge.offense, None, None, None)
            tail = self._tail_piece(age, charge.comment)
            row = (head, step_piece, cnt_orders[step][1], count_tail, charge_piece, no_sentence, tail)
            rows.append(b"".join(row))

        if deceased:
            step += 1
            latest_day = min(latest_day + int(rnd() * _MAX_DEATH_DELAY_DAYS), last_day)
            step_piece = event_dates[latest_day] + self._step_tails[_DECEASED, county]
            charge_piece = self._charge_piece(None, None, None, None)
            tail = self._tail_piece(age, None)
            row = (head, step_piece, cnt_orders[step][1], count_tail, charge_piece, no_sentence, tail)
            rows.append(b"".join(row))

    def _append_court_step(
        self,
        rows: list[bytes],
        head: bytes,
        age: int,
        cnt_orders: list[bytes],
        day: int,
        county: bytes,
        plan: list[tuple[_Charge, int | None]],
        levels: list[bytes],
    ) -> bool:
        """Append the rows of a court action and return whether it convicted a registrable charge."""
        rnd = self._random
        event_date = b"" if rnd() < _BLANK_COURT_DATE_SHARE else self._dates.event_dates[day]
        step_piece = event_date + self._step_tails[_COURT, county]
        case_number = b"%s%07d" % (b"F" if levels[0] == b"F" else b"M", int(rnd() * 10_000_000))
        frame = self._court_count_frame
        count_piece = b"," + frame[0] + event_date + frame[1] + case_number + frame[2]

        registrable = False
        for count, ((charge, force), level) in enumerate(zip(plan, levels), start=1):
            cnt_order = cnt_orders[count]
            tail = self._tail_piece(age, charge.comment)
            if force is None:
                share = _FIRST_COUNT_CONVICTED_SHARE if count == 1 else _OTHER_COUNT_CONVICTED_SHARE
                convicted = rnd() < share
            else:
                convicted = force == _CONVICT

            if not convicted:
                charge_piece = self._charge_piece(charge.offense, level, _DISMISSED, None)
                row = (head, step_piece, cnt_order, count_piece, charge_piece, self._no_sentence, tail)
                rows.append(b"".join(row))
                continue

            disposition = self._pick(_CONVICTIONS_BY_LEVEL[level])
            conviction_level = b"" if rnd() < _BLANK_LEVEL_SHARE else _LEVEL_WORDS[level]
            charge_piece = self._charge_piece(charge.offense, level, disposition, conviction_level)
            # One row per sentence part, all with the same CNT_ORDER.
            for sentence in self._draw_sentence(disposition):
                row = (head, step_piece, cnt_order, count_piece, charge_piece, sentence, tail)
                rows.append(b"".join(row))
            registrable = registrable or charge.kind == "registrable"
        return registrable

    def _draw_sentence(self, disposition: bytes) -> list[bytes]:
        """Draw 1-3 sentence parts for a conviction with this disposition."""
        rnd = self._random
        first, second, third = self._sentences[disposition]
        parts = [self._pick(first)]
        if second and rnd() < _SECOND_SENTENCE_SHARE:
            parts.append(self._pick(second))
            if third and rnd() < _THIRD_SENTENCE_SHARE:
                parts.append(self._pick(third))
        return parts

"""Reading a charge: the code sections a research-file row names.

A charge reads `<code section>-<description>`. The code section holds one or more
section numbers, each with optional subsections, and the letters of the code
(`PC`, `HS`, ...), in the many spellings of real extracts: `11357(C)HS`,
`11357 (A) HS`, `11357B2 HS`, `HS11360`, `664/187 PC`, `519-186.22(B)(4) PC`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

#: Code letters that may stand before or after the section numbers.
CODES = frozenset({
    "PC", "HS", "VC", "BP", "MV", "WI", "FG", "GC", "CC", "HN", "UI", "RT", "ED",
    "PR", "LC", "CI", "EC", "FA", "AC", "PU", "SH", "CP", "MC", "RV", "CA", "IC",
})

PROP64_SECTIONS = ("11357", "11358", "11359", "11360")
_PROP64 = frozenset(PROP64_SECTIONS)

#: Penal Code 664 marks an attempt; it is not itself the offence.
ATTEMPT = "664"

_SEE_COMMENT = b"SEE COMMENT FOR CHARGE"
# The description starts at the first hyphen that is not followed by a digit.
_DESCRIPTION_START = re.compile(rb"-(?![0-9])")
_WHITESPACE_BYTES = b" \t\r\n\x0b\x0c\xa0"


class Section(NamedTuple):
    """One code section of a charge."""

    number: str
    """The section number, e.g. `11357` or `186.22`."""
    subsections: tuple[str, ...]
    """Subsection path, e.g. `("B", "2")` for `(B)(2)`."""
    suffix: str
    """Letters glued to the number as written (`A` in `288A`), empty if none."""
    code: str
    """Code letters (`PC`, `HS`, ...) or empty when the charge names none."""

    @property
    def normalized(self) -> str:
        """Number, glued letters and subsections with no spaces, e.g. `288A(C)(1)`.

        Glued letters after the number are kept as written here, since the PC lists
        tell `288A` (oral copulation) from `288(A)`.
        """
        parens = "".join(f"({part})" for part in self.subsections[self._glued_parts():])
        return self.number + self.suffix + parens

    def _glued_parts(self) -> int:
        return len(_split_glued(self.suffix))


def charge_field(offense_descr: bytes, comment_text: bytes) -> tuple[bytes, bool]:
    """Return the raw text that holds a row's charge and whether it came from the comment.

    The charge is in OFFENSE_DESCR unless that field, trimmed, is empty or reads
    `SEE COMMENT FOR CHARGE`; then it is in COMMENT_TEXT, after any leading words
    that hold no digit (`CHRG 11358 HS`, `:CHRG 11358 HS`).
    """
    if not charge_is_in_comment(offense_descr):
        return offense_descr, False
    return strip_comment_lead(comment_text), True


def charge_is_in_comment(offense_descr: bytes) -> bool:
    """Return whether OFFENSE_DESCR defers the charge to COMMENT_TEXT."""
    # Trim before comparing, because extracts pad this field to any length.
    text = offense_descr.strip(_WHITESPACE_BYTES)
    return not text or (len(text) == len(_SEE_COMMENT) and text.upper() == _SEE_COMMENT)


def strip_comment_lead(comment_text: bytes) -> bytes:
    """Drop the leading words of a comment before its first section number."""
    match = re.search(rb"[0-9]", comment_text)
    if match is None:
        return comment_text
    lead = comment_text[: match.start()]
    cut = max(lead.rfind(b" "), lead.rfind(b":"), lead.rfind(b"\t"))
    return comment_text[cut + 1:]


def code_section_text(charge: bytes) -> bytes:
    """Return a charge up to the first hyphen not followed by a digit, as written."""
    match = _DESCRIPTION_START.search(charge)
    return charge if match is None else charge[: match.start()]


def _split_glued(run: str) -> list[str]:
    return re.findall(r"[A-Z]+|[0-9]+", run)


def parse_sections(code_section: bytes | str) -> list[Section]:
    """Parse the code-section text of a charge into its sections.

    Unknown words (a description without a hyphen, `SELL/FURNISH`) are skipped. An
    attempt marker `664` is dropped when other sections remain and cut off the
    front of a number it is glued to (`66411357` is an attempted 11357).
    """
    if isinstance(code_section, bytes):
        code_section = code_section.decode("latin-1")
    text = code_section.upper()
    length = len(text)
    numbers: list[tuple[str, str, tuple[str, ...]]] = []
    code = ""
    position = 0

    while position < length:
        char = text[position]

        if char.isdigit() and char.isascii():
            end = position
            while end < length and text[end].isdigit():
                end += 1
            if end + 1 < length and text[end] == "." and text[end + 1].isdigit():
                end += 1
                while end < length and text[end].isdigit():
                    end += 1
            number = text[position:end]
            position, suffix, subsections, glued_code = _read_subsections(text, end)
            if glued_code and not code:
                code = glued_code
            numbers.append((number, suffix, subsections))
            continue

        if char.isalpha():
            end = position
            while end < length and text[end].isalpha():
                end += 1
            word = text[position:end]
            if word in CODES and not code:
                code = word
            position = end
            continue

        position += 1

    return _drop_attempt_markers(numbers, code)


def _read_subsections(text: str, position: int) -> tuple[int, str, tuple[str, ...], str]:
    """Read glued letters and parenthesised subsections after a section number."""
    length = len(text)
    suffix = ""
    parts: list[str] = []
    glued_code = ""

    end = position
    while end < length and text[end].isalnum() and text[end].isascii():
        end += 1
    run = text[position:end]
    if run:
        for code in CODES:
            if run.endswith(code) and (len(run) == len(code) or not run[-len(code) - 1].isalpha()):
                glued_code = code
                run = run[: -len(code)]
                break
        if run and run[0].isalpha():
            suffix = run
            parts.extend(_split_glued(run))
        position = end

    while True:
        probe = position
        while probe < length and text[probe] == " ":
            probe += 1
        if probe >= length or text[probe] != "(":
            break
        close = text.find(")", probe)
        if close < 0:
            break
        inner = text[probe + 1: close].replace(" ", "")
        if not inner or not inner.isalnum():
            break
        parts.extend(_split_glued(inner))
        position = close + 1

    return position, suffix, tuple(parts), glued_code


def _drop_attempt_markers(numbers, code: str) -> list[Section]:
    sections = []
    for number, suffix, subsections in numbers:
        if number.startswith(ATTEMPT) and len(number) >= 6 and "." not in number[:6]:
            number = number[len(ATTEMPT):]
        sections.append(Section(number, subsections, suffix, code))
    if len(sections) > 1:
        kept = [s for s in sections if not (s.number == ATTEMPT and not s.subsections)]
        if kept:
            sections = kept
    return sections


def prop64_section(sections: list[Section]) -> Section | None:
    """Return the first section that is a Prop 64 charge (11357-11360), or None."""
    for section in sections:
        if section.number in _PROP64:
            return section
    return None


def names_prop64(raw: bytes) -> bool:
    """Cheap pre-check: whether raw text could name a Prop 64 section at all."""
    return b"1135" in raw or b"11360" in raw

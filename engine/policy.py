"""The county policy: which Prop 64 sections a district attorney dismisses or reduces,
and which extra grounds earn a full dismissal.

Policies are JSON documents decoded with msgspec into typed structs, so that an
unknown key, a section outside 11357-11360 or a threshold out of bounds is rejected
with the path of the field (`$.additionalRelief.subjectAgeThreshold`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Literal

import msgspec

Prop64Section = Literal["11357", "11358", "11359", "11360"]

AGE_THRESHOLD_RANGE = (40, 65)
YEARS_THRESHOLD_RANGE = (1, 15)


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the field."""


class BaselineEligibility(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Sections whose every conviction is dismissed or reduced."""

    dismiss: tuple[Prop64Section, ...] = ()
    reduce: tuple[Prop64Section, ...] = ()

    def __post_init__(self):
        both = sorted(set(self.dismiss) & set(self.reduce))
        if both:
            raise ValueError(f"section {both[0]} is listed in both `dismiss` and `reduce`")


def _check_threshold(value: int, bounds: tuple[int, int], name: str) -> None:
    low, high = bounds
    if value != 0 and not low <= value <= high:
        raise ValueError(f"`{name}` must be 0 (off) or {low}-{high}, got {value}")


class AdditionalRelief(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Extra grounds for dismissal; a threshold of 0 and an absent key mean off."""

    subjectUnder21AtConviction: bool = False
    subjectAgeThreshold: int = 0
    yearsSinceConvictionThreshold: int = 0
    yearsCrimeFreeThreshold: int = 0
    subjectIsDeceased: bool = False
    subjectHasOnlyProp64Charges: bool = False

    def __post_init__(self):
        _check_threshold(self.subjectAgeThreshold, AGE_THRESHOLD_RANGE, "subjectAgeThreshold")
        _check_threshold(self.yearsSinceConvictionThreshold, YEARS_THRESHOLD_RANGE,
                         "yearsSinceConvictionThreshold")
        _check_threshold(self.yearsCrimeFreeThreshold, YEARS_THRESHOLD_RANGE,
                         "yearsCrimeFreeThreshold")


class CountyPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One county's policy, in the JSON form counties configured for the earlier tool."""

    baselineEligibility: BaselineEligibility = BaselineEligibility()
    additionalRelief: AdditionalRelief = AdditionalRelief()


#: The policy used when none is given: the statute's baseline of dismissing possession
#: (11357) and reducing cultivation, possession for sale and sale (11358-11360),
#: with no additional relief.
DEFAULT_POLICY = CountyPolicy(
    BaselineEligibility(dismiss=("11357",), reduce=("11358", "11359", "11360")),
)

#: The fixed what-if policy of the summary: every Prop 64 conviction dismissed.
DISMISS_ALL_PROP64 = CountyPolicy(
    BaselineEligibility(dismiss=("11357", "11358", "11359", "11360")),
)


_KEYS = ("baselineEligibility", "additionalRelief", "dismiss", "reduce",
         *AdditionalRelief.__struct_fields__)


def _hint(message: str) -> str:
    """Suggest the fix for the two most common mistakes: a misspelt key, a wrong section."""
    unknown = re.search(r"unknown field `([^`]+)`", message)
    if unknown:
        close = difflib.get_close_matches(unknown.group(1), _KEYS, n=1)
        if close:
            return f"; did you mean `{close[0]}`?"
    if "Invalid enum value" in message:
        return "; sections are 11357, 11358, 11359 and 11360"
    return ""


class _RepeatedKey(ValueError):
    """A JSON object gives the same key twice."""


def _reject_repeated(pairs: list[tuple[str, object]]) -> dict:
    """Build one JSON object; raise _RepeatedKey when a key appears twice."""
    keys = set()
    for key, _ in pairs:
        if key in keys:
            raise _RepeatedKey(key)
        keys.add(key)
    return dict(pairs)


def decode_policy(data: bytes, source: str) -> CountyPolicy:
    """Decode a policy document; `source` names it in error messages.

    A key given twice in one object is rejected: msgspec would keep the last, and a
    `dismiss` list written twice would silently lose its first sections.
    """
    try:
        policy = msgspec.json.decode(data, type=CountyPolicy)
    except msgspec.ValidationError as error:
        raise PolicyError(f"policy {source} is invalid: {error}{_hint(str(error))}") from None
    except msgspec.DecodeError as error:
        raise PolicyError(f"policy {source} is not valid JSON: {error}") from None
    try:
        json.loads(data, object_pairs_hook=_reject_repeated)
    except _RepeatedKey as repeated:
        raise PolicyError(f"policy {source} is invalid: `{repeated}` is given twice in one object; "
                          "keep one") from None
    return policy


def load_policy(path: str | Path) -> CountyPolicy:
    """Read and decode a policy file."""
    try:
        data = Path(path).read_bytes()
        # Editors on Windows save JSON with a UTF-8 byte-order mark.
        data = data.removeprefix(b"\xef\xbb\xbf")
    except OSError as error:
        raise PolicyError(f"policy {path} cannot be read: {error.strerror}") from None
    return decode_policy(data, str(path))


def encode_policy(policy: CountyPolicy) -> bytes:
    """Encode a policy as canonical JSON (every key, in declaration order)."""
    return msgspec.json.encode(policy)


def policy_digest(policy: CountyPolicy) -> str:
    """Return the SHA-256 of the canonical JSON of a policy, for the manifest."""
    return hashlib.sha256(encode_policy(policy)).hexdigest()

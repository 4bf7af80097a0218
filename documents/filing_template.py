"""The county-editable layout of the court filing: a TOML file with the court's
caption, the district attorney's block and the text of the motion and the order.

The default is `templates/court-filing.toml` beside this module; its comments list
the placeholders. A template is decoded strictly, and every text is tried with every
placeholder when it is loaded, so a misspelt key or placeholder is rejected before
any filing is written.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal

import msgspec

DEFAULT_TEMPLATE = Path(__file__).with_name("templates") / "court-filing.toml"
PLACEHOLDERS = ("county", "county_title", "defendants", "people", "cases", "convictions",
                "dismissals", "redesignations", "compute_at")


class FilingTemplateError(ValueError):
    """A filing template that cannot be used; the message names the file and the key."""


class Attorney(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    lines: list[str]


class Court(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    county_line: str


class Caption(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    plaintiff: str
    defendants: str
    title: str
    authority: str


class Motion(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    paragraphs: list[str]
    signature_lines: list[str]
    signer: str


class Order(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    heading: str
    paragraphs: list[str]
    signer: str


class FilingTemplate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The layout of a court filing; text fields may hold `${placeholder}`s."""

    page_size: Literal["letter", "legal", "A4"]
    page_header: str
    attorney: Attorney
    court: Court
    caption: Caption
    motion: Motion
    order: Order


def _texts(value, path: str):
    """Yield `(key path, text)` for every string in a decoded template."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _texts(item, f"{path}[{index}]")
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from _texts(getattr(value, name), f"{path}.{name}" if path else name)


def fill(text: str, values: dict[str, str]) -> str:
    """Replace the placeholders of one template text."""
    return string.Template(text).substitute(values)


def load_template(path: str | Path | None = None) -> FilingTemplate:
    """Read and check a filing template; None reads the default."""
    path = Path(path) if path is not None else DEFAULT_TEMPLATE
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FilingTemplateError(f"filing template {path} cannot be read: {error.strerror}") from None
    try:
        template = msgspec.toml.decode(data, type=FilingTemplate)
    except msgspec.ValidationError as error:
        raise FilingTemplateError(f"filing template {path} is invalid: {error}") from None
    except msgspec.DecodeError as error:
        raise FilingTemplateError(f"filing template {path} is not valid TOML: {error}") from None

    trial = {name: name for name in PLACEHOLDERS}
    for key, text in _texts(template, ""):
        try:
            fill(text, trial)
        except KeyError as error:
            raise FilingTemplateError(
                f"filing template {path}: `{key}` uses the unknown placeholder ${{{error.args[0]}}}; "
                f"known placeholders are {', '.join(PLACEHOLDERS)}") from None
        except ValueError:
            raise FilingTemplateError(
                f"filing template {path}: `{key}` has a `$` that starts no placeholder; "
                "write $$ for a dollar sign") from None
    return template

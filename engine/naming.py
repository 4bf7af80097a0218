"""Names of the folders a run writes, made safe whatever the input holds."""

from __future__ import annotations

import re

_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")
MAX_FOLDER_LENGTH = 64
UNNAMED_COUNTY = "unnamed-county"


def county_folder(county: str) -> str:
    """Return a county's folder name: lower case, `-` for spaces, only `[a-z0-9-]`.

    Any run of other characters becomes one `-`, so `SAN JOAQUIN` gives `san-joaquin`
    and `../../x` gives `x`. A name with no letter or digit gives `unnamed-county`.
    """
    folder = _NOT_ALLOWED.sub("-", county.strip().lower()).strip("-")
    folder = folder[:MAX_FOLDER_LENGTH].rstrip("-")
    return folder or UNNAMED_COUNTY

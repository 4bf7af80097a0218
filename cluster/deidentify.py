"""A research copy of a run's decisions, for analysts who must not see identities.

The copy keeps what a study of relief needs (county, Prop 64 section, felony,
determination, reason, the deciding check, the person's conviction counts and
flags) and removes or replaces what names a person or a record:

| decisions column | research copy |
|---|---|
| `subject` (SUBJECT_ID) | `person_key`: HMAC-SHA256 of it under the operator's key |
| `cnt_order` | `conviction_key`: HMAC-SHA256 of SUBJECT_ID and CNT_ORDER |
| `cii_number`, `case_numbers` | removed |
| `code_section` (the charge as written) | the parsed sections only, e.g. `11357(C) HS` |
| `disposition_date` | `disposition_year` |

The decisions dataset contains no name or date of birth. The key never enters the copy.
`deidentified.json` records a key id (an HMAC of a fixed text), so two copies can be
checked for the same key without revealing it. The same key gives the same person
keys in every copy, which lets analysts link runs; a new key makes copies unlinkable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import shutil
import stat
from pathlib import Path
from typing import NamedTuple

import fastparquet
import pandas as pd

from engine.charges import parse_sections
from cluster.parquet_metadata import write_dataset_metadata
from cluster.parts import HashingWriter, file_digest, make_private_dir, open_private
from cluster.settings import ConfigError

logger = logging.getLogger(__name__)

KEY_ENVIRONMENT_VARIABLE = "CLEARANCE_DEIDENTIFY_KEY"
#: 256 bits, the output size of SHA-256; a shorter key weakens the HMAC.
MIN_KEY_BYTES = 32
DECISIONS = "decisions"
REPORT = "deidentified.json"
#: The text whose HMAC identifies a key without revealing it.
_KEY_ID_TEXT = b"clearance deidentify key id"

KEPT_COLUMNS = ("county_name", "section", "felony", "determination", "reason", "check",
                "conviction_count", "prop64_count", "deceased", "pc290_registration")
REMOVED_COLUMNS = ("subject", "cii_number", "cnt_order", "case_numbers", "code_section",
                   "disposition_date")


class Written(NamedTuple):
    """Counts of a research copy."""

    rows: int
    counties: int
    files: int


def read_key(key_file: str | None) -> bytes:
    """Return the HMAC key from a file, or from `CLEARANCE_DEIDENTIFY_KEY` without one.

    A file is read as bytes with one trailing line end dropped, so both raw random
    bytes and a hex line work. Raises ConfigError for a missing or short key.
    """
    if key_file:
        path = Path(key_file)
        try:
            key = path.read_bytes()
        except OSError as error:
            raise ConfigError(f"key file {path} cannot be read: {error.strerror}") from None
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            logger.warning("key file %s can be read by other users; run chmod 600 on it", path)
        source = f"key file {path}"
    else:
        text = os.environ.get(KEY_ENVIRONMENT_VARIABLE)
        if text is None:
            raise ConfigError(f"no key: give --key-file FILE or set {KEY_ENVIRONMENT_VARIABLE}")
        key = text.encode("utf-8")
        source = KEY_ENVIRONMENT_VARIABLE
    key = key.removesuffix(b"\n").removesuffix(b"\r")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{source} contains {len(key)} bytes; a key needs at least {MIN_KEY_BYTES} "
                          "(make one with `head -c 32 /dev/urandom > key && chmod 600 key`)")
    return key


def key_id(key: bytes) -> str:
    """Return a short id of a key that does not reveal it."""
    return hmac.new(key, _KEY_ID_TEXT, hashlib.sha256).hexdigest()[:16]


def _keyed(key: bytes, values) -> list[str]:
    return [hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest() for value in values]


def _sections(code_section: str) -> str:
    parsed = parse_sections(code_section)
    return "; ".join(f"{s.normalized} {s.code}".strip() for s in parsed)


def research_frame(frame: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Return the research copy of one decisions frame."""
    copy = pd.DataFrame({
        "person_key": _keyed(key, frame["subject"]),
        "conviction_key": _keyed(key, frame["subject"] + "\x00" + frame["cnt_order"]),
    })
    for name in KEPT_COLUMNS:
        copy[name] = frame[name].to_numpy()
    copy["code_sections"] = [_sections(text) for text in frame["code_section"]]
    dates = pd.to_datetime(frame["disposition_date"])
    # A nullable column keeps one type whether or not a part has an unknown date.
    copy["disposition_year"] = dates.dt.year.astype("Int16").array
    return copy


def _verified_parts(run: Path) -> list[Path]:
    """Return the run's decision parts after checking each against its manifest."""
    if (run / "INCOMPLETE").exists() or not (run / "manifest.json").exists():
        raise ConfigError(f"{run} contains no finished run (manifest.json missing or INCOMPLETE "
                          "present); finish the run first")
    try:
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"manifest of {run} cannot be read: {error}") from None
    listed = {entry["path"]: entry for entry in manifest.get("outputs", [])}
    parts = sorted((run / DECISIONS).glob("county=*/*.parquet"))
    for path in parts:
        entry = listed.get(str(path.relative_to(run)))
        if entry is None:
            raise ConfigError(f"{path} is not listed in the run's manifest; the run folder was changed")
        size, sha256 = file_digest(path)
        if size != entry["bytes"] or sha256 != entry["sha256"]:
            raise ConfigError(f"{path} does not match the SHA-256 in the run's manifest; "
                              "the run folder was changed")
    return parts


def _prepare(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"output {out} exists and is not an empty folder; choose a new one")
    try:
        return make_private_dir(out)
    except OSError as error:
        raise ConfigError(f"output folder {out} cannot be made: {error.strerror}") from None


def deidentify_run(run: Path, out: Path, key: bytes) -> Written:
    """Write the research copy of the finished run in `run` into the new folder `out`."""
    parts = _verified_parts(run)
    _prepare(out)
    try:
        return _write_copy(run, out, parts, key)
    except BaseException:
        # The folder was new or empty, so a half-written copy is removed whole.
        shutil.rmtree(out, ignore_errors=True)
        raise


def _write_copy(run: Path, out: Path, parts: list[Path], key: bytes) -> Written:
    manifest_sha256 = file_digest(run / "manifest.json")[1]
    decisions = make_private_dir(out / DECISIONS)
    written: list[Path] = []
    rows = 0
    for part in parts:
        frame = fastparquet.ParquetFile(str(part)).to_pandas()
        copy = research_frame(frame, key)
        folder = make_private_dir(decisions / part.parent.name)
        target = folder / part.name
        temporary = folder / f".{part.name}.{os.getpid()}.tmp"
        fastparquet.write(str(temporary), copy, compression="SNAPPY", write_index=False,
                          stats=False, open_with=open_private)
        os.replace(temporary, target)
        written.append(target)
        rows += len(copy)
    write_dataset_metadata(decisions, written, open_with=open_private)

    outputs = []
    for path in sorted(p for p in decisions.rglob("*") if p.is_file()):
        size, sha256 = file_digest(path)
        outputs.append({"path": str(path.relative_to(out)), "bytes": size, "sha256": sha256})
    report = {
        "sourceRun": str(run),
        "sourceManifestSha256": manifest_sha256,
        "keyId": key_id(key),
        "hash": "HMAC-SHA256",
        "rows": rows,
        "columnsKept": list(KEPT_COLUMNS),
        "columnsAdded": ["person_key", "conviction_key", "code_sections", "disposition_year"],
        "columnsRemoved": list(REMOVED_COLUMNS),
        "outputs": outputs,
    }
    with HashingWriter(out / REPORT) as writer:
        writer.write((json.dumps(report, indent=2) + "\n").encode("utf-8"))
    counties = len({path.parent.name for path in written})
    return Written(rows, counties, len(written))

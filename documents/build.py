"""Building every document of a finished run, county by county, and recording them
in its manifest."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from documents.doj_update import write_doj_update
from documents.figures import CountyFigures, count_figures
from documents.files import WrittenFile
from documents.filing import FILE_NAME, PER_PERSON_FOLDER, write_filing, write_person_filings
from documents.filing_template import load_template
from documents.report import write_county_reports, write_statewide_report
from documents.source import RunOutputError, read_county, read_run
from documents.workbook import write_workbook
from cluster.parts import HashingWriter

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def write_documents(out: str | Path, per_person: bool = False,
                    filing_template: str | Path | None = None) -> list[WrittenFile]:
    """Write every county's documents and the statewide report into a run folder.

    Each county's documents are built from that county's summary and decisions
    alone. The template is checked before any file is written.

    Raises
    ------
    RunOutputError
        The folder is not a finished run, or its files disagree.
    FilingTemplateError
        The filing template is invalid.
    """
    template = load_template(filing_template)
    run = read_run(out)
    manifest = _read_manifest(run.out)
    run_id = manifest.get("runId", "")
    written: list[WrittenFile] = []
    county_figures: list[CountyFigures] = []

    for ref in run.counties:
        started = time.perf_counter()
        county = read_county(run, ref)
        figures = count_figures(county)
        folder = run.out / ref.folder
        written.append(write_workbook(county, figures, folder))
        written.append(write_doj_update(county, folder))
        _remove_filings(folder)
        if per_person:
            written.extend(write_person_filings(county, template, folder))
        else:
            written.append(write_filing(county, template, folder))
        written.extend(write_county_reports(figures, folder, run_id))
        county_figures.append(figures)
        logger.info("documents of county %s written: %d convictions, %.2fs", ref.folder,
                    figures.convictions, time.perf_counter() - started)

    written.append(write_statewide_report(run, county_figures, run_id))
    _record_in_manifest(run.out, manifest, written)
    return written


def _remove_filings(folder: Path) -> None:
    """Remove the filings of an earlier call, so that a switch between one filing per
    county and one per person, or a smaller run, leaves no stale filing behind."""
    (folder / FILE_NAME).unlink(missing_ok=True)
    shutil.rmtree(folder / PER_PERSON_FOLDER, ignore_errors=True)


def _read_manifest(out: Path) -> dict:
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunOutputError(f"{out / MANIFEST} is missing; is this the output folder of a "
                             "finished `clearance run`?") from None
    except (OSError, ValueError) as error:
        raise RunOutputError(f"{out / MANIFEST} cannot be read as JSON: {error}") from None


def _record_in_manifest(out: Path, manifest: dict, written: list[WrittenFile]) -> None:
    """List the documents among the manifest's outputs, replacing those of an earlier
    `clearance documents` on the same run."""
    outputs = {entry["path"]: entry for entry in manifest.get("outputs", [])}
    for document in written:
        path = str(document.path.relative_to(out))
        outputs[path] = {"path": path, "bytes": document.bytes, "sha256": document.sha256}
    # A per-person filing run followed by a county-wide one leaves no stale entries.
    for path in list(outputs):
        if not (out / path).exists():
            del outputs[path]
    manifest["outputs"] = [outputs[path] for path in sorted(outputs)]
    data = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    with HashingWriter(out / MANIFEST) as writer:
        writer.write(data)

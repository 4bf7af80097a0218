"""Make the pictures of the documents that docs/ and the README show.

Generates a fabricated research file of eight counties and runs it with the
documents. Headless Chromium then takes screenshots of the statewide report.html and
of one county's report.html. pdftoppm (Debian's poppler-utils) renders the first page
of that county's court-filing.pdf to PNG.

    .venv/bin/python scripts/docs_images.py [WORK_FOLDER]
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cluster.run import run_job
from cluster.settings import RunConfig
from documents.browser import render_page
from documents.build import write_documents
from engine.generate import write_research_file

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
COUNTIES = ["LOS ANGELES", "SAN DIEGO", "FRESNO", "SACRAMENTO", "SAN JOAQUIN", "HUMBOLDT",
            "YOLO", "SHASTA"]
COUNTY_FOLDER = "san-joaquin"


def main(work: Path) -> None:
    source = work / "statewide.csv"
    write_research_file(source, rows=60_000, counties=COUNTIES, seed=11)
    out = work / "out"
    run_job(RunConfig(inputs=[str(source)], out=str(out), compute_at=datetime.date(2024, 7, 1),
                      workers=2, overwrite=True, progress=False))
    write_documents(out)

    IMAGES.mkdir(parents=True, exist_ok=True)
    (IMAGES / "statewide-report.png").write_bytes(render_page(out / "report.html").screenshot)
    (IMAGES / "county-report.png").write_bytes(
        render_page(out / COUNTY_FOLDER / "report.html").screenshot)
    prefix = work / "filing"
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(out / COUNTY_FOLDER / "court-filing.pdf"), str(prefix)], check=True)
    shutil.copyfile(prefix.with_suffix(".png"), IMAGES / "court-filing-page-1.png")
    print(f"wrote {', '.join(sorted(p.name for p in IMAGES.glob('*.png')))} into {IMAGES}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory(prefix="clearance-docs-") as folder:
            main(Path(folder))

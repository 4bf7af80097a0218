"""Merging: joining part files into the run's outputs, adding up partial summaries,
and writing the manifest with its row account."""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import msgspec

from engine import __version__, layout
from engine.batch import STATEWIDE, Settings
from engine.bundle import CONDENSED_HEADER, FULL_HEADER
from engine.naming import county_folder
from engine.rules import RulePolicy, policy_document, policy_sha256
from engine.summary import CountySummary
from cluster.parts import (
    FILE_MODE, DamagedPartError, HashingWriter, file_digest, join_parts, make_private_dir, open_private,
)
from cluster.lifecycle import DECIDE, forget_unit
from cluster.parquet_metadata import write_dataset_metadata
from cluster.plan import InputFile, Shard
from cluster.tasks import (
    ALL_PART, CONDENSED_PART, PARTS_FOLDER, UnitResult, county_tag, read_rejected, shard_unit,
)

logger = logging.getLogger(__name__)

REJECTED_HEADER = b"file,line,reason,raw_line"


class AccountError(RuntimeError):
    """The row account of a run does not balance: a row was lost or counted twice."""


class FileAccount(msgspec.Struct):
    """Rows of one input file: read = decided + passed through + set aside."""

    path: str
    bytes: int
    sha256: str
    rows_read: int = 0
    rows_decided: int = 0
    rows_passed_through: int = 0
    rows_set_aside: int = 0
    header: bool = False


class RunOutcome:
    """Outputs and figures of a run, for the manifest, the closing table and the exit code."""

    def __init__(self, out: Path, run_id: str):
        self.out = out
        self.run_id = run_id
        self.accounts: list[FileAccount] = []
        self.outputs: dict[str, dict] = {}
        self.county_summaries: dict[str, CountySummary] = {}
        self.county_folders: dict[str, str] = {}
        self.statewide = CountySummary(STATEWIDE)
        self.policies: dict[str, dict] = {}
        self.compute_at: datetime.date | None = None
        self.rows_set_aside = 0
        self.rows_read = 0
        self.prop64_without_county = 0

    def record_output(self, path: Path, size: int, sha256: str) -> None:
        self.outputs[str(path.relative_to(self.out))] = {"bytes": size, "sha256": sha256}

    def write_manifest(self, timings: dict[str, float], started: str, resumed: bool) -> None:
        """Write `manifest.json`; `started` is when the run began (UTC, ISO 8601), and
        with `resumed` the timings are those of the last resume only."""
        manifest = {
            "version": __version__,
            "runId": self.run_id,
            "started": started,
            "resumed": resumed,
            "computeAt": self.compute_at.isoformat() if self.compute_at else None,
            "inputs": [
                {"path": a.path, "bytes": a.bytes, "sha256": a.sha256} for a in self.accounts],
            "outputs": [{"path": path, **info} for path, info in sorted(self.outputs.items())],
            "policies": self.policies,
            "rowAccount": {
                "files": [
                    {"path": a.path, "rowsRead": a.rows_read, "rowsDecided": a.rows_decided,
                     "rowsPassedThrough": a.rows_passed_through, "rowsSetAside": a.rows_set_aside}
                    for a in self.accounts],
                "rowsRead": self.rows_read,
                "rowsDecided": sum(a.rows_decided for a in self.accounts),
                "rowsPassedThrough": sum(a.rows_passed_through for a in self.accounts),
                "rowsSetAside": self.rows_set_aside,
            },
            "timingsSeconds": {name: round(value, 3) for name, value in timings.items()},
        }
        _write_json(self.out / "manifest.json", manifest)


def _write_json(path: Path, document) -> tuple[int, str]:
    data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    with HashingWriter(path) as writer:
        writer.write(data)
    return writer.bytes, writer.sha256.hexdigest()


def assign_folders(counties: list[str]) -> dict[str, str]:
    """Give every county a folder name, adding `-2`, `-3` where two names share one."""
    folders: dict[str, str] = {}
    used: set[str] = set()
    for county in sorted(counties):
        base = county_folder(county)
        folder, number = base, 1
        while folder in used or folder in ("decisions",):
            number += 1
            folder = f"{base}-{number}"
        used.add(folder)
        folders[county] = folder
    return folders


def merge_outputs(out: Path, files: list[InputFile], shards: list[Shard],
                  results: dict[str, UnitResult], settings: Settings,
                  policy_sources: dict[str, str], run_id: str,
                  timings: dict[str, float],
                  digests: dict[int, tuple[int, str]] | None = None) -> RunOutcome:
    """Join every part into the run's outputs and return the outcome.

    `digests` gives the size and SHA-256 of inputs already hashed, by file index;
    the others are hashed here.
    """
    outcome = RunOutcome(out, run_id)
    outcome.compute_at = settings.compute_at
    parts = out / PARTS_FOLDER
    shard_units = [results[shard_unit(s.index)] for s in shards]
    regrouped = [results[name] for name in sorted(results) if name.startswith("b")]
    units = shard_units + regrouped

    _account_rows(outcome, files, shards, units, digests or {})
    counties = _decided_counties(units, settings)
    outcome.county_folders = assign_folders(counties)

    outcome.prop64_without_county = sum(unit.prop64_without_county for unit in units)
    if outcome.prop64_without_county:
        logger.warning("%d Prop 64 convictions have a blank STP_ORI_CNTY_NAME, so no county "
                       "decides them; the statewide summary counts them", outcome.prop64_without_county)
    for unit in units:
        for summary in unit.summaries:
            if summary.county in outcome.county_summaries:
                outcome.county_summaries[summary.county].merge(summary)
            else:
                outcome.county_summaries[summary.county] = summary
        if unit.statewide is not None:
            outcome.statewide.merge(unit.statewide)

    try:
        for county in counties:
            _write_county(outcome, county, parts, shard_units, regrouped, settings, policy_sources)
        if settings.all_results and counties:
            _join_bundle(outcome, out / outcome.county_folders[counties[0]], parts, shard_units,
                         regrouped)
    except DamagedPartError as error:
        # Without its records the unit counts as not done, so a resume writes its parts anew.
        forget_unit(error.path.parent)
        raise

    _write_decisions_metadata(outcome, units)
    _write_rejected(outcome, files, shards, shard_units)
    _write_run_summary(outcome, settings)
    return outcome


def _account_rows(outcome: RunOutcome, files: list[InputFile], shards: list[Shard],
                  units: list[UnitResult], digests: dict[int, tuple[int, str]]) -> None:
    for file in files:
        if file.index in digests:
            size, sha256 = digests[file.index]
        else:
            size, sha256 = file_digest(file.path)
        outcome.accounts.append(FileAccount(file.path, size, sha256))
    file_of_shard = {s.index: s.file_index for s in shards}
    for unit in units:
        if unit.shard is not None:
            account = outcome.accounts[unit.file_index]
            account.rows_read += unit.rows
            account.rows_set_aside += unit.rejected
            account.header = account.header or unit.header
        for shard, count in unit.decided_by_shard.items():
            outcome.accounts[file_of_shard[shard]].rows_decided += count
        for shard, count in unit.passed_by_shard.items():
            outcome.accounts[file_of_shard[shard]].rows_passed_through += count
    for account in outcome.accounts:
        accounted = account.rows_decided + account.rows_passed_through + account.rows_set_aside
        if accounted != account.rows_read:
            raise AccountError(
                f"row account of {account.path} does not balance: {account.rows_read} rows read, "
                f"{accounted} decided, passed through or set aside")
    outcome.rows_read = sum(a.rows_read for a in outcome.accounts)
    outcome.rows_set_aside = sum(a.rows_set_aside for a in outcome.accounts)


def _decided_counties(units: list[UnitResult], settings: Settings) -> list[str]:
    seen: set[str] = set()
    for unit in units:
        seen.update(unit.counties_seen)
        seen.update(summary.county for summary in unit.summaries)
    if settings.counties is None:
        return sorted(seen)
    chosen = sorted(c for c in seen if county_folder(c) in settings.counties)
    found = {county_folder(c) for c in chosen}
    for folder in sorted(settings.counties - found):
        logger.warning("county %s has no kept row in the input; its bundle is empty", folder)
        chosen.append(folder.replace("-", " ").upper())
    return chosen


def _join_into(outcome: RunOutcome, path: Path, header: bytes, ordered: list[Path],
               regrouped: list[Path]) -> None:
    writer = _join(path, header, ordered, regrouped)
    outcome.record_output(path, writer.bytes, writer.sha256.hexdigest())


def _join(path: Path, header: bytes, ordered: list[Path], regrouped: list[Path],
          copied=None) -> HashingWriter:
    with HashingWriter(path) as writer:
        join_parts(writer, header, ordered, regrouped, copied)
    return writer


def _join_bundle(outcome: RunOutcome, folder: Path, parts: Path, shard_units: list[UnitResult],
                 regrouped: list[UnitResult]) -> None:
    """Join `All_Results.csv` and `All_Results_Condensed.csv`, one thread each.

    Unpacking, hashing and writing release the GIL, so the two joins run on two
    cores. Outputs are recorded in a fixed order once both are written.
    """
    stop = threading.Event()

    def copied(path: Path) -> None:
        # After an interrupt or a failure of the other join, a join stops at the next
        # part boundary, and releases no part it has not copied.
        if stop.is_set():
            raise _JoinStopped
        _release_part(path)

    jobs = []
    for name, part, header in (("All_Results.csv", ALL_PART, FULL_HEADER),
                               ("All_Results_Condensed.csv", CONDENSED_PART, CONDENSED_HEADER)):
        ordered = [parts / u.unit / part for u in shard_units]
        extra = [parts / u.unit / part for u in regrouped]
        jobs.append((folder / name, header, ordered, extra, None if extra else copied))
    pool = ThreadPoolExecutor(max_workers=len(jobs))
    futures = [pool.submit(_join, *job) for job in jobs]
    try:
        # In the order they end, so that the first failure stops the other join at once.
        for future in as_completed(futures):
            future.result()
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True)
    for job, future in zip(jobs, futures):
        writer = future.result()
        outcome.record_output(job[0], writer.bytes, writer.sha256.hexdigest())


class _JoinStopped(Exception):
    """A bundle join stopped because the merge is being abandoned."""


def _release_part(path: Path) -> None:
    """Delete a shard's bundle part once it is copied, with the shard's result record.

    Deleted at once, a part frees its pages of the page cache for the next writes,
    and need not reach the disk. Without its record the shard counts as not
    decided, so a resume decides it again and writes the part anew.
    """
    forget_unit(path.parent, (DECIDE,))
    path.unlink()
    path.with_name(path.name + ".keys.npy").unlink(missing_ok=True)


def _write_county(outcome: RunOutcome, county: str, parts: Path, shard_units: list[UnitResult],
                  regrouped: list[UnitResult], settings: Settings,
                  policy_sources: dict[str, str]) -> None:
    folder_name = outcome.county_folders[county]
    folder = make_private_dir(outcome.out / folder_name)
    ordered = [parts / u.unit / u.prop64_parts[county] for u in shard_units if county in u.prop64_parts]
    extra = [parts / u.unit / u.prop64_parts[county] for u in regrouped if county in u.prop64_parts]
    _join_into(outcome, folder / "Prop64_Results.csv", FULL_HEADER, ordered, extra)

    policy = settings.policy_for(county_folder(county))
    summary = outcome.county_summaries.setdefault(county, CountySummary(county))
    document = summary.to_json(policy, outcome.rows_read)
    document["computeAt"] = settings.compute_at.isoformat()
    document["rowsSetAside"] = outcome.rows_set_aside
    size, sha256 = _write_json(folder / "summary.json", document)
    outcome.record_output(folder / "summary.json", size, sha256)
    outcome.policies[county] = {
        "folder": folder_name,
        "source": policy_sources.get(county_folder(county), policy_sources["*"]),
        "name": policy.name,
        "sha256": policy_sha256(policy),
        "policy": policy_document(policy),
    }


def _place_part(source: Path, decisions: Path, folder: str) -> Path:
    """Link a task's decision part into `decisions/county=<folder>/`, or copy it where
    the file system has no hard links; the part itself stays for a resume."""
    target = make_private_dir(decisions / f"county={folder}") / source.name
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        target.chmod(FILE_MODE)
    return target


def _write_decisions_metadata(outcome: RunOutcome, units: list[UnitResult]) -> None:
    """Place every decision part in its county's partition and write `_metadata`.

    A part's name ends in the tag of its county name, which gives the county's output
    folder, so two county names that share a folder name keep separate partitions.
    """
    decisions = make_private_dir(outcome.out / "decisions")
    folders = {county_tag(county): folder for county, folder in outcome.county_folders.items()}
    paths = []
    for unit in units:
        for part in unit.decision_parts:
            source = outcome.out / part
            folder = folders.get(source.stem.rsplit("-", 1)[-1], source.parent.name.removeprefix("county="))
            paths.append(_place_part(source, decisions, folder))
    write_dataset_metadata(decisions, paths, open_with=open_private)
    for path in sorted(decisions.rglob("*")):
        if path.is_file():
            size, sha256 = file_digest(path)
            outcome.record_output(path, size, sha256)


def _write_rejected(outcome: RunOutcome, files: list[InputFile], shards: list[Shard],
                    shard_units: list[UnitResult]) -> None:
    # Lines are counted within each shard; a shard's offset is the lines of the
    # shards of the same file before it.
    offsets: dict[int, int] = {}
    seen_lines: dict[int, int] = {}
    for shard, unit in zip(shards, shard_units):
        offsets[shard.index] = seen_lines.get(shard.file_index, 0)
        seen_lines[shard.file_index] = offsets[shard.index] + unit.lines
    path = outcome.out / "rejected.csv"
    with HashingWriter(path) as writer:
        writer.write(REJECTED_HEADER + b"\n")
        for shard in shards:
            unit_dir = outcome.out / PARTS_FOLDER / shard_unit(shard.index)
            for row in read_rejected(unit_dir / "rejected.msgpack"):
                line = offsets[shard.index] + row.line
                cells = [files[shard.file_index].path.encode("utf-8"), str(line).encode(),
                         row.reason.encode("utf-8"), row.raw]
                writer.write(layout.join_cells(cells) + b"\n")
    outcome.record_output(path, writer.bytes, writer.sha256.hexdigest())


def _write_run_summary(outcome: RunOutcome, settings: Settings) -> None:
    statewide = outcome.statewide
    document = {
        "computeAt": settings.compute_at.isoformat(),
        "rowsRead": outcome.rows_read,
        "rowsSetAside": outcome.rows_set_aside,
        "counties": {},
        "statewide": {
            "counties": len(outcome.county_folders),
            "prop64ConvictionsCountByCodeSection": dict(sorted(statewide.convictions_by_section.items())),
            "prop64FelonyConvictionsCount": statewide.felony_convictions,
            "prop64ConvictionsWithoutCountyCount": outcome.prop64_without_county,
            "prop64NonFelonyConvictionsCount": statewide.non_felony_convictions,
            "convictionsDismissed": statewide.dismissed,
            "convictionsReduced": statewide.reduced,
            "convictionsWithNoRelief": statewide.no_relief,
            "convictionCountByDetermination": statewide.determination_counts(),
            "possiblePleaBargainConvictionCount": statewide.possible_plea_bargains,
            "subjectsWithProp64ConvictionCount": statewide.subjects_with_prop64,
            "subjectsWithSomeReliefCount": statewide.subjects_with_relief,
            "reliefWithCurrentEligibilityChoices": dict(sorted(statewide.relief_current.items())),
            "reliefWithDismissAllProp64": dict(sorted(statewide.relief_dismiss_all.items())),
            "earliestConviction": None if statewide.earliest_conviction is None
            else f"{statewide.earliest_conviction.isoformat()}T00:00:00Z",
        },
    }
    for county, folder in sorted(outcome.county_folders.items()):
        summary = outcome.county_summaries[county]
        policy: RulePolicy = settings.policy_for(county_folder(county))
        entry = summary.to_json(policy, outcome.rows_read)
        entry["folder"] = folder
        document["counties"][county] = entry
    size, sha256 = _write_json(outcome.out / "summary.json", document)
    outcome.record_output(outcome.out / "summary.json", size, sha256)

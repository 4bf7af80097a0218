"""A run's state on disk, which marks an interrupted run and lets it be resumed.

At the start, a run writes an `INCOMPLETE` marker in the output folder and its plan
(settings, policies, inputs with size and modification time, shards) under the parts
folder. The inputs' SHA-256 are added to the plan once a client thread has hashed
them, while the workers decide. A run stopped before that cannot be resumed. As each
task returns, the client saves its result record beside the task's part files; a unit
with a saved record is done. A single-county merge deletes each shard's bundle parts
as it copies them, and the shard's record first, so a resume from there decides those
shards again. The manifest is written last, then the marker is removed, then the parts
folder. So a folder with `INCOMPLETE`, or without `manifest.json`, never contains
results, whatever stopped the run (a signal, a failure, or a hard kill that ran no
cleanup at all).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import logging
import os
import shutil
import stat
import threading
import time
from pathlib import Path

import msgspec

from engine import __version__
from engine.batch import Settings
from cluster.errors import InputChangedError, resume_command
from cluster.parts import write_atomic
from cluster.plan import InputFile, Shard
from cluster.settings import ConfigError
from cluster.tasks import PARTS_FOLDER, UnitResult, decode_result

logger = logging.getLogger(__name__)

INCOMPLETE_MARKER = "INCOMPLETE"
STATE_FILE = "run.msgpack"
MANIFEST = "manifest.json"
#: Version of the layout of the state file and the parts; a resume rejects any other.
#: 2: line parts are LZ4 frames.
STATE_FORMAT = 2

#: Stages whose result records are saved: the first pass over a shard, the
#: second pass over a shard holding split persons, and a bucket of those persons.
DECIDE, REGROUP, BUCKET = "decided", "regrouped", "bucket"

_MARKER_TEXT = """\
This folder contains a Clearance run that has not finished. Its files are not results.
{advice}
or delete the folder. The run writes manifest.json and removes this file only when
every output is whole.
"""
_RESUME_ADVICE = """Finish the run with:

    {command}
"""
_RESTART_ADVICE = """It cannot be resumed. Start the run again with --overwrite,"""


class InputRecord(msgspec.Struct, frozen=True):
    """One input as it was when the run started."""

    path: str
    """As given on the command line; outputs name the file by this."""
    location: str
    """Absolute path (or URL) that a resume reads, whatever its working folder."""
    size: int
    mtime_ns: int | None
    sha256: str | None
    """None for a URL, which is not hashed."""


class RunState(msgspec.Struct):
    """Everything a resume needs to finish a run with the same outputs."""

    format: int
    version: str
    run_id: str
    started: str
    settings: Settings
    policy_sources: dict[str, str]
    shard_size: int
    inputs: list[InputRecord]
    files: list[InputFile]
    shards: list[Shard]

    def digests(self) -> dict[int, tuple[int, str]]:
        """Return the size and SHA-256 of each local input, by file index."""
        return {index: (record.size, record.sha256) for index, record in enumerate(self.inputs)
                if record.sha256 is not None}


_state_encoder = msgspec.msgpack.Encoder()
_state_decoder = msgspec.msgpack.Decoder(RunState)


@contextlib.contextmanager
def output_lock(out: Path):
    """Hold an exclusive lock on the output folder while a run or a resume writes there.

    Raises ConfigError when another run has it locked. Where the file system does not
    lock folders (some network mounts), the run goes on unlocked.
    """
    # os.open makes descriptors that are not inherited, so worker processes do not
    # keep the lock after the client ends.
    descriptor = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"output folder {out} is in use by another Clearance run; wait "
                              "for it to end, or choose another --out") from None
        except OSError as error:
            logger.warning("output folder %s cannot be locked (%s); make sure no other run "
                           "writes there", out, error.strerror)
        yield
    finally:
        os.close(descriptor)


def has_saved_plan(out: str | Path) -> bool:
    """Return whether a folder contains the saved plan of an unfinished run."""
    folder = Path(out)
    return (folder / INCOMPLETE_MARKER).exists() and (folder / PARTS_FOLDER / STATE_FILE).exists()


def _unhashed(state: RunState) -> list[str]:
    """Return the local inputs of a run whose SHA-256 was not saved, as given."""
    return [record.path for record in state.inputs if is_local(record.location) and record.sha256 is None]


def is_resumable(out: str | Path) -> bool:
    """Return whether `--resume` can continue the run in a folder: a saved plan of this
    version, with every local input hashed. The inputs themselves are not checked."""
    if not has_saved_plan(out):
        return False
    try:
        state = _state_decoder.decode((Path(out) / PARTS_FOLDER / STATE_FILE).read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return False
    return state.format == STATE_FORMAT and state.version == __version__ and not _unhashed(state)


def is_finished(out: str | Path) -> bool:
    """Return whether `out` contains a finished run: a manifest and no unfinished marker."""
    folder = Path(out)
    return (folder / MANIFEST).exists() and not (folder / INCOMPLETE_MARKER).exists()


def is_local(path: str) -> bool:
    return "://" not in path


def _sha256_as_planned(record: InputRecord, stop: threading.Event | None = None) -> str | None:
    """Return the SHA-256 of an input, or None when `stop` is set before the end.

    Raises InputChangedError when the open file's size or modification time differs
    from the plan's, before or after reading, so no hash of other bytes is kept.
    """
    digest = hashlib.sha256()
    # A plain open of a FIFO put in the input's place waits for a writer. With
    # O_NONBLOCK the open returns, and the check below rejects the FIFO.
    with open(os.open(record.location, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
        _check_status(record, os.fstat(handle.fileno()))
        while chunk := handle.read(1 << 20):
            if stop is not None and stop.is_set():
                return None
            digest.update(chunk)
        _check_status(record, os.fstat(handle.fileno()))
    return digest.hexdigest()


def record_inputs(files: list[InputFile]) -> list[InputRecord]:
    """Stat every local input before planning; URLs keep only the size fsspec reported.

    Raises InputChangedError when a local input's size is no longer the one the plan
    will cut shards from. A change after this is seen by the size and modification
    time recorded here. The SHA-256 of local inputs stays None until an
    `InputHasher` fills it in.
    """
    records = []
    for file in files:
        if not is_local(file.path):
            records.append(InputRecord(file.path, file.path, file.size, None, None))
            continue
        location = os.path.abspath(file.path)
        status = os.stat(location)
        record = InputRecord(file.path, location, file.size, status.st_mtime_ns, None)
        _check_status(record, status)
        records.append(record)
    return records


class InputHasher(threading.Thread):
    """A thread that hashes the local inputs of a run with no SHA-256 yet, saves them in its
    state, and rewrites the marker to advise a resume.

    The client's main thread only waits on the scheduler while the workers decide, so
    hashing in a thread keeps it off the path to the first task. Hashed before the
    plan was saved, a 2.6 GB input kept every worker idle for 2.3 s on the benchmark
    machine. Reading and hashing release the GIL.
    """

    def __init__(self, out: Path, state: RunState):
        super().__init__(name="clearance-input-hasher", daemon=True)
        self._out = out
        self._path = out / PARTS_FOLDER / STATE_FILE
        self._state = state
        self._stop_event = threading.Event()
        self._failure: Exception | None = None
        self._seconds: float | None = None

    def run(self) -> None:
        started = time.perf_counter()
        inputs = list(self._state.inputs)
        for index, record in enumerate(inputs):
            if not is_local(record.location) or record.sha256 is not None:
                continue
            try:
                digest = _sha256_as_planned(record, self._stop_event)
            except InputChangedError as error:
                self._failure = error
                return
            except OSError as error:
                # A read that failed because the input is gone or changed is reported as such.
                self._failure = changed_input([record]) or error
                return
            if digest is None:
                return
            inputs[index] = msgspec.structs.replace(record, sha256=digest)
        if inputs == self._state.inputs or self._stop_event.is_set():
            return
        # Saved at once, so a resume after an interrupt during the decide phase can
        # compare the inputs' contents, not only their sizes and times.
        hashed = msgspec.structs.replace(self._state, inputs=inputs)
        try:
            write_atomic(self._path, _state_encoder.encode(hashed))
            mark_unfinished(self._out)
        except OSError as error:
            self._failure = error
            return
        self._state.inputs = inputs
        self._seconds = time.perf_counter() - started

    def finish(self) -> None:
        """Wait for the hashes to be saved; raise the error that stopped the hashing, if any.

        Raises InputChangedError when an input changed or is gone, and OSError when an
        input could not be read or the hashes could not be saved.
        """
        self.join()
        if self._failure is not None:
            raise self._failure
        if self._seconds is not None:
            logger.info("inputs hashed in %.2fs", self._seconds)

    def stop(self) -> None:
        """Stop hashing at the next chunk, and wait up to 5 s for the thread.

        The hashes stay unsaved. A thread blocked in a read (a hung network mount) is
        left behind, and ends with the process since it is a daemon.
        """
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)


def mark_unfinished(out: Path, resumable: bool = True) -> None:
    """Write the marker that flags the output folder as containing no results yet.

    Its text advises resuming, or with `resumable` False, starting again.
    """
    advice = _RESUME_ADVICE.format(command=resume_command(out)) if resumable else _RESTART_ADVICE
    (out / INCOMPLETE_MARKER).unlink(missing_ok=True)
    write_atomic(out / INCOMPLETE_MARKER, _MARKER_TEXT.format(advice=advice).encode("utf-8"))


def start_run(out: Path, run_id: str, settings: Settings, policy_sources: dict[str, str],
              inputs: list[InputRecord], files: list[InputFile], shards: list[Shard],
              shard_size: int) -> RunState:
    """Save the plan and return the saved state.

    `inputs` are the records of `record_inputs`, taken before the plan read the files.
    The marker advises a resume only once no local input is left to hash.
    """
    state = RunState(
        format=STATE_FORMAT, version=__version__, run_id=run_id,
        started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        settings=settings, policy_sources=policy_sources, shard_size=shard_size,
        inputs=inputs, files=files, shards=shards)
    write_atomic(out / PARTS_FOLDER / STATE_FILE, _state_encoder.encode(state))
    mark_unfinished(out, resumable=not _unhashed(state))
    return state


def _check_status(record: InputRecord, status: os.stat_result) -> None:
    """Raise InputChangedError when an input is no longer a regular file, or its size or
    modification time differs from its record."""
    if not stat.S_ISREG(status.st_mode):
        raise InputChangedError(f"input {record.path} changed since the run started: "
                                "it is no longer a regular file")
    if status.st_size != record.size:
        raise InputChangedError(f"input {record.path} changed since the run started: "
                                f"{record.size} bytes then, {status.st_size} now")
    if status.st_mtime_ns != record.mtime_ns:
        raise InputChangedError(f"input {record.path} changed since the run started: "
                                "its modification time differs")


def _check_on_disk(record: InputRecord) -> None:
    """Raise InputChangedError when a local input is gone or its size or modification time differs."""
    try:
        status = os.stat(record.location)
    except FileNotFoundError:
        raise InputChangedError(f"input {record.path} is gone (looked for {record.location})") from None
    _check_status(record, status)


def changed_input(inputs: list[InputRecord]) -> InputChangedError | None:
    """Return the error that names the first local input gone or changed on disk, if any.

    A run that fails for another reason calls this, so that its advice is to start
    again rather than to resume over an input that no longer matches the plan.
    """
    try:
        for record in inputs:
            if is_local(record.location):
                _check_on_disk(record)
    except InputChangedError as error:
        return error
    except OSError:
        pass
    return None


def check_unchanged(state: RunState, hash_again: bool) -> None:
    """Raise InputChangedError when an input's size, modification time or SHA-256 differs.

    With `hash_again`, every local input must have a saved SHA-256.
    """
    for record in state.inputs:
        if not is_local(record.location):
            continue
        _check_on_disk(record)
        if hash_again and _sha256_as_planned(record) != record.sha256:
            raise InputChangedError(f"input {record.path} changed since the run started: "
                                    "its SHA-256 differs")


def load_for_resume(out: Path) -> RunState:
    """Read the state of an unfinished run and check that its inputs are unchanged.

    Raises ConfigError when the folder contains no unfinished run of this version, or
    an input changed (size, modification time or SHA-256).
    """
    if not out.is_dir():
        raise ConfigError(f"cannot resume: {out} is not found or not a folder")
    marker = out / INCOMPLETE_MARKER
    state_path = out / PARTS_FOLDER / STATE_FILE
    if not marker.exists():
        if (out / MANIFEST).exists():
            raise ConfigError(f"cannot resume: the run in {out} already finished (manifest.json "
                              "is written and no INCOMPLETE marker is left)")
        raise ConfigError(f"cannot resume: {out} contains no unfinished run (no INCOMPLETE marker)")
    if not state_path.exists():
        raise ConfigError(f"cannot resume: {out} contains no saved plan ({PARTS_FOLDER}/{STATE_FILE}), "
                          "because the run stopped before planning finished; start it again "
                          "with --overwrite")
    try:
        state = _state_decoder.decode(state_path.read_bytes())
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise ConfigError(f"cannot resume: the saved plan {state_path} is unreadable ({error}); "
                          "start the run again with --overwrite") from None
    if state.format != STATE_FORMAT or state.version != __version__:
        raise ConfigError(f"cannot resume: the run in {out} was started by Clearance "
                          f"{state.version}; this is {__version__}. Start it again with --overwrite")
    unhashed = _unhashed(state)
    if unhashed:
        # Shards decided before the stop may have read bytes that have changed since,
        # with the same size and time, and nothing saved could tell.
        raise ConfigError(f"cannot resume: the run in {out} stopped before input {unhashed[0]} "
                          "was hashed, so a change to it could go unseen. Start it again with --overwrite")
    try:
        check_unchanged(state, hash_again=True)
    except InputChangedError as error:
        raise ConfigError(f"cannot resume: {error}; start a new run") from None
    return state


class RunRecords:
    """The result records of finished units, one file per unit and stage."""

    def __init__(self, out: Path):
        self.parts = out / PARTS_FOLDER

    def save(self, stage: str, result: UnitResult) -> None:
        write_atomic(record_path(self.parts / result.unit, stage), msgspec.msgpack.encode(result))

    def load(self, stage: str) -> dict[str, UnitResult]:
        records = {}
        for path in sorted(self.parts.glob(f"*/{stage}.msgpack")):
            try:
                result = decode_result(path.read_bytes())
            except (msgspec.DecodeError, msgspec.ValidationError):
                logger.warning("result record %s is unreadable; its unit is decided again", path)
                continue
            records[result.unit] = result
        return records

    def discard(self, stage: str) -> None:
        for path in self.parts.glob(f"*/{stage}.msgpack"):
            path.unlink()


def record_path(unit_dir: Path, stage: str) -> Path:
    """Return the path of the result record of one stage of a unit."""
    return unit_dir / f"{stage}.msgpack"


def forget_unit(unit_dir: Path, stages: tuple[str, ...] = (DECIDE, REGROUP, BUCKET)) -> None:
    """Delete a unit's result records of these stages, so that a resume runs it again."""
    for stage in stages:
        record_path(unit_dir, stage).unlink(missing_ok=True)


def clear_partial_outputs(out: Path) -> None:
    """Remove every output a merge may have begun, keeping the parts and the marker."""
    for child in out.iterdir():
        if child.name in (PARTS_FOLDER, INCOMPLETE_MARKER):
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def abandon(out: Path) -> None:
    """Leave an unfinished run resumable: drop partial outputs, keep the marker and parts."""
    if not (out / INCOMPLETE_MARKER).exists():
        return
    try:
        clear_partial_outputs(out)
    except OSError as error:
        logger.warning("could not remove the partial outputs in %s: %s", out, error)


#: Output folders whose run this process finished. An interrupt just after a run
#: finished leaves a folder that looks like one left untouched by an interrupt before
#: `--overwrite` replaced an earlier run.
_finished_here: set[Path] = set()


def finished_here(out: str | Path) -> bool:
    """Return whether this process finished the run in `out`."""
    return Path(out).absolute() in _finished_here


def finish(out: Path) -> None:
    """Retire the marker, then the parts folder, once the manifest is written."""
    _finished_here.add(out.absolute())
    (out / INCOMPLETE_MARKER).unlink(missing_ok=True)
    shutil.rmtree(out / PARTS_FOLDER, ignore_errors=True)

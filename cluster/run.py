"""The main job: plan shards, decide them on a Dask cluster, regroup split persons,
and merge the parts into the run's outputs."""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

import dask
import msgspec
import numpy as np
from dask.distributed import Client, LocalCluster, as_completed
from tqdm import tqdm

from engine.batch import Settings
from cluster import lifecycle
from cluster.errors import InputChangedError, resume_command
from cluster.interrupt import sigint_ignored_in_children
from cluster.logs import TaskLogging
from cluster.lifecycle import BUCKET, DECIDE, REGROUP, RunRecords, RunState
from cluster.merge import RunOutcome, merge_outputs
from cluster.metrics import MetricsServer, RunMetrics, StageProgress, register_worker_metrics
from cluster.parts import make_private_dir, write_array
from cluster.plan import (
    InputFile, InputFormatError, Shard, default_workers, describe_inputs, plan_shards, unpack_compressed,
    unpacked_path,
)
from cluster.settings import ConfigError, RunConfig, build_settings
from cluster.tls import cluster_security, client_security
from cluster.tasks import (
    PARTS_FOLDER, UnitResult, bucket_unit, decide_bucket, decide_shard, decode_result,
    regroup_shard, shard_unit,
)

logger = logging.getLogger(__name__)


class SchedulerUnreachable(ConfigError):
    """The scheduler given with --scheduler could not be reached."""


#: Task retries when a worker dies; every task is idempotent.
TASK_RETRIES = 3
MAX_BUCKETS = 64
#: Folder of the unpacked compressed inputs, inside the output folder.
UNPACKED_FOLDER = Path(PARTS_FOLDER) / "unpacked"


def _is_run_manifest(path: Path) -> bool:
    """Return whether a file is the manifest of a Clearance run, not any manifest.json."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and {"runId", "version", "rowAccount"} <= manifest.keys()


def prepare_output(out: Path, overwrite: bool, inputs: list[str] = (),
                   locks: contextlib.ExitStack | None = None) -> None:
    """Create the output folder, or clear a previous run's outputs when asked to.

    Only a folder that contains a Clearance run is cleared, and never one that contains
    an input of this run. With `locks`, the folder is locked before anything in it is
    checked or cleared, until `locks` closes.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out} exists and is not a folder")
    # Resolved, so that a symlink in either path cannot hide an input that --overwrite
    # would delete.
    resolved_out = out.resolve()
    for path in inputs:
        if "://" not in path and (Path(path).absolute().is_relative_to(out)
                                  or Path(path).resolve().is_relative_to(resolved_out)):
            raise ConfigError(f"input {path} is inside the output folder {out}; move it or "
                              "choose another --out")
    try:
        make_private_dir(out)
    except OSError as error:
        raise ConfigError(f"output folder {out} is not writable: {error.strerror}") from None
    if locks is not None:
        locks.enter_context(lifecycle.output_lock(out))
    if any(out.iterdir()):
        is_run = _is_run_manifest(out / "manifest.json") or (out / lifecycle.INCOMPLETE_MARKER).exists()
        if not is_run:
            raise ConfigError(f"output folder {out} is not empty and contains no earlier run; "
                              "choose an empty or new folder")
        if not overwrite and (out / lifecycle.INCOMPLETE_MARKER).exists():
            raise ConfigError(f"output folder {out} contains an unfinished run; finish it with "
                              f"`{resume_command(out)}`, or pass --overwrite to replace it")
        if not overwrite:
            raise ConfigError(f"output folder {out} contains an earlier run; pass --overwrite "
                              "to replace it or choose another folder")
        # Marked first, so that a clearing interrupted halfway leaves a folder that
        # reads as unfinished, never as the earlier run whole.
        lifecycle.mark_unfinished(out, resumable=False)
        for child in out.iterdir():
            if child.name == lifecycle.INCOMPLETE_MARKER:
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    try:
        probe = out / ".write-check"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"output folder {out} is not writable: {error.strerror}") from None


@contextlib.contextmanager
def open_client(config: RunConfig):
    """Join the given scheduler, or start a LocalCluster sized to this machine.

    With `config.tls` every connection is TLS with the certificates of that folder.
    The LocalCluster listens on 127.0.0.1 only, and its dashboards (which serve
    `/metrics`) on `config.dashboard_host`.
    """
    task_logs = TaskLogging(logging.DEBUG if config.debug else logging.WARNING)
    if config.scheduler:
        security = client_security(config.tls) if config.tls else None
        timeout = dask.config.get("distributed.comm.timeouts.connect")
        try:
            client = Client(config.scheduler, timeout=timeout, security=security)
        except (OSError, TimeoutError, ValueError) as error:
            raise SchedulerUnreachable(f"scheduler {config.scheduler} cannot be reached: {error}") from None
        with client:
            client.register_plugin(task_logs)
            yield client
        return
    workers = config.workers or default_workers()
    security = cluster_security(config.tls) if config.tls else None
    # Worker logs go to this terminal; without --debug only their errors would
    # show, and the client reports those itself.
    worker_logs = logging.DEBUG if config.debug else logging.CRITICAL
    dashboard = f"{config.dashboard_host}:0"
    cluster = None
    try:
        with sigint_ignored_in_children():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=dashboard,
                                   worker_dashboard_address=dashboard, silence_logs=worker_logs,
                                   memory_limit=config.memory_limit or "auto",
                                   security=security, protocol="tls://" if security else None)
    except KeyboardInterrupt:
        # A SIGTERM held back while the cluster started arrives once it is up.
        if cluster is not None:
            cluster.close()
        raise
    with cluster, Client(cluster, security=security) as client:
        logger.info("LocalCluster started: %d workers, dashboard %s", workers, client.dashboard_link)
        client.register_plugin(task_logs)
        yield client


def _progress(total: int, label: str, enabled: bool) -> tqdm:
    return tqdm(total=total, desc=label, unit="shard", disable=None if enabled else True,
                mininterval=0.5, dynamic_ncols=True)


def _gather(client: Client, futures, label: str, enabled: bool, save=None,
            stage: StageProgress | None = None) -> list[UnitResult]:
    results: list[UnitResult] = []
    started = time.perf_counter()
    rows = 0
    with _progress(len(futures), label, enabled) as bar:
        for future in as_completed(futures):
            result = decode_result(future.result())
            if save is not None:
                save(result)
            results.append(result)
            rows += result.rows
            if stage is not None:
                stage.done(result.rows, result.bytes_read)
            elapsed = max(time.perf_counter() - started, 1e-6)
            if rows:
                bar.set_postfix_str(f"{rows / elapsed:,.0f} rows/s", refresh=False)
            bar.update(1)
    return results


def find_split_subjects(out: Path, shards: list[Shard]) -> tuple[np.ndarray, list[int]]:
    """Return the subject hashes found in more than one shard, and the shards holding them."""
    arrays = [np.load(out / PARTS_FOLDER / shard_unit(s.index) / "subjects.npy") for s in shards]
    if len(arrays) < 2:
        return np.empty(0, dtype=np.uint64), []
    combined = np.sort(np.concatenate(arrays))
    repeated = combined[1:][combined[1:] == combined[:-1]]
    split = np.unique(repeated)
    if split.size == 0:
        return split, []
    affected = [s.index for s, array in zip(shards, arrays) if np.isin(array, split).any()]
    return split, affected


def run_job(config: RunConfig, today: datetime.date | None = None) -> RunOutcome:
    """Run the main job end to end and return what it wrote."""
    run_id = uuid.uuid4().hex[:12]
    run_metrics = RunMetrics(run_id)
    with _serving(run_metrics, config), contextlib.ExitStack() as locks:
        return _run_job(config, today, run_id, run_metrics, locks)


@contextlib.contextmanager
def _serving(run_metrics: RunMetrics, config: RunConfig):
    try:
        server = MetricsServer(run_metrics.registry, config.metrics_host, config.metrics_port)
    except OSError as error:
        raise ConfigError(f"metrics port {config.metrics_port} on {config.metrics_host} cannot be "
                          f"opened: {error.strerror}; choose another --metrics-port") from None
    with server:
        yield server


def _run_job(config: RunConfig, today: datetime.date | None, run_id: str,
             run_metrics: RunMetrics, locks: contextlib.ExitStack) -> RunOutcome:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    settings, policy_sources = build_settings(config, today or datetime.date.today())
    # Missing certificates are a usage error, found before the output folder is made.
    if config.tls and config.scheduler:
        client_security(config.tls)
    elif config.tls:
        cluster_security(config.tls)
    try:
        files = describe_inputs(config.inputs)
    except FileNotFoundError as error:
        raise ConfigError(f"input not found: {error.filename or error}") from None
    except (PermissionError, IsADirectoryError, InputFormatError) as error:
        raise ConfigError(f"input cannot be read: {error}") from None
    out = Path(config.out).absolute()
    prepare_output(out, config.overwrite, [file.path for file in files], locks)
    make_private_dir(out / PARTS_FOLDER)
    # Unpacking may take minutes, and a hard kill must not leave unpacked rows looking
    # like anything but an unfinished run.
    lifecycle.mark_unfinished(out, resumable=False)
    inputs: list[lifecycle.InputRecord] = []
    try:
        inputs = lifecycle.record_inputs(files)
        shards = _plan(files, out, config)
    except BaseException as error:
        # Nothing is resumable before the plan is saved, so the folder is left empty.
        shutil.rmtree(out / PARTS_FOLDER, ignore_errors=True)
        (out / lifecycle.INCOMPLETE_MARKER).unlink(missing_ok=True)
        changed = lifecycle.changed_input(inputs) if isinstance(error, OSError) else None
        if changed is not None:
            raise changed from error
        raise
    state = lifecycle.start_run(out, run_id, settings, policy_sources, inputs, files, shards,
                                config.shard_size)
    timings["plan"] = time.perf_counter() - started
    logger.info("run %s: %d input files, %d shards, compute-at %s", run_id, len(files), len(shards),
                settings.compute_at.isoformat())
    return _execute(config, out, state, timings, started, run_metrics)


def _plan(files: list[InputFile], out: Path, config: RunConfig) -> list[Shard]:
    """Plan the shards, unpacking compressed inputs with a progress bar of their bytes."""
    compressed = [file for file in files if file.compression is not None]
    packed = sum(file.size for file in compressed)
    if compressed:
        logger.info("unpacking %d compressed %s (%s bytes) into %s", len(compressed),
                    "input" if len(compressed) == 1 else "inputs", f"{packed:,}", out / UNPACKED_FOLDER)
    with tqdm(total=packed, desc="unpacking", unit="B", unit_scale=True, mininterval=0.5,
              dynamic_ncols=True, disable=None if config.progress and packed else True) as bar:
        try:
            return plan_shards(files, config.shard_size, out / UNPACKED_FOLDER, bar.update)
        except InputFormatError as error:
            raise ConfigError(f"input cannot be read: {error}") from None


def resume_job(config: RunConfig) -> RunOutcome:
    """Finish the unfinished run in `config.out`, deciding only the units without a result.

    The run keeps the settings, policies and plan it started with; `config` gives
    only how to run (scheduler, workers, TLS, progress).
    """
    started = time.perf_counter()
    out = Path(config.out).absolute()
    with contextlib.ExitStack() as locks:
        if out.is_dir():
            locks.enter_context(lifecycle.output_lock(out))
        state = lifecycle.load_for_resume(out)
        # Shards are read by absolute path, so a resume may start from any folder.
        locations = [record.location for record in state.inputs]
        state.shards = [_locate(shard, locations, out) for shard in state.shards]
        _check_pieces(state, out)
        lifecycle.clear_partial_outputs(out)
        done = len(RunRecords(out).load(DECIDE))
        logger.info("resuming run %s: %d of %d shards left to decide", state.run_id,
                    len(state.shards) - done, len(state.shards))
        run_metrics = RunMetrics(state.run_id)
        with _serving(run_metrics, config):
            return _execute(config, out, state, {"plan": 0.0}, started, run_metrics, resumed=True)


def _locate(shard: Shard, locations: list[str], out: Path) -> Shard:
    """Return a saved shard with the path it has now: its input's, or its unpacked piece's."""
    if shard.piece is None:
        path = locations[shard.file_index]
    else:
        path = str(unpacked_path(out / UNPACKED_FOLDER, shard.file_index, shard.piece))
    return msgspec.structs.replace(shard, path=path)


def _check_pieces(state: RunState, out: Path) -> None:
    """Unpack a compressed input again when any of its saved pieces is missing or resized.

    The input itself is checked unchanged by then, so unpacking it again gives the
    pieces of the plan.
    """
    planned: dict[int, list[Shard]] = {}
    for shard in state.shards:
        if shard.piece is not None:
            planned.setdefault(shard.file_index, []).append(shard)
    for file_index, pieces in planned.items():
        if all(_piece_size(Path(piece.path)) == piece.size for piece in pieces):
            continue
        file = state.files[file_index]
        logger.warning("pieces of input %s are missing or changed; unpacking it again", file.path)
        sizes = unpack_compressed(file, out / UNPACKED_FOLDER, state.shard_size)
        if sizes != [piece.size for piece in pieces]:
            raise ConfigError(f"cannot resume: unpacking {file.path} again gave other pieces than "
                              "the run planned; start a new run")


def _piece_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _execute(config: RunConfig, out: Path, state: RunState, timings: dict[str, float],
             started: float, run_metrics: RunMetrics, resumed: bool = False) -> RunOutcome:
    """Decide every unit without a saved result while a thread hashes the inputs, merge,
    and write the manifest.

    Whatever stops it (a signal, a failure), the output folder is left marked
    unfinished, with partial outputs removed and the parts kept for a resume.
    """
    records = RunRecords(out)
    # Task keys differ between sessions, so a resume on a long-lived scheduler never
    # meets the released keys of the run it continues.
    session = f"{state.run_id}-{uuid.uuid4().hex[:6]}"
    hasher = lifecycle.InputHasher(out, state)
    hasher.start()
    try:
        with open_client(config) as client:
            register_worker_metrics(client)
            results = _decide(client, state.shards, state.settings, str(out), session,
                              config.progress, timings, records, run_metrics, state.run_id)

        phase = time.perf_counter()
        hasher.finish()
        lifecycle.check_unchanged(state, hash_again=False)
        outcome = merge_outputs(out, state.files, state.shards, results, state.settings,
                                state.policy_sources, state.run_id, timings, state.digests())
        timings["merge"] = time.perf_counter() - phase
        timings["total"] = time.perf_counter() - started
        outcome.write_manifest(timings, state.started, resumed)
    except BaseException as error:
        hasher.stop()
        lifecycle.abandon(out)
        # A task that failed on an input moved or replaced during the run would be
        # reported as a read error, with advice to resume that cannot succeed.
        changed = lifecycle.changed_input(state.inputs) if isinstance(error, Exception) else None
        if changed is not None and not isinstance(error, InputChangedError):
            raise changed from error
        raise
    lifecycle.finish(out)
    return outcome


def _decide(client: Client, shards: list[Shard], settings: Settings, out: str, session: str,
            progress: bool, timings: dict[str, float], records: RunRecords,
            run_metrics: RunMetrics, run_id: str) -> dict[str, UnitResult]:
    """Run the three passes; `session` names the tasks, `run_id` labels their metrics."""
    phase = time.perf_counter()
    results = records.load(DECIDE)
    pending = [s for s in shards if shard_unit(s.index) not in results]
    if pending:
        # A shard decided again rewrites the parts a second pass may have replaced.
        records.discard(REGROUP)
        records.discard(BUCKET)
    futures = client.map(decide_shard, pending, settings=settings, out_dir=out, run_id=run_id,
                         key=[f"decide-shard-{session}-{s.index}" for s in pending],
                         retries=TASK_RETRIES)
    first = _gather(client, futures, "deciding shards", progress,
                    save=lambda result: records.save(DECIDE, result),
                    stage=run_metrics.stage("decide", len(pending), sum(s.size for s in pending)))
    del futures
    results.update((r.unit, r) for r in first)
    timings["decide"] = time.perf_counter() - phase

    phase = time.perf_counter()
    split, affected = find_split_subjects(Path(out), shards)
    # Unsorted shards were only read in the first pass, so they are decided in the second.
    deferred = [s.index for s in shards if results[shard_unit(s.index)].deferred]
    affected = sorted(set(affected).union(deferred))
    timings["check"] = time.perf_counter() - phase
    if not affected:
        return results

    phase = time.perf_counter()
    logger.info("%d %s rows in more than one shard, and %d unsorted shards left undecided; "
                "regrouping from %d shards", split.size,
                "person has" if split.size == 1 else "persons have", len(deferred), len(affected))
    write_array(Path(out) / PARTS_FOLDER / "split.npy", split)
    affected_bytes = sum(shards[i].size for i in affected)
    largest = max(s.size for s in shards) or 1
    # Each regrouped shard writes one file per bucket, so the count is capped to keep
    # that fan-out from growing with the square of the shard count.
    buckets = max(1, min(len(affected), int(split.size), -(-affected_bytes // largest), MAX_BUCKETS))
    regrouped = records.load(REGROUP)
    results.update((unit, again) for unit, again in regrouped.items())
    regroup = [shards[i] for i in affected if shard_unit(i) not in regrouped]
    futures = client.map(
        regroup_shard, regroup, settings=settings, out_dir=out, buckets=buckets, run_id=run_id,
        key=[f"regroup-shard-{session}-{s.index}" for s in regroup], retries=TASK_RETRIES)
    for again in _gather(client, futures, "regrouping", progress,
                         stage=run_metrics.stage("regroup", len(regroup))):
        first_pass = results[again.unit]
        again.rows, again.lines, again.blank = first_pass.rows, first_pass.lines, first_pass.blank
        again.header, again.rejected = first_pass.header, first_pass.rejected
        again.bytes_read, again.counties_seen = first_pass.bytes_read, first_pass.counties_seen
        records.save(REGROUP, again)
        results[again.unit] = again
    del futures

    bucketed = records.load(BUCKET)
    results.update(bucketed)
    pending_buckets = [b for b in range(buckets) if bucket_unit(b) not in bucketed]
    futures = client.map(decide_bucket, pending_buckets, settings=settings, out_dir=out,
                         run_id=run_id, key=[f"decide-bucket-{session}-{b}" for b in pending_buckets],
                         retries=TASK_RETRIES)
    for result in _gather(client, futures, "deciding regrouped persons", progress,
                          save=lambda result: records.save(BUCKET, result),
                          stage=run_metrics.stage("bucket", len(pending_buckets))):
        results[result.unit] = result
    timings["regroup"] = time.perf_counter() - phase
    return results

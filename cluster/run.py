"""The main job: plan shards, decide them on a Dask cluster, regroup split persons,
and merge the parts into the run's outputs."""

from __future__ import annotations

import contextlib
import datetime
import logging
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
from dask.distributed import Client, LocalCluster, as_completed
from tqdm import tqdm

from engine.batch import Settings
from cluster.merge import RunOutcome, merge_outputs
from cluster.metrics import MetricsServer, RunMetrics, StageProgress, register_worker_metrics
from cluster.parts import make_private_dir
from cluster.plan import Shard, default_workers, describe_inputs, plan_shards
from cluster.settings import ConfigError, RunConfig, build_settings
from cluster.tasks import (
    PARTS_FOLDER, UnitResult, bucket_unit, decide_bucket, decide_shard, decode_result,
    regroup_shard, shard_unit,
)

logger = logging.getLogger(__name__)

#: Task retries when a worker dies; every task is idempotent.
TASK_RETRIES = 3


def prepare_output(out: Path, overwrite: bool) -> None:
    """Create the output folder, or clear a previous run's outputs when asked to."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        finished = (out / "manifest.json").exists()
        if not finished and not (out / PARTS_FOLDER).exists():
            raise ConfigError(f"output folder {out} is not empty and contains no earlier run; "
                              "choose an empty or new folder")
        if not overwrite:
            state = "an earlier run" if finished else "an incomplete run (no manifest.json)"
            raise ConfigError(f"output folder {out} contains {state}; pass --overwrite "
                              "to replace it or choose another folder")
        for child in out.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    try:
        make_private_dir(out)
        probe = out / ".write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"output folder {out} is not writable: {error.strerror}") from None


@contextlib.contextmanager
def open_client(config: RunConfig):
    """Join the given scheduler, or start a LocalCluster sized to this machine."""
    if config.scheduler:
        try:
            client = Client(config.scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as error:
            raise ConfigError(f"scheduler {config.scheduler} cannot be reached: {error}") from None
        with client:
            yield client
        return
    workers = config.workers or default_workers()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        logger.info("LocalCluster started: %d workers, dashboard %s", workers, client.dashboard_link)
        yield client


def _progress(total: int, label: str, enabled: bool) -> tqdm:
    return tqdm(total=total, desc=label, unit="shard", disable=None if enabled else True,
                mininterval=0.5, dynamic_ncols=True)


def _gather(client: Client, futures, label: str, enabled: bool,
            stage: StageProgress | None = None) -> list[UnitResult]:
    results: list[UnitResult] = []
    started = time.perf_counter()
    rows = 0
    with _progress(len(futures), label, enabled) as bar:
        for future in as_completed(futures):
            result = decode_result(future.result())
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
    with _serving(run_metrics, config):
        return _run_job(config, today, run_id, run_metrics)


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
             run_metrics: RunMetrics) -> RunOutcome:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    settings, policy_sources = build_settings(config, today or datetime.date.today())
    try:
        files = describe_inputs(config.inputs)
    except FileNotFoundError as error:
        raise ConfigError(f"input not found: {error.filename or error}") from None
    except (PermissionError, IsADirectoryError) as error:
        raise ConfigError(f"input cannot be read: {error}") from None
    out = Path(config.out).absolute()
    prepare_output(out, config.overwrite)
    make_private_dir(out / PARTS_FOLDER)
    shards = plan_shards(files, config.shard_size)
    timings["plan"] = time.perf_counter() - started
    logger.info("run %s: %d input files, %d shards, compute-at %s", run_id, len(files), len(shards),
                settings.compute_at.isoformat())

    with open_client(config) as client:
        register_worker_metrics(client)
        results = _decide(client, shards, settings, str(out), run_id, config.progress, timings,
                          run_metrics)

    phase = time.perf_counter()
    outcome = merge_outputs(out, files, shards, results, settings, policy_sources, run_id, timings)
    timings["merge"] = time.perf_counter() - phase
    timings["total"] = time.perf_counter() - started
    outcome.write_manifest(timings)
    shutil.rmtree(out / PARTS_FOLDER, ignore_errors=True)
    return outcome


def _decide(client: Client, shards: list[Shard], settings: Settings, out: str, run_id: str,
            progress: bool, timings: dict[str, float],
            run_metrics: RunMetrics) -> dict[str, UnitResult]:
    phase = time.perf_counter()
    sizes = [s.size for s in shards]
    futures = client.map(decide_shard, shards, settings=settings, out_dir=out, run_id=run_id,
                         key=[f"decide-shard-{run_id}-{s.index}" for s in shards],
                         retries=TASK_RETRIES)
    first = _gather(client, futures, "deciding shards", progress, run_metrics.stage(
        "decide", len(shards), 0 if None in sizes else sum(sizes)))
    del futures
    results = {r.unit: r for r in first}
    timings["decide"] = time.perf_counter() - phase

    phase = time.perf_counter()
    split, affected = find_split_subjects(Path(out), shards)
    timings["check"] = time.perf_counter() - phase
    if not affected:
        return results

    phase = time.perf_counter()
    logger.info("%d %s rows in more than one shard; regrouping them from %d shards",
                split.size, "person has" if split.size == 1 else "persons have", len(affected))
    np.save(Path(out) / PARTS_FOLDER / "split.npy", split)
    affected_bytes = sum(shards[i].size or 0 for i in affected)
    largest = max((s.size or 0) for s in shards) or 1
    buckets = max(1, min(len(affected), int(split.size), -(-affected_bytes // largest)))
    regroup = [shards[i] for i in affected]
    futures = client.map(
        regroup_shard, regroup, settings=settings, out_dir=out, buckets=buckets,
        run_id=run_id, key=[f"regroup-shard-{run_id}-{s.index}" for s in regroup],
        retries=TASK_RETRIES)
    for again in _gather(client, futures, "regrouping", progress,
                         run_metrics.stage("regroup", len(regroup))):
        first_pass = results[again.unit]
        again.rows, again.lines, again.blank = first_pass.rows, first_pass.lines, first_pass.blank
        again.header, again.rejected = first_pass.header, first_pass.rejected
        again.bytes_read, again.counties_seen = first_pass.bytes_read, first_pass.counties_seen
        results[again.unit] = again
    del futures

    futures = client.map(decide_bucket, list(range(buckets)), settings=settings, out_dir=out,
                         run_id=run_id, key=[f"decide-bucket-{run_id}-{b}" for b in range(buckets)],
                         retries=TASK_RETRIES)
    for result in _gather(client, futures, "deciding regrouped persons", progress,
                          run_metrics.stage("bucket", buckets)):
        results[result.unit] = result
    timings["regroup"] = time.perf_counter() - phase
    return results

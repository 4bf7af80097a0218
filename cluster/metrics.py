"""Prometheus metrics of a run, for operators.

Workers count what their tasks read, set aside and decide in the default
prometheus-client registry of the worker process. distributed already serves that
registry on each worker's `/metrics` endpoint (the worker's HTTP port, beside its
dashboard), so no worker opens a second server. `MetricsPlugin` creates the metrics when
a worker starts or joins. The client keeps run-level figures (rows done, rows/s, shards
left, estimated time left) in a registry of its own, served on `--metrics-port`.

Labels are bounded and never carry a value from an input row:

- `run_id`: the run's id, 12 hexadecimal digits (`unknown` for anything else);
- `county`: the folder name of one of the 58 California counties, or `other`;
- `determination`: `dismissal`, `reduction` or `no_relief`;
- `stage`: `decide` (first pass over a shard), `regroup` (second pass over a shard that
  holds persons split across shards) or `bucket` (deciding regrouped persons);
- `outcome`: `finished` or `failed`.

A worker keeps the series of its latest `RUNS_KEPT` runs and drops older ones, so a
long-lived cluster does not grow a series set per run for ever. Counters start from
zero when a worker restarts; read them with `rate()` or `increase()`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from collections import Counter as Tally
from typing import Iterable, Iterator

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from distributed.diagnostics.plugin import WorkerPlugin

from engine.counties import CALIFORNIA_COUNTIES
from engine.naming import county_folder
from engine.summary import CountySummary

logger = logging.getLogger(__name__)

STAGES = ("decide", "regroup", "bucket")
DETERMINATIONS = ("dismissal", "reduction", "no_relief")
OTHER_COUNTY = "other"
UNKNOWN_RUN = "unknown"
#: Runs whose series a worker keeps; older runs' series are removed.
RUNS_KEPT = 4
#: Upper bounds of the shard-duration histogram, in seconds: from small buckets of
#: regrouped persons to a large shard on slow storage.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200)

_RUN_ID = re.compile(r"^[0-9a-f]{1,32}$")
_CALIFORNIA_FOLDERS = frozenset(county_folder(name) for name in CALIFORNIA_COUNTIES)


def run_label(run_id: str) -> str:
    """Return the `run_id` label of a run id: the id itself when it is hexadecimal."""
    return run_id if _RUN_ID.match(run_id or "") else UNKNOWN_RUN


def county_label(county: str) -> str:
    """Return the `county` label: a California county's folder name, else `other`.

    The county comes from a cell of the input, so only the 58 known names pass through.
    """
    folder = county_folder(county)
    return folder if folder in _CALIFORNIA_FOLDERS else OTHER_COUNTY


def decision_counts(summaries: Iterable[CountySummary]) -> Tally:
    """Count decided convictions by (county label, determination) over partial summaries."""
    counts: Tally = Tally()
    for summary in summaries:
        county = county_label(summary.county)
        counts[county, "dismissal"] += summary.dismissed
        counts[county, "reduction"] += summary.reduced
        counts[county, "no_relief"] += summary.no_relief
    return counts


class WorkerMetrics:
    """The metrics one worker process exports, and the series it has created per run."""

    def __init__(self, registry: CollectorRegistry):
        self._lock = threading.Lock()
        self._runs: list[str] = []
        self._series: dict[str, set[tuple[object, tuple[str, ...]]]] = {}

        self.run_info = Gauge(
            "clearance_run_info",
            "Runs this worker keeps series of: 1 for the latest run it worked on, 0 for earlier ones",
            ["run_id"], registry=registry)
        self.rows_read = Counter(
            "clearance_rows_read", "Data rows read by first-pass shard tasks",
            ["run_id"], registry=registry)
        self.rows_set_aside = Counter(
            "clearance_rows_set_aside", "Rows set aside as unreadable (listed in rejected.csv)",
            ["run_id"], registry=registry)
        self.bytes_read = Counter(
            "clearance_bytes_read", "Input bytes of the shards read by first-pass shard tasks "
            "(uncompressed size for .gz input)", ["run_id"], registry=registry)
        self.shards_started = Counter(
            "clearance_shards_started", "Shard tasks started (a bucket of regrouped persons counts "
            "as a shard of stage bucket)", ["run_id", "stage"], registry=registry)
        self.shards_finished = Counter(
            "clearance_shards_finished", "Shard tasks that returned a result",
            ["run_id", "stage"], registry=registry)
        self.shards_failed = Counter(
            "clearance_shards_failed", "Shard tasks that raised an error",
            ["run_id", "stage"], registry=registry)
        self.shards_retried = Counter(
            "clearance_shards_retried", "Shard tasks that found an earlier attempt of the same "
            "shard and stage in the run's parts folder", ["run_id", "stage"], registry=registry)
        self.shard_duration = Histogram(
            "clearance_shard_duration_seconds", "Wall time of shard tasks",
            ["run_id", "stage", "outcome"], buckets=DURATION_BUCKETS, registry=registry)
        self.decided = Counter(
            "clearance_convictions_decided", "Prop 64 convictions decided by tasks, including "
            "first-pass decisions that were superseded", ["run_id", "county", "determination"],
            registry=registry)
        self.superseded = Counter(
            "clearance_convictions_superseded", "First-pass decisions of persons whose rows were "
            "split across shards; those persons are decided again from their whole history",
            ["run_id", "county", "determination"], registry=registry)

    def child(self, metric, *labels: str):
        """Return the labelled series of a metric, remembering it under its run."""
        with self._lock:
            self._series.setdefault(labels[0], set()).add((metric, labels))
        return metric.labels(*labels)

    def begin_run(self, run_id: str) -> str:
        """Create the run's series at zero on its first task here, and drop old runs."""
        run = run_label(run_id)
        with self._lock:
            if run in self._runs:
                return run
            self._runs.append(run)
            dropped = self._runs[:-RUNS_KEPT]
            del self._runs[:-RUNS_KEPT]
        for old in dropped:
            self._drop_run(old)
        for known in self._runs:
            self.child(self.run_info, known).set(1 if known == run else 0)
        for metric in (self.rows_read, self.rows_set_aside, self.bytes_read):
            self.child(metric, run)
        for stage in STAGES:
            for metric in (self.shards_started, self.shards_finished, self.shards_failed,
                           self.shards_retried):
                self.child(metric, run, stage)
        return run

    def _drop_run(self, run: str) -> None:
        with self._lock:
            series = self._series.pop(run, set())
        for metric, labels in series:
            metric.remove(*labels)

    def add_decisions(self, run: str, counts: Tally, superseded: Tally | None = None) -> None:
        """Add decided and superseded convictions; every pair gets both series, so that
        `decided - superseded` has a value for every pair that has one."""
        superseded = superseded or Tally()
        for county, determination in sorted(set(counts) | set(superseded)):
            self.child(self.decided, run, county, determination).inc(counts[county, determination])
            self.child(self.superseded, run, county, determination).inc(
                superseded[county, determination])


_worker_lock = threading.Lock()
_worker_metrics: WorkerMetrics | None = None


def worker_metrics() -> WorkerMetrics:
    """Return this process's worker metrics, registering them once in the default registry."""
    global _worker_metrics
    with _worker_lock:
        if _worker_metrics is None:
            _worker_metrics = WorkerMetrics(prometheus_client.REGISTRY)
        return _worker_metrics


class MetricsPlugin(WorkerPlugin):
    """Creates the worker metrics on every worker, present and future.

    Registering it again under the same name leaves the installed plugin in place.
    """

    name = "clearance-metrics"
    idempotent = True

    def setup(self, worker) -> None:
        worker_metrics()


def register_worker_metrics(client) -> None:
    """Install `MetricsPlugin` on the client's cluster; safe to call for every run."""
    client.register_plugin(MetricsPlugin())


@contextlib.contextmanager
def track_task(stage: str, run_id: str, retried: bool) -> Iterator[str]:
    """Count a shard task as started, then as finished or failed, and time it.

    Yields the run label to record the task's figures under.
    """
    metrics = worker_metrics()
    run = metrics.begin_run(run_id)
    metrics.child(metrics.shards_started, run, stage).inc()
    if retried:
        metrics.child(metrics.shards_retried, run, stage).inc()
    started = time.perf_counter()
    try:
        yield run
    except BaseException:
        metrics.child(metrics.shards_failed, run, stage).inc()
        metrics.child(metrics.shard_duration, run, stage, "failed").observe(time.perf_counter() - started)
        raise
    metrics.child(metrics.shards_finished, run, stage).inc()
    metrics.child(metrics.shard_duration, run, stage, "finished").observe(time.perf_counter() - started)


def record_first_pass(run: str, rows: int, rejected: int, bytes_read: int,
                      summaries: Iterable[CountySummary]) -> None:
    """Count a first-pass shard: rows read and set aside, bytes, and its decisions."""
    metrics = worker_metrics()
    metrics.child(metrics.rows_read, run).inc(rows)
    metrics.child(metrics.rows_set_aside, run).inc(rejected)
    metrics.child(metrics.bytes_read, run).inc(bytes_read)
    metrics.add_decisions(run, decision_counts(summaries))


def record_regroup(run: str, first_pass: Iterable[CountySummary],
                   again: Iterable[CountySummary]) -> None:
    """Count a regrouped shard against its first pass.

    The regroup pass decides the shard's whole persons again, which gives the same
    decisions, and leaves out the split persons, so the first pass's surplus is exactly
    the split persons' superseded decisions. A surplus on the regroup side would be
    counted as decided, which keeps `decided - superseded` exact either way.
    """
    before = decision_counts(first_pass)
    after = decision_counts(again)
    decided: Tally = Tally()
    superseded: Tally = Tally()
    for key in set(before) | set(after):
        change = after[key] - before[key]
        if change > 0:
            decided[key] = change
        elif change < 0:
            superseded[key] = -change
        else:
            decided[key] = 0
    worker_metrics().add_decisions(run, decided, superseded)


def record_bucket(run: str, summaries: Iterable[CountySummary]) -> None:
    """Count the decisions of a bucket of regrouped persons."""
    worker_metrics().add_decisions(run, decision_counts(summaries))


class StageProgress:
    """The client's view of one stage of a run, updated as each unit's result arrives."""

    def __init__(self, run_metrics: "RunMetrics", stage: str, units: int, size: int):
        self._run = run_metrics
        self._stage = stage
        self._units_left = units
        self._units_done = 0
        self._size_total = size
        self._size_done = 0
        self._started = time.perf_counter()
        run_metrics.shards_left.labels(run_metrics.run, stage).set(units)
        run_metrics.seconds_left.labels(run_metrics.run).set(math.nan if units else 0)

    def done(self, rows: int, size: int) -> None:
        """Record one finished unit: its data rows (first pass only) and input bytes."""
        run = self._run
        self._units_done += 1
        self._units_left = max(self._units_left - 1, 0)
        self._size_done += size
        run.shards_left.labels(run.run, self._stage).set(self._units_left)
        if rows:
            run.add_rows(rows)
        elapsed = time.perf_counter() - self._started
        if self._size_total and self._size_done:
            fraction_left = max(self._size_total - self._size_done, 0) / self._size_done
        else:
            fraction_left = self._units_left / self._units_done
        run.seconds_left.labels(run.run).set(elapsed * fraction_left)


class RunMetrics:
    """Run-level figures of the client, in a registry of their own.

    `clearance_client_seconds_left` estimates the stage in progress only, from its pace
    so far (by input bytes where shard sizes are known, else by shards). It does not
    foresee a regroup stage or the merge; it is NaN until the stage's first unit ends.
    """

    def __init__(self, run_id: str, registry: CollectorRegistry | None = None):
        self.run = run_label(run_id)
        self.registry = registry or CollectorRegistry()
        self.rows_done = Gauge(
            "clearance_client_rows_done", "Data rows read by the shards finished so far",
            ["run_id"], registry=self.registry)
        self.rows_per_second = Gauge(
            "clearance_client_rows_per_second", "Data rows done per second since the first "
            "pass started", ["run_id"], registry=self.registry)
        self.shards_left = Gauge(
            "clearance_client_shards_left", "Shards (or buckets) of a stage that have not "
            "returned yet", ["run_id", "stage"], registry=self.registry)
        self.seconds_left = Gauge(
            "clearance_client_seconds_left", "Estimated seconds until the stage in progress "
            "ends", ["run_id"], registry=self.registry)
        self._rows = 0
        self._first_pass_started: float | None = None
        self.rows_done.labels(self.run).set(0)
        self.rows_per_second.labels(self.run).set(0)

    def stage(self, stage: str, units: int, size: int = 0) -> StageProgress:
        """Start following a stage of `units` shards or buckets of `size` input bytes."""
        if self._first_pass_started is None:
            self._first_pass_started = time.perf_counter()
        return StageProgress(self, stage, units, size)

    def add_rows(self, rows: int) -> None:
        self._rows += rows
        self.rows_done.labels(self.run).set(self._rows)
        elapsed = time.perf_counter() - (self._first_pass_started or time.perf_counter())
        if elapsed > 0:
            self.rows_per_second.labels(self.run).set(self._rows / elapsed)


class MetricsServer:
    """Serves a registry on http://host:port/metrics until closed; a no-op when port is None.

    The constructor binds the port, so a port in use raises OSError before any work.
    Port 0 binds a free port, which `port` then holds.
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int | None):
        self.host = host
        self.port = port
        self._server = self._thread = None
        if port is None:
            return
        self._server, self._thread = prometheus_client.start_http_server(port, addr=host, registry=registry)
        self.host, self.port = self._server.server_address[:2]
        logger.info("client metrics served on http://%s:%d/metrics", host, self.port)

    def close(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

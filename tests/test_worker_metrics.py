"""Worker metrics in one process: labels, retries, failures, regroup accounting and the
client's run-level figures."""

from __future__ import annotations

import datetime
import math
import urllib.request

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry

from cluster import metrics
from cluster.plan import describe_inputs, plan_shards
from cluster.settings import RunConfig, build_settings
from cluster.tasks import decide_shard
from engine.generate import write_research_file
from engine.summary import CountySummary

COMPUTE_AT = datetime.date(2019, 11, 11)


def sample(name: str, **labels: str) -> float:
    return prometheus_client.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("county,label", [
    ("SAN JOAQUIN", "san-joaquin"),
    ("  los angeles ", "los-angeles"),
    ("NEW YORK", "other"),
    ("DOE,JANE", "other"),
    ("", "other"),
])
def test_county_label(county, label):
    assert metrics.county_label(county) == label


@pytest.mark.parametrize("run_id,label", [
    ("0a1b2c3d4e5f", "0a1b2c3d4e5f"),
    ("", "unknown"),
    ("12345678; DROP", "unknown"),
    ("ABCDEF", "unknown"),
])
def test_run_label(run_id, label):
    assert metrics.run_label(run_id) == label


def summary(county: str, dismissed: int, reduced: int, no_relief: int) -> CountySummary:
    return CountySummary(county, dismissed=dismissed, reduced=reduced, no_relief=no_relief)


def test_decision_counts_merge_other_counties():
    counts = metrics.decision_counts([summary("YOLO", 3, 1, 0), summary("RENO", 2, 0, 1),
                                      summary("PARIS", 1, 0, 0)])
    assert counts["yolo", "dismissal"] == 3
    assert counts["yolo", "reduction"] == 1
    assert counts["other", "dismissal"] == 3
    assert counts["other", "no_relief"] == 1


def test_regroup_counts_only_split_persons():
    run = "00000000aa01"
    first_pass = [summary("YOLO", 5, 2, 1), summary("FRESNO", 1, 0, 0)]
    # The regroup pass decides the same shard without two split persons' convictions.
    again = [summary("YOLO", 4, 1, 1)]
    metrics.record_regroup(run, first_pass, again)

    superseded = "clearance_convictions_superseded_total"
    decided = "clearance_convictions_decided_total"
    assert sample(superseded, run_id=run, county="yolo", determination="dismissal") == 1
    assert sample(superseded, run_id=run, county="yolo", determination="reduction") == 1
    assert sample(superseded, run_id=run, county="fresno", determination="dismissal") == 1
    assert sample(superseded, run_id=run, county="yolo", determination="no_relief") == 0
    assert sample(decided, run_id=run, county="yolo", determination="dismissal") == 0


@pytest.fixture()
def shard_inputs(tmp_path):
    data = tmp_path / "input.csv"
    write_research_file(data, rows=300, counties=["YOLO"], seed=4)
    settings, _ = build_settings(RunConfig(inputs=[str(data)], out=str(tmp_path / "out")), COMPUTE_AT)
    shard = plan_shards(describe_inputs([str(data)]), 1 << 20, tmp_path / "unpacked")[0]
    return shard, settings, tmp_path / "out"


def test_second_attempt_counts_as_retry(shard_inputs):
    shard, settings, out = shard_inputs
    run = "00000000aa02"
    decide_shard(shard, settings, str(out), run_id=run)
    assert sample("clearance_shards_retried_total", run_id=run, stage="decide") == 0

    decide_shard(shard, settings, str(out), run_id=run)
    assert sample("clearance_shards_started_total", run_id=run, stage="decide") == 2
    assert sample("clearance_shards_finished_total", run_id=run, stage="decide") == 2
    assert sample("clearance_shards_retried_total", run_id=run, stage="decide") == 1


def test_failed_task_counted_and_timed(shard_inputs, tmp_path):
    shard, settings, out = shard_inputs
    run = "00000000aa03"
    (tmp_path / "input.csv").unlink()
    with pytest.raises(FileNotFoundError):
        decide_shard(shard, settings, str(out), run_id=run)
    assert sample("clearance_shards_started_total", run_id=run, stage="decide") == 1
    assert sample("clearance_shards_failed_total", run_id=run, stage="decide") == 1
    assert sample("clearance_shards_finished_total", run_id=run, stage="decide") == 0
    assert sample("clearance_rows_read_total", run_id=run) == 0
    assert sample("clearance_shard_duration_seconds_count", run_id=run, stage="decide",
                  outcome="failed") == 1


def test_old_runs_are_dropped():
    registry = CollectorRegistry()
    worker = metrics.WorkerMetrics(registry)
    runs = [f"00000000bb{i:02d}" for i in range(metrics.RUNS_KEPT + 1)]
    for run in runs:
        worker.begin_run(run)
        worker.child(worker.rows_read, run).inc(10)
        worker.add_decisions(run, metrics.decision_counts([summary("YOLO", 1, 0, 0)]))

    assert registry.get_sample_value("clearance_rows_read_total", {"run_id": runs[0]}) is None
    assert registry.get_sample_value("clearance_run_info", {"run_id": runs[0]}) is None
    assert registry.get_sample_value("clearance_convictions_decided_total", {
        "run_id": runs[0], "county": "yolo", "determination": "dismissal"}) is None
    assert registry.get_sample_value("clearance_rows_read_total", {"run_id": runs[1]}) == 10
    assert registry.get_sample_value("clearance_run_info", {"run_id": runs[1]}) == 0
    assert registry.get_sample_value("clearance_run_info", {"run_id": runs[-1]}) == 1


def test_plugin_registration_repeats_safely():
    plugin = metrics.MetricsPlugin()
    plugin.setup(worker=None)
    plugin.setup(worker=None)
    assert metrics.MetricsPlugin.idempotent
    assert metrics.worker_metrics() is metrics.worker_metrics()


def test_stage_estimate_by_bytes():
    run_metrics = metrics.RunMetrics("00000000cc01")
    stage = run_metrics.stage("decide", units=4, size=400)
    registry = run_metrics.registry
    assert math.isnan(registry.get_sample_value("clearance_client_seconds_left", {"run_id": "00000000cc01"}))

    stage.done(rows=10, size=100)
    left = registry.get_sample_value("clearance_client_seconds_left", {"run_id": "00000000cc01"})
    assert left > 0
    assert registry.get_sample_value("clearance_client_shards_left",
                                     {"run_id": "00000000cc01", "stage": "decide"}) == 3
    for _ in range(3):
        stage.done(rows=10, size=100)
    assert registry.get_sample_value("clearance_client_seconds_left", {"run_id": "00000000cc01"}) == 0
    assert registry.get_sample_value("clearance_client_rows_done", {"run_id": "00000000cc01"}) == 40


def test_server_binds_loopback_only():
    run_metrics = metrics.RunMetrics("00000000cc02")
    with metrics.MetricsServer(run_metrics.registry, "127.0.0.1", 0) as server:
        text = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read()
        assert server.host == "127.0.0.1"
    assert b'clearance_client_rows_done{run_id="00000000cc02"} 0.0' in text

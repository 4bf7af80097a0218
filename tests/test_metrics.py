"""Prometheus metrics of a run, scraped from a real LocalCluster and compared with the
run's own outputs."""

from __future__ import annotations

import csv
import datetime
import gzip
import io
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import fastparquet
import prometheus_client
import pytest
from dask.distributed import Client
from prometheus_client.parser import text_string_to_metric_families

import cluster.run
from cluster import metrics
from cluster.cli import EXIT_USAGE, main
from cluster.plan import describe_inputs, plan_shards
from cluster.run import run_job
from cluster.settings import RunConfig
from engine import layout
from engine.counties import CALIFORNIA_COUNTIES
from engine.generate import write_research_file
from engine.naming import county_folder
from tests import promql
from tests.conftest import read_json

COMPUTE_AT = datetime.date(2019, 11, 11)
SHARD_SIZE = 32 * 1024
WORD = re.compile(r"[a-z0-9]+")
DETERMINATION_LABELS = {"Eligible for Dismissal": "dismissal", "Eligible for Reduction": "reduction",
                        "": "no_relief"}


def write_inputs(folder: Path) -> list[Path]:
    """Write an unsorted plain file with unreadable rows, and a small gzip file.

    Shuffling the first rows splits persons across shards, so the run regroups them;
    the two files also share SUBJECT_IDs, which splits those persons across files.
    """
    plain = folder / "statewide.csv"
    write_research_file(plain, rows=5000, counties=["ALPINE", "FRESNO", "SAN JOAQUIN", "YOLO"], seed=11)
    header, *rows = plain.read_bytes().splitlines(keepends=True)
    head = rows[:1500]
    random.Random(3).shuffle(head)
    short_row = rows[1600].rstrip(b"\r\n").rsplit(b",", 3)[0] + b"\n"
    cells = layout.split_fields(rows[1601].rstrip(b"\r\n"))
    no_subject = layout.join_cells([b"" if i == layout.SUBJECT_ID else c for i, c in enumerate(cells)])
    plain.write_bytes(header + b"".join(head + rows[1500:]) + short_row + no_subject + b"\n")

    compressed = folder / "sacramento.csv.gz"
    write_research_file(compressed, rows=600, counties=["SACRAMENTO"], seed=12)
    return [plain, compressed]


def sensitive_values(paths: list[Path]) -> tuple[set[str], set[str]]:
    """Return every name, ID, date of birth and case number in the inputs, and every
    word of every name, all in lower case.

    Initials and placeholders such as `00000000` identify no one, and any text may contain
    them by chance, so words under 3 letters and values without a digit or letter other
    than 0 are left out.
    """
    values: set[str] = set()
    name_words: set[str] = set()
    columns = [layout.SUBJECT_ID, layout.CII_NUMBER, layout.PRI_NAME, layout.PRI_DOB, layout.OFN]
    for path in paths:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for cells in csv.reader(io.StringIO(data.decode("latin-1"))):
            if not cells or cells[0] == "RECORD_ID" or len(cells) <= layout.OFN:
                continue
            for column in columns:
                value = cells[column].strip().lower()
                if value.strip("0- "):
                    values.add(value)
            name_words.update(w for w in WORD.findall(cells[layout.PRI_NAME].lower()) if len(w) >= 3)
            birth = cells[layout.PRI_DOB].strip()
            if len(birth) == 8 and birth.isdigit():
                values.add(f"{birth[:4]}-{birth[4:6]}-{birth[6:]}")
    return values, name_words


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


def endpoints(scheduler_address: str) -> dict[str, str]:
    """Return the /metrics URL of the scheduler and of every worker."""
    with Client(scheduler_address, timeout="20s") as client:
        info = client.scheduler_info(n_workers=-1)
    urls = {"scheduler": f"http://127.0.0.1:{info['services']['dashboard']}/metrics"}
    for address, worker in info["workers"].items():
        assert worker["host"] == "127.0.0.1", address
        urls[address] = f"http://{worker['host']}:{worker['services']['dashboard']}/metrics"
    return urls


class ClientScraper(threading.Thread):
    """Scrapes the client's --metrics-port endpoint while the run lasts."""

    def __init__(self, servers: list):
        super().__init__(daemon=True)
        self.servers = servers
        self.stop = threading.Event()
        self.scrapes: list[str] = []

    def run(self):
        while not self.stop.is_set():
            if self.servers and self.servers[0].port:
                try:
                    self.scrapes.append(scrape(f"http://127.0.0.1:{self.servers[0].port}/metrics"))
                except (urllib.error.URLError, ConnectionError):
                    pass
            time.sleep(0.02)


class Run:
    """One run of the main job and every scrape taken after it."""

    def __init__(self, folder: Path, scheduler_address: str):
        self.inputs = write_inputs(folder)
        self.out = folder / "out"
        run_metrics: list[metrics.RunMetrics] = []
        servers: list[metrics.MetricsServer] = []

        class RecordingRunMetrics(metrics.RunMetrics):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                run_metrics.append(self)

        class RecordingServer(metrics.MetricsServer):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                servers.append(self)

        config = RunConfig(inputs=[str(p) for p in self.inputs], out=str(self.out),
                           compute_at=COMPUTE_AT, scheduler=scheduler_address,
                           shard_size=SHARD_SIZE, progress=False, metrics_port=0)
        scraper = ClientScraper(servers)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(cluster.run, "RunMetrics", RecordingRunMetrics)
            patch.setattr(cluster.run, "MetricsServer", RecordingServer)
            scraper.start()
            try:
                self.outcome = run_job(config)
            finally:
                scraper.stop.set()
                scraper.join()

        self.run_id = self.outcome.run_id
        self.client_scrapes = scraper.scrapes
        self.client_final = prometheus_client.generate_latest(run_metrics[0].registry).decode()
        self.manifest = read_json(self.out / "manifest.json")
        self.summary = read_json(self.out / "summary.json")
        self.scrapes = {name: scrape(url) for name, url in endpoints(scheduler_address).items()}
        self.workers = {name: text for name, text in self.scrapes.items() if name != "scheduler"}

    def total(self, sample_name: str, **labels: str) -> float:
        """Sum a sample over every worker, for this run and the given labels."""
        wanted = {"run_id": self.run_id, **labels}
        total = 0.0
        for text in self.workers.values():
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in wanted.items()):
                        total += sample.value
        return total

    def by_labels(self, sample_name: str, *names: str) -> Counter:
        """Sum a sample over every worker for this run, keyed by the given label values."""
        totals: Counter = Counter()
        for text in self.workers.values():
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == sample_name and sample.labels.get("run_id") == self.run_id:
                        totals[tuple(sample.labels[n] for n in names)] += sample.value
        return totals


@pytest.fixture(scope="module")
def scraped_run(tmp_path_factory, scheduler_address) -> Run:
    return Run(tmp_path_factory.mktemp("metrics"), scheduler_address)


def decisions_in_dataset(out: Path) -> Counter:
    """Count decided convictions by (county folder, determination label) in the Parquet dataset."""
    table = fastparquet.ParquetFile(str(out / "decisions")).to_pandas(columns=["determination", "county"])
    counts: Counter = Counter()
    for (county, determination), rows in table.groupby(["county", "determination"], observed=True).size().items():
        counts[county, DETERMINATION_LABELS[determination]] += int(rows)
    return counts


def test_rows_match_row_account(scraped_run):
    account = scraped_run.manifest["rowAccount"]
    assert account["rowsSetAside"] == 2
    assert scraped_run.total("clearance_rows_read_total") == account["rowsRead"]
    assert scraped_run.total("clearance_rows_set_aside_total") == account["rowsSetAside"]


def test_bytes_match_unpacked_inputs(scraped_run):
    # A compressed input counts the bytes unpacked from it, which the shards read.
    input_bytes = 0
    for path in scraped_run.inputs:
        data = path.read_bytes()
        input_bytes += len(gzip.decompress(data) if path.suffix == ".gz" else data)

    assert scraped_run.total("clearance_bytes_read_total") == input_bytes


def test_decisions_match_dataset(scraped_run):
    decided = scraped_run.by_labels("clearance_convictions_decided_total", "county", "determination")
    superseded = scraped_run.by_labels("clearance_convictions_superseded_total", "county", "determination")
    final = Counter({key: decided[key] - superseded[key] for key in decided})
    expected = decisions_in_dataset(scraped_run.out)

    assert sum(superseded.values()) > 0
    assert +final == +expected
    assert {county for county, _ in expected} == {"alpine", "fresno", "san-joaquin", "yolo", "sacramento"}


def test_decisions_match_summaries(scraped_run):
    decided = scraped_run.by_labels("clearance_convictions_decided_total", "determination")
    superseded = scraped_run.by_labels("clearance_convictions_superseded_total", "determination")
    statewide = scraped_run.summary["statewide"]
    assert decided["dismissal",] - superseded["dismissal",] == statewide["convictionsDismissed"]
    assert decided["reduction",] - superseded["reduction",] == statewide["convictionsReduced"]
    assert decided["no_relief",] - superseded["no_relief",] == statewide["convictionsWithNoRelief"]

    reduced = scraped_run.by_labels("clearance_convictions_decided_total", "county", "determination")
    withdrawn = scraped_run.by_labels("clearance_convictions_superseded_total", "county", "determination")
    for county, entry in scraped_run.summary["counties"].items():
        folder = entry["folder"]
        county_reductions = sum(entry["convictionReductionCountByCodeSection"].values())
        assert reduced[folder, "reduction"] - withdrawn[folder, "reduction"] == county_reductions, county


def test_shard_counters_add_up(scraped_run, tmp_path):
    files = describe_inputs([str(p) for p in scraped_run.inputs])
    planned = len(plan_shards(files, SHARD_SIZE, tmp_path / "unpacked"))
    assert scraped_run.total("clearance_shards_started_total", stage="decide") == planned
    assert scraped_run.total("clearance_shards_started_total", stage="regroup") > 0
    assert scraped_run.total("clearance_shards_started_total", stage="bucket") > 0
    for stage in metrics.STAGES:
        started = scraped_run.total("clearance_shards_started_total", stage=stage)
        assert scraped_run.total("clearance_shards_finished_total", stage=stage) == started, stage
        assert scraped_run.total("clearance_shards_failed_total", stage=stage) == 0, stage
        assert scraped_run.total("clearance_shards_retried_total", stage=stage) == 0, stage
        timed = scraped_run.total("clearance_shard_duration_seconds_count", stage=stage, outcome="finished")
        assert timed == started, stage


def test_run_id_exported(scraped_run):
    assert scraped_run.total("clearance_run_info") >= 1


def test_scheduler_metrics_stay_on(scraped_run):
    families = {family.name for family in text_string_to_metric_families(scraped_run.scrapes["scheduler"])}
    assert "dask_scheduler_tasks" in families
    assert "dask_scheduler_workers" in families
    for name, text in scraped_run.workers.items():
        worker_families = {family.name for family in text_string_to_metric_families(text)}
        assert "dask_worker_tasks" in worker_families, name
        assert "clearance_rows_read" in worker_families, name


def test_client_figures_match_run(scraped_run):
    final = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(scraped_run.client_final) for s in family.samples}
    run = ("run_id", scraped_run.run_id)
    assert final["clearance_client_rows_done", (run,)] == scraped_run.manifest["rowAccount"]["rowsRead"]
    assert final["clearance_client_rows_per_second", (run,)] > 0
    assert final["clearance_client_seconds_left", (run,)] == 0
    for stage in metrics.STAGES:
        assert final["clearance_client_shards_left", (run, ("stage", stage))] == 0, stage

    assert scraped_run.client_scrapes, "the client's metrics endpoint was never scraped during the run"
    served = {family.name for family in text_string_to_metric_families(scraped_run.client_scrapes[-1])}
    assert {"clearance_client_rows_done", "clearance_client_shards_left"} <= served


def leaked(text: str, values: set[str], name_words: set[str]) -> list[str]:
    """Return the sensitive values that a text contains, and the name words it has as words."""
    text = text.lower()
    found = [value for value in values if value in text]
    found += [word for word in WORD.findall(text) if word in name_words]
    return found


def test_no_personal_data_in_scrapes(scraped_run):
    values, name_words = sensitive_values(scraped_run.inputs)
    assert len(values) > 1000
    numbers = {int(value) for value in values if value.isdigit()}
    texts = dict(scraped_run.scrapes)
    texts.update({f"client-{i}": text for i, text in enumerate(scraped_run.client_scrapes)})
    texts["client-final"] = scraped_run.client_final
    assert len(texts) > 4

    for source, text in texts.items():
        for family in text_string_to_metric_families(text):
            # Help texts are fixed strings, and English words ("data") occur among the
            # fabricated name words, so only whole values are looked for there.
            described = f"{family.name} {family.documentation}"
            assert not leaked(described, values, set()), (source, family.name)
            for sample in family.samples:
                for label, value in sample.labels.items():
                    assert not leaked(f"{label} {value}", values, name_words), (source, sample.name, label)
                if sample.name.startswith("clearance_") and float(sample.value).is_integer():
                    assert int(sample.value) not in numbers, (source, sample.name)


def test_labels_are_bounded(scraped_run):
    counties = {county_folder(name) for name in CALIFORNIA_COUNTIES} | {metrics.OTHER_COUNTY}
    allowed = {"run_id": {scraped_run.run_id}, "county": counties, "stage": set(metrics.STAGES),
               "determination": set(metrics.DETERMINATIONS), "outcome": {"finished", "failed"}}
    for name, text in scraped_run.workers.items():
        for family in text_string_to_metric_families(text):
            if not family.name.startswith("clearance_"):
                continue
            for sample in family.samples:
                if sample.labels.get("run_id") != scraped_run.run_id:
                    continue
                for label, value in sample.labels.items():
                    if label == "le":
                        continue
                    assert value in allowed[label], (name, sample.name, label, value)


def test_metrics_port_in_use_is_usage_error(tmp_path, capsys):
    data = tmp_path / "input.csv"
    write_research_file(data, rows=10, counties=["YOLO"], seed=1)
    blocker = metrics.MetricsServer(prometheus_client.CollectorRegistry(), "127.0.0.1", 0)
    try:
        code = main(["run", str(data), "--out", str(tmp_path / "out"), "--workers", "1",
                     "--metrics-port", str(blocker.port), "--no-progress"])
    finally:
        blocker.close()
    assert code == EXIT_USAGE
    assert f"metrics port {blocker.port} on 127.0.0.1 cannot be opened" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_dashboard_metrics_are_exported(scraped_run):
    exported = set()
    for text in [*scraped_run.scrapes.values(), scraped_run.client_final]:
        for family in text_string_to_metric_families(text):
            exported.update(sample.name for sample in family.samples)
    queries = {**promql.dashboard_queries(), **promql.alert_expressions()}
    assert len(queries) > 15

    for name, query in queries.items():
        named = promql.metric_names(query)
        assert named, name
        # `up` is the scrape health series Prometheus itself writes for every target.
        assert named - {"up"} <= exported, (name, sorted(named - exported))

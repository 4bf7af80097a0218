"""Draw the Clearance dashboard from a real local run, as a PNG.

Grafana is packaged neither for Debian nor for PyPI, so this script reproduces its
panels instead. It starts a LocalCluster and Debian's Prometheus on 127.0.0.1 and runs
the main job on a generated statewide file while Prometheus scrapes the scheduler,
every worker and the client. Then it evaluates every query of
deploy/grafana/dashboards/clearance.json against that Prometheus and draws each panel
where the dashboard places it.

    apt-get install prometheus
    .venv/bin/pip install -e '.[docs]'
    .venv/bin/python deploy/snapshot.py --out docs/dashboard.png
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402

from cluster.run import run_job  # noqa: E402
from cluster.settings import RunConfig  # noqa: E402
from engine.generate import write_research_file  # noqa: E402

DEPLOY = Path(__file__).resolve().parent
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "clearance.json"
BACKGROUND, PANEL, TEXT, GRID = "#111217", "#181b1f", "#d8d9da", "#2c3235"
#: Rows shuffled in the middle of the input: enough to span several shards.
SHUFFLED_ROWS = 60_000
COLORS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#ffb357"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_input(path: Path, rows: int) -> None:
    """Write a statewide file whose middle is shuffled, so the run also regroups, and
    which ends with two unreadable rows."""
    write_research_file(path, rows=rows, seed=1)
    header, *lines = path.read_bytes().splitlines(keepends=True)
    middle = len(lines) // 2
    block = lines[middle:middle + SHUFFLED_ROWS]
    random.Random(2).shuffle(block)
    lines[middle:middle + SHUFFLED_ROWS] = block
    path.write_bytes(header + b"".join(lines) + b"too,few,fields\n" + b'"open quote,\n')


def prometheus_config(scheduler: str, workers: list[str], client: str, interval: str) -> str:
    # Job names match deploy/prometheus/*.yml, because the dashboard selects on them.
    jobs = {"dask-scheduler": [scheduler], "dask-workers": workers, "clearance-client": [client]}
    config = {"global": {"scrape_interval": interval, "evaluation_interval": interval},
              "scrape_configs": [{"job_name": name, "static_configs": [{"targets": targets}]}
                                 for name, targets in jobs.items()]}
    return json.dumps(config)


def query(base: str, path: str, **params) -> list[dict]:
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
    if body["status"] != "success":
        raise RuntimeError(f"Prometheus query failed: {body}")
    return body["data"]["result"]


def wait_ready(base: str, process: subprocess.Popen) -> None:
    for _ in range(100):
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with code {process.returncode}")
        try:
            urllib.request.urlopen(f"{base}/-/ready", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("timed out after 20 s waiting for prometheus to become ready")


def legend(template: str, labels: dict) -> str:
    if template in ("", "__auto"):
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__") or "value"
    text = template
    for key, value in labels.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def fetch_panels(base: str, dashboard: dict, run_id: str, start: float, end: float,
                 rate_interval: str) -> list[tuple[dict, list[tuple[str, list]]]]:
    """Evaluate every target of every panel; instant targets at the end of the run."""
    fetched = []
    for panel in dashboard["panels"]:
        series = []
        for target in panel["targets"]:
            expression = (target["expr"].replace("$__rate_interval", rate_interval)
                          .replace("$run_id", run_id))
            if target.get("instant"):
                for item in query(base, "query", query=expression, time=end - 0.5):
                    series.append((legend(target["legendFormat"], item["metric"]), item["metric"],
                                   float(item["value"][1])))
            else:
                for item in query(base, "query_range", query=expression, start=start, end=end, step=1):
                    points = [(float(t) - start, float(v)) for t, v in item["values"]]
                    series.append((legend(target["legendFormat"], item["metric"]), item["metric"], points))
        fetched.append((panel, series))
    return fetched


def format_value(value: float, unit: str | None) -> str:
    if value != value:  # NaN
        return "-"
    if unit == "s":
        return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"
    if unit == "bytes":
        return f"{value / 2**20:,.0f} MiB"
    if unit == "percentunit":
        return f"{value * 100:.0f}%"
    for size, suffix in ((1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:.2f}{suffix}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:.1f}"


def draw(fetched, dashboard: dict, caption: str, out: Path) -> None:
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    unit_width, unit_height = 0.9, 0.42
    figure = plt.figure(figsize=(24 * unit_width, rows * unit_height + 0.8), facecolor=BACKGROUND)
    top = 1 - 0.8 / (rows * unit_height + 0.8)
    figure.text(0.005, 1 - 0.25 / (rows * unit_height + 0.8), caption, color=TEXT, fontsize=11, va="top")

    for panel, series in fetched:
        box = panel["gridPos"]
        unit = panel["fieldConfig"]["defaults"].get("unit")
        left = box["x"] / 24 + 0.003
        width = box["w"] / 24 - 0.006
        height = box["h"] / rows * top - 0.006
        bottom = top - (box["y"] + box["h"]) / rows * top + 0.003
        frame = figure.add_axes([left, bottom, width, height], facecolor=PANEL)
        frame.set_xticks([])
        frame.set_yticks([])
        for spine in frame.spines.values():
            spine.set_color(GRID)
        frame.text(0.01, 0.97, panel["title"], color=TEXT, fontsize=10, va="top", transform=frame.transAxes)

        # The plot sits inside the panel, leaving room for the title and tick labels.
        inset_left = 0.09 if panel["type"] == "barchart" else 0.05
        inset_left *= 24 / box["w"] / 2
        axes = figure.add_axes([left + width * inset_left, bottom + height * 0.16,
                                width * (0.98 - inset_left), height * 0.68], facecolor=PANEL)
        for spine in axes.spines.values():
            spine.set_color(GRID)
        axes.tick_params(colors=TEXT, labelsize=7)

        if panel["type"] == "stat":
            axes.set_axis_off()
            text = "  ".join(f"{format_value(value, unit)}" + (f" {name}" if len(series) > 1 else "")
                             for name, _, value in series) or "no data"
            axes.text(0.5, 0.45, text, color=COLORS[0], fontsize=20 if len(series) == 1 else 14,
                      ha="center", va="center", transform=axes.transAxes, weight="bold")
        elif panel["type"] == "barchart":
            draw_decisions(axes, series)
        else:
            for number, (name, _, points) in enumerate(sorted(series, key=lambda s: s[0])):
                xs = [x for x, _ in points]
                ys = [y for _, y in points]
                axes.plot(xs, ys, color=COLORS[number % len(COLORS)], linewidth=1.2, label=name)
            axes.grid(color=GRID, linewidth=0.5)
            axes.set_xlabel("seconds since the run started", color=TEXT, fontsize=7)
            axes.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _, unit=unit: format_value(v, unit)))
            if unit == "short":
                axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            if series:
                axes.legend(fontsize=7, facecolor=PANEL, edgecolor=GRID, labelcolor=TEXT, loc="upper left")
            else:
                axes.text(0.5, 0.5, "no data", color=TEXT, ha="center", transform=axes.transAxes)

    figure.savefig(out, dpi=80, facecolor=BACKGROUND)
    plt.close(figure)


def draw_decisions(axes, series) -> None:
    """Stack each county's decisions by determination, as the dashboard's bar chart does."""
    counts: dict[str, dict[str, float]] = {}
    for _, labels, value in series:
        counts.setdefault(labels["county"], {})[labels["determination"]] = value
    counties = sorted(counts, key=lambda c: sum(counts[c].values()))
    left = [0.0] * len(counties)
    for number, determination in enumerate(("dismissal", "reduction", "no_relief")):
        values = [counts[c].get(determination, 0) for c in counties]
        axes.barh(counties, values, left=left, color=COLORS[number], label=determination, height=0.8)
        left = [a + b for a, b in zip(left, values)]
    axes.tick_params(axis="y", labelsize=5)
    axes.set_ylim(-0.6, len(counties) - 0.4)
    axes.grid(axis="x", color=GRID, linewidth=0.5)
    axes.legend(fontsize=7, facecolor=PANEL, edgecolor=GRID, labelcolor=TEXT, loc="lower right")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"), help="PNG to write")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated input")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the LocalCluster")
    parser.add_argument("--shard-size", type=int, default=4 * 2**20, help="input bytes per shard")
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus",
                        help="the prometheus binary (Debian's package installs /usr/bin/prometheus)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="clearance-snapshot-"))
    try:
        source = work / "statewide.csv"
        write_input(source, args.rows)
        dashboard = json.loads(DASHBOARD.read_text())
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
            info = client.scheduler_info(n_workers=-1)
            scheduler = f"127.0.0.1:{info['services']['dashboard']}"
            workers = [f"{w['host']}:{w['services']['dashboard']}" for w in info["workers"].values()]
            client_port, prometheus_port = free_port(), free_port()
            (work / "prometheus.yml").write_text(
                prometheus_config(scheduler, workers, f"127.0.0.1:{client_port}", "1s"))
            base = f"http://127.0.0.1:{prometheus_port}"
            prometheus = subprocess.Popen(
                [args.prometheus, f"--config.file={work / 'prometheus.yml'}",
                 f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prometheus_port}",
                 "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_ready(base, prometheus)
                time.sleep(5)
                start = time.time()
                outcome = run_job(RunConfig(inputs=[str(source)], out=str(work / "out"),
                                            scheduler=cluster.scheduler_address, shard_size=args.shard_size,
                                            progress=False, metrics_port=client_port))
                end = time.time()
                load = os.getloadavg()[0]
                time.sleep(4)
                fetched = fetch_panels(base, dashboard, outcome.run_id, start - 5, end, "10s")
            finally:
                prometheus.terminate()
                prometheus.wait(timeout=30)
        caption = (f"Clearance run {outcome.run_id}: {outcome.rows_read:,} generated rows, {args.workers} "
                   f"workers, {os.cpu_count()} cores (load average {load:.1f} at the end), "
                   f"{datetime.date.today().isoformat()}, {end - start:.0f} s. Panels of "
                   f"{DASHBOARD.name} drawn from a real Prometheus scrape (1 s interval, rate window 10 s); "
                   "Grafana itself is not installable here.")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        draw(fetched, dashboard, caption, args.out)
        print(f"wrote {args.out}: run {outcome.run_id}, {outcome.rows_read:,} rows in {end - start:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""deploy/snapshot.py, the script that draws the dashboard's panels, on made-up query results."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess

import pytest

from tests import promql

pytest.importorskip("matplotlib", reason="matplotlib not installed; pip install -e '.[docs]'")


@pytest.fixture(scope="module")
def snapshot():
    spec = importlib.util.spec_from_file_location("snapshot", promql.DEPLOY / "snapshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_legend_fills_labels(snapshot):
    assert snapshot.legend("p95 {{stage}}", {"stage": "decide"}) == "p95 decide"
    assert snapshot.legend("__auto", {"__name__": "x", "instance": "w1"}) == "instance=w1"


def test_format_value_units(snapshot):
    assert snapshot.format_value(1_500_000, "short") == "1.50M"
    assert snapshot.format_value(0.5, "short") == "0.5"
    assert snapshot.format_value(300, "s") == "5.0 min"
    assert snapshot.format_value(0.25, "percentunit") == "25%"
    assert snapshot.format_value(float("nan"), "s") == "-"


def test_config_passes_promtool(snapshot, tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found; install Debian's prometheus package (apt-get install prometheus)")
    config = tmp_path / "prometheus.yml"
    config.write_text(snapshot.prometheus_config("127.0.0.1:8787", ["127.0.0.1:40001", "127.0.0.1:40002"],
                                                 "127.0.0.1:9108", "1s"))
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = [job["job_name"] for job in json.loads(config.read_text())["scrape_configs"]]
    assert jobs == ["dask-scheduler", "dask-workers", "clearance-client"]


def test_draws_every_panel(snapshot, tmp_path):
    dashboard = promql.dashboard()
    fetched = []
    for panel in dashboard["panels"]:
        if panel["type"] == "stat":
            series = [("value", {}, 42.0)]
        elif panel["type"] == "barchart":
            series = [("", {"county": county, "determination": determination}, 10.0)
                      for county in ("yolo", "fresno") for determination in ("dismissal", "reduction")]
        else:
            series = [("w1", {}, [(float(t), float(t % 7)) for t in range(60)])]
        fetched.append((panel, series))
    out = tmp_path / "dashboard.png"
    snapshot.draw(fetched, dashboard, "made-up data", out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000

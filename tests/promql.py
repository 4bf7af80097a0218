"""Reading the PromQL of the Grafana dashboard and the alert rules, for the tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "clearance.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"

#: Stand-ins for Grafana's variables, so that a query can be read as plain PromQL.
GRAFANA_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)\b")
GRAFANA_VARIABLES = re.compile(r"\$\{?\w+\}?")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBER = re.compile(r"(?<![\w:])(\d+(\.\d+)?(e[+-]?\d+)?([smhdwy]|ms)?)(?![\w:])", re.IGNORECASE)
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan", "atan2"}


def as_promql(query: str) -> str:
    """Replace Grafana's variables with values Prometheus accepts."""
    return GRAFANA_VARIABLES.sub(".+", GRAFANA_INTERVALS.sub("1m", query))


def metric_names(expression: str) -> set[str]:
    """Return the metric names a PromQL expression selects.

    Label matchers, strings, ranges, grouping clauses and numbers are removed first.
    Each name that remains is then a function or aggregation (followed by a
    parenthesis), a keyword, or a metric name.
    """
    text = _STRING.sub(" ", as_promql(expression))
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        following = text[match.end():].lstrip()
        if following.startswith("(") or match.group().lower() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_queries() -> dict[str, str]:
    """Return every PromQL query of the dashboard, keyed by panel and target."""
    document = dashboard()
    queries = {}
    for panel in document["panels"]:
        for target in panel.get("targets", []):
            queries[f"panel {panel['id']} ({panel['title']}) {target['refId']}"] = target["expr"]
    for variable in document["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            # query_result(EXPR) is Grafana's wrapper around a PromQL expression.
            queries[f"variable {variable['name']}"] = re.sub(r"^query_result\((.*)\)$", r"\1", query)
    return queries


def alert_expressions() -> dict[str, str]:
    """Return the expression of every alert rule, keyed by alert name."""
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}

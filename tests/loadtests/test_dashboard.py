"""The Grafana dashboard loads without edits and only queries what telemetry.py defines: every
metric name, and every label a panel groups or filters by, exists on that metric."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services.common import telemetry

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "solace-dashboard.json"
# Metric selectors are written {__name__=~"(ray_)?solace_..."} so one dashboard serves both the
# per-process endpoints (solace_*) and Ray's metrics agent (ray_solace_*).
METRIC = re.compile(r'__name__=~"\(ray_\)\?(solace_[a-z_]+)"')
SELECTOR = re.compile(r"\{([^}]*)\}")
BY = re.compile(r"\bby \(([^)]*)\)")
SUFFIXES = ("_bucket", "_count", "_sum")
# Labels Prometheus or Ray add on top of the metric's own.
EXTRA_LABELS = {"le", "__name__", "instance", "job"}


def load() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    return [p for p in load()["panels"] if p["type"] != "row"]


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def labels_of(name: str) -> set[str]:
    metric = {
        "solace_stage_duration_seconds": telemetry.STAGE_SECONDS,
        "solace_requests_total": telemetry.REQUESTS_TOTAL,
        "solace_escalations_total": telemetry.ESCALATIONS_TOTAL,
        "solace_in_flight_requests": telemetry.IN_FLIGHT,
        "solace_model_info": telemetry.MODEL_INFO,
        "solace_batch_size": telemetry.BATCH_SIZE,
    }[name]
    return set(metric._labelnames)


def test_dashboard_loads_without_edits():
    dashboard = load()
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    assert "${DS_" not in DASHBOARD.read_text(), "no import-time inputs: it must load as is"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["targets"], panel["title"]


def test_panels_cover_the_issue():
    titles = " | ".join(p["title"].lower() for p in panels())
    for needed in ("p50", "p95", "p99", "throughput", "errors", "escalations", "in-flight"):
        assert needed in titles, needed


@pytest.mark.parametrize("panel", panels(), ids=lambda p: p["title"])
def test_every_expression_uses_defined_metrics_and_labels(panel):
    for target in panel["targets"]:
        expr = target["expr"]
        names = METRIC.findall(expr)
        assert names, f"no solace metric in {expr}"
        for name in names:
            assert family(name) in telemetry.METRIC_NAMES, name
            known = labels_of(family(name)) | EXTRA_LABELS
            for selector in SELECTOR.findall(expr):
                used = {m.group(1) for m in re.finditer(r"(\w+)\s*(?:=~|!=|!~|=)", selector)}
                assert used <= known, (name, used - known)
            for group in BY.findall(expr):
                used = {label.strip() for label in group.split(",")}
                assert used <= known, (name, used - known)
        if "histogram_quantile" in expr:
            assert "_bucket" in expr and "le" in BY.findall(expr)[0]

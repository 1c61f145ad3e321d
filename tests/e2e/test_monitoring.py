"""Monitoring on the real cluster (`invoke up --with monitoring`): Prometheus, built from its Go module in CI and
deployed by Argo CD from the GitOps repo's platform/monitoring, scrapes the real app and Argo CD. Everything is
asked through Prometheus's HTTP API on 127.0.0.1 (/api/v1/query, /api/v1/rules), with bounded polls."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from e2e.fixture import Lab
from lab.manifests import monitoring as m

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

PROM = f"http://127.0.0.1:{m.PROMETHEUS_HOST_PORT}"
READY_TIMEOUT = 240.0  # Argo CD has synced it during `up`; the first scrapes of every target follow within 2 intervals
REQUESTS = 40  # bounded traffic at dev
ROUTE = "/version"


def _get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def query(expr: str) -> dict[str, Any]:
    status, body = _get(f"{PROM}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    try:
        answer: dict[str, Any] = json.loads(body)
    except json.JSONDecodeError:
        answer = {"status": "error", "error": f"HTTP {status}: {body[:200]}"}
    return answer


def samples(expr: str) -> list[dict[str, Any]]:
    answer = query(expr)
    return list(answer.get("data", {}).get("result", [])) if answer.get("status") == "success" else []


def by_series(expr: str) -> dict[tuple[tuple[str, str], ...], float]:
    """value by series; the key leaves out pod_ready (a pod that turns ready keeps its counter)."""
    return {
        tuple(sorted((k, v) for k, v in r["metric"].items() if k != "pod_ready")): float(r["value"][1])
        for r in samples(expr)
    }


def wait_for(what: str, expr: str, timeout: float = READY_TIMEOUT) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = query(expr)
        found = last.get("data", {}).get("result", []) if last.get("status") == "success" else []
        if found:
            return list(found)
        time.sleep(3)
    pytest.fail(f"{what}: `{expr}` returned nothing within {timeout:.0f}s (last answer {str(last)[:300]})")


def _monitoring_on(lab: Lab) -> None:
    if "monitoring" not in lab.settings.with_components:
        pytest.skip("monitoring is off: run `invoke up --with monitoring` (or LAB_WITH_COMPONENTS=monitoring)")


def test_prometheus_scrapes_the_app_and_argocd_and_the_dev_request_counter_rises(lab: Lab) -> None:
    _monitoring_on(lab)
    wait_for("Prometheus answers and scrapes dev's pod", 'up{job="lab-app",namespace="lab-dev"} == 1')
    for svc, _port, component in m.ARGOCD_METRICS:
        wait_for(f"Argo CD's {svc} is scraped", f'up{{job="argocd",component="{component}"}} == 1')
    apps = wait_for("argocd_app_info of lab-dev", 'argocd_app_info{name="lab-dev"}')
    assert apps[0]["metric"]["dest_namespace"] == "lab-dev", apps
    assert {"sync_status", "health_status"} <= set(apps[0]["metric"]), apps  # what the alerts and dashboard use

    counter = f'http_requests_total{{job="lab-app",namespace="lab-dev",route="{ROUTE}"}}'
    before = by_series(counter)
    sent = 0
    for _ in range(REQUESTS):
        status, _body = _get(lab.url("dev", ROUTE), timeout=5)
        sent += status == 200
    assert sent >= REQUESTS * 0.9, f"only {sent}/{REQUESTS} requests to dev answered 200"
    deadline = time.monotonic() + 90
    rise = 0.0
    while time.monotonic() < deadline:
        after = by_series(counter)
        # per series (pod, method, status): a pod that left takes its count with it, a new one starts at 0
        rise = sum(value - before.get(key, 0.0) for key, value in after.items())
        if rise >= sent:
            break
        time.sleep(3)
    # All workers' counters (multiprocess mode): the rise is at least what this test sent.
    assert rise >= sent, f"{counter} rose by {rise} after {sent} requests (before: {before})"


def test_every_dashboard_query_and_alert_is_valid_promql_and_the_rules_are_loaded(lab: Lab) -> None:
    _monitoring_on(lab)
    wait_for("Prometheus answers", "vector(1)")
    exprs = [q.replace("$namespace", "lab-.*") for _, q in m.dashboard_queries()]
    exprs += [r["expr"] for g in m.alert_rules()["groups"] for r in g["rules"]]
    bad = {e: a.get("error") for e in exprs if (a := query(e)).get("status") != "success"}
    assert not bad, bad
    # The panels about the app return data once dev has been scraped (its request counter exists after any hit).
    _get(lab.url("dev", ROUTE), timeout=5)
    wait_for("request rate of dev", m.dashboard_queries()[0][1].replace("$namespace", "lab-dev"), timeout=120)
    status, body = _get(f"{PROM}/api/v1/rules")
    assert status == 200, body[:300]
    loaded = {r["name"] for g in json.loads(body)["data"]["groups"] for r in g["rules"]}
    assert loaded == {r["alert"] for g in m.alert_rules()["groups"] for r in g["rules"]}

"""Monitoring on the real cluster (`invoke up --with monitoring`): Prometheus, built from its Go module in CI and
deployed by Argo CD from the GitOps repo's platform/monitoring, scrapes the real app and Argo CD. Everything is
asked through Prometheus's HTTP API on 127.0.0.1 (/api/v1/query, /api/v1/rules), with bounded polls.

The bad-release test ships what `invoke demo-bad-release` ships (dev's image with APP_FAULT_ROUTES: ready, but one
route answers 500), sends bounded traffic at that route, and watches the lab's own alert rule, with the `for:` and
threshold the lab ships, go pending then firing, then resolve after `invoke rollback dev`'s git revert."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from e2e.fixture import DEPLOY, ROLLBACK, Lab, Scenario, app_is
from lab.core.config import ROOT
from lab.manifests import monitoring as m
from lab.steps import bad_release

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


def test_every_dashboard_query_returns_data_every_alert_is_valid_promql_and_the_rules_are_loaded(lab: Lab) -> None:
    _monitoring_on(lab)
    wait_for("Prometheus answers", "vector(1)")
    panels = [(title, q.replace("$namespace", "lab-.*")) for title, q in m.dashboard_queries()]
    exprs = [q for _, q in panels]
    exprs += [a["expr"].replace("$namespace", "lab-.*") for a in m.annotation_queries()]
    exprs += [r["expr"] for g in m.alert_rules()["groups"] for r in g["rules"]]
    bad = {e: a.get("error") for e in exprs if (a := query(e)).get("status") != "success"}
    assert not bad, bad
    # Every panel returns data once dev has answered a few requests and been scraped (the annotations return data
    # at a deploy or rollback only: the bad-release test asks them then).
    for _ in range(20):
        _get(lab.url("dev", ROUTE), timeout=5)
    start = time.monotonic()
    for title, expr in panels:
        wait_for(f"the panel {title!r}", expr, timeout=max(10.0, 120 - (time.monotonic() - start)))
    status, body = _get(f"{PROM}/api/v1/rules")
    assert status == 200, body[:300]
    loaded = {r["name"] for g in json.loads(body)["data"]["groups"] for r in g["rules"]}
    assert loaded == {r["alert"] for g in m.alert_rules()["groups"] for r in g["rules"]}


# Error ratio above the threshold: the first scrapes of the bad release's 500s (2 scrape intervals) and a rate over
# two samples. Pending → firing: the rule's `for:` plus an evaluation interval. Resolved: the 500s leave the rate's
# window (2m) after the rollback, plus a scrape and an evaluation.
RATIO_RISES = 120.0
FIRES = 60.0 + 90.0
RESOLVES = 120.0 + 180.0
ALERT = "LabAppErrorRatioHigh"
TUTORIAL_CHAPTER = "## 7. Observe"


def alert_state(namespace: str) -> str:
    """pending / firing of the error-ratio alert for NAMESPACE ("" when it is not active)."""
    found = samples(f'ALERTS{{alertname="{ALERT}",namespace="{namespace}"}}')
    states = {r["metric"].get("alertstate", "") for r in found}
    return "firing" if "firing" in states else "pending" if "pending" in states else ""


def dev_error_ratio() -> float | None:
    for r in samples(m.error_ratio_panel_expr().replace("$namespace", "lab-dev")):
        if r["metric"].get("namespace") == "lab-dev":
            return float(r["value"][1])
    return None


def marker(annotation: str, tag: str, **labels: str) -> bool:
    """The dashboard's annotation ANNOTATION returns a series for lab-dev (with image_tag TAG), or with LABELS."""
    expr = next(a["expr"] for a in m.annotation_queries() if a["name"] == annotation).replace("$namespace", "lab-dev")
    want = labels or {"namespace": "lab-dev", "image_tag": tag}
    return any(all(r["metric"].get(k) == v for k, v in want.items()) for r in samples(expr))


def poll(what: str, timeout: float, check: Any, interval: float = 2.0) -> tuple[float, Any]:
    """(seconds, value) when CHECK() returns something true; fails after TIMEOUT with the last value."""
    start = time.monotonic()
    value = None
    while time.monotonic() - start < timeout:
        value = check()
        if value:
            return time.monotonic() - start, value
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:.0f}s (last: {value!r})")


def observe_blocks() -> list[list[str]]:
    """The command lines of each ```sh block of docs/tutorial.md's observability chapter."""
    text = (ROOT / "docs" / "tutorial.md").read_text()
    begin = text.index(TUTORIAL_CHAPTER)
    chapter = text[begin : text.index("\n## ", begin + 1)]
    return [block.strip().splitlines() for block in re.findall(r"```sh\n(.*?)```", chapter, re.DOTALL)]


def curl(line: str) -> dict[str, Any]:
    """Run one of the chapter's curl commands as written (argv from the line, its comment dropped)."""
    argv = shlex.split(line, comments=True)
    assert argv[0] == "curl" and all(a.startswith(PROM) for a in argv if a.startswith("http")), line
    res = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    assert res.returncode == 0, f"{line}: exit {res.returncode}: {res.stderr[-500:]}"
    answer: dict[str, Any] = json.loads(res.stdout)
    assert answer.get("status") == "success", (line, answer)
    return answer


def dev_results(answer: dict[str, Any]) -> list[dict[str, Any]]:
    found = answer["data"]["result"] if "result" in answer["data"] else answer["data"]["alerts"]
    return [r for r in found if r.get("metric", r.get("labels", {})).get("namespace") == "lab-dev"]


@pytest.mark.timeout(1800)
def test_a_bad_release_raises_dev_error_ratio_fires_the_alert_and_rollback_resolves_it(scenario: Scenario) -> None:
    """docs/tutorial.md's observability chapter, every command as written: its `invoke` commands run as the
    learner types them, its curl commands with curl; its traffic loop is this test's bounded traffic (same URL)."""
    lab = scenario.lab
    _monitoring_on(lab)
    watch, bad_block, back = observe_blocks()
    ran: list[str] = []
    scenario.given().release_in("dev")
    good = scenario.releases["dev"]
    wait_for("Prometheus scrapes dev", 'up{job="lab-app",namespace="lab-dev"} == 1')
    for _ in range(10):
        _get(lab.url("dev", ROUTE), timeout=5)
    wait_for("dev's request rate", m.dashboard_queries()[0][1].replace("$namespace", "lab-dev"), timeout=120)
    for line in watch:
        assert dev_results(curl(line)), f"{line}: nothing for lab-dev"
        ran.append(line)
    poll("no error-ratio alert for lab-dev before the test", RESOLVES, lambda: alert_state("lab-dev") == "")

    assert bad_block[0] == "invoke demo-bad-release", bad_block
    scenario.mark("bad")
    lab.invoke(*shlex.split(bad_block[0])[1:])  # waits until dev is Synced and Healthy at the bad release
    ran.append(bad_block[0])
    scenario.record("invoke demo-bad-release (build, push, commit, Synced + Healthy)", scenario.since("bad"), DEPLOY)
    bad = lab.release("dev")
    assert bad is not None and bad.tag == f"{good.tag}{bad_release.TAG_SUFFIX}", bad
    scenario.then().expect(
        app_is(lab, "dev", sync="Synced", health="Healthy", revision=bad.gitops_commit, image=bad.image),
        30,
        "dev Synced + Healthy at the bad release",
    )
    seconds, _ = poll(
        "the dashboard's deploy marker for the bad release", RATIO_RISES, lambda: marker("Deploys", bad.tag)
    )
    scenario.record("bad release Healthy → deploy marker", seconds, RATIO_RISES)

    loop_url = re.findall(r"http://127\.0\.0\.1:\d+[^\s;]+", bad_block[1])
    assert bad_block[1].startswith("for ") and loop_url == [lab.url("dev", bad_release.DEFAULT_ROUTE)], bad_block[1]
    scenario.given().traffic("dev", bad_release.DEFAULT_ROUTE)
    ran.append(bad_block[1])
    scenario.mark("traffic")
    status, body = _get(lab.url("dev", bad_release.DEFAULT_ROUTE), timeout=5)
    assert status == 500 and "APP_FAULT_ROUTES" in body, (status, body[:300])  # it serves its errors
    assert _get(lab.url("dev", "/ready"), timeout=5)[0] == 200

    seconds, ratio = poll(
        f"lab-dev's error ratio above {m.ERROR_RATIO_THRESHOLD}",
        RATIO_RISES,
        lambda: r if (r := dev_error_ratio()) is not None and r > m.ERROR_RATIO_THRESHOLD else None,
    )
    scenario.record("bad release traffic → error ratio above the threshold", seconds, RATIO_RISES, f"{ratio:.2f}")
    _, first = poll(f"{ALERT} pending or firing for lab-dev", FIRES, lambda: alert_state("lab-dev"))
    scenario.record(f"traffic → {ALERT} {first}", scenario.since("traffic"), RATIO_RISES + FIRES)
    seconds, _ = poll(f"{ALERT} firing for lab-dev", FIRES, lambda: alert_state("lab-dev") == "firing")
    scenario.record(f"{ALERT} pending → firing", seconds, FIRES, "rule for: 1m")
    assert first == "pending", "the alert was firing at its first poll: it never showed pending (for: is not honoured?)"
    ratio_line, alerts_line = bad_block[2:]
    assert float(dev_results(curl(ratio_line))[0]["value"][1]) > m.ERROR_RATIO_THRESHOLD
    firing = [a for a in dev_results(curl(alerts_line)) if a["labels"]["alertname"] == ALERT]
    assert [a["state"] for a in firing] == ["firing"], firing
    ran += [ratio_line, alerts_line]

    rollback_line, alerts_after = back
    assert rollback_line == "invoke rollback dev", back
    scenario.mark("rollback")
    lab.invoke(*shlex.split(rollback_line)[1:])  # git revert, push, waits for the old image to serve
    ran.append(rollback_line)
    scenario.record(
        "invoke rollback dev (revert, Synced + Healthy, old image serving)", scenario.since("rollback"), ROLLBACK
    )
    back_on = lab.release("dev")
    assert back_on is not None and back_on.image == good.image, (back_on, good)
    assert _get(lab.url("dev", bad_release.DEFAULT_ROUTE), timeout=5)[0] == 200
    assert samples('argocd_app_sync_total{name="lab-dev",phase="Succeeded"}'), "no completed sync of lab-dev counted"
    poll("the dashboard's sync marker for lab-dev", 60, lambda: marker("Argo CD syncs", "", name="lab-dev"))
    seconds, _ = poll("the dashboard's rollback marker", RATIO_RISES, lambda: marker("Rollbacks", good.tag))
    scenario.record("rollback done → rollback marker", seconds, RATIO_RISES)
    poll(f"{ALERT} resolved for lab-dev", RESOLVES, lambda: alert_state("lab-dev") == "")
    scenario.record(f"rollback → {ALERT} resolved", scenario.since("rollback"), ROLLBACK + RESOLVES)
    assert not [a for a in dev_results(curl(alerts_after)) if a["labels"]["alertname"] == ALERT]
    ran.append(alerts_after)
    ratio_after = dev_error_ratio()
    assert ratio_after is not None and ratio_after <= m.ERROR_RATIO_THRESHOLD, ratio_after

    traffic = scenario.traffic
    assert traffic is not None
    traffic.stop()
    scenario.traffic = None
    errors = sum(f.endswith(" 500") for f in traffic.failures)
    scenario.record(f"requests to {traffic.url}", 0.0, note=f"{traffic.ok} ok, {errors} answered 500")
    assert errors > 0 and traffic.ok > 0, (traffic.ok, traffic.failures[:5])
    assert ran == [line for block in observe_blocks() for line in block]  # every command of the chapter

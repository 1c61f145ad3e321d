"""Network policies on the real cluster: under each environment's default deny (overlays/base/networkpolicy.yaml) the
app still serves on its NodePort and passes its probes; a pod of another namespace is refused, allowed by a commit to
the GitOps repo once Argo CD synced it, and refused again after the commit's `git revert` (`invoke demo-netpol`,
lab/steps/netpol.py). The CI cluster's kindnet enforces them with sigs.k8s.io/kube-network-policies, as kindnetd
does (.ci/cluster/src/kindnet)."""

from __future__ import annotations

import json

import pytest

from e2e.fixture import DEPLOY, DETECT, Scenario, app_is, serving
from lab.core.config import environment
from lab.steps import netpol
from lab.steps.watcher import LazyArgoWatcher
from lab.tools import kubectl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


def _policies(scenario: Scenario, env: str) -> set[str]:
    lab = scenario.lab
    data = kubectl.get_json(
        lab.ctx.runner, lab.settings.kube_context, "networkpolicy", namespace=environment(env).namespace
    )
    return {item["metadata"]["name"] for item in (data or {}).get("items", [])}


def _restarts(scenario: Scenario, env: str) -> dict[str, int]:
    pods = scenario.lab.cluster.list("Pod", environment(env).namespace, "app.kubernetes.io/name=lab-app")
    return {
        p["metadata"]["name"]: sum(int(c.get("restartCount", 0)) for c in p["status"].get("containerStatuses", []))
        for p in pods
    }


def test_demo_netpol_refuses_then_allows_then_refuses_and_the_app_serves_under_default_deny(
    scenario: Scenario,
) -> None:
    lab = scenario.lab
    scenario.given().release_in("dev").synced("dev")
    tag = scenario.releases["dev"].tag
    assert {"default-deny", "lab-app", "allow-dns"} <= _policies(scenario, "dev")
    # default deny in force: the NodePort (127.0.0.1:8081 through the node) and the probes (Healthy = ready pods)
    scenario.then().expect(serving(lab, "dev", tag), DETECT, "dev answers on 127.0.0.1:8081 under default deny")
    restarts = _restarts(scenario, "dev")

    result = netpol.demo_netpol(lab.ctx, "dev", watcher=LazyArgoWatcher(lab.ctx))

    outcomes = [p.outcome if p else None for p in (result.before, result.allowed, result.after)]
    assert outcomes == ["blocked", "allowed", "blocked"], json.dumps(result.__dict__, default=str)
    assert result.allow_commit and result.revert_commit
    assert result.seconds_to_allow is not None and result.seconds_to_block is not None
    scenario.record("demo-netpol: allow pushed → client answered", result.seconds_to_allow, DEPLOY)
    scenario.record("demo-netpol: revert pushed → client dropped", result.seconds_to_block, DEPLOY)
    assert netpol.POLICY_NAME not in _policies(scenario, "dev")  # pruned by the revert's sync
    # the probes kept passing (no restart, still Healthy) and the NodePort still serves
    scenario.then().expect(
        app_is(lab, "dev", sync="Synced", health="Healthy"), DEPLOY, "dev Synced + Healthy after the demo"
    ).expect(serving(lab, "dev", tag), DETECT, "dev still answers on 127.0.0.1:8081")
    assert _restarts(scenario, "dev") == restarts
    gone = kubectl.get_json(lab.ctx.runner, lab.settings.kube_context, "namespace", netpol.DEMO_NAMESPACE)
    assert gone is None or gone.get("status", {}).get("phase") == "Terminating"

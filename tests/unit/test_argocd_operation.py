"""The Argo CD client's view of operations and resources (what the drift demo reads), from recorded v3.5.1
Application objects checked against the vendored CRD; the drift demo has no parser of its own."""

from __future__ import annotations

import ast
import copy
from typing import Any

import pytest
from argocd_schema import crd_problems
from kubernetes.client.exceptions import ApiException

from lab.clients.argocd import ApplicationClient
from lab.clients.argocd_status import Resource, parse_status
from lab.core.config import ROOT
from lab.core.errors import ClusterUnreachable, Conflict

Obj = dict[str, Any]
REV = "3333333333333333333333333333333333333333"

RECORDED: Obj = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "lab-staging", "namespace": "argocd"},
    "spec": {
        "project": "gitops-lab",
        "source": {"repoURL": "http://lab-git:8080/gitops.git", "path": "overlays/staging", "targetRevision": "main"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "lab-staging"},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
    },
    "status": {
        "sync": {"status": "OutOfSync", "revision": REV},
        "health": {"status": "Healthy"},
        "resources": [
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "lab-staging", "name": "lab-app",
             "status": "OutOfSync"},
            {"version": "v1", "kind": "Namespace", "name": "lab-staging", "status": "Synced"},
            {"version": "v1", "kind": "ConfigMap", "namespace": "lab-staging", "name": "old", "status": "OutOfSync",
             "requiresPruning": True},
        ],
        "operationState": {
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "startedAt": "2026-05-01T11:00:00Z",
            "finishedAt": "2026-05-01T11:00:02Z",
            "operation": {"initiatedBy": {"automated": True}, "sync": {"revision": REV, "autoHealAttemptsCount": 2}},
            "syncResult": {
                "revision": REV,
                "resources": [
                    {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "lab-staging",
                     "name": "lab-app", "status": "Synced", "message": "deployment.apps/lab-app configured"},
                ],
            },
        },
        "reconciledAt": "2026-05-01T11:00:03Z",
    },
}  # fmt: skip


def test_the_recorded_object_is_shaped_like_a_real_application() -> None:
    assert crd_problems(RECORDED) == []


def test_operation_state_resources_and_self_heal_are_parsed_once_here() -> None:
    status = parse_status(RECORDED)
    assert (status.operation_phase, status.operation_started_at, status.operation_finished_at) == (
        "Succeeded",
        "2026-05-01T11:00:00Z",
        "2026-05-01T11:00:02Z",
    )
    assert (status.operation_automated, status.heal_count, status.self_heal) == (True, 2, True)
    assert status.operation_results == ("Deployment/lab-app: deployment.apps/lab-app configured",)
    assert status.resources[1] == Resource("Namespace", "", "lab-staging", "Synced")
    assert status.out_of_sync() == ["Deployment lab-staging/lab-app", "ConfigMap lab-staging/old (to prune)"]
    assert status.reconciled_at == "2026-05-01T11:00:03Z"


def test_the_drift_demo_reads_argo_cd_only_through_this_client() -> None:
    """No drift module parses an Application itself (field names as keys) or bypasses the client (`.api`)."""
    fields = {"operationState", "syncResult", "initiatedBy", "autoHealAttemptsCount", "syncPolicy", "resources"}
    found = []
    for path in sorted((ROOT / "lab" / "steps").glob("drift*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in fields:
                found.append(f"{path.name}:{node.lineno}: {node.value!r}")
            if isinstance(node, ast.Attribute) and node.attr in ("api", "get_object"):
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert found == []


@pytest.mark.parametrize(("automated", "expected"), [({"selfHeal": True, "enabled": False}, False), ({}, False)])
def test_self_heal_needs_automated_enabled_and_self_heal(automated: Obj, expected: bool) -> None:
    obj = copy.deepcopy(RECORDED)
    obj["spec"]["syncPolicy"]["automated"] = automated
    assert parse_status(obj).self_heal is expected


class Api:
    def __init__(self, answer: Obj | Exception) -> None:
        self.answer = answer

    def get(self, name: str) -> Obj:
        if isinstance(self.answer, Exception):
            raise self.answer
        return copy.deepcopy(self.answer)

    def patch(self, name: str, body: Obj) -> Obj:
        raise AssertionError("no patch expected")


def test_get_object_returns_the_raw_application_with_the_clients_error_mapping() -> None:
    assert ApplicationClient(Api(RECORDED)).get_object("lab-staging") == RECORDED
    with pytest.raises(Conflict, match="not found"):
        ApplicationClient(Api(ApiException(status=404, reason="Not Found"))).get_object("lab-staging")
    with pytest.raises(ClusterUnreachable):
        ApplicationClient(Api(ApiException(status=503, reason="Unavailable"))).get_object("lab-staging")

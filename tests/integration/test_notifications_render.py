"""The lab's notification templates rendered as Argo CD's controller renders them: Go text/template with sprig's
functions (tests/data/notifications-render, built with the versions argo-cd v3.5.1 pins), for Applications with and
without an operation. Each webhook body must be one JSON object the receiver keeps field by field."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lab.core.config import ROOT
from lab.manifests import argocd_notifications as m

pytestmark = pytest.mark.integration  # builds and runs a Go program (no Docker, no cluster)

RENDER = ROOT / "tests" / "data" / "notifications-render"
FAILED_APP = {
    "metadata": {"name": "lab-staging"},
    "status": {
        "sync": {"status": "OutOfSync"},
        "health": {"status": "Healthy"},
        "operationState": {
            "phase": "Failed",
            "message": 'one or more objects failed to apply, reason: Deployment "lab-app" is invalid:\n\tspec',
            "finishedAt": "2026-12-01T15:01:00Z",
            "syncResult": {"revision": "0123456789abcdef"},
        },
    },
}
NEW_APP = {"metadata": {"name": "lab-dev"}, "status": {"health": {"status": "Degraded"}}}  # no operation yet


def receiver_module() -> Any:
    spec = importlib.util.spec_from_file_location("receiver", ROOT / "lab" / "images" / "notify" / "receiver.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go not found: it renders the templates as the notifications controller does")
    binary = tmp_path_factory.mktemp("render") / "render"
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    proc = subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=RENDER, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return binary


def rendered(render: Path, apps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    payload = json.dumps({"data": m.notifications_cm_data(), "apps": apps})
    proc = subprocess.run([str(render)], input=payload, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


def test_every_template_renders_for_an_app_with_and_without_an_operation(render: Path) -> None:
    results = rendered(render, [FAILED_APP, NEW_APP])
    assert sorted({r["template"] for r in results}) == sorted(t.template for t in m.TRIGGERS)
    receiver = receiver_module()
    for result in results:
        trigger = next(t for t in m.TRIGGERS if t.template == result["template"])
        hook = result["webhook"][m.SERVICE]
        assert (hook["method"], hook["path"]) == ("POST", m.RECEIVER_PATH)
        body = json.loads(hook["body"])  # valid JSON whatever the message holds
        assert body["trigger"] == trigger.name and body["message"] == result["message"]
        assert set(body) == {"app", "trigger", "sync", "health", "revision", "phase", "finishedAt", "message"}
        assert "<no value>" not in hook["body"] and "<no value>" not in result["message"]
        # The receiver keeps what the controller sends, field by field (surrounding whitespace trimmed).
        kept = receiver.parse_notification(hook["body"].encode())
        assert kept == {key: value.strip() for key, value in body.items()}


def test_a_failed_sync_carries_its_revision_phase_and_error(render: Path) -> None:
    (failed,) = [r for r in rendered(render, [FAILED_APP]) if r["template"] == "app-sync-failed"]
    body = json.loads(failed["webhook"][m.SERVICE]["body"])
    assert body == {
        "app": "lab-staging",
        "trigger": "on-sync-failed",
        "sync": "OutOfSync",
        "health": "Healthy",
        "revision": "0123456789abcdef",
        "phase": "Failed",
        "finishedAt": "2026-12-01T15:01:00Z",
        "message": "The sync operation of application lab-staging has failed at 2026-12-01T15:01:00Z with the "
        'following error: one or more objects failed to apply, reason: Deployment "lab-app" is invalid:\n\tspec',
    }


def test_an_app_without_an_operation_renders_empty_fields_not_an_error(render: Path) -> None:
    (degraded,) = [r for r in rendered(render, [NEW_APP]) if r["template"] == "app-health-degraded"]
    body = json.loads(degraded["webhook"][m.SERVICE]["body"])
    assert body["health"] == "Degraded" and body["revision"] == body["phase"] == body["finishedAt"] == ""
    assert body["message"] == "Application lab-dev has degraded."

"""Argo CD's RBAC decides who syncs what, on the real API server: for each persona and each environment,
`invoke sync ENV --as PERSONA` either syncs (Argo CD records the persona as the operation's initiator, the
environment ends Synced + Healthy) or is refused by Argo CD itself (HTTP 403 PermissionDenied, exit 18, and no
operation started). The ladder: developers sync dev, seniors dev and staging, leads everything."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.fixture import Lab
from lab.clients.argocd_api import ArgoCDApi
from lab.components import argocd_personas
from lab.core.errors import ArgoCDDenied

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

LADDER = {"developer": ("dev",), "senior": ("dev", "staging"), "lead": ("dev", "staging", "prod")}
OWN = {"dev": "developer", "staging": "senior", "prod": "lead"}
CASES = [(p, e) for p in LADDER for e in ("dev", "staging", "prod")]
BUSY_RETRIES = 4  # dev auto-syncs: a manual sync may meet its running operation (exit 6), then it is tried again
BUSY_WAIT = 5.0


def invoke(lab: Lab, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    beside = Path(sys.executable).parent / "invoke"
    argv = [str(beside)] if beside.is_file() else [sys.executable, "-m", "invoke"]
    return subprocess.run(
        [*argv, *args], cwd=lab.root, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def sync_as(lab: Lab, env: str, persona: str) -> subprocess.CompletedProcess[str]:
    for _ in range(BUSY_RETRIES):
        proc = invoke(lab, "sync", env, "--as", persona, "--yes")
        if proc.returncode != 6 or "another operation" not in proc.stderr:
            return proc
        time.sleep(BUSY_WAIT)
    return proc


def _started(lab: Lab, env: str) -> tuple[str, str]:
    state = (lab.app(env).get("status") or {}).get("operationState") or {}
    initiator = ((state.get("operation") or {}).get("initiatedBy") or {}).get("username", "")
    return str(state.get("startedAt", "")), str(initiator)


@pytest.mark.parametrize(("persona", "env"), CASES, ids=[f"{p}-{e}" for p, e in CASES])
def test_argocd_lets_each_persona_sync_exactly_its_environments(lab: Lab, persona: str, env: str) -> None:
    before = _started(lab, env)
    proc = sync_as(lab, env, persona)
    out = proc.stdout + proc.stderr
    if env in LADDER[persona]:
        assert proc.returncode == 0, out[-3000:]
        started_at, initiator = _started(lab, env)
        assert started_at != before[0], f"no new operation in {env}: {before} -> {started_at}"
        assert initiator == persona, f"Argo CD recorded {initiator!r} as the initiator of the {env} sync"
        status = lab.status(env)
        assert (status.sync, status.health) == ("Synced", "Healthy"), status.describe()
        return
    assert proc.returncode == 18, out[-3000:]
    assert f"Argo CD refused: {persona} may not sync lab-{env}" in out, out[-3000:]
    assert f"HTTP 403 PermissionDenied: permission denied: applications, sync, gitops-lab/lab-{env}" in out, out
    assert f"sub: {persona}" in out, out[-3000:]
    assert f"invoke sync {env} --as {OWN[env]}" in out, out[-3000:]
    assert _started(lab, env) == before, "a refused sync started an operation"


def test_the_api_server_answers_a_refused_sync_with_403_and_a_wrong_password_with_401(lab: Lab) -> None:
    found = argocd_personas.load(lab.settings.state_dir)
    assert found, "invoke up made no personas file"
    api = ArgoCDApi(f"http://127.0.0.1:{lab.settings.argocd_port}")
    token = api.login("senior", found["senior"].password, password_hint="")
    with pytest.raises(ArgoCDDenied) as refused:
        api.sync("lab-prod", token)
    assert refused.value.status == 403 and refused.value.answer.startswith("HTTP 403 PermissionDenied: "), refused.value
    with pytest.raises(ArgoCDDenied) as bad_login:
        api.login("senior", found["senior"].password + "x", password_hint="")
    assert bad_login.value.status == 401 and "Invalid username or password" in bad_login.value.answer


def test_dashboard_lists_the_personas_that_can_log_in(lab: Lab) -> None:
    proc = invoke(lab, "dashboard", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = argocd_personas.load(lab.settings.state_dir) or {}
    for persona in LADDER:
        assert f"  {persona}: password {found[persona].password}; may sync {', '.join(LADDER[persona])}" in proc.stdout

"""Secrets encrypted in git, on the real cluster (`invoke up --with sealed-secrets`): `invoke secret set write-token
--env dev` seals a token against the Sealed Secrets controller (built from its Go module in CI and deployed by Argo CD
from platform/sealed-secrets) and commits only ciphertext to the GitOps repo; Argo CD syncs dev; the controller
unseals it into the Secret lab-app-secrets; the app refuses a write without the token and accepts it with; a second
`secret set` rotates it: the old token is refused, the new one accepted, without a restart. Every wait is bounded."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e.fixture import Lab
from lab.core.config import environment
from lab.manifests import sealed_secrets as m
from lab.steps.secret import SEALED_FILE, SECRET_NAME
from lab.tools import git, kubectl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

ENV = "dev"
KEY = "write-token"
UNSEAL_TIMEOUT = 240.0  # Argo CD refreshes dev (secret set asks it), syncs, the controller unseals at once
# The kubelet re-projects a mounted Secret on its periodic sync (1 min by default) plus its cache delay.
PROJECT_TIMEOUT = 240.0


def _set(lab: Lab, value: str) -> subprocess.CompletedProcess[str]:
    """`invoke secret set write-token --env dev` with the value on stdin, as a learner pipes it in."""
    beside = Path(sys.executable).parent / "invoke"
    argv = [str(beside)] if beside.is_file() else [sys.executable, "-m", "invoke"]
    proc = subprocess.run(
        [*argv, "secret", "set", KEY, "--env", ENV],
        cwd=lab.root,
        input=value + "\n",
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"secret set exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert value not in proc.stdout + proc.stderr  # never echoed
    return proc


def _post(lab: Lab, token: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"name": "sealed", "quantity": 1}).encode()
    req = urllib.request.Request(lab.url(ENV, "/api/v1/items"), data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _until(what: str, check: Callable[[], tuple[bool, str]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return
        time.sleep(2)
    pytest.fail(f"{what}: not within {timeout:.0f}s (last: {last})")


def _secret_value(lab: Lab) -> str | None:
    obj = kubectl.get_json(
        lab.ctx.runner, lab.settings.kube_context, "secret", SECRET_NAME, namespace=environment(ENV).namespace
    )
    data = (obj or {}).get("data") or {}
    return base64.b64decode(data[KEY]).decode() if KEY in data else None


def _unsealed(lab: Lab, value: str) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        got = _secret_value(lab)
        return got == value, "no Secret yet" if got is None else "the Secret holds another value"

    return check


def _enforces(lab: Lab, good: str, bad: list[str | None]) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        refused = {repr(t and t[:4]): _post(lab, t) for t in bad}
        accepted = _post(lab, good)
        ok = accepted == 201 and all(code == 401 for code in refused.values())
        return ok, f"good token -> {accepted}, others -> {refused}"

    return check


def _pod_uids(lab: Lab) -> set[str]:
    pods = kubectl.get_json(
        lab.ctx.runner,
        lab.settings.kube_context,
        "pods",
        namespace=environment(ENV).namespace,
        selector="app.kubernetes.io/name=lab-app",
    )
    return {str(p["metadata"]["uid"]) for p in (pods or {}).get("items", [])}


def _gitops_history_text(lab: Lab) -> str:
    repo = lab.gitops()
    out = lab.ctx.runner.run(["git", "-C", str(repo.workdir), "log", "-p", "--all", "--format=%H %s%n%b"])
    return out.stdout


def test_a_sealed_token_reaches_the_app_through_git_and_rotates(lab: Lab) -> None:
    if "sealed-secrets" not in lab.settings.with_components:
        pytest.skip("sealed-secrets is off: `invoke up --with sealed-secrets` (or LAB_WITH_COMPONENTS)")
    first, second = f"e2e-{secrets.token_urlsafe(24)}", f"e2e-{secrets.token_urlsafe(24)}"

    _set(lab, first)
    repo = lab.gitops()
    sealed = repo.read(f"overlays/{ENV}/{SEALED_FILE}") or ""
    assert f"kind: {m.KIND}" in sealed and f"{KEY}: " in sealed, sealed[:500]
    assert first not in sealed
    assert first not in _gitops_history_text(lab)  # not in any commit, message or trailer
    assert SEALED_FILE in (repo.read(f"overlays/{ENV}/kustomization.yaml") or "")
    assert git.rev_parse(lab.ctx.runner, repo.workdir)  # the clone is at a real head

    _until("the controller unseals the token into lab-app-secrets", _unsealed(lab, first), UNSEAL_TIMEOUT)
    _until(
        "dev refuses writes without the token and accepts the sealed one",
        _enforces(lab, first, [None, "not-the-token"]),
        PROJECT_TIMEOUT,
    )

    pods = _pod_uids(lab)
    _set(lab, second)  # rotation: set it again
    assert second not in _gitops_history_text(lab) and first not in _gitops_history_text(lab)
    _until("the controller unseals the rotated token", _unsealed(lab, second), UNSEAL_TIMEOUT)
    _until(
        "dev refuses the old token and accepts the new one, without a restart",
        _enforces(lab, second, [first, None]),
        PROJECT_TIMEOUT,
    )
    assert _pod_uids(lab) == pods  # the same pods read the new file: nothing restarted

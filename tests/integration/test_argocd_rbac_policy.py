"""The generated argocd-rbac-cm judged by Argo CD's own enforcer, offline: `argocd admin settings rbac can` of the
argocd binary CI builds from argo-cd v3.5.1 (.ci/cluster/build-argocd; cmd/argocd/commands/admin/settings_rbac.go
reads policy.csv and policy.default from a ConfigMap file). It builds a Kubernetes client before it reads the file,
so it gets a kubeconfig whose server is never contacted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from lab.manifests import argocd as m

pytestmark = pytest.mark.integration

CI_CACHE = Path(os.environ.get("LAB_CI_CACHE", Path.home() / ".cache" / "gitops-lab" / "ci"))
LADDER = {"developer": {"dev"}, "senior": {"dev", "staging"}, "lead": {"dev", "staging", "prod"}}
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: never-sent}}]
contexts: [{name: none, context: {cluster: none, user: none, namespace: argocd}}]
current-context: none
"""


def _argocd() -> Path:
    built = sorted(CI_CACHE.glob("argocd-v*/bin/argocd"), key=lambda p: p.stat().st_mtime)
    if not built:
        pytest.skip(f"no argocd binary under {CI_CACHE}/argocd-*/bin (.ci/cluster/build-argocd builds it)")
    return built[-1]


@pytest.fixture(scope="module")
def can(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    argocd = _argocd()
    tmp = tmp_path_factory.mktemp("rbac")
    policy = tmp / "argocd-rbac-cm.yaml"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-rbac-cm"}, "data": m.rbac_cm_data()}
    policy.write_text(yaml.safe_dump(cm))
    (tmp / "kubeconfig").write_text(KUBECONFIG)
    env = {**os.environ, "KUBECONFIG": str(tmp / "kubeconfig"), "HOME": str(tmp)}

    def ask(subject: str, action: str, obj: str) -> bool:
        argv = [str(argocd), "admin", "settings", "rbac", "can", subject, action, "applications", obj]
        proc = subprocess.run(
            [*argv, "--policy-file", str(policy)], env=env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.stdout.strip() in ("Yes", "No"), (argv, proc.returncode, proc.stdout, proc.stderr)
        return proc.stdout.strip() == "Yes"

    return ask


@pytest.mark.parametrize("persona", sorted(LADDER))
def test_argocds_enforcer_lets_each_persona_sync_exactly_its_rungs_of_the_ladder(can, persona: str) -> None:  # type: ignore[no-untyped-def]
    for env in ("dev", "staging", "prod"):
        obj = f"{m.PROJECT}/lab-{env}"
        assert can(persona, "sync", obj) == (env in LADDER[persona]), (persona, "sync", env)
        assert can(persona, "get", obj), (persona, "get", env)  # policy.default role:readonly
        assert not can(persona, "delete", obj), (persona, "delete", env)
        assert not can(persona, "override", obj), (persona, "override", env)


def test_anyone_else_signed_in_only_reads(can) -> None:  # type: ignore[no-untyped-def]
    assert can("someone", "get", f"{m.PROJECT}/lab-prod")
    assert not any(can("someone", "sync", f"{m.PROJECT}/lab-{env}") for env in ("dev", "staging", "prod"))

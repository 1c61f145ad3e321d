"""The optional sealed-secrets component and `invoke secret set`'s cluster side, as data and with a scripted runner:
the setting, the image `cache` saves, the manifests (upstream's names, RBAC rules, the lab's security settings), the
Application in the platform project, the status row; the in-process sealing against a key made here (opened with
upstream's HybridDecrypt steps); the errors for a controller that is not installed or a certificate that cannot be
fetched. Real git, kustomize and kubeseal: tests/integration/test_secret_set_git.py, test_sealing_kubeseal.py."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes import FakeRunner
from sealing_keys import self_signed, unseal

from lab import components
from lab.components import sealed_secrets as component
from lab.components.base import StatusView, Up
from lab.core import versions
from lab.core.config import load_settings
from lab.core.context import Context
from lab.core.errors import CommandFailed, Refused
from lab.core.ui import UI
from lab.manifests import platform
from lab.manifests import sealed_secrets as m
from lab.steps import secret
from lab.tools import sealing
from lab.tools.kubectl import kubectl_binary


def settings(tmp_path: Path, **flags: object):  # type: ignore[no-untyped-def]
    config = tmp_path / "lab.toml"
    config.write_text("")
    flags.setdefault("state_dir", tmp_path / "state")
    return load_settings(flags, environ={}, config_file=config, flag_names={"with_components": "--with"})


def ctx_for(tmp_path: Path, runner: FakeRunner, **flags: object) -> Context:
    return Context(settings(tmp_path, **flags), runner, UI(err=io.StringIO(), out=io.StringIO()))


@pytest.fixture(scope="module")
def keypair() -> tuple[rsa.RSAPrivateKey, str]:
    return self_signed()


# The component ------------------------------------------------------------------------------------------------
def test_it_is_off_by_default_and_on_with_the_setting(tmp_path: Path) -> None:
    off = settings(tmp_path)
    assert versions.SEALED_SECRETS_IMAGE not in components.pulled_images(off)
    on = settings(tmp_path, with_components="sealed-secrets")
    assert any(isinstance(c, component.SealedSecretsComponent) for c in components.enabled(on))
    assert versions.SEALED_SECRETS_IMAGE in components.pulled_images(on)  # what `invoke cache` saves
    assert versions.SEALED_SECRETS_IMAGE == "docker.io/bitnami/sealed-secrets-controller:0.40.0"


def test_ensure_commits_registers_the_application_in_the_platform_project_then_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = FakeRunner()
    ctx = ctx_for(tmp_path, runner, with_components="sealed-secrets")
    kube = [kubectl_binary(), "--context", ctx.settings.kube_context]
    runner.script([*kube, "apply"])
    runner.script([*kube, "wait"])
    runner.script([*kube, "rollout", "status"])
    order: list[str] = []
    monkeypatch.setattr(component, "commit_manifests", lambda ctx, **kw: order.append("commit"))
    run = Up(ctx)
    run.made["gitops_url_in_cluster"] = "http://lab-git:8080/gitops.git"

    component.SealedSecretsComponent().ensure(run)

    assert order == ["commit"]
    docs = list(yaml.safe_load_all(runner.assert_called(*kube, "apply").input or ""))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("AppProject", "gitops-lab-platform"),
        ("Application", m.APP_NAME),
    ]
    app = docs[1]["spec"]
    assert app["project"] == "gitops-lab-platform"
    assert app["source"]["path"] == m.SEALED_SECRETS_DIR
    assert app["destination"]["namespace"] == "kube-system"
    assert app["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    wait = runner.index(*kube, "wait")
    assert "deployment/sealed-secrets-controller" in runner.calls[wait].argv
    assert wait < runner.index(*kube, "rollout", "status")


def test_the_platform_project_allows_every_cluster_scoped_kind_and_namespace_the_manifests_use() -> None:
    project = platform.app_project("http://lab-git:8080/gitops.git")["spec"]
    allowed = {(k["group"], k["kind"]) for k in project["clusterResourceWhitelist"]}
    namespaces = {d["namespace"] for d in project["destinations"]}
    for doc in m.workload_docs().values():
        group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
        if "namespace" in doc["metadata"]:
            assert doc["metadata"]["namespace"] in namespaces
        else:
            assert (group, doc["kind"]) in allowed, doc["kind"]
    assert "monitoring" in namespaces  # the other platform component keeps its destination


def test_the_status_row_says_whether_the_controller_is_ready(tmp_path: Path) -> None:
    runner = FakeRunner()
    ctx = ctx_for(tmp_path, runner, with_components="sealed-secrets")
    get = [kubectl_binary(), "--context", ctx.settings.kube_context, "get", "deployment", m.CONTROLLER]
    runner.script_once(get, stdout='{"status": {"readyReplicas": 1}}')
    runner.script_once(get, stdout="")
    view = StatusView(ctx, "kind", exists=True, reachable=True)
    row = component.SealedSecretsComponent().status_rows(view)
    assert row[0][:2] == ("Sealed Secrets", "ready (v0.40.0)")
    assert component.SealedSecretsComponent().status_rows(view)[0][1] == "not deployed yet"


# The manifests ------------------------------------------------------------------------------------------------
def test_the_controller_runs_upstreams_image_non_root_read_only_with_no_capabilities() -> None:
    docs = m.workload_docs()
    pod = docs["deployment.yaml"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == versions.SEALED_SECRETS_IMAGE
    assert container["command"] == ["controller"]
    assert pod["serviceAccountName"] == m.CONTROLLER
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 1001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"] and sc["capabilities"]["drop"] == ["ALL"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # kubeseal reads the first port's name and proxies to it (pkg/kubeseal/kubeseal.go getServicePortName).
    assert docs["service.yaml"]["spec"]["ports"][0]["name"] == "http"
    assert (
        m.CERT_PATH == "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem"
    )


def test_the_rbac_is_upstreams_and_bound_to_the_controller() -> None:
    docs = m.workload_docs()
    unsealer = docs["rbac-unsealer.yaml"]
    assert unsealer["kind"] == "ClusterRole" and unsealer["metadata"]["name"] == "secrets-unsealer"
    rules = {(r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in unsealer["rules"]}
    assert rules[("bitnami.com", "sealedsecrets")] == ["get", "list", "watch"]
    assert rules[("", "secrets")] == ["get", "list", "create", "update", "delete", "watch"]
    for name in ("rbac-unsealer-binding.yaml", "rbac-key-admin-binding.yaml"):
        assert docs[name]["subjects"] == [{"kind": "ServiceAccount", "name": m.CONTROLLER, "namespace": "kube-system"}]
    assert docs["rbac-service-proxier-binding.yaml"]["subjects"][0]["name"] == "system:authenticated"


def test_the_crd_is_upstreams_sealedsecrets_crd() -> None:
    crd = m.crd()
    assert crd["metadata"]["name"] == m.CRD_NAME
    assert crd["spec"]["names"]["kind"] == m.KIND
    assert crd["spec"]["versions"][0]["name"] == "v1alpha1"


def test_a_sealed_secret_validates_against_the_crd_and_a_wrong_one_does_not() -> None:
    doc = m.sealed_secret("lab-app-secrets", "lab-dev", {"write-token": "AgA="})
    m.validate(doc)
    doc["spec"]["encryptedData"] = {"write-token": 5}
    with pytest.raises(m.InvalidSealedSecret, match="encryptedData"):
        m.validate(doc)


# Sealing ------------------------------------------------------------------------------------------------------
def test_a_sealed_value_opens_only_with_its_namespace_and_name(keypair: tuple[rsa.RSAPrivateKey, str]) -> None:
    key, cert = keypair
    sealed = sealing.seal_value(
        sealing.public_key(cert.encode()), b"s3cret", namespace="lab-dev", name="lab-app-secrets"
    )
    assert b"s3cret" not in base64.b64decode(sealed)
    assert unseal(key, sealed, b"lab-dev/lab-app-secrets") == b"s3cret"
    with pytest.raises(ValueError):
        unseal(key, sealed, b"lab-prod/lab-app-secrets")
    again = sealing.seal_value(
        sealing.public_key(cert.encode()), b"s3cret", namespace="lab-dev", name="lab-app-secrets"
    )
    assert again != sealed  # a fresh session key each time


def test_a_text_that_is_no_certificate_is_refused() -> None:
    with pytest.raises(sealing.BadCertificate):
        sealing.public_key(b"<html>not found</html>")


# secret set's errors ------------------------------------------------------------------------------------------
def test_without_the_controller_secret_set_says_to_turn_the_component_on(tmp_path: Path) -> None:
    runner = FakeRunner()
    ctx = ctx_for(tmp_path, runner)
    runner.script([kubectl_binary(), "--context", ctx.settings.kube_context, "get", "deployment"], stdout="")
    with pytest.raises(Refused) as info:
        secret.controller_key(ctx)
    assert info.value.hint == "invoke up --with sealed-secrets"
    assert "not installed" in info.value.message


def test_an_unreachable_certificate_is_a_command_failure_with_the_command_and_its_stderr(tmp_path: Path) -> None:
    runner = FakeRunner()
    ctx = ctx_for(tmp_path, runner)
    kube = [kubectl_binary(), "--context", ctx.settings.kube_context]
    runner.script([*kube, "get", "deployment"], stdout='{"kind": "Deployment"}')
    runner.script(
        [*kube, "get", "--raw"], returncode=1, stderr="Error from server (ServiceUnavailable): no endpoints available"
    )
    with pytest.raises(CommandFailed) as info:
        secret.controller_key(ctx)
    text = info.value.render()
    assert "cannot fetch the sealing certificate" in text
    assert m.CERT_PATH in text and "exit code 1" in text and "no endpoints available" in text
    assert info.value.hint and "rollout status deployment/sealed-secrets-controller" in info.value.hint


def test_the_certificate_is_read_through_the_service_proxy(
    tmp_path: Path, keypair: tuple[rsa.RSAPrivateKey, str]
) -> None:
    runner = FakeRunner()
    ctx = ctx_for(tmp_path, runner)
    kube = [kubectl_binary(), "--context", ctx.settings.kube_context]
    runner.script([*kube, "get", "deployment"], stdout='{"kind": "Deployment"}')
    runner.script([*kube, "get", "--raw", m.CERT_PATH], stdout=keypair[1])
    assert secret.controller_key(ctx).key_size == 2048


def test_the_value_comes_from_stdin_or_a_no_echo_prompt_never_empty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert secret.read_value("write-token", io.StringIO("tok\n")) == b"tok"
    asked: list[str] = []
    assert secret.read_value("write-token", Tty(), prompt=lambda q: asked.append(q) or "typed") == b"typed"
    assert len(asked) == 2  # asked twice to confirm
    answers = iter(["one", "two"])
    with pytest.raises(Refused, match="differ"):
        secret.read_value("write-token", Tty(), prompt=lambda q: next(answers))
    with pytest.raises(Exception, match="empty value"):
        secret.read_value("write-token", io.StringIO("\n"))

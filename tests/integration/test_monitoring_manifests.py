"""The monitoring component's GitOps files for real: rendered with `kubectl kustomize` (what Argo CD's repo-server
does with platform/monitoring), checked with promtool (built from the Prometheus Go module by
.ci/cluster/build-prometheus; the test skips without it), compared with Argo CD's pinned install.yaml, and committed
to a real bare git repository by the component's own commit step."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lab.components import monitoring as component
from lab.components import platform
from lab.core import versions
from lab.core.config import load_settings
from lab.core.context import Context
from lab.core.runner import SubprocessRunner
from lab.core.ui import UI
from lab.gitops.repo import GitOpsRepo
from lab.manifests import monitoring as m
from lab.tools import git as gitcli
from lab.tools.kubectl import kubectl_binary

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CI_CACHE = Path(os.environ.get("LAB_CI_CACHE", Path.home() / ".cache" / "gitops-lab" / "ci"))


def write_tree(directory: Path) -> None:
    for rel, text in m.repo_files().items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_monitoring_dir_renders_with_kustomize_into_the_monitoring_namespace(tmp_path: Path) -> None:
    write_tree(tmp_path)
    out = subprocess.run([kubectl_binary(), "kustomize", str(tmp_path)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service"]
    )
    namespaced = [d for d in docs if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")]
    assert {d["metadata"]["namespace"] for d in namespaced} == {m.NAMESPACE}
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert config_map["metadata"]["name"].startswith("prometheus-config-")  # the content hash kustomize adds
    assert set(config_map["data"]) == {"prometheus.yml", "alerts.yml"}
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": config_map["metadata"]["name"]}} in volumes  # reference rewritten


def promtool() -> str:
    found = CI_CACHE / f"prometheus-{versions.PROMETHEUS_VERSION}" / "bin" / "promtool"
    if found.is_file():
        return str(found)
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(f"no promtool (build it: .ci/cluster/build-prometheus, into {found.parent})")
    return path


def test_promtool_accepts_the_configuration_and_the_alert_rules(tmp_path: Path) -> None:
    tool = promtool()
    write_tree(tmp_path)
    config = tmp_path / "prometheus.yml"
    # The configuration names the rules where the pod mounts them (/etc/prometheus): point it at the copy here.
    config.write_text(config.read_text().replace("/etc/prometheus/alerts.yml", str(tmp_path / "alerts.yml")))
    rules = subprocess.run([tool, "check", "rules", str(tmp_path / "alerts.yml")], capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in m.alert_rules()['groups'])} rules found" in rules.stdout
    checked = subprocess.run([tool, "check", "config", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def argocd_install_yaml() -> Path:
    proc = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=False)
    path = (
        Path(proc.stdout.strip()) / f"github.com/argoproj/argo-cd/v3@{versions.ARGOCD_VERSION}/manifests/install.yaml"
    )
    if proc.returncode != 0 or not path.is_file():
        pytest.skip(f"the argo-cd {versions.ARGOCD_VERSION} module is not in the Go module cache")
    return path


def test_the_argocd_targets_are_metrics_ports_of_services_of_the_pinned_install_yaml() -> None:
    services = {}
    for doc in yaml.safe_load_all(argocd_install_yaml().read_text()):
        if doc and doc["kind"] == "Service":
            services[doc["metadata"]["name"]] = {p["port"]: p.get("name") for p in doc["spec"]["ports"]}
    for svc, port, _component in m.ARGOCD_METRICS:
        assert services.get(svc, {}).get(port) == "metrics", (svc, port, services.get(svc))


def sh(*argv: str | Path) -> str:
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True).stdout.strip()


def test_commit_manifests_commits_the_dir_once_and_restores_it_when_edited_by_hand(tmp_path: Path) -> None:
    remote = tmp_path / "gitops.git"
    sh("git", "init", "--quiet", "--bare", "-b", "main", remote)
    settings = load_settings(
        {"state_dir": tmp_path / "state", "gitops_remote": str(remote)}, environ={}, config_file=tmp_path / "no.toml"
    )
    ctx = Context(settings, SubprocessRunner(), UI(err=io.StringIO(), out=io.StringIO()))

    def repo() -> GitOpsRepo:
        r = platform.open_repo(ctx, ROOT)
        r.author = gitcli.Identity("Test Dev", "dev@example.test")
        return r

    first = component.commit_manifests(ctx, repo())
    assert first.changed
    listed = sh("git", "--git-dir", remote, "ls-tree", "-r", "--name-only", "main", "--", m.MONITORING_DIR).split()
    assert sorted(listed) == sorted(f"{m.MONITORING_DIR}/{rel}" for rel in m.repo_files())
    assert "overlays/dev/kustomization.yaml" in sh("git", "--git-dir", remote, "ls-tree", "-r", "--name-only", "main")

    again = component.commit_manifests(ctx, repo())
    assert not again.changed and again.sha == first.sha

    # someone edits the directory by hand (a stray file, a changed config): the next `up` puts it back
    clone = tmp_path / "hand"
    sh("git", "clone", "--quiet", remote, clone)
    (clone / m.MONITORING_DIR / "stray.yaml").write_text("kind: ConfigMap\n")
    (clone / m.MONITORING_DIR / "prometheus.yml").write_text("global: {}\n")
    sh("git", "-C", clone, "add", "-A")
    sh("git", "-C", clone, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-m", "by hand")
    sh("git", "-C", clone, "push", "--quiet", "origin", "main")
    fixed = component.commit_manifests(ctx, repo())
    assert fixed.changed
    shown = sh("git", "--git-dir", remote, "show", f"main:{m.MONITORING_DIR}/prometheus.yml")
    assert shown + "\n" == m.repo_files()["prometheus.yml"]
    listed = sh("git", "--git-dir", remote, "ls-tree", "-r", "--name-only", "main", "--", m.MONITORING_DIR).split()
    assert f"{m.MONITORING_DIR}/stray.yaml" not in listed


def _panel(title: str) -> str:
    return dict(m.dashboard_queries())[title].replace("$namespace", "lab-.*")


def _marker(name: str) -> str:
    return next(a["expr"] for a in m.annotation_queries() if a["name"] == name).replace("$namespace", "lab-.*")


def test_promtool_unit_tests_the_markers_the_error_ratio_panel_and_the_error_ratio_alert(tmp_path: Path) -> None:
    """`promtool test rules` on recorded series: dev serves `good` (pod a), then a bad release (pod bad) from
    minute 10, then `good` again (pod b, a rollback) from minute 20; each pod's series ends with a staleness marker,
    as Prometheus writes when a target goes away."""
    tool = promtool()
    write_tree(tmp_path)
    info = 'app_build_info{job="lab-app",namespace="lab-dev",pod="%s",image_tag="%s"}'
    req = 'http_requests_total{job="lab-app",namespace="%s",route="/api/v1/items",status="%s"}'
    dev = {"namespace": "lab-dev"}
    tests = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": info % ("a", "good"), "values": "1x9 stale"},
                    {"series": info % ("bad", "bad"), "values": "_x10 1x9 stale"},
                    {"series": info % ("b", "good"), "values": "_x20 1x10"},
                    {"series": req % ("lab-staging", "200"), "values": "0+60x30"},
                    {"series": req % ("lab-dev", "200"), "values": "0+60x30"},
                    {"series": req % ("lab-dev", "500"), "values": "_x10 0+60x30"},
                ],
                "promql_expr_test": [
                    {
                        "expr": _marker("Deploys"),
                        "eval_time": "11m",
                        "exp_samples": [{"labels": _labels(dev, "bad"), "value": 1}],
                    },
                    {"expr": _marker("Rollbacks"), "eval_time": "11m", "exp_samples": []},
                    {"expr": _marker("Deploys"), "eval_time": "15m", "exp_samples": []},
                    {
                        "expr": _marker("Rollbacks"),
                        "eval_time": "21m",
                        "exp_samples": [{"labels": _labels(dev, "good"), "value": 1}],
                    },
                    {"expr": _marker("Deploys"), "eval_time": "21m", "exp_samples": []},
                    {"expr": _marker("Rollbacks"), "eval_time": "25m", "exp_samples": []},
                    {
                        "expr": _panel("Error ratio (5xx)"),
                        "eval_time": "9m",  # no 5xx anywhere yet: 0, not "no data"
                        "exp_samples": [
                            {"labels": '{namespace="lab-dev"}', "value": 0},
                            {"labels": '{namespace="lab-staging"}', "value": 0},
                        ],
                    },
                    {
                        "expr": _panel("Error ratio (5xx)"),
                        "eval_time": "15m",
                        "exp_samples": [
                            {"labels": '{namespace="lab-dev"}', "value": 0.5},
                            {"labels": '{namespace="lab-staging"}', "value": 0},
                        ],
                    },
                ],
                "alert_rule_test": [
                    {"alertname": "LabAppErrorRatioHigh", "eval_time": "9m", "exp_alerts": []},
                    {
                        "alertname": "LabAppErrorRatioHigh",
                        "eval_time": "16m",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "page", "namespace": "lab-dev"},
                                "exp_annotations": {"summary": "lab-dev: more than 5% of requests fail (5xx)"},
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False, width=400))
    res = subprocess.run([tool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _labels(base: dict[str, str], tag: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted({**base, "image_tag": tag}.items())) + "}"

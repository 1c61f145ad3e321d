"""The optional monitoring component: its setting, when it is on, what it adds to the lab (image, port, dashboard)
and the manifests it commits into the GitOps repository, checked as data (no command runs here; rendering them
with kubectl kustomize and checking them with promtool is tests/integration/test_monitoring_manifests.py)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from fakes import FakeRunner

from lab import components
from lab.components import monitoring as component
from lab.components.base import Up
from lab.components.monitoring import MonitoringComponent
from lab.core import versions
from lab.core.checks import SettingError
from lab.core.config import ENVIRONMENTS, load_settings
from lab.core.context import Context
from lab.core.runner import DryRunRunner
from lab.core.ui import UI
from lab.manifests import monitoring as m
from lab.steps import status
from lab.tools.kubectl import kubectl_binary


def settings(tmp_path: Path, toml: str = "", environ: dict[str, str] | None = None, **flags: object):  # type: ignore[no-untyped-def]
    config = tmp_path / "lab.toml"
    config.write_text(toml)
    return load_settings(flags, environ=environ or {}, config_file=config, flag_names={"with_components": "--with"})


def test_monitoring_is_off_by_default(tmp_path: Path) -> None:
    s = settings(tmp_path, state_dir=tmp_path / "state")
    assert s.with_components == ()
    assert not any(isinstance(c, MonitoringComponent) for c in components.enabled(s))
    assert versions.PROMETHEUS_IMAGE not in components.pulled_images(s)
    assert m.PROMETHEUS_NODE_PORT not in [p.container_port for p in components.node_ports(s)]


@pytest.mark.parametrize(
    ("toml", "environ", "flags"),
    [
        ('with_components = ["monitoring"]\n', {}, {}),
        ("", {"LAB_WITH_COMPONENTS": "monitoring"}, {}),
        ("", {}, {"with_components": "monitoring"}),
    ],
)
def test_monitoring_is_on_from_lab_toml_the_environment_or_the_flag(
    tmp_path: Path, toml: str, environ: dict[str, str], flags: dict[str, object]
) -> None:
    s = settings(tmp_path, toml, environ, state_dir=tmp_path / "state", **flags)
    assert s.with_components == ("monitoring",)
    assert any(isinstance(c, MonitoringComponent) for c in components.enabled(s))
    # `invoke cache` saves its image and `up --offline` loads it: both go through pulled_images.
    assert versions.PROMETHEUS_IMAGE in components.pulled_images(s)
    mapping = [p for p in components.node_ports(s) if p.container_port == m.PROMETHEUS_NODE_PORT]
    assert [(p.host_port, p.name) for p in mapping] == [(m.PROMETHEUS_HOST_PORT, "prometheus")]


@pytest.mark.parametrize(
    ("toml", "environ", "flags", "source"),
    [
        ('with_components = ["grafana"]\n', {}, {}, "lab.toml"),
        ("", {"LAB_WITH_COMPONENTS": "monitoring,nope"}, {}, "LAB_WITH_COMPONENTS"),
        ("", {}, {"with_components": "graphs"}, "--with"),
        ("with_components = 3\n", {}, {}, "lab.toml"),
    ],
)
def test_an_unknown_or_malformed_component_is_exit_2_naming_the_setting_its_source_and_what_is_valid(
    tmp_path: Path, toml: str, environ: dict[str, str], flags: dict[str, object], source: str
) -> None:
    with pytest.raises(SettingError) as err:
        settings(tmp_path, toml, environ, state_dir=tmp_path / "state", **flags)
    text = f"{err.value} {err.value.hint}"
    assert err.value.exit_code == 2
    assert "with_components" in text
    assert source in text
    assert "monitoring" in text  # the valid value (or the valid shape, a list of names such as ["monitoring"])


def test_the_monitoring_dir_holds_exactly_what_its_kustomization_lists_and_every_file_parses() -> None:
    files = m.repo_files()
    parsed = m.parse_all(files)
    kustomization = parsed["kustomization.yaml"]
    assert kustomization["namespace"] == m.NAMESPACE
    for resource in kustomization["resources"]:
        assert resource in files
    for generator in kustomization["configMapGenerator"]:
        for name in generator["files"]:
            assert name in files
    # the Deployment mounts the generated ConfigMap and reads the files it holds
    deployment = parsed["deployment.yaml"]
    spec = deployment["spec"]["template"]["spec"]
    (config,) = [v for v in spec["volumes"] if "configMap" in v]
    assert config["configMap"]["name"] == kustomization["configMapGenerator"][0]["name"]
    (container,) = spec["containers"]
    assert container["image"] == versions.PROMETHEUS_IMAGE
    mount = next(v["mountPath"] for v in container["volumeMounts"] if v["name"] == config["name"])
    assert f"--config.file={mount}/prometheus.yml" in container["args"]
    assert parsed["prometheus.yml"]["rule_files"] == [f"{mount}/alerts.yml"]
    assert spec["serviceAccountName"] == parsed["serviceaccount.yaml"]["metadata"]["name"]
    # the Service is the NodePort kind publishes on 127.0.0.1
    (port,) = parsed["service.yaml"]["spec"]["ports"]
    assert port["nodePort"] == m.PROMETHEUS_NODE_PORT


def test_prometheus_scrapes_the_app_in_every_environment_and_argo_cds_three_metrics_services() -> None:
    config = m.prometheus_config()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (sd,) = jobs["lab-app"]["kubernetes_sd_configs"]
    assert sd["role"] == "pod"
    assert sorted(sd["namespaces"]["names"]) == sorted(e.namespace for e in ENVIRONMENTS)
    targets = [t for sc in jobs["argocd"]["static_configs"] for t in sc["targets"]]
    assert targets == [
        "argocd-metrics.argocd.svc:8082",
        "argocd-server-metrics.argocd.svc:8083",
        "argocd-repo-server.argocd.svc:8084",
    ]


def test_the_discovery_rbac_is_bound_to_prometheus_and_allowed_by_the_platform_project() -> None:
    docs = m.workload_docs()
    binding = docs["rbac-binding.yaml"]
    assert binding["roleRef"]["name"] == docs["rbac.yaml"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": m.PROMETHEUS, "namespace": m.NAMESPACE}]
    project = m.app_project("http://lab-git:8080/gitops.git")
    allowed = {(k["group"], k["kind"]) for k in project["spec"]["clusterResourceWhitelist"]}
    cluster_scoped = [d for d in docs.values() if "namespace" not in d["metadata"]]
    assert cluster_scoped  # the namespace, the ClusterRole and its binding
    for doc in cluster_scoped:
        group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
        assert (group, doc["kind"]) in allowed, doc["kind"]
    assert {"server": "https://kubernetes.default.svc", "namespace": m.NAMESPACE} in project["spec"]["destinations"]


def test_the_application_auto_syncs_the_monitoring_dir_of_the_gitops_repo_in_the_platform_project() -> None:
    url = "http://lab-git:8080/gitops.git"
    project, app = m.argocd_docs(url)
    assert app["spec"]["project"] == project["metadata"]["name"]
    assert app["spec"]["source"] == {"repoURL": url, "path": m.MONITORING_DIR, "targetRevision": "main"}
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert url in project["spec"]["sourceRepos"]


def test_the_alerts_the_article_names_are_there() -> None:
    rules = {r["alert"]: r for g in m.alert_rules()["groups"] for r in g["rules"]}
    assert set(rules) == {
        "LabAppErrorRatioHigh",
        "LabAppPodsNotReady",
        "ArgoAppOutOfSync",
        "ArgoAppDegraded",
        "ArgoSyncFailed",
    }
    assert 'sync_status="OutOfSync"' in rules["ArgoAppOutOfSync"]["expr"]
    assert 'health_status="Degraded"' in rules["ArgoAppDegraded"]["expr"]
    assert f"> {m.ERROR_RATIO_THRESHOLD}" in rules["LabAppErrorRatioHigh"]["expr"]


def test_grafana_provisioning_points_at_the_prometheus_service_and_every_panel_has_a_query() -> None:
    files = m.repo_files()
    datasource = yaml.safe_load(files["grafana/provisioning/datasources/prometheus.yaml"])["datasources"][0]
    service = m.workload_docs()["service.yaml"]
    assert datasource["url"] == (
        f"http://{service['metadata']['name']}.{m.NAMESPACE}.svc:{service['spec']['ports'][0]['port']}"
    )
    dashboard = json.loads(files["grafana/dashboards/gitops-lab.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs == [q for _, q in m.dashboard_queries()]
    assert all(t["datasource"]["uid"] == datasource["uid"] for t in dashboard["panels"])


def test_the_dashboard_marks_deploys_rollbacks_and_syncs_with_prometheus_annotation_queries() -> None:
    files = m.repo_files()
    datasource = yaml.safe_load(files["grafana/provisioning/datasources/prometheus.yaml"])["datasources"][0]
    marks = json.loads(files["grafana/dashboards/gitops-lab.json"])["annotations"]["list"]
    assert [a["name"] for a in marks] == ["Deploys", "Rollbacks", "Argo CD syncs"]
    for mark in marks:
        assert mark["enable"] is True and mark["datasource"]["uid"] == datasource["uid"]
        assert mark["expr"] == mark["target"]["expr"] and mark["expr"]
        # every label a title or tag names is one the query keeps
        named = set(re.findall(r"\{\{(\w+)\}\}", mark["titleFormat"])) | set(mark["tagKeys"].split(","))
        kept = set(re.findall(r"by \(([\w, ]+)\)", mark["expr"])[0].replace(" ", "").split(","))
        assert named <= kept, (mark["name"], named, kept)
    # deploys and rollbacks come from what the app serves in the dashboard's environments; syncs from Argo CD
    assert all("app_build_info" in a["expr"] and "$namespace" in a["expr"] for a in marks[:2])
    assert "argocd_app_sync_total" in marks[2]["expr"]


@pytest.mark.parametrize("on", [True, False])
def test_invoke_dashboard_lists_prometheus_only_when_monitoring_is_on(tmp_path: Path, on: bool) -> None:
    flags = {"with_components": "monitoring"} if on else {}
    s = settings(tmp_path, state_dir=tmp_path / "state", **flags)
    out = io.StringIO()
    status.dashboard(Context(s, DryRunRunner(), UI(err=io.StringIO(), out=out)))
    assert ("Prometheus" in out.getvalue()) is on
    assert (f"http://127.0.0.1:{m.PROMETHEUS_HOST_PORT}" in out.getvalue()) is on
    assert f"http://127.0.0.1:{s.argocd_port}" in out.getvalue()


def test_ensure_commits_the_manifests_then_registers_the_application_then_waits_for_argocd_to_deploy_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings(tmp_path, state_dir=tmp_path / "state", with_components="monitoring")
    runner = FakeRunner()
    kube = [kubectl_binary(), "--context", s.kube_context]
    runner.script([*kube, "apply"])
    runner.script([*kube, "wait"])
    runner.script([*kube, "rollout", "status"])
    order: list[str] = []
    monkeypatch.setattr(component, "commit_manifests", lambda ctx, **kw: order.append("commit"))
    run = Up(Context(s, runner, UI(err=io.StringIO(), out=io.StringIO())))
    run.made["gitops_url_in_cluster"] = "http://lab-git:8080/gitops.git"

    MonitoringComponent().ensure(run)

    assert order == ["commit"]
    apply = runner.assert_called(*kube, "apply")
    docs = list(yaml.safe_load_all(apply.input or ""))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("AppProject", m.PROJECT),
        ("Application", m.APP_NAME),
    ]
    assert docs[1]["spec"]["source"]["repoURL"] == "http://lab-git:8080/gitops.git"
    wait = runner.index(*kube, "wait")
    assert "deployment/prometheus" in runner.calls[wait].argv
    assert "--for=create" in runner.calls[wait].argv
    assert runner.index(*kube, "apply") < wait < runner.index(*kube, "rollout", "status")

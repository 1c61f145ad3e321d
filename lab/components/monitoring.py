"""The optional monitoring component (`invoke up --with monitoring`, or lab.toml `with_components = ["monitoring"]`):
Prometheus, deployed the GitOps way. `up` commits its manifests (lab/manifests/monitoring.py) into the GitOps
repository's platform/monitoring and registers an Argo CD project and an auto-synced Application for that directory,
so Argo CD installs and keeps it, as it does the app. Its image is pinned (lab/core/versions.py), saved by
`invoke cache` and side-loaded into the nodes like Argo CD's; its UI/API is on 127.0.0.1:9090 (kind maps the
Service's NodePort there).
"""

from __future__ import annotations

from pathlib import Path

from lab.components import platform
from lab.components.base import LOCAL, Component, HostPort, Row, StatusView, Up
from lab.components.cluster import side_load
from lab.core import versions
from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.gitops.repo import Committed, GitOpsRepo
from lab.manifests import monitoring as manifests

NAME = "monitoring"
ROLLOUT_TIMEOUT = 300.0  # seconds: Argo CD syncs the Application, then the Deployment rolls out


def prometheus_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{manifests.PROMETHEUS_HOST_PORT}"


def commit_manifests(ctx: Context, repo: GitOpsRepo | None = None, *, app_root: Path = ROOT) -> Committed:
    """platform/monitoring in the GitOps repository as lab/manifests/monitoring.py writes it (no commit when it
    already is)."""
    return platform.commit_dir(
        ctx,
        repo,
        manifests.MONITORING_DIR,
        manifests.repo_files(),
        f"platform(monitoring): Prometheus {versions.PROMETHEUS_VERSION}\n",
        app_root,
    )


def ensure_application(ctx: Context, repo_url_in_cluster: str) -> None:
    docs = manifests.argocd_docs(repo_url_in_cluster)
    platform.register(ctx, "monitoring", docs, manifests.APP_NAME, manifests.NAMESPACE)


class MonitoringComponent(Component):
    """Prometheus in namespace `monitoring`, from the GitOps repo through Argo CD (after the Argo CD component)."""

    name = NAME
    targets = LOCAL

    def enabled(self, settings: Settings) -> bool:
        return settings.target in self.targets and NAME in settings.with_components

    def images(self, settings: Settings) -> tuple[str, ...]:
        return (versions.PROMETHEUS_IMAGE,)

    def host_ports(self, settings: Settings) -> list[HostPort]:
        return [HostPort(manifests.PROMETHEUS_HOST_PORT, "Prometheus", manifests.PROMETHEUS_NODE_PORT, "prometheus")]

    def dashboard_links(self, settings: Settings) -> list[tuple[str, str]]:
        return [("Prometheus (API, /metrics; no login)", prometheus_url(settings))]

    def ensure(self, run: Up) -> None:
        ctx = run.ctx
        side_load(run, "Prometheus image", (versions.PROMETHEUS_IMAGE,))
        commit_manifests(ctx, app_root=run.app_root)
        ensure_application(ctx, run.made["gitops_url_in_cluster"])
        platform.wait_deployed(ctx, "Prometheus", manifests.NAMESPACE, manifests.PROMETHEUS, ROLLOUT_TIMEOUT)

    def status_rows(self, view: StatusView) -> list[Row]:
        s = view.ctx.settings
        if not self.enabled(s):
            return []
        state = platform.deployment_state(view, manifests.NAMESPACE, manifests.PROMETHEUS, versions.PROMETHEUS_VERSION)
        return [("Prometheus", state, prometheus_url(s))]

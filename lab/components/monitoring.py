"""The optional monitoring component (`invoke up --with monitoring`, or lab.toml `with_components = ["monitoring"]`):
Prometheus, deployed the GitOps way. `up` commits its manifests (lab/manifests/monitoring.py) into the GitOps
repository's platform/monitoring and registers an Argo CD project and an auto-synced Application for that directory,
so Argo CD installs and keeps it, as it does the app. Its image is pinned (lab/core/versions.py), saved by
`invoke cache` and side-loaded into the nodes like Argo CD's; its UI/API is on 127.0.0.1:9090 (kind maps the
Service's NodePort there).
"""

from __future__ import annotations

from pathlib import Path

from lab.components.base import LOCAL, Component, HostPort, Row, StatusView, Up
from lab.components.cluster import side_load
from lab.core import versions
from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.gitops.repo import Committed, GitOpsRepo, default_workdir, resolve_url
from lab.manifests import argocd as argocd_manifests
from lab.manifests import monitoring as manifests
from lab.tools import git_credential, kubectl

NAME = "monitoring"
ROLLOUT_TIMEOUT = 300.0  # seconds: Argo CD syncs the Application, then the Deployment rolls out


def prometheus_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{manifests.PROMETHEUS_HOST_PORT}"


def _repo(ctx: Context, app_root: Path = ROOT) -> GitOpsRepo:
    """The lab's working clone of the GitOps remote, as lab/steps/ship.py opens it (seeded from APP_ROOT/overlays
    if empty; committed as the lab itself)."""
    settings = ctx.settings
    url, credentials = git_credential.split_url(resolve_url(settings.gitops_remote or settings.gitops_url))
    repo = GitOpsRepo(
        runner=ctx.runner,
        url=url,
        credentials=credentials,
        workdir=default_workdir(settings.state_dir),
        seed_dir=app_root / "overlays",
        ui=ctx.ui,
    )
    repo.created_by_up = not settings.gitops_remote  # a dry run of `up` plans for the repository `up` creates
    return repo


def commit_manifests(ctx: Context, repo: GitOpsRepo | None = None, *, app_root: Path = ROOT) -> Committed:
    """platform/monitoring in the GitOps repository as lab/manifests/monitoring.py writes it (no commit when it
    already is)."""
    repo = repo or _repo(ctx, app_root)
    with ctx.ui.phase(f"Committing {manifests.MONITORING_DIR} to the GitOps repo") as phase:
        done = repo.commit_files(
            manifests.MONITORING_DIR,
            manifests.repo_files(),
            f"platform(monitoring): Prometheus {versions.PROMETHEUS_VERSION}\n",
        )
        phase.note = f"commit {done.sha[:7]}" if done.changed else "unchanged"
    return done


def ensure_application(ctx: Context, repo_url_in_cluster: str) -> None:
    text = argocd_manifests.dump_all(manifests.argocd_docs(repo_url_in_cluster))
    with ctx.ui.phase("Registering the monitoring Application") as phase:
        kubectl.apply_server_side(ctx.runner, ctx.settings.kube_context, manifest=text)
        phase.note = f"{manifests.APP_NAME} (auto-sync) → namespace {manifests.NAMESPACE}"


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
        context, resource = ctx.settings.kube_context, f"deployment/{manifests.PROMETHEUS}"
        with ctx.ui.phase("Waiting for Argo CD to deploy Prometheus"):
            # `kubectl wait --for=create` (k8s.io/kubectl v0.36.1 pkg/cmd/wait/wait.go): it exists once Argo CD synced.
            kubectl.wait(
                ctx.runner,
                context,
                resource,
                condition="create",
                namespace=manifests.NAMESPACE,
                timeout=ROLLOUT_TIMEOUT,
            )
            kubectl.rollout_status(
                ctx.runner, context, resource, namespace=manifests.NAMESPACE, timeout=ROLLOUT_TIMEOUT
            )

    def status_rows(self, view: StatusView) -> list[Row]:
        s = view.ctx.settings
        if not self.enabled(s):
            return []
        state = "-"
        if view.reachable:
            obj = kubectl.get_json(
                view.ctx.runner, s.kube_context, "deployment", manifests.PROMETHEUS, namespace=manifests.NAMESPACE
            )
            ready = obj and obj.get("status", {}).get("readyReplicas", 0)
            state = f"ready ({versions.PROMETHEUS_VERSION})" if ready else "not ready" if obj else "not deployed yet"
        return [("Prometheus", state, prometheus_url(s))]

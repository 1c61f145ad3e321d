"""Argo CD in the lab cluster: install it from the pinned manifest, register the GitOps repository, the project
and one Application per environment, and wait for an environment to be Synced + Healthy.

Every step is idempotent. Install config changes roll only the pods that read it: a hash of argocd-cm and
argocd-cmd-params-cm sits in their pod templates (lab/manifests/argocd.py), so an unchanged config restarts
nothing and no separate `rollout restart` is needed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from lab.clients.argocd import ApplicationClient, AppStatus, synced_healthy
from lab.core.config import environment
from lab.core.context import Context
from lab.core.errors import Conflict
from lab.gitops.watcher import EnvStatus
from lab.manifests import argocd as manifests
from lab.manifests.argocd import GitCredentials, InstallOptions
from lab.tools import kubectl
from lab.tools.argocd_install import (
    PIN,
    ManifestPin,
    cache_path,
    cached_install_manifest,
    fetch_install_manifest,
    render,
    write_install_dir,
)
from lab.tools.download import Fetch, urllib_fetch

ROLLOUT_TIMEOUT = 300.0  # seconds per workload; first start on a laptop pulls nothing (images are kind-loaded)


def install_dir(ctx: Context) -> Path:
    return ctx.settings.state_dir / "argocd"


def ensure_argocd(
    ctx: Context,
    *,
    fetch: Fetch = urllib_fetch,
    pin: ManifestPin = PIN,
    options: InstallOptions = manifests.DEFAULT_INSTALL,
) -> None:
    """Verified install.yaml + the lab's kustomization → namespace → server-side apply → rollout waits."""
    settings, runner = ctx.settings, ctx.runner
    directory = install_dir(ctx)
    files = manifests.install_files(options)

    with ctx.ui.phase(f"Preparing Argo CD {pin.version} manifests") as phase:
        if ctx.dry_run:
            source = "reuse" if cached_install_manifest(settings, pin) else "download"
            ctx.ui.info(f"   {source} {pin.url} (sha256 {pin.sha256}) → {cache_path(settings, pin)}")
            ctx.ui.info(f"   write {directory}/install.yaml and the kustomization below")
            for rel, text in files.items():
                ctx.ui.manifest(str(directory / rel), text)
        else:
            manifest = fetch_install_manifest(settings, fetch=fetch, pin=pin)
            changed = write_install_dir(directory, manifest, files)
            phase.note = f"updated {', '.join(changed)}" if changed else "unchanged"

    context = settings.kube_context
    with ctx.ui.phase(f"Installing Argo CD {pin.version}"):
        kubectl.ensure_namespace(runner, context, manifests.NAMESPACE, labels=manifests.MANAGED_LABELS)
        rendered = render(runner, directory)
        if not ctx.dry_run:
            docs = [d for d in yaml.safe_load_all(rendered) if d]
            problems = manifests.check_rendered(docs, options)
            if problems:
                raise Conflict(
                    f"the Argo CD kustomization in {directory} does not render as the lab expects: "
                    + "; ".join(problems),
                    hint="the lab's patches no longer match install.yaml: update WORKLOADS in lab/manifests/argocd.py",
                )
        # Server-side: the ApplicationSet CRD is too large for client-side apply's last-applied annotation.
        kubectl.apply_server_side(runner, context, manifest=rendered)

    with ctx.ui.phase("Waiting for Argo CD to be ready"):
        for resource in manifests.ROLLOUT_WAIT:
            kubectl.rollout_status(runner, context, resource, namespace=manifests.NAMESPACE, timeout=ROLLOUT_TIMEOUT)


def ensure_gitops_apps(
    ctx: Context,
    repo_url_in_cluster: str = manifests.DEFAULT_REPO_URL,
    credentials: GitCredentials | None = None,
) -> None:
    """Apply the repository Secret, the AppProject and the Applications (stdin, never argv).

    Server-side apply also for the Secret: client-side apply would copy the whole object, password included,
    into the kubectl.kubernetes.io/last-applied-configuration annotation. In a dry run the runner prints
    stdin, so it gets the redacted text.
    """
    docs = manifests.gitops_docs(repo_url_in_cluster, credentials)
    text = manifests.dump_all(manifests.redact(docs) if ctx.dry_run else docs)
    with ctx.ui.phase("Registering the GitOps repository and Applications") as phase:
        kubectl.apply_server_side(ctx.runner, ctx.settings.kube_context, manifest=text)
        phase.note = ", ".join(d["metadata"]["name"] for d in docs if d["kind"] == "Application")


def wait_env(
    ctx: Context,
    env: str,
    revision: str | None = None,
    image: str | None = None,
    timeout: float | None = None,
    *,
    client: ApplicationClient | None = None,
) -> AppStatus | None:
    """Wait until environment ``env`` is Synced + Healthy (at ``revision`` / running ``image`` when given).

    Returns the final status; None in a dry run. SyncFailed on a failed sync or a lasting Degraded,
    NotReady with the last state on timeout."""
    name = manifests.app_name(environment(env))
    limit = ctx.settings.sync_timeout if timeout is None else timeout
    wanted = " ".join(x for x in (f"revision {revision[:7]}" if revision else "", image or "") if x)
    title = f"Waiting for {name} to be Synced and Healthy" + (f" ({wanted})" if wanted else "")
    if ctx.dry_run:
        ctx.ui.info(f" • {title} (up to {limit:g}s) — skipped in a dry run")
        return None
    api = client or ApplicationClient.from_kubeconfig(ctx.settings.kube_context)
    with ctx.ui.phase(title) as phase:
        status = api.wait_for(name, synced_healthy(revision, image), limit)
        phase.note = status.describe()
    return status


def admin_password_hint() -> str:
    """How to read the initial admin password (Secret argocd-initial-admin-secret, key password)."""
    return (
        f'kubectl -n {manifests.NAMESPACE} get secret argocd-initial-admin-secret -o jsonpath="{{.data.password}}"'
        " | base64 -d"
    )


def ui_hint(ctx: Context) -> str:
    return f"Argo CD UI: http://127.0.0.1:{ctx.settings.argocd_port} (user admin; password: {admin_password_hint()})"


class ArgoWatcher:
    """The pipeline's view of the cluster (lab.gitops.watcher.DeployWatcher) through the Application client."""

    def __init__(self, ctx: Context, client: ApplicationClient | None = None) -> None:
        self.ctx = ctx
        self._client = client

    @property
    def client(self) -> ApplicationClient:
        if self._client is None:
            self._client = ApplicationClient.from_kubeconfig(self.ctx.settings.kube_context)
        return self._client

    def _name(self, env: str) -> str:
        return manifests.app_name(environment(env))

    @staticmethod
    def _env_status(status: AppStatus) -> EnvStatus:
        synced = tuple((d.revision, d.deployed_at) for d in status.history)
        return EnvStatus(status.sync, status.health, status.revision, status.images, synced)

    def refresh(self, env: str) -> None:
        self.client.refresh(self._name(env))

    def sync(self, env: str) -> None:
        self.client.sync(self._name(env), reason=f"invoke sync {env}")

    def wait_synced(self, env: str, revision: str, image: str, timeout: float) -> EnvStatus:
        status = self.client.wait_for(self._name(env), synced_healthy(revision, image), timeout)
        return self._env_status(status)

    def status(self, env: str) -> EnvStatus:
        return self._env_status(self.client.get_app(self._name(env)))

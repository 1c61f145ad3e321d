"""Argo CD as the pipeline sees it: wait for an environment to be Synced + Healthy, the watcher ship and release
use, and how to log in. Installing it and registering the Applications is the Argo CD component
(lab/components/argocd.py)."""

from __future__ import annotations

from lab.clients.argocd import ApplicationClient, synced_healthy
from lab.clients.argocd_api import ArgoCDApi
from lab.clients.argocd_status import AppStatus
from lab.core.config import environment
from lab.core.context import Context
from lab.gitops.watcher import EnvStatus
from lab.manifests import argocd as manifests
from lab.steps.personas import sync_as


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
    """The pipeline's view of the cluster (lab.gitops.watcher.DeployWatcher) through the Application client; its
    syncs go through Argo CD's API server as PERSONA (None: the environment's own, lab/steps/personas.py)."""

    def __init__(
        self,
        ctx: Context,
        client: ApplicationClient | None = None,
        *,
        persona: str | None = None,
        api: ArgoCDApi | None = None,
    ) -> None:
        self.ctx = ctx
        self._client = client
        self.persona = persona
        self.api = api

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
        if self.ctx.settings.target == "aws" and self.api is None:
            # No loopback path to an EKS cluster's argocd-server: the personas are a local-target lesson.
            self.ctx.ui.warn(
                "aws target: the sync patches the Application through the Kubernetes API; Argo CD's RBAC (the"
                " personas, docs/rbac.md) governs syncs through its API server, on the local target"
            )
            self.client.sync(self._name(env), reason=f"invoke sync {env}")
            return
        sync_as(self.ctx, env, self.persona, api=self.api)

    def wait_synced(self, env: str, revision: str, image: str, timeout: float) -> EnvStatus:
        status = self.client.wait_for(self._name(env), synced_healthy(revision, image), timeout)
        return self._env_status(status)

    def status(self, env: str) -> EnvStatus:
        return self._env_status(self.client.get_app(self._name(env)))

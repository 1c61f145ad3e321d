"""The cluster side of `ship`, `promote`, `rollback` and `history` for tasks.py: Argo CD through the kubernetes
client, imported on first use. A kubeconfig without the lab's context is ClusterUnreachable at once, as the client
would say it, without importing the client at all (lab/clients/kubeconfig.py): `ship --no-wait` with no cluster
never pays for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lab.clients.kubeconfig import has_context, kubeconfig_paths
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable

if TYPE_CHECKING:
    from lab.gitops.watcher import EnvStatus


class LazyArgoWatcher:
    """A DeployWatcher (lab.gitops.repo) that makes lab.steps.argocd.ArgoWatcher when it is first asked something."""

    def __init__(self, ctx: Context, *, persona: str | None = None) -> None:
        self.ctx = ctx
        self.persona = persona  # whose syncs: lab/steps/personas.py (None: the environment's own persona)
        self._watcher: Any = None

    def _real(self) -> Any:
        if self._watcher is None:
            context = self.ctx.settings.kube_context
            if has_context(context) is False:
                where = ", ".join(str(p) for p in kubeconfig_paths()) or "no kubeconfig file"
                raise ClusterUnreachable(
                    f"no usable kubeconfig context {context!r}: not in {where}",
                    hint="run `invoke up` to create the cluster",
                )
            from lab.steps.argocd import ArgoWatcher

            self._watcher = ArgoWatcher(self.ctx, persona=self.persona)
        return self._watcher

    def refresh(self, env: str) -> None:
        self._real().refresh(env)

    def sync(self, env: str) -> None:
        self._real().sync(env)

    def wait_synced(self, env: str, revision: str, image: str, timeout: float) -> EnvStatus:
        status: EnvStatus = self._real().wait_synced(env, revision, image, timeout)
        return status

    def status(self, env: str) -> EnvStatus:
        status: EnvStatus = self._real().status(env)
        return status

"""The optional sealed-secrets component (`invoke up --with sealed-secrets`, or lab.toml
`with_components = ["sealed-secrets"]`): the Bitnami Sealed Secrets controller, deployed the GitOps way, as the
monitoring component deploys Prometheus. `up` commits its manifests (lab/manifests/sealed_secrets.py) into the GitOps
repository's platform/sealed-secrets and registers an auto-synced Argo CD Application for that directory in the
platform project; its image is pinned (lab/core/versions.py), saved by `invoke cache` and side-loaded into the
nodes. `invoke secret set` (lab/steps/secret.py) seals values against its certificate.

`down` has nothing of its own to remove: the controller, its CRD and its sealing key live in the cluster, which
`down` deletes (the lab's own cluster only); the SealedSecrets in git stay, sealed for a key that is gone with it.
"""

from __future__ import annotations

from pathlib import Path

from lab.components import platform
from lab.components.base import LOCAL, Component, Row, StatusView, Up
from lab.components.cluster import side_load
from lab.core import versions
from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.gitops.repo import Committed, GitOpsRepo
from lab.manifests import sealed_secrets as manifests

NAME = "sealed-secrets"
ROLLOUT_TIMEOUT = 300.0  # seconds: Argo CD syncs the Application, then the controller rolls out (and makes its key)


def commit_manifests(ctx: Context, repo: GitOpsRepo | None = None, *, app_root: Path = ROOT) -> Committed:
    """platform/sealed-secrets in the GitOps repository as lab/manifests/sealed_secrets.py writes it (no commit when
    it already is)."""
    return platform.commit_dir(
        ctx,
        repo,
        manifests.SEALED_SECRETS_DIR,
        manifests.repo_files(),
        f"platform(sealed-secrets): Sealed Secrets controller {versions.SEALED_SECRETS_VERSION}\n",
        app_root,
    )


def ensure_application(ctx: Context, repo_url_in_cluster: str) -> None:
    docs = manifests.argocd_docs(repo_url_in_cluster)
    platform.register(ctx, "sealed-secrets", docs, manifests.APP_NAME, manifests.NAMESPACE)


class SealedSecretsComponent(Component):
    """The Sealed Secrets controller in kube-system, from the GitOps repo through Argo CD (after Argo CD)."""

    name = NAME
    targets = LOCAL

    def enabled(self, settings: Settings) -> bool:
        return settings.target in self.targets and NAME in settings.with_components

    def images(self, settings: Settings) -> tuple[str, ...]:
        return (versions.SEALED_SECRETS_IMAGE,)

    def ensure(self, run: Up) -> None:
        ctx = run.ctx
        side_load(run, "Sealed Secrets controller image", (versions.SEALED_SECRETS_IMAGE,))
        commit_manifests(ctx, app_root=run.app_root)
        ensure_application(ctx, run.made["gitops_url_in_cluster"])
        platform.wait_deployed(
            ctx, "the Sealed Secrets controller", manifests.NAMESPACE, manifests.CONTROLLER, ROLLOUT_TIMEOUT
        )

    def status_rows(self, view: StatusView) -> list[Row]:
        s = view.ctx.settings
        if not self.enabled(s):
            return []
        state = platform.deployment_state(
            view, manifests.NAMESPACE, manifests.CONTROLLER, versions.SEALED_SECRETS_VERSION
        )
        return [("Sealed Secrets", state, f"{manifests.NAMESPACE}/{manifests.CONTROLLER} (invoke secret set)")]

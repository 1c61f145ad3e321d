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

from lab.components.base import LOCAL, Component, Row, StatusView, Up
from lab.components.cluster import side_load
from lab.core import versions
from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.gitops.repo import Committed, GitOpsRepo, default_workdir, resolve_url
from lab.manifests import argocd as argocd_manifests
from lab.manifests import sealed_secrets as manifests
from lab.tools import git_credential, kubectl

NAME = "sealed-secrets"
ROLLOUT_TIMEOUT = 300.0  # seconds: Argo CD syncs the Application, then the controller rolls out (and makes its key)


def _repo(ctx: Context, app_root: Path = ROOT) -> GitOpsRepo:
    """The lab's working clone of the GitOps remote, as lab/components/monitoring.py opens it."""
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
    repo.created_by_up = not settings.gitops_remote
    return repo


def commit_manifests(ctx: Context, repo: GitOpsRepo | None = None, *, app_root: Path = ROOT) -> Committed:
    """platform/sealed-secrets in the GitOps repository as lab/manifests/sealed_secrets.py writes it (no commit when
    it already is)."""
    repo = repo or _repo(ctx, app_root)
    with ctx.ui.phase(f"Committing {manifests.SEALED_SECRETS_DIR} to the GitOps repo") as phase:
        done = repo.commit_files(
            manifests.SEALED_SECRETS_DIR,
            manifests.repo_files(),
            f"platform(sealed-secrets): Sealed Secrets controller {versions.SEALED_SECRETS_VERSION}\n",
        )
        phase.note = f"commit {done.sha[:7]}" if done.changed else "unchanged"
    return done


def ensure_application(ctx: Context, repo_url_in_cluster: str) -> None:
    text = argocd_manifests.dump_all(manifests.argocd_docs(repo_url_in_cluster))
    with ctx.ui.phase("Registering the sealed-secrets Application") as phase:
        kubectl.apply_server_side(ctx.runner, ctx.settings.kube_context, manifest=text)
        phase.note = f"{manifests.APP_NAME} (auto-sync) → namespace {manifests.NAMESPACE}"


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
        context, resource = ctx.settings.kube_context, f"deployment/{manifests.CONTROLLER}"
        with ctx.ui.phase("Waiting for Argo CD to deploy the Sealed Secrets controller"):
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
                view.ctx.runner, s.kube_context, "deployment", manifests.CONTROLLER, namespace=manifests.NAMESPACE
            )
            ready = obj and obj.get("status", {}).get("readyReplicas", 0)
            state = (
                f"ready ({versions.SEALED_SECRETS_VERSION})" if ready else "not ready" if obj else "not deployed yet"
            )
        return [("Sealed Secrets", state, f"{manifests.NAMESPACE}/{manifests.CONTROLLER} (invoke secret set)")]

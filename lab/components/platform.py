"""What the platform components (monitoring, sealed-secrets) do alike in `up` and `status`: commit their directory
to the GitOps repository, register their Argo CD objects, wait for Argo CD to deploy their Deployment, and report it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from lab.components.base import StatusView
from lab.core.config import ROOT
from lab.core.context import Context
from lab.gitops.repo import Committed, GitOpsRepo, default_workdir, resolve_url
from lab.manifests import argocd as argocd_manifests
from lab.manifests.argocd import Doc
from lab.tools import git_credential, kubectl


def open_repo(ctx: Context, app_root: Path = ROOT) -> GitOpsRepo:
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


def commit_dir(
    ctx: Context, repo: GitOpsRepo | None, directory: str, files: Mapping[str, str], message: str, app_root: Path
) -> Committed:
    """DIRECTORY of the GitOps repository holding exactly FILES (no commit when it already does)."""
    repo = repo or open_repo(ctx, app_root)
    with ctx.ui.phase(f"Committing {directory} to the GitOps repo") as phase:
        done = repo.commit_files(directory, files, message)
        phase.note = f"commit {done.sha[:7]}" if done.changed else "unchanged"
    return done


def register(ctx: Context, what: str, docs: Sequence[Doc], app_name: str, namespace: str) -> None:
    """Apply a component's Argo CD project and Application (server-side)."""
    with ctx.ui.phase(f"Registering the {what} Application") as phase:
        kubectl.apply_server_side(ctx.runner, ctx.settings.kube_context, manifest=argocd_manifests.dump_all(docs))
        phase.note = f"{app_name} (auto-sync) → namespace {namespace}"


def wait_deployed(ctx: Context, what: str, namespace: str, deployment: str, timeout: float) -> None:
    """Wait until Argo CD has created DEPLOYMENT and it has rolled out."""
    context, resource = ctx.settings.kube_context, f"deployment/{deployment}"
    with ctx.ui.phase(f"Waiting for Argo CD to deploy {what}"):
        # `kubectl wait --for=create` (k8s.io/kubectl v0.36.1 pkg/cmd/wait/wait.go): it exists once Argo CD synced.
        kubectl.wait(ctx.runner, context, resource, condition="create", namespace=namespace, timeout=timeout)
        kubectl.rollout_status(ctx.runner, context, resource, namespace=namespace, timeout=timeout)


def deployment_state(view: StatusView, namespace: str, deployment: str, version: str) -> str:
    """`status`'s word for a component's Deployment: ready (VERSION), not ready, not deployed yet, or - (no cluster)."""
    if not view.reachable:
        return "-"
    obj = kubectl.get_json(
        view.ctx.runner, view.ctx.settings.kube_context, "deployment", deployment, namespace=namespace
    )
    ready = obj and obj.get("status", {}).get("readyReplicas", 0)
    return f"ready ({version})" if ready else "not ready" if obj else "not deployed yet"

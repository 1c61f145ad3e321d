"""The Argo CD component: install it from the pinned manifest, then register the GitOps repository, the project
and one Application per environment (on the aws target with the `aws` kustomize component's patches).

Every step is idempotent. Install config changes roll only the pods that read it: a hash of argocd-cm and
argocd-cmd-params-cm sits in their pod templates (lab/manifests/argocd.py), so an unchanged config restarts
nothing and no separate `rollout restart` is needed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from lab.components.argocd_personas import ensure_personas
from lab.components.base import BOTH, Component, HostPort, Row, StatusView, Up
from lab.components.cluster import side_load
from lab.components.gitops_remote import GitOpsRemote, gitops_credentials
from lab.core import names, versions
from lab.core.config import ENVIRONMENTS, ROOT, Settings
from lab.core.context import Context
from lab.core.errors import ConfigError, Conflict
from lab.core.urls import split_url
from lab.manifests import argocd as manifests
from lab.manifests.argocd import GitCredentials, InstallOptions
from lab.manifests.kind import ARGOCD_NODE_PORT
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
AWS_COMPONENT_DIR = ROOT / "overlays" / "components" / "aws"


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
    if settings.target != "local":  # the notification receiver is a container of the local target's
        options = dataclasses.replace(options, notifications=False)
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


def aws_component_patches(component_dir: Path = AWS_COMPONENT_DIR) -> list[dict[str, Any]]:
    """The `aws` kustomize component's patches, inline, for Applications' spec.source.kustomize.patches.

    Why not spec.source.kustomize.components: Argo CD adds those with `kustomize edit add component` inside the
    overlay (argo-cd util/kustomize/kustomize.go), and kustomize applies a kustomization's components before its
    own patches, so each overlay's NodePort patch would win over the component's LoadBalancer. Application
    patches are appended to the overlay's own `patches` list (same file), so they come last. The component stays
    the one place that says what EKS needs; the local overlays stay as they are."""
    kustomization = yaml.safe_load((component_dir / "kustomization.yaml").read_text()) or {}
    if kustomization.get("kind") != "Component":
        raise ConfigError(f"{component_dir}/kustomization.yaml is not a kustomize Component")
    extra = sorted(set(kustomization) - {"apiVersion", "kind", "patches"})
    if extra:
        raise ConfigError(
            f"the aws component uses {', '.join(extra)}: an Application can carry only its patches",
            hint="keep overlays/components/aws to patches (or render the aws target from wrapper kustomizations)",
        )
    patches: list[dict[str, Any]] = []
    for entry in kustomization.get("patches") or []:
        text = (component_dir / entry["path"]).read_text() if "path" in entry else str(entry.get("patch", ""))
        item: dict[str, Any] = {"patch": yaml.safe_dump(yaml.safe_load(text), sort_keys=False)}
        for key in ("target", "options"):
            if key in entry:
                item[key] = entry[key]
        patches.append(item)
    return patches


def aws_gitops_docs(
    repo_url: str, credentials: GitCredentials | None, *, component_dir: Path = AWS_COMPONENT_DIR
) -> list[dict[str, Any]]:
    """The same repository Secret, project and Applications as locally; each Application renders its overlay
    with the `aws` component's patches applied last (see aws_component_patches)."""
    patches = aws_component_patches(component_dir)
    docs = manifests.gitops_docs(repo_url, credentials)
    for doc in docs:
        if doc["kind"] == "Application":
            doc["spec"]["source"]["kustomize"] = {"patches": [dict(p) for p in patches]}
    return docs


def ensure_aws_apps(ctx: Context, repo_url: str, credentials: GitCredentials | None) -> None:
    """Apply the Secret, project and Applications server-side on stdin (redacted in a dry run), as
    lab.steps.argocd.ensure_gitops_apps does for the local target."""
    docs = aws_gitops_docs(repo_url, credentials)
    text = manifests.dump_all(manifests.redact(docs) if ctx.dry_run else docs)
    with ctx.ui.phase("Registering the GitOps repository and Applications (with the aws component)") as phase:
        kubectl.apply_server_side(ctx.runner, ctx.settings.kube_context, manifest=text)
        phase.note = ", ".join(d["metadata"]["name"] for d in docs if d["kind"] == "Application")


def local_gitops_credentials(ctx: Context) -> GitCredentials | None:
    """The user:password@ of LAB_GITOPS_REMOTE, for Argo CD's repository Secret (never for a URL)."""
    found = split_url(ctx.settings.gitops_remote)[1]
    return GitCredentials(found.username, found.password) if found is not None else None


class ArgoCDComponent(Component):
    """Argo CD and the lab's Applications, on both targets; its ports: the UI's and each environment's app
    Service (the NodePorts the Applications deploy)."""

    name = "argocd"
    targets = BOTH

    def images(self, settings: Settings) -> tuple[str, ...]:
        return versions.ARGOCD_IMAGES

    def host_ports(self, settings: Settings) -> list[HostPort]:
        ui = HostPort(settings.argocd_port, "Argo CD UI", ARGOCD_NODE_PORT, "argocd")
        return [ui, *(HostPort(env.host_port, f"{env.name} app", env.node_port, env.name) for env in ENVIRONMENTS)]

    def ensure(self, run: Up) -> None:
        ctx = run.ctx
        if run.aws is None:
            side_load(run, "Argo CD images", versions.ARGOCD_IMAGES)
            ensure_argocd(ctx)
            ensure_personas(ctx)
            ensure_gitops_apps(ctx, run.made["gitops_url_in_cluster"], local_gitops_credentials(ctx))
            return
        remote = GitOpsRemote(run.aws.remote_url, run.aws.remote_embedded)
        credentials = gitops_credentials(ctx, remote, run.aws.aws, environ=run.aws.environ)
        (run.aws.install_argocd or ensure_argocd)(ctx)
        ensure_aws_apps(ctx, remote.url, credentials)

    def status_rows(self, view: StatusView) -> list[Row]:
        s = view.ctx.settings
        state = "-"
        if view.reachable:
            obj = kubectl.get_json(
                view.ctx.runner, s.kube_context, "deployment", names.ARGOCD_SERVER, namespace=names.ARGOCD_NAMESPACE
            )
            ready = obj and obj.get("status", {}).get("readyReplicas", 0)
            state = f"ready ({versions.ARGOCD_VERSION})" if ready else "not ready" if obj else "not installed"
        return [("Argo CD", state, f"http://127.0.0.1:{s.argocd_port}")]

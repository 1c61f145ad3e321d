"""`invoke status` (one row per component of the target, then one per environment) and `invoke dashboard`."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from lab import components
from lab.clients.argocd import ApplicationClient
from lab.clients.notify_receiver import ReceiverClient
from lab.components import argocd_personas
from lab.components import cluster as cluster_component
from lab.components.base import StatusView
from lab.core import names
from lab.core.config import ENVIRONMENTS
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable, LabError, ToolNotFound
from lab.manifests import argocd as argocd_manifests
from lab.providers import capabilities_for, provider_for
from lab.steps import argocd as argocd_steps
from lab.steps import kindbin
from lab.steps import notifications as notifications_steps
from lab.tools import docker, kubectl


def _deployment_row(ctx: Context, namespace: str) -> tuple[str, str]:
    """(running image tag, ready/desired) of the app Deployment in NAMESPACE."""
    try:
        obj = kubectl.get_json(ctx.runner, ctx.settings.kube_context, "deployment", names.APP_NAME, namespace=namespace)
    except LabError:
        return ("?", "?")
    if not obj:
        return ("-", "0/0")
    containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
    image = str(containers[0].get("image", "?"))
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]  # name:tag of registry/name:tag@sha256:...
    tag = last.split(":", 1)[1] if ":" in last else image
    st = obj.get("status", {})
    return (tag, f"{st.get('readyReplicas', 0)}/{obj.get('spec', {}).get('replicas', 0)}")


def _cluster_view(ctx: Context) -> tuple[StatusView, list[ToolNotFound]]:
    """Whether the cluster exists and answers, and the tools found missing on the way."""
    s = ctx.settings
    prov = provider_for(s)
    missing: list[ToolNotFound] = []
    seen = ""
    try:
        exists = prov.exists(ctx)
    except ToolNotFound as exc:
        missing.append(exc)
        exists = bool(cluster_component.node_containers(ctx, prov))
        seen = f" (seen through Docker: {prov.name} is not installed)"
    try:
        reachable = exists and kubectl.api_ready(ctx.runner, s.kube_context)
    except ToolNotFound as exc:
        missing.append(exc)
        reachable = False
        seen = seen or " (kubectl is not installed: API not checked)"
    return StatusView(ctx, prov.name, exists, reachable, seen), missing


def status(ctx: Context, *, client: ApplicationClient | None = None, receiver: ReceiverClient | None = None) -> bool:
    """Print the components table (a row or more per component of the target, in their order) and, with a
    cluster, one row per environment. True if the cluster answers.

    Docker must answer (DockerUnreachable otherwise: every container would look absent). A missing kind (or
    minikube, kubectl) hides only what it alone can see: the cluster is then looked up through Docker, every other
    row is shown, and a warning names the missing tool and how to install it."""
    s = ctx.settings
    docker.require_daemon(ctx.runner, retry="invoke status")
    view, missing = _cluster_view(ctx)
    reachable = view.reachable
    rows = [row for component in components.of_target(s) for row in component.status_rows(view)]
    ctx.ui.table("GitOps Lab", ("component", "state", "endpoint"), rows)
    for gap in missing:
        fix = kindbin.FIX_HINT if Path(gap.tool).name == "kind" else gap.hint
        ctx.ui.warn(f"{gap.message}: the table shows what Docker sees → {fix}")

    if not reachable:
        notifications_steps.show_recent(ctx, client=receiver)
        return False
    api = client or ApplicationClient.from_kubeconfig(s.kube_context)
    env_rows = []
    for env in ENVIRONMENTS:
        name = argocd_manifests.app_name(env)
        try:
            app = api.get_app(name)
            sync, health, rev = app.sync or "Unknown", app.health or "Unknown", app.revision[:7]
        except LabError:
            sync, health, rev = "-", "-", "-"
        tag, replicas = _deployment_row(ctx, env.namespace)
        mode = "auto + self-heal" if env.auto_sync else "manual"
        env_rows.append((env.name, mode, sync, health, rev, tag, replicas))
    ctx.ui.table("Environments", ("env", "sync policy", "sync", "health", "revision", "image tag", "ready"), env_rows)
    notifications_steps.show_recent(ctx, client=receiver)
    return True


# ------------------------------------------------------------------------------------------------- dashboard
def admin_password(ctx: Context) -> str | None:
    obj = kubectl.get_json(
        ctx.runner, ctx.settings.kube_context, "secret", names.ARGOCD_ADMIN_SECRET, namespace=names.ARGOCD_NAMESPACE
    )
    if not obj:
        return None
    encoded = (obj.get("data") or {}).get("password", "")
    return base64.b64decode(encoded).decode() if encoded else None


def _show_personas(ctx: Context) -> None:
    """The personas' logins (the only place their passwords are printed) and what Argo CD lets each do."""
    found = argocd_personas.load(ctx.settings.state_dir) or {}
    where = argocd_personas.personas_file(ctx.settings.state_dir)
    ctx.ui.data(f"personas (local accounts; passwords from {where}):")
    for persona, envs in argocd_personas.ladder():
        shown = found[persona].password if persona in found else "(made by `invoke up`)"
        if ctx.dry_run:
            shown = "(not shown in a dry run)"
        ctx.ui.data(f"  {persona}: password {shown}; may sync {', '.join(envs)} (`invoke sync ENV --as {persona}`)")


def dashboard(ctx: Context, *, start_port_forward: Callable[[list[str]], None] | None = None) -> str:
    """Print the Argo CD URL and admin login. kind maps the UI's NodePort to 127.0.0.1:<argocd_port>; minikube
    has no such mapping, so there the UI is port-forwarded (in the foreground, Ctrl-C stops it)."""
    s = ctx.settings
    if not kubectl.api_ready(ctx.runner, s.kube_context) and not ctx.dry_run:
        raise ClusterUnreachable(f"no cluster answers on context {s.kube_context}", hint="invoke up")
    url = f"http://127.0.0.1:{s.argocd_port}"
    password = None if ctx.dry_run else admin_password(ctx)
    ctx.ui.data(f"Argo CD: {url}")
    ctx.ui.data("user: admin")
    ctx.ui.data(f"password: {password}" if password else f"password: {argocd_steps.admin_password_hint()}")
    _show_personas(ctx)
    for component in components.enabled(s):
        for what, link in component.dashboard_links(s):
            ctx.ui.data(f"{what}: {link}")
    if capabilities_for(s).ui_port_forward:
        argv = kubectl.port_forward_argv(
            s.kube_context,
            f"svc/{names.ARGOCD_SERVER}",
            namespace=names.ARGOCD_NAMESPACE,
            local_port=s.argocd_port,
            remote_port=80,
        )
        if ctx.dry_run or start_port_forward is None:
            ctx.ui.info("$ " + " ".join(argv))
        else:
            start_port_forward(argv)
    return url

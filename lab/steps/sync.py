"""`invoke sync ENV`: a manual sync, after showing what it changes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from lab.clients.argocd import ApplicationClient
from lab.clients.argocd_api import ArgoCDApi
from lab.clients.argocd_tracking import as_argocd_applies
from lab.core.config import ROOT, environment
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable, Refused
from lab.core.runner import for_reading
from lab.gitops.repo import GitOpsRepo
from lab.manifests import argocd as argocd_manifests
from lab.steps import argocd as argocd_steps
from lab.steps import personas, ship
from lab.tools import kubectl, kustomize


def _ask_yes(question: str) -> bool:
    """A y/N question on the terminal; no terminal (stdin closed) means no."""
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def sync(
    ctx: Context,
    env: str,
    *,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
    client: ApplicationClient | None = None,
    app_root: Path = ROOT,
    repo: GitOpsRepo | None = None,
    persona: str | None = None,
    api: ArgoCDApi | None = None,
) -> None:
    """Manual sync of ENV as PERSONA: show what would change (`kubectl diff` of the rendered overlay against the
    live objects), ask on prod unless YES, then ask Argo CD's API server to sync as PERSONA (default: the env's own,
    lab/steps/personas.py; Argo CD's RBAC may refuse: ArgoCDDenied) and wait for Synced + Healthy.

    The diff only reads, so a dry run renders and diffs for real (lab.core.runner.for_reading), from its scratch copy of
    the GitOps repo; with no cluster to diff against it shows the rendered overlay and marks the diff skipped. A dry
    run's sync requests go to a recording transport that shows them (password and token redacted)."""
    target = environment(env)
    who = personas.persona_for(env, persona)
    if target.auto_sync:
        ctx.ui.info(f" {env} syncs automatically (self-heal on); a manual sync starts one right away")
    watcher = argocd_steps.ArgoWatcher(ctx, client, persona=who, api=api)
    if not ctx.dry_run:  # the check ship and rollback make: no cluster is ClusterUnreachable, hint `invoke up`
        ship.check_cluster(ctx, watcher, env, unchanged="nothing was changed")
    gitops = repo or ship.gitops_repo(ctx, app_root=app_root)
    head = _show_diff(ctx, env, gitops)
    if env == "prod" and not yes and not ctx.dry_run:
        ask = confirm or _ask_yes
        if not ask(f"Sync prod to {head[:7]} as {who}? [y/N] "):
            raise Refused("prod sync not confirmed", hint="re-run with --yes to skip the question")
    how = "through the Kubernetes API" if ctx.settings.target == "aws" else f"as {who}, through Argo CD's API server"
    with ctx.ui.phase(f"Sync {env} {how}"):
        watcher.sync(env)
    if ctx.dry_run:
        return
    start = time.monotonic()
    argocd_steps.wait_env(ctx, env, revision=None if head == "HEAD" else head, client=watcher.client)
    ctx.ui.info(f" {env} Synced and Healthy {time.monotonic() - start:.1f}s after the sync started")


def _show_diff(ctx: Context, env: str, gitops: GitOpsRepo) -> str:
    """Show what a sync of ENV would change; returns the GitOps head it would sync to ("HEAD" if unknown)."""
    target = environment(env)
    reader = for_reading(ctx.runner)
    context = ctx.settings.kube_context
    no_cluster = ctx.dry_run and not kubectl.api_ready(reader, context)
    with ctx.ui.phase(f"Diff: {env} in git vs live") as phase:
        gitops.open(seed=False)
        head = gitops.resolve(gitops.remote_head) or "HEAD"
        rendered = kustomize.render(reader, gitops.workdir / "overlays" / env)
        if no_cluster:
            ctx.ui.data(f"# {env} at {head[:7]}: what the sync applies")
            ctx.ui.data(rendered.rstrip())
            phase.skip(f"dry run: no cluster answers on context {context} to diff against; the real run needs one")
        elif kubectl.get_json(reader, context, "namespace", target.namespace) is None:
            # kubectl diff dry-runs on the server, which fails for objects in a namespace that does not exist yet
            # (kubernetes/kubectl#1331): on a first sync everything is new, so show it all.
            ctx.ui.data(f"# first sync of {env}: namespace {target.namespace} and everything below will be created")
            ctx.ui.data(rendered.rstrip())
            phase.note = "first sync: all new"
        else:
            # What the sync applies: the overlay plus Argo CD's tracking annotation (else it shows as removed).
            applied = as_argocd_applies(rendered, argocd_manifests.app_name(target), target.namespace)
            res = kubectl.diff(reader, context, applied)
            if res.returncode == 0:
                phase.note = "no differences"
            elif res.returncode == 1:
                ctx.ui.data(res.stdout.rstrip())
                phase.note = "differences above"
            else:
                last = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit code {res.returncode}"
                raise ClusterUnreachable(f"kubectl diff failed: {last}", hint="is the lab up? `invoke status`")
    return head

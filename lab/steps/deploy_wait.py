"""The cluster side of the commands that change a GitOps environment (ship, promote, rollback): ask Argo CD before
changing anything, and after the commit is pushed refresh (or sync) the environment and wait for it to run the
new image."""

from __future__ import annotations

from lab.core.context import Context
from lab.core.errors import ClusterUnreachable
from lab.gitops.watcher import DeployWatcher, EnvStatus


def check_cluster(
    ctx: Context,
    watcher: DeployWatcher,
    env: str,
    *,
    unchanged: str = "nothing was changed (--no-wait commits without a cluster)",
) -> None:
    """Before a command that will wait for ENV changes anything: ask Argo CD about ENV, so that a cluster that is
    not there fails the command (ClusterUnreachable) with nothing built, pushed or committed (UNCHANGED: the
    advice added to the hint, for commands without --no-wait). A dry run does not ask (it says so)."""
    title = f"Check Argo CD answers for {env}"
    if ctx.dry_run:
        ctx.ui.skipped(title, "dry run: Argo CD is not asked")
        return
    with ctx.ui.phase(title) as ph:
        try:
            status = watcher.status(env)
        except ClusterUnreachable as exc:
            exc.hint = "; ".join([*([exc.hint] if exc.hint else []), unchanged])
            raise
        ph.note = f"{status.sync}/{status.health}"


def refresh_and_wait(
    ctx: Context,
    watcher: DeployWatcher,
    env: str,
    revision: str,
    image: str,
    *,
    no_wait: bool,
    sync: bool = False,
) -> EnvStatus | None:
    """After a commit for ENV is pushed: refresh its Application (SYNC: start a sync, for the manual-sync
    environments), then, unless NO_WAIT, wait until ENV is Synced at REVISION, Healthy and runs IMAGE.

    Returns the final status, or None when not waiting. With NO_WAIT a cluster that does not answer is only a
    warning (the commit is pushed and Argo CD picks it up when it runs); without it ClusterUnreachable stands.
    A dry run shows both steps as skipped: it pushed nothing for Argo CD to see."""
    ui = ctx.ui
    start = ("Sync" if sync else "Refresh") + f" {env} in Argo CD"
    wait = f"Wait for {env} to run {image}: Synced at {revision[:7]}, Healthy"
    if ctx.dry_run:
        ui.skipped(start, "dry run: nothing was pushed, Argo CD is not asked")
        if not no_wait:
            ui.skipped(wait, f"dry run: the real run waits up to {ctx.settings.sync_timeout:g}s")
        return None
    try:
        with ui.phase(start):
            if sync:
                watcher.sync(env)
            else:
                watcher.refresh(env)
        if no_wait:
            return None
        with ui.phase(wait) as ph:
            status = watcher.wait_synced(env, revision, image, ctx.settings.sync_timeout)
            ph.note = f"{status.sync}/{status.health}"
        return status
    except ClusterUnreachable as exc:
        then = f"run `invoke sync {env}` once it runs" if sync else "Argo CD deploys it once it runs"
        ui.warn(f"no cluster reachable ({exc.message}): the commit is pushed; {then}")
        if no_wait:
            return None
        raise

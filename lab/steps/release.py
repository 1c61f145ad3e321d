"""Releases after `ship`: promote an image to the next environment, roll an environment back, show the audit trail.

All three work on the GitOps repo (plus the registry, and, when a watcher is given, what Argo CD reports):
- promote copies dev's exact image into staging's overlay as one commit: newName, tag, and the digest the registry
  serves for that tag, pinned in the target overlay even when the source was not; it never syncs (staging and prod
  sync by hand: `invoke sync`).
- rollback is `git revert` of the environment's last deploy, or, back to a named deploy, one commit that sets the
  overlay to that deploy's image; then a sync and a wait until the old image serves. The image it goes back to
  must be in the registry, and never the seed (the placeholder tag no registry holds).
- history reads the deploy commits' trailers back from `git log`.

promote and rollback here are thin: their stages, each a small function of one record, are in
lab/steps/release_stages.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lab.core.config import ROOT, environment
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable, ConfigError, Refused
from lab.gitops.repo import GitOpsRepo
from lab.gitops.trailers import DeployRecord
from lab.gitops.watcher import DeployWatcher, EnvStatus
from lab.registries import DigestLookup, digest_lookup
from lab.steps import release_stages as stages
from lab.steps.release_stages import HEALTHY as HEALTHY
from lab.steps.ship import check_cluster, gitops_repo, refresh_and_wait
from lab.tools import git


# promote ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromoteResult:
    image: str
    digest: str
    gitops_commit: str
    changed: bool  # False: the target already ran exactly this image


def promote(
    ctx: Context,
    from_env: str,
    to_env: str,
    *,
    watcher: DeployWatcher | None = None,
    lookup_digest: DigestLookup | None = None,
    app_root: Path = ROOT,
    repo: GitOpsRepo | None = None,
    report: bool = True,
) -> PromoteResult:
    """Copy FROM_ENV's image into TO_ENV's overlay as a commit (trailers incl. Promoted-From), pinned to the digest
    the registry serves for its tag. Does not sync. LOOKUP_DIGEST: default digest_lookup(settings)."""
    stages.check_direction(from_env, to_env)
    p = stages.Promotion(
        ctx,
        from_env,
        to_env,
        gitops=repo or gitops_repo(ctx, app_root=app_root),
        watcher=watcher,
        lookup_digest=lookup_digest,
    )
    stages.run_stages(p, stages.PROMOTE)
    assert p.promoted is not None and p.committed is not None
    if report:
        ctx.ui.next_steps(f"invoke sync {to_env}", f"invoke history {to_env}")
    return PromoteResult(p.promoted.reference, p.promoted.digest, p.committed.sha, p.committed.changed)


# rollback --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RollbackResult:
    image: str  # the image the environment is back on
    gitops_commit: str
    rolled_back: tuple[str, ...]  # deploy commits undone
    seconds_to_serving: float | None  # command start → old image serving (None without waiting)
    status: EnvStatus | None = None


def rollback(
    ctx: Context,
    env: str,
    to: str | None = None,
    *,
    watcher: DeployWatcher | None = None,
    no_wait: bool = False,
    lookup_digest: DigestLookup | None = None,
    app_root: Path = ROOT,
    repo: GitOpsRepo | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> RollbackResult:
    """Undo ENV's last deploy (`git revert`), or go back to deploy TO; push, sync, wait for the old image.

    Back to a named deploy is one new commit setting the overlay to that deploy's image, with a Rollback-Of
    trailer per deploy it undoes, rather than a revert of every later commit: it always applies (no chain of
    reverts that can conflict), touches only the image (replica or config changes made since stay), and is a
    single commit for Argo CD to sync and for a later rollback to undo.

    Refused before anything is committed: going back to the seed, an image the registry does not hold
    (LOOKUP_DIGEST, default digest_lookup(settings)), and, when it is to wait, a cluster that does not answer.
    With a watcher and NO_WAIT, ENV is still refreshed (or synced) and a missing cluster is only a warning.
    """
    start = monotonic()
    target = environment(env)
    _check_can_wait(ctx, watcher, env, no_wait=no_wait)
    rb = stages.Rollback(
        ctx,
        env,
        to,
        lookup=lookup_digest or digest_lookup(ctx.settings),
        gitops=repo or gitops_repo(ctx, app_root=app_root),
    )
    stages.commit_rollback(rb)
    committed = rb.committed
    assert committed is not None
    image = rb.restored[0].reference if rb.restored else ""
    result = RollbackResult(image, committed.sha, tuple(rb.undone), None)
    if not committed.changed:
        ctx.ui.info(f"{env} already deploys {image}: nothing to roll back")
        if no_wait:  # nothing was committed or pushed: nothing new for Argo CD, nothing to wait for
            return result

    if watcher is None:
        if not ctx.dry_run:
            ctx.ui.warn(f"not waiting: run `invoke sync {env}` to deploy the rollback")
        return result
    # dev syncs by itself once refreshed; staging and prod are synced by hand (here: started). A dry run shows these
    # steps as skipped.
    status = refresh_and_wait(ctx, watcher, env, committed.sha, image, no_wait=no_wait, sync=not target.auto_sync)
    if status is None:
        return result
    seconds = monotonic() - start
    ctx.ui.info(f"{env} serves {image} again, {seconds:.1f}s after the rollback started")
    return RollbackResult(image, committed.sha, tuple(rb.undone), seconds, status)


def _check_can_wait(ctx: Context, watcher: DeployWatcher | None, env: str, *, no_wait: bool) -> None:
    """A rollback that is to wait needs a watcher (outside a dry run) and a cluster that answers."""
    if watcher is None and not no_wait and not ctx.dry_run:
        raise ConfigError(
            "rollback waits for the old image to serve, but no cluster watcher is wired", hint="--no-wait"
        )
    if watcher is not None and not no_wait:
        check_cluster(ctx, watcher, env)


# history ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryRow:
    when: str
    who: str
    app_commit: str
    tag: str
    digest: str
    gitops_commit: str
    kind: str  # deploy | promote | rollback
    note: str  # "rollback of abc1234", "from dev", "undone by def5678", "live"


HISTORY_COLUMNS = ("when", "who", "app commit", "tag", "digest", "GitOps commit", "kind", "note")


def history(
    ctx: Context,
    env: str,
    *,
    watcher: DeployWatcher | None = None,
    limit: int | None = 50,
    app_root: Path = ROOT,
    repo: GitOpsRepo | None = None,
) -> list[HistoryRow]:
    """The audit trail of ENV, newest first, from the GitOps repo's log (and what Argo CD runs, with a watcher)."""
    environment(env)
    gitops = repo or gitops_repo(ctx, app_root=app_root)
    try:
        gitops.open(seed=False, read_only=True)  # fetch only: the working clone stays exactly as it is
    except Refused as exc:
        ctx.ui.info(exc.message)
        return []
    records = gitops.history(env, max_count=limit)
    undone_by = {sha: rec.sha for rec in records for sha in rec.rollback_of}
    live, synced_at = ("", {}) if watcher is None else _argo_side(ctx, watcher, gitops, env)
    rows = [
        HistoryRow(
            when=rec.when,
            who=rec.who,
            app_commit=rec.app_commit[:7] + ("-dirty" if rec.app_commit.endswith("-dirty") else ""),
            tag=rec.tag,
            digest=rec.digest[:19],
            gitops_commit=rec.sha[:7],
            kind=_kind(rec),
            note=_note(rec, undone_by, synced_at, live),
        )
        for rec in records
    ]
    ctx.ui.table(f"History of {env}", HISTORY_COLUMNS, [tuple(vars(r).values()) for r in rows])
    return rows


def _argo_side(ctx: Context, watcher: DeployWatcher, gitops: GitOpsRepo, env: str) -> tuple[str, dict[str, str]]:
    """(the deploy commit ENV runs live, {deploy commit: when Argo CD synced it}); ("", {}) with a warning when no
    cluster answers. Argo CD syncs whole commits of the repo, which may be later commits that changed another
    environment; the deploy in effect at a synced commit is the newest commit at or before it that changed
    overlays/<env>."""
    live = ""
    synced_at: dict[str, str] = {}
    try:
        status = watcher.status(env)
    except ClusterUnreachable as exc:
        ctx.ui.warn(f"no cluster reachable ({exc.message}): showing git history only")
    else:
        path = f"overlays/{env}"
        if status.revision:
            live = git.last_change(ctx.runner, gitops.workdir, status.revision, path) or ""
        for revision, deployed_at in status.synced:
            sha = git.last_change(ctx.runner, gitops.workdir, revision, path)
            if sha and sha not in synced_at:
                synced_at[sha] = deployed_at
    return live, synced_at


def _kind(rec: DeployRecord) -> str:
    return "rollback" if rec.is_rollback else ("promote" if rec.promoted_from else "deploy")


def _note(rec: DeployRecord, undone_by: Mapping[str, str], synced_at: Mapping[str, str], live: str) -> str:
    """What history says about REC: what it rolled back, where it came from, what undid it, when Argo CD synced it,
    whether it is live."""
    notes = []
    if rec.is_rollback:
        notes.append("rollback of " + ", ".join(sha[:7] for sha in rec.rollback_of))
    if rec.promoted_from:
        notes.append(f"from {rec.promoted_from}")
    if rec.sha in undone_by:
        notes.append(f"undone by {undone_by[rec.sha][:7]}")
    if rec.sha in synced_at:
        notes.append(f"synced by Argo CD {synced_at[rec.sha]}")
    if live and rec.sha == live:
        notes.append("live")
    return "; ".join(notes)

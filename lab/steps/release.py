"""Releases after `ship`: promote an image to the next environment, roll an environment back, show the audit trail.

All three work on the GitOps repo (plus the registry, and, when a watcher is given, what Argo CD reports):
- promote copies dev's exact image into staging's overlay as one commit: newName, tag, and the digest the registry
  serves for that tag, pinned in the target overlay even when the source was not; it never syncs (staging and prod
  sync by hand: `invoke sync`).
- rollback is `git revert` of the environment's last deploy, or, back to a named deploy, one commit that sets the
  overlay to that deploy's image; then a sync and a wait until the old image serves. The image it goes back to
  must be in the registry, and never the seed (the placeholder tag no registry holds).
- history reads the deploy commits' trailers back from `git log`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.core.config import ENV_NAMES, ROOT, environment
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable, ConfigError, Refused, RegistryError
from lab.gitops.overlay import SEED_TAG, ImageSpec, overlay_file, set_image
from lab.gitops.repo import Change, GitOpsRepo
from lab.gitops.trailers import DeployRecord, deploy_trailers, reverted
from lab.gitops.watcher import DeployWatcher, EnvStatus
from lab.registries import DigestLookup, digest_lookup, location
from lab.steps.ship import check_cluster, gitops_repo, refresh_and_wait
from lab.tools import git

HEALTHY = "Healthy"


def _registry_location(ctx: Context, spec: ImageSpec) -> tuple[str, str]:
    """(host, name) to ask about SPEC (lab.registries.location)."""
    return location(ctx.settings, spec.new_name)


def _deployed(records: Sequence[DeployRecord]) -> DeployRecord | None:
    return records[0] if records else None


def _served_digest(ctx: Context, spec: ImageSpec, lookup: DigestLookup, *, pinned_by: str, hint: str) -> str:
    """The digest the registry serves for SPEC's tag. RegistryError when it has no such image, or serves another
    digest than SPEC pins (PINNED_BY: who pins it, for the message). A dry run does not ask (the image may be one
    the dry run only planned to push): "", and it says so."""
    host, name = _registry_location(ctx, spec)
    if ctx.dry_run:
        ctx.ui.info(
            f"  dry run: {host} is not asked for {name}:{spec.new_tag or spec.digest}; the real run refuses unless it "
            "serves it"
        )
        return ""
    served = lookup(host, name, spec.new_tag or spec.digest)
    if served is None:
        raise RegistryError(f"{host} has no {name}:{spec.new_tag or spec.digest}", hint=hint)
    if spec.digest and served != spec.digest:
        raise RegistryError(
            f"{host} serves {served} for {name}:{spec.new_tag}, {pinned_by} pins {spec.digest}",
            hint="the tag was overwritten in the registry; ship again",
        )
    return served


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
    source, target = environment(from_env), environment(to_env)
    if target.rank == source.rank:
        raise Refused(
            f"{from_env} → {to_env} is the same environment: nothing to promote",
            hint=f"promotion goes {' → '.join(ENV_NAMES)}",
        )
    if target.rank < source.rank:
        raise Refused(
            f"promotion goes {' → '.join(ENV_NAMES)}: {from_env} → {to_env} is not forward",
            hint="to put an older image back, use `invoke rollback`",
        )
    ui = ctx.ui
    gitops = repo or gitops_repo(ctx, app_root=app_root)

    with ui.phase(f"Read what {from_env} deploys") as ph:
        gitops.open(seed=False)
        spec = gitops.image(from_env)
        records = gitops.history(from_env, max_count=50)
        last = _deployed(records)
        if spec is None or last is None:
            raise Refused(
                f"nothing deployed to {from_env} yet", hint=f"run `invoke ship` first ({from_env} has the seed)"
            )
        ph.note = spec.reference

    healthy = f"Check {from_env} is Healthy and runs it"
    if watcher is not None and ctx.dry_run:
        ui.skipped(
            healthy, f"dry run: Argo CD is not asked; the real run promotes only what runs Healthy in {from_env}"
        )
    elif watcher is not None:
        with ui.phase(healthy) as ph:
            status = watcher.status(from_env)
            if status.health != HEALTHY:
                raise Refused(
                    f"{from_env} is {status.health} ({status.sync}): promote only what runs Healthy",
                    hint=f"`invoke status`; wait for {from_env} or fix it first",
                )
            if spec.reference not in status.images:
                raise Refused(
                    f"{from_env} runs {', '.join(status.images) or 'nothing'}, its overlay says {spec.reference}",
                    hint=f"wait until Argo CD has synced {from_env}",
                )
            ph.note = f"{status.sync}/{status.health}"

    in_registry = f"Check the registry has {spec.tagged}"
    if ctx.dry_run:
        ui.skipped(
            in_registry,
            "dry run: the registry is not asked; the real run refuses unless it serves the image, and pins the digest "
            "it serves in the commit",
        )
        digest = ""
    else:
        with ui.phase(in_registry) as ph:
            digest = _served_digest(
                ctx,
                spec,
                lookup_digest or digest_lookup(ctx.settings),
                pinned_by=from_env,
                hint="was the registry reset? ship again to rebuild it",
            )
            ph.note = digest
    # The target gets tag and digest: it runs exactly the manifest checked above, even if the tag moved later.
    promoted = ImageSpec(spec.new_name, spec.new_tag, digest or spec.digest)

    app_commit = last.app_commit if last is not None else ""
    source_sha = last.sha if last is not None else ""

    def plan(r: GitOpsRepo) -> Change | None:
        current = r.read(overlay_file(to_env))
        if current is None:
            raise Refused(f"the GitOps repo has no {overlay_file(to_env)}")
        if r.image(to_env) == promoted:
            return None  # already there: nothing to commit
        return Change(
            env=to_env,
            message=(
                f"promote({to_env}): {ctx.settings.image_name} {spec.new_tag or spec.digest} from {from_env}\n\n"
                f"Copies the image of {from_env} (GitOps commit {source_sha[:7] or '?'}) to {to_env}.\n"
            ),
            trailers=deploy_trailers(
                env=to_env,
                image=spec.tagged,
                deployed_by=str(r.author),
                app_commit=app_commit,
                digest=promoted.digest,
                promoted_from=from_env,
            ),
            expected_image=promoted.reference,
            new_text=set_image(current, promoted, overlay_file(to_env)),
        )

    with ui.phase(f"Commit {to_env} ← {promoted.reference}") as ph:
        committed = gitops.commit_change(plan, seed=False)
        ph.note = committed.sha[:7] if committed.changed else f"{to_env} already has it"
        ph.note += " (dry run: not pushed)" if ctx.dry_run and committed.changed else ""
    if not committed.changed:
        ui.info(f"{to_env} already deploys {promoted.reference}: nothing to commit")
    if report:
        ui.next_steps(f"invoke sync {to_env}", f"invoke history {to_env}")
    return PromoteResult(promoted.reference, promoted.digest, committed.sha, committed.changed)


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
    if watcher is None and not no_wait and not ctx.dry_run:
        raise ConfigError(
            "rollback waits for the old image to serve, but no cluster watcher is wired", hint="--no-wait"
        )
    if watcher is not None and not no_wait:
        check_cluster(ctx, watcher, env)
    ui = ctx.ui
    image_name = ctx.settings.image_name
    lookup = lookup_digest or digest_lookup(ctx.settings)
    gitops = repo or gitops_repo(ctx, app_root=app_root)
    undone: list[str] = []
    restored: list[ImageSpec] = []

    def check_target(spec: ImageSpec, source: str, how: str) -> str:
        """Refuse to go back to SPEC (ENV's image at commit SOURCE; HOW: "reverting X") when it is the seed or
        not in the registry. Returns the digest the registry serves for it."""
        if spec.new_tag == SEED_TAG:
            raise Refused(
                f"{how} would put {env} back on the seed image {spec.tagged}, which no registry holds",
                hint=f"there is no earlier deploy to go back to: ship a fixed version (`invoke history {env}`)",
            )
        return _served_digest(
            ctx,
            spec,
            lookup,
            pinned_by=f"overlays/{env} at {source}",
            hint=f"roll back to a deploy whose image is still there (`invoke history {env}`), or ship again",
        )

    def plan_revert(r: GitOpsRepo) -> Change | None:
        records = r.history(env)
        done = reverted(records)
        candidates = [rec for rec in records if not rec.is_rollback and rec.sha not in done]
        if not candidates:
            raise Refused(f"{env} has no deploy left to roll back", hint=f"`invoke history {env}`")
        last = candidates[0]
        before = r.image(env, f"{last.sha}^")
        if before is None:
            raise Refused(f"the commit before {last.sha[:7]} has no image for {env}")
        served = check_target(before, f"{last.sha[:7]}^", f"reverting {last.sha[:7]}")
        # The record that deployed the image we go back to (for its trailers), if the pipeline made it.
        prior = next((rec for rec in records[records.index(last) + 1 :] if rec.image == before.tagged), None)
        undone[:] = [last.sha]
        restored[:] = [before]
        return _rollback_change(r, env, before, prior, [last], image_name, served, revert=last.sha)

    def plan_to(r: GitOpsRepo) -> Change | None:
        sha = r.resolve(to or "")
        if sha is None:
            raise Refused(f"{to!r} is not a commit of the GitOps repo", hint=f"`invoke history {env}` lists them")
        records = r.history(env)
        record = next((rec for rec in records if rec.sha == sha), None)
        if record is None:
            raise Refused(
                f"{sha[:7]} is not a deploy commit of {env} "
                f"(no `Environment: {env}` trailer on a change to overlays/{env})",
                hint=f"`invoke history {env}` lists the deploys",
            )
        spec = r.image(env, sha)
        if spec is None:
            raise Refused(f"{sha[:7]} has no image for {env}")
        current = r.read(overlay_file(env))
        if current is None:
            raise Refused(f"the GitOps repo has no {overlay_file(env)}")
        newer = records[: records.index(record)]
        done = reverted(records)
        superseded = [rec for rec in newer if not rec.is_rollback and rec.sha not in done]
        undone[:] = [rec.sha for rec in superseded]
        restored[:] = [spec]
        if r.image(env) == spec:
            return None
        served = check_target(spec, sha[:7], f"going back to {sha[:7]}")
        return _rollback_change(
            r, env, spec, record, superseded, image_name, served, new_text=set_image(current, spec, overlay_file(env))
        )

    with ui.phase(f"Roll back {env}" + (f" to {to}" if to else "")) as ph:
        committed = gitops.commit_change(plan_to if to else plan_revert, seed=False)
        ph.note = (committed.sha[:7] if committed.changed else "already there") + (
            f" → {restored[0].reference}" if restored else ""
        )
        ph.note += " (dry run: not pushed)" if ctx.dry_run and committed.changed else ""
    spec = restored[0] if restored else None
    image = spec.reference if spec else ""
    result = RollbackResult(image, committed.sha, tuple(undone), None)
    if not committed.changed:
        ui.info(f"{env} already deploys {image}: nothing to roll back")
        if no_wait:  # nothing was committed or pushed: nothing new for Argo CD, nothing to wait for
            return result

    if watcher is None:
        if not ctx.dry_run:
            ui.warn(f"not waiting: run `invoke sync {env}` to deploy the rollback")
        return result
    # dev syncs by itself once refreshed; staging and prod are synced by hand (here: started). A dry run shows these
    # steps as skipped.
    status = refresh_and_wait(ctx, watcher, env, committed.sha, image, no_wait=no_wait, sync=not target.auto_sync)
    if status is None:
        return result
    seconds = monotonic() - start
    ui.info(f"{env} serves {image} again, {seconds:.1f}s after the rollback started")
    return RollbackResult(image, committed.sha, tuple(undone), seconds, status)


def _rollback_change(
    r: GitOpsRepo,
    env: str,
    spec: ImageSpec,
    prior: DeployRecord | None,
    undone: Sequence[DeployRecord],
    image_name: str,
    served: str,
    *,
    revert: str | None = None,
    new_text: str | None = None,
) -> Change:
    """The rollback commit: back to SPEC (deployed by PRIOR, when the pipeline made it; SERVED: the digest the
    registry serves for it, "" in a dry run), undoing UNDONE."""
    what = spec.new_tag or spec.digest
    if revert is not None:
        body = f"This reverts commit {revert} ({undone[0].subject})."
    elif undone:
        body = "Undoes: " + ", ".join(f"{rec.sha[:7]} ({rec.subject})" for rec in undone) + "."
    else:
        body = "Back to the image of an earlier deploy."
    digest = spec.digest or served or (prior.digest if prior is not None else "")
    return Change(
        env=env,
        message=f"rollback({env}): {image_name} {what}\n\n{body}\n",
        trailers=deploy_trailers(
            env=env,
            image=spec.tagged,
            deployed_by=str(r.author),
            app_commit=prior.app_commit if prior is not None else "",
            digest=digest,
            rollback_of=[rec.sha for rec in undone],
        ),
        expected_image=spec.reference,
        new_text=new_text,
        revert=revert,
    )


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
    # Argo CD's side: it syncs whole commits of the repo, which may be later commits that changed another
    # environment; the deploy in effect at a synced commit is the newest commit at or before it that changed
    # overlays/<env>.
    live = ""
    synced_at: dict[str, str] = {}
    if watcher is not None:
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
    rows = []
    for rec in records:
        kind = "rollback" if rec.is_rollback else ("promote" if rec.promoted_from else "deploy")
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
        rows.append(
            HistoryRow(
                when=rec.when,
                who=rec.who,
                app_commit=rec.app_commit[:7] + ("-dirty" if rec.app_commit.endswith("-dirty") else ""),
                tag=rec.tag,
                digest=rec.digest[:19],
                gitops_commit=rec.sha[:7],
                kind=kind,
                note="; ".join(notes),
            )
        )
    ctx.ui.table(f"History of {env}", HISTORY_COLUMNS, [tuple(vars(r).values()) for r in rows])
    return rows

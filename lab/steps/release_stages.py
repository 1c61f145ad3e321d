"""The stages of `invoke promote` and `invoke rollback` (lab/steps/release.py runs them), each a
small function of one record: a Promotion or a Rollback (history, a read of `git log`, is all in release.py).

    promote:  read_source ─► check_source_runs ─► check_in_registry ─► commit_promotion
    rollback: commit_rollback (its plan: plan_revert, or plan_to a named deploy; check_target refuses the seed and
              an image the registry does not hold) ─► (lab/steps/release.py) refresh, sync, wait

Each stage is a timed phase (or a skipped one, in a dry run); a failure stops the command where it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lab.core.config import ENV_NAMES, environment
from lab.core.context import Context
from lab.core.errors import Refused, RegistryError
from lab.gitops.overlay import SEED_TAG, ImageSpec, overlay_file, set_image
from lab.gitops.repo import Change, Committed, GitOpsRepo
from lab.gitops.trailers import DeployRecord, deploy_trailers, reverted
from lab.gitops.watcher import DeployWatcher
from lab.registries import DigestLookup, digest_lookup, location

HEALTHY = "Healthy"


def registry_location(ctx: Context, spec: ImageSpec) -> tuple[str, str]:
    """(host, name) to ask about SPEC (lab.registries.location)."""
    return location(ctx.settings, spec.new_name)


def deployed(records: Sequence[DeployRecord]) -> DeployRecord | None:
    return records[0] if records else None


def served_digest(ctx: Context, spec: ImageSpec, lookup: DigestLookup, *, pinned_by: str, hint: str) -> str:
    """The digest the registry serves for SPEC's tag. RegistryError when it has no such image, or serves another
    digest than SPEC pins (PINNED_BY: who pins it, for the message). A dry run does not ask (the image may be one
    the dry run only planned to push): "", and it says so."""
    host, name = registry_location(ctx, spec)
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
def check_direction(from_env: str, to_env: str) -> None:
    """Promotion goes forward only (ENV_NAMES' order); an unknown environment is a ConfigError (environment)."""
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


@dataclass
class Promotion:
    """What one promote knows, stage by stage. The first block is set before the stages run (lab/steps/release.py)."""

    ctx: Context
    from_env: str
    to_env: str
    gitops: GitOpsRepo
    watcher: DeployWatcher | None
    lookup_digest: DigestLookup | None  # None: digest_lookup(settings), made when the registry is asked
    # Filled in by the stages:
    spec: ImageSpec | None = None  # what FROM_ENV's overlay deploys
    last: DeployRecord | None = None  # FROM_ENV's last deploy commit
    digest: str = ""  # what the registry serves for spec's tag ("" in a dry run)
    promoted: ImageSpec | None = None  # what TO_ENV gets
    committed: Committed | None = None


def read_source(p: Promotion) -> None:
    """FROM_ENV's image and its last deploy, from the GitOps repo (never seeded here): refused when it has none."""
    with p.ctx.ui.phase(f"Read what {p.from_env} deploys") as ph:
        p.gitops.open(seed=False)
        p.spec = p.gitops.image(p.from_env)
        records = p.gitops.history(p.from_env, max_count=50)
        p.last = deployed(records)
        if p.spec is None or p.last is None:
            raise Refused(
                f"nothing deployed to {p.from_env} yet", hint=f"run `invoke ship` first ({p.from_env} has the seed)"
            )
        ph.note = p.spec.reference


def check_source_runs(p: Promotion) -> None:
    """With a watcher: FROM_ENV is Healthy in Argo CD and runs the image its overlay names (not asked in a dry run)."""
    ctx, ui, from_env, spec = p.ctx, p.ctx.ui, p.from_env, p.spec
    assert spec is not None
    healthy = f"Check {from_env} is Healthy and runs it"
    if p.watcher is not None and ctx.dry_run:
        ui.skipped(
            healthy, f"dry run: Argo CD is not asked; the real run promotes only what runs Healthy in {from_env}"
        )
    elif p.watcher is not None:
        with ui.phase(healthy) as ph:
            status = p.watcher.status(from_env)
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


def check_in_registry(p: Promotion) -> None:
    """The registry serves the image (not asked in a dry run); the target gets its tag and the digest it serves."""
    ctx, ui, spec = p.ctx, p.ctx.ui, p.spec
    assert spec is not None
    in_registry = f"Check the registry has {spec.tagged}"
    if ctx.dry_run:
        ui.skipped(
            in_registry,
            "dry run: the registry is not asked; the real run refuses unless it serves the image, and pins the digest "
            "it serves in the commit",
        )
        p.digest = ""
    else:
        with ui.phase(in_registry) as ph:
            p.digest = served_digest(
                ctx,
                spec,
                p.lookup_digest or digest_lookup(ctx.settings),
                pinned_by=p.from_env,
                hint="was the registry reset? ship again to rebuild it",
            )
            ph.note = p.digest
    # The target gets tag and digest: it runs exactly the manifest checked above, even if the tag moved later.
    p.promoted = ImageSpec(spec.new_name, spec.new_tag, p.digest or spec.digest)


def plan_promotion(p: Promotion, r: GitOpsRepo) -> Change | None:
    """The promote commit on R (a clean clone at the remote head): TO_ENV's overlay set to the promoted image, with
    trailers incl. Promoted-From; None when TO_ENV has it already."""
    ctx, from_env, to_env, spec, last, promoted = p.ctx, p.from_env, p.to_env, p.spec, p.last, p.promoted
    assert spec is not None and promoted is not None
    app_commit = last.app_commit if last is not None else ""
    source_sha = last.sha if last is not None else ""
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


def commit_promotion(p: Promotion) -> None:
    """One commit on the GitOps remote (GitOpsRepo.commit_change, re-planned until the push lands), or none."""
    ctx, ui, to_env, promoted = p.ctx, p.ctx.ui, p.to_env, p.promoted
    assert promoted is not None
    with ui.phase(f"Commit {to_env} ← {promoted.reference}") as ph:
        committed = p.gitops.commit_change(lambda r: plan_promotion(p, r), seed=False)
        ph.note = committed.sha[:7] if committed.changed else f"{to_env} already has it"
        ph.note += " (dry run: not pushed)" if ctx.dry_run and committed.changed else ""
    if not committed.changed:
        ui.info(f"{to_env} already deploys {promoted.reference}: nothing to commit")
    p.committed = committed


Stage = Callable[[Promotion], None]

# The stages of promote, in order. Nothing is committed before the last one.
PROMOTE: tuple[Stage, ...] = (read_source, check_source_runs, check_in_registry, commit_promotion)


def run_stages(p: Promotion, stages: Sequence[Stage]) -> None:
    for stage in stages:
        stage(p)


# rollback --------------------------------------------------------------------------------------------
@dataclass
class Rollback:
    """What one rollback knows. The first block is set before it commits (lab/steps/release.py)."""

    ctx: Context
    env: str
    to: str | None  # the deploy to go back to; None: undo the last one
    lookup: DigestLookup
    gitops: GitOpsRepo
    # Filled in by the plan (on every attempt of the commit):
    undone: list[str] = field(default_factory=list)  # deploy commits undone
    restored: list[ImageSpec] = field(default_factory=list)  # the image ENV goes back to
    committed: Committed | None = None


def check_target(rb: Rollback, spec: ImageSpec, source: str, how: str) -> str:
    """Refuse to go back to SPEC (ENV's image at commit SOURCE; HOW: "reverting X") when it is the seed or
    not in the registry. Returns the digest the registry serves for it."""
    env = rb.env
    if spec.new_tag == SEED_TAG:
        raise Refused(
            f"{how} would put {env} back on the seed image {spec.tagged}, which no registry holds",
            hint=f"there is no earlier deploy to go back to: ship a fixed version (`invoke history {env}`)",
        )
    return served_digest(
        rb.ctx,
        spec,
        rb.lookup,
        pinned_by=f"overlays/{env} at {source}",
        hint=f"roll back to a deploy whose image is still there (`invoke history {env}`), or ship again",
    )


def plan_revert(rb: Rollback, r: GitOpsRepo) -> Change | None:
    """`git revert` of ENV's last deploy that is not a rollback and not undone yet."""
    env = rb.env
    records = r.history(env)
    done = reverted(records)
    candidates = [rec for rec in records if not rec.is_rollback and rec.sha not in done]
    if not candidates:
        raise Refused(f"{env} has no deploy left to roll back", hint=f"`invoke history {env}`")
    last = candidates[0]
    before = r.image(env, f"{last.sha}^")
    if before is None:
        raise Refused(f"the commit before {last.sha[:7]} has no image for {env}")
    served = check_target(rb, before, f"{last.sha[:7]}^", f"reverting {last.sha[:7]}")
    # The record that deployed the image we go back to (for its trailers), if the pipeline made it.
    prior = next((rec for rec in records[records.index(last) + 1 :] if rec.image == before.tagged), None)
    rb.undone[:] = [last.sha]
    rb.restored[:] = [before]
    image_name = rb.ctx.settings.image_name
    return rollback_change(r, env, before, prior, [last], image_name, served, revert=last.sha)


def plan_to(rb: Rollback, r: GitOpsRepo) -> Change | None:
    """One commit setting ENV's overlay to the image of deploy TO, undoing the deploys since (None: ENV has it)."""
    env, to = rb.env, rb.to
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
    rb.undone[:] = [rec.sha for rec in superseded]
    rb.restored[:] = [spec]
    if r.image(env) == spec:
        return None
    served = check_target(rb, spec, sha[:7], f"going back to {sha[:7]}")
    image_name = rb.ctx.settings.image_name
    return rollback_change(
        r, env, spec, record, superseded, image_name, served, new_text=set_image(current, spec, overlay_file(env))
    )


def rollback_change(
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


def commit_rollback(rb: Rollback) -> None:
    """The rollback commit on the GitOps remote (plan_to with TO, else plan_revert), or none when ENV is there."""
    ctx, env, to = rb.ctx, rb.env, rb.to
    plan = plan_to if to else plan_revert
    with ctx.ui.phase(f"Roll back {env}" + (f" to {to}" if to else "")) as ph:
        committed = rb.gitops.commit_change(lambda r: plan(rb, r), seed=False)
        ph.note = (committed.sha[:7] if committed.changed else "already there") + (
            f" → {rb.restored[0].reference}" if rb.restored else ""
        )
        ph.note += " (dry run: not pushed)" if ctx.dry_run and committed.changed else ""
    rb.committed = committed

"""`invoke ship`: from the app's source to a new image running in dev, through git.

    check the cluster, the app tree, the registry, the GitOps repo ─► quality gate ─► docker build ─► push (+ verify
    the digest) ─► bump dev in the GitOps repo (render + validate, commit with trailers, push) ─► refresh dev in
    Argo CD ─► wait: Synced, Healthy, new image

Each stage is a timed phase; a failure stops the pipeline where it is, so that a failing gate builds nothing, a
registry that is down gets nothing committed, and an overlay that would not render is never pushed.
Everything that can be checked without building is checked first: the cluster (when ship is to wait for it), the
app tree (a dirty tree is refused), the tag (it goes into the image as APP_IMAGE_TAG; one no other build has, see
reserve_tag), the registry (or the ECR emulator), and the GitOps
repo (cloned, fetched, seeded if empty, and dev's overlay rendered + validated with the planned image). So a cluster,
registry or git server that is down, a remote that refuses the seed, or an overlay that would not render cost
nothing and leave nothing behind. What can still fail after the push (the remote refusing the deploy commit) says
which image it left in the registry.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.core.errors import (
    ClusterUnreachable,
    ConfigError,
    GitOpsError,
    Interrupted,
    LabError,
    QualityGateFailed,
    Refused,
    RegistryError,
)
from lab.gitops.overlay import ImageSpec, make_tag
from lab.gitops.repo import GitOpsRepo, default_workdir, resolve_url, utc_now
from lab.gitops.watcher import DeployWatcher, EnvStatus
from lab.steps import app_image, scan
from lab.tools import docker, git, git_credential, registry

SHIP_ENV = "dev"  # ship always lands in dev; staging and prod only get what `promote` copies from dev
# What must be committed for an image to be described by its App-Commit: app/ is the build context, so an
# uncommitted change there would be in the image but in no commit; overlays/ seeds the GitOps repo, whose seed
# commit names the app commit too. The rest of the repo (docs, lab/, tests/) never reaches the image or the
# cluster, and refusing to ship while editing notes would only teach people to pass --allow-dirty.
DIRTY_PATHS = ("app", "overlays")
GATE_OUTPUT_LINES = 20


def default_gate() -> tuple[tuple[str, ...], ...]:
    """The app's unit tests and lint, with this interpreter's pytest and ruff (run in the app repo's root)."""
    python = sys.executable
    ruff = Path(python).parent / "ruff"
    return (
        (python, "-m", "pytest", "tests/unit/test_app.py", "-q", "-p", "no:cacheprovider"),
        (str(ruff) if ruff.is_file() else "ruff", "check", "app"),
    )


EnsureRepository = Callable[[str], object]  # create the registry repository NAME if missing (ECR)
RegistryLogin = Callable[[Context], str]  # log docker in to the registry; returns the registry host
DigestLookup = Callable[[str, str, str], str | None]  # (host, name, tag) -> digest, None if absent


@dataclass(frozen=True)
class Repositories:
    push: str  # where the host pushes: host:port/name
    pull: str  # what the cluster's pods pull (the overlay's newName)

    @property
    def host(self) -> str:
        return self.push.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.push.split("/", 1)[1]


def repositories(settings: Settings) -> Repositories:
    """Push and pull names of the app image for the selected registry.

    local: the lab registry, published on 127.0.0.1:5001; kind's local-registry recipe maps `localhost:5001` on
    every node to the registry container (containerd hosts.toml), so pods pull the same name the host pushes.
    ecr (local target): the emulator's registry endpoint `localhost:<emulator_port>` for both (MiniStack's
    repository URIs are AWS-shaped, ministack 1.5.33 services/ecr.py `_repo_uri`: pushes go to localhost:PORT/<repo>).
    ecr (aws target): settings.registry must name the account's registry `<acct>.dkr.ecr.<region>.amazonaws.com`.
    local on the aws target is refused: EKS nodes cannot pull from this machine's loopback. An error rather than
    switching to ecr by itself: push_registry defaults to local, so the lab cannot tell a forgotten `--registry ecr`
    from a deliberate choice, and pushing to a paid AWS registry is not a thing to do unasked.
    """
    if settings.push_registry == "local":
        repo = f"{settings.registry_host}/{settings.image_name}"
        if settings.target == "aws" and is_loopback(settings.registry_host):
            raise ConfigError(
                f"target aws with push_registry=local would deploy {repo}: EKS nodes cannot pull from this machine",
                hint="ship to ECR: `invoke ship --registry ecr --target aws` (or LAB_PUSH_REGISTRY=ecr)",
            )
        return Repositories(repo, repo)
    if settings.target == "aws":
        if not settings.registry:
            raise ConfigError(
                "push_registry=ecr on target aws needs the ECR registry host",
                hint="set LAB_REGISTRY=<account>.dkr.ecr.<region>.amazonaws.com",
            )
        repo = f"{settings.registry}/{settings.image_name}"
        return Repositories(repo, repo)
    repo = f"localhost:{settings.emulator_port}/{settings.image_name}"
    return Repositories(repo, repo)


def is_loopback(host: str) -> bool:
    return host.split(":", 1)[0] in ("localhost", "127.0.0.1")


TAGS_DIR = "tags"  # under state_dir: one empty file per tag a ship on this machine has claimed
TAG_RESERVATION_DAYS = 1  # reservations older than this are pruned: a new build never gets an old timestamp
MAX_TAGS_PER_SECOND = 99


def reserve_tag(
    state_dir: Path, sha: str, now: datetime, *, dirty: bool, taken: Callable[[str], bool] = lambda tag: False
) -> str:
    """The tag of this build: make_tag(SHA, NOW), or its -2, -3, ... variant when that one is taken, so that a tag
    is never pushed twice with different content (two ships of one commit in the same second).

    A tag is claimed by creating STATE_DIR/tags/<tag> exclusively (O_EXCL: of two ships on this machine exactly one
    gets it, however close together), and it must not be TAKEN: in the registry already (pushed from another
    machine or another .lab). What a check cannot close, another machine pushing the same tag at the same moment,
    ship catches after its push (the registry must serve its digest)."""
    directory = state_dir / TAGS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - TAG_RESERVATION_DAYS * 86400
    for old in directory.iterdir():
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()
    for seq in range(1, MAX_TAGS_PER_SECOND + 1):
        tag = make_tag(sha, now, dirty=dirty, seq=seq)
        try:
            fd = os.open(directory / tag, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        if not taken(tag):
            return tag
    raise RegistryError(
        f"no free tag for {sha[:7]} at {make_tag(sha, now, dirty=dirty)}: {MAX_TAGS_PER_SECOND} builds this second",
        hint="wait a second and run `invoke ship` again",
    )


def check_ecr_emulator(settings: Settings, host: str) -> None:
    """push_registry=ecr on the local target: the emulator must answer (its registry API on HOST) before anything
    is built, as the local registry must."""
    try:
        registry.ping(host)
    except RegistryError as exc:
        where = settings.emulator_endpoint
        start = (
            f"start the emulator at {where} (settings.aws_endpoint_url)"
            if settings.aws_endpoint_url
            else "`invoke up` starts it (container lab-ecr)"
        )
        raise RegistryError(
            f"the ECR emulator does not answer at {host} ({exc.message})",
            hint=f"{start}; or push to the lab's registry instead: `invoke ship --registry local`",
        ) from exc


def registry_lookup(settings: Settings, *, ecr_client: Callable[[Settings], Any] | None = None) -> DigestLookup:
    """How to ask a registry which digest it serves for a tag (or a digest): ECR through its API (describe_images;
    its /v2/ API answers 401 without a token), every other registry through its /v2/ API, anonymously (the
    local registry, MiniStack). ECR_CLIENT makes the boto3 client (default lab.tools.ecr.ecr_client), in the
    region the registry host names."""
    from lab.tools import ecr

    make_client = ecr_client or ecr.ecr_client

    def lookup(host: str, name: str, reference: str) -> str | None:
        where = None if is_loopback(host) else registry.ecr_host(host)
        if where is None:
            return registry.manifest_digest(host, name, reference)
        client = make_client(replace(settings, aws_region=where.region))
        if not reference.startswith("sha256:"):
            return ecr.describe_image(client, name, reference)
        try:  # a digest-only reference (an overlay pinned without a tag)
            details = client.describe_images(repositoryName=name, imageIds=[{"imageDigest": reference}])
        except Exception as exc:
            if ecr.error_code(exc) == "ImageNotFoundException":
                return None
            raise ecr.wrap_error(exc, f"describe image {name}@{reference}") from exc
        return str(details["imageDetails"][0]["imageDigest"]) if details.get("imageDetails") else None

    return lookup


def _ecr_ensurer(settings: Settings) -> EnsureRepository:
    from lab.tools import ecr

    def ensure(name: str) -> object:
        return ecr.ensure_repository(ecr.ecr_client(settings), name)

    return ensure


def _ecr_login(ctx: Context) -> str:
    from lab.tools.ecr_login import login_for_ship

    return login_for_ship(ctx.settings, ctx.runner)


def gitops_repo(ctx: Context, *, app_root: Path = ROOT, app_sha: str | None = None) -> GitOpsRepo:
    """The lab's working clone of the GitOps remote, seeded (if the remote is empty) from APP_ROOT/overlays.
    The app repo's commit and git identity are read for real even in a dry run (git.read_runner). Credentials in
    LAB_GITOPS_REMOTE (`https://user:token@...`) are taken out of the URL and given to git by a credential helper."""
    reader = git.read_runner(ctx.runner)
    sha = app_sha if app_sha is not None else (git.rev_parse(reader, app_root) or "")
    url, credentials = git_credential.split_url(resolve_url(ctx.settings.gitops_remote or ctx.settings.gitops_url))
    return GitOpsRepo(
        runner=ctx.runner,
        url=url,
        credentials=credentials,
        workdir=default_workdir(ctx.settings.state_dir),
        seed_dir=app_root / "overlays",
        seed_sha=sha,
        author=git.identity(reader, app_root),
        ui=ctx.ui,
    )


# The cluster side, shared with rollback ----------------------------------------------------------------
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


@dataclass(frozen=True)
class ShipResult:
    tag: str
    app_commit: str
    image: str  # pushed reference (host side)
    deployed_image: str  # what dev's pods run: the overlay's reference (with @digest when pinned)
    digest: str
    gitops_commit: str
    status: EnvStatus | None = None  # what dev reported at the end, when the pipeline waited


def ship(
    ctx: Context,
    *,
    app_root: Path = ROOT,
    gate: Sequence[Sequence[str]] | None = None,
    allow_dirty: bool = False,
    no_wait: bool = False,
    pin_digest: bool = False,
    watcher: DeployWatcher | None = None,
    ensure_repository: EnsureRepository | None = None,
    lookup_digest: DigestLookup = registry.manifest_digest,
    clock: Callable[[], datetime] = utc_now,
    repo: GitOpsRepo | None = None,
    registry_login: RegistryLogin | None = None,
    report: bool = True,
    allow_vulnerable: Sequence[str] = (),
) -> ShipResult:
    """Gate, build, tag, push, bump dev, and (unless NO_WAIT) wait for Argo CD to run the new image in dev.
    REPORT: end with the stage times, what was shipped and the next commands (off when `up` ships)."""
    settings, runner, ui = ctx.settings, ctx.runner, ctx.ui
    if watcher is None and not no_wait and not ctx.dry_run:
        raise ConfigError("ship waits for dev to run the new image, but no cluster watcher is wired", hint="--no-wait")
    ecr_login = settings.target == "aws" and settings.push_registry == "ecr"
    if not ecr_login:
        repositories(settings)  # a registry setting that cannot work (local on aws) fails before anything runs
    if watcher is not None and not no_wait:
        check_cluster(ctx, watcher, SHIP_ENV)
    if ecr_login:
        # ECR on AWS: docker login with boto3's token first (bad credentials fail before any build); the host it
        # returns is the account's registry, unless LAB_REGISTRY names one (lab/tools/ecr_login.py).
        with ui.phase("Log in to ECR") as ph:
            ph.note = (registry_login or _ecr_login)(ctx)
        settings = replace(settings, registry=settings.registry or ph.note)
    repos = repositories(settings)
    gate_cmds = default_gate() if gate is None else gate
    # The app repo is only read here (commit, dirty files, identity, remote): a dry run reads it for real, so the
    # plan shows the tag this ship would build.
    reader = git.read_runner(runner)

    # Ctrl-C up to the push: nothing is committed (what the push left in the registry, if it ran, is named).
    pushed: list[str] = []

    def interrupted_early() -> Interrupted:
        left = f"; {pushed[0]} may be in the registry (nothing deploys it)" if pushed else ""
        return Interrupted(
            f"interrupted before the deploy commit: nothing was committed, {SHIP_ENV} is as it was{left}"
        )

    with _interrupted_as(interrupted_early):
        # 1. The app tree: its commit, whether it is clean, the tag; the registry answers.
        with ui.phase("Check the app tree and the registry") as ph:
            sha = git.rev_parse(reader, app_root)
            if sha is None:
                if not ctx.dry_run:
                    raise Refused(f"{app_root} has no commit to ship", hint="commit the app first: git commit")
                sha = "0" * 40
            dirty = git.status_porcelain(reader, app_root, DIRTY_PATHS)
            if dirty and not allow_dirty:
                shown = "\n".join(f"    {line}" for line in dirty[:10])
                raise Refused(
                    f"uncommitted changes in {', '.join(DIRTY_PATHS)}: the image would not match any commit\n{shown}",
                    hint="commit them, or ship anyway with --allow-dirty (the tag gets a -dirty suffix)",
                )
            app_commit = sha + ("-dirty" if dirty else "")
            now = clock()
            if ctx.dry_run:
                tag = make_tag(sha, now, dirty=bool(dirty))
            else:
                if is_loopback(repos.host) and settings.push_registry == "local":
                    registry.ping(repos.host)
                elif settings.push_registry == "ecr" and settings.target == "local":
                    check_ecr_emulator(settings, repos.host)
                # A tag already in the registry is never pushed again. The lab's registries answer anonymously on the
                # loopback; ECR itself refuses to overwrite a tag (the lab creates its repository with IMMUTABLE tags).
                tag = reserve_tag(
                    settings.state_dir,
                    sha,
                    now,
                    dirty=bool(dirty),
                    taken=lambda t: is_loopback(repos.host) and lookup_digest(repos.host, repos.name, t) is not None,
                )
            # Offline without cached wheels: refused here. A copy of its own per build (concurrent ships).
            build_from = app_image.build_context(ctx, app_root, name=f"app-{tag}")
            ph.note = tag

        # The GitOps repo, before anything is built: a git server that is down or a remote that refuses the seed fails
        # here, and dev's overlay must render and validate with the new image (with the tag: the digest, which
        # --pin-digest adds, is known only after the push; the bump validates again with it).
        gitops = repo or gitops_repo(ctx, app_root=app_root, app_sha=sha)
        with ui.phase("Check the GitOps repo") as ph:
            gitops.open()
            gitops.check_bump(SHIP_ENV, ImageSpec(repos.pull, tag))
            ph.note = f"overlays/{SHIP_ENV} renders with {tag}"

        # 2. Quality gate: nothing is built unless the app's own checks pass.
        with ui.phase("Quality gate") as ph:
            for argv in gate_cmds:
                res = runner.run(list(argv), cwd=app_root, check=False, timeout=900)
                if res.returncode != 0:
                    output = (res.stdout + res.stderr).strip().splitlines()[-GATE_OUTPUT_LINES:]
                    for line in output:
                        ui.info(f"  | {line}")
                    raise QualityGateFailed(
                        f"quality gate failed: `{shlex.join(argv)}` exited {res.returncode}",
                        hint="fix what it reports; nothing was built, pushed or committed",
                    )
            ph.note = f"{len(gate_cmds)} check(s)"

        # 3. Build, from app/Dockerfile with app/ as context (or a copy with the cached wheels: lab/steps/app_image.py);
        # the base image and build metadata as build args.
        push_ref = f"{repos.push}:{tag}"
        build_time = clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        with ui.phase(f"Build {push_ref}") as ph, app_image.stage(ctx, build_from):
            # APP_SOURCE ends up in the image (label and env) and on the build's command line: never a token in it.
            source = git.strip_credentials(git.remote_url(reader, app_root)) or str(app_root)
            image_id = docker.build(
                runner,
                build_from.path,
                [push_ref],
                dockerfile=build_from.dockerfile,
                build_args={
                    "BASE_IMAGE": settings.base_image,
                    "APP_COMMIT": app_commit,
                    "APP_IMAGE_TAG": tag,
                    "APP_BUILD_TIME": build_time,
                    "APP_SOURCE": source,
                },
                labels=docker.labels_for("app", settings.cluster_name),
            )
            ph.note = f"{image_id[:19]} ({build_from.describe()})"

        # 3b. Scan the built image before it leaves this machine (lab/steps/scan.py): findings at or above
        # settings.scan_severity that --allow-vulnerable does not accept stop the ship here.
        flags = scan.ship_flags(settings, allow_dirty=allow_dirty, no_wait=no_wait, pin_digest=pin_digest)
        scanned = scan.scan_image(ctx, push_ref, tag=tag, allow=allow_vulnerable, rerun_flags=flags).trailers()

        # 4. Push, then ask the registry itself which digest it serves for the tag.
        with ui.phase(f"Push to {repos.host}") as ph:
            if settings.push_registry == "ecr" and not ctx.dry_run:
                (ensure_repository or _ecr_ensurer(settings))(repos.name)
            pushed.append(push_ref)
            digest = docker.push(runner, push_ref)
            if not ctx.dry_run:
                if not digest:
                    raise RegistryError(f"docker push {push_ref} reported no digest")
                # The lab's registries on the loopback answer anonymously: the local registry, and MiniStack, which
                # serves Docker-Content-Digest on GET /v2/<name>/manifests/<ref> (ministack services/ecr.py,
                # _v2_get_manifest). Real ECR needs a token for this API: there docker push's digest stands alone.
                if is_loopback(repos.host):
                    served = lookup_digest(repos.host, repos.name, tag)
                    if served != digest:
                        raise RegistryError(
                            f"{repos.host} serves {served or 'nothing'} for {repos.name}:{tag}, "
                            f"docker push said {digest}",
                            hint="another client pushed the same tag at the same moment; nothing was committed: run "
                            "`invoke ship` again (it builds a new tag)",
                        )
            ph.note = digest or "(digest from docker push)"
        if ecr_login:  # ECR's own scan-on-push findings too, before anything is committed
            scanned += scan.ecr_scan_for_ship(
                ctx, settings, repos.name, digest, allow=allow_vulnerable, rerun_flags=flags
            )

    spec = ImageSpec(repos.pull, tag, digest if pin_digest else "")
    try:
        # minikube's node cannot reach the host's localhost:5001 (only kind gets the hosts.toml mapping): load the
        # image into it under the same name; the overlays' imagePullPolicy IfNotPresent then uses it without a pull.
        if settings.target == "local" and settings.provider == "minikube":
            from lab.providers import provider_for

            with ui.phase(f"Load {push_ref} into minikube"):
                provider_for(settings).load_images(ctx, [push_ref])

        # 5. Bump dev's image in the GitOps repo: one commit with trailers, re-applied until the push lands.
        with ui.phase(f"Bump {SHIP_ENV} in the GitOps repo") as ph:
            committed = gitops.bump(
                SHIP_ENV, spec, app_commit=app_commit, digest=digest, image_name=settings.image_name, extra=scanned
            )
            if not committed.changed and not ctx.dry_run:
                # The tag is this build's own: dev can only have it already if someone else committed it.
                raise GitOpsError(
                    f"{SHIP_ENV} already deploys {spec.reference} (GitOps commit {committed.sha[:7]}), a commit this "
                    "ship did not make",
                    hint=f"`invoke history {SHIP_ENV}` shows who deployed it",
                )
            ph.note = committed.sha[:7] + (" (dry run: not pushed)" if ctx.dry_run else "")
            ph.note += f" after {committed.attempts} attempts" if committed.attempts > 1 else ""
    except LabError as exc:
        if not ctx.dry_run and not (isinstance(exc, Interrupted) and exc.pushed):
            exc.hint = _left_behind(push_ref, digest, repos.host, exc.hint, maybe=isinstance(exc, Interrupted))
        raise

    result = ShipResult(tag, app_commit, push_ref, spec.reference, digest, committed.sha)

    # 6. Argo CD: refresh dev now (no waiting for its next poll), then wait for the new image to serve.
    if watcher is not None:
        sha7 = committed.sha[:7]
        with _interrupted_as(
            lambda: Interrupted(
                f"interrupted while Argo CD deploys it: the deploy commit {sha7} is on the GitOps remote",
                hint=f"{SHIP_ENV} syncs it by itself; `invoke status` shows what it runs",
                pushed=True,
            )
        ):
            status = refresh_and_wait(ctx, watcher, SHIP_ENV, committed.sha, spec.reference, no_wait=no_wait)
        result = replace(result, status=status)

    if not report:
        return result
    ui.summary("ship")
    ui.table(
        "Shipped",
        ("", ""),
        [
            ("image", push_ref),
            ("digest", digest),
            ("app commit", app_commit),
            ("GitOps commit", committed.sha),
            ("dev runs", result.status.images[0] if result.status and result.status.images else "(not checked)"),
        ],
    )
    ui.next_steps("invoke history dev", "invoke promote --from dev --to staging")
    return result


def _left_behind(ref: str, digest: str, host: str, hint: str | None, *, maybe: bool = False) -> str:
    """The hint of a failure after the push: what is in the registry now, and that git has no commit for it
    (MAYBE: an interrupted push whose arrival could not be checked)."""
    left = f"pushed {ref} ({digest}) to {host}; " + (
        "if no GitOps commit names it, nothing deploys it: `invoke ship` builds a new tag"
        if maybe
        else "no GitOps commit: re-run `invoke ship` once that is fixed (it builds a new tag; nothing deploys this one)"
    )
    return f"{hint}; {left}" if hint else left


@contextlib.contextmanager
def _interrupted_as(make: Callable[[], Interrupted]) -> Iterator[None]:
    """Ctrl-C in the block becomes the Interrupted that MAKE builds (it says what was done by then)."""
    try:
        yield
    except KeyboardInterrupt:
        raise make() from None

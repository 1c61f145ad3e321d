"""`invoke ship`: from the app's source to a new image running in dev, through git, as a list of stages
(lab/steps/ship_stages.py):

    check the cluster (when waiting) ─► check the app tree ─► check the registry, reserve the tag ─► quality gate,
    beside: ─► check the GitOps repo ─► docker build ─► (gate passed?) ─► push + verify the digest ─► bump dev in the
    GitOps repo (render + validate, commit with trailers, push) ─► refresh dev in Argo CD ─► wait: Synced, Healthy

Each stage is a timed phase; a failure stops the pipeline where it is. Everything that can be checked without
building is checked first: the cluster (when ship is to wait for it), the app tree (a dirty tree is refused), the
tag (it goes into the image as APP_IMAGE_TAG; one no other build has, see reserve_tag), the registry (or the ECR
emulator), and the GitOps repo (cloned, fetched, seeded if empty, and dev's overlay rendered + validated with the
planned image). So a cluster, registry or git server that is down, a remote that refuses the seed, or an overlay
that would not render cost no build and leave nothing behind. The quality gate runs beside the GitOps check and the
build, and must pass before anything leaves the machine: a failing gate pushes and commits nothing,
and the image built beside it is removed. What can still fail after the push (the remote refusing the deploy
commit) says which image it left in the registry.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from lab import registries
from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.core.errors import ConfigError, Interrupted, LabError, RegistryError
from lab.gitops.overlay import make_tag
from lab.gitops.repo import GitOpsRepo, default_workdir, resolve_url, utc_now
from lab.gitops.schema_cache import SchemaCache
from lab.gitops.watcher import DeployWatcher, EnvStatus
from lab.registries import DigestLookup, Registry, Repositories, Seams
from lab.registries.base import EnsureRepository, RegistryLogin
from lab.steps import scan
from lab.steps import ship_stages as stages
from lab.steps.deploy_wait import check_cluster as check_cluster  # re-exported: release and lab use it from here
from lab.steps.deploy_wait import refresh_and_wait as refresh_and_wait
from lab.steps.ship_stages import DIRTY_PATHS as DIRTY_PATHS
from lab.steps.ship_stages import SHIP_ENV as SHIP_ENV  # ship always lands in dev; staging and prod get promotes
from lab.steps.ship_stages import Shipment
from lab.tools import git, git_credential

SCHEMA_CACHE_DIR = "k8s-valid"  # under cache_dir: lab/gitops/schema_cache.py


def default_gate() -> tuple[tuple[str, ...], ...]:
    """The app's unit tests and lint, with this interpreter's pytest and ruff (run in the app repo's root)."""
    python = sys.executable
    ruff = Path(python).parent / "ruff"
    return (
        (python, "-m", "pytest", "tests/unit/test_app.py", "-q", "-p", "no:cacheprovider"),
        (str(ruff) if ruff.is_file() else "ruff", "check", "app"),
    )


def repositories(settings: Settings) -> Repositories:
    """Push and pull names of the app image for the selected registry (lab/registries/: local, ECR emulator, ECR)."""
    return registries.repositories(settings)


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


def registry_lookup(settings: Settings, *, ecr_client: Callable[[Settings], Any] | None = None) -> DigestLookup:
    """How to ask a registry, by its host, which digest it serves (lab.registries.digest_lookup)."""
    return registries.digest_lookup(settings, Seams(ecr_client=ecr_client))


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
        # The objects of a render already found valid are not validated again (a dry run writes nothing there).
        schema_cache=None if ctx.dry_run else SchemaCache(ctx.settings.cache_dir / SCHEMA_CACHE_DIR),
    )


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
    lookup_digest: DigestLookup | None = None,
    clock: Callable[[], datetime] = utc_now,
    repo: GitOpsRepo | None = None,
    registry_login: RegistryLogin | None = None,
    report: bool = True,
    registry: Registry | None = None,
    allow_vulnerable: Sequence[str] = (),
) -> ShipResult:
    """Gate, build, tag, push, bump dev, and (unless NO_WAIT) wait for Argo CD to run the new image in dev.
    REPORT: end with the stage times, what was shipped and the next commands (off when `up` ships).
    REGISTRY: where to push (default: registries.for_settings, with LOOKUP_DIGEST, ENSURE_REPOSITORY and
    REGISTRY_LOGIN in place of its own /v2/ lookup, repository step and login)."""
    reg = registry or registries.for_settings(
        ctx.settings, Seams(lookup=lookup_digest, ensure=ensure_repository, login=registry_login)
    )
    if watcher is None and not no_wait and not ctx.dry_run:
        raise ConfigError("ship waits for dev to run the new image, but no cluster watcher is wired", hint="--no-wait")
    reg.check()  # a registry setting that cannot work (local on aws) fails before anything runs
    if watcher is not None and not no_wait:
        check_cluster(ctx, watcher, SHIP_ENV)
    if reg.login_title:
        # e.g. ECR: docker login with boto3's token first (bad credentials fail before any build).
        with ctx.ui.phase(reg.login_title) as ph:
            reg = reg.login(ctx)
            ph.note = reg.repositories().host
    ctx = replace(ctx, settings=scan.keep_scan_setting(reg.settings, ctx.settings))
    s = _shipment(ctx, app_root, gate, repo, reg, clock)
    s.allow_dirty, s.pin_digest = allow_dirty, pin_digest
    s.no_wait, s.allow_vulnerable = no_wait, tuple(allow_vulnerable)  # the image scan's (lab/steps/scan.py)
    _until_pushed(s)
    try:
        stages.run_stages(s, stages.AFTER_PUSH)
    except LabError as exc:
        if not ctx.dry_run and not (isinstance(exc, Interrupted) and exc.pushed):
            exc.hint = _left_behind(s.push_ref, s.digest, s.repos.host, exc.hint, maybe=isinstance(exc, Interrupted))
        raise
    assert s.committed is not None and s.spec is not None
    result = ShipResult(s.tag, s.app_commit, s.push_ref, s.spec.reference, s.digest, s.committed.sha)
    if watcher is not None:
        result = replace(result, status=_deploy(ctx, watcher, s.committed.sha, s.spec.reference, no_wait=no_wait))
    if report:
        _report(ctx, result)
    return result


def _shipment(
    ctx: Context,
    app_root: Path,
    gate: Sequence[Sequence[str]] | None,
    repo: GitOpsRepo | None,
    reg: Registry,
    clock: Callable[[], datetime],
) -> Shipment:
    """The Shipment the stages work on: the registry, the GitOps repo, how tags are reserved."""

    def reserve(sha: str, now: datetime, dirty: bool) -> str:
        # A tag already in the registry is never pushed again (Registry.tag_taken).
        return reserve_tag(ctx.settings.state_dir, sha, now, dirty=dirty, taken=reg.tag_taken)

    return Shipment(
        ctx=ctx,
        app_root=app_root,
        gate_commands=tuple(tuple(argv) for argv in (default_gate() if gate is None else gate)),
        registry=reg,
        repos=reg.repositories(),
        clock=clock,
        make_repo=lambda sha: repo or gitops_repo(ctx, app_root=app_root, app_sha=sha),
        reserve=reserve,
    )


def _until_pushed(s: Shipment) -> None:
    """The stages up to and with the push. Ctrl-C there: nothing is committed (what the push left in the registry,
    if it ran, is named). However they end, a quality gate still running is waited for (bounded): its processes
    are not left behind."""

    def interrupted_early() -> Interrupted:
        left = f"; {s.pushed[0]} may be in the registry (nothing deploys it)" if s.pushed else ""
        return Interrupted(
            f"interrupted before the deploy commit: nothing was committed, {SHIP_ENV} is as it was{left}"
        )

    try:
        with _interrupted_as(interrupted_early):
            stages.run_stages(s, stages.BEFORE_PUSH)
            stages.run_stages(s, stages.PUSH)
    finally:
        if s.gate is not None:
            s.gate.wait(stages.GATE_JOIN_TIMEOUT)


def _deploy(ctx: Context, watcher: DeployWatcher, revision: str, image: str, *, no_wait: bool) -> EnvStatus | None:
    """Argo CD: refresh dev now (no waiting for its next poll), then (unless NO_WAIT) wait for the new image."""
    sha7 = revision[:7]
    with _interrupted_as(
        lambda: Interrupted(
            f"interrupted while Argo CD deploys it: the deploy commit {sha7} is on the GitOps remote",
            hint=f"{SHIP_ENV} syncs it by itself; `invoke status` shows what it runs",
            pushed=True,
        )
    ):
        return refresh_and_wait(ctx, watcher, SHIP_ENV, revision, image, no_wait=no_wait)


def _report(ctx: Context, result: ShipResult) -> None:
    """The stage times, what was shipped, and the next commands."""
    ctx.ui.summary("ship")
    runs = result.status.images[0] if result.status and result.status.images else "(not checked)"
    ctx.ui.table(
        "Shipped",
        ("", ""),
        [
            ("image", result.image),
            ("digest", result.digest),
            ("app commit", result.app_commit),
            ("GitOps commit", result.gitops_commit),
            ("dev runs", runs),
        ],
    )
    ctx.ui.next_steps("invoke history dev", "invoke promote --from dev --to staging")


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

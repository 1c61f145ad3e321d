"""The stages of `invoke ship` (lab/steps/ship.py runs them in order), each a small function of one Shipment.

    check_app_tree ─► check_registry ─► start_gate ─┬─► check_gitops ─► build ─► finish_gate ─► [scan] ─► push
                                                    └── quality gate, in a thread ──────┘
    ─► load_into_node ─► bump

The quality gate (the app's tests and lint) runs beside the GitOps check and the build: they do not depend on
each other, and the gate takes about as long as a warm build. Nothing leaves this machine before
the gate has passed: finish_gate waits for it, and a gate that failed removes the image the build made beside it
(nothing is pushed, nothing committed). A GitOps check that fails stops ship before the build. An image scan goes
between finish_gate and push (a stage of the same shape: it gets the Shipment, reads `push_ref`, raises to stop).
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lab.core.context import Context
from lab.core.errors import GitOpsError, LabError, QualityGateFailed, Refused, RegistryError
from lab.core.runner import Result
from lab.gitops.overlay import ImageSpec, make_tag
from lab.gitops.repo import Committed, GitOpsRepo
from lab.registries import Registry, Repositories
from lab.steps import app_image, scan
from lab.tools import docker, docker_objects, git

GATE_TIMEOUT = 900.0  # seconds per gate command
GATE_OUTPUT_LINES = 20  # of a failed gate command's output, shown
GATE_JOIN_TIMEOUT = 30.0  # seconds to wait for a gate still running when ship stops early (its commands then end)
SHIP_ENV = "dev"
# What must be committed for an image to be described by its App-Commit: app/ is the build context, so an
# uncommitted change there would be in the image but in no commit; overlays/ seeds the GitOps repo, whose seed
# commit names the app commit too. The rest of the repo (docs, lab/, tests/) never reaches the image or the
# cluster, and refusing to ship while editing notes would only teach people to pass --allow-dirty.
DIRTY_PATHS = ("app", "overlays")


@dataclass
class GateRun:
    """The quality gate's commands, one after the other through the runner, in a thread that never prints (the
    main thread reports it once it is over, see finish_gate). A dry run runs it in place (its plan stays in order)."""

    commands: tuple[tuple[str, ...], ...]
    started: float = 0.0  # time.time()
    seconds: float = 0.0
    failed: tuple[tuple[str, ...], Result] | None = None  # the first command that failed, and what it said
    error: BaseException | None = None  # raised in the thread (ToolNotFound, Ctrl-C in a test's runner): re-raised
    thread: threading.Thread | None = None

    def start(self, ctx: Context, cwd: Path) -> GateRun:
        self.started = time.time()
        if ctx.dry_run:
            self._run(ctx, cwd)
            return self
        self.thread = threading.Thread(target=self._run, args=(ctx, cwd), name="quality-gate", daemon=True)
        self.thread.start()
        return self

    def _run(self, ctx: Context, cwd: Path) -> None:
        t0 = time.monotonic()
        try:
            for argv in self.commands:
                res = ctx.runner.run(list(argv), cwd=cwd, check=False, timeout=GATE_TIMEOUT)
                if res.returncode != 0:
                    self.failed = (argv, res)
                    return
        except BaseException as exc:  # handed to the main thread (finish_gate re-raises it)
            self.error = exc
        finally:
            self.seconds = time.monotonic() - t0

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the gate (up to TIMEOUT seconds); True once it is over."""
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True


@dataclass
class Shipment:
    """What one ship knows, stage by stage. The first block is set before the stages run (lab/steps/ship.py)."""

    ctx: Context
    app_root: Path
    gate_commands: tuple[tuple[str, ...], ...]
    registry: Registry  # where the image goes (lab/registries/: local, ECR emulator, ECR)
    repos: Repositories  # its push and pull names
    clock: Callable[[], datetime]
    make_repo: Callable[[str], GitOpsRepo]  # the GitOps repo, given the app commit
    reserve: Callable[[str, datetime, bool], str]  # (sha, now, dirty) -> the tag this build gets
    allow_dirty: bool = False
    pin_digest: bool = False
    no_wait: bool = False
    allow_vulnerable: tuple[str, ...] = ()  # finding IDs the image scan accepts (`invoke ship --allow-vulnerable`)
    # Filled in by the stages:
    sha: str = ""
    app_commit: str = ""
    dirty: bool = False
    tag: str = ""
    build_from: app_image.BuildContext | None = None
    gitops: GitOpsRepo | None = None
    gate: GateRun | None = None
    push_ref: str = ""
    image_id: str = ""
    digest: str = ""
    spec: ImageSpec | None = None
    committed: Committed | None = None
    pushed: list[str] = field(default_factory=list)  # what the push stage sent (named if Ctrl-C follows)
    scan_trailers: list[tuple[str, str]] = field(default_factory=list)  # the image scan's, for the deploy commit


Stage = Callable[[Shipment], None]


def check_app_tree(s: Shipment) -> None:
    """The app repo's commit, and whether it is clean: a dirty tree is refused before anything runs."""
    ctx = s.ctx
    reader = git.read_runner(ctx.runner)
    with ctx.ui.phase("Check the app tree") as ph:
        sha = git.rev_parse(reader, s.app_root)
        if sha is None:
            if not ctx.dry_run:
                raise Refused(f"{s.app_root} has no commit to ship", hint="commit the app first: git commit")
            sha = "0" * 40
        dirty = git.status_porcelain(reader, s.app_root, DIRTY_PATHS)
        if dirty and not s.allow_dirty:
            shown = "\n".join(f"    {line}" for line in dirty[:10])
            raise Refused(
                f"uncommitted changes in {', '.join(DIRTY_PATHS)}: the image would not match any commit\n{shown}",
                hint="commit them, or ship anyway with --allow-dirty (the tag gets a -dirty suffix)",
            )
        s.sha, s.dirty, s.app_commit = sha, bool(dirty), sha + ("-dirty" if dirty else "")
        ph.note = s.app_commit[:7] + ("-dirty" if dirty else "")


def check_registry(s: Shipment) -> None:
    """The registry answers; the tag (one no other build has); the build context (offline without cached wheels:
    refused here; a copy of its own per build, for concurrent ships)."""
    ctx = s.ctx
    with ctx.ui.phase("Check the registry, reserve the tag") as ph:
        now = s.clock()
        if ctx.dry_run:
            s.tag = make_tag(s.sha, now, dirty=s.dirty)
        else:
            s.registry.check_reachable()
            s.tag = s.reserve(s.sha, now, s.dirty)
        s.build_from = app_image.build_context(ctx, s.app_root, name=f"app-{s.tag}")
        s.push_ref = f"{s.repos.push}:{s.tag}"
        ph.note = s.tag


def start_gate(s: Shipment) -> None:
    """The quality gate starts once the app tree, the registry and the tag are checked (a dirty tree, a registry that
    is down, offline without cached wheels: no gate runs), beside the GitOps check and the build; finish_gate waits
    for it."""
    s.gate = GateRun(s.gate_commands).start(s.ctx, s.app_root)


def check_gitops(s: Shipment) -> None:
    """Before anything is built: the GitOps remote answers (a clone, a fetch; an empty remote is seeded), and dev's
    overlay renders and validates with the planned image (with the tag: the digest --pin-digest adds is known only
    after the push; the bump validates again with it)."""
    s.gitops = s.make_repo(s.sha)
    with s.ctx.ui.phase("Check the GitOps repo") as ph:
        s.gitops.open()
        s.gitops.check_bump(SHIP_ENV, ImageSpec(s.repos.pull, s.tag))
        ph.note = f"overlays/{SHIP_ENV} renders with {s.tag}"


def build(s: Shipment) -> None:
    """docker build of app/Dockerfile (app/ as context, or a copy with the cached wheels: lab/steps/app_image.py).
    The per-build values, the lab's labels among them, are build args: the Dockerfile's one ARG and one LABEL step
    (an extra --label would add a build step each). A build that fails while the gate fails reports the gate."""
    ctx, settings = s.ctx, s.ctx.settings
    assert s.build_from is not None
    reader = git.read_runner(ctx.runner)
    build_time = s.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with ctx.ui.phase(f"Build {s.push_ref}") as ph, app_image.stage(ctx, s.build_from):
            # APP_SOURCE ends up in the image (label and env) and on the build's command line: never a token in it.
            source = git.strip_credentials(git.remote_url(reader, s.app_root)) or str(s.app_root)
            s.image_id = docker.build(
                ctx.runner,
                s.build_from.path,
                [s.push_ref],
                dockerfile=s.build_from.dockerfile,
                build_args={
                    "BASE_IMAGE": settings.base_image,
                    "APP_COMMIT": s.app_commit,
                    "APP_IMAGE_TAG": s.tag,
                    "APP_BUILD_TIME": build_time,
                    "APP_SOURCE": source,
                    **app_image.label_build_args(docker.labels_for("app", settings.cluster_name)),
                },
            )
            ph.note = f"{s.image_id[:19]} ({s.build_from.describe()})"
    except LabError:
        if s.gate is not None and s.gate.wait(GATE_JOIN_TIMEOUT) and s.gate.failed is not None:
            raise gate_failure(s) from None
        raise


def finish_gate(s: Shipment) -> None:
    """Wait for the gate; show how it went. A failure removes the image built beside it: nothing is pushed."""
    gate = s.gate
    assert gate is not None
    gate.wait()
    ok = gate.failed is None and gate.error is None
    note = f"{len(gate.commands)} check(s)" + ("" if s.ctx.dry_run else ", beside the build")
    s.ctx.ui.done("Quality gate", gate.seconds, started=gate.started, ok=ok, note=note)
    if gate.error is not None:
        raise gate.error
    if gate.failed is not None:
        raise gate_failure(s)


def gate_failure(s: Shipment) -> QualityGateFailed:
    """The failed gate's output (its last lines) on the console, the image built beside it removed, and the error."""
    assert s.gate is not None and s.gate.failed is not None
    argv, res = s.gate.failed
    for line in (res.stdout + res.stderr).strip().splitlines()[-GATE_OUTPUT_LINES:]:
        s.ctx.ui.info(f"  | {line}")
    if s.image_id and not s.ctx.dry_run:
        docker_objects.remove_image(s.ctx.runner, [s.push_ref])
    return QualityGateFailed(
        f"quality gate failed: `{shlex.join(argv)}` exited {res.returncode}",
        hint="fix what it reports; nothing was pushed or committed (the image built beside the gate is removed)",
    )


def push(s: Shipment) -> None:
    """docker push (the registry's repository made first where it needs one: ECR), then the registry itself must
    serve the digest docker reported for the tag (where it can be asked anonymously: Registry.verify_push)."""
    ctx, repos = s.ctx, s.repos
    with ctx.ui.phase(f"Push to {repos.host}") as ph:
        s.registry.ensure_repository(ctx)  # e.g. ECR: create it with scan on push, immutable tags (not in a dry run)
        s.pushed.append(s.push_ref)
        s.digest = docker.push(ctx.runner, s.push_ref)
        if not ctx.dry_run:
            if not s.digest:
                raise RegistryError(f"docker push {s.push_ref} reported no digest")
            s.registry.verify_push(s.tag, s.digest)
        ph.note = s.digest or "(digest from docker push)"


def _rerun_flags(s: Shipment) -> list[str]:
    return scan.ship_flags(s.ctx.settings, allow_dirty=s.allow_dirty, no_wait=s.no_wait, pin_digest=s.pin_digest)


def scan_image(s: Shipment) -> None:
    """The image scan (lab/steps/scan.py): trivy on the built image, still only in the local Docker engine; findings
    at or above settings.scan_severity that --allow-vulnerable does not accept stop the ship (ScanBlocked)."""
    outcome = scan.scan_image(s.ctx, s.push_ref, tag=s.tag, allow=s.allow_vulnerable, rerun_flags=_rerun_flags(s))
    s.scan_trailers = outcome.trailers()


def ecr_scan(s: Shipment) -> None:
    """On the aws target, ECR's own scan-on-push findings of the pushed image, before anything is committed."""
    settings = s.ctx.settings
    if settings.target == "aws" and settings.push_registry == "ecr":
        s.scan_trailers += scan.ecr_scan_for_ship(
            s.ctx, settings, s.repos.name, s.digest, allow=s.allow_vulnerable, rerun_flags=_rerun_flags(s)
        )


def load_into_node(s: Shipment) -> None:
    """A node that cannot reach the host's localhost:5001 (only kind gets the hosts.toml mapping): load the
    image into it under the same name; the overlays' imagePullPolicy IfNotPresent then uses it without a pull."""
    settings = s.ctx.settings
    from lab.providers import capabilities_for, local_provider_for  # only a local cluster needs it

    if capabilities_for(settings).reaches_host_registry == "load":
        with s.ctx.ui.phase(f"Load {s.push_ref} into {settings.provider}"):
            local_provider_for(settings).load_images(s.ctx, [s.push_ref])


def bump(s: Shipment) -> None:
    """dev's image in the GitOps repo: one commit with trailers, re-applied until the push lands."""
    ctx, settings = s.ctx, s.ctx.settings
    assert s.gitops is not None
    s.spec = ImageSpec(s.repos.pull, s.tag, s.digest if s.pin_digest else "")
    with ctx.ui.phase(f"Bump {SHIP_ENV} in the GitOps repo") as ph:
        committed = s.gitops.bump(
            SHIP_ENV,
            s.spec,
            app_commit=s.app_commit,
            digest=s.digest,
            image_name=settings.image_name,
            extra=s.scan_trailers,
        )
        if not committed.changed and not ctx.dry_run:
            # The tag is this build's own: dev can only have it already if someone else committed it.
            raise GitOpsError(
                f"{SHIP_ENV} already deploys {s.spec.reference} (GitOps commit {committed.sha[:7]}), a commit this "
                "ship did not make",
                hint=f"`invoke history {SHIP_ENV}` shows who deployed it",
            )
        s.committed = committed
        ph.note = committed.sha[:7] + (" (dry run: not pushed)" if ctx.dry_run else "")
        ph.note += f" after {committed.attempts} attempts" if committed.attempts > 1 else ""


# The stages in order. Up to the push, a failure (or Ctrl-C) leaves nothing committed; after it, the error says
# which image it left in the registry (lab/steps/ship.py). The image scan goes last in BEFORE_PUSH, after
# finish_gate: the image is built and the gate has passed, nothing has left the machine; ECR's own scan (aws) first
# after the push, before the commit.
BEFORE_PUSH: tuple[Stage, ...] = (
    check_app_tree,
    check_registry,
    start_gate,
    check_gitops,
    build,
    finish_gate,
    scan_image,
)
PUSH: tuple[Stage, ...] = (push,)
AFTER_PUSH: tuple[Stage, ...] = (ecr_scan, load_into_node, bump)


def run_stages(s: Shipment, stages: Sequence[Stage]) -> None:
    for stage in stages:
        stage(s)

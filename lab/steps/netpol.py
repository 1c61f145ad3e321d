"""`invoke demo-netpol`: the environment's default deny, seen from a pod in another namespace, then opened and closed
again by a change in git.

    1. a client pod in its own namespace (lab-netpol-demo), running the app's own image (already on the node), with
       the lab's pod security settings; it connects to the environment's Service with a short timeout: no answer,
       the environment's NetworkPolicies (overlays/base/networkpolicy.yaml) drop the packets
    2. a commit to the GitOps repo (the lab's transaction: render + validate, secret scan, trailers, push with retry)
       adding a NetworkPolicy that admits that namespace on the app port; Argo CD syncs it (dev by itself, staging
       and prod by the sync the demo starts); the connection succeeds
    3. `git revert` of that commit, synced the same way: no answer again
    4. the client pod and its namespace deleted

A dry run is this same code: kubectl and the Argo CD waits only print what they would do (DryRunRunner), the GitOps
commits are made on a scratch copy of the remote (lab/gitops/repo.py's rehearsal), and the connection checks print
the command and the outcome the real run expects. A failure after the allow commit reverts it (or says how to finish);
a run interrupted before the revert leaves the policy file in git, and the next run removes it first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from lab.clients import kube
from lab.core import names
from lab.core.config import ROOT, Environment, environment
from lab.core.context import Context
from lab.core.errors import CommandFailed, LabError, Refused
from lab.core.poll import Poller
from lab.gitops.overlay import ImageSpec, overlay_file
from lab.gitops.repo import Change, Committed, Planner
from lab.gitops.trailers import DEPLOYED_BY
from lab.gitops.watcher import DeployWatcher
from lab.steps.deploy_wait import refresh_and_wait
from lab.steps.drift_kinds import APP
from lab.steps.netpol_manifests import (
    ALLOWED,
    BLOCKED,
    CLIENT_POD,
    CONNECT_TIMEOUT,
    DEMO_NAMESPACE,
    ERROR,
    POLICY_FILE,
    POLICY_NAME,
    SERVICE_PORT,
    Probe,
    allow_policy,
    client_manifest,
    parse_probe,
    probe_script,
    with_resource,
)
from lab.steps.ship import gitops_repo
from lab.tools import git, kubectl

LESSON = ("Lesson", "demo-netpol")  # trailer of the demo's commits (no Environment trailer: they deploy no image)
SETTLE = 30.0  # seconds a check after a sync keeps trying for the outcome git now asks for
POD_READY = 120.0  # seconds for the client pod to start (its image is already on the node)


@dataclass
class NetpolResult:
    env: str
    dry_run: bool
    image: str = ""  # the client's image (the app's)
    before: Probe | None = None  # default deny in force: expected BLOCKED
    allowed: Probe | None = None  # after the allow is synced: expected ALLOWED
    after: Probe | None = None  # after the revert is synced: expected BLOCKED
    allow_commit: str = ""
    revert_commit: str = ""
    seconds_to_allow: float | None = None  # allow commit pushed → connection answered
    seconds_to_block: float | None = None  # revert pushed → connection dropped again
    steps: list[str] = field(default_factory=list)


class PolicyRepo(Protocol):
    """What the demo needs of the GitOps repo (lab/gitops/repo.py GitOpsRepo)."""

    author: git.Identity

    def open(self, *, seed: bool = True, read_only: bool = False) -> None: ...
    def read(self, path: str, rev: str | None = None) -> str | None: ...
    def image(self, env: str, rev: str | None = None) -> ImageSpec | None: ...
    def commit_change(self, plan: Planner, *, seed: bool = True) -> Committed: ...


# ---------------------------------------------------------------------------------------------- the demo


@dataclass
class Demo:
    ctx: Context
    target: Environment
    watcher: DeployWatcher | None
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    result: NetpolResult

    @property
    def kube_context(self) -> str:
        return self.ctx.settings.kube_context

    @property
    def service_host(self) -> str:
        return f"{names.APP_NAME}.{self.target.namespace}.svc.cluster.local"

    @property
    def where(self) -> str:
        return f"{self.service_host}:{SERVICE_PORT}"

    def probe(self) -> Probe:
        argv = [*kubectl.base(self.kube_context), "exec", "-n", DEMO_NAMESPACE, CLIENT_POD, "-c", "client", "--"]
        argv += ["python3", "-c", probe_script(self.service_host)]
        try:
            res = self.ctx.runner.run(argv, check=False, timeout=CONNECT_TIMEOUT + 30)
        except CommandFailed as exc:  # the runner's own timeout
            return Probe(ERROR, exc.message)
        if self.ctx.dry_run:
            return Probe("", "not run (dry run)")
        if res.returncode != 0:
            return Probe(ERROR, f"kubectl exec exited {res.returncode}: {(res.stderr or res.stdout).strip()[-300:]}")
        return parse_probe(res.stdout)

    def check(self, title: str, want: str, *, settle: float) -> tuple[Probe, float | None]:
        """Connect until the outcome is WANT (up to SETTLE seconds; one try when 0). Returns the last probe and
        the seconds it took (None if WANT never came)."""
        poller = Poller(settle, first=1.0, factor=1.0, clock=self.clock, sleep=self.sleep)
        with self.ctx.ui.phase(title) as ph:
            for _ in poller:
                got = self.probe()
                if self.ctx.dry_run:
                    ph.note = f"dry run: the real run expects {want}"
                    return got, None
                if got.outcome == want:
                    break
            took = poller.elapsed
            ph.note = f"{got.outcome}: {got.detail}"
        if got.outcome != want:
            return got, None
        return got, took

    def commit(self, repo: PolicyRepo, title: str, plan: Callable[[PolicyRepo], Change | None]) -> str:
        with self.ctx.ui.phase(title) as ph:
            committed = repo.commit_change(plan, seed=False)
            ph.note = f"{committed.sha[:7]} pushed" if committed.changed else "nothing to change"
        return committed.sha if committed.changed else ""

    def deploy(self, sha: str, image: str) -> None:
        if self.watcher is None:
            if self.ctx.dry_run:
                self.ctx.ui.skipped(f"Sync {self.target.name}", "dry run: Argo CD is not asked")
                return
            raise Refused("demo-netpol waits for Argo CD, but no watcher is wired")
        refresh_and_wait(
            self.ctx, self.watcher, self.target.name, sha, image, no_wait=False, sync=not self.target.auto_sync
        )


def _policy_path(env: str) -> str:
    return f"overlays/{env}/{POLICY_FILE}"


def _plan_allow(env: str, image: str, author: str) -> Callable[[PolicyRepo], Change | None]:
    def plan(repo: PolicyRepo) -> Change | None:
        current = repo.read(overlay_file(env))
        if current is None:
            raise Refused(f"the GitOps repo has no {overlay_file(env)}", hint="was it seeded from overlays/?")
        return Change(
            env=env,
            message=f"netpol({env}): allow {DEMO_NAMESPACE} to reach {APP}\n\n"
            f"A NetworkPolicy admitting pods of namespace {DEMO_NAMESPACE} on the app port (invoke demo-netpol).\n",
            trailers=[(DEPLOYED_BY, author), LESSON],
            expected_image=image,
            new_text=with_resource(current, POLICY_FILE, present=True),
            files={_policy_path(env): allow_policy()},
        )

    return plan


def _plan_removal(env: str, image: str, author: str) -> Callable[[PolicyRepo], Change | None]:
    """Remove a policy file an interrupted run left (None when there is none)."""

    def plan(repo: PolicyRepo) -> Change | None:
        current = repo.read(overlay_file(env))
        if current is None or repo.read(_policy_path(env)) is None:
            return None
        return Change(
            env=env,
            message=f"netpol({env}): remove the allow of {DEMO_NAMESPACE} a previous demo left\n",
            trailers=[(DEPLOYED_BY, author), LESSON],
            expected_image=image,
            new_text=with_resource(current, POLICY_FILE, present=False),
            files={_policy_path(env): None},
        )

    return plan


def _plan_revert(env: str, sha: str, image: str, author: str) -> Callable[[PolicyRepo], Change | None]:
    def plan(repo: PolicyRepo) -> Change | None:
        return Change(
            env=env,
            message=f"netpol({env}): revert the allow of {DEMO_NAMESPACE}\n\nThis reverts commit {sha}.\n",
            trailers=[(DEPLOYED_BY, author), LESSON],
            expected_image=image,
            revert=sha,
        )

    return plan


def demo_netpol(
    ctx: Context,
    env: str = "dev",
    *,
    watcher: DeployWatcher | None = None,
    repo: PolicyRepo | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> NetpolResult:
    """Show ENV's default deny refusing a pod of another namespace, a commit allowing it, and its revert."""
    target = environment(env)
    ui = ctx.ui
    result = NetpolResult(env, ctx.dry_run)
    demo = Demo(ctx, target, watcher, clock, sleep, result)
    if ctx.dry_run:
        ui.info(
            "DRY RUN: kubectl and Argo CD are not asked (their commands are printed); the GitOps commits are made "
            "on a scratch copy of the remote"
        )
    repo = repo or gitops_repo(ctx, app_root=ROOT, app_sha="")
    with ui.phase(f"Read what {env} runs from the GitOps repo") as ph:
        repo.open(seed=False)
        spec = repo.image(env)
        if spec is None:
            raise Refused(f"the GitOps repo has no image for {env}", hint="run `invoke up` first")
        result.image = spec.reference
        ph.note = spec.reference
    author = str(repo.author)
    sha = demo.commit(
        repo, "Remove an allow policy a previous run left (if any)", _plan_removal(env, spec.reference, author)
    )
    if sha:
        demo.deploy(sha, spec.reference)

    try:
        _start_client(demo, spec.reference)
        _refused_first(demo)
        _allow_then_revert(demo, repo, spec.reference, author)
    finally:
        with ui.phase(f"Delete the client pod and namespace {DEMO_NAMESPACE}"):
            kubectl.delete(ctx.runner, demo.kube_context, "namespace", [DEMO_NAMESPACE])
    _lessons(ctx, target, result)
    return result


def _start_client(demo: Demo, image: str) -> None:
    ctx, k = demo.ctx, demo.kube_context
    with ctx.ui.phase(f"Start pod {DEMO_NAMESPACE}/{CLIENT_POD} (image {image})"):
        kubectl.delete(ctx.runner, k, "namespace", [DEMO_NAMESPACE])  # waits until a previous one is gone
        kubectl.apply(ctx.runner, k, client_manifest(image))
        kubectl.wait(
            ctx.runner, k, f"pod/{CLIENT_POD}", condition="condition=Ready", namespace=DEMO_NAMESPACE, timeout=POD_READY
        )


def _refused_first(demo: Demo) -> None:
    env = demo.target.name
    demo.result.before, _ = demo.check(f"1. Connect to {demo.where} (default deny)", BLOCKED, settle=0)
    if demo.result.before.outcome == ALLOWED:
        raise Refused(
            f"{DEMO_NAMESPACE}/{CLIENT_POD} reached {env}'s app although {env} denies it: the cluster's network "
            "plugin does not enforce NetworkPolicy",
            hint="kindnetd enforces it from kind v0.24.0 on: recreate the cluster with the lab's pinned kind, "
            "`invoke down && invoke up`",
        )
    _check_outcome(demo, demo.result.before, BLOCKED, "before the allow")


def _allow_then_revert(demo: Demo, repo: PolicyRepo, image: str, author: str) -> None:
    """The allow commit, synced, checked; then its revert (also when the check failed), synced, checked."""
    env, result, clock = demo.target.name, demo.result, demo.clock
    result.allow_commit = demo.commit(
        repo, f"2. Commit a NetworkPolicy allowing {DEMO_NAMESPACE} to the GitOps repo", _plan_allow(env, image, author)
    )
    pushed = clock()
    try:
        demo.deploy(result.allow_commit, image)
        result.allowed, took = demo.check(f"Connect to {demo.where} again (allowed in git)", ALLOWED, settle=SETTLE)
        _check_outcome(demo, result.allowed, ALLOWED, "after the allow was synced")
        result.seconds_to_allow = None if took is None else clock() - pushed
    finally:
        result.revert_commit = _revert(demo, repo, result.allow_commit, image, author)
    pushed = clock()
    demo.deploy(result.revert_commit, image)
    result.after, took = demo.check(f"4. Connect to {demo.where} once more (allow reverted)", BLOCKED, settle=SETTLE)
    _check_outcome(demo, result.after, BLOCKED, "after the revert was synced")
    result.seconds_to_block = None if took is None else clock() - pushed


def _revert(demo: Demo, repo: PolicyRepo, sha: str, image: str, author: str) -> str:
    """`git revert` of the allow commit, pushed. When that fails, a hint that works: the next run removes the file."""
    env = demo.target.name
    try:
        return demo.commit(
            repo, f"3. git revert {sha[:7]} (the allow) in the GitOps repo", _plan_revert(env, sha, image, author)
        )
    except LabError as exc:
        exc.hint = (
            f"the allow policy is still in {_policy_path(env)} of the GitOps repo: "
            f"run `invoke demo-netpol --env {env}` again, it removes it first"
        )
        raise


def _check_outcome(demo: Demo, got: Probe, want: str, when: str) -> None:
    if demo.ctx.dry_run or got.outcome == want:
        return
    policies = kube.kubectl(demo.kube_context, demo.target.namespace, "get", "networkpolicy", "-o", "yaml")
    raise Refused(
        f"{when}, the client's connection was {got.outcome} ({got.detail}), not {want}",
        hint=f"look at the policies Argo CD applied: `{policies}`",
    )


def _lessons(ctx: Context, target: Environment, r: NetpolResult) -> None:
    ui = ctx.ui
    if not ctx.dry_run:
        ui.info(
            f"{target.namespace} dropped {DEMO_NAMESPACE}'s connection, admitted it "
            f"{_secs(r.seconds_to_allow)} after the allow was pushed, and dropped it again "
            f"{_secs(r.seconds_to_block)} after the revert: every change went through git"
        )
    ui.next_steps(
        kube.kubectl(ctx.settings.kube_context, target.namespace, "get", "networkpolicy"),
        f"cat {ROOT / 'overlays' / 'base' / 'networkpolicy.yaml'}",
        f"invoke demo-netpol --env {target.name} --dry-run",
    )


def _secs(s: float | None) -> str:
    return "?" if s is None else f"{s:.0f} s"


__all__ = [
    "CLIENT_POD",
    "DEMO_NAMESPACE",
    "ERROR",
    "POLICY_FILE",
    "POLICY_NAME",
    "NetpolResult",
    "Probe",
    "allow_policy",
    "client_manifest",
    "demo_netpol",
    "parse_probe",
    "probe_script",
    "with_resource",
]

"""`invoke demo-drift`: a hand-made change to a running environment, and what Argo CD does about it.

    1. desired state (git: the env's overlay rendered from the GitOps repo) next to the live state (the cluster)
    2. the manual change, through the Kubernetes API (one of the drift kinds), with its kubectl equivalent
    3. Argo CD noticing: the Application goes OutOfSync; which resources, and which fields differ
    4. dev (automated sync + selfHeal): the change reverted, timed from the change to Synced again
       staging (no automated sync): it stays OutOfSync for a while, why, and `invoke sync staging` to heal it
    5. what was learned, and commands to try next

This module runs the steps. The drift kinds (what can be changed, and how) are the catalogue in drift_kinds.py,
the waits and the Argo CD facts they rely on are in drift_watch.py, and every line the learner reads is in
drift_story.py. Argo CD compares the fields git sets, and so does the demo's field diff (lab/core/fielddiff.py).

A dry run is this same code against a cluster and an Argo CD that only record
(lab.clients.kube.RecordingCluster, lab.clients.argocd.RecordingApplications): they answer as if the environment
ran what git says and were Synced, and print every API call; the waits are listed, not made.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

from lab.clients import kube
from lab.clients.argocd import ApplicationClient, RecordingApplications
from lab.clients.argocd_status import AppStatus
from lab.clients.kube import Cluster, Obj
from lab.core.config import ROOT, Environment, environment
from lab.core.context import Context
from lab.core.errors import ConfigError, LabError, Refused
from lab.core.fielddiff import FieldDiff, object_diff
from lab.core.runner import for_reading
from lab.manifests.argocd import app_name, application
from lab.registries import pull_repository
from lab.steps import drift_kinds, drift_watch
from lab.steps.drift_kinds import APP, CONTAINER, Change, find, plan_change
from lab.steps.drift_story import PROGRESS_EVERY, Story
from lab.steps.drift_watch import HEAL_MARGIN, POLL, Watch, heal_delay, predicted_backoff
from lab.steps.ship import gitops_repo
from lab.tools import kustomize

__all__ = [
    "APP",
    "CHANGES",
    "CONTAINER",
    "DEMO_ENVS",
    "HEAL_MARGIN",
    "POLL",
    "Change",
    "DriftResult",
    "GitState",
    "demo_drift",
    "desired_from_gitops",
    "heal_delay",
    "plan_change",
    "predicted_backoff",
]

DEMO_ENVS = ("dev", "staging")  # prod drifts like staging; the demo leaves prod alone
CHANGES = drift_kinds.NAMES
OBSERVE = 30.0  # staging: seconds to show that nothing reverts the change


@dataclass(frozen=True)
class DriftResult:
    env: str
    change: str
    dry_run: bool
    description: str  # what was changed, in words
    kubectl: str  # the same change as a kubectl command
    diffs: tuple[FieldDiff, ...] = ()  # desired (git) vs live, right after the change
    out_of_sync_resources: tuple[str, ...] = ()  # what Argo CD listed as OutOfSync (status.resources[])
    seconds_to_detect: float | None = None  # change → OutOfSync reported, or a self-heal sync started
    seconds_to_heal: float | None = None  # change → git's state live again and Synced
    self_healed: bool = False  # the fix was Argo CD's own automated sync (dev)
    heal_operation: str = ""  # what Argo CD's sync reported, e.g. "Deployment/lab-app: configured"
    predicted_backoff: float = 0.0  # seconds the self-heal backoff was expected to hold the heal back
    stayed_out_of_sync_for: float | None = None  # staging: seconds watched while nothing reverted the change
    seconds_to_sync: float | None = None  # staging with heal: `sync` started → Synced with git's state


# ---------------------------------------------------------------------------------------------- desired state source


@dataclass(frozen=True)
class GitState:
    revision: str  # the GitOps commit rendered ("" when unknown)
    docs: tuple[Obj, ...]


DesiredSource = Callable[[Context, str], GitState]


def desired_from_gitops(ctx: Context, env: str) -> GitState:
    """Render overlays/ENV of the GitOps repo's head in the lab's working clone (`kubectl kustomize`)."""
    repo = gitops_repo(ctx, app_root=ROOT, app_sha="")
    repo.open(seed=False)
    revision = repo.resolve(repo.remote_head) or ""
    # repo.runner: in a dry run the repo works on a scratch copy of the remote, for real; rendering only reads
    rendered = kustomize.render(repo.runner, Path(repo.workdir) / "overlays" / env)
    return GitState(revision, _docs(rendered))


def _docs(rendered: str) -> tuple[Obj, ...]:
    return tuple(d for d in yaml.safe_load_all(rendered) if isinstance(d, dict))


def _desired(ctx: Context, env: str, desired: DesiredSource, story: Story) -> GitState:
    """The desired state; in a dry run that cannot read the GitOps repo, overlays/ENV of the lab's own checkout
    (what `invoke up` seeds the repo with), rendered for real: rendering changes nothing."""
    try:
        state = desired(ctx, env)
    except LabError as exc:
        if not ctx.dry_run:
            raise
        story.desired_unreadable(exc.message)
        return GitState("", _docs(kustomize.render(for_reading(ctx.runner), ROOT / "overlays" / env)))
    return state


# ---------------------------------------------------------------------------------------------- a dry run's clients


def _recorders(ctx: Context, env: Environment, state: GitState) -> tuple[Cluster, ApplicationClient]:
    """A cluster that runs what git says and an Argo CD that reports it Synced, both printing every call."""
    show = lambda call: ctx.ui.data(f"# API: {call}")  # noqa: E731
    objects = {}
    for doc in state.docs:
        meta = doc.get("metadata") or {}
        objects[(str(doc.get("kind")), str(meta.get("namespace") or env.namespace), str(meta.get("name")))] = doc
    cluster = kube.RecordingCluster(ctx.settings.kube_context, objects, show)
    app = application(env)
    app["status"] = {"sync": {"status": "Synced", "revision": state.revision}, "health": {"status": "Healthy"}}
    return cluster, ApplicationClient(RecordingApplications(app, show))


# ---------------------------------------------------------------------------------------------- the demo


def demo_drift(
    ctx: Context,
    env: str = "dev",
    change: str = drift_kinds.DEFAULT,
    *,
    cluster: Cluster | None = None,
    apps: ApplicationClient | None = None,
    desired: DesiredSource = desired_from_gitops,
    heal: bool = False,
    observe: float = OBSERVE,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DriftResult:
    """Make a manual change to ENV and narrate what Argo CD does. HEAL (staging): run the sync at the end, as
    `invoke sync staging` would. OBSERVE: seconds to watch staging stay OutOfSync."""
    target = environment(env)
    if env not in DEMO_ENVS:
        raise ConfigError(
            f"the drift demo runs in {' or '.join(DEMO_ENVS)}, not {env}",
            hint="prod has no self-heal, like staging: `invoke demo-drift --env staging` shows that case",
        )
    drift_kinds.kind(change)  # an unknown change is a ConfigError before anything is read
    story = Story(ctx.ui, target, app_name(target), clock)
    if ctx.dry_run:
        story.dry_run(change)
    else:
        apps = apps or ApplicationClient.from_kubeconfig(ctx.settings.kube_context)
        cluster = cluster or kube.KubernetesCluster.from_kubeconfig(ctx.settings.kube_context)
    story.step1()
    with ctx.ui.phase(f"Read the desired state of {env} from the GitOps repo") as ph:
        state = _desired(ctx, env, desired, story)
        ph.note = f"overlays/{env} at {state.revision[:7] or '?'}: {len(state.docs)} objects"
    if ctx.dry_run:
        cluster, apps = _recorders(ctx, target, state)
    assert cluster is not None and apps is not None
    watch = Watch(apps, cluster, story.name, story.progress, clock, sleep)
    status = _synced_and_running(ctx, watch, story, target, state)
    plan = _plan(ctx, target, change, state)
    backoff = predicted_backoff(status, now()) if target.auto_sync else 0.0

    diffs = _make_change(ctx, story, state, cluster, plan)  # 2. the manual change
    base = DriftResult(
        env, change, ctx.dry_run, plan.description, plan.kubectl, tuple(diffs), predicted_backoff=backoff
    )

    story.step3(backoff, status.heal_count)  # 3. Argo CD notices; 4. what it does about it
    if ctx.dry_run:
        noticed, after = drift_watch.planned(story.name, target, plan, backoff, observe=observe, heal=heal)
        story.planned_waits(noticed, observe, after)
        result = base
    else:
        result = _watch(ctx, watch, story, target, plan, status, base, heal=heal, observe=observe)
    story.lessons(plan, result.seconds_to_heal, ctx.settings.kube_context)
    return result


def _synced_and_running(ctx: Context, watch: Watch, story: Story, env: Environment, state: GitState) -> AppStatus:
    """The demo starts from Synced with git's Deployment running: dev gets to Synced by itself, staging is refused
    (it has drift already). Shows git vs live."""
    status = watch.apps.get_app(watch.name)
    if status.sync != "Synced":
        if not env.auto_sync:
            raise Refused(
                f"{watch.name} is already {status.sync or 'Unknown'} ({status.describe()}):"
                " the demo starts from Synced",
                hint=f"sync it first: invoke sync {env.name}",
            )
        with ctx.ui.phase(story.wait_synced_title()):
            status = watch.synced()
    if find(state.docs, "Deployment", APP) is None:
        raise Refused(f"overlays/{env.name} renders no Deployment {APP}", hint="is the GitOps repo seeded? `invoke up`")
    if watch.cluster.get("Deployment", env.namespace, APP) is None:
        raise Refused(f"nothing runs in {env.namespace} yet", hint="`invoke up`, then `invoke ship`")
    story.state(state.docs, watch.cluster, status)
    return status


def _plan(ctx: Context, env: Environment, change: str, state: GitState) -> Change:
    repo = pull_repository(ctx.settings)
    return plan_change(env, change, state.docs, context=ctx.settings.kube_context, image_repo=repo)


def _make_change(ctx: Context, story: Story, state: GitState, cluster: Cluster, plan: Change) -> list[FieldDiff]:
    """Step 2: the change, and what now differs from git (in a dry run: what would, as the change was not sent)."""
    story.step2(plan)
    plan.apply(cluster)
    story.changed_at = story.clock()
    story.note_from(PROGRESS_EVERY)
    diffs = _diffs_after(state, cluster, plan)
    story.diffs(plan, diffs, plan.drifted if ctx.dry_run else plan.read(cluster))
    return diffs


def _diffs_after(state: GitState, cluster: Cluster, plan: Change) -> list[FieldDiff]:
    want = find(state.docs, plan.resource, plan.name)
    if want is None:
        return []
    return object_diff(want, cluster.get(plan.resource, plan.namespace, plan.name))


def _watch(
    ctx: Context,
    watch: Watch,
    story: Story,
    env: Environment,
    plan: Change,
    before: AppStatus,
    base: DriftResult,
    *,
    heal: bool,
    observe: float,
) -> DriftResult:
    """Steps 3 and 4 on a real cluster: Argo CD notices; dev heals itself, staging stays (and is synced: HEAL)."""
    noticed = watch.noticed(before)
    detected_at = story.elapsed()
    story.noticed(noticed.out_of_sync(), detected_at)
    result = replace(base, out_of_sync_resources=tuple(noticed.out_of_sync()), seconds_to_detect=detected_at)
    if env.auto_sync:
        story.step4(observe)
        status = watch.healed(plan, base.predicted_backoff + HEAL_MARGIN)
        healed_at = story.elapsed()
        ours = status.operation_started_at != before.operation_started_at
        story.healed(plan, status, ours, healed_at)
        did = "; ".join(status.operation_results) if ours else ""
        return replace(
            result, seconds_to_heal=healed_at, self_healed=ours and status.operation_automated, heal_operation=did
        )
    return _staging(ctx, watch, story, env, plan, noticed, result, heal=heal, observe=observe)


def _staging(
    ctx: Context,
    watch: Watch,
    story: Story,
    env: Environment,
    plan: Change,
    noticed: AppStatus,
    result: DriftResult,
    *,
    heal: bool,
    observe: float,
) -> DriftResult:
    story.step4(observe)
    if noticed.self_heal:
        story.self_heal_configured()
    first = story.elapsed()
    story.note_from(first + PROGRESS_EVERY)
    reverted = watch.stays(plan, observe)
    stayed = story.elapsed() - first
    if reverted is not None:
        story.reverted(plan, *reverted)
    else:
        story.stayed(stayed)
        result = replace(result, stayed_out_of_sync_for=stayed)
    if not heal:
        story.heal_offered()
        return result
    story.healing()
    start = watch.clock()
    watch.synced_by_hand(plan, f"drift demo: undo '{plan.description}'", ctx.settings.sync_timeout)
    took = watch.clock() - start
    story.synced(plan, took)
    return replace(result, seconds_to_heal=story.elapsed(), seconds_to_sync=took)

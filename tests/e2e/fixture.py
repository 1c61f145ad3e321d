"""Given / When / Then for the lab on a real cluster, modelled on Argo CD's own e2e fixture
(argo-cd `test/e2e/fixture/app`: `context.go` is Given, `actions.go` When, `consequences.go` Then).

- An expectation is a function of nothing that returns ``(State, message)``: SUCCEEDED, PENDING or FAILED
  (``lab.clients.argocd.State``, the same vocabulary as the lab's own waits).
- ``Then.expect`` polls it on Argo CD's schedule (10, 20, 50, 100, 200, 300, 500 ms, then every 1 s;
  consequences.go `Expect`) until it succeeds, fails, or the timeout passes; a timeout reports the last message.
- ``Then.expect_consistently`` polls at a fixed interval for a period and fails at the first poll that does not
  succeed. Argo CD's `ExpectConsistently` fails only on FAILED; here PENDING breaks it too, because "stays
  OutOfSync" must not tolerate one moment of Synced.

One namespace and one repo per test, as Argo CD's suite has, is impossible here: the lab's environments are fixed
(namespaces lab-dev / lab-staging / lab-prod, one GitOps repo, Applications lab-<env>) because they are the product
under test. Tests stay independent instead by: establishing what they need themselves (Given ships, or promotes and
syncs, a release when the environment does not run one), shipping their own unique tag when they deploy
(`<sha7>-<UTC seconds>`), asserting relative to a baseline read at their start (the revision, the last operation,
the self-heal count), and never relying on another test having run. They share one cluster, so they run one at a
time (no pytest-xdist).

The bounds are the constants below (seconds), each with its source; every test prints what it measured next to
the bound it was held to.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.clients import kube
from lab.clients.argocd import ApplicationClient, State
from lab.clients.argocd_status import RUNNING_PHASES, AppStatus, parse_status, same_revision
from lab.core.config import ROOT, Settings, environment
from lab.core.context import Context
from lab.core.errors import LabError
from lab.gitops.overlay import ImageSpec
from lab.gitops.repo import GitOpsRepo
from lab.manifests.argocd import app_name
from lab.steps import drift, release
from lab.steps import ship as ship_step
from lab.tools import docker, probes

Check = Callable[[], tuple[State, str]]
Obj = dict[str, Any]

# Live change → Argo CD reports it. The controller watches the objects it manages and refreshes the app on an
# update or delete (argo-cd controller/appcontroller.go, handleObjectUpdated → requestAppRefresh); the fallback is
# the lab's timeout.reconciliation of 10 s with no jitter (lab/manifests/argocd.py InstallOptions). 30 s leaves
# room for the comparison itself on a busy laptop.
DETECT = 30.0
# dev: live change → git's value back and Synced, on top of the self-heal backoff the test predicts from the
# last operation (first heal of a commit: immediate; then 2 s × 3^(n-1) from the last finish, capped at 300 s:
# argocd-cmd-params-cm controller.self.heal.backoff.* defaults, appcontroller.go selfHealRemainingBackoff).
HEAL = 30.0
# A commit → Synced at it and Healthy: the refresh annotation right after the push (no webhook or poll wait),
# the sync, then a rollout (dev: startup probe every 1 s, minReadySeconds 2 s). settings.sync_timeout is 300 s.
DEPLOY = 300.0
# Rollback (git revert of the last deploy) → the previous image serving: the old image is already on the node.
ROLLBACK = 180.0
# staging and prod: how long drift (or a promoted commit) must stay OutOfSync with nothing reverting it. Without
# spec.syncPolicy.automated Argo CD never syncs by itself (argo-cd docs/user-guide/auto_sync.md).
STAYS = 30.0
# Bad release: how long the unready pod must sit beside the old ones while traffic is sent. Longer than several
# readiness periods (2 s) and the startup probe's 60 s would not matter (/health answers); shorter than the
# Deployment's progressDeadlineSeconds (180 s), after which Argo CD reports Degraded.
STUCK = 30.0

SLEEP_INTERVALS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)  # argo-cd consequences.go Expect
CONSISTENT_INTERVAL = 1.0
SERVING_SAMPLES = 5  # consecutive /version answers that must all name the wanted tag

# The bad release: the same app, started so that /ready stays 503 ("starting") for ever while /health is 200.
# create_app takes a mapping over its Config (app/settings.py collect) and gunicorn calls an app factory with literal
# arguments (gunicorn util.import_app: ast.literal_eval of the call's arguments).
UNREADY_APP = "app:create_app({'READY_ON_CREATE': False})"
UNREADY_CMD = ["gunicorn", "--config", "/srv/app/gunicorn.conf.py", UNREADY_APP]
UNREADY_DOCKERFILE = (
    "ARG GOOD_IMAGE\n"
    "FROM ${GOOD_IMAGE}\n"
    # Not `ARG APP_IMAGE_TAG`: the base image's ENV of that name would win the substitution (Dockerfile reference:
    # "Environment variables defined using the ENV instruction always override an ARG instruction of the same name").
    "ARG UNREADY_TAG\n"
    "ENV APP_IMAGE_TAG=${UNREADY_TAG}\n"
    f"CMD {json.dumps(UNREADY_CMD)}\n"
)


# ---------------------------------------------------------------------------------------------- polling


@dataclass(frozen=True)
class Outcome:
    message: str
    seconds: float
    polls: int


class ExpectationFailed(AssertionError):
    """An expectation failed, timed out (with its last message), or broke while it had to hold."""


@dataclass
class Poller:
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    intervals: Sequence[float] = SLEEP_INTERVALS

    @staticmethod
    def _evaluate(check: Check) -> tuple[State, str]:
        try:
            return check()
        except LabError as exc:  # an API blip while polling: not an answer yet
            return State.PENDING, f"error: {exc.message}"

    def expect(self, check: Check, *, timeout: float, what: str) -> Outcome:
        """Poll until CHECK succeeds (returns when), fails (raises at once), or TIMEOUT passes (raises with the
        last message)."""
        start = self.clock()
        step = -1
        polls = 0
        while True:
            state, message = self._evaluate(check)
            polls += 1
            elapsed = self.clock() - start
            if state is State.SUCCEEDED:
                return Outcome(message, elapsed, polls)
            if state is State.FAILED:
                raise ExpectationFailed(f"{what}: failed after {elapsed:.1f}s: {message}")
            if elapsed >= timeout:
                raise ExpectationFailed(f"{what}: timed out after {timeout:g}s ({polls} polls); last: {message}")
            step = min(step + 1, len(self.intervals) - 1)
            self.sleep(min(self.intervals[step], timeout - elapsed))

    def expect_consistently(
        self, check: Check, *, period: float, what: str, interval: float = CONSISTENT_INTERVAL
    ) -> Outcome:
        """CHECK must succeed at every poll for PERIOD seconds (first and last poll included); the first poll
        that does not succeed fails at once, saying when."""
        start = self.clock()
        polls = 0
        while True:
            try:
                state, message = check()
            except LabError as exc:
                state, message = State.FAILED, f"could not check: {exc.message}"
            polls += 1
            elapsed = self.clock() - start
            if state is not State.SUCCEEDED:
                raise ExpectationFailed(
                    f"{what}: stopped holding after {elapsed:.1f}s (poll {polls}, {state.value}): {message}"
                )
            if elapsed >= period:
                return Outcome(message, elapsed, polls)
            self.sleep(min(interval, period - elapsed))


# ---------------------------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Timing:
    test: str
    what: str
    seconds: float
    bound: float | None = None
    note: str = ""

    def line(self) -> str:
        limit = f" (bound {self.bound:g}s)" if self.bound is not None else ""
        return f"{self.seconds:7.1f}s{limit}  {self.what}" + (f" — {self.note}" if self.note else "")


@dataclass
class Report:
    """Measured times of the whole run: printed in pytest's summary, written as JSON when asked."""

    timings: list[Timing] = field(default_factory=list)

    def add(self, timing: Timing) -> None:
        self.timings.append(timing)
        print(f"[e2e] {timing.test}: {timing.line()}", file=sys.stderr)

    def lines(self) -> list[str]:
        out: list[str] = []
        for test in dict.fromkeys(t.test for t in self.timings):
            out.append(test)
            out += [f"  {t.line()}" for t in self.timings if t.test == test]
        return out

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps([vars(t) for t in self.timings], indent=2) + "\n")


# ---------------------------------------------------------------------------------------------- the lab under test


@dataclass(frozen=True)
class Release:
    """What an environment deploys: the overlay's image, its tag and registry digest, the GitOps commit."""

    env: str
    image: str
    tag: str
    digest: str
    gitops_commit: str


@dataclass
class Lab:
    """Everything a test touches: settings, a Context for the lab's own steps, Argo CD, the cluster, HTTP."""

    settings: Settings
    ctx: Context
    apps: ApplicationClient
    cluster: kube.Cluster
    report: Report = field(default_factory=Report)
    poller: Poller = field(default_factory=Poller)
    http_get: Callable[[str], probes.HttpAnswer | None] = probes.http_get
    root: Path = ROOT

    def url(self, env: str, path: str) -> str:
        return f"http://127.0.0.1:{environment(env).host_port}{path}"

    def app(self, env: str) -> Obj:
        """ENV's Application object as the API server returns it (through the client's error mapping)."""
        return self.apps.get_object(app_name(environment(env)))

    def status(self, env: str) -> AppStatus:
        return self.apps.get_app(app_name(environment(env)))

    def gitops(self) -> GitOpsRepo:
        repo = ship_step.gitops_repo(self.ctx, app_root=self.root, app_sha="")
        repo.open(seed=False)
        return repo

    def release(self, env: str) -> Release | None:
        """What the GitOps repo deploys to ENV now (None: still the seed)."""
        repo = self.gitops()
        spec = repo.image(env)
        records = repo.history(env, max_count=1)
        if spec is None or not records or spec.new_tag == "seed":
            return None
        head = repo.resolve(repo.remote_head) or ""
        return Release(env, spec.reference, spec.new_tag, spec.digest or records[0].digest, head)

    def invoke(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Run `invoke ARGS` from the repo root, as a learner would; fails the test with its output on error."""
        beside = Path(sys.executable).parent / "invoke"
        argv = [str(beside)] if beside.is_file() else [sys.executable, "-m", "invoke"]
        proc = subprocess.run(
            [*argv, *args],
            cwd=self.root,
            stdin=subprocess.DEVNULL,  # never wait for an answer: a question is a failure here
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise ExpectationFailed(
                f"`invoke {' '.join(args)}` exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n"
                f"--- stderr\n{proc.stderr[-3000:]}"
            )
        return proc


# ---------------------------------------------------------------------------------------------- expectations


def app_is(
    lab: Lab,
    env: str,
    *,
    sync: str | None = None,
    health: str | None = None,
    revision: str | None = None,
    image: str | None = None,
) -> Check:
    """The Application reports SYNC / HEALTH (at REVISION, with IMAGE in status.summary.images), no sync running."""

    def check() -> tuple[State, str]:
        status = lab.status(env)
        seen = status.describe()
        if status.operation_requested or status.operation_phase in RUNNING_PHASES:
            return State.PENDING, f"a sync is running ({seen})"
        if revision is not None and not same_revision(status.revision, revision):
            return State.PENDING, f"at {status.revision[:7] or '?'}, want {revision[:7]} ({seen})"
        if sync is not None and status.sync != sync:
            return State.PENDING, f"sync is {status.sync or 'Unknown'}, want {sync} ({seen})"
        if health is not None and status.health != health:
            return State.PENDING, f"health is {status.health or 'Unknown'}, want {health} ({seen})"
        if image is not None and image not in status.images:
            return State.PENDING, f"images {', '.join(status.images) or 'none'}, want {image}"
        return State.SUCCEEDED, seen

    return check


def resource_out_of_sync(lab: Lab, env: str, kind: str, name: str = "lab-app") -> Check:
    """Argo CD marks KIND/NAME OutOfSync in status.resources[] (and the app OutOfSync)."""
    ns = environment(env).namespace

    def check() -> tuple[State, str]:
        status = lab.status(env)
        listed = status.out_of_sync()
        wanted = f"{kind} {ns}/{name}"
        if status.sync == "OutOfSync" and any(r.startswith(wanted) for r in listed):
            return State.SUCCEEDED, f"OutOfSync: {', '.join(listed)}"
        return State.PENDING, f"sync={status.sync or 'Unknown'}, OutOfSync resources: {', '.join(listed) or 'none'}"

    return check


def healed(lab: Lab, env: str, plan: drift.Change, baseline: AppStatus) -> Check:
    """git's value is live again, the app is Synced with no sync running, and the fix was a sync that started after
    the baseline and was automated (self-heal) — not someone else's."""

    def check() -> tuple[State, str]:
        status = lab.status(env)
        value = plan.read(lab.cluster)
        if value != plan.desired:
            return State.PENDING, f"{plan.path} is {value} (git: {plan.desired}); {status.describe()}"
        if status.sync != "Synced" or status.operation_requested or status.operation_phase in RUNNING_PHASES:
            return State.PENDING, f"{plan.path} back, app {status.describe()}"
        if (
            status.operation_started_at == baseline.operation_started_at
        ):  # pending, not failed: the status may lag the sync by a poll
            return State.PENDING, f"{plan.path} is back but no sync since the change is recorded ({status.describe()})"
        if not status.operation_automated:
            return State.FAILED, f"the fix was not Argo CD's automated sync: {status.describe()}"
        return State.SUCCEEDED, (
            f"self-heal #{status.heal_count}: {'; '.join(status.operation_results) or status.operation_phase}"
        )

    return check


def stays_drifted(lab: Lab, env: str, plan: drift.Change) -> Check:
    """For expect_consistently: still OutOfSync and the hand change still live."""

    def check() -> tuple[State, str]:
        status = lab.status(env)
        value = plan.read(lab.cluster)
        if status.sync != "OutOfSync":
            return State.FAILED, f"{app_name(environment(env))} is {status.sync}: {status.describe()}"
        if value != plan.drifted:
            return State.FAILED, f"{plan.path} is {value}, the hand change ({plan.drifted}) was reverted"
        return State.SUCCEEDED, f"OutOfSync, {plan.path} = {value}"

    return check


def field_is(lab: Lab, plan: drift.Change, value: str) -> Check:
    def check() -> tuple[State, str]:
        live = plan.read(lab.cluster)
        return (State.SUCCEEDED if live == value else State.PENDING), f"{plan.path} = {live} (want {value})"

    return check


def serving(lab: Lab, env: str, tag: str, samples: int = SERVING_SAMPLES) -> Check:
    """SAMPLES requests in a row to http://127.0.0.1:<port>/version all answer with image_tag TAG."""

    def check() -> tuple[State, str]:
        seen: list[str] = []
        for _ in range(samples):
            answer = lab.http_get(lab.url(env, "/version"))
            if answer is None or answer.status != 200:
                return State.PENDING, f"GET /version: {answer.status if answer else 'no answer'}"
            try:
                got = str(json.loads(answer.body).get("image_tag", ""))
            except ValueError:
                return State.PENDING, f"GET /version: not JSON: {answer.body[:80]!r}"
            if got != tag:
                return State.PENDING, f"serving {got}, want {tag} (after {len(seen)} good answers)"
            seen.append(got)
        return State.SUCCEEDED, f"{samples}/{samples} answers serve {tag}"

    return check


def _pods(lab: Lab, env: str) -> list[Obj]:
    return lab.cluster.list("Pod", environment(env).namespace, kube.selector({"app.kubernetes.io/name": "lab-app"}))


def _image(pod: Obj) -> str:
    return str((kube.container(pod, drift.CONTAINER) or {}).get("image", ""))


def pods_run_digest(lab: Lab, env: str, digest: str) -> Check:
    """Every lab-app pod of ENV is Ready and its container runs image DIGEST (status.containerStatuses[].imageID)."""
    replicas = environment(env).replicas

    def check() -> tuple[State, str]:
        pods = [p for p in _pods(lab, env) if not (p.get("metadata") or {}).get("deletionTimestamp")]
        ids = [(kube.pod_ready(p), kube.pod_image_ids(p)) for p in pods]
        good = [1 for ready, images in ids if ready and images and all(i.endswith("@" + digest) for i in images)]
        message = f"{len(good)}/{len(pods)} pods Ready on {digest[:19]} (want {replicas}): {ids}"
        return (State.SUCCEEDED if len(good) == len(pods) == replicas else State.PENDING), message

    return check


def rollout_held(lab: Lab, env: str, bad_image: str, *, min_ready: int) -> Check:
    """The bad release's pod exists and is not Ready, while at least MIN_READY pods of another image are Ready."""

    def check() -> tuple[State, str]:
        pods = _pods(lab, env)
        bad = [p for p in pods if _image(p) == bad_image]
        old_ready = [p for p in pods if _image(p) != bad_image and kube.pod_ready(p)]
        summary = f"{len(bad)} new pod(s) ({sum(kube.pod_ready(p) for p in bad)} Ready), {len(old_ready)} old Ready"
        if any(kube.pod_ready(p) for p in bad):
            return State.FAILED, f"a pod of the unready image became Ready: {summary}"
        if not bad:
            return State.PENDING, f"no pod of {bad_image} yet: {summary}"
        if len(old_ready) < min_ready:
            return State.FAILED, f"old pods were taken out of service: {summary}"
        return State.SUCCEEDED, summary

    return check


# ---------------------------------------------------------------------------------------------- traffic


@dataclass
class Traffic:
    """GET a URL every INTERVAL seconds in a thread, until stopped or MAX_SECONDS passed (it stops by itself)."""

    get: Callable[[str], probes.HttpAnswer | None]
    url: str
    interval: float = 0.2
    max_seconds: float = 900.0
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, name="e2e-traffic", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            answer = self.get(self.url)
            if answer is not None and answer.status == 200:
                self.ok += 1
            else:
                stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
                self.failures.append(f"{stamp} {answer.status if answer else 'no answer'}")
            self._stop.wait(self.interval)

    def stop(self) -> Traffic:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self


# ---------------------------------------------------------------------------------------------- commit-to-live steps

TIMELINE_INTERVAL = 0.25  # seconds between the timeline's polls of the Application and /version


def _parse_time(stamp: object) -> datetime | None:
    """An RFC 3339 time as the API writes it (metav1.Time: whole seconds, "Z"), or None."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Step:
    """One step of a deploy: seconds after the push (None: not seen), and where the instant comes from."""

    what: str
    seconds: float | None
    source: str


def breakdown(
    pushed_at: datetime,
    commit: str,
    image: str,
    app: Obj,
    pods: Sequence[Obj],
    observed: Mapping[str, float],
) -> list[Step]:
    """Where a commit-to-live went, step by step, in seconds after the push (PUSHED_AT, wall clock).

    From the API (whole seconds: metav1.Time is written with second precision, so these read up to 1 s early):
    the sync the Application ran for COMMIT (status.operationState.startedAt / finishedAt, argo-cd
    pkg/apis/application/v1alpha1/types.go OperationState), and the pod of IMAGE: metadata.creationTimestamp,
    its container's state.running.startedAt and its Ready condition's lastTransitionTime (k8s
    staging/src/k8s.io/api/core/v1/types.go ContainerStateRunning, PodCondition). From OBSERVED (the Timeline's
    polls, seconds after the push): when Argo CD first reported COMMIT as the compared revision (the refresh
    done), when it first reported Synced + Healthy there, and the first 200 from /version naming the new tag."""

    def since(stamp: object) -> float | None:
        at = _parse_time(stamp)
        return None if at is None else round((at - pushed_at).total_seconds(), 3)

    status = app.get("status") or {}
    op = status.get("operationState") or {}
    op_revision = str(
        (op.get("syncResult") or {}).get("revision")
        or ((op.get("operation") or {}).get("sync") or {}).get("revision")
        or ""
    )
    ours = same_revision(op_revision, commit)
    new = [p for p in pods if _image(p) == image]
    new.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")))
    pod = new[0] if new else {}
    running = next(
        (
            (c.get("state") or {}).get("running") or {}
            for c in (pod.get("status") or {}).get("containerStatuses") or []
            if c.get("name") == drift.CONTAINER
        ),
        {},
    )
    ready = next(
        (
            c.get("lastTransitionTime")
            for c in (pod.get("status") or {}).get("conditions") or []
            if c.get("type") == "Ready" and c.get("status") == "True"
        ),
        None,
    )
    polled = "observed (Timeline polls)"
    return [
        Step("Argo CD compared the new commit (refresh done)", observed.get("refreshed"), polled),
        Step("sync started", since(op.get("startedAt")) if ours else None, "status.operationState.startedAt"),
        Step("sync finished", since(op.get("finishedAt")) if ours else None, "status.operationState.finishedAt"),
        Step("new pod created", since((pod.get("metadata") or {}).get("creationTimestamp")), "pod creationTimestamp"),
        Step("container started", since(running.get("startedAt")), "containerStatuses[].state.running.startedAt"),
        Step("pod Ready", since(ready), "pod condition Ready lastTransitionTime"),
        Step("Argo CD Synced + Healthy", *_healthy(observed)),
        Step("first 200 from the new version", observed.get("served"), polled),
    ]


def _healthy(observed: Mapping[str, float]) -> tuple[float | None, str]:
    """When Argo CD was first seen Synced + Healthy: the Timeline's poll, else the suite's own (1 s) poll."""
    if "healthy" in observed:
        return observed["healthy"], "observed (Timeline polls)"
    if "healthy_poll" in observed:
        return observed["healthy_poll"], "observed (the suite's poll, every 1 s)"
    return None, "observed (Timeline polls)"


@dataclass
class Timeline:
    """Polls one deploy in a thread (every INTERVAL s, at most MAX_SECONDS) and notes the first instant, in seconds
    since it started, at which Argo CD reported COMMIT as compared (``refreshed``), Synced + Healthy at it
    (``healthy``), and /version first answered TAG (``served``)."""

    read_app: Callable[[], Obj]
    get_version: Callable[[], probes.HttpAnswer | None]
    commit: str
    tag: str
    clock: Callable[[], float] = time.monotonic
    interval: float = TIMELINE_INTERVAL
    max_seconds: float = DEPLOY
    seen: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def poll_once(self, start: float) -> None:
        elapsed = self.clock() - start
        try:
            status = parse_status(self.read_app())
        except LabError:
            status = None
        if status is not None and same_revision(status.revision, self.commit):
            self.seen.setdefault("refreshed", elapsed)
            if status.sync == "Synced" and status.health == "Healthy" and not status.operation_requested:
                self.seen.setdefault("healthy", elapsed)
        if "served" not in self.seen:
            answer = self.get_version()
            if answer is not None and answer.status == 200:
                try:
                    tag = str(json.loads(answer.body).get("image_tag", ""))
                except (ValueError, AttributeError):  # not JSON, or not an object: not the new version
                    tag = ""
                if tag == self.tag:
                    self.seen["served"] = self.clock() - start

    def done(self) -> bool:
        return {"refreshed", "healthy", "served"} <= self.seen.keys()

    def start(self) -> Timeline:
        start = self.clock()

        def run() -> None:
            while not self._stop.is_set() and not self.done() and self.clock() - start < self.max_seconds:
                self.poll_once(start)
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=run, name="e2e-timeline", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return dict(self.seen)


# ---------------------------------------------------------------------------------------------- Given / When / Then


class Scenario:
    """One test's run: the lab, its marks (named instants), its baselines and what it shipped."""

    def __init__(self, lab: Lab, test: str) -> None:
        self.lab = lab
        self.test = test
        self.marks: dict[str, float] = {}
        self.walls: dict[str, datetime] = {}  # the same instants on the wall clock (to compare with API times)
        self.timeline: Timeline | None = None
        self.baselines: dict[str, AppStatus] = {}
        self.backoff: dict[str, float] = {}
        self.releases: dict[str, Release] = {}
        self.shipped: list[ship_step.ShipResult] = []
        self.plan: drift.Change | None = None
        self.traffic: Traffic | None = None
        self.rolled_back: release.RollbackResult | None = None

    def given(self) -> Given:
        return Given(self)

    def when(self) -> When:
        return When(self)

    def then(self) -> Then:
        return Then(self)

    def mark(self, name: str) -> None:
        self.marks[name] = self.lab.poller.clock()
        self.walls[name] = datetime.now(UTC)

    def since(self, name: str) -> float:
        return self.lab.poller.clock() - self.marks[name]

    def record(self, what: str, seconds: float, bound: float | None = None, note: str = "") -> None:
        self.lab.report.add(Timing(self.test, what, seconds, bound, note))


class _Stage:
    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.lab = scenario.lab

    def given(self) -> Given:
        return Given(self.s)

    def when(self) -> When:
        return When(self.s)

    def then(self) -> Then:
        return Then(self.s)


class Given(_Stage):
    def synced(self, env: str, *, healthy: bool = True) -> Given:
        """ENV is Synced (and Healthy) with no sync running; its last operation becomes the baseline."""
        self.lab.poller.expect(
            app_is(self.lab, env, sync="Synced", health="Healthy" if healthy else None),
            timeout=DEPLOY,
            what=f"given {env} Synced",
        )
        status = self.lab.status(env)
        self.s.baselines[env] = status
        self.s.backoff[env] = drift.predicted_backoff(status, datetime.now(UTC))
        return self

    def release_in(self, env: str, *, not_in: Sequence[str] = ()) -> Given:
        """ENV runs a release the pipeline made (not the seed), Synced and Healthy, that the environments NOT_IN
        do not deploy yet. Ships (dev) or promotes and syncs (staging, prod) when it does not."""
        current = self.lab.release(env)
        status = self.lab.status(env)
        fine = (
            current is not None
            and status.sync == "Synced"
            and status.health == "Healthy"
            and current.image in status.images
            and all((other := self.lab.release(e)) is None or other.image != current.image for e in not_in)
        )
        if not fine:
            target = environment(env)
            if target.rank == 0:
                self.when().ship()
                self.then().deployed("dev")
            else:
                before = next(e for e in ("dev", "staging") if environment(e).rank == target.rank - 1)
                self.release_in(before, not_in=(env, *not_in))
                self.when().promote(before, env).sync(env)
                self.then().expect(app_is(self.lab, env, sync="Synced", health="Healthy"), DEPLOY, f"{env} synced")
            current = self.lab.release(env)
        assert current is not None, f"{env} still deploys the seed"
        self.s.releases[env] = current
        return self

    def traffic(self, env: str, path: str = "/health") -> Given:
        self.s.traffic = Traffic(self.lab.http_get, self.lab.url(env, path)).start()
        return self


class When(_Stage):
    def ship(self) -> When:
        """`invoke ship` through the lab's step (gate, build, push, bump dev), then a refresh of dev."""
        self.s.mark("ship")
        result = ship_step.ship(self.lab.ctx, allow_dirty=True, no_wait=True)
        self.s.shipped.append(result)
        self.s.record("ship: gate, build, push, commit", self.s.since("ship"), note=result.tag)
        self.s.mark("pushed")
        self.s.timeline = Timeline(
            read_app=lambda: self.lab.app("dev"),
            get_version=lambda: self.lab.http_get(self.lab.url("dev", "/version")),
            commit=result.gitops_commit,
            tag=result.tag,
            clock=self.lab.poller.clock,
        ).start()
        return self.refresh("dev")

    def ship_unready(self) -> When:
        """Build an image of the dev release whose /ready never passes, push it and deploy it to dev."""
        good = self.s.releases["dev"]
        repos = ship_step.repositories(self.lab.settings)
        good_push = f"{repos.push}:{good.tag}"
        runner = self.lab.ctx.runner
        if not docker.image_exists(runner, good_push):
            docker.pull(runner, good_push)
        tag = f"{good.tag}-unready"
        build_dir = Path(self.lab.settings.state_dir) / "e2e-unready"
        build_dir.mkdir(parents=True, exist_ok=True)
        (build_dir / "Dockerfile").write_text(UNREADY_DOCKERFILE)
        docker.build(
            runner,
            build_dir,
            [f"{repos.push}:{tag}"],
            build_args={"GOOD_IMAGE": good_push, "UNREADY_TAG": tag},
            labels=docker.labels_for("app", self.lab.settings.cluster_name),
        )
        digest = docker.push(runner, f"{repos.push}:{tag}")
        spec = ImageSpec(repos.pull, tag)
        committed = self.lab.gitops().bump("dev", spec, app_commit="e2e-unready", digest=digest)
        self.s.releases["bad"] = Release("dev", spec.reference, tag, digest, committed.sha)
        self.s.mark("pushed")
        return self.refresh("dev")

    def refresh(self, env: str) -> When:
        self.lab.apps.refresh(app_name(environment(env)))
        return self

    def drift(self, env: str, change: str) -> When:
        """The demo's own manual change (lab.steps.drift), sized from what git renders for ENV."""
        state = drift.desired_from_gitops(self.lab.ctx, env)
        repo = ship_step.repositories(self.lab.settings).pull
        plan = drift.plan_change(
            environment(env), change, state.docs, context=self.lab.settings.kube_context, image_repo=repo
        )
        assert plan.read(self.lab.cluster) == plan.desired, f"{env} already drifted before the test: {plan.path}"
        self.s.plan = plan
        plan.apply(self.lab.cluster)
        self.s.mark("drift")
        return self

    def rollback(self, env: str) -> When:
        """`invoke rollback` through the lab's step: git revert of the last deploy, pushed; then a refresh."""
        self.s.mark("rollback")
        self.s.rolled_back = release.rollback(self.lab.ctx, env, no_wait=True)
        return self.refresh(env)

    def promote(self, source: str, target: str) -> When:
        result = release.promote(self.lab.ctx, source, target)
        self.s.releases[f"promoted-{target}"] = Release(target, result.image, "", result.digest, result.gitops_commit)
        self.s.mark(f"promoted-{target}")
        return self.refresh(target)

    def sync(self, env: str) -> When:
        """`invoke sync ENV` (`--yes` for prod), the command the learner types for manual-sync environments."""
        self.s.mark(f"sync-{env}")
        self.lab.invoke("sync", env, *(["--yes"] if env == "prod" else []))  # prod asks for a confirmation
        self.s.record(f"invoke sync {env}", self.s.since(f"sync-{env}"))
        return self


class Then(_Stage):
    def expect(
        self, check: Check, timeout: float, what: str, *, since: str | None = None, record: str | None = None
    ) -> Then:
        outcome = self.lab.poller.expect(check, timeout=timeout, what=what)
        if since is not None:
            self.s.record(record or what, self.s.since(since), timeout, outcome.message)
        return self

    def expect_consistently(self, check: Check, period: float, what: str) -> Then:
        outcome = self.lab.poller.expect_consistently(check, period=period, what=what)
        self.s.record(f"held: {what}", outcome.seconds, period, f"{outcome.polls} polls")
        return self

    def deployed(self, env: str, release_: ship_step.ShipResult | None = None) -> Then:
        """The last ship is live in ENV: Synced at its commit, Healthy, its image in the app, serving its tag."""
        shipped = release_ or self.s.shipped[-1]
        self.expect(
            app_is(self.lab, env, sync="Synced", health="Healthy", revision=shipped.gitops_commit),
            DEPLOY,
            f"{env} Synced + Healthy at {shipped.gitops_commit[:7]}",
            since="pushed",
            record="commit pushed → Synced + Healthy",
        )
        healthy_at = self.s.since("pushed")
        self.expect(app_is(self.lab, env, image=shipped.deployed_image), DEPLOY, f"{env} runs {shipped.deployed_image}")
        self.expect(
            serving(self.lab, env, shipped.tag),
            DEPLOY,
            f"{env} serves /version {shipped.tag}",
            since="pushed",
            record="commit pushed → new /version served",
        )
        return self.steps(env, shipped, healthy_at=healthy_at)

    def steps(self, env: str, shipped: ship_step.ShipResult, *, healthy_at: float | None = None) -> Then:
        """Record where the last commit-to-live went (breakdown), when a Timeline watched it. HEALTHY_AT: when this
        suite's own poll saw Synced + Healthy (used when the Timeline was stopped before its next poll saw it)."""
        timeline, self.s.timeline = self.s.timeline, None
        if timeline is None or timeline.commit != shipped.gitops_commit:
            return self
        observed = timeline.stop()
        if healthy_at is not None:
            observed.setdefault("healthy_poll", healthy_at)
        steps = breakdown(
            self.s.walls["pushed"],
            shipped.gitops_commit,
            shipped.deployed_image,
            self.lab.app(env),
            _pods(self.lab, env),
            observed,
        )
        for step in steps:
            if step.seconds is not None:
                self.s.record(f"commit-to-live step: push → {step.what}", step.seconds, note=step.source)
        return self

    def traffic_never_failed(self, *, min_requests: int) -> Then:
        traffic = self.s.traffic
        assert traffic is not None, "no traffic was started (Given.traffic)"
        traffic.stop()
        self.s.traffic = None
        self.s.record(f"requests to {traffic.url}", 0.0, note=f"{traffic.ok} ok, {len(traffic.failures)} failed")
        assert not traffic.failures, (
            f"{len(traffic.failures)} of {traffic.ok + len(traffic.failures)} failed: {traffic.failures[:10]}"
        )
        assert traffic.ok >= min_requests, f"only {traffic.ok} requests were made (want ≥ {min_requests})"
        return self

    def and_(self, block: Callable[[Scenario], object]) -> Then:
        block(self.s)
        return self


# ---------------------------------------------------------------------------------------------- reaching the cluster

UP_ENV = "LAB_E2E_UP"
REQUIRE_ENV = "LAB_REQUIRE_CLUSTER"
UP_TIMEOUT = 1800  # seconds for `invoke up` on a fresh runner (image pulls, Argo CD rollout)


@dataclass(frozen=True)
class Access:
    """How the suite reaches the lab: its cluster and Argo CD when they answer, else ``reason`` to skip with."""

    cluster: kube.Cluster | None
    apps: ApplicationClient | None
    reason: str = ""


Probe = Callable[[Settings], tuple[kube.Cluster, ApplicationClient]]


def probe(settings: Settings) -> tuple[kube.Cluster, ApplicationClient]:
    """The lab's cluster and Argo CD, or a LabError saying what did not answer."""
    cluster = kube.KubernetesCluster.from_kubeconfig(settings.kube_context)
    cluster.version()
    apps = ApplicationClient.from_kubeconfig(settings.kube_context)
    apps.get_app("lab-dev")
    return cluster, apps


def docker_answers() -> str:
    """Empty when a Docker engine answers, else why not."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    proc = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=30
    )
    return "" if proc.returncode == 0 else f"no Docker engine answers ({proc.stderr.strip().splitlines()[-1:]})"


def invoke_up(root: Path = ROOT) -> None:
    beside = Path(sys.executable).parent / "invoke"
    argv = [str(beside)] if beside.is_file() else [sys.executable, "-m", "invoke"]
    subprocess.run([*argv, "up"], cwd=root, check=True, timeout=UP_TIMEOUT)


def cluster_access(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    probe: Probe = probe,
    docker: Callable[[], str] = docker_answers,
    up: Callable[[], None] = invoke_up,
) -> Access:
    """Reuse the lab cluster, create it (LAB_E2E_UP=1 and Docker), or say why not."""
    context = settings.kube_context
    try:
        cluster, apps = probe(settings)
        return Access(cluster, apps)
    except LabError as exc:
        first = exc.message
    if environ.get(UP_ENV) != "1":
        return Access(
            None,
            None,
            f"no lab cluster: {first} — bring the lab up first (`make up`), or set {UP_ENV}=1 to let the suite run"
            " `invoke up`",
        )
    why_not = docker()
    if why_not:
        kind = "kind found" if shutil.which("kind") else "kind not installed"
        return Access(None, None, f"no lab cluster ({first}) and none can be created: {why_not}; {kind}")
    up()
    try:
        cluster, apps = probe(settings)
    except LabError as exc:
        return Access(
            None, None, f"`invoke up` finished but the lab cluster ({context}) does not answer: {exc.message}"
        )
    return Access(cluster, apps)

"""`invoke demo-drift`: a hand-made change to a running environment, and what Argo CD does about it.

    1. desired state (git: the env's overlay rendered from the GitOps repo) next to the live state (the cluster)
    2. the manual change, through the Kubernetes API (scale | image | delete | env), with its kubectl equivalent
    3. Argo CD noticing: the Application goes OutOfSync; which resources, and which fields differ
    4. dev (automated sync + selfHeal): the change reverted, timed from the change to Synced again
       staging (no automated sync): it stays OutOfSync for a while, why, and `invoke sync staging` to heal it
    5. what was learned, and commands to try next

Argo CD facts the demo relies on (Argo CD v3.5):
- The application controller watches the live objects it manages: an update or delete of one requests a refresh
  of its Application at once (argo-cd `controller/appcontroller.go`, `handleObjectUpdated` → `requestAppRefresh`),
  so drift shows in seconds; the lab's `timeout.reconciliation` (10 s, lab/manifests/argocd.py) is the fallback.
- `status.resources[]` holds a per-resource `status` (Synced | OutOfSync) — the v3.5.1 Application CRD.
- With `automated.selfHeal`, a drift of an already-synced commit is synced again after a backoff that grows with
  each consecutive heal of the same commit: `operation.sync.autoHealAttemptsCount` (CRD) counts them, the wait is
  2 s × 3^(n-1) capped at 300 s (argocd-cmd-params-cm `controller.self.heal.backoff.*` defaults), measured from
  the last operation's `finishedAt` (argo-cd `controller/appcontroller.go`, `selfHealRemainingBackoff`).
  The first heal after a new commit is immediate.
- Without `automated`, Argo CD only reports: "By default, changes that are made to the live cluster will not
  trigger automated sync" (argo-cd `docs/user-guide/auto_sync.md`).
- Argo CD compares the fields git sets: a field git does not set (e.g. a new env var added by hand) is not a diff
  (argo-cd issues 4537, 7611). So `--change env` changes PORT, which the base Deployment sets.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes.client.exceptions import ApiException

from lab.clients import kube
from lab.clients.argocd import NAMESPACE as ARGOCD_NAMESPACE
from lab.clients.argocd import RUNNING_PHASES, ApplicationClient, AppStatus, parse_status, synced_healthy
from lab.clients.kube import Cluster, Obj
from lab.core.config import ROOT, Environment, environment
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable, ConfigError, NotReady, Refused
from lab.manifests.argocd import app_name
from lab.steps.ship import gitops_repo, repositories
from lab.tools import kustomize

DEMO_ENVS = ("dev", "staging")  # prod drifts like staging; the demo leaves prod alone
CHANGES = ("scale", "image", "delete", "env")
APP = "lab-app"  # Deployment and Service of every overlay
CONTAINER = "app"  # the container in overlays/base/deployment.yaml
HAND_TAG = "hotfix-by-hand"  # a tag no pipeline ever pushes: its pods cannot pull it
ENV_VAR = "PORT"  # the one env var the base Deployment sets on the container (the rest come from a ConfigMap)
ENV_VALUE = "8001"  # git says 8000: the new pod listens where no probe looks, so it never becomes ready
SCALE_BY = 2

POLL = 0.5  # seconds between looks at the Application and the live object
PROGRESS_EVERY = 5.0  # seconds between "still waiting" lines
DETECT_TIMEOUT = 60.0  # change → OutOfSync: watch-driven, normally 1-3 s; 10 s reconciliation as the fallback
HEAL_MARGIN = 60.0  # dev: seconds allowed after the predicted self-heal backoff for the sync itself
OBSERVE = 30.0  # staging: seconds to show that nothing reverts the change

# Self-heal backoff defaults (argocd-cmd-params-cm controller.self.heal.backoff.timeout.seconds / factor /
# cap.seconds; argo-cd v3.5.1 cmd/argocd-application-controller/commands/argocd_application_controller.go).
# The lab does not change them.
BACKOFF_SECONDS = 2.0
BACKOFF_FACTOR = 3.0
BACKOFF_CAP = 300.0


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FieldDiff:
    resource: str  # "Deployment/lab-app"
    path: str  # "spec.replicas", "spec.template.spec.containers[name=app].image", "(object)"
    desired: str
    live: str


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


# ---------------------------------------------------------------------------------------------- the change


@dataclass(frozen=True)
class ManualChange:
    change: str
    kind: str  # Deployment | Service
    namespace: str
    name: str
    description: str
    kubectl: str
    api_call: str  # the Python client call the demo makes
    path: str  # the field git sets that the change alters
    desired: str  # its value in git
    drifted: str  # its value after the change
    apply: Callable[[Cluster], None] = field(compare=False, repr=False)

    def read(self, cluster: Cluster) -> str:
        """The field's live value now, rendered like ``desired`` / ``drifted``."""
        return read_field(self.change, cluster.get(self.kind, self.namespace, self.name))


def read_field(change: str, live: Obj | None) -> str:
    if change == "delete":
        return "present" if live is not None else "deleted"
    if live is None:
        return "(no Deployment)"
    if change == "scale":
        return str((live.get("spec") or {}).get("replicas", ""))
    box = kube.container(live, CONTAINER)
    if change == "image":
        return str((box or {}).get("image", ""))
    value = kube.env_value(box, ENV_VAR)
    return "(unset)" if value is None else value


def _repository(image: str) -> str:
    """`host/name` of `host/name:tag@digest`."""
    rest = image.split("@", 1)[0]
    head, _, last = rest.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def plan_change(
    env: Environment, change: str, desired: Sequence[Obj], *, context: str, image_repo: str
) -> ManualChange:
    """The manual change for CHANGE, sized from the desired state (the rendered overlay)."""
    if change not in CHANGES:
        raise ConfigError(f"unknown change {change!r}", hint=f"valid changes: {', '.join(CHANGES)}")
    ns = env.namespace
    deployment = find(desired, "Deployment", APP) or {}
    box = kube.container(deployment, CONTAINER) if deployment else None
    if change == "scale":
        replicas = int((deployment.get("spec") or {}).get("replicas", env.replicas))
        target = replicas + SCALE_BY
        return ManualChange(
            change,
            "Deployment",
            ns,
            APP,
            f"scale Deployment {APP} from {replicas} to {target} replicas",
            kube.kubectl_scale(context, ns, APP, target),
            f"AppsV1Api.patch_namespaced_deployment_scale({APP!r}, {ns!r}, {json.dumps(kube.scale_patch(target))})",
            "spec.replicas",
            str(replicas),
            str(target),
            lambda cluster: cluster.scale(ns, APP, target),
        )
    if change == "image":
        current = str((box or {}).get("image") or f"{image_repo}:TAG")
        image = f"{_repository(current) if box else image_repo}:{HAND_TAG}"
        return ManualChange(
            change,
            "Deployment",
            ns,
            APP,
            f"set the image of container {CONTAINER} to {image} (a tag no pipeline pushed)",
            kube.kubectl_set_image(context, ns, APP, CONTAINER, image),
            f"AppsV1Api.patch_namespaced_deployment({APP!r}, {ns!r}, {json.dumps(kube.image_patch(CONTAINER, image))},"
            f" _content_type={kube.STRATEGIC_MERGE_PATCH!r})",
            f"spec.template.spec.containers[name={CONTAINER}].image",
            current,
            image,
            lambda cluster: cluster.set_image(ns, APP, CONTAINER, image),
        )
    if change == "env":
        current = kube.env_value(box, ENV_VAR) or "8000"
        return ManualChange(
            change,
            "Deployment",
            ns,
            APP,
            f"set env {ENV_VAR}={ENV_VALUE} on container {CONTAINER} (git says {current})",
            kube.kubectl_set_env(context, ns, APP, CONTAINER, ENV_VAR, ENV_VALUE),
            f"AppsV1Api.patch_namespaced_deployment({APP!r}, {ns!r}, "
            f"{json.dumps(kube.env_patch(CONTAINER, ENV_VAR, ENV_VALUE))}, "
            f"_content_type={kube.STRATEGIC_MERGE_PATCH!r})",
            f"spec.template.spec.containers[name={CONTAINER}].env[name={ENV_VAR}].value",
            current,
            ENV_VALUE,
            lambda cluster: cluster.set_env(ns, APP, CONTAINER, ENV_VAR, ENV_VALUE),
        )
    return ManualChange(
        change,
        "Service",
        ns,
        APP,
        f"delete Service {APP} (http://127.0.0.1:{env.host_port} stops answering)",
        kube.kubectl_delete(context, ns, "Service", APP),
        f"CoreV1Api.delete_namespaced_service({APP!r}, {ns!r})",
        "(object)",
        "present",
        "deleted",
        lambda cluster: cluster.delete("Service", ns, APP),
    )


# ---------------------------------------------------------------------------------------------- desired vs live

MISSING = object()
COMPARED = ("labels", "annotations")  # of metadata; plus spec and data


def find(docs: Sequence[Obj], kind: str, name: str) -> Obj | None:
    return next((d for d in docs if d.get("kind") == kind and (d.get("metadata") or {}).get("name") == name), None)


def _show(value: Any) -> str:
    if value is MISSING:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _diff(desired: Any, live: Any, path: str) -> list[tuple[str, Any, Any]]:
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [(path, desired, live)]
        out: list[tuple[str, Any, Any]] = []
        for key, value in desired.items():
            out += _diff(value, live.get(key, MISSING), f"{path}.{key}" if path else key)
        return out
    if isinstance(desired, list):
        if not isinstance(live, list):
            return [(path, desired, live)]
        if desired and all(isinstance(d, dict) and "name" in d for d in desired):
            by_name = {item.get("name"): item for item in live if isinstance(item, dict)}
            out = []
            for item in desired:
                out += _diff(item, by_name.get(item["name"], MISSING), f"{path}[name={item['name']}]")
            return out
        if len(desired) != len(live):
            return [(path, desired, live)]
        out = []
        for i, (d, lv) in enumerate(zip(desired, live, strict=True)):
            out += _diff(d, lv, f"{path}[{i}]")
        return out
    return [] if desired == live else [(path, desired, live)]


def field_diff(desired: Obj, live: Obj | None) -> list[FieldDiff]:
    """Fields git sets whose live value differs — how Argo CD's diff sees drift: fields only the live object has
    (defaults, status, annotations others add) are not compared (see the module docstring)."""
    meta = desired.get("metadata") or {}
    resource = f"{desired.get('kind')}/{meta.get('name')}"
    if live is None:
        return [FieldDiff(resource, "(object)", "present", "missing")]
    pairs: list[tuple[str, Any, Any]] = []
    live_meta = live.get("metadata") or {}
    for key in COMPARED:
        if key in meta:
            pairs += _diff(meta[key], live_meta.get(key, MISSING), f"metadata.{key}")
    for key in ("spec", "data"):
        if key in desired:
            pairs += _diff(desired[key], live.get(key, MISSING), key)
    return [FieldDiff(resource, path, _show(d), _show(lv)) for path, d, lv in pairs]


# ---------------------------------------------------------------------------------------------- Argo CD's view


@dataclass(frozen=True)
class Operation:
    """status.operationState of an Application, the parts the demo reads."""

    started_at: str = ""
    finished_at: str = ""
    phase: str = ""
    automated: bool = False  # operation.initiatedBy.automated: the controller started it (auto-sync/self-heal)
    heal_count: int = 0  # operation.sync.autoHealAttemptsCount
    revision: str = ""  # syncResult.revision
    results: tuple[str, ...] = ()  # syncResult.resources[]: "Deployment/lab-app: configured"


def operation_info(obj: Obj) -> Operation:
    state = (obj.get("status") or {}).get("operationState") or {}
    op = state.get("operation") or {}
    result = state.get("syncResult") or {}
    return Operation(
        started_at=str(state.get("startedAt", "")),
        finished_at=str(state.get("finishedAt", "")),
        phase=str(state.get("phase", "")),
        automated=bool((op.get("initiatedBy") or {}).get("automated")),
        heal_count=int((op.get("sync") or {}).get("autoHealAttemptsCount") or 0),
        revision=str(result.get("revision", "")),
        results=tuple(
            f"{r.get('kind')}/{r.get('name')}: {r.get('message') or r.get('status') or '?'}"
            for r in result.get("resources") or []
        ),
    )


def out_of_sync_resources(obj: Obj) -> list[str]:
    """`status.resources[]` entries Argo CD marks OutOfSync, as `Kind namespace/name`."""
    out = []
    for res in (obj.get("status") or {}).get("resources") or []:
        if res.get("status") == "OutOfSync":
            where = f"{res.get('namespace')}/{res.get('name')}" if res.get("namespace") else str(res.get("name"))
            out.append(f"{res.get('kind')} {where}" + (" (to prune)" if res.get("requiresPruning") else ""))
    return out


def heal_delay(count: int) -> float:
    """Backoff before self-heal number COUNT+1 of one commit: 0 for the first, then 2 s, 6 s, 18 s, ... ≤ 300 s."""
    if count <= 0:
        return 0.0
    return float(min(BACKOFF_SECONDS * BACKOFF_FACTOR ** (count - 1), BACKOFF_CAP))


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def predicted_backoff(obj: Obj, now: datetime) -> float:
    """Seconds Argo CD will hold back the next self-heal of the synced commit: the backoff for the heal count of
    the last operation, minus the time since it finished. An upper bound: a newer commit's sync resets the count."""
    op = operation_info(obj)
    delay = heal_delay(op.heal_count)
    finished = _parse_time(op.finished_at)
    if finished is None:
        return delay
    return max(0.0, delay - (now - finished).total_seconds())


def self_heal_enabled(obj: Obj) -> bool:
    automated = ((obj.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    return (
        isinstance(automated, dict) and bool(automated.get("selfHeal")) and automated.get("enabled", True) is not False
    )


def read_app(apps: ApplicationClient, name: str) -> Obj:
    """The Application object as the API serves it (status.resources and operationState included)."""
    try:
        return apps.api.get(name)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterUnreachable(
            f"cannot read Argo CD Application {name}: {exc}", hint="is the lab up? `invoke status`"
        ) from exc


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
    rendered = kustomize.render(ctx.runner, Path(repo.workdir) / "overlays" / env)
    docs = tuple(d for d in yaml.safe_load_all(rendered) if isinstance(d, dict))
    return GitState(revision, docs)


# ---------------------------------------------------------------------------------------------- the demo


@dataclass
class _Watch:
    """Timing and progress lines for the polling loops."""

    ctx: Context
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    start: float = 0.0
    next_note: float = 0.0

    def elapsed(self) -> float:
        return self.clock() - self.start

    def progress(self, text: str) -> None:
        if self.elapsed() >= self.next_note:
            self.ctx.ui.info(f"   +{self.elapsed():4.1f}s  {text}")
            self.next_note = self.elapsed() + PROGRESS_EVERY


def demo_drift(
    ctx: Context,
    env: str = "dev",
    change: str = "scale",
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
    if change not in CHANGES:
        raise ConfigError(f"unknown change {change!r}", hint=f"valid changes: {', '.join(CHANGES)}")
    if ctx.dry_run:
        return _dry_run(ctx, target, change, observe)

    ui, settings = ctx.ui, ctx.settings
    name = app_name(target)
    apps = apps or ApplicationClient.from_kubeconfig(settings.kube_context)
    cluster = cluster or kube.KubernetesCluster.from_kubeconfig(settings.kube_context)
    watch = _Watch(ctx, clock, sleep)

    # 1. Desired (git) and live -----------------------------------------------------------------------
    ui.info(f"\nStep 1/5 — what git says {env} should run, and what runs")
    with ui.phase(f"Read the desired state of {env} from the GitOps repo") as ph:
        state = desired(ctx, env)
        ph.note = f"overlays/{env} at {state.revision[:7] or '?'}: {len(state.docs)} objects"
    obj = read_app(apps, name)
    status = parse_status(obj)
    if status.sync != "Synced":
        status = _wait_synced_before(ctx, apps, name, target, status, watch)
        obj = read_app(apps, name)
    if find(state.docs, "Deployment", APP) is None:
        raise Refused(f"overlays/{env} renders no Deployment {APP}", hint="is the GitOps repo seeded? `invoke up`")
    if cluster.get("Deployment", target.namespace, APP) is None:
        raise Refused(f"nothing runs in {target.namespace} yet", hint="`invoke up`, then `invoke ship`")
    _show_state(ctx, state, cluster, target, status)
    try:
        repo = repositories(settings).pull
    except ConfigError:
        repo = settings.image_name
    plan = plan_change(target, change, state.docs, context=settings.kube_context, image_repo=repo)
    backoff = predicted_backoff(obj, now()) if target.auto_sync else 0.0
    baseline = operation_info(obj)

    # 2. The manual change ----------------------------------------------------------------------------
    ui.info(f"\nStep 2/5 — a change by hand, the 3 AM kind: {plan.description}")
    ui.info(f"   $ {plan.kubectl}")
    ui.info(f"   (the demo makes the same call through the Kubernetes API: {plan.api_call})")
    plan.apply(cluster)
    watch.start = clock()
    diffs = _diffs_after(state, cluster, plan)
    # Lines, not a table: field paths like containers[name=app] would read as rich markup in a table cell.
    ui.info(f"   {plan.kind}/{plan.name} now differs from git (field: git → live):")
    for path, want, live in [(d.path, d.desired, d.live) for d in diffs] or [
        (plan.path, plan.desired, plan.read(cluster))
    ]:
        ui.info(f"     {path}: {want} → {live}")

    # 3. Argo CD notices ------------------------------------------------------------------------------
    ui.info(f"\nStep 3/5 — Argo CD notices: it watches the objects it manages, so it compares {name} again now")
    if target.auto_sync and backoff > 0:
        ui.info(
            f"   (this commit was self-healed {baseline.heal_count} time(s) already: Argo CD's self-heal backoff holds"
            f" this heal back about {backoff:.0f}s)"
        )
    seen, detected_at, obj = _wait_detected(apps, name, baseline, watch)
    if seen:
        ui.info(f"   Argo CD: {name} is OutOfSync — " + "; ".join(f"{r} OutOfSync" for r in seen))
    elif target.auto_sync:
        ui.info(
            f"   Argo CD's self-heal started a sync {detected_at:.1f}s after the change, before the demo saw OutOfSync"
        )

    base = DriftResult(
        env,
        change,
        False,
        plan.description,
        plan.kubectl,
        tuple(diffs),
        tuple(seen),
        detected_at,
        predicted_backoff=backoff,
    )
    if target.auto_sync:
        result = _dev_heals(ctx, apps, cluster, name, plan, baseline, watch, base)
    else:
        result = _staging_stays(ctx, apps, cluster, name, target, plan, obj, watch, base, heal=heal, observe=observe)
    _lessons(ctx, target, plan, result)
    return result


def _wait_synced_before(
    ctx: Context, apps: ApplicationClient, name: str, env: Environment, status: AppStatus, watch: _Watch
) -> AppStatus:
    """The demo starts from Synced: dev gets there by itself; staging is refused (it has drift already)."""
    if not env.auto_sync:
        raise Refused(
            f"{name} is already {status.sync or 'Unknown'} ({status.describe()}): the demo starts from Synced",
            hint=f"sync it first: invoke sync {env.name}",
        )
    watch.start = watch.clock()
    with ctx.ui.phase(f"Wait for {name} to be Synced before the demo starts"):
        while True:
            status = apps.get_app(name)
            if status.sync == "Synced" and not status.operation_requested:
                return status
            if watch.elapsed() >= DETECT_TIMEOUT:
                raise NotReady(f"Argo CD Application {name}", status.describe(), DETECT_TIMEOUT)
            watch.sleep(POLL)


def _show_state(ctx: Context, state: GitState, cluster: Cluster, env: Environment, status: AppStatus) -> None:
    ns = env.namespace
    want = find(state.docs, "Deployment", APP) or {}
    live = cluster.get("Deployment", ns, APP)
    svc_want = find(state.docs, "Service", APP) or {}
    svc_live = cluster.get("Service", ns, APP)
    pods = cluster.list("Pod", ns, kube.selector({"app.kubernetes.io/name": APP}))
    ready = sum(1 for p in pods if kube.pod_ready(p))

    def node_port(svc: Obj | None) -> str:
        ports = ((svc or {}).get("spec") or {}).get("ports") or []
        return ", ".join(f"{p.get('port')}→{p.get('nodePort', '-')}" for p in ports) if svc else "(none)"

    rows = [
        ("Deployment replicas", read_field("scale", want), read_field("scale", live)),
        ("container image", read_field("image", want), read_field("image", live)),
        (f"env {ENV_VAR}", read_field("env", want), read_field("env", live)),
        ("Service port→nodePort", node_port(svc_want), node_port(svc_live)),
        ("pods ready", "", f"{ready}/{len(pods)}"),
    ]
    ctx.ui.table(f"{env.name}: git vs cluster", ("", "git (desired)", "live"), rows)
    ctx.ui.info(f"   Argo CD: {status.describe()}")


def _diffs_after(state: GitState, cluster: Cluster, plan: ManualChange) -> list[FieldDiff]:
    want = find(state.docs, plan.kind, plan.name)
    if want is None:
        return []
    return field_diff(want, cluster.get(plan.kind, plan.namespace, plan.name))


def _wait_detected(
    apps: ApplicationClient, name: str, baseline: Operation, watch: _Watch
) -> tuple[list[str], float, Obj]:
    """Poll until Argo CD reports OutOfSync, or (self-heal) a sync starts that was not there before the change."""
    watch.next_note = PROGRESS_EVERY
    while True:
        obj = read_app(apps, name)
        status = parse_status(obj)
        op = operation_info(obj)
        seen = out_of_sync_resources(obj)
        if status.sync == "OutOfSync" or seen:
            return seen, watch.elapsed(), obj
        if op.started_at != baseline.started_at or status.operation_requested:
            return [], watch.elapsed(), obj
        if watch.elapsed() >= DETECT_TIMEOUT:
            raise NotReady(
                f"Argo CD noticing the change in {name}",
                status.describe(),
                DETECT_TIMEOUT,
                hint="is the application controller running? `kubectl -n argocd get pods`",
            )
        watch.progress(f"waiting for Argo CD: {status.describe()}")
        watch.sleep(POLL)


def _dev_heals(
    ctx: Context,
    apps: ApplicationClient,
    cluster: Cluster,
    name: str,
    plan: ManualChange,
    baseline: Operation,
    watch: _Watch,
    base: DriftResult,
) -> DriftResult:
    ui = ctx.ui
    ui.info(f"\nStep 4/5 — {name} has automated sync with selfHeal: Argo CD puts git's state back by itself")
    timeout = base.predicted_backoff + HEAL_MARGIN
    while True:
        obj = read_app(apps, name)
        status = parse_status(obj)
        value = plan.read(cluster)
        running = status.operation_requested or status.operation_phase in RUNNING_PHASES
        if value == plan.desired and status.sync == "Synced" and not running:
            break
        if watch.elapsed() >= timeout:
            raise NotReady(
                f"self-heal of {name}",
                f"{plan.path} is {value} (git: {plan.desired}); {status.describe()}",
                timeout,
                hint=f"`kubectl -n {ARGOCD_NAMESPACE} describe application {name}` shows the controller's view",
            )
        watch.progress(f"{plan.path} = {value} (git: {plan.desired}); {status.describe()}")
        watch.sleep(POLL)
    healed_at = watch.elapsed()
    op = operation_info(obj)
    ours = op.started_at != baseline.started_at
    did = "; ".join(op.results) if ours else ""
    if ours and op.automated:
        ui.info(
            f"   Argo CD's automated sync (self-heal #{op.heal_count or 1} of this commit) re-applied: {did or '?'}"
        )
    elif ours:
        ui.info(f"   a sync that was not automated fixed it (someone ran a sync?): {did or '?'}")
    ui.info(f"   {plan.path}: {plan.drifted} → {plan.desired} again; {name} Synced {healed_at:.1f}s after the change")
    return _replace(base, seconds_to_heal=healed_at, self_healed=ours and op.automated, heal_operation=did)


def _staging_stays(
    ctx: Context,
    apps: ApplicationClient,
    cluster: Cluster,
    name: str,
    env: Environment,
    plan: ManualChange,
    obj: Obj,
    watch: _Watch,
    base: DriftResult,
    *,
    heal: bool,
    observe: float,
) -> DriftResult:
    ui = ctx.ui
    ui.info(
        f"\nStep 4/5 — {name} has no automated sync: Argo CD reports the drift and leaves it (watching {observe:g}s)"
    )
    if self_heal_enabled(obj):
        ui.warn(f"{name} has automated selfHeal configured: the lab's {env.name} should not; expect it to heal")
    first = watch.elapsed()
    watch.next_note = first + PROGRESS_EVERY
    still = True
    while watch.elapsed() - first < observe:
        status = apps.get_app(name)
        value = plan.read(cluster)
        if status.sync != "OutOfSync" or value != plan.drifted:
            still = False
            ui.warn(f"after {watch.elapsed():.1f}s {name} is {status.sync} and {plan.path} is {value}: someone synced?")
            break
        watch.progress(f"still OutOfSync; {plan.path} = {value} (git: {plan.desired})")
        watch.sleep(min(2.0, max(0.0, observe - (watch.elapsed() - first))))
    stayed = watch.elapsed() - first
    result = _replace(base, stayed_out_of_sync_for=stayed if still else None)
    if still:
        ui.info(
            f"   {stayed:.0f}s later: still OutOfSync, the hand change still live. {name} has no"
            " spec.syncPolicy.automated, so Argo CD compares and reports, and only a sync — a human decision — changes"
            f" {env.name}. That is the point of staging and prod: they change when someone promotes and syncs."
        )
    if not heal:
        ui.info(f"   Heal it: invoke sync {env.name}")
        return result
    ui.info(f"   Healing it, as `invoke sync {env.name}` does: a sync of {name} to git's state")
    start = watch.clock()
    apps.sync(name, reason=f"drift demo: undo '{plan.description}'")
    apps.wait_for(name, synced_healthy(), ctx.settings.sync_timeout, what=f"{name} after the sync")
    while plan.read(cluster) != plan.desired:  # Synced means git's state was applied; confirm the field
        if watch.clock() - start >= ctx.settings.sync_timeout:
            raise NotReady(f"{plan.path} of {env.name}", plan.read(cluster), ctx.settings.sync_timeout)
        watch.sleep(POLL)
    took = watch.clock() - start
    ui.info(f"   {name} Synced and Healthy {took:.1f}s after the sync started; {plan.path} is {plan.desired} again")
    return _replace(result, seconds_to_heal=watch.elapsed(), seconds_to_sync=took)


def _replace(result: DriftResult, **changes: Any) -> DriftResult:
    return dataclasses.replace(result, **changes)


def _lessons(ctx: Context, env: Environment, plan: ManualChange, result: DriftResult) -> None:
    ui = ctx.ui
    ui.info("\nStep 5/5 — what this showed")
    if env.auto_sync:
        lasted = f"{result.seconds_to_heal:.1f}s" if result.seconds_to_heal is not None else "a moment"
        ui.info(f" • In {env.name}, git wins: the hand change lasted {lasted} before self-heal put git's state back.")
        ui.info(" • Argo CD did not wait for its git poll: it watches the live objects it manages.")
        ui.info(" • To change dev for real, change git: `invoke ship`, or edit the overlay and commit.")
    else:
        ui.info(f" • In {env.name}, Argo CD reports drift (OutOfSync, per resource and field) and changes nothing.")
        ui.info(
            f" • `invoke sync {env.name}` makes the cluster match git again;"
            " keeping the hand change means committing it to git."
        )
    if plan.change == "env":
        ui.info(
            f" • Argo CD compares the fields git sets. {ENV_VAR} is one; an env var git does not set, added by hand,"
            " would not show as drift at all (argo-cd issue 4537)."
        )
    if plan.change == "image":
        ui.info(
            " • The new pod could not pull its image, yet nothing broke: maxUnavailable 0 kept the old pods serving."
        )
    ctx.ui.next_steps(
        f"invoke demo-drift --env {'staging' if env.auto_sync else 'dev'} --change {plan.change}",
        f"invoke demo-drift --env {env.name} --change {next_change(plan.change)}",
        "invoke status",
        f"kubectl --context {ctx.settings.kube_context} -n {ARGOCD_NAMESPACE} get application {app_name(env)} -o yaml",
    )


def next_change(change: str) -> str:
    return CHANGES[(CHANGES.index(change) + 1) % len(CHANGES)]


def _dry_run(ctx: Context, env: Environment, change: str, observe: float) -> DriftResult:
    """The plan, with every command and API call, without a cluster."""
    ui, settings = ctx.ui, ctx.settings
    name = app_name(env)
    context = settings.kube_context
    try:
        repo = repositories(settings).pull
    except ConfigError:
        repo = settings.image_name
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": APP},
        "spec": {
            "replicas": env.replicas,
            "template": {"spec": {"containers": [{"name": CONTAINER, "image": f"{repo}:TAG"}]}},
        },
    }
    plan = plan_change(env, change, [deployment], context=context, image_repo=repo)
    work = settings.state_dir / "gitops-work"
    get_app = (
        f"CustomObjectsApi.get_namespaced_custom_object('argoproj.io', 'v1alpha1', {ARGOCD_NAMESPACE!r},"
        f" 'applications', {name!r})"
    )
    ui.info(f"Drift demo in {env.name} ({change}) — dry run: the steps, commands and API calls; nothing is changed")
    ui.info(f"\nStep 1/5 — desired state from git, live state from the cluster (context {context})")
    ui.data(f"$ git -C {work} fetch origin && git -C {work} reset --hard origin/main")
    ui.data(f"$ kubectl kustomize {work}/overlays/{env.name}")
    ui.data(f"$ {kube.kubectl(context, env.namespace, 'get', f'deployment/{APP}', f'service/{APP}', '-o', 'yaml')}")
    ui.data(
        f"# API: AppsV1Api.read_namespaced_deployment({APP!r}, {env.namespace!r}); CoreV1Api.read_namespaced_service"
    )
    ui.info(f"\nStep 2/5 — the manual change: {plan.description}")
    ui.data(f"$ {plan.kubectl}")
    ui.data(f"# API: {plan.api_call}")
    ui.info(f"\nStep 3/5 — Argo CD notices: {name} goes OutOfSync (status.resources[] lists {plan.kind}/{APP})")
    ui.data(
        f"$ kubectl --context {context} -n {ARGOCD_NAMESPACE} get application {name}"
        " -o jsonpath='{.status.sync.status}'"
    )
    ui.data(f"# API: {get_app}, every {POLL:g}s for up to {DETECT_TIMEOUT:g}s")
    if env.auto_sync:
        ui.info(
            f"\nStep 4/5 — {name} has selfHeal: wait (up to {HEAL_MARGIN:g}s plus any self-heal backoff) until"
            f" {plan.path} is {plan.desired} again and {name} is Synced; report the time"
        )
    else:
        ui.info(
            f"\nStep 4/5 — {name} has no automated sync: watch it stay OutOfSync for {observe:g}s, then heal with"
            f" `invoke sync {env.name}`"
        )
        ui.data(
            f"# API: CustomObjectsApi.patch_namespaced_custom_object(..., {name!r}, {{'operation': {{'sync': ...}}}})"
        )
    ui.info("\nStep 5/5 — what was learned, and the commands to try next")
    return DriftResult(env.name, change, True, plan.description, plan.kubectl)

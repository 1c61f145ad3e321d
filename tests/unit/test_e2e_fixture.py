"""The e2e suite's Given/When/Then layer itself (tests/e2e/fixture.py), without a cluster: polling and its
back-off schedule, timeouts that carry the last message, expect_consistently failing at the first break, the
expectations against recorded Application objects and a fake cluster, the traffic loop, and the bad-release app.
Every wait runs on an injected clock; the one real-time test sleeps milliseconds."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argocd_schema import crd_problems
from e2e import fixture
from e2e.fixture import ExpectationFailed, Lab, Poller, Report, Timing, Traffic
from fakes import Clock, FakeRunner
from fakes.kube import FakeKube

from lab.clients.argocd import ApplicationClient, State
from lab.clients.argocd_status import parse_status
from lab.core.config import ROOT, Settings, environment
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable
from lab.core.ui import UI
from lab.manifests.argocd import application
from lab.steps import drift
from lab.tools.probes import HttpAnswer

Obj = dict[str, Any]
REV = "4444444444444444444444444444444444444444"


def scripted(answers: list[tuple[State, str] | Exception], calls: list[float], clock: Clock) -> fixture.Check:
    """A check answering from a list (the last repeats), noting the clock at each call."""

    def check() -> tuple[State, str]:
        calls.append(clock.now)
        answer = answers[min(len(calls) - 1, len(answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return check


def poller() -> tuple[Poller, Clock]:
    clock = Clock()
    return Poller(clock=clock, sleep=clock.sleep), clock


# ---------------------------------------------------------------------------------------------- expect


def test_expect_polls_on_argo_cds_schedule_until_the_expectation_succeeds() -> None:
    p, clock = poller()
    calls: list[float] = []
    answers: list[tuple[State, str] | Exception] = [(State.PENDING, f"not yet {i}") for i in range(10)]
    answers.append((State.SUCCEEDED, "Synced"))
    outcome = p.expect(scripted(answers, calls, clock), timeout=60, what="dev Synced")
    assert clock.sleeps == [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 1.0, 1.0]
    assert outcome == fixture.Outcome("Synced", pytest.approx(4.18), 11)  # type: ignore[arg-type]
    assert len(calls) == 11


def test_a_timeout_reports_the_last_message_and_never_sleeps_past_the_deadline() -> None:
    p, clock = poller()
    calls: list[float] = []
    answers: list[tuple[State, str] | Exception] = [(State.PENDING, "sync=OutOfSync health=Progressing")] * 3
    answers.append((State.PENDING, "at 1111111, want 2222222"))
    with pytest.raises(ExpectationFailed) as err:
        p.expect(scripted(answers, calls, clock), timeout=2.5, what="dev at 2222222")
    text = str(err.value)
    assert text.startswith("dev at 2222222: timed out after 2.5s (")
    assert text.endswith("last: at 1111111, want 2222222")
    assert clock.now == pytest.approx(2.5)  # the last sleep was cut to the time left
    assert calls[-1] == pytest.approx(2.5)  # and the expectation was evaluated once more at the deadline


def test_a_failed_expectation_stops_at_once() -> None:
    p, clock = poller()
    calls: list[float] = []
    answers: list[tuple[State, str] | Exception] = [
        (State.PENDING, "Progressing"),
        (State.FAILED, "sync failed: one or more objects failed to apply"),
        (State.SUCCEEDED, "never reached"),
    ]
    with pytest.raises(ExpectationFailed, match=r"dev deploys: failed after 0\.0s: sync failed: one or more"):
        p.expect(scripted(answers, calls, clock), timeout=60, what="dev deploys")
    assert len(calls) == 2


def test_api_errors_while_polling_are_pending_and_show_in_the_timeout_message() -> None:
    p, clock = poller()
    calls: list[float] = []
    answers: list[tuple[State, str] | Exception] = [ClusterUnreachable("the API server restarted")]
    with pytest.raises(ExpectationFailed, match="last: error: the API server restarted"):
        p.expect(scripted(answers, calls, clock), timeout=1, what="x")
    answers = [ClusterUnreachable("blip"), (State.SUCCEEDED, "back")]
    assert p.expect(scripted(answers, [], clock), timeout=1, what="x").message == "back"


def test_the_real_clock_polls_quickly_at_first() -> None:
    calls: list[float] = []
    start = time.monotonic()

    def check() -> tuple[State, str]:
        calls.append(time.monotonic())
        return (State.SUCCEEDED, "ok") if len(calls) == 3 else (State.PENDING, "wait")

    outcome = Poller().expect(check, timeout=5, what="x")
    assert outcome.polls == 3 and time.monotonic() - start < 0.5  # 10 ms + 20 ms of sleeping


# ---------------------------------------------------------------------------------------------- expect_consistently


def test_expect_consistently_holds_for_the_whole_period_including_its_end() -> None:
    p, clock = poller()
    calls: list[float] = []
    outcome = p.expect_consistently(
        scripted([(State.SUCCEEDED, "OutOfSync")], calls, clock), period=5, what="staging stays", interval=2
    )
    assert calls == [0, 2, 4, 5]
    assert (outcome.seconds, outcome.polls) == (5, 4)


@pytest.mark.parametrize("broken", [State.PENDING, State.FAILED])
def test_expect_consistently_fails_as_soon_as_the_condition_breaks(broken: State) -> None:
    p, clock = poller()
    calls: list[float] = []
    answers: list[tuple[State, str] | Exception] = [(State.SUCCEEDED, "OutOfSync")] * 3
    answers += [(broken, "lab-staging is Synced"), (State.SUCCEEDED, "never asked")]
    with pytest.raises(ExpectationFailed) as err:
        p.expect_consistently(scripted(answers, calls, clock), period=30, what="staging stays OutOfSync")
    assert str(err.value) == (
        f"staging stays OutOfSync: stopped holding after 3.0s (poll 4, {broken.value}): lab-staging is Synced"
    )
    assert calls == [0, 1, 2, 3]


def test_expect_consistently_counts_an_error_as_a_break() -> None:
    p, clock = poller()
    answers: list[tuple[State, str] | Exception] = [(State.SUCCEEDED, "ok"), ClusterUnreachable("gone")]
    with pytest.raises(ExpectationFailed, match=r"after 1\.0s \(poll 2, failed\): could not check: gone"):
        p.expect_consistently(scripted(answers, [], clock), period=10, what="x")


# ---------------------------------------------------------------------------------------------- expectations


@dataclass
class Apps:
    """ApplicationsApi serving one mutable Application object per name (CRD-checked)."""

    objects: dict[str, Obj]
    patches: list[tuple[str, Obj]] = field(default_factory=list)

    def get(self, name: str) -> Obj:
        assert crd_problems(self.objects[name]) == [], crd_problems(self.objects[name])
        return copy.deepcopy(self.objects[name])

    def patch(self, name: str, body: Obj) -> Obj:
        self.patches.append((name, body))
        return {}


def app(env: str, sync: str, health: str, *, images: tuple[str, ...] = (), op: Obj | None = None) -> Obj:
    obj = application(environment(env))
    obj["status"] = {"sync": {"status": sync, "revision": REV}, "health": {"status": health}}
    if images:
        obj["status"]["summary"] = {"images": list(images)}
    if op is not None:
        obj["status"]["operationState"] = op
    return obj


@dataclass
class Web:
    answers: list[HttpAnswer | None]
    urls: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> HttpAnswer | None:
        self.urls.append(url)
        return self.answers[min(len(self.urls) - 1, len(self.answers) - 1)]


def with_pods(cluster: FakeKube, env: str, pods: list[Obj]) -> FakeKube:
    """CLUSTER with exactly PODS (labelled as the app's) in ENV's namespace."""
    ns = environment(env).namespace
    for key in [k for k in cluster.objects if k[0] == "Pod"]:
        del cluster.objects[key]
    for p in pods:
        p["metadata"].update(namespace=ns, labels={"app.kubernetes.io/name": "lab-app"})
        cluster.put({"kind": "Pod", **p})
    return cluster


def with_replicas(cluster: FakeKube, env: str, replicas: int) -> FakeKube:
    ns = environment(env).namespace
    cluster.put(
        {"kind": "Deployment", "metadata": {"name": "lab-app", "namespace": ns}, "spec": {"replicas": replicas}}
    )
    return cluster


def a_lab(apps: Apps, cluster: Any = None, web: Web | None = None) -> Lab:
    ctx = Context(Settings(), FakeRunner(), UI())
    return Lab(Settings(), ctx, ApplicationClient(apps), cluster, Report(), http_get=web or Web([None]))


def test_app_is_waits_for_revision_then_status_then_image() -> None:
    apps = Apps({"lab-dev": app("dev", "OutOfSync", "Progressing")})
    lab = a_lab(apps)
    check = fixture.app_is(lab, "dev", sync="Synced", health="Healthy", revision=REV, image="r/lab-app:t1")
    assert check()[0] is State.PENDING and "sync is OutOfSync, want Synced" in check()[1]
    apps.objects["lab-dev"] = app("dev", "Synced", "Healthy", images=("r/lab-app:t0",))
    assert check() == (State.PENDING, "images r/lab-app:t0, want r/lab-app:t1")
    apps.objects["lab-dev"] = app("dev", "Synced", "Healthy", images=("r/lab-app:t1",))
    assert check()[0] is State.SUCCEEDED
    other = fixture.app_is(lab, "dev", revision="5555555555555555555555555555555555555555")
    assert other()[0] is State.PENDING and other()[1].startswith("at 4444444, want 5555555")


def version(tag: str) -> HttpAnswer:
    return HttpAnswer(200, json.dumps({"image_tag": tag, "version": "1"}))


def test_serving_needs_every_sample_to_name_the_tag() -> None:
    web = Web([version("t1"), version("t1"), version("t0"), version("t1")])
    lab = a_lab(Apps({}), web=web)
    check = fixture.serving(lab, "staging", "t1", samples=3)
    assert check() == (State.PENDING, "serving t0, want t1 (after 2 good answers)")
    assert web.urls[0] == "http://127.0.0.1:8082/version"
    web.answers, web.urls = [version("t1")], []
    assert check() == (State.SUCCEEDED, "3/3 answers serve t1")
    web.answers = [None]
    assert check() == (State.PENDING, "GET /version: no answer")


def pod(image: str, ready: bool, digest: str = "sha256:aa") -> Obj:
    return {
        "metadata": {"name": image},
        "spec": {"containers": [{"name": "app", "image": image}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "imageID": f"localhost:5001/lab-app@{digest}"}],
        },
    }


def test_pods_run_digest_wants_every_replica_ready_on_that_digest() -> None:
    cluster = with_pods(FakeKube(writable=False), "staging", [pod("a", True, "sha256:aa"), pod("b", True, "sha256:bb")])
    lab = a_lab(Apps({}), cluster)
    check = fixture.pods_run_digest(lab, "staging", "sha256:aa")
    assert check()[0] is State.PENDING
    with_pods(cluster, "staging", [pod("a", True), pod("b", True)])
    assert check()[0] is State.SUCCEEDED
    with_pods(cluster, "staging", [pod("a", True)])
    assert check()[0] is State.PENDING  # staging has 2 replicas


def test_rollout_held_fails_if_the_bad_pod_becomes_ready_or_the_old_ones_leave() -> None:
    cluster = with_pods(FakeKube(writable=False), "dev", [pod("good", True)])
    lab = a_lab(Apps({}), cluster)
    check = fixture.rollout_held(lab, "dev", "bad", min_ready=1)
    assert check()[0] is State.PENDING  # no pod of the bad image yet
    with_pods(cluster, "dev", [pod("good", True), pod("bad", False)])
    assert check() == (State.SUCCEEDED, "1 new pod(s) (0 Ready), 1 old Ready")
    with_pods(cluster, "dev", [pod("good", False), pod("bad", False)])
    assert check()[0] is State.FAILED and "old pods were taken out" in check()[1]
    with_pods(cluster, "dev", [pod("good", True), pod("bad", True)])
    assert check()[0] is State.FAILED and "became Ready" in check()[1]


def scale_plan() -> drift.Change:
    deployment = {"kind": "Deployment", "metadata": {"name": "lab-app"}, "spec": {"replicas": 2}}
    return drift.plan_change(environment("staging"), "scale", [deployment], context="c", image_repo="r")


def test_stays_drifted_and_healed_read_the_app_and_the_live_field() -> None:
    plan = scale_plan()
    cluster = with_replicas(FakeKube(writable=False), "staging", 4)
    before = {"phase": "Succeeded", "startedAt": "2026-05-01T11:00:00Z", "operation": {"sync": {}}}
    apps = Apps({"lab-staging": app("staging", "OutOfSync", "Healthy", op=before)})
    lab = a_lab(apps, cluster)
    assert fixture.stays_drifted(lab, "staging", plan)() == (State.SUCCEEDED, "OutOfSync, spec.replicas = 4")
    with_replicas(cluster, "staging", 2)
    assert fixture.stays_drifted(lab, "staging", plan)()[0] is State.FAILED

    baseline = parse_status(apps.objects["lab-staging"])
    healed = fixture.healed(lab, "staging", plan, baseline)
    apps.objects["lab-staging"] = app("staging", "Synced", "Healthy", op=before)
    assert healed()[0] is State.PENDING and "no sync since the change" in healed()[1]  # not Argo CD's doing (yet)
    manual = {
        "phase": "Succeeded",
        "startedAt": "2026-05-01T12:00:00Z",
        "finishedAt": "2026-05-01T12:00:01Z",
        "operation": {"initiatedBy": {"username": "someone"}, "sync": {}},
    }
    apps.objects["lab-staging"] = app("staging", "Synced", "Healthy", op=manual)
    assert healed()[0] is State.FAILED and "not Argo CD's automated sync" in healed()[1]
    auto = copy.deepcopy(manual)
    auto["operation"] = {"initiatedBy": {"automated": True}, "sync": {"autoHealAttemptsCount": 1}}
    apps.objects["lab-staging"] = app("staging", "Synced", "Healthy", op=auto)
    assert healed() == (State.SUCCEEDED, "self-heal #1: Succeeded")


# ---------------------------------------------------------------------------------------------- traffic, report


def test_traffic_counts_failures_and_stops_by_itself() -> None:
    answers = [HttpAnswer(200), HttpAnswer(503), None, HttpAnswer(200)]
    web = Web(answers)
    traffic = Traffic(web, "http://127.0.0.1:8081/health", interval=0.005, max_seconds=0.2).start()
    assert traffic._thread is not None
    traffic._thread.join(timeout=5)  # bounded: it ends by itself
    assert not traffic._thread.is_alive()
    assert (
        len(traffic.failures) == 2
        and traffic.failures[0].endswith(" 503")
        and traffic.failures[1].endswith("no answer")
    )
    assert traffic.ok >= 2
    traffic.stop()


def test_report_groups_timings_by_test_and_writes_json(tmp_path: Path) -> None:
    report = Report()
    report.add(Timing("test_a", "drift corrected (scale)", 2.34, 30, "self-heal #1"))
    report.add(Timing("test_b", "invoke sync staging", 5.0))
    report.add(Timing("test_a", "dev Healthy", 7.0, 300))
    assert report.lines() == [
        "test_a",
        "      2.3s (bound 30s)  drift corrected (scale) — self-heal #1",
        "      7.0s (bound 300s)  dev Healthy",
        "test_b",
        "      5.0s  invoke sync staging",
    ]
    report.write_json(tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text())[0]["seconds"] == 2.34


# ---------------------------------------------------------------------------------------------- the bad release


def test_the_unready_app_answers_health_but_never_ready() -> None:
    from gunicorn.util import import_app

    flask_app = import_app(fixture.UNREADY_APP)
    client = flask_app.test_client()
    assert client.get("/health").status_code == 200
    assert [client.get("/ready").status_code for _ in range(3)] == [503, 503, 503]
    assert client.get("/ready").get_json()["status"] == "starting"


def test_the_unready_image_runs_the_apps_own_gunicorn_config_with_that_factory() -> None:
    lines = fixture.UNREADY_DOCKERFILE.splitlines()
    assert json.loads(lines[-1].removeprefix("CMD ")) == fixture.UNREADY_CMD
    app_cmd = next(line for line in (ROOT / "app" / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    original = json.loads(app_cmd.removeprefix("CMD "))
    assert original[:-1] == fixture.UNREADY_CMD[:-1]  # same gunicorn and config; only the app factory call differs


# ---------------------------------------------------------------------------------------------- reaching the cluster


def test_cluster_access_reuses_a_cluster_that_answers() -> None:
    got = fixture.cluster_access(Settings(), {}, probe=lambda s: ("cluster", "apps"))  # type: ignore[arg-type,return-value]
    assert (got.cluster, got.apps, got.reason) == ("cluster", "apps", "")


def failing_probe(settings: Settings) -> Any:
    raise ClusterUnreachable("no usable kubeconfig context 'kind-gitops-lab'")


def test_cluster_access_without_a_cluster_says_what_to_run_and_creates_nothing() -> None:
    ups: list[int] = []
    got = fixture.cluster_access(Settings(), {}, probe=failing_probe, up=lambda: ups.append(1))
    assert got.cluster is None and ups == []
    assert got.reason == (
        "no lab cluster: no usable kubeconfig context 'kind-gitops-lab' — bring the lab up first (`make up`),"
        " or set LAB_E2E_UP=1 to let the suite run `invoke up`"
    )


def test_cluster_access_with_lab_e2e_up_but_no_docker_skips_with_why() -> None:
    ups: list[int] = []
    got = fixture.cluster_access(
        Settings(),
        {"LAB_E2E_UP": "1"},
        probe=failing_probe,
        docker=lambda: "docker is not installed",
        up=lambda: ups.append(1),
    )
    assert ups == [] and "none can be created: docker is not installed; kind" in got.reason


def test_cluster_access_with_lab_e2e_up_runs_invoke_up_once_then_reuses() -> None:
    calls: list[str] = []

    def probe(settings: Settings) -> Any:
        calls.append("probe")
        if "up" not in calls:
            raise ClusterUnreachable("nothing yet")
        return "cluster", "apps"

    got = fixture.cluster_access(
        Settings(), {"LAB_E2E_UP": "1"}, probe=probe, docker=lambda: "", up=lambda: calls.append("up")
    )
    assert calls == ["probe", "up", "probe"] and got.cluster == "cluster"


# ---------------------------------------------------------------------------------------------- commit-to-live steps

NEW = "5555555555555555555555555555555555555555"
PUSHED = datetime(2026, 12, 1, 12, 0, 0, 400000, tzinfo=UTC)


def deployed_pod(image: str, created: str, started: str, ready_at: str | None) -> Obj:
    obj = pod(image, ready_at is not None)
    obj["metadata"]["creationTimestamp"] = created
    obj["status"]["containerStatuses"][0]["state"] = {"running": {"startedAt": started}}
    if ready_at is not None:
        obj["status"]["conditions"][0]["lastTransitionTime"] = ready_at
    return obj


def test_breakdown_reads_the_sync_and_the_new_pod_from_their_api_timestamps() -> None:
    op = {
        "operation": {"sync": {"revision": NEW}},
        "phase": "Succeeded",
        "message": "successfully synced (all tasks run)",
        "startedAt": "2026-12-01T12:00:02Z",
        "finishedAt": "2026-12-01T12:00:03Z",
        "syncResult": {"revision": NEW},
    }
    obj = app("dev", "Synced", "Healthy", op=op)
    old = deployed_pod("r/lab-app:t0", "2026-12-01T11:50:00Z", "2026-12-01T11:50:01Z", "2026-12-01T11:50:03Z")
    new = deployed_pod("r/lab-app:t1", "2026-12-01T12:00:03Z", "2026-12-01T12:00:05Z", "2026-12-01T12:00:07Z")
    steps = fixture.breakdown(PUSHED, NEW, "r/lab-app:t1", obj, [old, new], {"refreshed": 1.2, "healthy": 13.1})
    got = {s.what: s.seconds for s in steps}
    assert got == {
        "Argo CD compared the new commit (refresh done)": 1.2,
        "sync started": 1.6,
        "sync finished": 2.6,
        "new pod created": 2.6,
        "container started": 4.6,
        "pod Ready": 6.6,
        "Argo CD Synced + Healthy": 13.1,
        "first 200 from the new version": None,  # not observed: not made up
    }
    # The last operation is another commit's (the sync for NEW has not started): no sync times from it.
    op["syncResult"] = {"revision": REV}
    op["operation"] = {"sync": {"revision": REV}}
    stale = {s.what: s.seconds for s in fixture.breakdown(PUSHED, NEW, "r/lab-app:t1", obj, [old], {})}
    assert stale["sync started"] is None and stale["sync finished"] is None and stale["pod Ready"] is None
    # Synced + Healthy seen only by the suite's own poll (the Timeline stopped first): that instant, said so.
    late = fixture.breakdown(PUSHED, NEW, "r/lab-app:t1", obj, [old], {"healthy_poll": 14.4})
    assert [(s.seconds, s.source) for s in late if s.what == "Argo CD Synced + Healthy"] == [
        (14.4, "observed (the suite's poll, every 1 s)")
    ]


def test_the_timeline_notes_the_first_poll_that_sees_each_step_and_stops_when_all_are_seen() -> None:
    clock = Clock()
    apps = [
        app("dev", "Synced", "Healthy"),  # still the old revision (REV)
        app("dev", "OutOfSync", "Healthy"),
        app("dev", "Synced", "Progressing"),
        app("dev", "Synced", "Healthy"),
    ]
    for obj in apps[1:]:
        obj["status"]["sync"]["revision"] = NEW
    answers = [version("t0"), version("t0"), version("t1"), version("t1")]
    polls: list[int] = []

    def read_app() -> Obj:
        polls.append(1)
        return apps[min(len(polls) - 1, len(apps) - 1)]

    timeline = fixture.Timeline(read_app, lambda: answers[min(len(polls) - 1, 3)], NEW, "t1", clock=clock)
    for _ in range(4):
        timeline.poll_once(0.0)
        clock.sleep(0.25)
    assert timeline.seen == {"refreshed": 0.25, "served": 0.5, "healthy": 0.75} and timeline.done()
    # The thread stops by itself once every step is seen (bounded: max_seconds otherwise).
    polls.clear()
    real = fixture.Timeline(read_app, lambda: version("t1"), NEW, "t1", interval=0.001, max_seconds=5)
    real.start()
    assert real._thread is not None
    real._thread.join(timeout=5)
    assert not real._thread.is_alive() and real.done() and len(polls) == 4

"""`invoke notifications` (--follow) and the notifications part of `invoke status`, against a strict fake receiver
(tests/fakes/receiver.py) and the strict Docker fake (why the receiver does not answer)."""

from __future__ import annotations

import io

import pytest
from fakes import FakeRunner
from fakes.clock import Clock
from fakes.docker import DockerFake
from fakes.receiver import FakeReceiver

from lab.clients.notify_receiver import ReceiverClient
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import ConfigError, ServiceUnreachable
from lab.core.ui import UI
from lab.steps import notifications as steps

LAB = {"gitops-lab.managed": "true", "gitops-lab.component": "notify", "gitops-lab.cluster": "gitops-lab"}


def make(settings: Settings | None = None, docker: DockerFake | None = None) -> tuple[Context, FakeRunner]:
    runner = FakeRunner()
    runner.responders.append(docker or DockerFake())
    return Context(settings or Settings(), runner, UI(err=io.StringIO(), out=io.StringIO())), runner


def client(fake: FakeReceiver) -> ReceiverClient:
    return ReceiverClient(fake.base_url, get=fake.get, put=fake.put)


def out(ctx: Context) -> str:
    return ctx.ui.out.getvalue()  # type: ignore[attr-defined]


def err(ctx: Context) -> str:
    return ctx.ui.err.getvalue()  # type: ignore[attr-defined]


def succeeded(fake: FakeReceiver, app: str, revision: str) -> None:
    fake.add(app=app, trigger="on-sync-succeeded", sync="Synced", health="Healthy", revision=revision, message="ok")


def test_the_latest_come_newest_first_one_line_each() -> None:
    fake = FakeReceiver()
    succeeded(fake, "lab-dev", "aaaaaaa1111")
    fake.add(
        app="lab-dev", trigger="on-health-degraded", health="Degraded", message="Application lab-dev has\ndegraded."
    )
    ctx, _ = make()
    shown = steps.notifications(ctx, client=client(fake), limit=20)
    assert [n.trigger for n in shown] == ["on-health-degraded", "on-sync-succeeded"]
    lines = out(ctx).splitlines()
    assert lines == [
        "2026-12-01T15:00:02Z  lab-dev  on-health-degraded  health Degraded — Application lab-dev has degraded.",
        "2026-12-01T15:00:01Z  lab-dev  on-sync-succeeded  sync Synced, health Healthy, revision aaaaaaa — ok",
    ]


def test_limit_is_asked_of_the_receiver() -> None:
    fake = FakeReceiver()
    for i in range(8):
        succeeded(fake, "lab-dev", f"{i:07d}")
    ctx, _ = make()
    assert steps.show_recent(ctx, client=client(fake)) is True
    assert fake.requests == [f"GET {fake.base_url}/notifications?after=0&limit={steps.STATUS_LINES}"]
    body = err(ctx) + out(ctx)
    assert body.count("on-sync-succeeded") == steps.STATUS_LINES
    assert "revision 0000007" in body and "revision 0000002" not in body  # the newest five


def test_none_yet_says_what_sends_them() -> None:
    ctx, _ = make()
    assert steps.show_recent(ctx, client=client(FakeReceiver())) is True
    assert "none yet: Argo CD posts one when a sync succeeds or fails, or an app degrades" in err(ctx) + out(ctx)


@pytest.mark.parametrize(
    ("container", "what", "fix"),
    [
        (None, "is not running", "invoke up"),
        ({"running": False, "labels": LAB}, "is stopped", "docker start lab-notify"),
        ({"running": True, "labels": LAB}, "runs but http://127.0.0.1:8095 does not answer", "docker logs lab-notify"),
        ({"running": True, "labels": {}}, "lab-notify is not the lab's container", "docker rm -f lab-notify"),
    ],
)
def test_a_receiver_that_does_not_answer_is_explained_with_a_fix(container, what, fix) -> None:
    docker = DockerFake()
    if container is not None:
        docker.add_container("lab-notify", "gitops-lab/notify:1", container["labels"], running=container["running"])
    fake = FakeReceiver(down=True)
    ctx, runner = make(docker=docker)
    assert steps.show_recent(ctx, client=client(fake)) is False
    assert what in err(ctx) and f"→ {fix}" in err(ctx)
    assert [c.argv[:3] for c in runner.calls] == [("docker", "container", "inspect")]

    ctx, _ = make(docker=docker)
    with pytest.raises(ServiceUnreachable) as exc:
        steps.notifications(ctx, client=client(fake))
    assert exc.value.exit_code == 19 and what in exc.value.message and exc.value.hint.startswith(fix)


def test_follow_prints_only_what_arrives_oldest_first_and_stops_at_its_timeout() -> None:
    clock = Clock()
    fake = FakeReceiver(clock=clock)
    succeeded(fake, "lab-dev", "old0000")  # before --follow started: not printed
    fake.arrive(3.0, app="lab-dev", trigger="on-sync-succeeded", revision="new1111")
    fake.arrive(3.5, app="lab-staging", trigger="on-sync-failed", phase="Failed", message="boom")
    fake.arrive(9.0, app="lab-dev", trigger="on-health-degraded", health="Degraded")
    ctx, _ = make()
    printed = steps.follow(ctx, client=client(fake), timeout=8.0, interval=2.0, clock=clock, sleep=clock.sleep)
    assert [(n.app, n.trigger) for n in printed] == [
        ("lab-dev", "on-sync-succeeded"),
        ("lab-staging", "on-sync-failed"),
    ]
    assert "old0000" not in out(ctx)
    assert out(ctx).splitlines()[0].split("  ")[1:3] == ["lab-dev", "on-sync-succeeded"]
    assert clock.now == 8.0 and max(clock.sleeps) <= 2.0  # bounded: the last poll at the deadline, not after
    assert "for up to 8s (Ctrl-C stops)" in err(ctx)


def test_follow_stops_after_count_and_survives_a_receiver_restart() -> None:
    clock = Clock()
    fake = FakeReceiver(clock=clock)
    succeeded(fake, "lab-dev", "a")
    succeeded(fake, "lab-dev", "b")
    ctx, _ = make()

    def restart_then_one(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now == 2.0:
            fake.restart()
            fake.arrive(4.0, app="lab-prod", trigger="on-sync-succeeded")

    printed = steps.follow(
        ctx, client=client(fake), timeout=60, interval=2.0, clock=clock, sleep=restart_then_one, count=1
    )
    assert [n.app for n in printed] == ["lab-prod"]
    assert "the receiver restarted" in err(ctx)
    assert clock.now == 4.0  # stopped as soon as the one it waited for came


def test_follow_with_the_receiver_gone_says_how_to_start_it() -> None:
    ctx, _ = make()
    with pytest.raises(ServiceUnreachable) as exc:
        steps.follow(ctx, client=client(FakeReceiver(down=True)), timeout=5, clock=Clock(), sleep=Clock().sleep)
    assert exc.value.hint == "invoke up"


def test_the_aws_target_has_no_receiver() -> None:
    settings = Settings(target="aws")
    ctx, runner = make(settings)
    with pytest.raises(ConfigError):
        steps.notifications(ctx, client=client(FakeReceiver()))
    assert steps.show_recent(ctx, client=client(FakeReceiver())) is False
    assert runner.calls == []


def test_metrics_publish_puts_the_dora_text_the_receiver_accepts() -> None:
    from datetime import UTC, datetime, timedelta

    from lab.metrics import dora
    from lab.steps.metrics import EnvReport

    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    events = (dora.Event("a", dora.DEPLOY, t0, image="x:a"), dora.Event("b", dora.DEPLOY, t0 + timedelta(hours=1)))
    figures = dora.compute(list(events), env="dev", since=t0, until=t0 + timedelta(days=1))
    fake = FakeReceiver()
    ctx, _ = make()
    url = steps.publish_dora(ctx, [EnvReport(figures, events, "")], client=client(fake))
    assert url == f"{fake.base_url}/metrics" and fake.requests == [f"PUT {fake.base_url}/metrics/dora"]
    assert 'lab_dora_deployments{env="dev"} 2' in fake.dora.splitlines(), fake.dora
    # What receiver.py accepts: only comments and lab_dora_* samples.
    assert all(line.startswith(("#", "lab_dora_")) for line in fake.dora.splitlines() if line)

    ctx, _ = make()
    with pytest.raises(ServiceUnreachable) as exc:
        steps.publish_dora(ctx, [EnvReport(figures, events, "")], client=client(FakeReceiver(down=True)))
    assert exc.value.hint == "invoke up"


def test_dashboard_lists_the_receivers_url() -> None:
    from lab.steps import status as status_steps

    runner = FakeRunner(dry_run=True)
    ctx = Context(Settings(), runner, UI(err=io.StringIO(), out=io.StringIO()))
    status_steps.dashboard(ctx)
    assert "Notifications (JSON; `invoke notifications`): http://127.0.0.1:8095/notifications" in out(ctx).splitlines()

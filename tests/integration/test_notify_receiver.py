"""lab/images/notify: the real receiver container, started by the lab's own step (read-only, no capabilities, as
nobody), fed real HTTP posts with the JSON body the lab's Argo CD templates render, and read back through the lab's
client and `invoke notifications` steps."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from conftest import free_port
from servicekit import ROOT, RUN_ID, build, cleanup, state

from lab.clients.notify_receiver import ReceiverClient
from lab.components import notify_receiver
from lab.core import versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.runner import SubprocessRunner
from lab.core.ui import UI
from lab.steps import notifications as steps

pytestmark = pytest.mark.docker

CONTEXT = ROOT / "lab" / "images" / "notify"
# What argo-cd's notifications controller posts for the lab's app-sync-succeeded template (rendered by
# notifications-engine's templates.NewService with sprig's dict | toJson: keys sorted, values escaped).
SYNCED = (
    '{"app":"lab-dev","finishedAt":"2026-12-01T15:00:00Z","health":"Healthy","message":"Application lab-dev has been'
    ' successfully synced at 2026-12-01T15:00:00Z.","phase":"Succeeded","revision":"abc1234def","sync":"Synced",'
    '"trigger":"on-sync-succeeded"}'
)
FAILED = (
    '{"app":"lab-staging","finishedAt":"2026-12-01T15:01:00Z","health":"Healthy","message":"The sync operation of '
    'application lab-staging has failed at 2026-12-01T15:01:00Z with the following error: one \\"quoted\\" '
    'error\\nline",'
    '"phase":"Failed","revision":"0123456789","sync":"OutOfSync","trigger":"on-sync-failed"}'
)


@pytest.fixture(scope="module")
def image(base_image: str) -> Iterator[str]:
    tag = build(CONTEXT, "notify", base_image)
    yield tag
    cleanup()


@pytest.fixture
def receiver(image: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Context, str]]:
    """The receiver as `invoke up` runs it (lab.components.notify_receiver.ensure_receiver, real Runner), under a
    container name and cluster label of this test's own on the shared daemon."""
    name = f"gitops-lab-test-notify-{RUN_ID}"
    cluster = f"itest-notify-{RUN_ID}"
    monkeypatch.setattr(versions, "NOTIFY_IMAGE", image)
    monkeypatch.setattr(notify_receiver, "NOTIFY_CONTAINER", name)
    monkeypatch.setattr(steps, "NOTIFY_CONTAINER", name)
    settings = Settings(notify_port=free_port(), cluster_name=cluster)
    ctx = Context(settings, SubprocessRunner(), UI(err=io.StringIO(), out=io.StringIO()))
    try:
        url = notify_receiver.ensure_receiver(ctx)
        yield ctx, url
    finally:
        cleanup(f"gitops-lab.cluster={cluster}")


def post(url: str, body: str) -> requests.Response:
    # As webhook.go sends it: the body, no Content-Type header (retryablehttp.NewRequest sets none).
    return requests.post(f"{url}/notifications", data=body.encode(), timeout=5)


def test_runs_read_only_as_nobody_without_capabilities(receiver: tuple[Context, str]) -> None:
    ctx, url = receiver
    data = state(notify_receiver.NOTIFY_CONTAINER)
    host = data["HostConfig"]  # type: ignore[index]
    assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]  # type: ignore[index]
    assert "no-new-privileges" in host["SecurityOpt"]  # type: ignore[index]
    assert data["Config"]["User"] == "65534:65534"  # type: ignore[index]
    ports = host["PortBindings"]["8080/tcp"]  # type: ignore[index]
    assert ports == [{"HostIp": "127.0.0.1", "HostPort": str(ctx.settings.notify_port)}]
    assert requests.get(f"{url}/healthz", timeout=5).text == "ok\n"


def test_posts_are_read_back_newest_first_through_the_lab(receiver: tuple[Context, str]) -> None:
    ctx, url = receiver
    assert post(url, SYNCED).status_code == 201
    assert post(url, FAILED).status_code == 201
    assert post(url, "not json at all").status_code == 201  # kept as its text

    page = ReceiverClient(url).notifications()
    assert page.latest == 3
    assert [n.trigger for n in page.notifications] == ["", "on-sync-failed", "on-sync-succeeded"]
    assert page.notifications[0].message == "not json at all"
    failed = page.notifications[1]
    assert failed.message.endswith('one "quoted" error\nline') and failed.phase == "Failed"

    steps.notifications(ctx, limit=2)
    lines = ctx.ui.out.getvalue().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 2, lines
    assert "lab-staging  on-sync-failed  sync OutOfSync, health Healthy, revision 0123456 — The sync" in lines[1]
    assert lines[1].endswith("...") and len(lines[1].split(" — ", 1)[1]) == 120  # a long message: one cut line

    assert steps.show_recent(ctx) is True
    assert "lab-dev  on-sync-succeeded  sync Synced, health Healthy, revision abc1234" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]


def test_it_keeps_the_last_200_only(receiver: tuple[Context, str]) -> None:
    _, url = receiver
    session = requests.Session()
    for i in range(205):
        body = f'{{"app":"lab-dev","trigger":"on-sync-succeeded","revision":"{i:04d}"}}'
        assert session.post(f"{url}/notifications", data=body, timeout=5).status_code == 201
    page = ReceiverClient(url).notifications()
    assert page.latest == 205 and len(page.notifications) == notify_receiver.NOTIFY_KEEP == 200
    assert page.notifications[0].revision == "0204" and page.notifications[-1].revision == "0005"
    assert [n.revision for n in ReceiverClient(url).notifications(after=203).notifications] == ["0204", "0203"]


def test_metrics_count_by_app_and_trigger_and_serve_the_dora_figures_put_there(receiver: tuple[Context, str]) -> None:
    _, url = receiver
    post(url, SYNCED)
    post(url, SYNCED)
    post(url, '{"app":"we\\"ird","trigger":"on-health-degraded"}')
    text = requests.get(f"{url}/metrics", timeout=5).text
    assert 'lab_notifications_received_total{app="lab-dev",trigger="on-sync-succeeded"} 2' in text.splitlines()
    assert 'lab_notifications_received_total{app="we\\"ird",trigger="on-health-degraded"} 1' in text.splitlines()

    dora = '# TYPE lab_dora_deployments gauge\nlab_dora_deployments{env="dev",source="git"} 3\n'
    ReceiverClient(url).publish_dora(dora)
    assert requests.get(f"{url}/metrics", timeout=5).text.endswith(dora)
    refused = requests.put(f"{url}/metrics/dora", data="up 1\n", timeout=5)
    assert refused.status_code == 400 and "not a comment or a lab_dora_" in refused.text
    assert requests.get(f"{url}/metrics", timeout=5).text.endswith(dora)  # unchanged


def test_a_body_over_64_kib_is_refused(receiver: tuple[Context, str]) -> None:
    _, url = receiver
    assert post(url, "x" * (64 * 1024 + 1)).status_code == 413
    assert ReceiverClient(url).notifications().latest == 0


def test_follow_prints_what_is_posted_while_it_runs(receiver: tuple[Context, str]) -> None:
    ctx, url = receiver
    post(url, SYNCED)  # before: not printed

    def later() -> None:
        time.sleep(1.0)
        post(url, FAILED)

    poster = threading.Thread(target=later)
    poster.start()
    try:
        printed = steps.follow(ctx, timeout=20, interval=0.3, count=1)
    finally:
        poster.join(timeout=10)
    assert [n.app for n in printed] == ["lab-staging"]
    assert "lab-dev" not in ctx.ui.out.getvalue()  # type: ignore[attr-defined]


def test_a_stopped_receiver_is_explained_with_the_command_that_starts_it(receiver: tuple[Context, str]) -> None:
    ctx, _ = receiver
    SubprocessRunner().run(["docker", "stop", "-t", "1", notify_receiver.NOTIFY_CONTAINER])
    with pytest.raises(steps.ServiceUnreachable) as exc:
        steps.notifications(ctx)
    assert exc.value.hint == f"docker start {notify_receiver.NOTIFY_CONTAINER}"
    SubprocessRunner().run(exc.value.hint.split())  # the hint works
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            steps.notifications(ctx)
            break
        except steps.ServiceUnreachable:
            time.sleep(0.3)
    else:
        pytest.fail("the receiver did not answer within 30 s of `docker start`")

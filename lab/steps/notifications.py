"""`invoke notifications` and the notifications part of `invoke status`: what Argo CD's notifications controller
posted to the lab's receiver (lab/components/notify_receiver.py), newest first; with --follow, each new one as it
arrives, until --timeout or Ctrl-C."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lab.clients.notify_receiver import Notification, ReceiverClient, ReceiverUnreachable
from lab.components.notify_receiver import receiver_url
from lab.core.context import Context
from lab.core.errors import ConfigError, ServiceUnreachable
from lab.core.names import NOTIFY_CONTAINER
from lab.tools import docker

if TYPE_CHECKING:
    from lab.steps.metrics import EnvReport

STATUS_LINES = 5  # `invoke status` shows this many
FOLLOW_INTERVAL = 2.0  # seconds between two polls of --follow
FOLLOW_TIMEOUT = 600.0  # seconds --follow runs by default


def client_for(ctx: Context) -> ReceiverClient:
    return ReceiverClient(receiver_url(ctx.settings))


def why_unreachable(ctx: Context) -> tuple[str, str]:
    """(what is wrong, a command that fixes it) when the receiver does not answer, from Docker's view of it."""
    state = docker.container_state(ctx.runner, NOTIFY_CONTAINER)
    url = receiver_url(ctx.settings)
    if not state.exists:
        return f"the notification receiver ({NOTIFY_CONTAINER}) is not running", "invoke up"
    if not state.managed:
        return (f"{NOTIFY_CONTAINER} is not the lab's container", f"docker rm -f {NOTIFY_CONTAINER} && invoke up")
    if not state.running:
        return f"the notification receiver ({NOTIFY_CONTAINER}) is stopped", f"docker start {NOTIFY_CONTAINER}"
    return f"the notification receiver ({NOTIFY_CONTAINER}) runs but {url} does not answer", (
        f"docker logs {NOTIFY_CONTAINER}"
    )


def _check_target(ctx: Context) -> None:
    if ctx.settings.target != "local":
        raise ConfigError(
            "the notification receiver runs with the local target only (LAB_TARGET=local)",
            hint="invoke status (Argo CD's sync status and health of each environment)",
        )


def _unreachable(ctx: Context, exc: ReceiverUnreachable) -> ServiceUnreachable:
    what, fix = why_unreachable(ctx)
    return ServiceUnreachable(f"{what} ({exc})", hint=fix)


def show_recent(ctx: Context, *, client: ReceiverClient | None = None, limit: int = STATUS_LINES) -> bool:
    """For `invoke status`: the last LIMIT notifications, newest first, or why there are none. True if it answered."""
    if ctx.settings.target != "local":
        return False
    client = client or client_for(ctx)
    try:
        page = client.notifications(limit=limit)
    except ReceiverUnreachable:
        what, fix = why_unreachable(ctx)
        ctx.ui.warn(f"notifications: {what} → {fix}")
        return False
    ctx.ui.info(f"Notifications (newest first, {client.base_url}/notifications; more: invoke notifications):")
    if not page.notifications:
        ctx.ui.info("  none yet: Argo CD posts one when a sync succeeds or fails, or an app degrades")
    for item in page.notifications:
        ctx.ui.info("  " + item.line())
    return True


def notifications(ctx: Context, *, client: ReceiverClient | None = None, limit: int = 20) -> list[Notification]:
    """`invoke notifications`: the last LIMIT, newest first."""
    _check_target(ctx)
    client = client or client_for(ctx)
    try:
        page = client.notifications(limit=limit)
    except ReceiverUnreachable as exc:
        raise _unreachable(ctx, exc) from None
    if not page.notifications:
        ctx.ui.info("no notifications yet: Argo CD posts one when a sync succeeds or fails, or an app degrades")
    for item in page.notifications:
        ctx.ui.data(item.line())
    return list(page.notifications)


def follow(
    ctx: Context,
    *,
    client: ReceiverClient | None = None,
    timeout: float = FOLLOW_TIMEOUT,
    interval: float = FOLLOW_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    count: int | None = None,
) -> list[Notification]:
    """`invoke notifications --follow`: print each notification that arrives from now on (oldest first), until
    TIMEOUT seconds have passed or COUNT have arrived. Ctrl-C (KeyboardInterrupt) ends it where it is; the caller
    treats that as a normal stop. Returns what it printed."""
    _check_target(ctx)
    client = client or client_for(ctx)
    try:
        latest = client.notifications(limit=1).latest
    except ReceiverUnreachable as exc:
        raise _unreachable(ctx, exc) from None
    ctx.ui.info(f"following {client.base_url}/notifications for up to {timeout:g}s (Ctrl-C stops)")
    printed: list[Notification] = []
    deadline = clock() + timeout
    while clock() < deadline and (count is None or len(printed) < count):
        sleep(min(interval, max(0.0, deadline - clock())))
        try:
            page = client.notifications(after=latest)
        except ReceiverUnreachable as exc:
            raise _unreachable(ctx, exc) from None
        for item in reversed(page.notifications):  # oldest first, as they arrived
            ctx.ui.data(item.line())
            printed.append(item)
        if page.latest < latest:  # the receiver restarted (it keeps messages in memory): start over
            ctx.ui.warn("the receiver restarted: its earlier messages are gone")
        latest = page.latest
    return printed


def publish_dora(ctx: Context, reports: Sequence[EnvReport], *, client: ReceiverClient | None = None) -> str:
    """`invoke metrics --publish`: PUT the lab_dora_* figures (lab/metrics/report.py prometheus) to the receiver,
    whose /metrics serves them to Prometheus (job lab-notify, with monitoring on). Returns the URL they are on."""
    from lab.metrics import report  # only for --publish: `invoke status` does not need it

    _check_target(ctx)
    client = client or client_for(ctx)
    try:
        client.publish_dora(report.prometheus([r.figures for r in reports]))
    except ReceiverUnreachable as exc:
        raise _unreachable(ctx, exc) from None
    return f"{client.base_url}/metrics"

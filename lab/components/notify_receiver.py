"""The notification receiver: a lab service container (lab/images/notify) that Argo CD's notifications controller
posts its webhook messages to (argocd-notifications-cm: lab/manifests/argocd_notifications.py), by name on the
`kind` network (`http://lab-notify:8080`), and that the host reads on 127.0.0.1:<notify_port> (LAB_NOTIFY_PORT):
`invoke status` and `invoke notifications` print its messages; its /metrics counts them for Prometheus.

It keeps its messages in memory only: the container runs read-only, as nobody, with no capabilities.
"""

from __future__ import annotations

from lab.components.base import Component, Down, HostPort, Row, StatusView, Up
from lab.components.containers import (
    ContainerSpec,
    Probes,
    container_row,
    ensure_container,
    remove_service,
    status_ok,
)
from lab.components.service_images import COMPONENT_NOTIFY
from lab.core import versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.providers.wiring import NOTIFY_CONTAINER

NOTIFY_CONTAINER_PORT = 8080  # receiver.py listens here (NOTIFY_PORT)
NOTIFY_KEEP = 200  # messages it keeps (NOTIFY_KEEP)
NOTIFY_READY_TIMEOUT = 30.0
WHAT = "notification receiver"


def receiver_url(settings: Settings) -> str:
    """The receiver as the host reaches it."""
    return f"http://127.0.0.1:{settings.notify_port}"


def in_cluster_url() -> str:
    """The receiver as pods (the notifications controller, Prometheus) reach it: by name on the `kind` network."""
    return f"http://{NOTIFY_CONTAINER}:{NOTIFY_CONTAINER_PORT}"


def receiver_spec(settings: Settings) -> ContainerSpec:
    port = settings.notify_port
    return ContainerSpec(
        component=COMPONENT_NOTIFY,
        name=NOTIFY_CONTAINER,
        image=versions.NOTIFY_IMAGE,
        host_port=port,
        container_port=NOTIFY_CONTAINER_PORT,
        port_setting="LAB_NOTIFY_PORT",
        ready_url=f"{receiver_url(settings)}/healthz",
        ready=status_ok(200),
        ready_timeout=NOTIFY_READY_TIMEOUT,
        env={"NOTIFY_PORT": str(NOTIFY_CONTAINER_PORT), "NOTIFY_KEEP": str(NOTIFY_KEEP)},
        extra=("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"),
    )


def ensure_receiver(ctx: Context, *, force: bool = False, probe: Probes | None = None) -> str:
    """Run the receiver; returns its URL on the host."""
    spec = receiver_spec(ctx.settings)
    with ctx.ui.phase(f"Ensuring {WHAT} {spec.name} (127.0.0.1:{spec.host_port})") as phase:
        phase.note = ensure_container(ctx, spec, force=force, probe=probe or Probes())
    return receiver_url(ctx.settings)


class NotifyReceiverComponent(Component):
    name = "notify"

    def host_ports(self, settings: Settings) -> list[HostPort]:
        return [HostPort(settings.notify_port, WHAT)]

    def dashboard_links(self, settings: Settings) -> list[tuple[str, str]]:
        return [("Notifications (JSON; `invoke notifications`)", f"{receiver_url(settings)}/notifications")]

    def ensure(self, run: Up) -> None:
        run.made[self.name] = ensure_receiver(run.ctx, force=run.force, probe=run.service_probes)

    def status_rows(self, view: StatusView) -> list[Row]:
        return [container_row(view.ctx, WHAT, NOTIFY_CONTAINER, receiver_url(view.ctx.settings))]

    def remove(self, run: Down) -> None:
        remove_service(run.ctx, COMPONENT_NOTIFY, WHAT, volumes=run.purge)

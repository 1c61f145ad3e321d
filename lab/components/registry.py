"""The registry the host pushes to: the lab's own (Debian's CNCF distribution, built) unless LAB_REGISTRY names one."""

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
from lab.components.service_images import COMPONENT_REGISTRY
from lab.core import names, versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import RegistryError
from lab.providers.wiring import REGISTRY_CONTAINER, REGISTRY_CONTAINER_PORT

REGISTRY_VOLUME = names.REGISTRY_VOLUME
REGISTRY_READY_TIMEOUT = 30.0


def registry_spec(settings: Settings) -> ContainerSpec:
    return ContainerSpec(
        component=COMPONENT_REGISTRY,
        name=REGISTRY_CONTAINER,
        image=versions.REGISTRY_IMAGE,
        host_port=settings.registry_port,
        container_port=REGISTRY_CONTAINER_PORT,
        port_setting="LAB_REGISTRY_PORT",
        ready_url=f"http://127.0.0.1:{settings.registry_port}/v2/",
        ready=status_ok(200),
        ready_timeout=REGISTRY_READY_TIMEOUT,
        volumes=((REGISTRY_VOLUME, "/var/lib/docker-registry"),),
        named_volumes=(REGISTRY_VOLUME,),
    )


def ensure_registry(ctx: Context, *, force: bool = False, probe: Probes | None = None) -> str:
    """The registry the host pushes to (host:port). Starts the lab's own unless LAB_REGISTRY names one."""
    settings = ctx.settings
    probe = probe or Probes()
    if settings.registry:
        url = f"http://{settings.registry}/v2/"
        with ctx.ui.phase(f"Checking registry {settings.registry} (LAB_REGISTRY)") as phase:
            if ctx.dry_run:
                phase.note = f"(dry run) would GET {url}"
                return settings.registry
            answer = probe.http_get(url)
            # 401 is a registry that wants a login: it answers the V2 API all the same.
            if answer is None or answer.status not in (200, 401):
                got = "no answer" if answer is None else f"HTTP {answer.status}"
                raise RegistryError(
                    f"LAB_REGISTRY={settings.registry} does not answer GET {url} ({got})",
                    hint="start that registry, fix LAB_REGISTRY (host:port, plain HTTP), or unset it to let the lab "
                    "run its own",
                )
            phase.note = f"answers GET /v2/ over HTTP (HTTP {answer.status}); the lab starts no registry"
        return settings.registry
    spec = registry_spec(settings)
    with ctx.ui.phase(f"Ensuring registry {spec.name} (127.0.0.1:{spec.host_port})") as phase:
        phase.note = ensure_container(ctx, spec, force=force, probe=probe)
    return settings.registry_host


class RegistryComponent(Component):
    name = "registry"

    def host_ports(self, settings: Settings) -> list[HostPort]:
        return [] if settings.registry else [HostPort(settings.registry_port, "registry")]

    def ensure(self, run: Up) -> None:
        run.made[self.name] = ensure_registry(run.ctx, force=run.force, probe=run.service_probes)

    def status_rows(self, view: StatusView) -> list[Row]:
        s = view.ctx.settings
        if s.registry:
            return [("registry", "external", s.registry_host)]
        return [container_row(view.ctx, "registry", registry_spec(s).name, s.registry_host)]

    def remove(self, run: Down) -> None:
        remove_service(run.ctx, COMPONENT_REGISTRY, "registry", volumes=run.purge)

"""Running one of the lab's service containers: observe -> compare -> act.

| observed (container by name)                                | action                                         |
|-------------------------------------------------------------|------------------------------------------------|
| absent                                                      | check the host port is free, create, wait      |
| the lab's, this cluster's, running, as wanted               | reuse                                          |
| the lab's, this cluster's, stopped                          | check the port, start, wait                    |
| the lab's, but built from another image or spec (label)     | say why, remove, create (data lives in volumes |
|                                                             | or on the host, so nothing is lost)            |
| the lab's, running, but its bind mount is not the host      | say why, remove, create (the git server after  |
| directory there now (a token written on the host is not     | `rm -rf .lab`: it would serve the deleted      |
| what the container reads)                                   | directory)                                     |
| not the lab's, or another cluster's                         | Conflict, unless force: say why, replace it    |

Containers publish on 127.0.0.1 only and start on Docker's default network: the cluster component connects them
to the `kind` network once kind has created it (lab/providers/wiring.py). Creating that network here is avoided on
purpose: kind reuses any network named `kind` as it finds it, without the IPv6 subnet and MTU it would have given
it (kind pkg/cluster/internal/providers/docker/network.go, ensureNetwork).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.core import names
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import Conflict, NotReady
from lab.tools import docker, docker_objects, ecr, probes
from lab.tools.probes import HttpAnswer

SPEC_LABEL = names.SPEC_LABEL  # on containers: digest of how the lab ran them (image, ports, mounts, env)
MOUNT_CHECK_FILE = ".gitops-lab-mount-check"  # written into bind-mounted host directories, read back in the container


# Probes (injectable) -----------------------------------------------------------------------------------
@dataclass
class Probes:
    """What the steps learn from the network and the clock; unit tests replace these."""

    port_free: Callable[[int], bool] = probes.port_free
    http_get: Callable[[str], HttpAnswer | None] = probes.http_get
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    ecr_client: Callable[[Settings], Any] = ecr.ecr_client


# Containers --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContainerSpec:
    component: str
    name: str
    image: str
    host_port: int
    container_port: int
    port_setting: str  # the LAB_* variable that moves the host port
    ready_url: str
    ready: Callable[[HttpAnswer], bool]
    ready_timeout: float
    volumes: tuple[tuple[str, str], ...] = ()
    named_volumes: tuple[str, ...] = ()  # created first, with the lab's labels, so `down --volumes` finds them
    env: Mapping[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()

    def digest(self) -> str:
        data = [self.image, self.host_port, self.container_port, self.volumes, sorted(self.env.items()), self.extra]
        return hashlib.sha256(json.dumps(data, default=list).encode()).hexdigest()[:16]


def status_ok(*codes: int) -> Callable[[HttpAnswer], bool]:
    return lambda answer: answer.status in codes


def localstack_init_done(answer: HttpAnswer) -> bool:
    """GET /_localstack/init/ready answers {"completed": true, "scripts": [...]} once ready.d has run."""
    if answer.status != 200:
        return False
    try:
        return bool(json.loads(answer.body).get("completed"))
    except (ValueError, AttributeError):
        return False


def _labels(spec: ContainerSpec, settings: Settings) -> dict[str, str]:
    return {**docker.labels_for(spec.component, settings.cluster_name), SPEC_LABEL: spec.digest()}


def _host_port_binding(data: Mapping[str, Any], container_port: int) -> str:
    bindings = ((data.get("HostConfig") or {}).get("PortBindings") or {}).get(f"{container_port}/tcp") or []
    return ", ".join(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}" for b in bindings)  # noqa: S104


def _drift(ctx: Context, spec: ContainerSpec, data: Mapping[str, Any]) -> str | None:
    """Why a lab container no longer matches what the lab would run now, or None."""
    labels = (data.get("Config") or {}).get("Labels") or {}
    if labels.get(SPEC_LABEL) != spec.digest():
        image = (data.get("Config") or {}).get("Image", "")
        published = _host_port_binding(data, spec.container_port) or "nothing"
        if image != spec.image:
            return f"it runs {image}, the lab now uses {spec.image}"
        if published != f"127.0.0.1:{spec.host_port}":
            return f"it publishes {published}, the lab now wants 127.0.0.1:{spec.host_port}"
        return "its settings (mounts, environment) differ from the lab's"
    image = docker_objects.image_inspect(ctx.runner, spec.image)
    if image and data.get("Image") and image.get("Id") and data.get("Image") != image.get("Id"):
        return f"{spec.image} was rebuilt since the container was created"
    return None


def _stale_bind_mount(ctx: Context, spec: ContainerSpec) -> str | None:
    """Why a running container no longer sees the host directory its bind mount names, or None.

    A bind mount holds the directory it was made from, not its path: after `rm -rf .lab` and a fresh .lab/git, the
    running git server still serves the deleted directory, and `docker inspect` shows the same Source path. So a
    fresh token is written into the host directory and read back through the container. (`docker start` mounts
    the path afresh, so only a running container can be stale.)"""
    if ctx.dry_run:
        return None
    for source, target in spec.volumes:
        host = Path(source)
        if not host.is_absolute() or not host.is_dir():  # named volumes and single files
            continue
        token = secrets.token_hex(8)
        (host / MOUNT_CHECK_FILE).write_text(token + "\n")
        seen = docker_objects.read_file(ctx.runner, spec.name, f"{target.split(':', 1)[0]}/{MOUNT_CHECK_FILE}")
        if (seen or "").strip() != token:
            return f"it serves a directory that is no longer {host} (removed or replaced while it ran)"
    return None


def _check_port(ctx: Context, spec: ContainerSpec, probe: Probes) -> None:
    if probe.port_free(spec.host_port):
        return
    message = f"port {spec.host_port} on 127.0.0.1 is busy: {spec.name} cannot publish it"
    hint = (
        f"stop what listens there (`lsof -iTCP:{spec.host_port} -sTCP:LISTEN` or `ss -ltnp`), "
        f"or choose another port: {spec.port_setting}=<port>"
    )
    if ctx.dry_run:
        ctx.ui.warn(f"{message} ({hint})")
        return
    raise Conflict(message, hint=hint)


def _create(ctx: Context, spec: ContainerSpec, probe: Probes) -> None:
    _check_port(ctx, spec, probe)
    for volume in spec.named_volumes:
        if not docker_objects.volume_exists(ctx.runner, volume):
            docker_objects.create_volume(
                ctx.runner, volume, docker.labels_for(spec.component, ctx.settings.cluster_name)
            )
    docker.run_container(
        ctx.runner,
        name=spec.name,
        image=spec.image,
        labels=_labels(spec, ctx.settings),
        ports=[("127.0.0.1", spec.host_port, spec.container_port)],
        volumes=spec.volumes,
        env=spec.env,
        extra=spec.extra,
    )


def _wait_ready(ctx: Context, spec: ContainerSpec, probe: Probes) -> None:
    """Poll spec.ready_url until spec.ready(answer), bounded by spec.ready_timeout; fail fast if the container
    stops (an emulator that rejects its license exits, for instance)."""
    if ctx.dry_run:
        ctx.ui.info(f"  (dry run) would wait up to {spec.ready_timeout:g}s for GET {spec.ready_url}")
        return
    deadline = probe.clock() + spec.ready_timeout
    delay, last, polls = 0.1, "no answer yet", 0
    while True:
        answer = probe.http_get(spec.ready_url)
        if answer is not None:
            if spec.ready(answer):
                return
            last = f"HTTP {answer.status} {answer.body.strip()[:200]}"
        polls += 1
        if polls % 5 == 0 and not docker.container_state(ctx.runner, spec.name).running:
            logs = docker_objects.logs_tail(ctx.runner, spec.name)
            raise NotReady(
                f"container {spec.name}",
                "exited" + (f"; its last lines:\n{logs}" if logs else ""),
                spec.ready_timeout,
                hint=f"`docker logs {spec.name}` shows why",
            )
        if probe.clock() >= deadline:
            raise NotReady(
                f"{spec.name} (GET {spec.ready_url})",
                last,
                spec.ready_timeout,
                hint=f"`docker logs {spec.name}`; `docker rm -f {spec.name}` and `invoke up` start it afresh",
            )
        probe.sleep(delay)
        delay = min(delay * 2, 1.0)


def ensure_container(ctx: Context, spec: ContainerSpec, *, force: bool, probe: Probes) -> str:
    """Make ``spec`` run; returns "created" | "reused" | "started" | "recreated" | "replaced"."""
    settings = ctx.settings
    data = docker.inspect_container(ctx.runner, spec.name)
    action = "created"
    if data is not None:
        labels = (data.get("Config") or {}).get("Labels") or {}
        running = bool((data.get("State") or {}).get("Running"))
        owner = labels.get(names.CLUSTER_LABEL, "")
        managed = labels.get(docker.MANAGED_LABEL) == "true"
        if not managed or owner != settings.cluster_name:
            whose = f"the lab's cluster {owner!r}" if managed else "something other than the lab"
            if not force:
                raise Conflict(
                    f"a container named {spec.name} exists and belongs to {whose}; leaving it untouched",
                    hint=f"remove it (`docker rm -f {spec.name}`)"
                    + (f", or `invoke down` with LAB_CLUSTER_NAME={owner}" if managed else "")
                    + ", or replace it with --force",
                )
            ctx.ui.warn(f"container {spec.name} belongs to {whose}; --force: replacing it")
            docker.remove_container(ctx.runner, spec.name)
            action = "replaced"
        elif (reason := _drift(ctx, spec, data)) is not None:
            ctx.ui.info(f"  {spec.name}: {reason}; recreating it (its data is kept)")
            docker_objects.stop_container(ctx.runner, spec.name)
            docker.remove_container(ctx.runner, spec.name)
            action = "recreated"
        elif running and (reason := _stale_bind_mount(ctx, spec)) is not None:
            ctx.ui.info(f"  {spec.name}: {reason}; recreating it on the directory there now")
            docker.remove_container(ctx.runner, spec.name)
            action = "recreated"
        elif running:
            return "reused"
        else:
            _check_port(ctx, spec, probe)
            docker.start_container(ctx.runner, spec.name)
            _wait_ready(ctx, spec, probe)
            return "started"
    _create(ctx, spec, probe)
    _wait_ready(ctx, spec, probe)
    return action


def remove_containers(ctx: Context, component: str, *, volumes: bool = False, stop_first: bool = False) -> list[str]:
    """Remove COMPONENT's containers of this cluster (found by label); with VOLUMES its labelled volumes too.
    STOP_FIRST: `docker stop` before removing (MiniStack saves its state on SIGTERM). Returns what was removed."""
    removed: list[str] = []
    labels = docker.labels_for(component, ctx.settings.cluster_name)
    for name in docker.list_containers(ctx.runner, labels):
        if stop_first:
            docker_objects.stop_container(ctx.runner, name)
        if docker.remove_container(ctx.runner, name):
            removed.append(name)
    if volumes:
        for volume in docker_objects.list_volumes(ctx.runner, labels):
            if docker_objects.remove_volume(ctx.runner, volume):
                removed.append(f"volume {volume}")
    return removed


def container_row(ctx: Context, what: str, name: str, endpoint: str) -> tuple[str, str, str]:
    """A status row: absent, running or stopped, and whether the container is the lab's."""
    state = docker.container_state(ctx.runner, name)
    if not state.exists:
        return (what, "absent", endpoint)
    word = "running" if state.running else "stopped"
    return (what, word + ("" if state.managed else " (not the lab's)"), endpoint)


def remove_service(ctx: Context, component: str, what: str, *, volumes: bool, stop_first: bool = False) -> list[str]:
    """`down` for one service: its containers (and with VOLUMES its volumes), in a phase of its own."""
    with ctx.ui.phase(f"Removing the lab's {what}") as phase:
        removed = remove_containers(ctx, component, volumes=volumes, stop_first=stop_first)
        phase.note = ", ".join(removed) if removed else "nothing to remove"
    return removed

"""Wiring the lab's service containers into a local cluster's Docker network.

The containers are other components' (lab/components/ runs them); providers only connect them to the
cluster network, so pods and nodes resolve them by name, and point the nodes' registry mirrors at them.
"""

from __future__ import annotations

from collections.abc import Sequence

from lab.core import names
from lab.core.config import Settings
from lab.core.context import Context
from lab.providers.base import RegistryLink
from lab.tools import docker

REGISTRY_CONTAINER = names.REGISTRY_CONTAINER
REGISTRY_CONTAINER_PORT = 5000  # registry:2 / distribution listens on 5000 inside its container
ECR_CONTAINER = names.ECR_CONTAINER
ECR_CONTAINER_PORT = 4566  # MiniStack's gateway port inside its container
GIT_CONTAINER = names.GIT_CONTAINER


def default_registry_links(settings: Settings) -> list[RegistryLink]:
    """The registries the lab runs for the local target: its registry and, unless an endpoint is given, the
    ECR emulator. An external registry (settings.registry) is the user's to make reachable."""
    links: list[RegistryLink] = []
    if not settings.registry:
        links.append(RegistryLink(settings.registry_host, REGISTRY_CONTAINER, REGISTRY_CONTAINER_PORT))
    if settings.target == "local" and not settings.aws_endpoint_url:
        links.append(RegistryLink(f"localhost:{settings.emulator_port}", ECR_CONTAINER, ECR_CONTAINER_PORT))
    return links


def default_attached_containers(settings: Settings) -> list[str]:
    """Other lab containers pods must reach by name: the git server (unless an external remote is used)."""
    return [] if settings.gitops_remote else [GIT_CONTAINER]


def attach_to(ctx: Context, network: str, containers: Sequence[str]) -> None:
    """Connect containers to the cluster's Docker network so pods and nodes resolve them by name."""
    for name in containers:
        state = docker.container_state(ctx.runner, name)
        if state.exists and network in state.networks:
            continue
        if state.exists or ctx.dry_run:
            docker.network_connect(ctx.runner, network, name)
        else:
            ctx.ui.warn(f"container {name} does not exist yet; once it runs: `docker network connect {network} {name}`")

"""Wiring the lab's service containers into a local cluster's Docker network.

The containers are other components' (lab/components/ runs them); providers only connect them to the
cluster network, so pods and nodes resolve them by name, and point the nodes' registry mirrors at them.
"""

from __future__ import annotations

from collections.abc import Sequence

from lab import registries
from lab.core import names
from lab.core.config import Settings
from lab.core.context import Context
from lab.registries.base import RegistryLink
from lab.registries.ecr_emulator import CONTAINER as ECR_CONTAINER
from lab.registries.ecr_emulator import CONTAINER_PORT as ECR_CONTAINER_PORT
from lab.registries.local import CONTAINER as REGISTRY_CONTAINER
from lab.registries.local import CONTAINER_PORT as REGISTRY_CONTAINER_PORT
from lab.tools import docker

GIT_CONTAINER = names.GIT_CONTAINER
NOTIFY_CONTAINER = names.NOTIFY_CONTAINER


def default_registry_links(settings: Settings) -> list[RegistryLink]:
    """How the nodes reach the lab's registries (lab.registries.cluster_links)."""
    return registries.cluster_links(settings)


def default_attached_containers(settings: Settings) -> list[str]:
    """Other lab containers pods must reach by name: the git server (unless an external remote is used) and the
    notification receiver (Argo CD's notifications controller posts to it)."""
    return ([] if settings.gitops_remote else [GIT_CONTAINER]) + [NOTIFY_CONTAINER]


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


__all__ = [
    "ECR_CONTAINER",
    "ECR_CONTAINER_PORT",
    "GIT_CONTAINER",
    "NOTIFY_CONTAINER",
    "REGISTRY_CONTAINER",
    "REGISTRY_CONTAINER_PORT",
    "attach_to",
    "default_attached_containers",
    "default_registry_links",
]

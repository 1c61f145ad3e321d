"""The cluster provider protocol (after kind's `pkg/cluster/internal/providers/provider.go`), split by role.

`ClusterProvider` is what every provider does: the infrastructure (exists, create, delete, ready) and whether the
cluster is the lab's. What only some providers do is a protocol of its own, and `Capabilities` says which, so the
steps ask a provider what it can do instead of comparing its name:

| protocol / capability       | kind                    | minikube              | eks                       |
|-----------------------------|-------------------------|-----------------------|---------------------------|
| ownership                   | marker file             | marker file           | tags on the EKS cluster   |
| `MarkerOwned` (adopt, drift)| yes                     | yes (no drift check)  | no                        |
| `SideLoader` (load_images)  | `kind load`             | `minikube image load` | no: nodes pull from ECR   |
| `DockerNetworked` (wiring)  | hosts.toml + network    | network only          | no Docker network         |
| reaches the host registry   | "mirror" (hosts.toml)   | "load" (after a push) | "none" (pulls ECR)        |
| Argo CD UI                  | NodePort on the host    | kubectl port-forward  | (LoadBalancer, not lab's) |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from lab.core.context import Context
from lab.registries.base import RegistryLink


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do, known from its class (no cluster, no AWS call needed to ask)."""

    ownership: Literal["marker", "tags"]  # how the lab knows the cluster is its own (see ownership.py)
    side_loads_images: bool  # copies images from the host's Docker into the nodes
    reaches_host_registry: Literal["mirror", "load", "none"]  # how pods get localhost:<port>/... images
    ui_port_forward: bool  # the Argo CD UI is reached by `kubectl port-forward`, not a published node port
    docker_nodes: bool  # its nodes are Docker containers: visible (status, down) without the provider's CLI
    installs_pinned_cli: bool  # the lab installs the provider's CLI, pinned (`invoke doctor --fix`)


@dataclass(frozen=True)
class NodeIdentity:
    """What tells this cluster instance apart from a later one with the same name."""

    id: str
    created: datetime | None


class ClusterProvider(Protocol):
    """Every provider: the cluster's infrastructure, and whether it is the lab's."""

    name: str
    capabilities: Capabilities

    def exists(self, ctx: Context) -> bool: ...

    def identity(self, ctx: Context) -> NodeIdentity | None: ...

    def created_by_lab(self, ctx: Context) -> bool: ...

    def begun_by_lab(self, ctx: Context) -> bool: ...

    def ready(self, ctx: Context) -> bool: ...

    def create(self, ctx: Context) -> None: ...

    def delete(self, ctx: Context) -> None: ...

    def kubeconfig_context(self, ctx: Context) -> str: ...


@runtime_checkable
class MarkerOwned(Protocol):
    """Ownership recorded by the lab in a marker file (ownership.py): adopt a half-created cluster, and compare
    the config it was created from with the settings."""

    def adopt(self, ctx: Context) -> None: ...

    def config_drift(self, ctx: Context) -> list[str]: ...


@runtime_checkable
class SideLoader(Protocol):
    """Copies local images into the nodes (capability side_loads_images)."""

    def load_images(self, ctx: Context, images: Sequence[str]) -> None: ...


@runtime_checkable
class DockerNetworked(Protocol):
    """Nodes are Docker containers on a Docker network: lab containers are attached to it by name, registries
    wired in, and the nodes can be found (and their removal described) without the provider's CLI."""

    def wire_registry(self, ctx: Context, registries: Sequence[RegistryLink]) -> None: ...

    def attach(self, ctx: Context, containers: Sequence[str]) -> None: ...

    def node_containers(self, ctx: Context) -> list[str]: ...

    def delete_command(self) -> str: ...

    def remove_nodes_command(self, nodes: Sequence[str]) -> str | None: ...


class LocalCluster(ClusterProvider, MarkerOwned, SideLoader, DockerNetworked, Protocol):
    """A cluster on this machine's Docker (kind, minikube): all of the above."""


def write_cluster_config(ctx: Context, path: Path, text: str) -> Path:
    """Write a cluster config file the provider's CLI reads; a dry run shows it instead."""
    if ctx.dry_run:
        ctx.ui.manifest(str(path), text)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path

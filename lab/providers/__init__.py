"""Cluster providers: a small protocol split by role (base.py), ownership (ownership.py), the wiring of the lab's
containers into a local cluster (wiring.py), and one module per provider: kind (the default), minikube, eks."""

from __future__ import annotations

from collections.abc import Sequence

from lab.core.config import Settings
from lab.core.errors import ConfigError
from lab.manifests.kind import PortMapping
from lab.providers.base import (
    Capabilities,
    ClusterProvider,
    DockerNetworked,
    LocalCluster,
    MarkerOwned,
    NodeIdentity,
    SideLoader,
    write_cluster_config,
)
from lab.providers.eks import EksProvider
from lab.providers.kind import KindProvider
from lab.providers.minikube import MinikubeProvider
from lab.providers.ownership import (
    CLOCK_SKEW,
    CREATED,
    CREATING,
    Ownership,
    forget_ownership,
    marker_path,
    parse_timestamp,
    read_ownership,
    write_ownership,
)
from lab.providers.wiring import (
    ECR_CONTAINER,
    ECR_CONTAINER_PORT,
    GIT_CONTAINER,
    REGISTRY_CONTAINER,
    REGISTRY_CONTAINER_PORT,
    default_attached_containers,
    default_registry_links,
)
from lab.registries.base import RegistryLink

LOCAL_PROVIDERS: dict[str, type[KindProvider] | type[MinikubeProvider]] = {
    KindProvider.name: KindProvider,
    MinikubeProvider.name: MinikubeProvider,
}


def provider_class(settings: Settings) -> type[KindProvider] | type[MinikubeProvider] | type[EksProvider]:
    """The provider these settings select, without making one (no cluster, no AWS call)."""
    if settings.target == "aws":
        return EksProvider
    if settings.target != "local":
        raise ConfigError(
            f"no local cluster provider for target {settings.target!r}",
            hint="kind and minikube serve target=local; the aws target uses EKS",
        )
    if settings.provider in LOCAL_PROVIDERS:
        return LOCAL_PROVIDERS[settings.provider]
    raise ConfigError(f"unknown provider {settings.provider!r}", hint="valid values: kind, minikube")


def capabilities_for(settings: Settings) -> Capabilities:
    return provider_class(settings).capabilities


def local_provider_for(
    settings: Settings, *, workers: int = 0, node_ports: Sequence[PortMapping] | None = None
) -> KindProvider | MinikubeProvider:
    """The local cluster's provider (ConfigError on target aws: EKS is not a local cluster). NODE_PORTS: see
    KindProvider (lab.components.cluster.cluster_provider passes the components' node ports)."""
    cls = provider_class(settings)
    if cls is KindProvider:
        return KindProvider(settings, workers=workers, node_ports=node_ports)
    if cls is MinikubeProvider:
        return MinikubeProvider(settings)  # registries: wired by ensure_cluster, not at minikube's start
    raise ConfigError(f"target {settings.target} has no local cluster", hint="LAB_TARGET=local")


def provider_for(
    settings: Settings, *, workers: int = 0, node_ports: Sequence[PortMapping] | None = None
) -> KindProvider | MinikubeProvider | EksProvider:
    if provider_class(settings) is EksProvider:
        return EksProvider(settings)
    return local_provider_for(settings, workers=workers, node_ports=node_ports)


__all__ = [
    "CLOCK_SKEW",
    "CREATED",
    "CREATING",
    "ECR_CONTAINER",
    "ECR_CONTAINER_PORT",
    "GIT_CONTAINER",
    "LOCAL_PROVIDERS",
    "REGISTRY_CONTAINER",
    "REGISTRY_CONTAINER_PORT",
    "Capabilities",
    "ClusterProvider",
    "DockerNetworked",
    "EksProvider",
    "KindProvider",
    "LocalCluster",
    "MarkerOwned",
    "MinikubeProvider",
    "NodeIdentity",
    "Ownership",
    "RegistryLink",
    "SideLoader",
    "capabilities_for",
    "default_attached_containers",
    "default_registry_links",
    "forget_ownership",
    "local_provider_for",
    "marker_path",
    "parse_timestamp",
    "provider_class",
    "provider_for",
    "read_ownership",
    "write_cluster_config",
    "write_ownership",
]

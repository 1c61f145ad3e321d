"""The lab's components, in the order `up` ensures them (and `down` removes them, newest first).

`up`, `down`, `status`, `cache`, `doctor` and the kind cluster's port mappings all derive from COMPONENTS; each
component says which targets it belongs to. An optional component (monitoring, say) is one module with a
`Component` subclass (lab/components/base.py) and one line here.
"""

from __future__ import annotations

from lab.components.argocd import ArgoCDComponent
from lab.components.base import Component, HostPort
from lab.components.cluster import ClusterComponent
from lab.components.ecr_emulator import EcrEmulatorComponent
from lab.components.ecr_repository import EcrRepositoryComponent
from lab.components.eks_cluster import EksClusterComponent
from lab.components.first_deploy import FirstDeployComponent
from lab.components.git_server import GitServerComponent
from lab.components.monitoring import MonitoringComponent
from lab.components.notify_receiver import NotifyReceiverComponent
from lab.components.registry import RegistryComponent
from lab.components.sealed_secrets import SealedSecretsComponent
from lab.core.config import Settings
from lab.manifests.kind import PortMapping, check_port_mappings

COMPONENTS: list[Component] = [
    RegistryComponent(),  # the services first: the cluster attaches their containers to its network
    EcrEmulatorComponent(),
    GitServerComponent(),
    NotifyReceiverComponent(),  # Argo CD's notifications are posted to it (by name on the cluster network)
    ClusterComponent(),
    EksClusterComponent(),
    EcrRepositoryComponent(),
    FirstDeployComponent(),  # before Argo CD looks at the GitOps repo
    ArgoCDComponent(),
    MonitoringComponent(),  # optional (with_components): deployed by Argo CD from the GitOps repo
    SealedSecretsComponent(),  # optional (with_components): deployed by Argo CD from the GitOps repo
]


def of_target(settings: Settings) -> list[Component]:
    """The components of the settings' target, in order (what `down` and `status` go through)."""
    return [c for c in COMPONENTS if settings.target in c.targets]


def enabled(settings: Settings) -> list[Component]:
    """The components these settings run, in order (what `up`, `cache` and `doctor` go through)."""
    return [c for c in COMPONENTS if c.enabled(settings)]


def host_ports(settings: Settings) -> list[HostPort]:
    return [port for c in enabled(settings) for port in c.host_ports(settings)]


def node_ports(settings: Settings) -> list[PortMapping]:
    """The NodePorts a kind cluster publishes on 127.0.0.1 (extraPortMappings); no two on one host port."""
    return check_port_mappings(
        [PortMapping(p.name, p.node_port, p.port, p.what) for p in host_ports(settings) if p.node_port is not None]
    )


def pulled_images(settings: Settings) -> list[str]:
    """The pinned upstream images the enabled components run, in order, each once."""
    return list(dict.fromkeys(image for c in enabled(settings) for image in c.images(settings)))


__all__ = ["COMPONENTS", "Component", "HostPort", "enabled", "host_ports", "node_ports", "of_target", "pulled_images"]

"""The lab's own registry: Debian's CNCF distribution in container lab-registry, published on
127.0.0.1:<registry_port> (LAB_REGISTRY_PORT), or an existing registry LAB_REGISTRY names.

Pods pull the very name the host pushes: kind's local-registry recipe maps `localhost:5001` on every node to the
registry container (containerd hosts.toml; https://kind.sigs.k8s.io/docs/user/local-registry/), minikube gets the
image side-loaded under that name. On the aws target it is refused: EKS nodes cannot pull from this machine.
"""

from __future__ import annotations

from lab.core import names
from lab.core.errors import ConfigError
from lab.registries.base import Registry, RegistryLink, Repositories, is_loopback
from lab.tools import registry

CONTAINER = names.REGISTRY_CONTAINER
CONTAINER_PORT = 5000  # distribution listens on 5000 inside its container


class LocalRegistry(Registry):
    kind = "local"

    def repositories(self) -> Repositories:
        """An error rather than switching to ECR by itself on the aws target: push_registry defaults to local, so
        the lab cannot tell a forgotten `--registry ecr` from a deliberate choice, and pushing to a paid AWS
        registry is not a thing to do unasked."""
        settings = self.settings
        repo = f"{settings.registry_host}/{settings.image_name}"
        if settings.target == "aws" and is_loopback(settings.registry_host):
            raise ConfigError(
                f"target aws with push_registry=local would deploy {repo}: EKS nodes cannot pull from this machine",
                hint="ship to ECR: `invoke ship --registry ecr --target aws` (or LAB_PUSH_REGISTRY=ecr)",
            )
        return Repositories(repo, repo)

    def link(self) -> RegistryLink | None:
        """The lab's registry container; an external registry (LAB_REGISTRY) is the user's to make reachable."""
        if self.settings.registry:
            return None
        return RegistryLink(self.settings.registry_host, CONTAINER, CONTAINER_PORT)

    def check_reachable(self) -> None:
        """GET /v2/ on a loopback registry (a registry elsewhere is the user's: the push says whether it answers)."""
        host = self.repositories().host
        if is_loopback(host):
            registry.ping(host)

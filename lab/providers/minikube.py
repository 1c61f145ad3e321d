"""The minikube provider (Docker driver): its node is a container named after the profile, on a Docker network
of the same name. Ownership is a marker file (ownership.py)."""

from __future__ import annotations

from collections.abc import Sequence

from lab.core.context import Context
from lab.providers.base import Capabilities, NodeIdentity
from lab.providers.ownership import MarkerOwnedCluster, container_identity
from lab.providers.wiring import attach_to
from lab.registries.base import RegistryLink
from lab.tools import docker
from lab.tools import minikube as minikube_tool


class MinikubeProvider(MarkerOwnedCluster):
    """minikube with the Docker driver: its node is a container named after the profile, on a Docker
    network of the same name. No local-registry-hosting ConfigMap (that is kind's recipe), no registry addon
    and no insecure registries: images reach the node by `minikube image load` (lab/steps/ship.py)."""

    name = "minikube"
    capabilities = Capabilities(
        ownership="marker",
        side_loads_images=True,
        reaches_host_registry="load",
        ui_port_forward=True,
        docker_nodes=True,
        installs_pinned_cli=False,
    )
    driver = "docker"

    @property
    def profile(self) -> str:
        return self.settings.cluster_name

    def exists(self, ctx: Context) -> bool:
        return any(p.name == self.profile for p in minikube_tool.profile_list(ctx.runner))

    def identity(self, ctx: Context) -> NodeIdentity | None:
        return container_identity(ctx, self.profile)

    def node_containers(self, ctx: Context) -> list[str]:
        """The node container (named after the profile), found without minikube."""
        return [self.profile] if docker.container_state(ctx.runner, self.profile).exists else []

    def create(self, ctx: Context) -> None:
        def run() -> None:
            minikube_tool.start(ctx.runner, self.profile, driver=self.driver)

        self._create_owned(ctx, run)

    def delete(self, ctx: Context) -> None:
        minikube_tool.delete(ctx.runner, self.profile)
        self._forget(ctx)

    def delete_command(self) -> str:
        return f"minikube delete -p {self.profile}"

    def remove_nodes_command(self, nodes: Sequence[str]) -> str | None:
        return None

    def load_images(self, ctx: Context, images: Sequence[str]) -> None:
        minikube_tool.image_load(ctx.runner, self.profile, images)

    def wire_registry(self, ctx: Context, registries: Sequence[RegistryLink]) -> None:
        """Only the network: pods cannot pull the host's localhost:<port> on minikube, so images are loaded."""
        self.attach(ctx, [link.container for link in registries])

    def attach(self, ctx: Context, containers: Sequence[str]) -> None:
        attach_to(ctx, self.profile, containers)

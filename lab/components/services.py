"""The lab's service containers as one group: the registry, the ECR emulator and the git server (one module each:
registry.py, ecr_emulator.py, git_server.py; the container machinery in containers.py, their images in
service_images.py). All three images are built locally FROM settings.base_image."""

from __future__ import annotations

from dataclasses import dataclass

from lab.components.containers import (
    SPEC_LABEL,
    ContainerSpec,
    Probes,
    ensure_container,
    remove_containers,
)
from lab.components.ecr_emulator import (
    ECR_HOOK,
    ECR_HOOK_TARGET,
    ECR_STATE_VOLUME,
    LOCALSTACK_TOKEN_ENV,
    EcrEmulatorComponent,
    ecr_emulator_spec,
    ensure_ecr_emulator,
)
from lab.components.git_server import (
    GIT_CONTAINER_PORT,
    GITOPS_REPO,
    GitServerComponent,
    ensure_bare_repo,
    ensure_git_server,
    git_root,
    git_server_spec,
    gitops_repo_path,
    in_cluster_gitops_url,
)
from lab.components.registry import REGISTRY_VOLUME, RegistryComponent, ensure_registry, registry_spec
from lab.components.service_images import (
    COMPONENT_ECR,
    COMPONENT_GIT,
    COMPONENT_NOTIFY,
    COMPONENT_REGISTRY,
    CONTEXT_LABEL,
    ImageRemoval,
    ServiceImage,
    build_service_images,
    delete_images,
    service_images,
)
from lab.core.context import Context
from lab.core.errors import ConfigError
from lab.providers.wiring import ECR_CONTAINER, GIT_CONTAINER, REGISTRY_CONTAINER

COMPONENTS = (COMPONENT_REGISTRY, COMPONENT_ECR, COMPONENT_GIT, COMPONENT_NOTIFY)


@dataclass(frozen=True)
class Endpoints:
    registry: str  # host:port the host pushes to
    ecr_endpoint: str  # AWS API endpoint of the emulator
    gitops_url: str  # the GitOps repo as the host pushes to it
    gitops_url_in_cluster: str  # ... and as Argo CD reaches it


def ensure_services(ctx: Context, *, force: bool = False, probe: Probes | None = None) -> Endpoints:
    """Build the images, then registry, ECR emulator and git server, for the local target."""
    settings = ctx.settings
    if settings.target != "local":
        raise ConfigError("the lab's service containers are for the local target", hint="LAB_TARGET=local")
    probe = probe or Probes()
    build_service_images(ctx)
    registry = ensure_registry(ctx, force=force, probe=probe)
    endpoint = ensure_ecr_emulator(ctx, force=force, probe=probe)
    url = ensure_git_server(ctx, force=force, probe=probe)
    return Endpoints(registry, endpoint, url, in_cluster_gitops_url(settings))


def delete_services(ctx: Context, *, volumes: bool = False) -> list[str]:
    """Remove the lab's service containers of this cluster (found by label); with ``volumes``, their labelled
    volumes too (registry blobs, emulator state). Containers or volumes without the lab's labels, and the bare
    repos under .lab/git, are left alone. Returns what was removed."""
    removed: list[str] = []
    with ctx.ui.phase("Removing the lab's service containers") as phase:
        for component in COMPONENTS:
            # MiniStack saves its state on SIGTERM: stopped first.
            removed += remove_containers(ctx, component, volumes=volumes, stop_first=component == COMPONENT_ECR)
        phase.note = ", ".join(removed) if removed else "nothing to remove"
    return removed


__all__ = [
    "COMPONENTS",
    "COMPONENT_ECR",
    "COMPONENT_GIT",
    "COMPONENT_REGISTRY",
    "CONTEXT_LABEL",
    "ECR_CONTAINER",
    "ECR_HOOK",
    "ECR_HOOK_TARGET",
    "ECR_STATE_VOLUME",
    "GITOPS_REPO",
    "GIT_CONTAINER",
    "GIT_CONTAINER_PORT",
    "LOCALSTACK_TOKEN_ENV",
    "REGISTRY_CONTAINER",
    "REGISTRY_VOLUME",
    "SPEC_LABEL",
    "ContainerSpec",
    "EcrEmulatorComponent",
    "Endpoints",
    "GitServerComponent",
    "ImageRemoval",
    "Probes",
    "RegistryComponent",
    "ServiceImage",
    "build_service_images",
    "delete_images",
    "delete_services",
    "ecr_emulator_spec",
    "ensure_bare_repo",
    "ensure_container",
    "ensure_ecr_emulator",
    "ensure_git_server",
    "ensure_registry",
    "git_root",
    "git_server_spec",
    "gitops_repo_path",
    "in_cluster_gitops_url",
    "registry_spec",
    "service_images",
]

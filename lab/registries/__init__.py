"""Registries: where `ship` pushes the app image and how the cluster pulls it. One module per registry type:

    local.py          the lab's own registry (CNCF distribution, lab-registry) or one LAB_REGISTRY names
    ecr_emulator.py   the local target's ECR emulator (MiniStack / LocalStack, lab-ecr): ECR API + /v2/ on one port
    ecr.py            Amazon ECR, for the aws target

for_settings() is the one place that picks a registry from the settings (push_registry and target); callers
only call the Registry's methods (lab/registries/base.py). A new registry type: a module here, a line in
TYPES, its tests and docs.
"""

from __future__ import annotations

from dataclasses import replace

from lab.core.config import Settings
from lab.core.errors import ConfigError
from lab.registries.base import (
    DigestLookup,
    Registry,
    RegistryLink,
    Repositories,
    Seams,
    is_loopback,
    v2_digest,
)
from lab.registries.ecr import EcrRegistry, api_digest
from lab.registries.ecr_emulator import EcrEmulatorRegistry
from lab.registries.local import LocalRegistry
from lab.tools import registry

# (push_registry, target) -> the registry type. The ECR of the local target is the emulator.
TYPES: dict[tuple[str, str], type[Registry]] = {
    ("local", "local"): LocalRegistry,
    ("local", "aws"): LocalRegistry,  # refused by its repositories(): EKS cannot pull from this machine
    ("ecr", "local"): EcrEmulatorRegistry,
    ("ecr", "aws"): EcrRegistry,
}
# The registries the lab runs for the local target, wired into a local cluster's nodes whichever ship pushes to.
LOCAL_TARGET_REGISTRIES: tuple[type[Registry], ...] = (LocalRegistry, EcrEmulatorRegistry)
# On target aws, `up`'s first deploy pushes to ECR whatever push_registry says: EKS pulls from nothing else.
UP_PUSH_REGISTRY = {"aws": "ecr"}


def for_settings(settings: Settings, seams: Seams | None = None) -> Registry:
    """The registry `ship` pushes to under these settings (push_registry, target)."""
    return TYPES[(settings.push_registry, settings.target)](settings, seams)


def repositories(settings: Settings) -> Repositories:
    """Push and pull names of the app image under these settings (ConfigError when they cannot work)."""
    return for_settings(settings).repositories()


def pull_repository(settings: Settings) -> str:
    """What the cluster's pods pull (the overlay's newName); the bare image name when the settings name no
    registry that can work (e.g. the local registry on target aws, which ship refuses)."""
    try:
        return repositories(settings).pull
    except ConfigError:
        return settings.image_name


def up_settings(settings: Settings) -> Settings:
    """The settings `up`'s first deploy ships with: on target aws the registry is ECR."""
    push = UP_PUSH_REGISTRY.get(settings.target, settings.push_registry)
    return replace(settings, push_registry=push) if push != settings.push_registry else settings


def cluster_links(settings: Settings) -> list[RegistryLink]:
    """How a local cluster's nodes reach the lab's registries (its registry and, unless an endpoint is given, the
    ECR emulator)."""
    links = [kind(settings).link() for kind in LOCAL_TARGET_REGISTRIES]
    return [link for link in links if link is not None]


def digest_lookup(settings: Settings, seams: Seams | None = None) -> DigestLookup:
    """How to ask any registry which digest it serves for a tag (or a digest), by its host: a private ECR host
    through the ECR API (its /v2/ answers 401 without a token), every other registry through /v2/, anonymously
    (the local registry, MiniStack)."""
    s = seams or Seams()

    def lookup(host: str, name: str, reference: str) -> str | None:
        if is_loopback(host):
            return v2_digest(s, host, name, reference)
        return api_digest(settings, s, host, name, reference)

    return lookup


def location(settings: Settings, new_name: str) -> tuple[str, str]:
    """(host, name) to ask about an overlay's image NEW_NAME: the push side of the configured registry when
    NEW_NAME is its pull name, else the host in the reference itself."""
    try:
        repos = repositories(settings)
    except ConfigError:
        repos = None
    if repos is not None and new_name == repos.pull:
        return repos.host, repos.name
    ref = registry.parse_ref(new_name)
    return ref.host, ref.name


__all__ = [
    "TYPES",
    "DigestLookup",
    "EcrEmulatorRegistry",
    "EcrRegistry",
    "LocalRegistry",
    "Registry",
    "RegistryLink",
    "Repositories",
    "Seams",
    "cluster_links",
    "digest_lookup",
    "for_settings",
    "is_loopback",
    "location",
    "pull_repository",
    "repositories",
    "up_settings",
]

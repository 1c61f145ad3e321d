"""The Registry concept: where `ship` pushes an image, the name the cluster pulls it by, and what to ask of the
registry around a push (login, repository, is the tag free, which digest it serves).

A registry type is one module beside this one (local.py, ecr_emulator.py, ecr.py) and one line in
lab/registries/__init__.py's factory; callers never branch on the type. Everything a push needs goes through
the methods below, in the order `ship` calls them:

    check() ─► login(ctx) ─► repositories() ─► check_reachable() ─► tag_taken(tag) ─► ensure_repository(ctx)
      ─► docker push ─► verify_push(tag, digest)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import RegistryError
from lab.tools import registry

DigestLookup = Callable[[str, str, str], str | None]  # (host, name, tag or digest) -> digest, None if absent
EnsureRepository = Callable[[str], object]  # create the registry repository NAME if missing
RegistryLogin = Callable[[Context], str]  # log docker in to the registry; returns the registry host
EcrClient = Callable[[Settings], Any]  # settings -> boto3 ECR client


@dataclass(frozen=True)
class Repositories:
    push: str  # where the host pushes: host:port/name
    pull: str  # what the cluster's pods pull (the overlay's newName)

    @property
    def host(self) -> str:
        return self.push.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.push.split("/", 1)[1]


@dataclass(frozen=True)
class RegistryLink:
    """How a local cluster's nodes reach a registry container: pods pull ``host_alias/...`` (e.g.
    localhost:5001/lab-app); the nodes fetch from container:port on the Docker network instead."""

    host_alias: str
    container: str
    port: int


@dataclass(frozen=True)
class Seams:
    """What a Registry asks the outside world through, replaceable in tests: the anonymous /v2/ digest lookup,
    the boto3 ECR client, and whole-step overrides for the repository and the login."""

    lookup: DigestLookup | None = None
    ecr_client: EcrClient | None = None
    ensure: EnsureRepository | None = None
    login: RegistryLogin | None = None


def is_loopback(host: str) -> bool:
    return host.split(":", 1)[0] in ("localhost", "127.0.0.1")


def v2_digest(seams: Seams, host: str, name: str, reference: str) -> str | None:
    """The digest a registry serves anonymously through GET /v2/<name>/manifests/<reference>."""
    if seams.lookup is not None:
        return seams.lookup(host, name, reference)
    return registry.manifest_digest(host, name, reference)


class Registry(ABC):
    """One registry the lab pushes to. Subclasses say how names are built and what each step asks."""

    kind: ClassVar[str]  # the push_registry value (LAB_PUSH_REGISTRY, `ship --registry`) that selects it
    login_title: ClassVar[str | None] = None  # the phase title of login(); None: no login

    def __init__(self, settings: Settings, seams: Seams | None = None) -> None:
        self.settings = settings
        self.seams = seams or Seams()

    # Names ---------------------------------------------------------------------------------------------
    @abstractmethod
    def repositories(self) -> Repositories:
        """Push and pull names of the app image. ConfigError when the settings cannot work."""

    def check(self) -> None:
        """Before anything runs: a registry setting that cannot work fails here (default: the names)."""
        self.repositories()

    def link(self) -> RegistryLink | None:
        """How the local cluster's nodes reach this registry; None when there is nothing to wire."""
        return None

    # Around a push -------------------------------------------------------------------------------------
    def login(self, ctx: Context) -> Registry:
        """Log docker in (only when login_title is set) and return the registry to push to."""
        return self

    def check_reachable(self) -> None:
        """The registry answers, before anything is built (RegistryError when it does not)."""
        return None

    def tag_taken(self, tag: str) -> bool:
        """True when the registry already holds TAG (ship then reserves the next tag). Asked where the registry
        answers anonymously (can_verify); ECR itself refuses to overwrite a tag (IMMUTABLE tags)."""
        if not self.can_verify:
            return False
        repos = self.repositories()
        return self.digest(repos.name, tag) is not None

    def ensure_repository(self, ctx: Context) -> object:
        """Make sure the repository exists before the push (nothing to do for registries that create it on push)."""
        return None

    def verify_push(self, tag: str, pushed: str) -> None:
        """After `docker push` reported digest PUSHED: the registry itself must serve it for TAG (where it can be
        asked anonymously); RegistryError names what it serves instead."""
        if not self.can_verify:
            return
        repos = self.repositories()
        served = self.digest(repos.name, tag)
        if served != pushed:
            raise RegistryError(
                f"{repos.host} serves {served or 'nothing'} for {repos.name}:{tag}, docker push said {pushed}",
                hint="another client pushed the same tag at the same moment; nothing was committed: run "
                "`invoke ship` again (it builds a new tag)",
            )

    @property
    def can_verify(self) -> bool:
        """Whether the registry is asked for the digest after a push and for taken tags: the lab's registries on
        the loopback answer anonymously (the local registry, and MiniStack, which serves Docker-Content-Digest on
        GET /v2/<name>/manifests/<ref>: ministack services/ecr.py `_v2_get_manifest`). Real ECR needs a token for
        that API: there docker push's digest stands alone."""
        return is_loopback(self.repositories().host)

    def digest(self, name: str, reference: str) -> str | None:
        """The digest this registry serves for NAME:REFERENCE (a tag or a digest), None if it has no such image."""
        return v2_digest(self.seams, self.repositories().host, name, reference)


__all__ = [
    "DigestLookup",
    "EcrClient",
    "EnsureRepository",
    "Registry",
    "RegistryLink",
    "RegistryLogin",
    "Repositories",
    "Seams",
    "is_loopback",
    "v2_digest",
]

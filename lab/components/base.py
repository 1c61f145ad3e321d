"""What a component of the lab is: something `up` ensures, `status` shows, `down` removes, `cache` saves the
images of, and `doctor` checks the host ports of. The ordered list of them is lab/components/__init__.py.

A component overrides only what it has: the defaults below say "nothing" (no images, no ports, no rows, nothing
to remove). `ensure` receives the run of `up` (`Up`), through which components hand each other what they made
(the registry's host, the GitOps URL, the cluster's provider).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.core.config import ROOT, Settings
from lab.core.context import Context

if TYPE_CHECKING:
    from lab.components.containers import Probes
    from lab.core.aws_config import AwsSettings
    from lab.providers import LocalCluster
    from lab.tools import aws as aws_tool

Row = tuple[str, str, str]  # (component, state, endpoint): one line of `invoke status`
LOCAL = frozenset({"local"})
AWS = frozenset({"aws"})
BOTH = frozenset({"local", "aws"})


@dataclass(frozen=True)
class HostPort:
    """A port the lab publishes on 127.0.0.1. NODE_PORT: a cluster NodePort published there (kind's
    extraPortMappings, named NAME); None: a container of the lab's own publishes it."""

    port: int
    what: str  # "registry", "Argo CD UI", "dev app": for doctor's table and conflict messages
    node_port: int | None = None
    name: str = ""


@dataclass
class AwsUp:
    """What the aws target's components need beyond the settings: its settings, the hosted GitOps repository,
    the AWS clients (real, or the plan's recorders) and the injectable Argo CD install."""

    aws: AwsSettings
    remote_url: str
    remote_embedded: Any  # GitCredentials | None found in LAB_GITOPS_REMOTE
    clients: aws_tool.ClientFactory
    account: str = ""  # the account `up` was confirmed for (sts get-caller-identity)
    install_argocd: Callable[[Context], None] | None = None
    environ: Any = None  # Mapping[str, str] | None: the environment credentials are read from


@dataclass
class Up:
    """One run of `up`: its options, and what the components made so far (keyed by component name)."""

    ctx: Context
    force: bool = False
    app_root: Path = ROOT
    service_probes: Probes | None = None
    provider: LocalCluster | None = None  # the local cluster's provider (tests inject one)
    first_deploy: Callable[[Up], str | None] | None = None  # the pipeline's own ship + promote (steps)
    aws: AwsUp | None = None
    made: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.ctx.settings


@dataclass
class Down:
    """One run of `down`: its options, and what could not be removed (raised once everything else is gone)."""

    ctx: Context
    purge: bool = False
    retry: str = "invoke down"
    left: Exception | None = None


@dataclass(frozen=True)
class StatusView:
    """What `status` learned about the cluster before asking the components for their rows."""

    ctx: Context
    provider_name: str
    exists: bool
    reachable: bool
    seen: str = ""  # how it was seen when a tool is missing


class Component:
    """One part of the lab. TARGETS: the targets it belongs to; `enabled` may narrow it down by settings."""

    name = ""
    targets: frozenset[str] = LOCAL

    def enabled(self, settings: Settings) -> bool:
        return settings.target in self.targets

    def images(self, settings: Settings) -> Sequence[str]:
        """Pinned upstream images it runs: `cache` pulls and saves them, `up --offline` loads them."""
        return ()

    def host_ports(self, settings: Settings) -> Sequence[HostPort]:
        """Ports it publishes on 127.0.0.1: doctor checks them, kind maps those with a node port."""
        return ()

    def dashboard_links(self, settings: Settings) -> Sequence[tuple[str, str]]:
        """(what, URL) of the UIs it serves beyond Argo CD's, for `invoke dashboard`."""
        return ()

    def ensure(self, run: Up) -> None:
        """Make it exist as the settings want (observe -> compare -> act; idempotent)."""

    def status_rows(self, view: StatusView) -> Sequence[Row]:
        return ()

    def remove(self, run: Down) -> None:
        """Remove what the lab made of it (and only that)."""

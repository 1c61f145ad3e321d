"""What the pipeline needs from the cluster side of a deploy: a small protocol, implemented on Argo CD by
lab/steps/argocd.py (ArgoWatcher over lab/clients/argocd.py) and by fakes in the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class EnvStatus:
    sync: str  # Synced | OutOfSync | Unknown (Argo CD status.sync.status)
    health: str  # Healthy | Progressing | Degraded | Suspended | Missing | Unknown
    revision: str  # the GitOps commit Argo CD last synced (status.sync.revision)
    images: tuple[str, ...] = ()  # images the environment's pods run
    synced: tuple[tuple[str, str], ...] = ()  # Argo CD's sync history (status.history): (revision, deployedAt)


class DeployWatcher(Protocol):
    """The cluster side of a deploy. Raises ClusterUnreachable when no cluster answers, NotReady on timeout."""

    def refresh(self, env: str) -> None:
        """Ask Argo CD to re-read the GitOps repo now (instead of at its next poll)."""

    def sync(self, env: str) -> None:
        """Start a sync of the environment's Application (manual-sync environments)."""

    def wait_synced(self, env: str, revision: str, image: str, timeout: float) -> EnvStatus:
        """Wait until ENV is Synced at REVISION, Healthy, and its pods run IMAGE."""

    def status(self, env: str) -> EnvStatus:
        """What runs in ENV now."""

"""Ownership of a local cluster: a marker file and the digest of the config it was created from.

The lab deletes only clusters it created (pytest-kubernetes' `_created`), but kind offers no way to put the lab's
own labels on its node containers: the config has no container-label field, and kind itself labels them
`io.x-k8s.kind.cluster=<name>`. So ownership lives in a marker file, `<state_dir>/clusters/<name>.json`:

1. written as ``{"state": "creating", "started_at": ...}`` right BEFORE `kind create cluster`, and only after
   observing that no cluster of that name exists;
2. confirmed as ``{"state": "created", "node_id": <control-plane container ID>}`` right after it succeeds,
   with the kind config the cluster was created from (``config``, and its ``config_sha256``).

A cluster is the lab's when the marker says "created" and the node container behind the name still has the
recorded ID (and, for kind, carries kind's cluster label with this name). A same-named cluster created later
by someone else has another ID, so a stale marker never hands the lab someone else's cluster. A "creating"
marker with an existing cluster means the lab died during or right after `kind create`: the cluster is the
lab's if its node container was created after the marker was written (see steps/cluster.py for what happens
next). A failed `kind create` cleans up after itself (no --retain), so the marker is dropped with it.

EKS clusters carry their ownership as tags instead (eks.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import CommandFailed
from lab.providers.base import NodeIdentity
from lab.tools import docker, kubectl

CREATING = "creating"
CREATED = "created"
# Docker's clock (a VM on macOS/Windows) may differ a little from the host's.
CLOCK_SKEW = timedelta(seconds=120)


@dataclass(frozen=True)
class Ownership:
    cluster: str
    provider: str
    state: str  # CREATING | CREATED
    started_at: str  # ISO 8601, UTC: when the lab began creating the cluster
    node_id: str = ""  # the node container's ID, once created
    confirmed_at: str = ""
    config: str = ""  # the cluster config it was created from (kind: the config file's text)
    config_sha256: str = ""


def marker_path(settings: Settings) -> Path:
    return settings.state_dir / "clusters" / f"{settings.cluster_name}.json"


def read_ownership(settings: Settings) -> Ownership | None:
    path = marker_path(settings)
    try:
        data = json.loads(path.read_text())
        return Ownership(**{k: str(v) for k, v in data.items() if k in Ownership.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


def write_ownership(settings: Settings, record: Ownership) -> None:
    """Write atomically (temp file + rename), so a crash never leaves half a marker."""
    path = marker_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(tmp, path)


def forget_ownership(settings: Settings) -> None:
    marker_path(settings).unlink(missing_ok=True)


def _now() -> datetime:
    return datetime.now(UTC)


def parse_timestamp(text: str) -> datetime | None:
    """ISO 8601 as Docker prints it (nanoseconds, 'Z') -> aware datetime; None if unreadable."""
    text = text.strip()
    if not text:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def container_identity(ctx: Context, container: str, label: tuple[str, str] | None = None) -> NodeIdentity | None:
    """The node container's ID and creation time (None when absent, or without LABEL=value)."""
    data = docker.inspect_container(ctx.runner, container)
    if not data or not data.get("Id"):
        return None
    if label is not None:
        labels = (data.get("Config") or {}).get("Labels") or {}
        if labels.get(label[0]) != label[1]:
            return None
    return NodeIdentity(str(data["Id"]), parse_timestamp(str(data.get("Created", ""))))


class MarkerOwnedCluster:
    """Ownership bookkeeping shared by the local providers (see the module docstring)."""

    name = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def identity(self, ctx: Context) -> NodeIdentity | None:
        raise NotImplementedError

    def exists(self, ctx: Context) -> bool:
        raise NotImplementedError

    def created_by_lab(self, ctx: Context) -> bool:
        record = read_ownership(self.settings)
        if record is None or record.state != CREATED or record.provider != self.name:
            return False
        if not record.node_id:
            return True  # a provider that cannot name its node (non-Docker minikube driver): trust the marker
        ident = self.identity(ctx)
        return ident is not None and ident.id == record.node_id

    def begun_by_lab(self, ctx: Context) -> bool:
        """A "creating" marker and a node container no older than it: the lab's own unfinished creation."""
        record = read_ownership(self.settings)
        if record is None or record.state != CREATING or record.provider != self.name:
            return False
        ident = self.identity(ctx)
        started = parse_timestamp(record.started_at)
        if ident is None or ident.created is None or started is None:
            return True
        return ident.created >= started - CLOCK_SKEW

    def _begin(self, ctx: Context) -> None:
        if not ctx.dry_run:
            write_ownership(
                self.settings,
                Ownership(self.settings.cluster_name, self.name, CREATING, _now().isoformat(timespec="seconds")),
            )

    def adopt(self, ctx: Context) -> None:
        """Record the cluster as the lab's (after a successful create, or to finish a half-done one)."""
        if ctx.dry_run:
            return
        record = read_ownership(self.settings)
        ident = self.identity(ctx)
        config = self.created_from()
        write_ownership(
            self.settings,
            Ownership(
                self.settings.cluster_name,
                self.name,
                CREATED,
                record.started_at if record else _now().isoformat(timespec="seconds"),
                node_id=ident.id if ident else "",
                confirmed_at=_now().isoformat(timespec="seconds"),
                config=config,
                config_sha256=hashlib.sha256(config.encode()).hexdigest() if config else "",
            ),
        )

    def created_from(self) -> str:
        """The config the cluster was created from, for the ownership record ("" when there is none)."""
        return ""

    def config_drift(self, ctx: Context) -> list[str]:
        """What the settings want that the existing cluster does not have (one line each); [] when they agree."""
        return []

    def _create_owned(self, ctx: Context, run_create: Callable[[], None]) -> None:
        self._begin(ctx)
        try:
            run_create()
        except CommandFailed:
            # The tool cleans up a failed create; keep the marker only if something was left behind.
            if not ctx.dry_run and not self.exists(ctx):
                forget_ownership(self.settings)
            raise
        self.adopt(ctx)

    def _forget(self, ctx: Context) -> None:
        if not ctx.dry_run:
            forget_ownership(self.settings)

    def kubeconfig_context(self, ctx: Context) -> str:
        return self.settings.kube_context

    def ready(self, ctx: Context) -> bool:
        return kubectl.api_ready(ctx.runner, self.kubeconfig_context(ctx))

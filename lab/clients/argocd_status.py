"""An Argo CD Application's status as the lab reads it: parse_status, the one parser of `status` (and of the
`operation` / `spec.syncPolicy` fields the waits and the drift demo need) in the lab. Field names are those of the
v3.5.1 Application CRD (tests/data/argocd/application-crd.yaml); lab/clients/argocd.py lists them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAILED_PHASES = ("Failed", "Error")
RUNNING_PHASES = ("Running", "Terminating")


@dataclass(frozen=True)
class Condition:
    type: str
    message: str


@dataclass(frozen=True)
class Deployment:
    """One entry of status.history: a sync that completed."""

    id: int
    revision: str
    deployed_at: str
    initiated_by: str


@dataclass(frozen=True)
class Resource:
    """One entry of status.resources: a managed object and its sync status."""

    kind: str
    namespace: str
    name: str
    status: str  # Synced | OutOfSync
    requires_pruning: bool = False

    def describe(self) -> str:
        """`Kind namespace/name`, `Kind name` when cluster-scoped, "(to prune)" when git no longer has it."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}" + (" (to prune)" if self.requires_pruning else "")


@dataclass(frozen=True)
class AppStatus:
    name: str
    sync: str
    health: str
    revision: str
    operation_phase: str = ""
    operation_message: str = ""
    operation_revision: str = ""  # what the current/last operation synced (syncResult.revision)
    operation_started_at: str = ""
    operation_requested: bool = False  # `operation` set: a sync is queued or running
    conditions: tuple[Condition, ...] = ()
    images: tuple[str, ...] = ()
    reconciled_at: str = ""
    history: tuple[Deployment, ...] = field(default=())
    operation_finished_at: str = ""
    operation_automated: bool = False  # operationState.operation.initiatedBy.automated: auto-sync or self-heal
    heal_count: int = 0  # operationState.operation.sync.autoHealAttemptsCount: self-heals of the synced commit
    operation_results: tuple[str, ...] = ()  # syncResult.resources[]: "Deployment/lab-app: configured"
    resources: tuple[Resource, ...] = ()
    self_heal: bool = False  # spec.syncPolicy.automated.selfHeal (and automated.enabled not false)

    def out_of_sync(self) -> list[str]:
        """The resources Argo CD marks OutOfSync, described (Resource.describe)."""
        return [r.describe() for r in self.resources if r.status == "OutOfSync"]

    def describe(self) -> str:
        """One line for humans, e.g. "sync=OutOfSync health=Progressing op=Running: waiting for healthy state of
        apps/Deployment/lab-app"."""
        parts = [f"sync={self.sync or 'Unknown'}", f"health={self.health or 'Unknown'}"]
        if self.revision:
            parts.append(f"revision={self.revision[:7]}")
        queued = self.operation_requested and self.operation_phase not in RUNNING_PHASES
        if queued:  # operationState is still the previous operation's
            parts.append("op=Requested" + (f" (previous: {self.operation_phase})" if self.operation_phase else ""))
        elif self.operation_phase:
            parts.append(f"op={self.operation_phase}")
        text = " ".join(parts)
        message = f"previous: {self.operation_message}" if queued else self.operation_message
        details = [message] if self.operation_message else []
        details += [f"{c.type}: {c.message}" for c in self.conditions]
        return f"{text}: {'; '.join(details)}" if details else text


def _self_heal(obj: dict[str, Any]) -> bool:
    automated = ((obj.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    return (
        isinstance(automated, dict) and bool(automated.get("selfHeal")) and automated.get("enabled", True) is not False
    )


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    """The operationState fields beyond phase/message/startedAt (the drift demo's view of a sync)."""
    started = op.get("operation") or {}
    result = op.get("syncResult") or {}
    return {
        "operation_finished_at": str(op.get("finishedAt", "")),
        "operation_automated": bool((started.get("initiatedBy") or {}).get("automated")),
        "heal_count": int((started.get("sync") or {}).get("autoHealAttemptsCount") or 0),
        "operation_results": tuple(
            f"{r.get('kind')}/{r.get('name')}: {r.get('message') or r.get('status') or '?'}"
            for r in result.get("resources") or []
        ),
    }


def parse_status(obj: dict[str, Any]) -> AppStatus:
    """AppStatus from an Application object as the API returns it (missing fields read as empty). Field names: the
    v3.5.1 Application CRD (tests/data/argocd/application-crd.yaml)."""
    status = obj.get("status") or {}
    op = status.get("operationState") or {}
    resources = tuple(
        Resource(
            kind=str(r.get("kind", "")),
            namespace=str(r.get("namespace") or ""),
            name=str(r.get("name", "")),
            status=str(r.get("status", "")),
            requires_pruning=bool(r.get("requiresPruning")),
        )
        for r in status.get("resources") or []
    )
    history = tuple(
        Deployment(
            id=int(h.get("id", 0)),
            revision=str(h.get("revision", "")),
            deployed_at=str(h.get("deployedAt", "")),
            initiated_by=str((h.get("initiatedBy") or {}).get("username", "")),
        )
        for h in status.get("history") or []
    )
    return AppStatus(
        name=str((obj.get("metadata") or {}).get("name", "")),
        sync=str((status.get("sync") or {}).get("status", "")),
        health=str((status.get("health") or {}).get("status", "")),
        revision=str((status.get("sync") or {}).get("revision", "")),
        operation_phase=str(op.get("phase", "")),
        operation_message=str(op.get("message", "")),
        operation_revision=str((op.get("syncResult") or {}).get("revision", "")),
        operation_started_at=str(op.get("startedAt", "")),
        operation_requested=bool(obj.get("operation")),
        conditions=tuple(
            Condition(str(c.get("type", "")), str(c.get("message", ""))) for c in status.get("conditions") or []
        ),
        images=tuple(str(i) for i in (status.get("summary") or {}).get("images") or []),
        reconciled_at=str(status.get("reconciledAt", "")),
        history=history,
        resources=resources,
        self_heal=_self_heal(obj),
        **_operation(op),
    )


def same_revision(actual: str, wanted: str) -> bool:
    """Full SHAs compare equal; an abbreviated SHA (7+ chars) matches as a prefix."""
    if not actual or not wanted:
        return False
    if len(wanted) >= 7 and len(actual) >= 7:
        return actual.startswith(wanted) or wanted.startswith(actual)
    return actual == wanted

"""Argo CD Applications through the Kubernetes API (official `kubernetes` client): read status, refresh, sync,
and wait until an environment is Synced + Healthy.

No argocd CLI and no Argo CD API server session: the controller acts on the Application object itself.
- refresh: the annotation `argocd.argoproj.io/refresh: normal|hard`, removed by the controller when done.
- sync: a merge patch of the top-level `operation` field (beside `spec`); progress shows in
  `status.operationState` and the controller clears `operation` (argo-cd `docs/user-guide/sync-kubectl.md`).
  Field names (`operation.initiatedBy.username`, `operation.sync.revision|prune`, `operation.info[].name|value`)
  are those of the v3.5.1 Application CRD. Argo CD's RBAC is enforced by its API server only: this path is
  governed by Kubernetes RBAC.
- status fields: `status.sync.status|revision`, `status.health.status`, `status.operationState.phase|message|
  startedAt|finishedAt|syncResult.revision|syncResult.resources[]`, `operationState.operation.initiatedBy.automated|
  sync.autoHealAttemptsCount`, `status.conditions[].type|message` (no `status` field), `status.summary.images`,
  `status.reconciledAt`, `status.history[]`, `status.resources[].kind|namespace|name|status|requiresPruning`,
  and `spec.syncPolicy.automated.selfHeal|enabled`. parse_status is the only parser of them in the lab.

Waiting follows Argo CD's own e2e fixture: an expectation returns (state, message), it is polled with a growing
interval, and a timeout reports the last message.
"""

from __future__ import annotations

import copy
import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import urllib3
from kubernetes.client.exceptions import ApiException

from lab.clients import kube
from lab.clients.argocd_status import FAILED_PHASES, RUNNING_PHASES, AppStatus, parse_status, same_revision
from lab.core import names
from lab.core.errors import ClusterUnreachable, Conflict, LabError, NotReady, SyncFailed
from lab.core.poll import Poller

GROUP = "argoproj.io"
VERSION = "v1alpha1"
PLURAL = "applications"
NAMESPACE = names.ARGOCD_NAMESPACE
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
USERNAME = names.LAB
MERGE_PATCH = "application/merge-patch+json"

POLL_FIRST = 0.2  # seconds; the interval grows x1.5 up to POLL_MAX
POLL_MAX = 2.0
DEGRADED_GRACE = 60.0  # seconds a rollout may stay Degraded before the wait gives up (crash loops, bad images)
TRANSIENT_ERRORS = 3  # consecutive API errors tolerated while waiting (an API server restart, a blip)


# ---------------------------------------------------------------------------------------------- API access


class ApplicationsApi(Protocol):
    """The two calls the client needs. Raises kubernetes' ApiException / urllib3 errors like the real client."""

    def get(self, name: str) -> dict[str, Any]: ...

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]: ...


def _api_call(verb: str, name: str, *rest: str) -> str:
    return f"CustomObjectsApi.{verb}_namespaced_custom_object({GROUP!r}, {VERSION!r}, {NAMESPACE!r}, {PLURAL!r}, " + (
        ", ".join([repr(name), *rest]) + ")"
    )


@dataclass
class RecordingApplications:
    """ApplicationsApi for a dry run: GET answers ``app`` (the state the caller assumes), every call is recorded
    in ``calls`` and handed to ``show`` as the client call; a PATCH changes nothing."""

    app: dict[str, Any]
    show: Callable[[str], None]
    calls: list[str] = field(default_factory=list)

    def get(self, name: str) -> dict[str, Any]:
        self.calls.append(call := _api_call("get", name))
        self.show(call)
        return copy.deepcopy(self.app)

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(call := _api_call("patch", name, json.dumps(body), f"_content_type={MERGE_PATCH!r}"))
        self.show(call)
        return {}


@dataclass
class KubernetesApplications:
    """ApplicationsApi over kubernetes.client.CustomObjectsApi."""

    api: Any  # kubernetes.client.CustomObjectsApi
    namespace: str = NAMESPACE

    def get(self, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        return obj

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = self.api.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, body, _content_type=MERGE_PATCH
        )
        return obj

    @classmethod
    def from_kubeconfig(cls, context: str, namespace: str = NAMESPACE) -> KubernetesApplications:
        from kubernetes import client, config

        try:
            api_client = config.new_client_from_config(context=context)  # type: ignore[no-untyped-call]
        except config.ConfigException as exc:
            raise ClusterUnreachable(
                f"no usable kubeconfig context {context!r}: {exc}", hint="run `invoke up` to create the cluster"
            ) from exc
        return cls(client.CustomObjectsApi(api_client), namespace)


def _wrap(exc: Exception, verb: str, name: str) -> LabError:
    if isinstance(exc, ApiException) and exc.status == 404:
        return Conflict(f"Argo CD Application {name} not found", hint="run `invoke up` to install Argo CD and the apps")
    return kube.wrap(exc, verb, f"Application {name}")


# ---------------------------------------------------------------------------------------------- expectations


class State(enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Expectation(Protocol):
    """Called once per poll with the status and the seconds since the wait began."""

    def __call__(self, status: AppStatus, elapsed: float) -> tuple[State, str]: ...


@dataclass
class SyncedHealthy:
    """Synced + Healthy, at ``revision`` and running ``image`` when given.

    While an operation is requested (the Application's `operation` field is set) and not running, the wait is
    pending, whatever `status.operationState` says: the controller starts a requested operation only on its
    next refresh of the app, and until then operationState still shows the previous one, e.g. a failed sync of
    the very revision just requested again. A new operationState appears when it starts, and `operation` is
    cleared in the same patch that records a completed phase (argo-cd v3.5.1 controller/appcontroller.go,
    processRequestedAppOperation, setOperationState).

    Then it fails fast when an operation fails that this wait is about: the requested one, one that started
    after the first poll, or one that synced the wanted revision (auto-sync does not retry a failed commit). A
    failed operation already there at the first poll, for another revision, is history and ignored. Fails too
    when health stays Degraded for ``degraded_grace`` seconds.
    """

    revision: str | None = None
    image: str | None = None
    degraded_grace: float = DEGRADED_GRACE
    _baseline: str | None = field(default=None, init=False, repr=False)
    _degraded_since: float | None = field(default=None, init=False, repr=False)
    _saw_request: bool = field(default=False, init=False, repr=False)

    def __call__(self, status: AppStatus, elapsed: float) -> tuple[State, str]:
        if self._baseline is None:
            self._baseline = status.operation_started_at
        if status.operation_requested:
            self._saw_request = True
            if status.operation_phase not in RUNNING_PHASES:  # not started: operationState is the previous one
                return State.PENDING, "sync requested: Argo CD starts it on its next refresh of the app"
        if status.operation_phase in FAILED_PHASES:
            # Once a requested operation was seen and `operation` is gone, the phase is that operation's.
            new = self._saw_request or status.operation_started_at != self._baseline
            ours = self.revision is not None and same_revision(status.operation_revision, self.revision)
            if new or ours:
                return State.FAILED, f"sync {status.operation_phase.lower()}: {status.operation_message or '?'}"
        if status.health == "Degraded":
            if self._degraded_since is None:
                self._degraded_since = elapsed
            if elapsed - self._degraded_since >= self.degraded_grace:
                return State.FAILED, f"Degraded for {elapsed - self._degraded_since:.0f}s"
        else:
            self._degraded_since = None
        if status.operation_requested or status.operation_phase in RUNNING_PHASES:
            return State.PENDING, "a sync is running"
        if self.revision is not None and not same_revision(status.revision, self.revision):
            at = status.revision[:7] or "no revision"
            return State.PENDING, f"at {at}, waiting for {self.revision[:7]}"
        if status.sync != "Synced":
            return State.PENDING, f"waiting for Synced (is {status.sync or 'Unknown'})"
        if status.health != "Healthy":
            return State.PENDING, f"waiting for Healthy (is {status.health or 'Unknown'})"
        if self.image is not None and not any(i == self.image or i.startswith(self.image + "@") for i in status.images):
            return State.PENDING, f"waiting for image {self.image} (running {', '.join(status.images) or 'none'})"
        return State.SUCCEEDED, "Synced and Healthy"


def synced_healthy(
    revision: str | None = None, image: str | None = None, degraded_grace: float = DEGRADED_GRACE
) -> SyncedHealthy:
    return SyncedHealthy(revision, image, degraded_grace)


# ---------------------------------------------------------------------------------------------- client


class ApplicationClient:
    def __init__(
        self,
        api: ApplicationsApi,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.clock = clock
        self.sleep = sleep

    @classmethod
    def from_kubeconfig(cls, context: str) -> ApplicationClient:
        return cls(KubernetesApplications.from_kubeconfig(context))

    def _get(self, name: str) -> dict[str, Any]:
        try:
            return self.api.get(name)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _wrap(exc, "read", name) from exc

    def _patch(self, name: str, body: dict[str, Any]) -> None:
        try:
            self.api.patch(name, body)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _wrap(exc, "patch", name) from exc

    def get_app(self, name: str) -> AppStatus:
        return parse_status(self._get(name))

    def get_object(self, name: str) -> dict[str, Any]:
        """The Application as the API serves it (spec, status.resources, operationState), errors mapped as for
        every call of this client (Conflict when it does not exist, ClusterUnreachable, ...)."""
        return self._get(name)

    def refresh(self, name: str, hard: bool = False) -> None:
        """Ask the controller to re-read git now (hard: also bypass the manifest cache)."""
        self._patch(name, {"metadata": {"annotations": {REFRESH_ANNOTATION: "hard" if hard else "normal"}}})

    def sync(self, name: str, revision: str | None = None, prune: bool = True, reason: str | None = None) -> None:
        """Start a sync, like `argocd app sync`. ``revision`` None syncs the app's targetRevision (a different
        revision is a one-off that the next auto-sync undoes). Refused while another operation runs."""
        obj = self._get(name)
        current = parse_status(obj)
        if current.operation_requested or current.operation_phase in RUNNING_PHASES:
            raise Conflict(
                f"another operation is already in progress on {name} ({current.describe()})",
                hint=f"wait for it (`invoke status`) or terminate it in the Argo CD UI, then sync {name} again",
            )
        sync: dict[str, Any] = {"prune": prune}
        if revision is not None:
            sync["revision"] = revision
        # The controller reads sync options (CreateNamespace=true...) and retry from the operation, not from
        # spec.syncPolicy; the Argo CD API server copies them in for `argocd app sync` (argo-cd
        # server/application/application.go, Sync; controller/sync.go), so a sync through the Kubernetes API must too.
        policy = (obj.get("spec") or {}).get("syncPolicy") or {}
        if policy.get("syncOptions"):
            sync["syncOptions"] = list(policy["syncOptions"])
        operation: dict[str, Any] = {"initiatedBy": {"username": USERNAME}, "sync": sync}
        if policy.get("retry"):
            operation["retry"] = dict(policy["retry"])
        if reason:
            operation["info"] = [{"name": "reason", "value": reason}]
        self._patch(name, {"operation": operation})

    def wait_for(self, name: str, expect: Expectation, timeout: float, *, what: str | None = None) -> AppStatus:
        """Poll until ``expect`` succeeds; SyncFailed when it fails, NotReady with the last state on timeout."""
        label = what or f"Argo CD Application {name}"
        errors = 0
        last = "no status read yet"
        poller = Poller(timeout, first=POLL_FIRST, factor=1.5, maximum=POLL_MAX, clock=self.clock, sleep=self.sleep)
        for elapsed in poller:
            try:
                status = self.get_app(name)
                errors = 0
            except ClusterUnreachable as exc:
                errors += 1
                if errors >= TRANSIENT_ERRORS:
                    raise
                last = exc.message
            else:
                state, message = expect(status, elapsed)
                last = f"{status.describe()} ({message})"
                if state is State.SUCCEEDED:
                    return status
                if state is State.FAILED:
                    raise SyncFailed(
                        f"{label}: {message}; last state: {status.describe()}",
                        hint=f"see the app in the Argo CD UI, or `kubectl -n {NAMESPACE} describe application {name}`",
                    )
        raise NotReady(label, last, timeout, hint="`invoke status` shows every environment")

"""The mechanics of `invoke demo-drift` after the change: what the demo waits for, and how long. No output here:
each wait hands its pending state to ``on_pending`` and the narration (lab/steps/drift.py) decides what to show.

Argo CD is read only through lab.clients.argocd's ApplicationClient (its error mapping included). Every wait goes
through ``poll``, a check-until-done on the lab's one poller (lab/core/poll.py).

Argo CD facts the waits rely on (Argo CD v3.5):
- The application controller watches the live objects it manages: an update or delete of one requests a refresh
  of its Application at once (argo-cd `controller/appcontroller.go`, `handleObjectUpdated` → `requestAppRefresh`),
  so drift shows in seconds; the lab's `timeout.reconciliation` (10 s, lab/manifests/argocd.py) is the fallback.
- `status.resources[]` holds a per-resource `status` (Synced | OutOfSync) — the v3.5.1 Application CRD.
- With `automated.selfHeal`, a drift of an already-synced commit is synced again after a backoff that grows with
  each consecutive heal of the same commit: `operation.sync.autoHealAttemptsCount` (CRD) counts them, the wait is
  2 s × 3^(n-1) capped at 300 s (argocd-cmd-params-cm `controller.self.heal.backoff.*` defaults), measured from
  the last operation's `finishedAt` (argo-cd `controller/appcontroller.go`, `selfHealRemainingBackoff`).
  The first heal after a new commit is immediate.
- Without `automated`, Argo CD only reports: "By default, changes that are made to the live cluster will not
  trigger automated sync" (argo-cd `docs/user-guide/auto_sync.md`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from lab.clients.argocd import NAMESPACE as ARGOCD_NAMESPACE
from lab.clients.argocd import ApplicationClient, synced_healthy
from lab.clients.argocd_status import RUNNING_PHASES, AppStatus
from lab.clients.kube import Cluster
from lab.core.config import Environment
from lab.core.errors import NotReady
from lab.core.poll import Poller
from lab.steps.drift_kinds import Change

POLL = 0.5  # seconds between looks at the Application and the live object
OBSERVE_EVERY = 2.0  # staging: seconds between looks while it is watched staying OutOfSync
DETECT_TIMEOUT = 60.0  # change → OutOfSync: watch-driven, normally 1-3 s; 10 s reconciliation as the fallback
HEAL_MARGIN = 60.0  # dev: seconds allowed after the predicted self-heal backoff for the sync itself

# Self-heal backoff defaults (argocd-cmd-params-cm controller.self.heal.backoff.timeout.seconds / factor /
# cap.seconds; argo-cd v3.5.1 cmd/argocd-application-controller/commands/argocd_application_controller.go).
# The lab does not change them.
BACKOFF_SECONDS = 2.0
BACKOFF_FACTOR = 3.0
BACKOFF_CAP = 300.0

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------- the poller


@dataclass(frozen=True)
class Pending:
    """What a check returns while the wanted state is not there yet: the state it saw, in words."""

    state: str


@dataclass(frozen=True)
class Done(Generic[T]):
    value: T


def poll(
    check: Callable[[], Done[T] | Pending],
    *,
    timeout: float,
    what: str,
    interval: float = POLL,
    max_interval: float = POLL,
    hint: str | None = None,
    on_pending: Callable[[str], None] = lambda state: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call CHECK on lab.core.poll's Poller (first look at once, then every INTERVAL, growing ×1.5 up to
    MAX_INTERVAL, never sleeping past the deadline) until it is Done; NotReady(WHAT, the last state, TIMEOUT, HINT)
    when TIMEOUT seconds pass first."""
    factor = 1.0 if max_interval == interval else 1.5
    state = "not looked yet"
    for _ in Poller(timeout, first=interval, factor=factor, maximum=max_interval, clock=clock, sleep=sleep):
        answer = check()
        if isinstance(answer, Done):
            return answer.value
        state = answer.state
        on_pending(state)
    raise NotReady(what, state, timeout, hint=hint)


# ---------------------------------------------------------------------------------------------- self-heal backoff


def heal_delay(count: int) -> float:
    """Backoff before self-heal number COUNT+1 of one commit: 0 for the first, then 2 s, 6 s, 18 s, ... ≤ 300 s."""
    if count <= 0:
        return 0.0
    return float(min(BACKOFF_SECONDS * BACKOFF_FACTOR ** (count - 1), BACKOFF_CAP))


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def predicted_backoff(status: AppStatus, now: datetime) -> float:
    """Seconds Argo CD will hold back the next self-heal of the synced commit: the backoff for the heal count of
    the last operation, minus the time since it finished. An upper bound: a newer commit's sync resets the count."""
    delay = heal_delay(status.heal_count)
    finished = _parse_time(status.operation_finished_at)
    if finished is None:
        return delay
    return max(0.0, delay - (now - finished).total_seconds())


def running(status: AppStatus) -> bool:
    return status.operation_requested or status.operation_phase in RUNNING_PHASES


# ---------------------------------------------------------------------------------------------- the waits


@dataclass
class Watch:
    """The waits of one demo: Argo CD Application NAME and the live objects of CLUSTER."""

    apps: ApplicationClient
    cluster: Cluster
    name: str
    on_pending: Callable[[str], None] = lambda state: None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def _poll(
        self,
        check: Callable[[], Done[T] | Pending],
        *,
        timeout: float,
        what: str,
        interval: float = POLL,
        hint: str | None = None,
        quiet: bool = False,
    ) -> T:
        return poll(
            check,
            timeout=timeout,
            what=what,
            interval=interval,
            max_interval=interval,  # a fixed pace: the demo reports times to a poll, and shows progress at it
            hint=hint,
            on_pending=(lambda state: None) if quiet else self.on_pending,
            clock=self.clock,
            sleep=self.sleep,
        )

    def synced(self) -> AppStatus:
        """Synced with no sync requested (dev reaches it by itself after an earlier demo)."""

        def check() -> Done[AppStatus] | Pending:
            status = self.apps.get_app(self.name)
            return (
                Done(status)
                if status.sync == "Synced" and not status.operation_requested
                else Pending(status.describe())
            )

        # quiet: progress lines count from the change, which has not been made yet (a ui.phase shows this wait)
        return self._poll(check, timeout=DETECT_TIMEOUT, what=f"Argo CD Application {self.name}", quiet=True)

    def noticed(self, baseline: AppStatus) -> AppStatus:
        """Argo CD reports OutOfSync (app or a resource), or a sync starts that BASELINE (the status before the
        change) did not have: a self-heal faster than a look."""

        def check() -> Done[AppStatus] | Pending:
            status = self.apps.get_app(self.name)
            if status.sync == "OutOfSync" or status.out_of_sync():
                return Done(status)
            if status.operation_started_at != baseline.operation_started_at or status.operation_requested:
                return Done(status)
            return Pending(f"waiting for Argo CD: {status.describe()}")

        return self._poll(
            check,
            timeout=DETECT_TIMEOUT,
            what=f"Argo CD noticing the change in {self.name}",
            hint="is the application controller running? `kubectl -n argocd get pods`",
        )

    def healed(self, change: Change, timeout: float) -> AppStatus:
        """git's value is live again and the app Synced, with no sync running (dev's self-heal)."""

        def check() -> Done[AppStatus] | Pending:
            status = self.apps.get_app(self.name)
            value = change.read(self.cluster)
            if value == change.desired and status.sync == "Synced" and not running(status):
                return Done(status)
            return Pending(f"{change.path} is {value} (git: {change.desired}); {status.describe()}")

        return self._poll(
            check,
            timeout=timeout,
            what=f"self-heal of {self.name}",
            hint=f"`kubectl -n {ARGOCD_NAMESPACE} describe application {self.name}` shows the controller's view",
        )

    def stays(self, change: Change, period: float) -> tuple[AppStatus, str] | None:
        """Watch for PERIOD seconds that the app stays OutOfSync with the hand change live (staging). None when it
        did; else the status and the field's value that showed it reverted (someone synced)."""

        def check() -> Done[tuple[AppStatus, str]] | Pending:
            status = self.apps.get_app(self.name)
            value = change.read(self.cluster)
            if status.sync != "OutOfSync" or value != change.drifted:
                return Done((status, value))
            return Pending(f"still OutOfSync; {change.path} = {value} (git: {change.desired})")

        try:  # the timeout is the good outcome here: nothing changed for the whole period
            return self._poll(check, timeout=period, what="drift", interval=OBSERVE_EVERY)
        except NotReady:
            return None

    def synced_by_hand(self, change: Change, reason: str, timeout: float) -> None:
        """Sync the app (as `invoke sync` does), wait for Synced + Healthy, then for git's value to be live."""
        self.apps.sync(self.name, reason=reason)
        self.apps.wait_for(self.name, synced_healthy(), timeout, what=f"{self.name} after the sync")

        def check() -> Done[None] | Pending:  # Synced means git's state was applied; confirm the field
            value = change.read(self.cluster)
            return Done(None) if value == change.desired else Pending(value)

        self._poll(check, timeout=timeout, what=f"{change.path} of {change.namespace}")


def planned(
    name: str, env: Environment, change: Change, backoff: float, *, observe: float, heal: bool
) -> tuple[list[str], list[str]]:
    """The waits a real run makes after the change, in words, for steps 3 and 4 (a dry run lists them instead of
    waiting). Keep in step with the methods of Watch above and their use in lab/steps/drift.py."""
    looks = f"GET Application {name} every {POLL:g}s"
    noticed = [f"{name} OutOfSync, or a sync started: {looks} for up to {DETECT_TIMEOUT:g}s"]
    if env.auto_sync:
        timeout = backoff + HEAL_MARGIN
        return noticed, [f"{change.path} back to {change.desired} and {name} Synced: {looks} for up to {timeout:g}s"]
    after = [f"{name} stays OutOfSync with {change.path} = {change.drifted}: every {OBSERVE_EVERY:g}s for {observe:g}s"]
    if heal:
        after.append(f"PATCH Application {name} operation.sync (as `invoke sync {env.name}`), then Synced + Healthy")
    return noticed, after

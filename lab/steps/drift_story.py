"""What the learner sees during `invoke demo-drift`: every line of the narration, and nothing that acts.

lab/steps/drift.py runs the demo and calls these at each step; the mechanics (the change, the waits) live in
drift_kinds.py and drift_watch.py. Narration goes to stderr (ui.info/warn), tables and dry-run API calls to stdout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lab.clients import kube
from lab.clients.argocd import NAMESPACE as ARGOCD_NAMESPACE
from lab.clients.argocd_status import AppStatus
from lab.clients.kube import Cluster, Obj
from lab.core.config import Environment
from lab.core.fielddiff import FieldDiff
from lab.core.ui import UI
from lab.steps import drift_kinds
from lab.steps.drift_kinds import APP, ENV_VAR, Change, find

PROGRESS_EVERY = 5.0  # seconds between "still waiting" lines


@dataclass
class Story:
    ui: UI
    env: Environment
    name: str  # the Argo CD Application
    clock: Callable[[], float]
    changed_at: float = 0.0  # when the change was made: progress lines count from it
    next_note: float = 0.0

    # ------------------------------------------------------------------------------------------ progress

    def elapsed(self) -> float:
        return self.clock() - self.changed_at

    def note_from(self, seconds: float) -> None:
        """The next progress line comes SECONDS after the change at the earliest."""
        self.next_note = seconds

    def progress(self, state: str) -> None:
        """A pending wait's state, at most every PROGRESS_EVERY seconds."""
        if self.elapsed() >= self.next_note:
            self.ui.info(f"   +{self.elapsed():4.1f}s  {state}")
            self.next_note = self.elapsed() + PROGRESS_EVERY

    # ------------------------------------------------------------------------------------------ steps 1-2

    def dry_run(self, change: str) -> None:
        self.ui.info(
            f"Drift demo in {self.env.name} ({change}) — dry run: the real steps against a cluster and an Argo CD"
            " that only record; every API call is printed, nothing is changed and nothing is waited for"
        )

    def desired_unreadable(self, why: str) -> None:
        self.ui.info(f"   dry run: cannot read the GitOps repo ({why}); planning from overlays/{self.env.name}")

    def step1(self) -> None:
        self.ui.info(f"\nStep 1/5 — what git says {self.env.name} should run, and what runs")

    def wait_synced_title(self) -> str:
        return f"Wait for {self.name} to be Synced before the demo starts"

    def state(self, docs: Sequence[Obj], cluster: Cluster, status: AppStatus) -> None:
        """The table git vs live: the fields the drift kinds change, the Service ports, ready pods."""
        ns = self.env.namespace
        want = find(docs, "Deployment", APP)
        live = cluster.get("Deployment", ns, APP)
        pods = cluster.list("Pod", ns, kube.selector({"app.kubernetes.io/name": APP}))
        ready = sum(1 for p in pods if kube.pod_ready(p))

        def node_port(svc: Obj | None) -> str:
            ports = ((svc or {}).get("spec") or {}).get("ports") or []
            return ", ".join(f"{p.get('port')}→{p.get('nodePort', '-')}" for p in ports) if svc else "(none)"

        rows = [
            ("Deployment replicas", drift_kinds.replicas(want), drift_kinds.replicas(live)),
            ("container image", drift_kinds.image(want), drift_kinds.image(live)),
            (f"env {ENV_VAR}", drift_kinds.env_var(want), drift_kinds.env_var(live)),
            (
                "Service port→nodePort",
                node_port(find(docs, "Service", APP)),
                node_port(cluster.get("Service", ns, APP)),
            ),
            ("pods ready", "", f"{ready}/{len(pods)}"),
        ]
        self.ui.table(f"{self.env.name}: git vs cluster", ("", "git (desired)", "live"), rows)
        self.ui.info(f"   Argo CD: {status.describe()}")

    def step2(self, plan: Change) -> None:
        self.ui.info(f"\nStep 2/5 — a change by hand, the 3 AM kind: {plan.description}")
        self.ui.info(f"   $ {plan.kubectl}")
        self.ui.info(f"   (the demo makes the same call through the Kubernetes API: {plan.api_call})")

    def diffs(self, plan: Change, diffs: Sequence[FieldDiff], live: str) -> None:
        # Lines, not a table: field paths like containers[name=app] would read as rich markup in a table cell.
        self.ui.info(f"   {plan.resource}/{plan.name} now differs from git (field: git → live):")
        for path, want, now in [(d.path, d.desired, d.live) for d in diffs] or [(plan.path, plan.desired, live)]:
            self.ui.info(f"     {path}: {want} → {now}")

    # ------------------------------------------------------------------------------------------ step 3

    def step3(self, backoff: float, heals: int) -> None:
        self.ui.info(
            f"\nStep 3/5 — Argo CD notices: it watches the objects it manages, so it compares {self.name} again now"
        )
        if self.env.auto_sync and backoff > 0:
            self.ui.info(
                f"   (this commit was self-healed {heals} time(s) already: Argo CD's self-heal backoff holds"
                f" this heal back about {backoff:.0f}s)"
            )

    def noticed(self, seen: Sequence[str], after: float) -> None:
        if seen:
            self.ui.info(f"   Argo CD: {self.name} is OutOfSync — " + "; ".join(f"{r} OutOfSync" for r in seen))
        elif self.env.auto_sync:
            self.ui.info(
                f"   Argo CD's self-heal started a sync {after:.1f}s after the change, before the demo saw OutOfSync"
            )

    def planned_waits(self, noticing: Sequence[str], observe: float, after: Sequence[str]) -> None:
        """A dry run: the waits the demo would make in steps 3 and 4, instead of making them."""
        for line in noticing:
            self.ui.data(f"# wait: {line}")
        self.step4(observe)
        for line in after:
            self.ui.data(f"# wait: {line}")

    # ------------------------------------------------------------------------------------------ step 4

    def step4(self, observe: float) -> None:
        if self.env.auto_sync:
            self.ui.info(
                f"\nStep 4/5 — {self.name} has automated sync with selfHeal: Argo CD puts git's state back by itself"
            )
        else:
            self.ui.info(
                f"\nStep 4/5 — {self.name} has no automated sync: Argo CD reports the drift and leaves it"
                f" (watching {observe:g}s)"
            )

    def healed(self, plan: Change, status: AppStatus, ours: bool, after: float) -> None:
        did = "; ".join(status.operation_results) if ours else ""
        if ours and status.operation_automated:
            self.ui.info(
                f"   Argo CD's automated sync (self-heal #{status.heal_count or 1} of this commit) re-applied:"
                f" {did or '?'}"
            )
        elif ours:
            self.ui.info(f"   a sync that was not automated fixed it (someone ran a sync?): {did or '?'}")
        self.ui.info(
            f"   {plan.path}: {plan.drifted} → {plan.desired} again; {self.name} Synced {after:.1f}s after the change"
        )

    def self_heal_configured(self) -> None:
        self.ui.warn(
            f"{self.name} has automated selfHeal configured: the lab's {self.env.name} should not; expect it to heal"
        )

    def reverted(self, plan: Change, status: AppStatus, value: str) -> None:
        self.ui.warn(
            f"after {self.elapsed():.1f}s {self.name} is {status.sync} and {plan.path} is {value}: someone synced?"
        )

    def stayed(self, seconds: float) -> None:
        self.ui.info(
            f"   {seconds:.0f}s later: still OutOfSync, the hand change still live. {self.name} has no"
            " spec.syncPolicy.automated, so Argo CD compares and reports, and only a sync — a human decision — changes"
            f" {self.env.name}. That is the point of staging and prod: they change when someone promotes and syncs."
        )

    def heal_offered(self) -> None:
        self.ui.info(f"   Heal it: invoke sync {self.env.name}")

    def healing(self) -> None:
        self.ui.info(f"   Healing it, as `invoke sync {self.env.name}` does: a sync of {self.name} to git's state")

    def synced(self, plan: Change, took: float) -> None:
        self.ui.info(
            f"   {self.name} Synced and Healthy {took:.1f}s after the sync started; {plan.path} is {plan.desired} again"
        )

    # ------------------------------------------------------------------------------------------ step 5

    def lessons(self, plan: Change, healed_after: float | None, kube_context: str) -> None:
        ui, env = self.ui, self.env
        ui.info("\nStep 5/5 — what this showed")
        if env.auto_sync:
            lasted = f"{healed_after:.1f}s" if healed_after is not None else "a moment"
            ui.info(
                f" • In {env.name}, git wins: the hand change lasted {lasted} before self-heal put git's state back."
            )
            ui.info(" • Argo CD did not wait for its git poll: it watches the live objects it manages.")
            ui.info(" • To change dev for real, change git: `invoke ship`, or edit the overlay and commit.")
        else:
            ui.info(f" • In {env.name}, Argo CD reports drift (OutOfSync, per resource and field) and changes nothing.")
            ui.info(
                f" • `invoke sync {env.name}` makes the cluster match git again;"
                " keeping the hand change means committing it to git."
            )
        lesson = drift_kinds.kind(plan.kind).lesson
        if lesson:
            ui.info(f" • {lesson}")
        ui.next_steps(
            f"invoke demo-drift --env {'staging' if env.auto_sync else 'dev'} --change {plan.kind}",
            f"invoke demo-drift --env {env.name} --change {drift_kinds.next_kind(plan.kind)}",
            "invoke status",
            f"kubectl --context {kube_context} -n {ARGOCD_NAMESPACE} get application {self.name} -o yaml",
        )

"""The Application client against recorded status sequences: objects shaped like real v3.5.1 Applications
(every recorded object is checked against the vendored CRD), a fake clock, and the exact patch bodies sent."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
import urllib3
from argocd_schema import crd_problems
from fakes import Clock
from kubernetes.client.exceptions import ApiException

from lab.clients.argocd import (
    MERGE_PATCH,
    ApplicationClient,
    KubernetesApplications,
    RecordingApplications,
    SyncFailed,
    synced_healthy,
)
from lab.clients.argocd_status import AppStatus, parse_status, same_revision
from lab.core.errors import ClusterUnreachable, Conflict, NotReady

OLD = "1111111111111111111111111111111111111111"
NEW = "2222222222222222222222222222222222222222"
IMAGE = "localhost:5001/lab-app:2222222-20260101T000000Z"
Obj = dict[str, Any]


def app(
    sync: str = "Synced",
    health: str = "Healthy",
    revision: str = OLD,
    *,
    phase: str | None = None,
    message: str = "",
    op_revision: str | None = None,
    started: str = "2026-01-01T00:00:00Z",
    operation: Obj | None = None,
    images: Iterable[str] = ("localhost:5001/lab-app:seed",),
    conditions: Iterable[tuple[str, str]] = (),
) -> Obj:
    """An Application as the API returns it (fields from the v3.5.1 CRD's status schema)."""
    obj: Obj = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": "lab-dev",
            "namespace": "argocd",
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": "gitops-lab",
            "source": {"repoURL": "http://lab-git:8080/gitops.git", "path": "overlays/dev", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "lab-dev"},
        },
        "status": {
            "sync": {
                "status": sync,
                "revision": revision,
                "comparedTo": {
                    "source": {
                        "repoURL": "http://lab-git:8080/gitops.git",
                        "path": "overlays/dev",
                        "targetRevision": "main",
                    },
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "lab-dev"},
                },
            },
            "health": {"status": health, "lastTransitionTime": "2026-01-01T00:00:05Z"},
            "summary": {"images": list(images)},
            "reconciledAt": "2026-01-01T00:00:06Z",
            "sourceType": "Kustomize",
            "history": [
                {
                    "id": 0,
                    "revision": OLD,
                    "deployedAt": "2026-01-01T00:00:04Z",
                    "deployStartedAt": "2026-01-01T00:00:01Z",
                    "initiatedBy": {"automated": True},
                    "source": {
                        "repoURL": "http://lab-git:8080/gitops.git",
                        "path": "overlays/dev",
                        "targetRevision": "main",
                    },
                }
            ],
        },
    }
    if conditions:
        obj["status"]["conditions"] = [
            {"type": t, "message": m, "lastTransitionTime": "2026-01-01T00:00:06Z"} for t, m in conditions
        ]
    if phase is not None:
        obj["status"]["operationState"] = {
            "phase": phase,
            "message": message,
            "startedAt": started,
            "operation": {"sync": {"revision": op_revision or revision}, "initiatedBy": {"automated": True}},
            "syncResult": {"revision": op_revision or revision},
        }
    if operation is not None:
        obj["operation"] = operation
    return obj


@dataclass
class RecordedApps:
    """Answers successive GETs from a recorded sequence (the last one repeats); records every PATCH."""

    sequence: list[Obj | Exception]
    patches: list[tuple[str, Obj]] = field(default_factory=list)
    gets: int = 0

    def get(self, name: str) -> Obj:
        item = self.sequence[min(self.gets, len(self.sequence) - 1)]
        self.gets += 1
        if isinstance(item, Exception):
            raise item
        return copy.deepcopy(item)

    def patch(self, name: str, body: Obj) -> Obj:
        self.patches.append((name, body))
        return {}


def client(sequence: list[Obj | Exception]) -> tuple[ApplicationClient, RecordedApps, Clock]:
    api = RecordedApps(sequence)
    clock = Clock()
    return ApplicationClient(api, clock=clock, sleep=clock.sleep), api, clock


def test_recorded_objects_are_shaped_like_real_applications() -> None:
    samples = [
        app(),
        app(
            "OutOfSync", "Progressing", phase="Running", message="waiting for healthy state of apps/Deployment/lab-app"
        ),
        app(
            "Synced",
            "Degraded",
            phase="Failed",
            message="one or more objects failed to apply",
            conditions=[("SyncError", "x")],
        ),
        app(operation={"initiatedBy": {"username": "gitops-lab"}, "sync": {"prune": True}}),
    ]
    for sample in samples:
        assert crd_problems(sample) == []


# ---------------------------------------------------------------- status parsing


def test_parse_status_reads_every_field() -> None:
    obj = app(
        "OutOfSync",
        "Progressing",
        NEW,
        phase="Running",
        message="waiting for healthy state of apps/Deployment/lab-app",
        images=[IMAGE],
        conditions=[("ComparisonError", "rpc error: repository not found")],
    )
    status = parse_status(obj)
    assert status == AppStatus(
        name="lab-dev",
        sync="OutOfSync",
        health="Progressing",
        revision=NEW,
        operation_phase="Running",
        operation_message="waiting for healthy state of apps/Deployment/lab-app",
        operation_revision=NEW,
        operation_started_at="2026-01-01T00:00:00Z",
        operation_requested=False,
        conditions=status.conditions,
        images=(IMAGE,),
        reconciled_at="2026-01-01T00:00:06Z",
        history=status.history,
        operation_automated=True,
    )
    assert [(c.type, c.message) for c in status.conditions] == [("ComparisonError", "rpc error: repository not found")]
    assert [(h.id, h.revision, h.deployed_at) for h in status.history] == [(0, OLD, "2026-01-01T00:00:04Z")]
    assert status.describe() == (
        "sync=OutOfSync health=Progressing revision=2222222 op=Running: waiting for healthy state of "
        "apps/Deployment/lab-app; ComparisonError: rpc error: repository not found"
    )


def test_parse_status_of_a_fresh_application_without_status() -> None:
    status = parse_status({"metadata": {"name": "lab-prod"}, "spec": {}})
    assert (status.sync, status.health, status.revision, status.history) == ("", "", "", ())
    assert status.describe() == "sync=Unknown health=Unknown"


def test_same_revision_accepts_abbreviations_only_of_seven_or_more() -> None:
    assert same_revision(NEW, NEW[:7])
    assert same_revision(NEW, NEW)
    assert not same_revision(NEW, OLD[:7])
    assert not same_revision(NEW, NEW[:4])
    assert not same_revision("", NEW)


# ---------------------------------------------------------------- waiting


def test_progressing_then_healthy() -> None:
    c, api, clock = client(
        [
            app(
                "Synced", "Progressing", phase="Running", message="waiting for healthy state of apps/Deployment/lab-app"
            ),
            app("Synced", "Progressing", phase="Succeeded"),
            app("Synced", "Healthy", phase="Succeeded"),
        ]
    )
    status = c.wait_for("lab-dev", synced_healthy(), timeout=60)
    assert (status.sync, status.health) == ("Synced", "Healthy")
    assert api.gets == 3 and clock.sleeps == [0.2, 0.2 * 1.5]


def test_synced_at_the_old_revision_does_not_count() -> None:
    c, api, _ = client(
        [
            app("Synced", "Healthy", OLD),  # before the controller noticed the push
            app("OutOfSync", "Healthy", NEW),
            app("Synced", "Progressing", NEW, phase="Running", op_revision=NEW),
            app("Synced", "Healthy", NEW, phase="Succeeded", op_revision=NEW, images=[IMAGE]),
        ]
    )
    status = c.wait_for("lab-dev", synced_healthy(revision=NEW[:7], image=IMAGE), timeout=60)
    assert status.revision == NEW and api.gets == 4


def test_waits_for_the_wanted_image() -> None:
    c, api, _ = client([app("Synced", "Healthy", NEW), app("Synced", "Healthy", NEW, images=[IMAGE])])
    c.wait_for("lab-dev", synced_healthy(image=IMAGE), timeout=60)
    assert api.gets == 2


def test_a_requested_operation_is_waited_out() -> None:
    requested = {"initiatedBy": {"username": "gitops-lab"}, "sync": {"prune": True}}
    c, api, _ = client([app(operation=requested), app(phase="Succeeded")])
    c.wait_for("lab-dev", synced_healthy(), timeout=60)
    assert api.gets == 2


def test_a_failed_sync_fails_fast_with_the_operation_message() -> None:
    c, api, _ = client(
        [
            app("OutOfSync", "Healthy", NEW, phase="Running", op_revision=NEW, started="2026-01-01T00:01:00Z"),
            app(
                "OutOfSync",
                "Healthy",
                NEW,
                phase="Failed",
                op_revision=NEW,
                started="2026-01-01T00:01:00Z",
                message='one or more objects failed to apply, reason: Deployment.apps "lab-app" is invalid',
            ),
            app("Synced", "Healthy", NEW),  # never reached
        ]
    )
    with pytest.raises(SyncFailed) as info:
        c.wait_for("lab-dev", synced_healthy(revision=NEW), timeout=300)
    assert 'Deployment.apps "lab-app" is invalid' in info.value.message
    assert info.value.exit_code == 13 and api.gets == 2


def test_an_earlier_failed_sync_of_another_revision_is_history() -> None:
    failed_before = app("OutOfSync", "Healthy", OLD, phase="Failed", op_revision=OLD, message="old failure")
    c, _, _ = client(
        [
            failed_before,
            app("Synced", "Progressing", NEW, phase="Running", op_revision=NEW, started="2026-01-01T00:02:00Z"),
            app("Synced", "Healthy", NEW, phase="Succeeded", op_revision=NEW, started="2026-01-01T00:02:00Z"),
        ]
    )
    assert c.wait_for("lab-dev", synced_healthy(revision=NEW), timeout=60).revision == NEW


def test_a_failed_sync_of_the_wanted_revision_already_there_fails() -> None:
    # Auto-sync does not retry a commit whose sync failed: waiting for it would only time out.
    c, _, _ = client([app("OutOfSync", "Healthy", NEW, phase="Failed", op_revision=NEW, message="boom")])
    with pytest.raises(SyncFailed, match="boom"):
        c.wait_for("lab-dev", synced_healthy(revision=NEW), timeout=60)


# A manual re-sync of a commit whose last sync failed (`invoke sync staging` run again). Recorded sequence as
# argo-cd v3.5.1's controller produces it: the `operation` patch is accepted at once, but the controller starts it
# only on its next refresh, so operationState keeps showing the old failure meanwhile; when it starts, a new
# operationState (new startedAt, phase Running) appears; a completed phase is patched together with `operation: null`
# (controller/appcontroller.go: processRequestedAppOperation, setOperationState).
REQUESTED = {"initiatedBy": {"username": "gitops-lab"}, "sync": {"prune": True}}
FAILED_AT = "2026-01-01T00:01:00Z"
RESYNC_AT = "2026-01-01T00:05:00Z"


def failed_before(operation: Obj | None = None) -> Obj:
    return app(
        "OutOfSync", "Degraded", NEW, phase="Failed", op_revision=NEW, started=FAILED_AT,
        message="old failure: one or more objects failed to apply", operation=operation,
    )  # fmt: skip


def resync_sequence(*final: Obj) -> list[Obj | Exception]:
    return [
        failed_before(),  # read by sync() before it patches `operation`
        failed_before(REQUESTED),  # requested, not started: the old failure still shows
        failed_before(REQUESTED),
        app("OutOfSync", "Progressing", NEW, phase="Running", op_revision=NEW, started=RESYNC_AT, operation=REQUESTED),
        *final,
    ]


def test_a_requested_sync_not_started_yet_is_described_as_such() -> None:
    assert parse_status(failed_before(REQUESTED)).describe() == (
        "sync=OutOfSync health=Degraded revision=2222222 op=Requested (previous: Failed): "
        "previous: old failure: one or more objects failed to apply"
    )


def test_recorded_resync_objects_are_shaped_like_real_applications() -> None:
    sequence = resync_sequence(
        app("Synced", "Healthy", NEW, phase="Succeeded", op_revision=NEW, started=RESYNC_AT, images=[IMAGE])
    )
    for obj in sequence:
        assert isinstance(obj, dict) and crd_problems(obj) == []


def test_a_resync_after_a_failed_sync_of_the_same_revision_waits_for_the_new_operation() -> None:
    c, api, _ = client(
        resync_sequence(
            app("Synced", "Healthy", NEW, phase="Succeeded", op_revision=NEW, started=RESYNC_AT, images=[IMAGE])
        )
    )
    c.sync("lab-staging")
    assert api.patches and "operation" in api.patches[0][1]
    status = c.wait_for("lab-staging", synced_healthy(revision=NEW, image=IMAGE), timeout=120)
    assert (status.operation_phase, status.operation_started_at, status.health) == ("Succeeded", RESYNC_AT, "Healthy")
    assert api.gets == 5, "every recorded state was read: the old failure did not end the wait"


def test_a_resync_that_fails_again_reports_the_new_failure() -> None:
    new_failure = app(
        "OutOfSync", "Degraded", NEW, phase="Failed", op_revision=NEW, started=RESYNC_AT,
        message='new failure: Deployment.apps "lab-app" is invalid',
    )  # fmt: skip
    c, api, _ = client(resync_sequence(new_failure))
    c.sync("lab-staging")
    with pytest.raises(SyncFailed) as info:
        c.wait_for("lab-staging", synced_healthy(revision=NEW), timeout=120)
    assert "new failure" in info.value.message and "old failure" not in info.value.message
    assert api.gets == 5


def test_a_resync_failing_within_the_same_second_is_still_reported() -> None:
    # startedAt has one-second resolution: a new operation may carry the old one's timestamp. Having seen the
    # request, the first completed state without `operation` is the requested operation's, whatever its time.
    # (The old pods keep serving: Healthy, so no Degraded grace period ends this wait instead.)
    again = app("OutOfSync", "Healthy", NEW, phase="Failed", op_revision=NEW, started=FAILED_AT, message="new failure")
    c, _, clock = client([app("OutOfSync", "Healthy", NEW, phase="Failed", op_revision=NEW, started=FAILED_AT,
                              message="old failure", operation=REQUESTED), again])  # fmt: skip
    with pytest.raises(SyncFailed) as info:
        c.wait_for("lab-staging", synced_healthy(), timeout=120)
    assert "sync failed: new failure" in info.value.message and clock.now < 1


def test_degraded_beyond_the_grace_period_fails() -> None:
    degraded = app("Synced", "Degraded", NEW, phase="Succeeded", op_revision=NEW, images=[IMAGE])
    c, _, clock = client([degraded])
    with pytest.raises(SyncFailed, match="Degraded for") as info:
        c.wait_for("lab-dev", synced_healthy(revision=NEW, degraded_grace=10), timeout=300)
    assert 10 <= clock.now < 13, clock.now
    assert "health=Degraded" in info.value.message


def test_a_short_degraded_spell_is_tolerated() -> None:
    degraded = app("Synced", "Degraded", NEW)
    c, _, clock = client(
        [degraded] * 4 + [app("Synced", "Progressing", NEW)] + [degraded] * 4 + [app("Synced", "Healthy", NEW)]
    )
    assert c.wait_for("lab-dev", synced_healthy(degraded_grace=6), timeout=300).health == "Healthy"
    assert clock.now > 6, "the two spells together exceed the grace period: it restarts after a non-Degraded state"


def test_timeout_reports_the_last_state() -> None:
    stuck = app(
        "OutOfSync", "Progressing", NEW, phase="Running", message="waiting for healthy state of apps/Deployment/lab-app"
    )
    c, api, clock = client([stuck])
    with pytest.raises(NotReady) as info:
        c.wait_for("lab-dev", synced_healthy(revision=NEW), timeout=30)
    err = info.value
    assert err.timeout == 30 and clock.now == pytest.approx(30)
    assert "sync=OutOfSync health=Progressing revision=2222222 op=Running: waiting for healthy state of" in err.message
    assert err.last_state.endswith("(a sync is running)")
    assert max(clock.sleeps) == 2.0, "the poll interval is capped"
    assert api.gets < 30, "polls back off"


# ---------------------------------------------------------------- errors


def test_missing_application_says_run_up() -> None:
    c, _, _ = client([ApiException(status=404, reason="Not Found")])
    with pytest.raises(Conflict) as info:
        c.get_app("lab-dev")
    assert info.value.message == "Argo CD Application lab-dev not found"
    assert "invoke up" in (info.value.hint or "")
    assert isinstance(info.value.__cause__, ApiException)


def test_connection_refused_is_cluster_unreachable() -> None:
    refused = urllib3.exceptions.MaxRetryError(None, "/apis", reason=ConnectionRefusedError(111, "Connection refused"))  # type: ignore[arg-type]
    c, _, _ = client([refused])
    with pytest.raises(ClusterUnreachable) as info:
        c.get_app("lab-dev")
    assert info.value.exit_code == 12 and isinstance(info.value.__cause__, urllib3.exceptions.MaxRetryError)


def test_wait_rides_out_transient_api_errors_but_not_a_dead_cluster() -> None:
    blip = ApiException(status=503, reason="Service Unavailable")
    c, api, _ = client([blip, blip, app()])
    assert c.wait_for("lab-dev", synced_healthy(), timeout=60).health == "Healthy" and api.gets == 3
    c, api, _ = client([blip])
    with pytest.raises(ClusterUnreachable, match="503"):
        c.wait_for("lab-dev", synced_healthy(), timeout=60)
    assert api.gets == 3


# ---------------------------------------------------------------- refresh and sync patches


def test_refresh_sends_the_annotation() -> None:
    c, api, _ = client([app()])
    c.refresh("lab-dev")
    c.refresh("lab-dev", hard=True)
    assert api.patches == [
        ("lab-dev", {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}),
        ("lab-dev", {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}}),
    ]


def test_sync_sends_the_operation() -> None:
    c, api, _ = client([app(phase="Succeeded")])
    c.sync("lab-prod")
    c.sync("lab-prod", revision=NEW, prune=False, reason="promote 2222222")
    assert api.patches == [
        ("lab-prod", {"operation": {"initiatedBy": {"username": "gitops-lab"}, "sync": {"prune": True}}}),
        (
            "lab-prod",
            {
                "operation": {
                    "initiatedBy": {"username": "gitops-lab"},
                    "sync": {"prune": False, "revision": NEW},
                    "info": [{"name": "reason", "value": "promote 2222222"}],
                }
            },
        ),
    ]
    for _, body in api.patches:  # the patched Application stays valid for the CRD
        assert crd_problems({**app(), **body}) == []


def test_sync_carries_the_apps_sync_options_and_retry() -> None:
    """Without CreateNamespace=true in the operation, a first manual sync of staging fails: the controller reads
    the options from the operation (the Argo CD API server copies them from spec.syncPolicy; so does the lab)."""
    obj = app(phase="Succeeded")
    retry = {"limit": 3, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "1m"}}
    obj["spec"]["syncPolicy"] = {"syncOptions": ["CreateNamespace=true", "PruneLast=true"], "retry": retry}
    c, api, _ = client([obj])
    c.sync("lab-staging")
    [(_, body)] = api.patches
    assert body["operation"]["sync"]["syncOptions"] == ["CreateNamespace=true", "PruneLast=true"]
    assert body["operation"]["retry"] == retry
    assert crd_problems({**obj, **body}) == []


def test_sync_is_refused_while_an_operation_runs() -> None:
    c, api, _ = client([app(phase="Running")])
    with pytest.raises(Conflict, match="already in progress"):
        c.sync("lab-prod")
    assert api.patches == []


# ---------------------------------------------------------------- the CustomObjectsApi adapter


@dataclass
class RecordingCustomObjects:
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)

    def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Obj:
        self.calls.append(("get", args, kwargs))
        return app()

    def patch_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Obj:
        self.calls.append(("patch", args, kwargs))
        return app()


def test_kubernetes_adapter_addresses_applications_in_argocd() -> None:
    api = RecordingCustomObjects()
    adapter = KubernetesApplications(api)
    assert adapter.get("lab-dev")["kind"] == "Application"
    adapter.patch("lab-dev", {"operation": {}})
    assert api.calls == [
        ("get", ("argoproj.io", "v1alpha1", "argocd", "applications", "lab-dev"), {}),
        (
            "patch",
            ("argoproj.io", "v1alpha1", "argocd", "applications", "lab-dev", {"operation": {}}),
            {"_content_type": MERGE_PATCH},
        ),
    ]
    assert MERGE_PATCH == "application/merge-patch+json"


def test_the_recording_api_of_a_dry_run_answers_its_app_prints_every_call_and_changes_nothing() -> None:
    shown: list[str] = []
    api = RecordingApplications(app(), shown.append)
    apps = ApplicationClient(api)
    assert apps.get_app("lab-dev").sync == "Synced"
    apps.sync("lab-dev", reason="why")
    assert apps.get_app("lab-dev").operation_requested is False  # the PATCH was not applied
    where = "('argoproj.io', 'v1alpha1', 'argocd', 'applications', 'lab-dev'"
    get = f"CustomObjectsApi.get_namespaced_custom_object{where})"
    assert shown == api.calls
    assert [shown[0], shown[1], shown[3]] == [get, get, get]
    operation = '{"operation": {"initiatedBy": {"username": "gitops-lab"}'
    assert shown[2].startswith(f"CustomObjectsApi.patch_namespaced_custom_object{where}, {operation}")
    assert shown[2].endswith("_content_type='application/merge-patch+json')")

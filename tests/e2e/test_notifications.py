"""Argo CD's notifications reach the lab's receiver: a ship to dev yields an on-sync-succeeded message for lab-dev at
the new GitOps commit, in the receiver, in its /metrics counter, in `invoke notifications` and in `invoke status`;
with monitoring on, Prometheus scrapes the receiver's counters and the DORA figures `invoke metrics --publish` put
there."""

from __future__ import annotations

import re

import pytest
import requests

from e2e.fixture import Lab, Scenario
from lab.clients.argocd import State
from lab.clients.notify_receiver import Notification, ReceiverClient, ReceiverUnreachable
from lab.components.notify_receiver import receiver_url
from lab.manifests.monitoring import NOTIFY_JOB

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

# Synced → the controller's webhook POST: the notifications controller reacts to the Application's update (informer)
# and the webhook retries 3 times at most 5 s apart (notifications-engine pkg/services/webhook.go defaults).
NOTIFIED = 90.0


def notified(client: ReceiverClient, app: str, trigger: str, revision: str, found: list[Notification]):
    def check() -> tuple[State, str]:
        try:
            page = client.notifications()
        except ReceiverUnreachable as exc:
            return State.PENDING, str(exc)
        for item in page.notifications:
            if (item.app, item.trigger, item.revision) == (app, trigger, revision):
                found.append(item)
                return State.SUCCEEDED, item.line()
        latest = page.notifications[0].line() if page.notifications else "none"
        return State.PENDING, f"{len(page.notifications)} kept, newest: {latest}"

    return check


def test_a_ship_to_dev_is_notified_as_sync_succeeded_in_the_receiver_and_in_status(scenario: Scenario) -> None:
    lab = scenario.lab
    client = ReceiverClient(receiver_url(lab.settings))
    scenario.when().ship().then().deployed("dev")
    shipped = scenario.shipped[-1]

    found: list[Notification] = []
    scenario.then().expect(
        notified(client, "lab-dev", "on-sync-succeeded", shipped.gitops_commit, found),
        NOTIFIED,
        f"on-sync-succeeded for lab-dev at {shipped.gitops_commit[:7]} in the receiver",
        since="pushed",
        record="ship pushed → on-sync-succeeded in the receiver",
    )
    item = found[0]
    # sync/health are the Application's when the operation finished: the refresh that marks it Synced may come in a
    # later update, so only the operation's own outcome is asserted.
    assert item.phase == "Succeeded" and "lab-dev has been successfully synced at" in item.message, item

    metrics = requests.get(f"{client.base_url}/metrics", timeout=5).text
    counted = re.search(
        r'^lab_notifications_received_total\{app="lab-dev",trigger="on-sync-succeeded"\} (\d+)$', metrics, re.M
    )
    assert counted and int(counted.group(1)) >= 1, metrics

    listed = lab.invoke("notifications", "--limit", "50")
    mine = [line for line in listed.stdout.splitlines() if f"revision {shipped.gitops_commit[:7]}" in line]
    assert any("  lab-dev  on-sync-succeeded  " in line for line in mine), listed.stdout
    status = lab.invoke("status")
    shown = status.stdout + status.stderr
    assert "Notifications (newest first" in shown and "lab-dev  on-sync-succeeded" in shown, shown


def test_prometheus_scrapes_the_receivers_counters_and_the_published_dora_figures(lab: Lab) -> None:
    """With monitoring on: Prometheus scrapes the receiver (job lab-notify, by name on the kind network); its
    counters are there, and so are the lab_dora_* figures once `invoke metrics --publish` put them."""
    from e2e.test_monitoring import _monitoring_on, wait_for

    _monitoring_on(lab)
    wait_for("Prometheus scrapes the receiver", f'up{{job="{NOTIFY_JOB}"}} == 1')
    # lab-dev's first sync (during `up`) was notified already.
    wait_for(
        "the receiver's counter of lab-dev's syncs",
        f'lab_notifications_received_total{{job="{NOTIFY_JOB}",app="lab-dev",trigger="on-sync-succeeded"}} >= 1',
    )
    published = lab.invoke("metrics", "--env", "dev", "--publish", "--no-chart")
    assert f"published to {receiver_url(lab.settings)}/metrics" in published.stderr + published.stdout
    (sample,) = wait_for("the published DORA figures", f'lab_dora_deployments{{job="{NOTIFY_JOB}",env="dev"}}')
    assert float(sample["value"][1]) >= 1, sample  # up's first deploy at least

"""`invoke metrics` on the real cluster: the figures of a ship and its rollback in dev take Argo CD's sync times
(status.history), and match a count made here from the Application's own history and the app repo."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from e2e.fixture import ROLLBACK, Scenario, app_is
from lab.core.config import ROOT
from lab.metrics.history import parse_time

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def test_metrics_of_a_ship_and_its_rollback_come_from_argocd(scenario: Scenario) -> None:
    lab = scenario.lab
    scenario.given().release_in("dev")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    scenario.when().ship().then().deployed("dev")
    shipped = scenario.shipped[-1]
    scenario.when().rollback("dev")
    rolled = scenario.rolled_back
    assert rolled is not None and rolled.rolled_back == (shipped.gitops_commit,), rolled
    scenario.then().expect(
        app_is(lab, "dev", sync="Synced", health="Healthy", revision=rolled.gitops_commit),
        ROLLBACK,
        f"dev Synced + Healthy at the revert {rolled.gitops_commit[:7]}",
    )

    out = json.loads(lab.invoke("metrics", "--env", "dev", "--since", start.isoformat(), "--json").stdout)["dev"]

    # The count by hand, from Argo CD's own history: the syncs of the deploy and of the rollback.
    history = lab.app("dev")["status"]["history"]
    synced: dict[str, dict[str, str]] = {}
    for entry in history:  # the first sync of each revision (a later one may be a self-heal)
        synced.setdefault(entry["revision"], entry)
    deploy, back = synced[shipped.gitops_commit], synced[rolled.gitops_commit]
    live, restored = parse_time(deploy["deployedAt"]), parse_time(back["deployedAt"])
    app_time = subprocess.run(
        ["git", "-C", str(ROOT), "show", "-s", "--format=%cI", shipped.app_commit.removesuffix("-dirty")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lead = max(0.0, (live - parse_time(app_time)).total_seconds())

    assert out["source"] == "argocd", out
    assert out["deployments"] == 1 and out["rollbacks"] == 1, out
    assert out["change_failure_rate"] == 1.0 and out["failed_deployments"] == 1, out
    assert out["lead_time_seconds"] == {"median": lead, "p90": lead}, out
    assert out["time_to_restore_seconds"] == {"median": (restored - live).total_seconds()}, out
    duration = (live - parse_time(deploy["deployStartedAt"])).total_seconds()
    assert out["deployment_duration_seconds"]["median"] == duration, out
    assert out["sources"]["lead_time_seconds"] == "argocd" and out["sources"]["time_to_restore_seconds"] == "argocd"
    scenario.record("metrics: time to restore (Argo CD)", (restored - live).total_seconds(), note="ship → rollback")

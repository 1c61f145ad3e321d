"""ship → dev: Synced at the new GitOps commit, Healthy, and the pods serve the new /version."""

from __future__ import annotations

import pytest

from e2e.fixture import DEPLOY, Scenario, app_is, pods_run_digest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def test_ship_lands_in_dev_synced_healthy_and_serving_the_new_version(scenario: Scenario) -> None:
    lab = scenario.lab
    before = lab.status("dev").revision
    scenario.when().ship().then().deployed("dev")

    shipped = scenario.shipped[-1]
    assert shipped.gitops_commit != before, "ship made no new GitOps commit"
    assert shipped.tag.startswith(shipped.app_commit[:7]), shipped.tag  # <sha7>-<UTC timestamp>
    # The pods run exactly what the registry reported for the push: the node's imageID is that digest.
    scenario.then().expect(pods_run_digest(lab, "dev", shipped.digest), DEPLOY, f"dev pods on {shipped.digest[:19]}")
    scenario.then().expect(
        app_is(lab, "dev", sync="Synced", health="Healthy", revision=shipped.gitops_commit), 5, "dev still Synced"
    )

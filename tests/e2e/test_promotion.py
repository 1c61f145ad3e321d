"""Promotion dev → staging → prod carries the exact digest; prod changes only with a manual sync."""

from __future__ import annotations

import pytest

from e2e.fixture import DEPLOY, DETECT, STAYS, Scenario, app_is, pods_run_digest
from lab.clients.argocd import State

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


def test_promotion_carries_the_exact_digest_and_prod_needs_the_manual_sync(scenario: Scenario) -> None:
    lab = scenario.lab
    scenario.given().release_in("dev", not_in=("staging", "prod"))
    source = scenario.releases["dev"]
    assert source.digest.startswith("sha256:"), source

    # dev → staging: a commit copying dev's image; staging syncs by hand.
    scenario.when().promote("dev", "staging")
    to_staging = scenario.releases["promoted-staging"]
    assert to_staging.digest == source.digest, (to_staging, source)
    assert lab.gitops().history("staging", max_count=1)[0].digest == source.digest  # the Image-Digest trailer
    scenario.when().sync("staging")
    scenario.then().expect(
        app_is(lab, "staging", sync="Synced", health="Healthy", revision=to_staging.gitops_commit),
        DEPLOY,
        "staging Synced + Healthy at the promotion",
        since="promoted-staging",
        record="promote + invoke sync staging → Healthy",
    ).expect(pods_run_digest(lab, "staging", source.digest), DEPLOY, f"staging pods on {source.digest[:19]}")

    # staging → prod: the commit alone changes nothing in prod.
    prod_before = lab.status("prod")
    scenario.when().promote("staging", "prod")
    to_prod = scenario.releases["promoted-prod"]
    assert to_prod.digest == source.digest

    def prod_waits_for_a_human() -> tuple[State, str]:
        status = lab.status("prod")
        if status.sync != "OutOfSync":
            return State.FAILED, f"prod is {status.describe()}"
        if status.operation_requested or status.operation_started_at != prod_before.operation_started_at:
            return State.FAILED, f"a sync ran in prod without `invoke sync prod`: {status.describe()}"
        return State.SUCCEEDED, f"prod OutOfSync at {status.revision[:7]}, no sync started"

    scenario.then().expect(
        app_is(lab, "prod", sync="OutOfSync", revision=to_prod.gitops_commit), DETECT, "prod sees the commit"
    ).expect_consistently(prod_waits_for_a_human, STAYS, "prod waits for the manual sync")

    scenario.when().sync("prod")
    scenario.then().expect(
        app_is(lab, "prod", sync="Synced", health="Healthy", revision=to_prod.gitops_commit),
        DEPLOY,
        "prod Synced + Healthy after invoke sync prod",
        since="sync-prod",
        record="invoke sync prod → Healthy",
    ).expect(pods_run_digest(lab, "prod", source.digest), DEPLOY, f"prod pods on {source.digest[:19]}")

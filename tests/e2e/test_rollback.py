"""Rollback by `git revert` restores the previous image in dev, timed; a bad release (readiness never passes)
never takes the old pods out of service, and rolling it back recovers."""

from __future__ import annotations

import pytest

from e2e.fixture import DEPLOY, DETECT, ROLLBACK, STUCK, Scenario, app_is, rollout_held, serving
from lab.core.config import environment

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def test_rollback_by_git_revert_restores_the_previous_image_in_dev(scenario: Scenario) -> None:
    lab = scenario.lab
    scenario.given().release_in("dev")
    previous = scenario.releases["dev"]
    scenario.when().ship().then().deployed("dev")
    assert scenario.shipped[-1].tag != previous.tag

    scenario.when().rollback("dev")
    rolled = scenario.rolled_back
    assert rolled is not None and rolled.rolled_back == (scenario.shipped[-1].gitops_commit,), rolled
    assert rolled.image == previous.image, (rolled.image, previous.image)
    scenario.then().expect(
        app_is(lab, "dev", sync="Synced", health="Healthy", revision=rolled.gitops_commit, image=previous.image),
        ROLLBACK,
        f"dev Synced + Healthy at the revert {rolled.gitops_commit[:7]}",
    ).expect(
        serving(lab, "dev", previous.tag),
        ROLLBACK,
        f"dev serves {previous.tag} again",
        since="rollback",
        record="rollback: git revert → previous /version served",
    )


def test_bad_release_never_takes_old_pods_out_and_rollback_recovers(scenario: Scenario) -> None:
    lab = scenario.lab
    replicas = environment("dev").replicas
    scenario.given().release_in("dev").traffic("dev", "/health")
    good = scenario.releases["dev"]

    scenario.when().ship_unready()
    bad = scenario.releases["bad"]
    scenario.then().expect(
        app_is(lab, "dev", sync="Synced", revision=bad.gitops_commit), DEPLOY, "dev synced the bad release"
    ).expect(
        rollout_held(lab, "dev", bad.image, min_ready=replicas), DEPLOY, "the bad release's pod is up, unready"
    ).expect_consistently(
        rollout_held(lab, "dev", bad.image, min_ready=replicas), STUCK, "old pods serve, the new pod stays unready"
    ).expect(serving(lab, "dev", good.tag), 10, f"dev still serves {good.tag}")
    assert lab.status("dev").health != "Healthy"  # Argo CD does not call a stalled rollout Healthy

    scenario.when().rollback("dev")
    rolled = scenario.rolled_back
    assert rolled is not None and rolled.rolled_back == (bad.gitops_commit,) and rolled.image == good.image
    scenario.then().expect(
        app_is(lab, "dev", sync="Synced", health="Healthy", revision=rolled.gitops_commit),
        ROLLBACK,
        "dev Healthy after rolling the bad release back",
        since="rollback",
        record="rollback of the bad release → Synced + Healthy",
    ).expect(serving(lab, "dev", good.tag), ROLLBACK, f"dev serves {good.tag}").traffic_never_failed(min_requests=50)


def test_rollback_of_staging_waits_for_the_sync_then_serves_the_previous_release(scenario: Scenario) -> None:
    lab = scenario.lab
    scenario.given().release_in("staging")
    previous = scenario.releases["staging"]
    scenario.when().ship().then().deployed("dev")
    scenario.when().promote("dev", "staging").sync("staging")
    newer = scenario.releases["promoted-staging"]
    scenario.then().expect(
        app_is(lab, "staging", sync="Synced", health="Healthy", revision=newer.gitops_commit),
        DEPLOY,
        f"staging Synced + Healthy at the promotion {newer.gitops_commit[:7]}",
    )

    scenario.when().rollback("staging")
    rolled = scenario.rolled_back
    assert rolled is not None and rolled.rolled_back == (newer.gitops_commit,), rolled
    assert rolled.image == previous.image, (rolled.image, previous.image)
    scenario.then().expect(
        app_is(lab, "staging", sync="OutOfSync", revision=rolled.gitops_commit),
        DETECT,
        f"staging sees the revert {rolled.gitops_commit[:7]} and waits for a sync",
    )
    scenario.when().sync("staging")
    scenario.then().expect(
        app_is(lab, "staging", sync="Synced", health="Healthy", revision=rolled.gitops_commit, image=previous.image),
        ROLLBACK,
        f"staging Synced + Healthy at the revert {rolled.gitops_commit[:7]}",
        since="rollback",
        record="rollback of staging: git revert + invoke sync staging → Synced + Healthy",
    ).expect(
        serving(lab, "staging", previous.tag),
        ROLLBACK,
        f"staging serves {previous.tag} again",
        since="rollback",
        record="rollback of staging → previous /version served",
    )

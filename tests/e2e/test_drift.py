"""Drift: a hand change to dev is reverted by Argo CD's self-heal within a stated bound; in staging it stays
OutOfSync until `invoke sync staging`. Also the learner's command itself, `demo_drift`, on the real cluster."""

from __future__ import annotations

import pytest

from e2e.fixture import (
    DEPLOY,
    DETECT,
    HEAL,
    STAYS,
    Scenario,
    app_is,
    field_is,
    healed,
    resource_out_of_sync,
    serving,
    stays_drifted,
)
from lab.core.config import environment
from lab.steps import drift

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


@pytest.mark.parametrize("change", drift.CHANGES)  # every kind of the catalogue (lab/steps/drift_kinds.py)
def test_drift_in_dev_is_reverted_by_self_heal_within_the_bound(scenario: Scenario, change: str) -> None:
    lab = scenario.lab
    scenario.given().release_in("dev").synced("dev")
    baseline = scenario.baselines["dev"]
    bound = HEAL + scenario.backoff["dev"]  # the self-heal backoff predicted from the last operation, + HEAL

    scenario.when().drift("dev", change)
    plan = scenario.plan
    assert plan is not None and plan.read(lab.cluster) == plan.drifted  # the change really happened
    scenario.then().expect(
        healed(lab, "dev", plan, baseline),
        bound,
        f"dev: {plan.description} reverted by self-heal",
        since="drift",
        record=f"drift corrected ({change}): change → git's value live + Synced",
    ).expect(app_is(lab, "dev", sync="Synced", health="Healthy"), DEPLOY, "dev Healthy again")
    if change == "delete":  # the recreated Service answers on the same NodePort again
        release = scenario.releases["dev"]
        scenario.then().expect(serving(lab, "dev", release.tag), DETECT, "dev answers on 127.0.0.1:8081 again")


def test_drift_in_staging_stays_out_of_sync_until_invoke_sync(scenario: Scenario) -> None:
    lab = scenario.lab
    scenario.given().release_in("staging").synced("staging")

    scenario.when().drift("staging", "scale")
    plan = scenario.plan
    assert plan is not None
    scenario.then().expect(
        resource_out_of_sync(lab, "staging", "Deployment"),
        DETECT,
        "staging reports Deployment lab-app OutOfSync",
        since="drift",
        record="drift noticed: change → OutOfSync",
    ).expect_consistently(stays_drifted(lab, "staging", plan), STAYS, "staging OutOfSync, the hand change live")

    scenario.when().sync("staging")
    scenario.then().expect(
        field_is(lab, plan, plan.desired), DEPLOY, f"staging {plan.path} back to {plan.desired}"
    ).expect(
        app_is(lab, "staging", sync="Synced", health="Healthy"),
        DEPLOY,
        "staging Synced + Healthy",
        since="sync-staging",
        record="invoke sync staging → Synced + Healthy",
    )
    assert plan.read(lab.cluster) == str(environment("staging").replicas)


def test_demo_drift_in_dev_reports_the_self_heal_time(scenario: Scenario) -> None:
    lab = scenario.lab
    scenario.given().release_in("dev").synced("dev")
    bound = HEAL + scenario.backoff["dev"]
    result = drift.demo_drift(lab.ctx, "dev", "scale", cluster=lab.cluster, apps=lab.apps)
    assert result.self_healed, result
    assert result.seconds_to_heal is not None and result.seconds_to_heal <= bound, result
    scenario.record("invoke demo-drift --env dev: change → Synced", result.seconds_to_heal, bound)


def test_demo_drift_in_staging_stays_then_heals_with_a_sync(scenario: Scenario) -> None:
    lab = scenario.lab
    scenario.given().release_in("staging").synced("staging")
    result = drift.demo_drift(lab.ctx, "staging", "image", cluster=lab.cluster, apps=lab.apps, observe=15, heal=True)
    assert result.out_of_sync_resources, result  # Argo CD listed the Deployment
    assert result.stayed_out_of_sync_for is not None and result.stayed_out_of_sync_for >= 15, result
    assert result.seconds_to_sync is not None, result
    scenario.record("invoke demo-drift --env staging: sync → Synced", result.seconds_to_sync, lab.settings.sync_timeout)

"""The e2e suite as pytest sees it on a machine without a cluster: every test is collected and marked e2e, all are
skipped with one clear reason, LAB_REQUIRE_CLUSTER=1 turns that into errors, and `-m "not e2e"` leaves them out.
Each case runs pytest in a subprocess with a kubeconfig that does not exist, so no real cluster can interfere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab.core.config import ROOT, load_settings
from lab.steps import drift_kinds

pytestmark = pytest.mark.integration  # runs pytest as a process to collect the e2e suite (tests/tiers.py)

E2E = "tests/e2e"
BEHAVIOURS = {  # test name prefix -> how many (parametrized) cases: the list, one test (or more) each
    "test_ship_lands_in_dev_synced_healthy_and_serving_the_new_version": 1,
    "test_drift_in_dev_is_reverted_by_self_heal_within_the_bound": len(drift_kinds.KINDS),  # one per drift kind
    "test_drift_in_staging_stays_out_of_sync_until_invoke_sync": 1,
    "test_demo_drift_in_dev_reports_the_self_heal_time": 1,
    "test_demo_drift_in_staging_stays_then_heals_with_a_sync": 1,
    "test_rollback_by_git_revert_restores_the_previous_image_in_dev": 1,
    "test_bad_release_never_takes_old_pods_out_and_rollback_recovers": 1,
    "test_promotion_carries_the_exact_digest_and_prod_needs_the_manual_sync": 1,
    "test_rollback_of_staging_waits_for_the_sync_then_serves_the_previous_release": 1,
    "test_metrics_of_a_ship_and_its_rollback_come_from_argocd": 1,
    "test_prometheus_scrapes_the_app_and_argocd_and_the_dev_request_counter_rises": 1,
    "test_every_dashboard_query_returns_data_every_alert_is_valid_promql_and_the_rules_are_loaded": 1,
    "test_a_bad_release_raises_dev_error_ratio_fires_the_alert_and_rollback_resolves_it": 1,
    "test_argocd_lets_each_persona_sync_exactly_its_environments": 9,  # 3 personas x 3 environments
    "test_the_api_server_answers_a_refused_sync_with_403_and_a_wrong_password_with_401": 1,
    "test_dashboard_lists_the_personas_that_can_log_in": 1,
    "test_a_sealed_token_reaches_the_app_through_git_and_rotates": 1,
    "test_demo_netpol_refuses_then_allows_then_refuses_and_the_app_serves_under_default_deny": 1,
    "test_a_ship_to_dev_is_notified_as_sync_succeeded_in_the_receiver_and_in_status": 1,
    "test_prometheus_scrapes_the_receivers_counters_and_the_published_dora_figures": 1,
}
TOTAL = sum(BEHAVIOURS.values())


def run_pytest(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("LAB_E2E_UP", "LAB_REQUIRE_CLUSTER", "PYTEST_ADDOPTS")}
    environ["KUBECONFIG"] = str(tmp_path / "no-such-kubeconfig")
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_e2e_test_is_collected_under_the_e2e_marker(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, "--collect-only", "-m", "e2e", E2E)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    names = [re.sub(r"\[.*\]$", "", i.split("::")[-1]) for i in ids]
    assert {n: names.count(n) for n in set(names)} == BEHAVIOURS, proc.stdout
    assert f"{TOTAL} tests collected" in proc.stdout


def test_without_a_cluster_every_e2e_test_is_skipped_with_the_reason(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, "-m", "e2e", "-rs", E2E)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(rf"\b{TOTAL} skipped\b", proc.stdout), proc.stdout
    context = load_settings().kube_context
    reasons = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    expected = f"no lab cluster: no usable kubeconfig context '{context}'"
    assert reasons and all(expected in line for line in reasons), proc.stdout
    assert all("`make up`" in line and "LAB_E2E_UP=1" in line for line in reasons), proc.stdout
    assert sum(int(re.search(r"SKIPPED \[(\d+)\]", line).group(1)) for line in reasons) == TOTAL  # type: ignore[union-attr]


def test_lab_require_cluster_turns_the_skip_into_errors(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, "-m", "e2e", E2E, LAB_REQUIRE_CLUSTER="1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(rf"\b{TOTAL} errors?\b", proc.stdout), proc.stdout
    assert "LAB_REQUIRE_CLUSTER=1 but no lab cluster" in proc.stdout


@pytest.mark.parametrize("expression", ["not e2e", "not integration and not docker and not e2e"])  # make unit
def test_the_default_and_unit_selections_leave_the_e2e_tests_out(tmp_path: Path, expression: str) -> None:
    proc = run_pytest(tmp_path, "--collect-only", "-m", expression, E2E)
    assert proc.returncode == 5, proc.stdout + proc.stderr  # pytest: no tests collected
    assert f"{TOTAL} deselected" in proc.stdout

"""The e2e suite's cluster: the running lab, found through the kubeconfig context the lab uses.

- A lab cluster answers (context `kind-<cluster_name>`, Argo CD's Application lab-dev exists): it is reused.
- None answers and LAB_E2E_UP=1: the suite runs `invoke up` (which creates the kind cluster with the lab's pinned
  kind, the registry, the git server and Argo CD) when Docker answers, then reuses it.
- Otherwise every e2e test is skipped, with the reason (what did not answer, and what to run). LAB_REQUIRE_CLUSTER=1
  (the e2e workflow sets it) turns that skip into a failure: there, a cluster that did not come up is an error.

pytest-kubernetes is not used: its providers create clusters of their own (names, configs, no port mappings),
while the lab must be tested on the cluster `invoke up` makes, with NodePorts mapped to 127.0.0.1:8081-8083.
Reusing an existing cluster through the kubeconfig is all it would offer here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.fixture import REQUIRE_ENV, Lab, Report, Scenario, cluster_access
from lab.core.config import load_settings
from lab.core.context import Context
from lab.core.runner import SubprocessRunner
from lab.core.ui import UI

REPORT_ENV = "LAB_E2E_REPORT"


@pytest.fixture(scope="session")
def report() -> Iterator[Report]:
    timings = Report()
    yield timings
    target = os.environ.get(REPORT_ENV)
    if target:
        timings.write_json(Path(target))


@pytest.fixture(scope="session")
def lab(report: Report) -> Lab:
    settings = load_settings()
    access = cluster_access(settings, os.environ)
    if access.cluster is None or access.apps is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {access.reason}", pytrace=False)
        pytest.skip(access.reason)
    ctx = Context(settings, SubprocessRunner(), UI(quiet=False))
    return Lab(settings, ctx, access.apps, access.cluster, report)


@pytest.fixture
def scenario(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Scenario]:
    s = Scenario(lab, request.node.name)
    yield s
    if s.traffic is not None:  # a test that failed before checking its traffic: stop the thread
        s.traffic.stop()
    if s.timeline is not None:  # a deploy no Then.deployed looked at: stop its poller
        s.timeline.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    timings: Report | None = getattr(terminalreporter.config, "_lab_e2e_report", None)
    if timings and timings.timings:
        terminalreporter.section("e2e: measured times")
        for line in timings.lines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def _expose_report(report: Report, pytestconfig: pytest.Config) -> None:
    pytestconfig._lab_e2e_report = report  # type: ignore[attr-defined]

"""The drift-kind catalogue (lab/steps/drift_kinds.py): each kind, planned from what git renders, reads the field
it changes, makes the change through the generic client's one patch/delete, and is listed in the task help and
the docs. A new kind is one entry in KINDS; these tests then cover it too."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fakes.kube import FakeKube

from lab.clients import kube
from lab.core.config import ROOT, environment
from lab.steps import drift_kinds
from lab.steps.drift_kinds import KINDS, NAMES, DriftKind, Sizing

Obj = dict[str, object]


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.is_file() else "kubectl"


@pytest.fixture(scope="module")
def dev() -> list[dict[str, object]]:
    """overlays/dev rendered by the real kubectl kustomize (offline)."""
    out = subprocess.run([kubectl(), "kustomize", str(ROOT / "overlays" / "dev")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def served(docs: list[dict[str, object]]) -> FakeKube:
    cluster = FakeKube()
    for doc in docs:
        cluster.put(doc)  # type: ignore[arg-type]
    return cluster


@pytest.mark.integration  # the overlay rendered by the real `kubectl kustomize` (tests/tiers.py)
@pytest.mark.parametrize("entry", KINDS, ids=NAMES)
def test_each_kind_changes_its_field_through_one_generic_request_and_reads_it_back(
    entry: DriftKind, dev: list[dict[str, object]]
) -> None:
    env = environment("dev")
    cluster = served(dev)
    plan = drift_kinds.plan_change(env, entry.name, dev, context="kind-gitops-lab", image_repo="unused")  # type: ignore[arg-type]
    assert plan.desired != plan.drifted
    assert plan.read(cluster) == plan.desired  # git's value, read from the object git renders
    plan.apply(cluster)
    assert plan.read(cluster) == plan.drifted
    assert cluster.changes == [plan.request] and isinstance(plan.request, kube.Patch | kube.Delete)
    assert plan.kubectl.startswith("kubectl --context kind-gitops-lab -n lab-dev ")
    assert plan.api_call == plan.request.api_call()
    changed = (plan.resource, "lab-dev", "lab-app")
    untouched = {k: v for k, v in served(dev).objects.items() if k != changed}
    assert {k: v for k, v in cluster.objects.items() if k != changed} == untouched  # nothing else changed


@pytest.mark.parametrize("entry", KINDS, ids=NAMES)
def test_each_kind_plans_without_a_rendered_object_from_what_the_overlays_set(entry: DriftKind) -> None:
    plan = entry.plan(Sizing(environment("staging"), None, "c", "localhost:5001/lab-app"))
    assert plan.desired and plan.drifted and plan.desired != plan.drifted
    assert plan.namespace == "lab-staging"


def test_an_unknown_kind_is_a_config_error_listing_every_kind() -> None:
    with pytest.raises(Exception, match="unknown change 'reboot'") as err:
        drift_kinds.kind("reboot")
    assert getattr(err.value, "hint", "") == f"valid changes: {', '.join(NAMES)}"
    assert [drift_kinds.next_kind(n) for n in NAMES] == [*NAMES[1:], NAMES[0]]


def test_the_task_help_and_the_docs_list_every_kind() -> None:
    spec = importlib.util.spec_from_file_location("tasks_for_drift_kinds", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    help_text = tasks.demo_drift.help["change"]
    assert help_text == drift_kinds.task_help() and all(re.search(rf"\b{n}\b", help_text) for n in NAMES)
    doc = (ROOT / "docs" / "drift-and-rollback.md").read_text()
    rows = drift_kinds.docs_table(environment("dev"))
    assert "\n".join(rows) in doc, "docs/drift-and-rollback.md: the --change table differs from the catalogue"
    assert len(rows) == 2 + len(KINDS)
    assert "[--change KIND]" in doc and "[--change KIND]" in (ROOT / "README.md").read_text()  # no list to keep

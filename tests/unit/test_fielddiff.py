"""lab.core.fielddiff: what the desired side sets and the live side differs in, Argo CD's way (argo-cd issue 4537)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lab.core.fielddiff import MISSING, FieldDiff, object_diff, show, value_diff

DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "lab-app", "labels": {"app": "lab-app"}},
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [
                    {"name": "app", "image": "r/lab-app:1", "env": [{"name": "PORT", "value": "8000"}], "args": ["a"]}
                ]
            }
        },
    },
}


def served(**changes: Any) -> dict[str, Any]:
    """DESIRED as the API server returns it: server fields added, then CHANGES applied to the container."""
    live = copy.deepcopy(DESIRED)
    live["metadata"].update(uid="u-1", resourceVersion="7", annotations={"deployment.kubernetes.io/revision": "2"})
    live["status"] = {"replicas": 1}
    container = live["spec"]["template"]["spec"]["containers"][0]
    container.update(terminationMessagePolicy="File")
    container.update(changes)
    return live


def test_fields_only_the_live_object_has_are_no_diff() -> None:
    live = served(env=[{"name": "PORT", "value": "8000"}, {"name": "EXTRA", "value": "by hand"}])
    assert object_diff(DESIRED, live) == []


def test_a_changed_field_is_named_by_its_path_and_lists_of_named_items_match_by_name() -> None:
    live = served(image="r/lab-app:hotfix", env=[{"name": "OTHER", "value": "x"}, {"name": "PORT", "value": "9"}])
    live["metadata"]["labels"]["app"] = "other"
    assert [(d.path, d.desired, d.live) for d in object_diff(DESIRED, live)] == [
        ("metadata.labels.app", "lab-app", "other"),
        ("spec.template.spec.containers[name=app].image", "r/lab-app:1", "r/lab-app:hotfix"),
        ("spec.template.spec.containers[name=app].env[name=PORT].value", "8000", "9"),
    ]


def test_a_missing_field_and_a_missing_object() -> None:
    live = served()
    del live["spec"]["replicas"]
    assert object_diff(DESIRED, live) == [FieldDiff("Deployment/lab-app", "spec.replicas", "1", "(unset)")]
    assert object_diff(DESIRED, None) == [FieldDiff("Deployment/lab-app", "(object)", "present", "missing")]


@pytest.mark.parametrize(
    ("desired", "live", "found"),
    [
        (["a", "b"], ["a", "c"], [("x[1]", "b", "c")]),
        (["a"], ["a", "b"], [("x", ["a"], ["a", "b"])]),  # unnamed lists of other lengths differ as a whole
        ({"k": 1}, "text", [("x", {"k": 1}, "text")]),
        ([{"name": "n", "v": 1}], [{"name": "m", "v": 1}], [("x[name=n]", {"name": "n", "v": 1}, MISSING)]),
    ],
)
def test_value_diff(desired: Any, live: Any, found: list[tuple[str, Any, Any]]) -> None:
    assert value_diff(desired, live, "x") == found


def test_values_are_shown_as_json_cut_to_80_characters() -> None:
    assert show(MISSING) == "(unset)" and show(3) == "3" and show({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    assert len(show("x" * 200)) == 80 and show("x" * 200).endswith("...")

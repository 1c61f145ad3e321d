"""lab.core.fielddiff: drift as Argo CD's diff sees it — only fields the desired object sets count."""

from __future__ import annotations

from lab.core.fielddiff import MISSING, FieldDiff, differences, field_diff, show

DESIRED = {
    "kind": "Deployment",
    "metadata": {"name": "lab-app", "labels": {"env": "dev"}},
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [
                    {"name": "app", "image": "r/lab-app:1", "env": [{"name": "PORT", "value": "8000"}]},
                    {"name": "side", "image": "r/side:1"},
                ]
            }
        },
    },
}


def live(**spec: object) -> dict[str, object]:
    obj = {
        "kind": "Deployment",
        "metadata": {"name": "lab-app", "labels": {"env": "dev"}, "uid": "u", "annotations": {"by": "server"}},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [  # in another order than git's: matched by name, not position
                        {"name": "side", "image": "r/side:1", "terminationMessagePolicy": "File"},
                        {"name": "app", "image": "r/lab-app:1", "env": [{"name": "PORT", "value": "8000"}]},
                    ],
                    "dnsPolicy": "ClusterFirst",
                }
            },
        },
        "status": {"replicas": 1},
    }
    obj["spec"].update(spec)  # type: ignore[attr-defined]
    return obj


def test_what_only_the_live_object_has_is_no_diff() -> None:
    assert field_diff(DESIRED, live()) == []


def test_a_changed_field_is_named_by_its_path_with_list_items_by_name() -> None:
    changed = live()
    changed["spec"]["template"]["spec"]["containers"][1]["env"][0]["value"] = "8001"  # type: ignore[index]
    changed["spec"]["replicas"] = 3  # type: ignore[index]
    assert field_diff(DESIRED, changed) == [
        FieldDiff("Deployment/lab-app", "spec.replicas", "1", "3"),
        FieldDiff("Deployment/lab-app", "spec.template.spec.containers[name=app].env[name=PORT].value", "8000", "8001"),
    ]


def test_an_added_list_item_git_does_not_set_is_no_diff_and_a_removed_one_is_unset() -> None:
    changed = live()
    box = changed["spec"]["template"]["spec"]["containers"][1]  # type: ignore[index]
    box["env"].append({"name": "LOG_LEVEL", "value": "ERROR"})
    assert field_diff(DESIRED, changed) == []
    box["env"] = []
    assert [(d.path, d.desired, d.live) for d in field_diff(DESIRED, changed)] == [
        ("spec.template.spec.containers[name=app].env[name=PORT]", '{"name": "PORT", "value": "8000"}', "(unset)")
    ]


def test_a_missing_object_is_one_object_entry() -> None:
    assert field_diff(DESIRED, None) == [FieldDiff("Deployment/lab-app", "(object)", "present", "missing")]


def test_lists_without_names_compare_by_position_and_length() -> None:
    assert differences({"a": [1, 2]}, {"a": [1, 3]}) == [("a[1]", 2, 3)]
    assert differences({"a": [1, 2]}, {"a": [1]}) == [("a", [1, 2], [1])]
    assert differences({"a": {"b": 1}}, {"a": "x"}) == [("a", {"b": 1}, "x")]
    assert differences({"a": 1}, {}) == [("a", 1, MISSING)]


def test_values_are_shown_as_text_and_long_ones_are_cut() -> None:
    assert show(MISSING) == "(unset)" and show("x") == "x" and show({"b": 1, "a": [2]}) == '{"a": [2], "b": 1}'
    long = show("y" * 200)
    assert len(long) == 80 and long.endswith("...")

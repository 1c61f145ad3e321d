"""The strict fake of the generic Kubernetes client (tests/fakes/kube.py) behaves as the client and the API server do
where the drift tests rely on it, and refuses what the real client would refuse or what a test did not script."""

from __future__ import annotations

import pytest
from fakes.kube import FakeKube, merge_patch, strategic_merge_patch

from lab.clients import kube
from lab.core.errors import Conflict

DEPLOYMENT = {
    "kind": "Deployment",
    "metadata": {"name": "lab-app", "namespace": "lab-dev", "labels": {"app": "x"}},
    "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app", "image": "a:1", "env": []}]}}},
}


def test_patches_merge_as_the_api_server_merges_them() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}) == {"a": 1, "b": {"d": 3}}
    assert merge_patch({"l": [{"name": "x", "v": 1}]}, {"l": [{"name": "y"}]}) == {"l": [{"name": "y"}]}  # replaced
    merged = strategic_merge_patch({"l": [{"name": "x", "v": 1}]}, {"l": [{"name": "y"}, {"name": "x", "v": 2}]})
    assert merged == {"l": [{"name": "x", "v": 2}, {"name": "y"}]}  # merged by name


def test_the_fake_records_requests_and_refuses_what_the_client_would() -> None:
    cluster = FakeKube()
    cluster.put(DEPLOYMENT)
    scale = kube.Patch("Deployment", "lab-dev", "lab-app", {"spec": {"replicas": 3}}, kube.MERGE_PATCH, "scale")
    scale.send(cluster)
    assert cluster.object("Deployment", "lab-dev", "lab-app")["spec"]["replicas"] == 3
    assert cluster.changes == [scale]
    assert cluster.list("Deployment", "lab-dev", "app=x") and not cluster.list("Deployment", "lab-dev", "app=y")
    with pytest.raises(Conflict, match="does not exist"):
        cluster.patch("Service", "lab-dev", "lab-app", {}, patch_type=kube.MERGE_PATCH)
    with pytest.raises(ValueError, match="not Secret"):
        cluster.get("Secret", "lab-dev", "x")
    with pytest.raises(AssertionError, match="json-patch"):
        cluster.patch("Deployment", "lab-dev", "lab-app", {}, patch_type="application/json-patch+json")
    read_only = FakeKube(writable=False)
    read_only.put(DEPLOYMENT)
    with pytest.raises(AssertionError, match="unscripted patch"):
        scale.send(read_only)
    with pytest.raises(AssertionError, match="unscripted delete"):
        kube.Delete("Deployment", "lab-dev", "lab-app").send(read_only)
    assert read_only.changes == []

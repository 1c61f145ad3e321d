"""What `invoke sync` diffs: the rendered overlay as Argo CD applies it, i.e. with Argo CD's tracking annotation.

Argo CD v3 (tracking method annotation, the default: argo-cd v3.5.1 util/settings/settings.go) sets
`argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>` on everything it applies
(util/argo/resource_tracking.go), and it lands in last-applied-configuration: a client-side `kubectl diff` of the
bare overlay shows it as removed on every synced environment. The expected values below are written out by hand
from that format, not computed with the code under test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.clients.argocd_tracking import TRACKING_ANNOTATION, as_argocd_applies, tracking_id
from lab.core.runner import SubprocessRunner
from lab.tools import kustomize

pytestmark = pytest.mark.integration  # renders with the real `kubectl kustomize` (tests/tiers.py)

ROOT = Path(__file__).resolve().parents[2]


def _by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


def _without_tracking(doc: dict[str, Any]) -> dict[str, Any]:
    meta = dict(doc["metadata"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != TRACKING_ANNOTATION}
    meta.pop("annotations", None)
    if annotations:
        meta["annotations"] = annotations
    return {**doc, "metadata": meta}


def test_the_rendered_dev_overlay_gets_argocds_tracking_ids() -> None:
    rendered = kustomize.render(SubprocessRunner(), ROOT / "overlays" / "dev")  # the real `kubectl kustomize`
    before = [d for d in yaml.safe_load_all(rendered) if d]
    after = [d for d in yaml.safe_load_all(as_argocd_applies(rendered, "lab-dev", "lab-dev")) if d]

    by_kind = _by_kind(after)
    config_map = by_kind["ConfigMap"]["metadata"]["name"]
    assert config_map.startswith("lab-app-config-"), "kustomize's hash suffix is part of the name"
    assert {kind: d["metadata"]["annotations"][TRACKING_ANNOTATION] for kind, d in by_kind.items()} == {
        "ServiceAccount": "lab-dev:/ServiceAccount:lab-dev/lab-app",  # core group: empty
        "ConfigMap": f"lab-dev:/ConfigMap:lab-dev/{config_map}",
        "Service": "lab-dev:/Service:lab-dev/lab-app",
        "Deployment": "lab-dev:apps/Deployment:lab-dev/lab-app",
        "NetworkPolicy": "lab-dev:networking.k8s.io/NetworkPolicy:lab-dev/lab-app",
    }
    # Nothing else changes: same objects, same order, same fields and values.
    assert [_without_tracking(d) for d in after] == before


def test_the_yaml_is_kept_as_kustomize_wrote_it_apart_from_the_annotation() -> None:
    rendered = kustomize.render(SubprocessRunner(), ROOT / "overlays" / "dev")
    out = as_argocd_applies(rendered, "lab-dev", "lab-dev")
    added = [line for line in out.splitlines() if line not in rendered.splitlines()]
    assert added and all(line.strip() == "annotations:" or TRACKING_ANNOTATION in line for line in added), added
    assert 'DRAIN_SECONDS: "5"' in out, "quoted scalars stay quoted (a ConfigMap value must stay a string)"


MIXED = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: no-namespace
data:
  ENABLED: "on"
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
  namespace: somewhere
---
apiVersion: v1
kind: Namespace
metadata:
  name: lab-extra
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  namespace: other
  annotations:
    note: kept
"""


def test_namespaces_follow_argocds_normalisation() -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all(as_argocd_applies(MIXED, "lab-staging", "lab-staging"))}
    ids = {kind: (d["metadata"].get("annotations") or {}).get(TRACKING_ANNOTATION) for kind, d in docs.items()}
    assert ids == {
        # no namespace: the destination's, set on the object too (kubectl would otherwise use the context's)
        "ConfigMap": "lab-staging:/ConfigMap:lab-staging/no-namespace",
        # cluster-scoped: the controller strips the namespace and tracks it under the destination namespace
        "ClusterRole": "lab-staging:rbac.authorization.k8s.io/ClusterRole:lab-staging/reader",
        "Namespace": "lab-staging:/Namespace:lab-staging/lab-extra",
        # CRDs: the repo-server sets no tracking on them
        "CustomResourceDefinition": None,
        # a kind the lab does not know is namespaced, and keeps its own namespace
        "Widget": "lab-staging:example.com/Widget:other/w",
    }
    assert docs["ConfigMap"]["metadata"]["namespace"] == "lab-staging"
    assert "namespace" not in docs["ClusterRole"]["metadata"]
    assert docs["Widget"]["metadata"]["annotations"]["note"] == "kept"
    assert docs["ConfigMap"]["data"] == {"ENABLED": "on"}


def test_tracking_id_format() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "namespace": "n"}}
    assert tracking_id("app", deployment, "dest") == "app:apps/Deployment:n/x"
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}
    assert tracking_id("app", service, "dest") == "app:/Service:dest/x"

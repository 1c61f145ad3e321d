"""How Argo CD marks the objects it applies (annotation tracking), so the lab can diff a rendered overlay against the
cluster the way Argo CD's own sync would apply it (`invoke sync --dry-run`: lab/steps/lab.py)."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML

# How Argo CD marks the objects it applies. With `application.resourceTrackingMethod` unset in argocd-cm (the
# lab leaves it unset), v3 tracks by annotation (argo-cd v3.5.1 util/settings/settings.go, GetTrackingMethod):
# every object it applies gets `argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>`
# (util/argo/resource_tracking.go, BuildAppInstanceValue), which client-side apply copies into
# `kubectl.kubernetes.io/last-applied-configuration`.
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
# Built-in kinds that are cluster-scoped (group, kind). Argo CD asks the cluster; anything not listed here is
# taken as namespaced, as Argo CD does for a kind it does not know (controller/state.go NormalizeTargetObjects,
# IsNamespacedOrUnknown).
CLUSTER_SCOPED = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("networking.k8s.io", "IngressClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "VolumeAttachment"),
    }
)
CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")


def _group_kind(obj: dict[str, Any]) -> tuple[str, str]:
    api_version = str(obj.get("apiVersion") or "")
    return (api_version.rsplit("/", 1)[0] if "/" in api_version else ""), str(obj.get("kind") or "")


def tracking_id(app: str, obj: dict[str, Any], destination_namespace: str) -> str:
    """The tracking-id Argo CD gives OBJ when APP (an Application in Argo CD's own namespace, so its plain name)
    applies it: the group is empty for core kinds ("v1"); the namespace is the object's own, or the
    destination namespace for an object without one and for every cluster-scoped object (the controller strips
    their namespace and sets the id again with the destination's: controller/state.go NormalizeTargetObjects,
    util/argo/resource_tracking.go UnstructuredToAppInstanceValue)."""
    group, kind = _group_kind(obj)
    meta = obj.get("metadata") or {}
    own = "" if (group, kind) in CLUSTER_SCOPED else str(meta.get("namespace") or "")
    return f"{app}:{group}/{kind}:{own or destination_namespace}/{meta.get('name', '')}"


def as_argocd_applies(manifest: str, app: str, destination_namespace: str) -> str:
    """The rendered MANIFEST (multi-document YAML) as APP's sync applies it (controller/state.go
    NormalizeTargetObjects): a namespaced object without a namespace gets the destination's, a cluster-scoped
    one loses its namespace, and each object gets the tracking-id annotation. CRDs are left without one, as the
    repo-server leaves them (reposerver/repository/repository.go skips kube.IsCRD), unless the controller had
    to strip a namespace off one. Everything else is kept as written (round-trip YAML)."""
    yaml = YAML()  # round-trip: quoting and order as kustomize wrote them
    yaml.preserve_quotes = True
    yaml.width = 4096
    docs = [d for d in yaml.load_all(manifest) if isinstance(d, dict)]
    for doc in docs:
        meta = doc.get("metadata")
        if not isinstance(meta, dict):
            meta = doc["metadata"] = {}
        group_kind = _group_kind(doc)
        had_namespace = bool(meta.get("namespace"))
        if group_kind in CLUSTER_SCOPED:
            meta.pop("namespace", None)
        elif not had_namespace:
            meta["namespace"] = destination_namespace
        if group_kind == CRD and not had_namespace:
            continue
        annotations = meta.get("annotations")
        if not isinstance(annotations, dict):
            annotations = meta["annotations"] = {}
        annotations[TRACKING_ANNOTATION] = tracking_id(app, doc, destination_namespace)
    out = io.StringIO()
    yaml.dump_all(docs, out)
    return out.getvalue()

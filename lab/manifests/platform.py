"""The Argo CD project of the lab's platform components (monitoring, sealed-secrets): one AppProject that every
platform component registers whole, so applying it from either component gives the same object (a list such as
`destinations` is replaced, not merged, by a server-side apply of a custom resource without list merge keys).

Argo CD v3.5.1 pkg/apis/application/v1alpha1/types.go (AppProjectSpec): sourceRepos, destinations,
clusterResourceWhitelist (group, kind); namespaced kinds are all allowed when namespaceResourceWhitelist is unset.
"""

from __future__ import annotations

from lab.core import names
from lab.manifests.argocd import APP_FINALIZER, IN_CLUSTER_SERVER, TARGET_REVISION, Doc

PROJECT = "gitops-lab-platform"  # the lab's own project stays limited to the app namespaces
MONITORING_NAMESPACE = "monitoring"
SEALED_SECRETS_NAMESPACE = "kube-system"  # sealed-secrets v0.40.0 controller.jsonnet; kubeseal's default
DESTINATION_NAMESPACES = (MONITORING_NAMESPACE, SEALED_SECRETS_NAMESPACE)
CLUSTER_KINDS = (
    ("", "Namespace"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),  # the SealedSecret CRD
)


def app_project(repo_url: str) -> Doc:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": PROJECT, "namespace": names.ARGOCD_NAMESPACE, "labels": {names.MANAGED_LABEL: "true"}},
        "spec": {
            "description": "GitOps Lab: the lab's platform (monitoring, sealed-secrets), from its GitOps repository",
            "sourceRepos": [repo_url],
            "destinations": [{"server": IN_CLUSTER_SERVER, "namespace": ns} for ns in DESTINATION_NAMESPACES],
            "clusterResourceWhitelist": [{"group": group, "kind": kind} for group, kind in CLUSTER_KINDS],
        },
    }


def application(name: str, path: str, namespace: str, repo_url: str, *, sync_options: tuple[str, ...] = ()) -> Doc:
    """A platform component's Argo CD Application: PATH of the GitOps repository into NAMESPACE, in the platform
    project, auto-synced with prune and self-heal, retried with backoff (argo-cd v3.5.1 types.go: SyncPolicy)."""
    policy: Doc = {"automated": {"prune": True, "selfHeal": True}}
    if sync_options:
        policy["syncOptions"] = list(sync_options)
    policy["retry"] = {"limit": 5, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "1m"}}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": names.ARGOCD_NAMESPACE,
            "labels": {names.MANAGED_LABEL: "true"},
            "finalizers": [APP_FINALIZER],
        },
        "spec": {
            "project": PROJECT,
            "source": {"repoURL": repo_url, "path": path, "targetRevision": TARGET_REVISION},
            "destination": {"server": IN_CLUSTER_SERVER, "namespace": namespace},
            "syncPolicy": policy,
        },
    }

"""The names the lab gives things, in one place: objects, namespaces, labels, containers, volumes, identities.

Every other module imports these instead of repeating the literal, so a rename is one edit here (and a test,
tests/unit/test_names.py, fails when a literal creeps back in). Upstream names (the Argo CD install's Deployments
and Secrets) are here too because the lab reads them by name; they come from the argo-cd v3.5.1
manifests/install.yaml the lab pins (lab/core/versions.py ARGOCD_INSTALL_SHA256).
"""

from __future__ import annotations

from typing import Final

# --- the lab's identity ---------------------------------------------------------------------------------------
LAB: Final = "gitops-lab"  # default cluster name, Argo CD project, git author, kubectl field manager, Argo CD user
LAB_EMAIL: Final = "gitops-lab@localhost"  # the git author's e-mail of the lab's own commits

# --- the workload -------------------------------------------------------------------------------------------
# The Deployment and Service of every overlay, and the image name in base/deployment.yaml that each overlay's
# images[] entry replaces (overlays/base).
APP_NAME: Final = "lab-app"

# --- Argo CD (names from argo-cd v3.5.1 manifests/install.yaml) ---------------------------------------------
ARGOCD_NAMESPACE: Final = "argocd"
ARGOCD_SERVER: Final = "argocd-server"  # Deployment and Service
ARGOCD_ADMIN_SECRET: Final = "argocd-initial-admin-secret"  # noqa: S105 (the Secret's name; key `password`)

# --- labels (Docker objects, Kubernetes objects) and AWS tags -------------------------------------------------
LABEL_PREFIX: Final = "gitops-lab."
MANAGED_LABEL: Final = "gitops-lab.managed"  # "true" on everything the lab created
CLUSTER_LABEL: Final = "gitops-lab.cluster"  # the cluster_name the object belongs to
COMPONENT_LABEL: Final = "gitops-lab.component"  # which part of the lab (registry, git, ecr, node, ...)
CONTEXT_LABEL: Final = "gitops-lab.context"  # on images: digest of the build context, base image and build args
SPEC_LABEL: Final = "gitops-lab.spec"  # on containers: digest of how the lab ran them (image, ports, mounts, env)
ENVIRONMENT_LABEL: Final = "gitops-lab.environment"  # on Argo CD Applications: dev, staging, prod
CONFIG_HASH_ANNOTATION: Final = "gitops-lab.config-hash"  # on the Argo CD workloads: digest of their config

# --- the local services (Docker containers on the kind network) and their volumes -----------------------------
REGISTRY_CONTAINER: Final = "lab-registry"
ECR_CONTAINER: Final = "lab-ecr"
GIT_CONTAINER: Final = "lab-git"
NOTIFY_CONTAINER: Final = "lab-notify"  # the notification receiver (lab/images/notify)
REGISTRY_VOLUME: Final = "lab-registry-data"
ECR_STATE_VOLUME: Final = "lab-ecr-state"

"""Every pinned external version in one place: tools, images (by digest where known), manifests.

Downloads are verified against the sha256 here and cached under .lab/cache for offline reuse.
Sources: kind pkg/apis/config/defaults/image.go at v0.32.0; Argo CD manifests/install.yaml at v3.5.1.
"""

from __future__ import annotations

KUBERNETES_VERSION = "1.36.1"  # the kind node image's Kubernetes; manifests are validated against 1.36

KIND_VERSION = "v0.32.0"
KIND_NODE_IMAGE = "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"

ARGOCD_VERSION = "v3.5.1"
ARGOCD_INSTALL_URL = f"https://raw.githubusercontent.com/argoproj/argo-cd/{ARGOCD_VERSION}/manifests/install.yaml"
ARGOCD_INSTALL_SHA256 = "795a3a972224da6a7f9d32c3e946445f062b60fb46028476715affeb688236e3"
ARGOCD_IMAGE = f"quay.io/argoproj/argocd:{ARGOCD_VERSION}"
DEX_IMAGE = "ghcr.io/dexidp/dex:v2.45.0"  # not used: the lab scales Dex to 0
REDIS_IMAGE = "public.ecr.aws/docker/library/redis:8.2.3-alpine"
ARGOCD_IMAGES = (ARGOCD_IMAGE, REDIS_IMAGE)

MINISTACK_VERSION = "1.5.33"  # PyPI `ministack`, installed into an image built on the base image

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

# Prometheus (optional `monitoring` component): the server's Go module github.com/prometheus/prometheus is
# published as v0.3<minor>.<patch> for Prometheus 3.<minor>.<patch> (its VERSION file at v0.316.0 says 3.16.0).
PROMETHEUS_VERSION = "v3.16.0"
PROMETHEUS_GO_MODULE_VERSION = "v0.316.0"
PROMETHEUS_IMAGE = f"quay.io/prometheus/prometheus:{PROMETHEUS_VERSION}"

# Sealed Secrets (optional `sealed-secrets` component): the controller and kubeseal from the Go module
# github.com/bitnami-labs/sealed-secrets (its go.mod names it github.com/bitnami/sealed-secrets; the proxy and the
# checksum database know it by the bitnami-labs path). The image upstream publishes for a release
# (sealed-secrets v0.40.0 .github/workflows/release.yaml: the tag without its "v").
SEALED_SECRETS_VERSION = "v0.40.0"
SEALED_SECRETS_IMAGE = f"docker.io/bitnami/sealed-secrets-controller:{SEALED_SECRETS_VERSION.removeprefix('v')}"

MINISTACK_VERSION = "1.5.33"  # PyPI `ministack`, installed into an image built on the base image

# kind release binaries (kind site/content/docs/user/quick-start.md, "Installing From Release Binaries"):
# https://kind.sigs.k8s.io/dl/<version>/kind-<os>-<arch>. The sha256 values are those of the release's
# kind-<os>-<arch>.sha256sum assets for v0.32.0 (identical in several independent pinning scripts).
KIND_DOWNLOAD_URL = "https://kind.sigs.k8s.io/dl/{version}/kind-{platform}"
KIND_SHA256: dict[str, str | None] = {
    "linux-amd64": "50030de23cf40a18505f20426f6a8506bedf13c6e509244bd1fa9463721b0f54",
    "linux-arm64": "b92cd615e97585de8ddade28ed5cd7feb4248d717c233eea5b03c37298900f5d",
    "darwin-amd64": "295ac6d0d634c9819c9907df45e3017d1f13166bd13c3404c45e79f7faa47498",
    "darwin-arm64": "dca67911095a110c2b5c36e26df6cac860c602033e456c0db47be498cdef1ebb",
}

# Image scanner (issue 14): Trivy, built from its Go module (`go install github.com/aquasecurity/trivy/cmd/trivy`,
# ldflags as in trivy v0.74.0 goreleaser.yml); .ci/cluster/build-trivy, lab/tools/trivy.py.
TRIVY_VERSION = "v0.74.0"

MINIKUBE_VERSION = "v1.38.1"  # alternative provider, the release the lab targets (it does not download minikube)

# The lab's service images, built locally FROM settings.base_image (lab/images/, localstack/) and tagged
# gitops-lab/<name>:<version>; an image is rebuilt when its build context changes (label gitops-lab.context).
REGISTRY_SERIES = "2.8"  # Debian's docker-registry (CNCF distribution); bookworm ships 2.8.2, the build checks 2.8.x
REGISTRY_IMAGE = f"gitops-lab/registry:{REGISTRY_SERIES}"
MINISTACK_IMAGE = f"gitops-lab/ministack:{MINISTACK_VERSION}"
NOTIFY_IMAGE = "gitops-lab/notify:1"  # revision of lab/images/notify (Python standard library only)
GITSERVER_IMAGE = "gitops-lab/gitserver:1"  # revision of lab/images/gitserver; git/nginx/fcgiwrap from Debian
# LocalStack (alternative ECR emulator; pulled, needs LOCALSTACK_AUTH_TOKEN and a paid plan for ECR). Calendar
# versions since 2026; 2026.09.0 as used in several public compose/test setups at the time of writing.
LOCALSTACK_IMAGE = "localstack/localstack:2026.09.0"

# The node image under its tag alone. `docker load` does not bring back the digest an image was pulled by
# (moby/moby#22011), so `up --offline` checks the loaded image by ID, tags it with this name and gives kind this
# name (kind site/content/docs/user/working-offline.md: load, `docker image tag`, create with the tag).
KIND_NODE_IMAGE_TAG = KIND_NODE_IMAGE.split("@", 1)[0]

"""Settings of the aws target (EKS + ECR) beyond lab.core.config.Settings: defaults < LAB_AWS_* environment < flags.

The shared settings keep their own variables: the region is ``Settings.aws_region`` (LAB_AWS_REGION), the hosted
GitOps repository ``Settings.gitops_remote`` (LAB_GITOPS_REMOTE), the cluster name ``Settings.cluster_name``.
Git credentials are read from LAB_GITOPS_USERNAME / LAB_GITOPS_TOKEN, or from `git credential fill`; they are
never settings (a frozen dataclass is printed in tracebacks and plans).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lab.core.checks import coerce
from lab.core.config import Settings
from lab.core.errors import ConfigError

CREDENTIAL_SOURCES = ("auto", "env", "helper", "none")
# Node volume types eksctl accepts (eksctl pkg/apis/eksctl.io/v1alpha5/assets/schema.json, ManagedNodeGroup.volumeType).
VOLUME_TYPES = ("gp2", "gp3", "io1", "sc1", "st1")

# Environment variables (the names differ from the field names where the issue fixed them).
ENV_VARS: dict[str, str] = {
    "eks_version": "LAB_AWS_EKS_VERSION",
    "node_type": "LAB_AWS_NODE_TYPE",
    "node_count": "LAB_AWS_NODE_COUNT",
    "node_volume_gb": "LAB_AWS_NODE_VOLUME_GB",
    "existing_cluster": "LAB_AWS_EXISTING_CLUSTER",
    "ecr_keep_last": "LAB_AWS_ECR_KEEP_LAST",
    "gitops_credentials": "LAB_AWS_GITOPS_CREDENTIALS",
    "allow_real_aws": "LAB_AWS_ALLOW_REAL",
}
GITOPS_USERNAME_ENV = "LAB_GITOPS_USERNAME"
GITOPS_TOKEN_ENV = "LAB_GITOPS_TOKEN"  # noqa: S105 (the variable's name, not a secret)


@dataclass(frozen=True)
class AwsSettings:
    # AWS region (from Settings.aws_region). Prices in lab/core/cost.py are us-east-1's.
    region: str = "us-east-1"
    # EKS Kubernetes minor version. 1.35: the newest EKS version confirmed available (EKS release 2026-01-28,
    # standard support until 2027-03-27; endoflife.date/amazon-eks). Locally kind runs 1.36; one minor apart.
    eks_version: str = "1.35"
    # Node instance type and count: 2 x t3.medium (2 vCPU, 4 GiB each) hold Argo CD and three small environments.
    node_type: str = "t3.medium"
    node_count: int = 2
    # Root volume per node in GiB. eksctl's default is 80; 20 is EKS's own managed-node-group default and holds
    # the lab's few images, at a quarter of the EBS cost.
    node_volume_gb: int = 20
    node_volume_type: str = "gp3"
    # Use this existing EKS cluster instead of creating one ("" = the lab creates and owns `cluster_name`).
    # An existing cluster is never deleted by `down`.
    existing_cluster: str = ""
    # Images the ECR lifecycle policy keeps (the newest N).
    ecr_keep_last: int = 30
    # Where the GitOps repository's credentials come from: auto (env if LAB_GITOPS_TOKEN is set, else
    # `git credential fill`), env, helper, or none (a public repository).
    gitops_credentials: str = "auto"
    # The explicit opt-in to create billable resources on real AWS (LAB_AWS_ALLOW_REAL=1 or the
    # --i-understand-this-costs-money flag). Loopback endpoints (emulators) never need it.
    allow_real_aws: bool = False

    def __post_init__(self) -> None:
        if not self.region:
            raise ConfigError("aws: no region", hint="set LAB_AWS_REGION (e.g. us-east-1)")
        parts = self.eks_version.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ConfigError(f"aws: eks_version must be MAJOR.MINOR (e.g. 1.35), got {self.eks_version!r}")
        if not 1 <= self.node_count <= 10:
            raise ConfigError(f"aws: node_count must be 1-10, got {self.node_count}")
        if not 8 <= self.node_volume_gb <= 1000:
            raise ConfigError(f"aws: node_volume_gb must be 8-1000, got {self.node_volume_gb}")
        if self.node_volume_type not in VOLUME_TYPES:
            raise ConfigError(f"aws: unknown volume type {self.node_volume_type!r}", hint=", ".join(VOLUME_TYPES))
        if self.ecr_keep_last < 1:
            raise ConfigError(f"aws: ecr_keep_last must be at least 1, got {self.ecr_keep_last}")
        if self.gitops_credentials not in CREDENTIAL_SOURCES:
            raise ConfigError(
                f"aws: unknown gitops_credentials {self.gitops_credentials!r}",
                hint=f"valid values: {', '.join(CREDENTIAL_SOURCES)}",
            )

    @property
    def owns_cluster(self) -> bool:
        """True when the lab creates (and may delete) the cluster, False for an existing one."""
        return not self.existing_cluster


def load_aws_settings(
    settings: Settings,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> AwsSettings:
    """AwsSettings from defaults < LAB_AWS_* environment < overrides (flags; None values are ignored)."""
    fields = {f.name: f for f in dataclasses.fields(AwsSettings)}
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {"region": settings.aws_region}
    for name, key in ENV_VARS.items():
        if key in env:
            values[name] = env[key]
    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in fields:
            raise ConfigError(f"unknown aws setting {name!r}", hint=f"valid: {', '.join(fields)}")
        values[name] = raw
    # Same coercion as lab.core.config (ints, bools written as 1/true/yes/on, ...).
    return AwsSettings(**{name: coerce(name, raw, fields[name].type) for name, raw in values.items()})

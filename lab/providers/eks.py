"""The EKS provider (lab/providers/base.py: ClusterProvider), created with eksctl.

Ownership lives on the cluster itself, not in a marker file: eksctl puts ClusterConfig metadata.tags on the EKS
cluster (lab/manifests/eksctl.py), so a cluster is the lab's when it carries gitops-lab.managed=true and
gitops-lab.cluster=<name>. A same-named cluster without those tags is someone else's and is never deleted.
A cluster whose creation the lab began (tags present) but which is not ACTIVE yet counts as "begun".

What kind needs and EKS does not, so EKS implements none of those protocols (its capabilities say so): images
are not side-loaded (nodes pull from ECR; managed node groups get ECR read permission: eksctl attaches
AmazonEC2ContainerRegistryReadOnly to their node role, AWS EKS User Guide, "Amazon EKS node IAM role"), there is
no registry wiring and no Docker network to attach containers to, and no marker to adopt or config to compare
(an EKS cluster's settings are eksctl's to change).
"""

from __future__ import annotations

from pathlib import Path

from lab.core.aws_config import AwsSettings, load_aws_settings
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.runner import Runner
from lab.manifests import argocd as argocd_manifests
from lab.manifests import eksctl as eksctl_manifests
from lab.providers.base import Capabilities, NodeIdentity, write_cluster_config
from lab.tools import aws as aws_tool
from lab.tools import eksctl as eksctl_tool
from lab.tools import kubectl


def config_path(settings: Settings) -> Path:
    return settings.state_dir / "aws" / f"eksctl-{settings.cluster_name}.yaml"


class EksProvider:
    name = "eks"
    capabilities = Capabilities(
        ownership="tags",
        side_loads_images=False,
        reaches_host_registry="none",
        ui_port_forward=False,
        docker_nodes=False,
        installs_pinned_cli=False,
    )

    def __init__(
        self,
        settings: Settings,
        aws: AwsSettings | None = None,
        *,
        clients: aws_tool.ClientFactory | None = None,
    ) -> None:
        self.settings = settings
        self.aws = aws or load_aws_settings(settings)
        self.clients = clients or aws_tool.client_factory(settings)
        self._eks: object | None = None

    @property
    def cluster_name(self) -> str:
        return self.aws.existing_cluster or self.settings.cluster_name

    @property
    def config_path(self) -> Path:
        return config_path(self.settings)

    def eks(self) -> object:
        if self._eks is None:
            self._eks = self.clients("eks")
        return self._eks

    def describe(self, ctx: Context) -> aws_tool.EksCluster | None:
        # Also in a dry run: the plan (lab/steps/aws.py) gives this provider AWS clients that record the call.
        return aws_tool.describe_cluster(self.eks(), self.cluster_name)

    def render_config(self) -> str:
        return eksctl_manifests.render_cluster_config(self.settings, self.aws)

    # ClusterProvider -------------------------------------------------------------------------------
    def exists(self, ctx: Context) -> bool:
        return self.describe(ctx) is not None

    def identity(self, ctx: Context) -> NodeIdentity | None:
        cluster = self.describe(ctx)
        return NodeIdentity(cluster.arn, cluster.created_at) if cluster else None

    def _lab_tagged_cluster(self, ctx: Context) -> aws_tool.EksCluster | None:
        """The cluster, when the lab may own it (not an existing one it was pointed at) and it has the lab's tags."""
        cluster = self.describe(ctx)
        if cluster is None or not self.aws.owns_cluster:
            return None
        return cluster if eksctl_manifests.is_lab_tagged(cluster.tags, self.settings.cluster_name) else None

    def created_by_lab(self, ctx: Context) -> bool:
        cluster = self._lab_tagged_cluster(ctx)
        return cluster is not None and cluster.active

    def begun_by_lab(self, ctx: Context) -> bool:
        cluster = self._lab_tagged_cluster(ctx)
        return cluster is not None and not cluster.active

    def ready(self, ctx: Context) -> bool:
        return kubectl.api_ready(ctx.runner, self.kubeconfig_context(ctx))

    def write_config(self, ctx: Context) -> Path:
        return write_cluster_config(ctx, self.config_path, self.render_config())

    def create(self, ctx: Context) -> None:
        eksctl_tool.create_cluster(ctx.runner, self.write_config(ctx))

    def ensure_nodegroup(self, ctx: Context) -> bool:
        """Create the lab's node group if a half-finished `eksctl create cluster` left the cluster without it."""
        if eksctl_manifests.NODEGROUP in aws_tool.list_nodegroups(self.eks(), self.cluster_name):
            return False
        eksctl_tool.create_nodegroup(ctx.runner, self.write_config(ctx))
        return True

    def delete(self, ctx: Context) -> None:
        eksctl_tool.delete_cluster(ctx.runner, self.cluster_name, self.aws.region)

    def kubeconfig_context(self, ctx: Context) -> str:
        return self.settings.kube_context

    def update_kubeconfig(self, ctx: Context) -> None:
        aws_tool.update_kubeconfig(ctx.runner, self.aws.region, self.cluster_name, alias=self.kubeconfig_context(ctx))


def delete_lab_applications(runner: Runner, context: str, *, timeout: float = 600) -> bool:
    """Delete the lab's Argo CD Applications and wait: their finalizer deletes what they deployed, the
    LoadBalancer Services included, so AWS removes those load balancers before the cluster goes (EKS API
    reference, DeleteCluster). False when the cluster does not answer."""
    argv = [
        *kubectl.base(context),
        "delete",
        "applications.argoproj.io",
        "-n",
        argocd_manifests.NAMESPACE,
        "-l",
        f"{eksctl_manifests.MANAGED_TAG}=true",
        "--ignore-not-found",
        "--wait=true",
        f"--timeout={int(timeout)}s",
    ]
    return runner.run(argv, check=False, timeout=timeout + 60).returncode == 0

"""The aws target's cluster: the lab's EKS cluster (created with eksctl, tagged), or an existing one it is told
to use. See lab/steps/aws.py for the whole table of what `up --target aws` observes and does."""

from __future__ import annotations

from lab.components.base import AWS, Component, Row, StatusView, Up
from lab.components.cluster import cluster_row
from lab.core.context import Context
from lab.core.errors import ConfigError, Conflict
from lab.manifests import eksctl as eksctl_manifests
from lab.providers.eks import EksProvider


def ensure_eks_cluster(ctx: Context, provider: EksProvider, *, force: bool = False) -> str:
    """Create the lab's cluster, reuse it, or use the existing one named in the settings. Returns the action."""
    aws = provider.aws
    name = provider.cluster_name
    cluster = provider.describe(ctx)
    if not aws.owns_cluster:
        if cluster is None:
            raise ConfigError(
                f"EKS cluster {name!r} (LAB_AWS_EXISTING_CLUSTER) does not exist in {aws.region}",
                hint="check the name and LAB_AWS_REGION, or unset LAB_AWS_EXISTING_CLUSTER to let the lab create one",
            )
        if not cluster.active:
            raise Conflict(f"EKS cluster {name} is {cluster.status}, not ACTIVE", hint="wait until it is ACTIVE")
        ctx.ui.info(f"  using the existing cluster {name} ({cluster.version}); `down` will not delete it")
        return "existing"
    if cluster is None:
        provider.create(ctx)
        return "created"
    if eksctl_manifests.is_lab_tagged(cluster.tags, ctx.settings.cluster_name):
        if not cluster.active:
            raise Conflict(
                f"EKS cluster {name} is {cluster.status}, not ACTIVE",
                hint="another `eksctl` may still be creating or deleting it: see the CloudFormation console, "
                "then run `invoke up --target aws` again",
            )
        ctx.ui.info(f'  cluster "{name}" exists and carries the lab\'s tags: reusing it')
        if provider.ensure_nodegroup(ctx):
            return "completed"
        return "reused"
    if force:
        ctx.ui.warn(f'EKS cluster "{name}" has no gitops-lab tags; --force: using it as it is (`down` keeps it)')
        return "forced"
    raise Conflict(
        f'an EKS cluster named "{name}" exists in {aws.region} but was not created by the lab; leaving it untouched',
        hint="use another name (LAB_CLUSTER_NAME=...), name it as existing (LAB_AWS_EXISTING_CLUSTER=...), "
        "or use it anyway with --force",
    )


class EksClusterComponent(Component):
    name = "eks cluster"
    targets = AWS

    def ensure(self, run: Up) -> None:
        assert run.aws is not None  # the aws target's up always gives it
        ctx = run.ctx
        provider = EksProvider(ctx.settings, run.aws.aws, clients=run.aws.clients)
        with ctx.ui.phase(f'Ensuring EKS cluster "{provider.cluster_name}"') as phase:
            action = ensure_eks_cluster(ctx, provider, force=run.force)
            phase.note = action
        with ctx.ui.phase("Updating the kubeconfig"):
            provider.update_kubeconfig(ctx)
        run.made[self.name] = (provider.cluster_name, action)

    def status_rows(self, view: StatusView) -> list[Row]:
        return [cluster_row(view)]

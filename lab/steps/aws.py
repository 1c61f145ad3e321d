"""The aws target: the same flow on EKS + ECR + a hosted GitOps repository. observe -> compare -> act.

    guard (opt-in, region) ─► sts get-caller-identity: say which account ─► confirm
      ─► EKS cluster (eksctl, tagged) or the existing one ─► aws eks update-kubeconfig
      ─► ECR repository (tagged; scan on push, immutable tags, lifecycle policy)
      ─► Argo CD, exactly as locally ─► repository Secret (hosted repo, credentials never printed)
      ─► AppProject + Applications carrying the `aws` kustomize component's patches (Service type LoadBalancer)

| observed                                    | action                                            |
|---------------------------------------------|---------------------------------------------------|
| no cluster of that name                     | write the ClusterConfig, `eksctl create cluster`  |
| cluster tagged as the lab's, ACTIVE         | reuse (create the node group if it is missing)    |
| cluster tagged as the lab's, not ACTIVE     | Conflict: eksctl is still at it, or it failed     |
| cluster without the lab's tags              | Conflict, unless --force: use it, never delete it |
| LAB_AWS_EXISTING_CLUSTER set                | use it (must be ACTIVE); `down` never deletes it  |
| ECR repository absent / the lab's / foreign | create tagged / bring to settings / Conflict      |

`plan_aws` computes all of it without any AWS call or command; `down_aws` deletes only what carries the lab's
tags (gitops-lab.managed=true, gitops-lab.cluster=<name>), after an explicit confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lab.components.argocd import AWS_COMPONENT_DIR, aws_component_patches, aws_gitops_docs, ensure_aws_apps
from lab.components.ecr_repository import ensure_ecr_repository
from lab.components.eks_cluster import ensure_eks_cluster
from lab.components.gitops_remote import GitOpsRemote, gitops_credentials, gitops_remote, redact_url
from lab.core.aws_config import AwsSettings, load_aws_settings
from lab.core.context import Context
from lab.manifests import eksctl as eksctl_manifests
from lab.providers.eks import EksProvider, delete_lab_applications
from lab.steps.aws_plan import Plan, PlanStep, plan_aws
from lab.steps.aws_up import (
    OPT_IN_ENV,
    OPT_IN_FLAG,
    AwsUpResult,
    Confirm,
    FirstDeploy,
    InstallArgoCD,
    ask,
    assume_yes,
    check_opt_in,
    check_region,
    confirmed,
    run_up,
)
from lab.tools import aws as aws_tool


def up_aws(
    ctx: Context,
    *,
    aws: AwsSettings | None = None,
    plan: bool = False,
    confirm: Confirm = ask,
    allow_real_aws: bool = False,
    force: bool = False,
    clients: aws_tool.ClientFactory | None = None,
    install_argocd: InstallArgoCD | None = None,
    environ: Mapping[str, str] | None = None,
    first_deploy: FirstDeploy | None = None,
) -> Plan | AwsUpResult:
    """`invoke up --target aws`. With ``plan`` (and in a dry run) print the plan and return it: no AWS call.
    FIRST_DEPLOY: the pipeline's first ship + promote (lab/steps/up.py gives it; the plan never runs it)."""
    settings = ctx.settings
    aws = aws or load_aws_settings(settings, environ=environ)
    if plan or ctx.dry_run:
        the_plan = plan_aws(ctx, aws, install_argocd=install_argocd, environ=environ)
        ctx.ui.data(the_plan.render())
        return the_plan
    check_region(aws.region)
    check_opt_in(settings, aws, allow_real_aws)
    remote = gitops_remote(settings)
    factory = clients or aws_tool.client_factory(settings)
    return run_up(
        ctx,
        aws,
        remote,
        factory,
        confirm=confirm,
        force=force,
        install_argocd=install_argocd,
        environ=environ,
        first_deploy=first_deploy,
    )


def down_aws(
    ctx: Context,
    *,
    aws: AwsSettings | None = None,
    confirm: Confirm = ask,
    allow_real_aws: bool = False,
    clients: aws_tool.ClientFactory | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """`invoke down --target aws`: delete only what carries the lab's tags, after confirmation. Returns what was
    deleted. In a dry run it prints what it would look for and calls nothing."""
    settings = ctx.settings
    aws = aws or load_aws_settings(settings, environ=environ)
    tags = ", ".join(f"{k}={v}" for k, v in eksctl_manifests.lab_tags(settings.cluster_name).items())
    if ctx.dry_run:
        ctx.ui.data(
            "down --target aws would: call sts.get_caller_identity(); "
            f"eks.describe_cluster(name={aws.existing_cluster or settings.cluster_name!r}); "
            f"ecr.describe_repositories(repositoryNames=[{settings.image_name!r}]) and list their tags; then, after "
            f"you type yes, delete the lab's Applications and `eksctl delete cluster` / "
            f"ecr.delete_repository(force=True) only for what is tagged {tags}.\n"
        )
        return []
    check_region(aws.region)
    check_opt_in(settings, aws, allow_real_aws)
    factory = clients or aws_tool.client_factory(settings)
    provider = EksProvider(settings, aws, clients=factory)

    with ctx.ui.phase("Checking AWS credentials and region") as phase:
        identity = aws_tool.caller_identity(factory("sts"))
        phase.note = f"{identity.account} ({aws.region})"
    ecr_client = factory("ecr")
    found = _find(ctx, aws, provider, ecr_client)
    targets = found.targets
    if not targets:
        ctx.ui.info(f"  nothing tagged {tags} in account {identity.account} ({aws.region}): nothing to delete")
        return []
    ctx.ui.info(f"  in AWS account {identity.account} ({identity.arn}), {aws.region}, `down` deletes:")
    for target in targets:
        ctx.ui.info(f"    - {target}")
    confirmed(
        confirm,
        f"Delete these from AWS account {identity.account}? Type 'yes' to continue: ",
        "down --target aws",
    )

    return _delete(ctx, aws, provider, ecr_client, found)


@dataclass(frozen=True)
class _Found:
    """What `down --target aws` found of the lab's in the account, and what of it it will delete."""

    cluster: aws_tool.EksCluster | None
    cluster_is_labs: bool
    repo_is_labs: bool
    targets: list[str]


def _find(ctx: Context, aws: AwsSettings, provider: EksProvider, ecr_client: Any) -> _Found:
    settings = ctx.settings
    with ctx.ui.phase("Finding what the lab created") as phase:
        cluster = provider.describe(ctx)
        cluster_is_labs = (
            cluster is not None
            and aws.owns_cluster
            and eksctl_manifests.is_lab_tagged(cluster.tags, settings.cluster_name)
        )
        repo = aws_tool.describe_repository(ecr_client, settings.image_name)
        repo_tags = aws_tool.repository_tags(ecr_client, str(repo["repositoryArn"])) if repo else {}
        repo_is_labs = repo is not None and eksctl_manifests.is_lab_tagged(repo_tags, settings.cluster_name)
        targets: list[str] = []
        if cluster_is_labs and cluster is not None:
            targets.append(f"EKS cluster {cluster.name} ({cluster.arn}) with its nodes, VPC and load balancers")
        elif cluster is not None and aws.existing_cluster:
            targets.append(f"the lab's Argo CD Applications on the existing cluster {cluster.name} (the cluster stays)")
        elif cluster is not None:
            ctx.ui.warn(f"EKS cluster {cluster.name} does not carry the lab's tags: leaving it")
        if repo_is_labs:
            targets.append(f"ECR repository {settings.image_name} and every image in it")
        elif repo is not None:
            ctx.ui.warn(f"ECR repository {settings.image_name} does not carry the lab's tags: leaving it")
        phase.note = f"{len(targets)} to delete"
    return _Found(cluster, cluster_is_labs, repo_is_labs, targets)


def _delete(ctx: Context, aws: AwsSettings, provider: EksProvider, ecr_client: Any, found: _Found) -> list[str]:
    """Delete what _find found to be the lab's: the Applications first (their load balancers), then the cluster."""
    settings = ctx.settings
    cluster, cluster_is_labs, repo_is_labs = found.cluster, found.cluster_is_labs, found.repo_is_labs
    removed: list[str] = []
    if cluster is not None and (cluster_is_labs or aws.existing_cluster):
        with ctx.ui.phase("Deleting the lab's Applications (and the load balancers of their Services)") as phase:
            if delete_lab_applications(ctx.runner, settings.kube_context):
                phase.note = "deleted"
            else:
                phase.note = "cluster did not answer; eksctl cleans up load balancers itself"
                ctx.ui.warn("could not delete the Applications first; eksctl deletes Service load balancers itself")
        if cluster_is_labs:
            with ctx.ui.phase(f'Deleting EKS cluster "{cluster.name}" (eksctl, 10-15 minutes)'):
                provider.delete(ctx)
            removed.append(f"eks cluster {cluster.name}")
        else:
            removed.append(f"applications on {cluster.name}")
    if repo_is_labs:
        with ctx.ui.phase(f"Deleting ECR repository {settings.image_name}"):
            aws_tool.delete_repository(ecr_client, settings.image_name)
        removed.append(f"ecr repository {settings.image_name}")
    return removed


__all__ = [
    "AWS_COMPONENT_DIR",
    "OPT_IN_ENV",
    "OPT_IN_FLAG",
    "AwsUpResult",
    "GitOpsRemote",
    "InstallArgoCD",
    "Plan",
    "PlanStep",
    "ask",
    "assume_yes",
    "aws_component_patches",
    "aws_gitops_docs",
    "check_opt_in",
    "check_region",
    "confirmed",
    "down_aws",
    "ensure_aws_apps",
    "ensure_ecr_repository",
    "ensure_eks_cluster",
    "gitops_credentials",
    "gitops_remote",
    "plan_aws",
    "redact_url",
    "up_aws",
]

"""`up --target aws` after its guard: say which account, confirm, then the lab's components for the aws target
(lab/components: the EKS cluster, the ECR repository, the first deploy, Argo CD), exactly as `up` runs them for
the local target. The plan (aws_plan.py) runs this same code against recording AWS clients."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lab import components
from lab.components.base import AwsUp, Up
from lab.components.gitops_remote import GitOpsRemote
from lab.core.aws_config import AwsSettings
from lab.core.config import ENVIRONMENTS, Settings
from lab.core.context import Context
from lab.core.cost import estimate
from lab.core.errors import ConfigError, Refused
from lab.registries.ecr import EcrRegistry
from lab.tools import aws as aws_tool

OPT_IN_FLAG = "--i-understand-this-costs-money"
OPT_IN_ENV = "LAB_AWS_ALLOW_REAL=1"
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")

Confirm = Callable[[str], bool]
InstallArgoCD = Callable[[Context], None]
FirstDeploy = Callable[[Up], str | None]


def ask(prompt: str) -> bool:
    """Interactive confirmation: only a typed "yes" on a terminal counts."""
    if not sys.stdin.isatty():
        return False
    return input(prompt).strip().lower() == "yes"


def assume_yes(prompt: str) -> bool:
    return True


# Guard rails -------------------------------------------------------------------------------------------
def check_region(region: str) -> None:
    if not REGION_RE.match(region):
        raise ConfigError(f"aws: {region!r} is not an AWS region name", hint="e.g. LAB_AWS_REGION=us-east-1")


def check_opt_in(settings: Settings, aws: AwsSettings, allow_real_aws: bool) -> None:
    """Refuse real AWS without the explicit opt-in; emulator endpoints on the loopback need none."""
    if not aws_tool.is_real_aws(settings) or allow_real_aws or aws.allow_real_aws:
        return
    raise Refused(
        "target aws creates billable resources on real AWS (EKS, EC2, load balancers, ECR): "
        "not without an explicit opt-in",
        hint=f"read the plan and its cost estimate first (`invoke up --target aws --plan`), then pass {OPT_IN_FLAG} "
        f"or set {OPT_IN_ENV}",
    )


def confirmed(confirm: Confirm, prompt: str, what: str) -> None:
    if not confirm(prompt):
        raise Refused(f"{what}: not confirmed, nothing was changed", hint="run it in a terminal and answer yes")


@dataclass(frozen=True)
class AwsUpResult:
    account: str
    region: str
    cluster: str
    cluster_action: str  # created | reused | completed | existing | forced
    kube_context: str
    registry: str  # <account>.dkr.ecr.<region>.amazonaws.com: what ship pushes to (LAB_REGISTRY)
    repository_uri: str
    repository_action: str
    gitops_url: str
    push_to: EcrRegistry | None = None  # the registry `up`'s first deploy ships to (the repository provisioned)


def run_up(
    ctx: Context,
    aws: AwsSettings,
    remote: GitOpsRemote,
    factory: aws_tool.ClientFactory,
    *,
    confirm: Confirm,
    force: bool,
    install_argocd: InstallArgoCD | None,
    environ: Mapping[str, str] | None,
    first_deploy: FirstDeploy | None = None,
) -> AwsUpResult:
    """`up --target aws` after its guard: the real run, and (against aws_plan's recorders) the plan."""
    settings = ctx.settings
    with ctx.ui.phase("Checking AWS credentials and region") as phase:
        identity = aws_tool.caller_identity(factory("sts"))
        phase.note = f"{identity.account} ({aws.region})"
    est = estimate(aws, load_balancers=len(ENVIRONMENTS))
    ctx.ui.info(f"  about to change AWS account {identity.account} ({identity.arn}) in {aws.region}")
    ctx.ui.info(f"  estimated cost while it runs: ${est.total:.2f}/month (≈ ${est.per_hour:.2f}/hour); details: --plan")
    confirmed(
        confirm,
        f"Create the lab in AWS account {identity.account} ({aws.region})? Type 'yes' to continue: ",
        "up --target aws",
    )
    ctx.checks_passed()  # opted in and confirmed: from here on the account changes

    run = Up(
        ctx,
        force=force,
        first_deploy=first_deploy,
        aws=AwsUp(aws, remote.url, remote.embedded, factory, identity.account, install_argocd, environ),
    )
    for component in components.enabled(settings):
        component.ensure(run)

    cluster, cluster_action = run.made["eks cluster"]
    repo_action, repo_uri = run.made["ecr repository"]
    result = AwsUpResult(
        account=identity.account,
        region=aws.region,
        cluster=cluster,
        cluster_action=cluster_action,
        kube_context=settings.kube_context,
        registry=aws_tool.registry_host(identity.account, aws.region),
        repository_uri=repo_uri,
        repository_action=repo_action,
        gitops_url=remote.url,
        push_to=run.made["push_to"],
    )
    _report(ctx, result)
    return result


def _report(ctx: Context, result: AwsUpResult) -> None:
    ctx.ui.table(
        "AWS",
        ("", ""),
        [
            ("account", f"{result.account} ({result.region})"),
            ("cluster", f"{result.cluster} ({result.cluster_action})"),
            ("kube context", result.kube_context),
            ("ECR repository", f"{result.repository_uri} ({result.repository_action})"),
            ("GitOps repository", result.gitops_url),
        ],
    )

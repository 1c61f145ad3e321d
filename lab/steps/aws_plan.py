"""The aws target's plan: `up --target aws`'s own code (aws_up.run_up) run against recording AWS clients that
answer as a fresh account would and a runner that runs nothing; what they recorded, rendered with the cost."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.components.gitops_remote import GitOpsRemote, gitops_remote, redact_url
from lab.core import versions
from lab.core.aws_config import GITOPS_TOKEN_ENV, GITOPS_USERNAME_ENV, AwsSettings, load_aws_settings
from lab.core.config import ENVIRONMENTS, Settings
from lab.core.context import Context
from lab.core.cost import Estimate, estimate, render
from lab.core.errors import ConfigError, LabError
from lab.manifests import argocd as argocd_manifests
from lab.manifests import eksctl as eksctl_manifests
from lab.steps.aws_recorder import Recorded, Recorder
from lab.steps.aws_up import OPT_IN_ENV, OPT_IN_FLAG, InstallArgoCD, check_region, run_up
from lab.tools.argocd_install import PIN, cache_path


@dataclass(frozen=True)
class PlanStep:
    kind: str  # guard | AWS API | file | command | cluster
    text: str
    why: str = ""


@dataclass(frozen=True)
class Plan:
    settings: Settings
    aws: AwsSettings
    facts: tuple[tuple[str, str], ...]
    steps: tuple[PlanStep, ...]
    resources: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (path, text)
    problems: tuple[str, ...]
    estimate: Estimate
    calls: tuple[tuple[str, str, dict[str, Any]], ...] = ()  # (service, method, parameters), in order
    commands: tuple[tuple[str, ...], ...] = ()  # argv, in order

    def render(self) -> str:
        out = [
            "GitOps Lab: plan for target aws. Nothing below has run; making this plan called no AWS API and ran "
            "no command: the steps are `up`'s own code, run against AWS clients that answer as a fresh account "
            "would (nothing of the lab's exists yet) and a runner that runs nothing.",
            "",
            "Where",
        ]
        width = max(len(k) for k, _ in self.facts)
        out += [f"  {k:<{width}}  {v}" for k, v in self.facts]
        if self.problems:
            out += ["", "To fix before `up`"]
            out += [f"  ! {p}" for p in self.problems]
        out += ["", "Steps of `invoke up --target aws`, in order"]
        kwidth = max(len(s.kind) for s in self.steps) + 2
        for i, step in enumerate(self.steps, 1):
            out.append(f"  {i:2d}. {'[' + step.kind + ']':<{kwidth}} {step.text}")
            if step.why:
                out.append(f"      {'':<{kwidth}} -> {step.why}")
        out += [
            "",
            "Resources it creates (tagged gitops-lab.managed=true, gitops-lab.cluster="
            + self.settings.cluster_name
            + ")",
        ]
        out += [f"  - {r}" for r in self.resources]
        for path, text in self.files:
            out += ["", f"# --- {path} ---", text.rstrip()]
        out += ["", render(self.estimate).rstrip()]
        next_cmd = f"invoke up --target aws {OPT_IN_FLAG}"
        out += ["", f"Next: {next_cmd}   (or {OPT_IN_ENV}); `invoke down --target aws` removes it all again."]
        return "\n".join(out) + "\n"


def _call(service: str, method: str, **kwargs: Any) -> str:
    return f"{service}.{method}({', '.join(f'{k}={_param(v)}' for k, v in kwargs.items())})"


def _param(value: Any) -> str:
    """A parameter as JSON; a string that holds a JSON document (a policy) in single quotes, unescaped."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return f"'{json.dumps(json.loads(value))}'"
        except ValueError:
            pass
    return json.dumps(value, sort_keys=False)


def _plan_steps(events: Sequence[Recorded], aws: AwsSettings) -> list[PlanStep]:
    """One step per event; files written one after the other into one directory tree are one step."""
    steps: list[PlanStep] = []
    group: list[str] = []
    for i, event in enumerate(events):
        if event.kind == "file":
            group.append(event.path)
            following = events[i + 1] if i + 1 < len(events) else None
            if following is not None and following.kind == "file":
                continue
            more = f" and {len(group) - 1} more in {Path(group[0]).parent}" if len(group) > 1 else ""
            steps.append(PlanStep("file", f"write {group[0]}{more} (below)"))
            group = []
        else:
            steps.append(_plan_step(event, aws))
    return steps


def _plan_step(event: Recorded, aws: AwsSettings) -> PlanStep:
    if event.kind == "AWS API":
        why = {
            "sts.get_caller_identity": "say which account it is about to change",
            "eks.describe_cluster": _describe_why(aws),
            "eks.list_nodegroups": "add the node group if it is missing",
            "ecr.describe_repositories": "exists: ecr.list_tags_for_resource(...) tells whose it is; not the lab's: "
            "refuse (--force: use as is); the lab's: brought to these settings",
            "ecr.create_repository": "absent: create it, tagged as the lab's",
            "ecr.put_lifecycle_policy": f"expire all but the newest {aws.ecr_keep_last} images",
        }.get(f"{event.service}.{event.method}", "")
        return PlanStep("AWS API", _call(event.service, event.method, **event.params), why)
    if event.kind == "command":
        argv = (Path(event.argv[0]).name, *event.argv[1:])
        return PlanStep("command", shlex.join(argv), _command_why(argv, event.input))
    return PlanStep("confirm", event.text, "nothing changes unless you type yes")


def _command_why(argv: Sequence[str], stdin: str | None) -> str:
    if tuple(argv[:3]) == ("eksctl", "create", "cluster"):
        return "15-25 minutes: VPC, control plane, nodes"
    if tuple(argv[:3]) == ("git", "credential", "fill"):
        return (
            f"{GITOPS_TOKEN_ENV} is not set: ask git's credential helpers (stdin: protocol/host/path of the "
            "repository); the answer is never printed"
        )
    if stdin is None:
        return ""
    try:
        docs = [d for d in yaml.safe_load_all(stdin) if isinstance(d, dict) and "kind" in d]
    except yaml.YAMLError:
        docs = []
    if not docs:
        return "manifests on stdin"
    names = ", ".join(f"{d['kind']} {(d.get('metadata') or {}).get('name', '?')}" for d in docs)
    return f"on stdin: {names}" + (f" (credentials {argocd_manifests.REDACTED})" if "Secret" in names else "")


def plan_aws(
    ctx: Context,
    aws: AwsSettings | None = None,
    *,
    install_argocd: InstallArgoCD | None = None,
    environ: Mapping[str, str] | None = None,
) -> Plan:
    """What `up --target aws` would do, create and cost: `up`'s own code run against recording AWS clients that
    answer as a fresh account would, and a runner that runs nothing. Makes no AWS call and runs no command."""
    settings = ctx.settings
    aws = aws or load_aws_settings(settings, environ=environ)
    name = aws.existing_cluster or settings.cluster_name
    problems: list[str] = []
    try:
        check_region(aws.region)
    except ConfigError as exc:
        problems.append(exc.message)
    try:
        remote: GitOpsRemote | None = gitops_remote(settings)
    except ConfigError as exc:
        remote = None
        problems.append(f"{exc.message} ({exc.hint})" if exc.hint else exc.message)
    facts = _plan_facts(settings, aws, name)

    # The steps are `up`'s own code, run against recorders (see aws_recorder.py): the plan cannot drift from it.
    recorder = Recorder(aws)
    plan_ctx = Context(settings, recorder.runner, recorder.ui)
    try:
        run_up(
            plan_ctx,
            aws,
            remote or GitOpsRemote("<LAB_GITOPS_REMOTE>"),
            recorder.clients,
            confirm=recorder.confirm,
            force=False,
            install_argocd=install_argocd,
            environ=environ,
        )
    except LabError as exc:  # where the real run would stop, with what it would say
        problems.append(f"{exc.message} ({exc.hint})" if exc.hint else exc.message)
    guard = PlanStep("guard", f"refuse unless {OPT_IN_FLAG} or {OPT_IN_ENV}; check the region name")
    steps = [guard, *_plan_steps(recorder.events, aws)]
    files = [(event.path, event.text) for event in recorder.events if event.kind == "file"]
    resources = _plan_resources(settings, aws, name)
    return Plan(
        settings=settings,
        aws=aws,
        facts=tuple(facts),
        steps=tuple(steps),
        resources=tuple(resources),
        files=tuple(files),
        problems=tuple(problems),
        estimate=estimate(aws, load_balancers=len(ENVIRONMENTS)),
        calls=tuple((e.service, e.method, dict(e.params)) for e in recorder.events if e.kind == "AWS API"),
        commands=tuple(e.argv for e in recorder.events if e.kind == "command"),
    )


def _plan_facts(settings: Settings, aws: AwsSettings, name: str) -> list[tuple[str, str]]:
    """The plan's "Where" section: what `up` would act on, from the settings alone."""
    context = settings.kube_context
    envs = [e.name for e in ENVIRONMENTS]
    if aws.existing_cluster:
        cluster_fact = f"{name} (existing; used as it is, never deleted by the lab)"
    else:
        cluster_fact = f"{name}, Kubernetes {aws.eks_version}, created by the lab with eksctl"
    facts = [
        ("region", aws.region),
        ("AWS account", "read at `up` from sts get-caller-identity and shown before anything changes"),
        ("opt-in", "given" if aws.allow_real_aws else f"required: {OPT_IN_FLAG} or {OPT_IN_ENV}"),
        ("EKS cluster", cluster_fact),
    ]
    if aws.owns_cluster:
        facts.append(
            (
                "nodes",
                f"{aws.node_count} x {aws.node_type}, {aws.node_volume_gb} GiB {aws.node_volume_type} each, "
                "public subnets, no NAT gateway",
            )
        )
    facts += [
        (
            "ECR repository",
            f"{settings.image_name}: scan on push, immutable tags, keeps the newest {aws.ecr_keep_last}",
        ),
        ("GitOps repository", redact_url(settings.gitops_remote) if settings.gitops_remote else "(not set)"),
        ("git credentials", _credential_source_text(aws)),
        (
            "Argo CD",
            f"{versions.ARGOCD_VERSION}: install.yaml from {PIN.url} (sha256-verified, cached in "
            f"{cache_path(settings, PIN)}) and the lab's kustomization (below), as on target local",
        ),
        ("kube context", context),
        ("environments", ", ".join(envs) + " (Service type LoadBalancer via the aws kustomize component)"),
    ]

    return facts


def _plan_resources(settings: Settings, aws: AwsSettings, name: str) -> list[str]:
    """What `up` creates (and, being tagged, what `down --target aws` deletes again)."""
    tags = eksctl_manifests.lab_tags(settings.cluster_name)
    tag_text = ", ".join(f"{k}={v}" for k, v in tags.items())
    apps = [argocd_manifests.app_name(e) for e in ENVIRONMENTS]
    resources: list[str] = []
    if aws.owns_cluster:
        resources += [
            f"EKS cluster {name} (Kubernetes {aws.eks_version}) and managed node group {eksctl_manifests.NODEGROUP}, "
            "through eksctl's CloudFormation stacks: VPC, public + private subnets, security groups, IAM roles",
            f"{aws.node_count} EC2 instances {aws.node_type} with {aws.node_volume_gb} GiB {aws.node_volume_type} "
            "volumes and public IPv4 addresses",
        ]
    resources += [
        f"ECR repository {settings.image_name} (tags: {tag_text}, gitops-lab.component=ecr)",
        f"{len(ENVIRONMENTS)} load balancers, one per Service lab-app in "
        + ", ".join(e.namespace for e in ENVIRONMENTS)
        + " (created by Kubernetes once Argo CD syncs; removed with the cluster)",
        f"in the cluster: namespace {argocd_manifests.NAMESPACE} (Argo CD), the repository Secret, "
        f"AppProject, {len(apps)} Applications",
    ]
    return resources


def _credential_source_text(aws: AwsSettings) -> str:
    return {
        "auto": f"{GITOPS_USERNAME_ENV}/{GITOPS_TOKEN_ENV}, else `git credential fill`; never in git, never printed",
        "env": f"{GITOPS_USERNAME_ENV}/{GITOPS_TOKEN_ENV}; never in git, never printed",
        "helper": "`git credential fill`; never in git, never printed",
        "none": "none (a public repository)",
    }[aws.gitops_credentials]


def _describe_why(aws: AwsSettings) -> str:
    if aws.existing_cluster:
        return "must exist and be ACTIVE"
    return (
        "absent: create it; tagged as the lab's: reuse it (eks.list_nodegroups: add the node group if missing); "
        "anything else: refuse (--force uses it as is)"
    )

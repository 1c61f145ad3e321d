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

import io
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from lab.core import versions
from lab.core.aws_config import GITOPS_TOKEN_ENV, GITOPS_USERNAME_ENV, AwsSettings, load_aws_settings
from lab.core.config import ENVIRONMENTS, ROOT, Settings
from lab.core.context import Context
from lab.core.cost import Estimate, estimate, render
from lab.core.errors import ConfigError, Conflict, LabError, Refused, RegistryError
from lab.core.runner import Result
from lab.core.ui import UI
from lab.manifests import argocd as argocd_manifests
from lab.manifests import eksctl as eksctl_manifests
from lab.manifests.argocd import GitCredentials
from lab.providers_eks import EksProvider, delete_lab_applications
from lab.steps import argocd as argocd_steps
from lab.tools import aws as aws_tool
from lab.tools import ecr, git_credential, kubectl
from lab.tools.argocd_install import PIN, cache_path

OPT_IN_FLAG = "--i-understand-this-costs-money"
OPT_IN_ENV = "LAB_AWS_ALLOW_REAL=1"
AWS_COMPONENT_DIR = ROOT / "overlays" / "components" / "aws"
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
DEFAULT_GIT_USERNAME = "git"  # token-based HTTPS auth (GitHub, GitLab) accepts any non-empty username

Confirm = Callable[[str], bool]
InstallArgoCD = Callable[[Context], None]


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


# The hosted GitOps repository --------------------------------------------------------------------------
@dataclass(frozen=True)
class GitOpsRemote:
    url: str  # without credentials
    embedded: GitCredentials | None = None  # user:token@ found in LAB_GITOPS_REMOTE (moved out of the URL)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, f"{argocd_manifests.REDACTED}@{host}", parts.path, parts.query, parts.fragment))


def gitops_remote(settings: Settings) -> GitOpsRemote:
    """The hosted GitOps repository the cluster's Argo CD reads: an http(s) URL EKS can reach."""
    url = settings.gitops_remote
    if not url:
        raise ConfigError(
            "target aws needs a hosted GitOps repository: EKS cannot reach the lab's git server on this machine",
            hint="create an empty repository (GitHub, GitLab, CodeCommit, ...) and set LAB_GITOPS_REMOTE=https://...",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise ConfigError(
            f"LAB_GITOPS_REMOTE must be an https:// URL on target aws, got {redact_url(url)!r}",
            hint="SSH remotes need a deploy key in Argo CD; the lab registers HTTPS with a token",
        )
    if aws_tool.is_loopback_url(url):
        raise ConfigError(
            f"LAB_GITOPS_REMOTE {redact_url(url)} is on this machine: pods in EKS cannot reach it",
            hint="use a hosted repository (GitHub, GitLab, CodeCommit, ...)",
        )
    embedded = None
    if parts.username or parts.password:
        embedded = GitCredentials(parts.username or DEFAULT_GIT_USERNAME, parts.password or "")
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return GitOpsRemote(url, embedded)


def gitops_credentials(
    ctx: Context, remote: GitOpsRemote, aws: AwsSettings, *, environ: Mapping[str, str] | None = None
) -> GitCredentials | None:
    """Credentials for the GitOps repository: LAB_GITOPS_USERNAME/LAB_GITOPS_TOKEN, else `git credential fill`.

    Never written into git, never printed: GitCredentials hides the password from repr, the Secret goes to
    kubectl on stdin, and dry runs print it redacted."""
    env = os.environ if environ is None else environ
    source = aws.gitops_credentials
    if source == "none":
        return None
    if remote.embedded is not None and remote.embedded.password:
        ctx.ui.warn("LAB_GITOPS_REMOTE carries credentials: prefer LAB_GITOPS_TOKEN (URLs end up in shell history)")
        return remote.embedded
    token = env.get(GITOPS_TOKEN_ENV, "")
    if source in ("auto", "env") and token:
        return GitCredentials(env.get(GITOPS_USERNAME_ENV) or DEFAULT_GIT_USERNAME, token)
    if source == "env":
        raise ConfigError(
            f"LAB_AWS_GITOPS_CREDENTIALS=env but {GITOPS_TOKEN_ENV} is not set",
            hint=f"export {GITOPS_TOKEN_ENV}=<a token with read access> (and {GITOPS_USERNAME_ENV} if needed)",
        )
    found = git_credential.fill(ctx.runner, remote.url)
    if found is not None:
        return GitCredentials(found.username, found.password)
    if source == "helper":
        raise ConfigError(
            f"no git credential helper holds credentials for {remote.url}",
            hint=f"log in once with git (e.g. `gh auth login`), or set {GITOPS_TOKEN_ENV}",
        )
    ctx.ui.warn(
        f"no credentials for {remote.url} ({GITOPS_TOKEN_ENV} unset, no answer from `git credential fill`): "
        "registering it without, which works for a public repository only"
    )
    return None


def aws_component_patches(component_dir: Path = AWS_COMPONENT_DIR) -> list[dict[str, Any]]:
    """The `aws` kustomize component's patches, inline, for Applications' spec.source.kustomize.patches.

    Why not spec.source.kustomize.components: Argo CD adds those with `kustomize edit add component` inside the
    overlay (argo-cd util/kustomize/kustomize.go), and kustomize applies a kustomization's components before its
    own patches, so each overlay's NodePort patch would win over the component's LoadBalancer. Application
    patches are appended to the overlay's own `patches` list (same file), so they come last. The component stays
    the one place that says what EKS needs; the local overlays stay as they are."""
    kustomization = yaml.safe_load((component_dir / "kustomization.yaml").read_text()) or {}
    if kustomization.get("kind") != "Component":
        raise ConfigError(f"{component_dir}/kustomization.yaml is not a kustomize Component")
    extra = sorted(set(kustomization) - {"apiVersion", "kind", "patches"})
    if extra:
        raise ConfigError(
            f"the aws component uses {', '.join(extra)}: an Application can carry only its patches",
            hint="keep overlays/components/aws to patches (or render the aws target from wrapper kustomizations)",
        )
    patches: list[dict[str, Any]] = []
    for entry in kustomization.get("patches") or []:
        text = (component_dir / entry["path"]).read_text() if "path" in entry else str(entry.get("patch", ""))
        item: dict[str, Any] = {"patch": yaml.safe_dump(yaml.safe_load(text), sort_keys=False)}
        for key in ("target", "options"):
            if key in entry:
                item[key] = entry[key]
        patches.append(item)
    return patches


def aws_gitops_docs(
    repo_url: str, credentials: GitCredentials | None, *, component_dir: Path = AWS_COMPONENT_DIR
) -> list[dict[str, Any]]:
    """The same repository Secret, project and Applications as locally; each Application renders its overlay
    with the `aws` component's patches applied last (see aws_component_patches)."""
    patches = aws_component_patches(component_dir)
    docs = argocd_manifests.gitops_docs(repo_url, credentials)
    for doc in docs:
        if doc["kind"] == "Application":
            doc["spec"]["source"]["kustomize"] = {"patches": [dict(p) for p in patches]}
    return docs


def ensure_aws_apps(ctx: Context, repo_url: str, credentials: GitCredentials | None) -> None:
    """Apply the Secret, project and Applications server-side on stdin (redacted in a dry run), as
    lab.steps.argocd.ensure_gitops_apps does for the local target."""
    docs = aws_gitops_docs(repo_url, credentials)
    text = argocd_manifests.dump_all(argocd_manifests.redact(docs) if ctx.dry_run else docs)
    with ctx.ui.phase("Registering the GitOps repository and Applications (with the aws component)") as phase:
        kubectl.apply_server_side(ctx.runner, ctx.settings.kube_context, manifest=text)
        phase.note = ", ".join(d["metadata"]["name"] for d in docs if d["kind"] == "Application")


# ECR ---------------------------------------------------------------------------------------------------
def ecr_create_request(settings: Settings) -> dict[str, Any]:
    return {
        "repositoryName": settings.image_name,
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "tags": [{"Key": k, "Value": v} for k, v in eksctl_manifests.lab_tags(settings.cluster_name, "ecr").items()],
    }


def ensure_ecr_repository(ctx: Context, client: Any, aws: AwsSettings, *, force: bool = False) -> tuple[str, str]:
    """The lab's ECR repository, created with the lab's tags. Returns (action, repositoryUri).

    Each call once: describe; absent: create (with the lab's tags and settings); the lab's: bring it to the
    settings; then the lifecycle policy. An existing repository without the lab's tags is someone else's: Conflict,
    or with --force used as it is (its settings untouched, and `down` leaves it)."""
    settings = ctx.settings
    name = settings.image_name
    repo = aws_tool.describe_repository(client, name)
    action = "exists"
    if repo is None:
        try:
            repo = dict(client.create_repository(**ecr_create_request(settings))["repository"])
            action = "created"
        except Exception as exc:
            if ecr.error_code(exc) != "RepositoryAlreadyExistsException":
                raise ecr.wrap_error(exc, f"create repository {name}") from exc
            # Created by someone else meanwhile: whose it is gets checked below.
            repo = aws_tool.describe_repository(client, name)
            if repo is None:
                raise RegistryError(f"ECR repository {name} exists and does not: run the command again") from exc
    if action == "exists":
        tags = aws_tool.repository_tags(client, str(repo["repositoryArn"]))
        if not eksctl_manifests.is_lab_tagged(tags, settings.cluster_name):
            if not force:
                raise Conflict(
                    f"ECR repository {name} exists but was not created by the lab (no gitops-lab tags); leaving it",
                    hint="use another image name (LAB_IMAGE_NAME=...), or use it anyway with --force",
                )
            ctx.ui.warn(f"ECR repository {name} is not the lab's; --force: pushing to it as it is")
            return "forced", str(repo["repositoryUri"])
    try:
        if action == "exists":
            ecr.match_settings(client, repo)  # scan on push, IMMUTABLE (create_repository set them)
        ecr.put_lifecycle_policy(client, name, aws.ecr_keep_last)
    except Exception as exc:
        raise ecr.wrap_error(exc, f"ensure repository {name}") from exc
    return action, str(repo["repositoryUri"])


# EKS ---------------------------------------------------------------------------------------------------
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


# The plan ----------------------------------------------------------------------------------------------
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


# The plan: `up`'s own code against recorders ----------------------------------------------------------------
PLAN_ACCOUNT = "<account>"


@dataclass(frozen=True)
class Recorded:
    """One thing `up` did against the recorders: an AWS API call, a command, a file it wrote, a confirmation."""

    kind: str  # "AWS API" | "command" | "file" | "confirm"
    service: str = ""
    method: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    argv: tuple[str, ...] = ()
    input: str | None = None
    path: str = ""
    text: str = ""


class _Recorder:
    """What `up --target aws` does, recorded instead of done. Its AWS clients answer as a fresh account would:
    nothing of the lab's exists (the cluster and the ECR repository are not found, so they are created), and a
    cluster named by LAB_AWS_EXISTING_CLUSTER exists, ACTIVE, as it must. Its runner is a dry run that runs
    nothing (files are shown, not written; `git credential fill` answers with a stand-in that is never shown), and
    its UI keeps the files and prints nothing."""

    def __init__(self, aws: AwsSettings) -> None:
        self.aws = aws
        self.events: list[Recorded] = []
        self.runner = _RecordingRunner(self)
        self.ui = _RecordingUI(recorder=self)

    def clients(self, service: str) -> Any:
        return _RecordingClient(self, service)

    def confirm(self, prompt: str) -> bool:
        self.events.append(Recorded("confirm", text=prompt.strip()))
        return True

    def answer(self, service: str, method: str, params: Mapping[str, Any]) -> Any:
        from botocore.exceptions import ClientError

        def not_found(code: str, operation: str) -> ClientError:
            return ClientError({"Error": {"Code": code, "Message": "not found (plan)"}}, operation)

        if (service, method) == ("sts", "get_caller_identity"):
            return {"Account": PLAN_ACCOUNT, "Arn": f"arn:aws:iam::{PLAN_ACCOUNT}:<you>", "UserId": ""}
        if (service, method) == ("eks", "describe_cluster"):
            if not self.aws.existing_cluster:
                raise not_found("ResourceNotFoundException", "DescribeCluster")
            name = str(params.get("name", ""))
            return {"cluster": {"name": name, "status": "ACTIVE", "version": self.aws.eks_version, "tags": {}}}
        if (service, method) == ("ecr", "describe_repositories"):
            raise not_found("RepositoryNotFoundException", "DescribeRepositories")
        if (service, method) == ("ecr", "create_repository"):
            name = str(params["repositoryName"])
            return {
                "repository": {
                    "repositoryName": name,
                    "repositoryArn": f"arn:aws:ecr:{self.aws.region}:{PLAN_ACCOUNT}:repository/{name}",
                    "repositoryUri": f"{aws_tool.registry_host(PLAN_ACCOUNT, self.aws.region)}/{name}",
                }
            }
        return {}


class _RecordingClient:
    def __init__(self, recorder: _Recorder, service: str) -> None:
        self._recorder, self._service = recorder, service

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(**params: Any) -> Any:
            self._recorder.events.append(Recorded("AWS API", self._service, method, params))
            return self._recorder.answer(self._service, method, params)

        return call


@dataclass
class _RecordingRunner:
    """A dry run's runner that records each command (with its stdin) and runs nothing, reads included."""

    recorder: _Recorder
    dry_run: bool = True

    @property
    def reads(self) -> _RecordingRunner:
        return self

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
        cwd: str | Path | None = None,
        timeout: float | None = None,
        hint: str | None = None,
    ) -> Result:
        args = tuple(str(a) for a in argv)
        self.recorder.events.append(Recorded("command", argv=args, input=input))
        stdout = (
            "username=<from git credential fill>\npassword=<never shown>\n"
            if args[1:3] == ("credential", "fill")
            else ""
        )
        return Result(args, 0, stdout, "")


@dataclass
class _RecordingUI(UI):
    """Prints nothing; keeps the files a dry run shows (what the real run writes)."""

    recorder: _Recorder | None = None
    quiet: bool = True

    def __post_init__(self) -> None:
        self.err, self.out = io.StringIO(), io.StringIO()
        super().__post_init__()

    def manifest(self, title: str, text: str) -> None:
        if self.recorder is not None:
            self.recorder.events.append(Recorded("file", path=title, text=text))

    def warn(self, message: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        pass


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
    context = settings.kube_context
    tags = eksctl_manifests.lab_tags(settings.cluster_name)
    tag_text = ", ".join(f"{k}={v}" for k, v in tags.items())
    envs = [e.name for e in ENVIRONMENTS]
    apps = [argocd_manifests.app_name(e) for e in ENVIRONMENTS]

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

    # The steps are `up`'s own code, run against recorders (see _Recorder): the plan cannot drift from it.
    recorder = _Recorder(aws)
    plan_ctx = Context(settings, recorder.runner, recorder.ui)
    try:
        _up(
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


# up / down ---------------------------------------------------------------------------------------------
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
) -> Plan | AwsUpResult:
    """`invoke up --target aws`. With ``plan`` (and in a dry run) print the plan and return it: no AWS call."""
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
    return _up(ctx, aws, remote, factory, confirm=confirm, force=force, install_argocd=install_argocd, environ=environ)


def _up(
    ctx: Context,
    aws: AwsSettings,
    remote: GitOpsRemote,
    factory: aws_tool.ClientFactory,
    *,
    confirm: Confirm,
    force: bool,
    install_argocd: InstallArgoCD | None,
    environ: Mapping[str, str] | None,
) -> AwsUpResult:
    """`up --target aws` after its guard: the real run, and (against _Recorder) the plan."""
    settings = ctx.settings
    provider = EksProvider(settings, aws, clients=factory)

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

    with ctx.ui.phase(f'Ensuring EKS cluster "{provider.cluster_name}"') as phase:
        cluster_action = ensure_eks_cluster(ctx, provider, force=force)
        phase.note = cluster_action
    with ctx.ui.phase("Updating the kubeconfig"):
        provider.update_kubeconfig(ctx)
    with ctx.ui.phase(f"Ensuring ECR repository {settings.image_name}") as phase:
        repo_action, repo_uri = ensure_ecr_repository(ctx, factory("ecr"), aws, force=force)
        phase.note = repo_action
    credentials = gitops_credentials(ctx, remote, aws, environ=environ)
    (install_argocd or argocd_steps.ensure_argocd)(ctx)
    ensure_aws_apps(ctx, remote.url, credentials)

    result = AwsUpResult(
        account=identity.account,
        region=aws.region,
        cluster=provider.cluster_name,
        cluster_action=cluster_action,
        kube_context=settings.kube_context,
        registry=aws_tool.registry_host(identity.account, aws.region),
        repository_uri=repo_uri,
        repository_action=repo_action,
        gitops_url=remote.url,
    )
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
    return result


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
    "OPT_IN_ENV",
    "OPT_IN_FLAG",
    "AwsUpResult",
    "Plan",
    "ask",
    "assume_yes",
    "down_aws",
    "ensure_aws_apps",
    "ensure_ecr_repository",
    "ensure_eks_cluster",
    "gitops_credentials",
    "gitops_remote",
    "plan_aws",
    "up_aws",
]

"""`up` / `down` on target aws against stubbed AWS APIs (botocore Stubber: parameters validated against the service
models) and the FakeRunner; the EKS provider; ECR login; git credentials; settings; the Applications' aws
component; ship's ECR branch."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from argocd_schema import crd_problems
from aws_guard import aws_endpoint_guard  # noqa: F401 (autouse: no real AWS endpoint, ever)
from aws_stubs import (
    ACCOUNT,
    LAB_TAGS,
    REGISTRY,
    Clients,
    auth_token,
    describe_cluster,
    describe_repo,
    identity,
    no_cluster,
    no_repo,
    repo,
    repo_tags,
)
from fakes import FakeRunner

from lab.core.aws_config import AwsSettings, load_aws_settings
from lab.core.config import ENVIRONMENTS, Settings
from lab.core.context import Context
from lab.core.errors import CommandFailed, ConfigError, Conflict, RegistryError
from lab.core.runner import DryRunRunner
from lab.core.ui import UI
from lab.gitops.overlay import ImageSpec
from lab.gitops.repo import Committed
from lab.manifests.argocd import GitCredentials
from lab.providers import provider_for
from lab.providers.eks import EksProvider
from lab.registries import ecr as registry_ecr
from lab.steps import aws as aws_steps
from lab.tools import ecr, ecr_login, git, git_credential, kubectl

ROOT = Path(__file__).resolve().parents[2]
REMOTE = "https://git.example.com/team/gitops.git"
TOKEN = "tok-s3cr3t-123"
ENV = {"LAB_GITOPS_TOKEN": TOKEN, "LAB_GITOPS_USERNAME": "learner"}


def aws_runner() -> FakeRunner:
    """The CLIs of the aws target answering as they do when they succeed (eksctl and the AWS CLI log progress;
    kubectl names what it deleted); a test scripts failures on top."""
    runner = FakeRunner()
    runner.script(
        ["eksctl", "create", "cluster"], stderr='2026-05-01 12:00:00 [✔]  EKS cluster "gitops-lab" is ready\n'
    )
    runner.script(["eksctl", "create", "nodegroup"], stderr="2026-05-01 12:00:00 [✔]  created 1 managed nodegroup(s)\n")
    runner.script(["aws", "eks", "update-kubeconfig"], "Added new context eks-gitops-lab to /root/.kube/config\n")
    runner.script(
        [kubectl.kubectl_binary(), "--context", "eks-gitops-lab", "delete"],
        'application.argoproj.io "lab-dev" deleted\n',
    )
    runner.script(["docker", "login", "--username", "AWS", "--password-stdin"], "Login Succeeded\n")
    runner.script(
        ["eksctl", "delete", "cluster"], stderr="2026-05-01 12:30:00 [✔]  all cluster resources were deleted\n"
    )
    runner.script(
        [kubectl.kubectl_binary(), "--context", "eks-gitops-lab", "apply", "--server-side"],
        "namespace/argocd serverside-applied\n",
    )
    runner.script(
        [kubectl.kubectl_binary(), "--context", "eks-gitops-lab", "rollout", "status"], "successfully rolled out\n"
    )
    return runner


def make_ctx(tmp_path: Path, runner: FakeRunner | DryRunRunner | None = None, **overrides: Any) -> Context:
    values: dict[str, Any] = {"state_dir": tmp_path / "state", "target": "aws", "gitops_remote": REMOTE}
    values.update(overrides)
    return Context(Settings(**values), runner or FakeRunner(), UI(err=io.StringIO(), out=io.StringIO()))


def everything_printed(ctx: Context) -> str:
    return ctx.ui.err.getvalue() + ctx.ui.out.getvalue()  # type: ignore[attr-defined,no-any-return]


def stub_fresh_repository(clients: Clients) -> None:
    """A fresh account, each call once: describe (absent) -> create with tags and settings -> lifecycle policy."""
    no_repo(clients)
    clients["ecr"].add_response(
        "create_repository",
        {"repository": repo()},
        {
            "repositoryName": "lab-app",
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
            "tags": [
                {"Key": "gitops-lab.managed", "Value": "true"},
                {"Key": "gitops-lab.cluster", "Value": "gitops-lab"},
                {"Key": "gitops-lab.component", "Value": "ecr"},
            ],
        },
    )
    stub_lifecycle(clients)


def stub_lifecycle(clients: Clients, keep: int = 30) -> None:
    clients["ecr"].add_response(
        "put_lifecycle_policy",
        {"repositoryName": "lab-app"},
        {"repositoryName": "lab-app", "lifecyclePolicyText": json.dumps(ecr.lifecycle_policy(keep))},
    )


class Installs:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, ctx: Context) -> None:
        self.calls += 1


def run_up(tmp_path: Path, runner: FakeRunner, clients: Clients, **kw: Any) -> tuple[Any, Context, Installs]:
    ctx = make_ctx(tmp_path, runner)
    installs = Installs()
    result = aws_steps.up_aws(
        ctx,
        aws=kw.pop("aws", AwsSettings()),
        allow_real_aws=True,
        confirm=aws_steps.assume_yes,
        clients=clients,
        install_argocd=installs,
        environ=kw.pop("environ", ENV),
        **kw,
    )
    return result, ctx, installs


# up -----------------------------------------------------------------------------------------------------
def test_up_on_a_fresh_account(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    identity(clients)
    no_cluster(clients)
    stub_fresh_repository(clients)
    result, ctx, installs = run_up(tmp_path, runner, clients)

    assert isinstance(result, aws_steps.AwsUpResult)
    assert (result.account, result.cluster_action, result.repository_action) == (ACCOUNT, "created", "created")
    assert result.registry == REGISTRY and result.repository_uri == f"{REGISTRY}/lab-app"
    config = tmp_path / "state" / "aws" / "eksctl-gitops-lab.yaml"
    assert yaml.safe_load(config.read_text())["metadata"]["tags"]["gitops-lab.managed"] == "true"
    assert runner.commands[:2] == [
        f"eksctl create cluster -f {config}",
        "aws eks update-kubeconfig --region us-east-1 --name gitops-lab --alias eks-gitops-lab",
    ], runner.dump()
    assert installs.calls == 1
    apply = runner.assert_called(kubectl.kubectl_binary(), "--context", "eks-gitops-lab", "apply")
    docs = list(yaml.safe_load_all(apply.input or ""))
    secret = docs[0]
    assert secret["stringData"] == {"type": "git", "url": REMOTE, "insecure": "true", "username": "learner",
                                    "password": TOKEN}  # fmt: skip
    assert TOKEN not in " ".join(apply.argv)  # stdin only
    assert TOKEN not in everything_printed(ctx)
    assert clients.asked[0] == "sts"
    clients.assert_done()


def test_the_plan_lists_exactly_the_calls_up_makes_on_a_fresh_account(tmp_path: Path) -> None:
    """The plan is `up`'s own code run against recorders, so it lists every AWS call (each once: one
    create_repository) and every command the real `up` makes against an account where nothing exists yet."""
    installs = Installs()
    plan = aws_steps.plan_aws(make_ctx(tmp_path), AwsSettings(), install_argocd=installs, environ=ENV)
    runner, clients = aws_runner(), Clients()
    identity(clients)
    no_cluster(clients)
    stub_fresh_repository(clients)
    run_up(tmp_path, runner, clients)

    assert [(service, method) for service, method, _ in clients.calls] == [
        ("sts", "get_caller_identity"),
        ("eks", "describe_cluster"),
        ("ecr", "describe_repositories"),
        ("ecr", "create_repository"),
        ("ecr", "put_lifecycle_policy"),
    ]
    assert list(plan.calls) == clients.calls
    assert list(plan.commands) == [c.argv for c in runner.calls], runner.dump()
    assert installs.calls == 1  # in the plan too, with the plan's recorders (the real run's is in run_up)
    clients.assert_done()


def test_up_again_reuses_everything(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    identity(clients)
    describe_cluster(clients)
    clients["eks"].add_response("list_nodegroups", {"nodegroups": ["lab-nodes"]}, {"clusterName": "gitops-lab"})
    describe_repo(clients)
    repo_tags(clients, {**LAB_TAGS, "gitops-lab.component": "ecr"})
    stub_lifecycle(clients)
    result, _, _ = run_up(tmp_path, runner, clients)
    assert isinstance(result, aws_steps.AwsUpResult)
    assert (result.cluster_action, result.repository_action) == ("reused", "exists")
    runner.assert_not_called("eksctl")
    clients.assert_done()


def test_up_finishes_a_cluster_left_without_its_node_group(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    identity(clients)
    describe_cluster(clients)
    clients["eks"].add_response("list_nodegroups", {"nodegroups": []}, {"clusterName": "gitops-lab"})
    describe_repo(clients)
    repo_tags(clients, LAB_TAGS)
    stub_lifecycle(clients)
    result, _, _ = run_up(tmp_path, runner, clients)
    assert isinstance(result, aws_steps.AwsUpResult) and result.cluster_action == "completed"
    runner.assert_called("eksctl", "create", "nodegroup", "--config-file")
    runner.assert_not_called("eksctl", "create", "cluster")


def test_up_refuses_a_cluster_that_is_not_the_labs(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    identity(clients)
    describe_cluster(clients, tags={"team": "payments"})
    with pytest.raises(Conflict, match="was not created by the lab"):
        run_up(tmp_path, runner, clients)
    assert runner.calls == [], runner.dump()


def test_up_waits_for_nobody_on_a_cluster_still_creating(tmp_path: Path) -> None:
    clients = Clients()
    identity(clients)
    describe_cluster(clients, status="CREATING")
    with pytest.raises(Conflict, match="is CREATING, not ACTIVE"):
        run_up(tmp_path, aws_runner(), clients)


def test_up_refuses_a_repository_that_is_not_the_labs(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    identity(clients)
    describe_cluster(clients)
    clients["eks"].add_response("list_nodegroups", {"nodegroups": ["lab-nodes"]}, {"clusterName": "gitops-lab"})
    describe_repo(clients)
    repo_tags(clients, {})
    with pytest.raises(Conflict, match="ECR repository lab-app exists but was not created by the lab"):
        run_up(tmp_path, runner, clients)
    clients.assert_done()  # no put_lifecycle_policy on someone else's repository


def test_up_on_an_existing_cluster(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    identity(clients)
    describe_cluster(clients, "team-eks", tags={})
    stub_fresh_repository(clients)
    result, _, _ = run_up(tmp_path, runner, clients, aws=AwsSettings(existing_cluster="team-eks"))
    assert isinstance(result, aws_steps.AwsUpResult) and result.cluster_action == "existing"
    runner.assert_not_called("eksctl")
    runner.assert_called("aws", "eks", "update-kubeconfig", "--region", "us-east-1", "--name", "team-eks")


def test_up_needs_a_hosted_gitops_repository(tmp_path: Path) -> None:
    for remote, match in (
        ("", "needs a hosted GitOps repository"),
        ("http://127.0.0.1:3000/gitops.git", "pods in EKS cannot reach it"),
        ("/home/me/gitops.git", "must be an https:// URL"),
        ("git@github.com:me/gitops.git", "must be an https:// URL"),
    ):
        with pytest.raises(ConfigError, match=match):
            aws_steps.gitops_remote(make_ctx(tmp_path, gitops_remote=remote).settings)


def test_eksctl_failure_surfaces_as_command_failed(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    runner.script(
        ["eksctl", "create"], returncode=1, stderr="AlreadyExistsException: Stack [eksctl-gitops-lab-cluster]"
    )
    identity(clients)
    no_cluster(clients)
    with pytest.raises(CommandFailed) as info:
        run_up(tmp_path, runner, clients)
    assert "AlreadyExistsException" in info.value.stderr_tail


# down ---------------------------------------------------------------------------------------------------
def test_down_deletes_the_labs_cluster_and_repository(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    identity(clients)
    describe_cluster(clients)
    describe_repo(clients)
    repo_tags(clients, LAB_TAGS)
    clients["ecr"].add_response(
        "delete_repository", {"repository": repo()}, {"repositoryName": "lab-app", "force": True}
    )
    prompts: list[str] = []
    ctx = make_ctx(tmp_path, runner)
    removed = aws_steps.down_aws(
        ctx,
        aws=AwsSettings(),
        allow_real_aws=True,
        confirm=lambda p: prompts.append(p) or True,
        clients=clients,
        environ={},
    )
    assert removed == ["eks cluster gitops-lab", "ecr repository lab-app"]
    assert ACCOUNT in prompts[0]
    # The Applications go first (their LoadBalancer Services with them), then the cluster.
    apps = runner.index(kubectl.kubectl_binary(), "--context", "eks-gitops-lab", "delete", "applications.argoproj.io")
    delete = runner.index("eksctl", "delete", "cluster", "--name", "gitops-lab", "--region", "us-east-1", "--wait")
    assert apps < delete, runner.dump()
    assert "-l" in runner.calls[apps].argv and "gitops-lab.managed=true" in runner.calls[apps].argv
    clients.assert_done()


def test_down_on_an_existing_cluster_keeps_it(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    identity(clients)
    describe_cluster(clients, "team-eks", tags={})
    no_repo(clients)
    removed = aws_steps.down_aws(
        make_ctx(tmp_path, runner),
        aws=AwsSettings(existing_cluster="team-eks"),
        allow_real_aws=True,
        confirm=aws_steps.assume_yes,
        clients=clients,
        environ={},
    )
    assert removed == ["applications on team-eks"]
    runner.assert_not_called("eksctl")


def test_down_twice_is_fine(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    identity(clients)
    clients["eks"].add_client_error("describe_cluster", "ResourceNotFoundException", http_status_code=404)
    no_repo(clients)
    ctx = make_ctx(tmp_path, runner)
    assert aws_steps.down_aws(ctx, aws=AwsSettings(), allow_real_aws=True, clients=clients, environ={}) == []
    assert "nothing to delete" in everything_printed(ctx)
    assert runner.calls == []


def test_down_dry_run_calls_nothing(tmp_path: Path) -> None:
    runner, clients = DryRunRunner(out=io.StringIO()), Clients()
    ctx = make_ctx(tmp_path, runner)
    assert aws_steps.down_aws(ctx, aws=AwsSettings(), clients=clients, environ={}) == []
    assert clients.asked == [] and runner.calls == []
    assert "only for what is tagged gitops-lab.managed=true, gitops-lab.cluster=gitops-lab" in everything_printed(ctx)


# The EKS provider ---------------------------------------------------------------------------------------
def test_provider_for_aws_is_eks(tmp_path: Path) -> None:
    prov = provider_for(make_ctx(tmp_path).settings)
    assert isinstance(prov, EksProvider) and prov.name == "eks"


def test_eks_provider_ownership_comes_from_tags(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    clients = Clients()
    prov = EksProvider(ctx.settings, AwsSettings(), clients=clients)
    describe_cluster(clients)
    assert prov.created_by_lab(ctx)
    describe_cluster(clients, status="CREATING")
    assert prov.begun_by_lab(ctx)
    describe_cluster(clients, tags={"gitops-lab.managed": "true", "gitops-lab.cluster": "other"})
    assert not prov.created_by_lab(ctx)
    describe_cluster(clients)
    ident = prov.identity(ctx)
    assert ident is not None and ident.id.endswith(":cluster/gitops-lab") and ident.created is not None
    clients["eks"].add_client_error("describe_cluster", "ResourceNotFoundException", http_status_code=404)
    assert not prov.exists(ctx)
    clients.assert_done()


def test_eks_provider_in_a_dry_run_writes_no_config_and_runs_nothing(tmp_path: Path) -> None:
    """A dry run asks AWS through the clients it is given: the plan gives it recorders answering as a fresh account
    (tests/unit/test_aws_plan.py proves no real client is ever made); the file and the command are only shown."""
    runner = DryRunRunner(out=io.StringIO())
    ctx = make_ctx(tmp_path, runner)
    clients = Clients()
    no_cluster(clients)
    prov = EksProvider(ctx.settings, AwsSettings(), clients=clients)
    assert not prov.exists(ctx)
    prov.create(ctx)
    assert runner.calls == [("eksctl", "create", "cluster", "-f", str(prov.config_path))]
    assert "kind: ClusterConfig" in ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    assert not prov.config_path.exists()
    clients.assert_done()


# ECR login ----------------------------------------------------------------------------------------------
def test_ecr_login_sends_the_password_on_stdin_only(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    runner.script(["docker", "login", "--username", "AWS", "--password-stdin"], "Login Succeeded\n")
    auth_token(clients, "s3cr3t-ecr-token")
    ctx = make_ctx(tmp_path, runner)
    assert ecr_login.ecr_login(ctx.runner, clients("ecr"), region=ctx.settings.aws_region) == REGISTRY
    (call,) = runner.calls
    assert call.argv == ("docker", "login", "--username", "AWS", "--password-stdin", REGISTRY)
    assert call.input == "s3cr3t-ecr-token"
    assert "s3cr3t" not in everything_printed(ctx)


def test_ecr_login_dry_run_prints_redacted_and_calls_no_aws(tmp_path: Path) -> None:
    out = io.StringIO()
    ctx = make_ctx(tmp_path, DryRunRunner(out=out))
    host = ecr_login.ecr_login(ctx.runner, None, region=ctx.settings.aws_region)
    assert host == "<account>.dkr.ecr.us-east-1.amazonaws.com"
    assert "docker login --username AWS --password-stdin" in out.getvalue()
    assert "<redacted>" in out.getvalue()


def test_ecr_login_failure_does_not_leak_the_password(tmp_path: Path) -> None:
    runner, clients = aws_runner(), Clients()
    runner.script(["docker", "login"], returncode=1, stderr="Error response from daemon: login attempt failed")
    auth_token(clients, "s3cr3t-ecr-token")
    with pytest.raises(RegistryError) as info:
        ecr_login.ecr_login(runner, clients("ecr"), region="us-east-1")
    assert "s3cr3t" not in info.value.render()
    assert "login attempt failed" in info.value.message


# GitOps credentials -------------------------------------------------------------------------------------
def test_credentials_from_env_first(tmp_path: Path) -> None:
    runner = FakeRunner()
    ctx = make_ctx(tmp_path, runner)
    creds = aws_steps.gitops_credentials(ctx, aws_steps.gitops_remote(ctx.settings), AwsSettings(), environ=ENV)
    assert creds == GitCredentials("learner", TOKEN)
    assert TOKEN not in repr(creds)
    assert runner.calls == []


def test_credentials_from_git_credential_fill(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.script(
        ["git", "credential", "fill"],
        stdout="protocol=https\nhost=git.example.com\nusername=helper-user\npassword=helper-pass\n",
    )
    ctx = make_ctx(tmp_path, runner)
    creds = aws_steps.gitops_credentials(ctx, aws_steps.gitops_remote(ctx.settings), AwsSettings(), environ={})
    assert creds == GitCredentials("helper-user", "helper-pass")
    call = runner.assert_called("git", "credential", "fill")
    assert call.input == "protocol=https\nhost=git.example.com\npath=team/gitops.git\n\n"
    assert call.env == {"GIT_TERMINAL_PROMPT": "0"}
    assert "helper-pass" not in everything_printed(ctx)


def test_no_credentials_is_fine_for_a_public_repository_but_said(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.script(["git", "credential", "fill"], returncode=128, stderr="terminal prompts disabled")
    ctx = make_ctx(tmp_path, runner)
    assert aws_steps.gitops_credentials(ctx, aws_steps.gitops_remote(ctx.settings), AwsSettings(), environ={}) is None
    assert "public repository only" in everything_printed(ctx)
    with pytest.raises(ConfigError, match="no git credential helper"):
        aws_steps.gitops_credentials(
            ctx, aws_steps.gitops_remote(ctx.settings), AwsSettings(gitops_credentials="helper"), environ={}
        )
    with pytest.raises(ConfigError, match="LAB_GITOPS_TOKEN is not set"):
        aws_steps.gitops_credentials(
            ctx, aws_steps.gitops_remote(ctx.settings), AwsSettings(gitops_credentials="env"), environ={}
        )


def test_credentials_in_the_url_move_out_of_it(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, gitops_remote="https://bob:s3cr3t@git.example.com/team/gitops.git")
    remote = aws_steps.gitops_remote(ctx.settings)
    assert remote.url == REMOTE  # what Argo CD's Secret and the Applications get
    assert aws_steps.gitops_credentials(ctx, remote, AwsSettings(), environ={}) == GitCredentials("bob", "s3cr3t")
    assert aws_steps.redact_url(ctx.settings.gitops_remote) == "https://<redacted>@git.example.com/team/gitops.git"


def test_git_credential_protocol() -> None:
    assert git_credential.fill_request("https://h.example:8443/a/b.git") == (
        "protocol=https\nhost=h.example:8443\npath=a/b.git\n\n"
    )
    assert git_credential.parse_fill("username=u\n") is None
    assert git_credential.parse_fill("username=u\npassword=p=q\n") == git_credential.Credential("u", "p=q")


# Settings -----------------------------------------------------------------------------------------------
def test_aws_settings_precedence(tmp_path: Path) -> None:
    settings = make_ctx(tmp_path, aws_region="eu-west-1").settings
    env = {"LAB_AWS_NODE_COUNT": "3", "LAB_AWS_NODE_TYPE": "t3.large", "LAB_AWS_ALLOW_REAL": "yes"}
    aws = load_aws_settings(settings, {"node_count": 1, "eks_version": None}, environ=env)
    assert (aws.region, aws.node_type, aws.node_count, aws.allow_real_aws) == ("eu-west-1", "t3.large", 1, True)
    assert aws.eks_version == "1.35"  # None flags are ignored
    assert load_aws_settings(settings, environ={}) == AwsSettings(region="eu-west-1")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"node_count": 0}, "node_count"),
        ({"eks_version": "v1.35"}, "MAJOR.MINOR"),
        ({"gitops_credentials": "vault"}, "gitops_credentials"),
        ({"ecr_keep_last": 0}, "ecr_keep_last"),
        ({"nodes": 2}, "unknown aws setting"),
        ({"node_count": "two"}, "cannot read"),
    ],
)
def test_aws_settings_are_checked(tmp_path: Path, overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_aws_settings(make_ctx(tmp_path).settings, overrides, environ={})


# The Applications with the aws component ----------------------------------------------------------------
def test_applications_carry_the_aws_components_patches_and_match_the_crd() -> None:
    docs = aws_steps.aws_gitops_docs(REMOTE, GitCredentials("u", "p"))
    apps = [d for d in docs if d["kind"] == "Application"]
    assert len(apps) == len(ENVIRONMENTS)
    for app in apps:
        (patch,) = app["spec"]["source"]["kustomize"]["patches"]
        service = yaml.safe_load(patch["patch"])
        assert (service["kind"], service["metadata"]["name"], service["spec"]["type"]) == (
            "Service",
            "lab-app",
            "LoadBalancer",
        )
        assert app["spec"]["source"]["repoURL"] == REMOTE
        assert crd_problems(app) == []


def render_as_argocd(path: Path, kustomize: dict[str, Any]) -> list[dict[str, Any]]:
    """What Argo CD's repo-server does with spec.source.kustomize (argo-cd util/kustomize/kustomize.go): append
    `patches` to the kustomization's own list, add `components` to its list, then `kustomize build`."""
    file = path / "kustomization.yaml"
    kustomization = yaml.safe_load(file.read_text())
    kustomization["patches"] = [*(kustomization.get("patches") or []), *kustomize.get("patches", [])]
    if kustomize.get("components"):
        kustomization["components"] = [*(kustomization.get("components") or []), *kustomize["components"]]
    file.write_text(yaml.safe_dump(kustomization))
    out = subprocess.run(
        [kubectl.kubectl_binary(), "kustomize", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
@pytest.mark.parametrize("env", [e.name for e in ENVIRONMENTS])
def test_every_environment_gets_a_load_balancer_on_eks(tmp_path: Path, env: str) -> None:
    shutil.copytree(ROOT / "overlays", tmp_path / "overlays")
    app = next(d for d in aws_steps.aws_gitops_docs(REMOTE, None) if d["metadata"]["name"] == f"lab-{env}")
    docs = render_as_argocd(tmp_path / app["spec"]["source"]["path"], app["spec"]["source"]["kustomize"])
    (service,) = [d for d in docs if d["kind"] == "Service"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert all("nodePort" not in p for p in service["spec"]["ports"])
    # Nothing but the Service differs from the local rendering.
    local = subprocess.run(
        [kubectl.kubectl_binary(), "kustomize", str(ROOT / "overlays" / env)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [d for d in docs if d["kind"] != "Service"] == [
        d for d in yaml.safe_load_all(local) if d and d["kind"] != "Service"
    ]


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_why_not_application_components(tmp_path: Path) -> None:
    """The reason for patches: a component added to an overlay is applied before the overlay's own NodePort patch."""
    shutil.copytree(ROOT / "overlays", tmp_path / "overlays")
    docs = render_as_argocd(tmp_path / "overlays" / "dev", {"components": ["../components/aws"]})
    (service,) = [d for d in docs if d["kind"] == "Service"]
    assert service["spec"]["type"] == "NodePort"


def test_a_component_with_more_than_patches_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [lb.yaml]\n"
    )
    with pytest.raises(ConfigError, match="can carry only its patches"):
        aws_steps.aws_component_patches(tmp_path)


def test_apps_are_applied_redacted_in_a_dry_run(tmp_path: Path) -> None:
    out = io.StringIO()
    ctx = make_ctx(tmp_path, DryRunRunner(out=out))
    aws_steps.ensure_aws_apps(ctx, REMOTE, GitCredentials("u", TOKEN))
    assert TOKEN not in out.getvalue()
    assert "password: <redacted>" in out.getvalue()
    assert "type: LoadBalancer" in out.getvalue()


# ship on target aws -------------------------------------------------------------------------------------
class RecordingRepo:
    """Records bumps instead of touching git (the GitOps side of ship is tested elsewhere)."""

    author = git.Identity("Dev", "dev@x")

    def __init__(self) -> None:
        self.bumps: list[tuple[str, ImageSpec]] = []

    def open(self, *, seed: bool = True) -> None:
        pass

    def check_bump(self, env: str, spec: ImageSpec) -> None:
        pass

    def bump(
        self, env: str, spec: ImageSpec, *, app_commit: str, digest: str = "", image_name: str = "", extra: Any = ()
    ) -> Committed:
        self.bumps.append((env, spec))
        return Committed("c" * 40, 1)


def test_ship_on_aws_logs_in_to_ecr_first_and_pushes_to_the_account_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lab.steps.ship import ship

    sha, digest = "0123456789abcdef0123456789abcdef01234567", "sha256:" + "ab" * 32
    runner = FakeRunner()
    runner.script(["git", "-C", str(tmp_path), "rev-parse"], stdout=sha + "\n")
    runner.script(["docker", "build"], stdout="sha256:" + "11" * 32 + "\n")
    runner.script(["docker", "push"], stdout=f"x: digest: {digest} size: 1\n")
    runner.script(["trivy", "--version"], stdout="Version: 0.74.0\n")
    runner.script(["trivy", "image"], stdout=(ROOT / "tests/data/trivy/clean.json").read_text())
    runner.script(["docker", "login", "--username", "AWS", "--password-stdin"], stdout="Login Succeeded\n")
    runner.script(["git", "-C", str(tmp_path), "status", "--porcelain"], stdout="")  # a clean app tree
    runner.script(["pytest", "-q"], stdout="40 passed in 1.23s\n")  # the quality gate passes
    runner.script(  # an app repo without a remote, as git answers it
        ["git", "-C", str(tmp_path), "remote", "get-url"], returncode=2, stderr="error: No such remote 'origin'\n"
    )
    stubs = Clients()  # ECR's own scan of the pushed image: complete, nothing found
    stubs["ecr"].add_response(
        "describe_image_scan_findings",
        {"imageScanStatus": {"status": "COMPLETE"}, "imageScanFindings": {"findings": []}},
        {"repositoryName": "lab-app", "imageId": {"imageDigest": digest}},
    )
    monkeypatch.setattr(ecr, "ecr_client", lambda settings, **kw: stubs("ecr"))
    ctx = make_ctx(tmp_path, runner, push_registry="ecr", base_image="lab-base:bookworm")
    logins: list[str] = []

    def login(c: Context) -> str:
        logins.append(c.settings.target)
        c.runner.run(ecr_login.docker_login_argv(REGISTRY), input="pw")
        return REGISTRY

    ensured: list[str] = []
    repo_stub = RecordingRepo()
    result = ship(
        ctx,
        app_root=tmp_path,
        gate=(("pytest", "-q"),),
        clock=lambda: datetime(2026, 11, 28, 10, 15, tzinfo=UTC),
        no_wait=True,
        repo=repo_stub,  # type: ignore[arg-type]
        registry_login=login,
        ensure_repository=lambda name: ensured.append(name),
    )
    assert logins == ["aws"] and ensured == ["lab-app"]
    assert result.image == f"{REGISTRY}/lab-app:0123456-20261128101500"
    assert runner.index("docker", "login") < runner.index("pytest") < runner.index("docker", "push"), runner.dump()
    assert repo_stub.bumps[0][1].new_name == f"{REGISTRY}/lab-app"  # dev pulls from ECR
    stubs.assert_done()  # ECR's findings were read


def test_ship_keeps_an_explicit_registry(tmp_path: Path) -> None:
    from lab.steps.ship import repositories

    settings = make_ctx(tmp_path, push_registry="ecr", registry="999999999999.dkr.ecr.us-east-1.amazonaws.com").settings
    assert repositories(settings).push == "999999999999.dkr.ecr.us-east-1.amazonaws.com/lab-app"


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_ship_dry_run_on_aws_plans_the_ecr_login_and_the_push(tmp_path: Path) -> None:
    """The dry run logs in to a placeholder registry (no AWS call, stdin redacted) and plans the push there: the
    placeholder is no valid LAB_REGISTRY, so it must not be put into the settings."""
    import subprocess

    from lab.steps.ship import ship

    app = tmp_path / "app-repo"
    (app / "app").mkdir(parents=True)
    (app / "app" / "main.py").write_text("print('hi')\n")
    for argv in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "app"]):
        subprocess.run(["git", "-C", str(app), *argv], check=True, capture_output=True)
    sha = subprocess.run(["git", "-C", str(app), "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    out = io.StringIO()
    ctx = make_ctx(tmp_path, DryRunRunner(out=out), push_registry="ecr", base_image="lab-base:bookworm")
    repo_stub = RecordingRepo()
    result = ship(
        ctx,
        app_root=app,
        gate=(),
        allow_dirty=True,
        clock=lambda: datetime(2026, 11, 28, 10, 15, tzinfo=UTC),
        no_wait=True,
        repo=repo_stub,  # type: ignore[arg-type]
    )
    placeholder = "<account>.dkr.ecr.us-east-1.amazonaws.com"
    image = f"{placeholder}/lab-app:{sha.stdout[:7]}-20261128101500"
    assert result.image == image
    assert f"docker login --username AWS --password-stdin '{placeholder}'\n  <<'EOF'\n<redacted>\n" in out.getvalue()
    assert f"docker push '{image}'" in out.getvalue()
    assert repo_stub.bumps[0][1].new_name == f"{placeholder}/lab-app"


def first_deploy_ship(tmp_path: Path, runner: FakeRunner, ctx: Context, registry: Any) -> Any:
    """What `up --target aws`'s first deploy runs: ship to the registry `up` returned (no gate, no wait)."""
    from lab import registries
    from lab.steps.ship import ship

    sha = "0123456789abcdef0123456789abcdef01234567"
    runner.script(["git", "-C", str(tmp_path), "rev-parse"], stdout=sha + "\n")
    runner.script(["docker", "build"], stdout="sha256:" + "11" * 32 + "\n")
    runner.script(["docker", "push"], stdout=f"x: digest: sha256:{'ab' * 32} size: 1\n")
    runner.script(["git", "-C", str(tmp_path), "status", "--porcelain"], stdout="")  # a clean app tree
    runner.script(  # an app repo without a remote, as git answers it
        ["git", "-C", str(tmp_path), "remote", "get-url"], returncode=2, stderr="error: No such remote 'origin'\n"
    )
    # As lab/steps/up.py _first_deploy: no image scan in set-up (scan_severity off).
    first = Context(replace(registries.up_settings(ctx.settings), scan_severity="off"), runner, ctx.ui)
    return ship(
        first,
        app_root=tmp_path,
        gate=(),
        allow_dirty=True,
        no_wait=True,
        clock=lambda: datetime(2026, 11, 28, 10, 15, tzinfo=UTC),
        repo=RecordingRepo(),  # type: ignore[arg-type]
        registry=registry,
        report=False,
    )


def test_up_and_its_first_deploy_make_each_repository_call_once_as_the_plan_lists_them(tmp_path: Path) -> None:
    """The plan's ECR calls are EcrRegistry.provision run against the recorders; the real path (up, then the first
    deploy's ship to the registry up returns) makes exactly those against strict Stubbers, plus the login's
    token. Before, the first deploy's ship created, described and re-policied the repository a second time."""
    plan = aws_steps.plan_aws(make_ctx(tmp_path), AwsSettings(), install_argocd=Installs(), environ=ENV)
    runner, clients = aws_runner(), Clients()
    identity(clients)
    no_cluster(clients)
    stub_fresh_repository(clients)
    auth_token(clients, "s3cr3t-ecr-token")
    result, ctx, _ = run_up(tmp_path, runner, clients)
    assert isinstance(result, aws_steps.AwsUpResult)
    shipped = first_deploy_ship(tmp_path, runner, ctx, result.push_to)

    assert shipped.image.startswith(f"{REGISTRY}/lab-app:0123456-")
    ecr_calls = [(service, method, params) for service, method, params in clients.calls if service == "ecr"]
    planned = [call for call in plan.calls if call[0] == "ecr"]
    assert [m for _, m, _ in planned] == ["describe_repositories", "create_repository", "put_lifecycle_policy"]
    assert ecr_calls == [*planned, ("ecr", "get_authorization_token", {})]
    clients.assert_done()
    login = runner.calls[runner.index("docker", "login")]
    assert login.input == "s3cr3t-ecr-token" and "s3cr3t" not in " ".join(login.argv)


def test_up_aws_gives_its_first_deploy_the_registry_it_provisioned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first deploy is a component of the list `up --target aws` runs: after the ECR repository component, with
    up's settings for it (push_registry=ecr) and the registry that component provisioned, before Argo CD."""
    from lab.steps import up as up_steps

    runner, clients = aws_runner(), Clients()
    identity(clients)
    no_cluster(clients)
    stub_fresh_repository(clients)
    got: list[tuple[str, Any, bool]] = []

    def first_deploy(ctx: Context, root: Path, registry: Any = None) -> None:
        applied = any("apply" in call.argv for call in runner.calls)  # the Applications (ensure_aws_apps)
        got.append((ctx.settings.push_registry, registry, applied))

    monkeypatch.setattr(up_steps, "_first_deploy", first_deploy)
    result, _, _ = run_up(tmp_path, runner, clients, first_deploy=up_steps._aws_first_deploy(tmp_path))
    assert isinstance(result, aws_steps.AwsUpResult) and isinstance(result.push_to, registry_ecr.EcrRegistry)
    assert result.push_to.host == REGISTRY
    assert got == [("ecr", result.push_to, False)], "to the provisioned registry, before the Applications exist"
    assert any("apply" in call.argv for call in runner.calls), runner.dump()

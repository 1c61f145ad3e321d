"""The aws target's AWS side against a real emulator: MiniStack (the venv's `ministack`) as a local process on
127.0.0.1 and a free port, reached with boto3 exactly as the lab reaches AWS. Commands (eksctl, aws, kubectl) go
to the FakeRunner: no cluster can run here.

MiniStack's EKS would start k3s in Docker for every CreateCluster (ministack services/eks.py); with DOCKER_HOST
pointing at a socket that does not exist it keeps the cluster record only (ACTIVE, with its tags), which is what
the lab asks EKS about. The same setting keeps it from touching this machine's Docker at all. Error answers real
AWS gives and an emulator does not (access denied, throttling) come from botocore's Stubber.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aws_guard import aws_endpoint_guard  # noqa: F401 (autouse: no real AWS endpoint, ever)
from botocore import xform_name
from botocore.stub import Stubber
from fakes import FakeRunner
from servicekit import LABEL, RUN_ID, docker

from lab.core.aws_config import AwsSettings
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import ConfigError, Conflict, RegistryError
from lab.core.runner import SubprocessRunner
from lab.core.ui import UI
from lab.manifests import eksctl as eksctl_manifests
from lab.providers.eks import EksProvider
from lab.steps import aws as aws_steps
from lab.tools import aws as aws_tool
from lab.tools import ecr, ecr_login
from lab.tools.docker import push as docker_push

pytestmark = pytest.mark.integration  # a real MiniStack process on 127.0.0.1, no Docker (tests/tiers.py)

EMULATOR_ACCOUNT = "000000000000"  # MiniStack's default account (MINISTACK_ACCOUNT_ID)
REMOTE = "https://git.example.com/team/gitops.git"
ENV = {"LAB_GITOPS_TOKEN": "tok-emulator", "LAB_GITOPS_USERNAME": "learner"}


@pytest.fixture(scope="module")
def endpoint(ministack_port: int) -> str:
    """MiniStack's endpoint (the session's MiniStack process, tests/conftest.py)."""
    return f"http://127.0.0.1:{ministack_port}"


def make_ctx(tmp_path: Path, endpoint: str, runner: Any = None, **overrides: Any) -> Context:
    values: dict[str, Any] = {
        "state_dir": tmp_path / "state",
        "target": "aws",
        "aws_endpoint_url": endpoint,
        "gitops_remote": REMOTE,
        "cluster_name": f"lab-{RUN_ID}"[:40],
        "image_name": f"app-{RUN_ID}",
    }
    values.update(overrides)
    return Context(Settings(**values), runner or FakeRunner(), UI(err=io.StringIO(), out=io.StringIO()))


def clients(ctx: Context) -> aws_tool.ClientFactory:
    return aws_tool.client_factory(ctx.settings)


def printed(ctx: Context) -> str:
    return ctx.ui.err.getvalue() + ctx.ui.out.getvalue()  # type: ignore[attr-defined,no-any-return]


def create_cluster(eks: Any, name: str, tags: dict[str, str]) -> None:
    """What eksctl's CloudFormation stack does, as far as the EKS API shows it."""
    eks.create_cluster(
        name=name,
        roleArn=f"arn:aws:iam::{EMULATOR_ACCOUNT}:role/eksctl-{name}-cluster-ServiceRole",
        resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
        version="1.35",
        tags=tags,
    )
    deadline = time.monotonic() + 20
    while eks.describe_cluster(name=name)["cluster"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline, "emulated cluster not ACTIVE after 20 s"
        time.sleep(0.1)


# STS / EKS ----------------------------------------------------------------------------------------------
def test_caller_identity(tmp_path: Path, endpoint: str) -> None:
    ident = aws_tool.caller_identity(clients(make_ctx(tmp_path, endpoint))("sts"))
    assert ident.account == EMULATOR_ACCOUNT and ident.arn.startswith("arn:aws:")


def test_eks_describe_cluster_handling(tmp_path: Path, endpoint: str) -> None:
    ctx = make_ctx(tmp_path, endpoint)
    name = ctx.settings.cluster_name
    factory = clients(ctx)
    prov = EksProvider(ctx.settings, AwsSettings(), clients=factory)
    assert prov.describe(ctx) is None and not prov.exists(ctx)

    create_cluster(factory("eks"), name, eksctl_manifests.lab_tags(name, "cluster"))
    found = prov.describe(ctx)
    assert found is not None and found.active and found.version == "1.35"
    assert found.arn.endswith(f":cluster/{name}") and found.created_at is not None
    assert prov.created_by_lab(ctx) and not prov.begun_by_lab(ctx)

    foreign = f"team-{RUN_ID}"
    create_cluster(factory("eks"), foreign, {"team": "payments"})
    other = make_ctx(tmp_path, endpoint, cluster_name=foreign)
    with pytest.raises(Conflict, match="was not created by the lab"):
        aws_steps.ensure_eks_cluster(other, EksProvider(other.settings, AwsSettings(), clients=factory))
    assert other.runner.calls == []  # type: ignore[attr-defined]


# ECR ----------------------------------------------------------------------------------------------------
def test_repository_created_tagged_with_its_settings_and_idempotent(tmp_path: Path, endpoint: str) -> None:
    ctx = make_ctx(tmp_path, endpoint)
    client = clients(ctx)("ecr")
    name = ctx.settings.image_name
    action, uri = aws_steps.ensure_ecr_repository(ctx, client, AwsSettings(ecr_keep_last=5))
    assert action == "created" and uri.endswith(f"/{name}")
    again = aws_steps.ensure_ecr_repository(ctx, client, AwsSettings(ecr_keep_last=7))
    assert again == ("exists", uri)

    repo = client.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    tags = aws_tool.repository_tags(client, repo["repositoryArn"])
    assert eksctl_manifests.is_lab_tagged(tags, ctx.settings.cluster_name)
    assert tags["gitops-lab.component"] == "ecr"
    policy = json.loads(client.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
    assert policy == ecr.lifecycle_policy(7)  # the re-run brought it to the new setting


def test_a_foreign_repository_is_refused_and_left_untouched(tmp_path: Path, endpoint: str) -> None:
    ctx = make_ctx(tmp_path, endpoint, image_name=f"team-app-{RUN_ID}")
    client = clients(ctx)("ecr")
    client.create_repository(repositoryName=ctx.settings.image_name)  # MUTABLE, no lab tags
    with pytest.raises(Conflict, match="was not created by the lab"):
        aws_steps.ensure_ecr_repository(ctx, client, AwsSettings())
    repo = client.describe_repositories(repositoryNames=[ctx.settings.image_name])["repositories"][0]
    assert repo["imageTagMutability"] == "MUTABLE"
    with pytest.raises(client.exceptions.LifecyclePolicyNotFoundException):
        client.get_lifecycle_policy(repositoryName=ctx.settings.image_name)


def test_authorization_token(tmp_path: Path, endpoint: str) -> None:
    user, password, proxy = ecr.authorization(clients(make_ctx(tmp_path, endpoint))("ecr"))
    assert user == "AWS" and password
    assert ecr_login.registry_from_endpoint(proxy).endswith(".amazonaws.com")


@pytest.mark.docker
def test_login_push_and_describe_images(
    tmp_path: Path, endpoint: str, docker_client: object, base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ecr_login with the emulator's token (docker's credentials in a throw-away DOCKER_CONFIG), a real
    `docker push` to MiniStack's registry, then describe-images through the lab."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    ctx = make_ctx(tmp_path, endpoint, SubprocessRunner())
    client = clients(ctx)("ecr")
    aws_steps.ensure_ecr_repository(ctx, client, AwsSettings())
    host = f"localhost:{endpoint.rsplit(':', 1)[1]}"  # MiniStack's URIs are AWS-shaped: push via localhost

    assert ecr_login.ecr_login(ctx.runner, client, region=ctx.settings.aws_region, registry=host) == host
    _, password, _ = ecr.authorization(client)
    assert password not in printed(ctx)
    auths = json.loads((tmp_path / "docker-config" / "config.json").read_text()).get("auths", {})
    assert host in auths

    tag = f"t-{RUN_ID}"
    ref = f"{host}/{ctx.settings.image_name}:{tag}"
    docker("build", "--quiet", "--label", LABEL, "-t", ref, "-", input=f"FROM {base_image}\nLABEL run={RUN_ID}\n")
    try:
        digest = docker_push(ctx.runner, ref)
        assert digest.startswith("sha256:")
        assert ecr.describe_image(client, ctx.settings.image_name, tag) == digest
        assert ecr.describe_image(client, ctx.settings.image_name, "absent") is None
    finally:
        docker("rmi", "-f", ref, check=False)


# The whole of up / down against the emulator ------------------------------------------------------------
@pytest.mark.unscripted_commands_succeed  # eksctl, aws and kubectl are not scripted one by one yet
def test_up_twice_then_down(tmp_path: Path, endpoint: str) -> None:
    runner = FakeRunner()
    ctx = make_ctx(tmp_path, endpoint, runner, cluster_name=f"up-{RUN_ID}"[:40], image_name=f"up-{RUN_ID}")
    made = clients(ctx)
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def factory(service: str) -> Any:  # MiniStack's clients, recording every API call `up` makes
        client = made(service)

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            calls.append((service, xform_name(model.name), dict(params)))

        client.meta.events.register(f"before-parameter-build.{service}.*", record)
        return client

    installs: list[str] = []

    def up() -> aws_steps.AwsUpResult:
        result = aws_steps.up_aws(
            ctx,
            aws=AwsSettings(),
            confirm=aws_steps.assume_yes,  # loopback endpoint: no opt-in needed, confirmation still asked
            clients=factory,
            install_argocd=lambda c: installs.append("argocd"),
            environ=ENV,
        )
        assert isinstance(result, aws_steps.AwsUpResult)
        return result

    plan = aws_steps.plan_aws(ctx, AwsSettings(), install_argocd=lambda c: None, environ=ENV)
    first = up()
    assert (first.account, first.cluster_action, first.repository_action) == (EMULATOR_ACCOUNT, "created", "created")
    runner.assert_called("eksctl", "create", "cluster", "-f")
    # The plan is this very path against recorders: exactly the calls and commands the first `up` made.
    assert list(plan.calls) == calls and [c for _, c, _ in calls].count("create_repository") == 1, calls
    assert list(plan.commands) == [c.argv for c in runner.calls], runner.dump()
    assert "tok-emulator" not in printed(ctx)

    # What eksctl would have made meanwhile: the tagged cluster and its node group.
    name = ctx.settings.cluster_name
    create_cluster(factory("eks"), name, eksctl_manifests.lab_tags(name, "cluster"))
    factory("eks").create_nodegroup(
        clusterName=name,
        nodegroupName=eksctl_manifests.NODEGROUP,
        subnets=["subnet-1"],
        nodeRole=f"arn:aws:iam::{EMULATOR_ACCOUNT}:role/nodes",
    )
    runner.calls.clear()
    second = up()
    assert (second.cluster_action, second.repository_action) == ("reused", "exists")
    runner.assert_not_called("eksctl")
    assert installs == ["argocd", "argocd"]

    runner.calls.clear()
    removed = aws_steps.down_aws(ctx, aws=AwsSettings(), confirm=aws_steps.assume_yes, clients=factory, environ={})
    assert removed == [f"eks cluster {name}", f"ecr repository {ctx.settings.image_name}"]
    runner.assert_called("eksctl", "delete", "cluster", "--name", name)
    assert aws_tool.describe_repository(factory("ecr"), ctx.settings.image_name) is None
    assert aws_steps.down_aws(ctx, aws=AwsSettings(), confirm=aws_steps.assume_yes, clients=factory, environ={}) == [
        f"eks cluster {name}"  # the emulated cluster stays (eksctl is faked); the repository is gone
    ]


# Errors real AWS gives ----------------------------------------------------------------------------------
def stubbed(ctx: Context, service: str) -> tuple[Any, Stubber]:
    client = clients(ctx)(service)
    stub = Stubber(client)
    stub.activate()
    return client, stub


def test_access_denied_and_throttling_are_clear(tmp_path: Path, endpoint: str) -> None:
    ctx = make_ctx(tmp_path, endpoint)
    client, stub = stubbed(ctx, "ecr")
    stub.add_client_error(
        "describe_repositories",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:iam::1:user/x is not authorized to perform: ecr:DescribeRepositories",
        http_status_code=400,
    )
    with pytest.raises(RegistryError, match="access denied") as denied:
        aws_steps.ensure_ecr_repository(ctx, client, AwsSettings())
    assert "ecr:DescribeRepositories" in denied.value.message and "sts get-caller-identity" in (denied.value.hint or "")

    stub.add_client_error("describe_repositories", service_error_code="ThrottlingException", http_status_code=400)
    with pytest.raises(RegistryError, match="throttled") as throttled:
        aws_steps.ensure_ecr_repository(ctx, client, AwsSettings())
    assert "wait a minute" in (throttled.value.hint or "")

    eks, eks_stub = stubbed(ctx, "eks")
    eks_stub.add_client_error("describe_cluster", service_error_code="AccessDeniedException", http_status_code=403)
    with pytest.raises(ConfigError, match="access denied"):
        aws_tool.describe_cluster(eks, "any")
    sts, sts_stub = stubbed(ctx, "sts")
    sts_stub.add_client_error("get_caller_identity", service_error_code="ExpiredToken", http_status_code=403)
    with pytest.raises(ConfigError, match="expired") as expired:
        aws_tool.caller_identity(sts)
    assert "aws sso login" in (expired.value.hint or "")


def test_repository_exists_race_is_handled(tmp_path: Path, endpoint: str) -> None:
    """describe says absent, create says it exists (someone was faster): the tags decide, nothing is clobbered."""
    ctx = make_ctx(tmp_path, endpoint, image_name=f"race-{RUN_ID}")
    real = clients(ctx)("ecr")
    real.create_repository(repositoryName=ctx.settings.image_name, tags=[{"Key": "team", "Value": "x"}])

    class FirstLookMisses:
        def __init__(self) -> None:
            self.looked = False

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def describe_repositories(self, **kw: Any) -> Any:
            if not self.looked:
                self.looked = True
                raise real.exceptions.RepositoryNotFoundException(
                    {"Error": {"Code": "RepositoryNotFoundException", "Message": "not yet"}}, "DescribeRepositories"
                )
            return real.describe_repositories(**kw)

    with pytest.raises(Conflict, match="was not created by the lab"):
        aws_steps.ensure_ecr_repository(ctx, FirstLookMisses(), AwsSettings())

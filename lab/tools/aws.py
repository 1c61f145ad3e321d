"""AWS through boto3 (STS, EKS) and the AWS CLI's `eks update-kubeconfig`.

boto3 answers the questions (who am I, does the cluster exist, whose is it); the CLI is needed once, for the
kubeconfig entry, because kubectl authenticates to EKS by running `aws eks get-token` (the exec user that
update-kubeconfig writes: aws-cli awscli/customizations/eks/update_kubeconfig.py). `--alias` names the kubeconfig
context (default: the cluster ARN), so the lab's kubectl calls can name it explicitly.

Every client is built by a factory (service name -> client), so tests can inject one that fails when called and
prove that a plan makes no AWS call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from lab.core.config import Settings
from lab.core.errors import LabError
from lab.core.runner import Runner
from lab.tools import aws_errors
from lab.tools.ecr import EMULATOR_CREDENTIALS, client_config

AWS = "aws"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

ClientFactory = Callable[[str], Any]  # service name ("sts", "eks", "ecr") -> boto3 client


def is_loopback_url(url: str) -> bool:
    """True for http(s)://127.0.0.1 / localhost / [::1] endpoints (the emulators)."""
    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS


def is_real_aws(settings: Settings) -> bool:
    """True unless the AWS endpoint is an emulator on the loopback."""
    return not (settings.aws_endpoint_url and is_loopback_url(settings.aws_endpoint_url))


def client_factory(settings: Settings) -> ClientFactory:
    """boto3 clients for settings.aws_region: the default credential chain for real AWS, dummy credentials for
    an emulator endpoint. Bounded: 5 s connect, 30 s read, 3 attempts with botocore's standard retry mode
    (which backs off on throttling)."""

    def make(service: str) -> Any:
        import boto3

        config = client_config(settings)
        endpoint = settings.aws_endpoint_url or None
        if endpoint and is_loopback_url(endpoint):
            key, secret = EMULATOR_CREDENTIALS
            return boto3.client(
                service, endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret, config=config
            )
        return boto3.client(service, endpoint_url=endpoint, config=config)

    return make


def wrap_error(exc: Exception, action: str) -> LabError:
    """The lab's error for a botocore exception raised while doing ``action`` (lab/tools/aws_errors.py, AWS)."""
    return aws_errors.wrap_error(exc, action, aws_errors.AWS)


# STS ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallerIdentity:
    account: str
    arn: str
    user_id: str = ""

    def describe(self) -> str:
        return f"account {self.account} as {self.arn}"


def caller_identity(sts: Any) -> CallerIdentity:
    """`sts get-caller-identity`: which account and principal the credentials belong to."""
    try:
        data = sts.get_caller_identity()
    except Exception as exc:
        raise wrap_error(exc, "STS: get caller identity") from exc
    return CallerIdentity(str(data["Account"]), str(data["Arn"]), str(data.get("UserId", "")))


def registry_host(account: str, region: str) -> str:
    """The account's private ECR registry host (<account>.dkr.ecr.<region>.amazonaws.com; Amazon ECR User Guide,
    "Private registry concepts")."""
    return f"{account}.dkr.ecr.{region}.amazonaws.com"


# EKS ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EksCluster:
    name: str
    arn: str
    status: str  # CREATING | ACTIVE | DELETING | FAILED | UPDATING | PENDING (EKS API, Cluster.status)
    version: str
    endpoint: str
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"


def describe_cluster(eks: Any, name: str) -> EksCluster | None:
    """The cluster, or None if there is none of that name (ResourceNotFoundException)."""
    try:
        data = eks.describe_cluster(name=name)["cluster"]
    except Exception as exc:
        if aws_errors.error_code(exc) == "ResourceNotFoundException":
            return None
        raise wrap_error(exc, f"EKS: describe cluster {name}") from exc
    created = data.get("createdAt")
    return EksCluster(
        name=str(data.get("name", name)),
        arn=str(data.get("arn", "")),
        status=str(data.get("status", "")),
        version=str(data.get("version", "")),
        endpoint=str(data.get("endpoint", "")),
        tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
        created_at=created if isinstance(created, datetime) else None,
    )


def list_nodegroups(eks: Any, cluster: str) -> list[str]:
    try:
        return [str(n) for n in eks.list_nodegroups(clusterName=cluster).get("nodegroups", [])]
    except Exception as exc:
        raise wrap_error(exc, f"EKS: list node groups of {cluster}") from exc


# AWS CLI -----------------------------------------------------------------------------------------------
def update_kubeconfig_argv(region: str, name: str, *, alias: str, aws: str = AWS) -> list[str]:
    return [aws, "eks", "update-kubeconfig", "--region", region, "--name", name, "--alias", alias]


def update_kubeconfig(runner: Runner, region: str, name: str, *, alias: str, aws: str = AWS) -> None:
    """Add or refresh the kubeconfig entry of cluster ``name`` under the context name ``alias``."""
    runner.run(
        update_kubeconfig_argv(region, name, alias=alias, aws=aws),
        timeout=120,
        hint="AWS CLI v2 is needed for the kubeconfig entry and for kubectl's `aws eks get-token`",
    )


# ECR ownership (tags) -----------------------------------------------------------------------------------
def describe_repository(ecr: Any, name: str) -> dict[str, Any] | None:
    """The repository (repositoryArn, repositoryUri, ...), or None if there is none of that name."""
    try:
        repos = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    except Exception as exc:
        if aws_errors.error_code(exc) == "RepositoryNotFoundException":
            return None
        raise _ecr_error(exc, f"describe repository {name}") from exc
    return dict(repos[0]) if repos else None


def repository_tags(ecr: Any, arn: str) -> dict[str, str]:
    try:
        tags = ecr.list_tags_for_resource(resourceArn=arn).get("tags", [])
    except Exception as exc:
        raise _ecr_error(exc, f"list tags of {arn}") from exc
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags}


def delete_repository(ecr: Any, name: str) -> bool:
    """Delete the repository and its images; False if it was already gone."""
    try:
        ecr.delete_repository(repositoryName=name, force=True)
    except Exception as exc:
        if aws_errors.error_code(exc) == "RepositoryNotFoundException":
            return False
        raise _ecr_error(exc, f"delete repository {name}") from exc
    return True


def _ecr_error(exc: Exception, action: str) -> LabError:
    return aws_errors.wrap_error(exc, action, aws_errors.ECR)

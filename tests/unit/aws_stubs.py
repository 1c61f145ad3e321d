"""botocore Stubber clients for the aws target's unit tests: real boto3 clients (so request parameters are
validated against the service models) whose every call is answered by the Stubber before any HTTP send. Their
endpoint is a closed loopback port, so even a missed stub could not leave the machine (and tests/aws_guard.py
would fail the test if anything tried)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore import xform_name
from botocore.stub import Stubber

ACCOUNT = "123456789012"
ARN = f"arn:aws:iam::{ACCOUNT}:user/learner"
REGION = "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
LAB_TAGS = {"gitops-lab.managed": "true", "gitops-lab.cluster": "gitops-lab"}


class Clients:
    """A client factory (service -> client) over stubbed clients; ``asked`` records what was requested, ``calls``
    every API call made, in order: (service, method, parameters)."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubs: dict[str, Stubber] = {}
        self.asked: list[str] = []
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        for service in ("sts", "eks", "ecr"):
            client = boto3.client(
                service,
                region_name=REGION,
                endpoint_url="http://127.0.0.1:9",
                aws_access_key_id="unit",
                aws_secret_access_key="unit",
            )
            self.clients[service] = client
            client.meta.events.register(f"before-parameter-build.{service}.*", self._recorder(service))
            self.stubs[service] = Stubber(client)
            self.stubs[service].activate()

    def _recorder(self, service: str) -> Any:
        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            self.calls.append((service, xform_name(model.name), dict(params)))

        return record

    def __call__(self, service: str) -> Any:
        self.asked.append(service)
        return self.clients[service]

    def __getitem__(self, service: str) -> Stubber:
        return self.stubs[service]

    def assert_done(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


def identity(stubs: Clients) -> None:
    stubs["sts"].add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": ARN, "UserId": "AIDAEXAMPLE"}, {})


def cluster(name: str = "gitops-lab", *, status: str = "ACTIVE", tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "cluster": {
            "name": name,
            "arn": f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{name}",
            "createdAt": datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
            "version": "1.35",
            "endpoint": f"https://{name}.gr7.{REGION}.eks.amazonaws.com",
            "status": status,
            "tags": dict(LAB_TAGS) if tags is None else tags,
        }
    }


def describe_cluster(stubs: Clients, name: str = "gitops-lab", **kw: Any) -> None:
    stubs["eks"].add_response("describe_cluster", cluster(name, **kw), {"name": name})


def no_cluster(stubs: Clients, name: str = "gitops-lab") -> None:
    stubs["eks"].add_client_error(
        "describe_cluster",
        service_error_code="ResourceNotFoundException",
        service_message=f"No cluster found for name: {name}.",
        http_status_code=404,
        expected_params={"name": name},
    )


def repo(name: str = "lab-app", *, mutability: str = "IMMUTABLE", scan: bool = True) -> dict[str, Any]:
    return {
        "repositoryName": name,
        "repositoryArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}",
        "repositoryUri": f"{REGISTRY}/{name}",
        "imageTagMutability": mutability,
        "imageScanningConfiguration": {"scanOnPush": scan},
    }


def describe_repo(stubs: Clients, name: str = "lab-app", **kw: Any) -> None:
    stubs["ecr"].add_response(
        "describe_repositories", {"repositories": [repo(name, **kw)]}, {"repositoryNames": [name]}
    )


def no_repo(stubs: Clients, name: str = "lab-app") -> None:
    stubs["ecr"].add_client_error(
        "describe_repositories",
        service_error_code="RepositoryNotFoundException",
        service_message=f"The repository with name '{name}' does not exist",
        http_status_code=400,
        expected_params={"repositoryNames": [name]},
    )


def repo_tags(stubs: Clients, tags: dict[str, str], name: str = "lab-app") -> None:
    stubs["ecr"].add_response(
        "list_tags_for_resource",
        {"tags": [{"Key": k, "Value": v} for k, v in tags.items()]},
        {"resourceArn": repo(name)["repositoryArn"]},
    )


def auth_token(stubs: Clients, password: str = "s3cr3t-ecr-token") -> None:
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    stubs["ecr"].add_response(
        "get_authorization_token",
        {
            "authorizationData": [
                {
                    "authorizationToken": token,
                    "expiresAt": datetime(2026, 11, 28, 21, 0, tzinfo=UTC),
                    "proxyEndpoint": f"https://{REGISTRY}",
                }
            ]
        },
        {},
    )

"""`docker login` to ECR: the argv and the parsing (the login itself, with boto3's token on stdin, is
lab.registries.ecr.ecr_login).

The password goes to docker on stdin only (`--password-stdin`): never in argv (visible in `ps`), never printed.
"""

from __future__ import annotations

from lab.tools.docker import DOCKER

REDACTED = "<redacted>"
PLACEHOLDER_ACCOUNT = "<account>"


def docker_login_argv(host: str, user: str = "AWS") -> list[str]:
    return [DOCKER, "login", "--username", user, "--password-stdin", host]


def registry_from_endpoint(endpoint: str) -> str:
    """https://123456789012.dkr.ecr.us-east-1.amazonaws.com -> 123456789012.dkr.ecr.us-east-1.amazonaws.com"""
    host = endpoint.split("://", 1)[-1]
    return host.rstrip("/")


def placeholder_registry(region: str) -> str:
    return f"{PLACEHOLDER_ACCOUNT}.dkr.ecr.{region}.amazonaws.com"

"""`docker login` to ECR with the token from boto3's GetAuthorizationToken (the boto3 equivalent of
`aws ecr get-login-password | docker login --username AWS --password-stdin HOST`, Amazon ECR User
Guide, "Private registry authentication").

The password goes to docker on stdin only: never in argv (visible in `ps`), never printed. In a dry run no AWS
call is made and the printed command's stdin is `<redacted>`. Docker keeps the token in its credential store
(or ~/.docker/config.json) for its 12 hours of validity.
"""

from __future__ import annotations

from typing import Any

from lab.core.errors import CommandFailed, RegistryError
from lab.core.runner import Runner
from lab.tools import ecr
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


def ecr_login(runner: Runner, client: Any, *, region: str, registry: str | None = None) -> str:
    """Log docker in to the ECR registry of ``client``'s account in REGION; returns the registry host.

    ``registry`` overrides the host from the token's proxyEndpoint (the token is valid for every registry of the
    account in the region). In a dry run (``runner.dry_run``) ``client`` is not called."""
    if runner.dry_run:
        host = registry or placeholder_registry(region)
        runner.run(docker_login_argv(host), input=REDACTED + "\n")
        return host
    user, password, endpoint = ecr.authorization(client)
    host = registry or registry_from_endpoint(endpoint)
    if not host:
        raise RegistryError("ECR: get authorization token: no proxyEndpoint and no registry host given")
    try:
        runner.run(docker_login_argv(host, user), input=password, timeout=60)
    except CommandFailed as exc:
        # CommandFailed carries argv and stderr only; neither holds the password.
        last = exc.stderr_tail.splitlines()[-1] if exc.stderr_tail else ""
        raise RegistryError(
            f"docker login to {host} failed (exit {exc.code}): {last}",
            hint="is Docker running? does the identity have ecr:GetAuthorizationToken?",
        ) from exc
    return host

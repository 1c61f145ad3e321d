"""ECR through boto3: the lab's repository (scan on push, immutable tags, lifecycle policy), image lookups and
registry credentials. The same calls work against real ECR and the emulators (MiniStack, LocalStack).

Errors from botocore are wrapped in the lab's own types by lab/tools/aws_errors.py (profile ECR): RegistryError for
what the registry refused or could not answer (access denied, throttling, unreachable endpoint), ConfigError for
missing or expired credentials and for LocalStack's free tier, which has no ECR.

Request shapes: ECR API reference (CreateRepository, PutLifecyclePolicy, DescribeImages, GetAuthorizationToken);
lifecycle policy rules: ECR user guide "Lifecycle policy properties". localstack/init_ecr.py, the emulators' ready
hook, carries a standalone copy of ensure_repository / lifecycle_policy (it cannot import the lab);
tests/unit/test_ecr.py keeps the two in step.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from lab.core.config import Settings
from lab.core.errors import ConfigError, LabError, RegistryError
from lab.tools import aws_errors
from lab.tools.aws_errors import error_code as error_code  # re-exported: callers test ECR's codes

# The newest images the lifecycle policy keeps. The lab's tags are unique (<sha7>-<UTC timestamp>), so with
# IMMUTABLE tags every ship adds one image; 30 keeps weeks of lab history (emulators store the policy but do not
# necessarily apply it).
DEFAULT_KEEP_LAST = 30
# Credentials the emulators accept. "test" is LocalStack's conventional key and maps to account 000000000000.
EMULATOR_CREDENTIALS = ("test", "test")


def client_config(settings: Settings) -> Any:
    """botocore's Config for every lab client: settings.aws_region, and bounded requests: 5 s to connect, 30 s to
    read, 3 attempts in botocore's "standard" retry mode (which also backs off on throttling)."""
    from botocore.config import Config

    return Config(
        region_name=settings.aws_region,
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
    )


def ecr_client(settings: Settings, *, endpoint_url: str | None = None) -> Any:
    """A boto3 ECR client (bounded: client_config): for the local target the emulator with dummy credentials, for
    aws the default chain."""
    import boto3

    config = client_config(settings)
    if settings.target == "local":
        key, secret = EMULATOR_CREDENTIALS
        return boto3.client(
            "ecr",
            endpoint_url=endpoint_url or settings.emulator_endpoint,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=config,
        )
    return boto3.client("ecr", endpoint_url=endpoint_url or settings.aws_endpoint_url or None, config=config)


def wrap_error(exc: Exception, action: str) -> LabError:
    """The lab's error for a botocore exception raised while doing ``action`` (lab/tools/aws_errors.py, ECR)."""
    return aws_errors.wrap_error(exc, action, aws_errors.ECR)


def lifecycle_policy(keep_last: int) -> dict[str, Any]:
    """Expire all but the newest ``keep_last`` images, tagged or not."""
    if keep_last < 1:
        raise ConfigError(f"lifecycle policy: keep_last must be at least 1, got {keep_last}")
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the last {keep_last} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_last},
                "action": {"type": "expire"},
            }
        ]
    }


def ensure_repository(
    client: Any,
    name: str,
    *,
    scan_on_push: bool = True,
    immutable: bool = True,
    keep_last: int = DEFAULT_KEEP_LAST,
) -> str:
    """Create repository ``name`` or bring an existing one to these settings; (re)apply the lifecycle policy.

    Returns "created" or "exists". With immutable tags a push of an existing tag is refused; the lab's tags are
    unique per build, so only a deliberate re-push of the same tag meets that."""
    action = "created"
    try:
        try:
            client.create_repository(
                repositoryName=name,
                imageTagMutability="IMMUTABLE" if immutable else "MUTABLE",
                imageScanningConfiguration={"scanOnPush": scan_on_push},
            )
        except Exception as exc:
            if error_code(exc) != "RepositoryAlreadyExistsException":
                raise
            action = "exists"
            repo = client.describe_repositories(repositoryNames=[name])["repositories"][0]
            match_settings(client, repo, scan_on_push=scan_on_push, immutable=immutable)
        put_lifecycle_policy(client, name, keep_last)
    except LabError:
        raise
    except Exception as exc:
        raise wrap_error(exc, f"ensure repository {name}") from exc
    return action


def match_settings(client: Any, repo: dict[str, Any], *, scan_on_push: bool = True, immutable: bool = True) -> None:
    """Bring the described repository REPO to these tag mutability and scan-on-push settings: a call only for what
    differs."""
    name = str(repo["repositoryName"])
    mutability = "IMMUTABLE" if immutable else "MUTABLE"
    if repo.get("imageTagMutability") != mutability:
        client.put_image_tag_mutability(repositoryName=name, imageTagMutability=mutability)
    if bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush")) != scan_on_push:
        client.put_image_scanning_configuration(
            repositoryName=name, imageScanningConfiguration={"scanOnPush": scan_on_push}
        )


def put_lifecycle_policy(client: Any, name: str, keep_last: int) -> None:
    """(Re)apply the lifecycle policy: expire all but the newest KEEP_LAST images."""
    client.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(lifecycle_policy(keep_last)))


def repository_uri(client: Any, name: str) -> str:
    """The repositoryUri ECR reports (AWS-shaped on MiniStack: push via localhost:<port>/<name> there)."""
    try:
        repos = client.describe_repositories(repositoryNames=[name])["repositories"]
    except Exception as exc:
        raise wrap_error(exc, f"describe repository {name}") from exc
    return str(repos[0]["repositoryUri"]) if repos else ""


def describe_image(client: Any, repository: str, tag: str) -> str | None:
    """The manifest digest ECR holds for ``repository:tag``, or None if there is no such tag."""
    try:
        details = client.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
    except Exception as exc:
        if error_code(exc) == "ImageNotFoundException":
            return None
        raise wrap_error(exc, f"describe image {repository}:{tag}") from exc
    for detail in details:
        if tag in (detail.get("imageTags") or []):
            return str(detail["imageDigest"])
    return None


def authorization(client: Any) -> tuple[str, str, str]:
    """(user, password, proxy_endpoint) for `docker login`: GetAuthorizationToken's base64 "user:password"."""
    try:
        data = client.get_authorization_token()["authorizationData"]
    except Exception as exc:
        raise wrap_error(exc, "get authorization token") from exc
    if not data:
        raise RegistryError("ECR: get authorization token: the answer holds no authorizationData")
    try:
        decoded = base64.b64decode(data[0]["authorizationToken"]).decode()
    except (ValueError, KeyError) as exc:
        raise RegistryError("ECR: get authorization token: the token is not base64 'user:password'") from exc
    user, sep, password = decoded.partition(":")
    if not sep:
        raise RegistryError("ECR: get authorization token: the token is not 'user:password'")
    return user, password, str(data[0].get("proxyEndpoint", ""))

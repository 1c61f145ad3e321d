"""The aws target's ECR repository, created with the lab's tags (scan on push, immutable tags, lifecycle policy)."""

from __future__ import annotations

from typing import Any

from lab.components.base import AWS, Component, Up
from lab.core.aws_config import AwsSettings
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import Conflict, RegistryError
from lab.manifests import eksctl as eksctl_manifests
from lab.tools import aws as aws_tool
from lab.tools import ecr


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


class EcrRepositoryComponent(Component):
    name = "ecr repository"
    targets = AWS

    def ensure(self, run: Up) -> None:
        assert run.aws is not None  # the aws target's up always gives it
        ctx = run.ctx
        with ctx.ui.phase(f"Ensuring ECR repository {ctx.settings.image_name}") as phase:
            action, uri = ensure_ecr_repository(ctx, run.aws.clients("ecr"), run.aws.aws, force=run.force)
            phase.note = action
        run.made[self.name] = (action, uri)

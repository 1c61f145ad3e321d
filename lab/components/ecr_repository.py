"""The aws target's ECR repository, provisioned by the ECR registry (lab/registries/ecr.py: created with the lab's
tags, scan on push, immutable tags, lifecycle policy)."""

from __future__ import annotations

from typing import Any

from lab.components.base import AWS, Component, Up
from lab.core.aws_config import AwsSettings
from lab.core.context import Context
from lab.registries import Seams
from lab.registries.ecr import EcrRegistry
from lab.tools import aws as aws_tool


def ensure_ecr_repository(ctx: Context, client: Any, aws: AwsSettings, *, force: bool = False) -> tuple[str, str]:
    """The lab's ECR repository, created with the lab's tags (lab.registries.ecr.EcrRegistry.provision).
    Returns (action, repositoryUri)."""
    return EcrRegistry(ctx.settings).provision(ctx, client, aws, force=force)


class EcrRepositoryComponent(Component):
    name = "ecr repository"
    targets = AWS

    def ensure(self, run: Up) -> None:
        assert run.aws is not None  # the aws target's up always gives it
        ctx = run.ctx
        clients = run.aws.clients
        # The registry up provisions, and which its first deploy then logs in to and pushes to: through up's clients.
        registry = EcrRegistry(ctx.settings, Seams(ecr_client=lambda _settings: clients("ecr")))
        with ctx.ui.phase(f"Ensuring ECR repository {ctx.settings.image_name}") as phase:
            action, uri = registry.provision(ctx, clients("ecr"), run.aws.aws, force=run.force)
            phase.note = action
        run.made[self.name] = (action, uri)
        run.made["push_to"] = registry.after_provision(aws_tool.registry_host(run.aws.account, run.aws.aws.region))

"""Amazon ECR, for the aws target: the account's private registry `<account>.dkr.ecr.<region>.amazonaws.com`.

- Names: LAB_REGISTRY, else the host the login token names; pods pull the same name (EKS managed node groups
  may pull from the account's ECR: eksctl attaches AmazonEC2ContainerRegistryReadOnly to the node role).
- Login: boto3's GetAuthorizationToken piped to `docker login --password-stdin` (the boto3 equivalent of
  `aws ecr get-login-password | docker login ...`, Amazon ECR User Guide, "Private registry authentication"). The
  password goes to docker on stdin only: never in argv, never printed; a dry run calls no AWS and shows the
  command's stdin as `<redacted>`.
- Repository: `up` provisions it (tagged as the lab's: provision); `ship` makes sure it exists before the push
  (ensure_repository: scan on push, immutable tags, lifecycle policy).
- Digests: through the API (describe_images, in the region the host names); ECR's /v2/ API answers 401 without
  a token. A tag is never pushed twice: the repository's tags are IMMUTABLE.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lab.core.aws_config import AwsSettings
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import ConfigError, Conflict, RegistryError
from lab.manifests import eksctl as eksctl_manifests
from lab.registries.base import Registry, Repositories, Seams, v2_digest
from lab.tools import aws, ecr, registry
from lab.tools.ecr_login import ecr_login


class EcrRegistry(Registry):
    kind = "ecr"
    login_title = "Log in to ECR"

    def __init__(
        self, settings: Settings, seams: Seams | None = None, *, host: str = "", provisioned: bool = False
    ) -> None:
        super().__init__(settings, seams)
        # The registry host: LAB_REGISTRY, else what the login learnt (in a dry run a placeholder, which is no
        # valid LAB_REGISTRY value: it is kept here, not put into the settings).
        self.host = settings.registry or host
        # True once `up` has provisioned the repository in this run: then ship's repository step has nothing to do.
        self.provisioned = provisioned

    def repositories(self) -> Repositories:
        if not self.host:
            raise ConfigError(
                "push_registry=ecr on target aws needs the ECR registry host",
                hint="set LAB_REGISTRY=<account>.dkr.ecr.<region>.amazonaws.com",
            )
        repo = f"{self.host}/{self.settings.image_name}"
        return Repositories(repo, repo)

    def check(self) -> None:
        """Nothing to check before the login: the registry host may come from the token."""

    def login(self, ctx: Context) -> EcrRegistry:
        """docker login with boto3's token first (bad credentials fail before any build); the registry is the
        account's, unless LAB_REGISTRY names one."""
        if self.seams.login is not None:
            host = self.seams.login(ctx)
        else:
            client = None if ctx.dry_run else self._login_client()
            host = ecr_login(
                ctx.runner, client, region=self.settings.aws_region, registry=self.settings.registry or None
            )
        return EcrRegistry(self.settings, self.seams, host=host, provisioned=self.provisioned)

    def _login_client(self) -> Any:
        if self.seams.ecr_client is not None:
            return self.seams.ecr_client(self.settings)
        return aws.client_factory(self.settings)("ecr")

    def ensure_repository(self, ctx: Context) -> object:
        """Create the repository if it is missing (scan on push, immutable tags, lifecycle policy); None in a dry
        run. After `up` provisioned it (provisioned, the first deploy): no call at all, so `up --target aws`
        makes each repository call once, as its plan lists them, and a repository `up --force` uses as it is keeps
        its settings."""
        if ctx.dry_run:
            return None
        if self.provisioned:
            return "provisioned by up"
        name = self.repositories().name
        if self.seams.ensure is not None:
            return self.seams.ensure(name)
        return ecr.ensure_repository((self.seams.ecr_client or ecr.ecr_client)(self.settings), name)

    def digest(self, name: str, reference: str) -> str | None:
        return api_digest(self.settings, self.seams, self.repositories().host, name, reference)

    # up --target aws ----------------------------------------------------------------------------------
    def after_provision(self, host: str) -> EcrRegistry:
        """This registry once `up` has provisioned the repository in the account registry HOST: what the first
        deploy ships to."""
        return EcrRegistry(self.settings, self.seams, host=host, provisioned=True)

    def provision(
        self, ctx: Context, client: Any, aws_settings: AwsSettings, *, force: bool = False
    ) -> tuple[str, str]:
        """The lab's ECR repository for `up`, created with the lab's tags. Returns (action, repositoryUri).

        Each call once: describe; absent: create (with the lab's tags and settings); the lab's: bring it to the
        settings; then the lifecycle policy. An existing repository without the lab's tags is someone else's:
        Conflict, or with --force used as it is (its settings untouched, and `down` leaves it). The AWS plan is
        this method run against recording clients (lab.steps.aws.plan_aws)."""
        settings = self.settings
        name = settings.image_name
        repo = aws.describe_repository(client, name)
        action = "exists"
        if repo is None:
            try:
                repo = dict(client.create_repository(**create_request(settings))["repository"])
                action = "created"
            except Exception as exc:
                if ecr.error_code(exc) != "RepositoryAlreadyExistsException":
                    raise ecr.wrap_error(exc, f"create repository {name}") from exc
                # Created by someone else meanwhile: whose it is gets checked below.
                repo = aws.describe_repository(client, name)
                if repo is None:
                    raise RegistryError(f"ECR repository {name} exists and does not: run the command again") from exc
        if action == "exists":
            tags = aws.repository_tags(client, str(repo["repositoryArn"]))
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
            ecr.put_lifecycle_policy(client, name, aws_settings.ecr_keep_last)
        except Exception as exc:
            raise ecr.wrap_error(exc, f"ensure repository {name}") from exc
        return action, str(repo["repositoryUri"])


def create_request(settings: Settings) -> dict[str, Any]:
    """CreateRepository for the lab's repository: immutable tags, scan on push, the lab's tags."""
    return {
        "repositoryName": settings.image_name,
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "tags": [{"Key": k, "Value": v} for k, v in eksctl_manifests.lab_tags(settings.cluster_name, "ecr").items()],
    }


def api_digest(settings: Settings, seams: Seams, host: str, name: str, reference: str) -> str | None:
    """The digest ECR serves for NAME:REFERENCE (a tag, or a digest: an overlay pinned without a tag), asked
    through describe_images in the region HOST names. A host that is not a private ECR registry is asked
    through /v2/."""
    where = registry.ecr_host(host)
    if where is None:
        return v2_digest(seams, host, name, reference)
    client = (seams.ecr_client or ecr.ecr_client)(replace(settings, aws_region=where.region))
    if not reference.startswith("sha256:"):
        return ecr.describe_image(client, name, reference)
    try:
        details = client.describe_images(repositoryName=name, imageIds=[{"imageDigest": reference}])
    except Exception as exc:
        if ecr.error_code(exc) == "ImageNotFoundException":
            return None
        raise ecr.wrap_error(exc, f"describe image {name}@{reference}") from exc
    return str(details["imageDetails"][0]["imageDigest"]) if details.get("imageDetails") else None

"""The ECR emulator of the local target: MiniStack (default) or LocalStack in container lab-ecr, on
127.0.0.1:<emulator_port>, or the endpoint LAB_AWS_ENDPOINT_URL names. One port serves the ECR API and the
registry protocol.

Push and pull name: `localhost:<emulator_port>/<image>` for both (MiniStack's repository URIs are AWS-shaped,
ministack 1.5.33 services/ecr.py `_repo_uri`, but pushes go to localhost:PORT/<repo>); kind's nodes reach it as
they reach the lab's registry (hosts.toml). The repository is created through the ECR API before the push (scan on
push, immutable tags, lifecycle policy: lab.tools.ecr.ensure_repository); digests are read anonymously through
/v2/, which MiniStack serves (services/ecr.py `_v2_get_manifest`).
"""

from __future__ import annotations

from lab.core import names
from lab.core.context import Context
from lab.core.errors import RegistryError
from lab.registries.base import Registry, RegistryLink, Repositories
from lab.tools import ecr, registry

CONTAINER = names.ECR_CONTAINER
CONTAINER_PORT = 4566  # MiniStack's gateway port inside its container (LocalStack's too)


class EcrEmulatorRegistry(Registry):
    kind = "ecr"

    def repositories(self) -> Repositories:
        repo = f"localhost:{self.settings.emulator_port}/{self.settings.image_name}"
        return Repositories(repo, repo)

    def link(self) -> RegistryLink | None:
        """The lab's emulator container; an endpoint given by LAB_AWS_ENDPOINT_URL is the user's."""
        if self.settings.target != "local" or self.settings.aws_endpoint_url:
            return None
        return RegistryLink(f"localhost:{self.settings.emulator_port}", CONTAINER, CONTAINER_PORT)

    def check_reachable(self) -> None:
        """The emulator must answer (its registry API) before anything is built, as the local registry must."""
        host = self.repositories().host
        try:
            registry.ping(host)
        except RegistryError as exc:
            start = (
                f"start the emulator at {self.settings.emulator_endpoint} (settings.aws_endpoint_url)"
                if self.settings.aws_endpoint_url
                else f"`invoke up` starts it (container {CONTAINER})"
            )
            raise RegistryError(
                f"the ECR emulator does not answer at {host} ({exc.message})",
                hint=f"{start}; or push to the lab's registry instead: `invoke ship --registry local`",
            ) from exc

    def ensure_repository(self, ctx: Context, *, keep_last: int = ecr.DEFAULT_KEEP_LAST) -> object:
        """Create the repository through the emulator's ECR API, or bring it to the lab's settings. Returns
        "created" or "exists"; None in a dry run (nothing is asked)."""
        if ctx.dry_run:
            return None
        name = self.repositories().name
        if self.seams.ensure is not None:
            return self.seams.ensure(name)
        client = (self.seams.ecr_client or ecr.ecr_client)(self.settings)
        return ecr.ensure_repository(client, name, keep_last=keep_last)

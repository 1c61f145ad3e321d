"""localstack/Dockerfile.ministack + localstack/init_ecr.py: MiniStack as the lab's ECR, from the host with boto3
(lab/tools/ecr.py) and `docker push localhost:<port>/<repo>:<tag>`, as `invoke ship --registry ecr` uses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from servicekit import LABEL, ROOT, RUN_ID, build, cleaned_up, docker, run, state, volume, wait_http

from lab.components import services
from lab.core import versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.runner import SubprocessRunner
from lab.core.ui import UI
from lab.tools import ecr
from lab.tools.docker import parse_push_digest

pytestmark = pytest.mark.docker

CONTEXT = ROOT / "localstack"
HOOKED = "hooked-repo"


@pytest.fixture(scope="module")
def image(base_image: str) -> Iterator[str]:
    with cleaned_up():
        yield build(
            CONTEXT,
            "ministack",
            base_image,
            dockerfile=CONTEXT / "Dockerfile.ministack",
            build_args={"MINISTACK_VERSION": versions.MINISTACK_VERSION},
        )


@pytest.fixture(scope="module")
def emulator(image: str) -> Iterator[tuple[str, int]]:
    """MiniStack with the ready hook mounted and state persisted in a volume; yields (container, port)."""
    port = free_port()
    name = run(
        image,
        "ministack",
        port=port,
        container_port=4566,
        volumes=[
            (volume("ministack-state"), "/var/lib/ministack"),
            (str(services.ECR_HOOK), f"{services.ECR_HOOK_TARGET}:ro"),
        ],
        env={
            "PERSIST_STATE": "1",
            "STATE_DIR": "/var/lib/ministack",
            "LAB_ECR_REPOSITORIES": HOOKED,
            "LAB_ECR_KEEP_LAST": "7",
            "LAB_ECR_REGION": "us-east-1",
        },
    )
    wait_http(f"http://127.0.0.1:{port}/_ministack/ready", container=name, timeout=60)
    yield name, port
    docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def client(emulator: tuple[str, int]) -> Any:
    return ecr.ecr_client(Settings(emulator_port=emulator[1], aws_region="us-east-1"))


def small_image(base_image: str, ref: str, marker: str) -> None:
    """A labelled one-line image FROM the base (distinct digest per marker), tagged ref."""
    dockerfile = f"FROM {base_image}\nLABEL lab.marker={marker}\n"
    docker("build", "--quiet", "--force-rm", "--label", LABEL, "-t", ref, "-", input=dockerfile)


def test_ready_hook_created_the_repository(client: Any, emulator: tuple[str, int]) -> None:
    repo = client.describe_repositories(repositoryNames=[HOOKED])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    policy = json.loads(client.get_lifecycle_policy(repositoryName=HOOKED)["lifecyclePolicyText"])
    assert policy == ecr.lifecycle_policy(7)
    assert (
        "ready.d/init_ecr.py completed successfully"
        in docker("logs", emulator[0]).stderr + docker("logs", emulator[0]).stdout
    )


def test_repository_from_the_host_then_push_and_describe(
    client: Any, emulator: tuple[str, int], base_image: str
) -> None:
    _, port = emulator
    assert ecr.ensure_repository(client, "lab-app", keep_last=5) == "created"
    assert ecr.ensure_repository(client, "lab-app", keep_last=5) == "exists"  # idempotent
    repo = client.describe_repositories(repositoryNames=["lab-app"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert repo["repositoryUri"].endswith(".amazonaws.com/lab-app")  # AWS-shaped: push via localhost instead
    rules = json.loads(client.get_lifecycle_policy(repositoryName="lab-app")["lifecyclePolicyText"])["rules"]
    assert rules == [
        {
            "rulePriority": 1,
            "description": "keep the last 5 images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5},
            "action": {"type": "expire"},
        }
    ]

    tag = f"abc1234-{RUN_ID}"
    ref = f"localhost:{port}/lab-app:{tag}"
    small_image(base_image, ref, "one")
    pushed = parse_push_digest(docker("push", ref).stdout)
    assert pushed.startswith("sha256:")
    assert ecr.describe_image(client, "lab-app", tag) == pushed
    assert ecr.describe_image(client, "lab-app", "no-such-tag") is None

    # IMMUTABLE: the same tag with other content is refused (the lab's tags are unique, so it never does this).
    other = f"localhost:{port}/lab-app:{tag}"
    small_image(base_image, other, "two")
    refused = docker("push", other, check=False)
    assert refused.returncode != 0
    assert ecr.describe_image(client, "lab-app", tag) == pushed


def test_push_to_a_missing_repository_is_refused(emulator: tuple[str, int], base_image: str) -> None:
    _, port = emulator
    ref = f"localhost:{port}/never-created:{RUN_ID}"
    small_image(base_image, ref, "missing")
    proc = docker("push", ref, check=False)
    assert proc.returncode != 0
    assert "name unknown" in (proc.stdout + proc.stderr).lower()


def test_authorization_token_decodes(client: Any) -> None:
    user, password, endpoint = ecr.authorization(client)
    assert user == "AWS" and password
    assert endpoint.startswith("https://")


def test_images_survive_a_restart(client: Any, emulator: tuple[str, int], base_image: str) -> None:
    name, port = emulator
    ecr.ensure_repository(client, "persisted")
    tag = f"keep-{RUN_ID}"
    ref = f"localhost:{port}/persisted:{tag}"
    small_image(base_image, ref, "persisted")
    pushed = parse_push_digest(docker("push", ref).stdout)
    docker("restart", "--time", "20", name)
    wait_http(f"http://127.0.0.1:{port}/_ministack/ready", container=name, timeout=60)
    assert ecr.describe_image(client, "persisted", tag) == pushed
    assert state(name)["Config"]["User"] == "10001:10001"  # type: ignore[index]


def test_ensure_ecr_emulator_through_the_lab(image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab's step with the real Runner: container, ready wait, repository; then `down` removes it."""
    if docker("container", "inspect", services.ECR_CONTAINER, check=False).returncode == 0:
        pytest.skip(f"a container named {services.ECR_CONTAINER} exists (a running lab?): not touching it")
    if docker("volume", "inspect", services.ECR_STATE_VOLUME, check=False).returncode == 0:
        pytest.skip(f"a volume named {services.ECR_STATE_VOLUME} exists (a lab's data?): not touching it")
    monkeypatch.setattr(versions, "MINISTACK_IMAGE", image)
    cluster = f"itest-{RUN_ID}"
    settings = Settings(state_dir=tmp_path / ".lab", emulator_port=free_port(), cluster_name=cluster)
    ctx = Context(settings, SubprocessRunner(), UI(quiet=True))
    with cleaned_up(f"gitops-lab.cluster={cluster}"):
        assert services.ensure_ecr_emulator(ctx, keep_last=3) == settings.emulator_endpoint
        client = ecr.ecr_client(settings)
        repo = client.describe_repositories(repositoryNames=[settings.image_name])["repositories"][0]
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert services.ensure_ecr_emulator(ctx, keep_last=3) == settings.emulator_endpoint
        assert [p.note for p in ctx.ui.phases][-2:] == ["reused", "exists"]
        removed = services.delete_services(ctx, volumes=True)
        assert removed == [services.ECR_CONTAINER, f"volume {services.ECR_STATE_VOLUME}"]

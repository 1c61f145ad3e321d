"""Shared fixtures: real Docker, a real registry (Debian's docker-registry), MiniStack; the tier guard.

Tiers (tests/tiers.py): a test marked ``integration`` runs real git / ``kubectl kustomize`` and needs no Docker;
``docker`` needs a Docker engine; ``e2e`` a cluster. Any other test is a unit test and may start none of git,
kubectl, docker or kind (the hook wrappers below fail it if it does). Docker tests: where no Docker engine answers,
or Docker has no base image to build from (LAB_BASE_IMAGE, else app/Dockerfile's default; tests/baseimage.py), they
are skipped with the reason, unless ``LAB_REQUIRE_DOCKER=1`` (set by CI) turns that skip into a failure: in CI they
must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import baseimage
import pytest
import tiers
from localservers import free_port, serve_registry, wait_for_port

# Fails any test whose boto3/botocore call would leave the loopback (no real AWS, ever).
pytest_plugins = ["aws_guard", "fakes.plugin"]  # fakes.plugin: the unscripted_commands_succeed marker

ROOT = Path(__file__).resolve().parent.parent


# A test without a tier mark (integration, docker, e2e) is a unit test: in its setup, call and teardown it may start
# no git, kubectl, docker or kind (tests/tiers.py); one that does fails, saying how to fake the tool or which mark to
# add. (A refused start raises PermissionError in the test; code that swallows it still fails here.)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers.mark_by_fixtures(items)  # a test using a real server process (gunicorn) is an integration test


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from tiers.guard_phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from tiers.guard_phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    return (yield from tiers.guard_phase(item))


def require_or_skip(reason: str) -> None:
    """Skip, or fail when the environment says this test must run (CI)."""
    if os.environ.get("LAB_REQUIRE_DOCKER") == "1":
        pytest.fail(f"LAB_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    """A docker SDK client to a daemon that answers, or a skip (a failure in CI)."""
    try:
        import docker

        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as exc:
        require_or_skip(f"no Docker engine reachable ({exc.__class__.__name__}: {exc})")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: object) -> str:
    """The base image the Dockerfiles build FROM: LAB_BASE_IMAGE, else app/Dockerfile's default; it must exist
    locally (nothing is pulled; see tests/baseimage.py)."""

    def present(name: str) -> bool:
        try:
            docker_client.images.get(name)  # type: ignore[attr-defined]
        except Exception:
            return False
        return True

    name, why = baseimage.choose(os.environ, present)
    if name is None:
        require_or_skip(why)
    assert name is not None
    return name


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real CNCF distribution registry (Debian's docker-registry) on 127.0.0.1; yields ``host:port``."""
    binary = shutil.which("docker-registry")
    if binary is None:
        require_or_skip("docker-registry is not installed (apt-get install docker-registry)")
    with serve_registry(binary, tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture(scope="session")
def ministack_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """MiniStack (ECR API + registry on one port) on 127.0.0.1:<free port>, started from this venv and stopped by
    its PID; yields the port."""
    import sys

    import requests

    binary = Path(sys.executable).parent / "ministack"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: ministack is a test dependency (pip install -e '.[test]')")
    port = free_port()
    tmp = tmp_path_factory.mktemp("ministack")
    env = {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "DOCKER_HOST": f"unix://{tmp}/no-docker.sock",  # no k3s for its EKS, no reaping of containers
        "LOG_LEVEL": "WARNING",
        "TMPDIR": str(tmp),
    }
    log = (tmp / "ministack.log").open("w")
    proc = subprocess.Popen([str(binary)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    try:
        wait_for_port(port, timeout=30)
        deadline = time.monotonic() + 30
        while requests.get(f"http://127.0.0.1:{port}/_ministack/ready", timeout=2).status_code != 200:
            if time.monotonic() > deadline:
                raise AssertionError(f"MiniStack not ready: {(tmp / 'ministack.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()

"""lab/images/registry: Debian's docker-registry (distribution 2.8) built FROM the base image, run as the lab
runs it (127.0.0.1 port, named volume): push, pull by digest, delete, data kept across containers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from conftest import free_port
from servicekit import LABEL, ROOT, RUN_ID, build, cleaned_up, docker, run, volume, wait_http

from lab.core import versions
from lab.tools.docker import parse_push_digest

pytestmark = pytest.mark.docker

CONTEXT = ROOT / "lab" / "images" / "registry"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="module")
def image(base_image: str) -> Iterator[str]:
    with cleaned_up():
        yield build(CONTEXT, "registry", base_image, build_args={"REGISTRY_SERIES": versions.REGISTRY_SERIES})


@pytest.fixture(scope="module")
def data_volume(image: str) -> str:
    return volume("registry-data")


@pytest.fixture
def registry(image: str, data_volume: str) -> Iterator[tuple[str, str]]:
    """A running registry container; yields (container, host:port)."""
    port = free_port()
    name = run(
        image,
        f"registry-{port}",
        port=port,
        container_port=5000,
        volumes=[(data_volume, "/var/lib/docker-registry")],
    )
    wait_http(f"http://127.0.0.1:{port}/v2/", container=name, timeout=30)
    try:
        yield name, f"localhost:{port}"
    finally:
        docker("rm", "-f", name, check=False)


def test_serves_the_v2_api_unprivileged(registry: tuple[str, str]) -> None:
    name, host = registry
    resp = requests.get(f"http://{host.replace('localhost', '127.0.0.1')}/v2/", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert docker("exec", name, "id", "-u").stdout.strip() != "0"
    assert docker("exec", name, "dpkg-query", "-W", "-f=${Version}", "docker-registry").stdout.startswith(
        versions.REGISTRY_SERIES + "."
    )


def test_push_then_pull_by_digest_then_delete(registry: tuple[str, str], base_image: str) -> None:
    _, host = registry
    ref = f"{host}/itest/base:{RUN_ID}"
    docker("tag", base_image, ref)
    try:
        digest = parse_push_digest(docker("push", ref).stdout)
    finally:
        docker("rmi", ref, check=False)  # untag only; the base image stays
    assert digest.startswith("sha256:") and len(digest) == 71

    by_digest = f"{host}/itest/base@{digest}"
    docker("pull", by_digest)
    try:
        assert (
            docker("image", "inspect", "--format", "{{.Id}}", by_digest).stdout.strip()
            == docker("image", "inspect", "--format", "{{.Id}}", base_image).stdout.strip()
        )
    finally:
        docker("rmi", by_digest, check=False)

    api = f"http://{host.replace('localhost', '127.0.0.1')}/v2/itest/base/manifests"
    head = requests.head(f"{api}/{RUN_ID}", headers={"Accept": MANIFEST_V2}, timeout=5)
    assert head.status_code == 200 and head.headers["Docker-Content-Digest"] == digest
    # delete.enabled: true in the image's config.yml
    assert requests.delete(f"{api}/{digest}", timeout=5).status_code == 202
    assert requests.head(f"{api}/{RUN_ID}", headers={"Accept": MANIFEST_V2}, timeout=5).status_code == 404


def test_images_survive_a_new_container_on_the_same_volume(image: str, data_volume: str, base_image: str) -> None:
    first_port = free_port()
    first = run(
        image, "reg-first", port=first_port, container_port=5000, volumes=[(data_volume, "/var/lib/docker-registry")]
    )
    wait_http(f"http://127.0.0.1:{first_port}/v2/", container=first, timeout=30)
    ref = f"localhost:{first_port}/itest/keep:{RUN_ID}"
    docker("tag", base_image, ref)
    try:
        digest = parse_push_digest(docker("push", ref).stdout)
    finally:
        docker("rmi", ref, check=False)
    docker("rm", "-f", first)

    port = free_port()
    second = run(
        image, "reg-second", port=port, container_port=5000, volumes=[(data_volume, "/var/lib/docker-registry")]
    )
    wait_http(f"http://127.0.0.1:{port}/v2/", container=second, timeout=30)
    head = requests.head(
        f"http://127.0.0.1:{port}/v2/itest/keep/manifests/{RUN_ID}", headers={"Accept": MANIFEST_V2}, timeout=5
    )
    assert head.status_code == 200 and head.headers["Docker-Content-Digest"] == digest


def test_build_refuses_another_distribution_series(base_image: str) -> None:
    proc = docker(
        "build",
        "--quiet",
        "--force-rm",
        "--label",
        LABEL,
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        "--build-arg",
        "REGISTRY_SERIES=9.9",
        str(CONTEXT),
        check=False,
        timeout=900,
    )
    assert proc.returncode != 0
    assert "is not in the 9.9.x series" in proc.stdout + proc.stderr


def test_the_local_registry_serves_what_was_pushed_to_ships_checks(registry: tuple[str, str], base_image: str) -> None:
    """lab.registries.LocalRegistry against the real registry: it answers, a pushed tag is taken, the digest
    docker push reported is the one it serves, and another digest is refused."""
    from lab.core.config import Settings
    from lab.core.errors import RegistryError
    from lab.registries import LocalRegistry

    _, host = registry
    reg = LocalRegistry(Settings(registry=host, image_name=f"itest/ship-{RUN_ID}"))
    reg.check()
    reg.check_reachable()
    ref = f"{reg.repositories().push}:t1"
    docker("tag", base_image, ref)
    try:
        digest = parse_push_digest(docker("push", ref).stdout)
    finally:
        docker("rmi", ref, check=False)
    assert reg.tag_taken("t1") and not reg.tag_taken("t2")
    assert reg.digest(reg.repositories().name, "t1") == digest
    reg.verify_push("t1", digest)
    with pytest.raises(RegistryError, match=f"serves {digest} for itest/ship-{RUN_ID}:t1"):
        reg.verify_push("t1", "sha256:" + "0" * 64)

"""The app image, for real: build app/Dockerfile, run it like the Deployment does, push and pull it by digest.

The image is built once per module (the base_image fixture's image as BASE_IMAGE: nothing is pulled). Containers run
with a read-only root filesystem, a tmpfs at /tmp, no capabilities, and ports on 127.0.0.1 only. Everything
created is labelled ``gitops-lab.test=1`` and removed at the end.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import pytest

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "app"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
LABEL = {"gitops-lab.test": "1"}
RUN_ID = uuid.uuid4().hex[:8]
BUILD_ARGS = {
    "APP_COMMIT": "0123456789abcdef0123456789abcdef01234567",
    "APP_IMAGE_TAG": f"0123456-{RUN_ID}",
    "APP_BUILD_TIME": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "APP_SOURCE": "https://git.example.invalid/gitops-lab.git",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(port: int, path: str, timeout: float = 5.0, method: str = "GET") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def get_json(port: int, path: str) -> tuple[int, Any]:
    status, body = request(port, path)
    return status, json.loads(body)


def build(client: Any, path: Path, tag: str, **buildargs: str) -> tuple[Any, str]:
    """Build with the legacy builder; returns (image, build log). Raises docker.errors.BuildError."""
    image, logs = client.images.build(
        path=str(path), dockerfile="Dockerfile", tag=tag, buildargs=buildargs, labels=LABEL, rm=True, forcerm=True
    )
    return image, "".join(chunk.get("stream", "") for chunk in logs)


def remove_built_from(client: Any, base_id: str) -> None:
    """Remove ``base_id`` and every image built on it (the legacy builder leaves each stage as an untagged image)."""
    parents = {img.id: img.attrs.get("Parent", "") for img in client.images.list(all=True)}

    def descends(image_id: str) -> bool:
        for _ in range(500):
            if not image_id:
                return False
            if image_id == base_id:
                return True
            image_id = parents.get(image_id, "")
        return False

    ours = [image_id for image_id in parents if image_id != base_id and descends(image_id)]
    leaves = [image_id for image_id in ours if not any(parents.get(other) == image_id for other in ours)]
    for image_id in [*leaves, base_id]:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(image_id, force=True)  # also prunes its untagged parents


@pytest.fixture(scope="module")
def image(docker_client: Any, base_image: str) -> Iterator[Any]:
    tag = f"gitops-lab-app-test:{RUN_ID}"
    built, _ = build(docker_client, APP_DIR, tag, BASE_IMAGE=base_image, **BUILD_ARGS)
    yield built
    docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def run_container(docker_client: Any, image: Any) -> Iterator[Callable[..., tuple[Any, int]]]:
    """Start the image like the Deployment does; returns (container, host port) once /health answers."""
    containers: list[Any] = []

    def run(**env: str) -> tuple[Any, int]:
        port = free_port()
        container = docker_client.containers.run(
            image.id,
            detach=True,
            environment=env,
            ports={"8000/tcp": ("127.0.0.1", port)},
            read_only=True,
            tmpfs={"/tmp": "size=16m"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            labels=LABEL,
        )
        containers.append(container)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            container.reload()
            if container.status == "exited":
                raise AssertionError(f"container exited: {container.logs().decode()[-2000:]}")
            try:
                if request(port, "/health", timeout=1)[0] == 200:
                    return container, port
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"/health did not answer within 30 s: {container.logs().decode()[-2000:]}")

    yield run
    for container in containers:
        container.remove(force=True)


@pytest.fixture(scope="module")
def app_container(run_container: Callable[..., tuple[Any, int]]) -> tuple[Any, int]:
    return run_container(APP_ENV="staging", PROMETHEUS_MULTIPROC_DIR="/tmp/prometheus", GUNICORN_WORKERS="2")


def test_health_ready_and_version_carry_the_build_args(app_container: tuple[Any, int]) -> None:
    _, port = app_container
    status, health = get_json(port, "/health")
    assert (status, health["status"], health["check"]) == (200, "ok", "liveness")
    status, ready = get_json(port, "/ready")
    assert (status, ready["status"]) == (200, "ready")
    status, version = get_json(port, "/version")
    assert status == 200
    assert version == {
        "version": "0.1.0",
        "commit": BUILD_ARGS["APP_COMMIT"],
        "image_tag": BUILD_ARGS["APP_IMAGE_TAG"],
        "build_time": BUILD_ARGS["APP_BUILD_TIME"],
        "environment": "staging",  # the image says dev; the runtime env var (the Deployment's) wins
    }


def test_items_round_trip_in_the_container(app_container: tuple[Any, int]) -> None:
    _, port = app_container
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:  # one keep-alive connection: the same worker, so the same in-memory store
        conn.request(
            "POST",
            "/api/v1/items",
            body=b'{"name": "bolt", "quantity": 4}',
            headers={"Content-Type": "application/json"},
        )
        created = conn.getresponse()
        item = json.loads(created.read())
        assert created.status == 201
        conn.request("GET", created.headers["Location"])
        fetched = conn.getresponse()
        assert (fetched.status, json.loads(fetched.read())) == (200, item)
        conn.request(
            "POST",
            "/api/v1/items",
            body=b'{"name": "bolt", "quantity": true}',
            headers={"Content-Type": "application/json"},
        )
        invalid = conn.getresponse()
        assert (invalid.status, invalid.headers["Content-Type"]) == (422, "application/problem+json")
        invalid.read()
    finally:
        conn.close()


def test_oci_labels(image: Any) -> None:
    labels = image.labels
    assert labels["org.opencontainers.image.revision"] == BUILD_ARGS["APP_COMMIT"]
    assert labels["org.opencontainers.image.version"] == BUILD_ARGS["APP_IMAGE_TAG"]
    assert labels["org.opencontainers.image.created"] == BUILD_ARGS["APP_BUILD_TIME"]
    assert labels["org.opencontainers.image.source"] == BUILD_ARGS["APP_SOURCE"]
    assert labels["org.opencontainers.image.title"] == "gitops-lab-app"
    config = image.attrs["Config"]
    assert config["User"] == "10001:10001"
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["Cmd"] == ["gunicorn", "--config", "/srv/app/gunicorn.conf.py", "app:create_app()"]
    assert f"APP_COMMIT={BUILD_ARGS['APP_COMMIT']}" in config["Env"]


def rerun_steps(log: str) -> list[str]:
    """The instructions a classic-builder log shows as run (not `Using cache`), FROM and the global ARG aside."""
    steps = re.split(r"^Step \d+/\d+ : ", log, flags=re.MULTILINE)[1:]
    ran = [step.splitlines()[0] for step in steps if " ---> Using cache" not in step]
    return [line for line in ran if not line.startswith(("FROM ", "ARG BASE_IMAGE"))]


def test_a_build_of_a_new_commit_reruns_only_the_modules_and_one_arg_label_env(
    docker_client: Any, image: Any, base_image: str, tmp_path: Path
) -> None:
    """What ship builds each time (new code, commit, tag, time): the app's modules (copied and compiled in the
    builder, copied into the runtime stage) and one ARG, one LABEL, one ENV step run; the venv and the fixed
    metadata (USER, EXPOSE, STOPSIGNAL, HEALTHCHECK, CMD) come from the cache the module's build left."""
    context = tmp_path / "app"
    shutil.copytree(APP_DIR, context, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    with (context / "items.py").open("a") as f:
        f.write(f"# another commit {RUN_ID}\n")
    tag = f"gitops-lab-app-test:{RUN_ID}-next"
    args = {**BUILD_ARGS, "APP_COMMIT": "f" * 40, "APP_IMAGE_TAG": f"fffffff-{RUN_ID}"}
    try:
        built, log = build(docker_client, context, tag, BASE_IMAGE=base_image, **args)
        keywords = [line.split(" ", 1)[0] for line in rerun_steps(log)]
        # the last LABEL: this test's own `labels=` (a --label option: one more step)
        assert keywords == ["COPY", "RUN", "COPY", "ARG", "LABEL", "ENV", "LABEL"], rerun_steps(log)
        assert built.labels["org.opencontainers.image.version"] == args["APP_IMAGE_TAG"]
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(tag, force=True)


def test_runs_as_non_root_on_a_read_only_root(app_container: tuple[Any, int]) -> None:
    container, _ = app_container
    code, output = container.exec_run(["cat", "/proc/1/status"])
    assert code == 0
    ids = {
        line.split(":")[0]: line.split()[1:] for line in output.decode().splitlines() if line[:4] in ("Uid:", "Gid:")
    }
    assert ids == {"Uid": ["10001"] * 4, "Gid": ["10001"] * 4}
    code, output = container.exec_run(["cat", "/proc/1/cmdline"])
    argv = output.split(b"\0")
    assert argv[0].startswith(b"/opt/venv/bin/python") and argv[1] == b"/opt/venv/bin/gunicorn", argv
    code, output = container.exec_run(["touch", "/srv/app/x"])
    assert code != 0 and b"Read-only file system" in output


def test_no_build_tools_or_caches_in_the_final_image(app_container: tuple[Any, int]) -> None:
    container, _ = app_container
    script = (
        "import importlib.util, os, shutil, glob\n"
        "found = [t for t in ('gcc', 'cc', 'make', 'pip', 'pip3') if shutil.which(t)]\n"
        "paths = ('/build', '/opt/build-venv', '/root/.cache', '/opt/venv/bin/pip')\n"
        "found += [p for p in paths if os.path.exists(p)]\n"
        "found += [m for m in ('pip', 'setuptools', 'wheel') if importlib.util.find_spec(m)]\n"
        "for top in ('/opt', '/srv', '/root', '/tmp', '/home'):\n"
        "    found += glob.glob(top + '/**/*.whl', recursive=True) + glob.glob(top + '/**/*.pem', recursive=True)\n"
        "print(found)\n"
    )
    code, output = container.exec_run(["python3", "-c", script], user="0")
    assert code == 0, output
    assert output.decode().strip() == "[]"


def test_metrics_add_up_over_gunicorn_workers(app_container: tuple[Any, int]) -> None:
    _, port = app_container

    def version_count() -> float:
        text = request(port, "/metrics")[1].decode()
        prefix = 'http_requests_total{method="GET",route="/version",status="200"} '
        values = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
        return values[0] if values else 0.0

    before = version_count()
    for _ in range(20):  # new connection each time: spread over both workers
        assert request(port, "/version")[0] == 200
    assert version_count() - before == 20


def test_sigterm_drains_and_exits_0(docker_client: Any, run_container: Callable[..., tuple[Any, int]]) -> None:
    drain, grace = 2.0, 10
    container, port = run_container(
        DRAIN_SECONDS=str(drain), GUNICORN_GRACEFUL_TIMEOUT=str(grace), APP_DEBUG_ENDPOINTS="1"
    )
    slow: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            slow["result"] = request(port, "/debug/slow?seconds=3.5", timeout=20)
        except OSError as exc:
            slow["error"] = exc

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.3)
    sent_at = time.monotonic()
    container.kill(signal="SIGTERM")
    seen: list[tuple[int, int]] = []
    while time.monotonic() < sent_at + drain - 0.5 and len(seen) < 30:
        seen.append((request(port, "/ready", timeout=2)[0], request(port, "/health", timeout=2)[0]))
        time.sleep(0.1)
    assert seen and seen[-1] == (503, 200), seen
    assert all(health == 200 for _, health in seen)
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert "error" not in slow, slow
    assert slow["result"][0] == 200
    result = container.wait(timeout=drain + grace + 10)
    assert result["StatusCode"] == 0
    assert time.monotonic() - sent_at < drain + grace
    logs = [json.loads(line) for line in container.logs(stdout=True, stderr=False).decode().splitlines()]
    messages = [entry["message"] for entry in logs]
    drain_over = next(i for i, m in enumerate(messages) if m.startswith("drain over"))
    assert messages.index("GET /debug/slow 200") > drain_over  # it was in flight when the stop began
    assert messages[-1] == "Shutting down: Master"


def test_push_and_pull_by_digest(docker_client: Any, image: Any, registry: str) -> None:
    repository = f"{registry}/gitops-lab-app"
    tag = f"test-{RUN_ID}"
    assert image.tag(repository, tag=tag)
    try:
        digest = None
        for event in docker_client.images.push(repository, tag=tag, stream=True, decode=True):
            assert "error" not in event, event
            digest = event.get("aux", {}).get("Digest", digest)
        assert digest is not None and digest.startswith("sha256:")

        # The registry serves a manifest whose config is this image (its id is the config digest).
        port = registry.rsplit(":", 1)[1]
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
        try:
            accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
            conn.request("GET", f"/v2/gitops-lab-app/manifests/{digest}", headers={"Accept": accept})
            response = conn.getresponse()
            manifest = json.loads(response.read())
            assert response.status == 200
            assert response.headers["Docker-Content-Digest"] == digest
        finally:
            conn.close()
        assert manifest["config"]["digest"] == image.id

        pulled = docker_client.images.pull(f"{repository}@{digest}")
        assert pulled.id == image.id
        assert f"{repository}@{digest}" in docker_client.images.get(image.id).attrs["RepoDigests"]
    finally:
        # Untag only: the image stays for the other tests. Removing the digest reference can take the
        # repository's last tag with it, hence the suppress.
        for ref in (f"{repository}@{digest}" if digest else None, f"{repository}:{tag}"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                if ref:
                    docker_client.images.remove(ref)


def test_extra_ca_cert_lets_pip_through_a_tls_intercepting_proxy(
    docker_client: Any, base_image: str, tmp_path: Path
) -> None:
    """A base image that trusts only the public CAs, like python:3.12-slim behind a proxy that re-signs TLS."""
    if not HOST_CA.is_file():
        pytest.skip(f"{HOST_CA} not found: no host CA bundle to pass as EXTRA_CA_CERT")
    untrusting = f"gitops-lab-base-public-cas:{RUN_ID}"
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    # Rebuild the bundle from Debian's CA list only, dropping whatever was added by hand (the host's CA).
    (base_dir / "Dockerfile").write_text(f"FROM {base_image}\nRUN update-ca-certificates --fresh >/dev/null\n")
    untrusting_id = build(docker_client, base_dir, untrusting)[0].id
    context = tmp_path / "app"
    shutil.copytree(APP_DIR, context, ignore=shutil.ignore_patterns("__pycache__"))
    tags = [f"gitops-lab-app-ca-test:{RUN_ID}-{n}" for n in range(2)]
    try:
        try:
            build(docker_client, context, tags[0], BASE_IMAGE=untrusting)
            intercepted = False  # this network does not re-sign TLS: nothing to prove in the negative
        except docker.errors.BuildError as exc:
            log = "".join(chunk.get("stream", "") + chunk.get("error", "") for chunk in exc.build_log)
            assert "CERTIFICATE_VERIFY_FAILED" in log, log[-3000:]
            intercepted = True

        shutil.copy(HOST_CA, context / "certs" / "host-ca.pem")
        built, log = build(docker_client, context, tags[1], BASE_IMAGE=untrusting, EXTRA_CA_CERT="host-ca.pem")
        assert "pip trusts the extra CA certificate host-ca.pem" in log
        assert "Successfully installed" in log
        # the certificate stays in the builder stage
        output = docker_client.containers.run(
            built.id,
            ["sh", "-c", "ls /build /opt/build-venv 2>&1; grep -rl 'BEGIN CERT' /srv /opt || true"],
            remove=True,
        ).decode()
        assert "No such file or directory" in output and "BEGIN" not in output and "/srv" not in output
        print(f"TLS interception on this network: {intercepted}")

        with pytest.raises(docker.errors.BuildError) as missing:
            build(docker_client, context, tags[0], BASE_IMAGE=untrusting, EXTRA_CA_CERT="missing.pem")
        log = "".join(chunk.get("stream", "") + chunk.get("error", "") for chunk in missing.value.build_log)
        assert "EXTRA_CA_CERT=missing.pem: no such file in app/certs/" in log
    finally:
        remove_built_from(docker_client, untrusting_id)


def test_builds_with_no_network_after_invoke_cache(docker_client: Any, base_image: str, tmp_path: Path) -> None:
    """`invoke cache`'s wheels step, for real (the base image's Python asked in a container without network, pip
    download from this machine), then `docker build --network none`: the image builds and has the pinned packages.
    The same build without the wheels fails, so the network really was off."""
    from lab.core.config import Settings
    from lab.core.context import Context
    from lab.core.runner import SubprocessRunner
    from lab.core.ui import UI
    from lab.steps import app_image

    root = tmp_path / "app-repo"
    shutil.copytree(APP_DIR, root / "app", ignore=shutil.ignore_patterns("__pycache__", "*.whl"))
    ctx = Context(Settings(state_dir=tmp_path / ".lab", base_image=base_image), SubprocessRunner(), UI(quiet=True))
    assert app_image.cache_wheels(ctx, root) is not None
    context = app_image.build_context(ctx, root)
    assert context.wheels > 0 and context.path != root / "app"

    tag = f"gitops-lab-app-offline-test:{RUN_ID}"

    def build_offline(path: Path) -> tuple[Any, str]:
        image, logs = docker_client.images.build(
            path=str(path),
            dockerfile="Dockerfile",
            tag=tag,
            buildargs={"BASE_IMAGE": base_image, **BUILD_ARGS},
            labels=LABEL,
            network_mode="none",
            nocache=True,  # a cached `pip wheel` layer from an earlier online build would need no network either
            rm=True,
            forcerm=True,
        )
        return image, "".join(chunk.get("stream", "") for chunk in logs)

    try:
        with pytest.raises(docker.errors.BuildError):  # no wheels: pip needs its index, and there is no network
            build_offline(root / "app")
        with app_image.stage(ctx, context):
            built, log = build_offline(context.path)
        assert not context.path.exists(), "the build's copy of app/ is removed after it"
        assert "pip installs from the wheels in wheels/ only (no index)" in log, log[-3000:]
        pinned = dict(
            line.split("==") for line in (APP_DIR / "requirements.txt").read_text().splitlines() if "==" in line
        )
        script = "from importlib.metadata import version; print(version('flask'), version('gunicorn'))"
        output = docker_client.containers.run(built.id, ["python3", "-c", script], remove=True, network_mode="none")
        assert output.decode().split() == [pinned["flask"], pinned["gunicorn"]]
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(tag, force=True)

"""Helpers for the service-image integration tests: build an image once, run containers on 127.0.0.1 with free
ports, poll bounded, and clean up everything a test run created, found by its label."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = uuid.uuid4().hex[:10]
TEST_LABEL = "gitops-lab.test"
LABEL = f"{TEST_LABEL}={RUN_ID}"


def docker(
    *args: str, check: bool = True, timeout: float = 600, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, input=input, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def build(
    context: Path,
    name: str,
    base_image: str,
    *,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
) -> str:
    """Build ``gitops-lab-test/<name>:<run id>`` FROM base_image, labelled for cleanup; returns the tag."""
    tag = f"gitops-lab-test/{name}:{RUN_ID}"
    argv = ["build", "--quiet", "--force-rm", "-t", tag, "--label", LABEL, "--build-arg", f"BASE_IMAGE={base_image}"]
    for key, value in (build_args or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    if dockerfile is not None:
        argv += ["-f", str(dockerfile)]
    docker(*argv, str(context), timeout=900)
    return tag


def volume(name: str) -> str:
    full = f"gitops-lab-test-{name}-{RUN_ID}"
    docker("volume", "create", "--label", LABEL, full)
    return full


def run(
    image: str,
    name: str,
    *,
    port: int,
    container_port: int,
    volumes: Sequence[tuple[str, str]] = (),
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> str:
    """Start a labelled container publishing 127.0.0.1:port; returns its name."""
    full = f"gitops-lab-test-{name}-{RUN_ID}"
    argv = ["run", "-d", "--name", full, "--label", LABEL, "-p", f"127.0.0.1:{port}:{container_port}"]
    for src, dst in volumes:
        argv += ["-v", f"{src}:{dst}"]
    for key, value in (env or {}).items():
        argv += ["-e", f"{key}={value}"]
    if user:
        argv += ["--user", user]
    docker(*argv, image)
    return full


def wait_http(
    url: str,
    ok: Callable[[requests.Response], bool] = lambda r: r.status_code == 200,
    *,
    timeout: float = 60.0,
    container: str | None = None,
) -> requests.Response:
    """Poll url until ok(response); bounded. On timeout the container's logs are in the failure message."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            resp = requests.get(url, timeout=2)
            if ok(resp):
                return resp
            last = f"HTTP {resp.status_code}: {resp.text[:200]}"
        except requests.RequestException as exc:
            last = exc.__class__.__name__
        time.sleep(0.2)
    logs = docker("logs", "--tail", "30", container, check=False).stderr if container else ""
    raise AssertionError(f"{url} not ready after {timeout}s (last: {last})\n{logs}")


def state(container: str) -> dict[str, object]:
    return json.loads(docker("container", "inspect", container).stdout)[0]


def cleanup(label: str = LABEL) -> None:
    """Remove every container, volume and image carrying ``label`` (key=value)."""
    names = docker("ps", "-aq", "--filter", f"label={label}", check=False).stdout.split()
    if names:
        docker("rm", "-f", *names, check=False)
    vols = docker("volume", "ls", "-q", "--filter", f"label={label}", check=False).stdout.split()
    if vols:
        docker("volume", "rm", "-f", *vols, check=False)
    images = docker("images", "-q", "--filter", f"label={label}", check=False).stdout.split()
    if images:
        docker("rmi", "-f", *sorted(set(images)), check=False)


@contextmanager
def cleaned_up(*labels: str) -> Iterator[None]:
    try:
        yield
    finally:
        for label in (LABEL, *labels):
            cleanup(label)

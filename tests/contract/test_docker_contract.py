"""The Docker fake's contract: every case in docker_cases.py runs once against the real daemon and once against
tests/fakes/docker.py's DockerFake (set up with this host's facts: its version, API, cgroup version, memory, and the
base image), and what lab/tools parsed must be the same. IDs are compared by where they appear (the fake makes its
own), not by value. Real objects: unique names, the contract label, removed in `finally` (only those)."""

from __future__ import annotations

import difflib
import json
import re
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from docker_cases import CASES, CONTRACT_LABEL, Side
from fakes import FakeRunner
from fakes.docker import DockerFake

from lab.core.runner import SubprocessRunner

pytestmark = [pytest.mark.docker, pytest.mark.contract]

_ID = re.compile(r"(sha256:)?[0-9a-f]{64}")


def normalise(obj: Any, ids: dict[str, str] | None = None) -> Any:
    """OBJ with every image/container ID replaced by <id N>, N in order of first appearance."""
    ids = {} if ids is None else ids
    if isinstance(obj, str) and _ID.fullmatch(obj):
        return ids.setdefault(obj, f"<id {len(ids)}>")
    if isinstance(obj, dict):
        return {normalise(k, ids): normalise(v, ids) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [normalise(v, ids) for v in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return {k: normalise(getattr(obj, k), ids) for k in obj.__dataclass_fields__}
    return obj


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)


def clean_up(side: Side) -> None:
    """Remove what SIDE made on the real daemon: its containers, then its image tags (an untag never removes an
    image something else tags), then images, volumes and networks carrying this run's label. Nothing else."""
    label = f"label={CONTRACT_LABEL}={side.run_id}"
    containers = _docker("ps", "-aq", "--filter", label).stdout.split()
    containers += [n for n in side.made.get("container", []) if n.startswith(side.prefix)]
    if containers:
        _docker("rm", "-f", "-v", *containers)
    for tag in side.made.get("image", []):
        if side.prefix in tag:
            _docker("image", "rm", tag)
    for image in dict.fromkeys(_docker("image", "ls", "-q", "--no-trunc", "--filter", label).stdout.split()):
        _docker("image", "rm", image)
    for volume in _docker("volume", "ls", "-q", "--filter", label).stdout.split():
        _docker("volume", "rm", volume)
    for network in _docker("network", "ls", "-q", "--filter", label).stdout.split():
        _docker("network", "rm", network)


def two_free_ports() -> tuple[int, int]:
    """Two consecutive ports free on 127.0.0.1 (bounded search)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port, port + 1
    raise AssertionError("no two consecutive free ports on 127.0.0.1")


def fake_like_this_host(docker_client: Any, base_image: str) -> DockerFake:
    """A DockerFake holding this daemon's facts (read through the Docker SDK, not through the code under test) and
    the base image, with its real ID and labels."""
    fake = DockerFake()
    version = docker_client.version()
    info = docker_client.info()
    fake.server_version = str(version["Version"])
    fake.api_version = str(version["ApiVersion"])
    fake.arch = str(version["Arch"])
    fake.cgroup = str(info.get("CgroupVersion") or "")
    fake.mem_total = int(info["MemTotal"])
    fake.insecure_registries = list((info.get("RegistryConfig") or {}).get("InsecureRegistryCIDRs") or [])
    base = docker_client.images.get(base_image)
    fake.images[base_image] = {"Id": base.id, "Config": {"Labels": dict(base.labels or {})}}
    return fake


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_fake_answers_as_the_real_daemon(
    name: str, docker_client: Any, base_image: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    case = CASES[name]
    registry = request.getfixturevalue("registry") if case.needs_registry else None
    run_id = uuid.uuid4().hex[:10]
    prefix = f"lab-contract-{run_id}"
    ports = two_free_ports()
    (tmp_path / "real").mkdir()
    (tmp_path / "fake").mkdir()
    real_side = Side(SubprocessRunner(), None, prefix, run_id, tmp_path / "real", base_image, ports, registry)
    try:
        real = case.run(real_side)
    finally:
        clean_up(real_side)

    fake = fake_like_this_host(docker_client, base_image)
    runner = FakeRunner()
    runner.responders.append(fake)
    fake_side = Side(runner, fake, prefix, run_id, tmp_path / "fake", base_image, ports, registry)
    got = case.run(fake_side)

    assert set(fake.handled) == case.covers, (
        f"{name}: the case says it covers {sorted(case.covers)}, the fake answered {sorted(set(fake.handled))}"
    )
    want, have = (json.dumps(normalise(x), indent=1, sort_keys=True, default=str) for x in (real, got))
    diff = "\n".join(difflib.unified_diff(want.splitlines(), have.splitlines(), "real daemon", "fake", lineterm=""))
    assert have == want, f"{name}: the fake and the real daemon disagree\n{diff}"

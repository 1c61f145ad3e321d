"""The docker CLI: argv builders and output parsers. Every call goes through the Runner, so dry runs print
the exact commands and unit tests script them."""

from __future__ import annotations

import json
import platform as host_platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.core import names
from lab.core.errors import CommandFailed, DockerUnreachable, RegistryError, ToolNotFound
from lab.core.runner import Runner

DOCKER = "docker"
MANAGED_LABEL = names.MANAGED_LABEL
# `docker image save --platform` needs Engine API 1.48 (Docker 28.0) on the daemon: docs.docker.com
# reference/cli/docker/image/save ("API 1.48+"); an older daemon answers '"--platform" requires API version 1.48'.
SAVE_PLATFORM_API = (1, 48)
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
START_HINT = "start Docker (Docker Desktop, or `sudo systemctl start docker`)"
INSTALL_HINT = "install Docker: https://docs.docker.com/get-started/get-docker/"


def labels_for(component: str, cluster: str) -> dict[str, str]:
    """Labels on everything the lab creates, so `down` removes exactly those."""
    return {MANAGED_LABEL: "true", names.COMPONENT_LABEL: component, names.CLUSTER_LABEL: cluster}


def ping(runner: Runner) -> str:
    """The server version, or CommandFailed when no daemon answers."""
    res = runner.run(
        [DOCKER, "version", "--format", "{{.Server.Version}}"],
        hint=f"{START_HINT} and retry",
    )
    return res.stdout.strip()


def require_daemon(runner: Runner, *, retry: str) -> str:
    """The server version; DockerUnreachable, in the daemon's own words, when none answers (RETRY: the command to
    run again once it does). Without this, a command that only reads (`docker ps`, `docker inspect` with
    check=False) would take a daemon that is down for "nothing there"."""
    try:
        return ping(runner)
    except ToolNotFound as exc:
        raise ToolNotFound(DOCKER, hint=INSTALL_HINT) from exc
    except CommandFailed as exc:
        said = [line.strip() for line in exc.stderr_tail.splitlines() if line.strip()]
        raise DockerUnreachable(
            "Docker does not answer" + (f": {said[-1]}" if said else f" (`{exc.command}`: exit code {exc.code})"),
            hint=f"{START_HINT}, then `{retry}` again",
        ) from exc


def inspect_container(runner: Runner, name: str) -> dict[str, Any] | None:
    """`docker container inspect`, or None if there is no such container."""
    res = runner.run([DOCKER, "container", "inspect", name], check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return None
    data = json.loads(res.stdout)
    return data[0] if data else None


@dataclass(frozen=True)
class ContainerState:
    exists: bool
    running: bool = False
    labels: Mapping[str, str] | None = None
    networks: tuple[str, ...] = ()
    image: str = ""

    @property
    def managed(self) -> bool:
        return bool(self.labels) and self.labels.get(MANAGED_LABEL) == "true"  # type: ignore[union-attr]


def container_state(runner: Runner, name: str) -> ContainerState:
    data = inspect_container(runner, name)
    if data is None:
        return ContainerState(exists=False)
    return ContainerState(
        exists=True,
        running=bool(data.get("State", {}).get("Running")),
        labels=data.get("Config", {}).get("Labels") or {},
        networks=tuple((data.get("NetworkSettings", {}).get("Networks") or {}).keys()),
        image=data.get("Config", {}).get("Image", ""),
    )


def run_container(
    runner: Runner,
    *,
    name: str,
    image: str,
    labels: Mapping[str, str],
    ports: Sequence[tuple[str, int, int]] = (),
    network: str | None = None,
    volumes: Sequence[tuple[str, str]] = (),
    env: Mapping[str, str] | None = None,
    restart: str = "unless-stopped",
    command: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> str:
    """`docker run -d`. ports: (host_ip, host_port, container_port); host_ip should be 127.0.0.1."""
    argv = [DOCKER, "run", "-d", "--name", name, "--restart", restart]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    for host_ip, host_port, container_port in ports:
        argv += ["-p", f"{host_ip}:{host_port}:{container_port}"]
    if network:
        argv += ["--network", network]
    for src, dst in volumes:
        argv += ["-v", f"{src}:{dst}"]
    for key, value in (env or {}).items():
        argv += ["-e", f"{key}={value}"]
    argv += [*extra, image, *command]
    return runner.run(argv).stdout.strip()


def start_container(runner: Runner, name: str) -> None:
    runner.run([DOCKER, "start", name])


def remove_container(runner: Runner, name: str) -> bool:
    """Force-remove a container; False if it did not exist. `docker rm -f` exits 0 for a missing container too
    (the daemon's "No such container" goes to stderr): only the name it prints back says it removed one."""
    res = runner.run([DOCKER, "rm", "-f", name], check=False)
    return res.returncode == 0 and bool(res.stdout.strip()) and not runner.dry_run


def list_containers(runner: Runner, labels: Mapping[str, str]) -> list[str]:
    """Names of all containers (running or not) carrying every given label."""
    argv = [DOCKER, "ps", "-a", "--format", "{{.Names}}"]
    for key, value in labels.items():
        argv += ["--filter", f"label={key}={value}"]
    return [line for line in runner.run(argv).stdout.splitlines() if line.strip()]


def network_exists(runner: Runner, name: str) -> bool:
    res = runner.run([DOCKER, "network", "inspect", name], check=False)
    return res.returncode == 0 and bool(res.stdout.strip())


def network_connect(runner: Runner, network: str, container: str) -> None:
    runner.run([DOCKER, "network", "connect", network, container])


def exec_in(runner: Runner, container: str, argv: Sequence[str], *, input: str | None = None) -> str:
    cmd = [DOCKER, "exec", *(["-i"] if input is not None else []), container, *argv]
    return runner.run(cmd, input=input).stdout


def image_exists(runner: Runner, ref: str) -> bool:
    res = runner.run([DOCKER, "image", "inspect", "--format", "{{.Id}}", ref], check=False)
    return res.returncode == 0 and bool(res.stdout.strip())


def build(
    runner: Runner,
    context: Path,
    tags: Sequence[str],
    *,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    no_cache: bool = False,
    timeout: float | None = 1800,
) -> str:
    """`docker build`; returns the image id."""
    argv = [DOCKER, "build", "--quiet"]
    for tag in tags:
        argv += ["-t", tag]
    if dockerfile is not None:
        argv += ["-f", str(dockerfile)]
    for key, value in (build_args or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in (labels or {}).items():
        argv += ["--label", f"{key}={value}"]
    if no_cache:
        argv.append("--no-cache")
    argv.append(str(context))
    res = runner.run(argv, timeout=timeout, hint="read the build output above; `--debug` shows the command")
    return res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""


def push(runner: Runner, ref: str) -> str:
    """`docker push`; returns the manifest digest (sha256:...) the registry reported."""
    try:
        res = runner.run([DOCKER, "push", ref], timeout=1800)
    except CommandFailed as exc:
        raise RegistryError(
            f"push of {ref} failed: {exc.stderr_tail.splitlines()[-1] if exc.stderr_tail else exc.code}",
            hint="is the registry up? `invoke status`; an HTTPS error for an HTTP registry: see `invoke doctor`",
        ) from exc
    return parse_push_digest(res.stdout)


def parse_push_digest(output: str) -> str:
    """The digest from the last line of `docker push` output: '<tag>: digest: sha256:... size: N'."""
    for line in reversed(output.splitlines()):
        if "digest: sha256:" in line:
            return "sha256:" + line.split("digest: sha256:", 1)[1].split()[0]
    return ""


def tag(runner: Runner, source: str, target: str) -> None:
    runner.run([DOCKER, "tag", source, target])


def pull(runner: Runner, ref: str) -> None:
    runner.run([DOCKER, "pull", ref], timeout=1800, hint="offline? run `invoke cache` while online first")


def save(runner: Runner, refs: Sequence[str], dest: Path) -> None:
    runner.run([DOCKER, "save", "-o", str(dest), *refs], timeout=1800)


def load(runner: Runner, src: Path) -> None:
    runner.run([DOCKER, "load", "-i", str(src)], timeout=1800)


def image_id(runner: Runner, ref: str) -> str:
    """The image ID (`docker image inspect --format {{.Id}}`) REF resolves to; "" if there is none. REF may be
    a name, name:tag, name@digest or an ID (sha256:...)."""
    res = runner.run([DOCKER, "image", "inspect", "--format", "{{.Id}}", ref], check=False)
    return res.stdout.strip() if res.returncode == 0 else ""


def cgroup_version(runner: Runner) -> str:
    """The cgroup version of the Docker host, as `docker info` reports it: "1", "2", or "" when it cannot be read
    (no docker CLI, no daemon, or a daemon too old to report it)."""
    try:
        res = runner.run([DOCKER, "info", "--format", "{{.CgroupVersion}}"], check=False)
    except ToolNotFound:  # no docker CLI (a dry run on a machine without Docker)
        return ""
    value = res.stdout.strip() if res.returncode == 0 else ""
    return value if value in ("1", "2") else ""


def host_arch() -> str | None:
    """This machine's architecture as Docker names it (amd64, arm64); None for anything else."""
    return _ARCH.get(host_platform.machine().lower())


@dataclass(frozen=True)
class Engine:
    """What the Docker daemon reports about itself: its API version and the platform it runs images for."""

    api_version: tuple[int, int] | None
    platform: str | None  # e.g. "linux/amd64"

    @property
    def saves_one_platform(self) -> bool:
        return self.api_version is not None and self.api_version >= SAVE_PLATFORM_API


def parse_engine(output: str) -> Engine:
    """'1.48 linux/arm64' (the format `engine` asks for) -> Engine((1, 48), 'linux/arm64')."""
    match = re.match(r"\s*(\d+)\.(\d+)\s+(\S+/\S+)", output)
    if not match:
        return Engine(None, None)
    return Engine((int(match.group(1)), int(match.group(2))), match.group(3))


def engine(runner: Runner) -> Engine:
    res = runner.run(
        [DOCKER, "version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}}"], check=False
    )
    return parse_engine(res.stdout if res.returncode == 0 else "")


def save_platform(runner: Runner) -> str | None:
    """The platform to limit `docker image save` to, or None when the daemon cannot (API < 1.48).

    A save of a multi-platform image from Docker's containerd image store otherwise writes the whole index while
    only this platform's layers are present, and `ctr images import --all-platforms` in a kind node then fails
    with "content digest ... not found" (kubernetes-sigs/kind#3795, #4224; workaround documented by kind PR #4247:
    `docker image save --platform` + `kind load image-archive`). A dry run shows the plan for a current Docker."""
    found = engine(runner)
    if found.saves_one_platform:
        return found.platform
    if runner.dry_run:
        arch = host_arch()
        return f"linux/{arch}" if arch else None
    return None


def save_image(runner: Runner, refs: Sequence[str], dest: Path, *, platform: str | None = None) -> None:
    """`docker image save -o DEST REFS`, limited to PLATFORM when given. A docker CLI without the flag (before
    28.0) says so on stderr: then the archive is written without it."""
    base = [DOCKER, "image", "save"]
    tail = ["-o", str(dest), *refs]
    if platform:
        res = runner.run([*base, "--platform", platform, *tail], timeout=1800, check=False)
        if res.returncode == 0:
            return
        if "--platform" not in res.stderr and "unknown flag" not in res.stderr:
            raise CommandFailed(res.argv, res.returncode, res.stderr, hint="is every image present? `docker image ls`")
    runner.run([*base, *tail], timeout=1800, hint="is every image present? `docker image ls`")


@dataclass(frozen=True)
class Loaded:
    """What `docker load` reported: the references it tagged and the IDs of images it loaded without a tag."""

    refs: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()


def parse_load_output(output: str) -> Loaded:
    """'Loaded image: name:tag' per tagged image, 'Loaded image ID: sha256:...' per untagged one (moby
    image/tarexport/load.go; kind's working-offline guide shows the second form for a node image saved by digest)."""
    refs: list[str] = []
    ids: list[str] = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("Loaded image ID:"):
            ids.append(line.split(":", 1)[1].strip())
        elif line.startswith("Loaded image:"):
            refs.append(line.split(":", 1)[1].strip())
    return Loaded(tuple(refs), tuple(ids))


def load_archive(runner: Runner, src: Path) -> Loaded:
    """`docker load -i SRC`, and what it loaded."""
    res = runner.run([DOCKER, "load", "-i", str(src)], timeout=1800, hint=f"is {src} a `docker save` archive?")
    return parse_load_output(res.stdout)

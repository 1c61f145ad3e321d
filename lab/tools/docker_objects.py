"""More of the docker CLI for the lab's service containers: image inspection (id + labels), labelled volumes,
container logs and a graceful stop. Every call goes through the Runner (see lab/tools/docker.py for the rest)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lab.runner import Runner
from lab.tools.docker import DOCKER


def image_inspect(runner: Runner, ref: str) -> dict[str, Any] | None:
    """`docker image inspect REF` as a dict, or None when there is no such image (or a dry run)."""
    res = runner.run([DOCKER, "image", "inspect", ref], check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return None
    data = json.loads(res.stdout)
    return data[0] if isinstance(data, list) and data else None


def image_labels(data: Mapping[str, Any] | None) -> dict[str, str]:
    """The labels of an image from `image_inspect` (empty when there are none)."""
    if not data:
        return {}
    return dict((data.get("Config") or {}).get("Labels") or {})


def volume_exists(runner: Runner, name: str) -> bool:
    res = runner.run([DOCKER, "volume", "inspect", name], check=False)
    return res.returncode == 0 and bool(res.stdout.strip())


def create_volume(runner: Runner, name: str, labels: Mapping[str, str]) -> None:
    argv = [DOCKER, "volume", "create"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    runner.run([*argv, name])


def list_volumes(runner: Runner, labels: Mapping[str, str]) -> list[str]:
    """Names of the volumes carrying every given label."""
    argv = [DOCKER, "volume", "ls", "--format", "{{.Name}}"]
    for key, value in labels.items():
        argv += ["--filter", f"label={key}={value}"]
    return [line.strip() for line in runner.run(argv).stdout.splitlines() if line.strip()]


def remove_volume(runner: Runner, name: str) -> bool:
    """Remove a volume; False if it did not exist or could not be removed (in use)."""
    res = runner.run([DOCKER, "volume", "rm", name], check=False)
    return res.returncode == 0 and not runner.dry_run


def stop_container(runner: Runner, name: str, *, timeout: int = 10) -> None:
    """`docker stop` (SIGTERM, then SIGKILL after ``timeout`` seconds): lets a server save its state."""
    runner.run([DOCKER, "stop", "--time", str(timeout), name], check=False, timeout=timeout + 30)


def logs_tail(runner: Runner, name: str, lines: int = 10) -> str:
    """The last lines a container wrote (stdout and stderr), or "" if there is no such container."""
    res = runner.run([DOCKER, "logs", "--tail", str(lines), name], check=False, timeout=30)
    return "\n".join(part.strip() for part in (res.stdout, res.stderr) if part.strip())


def read_file(runner: Runner, container: str, path: str) -> str | None:
    """`docker exec CONTAINER cat PATH`: the file as the (running) container sees it; None if it cannot."""
    res = runner.run([DOCKER, "exec", container, "cat", path], check=False, timeout=30)
    return res.stdout if res.returncode == 0 else None

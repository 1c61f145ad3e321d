"""More of the docker CLI for the lab's service containers: image inspection (id + labels), labelled images and
volumes, container logs and a graceful stop. Every call goes through the Runner (see lab/tools/docker.py for the
rest)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.core.runner import Runner
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
    """The last lines a container wrote (stdout and stderr), or "" if there is no such container (then `docker logs`
    exits 1 with the daemon's error on stderr: not the container's words)."""
    res = runner.run([DOCKER, "logs", "--tail", str(lines), name], check=False, timeout=30)
    if res.returncode != 0:
        return ""
    return "\n".join(part.strip() for part in (res.stdout, res.stderr) if part.strip())


def read_file(runner: Runner, container: str, path: str) -> str | None:
    """`docker exec CONTAINER cat PATH`: the file as the (running) container sees it; None if it cannot."""
    res = runner.run([DOCKER, "exec", container, "cat", path], check=False, timeout=30)
    return res.stdout if res.returncode == 0 else None


@dataclass(frozen=True)
class Image:
    id: str
    tags: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def refs(self) -> list[str]:
        """What `docker image rm` is given: every tag (an ID with several tags is refused without -f), or the ID."""
        return list(self.tags) or [self.id]


def list_images(runner: Runner, labels: Mapping[str, str]) -> list[Image]:
    """The images carrying every given label (untagged ones included), with their tags and labels."""
    argv = [DOCKER, "image", "ls", "--no-trunc", "--format", "{{.ID}}"]
    for key, value in labels.items():
        argv += ["--filter", f"label={key}={value}"]
    ids = dict.fromkeys(line.strip() for line in runner.run(argv).stdout.splitlines() if line.strip())
    found = []
    for image_id in ids:
        data = image_inspect(runner, image_id)
        if data is not None:
            found.append(Image(image_id, tuple(data.get("RepoTags") or ()), image_labels(data)))
    return found


def remove_image(runner: Runner, refs: Sequence[str]) -> str | None:
    """`docker image rm REFS` (no --force: an image a container uses stays). None when removed, else why not."""
    res = runner.run([DOCKER, "image", "rm", *refs], check=False)
    if res.returncode == 0:
        return None
    said = [line.strip() for line in (res.stderr or res.stdout).splitlines() if line.strip()]
    return said[-1] if said else f"exit code {res.returncode}"


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_SIZE_RE = re.compile(r"^\s*([0-9.]+)\s*([kmgtp]?)b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """Docker's human sizes ("166.4MB", "5B", "1.2kB": decimal units, go-units HumanSize) -> bytes."""
    match = _SIZE_RE.match(text)
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def images_size(runner: Runner) -> int | None:
    """The image store's total size (`docker system df`, row Images, Size): measured before and after a removal, the
    difference is what the removal freed, layers the removed images shared among themselves included. None when the
    daemon does not say."""
    res = runner.run([DOCKER, "system", "df", "--format", "{{json .}}"], check=False, timeout=300)
    if res.returncode != 0:
        return None
    for line in res.stdout.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("Type") == "Images":
            return parse_size(str(row.get("Size", "")))
    return None


def human_size(size: int) -> str:
    """Bytes in Docker's decimal units, e.g. 512.3 MB."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"

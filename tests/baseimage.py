"""Which base image the integration tests build FROM (plain functions, no pytest: tests/conftest.py and unit
tests use them).

LAB_BASE_IMAGE when it is set; otherwise app/Dockerfile's default (`ARG BASE_IMAGE=...`, the image a user's build
starts from), if Docker already has it. Nothing is pulled: tests must not need the network."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = "LAB_BASE_IMAGE"
APP_DOCKERFILE = ROOT / "app" / "Dockerfile"


def dockerfile_default(dockerfile: Path = APP_DOCKERFILE) -> str:
    match = re.search(r"^ARG BASE_IMAGE=(\S+)\s*$", dockerfile.read_text(), re.MULTILINE)
    if match is None:
        raise AssertionError(f"{dockerfile} has no `ARG BASE_IMAGE=<default>`")
    return match.group(1)


def choose(environ: Mapping[str, str], present: Callable[[str], bool]) -> tuple[str | None, str]:
    """(image, "") to build from, or (None, why there is none). PRESENT says whether Docker has an image."""
    name = environ.get(ENV, "")
    if name:
        if present(name):
            return name, ""
        return None, f"{ENV}={name} is not present locally (build it with .ci/base-image, or `docker pull {name}`)"
    default = dockerfile_default()
    if present(default):
        return default, ""
    return None, (
        f"{ENV} is not set and app/Dockerfile's default base {default} is not present locally: "
        f"`docker pull {default}` once, or set {ENV} (.ci/base-image builds one without a registry)"
    )

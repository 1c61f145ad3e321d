"""pip, for the app image's wheels: which Python a base image has (asked of the image itself, in a container with
no network), and `pip download` of a requirements file for that Python and platform from this machine."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.core.errors import LabError
from lab.core.runner import Runner
from lab.tools.docker import DOCKER

# Printed by the base image's python3: its version, machine and C library (platform.libc_ver: ("glibc", "2.36")).
_PROBE = (
    "import json, platform, sys; "
    "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'implementation': sys.implementation.name, "
    "'machine': platform.machine(), 'libc': platform.libc_ver()}))"
)


@dataclass(frozen=True)
class PythonTarget:
    """A Python to download wheels for: "3.11", "cp", and pip --platform tags."""

    python: str
    implementation: str
    platforms: tuple[str, ...]

    @property
    def abi(self) -> str:
        return f"{self.implementation}{self.python.replace('.', '')}"


def manylinux_platforms(machine: str, glibc: str) -> tuple[str, ...]:
    """pip `--platform` values for a glibc Linux: every manylinux tag the interpreter accepts, newest first.

    PEP 600: manylinux_2_Y_<arch> runs on glibc >= 2.Y; the legacy names are aliases (PEP 599: manylinux2014 =
    2_17, manylinux2010 = 2_12, manylinux1 = 2_5, x86_64/i686 only). pip does not expand a given --platform to the
    older tags itself, so all of them are listed (as packaging.tags does for the running interpreter)."""
    major, minor = (int(part) for part in glibc.split(".")[:2])
    if major != 2:
        raise ValueError(f"glibc {glibc}: only glibc 2.x is known")
    tags = [f"manylinux_2_{m}_{machine}" for m in range(minor, 16, -1)]
    legacy = {"manylinux2014": 17}
    if machine in ("x86_64", "i686"):
        tags += [f"manylinux_2_{m}_{machine}" for m in range(min(minor, 16), 4, -1)]
        legacy.update({"manylinux2010": 12, "manylinux1": 5})
    tags += [f"{name}_{machine}" for name, needs in legacy.items() if minor >= needs]
    return tuple(tags)


def probe_argv(image: str) -> list[str]:
    return [DOCKER, "run", "--rm", "--network", "none", "--entrypoint", "python3", image, "-c", _PROBE]


def image_python(runner: Runner, image: str) -> PythonTarget | None:
    """The Python of IMAGE (which must be present); None in a dry run (nothing is run, so nothing is known)."""
    res = runner.run(probe_argv(image), timeout=120, hint=f"{image} must have python3 (the app image needs it)")
    if not res.stdout.strip():
        return None
    try:
        data = json.loads(res.stdout.strip().splitlines()[-1])
        libc, libc_version = data["libc"]
        if data["implementation"] != "cpython" or libc != "glibc":
            raise LabError(
                f"{image} runs {data['implementation']} on {libc or 'a C library other than glibc'}: the lab "
                "caches wheels only for CPython on glibc (Debian, Ubuntu, python:*-slim)",
                hint="use a glibc-based base image (LAB_BASE_IMAGE), or build the app image online",
            )
        return PythonTarget(str(data["python"]), "cp", manylinux_platforms(str(data["machine"]), str(libc_version)))
    except (ValueError, KeyError, TypeError) as exc:
        raise LabError(f"cannot read {image}'s Python from {res.stdout.strip()[-200:]!r}: {exc}") from exc


def download_argv(requirements: Path, dest: Path, target: PythonTarget) -> list[str]:
    """`pip download` of binary wheels only, for TARGET rather than this interpreter (pip requires
    --only-binary=:all: with --platform/--python-version/--abi)."""
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet"]
    argv += ["--only-binary=:all:", "--implementation", target.implementation, "--python-version", target.python]
    argv += ["--abi", target.abi]
    for platform in target.platforms:
        argv += ["--platform", platform]
    return [*argv, "--dest", str(dest), "--requirement", str(requirements)]


def download(runner: Runner, requirements: Path, dest: Path, target: PythonTarget) -> Sequence[str]:
    """Download the wheels into DEST; the wheel files' names."""
    runner.run(
        download_argv(requirements, dest, target),
        timeout=900,
        hint="check the network (pip's index, or a proxy: PIP_INDEX_URL, HTTPS_PROXY); a package without a wheel "
        f"for Python {target.python} on {target.platforms[0] if target.platforms else '?'} cannot be cached",
    )
    return sorted(p.name for p in dest.glob("*.whl")) if dest.is_dir() else []

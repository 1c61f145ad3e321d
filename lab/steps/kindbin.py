"""kind itself: find it, check its version, and with ``fix`` install the pinned release, checksum-verified.

Where the lab looks: `<state_dir>/bin/kind` (what `fix` installs; preferred, so an old kind on PATH does not
matter), then PATH. The download (https://kind.sigs.k8s.io/dl/<version>/kind-<os>-<arch>, kind's quick-start)
lands in `<state_dir>/cache/` under a temporary name, its sha256 is compared with lab/core/versions.py BEFORE it is
kept or made executable; a mismatch deletes it and installs nothing. The cached copy makes reinstalls offline.
"""

from __future__ import annotations

import os
import platform as platform_module
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from lab.core import versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import Refused, ToolNotFound
from lab.core.runner import for_reading
from lab.tools import kind as kind_tool
from lab.tools.download import Fetch, download_verified, sha256_file, urllib_fetch

# Oldest kind the lab works with: node images from v0.27.0 on read /etc/containerd/certs.d without a containerd
# config patch, which is how the lab wires its registries (kind site/static/examples/kind-with-registry.sh).
MIN_VERSION = (0, 27, 0)
FIX_HINT = (
    f"let the lab install kind {versions.KIND_VERSION} into the state dir's bin/ (default .lab/bin; checksum-verified) "
    "with `invoke doctor --fix`, "
    "or see https://kind.sigs.k8s.io/docs/user/quick-start/#installing-from-release-binaries"
)


@dataclass(frozen=True)
class KindBinary:
    path: str
    version: str
    source: str  # "lab" (<state_dir>/bin), "path", "installed", "planned" (dry run)


def platform_id(system: str | None = None, machine: str | None = None) -> str:
    """'linux-amd64', 'darwin-arm64', ... as in kind's release asset names."""
    system = (system or sys.platform).lower()
    machine = (machine or platform_module.machine()).lower()
    os_name = "linux" if system.startswith("linux") else "darwin" if system == "darwin" else system
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{os_name}-{arch}"


def lab_binary_path(settings: Settings) -> Path:
    return settings.state_dir / "bin" / "kind"


def find_kind(settings: Settings) -> tuple[str, str] | None:
    """(path, source) of the kind to use, or None."""
    own = lab_binary_path(settings)
    if own.is_file() and os.access(own, os.X_OK):
        return str(own), "lab"
    on_path = shutil.which("kind")
    return (on_path, "path") if on_path else None


def ensure_kind(
    ctx: Context,
    fix: bool = False,
    *,
    fetch: Fetch = urllib_fetch,
    platform: str | None = None,
    url: str | None = None,
) -> KindBinary:
    """A usable kind, at the pinned version if the lab installs it; ToolNotFound (with the fix) otherwise. A dry run
    reads the installed kind's version for real (`kind version` only reads) and plans the install it would make."""
    settings = ctx.settings
    pinned = versions.KIND_VERSION
    found = find_kind(settings)
    if found is not None:
        path, source = found
        ver = kind_tool.version(for_reading(ctx.runner), kind=path)
        numbers = kind_tool.version_tuple(ver)
        if numbers is not None and numbers < MIN_VERSION:
            if not fix:
                raise ToolNotFound(
                    f"kind >= v{'.'.join(map(str, MIN_VERSION))} (found {ver} at {path})",
                    hint=FIX_HINT,
                )
            ctx.ui.warn(f"kind {ver} at {path} is too old; installing {pinned} into {lab_binary_path(settings)}")
            return _install(ctx, fetch=fetch, platform=platform, url=url)
        if ver != pinned:
            shown = ver or "an unreadable version"
            ctx.ui.warn(
                f"kind at {path} reports {shown}; the lab pins {pinned} (node image {versions.KIND_NODE_IMAGE})"
            )
        return KindBinary(path, ver, source)
    if not fix:
        raise ToolNotFound("kind", hint=FIX_HINT)
    return _install(ctx, fetch=fetch, platform=platform, url=url)


def _install(ctx: Context, *, fetch: Fetch, platform: str | None, url: str | None) -> KindBinary:
    settings = ctx.settings
    pinned = versions.KIND_VERSION
    plat = platform or platform_id()
    expected = versions.KIND_SHA256.get(plat)
    if not expected:
        raise Refused(
            f"no pinned sha256 for kind {pinned} on {plat}: the lab will not install an unverified binary",
            hint="install kind yourself: https://kind.sigs.k8s.io/docs/user/quick-start/",
        )
    source_url = url or versions.KIND_DOWNLOAD_URL.format(version=pinned, platform=plat)
    cached = settings.cache_dir / f"kind-{pinned}-{plat}"
    target = lab_binary_path(settings)
    if ctx.dry_run:
        ctx.ui.info(f"  would download {source_url}\n  verify sha256 {expected}\n  install it as {target}")
        return KindBinary(str(target), pinned, "planned")

    if cached.is_file() and sha256_file(cached) != expected:
        ctx.ui.warn(f"cached {cached} does not match the pinned sha256: discarding it")
        cached.unlink()
    if not cached.is_file():
        if settings.offline:
            raise ToolNotFound(
                "kind", hint=f"offline, and {cached} is missing: {_by_hand(source_url, cached, expected)}"
            )
        download_verified(source_url, cached, expected, fetch=fetch, by_hand=_by_hand(source_url, cached, expected))

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(".kind.installing")
    shutil.copyfile(cached, staging)
    staging.chmod(0o755)
    os.replace(staging, target)
    ver = kind_tool.version(ctx.runner, kind=str(target))
    if ver != pinned:
        ctx.ui.warn(f"installed {target} reports {ver or 'no version'}; expected {pinned}")
    ctx.ui.info(f"  installed kind {pinned} ({plat}) as {target}")
    return KindBinary(str(target), ver, "installed")


def _by_hand(url: str, dest: Path, expected: str) -> str:
    """What works without this machine reaching URL: fetch it elsewhere; `doctor --fix` then installs from DEST
    (it checks the sha256 first, as for its own download)."""
    return f"download {url} where it can be reached, save it as {dest} (sha256 {expected}), then `invoke doctor --fix`"

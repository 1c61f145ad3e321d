"""The Argo CD install manifest: download once, verify its sha256 against the pin, cache it for offline reuse,
and lay out the lab's kustomization over it in `.lab/argocd/`.

Nothing unverified is ever used: lab/tools/download.py fetches to a temporary name and only a file whose sha256
matches reaches the cache, so a mismatch leaves no trace and installs nothing. The fetch function is injectable.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lab.core import versions
from lab.core.config import Settings
from lab.core.errors import Refused
from lab.core.runner import Runner
from lab.tools.download import Fetch, download_verified, sha256_file, urllib_fetch
from lab.tools.kubectl import kubectl_binary

INSTALL_FILE = "install.yaml"


@dataclass(frozen=True)
class ManifestPin:
    version: str
    url: str
    sha256: str

    @property
    def cache_name(self) -> str:
        return f"argocd-install-{self.version}.yaml"


PIN = ManifestPin(versions.ARGOCD_VERSION, versions.ARGOCD_INSTALL_URL, versions.ARGOCD_INSTALL_SHA256)


def cache_path(settings: Settings, pin: ManifestPin = PIN) -> Path:
    return settings.cache_dir / pin.cache_name


def cached_install_manifest(settings: Settings, pin: ManifestPin = PIN) -> Path | None:
    """The cached manifest if present and intact, else None."""
    path = cache_path(settings, pin)
    if path.is_file() and sha256_file(path) == pin.sha256:
        return path
    return None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch_install_manifest(settings: Settings, fetch: Fetch = urllib_fetch, pin: ManifestPin = PIN) -> Path:
    """The verified install.yaml in the cache: reused when intact, else downloaded, verified, then cached."""
    cached = cached_install_manifest(settings, pin)
    if cached is not None:
        return cached
    path = cache_path(settings, pin)
    state = "is corrupt (sha256 differs)" if path.is_file() else "is not cached"
    if settings.offline:
        raise Refused(
            f"Argo CD {pin.version} install manifest {state} at {path}, and offline mode forbids downloading it",
            hint="run `invoke cache` once while online, or turn offline mode off (LAB_OFFLINE=0)",
        )
    download_verified(
        pin.url,
        path,
        pin.sha256,
        fetch=fetch,
        by_hand=f"run `invoke cache` on a machine that can reach it and copy its .lab/cache/{pin.cache_name} here",
    )
    return path


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    _write_atomic(path, data)
    return True


def write_install_dir(directory: Path, install_manifest: Path, files: Mapping[str, str]) -> list[str]:
    """Copy the verified install.yaml and write the kustomization files into ``directory``; remove patch files
    no longer generated. Returns the relative paths that changed (empty on a re-run with the same config)."""
    changed: list[str] = []
    if _write_if_changed(directory / INSTALL_FILE, install_manifest.read_bytes()):
        changed.append(INSTALL_FILE)
    for rel, text in files.items():
        if _write_if_changed(directory / rel, text.encode()):
            changed.append(rel)
    patches = directory / "patches"
    if patches.is_dir():
        for stale in sorted(patches.glob("*.yaml")):
            rel = f"patches/{stale.name}"
            if rel not in files:
                stale.unlink()
                changed.append(rel)
    return changed


def render(runner: Runner, directory: Path) -> str:
    """The install as it will be applied: `kubectl kustomize DIR` (kustomize embedded in kubectl, offline)."""
    res = runner.run(
        [kubectl_binary(), "kustomize", str(directory)],
        timeout=120,
        hint=f"`kubectl kustomize {directory}` shows the error; `rm -r {directory}` makes `invoke up` rewrite it",
    )
    return res.stdout

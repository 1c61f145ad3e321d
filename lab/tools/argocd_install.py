"""The Argo CD install manifest: download once, verify its sha256 against the pin, cache it for offline reuse,
and lay out the lab's kustomization over it in `.lab/argocd/`.

Nothing unverified is ever written: the download is hashed in memory and only a matching file reaches the cache,
so a mismatch leaves no trace and installs nothing. The fetch function is injectable (tests, proxies).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lab.core import versions
from lab.core.config import Settings
from lab.core.errors import ChecksumMismatch, DownloadFailed, Refused
from lab.core.runner import Runner
from lab.tools.kubectl import kubectl_binary

Fetch = Callable[[str], bytes]
DOWNLOAD_TIMEOUT = 60.0  # seconds; the file is ~2 MB
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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def urllib_fetch(url: str) -> bytes:
    if not url.startswith("https://"):
        raise DownloadFailed(f"refusing to download {url}: only https URLs are fetched")
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:  # noqa: S310 (https checked above)
        data: bytes = response.read()
    return data


def cache_path(settings: Settings, pin: ManifestPin = PIN) -> Path:
    return settings.cache_dir / pin.cache_name


def cached_install_manifest(settings: Settings, pin: ManifestPin = PIN) -> Path | None:
    """The cached manifest if present and intact, else None."""
    path = cache_path(settings, pin)
    if path.is_file() and sha256(path.read_bytes()) == pin.sha256:
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
    try:
        data = fetch(pin.url)
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadFailed(
            f"could not download {pin.url}: {exc}",
            hint="check the network/proxy, or copy the file into .lab/cache with `invoke cache` on another machine",
        ) from exc
    actual = sha256(data)
    if actual != pin.sha256:
        raise ChecksumMismatch(
            f"{pin.url} has sha256 {actual}, the pin says {pin.sha256}; nothing was cached or installed",
            hint="a proxy may have altered the download; if upstream changed the file, re-check it and the pin "
            "in lab/core/versions.py",
        )
    _write_atomic(path, data)
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

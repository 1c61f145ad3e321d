"""The one verified download: fetch a pinned file to a temporary name beside its destination, compare its sha256
with the pin, and only then move it into place (atomically, not executable). A mismatch or a failed fetch removes
the temporary file: nothing unverified is ever left where the lab would use it.

    download_verified(url, dest, expected_sha256, fetch=urllib_fetch, by_hand="...")

``fetch(url, path)`` writes the body to ``path`` (injectable: tests serve bytes, proxies can be wrapped). The default
fetch speaks HTTPS only (plain HTTP only to 127.0.0.1/localhost, as tests serve it) and stops at MAX_BYTES.
Used by the kind binary (lab/steps/kindbin.py) and the Argo CD install manifest (lab/tools/argocd_install.py).
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from lab.core.errors import ChecksumMismatch, DownloadFailed, Refused

Fetch = Callable[[str, Path], None]
MAX_BYTES = 256 * 1024 * 1024  # the largest pinned download is ~10 MB: stop a runaway response long before the disk
TIMEOUT = 120.0  # seconds per socket operation
PART = ".part"  # suffix of the temporary file beside the destination


def sha256_file(path: Path) -> str:
    """The file's sha256 (hex), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def urllib_fetch(url: str, dest: Path) -> None:
    """Download URL to DEST. HTTPS only; plain HTTP is accepted for 127.0.0.1/localhost (test servers)."""
    parsed = urlparse(url)
    local = parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost")
    if parsed.scheme != "https" and not local:
        raise Refused(f"refusing to download {url}: only https URLs are fetched")
    with urllib.request.urlopen(url, timeout=TIMEOUT) as resp, dest.open("wb") as out:  # noqa: S310 (checked above)
        total = 0
        while chunk := resp.read(1024 * 1024):
            total += len(chunk)
            if total > MAX_BYTES:
                raise DownloadFailed(f"download of {url} exceeds {MAX_BYTES} bytes; stopped")
            out.write(chunk)


def download_verified(url: str, dest: Path, expected: str, *, fetch: Fetch = urllib_fetch, by_hand: str) -> None:
    """Fetch URL into DEST (mode 0644) if its sha256 is EXPECTED; else raise and leave DEST as it was.

    DownloadFailed (network, HTTP error, oversize) hints at the network and BY_HAND, a command or step that works
    without this machine reaching URL; ChecksumMismatch says nothing was installed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + PART)
    partial.unlink(missing_ok=True)
    try:
        fetch(url, partial)
        actual = sha256_file(partial)
    except OSError as exc:  # urllib's URLError/HTTPError are OSErrors
        partial.unlink(missing_ok=True)
        raise DownloadFailed(
            f"download of {url} failed: {exc}", hint=f"check the network/proxy (HTTPS_PROXY), or {by_hand}"
        ) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if actual != expected:
        partial.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{url}: sha256 {actual} does not match the pinned {expected}; nothing was installed or cached",
            hint="retry (broken download or proxy?); if it persists, check the pin in lab/core/versions.py "
            "against upstream's published checksum",
        )
    partial.chmod(0o644)
    os.replace(partial, dest)

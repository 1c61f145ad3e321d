"""The offline image cache: `.lab/cache/images/<name>.tar`, one archive per image, and `index.json` saying what
each archive holds.

Why an index: `docker load` does not bring back the digest an image was pulled by (moby/moby#22011), so a
digest-pinned reference such as the kind node image cannot be looked up again after a load. `invoke cache`
(online) records for every reference the image ID Docker gives it and the IDs its archive can load as: the
config digest on Docker's classic store, the manifest (or index) digest on the containerd image store, where a
single-platform save gives the loaded image the platform manifest's digest as its ID (moby/moby#44833). Offline,
a loaded image is accepted only if its ID is one of those, then tagged with the reference minus its digest
(kind site/content/docs/user/working-offline.md does the same by hand: `docker load`, `docker image tag`).
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.tools.download import sha256_file

INDEX_NAME = "index.json"
INDEX_VERSION = 1
_DIGEST_RE = re.compile(r"(?:sha256[:/])?([0-9a-f]{64})(?:\.json)?$")


@dataclass(frozen=True)
class CachedImage:
    """One cached image: REF as the lab names it, the archive FILE (a name in the images directory), the image ID
    Docker showed when it was saved, and the IDs the archive itself can load as."""

    ref: str
    file: str
    id: str
    archive_ids: tuple[str, ...] = field(default_factory=tuple)
    platform: str | None = None  # the platform the archive was limited to (`docker image save --platform`)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every ID under which a load of this archive is the image that was cached."""
        return tuple(dict.fromkeys(i for i in (self.id, *self.archive_ids) if i))


def images_dir(cache_dir: Path) -> Path:
    return cache_dir / "images"


def index_path(cache_dir: Path) -> Path:
    return images_dir(cache_dir) / INDEX_NAME


def tag_only(ref: str) -> str:
    """'kindest/node:v1.36.1@sha256:...' -> 'kindest/node:v1.36.1' (a reference without a digest is returned as is)."""
    return ref.split("@", 1)[0]


def read_index(cache_dir: Path) -> dict[str, CachedImage]:
    """The index by reference; {} when there is none or it cannot be read (then nothing counts as cached)."""
    try:
        data: Any = json.loads(index_path(cache_dir).read_text())
    except (OSError, ValueError):
        return {}
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, dict):
        return {}
    out: dict[str, CachedImage] = {}
    for ref, item in images.items():
        if not isinstance(item, dict) or not item.get("file") or not item.get("id"):
            continue
        out[str(ref)] = CachedImage(
            ref=str(ref),
            file=str(item["file"]),
            id=str(item["id"]),
            archive_ids=tuple(str(i) for i in item.get("archive_ids") or ()),
            platform=str(item["platform"]) if item.get("platform") else None,
        )
    return out


def write_index(cache_dir: Path, entries: Mapping[str, CachedImage]) -> Path:
    """Write atomically (temp file + rename): an interrupted `invoke cache` leaves the previous index whole."""
    path = index_path(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = {}
    for ref, entry in sorted(entries.items()):
        item = asdict(entry)
        del item["ref"]
        item["archive_ids"] = list(entry.archive_ids)
        images[ref] = item
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"version": INDEX_VERSION, "images": images}, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def _digest(text: str) -> str | None:
    match = _DIGEST_RE.search(text)
    return f"sha256:{match.group(1)}" if match else None


def archive_image_ids(path: Path) -> tuple[str, ...]:
    """The IDs an image archive written by `docker save` can load as: each image's config digest (`manifest.json`
    `Config`: `<hex>.json` from the classic store, `blobs/sha256/<hex>` from Docker 25 on) and, for OCI-layout
    archives, the digests `index.json` points at (the ID on the containerd image store). () if unreadable."""
    found: list[str] = []
    try:
        with tarfile.open(path) as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
            for name, key in (("manifest.json", "Config"), ("index.json", "digest")):
                member = members.get(name)
                handle = tar.extractfile(member) if member is not None else None
                if handle is None:
                    continue
                data: Any = json.loads(handle.read())
                items = data if name == "manifest.json" else (data or {}).get("manifests")
                for item in items or ():
                    value = item.get(key) if isinstance(item, dict) else None
                    digest = _digest(str(value)) if value else None
                    if digest:
                        found.append(digest)
    except (OSError, tarfile.TarError, ValueError, AttributeError):
        return ()
    return tuple(dict.fromkeys(found))


# Config digests of local images, for `kind load` -------------------------------------------------------------
# A kind node's containerd reports an image's config digest (`crictl inspecti` .status.id). Docker's image ID is
# that same digest on its classic store, but on the containerd image store (Docker Desktop's default) it is the
# digest of the image's manifest or index (moby/moby#44833): the two never match, although both name the same
# content (kubernetes-sigs/kind#4236). Docker shows no config digest there; the archive the lab loads does
# (`manifest.json` Config). So after each load the lab records, per local image ID and platform, the config digest
# its archive carried: the next `up` compares the node's ID with both and loads only what really differs.
CONFIG_IDS_NAME = "image-config-ids.json"


def familiar(ref: str) -> str:
    """'docker.io/library/redis:8' -> 'redis:8', as Docker writes names into `manifest.json` RepoTags."""
    ref = ref.removeprefix("docker.io/")
    return ref.removeprefix("library/") if ref.count("/") == 1 else ref


def archive_config_digests(path: Path) -> dict[str, str]:
    """Tag (familiar form) -> config digest, from a `docker save` archive's `manifest.json` (`Config`:
    `<hex>.json` on the classic store, `blobs/sha256/<hex>` from Docker 25 on). A tag listed with two different
    configs (a multi-platform save) is left out. {} if unreadable."""
    found: dict[str, str | None] = {}
    try:
        with tarfile.open(path) as tar:
            member = next((m for m in tar.getmembers() if m.name.removeprefix("./") == "manifest.json"), None)
            handle = tar.extractfile(member) if member is not None else None
            data: Any = json.loads(handle.read()) if handle is not None else []
    except (OSError, tarfile.TarError, ValueError):
        return {}
    for item in data if isinstance(data, list) else ():
        digest = _digest(str(item.get("Config") or "")) if isinstance(item, dict) else None
        if not digest:
            continue
        for tag in item.get("RepoTags") or ():
            key = familiar(str(tag))
            found[key] = digest if found.get(key, digest) == digest else None
    return {tag: digest for tag, digest in found.items() if digest}


def config_key(image_id: str, platform: str | None) -> str:
    return f"{image_id} {platform or ''}".strip()


def read_config_ids(path: Path) -> dict[str, str]:
    """The recorded config digests by config_key; {} when there are none or the file cannot be read."""
    try:
        data: Any = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    ids = data.get("config_ids") if isinstance(data, dict) else None
    if not isinstance(ids, dict):
        return {}
    return {str(k): str(v) for k, v in ids.items() if _digest(str(v)) == str(v)}


def write_config_ids(path: Path, ids: Mapping[str, str]) -> None:
    """Write atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"version": 1, "config_ids": dict(sorted(ids.items()))}, indent=2) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------- app wheels
# `pip wheel` in the app's Dockerfile needs a package index. `invoke cache` therefore also keeps the wheels of
# app/requirements.txt, downloaded for the base image's Python and platform, in .lab/cache/wheels/, with
# wheels/index.json saying what they are for; a build whose requirements and base image match installs from them
# alone (--no-index), so it needs no network.
WHEELS_INDEX = "index.json"


@dataclass(frozen=True)
class WheelSet:
    """The wheels cached for one requirements file (by its sha256) and one base image (by reference), for that
    image's Python (e.g. "3.11") and platform tags (manylinux_2_36_x86_64, ...)."""

    requirements_sha256: str
    base_image: str
    python: str
    platforms: tuple[str, ...]
    files: tuple[str, ...]


def wheels_dir(cache_dir: Path) -> Path:
    return cache_dir / "wheels"


def read_wheels(cache_dir: Path) -> WheelSet | None:
    """The cached wheel set; None when there is none or its index cannot be read."""
    try:
        data: Any = json.loads((wheels_dir(cache_dir) / WHEELS_INDEX).read_text())
        return WheelSet(
            requirements_sha256=str(data["requirements_sha256"]),
            base_image=str(data["base_image"]),
            python=str(data["python"]),
            platforms=tuple(str(p) for p in data["platforms"]),
            files=tuple(str(f) for f in data["files"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_wheels(cache_dir: Path, wheels: WheelSet) -> Path:
    """Write the index atomically, after the wheels themselves are in place."""
    path = wheels_dir(cache_dir) / WHEELS_INDEX
    data = asdict(wheels)
    data["platforms"], data["files"] = list(wheels.platforms), list(wheels.files)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def wheels_for(cache_dir: Path, requirements: Path, base_image: str) -> list[Path] | None:
    """The cached wheels for REQUIREMENTS on BASE_IMAGE, or None: no cache, made for another requirements file or
    base image, or a wheel missing."""
    wheels = read_wheels(cache_dir)
    if wheels is None or wheels.base_image != base_image or not requirements.is_file():
        return None
    if wheels.requirements_sha256 != sha256_file(requirements):
        return None
    files = [wheels_dir(cache_dir) / name for name in wheels.files]
    return files if files and all(f.is_file() for f in files) else None

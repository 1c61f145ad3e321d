"""`invoke cache` and its counterpart in `up --offline`: every pinned image the lab's components run, the
service images, the Argo CD manifest and the app's wheels under .lab/cache, and loading them back."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from lab import components, image_cache
from lab.components import services
from lab.core.config import ROOT
from lab.core.context import Context
from lab.core.errors import ChecksumMismatch, Refused
from lab.core.runner import for_reading
from lab.steps import app_image, scan
from lab.tools import docker
from lab.tools.argocd_install import PIN, cache_path, fetch_install_manifest


def cached_image_file(ctx: Context, ref: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", image_cache.tag_only(ref))
    return image_cache.images_dir(ctx.settings.cache_dir) / f"{safe}.tar"


def _restore_cached_image(ctx: Context, ref: str, entry: image_cache.CachedImage | None) -> str:
    """Make REF's image present under the name the lab uses offline (REF minus its digest). Returns what was
    done: "present", "tagged" or "loaded"."""
    runner = ctx.runner
    local = image_cache.tag_only(ref)
    action = "present"
    found = docker.image_id(runner, ref)  # pulled online earlier: the pinned reference still resolves
    if not found and entry is not None:
        # Loaded on an earlier offline run: there by ID only (a load does not restore a digest).
        found = next((i for i in entry.ids if docker.image_id(runner, i) == i), "")
    if not found:
        found = _load_cached_archive(ctx, ref, entry)
        action = "loaded"
    if found and local != ref and docker.image_id(runner, local) != found:
        docker.tag(runner, found, local)
        action = "tagged" if action == "present" else action
    return action


def _load_cached_archive(ctx: Context, ref: str, entry: image_cache.CachedImage | None) -> str:
    """`docker load` REF's archive; the loaded image's ID, checked against the index ("" in a dry run)."""
    tar = cached_image_file(ctx, ref) if entry is None else cached_image_file(ctx, ref).with_name(entry.file)
    if (entry is None or not tar.is_file()) and not ctx.dry_run:
        where = image_cache.index_path(ctx.settings.cache_dir) if entry is None else tar
        raise Refused(f"offline, and {ref} is neither in Docker nor in {where}", hint="run `invoke cache` online")
    if entry is None or ctx.dry_run:
        docker.load_archive(ctx.runner, tar)
        return entry.id if entry is not None else ""

    def mismatch(what: str, ids: Sequence[str]) -> ChecksumMismatch:
        return ChecksumMismatch(
            f"{tar} {what} {', '.join(ids) or '(none)'}, not the {ref} that `invoke cache` saved (ID {entry.id})",
            hint=f"delete {tar} and run `invoke cache` while online",
        )

    held = image_cache.archive_image_ids(tar)  # checked before Docker sees the archive
    if not set(held) & set(entry.ids):
        raise mismatch("holds image", held)
    loaded = docker.load_archive(ctx.runner, tar)
    got = [*loaded.ids, *(docker.image_id(ctx.runner, r) for r in loaded.refs)]
    found = next((i for i in got if i in entry.ids), "")
    if not found:
        raise mismatch("loaded image", got)
    return found


def load_cached_images(ctx: Context, refs: Sequence[str]) -> None:
    """Offline: make every pinned image present in the local Docker from .lab/cache (after `invoke cache`).

    REFS first, then whatever else the cache holds (the base image, the service images). An image already in
    Docker (by reference, or by the ID the cache index recorded) is not loaded again. A digest-pinned reference
    ends up tagged by its tag alone (kindest/node:v1.36.1), the name kind is given offline; see lab/image_cache.py.
    """
    index = image_cache.read_index(ctx.settings.cache_dir)
    wanted = list(dict.fromkeys([*refs, *index]))
    with ctx.ui.phase("Loading cached images (offline)") as phase:
        done = {ref: _restore_cached_image(ctx, ref, index.get(ref)) for ref in wanted}
        loaded = [ref for ref, action in done.items() if action == "loaded"]
        tagged = [ref for ref, action in done.items() if action == "tagged"]
        notes = [f"loaded {len(loaded)}"] if loaded else []
        notes += [f"tagged {len(tagged)}"] if tagged else []
        phase.note = ", ".join(notes) or "all present"


def _cached_is_current(ctx: Context, ref: str, tar: Path, entry: image_cache.CachedImage | None) -> bool:
    """The archive exists, the index describes it, and Docker has no other image under REF (a rebuilt service
    image or base image makes the archive stale). Only reads: a dry run asks Docker for real."""
    if entry is None or not tar.is_file() or tar.name != entry.file:
        return False
    local = docker.image_id(for_reading(ctx.runner), ref)
    return not local or local in entry.ids


def cache(ctx: Context, *, app_root: Path = ROOT) -> list[Path]:
    """Pull (or build) and save every pinned image, the Argo CD manifest and the app's wheels under .lab/cache, so
    that `invoke up --offline` and `invoke ship` need no network. Each image goes to its own archive, limited to
    the Docker host's platform (`docker image save --platform`, Docker 28+), and .lab/cache/images/index.json
    records the image IDs each archive loads as (see lab/image_cache.py); the wheels: lab/steps/app_image.py.

    A dry run asks Docker for real which images it has (reads only), so it plans the pulls the real run makes: never
    one of an image the lab builds (the service images) or of one already there (a locally built base image)."""
    saved: list[Path] = []
    with ctx.ui.phase(f"Argo CD {PIN.version} manifest") as phase:
        if ctx.dry_run:
            ctx.ui.info(f"  download {PIN.url} → {cache_path(ctx.settings)} (sha256 {PIN.sha256})")
        else:
            saved.append(fetch_install_manifest(ctx.settings))
        phase.note = str(cache_path(ctx.settings))
    built = services.build_service_images(ctx)
    refs = list(dict.fromkeys([*components.pulled_images(ctx.settings), ctx.settings.base_image, *built]))
    cache_dir = ctx.settings.cache_dir
    index = image_cache.read_index(cache_dir)
    platform = docker.save_platform(ctx.runner)
    for ref in refs:
        tar = cached_image_file(ctx, ref)
        with ctx.ui.phase(f"Caching {ref}") as phase:
            rebuilt = ctx.dry_run and built.get(ref) == "built"  # planned, not built: its new ID is not known yet
            if not rebuilt and _cached_is_current(ctx, ref, tar, index.get(ref)):
                phase.note = "already cached"
                saved.append(tar)
                continue
            if ref not in built and not docker.image_exists(for_reading(ctx.runner), ref):
                docker.pull(ctx.runner, ref)
            if not ctx.dry_run:
                tar.parent.mkdir(parents=True, exist_ok=True)
            docker.save_image(ctx.runner, [ref], tar, platform=platform)
            saved.append(tar)
            phase.note = str(tar) + (f" ({platform})" if platform else "")
            if ctx.dry_run:
                continue
            index[ref] = image_cache.CachedImage(
                ref=ref,
                file=tar.name,
                id=docker.image_id(ctx.runner, ref),
                archive_ids=image_cache.archive_image_ids(tar),
                platform=platform,
            )
            image_cache.write_index(cache_dir, index)  # after each image: an interrupted cache keeps what it did
    wheels = app_image.cache_wheels(ctx, app_root)  # for the app image: its build then needs no package index
    if wheels is not None:
        saved.append(wheels)
    scanner_db = scan.cache_db(ctx)  # for offline ships: the image scan's database (lab/steps/scan.py)
    if scanner_db is not None:
        saved.append(scanner_db)
    ctx.ui.next_steps("invoke up --offline")
    return saved

"""Prime the lab's offline cache (.lab/cache) from the stand-in images, as `invoke cache` would have stored it.

`invoke cache` pulls the pinned images, downloads Argo CD's install.yaml and builds the service images; none of that
can happen in CI. This helper does the rest of `lab.steps.cache.cache` with the lab's own functions, against the Docker
daemon DOCKER_HOST names (ci-dockerd):

  services   build the lab's service images (registry, git server, MiniStack) on this daemon, exactly as
             `invoke cache` builds them (lab.components.services.build_service_images): run it against a daemon that
             reaches the package mirrors, then move the images to ci-dockerd (`docker save | docker load`).
  cache      save every image the offline `up` loads (the pinned kind node and Argo CD images, the base image, the
             service images) into .lab/cache/images/<name>.tar with index.json recording the IDs, as
             `lab.steps.cache.cache` does; install.yaml from the argo-cd module in the Go module cache, through
             `fetch_install_manifest` (which verifies the pinned sha256); the app's wheels (`cache_wheels`, PyPI).

The one difference from `invoke cache`: the kind node image is referenced by a digest that only the upstream
registry gives it, so it is not pulled; the index records the ID of the locally built `kindest/node:<tag>`, which is
what the offline `up` accepts (lab/image_cache.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lab import components, image_cache
from lab.components import services
from lab.core import versions
from lab.core.config import load_settings
from lab.core.context import Context
from lab.core.runner import SubprocessRunner
from lab.core.ui import UI
from lab.steps import app_image
from lab.steps.cache import cached_image_file
from lab.tools import docker
from lab.tools.argocd_install import fetch_install_manifest


def _context() -> Context:
    return Context(settings=load_settings({}), runner=SubprocessRunner(), ui=UI())


def _argocd_module_manifest() -> Path:
    modcache = subprocess.run(["go", "env", "GOMODCACHE"], check=True, capture_output=True, text=True).stdout.strip()
    module = f"github.com/argoproj/argo-cd/v3@{versions.ARGOCD_VERSION}"
    path = Path(modcache) / module / "manifests" / "install.yaml"
    if not path.is_file():
        subprocess.run(["go", "mod", "download", module], check=True)
    return path


def build_services() -> None:
    ctx = _context()
    done = services.build_service_images(ctx)
    for ref, state in done.items():
        print(f"{ref} {state}")


def cache() -> None:
    ctx = _context()
    settings = ctx.settings
    module_manifest = _argocd_module_manifest()
    manifest = fetch_install_manifest(settings, fetch=lambda _url, dest: dest.write_bytes(module_manifest.read_bytes()))
    print(f"install.yaml: {manifest} (from {module_manifest}, sha256 verified by the lab)")
    built = services.build_service_images(ctx)  # on ci-dockerd: offline, so this checks they are present and current
    stale = [ref for ref, state in built.items() if state not in ("cached",)]
    if stale:
        sys.exit(f"service images not current on this daemon: {', '.join(stale)}")
    refs = list(dict.fromkeys([*components.pulled_images(settings), settings.base_image, *built]))
    index = image_cache.read_index(settings.cache_dir)
    platform = docker.save_platform(ctx.runner)
    for ref in refs:
        local = image_cache.tag_only(ref)
        image_id = docker.image_id(ctx.runner, local)
        if not image_id:
            sys.exit(f"{local} is not on this daemon (DOCKER_HOST): run .ci/cluster/build-all")
        tar = cached_image_file(ctx, ref)
        entry = index.get(ref)
        if entry is not None and tar.is_file() and tar.name == entry.file and image_id in entry.ids:
            print(f"{ref}: already cached ({tar})")
            continue
        tar.parent.mkdir(parents=True, exist_ok=True)
        docker.save_image(ctx.runner, [local], tar, platform=platform)
        index[ref] = image_cache.CachedImage(
            ref=ref, file=tar.name, id=image_id, archive_ids=image_cache.archive_image_ids(tar), platform=platform
        )
        image_cache.write_index(settings.cache_dir, index)
        print(f"{ref}: {tar} ({image_id})")
    wheels = app_image.cache_wheels(ctx)
    print(f"wheels: {wheels}")


if __name__ == "__main__":
    {"services": build_services, "cache": cache}[sys.argv[1]]()

"""The app image's inputs that are not in git: the wheels `invoke cache` keeps for it, and the build context.

`docker build` of app/Dockerfile runs `pip wheel`, which needs a package index. `invoke cache` (online) downloads
the wheels of app/requirements.txt for the base image's Python and platform into .lab/cache/wheels/ (see
lab/image_cache.py). Whenever they match the requirements file (sha256) and the base image, `ship` builds from a
copy of app/ with the wheels in its wheels/ directory, where the Dockerfile installs from them alone: the build
needs no network. Without matching wheels the build context is app/ itself, as it always was; offline that is
refused before anything is built. Every build gets a copy of its own (`.lab/build/app-<tag>`, made by `stage` for
the build and removed after it): two ships at once never build from, or delete, each other's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lab import image_cache
from lab.core.config import ROOT
from lab.core.context import Context
from lab.core.errors import LabError, Refused
from lab.tools import pip
from lab.tools.download import sha256_file

CONTEXT_WHEELS = "wheels"  # the directory of the build context the Dockerfile installs from, when it holds wheels


def label_build_args(labels: dict[str, str]) -> dict[str, str]:
    """The build args that set LABELS through app/Dockerfile's one LABEL step (`gitops-lab.cluster` is set from
    GITOPS_LAB_CLUSTER): no `--label` flags, each of which the classic builder turns into a build step of its own."""
    return {key.upper().replace(".", "_").replace("-", "_"): value for key, value in labels.items()}


def requirements_file(app_root: Path) -> Path:
    return app_root / "app" / "requirements.txt"


def cache_wheels(ctx: Context, app_root: Path = ROOT) -> Path | None:
    """Download the wheels of app/requirements.txt for the base image (which must be present: `invoke cache` has
    just pulled or checked it) into .lab/cache/wheels/. Returns that directory (None in a dry run)."""
    settings, runner = ctx.settings, ctx.runner
    requirements = requirements_file(app_root)
    cache = settings.cache_dir
    final = image_cache.wheels_dir(cache)
    with ctx.ui.phase(f"Caching the app's wheels ({requirements.name}) for {settings.base_image}") as phase:
        if image_cache.wheels_for(cache, requirements, settings.base_image) is not None:
            phase.note = "already cached"
            return final
        target = pip.image_python(runner, settings.base_image)
        if target is None:  # dry run: the image was not asked
            ctx.ui.info(
                f"  then: pip download --only-binary=:all: of {requirements} for {settings.base_image}'s Python "
                f"and platform (read from the image above) → {final}"
            )
            phase.note = "dry run"
            return None
        staging = cache / "wheels.partial"  # the old set stays whole until the new one is complete
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        files = pip.download(runner, requirements, staging, target)
        if not files:
            shutil.rmtree(staging, ignore_errors=True)
            raise LabError(f"pip download saved no wheel for {requirements} into {staging}")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        image_cache.write_wheels(
            cache,
            image_cache.WheelSet(
                requirements_sha256=sha256_file(requirements),
                base_image=settings.base_image,
                python=target.python,
                platforms=target.platforms,
                files=tuple(files),
            ),
        )
        phase.note = f"{len(files)} wheels for Python {target.python} ({target.platforms[0]}) in {final}"
        return final


@dataclass(frozen=True)
class BuildContext:
    path: Path  # what `docker build` gets as its context (a copy: only while `stage` holds it)
    dockerfile: Path
    wheels: int  # cached wheels in it; 0: pip downloads from its index
    source: Path | None = None  # the app/ a copy is made from (None: path is app/ itself)
    wheel_files: tuple[Path, ...] = ()

    def describe(self) -> str:
        return f"{self.wheels} cached wheels, no index" if self.wheels else "wheels from pip's index"


def build_context(ctx: Context, app_root: Path, *, name: str = "app") -> BuildContext:
    """The context to build the app image from: app/ itself, or, when .lab/cache holds the wheels for its
    requirements and the base image, a copy of app/ with them in wheels/, at .lab/build/NAME (ship: app-<tag>, a
    name no other build has), made by `stage`. Offline without those wheels: Refused (nothing is built)."""
    settings = ctx.settings
    app_dir = app_root / "app"
    requirements = requirements_file(app_root)
    wheels = image_cache.wheels_for(settings.cache_dir, requirements, settings.base_image)
    if wheels is None:
        if settings.offline:
            raise Refused(
                f"offline, and {image_cache.wheels_dir(settings.cache_dir)} holds no wheels for {requirements} on "
                f"{settings.base_image} (pip would need its index to build the app image)",
                hint="run `invoke cache` where pip's index can be reached (again after changing requirements.txt "
                "or the base image), then retry",
            )
        return BuildContext(app_dir, app_dir / "Dockerfile", 0)
    staged = settings.state_dir / "build" / name
    if ctx.dry_run:
        ctx.ui.info(f"  build context: a copy of {app_dir} with {len(wheels)} cached wheels in wheels/ → {staged}")
    return BuildContext(staged, staged / "Dockerfile", len(wheels), app_dir, tuple(wheels))


@contextlib.contextmanager
def stage(ctx: Context, context: BuildContext) -> Iterator[BuildContext]:
    """CONTEXT on disk for the length of the block: the copy of app/ with the wheels made at context.path, and
    removed afterwards (nothing to do for app/ itself, or in a dry run)."""
    if context.source is None or ctx.dry_run:
        yield context
        return
    shutil.rmtree(context.path, ignore_errors=True)
    try:
        shutil.copytree(context.source, context.path, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.whl"))
        (context.path / CONTEXT_WHEELS).mkdir(exist_ok=True)
        for wheel in context.wheel_files:
            shutil.copy2(wheel, context.path / CONTEXT_WHEELS / wheel.name)
        yield context
    finally:
        shutil.rmtree(context.path, ignore_errors=True)

"""The images the lab builds for its service containers, FROM settings.base_image (no pull, so `up --offline`
works after `cache`), and removing the images the lab built."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lab.core import names, versions
from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.core.errors import ConfigError
from lab.tools import docker, docker_objects

COMPONENT_REGISTRY = "registry"
COMPONENT_ECR = "ecr"
COMPONENT_GIT = "git"
COMPONENT_NOTIFY = "notify"
CONTEXT_LABEL = names.CONTEXT_LABEL  # on images: digest of the build context, base image and build args


@dataclass(frozen=True)
class ServiceImage:
    component: str
    ref: str
    context: Path
    dockerfile: Path
    build_args: Mapping[str, str] = field(default_factory=dict)

    def digest(self) -> str:
        """sha256 over the build context's files, the Dockerfile and the build args (base image included)."""
        h = hashlib.sha256()
        files = {p for p in self.context.rglob("*") if p.is_file() and _in_context(p)} | {self.dockerfile}
        for path in sorted(files):
            h.update(str(path.relative_to(self.context)).encode() + b"\0" + path.read_bytes() + b"\0")
        h.update(json.dumps(dict(self.build_args), sort_keys=True).encode())
        return h.hexdigest()[:16]


def _in_context(path: Path) -> bool:
    return path.suffix not in (".md", ".pyc") and "__pycache__" not in path.parts


def service_images(settings: Settings) -> list[ServiceImage]:
    """The images the lab builds for the services these settings run (an external registry, GitOps remote or
    AWS endpoint needs none; LocalStack's image is pulled instead: see build_service_images)."""
    images_dir = ROOT / "lab" / "images"
    base = {"BASE_IMAGE": settings.base_image}
    images: list[ServiceImage] = []
    if not settings.registry:
        images.append(
            ServiceImage(
                COMPONENT_REGISTRY,
                versions.REGISTRY_IMAGE,
                images_dir / "registry",
                images_dir / "registry" / "Dockerfile",
                {**base, "REGISTRY_SERIES": versions.REGISTRY_SERIES},
            )
        )
    if not settings.gitops_remote:
        images.append(
            ServiceImage(
                COMPONENT_GIT,
                versions.GITSERVER_IMAGE,
                images_dir / "gitserver",
                images_dir / "gitserver" / "Dockerfile",
                base,
            )
        )
    images.append(
        ServiceImage(
            COMPONENT_NOTIFY, versions.NOTIFY_IMAGE, images_dir / "notify", images_dir / "notify" / "Dockerfile", base
        )
    )
    if settings.aws_emulator == "ministack" and not settings.aws_endpoint_url:
        images.append(
            ServiceImage(
                COMPONENT_ECR,
                versions.MINISTACK_IMAGE,
                ROOT / "localstack",
                ROOT / "localstack" / "Dockerfile.ministack",
                {**base, "MINISTACK_VERSION": versions.MINISTACK_VERSION},
            )
        )
    return images


def build_service_images(ctx: Context, *, rebuild: bool = False) -> dict[str, str]:
    """Build each service image unless an image with that tag and the same build context exists.

    Returns {image: "cached" | "built" | "stale" | "pulled"}. Offline, nothing is built or pulled: a missing image
    is an error, a stale one is used with a warning. LocalStack's image (when selected) is pulled, not built."""
    settings = ctx.settings
    done: dict[str, str] = {}
    for image in service_images(settings):
        digest = image.digest()
        found = docker_objects.image_inspect(ctx.runner, image.ref)
        current = docker_objects.image_labels(found).get(CONTEXT_LABEL) == digest
        if found is not None and current and not rebuild:
            done[image.ref] = "cached"
            continue
        if settings.offline:
            if found is None:
                raise ConfigError(
                    f"image {image.ref} is not built and the lab is offline",
                    hint="run `invoke cache` once while online (it builds the service images)",
                )
            ctx.ui.warn(f"{image.ref} was built from an older {image.context.name}/ and the lab is offline: using it")
            done[image.ref] = "stale"
            continue
        with ctx.ui.phase(f"Building {image.ref}") as phase:
            docker.build(
                ctx.runner,
                image.context,
                [image.ref],
                dockerfile=image.dockerfile,
                build_args=image.build_args,
                # Images are shared by every cluster of the lab: no cluster label.
                labels={docker.MANAGED_LABEL: "true", names.COMPONENT_LABEL: image.component, CONTEXT_LABEL: digest},
            )
            phase.note = f"FROM {settings.base_image}"
        done[image.ref] = "built"
    if settings.aws_emulator == "localstack" and not settings.aws_endpoint_url:
        if docker.image_exists(ctx.runner, versions.LOCALSTACK_IMAGE):
            done[versions.LOCALSTACK_IMAGE] = "cached"
        elif settings.offline:
            raise ConfigError(
                f"image {versions.LOCALSTACK_IMAGE} is not present and the lab is offline",
                hint="run `invoke cache` once while online, or use MiniStack: LAB_AWS_EMULATOR=ministack",
            )
        else:
            with ctx.ui.phase(f"Pulling {versions.LOCALSTACK_IMAGE}"):
                docker.pull(ctx.runner, versions.LOCALSTACK_IMAGE)
            done[versions.LOCALSTACK_IMAGE] = "pulled"
    return done


@dataclass(frozen=True)
class ImageRemoval:
    removed: tuple[str, ...] = ()  # references (or IDs) of the images removed
    kept: tuple[tuple[str, str], ...] = ()  # (reference, why) of the lab's images Docker refused to remove
    freed: int | None = None  # bytes (None: the daemon did not say)


def delete_images(ctx: Context) -> ImageRemoval:
    """Remove the images the lab built (labelled gitops-lab.managed=true): the service images, shared by the lab's
    clusters, and the app images of this cluster (another cluster's carry its name). The base image and the images
    the lab pulls (kind node, Argo CD) are not the lab's and stay; an image some container still uses stays too.

    Reports what was freed: the image store's size (`docker system df`) before less after. (The sum of the images'
    unique sizes would miss the layers they share among themselves: two builds of one commit share all of theirs.)"""
    settings, runner = ctx.settings, ctx.runner
    with ctx.ui.phase("Removing the images the lab built") as phase:
        base = docker.image_id(runner, settings.base_image)
        images = [
            image
            for image in docker_objects.list_images(runner, {docker.MANAGED_LABEL: "true"})
            if image.labels.get(names.CLUSTER_LABEL, settings.cluster_name) == settings.cluster_name
            and image.id != base
        ]
        if ctx.dry_run:
            phase.note = "(dry run) each image the command above lists, except the base image, by `docker image rm`"
            return ImageRemoval()
        if not images:
            phase.note = "none found"
            return ImageRemoval(freed=0)
        before = docker_objects.images_size(runner)
        removed: list[str] = []
        kept: list[tuple[str, str]] = []
        for image in images:
            why = docker_objects.remove_image(runner, image.refs)
            if why is not None:
                kept.append((image.refs[0], why))
                continue
            removed += image.refs
        after = docker_objects.images_size(runner) if removed else before
        freed = max(0, before - after) if before is not None and after is not None else None
        for ref, why in kept:
            ctx.ui.warn(f"kept {ref}: {why}")
        if removed:
            ctx.ui.info("  removed " + ", ".join(removed))
        amount = f"{docker_objects.human_size(freed)} freed" if freed is not None else "freed: unknown"
        phase.note = f"{len(images) - len(kept)} removed, {amount}" + (f", {len(kept)} kept" if kept else "")
        return ImageRemoval(tuple(removed), tuple(kept), freed)

"""The image-cache helpers against the real Docker: `docker image save` (with the --platform fallback), the IDs read
from the archive, `docker load`'s output, and a load by ID followed by a tag (what `up --offline` does with the
kind node image). Uses the local base image only; the tag it adds is removed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import image_cache
from lab.core.runner import SubprocessRunner
from lab.tools import docker

pytestmark = pytest.mark.docker

TAG = "gitops-lab-test/image-cache:offline"


@pytest.fixture
def runner(base_image: str) -> Iterator[SubprocessRunner]:
    r = SubprocessRunner()
    yield r
    r.run([docker.DOCKER, "image", "rm", TAG], check=False)


def test_save_read_ids_load_and_tag(runner: SubprocessRunner, base_image: str, tmp_path: Path) -> None:
    image_id = docker.image_id(runner, base_image)
    assert image_id.startswith("sha256:")
    engine = docker.engine(runner)
    assert engine.api_version is not None and engine.platform and engine.platform.startswith("linux/")

    # With --platform: used when the daemon has API 1.48+, else the plain save after the daemon's refusal.
    by_tag = tmp_path / "by-tag.tar"
    docker.save_image(runner, [base_image], by_tag, platform=engine.platform)
    assert image_id in image_cache.archive_image_ids(by_tag)
    loaded = docker.load_archive(runner, by_tag)
    assert loaded.refs == (base_image,) or image_id in loaded.ids, loaded

    # Saved by ID, an archive carries no name: the load reports the ID, which the lab then tags.
    by_id = tmp_path / "by-id.tar"
    docker.save_image(runner, [image_id], by_id, platform=docker.save_platform(runner))
    assert image_id in image_cache.archive_image_ids(by_id)
    loaded = docker.load_archive(runner, by_id)
    assert loaded.ids == (image_id,) and loaded.refs == (), loaded
    docker.tag(runner, image_id, TAG)
    assert docker.image_id(runner, TAG) == image_id

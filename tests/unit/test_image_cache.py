"""The offline image cache's index and archive reading (lab/image_cache.py), and the docker output parsers the
cache relies on. Archives are built here in the layouts `docker save` writes; no Docker needed."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from lab import image_cache
from lab.image_cache import CachedImage
from lab.tools import docker

A, B, C = ("sha256:" + x * 64 for x in "abc")


def archive(path: Path, files: dict[str, Any]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, doc in files.items():
            data = json.dumps(doc).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_archive_ids_of_a_classic_docker_save(tmp_path: Path) -> None:
    # Docker before 25 (as `docker save` of Docker 20.10 writes it): Config is "<hex>.json", no index.json.
    tar = archive(tmp_path / "a.tar", {"manifest.json": [{"Config": A[7:] + ".json", "RepoTags": None}]})
    assert image_cache.archive_image_ids(tar) == (A,)


def test_archive_ids_of_an_oci_layout_save(tmp_path: Path) -> None:
    # Docker 25+: blobs/sha256/<hex>, plus index.json; the containerd store loads the image as the index's target.
    files = {
        "manifest.json": [{"Config": "blobs/sha256/" + A[7:], "RepoTags": ["redis:8"]}],
        "index.json": {"schemaVersion": 2, "manifests": [{"digest": B, "size": 1}]},
    }
    assert image_cache.archive_image_ids(archive(tmp_path / "b.tar", files)) == (A, B)


def test_archive_ids_of_something_else_is_empty(tmp_path: Path) -> None:
    (tmp_path / "junk.tar").write_text("not a tar")
    assert image_cache.archive_image_ids(tmp_path / "junk.tar") == ()
    assert image_cache.archive_image_ids(tmp_path / "missing.tar") == ()
    assert image_cache.archive_image_ids(archive(tmp_path / "c.tar", {"manifest.json": {"x": 1}})) == ()


def test_index_round_trip_and_ids(tmp_path: Path) -> None:
    entries = {
        "kindest/node:v1@sha256:" + "d" * 64: CachedImage(
            "kindest/node:v1@sha256:" + "d" * 64, "n.tar", A, (A, B), "linux/arm64"
        ),
        "redis:8": CachedImage("redis:8", "r.tar", C),
    }
    path = image_cache.write_index(tmp_path, entries)
    assert path == tmp_path / "images" / "index.json"
    assert image_cache.read_index(tmp_path) == entries
    assert entries["kindest/node:v1@sha256:" + "d" * 64].ids == (A, B), "the inspect ID first, no duplicates"
    assert not list((tmp_path / "images").glob("*.tmp"))


@pytest.mark.parametrize("text", ["", "{", "[]", '{"images": []}', '{"images": {"x": {"file": "x.tar"}}}'])
def test_an_unreadable_index_caches_nothing(tmp_path: Path, text: str) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "index.json").write_text(text)
    assert image_cache.read_index(tmp_path) == {}


def test_tag_only() -> None:
    assert image_cache.tag_only("kindest/node:v1.36.1@sha256:" + "e" * 64) == "kindest/node:v1.36.1"
    assert image_cache.tag_only("quay.io/argoproj/argocd:v3.5.1") == "quay.io/argoproj/argocd:v3.5.1"


def test_parse_load_output() -> None:
    out = "Loaded image: quay.io/argoproj/argocd:v3.5.1\nLoaded image ID: " + A + "\n"
    assert docker.parse_load_output(out) == docker.Loaded(("quay.io/argoproj/argocd:v3.5.1",), (A,))
    assert docker.parse_load_output("") == docker.Loaded()


@pytest.mark.parametrize(
    ("output", "api", "platform", "one_platform"),
    [
        ("1.48 linux/arm64\n", (1, 48), "linux/arm64", True),
        ("1.51 linux/amd64", (1, 51), "linux/amd64", True),
        ("1.41 linux/amd64\n", (1, 41), "linux/amd64", False),
        ("", None, None, False),
    ],
)
def test_parse_engine(output: str, api: tuple[int, int] | None, platform: str | None, one_platform: bool) -> None:
    found = docker.parse_engine(output)
    assert (found.api_version, found.platform, found.saves_one_platform) == (api, platform, one_platform)


def test_host_arch_maps_machine_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for machine, arch in (("x86_64", "amd64"), ("AMD64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64")):
        monkeypatch.setattr(docker.host_platform, "machine", lambda m=machine: m)
        assert docker.host_arch() == arch
    monkeypatch.setattr(docker.host_platform, "machine", lambda: "riscv64")
    assert docker.host_arch() is None

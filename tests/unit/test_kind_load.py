"""Which images `up` loads into the kind nodes, on both of Docker's image stores, from recorded outputs.

On the classic store (overlay2) `docker image inspect {{.Id}}` is the image's config digest, which is what the node's
`crictl inspecti` reports. On the containerd image store (Docker Desktop's default) it is the digest of the image's
index (or manifest), so the two never match (kubernetes-sigs/kind#4236) and every `up` re-loaded the Argo CD
images. The archives below have the layouts `docker image save` writes on each store: `manifest.json` with
`<hex>.json` configs (classic), and an OCI layout with `index.json` plus `manifest.json` pointing at
`blobs/sha256/<hex>` (containerd store, Docker 25+)."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fakes import FakeRunner

from lab import image_cache
from lab.core.config import Settings, load_settings
from lab.core.context import Context
from lab.core.runner import Result
from lab.core.ui import UI
from lab.providers import KindProvider
from lab.tools import kind as kind_tool

NAME = "gitops-lab"
NODES = (f"{NAME}-control-plane", f"{NAME}-worker")
ARGOCD = "quay.io/argoproj/argocd:v3.5.1"
REDIS = "public.ecr.aws/docker/library/redis:8.2.3-alpine"
ENGINE = ("docker", "version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}}")


def digest(c: str) -> str:
    return "sha256:" + c * 64


@dataclass(frozen=True)
class LocalImage:
    """What Docker shows for an image (ID) and what its single-platform archive holds (config, manifest)."""

    id: str  # `docker image inspect --format {{.Id}}`
    config: str  # the config digest: crictl's ID on the node
    manifest: str  # the linux/amd64 manifest's digest


CLASSIC = {
    ARGOCD: LocalImage(digest("a"), digest("a"), digest("1")),
    REDIS: LocalImage(digest("b"), digest("b"), digest("2")),
}
CONTAINERD = {
    ARGOCD: LocalImage(digest("c"), digest("a"), digest("1")),  # ID: the multi-platform index
    REDIS: LocalImage(digest("d"), digest("b"), digest("2")),
}


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def archive(store: str, images: dict[str, LocalImage], refs: list[str]) -> bytes:
    """A `docker image save --platform linux/amd64` archive of REFS as each store writes it (layers left out)."""
    hexes = {ref: images[ref].config.removeprefix("sha256:") for ref in refs}
    if store == "classic":
        manifest = [{"Config": f"{hexes[r]}.json", "RepoTags": [r], "Layers": []} for r in refs]
        return _tar({"manifest.json": json.dumps(manifest).encode(), **{f"{h}.json": b"{}" for h in hexes.values()}})
    manifest = [{"Config": f"blobs/sha256/{hexes[r]}", "RepoTags": [r], "Layers": []} for r in refs]
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": images[r].manifest,
                "size": 1000,
                "annotations": {"io.containerd.image.name": r, "org.opencontainers.image.ref.name": r.split(":")[-1]},
            }
            for r in refs
        ],
    }
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode()}
    files["manifest.json"] = json.dumps(manifest).encode()
    files.update({f"blobs/sha256/{h}": b"{}" for h in hexes.values()})
    return _tar(files)


@dataclass
class Machine:
    """Docker (one store) and two kind nodes, answering as their CLIs do; `kind load image-archive` imports the
    archive's images into every node as `ctr images import` would (crictl then reports the config digest)."""

    store: str
    images: dict[str, LocalImage]
    nodes: dict[str, dict[str, str]] = field(default_factory=lambda: {n: {} for n in NODES})
    loads: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: tuple[str, ...], input: str | None) -> Result | None:
        if argv[:4] == ("docker", "image", "inspect", "--format"):
            image = self.images.get(argv[-1])
            return Result(argv, 0, image.id + "\n") if image else Result(argv, 1, "", "Error: No such image")
        if argv[:3] == ("docker", "image", "save"):
            dest, refs = Path(argv[argv.index("-o") + 1]), list(argv[argv.index("-o") + 2 :])
            dest.write_bytes(archive(self.store, self.images, refs))
            return Result(argv, 0)
        if argv[:3] == ("kind", "load", "image-archive"):
            with tarfile.open(argv[3]) as tar:
                handle = tar.extractfile("manifest.json")
                assert handle is not None
                entries = json.loads(handle.read())
            self.loads.append([tag for e in entries for tag in e["RepoTags"]])
            for node in self.nodes.values():
                for e in entries:
                    for tag in e["RepoTags"]:
                        node[tag] = "sha256:" + e["Config"].removesuffix(".json").split("/")[-1]
            return Result(argv, 0)
        if argv[:2] == ("docker", "exec") and argv[3:5] == ("crictl", "inspecti"):
            image_id = self.nodes[argv[2]].get(argv[5])
            if image_id is None:
                return Result(argv, 1, "", f'time="..." level=fatal msg="no such image \\"{argv[5]}\\" present"')
            status = {"id": image_id, "repoTags": [argv[5]], "repoDigests": [], "size": "178901234", "pinned": False}
            return Result(argv, 0, json.dumps({"status": status, "info": {}}, indent=2))
        if argv[:3] == ("kind", "get", "nodes"):
            return Result(argv, 0, "".join(f"{n}\n" for n in self.nodes))
        return None


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"state_dir": tmp_path}, config_file=tmp_path / "none.toml", environ={})


@pytest.fixture(autouse=True)
def plain_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind_tool, "binary", lambda state_dir=None: "kind")


def up(settings: Settings, machine: Machine) -> FakeRunner:
    """What `up` does with the Argo CD images: load them into the nodes that lack them."""
    runner = FakeRunner()
    runner.script(ENGINE, "1.51 linux/amd64\n")
    runner.responders.append(machine)
    KindProvider(settings, workers=1).load_images(
        Context(settings, runner, UI(err=io.StringIO(), out=io.StringIO())), [ARGOCD, REDIS]
    )
    return runner


@pytest.mark.parametrize("store", ["classic", "containerd"])
def test_a_second_up_loads_nothing_on_either_store(settings: Settings, store: str) -> None:
    machine = Machine(store, dict(CLASSIC if store == "classic" else CONTAINERD))
    up(settings, machine)
    assert machine.loads == [[ARGOCD, REDIS]]
    assert all(node == {ARGOCD: digest("a"), REDIS: digest("b")} for node in machine.nodes.values())

    runner = up(settings, machine)
    assert machine.loads == [[ARGOCD, REDIS]], "the nodes hold exactly these images: nothing to load"
    runner.assert_not_called("docker", "image", "save")
    assert not KindProvider(settings).load_archive_path.exists()


def test_what_a_load_learned_on_the_containerd_store_is_recorded(settings: Settings) -> None:
    up(settings, Machine("containerd", dict(CONTAINERD)))
    path = settings.state_dir / image_cache.CONFIG_IDS_NAME
    assert image_cache.read_config_ids(path) == {
        f"{digest('c')} linux/amd64": digest("a"),
        f"{digest('d')} linux/amd64": digest("b"),
    }


def test_a_rebuilt_image_is_loaded_again_on_the_containerd_store(settings: Settings) -> None:
    machine = Machine("containerd", dict(CONTAINERD))
    up(settings, machine)
    machine.images[ARGOCD] = LocalImage(digest("e"), digest("f"), digest("3"))  # a new index, a new config
    up(settings, machine)
    assert machine.loads == [[ARGOCD, REDIS], [ARGOCD]]
    assert all(node[ARGOCD] == digest("f") for node in machine.nodes.values())
    up(settings, machine)
    assert machine.loads == [[ARGOCD, REDIS], [ARGOCD]]


def test_a_node_holding_another_config_under_the_name_gets_the_image_again(settings: Settings) -> None:
    machine = Machine("containerd", dict(CONTAINERD))
    up(settings, machine)
    machine.nodes[NODES[1]][REDIS] = digest("9")  # someone imported another redis under that name on the worker
    up(settings, machine)
    assert machine.loads == [[ARGOCD, REDIS], [REDIS]]


@pytest.mark.parametrize(("store", "images"), [("classic", CLASSIC), ("containerd", CONTAINERD)])
def test_archive_config_digests_of_both_layouts(tmp_path: Path, store: str, images: dict[str, LocalImage]) -> None:
    path = tmp_path / "images.tar"
    path.write_bytes(archive(store, images, [ARGOCD, REDIS]))
    assert image_cache.archive_config_digests(path) == {ARGOCD: digest("a"), REDIS: digest("b")}
    assert image_cache.archive_config_digests(tmp_path / "missing.tar") == {}


def test_familiar_names_as_docker_writes_them() -> None:
    assert image_cache.familiar("docker.io/library/redis:8") == "redis:8"
    assert image_cache.familiar("docker.io/bitnami/redis:8") == "bitnami/redis:8"
    assert image_cache.familiar(REDIS) == REDIS
    assert image_cache.familiar("localhost:5001/lab-app:1") == "localhost:5001/lab-app:1"

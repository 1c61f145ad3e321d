"""The generated kind config and registry-wiring documents."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab.components import node_ports
from lab.core import versions
from lab.core.config import ENVIRONMENTS, Settings, load_settings
from lab.core.errors import ConfigError
from lab.manifests import kind as kind_manifests

# Field names of kind's v1alpha4 API (kind pkg/apis/config/v1alpha4/types.go).
CLUSTER_FIELDS = {
    "kind",
    "apiVersion",
    "name",
    "nodes",
    "networking",
    "featureGates",
    "runtimeConfig",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches",
    "containerdConfigPatchesJSON6902",
}
NODE_FIELDS = {
    "role",
    "image",
    "labels",
    "extraMounts",
    "extraPortMappings",
    "gpus",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
}
PORT_MAPPING_FIELDS = {"containerPort", "hostPort", "listenAddress", "protocol"}


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings({"state_dir": tmp_path, **overrides}, config_file=tmp_path / "none.toml", environ={})


def parse(text: str) -> dict[str, object]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_header_and_single_control_plane(tmp_path: Path) -> None:
    cfg = parse(
        kind_manifests.render_kind_config(
            settings(tmp_path, cluster_name="demo"), ports=node_ports(settings(tmp_path, cluster_name="demo"))
        )
    )
    assert cfg["kind"] == "Cluster"
    assert cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert cfg["name"] == "demo"
    nodes = cfg["nodes"]
    assert isinstance(nodes, list)
    assert [n["role"] for n in nodes] == ["control-plane"]


def test_only_fields_kind_knows(tmp_path: Path) -> None:
    cfg = parse(kind_manifests.render_kind_config(settings(tmp_path), ports=node_ports(settings(tmp_path)), workers=2))
    assert set(cfg) <= CLUSTER_FIELDS
    for node in cfg["nodes"]:  # type: ignore[attr-defined]
        assert set(node) <= NODE_FIELDS
        for mapping in node.get("extraPortMappings", []):
            assert set(mapping) == PORT_MAPPING_FIELDS


def test_no_containerd_patch_for_current_node_images(tmp_path: Path) -> None:
    # Node images >= v0.27.0 read /etc/containerd/certs.d already; an old-style mirrors patch breaks containerd 2.x.
    cfg = parse(kind_manifests.render_kind_config(settings(tmp_path), ports=node_ports(settings(tmp_path))))
    assert "containerdConfigPatches" not in cfg


def test_every_node_uses_the_digest_pinned_image(tmp_path: Path) -> None:
    cfg = parse(kind_manifests.render_kind_config(settings(tmp_path), ports=node_ports(settings(tmp_path)), workers=2))
    images = [n["image"] for n in cfg["nodes"]]  # type: ignore[attr-defined]
    assert images == [versions.KIND_NODE_IMAGE] * 3
    assert "@sha256:" in versions.KIND_NODE_IMAGE
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane", "worker", "worker"]  # type: ignore[attr-defined]


def test_unpinned_node_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not pinned by digest"):
        kind_manifests.render_kind_config(
            settings(tmp_path), ports=node_ports(settings(tmp_path)), node_image="kindest/node:v1.36.1"
        )


def test_port_mappings_one_per_environment_plus_argocd_on_loopback(tmp_path: Path) -> None:
    s = settings(tmp_path, argocd_port=9443)
    cfg = parse(kind_manifests.render_kind_config(s, ports=node_ports(s), workers=1))
    control_plane, worker = cfg["nodes"]  # type: ignore[misc]
    mappings = control_plane["extraPortMappings"]
    assert all(m["listenAddress"] == "127.0.0.1" for m in mappings)
    assert all(m["protocol"] == "TCP" for m in mappings)
    pairs = {(m["containerPort"], m["hostPort"]) for m in mappings}
    expected = {(kind_manifests.ARGOCD_NODE_PORT, 9443)} | {(e.node_port, e.host_port) for e in ENVIRONMENTS}
    assert pairs == expected
    assert len(mappings) == len(ENVIRONMENTS) + 1
    assert "extraPortMappings" not in worker


def test_host_port_collision_is_a_config_error(tmp_path: Path) -> None:
    dev = ENVIRONMENTS[0]
    with pytest.raises(ConfigError, match=str(dev.host_port)):
        kind_manifests.render_kind_config(
            settings(tmp_path, argocd_port=dev.host_port),
            ports=node_ports(settings(tmp_path, argocd_port=dev.host_port)),
        )


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert kind_manifests.render_kind_config(s, ports=node_ports(s), workers=1) == kind_manifests.render_kind_config(
        s, ports=node_ports(s), workers=1
    )


def test_negative_workers_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        kind_manifests.kind_config(settings(tmp_path), ports=[], workers=-1)


def test_node_names_follow_kind_naming() -> None:
    assert kind_manifests.node_names("lab") == ["lab-control-plane"]
    assert kind_manifests.node_names("lab", 3) == ["lab-control-plane", "lab-worker", "lab-worker2", "lab-worker3"]


def test_hosts_toml_points_at_the_container_over_http() -> None:
    assert kind_manifests.hosts_toml("lab-registry", 5000) == '[host."http://lab-registry:5000"]\n'
    assert kind_manifests.hosts_dir("localhost:5001") == "/etc/containerd/certs.d/localhost:5001"


def test_local_registry_hosting_configmap() -> None:
    doc = parse(kind_manifests.local_registry_hosting("localhost:5001"))
    assert doc["kind"] == "ConfigMap"
    assert doc["metadata"] == {"name": "local-registry-hosting", "namespace": "kube-public"}
    payload = yaml.safe_load(doc["data"]["localRegistryHosting.v1"])  # type: ignore[index]
    assert payload == {"host": "localhost:5001", "help": kind_manifests.LOCAL_REGISTRY_HELP}

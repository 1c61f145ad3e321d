"""What the lab reads from the real Docker daemon about its host: the cgroup version (`docker info`), and the kind
config it writes for it (cgroup v1 hosts need the kubelet patch, KEP-5573)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from lab import image_cache
from lab.components import node_ports
from lab.core.config import load_settings
from lab.core.context import Context
from lab.core.runner import SubprocessRunner
from lab.core.ui import UI
from lab.providers import KindProvider
from lab.tools import docker

pytestmark = pytest.mark.docker


def test_cgroup_version_and_the_kind_config_for_this_host(docker_client: object, tmp_path: Path) -> None:
    runner = SubprocessRunner()
    version = docker.cgroup_version(runner)
    assert version in ("1", "2")
    system = runner.run([docker.DOCKER, "info", "--format", "{{.OperatingSystem}}"]).stdout
    if sys.platform == "linux" and not os.environ.get("DOCKER_HOST") and "Docker Desktop" not in system:
        # A local daemon shares this machine's cgroups: unified (v2) when the root has cgroup.controllers.
        assert version == ("2" if Path("/sys/fs/cgroup/cgroup.controllers").is_file() else "1")

    settings = load_settings({"state_dir": tmp_path}, config_file=tmp_path / "none.toml", environ={})
    ctx = Context(settings, runner, UI())
    config = yaml.safe_load(KindProvider(settings, node_ports=node_ports(settings)).desired_config(ctx))
    patches = [yaml.safe_load(p) for p in config.get("kubeadmConfigPatches", [])]
    wanted = [{"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "failCgroupV1": False}]
    assert patches == (wanted if version == "1" else [])


def test_a_real_archive_names_the_config_digest_crictl_will_report(base_image: str, tmp_path: Path) -> None:
    # What `kind load` gets: the config digest in the archive's manifest.json is the ID the node's containerd
    # gives the image. On the classic store it is Docker's image ID too; on the containerd store it is not.
    runner = SubprocessRunner()
    path = tmp_path / "base.tar"
    docker.save_image(runner, [base_image], path, platform=docker.save_platform(runner))
    configs = image_cache.archive_config_digests(path)
    assert list(configs) == [image_cache.familiar(base_image)]
    [config] = configs.values()
    assert config.startswith("sha256:") and len(config) == 71
    driver = runner.run([docker.DOCKER, "info", "--format", "{{json .DriverStatus}}"]).stdout
    if "io.containerd.snapshotter" not in driver:
        assert config == docker.image_id(runner, base_image)

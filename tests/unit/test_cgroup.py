"""cgroup v1 hosts: Kubernetes 1.35+ kubelets refuse to start there unless `failCgroupV1: false` (KEP-5573), and
kind v0.32.0 only warns. The lab asks Docker (`docker info` CgroupVersion), patches its kind config on cgroup v1,
and `invoke doctor` says which it is."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml
from fakes import FakeRunner

from lab.components import node_ports
from lab.core.config import Settings, load_settings
from lab.core.context import Context
from lab.core.ui import UI
from lab.manifests import kind as kind_manifests
from lab.providers import KindProvider
from lab.steps import doctor as doctor_steps
from lab.tools import docker
from lab.tools import kind as kind_tool

CGROUP = ("docker", "info", "--format", "{{.CgroupVersion}}")
# The one patch kind applies to every node's generated KubeletConfiguration (kind v0.32.0
# pkg/apis/config/v1alpha4/types.go: kubeadmConfigPatches, "the `kind` field must match the target object").
PATCH = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "failCgroupV1": False}


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings({"state_dir": tmp_path, **overrides}, config_file=tmp_path / "none.toml", environ={})


def ctx_for(s: Settings, runner: FakeRunner) -> Context:
    return Context(s, runner, UI(err=io.StringIO(), out=io.StringIO()))


def test_cgroup_v1_config_carries_the_kubelet_patch_and_v2_does_not(tmp_path: Path) -> None:
    v1 = yaml.safe_load(
        kind_manifests.render_kind_config(
            settings(tmp_path), ports=node_ports(settings(tmp_path)), workers=1, cgroup_v1=True
        )
    )
    [patch] = v1["kubeadmConfigPatches"]
    assert isinstance(patch, str), "kind wants each patch as an inline YAML string"
    assert yaml.safe_load(patch) == PATCH
    v2 = yaml.safe_load(
        kind_manifests.render_kind_config(settings(tmp_path), ports=node_ports(settings(tmp_path)), workers=1)
    )
    assert "kubeadmConfigPatches" not in v2
    assert {k: v for k, v in v1.items() if k != "kubeadmConfigPatches"} == v2, "nothing else differs"


@pytest.mark.parametrize(("reported", "patched"), [("1\n", True), ("2\n", False), ("", False)])
def test_kind_create_patches_the_config_only_on_a_cgroup_v1_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reported: str, patched: bool
) -> None:
    monkeypatch.setattr(kind_tool, "binary", lambda state_dir=None: "kind")
    s = settings(tmp_path)
    runner = FakeRunner()
    runner.script(CGROUP, stdout=reported, returncode=0 if reported else 1)
    runner.script(["kind", "create", "cluster", "--name", s.cluster_name])  # kind prints its progress on stderr
    node = {"Id": "c" * 64, "Created": "2026-05-01T11:00:00.123456789Z", "Config": {"Labels": {}}, "State": {}}
    runner.script(["docker", "container", "inspect", f"{s.cluster_name}-control-plane"], json.dumps([node]))
    KindProvider(s, node_ports=node_ports(s)).create(ctx_for(s, runner))
    runner.assert_called(*CGROUP)
    assert runner.index(*CGROUP) < runner.index("kind", "create", "cluster")
    written = yaml.safe_load((s.state_dir / "kind-config.yaml").read_text())
    assert (written.get("kubeadmConfigPatches") == [yaml.safe_dump(PATCH, sort_keys=False)]) is patched
    assert ("kubeadmConfigPatches" in written) is patched


def test_cgroup_version_reads_only_what_docker_reports() -> None:
    runner = FakeRunner()
    runner.script(CGROUP, stdout="1\n")
    assert docker.cgroup_version(runner) == "1"
    runner.script(CGROUP, stdout="<no value>\n")  # a daemon too old to report it
    assert docker.cgroup_version(runner) == ""
    runner.script(CGROUP, returncode=1)
    assert docker.cgroup_version(runner) == ""


def _doctor(s: Settings, cgroup: str) -> tuple[dict[str, doctor_steps.Check], str]:
    """doctor's Docker checks by name, and the table `invoke doctor` prints (newlines and padding collapsed)."""
    runner = FakeRunner()
    runner.script(["docker", "version"], stdout="28.5.1\n")
    runner.script(["docker", "info", "--format", "{{json .}}"], stdout=json.dumps({"CgroupVersion": cgroup}))
    ctx = ctx_for(s, runner)
    checks = doctor_steps.check_docker(ctx)
    doctor_steps.report(ctx, checks)
    table = " ".join(ctx.ui.out.getvalue().replace("│", " ").split())  # type: ignore[attr-defined]
    return {c.name: c for c in checks}, table


def test_doctor_reports_the_cgroup_version(tmp_path: Path) -> None:
    checks, table = _doctor(settings(tmp_path), "1")
    v1 = checks["cgroup"]
    assert v1.ok and v1.detail.startswith("v1:") and "failCgroupV1: false" in v1.detail
    assert "the lab's kind config sets it" in v1.detail
    assert "✓ cgroup v1: Kubernetes 1.36.1 kubelets refuse it" in table, table
    checks, table = _doctor(settings(tmp_path), "2")
    assert (checks["cgroup"].ok, checks["cgroup"].detail) == (True, "v2") and "✓ cgroup v2" in table
    checks, _ = _doctor(settings(tmp_path), "")
    assert "cgroup" not in checks


def test_doctor_warns_minikube_on_cgroup_v1(tmp_path: Path) -> None:
    checks, table = _doctor(settings(tmp_path, provider="minikube"), "1")
    check = checks["cgroup"]
    assert not check.ok and not check.required and "kind config only" in check.detail
    assert check.fix == "use the kind provider: `invoke up --provider kind`"
    assert "! cgroup v1:" in table


def test_a_dry_run_plans_the_kind_config_this_host_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker info` only reads: a dry run asks it for real (DryRunRunner.reads), so on a cgroup v1 host the planned
    kind config carries the patch the real run writes."""
    from lab.core.runner import DryRunRunner

    monkeypatch.setattr(kind_tool, "binary", lambda state_dir=None: "kind")
    s = settings(tmp_path)
    reads = FakeRunner()
    reads.script(CGROUP, stdout="1\n")
    out = io.StringIO()
    KindProvider(s, node_ports=node_ports(s)).create(
        Context(s, DryRunRunner(out=out, reads=reads), UI(err=out, out=out))
    )
    reads.assert_called(*CGROUP)
    assert "failCgroupV1: false" in out.getvalue(), out.getvalue()
    assert not (s.state_dir / "kind-config.yaml").exists(), "a dry run writes nothing"

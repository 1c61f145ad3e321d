"""The CI cluster scripts (.ci/cluster): shellcheck-clean; the OCI runtime wrapper drops CAP_SYS_RESOURCE and
nothing else; the generated wrapper modules restate upstream's replaces the way docs/ci.md says.

The go.mod inputs are small excerpts in the shape of k8s.io/kubernetes v1.36.1's and argo-cd v3.5.1's go.mod
(their `go`, `godebug`, `require` and `replace` directives), so no module download is needed. shellcheck comes
from Debian; where it is missing the lint test is skipped, except in CI (env CI set)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.core.config import ROOT

CLUSTER = ROOT / ".ci" / "cluster"
SCRIPTS = sorted(p for p in CLUSTER.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix != ".py")
ALL_CAPS = ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_SYS_TIME"]


@pytest.mark.integration  # runs shellcheck on every script (tests/tiers.py)
def test_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is not installed (apt-get install shellcheck)")
        pytest.skip("shellcheck is not installed")
    assert SCRIPTS, "no scripts found under .ci/cluster"
    proc = subprocess.run([shellcheck, *map(str, SCRIPTS)], cwd=CLUSTER, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _fake_runc(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in for runc that records its argv (one per line) and the capability lists it was handed."""
    record = tmp_path / "argv"
    fake = tmp_path / "runc"
    fake.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {record}\n')
    fake.chmod(0o755)
    return fake, record


def _run_wrapper(tmp_path: Path, *args: str) -> list[str]:
    fake, record = _fake_runc(tmp_path)
    env = {**os.environ, "LAB_CI_RUNC": str(fake)}
    subprocess.run([str(CLUSTER / "runc-no-sys-resource"), *args], env=env, check=True, timeout=30)
    return record.read_text().splitlines()


def _caps(all_lists: bool = True) -> dict[str, list[str]]:
    names = ["bounding", "effective", "permitted", "inheritable", "ambient"] if all_lists else ["bounding"]
    return {name: list(ALL_CAPS) for name in names}


def test_runtime_wrapper_drops_sys_resource_on_create(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    config = {"ociVersion": "1.2.0", "process": {"args": ["/sbin/init"], "capabilities": _caps()}}
    (bundle / "config.json").write_text(json.dumps(config))
    argv = ["--root", "/run/x", "--log", str(tmp_path / "log.json"), "create", "--bundle", str(bundle), "ctr1"]

    assert _run_wrapper(tmp_path, *argv) == argv  # the real runtime gets the same arguments

    caps = json.loads((bundle / "config.json").read_text())["process"]["capabilities"]
    expected = [c for c in ALL_CAPS if c != "CAP_SYS_RESOURCE"]
    assert caps == {name: expected for name in _caps()}
    assert json.loads((bundle / "config.json").read_text())["process"]["args"] == ["/sbin/init"]


def test_runtime_wrapper_drops_sys_resource_on_exec(tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["kubeadm", "init"], "capabilities": _caps(all_lists=False)}))

    _run_wrapper(tmp_path, "--root", "/run/x", "exec", "--process", str(process), "--detach", "ctr1")

    assert json.loads(process.read_text())["capabilities"]["bounding"] == [
        c for c in ALL_CAPS if c != "CAP_SYS_RESOURCE"
    ]


def test_runtime_wrapper_leaves_other_commands_and_capless_specs_alone(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    capless = json.dumps({"process": {"args": ["true"]}})
    (bundle / "config.json").write_text(capless)

    _run_wrapper(tmp_path, "create", "--bundle", str(bundle), "ctr1")  # no capabilities: unchanged
    assert json.loads((bundle / "config.json").read_text()) == json.loads(capless)

    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": _caps()}}))
    _run_wrapper(tmp_path, "--root", "/run/x", "delete", "--force", "ctr1")  # not create/run/exec
    assert "CAP_SYS_RESOURCE" in (bundle / "config.json").read_text()


K8S_GO_MOD = """\
// This is a generated file. Do not edit directly.

module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
\tk8s.io/utils v0.0.0-20260210185600-b8788abfbbc2
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""

ARGOCD_GO_MOD = """\
module github.com/argoproj/argo-cd/v3

go 1.26.3

require github.com/argoproj/argo-cd/gitops-engine v0.7.1-0.20250908182407-97ad5b59a627

replace (
\tgithub.com/golang/protobuf => github.com/golang/protobuf v1.5.4

\t// Avoid CVE-2022-3064
\tgopkg.in/yaml.v2 => gopkg.in/yaml.v2 v2.4.0

\tk8s.io/api => k8s.io/api v0.36.1
)

replace github.com/argoproj/argo-cd/gitops-engine => ./gitops-engine
"""


def _wrapper_go_mod(script: str, upstream: str, tmp_path: Path, **env: str) -> str:
    mod = tmp_path / "upstream.mod"
    mod.write_text(upstream)
    proc = subprocess.run(
        ["bash", "-c", f'source "{CLUSTER / script}" && wrapper_go_mod "$1"', "bash", str(mod)],
        env={**os.environ, "LAB_CI_CACHE": str(tmp_path / "cache"), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return proc.stdout


def _directives(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("//")]


def test_kubernetes_wrapper_replaces_every_staging_module_and_keeps_godebug(tmp_path: Path) -> None:
    out = _wrapper_go_mod("build-kubernetes", K8S_GO_MOD, tmp_path)

    assert _directives(out) == [
        "module gitops-lab.ci/kubernetes",
        "go 1.26.0",
        "godebug default=go1.26",
        "require k8s.io/kubernetes v1.36.1",  # lab/core/versions.py KUBERNETES_VERSION
        "replace (",
        "k8s.io/api => k8s.io/api v0.36.1",
        "k8s.io/client-go => k8s.io/client-go v0.36.1",
        "k8s.io/sample-controller => k8s.io/sample-controller v0.36.1",
        ")",
    ]


def test_argocd_wrapper_restates_the_replace_block_and_points_gitops_engine_at_the_proxy(tmp_path: Path) -> None:
    pseudo = "v0.0.0-20260827090335-e258ee23c3e5"
    out = _wrapper_go_mod("build-argocd", ARGOCD_GO_MOD, tmp_path, LAB_CI_GITOPS_ENGINE_VERSION=pseudo)

    assert _directives(out) == [
        "module gitops-lab.ci/argocd",
        "go 1.26.3",
        "require github.com/argoproj/argo-cd/v3 v3.5.1",  # lab/core/versions.py ARGOCD_VERSION
        "replace (",
        "github.com/golang/protobuf => github.com/golang/protobuf v1.5.4",
        "gopkg.in/yaml.v2 => gopkg.in/yaml.v2 v2.4.0",
        "k8s.io/api => k8s.io/api v0.36.1",
        ")",
        f"replace github.com/argoproj/argo-cd/gitops-engine => github.com/argoproj/argo-cd/gitops-engine {pseudo}",
    ]

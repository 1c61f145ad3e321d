"""The component list is the one place `up`, `down`, `status`, `cache`, `doctor` and the kind port mappings come
from: a component registered in it (here a tiny test-only one, as a monitoring component would be) takes part in
all of them through the real code paths, against the fake world of test_lab_up (FakeRunner scripted by argv)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from test_lab_up import Lab, _cache, _rows, app_repo, fresh_machine, kind, runner_of, where

from lab import components
from lab.components.base import Component, Down, HostPort, Row, StatusView, Up
from lab.components.cluster import ClusterComponent, side_load
from lab.core.config import Settings
from lab.steps import doctor as doctor_steps
from lab.steps import lab

__all__ = ["app_repo"]  # the fixture, shared with test_lab_up
pytestmark = pytest.mark.integration  # the fake world runs git and `kubectl kustomize` for real (tests/tiers.py)

PROBE_IMAGE = "example.test/probe:1.0"
PROBE_PORT, PROBE_NODE_PORT = 9090, 30090


@dataclass
class ProbeComponent(Component):
    """A component as small as one can be: an image (side-loaded), a UI on a node port, a status row."""

    name = "probe"
    events: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def images(self, settings: Settings) -> list[str]:
        return [PROBE_IMAGE]

    def host_ports(self, settings: Settings) -> list[HostPort]:
        return [HostPort(PROBE_PORT, "probe UI", PROBE_NODE_PORT, "probe")]

    def ensure(self, run: Up) -> None:
        self.events.append(("ensure", tuple(run.made)))  # what the components before it made
        side_load(run, "probe images", self.images(run.settings))

    def status_rows(self, view: StatusView) -> list[Row]:
        return [("probe", "ready" if view.reachable else "-", f"http://127.0.0.1:{PROBE_PORT}")]

    def remove(self, run: Down) -> None:
        self.events.append(("remove", tuple(str(c) for c in runner_of(run.ctx).calls)))


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> ProbeComponent:
    """ONE line in the list: right after the cluster."""
    component = ProbeComponent()
    listed = list(components.COMPONENTS)
    at = next(i for i, c in enumerate(listed) if isinstance(c, ClusterComponent)) + 1
    monkeypatch.setattr(components, "COMPONENTS", [*listed[:at], component, *listed[at:]])
    return component


@pytest.fixture
def machine(tmp_path: Path, app_repo: Path) -> Iterator[Lab]:
    m = fresh_machine(tmp_path, app_repo)
    m.world.images[PROBE_IMAGE] = {"Id": "sha256:" + "d" * 64, "Config": {"Labels": {}}}
    with m.world.patched():
        yield m


def test_a_registered_component_is_ensured_in_order_loaded_and_published_by_up(
    machine: Lab, probe: ProbeComponent
) -> None:
    ctx, _ = machine.up()
    [(what, made_before)] = probe.events
    assert what == "ensure" and {"registry", "ecr", "git", "cluster"} <= set(made_before), probe.events
    assert "first deploy" not in made_before, "it runs where it is listed: before the first deploy and Argo CD"
    runner = runner_of(ctx)
    [create] = where(runner, kind("create", "cluster"))
    loads = where(runner, kind("load", "image-archive"))
    saves = [c for c in runner.calls if c.argv[1:3] == ("image", "save") and PROBE_IMAGE in c.argv]
    assert saves and len(loads) == 2 and create < loads[0], runner.dump()  # its images, then Argo CD's
    assert PROBE_IMAGE in machine.world.containers[f"{machine.settings.cluster_name}-control-plane"].images
    config = yaml.safe_load((machine.settings.state_dir / "kind-config.yaml").read_text())
    mappings = {(m["containerPort"], m["hostPort"]) for m in config["nodes"][0]["extraPortMappings"]}
    assert (PROBE_NODE_PORT, PROBE_PORT) in mappings and (30080, machine.settings.argocd_port) in mappings
    assert doctor_steps.lab_ports(ctx)[PROBE_PORT] == "probe UI"


def test_a_registered_component_has_its_status_row_and_is_removed_before_the_cluster(
    machine: Lab, probe: ProbeComponent, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine.up()
    monkeypatch.setenv("COLUMNS", "200")
    ctx = machine.context()
    lab.status(ctx, client=machine.world.argocd_client())
    rows = _rows(ctx.ui.out.getvalue())  # type: ignore[attr-defined]
    assert rows["probe"] == ["ready", f"http://127.0.0.1:{PROBE_PORT}"] and rows["cluster"][0] == "kind: ready"

    ctx = machine.context()
    lab.down(ctx)
    removed_after = probe.events[-1]
    assert removed_after[0] == "remove" and not any("kind delete" in c for c in removed_after[1]), (
        "newest first: the component listed after the cluster goes before it"
    )
    assert where(runner_of(ctx), kind("delete", "cluster")), runner_of(ctx).dump()


def test_a_registered_components_images_are_cached(
    machine: Lab, probe: ProbeComponent, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PROBE_IMAGE in components.pulled_images(machine.settings)
    ctx = _cache(machine, monkeypatch)
    saved = [c.argv for c in runner_of(ctx).calls if c.argv[1:3] == ("image", "save")]
    assert any(argv[-1] == PROBE_IMAGE for argv in saved), saved

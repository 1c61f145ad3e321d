"""bench/plan_up.py's model of the image moves: `docker image save`, `kind load image-archive` and `docker push` are
charged by the bytes they move over a measured throughput (not as queries), and with the sizes and rates measured on
the CI cluster the Argo CD images' load lands where CI measured it. (The whole replay of `up` runs real git: that is
`bench/plan_up.py --compare` itself, not a unit test.)"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from lab.core import versions
from lab.core.config import ROOT, Settings


def load_plan_up() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plan_up", ROOT / "bench" / "plan_up.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("plan_up", module)
    spec.loader.exec_module(module)
    return module


plan_up = load_plan_up()
ARGOCD = list(versions.ARGOCD_IMAGES)


@dataclass
class Cluster:
    nodes: list[str]


@dataclass
class World:
    """What Model reads of the fake world: images, the archives saved, clusters, settings."""

    images: dict[str, Any] = field(default_factory=dict)
    archives: dict[str, Any] = field(default_factory=dict)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    containers: dict[str, Any] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    runner: Any = None
    variant: str = "low"
    now: float = 0.0


def model(nodes: int = 1) -> Any:
    world = World(clusters={"gitops-lab": Cluster([f"n{i}" for i in range(nodes)])})
    world.archives["/tmp/a.tar"] = {"refs": ARGOCD}
    return plan_up.Model(world)


def test_saving_loading_and_pushing_images_cost_their_bytes_over_the_measured_rates() -> None:
    m = model()
    size = sum(plan_up.IMAGE_BYTES[r] for r in ARGOCD)
    assert size > 100 * plan_up.MB  # measured sizes, not placeholders
    save = m.estimate(("docker", "image", "save", "--platform", "linux/amd64", "-o", "/tmp/a.tar", *ARGOCD))
    rate = plan_up.MOVE_RATES["save"]
    assert (save.low, save.high) == pytest.approx((size / rate.high, size / rate.low))
    assert "docker image save of 2 image(s)" in save.waits_on and save.source == plan_up.CI_DOC

    load = m.estimate(("kind", "load", "image-archive", "/tmp/a.tar", "--name", "gitops-lab"))
    rate = plan_up.MOVE_RATES["import"]
    assert (load.low, load.high) == pytest.approx((rate.fixed[0] + size / rate.high, rate.fixed[1] + size / rate.low))
    # every node gets its own import
    three = model(3).estimate(("kind", "load", "image-archive", "/tmp/a.tar", "--name", "gitops-lab"))
    assert three.low == pytest.approx(3 * load.low)

    push = m.estimate(("docker", "push", "localhost:5001/lab-app:0123456-20261201120000"))
    rate = plan_up.MOVE_RATES["push"]
    assert push.high == pytest.approx(plan_up.IMAGE_BYTES["app"] / rate.low)


def test_the_argo_cd_images_load_as_long_as_ci_measured_it() -> None:
    """The primed scenario's "Loading Argo CD images" = save + import of both images (+ the node checks, < 0.5 s):
    with the CI sizes and rates it overlaps CI's measured phase (the query model charged 0.4-2 s for 10.5-11.1 s)."""
    m = model()
    save = m.estimate(("docker", "image", "save", "-o", "/tmp/a.tar", *ARGOCD))
    load = m.estimate(("kind", "load", "image-archive", "/tmp/a.tar", "--name", "gitops-lab"))
    lo, hi = plan_up.CI_UP["Loading Argo CD images into the cluster"]
    assert save.low + load.low <= hi and save.high + load.high + 0.5 >= lo, (save, load, (lo, hi))

"""Every module of lab/ is inside a layer of the import-linter contract (pyproject.toml), so `lint-imports` checks
all of lab/ and a new module cannot slip between the layers."""

from __future__ import annotations

import pkgutil
import re
import tomllib
from collections.abc import Iterable

import lab
from lab.core.config import ROOT

CONTRACT = "lab layers point one way"


def layer_members() -> list[str]:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [layers] = [c["layers"] for c in contracts if c["name"] == CONTRACT and c["type"] == "layers"]
    return [name.strip() for layer in layers for name in re.split(r"[|:]", layer) if name.strip()]


def lab_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(lab.__path__, prefix="lab."))


def outside(modules: Iterable[str], members: Iterable[str]) -> list[str]:
    """MODULES that are neither a layer member nor inside one (a layer names a module or a package)."""
    members = list(members)
    return [m for m in modules if not any(m == top or m.startswith(top + ".") for top in members)]


def test_every_lab_module_is_in_a_layer() -> None:
    modules = lab_modules()
    assert "lab.core.config" in modules and "lab.steps.ship" in modules  # the walk sees packages and modules
    assert outside(modules, layer_members()) == []


def test_a_module_outside_every_layer_is_found() -> None:
    members = ["lab.steps", "lab.core"]
    assert outside(["lab.steps.ship", "lab.core", "lab.stray", "lab.coreish"], members) == ["lab.stray", "lab.coreish"]


def test_every_layer_member_exists() -> None:
    modules = set(lab_modules())
    assert [m for m in layer_members() if m not in modules] == []

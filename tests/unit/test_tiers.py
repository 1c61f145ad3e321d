"""The unit tier's guard (tests/tiers.py): a test without a tier mark that starts git, kubectl, docker or kind fails
with a message saying how to fake the tool or which mark to add, even when the code under test swallows the error;
marked tests and other programs are let through. (This test itself is a unit test: the programs it starts under the
guard are refused before anything is executed.)"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
import tiers
from _pytest.mark.expression import Expression

from lab.core.config import ROOT


@dataclass
class Item:
    """What tier_of/guard_phase read of a pytest item: its node id and its closest marks."""

    marks: tuple[str, ...] = ()
    nodeid: str = "tests/unit/test_x.py::test_y"

    def get_closest_marker(self, name: str) -> Any:
        return pytest.mark.__getattr__(name) if name in self.marks else None


@pytest.mark.parametrize(
    "argv",
    [["git", "status"], ["/usr/bin/kubectl", "kustomize", "overlays/dev"], ["docker", "ps"], ["kind", "version"]],
)
def test_a_unit_test_starting_a_real_tool_gets_the_refusal_and_no_process(argv: list[str]) -> None:
    with tiers.refuse_real_tools("tests/unit/test_x.py::test_y") as refused, pytest.raises(PermissionError) as info:
        subprocess.run(argv, capture_output=True, check=False)
    assert refused == [str(info.value)]
    message = refused[0]
    assert message.startswith(f"tests/unit/test_x.py::test_y started `{' '.join(argv)}`"), message
    assert "FakeRunner" in message and "@pytest.mark.integration" in message and "make integration" in message


def test_other_programs_run_and_popen_is_restored_afterwards() -> None:
    real = subprocess.Popen.__init__
    with tiers.refuse_real_tools("t") as refused:
        out = subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True, check=True)
    assert out.stdout == "ok\n" and refused == []
    assert subprocess.Popen.__init__ is real


def test_the_program_is_read_from_the_argv_the_executable_or_a_shell_string() -> None:
    assert tiers.program(["/opt/x/bin/git", "log"]) == "git"
    assert tiers.program("kubectl version", shell=True) == "kubectl"
    assert tiers.program(["whatever"], executable="/usr/bin/docker") == "docker"
    assert tiers.program(b"/usr/local/bin/kind") == "kind"
    assert tiers.program([]) == ""


def test_tiers_come_from_the_marks_and_only_unit_tests_are_guarded() -> None:
    assert tiers.tier_of(Item()) == "unit"  # type: ignore[arg-type]
    assert tiers.tier_of(Item(("integration",))) == "integration"  # type: ignore[arg-type]
    assert tiers.tier_of(Item(("docker",))) == "docker"  # type: ignore[arg-type]
    assert tiers.tier_of(Item(("e2e",))) == "e2e"  # type: ignore[arg-type]

    before = subprocess.Popen.__init__  # (this test's own guard, as a unit test)
    marked = tiers.guard_phase(Item(("integration",)))  # type: ignore[arg-type]
    next(marked)
    assert subprocess.Popen.__init__ is before  # an integration test's phase runs unpatched by it
    with pytest.raises(StopIteration):
        marked.send(None)


def test_a_unit_test_that_swallows_the_refusal_still_fails() -> None:
    before = subprocess.Popen.__init__
    phase = tiers.guard_phase(Item())  # type: ignore[arg-type]
    next(phase)  # the phase runs now, guarded
    assert subprocess.Popen.__init__ is not before
    with contextlib.suppress(OSError):  # code under test that ignores a failed start
        subprocess.run(["git", "--version"], capture_output=True, check=False)
    with pytest.raises(pytest.fail.Exception, match=r"started `git --version`: a unit test starts no"):
        phase.send(None)
    assert subprocess.Popen.__init__ is before


def make_selection(target: str) -> str | None:
    """The -m expression of `make TARGET`'s pytest line (None: no -m, every test)."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, f"no {target} target in the Makefile"
    line = next(line for line in recipe[1].splitlines() if "pytest" in line)
    found = re.search(r"-m ('[^']*'|\S+)", line)
    return found[1].strip("'") if found else None


@pytest.mark.parametrize("tier", ["unit", *tiers.TIER_MARKS])
def test_make_unit_integration_and_e2e_split_the_tiers_and_make_test_runs_them_all(tier: str) -> None:
    marks = set() if tier == "unit" else {tier}
    chosen = []
    for target in ("unit", "integration", "e2e"):
        expression = make_selection(target)
        assert expression is not None, f"`make {target}` selects no tier"
        if Expression.compile(expression).evaluate(lambda name, marks=marks: name in marks):  # type: ignore[misc]
            chosen.append(target)
    assert chosen == [{"unit": "unit", "e2e": "e2e"}.get(tier, "integration")], chosen
    assert make_selection("test") is None  # `make test` (what CI runs): every tier


@dataclass
class Collected(Item):
    fixturenames: tuple[str, ...] = ()
    added: list[str] | None = None

    def add_marker(self, name: str) -> None:
        self.added = [*(self.added or []), name]
        self.marks = (*self.marks, name)


def test_a_test_using_the_real_gunicorn_fixture_is_marked_integration_at_collection() -> None:
    server, plain, marked = (
        Collected(fixturenames=("tmp_path", "start_gunicorn")),
        Collected(fixturenames=("tmp_path",)),
        Collected(("integration",), fixturenames=("start_gunicorn",)),
    )
    tiers.mark_by_fixtures([server, plain, marked])  # type: ignore[list-item]
    assert (server.added, plain.added, marked.added) == (["integration"], None, None)
    assert tiers.tier_of(server) == "integration" and tiers.tier_of(plain) == "unit"  # type: ignore[arg-type]

"""The strict FakeRunner (tests/fakes/runner.py): an unscripted command is an error naming it and what was scripted."""

from __future__ import annotations

import pytest
from fakes import FakeRunner, UnscriptedCommand


def test_an_unscripted_command_names_its_argv_and_the_scripted_prefixes() -> None:
    runner = FakeRunner()
    runner.script(["docker", "info"], "27.0\n")
    runner.script_once(["git", "push"], returncode=1)
    with pytest.raises(UnscriptedCommand) as info:
        runner.run(["kind", "get", "clusters"])
    text = str(info.value)
    assert "unscripted command: kind get clusters" in text
    assert "docker info" in text and "git push (once)" in text
    assert runner.run(["docker", "info", "--format", "x"]).stdout == "27.0\n"  # a prefix answers its longer argv


def test_a_dry_run_runner_answers_like_dry_run_runner_and_the_opt_out_succeeds() -> None:
    assert FakeRunner(dry_run=True).run(["kubectl", "apply"]).returncode == 0
    assert FakeRunner(unscripted_succeeds=True).run(["kubectl", "apply"]).stdout == ""


@pytest.mark.unscripted_commands_succeed
def test_the_marker_is_the_per_test_opt_out() -> None:
    assert FakeRunner().run(["anything"]).returncode == 0


def test_without_the_marker_the_runner_is_strict_again() -> None:
    with pytest.raises(UnscriptedCommand):
        FakeRunner().run(["anything"])

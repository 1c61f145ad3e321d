"""The shared Docker fake is strict, and lab/tools reads its answers as it reads the daemon's (tests/contract/ checks
the fake against the real daemon)."""

from __future__ import annotations

import pytest
from fakes import FakeRunner
from fakes.docker import MODELLED, DockerFake, UnmodelledCommand

from lab.tools import docker, docker_objects


def runner_over(fake: DockerFake) -> FakeRunner:
    runner = FakeRunner()
    runner.responders.append(fake)
    return runner


@pytest.mark.parametrize(
    "argv",
    [
        ("docker", "network", "create", "x"),  # a subcommand it does not model
        ("docker", "ps", "-a", "--format", "{{.ID}}"),  # a format it does not model
        ("docker", "run", "-d", "--name", "x", "--privileged", "img"),  # an option it does not model
        ("docker", "ps", "-a", "--format", "{{.Names}}", "--filter", "status=exited"),  # a filter other than label
    ],
)
def test_an_unmodelled_docker_command_is_an_error_naming_it(argv: tuple[str, ...]) -> None:
    with pytest.raises(UnmodelledCommand) as err:
        runner_over(DockerFake()).run(argv)
    assert " ".join(argv[:3]) in str(err.value)


def test_other_tools_are_left_to_the_next_responder() -> None:
    assert DockerFake()(("kind", "get", "clusters"), None) is None


def test_the_table_names_each_command_once_by_its_prefix_and_format() -> None:
    assert len(MODELLED) == len({(m.prefix, m.format) for m in MODELLED.values()})
    for key, entry in MODELLED.items():
        argv = ("docker", *entry.prefix, *(("--format", entry.format) if entry.format else ()))
        assert DockerFake.lookup(argv).key == key


def test_removing_a_container_that_is_not_there_is_false() -> None:
    """`docker rm -f` of a missing container exits 0 (only stderr says so): the tool must not count it removed."""
    fake = DockerFake()
    fake.add_container("lab-registry")
    runner = runner_over(fake)
    assert docker.remove_container(runner, "lab-registry") is True
    assert docker.remove_container(runner, "lab-registry") is False


def test_the_logs_of_a_container_that_is_not_there_are_empty_not_the_daemons_error() -> None:
    """`docker logs` of a missing container exits 1 with the daemon's error on stderr: that is not the container's
    last lines (lab/components/containers.py shows them as such when a service exits)."""
    fake = DockerFake()
    fake.add_container("lab-ecr").logs = "License activation failed\n"
    runner = runner_over(fake)
    assert docker_objects.logs_tail(runner, "lab-ecr") == "License activation failed"
    assert docker_objects.logs_tail(runner, "lab-gone") == ""

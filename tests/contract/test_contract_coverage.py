"""Every command the Docker fake models has a contract case (runs without Docker: it reads the two tables)."""

from __future__ import annotations

import pytest
from docker_cases import CASES
from fakes.docker import MODELLED

pytestmark = pytest.mark.contract  # a unit test (no Docker): also in `make unit`


def test_every_modelled_docker_command_has_a_contract_case() -> None:
    covered = {key for case in CASES.values() for key in case.covers}
    assert not set(MODELLED) - covered, f"modelled but no contract case replays them: {sorted(set(MODELLED) - covered)}"
    assert not covered - set(MODELLED), (
        f"contract cases name commands the fake does not model: {covered - set(MODELLED)}"
    )

"""The `unscripted_commands_succeed` marker: a test that carries it gets FakeRunners whose unscripted commands answer
exit 0 with no output (the old, lenient behaviour). Loaded by tests/conftest.py (pytest_plugins)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes import runner

MARKER = "unscripted_commands_succeed"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: FakeRunner answers commands this test did not script with empty success (opt-out)"
    )


@pytest.fixture(autouse=True)
def _unscripted_commands(request: pytest.FixtureRequest) -> Iterator[None]:
    runner.UNSCRIPTED_SUCCEED_DEFAULT = request.node.get_closest_marker(MARKER) is not None
    try:
        yield
    finally:
        runner.UNSCRIPTED_SUCCEED_DEFAULT = False
